"""bench/peers/bench_torch.py: the PyTorch peers, eager and TorchScript, and the
torch.mm sgemm peak.

  /usr/bin/python3 bench_torch.py --workload W --mode eager|jit [options]
  /usr/bin/python3 bench_torch.py --peak [--threads N] [options]

One JSON line on stdout.  Run it in a fresh process per row: peak_rss_mb is
the process high-water mark (ru_maxrss) after import, build, warm-up and the
timed loop; base_rss_mb is the mark right after `import torch`.

eager: model in eval mode, called under torch.inference_mode().
jit:   torch.jit.script(model) -> torch.jit.freeze, called under
       torch.no_grad(); if scripting fails, torch.jit.trace -> freeze
       (the JSON's "variant" says which).
Which BLAS and allocator libtorch uses the caller picks per process
(run_all.sh: bench/common.sh's torch_env); the JSON's "blas" and "malloc"
fields report what was actually loaded, so a row cannot claim OpenBLAS while
running the netlib reference BLAS.
"""
import argparse
import ctypes
import json
import os
import resource
import sys
import time
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from workloads import ARTIFACTS, WORKLOADS, build, flops, percentile  # noqa: E402


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
        lib.openblas_get_config.restype = ctypes.c_char_p
        return "openblas %s core=%s (%s)" % (
            lib.openblas_get_config().decode().split()[1]
            if len(lib.openblas_get_config().split()) > 1 else "",
            lib.openblas_get_corename().decode(), os.path.dirname(real))
    except (AttributeError, OSError):
        return "netlib-reference (%s)" % os.path.dirname(real)


def malloc_info():
    with open("/proc/self/maps") as fh:
        maps = fh.read()
    for key, name in (("tcmalloc", "tcmalloc"), ("jemalloc", "jemalloc")):
        if key in maps:
            return name
    return "glibc"


def measure(fn, budget, min_iters, max_iters, warmup):
    t0 = time.perf_counter()
    i = 0
    while i < warmup or time.perf_counter() - t0 < 0.1:
        fn()
        i += 1
    ts = []
    start = time.perf_counter()
    while len(ts) < max_iters and (len(ts) < min_iters or
                                   time.perf_counter() - start < budget):
        a = time.perf_counter_ns()
        fn()
        ts.append((time.perf_counter_ns() - a) / 1e6)
    ts.sort()
    return ts


def row(workload, peer, ts, fl, base, **extra):
    med = percentile(ts, 50)
    r = dict(workload=workload, peer=peer, median_ms=round(med, 4),
             p10_ms=round(percentile(ts, 10), 4),
             p90_ms=round(percentile(ts, 90), 4),
             peak_rss_mb=round(rss_mb(), 1),
             gflops=round(fl / med / 1e6, 2), flops=fl, iters=len(ts),
             base_rss_mb=round(base, 1))
    r.update(extra)
    return r


def run_peak(a, base):
    torch.manual_seed(1)
    n = a.peak_n
    x = torch.randn(n, n)
    y = torch.randn(n, n)
    out = torch.empty(n, n)
    ts = measure(lambda: torch.mm(x, y, out=out), a.budget, max(a.min_iters, 5),
                 a.max_iters, a.warmup)
    err = (out[7, 5].double() - (x[7].double() @ y[:, 5].double())).abs().item()
    blas = blas_info()
    tag = "openblas" if blas.startswith("openblas") else "netlib"
    return row(f"sgemm_{n}x{n}x{n}", f"torch_mm_{tag}_t{a.threads}", ts,
               2 * n ** 3, base, threads=a.threads, max_abs_err=err,
               blas=blas, torch=torch.__version__)


def load_ref(name, shape):
    p = os.path.join(ARTIFACTS, name, "y.bin")
    if not os.path.exists(p):
        return None
    import numpy as np
    return torch.from_numpy(np.fromfile(p, dtype=np.float32).reshape(shape))


def run_workload(a, base):
    name = a.workload
    m, x = build(name)
    variant = "inference_mode"
    if a.mode == "jit":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm = None
            try:
                sm = torch.jit.script(m)
                variant = "script+freeze"
            except Exception as e:  # noqa: BLE001 -- any scripting failure: trace instead
                print(f"jit.script failed ({type(e).__name__}: {e}); "
                      "falling back to trace", file=sys.stderr)
            if sm is None:
                sm = torch.jit.trace(m, (x,))
                variant = "trace+freeze"
            sm = torch.jit.freeze(sm.eval())
        ctx = torch.no_grad
        fn_model = sm
        variant += " (no_grad)"
    else:
        ctx = torch.inference_mode
        fn_model = m

    with ctx():
        out = fn_model(x)
        ts = measure(lambda: fn_model(x), a.budget, a.min_iters, a.max_iters,
                     a.warmup)
    ref = load_ref(name, out.shape)
    err = None if ref is None else float((out - ref).abs().max())
    return row(name, f"torch_{a.mode}", ts, flops(name), base,
               threads=torch.get_num_threads(), max_abs_err=err,
               variant=variant, blas=blas_info(), malloc=malloc_info(),
               torch=torch.__version__)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=sorted(WORKLOADS))
    ap.add_argument("--mode", choices=["eager", "jit"], default="eager")
    ap.add_argument("--peak", action="store_true")
    ap.add_argument("--peak-n", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=1.0,
                    help="seconds of timed iterations (after min-iters)")
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--max-iters", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    base = rss_mb()
    torch.set_num_threads(a.threads)
    if a.peak:
        r = run_peak(a, base)
    elif a.workload:
        r = run_workload(a, base)
    else:
        ap.error("need --workload or --peak")
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
