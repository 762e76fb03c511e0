/*
 * fuzz_dynamodb.c - libFuzzer target for the DynamoDB reply parsers: a
 * GetItem reply into a record (table_dynamodb_parse_get), a Query reply
 * into a page of records (table_dynamodb_parse_query), and the JSON error
 * body (aws_json_error).  DynamoDB replies are outside input: a damaged
 * item must be refused or skipped, never crash or half-decode.  Replayed
 * over fuzz/corpus/dynamodb by replay.c in every build; run with
 * libFuzzer via `make fuzz`.
 */
#include "aws/aws_error.h"
#include "core/util.h"
#include "table/table_dynamodb.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_QUERY_WANT 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct record *recs = calloc(FUZZ_QUERY_WANT, sizeof(*recs));
	struct ip_error err;
	char code[96];
	char msg[256];
	size_t n = 0;

	if (recs == NULL)
		return 0;
	/* a decoded record has a valid id and a version */
	if (table_dynamodb_parse_get(json, size, &recs[0], &err) == IP_OK &&
	    (!util_id_valid(recs[0].id) || recs[0].version < 1))
		abort();
	if (table_dynamodb_parse_query(json, size, recs, FUZZ_QUERY_WANT, &n,
				       &err) == IP_OK) {
		if (n > FUZZ_QUERY_WANT)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!util_id_valid(recs[i].id) || recs[i].version < 1)
				abort();
	}
	if (aws_json_error(json, size, code, sizeof(code), msg, sizeof(msg)) &&
	    code[0] == '\0')
		abort();
	free(recs);
	return 0;
}
