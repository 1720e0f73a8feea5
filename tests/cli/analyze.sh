#!/usr/bin/env bash
# seqc analyze: the seeds' table (Vaswani et al. 2017, Table 1) for an LSTM,
# a Transformer encoder, a windowed one and a strided conv1d model equals the
# committed expectation (tests/cli/analyze_expected.txt, also in README.md);
# --json holds the same rows; --measure's fitted growth exponent is within
# 0.2 of the FLOPs' own on a recurrence (n^1) and a full attention (about
# n^1.8 over 256..1024), at one thread; bad lengths and a model without a
# sequence dim are errors.
# Needs $SEQC and $SRC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

for m in lstm bert_encoder local_attention conv_strided; do
  "$SEQC" analyze "$SRC/models/$m.yaml" >> "$tmp/got.txt" 2>&1
  echo >> "$tmp/got.txt"
done
succeeds diff "$SRC/tests/cli/analyze_expected.txt" "$tmp/got.txt"

succeeds "$SEQC" analyze "$SRC/models/local_attention.yaml" --json
printf '%s\n' "$OUT" > "$tmp/a.json"
succeeds /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
rows = {r["node"]: r for r in j["layers"]}
assert j["n"] == "T" and rows["encoder"]["path"] == "O(n/r)", rows
assert rows["encoder"]["per_layer"] == "O(r n d), r=32" and rows["(model)"]["sequential"] == "O(1)"
assert abs(rows["encoder"]["flops"][1] - 5.908e5) < 1e3 and rows["encoder"]["flops"][2] == 0
print("ok")' "$tmp/a.json"
expect_out "ok"

cat > "$tmp/attn.yaml" <<'YAML'
seqc: 1
name: attn
dims: {B: 1, T: 256}
inputs:
  x: {dtype: f32, shape: [B, T, 64]}
outputs: [a]
nodes:
  a: {op: multihead_attention, input: x, num_heads: 1}
YAML
for what in "$tmp/attn.yaml 256,512,1024" "$SRC/models/lstm.yaml 128,256,512"; do
  set -- $what
  succeeds "$SEQC" analyze "$1" --measure "$2" --threads 1 --json
  printf '%s\n' "$OUT" > "$tmp/m.json"
  succeeds /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert len(j["measured"]) == 3 and all(m["ms"] > 0 for m in j["measured"]), j
assert abs(j["exponent"] - j["flops_exponent"]) < 0.2, (j["exponent"], j["flops_exponent"])
print("within", j["exponent"], j["flops_exponent"])' "$tmp/m.json"
  expect_out "within"
done

fails 2 "$SEQC" analyze "$SRC/models/lstm.yaml" --measure 128
expect_err "--measure wants 2 to 64 positive lengths, N1,N2,..."
fails 2 "$SEQC" analyze "$SRC/models/lstm.yaml" --measure 128,x
fails 1 "$SEQC" analyze "$SRC/models/conv1d_classifier.yaml"
expect_err "the model has no sequence dim to grow"
finish
