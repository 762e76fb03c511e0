/*
 * reprocess_api.h - POST /v1/images/{id}/reprocess: remake the presets
 * an image lacks or holds changed (app/reprocess.h does the work).
 *
 * Thread-safety: runs on its request's thread; may block on the table,
 * the queue and, without a queue, on the image work itself.
 */
#ifndef IMGPIPE_API_REPROCESS_API_H
#define IMGPIPE_API_REPROCESS_API_H

#include "api/api.h"

/* 202 {"id","variants":[names],"links"} when a reprocess event was
 * queued; 200 with "variants": [] when every preset asked for is
 * current; 200 with the names made and the "record" when made in the
 * request (no queue: storage.events = store, the Lambda host).  400 for
 * a ?variant= that names no preset, 404 for an unknown id, 409 while the
 * image is not done. */
enum api_next reprocess_api_post(struct api_request *rq);

#endif
