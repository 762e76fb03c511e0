/*
 * table_dynamodb.h - the DynamoDB table backend (table_dynamodb.c): its
 * constructor for the table registry and the `imgpipe init` entry point.
 *
 * URLs (see docs/DISTRIBUTED.md):
 *   dynamodb+http://HOST:PORT/?table=imgpipe&region=R  DynamoDB-compatible
 *   dynamodb+https://HOST/?...                         the same over TLS
 *   dynamodb://?table=imgpipe&region=R                 AWS DynamoDB
 * Parameters: table (default "imgpipe"), region, attempts (1..10, default
 * 4), timeout (seconds below 1 B/s, default 30), create (default 1:
 * create the table when missing at open).
 */
#ifndef IMGPIPE_TABLE_DYNAMODB_H
#define IMGPIPE_TABLE_DYNAMODB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "table/table.h"

/* Open the backend named by cfg->table; creates the table and its
 * indexes when missing (unless ?create=0) and waits until they are
 * ACTIVE.  Credentials as in aws.h. */
int table_dynamodb_open(const struct config *cfg, struct table **out,
			struct ip_error *err);

/* `imgpipe init`: create the table named by cfg->table when missing and
 * wait (bounded) until it and its indexes are ACTIVE; IP_OK if it already
 * was.  IP_EBACKEND if a table of that name exists with another layout. */
int table_dynamodb_init(const struct config *cfg, struct ip_error *err);

#endif
