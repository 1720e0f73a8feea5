#!/usr/bin/env bash
# Derived dims ahead of time: models/conv_strided.yaml (strided and dilated
# conv1d, output length (T-1)/4) and models/segment_scan.yaml (a chunk-4 scan
# emitting one row per segment, L/4, then a strided conv, (L+4)/8) compiled
# with their sequence length symbolic. One object each runs at several
# lengths (the shortest that gives one output step included) and must give
# `seqc run`'s outputs, through the driver and through seqrt-run; a length
# that makes a conv's output empty is an error naming the dim, exit 1, from
# the object's session and from `seqc compile`/`seqc run` at the node's line.
# An object with B compiled in and T symbolic runs too.
# Needs $SEQC, $SRC and $TOOLS (stcompare; the build folder is its parent).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tools/driver.sh"

# round MODEL DIM VALUES...: one object with DIM symbolic, run at each value
round() {
  local m=$1 dim=$2 yaml=$SRC/models/$1.yaml d=$tmp/$1 v
  shift 2
  mkdir -p "$d"
  succeeds "$SEQC" compile "$yaml" -o "$d/m.o" --header "$d/m.h" || return
  succeeds "$SEQC" compile "$yaml" -o "$d/m.so" --emit shared || return
  # only base dims reach the header: derived ones are the runtime's business
  local dims
  dims=$(dims_of "$d/m.h" | tr '\n' ' ')
  expect_that "$m: header dims '$dims', want 'B $dim '" [ "$dims" = "B $dim " ]
  succeeds link "$d/drv" "$(symbol_of "$d/m.h")" "$d/m.o" || return
  for v in "$@"; do
    succeeds "$d/drv" gen --seed "$v" --dim "$dim=$v" --weights-out "$d/w$v.st" \
      --input-out "$d/in$v.st"
    succeeds "$SEQC" run "$yaml" --weights "$d/w$v.st" --input "$d/in$v.st" \
      --output "$d/ref$v.st"
    succeeds "$SEQC" run "$yaml" --weights "$d/w$v.st" \
      --input "$d/in$v.st" --output "$d/int$v.st" --interpret
    expect_tensors "$d/ref$v.st" "$d/int$v.st"
    succeeds "$d/drv" run --weights "$d/w$v.st" --input "$d/in$v.st" \
      --output "$d/obj$v.st" --threads 2
    expect_tensors "$d/obj$v.st" "$d/ref$v.st"
    succeeds "$RT/seqrt-run" "$d/m.so" --weights "$d/w$v.st" \
      --input "$d/in$v.st" --output "$d/so$v.st" --threads 1
    expect_tensors "$d/so$v.st" "$d/ref$v.st"
  done
}

# conv_strided: T = 5 and 8 give one output step, 37 gives 9
round conv_strided T 5 8 37
d=$tmp/conv_strided
succeeds "$TOOLS/stdump" "$d/obj37.st"; expect_out "[2, 9, 8]"
succeeds "$TOOLS/stdump" "$d/obj5.st"; expect_out "[2, 1, 8]"
# T = 4: (T-1)/4 = 0 steps, an error of the dims wherever it is found
if [ -x "$d/drv" ]; then
  succeeds "$d/drv" gen --seed 4 --dim T=4 --weights-out "$d/w4.st" --input-out "$d/in4.st"
  # the object's session names every dim it was given, seqc the ones the length reads
msg="conv1d 'down2': output length (T-1)/4 is 0 for "
  fails 1 "$d/drv" run --weights "$d/w4.st" --input "$d/in4.st" --output "$d/o4.st"
  expect_err "${msg}B = 2, T = 4"
  fails 1 "$RT/seqrt-run" "$d/m.so" --weights "$d/w4.st" --input "$d/in4.st"
  expect_err "${msg}B = 2, T = 4"
  fails 1 "$SEQC" run "$SRC/models/conv_strided.yaml" --weights "$d/w4.st" --input "$d/in4.st"
  expect_err "conv_strided.yaml:25:3: error: ${msg}T = 4"
  fails 1 "$SEQC" compile "$SRC/models/conv_strided.yaml" -o "$d/x.o" --dim T=4 --dim B=2
  expect_err "conv_strided.yaml:25:3: error: ${msg}T = 4"
  fails 1 "$SEQC" run "$SRC/models/conv_strided.yaml" --weights "$d/w4.st" --input "$d/in4.st" \
    --interpret
  expect_err "${msg}T = 4"
fi

# B compiled in, T symbolic: the derived lengths of T are still the session's
d=$tmp/partial
mkdir -p "$d"
if succeeds "$SEQC" compile "$SRC/models/conv_strided.yaml" -o "$d/m.o" \
     --header "$d/m.h" --dim B=2 &&
   succeeds link "$d/drv" "$(symbol_of "$d/m.h")" "$d/m.o"; then
  succeeds "$d/drv" gen --seed 29 --dim T=29 --weights-out "$d/w.st" --input-out "$d/in.st"
  succeeds "$d/drv" run --weights "$d/w.st" --input "$d/in.st" --output "$d/obj.st"
  succeeds "$SEQC" run "$SRC/models/conv_strided.yaml" --weights "$d/w.st" \
    --input "$d/in.st" --output "$d/ref.st"
  expect_tensors "$d/obj.st" "$d/ref.st"
fi

# segment_scan: L = 4 (one segment, one conv step), 12, 36
round segment_scan L 4 12 36
d=$tmp/segment_scan
if [ -x "$d/drv" ]; then
  succeeds "$d/drv" gen --seed 10 --dim L=10 --weights-out "$d/w10.st" \
    --input-out "$d/in10.st"
  fails 1 "$d/drv" run --weights "$d/w10.st" --input "$d/in10.st" --output "$d/o10.st"
  expect_err "sequence length 10 of 'x' is not a multiple of its scan's chunk 4"
  fails 1 "$SEQC" run "$SRC/models/segment_scan.yaml" --weights "$d/w10.st" --input "$d/in10.st"
  expect_err "segment_scan.yaml:20:3: error: scan 'cell': chunk 4 does not divide the sequence \
length L = 10"
fi

# every check runs: a guard that skips some (no driver built) fails the test
finish 127
