#!/usr/bin/env bash
# seqc graph: the DOT text is read back (every node of the IR a box or a
# cluster with its name and op, every edge between declared nodes, every
# top-level node that reads a value an incoming edge), as lowered and after
# a pass; an SVG when Graphviz's dot is installed, the DOT text with a
# warning when it is not; bad file names and passes are usage errors.
# Needs $SEQC and $SRC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

# compare DOT with IR: both files from seqc, parsed independently of ir/dot.c
compare() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import collections, re, sys
dot = open(sys.argv[1]).read().splitlines()
ir = open(sys.argv[2]).read().splitlines()
boxes, edges_in, declared = collections.Counter(), collections.Counter(), set()
ids = {}
for i, line in enumerate(dot):
    m = re.match(r'\s*"([^"]+)" \[(?:shape=(\w+), )?label="([^"]*)"', line)
    if m:
        declared.add(m.group(1))
        if m.group(2) is None:  # a node box: name, op, types
            name, op = m.group(3).split("\\n")[:2]
            boxes[(name, op)] += 1
            ids[m.group(1)] = (name, op)
        continue
    m = re.match(r'\s*subgraph "cluster([^"]+)" \{', line)
    if m:
        name, op = re.match(r'\s*label="([^"]*)"', dot[i + 1]).group(1).split("\\n")[:2]
        boxes[(name, op)] += 1
for line in dot:
    m = re.match(r'\s*"([^"]+)" -> "([^"]+)";', line)
    if m:
        assert m.group(1) in declared and m.group(2) in declared, line
        if m.group(2) in ids:
            edges_in[ids[m.group(2)]] += 1
nodes, top_reading = collections.Counter(), collections.Counter()
params = set()
for line in ir:
    m = re.match(r'(\s*)(?:param|const)\s+(%\d+)', line)
    if m and len(m.group(1)) == 2:
        params.add(m.group(2))
    m = re.match(r'(\s*)(?:%[\d, %]+ = )?(\w+)(.*?)(?: \{.*\})?(?: : .*)?\s+; (\S+) @', line)
    if not m:
        continue
    nodes[(m.group(4), m.group(2))] += 1
    operands = set(re.findall(r'%\d+', m.group(3)))
    if len(m.group(1)) == 2 and m.group(2) not in ("fused", "scan") and operands - params:
        top_reading[(m.group(4), m.group(2))] += 1
assert boxes == nodes, (boxes - nodes, nodes - boxes)
for key, n in top_reading.items():
    assert edges_in[key] >= n, (key, edges_in[key], n)
print("same", sum(nodes.values()))
PY
}

for model in lstm bert_encoder memformer_classifier gpt_decoder; do
  y=$SRC/models/$model.yaml
  succeeds "$SEQC" graph "$y" -o "$tmp/$model.dot"; expect_no_err
  succeeds "$SEQC" ir "$y" --print-after schedule
  printf '%s\n' "$OUT" > "$tmp/$model.ir"
  succeeds compare "$tmp/$model.dot" "$tmp/$model.ir"; expect_out_re "^same [0-9]+$"
done
# a scan's next state goes back to its readers as a dashed edge
succeeds "$SEQC" graph "$SRC/models/lstm.yaml"
expect_out_re '^  "n_[0-9_]+" -> "n_[0-9_]+" \[style=dashed, constraint=false\];$'
# after a pass, and as lowered (a layer op is one box; stdout without -o)
succeeds "$SEQC" graph "$SRC/models/bert_encoder.yaml" --after fuse
printf '%s\n' "$OUT" > "$tmp/fuse.dot"
succeeds "$SEQC" ir "$SRC/models/bert_encoder.yaml" --print-after fuse
printf '%s\n' "$OUT" > "$tmp/fuse.ir"
succeeds compare "$tmp/fuse.dot" "$tmp/fuse.ir"; expect_out_re "^same [0-9]+$"
succeeds "$SEQC" graph "$SRC/models/bert_encoder.yaml" --after lowered
expect_out_re 'label="encoder.layers.0\\ntransformer_encoder_layer\\nf32\[B, T, 256\]"'
expect_out_re 'tooltip="reads encoder.layers.0.self_attn.in_proj_weight, '

# pictures: with Graphviz an SVG; without it (PATH empty) the DOT text beside, a warning
if command -v dot > /dev/null; then
  succeeds "$SEQC" graph "$SRC/models/lstm.yaml" -o "$tmp/lstm.svg"; expect_no_err
  succeeds grep -c "<svg" "$tmp/lstm.svg"
fi
succeeds env PATH= "$SEQC" graph "$SRC/models/lstm.yaml" -o "$tmp/pic.png"
expect_err "Graphviz's \`dot\` is not installed (apt-get install graphviz): wrote the DOT text to $tmp/pic.dot instead of $tmp/pic.png"
succeeds grep -c '^digraph "lstm" {$' "$tmp/pic.dot"

# usage errors
fails 2 "$SEQC" graph "$SRC/models/lstm.yaml" -o "$tmp/x.pdf"
expect_err "-o $tmp/x.pdf: expected a file ending in .dot, .svg or .png"
fails 2 "$SEQC" graph "$SRC/models/lstm.yaml" --after fusee
expect_err "unknown pass 'fusee'; did you mean 'fuse'?"
fails 2 "$SEQC" graph
expect_err "no model file given"
fails 1 "$SEQC" graph "$tmp/missing.yaml"
finish
