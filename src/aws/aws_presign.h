/*
 * aws_presign.h - SigV4 query-string signing (aws_presign.c): a URL that
 * carries its own authorisation for a while, so a client with no
 * credentials may PUT or GET one object (S3 presigned URLs).
 *
 * Called by objstore_s3.c's presign operation, from any thread; a pure
 * function over caller-owned memory (HMAC-SHA256 by GLib's GHmac).
 */
#ifndef IMGPIPE_AWS_PRESIGN_H
#define IMGPIPE_AWS_PRESIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/aws_creds.h"
#include "core/error.h"

#define AWS_PRESIGN_EXPIRES_MAX 604800 /* SigV4's own bound: 7 days */

struct aws_presign_request {
	const char *method; /* "GET", "PUT", ... */
	bool https;
	const char *host; /* as the client will send Host: "h" or "h:port" */
	const char *path; /* canonical: '/' + RFC 3986-encoded segments */
	const char *service; /* "s3" */
	int64_t expires_s; /* 1..AWS_PRESIGN_EXPIRES_MAX */
	int64_t now_s; /* Unix time the signature starts */
};

/*
 * The presigned URL of rq with creds into out: scheme://host/path?
 * X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Date=...&
 * X-Amz-Expires=...[&X-Amz-Security-Token=...]&X-Amz-SignedHeaders=host&
 * X-Amz-Signature=... .  Only Host is signed and the payload is
 * UNSIGNED-PAYLOAD, so any body (and Content-Type) may be sent.
 * IP_EINVAL for a bad field or when the URL does not fit in size.
 */
int aws_presign_url(const struct aws_creds *creds,
		    const struct aws_presign_request *rq, char *out,
		    size_t size, struct ip_error *err);

#endif
