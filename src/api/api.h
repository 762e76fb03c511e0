/*
 * api.h - the /v1 API over a transport-neutral request and response.
 *
 * A transport (src/http/server.c: HTTP over sockets; api_local.c: in-process,
 * the shape of an API Gateway proxy event) turns what it received into a
 * struct api_request, drives it through api_request_begin / _body / _end,
 * and turns rq->resp into what it sends.  Everything between, the route
 * table, the handlers, the JSON errors, X-Request-Id and the request
 * counters, is here and is the same for every transport.
 *
 * Request life:
 *   api_request_init(rq, api, transport, ctx, method, path, raw_query)
 *   api_request_begin(rq)   -> API_NEXT_DONE: rq->resp is set, send it
 *                           -> API_NEXT_BODY: feed the body, then end
 *   api_request_body(rq, chunk)* -> 0, or -1: drop the client
 *   api_request_end(rq)     -> rq->resp is set
 *   api_request_release(rq) frees what the request holds (any thread).
 *
 * Thread-safety: struct api is shared by every request (options are set
 * before the first one; counters are atomics).  A struct api_request
 * belongs to the thread that runs it; handlers may block (table reads,
 * ingest, `?wait=`).
 */
#ifndef IMGPIPE_API_API_H
#define IMGPIPE_API_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/histogram.h"
#include "core/query.h"
#include "core/util.h"
#include "api/auth.h"
#include "api/ondemand.h"
#include "api/routes.h"

struct app;
struct upload;
struct route_handler;

/* The latency histograms' slots beyond the route table's: preflights
 * (OPTIONS on any route) and requests no route matched. */
#define API_ROUTE_SLOT_OPTIONS ROUTE_COUNT
#define API_ROUTE_SLOT_NONE (ROUTE_COUNT + 1)
#define API_ROUTE_SLOTS (ROUTE_COUNT + 2)
#define API_CODE_CLASSES 4 /* 2xx 3xx 4xx 5xx (1xx counts as 2xx) */

/* Counters of the API, printed by /metrics next to the app's. */
struct api_metrics {
	_Atomic int64_t http_requests;
	_Atomic int64_t http_errors; /* 4xx + 5xx answers */
	_Atomic int64_t uploads_accepted;
	_Atomic int64_t uploads_rejected;
	_Atomic int64_t upload_bytes;
	_Atomic int64_t inflight_uploads;
	/* From the request's start to its release (the answer sent), by
	 * route slot and status class (api/metrics.h). */
	struct histogram latency[API_ROUTE_SLOTS][API_CODE_CLASSES];
};

/* The API of one process: the app it serves and its own options. */
struct api {
	struct app *app; /* borrowed; outlives the api */
	/* The bytes routes answer 302 to a presigned GET of the store
	 * instead of the bytes (server.bytes; the host resolves "auto"). */
	bool bytes_redirect;
	/* `imgpipe worker` with worker.events_port: answer only /v1/events
	 * and the health routes. */
	bool events_only;
	struct api_metrics metrics;
	struct auth auth; /* keys, signed URLs (auth.h) */
	struct ondemand ondemand; /* variants made on request */
};

/* Set up api over app (counters at zero, every route served, the bytes
 * streamed unless server.bytes = redirect, API keys needed as
 * server.auth says for a server listening on server.listen).
 * api_fini frees what it holds. */
void api_init(struct api *api, struct app *app);
void api_fini(struct api *api);

#define API_RESPONSE_HEADERS_MAX 20
/* Bound of a header value (a presigned Location is the longest). */
#define API_HEADER_VALUE_MAX 8192

enum api_body_kind {
	API_BODY_NONE,
	API_BODY_MEMORY, /* mem[0, mem_len) */
	API_BODY_FILE /* fd at [offset, offset + length) */
};

struct api_response {
	int status; /* 0 until answered */
	size_t n_headers;
	struct api_header {
		const char *name; /* a literal */
		char *value; /* owned, NUL-terminated */
	} headers[API_RESPONSE_HEADERS_MAX];
	enum api_body_kind body;
	char *mem; /* owned unless mem_static */
	size_t mem_len;
	bool mem_static;
	int fd; /* owned; a transport that takes it sets -1 */
	uint64_t offset;
	uint64_t length;
};

/* What the transport provides beyond method, path and query. */
struct api_transport {
	const char *name; /* "http", "local": for the log */
	/* The value of request header `name` (any case), raw; NULL if
	 * absent.  Lives as long as the request. */
	const char *(*header)(void *ctx, const char *name);
};

struct api_request {
	struct api *api;
	struct app *app; /* api->app */
	const struct api_transport *transport;
	void *transport_ctx;
	const atomic_bool *closing; /* the transport is quiescing, or NULL */
	const struct route_handler *handler;
	const char *method; /* the transport's; lives as long as rq */
	bool head;
	bool answered;
	bool cors_done; /* the CORS headers are in (cors.c) */
	int64_t started_ms;
	int64_t started_us; /* for the latency histogram */
	/* X-Request-Id: the client's when util_request_id_ok, else new */
	char id[UTIL_REQUEST_ID_MAX + 1];
	char path[128]; /* truncated, for the log */
	char client[64]; /* peer address for the log, or "" */
	int retry_after_s; /* with a refusal from auth (IP_EFULL) */
	/* Who is asking, for the access log and per-client limits: the API
	 * key's name once authenticated (api/auth.c), else "". */
	char key_name[64];
	/* A bytes route whose URL carries a valid signature (expires, kid,
	 * sig), whether or not keys are needed: an on-demand spec signed
	 * by the operator passes the [on_demand] rules (api/ondemand.h). */
	bool url_signed;
	/* The image this request concerns, for the access log, or "". */
	char image_id[32];
	struct query query; /* decoded by query_parse */
	struct upload *upload; /* upload.c's state, or NULL */
	struct buf body; /* events.c: a small body read whole, bounded */
	bool body_over; /* the body passed its bound */
	int route_rc; /* routes_match's (or the query's) verdict */
	struct ip_error route_err;
	struct route_match match;
	struct api_response resp;
};

enum api_next {
	API_NEXT_DONE, /* rq->resp is the answer */
	API_NEXT_BODY /* feed the body, then call api_request_end */
};

/* Each route's handler.  begin() runs once the headers are in; a route
 * without body() is answered by begin(), called from api_request_end once
 * the request is complete.  body() returns 0 to go on, -1 to drop a
 * client that keeps sending far past a refusal. */
struct route_handler {
	enum api_next (*begin)(struct api_request *rq);
	int (*body)(struct api_request *rq, const char *data, size_t len);
	enum api_next (*end)(struct api_request *rq);
};

/* Fill rq (zeroed here) for method, the raw path (no query) and the raw
 * query string (without '?', NULL for none), sent by client (its address,
 * "" if the transport has none): new request id, route match, query
 * parsed, credentials checked.  Nothing is answered yet.  rq->closing is
 * NULL; the transport may set it afterwards. */
void api_request_init(struct api_request *rq, struct api *api,
		      const struct api_transport *t, void *ctx,
		      const char *client, const char *method, const char *path,
		      const char *raw_query, size_t raw_query_len);

/* Headers are in.  Upload and event routes begin here (and may refuse by
 * their headers); every other request waits for its end.  Returns
 * API_NEXT_DONE when rq->resp is set. */
enum api_next api_request_begin(struct api_request *rq);

/* True if the matched route reads a request body. */
bool api_request_reads_body(const struct api_request *rq);

/* One chunk of body; ignored unless the route reads it or once answered.
 * 0, or -1 to drop the client. */
int api_request_body(struct api_request *rq, const char *data, size_t len);

/* The body is complete (or there was none): answer.  No-op if answered. */
void api_request_end(struct api_request *rq);

/* The request header `name`, raw, or NULL. */
const char *api_header(const struct api_request *rq, const char *name);

/* The decoded query value `name`, or NULL. */
const char *api_query(const struct api_request *rq, const char *name);

/* Free what rq holds (upload state and temp file, body, the response's
 * memory and fd) but not rq itself.  Safe on a request that never began. */
void api_request_release(struct api_request *rq);

/* Free the response's header values and body; resp is empty after. */
void api_response_clear(struct api_response *resp);

/* The route table's handlers, indexed by enum route_id; for tests. */
const struct route_handler *api_handlers(void);

#endif
