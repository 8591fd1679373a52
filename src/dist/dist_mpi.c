/* dist_mpi.c — MPI start-up and shutdown (dist.h: lms_dist_init ...), the
 * local rank → GPU binding and the launcher sanity checks.
 *
 * MPI is initialised only when a launcher started the process (mpirun/prte
 * set OMPI_COMM_WORLD_SIZE, PMIx sets PMIX_RANK, Hydra/MPICH set PMI_SIZE) or
 * LMSENS_MPI=1; a plain `lmsens ...` stays one rank with no MPI calls (a
 * singleton MPI_Init would start helper daemons for nothing). We ask for
 * MPI_THREAD_MULTIPLE: rank 0's coordinator thread talks MPI while its main
 * thread computes; runner_mpi.c makes rank 0 a pure coordinator when the
 * library offers less.
 *
 * Start-up cost: under Open MPI's mpirun with every rank on this node
 * (OMPI_COMM_WORLD_LOCAL_SIZE == OMPI_COMM_WORLD_SIZE), the MCA settings of
 * a single-node run are set before MPI_Init unless the environment sets
 * them: pml ob1 with btl self,vader (shared memory, copy-in/copy-out), osc
 * without UCX. Open MPI's default there selects the UCX pml, whose
 * initialisation probes every transport (CUDA's included) on every rank;
 * the runner only sends small host messages. The condition is the same on
 * every rank, so all ranks select the same pml. LMSENS_MPI_TUNE=0 keeps
 * Open MPI's defaults; other launchers and several nodes are left alone.
 *
 * GPU: the node-local rank comes from MPI_Comm_split_type(SHARED). When
 * several ranks share a node and CUDA_VISIBLE_DEVICES lists k devices (or,
 * unset, k /dev/nvidiaN nodes exist), CUDA_VISIBLE_DEVICES is narrowed to the
 * entry local_rank % k before any CUDA call, so the backend's device 0 is this
 * rank's GPU; one visible device is used as is (Slurm --gpus-per-task). The
 * choice is logged per rank. Not here: the runner (runner_mpi.c). */
#include <dirent.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "dist/dist_internal.h"

int lms_dist_thread_multiple(void);

static struct {
	int inited, rank, world, local_rank, local_size, thread_multiple;
	time_t start;
} g = {0, 0, 1, 0, 1, 0, 0};

static void abort_hook(void)
{
	MPI_Abort(MPI_COMM_WORLD, 134);
	abort();
}

static int launched(void)
{
	const char *e = getenv("LMSENS_MPI");
	if (e && strcmp(e, "0") == 0)
		return 0;
	if (e && strcmp(e, "1") == 0)
		return 1;
	return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

static int count_nvidia_nodes(void)
{
	DIR *d = opendir("/dev");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *s = e->d_name;
		if (strncmp(s, "nvidia", 6) == 0 && s[6] >= '0' && s[6] <= '9' &&
		    strspn(s + 6, "0123456789") == strlen(s + 6))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

static void bind_gpu(void)
{
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
	char pick[256] = "";
	int k = 0;
	if (cvd && cvd[0]) {
		char buf[1024];
		snprintf(buf, sizeof buf, "%s", cvd);
		char *save = NULL;
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			k++;
		int want = k ? g.local_rank % k : 0, i = 0;
		snprintf(buf, sizeof buf, "%s", cvd);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), i++)
			if (i == want)
				snprintf(pick, sizeof pick, "%s", t);
	} else {
		k = count_nvidia_nodes();
		if (k > 0)
			snprintf(pick, sizeof pick, "%d", g.local_rank % k);
	}
	if (k > 1 && g.local_size > 1 && pick[0]) {
		if (!getenv("CUDA_DEVICE_ORDER"))
			setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
		setenv("CUDA_VISIBLE_DEVICES", pick, 1);
	}
	LMS_INFO("rank %d of %d: local rank %d of %d on %s, CUDA_VISIBLE_DEVICES=%s", g.rank,
		 g.world, g.local_rank, g.local_size, lms_dist_host(),
		 getenv("CUDA_VISIBLE_DEVICES") ? getenv("CUDA_VISIBLE_DEVICES") : "(unset)");
}

/* The single-node MCA settings (header); returns how many were set. */
static int tune_single_node(void)
{
	static const char *const kv[][2] = {
	    {"OMPI_MCA_pml", "ob1"},
	    {"OMPI_MCA_btl", "self,vader"},
	    {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"},
	    {"OMPI_MCA_osc", "^ucx"},
	};
	const char *t = getenv("LMSENS_MPI_TUNE");
	const char *ws = getenv("OMPI_COMM_WORLD_SIZE"), *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
	if ((t && strcmp(t, "0") == 0) || !ws || !ls || atoi(ws) < 1 || atoi(ws) != atoi(ls))
		return 0;
	int n = 0;
	for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
		if (!getenv(kv[i][0]) && setenv(kv[i][0], kv[i][1], 0) == 0)
			n++;
	return n;
}

void lms_dist_init(int *argc, char ***argv)
{
	g.start = time(NULL);
	if (!launched())
		return;
	int tuned = tune_single_node();
	int provided = 0;
	if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
		fprintf(stderr, "error: MPI_Init_thread failed\nhint: check the MPI launcher "
				"(mpirun/srun --mpi=pmix)\n");
		exit(2);
	}
	g.inited = 1;
	g.thread_multiple = provided >= MPI_THREAD_MULTIPLE;
	MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &g.world);
	lms_log_set_rank(g.rank);
	lms_set_fatal_hook(abort_hook);
	atexit(lms_dist_finalize);
	MPI_Comm node;
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g.rank, MPI_INFO_NULL, &node);
	MPI_Comm_rank(node, &g.local_rank);
	MPI_Comm_size(node, &g.local_size);
	MPI_Comm_free(&node);
	long long t = (long long)g.start;
	MPI_Bcast(&t, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
	g.start = (time_t)t;
	const char *nt = getenv("SLURM_NTASKS");
	if (nt && getenv("SLURM_STEP_ID") && atoi(nt) != g.world) {
		if (g.rank == 0)
			fprintf(
			    stderr,
			    "error: MPI sees %d rank(s) but Slurm started %s tasks (SLURM_NTASKS)\n"
			    "hint: launch with 'srun --mpi=pmix' (check 'srun --mpi=list') or "
			    "mpirun\n",
			    g.world, nt);
		MPI_Finalize();
		g.inited = 0;
		exit(2);
	}
	if (tuned && g.rank == 0)
		LMS_INFO("one node: MPI started with pml %s, btl %s (LMSENS_MPI_TUNE=0: Open MPI's "
			 "defaults)",
			 getenv("OMPI_MCA_pml"), getenv("OMPI_MCA_btl"));
	bind_gpu();
}

void lms_dist_finalize(void)
{
	int fin = 0;
	if (!g.inited)
		return;
	g.inited = 0;
	MPI_Finalized(&fin);
	if (!fin)
		MPI_Finalize();
}

int lms_dist_rank(void)
{
	return g.rank;
}

int lms_dist_world(void)
{
	return g.world;
}

time_t lms_dist_start_time(void)
{
	return g.start ? g.start : time(NULL);
}

int lms_dist_thread_multiple(void)
{
	return g.thread_multiple;
}
