/*
 * event.h - the S3 event notification (DESIGN §5): built by the gateway,
 * carried by every queue, parsed by the function.
 *
 * Parsing is tolerant of the shapes real stores send (FINDINGS.md): AWS
 * `+`/%-encoded keys, radosgw's `ceph:s3` source and version 2.2, s3rver's
 * 2.0 and malformed ARN, and extra fields.  Keys are decoded in exactly one
 * place, event_key_decode(), driven by the record's eventSource.
 */
#ifndef IMGPIPE_EVENT_H
#define IMGPIPE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/record.h"

#define EVENT_RECORDS_MAX 16
#define EVENT_TEXT_MAX (256 * 1024) /* refuse larger event documents */

struct event_record {
	char event_name[64]; /* "ObjectCreated:Put" */
	char event_source[32]; /* "aws:s3", "ceph:s3", "imgpipe" */
	char event_time[40];
	char bucket[RECORD_BUCKET_MAX];
	char key[RECORD_KEY_MAX]; /* decoded */
	int64_t size;
	char etag[80];
	char sequencer[40];
};

struct event {
	size_t n;
	struct event_record records[EVENT_RECORDS_MAX];
};

/* Parse an S3 notification.  Records that are not s3 records are skipped;
 * an SNS-wrapped notification ({"Records":[{"Sns":{"Message":"..."}}]}) is
 * unwrapped.  IP_EINVAL on malformed JSON or a record without bucket/key. */
int event_parse(const char *text, size_t len, struct event *ev,
		struct ip_error *err);

/* Build the one-record ObjectCreated:Put notification for an object as
 * AWS would send it (key URL-encoded, space as '+').  Caller free()s. */
char *event_build(const char *region, const char *bucket, const char *key,
		  int64_t size, const char *etag, int64_t time_ms);

/* Encode a key as S3 event keys are encoded (RFC 3986 unreserved and '/'
 * kept, space -> '+', the rest %XX).  out_len >= 3*strlen(key)+1. */
int event_key_encode(const char *key, char *out, size_t out_len);

/* Decode: '+' -> space and %XX, when `encoded` (AWS); a plain copy
 * otherwise.  IP_EINVAL on a bad escape, NUL, or overflow. */
int event_key_decode(const char *in, int encoded, char *out, size_t out_len,
		     struct ip_error *err);

#endif
