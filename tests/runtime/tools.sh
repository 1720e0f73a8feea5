#!/usr/bin/env bash
# The test tools: stcompare (tolerances, NaN, ints, dtype/shape/missing
# mismatches, exit statuses) and stdump. Files are written by python3's
# standard library, independently of the runtime's writer.
# Needs $TOOLS (the tools' folder); run by ctest.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect STATUS PATTERN CMD...: runs CMD, wants exit STATUS and PATTERN (grep -E) in its output
expect() {
  local want=$1 pattern=$2
  shift 2
  local out status
  out=$("$@" 2>&1)
  status=$?
  if [ "$status" -eq "$want" ] && printf '%s\n' "$out" | grep -Eq -- "$pattern"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $* -> status $status (want $want), output:"
    printf '%s\n' "$out" | head -20
    echo "  (wanted /$pattern/)"
  fi
}

# mk FILE 'NAME DTYPE SHAPE VALUES' ...: SHAPE like 2x3 (or - for a scalar), VALUES comma-separated
mk() {
  /usr/bin/python3 - "$@" <<'PY'
import json, struct, sys
fmt = {"F32": "f", "F16": "e", "I32": "i", "I64": "q"}
header, data = {}, b""
for spec in sys.argv[2:]:
    name, dtype, shape, values = spec.split(" ")
    dims = [] if shape == "-" else [int(d) for d in shape.split("x")]
    vals = [float(v) if dtype[0] == "F" else int(v) for v in values.split(",") if v != ""]
    raw = struct.pack("<%d%s" % (len(vals), fmt[dtype]), *vals)
    header[name] = {"dtype": dtype, "shape": dims, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
}

mk "$tmp/want.st" "a F32 2x2 1,2,3,4" "i I32 3 1,2,3" "n F32 2 nan,1"
mk "$tmp/same.st" "a F32 2x2 1,2,3,4" "i I32 3 1,2,3" "n F32 2 nan,1"
mk "$tmp/extra.st" "a F32 2x2 1,2,3,4" "i I32 3 1,2,3" "n F32 2 nan,1" "extra F32 1 0"
mk "$tmp/empty.st"
mk "$tmp/close.st" "a F32 2x2 1.00001,2,3,4" "i I32 3 1,2,3" "n F32 2 nan,1"
mk "$tmp/far.st" "a F32 2x2 1,2.001,3,4" "i I32 3 1,2,3" "n F32 2 nan,1"
mk "$tmp/int.st" "a F32 2x2 1,2,3,4" "i I32 3 1,2,4" "n F32 2 nan,1"
mk "$tmp/nan.st" "a F32 2x2 1,2,3,4" "i I32 3 1,2,3" "n F32 2 0,1"
mk "$tmp/dtype.st" "a F32 2x2 1,2,3,4" "i I64 3 1,2,3" "n F32 2 nan,1"
mk "$tmp/shape.st" "a F32 4 1,2,3,4" "i I32 3 1,2,3" "n F32 2 nan,1"
mk "$tmp/missing.st" "a F32 2x2 1,2,3,4" "n F32 2 nan,1"
mk "$tmp/half.st" "a F16 2x2 1,2,3,4" "i I32 3 1,2,3" "n F16 2 nan,1"
mk "$tmp/big.st" "b F32 1 1000"
mk "$tmp/big2.st" "b F32 1 1000.05"

S="$TOOLS/stcompare"
expect 0 "^a: f32 \[2, 2\] max abs err 0 ok" "$S" "$tmp/same.st" "$tmp/want.st"
expect 0 "all tensors match" "$S" "$tmp/same.st" "$tmp/want.st"
expect 1 "^extra: MISMATCH: only in .*extra.st" "$S" "$tmp/extra.st" "$tmp/want.st"
expect 1 "^a: .* ok" "$S" "$tmp/extra.st" "$tmp/want.st"
# an expected file without tensors proves nothing: a mismatch, whatever GOT holds
expect 1 "MISMATCH: .*empty.st holds no tensors" "$S" "$tmp/want.st" "$tmp/empty.st"
expect 1 "MISMATCH: .*empty.st holds no tensors" "$S" "$tmp/empty.st" "$tmp/empty.st"
expect 0 "^a: .* ok" "$S" "$tmp/close.st" "$tmp/want.st"
expect 1 "^a: .*MISMATCH: 1 of 4 elements, first at \[0, 1\]: got 2.00099993, want 2" \
  "$S" "$tmp/far.st" "$tmp/want.st"
expect 0 "all tensors match" "$S" "$tmp/far.st" "$tmp/want.st" --atol 1e-2
expect 0 "all tensors match" "$S" "$tmp/far.st" "$tmp/want.st" --rtol 1e-3
expect 1 "^i: i32 \[3\] .*MISMATCH.*\[2\]: got 4, want 3" "$S" "$tmp/int.st" "$tmp/want.st"
expect 1 "^n: .*MISMATCH.*\[0\]: got 0, want nan" "$S" "$tmp/nan.st" "$tmp/want.st"
expect 1 "^n: .*MISMATCH" "$S" "$tmp/want.st" "$tmp/nan.st"
expect 1 "^i: MISMATCH: got i64 \[3\], want i32 \[3\]" "$S" "$tmp/dtype.st" "$tmp/want.st"
expect 1 "^a: MISMATCH: got f32 \[4\], want f32 \[2, 2\]" "$S" "$tmp/shape.st" "$tmp/want.st"
expect 1 "^i: MISMATCH: missing in" "$S" "$tmp/missing.st" "$tmp/want.st"
expect 0 "all tensors match" "$S" "$tmp/same.st" "$tmp/half.st"
expect 0 "all tensors match" "$S" "$tmp/big2.st" "$tmp/big.st"
expect 1 "MISMATCH" "$S" "$tmp/big2.st" "$tmp/big.st" --rtol 0
expect 1 "cannot open" "$S" "$tmp/nope.st" "$tmp/want.st"
expect 2 "usage" "$S"
expect 2 "usage" "$S" "$tmp/want.st"
expect 2 "--atol wants" "$S" "$tmp/want.st" "$tmp/want.st" --atol x
expect 2 "--rtol wants" "$S" "$tmp/want.st" "$tmp/want.st" --rtol
expect 2 "unknown option" "$S" "$tmp/want.st" "$tmp/want.st" --bogus

D="$TOOLS/stdump"
expect 0 "^a: f32 \[2, 2\] = 1 2 3 4$" "$D" "$tmp/want.st"
expect 0 "^i: i32 \[3\] = 1 2 3$" "$D" "$tmp/want.st"
expect 0 "^a: f32 \[2, 2\] = 1 2 \.\.\.$" "$D" "$tmp/half.st" -n 2
expect 0 "^a: f32 \[2, 2\] = 1 2 3 4$" "$D" "$tmp/half.st" -n 0
printf 'abc' >"$tmp/short.st"
expect 1 "corrupt safetensors file" "$D" "$tmp/short.st"
expect 2 "usage" "$D"

echo "tools: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
