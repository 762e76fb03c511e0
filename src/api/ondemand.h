/*
 * ondemand.h - which stored variant answers GET /v1/images/{id}/variants/
 * {variant}, made on the first request that needs it (issue 14: sizes on
 * demand, formats by Accept; docs/API.md "Variants on demand").
 *
 * {variant} is a preset's name or a spec (core/vspec.h).  The answer is
 * an entry of the record: the one already made, or one made now through
 * the function (function_make_variants: the stored original decoded once
 * by the app's image processor, i.e. a sandboxed helper in `serve` and
 * `gateway`, in-process under `imgpipe lambda`), stored in the output
 * bucket and added to the record with `on_demand: true`.
 *
 * What may be made: a preset always (one added after the upload, or
 * another format of a `format = auto` one); a spec that spells a preset
 * is that preset; any other spec when the URL is signed, or within the
 * [on_demand] rules (enabled, max_width/max_height, max_per_image,
 * formats), else IP_EFORBIDDEN naming the rule.
 *
 * Single flight: the first request for (id, name, format) renders, the
 * ones that come meanwhile wait for it and read the record again; at
 * most on_demand.concurrency renders run in a process, a request waits
 * up to ONDEMAND_WAIT_MS for a slot, then IP_ERETRY (503 + Retry-After).
 * Two processes may both render one variant: the same bytes go to the
 * same key and the record's merge keeps one entry, so it costs only the
 * work.
 *
 * Thread-safety: struct ondemand is shared by every request thread of a
 * process (its own lock); the rest runs on the request's thread.
 */
#ifndef IMGPIPE_API_ONDEMAND_H
#define IMGPIPE_API_ONDEMAND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/record.h"

struct api_request;

/* How long a request waits for a render slot (or for another request's
 * render of the same variant) before 503. */
#define ONDEMAND_WAIT_MS 10000
#define ONDEMAND_RETRY_AFTER_S 2

/* How on-demand requests ended, for /metrics. */
enum ondemand_result {
	ONDEMAND_MADE, /* rendered and stored */
	ONDEMAND_REFUSED, /* 403 by the rules or the record's capacity */
	ONDEMAND_FAILED, /* the render or the store failed */
	ONDEMAND_BUSY, /* no slot within ONDEMAND_WAIT_MS: 503 */
	ONDEMAND_RESULT_COUNT
};

struct ondemand_flight {
	bool busy;
	char id[RECORD_ID_MAX];
	char name[RECORD_VARIANT_NAME_MAX];
	int format; /* enum out_format */
};

struct ondemand {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a flight ended */
	int limit; /* renders at once: on_demand.concurrency resolved */
	int running;
	struct ondemand_flight *flights; /* [limit] */
	_Atomic int64_t results[ONDEMAND_RESULT_COUNT];
	_Atomic int64_t waited; /* requests that waited for another's render */
};

/* Set up for cfg (on_demand.concurrency, 0 = online cores).  Aborts on
 * out of memory (a few hundred bytes, at start-up).  ondemand_fini frees
 * it. */
void ondemand_init(struct ondemand *od, const struct config *cfg);
void ondemand_fini(struct ondemand *od);

/* "made", "refused", ...: label values. */
const char *ondemand_result_name(enum ondemand_result r);

/* The entry of the done record rec (heap, may be re-read and replaced
 * by the record as written) that answers `name` for rq: found, or made
 * now.  *vary: the answer depends on Accept (a `format = auto` variant).
 * Returns IP_OK with *out pointing into rec; IP_ENOTFOUND (no variant of
 * that name and not a spec), IP_EINVAL (a malformed spec), IP_EFORBIDDEN
 * (a rule or the record's capacity), IP_ERETRY (no render slot: 503,
 * rq->retry_after_s set to ONDEMAND_RETRY_AFTER_S), IP_ECONFLICT (the record left `done`),
 * or the render's and the stores' codes; err says why. */
int ondemand_variant(struct api_request *rq, struct record *rec,
		     const char *name, const struct record_variant **out,
		     bool *vary, struct ip_error *err);

#endif
