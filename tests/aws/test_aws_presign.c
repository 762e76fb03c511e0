/*
 * test_aws_presign.c - presigned URLs (src/aws/aws_presign.c and the
 * objstore presign operation).
 *
 *   test_aws_presign unit   AWS's published example signature; bad
 *                           requests; the fs store answers IP_ENOTSUP
 *   test_aws_presign live   against the S3 server of with-servers.sh: a
 *                           presigned PUT stores an object a client sends
 *                           with plain curl, a presigned GET fetches it,
 *                           and an expired URL is refused (403)
 *   test_aws_presign live-strict  the same, and a tampered URL is refused
 *                           (radosgw; s3rver does not check signatures)
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "aws/aws_creds.h"
#include "aws/aws_presign.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/util.h"
#include "objstore/objstore.h"

/* ---- unit ------------------------------------------------------------ */

static void
example_creds(struct aws_creds *c)
{
	memset(c, 0, sizeof(*c));
	util_strlcpy(c->access_key_id, "AKIAIOSFODNN7EXAMPLE",
		     sizeof(c->access_key_id));
	util_strlcpy(c->secret_access_key,
		     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		     sizeof(c->secret_access_key));
	util_strlcpy(c->region, "us-east-1", sizeof(c->region));
}

/* The example of AWS's "Authenticating Requests: Using Query Parameters
 * (AWS Signature Version 4)": GET examplebucket/test.txt on
 * 2013-05-24T00:00:00Z for 86400 s. */
static void
test_aws_example(void **state)
{
	struct aws_creds c;
	struct aws_presign_request rq = {
	    .method = "GET",
	    .https = true,
	    .host = "examplebucket.s3.amazonaws.com",
	    .path = "/test.txt",
	    .service = "s3",
	    .expires_s = 86400,
	    .now_s = 1369353600,
	};
	char url[2048];
	struct ip_error err = {0};

	(void)state;
	example_creds(&c);
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_OK);
	assert_string_equal(
	    url, "https://examplebucket.s3.amazonaws.com/test.txt"
		 "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
		 "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
		 "us-east-1%2Fs3%2Faws4_request"
		 "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
		 "&X-Amz-SignedHeaders=host"
		 "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c"
		 "265957d157751f604d404");
}

/* A session token (Lambda's role credentials) is signed as a parameter. */
static void
test_session_token(void **state)
{
	struct aws_creds c;
	struct aws_presign_request rq = {
	    .method = "PUT",
	    .host = "127.0.0.1:9000",
	    .path = "/b/k",
	    .service = "s3",
	    .expires_s = 60,
	    .now_s = 1369353600,
	};
	char url[4096];
	struct ip_error err = {0};

	(void)state;
	example_creds(&c);
	util_strlcpy(c.session_token, "tok/en+=", sizeof(c.session_token));
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_OK);
	assert_non_null(strstr(url, "&X-Amz-Security-Token=tok%2Fen%2B%3D&"));
	assert_true(strncmp(url, "http://127.0.0.1:9000/b/k?", 26) == 0);
}

static void
test_bad_requests(void **state)
{
	struct aws_creds c;
	struct aws_presign_request ok = {
	    .method = "GET",
	    .host = "h",
	    .path = "/b/k",
	    .service = "s3",
	    .expires_s = 60,
	    .now_s = 1369353600,
	};
	struct aws_presign_request rq;
	char url[2048];
	char tiny[64];
	struct ip_error err = {0};

	(void)state;
	example_creds(&c);
	rq = ok;
	rq.expires_s = 0;
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_EINVAL);
	rq.expires_s = AWS_PRESIGN_EXPIRES_MAX + 1;
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_EINVAL);
	rq = ok;
	rq.path = "b/k";
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_EINVAL);
	rq = ok;
	rq.host = "h/evil";
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_EINVAL);
	assert_int_equal(aws_presign_url(&c, &ok, tiny, sizeof(tiny), &err),
			 IP_EINVAL);
	assert_string_equal(tiny, "");
}

static void
test_fs_not_supported(void **state)
{
	struct config cfg;
	struct objstore *s = NULL;
	struct ip_error err = {0};
	char dir[] = "/tmp/imgpipe-presign-XXXXXX";
	char url[OBJSTORE_PRESIGN_URL_MAX];
	char cmd[128];

	(void)state;
	assert_non_null(mkdtemp(dir));
	config_defaults(&cfg);
	util_strlcpy(cfg.objstore, "fs", sizeof(cfg.objstore));
	util_strlcpy(cfg.data_dir, dir, sizeof(cfg.data_dir));
	assert_int_equal(objstore_open(&cfg, &s, &err), IP_OK);
	assert_int_equal(objstore_presign(s, cfg.input_bucket, "a/b.jpg", "PUT",
					  60, url, sizeof(url), &err),
			 IP_ENOTSUP);
	objstore_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- live ------------------------------------------------------------ */

struct live {
	struct config cfg;
	struct objstore *s;
};

static const char *
need_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		fail_msg("%s is not set: run this test through "
			 "tests/aws/with-servers.sh",
			 name);
	return v;
}

static int
live_setup(void **state)
{
	struct live *f = calloc(1, sizeof(*f));
	struct ip_error err = {0};

	assert_non_null(f);
	config_defaults(&f->cfg);
	util_strlcpy(f->cfg.objstore, need_env("IMGPIPE_TEST_OBJSTORE"),
		     sizeof(f->cfg.objstore));
	snprintf(f->cfg.input_bucket, sizeof(f->cfg.input_bucket),
		 "%s-presign-in", need_env("IMGPIPE_TEST_BUCKET_PREFIX"));
	snprintf(f->cfg.output_bucket, sizeof(f->cfg.output_bucket),
		 "%s-presign-out", need_env("IMGPIPE_TEST_BUCKET_PREFIX"));
	if (objstore_open(&f->cfg, &f->s, &err) != IP_OK)
		fail_msg("objstore_open: %s", err.msg);
	*state = f;
	return 0;
}

static int
live_teardown(void **state)
{
	struct live *f = *state;

	objstore_close(f->s);
	free(f);
	return 0;
}

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	return buf_add(b, p, size * n, NULL) == IP_OK ? size * n : 0;
}

/* What a client with no credentials does with the URL: `curl -T` for a
 * PUT (with a Content-Type of its choice), a plain GET otherwise.
 * Returns the HTTP status; the reply body goes to got (may be NULL). */
static long
client(const char *method, const char *url, const char *body, struct buf *got)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf sink;
	long status = 0;
	FILE *in = NULL;

	assert_non_null(c);
	buf_init(&sink, 1 << 20, "reply");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, got != NULL ? got : &sink);
	if (strcmp(method, "PUT") == 0) {
		in = fmemopen((void *)body, strlen(body), "r");
		assert_non_null(in);
		h = curl_slist_append(h, "Content-Type: image/jpeg");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, in);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)strlen(body));
	}
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	if (in != NULL)
		fclose(in);
	curl_easy_cleanup(c);
	buf_free(&sink);
	return status;
}

static void
test_live_put_then_get(void **state)
{
	struct live *f = *state;
	const char *body = "bytes sent with no credentials\n";
	char url[OBJSTORE_PRESIGN_URL_MAX];
	struct objstore_stat st;
	struct ip_error err = {0};
	struct buf got;

	assert_int_equal(objstore_presign(f->s, f->cfg.input_bucket,
					  "up/ph oto+1.jpg", "PUT", 300, url,
					  sizeof(url), &err),
			 IP_OK);
	assert_int_equal(client("PUT", url, body, NULL), 200);
	assert_int_equal(objstore_head(f->s, f->cfg.input_bucket,
				       "up/ph oto+1.jpg", &st, &err),
			 IP_OK);
	assert_int_equal(st.size, (int64_t)strlen(body));

	assert_int_equal(objstore_presign(f->s, f->cfg.input_bucket,
					  "up/ph oto+1.jpg", "GET", 300, url,
					  sizeof(url), &err),
			 IP_OK);
	buf_init(&got, 1 << 20, "reply");
	assert_int_equal(client("GET", url, NULL, &got), 200);
	assert_int_equal(got.len, strlen(body));
	assert_memory_equal(buf_str(&got), body, got.len);
	buf_free(&got);
}

static void
test_live_tampered(void **state)
{
	struct live *f = *state;
	char url[OBJSTORE_PRESIGN_URL_MAX];
	struct ip_error err = {0};
	char *key;

	assert_int_equal(objstore_presign(f->s, f->cfg.input_bucket, "up/a.jpg",
					  "PUT", 300, url, sizeof(url), &err),
			 IP_OK);
	/* Another key under the same signature. */
	key = strstr(url, "/up/a.jpg?");
	assert_non_null(key);
	key[4] = 'b';
	assert_int_equal(client("PUT", url, "x", NULL), 403);
}

/* Signed an hour ago for a minute: long expired. */
static void
test_live_expired(void **state)
{
	struct live *f = *state;
	struct aws_creds c;
	char path[256];
	char url[OBJSTORE_PRESIGN_URL_MAX];
	const char *ep = need_env("IMGPIPE_TEST_S3_ENDPOINT");
	struct aws_presign_request rq = {
	    .method = "PUT",
	    .path = path,
	    .service = "s3",
	    .expires_s = 60,
	    .now_s = (int64_t)time(NULL) - 3600,
	};
	struct ip_error err = {0};

	assert_true(strncmp(ep, "http://", 7) == 0);
	rq.host = ep + 7;
	snprintf(path, sizeof(path), "/%s/up/late.jpg", f->cfg.input_bucket);
	assert_int_equal(aws_creds_load(&f->cfg, "us-east-1", &c, &err), IP_OK);
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_OK);
	assert_int_equal(client("PUT", url, "x", NULL), 403);
	/* The same, signed now, is accepted: the refusal was the date. */
	rq.now_s = (int64_t)time(NULL);
	assert_int_equal(aws_presign_url(&c, &rq, url, sizeof(url), &err),
			 IP_OK);
	assert_int_equal(client("PUT", url, "x", NULL), 200);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
	    cmocka_unit_test(test_aws_example),
	    cmocka_unit_test(test_session_token),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_fs_not_supported),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_live_put_then_get),
	    cmocka_unit_test(test_live_expired),
	};
	/* s3rver checks a presigned URL's key id and date but not its
	 * signature (any X-Amz-Signature passes), so only radosgw can
	 * tell a tampered URL. */
	const struct CMUnitTest strict[] = {
	    cmocka_unit_test(test_live_put_then_get),
	    cmocka_unit_test(test_live_tampered),
	    cmocka_unit_test(test_live_expired),
	};

	if (argc > 1 && strcmp(argv[1], "live") == 0)
		return cmocka_run_group_tests(live, live_setup, live_teardown);
	if (argc > 1 && strcmp(argv[1], "live-strict") == 0)
		return cmocka_run_group_tests(strict, live_setup,
					      live_teardown);
	return cmocka_run_group_tests(unit, NULL, NULL);
}
