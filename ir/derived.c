/*
 * derived.c: derived symbols, dims such as (T-3)/2 or T/4 that follow from
 * the base symbols by floor((sum of monomials) / den).
 *
 * A conv1d with a stride or a segment scan's emit has a length that is no
 * product of symbols; rather than refuse it, ir_dim_floordiv names it by a
 * symbol of its own. Definitions are canonical and hash-consed, so the same
 * length reached two ways (a stride-2 conv's floor((T-2)/2)+1 and a chunk-2
 * scan's T/2) is one symbol and the dims compare equal. Their values come
 * from the base ones (ir_syms_complete), at compile time when the dims are
 * bound and in the runtime's session otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* a sum being canonicalized: symbolic monomials plus a constant */
typedef struct sum {
  ir_dim t[4 * IR_SYM_TERMS]; /* monomials with at least one symbol, nonzero coef */
  int n;                      /* length of t */
  int64_t c;                  /* the constant term */
  bool overflow;              /* a coefficient left int64 */
} sum;

static const ir_graph *root_of(const ir_graph *g) {
  while (g->parent) g = g->parent;
  return g;
}

int64_t ir_floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t gcd(int64_t a, int64_t b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

int ir_syms_count(const ir_graph *g) {
  g = root_of(g);
  return g->nsyms + g->nderived;
}

static bool is_derived(const ir_graph *r, int s) {
  return s >= r->nsyms && s < r->nsyms + r->nderived;
}

/* symbols sorted, -1 last */
static ir_dim sorted(ir_dim d) {
  if (d.sym[0] < 0 || (d.sym[1] >= 0 && d.sym[1] < d.sym[0])) {
    int8_t t = d.sym[0];
    d.sym[0] = d.sym[1];
    d.sym[1] = t;
  }
  return d;
}

/* adds coef * (the symbols of m) to s, merging with a like term */
static void add_term(sum *s, int64_t coef, ir_dim m) {
  if (coef == 0) return;
  if (m.sym[0] < 0 && m.sym[1] < 0) {
    if (__builtin_add_overflow(s->c, coef, &s->c)) s->overflow = true;
    return;
  }
  m = sorted(m);
  for (int i = 0; i < s->n; i++)
    if (s->t[i].sym[0] == m.sym[0] && s->t[i].sym[1] == m.sym[1]) {
      if (__builtin_add_overflow(s->t[i].coef, coef, &s->t[i].coef)) s->overflow = true;
      return;
    }
  if (s->n == (int)(sizeof s->t / sizeof s->t[0])) {
    s->overflow = true; /* more terms than any definition holds */
    return;
  }
  m.coef = coef;
  s->t[s->n++] = m;
}

static void drop_zeros(sum *s) {
  int k = 0;
  for (int i = 0; i < s->n; i++)
    if (s->t[i].coef != 0) s->t[k++] = s->t[i];
  s->n = k;
}

static int64_t mul(sum *s, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) s->overflow = true;
  return r;
}

/* the sole symbol of monomial m if it is a derived one, else -1 */
static int sole_derived(const ir_graph *r, ir_dim m) {
  return m.sym[1] < 0 && m.sym[0] >= 0 && is_derived(r, m.sym[0]) ? m.sym[0] : -1;
}

/* derived symbols with den 1 (plain sums) are replaced by their terms */
static void expand_sums(const ir_graph *r, sum *s) {
  for (bool again = true; again && !s->overflow;) {
    again = false;
    for (int i = 0; i < s->n; i++) {
      int d = sole_derived(r, s->t[i]);
      if (d < 0 || r->syms[d].den != 1) continue;
      int64_t coef = s->t[i].coef;
      s->t[i] = s->t[--s->n];
      for (int k = 0; k < r->syms[d].nterms; k++)
        add_term(s, mul(s, coef, r->syms[d].terms[k].coef), r->syms[d].terms[k]);
      drop_zeros(s);
      again = true;
      break;
    }
  }
}

/*
 * floor((floor(x/a) + b) / den) = floor((x + a*b) / (a*den)) for integers x,
 * b and positive a, den: a derived term of coef 1 is folded into the
 * definition when the result still fits in IR_SYM_TERMS terms.
 */
static void expand_floor(const ir_graph *r, sum *s, int64_t *den) {
  for (int i = 0; i < s->n; i++) {
    int d = sole_derived(r, s->t[i]);
    if (d < 0 || s->t[i].coef != 1) continue;
    const ir_symbol *D = &r->syms[d];
    sum e = {.n = 0};
    for (int k = 0; k < s->n; k++)
      if (k != i) add_term(&e, mul(&e, s->t[k].coef, D->den), s->t[k]);
    add_term(&e, mul(&e, s->c, D->den), ir_dim_const(1));
    for (int k = 0; k < D->nterms; k++) add_term(&e, D->terms[k].coef, D->terms[k]);
    drop_zeros(&e);
    int64_t den2 = mul(&e, *den, D->den);
    if (e.overflow || e.n + (e.c != 0) > IR_SYM_TERMS) continue;
    *s = e;
    *den = den2;
    return;
  }
}

static int cmp_term(const void *pa, const void *pb) {
  const ir_dim *a = pa, *b = pb;
  /* by symbols, the constant (no symbol, -1) last */
  for (int j = 0; j < IR_DIM_SYMS; j++) {
    int x = a->sym[j] < 0 ? 127 : a->sym[j], y = b->sym[j] < 0 ? 127 : b->sym[j];
    if (x != y) return x - y;
  }
  return 0;
}

/* appends to buf at *k */
static void put(char *buf, size_t size, size_t *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t size, size_t *k, const char *fmt, ...) {
  if (*k >= size) return;
  va_list ap;
  va_start(ap, fmt);
  *k += (size_t)vsnprintf(buf + *k, size - *k, fmt, ap);
  va_end(ap);
}

/* symbol s as a factor: a derived symbol's expression in parentheses */
static void put_factor(const ir_graph *r, int s, char *buf, size_t size, size_t *k) {
  if (is_derived(r, s)) {
    put(buf, size, k, "(");
    put(buf, size, k, "%s", r->syms[s].name);
    put(buf, size, k, ")");
  } else if (s >= 0 && s < r->nsyms) {
    put(buf, size, k, "%s", r->syms[s].name);
  } else {
    put(buf, size, k, "$%d", s); /* unknown symbol */
  }
}

/* monomial m with its sign (lead: no "+" before a positive first term) */
static void put_monomial(const ir_graph *r, ir_dim m, bool lead, char *buf, size_t size,
                         size_t *k) {
  int64_t c = m.coef;
  if (m.sym[0] < 0) {
    put(buf, size, k, lead ? "%lld" : "%+lld", (long long)c);
    return;
  }
  if (c < 0) put(buf, size, k, "-");
  else if (!lead) put(buf, size, k, "+");
  if (c != 1 && c != -1) put(buf, size, k, "%lld*", (long long)(c < 0 ? -c : c));
  put_factor(r, m.sym[0], buf, size, k);
  if (m.sym[1] >= 0) {
    put(buf, size, k, "*");
    put_factor(r, m.sym[1], buf, size, k);
  }
}

/* "T-1", "(T+1)/2", "T/4", "(2*T)/3" */
static void def_name(const ir_graph *r, const ir_dim *t, int n, int64_t den, char *buf,
                     size_t size) {
  size_t k = 0;
  buf[0] = '\0';
  bool plain = n == 1 && t[0].coef == 1 && t[0].sym[1] < 0 && !is_derived(r, t[0].sym[0]);
  bool paren = den > 1 && !plain;
  if (paren) put(buf, size, &k, "(");
  for (int i = 0; i < n; i++) put_monomial(r, t[i], i == 0, buf, size, &k);
  if (paren) put(buf, size, &k, ")");
  if (den > 1) put(buf, size, &k, "/%lld", (long long)den);
}

bool ir_dim_floordiv(ir_graph *g, const ir_dim *terms, int nterms, int64_t den, int64_t min,
                     const char *what, ir_loc loc, ir_dim *out) {
  IR_ASSERT(den >= 1 && nterms >= 0);
  while (g->parent) g = g->parent;
  sum s = {.n = 0};
  for (int i = 0; i < nterms; i++) add_term(&s, terms[i].coef, terms[i]);
  drop_zeros(&s);
  expand_sums(g, &s);
  expand_floor(g, &s, &den);
  if (s.overflow) return false;
  /* floor((g*S + c) / (g*d)) = floor((S + floor(c/g)) / d) */
  int64_t f = den;
  for (int i = 0; i < s.n; i++) f = gcd(f, s.t[i].coef);
  for (int i = 0; i < s.n; i++) s.t[i].coef /= f;
  s.c = ir_floordiv(s.c, f);
  den /= f;
  if (s.n == 0) {
    *out = ir_dim_const(ir_floordiv(s.c, den));
    return true;
  }
  if (s.n == 1 && s.c == 0 && den == 1 && s.t[0].coef > 0) {
    *out = s.t[0];
    return true;
  }
  if (s.n + (s.c != 0) > IR_SYM_TERMS) return false;
  if (s.c != 0) s.t[s.n++] = ir_dim_const(s.c);
  qsort(s.t, (size_t)s.n, sizeof s.t[0], cmp_term);
  int total = g->nsyms + g->nderived;
  for (int i = g->nsyms; i < total; i++) {
    ir_symbol *d = &g->syms[i];
    if (d->den != den || d->nterms != s.n) continue;
    int k = 0;
    while (k < s.n && ir_dim_eq(d->terms[k], s.t[k]) && d->terms[k].coef == s.t[k].coef) k++;
    if (k < s.n) continue;
    if (min > d->min) {
      d->min = min;
      d->what = ir_strdup(g, what);
      d->loc = loc;
    }
    *out = ir_dim_sym(i);
    return true;
  }
  if (total == IR_MAX_SYMS) return false;
  char name[128];
  def_name(g, s.t, s.n, den, name, sizeof name);
  ir_symbol *d = &g->syms[total];
  *d = (ir_symbol){.name = ir_strdup(g, name), .loc = loc, .nterms = s.n, .den = den,
                   .min = min, .what = ir_strdup(g, what)};
  memcpy(d->terms, s.t, sizeof(ir_dim) * (size_t)s.n);
  g->nderived++;
  *out = ir_dim_sym(total);
  return true;
}

/* whether symbol s has a value: every base symbol it depends on has one */
static bool has_value(const ir_graph *r, int s, const int64_t *syms) {
  if (!is_derived(r, s)) return syms[s] >= 0;
  const ir_symbol *d = &r->syms[s];
  for (int k = 0; k < d->nterms; k++)
    for (int j = 0; j < IR_DIM_SYMS; j++)
      if (d->terms[k].sym[j] >= 0 && !has_value(r, d->terms[k].sym[j], syms)) return false;
  return true;
}

void ir_syms_complete(const ir_graph *g, int64_t *syms) {
  g = root_of(g);
  for (int i = g->nsyms; i < g->nsyms + g->nderived; i++) {
    const ir_symbol *d = &g->syms[i];
    int64_t v = 0;
    bool ok = has_value(g, i, syms);
    for (int k = 0; k < d->nterms && ok; k++) {
      int64_t m = d->terms[k].coef;
      for (int j = 0; j < IR_DIM_SYMS; j++)
        if (d->terms[k].sym[j] >= 0 && __builtin_mul_overflow(m, syms[d->terms[k].sym[j]], &m))
          ok = false;
      if (ok && __builtin_add_overflow(v, m, &v)) ok = false;
    }
    syms[i] = ok ? ir_floordiv(v, d->den) : -1;
  }
}

bool ir_sym_too_small(const ir_graph *g, int s, const int64_t *syms) {
  g = root_of(g);
  return is_derived(g, s) && has_value(g, s, syms) && syms[s] < g->syms[s].min;
}

/* marks in used[] the base symbols s depends on */
static void base_deps(const ir_graph *r, int s, bool *used) {
  if (!is_derived(r, s)) {
    if (s >= 0 && s < r->nsyms) used[s] = true;
    return;
  }
  const ir_symbol *d = &r->syms[s];
  for (int k = 0; k < d->nterms; k++)
    for (int j = 0; j < IR_DIM_SYMS; j++)
      if (d->terms[k].sym[j] >= 0) base_deps(r, d->terms[k].sym[j], used);
}

const char *ir_sym_inputs_str(const ir_graph *g, int s, const int64_t *syms, char *buf,
                              size_t size) {
  g = root_of(g);
  bool used[IR_MAX_SYMS] = {0};
  base_deps(g, s, used);
  size_t k = 0;
  if (size) buf[0] = '\0';
  for (int i = 0; i < g->nsyms && k < size; i++)
    if (used[i])
      k += (size_t)snprintf(buf + k, size - k, "%s%s = %lld", k ? ", " : "", g->syms[i].name,
                            (long long)syms[i]);
  return buf;
}
