#!/usr/bin/env bash
# Runs tests/aot/test_concurrent.c (sessions of one model on many threads)
# under ThreadSanitizer: builds the test alone with clang-19 -fsanitize=thread
# into build-tsan/ (or $1), then runs it; any report fails. Not in CI: the
# instrumented build of the libraries takes minutes on a small machine (the
# run itself about 30 s). SEQC_CONCURRENT_RUNS/THREADS size the run as in
# the test.
#
# libomp (clang's OpenMP runtime) and libLLVM are not built with TSan, so
# what they synchronize with their own atomics is invisible to it: libomp's
# thread pool bookkeeping (memsets of its blocks, mutexes it makes) and
# LLVM's lazily made statics (a ManagedStatic's mutex, made by one compiling
# thread and locked by another) show as races. Reports from inside those two
# libraries are suppressed (called_from_lib). The JIT'd and
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
printf 'called_from_lib:libomp.so\ncalled_from_lib:libLLVM\n' >"$dir/tsan.supp"
SEQC_CACHE_DIR="$dir/test-cache" \
  TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$dir/tsan.supp" \
  "$dir/tests/aot_test_concurrent"
