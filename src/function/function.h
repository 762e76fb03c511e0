/*
 * function.h - the function (DESIGN §1.3): an S3 event in, variants in the
 * output bucket and a `done` record out.
 *
 * function_handle_event() is runtime-agnostic, like a Lambda handler: it
 * knows nothing of HTTP or of the queue.  The worker pool, a queue
 * consumer process and the Lambda runtime all call it the same way.
 *
 * Keys:
 *   input bucket:  any key.  The gateway writes {id}/{name} (name
 *                  sanitised, see ingest.h) with its record; any other
 *                  object (`aws s3 cp photo.jpg s3://input/holiday/`) gets
 *                  a record on first sight, id function_object_id(), name
 *                  the key's last segment.
 *   output bucket: {id}/{variant}.{ext}
 * Events for the output bucket are ignored with a log line (the
 * recursive-trigger trap), as are deletions and "folder" keys ending '/'.
 *
 * Before the download the object's size is checked (HEAD) against
 * limits.max_body and the free space of the data directory: a refusal
 * is permanent (`failed` with the reason, no retry).
 *
 * Idempotence: an event for a record already `done` makes only the
 * presets it lacks or holds with another fingerprint (none: a duplicate,
 * left alone); this is how `imgpipe reprocess` works.
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
struct imgproc_result;
struct event_record;
struct event;

/* The stages of one attempt, timed for /metrics.  Decode, transform
 * (resize + watermark of every variant) and encode are the image
 * processor's own (struct imgproc_timings: measured where the work runs,
 * in a helper process when there is one, and sent back with the result). */
enum function_stage {
	FUNCTION_STAGE_FETCH, /* open the original, its size and SHA-256 */
	FUNCTION_STAGE_DECODE,
	FUNCTION_STAGE_TRANSFORM,
	FUNCTION_STAGE_ENCODE,
	FUNCTION_STAGE_STORE, /* the variants written, the record done */
	FUNCTION_STAGE_COUNT
};

/* Why an attempt failed, in a few classes a dashboard can plot. */
enum function_failure {
	FUNCTION_FAIL_DECODE, /* not an image, corrupt, refused by a limit */
	FUNCTION_FAIL_TOO_LARGE, /* limits.max_body, no room to download */
	FUNCTION_FAIL_TIMEOUT, /* limits.timeout, or an attempt killed */
	FUNCTION_FAIL_CRASHED, /* the image helper died */
	FUNCTION_FAIL_STORAGE, /* the store or the table failed */
	FUNCTION_FAIL_OTHER,
	FUNCTION_FAIL_COUNT
};

/* What one attempt at one record did (function.on_attempt). */
struct function_attempt {
	int code; /* IP_OK, or the attempt's failure */
	enum function_failure failure; /* when code != IP_OK */
	/* Microseconds per stage; -1 for a stage not reached. */
	int64_t stage_us[FUNCTION_STAGE_COUNT];
};

/* "fetch", "decode", ...; "decode", "too_large", ...: label values. */
const char *function_stage_name(enum function_stage s);
const char *function_failure_name(enum function_failure f);

struct function {
	const struct config *cfg;
	struct objstore *store;
	struct table *table;
	struct imgproc *img;
	/* Called after a record reaches done/failed (may be NULL); lets an
	 * in-process gateway wake `?wait=` requests. */
	void (*on_finished)(void *arg, const struct record *r);
	void *on_finished_arg;
	/* Called after each attempt at a record of ours that got as far as
	 * its HEAD (may be NULL): the host's metrics.  Any worker thread. */
	void (*on_attempt)(void *arg, const struct function_attempt *a);
	void *on_attempt_arg;
};

/* Per-invocation facts from the host. */
struct function_invocation {
	int attempt; /* 1-based delivery count */
	bool final; /* no retry follows: failure marks `failed` */
	/* > 0 (the Lambda host): a record found `processing` with at least
	 * this many attempts had its earlier attempts killed (deadline, out
	 * of memory) rather than running: it is marked `failed` with that
	 * reason instead of being tried again.  0: no such rule (the queue's
	 * visibility timeout redelivers). */
	int claim_budget;
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

/* The same for a parsed event, one result per record into rcs[ev->n]
 * (IP_OK or the code of that record; a record with `problem`, an SQS
 * message that could not be read, is IP_EINVAL), for hosts that answer
 * per message (SQS partial batch responses).  Returns the first failing
 * code, with its message in err, or IP_OK. */
int function_handle_records(struct function *p, const struct event *ev,
			    const struct function_invocation *inv, int *rcs,
			    struct function_stats *stats, struct ip_error *err);

/* Mark every record named by the event `failed` with reason (the host's
 * last word after the final attempt, e.g. when the event could not even be
 * run).  Records already done are left alone. */
int function_fail_event(struct function *p, const char *event_json, size_t len,
			const char *reason, struct ip_error *err);

/* The one rule of "is this event ours", for every host and for the
 * store-pushed events route: an ObjectCreated:* record for
 * cfg->input_bucket whose key names an object (not a "folder" ending in
 * '/').  True and the image id in id: the gateway's id for a key
 * {id}/{name}, function_object_id() for any other key; false for what is
 * to be ignored with a log line (the output bucket, deletions, other
 * events).  A key {id}/{name} whose record holds another input key (an
 * outsider's key that looks like ours) is given function_object_id() by
 * the function when it finds that record. */
bool function_event_is_ours(const struct config *cfg,
			    const struct event_record *er,
			    char id[RECORD_ID_MAX]);

/* The one copy of an image's facts (format, content type when known,
 * dimensions as stored and as displayed, orientation, alpha, pages,
 * colourspace) from the image processor's info into a record; used by
 * the gateway (from the header probe) and by the function (from the
 * decode). */
void function_record_set_image(struct record *r, const struct image_info *in);

/* The one copy of a result's facts into a record: the image's (above),
 * placeholder, dominant colour, and each variant's name, key in
 * cfg->output_bucket ({id}/{variant}.{ext}), format, size, SHA-256 and
 * the fingerprint of specs[i] (the spec res->variants[i] was made from).
 * r->id must be set. */
void function_record_set_result(const struct config *cfg, struct record *r,
				const struct imgproc_result *res,
				const struct variant_spec *specs);

/* The fingerprint of what a variant made by spec v under cfg looks like:
 * a SHA-256, cut to 16 hex digits, of its definition (box, fit, gravity,
 * format, quality, enlarge, frames), the output settings that change its
 * bytes (background, progressive, keep_copyright) and, when the mark
 * applies to it, every watermark setting and the watermark image's
 * content.  Two specs that would make the same bytes from one original
 * have one fingerprint; change any of these and it changes.  The name is
 * not part of it.  Reads the watermark image (cached by path, size and
 * mtime); an unreadable one counts as absent.  Any thread. */
void function_variant_fingerprint(const struct config *cfg,
				  const struct variant_spec *v,
				  char out[RECORD_FINGERPRINT_SIZE]);

/* One variant to add to an existing record (function_make_variants). */
struct function_variant_job {
	struct variant_spec spec; /* what to make (format may be AUTO) */
	/* the fingerprint to record: of the definition asked for, which
	 * may differ from spec (the webp of a `format = auto` variant
	 * records the auto definition's); "" = spec's own */
	char fingerprint[RECORD_FINGERPRINT_SIZE];
	bool on_demand; /* made on request, not at upload */
};

/* Make variants for the `done` record id from its stored original, in
 * one decode, and add them to the record: an entry of the same name and
 * format is replaced, entries of the same name with another fingerprint
 * (stale formats of a changed definition) are dropped and their objects
 * deleted, any other is appended.  The record stays `done` throughout,
 * so its other variants are served while this runs.  On IP_OK *out is
 * the record as written.  IP_ENOTFOUND: no such record (or deleted
 * meanwhile: the objects made are deleted again); IP_ECONFLICT: the
 * record is not done (its message says which state); IP_ETOOBIG: the
 * record would hold more than RECORD_VARIANTS_MAX variants (nothing is
 * made); the image processor's and the stores' codes otherwise.  Used by
 * reprocessing (below) and by the gateway's on-demand variants. */
int function_make_variants(struct function *p, const char *id,
			   const struct function_variant_job *jobs, size_t n,
			   struct record *out, struct ip_error *err);

/* IP_ECONFLICT with the message of a record that is not done: "image
 * is still processing (status pending)", or why it failed.  The 409 of
 * every route that needs a done record. */
int function_not_done(const struct record *r, struct ip_error *err);

/* The presets of p->cfg that the done record r lacks or holds with
 * another fingerprint, limited to the comma-separated names in only
 * ("" or NULL = every preset), into jobs (room for CONFIG_VARIANTS_MAX);
 * returns how many.  An event for a record already `done` runs exactly
 * these (none: the event is a duplicate and is skipped): reprocessing
 * is delivering the object's event again. */
size_t function_stale_presets(const struct function *p, const struct record *r,
			      const char *only,
			      struct function_variant_job *jobs);

/* The original's size and SHA-256 into r (r->bytes, r->sha256) read
 * from fd, unless r->sha256 is already set.  IP_EIO on a read error. */
int function_original_facts(int fd, struct record *r, struct ip_error *err);

/* The deterministic id of an object version seen in an event: a ULID
 * whose time is the event's (0 if absent) and whose 80 other bits are a
 * SHA-256 of bucket, key and the version (versionId, else sequencer, else
 * eTag), so every delivery of one version names one record. */
void function_object_id(const struct event_record *er, char id[RECORD_ID_MAX]);

/* "{id}/{name}" into out; IP_ETOOBIG if it does not fit. */
int function_input_key(const char *id, const char *name, char *out, size_t len,
		       struct ip_error *err);
/* The id of an input key this pipeline wrote, or IP_EINVAL. */
int function_key_id(const char *key, char id[RECORD_ID_MAX]);
/* "{id}/{variant}.{ext}" */
void function_variant_key(const char *id, const char *variant, const char *ext,
			  char *out, size_t len);

#endif
