"""bench/peers/prepare.py: the deterministic files every non-PyTorch peer reads.

For each workload, under bench/out/peers/artifacts/<name>/ (workloads.ARTIFACTS):
  x.bin, y.bin   input (seed 1) and PyTorch eager output, raw float32, C order
  model.onnx     torch.onnx.export (opset 17, static shapes)  [ort_node]
  dnnl_l<k>_{wl,wi,b}.bin  RNN weights in oneDNN ldigo/ldgo order [onednn_c]
  dnnl.args      the command-line arguments for build/onednn_rnn
  meta.json      shapes, FLOPs, export status
Skips a workload whose artifacts were made from the same sources (STAMP).

Usage: /usr/bin/python3 bench/peers/prepare.py [WORKLOAD ...]      (default: all)
"""
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from workloads import ARTIFACTS as ART, WORKLOADS, build, flops  # noqa: E402

warnings.filterwarnings("ignore")  # torch.onnx's tracer warnings are noise here
OPSET = 17


def stamp():
    h = hashlib.sha256()
    for f in ("workloads.py", "prepare.py"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    h.update(torch.__version__.encode())
    return h.hexdigest()[:16]


def save(path, t):
    np.ascontiguousarray(t.detach().numpy(), dtype=np.float32).tofile(path)


def dnnl_rnn_weights(name, m, d):
    """Write oneDNN-layout weights for every layer of an nn.LSTM/GRU/RNN."""
    s = WORKLOADS[name]
    rnn = m.rnn
    H = s["hid"]
    G = {"lstm": 4, "gru": 3, "rnn": 1}[s["kind"]]
    # oneDNN gate order, as indices into PyTorch's gate order.
    # LSTM: both i,f,g(c~),o.  GRU: PyTorch r,z,n -> oneDNN u(=z),r,o(=n).
    perm = {"lstm": [0, 1, 2, 3], "gru": [1, 0, 2], "rnn": [0]}[s["kind"]]
    for l in range(s["layers"]):
        wl, wi, bs = [], [], []
        for suf in ([""] if s["dirs"] == 1 else ["", "_reverse"]):
            w_ih = getattr(rnn, f"weight_ih_l{l}{suf}")  # [G*H, I]
            w_hh = getattr(rnn, f"weight_hh_l{l}{suf}")  # [G*H, H]
            b_ih = getattr(rnn, f"bias_ih_l{l}{suf}").reshape(G, H)
            b_hh = getattr(rnn, f"bias_hh_l{l}{suf}").reshape(G, H)
            I = w_ih.shape[1]
            wl.append(w_ih.reshape(G, H, I)[perm].permute(2, 0, 1))  # I,G,H
            wi.append(w_hh.reshape(G, H, H)[perm].permute(2, 0, 1))  # H,G,H
            if s["kind"] == "gru":  # linear-before-reset: 4 bias rows
                bs.append(torch.stack([b_ih[1] + b_hh[1], b_ih[0] + b_hh[0],
                                       b_ih[2], b_hh[2]]))
            else:
                bs.append((b_ih + b_hh)[perm])
        save(os.path.join(d, f"dnnl_l{l}_wl.bin"), torch.stack(wl)[None])
        save(os.path.join(d, f"dnnl_l{l}_wi.bin"), torch.stack(wi)[None])
        save(os.path.join(d, f"dnnl_l{l}_b.bin"), torch.stack(bs)[None])
    args = [s["kind"], s["seq"], s["batch"], s["inp"], s["hid"], s["layers"],
            s["dirs"], flops(name)]
    with open(os.path.join(d, "dnnl.args"), "w") as fh:
        fh.write(" ".join(str(a) for a in args) + "\n")


def export_onnx(m, x, path):
    # In eval + no-grad, 1.13 routes TransformerEncoderLayer and
    # MultiheadAttention through fused fast-path ops
    # (aten::_transformer_encoder_layer_fwd, aten::_native_multi_head_attention)
    # that have no ONNX symbolic.  With grad enabled and parameters requiring
    # grad the fast path is skipped and the exportable composite path is
    # traced; its result is the same function.
    for p in m.parameters():
        p.requires_grad_(True)
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (x,), path, input_names=["x"],
                              output_names=["y"], opset_version=OPSET,
                              do_constant_folding=True)
    finally:
        for p in m.parameters():
            p.requires_grad_(False)


def prepare(name, st):
    d = os.path.join(ART, name)
    metaf = os.path.join(d, "meta.json")
    if os.path.exists(metaf):
        with open(metaf) as fh:
            if json.load(fh).get("stamp") == st:
                return False
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    m, x = build(name)
    with torch.inference_mode():
        y = m(x)
    save(os.path.join(d, "x.bin"), x)
    save(os.path.join(d, "y.bin"), y)
    meta = dict(name=name, spec=WORKLOADS[name], flops=flops(name),
                x_shape=list(x.shape), y_shape=list(y.shape), opset=OPSET,
                torch=torch.__version__)
    if WORKLOADS[name]["kind"] in ("lstm", "gru", "rnn"):
        dnnl_rnn_weights(name, m, d)
    onnx_path = os.path.join(d, "model.onnx")
    try:
        export_onnx(m, x, onnx_path)
        meta["onnx"] = "ok"
    except Exception as e:  # noqa: BLE001 -- recorded, peer reports it
        meta["onnx"] = f"export failed: {type(e).__name__}: {e}"[:500]
        if os.path.exists(onnx_path):
            os.remove(onnx_path)
    meta["stamp"] = st
    with open(metaf, "w") as fh:
        json.dump(meta, fh, indent=1)
    print(f"prepared {name} in {time.time() - t0:.1f}s (onnx: "
          f"{meta['onnx'][:60]})", file=sys.stderr)
    return True


def main():
    torch.set_num_threads(2)
    names = sys.argv[1:] or list(WORKLOADS)
    st = stamp()
    for n in names:
        if n not in WORKLOADS:
            sys.exit(f"unknown workload {n}; known: {' '.join(WORKLOADS)}")
        prepare(n, st)


if __name__ == "__main__":
    main()
