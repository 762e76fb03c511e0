/*
 * registry.h - what the three backend registries (objstore.c, table.c,
 * queue.c) share: finding the entry a configured URL names, and listing
 * the backends a build has (for `imgpipe --version`).
 *
 * Each registry is a static const array of its own struct whose first
 * member is a struct registry_entry, so these functions walk it with its
 * element size.  Called at start-up and by --version; reentrant.
 */
#ifndef IMGPIPE_REGISTRY_H
#define IMGPIPE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct registry_entry {
	const char *scheme; /* "fs", "s3", "sqlite", "dynamodb", "redis" */
	bool built; /* false: the build left it out (meson -Ds3=disabled) */
};

/* The index in entries (n of them, size bytes apart, each starting with a
 * struct registry_entry) of the backend whose scheme url has, in *idx.
 * IP_EINVAL "MODULE: unknown backend" when none has it, IP_ENOTSUP
 * "MODULE: imgpipe was built without NAME" when the build left it out. */
int registry_find(const void *entries, size_t n, size_t size,
		  const char *module, const char *url, size_t *idx,
		  struct ip_error *err);

/* The schemes of the built entries, space-separated, into buf. */
void registry_names(const void *entries, size_t n, size_t size, char *buf,
		    size_t bufsize);

#endif
