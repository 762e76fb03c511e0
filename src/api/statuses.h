/*
 * statuses.h - the HTTP statuses each route may answer: the C half of the
 * contract whose other half is docs/openapi.yaml.
 *
 * One row per route id (statuses.c), beside the route table rather than
 * in it so the table stays one line a route.  tests/openapi checks the
 * rows against the document both ways, and reply.c checks every answer
 * against its route's row: a status a row lacks is logged as an error
 * line "undeclared status", which the integration harness counts as a
 * failure.  So neither the document nor the rows can drift from what
 * the server does without a test noticing.
 *
 * Thread-safety: const tables; every function is reentrant.
 */
#ifndef IMGPIPE_API_STATUSES_H
#define IMGPIPE_API_STATUSES_H

#include <stdbool.h>
#include <stddef.h>

#include "api/routes.h"

#define STATUSES_MAX 16

/* The statuses route `id` may answer, ascending, 0-terminated; NULL for
 * an id without a row (a test fails on it). */
const int *statuses_of(enum route_id id);

/* The statuses an OPTIONS request (CORS preflight or Allow) may answer
 * on any known path, 0-terminated. */
const int *statuses_options(void);

/* True if `status` is in the 0-terminated list. */
bool statuses_has(const int *list, int status);

#endif
