/*
 * lambda.c - the Lambda Runtime API loop (see lambda.h).  One thread:
 * `imgpipe lambda` / bootstrap's main thread.
 *
 * The HTTP is the aws client's plain (unsigned) path (aws_client.h): the
 * same curl setup, connection reuse, header capture and bounded reply
 * buffer as the S3 and DynamoDB backends, so this file is only the
 * protocol: next, then response or error.  An event above Lambda's
 * payload limit is refused through /error rather than served.
 */
#include "hosts/lambda.h"
#include "aws/aws_client.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "app/app.h"
#include "function/function.h"
#include "api/api.h"
#include "hosts/lambda_api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAMBDA_URL_MAX 1024
#define LAMBDA_ID_MAX 128
/* Lambda's own payload limit (synchronous invocations; asynchronous ones
 * carry at most 256 KiB): a larger event is not Lambda's. */
#define LAMBDA_PAYLOAD_MAX (6 * 1024 * 1024)
#define LAMBDA_CONNECT_TIMEOUT_MS 10000
#define LAMBDA_POST_TIMEOUT_MS 30000

struct invocation {
	char id[LAMBDA_ID_MAX];
	struct aws_response rs; /* the event in rs.body */
	bool too_big; /* above LAMBDA_PAYLOAD_MAX: answered, not served */
	struct ip_error too_big_err;
};

int
lambda_base_url(const char *api, char *out, size_t len, struct ip_error *err)
{
	int n;

	if (api == NULL || api[0] == '\0')
		return ip_error_set(err, IP_EINVAL,
				    "AWS_LAMBDA_RUNTIME_API is not set: "
				    "`imgpipe lambda` runs inside Lambda");
	if (strpbrk(api, " \r\n\t") != NULL)
		return ip_error_set(err, IP_EINVAL,
				    "AWS_LAMBDA_RUNTIME_API has white space");
	n = strncmp(api, "http://", 7) == 0 || strncmp(api, "https://", 8) == 0
		? snprintf(out, len, "%s/2018-06-01/runtime", api)
		: snprintf(out, len, "http://%s/2018-06-01/runtime", api);
	if (n < 0 || (size_t)n >= len)
		return ip_error_set(err, IP_EINVAL,
				    "AWS_LAMBDA_RUNTIME_API is too long");
	return IP_OK;
}

/* Request ids go into URLs: accept only [A-Za-z0-9-]. */
static bool
request_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= LAMBDA_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(id[i] == '-' || (id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= 'A' && id[i] <= 'Z')))
			return false;
	return true;
}

/*
 * GET next: blocks until Lambda has an invocation for us.  IP_OK with
 * inv filled; IP_ETOOBIG with inv->id set for an event above
 * LAMBDA_PAYLOAD_MAX (it is answered with an error, not served); another
 * code when the Runtime API is gone.
 */
static int
next_invocation(struct aws_client *c, const char *base, struct invocation *inv,
		struct ip_error *err)
{
	char url[LAMBDA_URL_MAX + 32];
	struct aws_request rq = {
	    .method = "GET",
	    .url = url,
	    .body_fd = -1,
	    .out_fd = -1,
	    .reply_max = LAMBDA_PAYLOAD_MAX,
	    .reply_name = "event",
	    .want_header = "Lambda-Runtime-Aws-Request-Id",
	};
	int rc;

	memset(inv, 0, sizeof(*inv));
	snprintf(url, sizeof(url), "%s/invocation/next", base);
	rc = aws_request_perform(c, &rq, &inv->rs, err);
	if (rc != IP_OK && rc != IP_ETOOBIG) {
		ip_error_prefix(err, "runtime API");
		return rc;
	}
	if (!request_id_ok(inv->rs.header))
		return ip_error_set(err, IP_EBACKEND,
				    "runtime API: no usable Lambda-Runtime-"
				    "Aws-Request-Id");
	util_strlcpy(inv->id, inv->rs.header, sizeof(inv->id));
	return rc;
}

static int
post(struct aws_client *c, const char *url, const char *body,
     const char *error_type)
{
	char type_header[160];
	const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
	struct aws_request rq = {
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    .body = body,
	    .body_fd = -1,
	    .body_len = (int64_t)strlen(body),
	    .out_fd = -1,
	    .timeout_ms = LAMBDA_POST_TIMEOUT_MS,
	};
	struct aws_response rs;
	struct ip_error err;
	int rc;

	if (error_type != NULL) {
		snprintf(type_header, sizeof(type_header),
			 "Lambda-Runtime-Function-Error-Type: %s", error_type);
		headers[1] = type_header;
	}
	rc = aws_request_perform(c, &rq, &rs, &err);
	aws_response_free(&rs);
	if (rc != IP_OK)
		log_error("runtime API: %s", err.msg);
	return rc;
}

static char *
error_body(const char *type, const char *message)
{
	json_t *o =
	    json_pack("{s:s, s:s}", "errorType", type, "errorMessage", message);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static void
handle(struct app *app, struct api *api, struct aws_client *h, const char *base,
       struct invocation *inv)
{
	struct function_invocation pinv = {.attempt = 1, .final = true};
	struct function_stats st;
	struct ip_error err;
	char url[LAMBDA_URL_MAX + LAMBDA_ID_MAX + 32];
	char type[64];
	char *body = NULL;
	size_t body_len;
	int rc;

	ip_error_clear(&err);
	memset(&st, 0, sizeof(st));
	if (inv->too_big)
		rc = ip_error_set(&err, IP_ETOOBIG, "%s", inv->too_big_err.msg);
	else if (lambda_api_is_http_event(buf_str(&inv->rs.body),
					  inv->rs.body.len))
		rc =
		    lambda_api_handle(api, buf_str(&inv->rs.body),
				      inv->rs.body.len, &body, &body_len, &err);
	else
		rc = function_handle_event(&app->fn, buf_str(&inv->rs.body),
					   inv->rs.body.len, &pinv, &st, &err);
	if (rc == IP_OK && body == NULL) {
		json_t *o =
		    json_pack("{s:i, s:i, s:i, s:I}", "done", st.done, "failed",
			      st.failed, "skipped", st.skipped, "processing_ms",
			      (json_int_t)st.processing_ms);

		body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	if (rc == IP_OK) {
		snprintf(url, sizeof(url), "%s/invocation/%s/response", base,
			 inv->id);
		post(h, url, body != NULL ? body : "{}", NULL);
	} else {
		snprintf(type, sizeof(type), "imgpipe.%s", ip_code_name(rc));
		body = error_body(type, err.msg);
		snprintf(url, sizeof(url), "%s/invocation/%s/error", base,
			 inv->id);
		post(h, url, body != NULL ? body : "{}", type);
		log_warn("invocation %s failed: %s", inv->id, err.msg);
	}
	free(body);
}

/* The plain-HTTP client of the Runtime API: one attempt per call (a
 * failure means the sandbox is going away), no low-speed abort (GET next
 * is a long poll that may stay silent for hours). */
static int
lambda_client(struct aws_client **out, struct ip_error *err)
{
	struct aws_client_opts o = {
	    .service = "lambda-runtime",
	    .attempts = 1,
	    .connect_timeout_ms = LAMBDA_CONNECT_TIMEOUT_MS,
	    .low_speed_s = -1,
	};

	return aws_client_new(NULL, &o, out, err);
}

void
lambda_init_error(const char *message)
{
	char base[LAMBDA_URL_MAX];
	char url[LAMBDA_URL_MAX + 32];
	struct aws_client *c = NULL;
	struct ip_error err;
	char *body;

	if (lambda_base_url(getenv("AWS_LAMBDA_RUNTIME_API"), base,
			    sizeof(base), NULL) != IP_OK)
		return;
	body = error_body("imgpipe.init", message);
	if (body != NULL && lambda_client(&c, &err) == IP_OK) {
		snprintf(url, sizeof(url), "%s/init/error", base);
		post(c, url, body, "imgpipe.init");
	}
	free(body);
	aws_client_free(c);
}

int
lambda_run(struct app *app, int max)
{
	char base[LAMBDA_URL_MAX];
	struct aws_client *c = NULL;
	struct ip_error err;
	struct api api;
	int served = 0;

	lambda_api_init(&api, app);
	if (lambda_base_url(getenv("AWS_LAMBDA_RUNTIME_API"), base,
			    sizeof(base), &err) != IP_OK ||
	    lambda_client(&c, &err) != IP_OK) {
		log_error("%s", err.msg);
		return 1;
	}
	while (max <= 0 || served < max) {
		struct invocation inv;
		int rc = next_invocation(c, base, &inv, &err);

		if (rc == IP_ETOOBIG) {
			inv.too_big = true;
			inv.too_big_err = err;
		} else if (rc != IP_OK) {
			/* The runtime API is gone: the sandbox ended. */
			aws_response_free(&inv.rs);
			if (served == 0)
				log_error("%s", err.msg);
			break;
		}
		handle(app, &api, c, base, &inv);
		aws_response_free(&inv.rs);
		served++;
	}
	aws_client_free(c);
	return served == 0 ? 1 : 0;
}
