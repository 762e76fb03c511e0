/*
 * test_table.c - THE contract test of table.h, run against the backend
 * named by IMGPIPE_TEST_TABLE ("sqlite" by default; later
 * "dynamodb+http://...").  Each test opens the table in a fresh temp data
 * dir, remembers every id it creates and deletes them in teardown, so a
 * shared table ends as it began.
 *
 * Threads: test_concurrent_updates starts its own; the rest is
 * single-threaded.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contract.h"
#include "core/log.h"
#include "core/util.h"
#include "table/table.h"

#define MAX_IDS 128

struct fix {
	char dir[CONTRACT_PATH_MAX];
	struct config cfg;
	struct table *t;
	pthread_mutex_t lock; /* ids, from test threads */
	size_t n_ids;
	char ids[MAX_IDS][RECORD_ID_MAX];
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct ip_error err = {0};

	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	contract_tmpdir(f->dir, sizeof(f->dir));
	contract_config(&f->cfg, f->dir);
	if (table_open(&f->cfg, &f->t, &err) != IP_OK)
		fail_msg("table_open(%s): %s", f->cfg.table, err.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};

	if (f->t != NULL) {
		for (size_t i = 0; i < f->n_ids; i++) {
			int rc = table_delete(f->t, f->ids[i], &err);

			assert_true(rc == IP_OK || rc == IP_ENOTFOUND);
		}
		table_close(f->t);
	}
	contract_rmrf(f->dir);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* A new id, remembered for cleanup. */
static void
new_id(struct fix *f, char *out)
{
	util_new_id(out, RECORD_ID_MAX);
	pthread_mutex_lock(&f->lock);
	assert_true(f->n_ids < MAX_IDS);
	util_strlcpy(f->ids[f->n_ids++], out, RECORD_ID_MAX);
	pthread_mutex_unlock(&f->lock);
}

/* Every attribute set, three variants: what a finished image looks like. */
static void
full_record(struct fix *f, struct record *r, enum record_status status)
{
	static const char *const names[] = {"large", "medium", "thumb"};
	static const int widths[] = {1600, 800, 200};

	memset(r, 0, sizeof(*r));
	new_id(f, r->id);
	util_strlcpy(r->name, "Kleiber \xc3\xa9t\xc3\xa9 2026.jpg",
		     sizeof(r->name));
	util_strlcpy(r->input_bucket, "imgpipe-test-in",
		     sizeof(r->input_bucket));
	snprintf(r->input_key, sizeof(r->input_key), "%s/kleiber.jpg", r->id);
	util_strlcpy(r->content_type, "image/jpeg", sizeof(r->content_type));
	util_strlcpy(r->format, "jpeg", sizeof(r->format));
	r->bytes = 4518399;
	util_strlcpy(r->sha256,
		     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15"
		     "b0f00a08",
		     sizeof(r->sha256));
	r->stored_width = 3391;
	r->stored_height = 6028;
	r->width = 6028;
	r->height = 3391;
	r->orientation = 6;
	r->has_alpha = true;
	util_strlcpy(r->colourspace, "srgb", sizeof(r->colourspace));
	r->pages = 1;
	r->uploaded_at = 1767225600123LL;
	r->status = status;
	r->attempts = 2;
	util_strlcpy(r->error, "first attempt: \"timeout\"\n",
		     sizeof(r->error));
	r->processed_at = 1767225601456LL;
	r->processing_ms = 1333;
	util_strlcpy(r->placeholder, "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
		     sizeof(r->placeholder));
	util_strlcpy(r->dominant, "#a1b2c3", sizeof(r->dominant));
	r->n_variants = 3;
	for (size_t i = 0; i < 3; i++) {
		struct record_variant *v = &r->variants[i];

		util_strlcpy(v->name, names[i], sizeof(v->name));
		util_strlcpy(v->bucket, "imgpipe-test-out", sizeof(v->bucket));
		snprintf(v->key, sizeof(v->key), "%s/%s.jpg", r->id, names[i]);
		util_strlcpy(v->format, "jpeg", sizeof(v->format));
		util_strlcpy(v->content_type, "image/jpeg",
			     sizeof(v->content_type));
		v->width = widths[i];
		v->height = widths[i] * 3391 / 6028;
		v->bytes = 1000 * (int64_t)(i + 1) + 7;
		snprintf(v->sha256, sizeof(v->sha256), "%064zu", i);
	}
}

/* A minimal pending record, as the gateway first writes it. */
static void
pending_record(struct fix *f, struct record *r)
{
	memset(r, 0, sizeof(*r));
	new_id(f, r->id);
	util_strlcpy(r->name, "p.jpg", sizeof(r->name));
	r->uploaded_at = util_now_ms();
	r->status = RECORD_PENDING;
}

static void
assert_record_equal(const struct record *a, const struct record *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->input_bucket, b->input_bucket);
	assert_string_equal(a->input_key, b->input_key);
	assert_string_equal(a->content_type, b->content_type);
	assert_string_equal(a->format, b->format);
	assert_int_equal(a->bytes, b->bytes);
	assert_string_equal(a->sha256, b->sha256);
	assert_int_equal(a->stored_width, b->stored_width);
	assert_int_equal(a->stored_height, b->stored_height);
	assert_int_equal(a->width, b->width);
	assert_int_equal(a->height, b->height);
	assert_int_equal(a->orientation, b->orientation);
	assert_int_equal(a->has_alpha, b->has_alpha);
	assert_string_equal(a->colourspace, b->colourspace);
	assert_int_equal(a->pages, b->pages);
	assert_int_equal(a->uploaded_at, b->uploaded_at);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->attempts, b->attempts);
	assert_string_equal(a->error, b->error);
	assert_int_equal(a->processed_at, b->processed_at);
	assert_int_equal(a->processing_ms, b->processing_ms);
	assert_string_equal(a->placeholder, b->placeholder);
	assert_string_equal(a->dominant, b->dominant);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->n_variants, b->n_variants);
	for (size_t i = 0; i < a->n_variants; i++) {
		const struct record_variant *x = &a->variants[i];
		const struct record_variant *y = &b->variants[i];

		assert_string_equal(x->name, y->name);
		assert_string_equal(x->bucket, y->bucket);
		assert_string_equal(x->key, y->key);
		assert_string_equal(x->format, y->format);
		assert_string_equal(x->content_type, y->content_type);
		assert_int_equal(x->width, y->width);
		assert_int_equal(x->height, y->height);
		assert_int_equal(x->bytes, y->bytes);
		assert_string_equal(x->sha256, y->sha256);
	}
}

static void
test_ping(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};

	assert_int_equal(table_ping(f->t, &err), IP_OK);
	assert_non_null(table_name(f->t));
}

static void
test_put_get_round_trip(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct record r, got;

	full_record(f, &r, RECORD_DONE);
	r.version = 42; /* ignored: put stores version 1 */
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	assert_int_equal(r.version, 1);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_record_equal(&got, &r);

	/* A minimal record round-trips too (empty strings, zero times). */
	pending_record(f, &r);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_record_equal(&got, &r);
}

static void
test_put_duplicate(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct record r, dup, got;

	full_record(f, &r, RECORD_PENDING);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	dup = r;
	util_strlcpy(dup.name, "impostor.jpg", sizeof(dup.name));
	dup.version = 9;
	assert_int_equal(table_put(f->t, &dup, &err), IP_EEXIST);
	assert_int_equal(dup.version, 9); /* untouched on failure */
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_record_equal(&got, &r);
}

static void
test_update_bumps_version(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct record r, got;

	pending_record(f, &r);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_int_equal(got.version, 1);

	got.status = RECORD_PROCESSING;
	got.attempts = 1;
	assert_int_equal(table_update(f->t, &got, 1, &err), IP_OK);
	assert_int_equal(got.version, 2);

	full_record(f, &r, RECORD_DONE);
	util_strlcpy(r.id, got.id, sizeof(r.id));
	assert_int_equal(table_update(f->t, &r, 2, &err), IP_OK);
	assert_int_equal(r.version, 3);
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_int_equal(got.version, 3);
	assert_record_equal(&got, &r);
}

static void
test_update_stale(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct record r, slow, fast, got;

	pending_record(f, &r);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	/* Two workers read version 1; the fast one finishes first. */
	assert_int_equal(table_get(f->t, r.id, &slow, &err), IP_OK);
	assert_int_equal(table_get(f->t, r.id, &fast, &err), IP_OK);
	fast.status = RECORD_DONE;
	assert_int_equal(table_update(f->t, &fast, fast.version, &err), IP_OK);
	slow.status = RECORD_PROCESSING;
	util_strlcpy(slow.error, "slow", sizeof(slow.error));
	assert_int_equal(table_update(f->t, &slow, slow.version, &err),
			 IP_ECONFLICT);
	assert_int_equal(slow.version, 1); /* untouched on failure */
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_record_equal(&got, &fast);
	assert_int_equal(got.status, RECORD_DONE);
	/* A version from the future is stale too. */
	assert_int_equal(table_update(f->t, &slow, 99, &err), IP_ECONFLICT);
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_record_equal(&got, &fast);
}

static void
test_update_missing(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct record r;

	pending_record(f, &r);
	assert_int_equal(table_update(f->t, &r, 1, &err), IP_ENOTFOUND);
	assert_int_equal(table_get(f->t, r.id, &r, &err), IP_ENOTFOUND);
}

static void
test_delete(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct record r, other, got;

	pending_record(f, &r);
	pending_record(f, &other);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	assert_int_equal(table_put(f->t, &other, &err), IP_OK);
	assert_int_equal(table_delete(f->t, r.id, &err), IP_OK);
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_ENOTFOUND);
	assert_int_equal(table_delete(f->t, r.id, &err), IP_ENOTFOUND);
	assert_int_equal(table_update(f->t, &r, 1, &err), IP_ENOTFOUND);
	/* The other record is untouched; the id can be created again. */
	assert_int_equal(table_get(f->t, other.id, &got, &err), IP_OK);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	assert_int_equal(r.version, 1);
}

static void
test_bad_ids(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	const char *bad[] = {"",
			     "short",
			     "01J00000000000000000000000X",
			     "01j0000000000000000000000a",
			     "0123456789ABCDEFGHJKMNPQRU",
			     "../etc/passwd"};
	struct record r;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		assert_int_equal(table_get(f->t, bad[i], &r, &err), IP_EINVAL);
		assert_int_equal(table_delete(f->t, bad[i], &err), IP_EINVAL);
		pending_record(f, &r);
		util_strlcpy(r.id, bad[i], sizeof(r.id));
		assert_int_equal(table_put(f->t, &r, &err), IP_EINVAL);
	}
}

/* Records are JSON: a string that is not UTF-8 cannot be stored. */
static void
test_put_not_utf8(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct record r, got;

	pending_record(f, &r);
	util_strlcpy(r.name, "bad\xff\xfe.jpg", sizeof(r.name));
	assert_int_equal(table_put(f->t, &r, &err), IP_EINVAL);
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_ENOTFOUND);
	util_strlcpy(r.name, "good.jpg", sizeof(r.name));
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	util_strlcpy(r.error, "\xc0\xaf", sizeof(r.error));
	assert_int_equal(table_update(f->t, &r, 1, &err), IP_EINVAL);
	assert_int_equal(r.version, 1);
	assert_int_equal(table_get(f->t, r.id, &got, &err), IP_OK);
	assert_string_equal(got.error, "");
	assert_int_equal(got.version, 1);
}

static int
cmp_id_desc(const void *a, const void *b)
{
	return -strcmp((const char *)a, (const char *)b);
}

static void
test_list_newest_first(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char want[7][RECORD_ID_MAX];
	char cursor[TABLE_CURSOR_MAX] = "";
	const size_t pages[] = {3, 3, 1};
	size_t seen = 0;

	for (size_t i = 0; i < 7; i++) {
		struct record r;

		full_record(f, &r, i % 2 == 0 ? RECORD_DONE : RECORD_PENDING);
		r.attempts = (int)i;
		assert_int_equal(table_put(f->t, &r, &err), IP_OK);
		util_strlcpy(want[i], r.id, RECORD_ID_MAX);
	}
	qsort(want, 7, sizeof(want[0]), cmp_id_desc);
	for (size_t p = 0; p < 3; p++) {
		struct table_page page;

		assert_int_equal(
		    table_list(f->t, p == 0 ? NULL : cursor, 3, &page, &err),
		    IP_OK);
		assert_int_equal(page.n, pages[p]);
		for (size_t i = 0; i < page.n; i++) {
			assert_string_equal(page.items[i].id, want[seen + i]);
			assert_int_equal(page.items[i].version, 1);
			assert_int_equal(page.items[i].n_variants, 3);
		}
		seen += page.n;
		if (p < 2)
			assert_true(page.next_cursor[0] != '\0');
		else
			assert_string_equal(page.next_cursor, "");
		util_strlcpy(cursor, page.next_cursor, sizeof(cursor));
		table_page_free(&page);
	}
	assert_int_equal(seen, 7);
	/* One page with room for all: no cursor.  "" starts like NULL. */
	{
		struct table_page page;

		assert_int_equal(table_list(f->t, "", 100, &page, &err), IP_OK);
		assert_int_equal(page.n, 7);
		assert_string_equal(page.next_cursor, "");
		for (size_t i = 0; i < 7; i++)
			assert_string_equal(page.items[i].id, want[i]);
		table_page_free(&page);
	}
}

static void
test_list_empty(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct table_page page;

	assert_int_equal(table_list(f->t, NULL, 10, &page, &err), IP_OK);
	assert_int_equal(page.n, 0);
	assert_string_equal(page.next_cursor, "");
	table_page_free(&page);
	assert_int_equal(table_list_unfinished(f->t, NULL, 10, &page, &err),
			 IP_OK);
	assert_int_equal(page.n, 0);
	table_page_free(&page);
}

/* Keys: stored, found by id, listed, revoked; never listed as images. */
/* hooks: is one with id among out[0..n)? */
static bool
hook_listed(const struct hook *out, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i].id, id) == 0)
			return true;
	return false;
}

/* The webhooks' outbox: put/get/update/delete/list, beside the records
 * but not among them. */
static void
test_hooks(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct hook *list = calloc(TABLE_LIST_MAX, sizeof(*list));
	struct hook a, b, got, stale;
	struct record r;
	int64_t now = util_now_ms();
	size_t n = 0;
	char *sa, *sg;

	assert_non_null(list);
	memset(&r, 0, sizeof(r));
	new_id(f, r.id);
	r.status = RECORD_DONE;
	r.attempts = 2;
	hook_init(&a, &r, 0, "http://127.0.0.1:9/a", now - 10);
	hook_init(&b, &r, 1, "https://hooks.example/b?x=1", now + 3600000);
	assert_string_not_equal(a.id, b.id);

	assert_int_equal(table_hook_put(f->t, &a, &err), IP_OK);
	assert_int_equal(a.version, 1);
	assert_int_equal(table_hook_put(f->t, &b, &err), IP_OK);
	assert_int_equal(table_hook_put(f->t, &a, &err), IP_EEXIST);

	assert_int_equal(table_hook_get(f->t, a.id, &got, &err), IP_OK);
	sa = hook_to_string(&a);
	sg = hook_to_string(&got);
	assert_string_equal(sa, sg);
	assert_int_equal(got.version, 1);
	free(sa);
	free(sg);
	assert_int_equal(table_hook_get(f->t, "nope.done.1.0", &got, &err),
			 IP_ENOTFOUND);
	assert_int_equal(table_hook_get(f->t, "../etc", &got, &err), IP_EINVAL);
	/* not a record */
	assert_int_equal(table_get(f->t, r.id, &r, &err), IP_ENOTFOUND);

	/* due: a (next_ms in the past), not b */
	assert_int_equal(table_hook_list(f->t, HOOK_PENDING, now, list,
					 TABLE_LIST_MAX, &n, &err),
			 IP_OK);
	assert_true(hook_listed(list, n, a.id));
	assert_false(hook_listed(list, n, b.id));
	assert_int_equal(table_hook_list(f->t, HOOK_PENDING, INT64_MAX, list,
					 TABLE_LIST_MAX, &n, &err),
			 IP_OK);
	assert_true(hook_listed(list, n, a.id) && hook_listed(list, n, b.id));
	assert_int_equal(
	    table_hook_list(f->t, HOOK_PENDING, INT64_MAX, list, 1, &n, &err),
	    IP_OK);
	assert_int_equal(n, 1);

	/* conditional update; a to dead */
	stale = a;
	a.state = HOOK_DEAD;
	a.attempts = 3;
	util_strlcpy(a.error, "HTTP 500", sizeof(a.error));
	assert_int_equal(table_hook_update(f->t, &a, 1, &err), IP_OK);
	assert_int_equal(a.version, 2);
	assert_int_equal(table_hook_update(f->t, &stale, 1, &err),
			 IP_ECONFLICT);
	assert_int_equal(stale.version, 1);
	assert_int_equal(table_hook_get(f->t, a.id, &got, &err), IP_OK);
	assert_int_equal(got.version, 2);
	assert_int_equal(got.state, HOOK_DEAD);
	assert_int_equal(got.attempts, 3);
	assert_string_equal(got.error, "HTTP 500");
	assert_int_equal(table_hook_list(f->t, HOOK_PENDING, INT64_MAX, list,
					 TABLE_LIST_MAX, &n, &err),
			 IP_OK);
	assert_false(hook_listed(list, n, a.id));
	assert_int_equal(table_hook_list(f->t, HOOK_DEAD, INT64_MAX, list,
					 TABLE_LIST_MAX, &n, &err),
			 IP_OK);
	assert_true(hook_listed(list, n, a.id));
	assert_false(hook_listed(list, n, b.id));

	assert_int_equal(table_hook_delete(f->t, a.id, &err), IP_OK);
	assert_int_equal(table_hook_delete(f->t, a.id, &err), IP_ENOTFOUND);
	assert_int_equal(table_hook_update(f->t, &a, 2, &err), IP_ENOTFOUND);
	assert_int_equal(table_hook_delete(f->t, b.id, &err), IP_OK);
	assert_int_equal(table_hook_get(f->t, b.id, &got, &err), IP_ENOTFOUND);
	free(list);
}

static void
test_keys(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct apikey a, b, got, copy;
	struct apikey *all = calloc(TABLE_KEYS_MAX, sizeof(*all));
	char ta[APIKEY_TOKEN_SIZE], tb[APIKEY_TOKEN_SIZE];
	struct table_page page;
	size_t n = 0;
	bool seen_a = false, seen_b = false;

	assert_non_null(all);
	assert_int_equal(apikey_new(&a, "ci-reader", APIKEY_READ, 0, ta, &err),
			 IP_OK);
	assert_int_equal(
	    apikey_new(&b, "ci-admin", APIKEY_ADMIN, 4102444800000, tb, &err),
	    IP_OK);
	assert_int_equal(table_key_put(f->t, &a, &err), IP_OK);
	assert_int_equal(table_key_put(f->t, &b, &err), IP_OK);
	assert_int_equal(table_key_put(f->t, &a, &err), IP_EEXIST);

	assert_int_equal(table_key_get(f->t, a.id, &got, &err), IP_OK);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_true(apikey_token_matches(&got, ta));
	assert_false(apikey_token_matches(&got, tb));

	assert_int_equal(table_key_list(f->t, all, TABLE_KEYS_MAX, &n, &err),
			 IP_OK);
	for (size_t i = 0; i < n; i++) {
		seen_a |= strcmp(all[i].id, a.id) == 0;
		seen_b |= strcmp(all[i].id, b.id) == 0;
	}
	assert_true(seen_a && seen_b);

	assert_int_equal(table_key_revoke(f->t, a.id, 1234, &err), IP_OK);
	assert_int_equal(table_key_get(f->t, a.id, &got, &err), IP_OK);
	assert_int_equal(got.revoked_ms, 1234);
	assert_string_equal(apikey_unusable(&got, util_now_ms()), "revoked");
	/* A second revoke keeps the first time. */
	assert_int_equal(table_key_revoke(f->t, a.id, 9999, &err), IP_OK);
	assert_int_equal(table_key_get(f->t, a.id, &got, &err), IP_OK);
	assert_int_equal(got.revoked_ms, 1234);

	/* Unknown ids. */
	copy = a;
	memcpy(copy.id, "aaaaaaaaaaaaaaaa", APIKEY_ID_LEN);
	assert_int_equal(table_key_get(f->t, copy.id, &got, &err),
			 IP_ENOTFOUND);
	assert_int_equal(table_key_revoke(f->t, copy.id, 1, &err),
			 IP_ENOTFOUND);
	assert_int_equal(table_key_get(f->t, "../etc", &got, &err), IP_EINVAL);

	/* Keys are not images. */
	assert_int_equal(table_list(f->t, NULL, 10, &page, &err), IP_OK);
	assert_int_equal(page.n, 0);
	table_page_free(&page);
	free(all);
}

static void
test_list_bad_cursor(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char longc[TABLE_CURSOR_MAX + 20];
	const char *bad[] = {
	    "!!!",
	    "abc",
	    "aGVsbG8", /* "hello" */
	    "MDFKMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA==", /* padded */
	    "MDFK MDAw",
	    "bm90LWFuLWlkLWF0LWFsbC1ub3QtYW4taWQ", /* not-an-id... */
	    longc,
	};
	struct table_page page;
	struct record r;

	memset(longc, 'A', sizeof(longc) - 1);
	longc[sizeof(longc) - 1] = '\0';
	pending_record(f, &r);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		if (table_list(f->t, bad[i], 10, &page, &err) != IP_EINVAL)
			fail_msg("list cursor \"%s\" accepted", bad[i]);
		if (table_list_unfinished(f->t, bad[i], 10, &page, &err) !=
		    IP_EINVAL)
			fail_msg("unfinished cursor \"%s\" accepted", bad[i]);
	}
	assert_int_equal(table_list(f->t, NULL, 0, &page, &err), IP_EINVAL);
	assert_int_equal(
	    table_list(f->t, NULL, TABLE_LIST_MAX + 1, &page, &err), IP_EINVAL);
	assert_int_equal(table_list(f->t, NULL, TABLE_LIST_MAX, &page, &err),
			 IP_OK);
	assert_int_equal(page.n, 1);
	table_page_free(&page);
}

static int
cmp_id_asc(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void
test_list_unfinished(void **state)
{
	static const enum record_status statuses[] = {
	    RECORD_PENDING, RECORD_DONE, RECORD_PROCESSING, RECORD_FAILED,
	    RECORD_PENDING, RECORD_DONE, RECORD_PROCESSING,
	};
	struct fix *f = *state;
	struct ip_error err = {0};
	char want[7][RECORD_ID_MAX];
	char cursor[TABLE_CURSOR_MAX] = "";
	size_t n_want = 0;
	size_t seen = 0;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(statuses); i++) {
		struct record r;

		full_record(f, &r, statuses[i]);
		assert_int_equal(table_put(f->t, &r, &err), IP_OK);
		if (statuses[i] == RECORD_PENDING ||
		    statuses[i] == RECORD_PROCESSING)
			util_strlcpy(want[n_want++], r.id, RECORD_ID_MAX);
	}
	assert_int_equal(n_want, 4);
	qsort(want, n_want, sizeof(want[0]), cmp_id_asc);
	/* Pages hold at most the limit; a backend that filters after
	 * reading (DynamoDB) may return shorter ones, so only the union and
	 * its order are checked. */
	for (int p = 0;; p++) {
		struct table_page page;

		assert_true(p < 10);
		assert_int_equal(table_list_unfinished(f->t,
						       p == 0 ? NULL : cursor,
						       3, &page, &err),
				 IP_OK);
		assert_true(page.n <= 3);
		assert_true(seen + page.n <= n_want);
		for (size_t i = 0; i < page.n; i++) {
			assert_string_equal(page.items[i].id, want[seen + i]);
			assert_true(page.items[i].status == RECORD_PENDING ||
				    page.items[i].status == RECORD_PROCESSING);
		}
		seen += page.n;
		util_strlcpy(cursor, page.next_cursor, sizeof(cursor));
		table_page_free(&page);
		if (cursor[0] == '\0')
			break;
	}
	assert_int_equal(seen, n_want);

	/* Finishing one takes it off the list. */
	{
		struct record r;
		struct table_page page;

		assert_int_equal(table_get(f->t, want[0], &r, &err), IP_OK);
		r.status = RECORD_DONE;
		assert_int_equal(table_update(f->t, &r, r.version, &err),
				 IP_OK);
		assert_int_equal(
		    table_list_unfinished(f->t, NULL, 10, &page, &err), IP_OK);
		assert_int_equal(page.n, 3);
		assert_string_equal(page.next_cursor, "");
		for (size_t i = 0; i < page.n; i++)
			assert_string_equal(page.items[i].id, want[i + 1]);
		table_page_free(&page);
	}
}

#define CU_THREADS 4
#define CU_ROUNDS 10

struct cu_arg {
	struct fix *f;
	const char *id;
	int wins;
	int conflicts;
	int errors;
};

/* Each thread: read, bump attempts, conditional write; retry on conflict. */
static void *
cu_main(void *arg)
{
	struct cu_arg *a = arg;
	struct ip_error err = {0};

	for (int i = 0; i < CU_ROUNDS; i++) {
		for (;;) {
			struct record r;
			int rc;

			if (table_get(a->f->t, a->id, &r, &err) != IP_OK) {
				a->errors++;
				break;
			}
			r.attempts++;
			rc = table_update(a->f->t, &r, r.version, &err);
			if (rc == IP_OK) {
				a->wins++;
				break;
			}
			if (rc != IP_ECONFLICT) {
				a->errors++;
				break;
			}
			a->conflicts++;
		}
	}
	return NULL;
}

/* Lost updates are impossible: every increment survives. */
static void
test_concurrent_updates(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct cu_arg args[CU_THREADS];
	pthread_t tids[CU_THREADS];
	struct record r;

	pending_record(f, &r);
	assert_int_equal(table_put(f->t, &r, &err), IP_OK);
	for (int i = 0; i < CU_THREADS; i++) {
		args[i] = (struct cu_arg){.f = f, .id = r.id};
		assert_int_equal(
		    pthread_create(&tids[i], NULL, cu_main, &args[i]), 0);
	}
	for (int i = 0; i < CU_THREADS; i++) {
		assert_int_equal(pthread_join(tids[i], NULL), 0);
		assert_int_equal(args[i].errors, 0);
		assert_int_equal(args[i].wins, CU_ROUNDS);
	}
	assert_int_equal(table_get(f->t, r.id, &r, &err), IP_OK);
	assert_int_equal(r.attempts, CU_THREADS * CU_ROUNDS);
	assert_int_equal(r.version, 1 + CU_THREADS * CU_ROUNDS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_get_round_trip, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_put_duplicate, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_update_bumps_version, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_update_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_missing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_not_utf8, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_newest_first, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_list_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hooks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_bad_cursor, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_list_unfinished, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_updates, setup,
					    teardown),
	};

	log_set_level(LOG_WARN);
	return cmocka_run_group_tests_name("contract-table", tests, NULL, NULL);
}
