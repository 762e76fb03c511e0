/*
 * vipsmsg.h - per-job capture of what libvips and its decoders say, so
 * every error and warning in a record is that job's own (src/imgproc/
 * only).
 *
 * libvips keeps one error buffer per process (vips_error appends to it
 * from any thread) and sends decoder warnings (libpng, libwebp, libheif,
 * libtiff...) to GLib's log in the "VIPS" domain.  A job installs a
 * struct vipsmsg on its own thread for its whole run; while it is
 * installed, on that thread:
 * - vips_error() lines go to the capture's `errors`, not to the shared
 *   buffer (vipsmsg.c interposes vips_verror, which libvips calls through
 *   its PLT);
 * - "VIPS" warnings and messages go to the capture's `warnings`.
 * Where jobs share a process (in-process workers), the decode runs on
 * the job's thread (vipsutil_pull), so a decoder's messages are said on
 * the thread whose capture is installed; lines from libvips' own worker
 * threads (the variants' encoders) reach no capture: they go to the
 * shared buffer and the log as before, and a record never reads them.
 * A process that runs one job at a time (an image helper, the Lambda
 * function) says so with vipsmsg_exclusive: its job's capture then also
 * takes the lines of every other thread, and the decode may run on
 * libvips' worker threads (imgproc_vips.c).
 *
 * Thread-safety: a capture belongs to one thread; the install is
 * thread-local.  vipsmsg_init is called once per process (pthread_once
 * in imgproc_vips.c) after VIPS_INIT.
 */
#ifndef IMGPIPE_VIPSMSG_H
#define IMGPIPE_VIPSMSG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/record.h"

#define VIPSMSG_MAX RECORD_WARNINGS_MAX /* lines kept of each kind */
#define VIPSMSG_LEN RECORD_WARNING_MAX /* bytes per line with the NUL */

struct vipsmsg {
	int n_errors;
	char errors[VIPSMSG_MAX][VIPSMSG_LEN];
	int n_warnings;
	char warnings[VIPSMSG_MAX][VIPSMSG_LEN];
	int dropped; /* distinct lines past VIPSMSG_MAX */
	bool skip_dump; /* the next warning prints the shared buffer */
	struct vipsmsg *prev; /* the capture this one hides, if any */
};

/* Route "VIPS" log lines to the thread's capture (others: GLib's default
 * handler).  Once per process. */
void vipsmsg_init(void);

/* This process runs one job at a time from now on (see above).  Before
 * the first job. */
void vipsmsg_exclusive(void);
bool vipsmsg_is_exclusive(void);

/* Install m (zeroed here) as this thread's capture until vipsmsg_end. */
void vipsmsg_begin(struct vipsmsg *m);
void vipsmsg_end(struct vipsmsg *m);

/* Whether this thread has a capture installed. */
bool vipsmsg_active(void);

/*
 * The text of the current failure, "a; b; c" on one line, sanitised:
 * with a capture installed, its errors then its warnings (the errors are
 * consumed); without one (start-up, outside any job), libvips' shared
 * buffer, which is then cleared.  Empty string when nothing was said.
 */
void vipsmsg_take(char *buf, size_t size);

/* Forget the captured errors (a failure that was handled). */
void vipsmsg_clear(void);

/* The decode succeeded: what the decoder reported as errors did not stop
 * it, so they are warnings of this image. */
void vipsmsg_errors_to_warnings(struct vipsmsg *m);

#endif
