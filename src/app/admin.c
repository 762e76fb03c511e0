/*
 * admin.c - `imgpipe init`, `imgpipe dlq` and `imgpipe keys` without
 * their command line
 * (see admin.h).  Main thread only.
 */
#include "app/admin.h"
#include "app/webhooks.h"

#include "core/util.h"
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

int
admin_init(const struct config *cfg, struct ip_error *err)
{
	struct objstore *store = NULL;
	struct table *table = NULL;
	int rc;

	if (util_mkdir_p(cfg->data_dir) != 0)
		return ip_error_set(err, IP_EIO, "data dir %s: %s",
				    cfg->data_dir, strerror(errno));
	rc = table_connect(cfg, &table, err);
	if (rc == IP_OK)
		rc = table_ensure(table, TABLE_MISSING_CREATE, err);
	table_close(table);
	if (rc != IP_OK)
		return rc;
	rc = objstore_open(cfg, &store, err);
	objstore_close(store);
	return rc;
}

int
admin_dlq_list(const struct config *cfg, size_t max, FILE *out,
	       struct ip_error *err)
{
	struct queue_dead_list l;
	struct queue *q = NULL;
	int rc;

	rc = queue_open(cfg, &q, err);
	if (rc != IP_OK)
		return rc;
	memset(&l, 0, sizeof(l));
	rc = queue_dlq_list(q, max, &l, err);
	for (size_t i = 0; rc == IP_OK && i < l.n; i++) {
		char when[UTIL_RFC3339_SIZE];
		gchar *reason = g_strescape(l.items[i].reason, NULL);
		gchar *body = g_strescape(l.items[i].body, NULL);

		fprintf(out,
			"{\"id\":\"%s\",\"receive_count\":%d,"
			"\"dead_at\":\"%s\",\"reason\":\"%s\","
			"\"body\":\"%s\"}\n",
			l.items[i].id, l.items[i].receive_count,
			util_rfc3339(l.items[i].dead_at_ms, when, sizeof(when)),
			reason, body);
		g_free(reason);
		g_free(body);
	}
	queue_dead_list_free(&l);
	queue_close(q);
	return rc;
}

int
admin_dlq_redrive(const struct config *cfg, const char *id,
		  struct ip_error *err)
{
	struct queue *q = NULL;
	int rc;

	rc = queue_open(cfg, &q, err);
	if (rc != IP_OK)
		return rc;
	rc = queue_dlq_redrive(q, id, err);
	queue_close(q);
	return rc;
}

int
admin_webhooks_list(const struct config *cfg, bool dead, size_t max, FILE *out,
		    struct ip_error *err)
{
	struct table *t = NULL;
	struct hook *hooks = calloc(max > 0 ? max : 1, sizeof(*hooks));
	size_t n = 0;
	int rc;

	if (hooks == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	rc = table_open(cfg, &t, err);
	if (rc == IP_OK)
		rc = table_hook_list(t, dead ? HOOK_DEAD : HOOK_PENDING,
				     INT64_MAX, hooks, max, &n, err);
	for (size_t i = 0; rc == IP_OK && i < n; i++) {
		char *doc = hook_to_string(&hooks[i]);

		if (doc == NULL) {
			rc = ip_error_set(err, IP_ENOMEM, "out of memory");
			break;
		}
		fprintf(out, "%s\n", doc);
		free(doc);
	}
	free(hooks);
	table_close(t);
	return rc;
}

int
admin_webhooks_redrive(const struct config *cfg, const char *id,
		       struct ip_error *err)
{
	struct table *t = NULL;
	size_t n = 0;
	int rc;

	rc = table_open(cfg, &t, err);
	if (rc == IP_OK)
		rc = webhooks_redrive(t, id, &n, err);
	table_close(t);
	return rc == IP_OK ? (int)n : rc;
}

/* Open cfg's table and read every key of it: *all is malloc'd
 * (TABLE_KEYS_MAX entries) and *t open even on error (NULL-safe to close). */
static int
keys_open(const struct config *cfg, struct table **t, struct apikey **all,
	  size_t *n, struct ip_error *err)
{
	int rc = table_open(cfg, t, err);

	*n = 0;
	*all = NULL;
	if (rc != IP_OK)
		return rc;
	*all = calloc(TABLE_KEYS_MAX, sizeof(**all));
	if (*all == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	return table_key_list(*t, *all, TABLE_KEYS_MAX, n, err);
}

int
admin_keys_create(const struct config *cfg, const char *name,
		  enum apikey_scope scope, int64_t expires_ms, struct apikey *k,
		  char *token, struct ip_error *err)
{
	struct table *t = NULL;
	struct apikey *all = NULL;
	size_t n = 0;
	int rc;

	rc = apikey_new(k, name, scope, expires_ms, token, err);
	if (rc == IP_OK)
		rc = keys_open(cfg, &t, &all, &n, err);
	for (size_t i = 0; rc == IP_OK && i < n; i++)
		if (strcmp(all[i].name, name) == 0 &&
		    apikey_unusable(&all[i], util_now_ms()) == NULL)
			rc = ip_error_set(err, IP_EEXIST,
					  "a key named %s exists (id %s); "
					  "revoke it first or pick another "
					  "name",
					  name, all[i].id);
	if (rc == IP_OK)
		rc = table_key_put(t, k, err);
	if (rc != IP_OK)
		explicit_bzero(token, APIKEY_TOKEN_SIZE);
	free(all);
	table_close(t);
	return rc;
}

static const char *
key_state(const struct apikey *k)
{
	const char *why = apikey_unusable(k, util_now_ms());

	return why != NULL ? why : "active";
}

int
admin_keys_list(const struct config *cfg, FILE *out, struct ip_error *err)
{
	struct table *t = NULL;
	struct apikey *all = NULL;
	size_t n = 0;
	int rc;

	rc = keys_open(cfg, &t, &all, &n, err);
	for (size_t i = 0; rc == IP_OK && i < n; i++) {
		char c[UTIL_RFC3339_SIZE], e[UTIL_RFC3339_SIZE],
		    r[UTIL_RFC3339_SIZE];

		fprintf(out,
			"{\"id\":\"%s\",\"name\":\"%s\",\"scope\":\"%s\","
			"\"created\":\"%s\",\"expires\":%s%s%s,"
			"\"revoked\":%s%s%s,\"state\":\"%s\"}\n",
			all[i].id, all[i].name, apikey_scope_name(all[i].scope),
			util_rfc3339(all[i].created_ms, c, sizeof(c)),
			all[i].expires_ms ? "\"" : "",
			all[i].expires_ms
			    ? util_rfc3339(all[i].expires_ms, e, sizeof(e))
			    : "null",
			all[i].expires_ms ? "\"" : "",
			all[i].revoked_ms ? "\"" : "",
			all[i].revoked_ms
			    ? util_rfc3339(all[i].revoked_ms, r, sizeof(r))
			    : "null",
			all[i].revoked_ms ? "\"" : "", key_state(&all[i]));
	}
	free(all);
	table_close(t);
	return rc;
}

int
admin_keys_revoke(const struct config *cfg, const char *which, struct apikey *k,
		  struct ip_error *err)
{
	struct table *t = NULL;
	struct apikey *all = NULL;
	const char *id = NULL;
	size_t n = 0;
	int rc;

	rc = keys_open(cfg, &t, &all, &n, err);
	for (size_t i = 0; rc == IP_OK && i < n; i++) {
		bool by_id = strcmp(all[i].id, which) == 0;
		bool by_name =
		    strcmp(all[i].name, which) == 0 && all[i].revoked_ms == 0;

		if (!by_id && !by_name)
			continue;
		if (id != NULL && strcmp(id, all[i].id) != 0)
			rc = ip_error_set(err, IP_ECONFLICT,
					  "more than one key is named %s; "
					  "revoke by id",
					  which);
		id = all[i].id;
	}
	if (rc == IP_OK && id == NULL)
		rc = ip_error_set(err, IP_ENOTFOUND, "no key %s", which);
	if (rc == IP_OK)
		rc = table_key_revoke(t, id, util_now_ms(), err);
	if (rc == IP_OK)
		rc = table_key_get(t, id, k, err);
	free(all);
	table_close(t);
	return rc;
}
