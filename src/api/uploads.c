/*
 * uploads.c - POST /v1/uploads (see uploads.h).  Called through api.c on
 * the request's thread; blocks on the table.
 *
 * DESIGN.  The record is written after the URL is made, so a store that
 * cannot presign leaves nothing behind; the object comes later (or never:
 * the record then stays `pending`, as a gateway upload whose event was
 * lost would).  The declared size and type are the client's word: the
 * function reads the real ones from the object when it runs.  The URL
 * signs only Host, so what is PUT is bounded by nothing but the store's
 * own limit; limits.max_body is checked against the declared size here,
 * and the function refuses larger images by their pixels as for any
 * upload.
 */
#include "api/uploads.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/admission.h"
#include "api/reply.h"
#include "app/app.h"
#include "core/util.h"
#include "function/function.h"
#include "function/ingest.h"
#include "objstore/objstore.h"
#include "table/table.h"

#define UPLOADS_TYPE_MAX 64

enum api_next
uploads_begin(struct api_request *rq)
{
	const char *cl = api_header(rq, "Content-Length");

	if (cl != NULL && strtoull(cl, NULL, 10) > UPLOADS_BODY_MAX)
		return reply_error(rq, IP_ETOOBIG,
				   "an upload request is at most %d bytes",
				   UPLOADS_BODY_MAX);
	return API_NEXT_BODY;
}

int
uploads_body(struct api_request *rq, const char *data, size_t len)
{
	if (!rq->body_over && (rq->body.len + len > UPLOADS_BODY_MAX ||
			       buf_add(&rq->body, data, len, NULL) != IP_OK))
		rq->body_over = true;
	return rq->body_over && rq->body.len + len > 4 * UPLOADS_BODY_MAX ? -1
									  : 0;
}

/* A media type: printable ASCII without spaces or quotes, with a '/'. */
static bool
type_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n >= UPLOADS_TYPE_MAX || strchr(t, '/') == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] <= ' ' || t[i] >= 127 || t[i] == '"' || t[i] == '\\')
			return false;
	return true;
}

/* The request document into r (name sanitised, type, bytes). */
static int
parse_request(struct api_request *rq, struct record *r, struct ip_error *err)
{
	const struct config *cfg = &rq->app->cfg;
	json_error_t jerr;
	json_t *doc = json_loadb(buf_str(&rq->body), rq->body.len,
				 JSON_REJECT_DUPLICATES, &jerr);
	json_t *name = json_object_get(doc, "name");
	json_t *type = json_object_get(doc, "content_type");
	json_t *bytes = json_object_get(doc, "bytes");
	int rc = IP_OK;

	if (!json_is_object(doc))
		rc = ip_error_set(err, IP_EINVAL,
				  "the body is not a JSON object");
	else if (name != NULL && !json_is_string(name))
		rc = ip_error_set(err, IP_EINVAL, "name: not a string");
	else if (type != NULL &&
		 (!json_is_string(type) || !type_ok(json_string_value(type))))
		rc = ip_error_set(err, IP_EINVAL,
				  "content_type: not a media type");
	else if (!json_is_integer(bytes) || json_integer_value(bytes) <= 0)
		rc = ip_error_set(err, IP_EINVAL,
				  "bytes: a positive integer is required");
	else if (json_integer_value(bytes) > cfg->max_body_bytes)
		rc = ip_error_set(err, IP_ETOOBIG,
				  "bytes: an upload is at most %lld bytes",
				  (long long)cfg->max_body_bytes);
	if (rc == IP_OK) {
		ingest_sanitize_name(
		    name != NULL ? json_string_value(name) : "",
		    (size_t)cfg->max_name_bytes, r->name, sizeof(r->name));
		if (type != NULL)
			util_strlcpy(r->content_type, json_string_value(type),
				     sizeof(r->content_type));
		r->bytes = (int64_t)json_integer_value(bytes);
	}
	json_decref(doc);
	return rc;
}

static json_t *
answer_json(struct api_request *rq, const struct record *r, const char *url,
	    int64_t expires_ms)
{
	char when[UTIL_RFC3339_SIZE];
	json_t *headers = json_object();
	json_t *rec = handlers_record_json(rq->app, r);
	json_t *o;

	if (headers != NULL && r->content_type[0] != '\0')
		json_object_set_new(headers, "Content-Type",
				    json_string(r->content_type));
	o = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:s}, s:O}", "id", r->id,
		      "status", record_status_name(r->status), "upload",
		      "method", "PUT", "url", url, "headers", headers,
		      "expires_at",
		      util_rfc3339(expires_ms, when, sizeof(when)), "links",
		      json_object_get(rec, "links"));
	json_decref(rec);
	return o;
}

/* The client's upload rate, and the count bound of the queue: a presigned
 * upload is work to come.  Its pixels cannot be known before the object
 * arrives, so no ledger entry is kept (one would stay for ever if the
 * client never PUTs). */
static bool
room_for_one(struct api_request *rq, struct ip_error *err, int *retry)
{
	struct admission_ticket t;

	if (admission_rate(rq->app,
			   rq->key_name[0] != '\0' ? rq->key_name : rq->client,
			   retry, err) != IP_OK ||
	    admission_reserve(rq->app, 0, &t, retry, err) != IP_OK)
		return false;
	admission_cancel(rq->app, &t);
	return true;
}

enum api_next
uploads_end(struct api_request *rq)
{
	struct app *app = rq->app;
	struct record r;
	struct ip_error err;
	char *url = NULL;
	int64_t expires_s = app->cfg.presign_expires_s;
	char location[RECORD_ID_MAX + 16];
	int retry = 0;
	bool ok;
	int rc;

	if (rq->body_over)
		return reply_error(rq, IP_ETOOBIG,
				   "an upload request is at most %d bytes",
				   UPLOADS_BODY_MAX);
	memset(&r, 0, sizeof(r));
	util_strlcpy(r.request_id, rq->id, sizeof(r.request_id));
	rc = parse_request(rq, &r, &err);
	if (rc != IP_OK)
		return reply_ip_error(rq, &err);
	util_new_id(r.id, sizeof(r.id));
	util_strlcpy(r.input_bucket, app->cfg.input_bucket,
		     sizeof(r.input_bucket));
	rc = function_input_key(r.id, r.name, r.input_key, sizeof(r.input_key),
				&err);
	url = malloc(OBJSTORE_PRESIGN_URL_MAX);
	if (url == NULL)
		return reply_error(rq, IP_ENOMEM, "out of memory");
	if (rc == IP_OK)
		rc = objstore_presign(app->store, r.input_bucket, r.input_key,
				      "PUT", expires_s, url,
				      OBJSTORE_PRESIGN_URL_MAX, &err);
	if (rc == IP_ENOTSUP) {
		free(url);
		return reply_queue(
		    rq, 501,
		    reply_set_error(rq, "not_supported",
				    "this object store cannot presign upload "
				    "URLs: upload with PUT /v1/images/{name}"));
	}
	if (rc == IP_OK && !room_for_one(rq, &err, &retry)) {
		free(url);
		return reply_retry_after(rq, retry, &err);
	}
	r.uploaded_at = util_now_ms();
	r.status = RECORD_PENDING;
	r.orientation = 1;
	r.pages = 1;
	if (rc == IP_OK)
		rc = table_put(app->table, &r, &err);
	if (rc != IP_OK) {
		free(url);
		return reply_ip_error(rq, &err);
	}
	ok = reply_set_json(
	    rq, answer_json(rq, &r, url, r.uploaded_at + expires_s * 1000));
	free(url);
	snprintf(location, sizeof(location), "/v1/images/%s", r.id);
	reply_add_header(rq, "Location", location);
	return reply_queue(rq, 201, ok);
}
