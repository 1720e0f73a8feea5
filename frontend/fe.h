/*
 * fe.h: the frontend. Reads a model file (SPEC sections 1 to 5) with libyaml
 * into a small AST that keeps line:col on every node, and lowers it to an IR
 * graph. All errors are reported on an ir_diags as FILE:LINE:COL.
 */
#ifndef SEQC_FE_H
#define SEQC_FE_H

#include <stddef.h>

#include "ir.h"

/* ---- AST (yaml.c) ---- */

typedef enum fe_kind { FE_SCALAR, FE_SEQ, FE_MAP } fe_kind;

typedef struct fe_ast fe_ast;
struct fe_ast {
  fe_kind kind;     /* scalar, sequence or mapping */
  ir_loc loc;       /* where the node starts */
  const char *text; /* FE_SCALAR: the scalar as written */
  bool quoted;      /* FE_SCALAR: was quoted (so never a number/bool) */
  fe_ast **items;   /* FE_SEQ: elements; FE_MAP: values */
  fe_ast **keys;    /* FE_MAP: keys (scalars), parallel to items */
  int nitems;       /* number of elements or pairs */
};

/*
 * Parses YAML text into an AST. Syntax errors and duplicate mapping keys are
 * reported on d. Returns NULL on error. Free with fe_ast_free.
 */
fe_ast *fe_parse_yaml(const char *src, size_t len, ir_diags *d);
void fe_ast_free(fe_ast *a);
/* value for key in a mapping, NULL if absent */
fe_ast *fe_map_get(const fe_ast *map, const char *key);

/* ---- lowering (lower.c) ---- */

/*
 * Lowers a model AST to an IR graph with every type inferred (shapes stay
 * symbolic in the `dims:` symbols). Reports every error it can find (unknown
 * keys and ops, wrong attribute types, undefined or cyclic references, shape
 * mismatches) on d and returns NULL if there was any.
 */
ir_graph *fe_lower(const fe_ast *model, ir_diags *d);

/* reads path, parses and lowers; *src_out receives the text (caller frees,
 * it must outlive d). NULL on error (message on d, or "cannot read"). */
ir_graph *fe_load_model(const char *path, ir_diags *d, char **src_out);

/* ---- lowering internals: shared by lower.c, attr.c and ops.c only ---- */

/* a named extra result of a node (`enc.h_n`) */
typedef struct fe_named {
  const char *name; /* the part after the dot */
  int value;        /* value id */
} fe_named;

/* one entry of `inputs:` or `nodes:` while the model is lowered */
typedef struct fe_def {
  const char *name;   /* its name (the key's text) */
  const fe_ast *key;  /* the key, for positions */
  const fe_ast *node; /* the input's or node's mapping */
  int value;          /* input value or main result value id, -1 until lowered */
  fe_named *outs;     /* named extra results (none for the feed-forward ops) */
  int nouts;          /* length of outs */
  bool failed;        /* not lowered: an error was reported on it or on what it reads */
  bool used;          /* read by a node or an output (for the unused-input warning) */
} fe_def;

/* the state of one lowering, passed to every fe_ function below */
typedef struct fe_ctx {
  ir_graph *g;    /* graph being built */
  ir_diags *d;    /* where errors go */
  fe_def *ins;    /* every input of `inputs:`, in YAML order */
  int nins;       /* length of ins */
  fe_def *defs;   /* every node of `nodes:`, in YAML order */
  int ndefs;      /* length of defs */
  int cur;        /* index in defs of the node being lowered (ndefs: none) */
  const char *op; /* its op name, for messages */
  struct fe_ctx *outer; /* a scan body's enclosing lowering (names read through it), NULL at top */
  int *captured;        /* scan body: the outer value of each capture, in body-input order */
  int ncaptured;        /* length of captured */
  int cap_captured;     /* room in captured */
  struct fe_write *writes; /* the state writes that come after every other node */
  int nwrites;          /* entries of writes */
  int cap_writes;       /* room in writes */
  struct fe_tie *ties;  /* top level: the weights tied so far (tie.c), so a tie to a tie
                           finds the first owner */
  int nties;            /* entries of ties */
  int cap_ties;         /* room in ties */
} fe_ctx;

/* a node's weight that is another node's parameter (SPEC 11, `weight: NODE.PARAM`) */
typedef struct fe_tie {
  const char *name; /* the tied node's own name for it, NODE.weight (full, as a parameter's) */
  int value;        /* the parameter it is, a value of the top-level graph */
} fe_tie;

/* a state write lowering appends last (state.c) */
typedef struct fe_write {
  ir_op op;  /* STATE_WRITE or CACHE_WRITE */
  int state; /* the STATE value written */
  int value; /* what is written */
} fe_write;

/* the current node's mapping, name and position */
const fe_ast *fe_cur_node(const fe_ctx *L);
const char *fe_cur_name(const fe_ctx *L);
ir_loc fe_cur_loc(const fe_ctx *L);

/*
 * The value a reference names (`x`, `enc`, `enc.h_n`), or -1: after an error
 * reported at ref, or silently when it names a node that failed (its error is
 * already out). lower.c.
 */
int fe_resolve(fe_ctx *L, const fe_ast *ref);

/* what an integer attribute may hold: FE_LAYERS, a stack's layer count, 1 to
 * FE_MAX_LAYERS (each layer is nodes of the graph: a count from a typo must
 * be an error, not a frontend building forever) */
typedef enum fe_int_rule { FE_ANY, FE_NONNEG, FE_POSITIVE, FE_LAYERS } fe_int_rule;
#define FE_MAX_LAYERS 256

/*
 * Attribute readers of the current node (attr.c). Each returns false after
 * reporting an error at the attribute (or, when a required one is missing,
 * at the node). def == NULL makes the attribute required; a YAML null counts
 * as absent.
 */
const fe_ast *fe_attr(const fe_ctx *L, const char *key);
bool fe_int(fe_ctx *L, const char *key, fe_int_rule rule, const int64_t *def, int64_t *out);
bool fe_float(fe_ctx *L, const char *key, const double *def, double *out);
bool fe_bool(fe_ctx *L, const char *key, const bool *def, bool *out);
/* choices is NULL-terminated; *out is the index of the one given */
bool fe_choice(fe_ctx *L, const char *key, const char *const *choices, int def, int *out);
/* a dim of a value of type t; negative counts from the end; stored non-negative */
bool fe_dim_attr(fe_ctx *L, const char *key, const ir_type *t, const int64_t *def, int64_t *out);
/* the value named by attribute key (required) */
int fe_value_attr(fe_ctx *L, const char *key);
/* a list of min..max values (max -1: any) into *values (memory of L->g);
 * numbers become f32 scalar constants when numbers is set. Returns the
 * count, or -1 after an error. */
int fe_values_attr(fe_ctx *L, const char *key, int min, int max, bool numbers, int **values);

/* scalar parsing (attr.c): YAML 1.2 core integers, floats and booleans */
bool fe_parse_int(const fe_ast *a, int64_t *out);
bool fe_parse_float(const fe_ast *a, double *out);
bool fe_parse_bool(const fe_ast *a, bool *out);
bool fe_is_null(const fe_ast *a);

/* an op of the model language (ops.c) */
typedef struct fe_op {
  const char *name; /* as written after `op:` */
  const char *keys; /* the keys it accepts besides `op`, space-separated */
  /* adds the op's IR node(s) and returns the node whose result is the node's
   * value, or -1 after an error; types are inferred by the caller */
  int (*lower)(fe_ctx *L);
} fe_op;

/* lowers one entry of L->defs (lower.c); false when it is not lowered */
bool fe_lower_node(fe_ctx *L, fe_def *def);

/* the recurrences: `scan` (scan.c), `rnn`, `lstm`, `gru` (recurrent.c) */
int fe_lower_scan(fe_ctx *L);
int fe_lower_recurrent(fe_ctx *L);
/* the current node's `lengths:` (an integer [batch]): its value, -2 when absent, -1 after
 * an error at the attribute (recurrent.c) */
int fe_lengths_attr(fe_ctx *L, ir_dim batch);
/* in a scan body, the body input that carries outer value v (added on first
 * use); -1 for v = -1 (scan.c) */
int fe_capture(fe_ctx *L, int v);

/* the session's state (state.c, SPEC 9). Carried states: fe_carry_attr reads
 * the current node's `carry` (an error with the attribute `conflict` when
 * has_conflict); fe_carry_in makes the STATE value NODE.what of init's type
 * and returns the state_read of it and init; fe_carry_out records that final,
 * the node's final state, is written back to the state `carried` reads.
 * Caches: fe_cache_attr reads `cache` (S, 0 when absent; errors unless causal
 * self-attention with S >= window); fe_cache_inputs makes NAME.k_cache and
 * NAME.v_cache [B, H, S, dh] for x [B, T, E] into inputs[0..1];
 * fe_cache_results records that a cached layer node's results 1 and 2 are
 * written to those caches. fe_finish_state appends every recorded write after
 * every other node. */
bool fe_carry_attr(fe_ctx *L, const char *conflict, bool has_conflict, bool *carry);
int fe_carry_in(fe_ctx *L, const char *what, int init);
void fe_carry_out(fe_ctx *L, int carried, int final);
bool fe_cache_attr(fe_ctx *L, bool causal, int64_t window, ir_dim *S);
void fe_cache_inputs(fe_ctx *L, const char *name, int x, int64_t H, int64_t E, ir_dim S,
                     int *inputs);
void fe_cache_results(fe_ctx *L, const ir_node *n, const int *caches);
bool fe_finish_state(fe_ctx *L);
/* a warning at each node of a streaming model that reads the whole position
 * axis at once (attention without a cache, a recurrence without carry, a
 * bidirectional layer, a mean over it, a conv1d along it): run in pieces, the
 * model then gives other numbers than run whole. `check` and `compile` call it */
void fe_warn_pieces(const ir_graph *g, ir_diags *d);

/* NULL if the language has no such op */
const fe_op *fe_find_op(const char *name);
/* true for SPEC ops that this frontend does not lower yet */
bool fe_op_unsupported(const char *name);
/* a parameter NODE.NAME of the current node */
int fe_param(fe_ctx *L, const char *name, ir_type t);
/*
 * The current node's weight of type t (tie.c): its own parameter NODE.weight,
 * or, when the node has `weight: OTHER.PARAM`, that parameter of a node
 * defined above, read where it is (one buffer, two readers). -1 after an
 * error (a name that is not a parameter, another shape) reported at the
 * attribute; `dims` says what sizes t, for the shape error. Frees nothing:
 * fe_lower frees the ties it recorded.
 */
int fe_weight(fe_ctx *L, ir_type t, const char *dims);

/* the i-th op of the language (its table, then the elementwise ops of ops.def
 * a model may write), NULL past the last (ops.c) */
const fe_op *fe_op_at(int i);

/* ---- "did you mean" (suggest.c) ---- */

/* the closest of the names offered so far to a word the language does not know */
typedef struct fe_suggest {
  const char *word; /* the unknown word as written */
  char best[64];    /* the closest name offered so far */
  int score;        /* its distance (0: differs in case only), -1 while none is close */
  char hint[96];    /* fe_suggest_hint's text */
} fe_suggest;

/* edits (insert, delete, substitute one character) that turn a into b */
int fe_edit_distance(const char *a, size_t alen, const char *b, size_t blen);
void fe_suggest_init(fe_suggest *s, const char *word);
/* offers name[0..len) */
void fe_suggest_try(fe_suggest *s, const char *name, size_t len);
/* offers each word of a space-separated list */
void fe_suggest_words(fe_suggest *s, const char *words);
/* "; did you mean 'NAME'?" when a name is close (case only, or at most two
 * edits and fewer than the shorter name's length), else "" */
const char *fe_suggest_hint(fe_suggest *s);

/* ---- attention and transformer layers (attention.c, transformer.c) ---- */

/* one multi-head attention block */
typedef struct fe_attn {
  int64_t E;      /* embed dim */
  int64_t H;      /* heads (divides E) */
  bool bias;      /* in_proj_bias and out_proj.bias */
  bool causal;    /* key j visible to query i only when j <= i */
  int64_t window; /* |i - j| <= window, -1 = no window */
  ir_dim cache;   /* `cache: S`: positions a session keeps (SPEC 9); 0 = none */
} fe_attn;

/* adds op named CURNODE.suffix (type not inferred yet); returns the node */
int fe_node(fe_ctx *L, ir_op op, const char *suffix, const int *inputs, int n);
/* infers node's type; its result value, or -1 after an error */
int fe_done(fe_ctx *L, int node);
/* gives the node defining value the current node's name; returns it (or -1) */
int fe_finish(fe_ctx *L, int value);
/* parameter CURNODE.PREFIXname */
int fe_prefixed_param(fe_ctx *L, const char *prefix, const char *name, ir_type t);
/* LAYER_NORM with params PREFIXwhat.weight (and .bias; zeros without) */
int fe_build_norm(fe_ctx *L, const char *prefix, const char *what, int x, int64_t E, double eps,
                  bool bias);
/* the params of one part of a layer op (PREFIX + ir_tf_param_name, shaped by E
 * and dim_feedforward F) into their input slots of inputs */
void fe_tf_params(fe_ctx *L, const char *prefix, const ir_tf_layout *r, ir_tf_part part,
                  int64_t E, int64_t F, int *inputs);
/* E of x [B, T, E] (constant), checked against attribute key if given */
bool fe_model_dim(fe_ctx *L, int x, const char *what, const char *key, int64_t *E);
/* heads (attribute heads_key, default def_heads if > 0), bias, causal, window, dropout,
 * batch_first */
bool fe_attn_common(fe_ctx *L, const char *heads_key, int64_t def_heads, int64_t E, fe_attn *a);
/* a key padding mask attribute `key` (SPEC 11) of the current node: -1 when
 * absent, else its value, checked to be i32/i64 [B, Tk] for queries of batch B
 * and keys of length Tk, and not to go with a cache (`cached`); -2 on error
 * (attention.c) */
int fe_padding_mask(fe_ctx *L, const char *key, ir_dim B, ir_dim Tk, bool cached);

/* op lowerings for the table of ops.c */
int fe_lower_multihead_attention(fe_ctx *L);
int fe_lower_transformer_encoder_layer(fe_ctx *L);
int fe_lower_transformer_decoder_layer(fe_ctx *L);
int fe_lower_transformer_encoder(fe_ctx *L);
int fe_lower_transformer_decoder(fe_ctx *L);
int fe_lower_transformer(fe_ctx *L);
/* xl.c: transformer_xl, one layer op of the whole stack */
int fe_lower_transformer_xl(fe_ctx *L);
/* t5_encoder, t5_decoder (t5.c) */
int fe_lower_t5_encoder(fe_ctx *L);
int fe_lower_t5_decoder(fe_ctx *L);
/* memformer.c: memformer_encoder, one segment SCAN whose state is the memory */
int fe_lower_memformer_encoder(fe_ctx *L);
int fe_lower_conv1d(fe_ctx *L);

#endif
