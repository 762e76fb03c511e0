/*
 * fuzz_routes.c - libFuzzer target for the route matcher and the query
 * and Range parsers' caller-facing contract: any path, any method.  The
 * first byte picks the method; the rest is the raw path.
 */
#include "api/routes.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET",	"PUT",	"POST",
					      "DELETE", "HEAD", "PATCH"};
	struct route_match *m;
	struct ip_error err;
	char *path;
	int rc;

	if (size < 1)
		return 0;
	path = malloc(size);
	m = malloc(sizeof(*m));
	if (path == NULL || m == NULL)
		goto out;
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';
	rc = routes_match(methods[data[0] % 6], path, m, &err);
	if (rc == IP_OK) {
		/* a match has a route and bounded, terminated params */
		if (m->route == NULL || m->n_params > ROUTES_PARAMS_MAX)
			abort();
		for (size_t i = 0; i < m->n_params; i++)
			if (strlen(m->params[i]) > ROUTES_SEGMENT_MAX)
				abort();
	} else if (rc != IP_ENOTFOUND && rc != IP_ENOTSUP && rc != IP_EINVAL) {
		abort();
	}
out:
	free(path);
	free(m);
	return 0;
}
