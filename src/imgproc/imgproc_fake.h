/*
 * imgproc_fake.h - an image processor that decodes nothing, for tests of
 * the plumbing around it (worker pool, queues, the function) where libvips
 * would only add time and, under ThreadSanitizer, false reports.  Compiled
 * into tests only (tests/meson.build), never into the product binary.
 *
 * Any input is "an image": probe and process read its bytes and report a
 * 100x80 JPEG; each variant is a few bytes derived from the spec and a
 * hash of the input, so the same input always gives the same variants.
 * The input may ask for behaviour by its first bytes:
 *   "FAIL ..."      process fails with IP_EUNPROCESSABLE (a permanent
 *                   error: the function marks the record `failed`)
 *   "SPIN n ..."    process first burns n rounds of hashing (CPU only,
 *                   no sleep), so jobs overlap on several threads
 *
 * Thread-safety: stateless apart from an atomic call counter; any number
 * of threads may call process and probe at once.
 */
#ifndef IMGPIPE_IMGPROC_FAKE_H
#define IMGPIPE_IMGPROC_FAKE_H

#include <stdint.h>

#include "core/error.h"
#include "imgproc/imgproc.h"

/* Build a fake processor (free with imgproc_close).  IP_ENOMEM. */
int imgproc_fake_open(struct imgproc **out, struct ip_error *err);

/* How many times process has been called on p (any outcome). */
int64_t imgproc_fake_calls(struct imgproc *p);

#endif
