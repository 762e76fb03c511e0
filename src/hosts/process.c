/*
 * process.c - a host of the function: `imgpipe process FILE... -o DIR`.
 *
 * Each file costs the function's image work plus writing its variants:
 * the file is opened read-only, its size and SHA-256 read (the record
 * the function would write carries them), the image processor runs once
 * for all variants (in a sandboxed helper when worker.helpers is on, as
 * in `serve`), the variants are written to DIR/<stem>-<variant>.<ext>
 * and the record is printed as one line of JSON.  No store, table or
 * queue is opened and nothing is spooled, hashed twice or fsync'd: the
 * durable ingest exists for uploads a server acknowledges, not for files
 * the user already has.  The record's rules (facts of an image and of
 * its variants, keys) are the function's own (function.h).
 *
 * Called by main.c on the main thread; single-threaded.
 */
#include "hosts/process.h"

#include "app/app.h"
#include "core/log.h"
#include "core/record.h"
#include "core/util.h"
#include "function/function.h"
#include "function/ingest.h"
#include "imgproc/imgproc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write one variant to DIR/<stem>-<variant>.<ext>. */
static int
write_variant(const struct record_variant *rv, const struct imgproc_variant *v,
	      const char *stem, const char *dir, struct ip_error *err)
{
	const char *ext = strrchr(rv->key, '.');
	char path[4096];
	int fd;
	int rc = IP_OK;

	snprintf(path, sizeof(path), "%s/%s-%s%s", dir, stem, rv->name,
		 ext != NULL ? ext : "");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ip_error_set(err, IP_EIO, "%s: %s", path,
				    strerror(errno));
	if (util_write_all(fd, v->data, v->len) != 0)
		rc = ip_error_set(err, IP_EIO, "write %s: %s", path,
				  strerror(errno));
	if (close(fd) != 0 && rc == IP_OK)
		rc = ip_error_set(err, IP_EIO, "close %s: %s", path,
				  strerror(errno));
	return rc;
}

/* The record the function would write for the file at path. */
static void
record_begin(const struct config *cfg, const char *path, struct record *r)
{
	unsigned char rnd[10] = {0};

	memset(r, 0, sizeof(*r));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		log_warn("getrandom failed: ids are less random");
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

/* One file: the image work, its variants written out, its record on
 * stdout.  A failure prints no record: its reason goes to stderr. */
static int
process_one(struct app *app, const char *file, const char *outdir,
	    struct ip_error *err)
{
	struct imgproc_result res;
	struct record r;
	int64_t started = util_mono_ms();
	char stem[RECORD_NAME_MAX];
	char *json;
	int rc;

	memset(&res, 0, sizeof(res));
	record_begin(&app->cfg, file, &r);
	rc = process_image(app, file, &r, &res, err);
	if (rc == IP_OK) {
		function_record_set_result(&app->cfg, &r, &res);
		util_strlcpy(stem, r.name, sizeof(stem));
		if (strrchr(stem, '.') != NULL)
			*strrchr(stem, '.') = '\0';
	}
	for (size_t i = 0; rc == IP_OK && i < res.n; i++)
		rc = write_variant(&r.variants[i], &res.variants[i], stem,
				   outdir, err);
	imgproc_result_clear(&res);
	if (rc != IP_OK)
		return rc;
	r.status = RECORD_DONE;
	r.processed_at = util_now_ms();
	r.processing_ms = util_mono_ms() - started;
	json = record_to_string(&r);
	if (json != NULL)
		printf("%s\n", json);
	free(json);
	return IP_OK;
}

int
process_files(const struct config *config, char *const *files, int n_files,
	      const char *outdir)
{
	struct ip_error err;
	struct app app;
	int failures = 0;

	if (util_mkdir_p(outdir) != 0) {
		fprintf(stderr, "imgpipe process: %s: %s\n", outdir,
			strerror(errno));
		return 1;
	}
	/* The image processor only: no store, table or queue. */
	if (app_open(&app, config, APP_NEED_IMG, &err) != IP_OK) {
		fprintf(stderr, "imgpipe process: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < n_files; i++) {
		ip_error_clear(&err);
		if (process_one(&app, files[i], outdir, &err) != IP_OK) {
			fprintf(stderr, "imgpipe process: %s: %s\n", files[i],
				err.msg);
			failures++;
		}
	}
	app_close(&app);
	return failures == 0 ? 0 : 1;
}
