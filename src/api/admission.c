/*
 * admission.c - the gateway's back-pressure (admission.h): the ledger of
 * admitted work, per-client token buckets, the ?wait= hold count.
 *
 * Called by upload.c and handlers.c on HTTP threads, by workers.c on
 * worker threads (release), by handlers_metrics.  All state is behind one
 * mutex, except the counters (atomics).
 *
 * DESIGN.  The state is one per process, not a field of struct api or
 * struct app: the worker pool that releases entries knows only the app,
 * and a process serves one app (a new app, as in tests, resets it).  The
 * ledger is an array of at most limits.max_queued slots, scanned linearly
 * (a release or a commit is a few microseconds at 1000 slots); the token
 * buckets are a hash table of at most RATE_BUCKETS_MAX clients, from which
 * a full bucket is dropped first (it is the same as no bucket) and, if
 * none is full, the one idle longest.  Nothing here blocks for long
 * except two table walks: the seeding (once per app, before its first
 * admission, with the lock held so no release can pass it) and the prune
 * (at most once a second, only when an upload would be refused; it reads
 * the table without the lock).
 */
#include "api/admission.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "app/app.h"
#include "core/imgheader.h"
#include "core/log.h"
#include "core/record.h"
#include "core/util.h"
#include "queue/queue.h"
#include "table/table.h"

#define RATE_BUCKETS_MAX 4096
#define PRUNE_EVERY_MS 1000
#define EARLY_RING 64 /* releases seen before their commit */

struct slot {
	char id[RECORD_ID_MAX]; /* "" while reserved, before commit */
	int64_t pixels;
	bool used;
};

struct bucket {
	double tokens;
	int64_t last_ms;
};

static struct {
	pthread_mutex_t lock;
	const struct app *app; /* whose ledger this is */
	int64_t app_started_ms;
	bool seeded;
	bool pruning;
	int64_t last_prune_ms;
	struct slot *slots; /* cfg.max_queued of them */
	size_t n_slots;
	size_t used;
	int64_t pixels;
	char early[EARLY_RING][RECORD_ID_MAX];
	size_t early_next;
	GHashTable *buckets; /* char * -> struct bucket *: uploads */
	GHashTable *fails; /* char * -> struct bucket *: failed keys */
	_Atomic int64_t refused_full;
	_Atomic int64_t refused_rate;
	_Atomic int64_t refused_auth;
	_Atomic int64_t waiting;
	_Atomic int64_t waits_capped;
} adm = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Make the state app's (lock held): a new app starts afresh. */
static void
adm_bind(const struct app *app)
{
	size_t n = (size_t)app->cfg.max_queued;

	if (adm.app == app && adm.app_started_ms == app->started_ms)
		return;
	free(adm.slots);
	if (adm.buckets != NULL)
		g_hash_table_destroy(adm.buckets);
	if (adm.fails != NULL)
		g_hash_table_destroy(adm.fails);
	adm.slots = g_new0(struct slot, n); /* small, internal: aborts on OOM */
	adm.n_slots = n;
	adm.used = 0;
	adm.pixels = 0;
	adm.seeded = false;
	adm.last_prune_ms = 0;
	memset(adm.early, 0, sizeof(adm.early));
	adm.buckets =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	adm.fails =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	adm.app = app;
	adm.app_started_ms = app->started_ms;
}

/* A record's cost as the ledger counts it. */
static int64_t
record_cost(const struct config *cfg, const struct record *r)
{
	int64_t px;

	if (r->stored_width <= 0 || r->stored_height <= 0)
		return cfg->max_pixels;
	px = (int64_t)r->stored_width * r->stored_height *
	     (r->pages > 0 ? r->pages : 1);
	return px < cfg->max_total_pixels ? px : cfg->max_total_pixels;
}

/* Lock held.  A free slot, or NULL. */
static struct slot *
slot_free(void)
{
	for (size_t i = 0; i < adm.n_slots; i++)
		if (!adm.slots[i].used)
			return &adm.slots[i];
	return NULL;
}

static struct slot *
slot_find(const char *id)
{
	for (size_t i = 0; i < adm.n_slots; i++)
		if (adm.slots[i].used && strcmp(adm.slots[i].id, id) == 0)
			return &adm.slots[i];
	return NULL;
}

static void
slot_put(const char *id, int64_t pixels)
{
	struct slot *s = slot_free();

	if (s == NULL || (id[0] != '\0' && slot_find(id) != NULL))
		return;
	util_strlcpy(s->id, id, sizeof(s->id));
	s->pixels = pixels;
	s->used = true;
	adm.used++;
	adm.pixels += pixels;
}

static void
slot_drop(struct slot *s)
{
	adm.used--;
	adm.pixels -= s->pixels;
	memset(s, 0, sizeof(*s));
}

/*
 * The unfinished records of the table, each a ledger entry (records made
 * by POST /v1/uploads whose object never came have no size and no queued
 * event: they are not work, and are left out).  Lock held; runs once per
 * app, before the first admission.
 */
static void
adm_seed(struct app *app)
{
	char cursor[TABLE_CURSOR_MAX] = "";
	struct ip_error err;
	int rc;

	adm.seeded = true;
	do {
		struct table_page page;

		memset(&page, 0, sizeof(page));
		rc =
		    table_list_unfinished(app->table, cursor, 100, &page, &err);
		for (size_t i = 0; rc == IP_OK && i < page.n; i++)
			if (page.items[i].stored_width > 0)
				slot_put(
				    page.items[i].id,
				    record_cost(&app->cfg, &page.items[i]));
		util_strlcpy(cursor, page.next_cursor, sizeof(cursor));
		table_page_free(&page);
	} while (rc == IP_OK && cursor[0] != '\0' && adm.used < adm.n_slots);
	if (rc != IP_OK)
		log_warn("admission: unfinished records not counted: %s",
			 err.msg);
	else if (adm.used > 0)
		log_info("admission: %zu unfinished image(s), %" PRId64
			 " pixels, counted as queued",
			 adm.used, adm.pixels);
}

/*
 * Drop the entries whose record is finished or gone: the worker that
 * finished them is in another process.  Called with the lock held; reads
 * the table without it.  At most once per PRUNE_EVERY_MS.
 */
static void
adm_prune(struct app *app)
{
	int64_t now = util_mono_ms();
	char(*ids)[RECORD_ID_MAX];
	size_t n = 0;

	if (adm.pruning || now - adm.last_prune_ms < PRUNE_EVERY_MS)
		return;
	ids = malloc(adm.n_slots * sizeof(*ids));
	if (ids == NULL)
		return;
	adm.pruning = true;
	adm.last_prune_ms = now;
	for (size_t i = 0; i < adm.n_slots; i++)
		if (adm.slots[i].used && adm.slots[i].id[0] != '\0')
			util_strlcpy(ids[n++], adm.slots[i].id, RECORD_ID_MAX);
	pthread_mutex_unlock(&adm.lock);
	for (size_t i = 0; i < n; i++) {
		struct record *r = malloc(sizeof(*r));
		struct ip_error err;
		int rc = r == NULL ? IP_ENOMEM
				   : table_get(app->table, ids[i], r, &err);

		/* Keep an id to drop by blanking the others. */
		if (rc == IP_OK && (r->status == RECORD_PENDING ||
				    r->status == RECORD_PROCESSING))
			ids[i][0] = '\0';
		else if (rc != IP_OK && rc != IP_ENOTFOUND)
			ids[i][0] = '\0';
		free(r);
	}
	pthread_mutex_lock(&adm.lock);
	adm.pruning = false;
	if (adm.app == app) {
		for (size_t i = 0; i < n; i++) {
			struct slot *s =
			    ids[i][0] != '\0' ? slot_find(ids[i]) : NULL;

			if (s != NULL)
				slot_drop(s);
		}
	}
	free(ids);
}

int64_t
admission_cost(const struct config *cfg, int fd, bool *known)
{
	unsigned char *buf = malloc(IMGHEADER_PREFIX_MAX);
	struct imgheader h;
	int64_t px = cfg->max_pixels;
	ssize_t n = 0;

	*known = false;
	while (buf != NULL && n < IMGHEADER_PREFIX_MAX) {
		ssize_t r = pread(fd, buf + n,
				  (size_t)(IMGHEADER_PREFIX_MAX - n), (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	if (buf != NULL && imgheader_parse(buf, (size_t)n, &h) == 0) {
		*known = true;
		px = imgheader_pixels(&h);
	}
	free(buf);
	return px < cfg->max_total_pixels ? px : cfg->max_total_pixels;
}

/* Lock held.  Room for one more new bucket in t, whose buckets refill
 * at `rate` tokens a second up to `burst`. */
static void
buckets_make_room(GHashTable *t, double rate, double burst, int64_t now)
{
	GHashTableIter it;
	gpointer key, val;
	gpointer oldest = NULL;
	int64_t oldest_ms = INT64_MAX;
	double full_after_ms = burst / rate * 1000.0;

	if (g_hash_table_size(t) < RATE_BUCKETS_MAX)
		return;
	g_hash_table_iter_init(&it, t);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		const struct bucket *b = val;

		if ((double)(now - b->last_ms) >= full_after_ms) {
			g_hash_table_iter_remove(&it);
		} else if (b->last_ms < oldest_ms) {
			oldest_ms = b->last_ms;
			oldest = key;
		}
	}
	if (g_hash_table_size(t) >= RATE_BUCKETS_MAX && oldest != NULL)
		g_hash_table_remove(t, oldest);
}

/* Lock held.  Refill who's bucket in t, then take `take` tokens (0 only
 * looks).  True if the bucket had at least one token; else false with
 * *retry_after_s, the seconds until it has one. */
static bool
bucket_take(GHashTable *t, const char *who, double rate, double burst,
	    double take, int *retry_after_s)
{
	int64_t now = util_mono_ms();
	struct bucket *b = g_hash_table_lookup(t, who);

	if (b == NULL) {
		buckets_make_room(t, rate, burst, now);
		b = g_new(struct bucket, 1);
		b->tokens = burst;
		b->last_ms = now;
		g_hash_table_insert(t, g_strdup(who), b);
	}
	b->tokens += (double)(now - b->last_ms) / 1000.0 * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ms = now;
	if (b->tokens >= 1.0) {
		b->tokens -= take;
		return true;
	}
	*retry_after_s = (int)ceil((1.0 - b->tokens) / rate);
	if (*retry_after_s < 1)
		*retry_after_s = 1;
	return false;
}

int
admission_rate(struct app *app, const char *who, int *retry_after_s,
	       struct ip_error *err)
{
	const struct config *cfg = &app->cfg;
	bool ok;

	if (cfg->upload_rate <= 0 || who == NULL || who[0] == '\0')
		return IP_OK;
	pthread_mutex_lock(&adm.lock);
	adm_bind(app);
	ok = bucket_take(adm.buckets, who, cfg->upload_rate, cfg->upload_burst,
			 1.0, retry_after_s);
	pthread_mutex_unlock(&adm.lock);
	if (ok)
		return IP_OK;
	atomic_fetch_add(&adm.refused_rate, 1);
	return ip_error_set(err, IP_EFULL,
			    "too many uploads from this client: at most %g "
			    "per second, bursts of %d",
			    cfg->upload_rate, cfg->upload_burst);
}

/* auth.max_failures a minute, in bursts of as many. */
static bool
auth_bucket(struct app *app, const char *client, double take,
	    int *retry_after_s)
{
	double burst = app->cfg.auth_max_failures;
	bool ok;

	if (burst <= 0 || client == NULL || client[0] == '\0')
		return true;
	pthread_mutex_lock(&adm.lock);
	adm_bind(app);
	ok = bucket_take(adm.fails, client, burst / 60.0, burst, take,
			 retry_after_s);
	pthread_mutex_unlock(&adm.lock);
	return ok;
}

int
admission_auth_check(struct app *app, const char *client, int *retry_after_s,
		     struct ip_error *err)
{
	if (auth_bucket(app, client, 0.0, retry_after_s))
		return IP_OK;
	atomic_fetch_add(&adm.refused_auth, 1);
	return ip_error_set(err, IP_EFULL,
			    "too many failed authentications from this "
			    "client: at most %d a minute (auth.max_failures)",
			    app->cfg.auth_max_failures);
}

void
admission_auth_failed(struct app *app, const char *client)
{
	int unused;

	auth_bucket(app, client, 1.0, &unused);
}

/* Lock held.  IP_OK if an upload of `pixels` fits the ledger now. */
static int
ledger_fits(const struct config *cfg, int64_t pixels, struct ip_error *err)
{
	if (adm.used >= adm.n_slots)
		return ip_error_set(err, IP_EFULL,
				    "the server has %zu images queued (limit "
				    "%d): retry later",
				    adm.used, cfg->max_queued);
	if (adm.used > 0 && adm.pixels + pixels > cfg->max_queued_pixels)
		return ip_error_set(err, IP_EFULL,
				    "the server has %" PRId64
				    " pixels of images queued and this one "
				    "declares %" PRId64 " (limit %" PRId64
				    "): retry later",
				    adm.pixels, pixels, cfg->max_queued_pixels);
	return IP_OK;
}

/* The queue's depth against limits.max_queued (every process's work). */
static int
depth_fits(struct app *app, struct ip_error *err)
{
	int64_t visible = 0;
	int64_t inflight = 0;
	struct ip_error qerr;

	if (!ingest_queues(&app->ingest))
		return IP_OK;
	if (queue_depth(app->queue, &visible, &inflight, &qerr) != IP_OK) {
		log_warn("admission: queue depth: %s", qerr.msg);
		return IP_OK;
	}
	if (visible + inflight >= app->cfg.max_queued)
		return ip_error_set(err, IP_EFULL,
				    "the queue holds %" PRId64
				    " images (limit %d): retry later",
				    visible + inflight, app->cfg.max_queued);
	return IP_OK;
}

int
admission_reserve(struct app *app, int64_t pixels, struct admission_ticket *t,
		  int *retry_after_s, struct ip_error *err)
{
	int rc = depth_fits(app, err);

	t->held = false;
	t->pixels = pixels;
	if (rc == IP_OK) {
		pthread_mutex_lock(&adm.lock);
		adm_bind(app);
		if (!adm.seeded)
			adm_seed(app);
		rc = ledger_fits(&app->cfg, pixels, err);
		if (rc != IP_OK) {
			adm_prune(app);
			adm_bind(app);
			rc = ledger_fits(&app->cfg, pixels, err);
		}
		if (rc == IP_OK) {
			slot_put("", pixels);
			t->held = true;
		}
		pthread_mutex_unlock(&adm.lock);
	}
	if (rc != IP_OK) {
		*retry_after_s = ADMISSION_FULL_RETRY_S;
		atomic_fetch_add(&adm.refused_full, 1);
	}
	return rc;
}

/* Lock held.  Drop one reserved (uncommitted) slot of `pixels`. */
static bool
drop_reserved(int64_t pixels)
{
	for (size_t i = 0; i < adm.n_slots; i++) {
		struct slot *s = &adm.slots[i];

		if (s->used && s->id[0] == '\0' && s->pixels == pixels) {
			slot_drop(s);
			return true;
		}
	}
	return false;
}

void
admission_commit(struct app *app, struct admission_ticket *t, const char *id)
{
	bool early = false;

	if (!t->held)
		return;
	t->held = false;
	pthread_mutex_lock(&adm.lock);
	if (adm.app != app) {
		pthread_mutex_unlock(&adm.lock);
		return;
	}
	for (size_t i = 0; i < EARLY_RING; i++) {
		if (strcmp(adm.early[i], id) == 0) {
			adm.early[i][0] = '\0';
			early = true;
		}
	}
	if (drop_reserved(t->pixels) && !early)
		slot_put(id, t->pixels);
	pthread_mutex_unlock(&adm.lock);
}

void
admission_cancel(struct app *app, struct admission_ticket *t)
{
	if (!t->held)
		return;
	t->held = false;
	pthread_mutex_lock(&adm.lock);
	if (adm.app == app)
		drop_reserved(t->pixels);
	pthread_mutex_unlock(&adm.lock);
}

void
admission_release(struct app *app, const char *id)
{
	struct slot *s;

	pthread_mutex_lock(&adm.lock);
	if (adm.app == app && id[0] != '\0') {
		s = slot_find(id);
		if (s != NULL) {
			slot_drop(s);
		} else {
			util_strlcpy(adm.early[adm.early_next], id,
				     RECORD_ID_MAX);
			adm.early_next = (adm.early_next + 1) % EARLY_RING;
		}
	}
	pthread_mutex_unlock(&adm.lock);
}

bool
admission_wait_begin(struct app *app)
{
	if (atomic_fetch_add(&adm.waiting, 1) < app->cfg.max_waiting)
		return true;
	atomic_fetch_sub(&adm.waiting, 1);
	atomic_fetch_add(&adm.waits_capped, 1);
	return false;
}

void
admission_wait_end(struct app *app)
{
	(void)app;
	atomic_fetch_sub(&adm.waiting, 1);
}

void
admission_stats(const struct app *app, struct admission_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&adm.lock);
	if (adm.app == app) {
		out->images = (int64_t)adm.used;
		out->pixels = adm.pixels;
	}
	pthread_mutex_unlock(&adm.lock);
	out->refused_full = atomic_load(&adm.refused_full);
	out->refused_rate = atomic_load(&adm.refused_rate);
	out->refused_auth = atomic_load(&adm.refused_auth);
	out->waiting = atomic_load(&adm.waiting);
	out->waits_capped = atomic_load(&adm.waits_capped);
}
