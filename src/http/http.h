/*
 * http.h - the HTTP gateway (DESIGN §4): libmicrohttpd as one transport of
 * the /v1 API (src/api/api.h) over an app's backends.
 *
 * main.c starts it after app_open() and api_init(), prints the URL, and
 * on SIGTERM calls http_server_quiesce() (from its main loop, not from
 * the signal handler), sets app->stopping so `?wait=` requests return, then http_server_stop().
 *
 * Threads: one listening thread and one thread per connection, all owned
 * by libmicrohttpd; handlers run on the connection's thread and may block
 * (ingest, `?wait=`).  The api and its app are shared read-only; counters
 * are atomics.
 */
#ifndef IMGPIPE_HTTP_H
#define IMGPIPE_HTTP_H

#include "core/error.h"

struct api;
struct http_server;

/* Serve api: bind cfg.listen : cfg.port of api->app (0 = an ephemeral
 * port; read it back with http_server_port) and start serving.  Creates
 * cfg.data_dir/tmp for upload spooling and removes temp files left there
 * by dead processes.  IP_EINVAL for an unusable listen address, IP_EIO if
 * the socket cannot be bound.  The api and its app must outlive the
 * server. */
int http_server_start(struct api *api, struct http_server **out,
		      struct ip_error *err);

/* The bound TCP port. */
int http_server_port(const struct http_server *s);

/* Stop accepting connections; requests in flight and open connections go
 * on, and every answer from now on carries `Connection: close`.
 * Idempotent; NULL-safe. */
void http_server_quiesce(struct http_server *s);

/* Quiesce, wait up to cfg.shutdown_grace_s for requests in flight to be
 * answered, then close every connection, join the threads and free s.
 * NULL-safe. */
void http_server_stop(struct http_server *s);

#endif
