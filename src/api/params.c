/*
 * params.c - pure parsers of request-line and header values (params.h).
 *
 * Called by routes.c, handlers.c and upload.c on any request thread
 * (whatever the transport); no state, no allocation.
 */
#include "api/params.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/util.h"

int
params_pct_decode(const char *raw, size_t raw_len, bool plus_space,
		  bool no_slash, char *out, size_t out_len, size_t *out_n,
		  struct ip_error *err)
{
	size_t n = 0;

	for (size_t i = 0; i < raw_len;) {
		bool escaped = raw[i] == '%';
		int c;

		if (escaped && raw_len - i < 3)
			return ip_error_set(err, IP_EINVAL,
					    "truncated %%-escape");
		c = util_pct_next(raw, raw_len, &i, plus_space);
		if (c < 0)
			return ip_error_set(err, IP_EINVAL,
					    "invalid %%-escape");
		if (c == '\0')
			return ip_error_set(err, IP_EINVAL,
					    escaped ? "%%00 is not allowed"
						    : "NUL byte");
		if (c == '/' && escaped && no_slash)
			return ip_error_set(err, IP_EINVAL,
					    "%%2F is not allowed in a "
					    "path segment");
		if (n + 1 >= out_len)
			return ip_error_set(err, IP_ETOOBIG,
					    "value longer than %zu bytes",
					    out_len == 0 ? 0 : out_len - 1);
		out[n++] = (char)c;
	}
	if (out_len == 0)
		return ip_error_set(err, IP_ETOOBIG, "no room");
	out[n] = '\0';
	if (out_n != NULL)
		*out_n = n;
	return IP_OK;
}

/* A plain decimal of 1..max_digits digits; *out saturates at INT64_MAX. */
static bool
parse_digits(const char *s, size_t max_digits, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max_digits || !isdigit((unsigned char)s[i]))
			return false;
		if (v > (INT64_MAX - 9) / 10)
			v = INT64_MAX;
		else
			v = v * 10 + (s[i] - '0');
	}
	if (i == 0)
		return false;
	*out = v;
	return true;
}

int
params_limit(const char *raw, int *out, struct ip_error *err)
{
	int64_t v;

	if (raw == NULL) {
		*out = PARAMS_LIMIT_DEFAULT;
		return IP_OK;
	}
	if (!parse_digits(raw, 9, &v) || v < 1 || v > PARAMS_LIMIT_MAX)
		return ip_error_set(err, IP_EINVAL,
				    "limit must be an integer from 1 to %d",
				    PARAMS_LIMIT_MAX);
	*out = (int)v;
	return IP_OK;
}

int
params_wait(const char *raw, int cap_s, int *out, struct ip_error *err)
{
	int64_t v;

	if (raw == NULL || raw[0] == '\0') {
		*out = 0;
		return IP_OK;
	}
	if (!parse_digits(raw, 32, &v))
		return ip_error_set(err, IP_EINVAL,
				    "wait must be a whole number of seconds "
				    "(at most %d)",
				    cap_s);
	if (cap_s < 0)
		cap_s = 0;
	*out = v > cap_s ? cap_s : (int)v;
	return IP_OK;
}

int
params_cursor(const char *value, char *out, size_t out_len,
	      struct ip_error *err)
{
	size_t n = value != NULL ? strlen(value) : 0;

	if (n == 0) {
		if (out_len > 0)
			out[0] = '\0';
		return IP_OK;
	}
	if (n >= out_len)
		return ip_error_set(err, IP_EINVAL, "invalid cursor");
	for (const char *p = value; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return ip_error_set(err, IP_EINVAL, "invalid cursor");
	memcpy(out, value, n + 1);
	return IP_OK;
}

int
params_name(const char *value, char *out, size_t out_len, struct ip_error *err)
{
	size_t n = value != NULL ? strlen(value) : 0;

	if (n == 0) {
		snprintf(out, out_len, "%s", "image");
		return IP_OK;
	}
	if (n > PARAMS_NAME_MAX || n >= out_len)
		return ip_error_set(err, IP_EINVAL, "name longer than %d bytes",
				    PARAMS_NAME_MAX);
	memcpy(out, value, n + 1);
	return IP_OK;
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* One range-spec between p and end (OWS already trimmed).  Returns the
 * kind for this spec alone; NONE means malformed. */
static enum params_range
range_spec(const char *p, const char *end, int64_t size, int64_t *first,
	   int64_t *last)
{
	char a[24];
	char b[24];
	const char *dash = memchr(p, '-', (size_t)(end - p));
	size_t la;
	size_t lb;
	int64_t va = -1;
	int64_t vb = -1;

	if (dash == NULL)
		return PARAMS_RANGE_NONE;
	la = (size_t)(dash - p);
	lb = (size_t)(end - dash - 1);
	if (la >= sizeof(a) || lb >= sizeof(b) || (la == 0 && lb == 0))
		return PARAMS_RANGE_NONE;
	memcpy(a, p, la);
	a[la] = '\0';
	memcpy(b, dash + 1, lb);
	b[lb] = '\0';
	if (la > 0 && !parse_digits(a, sizeof(a) - 1, &va))
		return PARAMS_RANGE_NONE;
	if (lb > 0 && !parse_digits(b, sizeof(b) - 1, &vb))
		return PARAMS_RANGE_NONE;
	if (la == 0) {
		/* suffix: the last vb bytes */
		if (vb == 0 || size == 0)
			return PARAMS_RANGE_UNSATISFIABLE;
		*first = vb >= size ? 0 : size - vb;
		*last = size - 1;
		return PARAMS_RANGE_ONE;
	}
	if (lb > 0 && vb < va)
		return PARAMS_RANGE_NONE;
	if (va >= size)
		return PARAMS_RANGE_UNSATISFIABLE;
	*first = va;
	*last = (lb == 0 || vb >= size) ? size - 1 : vb;
	return PARAMS_RANGE_ONE;
}

enum params_range
params_range(const char *hdr, int64_t size, int64_t *first, int64_t *last)
{
	const char *p;
	const char *end;
	const char *comma;
	enum params_range kind;
	int specs = 0;

	if (hdr == NULL || strlen(hdr) > PARAMS_VALUE_MAX)
		return PARAMS_RANGE_NONE;
	p = skip_ows(hdr);
	if (strncasecmp(p, "bytes", 5) != 0)
		return PARAMS_RANGE_NONE;
	p = skip_ows(p + 5);
	if (*p != '=')
		return PARAMS_RANGE_NONE;
	p++;
	comma = strchr(p, ',');
	if (comma != NULL) {
		/* Several ranges: answer the whole object with 200, which RFC
		 * 9110 permits; check only that the list is not empty. */
		for (const char *q = p; *q != '\0'; q++)
			if (isdigit((unsigned char)*q))
				specs++;
		return specs > 0 ? PARAMS_RANGE_MULTI : PARAMS_RANGE_NONE;
	}
	p = skip_ows(p);
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	kind = range_spec(p, end, size, first, last);
	return kind;
}

/* The opaque part of an entity tag (between its quotes), W/ ignored. */
static bool
etag_opaque(const char *p, size_t n, const char **op, size_t *on)
{
	if (n >= 2 && p[0] == 'W' && p[1] == '/') {
		p += 2;
		n -= 2;
	}
	if (n < 2 || p[0] != '"' || p[n - 1] != '"')
		return false;
	*op = p + 1;
	*on = n - 2;
	return true;
}

bool
params_etag_match(const char *if_none_match, const char *etag_quoted)
{
	const char *mine;
	size_t mine_n;
	const char *p = if_none_match;

	if (p == NULL || etag_quoted == NULL ||
	    !etag_opaque(etag_quoted, strlen(etag_quoted), &mine, &mine_n))
		return false;
	while (*p != '\0') {
		const char *start;
		const char *end;
		const char *op;
		size_t on;

		p = skip_ows(p);
		start = p;
		/* An element ends at a comma outside quotes. */
		{
			bool quoted = false;

			while (*p != '\0' && (quoted || *p != ',')) {
				if (*p == '"')
					quoted = !quoted;
				p++;
			}
		}
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end - start == 1 && *start == '*')
			return true;
		if (etag_opaque(start, (size_t)(end - start), &op, &on) &&
		    on == mine_n && memcmp(op, mine, on) == 0)
			return true;
		if (*p == ',')
			p++;
	}
	return false;
}

static int
month_index(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	if (strlen(m) != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncmp(names + 3 * i, m, 3) == 0)
			return i;
	return -1;
}

int64_t
params_http_date(const char *s)
{
	char wday[16];
	char mon[4];
	char zone[4];
	struct tm tm;
	int n = 0;
	int year;

	if (s == NULL || strlen(s) > 64)
		return -1;
	memset(&tm, 0, sizeof(tm));
	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%15[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n",
		   wday, &tm.tm_mday, mon, &year, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, zone, &n) == 8 &&
	    s[n] == '\0' && strcmp(zone, "GMT") == 0)
		goto check;
	/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	n = 0;
	if (sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3[A-Z]%n",
		   wday, &tm.tm_mday, mon, &year, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, zone, &n) == 8 &&
	    s[n] == '\0' && strcmp(zone, "GMT") == 0) {
		year += year < 70 ? 2000 : 1900;
		goto check;
	}
	/* asctime: Sun Nov  6 08:49:37 1994 */
	n = 0;
	if (sscanf(s, "%15[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wday, mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &year,
		   &n) == 7 &&
	    s[n] == '\0')
		goto check;
	return -1;
check:
	tm.tm_mon = month_index(mon);
	if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
	    year < 1970 || tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0)
		return -1;
	tm.tm_year = year - 1900;
	return (int64_t)timegm(&tm) * 1000;
}

/* A qvalue (RFC 9110 §12.4.2: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"])
 * of n bytes at s in thousandths, or -1. */
static int
accept_qvalue(const char *s, size_t n)
{
	int q = 0;
	size_t i;

	if (n == 0 || (s[0] != '0' && s[0] != '1') || n > 5 ||
	    (n > 1 && s[1] != '.'))
		return -1;
	for (i = 2; i < n; i++)
		if (!isdigit((unsigned char)s[i]) ||
		    (s[0] == '1' && s[i] != '0'))
			return -1;
	for (i = 0; i < 3; i++)
		q = q * 10 + (i + 2 < n ? s[i + 2] - '0' : 0);
	return s[0] == '1' ? 1000 : q;
}

/* The q of one element s[0, n) ("image/avif;q=0.8") if its range is
 * type; -1 otherwise. */
static int
accept_element(const char *s, size_t n, const char *type)
{
	size_t tl = strlen(type);
	size_t r = 0;
	int q = 1000;

	while (r < n && s[r] != ';' && s[r] != ' ' && s[r] != '\t')
		r++;
	if (r != tl || strncasecmp(s, type, tl) != 0)
		return -1;
	/* Parameters: ";q=0.5", maybe among others, spaces around ';'. */
	for (size_t i = r; i < n;) {
		size_t j;

		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ';'))
			i++;
		j = i;
		while (j < n && s[j] != ';')
			j++;
		if (j - i >= 2 && (s[i] == 'q' || s[i] == 'Q') &&
		    s[i + 1] == '=') {
			size_t e = j;

			while (e > i + 2 &&
			       (s[e - 1] == ' ' || s[e - 1] == '\t'))
				e--;
			q = accept_qvalue(s + i + 2, e - (i + 2));
			if (q < 0)
				return -1;
		}
		i = j;
	}
	return q;
}

int
params_accept_q(const char *accept, const char *type)
{
	const char *p = accept;

	if (p == NULL || strnlen(p, PARAMS_ACCEPT_MAX + 1) > PARAMS_ACCEPT_MAX)
		return -1;
	while (*p != '\0') {
		size_t n;
		int q;

		p = skip_ows(p);
		n = strcspn(p, ",");
		q = accept_element(p, n, type);
		if (q >= 0)
			return q;
		p += n;
		if (*p == ',')
			p++;
	}
	return -1;
}
