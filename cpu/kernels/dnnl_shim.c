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
};

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
                        int stride, int pad, int alg, char *err, int errlen) {
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
	dnnl_memory_desc_t any_w;
	CHECK(dnnl_memory_desc_init_by_tag(&any_w, 4, wd, dnnl_f32, dnnl_format_tag_any), "any weights md");
	CHECK(dnnl_memory_create(&cv->src, &cv->src_md, cv->eng, DNNL_MEMORY_NONE), "src memory");
	CHECK(dnnl_memory_create(&cv->wt, &cv->wt_md, cv->eng, DNNL_MEMORY_NONE), "weights memory");
	CHECK(dnnl_memory_create(&cv->dst, &cv->dst_md, cv->eng, DNNL_MEMORY_NONE), "dst memory");

	dnnl_convolution_desc_t fd, bdd, bwd;
	CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, ak, &cv->src_md, &any_w,
	                                         NULL, &cv->dst_md, strides, pl, pr), "forward desc");
	CHECK(make_prim(&cv->fwd, &fd, cv->eng, NULL), "forward primitive");
	CHECK(dnnl_convolution_backward_data_desc_init(&bdd, ak, &cv->src_md, &any_w, &cv->dst_md,
	                                               strides, pl, pr), "backward data desc");
	CHECK(make_prim(&cv->bwd_d, &bdd, cv->eng, cv->fwd.pd), "backward data primitive");
	CHECK(dnnl_convolution_backward_weights_desc_init(&bwd, ak, &cv->src_md, &any_w, NULL,
	                                                  &cv->dst_md, strides, pl, pr), "backward weights desc");
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
}

static int nargs_with_scratch(dnnl_exec_arg_t *a, int n, prim *pr) {
	if (pr->scratch) {
		a[n].arg = DNNL_ARG_SCRATCHPAD;
		a[n].memory = pr->scratch;
		n++;
	}
	return n;
}

int sr_conv_forward(sr_conv *cv, float *x, float *w, float *y) {
	dnnl_memory_t wm;
	dnnl_status_t st;
	dnnl_memory_set_data_handle(cv->src, x);
	dnnl_memory_set_data_handle(cv->wt, w);
	dnnl_memory_set_data_handle(cv->dst, y);
	st = weights_in(cv, &cv->fwd_w, &wm);
	if (st == dnnl_success) {
		dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, cv->src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cv->dst}};
		st = run(cv, cv->fwd.p, nargs_with_scratch(a, 3, &cv->fwd), a);
	}
	unset(cv);
	return st;
}

int sr_conv_backward_data(sr_conv *cv, float *dy, float *w, float *dx) {
	dnnl_memory_t wm;
	dnnl_status_t st;
	dnnl_memory_set_data_handle(cv->src, dx);
	dnnl_memory_set_data_handle(cv->wt, w);
	dnnl_memory_set_data_handle(cv->dst, dy);
	st = weights_in(cv, &cv->bwd_d_w, &wm);
	if (st == dnnl_success) {
		dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, cv->dst}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, cv->src}};
		st = run(cv, cv->bwd_d.p, nargs_with_scratch(a, 3, &cv->bwd_d), a);
	}
	unset(cv);
	return st;
}

int sr_conv_backward_weights(sr_conv *cv, float *x, float *dy, float *dw) {
	dnnl_status_t st;
	dnnl_memory_set_data_handle(cv->src, x);
	dnnl_memory_set_data_handle(cv->wt, dw);
	dnnl_memory_set_data_handle(cv->dst, dy);
	dnnl_memory_t dwm = cv->bwd_w_dw.p ? cv->bwd_w_dw.buf : cv->wt;
	dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, cv->src}, {DNNL_ARG_DIFF_DST, cv->dst}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
	st = run(cv, cv->bwd_w.p, nargs_with_scratch(a, 3, &cv->bwd_w), a);
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
