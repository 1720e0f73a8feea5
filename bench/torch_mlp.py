#!/usr/bin/python3
"""torch_mlp.py: models/mlp.yaml in PyTorch eager, timed like bench/peers.

    /usr/bin/python3 bench/torch_mlp.py [--model models/mlp.yaml] [--dim B=64 --dim T=128]
                                        [--threads 2] [--budget 1.0] [--min-iters 10]

Prints one JSON line: median_ms, p10_ms, p90_ms, peak_rss_mb, gflops, iters,
flops, threads, blas, malloc, torch. The model is an nn.Module written out by
hand (the way a PyTorch user would), sized from the YAML, whose node list must
be exactly the one below. It runs under torch.inference_mode() with
torch.set_num_threads(N). Which BLAS and allocator libtorch uses is chosen by
the caller (bench_mlp.sh: LD_LIBRARY_PATH for OpenBLAS, LD_PRELOAD for
tcmalloc, as bench/peers does); the JSON says what was actually loaded.
FLOPs count matrix products only (2*M*N*K), as `seqc bench` and bench/peers do.
"""
import argparse
import ctypes
import json
import os
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the node list this module implements: name -> op
NODES = [("fc1", "linear"), ("norm", "layer_norm"), ("act", "gelu"), ("fc2", "linear"),
         ("res", "add"), ("logits", "linear")]


class MLP(nn.Module):
    """logits = head(x + fc2(gelu(norm(fc1(x))))), as models/mlp.yaml."""

    def __init__(self, features, hidden, classes, eps, approximate):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.fc2 = nn.Linear(hidden, features)
        self.logits = nn.Linear(features, classes)
        self.approximate = approximate

    def forward(self, x):
        h = F.gelu(self.norm(self.fc1(x)), approximate=self.approximate)
        return self.logits(x + self.fc2(h))


def build(path, dim_args):
    with open(path) as f:
        m = yaml.safe_load(f)
    nodes = m["nodes"]
    got = [(n, a["op"]) for n, a in nodes.items()]
    if got != NODES:
        raise SystemExit(f"{path}: torch_mlp.py implements {NODES}, the file has {got}")
    dims = dict(m.get("dims") or {})
    for s in dim_args:
        k, _, v = s.partition("=")
        if k not in dims:
            raise SystemExit(f"--dim {s}: the model has no dim {k}")
        dims[k] = int(v)
    (spec,) = m["inputs"].values()
    shape = [dims[d] if isinstance(d, str) else d for d in spec["shape"]]
    features = shape[-1]
    model = MLP(features, nodes["fc1"]["out_features"], nodes["logits"]["out_features"],
                float(nodes["norm"].get("eps", 1e-5)), nodes["act"].get("approximate", "none"))
    assert nodes["fc2"]["out_features"] == features, "fc2 must map back to the input width"
    model.eval()
    torch.manual_seed(1)
    x = torch.rand(shape) * 2 - 1
    rows = x.numel() // features
    hidden = nodes["fc1"]["out_features"]
    flops = 2 * rows * (features * hidden + hidden * features + features * model.logits.out_features)
    return model, x, flops, dims


def percentile(sorted_vals, q):
    """Linear interpolation (numpy's default), as bench/peers."""
    n = len(sorted_vals)
    if n == 1:
        return sorted_vals[0]
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def measure(fn, budget, min_iters, warmup):
    """Warm-up of >= warmup calls and >= 0.1 s, then time calls until both
    min_iters calls and budget seconds have passed (bench/peers' rule)."""
    t0 = time.perf_counter()
    i = 0
    while i < warmup or time.perf_counter() - t0 < 0.1:
        fn()
        i += 1
    ts = []
    start = time.perf_counter()
    while len(ts) < min_iters or time.perf_counter() - start < budget:
        a = time.perf_counter_ns()
        fn()
        ts.append((time.perf_counter_ns() - a) / 1e6)
    return sorted(ts)


def blas_info():
    path = None
    with open("/proc/self/maps") as fh:
        for line in fh:
            if "libblas.so" in line or "libopenblas" in line:
                path = line.split()[-1]
                break
    if path is None:
        return "none-loaded"
    real = os.path.realpath(path)
    try:
        lib = ctypes.CDLL(real)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return "openblas core=%s" % lib.openblas_get_corename().decode()
    except (AttributeError, OSError):
        return "netlib-reference (%s)" % os.path.dirname(real)


def malloc_info():
    with open("/proc/self/maps") as fh:
        maps = fh.read()
    for key in ("tcmalloc", "jemalloc"):
        if key in maps:
            return key
    return "glibc"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "mlp.yaml"))
    ap.add_argument("--dim", action="append", default=[], help="N=V, as seqc's --dim")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=1.0, help="timed seconds after min-iters")
    ap.add_argument("--min-iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, x, flops, dims = build(a.model, a.dim)
    with torch.inference_mode():
        ts = measure(lambda: model(x), a.budget, a.min_iters, a.warmup)
    med = percentile(ts, 50)
    print(json.dumps(dict(
        peer="torch_eager", dims=dims, median_ms=round(med, 4),
        p10_ms=round(percentile(ts, 10), 4), p90_ms=round(percentile(ts, 90), 4),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        gflops=round(flops / med / 1e6, 2), flops=flops, iters=len(ts),
        threads=torch.get_num_threads(), blas=blas_info(), malloc=malloc_info(),
        torch=torch.__version__)), flush=True)


if __name__ == "__main__":
    main()
