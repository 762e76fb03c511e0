/*
 * cors.c - cross-origin requests (cors.h).
 */
#include "api/cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/reply.h"
#include "app/app.h"
#include "core/config.h"

/* What a preflight may ask to send; anything else is refused. */
static const char *const allowed_headers[] = {
    "authorization", "content-type",  "x-api-key",	   "x-request-id",
    "range",	     "if-none-match", "if-modified-since", "if-range",
};
#define ALLOW_HEADERS                                                          \
	"Authorization, Content-Type, X-Api-Key, X-Request-Id, Range, "        \
	"If-None-Match, If-Modified-Since, If-Range"
#define EXPOSE_HEADERS                                                         \
	"ETag, Location, Retry-After, X-Request-Id, Content-Range, "           \
	"Content-Length, Last-Modified"

static bool
is_read(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Is origin one of the listed (comma-separated) exact origins?  *star is
 * set when the list holds "*". */
static bool
origin_listed(const char *list, const char *origin, bool *star)
{
	const char *p = list;
	size_t on = strlen(origin);

	*star = false;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		while (n > 0 && *p == ' ')
			p++, n--;
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == 1 && *p == '*')
			*star = true;
		else if (n == on && n > 0 && memcmp(p, origin, n) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

/* What may origin do with method: 2 = listed exactly, 1 = by "*" (read
 * only), 0 = nothing. */
static int
origin_grant(const struct api_request *rq, const char *origin,
	     const char *method)
{
	bool star;

	if (origin_listed(rq->app->cfg.cors_origins, origin, &star))
		return 2;
	return star && is_read(method) ? 1 : 0;
}

/* Origin "scheme://host[:port]" names the same host[:port] as Host. */
static bool
same_origin(const struct api_request *rq, const char *origin)
{
	const char *host = api_header(rq, "Host");
	const char *p = strstr(origin, "://");

	return host != NULL && p != NULL && strcasecmp(p + 3, host) == 0;
}

int
cors_check_write(struct api_request *rq, struct ip_error *err)
{
	const char *origin = api_header(rq, "Origin");
	const char *site = api_header(rq, "Sec-Fetch-Site");

	if (is_read(rq->method) || strcmp(rq->method, "OPTIONS") == 0)
		return IP_OK;
	if (origin == NULL) {
		/* No Origin: not a browser's cross-site request, unless a
		 * browser says so itself. */
		if (site != NULL && strcmp(site, "cross-site") == 0)
			return ip_error_set(err, IP_EFORBIDDEN,
					    "cross-site request refused");
		return IP_OK;
	}
	if (same_origin(rq, origin) ||
	    origin_grant(rq, origin, rq->method) == 2)
		return IP_OK;
	return ip_error_set(err, IP_EFORBIDDEN,
			    "cross-site %s from origin %.200s refused; list "
			    "the origin in server.cors_origins",
			    rq->method, origin);
}

/* Is every header of the comma-separated list one a preflight may ask? */
static bool
headers_allowed(const char *list)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		bool ok = false;

		while (n > 0 && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		for (size_t i = 0; n > 0 && i < sizeof(allowed_headers) /
						    sizeof(allowed_headers[0]);
		     i++)
			ok |= strlen(allowed_headers[i]) == n &&
			      strncasecmp(allowed_headers[i], p, n) == 0;
		if (!ok && n > 0)
			return false;
		p = end != NULL ? end + 1 : NULL;
	}
	return true;
}

/* Is method among the route's "GET, HEAD, PUT" list? */
static bool
method_allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);
	const char *p = allow;

	while ((p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-1] == ' ') &&
		    (p[n] == ',' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

#define PREFLIGHT_VARY                                                         \
	"Origin, Access-Control-Request-Method, "                              \
	"Access-Control-Request-Headers"

enum api_next
cors_options(struct api_request *rq)
{
	const char *origin = api_header(rq, "Origin");
	const char *want = api_header(rq, "Access-Control-Request-Method");
	const char *want_headers =
	    api_header(rq, "Access-Control-Request-Headers");
	char allow[ROUTES_ALLOW_MAX + 16];
	int grant;

	snprintf(allow, sizeof(allow), "%s, OPTIONS", rq->match.allow);
	rq->cors_done = true;
	if (origin == NULL || want == NULL) {
		reply_add_header(rq, "Allow", allow);
		return reply_empty(rq, 204);
	}
	grant = origin_grant(rq, origin, want);
	if (grant == 0)
		reply_error(rq, IP_EFORBIDDEN,
			    "origin %.200s may not %.16s here "
			    "(server.cors_origins)",
			    origin, want);
	else if (!method_allowed(rq->match.allow, want))
		reply_error(rq, IP_EFORBIDDEN,
			    "%.16s is not a method of this path; it takes %s",
			    want, rq->match.allow);
	else if (want_headers != NULL && !headers_allowed(want_headers))
		reply_error(rq, IP_EFORBIDDEN,
			    "a cross-origin request may send only these "
			    "headers: " ALLOW_HEADERS);
	/* After the error, which starts its headers afresh: a cache must
	 * key a refusal by the same request headers as a grant. */
	reply_add_header(rq, "Vary", PREFLIGHT_VARY);
	if (rq->answered)
		return API_NEXT_DONE;
	reply_add_header(rq, "Access-Control-Allow-Origin",
			 grant == 2 ? origin : "*");
	reply_add_header(rq, "Access-Control-Allow-Methods",
			 grant == 2 ? rq->match.allow : "GET, HEAD");
	reply_add_header(rq, "Access-Control-Allow-Headers", ALLOW_HEADERS);
	reply_add_header(rq, "Access-Control-Max-Age", "600");
	return reply_empty(rq, 204);
}

void
cors_decorate(struct api_request *rq)
{
	const char *origin;
	int grant;

	if (rq->cors_done || rq->app->cfg.cors_origins[0] == '\0')
		return;
	rq->cors_done = true;
	reply_add_header(rq, "Vary", "Origin");
	origin = api_header(rq, "Origin");
	if (origin == NULL)
		return;
	grant = origin_grant(rq, origin, rq->method);
	if (grant == 0)
		return;
	reply_add_header(rq, "Access-Control-Allow-Origin",
			 grant == 2 ? origin : "*");
	reply_add_header(rq, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
}
