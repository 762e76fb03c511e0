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

#endif
