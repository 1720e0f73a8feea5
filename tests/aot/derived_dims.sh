#!/usr/bin/env bash
# Derived dims ahead of time: models/conv_strided.yaml (strided and dilated
# conv1d, output length (T-1)/4) and models/segment_scan.yaml (a chunk-4 scan
# emitting one row per segment, L/4, then a strided conv, (L+4)/8) compiled
# with their sequence length symbolic. One object each runs at several
# lengths (the shortest that gives one output step included) and must give
# `seqc run`'s outputs, through the driver and through seqrt-run; a length
# that makes a conv's output empty is an error naming the dim, exit 1, from
# the object's session and from `seqc compile`/`seqc run` at the node's line.
# An object with B compiled in and T symbolic runs too.
# Needs $SEQC, $SRC and $TOOLS (stcompare; the build folder is its parent).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BUILD=$(dirname "$TOOLS")
RT=$BUILD/runtime
CC=${CC:-cc}
SAN=()
if nm "$RT/libseqrt.a" 2>/dev/null | grep -q __asan; then SAN=(-fsanitize=address,undefined); fi
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*"
}
# check DESC CMD...: CMD must succeed
check() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    ok
  else
    bad "$what: $*"
    printf '%s\n' "$out" | head -15
    return 1
  fi
}
# expect STATUS PATTERN CMD...: exit STATUS and PATTERN (grep -E) on stderr
expect() {
  local want=$1 pattern=$2 err status
  shift 2
  err=$("$@" 2>&1 >/dev/null)
  status=$?
  if [ "$status" -eq "$want" ] && printf '%s\n' "$err" | grep -Eq -- "$pattern"; then
    ok
  else
    bad "$* -> status $status (want $want, /$pattern/)"
    printf '%s\n' "$err" | head -10
  fi
}
symbol_of() { sed -n 's/^extern const seqrt_model_desc \([A-Za-z0-9_]*\);$/\1/p' "$1"; }
link() {
  "$CC" -O1 "${SAN[@]}" -I"$SRC/runtime" -DSEQC_MODEL="$2" "$SRC/tests/aot/driver.c" "$3" \
    "$RT/libseqrt.a" -fopenmp -lcjson -lm -o "$1"
}

# round MODEL DIM VALUES...: one object with DIM symbolic, run at each value
round() {
  local m=$1 dim=$2 yaml=$SRC/models/$1.yaml d=$tmp/$1 v
  shift 2
  mkdir -p "$d"
  check "$m: compile" "$SEQC" compile "$yaml" -o "$d/m.o" --header "$d/m.h" || return
  check "$m: --emit shared" "$SEQC" compile "$yaml" -o "$d/m.so" --emit shared || return
  # only base dims reach the header: derived ones are the runtime's business
  local dims
  dims=$(sed -n 's/^  SEQC_[A-Z0-9_]*_DIM_\([A-Za-z0-9_]*\) = .*/\1/p' "$d/m.h" | tr '\n' ' ')
  [ "$dims" = "B $dim " ] && ok || bad "$m: header dims '$dims', want 'B $dim '"
  check "$m: link" link "$d/drv" "$(symbol_of "$d/m.h")" "$d/m.o" || return
  for v in "$@"; do
    check "$m $dim=$v: gen" "$d/drv" gen --seed "$v" --dim "$dim=$v" --weights-out "$d/w$v.st" \
      --input-out "$d/in$v.st"
    check "$m $dim=$v: seqc run" "$SEQC" run "$yaml" --weights "$d/w$v.st" --input "$d/in$v.st" \
      --output "$d/ref$v.st"
    check "$m $dim=$v: interpreter" "$SEQC" run "$yaml" --weights "$d/w$v.st" \
      --input "$d/in$v.st" --output "$d/int$v.st" --interpret
    check "$m $dim=$v: seqc run = interpreter" "$TOOLS/stcompare" "$d/ref$v.st" "$d/int$v.st"
    check "$m $dim=$v: object" "$d/drv" run --weights "$d/w$v.st" --input "$d/in$v.st" \
      --output "$d/obj$v.st" --threads 2
    check "$m $dim=$v: object = seqc run" "$TOOLS/stcompare" "$d/obj$v.st" "$d/ref$v.st"
    check "$m $dim=$v: seqrt-run" "$RT/seqrt-run" "$d/m.so" --weights "$d/w$v.st" \
      --input "$d/in$v.st" --output "$d/so$v.st" --threads 1
    check "$m $dim=$v: seqrt-run = seqc run" "$TOOLS/stcompare" "$d/so$v.st" "$d/ref$v.st"
  done
}

# conv_strided: T = 5 and 8 give one output step, 37 gives 9
round conv_strided T 5 8 37
d=$tmp/conv_strided
if [ -f "$d/obj37.st" ]; then
  out=$("$TOOLS/stdump" "$d/obj37.st" 2>&1)
  case $out in *"[2, 9, 8]"*) ok ;; *) bad "conv_strided T=37: want [2, 9, 8], got $out" ;; esac
  out=$("$TOOLS/stdump" "$d/obj5.st" 2>&1)
  case $out in *"[2, 1, 8]"*) ok ;; *) bad "conv_strided T=5: want [2, 1, 8], got $out" ;; esac
fi
# T = 4: (T-1)/4 = 0 steps, an error of the dims wherever it is found
if [ -x "$d/drv" ]; then
  check "T=4 gen" "$d/drv" gen --seed 4 --dim T=4 --weights-out "$d/w4.st" --input-out "$d/in4.st"
  msg="conv1d 'down2': output length \(T-1\)/4 is 0 for "
  expect 1 "$msg.*T = 4" "$d/drv" run --weights "$d/w4.st" --input "$d/in4.st" --output "$d/o4.st"
  expect 1 "$msg.*T = 4" "$RT/seqrt-run" "$d/m.so" --weights "$d/w4.st" --input "$d/in4.st"
  expect 1 "conv_strided.yaml:25:3: error: ${msg}T = 4" "$SEQC" run "$SRC/models/conv_strided.yaml" \
    --weights "$d/w4.st" --input "$d/in4.st"
  expect 1 "conv_strided.yaml:25:3: error: ${msg}T = 4" "$SEQC" compile \
    "$SRC/models/conv_strided.yaml" -o "$d/x.o" --dim T=4 --dim B=2
  expect 1 "${msg}T = 4" "$SEQC" run "$SRC/models/conv_strided.yaml" --weights "$d/w4.st" \
    --input "$d/in4.st" --interpret
fi

# B compiled in, T symbolic: the derived lengths of T are still the session's
d=$tmp/partial
mkdir -p "$d"
if check "partial compile" "$SEQC" compile "$SRC/models/conv_strided.yaml" -o "$d/m.o" \
     --header "$d/m.h" --dim B=2 &&
   check "partial link" link "$d/drv" "$(symbol_of "$d/m.h")" "$d/m.o"; then
  check "partial gen" "$d/drv" gen --seed 29 --dim T=29 --weights-out "$d/w.st" --input-out "$d/in.st"
  check "partial object" "$d/drv" run --weights "$d/w.st" --input "$d/in.st" --output "$d/obj.st"
  check "partial seqc run" "$SEQC" run "$SRC/models/conv_strided.yaml" --weights "$d/w.st" \
    --input "$d/in.st" --output "$d/ref.st"
  check "partial equal" "$TOOLS/stcompare" "$d/obj.st" "$d/ref.st"
fi

# segment_scan: L = 4 (one segment, one conv step), 12, 36
round segment_scan L 4 12 36
d=$tmp/segment_scan
if [ -x "$d/drv" ]; then
  check "L=10 gen" "$d/drv" gen --seed 10 --dim L=10 --weights-out "$d/w10.st" \
    --input-out "$d/in10.st"
  expect 1 "sequence length 10 of 'x' is not a multiple of its scan's chunk 4" \
    "$d/drv" run --weights "$d/w10.st" --input "$d/in10.st" --output "$d/o10.st"
  expect 1 "segment_scan.yaml:20:3: error: scan 'cell': chunk 4 does not divide the sequence length L = 10" \
    "$SEQC" run "$SRC/models/segment_scan.yaml" --weights "$d/w10.st" --input "$d/in10.st"
fi

echo "derived_dims: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -ge 70 ]
