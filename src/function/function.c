/*
 * function.c - the function: one S3 event in, variants + a `done` record
 * out (see function.h).  Called by worker threads (workers.c), by
 * `imgpipe process`, and by any other host; it touches only the backends
 * passed in struct function, never the queue or HTTP.
 *
 * DESIGN: the record moves pending -> processing -> done|failed through
 * conditional updates (table.h).  Every write names the version it read; on
 * IP_ECONFLICT we re-read and decide again, so two workers handling the
 * same event (a duplicate delivery) both end with one correct record, and
 * a stale worker never turns `done` back into `processing`.
 */
#include "function/function.h"
#include "core/event.h"
#include "core/hook.h"
#include "function/ingest.h"
#include "core/log.h"
#include "core/util.h"
#include "imgproc/imgproc.h"
#include "objstore/objstore.h"
#include "table/table.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CONFLICT_RETRIES 5

int
function_input_key(const char *id, const char *name, char *out, size_t len,
		   struct ip_error *err)
{
	int n = snprintf(out, len, "%s/%s", id, name);

	if (n < 0 || (size_t)n >= len)
		return ip_error_set(err, IP_ETOOBIG, "object key too long");
	return IP_OK;
}

int
function_key_id(const char *key, char id[RECORD_ID_MAX])
{
	const char *slash = strchr(key, '/');
	size_t n;

	if (slash == NULL || slash[1] == '\0')
		return IP_EINVAL;
	n = (size_t)(slash - key);
	if (n >= RECORD_ID_MAX)
		return IP_EINVAL;
	memcpy(id, key, n);
	id[n] = '\0';
	return util_id_valid(id) ? IP_OK : IP_EINVAL;
}

void
function_object_id(const struct event_record *er, char id[RECORD_ID_MAX])
{
	const char *version = er->version_id[0] != '\0'	 ? er->version_id
			      : er->sequencer[0] != '\0' ? er->sequencer
							 : er->etag;
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	unsigned char digest[32];
	gsize dlen = sizeof(digest);
	int64_t t =
	    er->event_time[0] != '\0' ? util_rfc3339_parse(er->event_time) : 0;

	/* NUL separators: ("a", "b/c") and ("a/b", "c") differ. */
	g_checksum_update(ck, (const guchar *)er->bucket,
			  (gssize)strlen(er->bucket) + 1);
	g_checksum_update(ck, (const guchar *)er->key,
			  (gssize)strlen(er->key) + 1);
	g_checksum_update(ck, (const guchar *)version, (gssize)strlen(version));
	g_checksum_get_digest(ck, digest, &dlen);
	g_checksum_free(ck);
	util_make_id(t > 0 ? t : 0, digest, id, RECORD_ID_MAX);
}

bool
function_event_is_ours(const struct config *cfg, const struct event_record *er,
		       char id[RECORD_ID_MAX])
{
	size_t n = strlen(er->key);

	if (strncmp(er->event_name, "ObjectCreated:", 14) != 0 ||
	    strcmp(er->bucket, cfg->input_bucket) != 0 || n == 0 ||
	    er->key[n - 1] == '/')
		return false;
	if (function_key_id(er->key, id) != IP_OK)
		function_object_id(er, id);
	return true;
}

void
function_record_set_image(struct record *r, const struct image_info *in)
{
	util_strlcpy(r->format, in->format, sizeof(r->format));
	if (in->content_type[0] != '\0')
		util_strlcpy(r->content_type, in->content_type,
			     sizeof(r->content_type));
	r->stored_width = in->width;
	r->stored_height = in->height;
	r->width = in->display_width;
	r->height = in->display_height;
	r->orientation = in->orientation;
	r->has_alpha = in->has_alpha;
	r->pages = in->pages;
	util_strlcpy(r->colourspace, in->colourspace, sizeof(r->colourspace));
}

void
function_variant_key(const char *id, const char *variant, const char *ext,
		     char *out, size_t len)
{
	snprintf(out, len, "%s/%s.%s", id, variant, ext);
}

/*
 * The outbox: r is about to be written done/failed; one delivery per
 * notify.url goes into the table first (table_hook_put), so a deliverer
 * that finds r final finds its deliveries.  The id is fixed by (record,
 * event, attempts, URL): a repeat of this write (a conflict, a duplicate
 * event) is IP_EEXIST, one delivery.  A delivery written for a write
 * that then fails is dropped by the deliverer (hook_matches).  A failure
 * here is logged and never fails the image work.
 */
static void
outbox_write(struct function *p, const struct record *r)
{
	struct hook_urls urls;
	struct ip_error e;
	struct hook h;

	if (p->cfg->notify_urls[0] == '\0' ||
	    hook_urls_parse(p->cfg->notify_urls, &urls, &e) != IP_OK)
		return;
	for (size_t i = 0; i < urls.n; i++) {
		int rc;

		hook_init(&h, r, i, urls.url[i], util_now_ms());
		rc = table_hook_put(p->table, &h, &e);
		if (rc != IP_OK && rc != IP_EEXIST)
			log_error("image %s: webhook %s not queued: %s", r->id,
				  h.id, e.msg);
	}
}

static void
notify(struct function *p, const struct record *r)
{
	if (p->on_finished != NULL)
		p->on_finished(p->on_finished_arg, r);
}

/*
 * Write `failed` with reason unless the record is already done.  Loops on
 * conflicts; a vanished record is not an error (it was deleted).
 */
static int
mark_failed(struct function *p, const char *id, const char *reason,
	    struct ip_error *err)
{
	struct record r;

	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		int rc = table_get(p->table, id, &r, err);

		if (rc == IP_ENOTFOUND)
			return IP_OK;
		if (rc != IP_OK)
			return rc;
		if (r.status == RECORD_DONE)
			return IP_OK;
		r.status = RECORD_FAILED;
		util_strlcpy(r.error, reason, sizeof(r.error));
		r.processed_at = util_now_ms();
		outbox_write(p, &r);
		rc = table_update(p->table, &r, r.version, err);
		if (rc == IP_OK) {
			log_warn("image %s failed: %s request=%s", id, reason,
				 r.request_id[0] != '\0' ? r.request_id : "-");
			notify(p, &r);
			return IP_OK;
		}
		if (rc != IP_ECONFLICT)
			return rc;
	}
	return ip_error_set(err, IP_ECONFLICT,
			    "record %s: too many concurrent updates", id);
}

/* A record for an object that reached the bucket without the gateway
 * (any S3 client, a store-pushed event): built from the object's own
 * facts, put idempotently (a duplicate delivery finds it: IP_EEXIST). */
static int
record_for_object(struct function *p, const struct event_record *er,
		  const struct objstore_stat *st, const char *id,
		  struct record *r, struct ip_error *err)
{
	int rc;

	memset(r, 0, sizeof(*r));
	util_strlcpy(r->id, id, sizeof(r->id));
	ingest_sanitize_name(er->key, RECORD_NAME_MAX - 1, r->name,
			     sizeof(r->name));
	util_strlcpy(r->input_bucket, er->bucket, sizeof(r->input_bucket));
	util_strlcpy(r->input_key, er->key, sizeof(r->input_key));
	util_strlcpy(r->content_type, st->content_type,
		     sizeof(r->content_type));
	r->bytes = st->size;
	r->uploaded_at = util_now_ms();
	r->status = RECORD_PENDING;
	r->orientation = 1;
	r->pages = 1;
	rc = table_put(p->table, r, err);
	if (rc == IP_EEXIST)
		rc = table_get(p->table, id, r, err);
	return rc;
}

/* The record of er under id, created from the object when missing.  A
 * record under the key's id that holds another object is an outsider's
 * key that looks like ours: the object's own id is used instead. */
static int
record_get_or_create(struct function *p, const struct event_record *er,
		     const struct objstore_stat *st, char id[RECORD_ID_MAX],
		     struct record *r, struct ip_error *err)
{
	int rc = table_get(p->table, id, r, err);

	if (rc == IP_OK && (strcmp(r->input_key, er->key) != 0 ||
			    strcmp(r->input_bucket, er->bucket) != 0)) {
		function_object_id(er, id);
		rc = table_get(p->table, id, r, err);
	}
	if (rc == IP_ENOTFOUND)
		rc = record_for_object(p, er, st, id, r, err);
	return rc;
}

/* pending/failed/processing -> processing, attempts+1.  *skip is set when
 * the record is already done (a duplicate event), *killed when it is
 * `processing` beyond inv->claim_budget (see function.h). */
static int
claim(struct function *p, const struct event_record *er,
      const struct objstore_stat *st, const struct function_invocation *inv,
      char id[RECORD_ID_MAX], struct record *r, bool *skip, bool *killed,
      struct ip_error *err)
{
	*skip = false;
	*killed = false;
	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		int rc = record_get_or_create(p, er, st, id, r, err);

		if (rc != IP_OK)
			return rc;
		if (r->status == RECORD_DONE) {
			*skip = true;
			return IP_OK;
		}
		if (r->status == RECORD_PROCESSING && inv->claim_budget > 0 &&
		    r->attempts >= inv->claim_budget) {
			*killed = true;
			return IP_OK;
		}
		r->status = RECORD_PROCESSING;
		r->attempts++;
		r->error[0] = '\0';
		rc = table_update(p->table, r, r->version, err);
		if (rc != IP_ECONFLICT)
			return rc;
	}
	return ip_error_set(err, IP_ECONFLICT,
			    "record %s: too many concurrent updates", id);
}

/* The watermark image's SHA-256, read once per (path, size, mtime). */
static void
watermark_image_sha(const char *path, char out[SHA256_HEX_SIZE])
{
	static GMutex lock;
	static char c_path[CONFIG_PATH_MAX];
	static int64_t c_size = -1, c_mtime;
	static char c_sha[SHA256_HEX_SIZE];
	struct stat st;
	gchar *data = NULL;
	gsize len = 0;

	out[0] = '\0';
	if (stat(path, &st) != 0)
		return;
	g_mutex_lock(&lock);
	if (c_size != (int64_t)st.st_size || c_mtime != (int64_t)st.st_mtime ||
	    strcmp(c_path, path) != 0) {
		c_size = -1;
		if (g_file_get_contents(path, &data, &len, NULL)) {
			util_sha256_hex(data, len, c_sha);
			util_strlcpy(c_path, path, sizeof(c_path));
			c_size = (int64_t)st.st_size;
			c_mtime = (int64_t)st.st_mtime;
		}
		g_free(data);
	}
	if (c_size >= 0)
		memcpy(out, c_sha, SHA256_HEX_SIZE);
	g_mutex_unlock(&lock);
}

void
function_variant_fingerprint(const struct config *cfg,
			     const struct variant_spec *v,
			     char out[RECORD_FINGERPRINT_SIZE])
{
	const struct watermark_spec *w = &cfg->watermark;
	/* plain memory: GSlice (behind GString) reads as a race to TSan */
	char text[1024];
	int n;
	char sha[SHA256_HEX_SIZE];

	/* Version the text: a new field is appended, never reordered. */
	n = snprintf(text, sizeof(text),
		     "v1 %dx%d fit=%s g=%s f=%s q=%d enlarge=%d anim=%d/%d "
		     "bg=%s prog=%d copy=%d",
		     v->width, v->height, config_fit_name(v->fit),
		     config_gravity_name(v->gravity),
		     config_format_name(v->format), v->quality, v->enlarge,
		     v->animated, v->animated ? v->max_frames : 0,
		     cfg->background, cfg->progressive, cfg->keep_copyright);
	if (v->watermark && w->enabled) {
		if (w->image[0] != '\0')
			watermark_image_sha(w->image, sha);
		n += snprintf(
		    text + n, sizeof(text) - (size_t)n,
		    " wm image=%s text=%s font=%s colour=%s pos=%s "
		    "op=%.4f sc=%.4f m=%.4f tile=%d sp=%.4f a=%.4f ad=%d",
		    w->image[0] != '\0' ? sha : "", w->text, w->font, w->colour,
		    config_gravity_name(w->position), w->opacity, w->scale,
		    w->margin, w->tile, w->spacing, w->angle, w->adaptive);
	}
	if (n < 0 || (size_t)n >= sizeof(text))
		n = (int)strlen(text);
	util_sha256_hex(text, (size_t)n, sha);
	memcpy(out, sha, RECORD_FINGERPRINT_SIZE - 1);
	out[RECORD_FINGERPRINT_SIZE - 1] = '\0';
}

/* One variant's facts (not its fingerprint) from what the processor
 * made. */
static void
variant_set(const struct config *cfg, const char *id,
	    const struct imgproc_variant *v, struct record_variant *rv)
{
	memset(rv, 0, sizeof(*rv));
	util_strlcpy(rv->name, v->name, sizeof(rv->name));
	util_strlcpy(rv->bucket, cfg->output_bucket, sizeof(rv->bucket));
	function_variant_key(id, v->name, config_format_ext(v->format), rv->key,
			     sizeof(rv->key));
	util_strlcpy(rv->format, config_format_name(v->format),
		     sizeof(rv->format));
	util_strlcpy(rv->content_type, format_output(v->format)->content_type,
		     sizeof(rv->content_type));
	rv->width = v->width;
	rv->height = v->height;
	rv->bytes = (int64_t)v->len;
	util_strlcpy(rv->sha256, v->sha256, sizeof(rv->sha256));
}

void
function_record_set_result(const struct config *cfg, struct record *r,
			   const struct imgproc_result *res,
			   const struct variant_spec *specs)
{
	function_record_set_image(r, &res->info);
	util_strlcpy(r->placeholder, res->placeholder, sizeof(r->placeholder));
	util_strlcpy(r->dominant, res->dominant, sizeof(r->dominant));
	_Static_assert(sizeof(r->warnings) == sizeof(res->warnings),
		       "record and result warnings have one shape");
	r->n_warnings = res->n_warnings < RECORD_WARNINGS_MAX
			    ? res->n_warnings
			    : RECORD_WARNINGS_MAX;
	memcpy(r->warnings, res->warnings, sizeof(r->warnings));
	r->n_variants = 0;
	for (size_t i = 0; i < res->n && i < RECORD_VARIANTS_MAX; i++) {
		struct record_variant *rv = &r->variants[r->n_variants++];

		variant_set(cfg, r->id, &res->variants[i], rv);
		function_variant_fingerprint(cfg, &specs[i], rv->fingerprint);
	}
}

static int
store_variants(struct function *p, const struct record *r,
	       const struct imgproc_result *res, struct ip_error *err)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct imgproc_variant *v = &res->variants[i];
		const struct record_variant *rv = &r->variants[i];
		struct objstore_put_opts opts = {
		    .content_type = rv->content_type,
		    .sha256_hex = v->sha256,
		};
		int rc = objstore_put_buffer(p->store, rv->bucket, rv->key,
					     v->data, v->len, &opts, err);

		if (rc != IP_OK) {
			ip_error_prefix(err, "store %s/%s", rv->bucket,
					rv->key);
			return rc;
		}
	}
	return IP_OK;
}

static void
delete_variants(struct function *p, const struct record *r)
{
	struct ip_error e;

	for (size_t i = 0; i < r->n_variants; i++)
		objstore_delete(p->store, r->variants[i].bucket,
				r->variants[i].key, &e);
}

/* The record's facts of the original become those of its stripped copy
 * v (stored by strip_store). */
static void
strip_facts(struct record *r, const struct imgproc_variant *v)
{
	r->original_stripped = true;
	r->bytes = (int64_t)v->len;
	util_strlcpy(r->sha256, v->sha256, sizeof(r->sha256));
	util_strlcpy(r->content_type, format_output(v->format)->content_type,
		     sizeof(r->content_type));
	util_strlcpy(r->format, config_format_name(v->format),
		     sizeof(r->format));
	r->stored_width = v->width;
	r->stored_height = v->height;
	r->orientation = 1;
}

/* processing -> done with the variants' facts (and those of the
 * stripped original, if there is one). */
static int
finish(struct function *p, struct record *r, const struct imgproc_result *res,
       const struct variant_spec *specs, const struct imgproc_variant *stripped,
       int64_t started_ms, struct ip_error *err)
{
	struct record fresh;

	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		int rc;

		function_record_set_result(p->cfg, r, res, specs);
		if (stripped != NULL)
			strip_facts(r, stripped);
		r->status = RECORD_DONE;
		r->error[0] = '\0';
		r->processed_at = util_now_ms();
		r->processing_ms = util_mono_ms() - started_ms;
		outbox_write(p, r);
		rc = table_update(p->table, r, r->version, err);
		if (rc != IP_ECONFLICT)
			return rc;
		/* Someone else wrote meanwhile (a duplicate delivery). */
		rc = table_get(p->table, r->id, &fresh, err);
		if (rc != IP_OK)
			return rc;
		if (fresh.status == RECORD_DONE)
			return IP_OK;
		fresh.attempts =
		    r->attempts > fresh.attempts ? r->attempts : fresh.attempts;
		if (fresh.sha256[0] == '\0') { /* function_original_facts' */
			util_strlcpy(fresh.sha256, r->sha256,
				     sizeof(fresh.sha256));
			fresh.bytes = r->bytes;
		}
		*r = fresh;
	}
	return ip_error_set(err, IP_ECONFLICT,
			    "record %s: too many concurrent updates", r->id);
}

static bool
permanent(int code)
{
	return code == IP_EMEDIA || code == IP_EUNPROCESSABLE ||
	       code == IP_EINVAL || code == IP_ETIMEOUT || code == IP_ETOOBIG;
}

/* Would r hold more than RECORD_VARIANTS_MAX entries with jobs added?
 * Entries of a name no job makes stay, and each job adds at most one:
 * a lower bound on the result, so a refusal here is never wrong. */
static bool
too_many_variants(const struct record *r,
		  const struct function_variant_job *jobs, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->n_variants; i++) {
		bool named = false;

		for (size_t j = 0; j < n && !named; j++)
			named =
			    strcmp(r->variants[i].name, jobs[j].spec.name) == 0;
		kept += !named;
	}
	return kept + n > RECORD_VARIANTS_MAX;
}

/* r's variants with what res made for jobs merged in (see
 * function_make_variants).  IP_ETOOBIG if they do not fit. */
static int
merge_variants(const struct config *cfg, struct record *r,
	       const struct function_variant_job *jobs,
	       const struct imgproc_result *res, struct ip_error *err)
{
	struct record_variant *vs = r->variants;
	size_t n = 0;

	for (size_t i = 0; i < r->n_variants; i++) {
		bool keep = true;

		for (size_t j = 0; j < res->n && keep; j++) {
			const char *fmt =
			    config_format_name(res->variants[j].format);

			if (strcmp(vs[i].name, jobs[j].spec.name) != 0)
				continue;
			/* Same name: replaced (same format) or stale
			 * (another definition); another format of the
			 * same definition stays. */
			keep =
			    strcmp(vs[i].format, fmt) != 0 &&
			    strcmp(vs[i].fingerprint, jobs[j].fingerprint) == 0;
		}
		if (keep)
			memmove(&vs[n++], &vs[i], sizeof(vs[0]));
	}
	if (n + res->n > RECORD_VARIANTS_MAX)
		return ip_error_set(err, IP_ETOOBIG,
				    "image %s would have more than %d variants",
				    r->id, RECORD_VARIANTS_MAX);
	for (size_t j = 0; j < res->n; j++) {
		variant_set(cfg, r->id, &res->variants[j], &vs[n]);
		util_strlcpy(vs[n].fingerprint, jobs[j].fingerprint,
			     sizeof(vs[n].fingerprint));
		vs[n].on_demand = jobs[j].on_demand;
		n++;
	}
	r->n_variants = n;
	return IP_OK;
}

/* The objects of `before` that `after` no longer names (stale formats of
 * a changed variant) are deleted; a failure leaves an orphan that
 * `imgpipe doctor --orphans` finds. */
static void
delete_dropped(struct function *p, const struct record *before,
	       const struct record *after)
{
	for (size_t i = 0; i < before->n_variants; i++) {
		const struct record_variant *o = &before->variants[i];
		bool named = false;
		struct ip_error e;

		for (size_t j = 0; j < after->n_variants && !named; j++)
			named =
			    strcmp(o->key, after->variants[j].key) == 0 &&
			    strcmp(o->bucket, after->variants[j].bucket) == 0;
		if (!named &&
		    objstore_delete(p->store, o->bucket, o->key, &e) != IP_OK)
			log_warn("image %s: stale variant s3://%s/%s not "
				 "deleted: %s",
				 after->id, o->bucket, o->key, e.msg);
	}
}

int
function_not_done(const struct record *r, struct ip_error *err)
{
	if (r->status == RECORD_FAILED)
		return ip_error_set(err, IP_ECONFLICT,
				    "image processing failed: %s", r->error);
	return ip_error_set(err, IP_ECONFLICT,
			    "image is still processing (status %s)",
			    record_status_name(r->status));
}

/* Store what res made and write it into the record (re-read and merged
 * again on a conflicting write).  *before keeps the record as first
 * read, for delete_dropped. */
static int
store_and_merge(struct function *p, const struct function_variant_job *jobs,
		const struct imgproc_result *res, struct record *r,
		struct record *before, struct ip_error *err)
{
	struct record_variant *rv = calloc(1, sizeof(*rv));
	int rc = IP_OK;

	if (rv == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	for (size_t j = 0; rc == IP_OK && j < res->n; j++) {
		const struct imgproc_variant *v = &res->variants[j];
		struct objstore_put_opts opts = {.sha256_hex = v->sha256};

		variant_set(p->cfg, r->id, v, rv);
		opts.content_type = rv->content_type;
		rc = objstore_put_buffer(p->store, rv->bucket, rv->key, v->data,
					 v->len, &opts, err);
		if (rc != IP_OK)
			ip_error_prefix(err, "store %s/%s", rv->bucket,
					rv->key);
	}
	free(rv);
	for (int i = 0; rc == IP_OK && i < CONFLICT_RETRIES; i++) {
		if (i > 0) {
			rc = table_get(p->table, r->id, r, err);
			if (rc != IP_OK)
				break;
			if (r->status != RECORD_DONE) {
				rc = function_not_done(r, err);
				break;
			}
			*before = *r;
		}
		rc = merge_variants(p->cfg, r, jobs, res, err);
		if (rc == IP_OK)
			rc = table_update(p->table, r, r->version, err);
		if (rc != IP_ECONFLICT)
			return rc;
		rc = IP_OK;
		if (i == CONFLICT_RETRIES - 1)
			rc = ip_error_set(err, IP_ECONFLICT,
					  "record %s: too many concurrent "
					  "updates",
					  r->id);
	}
	return rc;
}

int
function_make_variants(struct function *p, const char *id,
		       const struct function_variant_job *in, size_t n,
		       struct record *out, struct ip_error *err)
{
	struct function_variant_job *jobs = NULL;
	struct variant_spec *specs = NULL;
	struct imgproc_result *res = NULL;
	struct record *before = NULL;
	int fd = -1;
	int rc;

	if (n == 0 || n > RECORD_VARIANTS_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "between 1 and %d variants at once",
				    RECORD_VARIANTS_MAX);
	jobs = calloc(n, sizeof(*jobs));
	specs = calloc(n, sizeof(*specs));
	res = calloc(1, sizeof(*res));
	before = malloc(sizeof(*before));
	if (jobs == NULL || specs == NULL || res == NULL || before == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		jobs[j] = in[j];
		if (jobs[j].fingerprint[0] == '\0')
			function_variant_fingerprint(p->cfg, &jobs[j].spec,
						     jobs[j].fingerprint);
		specs[j] = jobs[j].spec;
	}
	rc = table_get(p->table, id, out, err);
	if (rc == IP_OK && out->status != RECORD_DONE)
		rc = function_not_done(out, err);
	if (rc == IP_OK && too_many_variants(out, jobs, n))
		rc = ip_error_set(err, IP_ETOOBIG,
				  "image %s would have more than %d variants",
				  id, RECORD_VARIANTS_MAX);
	if (rc != IP_OK)
		goto out;
	*before = *out;
	rc = objstore_open_read(p->store, out->input_bucket, out->input_key,
				&fd, NULL, err);
	if (rc == IP_ENOTFOUND)
		rc = ip_error_set(err, IP_EINVAL,
				  "the original s3://%s/%s is missing",
				  out->input_bucket, out->input_key);
	if (rc == IP_OK)
		rc = imgproc_process(p->img, fd, specs, n, res, err);
	if (rc == IP_OK && res->n != n)
		rc = ip_error_set(
		    err, IP_EIO, "the image processor made %zu of %zu variants",
		    res->n, n);
	if (rc == IP_OK)
		rc = store_and_merge(p, jobs, res, out, before, err);
	if (rc == IP_ENOTFOUND) {
		/* Deleted while we worked: take our variants back. */
		for (size_t j = 0; j < res->n; j++) {
			struct record_variant rv;
			struct ip_error e;

			variant_set(p->cfg, id, &res->variants[j], &rv);
			objstore_delete(p->store, rv.bucket, rv.key, &e);
		}
	} else if (rc == IP_OK) {
		delete_dropped(p, before, out);
	}
out:
	if (fd >= 0)
		close(fd);
	if (res != NULL)
		imgproc_result_clear(res);
	free(res);
	free(before);
	free(specs);
	free(jobs);
	return rc;
}

/* Is name one of the comma-separated names of list? */
static bool
named_in(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p != '\0';) {
		size_t len = strcspn(p, ",");

		if (len == n && memcmp(p, name, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

size_t
function_stale_presets(const struct function *p, const struct record *r,
		       const char *only, struct function_variant_job *jobs)
{
	size_t n = 0;

	for (size_t i = 0; i < p->cfg->n_variants; i++) {
		const struct variant_spec *v = &p->cfg->variants[i];
		char fp[RECORD_FINGERPRINT_SIZE];
		bool current = false;

		if (only != NULL && only[0] != '\0' && !named_in(only, v->name))
			continue;
		function_variant_fingerprint(p->cfg, v, fp);
		for (size_t j = 0; j < r->n_variants && !current; j++)
			current = strcmp(r->variants[j].name, v->name) == 0 &&
				  strcmp(r->variants[j].fingerprint, fp) == 0;
		if (current)
			continue;
		memset(&jobs[n], 0, sizeof(jobs[n]));
		jobs[n].spec = *v;
		memcpy(jobs[n].fingerprint, fp, sizeof(fp));
		n++;
	}
	return n;
}

/* An event for a record already done: remake the presets it lacks or
 * holds with another definition (none: a duplicate event).  A failure
 * leaves the record done with what it had; a permanent one is logged and
 * not retried. */
static int
refresh_done(struct function *p, const struct event_record *er,
	     struct record *r, struct function_stats *stats,
	     struct ip_error *err)
{
	struct function_variant_job jobs[CONFIG_VARIANTS_MAX];
	size_t n = function_stale_presets(p, r, er->variants, jobs);
	int64_t t = util_mono_ms();
	int rc;

	if (n == 0) {
		log_debug("image %s already done%s", r->id,
			  er->reprocess ? ", every variant current"
					: ": duplicate event");
		stats->skipped++;
		return IP_OK;
	}
	rc = function_make_variants(p, r->id, jobs, n, r, err);
	if (rc == IP_OK) {
		stats->done++;
		log_info("image %s: %zu variant(s) made again in %lld ms "
			 "(missing or changed)",
			 r->id, n, (long long)(util_mono_ms() - t));
		return IP_OK;
	}
	if (rc == IP_ENOTFOUND || permanent(rc) || rc == IP_ECONFLICT) {
		log_warn("image %s: variants not made again: %s", r->id,
			 err->msg);
		stats->skipped++;
		return IP_OK;
	}
	return rc;
}

/* The object fits: limits.max_body and the free space where a download
 * lands (the data directory; in Lambda /tmp).  IP_ETOOBIG otherwise. */
static int
check_size(struct function *p, const struct objstore_stat *st,
	   struct ip_error *err)
{
	struct statvfs fs;

	if (st->size > p->cfg->max_body_bytes)
		return ip_error_set(err, IP_ETOOBIG,
				    "the original is %lld bytes, above "
				    "limits.max_body (%lld): not downloaded",
				    (long long)st->size,
				    (long long)p->cfg->max_body_bytes);
	if (statvfs(p->cfg->data_dir, &fs) == 0 &&
	    (uint64_t)st->size > (uint64_t)fs.f_bavail * fs.f_frsize)
		return ip_error_set(err, IP_ETOOBIG,
				    "the original is %lld bytes, more than "
				    "the %llu bytes free in %s: not "
				    "downloaded",
				    (long long)st->size,
				    (unsigned long long)fs.f_bavail *
					fs.f_frsize,
				    p->cfg->data_dir);
	return IP_OK;
}

/* The original's own size and SHA-256, when the record does not have
 * them: an object that came without the gateway (a presigned PUT, any S3
 * client) carries only the client's word or the store's HEAD. */
int
function_original_facts(int fd, struct record *r, struct ip_error *err)
{
	GChecksum *ck;
	char buf[1 << 16];
	int64_t off = 0;
	ssize_t n;

	if (r->sha256[0] != '\0')
		return IP_OK;
	ck = g_checksum_new(G_CHECKSUM_SHA256);
	while ((n = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		g_checksum_update(ck, (const guchar *)buf, (gssize)n);
		off += n;
	}
	if (n == 0) {
		util_strlcpy(r->sha256, g_checksum_get_string(ck),
			     sizeof(r->sha256));
		r->bytes = off;
	}
	g_checksum_free(ck);
	if (n < 0)
		return ip_error_set(err, IP_EIO, "read the original: %s",
				    strerror(errno));
	return IP_OK;
}

/*
 * input.strip_original: the spec of a metadata-free copy of the original,
 * made by the same decode as the variants: full size (up to the largest
 * box a variant may have), auto-rotated, no watermark, the original's
 * format where imgpipe writes it (JPEG and WebP at quality 95, PNG
 * lossless), PNG otherwise.
 */
#define STRIP_NAME "original"
#define STRIP_QUALITY 95

static void
strip_spec(const struct record *r, struct variant_spec *s)
{
	int f = format_parse_output(r->format);

	config_variant_init(s, STRIP_NAME, CONFIG_VARIANT_DIM_MAX,
			    CONFIG_VARIANT_DIM_MAX, FIT_INSIDE, false);
	s->format = f == FORMAT_JPEG || f == FORMAT_WEBP || f == FORMAT_PNG ||
			    f == FORMAT_GIF
			? (enum out_format)f
			: FORMAT_PNG;
	s->quality = STRIP_QUALITY;
	s->animated = f == FORMAT_GIF || f == FORMAT_WEBP;
	s->max_frames = 10000;
}

/* Replace the stored original by its stripped copy v, before `done`
 * records it (a `?wait=` answers with the copy's facts).  A store that
 * notifies may announce the rewritten object while the record is still
 * `processing`: that delivery runs the function once more on the copy,
 * and the record ends `done` once. */
static int
strip_store(struct function *p, const struct record *r,
	    const struct imgproc_variant *v, struct ip_error *err)
{
	struct objstore_put_opts opts = {
	    .content_type = format_output(v->format)->content_type,
	    .sha256_hex = v->sha256};
	int rc = objstore_put_buffer(p->store, r->input_bucket, r->input_key,
				     v->data, v->len, &opts, err);

	if (rc != IP_OK)
		ip_error_prefix(err, "store the stripped original");
	return rc;
}

static const char *const stage_names[] = {
    [FUNCTION_STAGE_FETCH] = "fetch",
    [FUNCTION_STAGE_DECODE] = "decode",
    [FUNCTION_STAGE_TRANSFORM] = "transform",
    [FUNCTION_STAGE_ENCODE] = "encode",
    [FUNCTION_STAGE_STORE] = "store",
};
static const char *const failure_names[] = {
    [FUNCTION_FAIL_DECODE] = "decode",
    [FUNCTION_FAIL_TOO_LARGE] = "too_large",
    [FUNCTION_FAIL_TIMEOUT] = "timeout",
    [FUNCTION_FAIL_CRASHED] = "crashed",
    [FUNCTION_FAIL_STORAGE] = "storage",
    [FUNCTION_FAIL_OTHER] = "other",
};

const char *
function_stage_name(enum function_stage s)
{
	return (unsigned)s < FUNCTION_STAGE_COUNT ? stage_names[s] : "?";
}

const char *
function_failure_name(enum function_failure f)
{
	return (unsigned)f < FUNCTION_FAIL_COUNT ? failure_names[f] : "?";
}

/* The class of a failure with code in stage: the store and the table
 * fail as storage whatever their code; the image processor's codes say
 * what happened to the image (IP_ERETRY is its helper dying). */
static enum function_failure
failure_class(enum function_stage stage, int code)
{
	if (code == IP_ETOOBIG)
		return FUNCTION_FAIL_TOO_LARGE;
	if (stage == FUNCTION_STAGE_FETCH || stage == FUNCTION_STAGE_STORE)
		return FUNCTION_FAIL_STORAGE;
	switch (code) {
	case IP_EMEDIA:
	case IP_EUNPROCESSABLE:
	case IP_EINVAL:
		return FUNCTION_FAIL_DECODE;
	case IP_ETIMEOUT:
		return FUNCTION_FAIL_TIMEOUT;
	case IP_ERETRY:
		return FUNCTION_FAIL_CRASHED;
	default:
		return FUNCTION_FAIL_OTHER;
	}
}

/* The attempt's outcome: rc, failed in stage (when rc != IP_OK). */
static int
attempt_end(struct function_attempt *at, enum function_stage stage, int rc)
{
	at->code = rc;
	if (rc != IP_OK)
		at->failure = failure_class(stage, rc);
	return rc;
}

static void
attempt_stage(struct function_attempt *at, enum function_stage stage,
	      int64_t *t)
{
	int64_t now = util_mono_us();

	at->stage_us[stage] = now - *t;
	*t = now;
}

/* The image work of a claimed record: read, process, store, finish. */
static int
run(struct function *p, struct record *r, const struct function_invocation *inv,
    int64_t started, struct function_stats *stats, struct function_attempt *at,
    struct ip_error *err)
{
	struct imgproc_result res;
	struct variant_spec specs[RECORD_VARIANTS_MAX];
	size_t n_specs = p->cfg->n_variants;
	struct imgproc_variant stripped = {0};
	enum function_stage stage = FUNCTION_STAGE_FETCH;
	int64_t t = util_mono_us();
	int fd = -1;
	int rc;

	memset(&res, 0, sizeof(res));
	memcpy(specs, p->cfg->variants, n_specs * sizeof(specs[0]));
	if (p->cfg->strip_original && !r->original_stripped &&
	    n_specs < RECORD_VARIANTS_MAX)
		strip_spec(r, &specs[n_specs++]);
	rc = objstore_open_read(p->store, r->input_bucket, r->input_key, &fd,
				NULL, err);
	if (rc == IP_ENOTFOUND) {
		rc = ip_error_set(err, IP_EINVAL,
				  "the original s3://%s/%s is missing",
				  r->input_bucket, r->input_key);
	}
	if (rc == IP_OK)
		rc = function_original_facts(fd, r, err);
	if (rc == IP_OK) {
		attempt_stage(at, FUNCTION_STAGE_FETCH, &t);
		stage = FUNCTION_STAGE_DECODE;
		rc = imgproc_process(p->img, fd, specs, n_specs, &res, err);
		t = util_mono_us();
	}
	if (rc == IP_OK) {
		at->stage_us[FUNCTION_STAGE_DECODE] = res.timings.decode_us;
		at->stage_us[FUNCTION_STAGE_TRANSFORM] =
		    res.timings.transform_us;
		at->stage_us[FUNCTION_STAGE_ENCODE] = res.timings.encode_us;
		stage = FUNCTION_STAGE_STORE;
	}
	if (rc == IP_OK && n_specs > p->cfg->n_variants && res.n == n_specs) {
		/* The stripped copy is not a variant: take it out. */
		stripped = res.variants[--res.n];
		memset(&res.variants[res.n], 0, sizeof(res.variants[0]));
	}
	if (rc == IP_OK) {
		function_record_set_result(p->cfg, r, &res, specs);
		rc = store_variants(p, r, &res, err);
	}
	if (rc == IP_OK && stripped.data != NULL)
		rc = strip_store(p, r, &stripped, err);
	if (rc != IP_OK)
		goto out;
	rc = finish(p, r, &res, specs, stripped.data != NULL ? &stripped : NULL,
		    started, err);
	if (rc == IP_OK)
		attempt_stage(at, FUNCTION_STAGE_STORE, &t);
	if (rc == IP_ENOTFOUND) {
		/* Deleted while we worked: take our variants back. */
		delete_variants(p, r);
		stats->skipped++;
		rc = IP_OK;
	} else if (rc == IP_OK) {
		stats->done++;
		stats->processing_ms += r->processing_ms;
		log_info("image %s done in %lld ms (%zu variants, attempt "
			 "%d) request=%s",
			 r->id, (long long)r->processing_ms, res.n,
			 inv->attempt,
			 r->request_id[0] != '\0' ? r->request_id : "-");
		notify(p, r);
	}
out:
	if (fd >= 0)
		close(fd);
	free(stripped.data);
	imgproc_result_clear(&res);
	return attempt_end(at, stage, rc);
}

/* A failed attempt: `failed` when permanent or the last one.  Returns
 * IP_OK when handled, the code when the host should retry or
 * dead-letter. */
static int
fail(struct function *p, const char *id, int code,
     const struct function_invocation *inv, struct function_stats *stats,
     struct ip_error *err)
{
	struct ip_error e2;
	int rc;

	/* A full disk is the host's fault, not the image's: never `failed`
	 * for it; the host retries once there is room. */
	if ((!permanent(code) && !inv->final) || code == IP_ENOSPACE)
		return code;
	rc = mark_failed(p, id, err->msg, &e2);
	if (rc != IP_OK) {
		*err = e2;
		return rc;
	}
	stats->failed++;
	/* A permanent error is handled; a transient one on the last attempt
	 * is reported so the host dead-letters it. */
	return permanent(code) ? IP_OK : code;
}

/*
 * One record of the event.  Returns IP_OK when handled (including a
 * permanent failure written to the record); a transient code otherwise.
 * *reached is set once the record is ours and its HEAD was tried: the
 * attempt counts for the metrics (at).
 */
static int
attempt_record(struct function *p, const struct event_record *er,
	       const struct function_invocation *inv,
	       struct function_stats *stats, struct function_attempt *at,
	       bool *reached, struct ip_error *err)
{
	struct objstore_stat st;
	struct record r;
	char id[RECORD_ID_MAX];
	int64_t started = util_mono_ms();
	bool skip, killed;
	int rc;

	if (er->problem[0] != '\0')
		return ip_error_set(err, IP_EINVAL, "SQS message %s: %s",
				    er->message_id, er->problem);
	if (!function_event_is_ours(p->cfg, er, id)) {
		log_info("event ignored: %s s3://%s/%.200s is not an upload "
			 "of this pipeline",
			 er->event_name, er->bucket, er->key);
		stats->skipped++;
		return IP_OK;
	}
	*reached = true;
	log_context_set_image(id);
	rc = objstore_head(p->store, er->bucket, er->key, &st, err);
	if (rc == IP_OK)
		rc = claim(p, er, &st, inv, id, &r, &skip, &killed, err);
	if (rc == IP_ENOTFOUND) {
		log_info("event ignored: s3://%s/%.200s no longer exists",
			 er->bucket, er->key);
		stats->skipped++;
		*reached = false;
		return IP_OK;
	}
	if (rc != IP_OK)
		return attempt_end(at, FUNCTION_STAGE_FETCH, rc);
	log_context_set_image(id);
	if (skip) {
		*reached = false;
		return refresh_done(p, er, &r, stats, err);
	}
	if (killed) {
		ip_error_set(err, IP_ETIMEOUT,
			     "attempt %d was killed (deadline or out of "
			     "memory)",
			     r.attempts);
		attempt_end(at, FUNCTION_STAGE_DECODE, IP_ETIMEOUT);
		return fail(p, id, IP_ETIMEOUT, inv, stats, err);
	}
	rc = check_size(p, &st, err);
	if (rc == IP_OK)
		rc = run(p, &r, inv, started, stats, at, err);
	else
		attempt_end(at, FUNCTION_STAGE_FETCH, rc);
	return rc == IP_OK ? IP_OK : fail(p, id, rc, inv, stats, err);
}

static int
handle_record(struct function *p, const struct event_record *er,
	      const struct function_invocation *inv,
	      struct function_stats *stats, struct ip_error *err)
{
	struct function_attempt at = {.code = IP_OK};
	bool reached = false;
	int rc;

	/* A host with no request of its own (the worker pool) logs the
	 * record's processing under the request that uploaded it. */
	bool own_request =
	    log_context_request()[0] == '\0' && er->request_id[0] != '\0';

	for (int i = 0; i < FUNCTION_STAGE_COUNT; i++)
		at.stage_us[i] = -1;
	if (own_request)
		log_context_set_request(er->request_id);
	rc = attempt_record(p, er, inv, stats, &at, &reached, err);
	if (reached && p->on_attempt != NULL)
		p->on_attempt(p->on_attempt_arg, &at);
	if (own_request)
		log_context_set_request(NULL);
	return rc;
}

int
function_handle_records(struct function *p, const struct event *ev,
			const struct function_invocation *inv, int *rcs,
			struct function_stats *stats, struct ip_error *err)
{
	int first = IP_OK;

	for (size_t i = 0; i < ev->n; i++) {
		struct ip_error e;
		int rc;

		ip_error_clear(&e);
		rc = handle_record(p, &ev->records[i], inv, stats, &e);
		log_context_set_image(NULL);
		if (rcs != NULL)
			rcs[i] = rc;
		if (rc != IP_OK && first == IP_OK) {
			first = rc;
			*err = e;
		}
	}
	return first;
}

int
function_handle_event(struct function *p, const char *event_json, size_t len,
		      const struct function_invocation *inv,
		      struct function_stats *stats, struct ip_error *err)
{
	struct function_stats local;
	struct event ev;
	int rc;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	rc = event_parse(event_json, len, &ev, err);
	if (rc == IP_OK)
		rc = function_handle_records(p, &ev, inv, NULL, stats, err);
	event_clear(&ev);
	return rc;
}

int
function_fail_event(struct function *p, const char *event_json, size_t len,
		    const char *reason, struct ip_error *err)
{
	struct event ev;
	int rc = event_parse(event_json, len, &ev, err);

	for (size_t i = 0; rc == IP_OK && i < ev.n; i++) {
		const struct event_record *er = &ev.records[i];
		char id[RECORD_ID_MAX];
		struct record r;

		if (er->problem[0] != '\0' ||
		    !function_event_is_ours(p->cfg, er, id))
			continue;
		/* the id the function would have used (see claim) */
		if (table_get(p->table, id, &r, err) == IP_OK &&
		    strcmp(r.input_key, er->key) != 0)
			function_object_id(er, id);
		rc = mark_failed(p, id, reason, err);
	}
	event_clear(&ev);
	return rc;
}
