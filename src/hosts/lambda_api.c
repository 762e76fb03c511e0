/*
 * lambda_api.c - API Gateway proxy events through the /v1 API (see
 * lambda_api.h).  Called by lambda.c on its one thread.
 *
 * DESIGN
 *
 * The two payload versions differ only in where things are:
 *   1.0  httpMethod, path, multiValueQueryStringParameters (decoded
 *        values; queryStringParameters when absent), headers;
 *   2.0  requestContext.http.method, rawPath, rawQueryString (raw),
 *        headers (lower-case names, repeated values joined by commas;
 *        cookies apart, which the API does not read).
 * Both carry body and isBase64Encoded.  1.0's decoded query values are
 * re-encoded, so the API's own decoder sees a raw query as from a
 * socket: one decoding rule for every transport.
 *
 * Answers: text and JSON bodies go as they are, anything else base64;
 * each response header has one value, so 1.0 needs no multiValueHeaders.
 */
#include "hosts/lambda_api.h"

#include <glib.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_local.h"
#include "app/app.h"
#include "aws/aws_uri.h"
#include "core/buf.h"

#define LAMBDA_API_HEADERS_MAX 64
#define LAMBDA_API_QUERY_MAX (16 * 1024)

struct proxy_request {
	const char *method;
	const char *path;
	struct buf query; /* raw, without '?' */
	struct api_local_header headers[LAMBDA_API_HEADERS_MAX];
	size_t n_headers;
	guchar *body; /* g_free */
	size_t body_len;
};

void
lambda_api_init(struct api *api, struct app *app)
{
	api_init(api, app);
	/* Behind API Gateway the API is public: keys unless turned off. */
	api->auth.on = app->cfg.auth != AUTH_OFF;
	if (app->cfg.bytes == BYTES_AUTO)
		api->bytes_redirect = true;
	/* The Lambda host has no queue: the bucket's own notification
	 * invokes the function for an object uploaded through the API. */
	if (app->queue == NULL)
		app->cfg.events = EVENTS_STORE;
}

bool
lambda_api_is_http_event(const char *json, size_t len)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	bool yes = json_is_object(json_object_get(o, "requestContext")) &&
		   (json_is_string(json_object_get(o, "httpMethod")) ||
		    json_is_string(json_object_get(o, "rawPath")));

	json_decref(o);
	return yes;
}

/* name=value (encoded) onto the raw query. */
static int
query_add(struct buf *q, const char *name, const char *value,
	  struct ip_error *err)
{
	char enc[LAMBDA_API_QUERY_MAX];
	int rc = IP_OK;

	if (q->len > 0)
		rc = buf_add_str(q, "&", err);
	if (rc == IP_OK && aws_uri_encode(name, false, enc, sizeof(enc)) < 0)
		rc = ip_error_set(err, IP_ETOOBIG, "query too long");
	if (rc == IP_OK)
		rc = buf_add_str(q, enc, err);
	if (rc == IP_OK)
		rc = buf_add_str(q, "=", err);
	if (rc == IP_OK && aws_uri_encode(value, false, enc, sizeof(enc)) < 0)
		rc = ip_error_set(err, IP_ETOOBIG, "query too long");
	if (rc == IP_OK)
		rc = buf_add_str(q, enc, err);
	return rc;
}

/* The values of one 1.0 parameter: a string, or (multi) an array. */
static int
query_values(struct buf *q, const char *name, json_t *v, struct ip_error *err)
{
	int rc = IP_OK;

	if (json_is_string(v))
		return query_add(q, name, json_string_value(v), err);
	for (size_t i = 0; rc == IP_OK && i < json_array_size(v); i++) {
		json_t *one = json_array_get(v, i);

		if (json_is_string(one))
			rc = query_add(q, name, json_string_value(one), err);
	}
	return rc;
}

/* 1.0: the decoded parameters back into a raw query. */
static int
query_v1(json_t *ev, struct buf *q, struct ip_error *err)
{
	json_t *params = json_object_get(ev, "multiValueQueryStringParameters");
	const char *name;
	json_t *v;
	int rc = IP_OK;

	if (!json_is_object(params))
		params = json_object_get(ev, "queryStringParameters");
	if (!json_is_object(params))
		return IP_OK;
	json_object_foreach(params, name, v)
	{
		rc = query_values(q, name, v, err);
		if (rc != IP_OK)
			break;
	}
	return rc;
}

static int
read_headers(json_t *ev, struct proxy_request *p, struct ip_error *err)
{
	json_t *h = json_object_get(ev, "headers");
	const char *name;
	json_t *v;

	if (!json_is_object(h))
		return IP_OK;
	json_object_foreach(h, name, v)
	{
		if (!json_is_string(v))
			continue;
		if (p->n_headers == LAMBDA_API_HEADERS_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "more than %d request headers",
					    LAMBDA_API_HEADERS_MAX);
		p->headers[p->n_headers].name = name;
		p->headers[p->n_headers].value = json_string_value(v);
		p->n_headers++;
	}
	return IP_OK;
}

static int
read_body(json_t *ev, struct proxy_request *p, struct ip_error *err)
{
	const char *body = json_string_value(json_object_get(ev, "body"));
	gsize n = 0;

	if (body == NULL)
		return IP_OK;
	if (json_is_true(json_object_get(ev, "isBase64Encoded"))) {
		if (strspn(body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
				 "stuvwxyz0123456789+/=\r\n") != strlen(body))
			return ip_error_set(err, IP_EINVAL,
					    "the body is not base64");
		p->body = g_base64_decode(body, &n);
		p->body_len = n;
	} else {
		p->body_len = json_string_length(json_object_get(ev, "body"));
		p->body = g_memdup2(body, p->body_len);
	}
	return IP_OK;
}

static int
read_event(json_t *ev, struct proxy_request *p, struct ip_error *err)
{
	json_t *http =
	    json_object_get(json_object_get(ev, "requestContext"), "http");
	const char *raw_path =
	    json_string_value(json_object_get(ev, "rawPath"));
	int rc;

	if (raw_path != NULL) { /* 2.0 */
		const char *rq =
		    json_string_value(json_object_get(ev, "rawQueryString"));

		p->method = json_string_value(json_object_get(http, "method"));
		p->path = raw_path;
		rc = buf_add_str(&p->query, rq != NULL ? rq : "", err);
	} else {
		p->method =
		    json_string_value(json_object_get(ev, "httpMethod"));
		p->path = json_string_value(json_object_get(ev, "path"));
		rc = query_v1(ev, &p->query, err);
	}
	if (rc == IP_OK && (p->method == NULL || p->path == NULL))
		rc = ip_error_set(err, IP_EINVAL,
				  "not an API Gateway proxy event: no method "
				  "or path");
	if (rc == IP_OK)
		rc = read_headers(ev, p, err);
	if (rc == IP_OK)
		rc = read_body(ev, p, err);
	return rc;
}

/* Text the client reads as text; anything else goes base64. */
static bool
is_text(const char *type)
{
	return type != NULL && (strncmp(type, "text/", 5) == 0 ||
				strncmp(type, "application/json", 16) == 0);
}

static int
response(const struct api_local_reply *r, char **out, size_t *out_len,
	 struct ip_error *err)
{
	const char *type = api_local_reply_header(r, "Content-Type");
	bool b64 = r->body_len > 0 && !is_text(type);
	json_t *headers = json_object();
	json_t *o;
	char *enc = NULL;

	for (size_t i = 0; i < r->n_headers; i++)
		json_object_set_new(headers, r->headers[i].name,
				    json_string(r->headers[i].value));
	if (b64)
		enc = g_base64_encode((const guchar *)r->body, r->body_len);
	o = json_pack("{s:i, s:o, s:s, s:b}", "statusCode", r->status,
		      "headers", headers, "body",
		      b64 ? enc : (r->body != NULL ? r->body : ""),
		      "isBase64Encoded", b64);
	g_free(enc);
	*out = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (*out == NULL)
		return ip_error_set(err, IP_ENOMEM,
				    "the response is not JSON text");
	*out_len = strlen(*out);
	if (*out_len > LAMBDA_API_PAYLOAD_MAX) {
		free(*out);
		*out = NULL;
		return ip_error_set(err, IP_ETOOBIG,
				    "the answer is larger than Lambda's %d "
				    "bytes",
				    LAMBDA_API_PAYLOAD_MAX);
	}
	return IP_OK;
}

int
lambda_api_handle(struct api *api, const char *event, size_t len,
		  char **response_json, size_t *response_len,
		  struct ip_error *err)
{
	struct proxy_request p;
	struct api_local_reply r;
	json_error_t jerr;
	json_t *ev = NULL;
	int rc;

	*response_json = NULL;
	*response_len = 0;
	memset(&p, 0, sizeof(p));
	memset(&r, 0, sizeof(r));
	buf_init(&p.query, LAMBDA_API_QUERY_MAX, "query string");
	if (len > LAMBDA_API_PAYLOAD_MAX) {
		rc = ip_error_set(err, IP_ETOOBIG,
				  "an event is at most %d bytes",
				  LAMBDA_API_PAYLOAD_MAX);
		goto out;
	}
	ev = json_loadb(event, len, 0, &jerr);
	if (!json_is_object(ev)) {
		rc = ip_error_set(err, IP_EINVAL, "the event is not JSON: %s",
				  jerr.text);
		goto out;
	}
	rc = read_event(ev, &p, err);
	if (rc == IP_OK)
		rc = api_local_call(api, p.method, p.path, buf_str(&p.query),
				    p.headers, p.n_headers, p.body, p.body_len,
				    &r, err);
	if (rc == IP_OK)
		rc = response(&r, response_json, response_len, err);
out:
	api_local_reply_free(&r);
	g_free(p.body);
	buf_free(&p.query);
	json_decref(ev);
	return rc;
}
