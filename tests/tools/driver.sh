# tests/tools/driver.sh: the AOT tests' way to a program from a compiled model,
# sourced by tests/aot/*.sh after check.sh: tests/aot/driver.c linked with one
# model object and the runtime built here. Needs $SRC and $TOOLS (the build's
# tests folder; the build folder is its parent).

BUILD=$(dirname "$TOOLS") # the build folder
RT=$BUILD/runtime         # libseqrt and seqrt-run
CC=${CC:-cc}
# a sanitizer build's runtime needs the sanitizers in every program linked with it
SAN=()
if nm "$RT/libseqrt.a" 2>/dev/null | grep -q __asan; then SAN=(-fsanitize=address,undefined); fi

# symbol_of HEADER: the model descriptor's symbol, from a generated header
symbol_of() { sed -n 's/^extern const seqrt_model_desc \([A-Za-z0-9_]*\);$/\1/p' "$1"; }

# dims_of HEADER: the model's symbolic dims (the header's DIM enumerators), a line each
dims_of() { sed -n 's/^  SEQC_[A-Z0-9_]*_DIM_\([A-Za-z0-9_]*\) = .*/\1/p' "$1"; }

# link DRIVER SYMBOL OBJ: the driver program DRIVER for the model SYMBOL in OBJ
link() {
  "$CC" -O1 "${SAN[@]}" -I"$SRC/runtime" -DSEQC_MODEL="$2" "$SRC/tests/aot/driver.c" "$3" \
    "$RT/libseqrt.a" -fopenmp -lcjson -lm -o "$1"
}
