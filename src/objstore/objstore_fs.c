/*
 * objstore_fs.c - the embedded object store: one directory per bucket.
 *
 * Called through the objstore.h wrappers from the gateway (puts of
 * uploads), the workers (reads of originals, puts of variants) and the
 * HTTP handlers (reads, deletes, lists), all at once from any thread.
 *
 * DESIGN
 *
 * Layout: ROOT/BUCKET/KEY, the key's '/' being real directories, and
 * ROOT/.tmp for files being written (".tmp" can never be a bucket name).
 * The struct holds only descriptors opened at start-up and an atomic
 * counter, so no lock is needed: every operation works on its own
 * descriptors and the kernel orders the renames.
 *
 * Atomic, durable writes: the bytes go to a fresh file in ROOT/.tmp, which
 * is fsync'd and then renamed over ROOT/BUCKET/KEY; the directory that got
 * the new name is fsync'd, and so is the parent of every directory the put
 * had to create.  A reader therefore sees the old object or the whole new
 * one.  put_file with opts->move renames the caller's file instead (after
 * an fsync of it), falling back to a copy across filesystems.
 *
 * Symlinks: paths are resolved one segment at a time with openat(...,
 * O_NOFOLLOW) from the bucket's descriptor, so a symlink planted in a
 * bucket is never followed (a key through it is simply not found) and
 * nothing outside ROOT/BUCKET is ever touched.
 *
 * Races with deletes: delete removes the key's directories that became
 * empty, so a concurrent put may find its directory gone at rename time
 * (ENOENT); it walks again, re-creating it, a bounded number of times.
 *
 * ETag: "<inode>-<size>-<mtime ns>" in hex.  Every put makes a new inode
 * (a new temp file, or the moved spool file), so the tag changes with
 * each content version and is stable while the object is unchanged.
 *
 * Content-Type is kept in the xattr "user.content_type" when the
 * filesystem supports it; otherwise head reports it empty.
 *
 * Limits of the fs model (answered as errors, never silently): a key
 * segment longer than 255 bytes is IP_EINVAL (NAME_MAX), and a key that
 * would need a file where a directory is, or the reverse ("a" and "a/b"),
 * is IP_EEXIST.
 */
#include "objstore/objstore_fs.h"

#include "core/backend_url.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define FS_TMP_DIR ".tmp"
#define FS_XATTR_TYPE "user.content_type"
#define FS_SEG_MAX 255 /* NAME_MAX on every Linux filesystem */
#define FS_DEPTH_MAX (RECORD_KEY_MAX / 2 + 1)
#define FS_WALK_TRIES 8 /* walks per put when deletes race us */
#define FS_COPY_BUF (64 * 1024)
#define FS_STALE_TMP_S 3600 /* temp files older than this are debris */
#define FS_LIST_MAX 1000
#define FS_TYPE_MAX sizeof(((struct objstore_stat *)NULL)->content_type)

struct fs_store {
	struct objstore base; /* first: the interface casts */
	int root_fd;
	int tmp_fd;
	atomic_uint_fast64_t seq; /* temp file names */
	char root[CONFIG_PATH_MAX];
};

/*
 * A resolved key: the descriptors of the bucket and of every directory
 * down to the key's parent (fds[depth - 1]), and where each segment of
 * the key starts, so delete can prune empty directories bottom-up.
 */
struct fs_walk {
	int fds[FS_DEPTH_MAX];
	size_t seg_off[FS_DEPTH_MAX];
	size_t seg_len[FS_DEPTH_MAX];
	size_t depth; /* fds[0] is the bucket */
	char leaf[FS_SEG_MAX + 1];
};

static const struct objstore_ops fs_ops;

static struct fs_store *
fs_store(struct objstore *s)
{
	return (struct fs_store *)s;
}

/* Map an errno to our vocabulary and say what failed. */
static int
fs_errno(struct ip_error *err, int e, const char *what, const char *bucket,
	 const char *key)
{
	int code;

	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ELOOP:
		code = IP_ENOTFOUND;
		break;
	case ENAMETOOLONG:
		code = IP_EINVAL;
		break;
	case ENOMEM:
		code = IP_ENOMEM;
		break;
	case EISDIR:
	case ENOTEMPTY:
	case EEXIST:
		code = IP_EEXIST;
		break;
	default:
		code = ip_errno_code(e, IP_EIO);
		break;
	}
	return ip_error_set(err, code, "%s %s/%s: %s", what, bucket,
			    key != NULL ? key : "", strerror(e));
}

static void
fs_walk_init(struct fs_walk *w)
{
	w->depth = 0;
	w->leaf[0] = '\0';
}

static void
fs_walk_release(struct fs_walk *w)
{
	while (w->depth > 0) {
		w->depth--;
		if (w->fds[w->depth] >= 0)
			close(w->fds[w->depth]);
	}
}

/* The directory that holds the key's leaf. */
static int
fs_walk_dir(const struct fs_walk *w)
{
	return w->fds[w->depth - 1];
}

static int
fs_open_bucket(struct fs_store *fs, const char *bucket, int *fd_out,
	       struct ip_error *err)
{
	int fd = openat(fs->root_fd, bucket,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return ip_error_set(err, IP_ENOTFOUND,
					    "no such bucket: %s", bucket);
		return fs_errno(err, errno, "open bucket", bucket, NULL);
	}
	*fd_out = fd;
	return IP_OK;
}

/*
 * Open (create when asked) one directory below parent, never through a
 * symlink.  A new directory is made durable by an fsync of its parent.
 */
static int
fs_open_subdir(int parent, const char *name, bool create, int *fd_out)
{
	for (int tries = 0; tries < FS_WALK_TRIES; tries++) {
		int fd =
		    openat(parent, name,
			   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0) {
			*fd_out = fd;
			return 0;
		}
		if (errno != ENOENT || !create)
			return errno;
		if (mkdirat(parent, name, 0755) == 0) {
			if (fsync(parent) != 0)
				return errno;
		} else if (errno != EEXIST) {
			return errno;
		}
	}
	return ENOENT;
}

/*
 * Resolve bucket/key to the key's parent directory, creating missing
 * directories when `create`.  With `keep`, the descriptors of every level
 * stay open (delete prunes with them); otherwise only the last one does.
 * The key must already be valid.
 */
static int
fs_walk(struct fs_store *fs, const char *bucket, const char *key, bool create,
	bool keep, struct fs_walk *w, struct ip_error *err)
{
	char seg[FS_SEG_MAX + 1];
	size_t off = 0;
	int fd = -1;
	int rc;

	fs_walk_init(w);
	rc = fs_open_bucket(fs, bucket, &fd, err);
	if (rc != IP_OK)
		return rc;
	w->fds[w->depth++] = fd;
	for (;;) {
		size_t len = strcspn(key + off, "/");
		int e;

		if (len > FS_SEG_MAX) {
			rc = ip_error_set(err, IP_EINVAL,
					  "key segment longer than %d bytes",
					  FS_SEG_MAX);
			goto fail;
		}
		if (key[off + len] == '\0') {
			memcpy(w->leaf, key + off, len);
			w->leaf[len] = '\0';
			return IP_OK;
		}
		memcpy(seg, key + off, len);
		seg[len] = '\0';
		e = fs_open_subdir(fs_walk_dir(w), seg, create, &fd);
		if (e != 0) {
			if (create && (e == ENOTDIR || e == ELOOP))
				rc = ip_error_set(err, IP_EEXIST,
						  "key %s/%s: a parent is an "
						  "object, not a prefix",
						  bucket, key);
			else
				rc = fs_errno(err, e, "walk", bucket, key);
			goto fail;
		}
		if (!keep) {
			w->depth--;
			close(w->fds[w->depth]);
		}
		w->seg_off[w->depth] = off;
		w->seg_len[w->depth] = len;
		w->fds[w->depth++] = fd;
		off += len + 1;
	}
fail:
	fs_walk_release(w);
	return rc;
}

static int
fs_check_args(const char *bucket, const char *key, struct ip_error *err)
{
	if (!objstore_bucket_valid(bucket))
		return ip_error_set(err, IP_EINVAL, "invalid bucket name");
	if (!objstore_key_valid(key))
		return ip_error_set(err, IP_EINVAL, "invalid object key");
	return IP_OK;
}

static bool
content_type_valid(const char *ct)
{
	size_t n = strnlen(ct, FS_TYPE_MAX);

	if (n >= FS_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ct[i] < 0x20 || ct[i] > 0x7e)
			return false;
	return true;
}

static void
fs_set_type(int fd, const struct objstore_put_opts *opts)
{
	const char *ct = opts != NULL ? opts->content_type : NULL;

	if (ct == NULL || ct[0] == '\0')
		return;
	/* Best effort: a filesystem without user xattrs just has no type. */
	if (fsetxattr(fd, FS_XATTR_TYPE, ct, strlen(ct), 0) != 0 &&
	    errno != ENOTSUP)
		log_debug("objstore fs: content type not kept: %s",
			  strerror(errno));
}

static void
fs_fill_stat(int fd, const struct stat *sb, struct objstore_stat *st)
{
	ssize_t n;

	memset(st, 0, sizeof(*st));
	st->size = (int64_t)sb->st_size;
	st->mtime_ms =
	    (int64_t)sb->st_mtim.tv_sec * 1000 + sb->st_mtim.tv_nsec / 1000000;
	snprintf(st->etag, sizeof(st->etag), "%llx-%llx-%llx",
		 (unsigned long long)sb->st_ino,
		 (unsigned long long)sb->st_size,
		 (unsigned long long)sb->st_mtim.tv_sec * 1000000000ULL +
		     (unsigned long long)sb->st_mtim.tv_nsec);
	n = fgetxattr(fd, FS_XATTR_TYPE, st->content_type,
		      sizeof(st->content_type) - 1);
	if (n < 0)
		n = 0;
	st->content_type[n] = '\0';
	if (!content_type_valid(st->content_type))
		st->content_type[0] = '\0';
}

/* A fresh, exclusive temp file in ROOT/.tmp; name receives its name. */
static int
fs_tmp_create(struct fs_store *fs, char *name, size_t size, int *fd_out,
	      struct ip_error *err)
{
	unsigned char rnd[8];
	char hex[sizeof(rnd) * 2 + 1];
	uint64_t seq = atomic_fetch_add(&fs->seq, 1);
	int fd;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd)); /* pid+seq keep it unique */
	util_hex(rnd, sizeof(rnd), hex);
	snprintf(name, size, "%ld.%llu.%s.tmp", (long)getpid(),
		 (unsigned long long)seq, hex);
	fd = openat(fs->tmp_fd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return fs_errno(err, errno, "create temp file", FS_TMP_DIR,
				name);
	*fd_out = fd;
	return IP_OK;
}

/* Copy all of src (from its current offset) into dst. */
static int
fs_copy_fd(int src, int dst, struct ip_error *err)
{
	char *buf = malloc(FS_COPY_BUF);
	int rc = IP_OK;

	if (buf == NULL)
		return ip_error_set(err, IP_ENOMEM, "copy buffer");
	for (;;) {
		ssize_t n = read(src, buf, FS_COPY_BUF);
		int e;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ip_error_set(err, IP_EIO, "read source: %s",
					  strerror(errno));
			break;
		}
		if (n == 0)
			break;
		e = util_write_all(dst, buf, (size_t)n);
		if (e != 0) {
			rc = ip_error_set(err, ip_errno_code(-e, IP_EIO),
					  "write temp: %s", strerror(-e));
			break;
		}
	}
	free(buf);
	return rc;
}

/*
 * Rename from (from_dir, from_name) to bucket/key, creating the key's
 * directories, and make the new name durable.  Retries when a
 * concurrent delete removed a directory under us.
 */
static int
fs_commit(struct fs_store *fs, int from_dir, const char *from_name,
	  const char *bucket, const char *key, int *sys_errno,
	  struct ip_error *err)
{
	struct fs_walk w;
	struct stat sb;
	int rc = IP_EIO;

	*sys_errno = 0;
	for (int tries = 0; tries < FS_WALK_TRIES; tries++) {
		rc = fs_walk(fs, bucket, key, true, false, &w, err);
		if (rc != IP_OK)
			return rc;
		if (renameat(from_dir, from_name, fs_walk_dir(&w), w.leaf) ==
		    0) {
			if (fsync(fs_walk_dir(&w)) != 0)
				rc = fs_errno(err, errno, "fsync dir", bucket,
					      key);
			fs_walk_release(&w);
			return rc;
		}
		*sys_errno = errno;
		if (errno == EISDIR || errno == ENOTEMPTY)
			rc = ip_error_set(err, IP_EEXIST,
					  "key %s/%s: is a prefix of other "
					  "keys",
					  bucket, key);
		else
			rc = fs_errno(err, errno, "rename into", bucket, key);
		fs_walk_release(&w);
		if (rc != IP_ENOTFOUND)
			return rc;
		/* The source must still be there, or retrying is moot. */
		if (fstatat(from_dir, from_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			return ip_error_set(err, IP_ENOTFOUND,
					    "source %s vanished", from_name);
	}
	return rc;
}

/*
 * The common end of every put: data_fd (or buf/len) becomes bucket/key.
 */
static int
fs_put_copy(struct fs_store *fs, const char *bucket, const char *key,
	    int src_fd, const void *buf, size_t len,
	    const struct objstore_put_opts *opts, struct ip_error *err)
{
	char tmp[96];
	int fd = -1;
	int rc;
	int e;

	rc = fs_tmp_create(fs, tmp, sizeof(tmp), &fd, err);
	if (rc != IP_OK)
		return rc;
	if (src_fd >= 0) {
		rc = fs_copy_fd(src_fd, fd, err);
	} else {
		e = util_write_all(fd, buf, len);
		if (e != 0)
			rc = ip_error_set(err, ip_errno_code(-e, IP_EIO),
					  "write temp: %s", strerror(-e));
	}
	if (rc != IP_OK)
		goto out;
	fs_set_type(fd, opts);
	if (fsync(fd) != 0) {
		rc = fs_errno(err, errno, "fsync", bucket, key);
		goto out;
	}
	e = close(fd);
	fd = -1;
	if (e != 0) {
		rc = fs_errno(err, errno, "close", bucket, key);
		goto out;
	}
	rc = fs_commit(fs, fs->tmp_fd, tmp, bucket, key, &e, err);
out:
	if (fd >= 0)
		close(fd);
	if (rc != IP_OK)
		unlinkat(fs->tmp_fd, tmp, 0);
	return rc;
}

static int
fs_put_buffer(struct objstore *s, const char *bucket, const char *key,
	      const void *data, size_t len,
	      const struct objstore_put_opts *opts, struct ip_error *err)
{
	int rc = fs_check_args(bucket, key, err);

	if (rc != IP_OK)
		return rc;
	if (data == NULL && len > 0)
		return ip_error_set(err, IP_EINVAL, "put: no data");
	if (opts != NULL && opts->content_type != NULL &&
	    !content_type_valid(opts->content_type))
		return ip_error_set(err, IP_EINVAL, "invalid content type");
	return fs_put_copy(fs_store(s), bucket, key, -1, data, len, opts, err);
}

static int
fs_put_file(struct objstore *s, const char *bucket, const char *key,
	    const char *src_path, const struct objstore_put_opts *opts,
	    struct ip_error *err)
{
	struct fs_store *fs = fs_store(s);
	struct stat sb;
	int fd = -1;
	int e;
	int rc = fs_check_args(bucket, key, err);

	if (rc != IP_OK)
		return rc;
	if (opts != NULL && opts->content_type != NULL &&
	    !content_type_valid(opts->content_type))
		return ip_error_set(err, IP_EINVAL, "invalid content type");
	fd = open(src_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = ip_error_set(err, errno == ENOENT ? IP_ENOTFOUND : IP_EIO,
				  "open %s: %s", src_path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = ip_error_set(err, IP_EINVAL, "%s is not a regular file",
				  src_path);
		goto out;
	}
	if (opts != NULL && opts->move) {
		/* The spool file was written by someone else: make its bytes
		 * durable before its name is. */
		fs_set_type(fd, opts);
		if (fsync(fd) != 0) {
			rc = fs_errno(err, errno, "fsync source", bucket, key);
			goto out;
		}
		rc = fs_commit(fs, AT_FDCWD, src_path, bucket, key, &e, err);
		if (rc == IP_OK || e != EXDEV)
			goto out;
		log_debug("objstore fs: %s is on another filesystem, copying",
			  src_path);
	}
	rc = fs_put_copy(fs, bucket, key, fd, NULL, 0, opts, err);
	if (rc == IP_OK && opts != NULL && opts->move)
		unlink(src_path); /* moved by copy: consume it all the same */
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
fs_open_object(struct fs_store *fs, const char *bucket, const char *key,
	       int *fd_out, struct objstore_stat *st, struct ip_error *err)
{
	struct fs_walk w;
	struct stat sb;
	int fd = -1;
	int rc;

	rc = fs_check_args(bucket, key, err);
	if (rc != IP_OK)
		return rc;
	rc = fs_walk(fs, bucket, key, false, false, &w, err);
	if (rc != IP_OK)
		return rc;
	/* O_NONBLOCK: a FIFO planted in a bucket must not hang us. */
	fd = openat(fs_walk_dir(&w), w.leaf,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		rc = fs_errno(err, errno, "open", bucket, key);
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		rc = fs_errno(err, errno, "stat", bucket, key);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = ip_error_set(err, IP_ENOTFOUND, "no such key");
		goto out;
	}
	if (fcntl(fd, F_SETFL, 0) != 0) {
		rc = fs_errno(err, errno, "fcntl", bucket, key);
		goto out;
	}
	if (st != NULL)
		fs_fill_stat(fd, &sb, st);
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	fs_walk_release(&w);
	return rc;
}

static int
fs_open_read(struct objstore *s, const char *bucket, const char *key,
	     int *fd_out, struct objstore_stat *st, struct ip_error *err)
{
	*fd_out = -1;
	return fs_open_object(fs_store(s), bucket, key, fd_out, st, err);
}

static int
fs_head(struct objstore *s, const char *bucket, const char *key,
	struct objstore_stat *st, struct ip_error *err)
{
	struct objstore_stat tmp;
	int fd = -1;
	int rc;

	rc = fs_open_object(fs_store(s), bucket, key, &fd,
			    st != NULL ? st : &tmp, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* After a delete, remove the directories it left empty, bottom-up. */
static void
fs_prune(struct fs_walk *w, const char *key)
{
	char seg[FS_SEG_MAX + 1];

	for (size_t i = w->depth - 1; i >= 1; i--) {
		memcpy(seg, key + w->seg_off[i], w->seg_len[i]);
		seg[w->seg_len[i]] = '\0';
		/* ENOTEMPTY is the normal stop; anything else also stops. */
		if (unlinkat(w->fds[i - 1], seg, AT_REMOVEDIR) != 0)
			return;
		if (fsync(w->fds[i - 1]) != 0)
			return;
	}
}

static int
fs_del(struct objstore *s, const char *bucket, const char *key,
       struct ip_error *err)
{
	struct fs_walk w;
	int rc = fs_check_args(bucket, key, err);

	if (rc != IP_OK)
		return rc;
	rc = fs_walk(fs_store(s), bucket, key, false, true, &w, err);
	if (rc == IP_ENOTFOUND) {
		/* Missing key is fine; a missing bucket is not. */
		int fd = -1;

		rc = fs_open_bucket(fs_store(s), bucket, &fd, err);
		if (rc == IP_OK)
			close(fd);
		return rc;
	}
	if (rc != IP_OK)
		return rc;
	if (unlinkat(fs_walk_dir(&w), w.leaf, 0) != 0) {
		/* Missing, or a directory (a prefix, not an object). */
		if (errno != ENOENT && errno != EISDIR && errno != EPERM)
			rc = fs_errno(err, errno, "delete", bucket, key);
		goto out;
	}
	if (fsync(fs_walk_dir(&w)) != 0) {
		rc = fs_errno(err, errno, "fsync dir", bucket, key);
		goto out;
	}
	fs_prune(&w, key);
out:
	fs_walk_release(&w);
	return rc;
}

/* One directory entry seen while listing. */
struct fs_entry {
	char *sort; /* name, plus '/' for a directory */
	bool dir;
};

struct fs_list {
	const char *prefix;
	const char *after; /* NULL: from the start */
	size_t want;
	size_t n;
	char **keys;
	int64_t *sizes;
	char path[RECORD_KEY_MAX + FS_SEG_MAX + 2]; /* "a/b/" of this dir */
	size_t path_len;
	struct ip_error *err;
};

static int
fs_entry_cmp(const void *a, const void *b)
{
	const struct fs_entry *x = a;
	const struct fs_entry *y = b;

	return strcmp(x->sort, y->sort);
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * May the subtree whose keys all start with `cand` ("a/b/") hold a key
 * to list?  It must agree with the prefix, and not lie wholly at or before
 * the token.
 */
static bool
fs_subtree_wanted(const struct fs_list *l, const char *cand)
{
	if (!starts_with(cand, l->prefix) && !starts_with(l->prefix, cand))
		return false;
	if (l->after != NULL && !starts_with(l->after, cand) &&
	    strcmp(cand, l->after) < 0)
		return false;
	return true;
}

static bool
fs_key_wanted(const struct fs_list *l, const char *key)
{
	if (!starts_with(key, l->prefix))
		return false;
	if (l->after != NULL && strcmp(key, l->after) <= 0)
		return false;
	return objstore_key_valid(key);
}

/* Read the entries of dir, keeping regular files and directories. */
static int
fs_read_entries(DIR *d, struct fs_entry **out, size_t *n_out,
		struct ip_error *err)
{
	struct fs_entry *ents = NULL;
	size_t n = 0;
	size_t cap = 0;
	struct dirent *de;
	int rc = IP_OK;

	for (;;) {
		struct stat sb;
		bool dir;
		size_t len;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = ip_error_set(err, IP_EIO, "readdir: %s",
						  strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			dir = true;
		} else if (de->d_type == DT_REG) {
			dir = false;
		} else if (de->d_type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) != 0)
				continue;
			if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
				continue;
			dir = S_ISDIR(sb.st_mode);
		} else {
			continue; /* symlinks, FIFOs, sockets: not objects */
		}
		if (n == cap) {
			size_t ncap = cap == 0 ? 64 : cap * 2;
			struct fs_entry *grown =
			    realloc(ents, ncap * sizeof(*ents));

			if (grown == NULL) {
				rc = ip_error_set(err, IP_ENOMEM, "list");
				break;
			}
			ents = grown;
			cap = ncap;
		}
		len = strlen(de->d_name);
		ents[n].sort = malloc(len + 2);
		if (ents[n].sort == NULL) {
			rc = ip_error_set(err, IP_ENOMEM, "list");
			break;
		}
		memcpy(ents[n].sort, de->d_name, len);
		ents[n].sort[len] = dir ? '/' : '\0';
		ents[n].sort[len + 1] = '\0';
		ents[n].dir = dir;
		n++;
	}
	if (rc != IP_OK) {
		for (size_t i = 0; i < n; i++)
			free(ents[i].sort);
		free(ents);
		return rc;
	}
	*out = ents;
	*n_out = n;
	return IP_OK;
}

/*
 * Depth-first over one directory (fd owned), in key byte order: entries
 * are sorted with a directory's name taken as "name/", which is exactly
 * where its keys fall among its siblings.
 */
static int
fs_list_dir(struct fs_list *l, int fd)
{
	struct fs_entry *ents = NULL;
	size_t n = 0;
	size_t base = l->path_len;
	DIR *d;
	int rc;

	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return ip_error_set(l->err, IP_EIO, "fdopendir: %s",
				    strerror(errno));
	}
	rc = fs_read_entries(d, &ents, &n, l->err);
	if (rc != IP_OK)
		goto out;
	if (n > 1)
		qsort(ents, n, sizeof(*ents), fs_entry_cmp);
	for (size_t i = 0; i < n && l->n < l->want; i++) {
		size_t len = strlen(ents[i].sort);
		struct stat sb;
		int sub;

		if (base + len >= RECORD_KEY_MAX)
			continue; /* cannot hold a valid key */
		memcpy(l->path + base, ents[i].sort, len + 1);
		l->path_len = base + len;
		if (ents[i].dir) {
			if (!fs_subtree_wanted(l, l->path))
				continue;
			/* Without the '/': a trailing slash would make the
			 * kernel follow a symlink despite O_NOFOLLOW. */
			l->path[l->path_len - 1] = '\0';
			sub = openat(dirfd(d), l->path + base,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
			l->path[l->path_len - 1] = '/';
			/* Gone since readdir: a concurrent delete. */
			if (sub < 0)
				continue;
			rc = fs_list_dir(l, sub);
			if (rc != IP_OK)
				goto out;
			continue;
		}
		if (!fs_key_wanted(l, l->path))
			continue;
		if (fstatat(dirfd(d), l->path + base, &sb,
			    AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		l->keys[l->n] = strdup(l->path);
		if (l->keys[l->n] == NULL) {
			rc = ip_error_set(l->err, IP_ENOMEM, "list");
			goto out;
		}
		l->sizes[l->n] = (int64_t)sb.st_size;
		l->n++;
	}
out:
	l->path_len = base;
	l->path[base] = '\0';
	for (size_t i = 0; i < n; i++)
		free(ents[i].sort);
	free(ents);
	closedir(d);
	return rc;
}

static int
fs_list(struct objstore *s, const char *bucket, const char *prefix,
	const char *token, size_t max, struct objstore_listing *out,
	struct ip_error *err)
{
	struct fs_list *l = NULL;
	int fd = -1;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!objstore_bucket_valid(bucket))
		return ip_error_set(err, IP_EINVAL, "invalid bucket name");
	if (max < 1 || max > FS_LIST_MAX)
		return ip_error_set(err, IP_EINVAL, "list: max must be 1..%d",
				    FS_LIST_MAX);
	if (prefix == NULL)
		prefix = "";
	if (strnlen(prefix, RECORD_KEY_MAX) >= RECORD_KEY_MAX)
		return ip_error_set(err, IP_EINVAL, "list: prefix too long");
	if (token != NULL && token[0] == '\0')
		token = NULL;
	if (token != NULL && !objstore_key_valid(token))
		return ip_error_set(err, IP_EINVAL, "list: invalid token");
	rc = fs_open_bucket(fs_store(s), bucket, &fd, err);
	if (rc != IP_OK)
		return rc;
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		close(fd);
		return ip_error_set(err, IP_ENOMEM, "list");
	}
	l->prefix = prefix;
	l->after = token;
	l->want = max + 1; /* one more tells whether a next page exists */
	l->err = err;
	l->keys = calloc(l->want, sizeof(*l->keys));
	l->sizes = calloc(l->want, sizeof(*l->sizes));
	if (l->keys == NULL || l->sizes == NULL) {
		close(fd);
		rc = ip_error_set(err, IP_ENOMEM, "list");
		goto out;
	}
	rc = fs_list_dir(l, fd);
	if (rc != IP_OK)
		goto out;
	if (l->n > max) {
		free(l->keys[max]);
		l->n = max;
		util_strlcpy(out->next_token, l->keys[max - 1],
			     sizeof(out->next_token));
	}
	out->n = l->n;
	out->keys = l->keys;
	out->sizes = l->sizes;
	l->keys = NULL;
	l->sizes = NULL;
out:
	if (l->keys != NULL)
		for (size_t i = 0; i < l->n; i++)
			free(l->keys[i]);
	free(l->keys);
	free(l->sizes);
	free(l);
	return rc;
}

static int
fs_ensure_bucket(struct objstore *s, const char *bucket, struct ip_error *err)
{
	struct fs_store *fs = fs_store(s);
	struct stat sb;

	if (!objstore_bucket_valid(bucket))
		return ip_error_set(err, IP_EINVAL, "invalid bucket name: %s",
				    bucket);
	if (mkdirat(fs->root_fd, bucket, 0755) == 0) {
		if (fsync(fs->root_fd) != 0)
			return fs_errno(err, errno, "fsync root", bucket, NULL);
		return IP_OK;
	}
	if (errno != EEXIST)
		return fs_errno(err, errno, "create bucket", bucket, NULL);
	if (fstatat(fs->root_fd, bucket, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return fs_errno(err, errno, "stat bucket", bucket, NULL);
	if (!S_ISDIR(sb.st_mode))
		return ip_error_set(err, IP_EEXIST,
				    "bucket %s exists and is not a directory",
				    bucket);
	return IP_OK;
}

static int
fs_ping(struct objstore *s, struct ip_error *err)
{
	struct fs_store *fs = fs_store(s);
	struct stat sb;

	/* The root must still be linked and its temp dir writable. */
	if (fstat(fs->root_fd, &sb) != 0 || sb.st_nlink == 0)
		return ip_error_set(err, IP_EBACKEND, "objstore root %s gone",
				    fs->root);
	if (faccessat(fs->tmp_fd, ".", W_OK, 0) != 0)
		return ip_error_set(err, IP_EBACKEND,
				    "objstore temp dir not writable: %s",
				    strerror(errno));
	return IP_OK;
}

static void
fs_close(struct objstore *s)
{
	struct fs_store *fs = fs_store(s);

	if (fs->tmp_fd >= 0)
		close(fs->tmp_fd);
	if (fs->root_fd >= 0)
		close(fs->root_fd);
	free(fs);
}

/*
 * Temp files older than FS_STALE_TMP_S are what a crash mid-put left
 * behind (a live put finishes in far less); other processes sharing the
 * root keep their young ones.
 */
static void
fs_sweep_tmp(struct fs_store *fs)
{
	int fd = openat(fs->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t limit = time(NULL) - FS_STALE_TMP_S;
	struct dirent *de;
	int removed = 0;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(fs->tmp_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) !=
			0 ||
		    !S_ISREG(sb.st_mode) || sb.st_mtime > limit)
			continue;
		if (unlinkat(fs->tmp_fd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed > 0)
		log_info("objstore fs: removed %d stale temp files", removed);
}

static int
fs_open_root(const char *root, struct objstore **out, struct ip_error *err)
{
	struct fs_store *fs = NULL;
	int rc = IP_OK;
	int e;

	*out = NULL;
	if (root == NULL || root[0] == '\0' || strlen(root) >= sizeof(fs->root))
		return ip_error_set(err, IP_EINVAL, "objstore fs: bad root");
	fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		return ip_error_set(err, IP_ENOMEM, "objstore fs");
	fs->base.ops = &fs_ops;
	fs->root_fd = -1;
	fs->tmp_fd = -1;
	atomic_init(&fs->seq, 0);
	util_strlcpy(fs->root, root, sizeof(fs->root));
	e = util_mkdir_p(root);
	if (e != 0) {
		rc = ip_error_set(err, IP_EIO, "objstore fs: mkdir %s: %s",
				  root, strerror(-e));
		goto out;
	}
	fs->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->root_fd < 0) {
		rc = ip_error_set(err, IP_EIO, "objstore fs: open %s: %s", root,
				  strerror(errno));
		goto out;
	}
	if (mkdirat(fs->root_fd, FS_TMP_DIR, 0700) == 0)
		fsync(fs->root_fd);
	else if (errno != EEXIST)
		goto tmp_fail;
	fs->tmp_fd = openat(fs->root_fd, FS_TMP_DIR,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fs->tmp_fd < 0)
		goto tmp_fail;
	fs_sweep_tmp(fs);
	*out = &fs->base;
	fs = NULL;
	goto out;
tmp_fail:
	rc = ip_error_set(err, IP_EIO, "objstore fs: %s/%s: %s", root,
			  FS_TMP_DIR, strerror(errno));
out:
	if (fs != NULL)
		fs_close(&fs->base);
	return rc;
}

/*
 * "fs" roots the store in DATA/buckets; "fs:///abs/path" roots it there.
 * Nothing else is an fs URL (no host, no relative path, no query).
 */
int
objstore_fs_open(const struct config *cfg, struct objstore **out,
		 struct ip_error *err)
{
	static const struct backend_url_local forms = {
	    .module = "objstore",
	    .name = "fs",
	    .file = "buckets",
	    .example = "path",
	    .path_hint = "fs:///srv/imgpipe",
	};
	char buf[CONFIG_PATH_MAX + 16];
	const char *root;
	int rc;

	*out = NULL;
	rc = backend_url_local(&forms, cfg->objstore, cfg->data_dir, buf,
			       sizeof(buf), &root, err);
	if (rc != IP_OK)
		return rc;
	return fs_open_root(root, out, err);
}

static const struct objstore_ops fs_ops = {
    .name = "fs",
    .close = fs_close,
    .ping = fs_ping,
    .ensure_bucket = fs_ensure_bucket,
    .put_file = fs_put_file,
    .put_buffer = fs_put_buffer,
    .open_read = fs_open_read,
    .head = fs_head,
    .del = fs_del,
    .list = fs_list,
};
