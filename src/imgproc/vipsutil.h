/*
 * vipsutil.h - small glue between libvips and imgpipe's conventions,
 * shared by the files of src/imgproc/ (never included outside it).
 *
 * - vipsutil_error: put the job's captured libvips messages (vipsmsg.h)
 *   into a caller's struct ip_error, so no global error state leaks out
 *   of the module.
 * - vipsutil_pull: decode on the job's own thread.
 * - struct vipsutil_deadline: the per-image time limit.  Attached to the
 *   root images of a job, it watches libvips' "eval" progress signal and
 *   kills the computation once the deadline passes; every pipeline built
 *   on a watched image inherits the watch.
 *
 * Thread-safety: a deadline belongs to one job (one thread); the eval
 * callback may run on libvips' worker threads, so its state is atomic.
 */
#ifndef IMGPIPE_VIPSUTIL_H
#define IMGPIPE_VIPSUTIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vips/vips.h>

#include "core/config.h"
#include "core/error.h"

struct vipsutil_deadline {
	int64_t end_ms; /* util_mono_ms() value; 0 = no limit */
	atomic_bool expired;
	int timeout_s; /* for messages */
};

/* A libvips source reading fd with pread() at its own position, so the
 * descriptor's offset is neither used nor changed: the same open file may
 * be read by several jobs at once.  NULL (libvips error set) on failure;
 * the caller unrefs.  fd must stay open while the source lives. */
VipsSource *vipsutil_source_fd(int fd);

/* Set err to code with "what: <libvips message>": the job's captured
 * lines (vipsmsg_take), or libvips' shared buffer outside a job.
 * Returns code. */
int vipsutil_error(struct ip_error *err, int code, const char *what);

/* Compute in into a new memory image on the calling thread, strip by
 * strip from the top (no libvips worker thread), so whatever the
 * decoders say is said on this thread.  Stops between strips once d
 * expires (d may be NULL).  NULL on failure (libvips error said). */
VipsImage *vipsutil_pull(VipsImage *in, struct vipsutil_deadline *d);

void vipsutil_deadline_init(struct vipsutil_deadline *d, int timeout_s);
/* Watch image: from now on any evaluation of it (or of a pipeline built
 * on it) is killed when d expires.  The image must not outlive d unless
 * vipsutil_deadline_detach() is called first. */
void vipsutil_deadline_attach(struct vipsutil_deadline *d, VipsImage *image);
void vipsutil_deadline_detach(struct vipsutil_deadline *d, VipsImage *image);
/* True once the deadline has passed (also checks the clock). */
bool vipsutil_deadline_over(struct vipsutil_deadline *d);
/* The error for a job stopped by its deadline (clears libvips' buffer). */
int vipsutil_deadline_error(struct vipsutil_deadline *d, struct ip_error *err);

/* Release a reference if non-NULL and set the pointer to NULL. */
#define VIPSUTIL_UNREF(p)                                                      \
	do {                                                                   \
		if ((p) != NULL) {                                             \
			g_object_unref(p);                                     \
			(p) = NULL;                                            \
		}                                                              \
	} while (0)

/* Where a box of mw x mh goes inside w x h at gravity g, margin pixels
 * from the edges it touches (centre and attention: centred).  Used for
 * crops (margin 0) and for watermarks. */
void vipsutil_place(enum gravity g, int w, int h, int mw, int mh, int margin,
		    int *x, int *y);

#endif
