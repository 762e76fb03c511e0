/*
 * contract.h - helpers shared by the contract tests (tests/contract/).
 *
 * Each contract executable runs one interface's tests against whatever
 * backend its environment names (IMGPIPE_TEST_OBJSTORE, IMGPIPE_TEST_TABLE,
 * IMGPIPE_TEST_QUEUE), in a fresh temporary data directory, with names
 * unique to the run so that shared servers (S3, DynamoDB, Redis) can run
 * the same executables.  Single-threaded helpers.
 */
#ifndef IMGPIPE_TESTS_CONTRACT_H
#define IMGPIPE_TESTS_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define CONTRACT_PATH_MAX 256 /* temp dirs; TMPDIR must be short */

/* mkdtemp under $TMPDIR or /tmp; fails the test on error. */
void contract_tmpdir(char *out, size_t size);

/* rm -rf, without following symlinks; ignores a missing path. */
void contract_rmrf(const char *path);

/* config_defaults(), data_dir = dir, backends from the environment
 * (defaults fs/sqlite/sqlite), buckets "<prefix>-in" / "<prefix>-out" with
 * prefix IMGPIPE_TEST_BUCKET_PREFIX or "imgpipe-test". */
void contract_config(struct config *cfg, const char *dir);

/* A short random lower-case hex tag, e.g. for per-test key prefixes. */
void contract_tag(char *out, size_t size);

/* Fill buf with pseudo-random bytes from seed (reproducible). */
void contract_fill(unsigned char *buf, size_t len, uint32_t seed);

/* Write len bytes to a new file at path; fails the test on error. */
void contract_write_file(const char *path, const void *data, size_t len);

/* Read all of fd from offset 0 into a malloc'd buffer (*len set). */
unsigned char *contract_read_fd(int fd, size_t *len);

#endif
