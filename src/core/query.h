/*
 * query.h - the one query-string parser: "name=value&name2=value2".
 *
 * Used for the parameters of backend URLs (s3+http://host/?region=...,
 * redis://host/?stream=...) and for the API's query strings when a
 * transport hands over the raw string (the in-process transport, API
 * Gateway events).  One set of rules for all of them, after the WHATWG
 * URL standard's form-urlencoded parser where it has one:
 *   - empty sequences are skipped: "a=1&&b=2", "&a=1", "a=1&" are a and b;
 *   - "name" without '=' has the value "" (query_has says it is there);
 *   - names are 1..QUERY_NAME_MAX-1 bytes of [A-Za-z0-9_.-], taken as is;
 *   - values are percent-decoded ('+' is a space with QUERY_PLUS_SPACE,
 *     itself otherwise); a bad escape, a control byte or a value longer
 *     than QUERY_VALUE_MAX-1 bytes is an error;
 *   - a name given twice is an error (a typo must not pass unnoticed);
 *   - more than QUERY_PARAMS_MAX parameters is an error.
 * Errors are IP_EINVAL with a message naming the parameter.
 *
 * Thread-safety: pure functions over caller-owned structs.
 */
#ifndef IMGPIPE_CORE_QUERY_H
#define IMGPIPE_CORE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define QUERY_PARAMS_MAX 16
#define QUERY_NAME_MAX 32
#define QUERY_VALUE_MAX 1024

enum query_flags {
	QUERY_PLUS_SPACE = 1, /* form encoding: '+' decodes to a space */
	QUERY_ASCII_ONLY = 2, /* refuse decoded bytes above 0x7f */
};

struct query {
	size_t n;
	struct query_param {
		char name[QUERY_NAME_MAX];
		char value[QUERY_VALUE_MAX]; /* decoded, NUL-terminated */
	} params[QUERY_PARAMS_MAX];
};

/* Parse s[0, len) (without the leading '?') into *out, which is
 * overwritten.  flags: enum query_flags.  IP_OK or IP_EINVAL. */
int query_parse(const char *s, size_t len, unsigned flags, struct query *out,
		struct ip_error *err);

/* The decoded value of name, or NULL when absent.  Borrowed from q. */
const char *query_get(const struct query *q, const char *name);

/* IP_EINVAL naming the first parameter that is not in the NULL-terminated
 * list known. */
int query_check_known(const struct query *q, const char *const *known,
		      struct ip_error *err);

/* A boolean parameter: "1", "true", "yes", "on" or present without a
 * value / "0", "false", "no", "off" (any case); def when absent;
 * IP_EINVAL otherwise. */
int query_bool(const struct query *q, const char *name, bool def, bool *out,
	       struct ip_error *err);

/* A non-negative integer parameter within [min, max]; def when absent.
 * Size suffixes are accepted as util_parse_size reads them ("16M"). */
int query_int(const struct query *q, const char *name, int64_t def, int64_t min,
	      int64_t max, int64_t *out, struct ip_error *err);

#endif
