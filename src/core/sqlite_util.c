/*
 * sqlite_util.c - the SQLite plumbing of the embedded backends; see
 * sqlite_util.h.
 *
 * Called by table_sqlite.c and queue_sqlite.c: open and close once each,
 * the error mapping and sqlite_util_done from any thread that holds the
 * backend's lock.  No state of its own.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, so a write that
 * returned survives power loss.  Another process sharing the file waits
 * up to SQLITE_UTIL_BUSY_MS for its lock; SQLITE_BUSY after that is
 * IP_ERETRY.
 */
#include "core/sqlite_util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#define SQLITE_UTIL_BUSY_MS 5000

int
sqlite_util_error(const char *who, sqlite3 *db, int rc, const char *what,
		  struct ip_error *err)
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
	case SQLITE_FULL:
	case SQLITE_READONLY:
		code = IP_ENOSPACE;
		break;
	case SQLITE_IOERR:
		/* A write that met a full disk or a read-only file system. */
		code = ip_errno_code(db != NULL ? sqlite3_system_errno(db) : 0,
				     IP_EIO);
		break;
	case SQLITE_CANTOPEN:
		code = IP_EIO;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = IP_EDAMAGED;
		break;
	default:
		code = IP_EBACKEND;
		break;
	}
	return ip_error_set(err, code, "%s: %s: %s", who, what,
			    db != NULL ? sqlite3_errmsg(db)
				       : sqlite3_errstr(rc));
}

void
sqlite_util_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

void
sqlite_util_close(const struct sqlite_util_schema *sc, const char *path,
		  sqlite3 *db, sqlite3_stmt **st)
{
	for (size_t i = 0; i < sc->nsql; i++) {
		sqlite3_finalize(st[i]);
		st[i] = NULL;
	}
	if (db != NULL && sqlite3_close(db) != SQLITE_OK)
		log_error("%s: close %s: %s", sc->who, path,
			  sqlite3_errmsg(db));
}

/* Run a pragma whose answer must be `want` (e.g. journal_mode -> wal). */
static int
sqlite_util_pragma(const char *who, sqlite3 *db, const char *sql,
		   const char *want, struct ip_error *err)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *got;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK) {
		rc = sqlite_util_error(who, db, rc, sql, err);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sqlite_util_error(who, db, rc, sql, err);
		goto out;
	}
	got = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (want != NULL &&
	    (got == NULL || strcmp((const char *)got, want) != 0)) {
		rc = ip_error_set(err, IP_EBACKEND, "%s: %s did not give %s",
				  who, sql, want);
		goto out;
	}
	rc = IP_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Create or check the schema; idempotent, one transaction. */
static int
sqlite_util_migrate(const struct sqlite_util_schema *sc, const char *path,
		    sqlite3 *db, struct ip_error *err)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int version;
	int rc;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlite_util_error(sc->who, db, rc, "begin", err);
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = sqlite_util_error(sc->who, db, rc, "user_version", err);
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	if (version > sc->version) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "%s: %s has schema %d, newer than "
				  "this imgpipe (%d)",
				  sc->who, path, version, sc->version);
		goto out;
	}
	rc = sqlite3_exec(db, sc->ddl, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlite_util_error(sc->who, db, rc, "schema", err);
		goto out;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", sc->version);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlite_util_error(sc->who, db, rc, "user_version", err);
		goto out;
	}
	rc = IP_OK;
out:
	sqlite3_finalize(st);
	if (rc == IP_OK &&
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc =
		    sqlite_util_error(sc->who, db, SQLITE_ERROR, "commit", err);
	if (rc != IP_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The deadline of a check: SQLite's progress handler asks every
 * CHECK_STEPS virtual-machine steps; non-zero interrupts the statement. */
#define CHECK_STEPS 1000

struct check_clock {
	int64_t until_ms;
	bool cut;
};

static int
check_progress(void *arg)
{
	struct check_clock *c = arg;

	if (util_mono_ms() < c->until_ms)
		return 0;
	c->cut = true;
	return 1;
}

/* err (IP_EDAMAGED) says what to do about a damaged file. */
static int
damaged(const char *who, const char *path, const char *problem,
	struct ip_error *err)
{
	char one_line[256];

	/* quick_check's answer spans lines ("*** in database main ***",
	 * then "Page 5: ..."): one line per log message. */
	util_strlcpy(one_line, problem, sizeof(one_line));
	for (char *p = one_line; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return ip_error_set(
	    err, IP_EDAMAGED,
	    "%s: %s is damaged (%.200s): stop imgpipe, then run "
	    "`imgpipe doctor --repair`, or restore the file "
	    "from a backup",
	    who, path, one_line);
}

int
sqlite_util_check(const char *who, const char *path, sqlite3 *db,
		  int64_t limit_ms, bool *cut_short, struct ip_error *err)
{
	struct check_clock c = {util_mono_ms() + limit_ms, false};
	sqlite3_stmt *st = NULL;
	const unsigned char *first;
	int rc;

	*cut_short = false;
	if (limit_ms <= 0)
		return IP_OK;
	sqlite3_progress_handler(db, CHECK_STEPS, check_progress, &c);
	/* quick_check(1): stop at the first problem; O(N), no index
	 * contents compared (integrity_check would be O(N log N)). */
	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		first = sqlite3_column_text(st, 0);
		if (first != NULL && strcmp((const char *)first, "ok") == 0)
			rc = IP_OK;
		else
			rc = damaged(who, path,
				     first != NULL ? (const char *)first
						   : "quick_check failed",
				     err);
	} else if (c.cut || (rc & 0xff) == SQLITE_INTERRUPT) {
		*cut_short = true;
		rc = IP_OK;
	} else if ((rc & 0xff) == SQLITE_CORRUPT ||
		   (rc & 0xff) == SQLITE_NOTADB) {
		rc = damaged(who, path, sqlite3_errmsg(db), err);
	} else {
		rc = sqlite_util_error(who, db, rc, "quick_check", err);
	}
	sqlite3_finalize(st);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	return rc;
}

/* mkdir -p of the directory that will hold path. */
static int
sqlite_util_mkdir_parent(const char *who, const char *path,
			 struct ip_error *err)
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
		return ip_error_set(err, IP_EIO, "%s: mkdir %s: %s", who, dir,
				    strerror(-e));
	return IP_OK;
}

int
sqlite_util_open(const struct sqlite_util_schema *sc, const char *path,
		 int64_t check_ms, sqlite3 **out, sqlite3_stmt **st,
		 struct ip_error *err)
{
	sqlite3 *db = NULL;
	bool cut = false;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < sc->nsql; i++)
		st[i] = NULL;
	if (path == NULL || path[0] == '\0' || strlen(path) >= CONFIG_PATH_MAX)
		return ip_error_set(err, IP_EINVAL, "%s: bad path", sc->who);
	rc = sqlite_util_mkdir_parent(sc->who, path, err);
	if (rc != IP_OK)
		return rc;
	/* NOMUTEX: the backend's own lock serialises every use. */
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		rc = sqlite_util_error(sc->who, db, rc, path, err);
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	rc = sqlite3_busy_timeout(db, SQLITE_UTIL_BUSY_MS);
	if (rc != SQLITE_OK) {
		rc = sqlite_util_error(sc->who, db, rc, "busy_timeout", err);
		goto out;
	}
	rc = sqlite_util_pragma(sc->who, db, "PRAGMA journal_mode=WAL", "wal",
				err);
	if (rc == IP_OK)
		rc = sqlite_util_check(sc->who, path, db, check_ms, &cut, err);
	if (cut)
		log_warn("%s: the integrity check of %s was cut short after "
			 "%lld ms (storage.integrity_check); `imgpipe doctor` "
			 "checks it whole",
			 sc->who, path, (long long)check_ms);
	if (rc == IP_OK)
		rc = sqlite_util_pragma(sc->who, db, "PRAGMA synchronous=FULL",
					NULL, err);
	if (rc == IP_OK)
		rc = sqlite_util_migrate(sc, path, db, err);
	if (rc != IP_OK)
		goto out;
	for (size_t i = 0; i < sc->nsql; i++) {
		rc =
		    sqlite3_prepare_v3(db, sc->sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &st[i], NULL);
		if (rc != SQLITE_OK) {
			rc = sqlite_util_error(sc->who, db, rc, "prepare", err);
			goto out;
		}
	}
	*out = db;
	db = NULL;
	rc = IP_OK;
out:
	if (rc == IP_EDAMAGED && err != NULL &&
	    strstr(err->msg, "imgpipe doctor") == NULL) {
		/* Damage met before or without the check ("file is not a
		 * database", a broken schema page): say what to do. */
		char problem[IP_ERROR_MSG_MAX];

		util_strlcpy(problem, err->msg, sizeof(problem));
		damaged(sc->who, path, problem, err);
	}
	if (db != NULL)
		sqlite_util_close(sc, path, db, st);
	return rc;
}

/* Rename path+suffix to moved+suffix when it exists. */
static int
set_aside_one(const char *who, const char *path, const char *moved,
	      const char *suffix, struct ip_error *err)
{
	char from[CONFIG_PATH_MAX + 64], to[CONFIG_PATH_MAX + 64];

	snprintf(from, sizeof(from), "%s%s", path, suffix);
	snprintf(to, sizeof(to), "%s%s", moved, suffix);
	if (rename(from, to) != 0 && errno != ENOENT)
		return ip_error_set(err, ip_errno_code(errno, IP_EIO),
				    "%s: rename %s: %s", who, from,
				    strerror(errno));
	return IP_OK;
}

/* Resume points after a row that cannot be read: the next rowid, then
 * ever further, so one damaged page costs its rows and no more. */
static const int64_t salvage_skips[] = {1, 16, 256, 4096, 65536, 1 << 20};

/* Copy what can be read of table t from src into dst (same columns),
 * in rowid order; *copied counts rows. */
static void
salvage_table(sqlite3 *src, sqlite3 *dst, const char *t, int64_t *copied)
{
	char sql[256];
	sqlite3_stmt *rd = NULL, *wr = NULL;
	int64_t last = INT64_MIN;
	size_t skip = 0;
	int ncol;

	snprintf(sql, sizeof(sql),
		 "SELECT rowid, * FROM %s WHERE rowid > ?1"
		 " ORDER BY rowid",
		 t);
	if (sqlite3_prepare_v2(src, sql, -1, &rd, NULL) != SQLITE_OK)
		return;
	ncol = sqlite3_column_count(rd) - 1;
	snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO %s VALUES (?", t);
	for (int i = 1; i < ncol; i++)
		util_strlcpy(sql + strlen(sql), ",?",
			     sizeof(sql) - strlen(sql));
	util_strlcpy(sql + strlen(sql), ")", sizeof(sql) - strlen(sql));
	if (ncol < 1 ||
	    sqlite3_prepare_v2(dst, sql, -1, &wr, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(rd, 1, last);
	for (;;) {
		int rc = sqlite3_step(rd);

		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			/* Damage: go on after it, further each time. */
			if (skip == UTIL_ARRAY_LEN(salvage_skips) ||
			    last == INT64_MIN)
				break;
			sqlite3_reset(rd);
			sqlite3_bind_int64(rd, 1, last + salvage_skips[skip++]);
			continue;
		}
		last = sqlite3_column_int64(rd, 0);
		for (int i = 0; i < ncol; i++)
			sqlite3_bind_value(wr, i + 1,
					   sqlite3_column_value(rd, i + 1));
		if (sqlite3_step(wr) == SQLITE_DONE)
			(*copied)++;
		sqlite_util_done(wr);
	}
out:
	sqlite3_finalize(wr);
	sqlite3_finalize(rd);
}

int
sqlite_util_rebuild(const struct sqlite_util_schema *sc, const char *path,
		    const char *const *tables, char *moved, size_t moved_len,
		    int64_t *copied, struct ip_error *err)
{
	sqlite3_stmt **st = calloc(sc->nsql, sizeof(*st));
	sqlite3 *src = NULL, *dst = NULL;
	int rc;

	*copied = 0;
	if (st == NULL)
		return ip_error_set(err, IP_ENOMEM, "%s: out of memory",
				    sc->who);
	snprintf(moved, moved_len, "%s.damaged-%lld", path,
		 (long long)util_now_ms());
	rc = set_aside_one(sc->who, path, moved, "", err);
	if (rc == IP_OK)
		rc = set_aside_one(sc->who, path, moved, "-wal", err);
	if (rc == IP_OK)
		rc = set_aside_one(sc->who, path, moved, "-shm", err);
	if (rc == IP_OK)
		rc = sqlite_util_open(sc, path, 0, &dst, st, err);
	if (rc != IP_OK)
		goto out;
	/* Whatever the old file still gives; nothing if it cannot even be
	 * opened.  One transaction: a fresh file, all or nothing. */
	if (sqlite3_open_v2(moved, &src, SQLITE_OPEN_READONLY, NULL) ==
		SQLITE_OK &&
	    sqlite3_exec(dst, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
		for (size_t i = 0; tables[i] != NULL; i++)
			salvage_table(src, dst, tables[i], copied);
		if (sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = sqlite_util_error(sc->who, dst, SQLITE_ERROR,
					       "commit", err);
	}
out:
	if (src != NULL)
		sqlite3_close(src);
	sqlite_util_close(sc, path, dst, st);
	free(st);
	return rc;
}
