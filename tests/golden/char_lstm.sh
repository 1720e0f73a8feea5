#!/usr/bin/env bash
# The trained character-level LSTM (models/char_lstm.yaml with
# models/char_lstm.safetensors) in seqc against PyTorch, on the cases that
# tests/golden/gen_char_lstm.py wrote into tests/golden/char_lstm/: two
# 20-character prompts (B = 2), and the 203 characters of the greedy text from
# "The " (its logits are those greedy decoding chose by). Each runs at
# --threads 1 and 2 and in the interpreter, prints nothing (--strict: every
# weight is used) and must match within |got - want| <= 1e-4 + 1e-4*|want|
# (stcompare). Also: the shipped weights stay under 2 MB, and the vocab has
# one line per embedding row.
#
# Run by ctest with $SEQC, $SRC and $TOOLS; by hand, from the build dir:
#   SEQC=cli/seqc SRC=.. TOOLS=tests bash ../tests/golden/char_lstm.sh
# Needs no Python.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
: "${SEQC:?set SEQC to the seqc binary}" "${SRC:?set SRC to the source root}"
: "${TOOLS:?set TOOLS to the folder holding stcompare}"
model=$SRC/models/char_lstm.yaml
weights=$SRC/models/char_lstm.safetensors
vocab=$SRC/models/char_lstm.vocab
dir=$SRC/tests/golden/char_lstm

size=$(stat -c %s "$weights")
expect_that "$weights is $size bytes, want under 2 MB" [ "$size" -lt 2000000 ]
rows=$(sed -n 's/.*num_embeddings: *\([0-9]*\).*/\1/p' "$model")
lines=$(wc -l <"$vocab")
expect_that "$vocab has $lines lines, $model embeds $rows tokens" [ "$lines" -eq "$rows" ]

for name in prompt greedy; do
  before=$checks_failed
  for how in "--threads 1" "--threads 2" --interpret; do
    got=$tmp/$name.${how##* }.safetensors
    quiet "$SEQC" run "$model" --weights "$weights" --input "$dir/${name}_input.safetensors" \
      --output "$got" $how --strict
    expect_tensors "$got" "$dir/${name}_expected.safetensors"
  done
  if [ "$checks_failed" -eq "$before" ]; then echo "ok    $name"; else echo "FAIL  $name"; fi
done

# seqc generate with the vocab, from "The ": PyTorch's greedy text, one run a
# character (the LSTM carries its state), and its tokens and logits
run "$SEQC" generate "$model" --weights "$weights" --vocab "$vocab" --prompt "The " \
  --max-new-tokens 200 --output "$tmp/gen.safetensors" --strict
expect_status 0
expect_that "generated '$OUT', want the text in $dir/expected_greedy.txt" \
  [ "$OUT" = "$(cat "$dir/expected_greedy.txt")" ]
expect_tensors "$tmp/gen.safetensors" "$dir/expected_greedy.safetensors"

# 2 file checks; 2 cases of 3 runs of 3 checks and 3 comparisons of 3; generate's 5
finish $((2 + 2 * 18 + 5))
