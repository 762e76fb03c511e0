/*
 * diskspace.c - the free space of the data directory and the memory of
 * a recent storage-full error (see diskspace.h).  Any thread.
 */
#include "core/diskspace.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/util.h"

#define MIB (1024 * 1024)

void
diskspace_init(struct diskspace *d, const char *dir, int64_t min_free)
{
	util_strlcpy(d->dir, dir, sizeof(d->dir));
	d->min_free = min_free;
	atomic_init(&d->checked_ms, INT64_MIN);
	atomic_init(&d->free_bytes, -1);
	atomic_init(&d->full_at_ms, INT64_MIN);
}

/* 0: no fault; 1: writes fail; 2: writes fail and no space is free. */
static int
test_fault(void)
{
#if IMGPIPE_TEST_HOOKS
	const char *flag = getenv("IMGPIPE_TEST_STORAGE_FULL");
	char mode[8] = "";
	int fd;

	if (flag == NULL || flag[0] == '\0')
		return 0;
	fd = open(flag, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (read(fd, mode, sizeof(mode) - 1) < 0)
		mode[0] = '\0';
	close(fd);
	return strncmp(mode, "writes", 6) == 0 ? 1 : 2;
#else
	return 0;
#endif
}

bool
diskspace_test_full(void)
{
	return test_fault() == 2;
}

bool
diskspace_test_write_fails(int fd)
{
#if IMGPIPE_TEST_HOOKS
	struct stat st;

	/* getenv first: no system call when the hook is not in use. */
	if (getenv("IMGPIPE_TEST_STORAGE_FULL") == NULL)
		return false;
	/* A file can meet a full disk, a socket or a pipe cannot. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	return test_fault() != 0;
#else
	(void)fd;
	return false;
#endif
}

/* Free bytes for an unprivileged writer, cached DISKSPACE_CACHE_MS. */
static int64_t
free_bytes(struct diskspace *d, int64_t now)
{
	struct statvfs fs;
	int64_t n;
	int64_t checked = atomic_load(&d->checked_ms);

	if (checked != INT64_MIN && now - checked < DISKSPACE_CACHE_MS)
		return atomic_load(&d->free_bytes);
	if (diskspace_test_full())
		n = 0;
	else if (statvfs(d->dir, &fs) == 0)
		n = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
	else
		n = -1; /* unknown: the writes will tell */
	atomic_store(&d->free_bytes, n);
	atomic_store(&d->checked_ms, now);
	return n;
}

int
diskspace_check(struct diskspace *d, struct ip_error *err)
{
	int64_t now = util_mono_ms();
	int64_t full_at = atomic_load(&d->full_at_ms);
	int64_t n;

	if (full_at != INT64_MIN && now - full_at < DISKSPACE_HOLD_MS)
		return ip_error_set(err, IP_ENOSPACE,
				    "storage full: a write failed %lld ms ago "
				    "(no space, over quota or read-only)",
				    (long long)(now - full_at));
	if (d->min_free <= 0 && !diskspace_test_full())
		return IP_OK;
	n = free_bytes(d, now);
	if (n >= 0 && n < d->min_free)
		return ip_error_set(err, IP_ENOSPACE,
				    "data dir %s: %lld MiB free, below "
				    "limits.min_free_disk (%lld MiB)",
				    d->dir, (long long)(n / MIB),
				    (long long)(d->min_free / MIB));
	if (n == 0)
		return ip_error_set(err, IP_ENOSPACE,
				    "data dir %s: no space left", d->dir);
	return IP_OK;
}

void
diskspace_note_full(struct diskspace *d)
{
	atomic_store(&d->full_at_ms, util_mono_ms());
	atomic_store(&d->checked_ms, INT64_MIN);
}
