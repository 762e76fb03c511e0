/*
 * urlsign.h - signed URLs for the bytes routes: a link that lets whoever
 * holds it GET one path until a time, without an API key.
 *
 * The format, for a client to build in a few lines (docs/SECURITY.md):
 *     PATH?expires=E&kid=K&sig=S
 * E: Unix time in seconds after which the link is refused;
 * K: which signing secret (auth.signing_keys lists "K:SECRET" pairs;
 *    the first signs, all of them verify, so a secret can be rotated);
 * S: lower-case hex HMAC-SHA256, keyed with SECRET, of
 *        "GET" "\n" PATH "\n" E
 *    where PATH is the path exactly as it appears in the URL (still
 *    percent-encoded, no query).  A HEAD is accepted with a GET's
 *    signature.
 *
 * Called by api/auth.c (verify) and main.c (`imgpipe sign`, and parsing
 * the setting at start-up).  Pure functions: any thread.
 */
#ifndef IMGPIPE_URLSIGN_H
#define IMGPIPE_URLSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define URLSIGN_KEYS_MAX 8
#define URLSIGN_KID_MAX 17 /* 1..16 characters of [A-Za-z0-9], NUL */
#define URLSIGN_SECRET_MIN 32
#define URLSIGN_SECRET_MAX 256
#define URLSIGN_SIG_LEN 64
/* A link may not live longer than this (a leaked link dies by itself). */
#define URLSIGN_LIFE_MAX_S (30 * 86400)

struct urlsign_keys {
	size_t n; /* 0: signed URLs are off */
	struct urlsign_key {
		char kid[URLSIGN_KID_MAX];
		char secret[URLSIGN_SECRET_MAX + 1];
	} keys[URLSIGN_KEYS_MAX];
};

/* Parse auth.signing_keys: "K:SECRET[,K:SECRET...]" ("" = none).
 * IP_EINVAL naming what is wrong (never quoting a secret). */
int urlsign_parse(const char *setting, struct urlsign_keys *out,
		  struct ip_error *err);

/* The query "expires=E&kid=K&sig=S" for GET path, signed with the first
 * key.  false if there is no key or it does not fit out_len. */
bool urlsign_sign(const struct urlsign_keys *keys, const char *path,
		  int64_t expires_s, char *out, size_t out_len);

/* Check a request for method on path with these query values (any may be
 * NULL).  IP_OK; IP_EAUTH with the reason (expired, unknown kid, bad
 * signature, life above URLSIGN_LIFE_MAX_S); IP_EINVAL when malformed. */
int urlsign_verify(const struct urlsign_keys *keys, const char *method,
		   const char *path, const char *expires, const char *kid,
		   const char *sig, int64_t now_s, struct ip_error *err);

#endif
