/*
 * fn_bench.c - times the function, the image work of one upload, over a
 * list of photos.  Called by bench/run.sh (`make bench`); not part of
 * imgpipe itself.
 *
 *   fn_bench lat [OPTIONS] FILE...   one thread, the files in order,
 *                                    ROUNDS times: "lat R FILE MS" each
 *   fn_bench tp [OPTIONS] FILE...    THREADS threads share FILE x THREADS
 *                                    jobs (as N workers would): one line
 *                                    "tp THREADS JOBS WALL_MS"
 *   fn_bench ovh -x IMGPIPE [OPTIONS] FILE...
 *                                    the helpers' overhead: each file
 *                                    through three processors in turn,
 *                                    ROUNDS times: "ovh R FILE IN_MS
 *                                    HELPER_MS FRESH_MS" (below)
 * All then print "fail N", "rss KIB" (getrusage peak of this process: a
 * helper's memory is not in it) and "vips VERSION".  Lines are
 * tab-separated.
 *
 * Subject (-m):
 *   imgproc   imgproc_process() on each file: one decode, every variant of
 *             the configuration, encoded to memory, in this process
 *             (default);
 *   helper    the same call through the helper processor of `imgpipe
 *             serve` (imgproc_helper_open): each job handed to a sandboxed
 *             `EXE __helper` (-x: the imgpipe binary of the same build),
 *             one helper per thread, started on first use and replaced
 *             after worker.helper_jobs jobs; so the time of a call is the
 *             image work plus the helper's overhead (the original's
 *             descriptor in, the result and the encoded variants out),
 *             and with -s worker.helper_jobs=1 a helper's start and
 *             warm-up too;
 *   (ovh)     no -m: the same file, one after the other, in this process,
 *             through a helper (worker.helper_jobs as configured) and
 *             through a helper that is replaced after every job (its
 *             start and warm-up in each call), the order rotated from one
 *             file and round to the next: paired figures, so that a
 *             difference of a few ms is not lost in the noise of a
 *             shared machine;
 *   pipeline  the whole function, function_handle_event(), on an embedded
 *             fs + sqlite app in a temporary data directory: read the
 *             original, process, store the variants durably, mark the
 *             record done.  Each file is first committed with ingest_commit
 *             (as an upload is), untimed; the event is taken from the queue.
 *
 * -A: glibc's allocator as imgpipe's image helpers run it,
 * util_tune_malloc(true) and malloc in transparent huge pages (fn_bench
 * executes itself again with the GLIBC_TUNABLES a helper is given,
 * imgproc_helper.c); without it glibc's defaults.
 *
 * The configuration is config_defaults() (three variants, watermark on
 * two, strip, JPEG q82), then IMGPIPE_* variables, then -s options.
 *
 * Threads: the main thread, plus THREADS worker threads in `tp`; they
 * share one imgproc (or one app), as the workers of `imgpipe serve` do.
 */
#include "core/config.h"
#include "core/log.h"
#include "core/record.h"
#include "core/util.h"
#include "imgproc/imgproc.h"
#include "imgproc/imgproc_helper.h"
#include "app/app.h"
#include "function/ingest.h"
#include "function/function.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BENCH_THREADS_MAX 64
#define BENCH_ROUNDS_MAX 1000
#define BENCH_FILES_MAX 1024

enum subject { SUBJECT_IMGPROC, SUBJECT_HELPER, SUBJECT_PIPELINE };

/* ovh: its three processors, in this order in its lines */
enum { OVH_IN, OVH_HELPER, OVH_FRESH, OVH_N };

struct bench {
	enum subject subject;
	struct config cfg;
	struct imgproc *img; /* SUBJECT_IMGPROC, SUBJECT_HELPER */
	const char *helper_exe; /* -x: SUBJECT_HELPER, ovh */
	bool ovh; /* the ovh command: ovh_img instead of img */
	struct imgproc *ovh_img[OVH_N];
	struct config cfg_fresh; /* ovh: cfg with worker.helper_jobs = 1 */
	struct app app; /* SUBJECT_PIPELINE */
	bool app_open;
	char data_dir[64]; /* SUBJECT_PIPELINE: mkdtemp'd, removed at end */
	const char *outdir; /* -o: write the variants here */
	char **files;
	int n_files;
	int threads;
	int rounds;
	bool warmup;
	bool keep;
	bool tune_malloc; /* -A */

	/* tp: the shared job counter and the failure count */
	atomic_int next_job;
	int n_jobs;
	atomic_int failures;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: fn_bench lat|tp|ovh [-m imgproc|helper|pipeline] "
	    "[-x IMGPIPE] [-t THREADS]\n"
	    "                [-r ROUNDS] [-W] [-w WATERMARK.png] "
	    "[-s SECTION.KEY=VALUE]...\n"
	    "                [-o OUTDIR] [-k] [-A] FILE...\n"
	    "  lat   one thread, files in order, ROUNDS times (default 1):\n"
	    "        prints \"lat ROUND FILE MS\" per image\n"
	    "  tp    THREADS threads (default 1) share FILE x THREADS "
	    "jobs:\n"
	    "        prints \"tp THREADS JOBS WALL_MS\"\n"
	    "  ovh   each file in this process, through a helper, through a "
	    "new helper\n"
	    "        (-x needed), ROUNDS times: prints \"ovh ROUND FILE IN_MS "
	    "HELPER_MS FRESH_MS\"\n"
	    "  -m    imgproc: imgproc_process in this process (default);\n"
	    "        helper: the same through helper processes (-x the "
	    "imgpipe binary);\n"
	    "        pipeline: function_handle_event on an fs+sqlite app in "
	    "a temp dir\n"
	    "  -W    process the first file once first, unreported\n"
	    "  -w    watermark image (else the configured text mark)\n"
	    "  -s    any configuration key, e.g. -s worker.vips_threads=2\n"
	    "  -o    write the variants to OUTDIR (checking by eye)\n"
	    "  -k    keep the pipeline's temp data dir\n"
	    "  -A    imgpipe's allocator settings (util_tune_malloc), as "
	    "its processes\n"
	    "then \"fail N\", \"rss KIB\" (peak RSS), \"vips VERSION\".\n");
}

/* Write one variant to OUTDIR/<file stem>_<variant>.<ext>. */
static int
write_variant(const char *outdir, const char *file,
	      const struct imgproc_variant *v)
{
	const char *base = strrchr(file, '/');
	char path[4096];
	int fd;
	int rc;

	base = base != NULL ? base + 1 : file;
	snprintf(path, sizeof(path), "%s/%s_%s.%s", outdir, base, v->name,
		 config_format_ext(v->format));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = util_write_all(fd, v->data, v->len);
	close(fd);
	return rc;
}

/* One image through img's imgproc_process; *ms is the time of the call. */
static int
job_imgproc(struct bench *b, struct imgproc *img, const char *file, double *ms,
	    struct ip_error *err)
{
	struct imgproc_result res;
	double t0;
	int fd;
	int rc;

	memset(&res, 0, sizeof(res));
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ip_error_set(err, IP_EIO, "%s: %s", file,
				    strerror(errno));
	t0 = now_ms();
	rc = imgproc_process(img, fd, b->cfg.variants, b->cfg.n_variants, &res,
			     err);
	*ms = now_ms() - t0;
	if (rc == IP_OK && res.n != b->cfg.n_variants)
		rc = ip_error_set(err, IP_EIO, "%s: %zu variants, expected %zu",
				  file, res.n, b->cfg.n_variants);
	for (size_t i = 0; rc == IP_OK && b->outdir != NULL && i < res.n; i++)
		if (write_variant(b->outdir, file, &res.variants[i]) != 0)
			rc = ip_error_set(err, IP_EIO, "cannot write to %s",
					  b->outdir);
	imgproc_result_clear(&res);
	close(fd);
	return rc;
}

/* Commit file as an upload would be: the original in the input bucket,
 * the pending record, the event in the queue. */
static int
commit(struct bench *b, const char *file, struct ip_error *err)
{
	char tmpdir[4096];
	struct record r;

	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", b->data_dir);
	return ingest_file(&b->app.ingest, file, tmpdir, &r, err);
}

/* Take one event from the queue and run the function on it; *ms is the
 * time of function_handle_event.  IP_ENOTFOUND when the queue is empty. */
static int
handle_next(struct bench *b, double *ms, struct ip_error *err)
{
	struct function_invocation inv = {.attempt = 1, .final = true};
	struct function_stats st;
	struct queue_msg m;
	double t0;
	int rc;

	memset(&m, 0, sizeof(m));
	memset(&st, 0, sizeof(st));
	rc = queue_receive(b->app.queue, 600, 0, &m, err);
	if (rc != IP_OK)
		return rc;
	t0 = now_ms();
	rc = function_handle_event(&b->app.fn, m.body, m.len, &inv, &st, err);
	*ms = now_ms() - t0;
	if (rc == IP_OK && st.done != 1)
		rc = ip_error_set(err, IP_EIO,
				  "event handled but %d done, "
				  "%d failed, %d skipped",
				  st.done, st.failed, st.skipped);
	if (rc == IP_OK)
		rc = queue_delete(b->app.queue, &m, err);
	queue_msg_clear(&m);
	return rc;
}

static int
job_pipeline(struct bench *b, const char *file, double *ms,
	     struct ip_error *err)
{
	int rc = commit(b, file, err);

	if (rc == IP_OK)
		rc = handle_next(b, ms, err);
	return rc;
}

static int
job(struct bench *b, const char *file, double *ms, struct ip_error *err)
{
	if (b->subject != SUBJECT_PIPELINE)
		return job_imgproc(b, b->img, file, ms, err);
	return job_pipeline(b, file, ms, err);
}

static void *
tp_thread(void *arg)
{
	struct bench *b = arg;
	struct ip_error err;
	double ms;

	for (;;) {
		int i = atomic_fetch_add(&b->next_job, 1);
		int rc;

		if (i >= b->n_jobs)
			break;
		ip_error_clear(&err);
		if (b->subject != SUBJECT_PIPELINE)
			rc = job_imgproc(b, b->img, b->files[i % b->n_files],
					 &ms, &err);
		else
			rc = handle_next(b, &ms, &err);
		if (rc != IP_OK) {
			fprintf(stderr, "fn_bench: %s\n", err.msg);
			atomic_fetch_add(&b->failures, 1);
		}
	}
	return NULL;
}

static int
run_lat(struct bench *b)
{
	struct ip_error err;
	double ms;
	int fails = 0;

	for (int r = 1; r <= b->rounds; r++) {
		for (int i = 0; i < b->n_files; i++) {
			ip_error_clear(&err);
			if (job(b, b->files[i], &ms, &err) != IP_OK) {
				fprintf(stderr, "fn_bench: %s: %s\n",
					b->files[i], err.msg);
				fails++;
				continue;
			}
			printf("lat\t%d\t%s\t%.1f\n", r, b->files[i], ms);
			fflush(stdout);
		}
	}
	return fails;
}

static int
run_tp(struct bench *b)
{
	pthread_t th[BENCH_THREADS_MAX];
	struct ip_error err;
	int started = 0;
	double t0;

	b->n_jobs = b->n_files * b->threads;
	atomic_init(&b->next_job, 0);
	atomic_init(&b->failures, 0);
	if (b->subject == SUBJECT_PIPELINE) {
		/* The uploads arrive first (untimed); the threads then drain
		 * the queue as the worker pool does. */
		for (int i = 0; i < b->n_jobs; i++) {
			ip_error_clear(&err);
			if (commit(b, b->files[i % b->n_files], &err) !=
			    IP_OK) {
				fprintf(stderr, "fn_bench: %s\n", err.msg);
				return 1;
			}
		}
	}
	t0 = now_ms();
	for (int i = 0; i < b->threads; i++) {
		if (pthread_create(&th[i], NULL, tp_thread, b) != 0) {
			fprintf(stderr, "fn_bench: pthread_create failed\n");
			atomic_fetch_add(&b->failures, 1);
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	printf("tp\t%d\t%d\t%.1f\n", b->threads, b->n_jobs, now_ms() - t0);
	return atomic_load(&b->failures);
}

/* ovh: each file through the three processors.  The fresh helpers (a
 * process started for every job) get their own pass first: between two
 * jobs of the long-lived helper there is then only the in-process job of
 * the pair, as between the jobs of a busy server; a fresh helper's
 * start-up (~0.5 s) in between would leave it idle long enough to give
 * its memory back (HELPER_IDLE_TRIM_MS, helper_child.c) and time that
 * instead.  The in-process and helper jobs alternate, the order rotated. */
static int
run_ovh(struct bench *b)
{
	struct ip_error err;
	double(*fresh)[BENCH_FILES_MAX + 1] = NULL;
	double ms[OVH_N];
	int fails = 0;

	fresh = calloc((size_t)b->rounds + 1, sizeof(*fresh));
	if (fresh == NULL)
		return 1;
	for (int k = 0; b->warmup && k < OVH_N; k++) {
		ip_error_clear(&err);
		if (job_imgproc(b, b->ovh_img[k], b->files[0], &ms[k], &err) !=
		    IP_OK) {
			fprintf(stderr, "fn_bench: warm-up %s: %s\n",
				b->files[0], err.msg);
			fails++;
		}
	}
	for (int r = 1; r <= b->rounds; r++) {
		for (int i = 0; i < b->n_files; i++) {
			ip_error_clear(&err);
			if (job_imgproc(b, b->ovh_img[OVH_FRESH], b->files[i],
					&fresh[r][i], &err) != IP_OK) {
				fprintf(stderr, "fn_bench: %s: %s\n",
					b->files[i], err.msg);
				fresh[r][i] = -1;
			}
		}
	}
	for (int r = 1; r <= b->rounds; r++) {
		for (int i = 0; i < b->n_files; i++) {
			bool ok = fresh[r][i] >= 0;

			for (int k = 0; k < 2 && ok; k++) {
				int s =
				    (r + i + k) % 2; /* OVH_IN, OVH_HELPER */

				ip_error_clear(&err);
				if (job_imgproc(b, b->ovh_img[s], b->files[i],
						&ms[s], &err) != IP_OK) {
					fprintf(stderr, "fn_bench: %s: %s\n",
						b->files[i], err.msg);
					ok = false;
				}
			}
			if (!ok) {
				fails++;
				continue;
			}
			printf("ovh\t%d\t%s\t%.1f\t%.1f\t%.1f\n", r,
			       b->files[i], ms[OVH_IN], ms[OVH_HELPER],
			       fresh[r][i]);
			fflush(stdout);
		}
	}
	free(fresh);
	return fails;
}

/* Apply "SECTION.KEY=VALUE" (the section may contain dots). */
static int
set_option(struct config *cfg, const char *opt, struct ip_error *err)
{
	char buf[1200];
	char *eq;
	char *dot;

	if (util_strlcpy(buf, opt, sizeof(buf)) >= sizeof(buf))
		return ip_error_set(err, IP_EINVAL, "-s %s: too long", opt);
	eq = strchr(buf, '=');
	if (eq == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "-s %s: expected SECTION.KEY=VALUE", opt);
	*eq = '\0';
	dot = strrchr(buf, '.');
	if (dot == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "-s %s: expected SECTION.KEY=VALUE", opt);
	*dot = '\0';
	return config_set(cfg, buf, dot + 1, eq + 1, err);
}

/* Parse argv into b (after the lat|tp word).  Returns 0 or 2 (usage). */
static int
parse_args(struct bench *b, int argc, char **argv, struct ip_error *err)
{
	int i;

	for (i = 2; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "-W") == 0) {
			b->warmup = true;
			continue;
		}
		if (strcmp(o, "-k") == 0) {
			b->keep = true;
			continue;
		}
		if (strcmp(o, "-A") == 0) {
			b->tune_malloc = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "fn_bench: %s needs a value\n", o);
			return 2;
		}
		i++;
		if (strcmp(o, "-m") == 0 && strcmp(v, "imgproc") == 0) {
			b->subject = SUBJECT_IMGPROC;
		} else if (strcmp(o, "-m") == 0 && strcmp(v, "helper") == 0) {
			b->subject = SUBJECT_HELPER;
		} else if (strcmp(o, "-m") == 0 && strcmp(v, "pipeline") == 0) {
			b->subject = SUBJECT_PIPELINE;
		} else if (strcmp(o, "-x") == 0) {
			b->helper_exe = v;
		} else if (strcmp(o, "-t") == 0) {
			b->threads = atoi(v);
		} else if (strcmp(o, "-r") == 0) {
			b->rounds = atoi(v);
		} else if (strcmp(o, "-o") == 0) {
			b->outdir = v;
		} else if (strcmp(o, "-w") == 0) {
			if (config_set(&b->cfg, "watermark", "image", v, err) !=
			    IP_OK)
				goto bad;
		} else if (strcmp(o, "-s") == 0) {
			if (set_option(&b->cfg, v, err) != IP_OK)
				goto bad;
		} else {
			fprintf(stderr, "fn_bench: unknown option %s %s\n", o,
				v);
			return 2;
		}
	}
	if (b->threads < 1 || b->threads > BENCH_THREADS_MAX || b->rounds < 1 ||
	    b->rounds > BENCH_ROUNDS_MAX) {
		fprintf(stderr, "fn_bench: -t 1..%d, -r 1..%d\n",
			BENCH_THREADS_MAX, BENCH_ROUNDS_MAX);
		return 2;
	}
	if ((b->ovh || b->subject == SUBJECT_HELPER) && b->helper_exe == NULL) {
		fprintf(stderr,
			"fn_bench: ovh and -m helper need -x IMGPIPE\n");
		return 2;
	}
	b->files = argv + i;
	b->n_files = argc - i;
	if (b->n_files < 1 || b->n_files > BENCH_FILES_MAX) {
		fprintf(stderr, "fn_bench: give 1..%d files\n",
			BENCH_FILES_MAX);
		return 2;
	}
	return 0;
bad:
	fprintf(stderr, "fn_bench: %s\n", err->msg);
	return 2;
}

/* Open the subject: a shared imgproc, or an embedded app in a temp dir. */
static int
bench_open(struct bench *b, struct ip_error *err)
{
	char tmp[sizeof(b->data_dir) + 8];
	int rc;

	b->cfg.workers = b->threads;
	if (b->subject == SUBJECT_PIPELINE) {
		util_strlcpy(b->data_dir, "/tmp/imgpipe-fnbench-XXXXXX",
			     sizeof(b->data_dir));
		if (mkdtemp(b->data_dir) == NULL) {
			b->data_dir[0] = '\0';
			return ip_error_set(err, IP_EIO, "mkdtemp: %s",
					    strerror(errno));
		}
		util_strlcpy(b->cfg.data_dir, b->data_dir,
			     sizeof(b->cfg.data_dir));
		util_strlcpy(b->cfg.objstore, "fs", sizeof(b->cfg.objstore));
		util_strlcpy(b->cfg.table, "sqlite", sizeof(b->cfg.table));
		util_strlcpy(b->cfg.queue, "sqlite", sizeof(b->cfg.queue));
	}
	rc = config_validate(&b->cfg, err);
	if (rc != IP_OK)
		return rc;
	if (b->ovh) {
		b->cfg_fresh = b->cfg;
		b->cfg_fresh.helper_jobs = 1;
		imgproc_helper_set_exe(b->helper_exe);
		rc = imgproc_vips_open(&b->cfg, &b->ovh_img[OVH_IN], err);
		if (rc == IP_OK)
			rc = imgproc_helper_open(&b->cfg,
						 &b->ovh_img[OVH_HELPER], err);
		if (rc == IP_OK)
			rc = imgproc_helper_open(&b->cfg_fresh,
						 &b->ovh_img[OVH_FRESH], err);
		return rc;
	}
	if (b->subject == SUBJECT_IMGPROC)
		return imgproc_vips_open(&b->cfg, &b->img, err);
	if (b->subject == SUBJECT_HELPER) {
		imgproc_helper_set_exe(b->helper_exe);
		return imgproc_helper_open(&b->cfg, &b->img, err);
	}
	rc = app_open(&b->app, &b->cfg, APP_NEED_ALL, err);
	if (rc != IP_OK)
		return rc;
	b->app_open = true;
	snprintf(tmp, sizeof(tmp), "%s/tmp", b->data_dir);
	if (util_mkdir_p(tmp) != 0)
		return ip_error_set(err, IP_EIO, "%s: %s", tmp,
				    strerror(errno));
	b->img = b->app.img;
	return IP_OK;
}

static void
bench_close(struct bench *b)
{
	if (b->app_open) {
		app_close(&b->app);
		b->app_open = false;
	} else {
		imgproc_close(b->img);
	}
	b->img = NULL;
	for (int k = 0; k < OVH_N; k++) {
		imgproc_close(b->ovh_img[k]);
		b->ovh_img[k] = NULL;
	}
	if (b->data_dir[0] != '\0' && !b->keep)
		util_rm_tree(b->data_dir);
}

int
main(int argc, char **argv)
{
	static struct bench b; /* a struct config and an app: keep off the
				* stack */
	struct ip_error err;
	struct rusage ru;
	double ms;
	int fails = 0;
	int rc;

	if (argc < 2 ||
	    (strcmp(argv[1], "lat") != 0 && strcmp(argv[1], "tp") != 0 &&
	     strcmp(argv[1], "ovh") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout
								  : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	log_set_level(LOG_WARN);
	ip_error_clear(&err);
	config_defaults(&b.cfg);
	if (config_load_env(&b.cfg, environ, &err) != IP_OK) {
		fprintf(stderr, "fn_bench: %s\n", err.msg);
		return 2;
	}
	b.subject = SUBJECT_IMGPROC;
	b.ovh = strcmp(argv[1], "ovh") == 0;
	b.threads = 1;
	b.rounds = 1;
	rc = parse_args(&b, argc, argv, &err);
	if (rc != 0)
		return rc;
	if (strcmp(argv[1], "tp") != 0)
		b.threads = 1;
	if (b.tune_malloc && getenv("GLIBC_TUNABLES") == NULL) {
		/* glibc reads its tunables at start-up only. */
		setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "fn_bench: re-exec: %s\n", strerror(errno));
		return 2;
	}
	if (b.tune_malloc)
		util_tune_malloc(true); /* before libvips and any thread */
	/* One job at a time here, as in a helper: the decode may use
	 * libvips' threads (imgproc_vips_one_job). */
	if (b.threads == 1)
		imgproc_vips_one_job();
	rc = bench_open(&b, &err);
	if (rc != IP_OK) {
		fprintf(stderr, "fn_bench: %s\n", err.msg);
		bench_close(&b);
		return 1;
	}
	if (b.warmup && !b.ovh && job(&b, b.files[0], &ms, &err) != IP_OK) {
		fprintf(stderr, "fn_bench: warm-up %s: %s\n", b.files[0],
			err.msg);
		fails++;
	}
	if (b.ovh)
		fails += run_ovh(&b);
	else if (strcmp(argv[1], "lat") == 0)
		fails += run_lat(&b);
	else
		fails += run_tp(&b);
	getrusage(RUSAGE_SELF, &ru);
	printf("fail\t%d\nrss\t%ld\nvips\t%s\n", fails, ru.ru_maxrss,
	       imgproc_vips_version());
	bench_close(&b);
	return fails == 0 ? 0 : 1;
}
