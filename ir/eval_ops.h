/*
 * eval_ops.h: the reference interpreter's kernels (eval_ops.c), private to
 * ir/ (eval.c calls them; nothing outside ir/ includes this).
 */
#ifndef SEQC_IR_EVAL_OPS_H
#define SEQC_IR_EVAL_OPS_H

#include "ir.h"

/*
 * Computes node n of g (any op but FUSED, which eval.c runs as a graph) from
 * the tensors in[0..n->ninputs). out arrives with dtype, rank and shape taken
 * from the result type and data allocated; the kernel checks that the inputs
 * give that shape (a mismatch is an inference bug, reported as an internal
 * error) and fills it. Returns false with err set on any error.
 */
bool ir_eval_kernel(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                    seqrt_tensor *out, seqrt_error *err);

/* sets err->msg (if err) and returns false */
bool ir_eval_fail(seqrt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
