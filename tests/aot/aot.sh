#!/usr/bin/env bash
# Ahead-of-time compilation end to end: every model of models/ is checked and
# compiled to an object (a model that fails either is a failure, not a skip),
# linked with tests/aot/driver.c and the runtime, and must give `seqc run`'s
# outputs (stcompare); the same through --emit shared and seqrt-run; one
# object with T symbolic runs T = 1, 17, 300; --embed-weights needs no weights
# file; --target-cpu; and the runtime installed by `cmake --install` builds
# the driver with pkg-config alone.
# Needs $SEQC, $SRC and $TOOLS (stcompare, stgen; the build folder is its parent).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BUILD=$(dirname "$TOOLS")
RT=$BUILD/runtime
CC=${CC:-cc}
# a sanitizer build's runtime needs the sanitizers in every program linked with it
SAN=()
if nm "$RT/libseqrt.a" 2>/dev/null | grep -q __asan; then SAN=(-fsanitize=address,undefined); fi
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*"
}
# check DESC CMD...: CMD must succeed (its output shown when it does not)
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
# expect STATUS PATTERN CMD...: exit STATUS and PATTERN (grep -E); on success in
# stdout, on failure in stderr with nothing on stdout (diagnostics go to stderr)
expect() {
  local want=$1 pattern=$2 status stream=stdout why= o e
  shift 2
  o=$(mktemp -p "$tmp") e=$(mktemp -p "$tmp")
  "$@" >"$o" 2>"$e"
  status=$?
  [ "$want" -ne 0 ] && stream=stderr
  if [ "$status" -ne "$want" ]; then
    why="status $status, want $want"
  elif ! grep -Eq -- "$pattern" "$([ $stream = stdout ] && echo "$o" || echo "$e")"; then
    why="no /$pattern/ on $stream"
  elif [ "$want" -ne 0 ] && [ -s "$o" ]; then
    why="stdout not empty on error"
  fi
  if [ -z "$why" ]; then
    ok
  else
    bad "$* -> $why"
    echo "  stdout:"; head -10 "$o" | sed 's/^/    /'
    echo "  stderr:"; head -10 "$e" | sed 's/^/    /'
  fi
  rm -f "$o" "$e"
}

# descriptor symbol from a generated header
symbol_of() { sed -n 's/^extern const seqrt_model_desc \([A-Za-z0-9_]*\);$/\1/p' "$1"; }
# dims of a model (the header's DIM enumerators), space-separated
dims_of() { sed -n 's/^  SEQC_[A-Z0-9_]*_DIM_\([A-Za-z0-9_]*\) = .*/\1/p' "$1"; }

# link DRIVER SYMBOL OBJ: the driver with one model and the runtime built here
link() {
  "$CC" -O1 "${SAN[@]}" -I"$SRC/runtime" -DSEQC_MODEL="$2" "$SRC/tests/aot/driver.c" "$3" \
    "$RT/libseqrt.a" -fopenmp -lcjson -lm -o "$1"
}

# one_model YAML: the whole round trip of one model, in its own folder; it runs in
# a subshell, so it leaves its counts in counts. A model that fails check or
# compile is a failure: every model of models/ must compile ahead of time.
one_model() {
  local yaml=$1 m d sym s
  m=$(basename "$yaml" .yaml)
  d=$tmp/$m
  pass=0
  fail=0
  if check "$m: seqc check" "$SEQC" check "$yaml" &&
     check "$m: seqc compile" "$SEQC" compile "$yaml" -o "$d/m.o" --header "$d/m.h"; then
    sym=$(symbol_of "$d/m.h")
    [ -n "$sym" ] && ok || bad "$m: no descriptor in the header"
    check "$m: header compiles" "$CC" -fsyntax-only -I"$SRC/runtime" -include "$d/m.h" -x c \
      /dev/null
    if check "$m: link the driver" link "$d/drv" "$sym" "$d/m.o"; then
      # small dims keep the recurrent models quick
      local dimargs=()
      for s in $(dims_of "$d/m.h"); do
        case $s in T) dimargs+=(--dim T=9) ;; B) dimargs+=(--dim B=2) ;; esac
      done
      check "$m: gen" "$d/drv" gen --seed 7 "${dimargs[@]}" --weights-out "$d/w.st" \
        --input-out "$d/in.st"
      check "$m: seqc run" "$SEQC" run "$yaml" --weights "$d/w.st" --input "$d/in.st" \
        --output "$d/ref.st" --threads 1
      check "$m: object" "$d/drv" run --weights "$d/w.st" --input "$d/in.st" \
        --output "$d/obj.st" --threads 2
      check "$m: object = seqc run" "$TOOLS/stcompare" "$d/obj.st" "$d/ref.st"
      check "$m: --emit shared" "$SEQC" compile "$yaml" -o "$d/m.so" --emit shared
      check "$m: seqrt-run" "$RT/seqrt-run" "$d/m.so" --weights "$d/w.st" --input "$d/in.st" \
        --output "$d/so.st" --threads 1
      check "$m: seqrt-run = seqc run" "$TOOLS/stcompare" "$d/so.st" "$d/ref.st"
    fi
  fi
  echo "$pass $fail" >"$d/counts"
}

# the models two at a time (the machine's cores), each model's messages kept together
jobs=$(nproc 2>/dev/null || echo 2)
for yaml in "$SRC"/models/*.yaml; do
  m=$(basename "$yaml" .yaml)
  mkdir -p "$tmp/$m"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  one_model "$yaml" >"$tmp/$m/log" 2>&1 &
done
wait
nmodels=0
for yaml in "$SRC"/models/*.yaml; do
  m=$(basename "$yaml" .yaml)
  nmodels=$((nmodels + 1))
  cat "$tmp/$m/log"
  read -r p f <"$tmp/$m/counts" || { p=0; f=1; echo "FAIL: $m: no result"; }
  pass=$((pass + p))
  fail=$((fail + f))
done
echo "aot: $nmodels models"
[ "$nmodels" -gt 0 ] && ok || bad "no model in $SRC/models"

# ---- a segment scan (chunk 3) with T symbolic: T = 12 runs, T = 10 is an error ----
d=$tmp/chunk
mkdir -p "$d"
cy=$SRC/tests/golden/cases/scan_chunk3_sym/model.yaml
if check "chunk compile" "$SEQC" compile "$cy" -o "$d/m.o" --header "$d/m.h" &&
   check "chunk link" link "$d/drv" "$(symbol_of "$d/m.h")" "$d/m.o"; then
  for T in 12 10; do
    check "chunk T=$T gen" "$d/drv" gen --seed 3 --dim T=$T --weights-out "$d/w$T.st" \
      --input-out "$d/in$T.st"
  done
  check "chunk T=12 seqc run" "$SEQC" run "$cy" --weights "$d/w12.st" --input "$d/in12.st" \
    --output "$d/ref12.st"
  check "chunk T=12 object" "$d/drv" run --weights "$d/w12.st" --input "$d/in12.st" \
    --output "$d/obj12.st"
  check "chunk T=12 equal" "$TOOLS/stcompare" "$d/obj12.st" "$d/ref12.st"
  expect 1 "sequence length 10 of 'x' is not a multiple of its scan's chunk 3" \
    "$d/drv" run --weights "$d/w10.st" --input "$d/in10.st" --output "$d/obj10.st"
  expect 1 "chunk 3 does not divide the sequence length T = 10" \
    "$SEQC" run "$cy" --weights "$d/w10.st" --input "$d/in10.st"
fi

# ---- one object, T symbolic, three lengths (mlp) ----
# no guard: if mlp's round trip failed above, each check below fails on its own
d=$tmp/mlp
[ -x "$d/drv" ] && ok || bad "mlp: no driver built (the checks on mlp below fail)"
for T in 1 17 300; do
  check "T=$T gen" "$d/drv" gen --seed "$T" --dim T=$T --weights-out "$d/w$T.st" \
    --input-out "$d/in$T.st"
  check "T=$T seqc run" "$SEQC" run "$SRC/models/mlp.yaml" --weights "$d/w$T.st" \
    --input "$d/in$T.st" --output "$d/ref$T.st" --threads 1
  check "T=$T object" "$d/drv" run --weights "$d/w$T.st" --input "$d/in$T.st" \
    --output "$d/obj$T.st"
  check "T=$T equal" "$TOOLS/stcompare" "$d/obj$T.st" "$d/ref$T.st"
done
expect 0 "\[4, 300, 10\]" "$TOOLS/stdump" "$d/obj300.st"

# ---- embedded weights: no file at run time ----
check "embed compile" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/e.o" --header "$d/e.h" \
  --embed-weights "$d/w17.st"
expect 0 "EMBEDDED_PARAMS 8" cat "$d/e.h"
check "embed link" link "$d/edrv" seqc_model_mlp "$d/e.o"
check "embed run" "$d/edrv" run --input "$d/in17.st" --output "$d/e17.st"
check "embed equal" "$TOOLS/stcompare" "$d/e17.st" "$d/ref17.st"
check "embed shared" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/e.so" --emit shared \
  --embed-weights "$d/w17.st" --dim B=4
check "embed seqrt-run" "$RT/seqrt-run" "$d/e.so" --input "$d/in17.st" --output "$d/es17.st" --threads 1
check "embed shared equal" "$TOOLS/stcompare" "$d/es17.st" "$d/ref17.st"
expect 1 "compiled for B = 4" "$RT/seqrt-run" "$d/e.so" --input "$d/in17.st" --dim B=3
# a weights file holding only a misshapen fc1.weight
check "bad weights" "$TOOLS/stgen" "$d/bad.st" fc1.weight=4x17x256
expect 1 "missing parameter 'fc1.weight' \(expected f32 \[512, 256\]\)" "$SEQC" compile \
  "$SRC/models/mlp.yaml" -o "$d/x.o" --embed-weights "$d/in17.st"
expect 1 "parameter .fc1.weight.: expected f32 \[512, 256\], got f32 \[4, 17, 256\]" \
  "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --embed-weights "$d/bad.st"

# ---- errors: same as seqc run, same statuses ----
expect 1 "input 'x' is missing" "$RT/seqrt-run" "$d/m.so" --weights "$d/w17.st" \
  --input "$d/w17.st"
expect 1 "input 'x' is missing" "$SEQC" run "$SRC/models/mlp.yaml" --weights "$d/w17.st" \
  --input "$d/w17.st"
expect 1 "missing parameter 'fc1.weight'" "$RT/seqrt-run" "$d/m.so" --weights "$d/in17.st" \
  --input "$d/in17.st"
expect 1 "missing parameter 'fc1.weight'" "$SEQC" run "$SRC/models/mlp.yaml" \
  --weights "$d/in17.st" --input "$d/in17.st"
expect 1 "not a model made by" "$RT/seqrt-run" "$RT/libseqrt.so" --weights "$d/w17.st" \
  --input "$d/in17.st"
expect 1 "cannot load" "$RT/seqrt-run" "$d/nothing.so" --weights "$d/w17.st" \
  --input "$d/in17.st"
expect 2 "no input file" "$RT/seqrt-run" "$d/m.so" --weights "$d/w17.st"
expect 2 "unknown option" "$RT/seqrt-run" "$d/m.so" --frob
expect 2 "has no dim 'Q'" "$RT/seqrt-run" "$d/m.so" --weights "$d/w17.st" \
  --input "$d/in17.st" --dim Q=3
expect 0 "usage: seqrt-run" "$RT/seqrt-run" --help
expect 1 "expected \[4, 5, 256\], got \[4, 17, 256\]" "$RT/seqrt-run" "$d/m.so" \
  --weights "$d/w17.st" --input "$d/in17.st" --dim T=5

# ---- target CPU, asm, LLVM IR ----
check "x86-64-v3 asm" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/v3.s" --emit asm \
  --target-cpu x86-64-v3
if grep -q zmm "$d/v3.s"; then bad "x86-64-v3 code uses AVX-512"; else ok; fi
expect 0 "ymm" cat "$d/v3.s"
check "x86-64-v3 object" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/v3.o" \
  --target-cpu x86-64-v3
check "x86-64-v3 link" link "$d/v3drv" seqc_model_mlp "$d/v3.o"
check "x86-64-v3 run" "$d/v3drv" run --weights "$d/w17.st" --input "$d/in17.st" \
  --output "$d/v3.st"
check "x86-64-v3 equal" "$TOOLS/stcompare" "$d/v3.st" "$d/ref17.st"
expect 2 "unknown target CPU 'pentium9'" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" \
  --target-cpu pentium9
expect 2 "--emit wants" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --emit exe
expect 2 "no output file" "$SEQC" compile "$SRC/models/mlp.yaml"
expect 2 "has no dim 'Q'" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --dim Q=2
expect 0 "usage: seqc compile" "$SEQC" compile --help
check "llvm" "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/m.ll" --emit llvm --dim T=8
expect 0 "define internal void @seqc_model_mlp.run" cat "$d/m.ll"
expect 0 "@seqc_model_mlp = .*constant" cat "$d/m.ll"

# ---- install: the runtime alone, used through pkg-config ----
prefix=$tmp/prefix
check "cmake --install" cmake --install "$BUILD" --prefix "$prefix" --component runtime
for f in include/seqrt.h bin/seqrt-run; do
  [ -e "$prefix/$f" ] && ok || bad "not installed: $f"
done
pc=$(find "$prefix" -name seqrt.pc | head -1)
[ -n "$pc" ] && ok || bad "seqrt.pc not installed"
[ -n "$(find "$prefix" -name seqrtConfig.cmake)" ] && ok || bad "seqrtConfig.cmake not installed"
if [ -n "$pc" ]; then
  export PKG_CONFIG_PATH=$(dirname "$pc")
  # shared libseqrt (the pkg-config default)
  check "pkg-config build" "$CC" "${SAN[@]}" "$SRC/tests/aot/driver.c" -DSEQC_MODEL=seqc_model_mlp \
    "$d/m.o" -o "$d/pdrv" $(pkg-config --cflags --libs seqrt)
  check "pkg-config run" "$d/pdrv" run --weights "$d/w17.st" --input "$d/in17.st" \
    --output "$d/p17.st"
  check "pkg-config equal" "$TOOLS/stcompare" "$d/p17.st" "$d/ref17.st"
  # static libseqrt: Libs.private and Requires.private bring OpenMP, cJSON, libm
  check "pkg-config static build" "$CC" "${SAN[@]}" "$SRC/tests/aot/driver.c" \
    -DSEQC_MODEL=seqc_model_mlp "$d/m.o" -o "$d/sdrv" $(pkg-config --cflags seqrt) \
    $(pkg-config --static --libs seqrt | sed 's/-lseqrt/-l:libseqrt.a/')
  check "pkg-config static run" "$d/sdrv" run --weights "$d/w17.st" --input "$d/in17.st" \
    --output "$d/s17.st"
  check "pkg-config static equal" "$TOOLS/stcompare" "$d/s17.st" "$d/ref17.st"
  if ldd "$d/sdrv" | grep -q libseqrt; then bad "static build links libseqrt.so"; else ok; fi
  # CMake: find_package(seqrt) and its two imported targets
  mkdir -p "$tmp/cm"
  cat >"$tmp/cm/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(seqrt 0.1 REQUIRED)
foreach(kind seqrt seqrt_static)
  add_executable(drv_\${kind} $SRC/tests/aot/driver.c $d/m.o)
  target_compile_definitions(drv_\${kind} PRIVATE SEQC_MODEL=seqc_model_mlp)
  target_link_libraries(drv_\${kind} PRIVATE seqrt::\${kind})
endforeach()
EOF
  check "cmake package configure" cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_EXE_LINKER_FLAGS="${SAN[*]}"
  check "cmake package build" cmake --build "$tmp/cm/b"
  for kind in seqrt seqrt_static; do
    check "cmake $kind run" "$tmp/cm/b/drv_$kind" run --weights "$d/w17.st" \
      --input "$d/in17.st" --output "$d/c17.st"
    check "cmake $kind equal" "$TOOLS/stcompare" "$d/c17.st" "$d/ref17.st"
  done
  # the installed seqrt-run runs a shared model
  check "installed seqrt-run" "$prefix/bin/seqrt-run" "$d/m.so" --weights "$d/w17.st" \
    --input "$d/in17.st" --output "$d/i17.st" --threads 1
  check "installed seqrt-run equal" "$TOOLS/stcompare" "$d/i17.st" "$d/ref17.st"
fi

echo "aot: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
