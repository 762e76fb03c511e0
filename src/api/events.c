/*
 * events.c - S3 notifications pushed to imgpipe (see events.h).
 */
#include "api/events.h"
#include "api/reply.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "app/app.h"
#include "function/function.h"
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>

bool
events_route_in_worker(enum route_id id)
{
	return id == ROUTE_EVENTS || id == ROUTE_HEALTHZ ||
	       id == ROUTE_READYZ || id == ROUTE_METRICS;
}

enum api_next
events_begin(struct api_request *rq)
{
	const char *cl = api_header(rq, "Content-Length");

	if (!rq->app->cfg.accept_events && !rq->api->events_only)
		return reply_error(rq, IP_ENOTFOUND,
				   "event intake is off "
				   "(server.accept_events)");
	if (cl != NULL && strtoull(cl, NULL, 10) > EVENT_TEXT_MAX)
		return reply_error(rq, IP_ETOOBIG,
				   "an event document is at most %d bytes",
				   EVENT_TEXT_MAX);
	return API_NEXT_BODY;
}

int
events_body(struct api_request *rq, const char *data, size_t len)
{
	char *grown;

	if (rq->body_over || rq->body_len + len > EVENT_TEXT_MAX) {
		rq->body_over = true;
		/* drop a client that goes on far past the bound */
		return rq->body_len + len > 4 * (size_t)EVENT_TEXT_MAX ? -1 : 0;
	}
	grown = realloc(rq->body, rq->body_len + len + 1);
	if (grown == NULL) {
		rq->body_over = true;
		return 0;
	}
	rq->body = grown;
	memcpy(rq->body + rq->body_len, data, len);
	rq->body_len += len;
	rq->body[rq->body_len] = '\0';
	return 0;
}

/* Queue one record as its own event; 1 if queued, 0 if not ours. */
static int
queue_record(struct app *app, const struct event_record *er,
	     struct ip_error *err)
{
	char id[RECORD_ID_MAX];
	char *text;
	int rc;

	if (strncmp(er->event_name, "ObjectCreated:", 14) != 0 ||
	    strcmp(er->bucket, app->cfg.input_bucket) != 0 ||
	    function_key_id(er->key, id) != IP_OK) {
		log_info("pushed event ignored: %s s3://%s/%.200s",
			 er->event_name, er->bucket, er->key);
		return 0;
	}
	text = event_build(app->cfg.aws_region, er->bucket, er->key, er->size,
			   er->etag, util_now_ms());
	if (text == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	rc = queue_send(app->queue, text, strlen(text), id, 0, err);
	free(text);
	return rc == IP_OK ? 1 : rc;
}

enum api_next
events_end(struct api_request *rq)
{
	struct ip_error err;
	struct event *ev;
	int queued = 0, ignored = 0;
	int rc = IP_OK;

	if (rq->body_over)
		return reply_error(rq, IP_ETOOBIG,
				   "an event document is at most %d bytes",
				   EVENT_TEXT_MAX);
	if (rq->body == NULL)
		return reply_error(rq, IP_EINVAL, "the request body is empty");
	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	rc = event_parse(rq->body, rq->body_len, ev, &err);
	for (size_t i = 0; rc == IP_OK && i < ev->n; i++) {
		int n = queue_record(rq->app, &ev->records[i], &err);

		if (n < 0)
			rc = n;
		else if (n == 1)
			queued++;
		else
			ignored++;
	}
	free(ev);
	if (rc != IP_OK)
		return reply_ip_error(rq, &err);
	return reply_json(
	    rq, 200,
	    json_pack("{s:i, s:i}", "queued", queued, "ignored", ignored));
}
