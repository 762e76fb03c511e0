/*
 * sqlite_util.h - the SQLite plumbing of the embedded backends
 * (table_sqlite.c, queue_sqlite.c): open a database file durably, create
 * or check its schema, prepare its statements, and map SQLite result codes
 * to enum ip_code.
 *
 * A connection opened here has SQLite's own mutex off
 * (SQLITE_OPEN_NOMUTEX): its owner serialises every use of it and of its
 * statements.  The functions themselves are reentrant.
 */
#ifndef IMGPIPE_SQLITE_UTIL_H
#define IMGPIPE_SQLITE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The types of <sqlite3.h>, which only the backends include. */
struct sqlite3;
struct sqlite3_stmt;

/* What a backend's database is: constant, one per backend. */
struct sqlite_util_schema {
	const char *who; /* message prefix, e.g. "table sqlite" */
	const char *ddl; /* CREATE ... IF NOT EXISTS statements */
	int version; /* the PRAGMA user_version ddl makes */
	const char *const *sql; /* statements to prepare, nsql of them */
	size_t nsql;
};

/*
 * Fill err with the enum ip_code of SQLite result rc (BUSY/LOCKED:
 * IP_ERETRY, NOMEM: IP_ENOMEM, FULL/READONLY and an IOERR whose errno is
 * ENOSPC/EDQUOT/EROFS: IP_ENOSPACE, other IOERR and CANTOPEN: IP_EIO,
 * CORRUPT/NOTADB: IP_EDAMAGED, anything else IP_EBACKEND) and "WHO: WHAT: <SQLite's message>", taken
 * from db if it is not NULL.  Returns the code.
 */
int sqlite_util_error(const char *who, struct sqlite3 *db, int rc,
		      const char *what, struct ip_error *err);

/*
 * Open the database file at path (making it and its directory if need
 * be): extended result codes, a busy timeout, journal_mode=WAL, an
 * integrity check bounded by check_ms (sqlite_util_check; a damaged file
 * is IP_EDAMAGED, and so is one SQLite cannot read at all), synchronous=FULL, the schema created or checked (a file of a newer
 * schema version is IP_EBACKEND), and sc->sql prepared into st[0, nsql)
 * for repeated use.  IP_EINVAL for an empty path or one of
 * CONFIG_PATH_MAX bytes or more.  On failure *db and st are NULL.
 */
int sqlite_util_open(const struct sqlite_util_schema *sc, const char *path,
		     int64_t check_ms, struct sqlite3 **db,
		     struct sqlite3_stmt **st, struct ip_error *err);

/*
 * PRAGMA quick_check of db (the file at path, for messages) for at most
 * limit_ms (0 or less: no check): IP_OK when sound or when the check was
 * cut short (then *cut_short is set); IP_EDAMAGED with the first problem
 * and what to do (`imgpipe doctor --repair`, or a backup) when not.
 */
int sqlite_util_check(const char *who, const char *path, struct sqlite3 *db,
		      int64_t limit_ms, bool *cut_short, struct ip_error *err);

/*
 * `imgpipe doctor --repair` of a damaged file: rename path (and its -wal
 * and -shm) to "PATH.damaged-<ms>" (into moved), create a fresh database
 * at path with sc's schema, and copy into it every row of `tables`
 * (NULL-terminated) the old file still gives, skipping what cannot be
 * read; *copied counts them.  The old file is kept for a human.  Run
 * only while no process has the file open.
 */
int sqlite_util_rebuild(const struct sqlite_util_schema *sc, const char *path,
			const char *const *tables, char *moved,
			size_t moved_len, int64_t *copied,
			struct ip_error *err);

/* Finalize st[0, nsql) and close db (NULL-safe); a failed close is logged
 * with path. */
void sqlite_util_close(const struct sqlite_util_schema *sc, const char *path,
		       struct sqlite3 *db, struct sqlite3_stmt **st);

/* Give a used prepared statement back clean: reset, bindings cleared. */
void sqlite_util_done(struct sqlite3_stmt *st);

#endif
