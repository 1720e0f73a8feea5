#!/usr/bin/env bash
# Every model of models/ compiled (1 and 2 threads) against the reference
# interpreter (`seqc run --interpret`), on the same random weights and input at
# small dims: the differential test of whole models, the paired scans of
# bidirectional layers and the Transformer layers included.
set -u
: "${SEQC:?}" "${SRC:?}" "${TOOLS:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for yaml in "$SRC"/models/*.yaml; do
  m=$(basename "$yaml" .yaml)
  # small dims keep the interpreter quick; models without such a dim ignore it
  dims=()
  dimline=$(sed -n 's/^dims: *{\(.*\)}/\1/p' "$yaml")
  for d in T:13 S:11 B:2; do
    case ",$dimline" in *[\ ,]${d%%:*}:*) dims+=(--dim "${d%%:*}=${d##*:}") ;; esac
  done
  ok=1
  "$SEQC" run "$yaml" --random-weights 5 --random-input 6 "${dims[@]}" --interpret \
    --output "$tmp/$m.ref.st" >"$tmp/log" 2>&1 || ok=0
  for t in 1 2; do
    [ $ok = 1 ] || break
    "$SEQC" run "$yaml" --random-weights 5 --random-input 6 "${dims[@]}" --threads $t \
      --output "$tmp/$m.$t.st" >>"$tmp/log" 2>&1 &&
      "$TOOLS/stcompare" "$tmp/$m.$t.st" "$tmp/$m.ref.st" >>"$tmp/log" 2>&1 || ok=0
  done
  if [ $ok = 1 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $m (${dims[*]})"
    head -20 "$tmp/log"
  fi
done
echo "models_interpret: $pass passed, $fail failed"
[ "$pass" -gt 10 ] && [ "$fail" -eq 0 ]
