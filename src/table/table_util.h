/*
 * table_util.h - what the table backends (table_sqlite.c,
 * table_dynamodb.c) do alike: the checks of a record and of a list call,
 * a record's stored text, and the opaque listing cursor (base64url,
 * without padding, of the last id of a page).
 *
 * Thread-safety: reentrant, no state.
 */
#ifndef IMGPIPE_TABLE_UTIL_H
#define IMGPIPE_TABLE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/record.h"

/* IP_EINVAL unless r's id is a ULID and its status a known one. */
int table_util_check_record(const struct record *r, struct ip_error *err);

/* *doc = record_to_string(r), for the caller to free().  IP_EINVAL
 * ("WHO: record does not encode") if it fails: a string that is not UTF-8
 * (JSON cannot hold it), or, far less likely, no memory. */
int table_util_record_doc(const char *who, const struct record *r, char **doc,
			  struct ip_error *err);

/* The arguments of a list call: limit 1..TABLE_LIST_MAX, and a cursor
 * that is NULL or "" (from the start: after = "") or one that
 * table_util_cursor_encode made (after = its id; size >= RECORD_ID_MAX).
 * IP_EINVAL otherwise. */
int table_util_list_start(const char *cursor, size_t limit, char *after,
			  size_t size, struct ip_error *err);

/* The cursor of id into out (TABLE_CURSOR_MAX bytes) and back; decode is
 * false unless the cursor is one encode could have made of a valid id. */
void table_util_cursor_encode(const char *id, char *out, size_t size);
bool table_util_cursor_decode(const char *cursor, char *id, size_t size);

#endif
