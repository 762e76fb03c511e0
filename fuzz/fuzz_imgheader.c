/*
 * fuzz_imgheader.c - libFuzzer target for the header parser
 * (core/imgheader.c), which reads the first bytes of every upload.  The
 * input is the file's prefix; the parser must stay inside it (ASan sees
 * to that), and what it accepts must be a real size.
 */
#include "core/imgheader.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size > 0 ? size : 1);
	struct imgheader h;

	if (copy == NULL)
		return 0;
	/* An exact-size copy, so a read past the end is caught. */
	memcpy(copy, data, size);
	if (imgheader_parse(copy, size, &h) == 0 &&
	    (h.width == 0 || h.height == 0 || h.frames == 0 ||
	     imgheader_pixels(&h) <= 0))
		abort();
	free(copy);
	return 0;
}
