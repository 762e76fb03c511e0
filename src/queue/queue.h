/*
 * queue.h - the event queue interface (SQS's model: at-least-once delivery
 * with a visibility timeout, a receive count, and a dead-letter store).
 *
 * Backends: queue_sqlite.c (embedded, durable), queue_redis.c (Redis
 * Streams, shared by many processes).  Callers go through the inline
 * wrappers below, never through `ops` and never by the backend's name.
 *
 * Contract:
 * - send is durable when it returns IP_OK.  A non-empty dedup_id makes
 *   send idempotent while a message with that id is live (not deleted,
 *   not dead): the second send is IP_OK and adds nothing.
 * - receive hands out one visible message and hides it for visibility_s;
 *   receive_count counts deliveries (1 on the first).  If it is not
 *   deleted, retried or dead-lettered in time, it becomes visible again.
 * - retry makes a received message visible again after delay_ms (the
 *   backoff of a failed attempt); its receive_count is kept.
 * - dead_letter moves a received message to the dead-letter store with a
 *   reason; dlq_list shows it, dlq_redrive puts it back (receive_count 0).
 * - delete, retry and dead_letter need the receipt of the latest delivery:
 *   a stale receipt (the message was re-delivered since) is IP_ECONFLICT.
 *
 * Thread-safety: every operation may be called from any thread at once;
 * receive may block up to wait_ms and is woken early by a send in the same
 * process.
 */
#ifndef IMGPIPE_QUEUE_H
#define IMGPIPE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

#define QUEUE_BODY_MAX (256 * 1024) /* as SQS */
#define QUEUE_ID_MAX 64
#define QUEUE_RECEIPT_MAX 128
#define QUEUE_REASON_MAX 512

struct queue;

struct queue_msg {
	char id[QUEUE_ID_MAX];
	char receipt[QUEUE_RECEIPT_MAX];
	int receive_count;
	int64_t sent_at_ms;
	char *body; /* malloc'd, NUL-terminated; queue_msg_clear */
	size_t len;
};

struct queue_dead {
	char id[QUEUE_ID_MAX];
	int receive_count;
	int64_t dead_at_ms;
	char reason[QUEUE_REASON_MAX];
	char *body; /* malloc'd */
	size_t len;
};

struct queue_dead_list {
	size_t n;
	struct queue_dead *items;
};

/* Capability bits.  QUEUE_CAP_SHARED: many processes consume this queue,
 * so no one process may call an in-flight message orphaned: orphans come
 * back when their visibility expires, and queue_release_all does nothing.
 * This bit is the only place a queue says it is shared. */
#define QUEUE_CAP_SHARED 0x1

struct queue_ops {
	const char *name;
	unsigned caps;
	void (*close)(struct queue *q);
	int (*ping)(struct queue *q, struct ip_error *err);
	int (*send)(struct queue *q, const char *body, size_t len,
		    const char *dedup_id, int64_t delay_ms,
		    struct ip_error *err);
	/* IP_ENOTFOUND when nothing became visible within wait_ms. */
	int (*receive)(struct queue *q, int visibility_s, int wait_ms,
		       struct queue_msg *out, struct ip_error *err);
	int (*del)(struct queue *q, const struct queue_msg *m,
		   struct ip_error *err);
	int (*retry)(struct queue *q, const struct queue_msg *m,
		     int64_t delay_ms, struct ip_error *err);
	int (*dead_letter)(struct queue *q, const struct queue_msg *m,
			   const char *reason, struct ip_error *err);
	/* Oldest first, at most limit. */
	int (*dlq_list)(struct queue *q, size_t limit,
			struct queue_dead_list *out, struct ip_error *err);
	/* id NULL = all; returns the number re-driven (>= 0) or an error. */
	int (*dlq_redrive)(struct queue *q, const char *id,
			   struct ip_error *err);
	/* Make every in-flight message visible now (embedded start-up: the
	 * only consumer is this process, so in-flight means orphaned).
	 * Required unless caps has QUEUE_CAP_SHARED (then unused). */
	int (*release_all)(struct queue *q, struct ip_error *err);
	/* Visible + in-flight messages (for /metrics). */
	int (*depth)(struct queue *q, int64_t *visible, int64_t *inflight,
		     struct ip_error *err);
	/* Messages in the dead-letter store (for /metrics).  Optional:
	 * NULL answers IP_ENOTSUP (queue_dlq_count). */
	int (*dlq_count)(struct queue *q, int64_t *n, struct ip_error *err);
	/* Wake every receive blocked in this process (shutdown).  Optional:
	 * NULL when receive never blocks longer than its wait_ms. */
	void (*wake)(struct queue *q);
	/* Check the stored data itself (sqlite: PRAGMA quick_check) for at
	 * most limit_ms (then IP_OK with *cut_short set).  IP_OK when sound,
	 * IP_EDAMAGED with the first problem when not.  Optional: NULL when
	 * the server keeps its own (Redis): IP_OK. */
	int (*check)(struct queue *q, int64_t limit_ms, bool *cut_short,
		     struct ip_error *err);
	/* Whether a live message was sent with dedup_id: IP_OK if so,
	 * IP_ENOTFOUND if not (`imgpipe doctor`: an unfinished record with
	 * no message waits forever).  Optional: NULL = IP_ENOTSUP, cannot
	 * tell. */
	int (*queued)(struct queue *q, const char *dedup_id,
		      struct ip_error *err);
};

struct queue {
	const struct queue_ops *ops;
};

/* Open the backend named by cfg->queue ("sqlite" = DATA/queue.db,
 * "redis://...").  IP_EINVAL for an unknown backend or bad URL, IP_ENOTSUP
 * for a backend this binary was built without ("imgpipe was built without
 * redis"), IP_EBACKEND / IP_EAUTH when the server cannot be used. */
int queue_open(const struct config *cfg, struct queue **out,
	       struct ip_error *err);

/* `imgpipe doctor --repair` of a damaged embedded queue: its file is
 * renamed to FILE.damaged-<ms> (into moved), a fresh one is made, and the
 * rows the old one still gives are copied over (*copied of them).  Only
 * while no process uses it.  IP_ENOTSUP for a backend that keeps its own
 * data (a service). */
int queue_rebuild(const struct config *cfg, char *moved, size_t len,
		  int64_t *copied, struct ip_error *err);
/* The backends this binary was built with, e.g. "sqlite redis". */
void queue_backends(char *buf, size_t size);

void queue_msg_clear(struct queue_msg *m);
void queue_dead_list_free(struct queue_dead_list *l);

static inline void
queue_close(struct queue *q)
{
	if (q != NULL)
		q->ops->close(q);
}

/* The backend's name ("sqlite", "redis"), for logs and --version. */
static inline const char *
queue_name(const struct queue *q)
{
	return q->ops->name;
}

/* True when other processes consume this queue too (QUEUE_CAP_SHARED). */
static inline bool
queue_is_shared(const struct queue *q)
{
	return (q->ops->caps & QUEUE_CAP_SHARED) != 0;
}

static inline int
queue_ping(struct queue *q, struct ip_error *e)
{
	return q->ops->ping(q, e);
}

static inline int
queue_send(struct queue *q, const char *body, size_t len, const char *dedup,
	   int64_t delay_ms, struct ip_error *e)
{
	return q->ops->send(q, body, len, dedup, delay_ms, e);
}

static inline int
queue_receive(struct queue *q, int visibility_s, int wait_ms,
	      struct queue_msg *out, struct ip_error *e)
{
	return q->ops->receive(q, visibility_s, wait_ms, out, e);
}

static inline int
queue_delete(struct queue *q, const struct queue_msg *m, struct ip_error *e)
{
	return q->ops->del(q, m, e);
}

static inline int
queue_retry(struct queue *q, const struct queue_msg *m, int64_t delay_ms,
	    struct ip_error *e)
{
	return q->ops->retry(q, m, delay_ms, e);
}

static inline int
queue_dead_letter(struct queue *q, const struct queue_msg *m,
		  const char *reason, struct ip_error *e)
{
	return q->ops->dead_letter(q, m, reason, e);
}

static inline int
queue_dlq_list(struct queue *q, size_t limit, struct queue_dead_list *out,
	       struct ip_error *e)
{
	return q->ops->dlq_list(q, limit, out, e);
}

/* The number of dead messages, or IP_ENOTSUP for a backend that cannot
 * count them cheaply. */
static inline int
queue_dlq_count(struct queue *q, int64_t *n, struct ip_error *e)
{
	if (q->ops->dlq_count == NULL)
		return ip_error_set(e, IP_ENOTSUP, "queue %s: no dead count",
				    q->ops->name);
	return q->ops->dlq_count(q, n, e);
}

static inline int
queue_dlq_redrive(struct queue *q, const char *id, struct ip_error *e)
{
	return q->ops->dlq_redrive(q, id, e);
}

/* Start-up of the only consumer: every in-flight message is an orphan of
 * a previous life, visible again now.  A shared queue has no orphans it
 * may claim: IP_OK, nothing done. */
static inline int
queue_release_all(struct queue *q, struct ip_error *e)
{
	if (queue_is_shared(q))
		return IP_OK;
	return q->ops->release_all(q, e);
}

static inline int
queue_depth(struct queue *q, int64_t *visible, int64_t *inflight,
	    struct ip_error *e)
{
	return q->ops->depth(q, visible, inflight, e);
}

static inline int
queue_check(struct queue *q, int64_t limit_ms, bool *cut_short,
	    struct ip_error *e)
{
	*cut_short = false;
	if (q->ops->check == NULL)
		return IP_OK;
	return q->ops->check(q, limit_ms, cut_short, e);
}
static inline int
queue_queued(struct queue *q, const char *dedup_id, struct ip_error *e)
{
	if (q->ops->queued == NULL)
		return ip_error_set(e, IP_ENOTSUP,
				    "the %s queue cannot look a message up",
				    q->ops->name);
	return q->ops->queued(q, dedup_id, e);
}
static inline void
queue_wake(struct queue *q)
{
	if (q->ops->wake != NULL)
		q->ops->wake(q);
}

#endif
