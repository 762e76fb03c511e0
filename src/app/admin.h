/*
 * admin.h - the administrative commands' work, apart from their command
 * line: create what the configuration names (`imgpipe init`), read and
 * re-drive the dead-letter store (`imgpipe dlq`).
 *
 * Called from main.c on the main thread; each opens and closes the
 * backends it needs.
 */
#ifndef IMGPIPE_APP_ADMIN_H
#define IMGPIPE_APP_ADMIN_H

#include <stdio.h>

#include "core/config.h"
#include "core/error.h"

/* Create the data directory, the table (always, whatever the backend's
 * own create setting says; waits until usable) and the buckets (the
 * object store opens them).  Idempotent. */
int admin_init(const struct config *cfg, struct ip_error *err);

/* Write the dead-letter store to out, one JSON object per line:
 * {"id","receive_count","dead_at","reason","body"}, at most max lines. */
int admin_dlq_list(const struct config *cfg, size_t max, FILE *out,
		   struct ip_error *err);

/* Put message id (or every message when id is NULL) back on the queue.
 * Returns how many were re-driven, or a negative ip code. */
int admin_dlq_redrive(const struct config *cfg, const char *id,
		      struct ip_error *err);

#endif
