/*
 * app.c - open/close the backends of one process and the ?wait= registry.
 * app_open runs on the main thread at start-up; app_wait_record on HTTP
 * threads; the finished-callback on worker threads.
 */
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"
#include "imgproc/imgproc.h"
#include "imgproc/imgproc_helper.h"
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define WAIT_POLL_MS 250

static void
app_on_finished(void *arg, const struct record *r)
{
	struct app *app = arg;

	if (r->status == RECORD_DONE)
		atomic_fetch_add(&app->metrics.images_done, 1);
	else
		atomic_fetch_add(&app->metrics.images_failed, 1);
	if (r->status == RECORD_DONE)
		atomic_fetch_add(&app->metrics.processing_ms_total,
				 r->processing_ms);
	if (r->status == RECORD_DONE && r->uploaded_at > 0 &&
	    r->processed_at >= r->uploaded_at)
		histogram_observe_us(&app->metrics.upload_to_done,
				     (r->processed_at - r->uploaded_at) * 1000);
	pthread_mutex_lock(&app->wait_lock);
	app->wait_gen++;
	pthread_cond_broadcast(&app->wait_cond);
	pthread_mutex_unlock(&app->wait_lock);
}

/* Each attempt of the function: its stages (when it succeeded) and its
 * failure class (when not). */
static void
app_on_attempt(void *arg, const struct function_attempt *a)
{
	struct app_metrics *m = &((struct app *)arg)->metrics;

	if (a->code != IP_OK) {
		atomic_fetch_add(&m->attempt_failures[a->failure], 1);
		return;
	}
	for (int i = 0; i < FUNCTION_STAGE_COUNT; i++)
		if (a->stage_us[i] >= 0)
			histogram_observe_us(&m->stage[i], a->stage_us[i]);
}

static void
app_metrics_init(struct app_metrics *m)
{
	for (int i = 0; i < FUNCTION_STAGE_COUNT; i++)
		histogram_init(&m->stage[i], &histogram_stage);
	histogram_init(&m->upload_to_done, &histogram_long);
	histogram_init(&m->queue_wait, &histogram_long);
}

int
app_open(struct app *app, const struct config *cfg, unsigned need,
	 struct ip_error *err)
{
	pthread_condattr_t ca;
	int rc = IP_OK;

	memset(app, 0, sizeof(*app));
	app->cfg = *cfg;
	app->started_ms = util_now_ms();
	app_metrics_init(&app->metrics);
	diskspace_init(&app->space, cfg->data_dir, cfg->min_free_disk);
	atomic_init(&app->stopping, false);
	pthread_mutex_init(&app->wait_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&app->wait_cond, &ca);
	pthread_condattr_destroy(&ca);

	/* Only the backends keep files there (`process` opens none). */
	if ((need & (APP_NEED_STORE | APP_NEED_TABLE | APP_NEED_QUEUE)) &&
	    util_mkdir_p(app->cfg.data_dir) != 0) {
		rc = ip_error_set(err, IP_EIO, "data dir %s: %s",
				  app->cfg.data_dir, strerror(errno));
		goto fail;
	}
	if (need & APP_NEED_STORE) {
		rc = objstore_open(&app->cfg, &app->store, err);
		if (rc != IP_OK)
			goto fail;
	}
	if (need & APP_NEED_TABLE) {
		rc = table_open(&app->cfg, &app->table, err);
		if (rc != IP_OK)
			goto fail;
	}
	if (need & APP_NEED_QUEUE) {
		rc = queue_open(&app->cfg, &app->queue, err);
		if (rc != IP_OK)
			goto fail;
	}
	if (need & APP_NEED_IMG) {
		/* worker.helpers: image work in sandboxed processes (the
		 * imgpipe binary, `imgpipe __helper`); off, or in a program
		 * that cannot be a helper (tests): in this process. */
		rc = app->cfg.helpers && imgproc_helper_exe() != NULL
			 ? imgproc_helper_open(&app->cfg, &app->img, err)
			 : imgproc_vips_open(&app->cfg, &app->img, err);
		if (rc != IP_OK)
			goto fail;
	}
	app->fn.cfg = &app->cfg;
	app->fn.store = app->store;
	app->fn.table = app->table;
	app->fn.img = app->img;
	app->fn.on_finished = app_on_finished;
	app->fn.on_finished_arg = app;
	app->fn.on_attempt = app_on_attempt;
	app->fn.on_attempt_arg = app;
	app->ingest.cfg = &app->cfg;
	app->ingest.store = app->store;
	app->ingest.table = app->table;
	app->ingest.queue = app->queue;
	app->ingest.img = app->img;
	return IP_OK;
fail:
	app_close(app);
	return rc;
}

void
app_close(struct app *app)
{
	imgproc_close(app->img);
	queue_close(app->queue);
	table_close(app->table);
	objstore_close(app->store);
	app->img = NULL;
	app->queue = NULL;
	app->table = NULL;
	app->store = NULL;
	pthread_cond_destroy(&app->wait_cond);
	pthread_mutex_destroy(&app->wait_lock);
}

int
app_wait_record(struct app *app, const char *id, int64_t timeout_ms,
		struct record *out, struct ip_error *err)
{
	int64_t deadline = util_mono_ms() + timeout_ms;

	for (;;) {
		uint64_t gen;
		int64_t now, step;
		struct timespec ts;
		int rc;

		pthread_mutex_lock(&app->wait_lock);
		gen = app->wait_gen;
		pthread_mutex_unlock(&app->wait_lock);
		rc = table_get(app->table, id, out, err);
		if (rc != IP_OK)
			return rc;
		if (out->status == RECORD_DONE || out->status == RECORD_FAILED)
			return IP_OK;
		now = util_mono_ms();
		if (now >= deadline || atomic_load(&app->stopping))
			return IP_OK;
		step = deadline - now < WAIT_POLL_MS ? deadline - now
						     : WAIT_POLL_MS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += step / 1000;
		ts.tv_nsec += (step % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&app->wait_lock);
		while (app->wait_gen == gen && !atomic_load(&app->stopping)) {
			if (pthread_cond_timedwait(&app->wait_cond,
						   &app->wait_lock,
						   &ts) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&app->wait_lock);
	}
}

void
app_stop(struct app *app)
{
	atomic_store(&app->stopping, true);
	pthread_mutex_lock(&app->wait_lock);
	pthread_cond_broadcast(&app->wait_cond);
	pthread_mutex_unlock(&app->wait_lock);
	if (app->queue != NULL)
		queue_wake(app->queue);
}

int
app_ready(struct app *app, struct ip_error *err)
{
	int rc = IP_OK;

	if (app->store != NULL)
		rc = objstore_ping(app->store, err);
	if (rc == IP_OK && app->table != NULL)
		rc = table_ping(app->table, err);
	if (rc == IP_OK && app->queue != NULL)
		rc = queue_ping(app->queue, err);
	if (rc == IP_OK)
		rc = diskspace_check(&app->space, err);
	if (rc == IP_OK && atomic_load(&app->stopping))
		rc = ip_error_set(err, IP_ERETRY, "shutting down");
	return rc;
}

void
app_note_error(struct app *app, int code)
{
	if (code == IP_ENOSPACE)
		diskspace_note_full(&app->space);
}
