/*
 * attr.c: reading a node's attributes: YAML scalars as integers, numbers,
 * booleans, choices, dims and value references, each with the error a user
 * should see when it is missing or of the wrong type.
 *
 * Scalars follow the YAML 1.2 core schema (what PyYAML users write, minus the
 * YAML 1.1 surprises: `yes` is not a boolean, `010` is ten). A quoted scalar
 * is always a string.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

const fe_ast *fe_cur_node(const fe_ctx *L) { return L->defs[L->cur].node; }
const char *fe_cur_name(const fe_ctx *L) { return L->defs[L->cur].name; }
ir_loc fe_cur_loc(const fe_ctx *L) { return L->defs[L->cur].key->loc; }

bool fe_is_null(const fe_ast *a) {
  if (a->kind != FE_SCALAR || a->quoted) return false;
  const char *t = a->text;
  return !t[0] || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

bool fe_parse_int(const fe_ast *a, int64_t *out) {
  if (a->kind != FE_SCALAR || a->quoted) return false;
  const char *t = a->text;
  int base = 10;
  bool neg = false;
  if ((t[0] == '0') && (t[1] == 'x' || t[1] == 'o')) {
    base = t[1] == 'x' ? 16 : 8;
    t += 2;
  } else if (t[0] == '-' || t[0] == '+') {
    neg = t[0] == '-';
    t++;
  }
  if (!t[0]) return false;
  uint64_t v = 0;
  for (; *t; t++) {
    int digit;
    if (*t >= '0' && *t <= '9')
      digit = *t - '0';
    else if (*t >= 'a' && *t <= 'f')
      digit = *t - 'a' + 10;
    else if (*t >= 'A' && *t <= 'F')
      digit = *t - 'A' + 10;
    else
      return false;
    if (digit >= base) return false;
    if (v > ((uint64_t)INT64_MAX + 1 - (uint64_t)digit) / (uint64_t)base) return false;
    v = v * (uint64_t)base + (uint64_t)digit;
  }
  if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) return false;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_float_text(const char *t) {
  if (*t == '-' || *t == '+') t++;
  int digits = 0;
  while (*t >= '0' && *t <= '9') t++, digits++;
  if (*t == '.') {
    t++;
    while (*t >= '0' && *t <= '9') t++, digits++;
  }
  if (!digits) return false;
  if (*t == 'e' || *t == 'E') {
    t++;
    if (*t == '-' || *t == '+') t++;
    if (!(*t >= '0' && *t <= '9')) return false;
    while (*t >= '0' && *t <= '9') t++;
  }
  return *t == 0;
}

bool fe_parse_float(const fe_ast *a, double *out) {
  if (a->kind != FE_SCALAR || a->quoted) return false;
  const char *t = a->text;
  const char *inf = t[0] == '-' || t[0] == '+' ? t + 1 : t;
  if (!strcmp(inf, ".inf") || !strcmp(inf, ".Inf") || !strcmp(inf, ".INF")) {
    *out = t[0] == '-' ? -INFINITY : INFINITY;
    return true;
  }
  if (!strcmp(t, ".nan") || !strcmp(t, ".NaN") || !strcmp(t, ".NAN")) {
    *out = NAN;
    return true;
  }
  if (!is_float_text(t)) return false;
  *out = strtod(t, NULL);
  return true;
}

bool fe_parse_bool(const fe_ast *a, bool *out) {
  if (a->kind != FE_SCALAR || a->quoted) return false;
  const char *t = a->text;
  if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE")) return *out = true, true;
  if (!strcmp(t, "false") || !strcmp(t, "False") || !strcmp(t, "FALSE")) return *out = false, true;
  return false;
}

const fe_ast *fe_attr(const fe_ctx *L, const char *key) {
  const fe_ast *a = fe_map_get(fe_cur_node(L), key);
  return a && !fe_is_null(a) ? a : NULL;
}

/* the attribute, or NULL with *ok false after reporting that a required one is missing */
static const fe_ast *get(fe_ctx *L, const char *key, bool required, bool *ok) {
  const fe_ast *a = fe_attr(L, key);
  *ok = a || !required;
  if (!a && required)
    ir_error(L->d, fe_cur_loc(L), "missing attribute '%s' for op '%s'", key, L->op);
  return a;
}

static bool bad(fe_ctx *L, const fe_ast *a, const char *key, const char *what) {
  ir_error(L->d, a->loc, "attribute '%s' of '%s' must be %s", key, fe_cur_name(L), what);
  return false;
}

bool fe_int(fe_ctx *L, const char *key, fe_int_rule rule, const int64_t *def, int64_t *out) {
  bool ok;
  const fe_ast *a = get(L, key, !def, &ok);
  if (!a) {
    if (ok) *out = *def;
    return ok;
  }
  static const char *const what[] = {"an integer", "a non-negative integer", "a positive integer",
                                     "a layer count from 1 to 256"};
  _Static_assert(FE_MAX_LAYERS == 256, "the message names the bound");
  int64_t v;
  if (!fe_parse_int(a, &v) || (rule == FE_NONNEG && v < 0) ||
      ((rule == FE_POSITIVE || rule == FE_LAYERS) && v <= 0) ||
      (rule == FE_LAYERS && v > FE_MAX_LAYERS))
    return bad(L, a, key, what[rule]);
  *out = v;
  return true;
}

bool fe_float(fe_ctx *L, const char *key, const double *def, double *out) {
  bool ok;
  const fe_ast *a = get(L, key, !def, &ok);
  if (!a) {
    if (ok) *out = *def;
    return ok;
  }
  double v;
  if (!fe_parse_float(a, &v) || !isfinite(v)) return bad(L, a, key, "a number");
  *out = v;
  return true;
}

bool fe_bool(fe_ctx *L, const char *key, const bool *def, bool *out) {
  bool ok;
  const fe_ast *a = get(L, key, !def, &ok);
  if (!a) {
    if (ok) *out = *def;
    return ok;
  }
  if (!fe_parse_bool(a, out)) return bad(L, a, key, "true or false");
  return true;
}

bool fe_choice(fe_ctx *L, const char *key, const char *const *choices, int def, int *out) {
  bool ok;
  const fe_ast *a = get(L, key, def < 0, &ok);
  if (!a) {
    if (ok) *out = def;
    return ok;
  }
  for (int i = 0; choices[i]; i++)
    if (a->kind == FE_SCALAR && !strcmp(a->text, choices[i])) {
      *out = i;
      return true;
    }
  char list[256] = "";
  for (int i = 0; choices[i]; i++) {
    size_t n = strlen(list);
    snprintf(list + n, sizeof list - n, "%s%s", i ? (choices[i + 1] ? ", " : " or ") : "",
             choices[i]);
  }
  return bad(L, a, key, list);
}

bool fe_dim_attr(fe_ctx *L, const char *key, const ir_type *t, const int64_t *def, int64_t *out) {
  bool ok;
  const fe_ast *a = get(L, key, !def, &ok);
  int64_t v;
  if (!a) {
    if (!ok) return false;
    v = *def;
  } else if (!fe_parse_int(a, &v)) {
    return bad(L, a, key, "an integer");
  }
  if (v < -t->rank || v >= t->rank) {
    char buf[256];
    ir_error(L->d, a ? a->loc : fe_cur_loc(L),
             "attribute '%s' of '%s': dim %lld is out of range for %s", key, fe_cur_name(L),
             (long long)v, ir_type_str(L->g, t, buf, sizeof buf));
    return false;
  }
  *out = v < 0 ? v + t->rank : v;
  return true;
}

int fe_value_attr(fe_ctx *L, const char *key) {
  bool ok;
  const fe_ast *a = get(L, key, true, &ok);
  if (!a) return -1;
  if (a->kind != FE_SCALAR) return bad(L, a, key, "a value name"), -1;
  return fe_resolve(L, a);
}

int fe_values_attr(fe_ctx *L, const char *key, int min, int max, bool numbers, int **values) {
  bool ok;
  const fe_ast *a = get(L, key, true, &ok);
  if (!a) return -1;
  if (a->kind != FE_SEQ) return bad(L, a, key, "a list of value names"), -1;
  if (a->nitems < min || (max >= 0 && a->nitems > max)) {
    char what[64];
    if (min == max)
      snprintf(what, sizeof what, "a list of %d values", min);
    else
      snprintf(what, sizeof what, "a list of at least %d value%s", min, min == 1 ? "" : "s");
    return bad(L, a, key, what), -1;
  }
  int *out = *values = ir_alloc(L->g, sizeof(int) * (size_t)a->nitems);
  bool failed = false;
  for (int i = 0; i < a->nitems; i++) {
    const fe_ast *item = a->items[i];
    double num;
    if (numbers && fe_parse_float(item, &num)) {
      if (!(fabs(num) <= FLT_MAX)) { /* also NaN */
        ir_error(L->d, item->loc, "attribute '%s' of '%s': %s is not a finite f32 number", key,
                 fe_cur_name(L), item->text);
        failed = true;
        continue;
      }
      float f = (float)num;
      out[i] = ir_add_const(L->g, (ir_type){.dtype = IR_F32, .rank = 0}, &f, item->loc);
    } else if (item->kind != FE_SCALAR) {
      failed = true;
      bad(L, item, key, numbers ? "a list of value names and numbers" : "a list of value names");
    } else if ((out[i] = fe_resolve(L, item)) < 0) {
      failed = true;
    }
  }
  return failed ? -1 : a->nitems;
}
