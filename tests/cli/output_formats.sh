#!/usr/bin/env bash
# --output by extension: .npz (numpy's savez) and .json hold the same tensors
# as .safetensors, bit for bit: f32 with NaN and both infinities, i64 (argmax)
# and i32 (an input passed out), a scalar-free rank 1 and rank 2. They are
# read back by python3's standard library (zipfile checks every entry's
# CRC-32; the NPY header is parsed from its text), not by seqc's reader.
# Needs $SEQC and $TOOLS; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

cat > "$tmp/m.yaml" <<'YAML'
seqc: 1
name: formats
inputs:
  x: {dtype: f32, shape: [2, 3]}
  tok: {dtype: i32, shape: [4]}
nodes:
  twice: {op: add, inputs: [x, x]}
  best: {op: argmax, input: x}
outputs: [twice, best, tok]
YAML
/usr/bin/python3 - "$tmp/in.st" <<'PY'
import json, struct, sys
x = [1.5, float("nan"), -2.25, float("inf"), float("-inf"), 1e-30]
tok = [7, -3, 2147483647, 0]
raw = struct.pack("<6f", *x) + struct.pack("<4i", *tok)
h = json.dumps({"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                "tok": {"dtype": "I32", "shape": [4], "data_offsets": [24, 40]}}).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + raw)
PY
for ext in safetensors npz json; do
  succeeds "$SEQC" run "$tmp/m.yaml" --random-weights 1 --input "$tmp/in.st" --output "$tmp/o.$ext"
  expect_no_err
done
succeeds /usr/bin/python3 - "$tmp/o" <<'PY'
import ast, json, math, struct, sys, zipfile
base = sys.argv[1]
codes = {"F32": "f", "I32": "i", "I64": "q", "<f4": "f", "<i4": "i", "<i8": "q"}

def same(a, b):
    return all((math.isnan(p) and math.isnan(q)) or p == q for p, q in zip(a, b)) and len(a) == len(b)

raw = open(base + ".safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
st = {}
for name, m in json.loads(raw[8:8 + n]).items():
    lo, hi = m["data_offsets"]
    c = codes[m["dtype"]]
    st[name] = (m["shape"], list(struct.unpack("<%d%s" % ((hi - lo) // struct.calcsize(c), c),
                                               raw[8 + n + lo:8 + n + hi])))
assert sorted(st) == ["best", "tok", "twice"], sorted(st)
assert st["twice"][1][3] == math.inf and st["twice"][1][4] == -math.inf and math.isnan(st["twice"][1][1])

z = zipfile.ZipFile(base + ".npz")
assert z.testzip() is None  # every CRC-32 right
assert sorted(z.namelist()) == ["best.npy", "tok.npy", "twice.npy"], z.namelist()
for name in st:
    b = z.read(name + ".npy")
    assert b[:8] == b"\x93NUMPY\x01\x00", b[:8]
    hl = struct.unpack("<H", b[8:10])[0]
    assert (10 + hl) % 64 == 0 and b[10 + hl - 1:10 + hl] == b"\n"
    d = ast.literal_eval(b[10:10 + hl].decode())
    assert d["fortran_order"] is False and list(d["shape"]) == st[name][0], (name, d)
    c = codes[d["descr"]]
    vals = list(struct.unpack("<%d%s" % ((len(b) - 10 - hl) // struct.calcsize(c), c), b[10 + hl:]))
    assert same(vals, st[name][1]), (name, vals, st[name][1])

j = json.load(open(base + ".json"))
assert sorted(j) == sorted(st)
for name, t in j.items():
    assert t["shape"] == st[name][0] and t["dtype"] == {"twice": "f32", "best": "i64", "tok": "i32"}[name]
    vals = [float(v) if isinstance(v, str) else v for v in t["data"]]
    if t["dtype"] == "f32":  # 9 digits: each reads back to the same float
        vals = [struct.unpack("<f", struct.pack("<f", v))[0] for v in vals]
    assert same(vals, st[name][1]), (name, vals, st[name][1])
assert j["twice"]["data"][1] == "nan" and j["twice"]["data"][3] == "inf" and j["twice"]["data"][4] == "-inf"
print("same")
PY
expect_out_re "^same$"

# a folder that does not exist: an error naming the file
fails 1 "$SEQC" run "$tmp/m.yaml" --random-weights 1 --input "$tmp/in.st" --output "$tmp/no/o.npz"
expect_err "o.npz: cannot write: No such file or directory"
finish
