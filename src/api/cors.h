/*
 * cors.h - cross-origin requests (server.cors_origins): preflights, the
 * headers of every answer, and the refusal of cross-site writes.
 *
 * Called by api.c (routing, OPTIONS) and reply.c (every answer), on the
 * request's thread.  No state: the setting is read from the config.
 *
 * DESIGN.  Origins are exact strings ("https://shop.example"), or "*",
 * which opens only the read routes (GET, HEAD) and never with
 * credentials a browser would attach by itself (imgpipe uses none).  A
 * write (POST, PUT, DELETE) that a browser marks as coming from another
 * origin is refused unless that origin is listed: a form on any web page
 * can POST to a server on the visitor's network without a preflight, so
 * this is what keeps a key-less local server from taking uploads from
 * strangers' pages.
 */
#ifndef IMGPIPE_API_CORS_H
#define IMGPIPE_API_CORS_H

#include <stdbool.h>

#include "api/api.h"
#include "core/error.h"

/* The handler of OPTIONS on a known path: a CORS preflight (Origin and
 * Access-Control-Request-Method present) or a plain OPTIONS (Allow). */
enum api_next cors_options(struct api_request *rq);

/* IP_EFORBIDDEN if rq is a write from an origin that is neither this
 * server's own nor listed; IP_OK otherwise. */
int cors_check_write(struct api_request *rq, struct ip_error *err);

/* Add the CORS headers this answer needs (Vary, Allow-Origin, Expose). */
void cors_decorate(struct api_request *rq);

#endif
