/*
 * diskspace.h - is there room to write?  The free space of the data
 * directory against limits.min_free_disk, and the memory of a recent
 * "storage full" error (ENOSPC, EDQUOT, EROFS, SQLITE_FULL), for /readyz,
 * the upload path and the workers.
 *
 * One struct diskspace per process (in struct app).  statvfs is asked at
 * most once per DISKSPACE_CACHE_MS; every field is atomic, so any thread
 * may check or note at once (two threads may both ask statvfs: harmless).
 *
 * Test builds (IMGPIPE_TEST_HOOKS) honour IMGPIPE_TEST_STORAGE_FULL=FILE:
 * while FILE exists, the disk is full: util_write_all fails with ENOSPC,
 * as on a real full disk, and diskspace_check reports no free space -
 * unless FILE holds "writes", which makes only the writes fail (a quota,
 * a file system that statvfs does not see as full).
 */
#ifndef IMGPIPE_DISKSPACE_H
#define IMGPIPE_DISKSPACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

#define DISKSPACE_CACHE_MS 1000
/* After a storage-full error, not ready for this long even if statvfs
 * shows room (a quota, a read-only remount, a file system that reserves
 * blocks): the next write is as likely to fail. */
#define DISKSPACE_HOLD_MS 5000
/* Retry-After of a 507, in seconds. */
#define DISKSPACE_RETRY_AFTER_S 10

struct diskspace {
	char dir[CONFIG_PATH_MAX];
	int64_t min_free; /* bytes; 0 = no free-space check */
	_Atomic int64_t checked_ms; /* monotonic time of the last statvfs */
	_Atomic int64_t free_bytes; /* its answer (-1: statvfs failed) */
	_Atomic int64_t full_at_ms; /* monotonic time of the last full error */
};

/* Watch dir (copied) against min_free bytes. */
void diskspace_init(struct diskspace *d, const char *dir, int64_t min_free);

/* IP_OK when writes may proceed; IP_ENOSPACE with the reason ("data dir
 * X: 12 MiB free, below limits.min_free_disk (64 MiB)", or the recent
 * error) when not.  Cheap: statvfs at most once per DISKSPACE_CACHE_MS. */
int diskspace_check(struct diskspace *d, struct ip_error *err);

/* A write failed with IP_ENOSPACE: not ready for DISKSPACE_HOLD_MS, and
 * the free space is asked again on the next check. */
void diskspace_note_full(struct diskspace *d);

/* Test builds: true while the IMGPIPE_TEST_STORAGE_FULL file exists and
 * does not say "writes" (no space free).  Always false in other builds. */
bool diskspace_test_full(void);

/* Test builds: true while the IMGPIPE_TEST_STORAGE_FULL file exists and
 * fd is a regular file (its writes fail with ENOSPC).  Always false in
 * other builds. */
bool diskspace_test_write_fails(int fd);

#endif
