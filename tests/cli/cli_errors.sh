#!/usr/bin/env bash
# End-to-end checks of the seqc command line: exit statuses, positioned errors
# for bad models, and errors (never crashes) for bad weights and inputs.
# Needs $SEQC (the binary) and $TOOLS (stdump); run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

cp "$here/small_mlp.yaml" "$tmp/mlp.yaml"
cp "$here/make_x.yaml" "$tmp/make_x.yaml"

# usage
fails 2 "$SEQC"; expect_first_err "seqc: error: " "no command given"; expect_err_re '^\(see `seqc --help`\)$'
succeeds "$SEQC" --help; expect_out "commands:"; expect_no_err
fails 2 "$SEQC" frobnicate; expect_err "unknown command"; expect_err_re '^\(see `seqc --help`\)$'
succeeds "$SEQC" run --help; expect_out "usage: seqc run"; expect_no_err
succeeds "$SEQC" check --help; expect_out "usage: seqc check"; expect_no_err
succeeds "$SEQC" ir --help; expect_out "usage: seqc ir"; expect_no_err
succeeds "$SEQC" bench --help; expect_out "usage: seqc bench"; expect_no_err
fails 2 "$SEQC" check; expect_err "no model file"
fails 2 "$SEQC" run "$tmp/mlp.yaml" --frob; expect_err "unknown option '--frob'"
fails 2 "$SEQC" run "$tmp/mlp.yaml" --random-input 1; expect_err "exactly one of --weights"
fails 2 "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 --dim B
expect_err "--dim wants"
fails 2 "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 --dim Q=3
expect_err "has no dim 'Q'"
fails 2 "$SEQC" ir "$tmp/mlp.yaml" --print-after nope; expect_err "unknown pass 'nope'"

# good runs
succeeds "$SEQC" check "$tmp/mlp.yaml"; expect_out "model small_mlp: ok"; expect_no_err
succeeds "$SEQC" check "$tmp/mlp.yaml"; expect_out "parameters: 212"; expect_no_err
# FLOP counts as the peer runners count them (bench/peers/workloads.py)
succeeds "$SEQC" check "$SRC/bench/lstm_b1.yaml"; expect_out "flops: 1.342e+08"; expect_no_err
succeeds "$SEQC" check "$SRC/bench/gru_b1.yaml"; expect_out "flops: 1.007e+08"; expect_no_err
succeeds "$SEQC" check "$SRC/bench/birnn.yaml"; expect_out "flops: 1.342e+09"; expect_no_err
succeeds "$SEQC" check "$SRC/bench/transformer_gpt.yaml"
expect_out "flops: 4.295e+09"; expect_no_err
succeeds "$SEQC" check "$SRC/bench/longattn.yaml"; expect_out "flops: 1.611e+09"; expect_no_err
# window 32: 1024 * 65 - 32 * 33 (query, key) pairs a layer, not 1024^2
succeeds "$SEQC" check "$SRC/models/local_attention.yaml" --dim T=1024
expect_out "flops: 6.092e+08"; expect_no_err
succeeds "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1
expect_out "y: f32 [2, 4]"; expect_no_err
succeeds "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --random-input 1 --dim B=5
expect_out "y: f32 [5, 4]"; expect_no_err
succeeds "$SEQC" ir "$tmp/mlp.yaml" --print-after fuse; expect_out "after fuse"; expect_no_err
succeeds "$SEQC" bench "$tmp/mlp.yaml" --iters 3 --json; expect_out "median_ms"; expect_no_err

# model errors: positioned, status 1
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [4]}\noutputs: [y]\nnodes:\n  y: {op: lstmm, input: x}\n' >"$tmp/badop.yaml"
fails 1 "$SEQC" check "$tmp/badop.yaml"
expect_err_re "badop.yaml:7:[0-9]+: error: unknown op 'lstmm'"
printf 'name: m\n' >"$tmp/noversion.yaml"
fails 1 "$SEQC" check "$tmp/noversion.yaml"; expect_err_re "noversion.yaml:1:1: error: .*seqc"
printf 'seqc: 1\nname: m\nname: n\n' >"$tmp/dupkey.yaml"
fails 1 "$SEQC" check "$tmp/dupkey.yaml"
expect_err "dupkey.yaml:3:1: error: duplicate key 'name'"
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [4, 3]}\n  z: {dtype: f32, shape: [4, 5]}\noutputs: [y]\nnodes:\n  y: {op: add, inputs: [x, z]}\n' >"$tmp/shape.yaml"
fails 1 "$SEQC" check "$tmp/shape.yaml"
expect_err_re "shape.yaml:8:[0-9]+: error: .*\[4, 3\].*\[4, 5\]"
fails 1 "$SEQC" check "$tmp/does_not_exist.yaml"; expect_err "cannot read"
printf 'seqc: 1\nname: m\n  bad: [\n' >"$tmp/syntax.yaml"
fails 1 "$SEQC" check "$tmp/syntax.yaml"; expect_err_re "syntax.yaml:[0-9]+:[0-9]+: error"

# weights: a good file from a run of make_x is not a weights file for mlp
quiet "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input 7 --output "$tmp/x.safetensors"
succeeds "$TOOLS/stdump" "$tmp/x.safetensors"; expect_out_re "^x: f32 \[2, 8\] = "; expect_no_err
fails 1 "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/x.safetensors" --input "$tmp/x.safetensors"
expect_err "missing parameter 'fc1.weight' (expected f32 [16, 8])"
fails 1 "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/nope.safetensors" --random-input 1
expect_err "cannot open"
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' >"$tmp/corrupt.safetensors"
fails 1 "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/corrupt.safetensors" --random-input 1
expect_err "corrupt"
printf 'abc' >"$tmp/short.safetensors"
fails 1 "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --input "$tmp/short.safetensors"
expect_err "corrupt"

# inputs: right name, wrong shape against --dim; missing input
fails 1 "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --input "$tmp/x.safetensors" --dim B=3
expect_err "input 'x': expected [3, 8], got [2, 8]"
printf 'seqc: 1\nname: m\ninputs:\n  w: {dtype: f32, shape: [2, 8]}\noutputs: [w]\nnodes: {}\n' >"$tmp/make_w.yaml"
quiet "$SEQC" run "$tmp/make_w.yaml" --random-weights 1 --random-input 1 --output "$tmp/w.safetensors"
succeeds "$TOOLS/stdump" "$tmp/w.safetensors"; expect_out_re "^w: f32 \[2, 8\] = "; expect_no_err
fails 1 "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --input "$tmp/w.safetensors"
expect_err "input 'x' is missing"

# embedding index out of range: an error naming index and position
printf 'seqc: 1\nname: m\ninputs:\n  tok: {dtype: i32, shape: [1, 4]}\noutputs: [e]\nnodes:\n  e: {op: embedding, input: tok, num_embeddings: 3, embedding_dim: 2}\n' >"$tmp/emb3.yaml"
printf 'seqc: 1\nname: m\ninputs:\n  tok: {dtype: i32, shape: [1, 4]}\noutputs: [tok]\nnodes: {}\n' >"$tmp/make_tok.yaml"
# indices drawn from [0, 10) by --random-input for a table of 10, fed to a table of 3
quiet "$SEQC" run "$tmp/make_tok.yaml" --random-weights 1 --random-input 3 --output "$tmp/tok.safetensors"
succeeds "$TOOLS/stdump" "$tmp/tok.safetensors"
expect_out_re "^tok: i32 \[1, 4\] = "; expect_no_err
fails 1 "$SEQC" run "$tmp/emb3.yaml" --random-weights 1 --input "$tmp/tok.safetensors"
expect_err_re "index [0-9]+ out of range \[0, 3\) at position \[0, [0-3]\] of 'tok'"

# a slice typed for a long symbolic dim, run with that dim bound too short
printf 'seqc: 1\nname: sl\ndims: {B: 4}\ninputs:\n  x: {dtype: f32, shape: [B, 3]}\noutputs: [y]\nnodes:\n  y: {op: slice, input: x, dim: 0, start: 2, end: 100}\n' >"$tmp/slice.yaml"
fails 1 "$SEQC" run "$tmp/slice.yaml" --random-weights 1 --random-input 1
expect_err "slice.yaml:8:3: error: slice 'y': dim B = 4 is too short"
succeeds "$SEQC" run "$tmp/slice.yaml" --random-weights 1 --random-input 1 --dim B=100
expect_out "y: f32 [98, 3]"; expect_no_err

finish
