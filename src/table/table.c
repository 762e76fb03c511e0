/*
 * table.c - the backend registry of the metadata table, and table_page_free.
 *
 * Called once at start-up by the wiring (table_open) and by every lister
 * (table_page_free).  Reentrant; the registry is a constant table.
 *
 * Adding a backend is one line in `backends`: the scheme of cfg->table
 * ("sqlite", "dynamodb" for "dynamodb+http://...") picks the entry, whose
 * open function parses the rest of the URL.
 */
#include "table/table.h"

#include <stdlib.h>
#include <string.h>

#include "core/backend_url.h"
#include "core/log.h"
#include "core/util.h"
#include "table/table_dynamodb.h"

static int open_sqlite(const struct config *cfg, struct table **out,
		       struct ip_error *err);

static const struct {
	const char *scheme;
	int (*open)(const struct config *cfg, struct table **out,
		    struct ip_error *err);
} backends[] = {
    {"dynamodb", table_dynamodb_open},
    {"sqlite", open_sqlite},
};

/* "sqlite" = DATA/imgpipe.db; "sqlite:///abs/file.db" = that file. */
static int
open_sqlite(const struct config *cfg, struct table **out, struct ip_error *err)
{
	static const struct backend_url_local forms = {
	    .module = "table",
	    .name = "sqlite",
	    .file = "imgpipe.db",
	    .example = "file.db",
	};
	char buf[CONFIG_PATH_MAX + 16];
	const char *path;
	int rc;

	rc = backend_url_local(&forms, cfg->table, cfg->data_dir, buf,
			       sizeof(buf), &path, err);
	if (rc != IP_OK)
		return rc;
	return table_sqlite_open(path, out, err);
}

int
table_open(const struct config *cfg, struct table **out, struct ip_error *err)
{
	int rc;

	*out = NULL;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(backends); i++) {
		if (!backend_url_is(cfg->table, backends[i].scheme))
			continue;
		rc = backends[i].open(cfg, out, err);
		if (rc == IP_OK)
			log_info("table: %s backend ready", (*out)->ops->name);
		return rc;
	}
	return ip_error_set(err, IP_EINVAL, "table: unknown backend \"%s\"",
			    cfg->table);
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
}
