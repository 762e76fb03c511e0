/*
 * events.h - POST /v1/events: S3 event notifications pushed over HTTP by
 * the object store itself (radosgw's push endpoint, an SNS HTTP
 * subscription, s3rver's hook), as S3 would trigger Lambda.
 *
 * Each record for a key of the input bucket that this pipeline can own
 * ({id}/{name}) is queued as its own one-record event, deduplicated by
 * image id; others are counted as ignored.  Answers 200
 * {"queued":N,"ignored":M}, 400 for a malformed document, 413 above
 * EVENT_TEXT_MAX, 404 when intake is off (server.accept_events).
 *
 * Called through api.c on the request's thread.
 */
#ifndef IMGPIPE_API_EVENTS_H
#define IMGPIPE_API_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "api/routes.h"

enum api_next events_begin(struct api_request *rq);
int events_body(struct api_request *rq, const char *data, size_t len);
enum api_next events_end(struct api_request *rq);

/* Routes a worker's events-only server answers. */
bool events_route_in_worker(enum route_id id);

#endif
