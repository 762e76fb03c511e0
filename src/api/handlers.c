/*
 * handlers.c - the read, delete and operational routes of the gateway:
 * records, listing, the original and variant bytes (ETag, Last-Modified,
 * conditional GET, single Range), DELETE, /healthz, /readyz, /metrics.
 *
 * Called through api.c on the request's thread; may block on the table,
 * the store and `?wait=`.  Bytes are answered as a file range of the
 * store's descriptor (the HTTP transport sends them with sendfile where
 * it can), never loaded into memory by the API.
 */
#include "api/handlers.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "api/admission.h"
#include "api/metrics.h"
#include "api/ondemand.h"
#include "api/params.h"
#include "api/reply.h"
#include "objstore/objstore.h"
#include "app/app.h"
#include "function/ingest.h"
#include "queue/queue.h"
#include "table/table.h"

/* An original may hold what its uploader did not mean to publish (GPS,
 * serial numbers): never in a shared cache.  A variant is public only
 * when anyone may read it (keys off, or output.public_variants). */
#define CACHE_ORIGINAL "private, max-age=86400"
#define CACHE_VARIANT_PUBLIC "public, max-age=31536000, immutable"
#define CACHE_VARIANT_PRIVATE "private, max-age=31536000, immutable"

json_t *
handlers_record_json(const struct app *app, const struct record *r)
{
	json_t *o = record_to_json(r);
	json_t *links;
	json_t *variants;
	char url[RECORD_ID_MAX + 128];

	if (o == NULL)
		return NULL;
	links = json_object();
	variants = json_object();
	if (links == NULL || variants == NULL)
		goto fail;
	snprintf(url, sizeof(url), "/v1/images/%s", r->id);
	json_object_set_new(links, "self", json_string(url));
	snprintf(url, sizeof(url), "/v1/images/%s/original", r->id);
	json_object_set_new(links, "original", json_string(url));
	/* The variants the record has, or, before it has any, the ones the
	 * configuration will make. */
	if (r->n_variants > 0) {
		for (size_t i = 0; i < r->n_variants; i++) {
			snprintf(url, sizeof(url), "/v1/images/%s/variants/%s",
				 r->id, r->variants[i].name);
			json_object_set_new(variants, r->variants[i].name,
					    json_string(url));
		}
	} else {
		for (size_t i = 0; i < app->cfg.n_variants; i++) {
			snprintf(url, sizeof(url), "/v1/images/%s/variants/%s",
				 r->id, app->cfg.variants[i].name);
			json_object_set_new(variants, app->cfg.variants[i].name,
					    json_string(url));
		}
	}
	json_object_set_new(links, "variants", variants);
	json_object_set_new(o, "links", links);
	return o;
fail:
	json_decref(variants);
	json_decref(links);
	json_decref(o);
	return NULL;
}

/* The {id} of the route if it has the shape of one; NULL otherwise (such
 * an id cannot exist, so the caller answers 404). */
static const char *
route_id(struct api_request *rq)
{
	const char *id = routes_param(&rq->match, "id");

	if (!util_id_valid(id))
		return NULL;
	util_strlcpy(rq->image_id, id, sizeof(rq->image_id));
	return id;
}

static enum api_next
no_such_image(struct api_request *rq)
{
	return reply_error(rq, IP_ENOTFOUND, "no image with this id");
}

/* Read the record of the route's id; answers (and returns false) when
 * there is none or the table fails. */
static bool
load_record(struct api_request *rq, struct record *rec, enum api_next *ret)
{
	const char *id = route_id(rq);
	struct ip_error err;
	int rc;

	if (id == NULL) {
		*ret = no_such_image(rq);
		return false;
	}
	ip_error_clear(&err);
	rc = table_get(rq->app->table, id, rec, &err);
	if (rc == IP_ENOTFOUND) {
		*ret = no_such_image(rq);
		return false;
	}
	if (rc != IP_OK) {
		*ret = reply_ip_error(rq, &err);
		return false;
	}
	return true;
}

enum api_next
handlers_image_get(struct api_request *rq)
{
	struct record *rec = malloc(sizeof(*rec));
	struct ip_error err;
	enum api_next ret;
	int wait_s;
	int rc;

	if (rec == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	ip_error_clear(&err);
	if (params_wait(api_query(rq, "wait"), rq->app->cfg.wait_max_s, &wait_s,
			&err) != IP_OK) {
		ret = reply_ip_error(rq, &err);
		goto out;
	}
	if (!load_record(rq, rec, &ret))
		goto out;
	/* Past server.max_waiting the record is answered as it is now. */
	if (wait_s > 0 &&
	    (rec->status == RECORD_PENDING ||
	     rec->status == RECORD_PROCESSING) &&
	    admission_wait_begin(rq->app)) {
		rc = app_wait_record(rq->app, rec->id, (int64_t)wait_s * 1000,
				     rec, &err);
		admission_wait_end(rq->app);
		if (rc == IP_ENOTFOUND) {
			ret = no_such_image(rq);
			goto out;
		}
		if (rc != IP_OK && rc != IP_ETIMEOUT) {
			ret = reply_ip_error(rq, &err);
			goto out;
		}
	}
	ret = reply_json(rq, 200, handlers_record_json(rq->app, rec));
out:
	free(rec);
	return ret;
}

enum api_next
handlers_image_list(struct api_request *rq)
{
	struct table_page page = {0};
	char cursor[TABLE_CURSOR_MAX];
	struct ip_error err;
	json_t *items = NULL;
	json_t *body;
	enum api_next ret;
	int limit;
	int rc;

	ip_error_clear(&err);
	if (params_limit(api_query(rq, "limit"), &limit, &err) != IP_OK ||
	    params_cursor(api_query(rq, "cursor"), cursor, sizeof(cursor),
			  &err) != IP_OK)
		return reply_ip_error(rq, &err);
	rc = table_list(rq->app->table, cursor[0] != '\0' ? cursor : NULL,
			(size_t)limit, &page, &err);
	if (rc == IP_EINVAL)
		return reply_error(rq, IP_EINVAL, "invalid cursor");
	if (rc != IP_OK)
		return reply_ip_error(rq, &err);
	items = json_array();
	if (items == NULL)
		goto oom;
	for (size_t i = 0; i < page.n; i++) {
		json_t *it = handlers_record_json(rq->app, &page.items[i]);

		if (it == NULL || json_array_append_new(items, it) != 0)
			goto oom;
	}
	body = json_pack("{s:o, s:o}", "items", items, "next_cursor",
			 page.next_cursor[0] != '\0'
			     ? json_string(page.next_cursor)
			     : json_null());
	items = NULL; /* json_pack's "o" stole it, even on failure */
	ret = reply_json(rq, 200, body);
	table_page_free(&page);
	return ret;
oom:
	json_decref(items);
	table_page_free(&page);
	return reply_error(rq, IP_ENOMEM, "out of memory listing images");
}

enum api_next
handlers_image_delete(struct api_request *rq)
{
	const char *id = route_id(rq);
	struct ip_error err;
	int rc;

	if (id == NULL)
		return no_such_image(rq);
	ip_error_clear(&err);
	rc = ingest_delete(&rq->app->ingest, id, &err);
	if (rc == IP_ENOTFOUND)
		return no_such_image(rq);
	if (rc != IP_OK)
		return reply_ip_error(rq, &err);
	return reply_empty(rq, 204);
}

struct served {
	const char *content_type;
	const char *sha256; /* hex, the ETag */
	int64_t last_modified_ms;
	const char *cache_control;
	/* "Accept" for a `format = auto` variant (every answer: 200, 206,
	 * 304, 302), else NULL */
	const char *vary;
};

static void
add_validators(struct api_request *rq, const char *etag, const char *lm,
	       const struct served *sv)
{
	reply_add_header(rq, "ETag", etag);
	reply_add_header(rq, "Last-Modified", lm);
	reply_add_header(rq, "Cache-Control", sv->cache_control);
	if (sv->vary != NULL)
		reply_add_header(rq, "Vary", sv->vary);
}

/* If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2). */
static bool
not_modified(struct api_request *rq, const char *etag, int64_t lm_ms)
{
	const char *inm = api_header(rq, "If-None-Match");
	const char *ims;
	int64_t since;

	if (inm != NULL)
		return params_etag_match(inm, etag);
	ims = api_header(rq, "If-Modified-Since");
	if (ims == NULL || lm_ms <= 0)
		return false;
	since = params_http_date(ims);
	return since >= 0 && lm_ms / 1000 <= since / 1000;
}

/* If-Range: the Range applies only if the validator still matches. */
static bool
range_applies(struct api_request *rq, const char *etag, const char *lm)
{
	const char *ir = api_header(rq, "If-Range");

	if (ir == NULL)
		return true;
	if (ir[0] == '"')
		return strcmp(ir, etag) == 0; /* strong comparison */
	return strcmp(ir, lm) == 0;
}

/* Answer with the bytes behind fd (ownership taken). */
static enum api_next
serve_fd(struct api_request *rq, int fd, const struct served *sv)
{
	struct stat st;
	char etag[80];
	char lm[40];
	char crange[96];
	int64_t first = 0;
	int64_t last = 0;
	enum params_range kind = PARAMS_RANGE_NONE;
	int status = 200;

	if (fstat(fd, &st) != 0) {
		int e = errno;

		close(fd);
		return reply_error(rq, IP_EIO, "fstat: %s", strerror(e));
	}
	snprintf(etag, sizeof(etag), "\"%s\"", sv->sha256);
	util_http_date(sv->last_modified_ms, lm, sizeof(lm));
	if (not_modified(rq, etag, sv->last_modified_ms)) {
		close(fd);
		add_validators(rq, etag, lm, sv);
		return reply_empty(rq, 304);
	}
	if (range_applies(rq, etag, lm))
		kind = params_range(api_header(rq, "Range"),
				    (int64_t)st.st_size, &first, &last);
	if (kind == PARAMS_RANGE_UNSATISFIABLE) {
		bool ok;

		close(fd);
		ok = reply_set_error(rq, "range_not_satisfiable",
				     "the range is outside the object");
		snprintf(crange, sizeof(crange), "bytes */%" PRId64,
			 (int64_t)st.st_size);
		reply_add_header(rq, "Content-Range", crange);
		return reply_queue(rq, 416, ok);
	}
	if (kind == PARAMS_RANGE_ONE) {
		status = 206;
		snprintf(crange, sizeof(crange),
			 "bytes %" PRId64 "-%" PRId64 "/%" PRId64, first, last,
			 (int64_t)st.st_size);
	} else {
		first = 0;
		last = (int64_t)st.st_size - 1;
	}
	reply_set_file(rq, fd, (uint64_t)first, (uint64_t)(last - first + 1));
	add_validators(rq, etag, lm, sv);
	reply_add_header(rq, "Content-Type",
			 sv->content_type[0] != '\0'
			     ? sv->content_type
			     : "application/octet-stream");
	reply_add_header(rq, "Accept-Ranges", "bytes");
	/* Uploaded bytes are not ours to trust: never sniff, never run. */
	reply_add_header(rq, "X-Content-Type-Options", "nosniff");
	reply_add_header(rq, "Content-Security-Policy",
			 "default-src 'none'; sandbox");
	if (status == 206)
		reply_add_header(rq, "Content-Range", crange);
	return reply_queue(rq, status, true);
}

/*
 * server.bytes = redirect: 302 to a presigned GET of bucket/key, checked
 * to exist first so a missing object is the same 404 as when streamed.
 * IP_ENOTSUP (nothing answered) when the store cannot presign.
 */
static int
redirect_object(struct api_request *rq, const char *bucket, const char *key,
		const struct served *sv, enum api_next *ret)
{
	struct objstore *store = rq->app->store;
	struct objstore_stat st;
	struct ip_error err;
	char *url = malloc(OBJSTORE_PRESIGN_URL_MAX);
	int rc;

	if (url == NULL) {
		*ret = reply_error(rq, IP_ENOMEM, "out of memory");
		return IP_OK;
	}
	rc = objstore_presign(store, bucket, key, "GET",
			      rq->app->cfg.presign_expires_s, url,
			      OBJSTORE_PRESIGN_URL_MAX, &err);
	if (rc == IP_OK)
		rc = objstore_head(store, bucket, key, &st, &err);
	if (rc == IP_OK) {
		reply_add_header(rq, "Location", url);
		reply_add_header(rq, "Cache-Control", "no-store");
		if (sv->vary != NULL)
			reply_add_header(rq, "Vary", sv->vary);
		*ret = reply_empty(rq, 302);
	} else if (rc == IP_ENOTFOUND) {
		*ret = reply_error(rq, IP_ENOTFOUND,
				   "the object of this image is gone");
		rc = IP_OK;
	} else if (rc != IP_ENOTSUP) {
		*ret = reply_ip_error(rq, &err);
		rc = IP_OK;
	}
	free(url);
	return rc;
}

/* Open bucket/key and serve it (or redirect to it); a missing object is
 * a 404. */
static enum api_next
serve_object(struct api_request *rq, const char *bucket, const char *key,
	     const struct served *sv)
{
	struct objstore_stat st;
	struct ip_error err;
	enum api_next ret;
	int fd = -1;
	int rc;

	if (rq->api->bytes_redirect &&
	    redirect_object(rq, bucket, key, sv, &ret) == IP_OK)
		return ret;
	ip_error_clear(&err);
	rc = objstore_open_read(rq->app->store, bucket, key, &fd, &st, &err);
	if (rc == IP_ENOTFOUND)
		return reply_error(rq, IP_ENOTFOUND,
				   "the object of this image is gone");
	if (rc != IP_OK)
		return reply_ip_error(rq, &err);
	return serve_fd(rq, fd, sv);
}

/* The bytes routes take only a signed URL's parameters: a size asked
 * for as ?w=300 would otherwise be silently ignored. */
static bool
bytes_query_ok(struct api_request *rq, enum api_next *ret)
{
	static const char *const known[] = {"expires", "kid", "sig", NULL};
	struct ip_error err;

	if (query_check_known(&rq->query, known, &err) == IP_OK)
		return true;
	*ret = reply_error(rq, IP_EINVAL,
			   "%s: a variant's size and format go in the path, "
			   "as /v1/images/{id}/variants/w_300,h_200,f_webp "
			   "(docs/API.md \"Variants on demand\")",
			   err.msg);
	return false;
}

enum api_next
handlers_image_original(struct api_request *rq)
{
	struct record *rec = malloc(sizeof(*rec));
	struct served sv;
	enum api_next ret;

	if (rec == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	if (!bytes_query_ok(rq, &ret) || !load_record(rq, rec, &ret))
		goto out;
	sv.content_type = rec->content_type;
	sv.sha256 = rec->sha256;
	sv.last_modified_ms = rec->uploaded_at;
	sv.cache_control = CACHE_ORIGINAL;
	sv.vary = NULL;
	ret = serve_object(rq, rec->input_bucket, rec->input_key, &sv);
out:
	free(rec);
	return ret;
}

enum api_next
handlers_image_variant(struct api_request *rq)
{
	const char *name = routes_param(&rq->match, "variant");
	const struct record_variant *v;
	struct record *rec = malloc(sizeof(*rec));
	struct served sv;
	struct ip_error err;
	enum api_next ret;
	bool vary = false;
	int rc;

	if (rec == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	if (!bytes_query_ok(rq, &ret) || !load_record(rq, rec, &ret))
		goto out;
	/* Documented choice: 409, not 404, while the variant is not made
	 * yet - it will exist, the client should come back. */
	if (rec->status == RECORD_FAILED) {
		ret = reply_error(rq, IP_ECONFLICT,
				  "image processing failed: %s", rec->error);
		goto out;
	}
	if (rec->status != RECORD_DONE) {
		ret =
		    reply_error(rq, IP_ECONFLICT,
				"image is still processing (status %s); "
				"retry, or wait with GET /v1/images/%s?wait=30",
				record_status_name(rec->status), rec->id);
		goto out;
	}
	/* A preset, a spec, or another format of an auto variant: found,
	 * or made now (ondemand.h). */
	ip_error_clear(&err);
	rc = ondemand_variant(rq, rec, name, &v, &vary, &err);
	if (rc == IP_ERETRY && rq->retry_after_s > 0) {
		ret = reply_retry_after(rq, rq->retry_after_s, &err);
		goto out;
	}
	if (rc != IP_OK) {
		ret = reply_ip_error(rq, &err);
		goto out;
	}
	/* Every answer of an auto variant depends on Accept: a cache
	 * must key it so. */
	sv.vary = vary ? "Accept" : NULL;
	sv.content_type = v->content_type;
	sv.sha256 = v->sha256;
	sv.last_modified_ms =
	    rec->processed_at > 0 ? rec->processed_at : rec->uploaded_at;
	sv.cache_control = !rq->api->auth.on || rq->app->cfg.public_variants
			       ? CACHE_VARIANT_PUBLIC
			       : CACHE_VARIANT_PRIVATE;
	ret = serve_object(rq, v->bucket, v->key, &sv);
out:
	free(rec);
	return ret;
}

enum api_next
handlers_healthz(struct api_request *rq)
{
	return reply_json(rq, 200, json_pack("{s:s}", "status", "ok"));
}

enum api_next
handlers_readyz(struct api_request *rq)
{
	struct ip_error err;

	if (atomic_load(&rq->app->stopping) ||
	    (rq->closing != NULL && atomic_load(rq->closing)))
		return reply_queue(
		    rq, 503,
		    reply_set_error(rq, "retry_later", "shutting down"));
	ip_error_clear(&err);
	if (app_ready(rq->app, &err) != IP_OK) {
		/* The reason is the point of /readyz: say which backend,
		 * or that the disk is full. */
		return reply_queue(rq, 503,
				   reply_set_error(rq,
						   err.code == IP_ENOSPACE
						       ? ip_code_name(err.code)
						       : "backend_unavailable",
						   err.msg));
	}
	return reply_json(rq, 200, json_pack("{s:s}", "status", "ready"));
}

struct metric_def {
	const char *name;
	const char *type;
	const char *help;
	bool of_api; /* offset in struct api_metrics, else app_metrics */
	size_t offset;
	int ms_to_s; /* counter in ms, exposed in seconds */
};

#define METRIC(n, t, h, f)                                                     \
	{                                                                      \
		n, t, h, false, offsetof(struct app_metrics, f), 0             \
	}
#define API_METRIC(n, t, h, f)                                                 \
	{                                                                      \
		n, t, h, true, offsetof(struct api_metrics, f), 0              \
	}

static const struct metric_def metric_defs[] = {
    API_METRIC("imgpipe_http_requests_total", "counter",
	       "HTTP requests answered.", http_requests),
    API_METRIC("imgpipe_http_errors_total", "counter",
	       "HTTP answers with a 4xx or 5xx status.", http_errors),
    API_METRIC("imgpipe_uploads_accepted_total", "counter",
	       "Uploads acknowledged (201/202).", uploads_accepted),
    API_METRIC("imgpipe_uploads_rejected_total", "counter",
	       "Uploads refused or failed.", uploads_rejected),
    API_METRIC("imgpipe_upload_bytes_total", "counter",
	       "Bytes of accepted uploads.", upload_bytes),
    METRIC("imgpipe_images_done_total", "counter", "Images brought to done.",
	   images_done),
    METRIC("imgpipe_images_failed_total", "counter", "Images marked failed.",
	   images_failed),
    METRIC("imgpipe_attempts_retried_total", "counter",
	   "Processing attempts retried after a failure.", attempts_retried),
    METRIC("imgpipe_dead_lettered_total", "counter",
	   "Events moved to the dead-letter store.", dead_lettered),
    METRIC("imgpipe_webhooks_delivered_total", "counter",
	   "Webhook deliveries answered 2xx.", webhooks_delivered),
    METRIC("imgpipe_webhooks_failed_total", "counter",
	   "Webhook attempts that failed (retried or dead).", webhooks_failed),
    METRIC("imgpipe_webhooks_dead_total", "counter",
	   "Webhook deliveries dead after their last attempt.", webhooks_dead),
    {"imgpipe_processing_seconds_total", "counter",
     "Time spent processing images.", false,
     offsetof(struct app_metrics, processing_ms_total), 1},
    API_METRIC("imgpipe_inflight_uploads", "gauge",
	       "Uploads being received now.", inflight_uploads),
};

static void
metric_line(FILE *f, const char *name, const char *type, const char *help,
	    const char *value)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name,
		type, name, value);
}

/* Back-pressure (api/admission.h): this process's ledger and refusals. */
static void
metrics_admission(FILE *f, const struct app *app)
{
	struct admission_stats st;
	const struct {
		const char *name;
		const char *type;
		const char *help;
		const int64_t *value;
	} rows[] = {
	    {"imgpipe_admitted_images", "gauge",
	     "Uploads admitted by this process and not yet finished.",
	     &st.images},
	    {"imgpipe_admitted_pixels", "gauge",
	     "Declared pixels of the admitted, unfinished uploads.",
	     &st.pixels},
	    {"imgpipe_uploads_refused_full_total", "counter",
	     "Uploads refused (429) because the queue was full.",
	     &st.refused_full},
	    {"imgpipe_uploads_rate_limited_total", "counter",
	     "Uploads refused (429) by a client's rate limit.",
	     &st.refused_rate},
	    {"imgpipe_auth_refused_total", "counter",
	     "Requests refused (429) after too many failed authentications "
	     "from one client (auth.max_failures).",
	     &st.refused_auth},
	    {"imgpipe_waiting_requests", "gauge",
	     "Requests holding a ?wait= now.", &st.waiting},
	    {"imgpipe_waits_capped_total", "counter",
	     "?wait= requests answered at once (server.max_waiting).",
	     &st.waits_capped},
	};
	char v[32];

	admission_stats(app, &st);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(rows); i++) {
		snprintf(v, sizeof(v), "%" PRId64, *rows[i].value);
		metric_line(f, rows[i].name, rows[i].type, rows[i].help, v);
	}
}

enum api_next
handlers_metrics(struct api_request *rq)
{
	struct app *app = rq->app;
	char *text = NULL;
	size_t len = 0;
	char v[64];
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(metric_defs); i++) {
		const struct metric_def *d = &metric_defs[i];
		const char *base = d->of_api ? (const char *)&rq->api->metrics
					     : (const char *)&app->metrics;
		const _Atomic int64_t *p =
		    (const _Atomic int64_t *)(base + d->offset);
		int64_t n = atomic_load(p);

		if (d->ms_to_s)
			snprintf(v, sizeof(v), "%.3f", (double)n / 1000.0);
		else
			snprintf(v, sizeof(v), "%" PRId64, n);
		metric_line(f, d->name, d->type, d->help, v);
	}
	if (app->queue != NULL) {
		struct ip_error err;
		int64_t visible = 0;
		int64_t inflight = 0;

		if (queue_depth(app->queue, &visible, &inflight, &err) ==
		    IP_OK) {
			snprintf(v, sizeof(v), "%" PRId64, visible);
			metric_line(f, "imgpipe_queue_visible", "gauge",
				    "Events waiting in the queue.", v);
			snprintf(v, sizeof(v), "%" PRId64, inflight);
			metric_line(f, "imgpipe_queue_inflight", "gauge",
				    "Events being processed.", v);
		}
	}
	metrics_admission(f, app);
	metrics_write(f, rq->api);
	snprintf(v, sizeof(v), "%.3f",
		 (double)(util_now_ms() - app->started_ms) / 1000.0);
	metric_line(f, "imgpipe_uptime_seconds", "gauge",
		    "Seconds since the process started.", v);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		return reply_error(rq, IP_ENOMEM, "out of memory");
	}
	reply_set_memory(rq, text, len);
	reply_add_header(rq, "Content-Type",
			 "text/plain; version=0.0.4; charset=utf-8");
	reply_add_header(rq, "Cache-Control", "no-store");
	return reply_queue(rq, 200, true);
}

bool
handlers_load_record(struct api_request *rq, struct record *rec,
		     enum api_next *ret)
{
	return load_record(rq, rec, ret);
}
