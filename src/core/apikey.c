/*
 * apikey.c - API keys (apikey.h): making, recognising and storing them.
 */
#include "core/apikey.h"

#include <glib.h>
#include <jansson.h>
#include <string.h>
#include <sys/random.h>

#include "core/util.h"

static const char *const scope_names[] = {"none", "read", "write", "admin"};

int
apikey_scope_parse(const char *s)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(scope_names); i++)
		if (strcmp(s, scope_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
apikey_scope_name(enum apikey_scope s)
{
	return (unsigned)s < UTIL_ARRAY_LEN(scope_names) ? scope_names[s] : "?";
}

bool
apikey_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= APIKEY_NAME_MAX)
		return false;
	return strspn(name,
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._-") == n;
}

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool
apikey_id_valid(const char *s)
{
	return strlen(s) == APIKEY_ID_LEN && strspn(s, b32) == APIKEY_ID_LEN;
}

static void
token_hash(const char *token, char out[65])
{
	gchar *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token,
						   (gssize)strlen(token));

	snprintf(out, 65, "%s", hex != NULL ? hex : "");
	g_free(hex);
}

int
apikey_new(struct apikey *k, const char *name, enum apikey_scope scope,
	   int64_t expires_ms, char *token, struct ip_error *err)
{
	unsigned char rnd[10 + 32];
	char secret[APIKEY_SECRET_LEN + 1];
	size_t bit = 0;

	memset(k, 0, sizeof(*k));
	if (!apikey_name_valid(name))
		return ip_error_set(err, IP_EINVAL,
				    "a key name is 1 to %d characters of "
				    "A-Z a-z 0-9 . _ -",
				    APIKEY_NAME_MAX - 1);
	if (scope < APIKEY_READ || scope > APIKEY_ADMIN)
		return ip_error_set(err, IP_EINVAL,
				    "scope must be read, write or admin");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return ip_error_set(err, IP_EIO, "getrandom failed");
	/* 16 base32 digits of the first 80 bits. */
	for (size_t i = 0; i < APIKEY_ID_LEN; i++, bit += 5) {
		unsigned v = ((unsigned)rnd[bit / 8] << 8 |
			      (bit / 8 + 1 < 10 ? rnd[bit / 8 + 1] : 0)) >>
			     (11 - bit % 8);
		k->id[i] = b32[v & 31];
	}
	/* 43 base64url digits of the next 256 bits (the last holds 4). */
	bit = 0;
	for (size_t i = 0; i < APIKEY_SECRET_LEN; i++, bit += 6) {
		const unsigned char *s = rnd + 10;
		unsigned v = ((unsigned)s[bit / 8] << 8 |
			      (bit / 8 + 1 < 32 ? s[bit / 8 + 1] : 0)) >>
			     (10 - bit % 8);
		secret[i] = b64url[v & 63];
	}
	secret[APIKEY_SECRET_LEN] = '\0';
	snprintf(token, APIKEY_TOKEN_SIZE, "ipk_%s_%s", k->id, secret);
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->scope = scope;
	k->created_ms = util_now_ms();
	k->expires_ms = expires_ms;
	token_hash(token, k->hash);
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(secret, sizeof(secret));
	return IP_OK;
}

bool
apikey_token_id(const char *token, char id[APIKEY_ID_LEN + 1])
{
	const char *p = token;

	if (strlen(token) != APIKEY_TOKEN_SIZE - 1 ||
	    strncmp(p, "ipk_", 4) != 0)
		return false;
	p += 4;
	if (strspn(p, b32) < APIKEY_ID_LEN || p[APIKEY_ID_LEN] != '_')
		return false;
	if (strspn(p + APIKEY_ID_LEN + 1, b64url) != APIKEY_SECRET_LEN)
		return false;
	memcpy(id, p, APIKEY_ID_LEN);
	id[APIKEY_ID_LEN] = '\0';
	return true;
}

bool
apikey_token_matches(const struct apikey *k, const char *token)
{
	char h[65];
	unsigned diff = 0;

	token_hash(token, h);
	for (size_t i = 0; i < 64; i++)
		diff |= (unsigned)(h[i] ^ k->hash[i]);
	return diff == 0 && strlen(k->hash) == 64;
}

const char *
apikey_unusable(const struct apikey *k, int64_t now_ms)
{
	if (k->revoked_ms != 0)
		return "revoked";
	if (k->expires_ms != 0 && now_ms >= k->expires_ms)
		return "expired";
	return NULL;
}

char *
apikey_to_string(const struct apikey *k)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "id", k->id, "name", k->name,
	    "scope", apikey_scope_name(k->scope), "created_ms",
	    (json_int_t)k->created_ms, "expires_ms", (json_int_t)k->expires_ms,
	    "revoked_ms", (json_int_t)k->revoked_ms, "hash", k->hash);
	char *s;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int
apikey_from_string(const char *text, size_t len, struct apikey *k,
		   struct ip_error *err)
{
	json_t *o;
	const char *id = NULL, *name = NULL, *scope = NULL, *hash = NULL;
	json_int_t created = 0, expires = 0, revoked = 0;
	int s;
	int rc = IP_OK;

	memset(k, 0, sizeof(*k));
	if (len > APIKEY_DOC_MAX)
		return ip_error_set(err, IP_EBACKEND, "stored key: too long");
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL ||
	    json_unpack(o, "{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "id", &id,
			"name", &name, "scope", &scope, "created_ms", &created,
			"expires_ms", &expires, "revoked_ms", &revoked, "hash",
			&hash) != 0) {
		rc = ip_error_set(err, IP_EBACKEND, "stored key: damaged");
		goto out;
	}
	s = apikey_scope_parse(scope);
	if (!apikey_id_valid(id) || !apikey_name_valid(name) ||
	    s < APIKEY_READ || strlen(hash) != 64 ||
	    strspn(hash, "0123456789abcdef") != 64 || created < 0 ||
	    expires < 0 || revoked < 0) {
		rc = ip_error_set(err, IP_EBACKEND, "stored key: damaged");
		goto out;
	}
	snprintf(k->id, sizeof(k->id), "%s", id);
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->hash, sizeof(k->hash), "%s", hash);
	k->scope = (enum apikey_scope)s;
	k->created_ms = created;
	k->expires_ms = expires;
	k->revoked_ms = revoked;
out:
	json_decref(o);
	return rc;
}
