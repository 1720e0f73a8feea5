/*
 * yaml.c: YAML text to the frontend's AST, through libyaml's event parser.
 *
 * Events arrive flat (start mapping, scalar, scalar, end mapping, ...); an
 * explicit stack of open containers turns them into a tree, so no input,
 * however deep or malformed, can recurse the C stack. Every AST node keeps
 * the line:col of the event that started it. The model language needs only
 * plain trees, so anchors and aliases are refused, and a key repeated in one
 * mapping is an error (YAML 1.2 says so; PyYAML would silently keep the last).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fe.h"

/* deeper nesting than any model needs; keeps fe_ast_free's recursion bounded */
#define MAX_DEPTH 200

/* an open sequence or mapping while its events arrive */
typedef struct frame {
  fe_ast *node;    /* the container being filled */
  int cap;         /* allocated slots in node->items (and keys) */
  fe_ast *key;     /* mapping: key waiting for its value, NULL if none */
  bool drop_value; /* mapping: the next value belongs to a rejected key */
} frame;

typedef struct parser {
  ir_diags *d;    /* where errors go */
  frame *stack;   /* open containers, innermost last */
  int depth, cap; /* used and allocated frames */
  fe_ast *root;   /* the document's root once complete */
  int errors;     /* errors reported by this parse */
} parser;

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  IR_ASSERT(p);
  return p;
}

static ir_loc loc_of(yaml_mark_t m) { return (ir_loc){(int)m.line + 1, (int)m.column + 1}; }

static fe_ast *new_ast(fe_kind kind, yaml_mark_t m) {
  fe_ast *a = xmalloc(sizeof *a);
  a->kind = kind;
  a->loc = loc_of(m);
  return a;
}

static fe_ast *empty_scalar(yaml_mark_t m) {
  fe_ast *a = new_ast(FE_SCALAR, m);
  a->text = xmalloc(1);
  return a;
}

void fe_ast_free(fe_ast *a) {
  if (!a) return;
  for (int i = 0; i < a->nitems; i++) {
    fe_ast_free(a->items[i]);
    if (a->keys) fe_ast_free(a->keys[i]);
  }
  free(a->items);
  free(a->keys);
  free((char *)a->text);
  free(a);
}

fe_ast *fe_map_get(const fe_ast *map, const char *key) {
  if (!map || map->kind != FE_MAP) return NULL;
  for (int i = 0; i < map->nitems; i++)
    if (strcmp(map->keys[i]->text, key) == 0) return map->items[i];
  return NULL;
}

static void error(parser *p, ir_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void error(parser *p, ir_loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir_verror(p->d, loc, false, fmt, ap);
  va_end(ap);
  p->errors++;
}

/* appends item (and key, for a mapping) to the container of frame f */
static void append(frame *f, fe_ast *key, fe_ast *item) {
  fe_ast *c = f->node;
  if (c->nitems == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 4;
    c->items = realloc(c->items, sizeof(fe_ast *) * (size_t)f->cap);
    IR_ASSERT(c->items);
    if (c->kind == FE_MAP) {
      c->keys = realloc(c->keys, sizeof(fe_ast *) * (size_t)f->cap);
      IR_ASSERT(c->keys);
    }
  }
  if (c->kind == FE_MAP) c->keys[c->nitems] = key;
  c->items[c->nitems++] = item;
}

/* a node is complete: it becomes the root, a sequence item, a key or a value */
static void finish(parser *p, fe_ast *a) {
  if (p->depth == 0) {
    if (p->root) fe_ast_free(p->root);
    p->root = a;
    return;
  }
  frame *f = &p->stack[p->depth - 1];
  if (f->node->kind == FE_SEQ) {
    append(f, NULL, a);
    return;
  }
  if (!f->key && !f->drop_value) { /* a key */
    if (a->kind != FE_SCALAR) {
      error(p, a->loc, "mapping keys must be plain scalars");
      fe_ast_free(a);
      f->drop_value = true;
      return;
    }
    for (int i = 0; i < f->node->nitems; i++)
      if (strcmp(f->node->keys[i]->text, a->text) == 0) {
        error(p, a->loc, "duplicate key '%s'", a->text);
        fe_ast_free(a);
        f->drop_value = true;
        return;
      }
    f->key = a;
    return;
  }
  if (f->drop_value) { /* value of a rejected key */
    fe_ast_free(a);
    f->drop_value = false;
    return;
  }
  append(f, f->key, a);
  f->key = NULL;
}

static bool push(parser *p, fe_ast *a) {
  if (p->depth == MAX_DEPTH) {
    error(p, a->loc, "nesting deeper than %d levels", MAX_DEPTH);
    fe_ast_free(a);
    return false;
  }
  if (p->depth == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 16;
    p->stack = realloc(p->stack, sizeof(frame) * (size_t)p->cap);
    IR_ASSERT(p->stack);
  }
  p->stack[p->depth++] = (frame){a, 0, NULL, false};
  return true;
}

static void pop(parser *p) {
  frame *f = &p->stack[--p->depth];
  fe_ast_free(f->key); /* a key without a value: libyaml gives an empty scalar, so rare */
  finish(p, f->node);
}

/* libyaml's own error, at the position it names */
static void yaml_failure(parser *p, const yaml_parser_t *y, const char *src, size_t len) {
  const char *what = y->problem ? y->problem : "invalid YAML";
  ir_loc loc = loc_of(y->problem_mark);
  if (y->error == YAML_READER_ERROR) { /* bad encoding: libyaml gives a byte offset only */
    loc = (ir_loc){1, 1};
    for (size_t i = 0; i < y->problem_offset && i < len; i++) {
      if (src[i] == '\n')
        loc.line++, loc.col = 1;
      else
        loc.col++;
    }
  } else if (y->error == YAML_MEMORY_ERROR) {
    what = "out of memory";
  }
  error(p, loc, "%s", what);
}

static const char *STR_TAG = "tag:yaml.org,2002:str";

fe_ast *fe_parse_yaml(const char *src, size_t len, ir_diags *d) {
  parser p = {.d = d};
  yaml_parser_t y;
  IR_ASSERT(yaml_parser_initialize(&y));
  yaml_parser_set_input_string(&y, (const unsigned char *)src, len);
  int documents = 0;
  bool done = false;
  while (!done) {
    yaml_event_t e;
    if (!yaml_parser_parse(&y, &e)) {
      yaml_failure(&p, &y, src, len);
      break;
    }
    bool stop = false;
    switch (e.type) {
      case YAML_STREAM_END_EVENT:
        done = true;
        break;
      case YAML_DOCUMENT_START_EVENT:
        if (++documents > 1) {
          error(&p, loc_of(e.start_mark), "a model file holds one YAML document");
          stop = true;
        }
        break;
      case YAML_ALIAS_EVENT:
        error(&p, loc_of(e.start_mark), "YAML anchors and aliases are not supported");
        finish(&p, empty_scalar(e.start_mark)); /* a placeholder keeps the tree shaped */
        break;
      case YAML_SCALAR_EVENT: {
        if (e.data.scalar.anchor)
          error(&p, loc_of(e.start_mark), "YAML anchors and aliases are not supported");
        fe_ast *a = empty_scalar(e.start_mark);
        char *t = xmalloc(e.data.scalar.length + 1);
        memcpy(t, e.data.scalar.value, e.data.scalar.length);
        free((char *)a->text);
        a->text = t;
        a->quoted = e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                    (e.data.scalar.tag && strcmp((char *)e.data.scalar.tag, STR_TAG) == 0);
        finish(&p, a);
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        bool seq = e.type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *anchor =
            seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor;
        if (anchor) error(&p, loc_of(e.start_mark), "YAML anchors and aliases are not supported");
        stop = !push(&p, new_ast(seq ? FE_SEQ : FE_MAP, e.start_mark));
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        pop(&p);
        break;
      default:
        break;
    }
    yaml_event_delete(&e);
    if (stop) break;
  }
  yaml_parser_delete(&y);
  while (p.depth > 0) pop(&p); /* only after an error: close what is open */
  free(p.stack);
  bool empty = !p.root || (p.root->kind == FE_SCALAR && !p.root->quoted && !p.root->text[0]);
  if (!p.errors && empty) error(&p, (ir_loc){1, 1}, "empty document");
  if (p.errors) {
    fe_ast_free(p.root);
    return NULL;
  }
  return p.root;
}
