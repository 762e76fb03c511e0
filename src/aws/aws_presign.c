/*
 * aws_presign.c - SigV4 query-string signing (see aws_presign.h).  Called
 * by objstore_s3.c from any thread; no shared state.
 *
 * DESIGN
 *
 * A presigned URL is the signature of a canonical request whose query
 * already holds the X-Amz-* parameters (all but the signature itself):
 *
 *   METHOD \n PATH \n SORTED-QUERY \n host:HOST \n \n host \n
 *   UNSIGNED-PAYLOAD
 *
 * signed with the key derived from the secret, the date, the region and
 * the service.  The query is built by aws_query_build, the one canonical
 * encoder the signed requests use too, so the URL handed out is exactly
 * the string that was signed.
 */
#include "aws/aws_presign.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aws/aws_client.h"
#include "aws/aws_uri.h"

#define PRESIGN_QUERY_MAX 4096
#define PRESIGN_CANON_MAX (PRESIGN_QUERY_MAX + 8192)

/* out = HMAC-SHA256(key, msg); out holds 32 bytes. */
static void
hmac(const guchar *key, gsize key_len, const char *msg, guint8 out[32])
{
	GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, key, key_len);
	gsize n = 32;

	g_hmac_update(h, (const guchar *)msg, (gssize)strlen(msg));
	g_hmac_get_digest(h, out, &n);
	g_hmac_unref(h);
}

static void
signing_key(const struct aws_creds *c, const char *date, const char *service,
	    guint8 out[32])
{
	char k0[sizeof(c->secret_access_key) + 8];
	guint8 k1[32];
	guint8 k2[32];
	guint8 k3[32];

	snprintf(k0, sizeof(k0), "AWS4%s", c->secret_access_key);
	hmac((const guchar *)k0, strlen(k0), date, k1);
	hmac(k1, 32, c->region, k2);
	hmac(k2, 32, service, k3);
	hmac(k3, 32, "aws4_request", out);
	memset(k0, 0, sizeof(k0));
}

static bool
request_ok(const struct aws_presign_request *rq)
{
	return rq->method != NULL && rq->method[0] != '\0' &&
	       rq->host != NULL && rq->host[0] != '\0' &&
	       strpbrk(rq->host, "/?# \r\n") == NULL && rq->path != NULL &&
	       rq->path[0] == '/' && strpbrk(rq->path, "?# \r\n") == NULL &&
	       rq->service != NULL && rq->service[0] != '\0' &&
	       rq->expires_s >= 1 && rq->expires_s <= AWS_PRESIGN_EXPIRES_MAX &&
	       rq->now_s > 0;
}

int
aws_presign_url(const struct aws_creds *creds,
		const struct aws_presign_request *rq, char *out, size_t size,
		struct ip_error *err)
{
	char date[16], amzdate[32], expires[24];
	char credential[sizeof(creds->access_key_id) + 128];
	char query[PRESIGN_QUERY_MAX];
	char canon[PRESIGN_CANON_MAX];
	char sts[256];
	char canon_hash[65];
	char sig_hex[65];
	guint8 key[32], sig[32];
	const char *names[6] = {"X-Amz-Algorithm",     "X-Amz-Credential",
				"X-Amz-Date",	       "X-Amz-Expires",
				"X-Amz-SignedHeaders", "X-Amz-Security-Token"};
	const char *values[6];
	time_t t;
	struct tm tm;
	int rc;
	int n;

	if (!request_ok(rq) || creds->region[0] == '\0')
		return ip_error_set(err, IP_EINVAL, "presign: bad request");
	t = (time_t)rq->now_s;
	if (gmtime_r(&t, &tm) == NULL)
		return ip_error_set(err, IP_EINVAL, "presign: bad time");
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	strftime(amzdate, sizeof(amzdate), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(expires, sizeof(expires), "%" PRId64, rq->expires_s);
	snprintf(credential, sizeof(credential), "%s/%s/%s/%s/aws4_request",
		 creds->access_key_id, date, creds->region, rq->service);
	values[0] = "AWS4-HMAC-SHA256";
	values[1] = credential;
	values[2] = amzdate;
	values[3] = expires;
	values[4] = "host";
	values[5] = creds->session_token;
	rc = aws_query_build(names, values,
			     creds->session_token[0] != '\0' ? 6 : 5, query,
			     sizeof(query), err);
	if (rc != IP_OK)
		return rc;
	n = snprintf(canon, sizeof(canon), "%s\n%s\n%s\nhost:%s\n\nhost\n%s",
		     rq->method, rq->path, query, rq->host,
		     AWS_UNSIGNED_PAYLOAD);
	if (n < 0 || (size_t)n >= sizeof(canon))
		return ip_error_set(err, IP_EINVAL, "presign: URL too long");
	aws_sha256_hex(canon, (size_t)n, canon_hash);
	snprintf(sts, sizeof(sts),
		 "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amzdate,
		 date, creds->region, rq->service, canon_hash);
	signing_key(creds, date, rq->service, key);
	hmac(key, 32, sts, sig);
	memset(key, 0, sizeof(key));
	for (size_t i = 0; i < 32; i++)
		snprintf(sig_hex + 2 * i, 3, "%02x", sig[i]);
	n = snprintf(out, size, "%s://%s%s?%s&X-Amz-Signature=%s",
		     rq->https ? "https" : "http", rq->host, rq->path, query,
		     sig_hex);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			out[0] = '\0';
		return ip_error_set(err, IP_EINVAL, "presign: URL too long");
	}
	return IP_OK;
}
