/*
 * fuzz_inputs.c: bytes as the --input file of a run. A small model (an
 * embedding of integer tokens added to float features, then a linear layer;
 * every dim symbolic, so each input file binds its own) is compiled once by
 * the JIT; every input goes through the runtime's driver as `seqc run
 * --input` and `seqrt-run` use it: read the inputs by name, bind the dims
 * from their shapes, make a session with random weights, run, print a
 * summary of the outputs. Whatever the file holds, the driver must report an
 * error or run, never crash.
 */
#include "fuzz.h"

#include "cg.h"
#include "fe.h"
#include "passes.h"
#include "seqrt.h"

static const char model[] =
    "seqc: 1\n"
    "name: fuzz_inputs\n"
    "dims: {B: 2, T: 3}\n"
    "inputs:\n"
    "  x: {dtype: f32, shape: [B, T, 4]}\n"
    "  tok: {dtype: i32, shape: [B, T]}\n"
    "outputs: [y]\n"
    "nodes:\n"
    "  e: {op: embedding, input: tok, num_embeddings: 5, embedding_dim: 4}\n"
    "  s: {op: add, inputs: [x, e]}\n"
    "  y: {op: linear, input: s, out_features: 2}\n";

/* the compiled model, made by LLVMFuzzerInitialize and kept for the process */
static cg_jit *jit;

/* parse, lower, passes with every dim left symbolic, JIT: as `seqc run` does
 * for runs of different lengths (no compile cache) */
static cg_jit *compile_model(void) {
  ir_diags d;
  ir_diags_init(&d, "fuzz_inputs.yaml", model, sizeof model - 1, stderr);
  fe_ast *ast = fe_parse_yaml(model, sizeof model - 1, &d);
  ir_graph *g = ast ? fe_lower(ast, &d) : NULL;
  FUZZ_CHECK(g);
  int64_t syms[IR_MAX_SYMS];
  for (int i = 0; i < IR_MAX_SYMS; i++) syms[i] = -1;
  cg_options opt = {.bind_syms = syms, .opt_level = 1, .compile_threads = 1};
  ir_target target;
  cg_target(&opt, &target);
  pass_ctx ctx = {.diags = &d, .target = &target, .bind_syms = syms};
  FUZZ_CHECK(pass_run_pipeline(g, &ctx));
  seqrt_error err;
  cg_jit *j = cg_jit_compile(g, &opt, &err);
  if (!j) fprintf(stderr, "fuzz_inputs: %s\n", err.msg);
  FUZZ_CHECK(j);
  ir_graph_free(g);
  fe_ast_free(ast);
  return j;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  jit = compile_model();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  FUZZ_CHECK(fd >= 0);
  seqrt_driver drv = {.tool = "seqc",
                      .desc = cg_jit_desc(jit),
                      .weights_seed = 1,
                      .threads = 1};
  seqrt_driver_run run = {.input = path, .output = NULL};
  int status = seqrt_drive(&drv, &run, 1);
  FUZZ_CHECK(status == SEQRT_EXIT_OK || status == SEQRT_EXIT_ERROR);
  close(fd);
  return 0;
}
