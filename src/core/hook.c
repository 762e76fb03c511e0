/*
 * hook.c - completion webhooks' vocabulary (see hook.h): the settings'
 * parsers, a delivery's id and stored form, the signature, the backoff.
 * Pure functions, called from any thread.
 */
#include "core/hook.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

static const char *const event_names[] = {"image.done", "image.failed"};
static const char *const state_names[] = {"pending", "dead"};

const char *
hook_event_name(enum hook_event e)
{
	return (unsigned)e < 2 ? event_names[e] : "?";
}

int
hook_event_parse(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (strcmp(s, event_names[i]) == 0)
			return i;
	return -1;
}

const char *
hook_state_name(enum hook_state s)
{
	return (unsigned)s < 2 ? state_names[s] : "?";
}

static int
state_parse(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* One URL of notify.url (n bytes at s): scheme, host, length, charset. */
static int
url_check(const char *s, size_t n, size_t index, struct ip_error *err)
{
	size_t skip;

	if (n == 0 || n >= HOOK_URL_MAX)
		return ip_error_set(
		    err, IP_EINVAL, "notify.url: URL %zu is %s (1..%d bytes)",
		    index + 1, n == 0 ? "empty" : "too long", HOOK_URL_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return ip_error_set(err, IP_EINVAL,
					    "notify.url: URL %zu has a blank "
					    "or non-ASCII character",
					    index + 1);
	if (n > 7 && g_ascii_strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (n > 8 && g_ascii_strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return ip_error_set(err, IP_EINVAL,
				    "notify.url: URL %zu must start with "
				    "http:// or https:// and name a host",
				    index + 1);
	if (s[skip] == '/' || s[skip] == ':' || s[skip] == '?' ||
	    s[skip] == '#')
		return ip_error_set(err, IP_EINVAL,
				    "notify.url: URL %zu has no host",
				    index + 1);
	return IP_OK;
}

/* The next item of a comma-separated setting at *p: its start, its
 * length in *n, and *p past its comma; NULL at the end.  After the last
 * item *p is NULL, unless the setting ended in a comma: then *p is the
 * empty item after it (which the caller may refuse). */
static const char *
list_next(const char **p, size_t *n)
{
	const char *item = *p;
	const char *comma;

	if (item == NULL || *item == '\0')
		return NULL;
	comma = strchr(item, ',');
	*n = comma != NULL ? (size_t)(comma - item) : strlen(item);
	*p = comma != NULL ? comma + 1 : NULL;
	return item;
}

int
hook_urls_parse(const char *setting, struct hook_urls *out,
		struct ip_error *err)
{
	const char *p = setting;
	const char *item;
	size_t n;

	memset(out, 0, sizeof(*out));
	while ((item = list_next(&p, &n)) != NULL) {
		int rc;

		if (out->n == HOOK_URLS_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "notify.url: more than %d URLs",
					    HOOK_URLS_MAX);
		rc = url_check(item, n, out->n, err);
		if (rc != IP_OK)
			return rc;
		memcpy(out->url[out->n], item, n);
		out->url[out->n++][n] = '\0';
	}
	/* "a,": an empty last URL */
	return p != NULL && out->n > 0 ? url_check(p, 0, out->n, err) : IP_OK;
}

int
hook_secrets_parse(const char *setting, struct hook_secrets *out,
		   struct ip_error *err)
{
	const char *p = setting;
	const char *item;
	size_t n;

	memset(out, 0, sizeof(*out));
	while ((item = list_next(&p, &n)) != NULL) {
		if (out->n == HOOK_SECRETS_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "notify.secret: more than %d "
					    "secrets",
					    HOOK_SECRETS_MAX);
		if (n < HOOK_SECRET_MIN || n > HOOK_SECRET_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "notify.secret: secret %zu must "
					    "be %d..%d characters",
					    out->n + 1, HOOK_SECRET_MIN,
					    HOOK_SECRET_MAX);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)item[i] <= ' ' ||
			    (unsigned char)item[i] >= 0x7f)
				return ip_error_set(
				    err, IP_EINVAL,
				    "notify.secret: secret %zu has a blank or "
				    "non-ASCII character",
				    out->n + 1);
		memcpy(out->secret[out->n], item, n);
		out->secret[out->n++][n] = '\0';
	}
	return IP_OK;
}

void
hook_init(struct hook *h, const struct record *r, size_t url_index,
	  const char *url, int64_t now_ms)
{
	memset(h, 0, sizeof(*h));
	h->event = r->status == RECORD_DONE ? HOOK_DONE : HOOK_FAILED;
	h->record_attempts = r->attempts;
	snprintf(h->id, sizeof(h->id), "%s.%s.%d.%zu", r->id,
		 h->event == HOOK_DONE ? "done" : "failed", r->attempts,
		 url_index);
	util_strlcpy(h->record_id, r->id, sizeof(h->record_id));
	util_strlcpy(h->url, url, sizeof(h->url));
	h->state = HOOK_PENDING;
	h->created_ms = now_ms;
	h->next_ms = now_ms;
}

bool
hook_id_valid(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < HOOK_ID_MAX &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789._-") == n;
}

bool
hook_matches(const struct hook *h, const struct record *r)
{
	enum record_status want =
	    h->event == HOOK_DONE ? RECORD_DONE : RECORD_FAILED;

	return r->status == want && r->attempts == h->record_attempts &&
	       strcmp(r->id, h->record_id) == 0;
}

void
hook_sign(const struct hook_secrets *s, int64_t t_s, const char *body,
	  size_t len, char *out, size_t out_len)
{
	char t[24];
	size_t used;

	snprintf(t, sizeof(t), "%lld", (long long)t_s);
	used = (size_t)snprintf(out, out_len, "t=%s", t);
	for (size_t i = 0; i < s->n && used < out_len; i++) {
		unsigned char digest[32];
		gsize dn = sizeof(digest);
		char hex[65];
		GHmac *h =
		    g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)s->secret[i],
			       strlen(s->secret[i]));

		g_hmac_update(h, (const guchar *)t, (gssize)strlen(t));
		g_hmac_update(h, (const guchar *)".", 1);
		g_hmac_update(h, (const guchar *)body, (gssize)len);
		g_hmac_get_digest(h, digest, &dn);
		g_hmac_unref(h);
		util_hex(digest, sizeof(digest), hex);
		used +=
		    (size_t)snprintf(out + used, out_len - used, ",v1=%s", hex);
	}
}

char *
hook_to_string(const struct hook *h)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:I, s:I, s:s}", "id", h->id,
	    "record_id", h->record_id, "event", hook_event_name(h->event),
	    "record_attempts", h->record_attempts, "url", h->url, "state",
	    hook_state_name(h->state), "attempts", h->attempts, "created_ms",
	    (json_int_t)h->created_ms, "next_ms", (json_int_t)h->next_ms,
	    "error", h->error);
	char *s;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int
hook_from_string(const char *text, size_t len, struct hook *h,
		 struct ip_error *err)
{
	const char *id = NULL, *rid = NULL, *ev = NULL, *url = NULL,
		   *state = NULL, *error = NULL;
	json_int_t created = 0, next = 0;
	int rattempts = 0, attempts = 0;
	int e, s;
	json_t *o;
	int rc = IP_OK;

	memset(h, 0, sizeof(*h));
	if (len > HOOK_DOC_MAX)
		return ip_error_set(err, IP_EBACKEND, "stored hook: too long");
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL ||
	    json_unpack(o, "{s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:I, s:I, s:s}",
			"id", &id, "record_id", &rid, "event", &ev,
			"record_attempts", &rattempts, "url", &url, "state",
			&state, "attempts", &attempts, "created_ms", &created,
			"next_ms", &next, "error", &error) != 0) {
		rc = ip_error_set(err, IP_EBACKEND, "stored hook: damaged");
		goto out;
	}
	e = hook_event_parse(ev);
	s = state_parse(state);
	if (!hook_id_valid(id) || !util_id_valid(rid) || e < 0 || s < 0 ||
	    strlen(url) >= sizeof(h->url) || attempts < 0 || created < 0) {
		rc = ip_error_set(err, IP_EBACKEND, "stored hook: damaged");
		goto out;
	}
	util_strlcpy(h->id, id, sizeof(h->id));
	util_strlcpy(h->record_id, rid, sizeof(h->record_id));
	util_strlcpy(h->url, url, sizeof(h->url));
	util_strlcpy(h->error, error, sizeof(h->error));
	h->event = (enum hook_event)e;
	h->state = (enum hook_state)s;
	h->record_attempts = rattempts;
	h->attempts = attempts;
	h->created_ms = created;
	h->next_ms = next;
out:
	json_decref(o);
	return rc;
}
