#!/usr/bin/python3
"""torch_longctx.py: bench/memformer.yaml or bench/xl.yaml in PyTorch eager, timed like bench/peers.

    /usr/bin/python3 bench/torch_longctx.py [--dim B=2 --dim L=4096] [--threads 2]
                                            [--budget 1.0] [--min-iters 3] [--check]

Prints one JSON line: median_ms, p10_ms, p90_ms, peak_rss_mb, iters, threads,
torch. The model is an nn.Module a PyTorch user would write from SPEC 10's
text: nn.LayerNorm, nn.MultiheadAttention(batch_first) and nn.Linear per
layer, the write as nn.MultiheadAttention's packed projections with the
slot mask and the temperature, under torch.inference_mode() with
torch.set_num_threads(N). --check first compares it, in float64 on a small
size, with tests/golden/ref_longctx.memformer (the goldens' reference).
With --model bench/xl.yaml it runs Transformer-XL as kimiyoung/transformer-xl's
own PyTorch code does (ref_longctx.xl_ky, the port the goldens come from).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))


class Layer(nn.Module):
    def __init__(self, d, nhead, ff, gelu, eps):
        super().__init__()
        self.n1, self.n2, self.n3 = (nn.LayerNorm(d, eps=eps) for _ in range(3))
        self.self_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.mem_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.act = nn.GELU() if gelu else nn.ReLU()

    def forward(self, x, mem):
        h = self.n1(x)
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        h = self.n2(x)
        x = x + self.mem_attn(h, mem, mem, need_weights=False)[0]
        return x + self.linear2(self.act(self.linear1(self.n3(x))))


class Memformer(nn.Module):
    """memformer_encoder of SPEC 10; forward(x) -> (y, memory)."""

    def __init__(self, d, nhead, ff, layers, slots, segment, tau=1.0, gelu=False, eps=1e-5):
        super().__init__()
        self.layers = nn.ModuleList(Layer(d, nhead, ff, gelu, eps) for _ in range(layers))
        self.norm = nn.LayerNorm(d, eps=eps)
        self.writer = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.memory_bias = nn.Parameter(torch.randn(slots, d))
        self.segment, self.tau, self.nhead = segment, tau, nhead
        seen = torch.zeros(slots, slots + segment, dtype=torch.bool)
        seen[torch.arange(slots), torch.arange(slots)] = True
        seen[:, slots:] = True
        self.register_buffer("blocked", ~seen)

    def write(self, mem, y):
        # nn.MultiheadAttention cannot divide its scores by a temperature: its
        # packed projections by hand, the rest as F.scaled_dot_product would
        B, k, D = mem.shape
        H, dh = self.nhead, D // self.nhead
        w, b = self.writer.in_proj_weight, self.writer.in_proj_bias
        kv = torch.cat([mem, y], 1)
        q = F.linear(mem, w[:D], b[:D]).view(B, k, H, dh).transpose(1, 2)
        kk = F.linear(kv, w[D:2 * D], b[D:2 * D]).view(B, -1, H, dh).transpose(1, 2)
        vv = F.linear(kv, w[2 * D:], b[2 * D:]).view(B, -1, H, dh).transpose(1, 2)
        s = (q @ kk.transpose(-1, -2)) / (math.sqrt(dh) * self.tau)
        a = torch.softmax(s.masked_fill(self.blocked, float("-inf")), -1) @ vv
        out = self.writer.out_proj(a.transpose(1, 2).reshape(B, k, D))
        return F.normalize(out + self.memory_bias, dim=-1, eps=1e-12)

    def forward(self, x):
        B = x.shape[0]
        mem = F.normalize(self.memory_bias, dim=-1, eps=1e-12).expand(B, -1, -1)
        outs = []
        for s in range(0, x.shape[1], self.segment):
            h = x[:, s:s + self.segment]
            for layer in self.layers:
                h = layer(h, mem)
            y = self.norm(h)
            mem = self.write(mem, y)
            outs.append(y)
        return torch.cat(outs, 1), mem


def from_yaml(path):
    with open(path) as f:
        m = yaml.safe_load(f)
    (node,) = [a for a in m["nodes"].values() if a.get("op") == "memformer_encoder"]
    d = m["inputs"]["x"]["shape"][2]
    return m, dict(d=d, nhead=node["nhead"], ff=node["dim_feedforward"],
                   layers=node["num_layers"], slots=node["num_slots"],
                   segment=node["segment"], tau=node.get("write_temperature", 1.0),
                   gelu=node.get("activation", "relu") == "gelu",
                   eps=node.get("layer_norm_eps", 1e-5))


def check():
    """the module against ref_longctx.memformer, float64, small"""
    import ref_longctx
    torch.manual_seed(0)
    cfg = dict(num_layers=2, nhead=2, dim_feedforward=16, num_slots=3, segment=4,
               write_temperature=0.5)
    mod = Memformer(8, 2, 16, 2, 3, 4, tau=0.5).double().eval()
    w = {k: v.detach() for k, v in mod.state_dict().items() if k != "blocked"}
    x = torch.randn(2, 12, 8, dtype=torch.float64)
    with torch.inference_mode():
        y1, m1 = mod(x)
    y2, m2 = ref_longctx.memformer(w, x, cfg)
    diff = max((y1 - y2).abs().max().item(), (m1 - m2).abs().max().item())
    assert diff < 1e-12, f"module and reference differ by {diff}"


def xl_from_yaml(path):
    with open(path) as f:
        m = yaml.safe_load(f)
    (node,) = [a for a in m["nodes"].values() if a.get("op") == "transformer_xl"]
    cfg = {k: v for k, v in node.items() if k not in ("op", "input", "carry")}
    return m, cfg, m["inputs"]["x"]["shape"][2]


def run_xl(a, dims):
    """Transformer-XL: kimiyoung/transformer-xl's own PyTorch forward (the port
    in ref_longctx, which the goldens come from), float32"""
    import ref_longctx
    m, cfg, d = xl_from_yaml(a.model)
    g = torch.Generator().manual_seed(1)
    w = ref_longctx.xl_weights(cfg, d, g, dtype=torch.float32)
    x = torch.randn(dims["B"], dims["L"], d)
    return lambda: ref_longctx.xl_ky(w, x, cfg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "bench", "memformer.yaml"))
    ap.add_argument("--dim", action="append", default=[])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--min-iters", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if a.check:
        check()
    torch.set_num_threads(a.threads)
    with open(a.model) as f:
        dims = dict(yaml.safe_load(f)["dims"])
    for s in a.dim:
        k, v = s.split("=")
        dims[k] = int(v)
    torch.manual_seed(1)
    with open(a.model) as f:
        xl = "transformer_xl" in f.read()
    if xl:
        fn = run_xl(a, dims)
    else:
        m, c = from_yaml(a.model)
        mod = Memformer(c["d"], c["nhead"], c["ff"], c["layers"], c["slots"], c["segment"],
                        c["tau"], c["gelu"], c["eps"]).eval()
        x = torch.randn(dims["B"], dims["L"], c["d"])
        fn = lambda: mod(x)
    times = []
    with torch.inference_mode():
        fn()  # warm-up
        t0 = time.perf_counter()
        while len(times) < a.min_iters or time.perf_counter() - t0 < a.budget:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
    print(json.dumps({"median_ms": q(0.5), "p10_ms": q(0.1), "p90_ms": q(0.9),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "iters": len(times), "threads": a.threads, "dims": dims,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
