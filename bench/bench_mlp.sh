#!/usr/bin/env bash
# seqc against PyTorch eager on models/mlp.yaml, side by side.
#
#   bash bench/bench_mlp.sh                 # B=64 T=128, 2 threads
#   DIMS="B=8 T=512" THREADS=1 bash bench/bench_mlp.sh
#
# One run: `seqc bench models/mlp.yaml --dim ... --threads N --json`, then the
# same model in PyTorch eager (bench/torch_mlp.py: inference_mode,
# set_num_threads(N)) with OpenBLAS and tcmalloc picked per process as
# bench/peers does (LD_LIBRARY_PATH, LD_PRELOAD), each REPEATS times with the
# lowest median kept (the VM has bursts of outside interference). Prints a
# table: both medians and the ratio torch/seqc (> 1: seqc is faster). The JSON
# rows go to bench/out/mlp-STAMP.jsonl, the plot (both sides' p10, median and
# p90) to bench/out/mlp-STAMP.png.
#
# Knobs: SEQC (default build/cli/seqc), DIMS ("B=64 T=128"), THREADS (2),
#   REPEATS (2), ITERS (seqc --iters; default: seqc's own time budget),
#   BUDGET_S (torch's timed seconds, 1.0), TORCH_BLAS=openblas|default,
#   TORCH_MALLOC=tcmalloc|glibc. Without seqc (not built yet), only torch runs.
set -uo pipefail
BENCH=mlp
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
model=$root/models/mlp.yaml
DIMS=${DIMS:-"B=64 T=128"}
BUDGET_S=${BUDGET_S:-1.0}

dim_args=()
for d in $DIMS; do dim_args+=(--dim "$d"); done

# torch's BLAS and allocator (TORCH_BLAS, TORCH_MALLOC): common.sh's torch_env

have_seqc=1
if [ ! -x "$SEQC" ]; then
  log "no seqc at $SEQC (build it, or set SEQC); timing torch only"
  have_seqc=0
fi
seqc_cmd=("$SEQC" bench "$model" "${dim_args[@]}" --threads "$THREADS" --json)
[ -n "${ITERS:-}" ] && seqc_cmd+=(--iters "$ITERS")
torch_cmd=("${torch_env[@]}" "$PY" "$root/bench/torch_mlp.py" --model "$model" "${dim_args[@]}"
  --threads "$THREADS" --budget "$BUDGET_S")

for ((i = 1; i <= REPEATS; i++)); do
  # alternate the order so neither side always runs second
  if ((i % 2)); then
    ((have_seqc)) && { log "pass $i: seqc"; row seqc "${seqc_cmd[@]}"; }
    log "pass $i: torch"; row torch_eager "${torch_cmd[@]}"
  else
    log "pass $i: torch"; row torch_eager "${torch_cmd[@]}"
    ((have_seqc)) && { log "pass $i: seqc"; row seqc "${seqc_cmd[@]}"; }
  fi
done

report "$out" "$DIMS" "$THREADS" "$png" <<'EOF'
import sys
import plot
from rows import read_best
rows, best = read_best(sys.argv[1])
print(f"models/mlp.yaml  {sys.argv[2]}  threads {sys.argv[3]}  "
      f"(best of {sum(r['who'] == 'torch_eager' for r in rows)} passes)")
print(f"{'':12} {'median_ms':>10} {'p10_ms':>9} {'p90_ms':>9} {'GFLOP/s':>8} {'peak_MB':>8}  notes")
for who in ("seqc", "torch_eager"):
    r = best.get(who)
    if r is None:
        print(f"{who:12} {'n/a':>10}")
        continue
    notes = (f"compile {r['compile_ms']:.0f} ms" if who == "seqc" and "compile_ms" in r
             else f"{r.get('blas', '')}, {r.get('malloc', '')}" if who == "torch_eager" else "")
    print(f"{who:12} {r['median_ms']:10.3f} {r['p10_ms']:9.3f} {r['p90_ms']:9.3f} "
          f"{r['gflops']:8.1f} {r['peak_rss_mb']:8.1f}  {notes}")
if "seqc" in best and "torch_eager" in best:
    ratio = best["torch_eager"]["median_ms"] / best["seqc"]["median_ms"]
    print(f"ratio torch/seqc: {ratio:.2f}  (> 1: seqc is faster)")
else:
    print("ratio torch/seqc: n/a")
stats = [(q.replace("_ms", ""), {who: best[who][q] for who in ("seqc", "torch_eager") if who in best})
         for q in ("p10_ms", "median_ms", "p90_ms")]
print(plot.save(sys.argv[4], f"models/mlp.yaml, {sys.argv[2]}, {sys.argv[3]} threads",
                [plot.bars("ms per run (lower is faster)", "ms", stats)]))
print(f"rows: {sys.argv[1]}")
EOF
