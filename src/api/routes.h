/*
 * routes.h - the route table of the /v1 API (DESIGN §4) and its matcher.
 *
 * One entry per (method, pattern); a pattern is literal segments and
 * `{param}` segments.  routes_match() is pure: it decodes the raw path
 * once, finds the entry, and says why when there is none, so tests/http
 * can check every route without a server.  api.c maps each route id to
 * its handler with a second table.
 *
 * Thread-safety: the table is static const; routes_match is reentrant.
 */
#ifndef IMGPIPE_HTTP_ROUTES_H
#define IMGPIPE_HTTP_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/apikey.h"
#include "core/error.h"

#define ROUTES_PATH_MAX 4096 /* raw bytes of the path */
#define ROUTES_SEGMENT_MAX 1024 /* raw bytes of one segment */
#define ROUTES_SEGMENTS_MAX 8
#define ROUTES_PARAMS_MAX 2
#define ROUTES_ALLOW_MAX 64

enum route_id {
	ROUTE_IMAGES_LIST, /* GET    /v1/images */
	ROUTE_IMAGES_POST, /* POST   /v1/images */
	ROUTE_IMAGE_GET, /* GET    /v1/images/{id} */
	ROUTE_IMAGE_PUT, /* PUT    /v1/images/{name} */
	ROUTE_IMAGE_DELETE, /* DELETE /v1/images/{id} */
	ROUTE_IMAGE_ORIGINAL, /* GET    /v1/images/{id}/original */
	ROUTE_IMAGE_VARIANT, /* GET    /v1/images/{id}/variants/{variant} */
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_EVENTS, /* POST   /v1/events (S3 notifications pushed) */
	ROUTE_UPLOADS_POST, /* POST   /v1/uploads (a presigned PUT) */
	ROUTE_WEB_PAGE, /* GET    / (the web page, webui.h) */
	ROUTE_WEB_ASSET, /* GET    /ui/{file} */
	ROUTE_OPENAPI, /* GET    /openapi.json (docs/openapi.yaml) */
	ROUTE_IMAGE_REPROCESS, /* POST   /v1/images/{id}/reprocess */
	ROUTE_COUNT
};

struct route {
	const char *method; /* "GET" also answers HEAD */
	const char *pattern;
	enum route_id id;
	bool body; /* the handler reads a request body */
	bool no_slash; /* a parameter may not decode to a '/' */
	/* The API key scope the route needs when keys are on (api/auth.h);
	 * APIKEY_NONE: anyone. */
	enum apikey_scope scope;
};

struct route_match {
	const struct route *route; /* NULL unless IP_OK */
	size_t n_params;
	char names[ROUTES_PARAMS_MAX][16];
	char params[ROUTES_PARAMS_MAX][ROUTES_SEGMENT_MAX + 1]; /* decoded */
	char allow[ROUTES_ALLOW_MAX]; /* "GET, HEAD, PUT, DELETE" */
};

/* Match method and raw path (no query string).  Returns
 *   IP_OK        m->route and the decoded params are set;
 *   IP_ENOTFOUND no pattern matches the path;
 *   IP_ENOTSUP   a pattern matches but not the method: m->allow lists the
 *                methods that do (for the Allow header of the 405);
 *   IP_EINVAL    the path is too long, a segment is longer than
 *                ROUTES_SEGMENT_MAX raw bytes, has a bad %-escape or
 *                decodes to a NUL; or the matched route takes a file
 *                name (no_slash) and its parameter decodes to a '/'.
 * An identifier parameter ({id}, {variant}) that decodes to a '/' still
 * matches: no identifier has one, so the handler answers 404, as for any
 * other unknown id.
 * err gets a message for every failure. */
int routes_match(const char *method, const char *path, struct route_match *m,
		 struct ip_error *err);

/* The decoded value of parameter `name` ("id", "name", "variant"), or NULL.
 * Borrowed pointer into m. */
const char *routes_param(const struct route_match *m, const char *name);

/* The table itself, for tests and docs: *n entries. */
const struct route *routes_table(size_t *n);

#endif
