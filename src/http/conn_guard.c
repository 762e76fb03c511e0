/*
 * conn_guard.c - see conn_guard.h.  Called by server.c from
 * libmicrohttpd's threads (the listening thread adds and removes, each
 * connection's thread moves its entry from phase to phase); the reaper is
 * the one thread of its own.
 *
 * DESIGN.  libmicrohttpd's idle timeout restarts on every byte, so a
 * client that sends a byte every few seconds holds a connection (and, in
 * thread-per-connection mode, a thread) for ever.  The deadlines here
 * count from the start of a phase instead, whatever arrives meanwhile.
 *
 * Why shutdown(2) from another thread is safe: in thread-per-connection
 * mode the connection's thread never closes its socket; the listening
 * thread joins it, calls the CLOSED notification (conn_guard_remove,
 * which takes our lock) and only then closes the fd.  So while an entry
 * is in the table, under the lock, its fd is the connection's.  The
 * shutdown wakes the connection's poll(); libmicrohttpd reads EOF and
 * ends the connection through its ordinary path (the request, if any,
 * completes as terminated early).
 */
#include "http/conn_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"

#define LOG_EVERY_MS 1000

enum phase {
	PHASE_HEADERS, /* deadline: since + header_ms */
	PHASE_BODY, /* rate floor once header_ms has passed */
	PHASE_OURS, /* handler, response: no deadline here */
	PHASE_SHUT /* shut down; waiting for libmicrohttpd to notice */
};

struct conn_guard_entry {
	struct conn_guard_entry *prev, *next;
	int fd;
	enum phase phase;
	int64_t since_ms;
	int64_t body_bytes;
};

struct conn_guard {
	struct conn_guard_limits limits;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* stop was asked */
	pthread_t reaper;
	bool stop;
	struct conn_guard_entry *head;
	/* since the last log line */
	int64_t slow_headers;
	int64_t slow_bodies;
	int64_t refused;
	int64_t logged_ms;
};

/* Past its deadline at now?  Under g->lock. */
static bool
entry_overdue(const struct conn_guard *g, const struct conn_guard_entry *e,
	      int64_t now)
{
	int64_t elapsed = now - e->since_ms;

	if (e->phase == PHASE_HEADERS)
		return elapsed > g->limits.header_ms;
	if (e->phase != PHASE_BODY || g->limits.min_body_rate <= 0 ||
	    elapsed <= g->limits.header_ms)
		return false;
	return e->body_bytes * 1000 < g->limits.min_body_rate * elapsed;
}

/* One pass over the table.  Under g->lock. */
static void
guard_sweep(struct conn_guard *g, int64_t now)
{
	for (struct conn_guard_entry *e = g->head; e != NULL; e = e->next) {
		if (!entry_overdue(g, e, now))
			continue;
		if (e->phase == PHASE_HEADERS)
			g->slow_headers++;
		else
			g->slow_bodies++;
		e->phase = PHASE_SHUT;
		if (shutdown(e->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
			log_warn("http: shutdown of a slow connection: %s",
				 strerror(errno));
	}
}

/* The summary line, at most once per LOG_EVERY_MS.  Under g->lock. */
static void
guard_log(struct conn_guard *g, int64_t now)
{
	if (g->slow_headers + g->slow_bodies + g->refused == 0 ||
	    now - g->logged_ms < LOG_EVERY_MS)
		return;
	log_info("http: closed %lld connection(s) past the header deadline "
		 "(%lld ms), %lld with a body slower than %lld B/s; refused "
		 "%lld over the per-client cap",
		 (long long)g->slow_headers, (long long)g->limits.header_ms,
		 (long long)g->slow_bodies, (long long)g->limits.min_body_rate,
		 (long long)g->refused);
	g->slow_headers = 0;
	g->slow_bodies = 0;
	g->refused = 0;
	g->logged_ms = now;
}

static void *
guard_main(void *arg)
{
	struct conn_guard *g = arg;
	struct timespec ts;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		int64_t now = util_mono_ms();

		guard_sweep(g, now);
		guard_log(g, now);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(g->limits.period_ms % 1000) * 1000000L;
		ts.tv_sec += (time_t)(g->limits.period_ms / 1000) +
			     ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
	}
	guard_log(g, util_mono_ms() + LOG_EVERY_MS);
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int
conn_guard_new(const struct conn_guard_limits *limits, struct conn_guard **out,
	       struct ip_error *err)
{
	struct conn_guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (g == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	g->limits = *limits;
	if (g->limits.period_ms <= 0)
		g->limits.period_ms = 1;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&g->reaper, NULL, guard_main, g);
	if (rc != 0) {
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return ip_error_set(err, IP_EIO, "reaper thread: %s",
				    strerror(rc));
	}
	*out = g;
	return IP_OK;
}

void
conn_guard_free(struct conn_guard *g)
{
	struct conn_guard_entry *next;

	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->reaper, NULL);
	for (struct conn_guard_entry *e = g->head; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

struct conn_guard_entry *
conn_guard_add(struct conn_guard *g, int fd)
{
	struct conn_guard_entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->fd = fd;
	e->phase = PHASE_HEADERS;
	e->since_ms = util_mono_ms();
	pthread_mutex_lock(&g->lock);
	e->next = g->head;
	if (g->head != NULL)
		g->head->prev = e;
	g->head = e;
	pthread_mutex_unlock(&g->lock);
	return e;
}

void
conn_guard_remove(struct conn_guard *g, struct conn_guard_entry *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		g->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	pthread_mutex_unlock(&g->lock);
	free(e);
}

/* Enter phase p now, unless the reaper got there first. */
static void
entry_enter(struct conn_guard *g, struct conn_guard_entry *e, enum phase p)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (e->phase != PHASE_SHUT) {
		e->phase = p;
		e->since_ms = util_mono_ms();
		e->body_bytes = 0;
	}
	pthread_mutex_unlock(&g->lock);
}

void
conn_guard_ours(struct conn_guard *g, struct conn_guard_entry *e)
{
	entry_enter(g, e, PHASE_OURS);
}

void
conn_guard_body_begin(struct conn_guard *g, struct conn_guard_entry *e)
{
	entry_enter(g, e, PHASE_BODY);
}

void
conn_guard_body(struct conn_guard *g, struct conn_guard_entry *e, size_t n)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	e->body_bytes += (int64_t)n;
	pthread_mutex_unlock(&g->lock);
}

void
conn_guard_idle(struct conn_guard *g, struct conn_guard_entry *e)
{
	entry_enter(g, e, PHASE_HEADERS);
}

void
conn_guard_refused(struct conn_guard *g)
{
	pthread_mutex_lock(&g->lock);
	g->refused++;
	pthread_mutex_unlock(&g->lock);
}
