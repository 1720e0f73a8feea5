#!/usr/bin/env bash
# Installs what seqc needs to build and test, from Debian's packages (as root).
# Idempotent: does nothing when everything is already there.
set -euo pipefail
packages=(build-essential cmake pkg-config llvm-19-dev libyaml-dev libcjson-dev libcmocka-dev
          graphviz    # graphviz: `seqc graph` pictures (optional for users; tested when present)
          clang-19 libclang-rt-19-dev libomp-19-dev   # fuzz/run.sh: libFuzzer and its sanitizers
          time)       # /usr/bin/time: peak RSS in tests/cli/memory_limits.sh
if [ "${1:-}" = "--torch" ]; then
  packages+=(python3-torch python3-numpy)   # golden data and peer benchmarks only
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
