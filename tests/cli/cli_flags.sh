#!/usr/bin/env bash
# The flags of seqc that change what a run reads or how it computes, and their
# bad values: --strict (unused parameters, unused input tensors, unused model
# inputs), F16 and BF16 weight files, --unroll, --threads, and the keys of
# `seqc bench --json`. Data files come from stgen (tests/tools), whose writer
# and float conversions are not the runtime's.
# Needs $SEQC (the binary), $SRC and $TOOLS (stgen, stcompare); run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
G=$TOOLS/stgen
C=$TOOLS/stcompare

cp "$here/small_mlp.yaml" "$tmp/mlp.yaml"
params=(fc1.weight=16x8 fc1.bias=16 y.weight=4x16 y.bias=4)
run=("$SEQC" run "$tmp/mlp.yaml" --threads 1)
quiet "$G" "$tmp/w.st" --seed 3 "${params[@]}"
quiet "$G" "$tmp/in.st" --seed 4 x=2x8
# the references: compiled (ref.st) and interpreted (ref_interpret.st), which
# differ in the last bits
quiet "${run[@]}" --weights "$tmp/w.st" --input "$tmp/in.st" --output "$tmp/ref.st"
succeeds "$TOOLS/stdump" "$tmp/ref.st"; expect_out_re "^y: f32 \[2, 4\] = "; expect_no_err
quiet "${run[@]}" --interpret --weights "$tmp/w.st" --input "$tmp/in.st" \
  --output "$tmp/ref_interpret.st"

# ---- --strict: what the model does not use is a warning, with --strict an error ----
# the same weights and inputs (same seed, the extra tensor last) plus one unused tensor
quiet "$G" "$tmp/wx.st" --seed 3 "${params[@]}" extra.weight=3
quiet "$G" "$tmp/inx.st" --seed 4 x=2x8 z=3
for how in "" --interpret; do
  ref=$tmp/ref${how/--/_}.st
  succeeds "${run[@]}" $how --weights "$tmp/wx.st" --input "$tmp/in.st" --output "$tmp/o.st"
  expect_err_re "warning: .*unused parameter 'extra.weight' in weights file"
  expect_tensors "$tmp/o.st" "$ref" --atol 0 --rtol 0
  rm -f "$tmp/o.st"
  fails 1 "${run[@]}" $how --weights "$tmp/wx.st" --input "$tmp/in.st" --output "$tmp/o.st" --strict
  expect_err_re "error: .*unused parameter 'extra.weight' in weights file"
  expect_that "--strict $how with an unused parameter wrote an output" [ ! -e "$tmp/o.st" ]

  succeeds "${run[@]}" $how --weights "$tmp/w.st" --input "$tmp/inx.st" --output "$tmp/o.st"
  expect_err_re "warning: .*tensor 'z' is not an input of the model"
  expect_tensors "$tmp/o.st" "$ref" --atol 0 --rtol 0
  fails 1 "${run[@]}" $how --weights "$tmp/w.st" --input "$tmp/inx.st" --strict
  expect_err_re "error: .*tensor 'z' is not an input of the model"
done
# nothing unused: --strict changes nothing
quiet "${run[@]}" --weights "$tmp/w.st" --input "$tmp/in.st" --output "$tmp/o.st" --strict
expect_tensors "$tmp/o.st" "$tmp/ref.st" --atol 0 --rtol 0
# a model input no node reads
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [2, 3]}\n  u: {dtype: f32, shape: [2]}\noutputs: [y]\nnodes:\n  y: {op: relu, input: x}\n' >"$tmp/unused.yaml"
succeeds "$SEQC" check "$tmp/unused.yaml"
expect_err_re "unused.yaml:[0-9]+:[0-9]+: warning: .*'u'"
fails 1 "$SEQC" check "$tmp/unused.yaml" --strict
expect_err_re "unused.yaml:[0-9]+:[0-9]+: error: .*'u'"

# ---- F16 and BF16 weights: the same numbers as the F32 file of their values ----
# stgen --round writes F32 holding exactly the narrowed values; a run on the
# narrow file must equal, bit for bit, a run on that widening
for dt in f16 bf16; do
  quiet "$G" "$tmp/w_$dt.st" --seed 3 --dtype $dt "${params[@]}"
  quiet "$G" "$tmp/w_${dt}_wide.st" --seed 3 --round $dt "${params[@]}"
  for how in --interpret ""; do
    quiet "${run[@]}" $how --weights "$tmp/w_$dt.st" --input "$tmp/in.st" --output "$tmp/n.st"
    quiet "${run[@]}" $how --weights "$tmp/w_${dt}_wide.st" --input "$tmp/in.st" \
      --output "$tmp/n_wide.st"
    expect_tensors "$tmp/n.st" "$tmp/n_wide.st" --atol 0 --rtol 0
  done
  # and the rounding mattered: the full-precision weights give other bits
  run "$C" "$tmp/n.st" "$tmp/ref.st" --atol 0 --rtol 0
  expect_status 1; expect_out "MISMATCH"
  # within what the format keeps (bf16: 8 bits, f16: 11 bits of mantissa)
  expect_tensors "$tmp/n.st" "$tmp/ref.st" --atol 0.1 --rtol 0.05
done

# ---- --unroll: any number of steps a loop iteration gives the same bits ----
# (unrolling repeats the step body; no sum changes order)
cat >"$tmp/gru.yaml" <<'EOF'
seqc: 1
name: small_gru
dims: {B: 2, T: 9}
inputs:
  x: {dtype: f32, shape: [B, T, 6]}
outputs: [r, r.h_n]
nodes:
  r: {op: gru, input: x, hidden_size: 8}
EOF
grun=("$SEQC" run "$tmp/gru.yaml" --random-weights 1 --random-input 2 --threads 1)
quiet "${grun[@]}" --output "$tmp/g.st"
succeeds "$TOOLS/stdump" "$tmp/g.st"; expect_out_re "^r: f32 \[2, 9, 8\]"; expect_no_err
# 1; 4, which does not divide T = 9; 64, more than T
for u in 1 4 64; do
  quiet "${grun[@]}" --unroll $u --output "$tmp/g$u.st"
  expect_tensors "$tmp/g$u.st" "$tmp/g.st" --atol 0 --rtol 0
done
# valid: 0 (chosen per scan) to 64
for bad in 65 -1 x 2x ""; do
  for cmd in run bench compile; do
    fails 2 "$SEQC" $cmd "$tmp/gru.yaml" --unroll "$bad"
    expect_err "--unroll wants a number of steps, 1..64"
  done
done
fails 2 "$SEQC" run "$tmp/gru.yaml" --random-weights 1 --random-input 1 --unroll
expect_err "--unroll wants"

# ---- --threads: 0 is all cores; anything but 0..1024 is a usage error ----
quiet "${run[@]}" --weights "$tmp/w.st" --input "$tmp/in.st" --output "$tmp/t0.st" --threads 0
expect_tensors "$tmp/t0.st" "$tmp/ref.st"
for bad in -1 1025 abc 2x ""; do
  for cmd in run bench; do
    fails 2 "$SEQC" $cmd "$tmp/mlp.yaml" --threads "$bad"
    expect_err "--threads wants a number (0 = all cores)"
  done
done
fails 2 "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 --threads
expect_err "--threads wants"

# ---- seqc bench --json: one object, the keys SPEC 6 names, numbers in them ----
# (B = 256: a run long enough that its median is not 0.0000 ms)
succeeds "$SEQC" bench "$tmp/mlp.yaml" --dim B=256 --iters 3 --threads 1 --json
expect_out_re '^\{.*\}$'; expect_no_err
printf '%s\n' "$OUT" >"$tmp/bench.json"
lines=$(wc -l <"$tmp/bench.json")
expect_that "bench --json printed $lines lines, want 1" [ "$lines" -eq 1 ]
# num KEY: the number after "KEY": in the object (empty if none)
num() {
  sed -nE 's/.*[{,] *"'"$1"'": *(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?) *[,}].*/\1/p' \
    "$tmp/bench.json"
}
# holds EXPR: awk's verdict on EXPR over the numbers read
holds() { awk "BEGIN { exit !($1) }"; }
declare -A v
for key in compile_ms median_ms p10_ms p90_ms peak_rss_mb gflops iters; do
  v[$key]=$(num "$key")
  expect_that "bench --json: no number for \"$key\" in: $(cat "$tmp/bench.json")" \
    [ -n "${v[$key]}" ]
  [ -n "${v[$key]}" ] || v[$key]=-1
done
for rule in "${v[compile_ms]} > 0" "${v[median_ms]} > 0" "${v[peak_rss_mb]} > 0" \
  "${v[gflops]} > 0" "${v[p10_ms]} <= ${v[median_ms]}" "${v[median_ms]} <= ${v[p90_ms]}" \
  "${v[iters]} == 3"; do
  expect_that "bench --json: not $rule in: $(cat "$tmp/bench.json")" holds "$rule"
done

finish
