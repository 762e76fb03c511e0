/*
 * imgproc.h - the image processor interface.
 *
 * Backend: imgproc_vips.c (libvips).  Two operations:
 * - probe: read the header only (no pixel decode) of an untrusted file,
 *   sniff the real format from its bytes, and apply the limits of the
 *   config (loader allowed, pixels per frame, total pixels, pages).
 *   The gateway calls it before it commits an upload.
 * - process: the image work of the function: decode once (shrink-on-load
 *   to the largest variant), auto-rotate, convert to sRGB, derive every
 *   variant, watermark, strip, encode.  Outputs are memory buffers (a
 *   variant is small); the caller stores them.
 *
 * Errors: IP_EMEDIA (not an image we may load), IP_EUNPROCESSABLE (too
 * many pixels/pages, a decode needing more than limits.max_image_memory,
 * corrupt or truncated data), IP_ETIMEOUT (the per-image time limit
 * cancelled the work), IP_ENOMEM.  Every message (err, warnings) holds
 * only what this call's own image produced, whatever runs beside it.
 *
 * Thread-safety: one struct imgproc is shared by all workers; process may
 * run on many threads at once (the watermark cache is locked inside).
 */
#ifndef IMGPIPE_IMGPROC_H
#define IMGPIPE_IMGPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/record.h"

struct imgproc;

struct image_info {
	char format
	    [RECORD_FORMAT_MAX]; /* "jpeg", "png", "webp", "gif", "heif", ... */
	char content_type
	    [RECORD_CONTENT_TYPE_MAX]; /* "image/jpeg" ... from the sniffed format */
	int width; /* stored (one frame) */
	int height;
	int display_width; /* after EXIF orientation */
	int display_height;
	int orientation; /* 1..8 */
	int pages; /* frames, 1 for still images */
	bool has_alpha;
	char colourspace
	    [RECORD_COLOURSPACE_MAX]; /* "srgb", "cmyk", "b-w", "rgb16", ... */
};

struct imgproc_variant {
	char name[CONFIG_VARIANT_NAME_MAX];
	enum out_format format; /* resolved: never FORMAT_AUTO */
	int width;
	int height;
	void *data; /* malloc'd (g_free-compatible not assumed) */
	size_t len;
	char sha256[SHA256_HEX_SIZE];
};

/* Where a process call's time went, in microseconds. */
struct imgproc_timings {
	int64_t decode_us; /* the original decoded to the base image */
	int64_t transform_us; /* every variant resized and watermarked */
	int64_t encode_us; /* every variant encoded */
};

struct imgproc_result {
	struct image_info info;
	struct imgproc_timings timings;
	size_t n;
	struct imgproc_variant variants[RECORD_VARIANTS_MAX];
	char placeholder[RECORD_PLACEHOLDER_MAX]; /* BlurHash, may be empty */
	char dominant[RECORD_DOMINANT_SIZE]; /* "#rrggbb", may be empty */
	/* The decoder's complaints about a damaged image it still decoded
	 * (limits.fail_on below "warning"): this job's lines only,
	 * sanitised.  Plain arrays so a result copies as bytes. */
	size_t n_warnings;
	char warnings[RECORD_WARNINGS_MAX][RECORD_WARNING_MAX];
};

struct imgproc_ops {
	const char *name;
	void (*close)(struct imgproc *p);
	int (*probe)(struct imgproc *p, int fd, struct image_info *out,
		     struct ip_error *err);
	/* Reads the image from fd (seekable; position irrelevant). */
	int (*process)(struct imgproc *p, int fd,
		       const struct variant_spec *specs, size_t n_specs,
		       struct imgproc_result *out, struct ip_error *err);
};

struct imgproc {
	const struct imgproc_ops *ops;
};

/* Initialise libvips once per process (idempotent) with the config's
 * safety settings (untrusted loaders blocked, cache off, threads).
 * Then build the shared processor, loading the watermark image if any. */
int imgproc_vips_open(const struct config *cfg, struct imgproc **out,
		      struct ip_error *err);

/* "8.14.1": the libvips this binary runs on (vips_version.c). */
const char *imgproc_vips_version(void);

/* Free the variant buffers of a result (safe on a zeroed result). */
void imgproc_result_clear(struct imgproc_result *r);

/* libvips threads for one job when `busy` jobs (this one included) run
 * in this host: worker.vips_threads when set (> 0); else adaptive (0):
 * the online cores shared out among the busy jobs, at least 1, so one
 * image at low load uses every idle core and each job gets one core at
 * saturation. */
int imgproc_threads(int vips_threads, int busy);

/* A helper process (one job at a time) is told its job's thread count
 * by its host, which sees the other jobs: imgproc_vips uses n (> 0) for
 * the jobs that follow instead of its own count. */
void imgproc_vips_job_threads(int n);

/* This process runs one image job at a time from now on (an image
 * helper, the Lambda function): libvips' worker threads may then decode
 * while others resize, and what any thread says during a job is that
 * job's (vipsmsg.h).  Before the first job. */
void imgproc_vips_one_job(void);

static inline void
imgproc_close(struct imgproc *p)
{
	if (p != NULL)
		p->ops->close(p);
}

/* The backend's name ("vips"), for logs. */
static inline const char *
imgproc_name(const struct imgproc *p)
{
	return p->ops->name;
}

static inline int
imgproc_probe(struct imgproc *p, int fd, struct image_info *out,
	      struct ip_error *err)
{
	return p->ops->probe(p, fd, out, err);
}

static inline int
imgproc_process(struct imgproc *p, int fd, const struct variant_spec *specs,
		size_t n, struct imgproc_result *out, struct ip_error *err)
{
	return p->ops->process(p, fd, specs, n, out, err);
}

#endif
