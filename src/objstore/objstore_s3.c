/*
 * objstore_s3.c - the object store on the S3 REST API (AWS S3, Ceph
 * radosgw, MinIO, Garage, R2, s3rver...), over libcurl with SigV4.
 *
 * Called through the objstore.h wrappers by the gateway, the workers and
 * the HTTP handlers, from any thread at once.  The struct is read-only
 * after open; all shared mutable state (the connection pool) is inside
 * the aws_client, which locks it.
 *
 * DESIGN
 *
 * Addressing: path style (http://HOST/BUCKET/KEY) for s3+http(s) URLs,
 * which is what self-hosted servers expect; virtual-hosted
 * (https://BUCKET.s3.REGION.amazonaws.com/KEY) for s3://.  Keys are
 * RFC 3986-encoded segment by segment, '/' kept: that encoded path is
 * what SigV4 signs for S3 (no double encoding), and curl sends it as is.
 *
 * Puts: put_file streams the file with x-amz-content-sha256 set to the
 * caller's hash of it (the gateway hashed the upload while spooling), or
 * one computed here; the server checks it, so a file that changed in
 * between is refused instead of stored wrong.  Above multipart_threshold
 * the file goes up in parts of part_size, each with its own hash, and a
 * failed upload is aborted so no parts linger.  Either way the object
 * appears whole or not at all (S3's own atomicity).
 *
 * Reads: open_read downloads into an unlinked temp file and hands out its
 * fd, so callers get a seekable file as from the fs backend, and nothing
 * of the object is held in memory.
 *
 * Listing tokens: "c" + the server's NextContinuationToken, or, when that
 * would not fit in objstore_listing.next_token, "k" + the last key
 * (ListObjectsV2's start-after).  Both are checked when they come back.
 *
 * Presigned URLs: SigV4 in the query string (aws_presign.c), addressed
 * like every other request; the store keeps a copy of its credentials
 * for them (the client holds its own).
 *
 * Capabilities: none (no rename, objects are not local files).
 */
#include "objstore/objstore_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws.h"
#include "objstore/objstore_s3_compat.h"
#include "core/log.h"
#include "core/util.h"

#define S3_URL_MAX 4096
#define S3_PART_MIN (5 * 1024 * 1024)
#define S3_PART_DEFAULT (8 * 1024 * 1024)
#define S3_PARTS_MAX 10000
#define S3_THRESHOLD_DEFAULT (16 * 1024 * 1024)
#define S3_LIST_MAX 1000
#define S3_LIST_REPLY_MAX (4 * 1024 * 1024)
#define S3_TMP_TEMPLATE "/tmp/imgpipe-s3-XXXXXX"
#define S3_TYPE_MAX sizeof(((struct objstore_stat *)NULL)->content_type)
#define S3_TOKEN_MAX sizeof(((struct objstore_listing *)NULL)->next_token)

struct s3_store {
	struct objstore base; /* first: the interface casts */
	struct aws_client *client;
	bool https;
	bool path_style;
	char host[AWS_HOST_MAX]; /* endpoint host[:port] */
	char ping_bucket[CONFIG_BUCKET_MAX];
	int64_t multipart_threshold;
	int64_t part_size;
	struct objstore_s3_compat compat; /* test-server workarounds */
	struct aws_creds creds; /* for presigned URLs only; wiped on close */
};

static const struct objstore_ops s3_ops;

static struct s3_store *
s3_store(struct objstore *s)
{
	return (struct s3_store *)s;
}

/*
 * The URL of bucket (and key, if not NULL) with an already canonical
 * query (may be NULL).  IP_EINVAL if it does not fit.
 */
static int
s3_url(const struct s3_store *s, const char *bucket, const char *key,
       const char *query, char *out, size_t size, struct ip_error *err)
{
	char ekey[RECORD_KEY_MAX * 3 + 1];
	const char *scheme = s->https ? "https" : "http";
	int n;

	ekey[0] = '\0';
	if (key != NULL && aws_uri_encode(key, true, ekey, sizeof(ekey)) < 0)
		return ip_error_set(err, IP_EINVAL, "key too long");
	if (s->path_style)
		n = snprintf(out, size, "%s://%s/%s%s%s%s%s", scheme, s->host,
			     bucket, key != NULL ? "/" : "", ekey,
			     query != NULL ? "?" : "",
			     query != NULL ? query : "");
	else
		n = snprintf(out, size, "%s://%s.%s/%s%s%s", scheme, bucket,
			     s->host, ekey, query != NULL ? "?" : "",
			     query != NULL ? query : "");
	if (n < 0 || (size_t)n >= size)
		return ip_error_set(err, IP_EINVAL, "URL too long");
	return IP_OK;
}

static int
s3_check(const char *bucket, const char *key, struct ip_error *err)
{
	if (!objstore_bucket_valid(bucket))
		return ip_error_set(err, IP_EINVAL, "invalid bucket name");
	if (key != NULL && !objstore_key_valid(key))
		return ip_error_set(err, IP_EINVAL, "invalid object key");
	return IP_OK;
}

static bool
content_type_ok(const char *ct)
{
	size_t n = strnlen(ct, S3_TYPE_MAX);

	if (n >= S3_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ct[i] < 0x20 || ct[i] > 0x7e)
			return false;
	return true;
}

static bool
sha_ok(const char *h)
{
	if (strlen(h) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') ||
		      (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

/* Validate opts; *ct_header receives "Content-Type: ..." or "". */
static int
s3_put_opts(const struct objstore_put_opts *opts, char *ct_header, size_t size,
	    struct ip_error *err)
{
	ct_header[0] = '\0';
	if (opts == NULL)
		return IP_OK;
	if (opts->sha256_hex != NULL && !sha_ok(opts->sha256_hex))
		return ip_error_set(err, IP_EINVAL,
				    "sha256 must be 64 lower-case hex digits");
	if (opts->content_type != NULL && opts->content_type[0] != '\0') {
		if (!content_type_ok(opts->content_type))
			return ip_error_set(err, IP_EINVAL,
					    "invalid content type");
		snprintf(ct_header, size, "Content-Type: %s",
			 opts->content_type);
	}
	return IP_OK;
}

static void
s3_fill_stat(const struct aws_response *rs, int64_t size,
	     struct objstore_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->size = size;
	st->mtime_ms = rs->last_modified_ms;
	util_strlcpy(st->etag, rs->etag, sizeof(st->etag));
	if (content_type_ok(rs->content_type))
		util_strlcpy(st->content_type, rs->content_type,
			     sizeof(st->content_type));
}

/* One request without a body (or with a small memory body). */
static int
s3_simple(struct s3_store *s, const char *method, const char *url,
	  const char *const *headers, const void *body, size_t len,
	  size_t reply_max, struct aws_response *rs, struct ip_error *err)
{
	struct aws_request rq = {
	    .method = method,
	    .url = url,
	    .headers = headers,
	    .body = body,
	    .body_fd = -1,
	    .body_len = (int64_t)len,
	    .out_fd = -1,
	    .reply_max = reply_max,
	};

	return aws_request_perform(s->client, &rq, rs, err);
}

static int
s3_put_buffer(struct objstore *os, const char *bucket, const char *key,
	      const void *data, size_t len,
	      const struct objstore_put_opts *opts, struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	char url[S3_URL_MAX];
	char ct[S3_TYPE_MAX + 16];
	const char *headers[2] = {NULL, NULL};
	struct aws_request rq;
	struct aws_response rs;
	int rc;

	rc = s3_check(bucket, key, err);
	if (rc == IP_OK && data == NULL && len > 0)
		rc = ip_error_set(err, IP_EINVAL, "put: no data");
	if (rc == IP_OK)
		rc = s3_put_opts(opts, ct, sizeof(ct), err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, key, NULL, url, sizeof(url), err);
	if (rc != IP_OK)
		return rc;
	if (ct[0] != '\0')
		headers[0] = ct;
	memset(&rq, 0, sizeof(rq));
	rq.method = "PUT";
	rq.url = url;
	rq.headers = headers;
	rq.body = data != NULL ? data : "";
	rq.body_fd = -1;
	rq.body_len = (int64_t)len;
	rq.payload_sha256 = opts != NULL ? opts->sha256_hex : NULL;
	rq.out_fd = -1;
	objstore_s3_compat_write_begin(&s->compat);
	rc = aws_request_perform(s->client, &rq, &rs, err);
	objstore_s3_compat_end(&s->compat);
	aws_response_free(&rs);
	return rc;
}

/* ---- multipart ------------------------------------------------------- */

struct s3_upload {
	char id[512];
	size_t n_parts;
	char (*etags)[80];
};

static int
s3_mp_create(struct s3_store *s, const char *bucket, const char *key,
	     const char *const *headers, struct s3_upload *up,
	     struct ip_error *err)
{
	static const char *const names[] = {"uploads"};
	char query[32];
	char url[S3_URL_MAX];
	struct aws_response rs;
	long n;
	int rc;

	rc = aws_query_build(names, NULL, 1, query, sizeof(query), err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, key, query, url, sizeof(url), err);
	if (rc != IP_OK)
		return rc;
	rc = s3_simple(s, "POST", url, headers, "", 0, 0, &rs, err);
	if (rc == IP_OK) {
		n = aws_xml_element(buf_str(&rs.body), rs.body.len, 0,
				    "UploadId", up->id, sizeof(up->id), NULL);
		if (n <= 0)
			rc = ip_error_set(err, IP_EBACKEND,
					  "s3 multipart: no UploadId in the "
					  "reply");
	}
	aws_response_free(&rs);
	return rc;
}

static int
s3_mp_url(struct s3_store *s, const char *bucket, const char *key,
	  const struct s3_upload *up, size_t part, char *url, size_t size,
	  struct ip_error *err)
{
	const char *names[2] = {"uploadId", "partNumber"};
	char num[24];
	const char *values[2] = {up->id, num};
	char query[sizeof(up->id) * 3 + 64];
	int rc;

	snprintf(num, sizeof(num), "%zu", part);
	rc = aws_query_build(names, values, part > 0 ? 2 : 1, query,
			     sizeof(query), err);
	if (rc != IP_OK)
		return rc;
	return s3_url(s, bucket, key, query, url, size, err);
}

static int
s3_mp_part(struct s3_store *s, const char *bucket, const char *key, int fd,
	   struct s3_upload *up, size_t part, int64_t off, int64_t len,
	   struct ip_error *err)
{
	char url[S3_URL_MAX];
	char sha[SHA256_HEX_SIZE];
	struct aws_request rq;
	struct aws_response rs;
	int rc;

	rc = s3_mp_url(s, bucket, key, up, part, url, sizeof(url), err);
	if (rc == IP_OK)
		rc = aws_sha256_fd(fd, off, len, sha, err);
	if (rc != IP_OK)
		return rc;
	memset(&rq, 0, sizeof(rq));
	rq.method = "PUT";
	rq.url = url;
	rq.body_fd = fd;
	rq.body_off = off;
	rq.body_len = len;
	rq.payload_sha256 = sha;
	rq.out_fd = -1;
	rc = aws_request_perform(s->client, &rq, &rs, err);
	if (rc == IP_OK && rs.etag[0] == '\0')
		rc = ip_error_set(err, IP_EBACKEND,
				  "s3 multipart: part %zu without ETag", part);
	if (rc == IP_OK)
		util_strlcpy(up->etags[part - 1], rs.etag,
			     sizeof(up->etags[0]));
	aws_response_free(&rs);
	return rc;
}

static int
s3_mp_complete(struct s3_store *s, const char *bucket, const char *key,
	       const struct s3_upload *up, struct ip_error *err)
{
	static const char head[] = "<CompleteMultipartUpload xmlns="
				   "\"http://s3.amazonaws.com/doc/2006-03-01/"
				   "\">";
	static const char tail[] = "</CompleteMultipartUpload>";
	const char *headers[] = {"Content-Type: application/xml", NULL};
	char url[S3_URL_MAX];
	char code[AWS_CODE_MAX];
	char msg[AWS_MESSAGE_MAX];
	struct aws_response rs;
	size_t cap = sizeof(head) + sizeof(tail) + up->n_parts * 160;
	size_t o = 0;
	char *xml;
	int rc;

	rc = s3_mp_url(s, bucket, key, up, 0, url, sizeof(url), err);
	if (rc != IP_OK)
		return rc;
	xml = malloc(cap);
	if (xml == NULL)
		return ip_error_set(err, IP_ENOMEM, "multipart complete");
	o += (size_t)snprintf(xml + o, cap - o, "%s", head);
	for (size_t i = 0; i < up->n_parts; i++)
		o += (size_t)snprintf(xml + o, cap - o,
				      "<Part><PartNumber>%zu</PartNumber>"
				      "<ETag>\"%s\"</ETag></Part>",
				      i + 1, up->etags[i]);
	o += (size_t)snprintf(xml + o, cap - o, "%s", tail);
	rc = s3_simple(s, "POST", url, headers, xml, o, 0, &rs, err);
	/* S3 may answer 200 and still fail: the error is in the body. */
	if (rc == IP_OK &&
	    aws_xml_element(buf_str(&rs.body), rs.body.len, 0, "Error", msg, 2,
			    NULL) != -1 &&
	    aws_xml_error(buf_str(&rs.body), rs.body.len, code, sizeof(code),
			  msg, sizeof(msg)))
		rc = ip_error_set(err, aws_error_map(500, code),
				  "s3 multipart complete: %s: %s", code, msg);
	aws_response_free(&rs);
	free(xml);
	return rc;
}

static void
s3_mp_abort(struct s3_store *s, const char *bucket, const char *key,
	    const struct s3_upload *up)
{
	char url[S3_URL_MAX];
	struct aws_response rs;
	struct ip_error err;

	if (s3_mp_url(s, bucket, key, up, 0, url, sizeof(url), &err) == IP_OK &&
	    s3_simple(s, "DELETE", url, NULL, NULL, 0, 0, &rs, &err) != IP_OK)
		log_warn("s3: abort of multipart upload of %s/%s failed "
			 "(parts may linger until a lifecycle rule expires "
			 "them): %s",
			 bucket, key, err.msg);
	aws_response_free(&rs);
}

static int
s3_put_multipart(struct s3_store *s, const char *bucket, const char *key,
		 int fd, int64_t size, const char *const *headers,
		 struct ip_error *err)
{
	struct s3_upload up;
	int64_t part = s->part_size;
	int rc;

	memset(&up, 0, sizeof(up));
	while ((size + part - 1) / part > S3_PARTS_MAX)
		part *= 2;
	up.n_parts = (size_t)((size + part - 1) / part);
	up.etags = calloc(up.n_parts, sizeof(*up.etags));
	if (up.etags == NULL)
		return ip_error_set(err, IP_ENOMEM, "multipart parts");
	rc = s3_mp_create(s, bucket, key, headers, &up, err);
	if (rc != IP_OK)
		goto out;
	for (size_t i = 0; i < up.n_parts && rc == IP_OK; i++) {
		int64_t off = (int64_t)i * part;
		int64_t len = size - off < part ? size - off : part;

		rc = s3_mp_part(s, bucket, key, fd, &up, i + 1, off, len, err);
	}
	if (rc == IP_OK)
		rc = s3_mp_complete(s, bucket, key, &up, err);
	if (rc != IP_OK) {
		ip_error_prefix(err, "multipart upload");
		s3_mp_abort(s, bucket, key, &up);
	}
out:
	free(up.etags);
	return rc;
}

static int
s3_put_file(struct objstore *os, const char *bucket, const char *key,
	    const char *src_path, const struct objstore_put_opts *opts,
	    struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	char url[S3_URL_MAX];
	char ct[S3_TYPE_MAX + 16];
	char sha[SHA256_HEX_SIZE];
	const char *headers[2] = {NULL, NULL};
	struct aws_request rq;
	struct aws_response rs;
	struct stat sb;
	int fd = -1;
	int rc;

	rc = s3_check(bucket, key, err);
	if (rc == IP_OK)
		rc = s3_put_opts(opts, ct, sizeof(ct), err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, key, NULL, url, sizeof(url), err);
	if (rc != IP_OK)
		return rc;
	if (ct[0] != '\0')
		headers[0] = ct;
	fd = open(src_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return ip_error_set(err,
				    errno == ENOENT ? IP_ENOTFOUND : IP_EIO,
				    "open %s: %s", src_path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = ip_error_set(err, IP_EINVAL, "%s is not a regular file",
				  src_path);
		goto out;
	}
	if ((int64_t)sb.st_size > s->multipart_threshold) {
		objstore_s3_compat_write_begin(&s->compat);
		rc = s3_put_multipart(s, bucket, key, fd, (int64_t)sb.st_size,
				      headers, err);
		objstore_s3_compat_end(&s->compat);
		goto done;
	}
	if (opts != NULL && opts->sha256_hex != NULL) {
		util_strlcpy(sha, opts->sha256_hex, sizeof(sha));
	} else {
		rc = aws_sha256_fd(fd, 0, (int64_t)sb.st_size, sha, err);
		if (rc != IP_OK)
			goto out;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = "PUT";
	rq.url = url;
	rq.headers = headers;
	rq.body_fd = fd;
	rq.body_len = (int64_t)sb.st_size;
	rq.payload_sha256 = sha;
	rq.out_fd = -1;
	objstore_s3_compat_write_begin(&s->compat);
	rc = aws_request_perform(s->client, &rq, &rs, err);
	objstore_s3_compat_end(&s->compat);
	aws_response_free(&rs);
done:
	/* Like the fs backend's copy fallback: a moved file is consumed. */
	if (rc == IP_OK && opts != NULL && opts->move)
		unlink(src_path);
out:
	close(fd);
	return rc;
}

/* An unlinked, read-write temp file in /tmp for a download (O_TMPFILE,
 * or mkstemp and unlink); the caller closes the fd. */
static int
s3_tmpfile(int *fd_out, struct ip_error *err)
{
	char path[] = S3_TMP_TEMPLATE;
	int fd;

	*fd_out = -1;
	fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0)
			return ip_error_set(err, IP_EIO, "temp file: %s",
					    strerror(errno));
		unlink(path);
	}
	*fd_out = fd;
	return IP_OK;
}

static int
s3_open_read(struct objstore *os, const char *bucket, const char *key,
	     int *fd_out, struct objstore_stat *st, struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	char url[S3_URL_MAX];
	struct aws_request rq;
	struct aws_response rs;
	struct stat sb;
	int fd = -1;
	int rc;

	*fd_out = -1;
	memset(&rs, 0, sizeof(rs));
	rc = s3_check(bucket, key, err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, key, NULL, url, sizeof(url), err);
	if (rc == IP_OK)
		rc = s3_tmpfile(&fd, err);
	if (rc != IP_OK)
		return rc;
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.body_fd = -1;
	rq.out_fd = fd;
	objstore_s3_compat_read_begin(&s->compat);
	rc = aws_request_perform(s->client, &rq, &rs, err);
	objstore_s3_compat_end(&s->compat);
	if (rc != IP_OK)
		goto out;
	if (fstat(fd, &sb) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
		rc =
		    ip_error_set(err, IP_EIO, "temp file: %s", strerror(errno));
		goto out;
	}
	if (rs.content_length >= 0 && rs.content_length != sb.st_size) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "s3 GET %s/%s: got %lld of %lld bytes",
				  bucket, key, (long long)sb.st_size,
				  (long long)rs.content_length);
		goto out;
	}
	if (st != NULL)
		s3_fill_stat(&rs, (int64_t)sb.st_size, st);
	*fd_out = fd;
	fd = -1;
out:
	aws_response_free(&rs);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
s3_head(struct objstore *os, const char *bucket, const char *key,
	struct objstore_stat *st, struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	char url[S3_URL_MAX];
	struct aws_response rs;
	int rc;

	rc = s3_check(bucket, key, err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, key, NULL, url, sizeof(url), err);
	if (rc != IP_OK)
		return rc;
	objstore_s3_compat_read_begin(&s->compat);
	rc = s3_simple(s, "HEAD", url, NULL, NULL, 0, 0, &rs, err);
	objstore_s3_compat_end(&s->compat);
	if (rc == IP_OK && rs.content_length < 0)
		rc = ip_error_set(err, IP_EBACKEND,
				  "s3 HEAD %s/%s: no Content-Length", bucket,
				  key);
	if (rc == IP_OK && st != NULL)
		s3_fill_stat(&rs, rs.content_length, st);
	aws_response_free(&rs);
	return rc;
}

static int
s3_del(struct objstore *os, const char *bucket, const char *key,
       struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	char url[S3_URL_MAX];
	struct aws_response rs;
	int rc;

	rc = s3_check(bucket, key, err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, key, NULL, url, sizeof(url), err);
	if (rc != IP_OK)
		return rc;
	objstore_s3_compat_write_begin(&s->compat);
	rc = s3_simple(s, "DELETE", url, NULL, NULL, 0, 0, &rs, err);
	objstore_s3_compat_end(&s->compat);
	/* S3 answers 204 for a missing key; some servers say NoSuchKey. */
	if (rc == IP_ENOTFOUND && strcmp(rs.code, "NoSuchBucket") != 0) {
		ip_error_clear(err);
		rc = IP_OK;
	}
	aws_response_free(&rs);
	return rc;
}

/* ---- listing --------------------------------------------------------- */

static bool
token_text_ok(const char *t)
{
	for (; *t != '\0'; t++)
		if (*t < 0x21 || *t > 0x7e)
			return false;
	return true;
}

/* Append one entry to out (capacity max). */
static int
list_add(struct objstore_listing *out, const char *key, int64_t size,
	 struct ip_error *err)
{
	char *dup = strdup(key);

	if (dup == NULL)
		return ip_error_set(err, IP_ENOMEM, "list");
	out->keys[out->n] = dup;
	out->sizes[out->n] = size;
	out->n++;
	return IP_OK;
}

int
objstore_s3_parse_list(const char *xml, size_t len, size_t max,
		       struct objstore_listing *out, bool *truncated,
		       struct ip_error *err)
{
	char key[RECORD_KEY_MAX];
	char num[32];
	char last[RECORD_KEY_MAX] = "";
	char token[S3_TOKEN_MAX - 1];
	size_t pos = 0;
	size_t entries = 0;
	long n;
	int rc = IP_OK;

	memset(out, 0, sizeof(*out));
	*truncated = false;
	if (xml == NULL || max < 1 || max > S3_LIST_MAX ||
	    memmem(xml, len, "<ListBucketResult", 17) == NULL)
		return ip_error_set(err, IP_EBACKEND,
				    "s3 list: not a ListObjectsV2 reply");
	out->keys = calloc(max, sizeof(*out->keys));
	out->sizes = calloc(max, sizeof(*out->sizes));
	if (out->keys == NULL || out->sizes == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "list");
		goto out;
	}
	for (;;) {
		const char *otag;
		char *end;
		size_t block_end;
		long long size;

		/* The <Contents> block bounds the search for its fields. */
		otag = memmem(xml + pos, len - pos, "<Contents>", 10);
		if (otag == NULL)
			break;
		pos = (size_t)(otag - xml);
		end = memmem(xml + pos, len - pos, "</Contents>", 11);
		if (end == NULL) {
			rc = ip_error_set(err, IP_EBACKEND,
					  "s3 list: unterminated <Contents>");
			goto out;
		}
		block_end = (size_t)(end - xml);
		if (++entries > max) {
			rc =
			    ip_error_set(err, IP_EBACKEND,
					 "s3 list: more than %zu entries", max);
			goto out;
		}
		n = aws_xml_element(xml, block_end, pos, "Key", key,
				    sizeof(key), NULL);
		if (n <= 0) {
			rc = ip_error_set(err, IP_EBACKEND,
					  "s3 list: entry without a usable "
					  "<Key>");
			goto out;
		}
		n = aws_xml_element(xml, block_end, pos, "Size", num,
				    sizeof(num), NULL);
		errno = 0;
		size = n > 0 ? strtoll(num, &end, 10) : -1;
		if (n <= 0 || errno != 0 || *end != '\0' || size < 0) {
			rc = ip_error_set(err, IP_EBACKEND,
					  "s3 list: bad <Size> of %s", key);
			goto out;
		}
		util_strlcpy(last, key, sizeof(last));
		pos = block_end + 11;
		if (!objstore_key_valid(key)) {
			log_warn("s3 list: skipping key not valid here: %.80s",
				 key);
			continue;
		}
		rc = list_add(out, key, (int64_t)size, err);
		if (rc != IP_OK)
			goto out;
	}
	n = aws_xml_element(xml, len, 0, "IsTruncated", num, sizeof(num), NULL);
	*truncated = n > 0 && strcmp(num, "true") == 0;
	if (!*truncated)
		goto out;
	n = aws_xml_element(xml, len, 0, "NextContinuationToken", token,
			    sizeof(token), NULL);
	if (n > 0 && token_text_ok(token)) {
		snprintf(out->next_token, sizeof(out->next_token), "c%s",
			 token);
	} else if (last[0] != '\0' && objstore_key_valid(last)) {
		snprintf(out->next_token, sizeof(out->next_token), "k%s", last);
	} else {
		rc = ip_error_set(err, IP_EBACKEND,
				  "s3 list: truncated without a usable "
				  "continuation token");
	}
out:
	if (rc != IP_OK) {
		objstore_listing_free(out);
		*truncated = false;
	}
	return rc;
}

/* One ListObjectsV2 request: the server's page, in the server's order. */
static int
s3_list_page(struct s3_store *s, const char *bucket, const char *prefix,
	     const char *token, size_t max, struct objstore_listing *out,
	     struct ip_error *err)
{
	const char *names[4];
	const char *values[4];
	size_t np = 0;
	char maxs[16];
	char *query = NULL;
	char *url = NULL;
	size_t qsize = (RECORD_KEY_MAX + S3_TOKEN_MAX) * 3 + 128;
	struct aws_response rs;
	bool truncated;
	int rc;

	/* bucket, max and prefix are checked by s3_list. */
	memset(out, 0, sizeof(*out));
	memset(&rs, 0, sizeof(rs));
	if (token != NULL && token[0] != '\0') {
		if (token[0] == 'c' && token[1] != '\0' &&
		    token_text_ok(token + 1)) {
			names[np] = "continuation-token";
		} else if (token[0] == 'k' && objstore_key_valid(token + 1)) {
			names[np] = "start-after";
		} else {
			return ip_error_set(err, IP_EINVAL,
					    "list: invalid token");
		}
		values[np++] = token + 1;
	}
	snprintf(maxs, sizeof(maxs), "%zu", max);
	names[np] = "list-type";
	values[np++] = "2";
	names[np] = "max-keys";
	values[np++] = maxs;
	if (prefix != NULL && prefix[0] != '\0') {
		names[np] = "prefix";
		values[np++] = prefix;
	}
	query = malloc(qsize);
	url = malloc(S3_URL_MAX + qsize);
	if (query == NULL || url == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "list");
		goto out;
	}
	rc = aws_query_build(names, values, np, query, qsize, err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, NULL, query, url, S3_URL_MAX + qsize,
			    err);
	if (rc == IP_OK) {
		objstore_s3_compat_read_begin(&s->compat);
		rc = s3_simple(s, "GET", url, NULL, NULL, 0, S3_LIST_REPLY_MAX,
			       &rs, err);
		objstore_s3_compat_end(&s->compat);
	}
	if (rc == IP_OK)
		rc = objstore_s3_parse_list(buf_str(&rs.body), rs.body.len, max,
					    out, &truncated, err);
out:
	aws_response_free(&rs);
	free(query);
	free(url);
	return rc;
}

/* s3_list_page for objstore_s3_compat_list: the prefix of one listing. */
struct s3_list_arg {
	struct s3_store *s;
	const char *bucket;
	const char *prefix;
};

static int
s3_list_page_fn(void *arg, const char *token, size_t max,
		struct objstore_listing *out, struct ip_error *err)
{
	struct s3_list_arg *a = arg;

	return s3_list_page(a->s, a->bucket, a->prefix, token, max, out, err);
}

static int
s3_list(struct objstore *os, const char *bucket, const char *prefix,
	const char *token, size_t max, struct objstore_listing *out,
	struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	int rc;

	memset(out, 0, sizeof(*out));
	rc = s3_check(bucket, NULL, err);
	if (rc != IP_OK)
		return rc;
	if (max < 1 || max > S3_LIST_MAX)
		return ip_error_set(err, IP_EINVAL, "list: max must be 1..%d",
				    S3_LIST_MAX);
	if (prefix != NULL && strnlen(prefix, RECORD_KEY_MAX) >= RECORD_KEY_MAX)
		return ip_error_set(err, IP_EINVAL, "list: prefix too long");
	if (s->compat.list_sort) {
		struct s3_list_arg a = {s, bucket, prefix};

		return objstore_s3_compat_list(s3_list_page_fn, &a, token, max,
					       S3_LIST_MAX, out, err);
	}
	return s3_list_page(s, bucket, prefix, token, max, out, err);
}

/* ---- buckets, ping --------------------------------------------------- */

/* A cheap authenticated GET whose error reply explains itself. */
static int
s3_probe(struct s3_store *s, const char *bucket, struct ip_error *err)
{
	struct objstore_listing l;
	int rc = s3_list(&s->base, bucket, NULL, NULL, 1, &l, err);

	objstore_listing_free(&l);
	return rc;
}

static int
s3_ensure_bucket(struct objstore *os, const char *bucket, struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	const char *region = aws_client_region(s->client);
	char url[S3_URL_MAX];
	char body[256];
	size_t blen = 0;
	struct aws_response rs;
	int rc;

	rc = s3_check(bucket, NULL, err);
	if (rc == IP_OK)
		rc = s3_url(s, bucket, NULL, NULL, url, sizeof(url), err);
	if (rc != IP_OK)
		return rc;
	/* HEAD first: a role allowed to use but not create the bucket
	 * must not fail here. */
	rc = s3_simple(s, "HEAD", url, NULL, NULL, 0, 0, &rs, err);
	aws_response_free(&rs);
	if (rc == IP_OK)
		return IP_OK;
	if (rc != IP_ENOTFOUND) {
		/* HEAD replies have no body: ask again for the reason. */
		if (rc == IP_EAUTH || rc == IP_EFORBIDDEN) {
			int rc2 = s3_probe(s, bucket, err);

			if (rc2 != IP_OK)
				return rc2;
		}
		return rc;
	}
	if (strcmp(region, "us-east-1") != 0)
		blen = (size_t)snprintf(body, sizeof(body),
					"<CreateBucketConfiguration xmlns="
					"\"http://s3.amazonaws.com/doc/"
					"2006-03-01/\"><LocationConstraint>"
					"%s</LocationConstraint>"
					"</CreateBucketConfiguration>",
					region);
	{
		struct aws_request rq = {
		    .method = "PUT",
		    .url = url,
		    .body = body,
		    .body_fd = -1,
		    .body_len = (int64_t)blen,
		    .out_fd = -1,
		};

		rc = aws_request_perform(s->client, &rq, &rs, err);
	}
	if (rc == IP_EEXIST &&
	    strcmp(rs.code, "BucketAlreadyOwnedByYou") == 0) {
		ip_error_clear(err);
		rc = IP_OK;
	}
	aws_response_free(&rs);
	if (rc == IP_OK)
		log_info("s3: created bucket %s", bucket);
	return rc;
}

static int
s3_ping(struct objstore *os, struct ip_error *err)
{
	struct s3_store *s = s3_store(os);

	return s3_probe(s, s->ping_bucket, err);
}

static void
s3_close(struct objstore *os)
{
	struct s3_store *s = s3_store(os);

	aws_client_free(s->client);
	objstore_s3_compat_destroy(&s->compat);
	memset(&s->creds, 0, sizeof(s->creds));
	free(s);
}

/* ---- presigned URLs ------------------------------------------------- */

/* Addressed as every other request of this store (path style or
 * virtual-hosted), so the client reaches the same server. */
static int
s3_presign(struct objstore *os, const char *bucket, const char *key,
	   const char *method, int64_t expires_s, char *url, size_t len,
	   struct ip_error *err)
{
	struct s3_store *s = s3_store(os);
	char ekey[RECORD_KEY_MAX * 3 + 1];
	char path[sizeof(ekey) + CONFIG_BUCKET_MAX + 2];
	char host[AWS_HOST_MAX + CONFIG_BUCKET_MAX + 1];
	struct aws_presign_request rq = {
	    .method = method,
	    .https = s->https,
	    .host = host,
	    .path = path,
	    .service = "s3",
	    .expires_s = expires_s,
	    .now_s = (int64_t)time(NULL),
	};
	int rc = s3_check(bucket, key, err);

	if (rc != IP_OK)
		return rc;
	if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0)
		return ip_error_set(err, IP_EINVAL, "presign: method %s",
				    method);
	if (aws_uri_encode(key, true, ekey, sizeof(ekey)) < 0)
		return ip_error_set(err, IP_EINVAL, "key too long");
	if (s->path_style) {
		util_strlcpy(host, s->host, sizeof(host));
		snprintf(path, sizeof(path), "/%s/%s", bucket, ekey);
	} else {
		snprintf(host, sizeof(host), "%s.%s", bucket, s->host);
		snprintf(path, sizeof(path), "/%s", ekey);
	}
	return aws_presign_url(&s->creds, &rq, url, len, err);
}

/* ---- open ------------------------------------------------------------ */

static const char *const s3_params[] = {
    "region",	"path_style", "multipart_threshold",	 "part_size",
    "attempts", "timeout",    OBJSTORE_S3_COMPAT_PARAMS, NULL,
};

int
objstore_s3_open(const struct config *cfg, struct objstore **out,
		 struct ip_error *err)
{
	struct s3_store *s = NULL;
	struct aws_url u;
	struct aws_creds creds;
	struct aws_client_opts copts = {.service = "s3"};
	int rc;

	*out = NULL;
	memset(&creds, 0, sizeof(creds));
	rc = aws_url_parse(cfg->objstore, "s3", s3_params, &u, err);
	if (rc != IP_OK)
		goto fail;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "objstore s3");
		goto fail;
	}
	s->base.ops = &s3_ops;
	rc = objstore_s3_compat_init(&s->compat, &u.query, err);
	if (rc != IP_OK)
		goto fail;
	s->https = u.https;
	rc = query_bool(&u.query, "path_style", !u.aws, &s->path_style, err);
	if (rc == IP_OK)
		rc = query_int(&u.query, "multipart_threshold",
			       S3_THRESHOLD_DEFAULT, S3_PART_MIN,
			       INT64_C(5) << 40, &s->multipart_threshold, err);
	if (rc == IP_OK)
		rc = query_int(&u.query, "part_size", S3_PART_DEFAULT,
			       S3_PART_MIN, INT64_C(5) << 30, &s->part_size,
			       err);
	if (rc == IP_OK)
		rc = aws_url_client_opts(&u, &copts, err);
	copts.ca_file = cfg->aws_ca_file;
	if (rc == IP_OK)
		rc = aws_creds_load(cfg, query_get(&u.query, "region"), &creds,
				    err);
	if (rc != IP_OK)
		goto fail;
	if (u.aws)
		snprintf(s->host, sizeof(s->host), "s3.%s.amazonaws.com",
			 creds.region);
	else
		util_strlcpy(s->host, u.host, sizeof(s->host));
	util_strlcpy(s->ping_bucket, cfg->input_bucket, sizeof(s->ping_bucket));
	rc = aws_client_new(&creds, &copts, &s->client, err);
	if (rc != IP_OK)
		goto fail;
	s->creds = creds;
	memset(&creds, 0, sizeof(creds));
	*out = &s->base;
	return IP_OK;
fail:
	memset(&creds, 0, sizeof(creds));
	ip_error_prefix(err, "objstore s3");
	if (s != NULL)
		s3_close(&s->base);
	return rc;
}

static const struct objstore_ops s3_ops = {
    .name = "s3",
    .close = s3_close,
    .ping = s3_ping,
    .ensure_bucket = s3_ensure_bucket,
    .put_file = s3_put_file,
    .put_buffer = s3_put_buffer,
    .open_read = s3_open_read,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .presign = s3_presign,
};
