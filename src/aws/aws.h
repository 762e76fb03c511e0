/*
 * aws.h - what the AWS-protocol backends share: credentials, endpoint URLs,
 * SigV4-signed HTTP requests with retries over libcurl, and the parsing of
 * AWS error replies (S3's XML, DynamoDB's JSON) into our error codes.
 *
 * Used by objstore_s3.c and table_dynamodb.c (and later the Lambda runtime
 * loop).  An aws_client is made once per backend at start-up and is then
 * used from any number of threads at once: it is read-only except for the
 * curl share handle (connection and DNS caches), which curl locks through
 * our callbacks.  Every other function here is reentrant.
 *
 * Signing is libcurl's CURLOPT_AWS_SIGV4; the pitfalls of libcurl 7.88's
 * signer are handled here once (see aws.c): x-amz-content-sha256 is always
 * sent, and query strings are built canonical (aws_query_*) because curl
 * signs them exactly as given.
 */
#ifndef IMGPIPE_AWS_H
#define IMGPIPE_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

#define AWS_HOST_MAX 256
#define AWS_PARAMS_MAX 16
#define AWS_PARAM_NAME_MAX 32
#define AWS_PARAM_VALUE_MAX 256
#define AWS_REGION_MAX 32
#define AWS_CODE_MAX 96 /* an AWS error code, e.g. "NoSuchKey" */
#define AWS_MESSAGE_MAX 256 /* its message, sanitised */
#define AWS_ATTEMPTS_DEFAULT 4
#define AWS_ATTEMPTS_MAX 10
#define AWS_REPLY_MAX (1024 * 1024) /* default bound of a reply in memory */
#define AWS_SHA256_EMPTY                                                       \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define AWS_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A backend URL such as "s3+http://127.0.0.1:7480/?region=x&path_style=1"
 * or "dynamodb://?region=eu-west-1", split and validated. */
struct aws_url {
	bool https;
	bool aws; /* "SCHEME://" with no host: the AWS endpoint */
	char host[AWS_HOST_MAX]; /* "host" or "host:port"; "" when aws */
	size_t n_params;
	struct {
		char name[AWS_PARAM_NAME_MAX];
		char value[AWS_PARAM_VALUE_MAX]; /* percent-decoded */
	} params[AWS_PARAMS_MAX];
};

/*
 * Parse url, whose scheme must be `scheme` ("s3" or "dynamodb") optionally
 * followed by "+http" or "+https".  Accepted: "S://" (AWS, https) with an
 * optional "/?query"; "S+http://HOST[:PORT][/][?query]".  No user info, no
 * path other than "/", no fragment; query names [a-z0-9_]; each name at
 * most once; values percent-decoded and printable.  IP_EINVAL otherwise,
 * with a message naming the fault.
 */
int aws_url_parse(const char *url, const char *scheme, struct aws_url *out,
		  struct ip_error *err);

/* The value of query parameter name, or NULL if absent.  Borrowed. */
const char *aws_url_param(const struct aws_url *u, const char *name);

/* IP_EINVAL unless every parameter of u is one of the NULL-terminated
 * list `known` (typos in a URL must not be silently ignored). */
int aws_url_check_params(const struct aws_url *u, const char *const *known,
			 struct ip_error *err);

/* Parse a boolean parameter ("1"/"0"/"true"/"false"); def when absent. */
int aws_url_bool(const struct aws_url *u, const char *name, bool def, bool *out,
		 struct ip_error *err);

/* Parse an integer parameter within [min, max]; def when absent.  Sizes
 * accept util_parse_size suffixes ("16M"). */
int aws_url_int(const struct aws_url *u, const char *name, int64_t def,
		int64_t min, int64_t max, int64_t *out, struct ip_error *err);

struct aws_creds {
	char access_key_id[128];
	char secret_access_key[128];
	char session_token[2048]; /* "" when none */
	char region[AWS_REGION_MAX];
};

/*
 * Credentials from cfg->aws_* or else the AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN environment; region from
 * url_region (the URL's ?region=) if non-empty, else cfg->aws_region, else
 * AWS_REGION / AWS_DEFAULT_REGION.  IP_EAUTH if no key pair is found,
 * IP_EINVAL for a malformed value (every value must be printable ASCII
 * without ':' in the key id; the region [a-z0-9-]).
 */
int aws_creds_load(const struct config *cfg, const char *url_region,
		   struct aws_creds *out, struct ip_error *err);

struct aws_client_opts {
	const char *service; /* "s3", "dynamodb" */
	int attempts; /* 1..AWS_ATTEMPTS_MAX; 0 = default */
	int connect_timeout_ms; /* 0 = 5000 */
	int low_speed_s; /* abort below 1 B/s for this long; 0 = 30 */
	int backoff_ms; /* first retry delay; 0 = 100 */
	int backoff_max_ms; /* 0 = 5000 */
};

/* The client options every backend URL may set, into o: attempts
 * (1..AWS_ATTEMPTS_MAX, default AWS_ATTEMPTS_DEFAULT) and timeout (the
 * seconds below 1 B/s that abort a transfer, 1..3600, default 30). */
int aws_url_client_opts(const struct aws_url *u, struct aws_client_opts *o,
			struct ip_error *err);

struct aws_client;

/* A client for one service with one set of credentials.  Copies creds. */
int aws_client_new(const struct aws_creds *creds,
		   const struct aws_client_opts *opts, struct aws_client **out,
		   struct ip_error *err);
void aws_client_free(struct aws_client *c); /* NULL-safe */
const char *aws_client_region(const struct aws_client *c);
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
	 * with its hash). */
	const char *payload_sha256;
	int out_fd; /* >= 0: the 2xx reply body goes there (the fd
				 * is truncated and rewound on each retry) */
	size_t reply_max; /* bound of a reply kept in memory; 0 = 1 MiB */
};

struct aws_response {
	long status; /* last HTTP status, 0 if none */
	char *body; /* NUL-terminated reply (or error) body, malloc'd */
	size_t body_len;
	int64_t content_length; /* -1 if absent */
	int64_t last_modified_ms; /* 0 if absent */
	char etag[80]; /* without quotes */
	char content_type[64];
	char code[AWS_CODE_MAX]; /* AWS error code, "" on success */
	char message[AWS_MESSAGE_MAX];
	int attempts; /* how many were made */
};

/*
 * Perform rq, signed, retrying transient failures with jittered
 * exponential backoff (see aws_retryable).  On a 2xx reply: IP_OK.  On an
 * error reply: the code from aws_error_map, err's message "AWS_CODE: AWS
 * message (HTTP n)", and rs->code/message/status filled so callers can
 * refine (S3 delete: 404 is fine).  Connection failures after the last
 * attempt are IP_EBACKEND.  rs is always initialised; free it with
 * aws_response_free.
 */
int aws_request_perform(struct aws_client *c, const struct aws_request *rq,
			struct aws_response *rs, struct ip_error *err);
void aws_response_free(struct aws_response *rs);

/*
 * Whether an attempt that ended this way is worth repeating: a transport
 * failure (curl_code != 0 and not a local error), HTTP 5xx or 429, or an
 * AWS throttling code (SlowDown, Throttling*, ProvisionedThroughput-
 * ExceededException, RequestLimitExceeded...) whatever the status.  Never
 * another 4xx.
 */
bool aws_retryable(long http_status, const char *aws_code, int curl_code);

/* Map a final HTTP status and AWS error code to an enum ip_code. */
int aws_error_map(long http_status, const char *aws_code);

/*
 * Extract <Code> and <Message> from an S3 XML error body (bounded,
 * tolerant: missing elements give "").  Outputs are sanitised to
 * printable ASCII.  Returns true if a <Code> was found.
 */
bool aws_xml_error(const char *xml, size_t len, char *code, size_t code_size,
		   char *msg, size_t msg_size);

/* Extract "__type" (the part after '#') and "message"/"Message" from a
 * DynamoDB JSON error body.  Returns true if a type was found. */
bool aws_json_error(const char *json, size_t len, char *code, size_t code_size,
		    char *msg, size_t msg_size);

/*
 * The text of the first element <tag> found in xml[from, len), with the
 * XML entities decoded (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;).
 * *next (if not NULL) receives the offset after its end tag.  Returns
 * the decoded length, -1 if absent or unterminated, -2 if it does not fit
 * in out (out_size includes the NUL) or holds markup or a bad entity.
 */
long aws_xml_element(const char *xml, size_t len, size_t from, const char *tag,
		     char *out, size_t out_size, size_t *next);

/*
 * A canonical query string for SigV4: parameters sorted by name, names
 * and values RFC 3986-encoded ("/" as %2F, space as %20), and "k=" for an
 * empty value.  names[i]/values[i], n pairs; values may be NULL (= "").
 * IP_EINVAL if it does not fit in out.
 */
int aws_query_build(const char *const *names, const char *const *values,
		    size_t n, char *out, size_t size, struct ip_error *err);

/* RFC 3986 percent-encoding of s into out; '/' is kept when keep_slash.
 * Returns the length, or -1 if it does not fit. */
long aws_uri_encode(const char *s, bool keep_slash, char *out, size_t size);

/* Lower-case hex SHA-256 of a buffer or of len bytes of fd from off
 * (pread).  out needs 65 bytes. */
void aws_sha256_hex(const void *data, size_t len, char *out);
int aws_sha256_fd(int fd, int64_t off, int64_t len, char *out,
		  struct ip_error *err);

/* An unlinked, read-write temp file in /tmp (O_TMPFILE, or mkstemp and
 * unlink); the caller closes the fd. */
int aws_tmpfile(int *fd_out, struct ip_error *err);

#endif
