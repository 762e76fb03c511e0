/*
 * api_local.c - the in-process transport (api_local.h).
 *
 * Called by tests/api and, later, by the Lambda host for API Gateway
 * events; runs on its caller's thread.  The body is pushed in chunks of
 * LOCAL_CHUNK bytes, so the handlers stream it as they do from a socket.
 */
#include "api/api_local.h"

#include <glib.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/util.h"

#define LOCAL_CHUNK (64 * 1024)

struct local_ctx {
	const struct api_local_header *headers;
	size_t n_headers;
	bool has_body;
	char content_length[32];
};

static const char *
local_header(void *arg, const char *name)
{
	struct local_ctx *ctx = arg;

	for (size_t i = 0; i < ctx->n_headers; i++)
		if (strcasecmp(ctx->headers[i].name, name) == 0)
			return ctx->headers[i].value;
	if (ctx->has_body && strcasecmp(name, "Content-Length") == 0)
		return ctx->content_length;
	return NULL;
}

static const struct api_transport local_transport = {
    .name = "local",
    .header = local_header,
};

/* Read the file range of resp into out->body. */
static int
read_range(const struct api_response *resp, struct api_local_reply *out,
	   struct ip_error *err)
{
	uint64_t done = 0;

	if (resp->length > API_LOCAL_BODY_MAX)
		return ip_error_set(err, IP_ETOOBIG,
				    "a body of %" PRIu64 " bytes is larger "
				    "than %d",
				    resp->length, API_LOCAL_BODY_MAX);
	out->body = malloc((size_t)resp->length + 1);
	if (out->body == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	while (done < resp->length) {
		ssize_t n = pread(resp->fd, out->body + done,
				  (size_t)(resp->length - done),
				  (off_t)(resp->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ip_error_set(err, IP_EIO, "read: %s",
					    n < 0 ? strerror(errno)
						  : "file shorter than its "
						    "range");
		done += (uint64_t)n;
	}
	out->body_len = (size_t)resp->length;
	out->body[out->body_len] = '\0';
	return IP_OK;
}

/* Copy the neutral response into *out. */
static int
reply_of(const struct api_request *rq, struct api_local_reply *out,
	 struct ip_error *err)
{
	const struct api_response *resp = &rq->resp;

	out->status = resp->status;
	out->n_headers = resp->n_headers;
	for (size_t i = 0; i < resp->n_headers; i++) {
		out->headers[i].name = resp->headers[i].name;
		out->headers[i].value = g_strdup(resp->headers[i].value);
	}
	if (rq->head || resp->body == API_BODY_NONE)
		return IP_OK;
	if (resp->body == API_BODY_FILE)
		return read_range(resp, out, err);
	out->body = malloc(resp->mem_len + 1);
	if (out->body == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	memcpy(out->body, resp->mem, resp->mem_len);
	out->body_len = resp->mem_len;
	out->body[out->body_len] = '\0';
	return IP_OK;
}

/* Push the body in chunks; stop early when the handler drops the
 * client (it has its refusal ready for the end). */
static void
feed_body(struct api_request *rq, const char *body, size_t len)
{
	for (size_t off = 0; off < len; off += LOCAL_CHUNK) {
		size_t n = len - off < LOCAL_CHUNK ? len - off : LOCAL_CHUNK;

		if (api_request_body(rq, body + off, n) != 0)
			break;
	}
}

int
api_local_call(struct api *api, const char *method, const char *path,
	       const char *raw_query, const struct api_local_header *headers,
	       size_t n_headers, const void *body, size_t body_len,
	       struct api_local_reply *out, struct ip_error *err)
{
	struct local_ctx ctx = {headers, n_headers, body != NULL, ""};
	struct api_request *rq = malloc(sizeof(*rq));
	int rc;

	memset(out, 0, sizeof(*out));
	if (rq == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	snprintf(ctx.content_length, sizeof(ctx.content_length), "%zu",
		 body_len);
	api_request_init(rq, api, &local_transport, &ctx, "", method, path,
			 raw_query, raw_query != NULL ? strlen(raw_query) : 0);
	if (api_request_begin(rq) == API_NEXT_BODY) {
		if (body != NULL)
			feed_body(rq, body, body_len);
		api_request_end(rq);
	}
	rc = reply_of(rq, out, err);
	if (rc != IP_OK)
		api_local_reply_free(out);
	api_request_release(rq);
	free(rq);
	return rc;
}

const char *
api_local_reply_header(const struct api_local_reply *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

void
api_local_reply_free(struct api_local_reply *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_headers; i++)
		free(r->headers[i].value);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
