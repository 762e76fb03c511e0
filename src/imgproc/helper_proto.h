/*
 * helper_proto.h - the frames between the host and an image helper
 * (imgproc_helper.c on the host, helper_child.c in the helper).
 *
 * A stream socket (socketpair) carries frames: a fixed header (type,
 * length) then length bytes.  A JOB frame carries the original's file
 * descriptor (SCM_RIGHTS) on its header.  Both ends are the same binary,
 * so structs travel as bytes: struct config (HELLO), the variant specs
 * (JOB), struct imgproc_result (RESULT, its data pointers meaningless),
 * then one DATA frame per variant with the encoded bytes.
 *
 *   host                          helper
 *   HELLO (struct config)  ---->  warm up, confine
 *                          <----  READY (int rc + struct ip_error)
 *   JOB (specs) + fd       ---->  imgproc_process
 *                          <----  RESULT (rc, ip_error, imgproc_result)
 *                          <----  DATA x result.n (only when rc == 0)
 *
 * Thread-safety: each function works on the socket it is given; a socket
 * is used by one thread at a time (the pool hands a helper to one job).
 */
#ifndef IMGPIPE_HELPER_PROTO_H
#define IMGPIPE_HELPER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/record.h"
#include "imgproc/imgproc.h"

/* The helper's end of the socket pair, as the helper sees it. */
#define HELPER_FD 3

enum helper_msg {
	HELPER_HELLO = 1,
	HELPER_READY = 2,
	HELPER_JOB = 3,
	HELPER_RESULT = 4,
	HELPER_DATA = 5,
	HELPER_PROBE = 6, /* a helper_job (no specs) + fd -> RESULT (info) */
};

struct helper_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t len;
};

struct helper_job {
	uint32_t n_specs;
	uint32_t fault; /* enum helper_fault: test builds only */
	uint32_t threads; /* libvips threads for this job (imgproc_threads) */
	/* The host thread's log context, so the helper's lines about this
	 * job (a libvips warning) name the request and the image. */
	char request_id[72]; /* UTIL_REQUEST_ID_MAX + 1 fits */
	char image_id[64];
	struct variant_spec specs[RECORD_VARIANTS_MAX];
};

/* READY and RESULT. */
struct helper_reply {
	int32_t rc;
	struct ip_error err;
	struct imgproc_result res;
};

/* Send a frame: header (with fd as SCM_RIGHTS when fd >= 0) and body.
 * Returns 0 or -errno (-EPIPE when the peer is gone). */
int helper_send(int sock, uint32_t type, const void *body, size_t len, int fd);

/* Receive a frame header, and the descriptor riding on it when fd is not
 * NULL (-1 when none came).  deadline_ms: util_mono_ms() time after which
 * -ETIMEDOUT is returned; 0 = wait for ever.  -EPIPE on end of stream. */
int helper_recv_hdr(int sock, struct helper_hdr *h, int *fd,
		    int64_t deadline_ms);

/* Receive exactly len body bytes (same deadline and returns). */
int helper_recv_body(int sock, void *buf, size_t len, int64_t deadline_ms);

#endif
