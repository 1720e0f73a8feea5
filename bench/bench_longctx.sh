#!/usr/bin/env bash
# Long context (SPEC 10) at L = 1024, 4096 and 16384, B 2, seqc beside
# PyTorch eager: bench/memformer.yaml (2 layers, d_model 256, 4 heads, ff 1024,
# 16 slots, segments of 128) as an nn.Module (bench/torch_longctx.py, checked
# against the goldens' reference first), and bench/xl.yaml (Transformer-XL of
# the same size, mem_len 128) as kimiyoung/transformer-xl's own forward.
#
#   bash bench/bench_longctx.sh
#
# Prints per L: seqc's median and arena (the memory a run plans beyond its
# parameters), torch's median, and torch/seqc (> 1: seqc is faster); then the
# growth exponent of each one's time over L (1: linear). The session's arena
# holds the outputs ([B, L, 256] and the memory [B, 16, 256]) beside what the
# encoder itself needs; that part, the arena beyond the outputs, must not grow
# with L. The plot, bench/out/longctx-STAMP.png: each model's time against L,
# seqc beside torch, on log axes (the slope is the growth exponent).
# Knobs: SEQC, THREADS (2), REPEATS (2), LENGTHS ("1024 4096 16384"),
# MODELS ("memformer xl").
set -uo pipefail
BENCH=longctx
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LENGTHS=${LENGTHS:-"1024 4096 16384"}
MODELS=${MODELS:-"memformer xl"}

"${torch_env[@]}" "$PY" "$root/bench/torch_longctx.py" --check --dim L=128 --min-iters 1 \
  --budget 0 >/dev/null || { log "the torch module does not match the reference"; exit 1; }
for m in $MODELS; do
  for L in $LENGTHS; do
    for _ in $(seq "$REPEATS"); do
      row "${m}_seqc_$L" "$SEQC" bench "$root/bench/$m.yaml" --dim "L=$L" --threads "$THREADS" \
        --json
      row "${m}_torch_$L" "${torch_env[@]}" "$PY" "$root/bench/torch_longctx.py" \
        --model "$root/bench/$m.yaml" --dim "L=$L" --threads "$THREADS"
    done
  done
done

for m in $MODELS; do
report "$out" "$LENGTHS" "$m" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lengths = [int(x) for x in sys.argv[2].split()]
model = sys.argv[3]
best = {}
for r in rows:
    if not r["who"].startswith(model + "_"):
        continue
    k = r["who"][len(model) + 1:]
    if k not in best or r["median_ms"] < best[k]["median_ms"]:
        best[k] = r
print("== %s" % model)
print("%6s %12s %12s %12s %10s %14s" % ("L", "seqc ms", "torch ms", "torch/seqc", "arena MB",
                                         "beyond outputs"))
B, D, K = 2, 256, (16 if model == "memformer" else 0)
for L in lengths:
    s, t = best.get("seqc_%d" % L), best.get("torch_%d" % L)
    outs = (B * L * D + B * K * D) * 4 / 2**20
    print("%6d %12.2f %12.2f %12.2f %10.2f %14.2f" % (
        L, s["median_ms"] if s else float("nan"), t["median_ms"] if t else float("nan"),
        t["median_ms"] / s["median_ms"] if s and t else float("nan"),
        s["arena_mb"] if s else float("nan"), s["arena_mb"] - outs if s else float("nan")))
def slope(who):
    pts = [(math.log(L), math.log(best["%s_%d" % (who, L)]["median_ms"]))
           for L in lengths if "%s_%d" % (who, L) in best]
    if len(pts) < 2: return float("nan")
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
print("time ~ L^%.2f (seqc), L^%.2f (torch)" % (slope("seqc"), slope("torch")))
PY
done

# the seed's question: Memformer against Transformer-XL of the same size, on seqc
report "$out" "$LENGTHS" "$MODELS" "$png" "$THREADS" <<'PY'
import sys
import plot
from rows import read_best
rows, best = read_best(sys.argv[1])
panels = []
for model in sys.argv[3].split():
    series = {}
    for who in ("seqc", "torch"):
        series[who] = [(L, best[k]["median_ms"]) for L in map(int, sys.argv[2].split())
                       for k in ["%s_%s_%d" % (model, who, L)] if k in best]
    panels.append(plot.lines(f"{model}: median ms against L (lower is faster)", "L (tokens)",
                             "median ms", series, logx=True, logy=True))
print(plot.save(sys.argv[4], f"long context, B 2, {sys.argv[5]} threads", panels))
print("== memformer / xl on seqc (time, arena)")
for L in [int(x) for x in sys.argv[2].split()]:
    m, x = best.get("memformer_seqc_%d" % L), best.get("xl_seqc_%d" % L)
    if m and x:
        print("%6d  time %.2f  arena %.2f" % (L, m["median_ms"] / x["median_ms"],
                                             m["arena_mb"] / x["arena_mb"]))
PY
