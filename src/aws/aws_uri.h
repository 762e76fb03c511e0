/*
 * aws_uri.h - SigV4's URI encoding and canonical query strings
 * (aws_uri.c).  libcurl 7.88's signer signs a URL exactly as given, so
 * the S3 backend builds every path and query with these.  Pure functions.
 */
#ifndef IMGPIPE_AWS_URI_H
#define IMGPIPE_AWS_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

#define AWS_QUERY_PARAMS_MAX 16

/*
 * A canonical query string for SigV4: parameters sorted by name, names
 * and values RFC 3986-encoded ("/" as %2F, space as %20), and "k=" for an
 * empty value.  names[i]/values[i], n pairs (at most AWS_QUERY_PARAMS_MAX);
 * values may be NULL (= "").  IP_EINVAL if it does not fit in out.
 */
int aws_query_build(const char *const *names, const char *const *values,
		    size_t n, char *out, size_t size, struct ip_error *err);

/* RFC 3986 percent-encoding of s into out; '/' is kept when keep_slash.
 * Returns the length, or -1 if it does not fit. */
long aws_uri_encode(const char *s, bool keep_slash, char *out, size_t size);

#endif
