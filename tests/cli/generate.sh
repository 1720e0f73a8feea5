#!/usr/bin/env bash
# `seqc generate` (SPEC 9): greedy tokens and logits equal PyTorch's on the
# cases of tests/golden/generate/ (a decoder-only Transformer, an LSTM
# language model and a seq2seq Transformer with its source as a second input,
# made by tests/golden/gen_generate.py), at 1 and 2 threads; the prompt by
# --prompt (B = 1) gives row 0 of the batch; the stop rule of --eos; tokens
# printed as they come; sampling reproducible by --seed, --top-k 1 greedy;
# --vocab text in and out; --beams N against PyTorch's beam search (HF's
# num_beams), streaming or not; and each bad input a clear error with status 1
# (2 for usage); T5 (gen_generate_t5.py) from its start token. The sampler's statistics and the vocabulary's details have
# their unit tests (test_sample.c, test_vocab.c), the beams' books test_beam.c.
# Needs $SEQC, $SRC and $TOOLS (stcompare, stdump).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
cases=$SRC/tests/golden/generate
gen=("$SEQC" generate)

# values FILE NAME: every value of tensor NAME of FILE, space-separated
values() { "$TOOLS/stdump" "$1" -n 0 | sed -n "s/^$2: [a-z0-9]* \[[0-9, ]*\] = //p"; }

# ---- the goldens: tokens exact, logits within SPEC 8 ----
for c in gpt gpt_eos lstm seq2seq; do
  d=$cases/$c
  read -r -a args <"$d/args"
  for th in 1 2; do
    [ "$th" = 2 ] && [ "$c" != gpt ] && continue # a JIT compile costs seconds: one at 2
    succeeds "${gen[@]}" "$d/model.yaml" --weights "$d/weights.safetensors" \
      --input "$d/input.safetensors" "${args[@]}" --output "$tmp/$c.$th.st" --threads "$th" --strict
    out=$OUT err=$ERR
    expect_tensors "$tmp/$c.$th.st" "$d/expected.safetensors"
  done
  # the model re-runs from position 0, and says so; then the timing line
  expect_that "$c: no warning that the whole sequence runs again: '$err'" \
    grep -q "no node has carry or cache, so every new token runs the whole sequence again" <<<"$err"
  expect_that "$c: no timing line: '$err'" grep -Eq \
    "^seqc: prefill [0-9.]+ ms \(2 x [0-9]+ tokens\), [0-9.]+ ms per new token, [0-9.]+ tokens/s$" <<<"$err"
  # B = 2: one line per row at the end, the row's new tokens (up to its eos)
  read -r -a all <<<"$(values "$d/expected.safetensors" tokens)"
  tok=tokens
  [ "$c" = seq2seq ] && tok=tgt
  read -r -a prompt <<<"$(values "$d/input.safetensors" $tok)"
  P=$((${#prompt[@]} / 2)) L=$((${#all[@]} / 2))
  row0=${all[*]:$P:$((L - P))} row1=${all[*]:$((L + P)):$((L - P))}
  if [ "$c" = gpt_eos ]; then
    eos=${args[3]}
    row0=${row0%%" $eos "*}" $eos" # up to its first eos
  fi
  expect_that "$c: stdout is not the two rows '$row0' / '$row1': '$out'" \
    [ "$out" = "$row0"$'\n'"$row1" ]
  [ "$c" = lstm ] && lstm_row0=$row0 lstm_prompt0=${prompt[*]:0:$P} lstm_n=$((L - P))
  [ "$c" = gpt_eos ] && eos_prompt0=${prompt[*]:0:$P} eos_row0=$row0
done

# ---- the same models streaming (SPEC 9): caches, carry, a static source ----
# the prompt runs once, then one position a step: the same tokens and logits
for c in gpt gpt_eos lstm seq2seq; do
  d=$cases/$c
  read -r -a args <"$d/args"
  sed -e 's/causal: true, norm: true}/causal: true, norm: true, cache: 16}/' \
    -e 's/num_layers: 2}/num_layers: 2, carry: true}/' \
    -e 's/shape: \[B, S\]}/shape: [B, S], static: true}/' \
    -e 's/dim_feedforward: 64, causal: true}/dim_feedforward: 64, causal: true, cache: 16}/' \
    "$d/model.yaml" >"$tmp/$c.stream.yaml"
  expect_that "$c: the streaming model is the same model" \
    [ "$(cat "$d/model.yaml")" != "$(cat "$tmp/$c.stream.yaml")" ]
  succeeds "${gen[@]}" "$tmp/$c.stream.yaml" --weights "$d/weights.safetensors" \
    --input "$d/input.safetensors" "${args[@]}" --output "$tmp/$c.stream.st" --threads 2 --strict
  expect_tensors "$tmp/$c.stream.st" "$d/expected.safetensors"
  expect_that "$c streaming: a warning that the whole sequence runs again: '$ERR'" \
    [ "${ERR/runs the whole sequence/}" = "$ERR" ]
done

# ---- T5 (SPEC 10): an encoder on the static source, a cached decoder from start token 0 ----
# tests/golden/gen_generate_t5.py: greedy decoding of ref_t5.py's port, at 1 and 2 threads
d=$cases/t5_small
read -r -a args <"$d/args"
for th in 1 2; do
  succeeds "${gen[@]}" "$d/model.yaml" --weights "$d/weights.safetensors" \
    --input "$d/input.safetensors" "${args[@]}" --output "$tmp/t5.$th.st" --threads "$th" --strict
  expect_tensors "$tmp/t5.$th.st" "$d/expected.safetensors"
  expect_that "t5: the cached decoder runs one position a step: '$ERR'" \
    [ "${ERR/runs the whole sequence/}" = "$ERR" ]
done

# ---- --beams N: beam search (HF's num_beams) equals PyTorch's ----
# the best hypothesis of each row, its tokens exact and the logits of its
# path within SPEC 8: rerun from position 0 (1 thread), and streaming (its
# caches, carried states and encoded source reordered by the beams' parents)
for c in gpt_beams gpt_beams_eos lstm_beams seq2seq_beams; do
  d=$cases/$c
  read -r -a args <"$d/args"
  succeeds "${gen[@]}" "$d/model.yaml" --weights "$d/weights.safetensors" \
    --input "$d/input.safetensors" "${args[@]}" --output "$tmp/$c.st" --threads 1 --strict
  out=$OUT err=$ERR
  expect_tensors "$tmp/$c.st" "$d/expected.safetensors"
  expect_that "$c: no timing line with the beams: '$err'" grep -Eq \
    "^seqc: prefill [0-9.]+ ms \(2 x [0-9]+ tokens, 3 beams each\), [0-9.]+ ms per new token" <<<"$err"
  # one line per row at the end: the best hypothesis's new tokens, up to its eos
  read -r -a all <<<"$(values "$d/expected.safetensors" tokens)"
  tok=tokens
  [ "$c" = seq2seq_beams ] && tok=tgt
  read -r -a prompt <<<"$(values "$d/input.safetensors" $tok)"
  P=$((${#prompt[@]} / 2)) L=$((${#all[@]} / 2))
  row0=${all[*]:$P:$((L - P))} row1=${all[*]:$((L + P)):$((L - P))}
  if [ "$c" = gpt_beams_eos ]; then
    eos=${args[5]}
    row0=${row0%%" $eos "*}" $eos" row1=${row1%%" $eos "*}" $eos"
    beam_eos=$eos beam_prompt0=${prompt[*]:0:$P} beam_row0=$row0
  fi
  expect_that "$c: stdout is not the two rows '$row0' / '$row1': '$out'" \
    [ "$out" = "$row0"$'\n'"$row1" ]
  sed -e 's/causal: true, norm: true}/causal: true, norm: true, cache: 16}/' \
    -e 's/num_layers: 2}/num_layers: 2, carry: true}/' \
    -e 's/shape: \[B, S\]}/shape: [B, S], static: true}/' \
    -e 's/dim_feedforward: 64, causal: true}/dim_feedforward: 64, causal: true, cache: 16}/' \
    "$d/model.yaml" >"$tmp/$c.stream.yaml"
  succeeds "${gen[@]}" "$tmp/$c.stream.yaml" --weights "$d/weights.safetensors" \
    --input "$d/input.safetensors" "${args[@]}" --output "$tmp/$c.stream.st" --threads 2 --strict
  expect_tensors "$tmp/$c.stream.st" "$d/expected.safetensors"
  expect_that "$c streaming: a warning that the whole sequence runs again: '$ERR'" \
    [ "${ERR/runs the whole sequence/}" = "$ERR" ]
done
# the beams found what greedy did not (else the goldens would not tell them apart)
succeeds "${gen[@]}" "$cases/gpt_beams/model.yaml" --weights "$cases/gpt_beams/weights.safetensors" \
  --input "$cases/gpt_beams/input.safetensors" --max-new-tokens 6 --output "$tmp/greedy.st"
expect_that "gpt_beams: greedy gives the beams' tokens $(values "$tmp/greedy.st" tokens)" \
  [ "$(values "$tmp/greedy.st" tokens)" != "$(values "$cases/gpt_beams/expected.safetensors" tokens)" ]
# --beams 1 is greedy: the greedy golden, bit for bit
d=$cases/gpt
succeeds "${gen[@]}" "$d/model.yaml" --weights "$d/weights.safetensors" \
  --input "$d/input.safetensors" --max-new-tokens 6 --beams 1 --output "$tmp/b1.st" --threads 1
expect_tensors "$tmp/b1.st" "$tmp/gpt.1.st" --atol 0 --rtol 0
# --prompt (B = 1): row 0 of the batch, printed at the end, stopped at its eos
d=$cases/gpt_beams_eos
succeeds "${gen[@]}" "$d/model.yaml" --weights "$d/weights.safetensors" --threads 1 \
  --prompt "$beam_prompt0" --max-new-tokens 7 --beams 3 --eos "$beam_eos" --output "$tmp/bp.st"
expect_that "--beams 3 --prompt '$beam_prompt0' printed '$OUT', want '$beam_row0'" \
  [ "$OUT" = "$beam_row0" ]
expect_that "--beams --output tokens: $(values "$tmp/bp.st" tokens)" \
  [ "$(values "$tmp/bp.st" tokens | cut -d' ' -f1-$(wc -w <<<"$beam_prompt0 $beam_row0"))" = \
    "$beam_prompt0 $beam_row0" ]

# ---- --prompt: B = 1, the tokens printed as they come ----
# (the small LSTM from here on: each run JIT-compiles its model)
lm=("${gen[@]}" "$cases/lstm/model.yaml" --weights "$cases/lstm/weights.safetensors" --threads 1)
succeeds "${lm[@]}" --prompt "$lstm_prompt0" --max-new-tokens "$lstm_n" --output "$tmp/p.st"
expect_that "--prompt '$lstm_prompt0' printed '$OUT', want '$lstm_row0' (row 0 of the batch)" \
  [ "$OUT" = "$lstm_row0" ]
expect_err_re "^seqc: prefill [0-9.]+ ms \(1 x [0-9]+ tokens\)"
expect_that "--output tokens: $(values "$tmp/p.st" tokens)" \
  [ "$(values "$tmp/p.st" tokens)" = "$lstm_prompt0 $lstm_row0" ]
# the stop rule: B = 1 stops at the eos (printed), and writes the steps made
gpt=("${gen[@]}" "$cases/gpt_eos/model.yaml" --weights "$cases/gpt_eos/weights.safetensors" --threads 1)
eos=${eos_row0##* }
succeeds "${gpt[@]}" --prompt "$eos_prompt0" --max-new-tokens 20 --eos "$eos" --output "$tmp/e.st"
expect_that "--eos $eos: printed '$OUT', want '$eos_row0'" [ "$OUT" = "$eos_row0" ]
n=$(wc -w <<<"$eos_row0")
expect_that "--eos: not the logits of $n steps: $("$TOOLS/stdump" "$tmp/e.st")" \
  [ "$("$TOOLS/stdump" "$tmp/e.st" | grep -c "logits: f32 \[1, $n, 50\]")" = 1 ]
# an eos in the prompt does not count
first=${lstm_prompt0%% *}
succeeds "${lm[@]}" --prompt "$lstm_prompt0" --max-new-tokens 4 --eos "$first"
expect_that "--eos $first, which is in the prompt '$lstm_prompt0': '$OUT', want the first 4 of \
'$lstm_row0'" [ "$OUT" = "$(cut -d' ' -f1-4 <<<"$lstm_row0")" ]

# ---- sampling ----
# (greedy from this prompt is row 0 of the lstm golden: $tmp/p.st above)
samp=("${lm[@]}" --prompt "$lstm_prompt0" --max-new-tokens "$lstm_n")
# a nearly flat distribution: the same seed draws the same tokens, another seed others
succeeds "${samp[@]}" --temperature 1000 --seed 1 --output "$tmp/f1a.st"
succeeds "${samp[@]}" --temperature 1000 --seed 1 --output "$tmp/f1b.st"
expect_tensors "$tmp/f1a.st" "$tmp/f1b.st" --atol 0 --rtol 0
succeeds "${samp[@]}" --temperature 1000 --seed 2 --output "$tmp/f2.st"
expect_that "seeds 1 and 2 drew the same tokens: $(values "$tmp/f1a.st" tokens)" \
  [ "$(values "$tmp/f1a.st" tokens)" != "$(values "$tmp/f2.st" tokens)" ]
expect_that "sampling drew greedy's tokens: $(values "$tmp/f1a.st" tokens)" \
  [ "$(values "$tmp/f1a.st" tokens)" != "$(values "$tmp/p.st" tokens)" ]
# --top-k 1, or a tiny --top-p, with a temperature: greedy
succeeds "${samp[@]}" --temperature 0.8 --top-k 1 --seed 9 --output "$tmp/k1.st"
expect_tensors "$tmp/k1.st" "$tmp/p.st" --atol 0 --rtol 0
succeeds "${samp[@]}" --temperature 2 --top-p 1e-6 --seed 9 --output "$tmp/p0.st"
expect_tensors "$tmp/p0.st" "$tmp/p.st" --atol 0 --rtol 0

# ---- --vocab: text in, text out ----
# ids 0..47 of the LSTM: "a" "b" "ab" newline backslash "w1" "é" "w7".."w47"
{
  printf 'a\nb\nab\n\\n\n\\\\\nw1\n\xc3\xa9\n'
  for k in $(seq 7 47); do echo "w$k"; done
} >"$tmp/vocab.txt"
texts=(a b ab $'\n' '\' w1 $'\xc3\xa9')
for k in $(seq 7 47); do texts+=("w$k"); done
text=$'abab\n\\w17w1\xc3\xa9a' # ab ab newline backslash w17 w1 é a
succeeds "${lm[@]}" --prompt "2 2 3 4 17 5 6 0" --max-new-tokens 5 --output "$tmp/ids.st"
ids=$OUT
succeeds "${lm[@]}" --vocab "$tmp/vocab.txt" --prompt "$text" --max-new-tokens 5 --output "$tmp/txt.st"
out=$OUT
expect_tensors "$tmp/txt.st" "$tmp/ids.st" --atol 0 --rtol 0
want=
for id in $ids; do want+=${texts[$id]}; done
want=$(printf '%s' "$want") # as $OUT: without trailing newlines
expect_that "--vocab printed '$out', want '$want' (the texts of $ids)" [ "$out" = "$want" ]
fails 1 "${lm[@]}" --vocab "$tmp/vocab.txt" --prompt $'w1\xc3\xa9w7 a'
expect_err "--prompt: no token of $tmp/vocab.txt starts with ' ' (character 6 of the prompt)"
head -n 30 "$tmp/vocab.txt" >"$tmp/short.txt"
fails 1 "${lm[@]}" --vocab "$tmp/short.txt" --prompt "a"
expect_err "short.txt: 30 tokens, but the model's logits have V = 48"
printf 'a\nb\\tc\n' >"$tmp/bad.txt"
fails 1 "${lm[@]}" --vocab "$tmp/bad.txt" --prompt "a"
expect_err "bad.txt: line 2: '\\t' is no escape"

# ---- bad input ----
fails 1 "${gen[@]}" "$SRC/models/lstm.yaml" --random-weights 1 --prompt "1 2"
expect_err "the model has no token input: generate needs an integer input [B, T]"
cat >"$tmp/pooled.yaml" <<'EOF'
seqc: 1
name: pooled
dims: {B: 1, T: 4}
inputs:
  tokens: {dtype: i32, shape: [B, T]}
outputs: [avg]
nodes:
  embed: {op: embedding, input: tokens, num_embeddings: 10, embedding_dim: 8}
  avg:   {op: mean, input: embed, dim: 1}
EOF
fails 1 "${gen[@]}" "$tmp/pooled.yaml" --random-weights 1 --prompt "1 2"
expect_err "the first output 'avg' is f32 [B, 8]: generate needs logits f32 [B, T, V]"
sed -e 's/^outputs: \[avg\]/outputs: [embed]/' -e 's/^inputs:/inputs:\n  extra: {dtype: f32, shape: [B, T, 8]}/' \
  "$tmp/pooled.yaml" >"$tmp/extra.yaml"
fails 1 "${gen[@]}" "$tmp/extra.yaml" --random-weights 1 --prompt "1 2"
expect_err "input 'extra' has the position dim T too: generate feeds tokens along T"
s2s=("${gen[@]}" "$cases/seq2seq/model.yaml" --weights "$cases/seq2seq/weights.safetensors")
fails 1 "${s2s[@]}" --prompt "1 2"
expect_err "input 'src' is not given"
fails 1 "${s2s[@]}" --input "$cases/gpt/input.safetensors"
expect_err "input 'src' is missing"
fails 1 "${gpt[@]}" --prompt "1 2" --eos 50
expect_err "--eos 50 is no token id: the logits have V = 50 ids"
fails 1 "${gpt[@]}" --prompt "1 2" --dim T=5 --max-new-tokens 5
expect_err "--dim T=5: the prompt (2) and the new tokens need runs of T = 6"
for bad in "--top-p 0" "--top-p 1.5" "--temperature -1" "--top-p x" "--max-new-tokens 0"; do
  read -r -a b <<<"$bad"
  fails 2 "${gpt[@]}" --prompt "1 2" "${b[@]}"
  expect_err "${b[0]} wants"
done
for bad in "--beams 0" "--beams x" "--beams -2"; do
  read -r -a b <<<"$bad"
  fails 2 "${gpt[@]}" --prompt "1 2" "${b[@]}"
  expect_err "--beams wants"
done
fails 2 "${gpt[@]}" --prompt "1 2" --beams 2 --temperature 0.5
expect_err "--beams 2 with --temperature 0.5: beam sampling is not supported"
fails 1 "${gpt[@]}" --prompt "1 2" --beams 26
expect_err "--beams 26: beam search keeps the best 2N = 52 continuations, but the logits have V = 50 ids"
fails 2 "${gpt[@]}" --prompt "1 x 2"
expect_err "--prompt wants token ids separated by spaces"
fails 2 "${gpt[@]}" --prompt "1" --input "$cases/gpt/input.safetensors"
expect_err "give exactly one of --prompt and --input"
fails 2 "${gen[@]}" "$cases/gpt/model.yaml" --prompt "1"
expect_err "give exactly one of --weights and --random-weights"

# ---- help ----
succeeds "$SEQC" generate --help
expect_out_re "^usage: seqc generate MODEL.yaml"
help=$OUT
succeeds "$SEQC" help generate
expect_that "seqc help generate differs from seqc generate --help" [ "$OUT" = "$help" ]

finish 223
