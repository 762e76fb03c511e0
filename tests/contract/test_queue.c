/*
 * test_queue.c - THE contract test of queue.h, run against the backend
 * named by IMGPIPE_TEST_QUEUE ("sqlite" by default, or "redis://...").
 * Each test opens the queue in a fresh temp data dir and drains it in
 * teardown.  Waits are the queue's own blocking receive, never sleeps:
 * a test that needs time to pass asks receive to wait for it, and checks
 * how long it took.
 *
 * Threads: the blocked-receive tests start one receiver thread each.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "contract.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"

#define VIS 30 /* a visibility no test outlasts */
#define LONG_WAIT 10000 /* ms; a receive that must not run out */

struct fix {
	char dir[CONTRACT_PATH_MAX];
	struct config cfg;
	struct queue *q;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct ip_error err = {0};

	assert_non_null(f);
	contract_tmpdir(f->dir, sizeof(f->dir));
	contract_config(&f->cfg, f->dir);
	if (queue_open(&f->cfg, &f->q, &err) != IP_OK)
		fail_msg("queue_open(%s): %s", f->cfg.queue, err.msg);
	*state = f;
	return 0;
}

/* Leave a shared queue empty: dead letters back, everything deleted. */
static void
drain(struct fix *f)
{
	struct ip_error err = {0};
	struct queue_msg m;

	queue_release_all(f->q, &err);
	queue_dlq_redrive(f->q, NULL, &err);
	while (queue_receive(f->q, VIS, 0, &m, &err) == IP_OK) {
		queue_delete(f->q, &m, &err);
		queue_msg_clear(&m);
	}
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	if (f->q != NULL) {
		drain(f);
		queue_close(f->q);
	}
	contract_rmrf(f->dir);
	free(f);
	return 0;
}

static void
send_ok(struct fix *f, const char *body, const char *dedup)
{
	struct ip_error err = {0};

	if (queue_send(f->q, body, strlen(body), dedup, 0, &err) != IP_OK)
		fail_msg("send: %s", err.msg);
}

static void
receive_ok(struct fix *f, int vis, int wait_ms, struct queue_msg *m)
{
	struct ip_error err = {0};

	if (queue_receive(f->q, vis, wait_ms, m, &err) != IP_OK)
		fail_msg("receive: %s", err.msg);
}

static void
assert_empty_now(struct fix *f)
{
	struct ip_error err = {0};
	struct queue_msg m;

	/* Nothing is handed out (nothing to free) on failure. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(queue_receive(f->q, VIS, 0, &m, &err), IP_ENOTFOUND);
	assert_null(m.body);
}

static void
test_ping(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};

	assert_int_equal(queue_ping(f->q, &err), IP_OK);
	assert_non_null(queue_name(f->q));
}

static void
test_send_receive_delete(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	static const char binary[] = {'a', '\0', 'b', '\xff', '\n'};
	int64_t before = util_now_ms();
	struct queue_msg m;
	int64_t after;

	send_ok(f, "{\"Records\":[]}", NULL);
	receive_ok(f, VIS, 1000, &m);
	after = util_now_ms();
	assert_int_equal(m.len, 14);
	assert_string_equal(m.body, "{\"Records\":[]}");
	assert_int_equal(m.receive_count, 1);
	assert_true(m.id[0] != '\0');
	assert_true(m.receipt[0] != '\0');
	/* A server's clock may differ a little from ours. */
	assert_true(m.sent_at_ms >= before - 1000);
	assert_true(m.sent_at_ms <= after + 1000);
	assert_empty_now(f); /* hidden while in flight */
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	assert_null(m.body);
	assert_empty_now(f);

	/* Bodies are bytes, NUL included, and come back NUL-terminated. */
	assert_int_equal(
	    queue_send(f->q, binary, sizeof(binary), NULL, 0, &err), IP_OK);
	receive_ok(f, VIS, 1000, &m);
	assert_int_equal(m.len, sizeof(binary));
	assert_memory_equal(m.body, binary, sizeof(binary));
	assert_int_equal(m.body[m.len], '\0');
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
}

static void
test_distinct_messages(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m[3];
	bool seen[3] = {false, false, false};

	send_ok(f, "m0", NULL);
	send_ok(f, "m1", NULL);
	send_ok(f, "m2", NULL);
	for (int i = 0; i < 3; i++)
		receive_ok(f, VIS, 1000, &m[i]);
	assert_empty_now(f);
	for (int i = 0; i < 3; i++) {
		int k = m[i].body[1] - '0';

		assert_true(k >= 0 && k < 3);
		assert_false(seen[k]);
		seen[k] = true;
		for (int j = 0; j < i; j++)
			assert_string_not_equal(m[i].id, m[j].id);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(queue_delete(f->q, &m[i], &err), IP_OK);
		queue_msg_clear(&m[i]);
	}
}

static void
test_receive_empty_waits(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m;
	int64_t t0 = util_mono_ms();
	int64_t took;

	assert_int_equal(queue_receive(f->q, VIS, 300, &m, &err), IP_ENOTFOUND);
	took = util_mono_ms() - t0;
	assert_true(took >= 250);
	assert_true(took < 5000);
	assert_int_equal(queue_receive(f->q, VIS, 0, &m, &err), IP_ENOTFOUND);
}

static void
test_visibility_expiry(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m1, m2;
	int64_t t0;
	int64_t took;

	send_ok(f, "slow job", NULL);
	receive_ok(f, 1, 1000, &m1);
	t0 = util_mono_ms();
	assert_int_equal(m1.receive_count, 1);
	assert_empty_now(f);
	/* Not deleted in time: the same message comes back. */
	receive_ok(f, VIS, LONG_WAIT, &m2);
	took = util_mono_ms() - t0;
	assert_true(took >= 800);
	assert_true(took < 5000);
	assert_string_equal(m2.id, m1.id);
	assert_string_equal(m2.body, "slow job");
	assert_int_equal(m2.receive_count, 2);
	assert_string_not_equal(m2.receipt, m1.receipt);
	/* The first consumer lost it. */
	assert_int_equal(queue_delete(f->q, &m1, &err), IP_ECONFLICT);
	assert_int_equal(queue_delete(f->q, &m2, &err), IP_OK);
	assert_empty_now(f);
	queue_msg_clear(&m1);
	queue_msg_clear(&m2);
}

static void
test_retry_delay(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m1, m2;
	int64_t t0;
	int64_t took;

	send_ok(f, "flaky", NULL);
	receive_ok(f, VIS, 1000, &m1);
	assert_int_equal(queue_retry(f->q, &m1, 400, &err), IP_OK);
	t0 = util_mono_ms();
	assert_empty_now(f); /* backing off */
	receive_ok(f, VIS, LONG_WAIT, &m2);
	took = util_mono_ms() - t0;
	assert_true(took >= 300);
	assert_true(took < 5000);
	assert_string_equal(m2.id, m1.id);
	assert_int_equal(m2.receive_count, 2);
	/* Retry with no delay: visible at once. */
	assert_int_equal(queue_retry(f->q, &m2, 0, &err), IP_OK);
	queue_msg_clear(&m2);
	receive_ok(f, VIS, 1000, &m2);
	assert_int_equal(m2.receive_count, 3);
	assert_int_equal(queue_delete(f->q, &m2, &err), IP_OK);
	queue_msg_clear(&m1);
	queue_msg_clear(&m2);
}

static void
test_stale_receipt(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m1, m2, forged;
	int rc;

	send_ok(f, "contested", NULL);
	/* Visibility 0: visible again at once, so a second receive takes it
	 * and the first receipt is stale. */
	receive_ok(f, 0, 1000, &m1);
	receive_ok(f, VIS, 1000, &m2);
	assert_string_equal(m1.id, m2.id);
	assert_int_equal(m2.receive_count, 2);
	assert_int_equal(queue_delete(f->q, &m1, &err), IP_ECONFLICT);
	assert_int_equal(queue_retry(f->q, &m1, 0, &err), IP_ECONFLICT);
	assert_int_equal(queue_dead_letter(f->q, &m1, "stale", &err),
			 IP_ECONFLICT);
	forged = m2;
	forged.body = NULL;
	util_strlcpy(forged.receipt, "forged", sizeof(forged.receipt));
	assert_int_equal(queue_delete(f->q, &forged, &err), IP_ECONFLICT);
	/* None of that touched it: still in flight for m2. */
	assert_empty_now(f);
	assert_int_equal(queue_delete(f->q, &m2, &err), IP_OK);
	/* Once deleted, nothing more can be done with either receipt. */
	rc = queue_delete(f->q, &m2, &err);
	assert_true(rc == IP_ENOTFOUND || rc == IP_ECONFLICT);
	rc = queue_retry(f->q, &m2, 0, &err);
	assert_true(rc == IP_ENOTFOUND || rc == IP_ECONFLICT);
	assert_empty_now(f);
	queue_msg_clear(&m1);
	queue_msg_clear(&m2);
}

static void
test_dedup(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m;

	send_ok(f, "first", "input/01J/a.jpg#1");
	send_ok(f, "second", "input/01J/a.jpg#1"); /* dropped */
	send_ok(f, "other", "input/01J/b.jpg#1");
	receive_ok(f, VIS, 1000, &m);
	{
		struct queue_msg m2;

		receive_ok(f, VIS, 1000, &m2);
		/* Exactly "first" and "other", in any order. */
		assert_true((strcmp(m.body, "first") == 0 &&
			     strcmp(m2.body, "other") == 0) ||
			    (strcmp(m.body, "other") == 0 &&
			     strcmp(m2.body, "first") == 0));
		if (strcmp(m.body, "other") == 0) {
			struct queue_msg tmp = m;

			m = m2;
			m2 = tmp;
		}
		assert_int_equal(queue_delete(f->q, &m2, &err), IP_OK);
		queue_msg_clear(&m2);
	}
	assert_empty_now(f);
	/* Still live while in flight: a resend adds nothing. */
	send_ok(f, "third", "input/01J/a.jpg#1");
	assert_empty_now(f);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	/* Once deleted, the id may be used again. */
	send_ok(f, "fourth", "input/01J/a.jpg#1");
	receive_ok(f, VIS, 1000, &m);
	assert_string_equal(m.body, "fourth");
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	/* An empty dedup id means none. */
	send_ok(f, "x", "");
	send_ok(f, "x", "");
	receive_ok(f, VIS, 1000, &m);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	receive_ok(f, VIS, 1000, &m);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
}

/* Dead-letter ids are the backend's; find entries by body. */
static struct queue_dead *
find_dead(struct queue_dead_list *l, const char *body)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].len == strlen(body) &&
		    memcmp(l->items[i].body, body, l->items[i].len) == 0)
			return &l->items[i];
	return NULL;
}

/* queue_dlq_count agrees with the store (/metrics' dead letters). */
static void
assert_dead_count(struct fix *f, int64_t want)
{
	struct ip_error err = {0};
	int64_t n = -1;

	assert_int_equal(queue_dlq_count(f->q, &n, &err), IP_OK);
	assert_int_equal(n, want);
}

static void
test_dead_letter_redrive(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg a, b, m;
	struct queue_dead_list l;
	struct queue_dead *d;
	char a_id[QUEUE_ID_MAX];

	send_ok(f, "poison-a", NULL);
	/* Deliver a twice, then give up on it. */
	receive_ok(f, 0, 1000, &m);
	assert_string_equal(m.body, "poison-a");
	queue_msg_clear(&m);
	receive_ok(f, VIS, 1000, &a);
	assert_int_equal(a.receive_count, 2);
	assert_int_equal(queue_dead_letter(f->q, &a,
					   "decode failed: bad "
					   "marker",
					   &err),
			 IP_OK);
	/* Dead is gone from the queue and its receipt is spent. */
	assert_empty_now(f);
	assert_int_not_equal(queue_delete(f->q, &a, &err), IP_OK);

	send_ok(f, "poison-b", NULL);
	receive_ok(f, VIS, 1000, &b);
	assert_int_equal(queue_dead_letter(f->q, &b, "gave up", &err), IP_OK);
	assert_empty_now(f);

	assert_int_equal(queue_dlq_list(f->q, 10, &l, &err), IP_OK);
	assert_int_equal(l.n, 2);
	assert_dead_count(f, 2);
	/* Oldest first. */
	assert_ptr_equal(find_dead(&l, "poison-a"), &l.items[0]);
	assert_ptr_equal(find_dead(&l, "poison-b"), &l.items[1]);
	assert_string_not_equal(l.items[0].id, l.items[1].id);
	d = &l.items[0];
	assert_int_equal(d->receive_count, 2);
	assert_string_equal(d->reason, "decode failed: bad marker");
	assert_true(d->dead_at_ms > 0);
	util_strlcpy(a_id, d->id, sizeof(a_id));
	d = &l.items[1];
	assert_int_equal(d->receive_count, 1);
	assert_string_equal(d->reason, "gave up");
	queue_dead_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.items);
	/* limit bounds the answer. */
	assert_int_equal(queue_dlq_list(f->q, 1, &l, &err), IP_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id, a_id);
	queue_dead_list_free(&l);

	/* Redrive one: back in the queue with its count reset. */
	assert_int_equal(queue_dlq_redrive(f->q, a_id, &err), 1);
	receive_ok(f, VIS, 1000, &m);
	assert_string_equal(m.body, "poison-a");
	assert_int_equal(m.receive_count, 1);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	assert_int_equal(queue_dlq_list(f->q, 10, &l, &err), IP_OK);
	assert_int_equal(l.n, 1);
	assert_non_null(find_dead(&l, "poison-b"));
	queue_dead_list_free(&l);
	assert_dead_count(f, 1);

	/* Redrive all. */
	assert_int_equal(queue_dlq_redrive(f->q, NULL, &err), 1);
	receive_ok(f, VIS, 1000, &m);
	assert_string_equal(m.body, "poison-b");
	assert_int_equal(m.receive_count, 1);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	assert_int_equal(queue_dlq_list(f->q, 10, &l, &err), IP_OK);
	assert_int_equal(l.n, 0);
	queue_dead_list_free(&l);
	assert_int_equal(queue_dlq_redrive(f->q, NULL, &err), 0);
	assert_dead_count(f, 0);
	queue_msg_clear(&a);
	queue_msg_clear(&b);
}

static void
test_release_all(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m1, m2;

	send_ok(f, "orphan", NULL);
	receive_ok(f, 300, 1000, &m1);
	assert_empty_now(f);
	assert_int_equal(queue_release_all(f->q, &err), IP_OK);
	/* A shared queue cannot call anything orphaned: the message stays
	 * in flight (its orphans return by visibility, tested above). */
	if (queue_is_shared(f->q)) {
		assert_empty_now(f);
		assert_int_equal(queue_delete(f->q, &m1, &err), IP_OK);
		queue_msg_clear(&m1);
		return;
	}
	receive_ok(f, VIS, 0, &m2);
	assert_string_equal(m2.id, m1.id);
	assert_int_equal(m2.receive_count, 2);
	assert_int_equal(queue_delete(f->q, &m1, &err), IP_ECONFLICT);
	assert_int_equal(queue_delete(f->q, &m2, &err), IP_OK);
	/* Nothing in flight: a no-op. */
	assert_int_equal(queue_release_all(f->q, &err), IP_OK);
	assert_empty_now(f);
	queue_msg_clear(&m1);
	queue_msg_clear(&m2);
}

static void
test_depth(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m;
	int64_t visible = -1;
	int64_t inflight = -1;

	assert_int_equal(queue_depth(f->q, &visible, &inflight, &err), IP_OK);
	assert_int_equal(visible, 0);
	assert_int_equal(inflight, 0);
	send_ok(f, "1", NULL);
	send_ok(f, "2", NULL);
	send_ok(f, "3", NULL);
	receive_ok(f, VIS, 1000, &m);
	assert_int_equal(queue_depth(f->q, &visible, &inflight, &err), IP_OK);
	assert_int_equal(visible, 2);
	assert_int_equal(inflight, 1);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	assert_int_equal(queue_depth(f->q, &visible, &inflight, &err), IP_OK);
	assert_int_equal(visible, 2);
	assert_int_equal(inflight, 0);
}

static void
test_delayed_send(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue_msg m;
	int64_t t0 = util_mono_ms();
	int64_t took;

	assert_int_equal(queue_send(f->q, "later", 5, NULL, 400, &err), IP_OK);
	assert_empty_now(f);
	receive_ok(f, VIS, LONG_WAIT, &m);
	took = util_mono_ms() - t0;
	assert_true(took >= 300);
	assert_true(took < 5000);
	assert_string_equal(m.body, "later");
	assert_int_equal(m.receive_count, 1);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
}

static void
test_body_limits(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	unsigned char *big = malloc(QUEUE_BODY_MAX + 1);
	struct queue_msg m;

	assert_non_null(big);
	contract_fill(big, QUEUE_BODY_MAX + 1, 11);
	assert_int_equal(queue_send(f->q, (const char *)big, QUEUE_BODY_MAX + 1,
				    NULL, 0, &err),
			 IP_ETOOBIG);
	assert_empty_now(f);
	assert_int_equal(
	    queue_send(f->q, (const char *)big, QUEUE_BODY_MAX, NULL, 0, &err),
	    IP_OK);
	receive_ok(f, VIS, 1000, &m);
	assert_int_equal(m.len, QUEUE_BODY_MAX);
	assert_memory_equal(m.body, big, QUEUE_BODY_MAX);
	assert_int_equal(queue_delete(f->q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	/* Argument checks. */
	assert_int_equal(queue_send(f->q, "x", 1, NULL, -1, &err), IP_EINVAL);
	assert_int_equal(queue_receive(f->q, -1, 0, &m, &err), IP_EINVAL);
	assert_int_equal(queue_receive(f->q, VIS, -1, &m, &err), IP_EINVAL);
	assert_empty_now(f);
	free(big);
}

/* A receiver thread for the blocking tests. */
struct receiver {
	struct queue *q;
	int wait_ms;
	int rc;
	int64_t took_ms;
	struct queue_msg m;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void *
receiver_main(void *arg)
{
	struct receiver *r = arg;
	struct ip_error err = {0};
	int64_t t0 = util_mono_ms();

	r->rc = queue_receive(r->q, VIS, r->wait_ms, &r->m, &err);
	r->took_ms = util_mono_ms() - t0;
	pthread_mutex_lock(&r->lock);
	r->done = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void
receiver_start(struct receiver *r, struct queue *q, int wait_ms, pthread_t *tid)
{
	memset(r, 0, sizeof(*r));
	r->q = q;
	r->wait_ms = wait_ms;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	assert_int_equal(pthread_create(tid, NULL, receiver_main, r), 0);
}

static void
receiver_join(struct receiver *r, pthread_t tid)
{
	assert_int_equal(pthread_join(tid, NULL), 0);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

static void
test_blocked_receive_woken_by_send(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct receiver r;
	pthread_t tid;

	receiver_start(&r, f->q, 20000, &tid);
	/* Whether the receiver is already blocked or not, it must get the
	 * message long before its 20 s wait runs out. */
	send_ok(f, "wake up", NULL);
	receiver_join(&r, tid);
	assert_int_equal(r.rc, IP_OK);
	assert_string_equal(r.m.body, "wake up");
	assert_true(r.took_ms < 5000);
	assert_int_equal(queue_delete(f->q, &r.m, &err), IP_OK);
	queue_msg_clear(&r.m);
}

static void
test_wake_ends_blocked_receive(void **state)
{
	struct fix *f = *state;
	struct receiver r;
	pthread_t tid;
	int wakes = 0;

	receiver_start(&r, f->q, 60000, &tid);
	/* wake only ends receives already blocked, so keep waking until the
	 * receiver reports back; each round waits on its signal. */
	pthread_mutex_lock(&r.lock);
	while (!r.done) {
		struct timespec ts;

		pthread_mutex_unlock(&r.lock);
		queue_wake(f->q);
		wakes++;
		pthread_mutex_lock(&r.lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!r.done)
			pthread_cond_timedwait(&r.cond, &r.lock, &ts);
	}
	pthread_mutex_unlock(&r.lock);
	receiver_join(&r, tid);
	assert_int_equal(r.rc, IP_ENOTFOUND);
	assert_null(r.m.body);
	assert_true(r.took_ms < 30000);
	assert_true(wakes >= 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_receive_delete, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_distinct_messages, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_receive_empty_waits, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_visibility_expiry, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_retry_delay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_receipt, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_letter_redrive, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_release_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delayed_send, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blocked_receive_woken_by_send,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wake_ends_blocked_receive,
					    setup, teardown),
	};

	log_set_level(LOG_WARN);
	return cmocka_run_group_tests_name("contract-queue", tests, NULL, NULL);
}
