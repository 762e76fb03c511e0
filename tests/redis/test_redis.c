/*
 * test_redis.c - what only the Redis Streams queue promises, against the
 * real redis-server named by IMGPIPE_TEST_REDIS_URL (run through
 * with-redis.sh, which also gives a stream name unique to the run in
 * IMGPIPE_TEST_REDIS_STREAM).  The queue.h contract itself is the
 * contract test, run against Redis by tests/redis/meson.build.
 *
 * Covered: a consumer process that dies holding a message loses it to
 * another after the visibility timeout; two queue handles ("processes")
 * draining one stream at once never share a message; the key layout
 * users see (stream, dead-letter stream); foreign stream entries are
 * dropped; URL parsing and credentials;
 * reconnecting after the server dropped the connection.
 *
 * Threads: test_two_consumers runs two receiver threads; one test forks.
 * Waits are the queue's blocking receive, never sleeps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/queue.h"

#define VIS 60
#define LONG_WAIT 10000
#define N_SHARED 40

static char base_url[CONFIG_URL_MAX];
static char base_stream[64];
static char host[256];
static int port;

/* IMGPIPE_TEST_REDIS_URL must be redis://HOST:PORT[/]: the raw checks
 * here connect without credentials.  -1 (every test fails) if not. */
static int
read_env(void)
{
	const char *url = getenv("IMGPIPE_TEST_REDIS_URL");
	const char *stream = getenv("IMGPIPE_TEST_REDIS_STREAM");

	if (url == NULL || stream == NULL || url[0] == '\0' ||
	    stream[0] == '\0' || strlen(url) >= sizeof(base_url) - 64 ||
	    strlen(stream) >= sizeof(base_stream)) {
		fprintf(stderr, "IMGPIPE_TEST_REDIS_URL / _STREAM not set: "
				"run through tests/redis/with-redis.sh\n");
		return -1;
	}
	if (sscanf(url, "redis://%255[^:/@]:%d", host, &port) != 2) {
		fprintf(stderr, "IMGPIPE_TEST_REDIS_URL is not "
				"redis://HOST:PORT/\n");
		return -1;
	}
	util_strlcpy(base_url, url, sizeof(base_url));
	util_strlcpy(base_stream, stream, sizeof(base_stream));
	return 0;
}

/* A stream name for one test: "<run stream>-<tag>". */
static void
test_stream(char *out, size_t size, const char *tag)
{
	assert_true((size_t)snprintf(out, size, "%s-%s", base_stream, tag) <
		    size);
}

static void
url_for(char *out, size_t size, const char *stream)
{
	const char *slash = base_url[strlen(base_url) - 1] == '/' ? "" : "/";

	assert_true((size_t)snprintf(out, size, "%s%s?stream=%s", base_url,
				     slash, stream) < size);
}

static int
open_url(const char *url, struct queue **q, struct ip_error *err)
{
	struct config cfg;

	config_defaults(&cfg);
	util_strlcpy(cfg.queue, url, sizeof(cfg.queue));
	return queue_open(&cfg, q, err);
}

static struct queue *
open_stream(const char *stream)
{
	char url[CONFIG_URL_MAX];
	struct ip_error err = {0};
	struct queue *q = NULL;

	url_for(url, sizeof(url), stream);
	if (open_url(url, &q, &err) != IP_OK)
		fail_msg("open %s: %s", url, err.msg);
	assert_string_equal(queue_name(q), "redis");
	return q;
}

static redisContext *
raw_connect(void)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout(host, port, tv);

	assert_non_null(c);
	if (c->err != 0)
		fail_msg("raw connect %s:%d: %s", host, port, c->errstr);
	return c;
}

/* A raw command whose reply the caller frees. */
static redisReply *
raw(redisContext *c, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);

	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("%s: %s", argv[0], r->str);
	return r;
}

static long long
raw_int(redisContext *c, int argc, const char **argv)
{
	redisReply *r = raw(c, argc, argv);
	long long v;

	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static void
send_ok(struct queue *q, const char *body)
{
	struct ip_error err = {0};

	if (queue_send(q, body, strlen(body), NULL, 0, &err) != IP_OK)
		fail_msg("send: %s", err.msg);
}

/* ---- a consumer that dies --------------------------------------- */

struct taken {
	char id[QUEUE_ID_MAX];
	char receipt[QUEUE_RECEIPT_MAX];
	int receive_count;
};

/* In a child process: open, take one message with visibility vis_s,
 * report it on fd and die without deleting it or closing anything. */
static void
child_take_and_die(const char *stream, int vis_s, int fd)
{
	char url[CONFIG_URL_MAX];
	struct ip_error err = {0};
	struct queue *q = NULL;
	struct queue_msg m;
	struct taken t;

	memset(&t, 0, sizeof(t));
	if ((size_t)snprintf(url, sizeof(url), "%s%s?stream=%s", base_url,
			     base_url[strlen(base_url) - 1] == '/' ? "" : "/",
			     stream) >= sizeof(url))
		_exit(5);
	if (open_url(url, &q, &err) != IP_OK)
		_exit(2);
	if (queue_receive(q, vis_s, LONG_WAIT, &m, &err) != IP_OK)
		_exit(3);
	util_strlcpy(t.id, m.id, sizeof(t.id));
	util_strlcpy(t.receipt, m.receipt, sizeof(t.receipt));
	t.receive_count = m.receive_count;
	if (write(fd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(4);
	_exit(0); /* the kernel closes its connections; no ack */
}

static void
test_dead_consumer_reclaimed(void **state)
{
	char stream[128];
	struct ip_error err = {0};
	struct queue *q;
	struct queue_msg m, stale;
	struct taken t;
	int fds[2];
	int status;
	pid_t pid;
	int64_t t0, took;

	(void)state;
	test_stream(stream, sizeof(stream), "dies");
	q = open_stream(stream);
	send_ok(q, "job of a worker that dies");
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_take_and_die(stream, 3, fds[1]);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &t, sizeof(t)), sizeof(t));
	close(fds[0]);
	t0 = util_mono_ms();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(t.receive_count, 1);

	/* Hidden for the dead consumer's visibility (3 s) ... */
	memset(&m, 0, sizeof(m));
	assert_int_equal(queue_receive(q, VIS, 0, &m, &err), IP_ENOTFOUND);
	/* ... then reclaimed by this one, counted as a second delivery. */
	if (queue_receive(q, VIS, LONG_WAIT, &m, &err) != IP_OK)
		fail_msg("reclaim: %s", err.msg);
	took = util_mono_ms() - t0;
	assert_string_equal(m.id, t.id);
	assert_string_equal(m.body, "job of a worker that dies");
	assert_int_equal(m.receive_count, 2);
	assert_true(took >= 1000);
	assert_true(took < 8000);
	/* The dead consumer's receipt is spent. */
	stale = m;
	stale.body = NULL;
	util_strlcpy(stale.receipt, t.receipt, sizeof(stale.receipt));
	assert_int_equal(queue_delete(q, &stale, &err), IP_ECONFLICT);
	assert_int_equal(queue_delete(q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	assert_int_equal(queue_receive(q, VIS, 0, &m, &err), IP_ENOTFOUND);
	queue_close(q);
}

/* ---- two consumers at once -------------------------------------- */

struct drainer {
	struct queue *q;
	size_t n;
	struct queue_msg m[N_SHARED];
	int last_rc;
};

/* Take everything it can within visibility; delete nothing. */
static void *
drainer_main(void *arg)
{
	struct drainer *d = arg;
	struct ip_error err = {0};

	for (;;) {
		struct queue_msg m;

		d->last_rc = queue_receive(d->q, VIS, 300, &m, &err);
		if (d->last_rc != IP_OK)
			break;
		if (d->n == N_SHARED) {
			/* More than there are: a duplicate; keep the
			 * evidence by failing in the main thread. */
			queue_msg_clear(&m);
			d->last_rc = IP_EEXIST;
			break;
		}
		d->m[d->n++] = m;
	}
	return NULL;
}

static void
test_two_consumers(void **state)
{
	char stream[128];
	struct ip_error err = {0};
	struct drainer *a = calloc(1, sizeof(*a));
	struct drainer *b = calloc(1, sizeof(*b));
	struct queue *sender;
	bool seen[N_SHARED] = {false};
	pthread_t ta, tb;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	test_stream(stream, sizeof(stream), "two");
	sender = open_stream(stream);
	a->q = open_stream(stream);
	b->q = open_stream(stream);
	for (int i = 0; i < N_SHARED; i++) {
		char body[16];

		snprintf(body, sizeof(body), "%d", i);
		send_ok(sender, body);
	}
	assert_int_equal(pthread_create(&ta, NULL, drainer_main, a), 0);
	assert_int_equal(pthread_create(&tb, NULL, drainer_main, b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(a->last_rc, IP_ENOTFOUND);
	assert_int_equal(b->last_rc, IP_ENOTFOUND);
	/* Every message exactly once, each a first delivery. */
	assert_int_equal(a->n + b->n, N_SHARED);
	for (int k = 0; k < 2; k++) {
		struct drainer *d = k == 0 ? a : b;

		for (size_t i = 0; i < d->n; i++) {
			int v = atoi(d->m[i].body);

			assert_true(v >= 0 && v < N_SHARED);
			assert_false(seen[v]);
			seen[v] = true;
			assert_int_equal(d->m[i].receive_count, 1);
			assert_int_equal(queue_delete(d->q, &d->m[i], &err),
					 IP_OK);
			queue_msg_clear(&d->m[i]);
		}
	}
	queue_close(a->q);
	queue_close(b->q);
	queue_close(sender);
	free(a);
	free(b);
}

/* ---- what a Redis user sees ------------------------------------- */

static const redisReply *
field(const redisReply *fields, const char *name)
{
	for (size_t i = 0; i + 1 < fields->elements; i += 2)
		if (strcmp(fields->element[i]->str, name) == 0)
			return fields->element[i + 1];
	fail_msg("no field %s", name);
	return NULL;
}

static void
test_layout(void **state)
{
	char stream[128];
	char dead[160];
	struct ip_error err = {0};
	struct queue *q;
	struct queue_msg m;
	redisContext *c;
	redisReply *r;
	const redisReply *f;

	(void)state;
	test_stream(stream, sizeof(stream), "layout");
	snprintf(dead, sizeof(dead), "%s:dead", stream);
	q = open_stream(stream);
	c = raw_connect();
	/* The consumer group exists from open on (XGROUP CREATE MKSTREAM). */
	{
		const char *argv[] = {"XINFO", "GROUPS", stream};

		r = raw(c, 3, argv);
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		assert_int_equal(r->elements, 1);
		assert_string_equal(r->element[0]->element[1]->str, "workers");
		freeReplyObject(r);
	}
	send_ok(q, "{\"Records\":[1]}");
	{
		const char *argv[] = {"XLEN", stream};

		assert_int_equal(raw_int(c, 2, argv), 1);
	}
	if (queue_receive(q, VIS, 1000, &m, &err) != IP_OK)
		fail_msg("receive: %s", err.msg);
	assert_int_equal(queue_dead_letter(q, &m, "decode failed", &err),
			 IP_OK);
	queue_msg_clear(&m);
	/* Gone from the stream and from the group's pending list ... */
	{
		const char *xlen[] = {"XLEN", stream};
		const char *xpending[] = {"XPENDING", stream, "workers"};

		assert_int_equal(raw_int(c, 2, xlen), 0);
		r = raw(c, 3, xpending);
		assert_int_equal(r->element[0]->integer, 0);
		freeReplyObject(r);
	}
	/* ... and in the dead-letter stream with reason and count. */
	{
		const char *argv[] = {"XRANGE", dead, "-", "+"};

		r = raw(c, 4, argv);
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		assert_int_equal(r->elements, 1);
		f = r->element[0]->element[1];
		assert_string_equal(field(f, "body")->str, "{\"Records\":[1]}");
		assert_string_equal(field(f, "reason")->str, "decode failed");
		assert_string_equal(field(f, "count")->str, "1");
		assert_true(atoll(field(f, "dead_at")->str) > 0);
		freeReplyObject(r);
	}
	assert_int_equal(queue_dlq_redrive(q, NULL, &err), 1);
	{
		const char *xlen[] = {"XLEN", stream};
		const char *dlen[] = {"XLEN", dead};

		assert_int_equal(raw_int(c, 2, xlen), 1);
		assert_int_equal(raw_int(c, 2, dlen), 0);
	}
	if (queue_receive(q, VIS, 1000, &m, &err) != IP_OK)
		fail_msg("receive: %s", err.msg);
	assert_int_equal(queue_delete(q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	queue_close(q);
	/* close removed this handle's consumers, which held nothing. */
	{
		const char *argv[] = {"XINFO", "CONSUMERS", stream, "workers"};

		r = raw(c, 4, argv);
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		assert_int_equal(r->elements, 0);
		freeReplyObject(r);
	}
	redisFree(c);
}

/* An entry some other program added is dropped, not handed out (it would
 * fail every receive), and the queue goes on working. */
static void
test_foreign_entry(void **state)
{
	char stream[128];
	struct ip_error err = {0};
	struct queue *q;
	struct queue_msg m;
	redisContext *c;

	(void)state;
	test_stream(stream, sizeof(stream), "foreign");
	q = open_stream(stream);
	c = raw_connect();
	{
		const char *a[] = {"XADD", stream, "*", "hello", "world"};
		const char *b[] = {"XADD", stream, "*", "id", "x", "body", "y"};
		const char *d[] = {"XADD", stream, "*", "id", "7", "body", ""};

		freeReplyObject(raw(c, 5, a));
		freeReplyObject(raw(c, 7, b));
		freeReplyObject(raw(c, 7, d));
	}
	send_ok(q, "real");
	if (queue_receive(q, VIS, 1000, &m, &err) != IP_OK)
		fail_msg("receive: %s", err.msg);
	assert_string_equal(m.body, "real");
	assert_int_equal(m.receive_count, 1);
	assert_int_equal(queue_delete(q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	assert_int_equal(queue_receive(q, VIS, 0, &m, &err), IP_ENOTFOUND);
	{
		const char *xlen[] = {"XLEN", stream};

		assert_int_equal(raw_int(c, 2, xlen), 0);
	}
	redisFree(c);
	queue_close(q);
}

/* db, stream and group from the query land where they say.  Empty
 * sequences ("&&", a trailing '&') are skipped, as core/query.h and the
 * WHATWG URL standard have it (they were refused before issue 8). */
static void
test_url_options(void **state)
{
	char stream[128];
	char url[CONFIG_URL_MAX];
	struct ip_error err = {0};
	struct queue *q = NULL;
	redisContext *c;
	redisReply *r;

	(void)state;
	test_stream(stream, sizeof(stream), "db3");
	assert_true((size_t)snprintf(url, sizeof(url),
				     "redis://%s:%d/3?group=resizers&&"
				     "stream=%s&",
				     host, port, stream) < sizeof(url));
	if (open_url(url, &q, &err) != IP_OK)
		fail_msg("open: %s", err.msg);
	send_ok(q, "in db 3");
	c = raw_connect();
	{
		const char *select3[] = {"SELECT", "3"};
		const char *xlen[] = {"XLEN", stream};
		const char *groups[] = {"XINFO", "GROUPS", stream};

		freeReplyObject(raw(c, 2, select3));
		assert_int_equal(raw_int(c, 2, xlen), 1);
		r = raw(c, 3, groups);
		assert_int_equal(r->elements, 1);
		assert_string_equal(r->element[0]->element[1]->str, "resizers");
		freeReplyObject(r);
	}
	queue_close(q);
	/* with-redis.sh cleans db 0 only: remove what this test made. */
	{
		const char *scan[] = {"KEYS", "*"};
		char pattern[160];

		snprintf(pattern, sizeof(pattern), "%s*", stream);
		scan[1] = pattern;
		r = raw(c, 2, scan);
		assert_true(r->elements >= 1);
		for (size_t i = 0; i < r->elements; i++) {
			const char *del[] = {"DEL", r->element[i]->str};

			assert_int_equal(raw_int(c, 2, del), 1);
		}
		freeReplyObject(r);
	}
	redisFree(c);
}

static void
test_bad_urls(void **state)
{
	static const char *const bad[] = {
	    "redis://",
	    "redis:/127.0.0.1:6379/",
	    "rediss://127.0.0.1/",
	    "redis://:s3cret@/",
	    "redis://127.0.0.1:0/",
	    "redis://127.0.0.1:65536/",
	    "redis://127.0.0.1:63a9/",
	    "redis://127.0.0.1:/",
	    "redis://ho st/",
	    "redis://[::1/",
	    "redis://user@127.0.0.1/",
	    "redis://:@127.0.0.1/",
	    "redis://127.0.0.1/x",
	    "redis://127.0.0.1/-1",
	    "redis://127.0.0.1/?stream=",
	    "redis://127.0.0.1/?stream=a%20b",
	    "redis://127.0.0.1/?stream=a&stream=b",
	    "redis://127.0.0.1/?bogus=1",
	    "redis://127.0.0.1/?group",
	    "redis://127.0.0.1/?db=70000",
	    "redis://127.0.0.1/2?db=2",
	    "redis://127.0.0.1/#frag",
	    "redis://:s3cret@127.0.0.1/?stream=%zz",
	    "redis://127.0.0.1/?stream="
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ip_error err = {0};
		struct queue *q = NULL;
		int rc = open_url(bad[i], &q, &err);

		if (rc != IP_EINVAL)
			fail_msg("%s: %d (%s), want IP_EINVAL", bad[i], rc,
				 err.msg);
		assert_null(q);
		/* Messages never echo a password. */
		assert_null(strstr(err.msg, "s3cret"));
	}
}

/* A valid URL with nothing listening: a backend error, at once. */
static void
test_server_down(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char url[CONFIG_URL_MAX];
	struct ip_error err = {0};
	struct queue *q = NULL;
	int fd;

	(void)state;
	/* Bound but not listening: connections to it are refused. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/", ntohs(sa.sin_port));
	assert_int_equal(open_url(url, &q, &err), IP_EBACKEND);
	assert_null(q);
	assert_non_null(strstr(err.msg, "connect"));
	close(fd);
}

/* A user of the server's ACL: right password works, wrong is IP_EAUTH. */
static void
test_auth(void **state)
{
	char user[64];
	char url[CONFIG_URL_MAX];
	unsigned char rnd[4];
	struct ip_error err = {0};
	struct queue *q = NULL;
	redisContext *c;
	char stream[128];

	(void)state;
	assert_int_equal(getrandom(rnd, sizeof(rnd), 0), sizeof(rnd));
	snprintf(user, sizeof(user), "imgpipe-test-%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3]);
	test_stream(stream, sizeof(stream), "auth");
	c = raw_connect();
	{
		const char *argv[] = {"ACL",	    "SETUSER", user, "on",
				      ">p@ss:word", "~*",      "&*", "+@all"};

		freeReplyObject(raw(c, 8, argv));
	}
	/* '@' and ':' in the password are percent-encoded. */
	snprintf(url, sizeof(url),
		 "redis://%s:p%%40ss%%3Aword@%s:%d/"
		 "?stream=%s",
		 user, host, port, stream);
	if (open_url(url, &q, &err) != IP_OK)
		fail_msg("open with the right password: %s", err.msg);
	assert_int_equal(queue_ping(q, &err), IP_OK);
	queue_close(q);
	q = NULL;
	snprintf(url, sizeof(url), "redis://%s:wrong@%s:%d/?stream=%s", user,
		 host, port, stream);
	assert_int_equal(open_url(url, &q, &err), IP_EAUTH);
	assert_null(q);
	assert_null(strstr(err.msg, "wrong"));
	{
		const char *argv[] = {"ACL", "DELUSER", user};

		assert_int_equal(raw_int(c, 3, argv), 1);
	}
	redisFree(c);
}

/* Kill this process's connections server-side (CLIENT KILL by the
 * names the queue gives them: imgpipe-<host>-<pid>-...). */
static int
kill_my_connections(redisContext *c)
{
	char needle[32];
	const char *list[] = {"CLIENT", "LIST"};
	redisReply *r = raw(c, 2, list);
	int killed = 0;
	char *save = NULL;

	snprintf(needle, sizeof(needle), "-%ld-", (long)getpid());
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	for (char *line = strtok_r(r->str, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char id[32];
		const char *name = strstr(line, " name=imgpipe-");

		if (name == NULL || strstr(name, needle) == NULL ||
		    sscanf(line, "id=%31s", id) != 1)
			continue;
		{
			const char *kill[] = {"CLIENT", "KILL", "ID", id};

			killed += (int)raw_int(c, 4, kill);
		}
	}
	freeReplyObject(r);
	return killed;
}

static void
test_reconnect(void **state)
{
	char stream[128];
	struct ip_error err = {0};
	struct queue *q;
	struct queue_msg m;
	redisContext *c;

	(void)state;
	test_stream(stream, sizeof(stream), "reconnect");
	q = open_stream(stream);
	assert_int_equal(queue_ping(q, &err), IP_OK);
	c = raw_connect();
	assert_true(kill_my_connections(c) >= 1);
	/* The call that meets the dead connection fails ... */
	assert_int_equal(queue_ping(q, &err), IP_EBACKEND);
	assert_non_null(strstr(err.msg, "connection lost"));
	/* ... the next one reconnects. */
	assert_int_equal(queue_ping(q, &err), IP_OK);
	send_ok(q, "after reconnect");
	if (queue_receive(q, VIS, 1000, &m, &err) != IP_OK)
		fail_msg("receive: %s", err.msg);
	assert_string_equal(m.body, "after reconnect");
	assert_int_equal(queue_delete(q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	redisFree(c);
	queue_close(q);
}

static int
group_setup(void **state)
{
	(void)state;
	return read_env();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_urls),
	    cmocka_unit_test(test_server_down),
	    cmocka_unit_test(test_dead_consumer_reclaimed),
	    cmocka_unit_test(test_two_consumers),
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_foreign_entry),
	    cmocka_unit_test(test_url_options),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_reconnect),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests_name("redis-queue", tests, group_setup,
					   NULL);
}
