/*
 * uploads.h - POST /v1/uploads: an upload that does not pass through
 * imgpipe.  The answer is a short-lived presigned PUT URL of the input
 * bucket and the id of a `pending` record whose input key is
 * "{id}/{name}"; the client PUTs the bytes there, and the bucket's
 * ObjectCreated event runs the function, which finds that record.
 *
 * A store that cannot presign (fs) answers 501 not_supported: its
 * objects are reached only through the API, so use PUT /v1/images/{name}.
 *
 * Thread-safety: each request on its own thread, like every handler.
 */
#ifndef IMGPIPE_API_UPLOADS_H
#define IMGPIPE_API_UPLOADS_H

#include <stddef.h>

#include "api/api.h"

/* Largest request document: {"name", "content_type", "bytes"}. */
#define UPLOADS_BODY_MAX 4096

enum api_next uploads_begin(struct api_request *rq);
int uploads_body(struct api_request *rq, const char *data, size_t len);
enum api_next uploads_end(struct api_request *rq);

#endif
