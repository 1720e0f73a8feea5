/*
 * object.c: ahead-of-time compilation. An object holds the very module the JIT runs (cg_module_build), its
 * entry points made internal, and the seqrt_model_desc of desc.c rebuilt as
 * constant LLVM globals under one exported symbol, so that linking several
 * models into one program cannot clash. With embedded parameters the
 * descriptor also points at their bytes (64-byte aligned, read-only).
 * With a cache directory an object (without embedded parameters) comes from
 * the compile cache when it holds the module's key (cache.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "cg_internal.h"

/* ---- the descriptor as globals ---- */

/* the LLVM types of seqrt.h's structs; the target's data layout pads them as C does */
typedef struct desc_types {
  LLVMContextRef llvm;  /* context */
  LLVMModuleRef mod;    /* module receiving the globals */
  const char *prefix;   /* names of private globals start with it */
  int counter;          /* makes those names unique */
  LLVMTypeRef i32, i64; /* scalars */
  LLVMTypeRef ptr;      /* opaque pointer */
  LLVMTypeRef dim;      /* seqrt_dim */
  LLVMTypeRef buffer;   /* seqrt_buffer_desc */
  LLVMTypeRef tensor;   /* seqrt_tensor */
  LLVMTypeRef embedded; /* seqrt_embedded_param */
  LLVMTypeRef symdef;   /* seqrt_sym_def */
  LLVMTypeRef desc;     /* seqrt_model_desc */
} desc_types;

static void init_types(desc_types *t, LLVMContextRef llvm, LLVMModuleRef mod, const char *prefix) {
  t->llvm = llvm;
  t->mod = mod;
  t->prefix = prefix;
  t->counter = 0;
  t->i32 = LLVMInt32TypeInContext(llvm);
  t->i64 = LLVMInt64TypeInContext(llvm);
  t->ptr = LLVMPointerTypeInContext(llvm, 0);
  LLVMTypeRef dim[] = {t->i64, LLVMArrayType2(t->i32, 2)};
  t->dim = LLVMStructTypeInContext(llvm, dim, 2, 0);
  LLVMTypeRef buf[] = {t->ptr, t->i32, t->i32, t->i32, LLVMArrayType2(t->dim, SEQRT_MAX_RANK),
                       t->i32, t->i32, t->i32};
  t->buffer = LLVMStructTypeInContext(llvm, buf, 8, 0);
  LLVMTypeRef ten[] = {t->i32, t->i32, LLVMArrayType2(t->i64, SEQRT_MAX_RANK), t->ptr};
  t->tensor = LLVMStructTypeInContext(llvm, ten, 4, 0);
  LLVMTypeRef emb[] = {t->ptr, t->tensor};
  t->embedded = LLVMStructTypeInContext(llvm, emb, 2, 0);
  LLVMTypeRef def[] = {t->ptr, t->ptr, t->i32, LLVMArrayType2(t->dim, SEQRT_SYM_TERMS),
                       t->i64, t->i64};
  t->symdef = LLVMStructTypeInContext(llvm, def, 6, 0);
  LLVMTypeRef d[] = {t->i32, t->ptr, t->i32, t->ptr, t->ptr, t->ptr, t->i32, t->ptr, t->i32, t->ptr,
                     t->i32, t->ptr, t->ptr, t->ptr, t->ptr, t->i32, t->ptr, t->i32, t->ptr,
                     t->i32, t->i32, t->ptr, t->i32, t->ptr};
  t->desc = LLVMStructTypeInContext(llvm, d, 24, 0);
}

static LLVMValueRef i32c(desc_types *t, int64_t v) { return LLVMConstInt(t->i32, (uint64_t)v, 1); }
static LLVMValueRef i64c(desc_types *t, int64_t v) { return LLVMConstInt(t->i64, (uint64_t)v, 1); }

/* a private constant global holding init; returns its address */
static LLVMValueRef private_global(desc_types *t, LLVMValueRef init, unsigned align) {
  char name[160];
  snprintf(name, sizeof name, "%s.%d", t->prefix, t->counter++);
  LLVMValueRef gv = LLVMAddGlobal(t->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
  if (align) LLVMSetAlignment(gv, align);
  return gv;
}

static LLVMValueRef str(desc_types *t, const char *s) {
  if (!s) return LLVMConstNull(t->ptr);
  return private_global(t, LLVMConstStringInContext2(t->llvm, s, strlen(s), 0), 1);
}

/* a global array of n elements of type ty, or a null pointer when n is 0 */
static LLVMValueRef array(desc_types *t, LLVMTypeRef ty, LLVMValueRef *elems, int n) {
  if (n == 0) return LLVMConstNull(t->ptr);
  return private_global(t, LLVMConstArray2(ty, elems, (uint64_t)n), 0);
}

static LLVMValueRef i32_array(desc_types *t, const int32_t *v, int n) {
  LLVMValueRef *e = calloc((size_t)n + 1, sizeof *e);
  IR_ASSERT(e);
  for (int i = 0; i < n; i++) e[i] = i32c(t, v[i]);
  LLVMValueRef r = array(t, t->i32, e, n);
  free(e);
  return r;
}

static LLVMValueRef i64_array(desc_types *t, const int64_t *v, int n) {
  LLVMValueRef *e = calloc((size_t)n + 1, sizeof *e);
  IR_ASSERT(e);
  for (int i = 0; i < n; i++) e[i] = i64c(t, v[i]);
  LLVMValueRef r = array(t, t->i64, e, n);
  free(e);
  return r;
}

static LLVMValueRef str_array(desc_types *t, const char *const *v, int n) {
  LLVMValueRef *e = calloc((size_t)n + 1, sizeof *e);
  IR_ASSERT(e);
  for (int i = 0; i < n; i++) e[i] = str(t, v[i]);
  LLVMValueRef r = array(t, t->ptr, e, n);
  free(e);
  return r;
}

static LLVMValueRef dim_const(desc_types *t, seqrt_dim d) {
  LLVMValueRef syms[] = {i32c(t, d.sym[0]), i32c(t, d.sym[1])};
  LLVMValueRef f[] = {i64c(t, d.coef), LLVMConstArray2(t->i32, syms, 2)};
  return LLVMConstNamedStruct(t->dim, f, 2);
}

static LLVMValueRef buffer_const(desc_types *t, const seqrt_buffer_desc *b) {
  LLVMValueRef dims[SEQRT_MAX_RANK];
  for (int k = 0; k < SEQRT_MAX_RANK; k++)
    dims[k] = dim_const(t, k < b->rank ? b->shape[k] : (seqrt_dim){0, {-1, -1}});
  LLVMValueRef f[] = {str(t, b->name),
                      i32c(t, b->dtype),
                      i32c(t, b->role),
                      i32c(t, b->rank),
                      LLVMConstArray2(t->dim, dims, SEQRT_MAX_RANK),
                      i32c(t, b->first),
                      i32c(t, b->last),
                      i32c(t, b->alias)};
  return LLVMConstNamedStruct(t->buffer, f, 8);
}

static LLVMValueRef symdef_const(desc_types *t, const seqrt_sym_def *s) {
  LLVMValueRef terms[SEQRT_SYM_TERMS];
  for (int k = 0; k < SEQRT_SYM_TERMS; k++)
    terms[k] = dim_const(t, k < s->nterms ? s->terms[k] : (seqrt_dim){0, {-1, -1}});
  LLVMValueRef f[] = {str(t, s->name), str(t, s->what), i32c(t, s->nterms),
                      LLVMConstArray2(t->dim, terms, SEQRT_SYM_TERMS), i64c(t, s->den),
                      i64c(t, s->min)};
  return LLVMConstNamedStruct(t->symdef, f, 6);
}

static LLVMValueRef embedded_const(desc_types *t, const seqrt_embedded_param *p) {
  const seqrt_tensor *x = &p->tensor;
  LLVMValueRef shape[SEQRT_MAX_RANK];
  for (int k = 0; k < SEQRT_MAX_RANK; k++) shape[k] = i64c(t, k < x->rank ? x->shape[k] : 0);
  size_t bytes = (size_t)seqrt_tensor_numel(x) * seqrt_dtype_size(x->dtype);
  /* at least one byte, so every parameter has its own address */
  LLVMValueRef data = bytes ? LLVMConstStringInContext2(t->llvm, x->data, bytes, 1)
                            : LLVMConstStringInContext2(t->llvm, "", 1, 1);
  LLVMValueRef ten[] = {i32c(t, x->dtype), i32c(t, x->rank),
                        LLVMConstArray2(t->i64, shape, SEQRT_MAX_RANK),
                        private_global(t, data, 64)};
  LLVMValueRef f[] = {str(t, p->name), LLVMConstNamedStruct(t->tensor, ten, 4)};
  return LLVMConstNamedStruct(t->embedded, f, 2);
}

/* adds the descriptor global `oo->symbol` for d, pointing at run and prepare */
static void add_descriptor(desc_types *t, const seqrt_model_desc *d, LLVMValueRef run,
                           LLVMValueRef prepare, const cg_object_options *oo) {
  LLVMValueRef *bufs = calloc((size_t)d->nbufs + 1, sizeof *bufs);
  LLVMValueRef *emb = calloc((size_t)oo->nparams + 1, sizeof *emb);
  LLVMValueRef *defs = calloc((size_t)d->nderived + 1, sizeof *defs);
  IR_ASSERT(bufs && emb && defs);
  for (int i = 0; i < d->nderived; i++) defs[i] = symdef_const(t, &d->derived[i]);
  for (int i = 0; i < d->nbufs; i++) bufs[i] = buffer_const(t, &d->bufs[i]);
  for (int i = 0; i < oo->nparams; i++) emb[i] = embedded_const(t, &oo->params[i]);
  LLVMValueRef f[] = {
      i32c(t, d->abi_version),
      str(t, d->name),
      i32c(t, d->nsyms),
      str_array(t, d->sym_names, d->nsyms),
      i64_array(t, d->sym_defaults, d->nsyms),
      i64_array(t, d->sym_bound, d->nsyms),
      i32c(t, d->nbufs),
      array(t, t->buffer, bufs, d->nbufs),
      i32c(t, d->ninputs),
      i32_array(t, d->inputs, d->ninputs),
      i32c(t, d->noutputs),
      i32_array(t, d->outputs, d->noutputs),
      str_array(t, d->output_names, d->noutputs),
      prepare ? prepare : LLVMConstNull(t->ptr),
      run,
      i32c(t, oo->nparams),
      array(t, t->embedded, emb, oo->nparams),
      i32c(t, d->nderived),
      array(t, t->symdef, defs, d->nderived),
      i32c(t, d->position_sym),
      i32c(t, d->streaming),
      i32_array(t, d->input_static, d->ninputs),
      i32c(t, d->nignored),
      str_array(t, d->ignored, d->nignored),
  };
  LLVMValueRef gv = LLVMAddGlobal(t->mod, t->desc, oo->symbol);
  LLVMSetInitializer(gv, LLVMConstNamedStruct(t->desc, f, 24));
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetAlignment(gv, 8);
  if (oo->alias) LLVMAddAlias2(t->mod, t->desc, 0, gv, oo->alias);
  free(bufs);
  free(emb);
  free(defs);
}

/* renames entry `name` to SYMBOL.name and hides it: only the descriptor reaches it */
static LLVMValueRef hide_entry(LLVMModuleRef mod, const char *symbol, const char *name) {
  LLVMValueRef fn = LLVMGetNamedFunction(mod, name);
  if (!fn) return NULL;
  char full[256];
  snprintf(full, sizeof full, "%s.%s", symbol, name);
  LLVMSetValueName2(fn, full, strlen(full));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  return fn;
}

/* writes len bytes to path; false with err set */
static bool write_file(const char *path, const void *data, size_t len, seqrt_error *err) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, len, f) == len;
  if (f && fclose(f)) ok = false;
  if (!ok) snprintf(err->msg, sizeof err->msg, "%s: cannot write: %s", path, strerror(errno));
  return ok;
}

/* an object through the cache: the entry's bytes when it holds mod's key,
 * else mod optimized and compiled, written to path and stored */
static bool cached_object(LLVMModuleRef mod, LLVMTargetMachineRef tm, int level,
                          const cg_options *opt, const char *path, cg_stats *st,
                          seqrt_error *err) {
  uint8_t key[CG_HASH_BYTES];
  double t = cg_now_ms();
  st->cache_used = true;
  cg_cache_key(mod, tm, level, "obj", key);
  void *bytes;
  size_t len;
  st->cache_hit = cg_cache_load(opt->cache_dir, key, &bytes, &len);
  st->cache_ms = cg_now_ms() - t;
  if (st->cache_hit) {
    bool ok = write_file(path, bytes, len, err);
    free(bytes);
    return ok;
  }
  LLVMMemoryBufferRef obj = cg_module_emit(mod, tm, level, st, err);
  if (!obj) return false;
  bool ok = write_file(path, LLVMGetBufferStart(obj), LLVMGetBufferSize(obj), err);
  if (ok) {
    t = cg_now_ms();
    cg_cache_store(opt->cache_dir, opt->cache_max_bytes, key, LLVMGetBufferStart(obj),
                   LLVMGetBufferSize(obj), st->cache_note, sizeof st->cache_note);
    st->cache_ms += cg_now_ms() - t;
  }
  LLVMDisposeMemoryBuffer(obj);
  return ok;
}

int cg_object_write(const ir_graph *g, const cg_options *opt, const cg_object_options *oo,
                    const char *path, seqrt_error *err) {
  err->msg[0] = 0;
  cg_stats scratch, *st = oo->stats ? oo->stats : &scratch;
  memset(st, 0, sizeof *st);
  int level = opt ? opt->opt_level : 3;
  if (level < 0) level = 0;
  if (level > 3) level = 3;
  int vw = 4;
  LLVMTargetMachineRef tm = cg_target_machine(opt, level, true, &vw, err);
  if (!tm) return 1;
  double since = cg_now_ms();
  LLVMContextRef llvm = LLVMContextCreate();
  int status = 1;
  /* an object defines its own GEMMs: a program links only the runtime */
  cg_options own = opt ? *opt : (cg_options){.opt_level = 3};
  own.gemm_library = false;
  LLVMModuleRef mod = cg_module_build(g, &own, vw, llvm, err);
  if (!mod) goto done;
  LLVMValueRef run = hide_entry(mod, oo->symbol, "run");
  LLVMValueRef prepare = hide_entry(mod, oo->symbol, "prepare");
  IR_ASSERT(run);
  seqrt_model_desc *d = cg_desc_new(g, opt ? opt->bind_syms : NULL);
  desc_types t;
  init_types(&t, llvm, mod, oo->symbol);
  add_descriptor(&t, d, run, prepare, oo);
  cg_desc_free(d);
  st->ir_ms = cg_now_ms() - since;
  st->kernels = cg_module_kernels(mod);
  /* embedded parameters would make entries as large as the weights: not cached */
  if (oo->kind == CG_EMIT_OBJ && opt && opt->cache_dir && oo->nparams == 0) {
    status = cached_object(mod, tm, level, opt, path, st, err) ? 0 : 1;
    goto done;
  }
  since = cg_now_ms();
  if (!cg_module_optimize(mod, tm, level, err)) goto done;
  st->optimize_ms = cg_now_ms() - since;
  since = cg_now_ms();
  char *msg = NULL;
  bool failed;
  if (oo->kind == CG_EMIT_LLVM)
    failed = LLVMPrintModuleToFile(mod, path, &msg);
  else
    failed = LLVMTargetMachineEmitToFile(
        tm, mod, path, oo->kind == CG_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile, &msg);
  st->machine_ms = cg_now_ms() - since;
  if (failed) {
    snprintf(err->msg, sizeof err->msg, "%s: cannot write: %s", path, msg ? msg : "?");
  } else {
    status = 0;
  }
  LLVMDisposeMessage(msg);
done:
  if (mod) LLVMDisposeModule(mod);
  LLVMContextDispose(llvm);
  LLVMDisposeTargetMachine(tm);
  return status;
}
