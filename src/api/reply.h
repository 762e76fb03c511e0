/*
 * reply.h - every way of answering an API request: the neutral response
 * of api.h filled in rq->resp.
 *
 * Every answer goes through reply_queue(), which adds X-Request-Id and
 * counts it in api->metrics; every error body is
 * {"error":{"code":"...","message":"..."}} with the code and status of
 * error.c's table.  5xx details go to the log, not to the client.
 *
 * Thread-safety: a request belongs to the thread that runs it.
 */
#ifndef IMGPIPE_API_REPLY_H
#define IMGPIPE_API_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "api/api.h"

/* Answer with status and what rq->resp holds.  ok false (a response that
 * could not be built) answers 500 out_of_memory instead.  Adds
 * X-Request-Id and counts the answer.  Returns API_NEXT_DONE. */
enum api_next reply_queue(struct api_request *rq, int status, bool ok);

/* Add a response header (value copied, truncated to API_HEADER_VALUE_MAX;
 * past API_RESPONSE_HEADERS_MAX it is dropped with a warning). */
void reply_add_header(struct api_request *rq, const char *name,
		      const char *value);

/* Set a JSON body (reference stolen; NULL is a failure) with
 * Content-Type and Cache-Control: no-store.  false on OOM. */
bool reply_set_json(struct api_request *rq, json_t *body);

/* Set the JSON error body.  false on OOM. */
bool reply_set_error(struct api_request *rq, const char *code_name,
		     const char *message);

/* Set a body of len bytes of text (ownership taken, freed with rq). */
void reply_set_memory(struct api_request *rq, char *text, size_t len);

/* Serve length bytes of fd (ownership taken) from offset. */
void reply_set_file(struct api_request *rq, int fd, uint64_t offset,
		    uint64_t length);

/* JSON body (reference stolen; NULL answers 500). */
enum api_next reply_json(struct api_request *rq, int status, json_t *body);

/* Answer the ip_code `code` with its status and name.  For 5xx the message
 * is logged with the request id and the client gets a generic one. */
enum api_next reply_error(struct api_request *rq, int code, const char *fmt,
			  ...) __attribute__((format(printf, 3, 4)));
/* The JSON error of err (429, 503...) with Retry-After: retry_after_s. */
enum api_next reply_retry_after(struct api_request *rq, int retry_after_s,
				const struct ip_error *err);

enum api_next reply_ip_error(struct api_request *rq,
			     const struct ip_error *err);

/* An empty body (204, 304). */
enum api_next reply_empty(struct api_request *rq, int status);

#endif
