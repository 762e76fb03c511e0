/*
 * handlers.h - what the gateway does for each route (server.c dispatches
 * through a table indexed by enum route_id).
 *
 * A handler without a body answers in begin(), called once the request is
 * complete; an upload handler's begin() runs as soon as the headers are in
 * (and answers at once when they settle it: 413 by Content-Length, 415),
 * body() takes each chunk, end() answers when the body is complete.
 *
 * Thread-safety: each runs on its request's connection thread and may
 * block (table reads, ingest, `?wait=`).
 */
#ifndef IMGPIPE_HTTP_HANDLERS_H
#define IMGPIPE_HTTP_HANDLERS_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/record.h"
#include "api/reply.h"

struct app;

struct route_handler {
	enum MHD_Result (*begin)(struct http_request *rq);
	/* 0 to go on, -1 to drop the connection (a client that keeps
	 * sending far past a refusal); NULL: the body is ignored. */
	int (*body)(struct http_request *rq, const char *data, size_t len);
	enum MHD_Result (*end)(struct http_request *rq);
};

enum MHD_Result handlers_image_get(struct http_request *rq);
enum MHD_Result handlers_image_list(struct http_request *rq);
enum MHD_Result handlers_image_delete(struct http_request *rq);
enum MHD_Result handlers_image_original(struct http_request *rq);
enum MHD_Result handlers_image_variant(struct http_request *rq);
enum MHD_Result handlers_healthz(struct http_request *rq);
enum MHD_Result handlers_readyz(struct http_request *rq);
enum MHD_Result handlers_metrics(struct http_request *rq);

/* The record as the API shows it: record_to_json plus "links" {self,
 * original, variants{name: url}}.  New reference, NULL on OOM. */
json_t *handlers_record_json(const struct app *app, const struct record *r);

#endif
