/*
 * test_lambda_api.c - API Gateway proxy events through the /v1 API
 * (src/hosts/lambda_api.c) over a real embedded app (fs store, sqlite
 * table, no queue, as on Lambda) in a temp dir: payload 2.0 and 1.0
 * events shaped as AWS documents them, binary bodies both ways, the
 * errors of the API as JSON, and events that are not HTTP ones.  Behind API
 * Gateway keys are on by default: every event carries an admin key's token
 * unless a test clears it.
 *
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app/app.h"
#include "core/config.h"
#include "core/util.h"
#include "hosts/lambda_api.h"
#include "table/table.h"

static struct {
	char dir[64];
	struct app app;
	struct api api;
	char token[APIKEY_TOKEN_SIZE]; /* "" = events carry no key */
} fx;

/* Give the event's header object the key's Authorization, if any. */
static void
add_key(json_t *headers)
{
	char bearer[APIKEY_TOKEN_SIZE + 8];

	if (fx.token[0] == '\0')
		return;
	snprintf(bearer, sizeof(bearer), "Bearer %s", fx.token);
	assert_int_equal(
	    json_object_set_new(headers, "authorization", json_string(bearer)),
	    0);
}

/* A payload 2.0 event as an HTTP API sends it (AWS's sample, trimmed of
 * fields the API does not read: authorizer, stageVariables). */
static char *
event_v2(const char *method, const char *raw_path, const char *raw_query,
	 const char *body, bool b64)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:[s], s:{s:s, s:s, s:s}, s:{s:s, s:s, "
	    "s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:I}, "
	    "s:s?, s:b}",
	    "version", "2.0", "routeKey", "ANY /v1/{proxy+}", "rawPath",
	    raw_path, "rawQueryString", raw_query, "cookies", "c=1", "headers",
	    "accept", "application/json", "content-type", "image/jpeg",
	    "user-agent", "curl/8.0", "requestContext", "accountId",
	    "123456789012", "apiId", "api-id", "domainName",
	    "id.execute-api.us-east-1.amazonaws.com", "domainPrefix", "id",
	    "http", "method", method, "path", raw_path, "protocol", "HTTP/1.1",
	    "sourceIp", "192.0.2.1", "userAgent", "curl/8.0", "requestId", "id",
	    "routeKey", "ANY /v1/{proxy+}", "stage", "$default", "timeEpoch",
	    (json_int_t)1583348638390, "body", body, "isBase64Encoded", b64);
	char *s;

	add_key(json_object_get(o, "headers"));
	s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	assert_non_null(s);
	return s;
}

/* A payload 1.0 event as a REST API's proxy integration sends it. */
static char *
event_v1(const char *method, const char *path, json_t *multi_query)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:{s:s}, s:{s:[s]}, s:o?, s:n, s:{s:s, s:s, "
	    "s:s, s:s}, s:n, s:b}",
	    "version", "1.0", "resource", "/v1/{proxy+}", "path", path,
	    "httpMethod", method, "headers", "Accept", "application/json",
	    "multiValueHeaders", "Accept", "application/json",
	    "multiValueQueryStringParameters", multi_query,
	    "queryStringParameters", "requestContext", "accountId",
	    "123456789012", "httpMethod", method, "path", path, "stage", "prod",
	    "body", "isBase64Encoded", false);
	char *s;

	add_key(json_object_get(o, "headers"));
	s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	assert_non_null(s);
	return s;
}

/* Handle event; the parsed proxy response (caller decrefs). */
static json_t *
call(char *event)
{
	char *out = NULL;
	size_t n = 0;
	struct ip_error err = {0};
	json_t *r;

	assert_true(lambda_api_is_http_event(event, strlen(event)));
	if (lambda_api_handle(&fx.api, event, strlen(event), &out, &n, &err) !=
	    IP_OK)
		fail_msg("lambda_api_handle: %s", err.msg);
	free(event);
	r = json_loadb(out, n, 0, NULL);
	free(out);
	assert_non_null(r);
	return r;
}

static json_t *
body_json(json_t *r)
{
	json_t *b;

	assert_false(json_is_true(json_object_get(r, "isBase64Encoded")));
	b = json_loads(json_string_value(json_object_get(r, "body")), 0, NULL);
	assert_non_null(b);
	return b;
}

static const char *
error_code(json_t *body)
{
	return json_string_value(
	    json_object_get(json_object_get(body, "error"), "code"));
}

static void
test_v2_not_found(void **state)
{
	json_t *r = call(event_v2("GET", "/v1/images/0000000000000000000000",
				  "", NULL, false));
	json_t *b = body_json(r);

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 404);
	assert_string_equal(error_code(b), "not_found");
	assert_non_null(
	    json_object_get(json_object_get(r, "headers"), "X-Request-Id"));
	json_decref(b);
	json_decref(r);
}

static void
test_v2_list_query(void **state)
{
	json_t *r = call(event_v2("GET", "/v1/images", "limit=0", NULL, false));
	json_t *b = body_json(r);

	(void)state;
	/* The raw query reaches the API's own parser: limit=0 is refused. */
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 400);
	assert_string_equal(error_code(b), "invalid_request");
	json_decref(b);
	json_decref(r);
	r = call(event_v2("GET", "/v1/images", "limit=5", NULL, false));
	b = body_json(r);
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 200);
	assert_true(json_is_array(json_object_get(b, "items")));
	json_decref(b);
	json_decref(r);
}

/* A binary (base64) body that is not an image: refused as on serve. */
static void
test_v2_binary_body(void **state)
{
	const guchar bytes[] = {0x00, 0xff, 0x10, 0x80, 'x'};
	gchar *b64 = g_base64_encode(bytes, sizeof(bytes));
	json_t *r = call(event_v2("PUT", "/v1/images/a.jpg", "", b64, true));
	json_t *b = body_json(r);

	(void)state;
	g_free(b64);
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 415);
	assert_string_equal(error_code(b), "unsupported_media_type");
	json_decref(b);
	json_decref(r);
}

/* A non-text answer goes back base64: the metrics are text, so check
 * with /healthz for JSON and the 405 of an unknown method. */
static void
test_v2_method_not_allowed(void **state)
{
	json_t *r = call(event_v2("PATCH", "/v1/images", "", NULL, false));
	json_t *b = body_json(r);

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 405);
	assert_non_null(
	    json_object_get(json_object_get(r, "headers"), "Allow"));
	json_decref(b);
	json_decref(r);
}

static void
test_v1_query_reencoded(void **state)
{
	json_t *q = json_pack("{s:[s]}", "cursor", "!!bogus");
	json_t *r = call(event_v1("GET", "/v1/images", q));
	json_t *b = body_json(r);

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 400);
	assert_string_equal(error_code(b), "invalid_request");
	json_decref(b);
	json_decref(r);
	r = call(event_v1("GET", "/healthz", NULL));
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 200);
	json_decref(r);
}

static void
test_not_http(void **state)
{
	const char *s3 = "{\"Records\":[{\"eventSource\":\"aws:s3\"}]}";
	const char *odd = "{\"requestContext\":{},\"rawPath\":1}";
	const char *nomethod = "{\"requestContext\":{},\"rawPath\":\"/x\"}";
	const char *bad64 =
	    "{\"requestContext\":{\"http\":{\"method\":\"PUT\"}},\"rawPath\":"
	    "\"/v1/images/a\",\"body\":\"**\",\"isBase64Encoded\":true}";
	char *out = NULL;
	size_t n;
	struct ip_error err = {0};

	(void)state;
	assert_false(lambda_api_is_http_event(s3, strlen(s3)));
	assert_false(lambda_api_is_http_event(odd, strlen(odd)));
	assert_false(lambda_api_is_http_event("{", 1));
	assert_int_equal(lambda_api_handle(&fx.api, nomethod, strlen(nomethod),
					   &out, &n, &err),
			 IP_EINVAL);
	assert_null(out);
	assert_int_equal(
	    lambda_api_handle(&fx.api, bad64, strlen(bad64), &out, &n, &err),
	    IP_EINVAL);
	assert_null(out);
}

/* On Lambda keys are on unless server.auth = off: no key is a 401 that
 * says what to send, and the key's scope is what a route needs. */
static void
test_v2_needs_key(void **state)
{
	char saved[APIKEY_TOKEN_SIZE];
	json_t *r;
	json_t *b;

	memcpy(saved, fx.token, sizeof(saved));
	fx.token[0] = '\0';
	r = call(event_v2("GET", "/v1/images", "", NULL, false));
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 401);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "headers"),
					      "WWW-Authenticate")),
	    "Bearer realm=\"imgpipe\"");
	b = body_json(r);
	assert_string_equal(error_code(b), "unauthorized");
	json_decref(b);
	json_decref(r);
	/* Health needs no key. */
	r = call(event_v2("GET", "/healthz", "", NULL, false));
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 200);
	json_decref(r);
	memcpy(fx.token, saved, sizeof(saved));
	r = call(event_v2("GET", "/v1/images", "", NULL, false));
	assert_int_equal(json_integer_value(json_object_get(r, "statusCode")),
			 200);
	json_decref(r);
}

static int
setup(void **state)
{
	struct config cfg;
	struct ip_error err = {0};

	(void)state;
	util_strlcpy(fx.dir, "/tmp/imgpipe-lapi-XXXXXX", sizeof(fx.dir));
	assert_non_null(mkdtemp(fx.dir));
	config_defaults(&cfg);
	util_strlcpy(cfg.data_dir, fx.dir, sizeof(cfg.data_dir));
	if (app_open(&fx.app, &cfg,
		     APP_NEED_STORE | APP_NEED_TABLE | APP_NEED_IMG,
		     &err) != IP_OK)
		fail_msg("app_open: %s", err.msg);
	lambda_api_init(&fx.api, &fx.app);
	{
		struct apikey k;

		assert_int_equal(
		    apikey_new(&k, "ci", APIKEY_ADMIN, 0, fx.token, &err),
		    IP_OK);
		assert_int_equal(table_key_put(fx.app.table, &k, &err), IP_OK);
	}
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	api_fini(&fx.api);
	app_close(&fx.app);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v2_not_found),
	    cmocka_unit_test(test_v2_list_query),
	    cmocka_unit_test(test_v2_binary_body),
	    cmocka_unit_test(test_v2_method_not_allowed),
	    cmocka_unit_test(test_v1_query_reencoded),
	    cmocka_unit_test(test_not_http),
	    cmocka_unit_test(test_v2_needs_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
