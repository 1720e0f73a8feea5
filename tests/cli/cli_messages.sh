#!/usr/bin/env bash
# The form of every kind of failure message (SPEC 6, 7): on stderr, nothing on
# stdout, the first line starting "seqc: error: " (or "FILE:LINE:COL: error: "
# for a place in the YAML, "seqrt-run: error: " for seqrt-run), a data file
# named right after the prefix, warnings "seqc: warning: ", and exit status 1
# (2 for usage).
# Needs $SEQC, $TOOLS (the build's tests folder; seqrt-run is in its sibling runtime/).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
RT=$(dirname "$TOOLS")/runtime
pass=0
fail=0

# message STATUS PREFIX REST CMD...: runs CMD, wants exit STATUS, an empty stdout,
# and a first line of stderr that is PREFIX (literally) followed by REST (grep -E)
message() {
  local want=$1 prefix=$2 rest=$3
  shift 3
  local status first
  "$@" >"$tmp/out" 2>"$tmp/err"
  status=$?
  first=$(head -n 1 "$tmp/err")
  if [ "$status" -eq "$want" ] && [ ! -s "$tmp/out" ] && [[ "$first" == "$prefix"* ]] &&
    printf '%s\n' "${first#"$prefix"}" | grep -Eq -- "^($rest)"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $* -> status $status (want $want)"
    echo "  stdout: $(head -c 300 "$tmp/out")"
    echo "  stderr: $(head -c 300 "$tmp/err")"
    echo "  (wanted a first stderr line '$prefix' then /$rest/)"
  fi
}

# warning PREFIX REST CMD...: CMD succeeds and warns on stderr's first line
warning() {
  local prefix=$1 rest=$2
  shift 2
  local status first
  "$@" >"$tmp/out" 2>"$tmp/err"
  status=$?
  first=$(head -n 1 "$tmp/err")
  if [ "$status" -eq 0 ] && [[ "$first" == "$prefix"* ]] &&
    printf '%s\n' "${first#"$prefix"}" | grep -Eq -- "^($rest)"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $* -> status $status (want 0), stderr: $(head -c 300 "$tmp/err")"
    echo "  (wanted a first stderr line '$prefix' then /$rest/)"
  fi
}

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
# models whose outputs are their inputs: write input files named x, and x and w
printf 'seqc: 1\nname: make_x\ndims: {B: 2}\ninputs:\n  x: {dtype: f32, shape: [B, 8]}\noutputs: [x]\nnodes: {}\n' >"$tmp/make_x.yaml"
printf 'seqc: 1\nname: make_xw\ninputs:\n  x: {dtype: f32, shape: [2, 8]}\n  w: {dtype: f32, shape: [3]}\noutputs: [x, w]\nnodes: {}\n' >"$tmp/make_xw.yaml"
"$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input 7 --output "$tmp/x.st" || fail=$((fail + 1))
"$SEQC" run "$tmp/make_xw.yaml" --random-weights 1 --random-input 7 --output "$tmp/xw.st" || fail=$((fail + 1))
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' >"$tmp/corrupt.st"
printf 'seqc: 1\nname: m\ninputs:\n  x: {dtype: f32, shape: [4]}\noutputs: [y]\nnodes:\n  y: {op: lstmm, input: x}\n' >"$tmp/badop.yaml"
run=("$SEQC" run "$tmp/mlp.yaml")

# a bad model: positioned, by check, run and compile alike
message 1 "$tmp/badop.yaml:7:" "[0-9]+: error: unknown op 'lstmm'" "$SEQC" check "$tmp/badop.yaml"
message 1 "$tmp/badop.yaml:7:" "[0-9]+: error: unknown op 'lstmm'" \
  "$SEQC" run "$tmp/badop.yaml" --random-weights 1 --random-input 1
message 1 "$tmp/nope.yaml:1:1: error: " "cannot read" "$SEQC" check "$tmp/nope.yaml"

# data files: the file right after the prefix
message 1 "seqc: error: $tmp/nope.st: " "cannot open: No such file" \
  "${run[@]}" --weights "$tmp/nope.st" --random-input 1
message 1 "seqc: error: $tmp/corrupt.st: " "corrupt safetensors file: header length" \
  "${run[@]}" --weights "$tmp/corrupt.st" --random-input 1
message 1 "seqc: error: $tmp/corrupt.st: " "corrupt safetensors file: header length" \
  "${run[@]}" --random-weights 1 --input "$tmp/corrupt.st"
message 1 "seqc: error: $tmp/x.st: " "missing parameter 'fc1.weight' \(expected f32 \[16, 8\]\)$" \
  "${run[@]}" --weights "$tmp/x.st" --input "$tmp/x.st"
message 1 "seqc: error: $tmp/x.st: " "missing parameter 'fc1.weight' \(expected f32 \[16, 8\]\)$" \
  "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/m.o" --embed-weights "$tmp/x.st"
message 1 "seqc: error: $tmp/xw.st: " "tensor 'w' is not an input of the model$" \
  "${run[@]}" --random-weights 1 --input "$tmp/xw.st" --strict
message 1 "seqc: error: $tmp/no/out.st: " "cannot write: No such file" \
  "${run[@]}" --random-weights 1 --random-input 1 --output "$tmp/no/out.st"
message 1 "seqc: error: " "input 'x': expected \[3, 8\], got \[2, 8\] \(B = 3 from --dim\)$" \
  "${run[@]}" --random-weights 1 --input "$tmp/x.st" --dim B=3
message 1 "seqc: error: " "input 'x': expected \[3, 8\], got \[2, 8\]" \
  "${run[@]}" --random-weights 1 --input "$tmp/x.st" --dim B=3 --interpret
warning "seqc: warning: $tmp/xw.st: " "tensor 'w' is not an input of the model$" \
  "${run[@]}" --random-weights 1 --input "$tmp/xw.st"

# usage: status 2, then where the help is
message 2 "seqc: error: " "--dim wants NAME=POSITIVE_INTEGER, got 'B'$" \
  "${run[@]}" --random-weights 1 --random-input 1 --dim B
message 2 "seqc: error: " "--dim Q: the model has no dim 'Q' \(its dims: B\)$" \
  "${run[@]}" --random-weights 1 --random-input 1 --dim Q=3
message 2 "seqc: error: " "--dim Q: the model has no dim 'Q'" "$SEQC" bench "$tmp/mlp.yaml" --dim Q=3
message 2 "seqc: error: " "unknown option '--frob'$" "${run[@]}" --frob
grep -qx '(see `seqc run --help`)' "$tmp/err" && pass=$((pass + 1)) || {
  fail=$((fail + 1))
  echo "FAIL: a usage error does not say where the help is"
}

# seqrt-run: the same messages under its own name
message 1 "seqrt-run: error: $tmp/nothing.so: " "cannot load" \
  "$RT/seqrt-run" "$tmp/nothing.so" --random-weights 1 --input "$tmp/x.st"
message 1 "seqrt-run: error: $RT/libseqrt.so: " "not a model made by" \
  "$RT/seqrt-run" "$RT/libseqrt.so" --random-weights 1 --input "$tmp/x.st"
message 2 "seqrt-run: error: " "unknown option '--frob'$" "$RT/seqrt-run" "$tmp/m.so" --frob
if "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/m.so" --emit shared; then
  message 1 "seqrt-run: error: $tmp/x.st: " "missing parameter 'fc1.weight' \(expected f32 \[16, 8\]\)$" \
    "$RT/seqrt-run" "$tmp/m.so" --weights "$tmp/x.st" --input "$tmp/x.st"
  message 1 "seqrt-run: error: $tmp/corrupt.st: " "corrupt safetensors file" \
    "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/corrupt.st"
  message 1 "seqrt-run: error: " "input 'x': expected \[3, 8\], got \[2, 8\] \(B = 3 from --dim\)$" \
    "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/x.st" --dim B=3
  message 2 "seqrt-run: error: " "--dim Q: the model has no dim 'Q' \(its dims: B\)$" \
    "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/x.st" --dim Q=3
  warning "seqrt-run: warning: $tmp/xw.st: " "tensor 'w' is not an input of the model$" \
    "$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/xw.st"
else
  fail=$((fail + 1))
  echo "FAIL: seqc compile --emit shared"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -eq 26 ]
