/*
 * conn_guard.h - deadlines on the phases of an HTTP connection that a
 * client alone can stretch: waiting for request headers, and reading a
 * request body.  A reaper thread shuts down (shutdown(2), never close) the
 * socket of a connection past its deadline; the transport then sees the
 * connection end as if the client had hung up.
 *
 * Used by server.c: conn_guard_add when libmicrohttpd starts a
 * connection, the phase calls from that connection's thread, and
 * conn_guard_remove when libmicrohttpd reports it closed, which it does
 * before it closes the socket (so the fd in the table is never a reused
 * one).  Every call is thread-safe: one mutex guards the table, and the
 * reaper holds it around each shutdown.
 */
#ifndef IMGPIPE_HTTP_CONN_GUARD_H
#define IMGPIPE_HTTP_CONN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct conn_guard;
struct conn_guard_entry;

struct conn_guard_limits {
	/* From accept, or the end of the previous response, to the end of
	 * the request headers. */
	int64_t header_ms;
	/* A body must average at least this many bytes/s once header_ms
	 * has passed since its headers; 0 = no floor. */
	int64_t min_body_rate;
	/* How often the reaper looks (also its reaction time). */
	int64_t period_ms;
};

/* Start the reaper thread.  IP_ENOMEM or IP_EIO (thread) with err set. */
int conn_guard_new(const struct conn_guard_limits *limits,
		   struct conn_guard **out, struct ip_error *err);

/* Stop the reaper and free g with any entry left.  NULL-safe. */
void conn_guard_free(struct conn_guard *g);

/* Track the connection on socket fd, now waiting for headers.  NULL on
 * out of memory (the connection is then simply not guarded). */
struct conn_guard_entry *conn_guard_add(struct conn_guard *g, int fd);

/* Forget e (NULL-safe); the caller closes the fd only after this. */
void conn_guard_remove(struct conn_guard *g, struct conn_guard_entry *e);

/* The request is ours, no deadline: its headers are in and it is being
 * decided or handled, or its body is complete. */
void conn_guard_ours(struct conn_guard *g, struct conn_guard_entry *e);

/* Its body is read from now on: the rate floor applies. */
void conn_guard_body_begin(struct conn_guard *g, struct conn_guard_entry *e);

/* n more body bytes were read. */
void conn_guard_body(struct conn_guard *g, struct conn_guard_entry *e,
		     size_t n);

/* The response is done: the next request's headers are awaited. */
void conn_guard_idle(struct conn_guard *g, struct conn_guard_entry *e);

/* Count a connection refused before it started (the per-client cap).
 * The reaper logs, at most once a second, one info line with what it
 * shut down and what was refused since its last line, so an attack
 * costs a line a second, not a line a connection. */
void conn_guard_refused(struct conn_guard *g);

#endif
