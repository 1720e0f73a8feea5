#!/usr/bin/env bash
# What a new user meets first: `seqc ops`, `seqc help CMD`, the tables of
# `seqc check` (the nodes as written, aligned, with parameter names) and
# "did you mean" on a mistyped name. Stdout and stderr are checked apart.
# Needs $SEQC; run by ctest.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*"
}

# run STATUS CMD...: runs CMD with stdout in $tmp/out and stderr in $tmp/err,
# and wants exit STATUS
run() {
  local want=$1
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local status=$?
  if [ "$status" -eq "$want" ]; then ok; else
    bad "$* -> status $status (want $want)"
    head -5 "$tmp/err"
  fi
}
# has FILE PATTERN: $tmp/FILE (out or err) has a line matching PATTERN (grep -E)
has() {
  if grep -Eq -- "$2" "$tmp/$1"; then ok; else
    bad "$1 of the last command lacks /$2/"
    head -20 "$tmp/$1"
  fi
}
# lacks FILE PATTERN: no line of $tmp/FILE matches PATTERN
lacks() {
  if grep -Eq -- "$2" "$tmp/$1"; then
    bad "$1 of the last command has /$2/"
    grep -E -- "$2" "$tmp/$1" | head -5
  else ok; fi
}
# empty FILE: $tmp/FILE holds nothing
empty() {
  if [ -s "$tmp/$1" ]; then
    bad "$1 of the last command is not empty:"
    head -5 "$tmp/$1"
  else ok; fi
}

# ---- seqc ops ----
run 0 "$SEQC" ops
empty err
has out "^  linear +nn.Linear"
has out "^ +keys: input out_features in_features bias$"
has out "^  lstm +nn.LSTM"
has out "keys: input hidden_size num_layers bias batch_first dropout bidirectional proj_size input_size peephole h0 c0$"
has out "^  scan +"
has out "^  transformer_decoder_layer +nn.TransformerDecoderLayer"
has out "^  add +a \+ b$"
has out "^  positional_encoding +x \+ sinusoidal"
lacks out "^  (copy|fused|fill|attention) "
cp "$tmp/out" "$tmp/ops.txt"
# every op it lists is one the frontend knows: a bad key draws "unknown
# attribute ... for op NAME", never "unknown op"
nops=0
for op in $(awk '/^  [a-z_0-9]+ / {print $1}' "$tmp/ops.txt"); do
  nops=$((nops + 1))
  printf 'seqc: 1\nname: m\ninputs:\n  x: {shape: [2, 3, 4]}\noutputs: [y]\nnodes:\n  y: {op: %s, zzzz: 1}\n' \
    "$op" >"$tmp/op.yaml"
  run 1 "$SEQC" check "$tmp/op.yaml"
  has err "op.yaml:7:[0-9]+: error: unknown attribute 'zzzz' for op '$op'$"
done
[ "$nops" -ge 34 ] && ok || bad "seqc ops listed $nops ops, want at least 34"
# the top-level help names it and `help`
run 0 "$SEQC" --help
has out "^  ops +list the ops"
has out "^  help +"

# ---- seqc help CMD prints what seqc CMD --help prints ----
for cmd in check ir run bench compile ops; do
  run 0 "$SEQC" "$cmd" --help
  cp "$tmp/out" "$tmp/want"
  run 0 "$SEQC" help "$cmd"
  empty err
  has out "^usage: seqc $cmd"
  lacks out "^commands:"
  if cmp -s "$tmp/out" "$tmp/want"; then ok; else bad "seqc help $cmd differs from seqc $cmd --help"; fi
done
run 0 "$SEQC" help
has out "^commands:"
empty err
run 2 "$SEQC" help frobnicate
empty out
has err "^seqc: error: unknown command 'frobnicate'$"
run 2 "$SEQC" chek m.yaml
empty out
has err "^seqc: error: unknown command 'chek'; did you mean 'check'\?$"

printf 'seqc: 1\nname: m\ninputs:\n  x: {shape: [2, 3]}\noutputs: [y]\nnodes:\n  y: {op: relu, input: x}\n' >"$tmp/m.yaml"
run 2 "$SEQC" ir "$tmp/m.yaml" --print-after fsue
empty out
has err "^seqc: error: unknown pass 'fsue'; did you mean 'fuse'\? \(passes: decompose .*, or all\)$"

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
run 0 "$SEQC" check "$tmp/ux.yaml"
empty err
has out "^model ux: ok$"
# the nodes section: the YAML's nodes and extra results, nothing internal
awk '/^nodes:/ {on = 1; next} /^[a-z]/ {on = 0} on' "$tmp/out" >"$tmp/nodes"
if [ "$(awk '{print $1}' "$tmp/nodes" | tr '\n' ' ')" = "enc $long rec rec.h_n r " ]; then ok; else
  bad "check lists nodes: $(awk '{print $1}' "$tmp/nodes" | tr '\n' ' ')"
fi
cp "$tmp/nodes" "$tmp/out"
has out "^  enc +transformer_encoder +f32 \[B, T, 16\]$"
has out "^  $long +linear +f32 \[B, T, 3\]$"
has out "^  rec +gru +f32 \[B, T, 5\]$"
has out "^  rec.h_n +f32 \[1, B, 5\]$"
has out "^  r +relu +f32 \[B, T, 5\]$"
lacks out "layers|self_attn|add|layer_norm"
# aligned: the op column and the type column start at one offset on every row
cols=$(awk '{print index($0, " f32 ")}' "$tmp/nodes" | sort -u | wc -l)
[ "$cols" -eq 1 ] && ok || bad "node types start at $cols different columns"
ops=$(grep -v "rec.h_n" "$tmp/nodes" | awk '{print index($0, " " $2 " ")}' | sort -u | wc -l)
[ "$ops" -eq 1 ] && ok || bad "node ops start at $ops different columns"
# the parameters, by name and shape, aligned
run 0 "$SEQC" check "$tmp/ux.yaml"
has out "^parameters: [0-9]+ "
awk '/^parameters:/ {on = 1; next} /^[a-z]/ {on = 0} on' "$tmp/out" >"$tmp/params"
cp "$tmp/params" "$tmp/out"
has out "^  enc.layers.0.self_attn.in_proj_weight +\[48, 16\]$"
has out "^  enc.layers.1.linear2.bias +\[16\]$"
has out "^  $long.weight +\[3, 16\]$"
has out "^  rec.weight_ih_l0 +\[15, 16\]$"
lacks out "^  enc.norm"
cols=$(awk '{print index($0, " [")}' "$tmp/params" | sort -u | wc -l)
[ "$cols" -eq 1 ] && ok || bad "parameter shapes start at $cols different columns"
n=$(wc -l <"$tmp/params")
[ "$n" -eq 30 ] && ok || bad "check lists $n parameters, want 30 (12 a layer, 2 linear, 4 gru)"

# ---- errors: positioned, on stderr, with a suggestion ----
sed 's/op: linear/op: lienar/' "$tmp/ux.yaml" >"$tmp/typo.yaml"
run 1 "$SEQC" check "$tmp/typo.yaml"
empty out
has err "typo.yaml:9:[0-9]+: error: unknown op 'lienar'; did you mean 'linear'\?$"
sed 's/hidden_size: 5/hiden_size: 5/' "$tmp/ux.yaml" >"$tmp/typo.yaml"
run 1 "$SEQC" check "$tmp/typo.yaml"
empty out
has err "typo.yaml:10:28: error: unknown attribute 'hiden_size' for op 'gru'; did you mean 'hidden_size'\?$"
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
run 1 "$SEQC" check "$tmp/next.yaml"
empty out
has err "next.yaml:16:10: error: scan 'c': next value of state 'h' is f32 \[B, 4\], but the state is f32 \[B, 8\]$"

echo "cli_ux: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
