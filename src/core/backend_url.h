/*
 * backend_url.h - the rules the backend registries (objstore.c, table.c,
 * queue.c) apply to a configured backend URL: which backend its scheme
 * names, and where an embedded backend keeps its data.
 *
 * Thread-safety: reentrant, no state.
 */
#ifndef IMGPIPE_BACKEND_URL_H
#define IMGPIPE_BACKEND_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

/* True if the scheme of url (the text before its first ':' or '+', or
 * all of a bare name such as "fs") is scheme. */
bool backend_url_is(const char *url, const char *scheme);

/* The URL forms of an embedded backend, for backend_url_local(). */
struct backend_url_local {
	const char *module; /* message prefix: "table" */
	const char *name; /* the bare URL and the scheme: "sqlite" */
	const char *file; /* what the bare URL names in data_dir */
	const char *example; /* the path shown in messages: "file.db" */
	/* If set, a NAME:// URL with a bad path is told so with this
	 * example ("fs:///srv/imgpipe"); else it gets the message of any
	 * other URL: "expected NAME or NAME:///absolute/EXAMPLE". */
	const char *path_hint;
};

/*
 * Where an embedded backend keeps its data: for the bare URL NAME,
 * DATA_DIR/FILE, written into buf; for "NAME:///abs/path", /abs/path (no
 * host, no relative path, not "/" alone, no query or fragment), borrowed
 * from url.  *path gets either.  IP_EINVAL for an empty or too long
 * data_dir and for any other URL.
 */
int backend_url_local(const struct backend_url_local *l, const char *url,
		      const char *data_dir, char *buf, size_t size,
		      const char **path, struct ip_error *err);

#endif
