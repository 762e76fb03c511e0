/*
 * process.c - a host of the function: `imgpipe process FILE... -o DIR`.
 *
 * Each file takes the same path as an upload, in a private embedded
 * pipeline (fs store, sqlite table and queue) in a temporary data
 * directory: spool + commit (probe, object, record, event), then the
 * function on the queued event, then the variants copied out to DIR.
 * Nothing of the user's data directory or backends is touched.
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
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy one stored variant out to DIR/<stem>-<variant>.<ext>. */
static int
export_variant(struct app *app, const struct record_variant *v,
	       const char *stem, const char *dir, struct ip_error *err)
{
	const char *ext = strrchr(v->key, '.');
	char path[4096];
	char buf[1 << 16];
	int in = -1, out = -1;
	int rc;

	rc = objstore_open_read(app->store, v->bucket, v->key, &in, NULL, err);
	if (rc != IP_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/%s-%s%s", dir, stem, v->name,
		 ext != NULL ? ext : "");
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = ip_error_set(err, IP_EIO, "%s: %s", path, strerror(errno));
		goto done;
	}
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				rc = ip_error_set(err, IP_EIO, "read %s",
						  v->key);
			break;
		}
		if (util_write_all(out, buf, (size_t)r) != 0) {
			rc = ip_error_set(err, IP_EIO, "write %s", path);
			break;
		}
	}
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* One file through the same path as an upload: spool, commit (probe,
 * object, record, event), then the function on the queued event. */
static int
process_one(struct app *app, const char *file, const char *tmpdir,
	    const char *outdir, struct ip_error *err)
{
	struct record r;
	struct queue_msg m;
	struct function_invocation inv = {.attempt = 1, .final = true};
	char stem[RECORD_NAME_MAX];
	char *json;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = ingest_file(&app->ingest, file, tmpdir, &r, err);
	if (rc != IP_OK)
		return rc;
	rc = queue_receive(app->queue, 600, 0, &m, err);
	if (rc == IP_OK)
		rc = function_handle_event(&app->fn, m.body, m.len, &inv, NULL,
					   err);
	if (rc == IP_OK)
		queue_delete(app->queue, &m, err);
	queue_msg_clear(&m);
	if (rc != IP_OK)
		return rc;
	rc = table_get(app->table, r.id, &r, err);
	if (rc != IP_OK)
		return rc;
	util_strlcpy(stem, r.name, sizeof(stem));
	if (strrchr(stem, '.') != NULL)
		*strrchr(stem, '.') = '\0';
	for (size_t i = 0; rc == IP_OK && i < r.n_variants; i++)
		rc = export_variant(app, &r.variants[i], stem, outdir, err);
	json = record_to_string(&r);
	if (json != NULL)
		printf("%s\n", json);
	free(json);
	if (rc == IP_OK && r.status == RECORD_FAILED)
		rc = ip_error_set(err, IP_EUNPROCESSABLE, "%s", r.error);
	return rc;
}

int
process_files(const struct config *config, char *const *files, int n_files,
	      const char *outdir)
{
	struct ip_error err;
	struct config cfg = *config;
	struct app app;
	char data[] = "/tmp/imgpipe-process-XXXXXX";
	char tmpdir[sizeof(data) + 8];
	int failures = 0;

	if (util_mkdir_p(outdir) != 0) {
		fprintf(stderr, "imgpipe process: %s: %s\n", outdir,
			strerror(errno));
		return 1;
	}
	/* A private embedded pipeline in a temporary data dir. */
	if (mkdtemp(data) == NULL) {
		fprintf(stderr, "imgpipe process: mkdtemp: %s\n",
			strerror(errno));
		return 1;
	}
	util_strlcpy(cfg.data_dir, data, sizeof(cfg.data_dir));
	util_strlcpy(cfg.objstore, "fs", sizeof(cfg.objstore));
	util_strlcpy(cfg.table, "sqlite", sizeof(cfg.table));
	util_strlcpy(cfg.queue, "sqlite", sizeof(cfg.queue));
	if (app_open(&app, &cfg, APP_NEED_ALL, &err) != IP_OK) {
		fprintf(stderr, "imgpipe process: %s\n", err.msg);
		util_rm_tree(data);
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", data);
	util_mkdir_p(tmpdir);
	for (int i = 0; i < n_files; i++) {
		ip_error_clear(&err);
		if (process_one(&app, files[i], tmpdir, outdir, &err) !=
		    IP_OK) {
			fprintf(stderr, "imgpipe process: %s: %s\n", files[i],
				err.msg);
			failures++;
		}
	}
	app_close(&app);
	util_rm_tree(data);
	return failures == 0 ? 0 : 1;
}
