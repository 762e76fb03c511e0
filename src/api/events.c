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
	if (!rq->body_over && buf_add(&rq->body, data, len, NULL) != IP_OK)
		rq->body_over = true;
	/* drop a client that goes on far past the bound */
	return rq->body_over && rq->body.len + len > 4 * (size_t)EVENT_TEXT_MAX
		   ? -1
		   : 0;
}

/* Queue one record as its own event; 1 if queued, 0 if not ours. */
static int
queue_record(struct app *app, const struct event_record *er,
	     struct ip_error *err)
{
	char id[RECORD_ID_MAX];
	int64_t when;
	char *text;
	int rc;

	if (!function_event_is_ours(&app->cfg, er, id)) {
		log_info("pushed event ignored: %s s3://%s/%.200s",
			 er->event_name, er->bucket, er->key);
		return 0;
	}
	/* The store's event time, so that every push of one object names
	 * the same record (function_object_id). */
	when =
	    er->event_time[0] != '\0' ? util_rfc3339_parse(er->event_time) : -1;
	text = event_build(app->cfg.aws_region, er->bucket, er->key, er->size,
			   er->etag, when > 0 ? when : util_now_ms());
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
	if (rq->body.len == 0)
		return reply_error(rq, IP_EINVAL, "the request body is empty");
	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	rc = event_parse(buf_str(&rq->body), rq->body.len, ev, &err);
	for (size_t i = 0; rc == IP_OK && i < ev->n; i++) {
		int n = queue_record(rq->app, &ev->records[i], &err);

		if (n < 0)
			rc = n;
		else if (n == 1)
			queued++;
		else
			ignored++;
	}
	event_clear(ev);
	free(ev);
	if (rc != IP_OK)
		return reply_ip_error(rq, &err);
	return reply_json(
	    rq, 200,
	    json_pack("{s:i, s:i}", "queued", queued, "ignored", ignored));
}
