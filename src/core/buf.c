/*
 * buf.c - the bounded growable buffer (see buf.h).  Called from any
 * thread, on buffers that thread owns.
 */
#include "core/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 256

void
buf_init(struct buf *b, size_t max, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
	b->name = name != NULL ? name : "buffer";
}

/* Grow the allocation to hold need bytes + the NUL: doubling, capped at
 * max + 1 so a buffer never holds more memory than its bound needs. */
static int
buf_grow(struct buf *b, size_t need, struct ip_error *err)
{
	size_t cap = b->cap != 0 ? b->cap : BUF_MIN_CAP;
	char *grown;

	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	grown = realloc(b->data, cap);
	if (grown == NULL)
		return ip_error_set(err, IP_ENOMEM, "%s: out of memory",
				    b->name);
	b->data = grown;
	b->cap = cap;
	return IP_OK;
}

int
buf_add(struct buf *b, const void *data, size_t n, struct ip_error *err)
{
	int rc;

	if (n > b->max || b->len > b->max - n)
		return ip_error_set(err, IP_ETOOBIG,
				    "%s is larger than %zu bytes", b->name,
				    b->max);
	if (b->len + n + 1 > b->cap) {
		rc = buf_grow(b, b->len + n, err);
		if (rc != IP_OK)
			return rc;
	}
	if (n != 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return IP_OK;
}

int
buf_add_str(struct buf *b, const char *s, struct ip_error *err)
{
	return buf_add(b, s, strlen(s), err);
}

const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *
buf_steal(struct buf *b, size_t *len)
{
	char *data = b->data;

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return data;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
