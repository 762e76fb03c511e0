/*
 * test_api_routes.c - every route of the /v1 API through two transports
 * with the same expectations: the in-process one (api_local_call, no
 * socket) and libmicrohttpd on 127.0.0.1:0 (http_server_start, driven
 * with libcurl), both over one real embedded app (fs store, sqlite table
 * and queue, vips, one worker) in a temp dir.
 *
 * Each case of the table runs once per transport; both answers must have
 * the expected status and JSON error code, the same key headers, and the
 * same body where it is deterministic.  A test fails if a route of
 * routes_table() has no case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testhttp.h"
#include <jansson.h>

#include "core/config.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "api/api.h"
#include "api/api_local.h"
#include "api/routes.h"
#include "api/statuses.h"
#include "app/app.h"
#include "hosts/workers.h"
#include "http/http.h"

#define LIMIT (2 * 1024 * 1024)
#define NO_ROUTE (-1)

struct fixture {
	char dir[64];
	struct app app;
	struct api api;
	struct http_server *srv;
	struct workers *pool;
	int port;
	char *wine;
	size_t wine_len;
	char id[32]; /* a done image */
	char etag[80];
	char *multipart;
	size_t multipart_len;
	char *big; /* LIMIT + 1 bytes */
	char *event; /* a notification for a bucket not ours */
};

static struct fixture fx;

enum body_kind {
	BODY_NONE,
	BODY_WINE,
	BODY_MULTIPART,
	BODY_BIG,
	BODY_EVENT,
	BODY_TEXT,
	BODY_UPLOAD, /* a POST /v1/uploads request */
	BODY_UPLOAD_HUGE /* the same, declaring more than limits.max_body */
};

enum expect_body {
	EXPECT_SAME, /* byte for byte across transports */
	EXPECT_EMPTY,
	EXPECT_ERROR, /* the JSON error with the case's code */
	EXPECT_NEW_RECORD, /* an upload: fresh id, same name */
	EXPECT_METRICS /* counters move; the series are there */
};

struct api_case {
	const char *name;
	int route; /* enum route_id, or NO_ROUTE */
	const char *method;
	const char *path; /* "{id}" and "{fresh}" are substituted */
	const char *query; /* raw, or NULL */
	const char *headers[3]; /* "Name: value"; "{etag}" substituted */
	enum body_kind body;
	int status;
	const char *code; /* error code for EXPECT_ERROR */
	enum expect_body expect;
	const char *same[4]; /* headers equal across transports */
};

/* clang-format off */
static const struct api_case cases[] = {
    {"put raw", ROUTE_IMAGE_PUT, "PUT", "/v1/images/w.jpg", "wait=60",
     {NULL}, BODY_WINE, 201, NULL, EXPECT_NEW_RECORD, {"Content-Type"}},
    {"post multipart", ROUTE_IMAGES_POST, "POST", "/v1/images", "wait=60",
     {"Content-Type: multipart/form-data; boundary=XyZ"}, BODY_MULTIPART,
     201, NULL, EXPECT_NEW_RECORD, {"Content-Type"}},
    {"post raw named", ROUTE_IMAGES_POST, "POST", "/v1/images",
     "name=raw+wine%2Ejpg&wait=60", {"Content-Type: image/jpeg"}, BODY_WINE,
     201,
     NULL, EXPECT_NEW_RECORD, {"Content-Type"}},
    {"get", ROUTE_IMAGE_GET, "GET", "/v1/images/{id}", NULL, {NULL},
     BODY_NONE, 200, NULL, EXPECT_SAME, {"Content-Type", "Cache-Control"}},
    {"get wait", ROUTE_IMAGE_GET, "GET", "/v1/images/{id}", "wait=5",
     {NULL}, BODY_NONE, 200, NULL, EXPECT_SAME, {"Content-Type"}},
    {"list", ROUTE_IMAGES_LIST, "GET", "/v1/images", "limit=1", {NULL},
     BODY_NONE, 200, NULL, EXPECT_SAME, {"Content-Type"}},
    {"list cursor", ROUTE_IMAGES_LIST, "GET", "/v1/images",
     "limit=1&cursor={cursor}", {NULL}, BODY_NONE, 200, NULL, EXPECT_SAME,
     {"Content-Type"}},
    {"list bad cursor", ROUTE_IMAGES_LIST, "GET", "/v1/images",
     "cursor=%21%21bogus", {NULL}, BODY_NONE, 400, "invalid_request",
     EXPECT_ERROR, {"Content-Type"}},
    {"list bad limit", ROUTE_IMAGES_LIST, "GET", "/v1/images", "limit=0",
     {NULL}, BODY_NONE, 400, "invalid_request", EXPECT_ERROR, {NULL}},
    {"original", ROUTE_IMAGE_ORIGINAL, "GET", "/v1/images/{id}/original",
     NULL, {NULL}, BODY_NONE, 200, NULL, EXPECT_SAME,
     {"Content-Type", "ETag", "Last-Modified", "Cache-Control"}},
    {"original range", ROUTE_IMAGE_ORIGINAL, "GET",
     "/v1/images/{id}/original", NULL, {"Range: bytes=10-19"}, BODY_NONE,
     206, NULL, EXPECT_SAME, {"Content-Range", "ETag", "Accept-Ranges"}},
    {"original 416", ROUTE_IMAGE_ORIGINAL, "GET",
     "/v1/images/{id}/original", NULL, {"Range: bytes=999999999-"},
     BODY_NONE, 416, "range_not_satisfiable", EXPECT_ERROR,
     {"Content-Range"}},
    {"original 304", ROUTE_IMAGE_ORIGINAL, "GET",
     "/v1/images/{id}/original", NULL, {"If-None-Match: {etag}"},
     BODY_NONE, 304, NULL, EXPECT_EMPTY, {"ETag", "Cache-Control"}},
    {"original head", ROUTE_IMAGE_ORIGINAL, "HEAD",
     "/v1/images/{id}/original", NULL, {NULL}, BODY_NONE, 200, NULL,
     EXPECT_EMPTY, {"Content-Type", "ETag"}},
    {"variant", ROUTE_IMAGE_VARIANT, "GET",
     "/v1/images/{id}/variants/{variant}", NULL, {NULL}, BODY_NONE, 200,
     NULL, EXPECT_SAME, {"Content-Type", "ETag", "Cache-Control"}},
    {"variant range", ROUTE_IMAGE_VARIANT, "GET",
     "/v1/images/{id}/variants/{variant}", NULL, {"Range: bytes=-5"},
     BODY_NONE, 206, NULL, EXPECT_SAME, {"Content-Range"}},
    {"variant unknown", ROUTE_IMAGE_VARIANT, "GET",
     "/v1/images/{id}/variants/nope", NULL, {NULL}, BODY_NONE, 404,
     "not_found", EXPECT_ERROR, {NULL}},
    {"delete", ROUTE_IMAGE_DELETE, "DELETE", "/v1/images/{fresh}", NULL,
     {NULL}, BODY_NONE, 204, NULL, EXPECT_EMPTY, {NULL}},
    {"delete unknown", ROUTE_IMAGE_DELETE, "DELETE",
     "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0", NULL, {NULL}, BODY_NONE, 404,
     "not_found", EXPECT_ERROR, {NULL}},
    {"healthz", ROUTE_HEALTHZ, "GET", "/healthz", NULL, {NULL}, BODY_NONE,
     200, NULL, EXPECT_SAME, {"Content-Type"}},
    {"readyz", ROUTE_READYZ, "GET", "/readyz", NULL, {NULL}, BODY_NONE, 200,
     NULL, EXPECT_SAME, {"Content-Type"}},
    {"openapi", ROUTE_OPENAPI, "GET", "/openapi.json", NULL, {NULL},
     BODY_NONE, 200, NULL, EXPECT_SAME,
     {"Content-Type", "ETag", "Cache-Control"}},
    {"metrics", ROUTE_METRICS, "GET", "/metrics", NULL, {NULL}, BODY_NONE,
     200, NULL, EXPECT_METRICS, {"Content-Type", "Cache-Control"}},
    {"events", ROUTE_EVENTS, "POST", "/v1/events", NULL,
     {"Content-Type: application/json"}, BODY_EVENT, 200, NULL,
     EXPECT_SAME, {"Content-Type"}},
    {"events malformed", ROUTE_EVENTS, "POST", "/v1/events", NULL,
     {"Content-Type: application/json"}, BODY_TEXT, 400, "invalid_request",
     EXPECT_ERROR, {NULL}},
    /* The fixture's store is fs, which cannot presign: the request is
     * checked, then refused with 501 (S3: tests/integration). */
    {"uploads fs 501", ROUTE_UPLOADS_POST, "POST", "/v1/uploads", NULL,
     {"Content-Type: application/json"}, BODY_UPLOAD, 501, "not_supported",
     EXPECT_ERROR, {"Content-Type"}},
    {"uploads not JSON", ROUTE_UPLOADS_POST, "POST", "/v1/uploads", NULL,
     {"Content-Type: application/json"}, BODY_TEXT, 400, "invalid_request",
     EXPECT_ERROR, {NULL}},
    {"uploads too big", ROUTE_UPLOADS_POST, "POST", "/v1/uploads", NULL,
     {"Content-Type: application/json"}, BODY_UPLOAD_HUGE, 413,
     "payload_too_large", EXPECT_ERROR, {NULL}},
    {"404 path", NO_ROUTE, "GET", "/v1/nothing", NULL, {NULL}, BODY_NONE,
     404, "not_found", EXPECT_ERROR, {"Content-Type"}},
    {"web page", ROUTE_WEB_PAGE, "GET", "/", NULL, {NULL}, BODY_NONE, 200,
     NULL, EXPECT_SAME, {"ETag", "Content-Type", "Content-Security-Policy",
     "Cache-Control"}},
    {"web page head", ROUTE_WEB_PAGE, "HEAD", "/", NULL, {NULL}, BODY_NONE,
     200, NULL, EXPECT_EMPTY, {"ETag", "Content-Type"}},
    {"web asset", ROUTE_WEB_ASSET, "GET", "/ui/app.js", NULL, {NULL},
     BODY_NONE, 200, NULL, EXPECT_SAME, {"ETag", "Content-Type",
     "X-Content-Type-Options", "Cache-Control"}},
    {"web asset unknown", ROUTE_WEB_ASSET, "GET", "/ui/nope.js", NULL,
     {NULL}, BODY_NONE, 404, "not_found", EXPECT_ERROR, {NULL}},
    {"web asset not ours", ROUTE_WEB_ASSET, "GET", "/ui/web.gresource.xml",
     NULL, {NULL}, BODY_NONE, 404, "not_found", EXPECT_ERROR, {NULL}},
    {"405 allow", NO_ROUTE, "PATCH", "/v1/images", NULL, {NULL}, BODY_NONE,
     405, "method_not_allowed", EXPECT_ERROR, {"Allow"}},
    {"413 by length", ROUTE_IMAGE_PUT, "PUT", "/v1/images/big.jpg", NULL,
     {NULL}, BODY_BIG, 413, "payload_too_large", EXPECT_ERROR, {NULL}},
    {"415", ROUTE_IMAGES_POST, "POST", "/v1/images", NULL,
     {"Content-Type: text/plain"}, BODY_TEXT, 415, "unsupported_media_type",
     EXPECT_ERROR, {NULL}},
    {"415 not an image", ROUTE_IMAGE_PUT, "PUT", "/v1/images/t.jpg", NULL,
     {NULL}, BODY_TEXT, 415, "unsupported_media_type", EXPECT_ERROR, {NULL}},
    {"400 query", NO_ROUTE, "GET", "/v1/images", "limit=1&limit=2", {NULL},
     BODY_NONE, 400, "invalid_request", EXPECT_ERROR, {NULL}},
    /* Every preset of the image is current: nothing queued. */
    {"reprocess current", ROUTE_IMAGE_REPROCESS, "POST",
     "/v1/images/{id}/reprocess", "variant=thumb", {NULL}, BODY_NONE, 200,
     NULL, EXPECT_SAME, {"Content-Type", "Cache-Control"}},
    {"reprocess not a preset", ROUTE_IMAGE_REPROCESS, "POST",
     "/v1/images/{id}/reprocess", "variant=nope", {NULL}, BODY_NONE, 400,
     "invalid_request", EXPECT_ERROR, {NULL}},
    {"reprocess unknown", ROUTE_IMAGE_REPROCESS, "POST",
     "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0/reprocess", NULL, {NULL},
     BODY_NONE, 404, "not_found", EXPECT_ERROR, {NULL}},
};
/* clang-format on */

/* A request, once placeholders are filled in. */
struct request {
	const char *method;
	char path[256];
	char query[512];
	char headers[3][256];
	size_t n_headers;
	const char *body;
	size_t body_len;
};

static void
substitute(const char *in, char *out, size_t len)
{
	char *at;

	snprintf(out, len, "%s", in);
	at = strstr(out, "{etag}");
	if (at != NULL)
		snprintf(at, len - (size_t)(at - out), "%s", fx.etag);
}

/* Upload an image through the local transport; its id goes to id. */
static void
upload_one(char *id, size_t id_len)
{
	struct api_local_reply r;
	struct ip_error err;
	json_t *j;
	json_error_t je;

	assert_int_equal(api_local_call(&fx.api, "PUT", "/v1/images/w.jpg",
					"wait=60", NULL, 0, fx.wine,
					fx.wine_len, &r, &err),
			 IP_OK);
	assert_int_equal(r.status, 201);
	j = json_loadb(r.body, r.body_len, 0, &je);
	assert_non_null(j);
	snprintf(id, id_len, "%s", json_string_value(json_object_get(j, "id")));
	assert_string_equal(json_string_value(json_object_get(j, "status")),
			    "done");
	json_decref(j);
	api_local_reply_free(&r);
}

/* The case's query with {cursor} as the listing's second page. */
static void
query_of(const char *in, char *out, size_t len)
{
	struct api_local_reply r;
	struct ip_error err;
	json_error_t je;
	json_t *j;
	const char *at = in != NULL ? strstr(in, "{cursor}") : NULL;

	snprintf(out, len, "%s", in != NULL ? in : "");
	if (at == NULL)
		return;
	assert_int_equal(api_local_call(&fx.api, "GET", "/v1/images", "limit=1",
					NULL, 0, NULL, 0, &r, &err),
			 IP_OK);
	j = json_loadb(r.body, r.body_len, 0, &je);
	assert_non_null(j);
	assert_true(json_is_string(json_object_get(j, "next_cursor")));
	snprintf(out, len, "%.*s%s%s", (int)(at - in), in,
		 json_string_value(json_object_get(j, "next_cursor")), at + 8);
	json_decref(j);
	api_local_reply_free(&r);
}

static void
request_of(const struct api_case *c, struct request *rq)
{
	char fresh[32] = "";
	char path[256];
	char *at;

	memset(rq, 0, sizeof(*rq));
	rq->method = c->method;
	query_of(c->query, rq->query, sizeof(rq->query));
	if (strstr(c->path, "{fresh}") != NULL)
		upload_one(fresh, sizeof(fresh));
	snprintf(path, sizeof(path), "%s", c->path);
	for (;;) {
		const char *with = NULL;
		size_t n = 0;

		if ((at = strstr(path, "{id}")) != NULL) {
			with = fx.id;
			n = 4;
		} else if ((at = strstr(path, "{fresh}")) != NULL) {
			with = fresh;
			n = 7;
		} else if ((at = strstr(path, "{variant}")) != NULL) {
			with = fx.app.cfg.variants[0].name;
			n = 9;
		}
		if (with == NULL)
			break;
		snprintf(rq->path, sizeof(rq->path), "%.*s%s%s",
			 (int)(at - path), path, with, at + n);
		snprintf(path, sizeof(path), "%s", rq->path);
	}
	snprintf(rq->path, sizeof(rq->path), "%s", path);
	for (size_t i = 0; i < 3 && c->headers[i] != NULL; i++)
		substitute(c->headers[i], rq->headers[rq->n_headers++],
			   sizeof(rq->headers[0]));
	switch (c->body) {
	case BODY_NONE:
		break;
	case BODY_WINE:
		rq->body = fx.wine;
		rq->body_len = fx.wine_len;
		break;
	case BODY_MULTIPART:
		rq->body = fx.multipart;
		rq->body_len = fx.multipart_len;
		break;
	case BODY_BIG:
		rq->body = fx.big;
		rq->body_len = LIMIT + 1;
		break;
	case BODY_EVENT:
		rq->body = fx.event;
		rq->body_len = strlen(fx.event);
		break;
	case BODY_TEXT:
		rq->body = "this is not an image, nor JSON";
		rq->body_len = strlen(rq->body);
		break;
	case BODY_UPLOAD:
		rq->body = "{\"name\":\"a/b.jpg\",\"content_type\":"
			   "\"image/jpeg\",\"bytes\":1234}";
		rq->body_len = strlen(rq->body);
		break;
	case BODY_UPLOAD_HUGE:
		rq->body = "{\"name\":\"b.jpg\",\"bytes\":2097153}";
		rq->body_len = strlen(rq->body);
		break;
	}
}

static void
run_local(const struct request *rq, struct test_reply *o)
{
	struct api_local_header hs[3];
	char names[3][64];
	struct api_local_reply r;
	struct ip_error err;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < rq->n_headers; i++) {
		const char *colon = strchr(rq->headers[i], ':');

		assert_non_null(colon);
		snprintf(names[i], sizeof(names[i]), "%.*s",
			 (int)(colon - rq->headers[i]), rq->headers[i]);
		hs[i].name = names[i];
		hs[i].value = colon + 2;
	}
	assert_int_equal(api_local_call(&fx.api, rq->method, rq->path,
					rq->query[0] != '\0' ? rq->query : NULL,
					hs, rq->n_headers, rq->body,
					rq->body_len, &r, &err),
			 IP_OK);
	o->status = r.status;
	for (size_t i = 0; i < r.n_headers; i++)
		test_reply_add_header(o, r.headers[i].name, r.headers[i].value);
	o->body = r.body;
	o->len = r.body_len;
	r.body = NULL;
	api_local_reply_free(&r);
}

static void
run_http(const struct request *rq, struct test_reply *o)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hl = NULL;
	char url[1024];
	CURLcode rc;

	assert_non_null(h);
	memset(o, 0, sizeof(*o));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s%s%s", fx.port,
		 rq->path, rq->query[0] != '\0' ? "?" : "", rq->query);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, test_reply_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, o);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, test_reply_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, o);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	for (size_t i = 0; i < rq->n_headers; i++)
		hl = curl_slist_append(hl, rq->headers[i]);
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
		if (rq->body != NULL) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)rq->body_len);
		}
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", rq->method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
}

/* What each transport's answer must show on its own. */
static void
check_one(const struct api_case *c, const char *transport,
	  const struct test_reply *o)
{
	const char *rid = test_reply_header(o, "X-Request-Id");
	json_t *j;

	if (o->status != c->status)
		fail_msg("%s via %s: status %ld, want %d: %.300s", c->name,
			 transport, o->status, c->status,
			 o->body != NULL ? o->body : "");
	/* The contract: a route answers only what it declares
	 * (src/api/statuses.c, docs/openapi.yaml). */
	if (c->route != NO_ROUTE &&
	    !statuses_has(statuses_of((enum route_id)c->route), (int)o->status))
		fail_msg("%s via %s: status %ld is not declared for the route",
			 c->name, transport, o->status);
	assert_non_null(rid);
	assert_true(util_id_valid(rid));
	switch (c->expect) {
	case EXPECT_EMPTY:
		assert_int_equal(o->len, 0);
		break;
	case EXPECT_ERROR:
		assert_string_equal(test_reply_header(o, "Content-Type"),
				    "application/json");
		j = test_reply_json(o);
		assert_string_equal(json_string_value(json_object_get(
					json_object_get(j, "error"), "code")),
				    c->code);
		json_decref(j);
		break;
	case EXPECT_NEW_RECORD:
		assert_non_null(test_reply_header(o, "Location"));
		j = test_reply_json(o);
		assert_string_equal(
		    json_string_value(json_object_get(j, "status")), "done");
		json_decref(j);
		break;
	case EXPECT_METRICS:
		assert_non_null(
		    strstr(o->body, "\nimgpipe_http_requests_total "));
		assert_non_null(
		    strstr(o->body, "\nimgpipe_uploads_accepted_total "));
		assert_non_null(
		    strstr(o->body, "\nimgpipe_images_done_total "));
		assert_non_null(
		    strstr(o->body, "\nimgpipe_inflight_uploads 0\n"));
		break;
	case EXPECT_SAME:
		assert_true(o->len > 0);
		break;
	}
}

/* What both answers must share. */
static void
check_same(const struct api_case *c, const struct test_reply *a,
	   const struct test_reply *b)
{
	json_t *ja;
	json_t *jb;

	for (size_t i = 0; i < 4 && c->same[i] != NULL; i++) {
		char va[1024];
		const char *vb;
		const char *v = test_reply_header(a, c->same[i]);

		if (v == NULL)
			fail_msg("%s: no %s via local", c->name, c->same[i]);
		snprintf(va, sizeof(va), "%s", v);
		vb = test_reply_header(b, c->same[i]);
		if (vb == NULL || strcmp(va, vb) != 0)
			fail_msg("%s: %s is '%s' via local, '%s' via http",
				 c->name, c->same[i], va, vb ? vb : "(none)");
	}
	switch (c->expect) {
	case EXPECT_SAME:
		if (a->len != b->len || memcmp(a->body, b->body, a->len) != 0)
			fail_msg("%s: bodies differ: %.200s | %.200s", c->name,
				 a->body, b->body);
		break;
	case EXPECT_ERROR:
		ja = test_reply_json(a);
		jb = test_reply_json(b);
		assert_true(json_equal(ja, jb));
		json_decref(ja);
		json_decref(jb);
		break;
	case EXPECT_NEW_RECORD:
		ja = test_reply_json(a);
		jb = test_reply_json(b);
		assert_string_equal(
		    json_string_value(json_object_get(ja, "name")),
		    json_string_value(json_object_get(jb, "name")));
		json_decref(ja);
		json_decref(jb);
		break;
	case EXPECT_EMPTY:
	case EXPECT_METRICS:
		break;
	}
}

static void
test_case(void **state)
{
	const struct api_case *c = *state;
	struct request rq;
	struct test_reply local;
	struct test_reply http;

	request_of(c, &rq);
	run_local(&rq, &local);
	check_one(c, "local", &local);
	request_of(c, &rq); /* a fresh image for DELETE */
	run_http(&rq, &http);
	check_one(c, "http", &http);
	check_same(c, &local, &http);
	test_reply_free(&local);
	test_reply_free(&http);
}

static void
test_every_route_has_a_case(void **state)
{
	size_t n;
	const struct route *table = routes_table(&n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t k = 0; k < UTIL_ARRAY_LEN(cases); k++)
			if (cases[k].route == (int)table[i].id &&
			    strcmp(cases[k].method, table[i].method) == 0)
				found = true;
		if (!found)
			fail_msg("route %s %s has no case", table[i].method,
				 table[i].pattern);
	}
}

static void
make_bodies(void)
{
	static const char head[] =
	    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
	    "filename=\"m.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n";
	static const char tail[] = "\r\n--XyZ--\r\n";

	fx.multipart_len = strlen(head) + fx.wine_len + strlen(tail);
	fx.multipart = malloc(fx.multipart_len);
	assert_non_null(fx.multipart);
	memcpy(fx.multipart, head, strlen(head));
	memcpy(fx.multipart + strlen(head), fx.wine, fx.wine_len);
	memcpy(fx.multipart + strlen(head) + fx.wine_len, tail, strlen(tail));
	fx.big = calloc(1, LIMIT + 1);
	assert_non_null(fx.big);
	fx.event = event_build("us-east-1", "not-ours", "x/y.jpg", 10, "e",
			       1700000000000);
	assert_non_null(fx.event);
}

static int
group_setup(void **state)
{
	struct api_local_reply r;
	struct config cfg;
	struct ip_error err;

	(void)state;
	log_set_level(LOG_WARN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/imgpipe-api-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1");
	cfg.port = 0;
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", fx.dir);
	cfg.max_body_bytes = LIMIT;
	cfg.wait_max_s = 60;
	cfg.shutdown_grace_s = 5;
	cfg.accept_events = true;
	if (app_open(&fx.app, &cfg, APP_NEED_ALL, &err) != IP_OK ||
	    workers_start(&fx.app, 1, &fx.pool, &err) != IP_OK) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	api_init(&fx.api, &fx.app);
	if (http_server_start(&fx.api, &fx.srv, &err) != IP_OK) {
		fprintf(stderr, "http_server_start: %s\n", err.msg);
		return -1;
	}
	fx.port = http_server_port(fx.srv);
	test_read_corpus("wine.jpg", &fx.wine, &fx.wine_len);
	make_bodies();
	upload_one(fx.id, sizeof(fx.id));
	{
		char path[96];

		snprintf(path, sizeof(path), "/v1/images/%s/original", fx.id);
		if (api_local_call(&fx.api, "HEAD", path, NULL, NULL, 0, NULL,
				   0, &r, &err) != IP_OK ||
		    api_local_reply_header(&r, "ETag") == NULL)
			return -1;
		snprintf(fx.etag, sizeof(fx.etag), "%s",
			 api_local_reply_header(&r, "ETag"));
		api_local_reply_free(&r);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	app_stop(&fx.app);
	if (fx.pool != NULL)
		workers_stop(fx.pool, 30000);
	http_server_stop(fx.srv);
	app_close(&fx.app);
	free(fx.wine);
	free(fx.multipart);
	free(fx.big);
	free(fx.event);
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	struct CMUnitTest tests[UTIL_ARRAY_LEN(cases) + 1];

	tests[0] =
	    (struct CMUnitTest)cmocka_unit_test(test_every_route_has_a_case);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
		tests[i + 1] = (struct CMUnitTest){
		    cases[i].name, test_case, NULL, NULL, (void *)&cases[i]};
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
