/*
 * fuzz_event.c - libFuzzer target for the S3 event parser (the function's
 * outside input).  Replayed over fuzz/corpus/event by replay.c in every
 * build; run with libFuzzer via `make fuzz`.
 */
#include "core/event.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event *ev = malloc(sizeof(*ev));
	struct ip_error err;

	if (ev == NULL)
		return 0;
	if (event_parse((const char *)data, size, ev, &err) == IP_OK) {
		/* every accepted record is bounded and terminated */
		for (size_t i = 0; i < ev->n; i++)
			if (ev->records[i].problem[0] == '\0' &&
			    (ev->records[i].key[0] == '\0' ||
			     ev->records[i].bucket[0] == '\0'))
				abort();
	}
	event_clear(ev);
	free(ev);
	return 0;
}
