/*
 * multipart.h - a small streaming multipart/form-data parser (RFC 7578,
 * RFC 2046 §5.1) for POST /v1/images.
 *
 * The body is fed in chunks of any size (down to one byte); the content of
 * the one wanted field (`file`) is handed to a callback as it arrives and
 * never buffered, other fields are counted and dropped.  Everything a
 * client controls is bounded: the boundary (<= 70 bytes), each part's
 * header block (<= 8 KiB), the number of parts, the bytes of the other
 * fields, the file name.
 *
 * Failures: IP_EINVAL (400) for a malformed body, a missing or repeated
 * file field, a body that ends before the closing boundary; IP_ETOOBIG
 * (413) when the other fields exceed their bound; whatever the data
 * callback returns.  After a failure every further call returns it again.
 *
 * Thread-safety: a struct multipart belongs to one request (one thread).
 */
#ifndef IMGPIPE_HTTP_MULTIPART_H
#define IMGPIPE_HTTP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define MULTIPART_BOUNDARY_MAX 70
#define MULTIPART_HEADERS_MAX (8 * 1024)
#define MULTIPART_PARTS_MAX 32
#define MULTIPART_OTHER_MAX (64 * 1024)
#define MULTIPART_FILENAME_MAX 1024

/* Receives the wanted field's content; returns IP_OK or a failure that
 * stops the parse (err filled). */
typedef int (*multipart_data_fn)(void *arg, const char *data, size_t len,
				 struct ip_error *err);

struct multipart {
	int state;
	int error; /* sticky failure code, 0 = none */
	struct ip_error err;
	char delim[4 + MULTIPART_BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
	size_t delim_len;
	size_t match; /* bytes of delim matched so far */
	size_t padding; /* blanks after a delimiter */
	char headers[MULTIPART_HEADERS_MAX + 1];
	size_t headers_len;
	char field[32]; /* the wanted field's name */
	multipart_data_fn on_data;
	void *arg;
	bool in_file; /* the current part is the field */
	bool file_seen;
	size_t parts;
	int64_t other_bytes;
	int64_t file_bytes;
	bool has_filename;
	char filename[MULTIPART_FILENAME_MAX + 1]; /* decoded, raw name */
};

/* Extract the boundary of a `multipart/form-data; boundary=...` media
 * type (quoted or not) into out (>= MULTIPART_BOUNDARY_MAX + 1 bytes).
 * IP_EMEDIA if the type is not multipart/form-data, IP_EINVAL if the
 * boundary is missing, longer than 70 bytes or has a character RFC 2046
 * does not allow. */
int multipart_boundary(const char *content_type, char *out, size_t out_len,
		       struct ip_error *err);

/* Start a parse for the field named `field` ("file"). */
int multipart_init(struct multipart *mp, const char *boundary,
		   const char *field, multipart_data_fn on_data, void *arg,
		   struct ip_error *err);

/* Feed the next len bytes of the body. */
int multipart_feed(struct multipart *mp, const char *data, size_t len,
		   struct ip_error *err);

/* The body ended: IP_OK only if the closing boundary was seen and the
 * field was present.  mp->filename / mp->has_filename describe it. */
int multipart_finish(struct multipart *mp, struct ip_error *err);

#endif
