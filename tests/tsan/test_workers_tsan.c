/*
 * test_workers_tsan.c - the worker pool, the SQLite queue and the SQLite
 * table under load from several threads, with the fake image processor
 * (no libvips), built and run under ThreadSanitizer by `make test-tsan`
 * (suite `tsan`; in a plain build it is an ordinary concurrency test).
 *
 * 1. A few hundred uploads staged as the gateway does (original in the fs
 *    store, `pending` record, event queued) go through four workers and
 *    the real function: every record ends `done` (or `failed` when its
 *    input asked the fake to fail), finishes exactly once, and the queue
 *    is empty afterwards (every message deleted, none dead-lettered).
 * 2. Several threads send, receive, retry and delete on one SQLite queue
 *    at once: every message is deleted exactly once, retried ones after
 *    their redelivery.
 *
 * Synchronisation is by condition variables and joins, never by sleeping;
 * the only clock is a generous deadline that turns a hang into a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "app/app.h"
#include "core/config.h"
#include "core/event.h"
#include "core/record.h"
#include "core/util.h"
#include "function/function.h"
#include "hosts/workers.h"
#include "imgproc/imgproc_fake.h"
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_IMAGES 240
#define N_WORKERS 4
#define FAIL_EVERY 10 /* every 10th upload asks the fake to fail */
#define DEADLINE_MS 90000 /* a hang fails the test instead of blocking CI */

#define Q_THREADS 4 /* producers, and as many consumers */
#define Q_PER_PRODUCER 60
#define Q_TOTAL (Q_THREADS * Q_PER_PRODUCER)
#define Q_RETRY_EVERY 4 /* every 4th message is retried once */

struct fixture {
	char dir[64];
	struct app app;
	/* the function's on_finished: how often each record finished */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int finished;
	char ids[N_IMAGES][RECORD_ID_MAX];
	int times[N_IMAGES];
};

static void
on_finished(void *arg, const struct record *r)
{
	struct fixture *fx = arg;

	pthread_mutex_lock(&fx->lock);
	for (int i = 0; i < N_IMAGES; i++)
		if (strcmp(fx->ids[i], r->id) == 0)
			fx->times[i]++;
	fx->finished++;
	pthread_cond_broadcast(&fx->cond);
	pthread_mutex_unlock(&fx->lock);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct app *app = &fx->app;
	struct config cfg;
	struct ip_error e;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/imgpipe-tsan-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	config_defaults(&cfg);
	util_strlcpy(cfg.data_dir, fx->dir, sizeof(cfg.data_dir));
	cfg.max_attempts = 3;
	cfg.backoff_ms = 1;
	cfg.backoff_max_ms = 10;
	/* the embedded backends as a worker process opens them; the image
	 * processor is the fake, the finish hook ours */
	assert_int_equal(
	    app_open(app, &cfg,
		     APP_NEED_STORE | APP_NEED_TABLE | APP_NEED_QUEUE, &e),
	    IP_OK);
	assert_int_equal(imgproc_fake_open(&app->img, &e), IP_OK);
	app->fn.img = app->img;
	app->fn.on_finished = on_finished;
	app->fn.on_finished_arg = fx;
	pthread_mutex_init(&fx->lock, NULL);
	pthread_cond_init(&fx->cond, NULL);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	app_close(&fx->app);
	pthread_cond_destroy(&fx->cond);
	pthread_mutex_destroy(&fx->lock);
	util_rm_tree(fx->dir);
	free(fx);
	return 0;
}

/* As the gateway's commit: original, `pending` record, then the event. */
static void
stage(struct fixture *fx, int i)
{
	struct app *app = &fx->app;
	struct record r;
	struct ip_error e;
	char body[64];
	char name[32];
	char *ev;
	int n;

	if (i % FAIL_EVERY == 0)
		n = snprintf(body, sizeof(body), "FAIL image %d", i);
	else
		n = snprintf(body, sizeof(body), "SPIN %d image %d",
			     1000 * (i % 7), i);
	snprintf(name, sizeof(name), "photo-%d.jpg", i);
	memset(&r, 0, sizeof(r));
	util_new_id(r.id, sizeof(r.id));
	util_strlcpy(fx->ids[i], r.id, sizeof(fx->ids[i]));
	util_strlcpy(r.name, name, sizeof(r.name));
	util_strlcpy(r.input_bucket, app->cfg.input_bucket,
		     sizeof(r.input_bucket));
	assert_int_equal(function_input_key(r.id, name, r.input_key,
					    sizeof(r.input_key), &e),
			 IP_OK);
	r.bytes = n;
	r.uploaded_at = util_now_ms();
	r.status = RECORD_PENDING;
	assert_int_equal(objstore_put_buffer(app->store, r.input_bucket,
					     r.input_key, body, (size_t)n, NULL,
					     &e),
			 IP_OK);
	assert_int_equal(table_put(app->table, &r, &e), IP_OK);
	ev = event_build(app->cfg.aws_region, r.input_bucket, r.input_key,
			 r.bytes, "x", r.uploaded_at);
	assert_non_null(ev);
	assert_int_equal(queue_send(app->queue, ev, strlen(ev), r.id, 0, &e),
			 IP_OK);
	free(ev);
}

static struct timespec
deadline_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void
test_pool_runs_every_event_once(void **state)
{
	struct fixture *fx = *state;
	struct app *app = &fx->app;
	struct timespec until = deadline_in(DEADLINE_MS);
	struct queue_dead_list dead;
	struct workers *pool;
	struct queue_msg m;
	struct ip_error e;
	int rc = 0;

	for (int i = 0; i < N_IMAGES; i++)
		stage(fx, i);
	assert_int_equal(workers_start(app, N_WORKERS, &pool, &e), IP_OK);
	pthread_mutex_lock(&fx->lock);
	while (fx->finished < N_IMAGES && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&fx->cond, &fx->lock, &until);
	pthread_mutex_unlock(&fx->lock);
	app_stop(app);
	/* joined: every delete that followed a finish has happened */
	assert_int_equal(workers_stop(pool, DEADLINE_MS), 0);
	assert_int_equal(fx->finished, N_IMAGES);

	for (int i = 0; i < N_IMAGES; i++) {
		struct record r;
		bool fail = i % FAIL_EVERY == 0;

		assert_int_equal(fx->times[i], 1);
		assert_int_equal(table_get(app->table, fx->ids[i], &r, &e),
				 IP_OK);
		assert_int_equal(r.status, fail ? RECORD_FAILED : RECORD_DONE);
		assert_int_equal(r.attempts, 1);
		assert_int_equal(r.n_variants, fail ? 0 : app->cfg.n_variants);
	}
	assert_int_equal(imgproc_fake_calls(app->img), N_IMAGES);
	memset(&m, 0, sizeof(m));
	assert_int_equal(queue_receive(app->queue, 30, 0, &m, &e),
			 IP_ENOTFOUND);
	memset(&dead, 0, sizeof(dead));
	assert_int_equal(queue_dlq_list(app->queue, 10, &dead, &e), IP_OK);
	assert_int_equal(dead.n, 0);
	queue_dead_list_free(&dead);
}

/* ---- the queue alone, from several threads ------------------------- */

struct qtest {
	struct queue *q;
	_Atomic int deleted;
	_Atomic int times[Q_TOTAL]; /* deletes per message */
	_Atomic int retried[Q_TOTAL];
	_Atomic int errors;
	int64_t deadline_ms;
};

struct producer {
	struct qtest *t;
	int first;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;
	struct ip_error e;

	for (int i = p->first; i < p->first + Q_PER_PRODUCER; i++) {
		char body[32];
		char dedup[32];

		snprintf(body, sizeof(body), "%d", i);
		snprintf(dedup, sizeof(dedup), "msg-%d", i);
		if (queue_send(p->t->q, body, strlen(body), dedup, 0, &e) !=
		    IP_OK)
			atomic_fetch_add(&p->t->errors, 1);
	}
	return NULL;
}

/* Take messages until all are deleted: every Q_RETRY_EVERY-th is retried
 * on its first delivery, the rest (and the retried on redelivery) are
 * deleted. */
static void *
consume(void *arg)
{
	struct qtest *t = arg;

	while (atomic_load(&t->deleted) < Q_TOTAL &&
	       util_mono_ms() < t->deadline_ms) {
		struct queue_msg m;
		struct ip_error e;
		int i;
		int rc;

		memset(&m, 0, sizeof(m));
		rc = queue_receive(t->q, 30, 100, &m, &e);
		if (rc == IP_ENOTFOUND)
			continue;
		if (rc != IP_OK) {
			atomic_fetch_add(&t->errors, 1);
			continue;
		}
		i = atoi(m.body);
		if (i < 0 || i >= Q_TOTAL) {
			atomic_fetch_add(&t->errors, 1);
		} else if (i % Q_RETRY_EVERY == 0 && m.receive_count == 1) {
			atomic_fetch_add(&t->retried[i], 1);
			if (queue_retry(t->q, &m, 0, &e) != IP_OK)
				atomic_fetch_add(&t->errors, 1);
		} else if (queue_delete(t->q, &m, &e) == IP_OK) {
			atomic_fetch_add(&t->times[i], 1);
			atomic_fetch_add(&t->deleted, 1);
		} else {
			atomic_fetch_add(&t->errors, 1);
		}
		queue_msg_clear(&m);
	}
	return NULL;
}

static void
test_queue_from_many_threads(void **state)
{
	struct fixture *fx = *state;
	struct qtest *t = calloc(1, sizeof(*t));
	struct producer prod[Q_THREADS];
	pthread_t producers[Q_THREADS];
	pthread_t consumers[Q_THREADS];
	struct queue_msg m;
	struct ip_error e;

	assert_non_null(t);
	t->q = fx->app.queue;
	t->deadline_ms = util_mono_ms() + DEADLINE_MS;
	for (int i = 0; i < Q_THREADS; i++) {
		prod[i].t = t;
		prod[i].first = i * Q_PER_PRODUCER;
		assert_int_equal(
		    pthread_create(&consumers[i], NULL, consume, t), 0);
		assert_int_equal(
		    pthread_create(&producers[i], NULL, produce, &prod[i]), 0);
	}
	for (int i = 0; i < Q_THREADS; i++) {
		pthread_join(producers[i], NULL);
		pthread_join(consumers[i], NULL);
	}
	assert_int_equal(atomic_load(&t->errors), 0);
	assert_int_equal(atomic_load(&t->deleted), Q_TOTAL);
	for (int i = 0; i < Q_TOTAL; i++) {
		assert_int_equal(atomic_load(&t->times[i]), 1);
		assert_int_equal(atomic_load(&t->retried[i]),
				 i % Q_RETRY_EVERY == 0 ? 1 : 0);
	}
	memset(&m, 0, sizeof(m));
	assert_int_equal(queue_receive(t->q, 30, 0, &m, &e), IP_ENOTFOUND);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pool_runs_every_event_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_from_many_threads, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
