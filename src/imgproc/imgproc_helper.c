/*
 * imgproc_helper.c - the image processor that hands each job to a
 * sandboxed helper process (see imgproc_helper.h).  Called by worker
 * threads (process) and by the gateway's threads (probe); the pool's
 * slots are guarded by one mutex, a slot's helper is used by the one
 * thread that took the slot; the probe helper has a mutex of its own.
 *
 * DESIGN
 *
 * A crash in libvips or a library under it (liborc, libheif, a codec) must
 * cost one job, not the server.  So the host keeps every descriptor of
 * storage and network and the helpers hold nothing but the original they
 * are handed: the host opens the original, passes its descriptor over a
 * socket pair (SCM_RIGHTS) with the variant specs, and reads back the
 * result struct and the encoded variants (helper_proto.h).
 *
 * Helpers are `imgpipe __helper` started with posix_spawn (fork+exec: a
 * fork of the threaded host that did not exec could deadlock on a lock
 * held by another thread).  Each warms up (libvips, modules, fonts, the
 * watermark, every loader and saver, on tiny images), then confines
 * itself (helper_confine.c) and answers READY.
 *
 * A helper that dies, breaks the protocol, or passes limits.timeout plus
 * 10 s (the host kills it with SIGKILL) is reaped, and the job fails
 * with IP_ERETRY and the reason ("image helper crashed: signal 11 (SEGV)",
 * "out of memory", "timed out"), so the worker's retry policy applies;
 * the slot starts a new helper for its next job.  A helper is also
 * retired after worker.helper_jobs jobs (memory fragmentation, leaks).
 *
 * The gateway's probe (format, dimensions, orientation: the header only)
 * runs in a helper too, one of its own, so that an upload never waits
 * behind the pool's long jobs and the server process runs no decoder at
 * all.  It is started when the processor is opened: its READY (or the
 * error it answers instead, a missing watermark say) is the check of the
 * image configuration that a server makes before it listens.  A probe
 * that crashes its helper is the image's fault: 422, not a retry.
 */
#include "imgproc/imgproc_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "imgproc/helper_child.h"
#include "imgproc/helper_proto.h"

extern char **environ;

/* How long a helper may take to warm up (libvips, fonts, watermark). */
#define HELPER_START_MS 60000
/* Beyond limits.timeout: libvips' own deadline should have answered
 * (IP_ETIMEOUT) by then; a helper still silent is stuck. */
#define HELPER_GRACE_MS 10000
/* A helper whose socket closed has this long to be reapable (it is
 * exiting) before it is killed (it broke the protocol but lives). */
#define HELPER_EXIT_WAIT_MS 2000
/* The largest encoded variant accepted from a helper. */
#define HELPER_DATA_MAX ((uint64_t)1 << 31)

struct helper {
	pid_t pid; /* 0: none running */
	int sock;
	int jobs;
	bool ready;
	bool busy;
	bool crashed; /* its last end was a signal of its own making */
};

struct imgproc_helper {
	struct imgproc base;
	struct config *cfg;
	pthread_mutex_t probe_lock;
	struct helper prober; /* probes, one at a time */
	char exe[PATH_MAX];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n;
	struct helper *slots;
};

static char helper_exe[PATH_MAX];

void
imgproc_helper_set_exe(const char *exe)
{
	util_strlcpy(helper_exe, exe, sizeof(helper_exe));
}

const char *
imgproc_helper_exe(void)
{
	return helper_exe[0] != '\0' ? helper_exe : NULL;
}

static struct imgproc_helper *
helper_cast(struct imgproc *p)
{
	return (struct imgproc_helper *)p;
}

/* ---- one helper's life -------------------------------------------- */

/* A helper's environment: the host's, plus glibc's transparent huge pages
 * for malloc (glibc >= 2.35; the kernel's THP mode "madvise" or
 * "always").  A photo's buffers of 4 MiB and more (a progressive JPEG's
 * coefficients, the decoded image) are mapped per job (util_tune_malloc);
 * in 2 MiB pages they take one fault per 2 MiB instead of 512, which on a
 * virtualised MMU was a fifth of a photo's time (docs/ARCHITECTURE.md,
 * "A helper's allocator").
 * GLIBC_TUNABLES already in the environment wins.  Built once, before the
 * first spawn; never freed. */
static char **helper_envp;
static pthread_once_t helper_env_once = PTHREAD_ONCE_INIT;

static void
helper_env_build(void)
{
	size_t n = 0;
	bool set = false;

	while (environ[n] != NULL) {
		if (strncmp(environ[n], "GLIBC_TUNABLES=", 15) == 0)
			set = true;
		n++;
	}
	helper_envp = calloc(n + 2, sizeof(*helper_envp));
	if (helper_envp == NULL)
		return; /* spawn with environ as it is */
	memcpy(helper_envp, environ, n * sizeof(*helper_envp));
	if (!set)
		helper_envp[n] =
		    (char *)"GLIBC_TUNABLES=glibc.malloc.hugetlb=1";
}

static int
helper_spawn(struct imgproc_helper *p, struct helper *hp, struct ip_error *err)
{
	char *argv[] = {(char *)"imgpipe", (char *)"__helper",
			hp == &p->prober ? (char *)"probe" : NULL, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	int sv[2];
	int e;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return ip_error_set(err, IP_ERETRY, "image helper: socket: %s",
				    strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], HELPER_FD);
	/* stdout is the server's (its "listening on" line): not a helper's */
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					 O_WRONLY, 0);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setpgroup(&at, 0); /* the terminal's ^C is ours */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					  POSIX_SPAWN_SETPGROUP);
	pthread_once(&helper_env_once, helper_env_build);
	e = posix_spawn(&hp->pid, p->exe, &fa, &at, argv,
			helper_envp != NULL ? helper_envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	if (e != 0) {
		hp->pid = 0;
		close(sv[0]);
		return ip_error_set(err, IP_ERETRY,
				    "image helper: cannot start %s: %s", p->exe,
				    strerror(e));
	}
	hp->sock = sv[0];
	hp->jobs = 0;
	hp->ready = false;
	e = helper_send(hp->sock, HELPER_HELLO, p->cfg, sizeof(*p->cfg), -1);
	if (e != 0)
		return ip_error_set(err, IP_ERETRY, "image helper: hello: %s",
				    strerror(-e));
	log_debug("image helper %d started", (int)hp->pid);
	return IP_OK;
}

/* Why a helper ended, from its wait status. */
static void
describe_exit(int status, bool timed_out, char *why, size_t len)
{
	if (timed_out) {
		snprintf(why, len, "timed out");
	} else if (WIFEXITED(status) &&
		   WEXITSTATUS(status) == HELPER_EXIT_OOM) {
		snprintf(why, len, "out of memory");
	} else if (WIFEXITED(status)) {
		snprintf(why, len, "exited with status %d",
			 WEXITSTATUS(status));
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU) {
		snprintf(why, len, "timed out (CPU limit)");
	} else if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));

		snprintf(why, len, "crashed: signal %d (SIG%s)",
			 WTERMSIG(status), abbrev != NULL ? abbrev : "?");
	} else {
		snprintf(why, len, "ended (status %#x)", status);
	}
}

/* Stop hp (SIGKILL) and reap it; the reason into why when not NULL. */
static void
helper_reap(struct helper *hp, bool timed_out, char *why, size_t len)
{
	int status = 0;
	pid_t r = 0;

	if (hp->pid <= 0)
		return;
	if (timed_out || why == NULL)
		kill(hp->pid, SIGKILL);
	close(hp->sock);
	hp->sock = -1;
	/* A helper that broke the protocol but lives: the closed socket
	 * ends it, SIGKILL makes sure. */
	for (int i = 0; i < HELPER_EXIT_WAIT_MS / 10; i++) {
		r = waitpid(hp->pid, &status, WNOHANG);
		if (r != 0 && !(r < 0 && errno == EINTR))
			break;
		usleep(10000);
	}
	if (r == 0) {
		kill(hp->pid, SIGKILL);
		do
			r = waitpid(hp->pid, &status, 0);
		while (r < 0 && errno == EINTR);
	}
	hp->crashed = !timed_out && WIFSIGNALED(status) &&
		      WTERMSIG(status) != SIGXCPU &&
		      WTERMSIG(status) != SIGKILL;
	if (why != NULL)
		describe_exit(status, timed_out, why, len);
	log_debug("image helper %d reaped", (int)hp->pid);
	hp->pid = 0;
	hp->ready = false;
}

/* The helper failed mid-job: reap it and fail the job (transient). */
static int
helper_lost(struct helper *hp, int e, struct ip_error *err)
{
	char why[128];
	pid_t pid = hp->pid;

	helper_reap(hp, e == -ETIMEDOUT, why, sizeof(why));
	log_warn("image helper %d: %s", (int)pid, why);
	return ip_error_set(err, IP_ERETRY, "image helper %s", why);
}

static int
helper_wait_ready(struct helper *hp, struct ip_error *err)
{
	struct helper_reply *rp = malloc(sizeof(*rp));
	struct helper_hdr h;
	int e;

	if (rp == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	e = helper_recv_hdr(hp->sock, &h, NULL,
			    util_mono_ms() + HELPER_START_MS);
	if (e == 0 && (h.type != HELPER_READY || h.len != sizeof(*rp)))
		e = -EPROTO;
	if (e == 0)
		e = helper_recv_body(hp->sock, rp, sizeof(*rp),
				     util_mono_ms() + HELPER_START_MS);
	if (e != 0) {
		free(rp);
		return helper_lost(hp, e, err);
	}
	if (rp->rc != IP_OK) {
		/* Its configuration cannot work (a missing watermark...):
		 * the same for every helper, so say what it said. */
		*err = rp->err;
		e = rp->rc;
		free(rp);
		helper_reap(hp, false, NULL, 0);
		return e;
	}
	free(rp);
	hp->ready = true;
	return IP_OK;
}

/* The result's variants, DATA frame by DATA frame. */
static int
recv_variants(struct helper *hp, struct imgproc_result *res, int64_t deadline)
{
	for (size_t i = 0; i < res->n; i++) {
		struct imgproc_variant *v = &res->variants[i];
		struct helper_hdr h;
		int e = helper_recv_hdr(hp->sock, &h, NULL, deadline);

		if (e != 0)
			return e;
		if (h.type != HELPER_DATA || h.len != v->len ||
		    h.len > HELPER_DATA_MAX)
			return -EPROTO;
		v->data = malloc(h.len > 0 ? h.len : 1);
		if (v->data == NULL)
			return -ENOMEM;
		e = helper_recv_body(hp->sock, v->data, h.len, deadline);
		if (e != 0)
			return e;
	}
	return 0;
}

/* One JOB (specs) or PROBE (n == 0) on hp: its result into *out. */
static int
helper_job(struct imgproc_helper *p, struct helper *hp, uint32_t type, int busy,
	   int fd, const struct variant_spec *specs, size_t n,
	   struct imgproc_result *out, struct ip_error *err)
{
	struct helper_job *job = calloc(1, sizeof(*job));
	struct helper_reply *rp = malloc(sizeof(*rp));
	int64_t deadline = util_mono_ms() + (int64_t)p->cfg->timeout_s * 1000 +
			   HELPER_GRACE_MS;
	struct helper_hdr h;
	int rc = IP_OK;
	int e;

	if (job == NULL || rp == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "out of memory");
		goto out;
	}
	job->n_specs = (uint32_t)n;
	if (n > 0) /* a probe has none (specs NULL) */
		memcpy(job->specs, specs, n * sizeof(specs[0]));
	job->fault = helper_fault_for(fd, type == HELPER_PROBE);
	job->threads = (uint32_t)imgproc_threads(p->cfg->vips_threads, busy);
	util_strlcpy(job->request_id, log_context_request(),
		     sizeof(job->request_id));
	util_strlcpy(job->image_id, log_context_image(), sizeof(job->image_id));
	e = helper_send(hp->sock, type, job, sizeof(*job), fd);
	if (e == 0)
		e = helper_recv_hdr(hp->sock, &h, NULL, deadline);
	if (e == 0 && (h.type != HELPER_RESULT || h.len != sizeof(*rp)))
		e = -EPROTO;
	if (e == 0)
		e = helper_recv_body(hp->sock, rp, sizeof(*rp), deadline);
	if (e == 0 && (rp->res.n > RECORD_VARIANTS_MAX ||
		       (type == HELPER_PROBE && rp->res.n != 0)))
		e = -EPROTO;
	if (e != 0) {
		rc = helper_lost(hp, e, err);
		goto out;
	}
	hp->jobs++;
	if (rp->rc != IP_OK) {
		*err = rp->err;
		rc = rp->rc;
		goto out;
	}
	for (size_t i = 0; i < RECORD_VARIANTS_MAX; i++)
		rp->res.variants[i].data = NULL;
	e = recv_variants(hp, &rp->res, deadline);
	if (e != 0) {
		imgproc_result_clear(&rp->res);
		rc = helper_lost(hp, e, err);
		goto out;
	}
	*out = rp->res;
out:
	free(job);
	free(rp);
	return rc;
}

/* ---- the pool ----------------------------------------------------- */

/* A free helper, and in *busy how many are taken with it. */
static struct helper *
slot_take(struct imgproc_helper *p, int *busy)
{
	struct helper *hp = NULL;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (int i = 0; i < p->n && hp == NULL; i++)
			if (!p->slots[i].busy)
				hp = &p->slots[i];
		if (hp != NULL)
			break;
		pthread_cond_wait(&p->cond, &p->lock);
	}
	hp->busy = true;
	*busy = 0;
	for (int i = 0; i < p->n; i++)
		*busy += p->slots[i].busy;
	pthread_mutex_unlock(&p->lock);
	return hp;
}

static void
slot_give(struct imgproc_helper *p, struct helper *hp)
{
	pthread_mutex_lock(&p->lock);
	hp->busy = false;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static int
helper_process(struct imgproc *ip, int fd, const struct variant_spec *specs,
	       size_t n, struct imgproc_result *out, struct ip_error *err)
{
	struct imgproc_helper *p = helper_cast(ip);
	struct helper *hp;
	int busy;
	int rc = IP_OK;

	if (n > RECORD_VARIANTS_MAX)
		return ip_error_set(err, IP_EINVAL, "too many variants");
	memset(out, 0, sizeof(*out));
	hp = slot_take(p, &busy);
	if (hp->pid == 0)
		rc = helper_spawn(p, hp, err);
	if (rc == IP_OK && !hp->ready)
		rc = helper_wait_ready(hp, err);
	if (rc == IP_OK)
		rc =
		    helper_job(p, hp, HELPER_JOB, busy, fd, specs, n, out, err);
	if (hp->pid > 0 &&
	    (rc == IP_ERETRY ||
	     (p->cfg->helper_jobs > 0 && hp->jobs >= p->cfg->helper_jobs)))
		helper_reap(hp, false, NULL, 0); /* recycled */
	slot_give(p, hp);
	return rc;
}

/* The probe helper running and READY (lock held). */
static int
prober_ready(struct imgproc_helper *p, struct ip_error *err)
{
	int rc = IP_OK;

	if (p->prober.pid == 0)
		rc = helper_spawn(p, &p->prober, err);
	if (rc == IP_OK && !p->prober.ready)
		rc = helper_wait_ready(&p->prober, err);
	return rc;
}

static int
helper_probe(struct imgproc *ip, int fd, struct image_info *out,
	     struct ip_error *err)
{
	struct imgproc_helper *p = helper_cast(ip);
	struct helper *hp = &p->prober;
	struct imgproc_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	pthread_mutex_lock(&p->probe_lock);
	rc = prober_ready(p, err);
	if (rc == IP_OK)
		rc = helper_job(p, hp, HELPER_PROBE, 1, fd, NULL, 0, &res, err);
	if (rc == IP_OK)
		*out = res.info;
	if (rc == IP_ERETRY && hp->pid == 0 && hp->crashed) {
		char why[IP_ERROR_MSG_MAX];

		util_strlcpy(why, err->msg, sizeof(why));
		rc = ip_error_set(err, IP_EUNPROCESSABLE,
				  "reading this image's header crashed its "
				  "decoder (%.200s)",
				  why);
	} else if (hp->pid > 0 && p->cfg->helper_jobs > 0 &&
		   hp->jobs >= p->cfg->helper_jobs)
		helper_reap(hp, false, NULL, 0); /* recycled */
	pthread_mutex_unlock(&p->probe_lock);
	return rc;
}

static void
helper_close(struct imgproc *ip)
{
	struct imgproc_helper *p = helper_cast(ip);

	for (int i = 0; p->slots != NULL && i < p->n; i++)
		helper_reap(&p->slots[i], false, NULL, 0);
	helper_reap(&p->prober, false, NULL, 0);
	pthread_mutex_destroy(&p->probe_lock);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->slots);
	free(p->cfg);
	free(p);
}

static const struct imgproc_ops imgproc_helper_ops = {
    .name = "vips-helpers",
    .close = helper_close,
    .probe = helper_probe,
    .process = helper_process,
};

int
imgproc_helper_open(const struct config *cfg, struct imgproc **out,
		    struct ip_error *err)
{
	const char *exe = imgproc_helper_exe();
	struct imgproc_helper *p;
	int rc;

	*out = NULL;
	if (exe == NULL)
		return ip_error_set(err, IP_ENOTSUP,
				    "this program cannot start image helpers");
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	p->base.ops = &imgproc_helper_ops;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->probe_lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->prober.sock = -1;
	util_strlcpy(p->exe, exe, sizeof(p->exe));
	p->n = cfg->workers > 0 ? cfg->workers : 1;
	p->cfg = malloc(sizeof(*p->cfg));
	p->slots = calloc((size_t)p->n, sizeof(*p->slots));
	if (p->cfg == NULL || p->slots == NULL) {
		helper_close(&p->base);
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	}
	*p->cfg = *cfg;
	for (int i = 0; i < p->n; i++)
		p->slots[i].sock = -1;
	pthread_mutex_lock(&p->probe_lock);
	rc = prober_ready(p, err);
	pthread_mutex_unlock(&p->probe_lock);
	if (rc != IP_OK) {
		helper_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return IP_OK;
}
