/*
 * lambda_api.h - the /v1 API behind API Gateway: a proxy event (payload
 * 1.0 of REST APIs, 2.0 of HTTP APIs) in, the proxy response out, through
 * the in-process transport (api_local.h), so every route answers as on
 * `imgpipe serve`: same handlers, same JSON, same errors.
 *
 * Called by the Lambda host (lambda.c) for each invocation whose event is
 * an HTTP one; one thread.
 */
#ifndef IMGPIPE_LAMBDA_API_H
#define IMGPIPE_LAMBDA_API_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct api;
struct app;

/* Lambda's bound of a synchronous event and of its response. */
#define LAMBDA_API_PAYLOAD_MAX (6 * 1024 * 1024)

/* api_init, then server.bytes = auto becomes redirect: a reply through
 * Lambda is at most 6 MiB, so the bytes routes answer 302 to the store
 * (a store that cannot presign still streams).  An app without a queue
 * gets storage.events = store: the bucket announces uploads. */
void lambda_api_init(struct api *api, struct app *app);

/* True if json[0, len) is an API Gateway proxy event (an object with
 * requestContext and httpMethod (1.0) or rawPath (2.0)).  Cheap enough
 * to call on every event; false for anything unparsable. */
bool lambda_api_is_http_event(const char *json, size_t len);

/*
 * Answer the proxy event[0, len): *response_json (malloc'd, the caller
 * frees; *response_len its length) is {"statusCode", "headers", "body",
 * "isBase64Encoded"}, the body base64-encoded unless it is text or JSON.
 * Every API answer, errors included, is IP_OK with a response; IP_EINVAL
 * for an event that is not a usable proxy event (no method or path, a
 * bad base64 body, more than 64 headers), IP_ETOOBIG for an event or
 * answer above LAMBDA_API_PAYLOAD_MAX, IP_ENOMEM.
 */
int lambda_api_handle(struct api *api, const char *event, size_t len,
		      char **response_json, size_t *response_len,
		      struct ip_error *err);

#endif
