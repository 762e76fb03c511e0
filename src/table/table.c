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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "table/table_dynamodb.h"

#define SCHEME_MAX 16

static int open_sqlite(const struct config *cfg, struct table **out,
		       struct ip_error *err);

static const struct {
	const char *scheme;
	int (*open)(const struct config *cfg, struct table **out,
		    struct ip_error *err);
} backends[] = {
	{ "dynamodb", table_dynamodb_open },
	{ "sqlite", open_sqlite },
};

/* Text before the first ':' or '+', or all of a bare name; "" if odd. */
static void
url_scheme(const char *url, char *out, size_t size)
{
	size_t n = strcspn(url, ":+");

	if (n == 0 || n >= size) {
		out[0] = '\0';
		return;
	}
	memcpy(out, url, n);
	out[n] = '\0';
}

/* "sqlite" = DATA/imgpipe.db; "sqlite:///abs/file.db" = that file. */
static int
open_sqlite(const struct config *cfg, struct table **out,
	    struct ip_error *err)
{
	char path[CONFIG_PATH_MAX + 16];
	const char *url = cfg->table;
	int n;

	if (strcmp(url, "sqlite") == 0) {
		if (cfg->data_dir[0] == '\0')
			return ip_error_set(err, IP_EINVAL,
					    "table sqlite: data_dir is empty");
		n = snprintf(path, sizeof(path), "%s/imgpipe.db",
			     cfg->data_dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return ip_error_set(err, IP_EINVAL,
					    "table sqlite: data_dir too long");
		return table_sqlite_open(path, out, err);
	}
	if (strncmp(url, "sqlite://", 9) != 0 || url[9] != '/' ||
	    url[10] == '\0' || strpbrk(url + 9, "?#") != NULL)
		return ip_error_set(err, IP_EINVAL,
				    "table: expected \"sqlite\" or "
				    "\"sqlite:///absolute/file.db\", "
				    "got \"%s\"",
				    url);
	return table_sqlite_open(url + 9, out, err);
}

int
table_open(const struct config *cfg, struct table **out,
	   struct ip_error *err)
{
	char scheme[SCHEME_MAX];
	int rc;

	*out = NULL;
	url_scheme(cfg->table, scheme, sizeof(scheme));
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(scheme, backends[i].scheme) != 0)
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
