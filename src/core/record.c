/*
 * record.c - the record's JSON form (DESIGN §6), both ways.  Used by the
 * HTTP API, by table backends to store records, and by tests.
 *
 * Decoding is strict about types and lengths of known attributes (a
 * DynamoDB item or a row from disk is outside input too) and ignores
 * unknown ones, so records written by a newer version still load.
 */
#include "core/record.h"
#include "core/util.h"

#include <jansson.h>
#include <string.h>

static const char *const status_names[] = {"pending", "processing", "done",
					   "failed"};

const char *
record_status_name(enum record_status s)
{
	return (unsigned)s < UTIL_ARRAY_LEN(status_names) ? status_names[s]
							  : "unknown";
}

int
record_status_parse(const char *s)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(status_names); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (int)i;
	return -1;
}

/* A time attribute: RFC 3339, or null when not set. */
static json_t *
time_json(int64_t ms)
{
	char buf[UTIL_RFC3339_SIZE];

	if (ms <= 0)
		return json_null();
	return json_string(util_rfc3339(ms, buf, sizeof(buf)));
}

static json_t *
opt_string(const char *s)
{
	return s[0] == '\0' ? json_null() : json_string(s);
}

static json_t *
variant_json(const struct record_variant *v)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:o, "
			 "s:b}",
			 "name", v->name, "bucket", v->bucket, "key", v->key,
			 "format", v->format, "content_type", v->content_type,
			 "width", v->width, "height", v->height, "bytes",
			 (json_int_t)v->bytes, "sha256", v->sha256,
			 "fingerprint", opt_string(v->fingerprint), "on_demand",
			 v->on_demand);
}

static json_t *
warnings_json(const struct record *r)
{
	json_t *a = json_array();

	for (size_t i = 0;
	     a != NULL && i < r->n_warnings && i < RECORD_WARNINGS_MAX; i++)
		if (json_array_append_new(a, json_string(r->warnings[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *
record_to_json(const struct record *r)
{
	json_t *o = json_object();
	json_t *vs = json_array();
	int bad = 0;

	if (o == NULL || vs == NULL)
		goto fail;
	bad |= json_object_set_new(o, "id", json_string(r->id));
	bad |= json_object_set_new(o, "name", json_string(r->name));
	bad |= json_object_set_new(o, "input_bucket",
				   json_string(r->input_bucket));
	bad |= json_object_set_new(o, "input_key", json_string(r->input_key));
	bad |= json_object_set_new(o, "content_type",
				   json_string(r->content_type));
	bad |= json_object_set_new(o, "format", json_string(r->format));
	bad |= json_object_set_new(o, "bytes", json_integer(r->bytes));
	bad |= json_object_set_new(o, "sha256", json_string(r->sha256));
	bad |= json_object_set_new(o, "stored_width",
				   json_integer(r->stored_width));
	bad |= json_object_set_new(o, "stored_height",
				   json_integer(r->stored_height));
	bad |= json_object_set_new(o, "width", json_integer(r->width));
	bad |= json_object_set_new(o, "height", json_integer(r->height));
	bad |=
	    json_object_set_new(o, "orientation", json_integer(r->orientation));
	bad |= json_object_set_new(o, "has_alpha", json_boolean(r->has_alpha));
	bad |= json_object_set_new(o, "original_stripped",
				   json_boolean(r->original_stripped));
	bad |=
	    json_object_set_new(o, "colourspace", opt_string(r->colourspace));
	bad |= json_object_set_new(o, "pages", json_integer(r->pages));
	bad |= json_object_set_new(o, "uploaded_at", time_json(r->uploaded_at));
	bad |= json_object_set_new(o, "status",
				   json_string(record_status_name(r->status)));
	bad |= json_object_set_new(o, "attempts", json_integer(r->attempts));
	bad |= json_object_set_new(o, "error", opt_string(r->error));
	bad |=
	    json_object_set_new(o, "processed_at", time_json(r->processed_at));
	bad |= json_object_set_new(o, "processing_ms",
				   r->processed_at > 0 || r->processing_ms > 0
				       ? json_integer(r->processing_ms)
				       : json_null());
	bad |=
	    json_object_set_new(o, "placeholder", opt_string(r->placeholder));
	bad |=
	    json_object_set_new(o, "dominant_colour", opt_string(r->dominant));
	bad |= json_object_set_new(o, "warnings", warnings_json(r));
	bad |= json_object_set_new(o, "version", json_integer(r->version));
	bad |= json_object_set_new(o, "request_id", opt_string(r->request_id));
	for (size_t i = 0; i < r->n_variants && i < RECORD_VARIANTS_MAX; i++)
		bad |= json_array_append_new(vs, variant_json(&r->variants[i]));
	bad |= json_object_set_new(o, "variants", vs);
	vs = NULL;
	if (bad)
		goto fail;
	return o;
fail:
	json_decref(vs);
	json_decref(o);
	return NULL;
}

char *
record_to_string(const struct record *r)
{
	json_t *o = record_to_json(r);
	char *s;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/*
 * The getters below accumulate: each does nothing once *rc holds an error,
 * so a decoder is a flat list of calls and the first error wins.
 */

/* Copy a string attribute; absent or null leaves dst empty. */
static int
get_str1(const json_t *o, const char *name, char *dst, size_t size,
	 struct ip_error *err)
{
	const json_t *v = json_object_get(o, name);

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return IP_OK;
	if (!json_is_string(v))
		return ip_error_set(err, IP_EINVAL, "record.%s: not a string",
				    name);
	if (json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return ip_error_set(
		    err, IP_EINVAL,
		    "record.%s: longer than %zu bytes or has NUL", name,
		    size - 1);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return IP_OK;
}

static void
get_str(int *rc, const json_t *o, const char *name, char *dst, size_t size,
	struct ip_error *err)
{
	if (*rc == IP_OK)
		*rc = get_str1(o, name, dst, size, err);
}

static int
get_int1(const json_t *o, const char *name, int64_t lo, int64_t hi,
	 int64_t *dst, struct ip_error *err)
{
	const json_t *v = json_object_get(o, name);

	*dst = 0;
	if (v == NULL || json_is_null(v))
		return IP_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return ip_error_set(err, IP_EINVAL,
				    "record.%s: not an integer in [%lld, %lld]",
				    name, (long long)lo, (long long)hi);
	*dst = json_integer_value(v);
	return IP_OK;
}

static void
get_int(int *rc, const json_t *o, const char *name, int64_t lo, int64_t hi,
	int64_t *dst, struct ip_error *err)
{
	if (*rc == IP_OK)
		*rc = get_int1(o, name, lo, hi, dst, err);
}

static void
get_time(int *rc, const json_t *o, const char *name, int64_t *dst,
	 struct ip_error *err)
{
	char buf[UTIL_RFC3339_SIZE];

	*dst = 0;
	get_str(rc, o, name, buf, sizeof(buf), err);
	if (*rc != IP_OK || buf[0] == '\0')
		return;
	*dst = util_rfc3339_parse(buf);
	if (*dst < 0)
		*rc = ip_error_set(err, IP_EINVAL,
				   "record.%s: not an RFC 3339 UTC time", name);
}

#define DIM_MAX 1000000000LL
#define BIG_MAX 4611686018427387904LL

/* "fingerprint" and "on_demand" are newer than the records some tables
 * hold: absent (or null) reads as "" and false. */
static int
variant_fingerprint_from_json(const json_t *o, struct record_variant *v,
			      struct ip_error *err)
{
	const json_t *fp = json_object_get(o, "fingerprint");
	const json_t *od = json_object_get(o, "on_demand");

	if (fp != NULL && !json_is_null(fp)) {
		const char *s = json_is_string(fp) ? json_string_value(fp) : "";
		size_t n = strlen(s);

		if (n != RECORD_FINGERPRINT_SIZE - 1 ||
		    strspn(s, "0123456789abcdef") != n)
			return ip_error_set(err, IP_EINVAL,
					    "record.variants.fingerprint: "
					    "not %d hex digits",
					    RECORD_FINGERPRINT_SIZE - 1);
		memcpy(v->fingerprint, s, n + 1);
	}
	if (od != NULL && !json_is_null(od)) {
		if (!json_is_boolean(od))
			return ip_error_set(err, IP_EINVAL,
					    "record.variants.on_demand: not a "
					    "boolean");
		v->on_demand = json_is_true(od);
	}
	return IP_OK;
}

static int
variant_from_json(const json_t *o, struct record_variant *v,
		  struct ip_error *err)
{
	int64_t w, h, bytes;
	int rc = IP_OK;

	if (!json_is_object(o))
		return ip_error_set(err, IP_EINVAL,
				    "record.variants: not an object");
	memset(v, 0, sizeof(*v));
	get_str(&rc, o, "name", v->name, sizeof(v->name), err);
	get_str(&rc, o, "bucket", v->bucket, sizeof(v->bucket), err);
	get_str(&rc, o, "key", v->key, sizeof(v->key), err);
	get_str(&rc, o, "format", v->format, sizeof(v->format), err);
	get_str(&rc, o, "content_type", v->content_type,
		sizeof(v->content_type), err);
	get_str(&rc, o, "sha256", v->sha256, sizeof(v->sha256), err);
	get_int(&rc, o, "width", 0, DIM_MAX, &w, err);
	get_int(&rc, o, "height", 0, DIM_MAX, &h, err);
	get_int(&rc, o, "bytes", 0, BIG_MAX, &bytes, err);
	if (rc == IP_OK)
		rc = variant_fingerprint_from_json(o, v, err);
	if (rc != IP_OK)
		return rc;
	v->width = (int)w;
	v->height = (int)h;
	v->bytes = bytes;
	return IP_OK;
}

static int
warnings_from_json(const json_t *o, struct record *r, struct ip_error *err)
{
	const json_t *ws = json_object_get(o, "warnings");

	if (ws == NULL || json_is_null(ws))
		return IP_OK;
	if (!json_is_array(ws) || json_array_size(ws) > RECORD_WARNINGS_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "record.warnings: not an array of at most "
				    "%d",
				    RECORD_WARNINGS_MAX);
	for (size_t i = 0; i < json_array_size(ws); i++) {
		const json_t *w = json_array_get(ws, i);

		if (!json_is_string(w) ||
		    json_string_length(w) >= RECORD_WARNING_MAX ||
		    strlen(json_string_value(w)) != json_string_length(w))
			return ip_error_set(err, IP_EINVAL,
					    "record.warnings: not strings of "
					    "at most %d bytes",
					    RECORD_WARNING_MAX - 1);
		memcpy(r->warnings[i], json_string_value(w),
		       json_string_length(w) + 1);
	}
	r->n_warnings = json_array_size(ws);
	return IP_OK;
}

int
record_from_json(const json_t *o, struct record *r, struct ip_error *err)
{
	char status[16];
	int64_t sw, sh, w, h, orient, pages, attempts;
	const json_t *v, *vs;
	int rc = IP_OK;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(o))
		return ip_error_set(err, IP_EINVAL, "record: not an object");
	get_str(&rc, o, "id", r->id, sizeof(r->id), err);
	get_str(&rc, o, "name", r->name, sizeof(r->name), err);
	get_str(&rc, o, "input_bucket", r->input_bucket,
		sizeof(r->input_bucket), err);
	get_str(&rc, o, "input_key", r->input_key, sizeof(r->input_key), err);
	get_str(&rc, o, "content_type", r->content_type,
		sizeof(r->content_type), err);
	get_str(&rc, o, "format", r->format, sizeof(r->format), err);
	get_str(&rc, o, "sha256", r->sha256, sizeof(r->sha256), err);
	get_str(&rc, o, "colourspace", r->colourspace, sizeof(r->colourspace),
		err);
	get_str(&rc, o, "status", status, sizeof(status), err);
	get_str(&rc, o, "error", r->error, sizeof(r->error), err);
	get_str(&rc, o, "placeholder", r->placeholder, sizeof(r->placeholder),
		err);
	get_str(&rc, o, "dominant_colour", r->dominant, sizeof(r->dominant),
		err);
	get_str(&rc, o, "request_id", r->request_id, sizeof(r->request_id),
		err);
	get_int(&rc, o, "bytes", 0, BIG_MAX, &r->bytes, err);
	get_int(&rc, o, "stored_width", 0, DIM_MAX, &sw, err);
	get_int(&rc, o, "stored_height", 0, DIM_MAX, &sh, err);
	get_int(&rc, o, "width", 0, DIM_MAX, &w, err);
	get_int(&rc, o, "height", 0, DIM_MAX, &h, err);
	get_int(&rc, o, "orientation", 0, 8, &orient, err);
	get_int(&rc, o, "pages", 0, DIM_MAX, &pages, err);
	get_int(&rc, o, "attempts", 0, 1000000, &attempts, err);
	get_int(&rc, o, "processing_ms", 0, BIG_MAX, &r->processing_ms, err);
	get_int(&rc, o, "version", 0, BIG_MAX, &r->version, err);
	get_time(&rc, o, "uploaded_at", &r->uploaded_at, err);
	get_time(&rc, o, "processed_at", &r->processed_at, err);
	if (rc != IP_OK)
		return rc;
	if (!util_id_valid(r->id))
		return ip_error_set(err, IP_EINVAL, "record.id: not an id");
	if (r->request_id[0] != '\0' && !util_request_id_ok(r->request_id))
		return ip_error_set(err, IP_EINVAL,
				    "record.request_id: not a request id");
	rc = record_status_parse(status);
	if (rc < 0)
		return ip_error_set(err, IP_EINVAL, "record.status: unknown");
	r->status = (enum record_status)rc;
	r->stored_width = (int)sw;
	r->stored_height = (int)sh;
	r->width = (int)w;
	r->height = (int)h;
	r->orientation = (int)orient;
	r->pages = (int)pages;
	r->attempts = (int)attempts;
	v = json_object_get(o, "has_alpha");
	r->has_alpha = v != NULL && json_is_true(v);
	v = json_object_get(o, "original_stripped");
	r->original_stripped = v != NULL && json_is_true(v);
	rc = warnings_from_json(o, r, err);
	if (rc != IP_OK)
		return rc;
	vs = json_object_get(o, "variants");
	if (vs != NULL && !json_is_null(vs)) {
		if (!json_is_array(vs) ||
		    json_array_size(vs) > RECORD_VARIANTS_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "record.variants: not an array of "
					    "at most %d",
					    RECORD_VARIANTS_MAX);
		for (size_t i = 0; i < json_array_size(vs); i++) {
			rc = variant_from_json(json_array_get(vs, i),
					       &r->variants[i], err);
			if (rc != IP_OK)
				return rc;
		}
		r->n_variants = json_array_size(vs);
	}
	return IP_OK;
}

int
record_from_string(const char *text, size_t len, struct record *r,
		   struct ip_error *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int rc;

	if (o == NULL)
		return ip_error_set(err, IP_EINVAL, "record: %s", jerr.text);
	rc = record_from_json(o, r, err);
	json_decref(o);
	return rc;
}

const struct record_variant *
record_variant_get(const struct record *r, const char *name)
{
	for (size_t i = 0; i < r->n_variants; i++)
		if (strcmp(r->variants[i].name, name) == 0)
			return &r->variants[i];
	return NULL;
}

const struct record_variant *
record_variant_get_format(const struct record *r, const char *name,
			  const char *format)
{
	for (size_t i = 0; i < r->n_variants; i++)
		if (strcmp(r->variants[i].name, name) == 0 &&
		    strcmp(r->variants[i].format, format) == 0)
			return &r->variants[i];
	return NULL;
}
