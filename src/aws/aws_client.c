/*
 * aws_client.c - HTTP requests over libcurl with retries, SigV4-signed or
 * plain (see aws_client.h).  Called by the S3 and DynamoDB backends from
 * any of their threads at once, and by the Lambda host's one thread.
 *
 *
 * DESIGN
 *
 * One curl easy handle per request, all of a client's handles sharing one
 * curl share handle for the connection and DNS caches.  An easy handle is
 * cheap next to a TCP (or TLS) handshake, and sharing the pool keeps
 * connections alive across requests and threads without per-thread state
 * that would have to be torn down at thread exit.  curl locks the shared
 * data through share_lock/share_unlock (one mutex per curl_lock_data).
 *
 * libcurl 7.88's SigV4 signer (CURLOPT_AWS_SIGV4) signs what it is given:
 *  - it does not add x-amz-content-sha256, which S3 requires; we always
 *    send it (the real SHA-256 of the body, or UNSIGNED-PAYLOAD when a
 *    caller asks) and curl then signs that value;
 *  - it signs the query string as is, unsorted and unencoded, so URLs are
 *    built with aws_query_build, which makes the canonical form;
 *  - it knows nothing of session tokens: x-amz-security-token is added
 *    as an ordinary header, which curl signs like every x-amz-* header.
 *
 * Retries: transport failures, 5xx, 429 and the throttling codes are
 * retried up to `attempts` times in all, sleeping a jittered exponential
 * backoff between them (half the step fixed, half random, so that many
 * workers throttled at once spread out).  Other 4xx are final at once:
 * repeating a request the server refused as wrong changes nothing.  A
 * body is re-read from the start on each attempt (memory or pread), and a
 * download fd is truncated, so a retried request is a whole new request.
 *
 * Replies grow in a struct buf bounded by the request's reply_max (the
 * caller knows what a sane reply of its call weighs: a listing page, a
 * DynamoDB item, a Lambda event).  An error reply is kept up to
 * AWS_ERROR_BODY_MAX only, its head being enough to explain it.
 *
 * Unsigned clients (creds NULL) are the same machinery without the
 * signature: the Lambda Runtime API is plain HTTP on a local socket, and
 * its host gets connection reuse, bounded bodies and header capture from
 * here instead of rebuilding them.
 */
#include "aws/aws_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#define AWS_SHA_BUF (64 * 1024)
#define AWS_URL_LOG_MAX 160

struct aws_client {
	bool sign; /* SigV4 with creds; false: plain HTTP */
	struct aws_creds creds;
	char sigv4[96]; /* "aws:amz:REGION:SERVICE" */
	char service[32];
	char token_header[sizeof(((struct aws_creds *)0)->session_token) + 32];
	int attempts;
	long connect_timeout_ms;
	long low_speed_s;
	int backoff_ms;
	int backoff_max_ms;
	char ca_file[CONFIG_PATH_MAX]; /* "" = aws_ca (found at start) */
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

/* State of one attempt, seen by the curl callbacks. */
struct aws_xfer {
	const struct aws_request *rq;
	struct aws_response *rs;
	CURL *easy;
	int64_t read_pos; /* of the request body */
	bool to_fd; /* this reply's body goes to rq->out_fd */
	bool decided; /* to_fd chosen (on the first body byte) */
	bool error_body; /* a non-2xx reply: keep its head only */
	bool too_big; /* a 2xx reply above reply_max; see too_big_err */
	struct ip_error too_big_err;
	int io_errno; /* read/write of a local file failed */
};

static pthread_once_t aws_once = PTHREAD_ONCE_INIT;
static CURLcode aws_global_rc = CURLE_FAILED_INIT;
static const char *aws_ca; /* CURLOPT_CAINFO, or NULL for curl's default */

/*
 * The CA bundle for HTTPS when aws.ca_file does not name one.  libcurl
 * knows one path, fixed when it was built (Debian's:
 * /etc/ssl/certs/ca-certificates.crt); the Lambda package runs Debian's
 * libcurl on Amazon Linux 2023, which keeps its bundle at
 * /etc/pki/tls/certs/ca-bundle.crt.  Returns NULL when curl's own default
 * exists (curl uses it), else the first readable bundle of the known
 * layouts, else NULL (curl then fails with its usual certificate error).
 */
static const char *
aws_ca_file(void)
{
	static const char *const known[] = {
	    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine */
	    "/etc/pki/tls/certs/ca-bundle.crt", /* AL2023, Fedora, RHEL */
	    "/etc/ssl/ca-bundle.pem", /* openSUSE */
	};
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	if (v->cainfo != NULL && access(v->cainfo, R_OK) == 0)
		return NULL;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(known); i++)
		if (access(known[i], R_OK) == 0)
			return known[i];
	return NULL;
}

static void
aws_global_init(void)
{
	aws_global_rc = curl_global_init(CURL_GLOBAL_ALL);
	aws_ca = aws_ca_file();
}

/* ---- client ---------------------------------------------------------- */

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *p)
{
	struct aws_client *c = p;

	(void)h;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->locks[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *p)
{
	struct aws_client *c = p;

	(void)h;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->locks[data]);
}

int
aws_client_new(const struct aws_creds *creds,
	       const struct aws_client_opts *opts, struct aws_client **out,
	       struct ip_error *err)
{
	struct aws_client *c;
	int n;

	*out = NULL;
	pthread_once(&aws_once, aws_global_init);
	if (aws_global_rc != CURLE_OK)
		return ip_error_set(err, IP_EBACKEND, "curl_global_init: %s",
				    curl_easy_strerror(aws_global_rc));
	if (opts->attempts < 0 || opts->attempts > AWS_ATTEMPTS_MAX)
		return ip_error_set(err, IP_EINVAL, "attempts must be 1..%d",
				    AWS_ATTEMPTS_MAX);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ip_error_set(err, IP_ENOMEM, "aws client");
	util_strlcpy(c->service, opts->service, sizeof(c->service));
	c->sign = creds != NULL;
	if (c->sign) {
		c->creds = *creds;
		n = snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:%s",
			     creds->region, opts->service);
		if (n < 0 || (size_t)n >= sizeof(c->sigv4)) {
			free(c);
			return ip_error_set(err, IP_EINVAL,
					    "region/service too long");
		}
	}
	if (c->sign && creds->session_token[0] != '\0')
		snprintf(c->token_header, sizeof(c->token_header),
			 "x-amz-security-token: %s", creds->session_token);
	c->attempts =
	    opts->attempts > 0 ? opts->attempts : AWS_ATTEMPTS_DEFAULT;
	c->connect_timeout_ms =
	    opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
	c->low_speed_s = opts->low_speed_s != 0 ? opts->low_speed_s : 30;
	if (opts->ca_file != NULL && opts->ca_file[0] != '\0') {
		if (access(opts->ca_file, R_OK) != 0) {
			n = errno;
			free(c);
			return ip_error_set(err, IP_EINVAL,
					    "aws.ca_file %s: %s", opts->ca_file,
					    strerror(n));
		}
		util_strlcpy(c->ca_file, opts->ca_file, sizeof(c->ca_file));
	}
	c->backoff_ms = opts->backoff_ms > 0 ? opts->backoff_ms : 100;
	c->backoff_max_ms =
	    opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 5000;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	c->share = curl_share_init();
	if (c->share == NULL ||
	    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE,
			      CURL_LOCK_DATA_CONNECT) ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS)) {
		aws_client_free(c);
		return ip_error_set(err, IP_ENOMEM, "curl share handle");
	}
	*out = c;
	return IP_OK;
}

void
aws_client_free(struct aws_client *c)
{
	if (c == NULL)
		return;
	if (c->share != NULL)
		curl_share_cleanup(c->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->locks[i]);
	/* The secret should not linger in freed memory. */
	memset(&c->creds, 0, sizeof(c->creds));
	free(c);
}

const char *
aws_client_region(const struct aws_client *c)
{
	return c->creds.region;
}

int
aws_client_attempts(const struct aws_client *c)
{
	return c->attempts;
}

/* ---- hashing and files ----------------------------------------------- */

void
aws_sha256_hex(const void *data, size_t len, char *out)
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);

	if (len > 0)
		g_checksum_update(ck, data, (gssize)len);
	util_strlcpy(out, g_checksum_get_string(ck), 65);
	g_checksum_free(ck);
}

int
aws_sha256_fd(int fd, int64_t off, int64_t len, char *out, struct ip_error *err)
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	unsigned char *buf = malloc(AWS_SHA_BUF);
	int rc = IP_OK;

	if (buf == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "sha256 buffer");
		goto out;
	}
	while (len > 0) {
		size_t want = len < AWS_SHA_BUF ? (size_t)len : AWS_SHA_BUF;
		ssize_t got = pread(fd, buf, want, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = ip_error_set(err, IP_EIO, "read for sha256: %s",
					  strerror(errno));
			goto out;
		}
		if (got == 0) {
			rc = ip_error_set(err, IP_EIO,
					  "file shorter than expected");
			goto out;
		}
		g_checksum_update(ck, buf, got);
		off += got;
		len -= got;
	}
	util_strlcpy(out, g_checksum_get_string(ck), 65);
out:
	free(buf);
	g_checksum_free(ck);
	return rc;
}

/* ---- the request ----------------------------------------------------- */

static size_t
cb_read(char *buf, size_t size, size_t nmemb, void *p)
{
	struct aws_xfer *x = p;
	const struct aws_request *rq = x->rq;
	size_t want = size * nmemb;
	int64_t left = rq->body_len - x->read_pos;
	ssize_t got;

	if (left <= 0)
		return 0;
	if ((int64_t)want > left)
		want = (size_t)left;
	if (rq->body_fd < 0) {
		memcpy(buf, (const char *)rq->body + x->read_pos, want);
		x->read_pos += (int64_t)want;
		return want;
	}
	do {
		got = pread(rq->body_fd, buf, want,
			    (off_t)(rq->body_off + x->read_pos));
	} while (got < 0 && errno == EINTR);
	if (got <= 0) {
		/* A file that shrank under us must not be sent short. */
		x->io_errno = got < 0 ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	x->read_pos += got;
	return (size_t)got;
}

static int
cb_seek(void *p, curl_off_t offset, int origin)
{
	struct aws_xfer *x = p;

	if (origin != SEEK_SET || offset < 0 || offset > x->rq->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->read_pos = offset;
	return CURL_SEEKFUNC_OK;
}

static size_t
cb_write(char *data, size_t size, size_t nmemb, void *p)
{
	struct aws_xfer *x = p;
	struct aws_response *rs = x->rs;
	size_t n = size * nmemb;
	size_t keep = n;
	int rc;

	if (!x->decided) {
		long status = 0;

		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		x->to_fd = x->rq->out_fd >= 0 && status >= 200 && status < 300;
		x->error_body = status < 200 || status >= 300;
		if (x->error_body) {
			buf_free(&rs->body);
			buf_init(&rs->body, AWS_ERROR_BODY_MAX, "error reply");
		}
		x->decided = true;
	}
	if (x->to_fd) {
		if (util_write_all(x->rq->out_fd, data, n) != 0) {
			x->io_errno = errno != 0 ? errno : EIO;
			return 0;
		}
		return n;
	}
	if (x->error_body && rs->body.len + n > rs->body.max) {
		/* An error body: its head is enough to explain it. */
		keep = rs->body.max - rs->body.len;
		if (keep == 0)
			return n;
	}
	rc = buf_add(&rs->body, data, keep, &x->too_big_err);
	if (rc == IP_ETOOBIG)
		x->too_big = true;
	else if (rc != IP_OK)
		x->io_errno = ENOMEM;
	return rc == IP_OK ? n : 0;
}

/* Value of header line h[0, n) if its name is `name`, trimmed. */
static bool
header_value(const char *h, size_t n, const char *name, const char **v,
	     size_t *vlen)
{
	size_t nl = strlen(name);

	if (n <= nl || h[nl] != ':' || strncasecmp(h, name, nl) != 0)
		return false;
	h += nl + 1;
	n -= nl + 1;
	while (n > 0 && (*h == ' ' || *h == '\t')) {
		h++;
		n--;
	}
	while (n > 0 && (h[n - 1] == '\r' || h[n - 1] == '\n' ||
			 h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	*v = h;
	*vlen = n;
	return true;
}

static size_t
cb_header(char *data, size_t size, size_t nmemb, void *p)
{
	struct aws_xfer *x = p;
	struct aws_response *rs = x->rs;
	size_t n = size * nmemb;
	char tmp[128];
	const char *v;
	size_t vl;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new header block (after 100 Continue or a redirect). */
		rs->content_length = -1;
		rs->last_modified_ms = 0;
		rs->etag[0] = '\0';
		rs->content_type[0] = '\0';
		rs->header[0] = '\0';
		rs->header2[0] = '\0';
		return n;
	}
	if (header_value(data, n, "Content-Length", &v, &vl)) {
		char *end;
		long long len;

		aws_copy_printable(v, vl, tmp, sizeof(tmp));
		errno = 0;
		len = strtoll(tmp, &end, 10);
		if (errno == 0 && end != tmp && *end == '\0' && len >= 0)
			rs->content_length = len;
	} else if (header_value(data, n, "ETag", &v, &vl)) {
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v++;
			vl -= 2;
		}
		aws_copy_printable(v, vl, rs->etag, sizeof(rs->etag));
	} else if (header_value(data, n, "Content-Type", &v, &vl)) {
		aws_copy_printable(v, vl, rs->content_type,
				   sizeof(rs->content_type));
	} else if (x->rq->want_header != NULL &&
		   header_value(data, n, x->rq->want_header, &v, &vl)) {
		aws_copy_printable(v, vl, rs->header, sizeof(rs->header));
	} else if (x->rq->want_header2 != NULL &&
		   header_value(data, n, x->rq->want_header2, &v, &vl)) {
		aws_copy_printable(v, vl, rs->header2, sizeof(rs->header2));
	} else if (header_value(data, n, "Last-Modified", &v, &vl)) {
		time_t t;

		aws_copy_printable(v, vl, tmp, sizeof(tmp));
		t = curl_getdate(tmp, NULL);
		if (t > 0)
			rs->last_modified_ms = (int64_t)t * 1000;
	}
	return n;
}

/* Empty rs for a new attempt whose reply may weigh up to reply_max. */
static void
response_reset(struct aws_response *rs, size_t reply_max, const char *name)
{
	buf_free(&rs->body);
	buf_init(&rs->body, reply_max, name);
	rs->status = 0;
	rs->content_length = -1;
	rs->last_modified_ms = 0;
	rs->etag[0] = '\0';
	rs->content_type[0] = '\0';
	rs->header[0] = '\0';
	rs->header2[0] = '\0';
	rs->code[0] = '\0';
	rs->message[0] = '\0';
}

void
aws_response_free(struct aws_response *rs)
{
	if (rs == NULL)
		return;
	buf_free(&rs->body);
}

/* Sleep before attempt number `next` (2, 3...): jittered exponential. */
static void
backoff_sleep(const struct aws_client *c, int next)
{
	int64_t step = c->backoff_ms;
	uint32_t rnd = 0;
	int64_t ms;
	struct timespec ts;

	for (int i = 2; i < next && step < c->backoff_max_ms; i++)
		step *= 2;
	if (step > c->backoff_max_ms)
		step = c->backoff_max_ms;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)util_mono_ms();
	ms = step / 2 + (int64_t)(rnd % (uint32_t)(step / 2 + 1));
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The URL without its query, shortened, for messages and logs. */
static void
url_for_log(const char *url, char *out, size_t size)
{
	size_t n = strcspn(url, "?");

	if (n > AWS_URL_LOG_MAX)
		n = AWS_URL_LOG_MAX;
	aws_copy_printable(url, n, out, size);
}

/* Append line to *h; false when out of memory (*h is then freed). */
static bool
header_add(struct curl_slist **h, const char *line)
{
	struct curl_slist *t = curl_slist_append(*h, line);

	if (t == NULL) {
		curl_slist_free_all(*h);
		*h = NULL;
		return false;
	}
	*h = t;
	return true;
}

/* The request's headers into *out (NULL when there are none): for a
 * signed request the payload hash sha and the session token first. */
static int
build_headers(const struct aws_client *c, const struct aws_request *rq,
	      const char *sha, struct curl_slist **out)
{
	struct curl_slist *h = NULL;
	char line[96];

	if (c->sign) {
		snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
		if (!header_add(&h, line))
			return IP_ENOMEM;
	}
	if (c->token_header[0] != '\0' && !header_add(&h, c->token_header))
		return IP_ENOMEM;
	for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
		if (!header_add(&h, rq->headers[i]))
			return IP_ENOMEM;
	*out = h;
	return IP_OK;
}

static int
setup_easy(struct aws_client *c, const struct aws_request *rq,
	   struct aws_xfer *x, struct curl_slist *hdrs, char *errbuf)
{
	CURL *e = x->easy;
	CURLcode r = CURLE_OK;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (r == CURLE_OK)                                             \
			r = curl_easy_setopt(e, opt, val);                     \
	} while (0)
	SET(CURLOPT_URL, rq->url);
	SET(CURLOPT_SHARE, c->share);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file[0] != '\0')
		SET(CURLOPT_CAINFO, c->ca_file);
	else if (aws_ca != NULL)
		SET(CURLOPT_CAINFO, aws_ca);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	if (c->low_speed_s > 0) {
		SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SET(CURLOPT_LOW_SPEED_TIME, c->low_speed_s);
	}
	if (rq->timeout_ms > 0)
		SET(CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	if (c->sign) {
		SET(CURLOPT_AWS_SIGV4, c->sigv4);
		SET(CURLOPT_USERNAME, c->creds.access_key_id);
		SET(CURLOPT_PASSWORD, c->creds.secret_access_key);
	}
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, cb_write);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, cb_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_ACCEPT_ENCODING, NULL);
	if (strcmp(rq->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(rq->method, "PUT") == 0) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
		SET(CURLOPT_READFUNCTION, cb_read);
		SET(CURLOPT_READDATA, x);
		SET(CURLOPT_SEEKFUNCTION, cb_seek);
		SET(CURLOPT_SEEKDATA, x);
	} else if (strcmp(rq->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		if (rq->body_fd < 0) {
			/* curl signs postfields itself too: the same hash. */
			SET(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)rq->body_len);
			SET(CURLOPT_POSTFIELDS,
			    rq->body != NULL ? rq->body : "");
		} else {
			SET(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)rq->body_len);
			SET(CURLOPT_READFUNCTION, cb_read);
			SET(CURLOPT_READDATA, x);
			SET(CURLOPT_SEEKFUNCTION, cb_seek);
			SET(CURLOPT_SEEKDATA, x);
		}
	} else if (strcmp(rq->method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, rq->method);
	}
#undef SET
	return r == CURLE_OK ? 0 : -1;
}

/* A transfer that curl could not complete: the error, and in *retry
 * whether another attempt may succeed. */
static int
transfer_error(const struct aws_client *c, const struct aws_request *rq,
	       const struct aws_xfer *x, CURLcode cc, const char *errbuf,
	       int attempt, const char *where, bool *retry,
	       struct ip_error *err)
{
	/* A reply over the caller's bound: a storage backend's (signed)
	 * reply that big is the server's fault, 502 to a client, never 413;
	 * an unsigned caller (the Lambda runtime's event) gets IP_ETOOBIG. */
	if (x->too_big)
		return ip_error_set(err, c->sign ? IP_EBACKEND : IP_ETOOBIG,
				    "%s %s: %s", rq->method, where,
				    x->too_big_err.msg);
	if (x->io_errno == ENOMEM)
		return ip_error_set(err, IP_ENOMEM, "%s %s", rq->method, where);
	if (x->io_errno != 0)
		return ip_error_set(err, IP_EIO, "%s %s: local file: %s",
				    rq->method, where, strerror(x->io_errno));
	*retry = aws_retryable(0, NULL, (int)cc);
	return ip_error_set(
	    err, aws_curl_local_error((int)cc) ? IP_EINVAL : IP_EBACKEND,
	    "%s %s %s: %s (after %d attempt%s)", c->service, rq->method, where,
	    errbuf[0] ? errbuf : curl_easy_strerror(cc), attempt,
	    attempt == 1 ? "" : "s");
}

/* A non-2xx answer: its S3/DynamoDB error code in rs, the error, and in
 * *retry whether another attempt may succeed. */
static int
http_error(const struct aws_client *c, const struct aws_request *rq,
	   struct aws_response *rs, long status, int attempt, const char *where,
	   bool *retry, struct ip_error *err)
{
	int rc;

	aws_error_body(buf_str(&rs->body), rs->body.len, rs->code,
		       sizeof(rs->code), rs->message, sizeof(rs->message));
	*retry = aws_retryable(status, rs->code, 0);
	rc = aws_error_map(status, rs->code);
	if (rc == IP_OK) /* 1xx/3xx: not a success for us */
		rc = IP_EBACKEND;
	if (rs->code[0] == '\0') {
		/* HEAD and some proxies answer without a body. */
		util_strlcpy(rs->code,
			     status == 404   ? "NotFound"
			     : status == 403 ? "Forbidden"
					     : "HTTPError",
			     sizeof(rs->code));
	}
	return ip_error_set(err, rc, "%s %s %s: %s%s%s (HTTP %ld%s)",
			    c->service, rq->method, where, rs->code,
			    rs->message[0] ? ": " : "", rs->message, status,
			    attempt > 1 ? ", after retries" : "");
}

/* One attempt of rq.  IP_OK on a 2xx answer; otherwise the error, with
 * *retry set when another attempt may succeed. */
static int
request_attempt(struct aws_client *c, const struct aws_request *rq,
		struct aws_response *rs, struct curl_slist *hdrs, int attempt,
		const char *where, bool *retry, struct ip_error *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct aws_xfer x;
	long status = 0;
	CURLcode cc;

	*retry = false;
	rs->attempts = attempt;
	memset(&x, 0, sizeof(x));
	x.rq = rq;
	x.rs = rs;
	errbuf[0] = '\0';
	if (rq->out_fd >= 0 && (ftruncate(rq->out_fd, 0) != 0 ||
				lseek(rq->out_fd, 0, SEEK_SET) != 0))
		return ip_error_set(err, IP_EIO, "%s %s: temp file: %s",
				    rq->method, where, strerror(errno));
	x.easy = curl_easy_init();
	if (x.easy == NULL)
		return ip_error_set(err, IP_ENOMEM, "curl_easy_init");
	if (setup_easy(c, rq, &x, hdrs, errbuf) != 0) {
		curl_easy_cleanup(x.easy);
		return ip_error_set(err, IP_EINVAL, "%s %s: curl setup",
				    rq->method, where);
	}
	cc = curl_easy_perform(x.easy);
	curl_easy_getinfo(x.easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(x.easy);
	rs->status = status;
	if (cc != CURLE_OK)
		return transfer_error(c, rq, &x, cc, errbuf, attempt, where,
				      retry, err);
	if (status >= 200 && status < 300)
		return IP_OK;
	return http_error(c, rq, rs, status, attempt, where, retry, err);
}

int
aws_request_perform(struct aws_client *c, const struct aws_request *rq,
		    struct aws_response *rs, struct ip_error *err)
{
	char sha[SHA256_HEX_SIZE];
	const char *sha_use = rq->payload_sha256;
	size_t reply_max = rq->reply_max > 0 ? rq->reply_max : AWS_REPLY_MAX;
	const char *reply_name =
	    rq->reply_name != NULL ? rq->reply_name : "reply";
	char where[AWS_URL_LOG_MAX + 1];
	struct curl_slist *hdrs = NULL;
	int rc = IP_EBACKEND;

	memset(rs, 0, sizeof(*rs));
	response_reset(rs, reply_max, reply_name);
	url_for_log(rq->url, where, sizeof(where));
	if (rq->body_len < 0 ||
	    (rq->body_fd < 0 && rq->body == NULL && rq->body_len > 0))
		return ip_error_set(err, IP_EINVAL, "%s %s: bad body",
				    rq->method, where);
	if (c->sign && sha_use == NULL) {
		if (rq->body_fd >= 0)
			return ip_error_set(err, IP_EINVAL,
					    "%s %s: file body without hash",
					    rq->method, where);
		aws_sha256_hex(rq->body, (size_t)rq->body_len, sha);
		sha_use = sha;
	}
	if (c->sign && strlen(sha_use) > 64)
		return ip_error_set(err, IP_EINVAL, "bad payload hash");
	if (build_headers(c, rq, sha_use, &hdrs) != IP_OK)
		return ip_error_set(err, IP_ENOMEM, "request headers");
	for (int attempt = 1; attempt <= c->attempts; attempt++) {
		struct ip_error e;
		bool retry;

		response_reset(rs, reply_max, reply_name);
		rc = request_attempt(c, rq, rs, hdrs, attempt, where, &retry,
				     &e);
		if (rc == IP_OK)
			break;
		if (!retry || attempt == c->attempts) {
			if (err != NULL)
				*err = e;
			break;
		}
		log_debug("%s, attempt %d of %d", e.msg, attempt, c->attempts);
		backoff_sleep(c, attempt + 1);
	}
	curl_slist_free_all(hdrs);
	return rc;
}
