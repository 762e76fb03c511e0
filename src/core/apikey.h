/*
 * apikey.h - API keys: their shape, their scopes, and how a presented
 * token is checked against a stored key.
 *
 * A token is shown once, at creation:
 *     ipk_<id>_<secret>
 * <id> is 16 characters of lower-case base32 (80 random bits), the key's
 * public name in logs and in the table; <secret> is 43 characters of
 * base64url (256 random bits).  The table keeps the id, the key's name,
 * scope, times and the SHA-256 of the whole token, never the token: a
 * fast hash is enough for 256 random bits (nothing to brute-force), and
 * it is compared in constant time.
 *
 * Scopes are ordered: admin > write > read, and a key may do what its
 * scope and every lower scope allow.
 *
 * Called by api/auth.c (every request with a key), main.c (`imgpipe
 * keys`) and the table backends (the stored form).  Pure functions:
 * any thread.
 */
#ifndef IMGPIPE_APIKEY_H
#define IMGPIPE_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define APIKEY_ID_LEN 16
#define APIKEY_SECRET_LEN 43
/* "ipk_" id "_" secret, and the NUL. */
#define APIKEY_TOKEN_SIZE (4 + APIKEY_ID_LEN + 1 + APIKEY_SECRET_LEN + 1)
#define APIKEY_NAME_MAX 64 /* with the NUL */
/* The stored form (JSON) is far below this. */
#define APIKEY_DOC_MAX 1024

enum apikey_scope {
	APIKEY_NONE = 0, /* a route anyone may call (health) */
	APIKEY_READ,
	APIKEY_WRITE,
	APIKEY_ADMIN,
};

struct apikey {
	char id[APIKEY_ID_LEN + 1];
	char name[APIKEY_NAME_MAX];
	enum apikey_scope scope;
	int64_t created_ms;
	int64_t expires_ms; /* 0: never */
	int64_t revoked_ms; /* 0: not revoked */
	char hash[65]; /* SHA-256 of the token, lower-case hex */
};

/* "read", "write", "admin" (and "none"); -1 / "?" for anything else. */
int apikey_scope_parse(const char *s);
const char *apikey_scope_name(enum apikey_scope s);

/* A name is 1..63 bytes of [A-Za-z0-9._-]: safe in logs and URLs. */
bool apikey_name_valid(const char *name);

/* A new key: fresh id and secret, created now.  The token (the only copy
 * of the secret) goes to token[APIKEY_TOKEN_SIZE].  IP_EINVAL for a bad
 * name or scope, IP_EIO if the system has no randomness. */
int apikey_new(struct apikey *k, const char *name, enum apikey_scope scope,
	       int64_t expires_ms, char *token, struct ip_error *err);

/* The id of a presented token, if it has a token's shape; false for
 * anything else (never looked up then). */
bool apikey_token_id(const char *token, char id[APIKEY_ID_LEN + 1]);

/* True if token is k's (constant-time in the hash). */
bool apikey_token_matches(const struct apikey *k, const char *token);

/* Why k may not be used at now_ms ("revoked", "expired"), or NULL. */
const char *apikey_unusable(const struct apikey *k, int64_t now_ms);

/* The stored form: a JSON object text (malloc'd) and back.  from_string
 * validates every field (IP_EBACKEND for a damaged document). */
char *apikey_to_string(const struct apikey *k);
int apikey_from_string(const char *text, size_t len, struct apikey *k,
		       struct ip_error *err);

/* True if s is an id of the shape apikey_new makes. */
bool apikey_id_valid(const char *s);

#endif
