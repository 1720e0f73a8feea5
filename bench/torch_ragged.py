#!/usr/bin/python3
"""torch_ragged.py: bench/peers' lstm_b64 (nn.LSTM(512, 512), seq 128, batch 64)
in PyTorch eager on a ragged batch, timed like bench/peers.

    /usr/bin/python3 bench/torch_ragged.py --write-lengths OUT.safetensors
    /usr/bin/python3 bench/torch_ragged.py --mode packed|equal [--threads 2] [--budget 1.0]

The lengths are drawn uniformly from [T/4, T] with a fixed seed and sorted
longest first (what pack_padded_sequence(enforce_sorted=True) wants);
--write-lengths writes them (i64 [64], named `lengths`) for `seqc bench
--input` and prints the fraction of valid steps. --mode packed times
pack_padded_sequence + the LSTM + pad_packed_sequence(total_length=T), what a
user runs; --mode equal times the LSTM on the whole padded batch. Prints one
JSON line: median_ms, p10_ms, p90_ms, iters, threads, valid_fraction, torch.
Which BLAS libtorch loads is the caller's choice (bench_rnn.sh: OpenBLAS by
LD_LIBRARY_PATH, as bench/peers does).
"""
import argparse
import json
import struct
import time

import torch
import torch.nn as nn

B, T, F, H = 64, 128, 512, 512


def lengths():
    g = torch.Generator().manual_seed(19)
    n = torch.randint(T // 4, T + 1, (B,), generator=g, dtype=torch.int64)
    return torch.sort(n, descending=True).values


def write_lengths(path, n):
    data = n.numpy().astype("<i8").tobytes()
    head = json.dumps({"lengths": {"dtype": "I64", "shape": [B], "data_offsets": [0, len(data)]}})
    head += " " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head.encode() + data)


def measure(fn, budget, min_iters):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.1:  # warm-up, as bench/peers
        fn()
    ts, start = [], time.perf_counter()
    while len(ts) < min_iters or time.perf_counter() - start < budget:
        a = time.perf_counter_ns()
        fn()
        ts.append((time.perf_counter_ns() - a) / 1e6)
    ts.sort()
    return ts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write-lengths")
    ap.add_argument("--mode", choices=["packed", "equal"], default="packed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--min-iters", type=int, default=10)
    a = ap.parse_args()
    n = lengths()
    frac = float(n.sum()) / (B * T)
    if a.write_lengths:
        write_lengths(a.write_lengths, n)
        print(json.dumps({"valid_fraction": frac, "min": int(n.min()), "max": int(n.max())}))
        return
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    lstm = nn.LSTM(F, H, batch_first=True).eval()
    x = torch.randn(B, T, F)
    pack, pad = nn.utils.rnn.pack_padded_sequence, nn.utils.rnn.pad_packed_sequence

    def packed():
        y, _ = lstm(pack(x, n, batch_first=True, enforce_sorted=True))
        return pad(y, batch_first=True, total_length=T)

    fn = packed if a.mode == "packed" else (lambda: lstm(x))
    with torch.inference_mode():
        ts = measure(fn, a.budget, a.min_iters)
    q = lambda p: ts[min(len(ts) - 1, int(p * (len(ts) - 1) + 0.5))]  # noqa: E731
    print(json.dumps({"median_ms": q(0.5), "p10_ms": q(0.1), "p90_ms": q(0.9), "iters": len(ts),
                      "threads": a.threads, "valid_fraction": frac, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
