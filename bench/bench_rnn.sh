#!/usr/bin/env bash
# seqc against the peers (bench/peers) on the RNN workloads, side by side.
#
#   bash bench/bench_rnn.sh                # seqc now + the peers' newest results file
#   RUN_PEERS=1 bash bench/bench_rnn.sh    # also runs the peers on the same workloads now
#
# For each of lstm_b1 lstm_b64 gru_b1 birnn: `seqc bench bench/NAME.yaml --threads 2
# --json` (best of REPEATS), then the peers' medians (PyTorch eager, oneDNN's RNN
# primitives, ONNX Runtime) from bench/peers/run_all.sh (RUN_PEERS=1) or the newest
# bench/out/peers/peers-*.jsonl. Prints seqc's median, each peer's, and the ratio peer/seqc
# (> 1: seqc is faster). Last, the compile time of bench/lstm_b1.yaml at T=10
# and T=100000: the scan is a real loop, so the two should be about the same.
#
# Ragged batches (SPEC 11 lengths): lstm_b64 with lengths drawn uniformly from
# [T/4, T] (fixed seed) and sorted longest first, as pack_padded_sequence's
# enforce_sorted wants (bench/torch_ragged.py writes them): seqc on
# bench/lstm_b64_ragged.yaml with those lengths against seqc on the equal-length
# batch (the aim: time in proportion to the valid steps), and PyTorch eager on
# the packed batch (pack + LSTM + pad) and on the equal-length one, at THREADS
# threads. oneDNN's RNN primitive takes one sequence length for the whole batch
# (src_layer is [T, N, C], no per-row lengths), so bench/peers cannot run the
# ragged batch with it: its equal-length lstm_b64 is in the table above.
# The plot, bench/out/rnn-STAMP.png: the medians per workload, and the ragged batch.
#
# Knobs: SEQC (default build/cli/seqc), THREADS (2), REPEATS (2), RUN_PEERS (0),
#   PEERS (run_all.sh's, default here "torch_eager onednn_c ort_node"),
#   PEERS_DIR (bench/peers), WL (the workloads, "lstm_b1 lstm_b64 gru_b1 birnn"),
#   UNROLL (passed as --unroll when set).
set -uo pipefail
BENCH=rnn
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WL=${WL:-"lstm_b1 lstm_b64 gru_b1 birnn"}
export PEERS=${PEERS:-"torch_eager onednn_c ort_node"}
# shellcheck disable=SC2086
peers=$(peer_results $WL)
log "peer results: ${peers:-none}"

extra=()
[ -n "${UNROLL:-}" ] && extra+=(--unroll "$UNROLL")
for ((i = 1; i <= REPEATS; i++)); do
  for w in $WL; do
    log "pass $i: seqc $w"
    row "$w" "$SEQC" bench "$root/bench/$w.yaml" --threads "$THREADS" --json "${extra[@]}"
  done
done
# torch as the peers run it: common.sh's torch_env
lengths=$root/bench/out/lstm_b64_lengths.safetensors
log "ragged lengths: $("$PY" "$root/bench/torch_ragged.py" --write-lengths "$lengths")"
for ((i = 1; i <= REPEATS; i++)); do
  log "pass $i: ragged lstm_b64 (seqc ragged, seqc equal, torch packed, torch equal)"
  row ragged_seqc "$SEQC" bench "$root/bench/lstm_b64_ragged.yaml" --input "$lengths" \
    --threads "$THREADS" --json "${extra[@]}"
  row ragged_seqc_equal "$SEQC" bench "$root/bench/lstm_b64.yaml" --threads "$THREADS" --json \
    "${extra[@]}"
  row ragged_torch "${torch_env[@]}" "$PY" "$root/bench/torch_ragged.py" --mode packed --min-iters 5 \
    --threads "$THREADS"
  row ragged_torch_equal "${torch_env[@]}" "$PY" "$root/bench/torch_ragged.py" --mode equal --min-iters 5 \
    --threads "$THREADS"
done
for t in 10 100000; do
  log "compile time: lstm_b1 at T=$t"
  row "compile_T$t" "$SEQC" bench "$root/bench/lstm_b1.yaml" --dim T=$t --threads "$THREADS" \
    --iters 1 --json "${extra[@]}"
done

report "$out" "${peers:-}" "$png" "$WL" "$THREADS" <<'PYEOF'
import json, os, sys
import plot
from rows import read_best
rows, best = read_best(sys.argv[1])
peer = {}
if sys.argv[2]:
    for l in open(sys.argv[2]):
        try:
            r = json.loads(l)
        except ValueError:
            continue
        if r.get("median_ms") is not None:
            peer[(r["workload"], r["peer"])] = r["median_ms"]
names = ["torch_eager", "onednn_c", "ort_node"]
print(f"{'workload':10} {'seqc_ms':>9} " + " ".join(f"{n:>12} {'ratio':>6}" for n in names))
groups = []
for w in sys.argv[4].split():
    s = best.get(w)
    groups.append((w, {"seqc": s["median_ms"] if s else None,
                       **{n: peer[(w, n)] for n in names if (w, n) in peer}}))
    line = f"{w:10} {s['median_ms'] if s else float('nan'):9.3f} "
    for n in names:
        p = peer.get((w, n))
        if p is None or s is None:
            line += f"{'n/a':>12} {'':>6} "
        else:
            line += f"{p:12.3f} {p / s['median_ms']:6.2f} "
    print(line)
print("ratio = peer median / seqc median (> 1: seqc is faster)")
r = {k: best.get("ragged_" + k) for k in ("seqc", "seqc_equal", "torch", "torch_equal")}
if all(r.values()):
    frac = r["torch"]["valid_fraction"]
    ms = {k: v["median_ms"] for k, v in r.items()}
    print(f"lstm_b64 ragged (lengths uniform in [T/4, T], sorted; {frac:.3f} of the steps valid):")
    print(f"  seqc ragged {ms['seqc']:.3f} ms / seqc equal {ms['seqc_equal']:.3f} ms = "
          f"{ms['seqc'] / ms['seqc_equal']:.3f} (aim: {frac:.3f})")
    print(f"  torch packed {ms['torch']:.3f} ms / torch equal {ms['torch_equal']:.3f} ms = "
          f"{ms['torch'] / ms['torch_equal']:.3f}")
    print(f"  torch packed / seqc ragged = {ms['torch'] / ms['seqc']:.2f} (> 1: seqc is faster); "
          "oneDNN: no ragged batches (one T per batch)")
else:
    print("lstm_b64 ragged: n/a (a run failed)")
for t in ("10", "100000"):
    r = best.get("compile_T" + t)
    print(f"compile lstm_b1 at T={t}: " + (f"{r['compile_ms']:.1f} ms" if r else "n/a"))
r = {k: best.get("ragged_" + k) for k in ("seqc", "seqc_equal", "torch", "torch_equal")}
ragged = []
for label, mine, theirs in (("ragged", "seqc", "torch"), ("equal lengths", "seqc_equal", "torch_equal")):
    ragged.append((label, {"seqc": r[mine] and r[mine]["median_ms"],
                           "torch_eager": r[theirs] and r[theirs]["median_ms"]}))
print(plot.save(sys.argv[3], f"seqc and the peers on the RNN workloads, {sys.argv[5]} threads", [
    plot.bars("median ms per workload (lower is faster)", "ms", groups,
              note=f"peers: {os.path.basename(sys.argv[2]) or 'none'}"),
    plot.bars("lstm_b64, ragged batch (packed in torch)", "ms", ragged)]))
print(f"rows: {sys.argv[1]}  peers: {sys.argv[2] or 'none'}")
PYEOF
