#!/usr/bin/env bash
# `lengths` (SPEC 11) from the command line: the compile errors, positioned
# (a non-integer or wrongly shaped lengths, a chunked scan, an op without
# lengths), the data error for a length of 0 or T+1 (naming the row and the
# length, status 1, at 1 and 2 threads), and --random-input drawing a
# lengths input from [1, T] (a length outside would fail the run).
# Needs $SEQC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

# model NAME LENGTHS-DECL NODE: x f32 [B, T, 5] (B 3, T 6), lengths n, the node l
model() {
  printf 'seqc: 1\nname: m\ndims: {B: 3, T: 6}\ninputs:\n  x: {dtype: f32, shape: [B, T, 5]}\n  n: %s\noutputs: [l]\nnodes:\n  l: %s\n' \
    "$2" "$3" >"$tmp/$1.yaml"
}
i64='{dtype: i64, shape: [B]}'

# compile errors, positioned at the attribute
model f32 '{dtype: f32, shape: [B]}' '{op: lstm, input: x, hidden_size: 4, lengths: n}'
fails 1 "$SEQC" check "$tmp/f32.yaml"
expect_err "f32.yaml:9:52: error: attribute 'lengths' of 'l' must be an integer (i32 or i64) [B], one length per batch row, got f32 [B]"
model bt '{dtype: i64, shape: [B, T]}' '{op: gru, input: x, hidden_size: 4, lengths: n}'
fails 1 "$SEQC" check "$tmp/bt.yaml"
expect_err "bt.yaml:9:51: error: attribute 'lengths' of 'l' must be an integer (i32 or i64) [B], one length per batch row, got i64 [B, T]"
model chunk "$i64" '{op: scan, over: {x: x}, chunk: 2, lengths: n, state: {h: {zeros: [B, 5]}}, body: {hn: {op: add, inputs: [x, h]}}, next: {h: hn}, emit: [hn]}'
fails 1 "$SEQC" check "$tmp/chunk.yaml"
expect_err "chunk.yaml:9:50: error: attribute 'lengths' of 'l': a scan with chunk 2 cannot take lengths (lengths need chunk 1)"
model linear "$i64" '{op: linear, input: x, out_features: 3, lengths: n}'
fails 1 "$SEQC" check "$tmp/linear.yaml"
expect_err "linear.yaml:9:46: error: unknown attribute 'lengths' for op 'linear' (only rnn, lstm, gru and scan take 'lengths')"

# i64 little-endian bytes of $1 (0 <= $1 < 256) for printf
le64() { printf '\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00\\x00' "$1"; }
# input FILE L0 L1 L2: x (zeros) and lengths n in a safetensors file
input() {
  local h='{"n":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},"x":{"dtype":"F32","shape":[3,6,5],"data_offsets":[24,384]}}'
  while [ $(( ${#h} % 8 )) -ne 0 ]; do h="$h "; done
  { printf "$(le64 ${#h})"; printf '%s' "$h"; printf "$(le64 "$2")$(le64 "$3")$(le64 "$4")"
    head -c 360 /dev/zero; } >"$1"
}

# data errors: a length of 0 or T+1 names the row and the length
model lstm "$i64" '{op: lstm, input: x, hidden_size: 4, bidirectional: true, lengths: n}'
input "$tmp/ok.safetensors" 6 1 3
succeeds "$SEQC" run "$tmp/lstm.yaml" --random-weights 1 --input "$tmp/ok.safetensors"
expect_out "l: f32 [3, 6, 8]"
input "$tmp/zero.safetensors" 6 0 3
input "$tmp/long.safetensors" 6 2 7
for how in "--threads 1" "--threads 2"; do
  fails 1 "$SEQC" run "$tmp/lstm.yaml" --random-weights 1 --input "$tmp/zero.safetensors" $how
  expect_err "length 0 of row 1 in 'n' is outside [1, 6]"
  fails 1 "$SEQC" run "$tmp/lstm.yaml" --random-weights 1 --input "$tmp/long.safetensors" $how
  expect_err "length 7 of row 2 in 'n' is outside [1, 6]"
done
# (the interpreter's message, the same, is checked in tests/codegen/test_scan.c)

# --random-input: lengths within [1, T] at every seed (else the run fails), i32 too
model rnd "$i64" '{op: rnn, input: x, hidden_size: 4, lengths: n}'
model rnd32 '{dtype: i32, shape: [B]}' '{op: scan, over: {x: x}, reverse: true, lengths: n, state: {h: {zeros: [B, 5]}}, body: {hn: {op: add, inputs: [x, h]}}, next: {h: hn}, emit: [hn]}'
for seed in 1 2 3 4 5 6 7 8; do
  succeeds "$SEQC" run "$tmp/rnd.yaml" --random-weights 1 --random-input $seed --dim T=2
  succeeds "$SEQC" run "$tmp/rnd32.yaml" --random-weights 1 --random-input $seed --dim B=9 --dim T=3
done
succeeds "$SEQC" bench "$tmp/rnd.yaml" --iters 2 --json; expect_out "median_ms"
finish
