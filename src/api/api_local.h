/*
 * api_local.h - the in-process transport of the /v1 API: one call is one
 * request, answered whole, with no socket.
 *
 * Its shape is an API Gateway proxy event (method, path, raw query,
 * headers, body) and its answer (status, headers, body), so the Lambda
 * host can serve the API through the same handlers; the test suite drives
 * every route through it and through src/http/ with the same
 * expectations.
 *
 * Thread-safety: any thread may call api_local_call; each call is its own
 * request (the api is shared as for any transport).
 */
#ifndef IMGPIPE_API_LOCAL_H
#define IMGPIPE_API_LOCAL_H

#include <stddef.h>

#include "core/error.h"
#include "api/api.h"

/* Largest body a reply carries: a file range above it is not read. */
#define API_LOCAL_BODY_MAX (64 * 1024 * 1024)

struct api_local_header {
	const char *name;
	const char *value;
};

struct api_local_reply {
	int status;
	size_t n_headers;
	struct api_header headers[API_RESPONSE_HEADERS_MAX];
	char *body; /* owned, NUL-terminated after body_len; NULL if none */
	size_t body_len;
};

/* Run one request: method ("GET", "HEAD", ...), the raw path (no query),
 * the raw query string (no '?'; NULL or "" for none), n_headers request
 * headers (names in any case; a Content-Length is supplied from body_len
 * when absent and a body is given), and the body (may be NULL).  The body
 * reaches the handler in chunks, as from a socket.  On IP_OK *out (zeroed
 * here) holds the answer; a HEAD answer has no body.  IP_ENOMEM, or
 * IP_ETOOBIG / IP_EIO when a file body is larger than API_LOCAL_BODY_MAX
 * or cannot be read; out is then empty.  Free with api_local_reply_free. */
int api_local_call(struct api *api, const char *method, const char *path,
		   const char *raw_query,
		   const struct api_local_header *headers, size_t n_headers,
		   const void *body, size_t body_len,
		   struct api_local_reply *out, struct ip_error *err);

/* The value of response header name (any case), or NULL.  Borrowed. */
const char *api_local_reply_header(const struct api_local_reply *r,
				   const char *name);

/* Free the body; NULL-safe. */
void api_local_reply_free(struct api_local_reply *r);

#endif
