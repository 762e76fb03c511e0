/*
 * openapi.h - GET /openapi.json: the API's contract, docs/openapi.yaml
 * turned into JSON at build time and compiled into the binary as a
 * GResource (/imgpipe/openapi/openapi.json), so the document a server
 * serves is the one it was built with.
 *
 * Thread-safety: any request thread; the document is static data.
 */
#ifndef IMGPIPE_API_OPENAPI_H
#define IMGPIPE_API_OPENAPI_H

#include <stddef.h>

#include "api/api.h"

/* The route's handler: 200 with the document (application/json, a
 * strong ETag, Cache-Control), 304 when If-None-Match matches it. */
enum api_next openapi_serve(struct api_request *rq);

/* The embedded document and its length; NULL if the resource is
 * missing (a broken build).  Borrowed, static. */
const char *openapi_document(size_t *len);

#endif
