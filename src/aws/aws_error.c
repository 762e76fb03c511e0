/*
 * aws_error.c - AWS error replies into our error codes, and the retry
 * rule (see aws_error.h).  Called by aws_client.c after every failed
 * attempt and by the backends, from any thread; pure functions.
 *
 * DESIGN
 *
 * AWS says what went wrong twice: the HTTP status and a code in the body
 * (S3: <Error><Code>, DynamoDB: "__type").  The code is the finer word
 * and wins when we know it; the status is the fallback.  Throttling is
 * the one class that crosses both (S3's SlowDown is a 503, DynamoDB's
 * ProvisionedThroughputExceededException a 400), so the throttle list is
 * one table read by both the retry rule and the code map: a throttled
 * request is retried, and after the last attempt it is IP_ERETRY.
 *
 * Error bodies are read bounded and tolerantly (a proxy's HTML page must
 * not be mistaken for anything), and what they say is reduced to
 * printable ASCII before it can reach a log line or a client.
 */
#include "aws/aws_error.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <string.h>

#include "aws/aws_xml.h"
#include "core/error.h"
#include "core/util.h"

static const char *const aws_throttle_codes[] = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
    NULL,
};

static bool
code_in(const char *code, const char *const *list)
{
	if (code == NULL || code[0] == '\0')
		return false;
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

bool
aws_curl_local_error(int cc)
{
	switch (cc) {
	case CURLE_READ_ERROR:
	case CURLE_WRITE_ERROR:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
	case CURLE_FAILED_INIT:
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_LOGIN_DENIED:
		return true;
	default:
		return false;
	}
}

bool
aws_retryable(long http_status, const char *aws_code, int curl_code)
{
	if (curl_code != 0)
		return !aws_curl_local_error(curl_code);
	if (code_in(aws_code, aws_throttle_codes))
		return true;
	return http_status >= 500 || http_status == 429;
}

static const struct {
	const char *code;
	int ip;
} aws_code_map[] = {
    {"NoSuchKey", IP_ENOTFOUND},
    {"NoSuchBucket", IP_ENOTFOUND},
    {"NoSuchUpload", IP_ENOTFOUND},
    {"NotFound", IP_ENOTFOUND},
    {"ResourceNotFoundException", IP_ENOTFOUND},
    {"SignatureDoesNotMatch", IP_EAUTH},
    {"InvalidAccessKeyId", IP_EAUTH},
    {"InvalidToken", IP_EAUTH},
    {"ExpiredToken", IP_EAUTH},
    {"ExpiredTokenException", IP_EAUTH},
    {"TokenRefreshRequired", IP_EAUTH},
    {"InvalidSignatureException", IP_EAUTH},
    {"UnrecognizedClientException", IP_EAUTH},
    {"MissingAuthenticationTokenException", IP_EAUTH},
    {"IncompleteSignatureException", IP_EAUTH},
    {"InvalidClientTokenId", IP_EAUTH},
    {"RequestTimeTooSkewed", IP_EAUTH},
    {"AccessDenied", IP_EFORBIDDEN},
    {"AccessDeniedException", IP_EFORBIDDEN},
    {"AllAccessDisabled", IP_EFORBIDDEN},
    {"BucketAlreadyOwnedByYou", IP_EEXIST},
    {"BucketAlreadyExists", IP_EEXIST},
    {"ResourceInUseException", IP_EEXIST},
    {"ConditionalCheckFailedException", IP_ECONFLICT},
    {"PreconditionFailed", IP_ECONFLICT},
    {"EntityTooLarge", IP_ETOOBIG},
    {"InvalidBucketName", IP_EINVAL},
    {"KeyTooLongError", IP_EINVAL},
    {"NotImplemented", IP_ENOTSUP},
    {"UnknownOperationException", IP_ENOTSUP},
};

int
aws_error_map(long http_status, const char *aws_code)
{
	if (aws_code != NULL && aws_code[0] != '\0') {
		for (size_t i = 0; i < UTIL_ARRAY_LEN(aws_code_map); i++)
			if (strcmp(aws_code, aws_code_map[i].code) == 0)
				return aws_code_map[i].ip;
		if (code_in(aws_code, aws_throttle_codes))
			return IP_ERETRY;
	}
	if (http_status >= 200 && http_status < 300)
		return IP_OK;
	switch (http_status) {
	case 401:
	case 403:
		return IP_EAUTH;
	case 404:
		return IP_ENOTFOUND;
	case 409:
	case 412:
		return IP_ECONFLICT;
	case 413:
		return IP_ETOOBIG;
	case 429:
		return IP_ERETRY;
	case 501:
		return IP_ENOTSUP;
	default:
		return IP_EBACKEND;
	}
}

void
aws_copy_printable(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

bool
aws_xml_error(const char *xml, size_t len, char *code, size_t code_size,
	      char *msg, size_t msg_size)
{
	char buf[1024];
	long n;

	code[0] = '\0';
	msg[0] = '\0';
	if (xml == NULL)
		return false;
	n = aws_xml_element(xml, len, 0, "Message", buf, sizeof(buf), NULL);
	if (n > 0)
		aws_copy_printable(buf, (size_t)n, msg, msg_size);
	n = aws_xml_element(xml, len, 0, "Code", buf, sizeof(buf), NULL);
	if (n <= 0)
		return false;
	aws_copy_printable(buf, (size_t)n, code, code_size);
	return true;
}

bool
aws_json_error(const char *json, size_t len, char *code, size_t code_size,
	       char *msg, size_t msg_size)
{
	json_t *root;
	json_t *v;
	const char *type;
	const char *hash;
	bool found = false;

	code[0] = '\0';
	msg[0] = '\0';
	if (json == NULL || len == 0)
		return false;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	v = json_object_get(root, "message");
	if (!json_is_string(v))
		v = json_object_get(root, "Message");
	if (json_is_string(v))
		aws_copy_printable(json_string_value(v), json_string_length(v),
				   msg, msg_size);
	v = json_object_get(root, "__type");
	if (!json_is_string(v))
		goto out;
	type = json_string_value(v);
	hash = strrchr(type, '#');
	if (hash != NULL)
		type = hash + 1;
	if (type[0] == '\0')
		goto out;
	aws_copy_printable(type, strlen(type), code, code_size);
	found = true;
out:
	json_decref(root);
	return found;
}

bool
aws_error_body(const char *body, size_t len, char *code, size_t code_size,
	       char *msg, size_t msg_size)
{
	code[0] = '\0';
	msg[0] = '\0';
	while (len > 0 && isspace((unsigned char)*body)) {
		body++;
		len--;
	}
	if (len > 0 && *body == '{')
		return aws_json_error(body, len, code, code_size, msg,
				      msg_size);
	if (len > 0 && *body == '<')
		return aws_xml_error(body, len, code, code_size, msg, msg_size);
	return false;
}
