#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "dnnl_shim.h"

// prim is one primitive with its own scratchpad (user mode, so oneDNN
// allocates nothing per call).
typedef struct {
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t p;
	dnnl_memory_t scratch;
} prim;

// reorder converts between the user layout and a primitive's preferred
// one; buf is NULL when no conversion is needed.
typedef struct {
	dnnl_primitive_t p;
	dnnl_memory_t buf;
} reorder;

struct sr_conv {
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	dnnl_memory_desc_t src_md, wt_md, dst_md; // user layouts: nhwc, oihw, nhwc
	dnnl_memory_t src, wt, dst;               // user memories; handles set per call
	prim fwd, bwd_d, bwd_w;
	reorder fwd_w, bwd_d_w, bwd_w_dw;         // oihw->fwd, oihw->bwd_d, bwd_w->oihw
	// bf16: the convolutions read bf16 copies of x and dy (reorders into
	// buffers of their own) and write fp32 y, dx and dw. x16_of is the x
	// whose copy x16 holds (forward makes it, backward weights reuses it);
	// dy16_of likewise for dy, valid only until the next forward, so the
	// backward passes of one step share one conversion.
	int bf16;
	reorder x16, dy16;
	const void *x16_of, *dy16_of;
	// dy16u is a caller's bf16 dy (nhwc, as dy16 holds it), handle set per
	// call: a batch norm that writes its gradient in bf16 saves the copy.
	// x16u likewise is a caller's bf16 x (sr_conv_input16 wrote it), which
	// the graph keeps for the backward instead of the float32 x.
	dnnl_memory_t dy16u, x16u;
};

// OpenMP's thread count is a per-OS-thread setting and cgo calls run on
// any OS thread, so every entry point applies the count set by
// sr_set_threads. omp_set_num_threads is looked up at run time from the
// libgomp that libdnnl loaded: Debian ships no unversioned libgomp.so to
// link against.
static int sr_nthreads; // 0: OpenMP's default (OMP_NUM_THREADS or all cores)
static void (*sr_omp_set)(int);
static pthread_once_t sr_omp_once = PTHREAD_ONCE_INIT;

static void sr_omp_lookup(void) { sr_omp_set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads"); }

int sr_set_threads(int n) {
	pthread_once(&sr_omp_once, sr_omp_lookup);
	__atomic_store_n(&sr_nthreads, n, __ATOMIC_RELAXED);
	return sr_omp_set != NULL;
}

static void apply_threads(void) {
	int n = __atomic_load_n(&sr_nthreads, __ATOMIC_RELAXED);
	if (n > 0 && sr_omp_set) sr_omp_set(n);
}

#define CHECK(call, what)                                                    \
	do {                                                                     \
		dnnl_status_t st_ = (call);                                          \
		if (st_ != dnnl_success) {                                           \
			snprintf(err, errlen, "%s: dnnl status %d", what, (int)st_);   \
			goto fail;                                                       \
		}                                                                    \
	} while (0)

static dnnl_status_t make_prim(prim *pr, const_dnnl_op_desc_t desc, dnnl_engine_t eng,
                               const_dnnl_primitive_desc_t hint) {
	dnnl_primitive_attr_t attr;
	dnnl_status_t st = dnnl_primitive_attr_create(&attr);
	if (st != dnnl_success) return st;
	st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (st == dnnl_success) st = dnnl_primitive_desc_create(&pr->pd, desc, attr, eng, hint);
	dnnl_primitive_attr_destroy(attr);
	if (st != dnnl_success) return st;
	st = dnnl_primitive_create(&pr->p, pr->pd);
	if (st != dnnl_success) return st;
	const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pr->pd, dnnl_query_scratchpad_md, 0);
	if (smd && dnnl_memory_desc_get_size(smd) > 0)
		st = dnnl_memory_create(&pr->scratch, smd, eng, DNNL_MEMORY_ALLOCATE);
	return st;
}

// make_reorder plans from -> to; when the layouts match it leaves r empty.
// The side that is not the user's gets a buffer of its own.
static dnnl_status_t make_reorder(reorder *r, const dnnl_memory_desc_t *from,
                                  const dnnl_memory_desc_t *to, int user_is_from,
                                  dnnl_engine_t eng) {
	if (dnnl_memory_desc_equal(from, to)) return dnnl_success;
	dnnl_primitive_desc_t pd;
	dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL);
	if (st != dnnl_success) return st;
	st = dnnl_primitive_create(&r->p, pd);
	dnnl_primitive_desc_destroy(pd);
	if (st != dnnl_success) return st;
	return dnnl_memory_create(&r->buf, user_is_from ? to : from, eng, DNNL_MEMORY_ALLOCATE);
}

sr_conv *sr_conv_create(int n, int h, int w, int c, int k, int r, int s,
                        int stride, int pad, int alg, int bf16, char *err, int errlen) {
	apply_threads(); // oneDNN plans its work split for the count at creation
	sr_conv *cv = calloc(1, sizeof *cv);
	if (!cv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int oh = (h + 2 * pad - r) / stride + 1, ow = (w + 2 * pad - s) / stride + 1;
	dnnl_dims_t sd = {n, c, h, w}, wd = {k, c, r, s}, dd = {n, k, oh, ow};
	dnnl_dims_t strides = {stride, stride}, pl = {pad, pad};
	dnnl_dims_t pr = {(oh - 1) * stride + r - h - pad, (ow - 1) * stride + s - w - pad};
	dnnl_alg_kind_t ak = alg == 1 ? dnnl_convolution_winograd
	                   : alg == 2 ? dnnl_convolution_auto : dnnl_convolution_direct;

	CHECK(dnnl_engine_create(&cv->eng, dnnl_cpu, 0), "engine");
	CHECK(dnnl_stream_create(&cv->strm, cv->eng, dnnl_stream_default_flags), "stream");
	CHECK(dnnl_memory_desc_init_by_tag(&cv->src_md, 4, sd, dnnl_f32, dnnl_nhwc), "src md");
	CHECK(dnnl_memory_desc_init_by_tag(&cv->wt_md, 4, wd, dnnl_f32, dnnl_oihw), "weights md");
	CHECK(dnnl_memory_desc_init_by_tag(&cv->dst_md, 4, dd, dnnl_f32, dnnl_nhwc), "dst md");
	cv->bf16 = bf16;
	dnnl_data_type_t ct = bf16 ? dnnl_bf16 : dnnl_f32; // what the convolutions read
	dnnl_memory_desc_t any_w, any_dw, src_c, dst_c;
	CHECK(dnnl_memory_desc_init_by_tag(&any_w, 4, wd, ct, dnnl_format_tag_any), "any weights md");
	CHECK(dnnl_memory_desc_init_by_tag(&any_dw, 4, wd, dnnl_f32, dnnl_format_tag_any), "any weight gradient md");
	CHECK(dnnl_memory_desc_init_by_tag(&src_c, 4, sd, ct, dnnl_nhwc), "conv src md");
	CHECK(dnnl_memory_desc_init_by_tag(&dst_c, 4, dd, ct, dnnl_nhwc), "conv diff dst md");
	CHECK(dnnl_memory_create(&cv->src, &cv->src_md, cv->eng, DNNL_MEMORY_NONE), "src memory");
	CHECK(dnnl_memory_create(&cv->wt, &cv->wt_md, cv->eng, DNNL_MEMORY_NONE), "weights memory");
	CHECK(dnnl_memory_create(&cv->dst, &cv->dst_md, cv->eng, DNNL_MEMORY_NONE), "dst memory");

	dnnl_convolution_desc_t fd, bdd, bwd;
	CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, ak, &src_c, &any_w,
	                                         NULL, &cv->dst_md, strides, pl, pr), "forward desc");
	CHECK(make_prim(&cv->fwd, &fd, cv->eng, NULL), "forward primitive");
	CHECK(dnnl_convolution_backward_data_desc_init(&bdd, ak, &cv->src_md, &any_w, &dst_c,
	                                               strides, pl, pr), "backward data desc");
	CHECK(make_prim(&cv->bwd_d, &bdd, cv->eng, cv->fwd.pd), "backward data primitive");
	CHECK(dnnl_convolution_backward_weights_desc_init(&bwd, ak, &src_c, &any_dw, NULL,
	                                                  &dst_c, strides, pl, pr), "backward weights desc");
	CHECK(make_prim(&cv->bwd_w, &bwd, cv->eng, cv->fwd.pd), "backward weights primitive");

	CHECK(make_reorder(&cv->fwd_w, &cv->wt_md,
	                   dnnl_primitive_desc_query_md(cv->fwd.pd, dnnl_query_weights_md, 0), 1, cv->eng),
	      "forward weights reorder");
	CHECK(make_reorder(&cv->bwd_d_w, &cv->wt_md,
	                   dnnl_primitive_desc_query_md(cv->bwd_d.pd, dnnl_query_weights_md, 0), 1, cv->eng),
	      "backward data weights reorder");
	CHECK(make_reorder(&cv->bwd_w_dw,
	                   dnnl_primitive_desc_query_md(cv->bwd_w.pd, dnnl_query_diff_weights_md, 0),
	                   &cv->wt_md, 0, cv->eng),
	      "backward weights reorder");
	if (bf16) {
		CHECK(make_reorder(&cv->x16, &cv->src_md, &src_c, 1, cv->eng), "bf16 input reorder");
		CHECK(make_reorder(&cv->dy16, &cv->dst_md, &dst_c, 1, cv->eng), "bf16 gradient reorder");
		CHECK(dnnl_memory_create(&cv->dy16u, &dst_c, cv->eng, DNNL_MEMORY_NONE), "bf16 gradient memory");
		CHECK(dnnl_memory_create(&cv->x16u, &src_c, cv->eng, DNNL_MEMORY_NONE), "bf16 input memory");
	}
	return cv;
fail:
	sr_conv_destroy(cv);
	return NULL;
}

static dnnl_status_t run(sr_conv *cv, dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args) {
	dnnl_status_t st = dnnl_primitive_execute(p, cv->strm, nargs, args);
	if (st != dnnl_success) return st;
	return dnnl_stream_wait(cv->strm);
}

// weights_in makes the user OIHW weights w available in the layout of r.
static dnnl_status_t weights_in(sr_conv *cv, reorder *r, dnnl_memory_t *out) {
	if (!r->p) {
		*out = cv->wt;
		return dnnl_success;
	}
	dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, cv->wt}, {DNNL_ARG_TO, r->buf}};
	*out = r->buf;
	return run(cv, r->p, 2, a);
}

// unset drops the Go pointers: the memories must not keep them past the
// call (cgo's pointer rules).
static void unset(sr_conv *cv) {
	dnnl_memory_set_data_handle(cv->src, NULL);
	dnnl_memory_set_data_handle(cv->wt, NULL);
	dnnl_memory_set_data_handle(cv->dst, NULL);
	if (cv->dy16u) dnnl_memory_set_data_handle(cv->dy16u, NULL);
	if (cv->x16u) dnnl_memory_set_data_handle(cv->x16u, NULL);
}

static int nargs_with_scratch(dnnl_exec_arg_t *a, int n, prim *pr) {
	if (pr->scratch) {
		a[n].arg = DNNL_ARG_SCRATCHPAD;
		a[n].memory = pr->scratch;
		n++;
	}
	return n;
}

// to16 makes the bf16 copy of the user memory m (whose handle is p) in
// r's buffer unless *of says it holds p already.
static dnnl_status_t to16(sr_conv *cv, reorder *r, dnnl_memory_t m, const void *p, const void **of) {
	if (*of == p) return dnnl_success;
	dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, r->buf}};
	dnnl_status_t st = run(cv, r->p, 2, a);
	*of = st == dnnl_success ? p : NULL;
	return st;
}

// x_in returns in *out what the passes read as x: the float32 x itself,
// the bf16 copy of it (made once per step), or with x16 the caller's.
static dnnl_status_t x_in(sr_conv *cv, float *x, const uint16_t *x16, dnnl_memory_t *out) {
	*out = cv->src;
	if (!cv->bf16) return dnnl_success;
	if (x16) {
		dnnl_memory_set_data_handle(cv->x16u, (void *)x16);
		*out = cv->x16u;
		return dnnl_success;
	}
	*out = cv->x16.buf;
	return to16(cv, &cv->x16, cv->src, x, &cv->x16_of);
}

int sr_conv_input16(sr_conv *cv, float *x, uint16_t *x16) {
	if (!cv->bf16) return dnnl_invalid_arguments;
	apply_threads();
	dnnl_memory_set_data_handle(cv->src, x);
	dnnl_memory_set_data_handle(cv->x16u, x16);
	dnnl_status_t st = dnnl_success;
	if (cv->x16.p) {
		dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, cv->src}, {DNNL_ARG_TO, cv->x16u}};
		st = run(cv, cv->x16.p, 2, a);
	}
	unset(cv);
	return st;
}

int sr_conv_forward(sr_conv *cv, float *x, const uint16_t *x16, float *w, float *y) {
	apply_threads();
	dnnl_memory_t wm, xm;
	dnnl_memory_set_data_handle(cv->src, x);
	dnnl_memory_set_data_handle(cv->wt, w);
	dnnl_memory_set_data_handle(cv->dst, y);
	// A forward starts a step: its gradients are new.
	cv->dy16_of = NULL;
	cv->x16_of = NULL;
	dnnl_status_t st = x_in(cv, x, x16, &xm);
	if (st == dnnl_success) st = weights_in(cv, &cv->fwd_w, &wm);
	if (st == dnnl_success) {
		dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cv->dst}};
		st = run(cv, cv->fwd.p, nargs_with_scratch(a, 3, &cv->fwd), a);
	}
	unset(cv);
	return st;
}

// dy_in returns in *out what the backward passes read as dy: the
// float32 dy itself, the bf16 copy of it (made once per step), or with
// dy16 the caller's bf16 dy.
static dnnl_status_t dy_in(sr_conv *cv, float *dy, const uint16_t *dy16, dnnl_memory_t *out) {
	*out = cv->dst;
	if (!cv->bf16) return dnnl_success;
	if (dy16) {
		dnnl_memory_set_data_handle(cv->dy16u, (void *)dy16);
		*out = cv->dy16u;
		return dnnl_success;
	}
	*out = cv->dy16.buf;
	return to16(cv, &cv->dy16, cv->dst, dy, &cv->dy16_of);
}

int sr_conv_backward_data(sr_conv *cv, float *dy, const uint16_t *dy16, float *w, float *dx) {
	apply_threads();
	dnnl_memory_t wm, dym;
	dnnl_memory_set_data_handle(cv->src, dx);
	dnnl_memory_set_data_handle(cv->wt, w);
	dnnl_memory_set_data_handle(cv->dst, dy);
	dnnl_status_t st = dy_in(cv, dy, dy16, &dym);
	if (st == dnnl_success) st = weights_in(cv, &cv->bwd_d_w, &wm);
	if (st == dnnl_success) {
		dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, cv->src}};
		st = run(cv, cv->bwd_d.p, nargs_with_scratch(a, 3, &cv->bwd_d), a);
	}
	unset(cv);
	return st;
}

int sr_conv_backward_weights(sr_conv *cv, float *x, const uint16_t *x16, float *dy, const uint16_t *dy16, float *dw) {
	apply_threads();
	dnnl_memory_set_data_handle(cv->src, x);
	dnnl_memory_set_data_handle(cv->wt, dw);
	dnnl_memory_set_data_handle(cv->dst, dy);
	dnnl_memory_t xm, dym = cv->dst;
	dnnl_status_t st = x_in(cv, x, x16, &xm);
	if (st == dnnl_success) st = dy_in(cv, dy, dy16, &dym);
	dnnl_memory_t dwm = cv->bwd_w_dw.p ? cv->bwd_w_dw.buf : cv->wt;
	dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
	if (st == dnnl_success) st = run(cv, cv->bwd_w.p, nargs_with_scratch(a, 3, &cv->bwd_w), a);
	if (st == dnnl_success && cv->bwd_w_dw.p) {
		dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, cv->bwd_w_dw.buf}, {DNNL_ARG_TO, cv->wt}};
		st = run(cv, cv->bwd_w_dw.p, 2, r);
	}
	unset(cv);
	return st;
}

const char *sr_conv_impl(sr_conv *cv, int pass) {
	prim *p = pass == 0 ? &cv->fwd : pass == 1 ? &cv->bwd_d : &cv->bwd_w;
	const char *s = NULL;
	if (!p->pd || dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
		return "unknown";
	return s;
}

static void free_prim(prim *p) {
	if (p->scratch) dnnl_memory_destroy(p->scratch);
	if (p->p) dnnl_primitive_destroy(p->p);
	if (p->pd) dnnl_primitive_desc_destroy(p->pd);
}

static void free_reorder(reorder *r) {
	if (r->buf) dnnl_memory_destroy(r->buf);
	if (r->p) dnnl_primitive_destroy(r->p);
}

void sr_conv_destroy(sr_conv *cv) {
	if (!cv) return;
	free_reorder(&cv->fwd_w);
	free_reorder(&cv->bwd_d_w);
	free_reorder(&cv->bwd_w_dw);
	free_reorder(&cv->x16);
	free_reorder(&cv->dy16);
	if (cv->dy16u) dnnl_memory_destroy(cv->dy16u);
	if (cv->x16u) dnnl_memory_destroy(cv->x16u);
	free_prim(&cv->fwd);
	free_prim(&cv->bwd_d);
	free_prim(&cv->bwd_w);
	if (cv->src) dnnl_memory_destroy(cv->src);
	if (cv->wt) dnnl_memory_destroy(cv->wt);
	if (cv->dst) dnnl_memory_destroy(cv->dst);
	if (cv->strm) dnnl_stream_destroy(cv->strm);
	if (cv->eng) dnnl_engine_destroy(cv->eng);
	free(cv);
}

struct sr_bn {
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	dnnl_primitive_desc_t fpd, bpd;
	dnnl_primitive_t fwd, bwd;
	// Memories without buffers; handles are set per call.
	dnnl_memory_t src, dst, dsrc, ddst, mean, var, scale, shift, dscale, dshift, ws;
	dnnl_memory_t fscratch, bscratch; // user scratchpads: no allocation per call
	size_t ws_size;
};

// bn_pd creates a primitive descriptor with a user scratchpad, allocating
// the scratchpad memory once.
static dnnl_status_t bn_pd(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc, dnnl_engine_t eng,
                           const_dnnl_primitive_desc_t hint, dnnl_memory_t *scratch) {
	dnnl_primitive_attr_t attr;
	dnnl_status_t st = dnnl_primitive_attr_create(&attr);
	if (st != dnnl_success) return st;
	st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (st == dnnl_success) st = dnnl_primitive_desc_create(pd, desc, attr, eng, hint);
	dnnl_primitive_attr_destroy(attr);
	if (st != dnnl_success) return st;
	const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(*pd, dnnl_query_scratchpad_md, 0);
	if (smd && dnnl_memory_desc_get_size(smd) > 0)
		st = dnnl_memory_create(scratch, smd, eng, DNNL_MEMORY_ALLOCATE);
	return st;
}

sr_bn *sr_bn_create(int n, int hw, int c, float eps, int relu, char *err, int errlen) {
	apply_threads();
	sr_bn *bn = calloc(1, sizeof *bn);
	if (!bn) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dnnl_dims_t d = {n, c, hw, 1};
	dnnl_memory_desc_t md;
	unsigned flags = dnnl_use_scale | dnnl_use_shift | (relu ? dnnl_fuse_norm_relu : 0);
	dnnl_batch_normalization_desc_t fd, bd;
	CHECK(dnnl_engine_create(&bn->eng, dnnl_cpu, 0), "engine");
	CHECK(dnnl_stream_create(&bn->strm, bn->eng, dnnl_stream_default_flags), "stream");
	CHECK(dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nhwc), "data md");
	CHECK(dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training, &md, eps, flags), "bn forward desc");
	CHECK(bn_pd(&bn->fpd, &fd, bn->eng, NULL, &bn->fscratch), "bn forward pd");
	CHECK(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &md, &md, eps, flags), "bn backward desc");
	CHECK(bn_pd(&bn->bpd, &bd, bn->eng, bn->fpd, &bn->bscratch), "bn backward pd");
	CHECK(dnnl_primitive_create(&bn->fwd, bn->fpd), "bn forward primitive");
	CHECK(dnnl_primitive_create(&bn->bwd, bn->bpd), "bn backward primitive");
	const dnnl_memory_desc_t *stat = dnnl_primitive_desc_query_md(bn->fpd, dnnl_query_exec_arg_md, DNNL_ARG_MEAN);
	const dnnl_memory_desc_t *ss = dnnl_primitive_desc_query_md(bn->fpd, dnnl_query_exec_arg_md, DNNL_ARG_SCALE);
	const dnnl_memory_desc_t *wsmd = dnnl_primitive_desc_query_md(bn->fpd, dnnl_query_workspace_md, 0);
	if (!stat || !ss) {
		snprintf(err, errlen, "bn: no mean or scale memory desc");
		goto fail;
	}
	CHECK(dnnl_memory_create(&bn->src, &md, bn->eng, DNNL_MEMORY_NONE), "src");
	CHECK(dnnl_memory_create(&bn->dst, &md, bn->eng, DNNL_MEMORY_NONE), "dst");
	CHECK(dnnl_memory_create(&bn->dsrc, &md, bn->eng, DNNL_MEMORY_NONE), "diff src");
	CHECK(dnnl_memory_create(&bn->ddst, &md, bn->eng, DNNL_MEMORY_NONE), "diff dst");
	CHECK(dnnl_memory_create(&bn->mean, stat, bn->eng, DNNL_MEMORY_NONE), "mean");
	CHECK(dnnl_memory_create(&bn->var, stat, bn->eng, DNNL_MEMORY_NONE), "var");
	CHECK(dnnl_memory_create(&bn->scale, ss, bn->eng, DNNL_MEMORY_NONE), "scale");
	CHECK(dnnl_memory_create(&bn->shift, ss, bn->eng, DNNL_MEMORY_NONE), "shift");
	CHECK(dnnl_memory_create(&bn->dscale, ss, bn->eng, DNNL_MEMORY_NONE), "diff scale");
	CHECK(dnnl_memory_create(&bn->dshift, ss, bn->eng, DNNL_MEMORY_NONE), "diff shift");
	if (wsmd && dnnl_memory_desc_get_size(wsmd) > 0) {
		bn->ws_size = dnnl_memory_desc_get_size(wsmd);
		CHECK(dnnl_memory_create(&bn->ws, wsmd, bn->eng, DNNL_MEMORY_NONE), "workspace");
	}
	return bn;
fail:
	sr_bn_destroy(bn);
	return NULL;
}

size_t sr_bn_workspace_size(sr_bn *bn) { return bn->ws_size; }

static void bn_unset(sr_bn *bn) {
	dnnl_memory_t ms[] = {bn->src, bn->dst, bn->dsrc, bn->ddst, bn->mean, bn->var,
	                      bn->scale, bn->shift, bn->dscale, bn->dshift, bn->ws};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
		if (ms[i]) dnnl_memory_set_data_handle(ms[i], NULL);
}

int sr_bn_forward(sr_bn *bn, float *x, float *y, float *gamma, float *beta,
                  float *mean, float *var, void *ws) {
	apply_threads();
	dnnl_memory_set_data_handle(bn->src, x);
	dnnl_memory_set_data_handle(bn->dst, y);
	dnnl_memory_set_data_handle(bn->scale, gamma);
	dnnl_memory_set_data_handle(bn->shift, beta);
	dnnl_memory_set_data_handle(bn->mean, mean);
	dnnl_memory_set_data_handle(bn->var, var);
	dnnl_exec_arg_t a[8] = {{DNNL_ARG_SRC, bn->src}, {DNNL_ARG_DST, bn->dst}, {DNNL_ARG_SCALE, bn->scale},
	                        {DNNL_ARG_SHIFT, bn->shift}, {DNNL_ARG_MEAN, bn->mean}, {DNNL_ARG_VARIANCE, bn->var}};
	int n = 6;
	if (bn->fscratch) {
		a[n].arg = DNNL_ARG_SCRATCHPAD;
		a[n].memory = bn->fscratch;
		n++;
	}
	if (bn->ws) {
		dnnl_memory_set_data_handle(bn->ws, ws);
		a[n].arg = DNNL_ARG_WORKSPACE;
		a[n].memory = bn->ws;
		n++;
	}
	dnnl_status_t st = dnnl_primitive_execute(bn->fwd, bn->strm, n, a);
	if (st == dnnl_success) st = dnnl_stream_wait(bn->strm);
	bn_unset(bn);
	return st;
}

int sr_bn_backward(sr_bn *bn, float *x, float *dy, float *gamma, float *beta,
                   float *mean, float *var, void *ws, float *dx,
                   float *dgamma, float *dbeta) {
	apply_threads();
	dnnl_memory_set_data_handle(bn->src, x);
	dnnl_memory_set_data_handle(bn->ddst, dy);
	dnnl_memory_set_data_handle(bn->dsrc, dx);
	dnnl_memory_set_data_handle(bn->scale, gamma);
	dnnl_memory_set_data_handle(bn->shift, beta);
	dnnl_memory_set_data_handle(bn->mean, mean);
	dnnl_memory_set_data_handle(bn->var, var);
	dnnl_memory_set_data_handle(bn->dscale, dgamma);
	dnnl_memory_set_data_handle(bn->dshift, dbeta);
	dnnl_exec_arg_t a[11] = {{DNNL_ARG_SRC, bn->src}, {DNNL_ARG_DIFF_DST, bn->ddst}, {DNNL_ARG_DIFF_SRC, bn->dsrc},
	                         {DNNL_ARG_SCALE, bn->scale}, {DNNL_ARG_SHIFT, bn->shift}, {DNNL_ARG_MEAN, bn->mean},
	                         {DNNL_ARG_VARIANCE, bn->var}, {DNNL_ARG_DIFF_SCALE, bn->dscale},
	                         {DNNL_ARG_DIFF_SHIFT, bn->dshift}};
	int n = 9;
	if (bn->bscratch) {
		a[n].arg = DNNL_ARG_SCRATCHPAD;
		a[n].memory = bn->bscratch;
		n++;
	}
	if (bn->ws) {
		dnnl_memory_set_data_handle(bn->ws, ws);
		a[n].arg = DNNL_ARG_WORKSPACE;
		a[n].memory = bn->ws;
		n++;
	}
	dnnl_status_t st = dnnl_primitive_execute(bn->bwd, bn->strm, n, a);
	if (st == dnnl_success) st = dnnl_stream_wait(bn->strm);
	bn_unset(bn);
	return st;
}

const char *sr_bn_impl(sr_bn *bn, int pass) {
	const char *s = NULL;
	dnnl_primitive_desc_t pd = pass == 0 ? bn->fpd : bn->bpd;
	if (!pd || dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
		return "unknown";
	return s;
}

void sr_bn_destroy(sr_bn *bn) {
	if (!bn) return;
	dnnl_memory_t ms[] = {bn->src, bn->dst, bn->dsrc, bn->ddst, bn->mean, bn->var,
	                      bn->scale, bn->shift, bn->dscale, bn->dshift, bn->ws,
	                      bn->fscratch, bn->bscratch};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
		if (ms[i]) dnnl_memory_destroy(ms[i]);
	if (bn->fwd) dnnl_primitive_destroy(bn->fwd);
	if (bn->bwd) dnnl_primitive_destroy(bn->bwd);
	if (bn->fpd) dnnl_primitive_desc_destroy(bn->fpd);
	if (bn->bpd) dnnl_primitive_desc_destroy(bn->bpd);
	if (bn->strm) dnnl_stream_destroy(bn->strm);
	if (bn->eng) dnnl_engine_destroy(bn->eng);
	free(bn);
}
