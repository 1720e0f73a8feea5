#!/usr/bin/env bash
# Ahead-of-time compilation end to end: every model of models/ is checked and
# compiled to an object (a model that fails either is a failure, not a skip),
# linked with tests/aot/driver.c and the runtime, and must give `seqc run`'s
# outputs (stcompare); the same through --emit shared and seqrt-run; one
# object with T symbolic runs T = 1, 17, 300; --embed-weights needs no weights
# file; --target-cpu; and the runtime installed by `cmake --install` builds
# the driver with pkg-config alone.
# Needs $SEQC, $SRC and $TOOLS (stcompare, stgen; the build folder is its parent).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tools/driver.sh"

# one_model YAML: the whole round trip of one model, in its own folder; it runs in
# a subshell, so it leaves its counts in counts. A model that fails check or
# compile is a failure: every model of models/ must compile ahead of time.
one_model() {
  local yaml=$1 m d sym s
  m=$(basename "$yaml" .yaml)
  d=$tmp/$m
  checks_passed=0
  checks_failed=0
  if succeeds "$SEQC" check "$yaml" &&
     succeeds "$SEQC" compile "$yaml" -o "$d/m.o" --header "$d/m.h"; then
    sym=$(symbol_of "$d/m.h")
    expect_that "$m: no descriptor in the header" [ -n "$sym" ]
    succeeds "$CC" -fsyntax-only -I"$SRC/runtime" -include "$d/m.h" -x c \
      /dev/null
    if succeeds link "$d/drv" "$sym" "$d/m.o"; then
      # small dims keep the recurrent models quick
      local dimargs=()
      for s in $(dims_of "$d/m.h"); do
        case $s in T) dimargs+=(--dim T=9) ;; B) dimargs+=(--dim B=2) ;; esac
      done
      succeeds "$d/drv" gen --seed 7 "${dimargs[@]}" --weights-out "$d/w.st" \
        --input-out "$d/in.st"
      succeeds "$SEQC" run "$yaml" --weights "$d/w.st" --input "$d/in.st" \
        --output "$d/ref.st" --threads 1
      succeeds "$d/drv" run --weights "$d/w.st" --input "$d/in.st" \
        --output "$d/obj.st" --threads 2
      expect_tensors "$d/obj.st" "$d/ref.st"
      succeeds "$SEQC" compile "$yaml" -o "$d/m.so" --emit shared
      succeeds "$RT/seqrt-run" "$d/m.so" --weights "$d/w.st" --input "$d/in.st" \
        --output "$d/so.st" --threads 1
      expect_tensors "$d/so.st" "$d/ref.st"
    fi
  fi
  save_counts "$d/counts"
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
  add_counts "$tmp/$m/counts"
done
echo "aot: $nmodels models"
expect_that "no model in $SRC/models" [ "$nmodels" -gt 0 ]

# ---- a segment scan (chunk 3) with T symbolic: T = 12 runs, T = 10 is an error ----
d=$tmp/chunk
mkdir -p "$d"
cy=$SRC/tests/golden/cases/scan_chunk3_sym/model.yaml
if succeeds "$SEQC" compile "$cy" -o "$d/m.o" --header "$d/m.h" &&
   succeeds link "$d/drv" "$(symbol_of "$d/m.h")" "$d/m.o"; then
  for T in 12 10; do
    succeeds "$d/drv" gen --seed 3 --dim T=$T --weights-out "$d/w$T.st" \
      --input-out "$d/in$T.st"
  done
  succeeds "$SEQC" run "$cy" --weights "$d/w12.st" --input "$d/in12.st" \
    --output "$d/ref12.st"
  succeeds "$d/drv" run --weights "$d/w12.st" --input "$d/in12.st" \
    --output "$d/obj12.st"
  expect_tensors "$d/obj12.st" "$d/ref12.st"
  fails 1 "$d/drv" run --weights "$d/w10.st" --input "$d/in10.st" --output "$d/obj10.st"
  expect_err "sequence length 10 of 'x' is not a multiple of its scan's chunk 3"
  fails 1 "$SEQC" run "$cy" --weights "$d/w10.st" --input "$d/in10.st"
  expect_err "chunk 3 does not divide the sequence length T = 10"
fi

# ---- one object, T symbolic, three lengths (mlp) ----
# no guard: if mlp's round trip failed above, each check below fails on its own
d=$tmp/mlp
expect_that "mlp: no driver built (the checks on mlp below fail)" [ -x "$d/drv" ]
for T in 1 17 300; do
  succeeds "$d/drv" gen --seed "$T" --dim T=$T --weights-out "$d/w$T.st" \
    --input-out "$d/in$T.st"
  succeeds "$SEQC" run "$SRC/models/mlp.yaml" --weights "$d/w$T.st" \
    --input "$d/in$T.st" --output "$d/ref$T.st" --threads 1
  succeeds "$d/drv" run --weights "$d/w$T.st" --input "$d/in$T.st" \
    --output "$d/obj$T.st"
  expect_tensors "$d/obj$T.st" "$d/ref$T.st"
done
succeeds "$TOOLS/stdump" "$d/obj300.st"; expect_out "[4, 300, 10]"; expect_no_err

# ---- embedded weights: no file at run time ----
succeeds "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/e.o" --header "$d/e.h" \
  --embed-weights "$d/w17.st"
succeeds cat "$d/e.h"; expect_out "EMBEDDED_PARAMS 8"; expect_no_err
succeeds link "$d/edrv" seqc_model_mlp "$d/e.o"
succeeds "$d/edrv" run --input "$d/in17.st" --output "$d/e17.st"
expect_tensors "$d/e17.st" "$d/ref17.st"
succeeds "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/e.so" --emit shared \
  --embed-weights "$d/w17.st" --dim B=4
succeeds "$RT/seqrt-run" "$d/e.so" --input "$d/in17.st" --output "$d/es17.st" --threads 1
expect_tensors "$d/es17.st" "$d/ref17.st"
fails 1 "$RT/seqrt-run" "$d/e.so" --input "$d/in17.st" --dim B=3; expect_err "compiled for B = 4"
# a weights file holding only a misshapen fc1.weight
succeeds "$TOOLS/stgen" "$d/bad.st" fc1.weight=4x17x256
fails 1 "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --embed-weights "$d/in17.st"
expect_err "missing parameter 'fc1.weight' (expected f32 [512, 256])"
fails 1 "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --embed-weights "$d/bad.st"
expect_err "parameter 'fc1.weight': expected f32 [512, 256], got f32 [4, 17, 256]"

# ---- errors: same as seqc run, same statuses ----
fails 1 "$RT/seqrt-run" "$d/m.so" --weights "$d/w17.st" --input "$d/w17.st"
expect_err "input 'x' is missing"
fails 1 "$SEQC" run "$SRC/models/mlp.yaml" --weights "$d/w17.st" --input "$d/w17.st"
expect_err "input 'x' is missing"
fails 1 "$RT/seqrt-run" "$d/m.so" --weights "$d/in17.st" --input "$d/in17.st"
expect_err "missing parameter 'fc1.weight'"
fails 1 "$SEQC" run "$SRC/models/mlp.yaml" --weights "$d/in17.st" --input "$d/in17.st"
expect_err "missing parameter 'fc1.weight'"
fails 1 "$RT/seqrt-run" "$RT/libseqrt.so" --weights "$d/w17.st" --input "$d/in17.st"
expect_err "not a model made by"
fails 1 "$RT/seqrt-run" "$d/nothing.so" --weights "$d/w17.st" --input "$d/in17.st"
expect_err "cannot load"
fails 2 "$RT/seqrt-run" "$d/m.so" --weights "$d/w17.st"; expect_err "no input file"
fails 2 "$RT/seqrt-run" "$d/m.so" --frob; expect_err "unknown option"
fails 2 "$RT/seqrt-run" "$d/m.so" --weights "$d/w17.st" --input "$d/in17.st" --dim Q=3
expect_err "has no dim 'Q'"
succeeds "$RT/seqrt-run" --help; expect_out "usage: seqrt-run"; expect_no_err
fails 1 "$RT/seqrt-run" "$d/m.so" --weights "$d/w17.st" --input "$d/in17.st" --dim T=5
expect_err "expected [4, 5, 256], got [4, 17, 256]"

# ---- target CPU, asm, LLVM IR ----
succeeds "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/v3.s" --emit asm \
  --target-cpu x86-64-v3
run grep zmm "$d/v3.s"; expect_status 1 # no AVX-512 register in x86-64-v3 code
succeeds cat "$d/v3.s"; expect_out "ymm"; expect_no_err
succeeds "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/v3.o" \
  --target-cpu x86-64-v3
succeeds link "$d/v3drv" seqc_model_mlp "$d/v3.o"
succeeds "$d/v3drv" run --weights "$d/w17.st" --input "$d/in17.st" \
  --output "$d/v3.st"
expect_tensors "$d/v3.st" "$d/ref17.st"
fails 2 "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --target-cpu pentium9
expect_err "unknown target CPU 'pentium9'"
fails 2 "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --emit exe; expect_err "--emit wants"
fails 2 "$SEQC" compile "$SRC/models/mlp.yaml"; expect_err "no output file"
fails 2 "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/x.o" --dim Q=2; expect_err "has no dim 'Q'"
succeeds "$SEQC" compile --help; expect_out "usage: seqc compile"; expect_no_err
succeeds "$SEQC" compile "$SRC/models/mlp.yaml" -o "$d/m.ll" --emit llvm --dim T=8
succeeds cat "$d/m.ll"; expect_out_re "define internal void @seqc_model_mlp.run"; expect_no_err
succeeds cat "$d/m.ll"; expect_out_re "@seqc_model_mlp = .*constant"; expect_no_err

# ---- install: the runtime alone, used through pkg-config ----
prefix=$tmp/prefix
succeeds cmake --install "$BUILD" --prefix "$prefix" --component runtime
for f in include/seqrt.h bin/seqrt-run; do
  expect_that "not installed: $f" [ -e "$prefix/$f" ]
done
pc=$(find "$prefix" -name seqrt.pc | head -1)
expect_that "seqrt.pc not installed" [ -n "$pc" ]
expect_that "seqrtConfig.cmake not installed" [ -n "$(find "$prefix" -name seqrtConfig.cmake)" ]
if [ -n "$pc" ]; then
  export PKG_CONFIG_PATH=$(dirname "$pc")
  # shared libseqrt (the pkg-config default)
  succeeds "$CC" "${SAN[@]}" "$SRC/tests/aot/driver.c" -DSEQC_MODEL=seqc_model_mlp \
    "$d/m.o" -o "$d/pdrv" $(pkg-config --cflags --libs seqrt)
  succeeds "$d/pdrv" run --weights "$d/w17.st" --input "$d/in17.st" \
    --output "$d/p17.st"
  expect_tensors "$d/p17.st" "$d/ref17.st"
  # static libseqrt: Libs.private and Requires.private bring OpenMP, cJSON, libm
  succeeds "$CC" "${SAN[@]}" "$SRC/tests/aot/driver.c" \
    -DSEQC_MODEL=seqc_model_mlp "$d/m.o" -o "$d/sdrv" $(pkg-config --cflags seqrt) \
    $(pkg-config --static --libs seqrt | sed 's/-lseqrt/-l:libseqrt.a/')
  succeeds "$d/sdrv" run --weights "$d/w17.st" --input "$d/in17.st" \
    --output "$d/s17.st"
  expect_tensors "$d/s17.st" "$d/ref17.st"
  succeeds ldd "$d/sdrv"; expect_out_lacks_re libseqrt # the static build has no libseqrt.so
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
  succeeds cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_EXE_LINKER_FLAGS="${SAN[*]}"
  succeeds cmake --build "$tmp/cm/b"
  for kind in seqrt seqrt_static; do
    succeeds "$tmp/cm/b/drv_$kind" run --weights "$d/w17.st" \
      --input "$d/in17.st" --output "$d/c17.st"
    expect_tensors "$d/c17.st" "$d/ref17.st"
  done
  # the installed seqrt-run runs a shared model
  succeeds "$prefix/bin/seqrt-run" "$d/m.so" --weights "$d/w17.st" \
    --input "$d/in17.st" --output "$d/i17.st" --threads 1
  expect_tensors "$d/i17.st" "$d/ref17.st"
fi

# every check runs: 16 a model, 159 after them; a guard that skips some fails
# the test instead of shrinking it (a check added: raise the number)
finish $((nmodels * 16 + 159))
