/*
 * embedded.c: parameters compiled into an object (`seqc compile
 * --embed-weights`). The descriptor lists them; a new session binds each one
 * by name with the same dtype and shape checks as a weights file, so a
 * program that links such an object needs no file at all.
 */
#include "rt.h"

int rt_bind_embedded(seqrt_session *s, seqrt_error *err) {
  const seqrt_model_desc *d = s->desc;
  if (d->nembedded < 0 || (d->nembedded > 0 && !d->embedded)) {
    rt_errorf(err, "model '%s': invalid descriptor (embedded parameters)", d->name ? d->name : "?");
    return 1;
  }
  for (int i = 0; i < d->nembedded; i++) {
    const seqrt_embedded_param *p = &d->embedded[i];
    if (!p->name) {
      rt_errorf(err, "model '%s': embedded parameter %d has no name", d->name ? d->name : "?", i);
      return 1;
    }
    if (seqrt_session_set_param(s, p->name, &p->tensor, err)) return 1;
  }
  return 0;
}
