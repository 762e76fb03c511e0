/*
 * admin.c - `imgpipe init` and `imgpipe dlq` without their command line
 * (see admin.h).  Main thread only.
 */
#include "app/admin.h"

#include "core/util.h"
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <glib.h>
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
