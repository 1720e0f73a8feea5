/*
 * ir.h: the dataflow IR of seqc, the one header of ir/.
 *
 * A graph owns arrays of values and nodes. Nodes refer to values by index and
 * values to their defining node by index, so a graph is cheap to clone and to
 * rewrite. The node array is always in topological order: a node reads only
 * graph inputs, params, constants and results of earlier nodes. Every node and
 * value keeps the YAML position that made it.
 *
 * Dims are symbolic: a dim is coef * sym0 * sym1, where sym0/sym1 name the
 * graph's symbols (B, T, ...) or are -1. Compile-time binding (the JIT) gives
 * every symbol a value; ahead-of-time objects leave them to run time. A
 * symbol is a base symbol (`dims:`, bound by the user) or a derived one, a
 * small expression floor((sum of monomials) / den) over earlier symbols, such
 * as a strided conv's output length (T-3)/2; derived values follow from the
 * base ones (ir_syms_complete).
 */
#ifndef SEQC_IR_H
#define SEQC_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "seqrt_types.h" /* the types ir shares with the runtime; ir knows nothing else of it */

/* ---- ops (ops.def) ---- */

typedef enum ir_op {
#define OP(id, name, min_in, max_in, nout, traits, attrs, flops, sem) IR_OP_##id,
#include "ops.def"
  IR_OP_COUNT
} ir_op;

enum ir_trait {
  IR_T_NONE = 0,
  IR_T_ELEMWISE = 1 << 0, /* same-index in, same-index out (with broadcasting); has an ELEM formula */
  IR_T_UNARY = 1 << 1,    /* one input */
  IR_T_BINARY = 1 << 2,   /* two inputs, numpy broadcasting */
  IR_T_ROW = 1 << 3,      /* reduction along one dim, one kernel per row */
  IR_T_VIEW = 1 << 4,     /* no computation: result aliases its input */
  IR_T_LAYER = 1 << 5,    /* expanded by decompose, never reaches codegen */
  IR_T_INTERNAL = 1 << 6, /* made by the frontend or a pass, never written in a model */
  IR_T_EFFECT = 1 << 7,   /* writes session state: live without results, never moved */
};

/* how ir_graph_flops counts an op (the flops column of ops.def) */
typedef enum ir_flops_rule {
  IR_FLOPS_NONE,      /* not counted */
  IR_FLOPS_MATMUL,    /* 2 * K * elements of the result, K = last dim of input 0 */
  IR_FLOPS_ATTENTION, /* 4 * dh per (query, key) pair computed, per batch and head */
  IR_FLOPS_CONV1D,    /* 2 * k * C * elements of the result */
  IR_FLOPS_RECURRENT, /* 2 * B * T * elements of every weight matrix */
  IR_FLOPS_SCAN,      /* the body's count times the steps */
  IR_FLOPS_BODY,      /* the body's count, once */
  IR_FLOPS_LAYER,     /* what the layer's expansion by decompose counts */
} ir_flops_rule;

typedef struct ir_op_info {
  const char *name;      /* text name */
  int min_inputs;        /* fewest inputs */
  int max_inputs;        /* most inputs, -1 variadic */
  int outputs;           /* number of results, -1 = per node */
  unsigned traits;       /* IR_T_* flags */
  const char *attrs;     /* "key:kind ..." as in ops.def */
  ir_flops_rule flops;   /* how its FLOPs are counted */
  const char *semantics; /* one line description */
} ir_op_info;

extern const ir_op_info ir_ops[IR_OP_COUNT];
/* IR_OP_COUNT if no op has that name */
ir_op ir_op_by_name(const char *name);

/* ---- types and symbolic dims (dim.c) ---- */

typedef enum ir_dtype { IR_F32 = SEQRT_F32, IR_I32 = SEQRT_I32, IR_I64 = SEQRT_I64 } ir_dtype;

#define IR_MAX_RANK SEQRT_MAX_RANK
#define IR_DIM_SYMS 2
#define IR_MAX_SYMS 32 /* base and derived symbols together */
#define IR_SYM_TERMS 4 /* monomials in a derived symbol's definition */

typedef struct ir_dim {
  int64_t coef;            /* constant factor (>= 0) */
  int8_t sym[IR_DIM_SYMS]; /* symbol indices multiplied in, sorted, -1 = none */
} ir_dim;

typedef struct ir_type {
  ir_dtype dtype;            /* element type */
  int rank;                  /* number of dims, 0 for a scalar */
  ir_dim dims[IR_MAX_RANK];  /* outermost first */
} ir_type;

const char *ir_dtype_name(ir_dtype t); /* "f32", "i32", "i64" */
size_t ir_dtype_size(ir_dtype t);

ir_dim ir_dim_const(int64_t n);
ir_dim ir_dim_sym(int sym);
bool ir_dim_is_const(ir_dim d);
bool ir_dim_eq(ir_dim a, ir_dim b);
/* false when the product needs more than IR_DIM_SYMS symbols or overflows */
bool ir_dim_mul(ir_dim a, ir_dim b, ir_dim *out);
/* false unless a / b is exact (b's symbols all in a, coef divides) */
bool ir_dim_div(ir_dim a, ir_dim b, ir_dim *out);
/* value under a binding (syms[i] = value of symbol i); saturates at INT64_MAX
 * (INT64_MIN) instead of overflowing */
int64_t ir_dim_eval(ir_dim d, const int64_t *syms);
/* number of elements: product of dims; false on symbol overflow */
bool ir_type_numel(const ir_type *t, ir_dim *out);
/* the same under a binding, saturated as ir_dim_eval */
int64_t ir_type_numel_eval(const ir_type *t, const int64_t *syms);
bool ir_type_eq(const ir_type *a, const ir_type *b);

/* ---- positions and diagnostics (diag.c) ---- */

typedef struct ir_loc {
  int line; /* 1-based YAML line, 0 = unknown */
  int col;  /* 1-based YAML column */
} ir_loc;

/*
 * User diagnostics: printed at once as `FILE:LINE:COL: error: MSG`, then the
 * source line and a caret, and counted. The library never exits; callers
 * check nerrors at stage boundaries.
 */
typedef struct ir_diags {
  const char *file;   /* path as the user gave it */
  const char *src;    /* the file's text (not owned), for source lines */
  size_t src_len;     /* length of src */
  FILE *out;          /* where messages go (stderr unless a test redirects) */
  int nerrors;        /* errors so far */
  int nwarnings;      /* warnings so far */
  bool warnings_are_errors; /* --strict */
} ir_diags;

void ir_diags_init(ir_diags *d, const char *file, const char *src, size_t len, FILE *out);
void ir_error(ir_diags *d, ir_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ir_warning(ir_diags *d, ir_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ir_verror(ir_diags *d, ir_loc loc, bool warning, const char *fmt, va_list ap);

/* The compiler's own bugs: always on, names file and line, aborts. */
#define IR_ASSERT(c)                                                   \
  do {                                                                 \
    if (!(c)) ir_assert_fail(__FILE__, __LINE__, #c);                  \
  } while (0)
_Noreturn void ir_assert_fail(const char *file, int line, const char *what);

/* ---- attributes ---- */

typedef enum ir_attr_kind { IR_ATTR_INT, IR_ATTR_FLOAT, IR_ATTR_STR, IR_ATTR_INTS } ir_attr_kind;

typedef struct ir_attr {
  const char *key;   /* name, as in ops.def */
  ir_attr_kind kind; /* which field below holds the value */
  int64_t i;         /* IR_ATTR_INT */
  double f;          /* IR_ATTR_FLOAT */
  const char *s;     /* IR_ATTR_STR */
  int64_t *ints;     /* IR_ATTR_INTS */
  int nints;         /* IR_ATTR_INTS length */
} ir_attr;

/* one entry of an ops.def attrs string */
#define IR_MAX_OP_ATTRS 16
typedef struct ir_attr_spec {
  char key[32];      /* attribute name */
  ir_attr_kind kind; /* the kind it must have */
  bool optional;     /* '?' suffix: may be absent */
} ir_attr_spec;
/* the attrs of op, in ops.def order, into specs (room for IR_MAX_OP_ATTRS); their number */
int ir_attr_specs(ir_op op, ir_attr_spec *specs);

/* ---- graph (graph.c) ---- */

typedef enum ir_value_kind {
  IR_VAL_INPUT,  /* graph input, given by the user at run time */
  IR_VAL_PARAM,  /* weight, loaded by name (NODE.PARAM) from safetensors */
  IR_VAL_CONST,  /* constant with data owned by the graph */
  IR_VAL_NODE,   /* result of a node */
  IR_VAL_STATE,  /* session state (SPEC 9): kept between runs, read by state_read,
                    written by state_write, zero after a reset */
} ir_value_kind;

typedef struct ir_graph ir_graph;

typedef struct ir_value {
  ir_value_kind kind; /* where the value comes from */
  ir_type type;       /* dtype and shape; rank -1 until inferred */
  const char *name;   /* input/param name, or NODE / NODE.OUT for results */
  int def;            /* defining node (IR_VAL_NODE), -1 otherwise */
  int def_output;     /* which result of def */
  void *data;         /* IR_VAL_CONST: elements, row-major */
  ir_loc loc;         /* YAML position */
  int buffer;         /* plan_memory: index into graph->buffers, -1 = none */
  bool is_static;     /* IR_VAL_INPUT: `static: true` (SPEC 9): given by the first run
                         after a reset; what depends only on it and params is kept */
} ir_value;

/* A piece of run-time memory, planned by plan_memory; codegen turns each into
 * a seqrt_buffer_desc with the same index. */
typedef struct ir_buffer {
  int value;        /* the value it holds (its type gives dtype and shape) */
  seqrt_role role;  /* input, output, param, prepared, temp or alias */
  int first, last;  /* TEMP/OUTPUT: index of the node that writes it, of the last node reading it */
  int alias;        /* ALIAS: buffer whose memory it views, else -1 */
  const ir_graph *graph; /* graph whose value `value` is: a scan body, NULL = this graph */
  int64_t panel;    /* > 0: a prepared weight stored in column panels of this unit (schedule) */
} ir_buffer;

/*
 * The schedule (passes/schedule.c, the last pass): how the threads of the
 * team share each kernel and where they wait for each other. Codegen emits
 * what it says and decides none of it. All zero before the pass runs.
 */

/* how a scan moves one of its inputs or results each step */
typedef enum ir_port_move {
  IR_PORT_STAY,   /* a capture read in place, an initial state, or a state left unchanged */
  IR_PORT_DIRECT, /* over input or emit: the step's slice of the outer tensor, no copy */
  IR_PORT_COPY,   /* over input gathered at the step's start, emit copied out at its end,
                     or a state's next value copied over the state */
  IR_PORT_SWAP,   /* state: the next state's buffer and the state's swap pointers */
  IR_PORT_CHAIN,  /* state: also a direct emit; the next step reads it in that slot */
} ir_port_move;

typedef struct ir_port_sched {
  ir_port_move move; /* how it moves */
  int64_t unit;      /* COPY by the unit split (the scan's unit: each thread its columns
                        of every unit of a row); 0: by flat rows */
  bool barrier;      /* every thread waits before this copy */
} ir_port_sched;

typedef struct ir_sched {
  bool barrier;         /* every thread waits for the others before this kernel */
  int64_t unit;         /* > 0: the unit split (each thread takes its columns of every unit
                           of this width); on a SCAN, the unit of its steps */
  bool wait;            /* scan body: the step's barrier is split, arrive at the step's
                           start and wait at this kernel; on the SCAN: its steps split so */
  bool view;            /* scan body SLICE: a pointer into its input each step, no kernel */
  ir_port_sched *ports; /* SCAN: its inputs' then its results' moves; NULL elsewhere */
} ir_sched;

typedef struct ir_node {
  ir_op op;           /* what it computes */
  const char *name;   /* YAML node name, for messages */
  int *inputs;        /* value ids */
  int ninputs;        /* length of inputs */
  int *outputs;       /* value ids of results */
  int noutputs;       /* length of outputs */
  ir_attr *attrs;     /* typed attributes */
  int nattrs;         /* length of attrs */
  ir_graph *body;     /* FUSED and SCAN: the subgraph, owned */
  bool dead;          /* removed by a pass; skipped by everyone, dropped by compact */
  bool at_prepare;    /* depends on params only: runs once at session start */
  bool once;          /* depends on static inputs (and params) only: runs in the first run
                         after a reset, its results kept (plan_memory, ir_once_nodes) */
  ir_loc loc;         /* YAML position */
  ir_sched sched;     /* threads and barriers (schedule pass) */
} ir_node;

/* an error at node n's position; false, for `return ir_node_error(...)` */
bool ir_node_error(ir_diags *d, const ir_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct ir_output {
  const char *name; /* output name as listed in `outputs:` */
  int value;        /* value id */
} ir_output;

/*
 * A symbol of the root graph's table: base symbols (from `dims:`) first, then
 * derived ones, each floor((terms[0] + ... + terms[nterms-1]) / den) over
 * earlier symbols. Definitions are canonical (ir_dim_floordiv), so two derived
 * symbols never share one and equal lengths are equal dims.
 */
typedef struct ir_symbol {
  const char *name;  /* B, T, ...; a derived symbol's is its expression, e.g. (T-3)/2 */
  int64_t def_value; /* default from `dims:` (derived: 0, unused) */
  ir_loc loc;        /* where `dims:` declares it, or the node that derived it */
  int nterms;        /* derived: monomials summed (>= 1); 0 for a base symbol */
  ir_dim terms[IR_SYM_TERMS]; /* derived: coef may be negative; a constant has no symbol */
  int64_t den;       /* derived: divisor (>= 2, or 1 for a plain sum) */
  int64_t min;       /* derived: smallest value the model accepts (1 for a length) */
  const char *what;  /* derived: what the value is, e.g. "conv1d 'c2': output length" */
} ir_symbol;

struct ir_graph {
  const char *name;       /* model name (`name:`) */
  ir_value *values;       /* all values, by id */
  int nvalues, cap_values;
  ir_node *nodes;         /* topological order */
  int nnodes, cap_nodes;
  int *inputs;            /* value ids of graph inputs, in YAML order (body: body inputs) */
  int ninputs, cap_inputs;
  ir_output *outputs;     /* model outputs, in `outputs:` order */
  int noutputs, cap_outputs;
  ir_symbol syms[IR_MAX_SYMS]; /* dim symbols (shared with bodies through parent) */
  int nsyms;              /* base symbols: syms[0 .. nsyms-1] */
  int nderived;           /* derived symbols: syms[nsyms .. nsyms+nderived-1] */
  int position_sym;       /* the dim a session counts positions of (position_dim:,
                             default T; SPEC 9), -1 if the model has none */
  bool streams;           /* some node carries a state or caches keys (SPEC 9): each run
                             continues the previous one, and advances the position */
  const char **ignored;   /* weights-file names accepted and not read (SPEC 10's
                           * NODE.pos_emb.inv_freq), in the graph's memory */
  int nignored;           /* length of ignored */
  ir_graph *parent;       /* enclosing graph of a body, NULL at top level */
  ir_buffer *buffers;     /* plan_memory's plan (top level only), NULL before */
  int nbuffers;
  int sched_width;        /* vector width the schedule was made for, 0 = not scheduled */
  struct ir_chunk *mem;   /* bump allocator for everything the graph owns */
};

/* What the schedule pass plans for: the target's vector width and the rule
 * by which codegen's GEMM reads B in place (codegen fills it: cg_target). */
typedef struct ir_target {
  int vec_width; /* floats per vector: 16, 8 or 4 */
  /* true when a thread's rows x cols of C, over k, read B in place */
  bool (*gemm_reads_b_in_place)(int vec_width, int64_t rows, int64_t k, int64_t cols);
} ir_target;

ir_graph *ir_graph_new(const char *name);
void ir_graph_free(ir_graph *g);
/* memory owned by g (freed with it), zeroed */
void *ir_alloc(ir_graph *g, size_t size);
char *ir_strdup(ir_graph *g, const char *s);

/* base symbol id by name, -1 if none; ir_graph_add_sym returns the new id
 * (base symbols all come before the first derived one) */
int ir_graph_find_sym(const ir_graph *g, const char *name);
int ir_graph_add_sym(ir_graph *g, const char *name, int64_t def_value, ir_loc loc);

/*
 * The dim floor((terms[0] + ... + terms[nterms-1]) / den), den >= 1, terms
 * being monomials over g's symbols (a constant is one with no symbol; coefs
 * may be negative). The sum is canonicalized (like terms merged, zeros
 * dropped, sorted, divided by the gcd of the symbolic coefs and den, derived
 * symbols expanded where that keeps IR_SYM_TERMS terms); a constant or a
 * single monomial comes back as a plain dim, anything else as a derived
 * symbol, the existing one if its definition is the same (the larger min and
 * its what/loc win). min is the smallest value the model accepts, what and
 * loc say what made it. False when the symbol table is full or a coefficient
 * overflows.
 */
bool ir_dim_floordiv(ir_graph *g, const ir_dim *terms, int nterms, int64_t den, int64_t min,
                     const char *what, ir_loc loc, ir_dim *out);
/* number of symbols, base and derived (the length a syms array needs) */
int ir_syms_count(const ir_graph *g);
/* Fills syms[i] for every derived symbol of g from the base values before it
 * (-1 when a value it needs is -1: a dim left to run time). */
void ir_syms_complete(const ir_graph *g, int64_t *syms);
/* whether derived symbol s has a value in syms (completed) below its min,
 * e.g. a conv's output length 0: an error of the dims given */
bool ir_sym_too_small(const ir_graph *g, int s, const int64_t *syms);
/* "T = 4, B = 2": the base symbols derived symbol s depends on, with values */
const char *ir_sym_inputs_str(const ir_graph *g, int s, const int64_t *syms, char *buf,
                              size_t size);
/* floor(a / b) for b > 0 (C's / truncates) */
int64_t ir_floordiv(int64_t a, int64_t b);

int ir_add_input(ir_graph *g, const char *name, ir_type type, ir_loc loc);
int ir_add_param(ir_graph *g, const char *name, ir_type type, ir_loc loc);
/* a STATE value of type type, named after what it keeps ("rnn.h_n") */
int ir_add_state(ir_graph *g, const char *name, ir_type type, ir_loc loc);
/* data is copied */
int ir_add_const(ir_graph *g, ir_type type, const void *data, ir_loc loc);
/*
 * Appends a node with fresh result values (types unset: rank -1) and returns
 * its index. Result value ids are g->nodes[n].outputs[i]; the first is named
 * NAME, further ones NAME.OUTi until the caller renames them.
 */
int ir_add_node(ir_graph *g, ir_op op, const char *name, const int *inputs, int ninputs,
                ir_loc loc);
/* Same, inserted at position pos of the node array (shifts later nodes). */
int ir_insert_node(ir_graph *g, int pos, ir_op op, const char *name, const int *inputs,
                   int ninputs, ir_loc loc);
/* Same for ops whose result count is per node (ops.def outputs -1, e.g. SCAN). */
int ir_insert_node_n(ir_graph *g, int pos, ir_op op, const char *name, const int *inputs,
                     int ninputs, int noutputs, ir_loc loc);
/* Appends a fresh result value (type unset) named NAME to node `node`, whose
 * op has a per-node result count; returns its id. */
int ir_add_result(ir_graph *g, int node, const char *name);
void ir_add_output(ir_graph *g, const char *name, int value);

void ir_set_attr_int(ir_graph *g, int node, const char *key, int64_t v);
void ir_set_attr_float(ir_graph *g, int node, const char *key, double v);
void ir_set_attr_str(ir_graph *g, int node, const char *key, const char *v);
void ir_set_attr_ints(ir_graph *g, int node, const char *key, const int64_t *v, int n);
/* sets every attribute of src (a node of any graph) on node `node` of g */
void ir_copy_attrs(ir_graph *g, int node, const ir_node *src);
const ir_attr *ir_get_attr(const ir_node *n, const char *key);
/* the attribute's value; IR_ASSERTs that it exists with that kind */
int64_t ir_attr_int(const ir_node *n, const char *key);
double ir_attr_float(const ir_node *n, const char *key);
/* every int or float attribute of n as a double, in the order of its ops.def attrs
 * (an absent optional one is 0): the `a` of ops.def's ELEM formulas; returns their number */
int ir_attr_values(const ir_node *n, double a[IR_MAX_OP_ATTRS]);

/* every use of value `from` (node inputs and graph outputs) becomes `to` */
void ir_replace_uses(ir_graph *g, int from, int to);
/* recomputes value.def/def_output from the node array */
void ir_graph_reindex(ir_graph *g);
/* drops dead nodes (values stay; ids are stable) */
void ir_graph_compact(ir_graph *g);
/* number of live uses of each value (nodes and outputs); array of nvalues, malloc'd */
int *ir_use_counts(const ir_graph *g);
/* the next read of value v by a live node after input *slot of node *node
 * (start from *node = 0, *slot = -1): true with *node and *slot set to it, in
 * node order and then input order (a node reading v twice comes twice), false
 * after the last. Graph outputs are not reads here:
 *   for (int i = 0, k = -1; ir_next_use(g, v, &i, &k);) ... g->nodes[i] ... */
bool ir_next_use(const ir_graph *g, int v, int *node, int *slot);
/* the buffer that owns the memory buffer b views (following ALIAS links of
 * g's plan); b itself when it is no alias, -1 for -1 */
int ir_buffer_root(const ir_graph *g, int b);
/* true when axis 1 of type t (of a value of g) is the position dim of the
 * model (position_dim:): positions along it start at the session position p */
bool ir_at_position(const ir_graph *g, const ir_type *t);
/* which nodes of g depend only on static inputs, params and constants, and on
 * at least one static input (SPEC 9): they run in the first run after a
 * reset, and later runs use what they left. A malloc'd array of nnodes
 * flags; state reads and writes are never such nodes. */
bool *ir_once_nodes(const ir_graph *g);
/* a planned node whose result views its input (a RESHAPE aliasing it): nothing runs */
bool ir_node_is_view(const ir_graph *g, const ir_node *n);
/* the scan that runs in one loop with scan node i of g (pair=1, set by
 * pair_scans: the next live node), or NULL */
const ir_node *ir_paired_scan(const ir_graph *g, int i);
/* deep copy (bodies included) */
ir_graph *ir_graph_clone(const ir_graph *g);
/* names a weights file may hold that no parameter reads, without a warning */
void ir_add_ignored(ir_graph *g, const char *name);

/* ---- shape inference (infer.c) ---- */

/* Infers the result types of node n from its inputs' types; reports user
 * errors at the node's position and returns false on any. */
bool ir_infer_node(ir_graph *g, int n, ir_diags *d);

/* ---- verifier (verify.c) ---- */

/* Checks the structural invariants (topological order, arity, attrs as in
 * ops.def, inferred types consistent). `after` names the pass that ran last.
 * Prints what is broken to d->out and returns false. */
bool ir_verify(const ir_graph *g, const char *after, FILE *out);

/* ---- recurrent layers (rnn.c) ---- */

/* the sizes of an RNN, LSTM or GRU layer node and the layout of its inputs:
 * x [B, T, F], h0 [L*D, B, P] (LSTM: c0 [L*D, B, H]), then per layer and
 * direction the parameters that ir_rnn_params_at places */
typedef struct ir_rnn_layout {
  ir_op op;              /* IR_OP_RNN, IR_OP_LSTM or IR_OP_GRU */
  int64_t H, P;          /* hidden size; output size (LSTM proj_size, else H) */
  int64_t L, D, G;       /* layers, directions (1 or 2), gates (1, LSTM 4, GRU 3) */
  bool bias, proj, peep; /* has b_ih, b_hh; LSTM w_hr; LSTM w_ci, w_cf, w_co */
  int nstates;           /* initial states after x: 1, LSTM 2 */
  int per_dir;           /* parameters per layer and direction */
  int ninputs;           /* inputs of the node: 1 + nstates + L * D * per_dir (+ 1, lengths) */
  int lengths;           /* input index of the lengths [B] (the last input), -1 when none */
} ir_rnn_layout;

/* the input index of each parameter of one layer and direction; -1 when absent */
typedef struct ir_rnn_params {
  int w_ih, w_hh;       /* [G*H, in] (in = F for layer 0, else D*P), [G*H, P] */
  int b_ih, b_hh;       /* [G*H] each (bias) */
  int w_hr;             /* LSTM [P, H] (proj_size > 0) */
  int w_ci, w_cf, w_co; /* LSTM [H] each (peephole) */
} ir_rnn_params;

ir_rnn_layout ir_rnn_layout_make(ir_op op, int64_t hidden, int64_t proj_size, int64_t layers,
                                 bool bidirectional, bool bias, bool peephole);
/* from node n's attributes (lengths=1: a lengths input after the parameters) */
ir_rnn_layout ir_rnn_layout_of(const ir_node *n);
/* r with a lengths input appended */
ir_rnn_layout ir_rnn_layout_with_lengths(ir_rnn_layout r);
ir_rnn_params ir_rnn_params_at(const ir_rnn_layout *r, int64_t layer, int dir);

/* ---- transformer_xl (xl.c) ---- */

/* the parameters of one layer, in input order (after x and mems) */
typedef enum ir_xl_param {
  IR_XL_QKV,         /* dec_attn.qkv_net.weight [3 H dh, D] */
  IR_XL_R_NET,       /* dec_attn.r_net.weight [H dh, D] */
  IR_XL_O_NET,       /* dec_attn.o_net.weight [D, H dh] */
  IR_XL_R_W_BIAS,    /* dec_attn.r_w_bias [H, dh] */
  IR_XL_R_R_BIAS,    /* dec_attn.r_r_bias [H, dh] */
  IR_XL_ATTN_NORM_W, /* dec_attn.layer_norm.weight [D] */
  IR_XL_ATTN_NORM_B, /* dec_attn.layer_norm.bias [D] */
  IR_XL_FF0_W,       /* pos_ff.CoreNet.0.weight [d_inner, D] */
  IR_XL_FF0_B,       /* pos_ff.CoreNet.0.bias [d_inner] */
  IR_XL_FF3_W,       /* pos_ff.CoreNet.3.weight [D, d_inner] */
  IR_XL_FF3_B,       /* pos_ff.CoreNet.3.bias [D] */
  IR_XL_FF_NORM_W,   /* pos_ff.layer_norm.weight [D] */
  IR_XL_FF_NORM_B,   /* pos_ff.layer_norm.bias [D] */
  IR_XL_NPARAMS
} ir_xl_param;

/* a transformer_xl node's attributes */
typedef struct ir_xl_cfg {
  int64_t layers, n_head, d_head, d_inner; /* num_layers and the layer sizes */
  int64_t mem_len, segment, clamp_len;     /* M, C, clamp_len (0: none) */
  bool same_length;                        /* every query sees mem_len keys at most */
  double eps;                              /* layer_norm_eps */
} ir_xl_cfg;

/* one layer's parameters as data (the interpreter) */
typedef struct ir_xl_params {
  const float *qkv, *r_net, *o_net, *r_w_bias, *r_r_bias; /* attention */
  const float *attn_norm_w, *attn_norm_b;                 /* dec_attn.layer_norm */
  const float *ff0_w, *ff0_b, *ff3_w, *ff3_b;             /* pos_ff.CoreNet.0 and .3 */
  const float *ff_norm_w, *ff_norm_b;                     /* pos_ff.layer_norm */
} ir_xl_params;

ir_xl_cfg ir_xl_cfg_of(const ir_node *n);
/* layers.N.NAME, SPEC 10's name under the node */
const char *ir_xl_param_name(int layer, ir_xl_param p, char *buf, size_t size);
ir_type ir_xl_param_type(const ir_xl_cfg *c, int64_t d_model, ir_xl_param p);
ir_xl_params ir_xl_params_at(const ir_node *n, const seqrt_tensor *in, int64_t layer);
/* internal to ir/: its result types (called by ir_infer_node) and its direct
 * evaluation (eval_xl.c, called by eval.c; position: the session position) */
bool ir_infer_xl(ir_graph *g, int n, ir_diags *d);
bool ir_eval_rel_attention(const ir_node *n, const seqrt_tensor *in, int64_t position,
                           seqrt_tensor *out, seqrt_error *err);
bool ir_eval_xl(const ir_node *n, const seqrt_tensor *in, int64_t position, seqrt_tensor *out,
                seqrt_error *err);

/* ---- T5's attention (t5.c) ---- */

/* where t5_attention's inputs sit: x, kv, then the q, k, v, o weights at
 * these indices, then the optional ones at rel and cache (-1: absent) */
enum { IR_T5_Q = 2, IR_T5_K, IR_T5_V, IR_T5_O };
typedef struct ir_t5_layout {
  int rel;     /* relative_attention_bias [N, H], or -1 */
  int cache;   /* key cache (value cache after it), or -1 */
  int ninputs; /* inputs in all */
} ir_t5_layout;

ir_t5_layout ir_t5_layout_make(bool relative, bool cache);
ir_t5_layout ir_t5_layout_of(const ir_node *n);
/* the bucket of relative position r = key position - query position (HF's
 * _relative_position_bucket; bidirectional for the encoder) */
int64_t ir_t5_bucket(int64_t r, bool bidirectional, int64_t num_buckets, int64_t max_distance);
/* internal to ir/: its result types (called by ir_infer_node) and its direct
 * evaluation (called by eval.c; position: the session position) */
bool ir_infer_t5_attention(ir_graph *g, int n, ir_diags *d);
bool ir_eval_t5_attention(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                          int64_t position, seqrt_tensor *out, seqrt_error *err);

/* ---- attention and Transformer layers (transformer.c) ---- */

/* the weighted parts of a multihead_attention, transformer_encoder_layer or
 * transformer_decoder_layer node: each a weight and, when the layer has
 * biases, a bias right after it (E: model dim, F: dim_feedforward) */
typedef enum ir_tf_part {
  IR_TF_SA_IN,   /* self-attention in_proj: weight [3E, E], bias [3E] (MHA: its in_proj) */
  IR_TF_SA_OUT,  /* self-attention out_proj: [E, E], [E] */
  IR_TF_CA_IN,   /* decoder cross-attention (multihead_attn) in_proj */
  IR_TF_CA_OUT,  /* decoder cross-attention out_proj */
  IR_TF_LINEAR1, /* feed-forward in: [F, E], [F] */
  IR_TF_LINEAR2, /* feed-forward out: [E, F], [E] */
  IR_TF_NORM1,   /* layer norms: [E], [E] */
  IR_TF_NORM2,
  IR_TF_NORM3,   /* decoder only */
  IR_TF_NPARTS
} ir_tf_part;

/* where a layer node's inputs sit: the activations (MHA query, key, value;
 * encoder x; decoder x, memory), then its parts in ir_tf_part order, then
 * the key and value caches of a cached self-attention, then the key padding
 * masks (SPEC 11; integer [B, Tk], non-zero = padding): the attention's
 * (MHA) or self-attention's (attribute key_padding), then the decoder's
 * cross-attention's (memory_key_padding). A cached layer has
 * three results: its output, and this run's keys and values [B, H, T, dh]
 * (what the graph's cache_write nodes keep) */
typedef struct ir_tf_layout {
  ir_op op;                  /* MULTIHEAD_ATTENTION or a TRANSFORMER_*_LAYER */
  bool bias;                 /* every part has a bias */
  int cache;                 /* self-attention's key cache is input `cache` and its value
                                cache the next (STATE values, SPEC 9 `cache:`); -1 without */
  int nacts;                 /* activations before the parts */
  int weight[IR_TF_NPARTS];  /* input index of each part's weight, -1 if the op has none */
  int bias_at[IR_TF_NPARTS]; /* input index of its bias, -1 without */
  int mask;                  /* input index of the (self-)attention's key padding mask, -1 */
  int memory_mask;           /* input index of the cross-attention's key padding mask, -1 */
  int ninputs;               /* inputs of the node */
} ir_tf_layout;

ir_tf_layout ir_tf_layout_make(ir_op op, bool bias, bool cache, bool mask, bool memory_mask);
/* from node n's op and `bias`, `cache`, `key_padding` and `memory_key_padding` attributes */
ir_tf_layout ir_tf_layout_of(const ir_node *n);
/* PyTorch's state_dict name of a part's weight (or bias) under the layer:
 * "self_attn.in_proj_weight", "linear1.bias"; a multihead_attention's own
 * "in_proj_weight", "out_proj.bias" */
const char *ir_tf_param_name(ir_op op, ir_tf_part part, bool bias, char *buf, size_t size);
/* the type of a part's weight (or bias) for model dim E and dim_feedforward F:
 * in_proj [3E, E], out_proj [E, E], linear1 [F, E], linear2 [E, F], norms [E];
 * a bias is [rows of the weight] */
ir_type ir_tf_param_type(ir_tf_part part, bool bias, int64_t E, int64_t F);
/* the part of a Transformer layer that its expansion computes last:
 * "ff_add" (norm_first), else "norm2" (encoder) or "norm3" (decoder); a layer
 * inside a stack names its result NAME.part, as that node was always named */
const char *ir_tf_last_part(ir_op op, bool norm_first);
/* true for the three ops above */
bool ir_is_tf_layer(ir_op op);

/* where an `attention` node's inputs sit: q, k, v, then either the key
 * padding mask (key_padding 1) or the caches kc, vc (5 inputs without it),
 * then, with pos_bias R, the relative position bias table f32 [H, 2R+1] last */
typedef struct ir_attn_layout {
  int mask;  /* input index of the key padding mask [B, Tk], -1 without */
  int cache; /* input index of the key cache kc (the value cache vc is the next), -1 */
  int table; /* input index of the position bias table, -1 without */
  int64_t R; /* pos_bias: key - query distances clamp to [-R, R]; -1 without a table */
} ir_attn_layout;
ir_attn_layout ir_attn_layout_of(const ir_node *n);

/* ---- FLOP count (flops.c) ---- */

/* the FLOPs of one run of g with its symbols bound to syms, by each op's rule
 * (the flops column of ops.def): multiply-adds count twice, elementwise work
 * not at all; a scan counts its body once a step, a fused node its body once */
double ir_graph_flops(const ir_graph *g, const int64_t *syms);
/* the FLOPs of node i of g alone (a scan's or fused node's body included) */
double ir_node_flops(const ir_graph *g, int i, const int64_t *syms);

/* ---- how a layer orders positions (analyze.c, `seqc analyze`) ---- */

typedef enum ir_seq_kind {
  IR_SEQ_POSITIONWISE, /* each position alone: linear, norms, elementwise */
  IR_SEQ_POOL,         /* a reduction over the positions (mean over n) */
  IR_SEQ_ATTENTION,    /* every position sees every other (or every earlier one) */
  IR_SEQ_WINDOW,       /* restricted attention: the positions within size */
  IR_SEQ_CONV,         /* a convolution over size positions (kernel times dilation) */
  IR_SEQ_XL,           /* Transformer-XL: segments of size, a memory of memory rows */
  IR_SEQ_SEGMENTS,     /* a recurrence over segments of size positions */
  IR_SEQ_RECURRENT,    /* a recurrence over positions, one after another */
} ir_seq_kind;

typedef struct ir_seq_class {
  ir_seq_kind kind; /* what it is */
  int64_t size;     /* window r, kernel span k, segment C */
  int64_t memory;   /* XL: mem_len M */
  int64_t layers;   /* XL: its layers L */
} ir_seq_class;

/* the columns of Vaswani et al.'s Table 1 for one class */
typedef struct ir_seq_text {
  char complexity[64]; /* per layer, e.g. "O(n^2 d)" */
  char sequential[32]; /* operations one after another, e.g. "O(n)" */
  char path[64];       /* longest path between two positions, e.g. "O(n/r)" */
} ir_seq_text;

ir_seq_class ir_seq_class_of(const ir_graph *g, const ir_node *n);
/* larger: positions more ordered (a group of nodes takes its largest) */
int ir_seq_rank(ir_seq_kind k);
/* the table's texts; matmul: a positionwise class that multiplies matrices */
void ir_seq_describe(const ir_seq_class *c, bool matmul, ir_seq_text *t);

/* ---- printer (print.c) ---- */

void ir_print(const ir_graph *g, FILE *out);
/* the graph in Graphviz's DOT language (dot.c): a box per node, bodies as clusters */
void ir_print_dot(const ir_graph *g, FILE *out);
/* "[B, T, 64]" into buf */
const char *ir_type_str(const ir_graph *g, const ir_type *t, char *buf, size_t size);
const char *ir_dim_str(const ir_graph *g, ir_dim d, char *buf, size_t size);

/* ---- reference interpreter (eval.c) ---- */

/*
 * Runs the graph with plain C loops: the oracle for every test. syms binds
 * every base symbol (derived ones are computed from them); inputs[i] is graph
 * input i (g->inputs order); params are looked up by name through get_param;
 * outputs[i] receives model output i in freshly malloc'd memory (caller frees
 * .data). Returns false with a message in err on a run-time data error
 * (embedding index out of range) or a derived dim below its min.
 */
typedef bool (*ir_param_fn)(void *user, const char *name, seqrt_tensor *out);
bool ir_eval(const ir_graph *g, const int64_t *syms, const seqrt_tensor *inputs,
             ir_param_fn get_param, void *user, seqrt_tensor *outputs, seqrt_error *err);

/*
 * A session of the interpreter (SPEC 9): runs of g that continue one another.
 * It keeps the session position p and the tensor of every STATE value; a run
 * (ir_eval_run, ir_eval's contract otherwise) reads the state the previous
 * successful run left, and on success leaves its own and advances p by its
 * value of the position dim when the model streams. ir_eval is one run of a
 * fresh session. g must outlive the session.
 */
typedef struct ir_session ir_session;
ir_session *ir_session_new(const ir_graph *g); /* NULL when out of memory */
void ir_session_free(ir_session *s);
void ir_session_reset(ir_session *s); /* p = 0, no state */
int64_t ir_session_position(const ir_session *s);
bool ir_eval_run(ir_session *s, const int64_t *syms, const seqrt_tensor *inputs,
                 ir_param_fn get_param, void *user, seqrt_tensor *outputs, seqrt_error *err);

/* internal to ir/: the interpreter's per-op kernels (eval_ops.c), called by eval.c.
 * Computes node n (any op but FUSED, which eval.c runs as a graph) from the
 * tensors in[0..n->ninputs) at session position `position`; out arrives with dtype, rank and shape from the
 * result type and data allocated. A shape that disagrees with the inputs is an
 * inference bug, reported as an internal error. False with err set on error. */
bool ir_eval_kernel(const ir_graph *g, const ir_node *n, const seqrt_tensor *in, int64_t position,
                    seqrt_tensor *out, seqrt_error *err);
/* internal to ir/ (infer_scan.c), called by ir_infer_node: the ops with several
 * results (SCAN; the layers RNN, LSTM, GRU) and FILL */
bool ir_infer_scan(ir_graph *g, int n, ir_diags *d);
bool ir_infer_recurrent(ir_graph *g, int n, ir_diags *d);
/* internal to ir/ (eval_rnn.c), called by eval.c: the layers RNN, LSTM, GRU
 * computed directly (an oracle independent of their decomposition into SCANs);
 * out[k] is result k, allocated like ir_eval_kernel's out */
bool ir_eval_recurrent(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                       seqrt_tensor *out, seqrt_error *err);
/* internal to ir/ (infer_attention.c), called by ir_infer_node: the attention and
 * Transformer layer ops, each input's type checked against the layer's sizes */
bool ir_infer_tf_layer(ir_graph *g, int n, ir_diags *d);
/* internal to ir/ (eval_attention.c), called by eval.c: multihead_attention and the
 * Transformer layers computed directly from PyTorch's definition, an oracle
 * independent of their decomposition; out[k] is result k, allocated like
 * ir_eval_kernel's; position: the session position (a cached self-attention) */
bool ir_eval_tf_layer(const ir_graph *g, const ir_node *n, const seqrt_tensor *in,
                      int64_t position, seqrt_tensor *out, seqrt_error *err);
/* internal to ir/ (memory_write.c): Memformer's memory write, its type
 * (called by ir_infer_node) and computed directly from SPEC's text (by
 * ir_eval_kernel), independent of its decomposition */
bool ir_infer_memory_write(ir_graph *g, int n, ir_diags *d);
bool ir_eval_memory_write(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out,
                          seqrt_error *err);
/* internal to ir/ (slot_attention.c): the write's attention as decompose
 * leaves it, its type (ir_infer_node) and evaluation (ir_eval_kernel) */
bool ir_infer_slot_attention(ir_graph *g, int n, ir_diags *d);
bool ir_eval_slot_attention(const ir_node *n, const seqrt_tensor *in, seqrt_tensor *out,
                            seqrt_error *err);
/* sets err->msg (if err) and returns false */
bool ir_eval_fail(seqrt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* lengths (an i32 or i64 [B], eval.c): row b's value; the data check of SPEC 11
 * (every length in [1, T], else an error naming the row, the length and name) */
int64_t ir_eval_length(const seqrt_tensor *lengths, int64_t b);
bool ir_eval_check_lengths(const seqrt_tensor *lengths, const char *name, int64_t T,
                           seqrt_error *err);

#endif
