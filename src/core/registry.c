/*
 * registry.c - the lookup the backend registries share (registry.h).
 * Called by objstore.c, table.c and queue.c at start-up and by
 * `imgpipe --version`; reentrant, touches no state.
 */
#include "core/registry.h"

#include "core/backend_url.h"
#include "core/util.h"

static const struct registry_entry *
entry_at(const void *entries, size_t size, size_t i)
{
	return (const struct registry_entry *)((const char *)entries +
					       i * size);
}

int
registry_find(const void *entries, size_t n, size_t size, const char *module,
	      const char *url, size_t *idx, struct ip_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct registry_entry *e = entry_at(entries, size, i);

		if (!backend_url_is(url, e->scheme))
			continue;
		if (!e->built)
			return ip_error_set(err, IP_ENOTSUP,
					    "%s: imgpipe was built without %s",
					    module, e->scheme);
		*idx = i;
		return IP_OK;
	}
	return ip_error_set(err, IP_EINVAL, "%s: unknown backend \"%s\"",
			    module, url);
}

void
registry_names(const void *entries, size_t n, size_t size, char *buf,
	       size_t bufsize)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct registry_entry *e = entry_at(entries, size, i);

		if (e->built)
			util_append_word(buf, bufsize, e->scheme);
	}
}
