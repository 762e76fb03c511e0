/*
 * aws_url.c - backend URLs of the AWS-protocol backends (see aws_url.h).
 * Called by the S3 and DynamoDB constructors at start-up, any thread.
 *
 * DESIGN
 *
 * The scheme says the endpoint ("s3://" is AWS itself, "s3+http://HOST"
 * anything S3-compatible) and the query carries the backend's settings.
 * The query is core/query.h's, the parser every URL and API query string
 * of the program shares, so "a=1&&b=2" means the same here as for Redis.
 * Names are checked against the backend's list right here, because a
 * parameter spelt wrong must stop the start-up, not be ignored.
 */
#include "aws/aws_url.h"

#include <ctype.h>
#include <string.h>

#include "core/config.h"

static bool
aws_url_host_char(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' ||
	       c == ']' || c == '_';
}

/* p[0, hlen) as the host of u; IP_EINVAL if it is not one. */
static int
aws_url_host(const char *p, size_t hlen, struct aws_url *u,
	     struct ip_error *err)
{
	if (hlen == 0)
		return ip_error_set(err, IP_EINVAL, "URL has no host");
	if (hlen >= sizeof(u->host))
		return ip_error_set(err, IP_EINVAL, "host too long");
	for (size_t i = 0; i < hlen; i++)
		if (!aws_url_host_char((unsigned char)p[i]))
			return ip_error_set(err, IP_EINVAL,
					    "bad character in URL host");
	if (p[0] == ':' || p[hlen - 1] == ':')
		return ip_error_set(err, IP_EINVAL, "bad URL host");
	memcpy(u->host, p, hlen);
	u->host[hlen] = '\0';
	return IP_OK;
}

int
aws_url_parse(const char *url, const char *scheme, const char *const *known,
	      struct aws_url *out, struct ip_error *err)
{
	size_t n = strlen(scheme);
	const char *p;
	size_t hlen;
	int rc;

	memset(out, 0, sizeof(*out));
	if (url == NULL || strncmp(url, scheme, n) != 0)
		return ip_error_set(err, IP_EINVAL, "not a %s URL", scheme);
	if (strnlen(url, CONFIG_URL_MAX) >= CONFIG_URL_MAX)
		return ip_error_set(err, IP_EINVAL, "URL too long");
	if (strchr(url, '#') != NULL)
		return ip_error_set(err, IP_EINVAL, "URL has a fragment");
	p = url + n;
	if (strncmp(p, "://", 3) == 0) {
		out->aws = true;
		out->https = true;
		p += 3;
	} else if (strncmp(p, "+http://", 8) == 0) {
		p += 8;
	} else if (strncmp(p, "+https://", 9) == 0) {
		out->https = true;
		p += 9;
	} else {
		return ip_error_set(err, IP_EINVAL,
				    "expected %s://, %s+http:// or "
				    "%s+https://",
				    scheme, scheme, scheme);
	}
	hlen = strcspn(p, "/?");
	if (out->aws && hlen != 0)
		return ip_error_set(err, IP_EINVAL,
				    "%s:// names the AWS endpoint and takes no "
				    "host (use %s+https://HOST for another)",
				    scheme, scheme);
	if (!out->aws) {
		rc = aws_url_host(p, hlen, out, err);
		if (rc != IP_OK)
			return rc;
	}
	p += hlen;
	if (*p == '/')
		p++;
	if (*p != '\0' && *p != '?')
		return ip_error_set(err, IP_EINVAL,
				    "URL path must be empty or \"/\"");
	if (*p == '?')
		p++;
	rc = query_parse(p, strlen(p), QUERY_ASCII_ONLY, &out->query, err);
	if (rc == IP_OK)
		rc = query_check_known(&out->query, known, err);
	if (rc != IP_OK)
		ip_error_prefix(err, "URL");
	return rc;
}

int
aws_url_client_opts(const struct aws_url *u, struct aws_client_opts *o,
		    struct ip_error *err)
{
	int64_t attempts;
	int64_t timeout;
	int rc;

	rc = query_int(&u->query, "attempts", AWS_ATTEMPTS_DEFAULT, 1,
		       AWS_ATTEMPTS_MAX, &attempts, err);
	if (rc == IP_OK)
		rc =
		    query_int(&u->query, "timeout", 30, 1, 3600, &timeout, err);
	if (rc != IP_OK)
		return rc;
	o->attempts = (int)attempts;
	o->low_speed_s = (int)timeout;
	return IP_OK;
}
