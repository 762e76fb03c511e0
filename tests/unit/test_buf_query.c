/*
 * test_buf_query.c - the bounded buffer (core/buf.c) and the query-string
 * parser (core/query.c): the one rule for empty parameters, decoding,
 * limits, and the one error a full buffer gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/query.h"

static void
test_buf_bounded(void **state)
{
	struct buf b;
	struct ip_error e;
	char big[300];

	(void)state;
	buf_init(&b, 10, "event body");
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(buf_add_str(&b, "0123456", &e), IP_OK);
	assert_int_equal(buf_add(&b, "789", 3, &e), IP_OK);
	assert_string_equal(buf_str(&b), "0123456789");
	/* One byte over the maximum: refused, contents unchanged. */
	assert_int_equal(buf_add(&b, "x", 1, &e), IP_ETOOBIG);
	assert_string_equal(e.msg, "event body is larger than 10 bytes");
	assert_int_equal(b.len, 10);
	assert_string_equal(buf_str(&b), "0123456789");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_str(&b), "");
	buf_free(&b);

	/* Growth past the first allocation, then hand-over. */
	memset(big, 'a', sizeof(big));
	buf_init(&b, 1000, NULL);
	assert_int_equal(buf_add(&b, big, sizeof(big), &e), IP_OK);
	assert_int_equal(buf_add(&b, big, sizeof(big), &e), IP_OK);
	assert_int_equal(buf_add(&b, big, sizeof(big), &e), IP_OK);
	assert_int_equal(buf_add(&b, big, sizeof(big), &e), IP_ETOOBIG);
	{
		size_t len;
		char *s = buf_steal(&b, &len);

		assert_int_equal(len, 900);
		assert_int_equal(strlen(s), 900);
		free(s);
	}
	assert_null(b.data);
	buf_free(&b);
	buf_free(NULL);
}

static void
test_query_rules(void **state)
{
	struct query q;
	struct ip_error e;
	const char *s;
	bool flag;

	(void)state;
	/* Empty sequences are skipped, wherever they are. */
	s = "&a=1&&b=x%20y&";
	assert_int_equal(query_parse(s, strlen(s), 0, &q, &e), IP_OK);
	assert_int_equal(q.n, 2);
	assert_string_equal(query_get(&q, "a"), "1");
	assert_string_equal(query_get(&q, "b"), "x y");
	assert_null(query_get(&q, "c"));
	/* A name alone is present with "", and is true. */
	s = "path_style";
	assert_int_equal(query_parse(s, strlen(s), 0, &q, &e), IP_OK);
	assert_string_equal(query_get(&q, "path_style"), "");
	assert_int_equal(query_bool(&q, "path_style", false, &flag, &e), IP_OK);
	assert_true(flag);
	/* '+' is a space only in form encoding. */
	s = "k=a+b";
	assert_int_equal(query_parse(s, strlen(s), 0, &q, &e), IP_OK);
	assert_string_equal(query_get(&q, "k"), "a+b");
	assert_int_equal(query_parse(s, strlen(s), QUERY_PLUS_SPACE, &q, &e),
			 IP_OK);
	assert_string_equal(query_get(&q, "k"), "a b");
	/* Only len bytes are read. */
	s = "a=1&b=2";
	assert_int_equal(query_parse(s, 3, 0, &q, &e), IP_OK);
	assert_int_equal(q.n, 1);
}

static void
test_query_refusals(void **state)
{
	static const char *const bad[] = {
	    "a=1&a=2", /* twice */
	    "=1", /* no name */
	    "a b=1", /* bad name */
	    "a=%zz", /* bad escape */
	    "a=%00", /* NUL */
	    "a=%0a", /* control byte */
	};
	struct query q;
	struct ip_error e;
	char many[400] = "";
	char one[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(query_parse(bad[i], strlen(bad[i]), 0, &q, &e),
				 IP_EINVAL);
		assert_int_equal(q.n, 0);
	}
	assert_int_equal(query_parse("a=%c3%a9", 8, QUERY_ASCII_ONLY, &q, &e),
			 IP_EINVAL);
	assert_int_equal(query_parse("a=%c3%a9", 8, 0, &q, &e), IP_OK);
	for (int i = 0; i <= QUERY_PARAMS_MAX; i++) {
		snprintf(one, sizeof(one), "p%d=1&", i);
		strcat(many, one);
	}
	assert_int_equal(query_parse(many, strlen(many), 0, &q, &e), IP_EINVAL);
	assert_string_equal(e.msg, "too many query parameters (max 16)");
}

static void
test_query_typed(void **state)
{
	static const char *const known[] = {"region", "timeout", NULL};
	struct query q;
	struct ip_error e;
	const char *s = "region=eu-west-1&timeout=16M&x=no";
	int64_t n;
	bool b;

	(void)state;
	assert_int_equal(query_parse(s, strlen(s), 0, &q, &e), IP_OK);
	assert_int_equal(query_check_known(&q, known, &e), IP_EINVAL);
	assert_string_equal(e.msg, "unknown parameter \"x\"");
	assert_int_equal(query_int(&q, "timeout", 1, 0, INT64_MAX, &n, &e),
			 IP_OK);
	assert_int_equal(n, 16 * 1024 * 1024);
	assert_int_equal(query_int(&q, "timeout", 1, 0, 100, &n, &e),
			 IP_EINVAL);
	assert_int_equal(query_int(&q, "absent", 7, 0, 100, &n, &e), IP_OK);
	assert_int_equal(n, 7);
	assert_int_equal(query_bool(&q, "x", true, &b, &e), IP_OK);
	assert_false(b);
	assert_int_equal(query_bool(&q, "region", true, &b, &e), IP_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_bounded),
	    cmocka_unit_test(test_query_rules),
	    cmocka_unit_test(test_query_refusals),
	    cmocka_unit_test(test_query_typed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
