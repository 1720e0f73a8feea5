# bench/common.sh: what the bench_*.sh scripts share, sourced by each after it
# sets BENCH (its name: the log prefix [bench_BENCH] and the rows file
# bench/out/BENCH-STAMP.jsonl, created empty in $out; its plot goes beside it,
# $png, bench/out/BENCH-STAMP.png, drawn by bench/plot.py).
# Knobs read here: SEQC (default build/cli/seqc), THREADS (2), REPEATS (2),
# PEERS_DIR (the peer runners, default bench/peers), BENCH_OUT (the rows'
# folder, default bench/out; the peers' run_all.sh sets bench/out/peers).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SEQC=${SEQC:-$root/build/cli/seqc}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-2}
PY=/usr/bin/python3
log() { echo "[bench_$BENCH] $*" >&2; }

PEERS_DIR=${PEERS_DIR:-$root/bench/peers}
BENCH_OUT=${BENCH_OUT:-$root/bench/out}
mkdir -p "$BENCH_OUT"
out=$BENCH_OUT/$BENCH-$(date +%Y%m%dT%H%M%S).jsonl
png=${out%.jsonl}.png
: >"$out"

# row NAME CMD...: runs CMD, keeps its last JSON line tagged with NAME in $out
# (CMD's stderr shown when it printed no JSON)
row() {
  local name=$1 line errf
  shift
  errf=$(mktemp)
  line=$("$@" 2>"$errf" | grep '^{' | tail -n 1)
  if [ -z "$line" ]; then
    log "$name failed:"
    tail -n 5 "$errf" >&2
  else
    printf '{"who": "%s", %s\n' "$name" "${line#\{}" >>"$out"
  fi
  rm -f "$errf"
}

# report ARG... <<PY: the python report on stdin, run with ARGs, bench/rows.py
# (read_best: each row's best pass) and bench/plot.py (the PNG) importable
report() { PYTHONPATH="$root/bench${PYTHONPATH:+:$PYTHONPATH}" "$PY" - "$@"; }

# torch_env: `env` with torch's BLAS and allocator for a torch process, picked per
# process as the peers (bench/peers/run_all.sh) run it: OpenBLAS (TORCH_BLAS=openblas; Debian's default
# libblas.so.3 is the netlib reference BLAS, some 50x slower, which would make
# any ratio meaningless) and tcmalloc (TORCH_MALLOC=tcmalloc); other values keep
# the defaults. Use: "${torch_env[@]}" "$PY" script.py ...
TORCH_BLAS=${TORCH_BLAS:-openblas}
TORCH_MALLOC=${TORCH_MALLOC:-tcmalloc}
libdir=/usr/lib/x86_64-linux-gnu
torch_env=(env)
if [ "$TORCH_BLAS" = openblas ]; then
  if [ -f "$libdir/openblas-openmp/libblas.so.3" ]; then
    torch_env+=(LD_LIBRARY_PATH="$libdir/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  else
    log "WARNING: OpenBLAS not installed (apt-get install libopenblas0-openmp, or run"
    log "         bench/peers/setup.sh); torch falls back to the netlib reference BLAS"
  fi
fi
if [ "$TORCH_MALLOC" = tcmalloc ]; then
  if [ -f "$libdir/libtcmalloc_minimal.so.4" ]; then
    torch_env+=(LD_PRELOAD="$libdir/libtcmalloc_minimal.so.4")
  else
    log "WARNING: tcmalloc not installed (apt-get install libtcmalloc-minimal4); using glibc malloc"
  fi
fi

# peer_results WORKLOAD...: the peers' rows (one JSON line per workload and
# peer), run now by $PEERS_DIR/run_all.sh on those workloads when RUN_PEERS=1;
# prints the path of the newest bench/out/peers/peers-*.jsonl with a row of
# one of them (a run on other workloads is passed over), or nothing
peer_results() {
  local f w
  if [ "${RUN_PEERS:-0}" = 1 ]; then
    log "running the peers on $* (a few minutes)"
    WORKLOADS="$*" bash "$PEERS_DIR/run_all.sh" >/dev/null ||
      log "the peers failed; their newest results file instead"
  fi
  for f in $(ls -t "$root"/bench/out/peers/peers-*.jsonl 2>/dev/null); do
    for w in "$@"; do
      grep -q "\"workload\": \"$w\"" "$f" && { echo "$f"; return 0; }
    done
  done
  return 0
}
