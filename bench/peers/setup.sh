#!/usr/bin/env bash
# bench/peers/setup.sh: what the peer runners need, idempotent and fast when
# nothing is missing (run_all.sh calls it first; everything it says goes to stderr).
#
#   bash bench/peers/setup.sh [WORKLOAD ...]   # packages, npm, the C runners, the artifacts
#   bash bench/peers/setup.sh npm              # only onnxruntime-node (bench_generate.sh)
#
#  - Debian packages: python3-torch, libdnnl-dev (oneDNN 2.x for the C runners),
#    python3-onnx (torch.onnx.export), libopenblas0-openmp and libtcmalloc-minimal4
#    (torch's BLAS and allocator, picked per process by bench/common.sh's
#    torch_env), python3-matplotlib (every bench script's PNG, bench/plot.py),
#    nodejs and npm when there is no node. Installing OpenBLAS flips the system
#    libblas.so.3 alternative to it; this script puts the alternatives back,
#    because the benches pick the BLAS per process and should not change other
#    programs' numpy or torch behind their back.
#  - npm: `npm ci --ignore-scripts` from package-lock.json into
#    bench/peers/node_modules (git-ignored). The postinstall script only fetches
#    optional CUDA binaries; the CPU library ships inside the package.
#  - the C runners, onednn_rnn and onednn_matmul, into bench/out/peers/build.
#  - prepare.py: each workload's input, reference output, ONNX model and oneDNN
#    weights under bench/out/peers/artifacts (skipped when its sources did not change).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$here/../out/peers/build"
log() { echo "[peers setup] $*" >&2; }

npm_ci() {
  # a lock newer than the install means the install is stale
  if [ ! -f "$here/node_modules/onnxruntime-node/package.json" ] ||
     [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    log "npm ci (--ignore-scripts) into $here/node_modules"
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >&2)
  fi
}

pkgs="python3-torch libdnnl-dev python3-onnx libopenblas0-openmp libtcmalloc-minimal4 python3-matplotlib"
command -v node >/dev/null || pkgs="$pkgs nodejs"
command -v npm >/dev/null || pkgs="$pkgs npm"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then log "not root: apt-get install$missing, then run this again"; exit 1; fi
  log "apt-get install$missing"
  alts=""
  for a in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
    v=$(update-alternatives --query "$a" 2>/dev/null | sed -n 's/^Value: //p')
    [ -n "$v" ] && alts="$alts $a=$v"
  done
  apt-get update -qq >&2 || true
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
  for av in $alts; do
    a=${av%%=*} v=${av#*=}
    if [ "$(update-alternatives --query "$a" | sed -n 's/^Value: //p')" != "$v" ]; then
      log "restoring the alternative $a -> $v"
      update-alternatives --set "$a" "$v" >&2
    fi
  done
fi

npm_ci
[ "${1:-}" = npm ] && exit 0

mkdir -p "$build"
for prog in onednn_rnn onednn_matmul; do
  if [ ! -x "$build/$prog" ] || [ "$here/$prog.c" -nt "$build/$prog" ]; then
    log "cc -O2 -fopenmp $prog.c -ldnnl -lm"
    cc -O2 -Wall -Wextra -fopenmp "$here/$prog.c" -o "$build/$prog" -ldnnl -lm >&2
  fi
done

# the reference outputs with OpenBLAS, as the torch runner computes them
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 "$here/prepare.py" "$@" >&2
