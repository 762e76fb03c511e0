/*
 * test_core.c - unit tests of the core: configuration precedence and
 * validation, the S3 event both ways, the record's JSON, the error table,
 * ids, keys and client file names, and the URL rules of the backend
 * registries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <string.h>

#include "core/backend_url.h"
#include "core/config.h"
#include "core/diskspace.h"
#include "core/sqlite_util.h"
#include "core/error.h"
#include "core/event.h"
#include "core/histogram.h"
#include "core/record.h"
#include "core/util.h"
#include "function/ingest.h"
#include "function/function.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

/* ---- configuration ---- */

static void
test_config_defaults(void **state)
{
	struct config c;
	struct ip_error e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.port, 8080);
	assert_string_equal(c.listen, "127.0.0.1");
	assert_string_equal(c.data_dir, "./data");
	assert_int_equal(c.n_variants, 3);
	assert_string_equal(c.variants[0].name, "large");
	assert_int_equal(c.variants[0].width, 1600);
	assert_true(c.variants[0].watermark);
	assert_string_equal(c.variants[2].name, "thumb");
	assert_int_equal(c.variants[2].fit, FIT_COVER);
	assert_false(c.variants[2].watermark);
	assert_int_equal(c.variants[1].quality, 82);
	assert_int_equal(c.max_body_bytes, 50 * 1024 * 1024);
	assert_int_equal(c.max_pixels, 100000000);
	assert_int_equal(c.max_attempts, 3);
	assert_int_equal(config_validate(&c, &e), IP_OK);
}

static char *
write_temp(const char *text)
{
	char *path = strdup("/tmp/imgpipe-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_config_precedence(void **state)
{
	char *ini = write_temp("[server]\nport = 9000\nlisten = 0.0.0.0\n"
			       "[variant.thumb]\nwidth = 150\n"
			       "[variant.tiny]\nwidth = 32\nheight = 32\n"
			       "fit = cover\nformat = webp\n"
			       "[watermark]\ntext = (c) Example\n"
			       "position = north-west\nopacity = 0.25\n");
	char e1[] = "IMGPIPE_SERVER_PORT=9100";
	char e2[] = "IMGPIPE_VARIANT_THUMB_HEIGHT=120";
	char e3[] = "IMGPIPE_SERVERS_ENV=/not/a/setting";
	char e4[] = "PATH=/bin";
	char *env[] = {e1, e2, e3, e4, NULL};
	struct config c;
	struct ip_error e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, ini, &e), IP_OK);
	assert_int_equal(c.port, 9000);
	assert_string_equal(c.listen, "0.0.0.0");
	assert_int_equal(c.n_variants, 4);
	assert_int_equal(c.variants[2].width, 150);
	assert_int_equal(c.variants[3].fit, FIT_COVER);
	assert_int_equal(c.variants[3].format, FORMAT_WEBP);
	assert_string_equal(c.watermark.text, "(c) Example");
	assert_int_equal(c.watermark.position, GRAVITY_NORTH_WEST);
	/* environment beats the file */
	assert_int_equal(config_load_env(&c, env, &e), IP_OK);
	assert_int_equal(c.port, 9100);
	assert_int_equal(c.variants[2].height, 120);
	/* flags (config_set) beat the environment */
	assert_int_equal(config_set(&c, "server", "port", "9200", &e), IP_OK);
	assert_int_equal(c.port, 9200);
	assert_int_equal(config_validate(&c, &e), IP_OK);
	unlink(ini);
	free(ini);
}

/* ';' starts a comment line, as in most INI dialects (GLib takes only
 * '#'); a ';' after a value is part of the value, as in GLib. */
static void
test_config_semicolon_comments(void **state)
{
	static const char ini[] = "; imgpipe.ini\n[server]\n  ; the port\n"
				  "port = 9001\r\n# hash too\n[watermark]\n"
				  "text = a;b\n";
	struct config c;
	struct ip_error e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load_data(&c, ini, strlen(ini), "test", &e),
			 IP_OK);
	assert_int_equal(c.port, 9001);
	assert_string_equal(c.watermark.text, "a;b");
}

/* A bad value of a setting with a fixed set says which values are. */
static void
test_config_names_valid_values(void **state)
{
	static const struct {
		const char *section, *key, *value, *says;
	} cases[] = {
	    {"server", "bytes", "fast", "valid: auto, stream, redirect"},
	    {"variant.thumb", "fit", "contain", "valid: inside, cover, fill"},
	    {"output", "progressive", "maybe", "true or false"},
	    {"server", "auth", "yes", "valid: auto, on, off"},
	};
	struct config c;
	struct ip_error e;

	(void)state;
	config_defaults(&c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(config_set(&c, cases[i].section, cases[i].key,
					    cases[i].value, &e),
				 IP_EINVAL);
		assert_non_null(strstr(e.msg, cases[i].says));
	}
}

static void
test_config_rejects(void **state)
{
	static const struct {
		const char *section, *key, *value;
	} bad[] = {
	    {"server", "port", "70000"},
	    {"server", "port", "80x"},
	    {"server", "nope", "1"},
	    {"limits", "max_body", "lots"},
	    {"watermark", "opacity", "1.5"},
	    {"watermark", "position", "up"},
	    {"variant.thumb", "fit", "squash"},
	    {"variant.Bad Name", "width", "10"},
	    {"variant.x", "width", "0"},
	    {"worker", "max_attempts", "0"},
	    {"output", "progressive", "maybe"},
	    {"limits", "fail_on", "sometimes"},
	    {"storage", "events", "both"},
	    {"server", "log_level", "loud"},
	};
	struct config c;
	struct ip_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_defaults(&c);
		assert_int_equal(config_set(&c, bad[i].section, bad[i].key,
					    bad[i].value, &e),
				 IP_EINVAL);
		assert_non_null(strstr(e.msg, bad[i].key[0] ? "" : ""));
		assert_true(strlen(e.msg) > 0);
	}
	config_defaults(&c);
	assert_int_equal(config_set(&c, "limits", "max_body", "10M", &e),
			 IP_OK);
	assert_int_equal(c.max_body_bytes, 10 * 1024 * 1024);
	/* the same bucket for input and output would loop forever */
	config_set(&c, "storage", "output_bucket", "input", &e);
	assert_int_equal(config_validate(&c, &e), IP_EINVAL);
	assert_non_null(strstr(e.msg, "differ"));
}

static void
test_config_bad_file(void **state)
{
	char *ini = write_temp("[server]\nport = many\n");
	char e1[] = "IMGPIPE_SERVER_PROT=1";
	char *env[] = {e1, NULL};
	struct config c;
	struct ip_error e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, ini, &e), IP_EINVAL);
	assert_non_null(strstr(e.msg, "server.port"));
	assert_int_equal(config_load_file(&c, "/nonexistent.ini", &e),
			 IP_EINVAL);
	{
		/* a file far larger than any configuration is refused */
		char *big = write_temp("[server]\n");
		FILE *f = fopen(big, "a");

		assert_non_null(f);
		for (int i = 0; i < 70000; i++)
			fputs("; padding line\n", f);
		fclose(f);
		assert_int_equal(config_load_file(&c, big, &e), IP_EINVAL);
		assert_non_null(strstr(e.msg, "larger than"));
		unlink(big);
		free(big);
	}
	assert_int_equal(config_load_env(&c, env, &e), IP_EINVAL);
	assert_non_null(strstr(e.msg, "SERVER_PROT"));
	unlink(ini);
	free(ini);
}

/* ---- events ---- */

static void
test_event_roundtrip(void **state)
{
	const char *key = "01JABCDEFGHJKMNPQRSTVWXYZ0/my photo+1%.jpg";
	struct event ev;
	struct ip_error e;
	char *text;

	(void)state;
	text = event_build("us-east-1", "input", key, 1234, "abc", 0);
	assert_non_null(text);
	/* encoded as S3 does: space as '+', '+' and '%' escaped */
	assert_non_null(strstr(text, "my+photo%2B1%25.jpg"));
	assert_non_null(strstr(text, "\"eventSource\":\"aws:s3\""));
	assert_int_equal(event_parse(text, strlen(text), &ev, &e), IP_OK);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.records[0].key, key);
	assert_string_equal(ev.records[0].bucket, "input");
	assert_string_equal(ev.records[0].event_name, "ObjectCreated:Put");
	assert_int_equal(ev.records[0].size, 1234);
	event_clear(&ev);
	free(text);
}

/* The creating request's id rides in responseElements, as S3 puts its
 * own; only a plain token comes back out (it reaches log lines). */
static void
test_event_request_id(void **state)
{
	struct event ev;
	struct ip_error e;
	char *text;
	const char *forged =
	    "{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":"
	    "\"ObjectCreated:Put\",\"responseElements\":{\"x-amz-request-"
	    "id\":\"a\\u001b[31m\"},\"s3\":{\"bucket\":{\"name\":\"in\"},"
	    "\"object\":{\"key\":\"k/x.jpg\",\"size\":1}}}]}";

	(void)state;
	text = event_build_request("us-east-1", "input", "k/x.jpg", 1, "e", 0,
				   "01M8TWYN3N3NAZ3CY2WGSHN76J");
	assert_non_null(text);
	assert_int_equal(event_parse(text, strlen(text), &ev, &e), IP_OK);
	assert_string_equal(ev.records[0].request_id,
			    "01M8TWYN3N3NAZ3CY2WGSHN76J");
	event_clear(&ev);
	free(text);
	text = event_build("us-east-1", "input", "k/x.jpg", 1, "e", 0);
	assert_null(strstr(text, "responseElements"));
	assert_int_equal(event_parse(text, strlen(text), &ev, &e), IP_OK);
	assert_string_equal(ev.records[0].request_id, "");
	event_clear(&ev);
	free(text);
	assert_int_equal(event_parse(forged, strlen(forged), &ev, &e), IP_OK);
	assert_string_equal(ev.records[0].request_id, "");
	event_clear(&ev);
}

/* Buckets are cumulative in the exposition, +Inf equals _count, the sum
 * is in seconds, a boundary value falls in its own bucket (le). */
static void
test_histogram(void **state)
{
	static const struct histogram_buckets b = {3, {0.01, 0.1, 1}};
	struct histogram h;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	histogram_init(&h, &b);
	histogram_observe_us(&h, 10000); /* exactly 0.01 */
	histogram_observe_us(&h, 50000);
	histogram_observe_us(&h, 5000000); /* above every bound */
	histogram_observe_us(&h, -3); /* a clock step: counts as 0 */
	f = open_memstream(&text, &len);
	assert_non_null(f);
	histogram_write(&h, f, "x_seconds", "stage=\"a\"");
	fclose(f);
	assert_string_equal(text,
			    "x_seconds_bucket{stage=\"a\",le=\"0.01\"} 2\n"
			    "x_seconds_bucket{stage=\"a\",le=\"0.1\"} 3\n"
			    "x_seconds_bucket{stage=\"a\",le=\"1\"} 3\n"
			    "x_seconds_bucket{stage=\"a\",le=\"+Inf\"} 4\n"
			    "x_seconds_sum{stage=\"a\"} 5.060000\n"
			    "x_seconds_count{stage=\"a\"} 4\n");
	free(text);
}

static void
test_event_foreign_shapes(void **state)
{
	/* radosgw: unencoded key, ceph:s3, version 2.2, extra fields */
	const char *rgw =
	    "{\"Records\":[{\"eventVersion\":\"2.2\",\"eventSource\":"
	    "\"ceph:s3\",\"awsRegion\":\"\",\"eventName\":"
	    "\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"in\"},"
	    "\"object\":{\"key\":\"a b+c.jpg\",\"size\":5,\"metadata\":[],"
	    "\"tags\":[]}},\"opaqueData\":\"\"}]}";
	/* SNS-wrapped S3 event (Architect sandbox @events) */
	const char *sns =
	    "{\"Records\":[{\"Sns\":{\"Message\":\"{\\\"Records\\\":[{"
	    "\\\"eventSource\\\":\\\"aws:s3\\\",\\\"eventName\\\":"
	    "\\\"ObjectCreated:Post\\\",\\\"s3\\\":{\\\"bucket\\\":{"
	    "\\\"name\\\":\\\"in\\\"},\\\"object\\\":{\\\"key\\\":"
	    "\\\"x%20y.png\\\"}}}]}\"}}]}";
	struct event ev;
	struct ip_error e;

	(void)state;
	assert_int_equal(event_parse(rgw, strlen(rgw), &ev, &e), IP_OK);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.records[0].key, "a b+c.jpg");
	event_clear(&ev);
	assert_int_equal(event_parse(sns, strlen(sns), &ev, &e), IP_OK);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.records[0].key, "x y.png");
	event_clear(&ev);
}

static void
test_event_rejects(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"Records\":3}",
	    "{\"Records\":[{\"s3\":{\"bucket\":{},\"object\":{\"key\":"
	    "\"k\"}}}]}",
	    "{\"Records\":[{\"s3\":{\"bucket\":{\"name\":\"b\"},"
	    "\"object\":{\"key\":\"bad%zz\"}}}]}",
	    "{\"Records\":[{\"s3\":{\"bucket\":{\"name\":\"b\"},"
	    "\"object\":{\"key\":\"nul%00\"}}}]}",
	    "{\"Records\":[{\"s3\":{\"bucket\":{\"name\":\"b\"},"
	    "\"object\":{}}}]}",
	};
	struct event ev;
	struct ip_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(
		    event_parse(bad[i], strlen(bad[i]), &ev, &e), IP_OK);
		event_clear(&ev);
	}
}

/* The envelopes of event.h, in the shapes AWS documents. */
static void
test_event_envelopes(void **state)
{
	/* SQS: one good message (an S3 event), one whose body is not JSON,
	 * one s3:TestEvent */
	const char *sqs =
	    "{\"Records\":[{\"messageId\":\"m-1\",\"eventSource\":\"aws:sqs\","
	    "\"body\":\"{\\\"Records\\\":[{\\\"eventSource\\\":\\\"aws:s3\\\","
	    "\\\"eventName\\\":\\\"ObjectCreated:Put\\\",\\\"s3\\\":{"
	    "\\\"bucket\\\":{\\\"name\\\":\\\"in\\\"},\\\"object\\\":{"
	    "\\\"key\\\":\\\"a+b%2Bc.jpg\\\",\\\"size\\\":7}}}]}\"},"
	    "{\"messageId\":\"m-2\",\"eventSource\":\"aws:sqs\",\"body\":"
	    "\"not json\"},"
	    "{\"messageId\":\"m-3\",\"eventSource\":\"aws:sqs\",\"body\":"
	    "\"{\\\"Service\\\":\\\"Amazon S3\\\",\\\"Event\\\":"
	    "\\\"s3:TestEvent\\\",\\\"Bucket\\\":\\\"in\\\"}\"}]}";
	/* EventBridge: the key is not URL-encoded */
	const char *eb =
	    "{\"version\":\"0\",\"detail-type\":\"Object Created\",\"source\":"
	    "\"aws.s3\",\"time\":\"2021-11-12T00:00:00Z\",\"detail\":{"
	    "\"bucket\":{\"name\":\"in\"},\"object\":{\"key\":\"a+b%2B.jpg\","
	    "\"size\":5,\"etag\":\"e\",\"sequencer\":\"s\"},\"reason\":"
	    "\"PutObject\"}}";
	const char *test = "{\"Service\":\"Amazon S3\",\"Event\":"
			   "\"s3:TestEvent\",\"Time\":\"2014-10-13T15:57:02Z\","
			   "\"Bucket\":\"in\",\"RequestId\":\"x\"}";
	struct event ev;
	struct ip_error e;

	(void)state;
	assert_int_equal(event_parse(sqs, strlen(sqs), &ev, &e), IP_OK);
	assert_int_equal(ev.n, 2);
	assert_string_equal(ev.records[0].message_id, "m-1");
	assert_string_equal(ev.records[0].key, "a b+c.jpg");
	assert_string_equal(ev.records[0].problem, "");
	assert_string_equal(ev.records[1].message_id, "m-2");
	assert_string_not_equal(ev.records[1].problem, "");
	event_clear(&ev);
	assert_int_equal(event_parse(eb, strlen(eb), &ev, &e), IP_OK);
	assert_int_equal(ev.n, 1);
	assert_string_equal(ev.records[0].key, "a+b%2B.jpg");
	assert_string_equal(ev.records[0].event_name,
			    "ObjectCreated:PutObject");
	assert_int_equal(ev.records[0].size, 5);
	event_clear(&ev);
	assert_int_equal(event_parse(test, strlen(test), &ev, &e), IP_OK);
	assert_int_equal(ev.n, 0);
	event_clear(&ev);
	/* an unknown shape is an error, never a silent success */
	assert_int_equal(event_parse("{\"hello\":1}", 11, &ev, &e), IP_EINVAL);
	event_clear(&ev);
}

/* Keys up to S3's 1024 bytes, and as many records as the payload holds. */
static void
test_event_sizes(void **state)
{
	GString *doc = g_string_new("{\"Records\":[");
	char key[1025];
	struct event ev;
	struct ip_error e;

	(void)state;
	memset(key, 'k', 1024);
	key[1024] = '\0';
	for (int i = 0; i < 100; i++)
		g_string_append_printf(
		    doc,
		    "%s{\"eventSource\":\"aws:s3\",\"eventName\":"
		    "\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"in\"}"
		    ","
		    "\"object\":{\"key\":\"%s\"}}}",
		    i > 0 ? "," : "", i == 0 ? key : "x");
	g_string_append(doc, "]}");
	assert_int_equal(event_parse(doc->str, doc->len, &ev, &e), IP_OK);
	assert_int_equal(ev.n, 100);
	assert_string_equal(ev.records[0].key, key);
	event_clear(&ev);
	g_string_free(doc, TRUE);
}

/* ---- record ---- */

static void
test_record_roundtrip(void **state)
{
	struct record a, b;
	struct ip_error e;
	char *text;

	(void)state;
	memset(&a, 0, sizeof(a));
	util_new_id(a.id, sizeof(a.id));
	strcpy(a.name, "Café \"quoted\".jpg");
	strcpy(a.input_bucket, "input");
	snprintf(a.input_key, sizeof(a.input_key), "%s/x.jpg", a.id);
	strcpy(a.content_type, "image/jpeg");
	strcpy(a.format, "jpeg");
	a.bytes = 123456789012LL;
	memset(a.sha256, 'a', 64);
	a.stored_width = 2848;
	a.stored_height = 4272;
	a.width = 4272;
	a.height = 2848;
	a.orientation = 6;
	a.has_alpha = true;
	strcpy(a.colourspace, "srgb");
	a.pages = 1;
	a.uploaded_at = 1767225600123LL;
	a.status = RECORD_DONE;
	a.attempts = 2;
	a.processed_at = 1767225601456LL;
	a.processing_ms = 333;
	strcpy(a.placeholder, "LKO2?U%2Tw=w]~RBVZRi};RPxuwH");
	strcpy(a.dominant, "#a1b2c3");
	a.version = 7;
	strcpy(a.request_id, "order-42.upload:7_A");
	a.n_variants = 2;
	strcpy(a.variants[0].name, "large");
	strcpy(a.variants[0].bucket, "output");
	strcpy(a.variants[0].key, "k/large.jpg");
	strcpy(a.variants[0].format, "jpeg");
	strcpy(a.variants[0].content_type, "image/jpeg");
	a.variants[0].width = 1600;
	a.variants[0].height = 1067;
	a.variants[0].bytes = 200000;
	memset(a.variants[0].sha256, 'b', 64);
	strcpy(a.variants[1].name, "thumb");
	a.variants[1].width = 200;
	a.variants[1].height = 200;
	text = record_to_string(&a);
	assert_non_null(text);
	assert_non_null(
	    strstr(text, "\"uploaded_at\":\"2026-01-01T00:00:00.123Z\""));
	assert_non_null(strstr(text, "\"status\":\"done\""));
	assert_non_null(strstr(text, "\"request_id\":\"order-42.upload:7_A\""));
	assert_int_equal(record_from_string(text, strlen(text), &b, &e), IP_OK);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_non_null(record_variant_get(&b, "thumb"));
	assert_null(record_variant_get(&b, "medium"));
	free(text);
}

static void
test_record_rejects(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "{\"id\":\"nope\",\"status\":\"done\"}",
	    "{\"id\":\"01JABCDEFGHJKMNPQRSTVWXYZ0\",\"status\":\"weird\"}",
	    "{\"id\":\"01JABCDEFGHJKMNPQRSTVWXYZ0\",\"status\":\"done\","
	    "\"width\":-1}",
	    "{\"id\":\"01JABCDEFGHJKMNPQRSTVWXYZ0\",\"status\":\"done\","
	    "\"uploaded_at\":\"yesterday\"}",
	    "{\"id\":\"01JABCDEFGHJKMNPQRSTVWXYZ0\",\"status\":\"done\","
	    "\"variants\":{}}",
	    "{\"id\":\"01JABCDEFGHJKMNPQRSTVWXYZ0\",\"status\":\"done\","
	    "\"format\":\"a-format-name-that-is-far-too-long\"}",
	    "{\"id\":\"01JABCDEFGHJKMNPQRSTVWXYZ0\",\"status\":\"done\","
	    "\"request_id\":\"a b\"}",
	    "[1]",
	};
	struct record r;
	struct ip_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    record_from_string(bad[i], strlen(bad[i]), &r, &e),
		    IP_EINVAL);
}

/* ---- errors, ids, keys, names ---- */

static void
test_error_table(void **state)
{
	static const struct {
		int code, http;
		const char *name;
	} rows[] = {
	    {IP_OK, 200, "ok"},
	    {IP_EINVAL, 400, "invalid_request"},
	    {IP_ENOTFOUND, 404, "not_found"},
	    {IP_ECONFLICT, 409, "conflict"},
	    {IP_ETOOBIG, 413, "payload_too_large"},
	    {IP_EMEDIA, 415, "unsupported_media_type"},
	    {IP_EUNPROCESSABLE, 422, "unprocessable_image"},
	    {IP_EFULL, 429, "too_many_requests"},
	    {IP_EBACKEND, 503, "backend_unavailable"},
	    {IP_ELENGTH, 411, "length_required"},
	    {IP_ENOTSUP, 405, "method_not_allowed"},
	    {IP_ENOSPACE, 507, "insufficient_storage"},
	    {IP_EDAMAGED, 500, "backend_error"},
	    {-999, 500, "internal_error"},
	};
	struct ip_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(ip_code_http(rows[i].code), rows[i].http);
		assert_string_equal(ip_code_name(rows[i].code), rows[i].name);
	}
	assert_int_equal(ip_error_set(&e, IP_EMEDIA, "x=%d", 5), IP_EMEDIA);
	assert_string_equal(e.msg, "x=5");
	ip_error_prefix(&e, "put %s", "a");
	assert_string_equal(e.msg, "put a: x=5");
	assert_true(ip_code_transient(IP_EBACKEND));
	assert_false(ip_code_transient(IP_EMEDIA));
	assert_true(ip_code_transient(IP_ENOSPACE));
	assert_false(ip_code_transient(IP_EDAMAGED));
	assert_int_equal(ip_errno_code(ENOSPC, IP_EIO), IP_ENOSPACE);
	assert_int_equal(ip_errno_code(EDQUOT, IP_EIO), IP_ENOSPACE);
	assert_int_equal(ip_errno_code(EROFS, IP_EIO), IP_ENOSPACE);
	assert_int_equal(ip_errno_code(EACCES, IP_EIO), IP_EIO);
}

/* The free-space floor and the memory of a storage-full error. */
static void
test_diskspace(void **state)
{
	struct diskspace d;
	struct ip_error e;

	(void)state;
	diskspace_init(&d, "/", 0);
	assert_int_equal(diskspace_check(&d, &e), IP_OK);
	diskspace_note_full(&d);
	assert_int_equal(diskspace_check(&d, &e), IP_ENOSPACE);
	assert_non_null(strstr(e.msg, "storage full"));
	/* No file system has an exabyte free. */
	diskspace_init(&d, "/", (int64_t)1 << 60);
	assert_int_equal(diskspace_check(&d, &e), IP_ENOSPACE);
	assert_non_null(strstr(e.msg, "limits.min_free_disk"));
	diskspace_init(&d, "/", 1);
	assert_int_equal(diskspace_check(&d, &e), IP_OK);
}

/* SQLite's full, read-only and damaged results in our vocabulary. */
static void
test_sqlite_codes(void **state)
{
	static const struct {
		int sqlite, code;
	} rows[] = {
	    {SQLITE_FULL, IP_ENOSPACE},	   {SQLITE_READONLY, IP_ENOSPACE},
	    {SQLITE_CORRUPT, IP_EDAMAGED}, {SQLITE_NOTADB, IP_EDAMAGED},
	    {SQLITE_BUSY, IP_ERETRY},	   {SQLITE_IOERR, IP_EIO},
	    {SQLITE_CANTOPEN, IP_EIO},	   {SQLITE_ERROR, IP_EBACKEND},
	};
	struct ip_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(
		    sqlite_util_error("t", NULL, rows[i].sqlite, "x", &e),
		    rows[i].code);
}

static void
test_ids_and_keys(void **state)
{
	char a[32], b[32], id[RECORD_ID_MAX], key[RECORD_KEY_MAX];
	struct ip_error e;

	(void)state;
	util_new_id(a, sizeof(a));
	util_new_id(b, sizeof(b));
	assert_int_equal(strlen(a), 26);
	assert_true(util_id_valid(a));
	assert_string_not_equal(a, b);
	assert_false(util_id_valid("01JABCDEFGHJKMNPQRSTVWXYZ"));
	assert_false(util_id_valid("01JABCDEFGHJKMNPQRSTVWXYZU"));
	assert_false(util_id_valid("../etc/passwd"));
	/* A client's X-Request-Id: 1-64 bytes of [A-Za-z0-9._:-]. */
	assert_true(util_request_id_ok("a"));
	assert_true(util_request_id_ok("Order-42.upload:7_A"));
	assert_true(util_request_id_ok("012345678901234567890123456789012345678"
				       "9012345678901234567890123"));
	assert_false(util_request_id_ok("01234567890123456789012345678901234567"
					"890123456789012345678901234"));
	assert_false(util_request_id_ok(""));
	assert_false(util_request_id_ok(NULL));
	assert_false(util_request_id_ok("a b"));
	assert_false(util_request_id_ok("a\tb"));
	assert_false(util_request_id_ok("a/b"));
	assert_false(util_request_id_ok("caf\xc3\xa9"));
	assert_int_equal(function_input_key(a, "x.jpg", key, sizeof(key), &e),
			 IP_OK);
	assert_int_equal(function_key_id(key, id), IP_OK);
	assert_string_equal(id, a);
	assert_int_equal(function_key_id("foreign/x.jpg", id), IP_EINVAL);
	assert_int_equal(function_key_id(a, id), IP_EINVAL);
	function_variant_key(a, "thumb", "jpg", key, sizeof(key));
	assert_non_null(strstr(key, "/thumb.jpg"));
}

static void
test_sanitize_name(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
	    {"photo.jpg", "photo.jpg"},
	    {"../../etc/passwd", "passwd"},
	    {"C:\\Users\\me\\cat.png", "cat.png"},
	    {"a\x01\x1f\x7f"
	     "b.jpg",
	     "ab.jpg"},
	    {"..", "image"},
	    {"", "image"},
	    {"  spaced .jpg. ", "spaced .jpg"},
	    {"caf\xc3\xa9.jpg", "caf\xc3\xa9.jpg"},
	    {"bad\xff\xfeutf8.jpg", "badutf8.jpg"},
	    {"dir/", "image"},
	};
	char out[RECORD_NAME_MAX];
	char longname[600];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ingest_sanitize_name(rows[i].in, 255, out, sizeof(out));
		assert_string_equal(out, rows[i].out);
	}
	/* 300 two-byte characters: capped at 255 bytes, no split char */
	for (int i = 0; i < 300; i++) {
		longname[2 * i] = (char)0xc3;
		longname[2 * i + 1] = (char)0xa9;
	}
	longname[600 - 1] = '\0';
	longname[598] = '\0';
	ingest_sanitize_name(longname, 255, out, sizeof(out));
	assert_int_equal(strlen(out), 254);
}

static void
test_time_and_size(void **state)
{
	char buf[40];
	int64_t v;

	(void)state;
	assert_string_equal(util_rfc3339(0, buf, sizeof(buf)),
			    "1970-01-01T00:00:00.000Z");
	assert_int_equal(util_rfc3339_parse("2026-01-01T00:00:00.5Z"),
			 1767225600500LL);
	assert_int_equal(util_rfc3339_parse("2026-01-01 00:00:00Z"), -1);
	assert_int_equal(util_rfc3339_parse("2026-13-01T00:00:00Z"), -1);
	assert_int_equal(util_parse_size("1.5k", &v), 0);
	assert_int_equal(v, 1536);
	assert_int_equal(util_parse_size("50MiB", &v), 0);
	assert_int_equal(v, 50 * 1024 * 1024);
	assert_int_equal(util_parse_size("-1", &v), -1);
	assert_int_equal(util_parse_size("5Q", &v), -1);
	assert_string_equal(util_http_date(784111777000LL, buf, sizeof(buf)),
			    "Sun, 06 Nov 1994 08:49:37 GMT");
}

static void
test_percent_decoding(void **state)
{
	char out[8];
	size_t i = 0;

	(void)state;
	assert_int_equal(util_hex_value('0'), 0);
	assert_int_equal(util_hex_value('a'), 10);
	assert_int_equal(util_hex_value('F'), 15);
	assert_int_equal(util_hex_value('g'), -1);
	assert_int_equal(util_hex_value('\0'), -1);

	assert_int_equal(util_pct_next("%4a+", 4, &i, true), 'J');
	assert_int_equal(i, 3);
	assert_int_equal(util_pct_next("%4a+", 4, &i, true), ' ');
	assert_int_equal(i, 4);
	i = 0;
	assert_int_equal(util_pct_next("+", 1, &i, false), '+');
	i = 0;
	assert_int_equal(util_pct_next("%4", 2, &i, false), -1);
	assert_int_equal(i, 0);
	assert_int_equal(util_pct_next("%4x", 3, &i, false), -1);
	/* n bounds the escape, not the NUL. */
	assert_int_equal(util_pct_next("%41", 2, &i, false), -1);

	assert_true(util_pct_decode("a%2Fb+", 6, true, out, sizeof(out)));
	assert_string_equal(out, "a/b+");
	assert_true(util_pct_decode("%C3%BC", 6, false, out, sizeof(out)));
	assert_string_equal(out, "\xc3\xbc");
	assert_false(util_pct_decode("%C3%BC", 6, true, out, sizeof(out)));
	assert_false(util_pct_decode("%7F", 3, false, out, sizeof(out)));
	assert_false(util_pct_decode("%0a", 3, false, out, sizeof(out)));
	assert_false(util_pct_decode("%00", 3, false, out, sizeof(out)));
	assert_false(util_pct_decode("%zz", 3, false, out, sizeof(out)));
	assert_true(util_pct_decode("1234567", 7, false, out, sizeof(out)));
	assert_false(util_pct_decode("12345678", 8, false, out, sizeof(out)));
}

/* ---- backend URLs ---- */

static void
test_backend_url(void **state)
{
	static const struct backend_url_local sqlite = {
	    .module = "table",
	    .name = "sqlite",
	    .file = "imgpipe.db",
	    .example = "file.db",
	};
	static const struct backend_url_local fs = {
	    .module = "objstore",
	    .name = "fs",
	    .file = "buckets",
	    .example = "path",
	    .path_hint = "fs:///srv/imgpipe",
	};
	static const char *const bad[] = {
	    "sqlite:",	  "sqlite:/x",	   "sqlite://host/x",
	    "sqlite:///", "sqlite:///a?b", "sqlite:///a#b",
	    "sqlite://",  "sqlite+x:///a", "sqlitex",
	    "sq",
	};
	char buf[32];
	char big[64];
	const char *path;
	struct ip_error e;

	(void)state;
	assert_true(backend_url_is("fs", "fs"));
	assert_true(backend_url_is("s3+http://h/?region=r", "s3"));
	assert_true(backend_url_is("s3://b", "s3"));
	assert_true(backend_url_is("sqlite:///a.db", "sqlite"));
	assert_false(backend_url_is("fs", "s3"));
	assert_false(backend_url_is("fsx", "fs"));
	assert_false(backend_url_is(":fs", "fs"));
	assert_false(backend_url_is("", "fs"));

	assert_int_equal(backend_url_local(&sqlite, "sqlite", "/d", buf,
					   sizeof(buf), &path, &e),
			 IP_OK);
	assert_string_equal(path, "/d/imgpipe.db");
	assert_int_equal(backend_url_local(&sqlite, "sqlite:///srv/x.db", "/d",
					   buf, sizeof(buf), &path, &e),
			 IP_OK);
	assert_string_equal(path, "/srv/x.db");
	assert_int_equal(backend_url_local(&sqlite, "sqlite", "", buf,
					   sizeof(buf), &path, &e),
			 IP_EINVAL);
	assert_string_equal(e.msg, "table sqlite: data_dir is empty");
	assert_null(path);
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(backend_url_local(&sqlite, "sqlite", big, buf,
					   sizeof(buf), &path, &e),
			 IP_EINVAL);
	assert_string_equal(e.msg, "table sqlite: data_dir too long");
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		char want[128];

		snprintf(want, sizeof(want),
			 "table: expected \"sqlite\" or "
			 "\"sqlite:///absolute/file.db\", got \"%s\"",
			 bad[i]);
		assert_int_equal(backend_url_local(&sqlite, bad[i], "/d", buf,
						   sizeof(buf), &path, &e),
				 IP_EINVAL);
		assert_string_equal(e.msg, want);
	}

	assert_int_equal(
	    backend_url_local(&fs, "fs", "/d", buf, sizeof(buf), &path, &e),
	    IP_OK);
	assert_string_equal(path, "/d/buckets");
	assert_int_equal(backend_url_local(&fs, "fs:relative", "/d", buf,
					   sizeof(buf), &path, &e),
			 IP_EINVAL);
	assert_string_equal(e.msg, "objstore: expected \"fs\" or "
				   "\"fs:///absolute/path\", got "
				   "\"fs:relative\"");
	assert_int_equal(backend_url_local(&fs, "fs://host/x", "/d", buf,
					   sizeof(buf), &path, &e),
			 IP_EINVAL);
	assert_string_equal(e.msg, "objstore: fs URL needs an absolute path "
				   "and nothing else (fs:///srv/imgpipe)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_precedence),
	    cmocka_unit_test(test_config_rejects),
	    cmocka_unit_test(test_config_semicolon_comments),
	    cmocka_unit_test(test_config_names_valid_values),
	    cmocka_unit_test(test_config_bad_file),
	    cmocka_unit_test(test_event_roundtrip),
	    cmocka_unit_test(test_event_request_id),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_event_foreign_shapes),
	    cmocka_unit_test(test_event_rejects),
	    cmocka_unit_test(test_event_envelopes),
	    cmocka_unit_test(test_event_sizes),
	    cmocka_unit_test(test_record_roundtrip),
	    cmocka_unit_test(test_record_rejects),
	    cmocka_unit_test(test_error_table),
	    cmocka_unit_test(test_diskspace),
	    cmocka_unit_test(test_sqlite_codes),
	    cmocka_unit_test(test_ids_and_keys),
	    cmocka_unit_test(test_sanitize_name),
	    cmocka_unit_test(test_time_and_size),
	    cmocka_unit_test(test_percent_decoding),
	    cmocka_unit_test(test_backend_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
