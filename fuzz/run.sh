#!/usr/bin/env bash
# fuzz/run.sh SECONDS [HARNESS...]: builds the libFuzzer harnesses (clang-19,
# ASan + UBSan, build dir build-fuzz) and runs each for SECONDS on its
# committed corpus (fuzz/corpus/NAME; the passes harness reads the
# frontend's). New inputs go to a scratch folder, never into the corpus.
# Prints each harness's executions and coverage (libFuzzer's final stats).
# Exit 1 on any crash, leak, timeout or sanitizer report; the reproducer is
# kept in $SEQC_FUZZ_OUT (default build-fuzz/findings) and named in the output.
# Environment: SEQC_FUZZ_JOBS=N runs N harnesses at once (default 1).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:?usage: fuzz/run.sh SECONDS [HARNESS...]}"
shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(frontend passes safetensors inputs cli)
build="$root/build-fuzz"
out="${SEQC_FUZZ_OUT:-$build/findings}"

CC=clang-19 nice cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSEQC_FUZZ=ON >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
nice cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null

corpus_of() { [ "$1" = passes ] && echo frontend || echo "$1"; }
dict_of() {
  case "$1" in
  frontend | passes) echo yaml ;;
  safetensors | inputs) echo safetensors ;;
  cli) echo cli ;;
  esac
}

# one harness: its log in $out/NAME.log, its status in $out/NAME.status
fuzz_one() {
  local h="$1" scratch="$out/$1.new"
  rm -rf "$scratch"
  mkdir -p "$scratch" "$out/$h"
  # -close_fd_mask=3: the code under test prints (diagnostics, summaries);
  # libFuzzer keeps its own output and the sanitizers' reports.
  # detect_leaks: a leak fails the run too.
  local status=0
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    nice "$build/fuzz/fuzz_$h" "$scratch" "$root/fuzz/corpus/$(corpus_of "$h")" \
    -dict="$root/fuzz/$(dict_of "$h").dict" -max_total_time="$seconds" \
    -print_final_stats=1 -close_fd_mask=3 -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$out/$h/" >"$out/$h.log" 2>&1 || status=$?
  echo "$status" >"$out/$h.status"
}

mkdir -p "$out"
jobs="${SEQC_FUZZ_JOBS:-1}"
for h in "${harnesses[@]}"; do
  fuzz_one "$h" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait

failed=0
printf '%-12s %12s %10s %10s %8s  %s\n' harness executions exec/s edges features result
for h in "${harnesses[@]}"; do
  log="$out/$h.log"
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  # (no such line when a seed of the corpus crashed at once: '?')
  edges="$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)"
  features="$({ grep -o 'ft: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)"
  result=ok
  if [ "$(cat "$out/$h.status")" != 0 ]; then
    result="FAILED: $({ ls "$out/$h"/* 2>/dev/null || true; } | head -1) (log $log)"
    failed=1
  fi
  printf '%-12s %12s %10s %10s %8s  %s\n' "$h" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "${edges:-?}" "${features:-?}" "$result"
done
if [ "$failed" != 0 ]; then
  for h in "${harnesses[@]}"; do
    [ "$(cat "$out/$h.status")" = 0 ] && continue
    echo "---- $h: $out/$h.log (the report)"
    grep -E -m 20 'ERROR|SUMMARY|runtime error|check failed|Test unit written|==[0-9]+==' \
      "$out/$h.log" || tail -20 "$out/$h.log"
  done
  exit 1
fi
