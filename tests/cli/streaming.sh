#!/usr/bin/env bash
# Streaming models on the command line (SPEC 9): `check` and `compile` warn at
# each node that reads the whole position axis at once (errors with
# --strict); `seqc run` with several --input/--output pairs continues one
# session, and a run past a cache without a window stops the list with the
# cache's name and size after the earlier runs' outputs are written, compiled
# and interpreted alike; carry and cache where they cannot be are positioned
# errors. (tests/codegen/test_stream.c checks that pieces give the whole run's
# numbers.) Needs $SEQC, $SRC and $TOOLS.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

cat >"$tmp/warn.yaml" <<'EOF'
seqc: 1
name: w
dims: {B: 1, T: 8}
inputs:
  x: {dtype: f32, shape: [B, T, 8]}
outputs: [c, m]
nodes:
  g: {op: gru, input: x, hidden_size: 8, carry: true}
  l: {op: lstm, input: g, hidden_size: 8}
  a: {op: multihead_attention, input: l, num_heads: 2, causal: true}
  c: {op: conv1d, input: a, out_channels: 4, kernel_size: 3}
  m: {op: mean, input: g, dim: 1}
EOF
for cmd in check "compile -o $tmp/w.o"; do
  run "$SEQC" $cmd "$tmp/warn.yaml"
  expect_status 0
  expect_err "warn.yaml:9:3: warning: 'l' reads the whole position axis at once (it does not carry its state): run in pieces, this streaming model gives other numbers than run whole"
  expect_err "warn.yaml:10:3: warning: 'a' reads the whole position axis at once (its self-attention keeps no cache)"
  expect_err "warn.yaml:11:3: warning: 'c' reads the whole position axis at once (its kernel reads neighbouring positions)"
  expect_err "warn.yaml:12:3: warning: 'm' reads the whole position axis at once (it averages over the position dim)"
done
fails 1 "$SEQC" check "$tmp/warn.yaml" --strict
expect_err "warn.yaml:9:3: error: 'l' reads the whole position axis at once"
# the same model without carry does not stream: no warning
sed 's/, carry: true//' "$tmp/warn.yaml" >"$tmp/still.yaml"
run "$SEQC" check "$tmp/still.yaml"
expect_status 0
expect_no_err

# a cache of 8 positions: runs of 6 then 6 go past it
cat >"$tmp/gpt.yaml" <<'EOF'
seqc: 1
name: gpt
dims: {B: 1, T: 6}
inputs:
  tokens: {dtype: i32, shape: [B, T]}
outputs: [head]
nodes:
  embed: {op: embedding, input: tokens, num_embeddings: 20, embedding_dim: 16}
  blocks: {op: transformer_encoder, input: embed, num_layers: 2, nhead: 2, dim_feedforward: 32,
           causal: true, cache: 8}
  head: {op: linear, input: blocks, out_features: 20}
EOF
cat >"$tmp/make_t.yaml" <<'EOF'
seqc: 1
name: make_t
dims: {B: 1, T: 6}
inputs:
  tokens: {dtype: i32, shape: [B, T]}
outputs: [tokens]
nodes:
  e: {op: embedding, input: tokens, num_embeddings: 20, embedding_dim: 1}
EOF
quiet "$SEQC" run "$tmp/make_t.yaml" --random-weights 1 --random-input 3 --output "$tmp/t6.st"
quiet "$SEQC" run "$tmp/make_t.yaml" --random-weights 1 --random-input 4 --dim T=2 \
  --output "$tmp/t2.st"
for how in "" --interpret; do
  rm -f "$tmp"/o*.st
  fails 1 "$SEQC" run "$tmp/gpt.yaml" --random-weights 2 $how --input "$tmp/t6.st" \
    --output "$tmp/o1.st" --input "$tmp/t6.st" --output "$tmp/o2.st" --input "$tmp/t2.st" \
    --output "$tmp/o3.st"
  expect_err "'blocks.layers.0.self_attn.k_cache' keeps 8 positions: the session is at position 6, and a run of 6 more would go past them (reset the session, or give the model a larger cache)"
  expect_that "the first run's outputs are written ($how)" [ -s "$tmp/o1.st" ]
  expect_that "the failed run wrote outputs ($how)" [ ! -e "$tmp/o2.st" ]
  expect_that "the run after a failed one was made ($how)" [ ! -e "$tmp/o3.st" ]
done
# runs of 6 and 2 fit: the second continues the first (its numbers differ from a fresh run)
succeeds "$SEQC" run "$tmp/gpt.yaml" --random-weights 2 --input "$tmp/t6.st" \
  --output "$tmp/c1.st" --input "$tmp/t2.st" --output "$tmp/c2.st"
succeeds "$SEQC" run "$tmp/gpt.yaml" --random-weights 2 --input "$tmp/t2.st" \
  --output "$tmp/fresh.st"
run "$TOOLS/stcompare" "$tmp/c2.st" "$tmp/fresh.st"; expect_status 1; expect_out "MISMATCH"
succeeds "$SEQC" run "$tmp/gpt.yaml" --random-weights 2 --interpret --input "$tmp/t6.st" \
  --output "$tmp/i1.st" --input "$tmp/t2.st" --output "$tmp/i2.st"
expect_tensors "$tmp/i2.st" "$tmp/c2.st"

# carry and cache where they cannot be
sed 's/hidden_size: 8, carry: true/hidden_size: 8, bidirectional: true, carry: true/' \
  "$tmp/warn.yaml" >"$tmp/bi.yaml"
fails 1 "$SEQC" check "$tmp/bi.yaml"
expect_first_err "$tmp/bi.yaml:8:70: error: 'g' cannot carry its state with bidirectional: true (a reverse pass cannot stream)"
sed 's/causal: true, cache: 8/cache: 8/' "$tmp/gpt.yaml" >"$tmp/nc.yaml"
fails 1 "$SEQC" run "$tmp/nc.yaml" --random-weights 1 --input "$tmp/t6.st"
expect_first_err "$tmp/nc.yaml:10:19: error: 'blocks' cannot keep a cache: only causal self-attention keeps its keys (give causal: true)"

finish 47
