/*
 * test_aws.c - unit tests of the AWS plumbing (src/aws/) and of the
 * parsers and URL handling of the S3 and DynamoDB backends: canonical
 * query strings, S3 XML errors and ListObjectsV2 replies (hostile and
 * truncated ones included), DynamoDB JSON errors, retry classification
 * and error mapping, credentials, backend URLs, listing cursors.  No
 * network: nothing here opens a connection.
 *
 * Single-threaded.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "aws/aws.h"
#include "core/log.h"
#include "core/util.h"
#include "objstore/objstore_s3.h"
#include "table/table.h"
#include "table/table_dynamodb.h"
#include "table/table_util.h"

/* ---- canonical query strings ---------------------------------------- */

static void
test_query_sorted_and_encoded(void **state)
{
	const char *names[] = {"prefix", "list-type", "continuation-token",
			       "max-keys"};
	const char *values[] = {"in/cat 1+2&x=y~", "2", "a/b=c", "10"};
	char q[256];
	struct ip_error err = {0};

	(void)state;
	assert_int_equal(aws_query_build(names, values, 4, q, sizeof(q), &err),
			 IP_OK);
	assert_string_equal(q, "continuation-token=a%2Fb%3Dc&list-type=2&"
			       "max-keys=10&prefix=in%2Fcat%201%2B2%26x%3Dy~");
}

static void
test_query_empty_values(void **state)
{
	const char *names[] = {"uploads"};
	const char *names2[] = {"uploadId", "partNumber"};
	const char *values2[] = {"x y", NULL};
	char q[64];
	struct ip_error err = {0};

	(void)state;
	/* "?uploads" must become "uploads=": curl signs it as given. */
	assert_int_equal(aws_query_build(names, NULL, 1, q, sizeof(q), &err),
			 IP_OK);
	assert_string_equal(q, "uploads=");
	assert_int_equal(
	    aws_query_build(names2, values2, 2, q, sizeof(q), &err), IP_OK);
	assert_string_equal(q, "partNumber=&uploadId=x%20y");
	assert_int_equal(aws_query_build(names, NULL, 0, q, sizeof(q), &err),
			 IP_OK);
	assert_string_equal(q, "");
}

static void
test_query_utf8_and_overflow(void **state)
{
	const char *names[] = {"prefix"};
	const char *values[] = {"\xc3\xa9t\xc3\xa9"};
	char q[64];
	char small[12];
	struct ip_error err = {0};

	(void)state;
	assert_int_equal(aws_query_build(names, values, 1, q, sizeof(q), &err),
			 IP_OK);
	assert_string_equal(q, "prefix=%C3%A9t%C3%A9");
	/* Exactly too small: an error, never a cut query. */
	assert_int_equal(
	    aws_query_build(names, values, 1, small, sizeof(small), &err),
	    IP_EINVAL);
	assert_string_equal(small, "");
}

static void
test_uri_encode_path(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(
	    aws_uri_encode("a dir/cat+1&=?.jpg", true, out, sizeof(out)),
	    (long)strlen("a%20dir/cat%2B1%26%3D%3F.jpg"));
	assert_string_equal(out, "a%20dir/cat%2B1%26%3D%3F.jpg");
	aws_uri_encode("a/b", false, out, sizeof(out));
	assert_string_equal(out, "a%2Fb");
	assert_int_equal(aws_uri_encode("abc", true, out, 3), -1);
	assert_int_equal(aws_uri_encode("abc", true, out, 4), 3);
}

/* ---- S3 XML ----------------------------------------------------------- */

static void
test_xml_error(void **state)
{
	static const char xml[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
	    "<Code>SignatureDoesNotMatch</Code><Message>The request "
	    "signature we calculated does not match &amp; &lt;so&gt; on"
	    "</Message><RequestId>tx1</RequestId></Error>";
	char code[AWS_CODE_MAX];
	char msg[AWS_MESSAGE_MAX];

	(void)state;
	assert_true(aws_xml_error(xml, strlen(xml), code, sizeof(code), msg,
				  sizeof(msg)));
	assert_string_equal(code, "SignatureDoesNotMatch");
	assert_string_equal(msg, "The request signature we calculated does "
				 "not match & <so> on");
	/* Only a code (radosgw often sends no message). */
	assert_true(aws_xml_error("<Error><Code>NoSuchKey</Code></Error>", 37,
				  code, sizeof(code), msg, sizeof(msg)));
	assert_string_equal(code, "NoSuchKey");
	assert_string_equal(msg, "");
}

static void
test_xml_error_hostile(void **state)
{
	static const char *const bad[] = {
	    "",
	    "<Error>",
	    "<Error><Code>NoSuchKey", /* unterminated */
	    "<Error><Code><b>x</b></Code></Error>", /* markup inside */
	    "<Error><Code>&#0;</Code></Error>", /* NUL entity */
	    "<Error><Code>&#99999999999;</Code></Error>",
	    "<Error><Code>&bogus;</Code></Error>",
	    "<Error><Code>&#xD800;</Code></Error>", /* surrogate */
	    "<Error><CodeX>a</CodeX></Error>",
	    "not xml at all",
	};
	char code[AWS_CODE_MAX];
	char msg[AWS_MESSAGE_MAX];
	char big[4096];

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		if (aws_xml_error(bad[i], strlen(bad[i]), code, sizeof(code),
				  msg, sizeof(msg)))
			fail_msg("accepted \"%s\" as code \"%s\"", bad[i],
				 code);
		assert_string_equal(code, "");
	}
	/* A message far above the bound: absent, not overflowing. */
	snprintf(big, sizeof(big), "<Error><Code>X</Code><Message>");
	memset(big + strlen(big), 'm', 3000);
	big[sizeof(big) - 200] = '\0';
	strcat(big, "</Message></Error>");
	assert_true(aws_xml_error(big, strlen(big), code, sizeof(code), msg,
				  sizeof(msg)));
	assert_string_equal(code, "X");
	assert_true(strlen(msg) < sizeof(msg));
	/* Control characters never reach a log line or a message. */
	{
		static const char ctl[] = "<Code>a&#10;b\x01</Code>";

		assert_true(aws_xml_error(ctl, strlen(ctl), code, sizeof(code),
					  msg, sizeof(msg)));
	}
	assert_string_equal(code, "a?b?");
}

static void
test_xml_element_bounds(void **state)
{
	static const char xml[] = "<A><KeyCount>2</KeyCount><Key>k&#x41;"
				  "&#66;</Key><Key/></A>";
	char out[8];
	size_t next = 0;

	(void)state;
	/* <Key> does not match <KeyCount>. */
	assert_int_equal(aws_xml_element(xml, strlen(xml), 0, "Key", out,
					 sizeof(out), &next),
			 3);
	assert_string_equal(out, "kAB");
	assert_int_equal(aws_xml_element(xml, strlen(xml), next, "Key", out,
					 sizeof(out), NULL),
			 0);
	assert_int_equal(
	    aws_xml_element(xml, strlen(xml), 0, "KeyCount", out, 2, NULL), 1);
	assert_int_equal(
	    aws_xml_element(xml, strlen(xml), 0, "KeyCount", out, 1, NULL), -2);
	assert_int_equal(aws_xml_element(xml, strlen(xml), 0, "Nope", out,
					 sizeof(out), NULL),
			 -1);
	/* The length bounds the search: the end tag is past it. */
	assert_int_equal(
	    aws_xml_element(xml, 30, 0, "Key", out, sizeof(out), NULL), -1);
}

static const char list_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>in/</Prefix><KeyCount>3</KeyCount>"
    "<MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
    "</NextContinuationToken>"
    "<Contents><Key>in/a &amp; b.jpg</Key><LastModified>2026-01-01T00:00:"
    "00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>12</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>in/../evil</Key><Size>1</Size></Contents>"
    "<Contents><Size>0</Size><Key>in/\xc3\xa9t\xc3\xa9</Key></Contents>"
    "</ListBucketResult>";

static void
test_list_parse(void **state)
{
	struct objstore_listing l;
	struct ip_error err = {0};
	bool truncated;

	(void)state;
	assert_int_equal(objstore_s3_parse_list(list_xml, strlen(list_xml), 3,
						&l, &truncated, &err),
			 IP_OK);
	/* "in/../evil" is no valid key here: skipped, not passed on. */
	assert_int_equal(l.n, 2);
	assert_string_equal(l.keys[0], "in/a & b.jpg");
	assert_int_equal(l.sizes[0], 12);
	assert_string_equal(l.keys[1], "in/\xc3\xa9t\xc3\xa9");
	assert_int_equal(l.sizes[1], 0);
	assert_true(truncated);
	assert_string_equal(l.next_token,
			    "c1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	objstore_listing_free(&l);
}

static void
test_list_parse_last_page_and_fallback(void **state)
{
	static const char done[] =
	    "<ListBucketResult><IsTruncated>false</IsTruncated>"
	    "<Contents><Key>k</Key><Size>5</Size></Contents>"
	    "</ListBucketResult>";
	static const char no_token[] =
	    "<ListBucketResult><IsTruncated>true</IsTruncated>"
	    "<Contents><Key>a/b</Key><Size>5</Size></Contents>"
	    "</ListBucketResult>";
	static const char empty[] = "<ListBucketResult><KeyCount>0</KeyCount>"
				    "</ListBucketResult>";
	struct objstore_listing l;
	struct ip_error err = {0};
	bool truncated;

	(void)state;
	assert_int_equal(objstore_s3_parse_list(done, strlen(done), 10, &l,
						&truncated, &err),
			 IP_OK);
	assert_false(truncated);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.next_token, "");
	objstore_listing_free(&l);
	/* Truncated without a token: continue after the last key. */
	assert_int_equal(objstore_s3_parse_list(no_token, strlen(no_token), 10,
						&l, &truncated, &err),
			 IP_OK);
	assert_true(truncated);
	assert_string_equal(l.next_token, "ka/b");
	objstore_listing_free(&l);
	assert_int_equal(objstore_s3_parse_list(empty, strlen(empty), 10, &l,
						&truncated, &err),
			 IP_OK);
	assert_int_equal(l.n, 0);
	assert_false(truncated);
	objstore_listing_free(&l);
}

static void
test_list_parse_hostile(void **state)
{
	static const char *const bad[] = {
	    "",
	    "<Error><Code>X</Code></Error>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>",
	    "<ListBucketResult><Contents><Size>1</Size></Contents>",
	    "<ListBucketResult><Contents><Key>a</Key></Contents>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size>"
	    "</Contents>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>1x</Size>"
	    "</Contents>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>"
	    "99999999999999999999999</Size></Contents>",
	    "<ListBucketResult><Contents><Key>a<b/></Key><Size>1</Size>"
	    "</Contents>",
	    "<ListBucketResult><Contents><Key>&#0;</Key><Size>1</Size>"
	    "</Contents>",
	    /* Truncated with nothing to continue from: would loop. */
	    "<ListBucketResult><IsTruncated>true</IsTruncated>"
	    "</ListBucketResult>",
	    /* More entries than asked for (max 2 below). */
	    "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>"
	    "</Contents><Contents><Key>b</Key><Size>1</Size></Contents>"
	    "<Contents><Key>c</Key><Size>1</Size></Contents>",
	};
	struct objstore_listing l;
	struct ip_error err = {0};
	bool truncated;

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		int rc = objstore_s3_parse_list(bad[i], strlen(bad[i]), 2, &l,
						&truncated, &err);

		if (rc != IP_EBACKEND)
			fail_msg("case %zu: rc %d, not IP_EBACKEND", i, rc);
		assert_int_equal(l.n, 0);
		assert_null(l.keys);
		assert_false(truncated);
	}
}

static void
test_list_parse_long_key(void **state)
{
	char *xml = malloc(RECORD_KEY_MAX + 200);
	struct objstore_listing l;
	struct ip_error err = {0};
	bool truncated;
	int n;

	(void)state;
	assert_non_null(xml);
	n = snprintf(xml, 64, "<ListBucketResult><Contents><Key>");
	memset(xml + n, 'k', RECORD_KEY_MAX);
	strcpy(xml + n + RECORD_KEY_MAX, "</Key><Size>1</Size></Contents>"
					 "</ListBucketResult>");
	assert_int_equal(
	    objstore_s3_parse_list(xml, strlen(xml), 10, &l, &truncated, &err),
	    IP_EBACKEND);
	free(xml);
}

/* Every prefix of a valid reply: never a crash or a read past it; each
 * either parses to a consistent listing or is refused. */
static void
test_list_parse_every_truncation(void **state)
{
	size_t len = strlen(list_xml);

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		char *copy = malloc(cut > 0 ? cut : 1);
		struct objstore_listing l;
		struct ip_error err = {0};
		bool truncated;
		int rc;

		assert_non_null(copy);
		memcpy(copy, list_xml, cut); /* no NUL: bounds must hold */
		rc = objstore_s3_parse_list(copy, cut, 3, &l, &truncated, &err);
		assert_true(rc == IP_OK || rc == IP_EBACKEND);
		if (rc == IP_OK) {
			assert_true(l.n <= 2);
			for (size_t i = 0; i < l.n; i++)
				assert_true(objstore_key_valid(l.keys[i]));
		}
		objstore_listing_free(&l);
		free(copy);
	}
}

/* ---- DynamoDB JSON errors ------------------------------------------- */

static void
test_json_error(void **state)
{
	static const char j1[] =
	    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
	    "ConditionalCheckFailedException\",\"message\":\"The "
	    "conditional request failed\"}";
	static const char j2[] = "{\"__type\":\"com.amazon.coral.service#"
				 "UnrecognizedClientException\",\"Message\":"
				 "\"The security token is invalid\"}";
	static const char j3[] = "{\"__type\":\"ThrottlingException\"}";
	char code[AWS_CODE_MAX];
	char msg[AWS_MESSAGE_MAX];

	(void)state;
	assert_true(aws_json_error(j1, strlen(j1), code, sizeof(code), msg,
				   sizeof(msg)));
	assert_string_equal(code, "ConditionalCheckFailedException");
	assert_string_equal(msg, "The conditional request failed");
	assert_true(aws_json_error(j2, strlen(j2), code, sizeof(code), msg,
				   sizeof(msg)));
	assert_string_equal(code, "UnrecognizedClientException");
	assert_string_equal(msg, "The security token is invalid");
	assert_true(aws_json_error(j3, strlen(j3), code, sizeof(code), msg,
				   sizeof(msg)));
	assert_string_equal(code, "ThrottlingException");
	assert_string_equal(msg, "");
}

static void
test_json_error_hostile(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "\"x\"",
	    "{\"__type\":5}",
	    "{\"__type\":\"a#\"}",
	    "{\"__type\":\"\"}",
	    "{\"message\":\"no type\"}",
	    "{\"__type\":\"A\",\"__type\":\"B\"}", /* duplicate keys */
	};
	char code[AWS_CODE_MAX];
	char msg[AWS_MESSAGE_MAX];
	char big[2048];

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		if (aws_json_error(bad[i], strlen(bad[i]), code, sizeof(code),
				   msg, sizeof(msg)))
			fail_msg("accepted %s", bad[i]);
		assert_string_equal(code, "");
	}
	/* Long and with control characters: bounded and sanitised. */
	strcpy(big, "{\"__type\":\"X\",\"message\":\"a\\nb");
	memset(big + strlen(big), 'z', 1000);
	big[strlen("{\"__type\":\"X\",\"message\":\"a\\nb") + 1000] = '\0';
	strcat(big, "\"}");
	assert_true(aws_json_error(big, strlen(big), code, sizeof(code), msg,
				   sizeof(msg)));
	assert_int_equal(strlen(msg), sizeof(msg) - 1);
	assert_int_equal(strncmp(msg, "a?bzz", 5), 0);
}

/* ---- retries and error codes ---------------------------------------- */

/* A seed of the fuzz corpus (captured from radosgw, s3rver, dynalite),
 * read whole into b. */
static void
read_seed(const char *dir, const char *name, struct buf *b)
{
	const char *root = getenv("IMGPIPE_SOURCE_ROOT");
	char path[1024];
	char chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/fuzz/corpus/%s/%s",
		 root != NULL ? root : ".", dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	buf_init(b, 1024 * 1024, name);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_add(b, chunk, n, NULL), IP_OK);
	fclose(f);
}

/* The replies the servers really sent decode as the backends need. */
static void
test_captured_replies(void **state)
{
	struct objstore_listing l;
	struct record *recs = calloc(4, sizeof(*recs));
	struct ip_error err = {0};
	char code[AWS_CODE_MAX];
	char msg[AWS_MESSAGE_MAX];
	struct buf b;
	bool truncated;
	size_t n;

	(void)state;
	assert_non_null(recs);
	read_seed("s3_xml", "rgw_list_truncated.xml", &b);
	assert_int_equal(
	    objstore_s3_parse_list(buf_str(&b), b.len, 2, &l, &truncated, &err),
	    IP_OK);
	assert_true(truncated);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.keys[0], "a/&amp<.webp");
	assert_string_equal(l.keys[1], "a/1.jpg");
	assert_int_equal(l.sizes[0], 5);
	objstore_listing_free(&l);
	buf_free(&b);
	read_seed("s3_xml", "s3rver_error_nosuchkey.xml", &b);
	assert_true(aws_xml_error(buf_str(&b), b.len, code, sizeof(code), msg,
				  sizeof(msg)));
	assert_string_equal(code, "NoSuchKey");
	assert_string_equal(msg, "The specified key does not exist.");
	buf_free(&b);
	read_seed("dynamodb", "get_done.json", &b);
	assert_int_equal(
	    table_dynamodb_parse_get(buf_str(&b), b.len, &recs[0], &err),
	    IP_OK);
	assert_string_equal(recs[0].id, "01JABCDEFGHJKMNPQRSTVWXYZ0");
	assert_int_equal(recs[0].status, RECORD_DONE);
	assert_int_equal(recs[0].version, 3);
	buf_free(&b);
	read_seed("dynamodb", "get_missing.json", &b);
	assert_int_equal(
	    table_dynamodb_parse_get(buf_str(&b), b.len, &recs[0], &err),
	    IP_ENOTFOUND);
	buf_free(&b);
	read_seed("dynamodb", "scan_two.json", &b);
	assert_int_equal(
	    table_dynamodb_parse_query(buf_str(&b), b.len, recs, 4, &n, &err),
	    IP_OK);
	assert_int_equal(n, 2);
	buf_free(&b);
	read_seed("dynamodb", "error_conditional_check_failed.json", &b);
	assert_true(aws_json_error(buf_str(&b), b.len, code, sizeof(code), msg,
				   sizeof(msg)));
	assert_string_equal(code, "ConditionalCheckFailedException");
	assert_int_equal(aws_error_map(400, code), IP_ECONFLICT);
	buf_free(&b);
	free(recs);
}

static void
test_retry_classification(void **state)
{
	(void)state;
	/* Throttling, whatever the status. */
	assert_true(aws_retryable(503, "SlowDown", 0));
	assert_true(aws_retryable(400, "ThrottlingException", 0));
	assert_true(
	    aws_retryable(400, "ProvisionedThroughputExceededException", 0));
	assert_true(aws_retryable(400, "RequestLimitExceeded", 0));
	/* Server errors and 429. */
	assert_true(aws_retryable(500, "InternalError", 0));
	assert_true(aws_retryable(502, "", 0));
	assert_true(aws_retryable(503, NULL, 0));
	assert_true(aws_retryable(429, NULL, 0));
	/* Never another 4xx. */
	assert_false(aws_retryable(400, "ValidationException", 0));
	assert_false(aws_retryable(400, "ConditionalCheckFailedException", 0));
	assert_false(aws_retryable(403, "SignatureDoesNotMatch", 0));
	assert_false(aws_retryable(404, "NoSuchKey", 0));
	assert_false(aws_retryable(409, "BucketAlreadyOwnedByYou", 0));
	assert_false(aws_retryable(400, "", 0));
	/* Transport: the network's failures, not ours. */
	assert_true(aws_retryable(0, NULL, CURLE_COULDNT_CONNECT));
	assert_true(aws_retryable(0, NULL, CURLE_OPERATION_TIMEDOUT));
	assert_true(aws_retryable(0, NULL, CURLE_GOT_NOTHING));
	assert_true(aws_retryable(0, NULL, CURLE_RECV_ERROR));
	assert_true(aws_retryable(0, NULL, CURLE_PARTIAL_FILE));
	assert_false(aws_retryable(0, NULL, CURLE_READ_ERROR));
	assert_false(aws_retryable(0, NULL, CURLE_WRITE_ERROR));
	assert_false(aws_retryable(0, NULL, CURLE_URL_MALFORMAT));
}

static void
test_error_map(void **state)
{
	(void)state;
	assert_int_equal(aws_error_map(404, "NoSuchKey"), IP_ENOTFOUND);
	assert_int_equal(aws_error_map(404, ""), IP_ENOTFOUND);
	assert_int_equal(aws_error_map(403, "SignatureDoesNotMatch"), IP_EAUTH);
	assert_int_equal(aws_error_map(403, "InvalidAccessKeyId"), IP_EAUTH);
	assert_int_equal(aws_error_map(403, ""), IP_EAUTH);
	assert_int_equal(aws_error_map(403, "AccessDenied"), IP_EFORBIDDEN);
	assert_int_equal(aws_error_map(400, "UnrecognizedClientException"),
			 IP_EAUTH);
	assert_int_equal(aws_error_map(400, "ConditionalCheckFailedException"),
			 IP_ECONFLICT);
	assert_int_equal(aws_error_map(400, "ResourceNotFoundException"),
			 IP_ENOTFOUND);
	assert_int_equal(aws_error_map(409, "BucketAlreadyOwnedByYou"),
			 IP_EEXIST);
	assert_int_equal(aws_error_map(503, "SlowDown"), IP_ERETRY);
	assert_int_equal(aws_error_map(400, "ThrottlingException"), IP_ERETRY);
	assert_int_equal(aws_error_map(500, "InternalError"), IP_EBACKEND);
	assert_int_equal(aws_error_map(502, ""), IP_EBACKEND);
	assert_int_equal(aws_error_map(400, "ValidationException"),
			 IP_EBACKEND);
	assert_int_equal(aws_error_map(200, ""), IP_OK);
}

/* ---- credentials ----------------------------------------------------- */

static void
clear_aws_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
}

static void
test_creds(void **state)
{
	struct config cfg;
	struct aws_creds c;
	struct ip_error err = {0};

	(void)state;
	clear_aws_env();
	config_defaults(&cfg);
	cfg.aws_region[0] = '\0';
	assert_int_equal(aws_creds_load(&cfg, NULL, &c, &err), IP_EAUTH);
	assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));

	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret/env+=", 1);
	setenv("AWS_SESSION_TOKEN", "tok", 1);
	assert_int_equal(aws_creds_load(&cfg, NULL, &c, &err), IP_EINVAL);
	setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
	assert_int_equal(aws_creds_load(&cfg, NULL, &c, &err), IP_OK);
	assert_string_equal(c.access_key_id, "AKIDENV");
	assert_string_equal(c.secret_access_key, "secret/env+=");
	assert_string_equal(c.session_token, "tok");
	assert_string_equal(c.region, "eu-west-3");
	setenv("AWS_REGION", "eu-north-1", 1);
	assert_int_equal(aws_creds_load(&cfg, NULL, &c, &err), IP_OK);
	assert_string_equal(c.region, "eu-north-1");

	/* Configuration wins over the environment; the URL's region over
	 * both. */
	util_strlcpy(cfg.aws_access_key_id, "AKIDCFG",
		     sizeof(cfg.aws_access_key_id));
	util_strlcpy(cfg.aws_secret_access_key, "cfgsecret",
		     sizeof(cfg.aws_secret_access_key));
	util_strlcpy(cfg.aws_region, "ap-south-1", sizeof(cfg.aws_region));
	assert_int_equal(aws_creds_load(&cfg, NULL, &c, &err), IP_OK);
	assert_string_equal(c.access_key_id, "AKIDCFG");
	assert_string_equal(c.secret_access_key, "cfgsecret");
	assert_string_equal(c.session_token, "");
	assert_string_equal(c.region, "ap-south-1");
	assert_int_equal(aws_creds_load(&cfg, "us-west-2", &c, &err), IP_OK);
	assert_string_equal(c.region, "us-west-2");

	assert_int_equal(aws_creds_load(&cfg, "US-WEST-2", &c, &err),
			 IP_EINVAL);
	util_strlcpy(cfg.aws_access_key_id, "AK:ID",
		     sizeof(cfg.aws_access_key_id));
	assert_int_equal(aws_creds_load(&cfg, NULL, &c, &err), IP_EINVAL);
	clear_aws_env();
}

/* ---- backend URLs ---------------------------------------------------- */

/* The parameter names the URLs below may use. */
static const char *const known[] = {
    "region", "path_style", "table", "a", "b", "c", "d", "e", "f", "g",	 "h",
    "i",      "j",	    "k",     "l", "m", "n", "o", "p", "q", NULL,
};

static void
test_url_parse_good(void **state)
{
	struct aws_url u;
	struct ip_error err = {0};

	(void)state;
	assert_int_equal(aws_url_parse("s3+http://127.0.0.1:7480/?region="
				       "us-east-1&path_style=1",
				       "s3", known, &u, &err),
			 IP_OK);
	assert_false(u.https);
	assert_false(u.aws);
	assert_string_equal(u.host, "127.0.0.1:7480");
	assert_string_equal(query_get(&u.query, "region"), "us-east-1");
	assert_string_equal(query_get(&u.query, "path_style"), "1");
	assert_null(query_get(&u.query, "table"));

	assert_int_equal(aws_url_parse("s3+https://minio.example.org", "s3",
				       known, &u, &err),
			 IP_OK);
	assert_true(u.https);
	assert_string_equal(u.host, "minio.example.org");
	assert_int_equal(u.query.n, 0);

	assert_int_equal(aws_url_parse("s3://", "s3", known, &u, &err), IP_OK);
	assert_true(u.aws && u.https);
	assert_string_equal(u.host, "");
	assert_int_equal(aws_url_parse("dynamodb://?table=t%2D1&region=eu-"
				       "west-1",
				       "dynamodb", known, &u, &err),
			 IP_OK);
	assert_true(u.aws);
	assert_string_equal(query_get(&u.query, "table"), "t-1");
	assert_int_equal(aws_url_parse("dynamodb+http://[::1]:8000/?table=x",
				       "dynamodb", known, &u, &err),
			 IP_OK);
	assert_string_equal(u.host, "[::1]:8000");
}

static void
test_url_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "s3",
	    "s3:",
	    "s3+ftp://h/",
	    "s3+http://",
	    "s3+http:///x",
	    "s3+http://h/path",
	    "s3+http://user@h/",
	    "s3+http://h:/",
	    "s3://h/",
	    "s3+http://h/?a=1&a=2",
	    "s3+http://h/?Region=x",
	    "s3+http://h/?a=%zz",
	    "s3+http://h/?a=%0a",
	    "s3+http://h/?a=%",
	    "s3+http://h/#frag",
	    "s3+http://h/?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&"
	    "l=12&m=13&n=14&o=15&p=16&q=17",
	    "dynamodb+http://h/",
	    "s3 +http://h/",
	};
	struct aws_url u;
	struct ip_error err = {0};

	(void)state;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
		if (aws_url_parse(bad[i], "s3", known, &u, &err) != IP_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

/* The backends' own checks of their URLs and parameters happen before
 * any request, so a bad URL is IP_EINVAL without a server. */
static void
test_backend_urls(void **state)
{
	static const char *const bad_s3[] = {
	    "s3+http://127.0.0.1:1/?bogus=1",
	    "s3+http://127.0.0.1:1/?path_style=maybe",
	    "s3+http://127.0.0.1:1/?part_size=1M",
	    "s3+http://127.0.0.1:1/?multipart_threshold=abc",
	    "s3+http://127.0.0.1:1/?attempts=0",
	    "s3+http://127.0.0.1:1/?attempts=11",
	    "s3+http://127.0.0.1:1/?region=Bad_Region",
	    "s3+gopher://127.0.0.1:1/",
	    "dynamodb+http://127.0.0.1:1/",
	};
	static const char *const bad_ddb[] = {
	    "dynamodb+http://127.0.0.1:1/?table=a",
	    "dynamodb+http://127.0.0.1:1/?table=bad%20name",
	    "dynamodb+http://127.0.0.1:1/?tables=x",
	    "dynamodb+http://127.0.0.1:1/?create=2",
	    "dynamodb+http://127.0.0.1:1/path",
	    "s3+http://127.0.0.1:1/",
	};
	struct config cfg;
	struct objstore *s = NULL;
	struct table *t = NULL;
	struct ip_error err = {0};

	(void)state;
	config_defaults(&cfg);
	util_strlcpy(cfg.aws_access_key_id, "AKID",
		     sizeof(cfg.aws_access_key_id));
	util_strlcpy(cfg.aws_secret_access_key, "secret",
		     sizeof(cfg.aws_secret_access_key));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad_s3); i++) {
		util_strlcpy(cfg.objstore, bad_s3[i], sizeof(cfg.objstore));
		if (objstore_s3_open(&cfg, &s, &err) != IP_EINVAL)
			fail_msg("s3 accepted \"%s\"", bad_s3[i]);
		assert_null(s);
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad_ddb); i++) {
		util_strlcpy(cfg.table, bad_ddb[i], sizeof(cfg.table));
		if (table_connect(&cfg, &t, &err) != IP_EINVAL)
			fail_msg("dynamodb accepted \"%s\": %s", bad_ddb[i],
				 err.msg);
		assert_null(t);
	}
	/* A good URL opens without a request (s3 has nothing to check). */
	util_strlcpy(cfg.objstore,
		     "s3+http://127.0.0.1:1/?region=eu-west-1&path_style=0"
		     "&multipart_threshold=64M&part_size=16M&attempts=2",
		     sizeof(cfg.objstore));
	assert_int_equal(objstore_s3_open(&cfg, &s, &err), IP_OK);
	assert_string_equal(objstore_name(s), "s3");
	objstore_close(s);
	/* Missing credentials are an auth error that says what to set. */
	clear_aws_env();
	cfg.aws_access_key_id[0] = '\0';
	cfg.aws_secret_access_key[0] = '\0';
	assert_int_equal(objstore_s3_open(&cfg, &s, &err), IP_EAUTH);
}

/* ---- listing cursors ------------------------------------------------- */

static void
test_cursor(void **state)
{
	char id[RECORD_ID_MAX];
	char cur[TABLE_CURSOR_MAX];
	char back[RECORD_ID_MAX];
	static const char *const bad[] = {
	    "",	       "!!!",	    "abc",
	    "aGVsbG8", "MDFK MDAw", "MDFKMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA==",
	};

	(void)state;
	for (int i = 0; i < 50; i++) {
		util_new_id(id, sizeof(id));
		table_util_cursor_encode(id, cur, sizeof(cur));
		assert_true(table_util_cursor_decode(cur, back, sizeof(back)));
		assert_string_equal(back, id);
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
		assert_false(
		    table_util_cursor_decode(bad[i], back, sizeof(back)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query_sorted_and_encoded),
	    cmocka_unit_test(test_query_empty_values),
	    cmocka_unit_test(test_query_utf8_and_overflow),
	    cmocka_unit_test(test_uri_encode_path),
	    cmocka_unit_test(test_xml_error),
	    cmocka_unit_test(test_xml_error_hostile),
	    cmocka_unit_test(test_xml_element_bounds),
	    cmocka_unit_test(test_list_parse),
	    cmocka_unit_test(test_list_parse_last_page_and_fallback),
	    cmocka_unit_test(test_list_parse_hostile),
	    cmocka_unit_test(test_list_parse_long_key),
	    cmocka_unit_test(test_list_parse_every_truncation),
	    cmocka_unit_test(test_json_error),
	    cmocka_unit_test(test_json_error_hostile),
	    cmocka_unit_test(test_captured_replies),
	    cmocka_unit_test(test_retry_classification),
	    cmocka_unit_test(test_error_map),
	    cmocka_unit_test(test_creds),
	    cmocka_unit_test(test_url_parse_good),
	    cmocka_unit_test(test_url_parse_bad),
	    cmocka_unit_test(test_backend_urls),
	    cmocka_unit_test(test_cursor),
	};

	log_set_level(LOG_QUIET);
	return cmocka_run_group_tests_name("aws", tests, NULL, NULL);
}
