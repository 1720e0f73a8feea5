# bench/common.sh: what the bench_*.sh scripts share, sourced by each after it
# sets BENCH (its name: the log prefix [bench_BENCH] and the rows file
# bench/out/BENCH-STAMP.jsonl, created empty in $out).
# Knobs read here: SEQC (default build/cli/seqc), THREADS (2), REPEATS (2).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SEQC=${SEQC:-$root/build/cli/seqc}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-2}
PY=/usr/bin/python3
log() { echo "[bench_$BENCH] $*" >&2; }

mkdir -p "$root/bench/out"
out=$root/bench/out/$BENCH-$(date +%Y%m%dT%H%M%S).jsonl
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
# importable (read_best: each row's best pass)
report() { PYTHONPATH="$root/bench${PYTHONPATH:+:$PYTHONPATH}" "$PY" - "$@"; }
