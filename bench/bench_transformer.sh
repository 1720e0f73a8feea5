#!/usr/bin/env bash
# seqc beside the peer kit (shared/peers) on its Transformer workloads:
#   encoder        bench/transformer_encoder.yaml   (B 8, T 128, d 512, 8 heads, ff 2048)
#   gpt            bench/transformer_gpt.yaml       (4 causal layers, d 256, B 1, T 512)
#   longattn_N     bench/longattn.yaml --dim T=N    (self-attention d 256, 4 heads, B 1)
#
#   bash bench/bench_transformer.sh                  # peers from their newest results file
#   RUN_PEERS=1 bash bench/bench_transformer.sh      # rerun the peers too (a few minutes)
#
# seqc runs `seqc bench --json --threads $THREADS` on each workload (REPEATS
# times, lowest median kept, as the peer kit does). The peers come from
# `WORKLOADS="..." ../shared/peers/run_all.sh` (RUN_PEERS=1) or from the newest
# shared/peers/results/run-*.jsonl. Prints, per workload, seqc's median, peak
# RSS and GFLOP/s (seqc's from the peer kit's FLOP count, which includes
# attention) beside each peer's, and the ratio peer/seqc (> 1: seqc is faster).
# Rows go to bench/out/transformer-STAMP.jsonl.
#
# Knobs: SEQC (default build/cli/seqc), THREADS (2), REPEATS (2), WORKLOADS
# (default: encoder gpt longattn_1024 longattn_4096 longattn_8192), PEERS_DIR.
set -uo pipefail
BENCH=transformer
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WORKLOADS=${WORKLOADS:-"encoder gpt longattn_1024 longattn_4096 longattn_8192"}
PEERS_DIR=${PEERS_DIR:-$root/../shared/peers}
[ -d "$PEERS_DIR" ] || PEERS_DIR=/work/shared/peers

model_of() {
  case $1 in
    encoder) echo "$root/bench/transformer_encoder.yaml" ;;
    gpt) echo "$root/bench/transformer_gpt.yaml" ;;
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

# peer rows
if [ "${RUN_PEERS:-0}" = 1 ]; then
  log "running the peer kit on: $WORKLOADS"
  WORKLOADS="$WORKLOADS" "$PEERS_DIR/run_all.sh" 2>/dev/null | grep '^{' >>"$out"
else
  newest=$(ls -t "$PEERS_DIR"/results/run-*.jsonl 2>/dev/null | grep -v passes | head -n 1)
  if [ -n "$newest" ]; then
    log "peers from $newest"
    grep '^{' "$newest" >>"$out"
  else
    log "no peer results in $PEERS_DIR/results (RUN_PEERS=1 runs them)"
  fi
fi

WORKLOADS="$WORKLOADS" /usr/bin/python3 - "$out" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = os.environ["WORKLOADS"].split()
# the peer kit's FLOP count of a workload (2 x MACs of every product, attention's included)
peer_flops = {r["workload"]: r["flops"] for r in rows
              if r.get("peer") != "seqc" and r.get("flops")}
print(f"{'workload':15} {'peer':18} {'median ms':>10} {'peak MB':>8} {'GFLOP/s':>8} {'peer/seqc':>9}")
for w in want:
    mine = next((r for r in rows if r.get("workload") == w and r.get("peer") == "seqc"), None)
    for r in [mine] + [r for r in rows if r.get("workload") == w and r.get("peer") != "seqc"]:
        if not r or r.get("median_ms") is None:
            continue
        ratio = ""
        if mine and r is not mine:
            ratio = f"{r['median_ms'] / mine['median_ms']:.2f}x"
        gf = r.get("gflops")
        if r is mine and peer_flops.get(w):  # seqc counts matmul FLOPs only, not attention's
            gf = peer_flops[w] / (r["median_ms"] * 1e6)
        print(f"{w:15} {r['peer']:18} {r['median_ms']:10.2f} {r.get('peak_rss_mb') or 0:8.1f} "
              f"{gf if gf is not None else float('nan'):8.1f} {ratio:>9}")
print(f"(rows in {sys.argv[1]})")
PY
