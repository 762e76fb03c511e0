/*
 * queue_sqlite.h - the embedded SQLite queue backend (queue_sqlite.c): its
 * constructor, for the queue registry (queue.c) only; everyone else goes
 * through queue.h.
 *
 * URLs: "sqlite" = DATA/queue.db; "sqlite:///abs/file.db" = that file.
 */
#ifndef IMGPIPE_QUEUE_SQLITE_H
#define IMGPIPE_QUEUE_SQLITE_H

#include "core/config.h"
#include "core/error.h"
#include "queue/queue.h"

/* Open (and create) the queue database named by cfg->queue.  IP_EINVAL
 * for a bad URL, IP_EBACKEND when SQLite cannot open it. */
int queue_sqlite_open(const struct config *cfg, struct queue **out,
		      struct ip_error *err);

/* queue_rebuild (see queue.h) for the file named by cfg->queue. */
int queue_sqlite_rebuild(const struct config *cfg, char *moved, size_t len,
			 int64_t *copied, struct ip_error *err);

#endif
