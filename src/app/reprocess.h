/*
 * reprocess.h - remaking an existing image's presets that are missing or
 * changed: one record's decision and action, shared by `imgpipe
 * reprocess` (app/backfill.h) and POST /v1/images/{id}/reprocess.
 *
 * Reprocessing is delivering the object's event again (function.h,
 * function_stale_presets): where this process announces uploads through
 * a queue, a reprocess event is queued and a worker makes the variants;
 * where it does not (storage.events = store, the Lambda host), they are
 * made here, through the same function_make_variants.
 *
 * Thread-safety: any thread; struct app is shared as for the API.
 */
#ifndef IMGPIPE_APP_REPROCESS_H
#define IMGPIPE_APP_REPROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "app/app.h"
#include "core/config.h"
#include "core/error.h"
#include "core/record.h"

enum reprocess_outcome {
	REPROCESS_CURRENT, /* every preset asked for is current */
	REPROCESS_STALE, /* dry run: names would be made */
	REPROCESS_QUEUED, /* a reprocess event names them */
	REPROCESS_MADE, /* made here; the record holds them */
	REPROCESS_NOT_DONE /* the record is not done: nothing happened */
};

struct reprocess_result {
	enum reprocess_outcome outcome;
	size_t n; /* presets to make (or made) */
	char names[CONFIG_VARIANTS_MAX][CONFIG_VARIANT_NAME_MAX];
};

/* Whether reprocessing goes through the queue (ingest_queues): false
 * when the variants are made in the calling process. */
bool reprocess_queues(const struct app *app);

/* list ("a,b", "" = every preset) names only presets of cfg, each once:
 * IP_OK, else IP_EINVAL with a message naming the first bad name and
 * the presets there are. */
int reprocess_variants_check(const struct config *cfg, const char *list,
			     struct ip_error *err);

/* Decide for the record r (as read) which presets of `only` (checked
 * above) it lacks or holds changed, then, unless dry_run, queue their
 * remaking or make them here (an image whose original was not uploaded
 * through imgpipe is always made here: no event can name it).  IP_OK
 * with res->outcome CURRENT, STALE, QUEUED or MADE (then *r is the
 * record as written).  IP_ECONFLICT with outcome NOT_DONE when r is not
 * done (the message says its state); function_make_variants' and the
 * queue's codes otherwise (outcome as decided). */
int reprocess_record(struct app *app, struct record *r, const char *only,
		     bool dry_run, struct reprocess_result *res,
		     struct ip_error *err);

#endif
