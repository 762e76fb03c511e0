/*
 * table_sqlite.c - the embedded metadata table: one SQLite file in WAL mode.
 *
 * Called through the table.h wrappers by the gateway (put), the workers
 * (get, update), the HTTP handlers (get, list, delete) and start-up
 * recovery (list_unfinished), from any thread at once.
 *
 * DESIGN
 *
 * One connection, guarded by one mutex.  Every operation is one or two
 * short statements on an indexed key, so serialising them costs less
 * than a connection per thread would (each with its own page cache and
 * prepared statements), and it makes the read-check-write of update
 * atomic within the process for free.  Other processes sharing the file
 * are handled by SQLite's locking plus busy_timeout; SQLITE_BUSY after
 * that is IP_ERETRY.
 *
 * Durability: journal_mode=WAL, synchronous=FULL, so a put that returned
 * (and with it the gateway's 202) survives power loss.
 *
 * Schema (user_version 1):
 *   images(id TEXT PRIMARY KEY, status TEXT, version INTEGER,
 *          uploaded_at INTEGER, doc TEXT)
 *   api_keys(id TEXT PRIMARY KEY, doc TEXT)   (since 0.2; created by
 *          IF NOT EXISTS, so an older file gains it at open)
 *   hooks(id TEXT PRIMARY KEY, state TEXT, next_ms INTEGER,
 *          version INTEGER, doc TEXT)   the webhooks' outbox (the same
 *          way; doc is hook_to_string())
 * doc is record_to_string() (apikey_to_string() for api_keys); status, version and uploaded_at are copies
 * kept in columns for the queries.  The `version` column is the truth for
 * the optimistic concurrency of table.h; get overwrites the doc's.
 *
 * Cursors are base64url (no padding) of the last id returned; on the way
 * back they must decode to a valid id, else IP_EINVAL.
 */
#include "table/table_sqlite.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend_url.h"
#include "core/log.h"
#include "core/sqlite_util.h"
#include "core/util.h"
#include "table/table_util.h"

#define SQLT_DOC_MAX (1024 * 1024) /* far above any record's JSON */

enum sqlt_stmt {
	ST_PUT,
	ST_GET,
	ST_UPDATE,
	ST_EXISTS,
	ST_DEL,
	ST_LIST_FIRST,
	ST_LIST_AFTER,
	ST_UNFINISHED,
	ST_PING,
	ST_KEY_PUT,
	ST_KEY_GET,
	ST_KEY_LIST,
	ST_KEY_REPLACE,
	ST_HOOK_PUT,
	ST_HOOK_GET,
	ST_HOOK_UPDATE,
	ST_HOOK_EXISTS,
	ST_HOOK_DEL,
	ST_HOOK_LIST,
	ST_COUNT
};

static const char *const sqlt_sql[ST_COUNT] = {
    [ST_PUT] = "INSERT INTO images(id, status, version, uploaded_at, doc)"
	       " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_GET] = "SELECT version, doc FROM images WHERE id = ?1",
    [ST_UPDATE] = "UPDATE images SET status = ?2, version = ?3,"
		  " uploaded_at = ?4, doc = ?5"
		  " WHERE id = ?1 AND version = ?6",
    [ST_EXISTS] = "SELECT 1 FROM images WHERE id = ?1",
    [ST_DEL] = "DELETE FROM images WHERE id = ?1",
    /* No LIMIT: rows are stepped lazily and the page stops at limit+1,
     * even when a damaged row had to be skipped. */
    [ST_LIST_FIRST] = "SELECT id, version, doc FROM images"
		      " ORDER BY id DESC",
    [ST_LIST_AFTER] = "SELECT id, version, doc FROM images"
		      " WHERE id < ?1 ORDER BY id DESC",
    /* Every id is non-empty, so "" as ?1 starts from the beginning. */
    [ST_UNFINISHED] = "SELECT id, version, doc FROM images"
		      " WHERE status IN ('pending', 'processing')"
		      " AND id > ?1 ORDER BY id ASC",
    [ST_PING] = "SELECT 1",
    [ST_KEY_PUT] = "INSERT INTO api_keys(id, doc) VALUES (?1, ?2)",
    [ST_KEY_GET] = "SELECT doc FROM api_keys WHERE id = ?1",
    [ST_KEY_LIST] = "SELECT doc FROM api_keys ORDER BY rowid",
    [ST_KEY_REPLACE] = "UPDATE api_keys SET doc = ?2 WHERE id = ?1",
    [ST_HOOK_PUT] = "INSERT INTO hooks(id, state, next_ms, version, doc)"
		    " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_HOOK_GET] = "SELECT version, doc FROM hooks WHERE id = ?1",
    [ST_HOOK_UPDATE] = "UPDATE hooks SET state = ?2, next_ms = ?3,"
		       " version = ?4, doc = ?5 WHERE id = ?1 AND version = ?6",
    [ST_HOOK_EXISTS] = "SELECT 1 FROM hooks WHERE id = ?1",
    [ST_HOOK_DEL] = "DELETE FROM hooks WHERE id = ?1",
    [ST_HOOK_LIST] = "SELECT version, doc FROM hooks WHERE state = ?1"
		     " AND next_ms <= ?2 ORDER BY id LIMIT ?3",
};

static const char sqlt_ddl[] =
    "CREATE TABLE IF NOT EXISTS images ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " status TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " uploaded_at INTEGER NOT NULL,"
    " doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS images_status ON images(status, id);"
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hooks ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " state TEXT NOT NULL,"
    " next_ms INTEGER NOT NULL,"
    " version INTEGER NOT NULL,"
    " doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS hooks_due ON hooks(state, next_ms);";

static const struct sqlite_util_schema sqlt_schema = {
    .who = "table sqlite",
    .ddl = sqlt_ddl,
    .version = 1,
    .sql = sqlt_sql,
    .nsql = ST_COUNT,
};

struct sqlt {
	struct table base; /* first: the interface casts */
	pthread_mutex_t lock; /* guards db and every statement */
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	char path[CONFIG_PATH_MAX];
};

static const struct table_ops sqlt_ops;

static struct sqlt *
sqlt(struct table *t)
{
	return (struct sqlt *)t;
}

static int
sqlt_error(struct sqlt *s, int rc, const char *what, struct ip_error *err)
{
	return sqlite_util_error(sqlt_schema.who, s->db, rc, what, err);
}

/* Borrow a prepared statement; sqlite_util_done() gives it back clean. */
static sqlite3_stmt *
sqlt_stmt(struct sqlt *s, enum sqlt_stmt which)
{
	return s->st[which];
}

/* Parse one row's doc column (index col) into r, version from vcol. */
static int
sqlt_row_record(struct sqlt *s, sqlite3_stmt *st, int vcol, int dcol,
		struct record *r, struct ip_error *err)
{
	const unsigned char *doc = sqlite3_column_text(st, dcol);
	int len = sqlite3_column_bytes(st, dcol);
	int rc;

	if (doc == NULL) {
		if (sqlite3_errcode(s->db) == SQLITE_NOMEM)
			return ip_error_set(err, IP_ENOMEM, "table sqlite");
		return ip_error_set(err, IP_EDAMAGED,
				    "table sqlite: record without doc");
	}
	if (len <= 0 || len > SQLT_DOC_MAX)
		return ip_error_set(err, IP_EDAMAGED,
				    "table sqlite: record doc of %d bytes",
				    len);
	memset(r, 0, sizeof(*r));
	rc = record_from_string((const char *)doc, (size_t)len, r, err);
	if (rc != IP_OK) {
		/* A row that does not parse is damage, not bad input. */
		ip_error_prefix(err, "table sqlite: stored record");
		if (err != NULL)
			err->code = IP_EDAMAGED;
		return IP_EDAMAGED;
	}
	r->version = sqlite3_column_int64(st, vcol);
	return IP_OK;
}

/*
 * Bind the columns shared by put and update, with r->version already the
 * version to store.  *doc receives the text to free after the step.
 */
static int
sqlt_bind_record(struct sqlt *s, sqlite3_stmt *st, const struct record *r,
		 char **doc, struct ip_error *err)
{
	int rc;

	rc = table_util_record_doc(sqlt_schema.who, r, doc, err);
	if (rc != IP_OK)
		return rc;
	rc = sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, record_status_name(r->status), -1,
				       SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, r->version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, r->uploaded_at);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 5, *doc, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return sqlt_error(s, rc, "bind", err);
	return IP_OK;
}

static int
sqlt_put(struct table *t, struct record *r, struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	int64_t old_version = r->version;
	sqlite3_stmt *st;
	char *doc = NULL;
	int rc;

	rc = table_util_check_record(r, err);
	if (rc != IP_OK)
		return rc;
	r->version = 1;
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_PUT);
	rc = sqlt_bind_record(s, st, r, &doc, err);
	if (rc != IP_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = IP_OK;
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		rc = ip_error_set(err, IP_EEXIST, "record %s exists", r->id);
	else
		rc = sqlt_error(s, rc, "put", err);
out:
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	free(doc);
	if (rc != IP_OK)
		r->version = old_version;
	return rc;
}

static int
sqlt_get(struct table *t, const char *id, struct record *out,
	 struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	if (!util_id_valid(id))
		return ip_error_set(err, IP_EINVAL, "id is not a ULID");
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_GET);
	rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, "bind", err);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlt_row_record(s, st, 0, 1, out, err);
	else if (rc == SQLITE_DONE)
		rc = ip_error_set(err, IP_ENOTFOUND, "no record %s", id);
	else
		rc = sqlt_error(s, rc, "get", err);
out:
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* With the lock held: IP_OK if id is stored, IP_ENOTFOUND if not. */
static int
sqlt_exists(struct sqlt *s, const char *id, struct ip_error *err)
{
	sqlite3_stmt *st = sqlt_stmt(s, ST_EXISTS);
	int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = IP_OK;
	else if (rc == SQLITE_DONE)
		rc = ip_error_set(err, IP_ENOTFOUND, "no record %s", id);
	else
		rc = sqlt_error(s, rc, "exists", err);
	sqlite_util_done(st);
	return rc;
}

static int
sqlt_update(struct table *t, struct record *r, int64_t expected,
	    struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	int64_t old_version = r->version;
	sqlite3_stmt *st;
	char *doc = NULL;
	int rc;

	rc = table_util_check_record(r, err);
	if (rc != IP_OK)
		return rc;
	if (expected < 1 || expected == INT64_MAX)
		return ip_error_set(err, IP_EINVAL, "bad expected version");
	r->version = expected + 1;
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_UPDATE);
	rc = sqlt_bind_record(s, st, r, &doc, err);
	if (rc != IP_OK)
		goto out;
	rc = sqlite3_bind_int64(st, 6, expected);
	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, "bind", err);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		rc = sqlt_error(s, rc, "update", err);
		goto out;
	}
	rc = IP_OK;
	if (sqlite3_changes(s->db) == 0) {
		rc = sqlt_exists(s, r->id, err);
		if (rc == IP_OK)
			rc = ip_error_set(err, IP_ECONFLICT,
					  "record %s is not at version %lld",
					  r->id, (long long)expected);
	}
out:
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	free(doc);
	if (rc != IP_OK)
		r->version = old_version;
	return rc;
}

static int
sqlt_del(struct table *t, const char *id, struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	if (!util_id_valid(id))
		return ip_error_set(err, IP_EINVAL, "id is not a ULID");
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_DEL);
	rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		rc = sqlt_error(s, rc, "delete", err);
	else if (sqlite3_changes(s->db) == 0)
		rc = ip_error_set(err, IP_ENOTFOUND, "no record %s", id);
	else
		rc = IP_OK;
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * Run a listing statement (?1 = the id to start after, if `after` is set)
 * and fill one page of at most limit records.
 */
static int
sqlt_page(struct sqlt *s, enum sqlt_stmt which, const char *after, size_t limit,
	  struct table_page *out, struct ip_error *err)
{
	struct record *items = NULL;
	char last[RECORD_ID_MAX] = "";
	size_t cap = 0;
	size_t n = 0;
	bool more = false;
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, which);
	rc = SQLITE_OK;
	if (after != NULL)
		rc = sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, "bind", err);
		goto out;
	}
	for (;;) {
		const char *id;

		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			rc = sqlt_error(s, rc, "list", err);
			goto out;
		}
		if (n == limit) {
			more = true;
			break;
		}
		if (n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct record *grown;

			if (ncap > limit)
				ncap = limit;
			grown = realloc(items, ncap * sizeof(*items));
			if (grown == NULL) {
				rc = ip_error_set(err, IP_ENOMEM, "list");
				goto out;
			}
			items = grown;
			cap = ncap;
		}
		id = (const char *)sqlite3_column_text(st, 0);
		if (id == NULL || !util_id_valid(id)) {
			rc = ip_error_set(err, IP_EBACKEND,
					  "table sqlite: stored id invalid");
			goto out;
		}
		util_strlcpy(last, id, sizeof(last));
		rc = sqlt_row_record(s, st, 1, 2, &items[n], err);
		if (rc != IP_OK) {
			/* One damaged row must not hide all the others; its
			 * get keeps answering the error. */
			log_error("%s (id %s), skipped in listing",
				  err != NULL ? err->msg : "bad record", last);
			if (out->n_damaged < TABLE_DAMAGED_MAX)
				util_strlcpy(out->damaged[out->n_damaged], last,
					     sizeof(out->damaged[0]));
			out->n_damaged++;
			continue;
		}
		n++;
	}
	rc = IP_OK;
	out->n = n;
	out->items = items;
	items = NULL;
	if (more)
		table_util_cursor_encode(last, out->next_cursor,
					 sizeof(out->next_cursor));
out:
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	free(items);
	return rc;
}

static int
sqlt_list_common(struct table *t, bool unfinished, const char *cursor,
		 size_t limit, struct table_page *out, struct ip_error *err)
{
	char after[RECORD_ID_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = table_util_list_start(cursor, limit, after, sizeof(after), err);
	if (rc != IP_OK)
		return rc;
	/* Every id is non-empty, so "" starts ST_UNFINISHED from the start. */
	if (unfinished)
		return sqlt_page(sqlt(t), ST_UNFINISHED, after, limit, out,
				 err);
	if (after[0] == '\0')
		return sqlt_page(sqlt(t), ST_LIST_FIRST, NULL, limit, out, err);
	return sqlt_page(sqlt(t), ST_LIST_AFTER, after, limit, out, err);
}

static int
sqlt_list(struct table *t, const char *cursor, size_t limit,
	  struct table_page *out, struct ip_error *err)
{
	return sqlt_list_common(t, false, cursor, limit, out, err);
}

static int
sqlt_list_unfinished(struct table *t, const char *cursor, size_t limit,
		     struct table_page *out, struct ip_error *err)
{
	return sqlt_list_common(t, true, cursor, limit, out, err);
}

static int
sqlt_ping(struct table *t, struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_PING);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? IP_OK : sqlt_error(s, rc, "ping", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void
sqlt_close(struct table *t)
{
	struct sqlt *s = sqlt(t);

	sqlite_util_close(&sqlt_schema, s->path, s->db, s->st);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int
sqlt_check(struct table *t, int64_t limit_ms, bool *cut_short,
	   struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = sqlite_util_check(sqlt_schema.who, s->path, s->db, limit_ms,
			       cut_short, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlt_open_path(const char *path, int64_t check_ms, struct table **out,
	       struct ip_error *err)
{
	struct sqlt *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ip_error_set(err, IP_ENOMEM, "table sqlite");
	rc = sqlite_util_open(&sqlt_schema, path, check_ms, &s->db, s->st, err);
	if (rc != IP_OK) {
		free(s);
		return rc;
	}
	s->base.ops = &sqlt_ops;
	util_strlcpy(s->path, path, sizeof(s->path));
	pthread_mutex_init(&s->lock, NULL);
	*out = &s->base;
	return IP_OK;
}

/* "sqlite" = DATA/imgpipe.db; "sqlite:///abs/file.db" = that file. */
/* The file cfg->table names, in buf. */
static int
sqlt_path(const struct config *cfg, char *buf, size_t len, const char **path,
	  struct ip_error *err)
{
	static const struct backend_url_local forms = {
	    .module = "table",
	    .name = "sqlite",
	    .file = "imgpipe.db",
	    .example = "file.db",
	};

	return backend_url_local(&forms, cfg->table, cfg->data_dir, buf, len,
				 path, err);
}

int
table_sqlite_open(const struct config *cfg, struct table **out,
		  struct ip_error *err)
{
	char buf[CONFIG_PATH_MAX + 16];
	const char *path;
	int rc;

	*out = NULL;
	rc = sqlt_path(cfg, buf, sizeof(buf), &path, err);
	if (rc != IP_OK)
		return rc;
	return sqlt_open_path(path, (int64_t)cfg->integrity_check_s * 1000, out,
			      err);
}

int
table_sqlite_rebuild(const struct config *cfg, char *moved, size_t len,
		     int64_t *copied, struct ip_error *err)
{
	static const char *const tables[] = {"images", "api_keys", NULL};
	char buf[CONFIG_PATH_MAX + 16];
	const char *path;
	int rc;

	*copied = 0;
	rc = sqlt_path(cfg, buf, sizeof(buf), &path, err);
	if (rc != IP_OK)
		return rc;
	return sqlite_util_rebuild(&sqlt_schema, path, tables, moved, len,
				   copied, err);
}

/* ---- API keys ------------------------------------------------------- */

/* Bind ?1 = id and, if doc, ?2 = doc, then step once. */
static int
sqlt_key_step(struct sqlt *s, sqlite3_stmt *st, const char *id, const char *doc,
	      struct ip_error *err)
{
	int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);

	if (rc == SQLITE_OK && doc != NULL)
		rc = sqlite3_bind_text(st, 2, doc, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return sqlt_error(s, rc, "bind", err);
	return sqlite3_step(st);
}

/* A row's doc column 0 into k. */
static int
sqlt_row_key(sqlite3_stmt *st, struct apikey *k, struct ip_error *err)
{
	const unsigned char *doc = sqlite3_column_text(st, 0);

	if (doc == NULL)
		return ip_error_set(err, IP_EBACKEND,
				    "table sqlite: key without doc");
	return apikey_from_string((const char *)doc,
				  (size_t)sqlite3_column_bytes(st, 0), k, err);
}

static int
sqlt_key_write(struct table *t, const struct apikey *k, bool create,
	       struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	char *doc = apikey_to_string(k);
	sqlite3_stmt *st;
	int rc;

	if (doc == NULL)
		return ip_error_set(err, IP_ENOMEM, "table sqlite: key");
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, create ? ST_KEY_PUT : ST_KEY_REPLACE);
	rc = sqlt_key_step(s, st, k->id, doc, err);
	if (rc == SQLITE_DONE && !create && sqlite3_changes(s->db) == 0)
		rc = ip_error_set(err, IP_ENOTFOUND, "no key %s", k->id);
	else if (rc == SQLITE_DONE)
		rc = IP_OK;
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		rc = ip_error_set(err, IP_EEXIST, "key %s exists", k->id);
	else if (rc > 0)
		rc = sqlt_error(s, rc, "key write", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	free(doc);
	return rc;
}

static int
sqlt_key_put(struct table *t, const struct apikey *k, struct ip_error *err)
{
	return sqlt_key_write(t, k, true, err);
}

static int
sqlt_key_replace(struct table *t, const struct apikey *k, struct ip_error *err)
{
	return sqlt_key_write(t, k, false, err);
}

static int
sqlt_key_get(struct table *t, const char *id, struct apikey *out,
	     struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_KEY_GET);
	rc = sqlt_key_step(s, st, id, NULL, err);
	if (rc == SQLITE_ROW)
		rc = sqlt_row_key(st, out, err);
	else if (rc == SQLITE_DONE)
		rc = ip_error_set(err, IP_ENOTFOUND, "no key %s", id);
	else if (rc > 0)
		rc = sqlt_error(s, rc, "key get", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlt_key_list(struct table *t, struct apikey *out, size_t max, size_t *n,
	      struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_KEY_LIST);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == max) {
			rc = ip_error_set(err, IP_ETOOBIG, "more than %zu keys",
					  max);
			break;
		}
		rc = sqlt_row_key(st, &out[*n], err);
		if (rc != IP_OK)
			break;
		(*n)++;
	}
	if (rc == SQLITE_DONE)
		rc = IP_OK;
	else if (rc > 0)
		rc = sqlt_error(s, rc, "key list", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- the webhooks' outbox ------------------------------------------- */

/* A row's (version, doc) into h. */
static int
sqlt_row_hook(sqlite3_stmt *st, struct hook *h, struct ip_error *err)
{
	const unsigned char *doc = sqlite3_column_text(st, 1);
	int rc;

	if (doc == NULL)
		return ip_error_set(err, IP_EBACKEND,
				    "table sqlite: hook without doc");
	rc = hook_from_string((const char *)doc,
			      (size_t)sqlite3_column_bytes(st, 1), h, err);
	if (rc == IP_OK)
		h->version = sqlite3_column_int64(st, 0);
	return rc;
}

/* Bind id, state, next_ms, version (h->version) and the doc. */
static int
sqlt_bind_hook(struct sqlt *s, sqlite3_stmt *st, const struct hook *h,
	       char **doc, struct ip_error *err)
{
	int rc;

	*doc = hook_to_string(h);
	if (*doc == NULL)
		return ip_error_set(err, IP_ENOMEM, "table sqlite: hook");
	rc = sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, hook_state_name(h->state), -1,
				       SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, h->next_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, h->version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 5, *doc, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return sqlt_error(s, rc, "bind", err);
	return IP_OK;
}

static int
sqlt_hook_put(struct table *t, struct hook *h, struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	char *doc = NULL;
	int rc;

	if (!hook_id_valid(h->id))
		return ip_error_set(err, IP_EINVAL, "bad delivery id");
	h->version = 1;
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_HOOK_PUT);
	rc = sqlt_bind_hook(s, st, h, &doc, err);
	if (rc == IP_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = IP_OK;
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		rc = ip_error_set(err, IP_EEXIST, "delivery %s exists", h->id);
	else if (rc > 0)
		rc = sqlt_error(s, rc, "hook put", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	free(doc);
	return rc;
}

static int
sqlt_hook_get(struct table *t, const char *id, struct hook *out,
	      struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_HOOK_GET);
	rc = sqlt_key_step(s, st, id, NULL, err);
	if (rc == SQLITE_ROW)
		rc = sqlt_row_hook(st, out, err);
	else if (rc == SQLITE_DONE)
		rc = ip_error_set(err, IP_ENOTFOUND, "no delivery %s", id);
	else if (rc > 0)
		rc = sqlt_error(s, rc, "hook get", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* With s->lock held: IP_OK if hook id exists, else IP_ENOTFOUND. */
static int
sqlt_hook_exists(struct sqlt *s, const char *id, struct ip_error *err)
{
	sqlite3_stmt *st = sqlt_stmt(s, ST_HOOK_EXISTS);
	int rc = sqlt_key_step(s, st, id, NULL, err);

	if (rc == SQLITE_ROW)
		rc = IP_OK;
	else if (rc == SQLITE_DONE)
		rc = ip_error_set(err, IP_ENOTFOUND, "no delivery %s", id);
	else if (rc > 0)
		rc = sqlt_error(s, rc, "hook exists", err);
	sqlite_util_done(st);
	return rc;
}

static int
sqlt_hook_update(struct table *t, struct hook *h, int64_t expected,
		 struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	int64_t old_version = h->version;
	sqlite3_stmt *st;
	char *doc = NULL;
	int rc;

	if (expected < 1 || expected == INT64_MAX)
		return ip_error_set(err, IP_EINVAL, "bad expected version");
	h->version = expected + 1;
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_HOOK_UPDATE);
	rc = sqlt_bind_hook(s, st, h, &doc, err);
	if (rc == IP_OK && sqlite3_bind_int64(st, 6, expected) != SQLITE_OK)
		rc = sqlt_error(s, SQLITE_ERROR, "bind", err);
	if (rc == IP_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(s->db) > 0 ? IP_OK : IP_ECONFLICT;
	else if (rc > 0)
		rc = sqlt_error(s, rc, "hook update", err);
	sqlite_util_done(st);
	if (rc == IP_ECONFLICT) {
		rc = sqlt_hook_exists(s, h->id, err);
		if (rc == IP_OK)
			rc = ip_error_set(err, IP_ECONFLICT,
					  "delivery %s is not at version %lld",
					  h->id, (long long)expected);
	}
	pthread_mutex_unlock(&s->lock);
	free(doc);
	if (rc != IP_OK)
		h->version = old_version;
	return rc;
}

static int
sqlt_hook_del(struct table *t, const char *id, struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_HOOK_DEL);
	rc = sqlt_key_step(s, st, id, NULL, err);
	if (rc == SQLITE_DONE)
		rc =
		    sqlite3_changes(s->db) > 0
			? IP_OK
			: ip_error_set(err, IP_ENOTFOUND, "no delivery %s", id);
	else if (rc > 0)
		rc = sqlt_error(s, rc, "hook delete", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlt_hook_list(struct table *t, enum hook_state state, int64_t due_ms,
	       struct hook *out, size_t max, size_t *n, struct ip_error *err)
{
	struct sqlt *s = sqlt(t);
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	pthread_mutex_lock(&s->lock);
	st = sqlt_stmt(s, ST_HOOK_LIST);
	rc =
	    sqlite3_bind_text(st, 1, hook_state_name(state), -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, due_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	if (rc != SQLITE_OK)
		rc = sqlt_error(s, rc, "bind", err);
	else
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
			rc = sqlt_row_hook(st, &out[*n], err);
			if (rc != IP_OK)
				break;
			(*n)++;
		}
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		rc = IP_OK;
	else if (rc > 0)
		rc = sqlt_error(s, rc, "hook list", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static const struct table_ops sqlt_ops = {
    .name = "sqlite",
    .close = sqlt_close,
    .ping = sqlt_ping,
    .put = sqlt_put,
    .get = sqlt_get,
    .update = sqlt_update,
    .del = sqlt_del,
    .list = sqlt_list,
    .list_unfinished = sqlt_list_unfinished,
    .key_put = sqlt_key_put,
    .key_get = sqlt_key_get,
    .key_list = sqlt_key_list,
    .key_replace = sqlt_key_replace,
    .hook_put = sqlt_hook_put,
    .hook_get = sqlt_hook_get,
    .hook_update = sqlt_hook_update,
    .hook_del = sqlt_hook_del,
    .hook_list = sqlt_hook_list,
    .check = sqlt_check,
};
