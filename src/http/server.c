/*
 * server.c - libmicrohttpd as one transport of the /v1 API (http.h):
 * start, turn each connection's request into an api_request and its
 * api_response into an MHD_Response, quiesce, drain, stop.
 *
 * Called by main.c.  libmicrohttpd runs one listening thread and one
 * thread per connection (handlers block: ingest, `?wait=`); every callback
 * here runs on a connection thread except start/quiesce/stop (the caller's
 * thread).  The count of requests in flight is under srv->lock so stop can
 * wait for it to reach zero.
 *
 * DESIGN.  What is HTTP stays here: the request line, headers read
 * through MHD_lookup_connection_value, whether a request carries a body,
 * zero-copy bodies (sendfile for file ranges), `Connection: close` while
 * quiescing.  The path and the query string reach api.c raw: the unescape
 * callback leaves them alone and the URI log callback hands over the raw
 * query string, so the API decodes each exactly once (core/query.h), as
 * for any other transport.
 *
 * The edge (docs/SECURITY.md): a per-address cap on connections
 * (libmicrohttpd's own), deadlines on the phases a client alone can
 * stretch (conn_guard.c: the headers, a slow body), the header rules
 * libmicrohttpd does not enforce (strict.c), refused before any body is
 * read, and one access-log line per request at info, written in
 * server_completed, whatever the request's end.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/util.h"
#include "api/api.h"
#include "api/reply.h"
#include "api/upload.h"
#include "app/app.h"
#include "http/conn_guard.h"
#include "http/strict.h"

#define SERVER_CONN_DEFAULT 256
#define SERVER_TIMEOUT_S 30 /* idle connection */
#define SERVER_MEMORY (64 * 1024) /* per connection: headers, buffers */
#define SERVER_STACK (1024 * 1024) /* per connection thread */
#define SERVER_BACKLOG 128
#define SERVER_GRACE_DEFAULT_S 10
#define SERVER_HEADER_TIMEOUT_DEFAULT_S 10
#define SERVER_REAPER_PERIOD_MS 200

struct http_server {
	struct api *api;
	struct MHD_Daemon *daemon;
	int port;
	atomic_bool quiesced;
	MHD_socket listen_fd; /* handed back by quiesce */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* inflight dropped to 0 */
	int inflight;
	struct conn_guard *guard; /* deadlines of the connections */
};

/* One request on one connection: born in the URI log callback (which
 * alone sees the raw query string), begun at the first access call. */
struct server_request {
	struct MHD_Connection *conn;
	struct conn_guard_entry *guard; /* the connection's, or NULL */
	char *raw_query; /* after '?', or NULL */
	char uri_path[128]; /* truncated, for the log before rq exists */
	int64_t started_ms;
	int64_t resp_bytes; /* of the body queued, for the access log */
	bool begun;
	bool close; /* answer with Connection: close */
	struct api_request rq;
};

/* What libmicrohttpd says when a client hangs up or the guard shuts a
 * connection down: the access line already tells it, so debug only. */
static const char *const client_chatter[] = {
    "closed by remote side",
    "socket is closed when reading",
};

static void server_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
server_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	/* A connection refused at a limit (per client or in all) is
	 * counted, and the guard logs the count once a second: a flood
	 * must not become a line per connection. */
	if (srv->guard != NULL && strstr(line, "connection limit") != NULL) {
		conn_guard_refused(srv->guard);
		return;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(client_chatter); i++)
		if (strstr(line, client_chatter[i]) != NULL) {
			log_debug("libmicrohttpd: %s", line);
			return;
		}
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("libmicrohttpd: %s", line);
}

/* Leave URLs and query values raw (see DESIGN above). */
static size_t
server_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static const char *
server_header(void *ctx, const char *name)
{
	struct server_request *sr = ctx;

	return MHD_lookup_connection_value(sr->conn, MHD_HEADER_KIND, name);
}

static const struct api_transport server_transport = {
    .name = "http",
    .header = server_header,
};

/* libmicrohttpd calls this with the request's URI as the client sent it,
 * before it splits off the query; what we return is the request's
 * con_cls.  NULL (out of memory) makes server_access drop the client. */
static void *
server_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct server_request *sr = calloc(1, sizeof(*sr));
	const char *q = strchr(uri, '?');

	const union MHD_ConnectionInfo *ci;

	if (sr == NULL)
		return NULL;
	sr->conn = conn;
	sr->started_ms = util_mono_ms();
	snprintf(sr->uri_path, sizeof(sr->uri_path), "%.*s",
		 (int)(q != NULL ? (size_t)(q - uri) : strlen(uri)), uri);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	sr->guard = ci != NULL ? ci->socket_context : NULL;
	if (q != NULL) {
		sr->raw_query = strdup(q + 1);
		if (sr->raw_query == NULL) {
			free(sr);
			return NULL;
		}
	}
	pthread_mutex_lock(&srv->lock);
	srv->inflight++;
	pthread_mutex_unlock(&srv->lock);
	return sr;
}

static void
client_address(struct MHD_Connection *conn, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	out[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  out, (socklen_t)len);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)len);
}

/* The neutral response as libmicrohttpd's; the body's memory or fd moves
 * into it.  NULL on OOM. */
static struct MHD_Response *
response_of(struct api_response *ar)
{
	static char empty[] = "";
	struct MHD_Response *resp = NULL;

	switch (ar->body) {
	case API_BODY_NONE:
		resp = MHD_create_response_from_buffer(0, empty,
						       MHD_RESPMEM_PERSISTENT);
		break;
	case API_BODY_MEMORY:
		resp = MHD_create_response_from_buffer(
		    ar->mem_len, ar->mem,
		    ar->mem_static ? MHD_RESPMEM_PERSISTENT
				   : MHD_RESPMEM_MUST_FREE);
		if (resp != NULL) {
			ar->mem = NULL;
			ar->body = API_BODY_NONE;
		}
		break;
	case API_BODY_FILE:
		resp = MHD_create_response_from_fd_at_offset64(
		    ar->length, ar->fd, ar->offset);
		if (resp != NULL)
			ar->fd = -1;
		break;
	}
	if (resp == NULL)
		return NULL;
	for (size_t i = 0; i < ar->n_headers; i++)
		MHD_add_response_header(resp, ar->headers[i].name,
					ar->headers[i].value);
	return resp;
}

/* The bytes of the body rq->resp will send (none for HEAD). */
static int64_t
response_bytes(const struct api_request *rq)
{
	const struct api_response *ar = &rq->resp;

	if (rq->head)
		return 0;
	if (ar->body == API_BODY_MEMORY)
		return (int64_t)ar->mem_len;
	return ar->body == API_BODY_FILE ? (int64_t)ar->length : 0;
}

/* Queue rq->resp, with `Connection: close` while quiescing or when the
 * request broke a rule of strict.c (its framing is not to be trusted). */
static enum MHD_Result
request_send(struct http_server *srv, struct server_request *sr)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	sr->resp_bytes = response_bytes(&sr->rq);
	resp = response_of(&sr->rq.resp);
	if (resp == NULL)
		return MHD_NO;
	if (sr->close || atomic_load(&srv->quiesced))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
					"close");
	ret = MHD_queue_response(sr->conn, (unsigned)sr->rq.resp.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool
request_has_body(struct server_request *sr)
{
	const char *cl = server_header(sr, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (server_header(sr, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return true;
	return cl != NULL && strspn(cl, "0") != strlen(cl);
}

/* The first call: build the request, and answer at once when the headers
 * settle it. */
static enum MHD_Result
request_begin(struct http_server *srv, struct server_request *sr,
	      const char *method, const char *url)
{
	struct api_request *rq = &sr->rq;
	char msg[160];
	char client[sizeof(rq->client)];

	client_address(sr->conn, client, sizeof(client));
	api_request_init(rq, srv->api, &server_transport, sr, client, method,
			 url, sr->raw_query,
			 sr->raw_query != NULL ? strlen(sr->raw_query) : 0);
	rq->closing = &srv->quiesced;
	sr->begun = true;
	/* This connection's thread logs for this request until it ends
	 * (server_completed): its lines, and the event an upload queues,
	 * carry the request id. */
	log_context_set_request(rq->id);
	/* Ours from here, whatever begin() waits for; the body, if read,
	 * has its own floor. */
	conn_guard_ours(srv->guard, sr->guard);
	if (strict_headers_check(sr->conn, msg, sizeof(msg)) != 0) {
		sr->close = true;
		reply_error(rq, IP_EINVAL, "%s", msg);
		return request_send(srv, sr);
	}
	if (api_request_reads_body(rq)) {
		if (api_request_begin(rq) == API_NEXT_DONE)
			return request_send(srv, sr);
		conn_guard_body_begin(srv->guard, sr->guard);
		return MHD_YES;
	}
	if (request_has_body(sr)) {
		api_request_end(rq);
		return request_send(srv, sr);
	}
	return MHD_YES;
}

/*
 * libmicrohttpd calls this first with the headers, then once per chunk of
 * body, then with *upload_data_size == 0 when the request is complete.
 * A response queued in the first call makes it close the connection
 * afterwards (the rest of the request is unread), so:
 * - an upload begins at once, to refuse by its headers before its body;
 * - any other request with a body is answered at once (the body is not
 *   read; the connection closes);
 * - a request without a body is answered in the last call, and its
 *   connection stays open for the next request.
 */
static enum MHD_Result
server_access(void *cls, struct MHD_Connection *conn, const char *url,
	      const char *method, const char *version, const char *upload_data,
	      size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct server_request *sr = *con_cls;
	size_t n;

	if (sr == NULL)
		return MHD_NO; /* cannot even answer */
	if (!sr->begun)
		return request_begin(srv, sr, method, url);
	n = *upload_data_size;
	*upload_data_size = 0;
	if (n > 0)
		conn_guard_body(srv->guard, sr->guard, n);
	else
		conn_guard_ours(srv->guard, sr->guard);
	if (sr->rq.answered)
		return MHD_YES;
	if (n > 0)
		return api_request_body(&sr->rq, upload_data, n) == 0 ? MHD_YES
								      : MHD_NO;
	api_request_end(&sr->rq);
	return request_send(srv, sr);
}

/* How a request ended, for the access log ("" when it completed). */
static const char *
termination_name(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK:
		return "";
	case MHD_REQUEST_TERMINATED_WITH_ERROR:
		return "error";
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
		return "timeout";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
		return "shutdown";
	case MHD_REQUEST_TERMINATED_READ_ERROR:
		return "read_error";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
		return "client_abort";
	}
	return "other";
}

/* The access-log line of a request, however it ended.  One that never
 * reached the API (libmicrohttpd refused its headers, or the connection
 * ended in them) has no request id and logs the status libmicrohttpd
 * queued, if any. */
static void
request_log(struct server_request *sr, enum MHD_RequestTerminationCode toe)
{
	const struct api_request *rq = &sr->rq;
	const union MHD_ConnectionInfo *ci;
	char client[64];
	long long status = rq->resp.status;

	if (!sr->begun) {
		client_address(sr->conn, client, sizeof(client));
		ci = MHD_get_connection_info(sr->conn,
					     MHD_CONNECTION_INFO_HTTP_STATUS);
		status = ci != NULL ? (long long)ci->http_status : 0;
	}
	const struct log_field f[] = {
	    {"client", sr->begun ? rq->client : client, 0},
	    {"method", sr->begun ? rq->method : "-", 0},
	    {"path", sr->begun ? rq->path : sr->uri_path, 0},
	    {"status", NULL, status},
	    {"bytes", NULL, sr->resp_bytes},
	    {"ms", NULL, (long long)(util_mono_ms() - sr->started_ms)},
	    {"id", sr->begun ? rq->id : "-", 0},
	    {"key", sr->begun ? rq->key_name : "", 0},
	    {"image", sr->begun ? rq->image_id : "", 0},
	    {"end", termination_name(toe), 0},
	};

	if (sr->begun)
		log_context_set_image(rq->image_id);
	log_fields(LOG_INFO, "http", f, UTIL_ARRAY_LEN(f));
	log_context_set_image(NULL);
	log_context_set_request(NULL);
}

static void
server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct server_request *sr = *con_cls;
	struct api_request *rq;

	if (sr == NULL)
		return;
	*con_cls = NULL;
	rq = &sr->rq;
	request_log(sr, toe);
	log_context_set_request(NULL);
	conn_guard_idle(srv->guard, sr->guard);
	if (sr->begun)
		api_request_release(rq);
	free(sr->raw_query);
	free(sr);
	pthread_mutex_lock(&srv->lock);
	if (--srv->inflight == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
}

/* Each connection's entry in the guard lives from STARTED to CLOSED,
 * which libmicrohttpd calls before it closes the socket (conn_guard.c). */
static void
server_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
		  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context =
		    ci != NULL ? conn_guard_add(srv->guard, ci->connect_fd)
			       : NULL;
		return;
	}
	conn_guard_remove(srv->guard, *socket_context);
	*socket_context = NULL;
}

/* cfg.listen is a numeric address or a host name; port from cfg.port. */
static int
resolve_listen(const struct config *cfg, struct sockaddr_storage *ss, bool *v6,
	       struct ip_error *err)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", cfg->port);
	if (cfg->port < 0 || cfg->port > 65535)
		return ip_error_set(err, IP_EINVAL, "port %d out of range",
				    cfg->port);
	rc = getaddrinfo(cfg->listen[0] != '\0' ? cfg->listen : NULL, port,
			 &hints, &res);
	if (rc != 0 || res == NULL)
		return ip_error_set(err, IP_EINVAL, "listen address '%s': %s",
				    cfg->listen, gai_strerror(rc));
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return IP_OK;
}

/* Start libmicrohttpd: one thread per connection, and bounds on the
 * connections, their memory, stack and idle time. */
static struct MHD_Daemon *
start_daemon(struct http_server *srv, struct sockaddr_storage *ss, bool v6)
{
	const struct config *cfg = &srv->api->app->cfg;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG | MHD_USE_ITC;
	unsigned conns = cfg->max_connections > 0
			     ? (unsigned)cfg->max_connections
			     : SERVER_CONN_DEFAULT;
	unsigned per_client = cfg->max_connections_per_client > 0
				  ? (unsigned)cfg->max_connections_per_client
				  : 0; /* libmicrohttpd's "no cap" */
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_SOCK_ADDR, 0, ss},
	    {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conns, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)per_client, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, SERVER_TIMEOUT_S, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, SERVER_MEMORY, NULL},
	    {MHD_OPTION_THREAD_STACK_SIZE, SERVER_STACK, NULL},
	    {MHD_OPTION_LISTEN_BACKLOG_SIZE, SERVER_BACKLOG, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};

	if (v6)
		flags |= MHD_USE_IPv6;
	/* The logger first, so that start-up errors go through it. */
	/* clang-format off */
	return MHD_start_daemon(flags, (uint16_t)cfg->port,
		NULL, NULL, server_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, server_log, srv,
		MHD_OPTION_NOTIFY_COMPLETED, server_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, server_connection, srv,
		MHD_OPTION_UNESCAPE_CALLBACK, server_unescape, srv,
		MHD_OPTION_URI_LOG_CALLBACK, server_uri, srv,
		MHD_OPTION_ARRAY, opts,
		MHD_OPTION_END);
	/* clang-format on */
}

/* The deadlines of cfg's [server] section; see conn_guard.h. */
static int
start_guard(struct http_server *srv, struct ip_error *err)
{
	const struct config *cfg = &srv->api->app->cfg;
	struct conn_guard_limits lim = {
	    .header_ms = 1000LL * (cfg->header_timeout_s > 0
				       ? cfg->header_timeout_s
				       : SERVER_HEADER_TIMEOUT_DEFAULT_S),
	    .min_body_rate = cfg->min_body_rate,
	    .period_ms = SERVER_REAPER_PERIOD_MS,
	};

	return conn_guard_new(&lim, &srv->guard, err);
}

int
http_server_start(struct api *api, struct http_server **out,
		  struct ip_error *err)
{
	const struct config *cfg = &api->app->cfg;
	struct http_server *srv;
	struct sockaddr_storage ss;
	pthread_condattr_t ca;
	const union MHD_DaemonInfo *info;
	char tmp[CONFIG_PATH_MAX + 8];
	bool v6 = false;
	int rc;

	*out = NULL;
	rc = resolve_listen(cfg, &ss, &v6, err);
	if (rc != IP_OK)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s/tmp", cfg->data_dir);
	rc = util_mkdir_p(tmp);
	if (rc != 0)
		return ip_error_set(err, IP_EIO, "mkdir %s: %s", tmp,
				    strerror(-rc));
	upload_cleanup_stale(tmp);
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	srv->api = api;
	srv->listen_fd = MHD_INVALID_SOCKET;
	atomic_init(&srv->quiesced, false);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->idle, &ca);
	pthread_condattr_destroy(&ca);

	rc = start_guard(srv, err);
	if (rc != IP_OK)
		goto fail;
	srv->daemon = start_daemon(srv, &ss, v6);
	if (srv->daemon == NULL) {
		rc = ip_error_set(err, IP_EIO,
				  "cannot listen on %s:%d (see the log)",
				  cfg->listen, cfg->port);
		goto fail;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info != NULL ? info->port : cfg->port;
	*out = srv;
	return IP_OK;
fail:
	conn_guard_free(srv->guard);
	pthread_cond_destroy(&srv->idle);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return rc;
}

int
http_server_port(const struct http_server *s)
{
	return s->port;
}

void
http_server_quiesce(struct http_server *s)
{
	if (s == NULL || atomic_exchange(&s->quiesced, true))
		return;
	s->listen_fd = MHD_quiesce_daemon(s->daemon);
	/* libmicrohttpd hands the socket back still listening, and it may
	 * not be closed before MHD_stop_daemon; shut it down so that new
	 * connections are refused now instead of waiting in the backlog. */
	if (s->listen_fd != MHD_INVALID_SOCKET &&
	    shutdown(s->listen_fd, SHUT_RDWR) != 0)
		log_warn("http: shutdown of the listening socket: %s",
			 strerror(errno));
}

void
http_server_stop(struct http_server *s)
{
	struct timespec deadline;
	int grace;

	if (s == NULL)
		return;
	http_server_quiesce(s);
	grace = s->api->app->cfg.shutdown_grace_s > 0
		    ? s->api->app->cfg.shutdown_grace_s
		    : SERVER_GRACE_DEFAULT_S;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += grace;
	pthread_mutex_lock(&s->lock);
	while (s->inflight > 0) {
		if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) ==
		    ETIMEDOUT) {
			log_warn("http: %d request(s) still in flight after "
				 "%d s; closing them",
				 s->inflight, grace);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	MHD_stop_daemon(s->daemon);
	conn_guard_free(s->guard);
	if (s->listen_fd != MHD_INVALID_SOCKET)
		close(s->listen_fd);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
