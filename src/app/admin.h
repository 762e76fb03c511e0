/*
 * admin.h - the administrative commands' work, apart from their command
 * line: create what the configuration names (`imgpipe init`), read and
 * re-drive the dead-letter store (`imgpipe dlq`) and the webhooks' dead
 * deliveries (`imgpipe webhooks`).
 *
 * Called from main.c on the main thread; each opens and closes the
 * backends it needs.
 */
#ifndef IMGPIPE_APP_ADMIN_H
#define IMGPIPE_APP_ADMIN_H

#include <stdbool.h>
#include <stdio.h>

#include "core/apikey.h"
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

/* Write the webhooks' outbox to out, one JSON object per line (the
 * stored form, core/hook.h): the dead deliveries, or the pending ones;
 * at most max lines. */
int admin_webhooks_list(const struct config *cfg, bool dead, size_t max,
			FILE *out, struct ip_error *err);

/* Make dead delivery id (every one when id is NULL) pending again, due
 * now; a running deliverer sends it.  Returns how many, or a negative ip
 * code. */
int admin_webhooks_redrive(const struct config *cfg, const char *id,
			   struct ip_error *err);

/* Create an API key in the table and write its token (the only copy of
 * its secret) to token[APIKEY_TOKEN_SIZE]; *k gets the stored key.  A
 * name already used by a key that is not revoked is IP_EEXIST. */
int admin_keys_create(const struct config *cfg, const char *name,
		      enum apikey_scope scope, int64_t expires_ms,
		      struct apikey *k, char *token, struct ip_error *err);

/* Write every key to out, one JSON object per line (never the hash):
 * {"id","name","scope","created","expires","revoked","state"}. */
int admin_keys_list(const struct config *cfg, FILE *out, struct ip_error *err);

/* Revoke the key whose id or name is which (a name must be unambiguous
 * among the keys that are not revoked yet).  *k gets the revoked key. */
int admin_keys_revoke(const struct config *cfg, const char *which,
		      struct apikey *k, struct ip_error *err);

#endif
