#!/usr/bin/env bash
# The include arrows of docs/architecture.md, read from the sources:
#   ir       -> only the runtime's header-only seqrt_types.h
#   frontend -> ir (and libyaml)      passes -> ir   (ir = ir.h and its X-macro table ops.def)
#   codegen  -> ir, the runtime's public header (and LLVM's C API)
#   runtime  -> nothing of seqc       cli -> all, but codegen through cg.h only
# Every quoted include of a folder must be in its list; LLVM, libyaml, cJSON and
# OpenMP headers only where their folder is named below.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
set -o pipefail
SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"

# check FOLDER "ALLOWED QUOTED HEADERS" "ALLOWED <SYSTEM> PREFIXES OF OURS":
# a check a file of FOLDER, and a failed one more for each include it breaks
check() {
  local dir="$1" allowed=" $2 " sys_allowed=" $3 " f inc
  for f in "$SRC/$dir"/*.c "$SRC/$dir"/*.h "$SRC/$dir"/*.def "$SRC/$dir"/tools/*.c; do
    [ -e "$f" ] || continue
    ok
    while IFS= read -r inc; do
      case "$allowed" in
      *" $inc "*) ;;
      *) fail "${f#$SRC/} includes \"$inc\" ($dir may include only:$allowed)" ;;
      esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    # third-party headers that belong to one folder each
    while IFS= read -r inc; do
      local lib="${inc%%/*}"
      lib="${lib%.h}"
      case "$sys_allowed" in
      *" $lib "*) ;;
      *) fail "${f#$SRC/} includes <$inc> (only allowed in:$(owner "$lib"))" ;;
      esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\(llvm-c\/[^>]*\|yaml\.h\|cjson\/[^>]*\|omp\.h\)>.*/\1/p' "$f")
  done
}
owner() {
  case "$1" in
  llvm-c) echo " codegen" ;; yaml) echo " frontend" ;; cjson | omp) echo " runtime" ;;
  esac
}

check ir "ir.h ops.def seqrt_types.h" ""
check frontend "fe.h ir.h ops.def" "yaml"
check passes "passes.h ir.h ops.def" ""
check codegen "cg.h cg_internal.h ir.h ops.def seqrt.h seqrt_types.h" "llvm-c"
check runtime "rt.h seqrt.h seqrt_types.h" "cjson omp"
check cli "cli.h cg.h fe.h ir.h ops.def passes.h seqrt.h" ""

# the checker itself must see a violation: an ir file breaking both rules
mkdir -p "$tmp/ir"
printf '#include "seqrt.h"\n#include <llvm-c/Core.h>\n' > "$tmp/ir/bad.c"
seen=$(
  SRC=$tmp checks_failed=0
  check ir "ir.h ops.def seqrt_types.h" "" >/dev/null
  echo "$checks_failed"
)
expect_that "the checker saw $seen of the 2 violations in its self-test" [ "$seen" -eq 2 ]

finish
