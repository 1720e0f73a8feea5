#!/usr/bin/env bash
# Golden tests: seqc against PyTorch float32 eager on the cases that
# tests/golden/gen.py wrote into tests/golden/cases/ (each a model.yaml,
# weights.safetensors unless the model has no parameters, input.safetensors
# and expected.safetensors). Every case runs at --threads 1 and 2 and in the
# interpreter, prints nothing (--strict: no warning), and must match within
# |got - want| <= 1e-4 + 1e-4*|want| (the stcompare tool).
#
# Run by ctest with $SEQC (the binary), $SRC (source root) and $TOOLS (the
# folder of stcompare). By hand, from the build dir:
#   SEQC=cli/seqc SRC=.. TOOLS=tests bash ../tests/golden/run_golden.sh [CASE...]
# Prints one line per case ("ok" or "FAIL", the failed checks above it), then
# the checks' count (tests/tools/check.sh); exits 1 if any failed.
# Needs no Python.
#
# Run without CASE arguments, exactly GOLDEN_CASES cases must run: every folder
# of cases/ is a case (model.yaml, input.safetensors, expected.safetensors) and
# there are GOLDEN_CASES of them. A pinned number, not the count of folders:
# a case lost (deleted, or a regeneration that wrote fewer) fails the test
# instead of shrinking it. Adding a case means raising the number, in the diff.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
: "${SEQC:?set SEQC to the seqc binary}" "${SRC:?set SRC to the source root}"
: "${TOOLS:?set TOOLS to the folder holding stcompare}"
GOLDEN_CASES=150
cases_dir=$SRC/tests/golden/cases

if [ $# -gt 0 ]; then
  cases=("$@")
else
  cases=()
  for d in "$cases_dir"/*/; do
    name=$(basename "$d")
    for f in model.yaml input.safetensors expected.safetensors; do
      expect_that "golden case $name has no $f" [ -f "$d/$f" ]
    done
    cases+=("$name")
  done
  expect_that "${#cases[@]} golden cases in $cases_dir, $GOLDEN_CASES pinned in $0
  (a case added: raise GOLDEN_CASES; a case lost: restore it)" [ ${#cases[@]} -eq "$GOLDEN_CASES" ]
fi
if [ ${#cases[@]} -eq 0 ]; then
  echo "no golden cases in $cases_dir (run /usr/bin/python3 tests/golden/gen.py)"
  exit 1
fi

for name in "${cases[@]}"; do
  dir=$cases_dir/$name
  # a model without parameters has no weights file; any seed then fills nothing
  weights=(--random-weights 0)
  [ -f "$dir/weights.safetensors" ] && weights=(--weights "$dir/weights.safetensors")
  before=$checks_failed
  # the compiled model at 1 and 2 threads, and the reference interpreter
  for how in "--threads 1" "--threads 2" --interpret; do
    got=$tmp/$name.${how##* }.safetensors
    quiet "$SEQC" run "$dir/model.yaml" "${weights[@]}" --input "$dir/input.safetensors" \
      --output "$got" $how --strict
    expect_tensors "$got" "$dir/expected.safetensors"
  done
  if [ "$checks_failed" -eq "$before" ]; then echo "ok    $name"; else echo "FAIL  $name"; fi
done

# every check runs: a case has 3 runs of 3 checks and 3 comparisons of 3; without
# CASE arguments, also its 3 files and, once, the count of cases
if [ $# -gt 0 ]; then finish $(($# * 18)); fi
finish $((GOLDEN_CASES * 21 + 1))
