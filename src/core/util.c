/*
 * util.c - see util.h.
 */
#include "core/util.h"
#include "core/diskspace.h"

#include <ctype.h>
#include <glib.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
util_cores(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/*
 * glibc's defaults suit imgpipe badly: every thread (HTTP connections,
 * workers, libvips) gets its own arena, and the mmap threshold grows after
 * the first large frees, so decode buffers end up in arenas that never
 * shrink.  Measured over the corpus with 4 clients and 2 workers: peak RSS
 * 491 MB by default, 206 MB with 2 arenas, 164 MB with 2 arenas and a
 * fixed 256 KiB mmap threshold (jemalloc: 243 MB).
 *
 * Image work wants something else: libvips allocates and zeroes (calloc)
 * a region buffer of a few hundred KiB for every strip of every stage,
 * and frees it soon after.  Each one mmapped, or trimmed off the top of
 * the heap once freed, is faulted in again page by page: on a virtualised
 * MMU those faults were a third of a photo's CPU time (112k faults for 4
 * photos x 4 passes against 22k; 288 against 175 ms per photo,
 * bench/imgproc_bench).  So an image process keeps what it freed in its
 * heap (no trim below 1 GiB) and gives it back when idle (malloc_trim,
 * helper_child.c); only buffers of 4 MiB and more (a progressive JPEG's
 * coefficients, a decoded image) are mapped, and unmapped when freed, in
 * transparent huge pages (GLIBC_TUNABLES, imgproc_helper.c), so that a
 * job's peak does not stay with the helper.  Over the corpus, one job at
 * a time: 4 MiB against 32 MiB (every buffer in the heap) was as fast
 * and peaked at 124 against 156 MB; 1 MiB was 8% slower.
 */
void
util_tune_malloc(bool image_work)
{
	if (getenv("MALLOC_ARENA_MAX") == NULL)
		mallopt(M_ARENA_MAX, 2);
	if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL)
		mallopt(M_MMAP_THRESHOLD,
			image_work ? 4 * 1024 * 1024 : 256 * 1024);
	if (image_work && getenv("MALLOC_TRIM_THRESHOLD_") == NULL)
		mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
}

int64_t
util_mono_ms(void)
{
	return util_mono_us() / 1000;
}

int64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *
util_rfc3339(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

int64_t
util_rfc3339_parse(const char *s)
{
	struct tm tm;
	int ms = 0;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.') {
		int digits = 0;

		s++;
		while (isdigit((unsigned char)*s)) {
			if (digits < 3) {
				ms = ms * 10 + (*s - '0');
				digits++;
			}
			s++;
		}
		while (digits++ < 3)
			ms *= 10;
	}
	if (strcmp(s, "Z") != 0)
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

char *
util_http_date(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return buf;
}

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void
util_make_id(int64_t ms, const unsigned char rnd[10], char *buf, size_t len)
{
	uint64_t t = (uint64_t)ms;
	unsigned char bytes[16];
	int bit = 0;

	if (len < 27) {
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	for (int i = 0; i < 6; i++)
		bytes[i] = (unsigned char)(t >> (40 - 8 * i));
	memcpy(bytes + 6, rnd, 10);
	/* 128 bits -> 26 chars; the first char carries the top 3 bits. */
	for (int i = 0; i < 26; i++) {
		int nbits = i == 0 ? 3 : 5;
		unsigned v = 0;

		for (int b = 0; b < nbits; b++, bit++)
			v = (v << 1) | ((bytes[bit / 8] >> (7 - bit % 8)) & 1u);
		buf[i] = crockford[v];
	}
	buf[26] = '\0';
}

void
util_new_id(char *buf, size_t len)
{
	unsigned char rnd[10];
	int64_t t = util_now_ms();

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* getrandom on Linux >= 3.17 does not fail for 10 bytes;
		 * fall back to time and address bits rather than abort. */
		uint64_t x = (uint64_t)t ^ (uint64_t)(uintptr_t)buf;

		for (size_t i = 0; i < sizeof(rnd); i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			rnd[i] = (unsigned char)(x >> 56);
		}
	}
	util_make_id(t, rnd, buf, len);
}

bool
util_id_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= 26 || strchr(crockford, s[i]) == NULL)
			return false;
	return i == 26 && s[0] <= '7';
}

bool
util_request_id_ok(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (i >= UTIL_REQUEST_ID_MAX ||
		    (!alnum && strchr("._:-", c) == NULL))
			return false;
	}
	return i > 0;
}

void
util_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int
util_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
util_pct_next(const char *s, size_t n, size_t *i, bool plus_space)
{
	int c = (unsigned char)s[*i];
	int hi;
	int lo;

	if (c == '+' && plus_space) {
		(*i)++;
		return ' ';
	}
	if (c != '%') {
		(*i)++;
		return c;
	}
	if (*i + 2 >= n)
		return -1;
	hi = util_hex_value(s[*i + 1]);
	lo = util_hex_value(s[*i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	*i += 3;
	return hi * 16 + lo;
}

bool
util_pct_decode(const char *s, size_t n, bool ascii_only, char *out,
		size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		int c = util_pct_next(s, n, &i, false);

		if (c < 0x20 || c == 0x7f || (ascii_only && c > 0x7f) ||
		    o + 1 >= size)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

size_t
util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

void
util_append_word(char *buf, size_t size, const char *word)
{
	size_t n = strnlen(buf, size);

	if (n > 0 && n + 1 < size)
		buf[n++] = ' ';
	if (n < size)
		util_strlcpy(buf + n, word, size - n);
}

int
util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	if (diskspace_test_write_fails(fd))
		return -ENOSPC; /* test builds only: a simulated full disk */
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int
util_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
util_mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = i == n ? '\0' : '/';
	}
	return 0;
}

int64_t
util_backoff_ms(int64_t base_ms, int64_t max_ms, int attempt)
{
	int64_t d = base_ms;
	uint32_t r = 0;

	for (int i = 1; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = 0;
	return d + (d * (int64_t)(r % 41) - d * 20) / 100;
}

int
util_parse_size(const char *s, int64_t *out)
{
	char *end;
	double v;
	int64_t mult = 1;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0)
		return -1;
	while (*end == ' ')
		end++;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mult = 1024;
		break;
	case 'M':
		mult = 1024 * 1024;
		break;
	case 'G':
		mult = 1024LL * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*end != '\0') {
		end++;
		if (strcasecmp(end, "") != 0 && strcasecmp(end, "B") != 0 &&
		    strcasecmp(end, "iB") != 0)
			return -1;
	}
	if (v * (double)mult > 9.0e18)
		return -1;
	*out = (int64_t)(v * (double)mult);
	return 0;
}

static int
util_rm_entry(const char *path, const struct stat *st, int flag,
	      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
util_rm_tree(const char *path)
{
	if (nftw(path, util_rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return errno != 0 ? -errno : -EIO;
	return 0;
}

int
util_proc_stat(long pid, long *ppid, long long *start)
{
	char path[64];
	char buf[1024];
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold spaces and ')', so
	 * count fields from the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %*c %ld", ppid) != 1)
		return -1;
	for (int field = 2; p != NULL && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%lld", start) != 1)
		return -1;
	return 0;
}

long long
util_proc_start(long pid)
{
	long ppid;
	long long start;

	return util_proc_stat(pid, &ppid, &start) == 0 ? start : -1;
}

void
util_sha256_hex(const void *data, size_t n, char out[SHA256_HEX_SIZE])
{
	gchar *hex =
	    g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, (gsize)n);

	util_strlcpy(out, hex != NULL ? hex : "", SHA256_HEX_SIZE);
	g_free(hex);
}
