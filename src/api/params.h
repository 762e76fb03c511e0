/*
 * params.h - pure parsers for what a client puts in a request line and its
 * headers: percent-decoding, the query values of the API (limit, cursor,
 * wait, name; query_parse has decoded them), the Range header, and the validators of conditional GET.
 *
 * Nothing here touches a transport or the app, so tests/http can feed
 * every function hostile input directly.  Every function is bounded by its
 * output buffer and reentrant: any thread may call any of them.
 */
#ifndef IMGPIPE_HTTP_PARAMS_H
#define IMGPIPE_HTTP_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define PARAMS_LIMIT_DEFAULT 20
#define PARAMS_LIMIT_MAX 100
#define PARAMS_VALUE_MAX 2048 /* raw bytes of one query value */
#define PARAMS_NAME_MAX 1024 /* raw bytes of a client file name */

/* Percent-decode raw (%XX once; '+' becomes a space when plus_space, as in
 * query strings) into out.  IP_EINVAL for a truncated or non-hex escape,
 * for a decoded NUL, and, when no_slash, for a decoded '/'; IP_ETOOBIG if
 * the result does not fit out_len (with its NUL).  The decoded length is
 * stored in *out_n when out_n is not NULL. */
int params_pct_decode(const char *raw, size_t raw_len, bool plus_space,
		      bool no_slash, char *out, size_t out_len, size_t *out_n,
		      struct ip_error *err);

/* ?limit=: NULL means PARAMS_LIMIT_DEFAULT; otherwise a plain decimal
 * 1..PARAMS_LIMIT_MAX, else IP_EINVAL. */
int params_limit(const char *raw, int *out, struct ip_error *err);

/* ?wait=SECONDS: NULL or "" means 0; a plain decimal >= 0, capped at
 * cap_s (a larger value is not an error, it is capped); else IP_EINVAL. */
int params_wait(const char *raw, int cap_s, int *out, struct ip_error *err);

/* ?cursor= as query_parse decoded it: NULL or "" means "start"
 * (out = ""); at most out_len - 1 bytes of printable ASCII, else
 * IP_EINVAL.  The table checks that it made the cursor. */
int params_cursor(const char *value, char *out, size_t out_len,
		  struct ip_error *err);

/* ?name= for a raw POST as query_parse decoded it: NULL or "" gives
 * "image"; at most PARAMS_NAME_MAX bytes that fit out, else IP_EINVAL. */
int params_name(const char *value, char *out, size_t out_len,
		struct ip_error *err);

enum params_range {
	PARAMS_RANGE_NONE, /* no (usable) Range: answer 200, whole */
	PARAMS_RANGE_ONE, /* one satisfiable range: 206 */
	PARAMS_RANGE_MULTI, /* several ranges: we answer 200, whole */
	PARAMS_RANGE_UNSATISFIABLE /* 416 */
};

/* Parse a Range header against an object of `size` bytes.  Understands
 * `bytes=a-b`, `bytes=a-` and `bytes=-n` (RFC 9110 §14.1.2).  A header
 * that is NULL, of another unit or malformed is ignored (NONE), as the RFC
 * allows; for ONE, [*first, *last] is the inclusive byte span. */
enum params_range params_range(const char *hdr, int64_t size, int64_t *first,
			       int64_t *last);

/* If-None-Match: true if the header lists etag_quoted (weak comparison,
 * W/ prefixes ignored) or is "*".  etag_quoted includes its quotes. */
bool params_etag_match(const char *if_none_match, const char *etag_quoted);

/* Longest Accept header read; a longer one counts as absent (the
 * variant's fallback format is answered). */
#define PARAMS_ACCEPT_MAX 2048

/* The q-value, in thousandths (0..1000), that the Accept header gives
 * the media type `type` ("image/avif") by naming it: case-insensitive,
 * spaces and other parameters allowed, the first mention counts.  -1
 * when the header (NULL, or longer than PARAMS_ACCEPT_MAX) does not name
 * it or names it with a malformed q.  Wildcards (image/ *, * / *) are
 * not a mention: every browser sends them, so they say nothing about
 * what it decodes. */
int params_accept_q(const char *accept, const char *type);

/* Parse an HTTP date (IMF-fixdate; RFC 850 and asctime forms too) into
 * epoch milliseconds; -1 if it is not one. */
int64_t params_http_date(const char *s);

#endif
