#!/usr/bin/env bash
# The optimized LLVM IR of every model in models/, each at its default dims, at
# batch 1 and with every dim symbolic, written to OUTDIR/NAME.{def,b1,sym}.ll
# (messages in NAME.*.err). Two builds' dumps compared with `cmp` show whether a
# refactoring changed the generated code:
#
#   bash scripts/ir_dump.sh OLD/build/cli/seqc /tmp/old
#   bash scripts/ir_dump.sh build/cli/seqc /tmp/new
#   for f in /tmp/old/*.ll; do cmp -s "$f" /tmp/new/${f##*/} || echo "differs: ${f##*/}"; done
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SEQC OUTDIR" >&2; exit 2; }
seqc=$1 out=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$out"
for m in "$root"/models/*.yaml; do
  n=$(basename "$m" .yaml)
  dims=$(grep -o '^dims: {[^}]*}' "$m" | sed 's/dims: {//; s/}//; s/ //g')
  def=() b1=()
  for kv in ${dims//,/ }; do
    k=${kv%%:*} v=${kv##*:}
    def+=(--dim "$k=$v")
    [ "$k" = B ] && v=1
    b1+=(--dim "$k=$v")
  done
  "$seqc" compile "$m" -o "$out/$n.def.ll" --emit llvm "${def[@]}" 2>"$out/$n.def.err"
  "$seqc" compile "$m" -o "$out/$n.b1.ll" --emit llvm "${b1[@]}" 2>"$out/$n.b1.err"
  "$seqc" compile "$m" -o "$out/$n.sym.ll" --emit llvm 2>"$out/$n.sym.err"
done
