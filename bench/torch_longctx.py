#!/usr/bin/python3
"""torch_longctx.py: the long-context bench's models in PyTorch eager (bench/bench_longctx.sh).

    /usr/bin/python3 bench/torch_longctx.py --model bench/memformer.yaml [--dim L=4096]
        [--threads 2] [--budget 2.0] [--min-iters 1] [--max-iters 3] [--check]
    /usr/bin/python3 bench/torch_longctx.py --model bench/xl.yaml --against SEQC --work DIR
        [--dim L=512]

The model follows the YAML's one node:
- memformer_encoder: an nn.Module a PyTorch user would write from SPEC 10's
  text (nn.LayerNorm, nn.MultiheadAttention(batch_first) and nn.Linear per
  layer, the write as nn.MultiheadAttention's packed projections with the slot
  mask and the temperature); --check first compares it, in float64 on a small
  size, with tests/golden/ref_longctx.memformer (the goldens' reference).
- transformer_xl: kimiyoung/transformer-xl's own PyTorch forward
  (ref_longctx.xl_ky, the port the goldens come from), float32.
- transformer_encoder with causal: true (bench/transformer_gpt.yaml): the
  plain causal Transformer, nn.TransformerEncoder with a float causal mask.
Each runs under torch.inference_mode() with torch.set_num_threads(N).

Timing (default): a warm-up run, on the first 1024 positions for the segment
models (their segments all have one shape; a T-long warm-up would double the
cost of T = 65536) and on the whole input for the plain Transformer; then runs
until --min-iters and --budget seconds are both reached, at most --max-iters.
One JSON line: median_ms, p10_ms, p90_ms, peak_rss_mb (ru_maxrss: the whole
process, torch's own baseline included), before_run_mb (the resident memory
when the model, weights and input are loaded and nothing has run: peak minus
it is what running added), io_mb (input plus outputs), iters, threads, torch.

--against SEQC: the same weights through seqc. Writes the module's weights
under seqc's names (NODE.PARAM, SPEC 2) and an input into DIR, runs
`SEQC run MODEL --weights --input --output` and compares every output with
torch's, float32 both; prints one JSON line with max_abs_err and ok (within
SPEC 8's 1e-4 + 1e-4 |want|). Exit status 1 when they differ.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from torch_generate import read_safetensors, write_safetensors  # noqa: E402


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


class Bench:
    """One YAML's model in torch: run() gives its outputs in the YAML's output
    order; weights holds its parameters under seqc's names (NODE.PARAM)."""

    def __init__(self, path, dims):
        with open(path) as f:
            m = yaml.safe_load(f)
        ((name, node),) = m["nodes"].items()
        (inp,) = m["inputs"].items()
        self.input_name = inp[0]
        shape = inp[1]["shape"]
        self.seq_dim = shape[1]  # the length's dim name (L, or T for the plain Transformer)
        d = shape[2]
        B, T = dims[shape[0]], dims[shape[1]]
        self.outputs = m["outputs"]
        torch.manual_seed(1)
        op = node["op"]
        if op == "memformer_encoder":
            mod = Memformer(d, node["nhead"], node["dim_feedforward"], node["num_layers"],
                            node["num_slots"], node["segment"],
                            node.get("write_temperature", 1.0),
                            node.get("activation", "relu") == "gelu",
                            node.get("layer_norm_eps", 1e-5)).eval()
            self.weights = {f"{name}.{k}": v for k, v in mod.state_dict().items()
                            if k != "blocked"}
            self.fn = lambda x: list(mod(x))
            self.segment = node["segment"]
        elif op == "transformer_xl":
            import ref_longctx
            cfg = {k: v for k, v in node.items() if k not in ("op", "input", "carry")}
            w = ref_longctx.xl_weights(cfg, d, torch.Generator().manual_seed(1),
                                       dtype=torch.float32)
            self.weights = {f"{name}.{k}": v for k, v in w.items()}
            self.fn = lambda x: [ref_longctx.xl_ky(w, x, cfg)[0]]
            self.segment = node["segment"]
        elif op == "transformer_encoder" and node.get("causal"):
            def layer():
                return nn.TransformerEncoderLayer(
                    d, node["nhead"], node["dim_feedforward"], dropout=0.0,
                    activation=node.get("activation", "relu"), batch_first=True,
                    norm_first=node.get("norm_first", False),
                    layer_norm_eps=node.get("layer_norm_eps", 1e-5))
            mod = nn.TransformerEncoder(layer(), node["num_layers"], enable_nested_tensor=False)
            # one init per layer, not deep copies of one (as bench/peers does)
            mod.layers = nn.ModuleList(layer() for _ in range(node["num_layers"]))
            mod.eval()
            self.weights = {f"{name}.{k}": v for k, v in mod.state_dict().items()}

            def causal(x):
                n = x.shape[1]
                mask = torch.full((n, n), float("-inf")).triu(1)
                return [mod(x, mask=mask)]
            self.fn = causal
            self.segment = None
        else:
            raise SystemExit(f"{path}: torch_longctx.py runs memformer_encoder, transformer_xl "
                             f"or a causal transformer_encoder, not {op}")
        self.x = torch.randn(B, T, d)


def rss_mb():
    """the resident memory now (/proc/self/statm's second field, in pages)"""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def against(a, dims):
    """the module's outputs beside seqc's on the same weights and input"""
    bench = Bench(a.model, dims)
    os.makedirs(a.work, exist_ok=True)
    stem = os.path.join(a.work, os.path.splitext(os.path.basename(a.model))[0])
    weights, inp, got_path = stem + "-weights.safetensors", stem + "-input.safetensors", \
        stem + "-seqc.safetensors"
    write_safetensors(weights, {k: v.detach().float() for k, v in bench.weights.items()})
    write_safetensors(inp, {bench.input_name: bench.x})
    cmd = [a.against, "run", a.model, "--weights", weights, "--input", inp, "--output",
           got_path, "--threads", str(a.threads), "--strict"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        print(json.dumps({"ok": False, "error": "seqc run failed: " + done.stderr.strip()[-300:]}))
        return 1
    with torch.inference_mode():
        want = bench.fn(bench.x)
    got = read_safetensors(got_path)
    err, ok = 0.0, True
    for name, w in zip(bench.outputs, want):
        g = got[name]
        if g.shape != w.shape:
            print(json.dumps({"ok": False, "error": f"{name}: seqc gave {list(g.shape)}, "
                                                    f"torch {list(w.shape)}"}))
            return 1
        d = (g - w).abs()
        # a NaN anywhere fails (max() would pass over it); else SPEC 8's
        # bound: |got - want| <= 1e-4 + 1e-4 |want|
        if torch.isnan(d).any():
            err, ok = float("nan"), False
            continue
        err = max(err, d.max().item())
        ok = ok and bool((d <= 1e-4 + 1e-4 * w.abs()).all())
    print(json.dumps({"ok": ok, "max_abs_err": err, "dims": dims,
                      "outputs": bench.outputs}))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "bench", "memformer.yaml"))
    ap.add_argument("--dim", action="append", default=[])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--min-iters", type=int, default=1)
    ap.add_argument("--max-iters", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--against", metavar="SEQC")
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "out", "longctx-work"))
    a = ap.parse_args()
    if a.check:
        check()
    torch.set_num_threads(a.threads)
    with open(a.model) as f:
        dims = dict(yaml.safe_load(f)["dims"])
    for s in a.dim:
        k, v = s.split("=")
        dims[k] = int(v)
    if a.against:
        return against(a, dims)
    bench = Bench(a.model, dims)
    x = bench.x
    T = x.shape[1]
    # the segment models warm up on a prefix: same shapes per segment, a
    # fraction of the cost; the plain Transformer's shapes are T's own
    warm = x if bench.segment is None else x[:, :max(bench.segment, min(T, 1024))]
    io_mb = None
    before = rss_mb()
    times = []
    with torch.inference_mode():
        bench.fn(warm)
        t0 = time.perf_counter()
        while len(times) < a.max_iters and (len(times) < a.min_iters or
                                            time.perf_counter() - t0 < a.budget):
            t = time.perf_counter()
            outs = bench.fn(x)
            times.append((time.perf_counter() - t) * 1e3)
            io_mb = (x.numel() + sum(o.numel() for o in outs)) * 4 / 2**20
            del outs
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
    print(json.dumps({"median_ms": q(0.5), "p10_ms": q(0.1), "p90_ms": q(0.9),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "before_run_mb": before, "io_mb": io_mb,
                      "iters": len(times), "threads": a.threads, "dims": dims,
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
