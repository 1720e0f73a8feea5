#!/usr/bin/env bash
# What fuzz/run.sh found, one case each, as the command a user would type
# (the reproducer of the finding, made readable). Each was a crash or a
# sanitizer report before its fix.
# Needs $SEQC (the binary) and $SRC; run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

cp "$here/small_mlp.yaml" "$tmp/m.yaml"

# fuzz_cli: `--dim B=999999999999999999994` was read as B=INT64_MAX (strtoll's
# saturation), and the FLOPs of `check` at that B overflowed int64 (UBSan:
# signed integer overflow in ir_type_numel_eval). A number out of range is a
# usage error; a huge dim gives huge counts, saturated, never wrapped.
fails 2 "$SEQC" check "$tmp/m.yaml" --dim B=999999999999999999994
expect_err "--dim wants NAME=POSITIVE_INTEGER, got 'B=999999999999999999994'"
fails 2 "$SEQC" run "$tmp/m.yaml" --random-weights 99999999999999999999 --random-input 1
expect_err "--random-weights wants a non-negative integer seed"
succeeds "$SEQC" check "$tmp/m.yaml" --dim B=9223372036854775807
expect_out_re "^flops: [0-9.e+]+ "
expect_out_lacks_re "^flops: -"

finish
