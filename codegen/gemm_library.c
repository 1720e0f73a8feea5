/*
 * gemm_library.c: the shared GEMMs (gemm.c) precompiled into seqc.
 *
 * Every variant of the shared GEMM has run-time sizes, so its code is the
 * same for every model: codegen/gemmlib/gen.c compiles them all when seqc
 * is built, for the build machine's CPU, and the build embeds the object
 * (cg_gemm_library.c in the build tree). A JIT compile whose target is that
 * CPU with the same features and optimization level declares them instead
 * of defining them and links this object beside its own: a Transformer's
 * GEMM code, most of its compile time, costs nothing. The library also
 * holds attention's products specialized to the tiles of common head dims
 * (16 to 128, gemm.c): a specialized GEMM whose name it lists is declared
 * too, any other is compiled with the model. Any other target
 * (another CPU running this binary, AOT objects, --target-cpu) compiles
 * them with the model as before.
 */
#include <string.h>

#include "cg_internal.h"

bool cg_gemm_library_fits(LLVMTargetMachineRef tm, int vec_width, int level) {
  if (cg_gemm_lib_size == 0 || vec_width != cg_gemm_lib_width || level != cg_gemm_lib_level)
    return false;
  char *cpu = LLVMGetTargetMachineCPU(tm), *features = LLVMGetTargetMachineFeatureString(tm);
  bool fits = !strcmp(cpu, cg_gemm_lib_cpu) && !strcmp(features, cg_gemm_lib_features);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  return fits;
}

LLVMMemoryBufferRef cg_gemm_library_object(void) {
  return LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)cg_gemm_lib_object,
                                                   cg_gemm_lib_size, "seqc gemm library");
}

bool cg_gemm_library_has(const char *name) {
  for (int i = 0; i < cg_gemm_lib_count; i++)
    if (!strcmp(name, cg_gemm_lib_names[i])) return true;
  return false;
}
