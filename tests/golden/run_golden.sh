#!/usr/bin/env bash
# Golden tests: seqc against PyTorch float32 eager on the cases that
# tests/golden/gen.py wrote into tests/golden/cases/ (each a model.yaml,
# weights.safetensors unless the model has no parameters, input.safetensors
# and expected.safetensors). Every case runs at --threads 1 and 2 and must
# match within |got - want| <= 1e-4 + 1e-4*|want| (the stcompare tool).
#
# Run by ctest with $SEQC (the binary), $SRC (source root) and $TOOLS (the
# folder of stcompare). By hand, from the build dir:
#   SEQC=cli/seqc SRC=.. TOOLS=tests bash ../tests/golden/run_golden.sh [CASE...]
# Prints one line per case, then "N passed, M failed"; exits 1 if any failed.
# Needs no Python.
set -u
: "${SEQC:?set SEQC to the seqc binary}" "${SRC:?set SRC to the source root}"
: "${TOOLS:?set TOOLS to the folder holding stcompare}"
cases_dir=$SRC/tests/golden/cases
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -gt 0 ]; then
  cases=("$@")
else
  cases=()
  for d in "$cases_dir"/*/; do
    [ -f "$d/model.yaml" ] && cases+=("$(basename "$d")")
  done
fi
if [ ${#cases[@]} -eq 0 ]; then
  echo "no golden cases in $cases_dir (run /usr/bin/python3 tests/golden/gen.py)"
  exit 1
fi

pass=0
fail=0
# show LABEL FILE: the first lines of a failing command's output, indented
show() {
  echo "  $1:"
  head -n 12 "$2" | sed 's/^/    /'
}

for name in "${cases[@]}"; do
  dir=$cases_dir/$name
  # a model without parameters has no weights file; any seed then fills nothing
  weights=(--random-weights 0)
  [ -f "$dir/weights.safetensors" ] && weights=(--weights "$dir/weights.safetensors")
  status=ok
  # the compiled model at 1 and 2 threads, and the reference interpreter
  for mode in 1 2 interpret; do
    got=$tmp/$name.$mode.safetensors
    log=$tmp/$name.$mode.log
    how=(--threads "$mode")
    [ "$mode" = interpret ] && how=(--interpret)
    "$SEQC" run "$dir/model.yaml" "${weights[@]}" --input "$dir/input.safetensors" \
      --output "$got" "${how[@]}" --strict >"$log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
      status="FAIL (seqc run ${how[*]} exited $rc)"
      break
    fi
    if ! "$TOOLS/stcompare" "$got" "$dir/expected.safetensors" >>"$log" 2>&1; then
      status="FAIL (mismatch with ${how[*]})"
      break
    fi
  done
  if [ "$status" = ok ]; then
    pass=$((pass + 1))
    echo "ok    $name"
  else
    fail=$((fail + 1))
    echo "$status  $name"
    show "output" "$log"
  fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
