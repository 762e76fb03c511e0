/*
 * queue_redis.c - the shared event queue on Redis Streams (hiredis), for
 * any number of gateway and worker processes on one machine or many.
 *
 * Called through the queue.h wrappers by the gateway (send), the workers
 * (receive, delete, retry, dead_letter), the admin commands (dlq_list,
 * dlq_redrive), /readyz (ping), /metrics (depth) and shutdown (wake), from
 * any thread at once.  queue_redis_open is called by the registry
 * (queue.c) with a URL:
 *
 *   redis://[[user]:password@]host[:port][/db][?stream=S&group=G&db=N]
 *
 * (defaults: port 6379, db 0, stream "imgpipe", group "workers").
 *
 * DESIGN
 *
 * Keys (S = the stream name; one queue = one stream = one consumer group):
 *   S              the stream of live messages; entry fields id, body,
 *                  sent, count (deliveries of earlier entries of the same
 *                  message), dedup
 *   S:vis          zset: entry id -> ms when its delivery times out
 *   S:delayed      zset: message id -> ms when it is due (delayed sends,
 *                  retries with a backoff)
 *   S:held         hash: "<id>:body|sent|count|dedup" of delayed messages
 *   S:where        hash: message id -> entry id, or "delayed"; a message
 *                  is live exactly while it is here
 *   S:dedup        hash: dedup id -> message id, while that message lives
 *   S:dead         the dead-letter stream: id, body, sent, count, reason,
 *                  dead_at
 *   S:dead-index   hash: message id -> entry id in S:dead
 *   S:seq          counter for message ids ("1", "2", ...)
 *   S:tick         a one-entry stream bumped by every delayed send, so
 *                  that blocked receives re-plan their wait
 *
 * Every change of state is one Lua script (EVALSHA, EVAL after NOSCRIPT),
 * so it is atomic however many processes share the stream, and times come
 * from the server's clock (TIME), the one clock they all share.
 *
 * A message keeps its id for life, but each delivery cycle is a new stream
 * entry: retry acks and deletes the entry and adds a new one (now, or when
 * its backoff is due), carrying the count of earlier deliveries.  So
 * receive_count = entry.count + the entry's delivery count in the group's
 * pending list (1 on XREADGROUP, +1 on every XCLAIM), and the receipt
 * "<entry id>:<delivery count>" names one delivery: delete, retry and
 * dead_letter check it against XPENDING and answer IP_ECONFLICT when the
 * message lives on under another delivery, IP_ENOTFOUND when it is gone.
 *
 * Visibility is per delivery, as queue.h says ("hides it for
 * visibility_s"): the receive that takes an entry writes its deadline to
 * S:vis in the same script.  A later receive first moves due delayed
 * messages into the stream, then re-claims (XCLAIM, which counts the
 * delivery) the oldest entry whose deadline passed, whoever held it -
 * typically a consumer that died - and only then reads new entries with
 * XREADGROUP ">".  Plain XAUTOCLAIM is not enough: its min-idle-time is
 * the claimer's visibility, not the one the message was received with.
 *
 * Connections: a mutex-guarded pool of at most RQ_CONN_MAX, created on
 * demand; each has its own consumer name (host-pid-random-slot), so each
 * thread reads as its own consumer.  A receive keeps its connection while
 * it waits, outside the lock: it waits with XREAD BLOCK on S and S:tick
 * after the last entry ids its script saw (no lost wake-up), in slices of
 * at most RQ_SLICE_MS and never past the next due or timed-out message.
 * Any XADD - a send or retry here or in another process - ends the wait.
 * wake() bumps a generation and shutdown()s the socket of every waiting
 * connection; those connections are re-made on their next use, as is any
 * connection that failed (the failing call returns IP_EBACKEND).
 *
 * Dedup: S:dedup maps the dedup id to the live message (HSETNX-like, in
 * the send script), and is removed when the message is deleted or
 * dead-lettered; a retried message keeps it.
 */
#include "queue/queue_redis.h"

#include <errno.h>
#include <glib.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/query.h"
#include "core/util.h"
#include "queue/queue_util.h"

#define RQ_DEFAULT_PORT 6379
#define RQ_HOST_MAX 256
#define RQ_CRED_MAX 256
#define RQ_NAME_MAX 65 /* stream and group names, with NUL */
#define RQ_KEY_MAX (RQ_NAME_MAX + 16)
#define RQ_DB_MAX 65535
#define RQ_CONSUMER_MAX 96
#define RQ_ENTRY_ID_MAX 48 /* "<ms>-<seq>" */
#define RQ_CONN_MAX 64
#define RQ_CONNECT_MS 5000
#define RQ_COMMAND_MS 10000
#define RQ_SLICE_MS 1000
#define RQ_PROMOTE_BATCH 64
#define RQ_REDRIVE_BATCH 100
#define RQ_CONSUMER_IDLE_MS (3600 * 1000)
#define RQ_ARGS_MAX 24

enum rq_key {
	K_STREAM,
	K_DELAYED,
	K_HELD,
	K_WHERE,
	K_VIS,
	K_DEAD,
	K_DEAD_INDEX,
	K_DEDUP,
	K_SEQ,
	K_TICK,
	K_COUNT
};

static const char *const rq_key_suffix[K_COUNT] = {
    [K_STREAM] = "",
    [K_DELAYED] = ":delayed",
    [K_HELD] = ":held",
    [K_WHERE] = ":where",
    [K_VIS] = ":vis",
    [K_DEAD] = ":dead",
    [K_DEAD_INDEX] = ":dead-index",
    [K_DEDUP] = ":dedup",
    [K_SEQ] = ":seq",
    [K_TICK] = ":tick",
};

/* Script results (the first element of the reply, or the reply). */
enum rq_result {
	RES_OK = 0,
	RES_EMPTY = 1, /* take: nothing visible */
	RES_STALE = 2, /* settle: the message lives under another delivery */
	RES_GONE = 3, /* settle: the message is deleted or dead */
	RES_DUPLICATE = 4 /* send: a live message has this dedup id */
};

enum rq_script {
	SC_SEND,
	SC_TAKE,
	SC_SETTLE,
	SC_REDRIVE,
	SC_DEPTH,
	SC_FORGET,
	SC_COUNT
};

/* Shared by every script: the keys (in enum rq_key order) and helpers. */
#define RQ_LUA_PRELUDE                                                         \
	"local S, DELAYED, HELD, WHERE, VIS = KEYS[1], KEYS[2], KEYS[3],"      \
	" KEYS[4], KEYS[5]\n"                                                  \
	"local DEAD, DEADIDX, DEDUP, SEQ, TICK = KEYS[6], KEYS[7], KEYS[8],"   \
	" KEYS[9], KEYS[10]\n"                                                 \
	"local function now_ms()\n"                                            \
	"  local t = redis.call('TIME')\n"                                     \
	"  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
	"end\n"                                                                \
	"local function fields(list)\n"                                        \
	"  local f = {}\n"                                                     \
	"  for i = 1, #list, 2 do f[list[i]] = list[i + 1] end\n"              \
	"  return f\n"                                                         \
	"end\n"                                                                \
	"local function enqueue(id, body, sent, count, dedup)\n"               \
	"  local e = redis.call('XADD', S, '*', 'id', id, 'body', body,"       \
	" 'sent', sent, 'count', count, 'dedup', dedup)\n"                     \
	"  redis.call('HSET', WHERE, id, e)\n"                                 \
	"  return e\n"                                                         \
	"end\n"                                                                \
	"local function hold(id, body, sent, count, dedup, due)\n"             \
	"  redis.call('HSET', HELD, id .. ':body', body, id .. ':sent', sent," \
	" id .. ':count', count, id .. ':dedup', dedup)\n"                     \
	"  redis.call('ZADD', DELAYED, due, id)\n"                             \
	"  redis.call('HSET', WHERE, id, 'delayed')\n"                         \
	"  redis.call('XADD', TICK, 'MAXLEN', 1, '*', 'due', due)\n"           \
	"end\n"

/* ARGV: body, dedup ("" = none), delay_ms */
static const char lua_send[] = RQ_LUA_PRELUDE
    "local body, dedup, delay = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "if dedup ~= '' then\n"
    "  local live = redis.call('HGET', DEDUP, dedup)\n"
    "  if live and redis.call('HEXISTS', WHERE, live) == 1 then\n"
    "    return {4, live}\n"
    "  end\n"
    "end\n"
    "local id = tostring(redis.call('INCR', SEQ))\n"
    "local now = now_ms()\n"
    "if dedup ~= '' then redis.call('HSET', DEDUP, dedup, id) end\n"
    "if delay > 0 then\n"
    "  hold(id, body, now, 0, dedup, now + delay)\n"
    "else\n"
    "  enqueue(id, body, now, 0, dedup)\n"
    "end\n"
    "return {0, id}\n";

/* ARGV: group, consumer, visibility_ms, promote batch, body max.
 * {0, entry, deliveries, id, body, sent, count} or
 * {1, last entry of S, last entry of TICK, ms to the next due or
 * timed-out message (-1: none)} */
static const char lua_take[] = RQ_LUA_PRELUDE
    "local G, C, vis = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local now = now_ms()\n"
    "local due = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', now,"
    " 'LIMIT', 0, tonumber(ARGV[4]))\n"
    "for _, id in ipairs(due) do\n"
    "  local k = {id .. ':body', id .. ':sent', id .. ':count',"
    " id .. ':dedup'}\n"
    "  local v = redis.call('HMGET', HELD, k[1], k[2], k[3], k[4])\n"
    "  redis.call('ZREM', DELAYED, id)\n"
    "  redis.call('HDEL', HELD, k[1], k[2], k[3], k[4])\n"
    "  if v[1] then\n"
    "    enqueue(id, v[1], v[2] or 0, v[3] or 0, v[4] or '')\n"
    "  else\n"
    "    redis.call('HDEL', WHERE, id)\n"
    "  end\n"
    "end\n"
    "local function deliver(e, f, n)\n"
    "  redis.call('ZADD', VIS, now + vis, e)\n"
    "  return {0, e, n, f['id'], f['body'],"
    " tonumber(f['sent'] or 0) or 0, tonumber(f['count'] or 0) or 0}\n"
    "end\n"
    /* An entry someone else added (redis-cli XADD ...) never becomes a
     * message: it would fail every receive, forever. */
    "local function usable(e, f)\n"
    "  local id, body = f['id'], f['body']\n"
    "  if id and body and #id <= 18 and string.match(id, '^[1-9][0-9]*$')"
    " and #body > 0 and #body <= tonumber(ARGV[5]) then\n"
    "    return true\n"
    "  end\n"
    "  redis.call('XACK', S, G, e)\n"
    "  redis.call('XDEL', S, e)\n"
    "  redis.call('ZREM', VIS, e)\n"
    "  redis.log(redis.LOG_WARNING, 'imgpipe queue ' .. S .. ': dropped '"
    " .. e .. ', not an imgpipe message')\n"
    "  return false\n"
    "end\n"
    "for _ = 1, 16 do\n"
    "  local exp = redis.call('ZRANGEBYSCORE', VIS, '-inf', now,"
    " 'LIMIT', 0, 1)\n"
    "  if #exp == 0 then break end\n"
    "  local e = exp[1]\n"
    "  local r = redis.call('XCLAIM', S, G, C, 0, e)\n"
    "  if type(r[1]) == 'table' and type(r[1][2]) == 'table' then\n"
    "    local f = fields(r[1][2])\n"
    "    if usable(e, f) then\n"
    "      local p = redis.call('XPENDING', S, G, e, e, 1)\n"
    "      return deliver(e, f, p[1][4])\n"
    "    end\n"
    "  else\n"
    "    redis.call('ZREM', VIS, e)\n"
    "    redis.call('XACK', S, G, e)\n"
    "  end\n"
    "end\n"
    "local function read_new()\n"
    "  local r = redis.pcall('XREADGROUP', 'GROUP', G, C, 'COUNT', 1,"
    " 'STREAMS', S, '>')\n"
    "  if type(r) == 'table' and r.err then\n"
    "    if not string.find(r.err, 'NOGROUP', 1, true) then\n"
    "      return redis.error_reply(r.err)\n"
    "    end\n"
    "    redis.call('XGROUP', 'CREATE', S, G, '0', 'MKSTREAM')\n"
    "    r = redis.call('XREADGROUP', 'GROUP', G, C, 'COUNT', 1,"
    " 'STREAMS', S, '>')\n"
    "  end\n"
    "  return r\n"
    "end\n"
    "for _ = 1, 16 do\n"
    "  local r = read_new()\n"
    "  if type(r) == 'table' and r.err then return r end\n"
    "  if type(r) ~= 'table' or type(r[1]) ~= 'table' then break end\n"
    "  local ent = r[1][2][1]\n"
    "  local f = fields(ent[2])\n"
    "  if usable(ent[1], f) then return deliver(ent[1], f, 1) end\n"
    "end\n"
    "local last = redis.call('XREVRANGE', S, '+', '-', 'COUNT', 1)\n"
    "local tick = redis.call('XREVRANGE', TICK, '+', '-', 'COUNT', 1)\n"
    "local nxt = -1\n"
    "local d = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')\n"
    "if d[2] then nxt = tonumber(d[2]) end\n"
    "local v = redis.call('ZRANGE', VIS, 0, 0, 'WITHSCORES')\n"
    "if v[2] and (nxt < 0 or tonumber(v[2]) < nxt) then\n"
    "  nxt = tonumber(v[2])\n"
    "end\n"
    "if nxt >= 0 then nxt = math.max(nxt - now, 0) end\n"
    "return {1, last[1] and last[1][1] or '0-0',"
    " tick[1] and tick[1][1] or '0-0', nxt}\n";

/* ARGV: group, entry, deliveries, id, op (del|retry|dead),
 * delay_ms, reason.  Returns RES_OK, RES_STALE or RES_GONE. */
static const char lua_settle[] = RQ_LUA_PRELUDE
    "local G, e, n, id, op = ARGV[1], ARGV[2], tonumber(ARGV[3]),"
    " ARGV[4], ARGV[5]\n"
    "local p = redis.call('XPENDING', S, G, e, e, 1)\n"
    "local f\n"
    "if p[1] and tonumber(p[1][4]) == n then\n"
    "  local r = redis.call('XRANGE', S, e, e)\n"
    "  if r[1] then f = fields(r[1][2]) end\n"
    "end\n"
    "if not f or f['id'] ~= id or not f['body'] then\n"
    "  if redis.call('HEXISTS', WHERE, id) == 1 then return 2 end\n"
    "  return 3\n"
    "end\n"
    "redis.call('XACK', S, G, e)\n"
    "redis.call('XDEL', S, e)\n"
    "redis.call('ZREM', VIS, e)\n"
    "local count = (tonumber(f['count'] or 0) or 0) + n\n"
    "local dedup = f['dedup'] or ''\n"
    "local sent = f['sent'] or 0\n"
    "if op == 'retry' then\n"
    "  local delay = tonumber(ARGV[6])\n"
    "  if delay > 0 then\n"
    "    hold(id, f['body'], sent, count, dedup, now_ms() + delay)\n"
    "  else\n"
    "    enqueue(id, f['body'], sent, count, dedup)\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "redis.call('HDEL', WHERE, id)\n"
    "if dedup ~= '' and redis.call('HGET', DEDUP, dedup) == id then\n"
    "  redis.call('HDEL', DEDUP, dedup)\n"
    "end\n"
    "if op == 'dead' then\n"
    "  local d = redis.call('XADD', DEAD, '*', 'id', id, 'body', f['body'],"
    " 'sent', sent, 'count', count, 'reason', ARGV[7], 'dead_at',"
    " now_ms())\n"
    "  redis.call('HSET', DEADIDX, id, d)\n"
    "end\n"
    "return 0\n";

/* ARGV: "one", id | "upto", last dead entry, batch.
 * Returns {re-driven, dead entries looked at}. */
static const char lua_redrive[] = RQ_LUA_PRELUDE
    "local function revive(d, f)\n"
    "  redis.call('XDEL', DEAD, d)\n"
    "  if not f['id'] then return 0 end\n"
    "  redis.call('HDEL', DEADIDX, f['id'])\n"
    "  if f['body'] and redis.call('HEXISTS', WHERE, f['id']) == 0 then\n"
    "    enqueue(f['id'], f['body'], f['sent'] or 0, 0, '')\n"
    "    return 1\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "if ARGV[1] == 'one' then\n"
    "  local d = redis.call('HGET', DEADIDX, ARGV[2])\n"
    "  if not d then return {0, 0} end\n"
    "  local r = redis.call('XRANGE', DEAD, d, d)\n"
    "  if not r[1] then\n"
    "    redis.call('HDEL', DEADIDX, ARGV[2])\n"
    "    return {0, 0}\n"
    "  end\n"
    "  return {revive(d, fields(r[1][2])), 1}\n"
    "end\n"
    "local r = redis.call('XRANGE', DEAD, '-', ARGV[2], 'COUNT',"
    " tonumber(ARGV[3]))\n"
    "local n = 0\n"
    "for _, ent in ipairs(r) do n = n + revive(ent[1], fields(ent[2])) end\n"
    "return {n, #r}\n";

/* ARGV: group.  Returns {visible, in flight or delayed}. */
static const char lua_depth[] = RQ_LUA_PRELUDE
    "local now = now_ms()\n"
    "local len = redis.call('XLEN', S)\n"
    "local p = redis.pcall('XPENDING', S, ARGV[1])\n"
    "local pend = 0\n"
    "if type(p) == 'table' and not p.err then pend = tonumber(p[1]) end\n"
    "local expired = redis.call('ZCOUNT', VIS, '-inf', now)\n"
    "if expired > pend then expired = pend end\n"
    "local held = redis.call('ZCARD', DELAYED)\n"
    "local due = redis.call('ZCOUNT', DELAYED, '-inf', now)\n"
    "return {math.max(len - pend, 0) + expired + due,"
    " pend - expired + held - due}\n";

/* ARGV: group, idle_ms (-1: none), consumer names...  Deletes the
 * named consumers, and those idle longer than idle_ms, that hold no
 * pending entries (deleting one with pending entries would lose
 * them).  Returns the number deleted. */
static const char lua_forget[] = RQ_LUA_PRELUDE
    "local cs = redis.pcall('XINFO', 'CONSUMERS', S, ARGV[1])\n"
    "if type(cs) ~= 'table' or cs.err then return 0 end\n"
    "local idle = tonumber(ARGV[2])\n"
    "local mine = {}\n"
    "for i = 3, #ARGV do mine[ARGV[i]] = true end\n"
    "local n = 0\n"
    "for _, c in ipairs(cs) do\n"
    "  local f = fields(c)\n"
    "  if f['name'] and tonumber(f['pending']) == 0 and (mine[f['name']]"
    " or (idle >= 0 and tonumber(f['idle']) > idle)) then\n"
    "    redis.call('XGROUP', 'DELCONSUMER', S, ARGV[1], f['name'])\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n";

static const char *const rq_lua[SC_COUNT] = {
    [SC_SEND] = lua_send,     [SC_TAKE] = lua_take,
    [SC_SETTLE] = lua_settle, [SC_REDRIVE] = lua_redrive,
    [SC_DEPTH] = lua_depth,   [SC_FORGET] = lua_forget,
};

struct rq_url {
	char host[RQ_HOST_MAX];
	int port;
	int db;
	char user[RQ_CRED_MAX];
	char pass[RQ_CRED_MAX];
	bool has_pass;
	char stream[RQ_NAME_MAX];
	char group[RQ_NAME_MAX];
};

struct rq_conn {
	redisContext *ctx; /* NULL until (re)connected */
	bool busy; /* lent out by rq_get */
	bool blocking; /* in XREAD BLOCK: wake() may shut it down */
	char consumer[RQ_CONSUMER_MAX];
};

struct rq {
	struct queue base; /* first: the interface casts */
	/* Guards nconns, wake_gen, every busy and blocking flag, and the ctx
	 * of a blocking connection. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a connection was given back */
	uint64_t wake_gen; /* bumped by wake(): waiting receives end */
	size_t nconns;
	struct rq_conn conns[RQ_CONN_MAX];
	/* Read-only after open. */
	struct rq_url url;
	char keys[K_COUNT][RQ_KEY_MAX];
	char sha[SC_COUNT][41];
};

/* What a receive that found nothing waits for. */
struct rq_wait {
	char last[RQ_ENTRY_ID_MAX]; /* newest entry of S */
	char last_tick[RQ_ENTRY_ID_MAX]; /* newest entry of S:tick */
	int64_t next_ms; /* until the next due message; -1 */
};

static const struct queue_ops rq_ops;

static struct rq *
rq(struct queue *q)
{
	return (struct rq *)q;
}

/* ---- URL ---------------------------------------------------------- */

static bool
name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= RQ_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.' || c == ':'))
			return false;
	}
	return true;
}

/* A decimal in [lo, hi] spelling all of [s, s + n). */
static bool
parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
	long v = 0;

	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

static bool
host_valid(const char *h, bool bracketed)
{
	size_t n = strlen(h);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')
			continue;
		if (bracketed && c == ':')
			continue;
		return false;
	}
	return true;
}

static int
url_fail(struct ip_error *err, const char *why)
{
	/* Never echo the URL: it may hold a password. */
	return ip_error_set(err, IP_EINVAL,
			    "queue redis: bad URL (%s); expected "
			    "redis://[[user]:password@]host[:port][/db]"
			    "[?stream=NAME&group=NAME&db=N]",
			    why);
}

/* The query string q[0, n) into u: names from a fixed list, each once,
 * empty sequences skipped (core/query.h's rules). */
static int
url_query(struct rq_url *u, const char *q, size_t n, bool db_in_path,
	  struct ip_error *err)
{
	static const char *const names[] = {"stream", "group", "db", NULL};
	struct query qs;
	const char *v;

	if (query_parse(q, n, QUERY_ASCII_ONLY, &qs, err) != IP_OK ||
	    query_check_known(&qs, names, err) != IP_OK) {
		char why[IP_ERROR_MSG_MAX];

		util_strlcpy(why, err != NULL ? err->msg : "query",
			     sizeof(why));
		return url_fail(err, why);
	}
	v = query_get(&qs, "db");
	if (v != NULL && db_in_path)
		return url_fail(err, "db both in the path and the query");
	if (v != NULL && !parse_int(v, strlen(v), 0, RQ_DB_MAX, &u->db))
		return url_fail(err, "db must be 0..65535");
	for (size_t k = 0; k < 2; k++) {
		v = query_get(&qs, names[k]);
		if (v == NULL)
			continue;
		if (!name_valid(v))
			return url_fail(err, "stream and group names are 1..64 "
					     "of [A-Za-z0-9_.:-]");
		util_strlcpy(k == 0 ? u->stream : u->group, v, RQ_NAME_MAX);
	}
	return IP_OK;
}

static int
url_parse(const char *url, struct rq_url *u, struct ip_error *err)
{
	const char *p, *auth_end, *host_end, *path, *query;
	bool db_in_path = false;

	memset(u, 0, sizeof(*u));
	u->port = RQ_DEFAULT_PORT;
	util_strlcpy(u->stream, "imgpipe", sizeof(u->stream));
	util_strlcpy(u->group, "workers", sizeof(u->group));
	if (url == NULL || strncmp(url, "redis://", 8) != 0)
		return url_fail(err, "scheme is not redis://");
	if (strnlen(url, CONFIG_URL_MAX) >= CONFIG_URL_MAX)
		return url_fail(err, "too long");
	if (strchr(url, '#') != NULL)
		return url_fail(err, "fragment");
	p = url + 8;
	path = p + strcspn(p, "/?");
	auth_end = memchr(p, '@', (size_t)(path - p));
	if (auth_end != NULL) {
		const char *colon = memchr(p, ':', (size_t)(auth_end - p));

		if (memchr(auth_end + 1, '@', (size_t)(path - auth_end - 1)))
			return url_fail(err, "'@' in the host");
		if (colon == NULL)
			return url_fail(err, "user without ':password'");
		if (!util_pct_decode(p, (size_t)(colon - p), false, u->user,
				     sizeof(u->user)) ||
		    !util_pct_decode(colon + 1, (size_t)(auth_end - colon - 1),
				     false, u->pass, sizeof(u->pass)))
			return url_fail(err, "user or password malformed");
		if (u->pass[0] == '\0')
			return url_fail(err, "empty password");
		u->has_pass = true;
		p = auth_end + 1;
	}
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(path - p));
		size_t n;

		if (close == NULL)
			return url_fail(err, "unclosed '['");
		n = (size_t)(close - p - 1);
		if (n == 0 || n >= sizeof(u->host))
			return url_fail(err, "bad host");
		memcpy(u->host, p + 1, n);
		u->host[n] = '\0';
		if (!host_valid(u->host, true))
			return url_fail(err, "bad host");
		host_end = close + 1;
		if (host_end != path && *host_end != ':')
			return url_fail(err, "junk after ']'");
	} else {
		size_t n;

		host_end = memchr(p, ':', (size_t)(path - p));
		if (host_end == NULL)
			host_end = path;
		n = (size_t)(host_end - p);
		if (n == 0 || n >= sizeof(u->host))
			return url_fail(err, "missing or long host");
		memcpy(u->host, p, n);
		u->host[n] = '\0';
		if (!host_valid(u->host, false))
			return url_fail(err, "bad host");
	}
	if (host_end != path &&
	    !parse_int(host_end + 1, (size_t)(path - host_end - 1), 1, 65535,
		       &u->port))
		return url_fail(err, "port must be 1..65535");
	query = path + strcspn(path, "?");
	if (*path == '/' && query - path > 1) {
		if (!parse_int(path + 1, (size_t)(query - path - 1), 0,
			       RQ_DB_MAX, &u->db))
			return url_fail(err, "path must be empty or /db");
		db_in_path = true;
	}
	if (*query != '?')
		return IP_OK;
	return url_query(u, query + 1, strlen(query + 1), db_in_path, err);
}

/* ---- connections -------------------------------------------------- */

static struct timeval
ms_timeval(int64_t ms)
{
	struct timeval tv = {
	    .tv_sec = (time_t)(ms / 1000),
	    .tv_usec = (suseconds_t)(ms % 1000) * 1000,
	};

	return tv;
}

/*
 * hiredis writes with write(2): on a socket the server closed, that would
 * raise SIGPIPE and kill a process that did not ignore it.  Block it in
 * this thread around each command and swallow one that was raised.
 */
static void
sigpipe_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void
sigpipe_restore(const sigset_t *old)
{
	static const struct timespec zero = {0, 0};
	sigset_t pending;
	sigset_t set;

	if (sigismember(old, SIGPIPE))
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/*
 * Run one command; *out gets a reply that is not an error.  A lost
 * connection or an error reply is IP_EBACKEND with the message (a broken
 * connection is dropped by rq_put and re-made on the next call).
 */
static int
rq_command(struct rq_conn *c, int argc, const char **argv, const size_t *lens,
	   redisReply **out, struct ip_error *err)
{
	redisReply *r;
	sigset_t old;

	*out = NULL;
	sigpipe_block(&old);
	r = redisCommandArgv(c->ctx, argc, argv, lens);
	sigpipe_restore(&old);
	if (r == NULL)
		return ip_error_set(
		    err, IP_EBACKEND, "queue redis: %s: connection lost: %s",
		    argv[0],
		    c->ctx->errstr[0] != '\0' ? c->ctx->errstr : "unknown");
	if (r->type == REDIS_REPLY_ERROR) {
		int code = IP_EBACKEND;

		if (r->str != NULL &&
		    (strncmp(r->str, "WRONGPASS", 9) == 0 ||
		     strncmp(r->str, "NOAUTH", 6) == 0 ||
		     strstr(r->str, "invalid password") != NULL))
			code = IP_EAUTH;
		ip_error_set(err, code, "queue redis: %s: %.*s", argv[0],
			     (int)(r->len < 300 ? r->len : 300),
			     r->str != NULL ? r->str : "");
		freeReplyObject(r);
		return code;
	}
	*out = r;
	return IP_OK;
}

/* A command whose reply must be the status text want (e.g. "OK"). */
static int
rq_command_status(struct rq_conn *c, int argc, const char **argv,
		  const char *want, struct ip_error *err)
{
	redisReply *r;
	int rc = rq_command(c, argc, argv, NULL, &r, err);

	if (rc != IP_OK)
		return rc;
	if (r->type != REDIS_REPLY_STATUS || r->str == NULL ||
	    strcmp(r->str, want) != 0)
		rc = ip_error_set(err, IP_EBACKEND,
				  "queue redis: %s: unexpected reply", argv[0]);
	freeReplyObject(r);
	return rc;
}

static int
rq_connect(struct rq *s, struct rq_conn *c, struct ip_error *err)
{
	const struct rq_url *u = &s->url;
	char db[16];
	char name[RQ_CONSUMER_MAX + 16];
	int rc;

	c->ctx = redisConnectWithTimeout(u->host, u->port,
					 ms_timeval(RQ_CONNECT_MS));
	if (c->ctx == NULL)
		return ip_error_set(err, IP_ENOMEM, "queue redis: connect");
	if (c->ctx->err != 0) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "queue redis: connect %s:%d: %s", u->host,
				  u->port, c->ctx->errstr);
		goto fail;
	}
	if (redisSetTimeout(c->ctx, ms_timeval(RQ_COMMAND_MS)) != REDIS_OK) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "queue redis: set timeout: %s",
				  c->ctx->errstr);
		goto fail;
	}
	if (u->has_pass) {
		const char *argv[3] = {"AUTH", u->user, u->pass};

		if (u->user[0] == '\0') {
			argv[1] = u->pass;
			rc = rq_command_status(c, 2, argv, "OK", err);
		} else {
			rc = rq_command_status(c, 3, argv, "OK", err);
		}
		if (rc != IP_OK)
			goto fail;
	}
	if (u->db != 0) {
		const char *argv[2] = {"SELECT", db};

		snprintf(db, sizeof(db), "%d", u->db);
		rc = rq_command_status(c, 2, argv, "OK", err);
		if (rc != IP_OK)
			goto fail;
	}
	snprintf(name, sizeof(name), "imgpipe-%s", c->consumer);
	{
		const char *argv[3] = {"CLIENT", "SETNAME", name};
		struct ip_error e;

		/* Only a label (CLIENT LIST): an ACL may forbid it. */
		rc = rq_command_status(c, 3, argv, "OK", &e);
		if (rc != IP_OK && c->ctx->err != 0) {
			rc = ip_error_set(err, rc, "%s", e.msg);
			goto fail;
		}
		if (rc != IP_OK)
			log_debug("%s", e.msg);
	}
	return IP_OK;
fail:
	redisFree(c->ctx);
	c->ctx = NULL;
	return rc;
}

/* Lend a connection to this thread, connecting it if needed. */
static int
rq_get(struct rq *s, struct rq_conn **out, struct ip_error *err)
{
	struct rq_conn *c = NULL;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct rq_conn *idle = NULL;

		for (size_t i = 0; i < s->nconns; i++) {
			if (s->conns[i].busy)
				continue;
			if (s->conns[i].ctx != NULL) {
				c = &s->conns[i];
				break;
			}
			if (idle == NULL)
				idle = &s->conns[i];
		}
		if (c == NULL)
			c = idle;
		if (c == NULL && s->nconns < RQ_CONN_MAX)
			c = &s->conns[s->nconns++];
		if (c != NULL)
			break;
		pthread_cond_wait(&s->cond, &s->lock);
	}
	c->busy = true;
	pthread_mutex_unlock(&s->lock);
	if (c->ctx == NULL) {
		rc = rq_connect(s, c, err);
		if (rc != IP_OK) {
			pthread_mutex_lock(&s->lock);
			c->busy = false;
			pthread_cond_signal(&s->cond);
			pthread_mutex_unlock(&s->lock);
			return rc;
		}
	}
	*out = c;
	return IP_OK;
}

/* Give a connection back; a broken one is closed and re-made later. */
static void
rq_put(struct rq *s, struct rq_conn *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL && c->ctx->err != 0) {
		log_warn("queue redis: connection dropped (%s); reconnecting "
			 "on next use",
			 c->ctx->errstr);
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	pthread_mutex_lock(&s->lock);
	c->busy = false;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/*
 * EVALSHA a script with every key and argc arguments; falls back to EVAL
 * (which also caches it) when the server does not know it yet.
 */
static int
rq_eval(struct rq *s, struct rq_conn *c, enum rq_script sc, int argc,
	const char **args, const size_t *lens, redisReply **out,
	struct ip_error *err)
{
	const char *argv[RQ_ARGS_MAX];
	size_t argl[RQ_ARGS_MAX];
	char nkeys[8];
	struct ip_error first;
	int n = 0;
	int rc;

	if (3 + K_COUNT + argc > RQ_ARGS_MAX)
		return ip_error_set(err, IP_EINVAL, "queue redis: args");
	snprintf(nkeys, sizeof(nkeys), "%d", K_COUNT);
	argv[n] = "EVALSHA";
	argl[n++] = 7;
	argv[n] = s->sha[sc];
	argl[n++] = strlen(s->sha[sc]);
	argv[n] = nkeys;
	argl[n++] = strlen(nkeys);
	for (int k = 0; k < K_COUNT; k++) {
		argv[n] = s->keys[k];
		argl[n++] = strlen(s->keys[k]);
	}
	for (int i = 0; i < argc; i++) {
		argv[n] = args[i];
		argl[n++] = lens != NULL && lens[i] != (size_t)-1
				? lens[i]
				: strlen(args[i]);
	}
	rc = rq_command(c, n, argv, argl, out, &first);
	if (rc == IP_EBACKEND && c->ctx->err == 0 &&
	    strstr(first.msg, "NOSCRIPT") != NULL) {
		argv[0] = "EVAL";
		argl[0] = 4;
		argv[1] = rq_lua[sc];
		argl[1] = strlen(rq_lua[sc]);
		rc = rq_command(c, n, argv, argl, out, err);
	} else if (rc != IP_OK && err != NULL) {
		*err = first;
	}
	return rc;
}

/* ---- reply checks ------------------------------------------------- */

static bool
reply_is(const redisReply *r, int type)
{
	return r != NULL && r->type == type;
}

/* A bulk string of 1..max-1 bytes without NUL, copied to out. */
static bool
reply_text(const redisReply *r, char *out, size_t max)
{
	if (!reply_is(r, REDIS_REPLY_STRING) || r->len == 0 || r->len >= max ||
	    memchr(r->str, '\0', r->len) != NULL)
		return false;
	memcpy(out, r->str, r->len);
	out[r->len] = '\0';
	return true;
}

/* "<ms>-<seq>", as stream entry ids are. */
static bool
entry_id_valid(const char *s)
{
	size_t a = strspn(s, "0123456789");

	return a > 0 && a <= 20 && s[a] == '-' &&
	       strspn(s + a + 1, "0123456789") == strlen(s + a + 1) &&
	       s[a + 1] != '\0' && strlen(s + a + 1) <= 20;
}

/* Message ids are the decimal text of a positive counter. */
static bool
msg_id_valid(const char *s)
{
	size_t n = strnlen(s, QUEUE_ID_MAX);

	return n > 0 && n <= 18 && s[0] >= '1' && s[0] <= '9' &&
	       strspn(s, "0123456789") == n;
}

/*
 * Split "<entry>:<deliveries>" for a settle.  A receipt that is not of
 * this form was never handed out: it names no delivery, so it is settled
 * as "0-0:0", which matches none (stale, or gone), as queue.h wants.
 */
static int
parse_receipt(const struct queue_msg *m, char *entry, char *deliveries,
	      struct ip_error *err)
{
	const char *colon = NULL;
	size_t n;

	if (m == NULL || !msg_id_valid(m->id))
		return ip_error_set(err, IP_EINVAL, "queue: bad message id");
	n = strnlen(m->receipt, QUEUE_RECEIPT_MAX);
	if (n == 0 || n >= QUEUE_RECEIPT_MAX)
		return ip_error_set(err, IP_EINVAL, "queue: bad receipt");
	colon = strrchr(m->receipt, ':');
	if (colon != NULL && (size_t)(colon - m->receipt) < RQ_ENTRY_ID_MAX &&
	    strlen(colon + 1) > 0 && strlen(colon + 1) <= 9 &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
		memcpy(entry, m->receipt, (size_t)(colon - m->receipt));
		entry[colon - m->receipt] = '\0';
		if (entry_id_valid(entry)) {
			/* at most 9 digits + NUL, checked above */
			memcpy(deliveries, colon + 1, strlen(colon + 1) + 1);
			return IP_OK;
		}
	}
	memcpy(entry, "0-0", sizeof("0-0"));
	memcpy(deliveries, "0", sizeof("0"));
	return IP_OK;
}

static int
bad_reply(const char *what, struct ip_error *err)
{
	return ip_error_set(err, IP_EBACKEND,
			    "queue redis: %s: unexpected reply", what);
}

/* ---- operations --------------------------------------------------- */

static int
rq_send(struct queue *q, const char *body, size_t len, const char *dedup_id,
	int64_t delay_ms, struct ip_error *err)
{
	struct rq *s = rq(q);
	struct rq_conn *c = NULL;
	redisReply *r = NULL;
	char delay[24];
	const char *args[3];
	size_t lens[3] = {len, (size_t)-1, (size_t)-1};
	int rc;

	rc = queue_util_check_send(body, len, dedup_id, delay_ms, err);
	if (rc != IP_OK)
		return rc;
	if (dedup_id == NULL)
		dedup_id = "";
	snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
	args[0] = body;
	args[1] = dedup_id;
	args[2] = delay;
	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	rc = rq_eval(s, c, SC_SEND, 3, args, lens, &r, err);
	if (rc != IP_OK)
		goto out;
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
	    !reply_is(r->element[0], REDIS_REPLY_INTEGER)) {
		rc = bad_reply("send", err);
		goto out;
	}
	if (r->element[0]->integer == RES_DUPLICATE)
		log_debug("queue: duplicate of live message %s dropped",
			  dedup_id);
	else if (r->element[0]->integer != RES_OK)
		rc = bad_reply("send", err);
out:
	freeReplyObject(r);
	rq_put(s, c);
	return rc;
}

static bool
reply_int(const redisReply *r, long long lo, long long hi, long long *out)
{
	if (!reply_is(r, REDIS_REPLY_INTEGER) || r->integer < lo ||
	    r->integer > hi)
		return false;
	*out = r->integer;
	return true;
}

/* Fill out from a delivered take reply. */
static int
take_delivered(const redisReply *r, struct queue_msg *out, struct ip_error *err)
{
	char entry[RQ_ENTRY_ID_MAX];
	const redisReply *b;
	long long deliveries, sent, count;

	if (r->elements != 7 ||
	    !reply_text(r->element[1], entry, sizeof(entry)) ||
	    !entry_id_valid(entry) ||
	    !reply_int(r->element[2], 1, INT_MAX / 2, &deliveries) ||
	    !reply_text(r->element[3], out->id, sizeof(out->id)) ||
	    !msg_id_valid(out->id) ||
	    !reply_int(r->element[5], 0, LLONG_MAX, &sent) ||
	    !reply_int(r->element[6], 0, INT_MAX / 2, &count))
		return bad_reply("receive", err);
	b = r->element[4];
	if (!reply_is(b, REDIS_REPLY_STRING) || b->len == 0 ||
	    b->len > QUEUE_BODY_MAX)
		return ip_error_set(err, IP_EBACKEND,
				    "queue redis: message %s has a body of "
				    "%zu bytes",
				    out->id, b->len);
	out->body = malloc(b->len + 1);
	if (out->body == NULL)
		return ip_error_set(err, IP_ENOMEM, "queue: receive");
	memcpy(out->body, b->str, b->len);
	out->body[b->len] = '\0';
	out->len = b->len;
	out->sent_at_ms = sent;
	out->receive_count = (int)(count + deliveries);
	snprintf(out->receipt, sizeof(out->receipt), "%s:%lld", entry,
		 deliveries);
	return IP_OK;
}

/*
 * One attempt to take a message (one script run).  IP_ENOTFOUND if none;
 * then *w says what to wait for.
 */
static int
rq_take(struct rq *s, struct rq_conn *c, int visibility_s,
	struct queue_msg *out, struct rq_wait *w, struct ip_error *err)
{
	redisReply *r = NULL;
	char vis[24];
	char batch[16];
	char body_max[16];
	const char *args[5];
	long long code;
	int rc;

	snprintf(vis, sizeof(vis), "%lld", (long long)visibility_s * 1000);
	snprintf(batch, sizeof(batch), "%d", RQ_PROMOTE_BATCH);
	snprintf(body_max, sizeof(body_max), "%d", QUEUE_BODY_MAX);
	args[0] = s->url.group;
	args[1] = c->consumer;
	args[2] = vis;
	args[3] = batch;
	args[4] = body_max;
	rc = rq_eval(s, c, SC_TAKE, 5, args, NULL, &r, err);
	if (rc != IP_OK)
		return rc;
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements < 1 ||
	    !reply_int(r->element[0], RES_OK, RES_EMPTY, &code)) {
		rc = bad_reply("receive", err);
		goto out;
	}
	if (code == RES_OK) {
		rc = take_delivered(r, out, err);
		if (rc != IP_OK)
			queue_msg_clear(out);
		goto out;
	}
	if (r->elements != 4 ||
	    !reply_text(r->element[1], w->last, sizeof(w->last)) ||
	    !entry_id_valid(w->last) ||
	    !reply_text(r->element[2], w->last_tick, sizeof(w->last_tick)) ||
	    !entry_id_valid(w->last_tick) ||
	    !reply_int(r->element[3], -1, LLONG_MAX, &code)) {
		rc = bad_reply("receive", err);
		goto out;
	}
	w->next_ms = code;
	rc = IP_ENOTFOUND;
out:
	freeReplyObject(r);
	return rc;
}

/*
 * Wait up to slice_ms for an entry after w->last in S or w->last_tick in
 * S:tick, or for wake().  IP_OK when it is time to look again (an entry
 * came, the slice ended, or wake() shut the socket down: *woken says).
 */
static int
rq_block(struct rq *s, struct rq_conn *c, const struct rq_wait *w,
	 int64_t slice_ms, uint64_t gen, bool *woken, struct ip_error *err)
{
	char block[24];
	const char *argv[10] = {"XREAD",	   "COUNT",	    "1",
				"BLOCK",	   block,	    "STREAMS",
				s->keys[K_STREAM], s->keys[K_TICK], w->last,
				w->last_tick};
	redisReply *r = NULL;
	int rc;

	snprintf(block, sizeof(block), "%lld", (long long)slice_ms);
	pthread_mutex_lock(&s->lock);
	*woken = s->wake_gen != gen;
	if (!*woken)
		c->blocking = true;
	pthread_mutex_unlock(&s->lock);
	if (*woken)
		return IP_OK;
	if (redisSetTimeout(c->ctx, ms_timeval(slice_ms + RQ_COMMAND_MS)) !=
	    REDIS_OK) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "queue redis: set timeout: %s",
				  c->ctx->errstr);
		goto out;
	}
	rc = rq_command(c, 10, argv, NULL, &r, err);
	if (c->ctx->err == 0 &&
	    redisSetTimeout(c->ctx, ms_timeval(RQ_COMMAND_MS)) != REDIS_OK)
		rc = ip_error_set(err, IP_EBACKEND,
				  "queue redis: set timeout: %s",
				  c->ctx->errstr);
	if (rc == IP_OK && !reply_is(r, REDIS_REPLY_NIL) &&
	    !reply_is(r, REDIS_REPLY_ARRAY))
		rc = bad_reply("XREAD", err);
out:
	freeReplyObject(r);
	pthread_mutex_lock(&s->lock);
	c->blocking = false;
	*woken = s->wake_gen != gen;
	pthread_mutex_unlock(&s->lock);
	if (!*woken)
		return rc;
	if (c->ctx->err != 0) {
		/* wake() shut it down, as it should: no warning. */
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	return IP_OK;
}

static int
rq_receive(struct queue *q, int visibility_s, int wait_ms,
	   struct queue_msg *out, struct ip_error *err)
{
	struct rq *s = rq(q);
	struct rq_conn *c = NULL;
	int64_t deadline;
	uint64_t gen;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = queue_util_check_receive(visibility_s, wait_ms, err);
	if (rc != IP_OK)
		return rc;
	deadline = util_mono_ms() + wait_ms;
	pthread_mutex_lock(&s->lock);
	gen = s->wake_gen;
	pthread_mutex_unlock(&s->lock);
	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	for (;;) {
		struct rq_wait w;
		int64_t now, slice;
		bool woken;

		rc = rq_take(s, c, visibility_s, out, &w, err);
		if (rc != IP_ENOTFOUND)
			break;
		now = util_mono_ms();
		if (now >= deadline)
			break;
		slice = deadline - now;
		if (slice > RQ_SLICE_MS)
			slice = RQ_SLICE_MS;
		/* +1: the server's TIME has ms resolution; never 0, which
		 * would block forever. */
		if (w.next_ms >= 0 && slice > w.next_ms + 1)
			slice = w.next_ms + 1;
		rc = rq_block(s, c, &w, slice, gen, &woken, err);
		if (rc != IP_OK)
			break;
		if (woken) {
			rc = IP_ENOTFOUND;
			break;
		}
	}
	rq_put(s, c);
	if (rc == IP_ENOTFOUND)
		ip_error_set(err, IP_ENOTFOUND,
			     "queue: no message within %d ms", wait_ms);
	return rc;
}

/* delete, retry and dead_letter: one settle script run. */
static int
rq_settle(struct rq *s, const struct queue_msg *m, const char *op,
	  int64_t delay_ms, const char *reason, struct ip_error *err)
{
	struct rq_conn *c = NULL;
	redisReply *r = NULL;
	char entry[RQ_ENTRY_ID_MAX];
	char deliveries[16];
	char delay[24];
	const char *args[7];
	size_t lens[7] = {(size_t)-1, (size_t)-1, (size_t)-1, (size_t)-1,
			  (size_t)-1, (size_t)-1, 0};
	long long code;
	int rc;

	rc = parse_receipt(m, entry, deliveries, err);
	if (rc != IP_OK)
		return rc;
	if (reason == NULL)
		reason = "";
	snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
	args[0] = s->url.group;
	args[1] = entry;
	args[2] = deliveries;
	args[3] = m->id;
	args[4] = op;
	args[5] = delay;
	args[6] = reason;
	lens[6] = queue_util_reason_len(reason);
	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	rc = rq_eval(s, c, SC_SETTLE, 7, args, lens, &r, err);
	if (rc != IP_OK)
		goto out;
	if (!reply_int(r, RES_OK, RES_GONE, &code) || code == RES_EMPTY) {
		rc = bad_reply(op, err);
		goto out;
	}
	if (code == RES_STALE)
		rc = ip_error_set(err, IP_ECONFLICT,
				  "queue: stale receipt for message %s", m->id);
	else if (code == RES_GONE)
		rc = ip_error_set(err, IP_ENOTFOUND,
				  "queue: message %s is gone", m->id);
out:
	freeReplyObject(r);
	rq_put(s, c);
	return rc;
}

static int
rq_del(struct queue *q, const struct queue_msg *m, struct ip_error *err)
{
	return rq_settle(rq(q), m, "del", 0, NULL, err);
}

static int
rq_retry(struct queue *q, const struct queue_msg *m, int64_t delay_ms,
	 struct ip_error *err)
{
	int rc = queue_util_check_retry(delay_ms, err);

	if (rc != IP_OK)
		return rc;
	return rq_settle(rq(q), m, "retry", delay_ms, NULL, err);
}

static int
rq_dead_letter(struct queue *q, const struct queue_msg *m, const char *reason,
	       struct ip_error *err)
{
	return rq_settle(rq(q), m, "dead", 0, reason, err);
}

/* One entry of S:dead ([entry id, [field, value, ...]]) into d. */
static int
dead_entry(const redisReply *e, struct queue_dead *d, struct ip_error *err)
{
	const redisReply *f;
	bool have_id = false, have_body = false;

	if (!reply_is(e, REDIS_REPLY_ARRAY) || e->elements != 2 ||
	    !reply_is(e->element[1], REDIS_REPLY_ARRAY) ||
	    e->element[1]->elements % 2 != 0)
		return bad_reply("dlq list", err);
	f = e->element[1];
	for (size_t i = 0; i < f->elements; i += 2) {
		const redisReply *k = f->element[i];
		const redisReply *v = f->element[i + 1];
		char num[24];

		if (!reply_is(k, REDIS_REPLY_STRING) ||
		    !reply_is(v, REDIS_REPLY_STRING))
			return bad_reply("dlq list", err);
		if (strcmp(k->str, "id") == 0) {
			if (!reply_text(v, d->id, sizeof(d->id)) ||
			    !msg_id_valid(d->id))
				return bad_reply("dlq list", err);
			have_id = true;
		} else if (strcmp(k->str, "body") == 0) {
			if (v->len > QUEUE_BODY_MAX || d->body != NULL)
				return ip_error_set(err, IP_EBACKEND,
						    "queue redis: dead body "
						    "of %zu bytes",
						    v->len);
			d->body = malloc(v->len + 1);
			if (d->body == NULL)
				return ip_error_set(err, IP_ENOMEM, "dlq list");
			memcpy(d->body, v->str, v->len);
			d->body[v->len] = '\0';
			d->len = v->len;
			have_body = true;
		} else if (strcmp(k->str, "reason") == 0) {
			size_t n = v->len < sizeof(d->reason) - 1
				       ? v->len
				       : sizeof(d->reason) - 1;

			memcpy(d->reason, v->str, n);
			d->reason[n] = '\0';
		} else if (strcmp(k->str, "count") == 0 ||
			   strcmp(k->str, "dead_at") == 0) {
			char *end;
			long long x;

			if (!reply_text(v, num, sizeof(num)))
				return bad_reply("dlq list", err);
			errno = 0;
			x = strtoll(num, &end, 10);
			if (errno != 0 || *end != '\0' || x < 0)
				return bad_reply("dlq list", err);
			if (k->str[0] == 'c')
				d->receive_count =
				    x > INT_MAX ? INT_MAX : (int)x;
			else
				d->dead_at_ms = x;
		}
	}
	if (!have_id || !have_body)
		return bad_reply("dlq list", err);
	return IP_OK;
}

static int
rq_dlq_list(struct queue *q, size_t limit, struct queue_dead_list *out,
	    struct ip_error *err)
{
	struct rq *s = rq(q);
	struct rq_conn *c = NULL;
	redisReply *r = NULL;
	struct queue_dead_list l = {0, NULL};
	char count[24];
	const char *argv[6] = {"XRANGE", s->keys[K_DEAD], "-",
			       "+",	 "COUNT",	  count};
	int rc;

	memset(out, 0, sizeof(*out));
	if (limit > QUEUE_UTIL_DLQ_LIST_MAX)
		limit = QUEUE_UTIL_DLQ_LIST_MAX;
	if (limit == 0)
		return IP_OK;
	snprintf(count, sizeof(count), "%zu", limit);
	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	rc = rq_command(c, 6, argv, NULL, &r, err);
	if (rc != IP_OK)
		goto out;
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements > limit) {
		rc = bad_reply("dlq list", err);
		goto out;
	}
	if (r->elements > 0) {
		l.items = calloc(r->elements, sizeof(*l.items));
		if (l.items == NULL) {
			rc = ip_error_set(err, IP_ENOMEM, "dlq list");
			goto out;
		}
	}
	for (size_t i = 0; i < r->elements; i++) {
		l.n = i + 1;
		rc = dead_entry(r->element[i], &l.items[i], err);
		if (rc != IP_OK)
			goto out;
	}
	*out = l;
	l.items = NULL;
	l.n = 0;
out:
	queue_dead_list_free(&l);
	freeReplyObject(r);
	rq_put(s, c);
	return rc;
}

/* One redrive script run; *moved and *seen from its reply. */
static int
redrive_once(struct rq *s, struct rq_conn *c, const char *mode, const char *arg,
	     long long *moved, long long *seen, struct ip_error *err)
{
	redisReply *r = NULL;
	char batch[16];
	const char *args[3] = {mode, arg, batch};
	int rc;

	snprintf(batch, sizeof(batch), "%d", RQ_REDRIVE_BATCH);
	rc = rq_eval(s, c, SC_REDRIVE, 3, args, NULL, &r, err);
	if (rc != IP_OK)
		return rc;
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
	    !reply_int(r->element[1], 0, RQ_REDRIVE_BATCH, seen) ||
	    !reply_int(r->element[0], 0, *seen, moved))
		rc = bad_reply("redrive", err);
	freeReplyObject(r);
	return rc;
}

static int
rq_dlq_redrive(struct queue *q, const char *id, struct ip_error *err)
{
	struct rq *s = rq(q);
	struct rq_conn *c = NULL;
	redisReply *r = NULL;
	char last[RQ_ENTRY_ID_MAX];
	const char *argv[6] = {"XREVRANGE", s->keys[K_DEAD], "+",
			       "-",	    "COUNT",	     "1"};
	long long moved = 0, seen = 0, total = 0;
	int rc;

	if (id != NULL && !msg_id_valid(id))
		return ip_error_set(err, IP_EINVAL, "queue: bad message id");
	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	if (id != NULL) {
		rc = redrive_once(s, c, "one", id, &moved, &seen, err);
		if (rc == IP_OK && moved == 0)
			rc = ip_error_set(err, IP_ENOTFOUND,
					  "queue: no dead message %s", id);
		total = moved;
		goto out;
	}
	/* All: up to the newest dead entry now, in batches, so that
	 * messages dead-lettered meanwhile do not keep it going. */
	rc = rq_command(c, 6, argv, NULL, &r, err);
	if (rc != IP_OK)
		goto out;
	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements > 1 ||
	    (r->elements == 1 &&
	     (!reply_is(r->element[0], REDIS_REPLY_ARRAY) ||
	      r->element[0]->elements != 2 ||
	      !reply_text(r->element[0]->element[0], last, sizeof(last)) ||
	      !entry_id_valid(last)))) {
		rc = bad_reply("redrive", err);
		goto out;
	}
	if (r->elements == 0)
		goto out;
	do {
		rc = redrive_once(s, c, "upto", last, &moved, &seen, err);
		if (rc != IP_OK)
			goto out;
		total += moved;
	} while (seen == RQ_REDRIVE_BATCH &&
		 total < INT_MAX - 2 * RQ_REDRIVE_BATCH);
out:
	freeReplyObject(r);
	rq_put(s, c);
	return rc == IP_OK ? (int)total : rc;
}

static int
rq_depth(struct queue *q, int64_t *visible, int64_t *inflight,
	 struct ip_error *err)
{
	struct rq *s = rq(q);
	struct rq_conn *c = NULL;
	redisReply *r = NULL;
	const char *args[1] = {s->url.group};
	long long v = 0, f = 0;
	int rc;

	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	rc = rq_eval(s, c, SC_DEPTH, 1, args, NULL, &r, err);
	if (rc == IP_OK &&
	    (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 2 ||
	     !reply_int(r->element[0], 0, LLONG_MAX, &v) ||
	     !reply_int(r->element[1], 0, LLONG_MAX, &f)))
		rc = bad_reply("depth", err);
	if (rc == IP_OK) {
		*visible = v;
		*inflight = f;
	}
	freeReplyObject(r);
	rq_put(s, c);
	return rc;
}

static int
rq_dlq_count(struct queue *q, int64_t *n, struct ip_error *err)
{
	struct rq *s = rq(q);
	struct rq_conn *c = NULL;
	redisReply *r = NULL;
	const char *argv[2] = {"XLEN", s->keys[K_DEAD]};
	long long v = 0;
	int rc;

	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	rc = rq_command(c, 2, argv, NULL, &r, err);
	if (rc == IP_OK && !reply_int(r, 0, LLONG_MAX, &v))
		rc = bad_reply("dead count", err);
	if (rc == IP_OK)
		*n = v;
	freeReplyObject(r);
	rq_put(s, c);
	return rc;
}

static int
rq_ping(struct queue *q, struct ip_error *err)
{
	struct rq *s = rq(q);
	struct rq_conn *c = NULL;
	const char *argv[1] = {"PING"};
	int rc;

	rc = rq_get(s, &c, err);
	if (rc != IP_OK)
		return rc;
	rc = rq_command_status(c, 1, argv, "PONG", err);
	rq_put(s, c);
	return rc;
}

static void
rq_wake(struct queue *q)
{
	struct rq *s = rq(q);

	pthread_mutex_lock(&s->lock);
	s->wake_gen++;
	for (size_t i = 0; i < s->nconns; i++) {
		struct rq_conn *c = &s->conns[i];

		/* The holder frees ctx only after clearing blocking under
		 * this lock, so the fd is still this connection's. */
		if (c->blocking && c->ctx != NULL)
			shutdown(c->ctx->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Delete this handle's consumers that hold nothing (others are left to
 * be reclaimed by visibility), then free everything.  No other thread
 * may use the queue any more. */
static void
rq_close(struct queue *q)
{
	struct rq *s = rq(q);
	struct rq_conn *any = NULL;

	for (size_t i = 0; i < s->nconns && any == NULL; i++)
		if (s->conns[i].ctx != NULL && s->conns[i].ctx->err == 0)
			any = &s->conns[i];
	/* In chunks: a script call takes at most RQ_ARGS_MAX arguments. */
	for (size_t i = 0; any != NULL && i < s->nconns;) {
		const char *args[RQ_ARGS_MAX - 3 - K_COUNT];
		struct ip_error err;
		redisReply *r = NULL;
		int n = 0;

		args[n++] = s->url.group;
		args[n++] = "-1";
		while (i < s->nconns && n < (int)(sizeof(args) / sizeof(*args)))
			args[n++] = s->conns[i++].consumer;
		if (rq_eval(s, any, SC_FORGET, n, args, NULL, &r, &err) !=
		    IP_OK) {
			log_warn("%s", err.msg);
			any = NULL;
		}
		freeReplyObject(r);
	}
	for (size_t i = 0; i < s->nconns; i++)
		if (s->conns[i].ctx != NULL)
			redisFree(s->conns[i].ctx);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- open --------------------------------------------------------- */

/* "<host>-<pid>-<random>": the prefix of this handle's consumer names. */
static int
consumer_prefix(char *out, size_t size, struct ip_error *err)
{
	char host[33];
	unsigned char rnd[4];
	char hex[sizeof(rnd) * 2 + 1];

	if (gethostname(host, sizeof(host)) != 0)
		util_strlcpy(host, "host", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			*p = '_';
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return ip_error_set(err, IP_EIO, "queue redis: getrandom: %s",
				    strerror(errno));
	util_hex(rnd, sizeof(rnd), hex);
	snprintf(out, size, "%s-%ld-%s", host, (long)getpid(), hex);
	return IP_OK;
}

static int
rq_init(struct rq *s, struct ip_error *err)
{
	pthread_condattr_t attr;
	char prefix[RQ_CONSUMER_MAX - 8];
	int e;
	int rc;

	rc = consumer_prefix(prefix, sizeof(prefix), err);
	if (rc != IP_OK)
		return rc;
	for (size_t i = 0; i < RQ_CONN_MAX; i++)
		snprintf(s->conns[i].consumer, sizeof(s->conns[i].consumer),
			 "%s-%zu", prefix, i);
	for (int k = 0; k < K_COUNT; k++)
		snprintf(s->keys[k], sizeof(s->keys[k]), "%s%s", s->url.stream,
			 rq_key_suffix[k]);
	for (int i = 0; i < SC_COUNT; i++) {
		gchar *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA1,
							   rq_lua[i], -1);

		if (sha == NULL)
			return ip_error_set(err, IP_ENOMEM, "queue redis");
		util_strlcpy(s->sha[i], sha, sizeof(s->sha[i]));
		g_free(sha);
	}
	e = pthread_mutex_init(&s->lock, NULL);
	if (e != 0)
		return ip_error_set(err, IP_ENOMEM, "queue: mutex: %s",
				    strerror(e));
	pthread_condattr_init(&attr);
	e = pthread_cond_init(&s->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (e != 0) {
		pthread_mutex_destroy(&s->lock);
		return ip_error_set(err, IP_ENOMEM, "queue: cond: %s",
				    strerror(e));
	}
	return IP_OK;
}

/* XGROUP CREATE S G 0 MKSTREAM (BUSYGROUP: it exists, fine), then drop
 * consumers of dead processes that hold nothing. */
static int
rq_setup(struct rq *s, struct rq_conn *c, struct ip_error *err)
{
	const char *argv[6] = {"XGROUP",     "CREATE", s->keys[K_STREAM],
			       s->url.group, "0",      "MKSTREAM"};
	const char *args[2] = {s->url.group, NULL};
	char idle[24];
	struct ip_error first;
	redisReply *r = NULL;
	int rc;

	rc = rq_command(c, 6, argv, NULL, &r, &first);
	if (rc == IP_EBACKEND && c->ctx->err == 0 &&
	    strstr(first.msg, "BUSYGROUP") != NULL)
		rc = IP_OK;
	else if (rc != IP_OK)
		rc = ip_error_set(err, rc, "%s", first.msg);
	else if (!reply_is(r, REDIS_REPLY_STATUS) || strcmp(r->str, "OK") != 0)
		rc = bad_reply("XGROUP CREATE", err);
	freeReplyObject(r);
	r = NULL;
	if (rc != IP_OK)
		return rc;
	snprintf(idle, sizeof(idle), "%d", RQ_CONSUMER_IDLE_MS);
	args[1] = idle;
	rc = rq_eval(s, c, SC_FORGET, 2, args, NULL, &r, err);
	if (rc == IP_OK && !reply_is(r, REDIS_REPLY_INTEGER))
		rc = bad_reply("consumers", err);
	else if (rc == IP_OK && r->integer > 0)
		log_info("queue redis: removed %lld idle consumers of %s",
			 r->integer, s->keys[K_STREAM]);
	freeReplyObject(r);
	return rc;
}

int
queue_redis_open(const struct config *cfg, struct queue **out,
		 struct ip_error *err)
{
	struct rq *s;
	struct rq_conn *c = NULL;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ip_error_set(err, IP_ENOMEM, "queue redis");
	rc = url_parse(cfg->queue, &s->url, err);
	if (rc != IP_OK) {
		free(s);
		return rc;
	}
	rc = rq_init(s, err);
	if (rc != IP_OK) {
		free(s);
		return rc;
	}
	s->base.ops = &rq_ops;
	rc = rq_get(s, &c, err);
	if (rc == IP_OK)
		rc = rq_setup(s, c, err);
	rq_put(s, c);
	if (rc != IP_OK) {
		rq_close(&s->base);
		return rc;
	}
	log_info("queue redis: %s:%d db %d stream %s group %s", s->url.host,
		 s->url.port, s->url.db, s->url.stream, s->url.group);
	*out = &s->base;
	return IP_OK;
}

static const struct queue_ops rq_ops = {
    .name = "redis",
    .caps = QUEUE_CAP_SHARED,
    .close = rq_close,
    .ping = rq_ping,
    .send = rq_send,
    .receive = rq_receive,
    .del = rq_del,
    .retry = rq_retry,
    .dead_letter = rq_dead_letter,
    .dlq_list = rq_dlq_list,
    .dlq_redrive = rq_dlq_redrive,
    .depth = rq_depth,
    .dlq_count = rq_dlq_count,
    .wake = rq_wake,
};
