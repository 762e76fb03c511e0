/*
 * ingest.c - from a spooled upload to a durable, announced original (see
 * ingest.h), and the reverse (delete).  Called on HTTP threads.
 *
 * DESIGN: the order is object, record, event.  Each step is durable before
 * the next starts, and a failure undoes the earlier steps, so a request
 * that is not answered 202 leaves nothing visible.  A crash between steps
 * can leave an object (and maybe a pending record) without an event; the
 * start-up recovery of `imgpipe serve` re-announces every unfinished record,
 * which is what S3 itself would do for an object that exists.
 */
#include "function/ingest.h"
#include "function/function.h"
#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "imgproc/imgproc.h"
#include "objstore/objstore.h"
#include "queue/queue.h"
#include "table/table.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
ingest_sanitize_name(const char *in, size_t max_bytes, char *out,
		     size_t out_len)
{
	const char *base = in;
	const char *p;
	size_t o = 0;
	size_t start, end;

	if (out_len == 0)
		return;
	if (max_bytes >= out_len)
		max_bytes = out_len - 1;
	for (p = in; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	/* Copy valid, printable UTF-8 characters that fit. */
	for (p = base; *p != '\0';) {
		gunichar c = g_utf8_get_char_validated(p, -1);
		size_t n;

		if (c == (gunichar)-1 || c == (gunichar)-2) {
			p++; /* invalid byte: dropped */
			continue;
		}
		n = (size_t)(g_utf8_next_char(p) - p);
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) ||
		    c == 0x2028 || c == 0x2029) {
			p += n;
			continue;
		}
		if (o + n > max_bytes)
			break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	/* Trim spaces and dots at both ends ("..", " x. " -> "x"). */
	start = strspn(out, " .");
	end = o;
	while (end > start && (out[end - 1] == ' ' || out[end - 1] == '.'))
		end--;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	if (out[0] == '\0')
		util_strlcpy(out, "image", out_len);
}

int
ingest_commit(struct ingest *in, const struct ingest_upload *up,
	      struct record *out, struct ip_error *err)
{
	const struct config *cfg = in->cfg;
	struct objstore_put_opts opts;
	struct image_info info;
	struct record *r = out;
	bool stored = false;
	bool recorded = false;
	int rc;

	memset(r, 0, sizeof(*r));
	if (up->bytes <= 0)
		return ip_error_set(err, IP_EINVAL,
				    "the request body is empty");
	if (up->bytes > cfg->max_body_bytes)
		return ip_error_set(err, IP_ETOOBIG,
				    "the body is larger than %lld bytes",
				    (long long)cfg->max_body_bytes);
	rc = imgproc_probe(in->img, up->fd, &info, err);
	if (rc != IP_OK)
		return rc;

	util_new_id(r->id, sizeof(r->id));
	ingest_sanitize_name(up->name != NULL ? up->name : "",
			     (size_t)cfg->max_name_bytes, r->name,
			     sizeof(r->name));
	util_strlcpy(r->input_bucket, cfg->input_bucket,
		     sizeof(r->input_bucket));
	rc = function_input_key(r->id, r->name, r->input_key,
				sizeof(r->input_key), err);
	if (rc != IP_OK)
		return rc;
	function_record_set_image(r, &info);
	r->bytes = up->bytes;
	util_strlcpy(r->sha256, up->sha256_hex, sizeof(r->sha256));
	r->uploaded_at = util_now_ms();
	r->status = RECORD_PENDING;
	if (up->request_id != NULL)
		util_strlcpy(r->request_id, up->request_id,
			     sizeof(r->request_id));

	memset(&opts, 0, sizeof(opts));
	opts.content_type = r->content_type;
	opts.sha256_hex = up->sha256_hex;
	opts.move = true;
	rc = objstore_put_file(in->store, r->input_bucket, r->input_key,
			       up->tmp_path, &opts, err);
	if (rc != IP_OK)
		goto fail;
	stored = true;
	rc = table_put(in->table, r, err);
	if (rc == IP_EEXIST && cfg->events == EVENTS_STORE) {
		/* The store announced the object and a worker made the
		 * record before us: it is the same image. */
		return table_get(in->table, r->id, r, err);
	}
	if (rc != IP_OK)
		goto fail;
	recorded = true;
	if (cfg->events == EVENTS_STORE)
		return IP_OK; /* the store pushes ObjectCreated itself */
	rc = ingest_announce(in, r, err);
	if (rc != IP_OK)
		goto fail;
	return IP_OK;
fail : {
	struct ip_error undo;
	char prev[RECORD_ID_MAX];

	/* These lines concern the image: JSON lines name it (imageId). */
	util_strlcpy(prev, log_context_image(), sizeof(prev));
	log_context_set_image(r->id);
	log_warn("upload %s not committed: %s", r->id, err->msg);
	if (recorded && table_delete(in->table, r->id, &undo) != IP_OK)
		log_error("undo record %s: %s", r->id, undo.msg);
	if (stored && objstore_delete(in->store, r->input_bucket, r->input_key,
				      &undo) != IP_OK)
		log_error("undo object %s: %s", r->input_key, undo.msg);
	log_context_set_image(prev);
}
	return rc;
}

int
ingest_announce(struct ingest *in, const struct record *r, struct ip_error *err)
{
	/* The upload's request id rides in the event (the worker's lines
	 * name it); none when doctor re-announces. */
	char *ev = event_build_request(in->cfg->aws_region, r->input_bucket,
				       r->input_key, r->bytes, r->sha256,
				       r->uploaded_at, log_context_request());
	int rc;

	if (ev == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	rc = queue_send(in->queue, ev, strlen(ev), r->id, 0, err);
	free(ev);
	return rc;
}

bool
ingest_queues(const struct ingest *in)
{
	return in->queue != NULL && in->cfg->events == EVENTS_GATEWAY;
}

int
ingest_announce_reprocess(struct ingest *in, const struct record *r,
			  const char *variants, struct ip_error *err)
{
	char id[RECORD_ID_MAX];
	char sha[SHA256_HEX_SIZE];
	char dedup[RECORD_ID_MAX + 32];
	char *ev;
	int rc;

	if (function_key_id(r->input_key, id) != IP_OK ||
	    strcmp(id, r->id) != 0)
		return ip_error_set(err, IP_EINVAL,
				    "image %s: its original s3://%s/%s was "
				    "not uploaded through imgpipe, so an "
				    "event cannot name it",
				    r->id, r->input_bucket, r->input_key);
	ev = event_build_reprocess(in->cfg->aws_region, r->input_bucket,
				   r->input_key, r->bytes, r->sha256,
				   r->uploaded_at, variants);
	if (ev == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "not a list of variant names: '%.64s'",
				    variants);
	/* By image and names: another list is another request. */
	util_sha256_hex(variants, strlen(variants), sha);
	snprintf(dedup, sizeof(dedup), "%s:reprocess:%.16s", r->id, sha);
	rc = queue_send(in->queue, ev, strlen(ev), dedup, 0, err);
	free(ev);
	return rc;
}

/* Delete every object under "{id}/" in bucket: in the output bucket the
 * variants the record names and any a worker wrote after we read the
 * record; in the input bucket the original of a damaged record. */
static int
delete_prefix(struct ingest *in, const char *bucket, const char *id,
	      struct ip_error *err)
{
	char prefix[RECORD_ID_MAX + 2];
	char token[RECORD_KEY_MAX + 8] = "";
	int rc = IP_OK;

	snprintf(prefix, sizeof(prefix), "%s/", id);
	do {
		struct objstore_listing l;

		memset(&l, 0, sizeof(l));
		rc = objstore_list(in->store, bucket, prefix, token, 100, &l,
				   err);
		for (size_t i = 0; rc == IP_OK && i < l.n; i++)
			rc = objstore_delete(in->store, bucket, l.keys[i], err);
		util_strlcpy(token, l.next_token, sizeof(token));
		objstore_listing_free(&l);
	} while (rc == IP_OK && token[0] != '\0');
	return rc;
}

/*
 * DESIGN: original first, so a worker that has not yet claimed the image
 * cannot re-create the record from the object (pipeline.c builds records
 * for objects it finds); then the record, so a worker finishing later sees
 * IP_ENOTFOUND and takes its variants back; then every output under the id.
 */
int
ingest_delete(struct ingest *in, const char *id, struct ip_error *err)
{
	struct record r;
	int rc;

	if (!util_id_valid(id))
		return ip_error_set(err, IP_ENOTFOUND, "no image %.40s", id);
	rc = table_get(in->table, id, &r, err);
	if (rc == IP_EDAMAGED) {
		/* The record does not say where its original is: the
		 * gateway's keys are {id}/{name}, so it is under {id}/. */
		log_warn("delete %s: %s; deleting it by id", id, err->msg);
		rc = delete_prefix(in, in->cfg->input_bucket, id, err);
	} else if (rc == IP_OK) {
		rc = objstore_delete(in->store, r.input_bucket, r.input_key,
				     err);
	}
	if (rc != IP_OK)
		return rc;
	rc = table_delete(in->table, id, err);
	if (rc != IP_OK && rc != IP_ENOTFOUND)
		return rc;
	return delete_prefix(in, in->cfg->output_bucket, id, err);
}

/* Copy src into the data dir's tmp, hashing as we go (as the gateway
 * spools an upload). */
int
ingest_spool_file(const char *src, const char *tmpdir, char *path,
		  size_t path_len, char sha[SHA256_HEX_SIZE], int64_t *bytes,
		  struct ip_error *err)
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	char buf[1 << 16];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = -1;
	int rc = IP_OK;
	gsize n = 65;

	*bytes = 0;
	if (in < 0) {
		rc = ip_error_set(err, IP_EIO, "%s: %s", src, strerror(errno));
		goto done;
	}
	snprintf(path, path_len, "%s/spool-XXXXXX", tmpdir);
	out = mkostemp(path, O_CLOEXEC);
	if (out < 0) {
		rc = ip_error_set(err, IP_EIO, "%s: %s", path, strerror(errno));
		goto done;
	}
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = ip_error_set(err, IP_EIO, "%s: %s", src,
					  strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		g_checksum_update(ck, (const guchar *)buf, (gssize)r);
		int e = util_write_all(out, buf, (size_t)r);

		if (e != 0) {
			rc = ip_error_set(err, ip_errno_code(-e, IP_EIO),
					  "%s: %s", path, strerror(-e));
			goto done;
		}
		*bytes += r;
	}
	{
		guint8 digest[32];

		g_checksum_get_digest(ck, digest, &n);
		util_hex(digest, 32, sha);
	}
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc != IP_OK && out >= 0)
		unlink(path);
	g_checksum_free(ck);
	return rc;
}

int
ingest_file(struct ingest *in, const char *path, const char *tmpdir,
	    struct record *out, struct ip_error *err)
{
	struct ingest_upload up;
	char tmp[CONFIG_PATH_MAX + 32];
	char sha[SHA256_HEX_SIZE];
	int64_t bytes;
	int fd;
	int rc;

	rc =
	    ingest_spool_file(path, tmpdir, tmp, sizeof(tmp), sha, &bytes, err);
	if (rc != IP_OK)
		return rc;
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = ip_error_set(err, IP_EIO, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		return rc;
	}
	memset(&up, 0, sizeof(up));
	up.tmp_path = tmp;
	up.fd = fd;
	up.bytes = bytes;
	up.sha256_hex = sha;
	up.name = path;
	rc = ingest_commit(in, &up, out, err);
	close(fd);
	if (access(tmp, F_OK) == 0)
		unlink(tmp); /* not moved into the store */
	return rc;
}
