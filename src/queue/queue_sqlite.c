/*
 * queue_sqlite.c - the embedded event queue: a durable SQLite table with a
 * visibility timeout, receipts, and a dead-letter table.
 *
 * Called through the queue.h wrappers by the gateway and recovery (send),
 * the workers (receive, delete, retry, dead_letter), the admin paths
 * (dlq_list, dlq_redrive), start-up (release_all), /metrics (depth) and
 * shutdown (wake), all from any thread at once.
 *
 * DESIGN
 *
 * One connection and one mutex; the mutex is also the one of the condition
 * variable that blocked receives wait on, so "look, then sleep" cannot miss
 * a send: send, retry, redrive, release_all and wake all broadcast with the
 * mutex held.  A receive that finds nothing sleeps until the earliest
 * visible_at, its own deadline, or QUEUE_SQLITE_POLL_MS, whichever comes
 * first; the poll bound is what lets it notice messages sent by another
 * process sharing the file (the condition variable is per process).
 * The condition variable runs on CLOCK_MONOTONIC; visible_at is wall-clock
 * milliseconds (util_now_ms) because it is stored and must survive restarts.
 *
 * Schema (user_version 1):
 *   messages(id INTEGER PRIMARY KEY AUTOINCREMENT, dedup TEXT, body BLOB,
 *            sent_at, visible_at, receive_count, receipt TEXT)
 *     + partial UNIQUE index on dedup (live messages only), index on
 *       visible_at
 *   dead(id, body, receive_count, reason, dead_at, sent_at)
 * A message keeps its id through the dead-letter table and back, and
 * AUTOINCREMENT never hands an id out twice, so ids are unique forever.
 *
 * States of a row in messages:
 *   visible    visible_at <= now
 *   in flight  visible_at >  now, receipt set     (received)
 *   delayed    visible_at >  now, receipt NULL    (delayed send, retry)
 * receive gives a fresh receipt; retry and release_all clear it, so a
 * receipt is valid from its receive until the next receive, retry,
 * release_all, delete or dead_letter.  A stale receipt is IP_ECONFLICT; a
 * message that is gone altogether (deleted by the holder of a newer
 * receipt, or dead) is IP_ENOTFOUND.
 *
 * depth: visible = visible rows, in-flight = every row not yet visible
 * (received or delayed), so the two add up to everything queued.
 *
 * Durability: journal_mode=WAL, synchronous=FULL; every state change is
 * one transaction.
 */
#include "queue/queue_sqlite.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/backend_url.h"
#include "core/log.h"
#include "core/sqlite_util.h"
#include "core/util.h"
#include "queue/queue_util.h"

#define QUEUE_SQLITE_POLL_MS 500

enum sqlq_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SEND,
	ST_PICK,
	ST_TAKE,
	ST_NEXT,
	ST_STATE,
	ST_DEL,
	ST_RETRY,
	ST_BURY,
	ST_BURY_DEL,
	ST_DLQ_LIST,
	ST_REDRIVE_ONE,
	ST_UNBURY_ONE,
	ST_REDRIVE_ALL,
	ST_UNBURY_ALL,
	ST_RELEASE,
	ST_DEPTH,
	ST_PING,
	ST_DEAD_COUNT,
	ST_QUEUED,
	ST_COUNT
};

static const char *const sqlq_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* OR IGNORE: a live message with the same dedup wins, silently. */
    [ST_SEND] = "INSERT OR IGNORE INTO messages"
		"(dedup, body, sent_at, visible_at, receive_count)"
		" VALUES (?1, ?2, ?3, ?4, 0)",
    [ST_PICK] = "SELECT id, body, sent_at, receive_count FROM messages"
		" WHERE visible_at <= ?1 ORDER BY id LIMIT 1",
    [ST_TAKE] = "UPDATE messages SET visible_at = ?2,"
		" receive_count = receive_count + 1, receipt = ?3"
		" WHERE id = ?1",
    [ST_NEXT] = "SELECT MIN(visible_at) FROM messages",
    [ST_STATE] = "SELECT 1 FROM messages WHERE id = ?1",
    [ST_DEL] = "DELETE FROM messages WHERE id = ?1 AND receipt = ?2",
    [ST_RETRY] = "UPDATE messages SET visible_at = ?3, receipt = NULL"
		 " WHERE id = ?1 AND receipt = ?2",
    [ST_BURY] = "INSERT INTO dead"
		"(id, body, receive_count, reason, dead_at, sent_at)"
		" SELECT id, body, receive_count, ?3, ?4, sent_at"
		" FROM messages WHERE id = ?1 AND receipt = ?2",
    [ST_BURY_DEL] = "DELETE FROM messages WHERE id = ?1",
    [ST_DLQ_LIST] = "SELECT id, body, receive_count, reason, dead_at"
		    " FROM dead ORDER BY dead_at, id LIMIT ?1",
    [ST_REDRIVE_ONE] = "INSERT INTO messages(id, dedup, body, sent_at,"
		       " visible_at, receive_count, receipt)"
		       " SELECT id, NULL, body, sent_at, ?2, 0, NULL"
		       " FROM dead WHERE id = ?1",
    [ST_UNBURY_ONE] = "DELETE FROM dead WHERE id = ?1",
    [ST_REDRIVE_ALL] = "INSERT INTO messages(id, dedup, body, sent_at,"
		       " visible_at, receive_count, receipt)"
		       " SELECT id, NULL, body, sent_at, ?1, 0, NULL"
		       " FROM dead",
    [ST_UNBURY_ALL] = "DELETE FROM dead",
    [ST_RELEASE] = "UPDATE messages SET visible_at = ?1, receipt = NULL"
		   " WHERE receipt IS NOT NULL AND visible_at > ?1",
    [ST_DEPTH] = "SELECT COALESCE(SUM(visible_at <= ?1), 0),"
		 " COALESCE(SUM(visible_at > ?1), 0) FROM messages",
    [ST_PING] = "SELECT 1",
    [ST_DEAD_COUNT] = "SELECT COUNT(*) FROM dead",
    [ST_QUEUED] = "SELECT 1 FROM messages WHERE dedup = ?1",
};

static const char sqlq_ddl[] =
    "CREATE TABLE IF NOT EXISTS messages ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " dedup TEXT,"
    " body BLOB NOT NULL,"
    " sent_at INTEGER NOT NULL,"
    " visible_at INTEGER NOT NULL,"
    " receive_count INTEGER NOT NULL DEFAULT 0,"
    " receipt TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_dedup ON messages(dedup)"
    " WHERE dedup IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS messages_visible ON messages(visible_at);"
    "CREATE TABLE IF NOT EXISTS dead ("
    " id INTEGER PRIMARY KEY,"
    " body BLOB NOT NULL,"
    " receive_count INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " dead_at INTEGER NOT NULL,"
    " sent_at INTEGER NOT NULL);";

static const struct sqlite_util_schema sqlq_schema = {
    .who = "queue sqlite",
    .ddl = sqlq_ddl,
    .version = 1,
    .sql = sqlq_sql,
    .nsql = ST_COUNT,
};

struct sqlq {
	struct queue base; /* first: the interface casts */
	pthread_mutex_t lock; /* guards db, statements, wake_gen */
	pthread_cond_t cond; /* "something may have become visible" */
	uint64_t wake_gen; /* bumped by wake(): blocked receives end */
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	char path[CONFIG_PATH_MAX];
};

static const struct queue_ops sqlq_ops;

static struct sqlq *
sqlq(struct queue *q)
{
	return (struct sqlq *)q;
}

static int
sqlq_error(struct sqlq *s, int rc, const char *what, struct ip_error *err)
{
	return sqlite_util_error(sqlq_schema.who, s->db, rc, what, err);
}

/* Step a statement that returns no row; reset it. */
static int
sqlq_exec(struct sqlq *s, enum sqlq_stmt which, struct ip_error *err)
{
	sqlite3_stmt *st = s->st[which];
	int rc = sqlite3_step(st);

	sqlite_util_done(st);
	if (rc != SQLITE_DONE)
		return sqlq_error(s, rc, sqlq_sql[which], err);
	return IP_OK;
}

static int
sqlq_begin(struct sqlq *s, struct ip_error *err)
{
	return sqlq_exec(s, ST_BEGIN, err);
}

/* Commit if rc is IP_OK, else roll back; returns the final code. */
static int
sqlq_end(struct sqlq *s, int rc, struct ip_error *err)
{
	if (rc == IP_OK) {
		rc = sqlq_exec(s, ST_COMMIT, err);
		if (rc == IP_OK)
			return IP_OK;
	}
	if (!sqlite3_get_autocommit(s->db))
		sqlq_exec(s, ST_ROLLBACK, NULL);
	return rc;
}

/* Message ids are the decimal text of a positive rowid. */
static bool
sqlq_parse_id(const char *text, int64_t *id)
{
	int64_t v = 0;
	size_t i;

	if (text == NULL || text[0] < '1' || text[0] > '9')
		return false;
	for (i = 0; text[i] != '\0'; i++) {
		if (i >= 18 || text[i] < '0' || text[i] > '9')
			return false;
		v = v * 10 + (text[i] - '0');
	}
	*id = v;
	return true;
}

static int
sqlq_check_msg(const struct queue_msg *m, int64_t *id, struct ip_error *err)
{
	if (m == NULL || !sqlq_parse_id(m->id, id))
		return ip_error_set(err, IP_EINVAL, "queue: bad message id");
	if (m->receipt[0] == '\0' ||
	    strnlen(m->receipt, QUEUE_RECEIPT_MAX) >= QUEUE_RECEIPT_MAX)
		return ip_error_set(err, IP_EINVAL, "queue: bad receipt");
	return IP_OK;
}

/*
 * Why did a receipt-guarded statement change nothing?  Lock held.
 * IP_ECONFLICT if the message is there under a newer receipt (or none),
 * IP_ENOTFOUND if it is gone.
 */
static int
sqlq_why_unchanged(struct sqlq *s, int64_t id, struct ip_error *err)
{
	sqlite3_stmt *st = s->st[ST_STATE];
	int rc;

	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite_util_done(st);
	if (rc == SQLITE_ROW)
		return ip_error_set(err, IP_ECONFLICT,
				    "queue: stale receipt for message %lld",
				    (long long)id);
	if (rc == SQLITE_DONE)
		return ip_error_set(err, IP_ENOTFOUND,
				    "queue: message %lld is gone",
				    (long long)id);
	return sqlq_error(s, rc, "state", err);
}

/*
 * Step statement which, guarded by ?1 = id and ?2 = receipt (bound here;
 * the caller binds any other parameter first).  Lock held.  IP_OK if it
 * changed a row, else the reason: an SQLite error or sqlq_why_unchanged.
 */
static int
sqlq_step_guarded(struct sqlq *s, enum sqlq_stmt which, int64_t id,
		  const char *receipt, const char *what, struct ip_error *err)
{
	sqlite3_stmt *st = s->st[which];
	int rc;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, receipt, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite_util_done(st);
	if (rc != SQLITE_DONE)
		return sqlq_error(s, rc, what, err);
	if (sqlite3_changes(s->db) == 0)
		return sqlq_why_unchanged(s, id, err);
	return IP_OK;
}

static int
sqlq_send(struct queue *q, const char *body, size_t len, const char *dedup_id,
	  int64_t delay_ms, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int64_t now = util_now_ms();
	int rc;

	rc = queue_util_check_send(body, len, dedup_id, delay_ms, err);
	if (rc != IP_OK)
		return rc;
	if (dedup_id != NULL && dedup_id[0] == '\0')
		dedup_id = NULL;
	pthread_mutex_lock(&s->lock);
	st = s->st[ST_SEND];
	rc = SQLITE_OK;
	if (dedup_id != NULL)
		rc = sqlite3_bind_text(st, 1, dedup_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(st, 2, body, (int)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, now + delay_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		rc = sqlq_error(s, rc, "send", err);
	} else {
		rc = IP_OK;
		if (sqlite3_changes(s->db) == 0)
			log_debug("queue: duplicate of live message %s dropped",
				  dedup_id);
		else
			pthread_cond_broadcast(&s->cond);
	}
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * One attempt to take the oldest visible message, in one transaction.
 * IP_ENOTFOUND if none; then *next_ms is the earliest visible_at of any
 * message (0 if the queue is empty).  Lock held.
 */
static int
sqlq_take(struct sqlq *s, int visibility_s, struct queue_msg *out,
	  int64_t *next_ms, struct ip_error *err)
{
	unsigned char rnd[16];
	char receipt[sizeof(rnd) * 2 + 1];
	int64_t now = util_now_ms();
	sqlite3_stmt *st;
	int64_t id = 0;
	const void *blob;
	int len;
	int rc;

	*next_ms = 0;
	rc = sqlq_begin(s, err);
	if (rc != IP_OK)
		return rc;
	st = s->st[ST_PICK];
	sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite_util_done(st);
		st = s->st[ST_NEXT];
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*next_ms = sqlite3_column_int64(st, 0);
			rc = ip_error_set(err, IP_ENOTFOUND,
					  "queue: no visible message");
		} else {
			rc = sqlq_error(s, rc, "next", err);
		}
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = sqlq_error(s, rc, "pick", err);
		goto out;
	}
	id = sqlite3_column_int64(st, 0);
	blob = sqlite3_column_blob(st, 1);
	len = sqlite3_column_bytes(st, 1);
	if (len <= 0 || len > QUEUE_BODY_MAX || blob == NULL) {
		rc = ip_error_set(err, IP_EBACKEND,
				  "queue sqlite: message %lld has a body of "
				  "%d bytes",
				  (long long)id, len);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->body = malloc((size_t)len + 1);
	if (out->body == NULL) {
		rc = ip_error_set(err, IP_ENOMEM, "queue: receive");
		goto out;
	}
	memcpy(out->body, blob, (size_t)len);
	out->body[len] = '\0';
	out->len = (size_t)len;
	out->sent_at_ms = sqlite3_column_int64(st, 2);
	out->receive_count = sqlite3_column_int(st, 3) + 1;
	snprintf(out->id, sizeof(out->id), "%lld", (long long)id);
	sqlite_util_done(st);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rc = ip_error_set(err, IP_EIO, "queue: getrandom: %s",
				  strerror(errno));
		goto out;
	}
	util_hex(rnd, sizeof(rnd), receipt);
	util_strlcpy(out->receipt, receipt, sizeof(out->receipt));
	st = s->st[ST_TAKE];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now + (int64_t)visibility_s * 1000);
	sqlite3_bind_text(st, 3, out->receipt, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? IP_OK : sqlq_error(s, rc, "take", err);
out:
	sqlite_util_done(st);
	/* Nothing found is not a failure of the transaction. */
	if (rc == IP_ENOTFOUND) {
		rc = sqlq_end(s, IP_OK, err);
		if (rc == IP_OK)
			rc = IP_ENOTFOUND;
	} else {
		rc = sqlq_end(s, rc, err);
	}
	if (rc != IP_OK)
		queue_msg_clear(out);
	return rc;
}

static void
mono_timespec(int64_t mono_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(mono_ms / 1000);
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

static int
sqlq_receive(struct queue *q, int visibility_s, int wait_ms,
	     struct queue_msg *out, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
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
	for (;;) {
		struct timespec ts;
		int64_t next_ms;
		int64_t now;
		int64_t until;

		rc = sqlq_take(s, visibility_s, out, &next_ms, err);
		if (rc != IP_ENOTFOUND)
			break;
		now = util_mono_ms();
		if (now >= deadline || s->wake_gen != gen)
			break;
		until = deadline;
		if (until > now + QUEUE_SQLITE_POLL_MS)
			until = now + QUEUE_SQLITE_POLL_MS;
		if (next_ms > 0) {
			int64_t rel = next_ms - util_now_ms();

			if (rel < 0)
				rel = 0;
			if (until > now + rel)
				until = now + rel;
		}
		mono_timespec(until, &ts);
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == IP_ENOTFOUND)
		ip_error_set(err, IP_ENOTFOUND,
			     "queue: no message within %d ms", wait_ms);
	return rc;
}

static int
sqlq_del(struct queue *q, const struct queue_msg *m, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	int64_t id = 0;
	int rc;

	rc = sqlq_check_msg(m, &id, err);
	if (rc != IP_OK)
		return rc;
	pthread_mutex_lock(&s->lock);
	rc = sqlq_step_guarded(s, ST_DEL, id, m->receipt, "delete", err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlq_retry(struct queue *q, const struct queue_msg *m, int64_t delay_ms,
	   struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	int64_t id = 0;
	int rc;

	rc = sqlq_check_msg(m, &id, err);
	if (rc != IP_OK)
		return rc;
	rc = queue_util_check_retry(delay_ms, err);
	if (rc != IP_OK)
		return rc;
	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->st[ST_RETRY], 3, util_now_ms() + delay_ms);
	rc = sqlq_step_guarded(s, ST_RETRY, id, m->receipt, "retry", err);
	if (rc == IP_OK)
		pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlq_dead_letter(struct queue *q, const struct queue_msg *m, const char *reason,
		 struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int64_t id = 0;
	int rc;

	rc = sqlq_check_msg(m, &id, err);
	if (rc != IP_OK)
		return rc;
	if (reason == NULL)
		reason = "";
	pthread_mutex_lock(&s->lock);
	rc = sqlq_begin(s, err);
	if (rc != IP_OK)
		goto out;
	st = s->st[ST_BURY];
	sqlite3_bind_text(st, 3, reason, (int)queue_util_reason_len(reason),
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, util_now_ms());
	rc = sqlq_step_guarded(s, ST_BURY, id, m->receipt, "dead letter", err);
	if (rc == IP_OK) {
		st = s->st[ST_BURY_DEL];
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		sqlite_util_done(st);
		rc = rc == SQLITE_DONE ? IP_OK
				       : sqlq_error(s, rc, "dead letter", err);
	}
	rc = sqlq_end(s, rc, err);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlq_dlq_list(struct queue *q, size_t limit, struct queue_dead_list *out,
	      struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	struct queue_dead *items = NULL;
	size_t n = 0;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (limit > QUEUE_UTIL_DLQ_LIST_MAX)
		limit = QUEUE_UTIL_DLQ_LIST_MAX;
	if (limit == 0)
		return IP_OK;
	pthread_mutex_lock(&s->lock);
	st = s->st[ST_DLQ_LIST];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
	for (;;) {
		struct queue_dead *d;
		const void *blob;
		const unsigned char *reason;
		int len;

		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			rc = sqlq_error(s, rc, "dlq list", err);
			goto out;
		}
		if (items == NULL) {
			items = calloc(limit, sizeof(*items));
			if (items == NULL) {
				rc = ip_error_set(err, IP_ENOMEM, "dlq list");
				goto out;
			}
		}
		d = &items[n];
		blob = sqlite3_column_blob(st, 1);
		len = sqlite3_column_bytes(st, 1);
		if (len < 0 || len > QUEUE_BODY_MAX) {
			rc = ip_error_set(err, IP_EBACKEND,
					  "queue sqlite: dead body of %d bytes",
					  len);
			goto out;
		}
		d->body = malloc((size_t)len + 1);
		if (d->body == NULL) {
			rc = ip_error_set(err, IP_ENOMEM, "dlq list");
			goto out;
		}
		if (len > 0)
			memcpy(d->body, blob, (size_t)len);
		d->body[len] = '\0';
		d->len = (size_t)len;
		snprintf(d->id, sizeof(d->id), "%lld",
			 (long long)sqlite3_column_int64(st, 0));
		d->receive_count = sqlite3_column_int(st, 2);
		reason = sqlite3_column_text(st, 3);
		util_strlcpy(d->reason,
			     reason != NULL ? (const char *)reason : "",
			     sizeof(d->reason));
		d->dead_at_ms = sqlite3_column_int64(st, 4);
		n++;
	}
	rc = IP_OK;
	out->items = items;
	out->n = n;
	items = NULL;
out:
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	if (items != NULL) {
		struct queue_dead_list partial = {.n = n, .items = items};

		queue_dead_list_free(&partial);
	}
	return rc;
}

static int
sqlq_dlq_redrive(struct queue *q, const char *id_text, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int64_t now = util_now_ms();
	int64_t id = 0;
	int n = 0;
	int rc;

	if (id_text != NULL && !sqlq_parse_id(id_text, &id))
		return ip_error_set(err, IP_EINVAL, "queue: bad message id");
	pthread_mutex_lock(&s->lock);
	rc = sqlq_begin(s, err);
	if (rc != IP_OK)
		goto out;
	st = s->st[id_text != NULL ? ST_REDRIVE_ONE : ST_REDRIVE_ALL];
	if (id_text != NULL) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
	} else {
		sqlite3_bind_int64(st, 1, now);
	}
	rc = sqlite3_step(st);
	sqlite_util_done(st);
	if (rc != SQLITE_DONE) {
		rc = sqlq_error(s, rc, "redrive", err);
		goto end;
	}
	n = sqlite3_changes(s->db);
	if (id_text != NULL && n == 0) {
		rc = ip_error_set(err, IP_ENOTFOUND,
				  "queue: no dead message %s", id_text);
		goto end;
	}
	st = s->st[id_text != NULL ? ST_UNBURY_ONE : ST_UNBURY_ALL];
	if (id_text != NULL)
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite_util_done(st);
	rc = rc == SQLITE_DONE ? IP_OK : sqlq_error(s, rc, "redrive", err);
end:
	rc = sqlq_end(s, rc, err);
	if (rc == IP_OK && n > 0)
		pthread_cond_broadcast(&s->cond);
out:
	pthread_mutex_unlock(&s->lock);
	return rc == IP_OK ? n : rc;
}

static int
sqlq_release_all(struct queue *q, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = s->st[ST_RELEASE];
	sqlite3_bind_int64(st, 1, util_now_ms());
	rc = sqlite3_step(st);
	sqlite_util_done(st);
	if (rc != SQLITE_DONE) {
		rc = sqlq_error(s, rc, "release", err);
	} else {
		rc = IP_OK;
		if (sqlite3_changes(s->db) > 0) {
			log_info("queue: released %d in-flight messages",
				 sqlite3_changes(s->db));
			pthread_cond_broadcast(&s->cond);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlq_depth(struct queue *q, int64_t *visible, int64_t *inflight,
	   struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = s->st[ST_DEPTH];
	sqlite3_bind_int64(st, 1, util_now_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*visible = sqlite3_column_int64(st, 0);
		*inflight = sqlite3_column_int64(st, 1);
		rc = IP_OK;
	} else {
		rc = sqlq_error(s, rc, "depth", err);
	}
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlq_dlq_count(struct queue *q, int64_t *n, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = s->st[ST_DEAD_COUNT];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		rc = IP_OK;
	} else {
		rc = sqlq_error(s, rc, "dead count", err);
	}
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void
sqlq_wake(struct queue *q)
{
	struct sqlq *s = sqlq(q);

	pthread_mutex_lock(&s->lock);
	s->wake_gen++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int
sqlq_ping(struct queue *q, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = s->st[ST_PING];
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? IP_OK : sqlq_error(s, rc, "ping", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void
sqlq_close(struct queue *q)
{
	struct sqlq *s = sqlq(q);

	sqlite_util_close(&sqlq_schema, s->path, s->db, s->st);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int
sqlq_init_sync(struct sqlq *s, struct ip_error *err)
{
	pthread_condattr_t attr;
	int e;

	e = pthread_mutex_init(&s->lock, NULL);
	if (e != 0)
		return ip_error_set(err, IP_ENOMEM, "queue: mutex: %s",
				    strerror(e));
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	e = pthread_cond_init(&s->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (e != 0) {
		pthread_mutex_destroy(&s->lock);
		return ip_error_set(err, IP_ENOMEM, "queue: cond: %s",
				    strerror(e));
	}
	return IP_OK;
}

static int
sqlq_check(struct queue *q, int64_t limit_ms, bool *cut_short,
	   struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = sqlite_util_check(sqlq_schema.who, s->path, s->db, limit_ms,
			       cut_short, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlq_queued(struct queue *q, const char *dedup_id, struct ip_error *err)
{
	struct sqlq *s = sqlq(q);
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	st = s->st[ST_QUEUED];
	rc = sqlite3_bind_text(st, 1, dedup_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = IP_OK;
	else if (rc == SQLITE_DONE)
		rc = ip_error_set(err, IP_ENOTFOUND, "no message for %s",
				  dedup_id);
	else
		rc = sqlq_error(s, rc, "queued", err);
	sqlite_util_done(st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
sqlq_open_path(const char *path, int64_t check_ms, struct queue **out,
	       struct ip_error *err)
{
	struct sqlq *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ip_error_set(err, IP_ENOMEM, "queue sqlite");
	rc = sqlq_init_sync(s, err);
	if (rc != IP_OK) {
		free(s);
		return rc;
	}
	rc = sqlite_util_open(&sqlq_schema, path, check_ms, &s->db, s->st, err);
	if (rc != IP_OK) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	s->base.ops = &sqlq_ops;
	util_strlcpy(s->path, path, sizeof(s->path));
	*out = &s->base;
	return IP_OK;
}

/* "sqlite" = DATA/queue.db; "sqlite:///abs/file.db" = that file. */
/* The file cfg->queue names, in buf. */
static int
sqlq_path(const struct config *cfg, char *buf, size_t len, const char **path,
	  struct ip_error *err)
{
	static const struct backend_url_local forms = {
	    .module = "queue",
	    .name = "sqlite",
	    .file = "queue.db",
	    .example = "file.db",
	};

	return backend_url_local(&forms, cfg->queue, cfg->data_dir, buf, len,
				 path, err);
}

int
queue_sqlite_open(const struct config *cfg, struct queue **out,
		  struct ip_error *err)
{
	char buf[CONFIG_PATH_MAX + 16];
	const char *path;
	int rc;

	*out = NULL;
	rc = sqlq_path(cfg, buf, sizeof(buf), &path, err);
	if (rc != IP_OK)
		return rc;
	return sqlq_open_path(path, (int64_t)cfg->integrity_check_s * 1000, out,
			      err);
}

int
queue_sqlite_rebuild(const struct config *cfg, char *moved, size_t len,
		     int64_t *copied, struct ip_error *err)
{
	static const char *const tables[] = {"messages", "dead", NULL};
	char buf[CONFIG_PATH_MAX + 16];
	const char *path;
	int rc;

	*copied = 0;
	rc = sqlq_path(cfg, buf, sizeof(buf), &path, err);
	if (rc != IP_OK)
		return rc;
	return sqlite_util_rebuild(&sqlq_schema, path, tables, moved, len,
				   copied, err);
}

static const struct queue_ops sqlq_ops = {
    .name = "sqlite",
    .caps = 0,
    .close = sqlq_close,
    .ping = sqlq_ping,
    .send = sqlq_send,
    .receive = sqlq_receive,
    .del = sqlq_del,
    .retry = sqlq_retry,
    .dead_letter = sqlq_dead_letter,
    .dlq_list = sqlq_dlq_list,
    .dlq_redrive = sqlq_dlq_redrive,
    .release_all = sqlq_release_all,
    .depth = sqlq_depth,
    .dlq_count = sqlq_dlq_count,
    .wake = sqlq_wake,
    .check = sqlq_check,
    .queued = sqlq_queued,
};
