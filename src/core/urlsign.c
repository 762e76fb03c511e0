/*
 * urlsign.c - signed URLs (urlsign.h): HMAC-SHA256 through GLib.
 */
#include "core/urlsign.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const char alnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

int
urlsign_parse(const char *setting, struct urlsign_keys *out,
	      struct ip_error *err)
{
	const char *p = setting;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		const char *colon;
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		size_t kn;
		size_t sn;
		struct urlsign_key *k;

		while (n > 0 && *p == ' ')
			p++, n--;
		while (n > 0 && p[n - 1] == ' ')
			n--;
		colon = memchr(p, ':', n);
		if (colon == NULL)
			return ip_error_set(err, IP_EINVAL,
					    "auth.signing_keys: each entry is "
					    "KID:SECRET (entry %zu has no ':')",
					    out->n + 1);
		kn = (size_t)(colon - p);
		sn = n - kn - 1;
		if (kn == 0 || kn >= URLSIGN_KID_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "auth.signing_keys: a KID is 1 to "
					    "%d letters or digits",
					    URLSIGN_KID_MAX - 1);
		for (size_t i = 0; i < kn; i++)
			if (strchr(alnum, p[i]) == NULL)
				return ip_error_set(
				    err, IP_EINVAL,
				    "auth.signing_keys: a KID is 1 to %d "
				    "letters or digits",
				    URLSIGN_KID_MAX - 1);
		if (sn < URLSIGN_SECRET_MIN || sn > URLSIGN_SECRET_MAX)
			return ip_error_set(
			    err, IP_EINVAL,
			    "auth.signing_keys: the secret of "
			    "'%.*s' must be %d to %d characters "
			    "(e.g. `openssl rand -hex 32`)",
			    (int)kn, p, URLSIGN_SECRET_MIN, URLSIGN_SECRET_MAX);
		if (out->n == URLSIGN_KEYS_MAX)
			return ip_error_set(
			    err, IP_EINVAL,
			    "auth.signing_keys: at most %d keys",
			    URLSIGN_KEYS_MAX);
		k = &out->keys[out->n];
		memcpy(k->kid, p, kn);
		k->kid[kn] = '\0';
		memcpy(k->secret, colon + 1, sn);
		k->secret[sn] = '\0';
		for (size_t i = 0; i < out->n; i++)
			if (strcmp(out->keys[i].kid, k->kid) == 0)
				return ip_error_set(err, IP_EINVAL,
						    "auth.signing_keys: KID "
						    "'%s' appears twice",
						    k->kid);
		out->n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return IP_OK;
}

/* hex HMAC-SHA256 of "GET\npath\nexpires" into out[65]. */
static void
sign_with(const struct urlsign_key *k, const char *path, const char *expires,
	  char out[URLSIGN_SIG_LEN + 1])
{
	GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)k->secret,
			      strlen(k->secret));
	guint8 digest[32];
	gsize dn = sizeof(digest);

	g_hmac_update(h, (const guchar *)"GET\n", 4);
	g_hmac_update(h, (const guchar *)path, (gssize)strlen(path));
	g_hmac_update(h, (const guchar *)"\n", 1);
	g_hmac_update(h, (const guchar *)expires, (gssize)strlen(expires));
	g_hmac_get_digest(h, digest, &dn);
	g_hmac_unref(h);
	util_hex(digest, sizeof(digest), out);
}

bool
urlsign_sign(const struct urlsign_keys *keys, const char *path,
	     int64_t expires_s, char *out, size_t out_len)
{
	char e[24];
	char sig[URLSIGN_SIG_LEN + 1];
	int n;

	if (keys->n == 0)
		return false;
	snprintf(e, sizeof(e), "%lld", (long long)expires_s);
	sign_with(&keys->keys[0], path, e, sig);
	n = snprintf(out, out_len, "expires=%s&kid=%s&sig=%s", e,
		     keys->keys[0].kid, sig);
	return n > 0 && (size_t)n < out_len;
}

int
urlsign_verify(const struct urlsign_keys *keys, const char *method,
	       const char *path, const char *expires, const char *kid,
	       const char *sig, int64_t now_s, struct ip_error *err)
{
	const struct urlsign_key *k = NULL;
	char want[URLSIGN_SIG_LEN + 1];
	unsigned diff = 0;
	long long e;
	char *end;

	if (expires == NULL || kid == NULL || sig == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "a signed URL needs expires, kid and sig");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return ip_error_set(err, IP_EAUTH,
				    "a signed URL is for GET and HEAD only");
	errno = 0;
	e = strtoll(expires, &end, 10);
	if (errno != 0 || end == expires || *end != '\0' || e < 0 ||
	    expires[0] == '+' || (expires[0] == '0' && expires[1] != '\0'))
		return ip_error_set(err, IP_EINVAL,
				    "expires must be Unix time in seconds");
	if (strlen(sig) != URLSIGN_SIG_LEN ||
	    strspn(sig, "0123456789abcdef") != URLSIGN_SIG_LEN)
		return ip_error_set(err, IP_EINVAL,
				    "sig must be 64 lower-case hex digits");
	for (size_t i = 0; i < keys->n; i++)
		if (strcmp(keys->keys[i].kid, kid) == 0)
			k = &keys->keys[i];
	if (k == NULL)
		return ip_error_set(err, IP_EAUTH,
				    "signed URL: unknown kid (was its secret "
				    "rotated away?)");
	sign_with(k, path, expires, want);
	for (size_t i = 0; i < URLSIGN_SIG_LEN; i++)
		diff |= (unsigned)(want[i] ^ sig[i]);
	if (diff != 0)
		return ip_error_set(err, IP_EAUTH,
				    "signed URL: the signature does not match");
	if (e <= now_s)
		return ip_error_set(err, IP_EAUTH, "signed URL: expired");
	if (e - now_s > URLSIGN_LIFE_MAX_S)
		return ip_error_set(err, IP_EAUTH,
				    "signed URL: expires more than %d days "
				    "ahead",
				    URLSIGN_LIFE_MAX_S / 86400);
	return IP_OK;
}
