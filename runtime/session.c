/*
 * session.c: a model planned for its symbol values, with its memory and its
 * thread team; runs the SPMD entries in one OpenMP region each.
 *
 * The plan (buffer shapes and sizes at the dims given, the arena's layout) is
 * made once in seqrt_session_new. A run takes its own dims from its inputs'
 * shapes, each at most the planned one: every buffer's size then only
 * shrinks (a shape is a product of dims with non-negative factors, a derived
 * dim such as (T-3)/2+1 grows with the dims it is made of, and a run checks
 * both anyway), so the planned offsets serve every smaller run and a run
 * allocates nothing: it binds its dims, checks its inputs, points the buffer
 * table at them and enters the region.
 */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* a name for buffer b in messages */
static const char *buf_name(const seqrt_model_desc *d, int b) {
  return d->bufs[b].name ? d->bufs[b].name : "?";
}

/* checks what the session relies on in a descriptor (it may come from an old object file);
 * with code, also its entry point (a plan needs none: a descriptor made before the code,
 * cg_desc_new's, sizes a session too) */
static bool check_desc(const seqrt_model_desc *d, bool code, seqrt_error *err) {
  if (!d) {
    rt_errorf(err, "no model descriptor");
    return false;
  }
  if (d->abi_version != SEQRT_ABI_VERSION) {
    rt_errorf(err, "model '%s' was compiled for runtime ABI %u, this runtime has ABI %d",
              d->name ? d->name : "?", d->abi_version, SEQRT_ABI_VERSION);
    return false;
  }
  const char *why = NULL;
  if (d->nsyms < 0 || d->nderived < 0 || d->nbufs < 0 || d->ninputs < 0 || d->noutputs < 0)
    why = "negative count";
  else if ((d->nsyms && (!d->sym_names || !d->sym_defaults)) || (d->nbufs && !d->bufs) ||
           (d->ninputs && !d->inputs) || (d->noutputs && (!d->outputs || !d->output_names)) ||
           (d->nderived && !d->derived) || (code && !d->run))
    why = "missing table";
  int32_t nall = why ? 0 : d->nsyms + d->nderived;
  for (int i = 0; !why && i < d->nderived; i++) {
    const seqrt_sym_def *def = &d->derived[i];
    if (def->nterms < 1 || def->nterms > SEQRT_SYM_TERMS || def->den < 1)
      why = "bad derived dim";
    for (int k = 0; !why && k < def->nterms; k++)
      for (int j = 0; j < 2; j++) /* over earlier symbols only */
        if (def->terms[k].sym[j] < -1 || def->terms[k].sym[j] >= d->nsyms + i)
          why = "bad derived dim";
  }
  for (int i = 0; !why && i < d->nbufs; i++) {
    const seqrt_buffer_desc *b = &d->bufs[i];
    if ((unsigned)b->dtype > SEQRT_I64 || (unsigned)b->role > SEQRT_ROLE_STATE)
      why = "bad dtype or role";
    else if (b->rank < 0 || b->rank > SEQRT_MAX_RANK)
      why = "bad rank";
    else if (b->role == SEQRT_ROLE_ALIAS && (b->alias < 0 || b->alias >= d->nbufs))
      why = "bad alias";
    else if ((b->role == SEQRT_ROLE_PARAM || b->role == SEQRT_ROLE_INPUT) && !b->name)
      why = "unnamed input or parameter";
    for (int k = 0; !why && k < b->rank; k++)
      for (int j = 0; j < 2; j++)
        if (b->shape[k].sym[j] < -1 || b->shape[k].sym[j] >= nall || b->shape[k].coef < 0)
          why = "bad dim";
    /* an alias chain longer than the buffer count goes round in circles */
    int r = i, steps = 0;
    while (!why && d->bufs[r].role == SEQRT_ROLE_ALIAS) {
      r = d->bufs[r].alias;
      if (r < 0 || r >= d->nbufs || ++steps > d->nbufs) why = "alias cycle";
    }
  }
  if (!why && d->streaming && (d->position_sym < -1 || d->position_sym >= d->nsyms))
    why = "bad position dim";
  for (int i = 0; !why && i < d->ninputs; i++)
    if (d->inputs[i] < 0 || d->inputs[i] >= d->nbufs ||
        d->bufs[d->inputs[i]].role != SEQRT_ROLE_INPUT)
      why = "bad input";
  for (int i = 0; !why && i < d->noutputs; i++)
    if (d->outputs[i] < 0 || d->outputs[i] >= d->nbufs || !d->output_names[i]) why = "bad output";
  if (why) {
    rt_errorf(err, "model '%s': invalid descriptor (%s)", d->name ? d->name : "?", why);
    return false;
  }
  return true;
}

static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* the derived symbols of syms (nsyms + nderived entries) from its base ones;
 * one below its min is the dims' error */
static bool derive_syms(const seqrt_session *s, int64_t *syms, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  for (int i = 0; i < d->nderived; i++) {
    const seqrt_sym_def *def = &d->derived[i];
    int64_t v = 0;
    bool ok = true;
    for (int k = 0; k < def->nterms; k++) {
      int64_t m = def->terms[k].coef;
      for (int j = 0; j < 2; j++) {
        int32_t sym = def->terms[k].sym[j];
        if (sym >= 0 && __builtin_mul_overflow(m, syms[sym], &m)) ok = false;
      }
      if (__builtin_add_overflow(v, m, &v)) ok = false;
    }
    if (!ok) {
      rt_errorf(err, "dim %s is too large for the dims given", def->name ? def->name : "?");
      return false;
    }
    v = floordiv(v, def->den);
    if (v < def->min) {
      char dims[256];
      size_t n = 0;
      dims[0] = '\0';
      for (int b = 0; b < d->nsyms && n < sizeof dims; b++)
        n += (size_t)snprintf(dims + n, sizeof dims - n, "%s%s = %lld", b ? ", " : "",
                              d->sym_names[b] ? d->sym_names[b] : "?", (long long)syms[b]);
      rt_errorf(err, "%s %s is %lld for %s", def->what ? def->what : "dim",
                def->name ? def->name : "?", (long long)v, dims);
      return false;
    }
    syms[d->nsyms + i] = v;
  }
  return true;
}

/* symbol values: given, else bound at compile time, else the default */
static bool bind_syms(seqrt_session *s, const int64_t *given, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  for (int i = 0; i < d->nsyms; i++) {
    const char *name = d->sym_names[i] ? d->sym_names[i] : "?";
    int64_t bound = d->sym_bound ? d->sym_bound[i] : -1;
    int64_t v = given && given[i] >= 0 ? given[i] : bound >= 0 ? bound : d->sym_defaults[i];
    if (bound >= 0 && v != bound) {
      rt_errorf(err, "dim %s = %lld, but the model was compiled for %s = %lld", name, (long long)v,
                name, (long long)bound);
      return false;
    }
    if (v < 0) {
      rt_errorf(err, "dim %s has no value", name);
      return false;
    }
    s->syms[i] = v;
  }
  return derive_syms(s, s->syms, err);
}

/* shape (rank entries) and byte size (rounded up to 64) of buffer b under syms;
 * false when it does not fit in size_t */
static bool buffer_shape(const seqrt_buffer_desc *b, const int64_t *syms, int64_t *shape,
                         size_t *bytes) {
  bool ok = true, empty = false;
  for (int k = 0; k < b->rank; k++) {
    int64_t v = b->shape[k].coef;
    for (int j = 0; j < 2; j++)
      if (b->shape[k].sym[j] >= 0 && __builtin_mul_overflow(v, syms[b->shape[k].sym[j]], &v))
        ok = false;
    shape[k] = ok ? v : 0;
    if (ok && v == 0) empty = true;
  }
  /* a zero dim empties the buffer, however large the others */
  size_t n = empty ? 0 : seqrt_dtype_size((seqrt_dtype)b->dtype);
  for (int k = 0; ok && !empty && k < b->rank; k++)
    if (shape[k] < 0 || (uint64_t)shape[k] > SIZE_MAX || !rt_mul_size(n, (size_t)shape[k], &n))
      ok = false;
  if (!ok || !rt_round64(n, &n)) return false;
  *bytes = n;
  return true;
}

/* shape and byte size of every buffer */
static bool size_buffers(seqrt_session *s, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  for (int i = 0; i < d->nbufs; i++) {
    size_t bytes;
    if (!buffer_shape(&d->bufs[i], s->syms, &s->shapes[(size_t)i * SEQRT_MAX_RANK], &bytes)) {
      rt_errorf(err, "buffer '%s' is too large for the dims given", buf_name(d, i));
      return false;
    }
    s->bytes[i] = bytes;
    int r = i;
    while (d->bufs[r].role == SEQRT_ROLE_ALIAS) r = d->bufs[r].alias;
    s->root[i] = r;
  }
  return true;
}

/* lifetime of arena block b: TEMP over [first, last], OUTPUT from first to the end */
static void lifetime(const seqrt_buffer_desc *b, int32_t *first, int32_t *last) {
  if (b->role == SEQRT_ROLE_OUTPUT) {
    *first = b->first > 0 ? b->first : 0;
    *last = INT32_MAX;
  } else if (b->first < 0) { /* unknown: live all along */
    *first = 0;
    *last = INT32_MAX;
  } else {
    *first = b->first;
    *last = b->last > b->first ? b->last : b->first;
  }
}

/* plans the arena and the prepared block and allocates both */
static bool place_buffers(seqrt_session *s, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  rt_block *blocks = calloc((size_t)d->nbufs + 1, sizeof *blocks);
  int *block_of = malloc(sizeof(int) * ((size_t)d->nbufs + 1));
  if (!blocks || !block_of) {
    free(blocks);
    free(block_of);
    rt_errorf(err, "out of memory planning the arena");
    return false;
  }
  int n = 0;
  size_t arena_sum = 0, prepared = 0, state = 0;
  bool overflow = false;
  for (int i = 0; i < d->nbufs; i++) {
    block_of[i] = -1;
    int role = d->bufs[i].role;
    size_t *own = role == SEQRT_ROLE_PREPARED ? &prepared : role == SEQRT_ROLE_STATE ? &state : NULL;
    if (own) {
      if (*own > SIZE_MAX - s->bytes[i])
        overflow = true;
      else
        *own += s->bytes[i];
    } else if (role == SEQRT_ROLE_TEMP || role == SEQRT_ROLE_OUTPUT) {
      block_of[i] = n;
      blocks[n].size = s->bytes[i];
      lifetime(&d->bufs[i], &blocks[n].first, &blocks[n].last);
      if (arena_sum > SIZE_MAX - s->bytes[i])
        overflow = true;
      else
        arena_sum += s->bytes[i];
      n++;
    }
  }
  /* a view keeps the memory it views alive while it is read */
  for (int i = 0; i < d->nbufs; i++) {
    int k = block_of[s->root[i]];
    if (d->bufs[i].role != SEQRT_ROLE_ALIAS || k < 0 || d->bufs[i].first < 0) continue;
    int32_t first, last;
    lifetime(&d->bufs[i], &first, &last);
    if (first < blocks[k].first) blocks[k].first = first;
    if (last > blocks[k].last) blocks[k].last = last;
  }
  bool ok = !overflow;
  if (!ok) rt_errorf(err, "the model's buffers are too large for the dims given");
  if (ok) {
    s->arena_bytes = rt_plan(blocks, n);
    s->prepared_bytes = prepared;
    s->state_bytes = state;
  }
  if (ok && s->plan_only) { /* seqrt_session_need: sizes, no memory */
    free(blocks);
    free(block_of);
    return true;
  }
  if (ok) {
    s->arena = rt_alloc64(s->arena_bytes);
    s->prepared = rt_alloc64(prepared);
    s->state = rt_alloc64(state); /* zeroed: the state after a reset */
    if (!s->arena || !s->prepared || !s->state) {
      rt_errorf(err, "cannot allocate %zu bytes for the model's buffers",
                s->arena_bytes + prepared + state);
      ok = false;
    }
  }
  size_t at = 0, state_at = 0;
  for (int i = 0; ok && i < d->nbufs; i++) {
    if (block_of[i] >= 0) {
      s->bufs[i] = s->arena + blocks[block_of[i]].offset;
    } else if (d->bufs[i].role == SEQRT_ROLE_PREPARED) {
      s->bufs[i] = s->prepared + at;
      at += s->bytes[i];
    } else if (d->bufs[i].role == SEQRT_ROLE_STATE) {
      s->bufs[i] = s->state + state_at;
      state_at += s->bytes[i];
    }
  }
  free(blocks);
  free(block_of);
  return ok;
}

/* marks mark[k] for every symbol k that dim x is made of, derived or base */
static void mark_dim(seqrt_dim x, bool *mark) {
  for (int j = 0; j < 2; j++)
    if (x.sym[j] >= 0) mark[x.sym[j]] = true;
}

/* an input given by the first run after a reset only (SPEC 9) */
static bool is_static(const seqrt_model_desc *d, int i) {
  return d->input_static && d->input_static[i];
}

/* which symbols a run may change (fixed), which the prepared buffers depend
 * on (prepare_uses), which only static inputs have (static_only); the first
 * run's dims are the plan's */
static bool plan_runs(seqrt_session *s, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  int nall = d->nsyms + d->nderived;
  bool *dynamic = calloc((size_t)nall + 1, sizeof *dynamic); /* a dim of a non-static input */
  if (!dynamic) {
    rt_errorf(err, "out of memory");
    return false;
  }
  for (int i = 0; i < d->ninputs; i++)
    for (int k = 0; k < d->bufs[d->inputs[i]].rank; k++)
      mark_dim(d->bufs[d->inputs[i]].shape[k], is_static(d, i) ? s->static_only : dynamic);
  for (int i = 0; i < nall; i++) s->static_only[i] = i < d->nsyms && s->static_only[i] && !dynamic[i];
  free(dynamic);
  /* a parameter is bound at its planned shape: the dims of its shape stay as planned */
  for (int b = 0; b < d->nbufs; b++)
    for (int k = 0; k < d->bufs[b].rank; k++) {
      if (d->bufs[b].role == SEQRT_ROLE_PARAM) mark_dim(d->bufs[b].shape[k], s->fixed);
      if (d->bufs[b].role == SEQRT_ROLE_PREPARED) mark_dim(d->bufs[b].shape[k], s->prepare_uses);
    }
  /* a derived symbol in a parameter's shape fixes the symbols it is made of
   * (its terms name earlier symbols only, so one pass from the last does it) */
  for (int i = nall - 1; i >= d->nsyms; i--)
    for (int k = 0; s->fixed[i] && k < d->derived[i - d->nsyms].nterms; k++)
      mark_dim(d->derived[i - d->nsyms].terms[k], s->fixed);
  for (int i = 0; i < d->nsyms; i++)
    if (d->sym_bound && d->sym_bound[i] >= 0) s->fixed[i] = true;
  memcpy(s->run_syms, s->syms, sizeof *s->syms * (size_t)nall);
  memcpy(s->run_shapes, s->shapes, sizeof *s->shapes * ((size_t)d->nbufs + 1) * SEQRT_MAX_RANK);
  return true;
}

/* d is exactly base symbol sym */
static bool dim_is(seqrt_dim x, int32_t sym) {
  return sym >= 0 && x.coef == 1 && x.sym[0] == sym && x.sym[1] < 0;
}

/* the rows' symbol (batch_sym) and room to gather the largest STATE buffer's
 * rows (seqrt_session_select_rows): the batch is dim 0 of the non-static
 * input that runs along the position dim, as a language model's tokens [B, T] */
static bool plan_select(seqrt_session *s, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  s->batch_sym = -1;
  for (int i = 0; i < d->ninputs && s->batch_sym < 0 && d->position_sym >= 0; i++) {
    const seqrt_buffer_desc *b = &d->bufs[d->inputs[i]];
    if (is_static(d, i) || b->rank < 2) continue;
    bool along = false;
    for (int k = 1; k < b->rank; k++) along |= dim_is(b->shape[k], d->position_sym);
    if (along && b->shape[0].coef == 1 && b->shape[0].sym[0] >= 0 && b->shape[0].sym[1] < 0 &&
        b->shape[0].sym[0] < d->nsyms && b->shape[0].sym[0] != d->position_sym)
      s->batch_sym = b->shape[0].sym[0];
  }
  size_t largest = 0;
  for (int b = 0; b < d->nbufs; b++)
    if (d->bufs[b].role == SEQRT_ROLE_STATE && s->bytes[b] > largest) largest = s->bytes[b];
  s->select_bytes = largest;
  if (largest == 0 || s->plan_only) return true;
  s->select_copy = rt_alloc64(largest);
  if (!s->select_copy) {
    rt_errorf(err, "cannot allocate %zu bytes for the session's state", largest);
    return false;
  }
  return true;
}

static bool is_integer(int32_t dtype) { return dtype == SEQRT_I32 || dtype == SEQRT_I64; }

/* room to convert each integer input given in the other width (SPEC 11), made
 * here so that a run allocates nothing */
static bool plan_widths(seqrt_session *s, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  s->widths = calloc((size_t)d->ninputs + 1, sizeof *s->widths);
  if (!s->widths) {
    rt_errorf(err, "out of memory");
    return false;
  }
  for (int i = 0; i < d->ninputs; i++) {
    int b = d->inputs[i];
    if (!is_integer(d->bufs[b].dtype)) continue;
    s->widths_bytes += s->bytes[b];
    if (s->plan_only) continue;
    if (!(s->widths[i] = rt_alloc64(s->bytes[b]))) {
      rt_errorf(err, "cannot allocate %zu bytes for input '%s'", s->bytes[b], buf_name(d, b));
      return false;
    }
  }
  return true;
}

/* a session planned for syms; with plan_only, sized and planned but without
 * its buffers (seqrt_session_need) */
static seqrt_session *session_new(const seqrt_model_desc *desc, const int64_t *syms, int nthreads,
                                  bool plan_only, seqrt_error *err) {
  if (!check_desc(desc, !plan_only, err)) return NULL;
  if (nthreads < 0) {
    rt_errorf(err, "thread count %d is negative", nthreads);
    return NULL;
  }
  seqrt_session *s = calloc(1, sizeof *s);
  if (!s) {
    rt_errorf(err, "out of memory");
    return NULL;
  }
  size_t nb = (size_t)desc->nbufs + 1;
  s->desc = desc;
  s->plan_only = plan_only;
  s->nthreads = nthreads ? nthreads : omp_get_num_procs();
  /* the entries' syms: base, derived, then the session's (SEQRT_SESSION_SYMS) */
  size_t nall = (size_t)desc->nsyms + (size_t)desc->nderived + SEQRT_SESSION_SYMS;
  s->syms = calloc(nall, sizeof *s->syms);
  s->run_syms = calloc(nall, sizeof *s->run_syms);
  s->next_syms = calloc(nall, sizeof *s->next_syms);
  s->prepare_syms = calloc(nall, sizeof *s->prepare_syms);
  s->prepare_uses = calloc(nall, sizeof *s->prepare_uses);
  s->fixed = calloc(nall, sizeof *s->fixed);
  s->bound_by = calloc(nall, sizeof *s->bound_by);
  s->static_only = calloc(nall, sizeof *s->static_only);
  s->kept_syms = calloc(nall, sizeof *s->kept_syms);
  s->shapes = calloc(nb * SEQRT_MAX_RANK, sizeof *s->shapes);
  s->run_shapes = calloc(nb * SEQRT_MAX_RANK, sizeof *s->run_shapes);
  s->state_shapes = calloc(nb * SEQRT_MAX_RANK, sizeof *s->state_shapes);
  s->bytes = calloc(nb, sizeof *s->bytes);
  s->root = calloc(nb, sizeof *s->root);
  s->bufs = calloc(nb, sizeof *s->bufs);
  s->params = calloc(nb, sizeof *s->params);
  s->team = rt_team_new(s->nthreads);
  if (!s->syms || !s->run_syms || !s->next_syms || !s->prepare_syms || !s->prepare_uses ||
      !s->fixed || !s->bound_by || !s->static_only || !s->kept_syms || !s->shapes ||
      !s->run_shapes || !s->state_shapes ||
      !s->bytes || !s->root ||
      !s->bufs || !s->params || !s->team) {
    rt_errorf(err, "out of memory");
    goto fail;
  }
  if (!bind_syms(s, syms, err) || !size_buffers(s, err) || !place_buffers(s, err)) goto fail;
  if (!plan_runs(s, err) || !plan_select(s, err)) goto fail;
  if (!plan_widths(s, err)) goto fail;
  if (!plan_only && desc->nembedded && rt_bind_embedded(s, err)) goto fail;
  return s;
fail:
  seqrt_session_free(s);
  return NULL;
}

seqrt_session *seqrt_session_new(const seqrt_model_desc *desc, const int64_t *syms, int nthreads,
                                 seqrt_error *err) {
  return session_new(desc, syms, nthreads, false, err);
}

int seqrt_session_need(const seqrt_model_desc *desc, const int64_t *syms, seqrt_memory_need *need,
                       seqrt_error *err) {
  memset(need, 0, sizeof *need);
  seqrt_session *s = session_new(desc, syms, 1, true, err);
  if (!s) return 1;
  need->arena = s->arena_bytes;
  need->prepared = s->prepared_bytes;
  need->state = s->state_bytes;
  need->scratch = s->select_bytes + s->widths_bytes;
  /* sums of planned sizes that each fit in size_t: saturate rather than wrap */
  for (int b = 0; b < desc->nbufs; b++) {
    size_t *sum = desc->bufs[b].role == SEQRT_ROLE_PARAM   ? &need->params
                  : desc->bufs[b].role == SEQRT_ROLE_INPUT ? &need->inputs
                                                           : NULL;
    if (sum) *sum = *sum > SIZE_MAX - s->bytes[b] ? SIZE_MAX : *sum + s->bytes[b];
  }
  seqrt_session_free(s);
  return 0;
}

void seqrt_session_free(seqrt_session *s) {
  if (!s) return;
  free(s->syms);
  free(s->run_syms);
  free(s->next_syms);
  free(s->prepare_syms);
  free(s->prepare_uses);
  free(s->fixed);
  free(s->bound_by);
  free(s->static_only);
  free(s->kept_syms);
  free(s->shapes);
  free(s->run_shapes);
  free(s->state_shapes);
  free(s->bytes);
  free(s->root);
  free(s->bufs);
  free(s->params);
  free(s->arena);
  free(s->prepared);
  free(s->state);
  free(s->select_copy);
  for (int i = 0; s->widths && i < s->desc->ninputs; i++) free(s->widths[i]);
  free(s->widths);
  free(s->random);
  rt_team_free(s->team);
  free(s);
}

size_t seqrt_session_arena_bytes(const seqrt_session *s) {
  return s->arena_bytes + s->prepared_bytes + s->state_bytes;
}

int64_t seqrt_session_sym(const seqrt_session *s, int i) {
  return i >= 0 && i < s->desc->nsyms + s->desc->nderived ? s->syms[i] : -1;
}

void seqrt_session_reset(seqrt_session *s) {
  memset(s->state, 0, s->state_bytes);
  s->position = 0;
  s->runs = 0;
}

int64_t seqrt_session_position(const seqrt_session *s) { return s->position; }

/* the axis of STATE buffer b that is the rows' symbol, -1 none; -2 when the
 * symbol is inside a larger dim (B*4), where rows are not contiguous blocks */
static int batch_axis(const seqrt_session *s, int b) {
  const seqrt_buffer_desc *bd = &s->desc->bufs[b];
  for (int k = 0; k < bd->rank; k++) {
    if (dim_is(bd->shape[k], s->batch_sym)) return k;
    if (bd->shape[k].sym[0] == s->batch_sym || bd->shape[k].sym[1] == s->batch_sym) return -2;
  }
  return -1;
}

int seqrt_session_select_rows(seqrt_session *s, const int64_t *rows, int64_t n, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  if (s->batch_sym < 0) {
    for (int b = 0; b < d->nbufs; b++)
      if (d->bufs[b].role == SEQRT_ROLE_STATE) {
        rt_errorf(err,
                  "model '%s' has no batch dim (dim 0 of an input along its position dim): "
                  "its state has no rows to select",
                  d->name ? d->name : "?");
        return 1;
      }
    return 0; /* nothing kept, nothing to select */
  }
  /* the kept state has the first run's rows; before a run it is all zero */
  int64_t have = s->runs > 0 ? s->kept_syms[s->batch_sym] : s->syms[s->batch_sym];
  const char *bname = d->sym_names[s->batch_sym] ? d->sym_names[s->batch_sym] : "?";
  if (n != have || (n > 0 && !rows)) {
    rt_errorf(err, "select_rows: %lld rows given, the session's state has %s = %lld", (long long)n,
              bname, (long long)have);
    return 1;
  }
  for (int64_t i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= have) {
      rt_errorf(err, "select_rows: row %lld of entry %lld is not in [0, %lld)", (long long)rows[i],
                (long long)i, (long long)have);
      return 1;
    }
  for (int b = 0; b < d->nbufs; b++)
    if (d->bufs[b].role == SEQRT_ROLE_STATE && batch_axis(s, b) == -2) {
      rt_errorf(err, "state '%s' has %s inside a dim: its rows cannot be selected", buf_name(d, b),
                bname);
      return 1;
    }
  bool same = true;
  for (int64_t i = 0; i < n; i++) same &= rows[i] == i;
  if (same || s->runs == 0) return 0;
  for (int b = 0; b < d->nbufs; b++) {
    int axis = d->bufs[b].role == SEQRT_ROLE_STATE ? batch_axis(s, b) : -1;
    if (axis < 0) continue; /* shared by the rows (or none): stays */
    const int64_t *shape = &s->state_shapes[(size_t)b * SEQRT_MAX_RANK];
    size_t outer = 1, row = seqrt_dtype_size((seqrt_dtype)d->bufs[b].dtype);
    for (int k = 0; k < axis; k++) outer *= (size_t)shape[k];
    for (int k = axis + 1; k < d->bufs[b].rank; k++) row *= (size_t)shape[k];
    size_t block = row * (size_t)n; /* the rows of one outer index */
    unsigned char *x = s->bufs[b];
    /* per outer index: the rows that change read their sources into the
     * copy first (a source may itself change), then take them */
    for (size_t o = 0; o < outer; o++) {
      unsigned char *at = x + o * block, *copy = s->select_copy;
      for (int64_t i = 0; i < n; i++)
        if (rows[i] != i) {
          memcpy(copy, at + (size_t)rows[i] * row, row);
          copy += row;
        }
      copy = s->select_copy;
      for (int64_t i = 0; i < n; i++)
        if (rows[i] != i) {
          memcpy(at + (size_t)i * row, copy, row);
          copy += row;
        }
    }
  }
  return 0;
}

int64_t seqrt_session_run_sym(const seqrt_session *s, int i) {
  return i >= 0 && i < s->desc->nsyms + s->desc->nderived ? s->run_syms[i] : -1;
}

/* "i32 [1, 128]" */
static const char *type_str(seqrt_dtype t, const int64_t *shape, int rank, char *buf, size_t n) {
  char dims[256];
  if (rank < 0 || rank > SEQRT_MAX_RANK)
    snprintf(dims, sizeof dims, "<rank %d>", rank);
  else
    seqrt_shape_str(shape, rank, dims, sizeof dims);
  snprintf(buf, n, "%s %s", seqrt_dtype_name(t), dims);
  return buf;
}

/* the state kept since the first run after a reset has the shape this run
 * gives it (a run with another batch size would read it as another layout) */
static bool same_state_shapes(seqrt_session *s, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  for (int b = 0; s->runs > 0 && b < d->nbufs; b++) {
    if (d->bufs[b].role != SEQRT_ROLE_STATE) continue;
    const int64_t *now = &s->run_shapes[(size_t)b * SEQRT_MAX_RANK];
    const int64_t *kept = &s->state_shapes[(size_t)b * SEQRT_MAX_RANK];
    if (!memcmp(now, kept, sizeof *now * (size_t)d->bufs[b].rank)) continue;
    char a[256], c[256];
    rt_errorf(err,
              "state '%s' is %s in this session, this run makes it %s (a run with another "
              "batch size needs a reset)",
              buf_name(d, b), seqrt_shape_str(kept, d->bufs[b].rank, a, sizeof a),
              seqrt_shape_str(now, d->bufs[b].rank, c, sizeof c));
    return false;
  }
  return true;
}

/*
 * The run's dims from its inputs' shapes (a base symbol that is a whole dim
 * of an input; others keep their planned value), each at most the planned
 * one; then the derived ones, the inputs' shapes under them, and that every
 * buffer fits in its planned place. On success they become the run's
 * (run_syms, run_shapes); on failure the last run's run_syms stay. No
 * allocation.
 */
static bool bind_run(seqrt_session *s, const seqrt_tensor *in, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  int64_t *syms = s->next_syms;
  for (int i = 0; i < d->nsyms; i++) {
    syms[i] = -1;
    s->bound_by[i] = -1;
  }
  for (int i = 0; i < d->ninputs; i++) {
    const seqrt_buffer_desc *bd = &d->bufs[d->inputs[i]];
    const seqrt_tensor *t = &in[i];
    if (s->runs > 0 && is_static(d, i)) continue; /* kept from the first run */
    if (t->rank != bd->rank) continue; /* the shape check below reports it */
    for (int k = 0; k < t->rank; k++) {
      seqrt_dim x = bd->shape[k];
      if (x.coef != 1 || x.sym[0] < 0 || x.sym[0] >= d->nsyms || x.sym[1] >= 0) continue;
      int sym = x.sym[0];
      if (s->fixed[sym] || syms[sym] >= 0 || t->shape[k] < 0) continue;
      syms[sym] = t->shape[k];
      s->bound_by[sym] = i;
    }
  }
  for (int i = 0; i < d->nsyms; i++) {
    if (syms[i] < 0) { /* a static input's dim keeps the first run's value */
      syms[i] = s->runs > 0 && s->static_only[i] ? s->kept_syms[i] : s->syms[i];
    } else if (syms[i] > s->syms[i]) {
      rt_errorf(err, "input '%s': %s = %lld is more than the %lld this session was planned for",
                buf_name(d, d->inputs[s->bound_by[i]]), d->sym_names[i] ? d->sym_names[i] : "?",
                (long long)syms[i], (long long)s->syms[i]);
      return false;
    }
  }
  if (!derive_syms(s, syms, err)) return false;
  for (int i = 0; i < d->ninputs; i++) {
    int b = d->inputs[i];
    const seqrt_buffer_desc *bd = &d->bufs[b];
    const seqrt_tensor *t = &in[i];
    if (is_static(d, i) && (s->runs > 0 || (!t->data && t->rank == 0))) {
      if (s->runs > 0) continue; /* not read: what it made is kept */
      rt_errorf(err, "input '%s' is static: the first run after a reset must give it", bd->name);
      return false;
    }
    int64_t shape[SEQRT_MAX_RANK];
    size_t bytes;
    /* an integer input takes either width (SPEC 11): point_buffers converts */
    bool dtype_ok =
        t->dtype == (seqrt_dtype)bd->dtype || (is_integer(t->dtype) && is_integer(bd->dtype));
    bool same = buffer_shape(bd, syms, shape, &bytes) && dtype_ok && t->rank == bd->rank;
    for (int k = 0; same && k < t->rank; k++) same = t->shape[k] == shape[k];
    if (!same) {
      char want[300], got[300];
      rt_errorf(err, "input '%s': expected %s, got %s", bd->name,
                type_str((seqrt_dtype)bd->dtype, shape, bd->rank, want, sizeof want),
                type_str(t->dtype, t->shape, t->rank, got, sizeof got));
      return false;
    }
    if (!t->data && seqrt_tensor_numel(t) > 0) {
      rt_errorf(err, "input '%s' has no data", bd->name);
      return false;
    }
  }
  /* every buffer's shape in this run, in one pass; the planned place of each
   * must hold it: true of every model seqc makes (see the top), checked so
   * that a descriptor where it is not fails here instead of writing past its
   * place (run_shapes serve only a run that is made, so a failure here may
   * leave them half written) */
  for (int b = 0; b < d->nbufs; b++) {
    int role = d->bufs[b].role;
    size_t bytes;
    bool fits = buffer_shape(&d->bufs[b], syms, &s->run_shapes[(size_t)b * SEQRT_MAX_RANK], &bytes);
    if (role == SEQRT_ROLE_TEMP || role == SEQRT_ROLE_OUTPUT || role == SEQRT_ROLE_PREPARED ||
        role == SEQRT_ROLE_STATE)
      fits = fits && bytes <= s->bytes[b];
    else
      fits = true; /* inputs were checked above; params keep their planned shapes */
    if (!fits) {
      rt_errorf(err, "buffer '%s' does not fit in the place this session planned for it",
                buf_name(d, b));
      return false;
    }
  }
  if (!same_state_shapes(s, err)) return false;
  memcpy(s->run_syms, syms, sizeof *syms * ((size_t)d->nsyms + (size_t)d->nderived));
  return true;
}

/* points the buffer table at the run's inputs (an integer one given in the
 * other width at its conversion) and the bound parameters */
static bool point_buffers(seqrt_session *s, const seqrt_tensor *in, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  for (int i = 0; i < d->ninputs; i++) {
    int b = d->inputs[i];
    s->bufs[b] = in[i].data;
    if (!in[i].data || in[i].dtype == (seqrt_dtype)d->bufs[b].dtype) continue;
    if (seqrt_convert_integers(buf_name(d, b), &in[i], (seqrt_dtype)d->bufs[b].dtype, s->widths[i],
                               err))
      return false;
    s->bufs[b] = s->widths[i];
  }
  for (int b = 0; b < d->nbufs; b++) {
    if (d->bufs[b].role != SEQRT_ROLE_PARAM) continue;
    if (!s->params[b]) {
      rt_errorf(err, "parameter '%s' is not bound", d->bufs[b].name);
      return false;
    }
    s->bufs[b] = s->params[b];
  }
  for (int b = 0; b < d->nbufs; b++)
    if (d->bufs[b].role == SEQRT_ROLE_ALIAS) s->bufs[b] = s->bufs[s->root[b]];
  return true;
}

/* runs fn on every thread of one region */
static void run_region(seqrt_session *s, seqrt_entry_fn fn) {
  void *const *bufs = s->bufs;
  const int64_t *syms = s->run_syms;
  seqrt_team *team = s->team;
  if (s->nthreads == 1) {
    rt_team_reset(team, 1);
    fn(bufs, syms, team, 0, 1);
    return;
  }
#pragma omp parallel num_threads(s->nthreads)
  {
    /* the region may have fewer threads than asked for; the barrier counts the real ones */
#pragma omp single
    rt_team_reset(team, omp_get_num_threads());
    fn(bufs, syms, team, omp_get_thread_num(), omp_get_num_threads());
  }
}

/* the error for a failure reported by generated code */
static void failure_message(const seqrt_session *s, int32_t code, const int64_t *a,
                            seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  if (code == SEQRT_FAIL_CHUNK) {
    rt_errorf(err, "the sequence length %lld of '%s' is not a multiple of its scan's chunk %lld",
              (long long)a[1], a[0] >= 0 && a[0] < d->nbufs ? buf_name(d, (int)a[0]) : "?",
              (long long)a[2]);
    return;
  }
  if (code == SEQRT_FAIL_LENGTH) { /* as the interpreter says it (ir_eval_check_lengths) */
    rt_errorf(err, "length %lld of row %lld in '%s' is outside [1, %lld]", (long long)a[2],
              (long long)a[1], a[0] >= 0 && a[0] < d->nbufs ? buf_name(d, (int)a[0]) : "?",
              (long long)a[3]);
    return;
  }
  if (code == SEQRT_FAIL_CACHE) {
    char msg[1024];
    rt_errorf(err, "%s",
              seqrt_cache_full_msg(msg, sizeof msg,
                                   a[0] >= 0 && a[0] < d->nbufs ? buf_name(d, (int)a[0]) : "?",
                                   a[1], a[2], a[3]));
    return;
  }
  if (code != SEQRT_FAIL_INDEX) {
    rt_errorf(err, "model '%s' failed with code %d (%lld, %lld, %lld, %lld)",
              d->name ? d->name : "?", code, (long long)a[0], (long long)a[1], (long long)a[2],
              (long long)a[3]);
    return;
  }
  char where[320] = "";
  int64_t b = a[0], pos = a[1];
  if (b >= 0 && b < d->nbufs) {
    const int64_t *shape = &s->run_shapes[(size_t)b * SEQRT_MAX_RANK];
    int rank = d->bufs[b].rank;
    int64_t numel = 1, idx[SEQRT_MAX_RANK];
    for (int k = 0; k < rank; k++) numel *= shape[k];
    if (pos >= 0 && pos < numel) {
      for (int k = rank - 1; k >= 0; k--) {
        idx[k] = pos % shape[k];
        pos /= shape[k];
      }
      char dims[256];
      snprintf(where, sizeof where, " at position %s of '%s'",
               seqrt_shape_str(idx, rank, dims, sizeof dims), buf_name(d, (int)b));
    } else {
      snprintf(where, sizeof where, " at flat position %lld of '%s'", (long long)a[1],
               buf_name(d, (int)b));
    }
  }
  rt_errorf(err, "index %lld out of range [0, %lld)%s", (long long)a[2], (long long)a[3], where);
}

/* runs fn in a region; a failure it reported becomes the error */
static bool run_entry(seqrt_session *s, seqrt_entry_fn fn, seqrt_error *err) {
  run_region(s, fn);
  int32_t code;
  int64_t args[4];
  if (!rt_team_failure(s->team, &code, args)) return true;
  failure_message(s, code, args, err);
  return false;
}

/* the prepared buffers hold what this run needs: prepare ran since the
 * parameters changed, with the run's value of every dim their shapes have */
static bool prepared_for_run(const seqrt_session *s) {
  if (!s->prepare_done) return false;
  for (int i = 0; i < s->desc->nsyms + s->desc->nderived; i++)
    if (s->prepare_uses[i] && s->prepare_syms[i] != s->run_syms[i]) return false;
  return true;
}

int seqrt_session_run(seqrt_session *s, const seqrt_tensor *inputs, seqrt_tensor *outputs,
                      seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  if (d->ninputs > 0 && !inputs) {
    rt_errorf(err, "model '%s' takes %d inputs, none given", d->name ? d->name : "?", d->ninputs);
    return 1;
  }
  if (d->noutputs > 0 && !outputs) {
    rt_errorf(err, "model '%s' has %d outputs, nowhere to put them", d->name ? d->name : "?",
              d->noutputs);
    return 1;
  }
  if (!bind_run(s, inputs, err) || !point_buffers(s, inputs, err)) return 1;
  int nall = d->nsyms + d->nderived;
  s->run_syms[nall + SEQRT_SYM_POSITION] = s->position;
  s->run_syms[nall + SEQRT_SYM_RUNS] = s->runs;
  if (d->prepare && !prepared_for_run(s)) {
    if (!run_entry(s, d->prepare, err)) return 1;
    memcpy(s->prepare_syms, s->run_syms,
           sizeof *s->run_syms * ((size_t)d->nsyms + (size_t)d->nderived));
    s->prepare_done = true;
  }
  if (!run_entry(s, d->run, err)) return 1;
  /* the run is made: the state it wrote is the session's, p moves on */
  if (s->runs++ == 0) {
    memcpy(s->state_shapes, s->run_shapes, sizeof *s->run_shapes * (size_t)d->nbufs * SEQRT_MAX_RANK);
    memcpy(s->kept_syms, s->run_syms, sizeof *s->run_syms * (size_t)d->nsyms);
  }
  if (d->streaming && d->position_sym >= 0) s->position += s->run_syms[d->position_sym];
  for (int i = 0; i < d->noutputs; i++) {
    int b = d->outputs[i];
    seqrt_tensor *t = &outputs[i];
    memset(t, 0, sizeof *t);
    t->dtype = (seqrt_dtype)d->bufs[b].dtype;
    t->rank = d->bufs[b].rank;
    memcpy(t->shape, &s->run_shapes[(size_t)b * SEQRT_MAX_RANK], sizeof t->shape);
    t->data = s->bufs[b];
  }
  return 0;
}
