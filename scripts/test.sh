#!/usr/bin/env bash
# Sets up, builds and runs every test: the normal build, then the whole suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer. The sanitizer
# build's tests share the normal build's compile cache: the models they JIT
# are the same objects (LLVM is not instrumented), so its pass checks seqc's
# own code without paying for LLVM's optimization of every model again.
# Last, every libFuzzer harness of fuzz/ runs 30 s on its committed corpus
# (clang-19; about 4 minutes with the build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# --torch: python3-torch and python3-numpy, for tests/python (the exporter)
bash "$root/scripts/setup.sh" --torch
bash "$root/scripts/build.sh" "$root/build"
(cd "$root/build" && ctest --output-on-failure -j2)
bash "$root/scripts/build.sh" "$root/build-asan" -DSEQC_SANITIZE=ON \
  -DSEQC_TEST_CACHE_DIR="$root/build/test-cache"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2)
bash "$root/fuzz/run.sh" 30
