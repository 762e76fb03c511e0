/*
 * server.c - the lifecycle of a server process (`imgpipe serve`,
 * `gateway`, `worker`): open the backends, recover, start the worker pool
 * and the HTTP transport as the role needs, wait for SIGTERM/SIGINT, drain.
 *
 * Runs on the main thread; the threads it starts (HTTP, workers) inherit
 * a signal mask that leaves SIGTERM/SIGINT to its sigwait().
 */
#include "app/server.h"

#include "api/api.h"
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"
#include "objstore/objstore.h"
#include "table/table.h"
#include "app/webhooks.h"
#include "hosts/workers.h"
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static sigset_t
block_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Blocked before any thread starts, so every thread inherits the
	 * mask and only sigwait() below sees the signals. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return set;
}

/*
 * One owner per data directory: DATA/imgpipe.lock, flock()ed for the life
 * of the process.  `serve` recovers the embedded queue and table at start
 * (it re-announces unfinished records and releases messages in flight),
 * which would steal a running server's work: it takes the lock
 * exclusively.  `gateway` and `worker` share the directory with each
 * other (their spool, the embedded backends' own locking) and take it
 * shared.  The lock dies with the process, kill -9 included.  The file
 * holds the last taker's pid and role, for the message.
 */
int
app_data_lock(const struct config *cfg, enum app_role role, int *fd_out,
	      struct ip_error *err)
{
	char path[CONFIG_PATH_MAX + 16];
	char who[64] = "";
	ssize_t n;
	int fd;

	*fd_out = -1;
	if (util_mkdir_p(cfg->data_dir) != 0)
		return ip_error_set(err, IP_EIO, "data dir %s: %s",
				    cfg->data_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/imgpipe.lock", cfg->data_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ip_error_set(err, IP_EIO, "%s: %s", path,
				    strerror(errno));
	if (flock(fd, (role == APP_SERVE ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		int e = errno;

		n = pread(fd, who, sizeof(who) - 1, 0);
		who[n > 0 ? n : 0] = '\0';
		who[strcspn(who, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			return ip_error_set(
			    err, IP_EEXIST,
			    "data dir %s is in use by another imgpipe (%s); "
			    "stop it, or give this one another --data-dir",
			    cfg->data_dir,
			    who[0] != '\0' ? who : "pid unknown");
		return ip_error_set(err, IP_EIO, "flock %s: %s", path,
				    strerror(e));
	}
	n = snprintf(who, sizeof(who), "pid %ld, imgpipe %s\n", (long)getpid(),
		     app_role_name(role));
	if (ftruncate(fd, 0) != 0 || pwrite(fd, who, (size_t)n, 0) != n)
		log_warn("%s: cannot write the owner's pid", path);
	*fd_out = fd;
	return IP_OK;
}

/* Count the keys of the table that can be used now. */
static int
usable_keys(struct app *app, size_t *usable, struct ip_error *err)
{
	struct apikey *all = calloc(TABLE_KEYS_MAX, sizeof(*all));
	int64_t now = util_now_ms();
	size_t n = 0;
	int rc;

	*usable = 0;
	if (all == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	rc = table_key_list(app->table, all, TABLE_KEYS_MAX, &n, err);
	for (size_t i = 0; rc == IP_OK && i < n; i++)
		if (apikey_unusable(&all[i], now) == NULL)
			(*usable)++;
	free(all);
	return rc;
}

/* Before listening: beyond loopback, keys must be on and exist, unless
 * server.insecure_public says to serve everyone. */
static int
check_exposure(struct app *app, struct api *api)
{
	const struct config *cfg = &app->cfg;
	bool local = auth_listen_is_loopback(cfg->listen);
	struct ip_error err;
	size_t usable = 0;

	if (!api->auth.on) {
		if (local)
			return IP_OK;
		if (!cfg->insecure_public) {
			log_error("cannot start: listening on '%s' (beyond "
				  "this machine) without API keys "
				  "(server.auth = off); set server.auth = "
				  "auto, or server.insecure_public = true to "
				  "serve everyone",
				  cfg->listen);
			return IP_EINVAL;
		}
		log_warn("server.insecure_public: anyone who reaches %s may "
			 "list, read, upload and delete every image",
			 cfg->listen[0] != '\0' ? cfg->listen : "this server");
		return IP_OK;
	}
	if (usable_keys(app, &usable, &err) != IP_OK) {
		log_error("cannot start: reading the API keys: %s", err.msg);
		return IP_EBACKEND;
	}
	log_info("API keys required (server.auth = %s): %zu usable",
		 cfg->auth == AUTH_ON ? "on" : "auto", usable);
	if (usable > 0)
		return IP_OK;
	if (!local) {
		log_error("cannot start: listening on '%s' (beyond this "
			  "machine) needs API keys and there are none; create "
			  "one first (imgpipe keys create --scope admin), or "
			  "set server.insecure_public = true to serve "
			  "everyone",
			  cfg->listen);
		return IP_EINVAL;
	}
	log_warn("API keys are required but none exist yet: every request "
		 "but health gets 401 until `imgpipe keys create`");
	return IP_OK;
}

/*
 * An empty table beside an input bucket that holds objects: the table was
 * lost or replaced (a fresh imgpipe.db), and every image is now an orphan
 * that no listing shows.  Cheap: one listing of one record and one of one
 * key.  A warning, not a refusal: a new table over an old bucket may be
 * meant.
 */
static void
warn_orphans(struct app *app)
{
	struct objstore_listing l;
	struct ip_error err;
	bool any = true;

	if (table_any(app->table, &any, &err) != IP_OK || any)
		return;
	memset(&l, 0, sizeof(l));
	if (objstore_list(app->store, app->cfg.input_bucket, "", NULL, 1, &l,
			  &err) == IP_OK &&
	    l.n > 0)
		log_warn("the table holds no record but the input bucket %s "
			 "holds objects (%s, ...): was the table lost or "
			 "replaced?  `imgpipe doctor --orphans` lists them, "
			 "`imgpipe doctor --repair --adopt` makes their "
			 "records again",
			 app->cfg.input_bucket, l.keys[0]);
	objstore_listing_free(&l);
}

const char *
app_role_name(enum app_role role)
{
	static const char *const names[] = {"serve", "gateway", "worker"};

	return (unsigned)role < 3 ? names[role] : "?";
}

int
app_serve(const struct config *cfg, enum app_role role, const char *version)
{
	struct workers *pool = NULL;
	struct webhooks *hooks = NULL;
	struct http_server *http = NULL;
	struct ip_error err;
	struct app app;
	struct api api;
	sigset_t set;
	int sig = 0;
	int lock_fd = -1;
	int rc;

	set = block_signals();
	if (app_data_lock(cfg, role, &lock_fd, &err) != IP_OK) {
		log_error("cannot start: %s", err.msg);
		return 1;
	}
	rc = app_open(&app, cfg, APP_NEED_ALL, &err);
	if (rc != IP_OK) {
		log_error("cannot start: %s", err.msg);
		close(lock_fd);
		return 1;
	}
	api_init(&api, &app);
	if (role != APP_WORKER)
		warn_orphans(&app);
	if (role == APP_SERVE) {
		rc = workers_recover(&app, &err);
		if (rc < 0) {
			log_error("recovery: %s", err.msg);
			goto out;
		}
	}
	if (role != APP_GATEWAY) {
		/* Before the workers: they chain its finished-callback. */
		rc = webhooks_start(&app, &hooks, &err);
		if (rc != IP_OK) {
			log_error("webhooks: %s", err.msg);
			goto out;
		}
		rc = workers_start(&app, app.cfg.workers, &pool, &err);
		if (rc != IP_OK) {
			log_error("workers: %s", err.msg);
			goto out;
		}
	}
	if (role == APP_WORKER && app.cfg.events_port > 0) {
		/* S3 notifications pushed by the store (events.h). */
		api.events_only = true;
		app.cfg.port = app.cfg.events_port;
	}
	if (role != APP_WORKER || api.events_only) {
		rc = check_exposure(&app, &api);
		if (rc != IP_OK)
			goto out;
		rc = http_server_start(&api, &http, &err);
		if (rc != IP_OK) {
			log_error("http: %s", err.msg);
			goto out;
		}
		printf("imgpipe listening on http://%s:%d\n", app.cfg.listen,
		       http_server_port(http));
		fflush(stdout);
	} else {
		printf("imgpipe worker ready: %d thread(s)\n", app.cfg.workers);
		fflush(stdout);
	}
	log_info("imgpipe %s %s: data in %s, %d worker(s)", app_role_name(role),
		 version, app.cfg.data_dir,
		 role == APP_GATEWAY ? 0 : app.cfg.workers);
	while (sigwait(&set, &sig) != 0)
		;
	log_info("signal %d: draining (at most %d s)", sig,
		 app.cfg.shutdown_grace_s);
	rc = IP_OK;
out:
	if (http != NULL)
		http_server_quiesce(http);
	app_stop(&app);
	if (pool != NULL &&
	    workers_stop(pool, (int64_t)app.cfg.shutdown_grace_s * 1000) > 0) {
		/* A thread is still inside libvips: exit without tearing down
		 * what it uses.  Its message is redelivered on restart. */
		log_warn("exiting with work in flight");
		fflush(NULL);
		_exit(rc == IP_OK ? 0 : 1);
	}
	webhooks_stop(hooks);
	if (http != NULL)
		http_server_stop(http);
	api_fini(&api);
	app_close(&app);
	if (lock_fd >= 0)
		close(lock_fd);
	log_info("stopped");
	return rc == IP_OK ? 0 : 1;
}
