/*
 * aws_error.h - AWS error replies into our error codes (aws_error.c):
 * S3's XML and DynamoDB's JSON bodies, the code -> enum ip_code table,
 * and which failures are worth another attempt.  Used by aws_client.c on
 * every failed request and by objstore_s3.c for the errors S3 hides in a
 * 200 reply.  Pure functions, safe from any thread.
 */
#ifndef IMGPIPE_AWS_ERROR_H
#define IMGPIPE_AWS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define AWS_CODE_MAX 96 /* an AWS error code, e.g. "NoSuchKey" */
#define AWS_MESSAGE_MAX 256 /* its message, sanitised */

/*
 * Whether an attempt that ended this way is worth repeating: a transport
 * failure (curl_code != 0 and not a local error), HTTP 5xx or 429, or an
 * AWS throttling code (SlowDown, Throttling*, ProvisionedThroughput-
 * ExceededException, RequestLimitExceeded...) whatever the status.  Never
 * another 4xx.
 */
bool aws_retryable(long http_status, const char *aws_code, int curl_code);

/* Whether curl_code is a failure of ours (a read callback, a bad
 * option...), not the network's: never retried, reported as IP_EINVAL. */
bool aws_curl_local_error(int curl_code);

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

/* Either of the two, chosen by the body's first non-blank byte ('{' or
 * '<'); code and msg are "" when the body explains nothing. */
bool aws_error_body(const char *body, size_t len, char *code, size_t code_size,
		    char *msg, size_t msg_size);

/* Copy s[0, n) into out[size] as printable ASCII, other bytes as '?':
 * what a server sends may reach a log line or an error message. */
void aws_copy_printable(const char *s, size_t n, char *out, size_t size);

#endif
