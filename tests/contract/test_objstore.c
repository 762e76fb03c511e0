/*
 * test_objstore.c - THE contract test of objstore.h, run against the
 * backend named by IMGPIPE_TEST_OBJSTORE ("fs" by default; later
 * "s3+http://..."), so it assumes nothing local about the store: every
 * test writes under its own random key prefix and deletes what it wrote.
 *
 * Each test opens the store in a fresh temp data dir (setup) and closes
 * it (teardown).  Threads: test_overwrite_atomic and
 * test_concurrent_writers start their own; everything else is
 * single-threaded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "contract.h"
#include "core/util.h"
#include "objstore/objstore.h"

struct fix {
	char dir[CONTRACT_PATH_MAX];
	char spool[CONTRACT_PATH_MAX + 16];
	struct config cfg;
	struct objstore *s;
	const char *bucket;
	char prefix[64]; /* "contract-<tag>/" */
};

/* bucket/prefix + name into out. */
static void
key_of(const struct fix *f, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s%s", f->prefix, name);

	assert_true(n > 0 && (size_t)n < size);
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct ip_error err = {0};
	char tag[16];
	int rc;

	assert_non_null(f);
	contract_tmpdir(f->dir, sizeof(f->dir));
	contract_config(&f->cfg, f->dir);
	rc = objstore_open(&f->cfg, &f->s, &err);
	if (rc != IP_OK)
		fail_msg("objstore_open(%s): %s", f->cfg.objstore, err.msg);
	f->bucket = f->cfg.input_bucket;
	contract_tag(tag, sizeof(tag));
	snprintf(f->prefix, sizeof(f->prefix), "contract-%s/", tag);
	/* A spool on the data dir's filesystem, as the gateway's. */
	snprintf(f->spool, sizeof(f->spool), "%s/tmp", f->dir);
	assert_int_equal(mkdir(f->spool, 0700), 0);
	*state = f;
	return 0;
}

/* Delete every key under the test's prefix, in both buckets. */
static void
cleanup_prefix(struct fix *f, const char *bucket)
{
	struct ip_error err = {0};

	for (;;) {
		struct objstore_listing l;
		size_t n;

		assert_int_equal(objstore_list(f->s, bucket, f->prefix, NULL,
					       1000, &l, &err),
				 IP_OK);
		n = l.n;
		for (size_t i = 0; i < l.n; i++)
			assert_int_equal(
			    objstore_delete(f->s, bucket, l.keys[i], &err),
			    IP_OK);
		objstore_listing_free(&l);
		if (n == 0)
			break;
	}
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	if (f->s != NULL) {
		cleanup_prefix(f, f->cfg.input_bucket);
		cleanup_prefix(f, f->cfg.output_bucket);
		objstore_close(f->s);
	}
	contract_rmrf(f->dir);
	free(f);
	return 0;
}

/* Read the whole object and compare it with want. */
static void
assert_object(struct fix *f, const char *bucket, const char *key,
	      const void *want, size_t len)
{
	struct ip_error err = {0};
	struct objstore_stat st;
	unsigned char *got;
	size_t got_len;
	int fd = -1;

	assert_int_equal(objstore_open_read(f->s, bucket, key, &fd, &st, &err),
			 IP_OK);
	assert_true(fd >= 0);
	assert_int_equal(st.size, (int64_t)len);
	got = contract_read_fd(fd, &got_len);
	assert_int_equal(got_len, len);
	if (len > 0)
		assert_memory_equal(got, want, len);
	free(got);
	close(fd);
}

static void
test_ping(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};

	assert_int_equal(objstore_ping(f->s, &err), IP_OK);
	assert_non_null(objstore_name(f->s));
}

static void
test_put_buffer_round_trip(void **state)
{
	static const size_t sizes[] = {0, 1, 4096, 300 * 1000 + 7};
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_put_opts opts = {.content_type = "image/jpeg"};
	unsigned char *buf = malloc(sizes[3]);
	int64_t before = util_now_ms();

	assert_non_null(buf);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(sizes); i++) {
		struct objstore_stat st;
		char key[128];
		char name[32];

		snprintf(name, sizeof(name), "buf/%zu.jpg", sizes[i]);
		key_of(f, name, key, sizeof(key));
		contract_fill(buf, sizes[i], (uint32_t)i);
		assert_int_equal(objstore_put_buffer(f->s, f->bucket, key, buf,
						     sizes[i], &opts, &err),
				 IP_OK);
		assert_object(f, f->bucket, key, buf, sizes[i]);
		memset(&st, 0xa5, sizeof(st));
		assert_int_equal(objstore_head(f->s, f->bucket, key, &st, &err),
				 IP_OK);
		assert_int_equal(st.size, (int64_t)sizes[i]);
		assert_true(st.etag[0] != '\0');
		assert_true(strlen(st.etag) < sizeof(st.etag));
		/* Stores may drop the type, never change it. */
		assert_true(st.content_type[0] == '\0' ||
			    strcmp(st.content_type, "image/jpeg") == 0);
		/* Whole seconds: some stores keep no more. */
		assert_true(st.mtime_ms >= before - 2000);
		assert_true(st.mtime_ms <= util_now_ms() + 2000);
	}
	/* NULL opts are allowed. */
	{
		char key[128];

		key_of(f, "buf/noopts", key, sizeof(key));
		assert_int_equal(objstore_put_buffer(f->s, f->bucket, key, "x",
						     1, NULL, &err),
				 IP_OK);
		assert_object(f, f->bucket, key, "x", 1);
	}
	free(buf);
}

static void
test_both_buckets_exist(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char key[128];

	key_of(f, "out/thumb.jpg", key, sizeof(key));
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.output_bucket, key,
					     "out", 3, NULL, &err),
			 IP_OK);
	assert_object(f, f->cfg.output_bucket, key, "out", 3);
	/* Buckets are separate namespaces. */
	assert_int_equal(
	    objstore_head(f->s, f->cfg.input_bucket, key, NULL, &err),
	    IP_ENOTFOUND);
	/* ensure_bucket is idempotent. */
	assert_int_equal(
	    objstore_ensure_bucket(f->s, f->cfg.output_bucket, &err), IP_OK);
	assert_object(f, f->cfg.output_bucket, key, "out", 3);
}

static void
test_put_file_round_trip(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	size_t len = 200 * 1000 + 3;
	unsigned char *buf = malloc(len);
	struct objstore_put_opts copy = {.content_type = "image/png"};
	struct objstore_put_opts move = {.content_type = "image/png",
					 .move = true};
	char src[CONTRACT_PATH_MAX + 64];
	char key[128];
	struct stat sb;

	assert_non_null(buf);
	contract_fill(buf, len, 7);
	snprintf(src, sizeof(src), "%s/upload-1", f->spool);
	contract_write_file(src, buf, len);

	key_of(f, "file/copy.png", key, sizeof(key));
	assert_int_equal(
	    objstore_put_file(f->s, f->bucket, key, src, &copy, &err), IP_OK);
	assert_object(f, f->bucket, key, buf, len);
	/* Without move the source is left alone. */
	assert_int_equal(stat(src, &sb), 0);
	assert_int_equal(sb.st_size, (off_t)len);

	key_of(f, "file/moved.png", key, sizeof(key));
	assert_int_equal(
	    objstore_put_file(f->s, f->bucket, key, src, &move, &err), IP_OK);
	assert_object(f, f->bucket, key, buf, len);
	/* With move the store may have taken it; either way the caller may
	 * unlink what is left. */
	if (unlink(src) != 0)
		assert_int_equal(errno, ENOENT);

	/* A missing source is an error, and writes nothing. */
	key_of(f, "file/missing.png", key, sizeof(key));
	assert_int_not_equal(
	    objstore_put_file(f->s, f->bucket, key, src, &copy, &err), IP_OK);
	assert_int_equal(objstore_head(f->s, f->bucket, key, NULL, &err),
			 IP_ENOTFOUND);
	free(buf);
}

static void
test_open_read_seekable(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	unsigned char buf[10000];
	unsigned char got[100];
	char key[128];
	int fd = -1;

	contract_fill(buf, sizeof(buf), 3);
	key_of(f, "seek.bin", key, sizeof(key));
	assert_int_equal(objstore_put_buffer(f->s, f->bucket, key, buf,
					     sizeof(buf), NULL, &err),
			 IP_OK);
	/* st may be NULL. */
	assert_int_equal(
	    objstore_open_read(f->s, f->bucket, key, &fd, NULL, &err), IP_OK);
	assert_int_equal(lseek(fd, 5000, SEEK_SET), 5000);
	assert_int_equal(read(fd, got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, buf + 5000, sizeof(got));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(read(fd, got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, buf, sizeof(got));
	close(fd);
}

static void
test_get_missing(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_stat st;
	char key[128];
	char bucket[64];
	char tag[16];
	int fd = -1;

	key_of(f, "no/such/key.jpg", key, sizeof(key));
	assert_int_equal(objstore_head(f->s, f->bucket, key, &st, &err),
			 IP_ENOTFOUND);
	assert_int_equal(
	    objstore_open_read(f->s, f->bucket, key, &fd, &st, &err),
	    IP_ENOTFOUND);
	assert_int_equal(fd, -1);
	/* A prefix of existing keys is not an object. */
	key_of(f, "dir/leaf.jpg", key, sizeof(key));
	assert_int_equal(
	    objstore_put_buffer(f->s, f->bucket, key, "x", 1, NULL, &err),
	    IP_OK);
	key_of(f, "dir", key, sizeof(key));
	assert_int_equal(objstore_head(f->s, f->bucket, key, NULL, &err),
			 IP_ENOTFOUND);
	assert_int_equal(
	    objstore_open_read(f->s, f->bucket, key, &fd, NULL, &err),
	    IP_ENOTFOUND);
	/* A bucket that was never made. */
	contract_tag(tag, sizeof(tag));
	snprintf(bucket, sizeof(bucket), "imgpipe-nope-%s", tag);
	assert_int_equal(objstore_head(f->s, bucket, key, NULL, &err),
			 IP_ENOTFOUND);
}

static void
test_overwrite_replaces(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_stat st1, st2;
	char key[128];

	key_of(f, "over.txt", key, sizeof(key));
	assert_int_equal(objstore_put_buffer(f->s, f->bucket, key,
					     "first version", 13, NULL, &err),
			 IP_OK);
	assert_int_equal(objstore_head(f->s, f->bucket, key, &st1, &err),
			 IP_OK);
	assert_int_equal(
	    objstore_put_buffer(f->s, f->bucket, key, "second", 6, NULL, &err),
	    IP_OK);
	assert_object(f, f->bucket, key, "second", 6);
	assert_int_equal(objstore_head(f->s, f->bucket, key, &st2, &err),
			 IP_OK);
	assert_int_equal(st2.size, 6);
	assert_string_not_equal(st1.etag, st2.etag);
}

/* The reader side of test_overwrite_atomic. */
struct atomic_reader {
	struct fix *f;
	const char *key;
	size_t len;
	atomic_bool stop;
	int reads;
	int bad; /* partial, mixed or missing objects seen */
};

static void *
atomic_reader_main(void *arg)
{
	struct atomic_reader *r = arg;
	struct ip_error err = {0};

	while (!atomic_load(&r->stop) || r->reads == 0) {
		unsigned char *buf;
		size_t len;
		int fd = -1;

		if (objstore_open_read(r->f->s, r->f->bucket, r->key, &fd, NULL,
				       &err) != IP_OK) {
			r->bad++;
			r->reads++;
			continue;
		}
		buf = contract_read_fd(fd, &len);
		close(fd);
		if (len != r->len) {
			r->bad++;
		} else {
			for (size_t i = 1; i < len; i++) {
				if (buf[i] != buf[0]) {
					r->bad++;
					break;
				}
			}
		}
		free(buf);
		r->reads++;
	}
	return NULL;
}

/* Readers see the old object or the whole new one, never a mix. */
static void
test_overwrite_atomic(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct atomic_reader r = {0};
	size_t len = 256 * 1024;
	unsigned char *buf = malloc(len);
	char key[128];
	pthread_t tid;

	assert_non_null(buf);
	key_of(f, "atomic.bin", key, sizeof(key));
	memset(buf, 'A', len);
	assert_int_equal(
	    objstore_put_buffer(f->s, f->bucket, key, buf, len, NULL, &err),
	    IP_OK);
	r.f = f;
	r.key = key;
	r.len = len;
	atomic_init(&r.stop, false);
	assert_int_equal(pthread_create(&tid, NULL, atomic_reader_main, &r), 0);
	for (int i = 0; i < 30; i++) {
		memset(buf, 'B' + i % 20, len);
		assert_int_equal(objstore_put_buffer(f->s, f->bucket, key, buf,
						     len, NULL, &err),
				 IP_OK);
	}
	atomic_store(&r.stop, true);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_true(r.reads > 0);
	assert_int_equal(r.bad, 0);
	memset(buf, 'B' + 29 % 20, len);
	assert_object(f, f->bucket, key, buf, len);
	free(buf);
}

static void
test_delete_idempotent(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char key[128];
	char sibling[128];

	key_of(f, "del/a/b.txt", key, sizeof(key));
	key_of(f, "del/a/c.txt", sibling, sizeof(sibling));
	assert_int_equal(
	    objstore_put_buffer(f->s, f->bucket, key, "b", 1, NULL, &err),
	    IP_OK);
	assert_int_equal(
	    objstore_put_buffer(f->s, f->bucket, sibling, "c", 1, NULL, &err),
	    IP_OK);
	assert_int_equal(objstore_delete(f->s, f->bucket, key, &err), IP_OK);
	assert_int_equal(objstore_head(f->s, f->bucket, key, NULL, &err),
			 IP_ENOTFOUND);
	assert_int_equal(objstore_delete(f->s, f->bucket, key, &err), IP_OK);
	/* The sibling is untouched. */
	assert_object(f, f->bucket, sibling, "c", 1);
	assert_int_equal(objstore_delete(f->s, f->bucket, sibling, &err),
			 IP_OK);
	assert_int_equal(objstore_delete(f->s, f->bucket, sibling, &err),
			 IP_OK);
	/* A key that never existed, deep. */
	key_of(f, "never/was/here.txt", key, sizeof(key));
	assert_int_equal(objstore_delete(f->s, f->bucket, key, &err), IP_OK);
	/* After deletes, the same prefix can be written again. */
	key_of(f, "del/a/b.txt", key, sizeof(key));
	assert_int_equal(
	    objstore_put_buffer(f->s, f->bucket, key, "again", 5, NULL, &err),
	    IP_OK);
	assert_object(f, f->bucket, key, "again", 5);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names chosen so that '/' sorts between '-'/'.' and '0': a store that
 * lists directory by directory gets them wrong.  No name is both an
 * object and a prefix of others ("a" and "a/b"): a filesystem cannot
 * hold both, see objstore_fs.c. */
static const char *const list_names[] = {
    "p/a-b",
    "p/a.b",
    "p/a/b",
    "p/a/c/d",
    "p/a0",
    "p/b",
    "p/c/x",
    "q-",
    "q.x",
    "q/r",
    "q0",
    "r/s/t/u",
    "r/s-",
    "r/s.t",
    "r/s0",
    "s",
    "s0/z",
    "t/1",
    "s0/\xc3\xbc.jpg",
    "t/10",
    "t/2",
    "t/a b+c",
    "u/.hidden",
    "u/...",
    "v",
};

static void
test_list_pagination(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	size_t total = UTIL_ARRAY_LEN(list_names);
	char *want[UTIL_ARRAY_LEN(list_names)];
	char token[RECORD_KEY_MAX + 8] = "";
	const size_t expect_pages[] = {10, 10, 5};
	size_t seen = 0;

	assert_int_equal(total, 25);
	for (size_t i = 0; i < total; i++) {
		char key[128];

		key_of(f, list_names[i], key, sizeof(key));
		want[i] = strdup(key);
		assert_non_null(want[i]);
		/* Size i+1 so sizes can be checked too. */
		assert_int_equal(objstore_put_buffer(f->s, f->bucket, key,
						     "0123456789abcdefghijklmno"
						     "pqrstuvwxyz",
						     i + 1, NULL, &err),
				 IP_OK);
	}
	qsort(want, total, sizeof(want[0]), cmp_str);
	for (size_t page = 0; page < 3; page++) {
		struct objstore_listing l;

		assert_int_equal(objstore_list(f->s, f->bucket, f->prefix,
					       page == 0 ? NULL : token, 10, &l,
					       &err),
				 IP_OK);
		assert_int_equal(l.n, expect_pages[page]);
		for (size_t i = 0; i < l.n; i++) {
			size_t k;

			assert_string_equal(l.keys[i], want[seen + i]);
			for (k = 0; k < total; k++)
				if (strcmp(want[seen + i] + strlen(f->prefix),
					   list_names[k]) == 0)
					break;
			assert_int_equal(l.sizes[i], (int64_t)k + 1);
		}
		seen += l.n;
		if (page < 2)
			assert_true(l.next_token[0] != '\0');
		else
			assert_string_equal(l.next_token, "");
		util_strlcpy(token, l.next_token, sizeof(token));
		objstore_listing_free(&l);
	}
	assert_int_equal(seen, total);

	/* One page holding everything has no token. */
	{
		struct objstore_listing l;

		assert_int_equal(objstore_list(f->s, f->bucket, f->prefix, "",
					       1000, &l, &err),
				 IP_OK);
		assert_int_equal(l.n, total);
		assert_string_equal(l.next_token, "");
		objstore_listing_free(&l);
	}
	for (size_t i = 0; i < total; i++)
		free(want[i]);
}

static void
test_list_prefix(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_listing l;
	char prefix[128];

	for (size_t i = 0; i < UTIL_ARRAY_LEN(list_names); i++) {
		char key[128];

		key_of(f, list_names[i], key, sizeof(key));
		assert_int_equal(objstore_put_buffer(f->s, f->bucket, key, "x",
						     1, NULL, &err),
				 IP_OK);
	}
	/* A directory-like prefix. */
	key_of(f, "p/a/", prefix, sizeof(prefix));
	assert_int_equal(
	    objstore_list(f->s, f->bucket, prefix, NULL, 100, &l, &err), IP_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.keys[0] + strlen(f->prefix), "p/a/b");
	assert_string_equal(l.keys[1] + strlen(f->prefix), "p/a/c/d");
	objstore_listing_free(&l);
	/* A prefix that ends mid-name. */
	key_of(f, "q", prefix, sizeof(prefix));
	assert_int_equal(
	    objstore_list(f->s, f->bucket, prefix, NULL, 100, &l, &err), IP_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.keys[0] + strlen(f->prefix), "q-");
	assert_string_equal(l.keys[1] + strlen(f->prefix), "q.x");
	assert_string_equal(l.keys[2] + strlen(f->prefix), "q/r");
	assert_string_equal(l.keys[3] + strlen(f->prefix), "q0");
	objstore_listing_free(&l);
	/* Nothing matches. */
	key_of(f, "zzz", prefix, sizeof(prefix));
	assert_int_equal(
	    objstore_list(f->s, f->bucket, prefix, NULL, 100, &l, &err), IP_OK);
	assert_int_equal(l.n, 0);
	assert_string_equal(l.next_token, "");
	objstore_listing_free(&l);
	/* A token carries the prefix's listing on, and only it. */
	key_of(f, "t/", prefix, sizeof(prefix));
	assert_int_equal(
	    objstore_list(f->s, f->bucket, prefix, NULL, 2, &l, &err), IP_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.keys[1] + strlen(f->prefix), "t/10");
	{
		struct objstore_listing l2;

		assert_int_equal(objstore_list(f->s, f->bucket, prefix,
					       l.next_token, 2, &l2, &err),
				 IP_OK);
		assert_int_equal(l2.n, 2);
		assert_string_equal(l2.keys[0] + strlen(f->prefix), "t/2");
		assert_string_equal(l2.keys[1] + strlen(f->prefix), "t/a b+c");
		objstore_listing_free(&l2);
	}
	objstore_listing_free(&l);
}

static void
test_list_bad_args(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_listing l;

	assert_int_equal(
	    objstore_list(f->s, f->bucket, f->prefix, NULL, 0, &l, &err),
	    IP_EINVAL);
	assert_int_equal(
	    objstore_list(f->s, f->bucket, f->prefix, NULL, 1001, &l, &err),
	    IP_EINVAL);
	assert_int_equal(
	    objstore_list(f->s, "Bad_Bucket", f->prefix, NULL, 10, &l, &err),
	    IP_EINVAL);
}

static void
test_invalid_keys(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char long_key[RECORD_KEY_MAX + 100]; /* one segment, over the max */
	char over_key[RECORD_KEY_MAX + 1];
	char src[CONTRACT_PATH_MAX + 64];
	const char *raw[] = {
	    "",
	    "/abs",
	    "a/../b",
	    "..",
	    ".",
	    "a//b",
	    "a\\b",
	    "a/./b",
	    "a/",
	    "a/..",
	    "../a",
	    "a\x01z",
	    "a\nb",
	    "a\x7f",
	    "\t",
	    "a\xff",
	    "\xc0\xaf",
	    "\xe0\x80\xaf",
	    "a\xed\xa0\x80",
	    "\xc2\x85",
	    "a\xf4\x90\x80\x80",
	    "trunc\xe2\x82",
	    long_key,
	    over_key,
	};
	struct objstore_listing l;

	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	/* RECORD_KEY_MAX bytes in 2-byte segments "k/k/...": one over the max. */
	for (size_t i = 0; i < sizeof(over_key) - 1; i++)
		over_key[i] = i % 2 == 0 ? 'k' : '/';
	over_key[sizeof(over_key) - 1] = '\0';
	snprintf(src, sizeof(src), "%s/upload", f->spool);
	contract_write_file(src, "data", 4);

	for (size_t i = 0; i < UTIL_ARRAY_LEN(raw) * 2; i++) {
		struct objstore_put_opts move = {.move = true};
		char key[RECORD_KEY_MAX + 400];
		int fd = -1;

		/* Each bad key bare, and again under the test's prefix. */
		if (i < UTIL_ARRAY_LEN(raw))
			snprintf(key, sizeof(key), "%s", raw[i]);
		else
			snprintf(key, sizeof(key), "%s%s", f->prefix,
				 raw[i - UTIL_ARRAY_LEN(raw)]);
		if (i >= UTIL_ARRAY_LEN(raw) &&
		    raw[i - UTIL_ARRAY_LEN(raw)][0] == '\0')
			continue; /* the bare prefix ends in '/'; checked */
		if (objstore_key_valid(key))
			fail_msg("key %zu (\"%s\") accepted", i, key);
		assert_int_equal(objstore_put_buffer(f->s, f->bucket, key, "x",
						     1, NULL, &err),
				 IP_EINVAL);
		assert_int_equal(
		    objstore_put_file(f->s, f->bucket, key, src, &move, &err),
		    IP_EINVAL);
		assert_int_equal(
		    objstore_head(f->s, f->bucket, key, NULL, &err), IP_EINVAL);
		assert_int_equal(
		    objstore_open_read(f->s, f->bucket, key, &fd, NULL, &err),
		    IP_EINVAL);
		assert_int_equal(fd, -1);
		assert_int_equal(objstore_delete(f->s, f->bucket, key, &err),
				 IP_EINVAL);
	}
	assert_false(objstore_key_valid(NULL));
	assert_false(objstore_key_valid(f->prefix)); /* ends in '/' */
	/* Nothing was written, and the refused move left its source. */
	assert_int_equal(
	    objstore_list(f->s, f->bucket, f->prefix, NULL, 1000, &l, &err),
	    IP_OK);
	assert_int_equal(l.n, 0);
	objstore_listing_free(&l);
	assert_int_equal(access(src, F_OK), 0);
}

static void
test_valid_edge_keys(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char max_key[RECORD_KEY_MAX];
	const char *names[] = {
	    "\xc3\xbc/\xe6\x97\xa5\xe6\x9c\xac.jpg", /* ü/日本.jpg */
	    "a b+c=d&e.jpg",
	    ".hidden",
	    "...",
	    "a/..b/c..",
	    "x/\xf0\x9f\x98\x80", /* an emoji, 4 bytes */
	    "01J0000000000000000000000/photo.jpg",
	};
	size_t plen = strlen(f->prefix);

	for (size_t i = 0; i < UTIL_ARRAY_LEN(names); i++) {
		char key[256];

		key_of(f, names[i], key, sizeof(key));
		assert_true(objstore_key_valid(key));
		assert_int_equal(objstore_put_buffer(f->s, f->bucket, key,
						     names[i], strlen(names[i]),
						     NULL, &err),
				 IP_OK);
		assert_object(f, f->bucket, key, names[i], strlen(names[i]));
	}
	/* Exactly RECORD_KEY_MAX - 1 bytes, in segments of at most 200. */
	memcpy(max_key, f->prefix, plen);
	for (size_t i = plen; i < sizeof(max_key) - 1; i++)
		max_key[i] = (i - plen) % 200 == 199 ? '/' : 'm';
	max_key[sizeof(max_key) - 1] = '\0';
	assert_int_equal(strlen(max_key), RECORD_KEY_MAX - 1);
	assert_true(objstore_key_valid(max_key));
	assert_int_equal(
	    objstore_put_buffer(f->s, f->bucket, max_key, "max", 3, NULL, &err),
	    IP_OK);
	assert_object(f, f->bucket, max_key, "max", 3);
}

static void
test_invalid_buckets(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char b64[65];
	const char *bad[] = {
	    "",	    "ab",	   "Upper",   "a_b",	     "-ab",
	    "ab-",  ".ab",	   "ab.",     "a..b",	     "a.-b",
	    "a-.b", "192.168.1.1", "xn--abc", "abc-s3alias", "abc--ol-s3",
	    "a b",  "ab\xc3\xbc",  "a/b",     b64,
	};
	const char *good[] = {"abc", "a.b-c", "0aa", "a-b-c.d9"};
	char good63[64];
	struct objstore_listing l;
	char key[128];

	memset(b64, 'b', 64);
	b64[64] = '\0';
	memset(good63, 'g', 63);
	good63[63] = '\0';
	key_of(f, "k", key, sizeof(key));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		if (objstore_bucket_valid(bad[i]))
			fail_msg("bucket \"%s\" accepted", bad[i]);
		assert_int_equal(objstore_ensure_bucket(f->s, bad[i], &err),
				 IP_EINVAL);
		assert_int_equal(
		    objstore_put_buffer(f->s, bad[i], key, "x", 1, NULL, &err),
		    IP_EINVAL);
		assert_int_equal(objstore_head(f->s, bad[i], key, NULL, &err),
				 IP_EINVAL);
		assert_int_equal(objstore_delete(f->s, bad[i], key, &err),
				 IP_EINVAL);
		assert_int_equal(
		    objstore_list(f->s, bad[i], "", NULL, 10, &l, &err),
		    IP_EINVAL);
	}
	assert_false(objstore_bucket_valid(NULL));
	for (size_t i = 0; i < UTIL_ARRAY_LEN(good); i++)
		assert_true(objstore_bucket_valid(good[i]));
	assert_true(objstore_bucket_valid(good63));
}

#define CW_THREADS 4
#define CW_KEYS 25

struct cw_arg {
	struct fix *f;
	int id;
	int failures;
};

/* Distinct keys in shared directories, plus put+delete of scratch keys in
 * the same directories (deletes prune directories puts are using). */
static void *
cw_main(void *arg)
{
	struct cw_arg *a = arg;
	struct ip_error err = {0};

	for (int j = 0; j < CW_KEYS; j++) {
		char name[64];
		char key[128];
		char body[32];
		int n = snprintf(body, sizeof(body), "t%d-%d", a->id, j);

		snprintf(name, sizeof(name), "cw/%d/t%d-%d", j % 5, a->id, j);
		key_of(a->f, name, key, sizeof(key));
		if (objstore_put_buffer(a->f->s, a->f->bucket, key, body,
					(size_t)n, NULL, &err) != IP_OK)
			a->failures++;
		snprintf(name, sizeof(name), "cw/%d/s/scratch%d-%d", j % 5,
			 a->id, j);
		key_of(a->f, name, key, sizeof(key));
		if (objstore_put_buffer(a->f->s, a->f->bucket, key, "s", 1,
					NULL, &err) != IP_OK)
			a->failures++;
		if (objstore_delete(a->f->s, a->f->bucket, key, &err) != IP_OK)
			a->failures++;
	}
	return NULL;
}

static void
test_concurrent_writers(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct cw_arg args[CW_THREADS];
	pthread_t tids[CW_THREADS];
	struct objstore_listing l;
	char prefix[128];

	for (int i = 0; i < CW_THREADS; i++) {
		args[i] = (struct cw_arg){.f = f, .id = i};
		assert_int_equal(
		    pthread_create(&tids[i], NULL, cw_main, &args[i]), 0);
	}
	for (int i = 0; i < CW_THREADS; i++) {
		assert_int_equal(pthread_join(tids[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	key_of(f, "cw/", prefix, sizeof(prefix));
	assert_int_equal(
	    objstore_list(f->s, f->bucket, prefix, NULL, 1000, &l, &err),
	    IP_OK);
	assert_int_equal(l.n, CW_THREADS * CW_KEYS);
	for (size_t i = 0; i < l.n; i++) {
		const char *slash = strrchr(l.keys[i], '/');
		char body[32];

		assert_non_null(slash);
		snprintf(body, sizeof(body), "%s", slash + 1);
		assert_int_equal(l.sizes[i], (int64_t)strlen(body));
		assert_object(f, f->bucket, l.keys[i], body, strlen(body));
	}
	objstore_listing_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_buffer_round_trip, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_both_buckets_exist, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_put_file_round_trip, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_open_read_seekable, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_get_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overwrite_replaces, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_overwrite_atomic, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_delete_idempotent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_list_pagination, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_list_prefix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_bad_args, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_valid_edge_keys, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_buckets, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup,
					    teardown),
	};

	return cmocka_run_group_tests_name("contract-objstore", tests, NULL,
					   NULL);
}
