#!/usr/bin/env bash
# Every model of models/ compiled (1 and 2 threads) against the reference
# interpreter (`seqc run --interpret`), on the same random weights and input at
# small dims: the differential test of whole models, the paired scans of
# bidirectional layers and the Transformer layers included.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
: "${SEQC:?}" "${SRC:?}" "${TOOLS:?}"
nmodels=0
for yaml in "$SRC"/models/*.yaml; do
  m=$(basename "$yaml" .yaml)
  nmodels=$((nmodels + 1))
  # small dims keep the interpreter quick; models without such a dim ignore it
  dims=()
  dimline=$(sed -n 's/^dims: *{\(.*\)}/\1/p' "$yaml")
  for d in T:13 S:11 B:2; do
    case ",$dimline" in *[\ ,]${d%%:*}:*) dims+=(--dim "${d%%:*}=${d##*:}") ;; esac
  done
  run=("$SEQC" run "$yaml" --random-weights 5 --random-input 6 "${dims[@]}")
  quiet "${run[@]}" --interpret --output "$tmp/$m.ref.st"
  for t in 1 2; do
    quiet "${run[@]}" --threads $t --output "$tmp/$m.$t.st"
    expect_tensors "$tmp/$m.$t.st" "$tmp/$m.ref.st"
  done
done
expect_that "only $nmodels models in $SRC/models, want more than 10" [ "$nmodels" -gt 10 ]
finish
