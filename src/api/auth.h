/*
 * auth.h - who may call a route: API keys, signed URLs and the
 * cross-origin rules (docs/SECURITY.md).
 *
 * Called by api.c once a request is routed, on the request's thread, for
 * every transport.  The state (parsed signing secrets, a small cache of
 * keys looked up in the table) lives in struct api and is shared by every
 * request: the cache has its own lock.
 *
 * DESIGN.  Each route declares the scope it needs (routes.c); a key's
 * scope must be at least that (admin > write > read).  The bytes routes
 * also take a signed URL, and the variants none at all with
 * output.public_variants.  Keys are looked up by their public id and
 * compared by hash (core/apikey.h); a lookup is trusted for
 * auth.key_cache seconds, so a revocation reaches every gateway within
 * that time, and an unknown id costs one table read per that time too.
 */
#ifndef IMGPIPE_API_AUTH_H
#define IMGPIPE_API_AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/apikey.h"
#include "core/error.h"
#include "core/urlsign.h"

struct api;
struct api_request;
struct config;

#define AUTH_CACHE_SLOTS 64

struct auth {
	bool on; /* requests need a key (server.auth resolved) */
	struct urlsign_keys signing;
	pthread_mutex_t lock; /* the cache */
	struct auth_slot {
		char id[APIKEY_ID_LEN + 1]; /* "" = free */
		bool found;
		struct apikey key;
		int64_t at_ms; /* monotonic */
	} slots[AUTH_CACHE_SLOTS];
};

/* True if listen (server.listen) names only loopback addresses. */
bool auth_listen_is_loopback(const char *listen);

/* Set up a from cfg, with auth on or off as the host resolved it.  The
 * signing secrets were checked by config_validate.  auth_fini frees. */
void auth_init(struct auth *a, const struct config *cfg, bool on);
void auth_fini(struct auth *a);

/* May rq (routed) go on?  IP_OK, with rq->key_name set when a key or a
 * signed URL admitted it; IP_EAUTH (401: no, bad, revoked or expired
 * credentials), IP_EFORBIDDEN (403: a key of too low a scope, or a
 * cross-site write), IP_EBACKEND (the table could not be read).
 * raw_path is the path as the client sent it (what a URL signs). */
int auth_request(struct api_request *rq, const char *raw_path,
		 struct ip_error *err);

#endif
