#!/usr/bin/env bash
# What a new user meets first: `seqc ops`, `seqc help CMD`, the tables of
# `seqc check` (the nodes as written, aligned, with parameter names) and
# "did you mean" on a mistyped name. Stdout and stderr are checked apart.
# Needs $SEQC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

# ---- seqc ops ----
succeeds "$SEQC" ops
expect_no_err
expect_out_re "^  linear +nn.Linear"
expect_out_re "^ +keys: input out_features in_features bias weight$"
expect_out_re "^  lstm +nn.LSTM"
expect_out_re "keys: input hidden_size num_layers bias batch_first dropout bidirectional proj_size input_size peephole h0 c0 carry lengths$"
expect_out_re "^  scan +"
expect_out_re "^  transformer_decoder_layer +nn.TransformerDecoderLayer"
expect_out_re "^  add +a \+ b$"
expect_out_re "^  positional_encoding +x \+ sinusoidal"
expect_out_lacks_re "^  (copy|fused|fill|attention) "
printf '%s\n' "$OUT" >"$tmp/ops.txt"
# every op it lists is one the frontend knows: a bad key draws "unknown
# attribute ... for op NAME", never "unknown op"
nops=0
for op in $(awk '/^  [a-z_0-9]+ / {print $1}' "$tmp/ops.txt"); do
  nops=$((nops + 1))
  printf 'seqc: 1\nname: m\ninputs:\n  x: {shape: [2, 3, 4]}\noutputs: [y]\nnodes:\n  y: {op: %s, zzzz: 1}\n' \
    "$op" >"$tmp/op.yaml"
  fails 1 "$SEQC" check "$tmp/op.yaml"
  expect_err_re "op.yaml:7:[0-9]+: error: unknown attribute 'zzzz' for op '$op'$"
done
expect_that "seqc ops listed $nops ops, want at least 34" [ "$nops" -ge 34 ]
# the top-level help names it and `help`
succeeds "$SEQC" --help
expect_out_re "^  ops +list the ops"
expect_out_re "^  help +"

# ---- seqc help CMD prints what seqc CMD --help prints ----
for cmd in check ir run bench compile ops; do
  succeeds "$SEQC" "$cmd" --help
  want=$OUT
  succeeds "$SEQC" help "$cmd"
  expect_no_err
  expect_out_re "^usage: seqc $cmd"
  expect_out_lacks_re "^commands:"
  expect_that "seqc help $cmd differs from seqc $cmd --help" [ "$OUT" = "$want" ]
done
succeeds "$SEQC" help
expect_out_re "^commands:"
expect_no_err
fails 2 "$SEQC" help frobnicate
expect_err_re "^seqc: error: unknown command 'frobnicate'$"
fails 2 "$SEQC" chek m.yaml
expect_err_re "^seqc: error: unknown command 'chek'; did you mean 'check'\?$"

printf 'seqc: 1\nname: m\ninputs:\n  x: {shape: [2, 3]}\noutputs: [y]\nnodes:\n  y: {op: relu, input: x}\n' >"$tmp/m.yaml"
fails 2 "$SEQC" ir "$tmp/m.yaml" --print-after fsue
expect_err_re "^seqc: error: unknown pass 'fsue'; did you mean 'fuse'\? \(passes: decompose .*, or all\)$"

# ---- seqc check: the nodes as written ----
long=a_node_name_longer_than_the_twenty_columns_of_old
cat >"$tmp/ux.yaml" <<EOF
seqc: 1
name: ux
dims: {B: 2, T: 6}
inputs:
  x: {dtype: f32, shape: [B, T, 16]}
outputs: [$long, enc, rec.h_n, r]
nodes:
  enc: {op: transformer_encoder, input: x, num_layers: 2, nhead: 2, dim_feedforward: 32}
  $long: {op: linear, input: enc, out_features: 3}
  rec: {op: gru, input: x, hidden_size: 5}
  r: {op: relu, input: rec}
EOF
succeeds "$SEQC" check "$tmp/ux.yaml"
expect_no_err
expect_out_re "^model ux: ok$"
# the nodes section: the YAML's nodes and extra results, nothing internal
printf '%s\n' "$OUT" | awk '/^nodes:/ {on = 1; next} /^[a-z]/ {on = 0} on' >"$tmp/nodes"
names=$(awk '{print $1}' "$tmp/nodes" | tr '\n' ' ')
expect_that "check lists nodes: $names" [ "$names" = "enc $long rec rec.h_n r " ]
OUT=$(cat "$tmp/nodes") # the checks below look at the nodes section alone
expect_out_re "^  enc +transformer_encoder +f32 \[B, T, 16\]$"
expect_out_re "^  $long +linear +f32 \[B, T, 3\]$"
expect_out_re "^  rec +gru +f32 \[B, T, 5\]$"
expect_out_re "^  rec.h_n +f32 \[1, B, 5\]$"
expect_out_re "^  r +relu +f32 \[B, T, 5\]$"
expect_out_lacks_re "layers|self_attn|add|layer_norm"
# aligned: the op column and the type column start at one offset on every row
cols=$(awk '{print index($0, " f32 ")}' "$tmp/nodes" | sort -u | wc -l)
expect_that "node types start at $cols different columns" [ "$cols" -eq 1 ]
ops=$(grep -v "rec.h_n" "$tmp/nodes" | awk '{print index($0, " " $2 " ")}' | sort -u | wc -l)
expect_that "node ops start at $ops different columns" [ "$ops" -eq 1 ]
# the parameters, by name and shape, aligned
succeeds "$SEQC" check "$tmp/ux.yaml"
expect_out_re "^parameters: [0-9]+ "
printf '%s\n' "$OUT" | awk '/^parameters:/ {on = 1; next} /^[a-z]/ {on = 0} on' >"$tmp/params"
OUT=$(cat "$tmp/params") # the checks below look at the parameters alone
expect_out_re "^  enc.layers.0.self_attn.in_proj_weight +\[48, 16\]$"
expect_out_re "^  enc.layers.1.linear2.bias +\[16\]$"
expect_out_re "^  $long.weight +\[3, 16\]$"
expect_out_re "^  rec.weight_ih_l0 +\[15, 16\]$"
expect_out_lacks_re "^  enc.norm"
cols=$(awk '{print index($0, " [")}' "$tmp/params" | sort -u | wc -l)
expect_that "parameter shapes start at $cols different columns" [ "$cols" -eq 1 ]
n=$(wc -l <"$tmp/params")
expect_that "check lists $n parameters, want 30 (12 a layer, 2 linear, 4 gru)" \
  [ "$n" -eq 30 ]

# ---- errors: positioned, on stderr, with a suggestion ----
sed 's/op: linear/op: lienar/' "$tmp/ux.yaml" >"$tmp/typo.yaml"
fails 1 "$SEQC" check "$tmp/typo.yaml"
expect_err_re "typo.yaml:9:[0-9]+: error: unknown op 'lienar'; did you mean 'linear'\?$"
sed 's/hidden_size: 5/hiden_size: 5/' "$tmp/ux.yaml" >"$tmp/typo.yaml"
fails 1 "$SEQC" check "$tmp/typo.yaml"
expect_err_re "typo.yaml:10:28: error: unknown attribute 'hiden_size' for op 'gru'; did you mean 'hidden_size'\?$"
cat >"$tmp/next.yaml" <<'EOF'
seqc: 1
name: nx
dims: {B: 2, T: 6}
inputs:
  x: {dtype: f32, shape: [B, T, 16]}
outputs: [c]
nodes:
  c:
    op: scan
    over: {x: x}
    state: {h: {zeros: [B, 8]}}
    body:
      a: {op: linear, input: x, out_features: 4}
    emit: [a]
    next:
      h: a
EOF
fails 1 "$SEQC" check "$tmp/next.yaml"
expect_err_re "next.yaml:16:10: error: scan 'c': next value of state 'h' is f32 \[B, 4\], but the state is f32 \[B, 8\]$"

finish
