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
 * doc is record_to_string(); status, version and uploaded_at are copies
 * kept in columns for the queries.  The `version` column is the truth for
 * the optimistic concurrency of table.h; get overwrites the doc's.
 *
 * Cursors are base64url (no padding) of the last id returned; on the way
 * back they must decode to a valid id, else IP_EINVAL.
 */
#include "table/table.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define SQLT_SCHEMA_VERSION 1
#define SQLT_BUSY_MS 5000
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
};

static const char sqlt_schema[] =
	"CREATE TABLE IF NOT EXISTS images ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" status TEXT NOT NULL,"
	" version INTEGER NOT NULL,"
	" uploaded_at INTEGER NOT NULL,"
	" doc TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS images_status ON images(status, id);";

struct sqlt {
	struct table base;	/* first: the interface casts */
	pthread_mutex_t lock;	/* guards db and every statement */
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

/* Map an SQLite result to our vocabulary; message from the connection. */
static int
sqlt_error(struct sqlt *s, int rc, const char *what, struct ip_error *err)
{
	int code;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = IP_ERETRY;
		break;
	case SQLITE_NOMEM:
		code = IP_ENOMEM;
		break;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		code = IP_EIO;
		break;
	default:
		code = IP_EBACKEND;
		break;
	}
	return ip_error_set(err, code, "table sqlite: %s: %s", what,
			    s->db != NULL ? sqlite3_errmsg(s->db)
					  : sqlite3_errstr(rc));
}

/* Borrow a prepared statement; sqlt_done() gives it back clean. */
static sqlite3_stmt *
sqlt_stmt(struct sqlt *s, enum sqlt_stmt which)
{
	return s->st[which];
}

static void
sqlt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Base64url without padding. */
static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
cursor_encode(const char *id, char *out, size_t size)
{
	const unsigned char *in = (const unsigned char *)id;
	size_t n = strlen(id);
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 <= size; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (unsigned)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (left > 1)
			out[o++] = b64url[(v >> 6) & 63];
		if (left > 2)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
}

/* Decode a cursor into an id; false unless it is one we could have made. */
static bool
cursor_decode(const char *cursor, char *id, size_t size)
{
	size_t n = strnlen(cursor, TABLE_CURSOR_MAX);
	unsigned v = 0;
	int bits = 0;
	size_t o = 0;

	if (n == 0 || n >= TABLE_CURSOR_MAX || n % 4 == 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(b64url, cursor[i]);

		if (cursor[i] == '\0' || p == NULL)
			return false;
		v = (v << 6) | (unsigned)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= size)
				return false;
			id[o++] = (char)((v >> bits) & 0xff);
		}
	}
	/* Leftover bits must be zero, or the encoding was not canonical. */
	if ((v & ((1u << bits) - 1)) != 0)
		return false;
	id[o] = '\0';
	return util_id_valid(id);
}

static int
sqlt_check_record(const struct record *r, struct ip_error *err)
{
	if (!util_id_valid(r->id))
		return ip_error_set(err, IP_EINVAL, "record id is not a ULID");
	if ((int)r->status < RECORD_PENDING || r->status > RECORD_FAILED)
		return ip_error_set(err, IP_EINVAL, "record status invalid");
	return IP_OK;
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
		return ip_error_set(err, IP_EBACKEND,
				    "table sqlite: record without doc");
	}
	if (len <= 0 || len > SQLT_DOC_MAX)
		return ip_error_set(err, IP_EBACKEND,
				    "table sqlite: record doc of %d bytes",
				    len);
	memset(r, 0, sizeof(*r));
	rc = record_from_string((const char *)doc, (size_t)len, r, err);
	if (rc != IP_OK) {
		ip_error_prefix(err, "table sqlite: stored record");
		return IP_EBACKEND;
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

	/* record_to_string fails on a string that is not UTF-8 (JSON cannot
	 * hold it) or, far less likely, on OOM; the first is the caller's. */
	*doc = record_to_string(r);
	if (*doc == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "table sqlite: record does not encode "
				    "(a string is not UTF-8?)");
	rc = sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, record_status_name(r->status),
				       -1, SQLITE_STATIC);
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

	rc = sqlt_check_record(r, err);
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
	sqlt_done(st);
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
	sqlt_done(st);
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
	sqlt_done(st);
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

	rc = sqlt_check_record(r, err);
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
	sqlt_done(st);
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
	sqlt_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * Run a listing statement (?1 = the id to start after, if `after` is set)
 * and fill one page of at most limit records.
 */
static int
sqlt_page(struct sqlt *s, enum sqlt_stmt which, const char *after,
	  size_t limit, struct table_page *out, struct ip_error *err)
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
			continue;
		}
		n++;
	}
	rc = IP_OK;
	out->n = n;
	out->items = items;
	items = NULL;
	if (more)
		cursor_encode(last, out->next_cursor, sizeof(out->next_cursor));
out:
	sqlt_done(st);
	pthread_mutex_unlock(&s->lock);
	free(items);
	return rc;
}

static int
sqlt_list_common(struct table *t, bool unfinished, const char *cursor,
		 size_t limit, struct table_page *out, struct ip_error *err)
{
	char after[RECORD_ID_MAX];
	bool from_start = cursor == NULL || cursor[0] == '\0';

	memset(out, 0, sizeof(*out));
	if (limit < 1 || limit > TABLE_LIST_MAX)
		return ip_error_set(err, IP_EINVAL, "limit must be 1..%d",
				    TABLE_LIST_MAX);
	if (!from_start && !cursor_decode(cursor, after, sizeof(after)))
		return ip_error_set(err, IP_EINVAL, "invalid cursor");
	if (unfinished)
		return sqlt_page(sqlt(t), ST_UNFINISHED,
				 from_start ? "" : after, limit, out, err);
	return sqlt_page(sqlt(t), from_start ? ST_LIST_FIRST : ST_LIST_AFTER,
			 from_start ? NULL : after, limit, out, err);
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
	sqlt_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void
sqlt_close(struct table *t)
{
	struct sqlt *s = sqlt(t);

	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		log_error("table sqlite: close %s: %s", s->path,
			  sqlite3_errmsg(s->db));
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Run a pragma whose answer must be `want` (e.g. journal_mode -> wal). */
static int
sqlt_pragma(struct sqlt *s, const char *sql, const char *want,
	    struct ip_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, sql, err);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sqlt_error(s, rc, sql, err);
		goto out;
	}
	if (want != NULL &&
	    (rc != SQLITE_ROW ||
	     sqlite3_column_text(st, 0) == NULL ||
	     strcmp((const char *)sqlite3_column_text(st, 0), want) != 0)) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "table sqlite: %s did not give %s", sql,
				  want);
		goto out;
	}
	rc = IP_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Create or check the schema; idempotent, one transaction. */
static int
sqlt_migrate(struct sqlt *s, struct ip_error *err)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int version;
	int rc;

	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlt_error(s, rc, "begin", err);
	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = sqlt_error(s, rc, "user_version", err);
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	if (version > SQLT_SCHEMA_VERSION) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "table sqlite: %s has schema %d, newer than "
				  "this imgpipe (%d)",
				  s->path, version, SQLT_SCHEMA_VERSION);
		goto out;
	}
	rc = sqlite3_exec(s->db, sqlt_schema, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, "schema", err);
		goto out;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 SQLT_SCHEMA_VERSION);
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, "user_version", err);
		goto out;
	}
	rc = IP_OK;
out:
	sqlite3_finalize(st);
	if (rc == IP_OK &&
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = sqlt_error(s, SQLITE_ERROR, "commit", err);
	if (rc != IP_OK)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* mkdir -p of the directory that will hold path. */
static int
sqlt_mkdir_parent(const char *path, struct ip_error *err)
{
	char dir[CONFIG_PATH_MAX];
	char *slash;
	int e;

	util_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return IP_OK;
	*slash = '\0';
	e = util_mkdir_p(dir);
	if (e != 0)
		return ip_error_set(err, IP_EIO, "table sqlite: mkdir %s: %s",
				    dir, strerror(-e));
	return IP_OK;
}

int
table_sqlite_open(const char *path, struct table **out,
		  struct ip_error *err)
{
	struct sqlt *s = NULL;
	int rc;

	*out = NULL;
	if (path == NULL || path[0] == '\0' ||
	    strlen(path) >= sizeof(s->path))
		return ip_error_set(err, IP_EINVAL, "table sqlite: bad path");
	rc = sqlt_mkdir_parent(path, err);
	if (rc != IP_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ip_error_set(err, IP_ENOMEM, "table sqlite");
	s->base.ops = &sqlt_ops;
	util_strlcpy(s->path, path, sizeof(s->path));
	pthread_mutex_init(&s->lock, NULL);
	/* NOMUTEX: s->lock already serialises every use of the handle. */
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, path, err);
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	rc = sqlite3_busy_timeout(s->db, SQLT_BUSY_MS);
	if (rc != SQLITE_OK) {
		rc = sqlt_error(s, rc, "busy_timeout", err);
		goto out;
	}
	rc = sqlt_pragma(s, "PRAGMA journal_mode=WAL", "wal", err);
	if (rc == IP_OK)
		rc = sqlt_pragma(s, "PRAGMA synchronous=FULL", NULL, err);
	if (rc == IP_OK)
		rc = sqlt_migrate(s, err);
	if (rc != IP_OK)
		goto out;
	for (int i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, sqlt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		if (rc != SQLITE_OK) {
			rc = sqlt_error(s, rc, "prepare", err);
			goto out;
		}
	}
	*out = &s->base;
	s = NULL;
	rc = IP_OK;
out:
	if (s != NULL)
		sqlt_close(&s->base);
	return rc;
}

static const struct table_ops sqlt_ops = {
	.name = "sqlite",
	.caps = 0,
	.close = sqlt_close,
	.ping = sqlt_ping,
	.put = sqlt_put,
	.get = sqlt_get,
	.update = sqlt_update,
	.del = sqlt_del,
	.list = sqlt_list,
	.list_unfinished = sqlt_list_unfinished,
};
