/* runtime.c — process-level helpers of the runner that need no MPI: the
 * SIGTERM/SIGUSR1 stop flag, clocks, the host name, runner settings, and the
 * one-rank versions of lms_dist_init/finalize/rank/world for builds without
 * MPI (dist_mpi.c has the MPI ones).
 *
 * Signals: the handler only sets a volatile sig_atomic_t flag (async-signal
 * safe). The scheduler stops handing out work when it is set and the
 * pipeline polls it between batches (struct lms_aq_dist.interrupted). A
 * second signal restores the default action, so a user can still kill a
 * process that is stuck. The HDF5 lock (dist_internal.h) is a plain
 * process-wide mutex. Not here: the scheduling itself (sched.c). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "dist/dist_internal.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	if (g_stop)
		signal(sig, SIG_DFL); /* second signal: default action next time */
	g_stop = 1;
}

void lms_dist_install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

static pthread_mutex_t g_h5 = PTHREAD_MUTEX_INITIALIZER;

void lms_dist_h5_lock(void)
{
	pthread_mutex_lock(&g_h5);
}

void lms_dist_h5_unlock(void)
{
	pthread_mutex_unlock(&g_h5);
}

int lms_dist_interrupted(void)
{
	return g_stop != 0;
}

void lms_dist_request_stop(void)
{
	g_stop = 1;
}

double lms_dist_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double lms_dist_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *lms_dist_host(void)
{
	static char host[256];
	if (!host[0] && gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "unknown");
	return host;
}

int lms_dist_ranks_per_job(const struct lms_plan *plan)
{
	const struct lms_cfg *r =
	    plan->n_jobs ? lms_cfg_find(plan->jobs[0].cfg, "runner.ranks_per_job") : NULL;
	if (!r || r->type != LMS_CFG_INT || r->i < 1)
		return 1;
	return r->i > 1 << 20 ? 1 << 20 : (int)r->i;
}

#ifndef LMS_HAVE_MPI
static time_t g_start;

void lms_dist_init(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_start = time(NULL);
}

void lms_dist_finalize(void) {}

int lms_dist_rank(void)
{
	return 0;
}

int lms_dist_world(void)
{
	return 1;
}

time_t lms_dist_start_time(void)
{
	return g_start ? g_start : time(NULL);
}
#endif
