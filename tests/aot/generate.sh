#!/usr/bin/env bash
# A C program linked with an object from `seqc compile` and libseqrt generates
# text with the session API (SPEC 9: new, run, position, reset;
# tests/aot/generate.c): the trained character LSTM (carry) and a small GPT
# stack with caches give the tokens `seqc generate` gives, twice (after a
# reset) in one session. Needs $SEQC, $SRC and $TOOLS.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tools/driver.sh"

# gen_round NAME YAML WEIGHTS N PROMPT...: compile, link, generate both ways
gen_round() {
  local name=$1 yaml=$2 weights=$3 n=$4 d=$tmp/$1
  shift 4
  mkdir -p "$d"
  succeeds "$SEQC" compile "$yaml" -o "$d/m.o" --header "$d/m.h" || return
  local sym
  sym=$(symbol_of "$d/m.h")
  succeeds "$CC" -O1 "${SAN[@]}" -I"$SRC/runtime" -DSEQC_MODEL="$sym" "$SRC/tests/aot/generate.c" \
    "$d/m.o" "$RT/libseqrt.a" -fopenmp -lcjson -lm -o "$d/gen" || return
  succeeds "$d/gen" "$weights" "$n" "$@"
  local got=$OUT
  succeeds "$SEQC" generate "$yaml" --weights "$weights" --prompt "$*" --max-new-tokens "$n"
  expect_that "$name: the C program generated '$got', seqc generate '$OUT'" [ "$got" = "$OUT" ]
  expect_that "$name: no tokens" [ -n "$got" ]
}

gen_round char_lstm "$SRC/models/char_lstm.yaml" "$SRC/models/char_lstm.safetensors" 60 \
  31 44 41 1 # "The "
g=$SRC/tests/golden/generate/gpt
sed 's/causal: true, norm: true}/causal: true, norm: true, cache: 64}/' "$g/model.yaml" \
  >"$tmp/gpt.yaml"
gen_round gpt "$tmp/gpt.yaml" "$g/weights.safetensors" 40 3 14 15 9 2

# no allocation per token: 1000 decode steps leave the peak resident size
# where 10 left it (a cache of 1100 positions, placed when the session began),
# within 256 KiB: the process's own pages (thread stacks, stdio) moved by 128
# KiB once on a loaded machine; a run allocating a cache row per token would
# grow it by megabytes
sed 's/causal: true, norm: true}/causal: true, norm: true, cache: 1100}/' "$g/model.yaml" \
  >"$tmp/gpt1100.yaml"
d=$tmp/gpt1100
mkdir -p "$d"
if succeeds "$SEQC" compile "$tmp/gpt1100.yaml" -o "$d/m.o" --header "$d/m.h" &&
  succeeds "$CC" -O1 "${SAN[@]}" -I"$SRC/runtime" -DSEQC_MODEL="$(symbol_of "$d/m.h")" \
    "$SRC/tests/aot/generate.c" "$d/m.o" "$RT/libseqrt.a" -fopenmp -lcjson -lm -o "$d/gen"; then
  succeeds "$d/gen" --rss "$g/weights.safetensors" 3 14 15 9 2
  read -r after10 after1000 <<<"$OUT"
  expect_that "peak RSS ${after10:-?} KiB after 10 steps, ${after1000:-?} after 1000" \
    [ -n "$after10" ] && [ "$after1000" -le "$((after10 + 256))" ]
fi

finish 16
