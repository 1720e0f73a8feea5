/*
 * fuzz_frontend.c: bytes as a model file. Parse, lower (which infers every
 * type) and verify: the frontend must never crash, give a graph exactly when
 * it reported no error, and the graph it gives must pass the verifier.
 */
#include "fuzz.h"

#include "fe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size copy: the frontend gets a length, not a NUL, so ASan
   * catches a read one past the end */
  char *src = malloc(size ? size : 1);
  FUZZ_CHECK(src);
  memcpy(src, data, size);
  ir_diags d;
  ir_diags_init(&d, "fuzz.yaml", src, size, fuzz_null_stream());
  fe_ast *ast = fe_parse_yaml(src, size, &d);
  FUZZ_CHECK(ast || d.nerrors > 0);
  ir_graph *g = ast ? fe_lower(ast, &d) : NULL;
  if (ast) FUZZ_CHECK((g != NULL) == (d.nerrors == 0));
  if (g) FUZZ_CHECK(ir_verify(g, "frontend", stderr));
  ir_graph_free(g);
  fe_ast_free(ast);
  free(src);
  return 0;
}
