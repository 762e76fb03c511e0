/*
 * fuzz_params.c - libFuzzer target for the API's query values and headers
 * (src/api/params.c): percent-decoding, ?limit=, ?wait=, ?cursor=,
 * ?name=, Range, If-None-Match, Accept and HTTP dates.  The first byte picks the
 * parser, the next four the object size for Range; the rest is the raw
 * value as a client sends it.  Each parser's promise in params.h is
 * checked on what it accepts.
 */
#include "api/params.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEAD 5 /* selector + 4 bytes of object size */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_decode(const char *s, size_t n, unsigned sel)
{
	char out[64];
	size_t got = 0;
	bool plus = sel & 1;
	bool no_slash = sel & 2;
	struct ip_error err;

	if (params_pct_decode(s, n, plus, no_slash, out, sizeof(out), &got,
			      &err) != IP_OK)
		return;
	if (got >= sizeof(out) || out[got] != '\0' || strlen(out) != got)
		abort();
	/* no_slash refuses an encoded '/' (%2F); a literal one stays */
	if (no_slash && memchr(s, '/', n) == NULL && strchr(out, '/') != NULL)
		abort();
}

static void
check_values(const char *s)
{
	char out[PARAMS_VALUE_MAX + 1];
	struct ip_error err;
	int v;

	if (params_limit(s, &v, &err) == IP_OK &&
	    (v < 1 || v > PARAMS_LIMIT_MAX))
		abort();
	if (params_wait(s, 30, &v, &err) == IP_OK && (v < 0 || v > 30))
		abort();
	if (params_cursor(s, out, 128, &err) == IP_OK) {
		if (strlen(out) >= 128)
			abort();
		for (const char *c = out; *c != '\0'; c++)
			if (!isprint((unsigned char)*c))
				abort();
	}
	if (params_name(s, out, sizeof(out), &err) == IP_OK &&
	    (out[0] == '\0' || strlen(out) >= sizeof(out)))
		abort();
}

static void
check_headers(const char *s, int64_t size)
{
	int64_t first = -2;
	int64_t last = -2;

	if (params_range(s, size, &first, &last) == PARAMS_RANGE_ONE &&
	    (first < 0 || first > last || last >= size))
		abort();
	params_etag_match(s, "\"0123456789abcdef\"");
	if (params_accept_q(s, "image/avif") > 1000)
		abort();
	if (params_http_date(s) < -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t n;
	uint32_t osize;

	if (size < HEAD)
		return 0;
	n = size - HEAD;
	s = malloc(n + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data + HEAD, n);
	s[n] = '\0';
	memcpy(&osize, data + 1, sizeof(osize));
	/* the raw bytes, embedded NULs and all, for the decoder */
	check_decode(s, n, data[0]);
	/* the C strings the transport hands the other parsers */
	if (data[0] & 4)
		check_headers(s, (int64_t)osize);
	else
		check_values(s);
	free(s);
	return 0;
}
