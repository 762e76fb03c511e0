/*
 * objstore_s3_compat.h - opt-in workarounds for S3 test servers that
 * deviate from S3 (objstore_s3_compat.c), kept out of objstore_s3.c's
 * production path.  Each is one URL switch, off by default, never needed
 * with AWS S3, Ceph radosgw or MinIO:
 *   list_sort=1   the server does not list in byte order: read the whole
 *                 prefix, sort it here, page here (at most
 *                 OBJSTORE_S3_COMPAT_SORTED_MAX keys);
 *   serialize=1   the server breaks under concurrent requests: within the
 *                 process, one write at a time and none during a read.
 * s3rver 3.7.1 needs both (docs/DISTRIBUTED.md).
 *
 * Called by objstore_s3.c from any thread; the struct is set up at open
 * and then only its lock changes (it is its own synchronisation).
 */
#ifndef IMGPIPE_OBJSTORE_S3_COMPAT_H
#define IMGPIPE_OBJSTORE_S3_COMPAT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/query.h"
#include "objstore/objstore.h"

#define OBJSTORE_S3_COMPAT_SORTED_MAX 100000 /* keys under a prefix */

/* The URL parameters that turn the workarounds on, for the backend's list
 * of known names. */
#define OBJSTORE_S3_COMPAT_PARAMS "list_sort", "serialize"

struct objstore_s3_compat {
	bool list_sort;
	bool serialize;
	pthread_rwlock_t lock; /* taken when serialize */
};

/* Read the switches from the backend URL's query q into c (and set up
 * its lock).  IP_EINVAL for a value that is not a boolean.  Pair with
 * objstore_s3_compat_destroy, also after a failure. */
int objstore_s3_compat_init(struct objstore_s3_compat *c, const struct query *q,
			    struct ip_error *err);
void objstore_s3_compat_destroy(struct objstore_s3_compat *c);

/* Bracket every request with one begin and one end: writes (put, delete)
 * exclude each other and reads when serialize=1; no-ops otherwise. */
void objstore_s3_compat_write_begin(struct objstore_s3_compat *c);
void objstore_s3_compat_read_begin(struct objstore_s3_compat *c);
void objstore_s3_compat_end(struct objstore_s3_compat *c);

/* One ListObjectsV2 page in the server's order, as objstore_s3.c makes
 * it: token is one of its own tokens or NULL for the first page. */
typedef int objstore_s3_compat_page_fn(void *arg, const char *token, size_t max,
				       struct objstore_listing *out,
				       struct ip_error *err);

/*
 * list_sort=1: the page of at most max keys after token (a "k" + key
 * token, or NULL) in byte order, read with page() over the whole prefix.
 * IP_EINVAL for another token, IP_EBACKEND above
 * OBJSTORE_S3_COMPAT_SORTED_MAX keys, or page()'s error.
 */
int objstore_s3_compat_list(objstore_s3_compat_page_fn *page, void *arg,
			    const char *token, size_t max, size_t page_max,
			    struct objstore_listing *out, struct ip_error *err);

#endif
