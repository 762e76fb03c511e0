/*
 * test_multipart.c - the streaming multipart/form-data parser
 * (src/api/multipart.c), fed whole, byte by byte, split at every offset
 * and in random chunk sizes, plus each malformed and oversize case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/multipart.h"

#define BOUNDARY "----imgpipeXyZ'()+_,-./:=?"

struct sink {
	char *buf;
	size_t len;
	size_t cap;
	int calls;
	size_t fail_after; /* fail when len would pass this, 0 = never */
};

static int
sink_data(void *arg, const char *data, size_t len, struct ip_error *err)
{
	struct sink *s = arg;

	s->calls++;
	assert_true(len > 0);
	if (s->fail_after > 0 && s->len + len > s->fail_after)
		return ip_error_set(err, IP_ETOOBIG, "sink full");
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return IP_OK;
}

struct body {
	char *p;
	size_t len;
};

static void
body_add(struct body *b, const void *data, size_t len)
{
	b->p = realloc(b->p, b->len + len + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void
body_str(struct body *b, const char *s)
{
	body_add(b, s, strlen(s));
}

/* A payload full of near-delimiters and CR/LF. */
static void
make_payload(struct body *pl)
{
	static const char *const tricky[] = {
	    "\r",
	    "\r\n",
	    "\r\n-",
	    "\r\n--",
	    "\r\n----imgpipeXyZ",
	    "\r\n----imgpipeXyZ'()+_,-./:=",
	    "\r\r\n--",
	    "--" BOUNDARY, /* not preceded by CRLF: content */
	    "\n--" BOUNDARY,
	    "\r--" BOUNDARY,
	    "\r\n\r\n",
	};
	unsigned seed = 12345;

	for (int i = 0; i < 40; i++) {
		char bin[37];

		for (size_t k = 0; k < sizeof(bin); k++) {
			seed = seed * 1103515245u + 12345u;
			bin[k] = (char)(seed >> 16);
		}
		body_add(pl, bin, sizeof(bin));
		body_str(
		    pl,
		    tricky[(size_t)i % (sizeof(tricky) / sizeof(tricky[0]))]);
	}
	body_add(pl, "\0\xff\r", 3);
}

static void
make_body(struct body *b, const struct body *payload)
{
	body_str(b, "preamble to ignore\r\n");
	body_str(b, "--" BOUNDARY "\r\n");
	body_str(b, "Content-Disposition: form-data; name=\"title\"\r\n\r\n");
	body_str(b, "a title\r\n--" BOUNDARY "  \r\n");
	body_str(b, "content-disposition: form-data; name=\"file\"; "
		    "filename=\"my \\\"best\\\" photo.jpg\"\r\n");
	body_str(b, "Content-Type: image/jpeg\r\n\r\n");
	body_add(b, payload->p, payload->len);
	body_str(b, "\r\n--" BOUNDARY "\r\n");
	body_str(b, "Content-Disposition: form-data; name=\"other\"\r\n\r\n");
	body_str(b, "x\r\n--" BOUNDARY "--\r\nepilogue to ignore\r\n");
}

/* Feed body in chunks chosen by next_len; check the result. */
static void
run_chunks(const struct body *b, const struct body *payload,
	   size_t (*next_len)(void *), void *arg)
{
	struct multipart *mp = malloc(sizeof(*mp));
	struct sink s = {0};
	struct ip_error err;
	size_t off = 0;

	assert_non_null(mp);
	assert_int_equal(
	    multipart_init(mp, BOUNDARY, "file", sink_data, &s, &err), IP_OK);
	while (off < b->len) {
		size_t n = next_len(arg);

		if (n > b->len - off)
			n = b->len - off;
		if (multipart_feed(mp, b->p + off, n, &err) != IP_OK)
			fail_msg("feed at %zu+%zu: %s", off, n, err.msg);
		off += n;
	}
	if (multipart_finish(mp, &err) != IP_OK)
		fail_msg("finish: %s", err.msg);
	assert_int_equal(s.len, payload->len);
	assert_memory_equal(s.buf, payload->p, payload->len);
	assert_true(mp->has_filename);
	assert_string_equal(mp->filename, "my \"best\" photo.jpg");
	assert_int_equal(mp->file_bytes, (int64_t)payload->len);
	free(s.buf);
	free(mp);
}

static size_t
len_one(void *arg)
{
	(void)arg;
	return 1;
}

static size_t
len_all(void *arg)
{
	(void)arg;
	return SIZE_MAX;
}

static size_t
len_random(void *arg)
{
	unsigned *seed = arg;

	*seed = *seed * 1103515245u + 12345u;
	return 1 + (*seed >> 16) % 97;
}

struct split {
	size_t first;
	int calls;
};

static size_t
len_split(void *arg)
{
	struct split *sp = arg;

	return sp->calls++ == 0 ? sp->first : SIZE_MAX;
}

static void
test_whole_and_byte_by_byte(void **state)
{
	struct body payload = {0};
	struct body b = {0};

	(void)state;
	make_payload(&payload);
	make_body(&b, &payload);
	run_chunks(&b, &payload, len_all, NULL);
	run_chunks(&b, &payload, len_one, NULL);
	free(b.p);
	free(payload.p);
}

static void
test_every_split_point(void **state)
{
	struct body payload = {0};
	struct body b = {0};

	(void)state;
	make_payload(&payload);
	make_body(&b, &payload);
	/* Every boundary, header and payload byte lands on a chunk edge. */
	for (size_t i = 1; i < b.len; i++) {
		struct split sp = {i, 0};

		run_chunks(&b, &payload, len_split, &sp);
	}
	free(b.p);
	free(payload.p);
}

static void
test_random_chunks(void **state)
{
	struct body payload = {0};
	struct body b = {0};

	(void)state;
	make_payload(&payload);
	make_body(&b, &payload);
	for (unsigned seed = 1; seed <= 200; seed++) {
		unsigned s = seed;

		run_chunks(&b, &payload, len_random, &s);
	}
	free(b.p);
	free(payload.p);
}

/* Feed a whole body; return the first failure of feed or finish. */
static int
parse_all(const char *body, size_t len, struct sink *s, struct ip_error *err,
	  struct multipart *mp)
{
	int rc;

	rc = multipart_init(mp, BOUNDARY, "file", sink_data, s, err);
	if (rc != IP_OK)
		return rc;
	rc = multipart_feed(mp, body, len, err);
	if (rc != IP_OK)
		return rc;
	return multipart_finish(mp, err);
}

static void
expect_failure(const char *body, int code, const char *words)
{
	struct multipart *mp = malloc(sizeof(*mp));
	struct sink s = {0};
	struct ip_error err;

	assert_non_null(mp);
	assert_int_equal(parse_all(body, strlen(body), &s, &err, mp), code);
	if (strstr(err.msg, words) == NULL)
		fail_msg("message '%s' lacks '%s'", err.msg, words);
	/* The failure is sticky. */
	assert_int_equal(multipart_feed(mp, "x", 1, &err), code);
	assert_int_equal(multipart_finish(mp, &err), code);
	free(s.buf);
	free(mp);
}

static void
test_missing_file_field(void **state)
{
	(void)state;
	expect_failure("--" BOUNDARY "\r\n"
		       "Content-Disposition: form-data; name=\"photo\"; "
		       "filename=\"a.jpg\"\r\n\r\nxyz\r\n--" BOUNDARY "--\r\n",
		       IP_EINVAL, "no field named `file`");
	expect_failure("--" BOUNDARY "--\r\n", IP_EINVAL,
		       "no field named `file`");
}

static void
test_no_closing_boundary(void **state)
{
	(void)state;
	expect_failure("--" BOUNDARY "\r\n"
		       "Content-Disposition: form-data; name=\"file\"\r\n\r\n"
		       "data that never ends",
		       IP_EINVAL, "closing boundary");
	expect_failure("--" BOUNDARY "\r\n"
		       "Content-Disposition: form-data; name=\"file\"\r\n\r\n"
		       "data\r\n--" BOUNDARY "\r\n",
		       IP_EINVAL, "closing boundary");
	expect_failure("", IP_EINVAL, "closing boundary");
	expect_failure("no boundary at all", IP_EINVAL, "closing boundary");
	expect_failure("--" BOUNDARY "\r\nContent-Disposition: form-da",
		       IP_EINVAL, "closing boundary");
}

static void
test_oversize_headers(void **state)
{
	struct body b = {0};
	char *line = malloc(MULTIPART_HEADERS_MAX + 1);

	(void)state;
	assert_non_null(line);
	memset(line, 'a', MULTIPART_HEADERS_MAX);
	line[MULTIPART_HEADERS_MAX] = '\0';
	body_str(&b, "--" BOUNDARY "\r\nX-Big: ");
	body_str(&b, line);
	body_str(&b, "\r\n\r\n");
	expect_failure(b.p, IP_EINVAL, "larger than 8 KiB");
	free(line);
	free(b.p);
}

static void
test_headers_just_under_limit(void **state)
{
	struct body b = {0};
	struct multipart *mp = malloc(sizeof(*mp));
	struct sink s = {0};
	struct ip_error err;
	const char *head = "Content-Disposition: form-data; name=\"file\"\r\n"
			   "X-Pad: ";
	size_t pad = MULTIPART_HEADERS_MAX - strlen(head) - 4;
	char *line = malloc(pad + 1);

	(void)state;
	assert_non_null(mp);
	assert_non_null(line);
	memset(line, 'p', pad);
	line[pad] = '\0';
	body_str(&b, "--" BOUNDARY "\r\n");
	body_str(&b, head);
	body_str(&b, line);
	body_str(&b, "\r\n\r\nok\r\n--" BOUNDARY "--");
	assert_int_equal(parse_all(b.p, b.len, &s, &err, mp), IP_OK);
	assert_int_equal(s.len, 2);
	assert_false(mp->has_filename);
	free(s.buf);
	free(line);
	free(b.p);
	free(mp);
}

static void
test_malformed(void **state)
{
	(void)state;
	expect_failure("--" BOUNDARY "\r\n"
		       "Content-Disposition: form-data; name=\"file\"\r\n\r\n"
		       "a\r\n--" BOUNDARY "\r\n"
		       "Content-Disposition: form-data; name=\"file\"\r\n\r\n"
		       "b\r\n--" BOUNDARY "--",
		       IP_EINVAL, "more than one file field");
	expect_failure("--" BOUNDARY "X\r\n", IP_EINVAL, "after a boundary");
	expect_failure("--" BOUNDARY "\rX", IP_EINVAL, "CRLF");
	expect_failure("--" BOUNDARY "-X", IP_EINVAL, "after a boundary");
	expect_failure("--" BOUNDARY "\r\nno colon here\r\n\r\n", IP_EINVAL,
		       "without ':'");
	expect_failure("--" BOUNDARY "\r\n"
		       "Content-Disposition: attachment; name=\"file\"\r\n\r\n",
		       IP_EINVAL, "not form-data");
	expect_failure("--" BOUNDARY "\r\n"
		       "Content-Disposition: form-data; name=\"file\"; "
		       "filename=\"unterminated\r\n\r\n",
		       IP_EINVAL, "Content-Disposition");
}

static void
test_other_fields_bounded(void **state)
{
	struct body b = {0};
	char *blob = malloc(MULTIPART_OTHER_MAX + 2);

	(void)state;
	assert_non_null(blob);
	/* one byte more than the bound */
	memset(blob, 'o', MULTIPART_OTHER_MAX + 1);
	blob[MULTIPART_OTHER_MAX + 1] = '\0';
	body_str(&b, "--" BOUNDARY "\r\n"
		     "Content-Disposition: form-data; name=\"x\"\r\n\r\n");
	body_str(&b, blob);
	body_str(&b, "\r\n--" BOUNDARY "--");
	expect_failure(b.p, IP_ETOOBIG, "64 KiB");
	free(b.p);
	/* a body that never shows its boundary is malformed, not big */
	expect_failure(blob, IP_EINVAL, "no boundary");
	free(blob);
}

static void
test_too_many_parts(void **state)
{
	struct body b = {0};

	(void)state;
	for (int i = 0; i <= MULTIPART_PARTS_MAX; i++)
		body_str(&b, "--" BOUNDARY "\r\n"
			     "Content-Disposition: form-data; name=\"f\"\r\n"
			     "\r\nv\r\n");
	body_str(&b, "--" BOUNDARY "--");
	expect_failure(b.p, IP_EINVAL, "more than 32 parts");
	free(b.p);
}

static void
test_callback_failure_stops(void **state)
{
	struct multipart *mp = malloc(sizeof(*mp));
	struct sink s = {0};
	struct ip_error err;
	const char *body = "--" BOUNDARY "\r\n"
			   "Content-Disposition: form-data; name=\"file\"\r\n"
			   "\r\n0123456789\r\n--" BOUNDARY "--";

	(void)state;
	assert_non_null(mp);
	s.fail_after = 5;
	assert_int_equal(parse_all(body, strlen(body), &s, &err, mp),
			 IP_ETOOBIG);
	assert_string_equal(err.msg, "sink full");
	assert_int_equal(multipart_finish(mp, &err), IP_ETOOBIG);
	free(s.buf);
	free(mp);
}

static void
test_filename_forms(void **state)
{
	struct multipart *mp = malloc(sizeof(*mp));
	struct sink s = {0};
	struct ip_error err;
	const char *ext = "--" BOUNDARY "\r\n"
			  "Content-Disposition: form-data; name=file; "
			  "filename=\"fallback.jpg\"; "
			  "filename*=UTF-8''%E2%82%AC%20rate.jpg\r\n\r\n"
			  "z\r\n--" BOUNDARY "--";
	const char *token = "--" BOUNDARY "\r\n"
			    "Content-Disposition: form-data;name=file;"
			    "filename=plain.png\r\n\r\n"
			    "\r\n--" BOUNDARY "--";

	(void)state;
	assert_non_null(mp);
	assert_int_equal(parse_all(ext, strlen(ext), &s, &err, mp), IP_OK);
	assert_string_equal(mp->filename, "\xe2\x82\xac rate.jpg");
	assert_int_equal(parse_all(token, strlen(token), &s, &err, mp), IP_OK);
	assert_string_equal(mp->filename, "plain.png");
	/* an empty file part parses; the gateway refuses it as empty */
	assert_int_equal(mp->file_bytes, 0);
	free(s.buf);
	free(mp);
}

static void
test_boundary_from_content_type(void **state)
{
	char b[MULTIPART_BOUNDARY_MAX + 1];
	char big[128];
	struct ip_error err;

	(void)state;
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=abc",
					    b, sizeof(b), &err),
			 IP_OK);
	assert_string_equal(b, "abc");
	assert_int_equal(
	    multipart_boundary("Multipart/Form-Data;boundary=\"a b:c\"; "
			       "charset=utf-8",
			       b, sizeof(b), &err),
	    IP_OK);
	assert_string_equal(b, "a b:c");
	assert_int_equal(multipart_boundary("image/jpeg", b, sizeof(b), &err),
			 IP_EMEDIA);
	assert_int_equal(multipart_boundary(NULL, b, sizeof(b), &err),
			 IP_EMEDIA);
	assert_int_equal(multipart_boundary("multipart/mixed; boundary=a", b,
					    sizeof(b), &err),
			 IP_EMEDIA);
	assert_int_equal(
	    multipart_boundary("multipart/form-data", b, sizeof(b), &err),
	    IP_EINVAL);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=", b,
					    sizeof(b), &err),
			 IP_EINVAL);
	assert_int_equal(
	    multipart_boundary("multipart/form-data; boundary=\"a\rb\"", b,
			       sizeof(b), &err),
	    IP_EINVAL);
	assert_int_equal(
	    multipart_boundary("multipart/form-data; boundary=\"ab \"", b,
			       sizeof(b), &err),
	    IP_EINVAL);
	/* 70 characters are the most RFC 2046 allows */
	memset(big, 'b', 70);
	big[70] = '\0';
	{
		char ct[160];

		snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s",
			 big);
		assert_int_equal(multipart_boundary(ct, b, sizeof(b), &err),
				 IP_OK);
		snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%sb",
			 big);
		assert_int_equal(multipart_boundary(ct, b, sizeof(b), &err),
				 IP_EINVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_and_byte_by_byte),
	    cmocka_unit_test(test_every_split_point),
	    cmocka_unit_test(test_random_chunks),
	    cmocka_unit_test(test_missing_file_field),
	    cmocka_unit_test(test_no_closing_boundary),
	    cmocka_unit_test(test_oversize_headers),
	    cmocka_unit_test(test_headers_just_under_limit),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_other_fields_bounded),
	    cmocka_unit_test(test_too_many_parts),
	    cmocka_unit_test(test_callback_failure_stops),
	    cmocka_unit_test(test_filename_forms),
	    cmocka_unit_test(test_boundary_from_content_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
