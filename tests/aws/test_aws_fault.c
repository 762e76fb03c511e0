/*
 * test_aws_fault.c - fault tests of the S3 and DynamoDB backends against
 * a tiny fault-injecting HTTP server run by this test (a fake is the only
 * way to make a server answer 503 on cue): retries with backoff until
 * success, bounded attempts, no retry on 4xx, a download retried from
 * scratch, an endpoint that is down, multipart uploads aborted on failure,
 * and what every request carries (payload hash, SigV4 scope, session
 * token).  The real servers are exercised by the contract tests and
 * test_aws_live.c.
 *
 * Threads: the fake server runs in one thread of its own; it records the
 * requests under a mutex, and the test reads them after the call under
 * test returned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws/aws.h"
#include "core/log.h"
#include "core/util.h"
#include "objstore/objstore_s3.h"
#include "table/table.h"

#define FAKE_REQS_MAX 32
#define FAKE_HEAD_MAX 16384
#define FAKE_BODY_KEEP 4096

struct fake_reply {
	int status;
	const char *body; /* NULL = "" */
};

struct fake_req {
	char method[8];
	char target[512];
	char sha_header[80];
	char auth[600];
	char token[64];
	char amz_target[80];
	size_t body_len;
	char body_sha[SHA256_HEX_SIZE];
	char body[FAKE_BODY_KEEP + 1]; /* the head of the body */
};

struct fake {
	int lfd;
	int port;
	pthread_t tid;
	pthread_mutex_t lock;
	const struct fake_reply *script; /* reply i to request i; the last
					  * one repeats */
	size_t n_script;
	size_t n_req;
	struct fake_req reqs[FAKE_REQS_MAX];
};

/* Value of header name in the head block, copied into out ("" if none). */
static void
head_value(const char *head, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	const char *p = head;

	out[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t n;

			while (*v == ' ')
				v++;
			n = strcspn(v, "\r\n");
			if (n >= size)
				n = size - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
	}
}

static bool
send_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return true;
}

static void
fake_serve(struct fake *fk, int cfd)
{
	char *head = calloc(1, FAKE_HEAD_MAX + 1);
	char cl[32];
	char expect[32];
	char reply[1024];
	struct fake_req rq;
	const struct fake_reply *fr;
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	size_t got = 0;
	size_t idx;
	long long left;
	int n;

	memset(&rq, 0, sizeof(rq));
	if (head == NULL)
		goto out;
	/* Read byte by byte up to the blank line: the body stays unread. */
	while (got < FAKE_HEAD_MAX &&
	       (got < 4 || memcmp(head + got - 4, "\r\n\r\n", 4) != 0)) {
		ssize_t r = recv(cfd, head + got, 1, 0);

		if (r <= 0)
			goto out;
		got++;
	}
	sscanf(head, "%7s %511s", rq.method, rq.target);
	head_value(head, "x-amz-content-sha256", rq.sha_header,
		   sizeof(rq.sha_header));
	head_value(head, "Authorization", rq.auth, sizeof(rq.auth));
	head_value(head, "x-amz-security-token", rq.token, sizeof(rq.token));
	head_value(head, "X-Amz-Target", rq.amz_target, sizeof(rq.amz_target));
	head_value(head, "Content-Length", cl, sizeof(cl));
	head_value(head, "Expect", expect, sizeof(expect));
	if (strcasecmp(expect, "100-continue") == 0 &&
	    !send_all(cfd, "HTTP/1.1 100 Continue\r\n\r\n", 25))
		goto out;
	left = cl[0] != '\0' ? atoll(cl) : 0;
	while (left > 0) {
		char buf[65536];
		ssize_t r = recv(cfd, buf,
				 left < (long long)sizeof(buf) ? (size_t)left
							       : sizeof(buf),
				 0);

		if (r <= 0)
			goto out;
		g_checksum_update(ck, (const guchar *)buf, r);
		if (rq.body_len < FAKE_BODY_KEEP) {
			size_t keep = FAKE_BODY_KEEP - rq.body_len;

			if ((size_t)r < keep)
				keep = (size_t)r;
			memcpy(rq.body + rq.body_len, buf, keep);
		}
		rq.body_len += (size_t)r;
		left -= r;
	}
	util_strlcpy(rq.body_sha, g_checksum_get_string(ck),
		     sizeof(rq.body_sha));
	pthread_mutex_lock(&fk->lock);
	idx = fk->n_req;
	if (fk->n_req < FAKE_REQS_MAX)
		fk->reqs[fk->n_req++] = rq;
	fr = &fk->script[idx < fk->n_script ? idx : fk->n_script - 1];
	pthread_mutex_unlock(&fk->lock);
	n = snprintf(reply, sizeof(reply),
		     "HTTP/1.1 %d Scripted\r\nContent-Type: %s\r\n"
		     "ETag: \"etag-%zu\"\r\nContent-Length: %zu\r\n"
		     "Last-Modified: Wed, 01 Jan 2025 00:00:00 GMT\r\n"
		     "Connection: close\r\n\r\n",
		     fr->status,
		     fr->body != NULL && fr->body[0] == '{'
			 ? "application/x-amz-json-1.0"
			 : "application/xml",
		     idx, fr->body != NULL ? strlen(fr->body) : 0);
	if (!send_all(cfd, reply, (size_t)n))
		goto out;
	if (strcmp(rq.method, "HEAD") != 0 && fr->body != NULL)
		send_all(cfd, fr->body, strlen(fr->body));
out:
	g_checksum_free(ck);
	free(head);
}

static void *
fake_main(void *arg)
{
	struct fake *fk = arg;

	for (;;) {
		int cfd = accept(fk->lfd, NULL, NULL);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* shut down */
		}
		fake_serve(fk, cfd);
		close(cfd);
	}
	return NULL;
}

static struct fake *
fake_start(const struct fake_reply *script, size_t n)
{
	struct fake *fk = calloc(1, sizeof(*fk));
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	assert_non_null(fk);
	fk->script = script;
	fk->n_script = n;
	pthread_mutex_init(&fk->lock, NULL);
	fk->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fk->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fk->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fk->lfd, 16), 0);
	assert_int_equal(getsockname(fk->lfd, (struct sockaddr *)&sa, &sl), 0);
	fk->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&fk->tid, NULL, fake_main, fk), 0);
	return fk;
}

static void
fake_stop(struct fake *fk)
{
	shutdown(fk->lfd, SHUT_RDWR);
	pthread_join(fk->tid, NULL);
	close(fk->lfd);
	pthread_mutex_destroy(&fk->lock);
	free(fk);
}

static size_t
fake_count(struct fake *fk)
{
	size_t n;

	pthread_mutex_lock(&fk->lock);
	n = fk->n_req;
	pthread_mutex_unlock(&fk->lock);
	return n;
}

/* Every request is signed, and carries the hash of the body it sent. */
static void
assert_signed(const struct fake_req *rq, const char *service)
{
	char scope[64];

	snprintf(scope, sizeof(scope), "/us-east-1/%s/aws4_request", service);
	if (strncmp(rq->auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37) !=
		0 ||
	    strstr(rq->auth, scope) == NULL)
		fail_msg("bad Authorization: %s", rq->auth);
	assert_non_null(strstr(rq->auth, "x-amz-content-sha256"));
	assert_string_equal(rq->sha_header, rq->body_sha);
}

static void
s3_config(struct config *cfg, int port, const char *extra)
{
	config_defaults(cfg);
	util_strlcpy(cfg->aws_access_key_id, "AKIDTEST",
		     sizeof(cfg->aws_access_key_id));
	util_strlcpy(cfg->aws_secret_access_key, "secret",
		     sizeof(cfg->aws_secret_access_key));
	snprintf(cfg->objstore, sizeof(cfg->objstore),
		 "s3+http://127.0.0.1:%d/?region=us-east-1&path_style=1%s",
		 port, extra);
	util_strlcpy(cfg->input_bucket, "bkt", sizeof(cfg->input_bucket));
}

static struct objstore *
s3_open(int port, const char *extra)
{
	struct config cfg;
	struct objstore *s = NULL;
	struct ip_error err = {0};

	s3_config(&cfg, port, extra);
	if (objstore_s3_open(&cfg, &s, &err) != IP_OK)
		fail_msg("open: %s", err.msg);
	return s;
}

#define SLOWDOWN                                                               \
	"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>"         \
	"Please reduce your request rate.</Message></Error>"

/* A store that throttles twice, then takes the put: it is retried with
 * the very same signed body, and succeeds. */
static void
test_503_then_ok(void **state)
{
	static const struct fake_reply script[] = {
	    {503, SLOWDOWN},
	    {503, SLOWDOWN},
	    {200, NULL},
	};
	struct fake *fk = fake_start(script, 3);
	struct objstore *s = s3_open(fk->port, "");
	struct ip_error err = {0};
	unsigned char data[3000];
	char sha[SHA256_HEX_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	aws_sha256_hex(data, sizeof(data), sha);
	assert_int_equal(objstore_put_buffer(s, "bkt", "some key/ä.jpg", data,
					     sizeof(data), NULL, &err),
			 IP_OK);
	assert_int_equal(fake_count(fk), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(fk->reqs[i].method, "PUT");
		assert_string_equal(fk->reqs[i].target,
				    "/bkt/some%20key/%C3%A4.jpg");
		assert_int_equal(fk->reqs[i].body_len, sizeof(data));
		assert_string_equal(fk->reqs[i].body_sha, sha);
		assert_signed(&fk->reqs[i], "s3");
	}
	objstore_close(s);
	fake_stop(fk);
}

/* Always 503: bounded attempts, then a clear backend error. */
static void
test_503_forever(void **state)
{
	static const struct fake_reply script[] = {
	    {503, "<Error><Code>ServiceUnavailable</Code><Message>down for"
		  " maintenance</Message></Error>"},
	};
	struct fake *fk = fake_start(script, 1);
	struct objstore *s = s3_open(fk->port, "&attempts=3");
	struct objstore_stat st;
	struct ip_error err = {0};

	(void)state;
	assert_int_equal(objstore_put_buffer(s, "bkt", "k", "x", 1, NULL, &err),
			 IP_EBACKEND);
	assert_int_equal(fake_count(fk), 3);
	assert_non_null(strstr(err.msg, "ServiceUnavailable"));
	assert_non_null(strstr(err.msg, "down for maintenance"));
	assert_non_null(strstr(err.msg, "503"));
	/* A HEAD has no body to explain itself: the status still maps. */
	assert_int_equal(objstore_head(s, "bkt", "k", &st, &err), IP_EBACKEND);
	assert_int_equal(fake_count(fk), 6);
	objstore_close(s);
	fake_stop(fk);
}

/* 4xx are final: one request each, the right code, a clear message. */
static void
test_4xx_not_retried(void **state)
{
	static const struct fake_reply script[] = {
	    {403, "<Error><Code>SignatureDoesNotMatch</Code><Message>The "
		  "request signature we calculated does not match the "
		  "signature you provided.</Message></Error>"},
	    {400, "<Error><Code>InvalidArgument</Code></Error>"},
	    {404, "<Error><Code>NoSuchKey</Code></Error>"},
	    {404, NULL},
	    {404, "<Error><Code>NoSuchKey</Code></Error>"},
	    {404, "<Error><Code>NoSuchBucket</Code></Error>"},
	};
	struct fake *fk = fake_start(script, UTIL_ARRAY_LEN(script));
	struct objstore *s = s3_open(fk->port, "");
	struct objstore_stat st;
	struct ip_error err = {0};
	int fd = -1;

	(void)state;
	assert_int_equal(objstore_put_buffer(s, "bkt", "k", "x", 1, NULL, &err),
			 IP_EAUTH);
	assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
	assert_non_null(strstr(err.msg, "does not match the signature"));
	assert_int_equal(fake_count(fk), 1);
	assert_int_equal(objstore_put_buffer(s, "bkt", "k", "x", 1, NULL, &err),
			 IP_EBACKEND);
	assert_non_null(strstr(err.msg, "InvalidArgument"));
	assert_int_equal(fake_count(fk), 2);
	assert_int_equal(objstore_open_read(s, "bkt", "k", &fd, &st, &err),
			 IP_ENOTFOUND);
	assert_int_equal(fd, -1);
	assert_int_equal(objstore_head(s, "bkt", "k", &st, &err), IP_ENOTFOUND);
	/* Deleting a missing key is fine; a missing bucket is not. */
	assert_int_equal(objstore_delete(s, "bkt", "k", &err), IP_OK);
	assert_int_equal(objstore_delete(s, "bkt", "k", &err), IP_ENOTFOUND);
	assert_int_equal(fake_count(fk), 6);
	objstore_close(s);
	fake_stop(fk);
}

/* A failed GET is repeated from scratch: the file holds the object once,
 * never the error body or a partial first try. */
static void
test_get_retried_whole(void **state)
{
	static const struct fake_reply script[] = {
	    {500, "<Error><Code>InternalError</Code></Error>"},
	    {200, "the real body"},
	};
	struct fake *fk = fake_start(script, 2);
	struct objstore *s = s3_open(fk->port, "");
	struct objstore_stat st;
	struct ip_error err = {0};
	char buf[64] = {0};
	int fd = -1;

	(void)state;
	assert_int_equal(objstore_open_read(s, "bkt", "dir/k", &fd, &st, &err),
			 IP_OK);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 13);
	assert_string_equal(buf, "the real body");
	assert_int_equal(st.size, 13);
	assert_string_equal(st.etag, "etag-1");
	assert_int_equal(st.mtime_ms, 1735689600000LL);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 13);
	close(fd);
	assert_int_equal(fake_count(fk), 2);
	assert_string_equal(fk->reqs[1].method, "GET");
	assert_string_equal(fk->reqs[1].sha_header, AWS_SHA256_EMPTY);
	objstore_close(s);
	fake_stop(fk);
}

/* Nothing listens: IP_EBACKEND after the bounded attempts, quickly. */
static void
test_endpoint_down(void **state)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct objstore *s;
	struct ip_error err = {0};
	int64_t t0;
	int port;

	(void)state;
	/* A port that was free a moment ago and has no listener. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	s = s3_open(port, "");
	t0 = util_mono_ms();
	assert_int_equal(objstore_put_buffer(s, "bkt", "k", "x", 1, NULL, &err),
			 IP_EBACKEND);
	assert_non_null(strstr(err.msg, "after 4 attempts"));
	assert_true(util_mono_ms() - t0 < 10000);
	assert_int_equal(objstore_ping(s, &err), IP_EBACKEND);
	objstore_close(s);
}

/* With a session token, every request carries it, signed. */
static void
test_session_token(void **state)
{
	static const struct fake_reply script[] = {{200, NULL}};
	struct fake *fk = fake_start(script, 1);
	struct config cfg;
	struct objstore *s = NULL;
	struct ip_error err = {0};

	(void)state;
	s3_config(&cfg, fk->port, "");
	util_strlcpy(cfg.aws_session_token, "TOKEN123",
		     sizeof(cfg.aws_session_token));
	assert_int_equal(objstore_s3_open(&cfg, &s, &err), IP_OK);
	assert_int_equal(objstore_delete(s, "bkt", "k", &err), IP_OK);
	assert_int_equal(fake_count(fk), 1);
	assert_string_equal(fk->reqs[0].method, "DELETE");
	assert_string_equal(fk->reqs[0].token, "TOKEN123");
	assert_non_null(strstr(fk->reqs[0].auth, "x-amz-security-token"));
	assert_signed(&fk->reqs[0], "s3");
	objstore_close(s);
	fake_stop(fk);
}

#define INITIATE                                                               \
	"<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>big</Key>"    \
	"<UploadId>up-1/x</UploadId></InitiateMultipartUploadResult>"

/* A file of n bytes in dir; returns its path (static buffer). */
static const char *
big_file(char *dir, size_t dsize, size_t n)
{
	static char path[300];
	unsigned char *data = malloc(n);
	FILE *f;

	assert_non_null(data);
	util_strlcpy(dir, "/tmp/imgpipe-aws-XXXXXX", dsize);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big", dir);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 31 + (i >> 11));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(data);
	return path;
}

static void
remove_big(const char *dir, const char *path)
{
	unlink(path);
	rmdir(dir);
}

/* Above the threshold: parts of part_size, each with its own hash, then
 * CompleteMultipartUpload naming every part's ETag in order. */
static void
test_multipart_ok(void **state)
{
	static const struct fake_reply script[] = {
	    {200, INITIATE},
	    {200, NULL},
	    {200, NULL},
	    {200, "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
		  "</CompleteMultipartUploadResult>"},
	};
	struct fake *fk = fake_start(script, 4);
	struct objstore *s = s3_open(fk->port, "&multipart_threshold=5M"
					       "&part_size=5M");
	struct objstore_put_opts opts = {.content_type = "image/jpeg"};
	struct ip_error err = {0};
	char dir[64];
	const char *path = big_file(dir, sizeof(dir), 6 * 1024 * 1024);

	(void)state;
	assert_int_equal(objstore_put_file(s, "bkt", "big", path, &opts, &err),
			 IP_OK);
	assert_int_equal(fake_count(fk), 4);
	assert_string_equal(fk->reqs[0].method, "POST");
	assert_string_equal(fk->reqs[0].target, "/bkt/big?uploads=");
	assert_string_equal(fk->reqs[1].target,
			    "/bkt/big?partNumber=1&uploadId=up-1%2Fx");
	assert_int_equal(fk->reqs[1].body_len, 5 * 1024 * 1024);
	assert_string_equal(fk->reqs[2].target,
			    "/bkt/big?partNumber=2&uploadId=up-1%2Fx");
	assert_int_equal(fk->reqs[2].body_len, 1024 * 1024);
	assert_string_equal(fk->reqs[3].method, "POST");
	assert_string_equal(fk->reqs[3].target, "/bkt/big?uploadId=up-1%2Fx");
	for (size_t i = 0; i < 4; i++)
		assert_signed(&fk->reqs[i], "s3");
	{
		const char *b = fk->reqs[3].body;
		const char *p1 = strstr(b, "<PartNumber>1</PartNumber>"
					   "<ETag>\"etag-1\"</ETag>");
		const char *p2 = strstr(b, "<PartNumber>2</PartNumber>"
					   "<ETag>\"etag-2\"</ETag>");

		assert_non_null(p1);
		assert_non_null(p2);
		assert_true(p1 < p2);
	}
	remove_big(dir, path);
	objstore_close(s);
	fake_stop(fk);
}

/* A part refused: the upload is aborted, so no parts linger. */
static void
test_multipart_abort(void **state)
{
	static const struct fake_reply script[] = {
	    {200, INITIATE},
	    {200, NULL},
	    {400, "<Error><Code>BadDigest</Code></Error>"},
	    {204, NULL},
	};
	struct fake *fk = fake_start(script, 4);
	struct objstore *s = s3_open(fk->port, "&multipart_threshold=5M"
					       "&part_size=5M");
	struct ip_error err = {0};
	char dir[64];
	const char *path = big_file(dir, sizeof(dir), 6 * 1024 * 1024);

	(void)state;
	assert_int_equal(objstore_put_file(s, "bkt", "big", path, NULL, &err),
			 IP_EBACKEND);
	assert_non_null(strstr(err.msg, "BadDigest"));
	assert_int_equal(fake_count(fk), 4);
	assert_string_equal(fk->reqs[3].method, "DELETE");
	assert_string_equal(fk->reqs[3].target, "/bkt/big?uploadId=up-1%2Fx");
	remove_big(dir, path);
	objstore_close(s);
	fake_stop(fk);
}

/* CompleteMultipartUpload may fail inside a 200 reply: still a failure,
 * and still aborted. */
static void
test_multipart_complete_error_in_200(void **state)
{
	static const struct fake_reply script[] = {
	    {200, INITIATE},
	    {200, NULL},
	    {200, NULL},
	    {200, "<?xml version=\"1.0\"?>\n<Error><Code>InternalError"
		  "</Code><Message>We encountered an internal error."
		  "</Message></Error>"},
	    {204, NULL},
	};
	struct fake *fk = fake_start(script, 5);
	struct objstore *s = s3_open(fk->port, "&multipart_threshold=5M"
					       "&part_size=5M");
	struct ip_error err = {0};
	char dir[64];
	const char *path = big_file(dir, sizeof(dir), 6 * 1024 * 1024);

	(void)state;
	assert_int_equal(objstore_put_file(s, "bkt", "big", path, NULL, &err),
			 IP_EBACKEND);
	assert_non_null(strstr(err.msg, "InternalError"));
	assert_int_equal(fake_count(fk), 5);
	assert_string_equal(fk->reqs[4].method, "DELETE");
	remove_big(dir, path);
	objstore_close(s);
	fake_stop(fk);
}

#define DESCRIBE_ACTIVE                                                        \
	"{\"Table\":{\"TableName\":\"t_fake\",\"TableStatus\":\"ACTIVE\","     \
	"\"GlobalSecondaryIndexes\":[{\"IndexName\":\"newest\","               \
	"\"IndexStatus\":\"ACTIVE\"},{\"IndexName\":\"unfinished\","           \
	"\"IndexStatus\":\"ACTIVE\"}]}}"

static struct table *
ddb_open(int port)
{
	struct config cfg;
	struct table *t = NULL;
	struct ip_error err = {0};

	config_defaults(&cfg);
	util_strlcpy(cfg.aws_access_key_id, "AKIDTEST",
		     sizeof(cfg.aws_access_key_id));
	util_strlcpy(cfg.aws_secret_access_key, "secret",
		     sizeof(cfg.aws_secret_access_key));
	snprintf(cfg.table, sizeof(cfg.table),
		 "dynamodb+http://127.0.0.1:%d/?table=t_fake&create=0", port);
	if (table_open(&cfg, &t, &err) != IP_OK)
		fail_msg("open: %s", err.msg);
	return t;
}

/* DynamoDB throttling comes as HTTP 400: retried all the same. */
static void
test_dynamodb_throttled_then_ok(void **state)
{
	static const struct fake_reply script[] = {
	    {200, DESCRIBE_ACTIVE},
	    {400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
		  "ProvisionedThroughputExceededException\",\"message\":"
		  "\"slow down\"}"},
	    {400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
		  "ThrottlingException\"}"},
	    {200, "{}"},
	};
	struct fake *fk = fake_start(script, 4);
	struct table *t = ddb_open(fk->port);
	struct ip_error err = {0};

	(void)state;
	assert_int_equal(table_ping(t, &err), IP_OK);
	assert_int_equal(fake_count(fk), 4);
	assert_string_equal(fk->reqs[0].amz_target,
			    "DynamoDB_20120810.DescribeTable");
	for (size_t i = 1; i < 4; i++) {
		assert_string_equal(fk->reqs[i].method, "POST");
		assert_string_equal(fk->reqs[i].target, "/");
		assert_string_equal(fk->reqs[i].amz_target,
				    "DynamoDB_20120810.GetItem");
		assert_non_null(
		    strstr(fk->reqs[i].body, "\"TableName\":\"t_fake\""));
		assert_signed(&fk->reqs[i], "dynamodb");
	}
	table_close(t);
	fake_stop(fk);
}

/* The plain (unsigned) path the Lambda host uses: no signature, the
 * reply in a bounded buffer, and a reply above its bound refused with the
 * buffer's one error, naming what it holds. */
static void
test_plain_client_bounded_reply(void **state)
{
	static const struct fake_reply script[] = {
	    {200, "{\"Records\":[]}"},
	    {200, "0123456789012345678901234567890123456789"},
	};
	struct fake *fk = fake_start(script, 2);
	struct aws_client_opts o = {.service = "plain", .attempts = 1};
	struct aws_client *c = NULL;
	struct aws_response rs;
	struct ip_error err = {0};
	char url[64];
	struct aws_request rq = {
	    .method = "GET",
	    .url = url,
	    .body_fd = -1,
	    .out_fd = -1,
	    .reply_max = 16,
	    .reply_name = "event",
	};

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/next", fk->port);
	assert_int_equal(aws_client_new(NULL, &o, &c, &err), IP_OK);
	assert_int_equal(aws_request_perform(c, &rq, &rs, &err), IP_OK);
	assert_string_equal(buf_str(&rs.body), "{\"Records\":[]}");
	aws_response_free(&rs);
	assert_int_equal(aws_request_perform(c, &rq, &rs, &err), IP_ETOOBIG);
	assert_non_null(strstr(err.msg, "event is larger than 16 bytes"));
	aws_response_free(&rs);
	assert_int_equal(fake_count(fk), 2);
	assert_string_equal(fk->reqs[0].target, "/next");
	assert_string_equal(fk->reqs[0].auth, "");
	assert_string_equal(fk->reqs[0].sha_header, "");
	aws_client_free(c);
	fake_stop(fk);
}

/* A failed condition on the first attempt is final: IP_EEXIST for a put,
 * with no retry and no second guess. */
static void
test_dynamodb_condition_failed(void **state)
{
	static const struct fake_reply script[] = {
	    {200, DESCRIBE_ACTIVE},
	    {400, "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
		  "ConditionalCheckFailedException\",\"message\":\"The "
		  "conditional request failed\"}"},
	    {400, "{\"__type\":\"com.amazon.coral.validate#"
		  "ValidationException\",\"message\":\"bad\"}"},
	};
	struct fake *fk = fake_start(script, 3);
	struct table *t = ddb_open(fk->port);
	struct ip_error err = {0};
	struct record r;

	(void)state;
	memset(&r, 0, sizeof(r));
	util_new_id(r.id, sizeof(r.id));
	r.status = RECORD_PENDING;
	assert_int_equal(table_put(t, &r, &err), IP_EEXIST);
	assert_int_equal(r.version, 0);
	assert_int_equal(fake_count(fk), 2);
	assert_non_null(strstr(fk->reqs[1].body, "attribute_not_exists(#i)"));
	assert_int_equal(table_put(t, &r, &err), IP_EBACKEND);
	assert_non_null(strstr(err.msg, "ValidationException"));
	assert_int_equal(fake_count(fk), 3);
	table_close(t);
	fake_stop(fk);
}

/* A reply that is not JSON, or a listing that is not one, is refused;
 * an item that does not parse as a record is damaged. */
static void
test_dynamodb_bad_replies(void **state)
{
	static const struct fake_reply script[] = {
	    {200, DESCRIBE_ACTIVE},
	    {200, "not json"},
	    {200, "{\"Items\":5}"},
	    {200, "{\"Item\":{\"id\":{\"S\":\"x\"}}}"},
	};
	struct fake *fk = fake_start(script, 4);
	struct table *t = ddb_open(fk->port);
	struct ip_error err = {0};
	struct table_page page;
	struct record r;
	char id[RECORD_ID_MAX];

	(void)state;
	util_new_id(id, sizeof(id));
	assert_int_equal(table_get(t, id, &r, &err), IP_EBACKEND);
	assert_int_equal(table_list(t, NULL, 10, &page, &err), IP_EBACKEND);
	assert_int_equal(page.n, 0);
	/* An item that is there but is no record is a damaged row (500
	 * backend_error, deletable), not an unreachable backend. */
	assert_int_equal(table_get(t, id, &r, &err), IP_EDAMAGED);
	table_close(t);
	fake_stop(fk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_503_then_ok),
	    cmocka_unit_test(test_503_forever),
	    cmocka_unit_test(test_4xx_not_retried),
	    cmocka_unit_test(test_get_retried_whole),
	    cmocka_unit_test(test_endpoint_down),
	    cmocka_unit_test(test_session_token),
	    cmocka_unit_test(test_multipart_ok),
	    cmocka_unit_test(test_multipart_abort),
	    cmocka_unit_test(test_multipart_complete_error_in_200),
	    cmocka_unit_test(test_dynamodb_throttled_then_ok),
	    cmocka_unit_test(test_plain_client_bounded_reply),
	    cmocka_unit_test(test_dynamodb_condition_failed),
	    cmocka_unit_test(test_dynamodb_bad_replies),
	};

	log_set_level(LOG_QUIET);
	return cmocka_run_group_tests_name("aws-fault", tests, NULL, NULL);
}
