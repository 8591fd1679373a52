/* stream_cuda.c — the CUDA backend's second stream (backend.h side_begin,
 * side_end, side_join): AutoQuant's replays of one linear (fake
 * quantization, the replay GEMM, Σ(g·Δ)²) run on it while the main stream
 * goes on with the backward (src/engine/engine_pass.c says where it joins).
 *
 * Invariants:
 *   - c->stream and c->d_lt_work are the CURRENT stream and its cuBLASLt
 *     workspace: every op reads them, so side_begin / side_end switch both
 *     (and the cuBLAS handle's stream and workspace, used when cuBLASLt
 *     offers no algorithm); each stream has its own workspace.
 *   - side_begin makes the side stream wait for an event recorded on the
 *     main stream; side_end records mark[slot] on the side stream;
 *     side_join makes the main stream wait for mark[slot]. No op changes, so
 *     the results are the bits of the in-line order whenever the caller's
 *     joins cover what the side work reads.
 *   - No side stream (LMSENS_CUDA_STREAMS=1, debug mode, profile mode: the
 *     serialized per-op times need one stream): side_begin/end/join do
 *     nothing and every op runs in line on the main stream.
 *   - sync and memcpy_d2h settle first: the main stream waits for every mark
 *     recorded since the last settle, so the host sees the side work too.
 * LMSENS_CUDA_SIDE_PRIO=low gives the main stream the device's greatest
 * priority and the side stream the least (default: both the same), for
 * measurements (docs/BENCHMARKS.md v6).
 * Not here: where the engine forks and joins (engine_pass.c), the ops. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_internal.h"
#include "core/log.h"

static int env_is(const char *name, const char *value)
{
	const char *v = getenv(name);
	return v && strcmp(v, value) == 0;
}

enum lms_status lms_cuda_streams_init(struct cuda_ctx *c)
{
	c->main_stream = c->stream;
	c->d_lt_main = c->d_lt_work;
	if (env_is("LMSENS_CUDA_STREAMS", "1"))
		return LMS_OK;
	int least = 0, greatest = 0;
	CU_CHECK(c, "init", cudaDeviceGetStreamPriorityRange(&least, &greatest));
	int prio = env_is("LMSENS_CUDA_SIDE_PRIO", "low") ? least : 0;
	CU_CHECK(c, "init", cudaStreamCreateWithPriority(&c->side, cudaStreamNonBlocking, prio));
	CU_CHECK(c, "init", cudaMalloc(&c->d_lt_side, LT_WORKSPACE_BYTES));
	CU_CHECK(c, "init", cudaEventCreateWithFlags(&c->fork, cudaEventDisableTiming));
	for (int i = 0; i < LMS_SIDE_SLOTS; i++)
		CU_CHECK(c, "init", cudaEventCreateWithFlags(&c->mark[i], cudaEventDisableTiming));
	return LMS_OK;
}

void lms_cuda_streams_free(struct cuda_ctx *c)
{
	if (c->side)
		(void)cudaStreamSynchronize(c->side);
	for (int i = 0; i < LMS_SIDE_SLOTS; i++)
		if (c->mark[i])
			(void)cudaEventDestroy(c->mark[i]);
	if (c->fork)
		(void)cudaEventDestroy(c->fork);
	if (c->d_lt_side)
		(void)cudaFree(c->d_lt_side);
	if (c->side)
		(void)cudaStreamDestroy(c->side);
	c->side = NULL;
	c->d_lt_side = NULL;
}

/* Sends later ops to stream s with workspace w. */
static enum lms_status use_stream(struct cuda_ctx *c, cudaStream_t s, void *w)
{
	c->stream = s;
	c->d_lt_work = w;
	BLAS_CHECK(c, "side stream", cublasSetStream(c->blas, s));
	BLAS_CHECK(c, "side stream", cublasSetWorkspace(c->blas, w, LT_WORKSPACE_BYTES));
	return LMS_OK;
}

/* The side stream is used now (not in debug or profile mode, which time or
 * check each op on one stream). */
static int side_on(const struct cuda_ctx *c)
{
	return c->side && !c->debug && !c->profile;
}

enum lms_status lms_cuda_side_begin(void *vc)
{
	struct cuda_ctx *c = vc;
	if (!side_on(c) || c->on_side)
		return LMS_OK;
	lms_cuda_use_device(c);
	CU_CHECK(c, "side_begin", cudaEventRecord(c->fork, c->main_stream));
	CU_CHECK(c, "side_begin", cudaStreamWaitEvent(c->side, c->fork, 0));
	LMS_TRY(use_stream(c, c->side, c->d_lt_side));
	c->on_side = 1;
	return LMS_OK;
}

enum lms_status lms_cuda_side_end(void *vc, int slot)
{
	struct cuda_ctx *c = vc;
	if (!c->on_side)
		return LMS_OK;
	if (slot < 0 || slot >= LMS_SIDE_SLOTS)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "side_end: slot %d outside [0, %d)", slot,
				LMS_SIDE_SLOTS);
	c->on_side = 0; /* back on main whatever happens below */
	enum lms_status st = use_stream(c, c->main_stream, c->d_lt_main);
	CU_CHECK(c, "side_end", cudaEventRecord(c->mark[slot], c->side));
	c->marked[slot] = 1;
	return st;
}

enum lms_status lms_cuda_side_join(void *vc, int slot)
{
	struct cuda_ctx *c = vc;
	if (slot < 0 || slot >= LMS_SIDE_SLOTS)
		return lms_fail(LMS_ERR_INTERNAL, NULL, "side_join: slot %d outside [0, %d)", slot,
				LMS_SIDE_SLOTS);
	if (!c->side || !c->marked[slot])
		return LMS_OK;
	CU_CHECK(c, "side_join", cudaStreamWaitEvent(c->main_stream, c->mark[slot], 0));
	return LMS_OK;
}

enum lms_status lms_cuda_side_settle(struct cuda_ctx *c)
{
	for (int i = 0; i < LMS_SIDE_SLOTS; i++) {
		if (!c->marked[i])
			continue;
		CU_CHECK(c, "side_join", cudaStreamWaitEvent(c->main_stream, c->mark[i], 0));
		c->marked[i] = 0;
	}
	return LMS_OK;
}
