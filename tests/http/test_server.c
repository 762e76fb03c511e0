/*
 * test_server.c - the gateway in-process: http_server_start on port 0 over
 * a real embedded app (fs store, sqlite table and queue, vips probe) in a
 * temp dir, driven with libcurl.  Checks what a client sees: statuses,
 * JSON errors, headers (X-Request-Id, Location, ETag, Range...), uploads
 * refused early and leaving nothing behind, quiesce.
 *
 * Tests run in order on one server: the first ones run without workers
 * (records stay pending, so "still processing" is deterministic); a later
 * one starts a worker and waits with ?wait=.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testhttp.h"
#include <glib.h>
#include <jansson.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "api/api.h"
#include "http/http.h"
#include "api/params.h"
#include "api/upload.h"
#include "app/app.h"
#include "hosts/workers.h"

#define LIMIT (2 * 1024 * 1024)

struct fixture {
	char dir[64];
	struct config cfg;
	struct app app;
	struct api api;
	struct http_server *srv;
	struct workers *pool;
	int port;
	char *wine; /* corpus bytes */
	size_t wine_len;
	char pending_id[32]; /* uploaded while no worker runs */
};

static struct fixture fx;

struct stream {
	int64_t total; /* bytes to offer */
	int64_t sent; /* bytes curl took */
	const char *data; /* NULL: zeros */
};

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct stream *s = arg;
	size_t want = size * n;

	if ((int64_t)want > s->total - s->sent)
		want = (size_t)(s->total - s->sent);
	if (s->data != NULL)
		memcpy(buf, s->data + s->sent, want);
	else
		memset(buf, 0, want);
	s->sent += (int64_t)want;
	return want;
}

struct call {
	const char *method;
	const char *path;
	const char *headers[6];
	const void *body; /* with body_len; sent as-is */
	size_t body_len;
	struct stream *stream; /* streamed body instead */
	bool chunked;
	curl_mime *(*mime)(CURL *c);
	int port; /* 0: the fixture's */
};

/* Perform one request on a fresh connection. */
static void
perform(const struct call *c, struct test_reply *r)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hl = NULL;
	curl_mime *mime = NULL;
	char url[4096];

	assert_non_null(h);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s",
		 c->port != 0 ? c->port : fx.port, c->path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, test_reply_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, test_reply_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	for (size_t i = 0; i < 6 && c->headers[i] != NULL; i++)
		hl = curl_slist_append(hl, c->headers[i]);
	if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (c->mime != NULL) {
		mime = c->mime(h);
		curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
	} else if (c->stream != NULL) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, c->stream);
		if (!c->chunked)
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)c->stream->total);
		else
			hl =
			    curl_slist_append(hl, "Transfer-Encoding: chunked");
	} else if (c->body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)c->body_len);
	}
	if (strcmp(c->method, "HEAD") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	r->curl = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_mime_free(mime);
	curl_easy_cleanup(h);
	if (r->curl == CURLE_OK) {
		/* Every answer carries a request id. */
		const char *rid = test_reply_header(r, "X-Request-Id");

		assert_non_null(rid);
		assert_true(util_id_valid(rid));
	}
}

static void
get(const char *path, struct test_reply *r)
{
	struct call c = {.method = "GET", .path = path};

	perform(&c, r);
	assert_int_equal(r->curl, CURLE_OK);
}

/* The answer is the JSON error of DESIGN §4 with this status and code. */
static void
assert_json_error(const struct test_reply *r, long status, const char *code)
{
	json_error_t je;
	json_t *j;
	json_t *e;

	if (r->status != status)
		fail_msg("status %ld, want %ld: %s", r->status, status,
			 r->body ? r->body : "");
	assert_non_null(test_reply_header(r, "Content-Type"));
	assert_string_equal(test_reply_header(r, "Content-Type"),
			    "application/json");
	j = json_loadb(r->body, r->len, 0, &je);
	assert_non_null(j);
	e = json_object_get(j, "error");
	assert_true(json_is_object(e));
	assert_true(json_is_string(json_object_get(e, "message")));
	assert_true(json_string_length(json_object_get(e, "message")) > 0);
	if (code != NULL)
		assert_string_equal(
		    json_string_value(json_object_get(e, "code")), code);
	json_decref(j);
}

static int
count_files(const char *sub)
{
	char path[512];
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", fx.dir, sub);
	d = opendir(path);
	if (d == NULL)
		return 0;
	for (;;) {
		struct dirent *e = readdir(d);

		if (e == NULL)
			break;
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static int
count_records(void)
{
	struct test_reply r;
	json_t *j;
	int n;

	get("/v1/images?limit=100", &r);
	assert_int_equal(r.status, 200);
	j = test_reply_json(&r);
	n = (int)json_array_size(json_object_get(j, "items"));
	json_decref(j);
	test_reply_free(&r);
	return n;
}

static int
group_setup(void **state)
{
	struct ip_error err;

	(void)state;
	log_set_level(LOG_WARN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/imgpipe-http-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	config_defaults(&fx.cfg);
	snprintf(fx.cfg.listen, sizeof(fx.cfg.listen), "127.0.0.1");
	fx.cfg.port = 0;
	snprintf(fx.cfg.data_dir, sizeof(fx.cfg.data_dir), "%s", fx.dir);
	fx.cfg.max_body_bytes = LIMIT;
	fx.cfg.wait_max_s = 60;
	fx.cfg.shutdown_grace_s = 5;
	if (app_open(&fx.app, &fx.cfg, APP_NEED_ALL, &err) != IP_OK) {
		fprintf(stderr, "app_open: %s\n", err.msg);
		return -1;
	}
	api_init(&fx.api, &fx.app);
	if (http_server_start(&fx.api, &fx.srv, &err) != IP_OK) {
		fprintf(stderr, "http_server_start: %s\n", err.msg);
		return -1;
	}
	fx.port = http_server_port(fx.srv);
	test_read_corpus("wine.jpg", &fx.wine, &fx.wine_len);
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
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_port_is_ephemeral(void **state)
{
	(void)state;
	assert_true(fx.port > 0 && fx.port < 65536);
}

static void
test_health_ready_metrics(void **state)
{
	struct test_reply r;

	(void)state;
	get("/healthz", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\"}\n");
	test_reply_free(&r);

	get("/readyz", &r);
	assert_int_equal(r.status, 200);
	test_reply_free(&r);

	get("/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(test_reply_header(&r, "Content-Type"),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body,
			       "# TYPE imgpipe_http_requests_total "
			       "counter\nimgpipe_http_requests_total "));
	assert_non_null(strstr(r.body, "\nimgpipe_uploads_accepted_total 0\n"));
	assert_non_null(strstr(r.body, "\nimgpipe_queue_visible "));
	assert_non_null(strstr(r.body, "\nimgpipe_uptime_seconds "));
	test_reply_free(&r);
}

static void
test_not_found_and_method(void **state)
{
	struct call c = {.method = "PATCH", .path = "/v1/images"};
	struct test_reply r;

	(void)state;
	get("/nope", &r);
	assert_json_error(&r, 404, "not_found");
	test_reply_free(&r);

	perform(&c, &r);
	assert_json_error(&r, 405, "method_not_allowed");
	assert_string_equal(test_reply_header(&r, "Allow"), "GET, HEAD, POST");
	test_reply_free(&r);

	c.method = "POST";
	c.path = "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0/original";
	perform(&c, &r);
	assert_json_error(&r, 405, "method_not_allowed");
	assert_string_equal(test_reply_header(&r, "Allow"), "GET, HEAD");
	test_reply_free(&r);

	/* unknown but well-formed id; encoded traversal; bad escape */
	get("/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0", &r);
	assert_json_error(&r, 404, "not_found");
	test_reply_free(&r);
	get("/v1/images/..%2F..%2Fetc", &r);
	assert_json_error(&r, 404, "not_found");
	test_reply_free(&r);
	get("/v1/images/a%zz", &r);
	assert_json_error(&r, 400, "invalid_request");
	test_reply_free(&r);

	c.method = "DELETE";
	c.path = "/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0";
	perform(&c, &r);
	assert_json_error(&r, 404, "not_found");
	test_reply_free(&r);
}

static void
test_query_bounds(void **state)
{
	char path[PATH_MAX];
	struct test_reply r;

	(void)state;
	get("/v1/images?limit=0", &r);
	assert_json_error(&r, 400, "invalid_request");
	test_reply_free(&r);
	get("/v1/images?limit=101", &r);
	assert_json_error(&r, 400, NULL);
	test_reply_free(&r);
	get("/v1/images?cursor=%21%21bogus", &r);
	assert_json_error(&r, 400, NULL);
	test_reply_free(&r);
	get("/v1/images/01JABCDEFGHJKMNPQRSTVWXYZ0?wait=-1", &r);
	assert_json_error(&r, 400, NULL);
	test_reply_free(&r);

	/* a query value longer than the bound */
	snprintf(path, sizeof(path), "/v1/images?cursor=");
	memset(path + strlen(path), 'c', 2100);
	path[18 + 2100] = '\0';
	get(path, &r);
	assert_json_error(&r, 400, NULL);
	test_reply_free(&r);

	get("/v1/images?limit=5", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"items\":[],\"next_cursor\":null}\n");
	test_reply_free(&r);
}

static void
assert_nothing_left(void)
{
	assert_int_equal(count_files("tmp"), 0);
	assert_int_equal(count_files("buckets/input"), 0);
	assert_int_equal(count_records(), 0);
}

static void
test_refusals_leave_nothing(void **state)
{
	static const char text[] = "hello, world\n";
	struct call c = {.method = "PUT", .path = "/v1/images/a.jpg"};
	struct test_reply r;

	(void)state;
	/* empty body */
	c.body = "";
	c.body_len = 0;
	perform(&c, &r);
	assert_json_error(&r, 400, "invalid_request");
	test_reply_free(&r);

	/* not an image */
	c.body = text;
	c.body_len = sizeof(text) - 1;
	perform(&c, &r);
	assert_json_error(&r, 415, "unsupported_media_type");
	test_reply_free(&r);

	/* a file name with an encoded '/' */
	c.path = "/v1/images/a%2Fb.jpg";
	c.body = fx.wine;
	c.body_len = fx.wine_len;
	perform(&c, &r);
	assert_json_error(&r, 400, "invalid_request");
	test_reply_free(&r);

	/* POST: no Content-Type, a wrong one, multipart without boundary */
	c.method = "POST";
	c.path = "/v1/images";
	c.headers[0] = "Content-Type:";
	perform(&c, &r);
	assert_json_error(&r, 415, "unsupported_media_type");
	test_reply_free(&r);
	c.headers[0] = "Content-Type: text/plain";
	perform(&c, &r);
	assert_json_error(&r, 415, "unsupported_media_type");
	test_reply_free(&r);
	c.headers[0] = "Content-Type: multipart/form-data";
	perform(&c, &r);
	assert_json_error(&r, 400, "invalid_request");
	test_reply_free(&r);
	c.headers[0] = "Content-Type: multipart/form-data; boundary=zz";
	perform(&c, &r); /* the body has no boundary at all */
	assert_json_error(&r, 400, "invalid_request");
	test_reply_free(&r);

	assert_nothing_left();
}

static void
test_too_big_by_content_length(void **state)
{
	struct stream s = {LIMIT + 1, 0, NULL};
	struct call c = {
	    .method = "PUT", .path = "/v1/images/big.jpg", .stream = &s};
	struct test_reply r;

	(void)state;
	/* curl sends Expect: 100-continue; the 413 comes first, so the body
	 * is never sent. */
	perform(&c, &r);
	assert_json_error(&r, 413, "payload_too_large");
	assert_true(s.sent < LIMIT);
	test_reply_free(&r);
	assert_nothing_left();
}

static void
test_too_big_chunked(void **state)
{
	struct stream s = {LIMIT + LIMIT / 2, 0, NULL};
	struct call c = {.method = "PUT",
			 .path = "/v1/images/big.jpg",
			 .stream = &s,
			 .chunked = true};
	struct test_reply r;

	(void)state;
	perform(&c, &r);
	assert_json_error(&r, 413, "payload_too_large");
	test_reply_free(&r);
	assert_nothing_left();
}

static void
test_chunked_upload_accepted(void **state)
{
	struct stream s = {0, 0, NULL};
	struct call c = {.method = "PUT",
			 .path = "/v1/images/chunked.jpg",
			 .stream = &s,
			 .chunked = true};
	struct test_reply r;
	json_t *j;
	char path[128];

	(void)state;
	s.total = (int64_t)fx.wine_len;
	s.data = fx.wine;
	perform(&c, &r);
	assert_int_equal(r.status, 202);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
			    "chunked.jpg");
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")),
			 (json_int_t)fx.wine_len);
	snprintf(path, sizeof(path), "/v1/images/%s",
		 json_string_value(json_object_get(j, "id")));
	json_decref(j);
	test_reply_free(&r);
	{
		struct call d = {.method = "DELETE", .path = path};

		perform(&d, &r);
		assert_int_equal(r.status, 204);
		test_reply_free(&r);
	}
	assert_nothing_left();
}

static void
test_put_accepted(void **state)
{
	struct call c = {.method = "PUT",
			 .path = "/v1/images/my%20wine.jpg",
			 .body = fx.wine,
			 .body_len = fx.wine_len};
	struct test_reply r;
	json_t *j;
	json_t *links;
	const char *id;
	char want[128];
	GChecksum *sum;

	(void)state;
	perform(&c, &r);
	if (r.status != 202)
		fail_msg("PUT: %ld %s", r.status, r.body);
	j = test_reply_json(&r);
	id = json_string_value(json_object_get(j, "id"));
	assert_true(util_id_valid(id));
	snprintf(fx.pending_id, sizeof(fx.pending_id), "%s", id);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
			    "my wine.jpg");
	assert_string_equal(json_string_value(json_object_get(j, "status")),
			    "pending");
	sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_checksum_update(sum, (const guchar *)fx.wine, (gssize)fx.wine_len);
	assert_string_equal(json_string_value(json_object_get(j, "sha256")),
			    g_checksum_get_string(sum));
	g_checksum_free(sum);
	snprintf(want, sizeof(want), "/v1/images/%s", id);
	assert_string_equal(test_reply_header(&r, "Location"), want);
	links = json_object_get(j, "links");
	assert_string_equal(json_string_value(json_object_get(links, "self")),
			    want);
	snprintf(want, sizeof(want), "/v1/images/%s/variants/thumb", id);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(links, "variants"), "thumb")),
			    want);
	json_decref(j);
	test_reply_free(&r);
	assert_int_equal(count_files("tmp"), 0);
	assert_int_equal(count_records(), 1);
}

static void
test_pending_record(void **state)
{
	char path[128];
	struct test_reply r;
	json_t *j;

	(void)state;
	snprintf(path, sizeof(path), "/v1/images/%s", fx.pending_id);
	get(path, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(test_reply_header(&r, "Cache-Control"), "no-store");
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "id")),
			    fx.pending_id);
	json_decref(j);
	test_reply_free(&r);

	/* no worker runs: the wait ends at its bound, still pending */
	snprintf(path, sizeof(path), "/v1/images/%s?wait=1", fx.pending_id);
	get(path, &r);
	assert_int_equal(r.status, 200);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
			    "pending");
	json_decref(j);
	test_reply_free(&r);

	/* a variant of a record not done yet: 409 */
	snprintf(path, sizeof(path), "/v1/images/%s/variants/thumb",
		 fx.pending_id);
	get(path, &r);
	assert_json_error(&r, 409, "conflict");
	assert_non_null(strstr(r.body, "still processing"));
	test_reply_free(&r);
}

static void
test_original_conditional_and_range(void **state)
{
	char path[128];
	char hdr[256];
	char lm[64];
	char etag[80];
	struct call c = {.method = "GET", .path = path};
	struct test_reply r;
	size_t n = fx.wine_len;

	(void)state;
	snprintf(path, sizeof(path), "/v1/images/%s/original", fx.pending_id);
	get(path, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, n);
	assert_memory_equal(r.body, fx.wine, n);
	assert_string_equal(test_reply_header(&r, "Content-Type"),
			    "image/jpeg");
	assert_string_equal(test_reply_header(&r, "Accept-Ranges"), "bytes");
	assert_string_equal(test_reply_header(&r, "X-Content-Type-Options"),
			    "nosniff");
	snprintf(etag, sizeof(etag), "%s", test_reply_header(&r, "ETag"));
	assert_int_equal(strlen(etag), 66);
	snprintf(lm, sizeof(lm), "%s", test_reply_header(&r, "Last-Modified"));
	assert_true(params_http_date(lm) > 0);
	test_reply_free(&r);

	/* HEAD: headers, no body */
	c.method = "HEAD";
	perform(&c, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	snprintf(hdr, sizeof(hdr), "%zu", n);
	assert_string_equal(test_reply_header(&r, "Content-Length"), hdr);
	test_reply_free(&r);
	c.method = "GET";

	/* If-None-Match */
	snprintf(hdr, sizeof(hdr), "If-None-Match: \"x\", %s", etag);
	c.headers[0] = hdr;
	perform(&c, &r);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.len, 0);
	assert_string_equal(test_reply_header(&r, "ETag"), etag);
	test_reply_free(&r);
	c.headers[0] = "If-None-Match: \"other\"";
	perform(&c, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, n);
	test_reply_free(&r);

	/* If-Modified-Since */
	snprintf(hdr, sizeof(hdr), "If-Modified-Since: %s", lm);
	c.headers[0] = hdr;
	perform(&c, &r);
	assert_int_equal(r.status, 304);
	test_reply_free(&r);
	c.headers[0] = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT";
	perform(&c, &r);
	assert_int_equal(r.status, 200);
	test_reply_free(&r);

	/* Range */
	c.headers[0] = "Range: bytes=10-19";
	perform(&c, &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 10);
	assert_memory_equal(r.body, fx.wine + 10, 10);
	snprintf(hdr, sizeof(hdr), "bytes 10-19/%zu", n);
	assert_string_equal(test_reply_header(&r, "Content-Range"), hdr);
	test_reply_free(&r);
	c.headers[0] = "Range: bytes=-7";
	perform(&c, &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, 7);
	assert_memory_equal(r.body, fx.wine + n - 7, 7);
	test_reply_free(&r);
	c.headers[0] = "Range: bytes=100-";
	perform(&c, &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.len, n - 100);
	test_reply_free(&r);
	snprintf(hdr, sizeof(hdr), "Range: bytes=%zu-", n);
	c.headers[0] = hdr;
	perform(&c, &r);
	assert_json_error(&r, 416, "range_not_satisfiable");
	snprintf(hdr, sizeof(hdr), "bytes */%zu", n);
	assert_string_equal(test_reply_header(&r, "Content-Range"), hdr);
	test_reply_free(&r);
	c.headers[0] = "Range: bytes=0-1,5-6";
	perform(&c, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, n);
	test_reply_free(&r);
	/* If-Range with a stale validator: the whole object */
	c.headers[0] = "Range: bytes=0-1";
	c.headers[1] = "If-Range: \"stale\"";
	perform(&c, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, n);
	test_reply_free(&r);
}

static curl_mime *
wine_form(CURL *h)
{
	curl_mime *m = curl_mime_init(h);
	curl_mimepart *p = curl_mime_addpart(m);

	curl_mime_name(p, "note");
	curl_mime_data(p, "ignored", CURL_ZERO_TERMINATED);
	p = curl_mime_addpart(m);
	curl_mime_name(p, "file");
	curl_mime_filename(p, "../dir/form wine.jpg");
	curl_mime_type(p, "image/jpeg");
	curl_mime_data(p, fx.wine, fx.wine_len);
	return m;
}

static void
test_post_forms(void **state)
{
	struct call c = {
	    .method = "POST", .path = "/v1/images", .mime = wine_form};
	struct test_reply r;
	json_t *j;

	(void)state;
	perform(&c, &r);
	if (r.status != 202)
		fail_msg("multipart: %ld %s", r.status, r.body);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
			    "form wine.jpg");
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")),
			 (json_int_t)fx.wine_len);
	json_decref(j);
	test_reply_free(&r);

	/* a raw image body named by ?name= */
	memset(&c, 0, sizeof(c));
	c.method = "POST";
	c.path = "/v1/images?name=raw+wine.jpg";
	c.headers[0] = "Content-Type: image/jpeg";
	c.body = fx.wine;
	c.body_len = fx.wine_len;
	perform(&c, &r);
	assert_int_equal(r.status, 202);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
			    "raw wine.jpg");
	json_decref(j);
	test_reply_free(&r);

	/* no ?name=: "image" */
	c.path = "/v1/images";
	perform(&c, &r);
	assert_int_equal(r.status, 202);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
			    "image");
	json_decref(j);
	test_reply_free(&r);
	assert_int_equal(count_files("tmp"), 0);
	assert_int_equal(count_records(), 4);
}

static void
test_list_pages(void **state)
{
	char path[512];
	struct test_reply r;
	json_t *j;
	int seen = 0;
	int pages = 0;
	char cursor[256] = "";

	(void)state;
	do {
		snprintf(path, sizeof(path), "/v1/images?limit=3%s%s",
			 cursor[0] ? "&cursor=" : "", cursor);
		get(path, &r);
		assert_int_equal(r.status, 200);
		j = test_reply_json(&r);
		seen += (int)json_array_size(json_object_get(j, "items"));
		assert_non_null(json_object_get(
		    json_array_get(json_object_get(j, "items"), 0), "links"));
		cursor[0] = '\0';
		if (json_is_string(json_object_get(j, "next_cursor")))
			snprintf(cursor, sizeof(cursor), "%s",
				 json_string_value(
				     json_object_get(j, "next_cursor")));
		json_decref(j);
		test_reply_free(&r);
		pages++;
	} while (cursor[0] != '\0' && pages < 10);
	assert_int_equal(seen, 4);
	assert_int_equal(pages, 2);
}

static void
test_wait_on_upload_and_variants(void **state)
{
	struct call c = {.method = "PUT",
			 .path = "/v1/images/w.jpg?wait=60",
			 .body = fx.wine,
			 .body_len = fx.wine_len};
	struct ip_error err;
	struct test_reply r;
	json_t *j;
	json_t *v;
	char path[160];
	char etag[80];
	char id[32];

	(void)state;
	assert_int_equal(workers_start(&fx.app, 1, &fx.pool, &err), IP_OK);
	perform(&c, &r);
	if (r.status != 201)
		fail_msg("PUT ?wait: %ld %s", r.status, r.body);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
			    "done");
	snprintf(id, sizeof(id), "%s",
		 json_string_value(json_object_get(j, "id")));
	v = json_array_get(json_object_get(j, "variants"), 2);
	assert_string_equal(json_string_value(json_object_get(v, "name")),
			    "thumb");
	snprintf(etag, sizeof(etag), "\"%s\"",
		 json_string_value(json_object_get(v, "sha256")));
	snprintf(path, sizeof(path), "/v1/images/%s/variants/thumb", id);
	json_decref(j);
	test_reply_free(&r);

	get(path, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(test_reply_header(&r, "Content-Type"),
			    "image/jpeg");
	assert_string_equal(test_reply_header(&r, "ETag"), etag);
	assert_string_equal(test_reply_header(&r, "Cache-Control"),
			    "public, max-age=31536000, immutable");
	assert_true(r.len > 100 && (unsigned char)r.body[0] == 0xff);
	test_reply_free(&r);

	snprintf(path, sizeof(path), "/v1/images/%s/variants/nope", id);
	get(path, &r);
	assert_json_error(&r, 404, "not_found");
	test_reply_free(&r);

	/* the record uploaded earlier, without a worker, finishes now */
	snprintf(path, sizeof(path), "/v1/images/%s?wait=60", fx.pending_id);
	get(path, &r);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "status")),
			    "done");
	json_decref(j);
	test_reply_free(&r);

	get("/metrics", &r);
	assert_non_null(strstr(r.body, "\nimgpipe_uploads_accepted_total 6\n"));
	test_reply_free(&r);
}

static void
test_cleanup_stale(void **state)
{
	char tmp[256];
	char path[512];
	int fd;

	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/stale", fx.dir);
	assert_int_equal(util_mkdir_p(tmp), 0);
	/* a pid that cannot be alive, ours, and a foreign file */
	snprintf(path, sizeof(path), "%s/upload-%d-aaaaaa", tmp, 0x3fffffff);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/upload-%ld-bbbbbb", tmp,
		 (long)getpid());
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/other-file", tmp);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(upload_cleanup_stale(tmp), 1);
	assert_int_equal(count_files("stale"), 2);
}

/* GET on a persistent handle; returns how many new connections it made. */
static long
get_on(CURL *h, int port, const char *path, struct test_reply *r)
{
	char url[256];
	long made = -1;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, test_reply_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, test_reply_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	r->curl = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &made);
	return made;
}

static void
test_keep_alive_then_quiesce(void **state)
{
	struct http_server *srv;
	struct ip_error err;
	struct call c = {.method = "GET", .path = "/healthz"};
	struct test_reply r;
	CURL *h = curl_easy_init();
	int port;

	(void)state;
	assert_non_null(h);
	assert_int_equal(http_server_start(&fx.api, &srv, &err), IP_OK);
	port = http_server_port(srv);

	/* requests without a body keep their connection, errors too */
	assert_int_equal(get_on(h, port, "/healthz", &r), 1);
	assert_null(test_reply_header(&r, "Connection"));
	test_reply_free(&r);
	assert_int_equal(get_on(h, port, "/nope", &r), 0);
	assert_int_equal(r.status, 404);
	test_reply_free(&r);
	assert_int_equal(get_on(h, port, "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	test_reply_free(&r);

	/* quiesced: the open connection is served and told to close; new
	 * connections are refused at once */
	http_server_quiesce(srv);
	http_server_quiesce(srv); /* idempotent */
	assert_int_equal(get_on(h, port, "/healthz", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(test_reply_header(&r, "Connection"), "close");
	test_reply_free(&r);
	c.port = port;
	perform(&c, &r);
	assert_int_equal(r.curl, CURLE_COULDNT_CONNECT);
	test_reply_free(&r);
	curl_easy_cleanup(h);
	http_server_stop(srv);
	http_server_stop(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_port_is_ephemeral),
	    cmocka_unit_test(test_health_ready_metrics),
	    cmocka_unit_test(test_not_found_and_method),
	    cmocka_unit_test(test_query_bounds),
	    cmocka_unit_test(test_refusals_leave_nothing),
	    cmocka_unit_test(test_too_big_by_content_length),
	    cmocka_unit_test(test_too_big_chunked),
	    cmocka_unit_test(test_chunked_upload_accepted),
	    cmocka_unit_test(test_put_accepted),
	    cmocka_unit_test(test_pending_record),
	    cmocka_unit_test(test_original_conditional_and_range),
	    cmocka_unit_test(test_post_forms),
	    cmocka_unit_test(test_list_pages),
	    cmocka_unit_test(test_wait_on_upload_and_variants),
	    cmocka_unit_test(test_cleanup_stale),
	    cmocka_unit_test(test_keep_alive_then_quiesce),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
