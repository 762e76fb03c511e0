/*
 * objstore.h - the object store interface (S3's model: buckets of keys).
 *
 * One `static const struct objstore_ops` per backend (objstore_fs.c,
 * objstore_s3.c); callers go through the inline wrappers below, never
 * through `ops` and never by the backend's name.  objstore_open() picks the
 * backend from the configured URL ("fs" or "fs:///path", "s3://...").
 * The backends promise the same behaviour, so there are no capability
 * bits: put_file with opts->move is a rename for fs and an upload for s3,
 * and the caller cannot tell but by speed.
 *
 * Keys: 1..RECORD_KEY_MAX-1 bytes of UTF-8, no NUL, no control characters,
 * no leading '/', no empty, "." or ".." path segment, no backslash.
 * Bucket names: S3 rules, 3..63 of [a-z0-9.-].
 * objstore_key_valid() / objstore_bucket_valid() are the only checks; every
 * backend calls them first and answers IP_EINVAL.
 *
 * Thread-safety: every operation may be called from any thread at once.
 * Writes are atomic: a reader sees the old object, the whole new one, or
 * IP_ENOTFOUND, never a partial object, and a successful put is durable
 * (fsync'd for fs) before it returns.
 */
#ifndef IMGPIPE_OBJSTORE_H
#define IMGPIPE_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/record.h"

struct objstore;

struct objstore_stat {
	int64_t size;
	int64_t mtime_ms;
	char etag[80]; /* opaque, quoted form NOT included */
	char content_type[64]; /* may be empty */
};

struct objstore_put_opts {
	const char *content_type; /* may be NULL */
	const char *sha256_hex; /* of the body if known (S3 signs it) */
	bool move; /* store may take src_path (rename) */
};

struct objstore_listing {
	size_t n;
	char **keys; /* n keys, malloc'd, in byte order */
	int64_t *sizes; /* n sizes */
	char next_token[RECORD_KEY_MAX + 8]; /* "" when the listing is done */
};

struct objstore_ops {
	const char *name;
	void (*close)(struct objstore *s);
	int (*ping)(struct objstore *s, struct ip_error *err);
	int (*ensure_bucket)(struct objstore *s, const char *bucket,
			     struct ip_error *err);
	int (*put_file)(struct objstore *s, const char *bucket, const char *key,
			const char *src_path,
			const struct objstore_put_opts *opts,
			struct ip_error *err);
	int (*put_buffer)(struct objstore *s, const char *bucket,
			  const char *key, const void *data, size_t len,
			  const struct objstore_put_opts *opts,
			  struct ip_error *err);
	/* Open the object for reading: *fd_out is a readable, seekable fd
	 * the caller closes (fs: the file; s3: an unlinked temp file holding
	 * the download).  st may be NULL. */
	int (*open_read)(struct objstore *s, const char *bucket,
			 const char *key, int *fd_out, struct objstore_stat *st,
			 struct ip_error *err);
	int (*head)(struct objstore *s, const char *bucket, const char *key,
		    struct objstore_stat *st, struct ip_error *err);
	/* Deleting a missing key is IP_OK (S3 semantics). */
	int (*del)(struct objstore *s, const char *bucket, const char *key,
		   struct ip_error *err);
	/* Keys with the prefix, after the opaque token (NULL/"" = start), at
	 * most max (1..1000).  Caller frees with objstore_listing_free. */
	int (*list)(struct objstore *s, const char *bucket, const char *prefix,
		    const char *token, size_t max, struct objstore_listing *out,
		    struct ip_error *err);
	/* Optional (NULL: IP_ENOTSUP).  A URL through which a client with
	 * no credentials may `method` ("GET" or "PUT") the object for
	 * expires_s seconds, without the store's help. */
	int (*presign)(struct objstore *s, const char *bucket, const char *key,
		       const char *method, int64_t expires_s, char *url,
		       size_t len, struct ip_error *err);
};

struct objstore {
	const struct objstore_ops *ops;
};

/* Open the backend named by cfg->objstore, rooted in cfg->data_dir for fs.
 * Creates cfg->input_bucket and cfg->output_bucket if missing.  IP_EINVAL
 * for an unknown backend or bad URL, IP_ENOTSUP for a backend this binary
 * was built without ("imgpipe was built without s3"). */
int objstore_open(const struct config *cfg, struct objstore **out,
		  struct ip_error *err);

/* The backends this binary was built with, e.g. "fs s3", into buf. */
void objstore_backends(char *buf, size_t size);

bool objstore_key_valid(const char *key);
bool objstore_bucket_valid(const char *bucket);
void objstore_listing_free(struct objstore_listing *l);

static inline void
objstore_close(struct objstore *s)
{
	if (s != NULL)
		s->ops->close(s);
}

/* The backend's name ("fs", "s3"), for logs and --version. */
static inline const char *
objstore_name(const struct objstore *s)
{
	return s->ops->name;
}

static inline int
objstore_ping(struct objstore *s, struct ip_error *err)
{
	return s->ops->ping(s, err);
}

static inline int
objstore_ensure_bucket(struct objstore *s, const char *b, struct ip_error *e)
{
	return s->ops->ensure_bucket(s, b, e);
}

static inline int
objstore_put_file(struct objstore *s, const char *b, const char *k,
		  const char *path, const struct objstore_put_opts *o,
		  struct ip_error *e)
{
	return s->ops->put_file(s, b, k, path, o, e);
}

static inline int
objstore_put_buffer(struct objstore *s, const char *b, const char *k,
		    const void *d, size_t n, const struct objstore_put_opts *o,
		    struct ip_error *e)
{
	return s->ops->put_buffer(s, b, k, d, n, o, e);
}

static inline int
objstore_open_read(struct objstore *s, const char *b, const char *k, int *fd,
		   struct objstore_stat *st, struct ip_error *e)
{
	return s->ops->open_read(s, b, k, fd, st, e);
}

static inline int
objstore_head(struct objstore *s, const char *b, const char *k,
	      struct objstore_stat *st, struct ip_error *e)
{
	return s->ops->head(s, b, k, st, e);
}

static inline int
objstore_delete(struct objstore *s, const char *b, const char *k,
		struct ip_error *e)
{
	return s->ops->del(s, b, k, e);
}

static inline int
objstore_list(struct objstore *s, const char *b, const char *prefix,
	      const char *token, size_t max, struct objstore_listing *out,
	      struct ip_error *e)
{
	return s->ops->list(s, b, prefix, token, max, out, e);
}

/* Largest URL objstore_presign writes (S3: ~600 bytes + the encoded key
 * + a session token of up to 2 KiB, encoded). */
#define OBJSTORE_PRESIGN_URL_MAX 8192
#define OBJSTORE_PRESIGN_EXPIRES_MAX 604800 /* 7 days, SigV4's bound */

/*
 * A presigned URL for method ("GET" or "PUT") on bucket/key, valid for
 * expires_s (1..OBJSTORE_PRESIGN_EXPIRES_MAX) seconds from now, into
 * url[0, len) (OBJSTORE_PRESIGN_URL_MAX is enough).  A PUT through it
 * may carry any Content-Type.  IP_ENOTSUP when the backend cannot hand
 * out such URLs (fs: its objects are reached only through the API);
 * IP_EINVAL for a bad bucket, key, method or expiry.  Pure computation
 * for s3: no request is made.
 */
static inline int
objstore_presign(struct objstore *s, const char *b, const char *k,
		 const char *method, int64_t expires_s, char *url, size_t len,
		 struct ip_error *e)
{
	if (s->ops->presign == NULL)
		return ip_error_set(e, IP_ENOTSUP,
				    "the %s object store cannot presign URLs",
				    s->ops->name);
	return s->ops->presign(s, b, k, method, expires_s, url, len, e);
}

#endif
