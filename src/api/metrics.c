/*
 * metrics.c - see metrics.h.  Called by api.c (every request's release),
 * by handlers.c (/metrics) on request threads.  State lives in struct
 * api_metrics (api.h) and struct app_metrics (app.h); nothing here.
 */
#include "api/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core/util.h"
#include "app/app.h"
#include "function/function.h"
#include "queue/queue.h"

static const char *const code_classes[API_CODE_CLASSES] = {"2xx", "3xx", "4xx",
							   "5xx"};

void
metrics_init(struct api *api)
{
	for (size_t r = 0; r < API_ROUTE_SLOTS; r++)
		for (size_t c = 0; c < API_CODE_CLASSES; c++)
			histogram_init(&api->metrics.latency[r][c],
				       &histogram_http);
}

/* The slot of the route that answered rq (see api.h). */
static size_t
route_slot(const struct api_request *rq)
{
	if (rq->match.route == NULL)
		return API_ROUTE_SLOT_NONE;
	if (strcmp(rq->method, "OPTIONS") == 0)
		return API_ROUTE_SLOT_OPTIONS;
	return (size_t)rq->match.route->id;
}

void
metrics_observe_request(const struct api_request *rq)
{
	int status = rq->resp.status;
	size_t c;

	if (status <= 0 || rq->api == NULL)
		return;
	c = status < 300 ? 0 : status < 400 ? 1 : status < 500 ? 2 : 3;
	histogram_observe_us(&rq->api->metrics.latency[route_slot(rq)][c],
			     util_mono_us() - rq->started_us);
}

const char *
metrics_route_label(size_t slot, char *buf, size_t len)
{
	const struct route *t;
	size_t n;

	if (slot == API_ROUTE_SLOT_OPTIONS)
		return "OPTIONS";
	t = routes_table(&n);
	for (size_t i = 0; i < n; i++)
		if ((size_t)t[i].id == slot) {
			snprintf(buf, len, "%s %s", t[i].method, t[i].pattern);
			return buf;
		}
	return "none";
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
gauge(FILE *f, const char *name, const char *help, int64_t v)
{
	family(f, name, "gauge", help);
	fprintf(f, "%s %" PRId64 "\n", name, v);
}

/* Only the (route, class) pairs seen: most never are. */
static void
write_latency(FILE *f, struct api *api)
{
	static const char name[] = "imgpipe_http_request_duration_seconds";

	family(f, name, "histogram",
	       "Time from a request's start to its answer sent, by route "
	       "(the route table's method and pattern) and status class.");
	for (size_t r = 0; r < API_ROUTE_SLOTS; r++)
		for (size_t c = 0; c < API_CODE_CLASSES; c++) {
			const struct histogram *h = &api->metrics.latency[r][c];
			char route[160];
			char labels[200];
			uint64_t n = 0;

			for (size_t i = 0; i <= h->b->n; i++)
				n += atomic_load(&h->counts[i]);
			if (n == 0)
				continue;
			snprintf(labels, sizeof(labels),
				 "route=\"%s\",code=\"%s\"",
				 metrics_route_label(r, route, sizeof(route)),
				 code_classes[c]);
			histogram_write(h, f, name, labels);
		}
}

static void
write_function(FILE *f, struct app_metrics *m)
{
	static const char stage[] = "imgpipe_stage_duration_seconds";
	static const char fails[] = "imgpipe_attempt_failures_total";
	char labels[64];

	family(f, stage, "histogram",
	       "Time of each stage of a successful attempt: fetch, decode, "
	       "transform (resize + watermark), encode, store.");
	for (int i = 0; i < FUNCTION_STAGE_COUNT; i++) {
		snprintf(labels, sizeof(labels), "stage=\"%s\"",
			 function_stage_name((enum function_stage)i));
		histogram_write(&m->stage[i], f, stage, labels);
	}
	family(f, "imgpipe_upload_to_done_seconds", "histogram",
	       "Time from an upload to its record done, for the images "
	       "this process finished.");
	histogram_write(&m->upload_to_done, f, "imgpipe_upload_to_done_seconds",
			"");
	family(f, "imgpipe_queue_wait_seconds", "histogram",
	       "Time from an event's enqueue to its first delivery to a "
	       "worker of this process.");
	histogram_write(&m->queue_wait, f, "imgpipe_queue_wait_seconds", "");
	family(f, fails, "counter",
	       "Failed processing attempts (retried or final) by reason.");
	for (int i = 0; i < FUNCTION_FAIL_COUNT; i++)
		fprintf(f, "%s{reason=\"%s\"} %" PRId64 "\n", fails,
			function_failure_name((enum function_failure)i),
			atomic_load(&m->attempt_failures[i]));
	gauge(f, "imgpipe_jobs_inflight",
	      "Events a worker of this process is processing now.",
	      atomic_load(&m->jobs_inflight));
}

static void
write_ondemand(FILE *f, struct ondemand *od)
{
	static const char renders[] = "imgpipe_on_demand_renders_total";
	int running;

	family(f, renders, "counter",
	       "Variants asked for and not yet stored, by outcome: made, "
	       "refused (403: a rule or the record's capacity), failed, "
	       "busy (503: no render slot).");
	for (int i = 0; i < ONDEMAND_RESULT_COUNT; i++)
		fprintf(f, "%s{result=\"%s\"} %" PRId64 "\n", renders,
			ondemand_result_name((enum ondemand_result)i),
			atomic_load(&od->results[i]));
	family(f, "imgpipe_on_demand_waits_total", "counter",
	       "Requests that waited for another request's render of the "
	       "same variant (single flight) instead of rendering it.");
	fprintf(f, "imgpipe_on_demand_waits_total %" PRId64 "\n",
		atomic_load(&od->waited));
	pthread_mutex_lock(&od->lock);
	running = od->running;
	pthread_mutex_unlock(&od->lock);
	gauge(f, "imgpipe_on_demand_renders_inflight",
	      "On-demand renders running in this process now.", running);
}

void
metrics_write(FILE *f, struct api *api)
{
	struct app *app = api->app;
	struct statvfs fs;
	struct ip_error err;
	int64_t dead = 0;

	write_latency(f, api);
	write_function(f, &app->metrics);
	write_ondemand(f, &api->ondemand);
	if (app->queue != NULL &&
	    queue_dlq_count(app->queue, &dead, &err) == IP_OK)
		gauge(f, "imgpipe_dead_letters",
		      "Events in the dead-letter store now.", dead);
	if (statvfs(app->cfg.data_dir, &fs) == 0)
		gauge(f, "imgpipe_data_free_bytes",
		      "Bytes free to imgpipe in the data directory.",
		      (int64_t)fs.f_bavail * (int64_t)fs.f_frsize);
}
