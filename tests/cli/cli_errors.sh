#!/usr/bin/env bash
# End-to-end checks of the seqc command line: exit statuses, positioned errors
# for bad models, and errors (never crashes) for bad weights and inputs.
# Needs $SEQC (the binary) and $TOOLS (stdump); run by ctest.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect STATUS PATTERN CMD...: runs CMD, wants exit STATUS and PATTERN (grep -E).
# On success PATTERN is looked for on stdout; on failure on stderr, and stdout
# must be empty: diagnostics go to stderr (SPEC 7), nothing half-done to stdout.
expect() {
  local want=$1 pattern=$2
  shift 2
  local status stream=stdout why=
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  status=$?
  [ "$want" -ne 0 ] && stream=stderr
  if [ "$status" -ne "$want" ]; then
    why="status $status, want $want"
  elif ! grep -Eq -- "$pattern" "$tmp/$stream"; then
    why="no /$pattern/ on $stream"
  elif [ "$want" -ne 0 ] && [ -s "$tmp/stdout" ]; then
    why="stdout not empty on error"
  fi
  report "$why" "$@"
}

# quiet CMD...: CMD succeeds and prints nothing, on stdout or stderr
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

# a model whose output is its input: writes random inputs named x
cat >"$tmp/make_x.yaml" <<'EOF'
seqc: 1
name: make_x
dims: {B: 2}
inputs:
  x: {dtype: f32, shape: [B, 8]}
outputs: [x]
nodes: {}
EOF

# usage
expect 2 "usage: seqc" "$SEQC"
expect 0 "commands:" "$SEQC" --help
expect 2 "unknown command" "$SEQC" frobnicate
expect 0 "usage: seqc run" "$SEQC" run --help
expect 0 "usage: seqc check" "$SEQC" check --help
expect 0 "usage: seqc ir" "$SEQC" ir --help
expect 0 "usage: seqc bench" "$SEQC" bench --help
expect 2 "no model file" "$SEQC" check
expect 2 "unknown option '--frob'" "$SEQC" run "$tmp/mlp.yaml" --frob
expect 2 "exactly one of --weights" "$SEQC" run "$tmp/mlp.yaml" --random-input 1
expect 2 "--dim wants" "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 --dim B
expect 2 "has no dim 'Q'" "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 --dim Q=3
expect 2 "unknown pass 'nope'" "$SEQC" ir "$tmp/mlp.yaml" --print-after nope

# good runs
expect 0 "model small_mlp: ok" "$SEQC" check "$tmp/mlp.yaml"
expect 0 "parameters: 212" "$SEQC" check "$tmp/mlp.yaml"
# FLOP counts as the peer kit counts them (shared/peers/RESULTS.md: GFLOP column)
expect 0 "flops: 1.342e\+08" "$SEQC" check "$SRC/bench/lstm_b1.yaml"
expect 0 "flops: 1.007e\+08" "$SEQC" check "$SRC/bench/gru_b1.yaml"
expect 0 "flops: 1.342e\+09" "$SEQC" check "$SRC/bench/birnn.yaml"
expect 0 "flops: 4.295e\+09" "$SEQC" check "$SRC/bench/transformer_gpt.yaml"
expect 0 "flops: 1.611e\+09" "$SEQC" check "$SRC/bench/longattn.yaml"
# window 32: 1024 * 65 - 32 * 33 (query, key) pairs a layer, not 1024^2
expect 0 "flops: 6.092e\+08" "$SEQC" check "$SRC/models/local_attention.yaml" --dim T=1024
expect 0 "y: f32 \[2, 4\]" "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1
expect 0 "y: f32 \[5, 4\]" "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 --dim B=5
expect 0 "after fuse" "$SEQC" ir "$tmp/mlp.yaml" --print-after fuse
expect 0 "median_ms" "$SEQC" bench "$tmp/mlp.yaml" --iters 3 --json

# model errors: positioned, status 1
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [4]}\noutputs: [y]\nnodes:\n  y: {op: lstmm, input: x}\n' >"$tmp/badop.yaml"
expect 1 "badop.yaml:7:[0-9]+: error: unknown op 'lstmm'" "$SEQC" check "$tmp/badop.yaml"
printf 'name: m\n' >"$tmp/noversion.yaml"
expect 1 "noversion.yaml:1:1: error: .*seqc" "$SEQC" check "$tmp/noversion.yaml"
printf 'seqc: 1\nname: m\nname: n\n' >"$tmp/dupkey.yaml"
expect 1 "dupkey.yaml:3:1: error: duplicate key 'name'" "$SEQC" check "$tmp/dupkey.yaml"
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [4, 3]}\n  z: {dtype: f32, shape: [4, 5]}\noutputs: [y]\nnodes:\n  y: {op: add, inputs: [x, z]}\n' >"$tmp/shape.yaml"
expect 1 "shape.yaml:8:[0-9]+: error: .*\[4, 3\].*\[4, 5\]" "$SEQC" check "$tmp/shape.yaml"
expect 1 "cannot read" "$SEQC" check "$tmp/does_not_exist.yaml"
printf 'seqc: 1\nname: m\n  bad: [\n' >"$tmp/syntax.yaml"
expect 1 "syntax.yaml:[0-9]+:[0-9]+: error" "$SEQC" check "$tmp/syntax.yaml"

# weights: a good file from a run of make_x is not a weights file for mlp
quiet "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input 7 --output "$tmp/x.safetensors"
expect 0 "^x: f32 \[2, 8\] = " "$TOOLS/stdump" "$tmp/x.safetensors"
expect 1 "missing parameter 'fc1.weight' \(expected f32 \[16, 8\]\)" \
  "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/x.safetensors" --input "$tmp/x.safetensors"
expect 1 "cannot open" "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/nope.safetensors" --random-input 1
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' >"$tmp/corrupt.safetensors"
expect 1 "corrupt" "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/corrupt.safetensors" --random-input 1
printf 'abc' >"$tmp/short.safetensors"
expect 1 "corrupt" "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --input "$tmp/short.safetensors"

# inputs: right name, wrong shape against --dim; missing input
expect 1 "input 'x': expected \[3, 8\], got \[2, 8\]" \
  "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --input "$tmp/x.safetensors" --dim B=3
printf 'seqc: 1\nname: m\ninputs:\n  w: {dtype: f32, shape: [2, 8]}\noutputs: [w]\nnodes: {}\n' >"$tmp/make_w.yaml"
quiet "$SEQC" run "$tmp/make_w.yaml" --random-weights 1 --random-input 1 --output "$tmp/w.safetensors"
expect 0 "^w: f32 \[2, 8\] = " "$TOOLS/stdump" "$tmp/w.safetensors"
expect 1 "input 'x' is missing" "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --input "$tmp/w.safetensors"

# embedding index out of range: an error naming index and position
printf 'seqc: 1\nname: m\ninputs:\n  tok: {dtype: i32, shape: [1, 4]}\noutputs: [e]\nnodes:\n  e: {op: embedding, input: tok, num_embeddings: 3, embedding_dim: 2}\n' >"$tmp/emb3.yaml"
printf 'seqc: 1\nname: m\ninputs:\n  tok: {dtype: i32, shape: [1, 4]}\noutputs: [tok]\nnodes: {}\n' >"$tmp/make_tok.yaml"
# indices drawn from [0, 10) by --random-input for a table of 10, fed to a table of 3
quiet "$SEQC" run "$tmp/make_tok.yaml" --random-weights 1 --random-input 3 --output "$tmp/tok.safetensors"
expect 0 "^tok: i32 \[1, 4\] = " "$TOOLS/stdump" "$tmp/tok.safetensors"
expect 1 "index [0-9]+ out of range \[0, 3\) at position \[0, [0-3]\] of 'tok'" \
  "$SEQC" run "$tmp/emb3.yaml" --random-weights 1 --input "$tmp/tok.safetensors"

# a slice typed for a long symbolic dim, run with that dim bound too short
printf 'seqc: 1\nname: sl\ndims: {B: 4}\ninputs:\n  x: {dtype: f32, shape: [B, 3]}\noutputs: [y]\nnodes:\n  y: {op: slice, input: x, dim: 0, start: 2, end: 100}\n' >"$tmp/slice.yaml"
expect 1 "slice.yaml:8:3: error: slice 'y': dim B = 4 is too short" \
  "$SEQC" run "$tmp/slice.yaml" --random-weights 1 --random-input 1
expect 0 "y: f32 \[98, 3\]" "$SEQC" run "$tmp/slice.yaml" --random-weights 1 --random-input 1 --dim B=100

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
