/*
 * contract.c - see contract.h.
 */
#include "contract.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"

void
contract_tmpdir(char *out, size_t size)
{
	const char *base = getenv("TMPDIR");
	int n;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	n = snprintf(out, size, "%s/imgpipe-contract-XXXXXX", base);
	assert_true(n > 0 && (size_t)n < size);
	assert_non_null(mkdtemp(out));
}

static int
rmrf_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
contract_rmrf(const char *path)
{
	nftw(path, rmrf_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *
env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

void
contract_config(struct config *cfg, const char *dir)
{
	const char *prefix =
	    env_or("IMGPIPE_TEST_BUCKET_PREFIX", "imgpipe-test");

	config_defaults(cfg);
	util_strlcpy(cfg->data_dir, dir, sizeof(cfg->data_dir));
	util_strlcpy(cfg->objstore, env_or("IMGPIPE_TEST_OBJSTORE", "fs"),
		     sizeof(cfg->objstore));
	util_strlcpy(cfg->table, env_or("IMGPIPE_TEST_TABLE", "sqlite"),
		     sizeof(cfg->table));
	util_strlcpy(cfg->queue, env_or("IMGPIPE_TEST_QUEUE", "sqlite"),
		     sizeof(cfg->queue));
	assert_true((size_t)snprintf(cfg->input_bucket,
				     sizeof(cfg->input_bucket), "%s-in",
				     prefix) < sizeof(cfg->input_bucket));
	assert_true((size_t)snprintf(cfg->output_bucket,
				     sizeof(cfg->output_bucket), "%s-out",
				     prefix) < sizeof(cfg->output_bucket));
}

void
contract_tag(char *out, size_t size)
{
	unsigned char rnd[6];

	assert_true(size >= sizeof(rnd) * 2 + 1);
	assert_int_equal(getrandom(rnd, sizeof(rnd), 0), sizeof(rnd));
	util_hex(rnd, sizeof(rnd), out);
}

void
contract_fill(unsigned char *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

void
contract_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(util_write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

unsigned char *
contract_read_fd(int fd, size_t *len)
{
	size_t cap = 4096;
	size_t n = 0;
	unsigned char *buf = malloc(cap);

	assert_non_null(buf);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}
