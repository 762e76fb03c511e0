/*
 * test_fs_facts.c - what only the embedded backends promise, checked on
 * disk: objstore fs (temp files, rename on move, pruning, symlinks, the
 * fs URL), and table/queue sqlite (durability across close and reopen,
 * schema version, two handles on one file).  The contract tests
 * (test_objstore.c, ...) cover the interfaces; this file covers the
 * files behind them, so it always runs with fs/sqlite.
 *
 * Threads: test_queue_two_handles starts one receiver thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "contract.h"
#include "core/log.h"
#include "core/util.h"
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#define VIS 30

struct fix {
	char dir[CONTRACT_PATH_MAX];
	char root[CONTRACT_PATH_MAX + 16]; /* DATA/buckets */
	char bucket_dir[CONTRACT_PATH_MAX + 96];
	struct config cfg;
	struct objstore *s;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct ip_error err = {0};

	assert_non_null(f);
	contract_tmpdir(f->dir, sizeof(f->dir));
	contract_config(&f->cfg, f->dir);
	util_strlcpy(f->cfg.objstore, "fs", sizeof(f->cfg.objstore));
	util_strlcpy(f->cfg.table, "sqlite", sizeof(f->cfg.table));
	util_strlcpy(f->cfg.queue, "sqlite", sizeof(f->cfg.queue));
	snprintf(f->root, sizeof(f->root), "%s/buckets", f->dir);
	snprintf(f->bucket_dir, sizeof(f->bucket_dir), "%s/%s", f->root,
		 f->cfg.input_bucket);
	if (objstore_open(&f->cfg, &f->s, &err) != IP_OK)
		fail_msg("objstore_open: %s", err.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	objstore_close(f->s);
	contract_rmrf(f->dir);
	free(f);
	return 0;
}

/* Entries of a directory other than "." and "..". */
static int
count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int regular_files;

static int
count_regular(const char *path, const struct stat *sb, int flag,
	      struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(sb->st_mode))
		regular_files++;
	return 0;
}

static int
count_files_under(const char *path)
{
	regular_files = 0;
	assert_int_equal(nftw(path, count_regular, 16, FTW_PHYS), 0);
	return regular_files;
}

static void
path_of(const struct fix *f, const char *key, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", f->bucket_dir, key);

	assert_true(n > 0 && (size_t)n < size);
}

static void
test_layout_and_no_temp_files(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_put_opts move = {.move = true};
	char tmp[CONTRACT_PATH_MAX + 32];
	char src[CONTRACT_PATH_MAX + 32];
	char path[CONTRACT_PATH_MAX + 256];
	struct stat sb;

	snprintf(src, sizeof(src), "%s/src", f->dir);
	contract_write_file(src, "file body", 9);
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
					     "a/b/c.jpg", "hello", 5, NULL,
					     &err),
			 IP_OK);
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
					     "a/b/c.jpg", "hello2", 6, NULL,
					     &err),
			 IP_OK);
	assert_int_equal(objstore_put_file(f->s, f->cfg.input_bucket, "f.jpg",
					   src, NULL, &err),
			 IP_OK);
	assert_int_equal(objstore_put_file(f->s, f->cfg.input_bucket, "m.jpg",
					   src, &move, &err),
			 IP_OK);
	/* A failed put (parent is an object) leaves no temp file either. */
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
					     "f.jpg/x", "no", 2, NULL, &err),
			 IP_EEXIST);
	snprintf(tmp, sizeof(tmp), "%s/.tmp", f->root);
	assert_int_equal(count_entries(tmp), 0);
	path_of(f, "a/b/c.jpg", path, sizeof(path));
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_size, 6);
	path_of(f, "m.jpg", path, sizeof(path));
	assert_int_equal(lstat(path, &sb), 0);
	assert_int_equal(sb.st_size, 9);
	/* Both buckets exist as directories. */
	snprintf(path, sizeof(path), "%s/%s", f->root, f->cfg.output_bucket);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
}

static void
test_move_is_a_rename(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_put_opts move = {.content_type = "image/gif",
					 .move = true};
	char src[CONTRACT_PATH_MAX + 32];
	char path[CONTRACT_PATH_MAX + 256];
	struct stat before, after;
	struct objstore_stat st;
	char value[16];

	snprintf(src, sizeof(src), "%s/spool-file", f->dir);
	contract_write_file(src, "zero copy", 9);
	assert_int_equal(stat(src, &before), 0);
	assert_int_equal(objstore_put_file(f->s, f->cfg.input_bucket,
					   "01J/orig.jpg", src, &move, &err),
			 IP_OK);
	assert_int_equal(access(src, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	path_of(f, "01J/orig.jpg", path, sizeof(path));
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_dev, before.st_dev);
	/* The type travels with the moved file (where xattrs exist). */
	assert_int_equal(
	    objstore_head(f->s, f->cfg.input_bucket, "01J/orig.jpg", &st, &err),
	    IP_OK);
	if (getxattr(path, "user.content_type", value, sizeof(value)) >= 0)
		assert_string_equal(st.content_type, "image/gif");
	else
		assert_string_equal(st.content_type, "");
}

static void
test_invalid_keys_write_nothing(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	const char *bad[] = {"../escape", "a/../../b", "/etc/x", "..",
			     "a//b",	  "a\\b",      "x\x01"};
	char src[CONTRACT_PATH_MAX + 32];

	snprintf(src, sizeof(src), "%s/src", f->dir);
	contract_write_file(src, "x", 1);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		struct objstore_put_opts move = {.move = true};

		assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
						     bad[i], "x", 1, NULL,
						     &err),
				 IP_EINVAL);
		assert_int_equal(objstore_put_file(f->s, f->cfg.input_bucket,
						   bad[i], src, &move, &err),
				 IP_EINVAL);
	}
	/* Only the untouched source remains anywhere in the data dir. */
	assert_int_equal(count_files_under(f->root), 0);
	assert_int_equal(count_files_under(f->dir), 1);
}

static void
test_delete_prunes_empty_dirs(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char path[CONTRACT_PATH_MAX + 256];

	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
					     "a/b/c.txt", "c", 1, NULL, &err),
			 IP_OK);
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
					     "a/x.txt", "x", 1, NULL, &err),
			 IP_OK);
	assert_int_equal(
	    objstore_delete(f->s, f->cfg.input_bucket, "a/b/c.txt", &err),
	    IP_OK);
	path_of(f, "a/b", path, sizeof(path));
	assert_int_equal(access(path, F_OK), -1);
	path_of(f, "a", path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(
	    objstore_delete(f->s, f->cfg.input_bucket, "a/x.txt", &err), IP_OK);
	assert_int_equal(access(path, F_OK), -1);
	/* The bucket itself stays. */
	assert_int_equal(access(f->bucket_dir, F_OK), 0);
	assert_int_equal(count_entries(f->bucket_dir), 0);
}

static void
test_symlinks_not_followed(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char outside[CONTRACT_PATH_MAX + 32];
	char secret[CONTRACT_PATH_MAX + 64];
	char link[CONTRACT_PATH_MAX + 256];
	struct objstore_listing l;
	int fd = -1;

	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(secret, sizeof(secret), "%s/secret.txt", outside);
	contract_write_file(secret, "secret", 6);
	path_of(f, "dirlink", link, sizeof(link));
	assert_int_equal(symlink(outside, link), 0);
	path_of(f, "filelink", link, sizeof(link));
	assert_int_equal(symlink(secret, link), 0);

	assert_int_equal(objstore_head(f->s, f->cfg.input_bucket,
				       "dirlink/secret.txt", NULL, &err),
			 IP_ENOTFOUND);
	assert_int_equal(objstore_open_read(f->s, f->cfg.input_bucket,
					    "filelink", &fd, NULL, &err),
			 IP_ENOTFOUND);
	assert_int_equal(fd, -1);
	assert_int_not_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
						 "dirlink/new.txt", "n", 1,
						 NULL, &err),
			     IP_OK);
	assert_int_equal(objstore_delete(f->s, f->cfg.input_bucket,
					 "dirlink/secret.txt", &err),
			 IP_OK);
	assert_int_equal(count_entries(outside), 1); /* secret.txt only */
	assert_int_equal(access(secret, F_OK), 0);
	assert_int_equal(
	    objstore_list(f->s, f->cfg.input_bucket, "", NULL, 100, &l, &err),
	    IP_OK);
	assert_int_equal(l.n, 0);
	objstore_listing_free(&l);
}

static void
test_key_prefix_conflicts(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char seg[300];
	char key[320];

	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, "a",
					     "a", 1, NULL, &err),
			 IP_OK);
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, "a/b",
					     "b", 1, NULL, &err),
			 IP_EEXIST);
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, "d/e",
					     "e", 1, NULL, &err),
			 IP_OK);
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, "d",
					     "d", 1, NULL, &err),
			 IP_EEXIST);
	/* Both originals are intact. */
	assert_int_equal(
	    objstore_head(f->s, f->cfg.input_bucket, "a", NULL, &err), IP_OK);
	assert_int_equal(
	    objstore_head(f->s, f->cfg.input_bucket, "d/e", NULL, &err), IP_OK);
	/* A segment longer than NAME_MAX: valid key, refused by fs. */
	memset(seg, 's', 256);
	seg[256] = '\0';
	snprintf(key, sizeof(key), "x/%s", seg);
	assert_true(objstore_key_valid(key));
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, key,
					     "s", 1, NULL, &err),
			 IP_EINVAL);
}

/* fs tokens are the last key returned: any valid key works as one, and
 * anything else is refused. */
static void
test_list_tokens(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	const char *keys[] = {"t/1", "t/10", "t/2", "u"};
	const char *bad[] = {"a//b", "/abs", "..", "x\x01"};
	struct objstore_listing l;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(keys); i++)
		assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket,
						     keys[i], "k", 1, NULL,
						     &err),
				 IP_OK);
	assert_int_equal(
	    objstore_list(f->s, f->cfg.input_bucket, "", "t/15", 10, &l, &err),
	    IP_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.keys[0], "t/2");
	assert_string_equal(l.keys[1], "u");
	objstore_listing_free(&l);
	assert_int_equal(
	    objstore_list(f->s, f->cfg.input_bucket, "", "t/1", 1, &l, &err),
	    IP_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.keys[0], "t/10");
	assert_string_equal(l.next_token, "t/10");
	objstore_listing_free(&l);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
		assert_int_equal(objstore_list(f->s, f->cfg.input_bucket, "",
					       bad[i], 10, &l, &err),
				 IP_EINVAL);
}

static void
test_fs_urls(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	const char *bad[] = {
	    "fs://host/x", "fs:relative", "fs://", "fs:///",
	    "fs:///x?y=1", "nosuch",	  "",	   "nosuch://x"};
	struct config cfg = f->cfg;
	struct objstore dummy = {0};
	struct objstore *s = NULL;
	char path[CONTRACT_PATH_MAX + 128];

	snprintf(cfg.objstore, sizeof(cfg.objstore), "fs://%s/elsewhere",
		 f->dir);
	assert_int_equal(objstore_open(&cfg, &s, &err), IP_OK);
	assert_int_equal(
	    objstore_put_buffer(s, cfg.output_bucket, "k", "v", 1, NULL, &err),
	    IP_OK);
	objstore_close(s);
	snprintf(path, sizeof(path), "%s/elsewhere/%s/k", f->dir,
		 cfg.output_bucket);
	assert_int_equal(access(path, F_OK), 0);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		util_strlcpy(cfg.objstore, bad[i], sizeof(cfg.objstore));
		s = &dummy; /* open must reset it to NULL */
		if (objstore_open(&cfg, &s, &err) != IP_EINVAL)
			fail_msg("objstore URL \"%s\" accepted", bad[i]);
		assert_null(s);
	}
	/* A bad bucket name in the config fails the open. */
	cfg = f->cfg;
	util_strlcpy(cfg.output_bucket, "Bad_Bucket",
		     sizeof(cfg.output_bucket));
	assert_int_equal(objstore_open(&cfg, &s, &err), IP_EINVAL);
	assert_null(s);
}

static void
test_stale_temp_files_swept(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	char old[CONTRACT_PATH_MAX + 64];
	char young[CONTRACT_PATH_MAX + 64];
	struct timespec times[2];
	struct objstore *s = NULL;

	snprintf(old, sizeof(old), "%s/.tmp/1.1.dead.tmp", f->root);
	snprintf(young, sizeof(young), "%s/.tmp/2.2.live.tmp", f->root);
	contract_write_file(old, "old", 3);
	contract_write_file(young, "young", 5);
	times[0].tv_sec = time(NULL) - 7200;
	times[0].tv_nsec = 0;
	times[1] = times[0];
	assert_int_equal(utimensat(AT_FDCWD, old, times, 0), 0);
	assert_int_equal(objstore_open(&f->cfg, &s, &err), IP_OK);
	objstore_close(s);
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(young, F_OK), 0);
}

static void
test_etag_and_content_type(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct objstore_put_opts opts = {.content_type = "image/webp"};
	struct objstore_stat a, b, c;
	char probe[CONTRACT_PATH_MAX + 32];
	bool xattrs;

	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, "e",
					     "same", 4, &opts, &err),
			 IP_OK);
	assert_int_equal(
	    objstore_head(f->s, f->cfg.input_bucket, "e", &a, &err), IP_OK);
	assert_int_equal(
	    objstore_head(f->s, f->cfg.input_bucket, "e", &b, &err), IP_OK);
	assert_string_equal(a.etag, b.etag); /* stable while unchanged */
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, "e",
					     "same", 4, NULL, &err),
			 IP_OK);
	assert_int_equal(
	    objstore_head(f->s, f->cfg.input_bucket, "e", &c, &err), IP_OK);
	assert_string_not_equal(a.etag, c.etag); /* a new version */
	/* The type survives where the filesystem has user xattrs. */
	snprintf(probe, sizeof(probe), "%s/probe", f->dir);
	contract_write_file(probe, "p", 1);
	xattrs = setxattr(probe, "user.probe", "1", 1, 0) == 0;
	if (xattrs)
		assert_string_equal(a.content_type, "image/webp");
	else
		assert_string_equal(a.content_type, "");
	assert_string_equal(c.content_type, ""); /* put without a type */
	/* A type that does not fit, or has control characters, is refused. */
	opts.content_type = "image/jpeg\r\nX-Evil: 1";
	assert_int_equal(objstore_put_buffer(f->s, f->cfg.input_bucket, "e",
					     "x", 1, &opts, &err),
			 IP_EINVAL);
}

/* Table: durable across close/reopen, schema marked, WAL on. */
static void
test_table_durable_reopen(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct table *t = NULL;
	struct record r, got;
	char db_path[CONTRACT_PATH_MAX + 32];
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(table_open(&f->cfg, &t, &err), IP_OK);
	memset(&r, 0, sizeof(r));
	util_new_id(r.id, sizeof(r.id));
	util_strlcpy(r.name, "durable.jpg", sizeof(r.name));
	r.status = RECORD_PENDING;
	assert_int_equal(table_put(t, &r, &err), IP_OK);
	r.status = RECORD_DONE;
	assert_int_equal(table_update(t, &r, 1, &err), IP_OK);
	table_close(t);

	assert_int_equal(table_open(&f->cfg, &t, &err), IP_OK);
	assert_int_equal(table_get(t, r.id, &got, &err), IP_OK);
	assert_int_equal(got.version, 2);
	assert_int_equal(got.status, RECORD_DONE);
	assert_string_equal(got.name, "durable.jpg");
	table_close(t);

	snprintf(db_path, sizeof(db_path), "%s/imgpipe.db", f->dir);
	assert_int_equal(
	    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A damaged row: get reports it (IP_EDAMAGED), listing skips and names
 * it, the rest still lists, delete removes it; a database from a newer
 * schema is refused. */
static void
test_table_damaged_row_and_newer_schema(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct table *t = NULL;
	struct table_page page;
	struct record r, got;
	char db_path[CONTRACT_PATH_MAX + 32];
	char sql[256];
	char bad_id[RECORD_ID_MAX];

	assert_int_equal(table_open(&f->cfg, &t, &err), IP_OK);
	memset(&r, 0, sizeof(r));
	util_new_id(r.id, sizeof(r.id));
	r.status = RECORD_PENDING;
	assert_int_equal(table_put(t, &r, &err), IP_OK);
	table_close(t);
	snprintf(db_path, sizeof(db_path), "%s/imgpipe.db", f->dir);
	util_new_id(bad_id, sizeof(bad_id));
	snprintf(sql, sizeof(sql),
		 "INSERT INTO images VALUES"
		 " ('%s', 'pending', 1, 0, '{not json')",
		 bad_id);
	exec_sql(db_path, sql);

	assert_int_equal(table_open(&f->cfg, &t, &err), IP_OK);
	/* Damage, not bad input (it used to answer 400 invalid_request). */
	assert_int_equal(table_get(t, bad_id, &got, &err), IP_EDAMAGED);
	assert_int_equal(err.code, IP_EDAMAGED);
	log_set_level(LOG_QUIET); /* the skip is logged as an error */
	assert_int_equal(table_list(t, NULL, 10, &page, &err), IP_OK);
	log_set_level(LOG_WARN);
	assert_int_equal(page.n, 1);
	assert_string_equal(page.items[0].id, r.id);
	/* ...and named, for recovery and doctor. */
	assert_int_equal(page.n_damaged, 1);
	assert_string_equal(page.damaged[0], bad_id);
	table_page_free(&page);
	/* A damaged row can still be deleted. */
	assert_int_equal(table_delete(t, bad_id, &err), IP_OK);
	assert_int_equal(table_get(t, bad_id, &got, &err), IP_ENOTFOUND);
	table_close(t);

	exec_sql(db_path, "PRAGMA user_version = 99");
	t = NULL;
	assert_int_equal(table_open(&f->cfg, &t, &err), IP_EBACKEND);
	assert_null(t);
}

static void
test_table_queue_urls(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	const char *bad[] = {"sqlite://rel.db", "sqlite:rel",
			     "sqlite://",	"sqlite:///x.db?mode=ro",
			     "nosuch://x",	""};
	struct config cfg = f->cfg;
	struct table *t = NULL;
	struct queue *q = NULL;
	char path[CONTRACT_PATH_MAX + 64];

	snprintf(cfg.table, sizeof(cfg.table), "sqlite://%s/deep/dir/t.db",
		 f->dir);
	snprintf(cfg.queue, sizeof(cfg.queue), "sqlite://%s/deep/q.db", f->dir);
	assert_int_equal(table_open(&cfg, &t, &err), IP_OK);
	assert_int_equal(queue_open(&cfg, &q, &err), IP_OK);
	table_close(t);
	queue_close(q);
	snprintf(path, sizeof(path), "%s/deep/dir/t.db", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/deep/q.db", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		util_strlcpy(cfg.table, bad[i], sizeof(cfg.table));
		util_strlcpy(cfg.queue, bad[i], sizeof(cfg.queue));
		if (table_open(&cfg, &t, &err) != IP_EINVAL)
			fail_msg("table URL \"%s\" accepted", bad[i]);
		assert_null(t);
		if (queue_open(&cfg, &q, &err) != IP_EINVAL)
			fail_msg("queue URL \"%s\" accepted", bad[i]);
		assert_null(q);
	}
}

/* Queue: messages, in-flight state and dead letters survive a restart;
 * release_all then hands the orphan out again. */
static void
test_queue_durable_reopen(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue *q = NULL;
	struct queue_msg a, b, m;
	struct queue_dead_list l;

	assert_int_equal(queue_open(&f->cfg, &q, &err), IP_OK);
	assert_int_equal(queue_send(q, "a", 1, NULL, 0, &err), IP_OK);
	assert_int_equal(queue_send(q, "b", 1, NULL, 0, &err), IP_OK);
	assert_int_equal(queue_send(q, "c", 1, "dedup-c", 0, &err), IP_OK);
	assert_int_equal(queue_receive(q, 300, 0, &a, &err), IP_OK);
	assert_string_equal(a.body, "a"); /* sqlite hands out oldest first */
	assert_int_equal(queue_receive(q, VIS, 0, &b, &err), IP_OK);
	assert_string_equal(b.body, "b");
	assert_int_equal(queue_dead_letter(q, &b, "bad", &err), IP_OK);
	queue_close(q);

	assert_int_equal(queue_open(&f->cfg, &q, &err), IP_OK);
	/* Dedup survives too. */
	assert_int_equal(queue_send(q, "c2", 2, "dedup-c", 0, &err), IP_OK);
	assert_int_equal(queue_receive(q, VIS, 0, &m, &err), IP_OK);
	assert_string_equal(m.body, "c");
	assert_int_equal(queue_delete(q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	/* "a" is still in flight from the previous life... */
	assert_int_equal(queue_receive(q, VIS, 0, &m, &err), IP_ENOTFOUND);
	assert_int_equal(queue_release_all(q, &err), IP_OK);
	assert_int_equal(queue_receive(q, VIS, 0, &m, &err), IP_OK);
	assert_string_equal(m.body, "a");
	assert_int_equal(m.receive_count, 2);
	assert_int_equal(queue_delete(q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	assert_int_equal(queue_dlq_list(q, 10, &l, &err), IP_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].reason, "bad");
	queue_dead_list_free(&l);
	/* Ids are never reused, even after deletes and a restart. */
	assert_int_equal(queue_send(q, "d", 1, NULL, 0, &err), IP_OK);
	assert_int_equal(queue_receive(q, VIS, 0, &m, &err), IP_OK);
	assert_string_not_equal(m.id, a.id);
	assert_string_not_equal(m.id, b.id);
	assert_int_equal(queue_delete(q, &m, &err), IP_OK);
	queue_msg_clear(&m);
	queue_msg_clear(&a);
	queue_msg_clear(&b);
	queue_close(q);
}

struct two_handles {
	struct queue *q;
	int rc;
	int64_t took_ms;
	struct queue_msg m;
};

static void *
two_handles_receiver(void *arg)
{
	struct two_handles *t = arg;
	struct ip_error err = {0};
	int64_t t0 = util_mono_ms();

	t->rc = queue_receive(t->q, VIS, 20000, &t->m, &err);
	t->took_ms = util_mono_ms() - t0;
	return NULL;
}

/* Two handles on one file behave like two processes: no shared condition
 * variable, so the receiver finds the message by polling. */
static void
test_queue_two_handles(void **state)
{
	struct fix *f = *state;
	struct ip_error err = {0};
	struct queue *producer = NULL;
	struct two_handles t = {0};
	pthread_t tid;

	assert_int_equal(queue_open(&f->cfg, &producer, &err), IP_OK);
	assert_int_equal(queue_open(&f->cfg, &t.q, &err), IP_OK);
	assert_int_equal(pthread_create(&tid, NULL, two_handles_receiver, &t),
			 0);
	assert_int_equal(queue_send(producer, "cross", 5, NULL, 0, &err),
			 IP_OK);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(t.rc, IP_OK);
	assert_string_equal(t.m.body, "cross");
	assert_true(t.took_ms < 5000);
	/* The producer's handle can finish the job. */
	assert_int_equal(queue_delete(producer, &t.m, &err), IP_OK);
	queue_msg_clear(&t.m);
	queue_close(t.q);
	queue_close(producer);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout_and_no_temp_files,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_is_a_rename, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_keys_write_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_prunes_empty_dirs,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_not_followed, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_key_prefix_conflicts, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_list_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fs_urls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_temp_files_swept, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_etag_and_content_type, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_table_durable_reopen, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_table_damaged_row_and_newer_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_table_queue_urls, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_queue_durable_reopen, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_queue_two_handles, setup,
					    teardown),
	};

	log_set_level(LOG_WARN);
	return cmocka_run_group_tests_name("contract-fs-facts", tests, NULL,
					   NULL);
}
