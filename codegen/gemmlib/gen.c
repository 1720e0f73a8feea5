/*
 * gen.c: compiles every variant of the shared GEMM (gemm.c) for this
 * machine's CPU, the target a JIT compile here has, and writes them as C:
 * the object's bytes and the CPU, features, vector width and optimization
 * level they were built for (gemm_library.c checks them before a JIT
 * links the object). The build runs it and compiles its output into seqc.
 *
 *   seqc-gemm-lib OUT.c
 */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

/* a C string literal of s (CPU and feature names: letters, digits, +-_.,) */
static void put_string(FILE *f, const char *name, const char *s) {
  fprintf(f, "const char %s[] = \"", name);
  for (; *s; s++)
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else
      fputc(*s, f);
  fprintf(f, "\";\n");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: seqc-gemm-lib OUT.c\n");
    return 2;
  }
  const int level = 3; /* the JIT's default */
  seqrt_error err = {{0}};
  int vw = 0;
  LLVMTargetMachineRef tm = cg_target_machine(NULL, level, false, &vw, &err);
  if (!tm) {
    fprintf(stderr, "seqc-gemm-lib: %s\n", err.msg);
    return 1;
  }
  LLVMContextRef cx = LLVMContextCreate();
  LLVMModuleRef m = LLVMModuleCreateWithNameInContext("seqc_gemm_library", cx);
  cg_gemm_library_define(m, vw);
  cg_stats st = {0};
  LLVMMemoryBufferRef obj = cg_module_emit(m, tm, level, &st, &err);
  if (!obj) {
    fprintf(stderr, "seqc-gemm-lib: %s\n", err.msg);
    return 1;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    perror(tmp);
    return 1;
  }
  const unsigned char *bytes = (const unsigned char *)LLVMGetBufferStart(obj);
  size_t n = LLVMGetBufferSize(obj);
  fprintf(f, "/* written by codegen/gemmlib/gen.c when seqc was built: do not edit */\n");
  fprintf(f, "#include <stddef.h>\n\n");
  fprintf(f, "const unsigned char cg_gemm_lib_object[] __attribute__((aligned(64))) = {");
  for (size_t i = 0; i < n; i++) fprintf(f, "%s%u,", i % 24 ? "" : "\n", bytes[i]);
  fprintf(f, "\n};\nconst size_t cg_gemm_lib_size = %zu;\n", n);
  char *cpu = LLVMGetTargetMachineCPU(tm), *features = LLVMGetTargetMachineFeatureString(tm);
  put_string(f, "cg_gemm_lib_cpu", cpu);
  put_string(f, "cg_gemm_lib_features", features);
  fprintf(f, "const int cg_gemm_lib_width = %d, cg_gemm_lib_level = %d;\n", vw, level);
  int count = 0;
  fprintf(f, "const char *const cg_gemm_lib_names[] = {\n");
  for (LLVMValueRef fn = LLVMGetFirstFunction(m); fn; fn = LLVMGetNextFunction(fn))
    if (!LLVMIsDeclaration(fn)) {
      size_t len;
      fprintf(f, "    \"%s\",\n", LLVMGetValueName2(fn, &len));
      count++;
    }
  fprintf(f, "};\nconst int cg_gemm_lib_count = %d;\n", count);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  bool ok = !ferror(f);
  ok = !fclose(f) && ok;
  if (!ok || rename(tmp, argv[1])) {
    perror(argv[1]);
    return 1;
  }
  LLVMDisposeMemoryBuffer(obj);
  LLVMDisposeModule(m);
  LLVMContextDispose(cx);
  LLVMDisposeTargetMachine(tm);
  return 0;
}
