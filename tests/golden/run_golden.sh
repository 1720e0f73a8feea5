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
#
# Run without CASE arguments, exactly GOLDEN_CASES cases must run: every folder
# of cases/ is a case (model.yaml, input.safetensors, expected.safetensors) and
# there are GOLDEN_CASES of them. A pinned number, not the count of folders:
# a case lost (deleted, or a regeneration that wrote fewer) fails the test
# instead of shrinking it. Adding a case means raising the number, in the diff.
set -u
: "${SEQC:?set SEQC to the seqc binary}" "${SRC:?set SRC to the source root}"
: "${TOOLS:?set TOOLS to the folder holding stcompare}"
GOLDEN_CASES=118
cases_dir=$SRC/tests/golden/cases
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -gt 0 ]; then
  cases=("$@")
else
  cases=()
  for d in "$cases_dir"/*/; do
    name=$(basename "$d")
    for f in model.yaml input.safetensors expected.safetensors; do
      if [ ! -f "$d/$f" ]; then
        echo "FAIL: golden case $name has no $f"
        exit 1
      fi
    done
    cases+=("$name")
  done
  if [ ${#cases[@]} -ne "$GOLDEN_CASES" ]; then
    echo "FAIL: ${#cases[@]} golden cases in $cases_dir, $GOLDEN_CASES pinned in $0"
    echo "  (a case added: raise GOLDEN_CASES; a case lost: restore it)"
    exit 1
  fi
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
if [ $((pass + fail)) -ne ${#cases[@]} ]; then
  echo "FAIL: $((pass + fail)) cases ran, ${#cases[@]} to run"
  exit 1
fi
[ "$fail" -eq 0 ]
