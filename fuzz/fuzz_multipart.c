/*
 * fuzz_multipart.c - libFuzzer target for the streaming multipart parser:
 * the body is fed in chunks whose sizes come from the input itself, and
 * the file bytes the parser hands out can never exceed the body.
 */
#include "api/multipart.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count(void *arg, const char *data, size_t len, struct ip_error *err)
{
	(void)data;
	(void)err;
	*(size_t *)arg += len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct multipart *mp = malloc(sizeof(*mp));
	struct ip_error err;
	size_t got = 0;
	size_t off = 1;
	size_t chunk;

	if (mp == NULL || size < 1)
		goto out;
	chunk = 1 + data[0] % 64;
	if (multipart_init(mp, "XyZ", "file", count, &got, &err) != IP_OK)
		abort();
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (multipart_feed(mp, (const char *)data + off, n, &err) !=
		    IP_OK)
			break;
		off += n;
	}
	multipart_finish(mp, &err);
	if (got > size)
		abort();
out:
	free(mp);
	return 0;
}
