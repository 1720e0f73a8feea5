#!/usr/bin/env bash
# `seqc run` and `seqrt-run` with repeated --input IN --output OUT pairs: the
# runs happen in order in one session (the runtime driver's list of runs), and
# each run's outputs equal those of the same input run alone; a run that fails
# stops the list with status 1 after the earlier outputs are written.
# Needs $SEQC and $TOOLS (stcompare; seqrt-run is in the sibling runtime/).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
RT=$(dirname "$TOOLS")/runtime

cp "$here/small_mlp.yaml" "$tmp/mlp.yaml"
cp "$here/make_x.yaml" "$tmp/make_x.yaml"
for s in 1 2 3; do
  quiet "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input $s --output "$tmp/x$s.st"
done
quiet "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input 4 --dim B=3 \
  --output "$tmp/b3.st"
run=("$SEQC" run "$tmp/mlp.yaml" --random-weights 5 --threads 2)

# each input alone, then all three in one session
for s in 1 2 3; do quiet "${run[@]}" --input "$tmp/x$s.st" --output "$tmp/alone$s.st"; done
quiet "${run[@]}" --input "$tmp/x1.st" --output "$tmp/s1.st" --input "$tmp/x2.st" \
  --output "$tmp/s2.st" --input "$tmp/x3.st" --output "$tmp/s3.st"
for s in 1 2 3; do expect_tensors "$tmp/s$s.st" "$tmp/alone$s.st" --atol 0 --rtol 0; done
# the runs saw different inputs: their outputs differ
run "$TOOLS/stcompare" "$tmp/s2.st" "$tmp/s1.st"; expect_status 1; expect_out "MISMATCH"
# the interpreter, run by run
quiet "${run[@]}" --interpret --input "$tmp/x1.st" --output "$tmp/i1.st" \
  --input "$tmp/x2.st" --output "$tmp/i2.st"
expect_tensors "$tmp/i2.st" "$tmp/alone2.st"

# a failing second run: the first run's outputs are written, the third run is not made
rm -f "$tmp"/f*.st
fails 1 "${run[@]}" --input "$tmp/x1.st" --output "$tmp/f1.st" --input "$tmp/nope.st" \
  --output "$tmp/f2.st" --input "$tmp/x3.st" --output "$tmp/f3.st"
expect_err "nope.st: cannot open"
expect_tensors "$tmp/f1.st" "$tmp/alone1.st" --atol 0 --rtol 0
expect_that "the run after a failed one wrote outputs" [ ! -e "$tmp/f2.st" ]
expect_that "the run after the next wrote outputs" [ ! -e "$tmp/f3.st" ]
# a later run with other dims than the session's (until sessions that continue, SPEC 9)
fails 1 "${run[@]}" --input "$tmp/x1.st" --output "$tmp/g1.st" --input "$tmp/b3.st" \
  --output "$tmp/g2.st"
expect_first_err "seqc: error: $tmp/b3.st: run 2 binds other dims"
expect_tensors "$tmp/g1.st" "$tmp/alone1.st" --atol 0 --rtol 0
# usage: one --output per --input
fails 2 "${run[@]}" --input "$tmp/x1.st" --input "$tmp/x2.st" --output "$tmp/u.st"
expect_first_err "seqc: error: give one --output for each --input (2 --input, 1 --output)"
fails 2 "${run[@]}" --random-input 1 --output "$tmp/u1.st" --output "$tmp/u2.st"

# seqrt-run: the same through a shared library
if succeeds "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/m.so" --emit shared; then
  rt=("$RT/seqrt-run" "$tmp/m.so" --random-weights 5 --threads 2)
  quiet "${rt[@]}" --input "$tmp/x1.st" --output "$tmp/r1.st" --input "$tmp/x2.st" \
    --output "$tmp/r2.st" --input "$tmp/x3.st" --output "$tmp/r3.st"
  for s in 1 2 3; do expect_tensors "$tmp/r$s.st" "$tmp/alone$s.st"; done
  fails 2 "${rt[@]}" --input "$tmp/x1.st" --output "$tmp/r1.st" --input "$tmp/x2.st"
  expect_first_err "seqrt-run: error: give one --output for each --input (2 --input, 1 --output)"
fi

# every check runs, the seqrt-run ones included (a failed compile would skip them)
finish 76
