/*
 * multipart.c - streaming multipart/form-data parser (multipart.h).
 *
 * Called by upload.c on the request's connection thread, and by tests/http.
 *
 * DESIGN.  The body is a sequence of parts separated by the delimiter
 * "\r\n--" + boundary.  The parser is a state machine over single bytes,
 * except in part bodies where memchr() jumps to the next '\r': a boundary
 * may not contain CR (RFC 2046 bchars), so '\r' occurs in the delimiter
 * only as its first byte, and a failed partial match can never hide the
 * start of a real one.  Bytes held in a partial match are therefore known
 * (a prefix of the delimiter) and are re-emitted from it on a mismatch: no
 * look-behind buffer, and chunk edges do not matter.  The body's first
 * delimiter has no leading CRLF; the parser starts as if it had just seen
 * one.
 */
#include "api/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/params.h"

enum mp_state {
	MP_PREAMBLE, /* before the first delimiter */
	MP_DELIM_TAIL, /* after a delimiter: padding, then CRLF or "--" */
	MP_DELIM_CR, /* saw '\r' after a delimiter */
	MP_DELIM_DASH, /* saw '-' after a delimiter */
	MP_HEADERS, /* a part's header block */
	MP_BODY, /* a part's content */
	MP_EPILOGUE /* after the closing delimiter: ignored */
};

#define MP_PADDING_MAX 64

static int
fail(struct multipart *mp, struct ip_error *err, int code, const char *msg)
{
	mp->error = code;
	ip_error_set(&mp->err, code, "multipart body: %s", msg);
	if (err != NULL)
		*err = mp->err;
	return code;
}

static bool
bchar(char c)
{
	return isalnum((unsigned char)c) || strchr("'()+_,-./:=? ", c) != NULL;
}

/* Find parameter `want` in ";"-separated parameters (after a media type or
 * disposition type) and copy its value, unquoted.  *found tells whether it
 * was there.  IP_EINVAL on a syntax error or a value longer than out_len-1.
 */
static int
param_get(const char *p, const char *want, char *out, size_t out_len,
	  bool *found)
{
	*found = false;
	for (;;) {
		const char *name;
		size_t name_n;
		size_t n = 0;
		bool wanted;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return IP_OK;
		if (*p != ';')
			return IP_EINVAL;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return IP_OK; /* a trailing ';' */
		name = p;
		while (*p != '\0' && *p != '=' && *p != ';' && *p != ' ' &&
		       *p != '\t')
			p++;
		name_n = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=' || name_n == 0)
			return IP_EINVAL;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		wanted = strlen(want) == name_n &&
			 strncasecmp(name, want, name_n) == 0;
		if (*p == '"') {
			p++;
			while (*p != '"') {
				if (*p == '\0')
					return IP_EINVAL;
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (wanted) {
					if (n + 1 >= out_len)
						return IP_EINVAL;
					out[n++] = *p;
				}
				p++;
			}
			p++;
		} else {
			while (*p != '\0' && *p != ';' && *p != ' ' &&
			       *p != '\t') {
				if (wanted) {
					if (n + 1 >= out_len)
						return IP_EINVAL;
					out[n++] = *p;
				}
				p++;
			}
		}
		if (wanted) {
			out[n] = '\0';
			*found = true;
		}
	}
}

/* Copy the media or disposition type (before any ';'), trimmed. */
static void
leading_type(const char *v, char *out, size_t out_len, const char **rest)
{
	size_t n = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	while (*v != '\0' && *v != ';' && *v != ' ' && *v != '\t') {
		if (n + 1 < out_len)
			out[n++] = *v;
		v++;
	}
	out[n] = '\0';
	*rest = v;
}

int
multipart_boundary(const char *content_type, char *out, size_t out_len,
		   struct ip_error *err)
{
	char type[64];
	char b[MULTIPART_BOUNDARY_MAX + 2];
	const char *rest;
	bool found;
	size_t n;

	if (content_type == NULL)
		return ip_error_set(err, IP_EMEDIA, "no Content-Type");
	leading_type(content_type, type, sizeof(type), &rest);
	if (strcasecmp(type, "multipart/form-data") != 0)
		return ip_error_set(err, IP_EMEDIA, "not multipart/form-data");
	if (param_get(rest, "boundary", b, sizeof(b), &found) != IP_OK ||
	    !found)
		return ip_error_set(err, IP_EINVAL,
				    "multipart/form-data needs a boundary "
				    "of 1 to %d characters",
				    MULTIPART_BOUNDARY_MAX);
	n = strlen(b);
	if (n == 0 || n > MULTIPART_BOUNDARY_MAX || b[n - 1] == ' ')
		return ip_error_set(err, IP_EINVAL,
				    "multipart boundary must have 1 to %d "
				    "characters",
				    MULTIPART_BOUNDARY_MAX);
	for (size_t i = 0; i < n; i++)
		if (!bchar(b[i]))
			return ip_error_set(err, IP_EINVAL,
					    "multipart boundary has a "
					    "character RFC 2046 forbids");
	if (n + 1 > out_len)
		return ip_error_set(err, IP_EINVAL, "boundary does not fit");
	memcpy(out, b, n + 1);
	return IP_OK;
}

int
multipart_init(struct multipart *mp, const char *boundary, const char *field,
	       multipart_data_fn on_data, void *arg, struct ip_error *err)
{
	size_t n = strlen(boundary);

	memset(mp, 0, sizeof(*mp));
	if (n == 0 || n > MULTIPART_BOUNDARY_MAX)
		return ip_error_set(err, IP_EINVAL, "bad boundary length");
	for (size_t i = 0; i < n; i++)
		if (!bchar(boundary[i]))
			return ip_error_set(err, IP_EINVAL,
					    "bad boundary character");
	if (strlen(field) >= sizeof(mp->field))
		return ip_error_set(err, IP_EINVAL, "field name too long");
	snprintf(mp->delim, sizeof(mp->delim), "\r\n--%s", boundary);
	mp->delim_len = 4 + n;
	snprintf(mp->field, sizeof(mp->field), "%s", field);
	mp->on_data = on_data;
	mp->arg = arg;
	mp->state = MP_PREAMBLE;
	mp->match = 2; /* as if the body began with CRLF */
	return IP_OK;
}

/* Content bytes of the current part (or preamble). */
static int
emit(struct multipart *mp, const char *data, size_t len, struct ip_error *err)
{
	struct ip_error e;
	int rc;

	if (len == 0)
		return IP_OK;
	if (mp->state != MP_BODY || !mp->in_file) {
		mp->other_bytes += (int64_t)len;
		if (mp->other_bytes <= MULTIPART_OTHER_MAX)
			return IP_OK;
		if (mp->state == MP_PREAMBLE)
			return fail(mp, err, IP_EINVAL,
				    "no boundary in the first 64 KiB");
		return fail(mp, err, IP_ETOOBIG,
			    "fields other than the file exceed 64 KiB");
	}
	mp->file_bytes += (int64_t)len;
	ip_error_clear(&e);
	rc = mp->on_data(mp->arg, data, len, &e);
	if (rc != IP_OK) {
		mp->error = rc;
		mp->err = e;
		if (err != NULL)
			*err = e;
	}
	return rc;
}

/* Content until the next delimiter; on it, switch to MP_DELIM_TAIL. */
static int
scan(struct multipart *mp, const char **pp, const char *end,
     struct ip_error *err)
{
	const char *p = *pp;
	int rc = IP_OK;

	while (p < end) {
		if (mp->match == 0) {
			const char *cr = memchr(p, '\r', (size_t)(end - p));
			size_t n =
			    cr != NULL ? (size_t)(cr - p) : (size_t)(end - p);

			rc = emit(mp, p, n, err);
			if (rc != IP_OK)
				goto out;
			p += n;
			if (cr == NULL)
				break;
			mp->match = 1;
			p++;
			continue;
		}
		if (*p == mp->delim[mp->match]) {
			mp->match++;
			p++;
			if (mp->match == mp->delim_len) {
				mp->match = 0;
				mp->in_file = false;
				mp->padding = 0;
				mp->state = MP_DELIM_TAIL;
				break;
			}
			continue;
		}
		/* Mismatch: the held bytes were content after all. */
		rc = emit(mp, mp->delim, mp->match, err);
		mp->match = 0;
		if (rc != IP_OK)
			goto out;
	}
out:
	*pp = p;
	return rc;
}

/* filename*=UTF-8''%e2%82%ac.jpg (RFC 5987); other charsets ignored. */
static bool
ext_filename(const char *v, char *out, size_t out_len)
{
	struct ip_error e;

	if (strncasecmp(v, "UTF-8''", 7) != 0)
		return false;
	return params_pct_decode(v + 7, strlen(v + 7), false, false, out,
				 out_len, NULL, &e) == IP_OK;
}

static int
disposition(struct multipart *mp, const char *value, struct ip_error *err)
{
	char type[32];
	char name[64];
	char ext[MULTIPART_FILENAME_MAX * 3 + 16];
	const char *rest;
	bool found;
	bool has_name;
	bool has_ext;

	leading_type(value, type, sizeof(type), &rest);
	if (strcasecmp(type, "form-data") != 0)
		return fail(mp, err, IP_EINVAL,
			    "part disposition is not form-data");
	if (param_get(rest, "name", name, sizeof(name), &has_name) != IP_OK)
		return fail(mp, err, IP_EINVAL,
			    "bad Content-Disposition parameters");
	if (!has_name || strcmp(name, mp->field) != 0)
		return IP_OK; /* another field: counted, dropped */
	if (mp->file_seen)
		return fail(mp, err, IP_EINVAL, "more than one file field");
	mp->file_seen = true;
	mp->in_file = true;
	if (param_get(rest, "filename", mp->filename, sizeof(mp->filename),
		      &found) != IP_OK)
		return fail(mp, err, IP_EINVAL,
			    "file name longer than 1024 bytes or malformed");
	mp->has_filename = found;
	if (param_get(rest, "filename*", ext, sizeof(ext), &has_ext) == IP_OK &&
	    has_ext && ext_filename(ext, mp->filename, sizeof(mp->filename)))
		mp->has_filename = true;
	return IP_OK;
}

/* Parse the complete header block of a part (CRLF-separated lines). */
static int
part_headers(struct multipart *mp, struct ip_error *err)
{
	char *line = mp->headers;

	mp->headers[mp->headers_len] = '\0';
	if (memchr(mp->headers, '\0', mp->headers_len) != NULL)
		return fail(mp, err, IP_EINVAL, "NUL in part headers");
	while (*line != '\0') {
		char *eol = strstr(line, "\r\n");
		char *colon;
		char *value;

		if (eol == NULL || eol == line)
			break;
		*eol = '\0';
		colon = strchr(line, ':');
		if (colon == NULL)
			return fail(mp, err, IP_EINVAL,
				    "part header line without ':'");
		*colon = '\0';
		value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		if (strcasecmp(line, "Content-Disposition") == 0 &&
		    disposition(mp, value, err) != IP_OK)
			return mp->error;
		line = eol + 2;
	}
	return IP_OK;
}

/* Append header bytes; on the blank line ending the block, parse it. */
static int
headers_byte(struct multipart *mp, char c, struct ip_error *err)
{
	size_t n;

	if (mp->headers_len >= MULTIPART_HEADERS_MAX)
		return fail(mp, err, IP_EINVAL,
			    "part headers larger than 8 KiB");
	mp->headers[mp->headers_len++] = c;
	n = mp->headers_len;
	if (c != '\n')
		return IP_OK;
	if ((n == 2 && memcmp(mp->headers, "\r\n", 2) == 0) ||
	    (n >= 4 && memcmp(mp->headers + n - 4, "\r\n\r\n", 4) == 0)) {
		if (part_headers(mp, err) != IP_OK)
			return mp->error;
		mp->state = MP_BODY;
		mp->match = 0;
	}
	return IP_OK;
}

int
multipart_feed(struct multipart *mp, const char *data, size_t len,
	       struct ip_error *err)
{
	const char *p = data;
	const char *end = data + len;
	int rc = IP_OK;

	if (mp->error != IP_OK) {
		if (err != NULL)
			*err = mp->err;
		return mp->error;
	}
	while (p < end && rc == IP_OK) {
		char c;

		switch ((enum mp_state)mp->state) {
		case MP_PREAMBLE:
		case MP_BODY:
			rc = scan(mp, &p, end, err);
			break;
		case MP_DELIM_TAIL:
			c = *p++;
			if (c == ' ' || c == '\t') {
				if (++mp->padding > MP_PADDING_MAX)
					rc = fail(mp, err, IP_EINVAL,
						  "padding after boundary");
			} else if (c == '\r') {
				mp->state = MP_DELIM_CR;
			} else if (c == '-') {
				mp->state = MP_DELIM_DASH;
			} else {
				rc = fail(mp, err, IP_EINVAL,
					  "garbage after a boundary");
			}
			break;
		case MP_DELIM_CR:
			if (*p++ != '\n') {
				rc = fail(mp, err, IP_EINVAL,
					  "boundary line not ended by CRLF");
				break;
			}
			if (++mp->parts > MULTIPART_PARTS_MAX) {
				rc = fail(mp, err, IP_EINVAL,
					  "more than 32 parts");
				break;
			}
			mp->state = MP_HEADERS;
			mp->headers_len = 0;
			break;
		case MP_DELIM_DASH:
			if (*p++ != '-') {
				rc = fail(mp, err, IP_EINVAL,
					  "garbage after a boundary");
				break;
			}
			mp->state = MP_EPILOGUE;
			break;
		case MP_HEADERS:
			rc = headers_byte(mp, *p++, err);
			break;
		case MP_EPILOGUE:
			p = end;
			break;
		}
	}
	return rc;
}

int
multipart_finish(struct multipart *mp, struct ip_error *err)
{
	if (mp->error != IP_OK) {
		if (err != NULL)
			*err = mp->err;
		return mp->error;
	}
	if (mp->state != MP_EPILOGUE)
		return fail(mp, err, IP_EINVAL,
			    "ends before the closing boundary");
	if (!mp->file_seen)
		return fail(mp, err, IP_EINVAL,
			    "no field named `file` (send the image as "
			    "-F file=@photo.jpg)");
	return IP_OK;
}
