/*
 * table_dynamodb.h - the DynamoDB table backend (table_dynamodb.c): its
 * constructor, for the table registry (table.c) only; everyone else goes
 * through table.h (table_ensure creates the table).
 *
 * URLs (see docs/DISTRIBUTED.md):
 *   dynamodb+http://HOST:PORT/?table=imgpipe&region=R  DynamoDB-compatible
 *   dynamodb+https://HOST/?...                         the same over TLS
 *   dynamodb://?table=imgpipe&region=R                 AWS DynamoDB
 * Parameters: table (default "imgpipe"), region, attempts (1..10, default
 * 4), timeout (seconds below 1 B/s, default 30), create (default 1:
 * create the table when missing at start-up; `imgpipe init` always may).
 */
#ifndef IMGPIPE_TABLE_DYNAMODB_H
#define IMGPIPE_TABLE_DYNAMODB_H

#include "core/config.h"
#include "core/error.h"
#include "table/table.h"

/* Open the backend named by cfg->table without a request (table_ensure
 * makes the first: it creates the table and its indexes when missing and
 * waits, bounded, until they are ACTIVE; IP_EBACKEND if a table of that
 * name exists with another layout).  IP_EINVAL for a bad URL, IP_EAUTH
 * without credentials (as in aws.h). */
int table_dynamodb_open(const struct config *cfg, struct table **out,
			struct ip_error *err);

/* The DynamoDB replies this backend decodes, exposed for the unit tests
 * and fuzz/fuzz_dynamodb.c.  json[0, len) need not be NUL-terminated.
 *
 * A GetItem reply ({"Item": {...}}) into *out: IP_ENOTFOUND without an
 * Item, IP_EBACKEND for a reply or item that is not a well-formed record
 * (id, doc and version attributes, doc a valid record of that id). */
int table_dynamodb_parse_get(const char *json, size_t len, struct record *out,
			     struct ip_error *err);

/* A Query reply ({"Items": [...]}) into items[0, want): *n gets how many
 * were decoded (a damaged item is logged and skipped).  IP_EBACKEND for a
 * reply without Items or with more than want of them. */
int table_dynamodb_parse_query(const char *json, size_t len,
			       struct record *items, size_t want, size_t *n,
			       struct ip_error *err);

#endif
