/*
 * event.c - S3 event notifications: build (gateway) and parse (function).
 * See event.h for the tolerance rules.  Any thread.
 */
#include "core/event.h"
#include "core/util.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
key_char_plain(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
	       c == '/';
}

int
event_key_encode(const char *key, char *out, size_t out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if (o + 4 > out_len)
			return IP_ETOOBIG;
		if (key_char_plain(*p)) {
			out[o++] = (char)*p;
		} else if (*p == ' ') {
			out[o++] = '+';
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o + 1 > out_len)
		return IP_ETOOBIG;
	out[o] = '\0';
	return IP_OK;
}

int
event_key_decode(const char *in, int encoded, char *out, size_t out_len,
		 struct ip_error *err)
{
	size_t n = strlen(in);
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		int c = encoded ? util_pct_next(in, n, &i, true)
				: (unsigned char)in[i++];

		if (c < 0)
			return ip_error_set(err, IP_EINVAL,
					    "event key: bad %%-escape");
		if (c == 0)
			return ip_error_set(err, IP_EINVAL, "event key: NUL");
		if (o + 1 >= out_len)
			return ip_error_set(err, IP_ETOOBIG,
					    "event key: longer than %zu bytes",
					    out_len - 1);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return IP_OK;
}

char *
event_build(const char *region, const char *bucket, const char *key,
	    int64_t size, const char *etag, int64_t time_ms)
{
	return event_build_request(region, bucket, key, size, etag, time_ms,
				   NULL);
}

static char *build(const char *region, const char *bucket, const char *key,
		   int64_t size, const char *etag, int64_t time_ms,
		   const char *request_id, const char *variants);

char *
event_build_request(const char *region, const char *bucket, const char *key,
		    int64_t size, const char *etag, int64_t time_ms,
		    const char *request_id)
{
	return build(region, bucket, key, size, etag, time_ms, request_id,
		     NULL);
}

char *
event_build_reprocess(const char *region, const char *bucket, const char *key,
		      int64_t size, const char *etag, int64_t time_ms,
		      const char *variants)
{
	if (variants == NULL || !event_variants_valid(variants))
		return NULL;
	return build(region, bucket, key, size, etag, time_ms, NULL, variants);
}

bool
event_variants_valid(const char *s)
{
	size_t n = strlen(s);

	return n < EVENT_VARIANTS_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-,") == n;
}

static char *
build(const char *region, const char *bucket, const char *key, int64_t size,
      const char *etag, int64_t time_ms, const char *request_id,
      const char *variants)
{
	char enc[3 * RECORD_KEY_MAX + 1];
	char arn[RECORD_BUCKET_MAX + 16];
	char when[40];
	char seq[24];
	json_t *doc;
	char *text;

	if (event_key_encode(key, enc, sizeof(enc)) != IP_OK)
		return NULL;
	snprintf(arn, sizeof(arn), "arn:aws:s3:::%s", bucket);
	snprintf(seq, sizeof(seq), "%016llX", (unsigned long long)time_ms);
	util_rfc3339(time_ms, when, sizeof(when));
	doc = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:{s:s, s:s},"
			" s:{s:s, s:I, s:s, s:s}}}]}",
			"Records", "eventVersion", "2.1", "eventSource",
			"aws:s3", "awsRegion", region, "eventTime", when,
			"eventName", "ObjectCreated:Put", "s3",
			"s3SchemaVersion", "1.0", "bucket", "name", bucket,
			"arn", arn, "object", "key", enc, "size",
			(json_int_t)size, "eTag", etag, "sequencer", seq);
	if (doc == NULL)
		return NULL;
	if (request_id != NULL && request_id[0] != '\0')
		json_object_set_new(
		    json_array_get(json_object_get(doc, "Records"), 0),
		    "responseElements",
		    json_pack("{s:s}", "x-amz-request-id", request_id));
	if (variants != NULL)
		json_object_set_new(
		    json_array_get(json_object_get(doc, "Records"), 0),
		    "imgpipe", json_pack("{s:s}", "variants", variants));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

static void
copy_str(const json_t *v, char *dst, size_t size)
{
	dst[0] = '\0';
	if (json_is_string(v))
		util_strlcpy(dst, json_string_value(v), size);
}

/* The next free record of ev, zeroed, growing the array (bounded by the
 * document: every record takes more bytes of JSON than it has fields). */
static struct event_record *
add_record(struct event *ev, const char *message_id, struct ip_error *err)
{
	struct event_record *er;

	if (ev->n == ev->cap) {
		size_t cap = ev->cap == 0 ? 4 : ev->cap * 2;
		struct event_record *r = realloc(ev->records, cap * sizeof(*r));

		if (r == NULL) {
			ip_error_set(err, IP_ENOMEM, "event: out of memory");
			return NULL;
		}
		ev->records = r;
		ev->cap = cap;
	}
	er = &ev->records[ev->n];
	memset(er, 0, sizeof(*er));
	util_strlcpy(er->message_id, message_id, sizeof(er->message_id));
	return er;
}

/* bucket name and key (decoded when `encoded`) into er. */
static int
set_object(struct event_record *er, const json_t *name, const json_t *key,
	   const json_t *size, bool encoded, struct ip_error *err)
{
	if (!json_is_string(name) || json_string_length(name) == 0 ||
	    json_string_length(name) >= sizeof(er->bucket))
		return ip_error_set(err, IP_EINVAL,
				    "event: bucket name missing or too long");
	util_strlcpy(er->bucket, json_string_value(name), sizeof(er->bucket));
	if (!json_is_string(key) || json_string_length(key) == 0 ||
	    json_string_length(key) > 3 * RECORD_KEY_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "event: object key missing or too long");
	if (event_key_decode(json_string_value(key), encoded, er->key,
			     sizeof(er->key), err) != IP_OK)
		return err != NULL ? err->code : IP_EINVAL;
	if (json_is_integer(size) && json_integer_value(size) >= 0)
		er->size = json_integer_value(size);
	else if (json_is_string(size))
		er->size = strtoll(json_string_value(size), NULL, 10);
	return IP_OK;
}

/* The creating request's id, if it is a plain token (it reaches logs). */
static void
copy_request_id(const json_t *v, struct event_record *er)
{
	copy_str(v, er->request_id, sizeof(er->request_id));
	for (const char *p = er->request_id; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("-_+/=.", *p) == NULL) {
			er->request_id[0] = '\0';
			return;
		}
}

/* One record of an S3 notification. */
static int
parse_s3_record(const json_t *rec, struct event_record *er,
		struct ip_error *err)
{
	const json_t *s3 = json_object_get(rec, "s3");
	const json_t *object = json_object_get(s3, "object");
	const json_t *ours = json_object_get(rec, "imgpipe");

	if (ours != NULL) {
		const json_t *v = json_object_get(ours, "variants");

		if (!json_is_string(v) ||
		    !event_variants_valid(json_string_value(v)))
			return ip_error_set(err, IP_EINVAL,
					    "event: imgpipe.variants is not a "
					    "list of variant names");
		er->reprocess = true;
		util_strlcpy(er->variants, json_string_value(v),
			     sizeof(er->variants));
	}
	copy_request_id(
	    json_object_get(json_object_get(rec, "responseElements"),
			    "x-amz-request-id"),
	    er);

	copy_str(json_object_get(rec, "eventName"), er->event_name,
		 sizeof(er->event_name));
	copy_str(json_object_get(rec, "eventSource"), er->event_source,
		 sizeof(er->event_source));
	copy_str(json_object_get(rec, "eventTime"), er->event_time,
		 sizeof(er->event_time));
	copy_str(json_object_get(object, "eTag"), er->etag, sizeof(er->etag));
	copy_str(json_object_get(object, "sequencer"), er->sequencer,
		 sizeof(er->sequencer));
	copy_str(json_object_get(object, "versionId"), er->version_id,
		 sizeof(er->version_id));
	/* AWS (and imgpipe) URL-encode keys; radosgw ("ceph:s3") does not. */
	return set_object(
	    er, json_object_get(json_object_get(s3, "bucket"), "name"),
	    json_object_get(object, "key"), json_object_get(object, "size"),
	    strcmp(er->event_source, "ceph:s3") != 0, err);
}

/* An EventBridge event from S3: the key is not URL-encoded. */
static int
parse_eventbridge(const json_t *doc, struct event_record *er,
		  struct ip_error *err)
{
	const json_t *detail = json_object_get(doc, "detail");
	const json_t *object = json_object_get(detail, "object");
	const char *type =
	    json_string_value(json_object_get(doc, "detail-type"));
	const char *reason =
	    json_string_value(json_object_get(detail, "reason"));

	if (strcmp(type, "Object Created") == 0)
		snprintf(er->event_name, sizeof(er->event_name),
			 "ObjectCreated:%s", reason != NULL ? reason : "");
	else
		util_strlcpy(er->event_name, type, sizeof(er->event_name));
	util_strlcpy(er->event_source, "aws.s3", sizeof(er->event_source));
	copy_str(json_object_get(doc, "time"), er->event_time,
		 sizeof(er->event_time));
	copy_str(json_object_get(object, "etag"), er->etag, sizeof(er->etag));
	copy_str(json_object_get(object, "sequencer"), er->sequencer,
		 sizeof(er->sequencer));
	copy_str(json_object_get(object, "version-id"), er->version_id,
		 sizeof(er->version_id));
	return set_object(
	    er, json_object_get(json_object_get(detail, "bucket"), "name"),
	    json_object_get(object, "key"), json_object_get(object, "size"),
	    false, err);
}

static int parse_doc(const json_t *doc, struct event *ev, int depth,
		     const char *message_id, struct ip_error *err);

/* A JSON document carried as a string (Sns.Message, an SQS body). */
static int
parse_text(const json_t *text, const char *what, struct event *ev, int depth,
	   const char *message_id, struct ip_error *err)
{
	json_error_t jerr;
	json_t *inner;
	int rc;

	if (!json_is_string(text))
		return ip_error_set(err, IP_EINVAL, "event: %s missing", what);
	if (depth >= EVENT_DEPTH_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "event: envelopes nested too deep");
	inner = json_loadb(json_string_value(text), json_string_length(text), 0,
			   &jerr);
	if (inner == NULL)
		return ip_error_set(err, IP_EINVAL, "event: %s: %s", what,
				    jerr.text);
	rc = parse_doc(inner, ev, depth + 1, message_id, err);
	json_decref(inner);
	return rc;
}

/* One SQS message: its body is any document of event.h; a body that
 * cannot be read becomes one record with `problem`, not a failure of the
 * batch. */
static int
parse_sqs_message(const json_t *rec, struct event *ev, int depth,
		  struct ip_error *err)
{
	const char *mid = json_string_value(json_object_get(rec, "messageId"));
	size_t n0 = ev->n;
	struct event_record *er;
	struct ip_error e;
	int rc;

	if (mid == NULL || mid[0] == '\0' ||
	    strlen(mid) >= EVENT_MESSAGE_ID_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "event: SQS record without a messageId");
	ip_error_clear(&e);
	rc = parse_text(json_object_get(rec, "body"), "SQS body", ev, depth,
			mid, &e);
	if (rc == IP_OK || rc == IP_ENOMEM)
		return rc == IP_OK ? IP_OK : ip_error_set(err, rc, "%s", e.msg);
	ev->n = n0; /* what the bad body had added */
	er = add_record(ev, mid, err);
	if (er == NULL)
		return IP_ENOMEM;
	util_strlcpy(er->problem, e.msg, sizeof(er->problem));
	ev->n++;
	return IP_OK;
}

static int
parse_records(const json_t *records, struct event *ev, int depth,
	      const char *message_id, struct ip_error *err)
{
	size_t i;
	const json_t *rec;

	json_array_foreach(records, i, rec)
	{
		const char *src =
		    json_string_value(json_object_get(rec, "eventSource"));
		const json_t *sns = json_object_get(rec, "Sns");
		struct event_record *er;
		int rc;

		if (!json_is_object(rec))
			return ip_error_set(err, IP_EINVAL,
					    "event: a record is not an object");
		if (json_is_object(sns)) {
			rc = parse_text(json_object_get(sns, "Message"),
					"Sns.Message", ev, depth, message_id,
					err);
		} else if (src != NULL && strcmp(src, "aws:sqs") == 0) {
			rc = parse_sqs_message(rec, ev, depth, err);
		} else if (json_is_object(json_object_get(rec, "s3"))) {
			er = add_record(ev, message_id, err);
			if (er == NULL)
				return IP_ENOMEM;
			rc = parse_s3_record(rec, er, err);
			if (rc == IP_OK)
				ev->n++;
		} else {
			rc = ip_error_set(err, IP_EINVAL,
					  "event: record %zu is neither S3, "
					  "SNS nor SQS",
					  i);
		}
		if (rc != IP_OK)
			return rc;
	}
	return IP_OK;
}

static bool
str_is(const json_t *doc, const char *name, const char *value)
{
	const char *v = json_string_value(json_object_get(doc, name));

	return v != NULL && strcmp(v, value) == 0;
}

static int
parse_doc(const json_t *doc, struct event *ev, int depth,
	  const char *message_id, struct ip_error *err)
{
	const json_t *records = json_object_get(doc, "Records");
	struct event_record *er;
	int rc;

	if (!json_is_object(doc))
		return ip_error_set(err, IP_EINVAL, "event: not an object");
	if (json_is_array(records))
		return parse_records(records, ev, depth, message_id, err);
	if (str_is(doc, "Event", "s3:TestEvent"))
		return IP_OK; /* sent when a notification is configured */
	if (str_is(doc, "source", "aws.events") &&
	    str_is(doc, "detail-type", "Scheduled Event"))
		return IP_OK; /* a schedule: no object (the Lambda host then
			       * sends the webhooks that are due) */
	if (str_is(doc, "Type", "Notification"))
		return parse_text(json_object_get(doc, "Message"),
				  "SNS Message", ev, depth, message_id, err);
	if (str_is(doc, "source", "aws.s3") &&
	    json_is_string(json_object_get(doc, "detail-type"))) {
		er = add_record(ev, message_id, err);
		if (er == NULL)
			return IP_ENOMEM;
		rc = parse_eventbridge(doc, er, err);
		if (rc == IP_OK)
			ev->n++;
		return rc;
	}
	return ip_error_set(err, IP_EINVAL,
			    "event: not an S3, SNS, SQS or EventBridge "
			    "notification");
}

void
event_clear(struct event *ev)
{
	if (ev == NULL)
		return;
	free(ev->records);
	memset(ev, 0, sizeof(*ev));
}

int
event_parse(const char *text, size_t len, struct event *ev,
	    struct ip_error *err)
{
	json_error_t jerr;
	json_t *doc;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (len > EVENT_PAYLOAD_MAX)
		return ip_error_set(err, IP_ETOOBIG,
				    "event: larger than %d bytes",
				    EVENT_PAYLOAD_MAX);
	doc = json_loadb(text, len, 0, &jerr);
	if (doc == NULL)
		return ip_error_set(err, IP_EINVAL, "event: %s", jerr.text);
	rc = parse_doc(doc, ev, 0, "", err);
	json_decref(doc);
	return rc;
}
