/*
 * queue_redis.h - the Redis Streams queue backend (queue_redis.c): its
 * constructor, for the queue registry (queue.c) only; everyone else goes
 * through queue.h.
 *
 * URLs: "redis://[user:pass@]HOST[:PORT][/DB][?...]" (see queue_redis.c and
 *   docs/DISTRIBUTED.md).
 */
#ifndef IMGPIPE_QUEUE_REDIS_H
#define IMGPIPE_QUEUE_REDIS_H

#include "core/config.h"
#include "core/error.h"
#include "queue/queue.h"

/* Connect to the server named by cfg->queue and create the stream and
 * its group if missing.  IP_EINVAL for a bad URL, IP_EBACKEND / IP_EAUTH
 * when the server cannot be used. */
int queue_redis_open(const struct config *cfg, struct queue **out,
		     struct ip_error *err);

#endif
