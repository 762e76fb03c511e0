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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define SCHEME_MAX 16

static int open_sqlite(const struct config *cfg, struct queue **out,
		       struct ip_error *err);

static const struct {
	const char *scheme;
	int (*open)(const struct config *cfg, struct queue **out,
		    struct ip_error *err);
} backends[] = {
	{ "sqlite", open_sqlite },
	{ "redis", queue_redis_open },
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

/* "sqlite" = DATA/queue.db; "sqlite:///abs/file.db" = that file. */
static int
open_sqlite(const struct config *cfg, struct queue **out,
	    struct ip_error *err)
{
	char path[CONFIG_PATH_MAX + 16];
	const char *url = cfg->queue;
	int n;

	if (strcmp(url, "sqlite") == 0) {
		if (cfg->data_dir[0] == '\0')
			return ip_error_set(err, IP_EINVAL,
					    "queue sqlite: data_dir is empty");
		n = snprintf(path, sizeof(path), "%s/queue.db", cfg->data_dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return ip_error_set(err, IP_EINVAL,
					    "queue sqlite: data_dir too long");
		return queue_sqlite_open(path, out, err);
	}
	if (strncmp(url, "sqlite://", 9) != 0 || url[9] != '/' ||
	    url[10] == '\0' || strpbrk(url + 9, "?#") != NULL)
		return ip_error_set(err, IP_EINVAL,
				    "queue: expected \"sqlite\" or "
				    "\"sqlite:///absolute/file.db\", "
				    "got \"%s\"",
				    url);
	return queue_sqlite_open(url + 9, out, err);
}

int
queue_open(const struct config *cfg, struct queue **out,
	   struct ip_error *err)
{
	char scheme[SCHEME_MAX];
	int rc;

	*out = NULL;
	url_scheme(cfg->queue, scheme, sizeof(scheme));
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(scheme, backends[i].scheme) != 0)
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
