/*
 * test_params.c - pure request-value parsers (src/api/params.c): Range,
 * query values (limit, wait, cursor, name) and their bounds, entity-tag
 * matching, HTTP dates, percent-decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/params.h"

struct range_case {
	const char *hdr;
	int64_t size;
	enum params_range kind;
	int64_t first;
	int64_t last;
};

static const struct range_case ranges[] = {
    {"bytes=0-499", 1000, PARAMS_RANGE_ONE, 0, 499},
    {"bytes=500-", 1000, PARAMS_RANGE_ONE, 500, 999},
    {"bytes=-200", 1000, PARAMS_RANGE_ONE, 800, 999},
    {"bytes=-2000", 1000, PARAMS_RANGE_ONE, 0, 999},
    {"bytes=0-0", 1000, PARAMS_RANGE_ONE, 0, 0},
    {"bytes=999-999", 1000, PARAMS_RANGE_ONE, 999, 999},
    {"bytes=990-2000", 1000, PARAMS_RANGE_ONE, 990, 999},
    {"Bytes=1-2", 1000, PARAMS_RANGE_ONE, 1, 2},
    {"bytes = 1-2 ", 1000, PARAMS_RANGE_ONE, 1, 2},
    {"bytes=1000-", 1000, PARAMS_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1000-1001", 1000, PARAMS_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-0", 1000, PARAMS_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=0-", 0, PARAMS_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=99999999999999999999-", 1000, PARAMS_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=0-1,5-6", 1000, PARAMS_RANGE_MULTI, 0, 0},
    {"bytes=0-1, -5", 1000, PARAMS_RANGE_MULTI, 0, 0},
    {NULL, 1000, PARAMS_RANGE_NONE, 0, 0},
    {"", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"items=0-1", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=-", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=5-1", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=a-b", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=0--1", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=+1-2", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=1-2-3", 1000, PARAMS_RANGE_NONE, 0, 0},
    {"bytes=,", 1000, PARAMS_RANGE_NONE, 0, 0},
};

static void
test_range(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		const struct range_case *c = &ranges[i];
		int64_t first = -7;
		int64_t last = -7;
		enum params_range k =
		    params_range(c->hdr, c->size, &first, &last);

		if (k != c->kind)
			fail_msg("'%s' size %lld: kind %d, want %d",
				 c->hdr ? c->hdr : "(null)", (long long)c->size,
				 (int)k, (int)c->kind);
		if (k == PARAMS_RANGE_ONE) {
			assert_int_equal(first, c->first);
			assert_int_equal(last, c->last);
		}
	}
}

static void
test_range_oversize_header(void **state)
{
	char *hdr = malloc(PARAMS_VALUE_MAX + 16);
	int64_t a;
	int64_t b;

	(void)state;
	assert_non_null(hdr);
	strcpy(hdr, "bytes=0-");
	memset(hdr + 8, '1', PARAMS_VALUE_MAX);
	hdr[PARAMS_VALUE_MAX + 8] = '\0';
	assert_int_equal(params_range(hdr, 100, &a, &b), PARAMS_RANGE_NONE);
	free(hdr);
}

static void
test_limit(void **state)
{
	static const char *const bad[] = {"0",	"101",	      "-1", "abc",
					  "",	"1.5",	      " 5", "5 ",
					  "+5", "99999999999"};
	struct ip_error err;
	int v = -1;

	(void)state;
	assert_int_equal(params_limit(NULL, &v, &err), IP_OK);
	assert_int_equal(v, PARAMS_LIMIT_DEFAULT);
	assert_int_equal(params_limit("1", &v, &err), IP_OK);
	assert_int_equal(v, 1);
	assert_int_equal(params_limit("100", &v, &err), IP_OK);
	assert_int_equal(v, 100);
	assert_int_equal(params_limit("007", &v, &err), IP_OK);
	assert_int_equal(v, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (params_limit(bad[i], &v, &err) != IP_EINVAL)
			fail_msg("limit '%s' accepted", bad[i]);
		assert_non_null(strstr(err.msg, "limit"));
	}
}

static void
test_wait(void **state)
{
	static const char *const bad[] = {"-1", "1.5", "abc",
					  " 1", "1s",  "0x10"};
	struct ip_error err;
	int v = -1;

	(void)state;
	assert_int_equal(params_wait(NULL, 30, &v, &err), IP_OK);
	assert_int_equal(v, 0);
	assert_int_equal(params_wait("", 30, &v, &err), IP_OK);
	assert_int_equal(v, 0);
	assert_int_equal(params_wait("0", 30, &v, &err), IP_OK);
	assert_int_equal(v, 0);
	assert_int_equal(params_wait("5", 30, &v, &err), IP_OK);
	assert_int_equal(v, 5);
	assert_int_equal(params_wait("30", 30, &v, &err), IP_OK);
	assert_int_equal(v, 30);
	/* above the cap: capped, not refused */
	assert_int_equal(params_wait("31", 30, &v, &err), IP_OK);
	assert_int_equal(v, 30);
	assert_int_equal(params_wait("99999999999999999999999", 30, &v, &err),
			 IP_OK);
	assert_int_equal(v, 30);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (params_wait(bad[i], 30, &v, &err) != IP_EINVAL)
			fail_msg("wait '%s' accepted", bad[i]);
}

static void
test_cursor(void **state)
{
	char out[128];
	char *big;
	struct ip_error err;

	(void)state;
	assert_int_equal(params_cursor(NULL, out, sizeof(out), &err), IP_OK);
	assert_string_equal(out, "");
	assert_int_equal(params_cursor("", out, sizeof(out), &err), IP_OK);
	assert_string_equal(out, "");
	assert_int_equal(params_cursor("MDFKMA_-x", out, sizeof(out), &err),
			 IP_OK);
	assert_string_equal(out, "MDFKMA_-x");
	/* Values arrive decoded by query_parse (tests/unit). */
	assert_int_equal(params_cursor("a=b", out, sizeof(out), &err), IP_OK);
	assert_string_equal(out, "a=b");
	assert_int_equal(params_cursor("a b", out, sizeof(out), &err),
			 IP_EINVAL);
	assert_int_equal(params_cursor("a\nb", out, sizeof(out), &err),
			 IP_EINVAL);
	assert_int_equal(params_cursor("a\xc3\xa9", out, sizeof(out), &err),
			 IP_EINVAL);
	big = malloc(200);
	assert_non_null(big);
	memset(big, 'x', 199);
	big[199] = '\0';
	assert_int_equal(params_cursor(big, out, sizeof(out), &err), IP_EINVAL);
	big[127] = '\0'; /* exactly fits with its NUL */
	assert_int_equal(params_cursor(big, out, sizeof(out), &err), IP_OK);
	free(big);
}

static void
test_name(void **state)
{
	char out[PARAMS_NAME_MAX + 1];
	char raw[PARAMS_NAME_MAX + 2];
	struct ip_error err;

	(void)state;
	assert_int_equal(params_name(NULL, out, sizeof(out), &err), IP_OK);
	assert_string_equal(out, "image");
	assert_int_equal(params_name("", out, sizeof(out), &err), IP_OK);
	assert_string_equal(out, "image");
	/* Values arrive decoded by query_parse (tests/unit). */
	assert_int_equal(params_name("my photo.jpg", out, sizeof(out), &err),
			 IP_OK);
	assert_string_equal(out, "my photo.jpg");
	assert_int_equal(params_name("a/b", out, sizeof(out), &err), IP_OK);
	assert_string_equal(out, "a/b"); /* sanitising is ingest's job */
	assert_int_equal(params_name("abc", out, 3, &err), IP_EINVAL);
	memset(raw, 'n', PARAMS_NAME_MAX);
	raw[PARAMS_NAME_MAX] = '\0';
	assert_int_equal(params_name(raw, out, sizeof(out), &err), IP_OK);
	raw[PARAMS_NAME_MAX] = 'n';
	raw[PARAMS_NAME_MAX + 1] = '\0';
	assert_int_equal(params_name(raw, out, sizeof(out), &err), IP_EINVAL);
}

static void
test_pct_decode(void **state)
{
	char out[8];
	size_t n = 0;
	struct ip_error err;

	(void)state;
	assert_int_equal(params_pct_decode("a%41+", 5, false, true, out,
					   sizeof(out), &n, &err),
			 IP_OK);
	assert_string_equal(out, "aA+");
	assert_int_equal(n, 3);
	assert_int_equal(params_pct_decode("a%41+", 5, true, true, out,
					   sizeof(out), &n, &err),
			 IP_OK);
	assert_string_equal(out, "aA ");
	/* only raw_len bytes are read */
	assert_int_equal(params_pct_decode("ab%4", 2, false, true, out,
					   sizeof(out), &n, &err),
			 IP_OK);
	assert_string_equal(out, "ab");
	assert_int_equal(params_pct_decode("12345678", 8, false, false, out,
					   sizeof(out), &n, &err),
			 IP_ETOOBIG);
	assert_int_equal(params_pct_decode("1234567", 7, false, false, out,
					   sizeof(out), &n, &err),
			 IP_OK);
	assert_int_equal(params_pct_decode("%2f", 3, false, false, out,
					   sizeof(out), &n, &err),
			 IP_OK);
	assert_string_equal(out, "/");
	assert_int_equal(params_pct_decode("%2f", 3, false, true, out,
					   sizeof(out), &n, &err),
			 IP_EINVAL);
}

static void
test_etag_match(void **state)
{
	const char *mine = "\"abc123\"";

	(void)state;
	assert_true(params_etag_match("\"abc123\"", mine));
	assert_true(params_etag_match("W/\"abc123\"", mine));
	assert_true(params_etag_match("\"x\", \"abc123\"", mine));
	assert_true(params_etag_match("\"x\",W/\"abc123\" ", mine));
	assert_true(params_etag_match("*", mine));
	assert_true(params_etag_match(" * ", mine));
	assert_false(params_etag_match("\"abc1234\"", mine));
	assert_false(params_etag_match("\"abc12\"", mine));
	assert_false(params_etag_match("abc123", mine));
	assert_false(params_etag_match("\"a,b\"", "\"a\""));
	assert_true(params_etag_match("\"a,b\"", "\"a,b\""));
	assert_false(params_etag_match("", mine));
	assert_false(params_etag_match(NULL, mine));
	assert_false(params_etag_match("\"", mine));
}

static void
test_http_date(void **state)
{
	const int64_t want = 784111777000LL; /* 1994-11-06T08:49:37Z */

	(void)state;
	assert_int_equal(params_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
			 want);
	assert_int_equal(params_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
			 want);
	assert_int_equal(params_http_date("Sun Nov  6 08:49:37 1994"), want);
	assert_int_equal(params_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), -1);
	assert_int_equal(params_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
	assert_int_equal(params_http_date("Sun, 36 Nov 1994 08:49:37 GMT"), -1);
	assert_int_equal(params_http_date("Sun, 06 Nov 1994 08:49:37 GMTx"),
			 -1);
	assert_int_equal(params_http_date("yesterday"), -1);
	assert_int_equal(params_http_date(""), -1);
	assert_int_equal(params_http_date(NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range),
	    cmocka_unit_test(test_range_oversize_header),
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_wait),
	    cmocka_unit_test(test_cursor),
	    cmocka_unit_test(test_name),
	    cmocka_unit_test(test_pct_decode),
	    cmocka_unit_test(test_etag_match),
	    cmocka_unit_test(test_http_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
