/*
 * aws_creds.c - AWS credentials and region from the configuration or the
 * environment (see aws_creds.h).  Called by the backends' constructors at
 * start-up.
 *
 * DESIGN
 *
 * The order is the AWS SDKs' where it matters to an operator: explicit
 * configuration first, then the standard environment variables (which is
 * how Lambda hands a function its role's session credentials).  The key
 * pair is taken from one place, never half from each, so a stale
 * environment cannot pair its secret with a configured key id.  Values
 * are checked here once, because they end up in HTTP headers.
 */
#include "aws/aws_creds.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Printable ASCII without spaces; no ':' when colon_ok is false. */
static bool
cred_ok(const char *s, bool colon_ok)
{
	for (; *s != '\0'; s++)
		if (*s <= 0x20 || *s > 0x7e || (*s == ':' && !colon_ok))
			return false;
	return true;
}

static bool
region_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= AWS_REGION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) ||
		      isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Copy src into dst[size]; IP_EINVAL naming what if it does not fit. */
static int
copy_setting(char *dst, size_t size, const char *src, const char *what,
	     struct ip_error *err)
{
	if (util_strlcpy(dst, src, size) >= size)
		return ip_error_set(err, IP_EINVAL, "%s too long", what);
	return IP_OK;
}

int
aws_creds_load(const struct config *cfg, const char *url_region,
	       struct aws_creds *out, struct ip_error *err)
{
	const char *id = cfg->aws_access_key_id;
	const char *secret = cfg->aws_secret_access_key;
	const char *token = cfg->aws_session_token;
	const char *region = url_region;
	int rc;

	memset(out, 0, sizeof(*out));
	if (id[0] == '\0' && secret[0] == '\0') {
		id = env_nonempty("AWS_ACCESS_KEY_ID");
		secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
		if (token[0] == '\0')
			token = env_nonempty("AWS_SESSION_TOKEN");
	}
	if (id == NULL || secret == NULL || id[0] == '\0' || secret[0] == '\0')
		return ip_error_set(err, IP_EAUTH,
				    "no AWS credentials: set [aws] "
				    "access_key_id and secret_access_key, or "
				    "AWS_ACCESS_KEY_ID and "
				    "AWS_SECRET_ACCESS_KEY");
	if (token == NULL)
		token = "";
	if (region == NULL || region[0] == '\0')
		region = cfg->aws_region;
	if (region[0] == '\0')
		region = env_nonempty("AWS_REGION");
	if (region == NULL)
		region = env_nonempty("AWS_DEFAULT_REGION");
	if (region == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "no AWS region: set ?region= in the URL, "
				    "[aws] region or AWS_REGION");
	if (!cred_ok(id, false) || !cred_ok(secret, true) ||
	    !cred_ok(token, true))
		return ip_error_set(err, IP_EINVAL,
				    "AWS credentials hold invalid characters");
	if (!region_ok(region))
		return ip_error_set(err, IP_EINVAL, "bad AWS region \"%.40s\"",
				    region);
	rc = copy_setting(out->access_key_id, sizeof(out->access_key_id), id,
			  "AWS access key id", err);
	if (rc == IP_OK)
		rc = copy_setting(out->secret_access_key,
				  sizeof(out->secret_access_key), secret,
				  "AWS secret access key", err);
	if (rc == IP_OK)
		rc =
		    copy_setting(out->session_token, sizeof(out->session_token),
				 token, "AWS session token", err);
	if (rc == IP_OK)
		rc = copy_setting(out->region, sizeof(out->region), region,
				  "AWS region", err);
	return rc;
}
