/* runtime_cuda.c — what every op of the CUDA backend goes through: error
 * reporting (device, label, op, call, library message), the op label
 * (backend.h set_label), debug mode (a synchronization and a pending-error
 * check after each launch, NaN/Inf counts of the outputs), profile mode
 * (LMSENS_CUDA_PROFILE=1: GPU time per op), and the memory ops of the table
 * (device allocation, copies with pinned double-buffered staging for large
 * uploads such as weights read from mmapped safetensors, memset, sync).
 *
 * Invariants: the label is three borrowed pointers, formatted only when a
 * message is made (an error or a debug-mode hit), so setting it per module
 * costs nothing; every failure is logged once and recorded with lms_fail.
 * Not here: the op wrappers and init (backend_cuda.c), the GEMM
 * (gemm_cuda.c), kernels (kernels/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend/cuda_internal.h"
#include "core/log.h"
#include "kernels.h"

/* Op names of the profile table (the names the ops pass to after_launch). */
static const char *const PROF_NAMES[PROF_OPS] = {
    "memcpy_h2d",
    "memcpy_d2h",
    "memcpy_d2d",
    "memset",
    "gemm",
    "embedding",
    "rmsnorm_forward",
    "rmsnorm_backward",
    "rope_forward",
    "rope_backward",
    "attention_forward",
    "attention_backward",
    "swiglu_forward",
    "swiglu_backward",
    "add",
    "cross_entropy",
    "absmax_rows",
    "sq_dot_accum",
    "fake_quant",
    "kl_div_accum",
    NULL,
};

const char *const LMS_CUDA_OOM_HINT =
    "lower autoquant.batch_size (or the sequence length), enable per-layer recomputation, or "
    "use a GPU with more memory";

/* ---- error reporting --------------------------------------------------- */

/* The label text of c (empty without one) in buf. */
static const char *label_text(const struct cuda_ctx *c, char *buf, size_t cap)
{
	if (!c)
		return buf[0] = '\0', buf;
	return lms_backend_label_text(buf, cap, c->label[0], c->label[1], c->label[2]);
}

enum lms_status lms_cuda_fail(struct cuda_ctx *c, const char *op, const char *call, const char *msg,
			      int is_oom)
{
	char lab[256];
	label_text(c, lab, sizeof lab);
	int dev = c ? c->device : -1;
	lms_log(LMS_LOG_ERROR, "cuda:%d %s%s%s: '%s' failed: %s", dev, lab[0] ? "[" : "", lab,
		lab[0] ? "] " : "", call, msg);
	return lms_fail(is_oom ? LMS_ERR_NOMEM : LMS_ERR_LIBRARY, is_oom ? LMS_CUDA_OOM_HINT : NULL,
			"cuda:%d %s%s%s%s: '%s' failed: %s", dev, lab[0] ? "[" : "", lab,
			lab[0] ? "] " : "", op, call, msg);
}

void lms_cuda_set_label(void *vc, const char *module, const char *stage, const char *detail)
{
	struct cuda_ctx *c = vc;
	c->label[0] = module;
	c->label[1] = stage;
	c->label[2] = detail;
}

void lms_cuda_set_debug(void *vc, int on)
{
	((struct cuda_ctx *)vc)->debug = on != 0;
}

/* Makes c's device current for this thread: a process may hold backends on
 * several devices, and CUDA's current device is per thread. Cheap when it is
 * already current. */
void lms_cuda_use_device(const struct cuda_ctx *c)
{
	int cur = -1;
	if (cudaGetDevice(&cur) != cudaSuccess || cur != c->device)
		(void)cudaSetDevice(c->device);
}

/* Profile mode (LMSENS_CUDA_PROFILE=1): each op records an event when it
 * starts and one when its launches are done, waits for the second and adds
 * the GPU time between them to the op's bucket. It serializes the stream, so
 * it is a diagnosis tool; the table is logged when the backend is freed. */
void lms_cuda_prof_begin(struct cuda_ctx *c)
{
	lms_cuda_use_device(c);
	if (c->profile)
		(void)cudaEventRecord(c->prof_start, c->stream);
}

static void prof_end(struct cuda_ctx *c, const char *op)
{
	if (!c->profile)
		return;
	float ms = 0.0f;
	if (cudaEventRecord(c->prof_stop, c->stream) != cudaSuccess ||
	    cudaEventSynchronize(c->prof_stop) != cudaSuccess ||
	    cudaEventElapsedTime(&ms, c->prof_start, c->prof_stop) != cudaSuccess) {
		(void)cudaGetLastError();
		return;
	}
	for (int i = 0; i < PROF_OPS && PROF_NAMES[i]; i++)
		if (strcmp(PROF_NAMES[i], op) == 0) {
			c->prof_ms[i] += ms;
			c->prof_calls[i]++;
			break;
		}
	(void)cudaEventRecord(c->prof_start, c->stream); /* a second launch of the same op */
}

void lms_cuda_prof_report(const struct cuda_ctx *c)
{
	double total = 0.0;
	for (int i = 0; i < PROF_OPS; i++)
		total += c->prof_ms[i];
	if (!c->profile || total <= 0.0)
		return;
	LMS_INFO("%s profile (GPU time per op, stream serialized):", c->name);
	for (int i = 0; i < PROF_OPS && PROF_NAMES[i]; i++)
		if (c->prof_calls[i])
			LMS_INFO("  %-20s %8ld calls %11.3f ms %9.1f us/call %5.1f %%",
				 PROF_NAMES[i], c->prof_calls[i], c->prof_ms[i],
				 1000.0 * c->prof_ms[i] / c->prof_calls[i],
				 100.0 * c->prof_ms[i] / total);
}

/* After a kernel launch: the launch status, and in debug mode a full
 * synchronization (so an asynchronous fault is attributed to this op). */
enum lms_status lms_cuda_after_launch(struct cuda_ctx *c, const char *op, cudaError_t launch)
{
	if (launch != cudaSuccess)
		return lms_cuda_fail(c, op, "kernel launch", cudaGetErrorString(launch),
				     launch == cudaErrorMemoryAllocation);
	prof_end(c, op);
	if (c->debug) {
		CU_CHECK(c, op, cudaStreamSynchronize(c->stream));
		CU_CHECK(c, op, cudaGetLastError());
	}
	return LMS_OK;
}

/* Debug mode: fails with LMS_ERR_NUMERIC when the op's output holds NaN/Inf. */
enum lms_status lms_cuda_check_finite(struct cuda_ctx *c, const char *op, const char *what,
				      const void *d_x, size_t n, int is_f32)
{
	if (!c->debug || n == 0)
		return LMS_OK;
	unsigned long long count = 0;
	CU_CHECK(c, op, cudaMemsetAsync(c->d_count, 0, sizeof *c->d_count, c->stream));
	CU_CHECK(c, op, lms_k_count_nonfinite(c->stream, c->d_count, d_x, n, is_f32));
	CU_CHECK(
	    c, op,
	    cudaMemcpyAsync(&count, c->d_count, sizeof count, cudaMemcpyDeviceToHost, c->stream));
	CU_CHECK(c, op, cudaStreamSynchronize(c->stream));
	if (count == 0)
		return LMS_OK;
	char lab[256];
	return lms_backend_nonfinite_fail(c->name, label_text(c, lab, sizeof lab), op, what, count,
					  n);
}

/* ---- memory ------------------------------------------------------------ */

/* Peak device memory in use (cudaMemGetInfo: total - free, the CUDA
 * context, cuBLAS and any other process included), sampled after every
 * allocation: allocations happen at setup and per phase, never per op, so
 * the sample is cheap and sees every high-water mark of this process. */
static size_t g_mem_peak;

static void note_mem_used(void)
{
	size_t free_b = 0, total_b = 0;
	if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
		(void)cudaGetLastError();
		return;
	}
	if (total_b - free_b > g_mem_peak)
		g_mem_peak = total_b - free_b;
}

size_t lms_cuda_mem_peak(int reset)
{
	size_t p = g_mem_peak;
	if (reset) {
		g_mem_peak = 0;
		note_mem_used();
	}
	return p;
}

enum lms_status lms_cuda_alloc(void *vc, size_t bytes, void **d_out)
{
	struct cuda_ctx *c = vc;
	lms_cuda_use_device(c);
	*d_out = NULL;
	if (bytes == 0)
		return LMS_OK;
	cudaError_t e = cudaMalloc(d_out, bytes);
	if (e == cudaSuccess) {
		note_mem_used();
		return LMS_OK;
	}
	*d_out = NULL;
	(void)cudaGetLastError(); /* allocation errors are not sticky; clear the record */
	size_t free_b = 0, total_b = 0;
	(void)cudaMemGetInfo(&free_b, &total_b);
	if (e == cudaErrorMemoryAllocation)
		return lms_fail(
		    LMS_ERR_NOMEM, LMS_CUDA_OOM_HINT,
		    "cuda:%d: out of device memory allocating %.1f MiB (%.1f MiB free of "
		    "%.1f MiB)",
		    c->device, bytes / 1048576.0, free_b / 1048576.0, total_b / 1048576.0);
	return lms_cuda_fail(c, "alloc", "cudaMalloc", cudaGetErrorString(e), 0);
}

void lms_cuda_free(void *vc, void *d_ptr)
{
	lms_cuda_use_device(vc);
	if (d_ptr)
		(void)cudaFree(d_ptr);
}

/* memcpy into a staging buffer, split over a few OpenMP threads when there
 * are any: reading a pageable (often freshly mmapped) source is the slow
 * half of an upload. At most 8 threads, so that 8 ranks of a node do not
 * oversubscribe it badly. */
static void copy_to_stage(void *dst, const void *src, size_t len)
{
#ifdef _OPENMP
	const size_t piece = (size_t)1 << 20;
	long n = (long)((len + piece - 1) / piece);
	int threads = omp_get_max_threads() < 8 ? omp_get_max_threads() : 8;
	if (n > 1 && threads > 1) {
#pragma omp parallel for schedule(static) num_threads(threads)
		for (long i = 0; i < n; i++) {
			size_t off = (size_t)i * piece, l = len - off < piece ? len - off : piece;
			memcpy((char *)dst + off, (const char *)src + off, l);
		}
		return;
	}
#endif
	memcpy(dst, src, len);
}

/* Large copies go through the two pinned staging buffers: the CPU fills one
 * (reading the mmapped file, page faults included) while the DMA engine
 * drains the other. */
enum lms_status lms_cuda_h2d(void *vc, void *d_dst, const void *src, size_t bytes)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	if (bytes == 0)
		return LMS_OK;
	if (bytes < STAGE_MIN_COPY || !c->stage[0] || !c->stage[1]) {
		CU_CHECK(c, "memcpy_h2d",
			 cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
		CU_CHECK(c, "memcpy_h2d", cudaStreamSynchronize(c->stream));
		prof_end(c, "memcpy_h2d");
		return LMS_OK;
	}
	const char *s = src;
	char *d = d_dst;
	for (size_t off = 0, i = 0; off < bytes; off += STAGE_BYTES, i++) {
		size_t len = bytes - off < STAGE_BYTES ? bytes - off : STAGE_BYTES;
		int slot = (int)(i % 2);
		CU_CHECK(c, "memcpy_h2d", cudaEventSynchronize(c->stage_done[slot]));
		copy_to_stage(c->stage[slot], s + off, len);
		CU_CHECK(c, "memcpy_h2d",
			 cudaMemcpyAsync(d + off, c->stage[slot], len, cudaMemcpyHostToDevice,
					 c->stream));
		CU_CHECK(c, "memcpy_h2d", cudaEventRecord(c->stage_done[slot], c->stream));
	}
	CU_CHECK(c, "memcpy_h2d", cudaStreamSynchronize(c->stream));
	prof_end(c, "memcpy_h2d");
	return LMS_OK;
}

enum lms_status lms_cuda_d2h(void *vc, void *dst, const void *d_src, size_t bytes)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	if (bytes == 0)
		return LMS_OK;
	if (!c->on_side) /* the main stream's copy sees the side work too */
		LMS_TRY(lms_cuda_side_settle(c));
	CU_CHECK(c, "memcpy_d2h",
		 cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, c->stream));
	CU_CHECK(c, "memcpy_d2h", cudaStreamSynchronize(c->stream));
	prof_end(c, "memcpy_d2h");
	return LMS_OK;
}

enum lms_status lms_cuda_d2d(void *vc, void *d_dst, const void *d_src, size_t bytes)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	if (bytes == 0)
		return LMS_OK;
	CU_CHECK(c, "memcpy_d2d",
		 cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, c->stream));
	return lms_cuda_after_launch(c, "memcpy_d2d", cudaSuccess);
}

enum lms_status lms_cuda_memset(void *vc, void *d_dst, int byte, size_t bytes)
{
	struct cuda_ctx *c = vc;
	lms_cuda_prof_begin(c);
	if (bytes == 0)
		return LMS_OK;
	CU_CHECK(c, "memset", cudaMemsetAsync(d_dst, byte, bytes, c->stream));
	return lms_cuda_after_launch(c, "memset", cudaSuccess);
}

enum lms_status lms_cuda_sync(void *vc)
{
	struct cuda_ctx *c = vc;
	lms_cuda_use_device(c);
	if (!c->on_side)
		LMS_TRY(lms_cuda_side_settle(c));
	CU_CHECK(c, "sync", cudaStreamSynchronize(c->stream));
	if (c->side)
		CU_CHECK(c, "sync", cudaStreamSynchronize(c->side));
	return LMS_OK;
}

