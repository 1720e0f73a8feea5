#!/usr/bin/env bash
# The form of every kind of failure message (SPEC 6, 7): on stderr, nothing on
# stdout, the first line starting "seqc: error: " (or "FILE:LINE:COL: error: "
# for a place in the YAML, "seqrt-run: error: " for seqrt-run), a data file
# named right after the prefix, warnings "seqc: warning: ", and exit status 1
# (2 for usage).
# Needs $SEQC, $TOOLS (the build's tests folder; seqrt-run is in its sibling runtime/).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
RT=$(dirname "$TOOLS")/runtime

cp "$here/small_mlp.yaml" "$tmp/mlp.yaml"
# models whose outputs are their inputs: write input files named x, and x and w
cp "$here/make_x.yaml" "$tmp/make_x.yaml"
printf 'seqc: 1\nname: make_xw\ninputs:\n  x: {dtype: f32, shape: [2, 8]}\n  w: {dtype: f32, shape: [3]}\noutputs: [x, w]\nnodes: {}\n' >"$tmp/make_xw.yaml"
quiet "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input 7 --output "$tmp/x.st"
quiet "$SEQC" run "$tmp/make_xw.yaml" --random-weights 1 --random-input 7 --output "$tmp/xw.st"
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' >"$tmp/corrupt.st"
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [4]}\noutputs: [y]\nnodes:\n  y: {op: lstmm, input: x}\n' >"$tmp/badop.yaml"
run=("$SEQC" run "$tmp/mlp.yaml")

# a bad model: positioned, by check, run and compile alike
fails 1 "$SEQC" check "$tmp/badop.yaml"
expect_first_err "$tmp/badop.yaml:7:" "[0-9]+: error: unknown op 'lstmm'"
fails 1 "$SEQC" run "$tmp/badop.yaml" --random-weights 1 --random-input 1
expect_first_err "$tmp/badop.yaml:7:" "[0-9]+: error: unknown op 'lstmm'"
fails 1 "$SEQC" check "$tmp/nope.yaml"; expect_first_err "$tmp/nope.yaml:1:1: error: " "cannot read"

# data files: the file right after the prefix
fails 1 "${run[@]}" --weights "$tmp/nope.st" --random-input 1
expect_first_err "seqc: error: $tmp/nope.st: " "cannot open: No such file"
fails 1 "${run[@]}" --weights "$tmp/corrupt.st" --random-input 1
expect_first_err "seqc: error: $tmp/corrupt.st: " "corrupt safetensors file: header length"
fails 1 "${run[@]}" --random-weights 1 --input "$tmp/corrupt.st"
expect_first_err "seqc: error: $tmp/corrupt.st: " "corrupt safetensors file: header length"
fails 1 "${run[@]}" --weights "$tmp/x.st" --input "$tmp/x.st"
expect_first_err "seqc: error: $tmp/x.st: " \
  "missing parameter 'fc1.weight' \(expected f32 \[16, 8\]\)$"
fails 1 "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/m.o" --embed-weights "$tmp/x.st"
expect_first_err "seqc: error: $tmp/x.st: " \
  "missing parameter 'fc1.weight' \(expected f32 \[16, 8\]\)$"
fails 1 "${run[@]}" --random-weights 1 --input "$tmp/xw.st" --strict
expect_first_err "seqc: error: $tmp/xw.st: " "tensor 'w' is not an input of the model$"
fails 1 "${run[@]}" --random-weights 1 --random-input 1 --output "$tmp/no/out.st"
expect_first_err "seqc: error: $tmp/no/out.st: " "cannot write: No such file"
fails 1 "${run[@]}" --random-weights 1 --input "$tmp/x.st" --dim B=3
expect_first_err "seqc: error: " "input 'x': expected \[3, 8\], got \[2, 8\] \(B = 3 from --dim\)$"
fails 1 "${run[@]}" --random-weights 1 --input "$tmp/x.st" --dim B=3 --interpret
expect_first_err "seqc: error: " "input 'x': expected \[3, 8\], got \[2, 8\]"
succeeds "${run[@]}" --random-weights 1 --input "$tmp/xw.st"
expect_first_err "seqc: warning: $tmp/xw.st: " "tensor 'w' is not an input of the model$"

# usage: status 2, then where the help is
fails 2 "${run[@]}" --random-weights 1 --random-input 1 --dim B
expect_first_err "seqc: error: " "--dim wants NAME=POSITIVE_INTEGER, got 'B'$"
fails 2 "${run[@]}" --random-weights 1 --random-input 1 --dim Q=3
expect_first_err "seqc: error: " "--dim Q: the model has no dim 'Q' \(its dims: B\)$"
fails 2 "$SEQC" bench "$tmp/mlp.yaml" --dim Q=3
expect_first_err "seqc: error: " "--dim Q: the model has no dim 'Q'"
fails 2 "${run[@]}" --frob; expect_first_err "seqc: error: " "unknown option '--frob'$"
expect_err_re '^\(see `seqc run --help`\)$'

# seqrt-run: the same messages under its own name
fails 1 "$RT/seqrt-run" "$tmp/nothing.so" --random-weights 1 --input "$tmp/x.st"
expect_first_err "seqrt-run: error: $tmp/nothing.so: " "cannot load"
fails 1 "$RT/seqrt-run" "$RT/libseqrt.so" --random-weights 1 --input "$tmp/x.st"
expect_first_err "seqrt-run: error: $RT/libseqrt.so: " "not a model made by"
fails 2 "$RT/seqrt-run" "$tmp/m.so" --frob
expect_first_err "seqrt-run: error: " "unknown option '--frob'$"
if succeeds "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/m.so" --emit shared; then
  fails 1 "$RT/seqrt-run" "$tmp/m.so" --weights "$tmp/x.st" --input "$tmp/x.st"
  expect_first_err "seqrt-run: error: $tmp/x.st: " \
    "missing parameter 'fc1.weight' \(expected f32 \[16, 8\]\)$"
  fails 1 "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/corrupt.st"
  expect_first_err "seqrt-run: error: $tmp/corrupt.st: " "corrupt safetensors file"
  fails 1 "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/x.st" --dim B=3
  expect_first_err "seqrt-run: error: " \
    "input 'x': expected \[3, 8\], got \[2, 8\] \(B = 3 from --dim\)$"
  fails 2 "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/x.st" --dim Q=3
  expect_first_err "seqrt-run: error: " "--dim Q: the model has no dim 'Q' \(its dims: B\)$"
  succeeds "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/xw.st"
  expect_first_err "seqrt-run: warning: $tmp/xw.st: " "tensor 'w' is not an input of the model$"
fi

# every check runs, the seqrt-run ones included (a failed compile would skip them)
finish 81
