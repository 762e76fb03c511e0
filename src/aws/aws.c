/*
 * aws.c - SigV4-signed requests with retries, credentials, endpoint URLs
 * and AWS error parsing, shared by the S3 object store and the DynamoDB
 * table (and later the Lambda runtime loop).
 *
 * Called from any thread of those backends at once; see aws.h.
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
 */
#include "aws/aws.h"

#include <ctype.h>
#include <curl/curl.h>
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
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define AWS_ERROR_BODY_MAX (64 * 1024) /* kept of an error reply */
#define AWS_SHA_BUF (64 * 1024)
#define AWS_URL_LOG_MAX 160

struct aws_client {
	struct aws_creds creds;
	char sigv4[96]; /* "aws:amz:REGION:SERVICE" */
	char service[32];
	char token_header[sizeof(((struct aws_creds *)0)->session_token) + 32];
	int attempts;
	long connect_timeout_ms;
	long low_speed_s;
	int backoff_ms;
	int backoff_max_ms;
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

/* State of one attempt, seen by the curl callbacks. */
struct aws_xfer {
	const struct aws_request *rq;
	struct aws_response *rs;
	CURL *easy;
	int64_t read_pos; /* of the request body */
	size_t reply_max;
	bool to_fd; /* this reply's body goes to rq->out_fd */
	bool decided; /* to_fd chosen (on the first body byte) */
	bool too_big; /* a 2xx reply above reply_max */
	int io_errno; /* read/write of a local file failed */
	size_t body_cap;
};

static pthread_once_t aws_once = PTHREAD_ONCE_INIT;
static CURLcode aws_global_rc = CURLE_FAILED_INIT;
static const char *aws_ca; /* CURLOPT_CAINFO, or NULL for curl's default */

/*
 * The CA bundle for HTTPS.  libcurl knows one path, fixed when it was
 * built (Debian's: /etc/ssl/certs/ca-certificates.crt); the Lambda package
 * runs Debian's libcurl on Amazon Linux 2023, which keeps its bundle at
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

/* ---- URLs ------------------------------------------------------------ */

static bool
host_char_ok(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' ||
	       c == ']' || c == '_';
}

static int
parse_query(const char *q, struct aws_url *out, struct ip_error *err)
{
	while (*q != '\0') {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		size_t nlen = eq != NULL ? (size_t)(eq - q) : len;
		size_t i = out->n_params;

		if (len == 0) {
			q++;
			continue;
		}
		if (i >= AWS_PARAMS_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "too many URL parameters (max %d)",
					    AWS_PARAMS_MAX);
		if (nlen == 0 || nlen >= AWS_PARAM_NAME_MAX)
			return ip_error_set(err, IP_EINVAL,
					    "bad URL parameter name");
		for (size_t k = 0; k < nlen; k++)
			if (!(islower((unsigned char)q[k]) ||
			      isdigit((unsigned char)q[k]) || q[k] == '_'))
				return ip_error_set(err, IP_EINVAL,
						    "bad URL parameter name "
						    "\"%.*s\"",
						    (int)nlen, q);
		memcpy(out->params[i].name, q, nlen);
		out->params[i].name[nlen] = '\0';
		if (aws_url_param(out, out->params[i].name) != NULL)
			return ip_error_set(err, IP_EINVAL,
					    "URL parameter \"%s\" given twice",
					    out->params[i].name);
		if (eq != NULL &&
		    !util_pct_decode(eq + 1, len - nlen - 1, true,
				     out->params[i].value,
				     sizeof(out->params[i].value)))
			return ip_error_set(err, IP_EINVAL,
					    "bad value of URL parameter \"%s\"",
					    out->params[i].name);
		out->n_params++;
		q += len;
	}
	return IP_OK;
}

int
aws_url_parse(const char *url, const char *scheme, struct aws_url *out,
	      struct ip_error *err)
{
	size_t n = strlen(scheme);
	const char *p;
	size_t hlen;
	int rc;

	memset(out, 0, sizeof(*out));
	if (url == NULL || strncmp(url, scheme, n) != 0)
		return ip_error_set(err, IP_EINVAL, "not a %s URL", scheme);
	if (strnlen(url, CONFIG_URL_MAX) >= CONFIG_URL_MAX)
		return ip_error_set(err, IP_EINVAL, "URL too long");
	if (strchr(url, '#') != NULL)
		return ip_error_set(err, IP_EINVAL, "URL has a fragment");
	p = url + n;
	if (strncmp(p, "://", 3) == 0) {
		out->aws = true;
		out->https = true;
		p += 3;
	} else if (strncmp(p, "+http://", 8) == 0) {
		p += 8;
	} else if (strncmp(p, "+https://", 9) == 0) {
		out->https = true;
		p += 9;
	} else {
		return ip_error_set(err, IP_EINVAL,
				    "expected %s://, %s+http:// or "
				    "%s+https://",
				    scheme, scheme, scheme);
	}
	hlen = strcspn(p, "/?");
	if (out->aws && hlen != 0)
		return ip_error_set(err, IP_EINVAL,
				    "%s:// names the AWS endpoint and takes no "
				    "host (use %s+https://HOST for another)",
				    scheme, scheme);
	if (!out->aws) {
		if (hlen == 0)
			return ip_error_set(err, IP_EINVAL, "URL has no host");
		if (hlen >= sizeof(out->host))
			return ip_error_set(err, IP_EINVAL, "host too long");
		for (size_t i = 0; i < hlen; i++)
			if (!host_char_ok((unsigned char)p[i]))
				return ip_error_set(err, IP_EINVAL,
						    "bad character in URL "
						    "host");
		if (p[0] == ':' || p[hlen - 1] == ':')
			return ip_error_set(err, IP_EINVAL, "bad URL host");
		memcpy(out->host, p, hlen);
		out->host[hlen] = '\0';
	}
	p += hlen;
	if (*p == '/')
		p++;
	if (*p != '\0' && *p != '?')
		return ip_error_set(err, IP_EINVAL,
				    "URL path must be empty or \"/\"");
	if (*p == '?')
		p++;
	rc = parse_query(p, out, err);
	if (rc != IP_OK)
		return rc;
	return IP_OK;
}

const char *
aws_url_param(const struct aws_url *u, const char *name)
{
	for (size_t i = 0; i < u->n_params; i++)
		if (strcmp(u->params[i].name, name) == 0)
			return u->params[i].value;
	return NULL;
}

int
aws_url_check_params(const struct aws_url *u, const char *const *known,
		     struct ip_error *err)
{
	for (size_t i = 0; i < u->n_params; i++) {
		bool found = false;

		for (size_t k = 0; known[k] != NULL && !found; k++)
			found = strcmp(u->params[i].name, known[k]) == 0;
		if (!found)
			return ip_error_set(err, IP_EINVAL,
					    "unknown URL parameter \"%s\"",
					    u->params[i].name);
	}
	return IP_OK;
}

int
aws_url_bool(const struct aws_url *u, const char *name, bool def, bool *out,
	     struct ip_error *err)
{
	const char *v = aws_url_param(u, name);

	*out = def;
	if (v == NULL)
		return IP_OK;
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "yes") == 0 || v[0] == '\0')
		*out = true;
	else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 ||
		 strcmp(v, "no") == 0)
		*out = false;
	else
		return ip_error_set(err, IP_EINVAL,
				    "URL parameter %s: expected 1 or 0", name);
	return IP_OK;
}

int
aws_url_int(const struct aws_url *u, const char *name, int64_t def, int64_t min,
	    int64_t max, int64_t *out, struct ip_error *err)
{
	const char *v = aws_url_param(u, name);
	int64_t x;

	*out = def;
	if (v == NULL)
		return IP_OK;
	if (util_parse_size(v, &x) != 0 || x < min || x > max)
		return ip_error_set(err, IP_EINVAL,
				    "URL parameter %s: expected %lld..%lld",
				    name, (long long)min, (long long)max);
	*out = x;
	return IP_OK;
}

int
aws_url_client_opts(const struct aws_url *u, struct aws_client_opts *o,
		    struct ip_error *err)
{
	int64_t attempts;
	int64_t timeout;
	int rc;

	rc = aws_url_int(u, "attempts", AWS_ATTEMPTS_DEFAULT, 1,
			 AWS_ATTEMPTS_MAX, &attempts, err);
	if (rc == IP_OK)
		rc = aws_url_int(u, "timeout", 30, 1, 3600, &timeout, err);
	if (rc != IP_OK)
		return rc;
	o->attempts = (int)attempts;
	o->low_speed_s = (int)timeout;
	return IP_OK;
}

/* ---- credentials ----------------------------------------------------- */

/* Printable ASCII without spaces; no ':' when colon_ok is false. */
static bool
cred_ok(const char *s, bool colon_ok)
{
	for (; *s != '\0'; s++)
		if (*s <= 0x20 || *s > 0x7e || (*s == ':' && !colon_ok))
			return false;
	return true;
}

static bool
region_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= AWS_REGION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) ||
		      isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Copy src into dst[size]; IP_EINVAL naming what if it does not fit. */
static int
copy_setting(char *dst, size_t size, const char *src, const char *what,
	     struct ip_error *err)
{
	if (util_strlcpy(dst, src, size) >= size)
		return ip_error_set(err, IP_EINVAL, "%s too long", what);
	return IP_OK;
}

int
aws_creds_load(const struct config *cfg, const char *url_region,
	       struct aws_creds *out, struct ip_error *err)
{
	const char *id = cfg->aws_access_key_id;
	const char *secret = cfg->aws_secret_access_key;
	const char *token = cfg->aws_session_token;
	const char *region = url_region;
	int rc;

	memset(out, 0, sizeof(*out));
	if (id[0] == '\0' && secret[0] == '\0') {
		id = env_nonempty("AWS_ACCESS_KEY_ID");
		secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
		if (token[0] == '\0')
			token = env_nonempty("AWS_SESSION_TOKEN");
	}
	if (id == NULL || secret == NULL || id[0] == '\0' || secret[0] == '\0')
		return ip_error_set(err, IP_EAUTH,
				    "no AWS credentials: set [aws] "
				    "access_key_id and secret_access_key, or "
				    "AWS_ACCESS_KEY_ID and "
				    "AWS_SECRET_ACCESS_KEY");
	if (token == NULL)
		token = "";
	if (region == NULL || region[0] == '\0')
		region = cfg->aws_region;
	if (region[0] == '\0')
		region = env_nonempty("AWS_REGION");
	if (region == NULL)
		region = env_nonempty("AWS_DEFAULT_REGION");
	if (region == NULL)
		return ip_error_set(err, IP_EINVAL,
				    "no AWS region: set ?region= in the URL, "
				    "[aws] region or AWS_REGION");
	if (!cred_ok(id, false) || !cred_ok(secret, true) ||
	    !cred_ok(token, true))
		return ip_error_set(err, IP_EINVAL,
				    "AWS credentials hold invalid characters");
	if (!region_ok(region))
		return ip_error_set(err, IP_EINVAL, "bad AWS region \"%.40s\"",
				    region);
	rc = copy_setting(out->access_key_id, sizeof(out->access_key_id), id,
			  "AWS access key id", err);
	if (rc == IP_OK)
		rc = copy_setting(out->secret_access_key,
				  sizeof(out->secret_access_key), secret,
				  "AWS secret access key", err);
	if (rc == IP_OK)
		rc =
		    copy_setting(out->session_token, sizeof(out->session_token),
				 token, "AWS session token", err);
	if (rc == IP_OK)
		rc = copy_setting(out->region, sizeof(out->region), region,
				  "AWS region", err);
	return rc;
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
	c->creds = *creds;
	util_strlcpy(c->service, opts->service, sizeof(c->service));
	n = snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:%s", creds->region,
		     opts->service);
	if (n < 0 || (size_t)n >= sizeof(c->sigv4)) {
		free(c);
		return ip_error_set(err, IP_EINVAL, "region/service too long");
	}
	if (creds->session_token[0] != '\0')
		snprintf(c->token_header, sizeof(c->token_header),
			 "x-amz-security-token: %s", creds->session_token);
	c->attempts =
	    opts->attempts > 0 ? opts->attempts : AWS_ATTEMPTS_DEFAULT;
	c->connect_timeout_ms =
	    opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
	c->low_speed_s = opts->low_speed_s > 0 ? opts->low_speed_s : 30;
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

/* ---- errors ---------------------------------------------------------- */

static const char *const aws_throttle_codes[] = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
    NULL,
};

static bool
code_in(const char *code, const char *const *list)
{
	if (code == NULL || code[0] == '\0')
		return false;
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

/* Transport failures that are ours, not the network's: never retried. */
static bool
curl_local_error(int cc)
{
	switch (cc) {
	case CURLE_READ_ERROR:
	case CURLE_WRITE_ERROR:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
	case CURLE_FAILED_INIT:
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_LOGIN_DENIED:
		return true;
	default:
		return false;
	}
}

bool
aws_retryable(long http_status, const char *aws_code, int curl_code)
{
	if (curl_code != 0)
		return !curl_local_error(curl_code);
	if (code_in(aws_code, aws_throttle_codes))
		return true;
	return http_status >= 500 || http_status == 429;
}

static const struct {
	const char *code;
	int ip;
} aws_code_map[] = {
    {"NoSuchKey", IP_ENOTFOUND},
    {"NoSuchBucket", IP_ENOTFOUND},
    {"NoSuchUpload", IP_ENOTFOUND},
    {"NotFound", IP_ENOTFOUND},
    {"ResourceNotFoundException", IP_ENOTFOUND},
    {"SignatureDoesNotMatch", IP_EAUTH},
    {"InvalidAccessKeyId", IP_EAUTH},
    {"InvalidToken", IP_EAUTH},
    {"ExpiredToken", IP_EAUTH},
    {"ExpiredTokenException", IP_EAUTH},
    {"TokenRefreshRequired", IP_EAUTH},
    {"InvalidSignatureException", IP_EAUTH},
    {"UnrecognizedClientException", IP_EAUTH},
    {"MissingAuthenticationTokenException", IP_EAUTH},
    {"IncompleteSignatureException", IP_EAUTH},
    {"InvalidClientTokenId", IP_EAUTH},
    {"RequestTimeTooSkewed", IP_EAUTH},
    {"AccessDenied", IP_EFORBIDDEN},
    {"AccessDeniedException", IP_EFORBIDDEN},
    {"AllAccessDisabled", IP_EFORBIDDEN},
    {"BucketAlreadyOwnedByYou", IP_EEXIST},
    {"BucketAlreadyExists", IP_EEXIST},
    {"ResourceInUseException", IP_EEXIST},
    {"ConditionalCheckFailedException", IP_ECONFLICT},
    {"PreconditionFailed", IP_ECONFLICT},
    {"EntityTooLarge", IP_ETOOBIG},
    {"InvalidBucketName", IP_EINVAL},
    {"KeyTooLongError", IP_EINVAL},
    {"NotImplemented", IP_ENOTSUP},
    {"UnknownOperationException", IP_ENOTSUP},
};

int
aws_error_map(long http_status, const char *aws_code)
{
	if (aws_code != NULL && aws_code[0] != '\0') {
		for (size_t i = 0; i < UTIL_ARRAY_LEN(aws_code_map); i++)
			if (strcmp(aws_code, aws_code_map[i].code) == 0)
				return aws_code_map[i].ip;
		if (code_in(aws_code, aws_throttle_codes))
			return IP_ERETRY;
	}
	if (http_status >= 200 && http_status < 300)
		return IP_OK;
	switch (http_status) {
	case 401:
	case 403:
		return IP_EAUTH;
	case 404:
		return IP_ENOTFOUND;
	case 409:
	case 412:
		return IP_ECONFLICT;
	case 413:
		return IP_ETOOBIG;
	case 429:
		return IP_ERETRY;
	case 501:
		return IP_ENOTSUP;
	default:
		return IP_EBACKEND;
	}
}

/* Copy s[0, n) into out as printable ASCII, other bytes as '?'. */
static void
copy_sanitised(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

/* Append the UTF-8 of code point cp; false if invalid or no room. */
static bool
put_utf8(unsigned long cp, char *out, size_t size, size_t *o)
{
	unsigned char b[4];
	size_t n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= size)
		return false;
	memcpy(out + *o, b, n);
	*o += n;
	return true;
}

/* Decode one entity at s[0, n) (s[0] == '&'); *used gets its length. */
static bool
decode_entity(const char *s, size_t n, char *out, size_t size, size_t *o,
	      size_t *used)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {
	    {"amp;", '&'},  {"lt;", '<'},    {"gt;", '>'},
	    {"quot;", '"'}, {"apos;", '\''},
	};
	const char *semi = memchr(s, ';', n < 12 ? n : 12);
	unsigned long cp = 0;
	size_t i;

	if (semi == NULL)
		return false;
	*used = (size_t)(semi - s) + 1;
	for (i = 0; i < UTIL_ARRAY_LEN(named); i++) {
		size_t len = strlen(named[i].name);

		if (*used == len + 1 &&
		    memcmp(s + 1, named[i].name, len) == 0) {
			if (*o + 1 >= size)
				return false;
			out[(*o)++] = named[i].c;
			return true;
		}
	}
	if (*used < 4 || s[1] != '#')
		return false;
	if (s[2] == 'x' || s[2] == 'X') {
		for (i = 3; s + i < semi; i++) {
			int v = util_hex_value(s[i]);

			if (v < 0 || cp > 0x10ffff)
				return false;
			cp = cp * 16 + (unsigned long)v;
		}
		if (i == 3)
			return false;
	} else {
		for (i = 2; s + i < semi; i++) {
			if (!isdigit((unsigned char)s[i]) || cp > 0x10ffff)
				return false;
			cp = cp * 10 + (unsigned long)(s[i] - '0');
		}
	}
	return put_utf8(cp, out, size, o);
}

/* memmem bounded to [from, len), also requiring what follows the match
 * to be one of `after` (so "<Key" does not match "<KeyCount>"). */
static const char *
find_tag(const char *xml, size_t len, size_t from, const char *otag,
	 const char *after)
{
	size_t olen = strlen(otag);
	const char *p = xml + from;
	const char *end = xml + len;

	while (from < len && (size_t)(end - p) > olen) {
		const char *hit = memmem(p, (size_t)(end - p), otag, olen);

		if (hit == NULL || hit + olen >= end)
			return NULL;
		if (strchr(after, hit[olen]) != NULL)
			return hit;
		p = hit + 1;
	}
	return NULL;
}

long
aws_xml_element(const char *xml, size_t len, size_t from, const char *tag,
		char *out, size_t out_size, size_t *next)
{
	char otag[AWS_PARAM_NAME_MAX + 2];
	char ctag[AWS_PARAM_NAME_MAX + 4];
	const char *start;
	const char *gt;
	const char *end;
	const char *stop = xml + len;
	size_t o = 0;
	int n;

	if (xml == NULL || from >= len || out_size == 0)
		return -1;
	out[0] = '\0';
	n = snprintf(otag, sizeof(otag), "<%s", tag);
	if (n < 0 || (size_t)n >= sizeof(otag))
		return -2;
	snprintf(ctag, sizeof(ctag), "</%s>", tag);
	start = find_tag(xml, len, from, otag, "> \t\r\n/");
	if (start == NULL)
		return -1;
	gt = memchr(start, '>', (size_t)(stop - start));
	if (gt == NULL)
		return -1;
	if (gt[-1] == '/') { /* <Tag/> */
		if (next != NULL)
			*next = (size_t)(gt + 1 - xml);
		return 0;
	}
	end = memmem(gt + 1, (size_t)(stop - gt - 1), ctag, strlen(ctag));
	if (end == NULL)
		return -1;
	for (const char *p = gt + 1; p < end;) {
		if (*p == '<' || *p == '\0')
			return -2;
		if (*p == '&') {
			size_t used;

			if (!decode_entity(p, (size_t)(end - p), out, out_size,
					   &o, &used))
				return -2;
			p += used;
			continue;
		}
		if (o + 1 >= out_size)
			return -2;
		out[o++] = *p++;
	}
	out[o] = '\0';
	if (next != NULL)
		*next = (size_t)(end - xml) + strlen(ctag);
	return (long)o;
}

bool
aws_xml_error(const char *xml, size_t len, char *code, size_t code_size,
	      char *msg, size_t msg_size)
{
	char buf[1024];
	long n;

	code[0] = '\0';
	msg[0] = '\0';
	if (xml == NULL)
		return false;
	n = aws_xml_element(xml, len, 0, "Message", buf, sizeof(buf), NULL);
	if (n > 0)
		copy_sanitised(buf, (size_t)n, msg, msg_size);
	n = aws_xml_element(xml, len, 0, "Code", buf, sizeof(buf), NULL);
	if (n <= 0)
		return false;
	copy_sanitised(buf, (size_t)n, code, code_size);
	return true;
}

bool
aws_json_error(const char *json, size_t len, char *code, size_t code_size,
	       char *msg, size_t msg_size)
{
	json_t *root;
	json_t *v;
	const char *type;
	const char *hash;
	bool found = false;

	code[0] = '\0';
	msg[0] = '\0';
	if (json == NULL || len == 0)
		return false;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	v = json_object_get(root, "message");
	if (!json_is_string(v))
		v = json_object_get(root, "Message");
	if (json_is_string(v))
		copy_sanitised(json_string_value(v), json_string_length(v), msg,
			       msg_size);
	v = json_object_get(root, "__type");
	if (!json_is_string(v))
		goto out;
	type = json_string_value(v);
	hash = strrchr(type, '#');
	if (hash != NULL)
		type = hash + 1;
	if (type[0] == '\0')
		goto out;
	copy_sanitised(type, strlen(type), code, code_size);
	found = true;
out:
	json_decref(root);
	return found;
}

/* ---- query strings --------------------------------------------------- */

long
aws_uri_encode(const char *s, bool keep_slash, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' ||
		    c == '~' || (c == '/' && keep_slash)) {
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= size)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= size)
		return -1;
	out[o] = '\0';
	return (long)o;
}

int
aws_query_build(const char *const *names, const char *const *values, size_t n,
		char *out, size_t size, struct ip_error *err)
{
	size_t order[AWS_PARAMS_MAX];
	size_t o = 0;

	if (n > AWS_PARAMS_MAX)
		return ip_error_set(err, IP_EINVAL, "too many query params");
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	/* Insertion sort by name: a handful of parameters at most. */
	for (size_t i = 1; i < n; i++) {
		size_t cur = order[i];
		size_t j = i;

		while (j > 0 && strcmp(names[order[j - 1]], names[cur]) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = cur;
	}
	if (size == 0)
		return ip_error_set(err, IP_EINVAL, "query buffer");
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *v = values != NULL ? values[order[i]] : NULL;
		long w;

		if (i > 0) {
			if (o + 1 >= size)
				goto toolong;
			out[o++] = '&';
		}
		w = aws_uri_encode(names[order[i]], false, out + o, size - o);
		if (w < 0)
			goto toolong;
		o += (size_t)w;
		if (o + 1 >= size)
			goto toolong;
		out[o++] = '=';
		out[o] = '\0';
		w = aws_uri_encode(v != NULL ? v : "", false, out + o,
				   size - o);
		if (w < 0)
			goto toolong;
		o += (size_t)w;
	}
	return IP_OK;
toolong:
	out[0] = '\0';
	return ip_error_set(err, IP_EINVAL, "query string too long");
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

int
aws_tmpfile(int *fd_out, struct ip_error *err)
{
	char path[] = "/tmp/imgpipe-s3-XXXXXX";
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

	if (!x->decided) {
		long status = 0;

		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		x->to_fd = x->rq->out_fd >= 0 && status >= 200 && status < 300;
		if (status < 200 || status >= 300)
			x->reply_max = AWS_ERROR_BODY_MAX;
		x->decided = true;
	}
	if (x->to_fd) {
		if (util_write_all(x->rq->out_fd, data, n) != 0) {
			x->io_errno = errno != 0 ? errno : EIO;
			return 0;
		}
		return n;
	}
	if (rs->body_len + n > x->reply_max) {
		if (x->reply_max != AWS_ERROR_BODY_MAX) {
			x->too_big = true;
			return 0;
		}
		/* An error body: its head is enough to explain it. */
		keep = x->reply_max - rs->body_len;
		if (keep == 0)
			return n;
	}
	if (rs->body_len + keep + 1 > x->body_cap) {
		size_t cap = x->body_cap == 0 ? 4096 : x->body_cap;
		char *grown;

		while (cap < rs->body_len + keep + 1)
			cap *= 2;
		grown = realloc(rs->body, cap);
		if (grown == NULL) {
			x->io_errno = ENOMEM;
			return 0;
		}
		rs->body = grown;
		x->body_cap = cap;
	}
	memcpy(rs->body + rs->body_len, data, keep);
	rs->body_len += keep;
	rs->body[rs->body_len] = '\0';
	return n;
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
		return n;
	}
	if (header_value(data, n, "Content-Length", &v, &vl)) {
		char *end;
		long long len;

		copy_sanitised(v, vl, tmp, sizeof(tmp));
		errno = 0;
		len = strtoll(tmp, &end, 10);
		if (errno == 0 && end != tmp && *end == '\0' && len >= 0)
			rs->content_length = len;
	} else if (header_value(data, n, "ETag", &v, &vl)) {
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v++;
			vl -= 2;
		}
		copy_sanitised(v, vl, rs->etag, sizeof(rs->etag));
	} else if (header_value(data, n, "Content-Type", &v, &vl)) {
		copy_sanitised(v, vl, rs->content_type,
			       sizeof(rs->content_type));
	} else if (header_value(data, n, "Last-Modified", &v, &vl)) {
		time_t t;

		copy_sanitised(v, vl, tmp, sizeof(tmp));
		t = curl_getdate(tmp, NULL);
		if (t > 0)
			rs->last_modified_ms = (int64_t)t * 1000;
	}
	return n;
}

static void
response_reset(struct aws_response *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
	rs->status = 0;
	rs->content_length = -1;
	rs->last_modified_ms = 0;
	rs->etag[0] = '\0';
	rs->content_type[0] = '\0';
	rs->code[0] = '\0';
	rs->message[0] = '\0';
}

void
aws_response_free(struct aws_response *rs)
{
	if (rs == NULL)
		return;
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
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
	copy_sanitised(url, n, out, size);
}

static struct curl_slist *
build_headers(const struct aws_client *c, const struct aws_request *rq,
	      const char *sha)
{
	struct curl_slist *h = NULL;
	struct curl_slist *t;
	char line[96];

	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
	h = curl_slist_append(NULL, line);
	if (h == NULL)
		return NULL;
	if (c->token_header[0] != '\0') {
		t = curl_slist_append(h, c->token_header);
		if (t == NULL)
			goto fail;
		h = t;
	}
	for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++) {
		t = curl_slist_append(h, rq->headers[i]);
		if (t == NULL)
			goto fail;
		h = t;
	}
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
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
	if (aws_ca != NULL)
		SET(CURLOPT_CAINFO, aws_ca);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, c->low_speed_s);
	SET(CURLOPT_AWS_SIGV4, c->sigv4);
	SET(CURLOPT_USERNAME, c->creds.access_key_id);
	SET(CURLOPT_PASSWORD, c->creds.secret_access_key);
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

/* Fill rs->code/message from an error body (S3 XML or DynamoDB JSON). */
static void
parse_error_body(struct aws_response *rs)
{
	const char *b = rs->body;
	size_t n = rs->body_len;

	while (n > 0 && isspace((unsigned char)*b)) {
		b++;
		n--;
	}
	if (n == 0)
		return;
	if (*b == '{')
		aws_json_error(b, n, rs->code, sizeof(rs->code), rs->message,
			       sizeof(rs->message));
	else if (*b == '<')
		aws_xml_error(b, n, rs->code, sizeof(rs->code), rs->message,
			      sizeof(rs->message));
}

int
aws_request_perform(struct aws_client *c, const struct aws_request *rq,
		    struct aws_response *rs, struct ip_error *err)
{
	char sha[65];
	const char *sha_use = rq->payload_sha256;
	char errbuf[CURL_ERROR_SIZE];
	char where[AWS_URL_LOG_MAX + 1];
	struct curl_slist *hdrs = NULL;
	struct aws_xfer x;
	CURLcode cc = CURLE_OK;
	int rc = IP_EBACKEND;

	memset(rs, 0, sizeof(*rs));
	response_reset(rs);
	url_for_log(rq->url, where, sizeof(where));
	if (rq->body_len < 0 ||
	    (rq->body_fd < 0 && rq->body == NULL && rq->body_len > 0))
		return ip_error_set(err, IP_EINVAL, "%s %s: bad body",
				    rq->method, where);
	if (sha_use == NULL) {
		if (rq->body_fd >= 0)
			return ip_error_set(err, IP_EINVAL,
					    "%s %s: file body without hash",
					    rq->method, where);
		aws_sha256_hex(rq->body, (size_t)rq->body_len, sha);
		sha_use = sha;
	}
	if (strlen(sha_use) > 64)
		return ip_error_set(err, IP_EINVAL, "bad payload hash");
	hdrs = build_headers(c, rq, sha_use);
	if (hdrs == NULL)
		return ip_error_set(err, IP_ENOMEM, "request headers");
	for (int attempt = 1; attempt <= c->attempts; attempt++) {
		long status = 0;

		response_reset(rs);
		rs->attempts = attempt;
		memset(&x, 0, sizeof(x));
		x.rq = rq;
		x.rs = rs;
		x.reply_max = rq->reply_max > 0 ? rq->reply_max : AWS_REPLY_MAX;
		errbuf[0] = '\0';
		if (rq->out_fd >= 0 && (ftruncate(rq->out_fd, 0) != 0 ||
					lseek(rq->out_fd, 0, SEEK_SET) != 0)) {
			rc = ip_error_set(err, IP_EIO, "%s %s: temp file: %s",
					  rq->method, where, strerror(errno));
			goto out;
		}
		x.easy = curl_easy_init();
		if (x.easy == NULL) {
			rc = ip_error_set(err, IP_ENOMEM, "curl_easy_init");
			goto out;
		}
		if (setup_easy(c, rq, &x, hdrs, errbuf) != 0) {
			curl_easy_cleanup(x.easy);
			rc = ip_error_set(err, IP_EINVAL, "%s %s: curl setup",
					  rq->method, where);
			goto out;
		}
		cc = curl_easy_perform(x.easy);
		curl_easy_getinfo(x.easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(x.easy);
		x.easy = NULL;
		rs->status = status;
		if (cc != CURLE_OK) {
			if (x.too_big) {
				rc = ip_error_set(
				    err, IP_EBACKEND,
				    "%s %s: reply above %zu bytes", rq->method,
				    where, x.reply_max);
				goto out;
			}
			if (x.io_errno == ENOMEM) {
				rc = ip_error_set(err, IP_ENOMEM, "%s %s",
						  rq->method, where);
				goto out;
			}
			if (x.io_errno != 0) {
				rc = ip_error_set(
				    err, IP_EIO, "%s %s: local file: %s",
				    rq->method, where, strerror(x.io_errno));
				goto out;
			}
			if (aws_retryable(0, NULL, (int)cc) &&
			    attempt < c->attempts) {
				log_debug("%s %s %s: %s, attempt %d of %d",
					  c->service, rq->method, where,
					  errbuf[0] ? errbuf
						    : curl_easy_strerror(cc),
					  attempt, c->attempts);
				backoff_sleep(c, attempt + 1);
				continue;
			}
			rc = ip_error_set(
			    err,
			    curl_local_error((int)cc) ? IP_EINVAL : IP_EBACKEND,
			    "%s %s %s: %s (after %d attempt%s)", c->service,
			    rq->method, where,
			    errbuf[0] ? errbuf : curl_easy_strerror(cc),
			    attempt, attempt == 1 ? "" : "s");
			goto out;
		}
		if (status >= 200 && status < 300) {
			rc = IP_OK;
			goto out;
		}
		parse_error_body(rs);
		if (aws_retryable(status, rs->code, 0) &&
		    attempt < c->attempts) {
			log_debug("%s %s %s: HTTP %ld %s, attempt %d of %d",
				  c->service, rq->method, where, status,
				  rs->code, attempt, c->attempts);
			backoff_sleep(c, attempt + 1);
			continue;
		}
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
		ip_error_set(err, rc, "%s %s %s: %s%s%s (HTTP %ld%s)",
			     c->service, rq->method, where, rs->code,
			     rs->message[0] ? ": " : "", rs->message, status,
			     attempt > 1 ? ", after retries" : "");
		goto out;
	}
out:
	curl_slist_free_all(hdrs);
	return rc;
}
