/*
 * lambda.c - the Lambda Runtime API loop (see lambda.h).  Threads:
 * `imgpipe lambda` / bootstrap's main thread runs the loop; a watchdog
 * thread answers Timeout at the deadline; a start-up thread opens the
 * backends so that init is bounded.
 *
 * The HTTP is the aws client's plain (unsigned) path (aws_client.h): the
 * same curl setup, connection reuse, header capture and bounded reply
 * buffer as the S3 and DynamoDB backends, so this file is only the
 * protocol: next, then response or error.  An event above Lambda's
 * payload limit is refused through /error rather than served.
 */
#include "hosts/lambda.h"
#include "aws/aws_client.h"
#include "core/config.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "app/app.h"
#include "app/webhooks.h"
#include "function/function.h"
#include "api/api.h"
#include "hosts/lambda_api.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LAMBDA_URL_MAX 1024
#define LAMBDA_ID_MAX 128
/* Lambda's own payload limit (synchronous invocations; asynchronous ones
 * carry at most 256 KiB): a larger event is not Lambda's. */
#define LAMBDA_PAYLOAD_MAX (6 * 1024 * 1024)
#define LAMBDA_CONNECT_TIMEOUT_MS 10000
#define LAMBDA_POST_TIMEOUT_MS 30000

struct invocation {
	char id[LAMBDA_ID_MAX];
	int64_t deadline_ms; /* epoch ms; 0 if the API did not say */
	struct aws_response rs; /* the event in rs.body */
	bool too_big; /* above LAMBDA_PAYLOAD_MAX: answered, not served */
	struct ip_error too_big_err;
};

int
lambda_base_url(const char *api, char *out, size_t len, struct ip_error *err)
{
	int n;

	if (api == NULL || api[0] == '\0')
		return ip_error_set(err, IP_EINVAL,
				    "AWS_LAMBDA_RUNTIME_API is not set: "
				    "`imgpipe lambda` runs inside Lambda");
	if (strpbrk(api, " \r\n\t") != NULL)
		return ip_error_set(err, IP_EINVAL,
				    "AWS_LAMBDA_RUNTIME_API has white space");
	n = strncmp(api, "http://", 7) == 0 || strncmp(api, "https://", 8) == 0
		? snprintf(out, len, "%s/2018-06-01/runtime", api)
		: snprintf(out, len, "http://%s/2018-06-01/runtime", api);
	if (n < 0 || (size_t)n >= len)
		return ip_error_set(err, IP_EINVAL,
				    "AWS_LAMBDA_RUNTIME_API is too long");
	return IP_OK;
}

/* Request ids go into URLs: accept only [A-Za-z0-9-]. */
static bool
request_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= LAMBDA_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(id[i] == '-' || (id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= 'A' && id[i] <= 'Z')))
			return false;
	return true;
}

/*
 * GET next: blocks until Lambda has an invocation for us.  IP_OK with
 * inv filled; IP_ETOOBIG with inv->id set for an event above
 * LAMBDA_PAYLOAD_MAX (it is answered with an error, not served); another
 * code when the Runtime API is gone.
 */
static int
next_invocation(struct aws_client *c, const char *base, struct invocation *inv,
		struct ip_error *err)
{
	char url[LAMBDA_URL_MAX + 32];
	struct aws_request rq = {
	    .method = "GET",
	    .url = url,
	    .body_fd = -1,
	    .out_fd = -1,
	    .reply_max = LAMBDA_PAYLOAD_MAX,
	    .reply_name = "event",
	    .want_header = "Lambda-Runtime-Aws-Request-Id",
	    .want_header2 = "Lambda-Runtime-Deadline-Ms",
	};
	int rc;

	memset(inv, 0, sizeof(*inv));
	snprintf(url, sizeof(url), "%s/invocation/next", base);
	rc = aws_request_perform(c, &rq, &inv->rs, err);
	if (rc != IP_OK && rc != IP_ETOOBIG) {
		ip_error_prefix(err, "runtime API");
		return rc;
	}
	if (!request_id_ok(inv->rs.header))
		return ip_error_set(err, IP_EBACKEND,
				    "runtime API: no usable Lambda-Runtime-"
				    "Aws-Request-Id");
	util_strlcpy(inv->id, inv->rs.header, sizeof(inv->id));
	inv->deadline_ms = strtoll(inv->rs.header2, NULL, 10);
	return rc;
}

static int
post(struct aws_client *c, const char *url, const char *body,
     const char *error_type)
{
	char type_header[160];
	const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
	struct aws_request rq = {
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    .body = body,
	    .body_fd = -1,
	    .body_len = (int64_t)strlen(body),
	    .out_fd = -1,
	    .timeout_ms = LAMBDA_POST_TIMEOUT_MS,
	};
	struct aws_response rs;
	struct ip_error err;
	int rc;

	if (error_type != NULL) {
		snprintf(type_header, sizeof(type_header),
			 "Lambda-Runtime-Function-Error-Type: %s", error_type);
		headers[1] = type_header;
	}
	rc = aws_request_perform(c, &rq, &rs, &err);
	aws_response_free(&rs);
	if (rc != IP_OK)
		log_error("runtime API: %s", err.msg);
	return rc;
}

static char *
error_body(const char *type, const char *message)
{
	json_t *o =
	    json_pack("{s:s, s:s}", "errorType", type, "errorMessage", message);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* The plain-HTTP client of the Runtime API: one attempt per call (a
 * failure means the sandbox is going away), no low-speed abort (GET next
 * is a long poll that may stay silent for hours). */
static int
lambda_client(struct aws_client **out, struct ip_error *err)
{
	struct aws_client_opts o = {
	    .service = "lambda-runtime",
	    .attempts = 1,
	    .connect_timeout_ms = LAMBDA_CONNECT_TIMEOUT_MS,
	    .low_speed_s = -1,
	};

	return aws_client_new(NULL, &o, out, err);
}

/*
 * DESIGN: the deadline.  Lambda kills the sandbox at
 * Lambda-Runtime-Deadline-Ms, wherever the work is (an S3 transfer, a
 * libvips decode).  Rather than thread a cancellation through every
 * layer, a watchdog thread wakes lambda.deadline_margin_ms before it and,
 * if the invocation is still running, takes the answer from the main
 * thread: it marks the event's records `failed` ("deadline reached"),
 * answers /error with the error type Timeout, and ends the process (the
 * work in flight cannot be stopped cleanly; Lambda starts a fresh runtime
 * for the next event).  A redelivery claims the `failed` record again.
 * A process killed without warning (out of memory, SIGKILL) leaves its
 * record `processing`; the function's claim budget (lambda.deliveries -
 * 1) makes the next delivery past it write `failed` with "attempt N was
 * killed" instead of trying again, so the last delivery always settles
 * the record.
 */
struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	pthread_t thread;
	bool started;
	struct app *app;
	struct aws_client *client; /* its own: curl handles are per thread */
	const char *base;
	/* the invocation being watched; armed until answered */
	bool armed;
	bool quit;
	bool taken; /* the watchdog answered it */
	int64_t fire_mono_ms;
	const struct invocation *inv;
};

static void
deadline_reached(struct watchdog *w)
{
	const struct invocation *inv = w->inv;
	char url[LAMBDA_URL_MAX + LAMBDA_ID_MAX + 32];
	char msg[256];
	struct ip_error err;
	char *body;

	log_context_set_request(inv->id);
	snprintf(msg, sizeof(msg),
		 "Lambda deadline reached: the work was cancelled %d ms "
		 "before it (Timeout)",
		 w->app->cfg.lambda_margin_ms);
	if (function_fail_event(&w->app->fn, buf_str(&inv->rs.body),
				inv->rs.body.len, msg, &err) != IP_OK)
		log_error("cannot mark the records failed: %s", err.msg);
	body = error_body("Timeout", msg);
	snprintf(url, sizeof(url), "%s/invocation/%s/error", w->base, inv->id);
	post(w->client, url, body != NULL ? body : "{}", "Timeout");
	free(body);
	log_error("invocation %s: %s; the runtime exits", inv->id, msg);
	_exit(3);
}

static void *
watchdog_main(void *arg)
{
	struct watchdog *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->quit) {
		struct timespec ts;
		int64_t at;

		if (!w->armed) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		at = w->fire_mono_ms;
		if (util_mono_ms() >= at) {
			w->taken = true;
			w->armed = false;
			pthread_mutex_unlock(&w->lock);
			deadline_reached(w); /* does not return */
		}
		ts.tv_sec = (time_t)(at / 1000);
		ts.tv_nsec = (long)(at % 1000) * 1000000L;
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void
watchdog_stop(struct watchdog *w)
{
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->quit = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	aws_client_free(w->client);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

static int
watchdog_start(struct watchdog *w, struct app *app, const char *base,
	       struct ip_error *err)
{
	pthread_condattr_t ca;

	memset(w, 0, sizeof(*w));
	w->app = app;
	w->base = base;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	/* util_mono_ms is CLOCK_MONOTONIC */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (lambda_client(&w->client, err) != IP_OK)
		return err->code;
	if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0)
		return ip_error_set(err, IP_ENOMEM, "cannot start a thread");
	w->started = true;
	return IP_OK;
}

/* Watch inv (no deadline: nothing to watch). */
static void
watchdog_arm(struct watchdog *w, const struct invocation *inv)
{
	int64_t left =
	    inv->deadline_ms - util_now_ms() - w->app->cfg.lambda_margin_ms;

	if (inv->deadline_ms <= 0)
		return;
	pthread_mutex_lock(&w->lock);
	w->inv = inv;
	w->taken = false;
	w->armed = true;
	w->fire_mono_ms = util_mono_ms() + (left > 0 ? left : 0);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* true: the main thread answers; false: the watchdog did (and is ending
 * the process). */
static bool
watchdog_disarm(struct watchdog *w)
{
	bool ours;

	pthread_mutex_lock(&w->lock);
	ours = !w->taken;
	w->armed = false;
	pthread_mutex_unlock(&w->lock);
	return ours;
}

/* {"batchItemFailures":[{"itemIdentifier":id}...]}: the SQS messages
 * whose records failed, each once (a message may carry several). */
static char *
batch_response(const struct event *ev, const int *rcs)
{
	json_t *fails = json_array();
	json_t *o;
	char *s;

	for (size_t i = 0; fails != NULL && i < ev->n; i++) {
		const char *mid = ev->records[i].message_id;
		bool seen = false;

		if (rcs[i] == IP_OK)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = rcs[j] != IP_OK &&
			       strcmp(ev->records[j].message_id, mid) == 0;
		if (!seen)
			json_array_append_new(
			    fails, json_pack("{s:s}", "itemIdentifier", mid));
	}
	o = json_pack("{s:o}", "batchItemFailures", fails);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static char *
stats_response(const struct function_stats *st)
{
	json_t *o = json_pack("{s:i, s:i, s:i, s:I}", "done", st->done,
			      "failed", st->failed, "skipped", st->skipped,
			      "processing_ms", (json_int_t)st->processing_ms);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* Run the function on the invocation's event: the body of /response in
 * *body, or the code (err filled) for /error. */
static int
run_event(struct app *app, struct api *api, struct invocation *inv, char **body,
	  struct ip_error *err)
{
	struct function_invocation pinv = {
	    .attempt = 1,
	    .final = true,
	    .claim_budget = app->cfg.lambda_deliveries > 1
				? app->cfg.lambda_deliveries - 1
				: 1,
	};
	struct function_stats st;
	struct event ev;
	bool sqs = false;
	int *rcs = NULL;
	int rc;

	*body = NULL;
	memset(&st, 0, sizeof(st));
	if (inv->too_big)
		return ip_error_set(err, IP_ETOOBIG, "%s",
				    inv->too_big_err.msg);
	/* An API Gateway proxy event: the /v1 API, through its handlers. */
	if (lambda_api_is_http_event(buf_str(&inv->rs.body),
				     inv->rs.body.len)) {
		size_t len;

		return lambda_api_handle(api, buf_str(&inv->rs.body),
					 inv->rs.body.len, body, &len, err);
	}
	rc = event_parse(buf_str(&inv->rs.body), inv->rs.body.len, &ev, err);
	if (rc == IP_OK && ev.n > 0) {
		rcs = calloc(ev.n, sizeof(*rcs));
		if (rcs == NULL)
			rc = ip_error_set(err, IP_ENOMEM, "out of memory");
	}
	if (rc == IP_OK) {
		for (size_t i = 0; i < ev.n; i++)
			sqs = sqs || ev.records[i].message_id[0] != '\0';
		if (ev.n == 0)
			log_info("event with no object (s3:TestEvent or an "
				 "empty batch): nothing to do");
		rc = function_handle_records(&app->fn, &ev, &pinv, rcs, &st,
					     err);
	}
	if (rc == IP_OK || (sqs && rcs != NULL)) {
		/* SQS: failed messages are named, the others deleted */
		if (rc != IP_OK)
			log_warn("batch: %s", err->msg);
		*body = sqs ? batch_response(&ev, rcs) : stats_response(&st);
		rc = IP_OK;
	}
	free(rcs);
	event_clear(&ev);
	return rc;
}

/*
 * After an invocation's response: the webhooks that are due (this
 * invocation's, and any an earlier one left), within twice
 * notify.timeout and what is left before the deadline's margin.  What
 * does not fit waits in the outbox for the next invocation (an EventBridge
 * schedule invokes one when uploads stop; docs/AWS.md).
 */
static void
drain_webhooks(struct app *app, const struct invocation *inv)
{
	int64_t budget = 2 * (int64_t)app->cfg.notify_timeout_ms;
	struct webhooks_stats st;
	struct ip_error err;

	if (app->cfg.notify_urls[0] == '\0')
		return;
	if (inv->deadline_ms > 0) {
		int64_t left = inv->deadline_ms - util_now_ms() -
			       app->cfg.lambda_margin_ms;

		budget = left < budget ? left : budget;
	}
	if (budget <= 0)
		return;
	if (webhooks_drain(app, budget, &st, &err) != IP_OK)
		log_warn("webhooks: %s", err.msg);
	else if (st.delivered + st.retried + st.dead > 0)
		log_info("webhooks: %d delivered, %d to retry, %d dead",
			 st.delivered, st.retried, st.dead);
}

static void
handle(struct app *app, struct api *api, struct aws_client *h, const char *base,
       struct watchdog *w, struct invocation *inv)
{
	struct ip_error err;
	char url[LAMBDA_URL_MAX + LAMBDA_ID_MAX + 32];
	char type[64];
	char *body;
	int rc;

	ip_error_clear(&err);
	log_context_set_request(inv->id);
	watchdog_arm(w, inv);
	rc = run_event(app, api, inv, &body, &err);
	if (!watchdog_disarm(w))
		for (;;)
			pause(); /* the watchdog answered and ends us */
	if (rc == IP_OK) {
		snprintf(url, sizeof(url), "%s/invocation/%s/response", base,
			 inv->id);
		post(h, url, body != NULL ? body : "{}", NULL);
	} else {
		snprintf(type, sizeof(type), "imgpipe.%s", ip_code_name(rc));
		free(body);
		body = error_body(type, err.msg);
		snprintf(url, sizeof(url), "%s/invocation/%s/error", base,
			 inv->id);
		post(h, url, body != NULL ? body : "{}", type);
		log_warn("invocation %s failed: %s", inv->id, err.msg);
	}
	free(body);
	drain_webhooks(app, inv);
	log_context_set_request(NULL);
}

void
lambda_init_error(const char *message)
{
	char base[LAMBDA_URL_MAX];
	char url[LAMBDA_URL_MAX + 32];
	struct aws_client *c = NULL;
	struct ip_error err;
	char *body;

	if (lambda_base_url(getenv("AWS_LAMBDA_RUNTIME_API"), base,
			    sizeof(base), NULL) != IP_OK)
		return;
	body = error_body("imgpipe.init", message);
	if (body != NULL && lambda_client(&c, &err) == IP_OK) {
		snprintf(url, sizeof(url), "%s/init/error", base);
		post(c, url, body, "imgpipe.init");
	}
	free(body);
	aws_client_free(c);
}

int
lambda_run(struct app *app, int max)
{
	char base[LAMBDA_URL_MAX];
	struct aws_client *c = NULL;
	struct watchdog w;
	struct ip_error err;
	struct api api;
	int served = 0;

	lambda_api_init(&api, app);
	if (lambda_base_url(getenv("AWS_LAMBDA_RUNTIME_API"), base,
			    sizeof(base), &err) != IP_OK ||
	    lambda_client(&c, &err) != IP_OK ||
	    watchdog_start(&w, app, base, &err) != IP_OK) {
		log_error("%s", err.msg);
		aws_client_free(c);
		return 1;
	}
	while (max <= 0 || served < max) {
		struct invocation inv;
		int rc = next_invocation(c, base, &inv, &err);

		if (rc == IP_ETOOBIG) {
			inv.too_big = true;
			inv.too_big_err = err;
		} else if (rc != IP_OK) {
			/* The runtime API is gone: the sandbox ended. */
			aws_response_free(&inv.rs);
			if (served == 0)
				log_error("%s", err.msg);
			break;
		}
		handle(app, &api, c, base, &w, &inv);
		aws_response_free(&inv.rs);
		served++;
	}
	watchdog_stop(&w);
	aws_client_free(c);
	return served == 0 ? 1 : 0;
}

/* A storage setting that names no distributed backend ("fs", "sqlite",
 * empty): Lambda's /tmp is private to one sandbox and lost with it. */
static bool
storage_is_local(const char *value)
{
	return strstr(value, "://") == NULL;
}

struct opener {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;
	bool abandoned; /* the caller gave up: the thread cleans up */
	struct app *app;
	struct config cfg;
	struct ip_error err;
	int rc;
};

static void *
opener_main(void *arg)
{
	struct opener *o = arg;
	bool abandoned;

	o->rc =
	    app_open(o->app, &o->cfg,
		     APP_NEED_STORE | APP_NEED_TABLE | APP_NEED_IMG, &o->err);
	pthread_mutex_lock(&o->lock);
	o->finished = true;
	abandoned = o->abandoned;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	(void)abandoned; /* the process is exiting: nothing to free */
	return NULL;
}

int
lambda_open_app(struct app *app, const struct config *cfg, struct ip_error *err)
{
	struct opener *o;
	struct timespec ts;
	pthread_condattr_t ca;
	pthread_t t;
	int rc;

	if (storage_is_local(cfg->objstore) || storage_is_local(cfg->table))
		return ip_error_set(
		    err, IP_EINVAL,
		    "Lambda needs distributed storage: set %s%s%s (files "
		    "and SQLite in the sandbox's /tmp would be lost with it)",
		    storage_is_local(cfg->objstore)
			? "IMGPIPE_STORAGE_OBJSTORE (s3+https://...)"
			: "",
		    storage_is_local(cfg->objstore) &&
			    storage_is_local(cfg->table)
			? " and "
			: "",
		    storage_is_local(cfg->table)
			? "IMGPIPE_STORAGE_TABLE (dynamodb+https://...)"
			: "");
	/* Heap, not stack: on a timeout the thread outlives this call. */
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	o->app = app;
	o->cfg = *cfg;
	/* Lambda isolates each instance already: image work in-process. */
	o->cfg.helpers = false;
	pthread_mutex_init(&o->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t, NULL, opener_main, o) != 0) {
		free(o);
		return ip_error_set(err, IP_ENOMEM, "cannot start a thread");
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += cfg->lambda_init_timeout_s;
	pthread_mutex_lock(&o->lock);
	while (!o->finished &&
	       pthread_cond_timedwait(&o->cond, &o->lock, &ts) == 0)
		;
	if (!o->finished) {
		o->abandoned = true;
		pthread_mutex_unlock(&o->lock);
		pthread_detach(t);
		/* o stays allocated: the thread still writes into it */
		return ip_error_set(
		    err, IP_ETIMEOUT,
		    "the storage did not answer within %d s "
		    "(lambda.init_timeout): objstore %.200s, table %.200s",
		    cfg->lambda_init_timeout_s, cfg->objstore, cfg->table);
	}
	pthread_mutex_unlock(&o->lock);
	pthread_join(t, NULL);
	rc = o->rc;
	if (rc != IP_OK)
		*err = o->err;
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->lock);
	free(o);
	return rc;
}
