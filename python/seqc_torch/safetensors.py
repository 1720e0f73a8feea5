"""safetensors files written and read by hand (Debian 12 has no safetensors
package): u64 little-endian header length, a JSON header {name: {dtype,
shape, data_offsets}} padded with spaces to a multiple of 8, then the raw
little-endian tensor data. The same layout tests/golden/gen.py writes."""
import json
import struct

import numpy as np
import torch

DTYPE_NAMES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64"}
NUMPY_TYPES = {"F32": "<f4", "I32": "<i4", "I64": "<i8", "F64": "<f8", "BOOL": "|b1"}


def write_safetensors(path, tensors):
    """tensors: dict name -> torch tensor (f32, i32 or i64), written in order."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in DTYPE_NAMES:
            raise ValueError(f"{name}: dtype {t.dtype} cannot be written (f32, i32, i64)")
        kind = DTYPE_NAMES[t.dtype]
        data = t.numpy().astype(NUMPY_TYPES[kind]).tobytes()
        header[name] = {"dtype": kind, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    """dict name -> torch tensor, in the file's order."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode())
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    out = {}
    for name, entry in header.items():
        if entry["dtype"] not in NUMPY_TYPES:
            raise ValueError(f"{path}: {name}: dtype {entry['dtype']} not supported")
        a, b = entry["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=NUMPY_TYPES[entry["dtype"]])
        arr = arr.reshape(entry["shape"]).astype(arr.dtype.newbyteorder("="))
        out[name] = torch.from_numpy(arr.copy())
    return out
