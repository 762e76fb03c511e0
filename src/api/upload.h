/*
 * upload.h - PUT /v1/images/{name} and POST /v1/images: stream the body
 * to a temp file in cfg.data_dir/tmp while hashing it (SHA-256), then hand
 * it to ingest_commit().
 *
 * Nothing is ever read whole into memory; the body is refused (413) as
 * soon as Content-Length or the streamed count passes cfg.max_body_bytes.
 * Whatever fails, the temp file is removed: a refused upload leaves
 * nothing behind.
 *
 * Thread-safety: one struct upload per request, on its thread.
 */
#ifndef IMGPIPE_API_UPLOAD_H
#define IMGPIPE_API_UPLOAD_H

#include <stddef.h>

#include "api/api.h"

struct upload;

/* route_handler entries for both upload routes. */
enum api_next upload_begin(struct api_request *rq);
int upload_body(struct api_request *rq, const char *data, size_t len);
enum api_next upload_end(struct api_request *rq);

/* Remove the temp file (if still ours) and free.  NULL-safe. */
void upload_free(struct upload *up);

/* Remove upload temp files in tmp_dir whose writing process is gone (a
 * crash mid-upload).  Returns how many were removed. */
int upload_cleanup_stale(const char *tmp_dir);

#endif
