/*
 * workers.c - the worker pool and start-up recovery (see workers.h).
 */
#include "hosts/workers.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "app/app.h"
#include "api/admission.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECEIVE_WAIT_MS 1000
#define STORAGE_POLL_MS 200 /* how often a worker looks for room again */
#define STORAGE_RETRY_MS 1000 /* delay of a message released when full */

struct worker {
	pthread_t thread;
	struct workers *pool;
	int index;
	bool started;
	atomic_bool finished;
};

struct workers {
	struct app *app;
	int n;
	struct worker *threads;
	/* The function's finished-callback before ours (chained). */
	void (*next_finished)(void *arg, const struct record *r);
	void *next_finished_arg;
};

/* A record ended here: its admission leaves the gateway's ledger (the
 * gateway of `serve` is this process), then the app's callback runs. */
static void
on_finished(void *arg, const struct record *r)
{
	struct workers *pool = arg;

	admission_release(pool->app, r->id);
	if (pool->next_finished != NULL)
		pool->next_finished(pool->next_finished_arg, r);
}

static int64_t
backoff_delay(const struct config *cfg, int attempt)
{
	return util_backoff_ms(cfg->backoff_ms, cfg->backoff_max_ms, attempt);
}

/* Sleep until the data directory has room again (diskspace_check), the
 * pool stops, or until_ms (monotonic) passes.  True when there is room. */
static bool
wait_for_room(struct app *app, int64_t until_ms)
{
	struct ip_error err;

	while (diskspace_check(&app->space, &err) != IP_OK) {
		struct timespec ts = {0, STORAGE_POLL_MS * 1000000L};

		if (atomic_load(&app->stopping) || util_mono_ms() >= until_ms)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

/*
 * The function met a full disk (or a read-only store) writing its
 * results.  DESIGN: that is the host's fault, not the image's, so it must
 * cost neither the image (no `failed`, no dead-letter) nor the 120 s of a
 * visibility timeout.  The worker keeps the message, waits until there is
 * room (bounded by half the visibility timeout, so the message is never
 * re-delivered under it) and runs the same delivery again; each such run
 * counts as a retry.  Still full at the bound: the message is released
 * with a short delay (one more delivery; if even that write fails, the
 * visibility timeout brings it back).  Returns the last run's code.
 */
static int
storage_full(struct workers *pool, struct queue_msg *m,
	     struct function_invocation *inv, struct function_stats *stats,
	     struct ip_error *err)
{
	struct app *app = pool->app;
	int64_t until = util_mono_ms() + (int64_t)app->cfg.visibility_s * 500;
	struct ip_error e2;
	int rc = IP_ENOSPACE;

	while (rc == IP_ENOSPACE) {
		app_note_error(app, rc);
		atomic_fetch_add(&app->metrics.attempts_retried, 1);
		log_warn("event %s: storage full (%s); retried when there is "
			 "room",
			 m->id, err->msg);
		if (!wait_for_room(app, until))
			break;
		ip_error_clear(err);
		rc = function_handle_event(&app->fn, m->body, m->len, inv,
					   stats, err);
	}
	if (rc == IP_ENOSPACE &&
	    queue_retry(app->queue, m, STORAGE_RETRY_MS, &e2) != IP_OK)
		log_warn("queue retry %s: %s", m->id, e2.msg);
	return rc;
}

static void
run_one(struct workers *pool, struct queue_msg *m)
{
	struct app *app = pool->app;
	const struct config *cfg = &app->cfg;
	struct function_invocation inv = {.claim_budget = 0};
	struct function_stats stats;
	struct ip_error err, e2;
	int rc;

	ip_error_clear(&err);
	inv.attempt = m->receive_count;
	inv.final = m->receive_count >= cfg->max_attempts;
	if (m->receive_count > cfg->max_attempts) {
		/* Delivered again after its last attempt: the worker that
		 * had it died.  Do not run it a fourth time. */
		snprintf(err.msg, sizeof(err.msg),
			 "gave up after %d deliveries (the worker processing "
			 "it stopped before finishing)",
			 m->receive_count - 1);
		function_fail_event(&app->fn, m->body, m->len, err.msg, &e2);
		rc = IP_ERETRY;
		goto dead;
	}
	atomic_fetch_add(&app->metrics.jobs_inflight, 1);
	rc = function_handle_event(&app->fn, m->body, m->len, &inv, &stats,
				   &err);
	if (rc == IP_ENOSPACE)
		rc = storage_full(pool, m, &inv, &stats, &err);
	atomic_fetch_sub(&app->metrics.jobs_inflight, 1);
	if (rc == IP_ENOSPACE)
		return; /* released with a short delay, or left to visibility */
	if (rc == IP_OK) {
		if (queue_delete(app->queue, m, &e2) != IP_OK)
			log_warn("queue delete %s: %s", m->id, e2.msg);
		return;
	}
	if (rc == IP_EINVAL && stats.done + stats.failed + stats.skipped == 0) {
		/* The event itself is malformed: nothing to retry. */
		log_warn("event %s dropped to the dead-letter store: %s", m->id,
			 err.msg);
		goto dead;
	}
	if (!inv.final) {
		int64_t delay = backoff_delay(cfg, inv.attempt);

		atomic_fetch_add(&app->metrics.attempts_retried, 1);
		log_warn("event %s attempt %d/%d failed (%s); retry in %lld ms",
			 m->id, inv.attempt, cfg->max_attempts, err.msg,
			 (long long)delay);
		if (queue_retry(app->queue, m, delay, &e2) != IP_OK)
			log_warn("queue retry %s: %s", m->id, e2.msg);
		return;
	}
dead:
	atomic_fetch_add(&app->metrics.dead_lettered, 1);
	if (queue_dead_letter(app->queue, m, err.msg, &e2) != IP_OK)
		log_warn("queue dead-letter %s: %s", m->id, e2.msg);
	else
		log_warn("event %s moved to the dead-letter store after %d "
			 "attempts: %s",
			 m->id, m->receive_count, err.msg);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct app *app = w->pool->app;
	int failures = 0;

	while (!atomic_load(&app->stopping)) {
		struct queue_msg m;
		struct ip_error err;
		int rc;

		memset(&m, 0, sizeof(m));
		/* No new work while the disk is full: it would only fail. */
		if (!wait_for_room(app, util_mono_ms() + RECEIVE_WAIT_MS))
			continue;
		rc = queue_receive(app->queue, app->cfg.visibility_s,
				   RECEIVE_WAIT_MS, &m, &err);
		if (rc == IP_ENOTFOUND)
			continue;
		if (rc != IP_OK) {
			/* Queue unreachable: log once per streak and wait
			 * (woken early by shutdown via the queue's wake). */
			if (failures++ == 0)
				log_error("worker %d: queue receive: %s",
					  w->index, err.msg);
			struct timespec ts = {0, 200 * 1000000L};

			nanosleep(&ts, NULL);
			continue;
		}
		failures = 0;
		/* Queue wait: a first delivery only (a retry waits out its
		 * backoff on purpose). */
		if (m.receive_count == 1 && m.sent_at_ms > 0)
			histogram_observe_us(&app->metrics.queue_wait,
					     (util_now_ms() - m.sent_at_ms) *
						 1000);
		run_one(w->pool, &m);
		queue_msg_clear(&m);
	}
	atomic_store(&w->finished, true);
	return NULL;
}

int
workers_start(struct app *app, int n, struct workers **out,
	      struct ip_error *err)
{
	struct workers *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	pool->threads = calloc((size_t)n, sizeof(*pool->threads));
	if (pool->threads == NULL) {
		free(pool);
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	}
	pool->app = app;
	pool->n = n;
	/* Before any thread runs the function; undone in workers_stop. */
	pool->next_finished = app->fn.on_finished;
	pool->next_finished_arg = app->fn.on_finished_arg;
	app->fn.on_finished = on_finished;
	app->fn.on_finished_arg = pool;
	for (int i = 0; i < n; i++) {
		struct worker *w = &pool->threads[i];
		int e;

		w->pool = pool;
		w->index = i;
		atomic_init(&w->finished, false);
		e = pthread_create(&w->thread, NULL, worker_main, w);
		if (e != 0) {
			ip_error_set(err, IP_ENOMEM, "worker thread: %s",
				     strerror(e));
			app_stop(app);
			workers_stop(pool, 60000);
			return IP_ENOMEM;
		}
		w->started = true;
	}
	*out = pool;
	return IP_OK;
}

int
workers_stop(struct workers *pool, int64_t grace_ms)
{
	int64_t deadline = util_mono_ms() + grace_ms;
	int left = 0;

	if (pool == NULL)
		return 0;
	for (int i = 0; i < pool->n; i++) {
		struct worker *w = &pool->threads[i];
		struct timespec ts;
		int64_t now = util_now_ms();
		int64_t until = now + (deadline - util_mono_ms());

		if (!w->started)
			continue;
		ts.tv_sec = until / 1000;
		ts.tv_nsec = (until % 1000) * 1000000;
		if (pthread_timedjoin_np(w->thread, NULL, &ts) != 0) {
			left++;
			continue;
		}
		w->started = false;
	}
	if (left > 0) {
		log_warn("%d worker(s) still busy after %lld ms: their events "
			 "return to the queue",
			 left, (long long)grace_ms);
		return left; /* threads still use the pool: leave it */
	}
	pool->app->fn.on_finished = pool->next_finished;
	pool->app->fn.on_finished_arg = pool->next_finished_arg;
	free(pool->threads);
	free(pool);
	return 0;
}

int
workers_recover(struct app *app, struct ip_error *err)
{
	char cursor[TABLE_CURSOR_MAX] = "";
	size_t damaged = 0;
	int count = 0;
	int rc;

	rc = queue_release_all(app->queue, err);
	if (rc != IP_OK)
		return rc;
	do {
		struct table_page page;

		memset(&page, 0, sizeof(page));
		rc = table_list_unfinished(app->table, cursor, 100, &page, err);
		for (size_t i = 0; rc == IP_OK && i < page.n; i++) {
			rc = ingest_announce(&app->ingest, &page.items[i], err);
			count++;
		}
		/* Not skipped in silence: it would never be retried. */
		for (size_t i = 0; i < page.n_damaged && i < TABLE_DAMAGED_MAX;
		     i++)
			log_error("recovery: unfinished image %s has a damaged "
				  "record and cannot be re-announced; see "
				  "`imgpipe doctor` (DELETE /v1/images/%s "
				  "removes it)",
				  page.damaged[i], page.damaged[i]);
		damaged += page.n_damaged;
		util_strlcpy(cursor, page.next_cursor, sizeof(cursor));
		table_page_free(&page);
	} while (rc == IP_OK && cursor[0] != '\0');
	if (rc != IP_OK)
		return rc;
	if (count > 0)
		log_info("recovery: %d unfinished image(s) re-announced",
			 count);
	if (damaged > 0)
		log_error("recovery: %zu unfinished record(s) damaged, not "
			  "re-announced; run `imgpipe doctor`",
			  damaged);
	return count;
}
