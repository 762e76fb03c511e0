/*
 * ingest.h - what the gateway does with an upload once its bytes are in a
 * local temporary file: check it, commit it, announce it.
 *
 * ingest_commit is the durability point of DESIGN §1.1: when it returns
 * IP_OK the original is durable in the input bucket, the `pending` record
 * is committed and the ObjectCreated event is queued, so a 202 may be sent.
 * On any failure it undoes what it did (object, record) and the caller
 * removes the temp file: a refused upload leaves nothing behind.
 *
 * Thread-safety: any thread; struct ingest is shared read-only.
 */
#ifndef IMGPIPE_INGEST_H
#define IMGPIPE_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/record.h"

struct config;
struct objstore;
struct table;
struct queue;
struct imgproc;

/* The backends the commit step writes to, borrowed (app.c fills one per
 * process, beside the function's).  Read-only once filled. */
struct ingest {
	const struct config *cfg;
	struct objstore *store;
	struct table *table;
	struct queue *queue;
	struct imgproc *img; /* for the header probe */
};

struct ingest_upload {
	const char *tmp_path; /* temp file holding the body (the store makes
			       * its copy durable) */
	int fd; /* open on tmp_path, for probing */
	int64_t bytes;
	const char *sha256_hex; /* computed while streaming */
	const char *name; /* client file name, raw (sanitised here) */
	const char *request_id; /* the upload's X-Request-Id, or NULL */
};

/* Sanitise a client file name: keep the last path segment (after '/' or
 * '\\'), drop control characters and invalid UTF-8, trim spaces and dots
 * at the ends, cap at max_bytes without splitting a UTF-8 sequence.  An
 * empty result becomes "image".  out_len must exceed max_bytes. */
void ingest_sanitize_name(const char *in, size_t max_bytes, char *out,
			  size_t out_len);

/* Probe (header only, limits), then commit as above.  The temp file is
 * moved into the store when the backend can (the caller must then not
 * unlink it; up->tmp_path no longer exists) - check with access(). */
int ingest_commit(struct ingest *in, const struct ingest_upload *up,
		  struct record *out, struct ip_error *err);

/* Queue the ObjectCreated event of r's original (r->input_bucket,
 * input_key, bytes, sha256, uploaded_at), deduplicated by r->id: the
 * gateway's commit, start-up recovery and `imgpipe doctor --repair`. */
int ingest_announce(struct ingest *in, const struct record *r,
		    struct ip_error *err);

/* Whether this process announces objects through its queue (a queue is
 * open and storage.events = gateway); otherwise the store announces them
 * (storage.events = store, the Lambda host), or nothing does. */
bool ingest_queues(const struct ingest *in);

/* Queue a reprocess event (event_build_reprocess) for r's original,
 * naming the presets to remake in variants ("a,b"), deduplicated by
 * r->id and those names: a second request for the same image and
 * names while the first is queued adds nothing.  IP_EINVAL when r's
 * input key does not name r (an object that reached the bucket
 * without the gateway: its event would name another image) or
 * variants is not a list of names; the queue's codes otherwise.  Used
 * by `imgpipe reprocess` and POST /v1/images/{id}/reprocess. */
int ingest_announce_reprocess(struct ingest *in, const struct record *r,
			      const char *variants, struct ip_error *err);

/* Remove variants, original and record of id.  IP_ENOTFOUND if no such
 * record.  A damaged record (IP_EDAMAGED from table_get) is removed too,
 * with every object under {id}/ in both buckets. */
int ingest_delete(struct ingest *in, const char *id, struct ip_error *err);

/* Copy the local file src into tmpdir (a new "spool-XXXXXX" file whose
 * name goes to path), computing its SHA-256 (hex, 65 bytes) and size as
 * the gateway does for an upload.  On failure nothing is left behind.
 * Used by `imgpipe process` and the benchmarks. */
int ingest_spool_file(const char *src, const char *tmpdir, char *path,
		      size_t path_len, char sha[SHA256_HEX_SIZE],
		      int64_t *bytes, struct ip_error *err);

/* A local file as an upload: spool it into tmpdir, then ingest_commit
 * with the file's name.  The file itself is not touched. */
int ingest_file(struct ingest *in, const char *path, const char *tmpdir,
		struct record *out, struct ip_error *err);

#endif
