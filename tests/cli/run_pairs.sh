#!/usr/bin/env bash
# `seqc run` and `seqrt-run` with repeated --input IN --output OUT pairs: the
# runs happen in order in one session (the runtime driver's list of runs), and
# each run's outputs equal those of the same input run alone; a run that fails
# stops the list with status 1 after the earlier outputs are written.
# Needs $SEQC and $TOOLS (stcompare; seqrt-run is in the sibling runtime/).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
RT=$(dirname "$TOOLS")/runtime
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*"
}
# status WANT CMD...: CMD exits with WANT (its stderr shown when not)
status() {
  local want=$1
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then ok; else
    bad "$* -> status $got (want $want)"
    head -5 "$tmp/err"
  fi
}
# same GOT WANT: equal numbers (stcompare with no tolerance)
same() { status 0 "$TOOLS/stcompare" "$1" "$2" --atol 0 --rtol 0; }

cat >"$tmp/mlp.yaml" <<'EOF'
seqc: 1
name: small_mlp
dims: {B: 2}
inputs:
  x: {dtype: f32, shape: [B, 8]}
outputs: [y]
nodes:
  fc1: {op: linear, input: x, out_features: 16}
  act: {op: gelu, input: fc1}
  y:   {op: linear, input: act, out_features: 4}
EOF
printf 'seqc: 1\nname: make_x\ndims: {B: 2}\ninputs:\n  x: {dtype: f32, shape: [B, 8]}\noutputs: [x]\nnodes: {}\n' >"$tmp/make_x.yaml"
for s in 1 2 3; do
  status 0 "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input $s --output "$tmp/x$s.st"
done
status 0 "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input 4 --dim B=3 \
  --output "$tmp/b3.st"
run=("$SEQC" run "$tmp/mlp.yaml" --random-weights 5 --threads 2)

# each input alone, then all three in one session
for s in 1 2 3; do status 0 "${run[@]}" --input "$tmp/x$s.st" --output "$tmp/alone$s.st"; done
status 0 "${run[@]}" --input "$tmp/x1.st" --output "$tmp/s1.st" --input "$tmp/x2.st" \
  --output "$tmp/s2.st" --input "$tmp/x3.st" --output "$tmp/s3.st"
for s in 1 2 3; do same "$tmp/s$s.st" "$tmp/alone$s.st"; done
# the runs saw different inputs: their outputs differ
status 1 "$TOOLS/stcompare" "$tmp/s2.st" "$tmp/s1.st"
# the interpreter, run by run
status 0 "${run[@]}" --interpret --input "$tmp/x1.st" --output "$tmp/i1.st" \
  --input "$tmp/x2.st" --output "$tmp/i2.st"
status 0 "$TOOLS/stcompare" "$tmp/i2.st" "$tmp/alone2.st"

# a failing second run: the first run's outputs are written, the third run is not made
rm -f "$tmp"/f*.st
status 1 "${run[@]}" --input "$tmp/x1.st" --output "$tmp/f1.st" --input "$tmp/nope.st" \
  --output "$tmp/f2.st" --input "$tmp/x3.st" --output "$tmp/f3.st"
grep -q "nope.st: cannot open" "$tmp/err" && ok || bad "no message naming nope.st"
same "$tmp/f1.st" "$tmp/alone1.st"
[ ! -e "$tmp/f2.st" ] && [ ! -e "$tmp/f3.st" ] && ok || bad "runs after a failed one wrote outputs"
# a later run with other dims than the session's (until sessions that continue, SPEC 9)
status 1 "${run[@]}" --input "$tmp/x1.st" --output "$tmp/g1.st" --input "$tmp/b3.st" \
  --output "$tmp/g2.st"
grep -q "^seqc: error: $tmp/b3.st: run 2 binds other dims" "$tmp/err" && ok || bad "dims message"
same "$tmp/g1.st" "$tmp/alone1.st"
# usage: one --output per --input
status 2 "${run[@]}" --input "$tmp/x1.st" --input "$tmp/x2.st" --output "$tmp/u.st"
grep -q "^seqc: error: give one --output for each --input (2 --input, 1 --output)" "$tmp/err" &&
  ok || bad "count message"
status 2 "${run[@]}" --random-input 1 --output "$tmp/u1.st" --output "$tmp/u2.st"

# seqrt-run: the same through a shared library
if "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/m.so" --emit shared; then
  rt=("$RT/seqrt-run" "$tmp/m.so" --random-weights 5 --threads 2)
  status 0 "${rt[@]}" --input "$tmp/x1.st" --output "$tmp/r1.st" --input "$tmp/x2.st" \
    --output "$tmp/r2.st" --input "$tmp/x3.st" --output "$tmp/r3.st"
  for s in 1 2 3; do status 0 "$TOOLS/stcompare" "$tmp/r$s.st" "$tmp/alone$s.st"; done
  status 2 "${rt[@]}" --input "$tmp/x1.st" --output "$tmp/r1.st" --input "$tmp/x2.st"
  grep -q "^seqrt-run: error: give one --output for each --input (2 --input, 1 --output)" \
    "$tmp/err" && ok || bad "seqrt-run count message"
else
  bad "seqc compile --emit shared"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -eq 30 ]
