/*
 * reply.h - one request's state inside the gateway, and every way of
 * answering it.
 *
 * Every response goes through reply_queue(), which adds X-Request-Id,
 * counts the answer in app->metrics and queues it; every error body is
 * {"error":{"code":"...","message":"..."}} with the code and status of
 * error.c's table.  5xx details go to the log, not to the client.
 *
 * Thread-safety: a struct http_request belongs to the connection thread
 * that libmicrohttpd runs it on.
 */
#ifndef IMGPIPE_HTTP_REPLY_H
#define IMGPIPE_HTTP_REPLY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/error.h"
#include "api/routes.h"

struct app;
struct upload;
struct route_handler;

struct http_request {
	struct app *app;
	struct MHD_Connection *conn;
	const atomic_bool *closing; /* server quiescing */
	const struct route_handler *handler;
	const char *method; /* libmicrohttpd's, lives as long */
	bool head;
	bool answered;
	int status;
	int64_t started_ms;
	char id[32]; /* X-Request-Id */
	char path[128]; /* truncated, for the log */
	struct upload *upload; /* upload.c's state, or NULL */
	char *body; /* events.c: a small body read whole */
	size_t body_len;
	bool body_over; /* the body passed its bound */
	int route_rc; /* routes_match's verdict */
	struct ip_error route_err;
	struct route_match match;
};

/* Queue resp with status: adds X-Request-Id (and Connection: close while
 * quiescing), counts it, and releases resp.  Returns libmicrohttpd's
 * verdict. */
enum MHD_Result reply_queue(struct http_request *rq, unsigned status,
			    struct MHD_Response *resp);

/* A JSON response not yet queued (body stolen; NULL in, NULL out), with
 * Content-Type and Cache-Control: no-store, for callers that add headers
 * (Location). */
struct MHD_Response *reply_json_response(json_t *body);

/* JSON body (reference stolen; NULL answers 500).  Sets Content-Type and
 * Cache-Control: no-store. */
enum MHD_Result reply_json(struct http_request *rq, unsigned status,
			   json_t *body);

/* An error response not yet queued, for callers that add headers (Allow,
 * Content-Range).  NULL on OOM. */
struct MHD_Response *reply_error_response(const char *code_name,
					  const char *message);

/* Answer the ip_code `code` with its status and name.  For 5xx the message
 * is logged with the request id and the client gets a generic one. */
enum MHD_Result reply_error(struct http_request *rq, int code, const char *fmt,
			    ...) __attribute__((format(printf, 3, 4)));
enum MHD_Result reply_ip_error(struct http_request *rq,
			       const struct ip_error *err);

/* An empty body (204); reply_empty_response for callers that add
 * headers first (304).  NULL on OOM. */
enum MHD_Result reply_empty(struct http_request *rq, unsigned status);
struct MHD_Response *reply_empty_response(void);

/* A request header or query value (raw, not decoded); NULL if absent. */
const char *reply_header(const struct http_request *rq, const char *name);
const char *reply_query(const struct http_request *rq, const char *name);

#endif
