/*
 * objstore.c - the backend registry of the object store, and the key and
 * bucket rules every backend applies before touching anything.
 *
 * Called by main/app wiring (objstore_open, once at start-up), by every
 * backend (objstore_key_valid, objstore_bucket_valid) and by anyone who
 * lists (objstore_listing_free).  Everything here is reentrant; the
 * registry is a constant table.
 *
 * Adding a backend is one line in `backends` below: the scheme of the
 * configured URL ("fs", "s3" for "s3+http://..." and "s3://...") selects
 * the entry, and the entry's open function parses the rest of the URL.
 * Every constructor has the same shape (cfg, out, err) and is declared in
 * the backend's own header, which only this file includes.  A backend
 * the build left out (meson -Ds3=disabled) keeps its entry, so that
 * asking for it says so instead of "unknown backend".
 */
#include "objstore/objstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/registry.h"
#include "core/util.h"
#include "objstore/objstore_fs.h"
#if IMGPIPE_WITH_S3
#include "objstore/objstore_s3.h"
#endif

/* One entry per backend.  A backend the build left out keeps its entry
 * (built false, open NULL), so that asking for it says so. */
static const struct {
	struct registry_entry e; /* first: registry.h walks the array */
	int (*open)(const struct config *cfg, struct objstore **out,
		    struct ip_error *err);
} backends[] = {
    {{"fs", true}, objstore_fs_open},
#if IMGPIPE_WITH_S3
    {{"s3", true}, objstore_s3_open},
#else
    {{"s3", false}, NULL},
#endif
};

void
objstore_backends(char *buf, size_t size)
{
	registry_names(backends, UTIL_ARRAY_LEN(backends), sizeof(backends[0]),
		       buf, size);
}

static int
find_backend(const char *url, size_t *idx, struct ip_error *err)
{
	return registry_find(backends, UTIL_ARRAY_LEN(backends),
			     sizeof(backends[0]), "objstore", url, idx, err);
}

int
objstore_open(const struct config *cfg, struct objstore **out,
	      struct ip_error *err)
{
	struct objstore *s = NULL;
	size_t i = 0;
	int rc;

	*out = NULL;
	rc = find_backend(cfg->objstore, &i, err);
	if (rc == IP_OK)
		rc = backends[i].open(cfg, &s, err);
	if (rc != IP_OK)
		goto out;
	rc = objstore_ensure_bucket(s, cfg->input_bucket, err);
	if (rc != IP_OK) {
		ip_error_prefix(err, "input bucket \"%s\"", cfg->input_bucket);
		goto out;
	}
	rc = objstore_ensure_bucket(s, cfg->output_bucket, err);
	if (rc != IP_OK) {
		ip_error_prefix(err, "output bucket \"%s\"",
				cfg->output_bucket);
		goto out;
	}
	log_info("objstore: %s backend ready", objstore_name(s));
	*out = s;
	s = NULL;
out:
	objstore_close(s);
	return rc;
}

/*
 * Length of the UTF-8 sequence at p (1..4), or 0 if it is malformed,
 * overlong, a surrogate, above U+10FFFF, or a C0/C1 control or DEL.
 */
static size_t
utf8_char_len(const unsigned char *p)
{
	unsigned c = p[0];
	unsigned cp;
	size_t n;

	if (c < 0x80)
		return c < 0x20 || c == 0x7f ? 0 : 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return n;
}

bool
objstore_key_valid(const char *key)
{
	const unsigned char *p = (const unsigned char *)key;
	size_t seg_start = 0;
	size_t i = 0;
	size_t n;

	if (key == NULL || key[0] == '\0' || key[0] == '/')
		return false;
	for (;;) {
		if (p[i] == '/' || p[i] == '\0') {
			size_t seg = i - seg_start;

			if (seg == 0)
				return false;
			if (seg == 1 && p[seg_start] == '.')
				return false;
			if (seg == 2 && p[seg_start] == '.' &&
			    p[seg_start + 1] == '.')
				return false;
			if (p[i] == '\0')
				break;
			i++;
			seg_start = i;
			continue;
		}
		if (p[i] == '\\')
			return false;
		n = utf8_char_len(p + i);
		if (n == 0)
			return false;
		i += n;
		if (i >= RECORD_KEY_MAX)
			return false;
	}
	return i < RECORD_KEY_MAX;
}

/* True for a dotted quad such as "192.168.5.4" (S3 refuses those). */
static bool
looks_like_ipv4(const char *s)
{
	int dots = 0;
	int digits = 0;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (digits == 0)
				return false;
			dots++;
			digits = 0;
		} else if (*s >= '0' && *s <= '9') {
			if (++digits > 3)
				return false;
		} else {
			return false;
		}
	}
	return dots == 3 && digits > 0;
}

bool
objstore_bucket_valid(const char *bucket)
{
	size_t n;

	if (bucket == NULL)
		return false;
	n = strnlen(bucket, 64);
	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = bucket[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '.' && c != '-')
			return false;
		/* Labels start and end with a letter or digit. */
		if (!alnum && (i == 0 || i == n - 1))
			return false;
		if (c == '.' && (bucket[i - 1] == '.' || bucket[i - 1] == '-' ||
				 bucket[i + 1] == '-'))
			return false;
	}
	if (looks_like_ipv4(bucket) || strncmp(bucket, "xn--", 4) == 0)
		return false;
	if ((n > 8 && strcmp(bucket + n - 8, "-s3alias") == 0) ||
	    (n > 7 && strcmp(bucket + n - 7, "--ol-s3") == 0))
		return false;
	return true;
}

void
objstore_listing_free(struct objstore_listing *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	free(l->sizes);
	l->keys = NULL;
	l->sizes = NULL;
	l->n = 0;
	l->next_token[0] = '\0';
}
