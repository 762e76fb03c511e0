/*
 * util.h - small helpers shared by every module: time, ids, hex, files.
 *
 * Thread-safety: all reentrant.
 */
#ifndef IMGPIPE_UTIL_H
#define IMGPIPE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock in milliseconds since the epoch; monotonic clock in ms. */
int64_t util_now_ms(void);
int64_t util_mono_ms(void);
/* Microseconds on the monotonic clock (durations observed by metrics). */
int64_t util_mono_us(void);

/* The cores this process may run on (its CPU affinity: taskset, a
 * container's cpuset), at least 1. */
int util_cores(void);

/* glibc's allocator as imgpipe processes run it (main.c calls this
 * first): 2 arenas (few address-space reservations, which RLIMIT_AS
 * counts); for a long-lived process (!image_work) a fixed 256 KiB mmap
 * threshold, for a low peak RSS; for image work (a helper, the Lambda
 * function) freed memory stays in the heap for the next buffer (no trim
 * below 1 GiB; buffers of 4 MiB and more mapped) and the process gives it
 * back when idle (malloc_trim).  MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_ and
 * MALLOC_TRIM_THRESHOLD_ in the environment win.  Call before any thread
 * starts. */
void util_tune_malloc(bool image_work);

/* RFC 3339 UTC with milliseconds: "2026-01-01T00:00:00.000Z".
 * buf needs 25 bytes.  Returns buf. */
char *util_rfc3339(int64_t ms, char *buf, size_t len);
/* A buffer that holds any util_rfc3339 text. */
#define UTIL_RFC3339_SIZE 40
/* Parse what util_rfc3339 writes (also without fraction); -1 on error. */
int64_t util_rfc3339_parse(const char *s);
/* RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), buf >= 30. */
char *util_http_date(int64_t ms, char *buf, size_t len);

/* A new image id: 26 characters of Crockford base32 (a ULID: 48-bit ms
 * time + 80 random bits), so ids sort by creation time.  buf >= 27. */
void util_new_id(char *buf, size_t len);
/* The id util_new_id would give with time ms and these 80 "random" bits
 * (a deterministic id when they come from a hash).  buf >= 27. */
void util_make_id(int64_t ms, const unsigned char rnd[10], char *buf,
		  size_t len);
/* True if s has the exact shape util_new_id produces. */
bool util_id_valid(const char *s);
/* A request id a client may choose (X-Request-Id): 1 to
 * UTIL_REQUEST_ID_MAX bytes of [A-Za-z0-9._:-], so it is safe in a log
 * line, a header and a record as it is. */
#define UTIL_REQUEST_ID_MAX 64
bool util_request_id_ok(const char *s);

/* When process pid started, in clock ticks since boot (field 22 of
 * /proc/PID/stat), or -1 if there is no such process.  With the pid, it
 * names a process for good: a reused pid has another start time. */
long long util_proc_start(long pid);
/* Its parent's pid and its start time as above (fields 4 and 22):
 * 0, or -1 if there is no such process. */
int util_proc_stat(long pid, long *ppid, long long *start);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* A SHA-256 in lower-case hex: 64 digits and the NUL. */
#define SHA256_HEX_SIZE 65
/* The SHA-256 of n bytes, in lower-case hex, into out. */
void util_sha256_hex(const void *data, size_t n, char out[SHA256_HEX_SIZE]);

/* Value of the hex digit c (either case), or -1. */
int util_hex_value(int c);

/*
 * Decode the character at s[*i] of the percent-encoded s[0, n) and move *i
 * past it: "%XX" (hex digits of either case) is that byte, '+' a space if
 * plus_space, any other byte itself.  Returns the byte (0..255), or -1 with
 * *i unchanged for a '%' without two hex digits after it within n.
 */
int util_pct_next(const char *s, size_t n, size_t *i, bool plus_space);

/*
 * Percent-decode s[0, n) ('+' is itself) into out, NUL-terminated.  false
 * on a malformed escape, a control byte (below 0x20 or DEL), with
 * ascii_only any byte above DEL, or more than size - 1 bytes.
 */
bool util_pct_decode(const char *s, size_t n, bool ascii_only, char *out,
		     size_t size);

/* strlcpy semantics: always terminates, returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/* Append word to the NUL-terminated list in buf (size > 0), separated by
 * one space; truncates rather than overflow. */
void util_append_word(char *buf, size_t size, const char *word);

/* Write all of buf to fd (retrying on EINTR/short writes). 0 or -errno. */
int util_write_all(int fd, const void *buf, size_t len);

/* fsync the directory that contains path (or path itself if a dir). */
int util_fsync_dir(const char *dir);

/* rm -rf path (a file or a directory tree, symlinks not followed).
 * 0 or -errno (the first failure; what could be removed is gone). */
int util_rm_tree(const char *path);

/* mkdir -p with mode 0755. 0 or -errno. */
int util_mkdir_p(const char *path);

/* The delay before try n+1 after n failed ones (n >= 1): base_ms *
 * 2^(n-1), at most max_ms, with +-20% jitter so that the retries of a
 * burst do not arrive together. */
int64_t util_backoff_ms(int64_t base_ms, int64_t max_ms, int attempt);

/* Parse a size such as "50M", "1.5GiB", "1024", "64k" into bytes.  0 or -1. */
int util_parse_size(const char *s, int64_t *out);

#endif
