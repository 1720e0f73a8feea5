#!/usr/bin/env bash
# Runs tests/aot/test_concurrent.c (sessions of one model on many threads)
# under ThreadSanitizer: builds the test alone with clang-19 -fsanitize=thread
# into build-tsan/ (or $1), then runs it; any report fails. Not in CI: the
# instrumented build of the libraries takes minutes on a small machine (the
# run itself about 30 s). SEQC_CONCURRENT_RUNS/THREADS size the run as in
# the test.
#
# libomp (clang's OpenMP runtime) is not built with TSan, so its own thread
# pool bookkeeping (memsets of its internal blocks, mutexes it makes) shows
# as races: those reports are suppressed (called_from_lib). The JIT'd and
# object kernels are not instrumented either: TSan sees the runtime's
# accesses (sessions, teams, barriers, parameter binding, the f16 copies),
# and the test's bit-for-bit comparison sees the kernels'.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build-tsan}"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-19 \
  -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$dir" --target aot_test_concurrent -j"$(nproc)"
echo "called_from_lib:libomp.so.5" >"$dir/tsan.supp"
SEQC_CACHE_DIR="$dir/test-cache" \
  TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$dir/tsan.supp" \
  "$dir/tests/aot_test_concurrent"
