/*
 * ondemand.c - variants made on the first request that needs them
 * (ondemand.h): what {variant} means, which format Accept picks, the
 * rules, and the single-flight table of renders.
 *
 * Called by handlers.c on any request thread; a render blocks its
 * thread for the image work (in a helper process where there is one).
 *
 * DESIGN.  Making is function_make_variants, the same path as a
 * reprocess: the record stays `done` and serves its other variants
 * meanwhile, and the merge is a conditional update, so two renders of
 * one variant (two gateways, or a render racing a reprocess) both end in
 * one entry.  Within a process a table of flights keyed by (id, name,
 * format) lets the first request render and the others wait on a
 * condition variable; the table has one slot per allowed render, so it
 * is bounded by on_demand.concurrency, and a request that finds no slot
 * (or whose leader takes too long) gets 503 after a bounded wait rather
 * than piling up threads behind the image work.
 *
 * Formats by Accept: a `format = auto` variant is first made in its
 * fallback format (what the image processor resolves AUTO to: JPEG, or
 * WebP for alpha or frames) - at upload for a preset; WebP and AVIF are
 * made lazily, on the first request whose Accept names them (AVIF costs
 * several times a JPEG to encode: docs/IMAGES.md), as entries of the
 * same name with the fingerprint of the auto definition.
 */
#include "api/ondemand.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/format.h"
#include "core/log.h"
#include "core/util.h"
#include "core/vspec.h"
#include "api/api.h"
#include "api/params.h"
#include "app/app.h"
#include "function/function.h"
#include "table/table.h"

static const char *const result_names[ONDEMAND_RESULT_COUNT] = {
    "made", "refused", "failed", "busy"};

const char *
ondemand_result_name(enum ondemand_result r)
{
	return (unsigned)r < ONDEMAND_RESULT_COUNT ? result_names[r] : "?";
}

void
ondemand_init(struct ondemand *od, const struct config *cfg)
{
	pthread_condattr_t ca;

	memset(od, 0, sizeof(*od));
	od->limit = cfg->on_demand_concurrency > 0 ? cfg->on_demand_concurrency
						   : util_cores();
	od->flights = calloc((size_t)od->limit, sizeof(*od->flights));
	if (od->flights == NULL)
		abort();
	pthread_mutex_init(&od->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&od->cond, &ca);
	pthread_condattr_destroy(&ca);
}

void
ondemand_fini(struct ondemand *od)
{
	pthread_cond_destroy(&od->cond);
	pthread_mutex_destroy(&od->lock);
	free(od->flights);
	od->flights = NULL;
}

/* ---- single flight ------------------------------------------------ */

static struct ondemand_flight *
flight_find(struct ondemand *od, const char *id, const char *name, int format)
{
	for (int i = 0; i < od->limit; i++) {
		struct ondemand_flight *f = &od->flights[i];

		if (f->busy && f->format == format && strcmp(f->id, id) == 0 &&
		    strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

static struct ondemand_flight *
flight_take(struct ondemand *od, const char *id, const char *name, int format)
{
	for (int i = 0; i < od->limit; i++) {
		struct ondemand_flight *f = &od->flights[i];

		if (f->busy)
			continue;
		f->busy = true;
		f->format = format;
		util_strlcpy(f->id, id, sizeof(f->id));
		util_strlcpy(f->name, name, sizeof(f->name));
		od->running++;
		return f;
	}
	return NULL;
}

/*
 * Lead the render of (id, name, format), or wait for the one in flight.
 * IP_OK with *flight set: render, then flight_end.  IP_OK with *flight
 * NULL: another request rendered it meanwhile (read the record again).
 * IP_ERETRY (503): no slot, or the leader still busy, after
 * ONDEMAND_WAIT_MS.
 */
static int
flight_begin(struct ondemand *od, const char *id, const char *name, int format,
	     struct ondemand_flight **flight, struct ip_error *err)
{
	int64_t deadline_ms = util_mono_ms() + ONDEMAND_WAIT_MS;
	struct timespec ts;
	bool followed = false;
	int rc = IP_OK;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ONDEMAND_WAIT_MS / 1000;
	*flight = NULL;
	pthread_mutex_lock(&od->lock);
	for (;;) {
		struct ondemand_flight *f = flight_find(od, id, name, format);

		if (f == NULL && followed)
			break;
		if (f == NULL && od->running < od->limit) {
			*flight = flight_take(od, id, name, format);
			break;
		}
		if (f != NULL && !followed) {
			followed = true;
			atomic_fetch_add(&od->waited, 1);
		}
		if (util_mono_ms() >= deadline_ms ||
		    pthread_cond_timedwait(&od->cond, &od->lock, &ts) ==
			ETIMEDOUT) {
			rc = ip_error_set(err, IP_ERETRY,
					  "%d on-demand renders are running "
					  "(on_demand.concurrency); retry",
					  od->limit);
			break;
		}
	}
	pthread_mutex_unlock(&od->lock);
	return rc;
}

static void
flight_end(struct ondemand *od, struct ondemand_flight *f)
{
	pthread_mutex_lock(&od->lock);
	f->busy = false;
	od->running--;
	pthread_cond_broadcast(&od->cond);
	pthread_mutex_unlock(&od->lock);
}

/* ---- what {variant} asks for -------------------------------------- */

/* What a request wants: a definition (format may be AUTO) under the
 * name the record keeps it by, and the format to find or make. */
struct wanted {
	struct variant_spec def;
	bool preset; /* always allowed */
	enum out_format fmt; /* to find or make: never AUTO */
	enum out_format fallback; /* AUTO's without Accept */
};

static const struct variant_spec *
preset_named(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_variants; i++)
		if (strcmp(cfg->variants[i].name, name) == 0)
			return &cfg->variants[i];
	return NULL;
}

/* The preset a spec spells, if any: served as that preset. */
static const struct variant_spec *
preset_like(const struct config *cfg, const struct variant_spec *spec)
{
	for (size_t i = 0; i < cfg->n_variants; i++)
		if (vspec_same_definition(spec, &cfg->variants[i]))
			return &cfg->variants[i];
	return NULL;
}

/* AVIF if Accept names it (q > 0), else WebP if it names that, else
 * the fallback; a format on_demand.formats leaves out is skipped. */
static enum out_format
accept_pick(struct api_request *rq, enum out_format fallback)
{
	static const enum out_format order[] = {FORMAT_AVIF, FORMAT_WEBP};
	const char *accept = api_header(rq, "Accept");

	for (size_t i = 0; i < UTIL_ARRAY_LEN(order); i++)
		if (config_on_demand_format(&rq->app->cfg, order[i]) &&
		    params_accept_q(accept,
				    format_output(order[i])->content_type) > 0)
			return order[i];
	return fallback;
}

static int
wanted_of(struct api_request *rq, const struct record *rec, const char *name,
	  struct wanted *w, struct ip_error *err)
{
	const struct config *cfg = &rq->app->cfg;
	const struct variant_spec *p = preset_named(cfg, name);
	int rc;

	memset(w, 0, sizeof(*w));
	if (p == NULL) {
		rc = vspec_parse(name, &w->def, err);
		if (rc != IP_OK)
			return rc;
		p = preset_like(cfg, &w->def);
		w->def.watermark = cfg->on_demand_watermark;
	}
	if (p != NULL) {
		w->def = *p;
		w->preset = true;
	}
	w->fallback = w->def.format;
	w->fmt = w->def.format;
	if (w->def.format == FORMAT_AUTO) {
		w->fallback = format_auto_resolve(
		    rec->has_alpha, w->def.animated && rec->pages > 1);
		w->fmt = accept_pick(rq, w->fallback);
	}
	return IP_OK;
}

/* The stored entry answering w, or NULL. */
static const struct record_variant *
entry_of(const struct record *rec, const struct wanted *w)
{
	if (w->def.format != FORMAT_AUTO)
		return record_variant_get(rec, w->def.name);
	/* A preset's fallback is what the upload made, whatever AUTO
	 * resolved to then. */
	for (size_t i = 0;
	     w->preset && w->fmt == w->fallback && i < rec->n_variants; i++)
		if (!rec->variants[i].on_demand &&
		    strcmp(rec->variants[i].name, w->def.name) == 0)
			return &rec->variants[i];
	return record_variant_get_format(rec, w->def.name,
					 config_format_name(w->fmt));
}

/* Distinct on-demand specs (not presets' other formats) rec holds. */
static int
specs_made(const struct config *cfg, const struct record *rec)
{
	int n = 0;

	for (size_t i = 0; i < rec->n_variants; i++) {
		const struct record_variant *v = &rec->variants[i];
		bool seen = false;

		if (!v->on_demand || preset_named(cfg, v->name) != NULL)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = rec->variants[j].on_demand &&
			       strcmp(rec->variants[j].name, v->name) == 0;
		n += !seen;
	}
	return n;
}

/* May w be made for rq?  IP_OK or IP_EFORBIDDEN naming the rule. */
static int
allowed(struct api_request *rq, const struct record *rec,
	const struct wanted *w, struct ip_error *err)
{
	const struct config *cfg = &rq->app->cfg;
	const struct variant_spec *d = &w->def;
	bool inside = d->fit == FIT_INSIDE;

	if (w->preset)
		return IP_OK;
	if (!config_on_demand_format(cfg, w->fmt))
		return ip_error_set(err, IP_EFORBIDDEN,
				    "format %s is not in on_demand.formats",
				    config_format_name(w->fmt));
	if (rq->url_signed)
		return IP_OK;
	if (!cfg->on_demand_enabled)
		return ip_error_set(
		    err, IP_EFORBIDDEN,
		    "variant specs are made only when signed on this server "
		    "(on_demand.enabled is off%s); use a preset or `imgpipe "
		    "sign`",
		    api_query(rq, "sig") != NULL ? "; the signature was "
						   "refused"
						 : "");
	if (!(inside && d->width == CONFIG_VARIANT_DIM_MAX) &&
	    d->width > cfg->on_demand_max_width)
		return ip_error_set(err, IP_EFORBIDDEN,
				    "w_%d is above on_demand.max_width (%d)",
				    d->width, cfg->on_demand_max_width);
	if (!(inside && d->height == CONFIG_VARIANT_DIM_MAX) &&
	    d->height > cfg->on_demand_max_height)
		return ip_error_set(err, IP_EFORBIDDEN,
				    "h_%d is above on_demand.max_height (%d)",
				    d->height, cfg->on_demand_max_height);
	if (record_variant_get(rec, d->name) == NULL &&
	    specs_made(cfg, rec) >= cfg->on_demand_max_per_image)
		return ip_error_set(err, IP_EFORBIDDEN,
				    "image %s already has %d on-demand "
				    "variants (on_demand.max_per_image); use "
				    "one of them or a signed URL",
				    rec->id, cfg->on_demand_max_per_image);
	return IP_OK;
}

/* Make w into rec (the record as written on IP_OK). */
static int
render(struct api_request *rq, struct record *rec, const struct wanted *w,
       struct ip_error *err)
{
	struct function_variant_job job;

	memset(&job, 0, sizeof(job));
	job.spec = w->def;
	job.spec.format = w->fmt;
	job.on_demand = true;
	/* Every format of an auto variant carries the auto definition's
	 * fingerprint, so a reprocess keeps them together. */
	if (w->def.format == FORMAT_AUTO)
		function_variant_fingerprint(&rq->app->cfg, &w->def,
					     job.fingerprint);
	return function_make_variants(&rq->app->fn, rec->id, &job, 1, rec, err);
}

/* A render's failure as the route answers it: the codes it declares
 * stay, the image processor's and the stores' become a 500 (logged). */
static int
render_failure(int rc, struct ip_error *err)
{
	if (rc == IP_ENOTFOUND || rc == IP_ECONFLICT || rc == IP_ENOMEM ||
	    rc == IP_EBACKEND || rc == IP_ERETRY)
		return rc;
	err->code = IP_EIO;
	ip_error_prefix(err, "making the variant");
	return IP_EIO;
}

/* One step: find w, or lead / follow its render.  IP_OK with *out, or
 * *again when the record was rendered or re-read and is to be looked at
 * again. */
static int
find_or_make(struct api_request *rq, struct record *rec, struct wanted *w,
	     const struct record_variant **out, bool *again,
	     struct ip_error *err)
{
	struct ondemand *od = &rq->api->ondemand;
	struct ondemand_flight *f;
	int rc;

	*again = false;
	*out = entry_of(rec, w);
	if (*out != NULL)
		return IP_OK;
	rc = allowed(rq, rec, w, err);
	if (rc == IP_OK)
		rc = flight_begin(od, rec->id, w->def.name, (int)w->fmt, &f,
				  err);
	if (rc != IP_OK) {
		atomic_fetch_add(
		    &od->results[rc == IP_ERETRY ? ONDEMAND_BUSY
						 : ONDEMAND_REFUSED],
		    1);
		if (rc == IP_ERETRY)
			rq->retry_after_s = ONDEMAND_RETRY_AFTER_S;
		return rc;
	}
	*again = true;
	if (f == NULL) {
		rc = table_get(rq->app->table, rec->id, rec, err);
		if (rc == IP_OK && rec->status != RECORD_DONE)
			rc =
			    ip_error_set(err, IP_ECONFLICT,
					 "image %s is no longer done", rec->id);
		return rc;
	}
	rc = render(rq, rec, w, err);
	flight_end(od, f);
	if (rc == IP_ETOOBIG && w->fmt != w->fallback) {
		/* No room for another format: the fallback answers. */
		w->fmt = w->fallback;
		return table_get(rq->app->table, rec->id, rec, err);
	}
	atomic_fetch_add(&od->results[rc == IP_OK	 ? ONDEMAND_MADE
				      : rc == IP_ETOOBIG ? ONDEMAND_REFUSED
							 : ONDEMAND_FAILED],
			 1);
	if (rc == IP_ETOOBIG)
		return ip_error_set(err, IP_EFORBIDDEN,
				    "image %s holds %d variants, the most a "
				    "record keeps; nothing was made",
				    rec->id, RECORD_VARIANTS_MAX);
	if (rc != IP_OK)
		log_warn("image %s: on-demand variant %s: %s", rec->id,
			 w->def.name, err->msg);
	return rc == IP_OK ? IP_OK : render_failure(rc, err);
}

int
ondemand_variant(struct api_request *rq, struct record *rec, const char *name,
		 const struct record_variant **out, bool *vary,
		 struct ip_error *err)
{
	struct wanted w;
	bool again = true;
	int rc;

	*out = NULL;
	*vary = false;
	rc = wanted_of(rq, rec, name, &w, err);
	if (rc != IP_OK) {
		/* A name the configuration no longer has (a preset removed)
		 * is still served while the record holds it. */
		*out = record_variant_get(rec, name);
		return *out != NULL ? IP_OK : rc;
	}
	*vary = w.def.format == FORMAT_AUTO;
	/* Lead or follow a render, then look again: a few rounds at most
	 * (a follower whose leader failed leads the next one). */
	for (int round = 0; again && round < 4; round++) {
		rc = find_or_make(rq, rec, &w, out, &again, err);
		if (rc != IP_OK)
			return rc;
	}
	if (*out == NULL)
		return ip_error_set(err, IP_ERETRY,
				    "variant %s is being made; retry",
				    w.def.name);
	return IP_OK;
}
