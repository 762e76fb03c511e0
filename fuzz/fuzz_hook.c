/*
 * fuzz_hook.c - libFuzzer target for the webhooks' parsers (core/hook.h):
 * the stored form of a delivery (table rows and DynamoDB items are
 * outside input) must re-encode and decode to itself; the same bytes as
 * notify.url and notify.secret must parse or be refused, never overrun.
 */
#include "core/hook.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
settings(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct hook_urls *u = malloc(sizeof(*u));
	struct hook_secrets *k = malloc(sizeof(*k));
	struct ip_error err;

	if (s != NULL && u != NULL && k != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		if (hook_urls_parse(s, u, &err) == IP_OK)
			for (size_t i = 0; i < u->n; i++)
				if (strlen(u->url[i]) >= HOOK_URL_MAX ||
				    strpbrk(u->url[i], " ,") != NULL)
					abort();
		(void)hook_secrets_parse(s, k, &err);
	}
	free(s);
	free(u);
	free(k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hook a, b;
	struct ip_error err;
	char *text;

	settings(data, size);
	if (hook_from_string((const char *)data, size, &a, &err) != IP_OK)
		return 0;
	text = hook_to_string(&a);
	if (text == NULL)
		return 0;
	if (hook_from_string(text, strlen(text), &b, &err) != IP_OK ||
	    memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	free(text);
	return 0;
}
