/*
 * reply.c - JSON replies and errors for the gateway (reply.h).
 *
 * Called by server.c, handlers.c and upload.c on libmicrohttpd's
 * connection threads.  No state of its own.
 */
#include "api/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "app/app.h"

/* Answered when even the error body cannot be allocated. */
static char oom_body[] =
    "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of "
    "memory\"}}\n";
static char empty_body[] = "";

enum MHD_Result
reply_queue(struct http_request *rq, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (resp == NULL) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		resp = MHD_create_response_from_buffer(
		    strlen(oom_body), oom_body, MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/json");
	}
	MHD_add_response_header(resp, "X-Request-Id", rq->id);
	if (rq->closing != NULL && atomic_load(rq->closing))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
					"close");
	atomic_fetch_add(&rq->app->metrics.http_requests, 1);
	if (status >= 400)
		atomic_fetch_add(&rq->app->metrics.http_errors, 1);
	rq->status = (int)status;
	rq->answered = true;
	ret = MHD_queue_response(rq->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Compact JSON text plus a newline (friendlier to curl); NULL on OOM. */
struct MHD_Response *
reply_json_response(json_t *body)
{
	struct MHD_Response *resp;
	char *text;
	char *grown;
	size_t n;

	if (body == NULL)
		return NULL;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	grown = realloc(text, n + 2);
	if (grown == NULL) {
		free(text);
		return NULL;
	}
	grown[n] = '\n';
	grown[n + 1] = '\0';
	resp = MHD_create_response_from_buffer(n + 1, grown,
					       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(grown);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	return resp;
}

enum MHD_Result
reply_json(struct http_request *rq, unsigned status, json_t *body)
{
	struct MHD_Response *resp = reply_json_response(body);

	return reply_queue(rq, resp != NULL ? status : 500, resp);
}

struct MHD_Response *
reply_error_response(const char *code_name, const char *message)
{
	return reply_json_response(json_pack("{s:{s:s, s:s}}", "error", "code",
					     code_name, "message", message));
}

static enum MHD_Result
reply_error_msg(struct http_request *rq, int code, const char *msg)
{
	int status = ip_code_http(code);
	char generic[128];

	if (code == IP_OK) {
		code = IP_EIO;
		status = 500;
	}
	if (status >= 500) {
		/* Backend details go to the log, not to the client. */
		log_warn("http %s: %s %s: %s (%s)", rq->id, rq->method,
			 rq->path, msg, ip_code_name(code));
		snprintf(generic, sizeof(generic), "%s (request %s)",
			 status == 503 ? "a backend is unavailable, retry later"
				       : "internal error",
			 rq->id);
		msg = generic;
	}
	return reply_queue(rq, (unsigned)status,
			   reply_error_response(ip_code_name(code), msg));
}

enum MHD_Result
reply_error(struct http_request *rq, int code, const char *fmt, ...)
{
	char msg[IP_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_error_msg(rq, code, msg);
}

enum MHD_Result
reply_ip_error(struct http_request *rq, const struct ip_error *err)
{
	return reply_error_msg(rq, err->code, err->msg);
}

struct MHD_Response *
reply_empty_response(void)
{
	return MHD_create_response_from_buffer(0, empty_body,
					       MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result
reply_empty(struct http_request *rq, unsigned status)
{
	return reply_queue(rq, status, reply_empty_response());
}

const char *
reply_header(const struct http_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *
reply_query(const struct http_request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}
