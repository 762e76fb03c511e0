/*
 * webhooks.c - the deliverer of completion webhooks (see webhooks.h).
 *
 * Threads: notify.concurrency deliverer threads of `serve`/`worker`
 * (webhooks_start); webhooks_drain on the Lambda host's thread;
 * webhooks_wake from worker threads (the function's finished-callback).
 * A delivery is owned by whoever claimed it in the table, never shared
 * in memory between threads.
 */
#include "app/webhooks.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/handlers.h"
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"
#include "table/table.h"

#define WH_BATCH 16 /* deliveries listed per pass */
#define WH_BACKOFF_MAX_MS (3600 * 1000)
/* A delivery whose record is still not final this long after it was
 * written belongs to a final write that never landed: dropped. */
#define WH_SETTLE_MAX_MS (3600 * 1000)
#define WH_POLL_MAX_MS 1000
#define WH_USER_AGENT "User-Agent: imgpipe-webhooks/1"

/*
 * One dispatcher thread lists what is due (one table query per pass,
 * whatever notify.concurrency is) into a bounded ring of deliveries,
 * copied by value; notify.concurrency sender threads take them, claim
 * and send.  The dispatcher lists only when the ring has room, and skips
 * what the ring already holds, so stuck senders cost no queries.
 */
struct webhooks {
	struct app *app;
	struct hook_secrets secrets;
	int n;
	pthread_t *threads; /* [0] the dispatcher, then the senders */
	int started;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond; /* the dispatcher: gen moved, or stop */
	pthread_cond_t ready; /* the senders: the ring has one, or stop */
	uint64_t gen; /* bumped by webhooks_wake and an emptied ring */
	struct hook *ring;
	size_t cap, head, count;
	void (*next_finished)(void *arg, const struct record *r);
	void *next_finished_arg;
};

/* What one pass needs; the threads and webhooks_drain each have one. */
struct wh_ctx {
	struct app *app;
	const struct hook_secrets *secrets;
	atomic_bool *stop;
	int64_t deadline_ms; /* monotonic; INT64_MAX: none */
	struct webhooks_stats *stats;
};

/* ---- one POST --------------------------------------------------------- */

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int
abort_on_stop(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load((atomic_bool *)arg) ? 1 : 0;
}

/* The document a receiver gets, malloc'd (NULL on OOM). */
static char *
payload(struct app *app, const struct hook *h, const struct record *r)
{
	json_t *rec = handlers_record_json(app, r);
	json_t *o;
	char *s;

	if (rec == NULL)
		return NULL;
	o = json_pack("{s:s, s:s, s:I, s:o}", "type", hook_event_name(h->event),
		      "id", h->id, "created",
		      (json_int_t)(h->created_ms / 1000), "record", rec);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* POST body to h->url, signed; IP_OK on a 2xx, else the reason in err. */
static int
post(const struct wh_ctx *x, const struct hook *h, const char *body,
     int64_t timeout_ms, struct ip_error *err)
{
	char sig[HOOK_SIGNATURE_MAX + 32];
	char event[64], delivery[HOOK_ID_MAX + 32];
	struct curl_slist *hdr = NULL;
	size_t len = strlen(body);
	CURL *c = curl_easy_init();
	CURLcode cc;
	long status = 0;
	int rc = IP_OK;

	if (c == NULL)
		return ip_error_set(err, IP_ENOMEM, "curl_easy_init");
	memcpy(sig, "Imgpipe-Signature: ", 19);
	hook_sign(x->secrets, util_now_ms() / 1000, body, len, sig + 19,
		  sizeof(sig) - 19);
	snprintf(event, sizeof(event), "Imgpipe-Event: %s",
		 hook_event_name(h->event));
	snprintf(delivery, sizeof(delivery), "Imgpipe-Delivery: %s", h->id);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Expect:");
	hdr = curl_slist_append(hdr, WH_USER_AGENT);
	hdr = curl_slist_append(hdr, event);
	hdr = curl_slist_append(hdr, delivery);
	hdr = curl_slist_append(hdr, sig);
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* SSRF: the operator's URL only; a redirect is a failure. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x->stop);
	if (x->app->cfg.aws_ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, x->app->cfg.aws_ca_file);
	cc = hdr == NULL ? CURLE_OUT_OF_MEMORY : curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		rc = ip_error_set(err, IP_ERETRY, "%s", curl_easy_strerror(cc));
	else if (status < 200 || status > 299)
		rc = ip_error_set(err, IP_ERETRY, "HTTP %ld%s", status,
				  status >= 300 && status < 400
				      ? " (redirects are not followed)"
				      : "");
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

/* ---- one delivery ----------------------------------------------------- */

/* r is not (yet) in h's final state, but may be: the write h was made
 * for is in flight, or the worker that made it died before it and the
 * event is being retried. */
static bool
settling(const struct hook *h, const struct record *r, int64_t now)
{
	return (r->status == RECORD_PENDING ||
		r->status == RECORD_PROCESSING) &&
	       r->attempts <= h->record_attempts &&
	       now - h->created_ms < WH_SETTLE_MAX_MS;
}

static void
drop(const struct wh_ctx *x, const struct hook *h, const char *why)
{
	struct ip_error e;

	log_info("webhook %s dropped: %s", h->id, why);
	if (table_hook_delete(x->app->table, h->id, &e) == IP_OK)
		x->stats->dropped++;
}

/* After a failed POST: retry later, or dead-letter after the last. */
static void
failed(const struct wh_ctx *x, struct hook *h, const struct ip_error *why)
{
	const struct config *cfg = &x->app->cfg;
	int64_t now = util_now_ms();
	struct ip_error e;

	h->attempts++;
	util_strlcpy(h->error, why->msg, sizeof(h->error));
	if (h->attempts >= cfg->notify_max_attempts) {
		h->state = HOOK_DEAD;
		h->next_ms = now;
		log_warn("webhook %s dead after %d attempts: %s", h->id,
			 h->attempts, why->msg);
	} else {
		h->next_ms =
		    now + util_backoff_ms(cfg->notify_retry_base_ms,
					  WH_BACKOFF_MAX_MS, h->attempts);
		log_info("webhook %s attempt %d failed: %s", h->id, h->attempts,
			 why->msg);
	}
	atomic_fetch_add(&x->app->metrics.webhooks_failed, 1);
	if (table_hook_update(x->app->table, h, h->version, &e) != IP_OK) {
		log_warn("webhook %s: %s", h->id, e.msg);
	} else if (h->state == HOOK_DEAD) {
		x->stats->dead++;
		atomic_fetch_add(&x->app->metrics.webhooks_dead, 1);
	} else {
		x->stats->retried++;
	}
}

/* Claim h (a lease), then send it if its record is final. */
static void
deliver(const struct wh_ctx *x, struct hook *h)
{
	const struct config *cfg = &x->app->cfg;
	int64_t now = util_now_ms();
	int64_t timeout = cfg->notify_timeout_ms;
	int64_t left = x->deadline_ms - util_mono_ms();
	struct ip_error e;
	struct record r;
	char *body;
	int rc;

	h->next_ms = now + 2 * timeout + 1000;
	if (table_hook_update(x->app->table, h, h->version, &e) != IP_OK)
		return; /* another deliverer has it, or it is gone */
	rc = table_get(x->app->table, h->record_id, &r, &e);
	if (rc == IP_ENOTFOUND) {
		drop(x, h, "the image was deleted");
		return;
	}
	if (rc != IP_OK) {
		log_warn("webhook %s: %s (retried after its lease)", h->id,
			 e.msg);
		return;
	}
	if (!hook_matches(h, &r)) {
		if (!settling(h, &r, now)) {
			drop(x, h, "the record moved on");
			return;
		}
		h->next_ms = now + cfg->notify_retry_base_ms;
		table_hook_update(x->app->table, h, h->version, &e);
		return;
	}
	body = payload(x->app, h, &r);
	if (body == NULL) {
		log_error("webhook %s: out of memory", h->id);
		return;
	}
	if (left < timeout)
		timeout = left > 100 ? left : 100;
	rc = post(x, h, body, timeout, &e);
	free(body);
	if (rc == IP_OK) {
		/* The id names the URL by its index: a URL may carry a
		 * token, so logs never quote it. */
		log_info("webhook %s delivered", h->id);
		atomic_fetch_add(&x->app->metrics.webhooks_delivered, 1);
		if (table_hook_delete(x->app->table, h->id, &e) == IP_OK)
			x->stats->delivered++;
	} else if (!atomic_load(x->stop)) {
		failed(x, h, &e);
	}
}

/* List what is due and deliver it.  *listed: how many were due. */
static int
pass(const struct wh_ctx *x, size_t *listed, struct ip_error *err)
{
	struct hook hooks[WH_BATCH];
	size_t n = 0;
	int rc;

	*listed = 0;
	rc = table_hook_list(x->app->table, HOOK_PENDING, util_now_ms(), hooks,
			     WH_BATCH, &n, err);
	if (rc != IP_OK)
		return rc;
	*listed = n;
	for (size_t i = 0; i < n; i++) {
		if (atomic_load(x->stop) || util_mono_ms() >= x->deadline_ms)
			break;
		deliver(x, &hooks[i]);
	}
	return IP_OK;
}

/* ---- the threads ------------------------------------------------------ */

static void
on_finished(void *arg, const struct record *r)
{
	struct webhooks *w = arg;

	webhooks_wake(w);
	if (w->next_finished != NULL)
		w->next_finished(w->next_finished_arg, r);
}

/* The idle poll: deliveries finished elsewhere, retries that came due. */
static int64_t
poll_ms(const struct config *cfg)
{
	int64_t poll = cfg->notify_retry_base_ms / 2;

	return poll > WH_POLL_MAX_MS ? WH_POLL_MAX_MS : poll < 10 ? 10 : poll;
}

/* With w->lock held: is delivery id in the ring? */
static bool
ring_has(const struct webhooks *w, const char *id)
{
	for (size_t i = 0; i < w->count; i++)
		if (strcmp(w->ring[(w->head + i) % w->cap].id, id) == 0)
			return true;
	return false;
}

/* List what is due into the ring; how many were new. */
static size_t
dispatch(struct webhooks *w)
{
	struct hook hooks[WH_BATCH];
	struct ip_error e;
	size_t room, n = 0, added = 0;

	pthread_mutex_lock(&w->lock);
	room = w->cap - w->count;
	pthread_mutex_unlock(&w->lock);
	if (room == 0)
		return 0;
	if (table_hook_list(w->app->table, HOOK_PENDING, util_now_ms(), hooks,
			    room < WH_BATCH ? room : WH_BATCH, &n,
			    &e) != IP_OK) {
		log_warn("webhooks: %s", e.msg);
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < n && w->count < w->cap; i++) {
		if (ring_has(w, hooks[i].id))
			continue;
		w->ring[(w->head + w->count++) % w->cap] = hooks[i];
		added++;
	}
	if (added > 0)
		pthread_cond_broadcast(&w->ready);
	pthread_mutex_unlock(&w->lock);
	return added;
}

static void *
dispatcher_main(void *arg)
{
	struct webhooks *w = arg;
	int64_t poll = poll_ms(&w->app->cfg);

	while (!atomic_load(&w->stop)) {
		struct timespec ts;
		uint64_t gen;

		pthread_mutex_lock(&w->lock);
		gen = w->gen;
		pthread_mutex_unlock(&w->lock);
		if (dispatch(w) == WH_BATCH)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)(poll % 1000) * 1000000L;
		ts.tv_sec += (time_t)(poll / 1000) + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&w->lock);
		while (w->gen == gen && !atomic_load(&w->stop))
			if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) !=
			    0)
				break;
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

static void *
sender_main(void *arg)
{
	struct webhooks *w = arg;
	struct webhooks_stats stats = {0};
	struct wh_ctx x = {.app = w->app,
			   .secrets = &w->secrets,
			   .stop = &w->stop,
			   .deadline_ms = INT64_MAX,
			   .stats = &stats};

	for (;;) {
		struct hook h;

		pthread_mutex_lock(&w->lock);
		while (w->count == 0 && !atomic_load(&w->stop))
			pthread_cond_wait(&w->ready, &w->lock);
		if (atomic_load(&w->stop)) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		h = w->ring[w->head];
		w->head = (w->head + 1) % w->cap;
		if (--w->count == 0) {
			w->gen++; /* room: the dispatcher may list more */
			pthread_cond_broadcast(&w->cond);
		}
		pthread_mutex_unlock(&w->lock);
		deliver(&x, &h);
	}
	return NULL;
}

int
webhooks_start(struct app *app, struct webhooks **out, struct ip_error *err)
{
	struct webhooks *w;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (app->cfg.notify_urls[0] == '\0')
		return IP_OK;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return ip_error_set(err, IP_ENOMEM, "webhooks");
	w->app = app;
	rc = hook_secrets_parse(app->cfg.notify_secrets, &w->secrets, err);
	if (rc != IP_OK) {
		free(w);
		return rc;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	atomic_init(&w->stop, false);
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->ready, NULL);
	w->n = app->cfg.notify_concurrency;
	w->cap = 2 * (size_t)w->n;
	w->ring = calloc(w->cap, sizeof(*w->ring));
	w->threads = calloc((size_t)w->n + 1, sizeof(*w->threads));
	for (int i = 0; w->ring != NULL && w->threads != NULL && i <= w->n;
	     i++) {
		if (pthread_create(&w->threads[i], NULL,
				   i == 0 ? dispatcher_main : sender_main,
				   w) != 0)
			break;
		w->started++;
	}
	if (w->started < 2) {
		webhooks_stop(w);
		return ip_error_set(err, IP_ENOMEM, "webhooks: no thread");
	}
	w->next_finished = app->fn.on_finished;
	w->next_finished_arg = app->fn.on_finished_arg;
	app->fn.on_finished = on_finished;
	app->fn.on_finished_arg = w;
	log_info("webhooks: %d sender thread(s)", w->started - 1);
	*out = w;
	return IP_OK;
}

void
webhooks_wake(struct webhooks *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->gen++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void
webhooks_stop(struct webhooks *w)
{
	if (w == NULL)
		return;
	if (w->app->fn.on_finished_arg == w) {
		w->app->fn.on_finished = w->next_finished;
		w->app->fn.on_finished_arg = w->next_finished_arg;
	}
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, true);
	pthread_cond_broadcast(&w->cond);
	pthread_cond_broadcast(&w->ready);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->started; i++)
		pthread_join(w->threads[i], NULL);
	pthread_cond_destroy(&w->ready);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	explicit_bzero(&w->secrets, sizeof(w->secrets));
	free(w->ring);
	free(w->threads);
	free(w);
}

int
webhooks_drain(struct app *app, int64_t budget_ms, struct webhooks_stats *stats,
	       struct ip_error *err)
{
	struct hook_secrets secrets;
	atomic_bool stop;
	struct wh_ctx x = {.app = app,
			   .secrets = &secrets,
			   .stop = &stop,
			   .deadline_ms = util_mono_ms() + budget_ms,
			   .stats = stats};
	size_t listed = WH_BATCH;
	int rc;

	memset(stats, 0, sizeof(*stats));
	if (app->cfg.notify_urls[0] == '\0')
		return IP_OK;
	atomic_init(&stop, false);
	rc = hook_secrets_parse(app->cfg.notify_secrets, &secrets, err);
	while (rc == IP_OK && listed > 0 && util_mono_ms() < x.deadline_ms)
		rc = pass(&x, &listed, err);
	explicit_bzero(&secrets, sizeof(secrets));
	return rc;
}

/* Dead -> pending, due now, attempts reset. */
static int
revive(struct table *t, struct hook *h, struct ip_error *err)
{
	h->state = HOOK_PENDING;
	h->attempts = 0;
	h->error[0] = '\0';
	h->next_ms = util_now_ms();
	return table_hook_update(t, h, h->version, err);
}

int
webhooks_redrive(struct table *t, const char *id, size_t *n,
		 struct ip_error *err)
{
	struct hook hooks[WH_BATCH];
	size_t got = 0;
	int rc;

	*n = 0;
	if (id != NULL) {
		rc = table_hook_get(t, id, &hooks[0], err);
		if (rc == IP_OK && hooks[0].state != HOOK_DEAD)
			rc = ip_error_set(err, IP_ENOTFOUND,
					  "delivery %s is not dead", id);
		if (rc == IP_OK)
			rc = revive(t, &hooks[0], err);
		if (rc == IP_OK)
			*n = 1;
		return rc;
	}
	do {
		rc = table_hook_list(t, HOOK_DEAD, INT64_MAX, hooks, WH_BATCH,
				     &got, err);
		for (size_t i = 0; rc == IP_OK && i < got; i++) {
			rc = revive(t, &hooks[i], err);
			if (rc == IP_ECONFLICT)
				rc = IP_OK; /* someone else moved it */
			else if (rc == IP_OK)
				(*n)++;
		}
	} while (rc == IP_OK && got == WH_BATCH);
	return rc;
}
