/*
 * reply.c - JSON replies and errors of the API (reply.h), written into the
 * neutral response of api.h.
 *
 * Called by api.c, handlers.c, upload.c and events.c on the request's
 * thread.  No state of its own.
 */
#include "api/reply.h"

#include <glib.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/cors.h"
#include "api/statuses.h"
#include "core/diskspace.h"
#include "core/log.h"

/* Answered when even the error body cannot be allocated. */
static char oom_body[] =
    "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of "
    "memory\"}}\n";

/* Forget the body and headers built so far. */
static void
reply_reset(struct api_response *resp)
{
	api_response_clear(resp);
	memset(resp, 0, sizeof(*resp));
	resp->fd = -1;
}

void
reply_add_header(struct api_request *rq, const char *name, const char *value)
{
	struct api_response *resp = &rq->resp;

	if (resp->n_headers == API_RESPONSE_HEADERS_MAX) {
		log_warn("api %s: header %s dropped", rq->id, name);
		return;
	}
	resp->headers[resp->n_headers].value =
	    g_strndup(value, API_HEADER_VALUE_MAX - 1);
	resp->headers[resp->n_headers].name = name;
	resp->n_headers++;
}

/* The contract (statuses.h): an answer its route does not declare is a
 * bug of the server or of docs/openapi.yaml; the integration harness
 * fails a test on this line.  Answers given before a route was known,
 * and a worker's 404 for a route it does not serve, belong to no row. */
static void
check_declared(const struct api_request *rq, int status)
{
	const int *row;

	if (rq->match.route == NULL || rq->route_rc == IP_ENOTFOUND)
		return;
	row = strcmp(rq->method, "OPTIONS") == 0
		  ? statuses_options()
		  : statuses_of(rq->match.route->id);
	if (!statuses_has(row, status))
		log_error("api %s: undeclared status %d for %s %s "
			  "(src/api/statuses.c, docs/openapi.yaml)",
			  rq->id, status, rq->method, rq->match.route->pattern);
}

enum api_next
reply_queue(struct api_request *rq, int status, bool ok)
{
	if (!ok) {
		reply_reset(&rq->resp);
		status = 500;
		rq->resp.body = API_BODY_MEMORY;
		rq->resp.mem = oom_body;
		rq->resp.mem_len = strlen(oom_body);
		rq->resp.mem_static = true;
		reply_add_header(rq, "Content-Type", "application/json");
	}
	reply_add_header(rq, "X-Request-Id", rq->id);
	check_declared(rq, status);
	cors_decorate(rq);
	atomic_fetch_add(&rq->api->metrics.http_requests, 1);
	if (status >= 400)
		atomic_fetch_add(&rq->api->metrics.http_errors, 1);
	rq->resp.status = status;
	rq->answered = true;
	return API_NEXT_DONE;
}

void
reply_set_memory(struct api_request *rq, char *text, size_t len)
{
	reply_reset(&rq->resp);
	rq->resp.body = API_BODY_MEMORY;
	rq->resp.mem = text;
	rq->resp.mem_len = len;
}

void
reply_set_file(struct api_request *rq, int fd, uint64_t offset, uint64_t length)
{
	reply_reset(&rq->resp);
	rq->resp.body = API_BODY_FILE;
	rq->resp.fd = fd;
	rq->resp.offset = offset;
	rq->resp.length = length;
}

/* Compact JSON text plus a newline (friendlier to curl). */
bool
reply_set_json(struct api_request *rq, json_t *body)
{
	char *text;
	char *grown;
	size_t n;

	reply_reset(&rq->resp);
	if (body == NULL)
		return false;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return false;
	n = strlen(text);
	grown = realloc(text, n + 2);
	if (grown == NULL) {
		free(text);
		return false;
	}
	grown[n] = '\n';
	grown[n + 1] = '\0';
	reply_set_memory(rq, grown, n + 1);
	reply_add_header(rq, "Content-Type", "application/json");
	reply_add_header(rq, "Cache-Control", "no-store");
	return true;
}

enum api_next
reply_json(struct api_request *rq, int status, json_t *body)
{
	return reply_queue(rq, status, reply_set_json(rq, body));
}

bool
reply_set_error(struct api_request *rq, const char *code_name,
		const char *message)
{
	return reply_set_json(rq, json_pack("{s:{s:s, s:s}}", "error", "code",
					    code_name, "message", message));
}

static enum api_next
reply_error_msg(struct api_request *rq, int code, const char *msg)
{
	int status = ip_code_http(code);
	char generic[128];

	if (code == IP_OK) {
		code = IP_EIO;
		status = 500;
	}
	if (status >= 500) {
		/* Backend details go to the log, not to the client. */
		log_warn("api %s: %s %s: %s (%s)", rq->id, rq->method, rq->path,
			 msg, ip_code_name(code));
		snprintf(generic, sizeof(generic), "%s (request %s)",
			 status == 507 ? "the server's storage is full, "
					 "retry later"
			 : status == 503
			     ? "a backend is unavailable, retry later"
			     : "internal error",
			 rq->id);
		msg = generic;
	}
	if (code == IP_ENOSPACE) {
		/* Nothing was stored; come back when there is room. */
		struct ip_error full;

		ip_error_set(&full, code, "%s", msg);
		return reply_retry_after(rq, DISKSPACE_RETRY_AFTER_S, &full);
	}
	return reply_queue(rq, status,
			   reply_set_error(rq, ip_code_name(code), msg));
}

enum api_next
reply_error(struct api_request *rq, int code, const char *fmt, ...)
{
	char msg[IP_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_error_msg(rq, code, msg);
}

enum api_next
reply_ip_error(struct api_request *rq, const struct ip_error *err)
{
	return reply_error_msg(rq, err->code, err->msg);
}

enum api_next
reply_empty(struct api_request *rq, int status)
{
	return reply_queue(rq, status, true);
}

enum api_next
reply_retry_after(struct api_request *rq, int retry_after_s,
		  const struct ip_error *err)
{
	char after[16];
	bool ok = reply_set_error(rq, ip_code_name(err->code), err->msg);

	snprintf(after, sizeof(after), "%d", retry_after_s);
	reply_add_header(rq, "Retry-After", after);
	return reply_queue(rq, ip_code_http(err->code), ok);
}
