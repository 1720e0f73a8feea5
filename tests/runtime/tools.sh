#!/usr/bin/env bash
# The test tools: stcompare (tolerances, NaN, ints, dtype/shape/missing
# mismatches, exit statuses) and stdump, whose results go to stdout and whose
# errors go to stderr; and the shell tests' harness, tests/tools/check.sh,
# which must fail a test when a check fails, when no check ran, and on an
# empty pattern. Files are written by python3's standard library,
# independently of the runtime's writer.
# Needs $TOOLS (the tools' folder); run by ctest.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

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
succeeds "$S" "$tmp/same.st" "$tmp/want.st"
expect_out_re "^a: f32 \[2, 2\] max abs err 0 ok"; expect_no_err
succeeds "$S" "$tmp/same.st" "$tmp/want.st"; expect_out "all tensors match"; expect_no_err
run "$S" "$tmp/extra.st" "$tmp/want.st"
expect_status 1; expect_out_re "^extra: MISMATCH: only in .*extra.st"; expect_no_err
run "$S" "$tmp/extra.st" "$tmp/want.st"; expect_status 1; expect_out_re "^a: .* ok"; expect_no_err
# an expected file without tensors proves nothing: a mismatch, whatever GOT holds
run "$S" "$tmp/want.st" "$tmp/empty.st"
expect_status 1; expect_out_re "MISMATCH: .*empty.st holds no tensors"; expect_no_err
run "$S" "$tmp/empty.st" "$tmp/empty.st"
expect_status 1; expect_out_re "MISMATCH: .*empty.st holds no tensors"; expect_no_err
succeeds "$S" "$tmp/close.st" "$tmp/want.st"; expect_out_re "^a: .* ok"; expect_no_err
run "$S" "$tmp/far.st" "$tmp/want.st"
expect_status 1; expect_no_err
expect_out_re "^a: .*MISMATCH: 1 of 4 elements, first at \[0, 1\]: got 2.00099993, want 2"
succeeds "$S" "$tmp/far.st" "$tmp/want.st" --atol 1e-2
expect_out "all tensors match"; expect_no_err
succeeds "$S" "$tmp/far.st" "$tmp/want.st" --rtol 1e-3
expect_out "all tensors match"; expect_no_err
run "$S" "$tmp/int.st" "$tmp/want.st"
expect_status 1; expect_out_re "^i: i32 \[3\] .*MISMATCH.*\[2\]: got 4, want 3"; expect_no_err
run "$S" "$tmp/nan.st" "$tmp/want.st"
expect_status 1; expect_out_re "^n: .*MISMATCH.*\[0\]: got 0, want nan"; expect_no_err
run "$S" "$tmp/want.st" "$tmp/nan.st"
expect_status 1; expect_out_re "^n: .*MISMATCH"; expect_no_err
run "$S" "$tmp/dtype.st" "$tmp/want.st"
expect_status 1; expect_out_re "^i: MISMATCH: got i64 \[3\], want i32 \[3\]"; expect_no_err
run "$S" "$tmp/shape.st" "$tmp/want.st"
expect_status 1; expect_out_re "^a: MISMATCH: got f32 \[4\], want f32 \[2, 2\]"; expect_no_err
run "$S" "$tmp/missing.st" "$tmp/want.st"
expect_status 1; expect_out_re "^i: MISMATCH: missing in"; expect_no_err
succeeds "$S" "$tmp/same.st" "$tmp/half.st"; expect_out "all tensors match"; expect_no_err
succeeds "$S" "$tmp/big2.st" "$tmp/big.st"; expect_out "all tensors match"; expect_no_err
run "$S" "$tmp/big2.st" "$tmp/big.st" --rtol 0
expect_status 1; expect_out "MISMATCH"; expect_no_err
fails 1 "$S" "$tmp/nope.st" "$tmp/want.st"; expect_err "cannot open"
fails 2 "$S"; expect_err "usage"
fails 2 "$S" "$tmp/want.st"; expect_err "usage"
fails 2 "$S" "$tmp/want.st" "$tmp/want.st" --atol x; expect_err "--atol wants"
fails 2 "$S" "$tmp/want.st" "$tmp/want.st" --rtol; expect_err "--rtol wants"
fails 2 "$S" "$tmp/want.st" "$tmp/want.st" --bogus; expect_err "unknown option"

D="$TOOLS/stdump"
succeeds "$D" "$tmp/want.st"; expect_out_re "^a: f32 \[2, 2\] = 1 2 3 4$"; expect_no_err
succeeds "$D" "$tmp/want.st"; expect_out_re "^i: i32 \[3\] = 1 2 3$"; expect_no_err
succeeds "$D" "$tmp/half.st" -n 2; expect_out_re "^a: f32 \[2, 2\] = 1 2 \.\.\.$"; expect_no_err
succeeds "$D" "$tmp/half.st" -n 0; expect_out_re "^a: f32 \[2, 2\] = 1 2 3 4$"; expect_no_err
printf 'abc' >"$tmp/short.st"
fails 1 "$D" "$tmp/short.st"; expect_err "corrupt safetensors file"
fails 2 "$D"; expect_err "usage"

# ---- the harness: a small script that sources check.sh, run on its own ----
# harness STATUS TEXT BODY: the script BODY exits STATUS and prints TEXT
harness() {
  printf '. %q\n%s\n' "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh" "$3" >"$tmp/h.sh"
  run bash "$tmp/h.sh"
  CMD="the script: $3" # what the failure message names
  expect_status "$1"
  expect_out "$2"
}
harness 0 "h: 1 passed, 0 failed" 'run true; expect_status 0; finish'
harness 1 "FAIL: false -> status 1, want 0" 'run false; expect_status 0; finish'
harness 1 "h: 1 passed, 1 failed" 'run false; expect_status 1; expect_status 0; finish'
harness 1 "FAIL: no check ran" 'finish'
harness 1 "FAIL: 1 checks ran, want 2" 'run true; expect_status 0; finish 2'
harness 0 "h: 2 passed, 0 failed" 'run true; expect_status 0; expect_status 0; finish 2'
# an empty pattern is a bug of the test, whatever the output
for f in expect_out expect_err expect_out_re expect_err_re expect_out_lacks_re expect_first_err; do
  harness 1 "FAIL: test bug: an empty" "run sh -c 'echo o; echo e >&2'; $f ''; finish"
done
# stdout and stderr apart
harness 0 "h: 4 passed" "run sh -c 'echo o1; echo e1 >&2'; expect_out o1; expect_err e1
  expect_out_lacks_re e1; expect_first_err e 1; finish"
harness 1 "no 'e1' on stdout" "run sh -c 'echo o1; echo e1 >&2'; expect_out e1; finish"
harness 1 "no 'o1' on stderr" "run sh -c 'echo o1; echo e1 >&2'; expect_err o1; finish"
harness 1 "stdout not empty" "fails 1 sh -c 'echo o1; exit 1'; finish"
harness 1 "stderr not empty" "quiet sh -c 'echo e1 >&2'; finish"
harness 1 "stdout has /o/" "run echo o1; expect_out_lacks_re o; finish"
# fixed strings are fixed; _re is a regex
harness 1 "no 'a.c' on stdout" "run echo abc; expect_out a.c; finish"
harness 0 "h: 1 passed" "run echo abc; expect_out_re '^a.c\$'; finish"
# the first line of stderr: a literal prefix, then a regex
positioned="run sh -c 'echo \"f.y:1:2: error: x\" >&2'"
harness 0 "h: 1 passed" "$positioned; expect_first_err f.y:1: '[0-9]+: error'; finish"
harness 1 "does not start with 'f.y:2:'" "$positioned; expect_first_err f.y:2:; finish"
harness 1 "has not /[0-9]+: warning/" "$positioned; expect_first_err f.y:1: '[0-9]+: warning'; finish"
# a comparison of tensor files is three checks (status, verdict, no stderr)
harness 0 "h: 3 passed, 0 failed" "expect_tensors $tmp/same.st $tmp/want.st; finish"
harness 1 "no 'all tensors match' on stdout" "expect_tensors $tmp/far.st $tmp/want.st; finish"
# counts kept by a subshell (aot.sh runs models in parallel) are added, or missed
harness 1 "h: 1 passed, 1 failed" \
  "(ok; fail x; save_counts \$tmp/c) & wait; add_counts \$tmp/c; finish"
harness 1 "FAIL: no counts in" "add_counts \$tmp/none; finish"

finish
