/*
 * process.c - a host of the function: `imgpipe process FILE|FOLDER... -o
 * DIR`.
 *
 * Each file costs the function's image work plus writing its variants:
 * the file is opened read-only, its size and SHA-256 read (the record
 * the function would write carries them), the image processor runs once
 * for all variants (in a sandboxed helper when worker.helpers is on, as
 * in `serve`), the variants are written where process_inputs.c says and
 * the outcome reported.  No store, table or queue is opened and nothing
 * is spooled, hashed twice or fsync'd: the durable ingest exists for
 * uploads a server acknowledges, not for files the user already has.
 * The record's rules (facts of an image and of its variants, keys) are
 * the function's own (function.h).
 *
 * Threads: process_files() runs on main.c's thread; it starts `jobs`
 * job threads, each taking the next input under the batch lock and
 * calling the shared image processor (one helper per job thread).  The
 * lock also guards the counters and every write to stdout/stderr, so
 * lines never interleave.
 */
#include "hosts/process.h"

#include "app/app.h"
#include "core/log.h"
#include "core/record.h"
#include "core/util.h"
#include "function/function.h"
#include "function/ingest.h"
#include "hosts/process_inputs.h"
#include "imgproc/imgproc.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* The progress line is redrawn at most this often. */
#define PROGRESS_EVERY_MS 100

struct batch {
	struct app app;
	const struct process_opts *opts;
	const struct process_inputs *in;
	bool tty; /* stderr is a terminal: the progress line */
	pthread_mutex_t lock;
	/* Under lock: */
	size_t next;
	size_t done;
	size_t failed;
	long long bytes_in;
	long long bytes_out;
	int64_t started_ms;
	int64_t drawn_ms;
};

/* What one input came to. */
struct outcome {
	struct record r;
	char outputs[RECORD_VARIANTS_MAX][4096];
	long long bytes_out;
	struct ip_error err;
	int rc;
};

/* Write one variant to PREFIX<variant>.<ext>; its path into out. */
static int
write_variant(const struct record_variant *rv, const struct imgproc_variant *v,
	      const char *prefix, char *out, size_t out_len,
	      struct ip_error *err)
{
	const char *ext = strrchr(rv->key, '.');
	int fd;
	int rc = IP_OK;

	if ((size_t)snprintf(out, out_len, "%s%s%s", prefix, rv->name,
			     ext != NULL ? ext : "") >= out_len)
		return ip_error_set(err, IP_EINVAL, "output path too long");
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ip_error_set(err, IP_EIO, "%s: %s", out,
				    strerror(errno));
	if (util_write_all(fd, v->data, v->len) != 0)
		rc = ip_error_set(err, IP_EIO, "write %s: %s", out,
				  strerror(errno));
	if (close(fd) != 0 && rc == IP_OK)
		rc = ip_error_set(err, IP_EIO, "close %s: %s", out,
				  strerror(errno));
	return rc;
}

/* The folder of prefix (DIR/[FOLDERS/]STEM-), created. */
static int
make_out_dir(const char *prefix, struct ip_error *err)
{
	char dir[4096];
	char *slash;
	int rc;

	util_strlcpy(dir, prefix, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return IP_OK;
	*slash = '\0';
	rc = util_mkdir_p(dir);
	if (rc != 0)
		return ip_error_set(err, IP_EIO, "%s: %s", dir, strerror(-rc));
	return IP_OK;
}

/* The record the function would write for the file at path. */
static void
record_begin(const struct config *cfg, const char *path, struct record *r)
{
	unsigned char rnd[10] = {0};

	memset(r, 0, sizeof(*r));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd)); /* ids are then less random */
	util_make_id(util_now_ms(), rnd, r->id, sizeof(r->id));
	ingest_sanitize_name(path, (size_t)cfg->max_name_bytes, r->name,
			     sizeof(r->name));
	util_strlcpy(r->input_bucket, cfg->input_bucket,
		     sizeof(r->input_bucket));
	function_input_key(r->id, r->name, r->input_key, sizeof(r->input_key),
			   NULL);
	r->uploaded_at = util_now_ms();
	r->attempts = 1;
	r->status = RECORD_PROCESSING;
}

/* Open and check one file, run the image work into res. */
static int
process_image(struct app *app, const char *file, struct record *r,
	      struct imgproc_result *res, struct ip_error *err)
{
	const struct config *cfg = &app->cfg;
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int rc = IP_OK;

	if (fd < 0)
		return ip_error_set(err, IP_EIO, "%s", strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		rc = ip_error_set(err, IP_EINVAL, "not a regular file");
	else if (st.st_size > cfg->max_body_bytes)
		rc = ip_error_set(
		    err, IP_ETOOBIG, "%lld bytes, above limits.max_body (%lld)",
		    (long long)st.st_size, (long long)cfg->max_body_bytes);
	if (rc == IP_OK)
		rc = function_original_facts(fd, r, err);
	if (rc == IP_OK)
		rc = imgproc_process(app->img, fd, cfg->variants,
				     cfg->n_variants, res, err);
	close(fd);
	return rc;
}

/* One input: the image work, its variants written out. */
static void
process_one(struct app *app, const struct process_input *in, struct outcome *o)
{
	struct imgproc_result res;
	int64_t started = util_mono_ms();

	memset(&res, 0, sizeof(res));
	ip_error_clear(&o->err);
	record_begin(&app->cfg, in->path, &o->r);
	/* JSON log lines of this job name its id; the result line maps the
	 * id to the file. */
	log_context_set_image(o->r.id);
	if (in->error != NULL) {
		o->rc = ip_error_set(&o->err, IP_EIO, "%s", in->error);
		return;
	}
	o->rc = process_image(app, in->path, &o->r, &res, &o->err);
	if (o->rc == IP_OK) {
		function_record_set_result(&app->cfg, &o->r, &res,
					   app->cfg.variants);
		o->rc = make_out_dir(in->prefix, &o->err);
	}
	for (size_t i = 0; o->rc == IP_OK && i < res.n; i++) {
		o->rc = write_variant(&o->r.variants[i], &res.variants[i],
				      in->prefix, o->outputs[i],
				      sizeof(o->outputs[i]), &o->err);
		o->bytes_out += (long long)res.variants[i].len;
	}
	imgproc_result_clear(&res);
	if (o->rc != IP_OK)
		return;
	o->r.status = RECORD_DONE;
	o->r.processed_at = util_now_ms();
	o->r.processing_ms = util_mono_ms() - started;
}

/* Print a JSON object as one line on stdout; takes the reference. */
static void
print_json(json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

/* A path or message as a JSON string: a file name need not be UTF-8
 * (invalid bytes become U+FFFD). */
static json_t *
text_json(const char *s)
{
	gchar *valid = g_utf8_make_valid(s, -1);
	json_t *j = json_string(valid);

	g_free(valid);
	return j;
}

/* --json: the record with the input's path and its outputs, or the
 * failure. */
static void
report_json(const struct process_input *in, const struct outcome *o)
{
	json_t *j;

	if (o->rc != IP_OK) {
		j = json_pack("{s:o, s:s, s:o}", "input", text_json(in->path),
			      "status", "failed", "error",
			      text_json(o->err.msg));
	} else {
		json_t *outs = json_array();

		j = record_to_json(&o->r);
		for (size_t i = 0; outs != NULL && i < o->r.n_variants; i++)
			json_array_append_new(outs, text_json(o->outputs[i]));
		if (j != NULL && outs != NULL) {
			json_object_set_new(j, "input", text_json(in->path));
			json_object_set(j, "outputs", outs);
		}
		json_decref(outs);
	}
	print_json(j);
}

/* "out/a/IMG-large.jpg out/a/IMG-medium.jpg" */
static void
print_outputs(FILE *f, const struct outcome *o)
{
	for (size_t i = 0; i < o->r.n_variants; i++)
		fprintf(f, "%s%s", i > 0 ? " " : "", o->outputs[i]);
}

/* The terminal's progress line: done/total, rate, ETA, failures. */
static void
draw_progress(struct batch *b, int64_t now)
{
	size_t finished = b->done + b->failed;
	double s = (double)(now - b->started_ms) / 1000.0;
	double rate = s > 0 ? (double)finished / s : 0;
	size_t left = b->in->n - finished;

	fprintf(stderr, "\r\033[K%zu/%zu", finished, b->in->n);
	if (rate > 0)
		fprintf(stderr, ", %.1f images/s, ETA %.0f s", rate,
			(double)left / rate);
	if (b->failed > 0)
		fprintf(stderr, ", %zu failed", b->failed);
	fflush(stderr);
	b->drawn_ms = now;
}

/* Count and report one outcome.  Call under b->lock. */
static void
report(struct batch *b, const struct process_input *in, const struct outcome *o)
{
	int64_t now = util_mono_ms();

	if (o->rc == IP_OK) {
		b->done++;
		b->bytes_in += (long long)o->r.bytes;
		b->bytes_out += o->bytes_out;
	} else {
		b->failed++;
	}
	if (b->opts->json)
		report_json(in, o);
	if (o->rc != IP_OK) {
		if (b->tty)
			fprintf(stderr, "\r\033[K");
		fprintf(stderr, "imgpipe process: %s: %s\n", in->path,
			o->err.msg);
	} else if (!b->opts->json && !b->tty) {
		printf("%s -> ", in->path);
		print_outputs(stdout, o);
		printf(" (%lld ms, id %s)\n", (long long)o->r.processing_ms,
		       o->r.id);
	}
	fflush(stdout);
	if (b->tty && !b->opts->json &&
	    (now - b->drawn_ms >= PROGRESS_EVERY_MS || o->rc != IP_OK ||
	     b->done + b->failed == b->in->n))
		draw_progress(b, now);
}

static void *
job_main(void *arg)
{
	struct batch *b = arg;
	struct outcome *o = malloc(sizeof(*o));

	for (;;) {
		size_t i;

		pthread_mutex_lock(&b->lock);
		i = b->next < b->in->n ? b->next++ : b->in->n;
		if (i == b->in->n) {
			pthread_mutex_unlock(&b->lock);
			break;
		}
		pthread_mutex_unlock(&b->lock);
		if (o == NULL)
			abort(); /* a few KiB at start */
		memset(o, 0, sizeof(*o));
		process_one(&b->app, &b->in->v[i], o);
		pthread_mutex_lock(&b->lock);
		report(b, &b->in->v[i], o);
		pthread_mutex_unlock(&b->lock);
	}
	free(o);
	return NULL;
}

static void
print_summary(const struct batch *b, int jobs)
{
	double s = (double)(util_mono_ms() - b->started_ms) / 1000.0;

	if (b->opts->json) {
		print_json(json_pack(
		    "{s:{s:I, s:I, s:I, s:I, s:I, s:i}}", "summary", "done",
		    (json_int_t)b->done, "failed", (json_int_t)b->failed, "ms",
		    (json_int_t)(util_mono_ms() - b->started_ms), "bytes_in",
		    (json_int_t)b->bytes_in, "bytes_out",
		    (json_int_t)b->bytes_out, "jobs", jobs));
		fflush(stdout);
		return;
	}
	if (b->tty)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr,
		"imgpipe process: %zu done, %zu failed in %.1f s (%.1f "
		"images/s, %d jobs); %.1f MB read, %.1f MB written\n",
		b->done, b->failed, s,
		s > 0 ? (double)(b->done + b->failed) / s : 0.0, jobs,
		(double)b->bytes_in / 1e6, (double)b->bytes_out / 1e6);
}

/* Start the job threads, wait for them; the number started. */
static int
run_jobs(struct batch *b, int jobs)
{
	pthread_t threads[PROCESS_JOBS_MAX];
	int started = 0;

	for (int i = 0; i < jobs; i++) {
		if (pthread_create(&threads[i], NULL, job_main, b) != 0)
			break;
		started++;
	}
	if (started == 0) /* not even one thread: this one does it all */
		job_main(b);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	return started > 0 ? started : 1;
}

int
process_files(const struct config *config, char *const *files, int n_files,
	      const struct process_opts *opts)
{
	struct process_inputs in;
	struct ip_error err;
	struct config cfg = *config;
	struct batch *b = calloc(1, sizeof(*b));
	int jobs = opts->jobs > 0 ? opts->jobs : config->workers;
	int status = PROCESS_USAGE;

	if (b == NULL)
		return PROCESS_USAGE;
	if (process_inputs_collect(&in, config, files, n_files, opts->includes,
				   opts->outdir, &err) != IP_OK ||
	    process_inputs_check(&in, config, &err) != IP_OK) {
		fprintf(stderr, "imgpipe process: %s\n", err.msg);
		goto out;
	}
	if (util_mkdir_p(opts->outdir) != 0) {
		fprintf(stderr, "imgpipe process: %s: %s\n", opts->outdir,
			strerror(errno));
		goto out;
	}
	if (jobs > (int)in.n)
		jobs = in.n > 0 ? (int)in.n : 1;
	if (jobs > PROCESS_JOBS_MAX)
		jobs = PROCESS_JOBS_MAX;
	/* One helper per job thread; no store, table or queue. */
	cfg.workers = jobs;
	if (app_open(&b->app, &cfg, APP_NEED_IMG, &err) != IP_OK) {
		fprintf(stderr, "imgpipe process: %s\n", err.msg);
		goto out;
	}
	b->opts = opts;
	b->in = &in;
	b->tty = !opts->json && isatty(STDERR_FILENO);
	pthread_mutex_init(&b->lock, NULL);
	b->started_ms = util_mono_ms();
	jobs = run_jobs(b, jobs);
	print_summary(b, jobs);
	pthread_mutex_destroy(&b->lock);
	app_close(&b->app);
	status = b->failed == 0 ? PROCESS_OK : PROCESS_FAILED;
out:
	process_inputs_free(&in);
	free(b);
	return status;
}
