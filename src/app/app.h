/*
 * app.h - the wiring of one imgpipe process: configuration, the backends
 * chosen by it, the function, and process-wide counters.
 *
 * Built by main.c (app_open) and shared read-only by the API's threads and
 * the workers; the counters are atomics and the wait registry has its own
 * lock.  It knows nothing of the API or of HTTP: src/api/ and src/http/
 * depend on it, never the reverse.
 */
#ifndef IMGPIPE_APP_H
#define IMGPIPE_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/diskspace.h"
#include "core/error.h"
#include "core/histogram.h"
#include "core/record.h"
#include "function/function.h"
#include "function/ingest.h"

struct objstore;
struct table;
struct queue;
struct imgproc;

/* Counters of the function and its hosts; the API keeps its own
 * (struct api_metrics in src/api/api.h). */
struct app_metrics {
	_Atomic int64_t images_done;
	_Atomic int64_t images_failed;
	_Atomic int64_t attempts_retried;
	_Atomic int64_t dead_lettered;
	_Atomic int64_t processing_ms_total;
	/* Failed attempts by class (function.h), retried or not. */
	_Atomic int64_t attempt_failures[FUNCTION_FAIL_COUNT];
	_Atomic int64_t jobs_inflight; /* events a worker is running now */
	struct histogram stage[FUNCTION_STAGE_COUNT]; /* successful attempts */
	struct histogram upload_to_done; /* uploaded_at -> processed_at */
	struct histogram queue_wait; /* sent -> first received */
	/* webhooks sent by this process (app/webhooks.h) */
	_Atomic int64_t webhooks_delivered;
	_Atomic int64_t webhooks_failed; /* attempts that failed */
	_Atomic int64_t webhooks_dead;
};

struct app {
	struct config cfg;
	struct objstore *store;
	struct table *table;
	struct queue *queue;
	struct imgproc *img;
	struct function fn;
	struct ingest ingest; /* the gateway's commit step */
	struct app_metrics metrics;
	struct diskspace space; /* the data directory's room to write */
	atomic_bool stopping;
	int64_t started_ms;

	/* ?wait= support: a generation counter bumped (and broadcast) each
	 * time a record finishes in this process. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	uint64_t wait_gen;
};

/* What a process needs: the gateway needs store+table+queue+img (probe),
 * a worker store+table+queue+img, `process` img only. */
enum app_need {
	APP_NEED_STORE = 1,
	APP_NEED_TABLE = 2,
	APP_NEED_QUEUE = 4,
	APP_NEED_IMG = 8,
	APP_NEED_ALL = 15
};

/* Open the backends named by cfg (copied into app).  On failure
 * everything opened so far is closed. */
int app_open(struct app *app, const struct config *cfg, unsigned need,
	     struct ip_error *err);
void app_close(struct app *app);

/* Wait until record `id` is done or failed, or timeout_ms passes, or the
 * app is stopping.  Re-reads the table on every wake-up and at least every
 * 250 ms (workers may be other processes).  Fills *out with the last read.
 * IP_ENOTFOUND if the record does not exist (or was deleted meanwhile). */
int app_wait_record(struct app *app, const char *id, int64_t timeout_ms,
		    struct record *out, struct ip_error *err);

/* Begin shutdown: set `stopping`, wake ?wait= requests and blocked queue
 * receives.  Safe from any thread (not from a signal handler). */
void app_stop(struct app *app);

/* Readiness: every opened backend answers its ping, and the data
 * directory has room (diskspace_check: IP_ENOSPACE while it has less than
 * limits.min_free_disk free or just after a storage-full error). */
int app_ready(struct app *app, struct ip_error *err);

/* A request or a job failed with code: a storage-full code (IP_ENOSPACE)
 * makes the process not ready for a while (diskspace_note_full).  Any
 * thread. */
void app_note_error(struct app *app, int code);

#endif
