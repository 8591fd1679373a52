/* reduce_nccl.c — the data-parallel reductions of a GPU worker group over
 * NCCL (dist_internal.h: lms_nccl_*), used by runner_mpi.c instead of
 * MPI_Iallreduce when the group's bundle runs on CUDA.
 *
 * One ncclComm per group, made from the group's MPI communicator: group rank
 * 0 calls ncclGetUniqueId, MPI_Bcast hands the id to the others, every rank
 * calls ncclCommInitRank on its device 0 (dist_mpi.c narrowed
 * CUDA_VISIBLE_DEVICES to the rank's GPU). Before that, one MPI_Allgather
 * checks that every rank sees a device and that no two ranks share one
 * (host name + PCI bus id; NCCL refuses a communicator with two ranks on one
 * GPU), so the decision "NCCL or not" is the same on every rank and no rank
 * is left waiting in ncclCommInitRank. NCCL_NVLS_ENABLE=0 is set unless the
 * environment sets it (NVLink multicast stays off).
 *
 * A reduction copies the host array into a device buffer of the
 * communicator (grown as needed), runs ncclAllReduce in place (ncclMax on
 * float, ncclSum on double) on the communicator's own stream and copies the
 * result back; the wait polls cudaStreamQuery with a growing sleep and
 * checks ncclCommGetAsyncError, so a peer that died is an error, not a hang.
 * Exactness: max is exact; in the sums every entry is non-zero on exactly
 * one rank (pipeline.h), so x + 0 + ... = x whatever order NCCL adds in, and
 * the results equal MPI's bit for bit.
 *
 * Opening in the background (lms_nccl_start / lms_nccl_wait): the
 * communicator's set-up (~0.65 s on 2 H200s: bootstrap, topology, P2P
 * buffers; the first CUDA context when the backend has not made it yet)
 * runs on a thread while the main thread loads the model and calibrates; the
 * runner waits for it only at the group's first NCCL reduction. The thread
 * works on a duplicate of the group's communicator (MPI_Comm_dup on the main
 * thread), so its collectives never interleave with the main thread's on the
 * group's own communicator; that needs MPI_THREAD_MULTIPLE, and without it
 * lms_nccl_wait opens synchronously (the old behaviour).
 *
 * Not here: choosing NCCL or MPI per bundle (runner_mpi.c), CUDA kernels. */
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "dist/dist_internal.h"

enum { ID_LEN = 320 };

struct lms_nccl {
	ncclComm_t comm;
	cudaStream_t stream;
	void *d_buf;
	size_t cap; /* bytes of d_buf */
	int rank, size;
	double t_init;	 /* seconds in lms_nccl_open */
	double t_wait;	 /* seconds the caller waited for it in lms_nccl_wait */
	int threaded;	 /* opened on a background thread */
	double t_reduce; /* seconds in reductions, copies included */
	long long calls, bytes;
};

static void nap(long *us)
{
	struct timespec ts = {0, *us * 1000};
	nanosleep(&ts, NULL);
	*us = *us < 10000 ? 2 * *us : 10000;
}

/* This rank's GPU as "host/PCI bus id", or "" when it has none (why[] says). */
static void my_gpu(char id[ID_LEN], char *why, size_t cap)
{
	int n = 0;
	char bus[64] = "";
	memset(id, 0, ID_LEN); /* all ID_LEN bytes go through MPI_Allgather */
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e == cudaSuccess && n < 1)
		e = cudaErrorNoDevice;
	if (e == cudaSuccess)
		e = cudaSetDevice(0);
	if (e == cudaSuccess)
		e = cudaDeviceGetPCIBusId(bus, (int)sizeof bus, 0);
	if (e != cudaSuccess) {
		snprintf(why, cap, "%s", cudaGetErrorString(e));
		return;
	}
	snprintf(id, ID_LEN, "%.200s/%.63s", lms_dist_host(), bus);
}

enum lms_status lms_nccl_open(void *mpi_comm, struct lms_nccl **out)
{
	MPI_Comm comm = *(MPI_Comm *)mpi_comm;
	int rank = 0, size = 1;
	double t0 = lms_dist_now();
	*out = NULL;
	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	if (!getenv("NCCL_NVLS_ENABLE"))
		setenv("NCCL_NVLS_ENABLE", "0", 1);

	char id[ID_LEN], why[256] = "";
	my_gpu(id, why, sizeof why);
	char *all = calloc((size_t)size, ID_LEN);
	LMS_ASSERT(all != NULL);
	MPI_Allgather(id, ID_LEN, MPI_CHAR, all, ID_LEN, MPI_CHAR, comm);
	int bad = -1, dup = -1;
	for (int i = 0; i < size && bad < 0 && dup < 0; i++) {
		if (!all[(size_t)i * ID_LEN])
			bad = i;
		for (int j = i + 1; j < size && dup < 0; j++)
			if (strcmp(all + (size_t)i * ID_LEN, all + (size_t)j * ID_LEN) == 0)
				dup = j;
	}
	enum lms_status st = LMS_OK;
	if (bad >= 0)
		st = lms_fail(LMS_ERR_UNSUPPORTED, NULL,
			      "group rank %d has no usable CUDA device%s%s", bad,
			      bad == rank && why[0] ? ": " : "", bad == rank ? why : "");
	else if (dup >= 0)
		st =
		    lms_fail(LMS_ERR_UNSUPPORTED, "give every rank its own GPU (one rank per GPU)",
			     "two ranks of the group share the GPU %s", all + (size_t)dup * ID_LEN);
	free(all);
	if (st != LMS_OK)
		return st;

	/* the unique id: made on group rank 0, broadcast with its status */
	struct {
		int ok;
		ncclUniqueId uid;
	} hello;
	memset(&hello, 0, sizeof hello);
	if (rank == 0)
		hello.ok = ncclGetUniqueId(&hello.uid) == ncclSuccess;
	MPI_Bcast(&hello, (int)sizeof hello, MPI_BYTE, 0, comm);
	if (!hello.ok)
		return lms_fail(LMS_ERR_LIBRARY, NULL, "ncclGetUniqueId failed on group rank 0");

	struct lms_nccl *g = calloc(1, sizeof *g);
	LMS_ASSERT(g != NULL);
	g->rank = rank;
	g->size = size;
	ncclResult_t r = ncclCommInitRank(&g->comm, size, hello.uid, rank);
	int ok = r == ncclSuccess, all_ok = 0;
	if (ok && cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking) != cudaSuccess)
		ok = 0;
	MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
	if (!all_ok) {
		if (r == ncclSuccess)
			ncclCommDestroy(g->comm);
		if (g->stream)
			cudaStreamDestroy(g->stream);
		free(g);
		return lms_fail(LMS_ERR_LIBRARY, "set NCCL_DEBUG=WARN to see why",
				"ncclCommInitRank failed on a rank of the group%s%s",
				r != ncclSuccess ? ": " : "",
				r != ncclSuccess ? ncclGetErrorString(r) : "");
	}
	g->t_init = lms_dist_now() - t0;
	*out = g;
	return LMS_OK;
}

/* ---- opening in the background ------------------------------------------------ */

struct lms_nccl_pending {
	MPI_Comm comm; /* the duplicate the thread works on (threaded), else the group's */
	int threaded;
	pthread_t th;
	enum lms_status st; /* the thread's outcome */
	char error[1024], hint[256];
	struct lms_nccl *g;
};

static void *open_thread(void *arg)
{
	struct lms_nccl_pending *p = arg;
	p->st = lms_nccl_open(&p->comm, &p->g);
	if (p->st != LMS_OK) {
		snprintf(p->error, sizeof p->error, "%s", lms_error_message());
		snprintf(p->hint, sizeof p->hint, "%s", lms_error_hint() ? lms_error_hint() : "");
	}
	return NULL;
}

void lms_nccl_start(void *mpi_comm, int threaded, struct lms_nccl_pending **out)
{
	struct lms_nccl_pending *p = calloc(1, sizeof *p);
	LMS_ASSERT(p != NULL);
	p->threaded = threaded;
	if (!threaded) {
		p->comm = *(MPI_Comm *)mpi_comm;
	} else {
		MPI_Comm_dup(*(MPI_Comm *)mpi_comm, &p->comm);
		if (pthread_create(&p->th, NULL, open_thread, p) != 0) {
			/* no thread: lms_nccl_wait opens in line on the duplicate (the
			 * other ranks' threads meet it there: same communicator) */
			p->threaded = -1;
		}
	}
	*out = p;
}

enum lms_status lms_nccl_wait(struct lms_nccl_pending *p, struct lms_nccl **out)
{
	double t = lms_dist_now();
	*out = NULL;
	if (p->threaded > 0)
		pthread_join(p->th, NULL);
	else
		open_thread(p); /* in line: no MPI_THREAD_MULTIPLE, or no thread */
	if (p->threaded != 0)
		MPI_Comm_free(&p->comm);
	enum lms_status st = p->st;
	if (st == LMS_OK) {
		*out = p->g;
		p->g->t_wait = lms_dist_now() - t;
		p->g->threaded = p->threaded > 0;
	} else {
		lms_fail(st, p->hint[0] ? p->hint : NULL, "%s", p->error);
	}
	free(p);
	return st;
}

static enum lms_status wait_stream(struct lms_nccl *g)
{
	long us = 20;
	for (;;) {
		cudaError_t e = cudaStreamQuery(g->stream);
		if (e == cudaSuccess)
			return LMS_OK;
		if (e != cudaErrorNotReady)
			return lms_fail(LMS_ERR_LIBRARY, NULL, "NCCL reduction: %s",
					cudaGetErrorString(e));
		ncclResult_t ae = ncclSuccess;
		if (ncclCommGetAsyncError(g->comm, &ae) == ncclSuccess && ae != ncclSuccess &&
		    ae != ncclInProgress)
			return lms_fail(LMS_ERR_LIBRARY, "a rank of the group failed; see its log",
					"NCCL reduction: %s", ncclGetErrorString(ae));
		nap(&us);
	}
}

static enum lms_status reduce_once(struct lms_nccl *g, void *buf, size_t n, size_t esz,
				   ncclDataType_t t, ncclRedOp_t op)
{
	size_t bytes = n * esz;
	if (cudaSetDevice(0) != cudaSuccess)
		return lms_fail(LMS_ERR_LIBRARY, NULL, "NCCL reduction: cudaSetDevice(0) failed");
	if (bytes > g->cap) {
		cudaFree(g->d_buf);
		g->d_buf = NULL;
		g->cap = 0;
		if (cudaMalloc(&g->d_buf, bytes) != cudaSuccess)
			return lms_fail(LMS_ERR_NOMEM, NULL,
					"NCCL reduction: cannot allocate %zu bytes on the GPU",
					bytes);
		g->cap = bytes;
	}
	if (cudaMemcpyAsync(g->d_buf, buf, bytes, cudaMemcpyHostToDevice, g->stream) != cudaSuccess)
		return lms_fail(LMS_ERR_LIBRARY, NULL,
				"NCCL reduction: host-to-device copy failed");
	ncclResult_t r = ncclAllReduce(g->d_buf, g->d_buf, n, t, op, g->comm, g->stream);
	if (r != ncclSuccess)
		return lms_fail(LMS_ERR_LIBRARY, NULL, "ncclAllReduce: %s", ncclGetErrorString(r));
	if (cudaMemcpyAsync(buf, g->d_buf, bytes, cudaMemcpyDeviceToHost, g->stream) != cudaSuccess)
		return lms_fail(LMS_ERR_LIBRARY, NULL,
				"NCCL reduction: device-to-host copy failed");
	return wait_stream(g);
}

static enum lms_status reduce(struct lms_nccl *g, void *buf, size_t n, size_t esz, ncclDataType_t t,
			      ncclRedOp_t op)
{
	if (n == 0)
		return LMS_OK;
	double t0 = lms_dist_now();
	enum lms_status st = reduce_once(g, buf, n, esz, t, op);
	g->t_reduce += lms_dist_now() - t0;
	g->calls++;
	g->bytes += (long long)(n * esz);
	return st;
}

enum lms_status lms_nccl_max_f32(void *ctx, float *buf, size_t n)
{
	return reduce(ctx, buf, n, sizeof *buf, ncclFloat32, ncclMax);
}

enum lms_status lms_nccl_sum_f64(void *ctx, double *buf, size_t n)
{
	return reduce(ctx, buf, n, sizeof *buf, ncclFloat64, ncclSum);
}

void lms_nccl_version(char *out, size_t cap)
{
	int v = 0;
	ncclGetVersion(&v);
	/* NCCL >= 2.9: major * 10000 + minor * 100 + patch */
	snprintf(out, cap, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

void lms_nccl_close(struct lms_nccl *g)
{
	if (!g)
		return;
	if (g->rank == 0)
		LMS_INFO("NCCL: communicator set up in %.2f s (%s; the first reduction waited "
			 "%.2f s for it); %lld reductions, %.2f MB, %.3f s (host-device copies "
			 "included)",
			 g->t_init, g->threaded ? "in the background" : "in line", g->t_wait,
			 g->calls, (double)g->bytes / 1e6, g->t_reduce);
	cudaFree(g->d_buf);
	ncclCommDestroy(g->comm);
	cudaStreamDestroy(g->stream);
	free(g);
}
