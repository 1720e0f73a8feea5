/*
 * rt.h: what the runtime's files share and nobody else sees (the team, the
 * session, small helpers). Programs include only seqrt.h.
 */
#ifndef RT_H
#define RT_H

#include <stdatomic.h>

#include "seqrt.h"

/* ---- tensor.c ---- */

/* formats a one-line message into err (err may be NULL) */
void rt_errorf(seqrt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a * b into *out; false on overflow (no write then) */
bool rt_mul_size(size_t a, size_t b, size_t *out);
/* n rounded up to a multiple of 64 (the alignment of every buffer); false on overflow */
bool rt_round64(size_t n, size_t *out);
/* zero-filled memory aligned to 64 bytes, at least one byte; free with free() */
void *rt_alloc64(size_t size);

/* ---- st_write.c, tensor_formats.c: tensor files ---- */

/* a growing string; failed after an allocation failure (the text is then incomplete) */
typedef struct rt_sbuf {
  char *p;     /* text, NUL-terminated */
  size_t len;  /* bytes used, without the NUL */
  size_t cap;  /* bytes allocated */
  bool failed; /* an allocation failed */
} rt_sbuf;
void rt_sbuf_put(rt_sbuf *b, const char *s, size_t n);
void rt_sbuf_puts(rt_sbuf *b, const char *s);
/* s as a JSON string literal */
void rt_sbuf_json_string(rt_sbuf *b, const char *s);
/* where a tensor file's bytes go: a file descriptor, the first error kept */
typedef struct rt_sink {
  int fd;           /* the open file */
  bool ok;          /* no write has failed */
  int errnum;       /* the errno of the failed write */
  uint64_t written; /* bytes written so far (a zip's offsets) */
} rt_sink;
/* appends n bytes; after a failure it does nothing */
void rt_sink_put(rt_sink *s, const void *p, size_t n);
/* bytes of tensor t (name, path for messages), checking dtype, rank, shape and data */
bool rt_tensor_bytes(const char *path, const char *name, const seqrt_tensor *t, size_t *out,
                     seqrt_error *err);
/* a format: encodes the n checked tensors into s; false (err set) for what it cannot
 * represent; a failed write is the sink's */
typedef bool (*rt_writer)(rt_sink *s, const char *path, const char *const *names,
                          const seqrt_tensor *tensors, int n, seqrt_error *err);
bool rt_write_npz(rt_sink *s, const char *path, const char *const *names,
                  const seqrt_tensor *tensors, int n, seqrt_error *err);
bool rt_write_json(rt_sink *s, const char *path, const char *const *names,
                   const seqrt_tensor *tensors, int n, seqrt_error *err);

/* ---- team.c ---- */

/*
 * The threads of one parallel region. The barrier is one arrival counter per
 * thread, each on its own cache line and written only by its thread:
 * arriving is a plain store (no locked instruction, so the arriving thread
 * does not wait for its earlier stores to reach the others), waiting is
 * spinning until every counter has caught up with one's own. Arrive and
 * wait are separate calls so that a thread can do work of its own between
 * them (a scan step's own k range, see codegen/scan.c).
 */
typedef struct rt_arrival {
  _Alignas(64) atomic_uint n; /* barriers this thread has arrived at */
} rt_arrival;

struct seqrt_team {
  _Alignas(64) int nth; /* threads in the region */
  int max_threads;      /* size of arrived */
  atomic_int failed;    /* 0, then 1 once a failure is claimed */
  atomic_int reported;  /* 1 once the claiming thread has filled the fields */
  int32_t code;         /* SEQRT_FAIL_* of the first failure */
  int64_t args[4];      /* its a, b, c, d */
  rt_arrival arrived[]; /* by thread index, max_threads of them */
};

/* a team for regions of at most max_threads threads */
seqrt_team *rt_team_new(int max_threads);
void rt_team_free(seqrt_team *t);
/* prepares for a region of nth threads: barrier at rest, no failure */
void rt_team_reset(seqrt_team *t, int nth);
/* the first failure of the last region: true and code/args filled, or false */
bool rt_team_failure(seqrt_team *t, int32_t *code, int64_t args[4]);

/* ---- plan.c ---- */

/* one buffer to place in the arena */
typedef struct rt_block {
  size_t size;   /* bytes, a multiple of 64 */
  int32_t first; /* first step it is live */
  int32_t last;  /* last step it is live (inclusive) */
  size_t offset; /* out: where it starts in the arena */
} rt_block;

/* places n blocks so that blocks live at the same step never overlap; returns
 * the arena size. The caller checked that the sum of sizes does not overflow. */
size_t rt_plan(rt_block *blocks, int n);

/* ---- session.c ---- */

/*
 * A session is planned once for the dims given to seqrt_session_new (syms,
 * shapes, bytes: parameters are bound at those shapes and the arena is laid
 * out for them); each run binds its own dims (run_syms, run_shapes), each
 * base dim at most the planned one, so every buffer fits where the plan put it.
 */
struct seqrt_session {
  const seqrt_model_desc *desc; /* the model (not owned) */
  int64_t *syms;                /* planned value of each symbol (base, then derived) */
  int64_t *shapes;              /* planned shape of buffer i at [i * SEQRT_MAX_RANK] */
  size_t *bytes;                /* planned bytes of each buffer */
  int64_t *run_syms;            /* each symbol in the last run (the plan before any run):
                                   what the entries get */
  int64_t *run_shapes;          /* shape of buffer i in the last run, as shapes */
  int64_t *next_syms;           /* scratch: a run's symbols while they are checked */
  int32_t *bound_by;            /* scratch: input that bound base symbol i in a run, -1 */
  bool *fixed;                  /* base symbol i keeps its planned value in every run
                                   (compiled in, or a parameter's shape depends on it);
                                   entries of derived symbols are scratch */
  bool *prepare_uses;           /* symbol i is in the shape of a PREPARED buffer */
  int64_t *prepare_syms;        /* symbols the last prepare ran with */
  int32_t *root;                /* buffer owning the memory of each buffer (itself unless ALIAS) */
  void **bufs;                  /* address of each buffer, as entries see them */
  void **params;                /* PARAM: bound memory, NULL while unbound */
  unsigned char *arena;         /* TEMP and OUTPUT buffers, at planned offsets */
  size_t arena_bytes;           /* planned arena size */
  unsigned char *prepared;      /* PREPARED buffers, each its own slot */
  size_t prepared_bytes;        /* size of prepared */
  void *random;                 /* parameter values made by random_params */
  bool prepare_done;            /* prepare ran since the parameters last changed */
  unsigned char *state;         /* STATE buffers, each its own slot, zero after a reset */
  size_t state_bytes;           /* size of state */
  int64_t *state_shapes;        /* shape of each STATE buffer since the first run after a
                                   reset, as shapes */
  int64_t position;             /* p (SPEC 9): positions consumed by a streaming model since
                                   the start or the last reset; 0 in other models */
  int64_t runs;                 /* runs made since the start or the last reset */
  bool *static_only;            /* base symbol i is a dim of static inputs only (SPEC 9): it
                                   keeps the first run's value until a reset */
  int64_t *kept_syms;           /* the first run's symbols since the reset (static_only ones
                                   matter) */
  int32_t batch_sym;            /* the base symbol of the rows (dim 0 of the non-static input
                                   that has the position dim), -1 none: what
                                   seqrt_session_select_rows gathers along */
  unsigned char *select_copy;   /* the rows of a STATE buffer that change, while they are
                                   gathered: room for the largest buffer (NULL if none) */
  void **widths;                /* per model input of an integer dtype: room for it at its
                                   planned size, where a run given the other width (i32 for
                                   i64 or back, SPEC 11) converts it; NULL for f32 inputs */
  size_t select_bytes;          /* size of select_copy */
  size_t widths_bytes;          /* sum of the sizes of widths */
  bool plan_only;               /* sized and planned only, no buffers (seqrt_session_need) */
  int nthreads;                 /* threads per region */
  seqrt_team *team;             /* barrier and failure state of the regions */
};

/* ---- embedded.c ---- */

/* binds the descriptor's embedded parameters (if any) to s */
int rt_bind_embedded(seqrt_session *s, seqrt_error *err);

#endif
