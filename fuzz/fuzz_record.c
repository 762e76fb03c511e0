/*
 * fuzz_record.c - libFuzzer target for the record decoder (table rows and
 * DynamoDB items are outside input).  A decoded record must re-encode and
 * decode to itself.
 */
#include "core/record.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record *a = malloc(sizeof(*a));
	struct record *b = malloc(sizeof(*b));
	struct ip_error err;
	char *text;

	if (a == NULL || b == NULL)
		goto out;
	if (record_from_string((const char *)data, size, a, &err) != IP_OK)
		goto out;
	text = record_to_string(a);
	if (text == NULL)
		goto out;
	if (record_from_string(text, strlen(text), b, &err) != IP_OK ||
	    memcmp(a, b, sizeof(*a)) != 0)
		abort();
	free(text);
out:
	free(a);
	free(b);
	return 0;
}
