/*
 * target.c: the machine code is for: LLVM's target machine (the JIT's and the
 * objects'), the CPU names LLVM knows, the vector width a CPU implies, what
 * the schedule pass needs of the target, and LLVM's optimization pipeline.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"

/* true if the comma-separated feature list holds exactly `want` ("+avx2") */
static bool has_feature(const char *features, const char *want) {
  size_t n = strlen(want);
  for (const char *p = features; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, want, n) == 0) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

int cg_vec_width(const char *cpu, const char *features) {
  if (features && *features) {
    if (has_feature(features, "+avx512f")) return 16;
    if (has_feature(features, "+avx2")) return 8;
    return 4;
  }
  /* no feature list: what the CPU name implies (AOT with --target-cpu only) */
  static const char *const avx512[] = {
      "skylake-avx512", "cascadelake", "cooperlake", "cannonlake",     "icelake-client",
      "icelake-server", "tigerlake",   "rocketlake", "sapphirerapids", "emeraldrapids",
      "graniterapids",  "znver4",      "znver5",     "x86-64-v4",      NULL};
  static const char *const avx2[] = {
      "haswell",   "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake", "arrowlake",
      "lunarlake", "znver1",    "znver2",  "znver3",    "x86-64-v3",  NULL};
  for (int i = 0; cpu && avx512[i]; i++)
    if (strcmp(cpu, avx512[i]) == 0) return 16;
  for (int i = 0; cpu && avx2[i]; i++)
    if (strcmp(cpu, avx2[i]) == 0) return 8;
  return 4;
}

static LLVMCodeGenOptLevel codegen_level(int level) {
  switch (level) {
    case 0:
      return LLVMCodeGenLevelNone;
    case 1:
      return LLVMCodeGenLevelLess;
    case 2:
      return LLVMCodeGenLevelDefault;
    default:
      return LLVMCodeGenLevelAggressive;
  }
}

/* LLVM 19's x86 CPU names (`llc -mcpu=help`): LLVM only warns about an
 * unknown one and falls back to a generic CPU, which a user would not notice */
static const char *const x86_cpus[] = {"alderlake",
                                       "amdfam10",
                                       "arrowlake",
                                       "arrowlake-s",
                                       "arrowlake_s",
                                       "athlon",
                                       "athlon-4",
                                       "athlon-fx",
                                       "athlon-mp",
                                       "athlon-tbird",
                                       "athlon-xp",
                                       "athlon64",
                                       "athlon64-sse3",
                                       "atom",
                                       "atom_sse4_2",
                                       "atom_sse4_2_movbe",
                                       "barcelona",
                                       "bdver1",
                                       "bdver2",
                                       "bdver3",
                                       "bdver4",
                                       "bonnell",
                                       "broadwell",
                                       "btver1",
                                       "btver2",
                                       "c3",
                                       "c3-2",
                                       "cannonlake",
                                       "cascadelake",
                                       "clearwaterforest",
                                       "cooperlake",
                                       "core-avx-i",
                                       "core-avx2",
                                       "core2",
                                       "core_2_duo_sse4_1",
                                       "core_2_duo_ssse3",
                                       "core_2nd_gen_avx",
                                       "core_3rd_gen_avx",
                                       "core_4th_gen_avx",
                                       "core_4th_gen_avx_tsx",
                                       "core_5th_gen_avx",
                                       "core_5th_gen_avx_tsx",
                                       "core_aes_pclmulqdq",
                                       "core_i7_sse4_2",
                                       "corei7",
                                       "corei7-avx",
                                       "emeraldrapids",
                                       "generic",
                                       "geode",
                                       "goldmont",
                                       "goldmont-plus",
                                       "goldmont_plus",
                                       "gracemont",
                                       "grandridge",
                                       "graniterapids",
                                       "graniterapids-d",
                                       "graniterapids_d",
                                       "haswell",
                                       "i386",
                                       "i486",
                                       "i586",
                                       "i686",
                                       "icelake-client",
                                       "icelake-server",
                                       "icelake_client",
                                       "icelake_server",
                                       "ivybridge",
                                       "k6",
                                       "k6-2",
                                       "k6-3",
                                       "k8",
                                       "k8-sse3",
                                       "knl",
                                       "knm",
                                       "lakemont",
                                       "lunarlake",
                                       "meteorlake",
                                       "mic_avx512",
                                       "nehalem",
                                       "nocona",
                                       "opteron",
                                       "opteron-sse3",
                                       "pantherlake",
                                       "penryn",
                                       "pentium",
                                       "pentium-m",
                                       "pentium-mmx",
                                       "pentium2",
                                       "pentium3",
                                       "pentium3m",
                                       "pentium4",
                                       "pentium4m",
                                       "pentium_4",
                                       "pentium_4_sse3",
                                       "pentium_ii",
                                       "pentium_iii",
                                       "pentium_iii_no_xmm_regs",
                                       "pentium_m",
                                       "pentium_mmx",
                                       "pentium_pro",
                                       "pentiumpro",
                                       "prescott",
                                       "raptorlake",
                                       "rocketlake",
                                       "sandybridge",
                                       "sapphirerapids",
                                       "sierraforest",
                                       "silvermont",
                                       "skx",
                                       "skylake",
                                       "skylake-avx512",
                                       "skylake_avx512",
                                       "slm",
                                       "tigerlake",
                                       "tremont",
                                       "westmere",
                                       "winchip-c6",
                                       "winchip2",
                                       "x86-64",
                                       "x86-64-v2",
                                       "x86-64-v3",
                                       "x86-64-v4",
                                       "yonah",
                                       "znver1",
                                       "znver2",
                                       "znver3",
                                       "znver4",
                                       "znver5",
                                       NULL};

bool cg_cpu_known(const char *cpu) {
  char *triple = LLVMGetDefaultTargetTriple();
  bool x86 = strncmp(triple, "x86_64", 6) == 0 || strncmp(triple, "i386", 4) == 0 ||
             strncmp(triple, "i686", 4) == 0;
  LLVMDisposeMessage(triple);
  if (!x86) return cpu && *cpu; /* other targets: LLVM decides */
  for (int i = 0; cpu && x86_cpus[i]; i++)
    if (strcmp(cpu, x86_cpus[i]) == 0) return true;
  return false;
}

/* the CPU and feature names opt asks for: the host's when it names no CPU,
 * the CPU's defaults when it names no features (*host_*: to dispose) */
static void target_names(const cg_options *opt, const char **cpu, const char **features,
                         char **host_cpu, char **host_features) {
  *cpu = opt && opt->cpu ? opt->cpu : (*host_cpu = LLVMGetHostCPUName());
  *features = opt && opt->features ? opt->features
              : opt && opt->cpu    ? ""
                                   : (*host_features = LLVMGetHostCPUFeatures());
}

void cg_target(const cg_options *opt, ir_target *t) {
  char *host_cpu = NULL, *host_features = NULL;
  const char *cpu, *features;
  target_names(opt, &cpu, &features, &host_cpu, &host_features);
  *t = (ir_target){.vec_width = cg_vec_width(cpu, features),
                   .gemm_reads_b_in_place = cg_gemm_reads_b_in_place};
  LLVMDisposeMessage(host_cpu);
  LLVMDisposeMessage(host_features);
}

static void init_native_target(void) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
}

LLVMTargetMachineRef cg_target_machine(const cg_options *opt, int level, bool pic, int *vw,
                                       seqrt_error *err) {
  /* LLVM's target registry is a process-wide list that registering appends
   * to unlocked: threads compiling at once (a server's models) register once */
  static pthread_once_t registered = PTHREAD_ONCE_INIT;
  pthread_once(&registered, init_native_target);
  if (opt && opt->cpu && !cg_cpu_known(opt->cpu)) {
    snprintf(err->msg, sizeof err->msg, "unknown target CPU '%s'", opt->cpu);
    return NULL;
  }
  char *triple = LLVMGetDefaultTargetTriple();
  char *host_cpu = NULL, *host_features = NULL;
  const char *cpu, *features;
  target_names(opt, &cpu, &features, &host_cpu, &host_features);
  LLVMTargetMachineRef tm = NULL;
  LLVMTargetRef target;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
    snprintf(err->msg, sizeof err->msg, "codegen: no target for %s: %s", triple, msg);
    LLVMDisposeMessage(msg);
  } else {
    tm = LLVMCreateTargetMachine(target, triple, cpu, features, codegen_level(level),
                                 pic ? LLVMRelocPIC : LLVMRelocDefault,
                                 pic ? LLVMCodeModelDefault : LLVMCodeModelJITDefault);
    if (!tm) snprintf(err->msg, sizeof err->msg, "codegen: cannot make a machine for %s", cpu);
    *vw = cg_vec_width(cpu, features);
  }
  LLVMDisposeMessage(triple);
  LLVMDisposeMessage(host_cpu);
  LLVMDisposeMessage(host_features);
  return tm;
}

LLVMMemoryBufferRef cg_module_emit(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level,
                                   cg_stats *st, seqrt_error *err) {
  double t = cg_now_ms();
  if (!cg_module_optimize(mod, tm, level, err)) return NULL;
  st->optimize_ms = cg_now_ms() - t;
  t = cg_now_ms();
  char *msg = NULL;
  LLVMMemoryBufferRef obj = NULL;
  if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &obj)) {
    snprintf(err->msg, sizeof err->msg, "codegen: machine code: %s", msg ? msg : "?");
    LLVMDisposeMessage(msg);
    return NULL;
  }
  st->machine_ms = cg_now_ms() - t;
  return obj;
}

/*
 * The optimization pipeline of every level above 0. seqc's IR is already
 * what LLVM's loop passes would make of it: vectors of the machine's width,
 * tiles unrolled, loops counted in steps of them. LLVM's default<O3> spent
 * 60% of its time (and 55% of a cold compile) on loop unrolling,
 * unswitching, vectorizers and their analyses that found nothing to do,
 * and made no faster code (issue 18: bench/ab.sh on the 14 workloads of
 * bench/, new/old 0.988 to 1.010; bench/gemm_bench the same GFLOP/s).
 * What the kernels need: a part's module without what only the other
 * parts use (globaldce: parallel.c leaves their tables behind), registers
 * for their locals (sroa), common subexpressions and constants of the
 * specialized sizes folded (early-cse, instcombine, gvn), loops rotated so
 * that loads and address arithmetic leave them (licm), counted loops
 * simplified and the ones with a few known steps unrolled (indvars,
 * loop-unroll-full: the k loops of a specialized attention GEMM).
 * instcombine runs as default<O3> runs it, without its fixpoint check
 * (LLVM 19 aborts the process when one iteration did not settle).
 */
#define KERNEL_PIPELINE                                                                    \
  "globaldce,function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg," \
  "loop(loop-rotate),loop-mssa(licm),loop(indvars,loop-unroll-full),gvn,"                  \
  "instcombine<no-verify-fixpoint>,simplifycfg)"

bool cg_module_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level, seqrt_error *err) {
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(mod, layout);
  LLVMDisposeTargetData(layout);

  char *msg = NULL;
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
    snprintf(err->msg, sizeof err->msg, "codegen: invalid module (a compiler bug): %s", msg);
    LLVMDisposeMessage(msg);
    return false;
  }
  LLVMDisposeMessage(msg);
  LLVMPassBuilderOptionsRef pbo = LLVMCreatePassBuilderOptions();
  LLVMErrorRef e = LLVMRunPasses(mod, level <= 0 ? "default<O0>" : KERNEL_PIPELINE, tm, pbo);
  LLVMDisposePassBuilderOptions(pbo);
  if (e) {
    char *m = LLVMGetErrorMessage(e);
    snprintf(err->msg, sizeof err->msg, "codegen: optimizing: %s", m);
    LLVMDisposeErrorMessage(m);
    return false;
  }
  return true;
}
