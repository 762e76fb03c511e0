/*
 * statuses.c - the statuses each route may answer (statuses.h).
 *
 * Every route may answer 400 (a header the HTTP transport refuses) and
 * 500 (out of memory); a route behind a key scope adds 401 and 403 (no
 * or a refused key, a cross-origin write), 429 (too many failed keys
 * from this client: auth.max_failures) and 503 (the key table does not
 * answer).  The routes that write may answer 507 (a full or read-only
 * data directory).  The rest is the handler's own.  Answers given before a
 * route is known (400 for a bad path or query, 404, 405) belong to no
 * row: docs/openapi.yaml describes them once, in its introduction.
 */
#include "api/statuses.h"

static const int status_rows[ROUTE_COUNT][STATUSES_MAX] = {
    [ROUTE_IMAGES_LIST] = {200, 400, 401, 403, 429, 500, 503},
    [ROUTE_IMAGES_POST] = {201, 202, 400, 401, 403, 413, 415, 422, 429, 500,
			   503, 507},
    [ROUTE_IMAGE_GET] = {200, 400, 401, 403, 404, 429, 500, 503},
    [ROUTE_IMAGE_PUT] = {201, 202, 400, 401, 403, 413, 415, 422, 429, 500, 503,
			 507},
    [ROUTE_IMAGE_DELETE] = {204, 400, 401, 403, 404, 429, 500, 503, 507},
    [ROUTE_IMAGE_ORIGINAL] = {200, 206, 302, 304, 400, 401, 403, 404, 416, 429,
			      500, 503},
    [ROUTE_IMAGE_VARIANT] = {200, 206, 302, 304, 400, 401, 403, 404, 409, 416,
			     429, 500, 503},
    [ROUTE_HEALTHZ] = {200, 400, 500},
    [ROUTE_READYZ] = {200, 400, 500, 503},
    [ROUTE_METRICS] = {200, 400, 401, 403, 429, 500, 503},
    [ROUTE_EVENTS] = {200, 400, 401, 403, 404, 413, 429, 500, 503, 507},
    [ROUTE_UPLOADS_POST] = {201, 400, 401, 403, 413, 429, 500, 501, 503, 507},
    [ROUTE_OPENAPI] = {200, 304, 400, 500},
    [ROUTE_WEB_PAGE] = {200, 304, 400, 404, 500},
    [ROUTE_WEB_ASSET] = {200, 304, 400, 404, 500},
    [ROUTE_IMAGE_REPROCESS] = {200, 202, 400, 401, 403, 404, 409, 429, 500, 503,
			       507},
};

static const int options_row[] = {204, 400, 403, 500, 0};

const int *
statuses_of(enum route_id id)
{
	if ((unsigned)id >= ROUTE_COUNT || status_rows[id][0] == 0)
		return NULL;
	return status_rows[id];
}

const int *
statuses_options(void)
{
	return options_row;
}

bool
statuses_has(const int *list, int status)
{
	for (size_t i = 0; list != NULL && i < STATUSES_MAX && list[i] != 0;
	     i++)
		if (list[i] == status)
			return true;
	return false;
}
