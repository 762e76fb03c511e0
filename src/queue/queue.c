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

#include "core/log.h"
#include "core/registry.h"
#include "core/util.h"

#include "queue/queue_sqlite.h"
#if IMGPIPE_WITH_REDIS
#include "queue/queue_redis.h"
#endif

/* One entry per backend.  A backend the build left out keeps its entry
 * (built false, open NULL), so that asking for it says so. */
static const struct {
	struct registry_entry e; /* first: registry.h walks the array */
	int (*open)(const struct config *cfg, struct queue **out,
		    struct ip_error *err);
	/* Optional: set a damaged embedded file aside and start afresh. */
	int (*rebuild)(const struct config *cfg, char *moved, size_t len,
		       int64_t *copied, struct ip_error *err);
} backends[] = {
    {{"sqlite", true}, queue_sqlite_open, queue_sqlite_rebuild},
#if IMGPIPE_WITH_REDIS
    {{"redis", true}, queue_redis_open, NULL},
#else
    {{"redis", false}, NULL, NULL},
#endif
};

void
queue_backends(char *buf, size_t size)
{
	registry_names(backends, UTIL_ARRAY_LEN(backends), sizeof(backends[0]),
		       buf, size);
}

static int
find_backend(const char *url, size_t *idx, struct ip_error *err)
{
	return registry_find(backends, UTIL_ARRAY_LEN(backends),
			     sizeof(backends[0]), "queue", url, idx, err);
}

int
queue_open(const struct config *cfg, struct queue **out, struct ip_error *err)
{
	size_t i = 0;
	int rc;

	*out = NULL;
	rc = find_backend(cfg->queue, &i, err);
	if (rc == IP_OK)
		rc = backends[i].open(cfg, out, err);
	if (rc == IP_OK)
		log_info("queue: %s backend ready", queue_name(*out));
	return rc;
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

int
queue_rebuild(const struct config *cfg, char *moved, size_t len,
	      int64_t *copied, struct ip_error *err)
{
	size_t i = 0;
	int rc = find_backend(cfg->queue, &i, err);

	*copied = 0;
	if (rc != IP_OK)
		return rc;
	if (backends[i].rebuild == NULL)
		return ip_error_set(err, IP_ENOTSUP,
				    "queue: the %s backend keeps its own data: "
				    "repair it with its own tools",
				    backends[i].e.scheme);
	return backends[i].rebuild(cfg, moved, len, copied, err);
}
