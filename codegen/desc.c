/*
 * desc.c: the seqrt_model_desc of a planned graph, the runtime's view of a
 * compiled model: every buffer with its name, type, role and lifetime, the
 * inputs and outputs by buffer id, and the symbols. Everything is malloc'd
 * here and freed by cg_desc_free; the entry points are filled in by the JIT.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

static char *dup(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  IR_ASSERT(p);
  memcpy(p, s, n);
  return p;
}

/* the name a buffer is known by: output name, else the value's own name */
static const char *buffer_name(const ir_graph *g, const ir_buffer *b) {
  if (b->role == SEQRT_ROLE_OUTPUT)
    for (int i = 0; i < g->noutputs; i++)
      if (g->outputs[i].value == b->value) return g->outputs[i].name;
  return (b->graph ? b->graph : g)->values[b->value].name;
}

seqrt_model_desc *cg_desc_new(const ir_graph *g, const int64_t *bind_syms) {
  seqrt_model_desc *d = calloc(1, sizeof *d);
  IR_ASSERT(d);
  d->abi_version = SEQRT_ABI_VERSION;
  d->name = dup(g->name ? g->name : "model");

  d->nsyms = g->nsyms;
  const char **sym_names = calloc((size_t)g->nsyms + 1, sizeof *sym_names);
  int64_t *defaults = calloc((size_t)g->nsyms + 1, sizeof *defaults);
  int64_t *bound = calloc((size_t)g->nsyms + 1, sizeof *bound);
  IR_ASSERT(sym_names && defaults && bound);
  for (int i = 0; i < g->nsyms; i++) {
    sym_names[i] = dup(g->syms[i].name);
    defaults[i] = g->syms[i].def_value;
    bound[i] = bind_syms ? bind_syms[i] : -1;
  }
  d->sym_names = sym_names;
  d->sym_defaults = defaults;
  d->sym_bound = bound;

  /* derived symbols follow the base ones; the session computes them */
  d->nderived = g->nderived;
  seqrt_sym_def *defs = calloc((size_t)g->nderived + 1, sizeof *defs);
  IR_ASSERT(defs);
  for (int i = 0; i < g->nderived; i++) {
    const ir_symbol *s = &g->syms[g->nsyms + i];
    defs[i].name = dup(s->name);
    defs[i].what = dup(s->what);
    defs[i].nterms = s->nterms;
    for (int k = 0; k < s->nterms; k++)
      defs[i].terms[k] = (seqrt_dim){s->terms[k].coef, {s->terms[k].sym[0], s->terms[k].sym[1]}};
    defs[i].den = s->den;
    defs[i].min = s->min;
  }
  d->derived = defs;
  d->position_sym = g->position_sym;
  d->streaming = g->streams;
  int32_t *is_static = calloc((size_t)g->ninputs + 1, sizeof *is_static);
  IR_ASSERT(is_static);
  for (int i = 0; i < g->ninputs; i++) is_static[i] = g->values[g->inputs[i]].is_static;
  d->input_static = is_static;
  d->nignored = g->nignored;
  const char **ignored = calloc((size_t)g->nignored + 1, sizeof *ignored);
  IR_ASSERT(ignored);
  for (int i = 0; i < g->nignored; i++) ignored[i] = dup(g->ignored[i]);
  d->ignored = ignored;

  d->nbufs = g->nbuffers;
  seqrt_buffer_desc *bufs = calloc((size_t)g->nbuffers + 1, sizeof *bufs);
  IR_ASSERT(bufs);
  for (int i = 0; i < g->nbuffers; i++) {
    const ir_buffer *b = &g->buffers[i];
    const ir_type *t = &(b->graph ? b->graph : g)->values[b->value].type; /* body or top */
    seqrt_buffer_desc *o = &bufs[i];
    o->name = dup(buffer_name(g, b));
    o->dtype = (int32_t)t->dtype;
    o->role = (int32_t)b->role;
    o->rank = t->rank;
    for (int k = 0; k < t->rank; k++) {
      o->shape[k].coef = t->dims[k].coef;
      o->shape[k].sym[0] = t->dims[k].sym[0];
      o->shape[k].sym[1] = t->dims[k].sym[1];
    }
    o->first = b->first;
    o->last = b->last;
    o->alias = b->role == SEQRT_ROLE_ALIAS ? b->alias : -1;
  }
  d->bufs = bufs;

  d->ninputs = g->ninputs;
  int32_t *inputs = calloc((size_t)g->ninputs + 1, sizeof *inputs);
  IR_ASSERT(inputs);
  for (int i = 0; i < g->ninputs; i++) inputs[i] = g->values[g->inputs[i]].buffer;
  d->inputs = inputs;

  d->noutputs = g->noutputs;
  int32_t *outputs = calloc((size_t)g->noutputs + 1, sizeof *outputs);
  const char **names = calloc((size_t)g->noutputs + 1, sizeof *names);
  IR_ASSERT(outputs && names);
  for (int i = 0; i < g->noutputs; i++) {
    outputs[i] = g->values[g->outputs[i].value].buffer;
    names[i] = dup(g->outputs[i].name);
  }
  d->outputs = outputs;
  d->output_names = names;
  return d;
}

void cg_desc_free(seqrt_model_desc *d) {
  if (!d) return;
  free((char *)d->name);
  for (int i = 0; i < d->nsyms; i++) free((char *)d->sym_names[i]);
  free((void *)d->sym_names);
  free((void *)d->sym_defaults);
  free((void *)d->sym_bound);
  for (int i = 0; i < d->nderived; i++) {
    free((char *)d->derived[i].name);
    free((char *)d->derived[i].what);
  }
  free((void *)d->derived);
  for (int i = 0; i < d->nbufs; i++) free((char *)d->bufs[i].name);
  free((void *)d->bufs);
  free((void *)d->inputs);
  free((void *)d->input_static);
  for (int i = 0; i < d->nignored; i++) free((char *)d->ignored[i]);
  free((void *)d->ignored);
  for (int i = 0; i < d->noutputs; i++) free((char *)d->output_names[i]);
  free((void *)d->output_names);
  free((void *)d->outputs);
  free(d);
}
