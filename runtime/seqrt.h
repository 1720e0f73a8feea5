/*
 * seqrt.h: the seqc runtime, the only header a program that embeds a compiled
 * model includes. It knows nothing of YAML or LLVM: it runs a model described
 * by a seqrt_model_desc (made by the JIT, or linked in from an object file).
 *
 * All functions report failure by returning non-zero (or NULL) and filling a
 * seqrt_error; none exits. Only the driver section at the end, made for
 * command-line programs, prints its errors instead.
 *
 * Threads (tests/aot/test_concurrent.c checks these, and scripts/tsan.sh
 * under ThreadSanitizer):
 * - A session is used by one thread at a time: calls on one session
 *   (run, reset, select_rows, binding parameters, free) must not overlap.
 *   A run may itself use several threads (the nthreads of seqrt_session_new).
 * - Distinct sessions may be used at once from different threads, of one
 *   model or of several, and give the same numbers as each run alone (bit
 *   for bit at the same nthreads). Each session owns its arena, its state
 *   (carried states, caches), its team and its scratch; a model descriptor
 *   (an object's, or a JIT's until cg_jit_free) is read-only, and its
 *   entries keep nothing outside the buffers a run gives them.
 * - Parameters are only read: memory given to seqrt_session_set_param may
 *   be shared by sessions on several threads, and so may one seqrt_st_file,
 *   from which several threads may seqrt_session_load_weights at once (the
 *   widened copies of F16/BF16 tensors are made once). Close the file after
 *   the last session using it is freed.
 * - Everything else here keeps no state between calls (tensor files, the
 *   descriptor helpers, memory limits) and may be called from any thread;
 *   distinct seqrt_st_file objects are independent.
 * - Each thread that runs a session of nthreads > 1 gets its own OpenMP
 *   team: sessions x nthreads threads in all. The barriers spin, then yield:
 *   many sessions at once run best at nthreads 1.
 */
#ifndef SEQRT_H
#define SEQRT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seqrt_types.h" /* dtypes, tensors, errors, buffer roles */

#ifdef __cplusplus
extern "C" {
#endif

#define SEQRT_ABI_VERSION 5

/* ---- safetensors (safetensors.c) ---- */

/*
 * A safetensors file mapped read-only. Every header field is validated on
 * open: JSON well-formed, dtype known, shape non-negative, data_offsets inside
 * the data section and of the size the shape says. A bad file is an error,
 * never an out-of-bounds read. F16 and BF16 tensors are widened to F32 by
 * seqrt_st_get (into memory owned by the file); I64 stays I64.
 */
typedef struct seqrt_st_file seqrt_st_file;

seqrt_st_file *seqrt_st_open(const char *path, seqrt_error *err);
void seqrt_st_close(seqrt_st_file *f);
int seqrt_st_count(const seqrt_st_file *f);
const char *seqrt_st_name(const seqrt_st_file *f, int i);
/* index of a tensor by name, -1 if absent */
int seqrt_st_find(const seqrt_st_file *f, const char *name);
/* tensor i; data points into the mapping (valid until close) */
int seqrt_st_get(seqrt_st_file *f, int i, seqrt_tensor *out, seqrt_error *err);
/* writes n tensors under names (in that order) to path */
int seqrt_st_write(const char *path, const char *const *names, const seqrt_tensor *tensors,
                   int n, seqrt_error *err);
/* the same in the format of path's extension: .npz (numpy's savez: one NAME.npy per
 * tensor, stored), .json ({"NAME": {"dtype", "shape", "data"}}, data flat, row-major;
 * NaN and infinities as the strings "nan", "inf", "-inf"), else safetensors */
int seqrt_tensors_write(const char *path, const char *const *names, const seqrt_tensor *tensors,
                        int n, seqrt_error *err);

/* ---- model descriptor: what generated code exports ---- */

/* A dim as the IR has it: coef * syms[sym[0]] * syms[sym[1]] (sym -1 = none). */
typedef struct seqrt_dim {
  int64_t coef;   /* constant factor */
  int32_t sym[2]; /* symbol indices, -1 = none */
} seqrt_dim;

/*
 * A derived symbol: floor((terms[0] + ... + terms[nterms-1]) / den) over the
 * symbols before it (a term with no symbol is a constant; coefs may be
 * negative), e.g. a strided conv's output length (T-3)/2. The session
 * computes its value after binding the base symbols.
 */
#define SEQRT_SYM_TERMS 4
typedef struct seqrt_sym_def {
  const char *name;                    /* the expression, e.g. "(T-3)/2" */
  const char *what;                    /* what it is, e.g. "conv1d 'c2': output length" */
  int32_t nterms;                      /* terms summed, 1..SEQRT_SYM_TERMS */
  seqrt_dim terms[SEQRT_SYM_TERMS];    /* monomials over earlier symbols */
  int64_t den;                         /* divisor, >= 1 */
  int64_t min;                         /* a smaller value is an error of the dims given */
} seqrt_sym_def;

typedef struct seqrt_buffer_desc {
  const char *name;                  /* input/output/param name, or a value name */
  int32_t dtype;                     /* seqrt_dtype */
  int32_t role;                      /* seqrt_role */
  int32_t rank;                      /* number of dims */
  seqrt_dim shape[SEQRT_MAX_RANK];   /* symbolic shape */
  int32_t first, last;               /* TEMP/OUTPUT: kernel steps that write first and read last */
  int32_t alias;                     /* ALIAS: the buffer it views, else -1 */
} seqrt_buffer_desc;

typedef struct seqrt_team seqrt_team;

/*
 * The SPMD entry: every thread of one parallel region calls it with its own
 * ith in [0, nth). bufs[i] is the address of buffer i; syms[i] the value of
 * symbol i. Kernels take their share of rows by ith/nth and separate
 * dependent steps with seqrt_barrier(team, ith).
 */
typedef void (*seqrt_entry_fn)(void *const *bufs, const int64_t *syms, seqrt_team *team,
                               int32_t ith, int32_t nth);

typedef struct seqrt_model_desc {
  uint32_t abi_version;           /* SEQRT_ABI_VERSION */
  const char *name;               /* model name */
  int32_t nsyms;                  /* number of dim symbols */
  const char *const *sym_names;   /* B, T, ... */
  const int64_t *sym_defaults;    /* YAML defaults */
  const int64_t *sym_bound;       /* value fixed at compile time, or -1 (symbolic) */
  int32_t nbufs;                  /* number of buffers */
  const seqrt_buffer_desc *bufs;  /* all buffers */
  int32_t ninputs;                /* model inputs */
  const int32_t *inputs;          /* their buffer ids, in YAML order */
  int32_t noutputs;               /* model outputs */
  const int32_t *outputs;         /* their buffer ids, in `outputs:` order */
  const char *const *output_names; /* names under which outputs are written */
  seqrt_entry_fn prepare;         /* computes PREPARED buffers from params (may be NULL) */
  seqrt_entry_fn run;             /* one inference */
  int32_t nembedded;              /* parameters carried in the object (0 = none) */
  const struct seqrt_embedded_param *embedded; /* bound by seqrt_session_new itself */
  int32_t nderived;               /* derived symbols, numbered nsyms .. nsyms+nderived-1 */
  const seqrt_sym_def *derived;   /* their definitions (syms arrays given by users hold
                                     the nsyms base symbols only) */
  int32_t position_sym;           /* the base symbol a session counts positions of, -1 none */
  int32_t streaming;              /* 1: each run continues the last (SPEC 9), p advances */
  const int32_t *input_static;    /* per input, 1: `static: true` (SPEC 9): needed by the first
                                     run after a reset only; NULL: none is */
  int32_t nignored;               /* weights-file names accepted and not read */
  const char *const *ignored;     /* (SPEC 10's NODE.pos_emb.inv_freq): no unused warning */
} seqrt_model_desc;

/*
 * The entries' syms array holds, after the base and derived symbols, what
 * the session gives a run: at index nsyms + nderived + SEQRT_SYM_POSITION
 * the session position p, at + SEQRT_SYM_RUNS the runs made since the
 * session started or was reset (state_read takes the kept state once it is
 * not 0).
 */
enum { SEQRT_SYM_POSITION = 0, SEQRT_SYM_RUNS = 1, SEQRT_SESSION_SYMS = 2 };

/* a parameter compiled into an object (`seqc compile --embed-weights`) */
typedef struct seqrt_embedded_param {
  const char *name;    /* NODE.PARAM */
  seqrt_tensor tensor; /* dtype, shape and read-only data inside the object */
} seqrt_embedded_param;

/* ---- team and barrier (team.c); called from generated code ---- */

/*
 * Thread ith of the region waits until every thread has reached this point.
 * seqrt_barrier is seqrt_arrive then seqrt_wait; apart, arrive says this
 * thread is done with what came before, and wait returns once every thread
 * has arrived as often as this one. In between a thread may do only work
 * that no other thread's earlier or later work touches.
 */
void seqrt_barrier(seqrt_team *team, int32_t ith);
void seqrt_arrive(seqrt_team *team, int32_t ith);
void seqrt_wait(seqrt_team *team, int32_t ith);
/*
 * Generated code reports a data error and carries on without the bad read.
 * SEQRT_FAIL_INDEX (an embedding index out of range): a = buffer id of the
 * indices, b = flat position, c = the index value, d = the limit.
 * SEQRT_FAIL_CHUNK (a segment scan over a sequence length left symbolic that
 * its chunk does not divide): a = buffer id of the scanned input, b = the
 * length, c = the chunk.
 * SEQRT_FAIL_CACHE (a run that would go past a key/value cache without a
 * window): a = buffer id of the key cache, b = its positions S, c = the
 * session position, d = the run's positions.
 * SEQRT_FAIL_LENGTH (a row's length outside [1, T], SPEC 11): a = buffer id of
 * the lengths, b = the row, c = its length, d = T.
 * The first report wins; run returns it as an error.
 */
enum { SEQRT_FAIL_INDEX = 1, SEQRT_FAIL_CHUNK = 2, SEQRT_FAIL_CACHE = 3, SEQRT_FAIL_LENGTH = 4 };
void seqrt_fail(seqrt_team *team, int32_t code, int64_t a, int64_t b, int64_t c, int64_t d);
/* nonzero once some thread of the region has failed: the state writes at the
 * end of a run check it after a barrier, so a failed run keeps the state */
int32_t seqrt_failed(seqrt_team *team);

/* ---- sessions (session.c) ---- */

typedef struct seqrt_session seqrt_session;

/*
 * A session is planned for the symbols given (syms[i] for base symbol i <
 * nsyms; NULL takes sym_bound, then sym_defaults): it computes the derived
 * ones (an error names one whose value is below its min, e.g. a conv's output
 * length 0), sizes every buffer and plans the arena (buffer offsets from
 * lifetimes) for them, once, and owns the thread team (nthreads 0 = all
 * cores). Plan for the largest dims the runs will have: each run takes its
 * own dims, at most the planned ones (seqrt_session_run).
 */
seqrt_session *seqrt_session_new(const seqrt_model_desc *desc, const int64_t *syms,
                                 int nthreads, seqrt_error *err);
void seqrt_session_free(seqrt_session *s);
/* bytes of arena plus prepared buffers plus state: known before running */
size_t seqrt_session_arena_bytes(const seqrt_session *s);

/*
 * The memory a session of desc planned for syms (as seqrt_session_new takes
 * them) would take, found by sizing and planning it without allocating any
 * of it: what a program checks against a limit before making the session
 * (the driver's max_memory). Non-zero with err set for dims that
 * seqrt_session_new would refuse. desc need not hold code yet (its run entry
 * may be NULL): a compiler sizes a session before it compiles.
 */
typedef struct seqrt_memory_need {
  size_t arena;    /* the arena: temporaries and outputs, at planned offsets */
  size_t prepared; /* PREPARED buffers (weights laid out for the kernels) */
  size_t state;    /* STATE buffers: carried states, key/value caches (SPEC 9) */
  size_t scratch;  /* the session's other buffers (a beam's row copy, integer widths) */
  size_t params;   /* every parameter at its planned shape: what random parameters take
                      (not part of the session when the caller binds its own) */
  size_t inputs;   /* one run's inputs at the planned dims (the caller's memory) */
} seqrt_memory_need;
int seqrt_session_need(const seqrt_model_desc *desc, const int64_t *syms, seqrt_memory_need *need,
                       seqrt_error *err);

/* ---- memory limits (memory.c) ---- */

/* a size as `--max-memory` takes it: digits, then optionally K, M, G or T
 * (powers of 1024, an optional B after); 0 with *out set, non-zero if not
 * one (empty, 0, a bad unit, too large) */
int seqrt_parse_size(const char *text, size_t *out);
/* MemAvailable of /proc/meminfo in bytes (the default limit), 0 if unknown */
size_t seqrt_available_memory(void);
/* bytes in words ("1.5 GiB", "512 bytes") into buf; returns buf */
const char *seqrt_format_size(size_t bytes, char *buf, size_t size);

/*
 * Binds every PARAM buffer from the file by name, checking dtype and shape
 * (error names the parameter and the shape expected). Names in the file that
 * no buffer uses are reported through warn (one call each), or are an error
 * when strict. The file must stay open while the session uses it.
 */
typedef void (*seqrt_warn_fn)(void *user, const char *msg);
int seqrt_session_load_weights(seqrt_session *s, seqrt_st_file *f, bool strict,
                               seqrt_warn_fn warn, void *user, seqrt_error *err);
/* binds one parameter from memory the caller keeps alive */
int seqrt_session_set_param(seqrt_session *s, const char *name, const seqrt_tensor *t,
                            seqrt_error *err);
/* fills every PARAM with reproducible values (uniform in +-1/sqrt(fan_in), as PyTorch) */
int seqrt_session_random_params(seqrt_session *s, uint64_t seed, seqrt_error *err);
/* the values seqrt_session_random_params gives parameter `name` of shape
 * [..., fan_in] (numel floats): they depend on the seed and the name only */
void seqrt_random_param(uint64_t seed, const char *name, int64_t fan_in, float *x, int64_t numel);

/*
 * Runs once. inputs[i] is model input i. The run binds its own dims from its
 * inputs' shapes: a base symbol that is a whole dim of an input takes that
 * value, which must be at most the planned one ("input 'x': T = 40 is more
 * than the 32 this session was planned for"); a symbol no input gives keeps
 * the planned value, and so does one compiled in (sym_bound) or in the shape
 * of a parameter (parameters are bound at their planned shapes). The derived
 * symbols follow (checked against their min, per run). Then every input is
 * checked for dtype and shape under the run's dims (the error names the
 * input and the shape expected). The entries get the run's symbols and the
 * outputs have the run's shapes: a run of 3 positions in a session planned
 * for 300 costs what 3 positions cost. A run allocates nothing and never
 * re-plans: the planned offsets serve every smaller run. PREPARED buffers
 * whose shape has a dim that changed since prepare last ran are prepared
 * again (in their planned place). outputs[i] receives output i as a view
 * into the session's memory, valid until the next run or free.
 */
int seqrt_session_run(seqrt_session *s, const seqrt_tensor *inputs, seqrt_tensor *outputs,
                      seqrt_error *err);

/* planned value of symbol i in this session (what it was made for): a base
 * symbol for i < nsyms, derived symbol i - nsyms for i < nsyms + nderived,
 * else -1 */
int64_t seqrt_session_sym(const seqrt_session *s, int i);
/* value of symbol i in the last run whose inputs were accepted (the planned
 * one before any run), numbered as seqrt_session_sym; e.g. the length of a
 * strided conv's output for the run just made */
int64_t seqrt_session_run_sym(const seqrt_session *s, int i);

/*
 * Sessions that continue (SPEC 9). The position p is the number of positions
 * of the model's position dim that a streaming model (desc->streaming: one
 * with `carry` or `cache`) has consumed since the session began or was reset;
 * each successful run adds its length, and starts from the state (carried
 * states, key/value caches, what static inputs made) that the last
 * successful run left. In other models p stays 0. seqrt_session_reset starts
 * the session over (p = 0, the state zeroed, static inputs needed again); its
 * plan and parameters stay.
 */
void seqrt_session_reset(seqrt_session *s);
int64_t seqrt_session_position(const seqrt_session *s);
/*
 * Reorders the rows of the kept state, as a beam search needs when its beams
 * change parents: afterwards row i of every STATE buffer (carried states,
 * key/value caches, what static inputs made) is what row rows[i] held
 * before, for i in [0, n); n must be the session's batch size (the rows the
 * state has since the first run after a reset, else the planned one) and
 * every rows[i] in [0, n) (repeats are fine: two beams of one parent). The
 * rows are the model's batch dim: dim 0 of its non-static input that has the
 * position dim (the tokens [B, T] of a language model); in each STATE buffer
 * the axis whose dim is that symbol (lstm.h_n [1, B, H]: axis 1; a key cache
 * [B, heads, S, dh]: axis 0); a STATE buffer without one is shared by the
 * rows and stays. p and the runs made stay. The gather goes through a copy
 * made once by seqrt_session_new (room for the largest STATE buffer): no
 * allocation. Errors: a wrong n or row, or a state whose batch dim is part of
 * a larger dim.
 */
int seqrt_session_select_rows(seqrt_session *s, const int64_t *rows, int64_t n, seqrt_error *err);

/* ---- model files (io.c): what `seqc run` and `seqrt-run` share ---- */

/*
 * Reads n inputs from f by name (names[i] into t[i], a view into f's
 * mapping); given[i] marks those found. A missing input is an error naming
 * it; a tensor of f that is no input goes to warn, or is an error if strict.
 * With kept (NULL: none), input i with kept[i] set is a static input of a
 * session's later run (SPEC 9): it may be left out, and if it is there it is
 * not read, with a warning (t[i] stays empty, given[i] false).
 */
int seqrt_read_inputs(seqrt_st_file *f, const char *const *names, int n, bool strict,
                      seqrt_warn_fn warn, void *user, const bool *kept, seqrt_tensor *t,
                      bool *given, seqrt_error *err);
/*
 * Integer inputs take i32 or i64 data whatever the model says (SPEC 11, as
 * nn.Embedding does): the elements of t, an i32 or i64 tensor, as dtype want
 * (i32 or i64) into dst, room for numel(t) elements of want. An i64 value
 * outside the i32 range for an i32 input is an error naming the input, the
 * value and its position. seqrt_session_run calls it for each integer input
 * given in the other width (into memory the session keeps for that).
 */
int seqrt_convert_integers(const char *name, const seqrt_tensor *t, seqrt_dtype want, void *dst,
                           seqrt_error *err);
/* name of model input i (the name its tensor has in an input file) */
const char *seqrt_input_name(const seqrt_model_desc *d, int i);
/*
 * The symbol values a session of d needs (SPEC 7, dims at `run`): syms[i]
 * as given when >= 0 (--dim; preset -1 otherwise), else bound at compile
 * time, else from the shapes of the given inputs (given may be NULL: all),
 * else the default. An input that disagrees with a dim already fixed is an
 * error naming the input and the shape expected.
 */
int seqrt_bind_dims(const seqrt_model_desc *d, const seqrt_tensor *inputs, const bool *given,
                    int64_t *syms, seqrt_error *err);
/* index of the symbol called name in d, -1 if none */
int seqrt_find_sym(const seqrt_model_desc *d, const char *name);
/* the opened model of a shared library made by `seqc compile --emit shared` */
#define SEQRT_SHARED_SYMBOL "seqrt_model"

/* ---- driver (driver.c): a command-line program's session ---- */

/*
 * What `seqc run`, `seqc bench` and `seqrt-run` share, for any program that
 * runs a model from files: one session, a list of runs, each reading its
 * inputs from a safetensors file (or drawing them at random), running, and
 * writing its outputs to a file (or printing a summary of each on stdout).
 * Unlike the rest of this header these functions print: every problem goes
 * to stderr as one line "TOOL: error: FILE: MESSAGE" (FILE when a data file
 * is at fault), warnings as "TOOL: warning: ...". They return the exit
 * statuses of SPEC 6.
 */
enum { SEQRT_EXIT_OK = 0, SEQRT_EXIT_ERROR = 1, SEQRT_EXIT_USAGE = 2 };

/* the one format of those lines (severity "error" or "warning"; file may be NULL) */
void seqrt_report(const char *tool, const char *severity, const char *file, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void seqrt_vreport(const char *tool, const char *severity, const char *file, const char *fmt,
                   va_list ap);

/* one run of a session */
typedef struct seqrt_driver_run {
  const char *input;  /* IN.safetensors, or NULL: random inputs (random_inputs, input_seed) */
  const char *output; /* OUT.safetensors, or NULL: a summary of each output on stdout */
} seqrt_driver_run;

/*
 * The session's model and settings. A program that has the model's
 * descriptor (seqrt-run) sets desc and leaves the hooks NULL: dims come from
 * seqrt_bind_dims. A compiler (seqc) whose code depends on the dims sets
 * desc NULL and the hooks: `bind` fixes the dims of a run from its inputs,
 * `compile` then makes the descriptor, once every run's dims are known, with
 * the dims that are the same in every run folded in and the others symbolic.
 */
typedef struct seqrt_driver {
  const char *tool;             /* prefix of every message: "seqc", "seqrt-run" */
  const seqrt_model_desc *desc; /* the model, or NULL: `compile` makes it */
  const char *weights;          /* W.safetensors, or NULL */
  int64_t weights_seed;         /* without weights: random parameters from this seed if >= 0,
                                   else only the embedded ones */
  int64_t input_seed;           /* seed of the random inputs of a run without a file */
  bool strict;                  /* tensors of W or IN that the model does not use are errors */
  int threads;                  /* threads of the session, 0 = all cores */
  const int64_t *dims;          /* with desc: desc->nsyms values given (--dim), -1 = not
                                   given; NULL = none given */
  size_t max_memory;            /* a run that needs more bytes (session, random parameters
                                   and inputs) is an error before any of it is allocated;
                                   0 = the machine's available memory (none if unknown) */
  /* without desc: */
  int nsyms;                      /* the model's dim symbols */
  int ninputs;                    /* its inputs */
  const char *const *input_names; /* their names in an input file */
  const bool *input_static;       /* per input: static (SPEC 9), or NULL: none is */
  /* fills syms[0..nsyms) for a run from its inputs (NULL for random ones;
   * given[i]: input i was read) after reporting any problem; returns a status */
  int (*bind)(void *user, const seqrt_tensor *inputs, const bool *given, int64_t *syms);
  /* random inputs of the bound shapes, data malloc'd (NULL: runs need files) */
  void (*random_inputs)(void *user, const int64_t *syms, uint64_t seed, seqrt_tensor *inputs);
  /* the descriptor of the model compiled for syms, or NULL after reporting;
   * syms[i] is -1 for a dim that differs between the runs (left symbolic) */
  const seqrt_model_desc *(*compile)(void *user, const int64_t *syms);
  void *user; /* the hooks' first argument */
} seqrt_driver;

/*
 * Makes the runs in order in one session. Every run's inputs are read and its
 * dims bound first; the session (with the parameters bound) is then planned
 * for the largest value of each dim over the runs, and each run takes its own
 * dims (seqrt_session_run): runs of other lengths or batch sizes share one
 * session. A failed run (or one whose inputs cannot be read) reports and
 * stops the list: the outputs of earlier runs are written, later runs are
 * not made.
 */
int seqrt_drive(const seqrt_driver *d, const seqrt_driver_run *runs, int nruns);

/* The steps seqrt_drive is made of, for programs that do one of them their
 * own way (`seqc bench` times the runs; `seqc run --interpret` runs no
 * session). Each reports its problems itself. */

/* opens IN and reads n inputs by name (as seqrt_read_inputs, kept as there);
 * the file, which holds the tensors' memory, or NULL */
seqrt_st_file *seqrt_driver_read_inputs(const seqrt_driver *d, const char *path,
                                        const char *const *names, int n, const bool *kept,
                                        seqrt_tensor *inputs, bool *given);
/* a session of desc for syms with its parameters bound (weights file, seed or
 * embedded); *weights_file must be closed after the session is freed. NULL on error */
seqrt_session *seqrt_driver_session(const seqrt_driver *d, const seqrt_model_desc *desc,
                                    const int64_t *syms, seqrt_st_file **weights_file);
/* writes n outputs under names to path, or prints their summary when path is NULL */
int seqrt_driver_emit(const seqrt_driver *d, const char *path, const char *const *names,
                      const seqrt_tensor *outputs, int n);

#ifdef __cplusplus
}
#endif
#endif
