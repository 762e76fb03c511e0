/*
 * queue_util.h - what the queue backends (queue_sqlite.c, queue_redis.c)
 * check alike: the arguments of send, receive and retry, within the
 * limits below (SQS's), and the stored length of a dead-letter reason.
 *
 * Thread-safety: reentrant, no state.
 */
#ifndef IMGPIPE_QUEUE_UTIL_H
#define IMGPIPE_QUEUE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define QUEUE_UTIL_DEDUP_MAX 128 /* as SQS */
#define QUEUE_UTIL_DELAY_MAX_MS (12LL * 3600 * 1000) /* delays, backoffs */
#define QUEUE_UTIL_VISIBILITY_MAX_S (12 * 3600) /* as SQS */
#define QUEUE_UTIL_DLQ_LIST_MAX 1000 /* dlq_list gives at most this */

/* send: a body of 1..QUEUE_BODY_MAX bytes (else IP_EINVAL, IP_ETOOBIG), a
 * dedup id that is NULL, "" or 1..QUEUE_UTIL_DEDUP_MAX printable ASCII
 * characters without space, and a delay of 0..QUEUE_UTIL_DELAY_MAX_MS. */
int queue_util_check_send(const char *body, size_t len, const char *dedup_id,
			  int64_t delay_ms, struct ip_error *err);

/* receive: visibility 0..QUEUE_UTIL_VISIBILITY_MAX_S, wait not negative. */
int queue_util_check_receive(int visibility_s, int wait_ms,
			     struct ip_error *err);

/* retry: a delay of 0..QUEUE_UTIL_DELAY_MAX_MS. */
int queue_util_check_retry(int64_t delay_ms, struct ip_error *err);

/* How much of a dead-letter reason is stored: at most QUEUE_REASON_MAX - 1
 * bytes, not cutting a UTF-8 sequence. */
size_t queue_util_reason_len(const char *reason);

#endif
