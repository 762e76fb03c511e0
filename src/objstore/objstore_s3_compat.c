/*
 * objstore_s3_compat.c - workarounds for S3 test servers, each behind a
 * URL switch that is off by default (see objstore_s3_compat.h).  Called
 * by objstore_s3.c from any thread.
 *
 * DESIGN
 *
 * The distributed and Lambda suites run the S3 backend against s3rver
 * 3.7.1 (the S3 of the Architect Sandbox), which departs from S3 in two
 * ways that break a correct client:
 *
 *  - ListObjectsV2 pages come in the order s3rver walks its directories,
 *    not in UTF-8 byte order as S3 promises; a client paging with
 *    start-after or a continuation token then skips or repeats keys.
 *    list_sort=1 reads every key under the prefix, sorts the lot, and
 *    pages here with "k" + last-key tokens.  O(n) per page and bounded by
 *    OBJSTORE_S3_COMPAT_SORTED_MAX keys: fine for a test bucket, wrong for
 *    production.
 *
 *  - Concurrent requests corrupt its store: a DELETE removes the object
 *    directory while a PUT to a sibling key is writing in it (the server
 *    crashes with ENOENT), and a PUT rewrites the object file in place,
 *    so a concurrent GET can return a torn object.  serialize=1 runs
 *    writes one at a time and never during a read, within this process
 *    (a writer-preferring rwlock, so a steady stream of reads cannot
 *    starve a put).  Other processes are not covered.
 *
 * Keeping them here means objstore_s3.c reads as S3 promises it; the only
 * trace there is a begin/end bracket around each request and one branch
 * in list.
 */
#include "objstore/objstore_s3_compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
objstore_s3_compat_init(struct objstore_s3_compat *c, const struct query *q,
			struct ip_error *err)
{
	pthread_rwlockattr_t attr;
	int rc;

	memset(c, 0, sizeof(*c));
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&c->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	rc = query_bool(q, "list_sort", false, &c->list_sort, err);
	if (rc == IP_OK)
		rc = query_bool(q, "serialize", false, &c->serialize, err);
	return rc;
}

void
objstore_s3_compat_destroy(struct objstore_s3_compat *c)
{
	pthread_rwlock_destroy(&c->lock);
}

void
objstore_s3_compat_write_begin(struct objstore_s3_compat *c)
{
	if (c->serialize)
		pthread_rwlock_wrlock(&c->lock);
}

void
objstore_s3_compat_read_begin(struct objstore_s3_compat *c)
{
	if (c->serialize)
		pthread_rwlock_rdlock(&c->lock);
}

void
objstore_s3_compat_end(struct objstore_s3_compat *c)
{
	if (c->serialize)
		pthread_rwlock_unlock(&c->lock);
}

/* ---- list_sort=1 ----------------------------------------------------- */

struct compat_entry {
	char *key;
	int64_t size;
};

static int
compat_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct compat_entry *)a)->key,
		      ((const struct compat_entry *)b)->key);
}

int
objstore_s3_compat_list(objstore_s3_compat_page_fn *page_fn, void *arg,
			const char *token, size_t max, size_t page_max,
			struct objstore_listing *out, struct ip_error *err)
{
	const char *after = "";
	char *tok = NULL;
	struct compat_entry *ents = NULL;
	size_t n = 0;
	size_t cap = 0;
	size_t first;
	int rc = IP_OK;

	if (token != NULL && token[0] != '\0') {
		if (token[0] != 'k' || !objstore_key_valid(token + 1))
			return ip_error_set(err, IP_EINVAL,
					    "list: invalid token");
		after = token + 1;
	}
	for (int pages = 0;; pages++) {
		struct objstore_listing page;

		if ((size_t)pages >= OBJSTORE_S3_COMPAT_SORTED_MAX / page_max) {
			rc = ip_error_set(err, IP_EBACKEND,
					  "s3 list: more than %d keys under "
					  "the prefix for list_sort=1",
					  OBJSTORE_S3_COMPAT_SORTED_MAX);
			goto out;
		}
		rc = page_fn(arg, tok, page_max, &page, err);
		if (rc != IP_OK)
			goto out;
		if (n + page.n > cap) {
			size_t ncap = cap == 0 ? 1024 : cap * 2;
			struct compat_entry *grown;

			while (ncap < n + page.n)
				ncap *= 2;
			grown = realloc(ents, ncap * sizeof(*ents));
			if (grown == NULL) {
				objstore_listing_free(&page);
				rc = ip_error_set(err, IP_ENOMEM, "list");
				goto out;
			}
			ents = grown;
			cap = ncap;
		}
		for (size_t i = 0; i < page.n; i++) {
			ents[n].key = page.keys[i];
			ents[n++].size = page.sizes[i];
			page.keys[i] = NULL;
		}
		free(tok);
		tok = NULL;
		if (page.next_token[0] != '\0') {
			tok = strdup(page.next_token);
			if (tok == NULL)
				rc = ip_error_set(err, IP_ENOMEM, "list");
		}
		objstore_listing_free(&page);
		if (rc != IP_OK)
			goto out;
		if (tok == NULL)
			break;
	}
	if (n > 0)
		qsort(ents, n, sizeof(*ents), compat_entry_cmp);
	for (first = 0; first < n && strcmp(ents[first].key, after) <= 0;
	     first++)
		;
	out->keys = calloc(max, sizeof(*out->keys));
	out->sizes = calloc(max, sizeof(*out->sizes));
	if (out->keys == NULL || out->sizes == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "list");
		goto out;
	}
	for (size_t i = first; i < n && out->n < max; i++) {
		out->keys[out->n] = ents[i].key;
		out->sizes[out->n++] = ents[i].size;
		ents[i].key = NULL;
	}
	if (first + out->n < n)
		snprintf(out->next_token, sizeof(out->next_token), "k%s",
			 out->keys[out->n - 1]);
out:
	for (size_t i = 0; i < n; i++)
		free(ents[i].key);
	free(ents);
	free(tok);
	if (rc != IP_OK)
		objstore_listing_free(out);
	return rc;
}
