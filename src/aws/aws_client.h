/*
 * aws_client.h - HTTP requests over libcurl for the AWS-protocol backends
 * and hosts (aws_client.c): SigV4-signed for S3 and DynamoDB, plain for
 * the Lambda Runtime API, with retries of transient failures.
 *
 * An aws_client is made once per backend at start-up and is then used
 * from any number of threads at once: it is read-only except for the curl
 * share handle (connection and DNS caches), which curl locks through the
 * client's callbacks.
 *
 * Signing is libcurl's CURLOPT_AWS_SIGV4; the pitfalls of libcurl 7.88's
 * signer are handled in aws_client.c once: x-amz-content-sha256 is always
 * sent, and query strings must be canonical (aws_uri.h) because curl
 * signs them exactly as given.
 */
#ifndef IMGPIPE_AWS_CLIENT_H
#define IMGPIPE_AWS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/aws_creds.h"
#include "aws/aws_error.h"
#include "core/buf.h"
#include "core/error.h"

#define AWS_ATTEMPTS_DEFAULT 4
#define AWS_ATTEMPTS_MAX 10
#define AWS_REPLY_MAX (1024 * 1024) /* default bound of a reply in memory */
#define AWS_ERROR_BODY_MAX (64 * 1024) /* kept of an error reply */
#define AWS_HEADER_VALUE_MAX 256 /* of a header a caller asks for */
#define AWS_SHA256_EMPTY                                                       \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define AWS_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct aws_client_opts {
	const char *service; /* "s3", "dynamodb"; names it in messages */
	int attempts; /* 1..AWS_ATTEMPTS_MAX; 0 = default */
	int connect_timeout_ms; /* 0 = 5000 */
	int low_speed_s; /* abort below 1 B/s for this long; 0 = 30;
			  * -1 = never (long polls) */
	int backoff_ms; /* first retry delay; 0 = 100 */
	int backoff_max_ms; /* 0 = 5000 */
	const char *ca_file; /* CA bundle (aws.ca_file); NULL or "" = found */
};

struct aws_client;

/* A client for one service.  With creds (copied) every request is signed
 * with SigV4 for creds->region and opts->service; with creds NULL they go
 * unsigned (the Lambda Runtime API).  IP_EINVAL for bad options,
 * IP_EBACKEND if libcurl cannot start. */
int aws_client_new(const struct aws_creds *creds,
		   const struct aws_client_opts *opts, struct aws_client **out,
		   struct ip_error *err);
void aws_client_free(struct aws_client *c); /* NULL-safe */
const char *aws_client_region(const struct aws_client *c); /* "" unsigned */
int aws_client_attempts(const struct aws_client *c);

/* A request.  Exactly one body source: none, memory (body/body_len) or a
 * file (body_fd from body_off for body_len bytes, read with pread so the
 * fd may be shared; streamed, never held in memory). */
struct aws_request {
	const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
	const char *url; /* absolute; query already canonical */
	const char *const *headers; /* NULL-terminated "Name: value", or NULL */
	const void *body;
	int body_fd; /* -1: no file body */
	int64_t body_off;
	int64_t body_len; /* bytes of memory or file body */
	/* Hex SHA-256 of the body or AWS_UNSIGNED_PAYLOAD; NULL = computed
	 * here (memory bodies and empty bodies only; a file body must come
	 * with its hash).  Unused by an unsigned client. */
	const char *payload_sha256;
	int out_fd; /* >= 0: the 2xx reply body goes there (the fd
		     * is truncated and rewound on each retry) */
	size_t reply_max; /* bound of a reply kept in memory; 0 = 1 MiB */
	const char *reply_name; /* what the reply is, for the IP_ETOOBIG
				 * message; NULL = "reply" */
	const char *want_header; /* a reply header to keep, or NULL */
	const char *want_header2; /* a second one, or NULL */
	long timeout_ms; /* of the whole transfer; 0 = none */
};

struct aws_response {
	long status; /* last HTTP status, 0 if none */
	struct buf body; /* the reply (or error) body, NUL-terminated;
			  * bounded by reply_max (an error body is cut at
			  * AWS_ERROR_BODY_MAX) */
	int64_t content_length; /* -1 if absent */
	int64_t last_modified_ms; /* 0 if absent */
	char etag[80]; /* without quotes */
	char content_type[64];
	char header[AWS_HEADER_VALUE_MAX]; /* rq->want_header's value,
					    * printable ASCII; "" if absent */
	char header2[AWS_HEADER_VALUE_MAX]; /* rq->want_header2's */
	char code[AWS_CODE_MAX]; /* AWS error code, "" on success */
	char message[AWS_MESSAGE_MAX];
	int attempts; /* how many were made */
};

/*
 * Perform rq (signed unless the client is unsigned), retrying transient
 * failures with jittered exponential backoff (see aws_retryable).  On a
 * 2xx reply: IP_OK.  On an error reply: the code from aws_error_map,
 * err's message "AWS_CODE: AWS message (HTTP n)", and rs->code/message/
 * status filled so callers can refine (S3 delete: 404 is fine).  A 2xx
 * reply above reply_max is IP_EBACKEND for a signed client (a storage
 * backend's fault), IP_ETOOBIG for a plain one (the headers are kept in rs).
 * Connection failures after the last attempt are IP_EBACKEND.  rs is
 * always initialised; free it with aws_response_free.
 */
int aws_request_perform(struct aws_client *c, const struct aws_request *rq,
			struct aws_response *rs, struct ip_error *err);
void aws_response_free(struct aws_response *rs); /* NULL-safe */

/* Lower-case hex SHA-256 of a buffer or of len bytes of fd from off
 * (pread): the payload hashes SigV4 signs.  out needs 65 bytes. */
void aws_sha256_hex(const void *data, size_t len, char *out);
int aws_sha256_fd(int fd, int64_t off, int64_t len, char *out,
		  struct ip_error *err);

#endif
