#!/usr/bin/env bash
# bench/peers/run_all.sh: the peer runners on the workloads of workloads.py, the
# numbers bench_rnn.sh and bench_transformer.sh put beside seqc's.
#
#   bash bench/peers/run_all.sh                                   # every workload, a few minutes
#   WORKLOADS="lstm_b1 gpt" PEERS="torch_eager ort_node" REPEATS=1 bash bench/peers/run_all.sh
#
# stdout, and bench/out/peers/peers-STAMP.jsonl: one JSON line per (workload,
# peer) with workload, peer, median_ms, p10_ms, p90_ms, peak_rss_mb, gflops,
# flops, iters, max_abs_err (against PyTorch eager's output), threads,
# steal_ms, pass_medians_ms and the peer's own facts (blas, malloc, variant,
# impl...). A failed row has nulls and an "error"; a peer that does not apply
# to a workload (onednn_c beyond the RNNs) prints no row. Beside it:
# peers-STAMP.passes (every pass's rows) and peers-STAMP.meta.json (machine,
# packages). stderr: progress.
#
# The VM sees bursts of outside interference (whole seconds at half speed), so
# each row is measured in REPEATS passes (the even ones walk the workloads in
# reverse) in a fresh process each (peak_rss_mb is that row's own), and the pass
# with the lowest median is kept.
#
# Peers:
#   torch_eager  PyTorch eager (Debian's python3-torch), inference_mode, with
#                OpenBLAS and tcmalloc (bench/common.sh's torch_env)
#   torch_jit    torch.jit.script (else trace) + freeze, the same setup
#   onednn_c     oneDNN's own LSTM, LBR-GRU and vanilla-RNN primitives
#                (onednn_rnn.c), the RNN workloads only
#   ort_node     ONNX Runtime (npm onnxruntime-node, CPU EP) on the opset-17
#                export: intraOpNumThreads=THREADS, sequential, all optimizations
#   peak         (not run by default) sgemm 1024^3 at 1 and THREADS threads:
#                torch.mm with OpenBLAS, oneDNN matmul with plain and packed weights
#
# Knobs: WORKLOADS (default: all of workloads.py), PEERS ("torch_eager
# torch_jit onednn_c ort_node"), THREADS (2), REPEATS (2), BUDGET_S (0.5 timed
# seconds per row and pass, after MIN_ITERS=5 iterations), ROW_TIMEOUT_S (120),
# SKIP_SETUP=1 (skip setup.sh), TORCH_BLAS, TORCH_MALLOC (as in common.sh).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH=peers                            # common.sh: the log prefix and the rows' name
BENCH_OUT="$(dirname "$here")/out/peers"  # common.sh: where the rows go
# shellcheck source=../common.sh
. "$here/../common.sh"
build=$BENCH_OUT/build
artifacts=$BENCH_OUT/artifacts
BUDGET=${BUDGET_S:-0.5}
MIN_ITERS=${MIN_ITERS:-5}
ROW_TIMEOUT=${ROW_TIMEOUT_S:-120}
WORKLOADS=${WORKLOADS:-"lstm_b1 lstm_b64 gru_b1 birnn encoder gpt longattn_1024 longattn_4096 longattn_8192"}
PEERS=${PEERS:-"torch_eager torch_jit onednn_c ort_node"}
has_peer() { case " $PEERS " in *" $1 "*) return 0 ;; esac; return 1; }

if [ "${SKIP_SETUP:-0}" != 1 ]; then
  # shellcheck disable=SC2086
  bash "$here/setup.sh" $WORKLOADS || { log "setup.sh failed"; exit 1; }
fi

passes=${out%.jsonl}.passes
: >"$passes"
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT

"$PY" - "$THREADS" "$REPEATS" "$here" >"${out%.jsonl}.meta.json" <<'PY'
import json, os, platform, subprocess, sys
threads, repeats, here = sys.argv[1:4]
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
def sh(c):
    return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
ort = os.path.join(here, "node_modules", "onnxruntime-node", "package.json")
print(json.dumps(dict(
    host=platform.node(), cpu=cpu[0] if cpu else "?", ncpu=os.cpu_count(),
    kernel=platform.release(), threads=int(threads), repeats=int(repeats),
    packages=sh("dpkg-query -W python3-torch libdnnl2 libopenblas0-openmp "
                "libtcmalloc-minimal4 python3-onnx").splitlines(),
    node=sh("node --version"),
    onnxruntime_node=json.load(open(ort))["version"] if os.path.exists(ort) else None), indent=1))
PY

steal_ticks() { awk '/^cpu /{print $9; exit}' /proc/stat; }

# run_row PASS WORKLOAD PEER CMD...: CMD (which prints one JSON line) under a
# timeout, its row with the pass and the stolen time added, or on failure a row
# of nulls with the error's text; appended to $passes
run_row() {
  local pass=$1 w=$2 p=$3 line rc s0 s1 why
  shift 3
  log "pass $pass: $w / $p"
  s0=$(steal_ticks)
  line=$(timeout "$ROW_TIMEOUT" "$@" 2>"$errf")
  rc=$?
  s1=$(steal_ticks)
  line=$(printf '%s\n' "$line" | grep '^{' | tail -n 1)
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
    [ "$rc" -eq 124 ] && why="timed out after ${ROW_TIMEOUT}s" || why="exit $rc"
    line=$("$PY" -c 'import json, sys
print(json.dumps(dict(workload=sys.argv[1], peer=sys.argv[2], median_ms=None, p10_ms=None,
                      p90_ms=None, peak_rss_mb=None, gflops=None,
                      error=sys.argv[3] + ": " + sys.argv[4][-600:])))' \
      "$w" "$p" "$why" "$(grep -v -i warn "$errf" | tail -n 5)")
    log "$w / $p failed ($why)"
  fi
  printf '%s\n' "${line%\}}, \"pass\": $pass, \"steal_ms\": $(((s1 - s0) * 10))}" >>"$passes"
}

run_pass() {
  local pass=$1 order=$2 w t
  local common=(--threads "$THREADS" --budget "$BUDGET" --min-iters "$MIN_ITERS")
  if has_peer peak; then
    for t in $(printf '%s\n' 1 "$THREADS" | sort -u); do
      run_row "$pass" sgemm_1024x1024x1024 "torch_mm_openblas_t$t" \
        "${torch_env[@]}" "$PY" "$here/bench_torch.py" --peak --threads "$t" --budget 0.3
      run_row "$pass" sgemm_1024x1024x1024 "onednn_matmul_t$t" \
        "$build/onednn_matmul" --threads "$t" --budget 0.3
      run_row "$pass" sgemm_1024x1024x1024 "onednn_matmul_packed_t$t" \
        "$build/onednn_matmul" --threads "$t" --budget 0.3 --packed 1
    done
  fi
  for w in $order; do
    if [ ! -f "$artifacts/$w/meta.json" ]; then
      log "no artifacts for $w (not a workload of workloads.py, or setup skipped)"
      continue
    fi
    has_peer torch_eager && run_row "$pass" "$w" torch_eager \
      "${torch_env[@]}" "$PY" "$here/bench_torch.py" --workload "$w" --mode eager "${common[@]}"
    has_peer torch_jit && run_row "$pass" "$w" torch_jit \
      "${torch_env[@]}" "$PY" "$here/bench_torch.py" --workload "$w" --mode jit "${common[@]}"
    if has_peer onednn_c && [ -f "$artifacts/$w/dnnl.args" ]; then
      # shellcheck disable=SC2046  # dnnl.args: the workload's shape, one word per argument
      run_row "$pass" "$w" onednn_c "$build/onednn_rnn" "$artifacts/$w" $(cat "$artifacts/$w/dnnl.args") \
        --workload "$w" "${common[@]}"
    fi
    has_peer ort_node && run_row "$pass" "$w" ort_node node "$here/bench_ort.js" "$w" "${common[@]}"
  done
}

t_start=$(date +%s)
# shellcheck disable=SC2086  # one workload a line
reversed=$(printf '%s\n' $WORKLOADS | tac | tr '\n' ' ')
for ((i = 1; i <= REPEATS; i++)); do
  if ((i % 2)); then run_pass "$i" "$WORKLOADS"; else run_pass "$i" "$reversed"; fi
done

# per (workload, peer), the successful pass with the lowest median, in pass 1's order
"$PY" - "$passes" <<'PY' | tee "$out"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    groups.setdefault((r["workload"], r["peer"]), []).append(r)
for g in groups.values():
    ok = [r for r in g if r.get("median_ms") is not None]
    best = dict(min(ok, key=lambda r: r["median_ms"]) if ok else g[-1])
    best["pass_medians_ms"] = [r.get("median_ms") for r in sorted(g, key=lambda r: r["pass"])]
    print(json.dumps(best))
PY
log "done in $(($(date +%s) - t_start)) s; rows in $out"
