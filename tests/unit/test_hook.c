/*
 * test_hook.c - core/hook.h: the notify.* parsers, a delivery's id and
 * stored form, the signature (against HMAC-SHA256 computed by Python's
 * hmac module), and util_backoff_ms' bounds.  Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hook.h"
#include "core/util.h"

static void
test_urls(void **state)
{
	struct hook_urls u;
	struct ip_error err;
	char long_url[HOOK_URL_MAX + 16];
	char many[16 * 24] = "";

	(void)state;
	assert_int_equal(hook_urls_parse("", &u, &err), IP_OK);
	assert_int_equal(u.n, 0);
	assert_int_equal(
	    hook_urls_parse("http://127.0.0.1:9/h,HTTPS://a.example/"
			    "x?y=1",
			    &u, &err),
	    IP_OK);
	assert_int_equal(u.n, 2);
	assert_string_equal(u.url[0], "http://127.0.0.1:9/h");
	assert_string_equal(u.url[1], "HTTPS://a.example/x?y=1");

	static const char *const bad[] = {"ftp://a.example/",
					  "file:///etc/passwd",
					  "http://",
					  "http:///x",
					  "https://:80/",
					  "a.example/hook",
					  "http://a b/",
					  "http://a.example/,",
					  ",http://a.example/",
					  "http://a.example/\x01",
					  "http://\xc3\xa9.example/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hook_urls_parse(bad[i], &u, &err), IP_EINVAL);
		assert_non_null(strstr(err.msg, "notify.url"));
	}
	memset(long_url, 'a', sizeof(long_url) - 1);
	long_url[sizeof(long_url) - 1] = '\0';
	memcpy(long_url, "http://", 7);
	assert_int_equal(hook_urls_parse(long_url, &u, &err), IP_EINVAL);
	assert_non_null(strstr(err.msg, "too long"));
	for (int i = 0; i < HOOK_URLS_MAX + 1; i++)
		strcat(many,
		       i == 0 ? "http://a.example/" : ",http://a.example/");
	assert_int_equal(hook_urls_parse(many, &u, &err), IP_EINVAL);
	assert_non_null(strstr(err.msg, "more than"));
}

static void
test_secrets(void **state)
{
	struct hook_secrets s;
	struct ip_error err;

	(void)state;
	assert_int_equal(hook_secrets_parse("", &s, &err), IP_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(hook_secrets_parse("whsec-0123456789abcdef,"
					    "whsec-fedcba9876543210",
					    &s, &err),
			 IP_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.secret[1], "whsec-fedcba9876543210");
	assert_int_equal(hook_secrets_parse("tooShortSecret", &s, &err),
			 IP_EINVAL);
	assert_null(strstr(err.msg, "tooShortSecret")); /* never quoted */
	assert_int_equal(
	    hook_secrets_parse("whsec-0123456789 abcdef", &s, &err), IP_EINVAL);
	assert_int_equal(hook_secrets_parse("aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb,"
					    "cccccccccccccccc,dddddddddddddddd,"
					    "eeeeeeeeeeeeeeee",
					    &s, &err),
			 IP_EINVAL);
}

static void
test_sign(void **state)
{
	struct hook_secrets s;
	struct ip_error err;
	char out[HOOK_SIGNATURE_MAX];
	const char *body = "{\"a\":1}";

	(void)state;
	assert_int_equal(hook_secrets_parse("whsec-0123456789abcdef,"
					    "whsec-fedcba9876543210",
					    &s, &err),
			 IP_OK);
	hook_sign(&s, 1733130000, body, strlen(body), out, sizeof(out));
	/* python3: hmac.new(secret, b'1733130000.{"a":1}', sha256) */
	assert_string_equal(
	    out, "t=1733130000,"
		 "v1=b858918198f9267c24e23856fd6ae500ac50566db9b7d648d7e8e4c820"
		 "2c4b38,"
		 "v1=10b63d6864f6c25b72f6e8170f74085fbdabdc329719632ceaf56d447a"
		 "511676");
}

static void
test_delivery(void **state)
{
	struct record r;
	struct hook h, back;
	struct ip_error err;
	char *doc;

	(void)state;
	memset(&r, 0, sizeof(r));
	util_strlcpy(r.id, "01JD6Z0QF9V6X7Q1ZQ3N1B2C3D", sizeof(r.id));
	r.status = RECORD_FAILED;
	r.attempts = 3;
	hook_init(&h, &r, 1, "http://127.0.0.1:9/h", 1733130000123);
	assert_string_equal(h.id, "01JD6Z0QF9V6X7Q1ZQ3N1B2C3D.failed.3.1");
	assert_true(hook_id_valid(h.id));
	assert_int_equal(h.event, HOOK_FAILED);
	assert_int_equal(h.state, HOOK_PENDING);
	assert_int_equal(h.next_ms, 1733130000123);
	assert_true(hook_matches(&h, &r));
	r.attempts = 4; /* retried since: another final write */
	assert_false(hook_matches(&h, &r));
	r.attempts = 3;
	r.status = RECORD_DONE;
	assert_false(hook_matches(&h, &r));

	util_strlcpy(h.error, "HTTP 500", sizeof(h.error));
	h.attempts = 2;
	doc = hook_to_string(&h);
	assert_non_null(doc);
	assert_int_equal(hook_from_string(doc, strlen(doc), &back, &err),
			 IP_OK);
	assert_memory_equal(&h, &back, sizeof(h));
	free(doc);
	assert_int_equal(hook_from_string("{\"id\":\"x\"}", 10, &back, &err),
			 IP_EBACKEND);
	assert_false(hook_id_valid("../etc"));
	assert_false(hook_id_valid(""));
	assert_string_equal(hook_event_name(HOOK_DONE), "image.done");
	assert_int_equal(hook_event_parse("image.failed"), HOOK_FAILED);
	assert_int_equal(hook_event_parse("image.other"), -1);
}

static void
test_backoff(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		int64_t d1 = util_backoff_ms(1000, 3600000, 1);
		int64_t d3 = util_backoff_ms(1000, 3600000, 3);
		int64_t dmax = util_backoff_ms(1000, 3600000, 60);

		assert_in_range(d1, 800, 1200);
		assert_in_range(d3, 3200, 4800);
		assert_in_range(dmax, 2880000, 4320000);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_urls),    cmocka_unit_test(test_secrets),
	    cmocka_unit_test(test_sign),    cmocka_unit_test(test_delivery),
	    cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
