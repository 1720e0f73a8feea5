/*
 * prompt.c: what `seqc generate` reads before it runs: the model's token
 * input and logits (the shape SPEC 9 asks for), and the prompt, by --prompt
 * (ids, or text with --vocab) or --input, repeated once per beam with --beams.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* d is the dim of symbol s alone */
static bool is_sym(ir_dim d, int s) {
  return s >= 0 && d.coef == 1 && d.sym[0] == s && d.sym[1] < 0;
}

/* the token input and the logits, or an error saying why the model cannot generate */
int cli_lm_find(const ir_graph *g, const char *path, cli_lm_shape *lm) {
  int t = g->position_sym;
  if (t < 0)
    return cli_error(
        "%s: the model has no position dim (position_dim:, default T): generate "
        "needs a token input [B, T]",
        path);
  const char *tn = g->syms[t].name;
  lm->tokens = -1;
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (v->type.dtype == IR_F32 || v->type.rank != 2 || !is_sym(v->type.dims[1], t)) continue;
    if (lm->tokens >= 0)
      return cli_error(
          "%s: inputs '%s' and '%s' are both integer [B, %s]: generate needs one "
          "token input",
          path, g->values[g->inputs[lm->tokens]].name, v->name, tn);
    lm->tokens = i;
  }
  if (lm->tokens < 0)
    return cli_error(
        "%s: the model has no token input: generate needs an integer input "
        "[B, %s] (%s the position dim)",
        path, tn, tn);
  /* the steps extend the tokens along T; another input cannot grow with them */
  for (int i = 0; i < g->ninputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    for (int k = 0; k < v->type.rank && i != lm->tokens; k++)
      for (int q = 0; q < IR_DIM_SYMS; q++)
        if (v->type.dims[k].sym[q] == t)
          return cli_error(
              "%s: input '%s' has the position dim %s too: generate feeds tokens "
              "along %s, and nothing else",
              path, v->name, tn, tn);
  }
  lm->value = g->inputs[lm->tokens];
  const ir_type *tok = &g->values[lm->value].type;
  lm->dtype = tok->dtype;
  char buf[128], bdim[64];
  if (g->noutputs < 1) return cli_error("%s: the model has no output", path);
  const ir_value *out = &g->values[g->outputs[0].value];
  const ir_type *o = &out->type;
  if (o->dtype != IR_F32 || o->rank != 3 || !ir_dim_eq(o->dims[0], tok->dims[0]) ||
      !is_sym(o->dims[1], t))
    return cli_error("%s: the first output '%s' is %s %s: generate needs logits f32 [%s, %s, V]",
                     path, g->outputs[0].name, ir_dtype_name(o->dtype),
                     ir_type_str(g, o, buf, sizeof buf),
                     ir_dim_str(g, tok->dims[0], bdim, sizeof bdim), tn);
  lm->logits_v = o->dims[2];
  return CLI_OK;
}

/* --prompt as ids: integers separated by blanks */
static int64_t prompt_ids(const char *s, int64_t *ids) {
  int64_t n = 0;
  while (*s) {
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    if (!*s) break;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || errno == ERANGE ||
        (*end && *end != ' ' && *end != '\t' && *end != '\n'))
      return -1;
    ids[n++] = v;
    s = end;
  }
  return n;
}

/* --prompt with --vocab: text split into tokens; an error names the character */
static int64_t prompt_text(const cli_vocab *v, const char *vocab_path, const char *s,
                           int64_t *ids) {
  size_t bad;
  int64_t n = cli_vocab_encode(v, s, ids, &bad);
  if (n >= 0) return n;
  size_t chars = 0; /* UTF-8 characters before the bad one: the column a user counts */
  for (size_t i = 0; i < bad; i++) chars += ((unsigned char)s[i] & 0xc0) != 0x80;
  size_t len = 1;
  while (s[bad + len] && ((unsigned char)s[bad + len] & 0xc0) == 0x80) len++;
  cli_error("--prompt: no token of %s starts with '%.*s' (character %zu of the prompt)", vocab_path,
            (int)len, s + bad, chars + 1);
  return -1;
}

/* warnings of the input file's loader go through the CLI's one format */
static void warn_input(void *user, const char *msg) {
  cli_warning("%s: %s", (const char *)user, msg);
}

/* the prompt: tokens [B, P] into st->tokens (row stride P+N) and the other inputs */
int cli_gen_read_prompt(cli_gen *st, const cli_gen_args *a, const cli_lm_shape *lm, int64_t *B,
                        int64_t *P) {
  const ir_graph *g = st->m.graph;
  int nin = g->ninputs;
  int64_t *ids = NULL;
  seqrt_tensor tok = {0};
  if (a->input) {
    const char **names = calloc((size_t)nin + 1, sizeof *names);
    IR_ASSERT(names);
    for (int i = 0; i < nin; i++) names[i] = g->values[g->inputs[i]].name;
    seqrt_error err;
    st->in_file = seqrt_st_open(a->input, &err);
    if (!st->in_file) {
      free(names);
      return cli_error("%s", err.msg);
    }
    int status = seqrt_read_inputs(st->in_file, names, nin, a->o.strict, warn_input,
                                   (void *)a->input, NULL, st->inputs, st->given, &err);
    free(names);
    if (status) return cli_error("%s: %s", a->input, err.msg);
    tok = st->inputs[lm->tokens];
    if (tok.dtype == SEQRT_F32 || tok.rank != 2 || tok.shape[0] < 1 || tok.shape[1] < 1) {
      char shape[128];
      return cli_error(
          "%s: input '%s' is %s %s: the tokens must be integer [B, P], B and P at "
          "least 1",
          a->input, g->values[lm->value].name, seqrt_dtype_name(tok.dtype),
          seqrt_shape_str(tok.shape, tok.rank, shape, sizeof shape));
    }
  } else {
    for (int i = 0; i < nin; i++)
      if (i != lm->tokens)
        return cli_error(
            "input '%s' is not given: --prompt gives the tokens only; give every "
            "input with --input IN.safetensors",
            g->values[g->inputs[i]].name);
    ids = calloc(strlen(a->prompt) + 1, sizeof *ids);
    IR_ASSERT(ids);
    int64_t n = st->vocab.text ? prompt_text(&st->vocab, a->vocab, a->prompt, ids)
                               : prompt_ids(a->prompt, ids);
    if (n < 0 && !st->vocab.text) {
      free(ids);
      return cli_usage_error("generate",
                             "--prompt wants token ids separated by spaces (or "
                             "text with --vocab), got '%s'",
                             a->prompt);
    }
    if (n == 0) {
      free(ids);
      return cli_usage_error("generate", "--prompt is empty");
    }
    if (n < 0) {
      free(ids);
      return CLI_ERROR;
    }
    tok = (seqrt_tensor){.dtype = SEQRT_I64, .rank = 2, .shape = {1, n}, .data = ids};
  }
  *B = tok.shape[0];
  *P = tok.shape[1];
  int64_t stride = *P + a->max_new;
  st->tokens = calloc((size_t)(*B * stride), sizeof *st->tokens);
  IR_ASSERT(st->tokens);
  for (int64_t b = 0; b < *B; b++)
    for (int64_t t = 0; t < *P; t++) {
      int64_t k = b * *P + t;
      int64_t id =
          tok.dtype == SEQRT_I32 ? ((const int32_t *)tok.data)[k] : ((const int64_t *)tok.data)[k];
      if (id < 0) {
        free(ids);
        return cli_error("%s: token %lld at [%lld, %lld] is negative", a->input, (long long)id,
                         (long long)b, (long long)t);
      }
      st->tokens[b * stride + t] = id;
    }
  free(ids);
  /* the token input, as each run binds it: the feed buffer, [B, P] for now */
  st->feed = calloc((size_t)(*B * stride), ir_dtype_size(lm->dtype));
  IR_ASSERT(st->feed);
  st->inputs[lm->tokens] = (seqrt_tensor){
      .dtype = (seqrt_dtype)lm->dtype, .rank = 2, .shape = {*B, *P}, .data = st->feed};
  st->given[lm->tokens] = true;
  return CLI_OK;
}

/* rows of t (along dim 0, each `row` bytes) repeated n times each, new memory */
static void *repeat_rows(const seqrt_tensor *t, int64_t n) {
  size_t row = seqrt_dtype_size(t->dtype);
  for (int k = 1; k < t->rank; k++) row *= (size_t)t->shape[k];
  unsigned char *out = malloc(row * (size_t)(t->shape[0] * n) + 1);
  IR_ASSERT(out);
  for (int64_t b = 0; b < t->shape[0]; b++)
    for (int64_t i = 0; i < n; i++)
      memcpy(out + (size_t)(b * n + i) * row, (const unsigned char *)t->data + (size_t)b * row,
             row);
  return out;
}

int cli_gen_repeat_rows(cli_gen *st, const cli_gen_args *a, const cli_lm_shape *lm, int64_t *B,
                        int64_t P) {
  const ir_graph *g = st->m.graph;
  int64_t n = a->beams, stride = P + a->max_new;
  ir_dim batch = g->values[lm->value].type.dims[0];
  char bname[64];
  ir_dim_str(g, batch, bname, sizeof bname);
  st->repeated = calloc((size_t)g->ninputs + 1, sizeof *st->repeated);
  IR_ASSERT(st->repeated);
  for (int i = 0; i < g->ninputs; i++) {
    const ir_type *t = &g->values[g->inputs[i]].type;
    if (i == lm->tokens || !st->given[i]) continue;
    for (int k = 1; k < t->rank; k++)
      if (ir_dim_eq(t->dims[k], batch))
        return cli_error(
            "--beams: input '%s' has the batch dim %s at axis %d: beam search repeats "
            "each row of the inputs whose first dim is %s",
            g->values[g->inputs[i]].name, bname, k, bname);
    if (t->rank < 1 || !ir_dim_eq(t->dims[0], batch)) continue; /* shared by the rows */
    st->repeated[i] = repeat_rows(&st->inputs[i], n);
    st->inputs[i].data = st->repeated[i];
    st->inputs[i].shape[0] *= n;
  }
  /* the tokens: row b*n+i is prompt row b, laid out for the new tokens */
  seqrt_tensor tok = {.dtype = SEQRT_I64, .rank = 2, .shape = {*B, stride}, .data = st->tokens};
  int64_t *tokens = repeat_rows(&tok, n);
  free(st->tokens);
  st->tokens = tokens;
  *B *= n;
  free(st->feed);
  st->feed = calloc((size_t)(*B * stride), ir_dtype_size(lm->dtype));
  IR_ASSERT(st->feed);
  st->inputs[lm->tokens].data = st->feed;
  st->inputs[lm->tokens].shape[0] = *B;
  return CLI_OK;
}
