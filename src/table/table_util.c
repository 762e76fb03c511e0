/*
 * table_util.c - what the table backends do alike; see table_util.h.
 *
 * Called by table_sqlite.c and table_dynamodb.c from any thread.
 */
#include "table/table_util.h"

#include <string.h>

#include "core/util.h"
#include "table/table.h"

int
table_util_check_record(const struct record *r, struct ip_error *err)
{
	if (!util_id_valid(r->id))
		return ip_error_set(err, IP_EINVAL, "record id is not a ULID");
	if ((int)r->status < RECORD_PENDING || r->status > RECORD_FAILED)
		return ip_error_set(err, IP_EINVAL, "record status invalid");
	return IP_OK;
}

int
table_util_record_doc(const char *who, const struct record *r, char **doc,
		      struct ip_error *err)
{
	*doc = record_to_string(r);
	if (*doc == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "%s: record does not encode "
				    "(a string is not UTF-8?)",
				    who);
	return IP_OK;
}

int
table_util_list_start(const char *cursor, size_t limit, char *after,
		      size_t size, struct ip_error *err)
{
	after[0] = '\0';
	if (limit < 1 || limit > TABLE_LIST_MAX)
		return ip_error_set(err, IP_EINVAL, "limit must be 1..%d",
				    TABLE_LIST_MAX);
	if (cursor != NULL && cursor[0] != '\0' &&
	    !table_util_cursor_decode(cursor, after, size))
		return ip_error_set(err, IP_EINVAL, "invalid cursor");
	return IP_OK;
}

static const char table_util_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
table_util_cursor_encode(const char *id, char *out, size_t size)
{
	const char *b64 = table_util_b64url;
	const unsigned char *in = (const unsigned char *)id;
	size_t n = strlen(id);
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 <= size; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (unsigned)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		if (left > 1)
			out[o++] = b64[(v >> 6) & 63];
		if (left > 2)
			out[o++] = b64[v & 63];
	}
	out[o] = '\0';
}

bool
table_util_cursor_decode(const char *cursor, char *id, size_t size)
{
	const char *b64 = table_util_b64url;
	size_t n = strnlen(cursor, TABLE_CURSOR_MAX);
	unsigned v = 0;
	int bits = 0;
	size_t o = 0;

	if (n == 0 || n >= TABLE_CURSOR_MAX || n % 4 == 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(b64, cursor[i]);

		if (p == NULL)
			return false;
		v = (v << 6) | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= size)
				return false;
			id[o++] = (char)((v >> bits) & 0xff);
		}
	}
	/* Leftover bits must be zero, or the encoding was not canonical. */
	if ((v & ((1u << bits) - 1)) != 0)
		return false;
	id[o] = '\0';
	return util_id_valid(id);
}
