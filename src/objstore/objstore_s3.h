/*
 * objstore_s3.h - the S3 object store backend (objstore_s3.c): its
 * constructor, for the objstore registry (objstore.c) only, and the reply
 * parser it exposes for the unit tests and fuzzing.
 *
 * URLs (see docs/DISTRIBUTED.md):
 *   s3+http://HOST:PORT/?region=R&path_style=1   any S3-compatible server
 *   s3+https://HOST/?...                          the same over TLS
 *   s3://?region=R                                AWS S3, virtual-hosted
 * Parameters: region, path_style (default 1 for s3+http(s), 0 for s3://),
 * multipart_threshold (default 16M), part_size (default 8M, >= 5M),
 * attempts (1..10, default 4), timeout (seconds below 1 B/s, default 30),
 * and two opt-in workarounds for S3 test servers, list_sort=1 and
 * serialize=1 (objstore_s3_compat.h).
 */
#ifndef IMGPIPE_OBJSTORE_S3_H
#define IMGPIPE_OBJSTORE_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "objstore/objstore.h"

/* Open the S3 backend named by cfg->objstore; credentials as in aws.h.
 * cfg->input_bucket is the bucket ping() checks.  No request is made
 * here: objstore_open's ensure_bucket calls are the first. */
int objstore_s3_open(const struct config *cfg, struct objstore **out,
		     struct ip_error *err);

/*
 * Parse a ListObjectsV2 reply (xml[0, len), need not be NUL-terminated)
 * of at most max keys into out (keys with a size each, in reply order;
 * keys objstore_key_valid refuses are skipped with a warning).  On a
 * truncated listing *truncated is set and token receives the opaque
 * token of the next page.  IP_EBACKEND on a reply that is not a
 * well-formed listing (missing or oversized <Key>, bad <Size>, more than
 * max entries, truncated without a way on); out is then empty.
 */
int objstore_s3_parse_list(const char *xml, size_t len, size_t max,
			   struct objstore_listing *out, bool *truncated,
			   struct ip_error *err);

#endif
