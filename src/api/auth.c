/*
 * auth.c - API keys, signed URLs and scopes per route (auth.h).
 */
#include "api/auth.h"

#include <arpa/inet.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/admission.h"
#include "api/api.h"
#include "api/cors.h"
#include "app/app.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "table/table.h"

bool
auth_listen_is_loopback(const char *listen)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(listen, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, listen, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, listen, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false; /* "" (every address) or a host name */
}

void
auth_init(struct auth *a, const struct config *cfg, bool on)
{
	struct ip_error err;

	memset(a, 0, sizeof(*a));
	a->on = on;
	pthread_mutex_init(&a->lock, NULL);
	if (urlsign_parse(cfg->signing_secrets, &a->signing, &err) != IP_OK) {
		/* config_validate refused it already; be safe anyway. */
		log_error("%s: signed URLs are off", err.msg);
		memset(&a->signing, 0, sizeof(a->signing));
	}
}

void
auth_fini(struct auth *a)
{
	pthread_mutex_destroy(&a->lock);
	explicit_bzero(&a->signing, sizeof(a->signing));
}

/* The scope rq's route needs, after the settings that open a route. */
static enum apikey_scope
needed_scope(const struct api_request *rq)
{
	const struct config *cfg = &rq->app->cfg;
	const struct route *r = rq->match.route;

	if (r->id == ROUTE_METRICS && cfg->metrics_public)
		return APIKEY_NONE;
	if (r->id == ROUTE_IMAGE_VARIANT && cfg->public_variants)
		return APIKEY_NONE;
	return r->scope;
}

/* The token the request presents, copied to out; false if none.
 * Authorization: Bearer T, Authorization: Basic base64(any:T) (what an
 * S3 store's push endpoint URL http://imgpipe:T@host can carry), or
 * X-Api-Key: T. */
static bool
presented_token(const struct api_request *rq, char *out, size_t len)
{
	const char *h = api_header(rq, "Authorization");
	const char *x = api_header(rq, "X-Api-Key");

	out[0] = '\0';
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		snprintf(out, len, "%s", h + 7);
	} else if (h != NULL && strncasecmp(h, "Basic ", 6) == 0 &&
		   strlen(h) < 256) {
		gsize n = 0;
		guchar *raw = g_base64_decode(h + 6, &n);
		const char *colon = raw != NULL ? memchr(raw, ':', n) : NULL;

		if (colon != NULL && memchr(raw, '\0', n) == NULL)
			snprintf(out, len, "%.*s",
				 (int)(n - (size_t)(colon + 1 - (char *)raw)),
				 colon + 1);
		g_free(raw);
	} else if (x != NULL) {
		snprintf(out, len, "%s", x);
	}
	return out[0] != '\0';
}

/* The key of id: from the cache while fresh, else the table.  IP_OK,
 * IP_ENOTFOUND, or the table's error (not cached). */
static int
key_lookup(struct api_request *rq, const char *id, struct apikey *out,
	   struct ip_error *err)
{
	struct auth *a = &rq->api->auth;
	int64_t ttl = (int64_t)rq->app->cfg.key_cache_s * 1000;
	int64_t now = util_mono_ms();
	struct auth_slot *oldest = &a->slots[0];
	int rc;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; ttl > 0 && i < AUTH_CACHE_SLOTS; i++) {
		struct auth_slot *s = &a->slots[i];

		if (strcmp(s->id, id) == 0 && now - s->at_ms < ttl) {
			*out = s->key;
			rc = s->found ? IP_OK : IP_ENOTFOUND;
			pthread_mutex_unlock(&a->lock);
			if (rc != IP_OK)
				ip_error_set(err, rc, "no key %s", id);
			return rc;
		}
	}
	pthread_mutex_unlock(&a->lock);
	rc = table_key_get(rq->app->table, id, out, err);
	if ((rc != IP_OK && rc != IP_ENOTFOUND) || ttl == 0)
		return rc;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++) {
		struct auth_slot *s = &a->slots[i];

		if (strcmp(s->id, id) == 0 || s->id[0] == '\0') {
			oldest = s;
			break;
		}
		if (s->at_ms < oldest->at_ms)
			oldest = s;
	}
	snprintf(oldest->id, sizeof(oldest->id), "%s", id);
	oldest->found = rc == IP_OK;
	oldest->key = *out;
	oldest->at_ms = now;
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* A signed URL on a bytes route. */
static int
auth_signed(struct api_request *rq, const char *raw_path, struct ip_error *err)
{
	const struct urlsign_keys *keys = &rq->api->auth.signing;
	int rc;

	if (keys->n == 0)
		return ip_error_set(err, IP_EAUTH,
				    "signed URLs are not enabled on this "
				    "server (auth.signing_secrets)");
	rc = urlsign_verify(keys, rq->method, raw_path,
			    api_query(rq, "expires"), api_query(rq, "kid"),
			    api_query(rq, "sig"), util_now_ms() / 1000, err);
	if (rc == IP_OK)
		snprintf(rq->key_name, sizeof(rq->key_name), "signed:%s",
			 api_query(rq, "kid"));
	return rc;
}

int
auth_request(struct api_request *rq, const char *raw_path, struct ip_error *err)
{
	const struct auth *a = &rq->api->auth;
	enum apikey_scope need;
	char token[APIKEY_TOKEN_SIZE + 64];
	char id[APIKEY_ID_LEN + 1];
	struct apikey k;
	const char *why;
	int rc;

	rc = cors_check_write(rq, err);
	if (rc != IP_OK)
		return rc;
	need = needed_scope(rq);
	if ((rq->match.route->id == ROUTE_IMAGE_ORIGINAL ||
	     rq->match.route->id == ROUTE_IMAGE_VARIANT) &&
	    api_query(rq, "sig") != NULL) {
		/* Checked even when no key is needed: a signed spec passes
		 * the on-demand rules (api/ondemand.h). */
		rc = auth_signed(rq, raw_path, err);
		rq->url_signed = rc == IP_OK;
		if (a->on && need != APIKEY_NONE)
			return rc;
		ip_error_clear(err);
		return IP_OK;
	}
	if (!a->on || need == APIKEY_NONE)
		return IP_OK;
	if (!presented_token(rq, token, sizeof(token)))
		return ip_error_set(err, IP_EAUTH,
				    "this route needs an API key: "
				    "Authorization: Bearer ipk_...");
	/* A client that keeps presenting wrong keys is refused before the
	 * table is read again. */
	rc = admission_auth_check(rq->app, rq->client, &rq->retry_after_s, err);
	if (rc != IP_OK) {
		explicit_bzero(token, sizeof(token));
		return rc;
	}
	if (!apikey_token_id(token, id)) {
		explicit_bzero(token, sizeof(token));
		admission_auth_failed(rq->app, rq->client);
		return ip_error_set(err, IP_EAUTH, "not an imgpipe API key");
	}
	rc = key_lookup(rq, id, &k, err);
	if (rc == IP_ENOTFOUND ||
	    (rc == IP_OK && !apikey_token_matches(&k, token)))
		rc = ip_error_set(err, IP_EAUTH, "unknown API key");
	explicit_bzero(token, sizeof(token));
	if (rc == IP_OK && (why = apikey_unusable(&k, util_now_ms())) != NULL)
		rc = ip_error_set(err, IP_EAUTH, "API key %s is %s", k.name,
				  why);
	if (rc == IP_EAUTH)
		admission_auth_failed(rq->app, rq->client);
	if (rc != IP_OK)
		return rc;
	snprintf(rq->key_name, sizeof(rq->key_name), "%s", k.name);
	if (k.scope < need)
		return ip_error_set(err, IP_EFORBIDDEN,
				    "API key %s has scope %s; this route "
				    "needs %s",
				    k.name, apikey_scope_name(k.scope),
				    apikey_scope_name(need));
	return IP_OK;
}
