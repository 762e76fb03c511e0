/*
 * strict.c - see strict.h.  Called by server.c on a connection's thread.
 *
 * DESIGN.  MHD_get_connection_values_n gives each header with its length,
 * so a NUL inside a value (which a C string would hide) is seen.  A
 * space before the colon reaches us as part of the name ("X-A "), which
 * the token rule refuses.  An obs-fold continuation line is joined into
 * the previous value by libmicrohttpd with a single space, so it cannot
 * be told apart from a value with a space in it: the reverse proxy has
 * to refuse it (docs/SECURITY.md).
 */
#include "http/strict.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

struct strict_scan {
	int content_length;
	int transfer_encoding;
	bool te_not_chunked;
	char *msg;
	size_t msg_len;
	bool bad;
};

/* RFC 9110 5.6.2: tchar. */
static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
name_is_token(const char *name, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)name[i]))
			return false;
	return true;
}

/* RFC 9110 5.5: field-value is VCHAR, obs-text, SP and HTAB. */
static bool
value_is_clean(const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static enum MHD_Result
strict_header(void *cls, enum MHD_ValueKind kind, const char *key,
	      size_t key_size, const char *value, size_t value_size)
{
	struct strict_scan *s = cls;

	(void)kind;
	if (!name_is_token(key, key_size)) {
		snprintf(s->msg, s->msg_len,
			 "a header name is not a token (RFC 9110 5.1; no "
			 "space before the colon)");
		s->bad = true;
		return MHD_NO;
	}
	/* X-Request-Id is never refused: api.c replaces any value that is
	 * not a plain id, and nothing else reads it. */
	if (value != NULL && strcasecmp(key, "X-Request-Id") != 0 &&
	    !value_is_clean(value, value_size)) {
		snprintf(s->msg, s->msg_len,
			 "header %.64s has a control character in its value",
			 key);
		s->bad = true;
		return MHD_NO;
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		s->content_length++;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		s->transfer_encoding++;
		if (value == NULL || strcasecmp(value, "chunked") != 0)
			s->te_not_chunked = true;
	}
	return MHD_YES;
}

int
strict_headers_check(struct MHD_Connection *conn, char *msg, size_t msg_len)
{
	struct strict_scan s = {.msg = msg, .msg_len = msg_len};

	msg[0] = '\0';
	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, strict_header, &s);
	if (s.bad)
		return -1;
	if (s.content_length > 1)
		snprintf(msg, msg_len, "more than one Content-Length");
	else if (s.transfer_encoding > 1)
		snprintf(msg, msg_len, "more than one Transfer-Encoding");
	else if (s.content_length > 0 && s.transfer_encoding > 0)
		snprintf(msg, msg_len,
			 "both Content-Length and Transfer-Encoding");
	else if (s.te_not_chunked)
		snprintf(msg, msg_len,
			 "the only Transfer-Encoding accepted is chunked");
	else
		return 0;
	return -1;
}
