/*
 * api.c - the request life of the /v1 API (api.h): route, begin, body,
 * end, release; the table of handlers indexed by route id.
 *
 * Called by every transport (src/http/server.c on the HTTP connection
 * threads, api_local.c on its caller's thread).  Holds no state
 * of its own beyond the const handler table.
 *
 * DESIGN.  The path reaches routes_match() raw and the query string
 * reaches query_parse() raw, whatever the transport: each is
 * percent-decoded exactly once, by our own bounded decoders, so "%2F"
 * cannot change the route and both transports see the same values.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/event.h"
#include "core/util.h"
#include "api/cors.h"
#include "api/events.h"
#include "api/handlers.h"
#include "api/metrics.h"
#include "api/openapi.h"
#include "api/reply.h"
#include "api/reprocess_api.h"
#include "api/upload.h"
#include "api/uploads.h"
#include "api/webui.h"
#include "app/app.h"

static const struct route_handler route_handlers[ROUTE_COUNT] = {
    [ROUTE_IMAGES_LIST] = {handlers_image_list, NULL, NULL},
    [ROUTE_IMAGES_POST] = {upload_begin, upload_body, upload_end},
    [ROUTE_IMAGE_GET] = {handlers_image_get, NULL, NULL},
    [ROUTE_IMAGE_PUT] = {upload_begin, upload_body, upload_end},
    [ROUTE_IMAGE_DELETE] = {handlers_image_delete, NULL, NULL},
    [ROUTE_IMAGE_ORIGINAL] = {handlers_image_original, NULL, NULL},
    [ROUTE_IMAGE_VARIANT] = {handlers_image_variant, NULL, NULL},
    [ROUTE_HEALTHZ] = {handlers_healthz, NULL, NULL},
    [ROUTE_READYZ] = {handlers_readyz, NULL, NULL},
    [ROUTE_METRICS] = {handlers_metrics, NULL, NULL},
    [ROUTE_EVENTS] = {events_begin, events_body, events_end},
    [ROUTE_UPLOADS_POST] = {uploads_begin, uploads_body, uploads_end},
    [ROUTE_WEB_PAGE] = {webui_page, NULL, NULL},
    [ROUTE_WEB_ASSET] = {webui_asset, NULL, NULL},
    [ROUTE_OPENAPI] = {openapi_serve, NULL, NULL},
    [ROUTE_IMAGE_REPROCESS] = {reprocess_api_post, NULL, NULL},
};

const struct route_handler *
api_handlers(void)
{
	return route_handlers;
}

void
api_init(struct api *api, struct app *app)
{
	memset(api, 0, sizeof(*api));
	api->app = app;
	metrics_init(api);
	api->bytes_redirect = app->cfg.bytes == BYTES_REDIRECT;
	ondemand_init(&api->ondemand, &app->cfg);
	auth_init(&api->auth, &app->cfg,
		  app->cfg.auth == AUTH_ON ||
		      (app->cfg.auth == AUTH_AUTO &&
		       !auth_listen_is_loopback(app->cfg.listen) &&
		       !app->cfg.insecure_public));
}

void
api_fini(struct api *api)
{
	auth_fini(&api->auth);
	ondemand_fini(&api->ondemand);
}

/* OPTIONS: the preflight / Allow answer of cors.c, on any known path. */
static const struct route_handler options_handler = {cors_options, NULL, NULL};

static void
request_route_options(struct api_request *rq, const char *path)
{
	const char *want = api_header(rq, "Access-Control-Request-Method");

	rq->route_rc = routes_match(want != NULL ? want : "OPTIONS", path,
				    &rq->match, &rq->route_err);
	if (rq->route_rc == IP_ENOTSUP || rq->route_rc == IP_OK) {
		ip_error_clear(&rq->route_err);
		rq->route_rc = IP_OK;
		rq->handler = &options_handler;
	}
}

/* The query, then the route: the decision is stored in rq. */
static void
request_route(struct api_request *rq, const char *path, const char *raw_query,
	      size_t raw_query_len)
{
	ip_error_clear(&rq->route_err);
	rq->route_rc =
	    query_parse(raw_query != NULL ? raw_query : "",
			raw_query != NULL ? raw_query_len : 0, QUERY_PLUS_SPACE,
			&rq->query, &rq->route_err);
	if (rq->route_rc != IP_OK)
		return;
	if (strcmp(rq->method, "OPTIONS") == 0) {
		request_route_options(rq, path);
		return;
	}
	rq->route_rc =
	    routes_match(rq->method, path, &rq->match, &rq->route_err);
	if (rq->route_rc == IP_OK && rq->api->events_only &&
	    !events_route_in_worker(rq->match.route->id))
		rq->route_rc = ip_error_set(&rq->route_err, IP_ENOTFOUND,
					    "a worker serves only /v1/events "
					    "and health");
	if (rq->route_rc == IP_OK)
		rq->route_rc = auth_request(rq, path, &rq->route_err);
	if (rq->route_rc == IP_OK)
		rq->handler = &route_handlers[rq->match.route->id];
}

/* The client's X-Request-Id when it is one we can log and store as it
 * is; anything else (too long, control bytes, spaces) is replaced by a
 * new id, never refused: a request id must not cost a request. */
static void
request_id(struct api_request *rq)
{
	const char *given = api_header(rq, "X-Request-Id");

	if (util_request_id_ok(given))
		util_strlcpy(rq->id, given, sizeof(rq->id));
	else
		util_new_id(rq->id, sizeof(rq->id));
}

void
api_request_init(struct api_request *rq, struct api *api,
		 const struct api_transport *t, void *ctx, const char *client,
		 const char *method, const char *path, const char *raw_query,
		 size_t raw_query_len)
{
	memset(rq, 0, sizeof(*rq));
	snprintf(rq->client, sizeof(rq->client), "%s",
		 client != NULL ? client : "");
	rq->api = api;
	rq->app = api->app;
	rq->transport = t;
	rq->transport_ctx = ctx;
	rq->method = method;
	rq->head = strcmp(method, "HEAD") == 0;
	rq->started_ms = util_mono_ms();
	rq->started_us = util_mono_us();
	rq->resp.fd = -1;
	buf_init(&rq->body, EVENT_TEXT_MAX, "an event document");
	request_id(rq);
	snprintf(rq->path, sizeof(rq->path), "%s", path);
	request_route(rq, path, raw_query, raw_query_len);
}

bool
api_request_reads_body(const struct api_request *rq)
{
	return rq->handler != NULL && rq->handler->body != NULL;
}

enum api_next
api_request_begin(struct api_request *rq)
{
	if (api_request_reads_body(rq))
		return rq->handler->begin(rq);
	return API_NEXT_BODY;
}

int
api_request_body(struct api_request *rq, const char *data, size_t len)
{
	if (rq->answered || !api_request_reads_body(rq))
		return 0;
	return rq->handler->body(rq, data, len);
}

/* Answer a request whose handler reads no body (or that has no route). */
static void
request_answer(struct api_request *rq)
{
	if (rq->route_rc == IP_ENOTSUP) {
		bool ok = reply_set_error(rq, ip_code_name(rq->route_rc),
					  rq->route_err.msg);

		reply_add_header(rq, "Allow", rq->match.allow);
		reply_queue(rq, 405, ok);
		return;
	}
	if (rq->route_rc == IP_EFULL && rq->retry_after_s > 0) {
		reply_retry_after(rq, rq->retry_after_s, &rq->route_err);
		return;
	}
	if (rq->route_rc != IP_OK) {
		reply_ip_error(rq, &rq->route_err);
		if (rq->route_rc == IP_EAUTH)
			reply_add_header(rq, "WWW-Authenticate",
					 "Bearer realm=\"imgpipe\"");
		return;
	}
	rq->handler->begin(rq);
}

void
api_request_end(struct api_request *rq)
{
	if (rq->answered)
		return;
	if (api_request_reads_body(rq))
		rq->handler->end(rq);
	else
		request_answer(rq);
}

const char *
api_header(const struct api_request *rq, const char *name)
{
	return rq->transport->header(rq->transport_ctx, name);
}

const char *
api_query(const struct api_request *rq, const char *name)
{
	return query_get(&rq->query, name);
}

void
api_request_release(struct api_request *rq)
{
	metrics_observe_request(rq);
	upload_free(rq->upload);
	rq->upload = NULL;
	buf_free(&rq->body);
	api_response_clear(&rq->resp);
}

void
api_response_clear(struct api_response *resp)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		free(resp->headers[i].value);
	resp->n_headers = 0;
	if (resp->body == API_BODY_MEMORY && !resp->mem_static)
		free(resp->mem);
	resp->mem = NULL;
	resp->body = API_BODY_NONE;
	if (resp->fd >= 0)
		close(resp->fd);
	resp->fd = -1;
}
