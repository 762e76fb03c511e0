/*
 * server.c - the libmicrohttpd daemon of the gateway (http.h): start,
 * dispatch through the route table, quiesce, drain, stop.
 *
 * Called by main.c.  libmicrohttpd runs one listening thread and one
 * thread per connection (handlers block: ingest, `?wait=`); every callback
 * here runs on a connection thread except start/quiesce/stop (the caller's
 * thread).  The count of requests in flight is under srv->lock so stop can
 * wait for it to reach zero.
 *
 * DESIGN.  The path reaches routes_match() raw: the unescape callback
 * leaves URLs and query values alone, so each is percent-decoded exactly
 * once, by our own bounded decoder, and "%2F" cannot change the route.
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
#include "api/events.h"
#include "api/handlers.h"
#include "api/params.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/upload.h"
#include "app/app.h"

#define SERVER_CONN_DEFAULT 256
#define SERVER_TIMEOUT_S 30 /* idle connection */
#define SERVER_MEMORY (64 * 1024) /* per connection: headers, buffers */
#define SERVER_STACK (1024 * 1024) /* per connection thread */
#define SERVER_BACKLOG 128
#define SERVER_GRACE_DEFAULT_S 10
#define SERVER_QUERY_ARGS_MAX 32
#define SERVER_QUERY_KEY_MAX 64

struct http_server {
	struct app *app;
	struct MHD_Daemon *daemon;
	int port;
	atomic_bool quiesced;
	MHD_socket listen_fd; /* handed back by quiesce */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* inflight dropped to 0 */
	int inflight;
};

static const struct route_handler route_handlers[ROUTE_COUNT] = {
    [ROUTE_IMAGES_LIST] = {handlers_image_list, NULL, NULL},
    [ROUTE_IMAGES_POST] = {upload_begin, upload_body, upload_end},
    [ROUTE_IMAGE_GET] = {handlers_image_get, NULL, NULL},
    [ROUTE_IMAGE_PUT] = {upload_begin, upload_body, upload_end},
    [ROUTE_IMAGE_DELETE] = {handlers_image_delete, NULL, NULL},
    [ROUTE_IMAGE_ORIGINAL] = {handlers_image_original, NULL, NULL},
    [ROUTE_IMAGE_VARIANT] = {handlers_image_variant, NULL, NULL},
    [ROUTE_HEALTHZ] = {handlers_healthz, NULL, NULL},
    [ROUTE_READYZ] = {handlers_readyz, NULL, NULL},
    [ROUTE_METRICS] = {handlers_metrics, NULL, NULL},
    [ROUTE_EVENTS] = {events_begin, events_body, events_end},
};

static void server_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
server_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
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

struct query_check {
	int n;
	bool bad;
};

static enum MHD_Result
query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
	  const char *value)
{
	struct query_check *qc = cls;

	qc->n++;
	if (qc->n > SERVER_QUERY_ARGS_MAX ||
	    strlen(key) > SERVER_QUERY_KEY_MAX ||
	    (value != NULL && strlen(value) > PARAMS_VALUE_MAX)) {
		qc->bad = true;
		return MHD_NO;
	}
	return MHD_YES;
}

static struct http_request *
request_new(struct http_server *srv, struct MHD_Connection *conn,
	    const char *method, const char *url)
{
	struct http_request *rq = calloc(1, sizeof(*rq));

	if (rq == NULL)
		return NULL;
	rq->app = srv->app;
	rq->conn = conn;
	rq->closing = &srv->quiesced;
	rq->method = method;
	rq->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	rq->started_ms = util_mono_ms();
	util_new_id(rq->id, sizeof(rq->id));
	snprintf(rq->path, sizeof(rq->path), "%s", url);
	pthread_mutex_lock(&srv->lock);
	srv->inflight++;
	pthread_mutex_unlock(&srv->lock);
	return rq;
}

/* Bounds and route: the decision is stored in rq, nothing answered. */
static void
request_route(struct http_request *rq, const char *url)
{
	struct query_check qc = {0, false};

	ip_error_clear(&rq->route_err);
	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, query_arg,
				  &qc);
	if (qc.bad) {
		rq->route_rc = ip_error_set(
		    &rq->route_err, IP_EINVAL,
		    "too many or too long query parameters (at most %d, "
		    "values of %d bytes)",
		    SERVER_QUERY_ARGS_MAX, PARAMS_VALUE_MAX);
		return;
	}
	rq->route_rc =
	    routes_match(rq->method, url, &rq->match, &rq->route_err);
	if (rq->route_rc == IP_OK && rq->app->http_events_only &&
	    !events_route_in_worker(rq->match.route->id))
		rq->route_rc = ip_error_set(&rq->route_err, IP_ENOTFOUND,
					    "a worker serves only /v1/events "
					    "and health");
	if (rq->route_rc == IP_OK)
		rq->handler = &route_handlers[rq->match.route->id];
}

/* Answer a request whose handler reads no body (or that has no route). */
static enum MHD_Result
request_answer(struct http_request *rq)
{
	struct MHD_Response *resp;

	if (rq->route_rc == IP_ENOTSUP) {
		resp = reply_error_response(ip_code_name(rq->route_rc),
					    rq->route_err.msg);
		if (resp != NULL)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
						rq->match.allow);
		return reply_queue(rq, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
	}
	if (rq->route_rc != IP_OK)
		return reply_ip_error(rq, &rq->route_err);
	return rq->handler->begin(rq);
}

static bool
request_has_body(const struct http_request *rq)
{
	const char *cl = reply_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (reply_header(rq, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return true;
	return cl != NULL && strspn(cl, "0") != strlen(cl);
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
	struct http_request *rq = *con_cls;
	bool upload;
	size_t n;

	if (rq == NULL) {
		rq = request_new(cls, conn, method, url);
		if (rq == NULL)
			return MHD_NO; /* cannot even answer */
		*con_cls = rq;
		request_route(rq, url);
		if (rq->handler != NULL && rq->handler->body != NULL)
			return rq->handler->begin(rq);
		if (request_has_body(rq))
			return request_answer(rq);
		return MHD_YES;
	}
	upload = rq->handler != NULL && rq->handler->body != NULL;
	n = *upload_data_size;
	*upload_data_size = 0;
	if (rq->answered)
		return MHD_YES;
	if (n > 0) {
		if (!upload)
			return MHD_YES; /* not reached: answered at once */
		return rq->handler->body(rq, upload_data, n) == 0 ? MHD_YES
								  : MHD_NO;
	}
	return upload ? rq->handler->end(rq) : request_answer(rq);
}

static void
server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *rq = *con_cls;

	if (rq == NULL)
		return;
	*con_cls = NULL;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_debug("http %s: %s %s ended early (reason %d)", rq->id,
			  rq->method, rq->path, (int)toe);
	else
		log_debug("http %s: %s %s %d %lld ms", rq->id, rq->method,
			  rq->path, rq->status,
			  (long long)(util_mono_ms() - rq->started_ms));
	upload_free(rq->upload);
	free(rq->body);
	free(rq);
	pthread_mutex_lock(&srv->lock);
	if (--srv->inflight == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
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
	const struct config *cfg = &srv->app->cfg;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG | MHD_USE_ITC;
	unsigned conns = cfg->max_connections > 0
			     ? (unsigned)cfg->max_connections
			     : SERVER_CONN_DEFAULT;
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_SOCK_ADDR, 0, ss},
	    {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conns, NULL},
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
		MHD_OPTION_UNESCAPE_CALLBACK, server_unescape, srv,
		MHD_OPTION_ARRAY, opts,
		MHD_OPTION_END);
	/* clang-format on */
}

int
http_server_start(struct app *app, struct http_server **out,
		  struct ip_error *err)
{
	const struct config *cfg = &app->cfg;
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
	srv->app = app;
	srv->listen_fd = MHD_INVALID_SOCKET;
	atomic_init(&srv->quiesced, false);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->idle, &ca);
	pthread_condattr_destroy(&ca);

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
	grace = s->app->cfg.shutdown_grace_s > 0 ? s->app->cfg.shutdown_grace_s
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
	if (s->listen_fd != MHD_INVALID_SOCKET)
		close(s->listen_fd);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
