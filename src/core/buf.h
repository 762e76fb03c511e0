/*
 * buf.h - the one growable byte buffer, bounded (after curl's dynbuf).
 *
 * Every buffer whose size an outsider controls (HTTP bodies read whole,
 * S3/DynamoDB replies, Lambda Runtime API events) grows here, up to a
 * maximum fixed at init.  Passing it is one error, the same everywhere:
 * IP_ETOOBIG "NAME is larger than MAX bytes".  The contents are always
 * NUL-terminated, so text can be read in place.
 *
 * Ownership: the struct is the caller's (usually on the stack or inside a
 * request); buf_free releases the bytes, buf_steal hands them over.
 * Thread-safety: none; one buffer belongs to one thread at a time.
 */
#ifndef IMGPIPE_CORE_BUF_H
#define IMGPIPE_CORE_BUF_H

#include <stddef.h>

#include "core/error.h"

struct buf {
	char *data; /* NULL until the first byte */
	size_t len;
	size_t cap;
	size_t max; /* bytes of content allowed, excluding the NUL */
	const char *name; /* for the error message; static storage */
};

/* An empty buffer that may hold up to max bytes.  name says what it
 * holds ("event body"), for the error a caller may pass on. */
void buf_init(struct buf *b, size_t max, const char *name);

/* Append n bytes.  IP_ETOOBIG (nothing appended) when len + n would pass
 * max, IP_ENOMEM when memory runs out; the buffer is unchanged then. */
int buf_add(struct buf *b, const void *data, size_t n, struct ip_error *err);

/* Append a NUL-terminated string. */
int buf_add_str(struct buf *b, const char *s, struct ip_error *err);

/* The contents, NUL-terminated; "" when empty.  Borrowed. */
const char *buf_str(const struct buf *b);

/* Empty it, keeping the memory for reuse. */
void buf_reset(struct buf *b);

/* Hand the bytes to the caller (free() them; NULL when empty) and leave
 * the buffer empty.  *len gets the length when len is not NULL. */
char *buf_steal(struct buf *b, size_t *len);

/* Release the bytes; the buffer is empty and usable again.  NULL-safe. */
void buf_free(struct buf *b);

#endif
