#!/usr/bin/env bash
# SPEC 11 end to end, through every way a model runs (JIT at 1 and 2 threads,
# the interpreter, an object linked into a program, a shared library run by
# seqrt-run): a GPT whose head shares its embedding's weight, loaded from the
# file safetensors.torch.save_model writes (one copy, the golden case
# tied_gpt); the same file with both copies (the unused-parameter warning, an
# error with --strict); --random-weights; integer inputs given as i32 or i64
# whatever the model says, and an i64 value outside an i32 input's range (a
# data error naming the input and the position, exit 1); argmax's i64 output.
# Needs $SEQC, $SRC and $TOOLS (stcompare; the build folder is its parent).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tools/driver.sh"

case_dir=$SRC/tests/golden/cases/tied_gpt
m=$tmp/m.yaml
cp "$case_dir/model.yaml" "$m"
W=$case_dir/weights.safetensors
IN64=$case_dir/input.safetensors # i64 tokens for the model's i32 input
want=$case_dir/expected.safetensors

# mk OUT NAME DTYPE SHAPE VALUES: one tensor (VALUES comma-separated), by python's standard library
mk() {
  /usr/bin/python3 - "$@" <<'PY'
import json, struct, sys
out, name, dtype, shape, values = sys.argv[1:]
fmt = {"F32": "f", "I32": "i", "I64": "q"}[dtype]
vals = [float(v) if dtype == "F32" else int(v) for v in values.split(",")]
raw = struct.pack("<%d%s" % (len(vals), fmt), *vals)
h = json.dumps({name: {"dtype": dtype, "shape": [int(d) for d in shape.split("x")],
                       "data_offsets": [0, len(raw)]}}).encode()
h += b" " * (-len(h) % 8)
open(out, "wb").write(struct.pack("<Q", len(h)) + h + raw)
PY
}

# with_copy IN OUT: IN's tensors plus lm_head.weight, a second copy of embed.weight
# (a plain state_dict saved without save_model's dedup)
with_copy() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
header.pop("__metadata__", None)
a, b = header["embed.weight"]["data_offsets"]
header["lm_head.weight"] = dict(header["embed.weight"], data_offsets=[len(data), len(data) + b - a])
data += data[a:b]
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
}

# the tokens of the golden input as i32 (the model's own dtype)
toks=$("$TOOLS/stdump" "$IN64" -n 18 | sed -n 's/^tokens: i64 \[2, 9\] = //p' | tr ' ' ',')
expect_that "the golden tokens, 18 of them: '$toks'" [ "$(echo "$toks" | tr ',' '\n' | wc -l)" -eq 18 ]
mk "$tmp/in32.st" tokens I32 2x9 "$toks"

# the parameter table lists the shared weight once, under its owner's name
succeeds "$SEQC" check "$m"
expect_out_re "^  embed\.weight +\[61, 16\]"; expect_out_lacks_re "lm_head\.weight"; expect_no_err

# JIT, interpreter: one-copy file, i64 and i32 tokens, equal to PyTorch
for how in "--threads 1" "--threads 2" --interpret; do
  for in in "$IN64" "$tmp/in32.st"; do
    succeeds "$SEQC" run "$m" --weights "$W" --input "$in" --output "$tmp/o.st" $how --strict
    expect_no_err
    expect_tensors "$tmp/o.st" "$want"
  done
done

# an object linked into a program, and a shared library under seqrt-run
succeeds "$SEQC" compile "$m" -o "$tmp/m.o" --header "$tmp/m.h"
sym=$(symbol_of "$tmp/m.h")
if succeeds link "$tmp/drv" "$sym" "$tmp/m.o"; then
  for n in 1 2; do
    for in in "$IN64" "$tmp/in32.st"; do
      succeeds "$tmp/drv" run --weights "$W" --input "$in" --output "$tmp/obj.st" --threads $n
      expect_tensors "$tmp/obj.st" "$want"
    done
  done
fi
succeeds "$SEQC" compile "$m" -o "$tmp/m.so" --emit shared
for n in 1 2; do
  succeeds "$RT/seqrt-run" "$tmp/m.so" --weights "$W" --input "$tmp/in32.st" --output "$tmp/so.st" \
    --threads $n --strict
  expect_no_err
  expect_tensors "$tmp/so.st" "$want"
done
# the weights carried inside the object: one parameter
succeeds "$SEQC" compile "$m" -o "$tmp/e.so" --emit shared --embed-weights "$W" --strict
succeeds "$RT/seqrt-run" "$tmp/e.so" --input "$IN64" --output "$tmp/e.st"
expect_tensors "$tmp/e.st" "$want"

# a file with both copies: the head's is not a parameter of the model
with_copy "$W" "$tmp/both.st"
succeeds "$SEQC" run "$m" --weights "$tmp/both.st" --input "$IN64" --output "$tmp/o.st"
expect_err "unused parameter 'lm_head.weight' in weights file"
expect_tensors "$tmp/o.st" "$want"
succeeds "$SEQC" run "$m" --weights "$tmp/both.st" --input "$IN64" --output "$tmp/o.st" --interpret
expect_err "unused parameter 'lm_head.weight' in weights file"
fails 1 "$SEQC" run "$m" --weights "$tmp/both.st" --input "$IN64" --strict
expect_err "unused parameter 'lm_head.weight' in weights file"
fails 1 "$SEQC" run "$m" --weights "$tmp/both.st" --input "$IN64" --strict --interpret
expect_err "unused parameter 'lm_head.weight'"
fails 1 "$RT/seqrt-run" "$tmp/m.so" --weights "$tmp/both.st" --input "$IN64" --strict
expect_err "unused parameter 'lm_head.weight' in weights file"

# --random-weights fills the one weight once: compiled and interpreted agree
succeeds "$SEQC" run "$m" --random-weights 3 --input "$IN64" --output "$tmp/r1.st"
succeeds "$SEQC" run "$m" --random-weights 3 --input "$IN64" --output "$tmp/r2.st" --interpret
expect_tensors "$tmp/r1.st" "$tmp/r2.st"
succeeds "$RT/seqrt-run" "$tmp/m.so" --random-weights 3 --input "$IN64" --output "$tmp/r3.st"
expect_tensors "$tmp/r3.st" "$tmp/r2.st"

# an i64 token outside the i32 range: a data error naming the input and the position
mk "$tmp/big.st" tokens I64 2x9 "1,2,3,4,5,6,7,8,9,10,11,12,8589934592,14,15,16,17,18"
msg="input 'tokens': value 8589934592 at [1, 3] is outside the range of its dtype i32"
fails 1 "$SEQC" run "$m" --weights "$W" --input "$tmp/big.st"; expect_err "$msg"
fails 1 "$SEQC" run "$m" --weights "$W" --input "$tmp/big.st" --interpret; expect_err "$msg"
fails 1 "$RT/seqrt-run" "$tmp/m.so" --weights "$W" --input "$tmp/big.st"; expect_err "$msg"
mk "$tmp/neg.st" tokens I64 2x9 "1,-2147483649,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18"
fails 1 "$SEQC" run "$m" --weights "$W" --input "$tmp/neg.st"
expect_err "input 'tokens': value -2147483649 at [0, 1] is outside the range of its dtype i32"
# in range but no token of the table: the embedding's own error, on the converted indices
mk "$tmp/oob.st" tokens I64 2x9 "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,61,18"
fails 1 "$SEQC" run "$m" --weights "$W" --input "$tmp/oob.st"
expect_err "index 61 out of range [0, 61) at position [1, 7] of 'tokens'"

# i32 data for an i64 input, the other way round
sed 's/dtype: i32/dtype: i64/' "$m" >"$tmp/m64.yaml"
for how in "--threads 2" --interpret; do
  succeeds "$SEQC" run "$tmp/m64.yaml" --weights "$W" --input "$tmp/in32.st" --output "$tmp/o.st" $how
  expect_tensors "$tmp/o.st" "$want"
done

finish
