/*
 * aws_creds.h - AWS credentials and region (aws_creds.c), read once by
 * each backend's constructor at start-up.  Reads the environment: call it
 * before threads that might setenv() start (none of ours does).
 */
#ifndef IMGPIPE_AWS_CREDS_H
#define IMGPIPE_AWS_CREDS_H

#include "core/config.h"
#include "core/error.h"

#define AWS_REGION_MAX 32

struct aws_creds {
	char access_key_id[128];
	char secret_access_key[128];
	char session_token[2048]; /* "" when none */
	char region[AWS_REGION_MAX];
};

/*
 * Credentials from cfg->aws_* or else the AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN environment; region from
 * url_region (the URL's ?region=) if non-empty, else cfg->aws_region, else
 * AWS_REGION / AWS_DEFAULT_REGION.  IP_EAUTH if no key pair is found,
 * IP_EINVAL for a malformed value (every value must be printable ASCII
 * without ':' in the key id; the region [a-z0-9-]).  The caller should
 * wipe *out once it has handed it to aws_client_new.
 */
int aws_creds_load(const struct config *cfg, const char *url_region,
		   struct aws_creds *out, struct ip_error *err);

#endif
