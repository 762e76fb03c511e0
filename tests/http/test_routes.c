/*
 * test_routes.c - the route table and matcher (src/api/routes.c): every
 * route, 405 with the right Allow, 404, percent-decoding once, refused
 * encodings and bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/routes.h"

struct route_case {
	const char *method;
	const char *path;
	enum route_id id;
	const char *p0_name;
	const char *p0;
	const char *p1_name;
	const char *p1;
};

static const struct route_case good[] = {
    {"GET", "/v1/images", ROUTE_IMAGES_LIST, NULL, NULL, NULL, NULL},
    {"HEAD", "/v1/images", ROUTE_IMAGES_LIST, NULL, NULL, NULL, NULL},
    {"POST", "/v1/images", ROUTE_IMAGES_POST, NULL, NULL, NULL, NULL},
    {"GET", "/v1/images/01J0000000000000000000000A", ROUTE_IMAGE_GET, "id",
     "01J0000000000000000000000A", NULL, NULL},
    {"HEAD", "/v1/images/abc", ROUTE_IMAGE_GET, "id", "abc", NULL, NULL},
    {"PUT", "/v1/images/photo.jpg", ROUTE_IMAGE_PUT, "name", "photo.jpg", NULL,
     NULL},
    {"DELETE", "/v1/images/abc", ROUTE_IMAGE_DELETE, "id", "abc", NULL, NULL},
    {"GET", "/v1/images/abc/original", ROUTE_IMAGE_ORIGINAL, "id", "abc", NULL,
     NULL},
    {"HEAD", "/v1/images/abc/original", ROUTE_IMAGE_ORIGINAL, "id", "abc", NULL,
     NULL},
    {"GET", "/v1/images/abc/variants/thumb", ROUTE_IMAGE_VARIANT, "id", "abc",
     "variant", "thumb"},
    {"GET", "/healthz", ROUTE_HEALTHZ, NULL, NULL, NULL, NULL},
    {"GET", "/readyz", ROUTE_READYZ, NULL, NULL, NULL, NULL},
    {"GET", "/metrics", ROUTE_METRICS, NULL, NULL, NULL, NULL},
    {"HEAD", "/metrics", ROUTE_METRICS, NULL, NULL, NULL, NULL},
    {"GET", "/", ROUTE_WEB_PAGE, NULL, NULL, NULL, NULL},
    {"HEAD", "/", ROUTE_WEB_PAGE, NULL, NULL, NULL, NULL},
    {"GET", "/ui/app.js", ROUTE_WEB_ASSET, "file", "app.js", NULL, NULL},
    /* decoded exactly once */
    {"PUT", "/v1/images/my%20photo.jpg", ROUTE_IMAGE_PUT, "name",
     "my photo.jpg", NULL, NULL},
    {"PUT", "/v1/images/%2541", ROUTE_IMAGE_PUT, "name", "%41", NULL, NULL},
    {"PUT", "/v1/images/a+b", ROUTE_IMAGE_PUT, "name", "a+b", NULL, NULL},
    {"PUT", "/v1/images/%C3%A9t%C3%A9.png", ROUTE_IMAGE_PUT, "name",
     "\xc3\xa9t\xc3\xa9.png", NULL, NULL},
    {"PUT", "/v1/images/..", ROUTE_IMAGE_PUT, "name", "..", NULL, NULL},
    {"GET", "/v1/%69mages", ROUTE_IMAGES_LIST, NULL, NULL, NULL, NULL},
    {"GET", "/v1/images/a%3Fb/variants/t%23x", ROUTE_IMAGE_VARIANT, "id", "a?b",
     "variant", "t#x"},
    /* an id with an encoded '/' matches, as data; no id has one, so the
	 * handler answers 404 like any unknown id */
    {"GET", "/v1/images/..%2F..%2Fetc", ROUTE_IMAGE_GET, "id", "../../etc",
     NULL, NULL},
    {"DELETE", "/v1/images/a%2fb", ROUTE_IMAGE_DELETE, "id", "a/b", NULL, NULL},
    {"GET", "/v1/images/x/variants/a%2Fb", ROUTE_IMAGE_VARIANT, "id", "x",
     "variant", "a/b"},
};

static void
test_every_route(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct route_case *c = &good[i];
		struct route_match m;
		struct ip_error err;
		int rc = routes_match(c->method, c->path, &m, &err);

		if (rc != IP_OK)
			fail_msg("%s %s: %d %s", c->method, c->path, rc,
				 err.msg);
		assert_non_null(m.route);
		assert_int_equal(m.route->id, c->id);
		if (c->p0_name != NULL)
			assert_string_equal(routes_param(&m, c->p0_name),
					    c->p0);
		if (c->p1_name != NULL)
			assert_string_equal(routes_param(&m, c->p1_name),
					    c->p1);
		if (c->p0_name == NULL)
			assert_int_equal(m.n_params, 0);
	}
}

static void
test_table_covers_every_id(void **state)
{
	size_t n;
	const struct route *t = routes_table(&n);
	int seen[ROUTE_COUNT] = {0};

	(void)state;
	for (size_t i = 0; i < n; i++)
		seen[t[i].id]++;
	for (int i = 0; i < ROUTE_COUNT; i++)
		assert_int_equal(seen[i], 1);
}

struct allow_case {
	const char *method;
	const char *path;
	const char *allow;
};

static const struct allow_case wrong_method[] = {
    {"DELETE", "/v1/images", "GET, HEAD, POST"},
    {"PUT", "/v1/images", "GET, HEAD, POST"},
    {"PATCH", "/v1/images", "GET, HEAD, POST"},
    {"POST", "/v1/images/abc", "GET, HEAD, PUT, DELETE"},
    {"OPTIONS", "/v1/images/abc", "GET, HEAD, PUT, DELETE"},
    {"PUT", "/v1/images/abc/original", "GET, HEAD"},
    {"DELETE", "/v1/images/abc/variants/thumb", "GET, HEAD"},
    {"POST", "/healthz", "GET, HEAD"},
    {"PUT", "/metrics", "GET, HEAD"},
    {"get", "/readyz", "GET, HEAD"}, /* methods are case-sensitive */
};

static void
test_wrong_method_405_allow(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(wrong_method) / sizeof(wrong_method[0]);
	     i++) {
		const struct allow_case *c = &wrong_method[i];
		struct route_match m;
		struct ip_error err;

		assert_int_equal(routes_match(c->method, c->path, &m, &err),
				 IP_ENOTSUP);
		assert_null(m.route);
		assert_string_equal(m.allow, c->allow);
		assert_non_null(strstr(err.msg, c->allow));
	}
}

static const char *const unknown[] = {
    "",
    "/ui",
    "/ui/",
    "/ui/a/b",
    "/index.html",
    "*",
    "http://example.com/v1/images",
    "/v1",
    "/v1/",
    "/v1/images/",
    "/v1/images//original",
    "/v1/images/abc/",
    "/v1/images/abc/thumbnail",
    "/v1/images/abc/variants",
    "/v1/images/abc/variants/",
    "/v1/images/abc/variants/thumb/x",
    "/v1/Images",
    "/v2/images",
    "//healthz",
    "/healthz/",
    "/healthz/x",
    "/a/b/c/d/e/f/g/h/i/j/k/l",
};

static void
test_unknown_404(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		struct route_match m;
		struct ip_error err;

		assert_int_equal(routes_match("GET", unknown[i], &m, &err),
				 IP_ENOTFOUND);
		assert_null(m.route);
	}
}

/* Refused whatever the method and route. */
static const char *const bad_encodings[] = {
    "/v1/images/a%00b", /* encoded NUL */
    "/v1/images/a%zzb", /* not hex */
    "/v1/images/a%4", /* truncated */
    "/v1/images/a%",	"/v1/images/%G1", "/v1/images/x/variants/%00",
    "/nope/%",
};

/* Refused for the upload route: a file name with an encoded '/'. */
static const char *const bad_names[] = {
    "/v1/images/a%2Fb",
    "/v1/images/a%2fb",
    "/v1/images/..%2F..%2Fetc%2Fpasswd",
    "/v1/images/%2F",
};

static void
test_bad_encodings_400(void **state)
{
	static const char *const methods[] = {"GET", "PUT", "DELETE"};
	struct route_match m;
	struct ip_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_encodings) / sizeof(bad_encodings[0]);
	     i++)
		for (size_t k = 0; k < 3; k++) {
			if (routes_match(methods[k], bad_encodings[i], &m,
					 &err) != IP_EINVAL)
				fail_msg("%s %s was not refused", methods[k],
					 bad_encodings[i]);
			assert_null(m.route);
		}
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		if (routes_match("PUT", bad_names[i], &m, &err) != IP_EINVAL)
			fail_msg("PUT %s was not refused", bad_names[i]);
		assert_null(m.route);
	}
}

static void
test_encoded_slash_never_splits(void **state)
{
	struct route_match m;
	struct ip_error err;

	(void)state;
	/* decoded after splitting: "v1/images" is one segment, no route */
	assert_int_equal(routes_match("GET", "/v1%2Fimages", &m, &err),
			 IP_ENOTFOUND);
	assert_int_equal(routes_match("PUT", "/v1/%2F/images", &m, &err),
			 IP_ENOTFOUND);
	assert_int_equal(
	    routes_match("GET", "/v1/images/a%2Foriginal", &m, &err), IP_OK);
	assert_int_equal(m.route->id, ROUTE_IMAGE_GET);
	assert_string_equal(routes_param(&m, "id"), "a/original");
	/* a file name with one is a 400 that says why */
	assert_int_equal(routes_match("PUT", "/v1/images/a%2Fb", &m, &err),
			 IP_EINVAL);
	assert_non_null(strstr(err.msg, "{name}"));
}

static void
test_segment_and_path_bounds(void **state)
{
	char path[ROUTES_PATH_MAX + 64];
	struct route_match m;
	struct ip_error err;
	size_t off;

	(void)state;
	/* A name of exactly 1024 raw bytes is fine. */
	off = (size_t)snprintf(path, sizeof(path), "/v1/images/");
	memset(path + off, 'a', ROUTES_SEGMENT_MAX);
	path[off + ROUTES_SEGMENT_MAX] = '\0';
	assert_int_equal(routes_match("PUT", path, &m, &err), IP_OK);
	assert_int_equal(strlen(routes_param(&m, "name")), ROUTES_SEGMENT_MAX);

	/* 1025 raw bytes are not, even if they decode shorter. */
	memset(path + off, 'a', ROUTES_SEGMENT_MAX + 1);
	path[off + ROUTES_SEGMENT_MAX + 1] = '\0';
	assert_int_equal(routes_match("PUT", path, &m, &err), IP_EINVAL);
	for (size_t i = 0; i + 3 <= ROUTES_SEGMENT_MAX + 3; i += 3)
		memcpy(path + off + i, "%41", 3);
	path[off + ROUTES_SEGMENT_MAX + 2] = '\0';
	assert_int_equal(routes_match("PUT", path, &m, &err), IP_EINVAL);

	/* A path longer than ROUTES_PATH_MAX. */
	path[0] = '\0';
	while (strlen(path) <= ROUTES_PATH_MAX)
		strcat(path, "/aaaaaaaaaaaaaaa");
	assert_int_equal(routes_match("GET", path, &m, &err), IP_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_route),
	    cmocka_unit_test(test_table_covers_every_id),
	    cmocka_unit_test(test_wrong_method_405_allow),
	    cmocka_unit_test(test_unknown_404),
	    cmocka_unit_test(test_bad_encodings_400),
	    cmocka_unit_test(test_encoded_slash_never_splits),
	    cmocka_unit_test(test_segment_and_path_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
