/*
 * aws_url.h - backend URLs of the AWS-protocol backends (aws_url.c):
 * "s3+http://127.0.0.1:7480/?region=x&path_style=1", "dynamodb://?...".
 *
 * Called by the backends' constructors at start-up; pure functions over
 * caller-owned structs, safe from any thread.
 */
#ifndef IMGPIPE_AWS_URL_H
#define IMGPIPE_AWS_URL_H

#include <stdbool.h>

#include "aws/aws_client.h"
#include "core/error.h"
#include "core/query.h"

#define AWS_HOST_MAX 256

/* A backend URL, split and validated.  Its parameters are read with
 * core/query.h: query_get(&u.query, "region"), query_bool, query_int. */
struct aws_url {
	bool https;
	bool aws; /* "SCHEME://" with no host: the AWS endpoint */
	char host[AWS_HOST_MAX]; /* "host" or "host:port"; "" when aws */
	struct query query; /* the parameters, decoded */
};

/*
 * Parse url, whose scheme must be `scheme` ("s3" or "dynamodb") optionally
 * followed by "+http" or "+https".  Accepted: "S://" (AWS, https) with an
 * optional "/?query"; "S+http://HOST[:PORT][/][?query]".  No user info, no
 * path other than "/", no fragment.  The query follows core/query.h's
 * rules (ASCII values, each name once, empty sequences skipped), and every
 * name must be one of the NULL-terminated list `known`: a typo in a URL
 * must not be silently ignored.  IP_EINVAL otherwise, with a message
 * naming the fault.
 */
int aws_url_parse(const char *url, const char *scheme, const char *const *known,
		  struct aws_url *out, struct ip_error *err);

/* The client options every backend URL may set, into o: attempts
 * (1..AWS_ATTEMPTS_MAX, default AWS_ATTEMPTS_DEFAULT) and timeout (the
 * seconds below 1 B/s that abort a transfer, 1..3600, default 30). */
int aws_url_client_opts(const struct aws_url *u, struct aws_client_opts *o,
			struct ip_error *err);

#endif
