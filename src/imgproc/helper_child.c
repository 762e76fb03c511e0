/*
 * helper_child.c - an image helper: `imgpipe __helper` (see
 * imgproc_helper.h and helper_proto.h).  One thread of ours (libvips may
 * start its own): read the configuration, warm up, confine, then serve
 * jobs until the host closes the socket or kills us.
 *
 * Warm-up matters because confinement forbids opening files: everything
 * libvips, GLib, fontconfig/Pango and the codecs load lazily (modules,
 * fonts, the watermark, ICC profiles, codec plugins) must be loaded
 * first.  So a job helper encodes a tiny image in every format it can
 * save and runs each through the configured variants plus one variant per
 * output format, which touches every loader, saver and the watermark.
 * The gateway's probe helper only ever reads headers: it probes a smaller
 * image in each format, and so never holds what the savers touch (about
 * 8 MB of RSS less after the corpus).
 */
#include "imgproc/helper_child.h"

#include <errno.h>
#include <glib.h>
#include <locale.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vips/vips.h>

#include "core/log.h"
#include "core/util.h"
#include "imgproc/helper_proto.h"

/* The warm-up image: wide enough that every variant gets its watermark
 * (watermark.c skips marks narrower than 8 pixels). */
#define WARM_W 320
#define WARM_H 240
/* The probe helper's: any size does. */
#define WARM_PROBE_W 16
#define WARM_PROBE_H 12
/* The formats warmed up, as libvips' save suffixes. */
static const char *const warm_suffixes[] = {".jpg", ".png",  ".webp",
					    ".gif", ".avif", ".tif"};

static const char warm_svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"48\">"
    "<rect width=\"64\" height=\"48\" fill=\"#4080c0\"/>"
    "<text x=\"4\" y=\"30\" font-family=\"sans\">i</text></svg>";
/* One empty 64x48 pt page. */
static const char warm_pdf[] =
    "%PDF-1.4\n"
    "1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 64 48]>>endobj\n"
    "trailer<</Root 1 0 R>>\n%%EOF\n";

/* GLib aborts when an allocation fails (g_malloc): under RLIMIT_AS that
 * is "out of memory", which the host must tell from a crash. */
static void
on_glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg,
	    gpointer data)
{
	(void)data;
	if ((level & G_LOG_LEVEL_ERROR) && msg != NULL &&
	    strstr(msg, "failed to allocate") != NULL)
		_exit(HELPER_EXIT_OOM);
	g_log_default_handler(domain, level, msg, NULL);
}

/* One tiny image through a spec list (or its header only: n == 0), from
 * an encoded buffer. */
static void
warm_one(struct imgproc *img, const void *buf, size_t len,
	 const struct variant_spec *specs, size_t n)
{
	struct imgproc_result res;
	struct image_info info;
	struct ip_error err;
	int fd = memfd_create("warm", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (util_write_all(fd, buf, len) == 0) {
		if (n == 0)
			(void)imgproc_probe(img, fd, &info, &err);
		else if (imgproc_process(img, fd, specs, n, &res, &err) ==
			 IP_OK)
			imgproc_result_clear(&res);
	}
	close(fd);
}

/* probe: the header of each format only (the probe helper). */
static int
warm_up(struct imgproc *img, const struct config *cfg, bool probe,
	struct ip_error *err)
{
	struct variant_spec specs[RECORD_VARIANTS_MAX];
	size_t n = probe ? 0 : cfg->n_variants;
	size_t n_cfg = n;
	VipsImage *base = NULL, *alpha = NULL;
	int rc = IP_OK;

	memcpy(specs, cfg->variants, n * sizeof(specs[0]));
	for (int f = FORMAT_JPEG;
	     !probe && f < FORMAT_AUTO && n < RECORD_VARIANTS_MAX; f++) {
		config_variant_init(&specs[n], "warm", WARM_W / 2, WARM_W / 2,
				    FIT_COVER, true);
		specs[n++].format = (enum out_format)f;
	}
	if (vips_xyz(&base, probe ? WARM_PROBE_W : WARM_W,
		     probe ? WARM_PROBE_H : WARM_H, NULL) != 0 ||
	    vips_bandjoin_const1(base, &alpha, 255, NULL) != 0) {
		rc = ip_error_set(err, IP_EIO, "warm-up: %s",
				  vips_error_buffer());
		goto out;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(warm_suffixes); i++) {
		VipsImage *in = i % 2 == 0 ? base : alpha;
		void *buf = NULL;
		size_t len = 0;

		if (vips_image_write_to_buffer(in, warm_suffixes[i], &buf, &len,
					       NULL) != 0) {
			vips_error_clear();
			continue;
		}
		/* Every saver once (the first input), every loader with the
		 * configured variants: an AVIF encode is the slow part. */
		warm_one(img, buf, len, specs, i == 0 ? n : n_cfg);
		g_free(buf);
	}
	/* The gated loaders, when open: librsvg and poppler load their
	 * own libraries and data on first use. */
	if (cfg->allow_svg)
		warm_one(img, warm_svg, sizeof(warm_svg) - 1, specs, n_cfg);
	if (cfg->allow_pdf)
		warm_one(img, warm_pdf, sizeof(warm_pdf) - 1, specs, n_cfg);
out:
	vips_error_clear();
	if (alpha != NULL)
		g_object_unref(alpha);
	if (base != NULL)
		g_object_unref(base);
	return rc;
}

static int
read_hello(struct config *cfg)
{
	struct helper_hdr h;

	if (helper_recv_hdr(HELPER_FD, &h, NULL, 0) != 0 ||
	    h.type != HELPER_HELLO || h.len != sizeof(*cfg))
		return -1;
	return helper_recv_body(HELPER_FD, cfg, sizeof(*cfg), 0);
}

static int
reply(uint32_t type, int rc, const struct ip_error *err,
      const struct imgproc_result *res)
{
	struct helper_reply *rp = calloc(1, sizeof(*rp));
	int e;

	if (rp == NULL)
		_exit(HELPER_EXIT_OOM);
	rp->rc = rc;
	if (err != NULL)
		rp->err = *err;
	if (res != NULL)
		rp->res = *res;
	e = helper_send(HELPER_FD, type, rp, sizeof(*rp), -1);
	free(rp);
	return e;
}

static int
serve_job(struct imgproc *img, const struct config *cfg, struct helper_job *job,
	  int fd)
{
	struct imgproc_result res;
	struct ip_error err;
	int rc;
	int e;

	ip_error_clear(&err);
	memset(&res, 0, sizeof(res));
	job->request_id[sizeof(job->request_id) - 1] = '\0';
	job->image_id[sizeof(job->image_id) - 1] = '\0';
	log_context_set_request(job->request_id);
	log_context_set_image(job->image_id);
	helper_cpu_budget(cfg, (int)job->threads);
	helper_fault_run(job->fault);
	if (fd < 0 || job->n_specs > RECORD_VARIANTS_MAX || job->threads < 1 ||
	    job->threads > HELPER_THREADS_MAX) {
		rc = ip_error_set(&err, IP_EINVAL, "bad job");
	} else {
		imgproc_vips_job_threads((int)job->threads);
		rc = imgproc_process(img, fd, job->specs, job->n_specs, &res,
				     &err);
	}
	if (fd >= 0)
		close(fd);
	e = reply(HELPER_RESULT, rc, &err, &res);
	for (size_t i = 0; e == 0 && rc == IP_OK && i < res.n; i++)
		e = helper_send(HELPER_FD, HELPER_DATA, res.variants[i].data,
				res.variants[i].len, -1);
	imgproc_result_clear(&res);
	log_context_set_request(NULL);
	log_context_set_image(NULL);
	return e;
}

/* The header only: format, dimensions, orientation (imgproc_probe). */
static int
serve_probe(struct imgproc *img, const struct helper_job *job, int fd)
{
	struct imgproc_result res;
	struct ip_error err;
	int rc;

	ip_error_clear(&err);
	memset(&res, 0, sizeof(res));
	helper_fault_run(job->fault);
	if (fd < 0 || job->n_specs != 0)
		rc = ip_error_set(&err, IP_EINVAL, "bad probe");
	else
		rc = imgproc_probe(img, fd, &res.info, &err);
	if (fd >= 0)
		close(fd);
	return reply(HELPER_RESULT, rc, &err, &res);
}

/* How long a helper idles before it gives its memory back: long enough
 * that a steady trickle of uploads (one every few hundred ms, each then
 * on a warm heap) does not pay for faulting it in again, short enough
 * that an idle server is small within a second. */
#define HELPER_IDLE_TRIM_MS 1000

_Noreturn void
imgproc_helper_main(bool probe)
{
	struct config *cfg = malloc(sizeof(*cfg));
	struct helper_job *job = malloc(sizeof(*job));
	struct imgproc *img = NULL;
	struct ip_error err;
	int rc;

	/* The storage-full test hook is the host's (its files); a confined
	 * helper writes only to its socket and must not look for it. */
	unsetenv("IMGPIPE_TEST_STORAGE_FULL");

	/* No PR_SET_PDEATHSIG: its "parent" is the host thread that
	 * spawned us, and slots pass between worker threads.  A host that
	 * dies closes the socket instead: an idle helper reads EOF and
	 * exits, a busy one fails to send its result (or meets its CPU
	 * limit) and exits. */
	close_range(HELPER_FD + 1, ~0U, 0);
	if (cfg == NULL || job == NULL || read_hello(cfg) != 0)
		_exit(1);
	log_set_level(cfg->log_level);
	log_set_format(cfg->log_format == LOG_FORMAT_JSON ? LOG_FORMAT_JSON
							  : LOG_FORMAT_TEXT);
	g_log_set_default_handler(on_glib_log, NULL);
	ip_error_clear(&err);
	/* Messages in English, as the host's: a translated lookup would
	 * open message catalogues after confinement. */
	setlocale(LC_MESSAGES, "C");
	/* Local time without /etc/localtime: a library that formats a time
	 * (GLib's default log handler does, for an ICC warning) would
	 * otherwise open it lazily, after confinement.  "UTC0" is a POSIX TZ
	 * string, so glibc reads no zone file at all. */
	setenv("TZ", "UTC0", 1);
	tzset();
	imgproc_vips_one_job();
	rc = imgproc_vips_open(cfg, &img, &err);
	if (rc == IP_OK)
		rc = warm_up(img, cfg, probe, &err);
	/* What the warm-up's encoders freed (an AVIF encode's buffers are
	 * tens of MB) back to the system before the first job. */
	malloc_trim(0);
	if (rc == IP_OK)
		rc = helper_confine(cfg, &err);
	if (reply(HELPER_READY, rc, &err, NULL) != 0 || rc != IP_OK)
		_exit(1);
	for (bool trimmed = true;;) {
		struct helper_hdr h;
		struct pollfd idle = {.fd = HELPER_FD, .events = POLLIN};
		int fd = -1;

		/* The last job's memory back to the system once no job has
		 * come for HELPER_IDLE_TRIM_MS: the helper keeps what it frees
		 * below 4 MiB in its heap (util_tune_malloc).  Not after every
		 * job: faulting those pages in again cost about 80 ms of a
		 * 250 ms photo when jobs come back to back. */
		if (!trimmed && poll(&idle, 1, HELPER_IDLE_TRIM_MS) == 0) {
			malloc_trim(0);
			trimmed = true;
		}
		if (helper_recv_hdr(HELPER_FD, &h, &fd, 0) != 0 ||
		    (h.type != HELPER_PROBE &&
		     (h.type != HELPER_JOB || probe)) ||
		    h.len != sizeof(*job) ||
		    helper_recv_body(HELPER_FD, job, sizeof(*job), 0) != 0 ||
		    (h.type == HELPER_JOB ? serve_job(img, cfg, job, fd)
					  : serve_probe(img, job, fd)) != 0)
			break;
		trimmed = false;
	}
	/* No atexit work: it may need calls the filter forbids. */
	_exit(0);
}
