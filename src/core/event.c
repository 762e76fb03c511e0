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

static int
parse_record(const json_t *rec, struct event_record *er, struct ip_error *err)
{
	const json_t *s3 = json_object_get(rec, "s3");
	const json_t *bucket = json_object_get(s3, "bucket");
	const json_t *object = json_object_get(s3, "object");
	const json_t *name = json_object_get(bucket, "name");
	const json_t *key = json_object_get(object, "key");
	const json_t *size = json_object_get(object, "size");
	int encoded;

	memset(er, 0, sizeof(*er));
	copy_str(json_object_get(rec, "eventName"), er->event_name,
		 sizeof(er->event_name));
	copy_str(json_object_get(rec, "eventSource"), er->event_source,
		 sizeof(er->event_source));
	copy_str(json_object_get(rec, "eventTime"), er->event_time,
		 sizeof(er->event_time));
	copy_str(json_object_get(object, "eTag"), er->etag, sizeof(er->etag));
	copy_str(json_object_get(object, "sequencer"), er->sequencer,
		 sizeof(er->sequencer));
	if (!json_is_string(name) || json_string_length(name) == 0 ||
	    json_string_length(name) >= sizeof(er->bucket))
		return ip_error_set(
		    err, IP_EINVAL,
		    "event: s3.bucket.name missing or too long");
	util_strlcpy(er->bucket, json_string_value(name), sizeof(er->bucket));
	if (!json_is_string(key) || json_string_length(key) == 0 ||
	    json_string_length(key) > 3 * RECORD_KEY_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "event: s3.object.key missing or too long");
	/* AWS (and imgpipe) URL-encode keys; radosgw ("ceph:s3") does not. */
	encoded = strcmp(er->event_source, "ceph:s3") != 0;
	if (event_key_decode(json_string_value(key), encoded, er->key,
			     sizeof(er->key), err) != IP_OK)
		return err != NULL ? err->code : IP_EINVAL;
	if (json_is_integer(size) && json_integer_value(size) >= 0)
		er->size = json_integer_value(size);
	else if (json_is_string(size))
		er->size = strtoll(json_string_value(size), NULL, 10);
	return IP_OK;
}

static int
parse_doc(const json_t *doc, struct event *ev, int depth, struct ip_error *err)
{
	const json_t *records = json_object_get(doc, "Records");
	size_t i;
	const json_t *rec;

	if (!json_is_array(records))
		return ip_error_set(err, IP_EINVAL, "event: no Records array");
	json_array_foreach(records, i, rec)
	{
		const json_t *sns = json_object_get(rec, "Sns");
		int rc;

		if (!json_is_object(rec))
			return ip_error_set(err, IP_EINVAL,
					    "event: a record is not an object");
		if (json_is_object(sns) && depth == 0) {
			/* S3 -> SNS -> Lambda: the message is the S3 doc. */
			const json_t *msg = json_object_get(sns, "Message");
			json_error_t jerr;
			json_t *inner;

			if (!json_is_string(msg))
				return ip_error_set(
				    err, IP_EINVAL,
				    "event: Sns.Message missing");
			inner = json_loadb(json_string_value(msg),
					   json_string_length(msg), 0, &jerr);
			if (inner == NULL)
				return ip_error_set(err, IP_EINVAL,
						    "event: Sns.Message: %s",
						    jerr.text);
			rc = parse_doc(inner, ev, depth + 1, err);
			json_decref(inner);
			if (rc != IP_OK)
				return rc;
			continue;
		}
		if (!json_is_object(json_object_get(rec, "s3")))
			continue; /* not an S3 record: skipped */
		if (ev->n >= EVENT_RECORDS_MAX)
			return ip_error_set(err, IP_ETOOBIG,
					    "event: more than %d records",
					    EVENT_RECORDS_MAX);
		rc = parse_record(rec, &ev->records[ev->n], err);
		if (rc != IP_OK)
			return rc;
		ev->n++;
	}
	return IP_OK;
}

int
event_parse(const char *text, size_t len, struct event *ev,
	    struct ip_error *err)
{
	json_error_t jerr;
	json_t *doc;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (len > EVENT_TEXT_MAX)
		return ip_error_set(err, IP_ETOOBIG,
				    "event: larger than %d bytes",
				    EVENT_TEXT_MAX);
	doc = json_loadb(text, len, 0, &jerr);
	if (doc == NULL)
		return ip_error_set(err, IP_EINVAL, "event: %s", jerr.text);
	rc = json_is_object(doc)
		 ? parse_doc(doc, ev, 0, err)
		 : ip_error_set(err, IP_EINVAL, "event: not an object");
	json_decref(doc);
	return rc;
}
