#!/usr/bin/env bash
# Kernel functions (issue 18): every kernel is an LLVM function of its own
# and identical kernels are one function, so the code grows with the number
# of distinct kernels, not with the number of layers. models/bert_encoder.yaml
# and models/gpt_decoder.yaml (caches, split-K attention) at several layer
# counts, compiled to optimized LLVM IR (`seqc compile --emit llvm`): the
# count of kernel functions defined is the same at 2, 6 and 12 layers, while
# the calls of them grow with the layers (an entry's are rows of its table
# of kernels, `{ ptr @kernel.N, ...}`; a scan's, call instructions). (kernel.gemm.* and kernel.epi.*,
# the shared GEMMs and their epilogues, are counted apart.)
# (A compile that fails leaves the counts empty, which fails the checks.)
# Needs $SEQC and $SRC.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

# kernels MODEL LAYERS: "DEFINED CALLED" of MODEL with num_layers LAYERS
kernels() {
  local yaml=$tmp/$1-$2.yaml ll=$tmp/$1-$2.ll
  sed "s/num_layers: [0-9]*/num_layers: $2/" "$SRC/models/$1.yaml" >"$yaml"
  quiet "$SEQC" compile "$yaml" -o "$ll" --emit llvm || return
  echo "$(grep -c '^define .*@kernel\.[0-9]*(' "$ll")" \
    "$(grep -o 'call [^@]*@kernel\.[0-9]*(\|{ ptr @kernel\.[0-9]*,' "$ll" | wc -l)"
}

for m in bert_encoder gpt_decoder; do
  read -r d2 c2 <<<"$(kernels $m 2)"
  read -r d6 c6 <<<"$(kernels $m 6)"
  read -r d12 c12 <<<"$(kernels $m 12)"
  expect_that "$m: no kernel functions at 2 layers ($d2)" [ "${d2:-0}" -gt 5 ]
  expect_that "$m: $d2 kernel functions at 2 layers, $d6 at 6" [ "$d2" = "$d6" ]
  expect_that "$m: $d2 kernel functions at 2 layers, $d12 at 12" [ "$d2" = "$d12" ]
  expect_that "$m: calls $c2 at 2 layers, $c12 at 12: not growing with the layers" \
    [ "${c12:-0}" -gt "$((${c2:-0} + 9))" ]
done

# The GEMMs: every linear of a Transformer calls one shared GEMM function,
# and its attentions two more specialized to their tile (Q K^T and P V), so
# its LLVM IR defines exactly three at any layer count; a model with one or
# two GEMMs keeps them inline (a constant-size GEMM is cheaper to compile
# than a shared one).
gemm_defs() { grep -c '^define .*@kernel\.gemm\.' "$1"; }
ll=$tmp/bert_encoder-12.ll
expect_that "bert_encoder: $(gemm_defs "$ll") shared GEMM functions, want 3" \
  [ "$(gemm_defs "$ll")" = 3 ]
quiet "$SEQC" compile "$SRC/models/token_classifier.yaml" -o "$tmp/tc.ll" --emit llvm
expect_that "token_classifier: a shared GEMM for one linear" [ "$(gemm_defs "$tmp/tc.ll")" = 0 ]
finish 13
