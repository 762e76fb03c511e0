/*
 * backend_url.c - the URL rules of the backend registries; see
 * backend_url.h.
 *
 * Called by objstore_open, table_open and queue_open, once each at
 * start-up, on whichever thread wires the process.
 */
#include "core/backend_url.h"

#include <stdio.h>
#include <string.h>

bool
backend_url_is(const char *url, const char *scheme)
{
	size_t n = strcspn(url, ":+");

	return n > 0 && n == strlen(scheme) && memcmp(url, scheme, n) == 0;
}

/* The path of a NAME:// URL: absolute, not "/" alone, nothing after. */
static bool
backend_url_path_ok(const char *p)
{
	return p[0] == '/' && p[1] != '\0' && strpbrk(p, "?#") == NULL;
}

int
backend_url_local(const struct backend_url_local *l, const char *url,
		  const char *data_dir, char *buf, size_t size,
		  const char **path, struct ip_error *err)
{
	size_t n = strlen(l->name);
	const char *p = NULL;
	int len;

	*path = NULL;
	if (strcmp(url, l->name) == 0) {
		if (data_dir[0] == '\0')
			return ip_error_set(err, IP_EINVAL,
					    "%s %s: data_dir is empty",
					    l->module, l->name);
		len = snprintf(buf, size, "%s/%s", data_dir, l->file);
		if (len < 0 || (size_t)len >= size)
			return ip_error_set(err, IP_EINVAL,
					    "%s %s: data_dir too long",
					    l->module, l->name);
		*path = buf;
		return IP_OK;
	}
	if (strncmp(url, l->name, n) == 0 && strncmp(url + n, "://", 3) == 0)
		p = url + n + 3;
	if (p != NULL && !backend_url_path_ok(p) && l->path_hint != NULL)
		return ip_error_set(err, IP_EINVAL,
				    "%s: %s URL needs an absolute path and "
				    "nothing else (%s)",
				    l->module, l->name, l->path_hint);
	if (p == NULL || !backend_url_path_ok(p))
		return ip_error_set(err, IP_EINVAL,
				    "%s: expected \"%s\" or "
				    "\"%s:///absolute/%s\", got \"%s\"",
				    l->module, l->name, l->name, l->example,
				    url);
	*path = p;
	return IP_OK;
}
