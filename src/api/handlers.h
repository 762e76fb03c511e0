/*
 * handlers.h - what the API does for each route without a request body
 * (api.c dispatches through a table indexed by enum route_id; uploads are
 * upload.h, pushed events events.h).
 *
 * Each answers in begin(), called once the request is complete, by
 * filling rq->resp, and returns API_NEXT_DONE.
 *
 * Thread-safety: each runs on its request's thread and may block (table
 * reads, `?wait=`).
 */
#ifndef IMGPIPE_API_HANDLERS_H
#define IMGPIPE_API_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/record.h"
#include "api/api.h"

struct app;

enum api_next handlers_image_get(struct api_request *rq);
enum api_next handlers_image_list(struct api_request *rq);
enum api_next handlers_image_delete(struct api_request *rq);
enum api_next handlers_image_original(struct api_request *rq);
enum api_next handlers_image_variant(struct api_request *rq);
enum api_next handlers_healthz(struct api_request *rq);
enum api_next handlers_readyz(struct api_request *rq);
enum api_next handlers_metrics(struct api_request *rq);

/* Read the record of the route's {id} into rec: true, or false once
 * answered (404 for no such image, the table's error). */
bool handlers_load_record(struct api_request *rq, struct record *rec,
			  enum api_next *ret);

/* The record as the API shows it: record_to_json plus "links" {self,
 * original, variants{name: url}}.  New reference, NULL on OOM. */
json_t *handlers_record_json(const struct app *app, const struct record *r);

#endif
