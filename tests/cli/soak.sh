#!/usr/bin/env bash
# A generation soak (issue 23): 100,000 tokens through a windowed, cached
# decoder (the gpt golden with window 32 and a cache of 64) keep the peak RSS
# of 1,000 tokens (within 4 MB: the tokens themselves, 8 bytes each, are the
# only thing that grows), and every token is printed.
# Needs $SEQC and $SRC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

d=$SRC/tests/golden/generate/gpt
sed 's/causal: true, norm: true}/causal: true, norm: true, window: 32, cache: 64}/' \
  "$d/model.yaml" >"$tmp/soak.yaml"
expect_that "the soak model has a window and a cache" grep -q "window: 32, cache: 64" "$tmp/soak.yaml"
# peak RSS in kB of one generate of N tokens, and its word count
peak() {
  /usr/bin/python3 - "$SEQC" "$tmp/soak.yaml" "$d/weights.safetensors" "$1" "$tmp/out.$1" <<'PY'
import resource, subprocess, sys
seqc, model, weights, n, out = sys.argv[1:]
with open(out, "w") as f:
    subprocess.run([seqc, "generate", model, "--weights", weights, "--prompt", "1 2 3",
                    "--max-new-tokens", n, "--threads", "1"], stdout=f, check=True,
                   stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
succeeds peak 1000
small=$OUT
succeeds peak 100000
big=$OUT
expect_that "100000 tokens: peak RSS $big kB, against $small kB for 1000" [ "$big" -le $((small + 4096)) ]
expect_that "100000 tokens printed" [ "$(wc -w <"$tmp/out.100000")" -eq 100000 ]
finish
