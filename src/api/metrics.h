/*
 * metrics.h - the distributions and gauges of /metrics beyond the plain
 * counters handlers.c prints: request latency by route and status class,
 * the function's stages, upload to done, queue wait, failed attempts by
 * class, jobs in flight, dead letters and free disk.
 *
 * Names follow Prometheus' conventions (docs/OPERATIONS.md lists them):
 * base units (seconds, bytes), `_total` counters, `_seconds` histograms,
 * label values from fixed sets only (the route table, never a raw path).
 *
 * Thread-safety: metrics_observe_request runs on any request's thread
 * (lock-free, core/histogram.h); metrics_write on the /metrics request's.
 */
#ifndef IMGPIPE_API_METRICS_H
#define IMGPIPE_API_METRICS_H

#include <stdio.h>

#include "api/api.h"

/* Set up the histograms of api->metrics (api_init calls it). */
void metrics_init(struct api *api);

/* Count a finished request in the latency histogram: its route slot,
 * its status class, the time since api_request_init.  A request that was
 * never answered (status 0) is not counted. */
void metrics_observe_request(const struct api_request *rq);

/* The series above, with their HELP and TYPE lines, into f. */
void metrics_write(FILE *f, struct api *api);

/* The route label of slot (enum route_id, API_ROUTE_SLOT_OPTIONS or
 * API_ROUTE_SLOT_NONE): "GET /v1/images/{id}", "OPTIONS", "none". */
const char *metrics_route_label(size_t slot, char *buf, size_t len);

#endif
