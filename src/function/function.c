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
#include "core/log.h"
#include "core/util.h"
#include "imgproc/imgproc.h"
#include "objstore/objstore.h"
#include "table/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

bool
function_event_is_ours(const struct config *cfg, const struct event_record *er,
		       char id[RECORD_ID_MAX])
{
	return strncmp(er->event_name, "ObjectCreated:", 14) == 0 &&
	       strcmp(er->bucket, cfg->input_bucket) == 0 &&
	       function_key_id(er->key, id) == IP_OK;
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
		rc = table_update(p->table, &r, r.version, err);
		if (rc == IP_OK) {
			log_warn("image %s failed: %s", id, reason);
			notify(p, &r);
			return IP_OK;
		}
		if (rc != IP_ECONFLICT)
			return rc;
	}
	return ip_error_set(err, IP_ECONFLICT,
			    "record %s: too many concurrent updates", id);
}

/* A record for an object that reached the bucket without the gateway (a
 * store-pushed event): build it from the object's own facts. */
static int
record_for_object(struct function *p, const struct event_record *er,
		  const char *id, struct record *r, struct ip_error *err)
{
	struct objstore_stat st;
	int rc = objstore_head(p->store, er->bucket, er->key, &st, err);

	if (rc != IP_OK)
		return rc;
	memset(r, 0, sizeof(*r));
	util_strlcpy(r->id, id, sizeof(r->id));
	util_strlcpy(r->name, strchr(er->key, '/') + 1, sizeof(r->name));
	util_strlcpy(r->input_bucket, er->bucket, sizeof(r->input_bucket));
	util_strlcpy(r->input_key, er->key, sizeof(r->input_key));
	util_strlcpy(r->content_type, st.content_type, sizeof(r->content_type));
	r->bytes = st.size;
	r->uploaded_at = util_now_ms();
	r->status = RECORD_PENDING;
	r->orientation = 1;
	r->pages = 1;
	rc = table_put(p->table, r, err);
	if (rc == IP_EEXIST)
		rc = table_get(p->table, id, r, err);
	return rc;
}

/* pending/failed/processing -> processing, attempts+1.  *skip is set when
 * the record is already done (a duplicate event). */
static int
claim(struct function *p, const struct event_record *er, const char *id,
      struct record *r, bool *skip, struct ip_error *err)
{
	*skip = false;
	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		int rc = table_get(p->table, id, r, err);

		if (rc == IP_ENOTFOUND)
			rc = record_for_object(p, er, id, r, err);
		if (rc != IP_OK)
			return rc;
		if (r->status == RECORD_DONE) {
			*skip = true;
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

static void
fill_record(const struct function *p, struct record *r,
	    const struct imgproc_result *res)
{
	function_record_set_image(r, &res->info);
	util_strlcpy(r->placeholder, res->placeholder, sizeof(r->placeholder));
	util_strlcpy(r->dominant, res->dominant, sizeof(r->dominant));
	r->n_variants = 0;
	for (size_t i = 0; i < res->n && i < RECORD_VARIANTS_MAX; i++) {
		const struct imgproc_variant *v = &res->variants[i];
		struct record_variant *rv = &r->variants[r->n_variants++];

		memset(rv, 0, sizeof(*rv));
		util_strlcpy(rv->name, v->name, sizeof(rv->name));
		util_strlcpy(rv->bucket, p->cfg->output_bucket,
			     sizeof(rv->bucket));
		function_variant_key(r->id, v->name,
				     config_format_ext(v->format), rv->key,
				     sizeof(rv->key));
		util_strlcpy(rv->format, config_format_name(v->format),
			     sizeof(rv->format));
		util_strlcpy(rv->content_type,
			     format_output(v->format)->content_type,
			     sizeof(rv->content_type));
		rv->width = v->width;
		rv->height = v->height;
		rv->bytes = (int64_t)v->len;
		util_strlcpy(rv->sha256, v->sha256, sizeof(rv->sha256));
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

/* processing -> done with the variants' facts. */
static int
finish(struct function *p, struct record *r, const struct imgproc_result *res,
       int64_t started_ms, struct ip_error *err)
{
	struct record fresh;

	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		int rc;

		fill_record(p, r, res);
		r->status = RECORD_DONE;
		r->error[0] = '\0';
		r->processed_at = util_now_ms();
		r->processing_ms = util_mono_ms() - started_ms;
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

/*
 * One record of the event.  Returns IP_OK when handled (including a
 * permanent failure written to the record); a transient code otherwise.
 */
static int
handle_record(struct function *p, const struct event_record *er,
	      const struct function_invocation *inv,
	      struct function_stats *stats, struct ip_error *err)
{
	struct imgproc_result res;
	struct record r;
	char id[RECORD_ID_MAX];
	int64_t started = util_mono_ms();
	bool skip;
	int fd = -1;
	int rc;

	memset(&res, 0, sizeof(res));
	if (!function_event_is_ours(p->cfg, er, id)) {
		log_info("event ignored: %s s3://%s/%.200s is not an upload "
			 "of this pipeline",
			 er->event_name, er->bucket, er->key);
		stats->skipped++;
		return IP_OK;
	}
	rc = claim(p, er, id, &r, &skip, err);
	if (rc == IP_ENOTFOUND) {
		log_info("event ignored: s3://%s/%.200s no longer exists",
			 er->bucket, er->key);
		stats->skipped++;
		return IP_OK;
	}
	if (rc != IP_OK)
		goto out;
	if (skip) {
		log_debug("image %s already done: duplicate event", id);
		stats->skipped++;
		goto out;
	}
	rc = objstore_open_read(p->store, r.input_bucket, r.input_key, &fd,
				NULL, err);
	if (rc == IP_ENOTFOUND) {
		rc = ip_error_set(err, IP_EINVAL,
				  "the original s3://%s/%s is missing",
				  r.input_bucket, r.input_key);
	}
	if (rc == IP_OK)
		rc = imgproc_process(p->img, fd, p->cfg->variants,
				     p->cfg->n_variants, &res, err);
	if (rc == IP_OK) {
		fill_record(p, &r, &res);
		rc = store_variants(p, &r, &res, err);
	}
	if (rc == IP_OK) {
		rc = finish(p, &r, &res, started, err);
		if (rc == IP_ENOTFOUND) {
			/* Deleted while we worked: take our variants back. */
			delete_variants(p, &r);
			stats->skipped++;
			rc = IP_OK;
			goto out;
		}
		if (rc == IP_OK) {
			stats->done++;
			stats->processing_ms += r.processing_ms;
			log_info("image %s done in %lld ms (%zu variants, "
				 "attempt %d)",
				 id, (long long)r.processing_ms, res.n,
				 inv->attempt);
			notify(p, &r);
		}
		goto out;
	}
	if (permanent(rc) || inv->final) {
		struct ip_error e2;
		int code = rc;

		rc = mark_failed(p, id, err->msg, &e2);
		if (rc == IP_OK)
			stats->failed++;
		else
			*err = e2;
		/* A permanent error is handled; a transient one on the last
		 * attempt is reported so the host dead-letters it. */
		if (rc == IP_OK && !permanent(code))
			rc = code;
	}
out:
	if (fd >= 0)
		close(fd);
	imgproc_result_clear(&res);
	return rc;
}

int
function_handle_event(struct function *p, const char *event_json, size_t len,
		      const struct function_invocation *inv,
		      struct function_stats *stats, struct ip_error *err)
{
	struct function_stats local;
	struct event *ev;
	int first = IP_OK;
	int rc;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	rc = event_parse(event_json, len, ev, err);
	if (rc != IP_OK)
		goto out;
	for (size_t i = 0; i < ev->n; i++) {
		struct ip_error e;

		ip_error_clear(&e);
		rc = handle_record(p, &ev->records[i], inv, stats, &e);
		if (rc != IP_OK && first == IP_OK) {
			first = rc;
			*err = e;
		}
	}
	rc = first;
out:
	free(ev);
	return rc;
}

int
function_fail_event(struct function *p, const char *event_json, size_t len,
		    const char *reason, struct ip_error *err)
{
	struct event *ev = calloc(1, sizeof(*ev));
	int rc;

	if (ev == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	rc = event_parse(event_json, len, ev, err);
	for (size_t i = 0; rc == IP_OK && i < ev->n; i++) {
		char id[RECORD_ID_MAX];

		if (!function_event_is_ours(p->cfg, &ev->records[i], id))
			continue;
		rc = mark_failed(p, id, reason, err);
	}
	free(ev);
	return rc;
}
