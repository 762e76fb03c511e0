/*
 * function.h - the function (DESIGN §1.3): an S3 event in, variants in the
 * output bucket and a `done` record out.
 *
 * function_handle_event() is runtime-agnostic, like a Lambda handler: it
 * knows nothing of HTTP or of the queue.  The worker pool, a queue
 * consumer process and the Lambda runtime all call it the same way.
 *
 * Keys written by this pipeline:
 *   input bucket:  {id}/{name}            (name sanitised, see ingest.h)
 *   output bucket: {id}/{variant}.{ext}
 * Events for other keys or for the output bucket are ignored with a log
 * line (the recursive-trigger trap).
 *
 * Idempotence: a record already `done` with the same input sha256 is left
 * alone; otherwise the same objects are rewritten and one record results.
 * Conditional table updates stop a stale worker from overwriting a newer
 * state.
 *
 * Thread-safety: a struct function is read-only after setup; any number of
 * threads may call function_handle_event at once.
 */
#ifndef IMGPIPE_FUNCTION_FUNCTION_H
#define IMGPIPE_FUNCTION_FUNCTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/record.h"

struct objstore;
struct table;
struct imgproc;
struct image_info;
struct event_record;

struct function {
	const struct config *cfg;
	struct objstore *store;
	struct table *table;
	struct imgproc *img;
	/* Called after a record reaches done/failed (may be NULL); lets an
	 * in-process gateway wake `?wait=` requests. */
	void (*on_finished)(void *arg, const struct record *r);
	void *on_finished_arg;
};

/* Per-invocation facts from the host. */
struct function_invocation {
	int attempt; /* 1-based delivery count */
	bool final; /* no retry follows: failure marks `failed` */
};

struct function_stats {
	int done; /* records brought to done */
	int failed; /* records marked failed */
	int skipped; /* ignored records (foreign keys, already done) */
	int64_t processing_ms;
};

/* Handle one S3 notification document.  Returns IP_OK when every record
 * was handled (done, or ignored, or permanently failed and marked so);
 * a transient error code when the host should retry (the record stays
 * `processing`, or becomes `failed` when inv->final). */
int function_handle_event(struct function *p, const char *event_json,
			  size_t len, const struct function_invocation *inv,
			  struct function_stats *stats, struct ip_error *err);

/* Mark every record named by the event `failed` with reason (the host's
 * last word after the final attempt, e.g. when the event could not even be
 * run).  Records already done are left alone. */
int function_fail_event(struct function *p, const char *event_json, size_t len,
			const char *reason, struct ip_error *err);

/* The one rule of "is this event ours", for every host and for the
 * store-pushed events route: an ObjectCreated:* record for
 * cfg->input_bucket whose key this pipeline wrote ({id}/{name}).  True
 * and the image id in id, or false (the record is to be ignored with a log
 * line: foreign keys, the output bucket, deletions). */
bool function_event_is_ours(const struct config *cfg,
			    const struct event_record *er,
			    char id[RECORD_ID_MAX]);

/* The one copy of an image's facts (format, content type when known,
 * dimensions as stored and as displayed, orientation, alpha, pages,
 * colourspace) from the image processor's info into a record; used by
 * the gateway (from the header probe) and by the function (from the
 * decode). */
void function_record_set_image(struct record *r, const struct image_info *in);

/* "{id}/{name}" into out; IP_ETOOBIG if it does not fit. */
int function_input_key(const char *id, const char *name, char *out, size_t len,
		       struct ip_error *err);
/* The id of an input key this pipeline wrote, or IP_EINVAL. */
int function_key_id(const char *key, char id[RECORD_ID_MAX]);
/* "{id}/{variant}.{ext}" */
void function_variant_key(const char *id, const char *variant, const char *ext,
			  char *out, size_t len);

#endif
