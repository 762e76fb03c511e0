/*
 * upload.c - streaming uploads (upload.h): PUT /v1/images/{name} with a
 * raw body, POST /v1/images with multipart/form-data (field `file`) or a
 * raw body typed image/something.
 *
 * Called through api.c on the request's thread: upload_begin once the
 * headers are in, upload_body for each chunk the transport reads,
 * upload_end when the body is complete, upload_free from
 * api_request_release (also when the client vanished mid-body).
 *
 * DESIGN.  A transport may let a handler answer at the headers or after
 * the whole body, not in between (the HTTP server library does; API Gateway
 * has the whole body at once).  So everything the
 * headers settle is answered at once: a Content-Length above the limit is
 * a 413 before a byte of the body is read (with `Expect: 100-continue` the
 * client never sends it), a wrong Content-Type a 415.  A failure found
 * while streaming (a chunked body passing the limit, a malformed multipart
 * body, a full disk) closes and removes the temp file at once, drops the
 * rest of the body unread into nowhere, and is answered when the body
 * ends; a client that goes on sending more than twice the limit after
 * that is disconnected.
 */
#include "api/upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "core/log.h"
#include "core/util.h"
#include "api/admission.h"
#include "api/handlers.h"
#include "api/reply.h"
#include "api/multipart.h"
#include "api/params.h"
#include "app/app.h"
#include "function/ingest.h"

#define UPLOAD_PREFIX "upload-"

struct upload {
	struct api *api;
	struct app *app;
	bool multipart;
	int fd;
	char tmp_path[CONFIG_PATH_MAX + 64];
	GChecksum *sum;
	int64_t limit;
	int64_t body_bytes; /* as received */
	int64_t file_bytes; /* written to the temp file */
	int failed; /* a failure found while streaming */
	struct ip_error err;
	int wait_s;
	char name[PARAMS_NAME_MAX + 1];
	struct multipart mp;
};

/* Remove the temp file if the path still names our file: once ingest has
 * renamed it into the store, the same name may already belong to another
 * upload's new temp file. */
static void
remove_temp(struct upload *up)
{
	struct stat mine;
	struct stat there;

	if (up->tmp_path[0] == '\0')
		return;
	if (up->fd >= 0 && fstat(up->fd, &mine) == 0 &&
	    stat(up->tmp_path, &there) == 0 && mine.st_dev == there.st_dev &&
	    mine.st_ino == there.st_ino && unlink(up->tmp_path) != 0)
		log_warn("upload: unlink %s: %s", up->tmp_path,
			 strerror(errno));
	up->tmp_path[0] = '\0';
}

static void
discard(struct upload *up)
{
	remove_temp(up);
	if (up->fd >= 0)
		close(up->fd);
	up->fd = -1;
}

void
upload_free(struct upload *up)
{
	if (up == NULL)
		return;
	discard(up);
	if (up->sum != NULL)
		g_checksum_free(up->sum);
	atomic_fetch_sub(&up->api->metrics.inflight_uploads, 1);
	free(up);
}

/* Record a failure found mid-body; it is answered when the body ends. */
static void
fail(struct upload *up, int code, const char *msg)
{
	if (up->failed != IP_OK)
		return;
	up->failed = code;
	ip_error_set(&up->err, code, "%s", msg);
	discard(up);
}

static enum api_next refuse(struct api_request *rq, int code, const char *fmt,
			    ...) __attribute__((format(printf, 3, 4)));

/* Answer an upload failure; the temp file goes first. */
static enum api_next
refuse(struct api_request *rq, int code, const char *fmt, ...)
{
	char msg[IP_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rq->upload != NULL)
		discard(rq->upload);
	atomic_fetch_add(&rq->api->metrics.uploads_rejected, 1);
	return reply_error(rq, code, "%s", msg);
}

/* Answer 429 with Retry-After: the client may come back later; nothing
 * of the upload is kept. */
static enum api_next
refuse_busy(struct api_request *rq, int retry_after_s,
	    const struct ip_error *err)
{
	if (rq->upload != NULL)
		discard(rq->upload);
	atomic_fetch_add(&rq->api->metrics.uploads_rejected, 1);
	return reply_retry_after(rq, retry_after_s, err);
}

/* DIR/upload-PID.START-XXXXXX: the owner is the process with that pid
 * AND that start time (util_proc_start), so a pid reused after a crash
 * does not keep a dead upload's file alive. */
static void
temp_name(char *out, size_t len, const char *dir)
{
	snprintf(out, len, "%s/" UPLOAD_PREFIX "%ld.%lld-XXXXXX", dir,
		 (long)getpid(), util_proc_start((long)getpid()));
}

static int
open_temp(struct upload *up, struct ip_error *err)
{
	const char *data = up->app->cfg.data_dir;
	char dir[CONFIG_PATH_MAX + 8];

	snprintf(dir, sizeof(dir), "%s/tmp", data);
	temp_name(up->tmp_path, sizeof(up->tmp_path), dir);
	up->fd = mkostemp(up->tmp_path, O_CLOEXEC);
	if (up->fd < 0 && errno == ENOENT && util_mkdir_p(dir) == 0) {
		temp_name(up->tmp_path, sizeof(up->tmp_path), dir);
		up->fd = mkostemp(up->tmp_path, O_CLOEXEC);
	}
	if (up->fd < 0) {
		int e = errno;

		up->tmp_path[0] = '\0';
		return ip_error_set(err, ip_errno_code(e, IP_EIO),
				    "temp file in %s: %s", dir, strerror(e));
	}
	return IP_OK;
}

/* File bytes: to the temp file and the hash. */
static int
write_file(void *arg, const char *data, size_t len, struct ip_error *err)
{
	struct upload *up = arg;
	int rc;

	if (up->file_bytes + (int64_t)len > up->limit)
		return ip_error_set(err, IP_ETOOBIG,
				    "the image is larger than the limit of "
				    "%" PRId64 " bytes",
				    up->limit);
	rc = util_write_all(up->fd, data, len);
	if (rc != 0) {
		rc = ip_error_set(err, ip_errno_code(-rc, IP_EIO),
				  "write %s: %s", up->tmp_path, strerror(-rc));
		app_note_error(up->app, rc);
		return rc;
	}
	g_checksum_update(up->sum, (const guchar *)data, (gssize)len);
	up->file_bytes += (int64_t)len;
	return IP_OK;
}

/* True for a Content-Type we take as a raw image body. */
static bool
raw_image_type(const char *ct)
{
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return strncasecmp(ct, "image/", 6) == 0 ||
	       strncasecmp(ct, "application/octet-stream", 24) == 0;
}

/* POST: multipart or raw, by Content-Type. */
static enum api_next
begin_post(struct api_request *rq, struct upload *up, bool *answered)
{
	const char *ct = api_header(rq, "Content-Type");
	char boundary[MULTIPART_BOUNDARY_MAX + 1];
	struct ip_error err;
	int rc;

	*answered = true;
	ip_error_clear(&err);
	if (ct == NULL)
		return refuse(rq, IP_EMEDIA,
			      "POST /v1/images needs a Content-Type: "
			      "multipart/form-data (field `file`) or image/*");
	rc = multipart_boundary(ct, boundary, sizeof(boundary), &err);
	if (rc == IP_OK) {
		up->multipart = true;
		rc = multipart_init(&up->mp, boundary, "file", write_file, up,
				    &err);
		if (rc != IP_OK)
			return refuse(rq, rc, "%s", err.msg);
	} else if (rc != IP_EMEDIA) {
		return refuse(rq, rc, "%s", err.msg);
	} else if (raw_image_type(ct)) {
		rc = params_name(api_query(rq, "name"), up->name,
				 sizeof(up->name), &err);
		if (rc != IP_OK)
			return refuse(rq, rc, "%s", err.msg);
	} else {
		return refuse(rq, IP_EMEDIA,
			      "Content-Type must be multipart/form-data "
			      "(field `file`) or image/*, not %.64s",
			      ct);
	}
	*answered = false;
	return API_NEXT_BODY;
}

enum api_next
upload_begin(struct api_request *rq)
{
	struct app *app = rq->app;
	struct upload *up = calloc(1, sizeof(*up));
	const char *cl;
	struct ip_error err;
	enum api_next ret;
	int retry_after = 0;
	bool answered;

	if (up == NULL)
		return refuse(rq, IP_ENOMEM, "out of memory");
	up->api = rq->api;
	up->app = app;
	up->fd = -1;
	up->limit = app->cfg.max_body_bytes;
	atomic_fetch_add(&rq->api->metrics.inflight_uploads, 1);
	rq->upload = up;
	ip_error_clear(&err);
	/* Per client, before a byte of the body is read. */
	if (admission_rate(app,
			   rq->key_name[0] != '\0' ? rq->key_name : rq->client,
			   &retry_after, &err) != IP_OK)
		return refuse_busy(rq, retry_after, &err);
	if (params_wait(api_query(rq, "wait"), app->cfg.wait_max_s, &up->wait_s,
			&err) != IP_OK)
		return refuse(rq, IP_EINVAL, "%s", err.msg);
	/* No room to spool it: 507 before a byte of the body is read. */
	if (diskspace_check(&app->space, &err) != IP_OK)
		return refuse(rq, err.code, "%s", err.msg);

	/* The transport has validated Content-Length; absent means chunked
	 * or no body. */
	cl = api_header(rq, "Content-Length");
	if (cl != NULL) {
		long long n = strtoll(cl, NULL, 10);

		if (n > up->limit)
			return refuse(rq, IP_ETOOBIG,
				      "the body of %lld bytes is larger than "
				      "the limit of %" PRId64 " bytes",
				      n, up->limit);
		if (n == 0)
			return refuse(rq, IP_EINVAL, "the body is empty");
	}
	if (rq->match.route->id == ROUTE_IMAGE_PUT) {
		snprintf(up->name, sizeof(up->name), "%s",
			 routes_param(&rq->match, "name"));
	} else {
		ret = begin_post(rq, up, &answered);
		if (answered)
			return ret;
	}
	if (open_temp(up, &err) != IP_OK) {
		app_note_error(app, err.code);
		return refuse(rq, err.code, "%s", err.msg);
	}
	up->sum = g_checksum_new(G_CHECKSUM_SHA256);
	if (up->sum == NULL)
		return refuse(rq, IP_ENOMEM, "out of memory");
	return API_NEXT_BODY;
}

int
upload_body(struct api_request *rq, const char *data, size_t len)
{
	struct upload *up = rq->upload;
	struct ip_error err;
	int rc;

	if (up == NULL)
		return 0;
	up->body_bytes += (int64_t)len;
	if (up->failed != IP_OK)
		return up->body_bytes > 2 * up->limit + (1 << 20) ? -1 : 0;
	if (up->body_bytes > up->limit) {
		char msg[128];

		snprintf(msg, sizeof(msg),
			 "the body is larger than the limit of %" PRId64
			 " bytes",
			 up->limit);
		fail(up, IP_ETOOBIG, msg);
		return 0;
	}
	ip_error_clear(&err);
	if (up->multipart)
		rc = multipart_feed(&up->mp, data, len, &err);
	else
		rc = write_file(up, data, len, &err);
	if (rc != IP_OK)
		fail(up, rc, err.msg);
	return 0;
}

/* The answer of a successful commit, after the optional wait. */
static enum api_next
accepted(struct api_request *rq, struct upload *up, struct record *rec)
{
	struct ip_error err;
	int status = 202;
	bool ok;
	char location[RECORD_ID_MAX + 16];
	json_t *body;

	util_strlcpy(rq->image_id, rec->id, sizeof(rq->image_id));
	atomic_fetch_add(&rq->api->metrics.uploads_accepted, 1);
	atomic_fetch_add(&rq->api->metrics.upload_bytes, up->file_bytes);
	/* Past server.max_waiting the upload is answered now (202). */
	if (up->wait_s > 0 && admission_wait_begin(rq->app)) {
		struct record *done = malloc(sizeof(*done));
		int rc = done == NULL
			     ? IP_ENOMEM
			     : app_wait_record(rq->app, rec->id,
					       (int64_t)up->wait_s * 1000, done,
					       &err);

		/* A wait that fails still leaves an accepted upload: 202. */
		if (rc == IP_OK) {
			memcpy(rec, done, sizeof(*rec));
			if (rec->status == RECORD_DONE ||
			    rec->status == RECORD_FAILED)
				status = 201;
		}
		free(done);
		admission_wait_end(rq->app);
	}
	body = handlers_record_json(rq->app, rec);
	ok = reply_set_json(rq, body);
	snprintf(location, sizeof(location), "/v1/images/%s", rec->id);
	reply_add_header(rq, "Location", location);
	return reply_queue(rq, status, ok);
}

/* Room for this upload's declared pixels in the queue, or the 429 in
 * *ret (false): nothing is stored yet, so nothing is left behind. */
static bool
admit(struct api_request *rq, struct upload *up, struct admission_ticket *t,
      enum api_next *ret)
{
	struct ip_error err;
	int retry_after = 0;
	bool known;
	int64_t cost = admission_cost(&rq->app->cfg, up->fd, &known);

	ip_error_clear(&err);
	if (!known)
		log_debug("upload %s: no size in the header; costed as "
			  "limits.max_pixels",
			  rq->id);
	if (admission_reserve(rq->app, cost, t, &retry_after, &err) == IP_OK)
		return true;
	*ret = refuse_busy(rq, retry_after, &err);
	return false;
}

enum api_next
upload_end(struct api_request *rq)
{
	struct upload *up = rq->upload;
	struct ingest_upload iu;
	struct admission_ticket ticket;
	struct record *rec;
	struct ip_error err;
	const char *name;
	enum api_next ret;
	int rc;

	if (up->failed != IP_OK)
		return refuse(rq, up->failed, "%s", up->err.msg);
	ip_error_clear(&err);
	if (up->multipart && multipart_finish(&up->mp, &err) != IP_OK)
		return refuse(rq, err.code, "%s", err.msg);
	if (up->file_bytes == 0)
		return refuse(rq, IP_EINVAL,
			      up->multipart ? "the file field is empty"
					    : "the body is empty");
	/* No fsync here: durability is the store's put (the fs store
	 * fsyncs the file before its name; S3 keeps its own copy). */
	if (lseek(up->fd, 0, SEEK_SET) != 0)
		return refuse(rq, IP_EIO, "seek %s: %s", up->tmp_path,
			      strerror(errno));
	name = up->name;
	if (up->multipart)
		name = up->mp.has_filename && up->mp.filename[0] != '\0'
			   ? up->mp.filename
			   : "image";
	rec = malloc(sizeof(*rec));
	if (rec == NULL)
		return refuse(rq, IP_ENOMEM, "out of memory");
	iu.tmp_path = up->tmp_path;
	iu.fd = up->fd;
	iu.bytes = up->file_bytes;
	iu.sha256_hex = g_checksum_get_string(up->sum);
	iu.name = name;
	iu.request_id = rq->id;
	if (!admit(rq, up, &ticket, &ret)) {
		free(rec);
		return ret;
	}
	rc = ingest_commit(&rq->app->ingest, &iu, rec, &err);
	/* Moved into the store, copied, or refused: either way the temp
	 * file is no longer needed. */
	discard(up);
	if (rc != IP_OK) {
		app_note_error(rq->app, rc);
		admission_cancel(rq->app, &ticket);
		free(rec);
		return refuse(rq, rc, "%s", err.msg);
	}
	admission_commit(rq->app, &ticket, rec->id);
	ret = accepted(rq, up, rec);
	free(rec);
	return ret;
}

int
upload_cleanup_stale(const char *tmp_dir)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	int removed = 0;

	if (d == NULL)
		return 0;
	for (;;) {
		char path[CONFIG_PATH_MAX + 300];
		long long start = -1;
		long pid;
		int n;

		e = readdir(d);
		if (e == NULL)
			break;
		if (strncmp(e->d_name, UPLOAD_PREFIX, strlen(UPLOAD_PREFIX)) !=
			0 ||
		    (n = sscanf(e->d_name + strlen(UPLOAD_PREFIX), "%ld.%lld-",
				&pid, &start)) < 1 ||
		    pid <= 0)
			continue;
		/* Ours, or its owner alive (the same pid started at the same
		 * time; a name without a start time: the pid alive): keep. */
		if (pid == (long)getpid() &&
		    (n < 2 || start == util_proc_start(pid)))
			continue;
		if (n == 2 ? util_proc_start(pid) == start
			   : kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp_dir, e->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	if (removed > 0)
		log_info("http: removed %d temp file(s) of dead uploads in %s",
			 removed, tmp_dir);
	return removed;
}
