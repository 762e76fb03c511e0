/*
 * event.h - the S3 event notification (DESIGN §5): built by the gateway,
 * carried by every queue, parsed by the function and its hosts.
 *
 * Parsing is tolerant of the shapes real stores send (FINDINGS.md): AWS
 * `+`/%-encoded keys, radosgw's `ceph:s3` source and version 2.2, s3rver's
 * 2.0 and malformed ARN, and extra fields.  Keys are decoded in exactly one
 * place, event_key_decode(), driven by the record's eventSource.
 *
 * The envelopes a Lambda function receives are unwrapped here, nested in
 * any order up to EVENT_DEPTH_MAX:
 *   S3 notification     {"Records":[{"eventSource":"aws:s3","s3":{...}}]}
 *   SNS-wrapped         {"Records":[{"Sns":{"Message":"<S3 doc>"}}]}
 *   SQS-wrapped         {"Records":[{"eventSource":"aws:sqs",
 *                         "messageId":"..","body":"<doc>"}]}
 *   SNS envelope        {"Type":"Notification","Message":"<doc>"} (an
 *                       SQS body when raw message delivery is off)
 *   EventBridge         {"source":"aws.s3","detail-type":"Object Created",
 *                        "detail":{"bucket":{"name"},"object":{"key"}}}
 *                       (key NOT URL-encoded; the name becomes
 *                       "ObjectCreated:<detail.reason>")
 *   s3:TestEvent        {"Service":"Amazon S3","Event":"s3:TestEvent"}:
 *                       no records
 * Anything else is IP_EINVAL: an unknown shape is never a silent success.
 * Inside an SQS message a bad body does not fail the document: it becomes
 * one record with `problem` set, so the host can report that message
 * alone (partial batch response).
 */
#ifndef IMGPIPE_EVENT_H
#define IMGPIPE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/record.h"

/* The largest document event_parse reads: Lambda's synchronous payload
 * limit, which bounds an SQS batch (up to 10,000 messages). */
#define EVENT_PAYLOAD_MAX (6 * 1024 * 1024)
/* The largest document POST /v1/events accepts (one store push). */
#define EVENT_TEXT_MAX (256 * 1024)
#define EVENT_DEPTH_MAX 4 /* envelopes inside envelopes */
#define EVENT_MESSAGE_ID_MAX 128
/* imgpipe.variants of a reprocess event: names joined by ',' */
#define EVENT_VARIANTS_MAX 544

struct event_record {
	char event_name[64]; /* "ObjectCreated:Put" */
	char event_source[32]; /* "aws:s3", "ceph:s3", "aws.s3", "imgpipe" */
	char event_time[40];
	char bucket[RECORD_BUCKET_MAX];
	char key[RECORD_KEY_MAX]; /* decoded */
	int64_t size;
	char etag[80];
	char sequencer[40];
	char version_id[128]; /* "" when the bucket is not versioned */
	/* responseElements.x-amz-request-id: the request that created the
	 * object (the gateway's X-Request-Id, or S3's own); "" when absent
	 * or not a plain token.  For the log lines of its processing. */
	char request_id[64];
	/* The SQS message that carried it ("" outside SQS). */
	char message_id[EVENT_MESSAGE_ID_MAX];
	/* Non-empty: the SQS message's body could not be read (why); the
	 * other fields but message_id are empty. */
	char problem[160];
	/* A reprocess request (imgpipe reprocess, POST .../reprocess): the
	 * record's field "imgpipe": {"variants": "a,b"}, which S3 never
	 * sends.  The function then remakes, of the presets named (all when
	 * ""), those missing or changed (function_stale_presets). */
	bool reprocess;
	char variants[EVENT_VARIANTS_MAX];
};

/* Records in delivery order; `records` is owned (event_clear frees it). */
struct event {
	size_t n;
	size_t cap;
	struct event_record *records;
};

/* Parse a notification document of any shape above into ev (which
 * event_clear must free, on success and failure alike).  IP_EINVAL on
 * malformed JSON, an unknown shape or a record without bucket/key;
 * IP_ETOOBIG above EVENT_PAYLOAD_MAX; IP_ENOMEM. */
int event_parse(const char *text, size_t len, struct event *ev,
		struct ip_error *err);

/* Free the records of ev and zero it (NULL-safe, idempotent). */
void event_clear(struct event *ev);

/* Build the one-record ObjectCreated:Put notification for an object as
 * AWS would send it (key URL-encoded, space as '+').  Caller free()s. */
char *event_build(const char *region, const char *bucket, const char *key,
		  int64_t size, const char *etag, int64_t time_ms);
/* The same, naming request_id (NULL or "": none) as the request that
 * created the object, as S3 does in responseElements. */
char *event_build_request(const char *region, const char *bucket,
			  const char *key, int64_t size, const char *etag,
			  int64_t time_ms, const char *request_id);

/* The same event carrying a reprocess request for the variants named
 * in `variants` ("a,b"; "" = every preset).  NULL when variants is not
 * a list of names (event_variants_valid) or on OOM. */
char *event_build_reprocess(const char *region, const char *bucket,
			    const char *key, int64_t size, const char *etag,
			    int64_t time_ms, const char *variants);
/* Names [a-z0-9_-] joined by ',', shorter than EVENT_VARIANTS_MAX. */
bool event_variants_valid(const char *s);

/* Encode a key as S3 event keys are encoded (RFC 3986 unreserved and '/'
 * kept, space -> '+', the rest %XX).  out_len >= 3*strlen(key)+1. */
int event_key_encode(const char *key, char *out, size_t out_len);

/* Decode: '+' -> space and %XX, when `encoded` (AWS); a plain copy
 * otherwise.  IP_EINVAL on a bad escape, NUL, or overflow. */
int event_key_decode(const char *in, int encoded, char *out, size_t out_len,
		     struct ip_error *err);

#endif
