/*
 * table.h - the metadata table interface (DynamoDB's model: items by id).
 *
 * Backends: table_sqlite.c (embedded, WAL), table_dynamodb.c.  Callers go
 * through the inline wrappers below, never through `ops` and never by the
 * backend's name; table_open() picks the backend from cfg->table.
 * Each item is one struct record (core/record.h) keyed by record.id.
 *
 * Optimistic concurrency: every stored record carries `version`.
 * table_put creates version 1; table_update(r, expected) succeeds only if
 * the stored version equals `expected`, and stores r with version
 * expected+1 (r->version is set to that on success).  A stale writer gets
 * IP_ECONFLICT and must re-read.  This is what stops a slow worker from
 * overwriting `done` with `processing`.
 *
 * Listing is newest first.  Ids are ULIDs, so "newest first" is "id
 * descending"; the cursor is opaque to callers (base64url of the last id
 * for sqlite) and validated when it comes back.
 *
 * Thread-safety: every operation may be called from any thread at once.
 */
#ifndef IMGPIPE_TABLE_H
#define IMGPIPE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/apikey.h"
#include "core/config.h"
#include "core/error.h"
#include "core/hook.h"
#include "core/record.h"

#define TABLE_LIST_MAX 1000
#define TABLE_CURSOR_MAX 128
#define TABLE_KEYS_MAX 1000 /* API keys one table may hold */

struct table;

/* What table_ensure does with a table that does not exist yet. */
enum table_missing {
	/* Follow the backend's configuration: dynamodb creates it unless
	 * its URL says create=0, and then answers IP_EBACKEND. */
	TABLE_MISSING_AS_CONFIGURED,
	/* Create it whatever the configuration says (`imgpipe init`). */
	TABLE_MISSING_CREATE,
};

#define TABLE_DAMAGED_MAX 16 /* damaged ids one page reports */
struct table_page {
	size_t n;
	struct record *items; /* n records, malloc'd */
	char next_cursor[TABLE_CURSOR_MAX]; /* "" when there is no more */
	/* Rows of this page whose stored record does not parse: skipped
	 * (one damaged row must not hide the others), counted, and the
	 * first TABLE_DAMAGED_MAX ids kept, so that recovery and `imgpipe
	 * doctor` can name them.  Backends that cannot tell leave 0. */
	size_t n_damaged;
	char damaged[TABLE_DAMAGED_MAX][RECORD_ID_MAX];
};

struct table_ops {
	const char *name;
	void (*close)(struct table *t);
	int (*ping)(struct table *t, struct ip_error *err);
	/* Make the table usable: create it (and its indexes) when missing,
	 * as `missing` says, and wait, bounded, until it can be used.  IP_OK
	 * if it already was.  Optional: NULL when open already made it
	 * (sqlite creates its schema at open). */
	int (*ensure)(struct table *t, enum table_missing missing,
		      struct ip_error *err);
	/* Create; IP_EEXIST if the id exists.  Stores version 1 and sets
	 * r->version = 1. */
	int (*put)(struct table *t, struct record *r, struct ip_error *err);
	/* IP_ENOTFOUND if there is no such id; IP_EDAMAGED if its stored
	 * record does not parse (the row stays deletable with del). */
	int (*get)(struct table *t, const char *id, struct record *out,
		   struct ip_error *err);
	/* Conditional replace, see above.  IP_ENOTFOUND if the id is gone. */
	int (*update)(struct table *t, struct record *r, int64_t expected,
		      struct ip_error *err);
	/* Deleting a missing id is IP_ENOTFOUND. */
	int (*del)(struct table *t, const char *id, struct ip_error *err);
	/* Newest first; limit 1..TABLE_LIST_MAX; cursor NULL/"" = start.
	 * IP_EINVAL for a cursor this backend did not make. */
	int (*list)(struct table *t, const char *cursor, size_t limit,
		    struct table_page *out, struct ip_error *err);
	/* Records whose status is pending or processing, oldest first, after
	 * cursor; used by start-up recovery.  Same paging contract. */
	int (*list_unfinished)(struct table *t, const char *cursor,
			       size_t limit, struct table_page *out,
			       struct ip_error *err);
	/* API keys (core/apikey.h), kept beside the records so that every
	 * gateway sharing the table shares them.  key_put: IP_EEXIST if
	 * the id exists; key_get: IP_ENOTFOUND if not; key_list: every key,
	 * oldest first, IP_ETOOBIG past max; key_replace: overwrite a key
	 * that exists (IP_ENOTFOUND if not). */
	int (*key_put)(struct table *t, const struct apikey *k,
		       struct ip_error *err);
	int (*key_get)(struct table *t, const char *id, struct apikey *out,
		       struct ip_error *err);
	int (*key_list)(struct table *t, struct apikey *out, size_t max,
			size_t *n, struct ip_error *err);
	int (*key_replace)(struct table *t, const struct apikey *k,
			   struct ip_error *err);
	/* The webhooks' outbox (core/hook.h), beside the records so that
	 * every worker sharing the table delivers them.  hook_put: create,
	 * IP_EEXIST if the id exists, stores version 1 (h->version = 1);
	 * hook_get: IP_ENOTFOUND if not; hook_update: conditional on
	 * `expected` as update above (IP_ECONFLICT, IP_ENOTFOUND);
	 * hook_del: IP_ENOTFOUND if missing; hook_list: hooks in `state`
	 * whose next_ms <= due_ms, oldest (by id) first, at most max. */
	int (*hook_put)(struct table *t, struct hook *h, struct ip_error *err);
	int (*hook_get)(struct table *t, const char *id, struct hook *out,
			struct ip_error *err);
	int (*hook_update)(struct table *t, struct hook *h, int64_t expected,
			   struct ip_error *err);
	int (*hook_del)(struct table *t, const char *id, struct ip_error *err);
	int (*hook_list)(struct table *t, enum hook_state state, int64_t due_ms,
			 struct hook *out, size_t max, size_t *n,
			 struct ip_error *err);
	/* Check the stored data itself (sqlite: PRAGMA quick_check), for at
	 * most limit_ms (then IP_OK, with *cut_short set).  IP_OK when
	 * sound, IP_EDAMAGED with the first problem when not.  Optional:
	 * NULL when the service keeps its own (DynamoDB): IP_OK. */
	int (*check)(struct table *t, int64_t limit_ms, bool *cut_short,
		     struct ip_error *err);
};

struct table {
	const struct table_ops *ops;
};

/* Open the backend named by cfg->table ("sqlite" = DATA/imgpipe.db) and
 * make it usable: table_connect, then table_ensure as configured.
 * IP_EINVAL for an unknown backend or bad URL, IP_ENOTSUP for a backend
 * this binary was built without ("imgpipe was built without dynamodb"). */
int table_open(const struct config *cfg, struct table **out,
	       struct ip_error *err);

/* Open the backend without touching the table itself (no request is made
 * to a remote service); `imgpipe init` then calls table_ensure.  Same
 * errors as table_open for the URL. */
int table_connect(const struct config *cfg, struct table **out,
		  struct ip_error *err);

/* `imgpipe doctor --repair` of a damaged embedded table: its file is
 * renamed to FILE.damaged-<ms> (into moved), a fresh one is made, and the
 * rows the old one still gives are copied over (*copied of them).  Only
 * while no process uses it.  IP_ENOTSUP for a backend that keeps its own
 * data (a service). */
int table_rebuild(const struct config *cfg, char *moved, size_t len,
		  int64_t *copied, struct ip_error *err);
/* The backends this binary was built with, e.g. "sqlite dynamodb". */
void table_backends(char *buf, size_t size);

void table_page_free(struct table_page *p);

static inline void
table_close(struct table *t)
{
	if (t != NULL)
		t->ops->close(t);
}

/* The backend's name ("sqlite", "dynamodb"), for logs and --version. */
static inline const char *
table_name(const struct table *t)
{
	return t->ops->name;
}

static inline int
table_ping(struct table *t, struct ip_error *e)
{
	return t->ops->ping(t, e);
}

static inline int
table_ensure(struct table *t, enum table_missing missing, struct ip_error *e)
{
	if (t->ops->ensure == NULL)
		return IP_OK;
	return t->ops->ensure(t, missing, e);
}

static inline int
table_check(struct table *t, int64_t limit_ms, bool *cut_short,
	    struct ip_error *e)
{
	*cut_short = false;
	if (t->ops->check == NULL)
		return IP_OK;
	return t->ops->check(t, limit_ms, cut_short, e);
}
/* Whether the table holds any record, damaged rows included (`serve`
 * warns of an empty table beside a full input bucket): one listing of
 * one record.  *any set; IP_OK or the listing's error. */
int table_any(struct table *t, bool *any, struct ip_error *e);
static inline int
table_put(struct table *t, struct record *r, struct ip_error *e)
{
	return t->ops->put(t, r, e);
}

static inline int
table_get(struct table *t, const char *id, struct record *out,
	  struct ip_error *e)
{
	return t->ops->get(t, id, out, e);
}

static inline int
table_update(struct table *t, struct record *r, int64_t expected,
	     struct ip_error *e)
{
	return t->ops->update(t, r, expected, e);
}

static inline int
table_delete(struct table *t, const char *id, struct ip_error *e)
{
	return t->ops->del(t, id, e);
}

static inline int
table_list(struct table *t, const char *cursor, size_t limit,
	   struct table_page *out, struct ip_error *e)
{
	return t->ops->list(t, cursor, limit, out, e);
}

static inline int
table_list_unfinished(struct table *t, const char *cursor, size_t limit,
		      struct table_page *out, struct ip_error *e)
{
	return t->ops->list_unfinished(t, cursor, limit, out, e);
}

static inline int
table_key_put(struct table *t, const struct apikey *k, struct ip_error *e)
{
	return t->ops->key_put(t, k, e);
}

static inline int
table_key_get(struct table *t, const char *id, struct apikey *out,
	      struct ip_error *e)
{
	if (!apikey_id_valid(id))
		return ip_error_set(e, IP_EINVAL, "not a key id: '%.20s'", id);
	return t->ops->key_get(t, id, out, e);
}

static inline int
table_key_list(struct table *t, struct apikey *out, size_t max, size_t *n,
	       struct ip_error *e)
{
	return t->ops->key_list(t, out, max, n, e);
}

static inline int
table_hook_put(struct table *t, struct hook *h, struct ip_error *e)
{
	return t->ops->hook_put(t, h, e);
}

static inline int
table_hook_get(struct table *t, const char *id, struct hook *out,
	       struct ip_error *e)
{
	if (!hook_id_valid(id))
		return ip_error_set(e, IP_EINVAL, "not a delivery id: '%.64s'",
				    id);
	return t->ops->hook_get(t, id, out, e);
}

static inline int
table_hook_update(struct table *t, struct hook *h, int64_t expected,
		  struct ip_error *e)
{
	return t->ops->hook_update(t, h, expected, e);
}

static inline int
table_hook_delete(struct table *t, const char *id, struct ip_error *e)
{
	return t->ops->hook_del(t, id, e);
}

static inline int
table_hook_list(struct table *t, enum hook_state state, int64_t due_ms,
		struct hook *out, size_t max, size_t *n, struct ip_error *e)
{
	return t->ops->hook_list(t, state, due_ms, out, max, n, e);
}

/* Mark key id revoked at when_ms (a key revoked before keeps its first
 * time).  IP_ENOTFOUND if there is no such key. */
int table_key_revoke(struct table *t, const char *id, int64_t when_ms,
		     struct ip_error *e);

#endif
