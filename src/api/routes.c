/*
 * routes.c - the route table and the pure matcher (routes.h).
 *
 * Called by api.c for every transport, and by tests/http.  The path
 * arrives raw (every transport hands it over undecoded), so a segment is
 * percent-decoded here exactly once, after splitting: an encoded '/' is
 * data inside its segment and cannot change which route matches.
 */
#include "api/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "api/params.h"

/* Order matters only for the Allow header: methods are listed in it in
 * table order. */
static const struct route route_table[] = {
    {"GET", "/v1/images", ROUTE_IMAGES_LIST, false, false, APIKEY_READ},
    {"POST", "/v1/images", ROUTE_IMAGES_POST, true, false, APIKEY_WRITE},
    {"GET", "/v1/images/{id}", ROUTE_IMAGE_GET, false, false, APIKEY_READ},
    {"PUT", "/v1/images/{name}", ROUTE_IMAGE_PUT, true, true, APIKEY_WRITE},
    {"DELETE", "/v1/images/{id}", ROUTE_IMAGE_DELETE, false, false,
     APIKEY_ADMIN},
    {"GET", "/v1/images/{id}/original", ROUTE_IMAGE_ORIGINAL, false, false,
     APIKEY_READ},
    {"GET", "/v1/images/{id}/variants/{variant}", ROUTE_IMAGE_VARIANT, false,
     false, APIKEY_READ},
    {"GET", "/healthz", ROUTE_HEALTHZ, false, false, APIKEY_NONE},
    {"GET", "/readyz", ROUTE_READYZ, false, false, APIKEY_NONE},
    {"GET", "/metrics", ROUTE_METRICS, false, false, APIKEY_ADMIN},
    {"POST", "/v1/events", ROUTE_EVENTS, true, false, APIKEY_ADMIN},
    {"POST", "/v1/uploads", ROUTE_UPLOADS_POST, true, false, APIKEY_WRITE},
    {"GET", "/", ROUTE_WEB_PAGE, false, false, APIKEY_NONE},
    {"GET", "/ui/{file}", ROUTE_WEB_ASSET, false, true, APIKEY_NONE},
    {"GET", "/openapi.json", ROUTE_OPENAPI, false, false, APIKEY_NONE},
    {"POST", "/v1/images/{id}/reprocess", ROUTE_IMAGE_REPROCESS, false, false,
     APIKEY_ADMIN},
};

struct path_segments {
	size_t n;
	char seg[ROUTES_SEGMENTS_MAX][ROUTES_SEGMENT_MAX + 1];
};

const struct route *
routes_table(size_t *n)
{
	*n = UTIL_ARRAY_LEN(route_table);
	return route_table;
}

/* Split and decode the raw path.  More than ROUTES_SEGMENTS_MAX segments
 * cannot match any route: *too_many is set and IP_OK returned. */
static int
split_path(const char *path, struct path_segments *ps, bool *too_many,
	   struct ip_error *err)
{
	const char *p;
	size_t len = strlen(path);

	*too_many = false;
	ps->n = 0;
	if (len > ROUTES_PATH_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "URL path longer than %d bytes",
				    ROUTES_PATH_MAX);
	if (path[0] != '/')
		return IP_OK; /* "*" or an absolute URI: matches nothing */
	p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		struct ip_error e;
		int rc;

		if (n > ROUTES_SEGMENT_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "path segment longer than %d bytes",
					    ROUTES_SEGMENT_MAX);
		if (ps->n == ROUTES_SEGMENTS_MAX) {
			*too_many = true;
			return IP_OK;
		}
		rc = params_pct_decode(p, n, false, false, ps->seg[ps->n],
				       sizeof(ps->seg[ps->n]), NULL, &e);
		if (rc != IP_OK)
			return ip_error_set(err, IP_EINVAL, "URL path: %s",
					    e.msg);
		ps->n++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return IP_OK;
}

/* Does the decoded path fit the pattern?  Fills m's params if so. */
static bool
pattern_fits(const char *pattern, const struct path_segments *ps,
	     struct route_match *m)
{
	const char *p = pattern + 1;
	size_t i = 0;

	m->n_params = 0;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (i >= ps->n)
			return false;
		if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
			size_t k = m->n_params;

			/* A parameter is never empty. */
			if (ps->seg[i][0] == '\0' || k >= ROUTES_PARAMS_MAX)
				return false;
			snprintf(m->names[k], sizeof(m->names[k]), "%.*s",
				 (int)(n - 2), p + 1);
			memcpy(m->params[k], ps->seg[i], sizeof(m->params[k]));
			m->n_params++;
		} else if (strlen(ps->seg[i]) != n ||
			   memcmp(ps->seg[i], p, n) != 0) {
			return false;
		}
		i++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return i == ps->n;
}

static bool
method_fits(const char *route_method, const char *method)
{
	if (strcmp(route_method, method) == 0)
		return true;
	return strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

static void
allow_add(char *allow, size_t len, const char *method)
{
	size_t used = strlen(allow);

	snprintf(allow + used, len - used, "%s%s", used > 0 ? ", " : "",
		 method);
}

int
routes_match(const char *method, const char *path, struct route_match *m,
	     struct ip_error *err)
{
	struct path_segments *ps;
	struct route_match scratch;
	bool too_many;
	bool any = false;
	int rc;

	memset(m, 0, sizeof(*m));
	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	rc = split_path(path, ps, &too_many, err);
	if (rc != IP_OK)
		goto out;
	for (size_t i = 0; !too_many && i < UTIL_ARRAY_LEN(route_table); i++) {
		const struct route *r = &route_table[i];

		if (!pattern_fits(r->pattern, ps, &scratch))
			continue;
		any = true;
		if (m->route == NULL && method_fits(r->method, method)) {
			memcpy(m->names, scratch.names, sizeof(m->names));
			memcpy(m->params, scratch.params, sizeof(m->params));
			m->n_params = scratch.n_params;
			m->route = r;
		}
		allow_add(m->allow, sizeof(m->allow), r->method);
		if (strcmp(r->method, "GET") == 0)
			allow_add(m->allow, sizeof(m->allow), "HEAD");
	}
	if (m->route != NULL) {
		rc = IP_OK;
		for (size_t i = 0; m->route->no_slash && i < m->n_params; i++)
			if (strchr(m->params[i], '/') != NULL)
				rc =
				    ip_error_set(err, IP_EINVAL,
						 "the {%s} in the path may not "
						 "contain an encoded '/'",
						 m->names[i]);
		if (rc != IP_OK)
			m->route = NULL;
	} else if (any)
		rc = ip_error_set(err, IP_ENOTSUP,
				  "method %s is not allowed here; use %s",
				  method, m->allow);
	else
		rc = ip_error_set(err, IP_ENOTFOUND, "no such resource");
out:
	free(ps);
	return rc;
}

const char *
routes_param(const struct route_match *m, const char *name)
{
	for (size_t i = 0; i < m->n_params; i++)
		if (strcmp(m->names[i], name) == 0)
			return m->params[i];
	return NULL;
}
