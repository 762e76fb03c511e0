/*
 * queue.c - the backend registry of the event queue, and the helpers that
 * free what receive and dlq_list hand out.
 *
 * Called once at start-up by the wiring (queue_open) and by every consumer
 * (queue_msg_clear, queue_dead_list_free).  Reentrant; the registry is a
 * constant table.
 *
 * Adding a backend is one line in `backends`: the scheme of cfg->queue
 * ("sqlite", "redis" for "redis://...") picks the entry, whose open
 * function parses the rest of the URL.
 */
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/backend_url.h"
#include "core/log.h"
#include "core/util.h"

static int open_sqlite(const struct config *cfg, struct queue **out,
		       struct ip_error *err);

static const struct {
	const char *scheme;
	int (*open)(const struct config *cfg, struct queue **out,
		    struct ip_error *err);
} backends[] = {
    {"sqlite", open_sqlite},
    {"redis", queue_redis_open},
};

/* "sqlite" = DATA/queue.db; "sqlite:///abs/file.db" = that file. */
static int
open_sqlite(const struct config *cfg, struct queue **out, struct ip_error *err)
{
	static const struct backend_url_local forms = {
	    .module = "queue",
	    .name = "sqlite",
	    .file = "queue.db",
	    .example = "file.db",
	};
	char buf[CONFIG_PATH_MAX + 16];
	const char *path;
	int rc;

	rc = backend_url_local(&forms, cfg->queue, cfg->data_dir, buf,
			       sizeof(buf), &path, err);
	if (rc != IP_OK)
		return rc;
	return queue_sqlite_open(path, out, err);
}

int
queue_open(const struct config *cfg, struct queue **out, struct ip_error *err)
{
	int rc;

	*out = NULL;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(backends); i++) {
		if (!backend_url_is(cfg->queue, backends[i].scheme))
			continue;
		rc = backends[i].open(cfg, out, err);
		if (rc == IP_OK)
			log_info("queue: %s backend ready", (*out)->ops->name);
		return rc;
	}
	return ip_error_set(err, IP_EINVAL, "queue: unknown backend \"%s\"",
			    cfg->queue);
}

void
queue_msg_clear(struct queue_msg *m)
{
	if (m == NULL)
		return;
	free(m->body);
	memset(m, 0, sizeof(*m));
}

void
queue_dead_list_free(struct queue_dead_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].body);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
