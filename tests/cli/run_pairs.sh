#!/usr/bin/env bash
# `seqc run` and `seqrt-run` with repeated --input IN --output OUT pairs: the
# runs happen in order in one session (the runtime driver's list of runs), and
# each run's outputs equal those of the same input run alone; a run that fails
# stops the list with status 1 after the earlier outputs are written. Runs
# take their own dims (SPEC 9): pairs whose T or B differ share one session,
# planned for the largest, with the differing dim left symbolic in the code
# (a JIT'd model, and an object compiled with symbolic dims in seqrt-run),
# and each run still equals its input run alone (SPEC 8 tolerance).
# Needs $SEQC, $SRC and $TOOLS (stcompare; seqrt-run is in the sibling runtime/).
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
# a later run with another B: the session is planned for B = 3, each run has its own
succeeds "${run[@]}" --input "$tmp/x1.st" --output "$tmp/g1.st" --input "$tmp/b3.st" \
  --output "$tmp/g2.st" --input "$tmp/x2.st" --output "$tmp/g3.st"
succeeds "${run[@]}" --input "$tmp/b3.st" --output "$tmp/b3alone.st"
expect_tensors "$tmp/g1.st" "$tmp/alone1.st" --atol 0 --rtol 0
expect_tensors "$tmp/g2.st" "$tmp/b3alone.st"
expect_tensors "$tmp/g3.st" "$tmp/alone2.st" --atol 0 --rtol 0

# runs whose T differs: a GRU with causal self-attention, then strided convs (a derived
# length, (T-1)/4); T = 1 and runs shorter than the first included
cat >"$tmp/seq.yaml" <<'EOF'
seqc: 1
name: seq
dims: {B: 2, T: 6}
inputs:
  x: {dtype: f32, shape: [B, T, 16]}
outputs: [y, g.h_n]
nodes:
  g:  {op: gru, input: x, hidden_size: 16}
  sa: {op: multihead_attention, input: g, num_heads: 2, causal: true}
  y:  {op: linear, input: sa, out_features: 4}
EOF
printf 'seqc: 1\nname: make_s\ndims: {B: 2, T: 6}\ninputs:\n  x: {dtype: f32, shape: [B, T, 16]}\noutputs: [x]\nnodes: {}\n' >"$tmp/make_s.yaml"
lengths=(9 3 1 12 5)
for t in "${lengths[@]}"; do
  quiet "$SEQC" run "$tmp/make_s.yaml" --random-weights 1 --random-input "$t" --dim T="$t" \
    --output "$tmp/t$t.st"
done
for model in "$tmp/seq.yaml" "$SRC/models/conv_strided.yaml"; do
  m=$(basename "$model" .yaml)
  pairs=()
  for t in "${lengths[@]}"; do
    [ "$m" = conv_strided ] && [ "$t" -lt 5 ] && continue # (T-1)/4 would be 0
    succeeds "$SEQC" run "$model" --random-weights 3 --threads 2 --input "$tmp/t$t.st" \
      --output "$tmp/$m.alone$t.st"
    pairs+=(--input "$tmp/t$t.st" --output "$tmp/$m.s$t.st")
  done
  succeeds "$SEQC" run "$model" --random-weights 3 --threads 2 "${pairs[@]}"
  for t in "${lengths[@]}"; do
    [ -e "$tmp/$m.alone$t.st" ] || continue
    expect_tensors "$tmp/$m.s$t.st" "$tmp/$m.alone$t.st"
  done
done
# the runs saw different lengths: their outputs differ
run "$TOOLS/stcompare" "$tmp/seq.s3.st" "$tmp/seq.alone9.st"
expect_status 1
# a run too short for the convs stops the list there, its message naming its file
rm -f "$tmp"/cs*.st
fails 1 "$SEQC" run "$SRC/models/conv_strided.yaml" --random-weights 3 --input "$tmp/t12.st" \
  --output "$tmp/cs1.st" --input "$tmp/t3.st" --output "$tmp/cs2.st" --input "$tmp/t9.st" \
  --output "$tmp/cs3.st"
expect_first_err "seqc: error: $tmp/t3.st: conv1d 'down2': output length (T-1)/4 is 0 for B = 2, T = 3"
expect_tensors "$tmp/cs1.st" "$tmp/conv_strided.alone12.st"
expect_that "the run after a failed one wrote outputs" [ ! -e "$tmp/cs2.st" ]
expect_that "the run after the next wrote outputs" [ ! -e "$tmp/cs3.st" ]
# --dim keeps SPEC 7's meaning: every input must agree with it
fails 1 "$SEQC" run "$tmp/seq.yaml" --random-weights 3 --dim T=9 --input "$tmp/t9.st" \
  --output "$tmp/d1.st" --input "$tmp/t3.st" --output "$tmp/d2.st"
expect_err "input 'x': expected [2, 9, 16], got [2, 3, 16] (T = 9 from --dim)"
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
  succeeds "${rt[@]}" --input "$tmp/x1.st" --output "$tmp/r1.st" --input "$tmp/b3.st" \
    --output "$tmp/r2.st"
  expect_tensors "$tmp/r2.st" "$tmp/b3alone.st"
  fails 2 "${rt[@]}" --input "$tmp/x1.st" --output "$tmp/r1.st" --input "$tmp/x2.st"
  expect_first_err "seqrt-run: error: give one --output for each --input (2 --input, 1 --output)"
fi

# an object whose dims are all symbolic runs pairs of other T; one compiled for T = 9
# runs T = 9 only, with the message of a misshapen input
if succeeds "$SEQC" compile "$tmp/seq.yaml" -o "$tmp/seq.so" --emit shared &&
  succeeds "$SEQC" compile "$tmp/seq.yaml" -o "$tmp/seq9.so" --emit shared --dim T=9; then
  rt=("$RT/seqrt-run" "$tmp/seq.so" --random-weights 3 --threads 2)
  pairs=()
  for t in "${lengths[@]}"; do pairs+=(--input "$tmp/t$t.st" --output "$tmp/rs$t.st"); done
  quiet "${rt[@]}" "${pairs[@]}"
  for t in "${lengths[@]}"; do expect_tensors "$tmp/rs$t.st" "$tmp/seq.alone$t.st"; done
  fails 1 "$RT/seqrt-run" "$tmp/seq9.so" --random-weights 3 --input "$tmp/t9.st" \
    --output "$tmp/r9.st" --input "$tmp/t3.st" --output "$tmp/r3.st"
  expect_first_err "seqrt-run: error: input 'x': expected [2, 9, 16], got [2, 3, 16] (T = 9 compiled in)"
  expect_tensors "$tmp/r9.st" "$tmp/seq.alone9.st"
fi

# every check runs, the seqrt-run ones included (a failed compile would skip them)
finish 172
