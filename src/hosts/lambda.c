/*
 * lambda.c - the Lambda Runtime API loop (see lambda.h).
 */
#include "hosts/lambda.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "app/app.h"
#include "function/function.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LAMBDA_URL_MAX 1024
#define LAMBDA_ID_MAX 128
/* Asynchronous invocations carry at most 256 KiB; S3 events are small. */
#define LAMBDA_EVENT_MAX (EVENT_TEXT_MAX + 64 * 1024)

struct invocation {
	char id[LAMBDA_ID_MAX];
	char *body;
	size_t len;
	bool too_big;
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

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct invocation *inv = arg;
	size_t n = size * nmemb;
	char *grown;

	if (inv->too_big || inv->len + n > LAMBDA_EVENT_MAX) {
		inv->too_big = true;
		return n; /* keep reading; the invocation is refused */
	}
	grown = realloc(inv->body, inv->len + n + 1);
	if (grown == NULL)
		return 0;
	inv->body = grown;
	memcpy(inv->body + inv->len, data, n);
	inv->len += n;
	inv->body[inv->len] = '\0';
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "lambda-runtime-aws-request-id:";
	struct invocation *inv = arg;
	size_t n = size * nmemb;
	size_t vlen;
	const char *v;

	if (n <= sizeof(name) - 1 ||
	    strncasecmp(data, name, sizeof(name) - 1) != 0)
		return n;
	v = data + sizeof(name) - 1;
	while (v < data + n && (*v == ' ' || *v == '\t'))
		v++;
	vlen = strcspn(v, "\r\n");
	if (v + vlen > data + n)
		vlen = (size_t)(data + n - v);
	/* Request ids go into URLs: accept only [A-Za-z0-9-]. */
	if (vlen == 0 || vlen >= sizeof(inv->id))
		return n;
	for (size_t i = 0; i < vlen; i++)
		if (!(v[i] == '-' || (v[i] >= '0' && v[i] <= '9') ||
		      (v[i] >= 'a' && v[i] <= 'z') ||
		      (v[i] >= 'A' && v[i] <= 'Z')))
			return n;
	memcpy(inv->id, v, vlen);
	inv->id[vlen] = '\0';
	return n;
}

/* GET next: blocks until Lambda has an invocation for us. */
static int
next_invocation(CURL *h, const char *base, struct invocation *inv,
		struct ip_error *err)
{
	char url[LAMBDA_URL_MAX + 32];
	long status = 0;
	CURLcode cc;

	memset(inv, 0, sizeof(*inv));
	snprintf(url, sizeof(url), "%s/invocation/next", base);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, inv);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, inv);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK)
		return ip_error_set(err, IP_EBACKEND, "runtime API: %s",
				    curl_easy_strerror(cc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return ip_error_set(err, IP_EBACKEND,
				    "runtime API: next answered %ld", status);
	if (inv->id[0] == '\0')
		return ip_error_set(err, IP_EBACKEND,
				    "runtime API: no Lambda-Runtime-Aws-"
				    "Request-Id");
	return IP_OK;
}

static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

static int
post(CURL *h, const char *url, const char *body, const char *error_type)
{
	struct curl_slist *hdr = NULL;
	char type_header[160];
	long status = 0;
	CURLcode cc;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	if (error_type != NULL) {
		snprintf(type_header, sizeof(type_header),
			 "Lambda-Runtime-Function-Error-Type: %s", error_type);
		hdr = curl_slist_append(hdr, type_header);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	if (cc != CURLE_OK || status / 100 != 2) {
		log_error("runtime API: POST %s: %s (HTTP %ld)", url,
			  curl_easy_strerror(cc), status);
		return IP_EBACKEND;
	}
	return IP_OK;
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
handle(struct app *app, CURL *h, const char *base, struct invocation *inv)
{
	struct function_invocation pinv = {.attempt = 1, .final = true};
	struct function_stats st;
	struct ip_error err;
	char url[LAMBDA_URL_MAX + LAMBDA_ID_MAX + 32];
	char type[64];
	char *body;
	int rc;

	ip_error_clear(&err);
	memset(&st, 0, sizeof(st));
	if (inv->too_big)
		rc =
		    ip_error_set(&err, IP_ETOOBIG, "event larger than %d bytes",
				 LAMBDA_EVENT_MAX);
	else
		rc = function_handle_event(&app->fn, inv->body, inv->len, &pinv,
					   &st, &err);
	if (rc == IP_OK) {
		json_t *o =
		    json_pack("{s:i, s:i, s:i, s:I}", "done", st.done, "failed",
			      st.failed, "skipped", st.skipped, "processing_ms",
			      (json_int_t)st.processing_ms);

		body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
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

void
lambda_init_error(const char *message)
{
	char base[LAMBDA_URL_MAX];
	char url[LAMBDA_URL_MAX + 32];
	char *body;
	CURL *h;

	if (lambda_base_url(getenv("AWS_LAMBDA_RUNTIME_API"), base,
			    sizeof(base), NULL) != IP_OK)
		return;
	h = curl_easy_init();
	body = error_body("imgpipe.init", message);
	if (h != NULL && body != NULL) {
		snprintf(url, sizeof(url), "%s/init/error", base);
		post(h, url, body, "imgpipe.init");
	}
	free(body);
	if (h != NULL)
		curl_easy_cleanup(h);
}

int
lambda_run(struct app *app, int max)
{
	char base[LAMBDA_URL_MAX];
	struct ip_error err;
	int served = 0;
	CURL *h;

	if (lambda_base_url(getenv("AWS_LAMBDA_RUNTIME_API"), base,
			    sizeof(base), &err) != IP_OK) {
		log_error("%s", err.msg);
		return 1;
	}
	h = curl_easy_init();
	if (h == NULL) {
		log_error("curl_easy_init failed");
		return 1;
	}
	while (max <= 0 || served < max) {
		struct invocation inv;
		int rc = next_invocation(h, base, &inv, &err);

		if (rc != IP_OK) {
			/* The runtime API is gone: the sandbox ended. */
			free(inv.body);
			if (served == 0)
				log_error("%s", err.msg);
			break;
		}
		handle(app, h, base, &inv);
		free(inv.body);
		served++;
	}
	curl_easy_cleanup(h);
	return served == 0 ? 1 : 0;
}
