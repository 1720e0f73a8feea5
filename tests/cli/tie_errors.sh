#!/usr/bin/env bash
# Bad shared parameters and argmax (SPEC 11) at the command line: each a
# positioned error on stderr, nothing on stdout, exit status 1, from `check`,
# `run` and `compile` alike.
# Needs $SEQC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

# model NAME NODE-LINES...: a model with an embedding on line 7, the given nodes from line 8
model() {
  local f=$tmp/$1.yaml
  shift
  {
    printf 'seqc: 1\nname: m\ninputs:\n  tok: {dtype: i64, shape: [2, 3]}\noutputs: [h]\nnodes:\n'
    printf '  embed: {op: embedding, input: tok, num_embeddings: 10, embedding_dim: 4}\n'
    printf '%s\n' "$@"
  } >"$f"
  echo "$f"
}

# bad FILE PATTERN: check, run and compile each fail with the positioned error
bad() {
  fails 1 "$SEQC" check "$1"; expect_err_re "$2"; expect_no_out
  fails 1 "$SEQC" run "$1" --random-weights 1 --random-input 1; expect_err_re "$2"; expect_no_out
  fails 1 "$SEQC" compile "$1" -o "$tmp/x.o"; expect_err_re "$2"; expect_no_out
}

f=$(model shape '  h: {op: linear, input: embed, out_features: 4, bias: false, weight: embed.weight}')
bad "$f" "shape.yaml:8:71: error: 'h' shares 'embed.weight', which is f32 \[10, 4\], but it needs f32 \[4, 4\] \(out_features, in_features\)"

f=$(model typo '  h: {op: linear, input: embed, out_features: 10, weight: embed.wieght}')
bad "$f" "typo.yaml:8:59: error: 'embed' has no parameter 'wieght'; did you mean 'weight'\?"

f=$(model below '  h: {op: linear, input: embed, out_features: 10, weight: g.weight}' \
  '  g: {op: linear, input: embed, out_features: 10}')
bad "$f" "below.yaml:8:59: error: 'g' is defined below 'h'"

f=$(model noweight '  h: {op: layer_norm, input: embed, weight: embed.weight}')
bad "$f" "noweight.yaml:8:37: error: unknown attribute 'weight' for op 'layer_norm'"

f=$(model argmax_int '  h: {op: argmax, input: tok}')
bad "$f" "argmax_int.yaml:8:3: error: argmax 'h': expected f32, got i64 \[2, 3\]"

# and a good one: argmax of the tied head, an i64 output
f=$(model good '  l: {op: linear, input: embed, out_features: 10, bias: false, weight: embed.weight}' \
  '  h: {op: argmax, input: l}')
succeeds "$SEQC" run "$f" --random-weights 1 --random-input 1
expect_out_re "^h: i64 \[2, 3\] = [0-9]( [0-9]){5}$"; expect_no_err

finish
