/*
 * table_sqlite.h - the embedded SQLite table backend (table_sqlite.c): its
 * constructor, for the table registry (table.c) only; everyone else goes
 * through table.h.
 *
 * URLs: "sqlite" = DATA/imgpipe.db; "sqlite:///abs/file.db" = that file.
 */
#ifndef IMGPIPE_TABLE_SQLITE_H
#define IMGPIPE_TABLE_SQLITE_H

#include "core/config.h"
#include "core/error.h"
#include "table/table.h"

/* Open (and create, schema included) the database named by cfg->table.
 * IP_EINVAL for a bad URL, IP_EBACKEND when SQLite cannot open it. */
int table_sqlite_open(const struct config *cfg, struct table **out,
		      struct ip_error *err);

/* table_rebuild (see table.h) for the file named by cfg->table. */
int table_sqlite_rebuild(const struct config *cfg, char *moved, size_t len,
			 int64_t *copied, struct ip_error *err);

#endif
