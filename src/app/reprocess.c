/*
 * reprocess.c - one record's reprocessing (reprocess.h): which presets
 * are stale, and their remaking queued or done here.  Called by the
 * backfill (app/backfill.c, its job threads) and by the API's route
 * (api/reprocess.c, the request's thread).
 */
#include "app/reprocess.h"

#include "core/event.h"
#include "core/util.h"
#include "function/function.h"
#include "function/ingest.h"

#include <stdio.h>
#include <string.h>

bool
reprocess_queues(const struct app *app)
{
	return ingest_queues(&app->ingest);
}

static const struct variant_spec *
preset_named(const struct config *cfg, const char *name, size_t len)
{
	for (size_t i = 0; i < cfg->n_variants; i++)
		if (strlen(cfg->variants[i].name) == len &&
		    memcmp(cfg->variants[i].name, name, len) == 0)
			return &cfg->variants[i];
	return NULL;
}

static int
unknown_name(const struct config *cfg, const char *name, size_t len,
	     struct ip_error *err)
{
	char all[CONFIG_VARIANTS_MAX * (CONFIG_VARIANT_NAME_MAX + 2)] = "";

	for (size_t i = 0; i < cfg->n_variants; i++)
		util_append_word(all, sizeof(all), cfg->variants[i].name);
	return ip_error_set(err, IP_EINVAL,
			    "variant '%.*s' is not a configured preset "
			    "(the presets: %s)",
			    (int)(len < 64 ? len : 64), name, all);
}

/* Is the segment [p, p+len) named again after it in list? */
static bool
named_again(const char *p, size_t len)
{
	for (const char *q = p + len; *q == ',';) {
		size_t n = strcspn(q + 1, ",");

		if (n == len && memcmp(q + 1, p, len) == 0)
			return true;
		q += n + 1;
	}
	return false;
}

int
reprocess_variants_check(const struct config *cfg, const char *list,
			 struct ip_error *err)
{
	size_t n = strlen(list);

	if (!event_variants_valid(list))
		return ip_error_set(err, IP_EINVAL,
				    "variant: give preset names [a-z0-9_-] "
				    "joined by ',' (at most %d bytes)",
				    EVENT_VARIANTS_MAX - 1);
	if (n > 0 && list[n - 1] == ',')
		return unknown_name(cfg, "", 0, err);
	for (const char *p = list; *p != '\0';) {
		size_t len = strcspn(p, ",");

		if (len == 0 || preset_named(cfg, p, len) == NULL)
			return unknown_name(cfg, p, len, err);
		if (named_again(p, len))
			return ip_error_set(err, IP_EINVAL,
					    "variant '%.*s' is named twice",
					    (int)len, p);
		p += len + (p[len] == ',');
	}
	return IP_OK;
}

/* The jobs' names joined by ',' into list (an event's variants). */
static void
join_names(const struct reprocess_result *res, char *list, size_t len)
{
	list[0] = '\0';
	for (size_t i = 0; i < res->n; i++) {
		size_t used = strlen(list);

		snprintf(list + used, len - used, "%s%s", i > 0 ? "," : "",
			 res->names[i]);
	}
}

int
reprocess_record(struct app *app, struct record *r, const char *only,
		 bool dry_run, struct reprocess_result *res,
		 struct ip_error *err)
{
	struct function_variant_job jobs[CONFIG_VARIANTS_MAX];
	char list[EVENT_VARIANTS_MAX];
	char id[RECORD_ID_MAX];
	bool queue;

	memset(res, 0, sizeof(*res));
	res->outcome = REPROCESS_NOT_DONE;
	if (r->status != RECORD_DONE)
		return function_not_done(r, err);
	res->n = function_stale_presets(&app->fn, r, only, jobs);
	for (size_t i = 0; i < res->n; i++)
		util_strlcpy(res->names[i], jobs[i].spec.name,
			     sizeof(res->names[i]));
	res->outcome = res->n == 0 ? REPROCESS_CURRENT : REPROCESS_STALE;
	if (res->n == 0 || dry_run)
		return IP_OK;
	/* An original that reached the bucket without the gateway has an
	 * id no event can give back (function_object_id): made here. */
	queue = reprocess_queues(app) &&
		function_key_id(r->input_key, id) == IP_OK &&
		strcmp(id, r->id) == 0;
	if (queue) {
		join_names(res, list, sizeof(list));
		res->outcome = REPROCESS_QUEUED;
		return ingest_announce_reprocess(&app->ingest, r, list, err);
	}
	res->outcome = REPROCESS_MADE;
	return function_make_variants(&app->fn, r->id, jobs, res->n, r, err);
}
