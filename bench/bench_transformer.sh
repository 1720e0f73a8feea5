#!/usr/bin/env bash
# seqc beside the peers (bench/peers) on their Transformer workloads:
#   encoder        bench/transformer_encoder.yaml   (B 8, T 128, d 512, 8 heads, ff 2048)
#   encoder_padded bench/transformer_encoder_padded.yaml: the same on a padded batch
#                  (src_key_padding_mask, each row valid for a length uniform in
#                  [T/4, T]); its peer is PyTorch eager run here on the same lengths
#   gpt            bench/transformer_gpt.yaml       (4 causal layers, d 256, B 1, T 512)
#   longattn_N     bench/longattn.yaml --dim T=N    (self-attention d 256, 4 heads, B 1)
#   longattn_padded_N  bench/longattn_padded.yaml --dim T=N: the same with a key
#                  padding mask (a valid length uniform in [T/4, T]; seqc only)
#
#   bash bench/bench_transformer.sh                  # peers from their newest results file
#   RUN_PEERS=1 bash bench/bench_transformer.sh      # rerun the peers too (a few minutes)
#
# seqc runs `seqc bench --json --threads $THREADS` on each workload (REPEATS
# times, lowest median kept, as the peers do). The peers (PyTorch eager and
# TorchScript, ONNX Runtime) come from `bench/peers/run_all.sh` on the same
# workloads (RUN_PEERS=1) or from the newest bench/out/peers/peers-*.jsonl.
# Prints, per workload, seqc's median, peak RSS and GFLOP/s (seqc's from the
# peers' FLOP count, which includes attention) beside each peer's, and the
# ratio peer/seqc (> 1: seqc is faster). Rows go to
# bench/out/transformer-STAMP.jsonl, the plot of the medians to
# bench/out/transformer-STAMP.png.
#
# Knobs: SEQC (default build/cli/seqc), THREADS (2), REPEATS (2), WORKLOADS
# (default: encoder encoder_padded gpt longattn_1024 longattn_4096
# longattn_padded_4096 longattn_8192), RUN_PEERS (0), PEERS (run_all.sh's),
# PEERS_DIR (bench/peers).
set -uo pipefail
BENCH=transformer
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WORKLOADS=${WORKLOADS:-"encoder encoder_padded gpt longattn_1024 longattn_4096 longattn_padded_4096 longattn_8192"}

model_of() {
  case $1 in
    encoder) echo "$root/bench/transformer_encoder.yaml" ;;
    encoder_padded) echo "$root/bench/transformer_encoder_padded.yaml" ;;
    gpt) echo "$root/bench/transformer_gpt.yaml" ;;
    longattn_padded_*) echo "$root/bench/longattn_padded.yaml --dim T=${1#longattn_padded_}" ;;
    longattn_*) echo "$root/bench/longattn.yaml --dim T=${1#longattn_}" ;;
    *) return 1 ;;
  esac
}

# seqc rows: the lowest median of REPEATS runs
if [ -x "$SEQC" ]; then
  for w in $WORKLOADS; do
    args=$(model_of "$w") || { log "unknown workload $w"; continue; }
    best=""
    for _ in $(seq "$REPEATS"); do
      # shellcheck disable=SC2086
      line=$("$SEQC" bench $args --threads "$THREADS" --json 2>/dev/null | grep '^{' | tail -n 1)
      [ -z "$line" ] && { log "seqc failed on $w"; continue; }
      best=$(printf '%s\n%s\n' "$best" "$line" | /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print(json.dumps(min(rows, key=lambda r: r["median_ms"])))')
    done
    [ -n "$best" ] && printf '{"workload": "%s", "peer": "seqc", %s\n' "$w" "${best#\{}" >>"$out"
  done
else
  log "no seqc at $SEQC (build it, or set SEQC)"
fi

# peer rows: only the peers' own workloads (they have no padded ones)
peer_wl=""
for w in $WORKLOADS; do [[ $w == *_padded* ]] || peer_wl="$peer_wl $w"; done
# shellcheck disable=SC2086
newest=$(peer_results $peer_wl)
if [ -n "$newest" ]; then
  log "peers from $newest"
  grep '^{' "$newest" >>"$out"
else
  log "no peer results in bench/out/peers (RUN_PEERS=1 runs them)"
fi

# encoder_padded's peer (the peers have no padded workload): PyTorch eager as
# bench/peers runs it, nn.TransformerEncoderLayer in eval mode under inference_mode (what a user runs;
# PyTorch may take its fast path), with src_key_padding_mask of the lengths seqc
# bench drew (seed 1: the mask, the first input, takes the first B draws of
# splitmix64, length = ceil(T/4) + draw mod (T - ceil(T/4) + 1)), and unpadded
if [[ " $WORKLOADS " == *" encoder_padded "* ]]; then
  # the peers' torch_eager setting: OpenBLAS (OpenMP) and tcmalloc, common.sh's torch_env
  "${torch_env[@]}" THREADS="$THREADS" "$PY" - >>"$out" <<'PY' || log "PyTorch run failed"
import json, os, time
import torch
import torch.nn as nn
torch.set_num_threads(int(os.environ["THREADS"]))
B, T, D = 8, 128, 512
M = (1 << 64) - 1
state, lengths, short = 1, [], (T + 3) // 4
for _ in range(B):
    state = (state + 0x9e3779b97f4a7c15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    lengths.append(short + (z ^ (z >> 31)) % (T - short + 1))
pad = torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]
torch.manual_seed(1)
m = nn.TransformerEncoderLayer(D, 8, 2048, dropout=0.0, batch_first=True).eval()
x = torch.randn(B, T, D)
def median_ms(fn):
    for _ in range(3):
        fn()
    ts, start = [], time.perf_counter()
    while len(ts) < 10 or time.perf_counter() - start < 1.0:
        a = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - a) * 1e3)
    return sorted(ts)[len(ts) // 2]
with torch.inference_mode():
    for w, mask in (("encoder_padded", pad), ("encoder", None)):
        ms = median_ms(lambda: m(x, src_key_padding_mask=mask))
        print(json.dumps({"workload": w, "peer": "torch_eager_here", "median_ms": round(ms, 4),
                          "lengths": lengths if mask is not None else None}))
PY
fi

WORKLOADS="$WORKLOADS" report "$out" "$png" "$THREADS" <<'PY'
import json, os, sys
import plot
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = os.environ["WORKLOADS"].split()
# the peers' FLOP count of a workload (2 x MACs of every product, attention's included)
peer_flops = {r["workload"]: r["flops"] for r in rows
              if r.get("peer") != "seqc" and r.get("flops")}
print(f"{'workload':20} {'peer':18} {'median ms':>10} {'peak MB':>8} {'GFLOP/s':>8} {'peer/seqc':>9}")
groups = []
for w in want:
    mine = next((r for r in rows if r.get("workload") == w and r.get("peer") == "seqc"), None)
    groups.append((w, {}))
    for r in [mine] + [r for r in rows if r.get("workload") == w and r.get("peer") != "seqc"]:
        if not r or r.get("median_ms") is None:
            continue
        groups[-1][1][r["peer"]] = r["median_ms"]
        ratio = ""
        if mine and r is not mine:
            ratio = f"{r['median_ms'] / mine['median_ms']:.2f}x"
        gf = r.get("gflops")
        if r is mine and peer_flops.get(w):  # seqc counts matmul FLOPs only, not attention's
            gf = peer_flops[w] / (r["median_ms"] * 1e6)
        print(f"{w:20} {r['peer']:18} {r['median_ms']:10.2f} {r.get('peak_rss_mb') or 0:8.1f} "
              f"{gf if gf is not None else float('nan'):8.1f} {ratio:>9}")
# what padding saves: each runner's padded time over its unpadded one
for peer in ("seqc", "torch_eager_here"):
    t = {r["workload"]: r["median_ms"] for r in rows
         if r.get("peer") == peer and r.get("median_ms") is not None}
    for w in want:
        base = w.replace("_padded", "")
        if "_padded" in w and w in t and base in t:
            print(f"{peer}: {w} / {base} = {t[w] / t[base]:.2f}")
print(plot.save(sys.argv[2], f"seqc and the peers on the Transformer workloads, {sys.argv[3]} threads",
                [plot.bars("median ms per workload (lower is faster)", "ms", groups)]))
print(f"(rows in {sys.argv[1]})")
PY
