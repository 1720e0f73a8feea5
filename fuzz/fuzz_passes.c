/*
 * fuzz_passes.c: what the frontend accepts goes through the pass pipeline
 * without codegen (no target: the schedule pass does nothing, no LLVM):
 * first with the dims left symbolic (`seqc ir`, objects compiled ahead of
 * time), then, on a fresh lowering, with every dim bound to its default as
 * `seqc run` binds them. The pipeline may reject a model only with an error
 * for the user (a shape it cannot take); failing without one means a pass
 * broke the graph (the verifier said so on stderr).
 */
#include "fuzz.h"

#include "fe.h"
#include "passes.h"

/* lowers src and runs the pipeline, dims bound to their defaults when bind;
 * false when the frontend or the pipeline rejected the model */
static bool lower_and_pass(const char *src, size_t size, bool bind) {
  ir_diags d;
  ir_diags_init(&d, "fuzz.yaml", src, size, fuzz_null_stream());
  fe_ast *ast = fe_parse_yaml(src, size, &d);
  ir_graph *g = ast ? fe_lower(ast, &d) : NULL;
  bool passed = false;
  if (g) {
    int64_t syms[IR_MAX_SYMS] = {0};
    for (int s = 0; s < g->nsyms; s++) syms[s] = g->syms[s].def_value;
    ir_syms_complete(g, syms);
    pass_ctx ctx = {.diags = &d, .syms = bind ? syms : NULL};
    int before = d.nerrors;
    passed = pass_run_pipeline(g, &ctx);
    if (!passed) FUZZ_CHECK(d.nerrors > before);
  }
  ir_graph_free(g);
  fe_ast_free(ast);
  return passed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *src = malloc(size ? size : 1);
  FUZZ_CHECK(src);
  memcpy(src, data, size);
  if (lower_and_pass(src, size, false)) lower_and_pass(src, size, true);
  free(src);
  return 0;
}
