#!/usr/bin/env bash
# Memory limits (issue 23): a run that needs more memory than --max-memory
# (default: MemAvailable) is an error naming the need and the limit, exit 1,
# before anything large is allocated: quickly, in little memory, never the
# OOM killer. A model whose session alone is too large is refused after the
# passes, before LLVM compiles it (cli_compile_timed), so with or without the
# compile cache the error comes within a second and 100 MB (timed and its
# peak RSS measured with /usr/bin/time); a session that fits but whose random
# parameters and inputs do not is refused by the driver. Bad sizes
# are usage errors (exit 2), in seqc and in seqrt-run.
# Needs $SEQC, $SRC and $TOOLS; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
RT=$(dirname "$TOOLS")/runtime

# timed CMD...: as run, with the peak RSS (KB) in $RSS_KB and the wall time (s) in $SECS
timed() {
  run /usr/bin/time -f "%M %e" -o "$tmp/time" "$@"
  read -r RSS_KB SECS < <(tail -n 1 "$tmp/time") # after "Command exited with ..."
}

# fast_and_small WHAT: the last timed command took under a second and 100 MB
fast_and_small() {
  expect_that "$1: peak RSS ${RSS_KB} KB, not under 100 MB" [ "$RSS_KB" -lt 102400 ]
  expect_that "$1: took ${SECS} s, not under 1 s" awk "BEGIN { exit !($SECS < 1) }"
  echo "$1: error after ${SECS} s, peak RSS ${RSS_KB} KB"
}

# an attention model at ten million positions: 134 GiB of arena, more than any
# machine that runs the tests has available
attn=(run "$SRC/models/bert_encoder.yaml" --random-weights 1 --random-input 1
      --dim T=10000000 --output "$tmp/o.st")
fails 1 "$SEQC" "${attn[@]}"
expect_err_re "seqc: error: the run needs at least [0-9.]+ GiB of memory \(arena [0-9.]+ GiB"
expect_err "the machine has available (--max-memory SIZE sets the limit)"
timed "$SEQC" "${attn[@]}" --no-cache
expect_status 1
fast_and_small "bert_encoder T=10000000 (no compile cache)"
timed "$SEQC" "${attn[@]}"
expect_status 1
fast_and_small "bert_encoder T=10000000"
expect_that "no output written" [ ! -e "$tmp/o.st" ]

# bench and generate of a cached decoder at the same length
fails 1 "$SEQC" bench "$SRC/models/gpt_decoder.yaml" --dim T=10000000
expect_err "seqc: error: the run needs"
timed "$SEQC" bench "$SRC/models/gpt_decoder.yaml" --dim T=10000000 --no-cache
expect_status 1
fast_and_small "bench gpt_decoder T=10000000"
# generate compiles with T left to run time: it checks its plan (the longest run)
timed "$SEQC" generate "$SRC/models/gpt_decoder.yaml" --random-weights 1 --prompt "1 2" \
  --dim T=10000000 --no-cache
expect_status 1
expect_err "seqc: error: the run needs"
fast_and_small "generate gpt_decoder T=10000000 (no compile cache)"

# a 24-layer encoder at B=512 (624 MiB) under a 256 MB limit
sed 's/num_layers: 4/num_layers: 24/' "$SRC/models/bert_encoder.yaml" >"$tmp/enc24.yaml"
enc=(run "$tmp/enc24.yaml" --random-weights 1 --random-input 1 --dim B=512 --max-memory 256M)
fails 1 "$SEQC" "${enc[@]}"
expect_err_re "the run needs at least [0-9.]+ MiB of memory .*, more than the 256.0 MiB that --max-memory allows"
timed "$SEQC" "${enc[@]}"
expect_status 1
fast_and_small "24-layer encoder B=512"

# a session that fits, but not with its random parameters: the driver's check,
# after the compile, counts them (bert_encoder: 12 MiB of prepared weights,
# 42 MiB of parameters)
fails 1 "$SEQC" run "$SRC/models/bert_encoder.yaml" --random-weights 1 --random-input 1 \
  --max-memory 30M
expect_err_re "the run needs [0-9.]+ MiB of memory \(arena .*parameters [0-9.]+ MiB, inputs .*\), more than the 30.0 MiB that --max-memory allows"

# within the limit the run is made; the same model under a smaller one is not
mlp=(run "$SRC/models/mlp.yaml" --random-weights 1 --random-input 1)
succeeds "$SEQC" "${mlp[@]}" --max-memory 64M
fails 1 "$SEQC" "${mlp[@]}" --max-memory 1K
expect_err "more than the 1.0 KiB that --max-memory allows"

# sizes: usage errors
for bad in 0 12Q -5 1.5G M 99999999999999999999G; do
  fails 2 "$SEQC" "${mlp[@]}" --max-memory "$bad"
  expect_err "--max-memory wants a size such as 512M or 2G, got '$bad'"
done
fails 2 "$SEQC" "${mlp[@]}" --max-memory
expect_err "--max-memory needs a size"
for good in 2G 2g 2GB 400000000 1T; do
  succeeds "$SEQC" "${mlp[@]}" --max-memory "$good"
done

# seqrt-run: the same limit through the runtime's driver
succeeds "$SEQC" compile "$SRC/models/mlp.yaml" -o "$tmp/m.so" --emit shared
succeeds "$TOOLS/stgen" "$tmp/in.st" x=4x32x256
succeeds "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --max-memory 64M --input "$tmp/in.st"
fails 1 "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --max-memory 1K --input "$tmp/in.st"
expect_err "seqrt-run: error: the run needs"
fails 2 "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --max-memory 1X --input "$tmp/in.st"
expect_err "--max-memory wants a size such as 512M or 2G, got '1X'"

finish
