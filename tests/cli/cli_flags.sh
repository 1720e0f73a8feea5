#!/usr/bin/env bash
# The flags of seqc that change what a run reads or how it computes, and their
# bad values: --strict (unused parameters, unused input tensors, unused model
# inputs), F16 and BF16 weight files, --unroll, --threads, and the keys of
# `seqc bench --json`. Data files come from stgen (tests/tools), whose writer
# and float conversions are not the runtime's.
# Needs $SEQC (the binary), $SRC and $TOOLS (stgen, stcompare); run by ctest.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
G=$TOOLS/stgen
C=$TOOLS/stcompare

# report WHY CMD...: a pass if WHY is empty, else a failure with CMD's output
report() {
  local why=$1
  shift
  if [ -z "$why" ]; then
    pass=$((pass + 1))
    return
  fi
  fail=$((fail + 1))
  echo "FAIL: $* -> $why"
  echo "  stdout:"
  head -10 "$tmp/stdout" | sed 's/^/    /'
  echo "  stderr:"
  head -10 "$tmp/stderr" | sed 's/^/    /'
}

# expect STATUS PATTERN CMD...: exit STATUS and PATTERN (grep -E); on success
# on stdout (and stderr empty: no warning), on failure on stderr with stdout
# empty (diagnostics go to stderr, SPEC 7)
expect() {
  local want=$1 pattern=$2 status stream=stdout why=
  shift 2
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  status=$?
  [ "$want" -ne 0 ] && stream=stderr
  if [ "$status" -ne "$want" ]; then
    why="status $status, want $want"
  elif ! grep -Eq -- "$pattern" "$tmp/$stream"; then
    why="no /$pattern/ on $stream"
  elif [ "$want" -ne 0 ] && [ -s "$tmp/stdout" ]; then
    why="stdout not empty on error"
  elif [ "$want" -eq 0 ] && [ -s "$tmp/stderr" ]; then
    why="stderr not empty on success"
  fi
  report "$why" "$@"
}

# warns PATTERN CMD...: CMD succeeds with the warning PATTERN on stderr
warns() {
  local pattern=$1 status why=
  shift
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  status=$?
  if [ "$status" -ne 0 ]; then
    why="status $status, want 0"
  elif ! grep -Eq -- "$pattern" "$tmp/stderr"; then
    why="no /$pattern/ on stderr"
  fi
  report "$why" "$@"
}

# quiet CMD...: CMD succeeds and prints nothing
quiet() {
  local status why=
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  status=$?
  if [ "$status" -ne 0 ]; then
    why="status $status, want 0"
  elif [ -s "$tmp/stdout" ] || [ -s "$tmp/stderr" ]; then
    why="printed something"
  fi
  report "$why" "$@"
}

# same A B: the two safetensors files hold the same tensors, bit for bit
same() { expect 0 "all tensors match" "$C" "$1" "$2" --atol 0 --rtol 0; }

cat >"$tmp/mlp.yaml" <<'EOF'
seqc: 1
name: small_mlp
dims: {B: 2}
inputs:
  x: {dtype: f32, shape: [B, 8]}
outputs: [y]
nodes:
  fc1: {op: linear, input: x, out_features: 16}
  act: {op: gelu, input: fc1}
  y:   {op: linear, input: act, out_features: 4}
EOF
params=(fc1.weight=16x8 fc1.bias=16 y.weight=4x16 y.bias=4)
run=("$SEQC" run "$tmp/mlp.yaml" --threads 1)
quiet "$G" "$tmp/w.st" --seed 3 "${params[@]}"
quiet "$G" "$tmp/in.st" --seed 4 x=2x8
# the references: compiled (ref.st) and interpreted (ref_interpret.st), which
# differ in the last bits
quiet "${run[@]}" --weights "$tmp/w.st" --input "$tmp/in.st" --output "$tmp/ref.st"
expect 0 "^y: f32 \[2, 4\] = " "$TOOLS/stdump" "$tmp/ref.st"
quiet "${run[@]}" --interpret --weights "$tmp/w.st" --input "$tmp/in.st" \
  --output "$tmp/ref_interpret.st"

# ---- --strict: what the model does not use is a warning, with --strict an error ----
# the same weights and inputs (same seed, the extra tensor last) plus one unused tensor
quiet "$G" "$tmp/wx.st" --seed 3 "${params[@]}" extra.weight=3
quiet "$G" "$tmp/inx.st" --seed 4 x=2x8 z=3
for how in "" --interpret; do
  ref=$tmp/ref${how/--/_}.st
  warns "warning: .*unused parameter 'extra.weight' in weights file" \
    "${run[@]}" $how --weights "$tmp/wx.st" --input "$tmp/in.st" --output "$tmp/o.st"
  same "$tmp/o.st" "$ref"
  rm -f "$tmp/o.st"
  expect 1 "error: .*unused parameter 'extra.weight' in weights file" \
    "${run[@]}" $how --weights "$tmp/wx.st" --input "$tmp/in.st" --output "$tmp/o.st" --strict
  [ ! -e "$tmp/o.st" ] && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL: --strict $how with an unused parameter wrote an output"; }

  warns "warning: .*tensor 'z' is not an input of the model" \
    "${run[@]}" $how --weights "$tmp/w.st" --input "$tmp/inx.st" --output "$tmp/o.st"
  same "$tmp/o.st" "$ref"
  expect 1 "error: .*tensor 'z' is not an input of the model" \
    "${run[@]}" $how --weights "$tmp/w.st" --input "$tmp/inx.st" --strict
done
# nothing unused: --strict changes nothing
quiet "${run[@]}" --weights "$tmp/w.st" --input "$tmp/in.st" --output "$tmp/o.st" --strict
same "$tmp/o.st" "$tmp/ref.st"
# a model input no node reads
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [2, 3]}\n  u: {dtype: f32, shape: [2]}\noutputs: [y]\nnodes:\n  y: {op: relu, input: x}\n' >"$tmp/unused.yaml"
warns "unused.yaml:[0-9]+:[0-9]+: warning: .*'u'" "$SEQC" check "$tmp/unused.yaml"
expect 1 "unused.yaml:[0-9]+:[0-9]+: error: .*'u'" "$SEQC" check "$tmp/unused.yaml" --strict

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
    same "$tmp/n.st" "$tmp/n_wide.st"
  done
  # and the rounding mattered: the full-precision weights give other bits
  if "$C" "$tmp/n.st" "$tmp/ref.st" --atol 0 --rtol 0 >/dev/null; then
    fail=$((fail + 1))
    echo "FAIL: $dt weights give the bits of the F32 weights: nothing was narrowed"
  else
    pass=$((pass + 1))
  fi
  # within what the format keeps (bf16: 8 bits, f16: 11 bits of mantissa)
  expect 0 "all tensors match" "$C" "$tmp/n.st" "$tmp/ref.st" --atol 0.1 --rtol 0.05
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
expect 0 "^r: f32 \[2, 9, 8\]" "$TOOLS/stdump" "$tmp/g.st"
# 1; 4, which does not divide T = 9; 64, more than T
for u in 1 4 64; do
  quiet "${grun[@]}" --unroll $u --output "$tmp/g$u.st"
  same "$tmp/g$u.st" "$tmp/g.st"
done
# valid: 0 (chosen per scan) to 64
for bad in 65 -1 x 2x ""; do
  for cmd in run bench compile; do
    expect 2 "--unroll wants a number of steps, 1..64" "$SEQC" $cmd "$tmp/gru.yaml" \
      --unroll "$bad"
  done
done
expect 2 "--unroll wants" "$SEQC" run "$tmp/gru.yaml" --random-weights 1 --random-input 1 --unroll

# ---- --threads: 0 is all cores; anything but 0..1024 is a usage error ----
quiet "${run[@]}" --weights "$tmp/w.st" --input "$tmp/in.st" --output "$tmp/t0.st" --threads 0
expect 0 "all tensors match" "$C" "$tmp/t0.st" "$tmp/ref.st"
for bad in -1 1025 abc 2x ""; do
  for cmd in run bench; do
    expect 2 "--threads wants a number \(0 = all cores\)" "$SEQC" $cmd "$tmp/mlp.yaml" \
      --threads "$bad"
  done
done
expect 2 "--threads wants" "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 \
  --threads

# ---- seqc bench --json: one object, the keys SPEC 6 names, numbers in them ----
# (B = 256: a run long enough that its median is not 0.0000 ms)
expect 0 '^\{.*\}$' "$SEQC" bench "$tmp/mlp.yaml" --dim B=256 --iters 3 --threads 1 --json
cp "$tmp/stdout" "$tmp/bench.json"
lines=$(wc -l <"$tmp/bench.json")
[ "$lines" -eq 1 ] && pass=$((pass + 1)) ||
  { fail=$((fail + 1)); echo "FAIL: bench --json printed $lines lines, want 1"; }
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
  if [ -n "${v[$key]}" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: bench --json: no number for \"$key\" in: $(cat "$tmp/bench.json")"
    v[$key]=-1
  fi
done
for rule in "${v[compile_ms]} > 0" "${v[median_ms]} > 0" "${v[peak_rss_mb]} > 0" \
  "${v[gflops]} > 0" "${v[p10_ms]} <= ${v[median_ms]}" "${v[median_ms]} <= ${v[p90_ms]}" \
  "${v[iters]} == 3"; do
  if holds "$rule"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: bench --json: not $rule in: $(cat "$tmp/bench.json")"
  fi
done

echo "cli_flags: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
