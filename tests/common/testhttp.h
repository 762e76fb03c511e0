/*
 * testhttp.h - what the C tests that speak HTTP share: a reply collected
 * from libcurl (or filled by the in-process transport), header look-up,
 * and corpus files read whole.
 */
#ifndef IMGPIPE_TESTS_TESTHTTP_H
#define IMGPIPE_TESTS_TESTHTTP_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

struct test_reply {
	long status;
	char *body; /* NUL-terminated; NULL when empty */
	size_t len;
	char head[16384]; /* the last header block, "Name: value\r\n" */
	size_t head_len;
	CURLcode curl;
};

/* CURLOPT_WRITEFUNCTION / CURLOPT_HEADERFUNCTION into a struct
 * test_reply (CURLOPT_WRITEDATA / CURLOPT_HEADERDATA). */
size_t test_reply_on_body(char *p, size_t size, size_t n, void *arg);
size_t test_reply_on_header(char *p, size_t size, size_t n, void *arg);

/* Append "name: value\r\n" to r->head (for replies not read by curl). */
void test_reply_add_header(struct test_reply *r, const char *name,
			   const char *value);

/* The value of header name in r (case-insensitive; a static buffer), or
 * NULL. */
const char *test_reply_header(const struct test_reply *r, const char *name);

void test_reply_free(struct test_reply *r);

/* The body as JSON (a new reference); the test fails if it is not. */
json_t *test_reply_json(const struct test_reply *r);

/* $IMGPIPE_CORPUS/name (../shared/corpus by default) read whole into a
 * malloc'd *data; the test fails if it cannot be read. */
void test_read_corpus(const char *name, char **data, size_t *len);

#endif
