#!/usr/bin/env bash
# The status line on stderr: nothing when stderr is not a terminal (every
# other test reads a clean stderr); on a terminal (SEQC_PROGRESS=1, and a
# real pty through script(1) when it is installed) bench shows its runs and
# generate its tokens, each line rewritten in place and erased at the end,
# so the command's own output is unchanged.
# Needs $SEQC and $SRC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

mlp=$SRC/models/mlp.yaml
succeeds "$SEQC" bench "$mlp" --iters 3 --threads 1
expect_no_err
plain=$OUT

succeeds env SEQC_PROGRESS=1 "$SEQC" bench "$mlp" --iters 3 --threads 1
expect_err "seqc: bench mlp: run 1, last "
expect_that "the line is erased at the end" [ "${ERR: -4}" = $'\r\e[K' ]
expect_that "stdout unchanged" [ "$(printf '%s\n' "$OUT" | head -n 1)" = "$(printf '%s\n' "$plain" | head -n 1)" ]
succeeds env SEQC_PROGRESS=0 "$SEQC" bench "$mlp" --iters 3 --threads 1
expect_no_err

gpt=$SRC/tests/golden/generate/gpt
succeeds env SEQC_PROGRESS=1 "$SEQC" generate "$gpt/model.yaml" --weights "$gpt/weights.safetensors" \
  --prompt "1 2 3" --max-new-tokens 4 --threads 1
expect_err "seqc: generate: token 1 of 4"

if command -v script > /dev/null; then # stderr a real terminal: isatty decides
  succeeds script -qec "$SEQC bench $mlp --iters 3 --threads 1" /dev/null
  expect_out "seqc: bench mlp: run 1, last "
fi
finish
