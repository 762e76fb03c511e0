/*
 * fuzz_vspec.c - libFuzzer target for the on-demand variant spec
 * (core/vspec.h), the {variant} segment of a URL anyone may send: it
 * parses or is refused, never overruns; what parses has a canonical name
 * that fits a record's variant name and parses back to itself and to
 * the same definition.
 */
#include "core/vspec.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct variant_spec a, b;
	struct ip_error err;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (vspec_parse(s, &a, &err) == IP_OK) {
		if (strlen(a.name) >= VSPEC_CANONICAL_MAX ||
		    vspec_parse(a.name, &b, &err) != IP_OK ||
		    strcmp(a.name, b.name) != 0 ||
		    !vspec_same_definition(&a, &b))
			abort();
	}
	free(s);
	return 0;
}
