/*
 * table.c - the backend registry of the metadata table, and table_page_free.
 *
 * Called once at start-up by the wiring (table_open), by `imgpipe init`
 * (table_connect, then table_ensure) and by every lister
 * (table_page_free).  Reentrant; the registry is a constant table.
 *
 * Adding a backend is one line in `backends`: the scheme of cfg->table
 * ("sqlite", "dynamodb" for "dynamodb+http://...") picks the entry, whose
 * open function parses the rest of the URL.  Every constructor has the
 * same shape (cfg, out, err) and is declared in the backend's own header,
 * which only this file includes.  A backend the build left out (meson
 * -Ddynamodb=disabled) keeps its entry, so that asking for it says so.
 */
#include "table/table.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/registry.h"
#include "core/util.h"
#include "table/table_sqlite.h"
#if IMGPIPE_WITH_DYNAMODB
#include "table/table_dynamodb.h"
#endif

/* One entry per backend.  A backend the build left out keeps its entry
 * (built false, open NULL), so that asking for it says so. */
static const struct {
	struct registry_entry e; /* first: registry.h walks the array */
	int (*open)(const struct config *cfg, struct table **out,
		    struct ip_error *err);
	/* Optional: set a damaged embedded file aside and start afresh. */
	int (*rebuild)(const struct config *cfg, char *moved, size_t len,
		       int64_t *copied, struct ip_error *err);
} backends[] = {
    {{"sqlite", true}, table_sqlite_open, table_sqlite_rebuild},
#if IMGPIPE_WITH_DYNAMODB
    {{"dynamodb", true}, table_dynamodb_open, NULL},
#else
    {{"dynamodb", false}, NULL, NULL},
#endif
};

void
table_backends(char *buf, size_t size)
{
	registry_names(backends, UTIL_ARRAY_LEN(backends), sizeof(backends[0]),
		       buf, size);
}

static int
find_backend(const char *url, size_t *idx, struct ip_error *err)
{
	return registry_find(backends, UTIL_ARRAY_LEN(backends),
			     sizeof(backends[0]), "table", url, idx, err);
}

int
table_connect(const struct config *cfg, struct table **out,
	      struct ip_error *err)
{
	size_t i = 0;
	int rc;

	*out = NULL;
	rc = find_backend(cfg->table, &i, err);
	if (rc == IP_OK)
		rc = backends[i].open(cfg, out, err);
	return rc;
}

int
table_open(const struct config *cfg, struct table **out, struct ip_error *err)
{
	struct table *t;
	int rc;

	*out = NULL;
	rc = table_connect(cfg, &t, err);
	if (rc != IP_OK)
		return rc;
	rc = table_ensure(t, TABLE_MISSING_AS_CONFIGURED, err);
	if (rc != IP_OK) {
		table_close(t);
		return rc;
	}
	log_info("table: %s backend ready", table_name(t));
	*out = t;
	return IP_OK;
}

void
table_page_free(struct table_page *p)
{
	if (p == NULL)
		return;
	free(p->items);
	p->items = NULL;
	p->n = 0;
	p->next_cursor[0] = '\0';
	p->n_damaged = 0;
}

int
table_any(struct table *t, bool *any, struct ip_error *e)
{
	struct table_page page;
	int rc;

	memset(&page, 0, sizeof(page));
	rc = table_list(t, NULL, 1, &page, e);
	*any = rc == IP_OK && page.n + page.n_damaged > 0;
	table_page_free(&page);
	return rc;
}

int
table_key_revoke(struct table *t, const char *id, int64_t when_ms,
		 struct ip_error *e)
{
	struct apikey k;
	int rc = table_key_get(t, id, &k, e);

	if (rc != IP_OK || k.revoked_ms != 0)
		return rc;
	k.revoked_ms = when_ms;
	return t->ops->key_replace(t, &k, e);
}

int
table_rebuild(const struct config *cfg, char *moved, size_t len,
	      int64_t *copied, struct ip_error *err)
{
	size_t i = 0;
	int rc = find_backend(cfg->table, &i, err);

	*copied = 0;
	if (rc != IP_OK)
		return rc;
	if (backends[i].rebuild == NULL)
		return ip_error_set(err, IP_ENOTSUP,
				    "table: the %s backend keeps its own data: "
				    "repair it with its own tools",
				    backends[i].e.scheme);
	return backends[i].rebuild(cfg, moved, len, copied, err);
}
