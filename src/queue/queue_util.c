/*
 * queue_util.c - what the queue backends check alike; see queue_util.h.
 *
 * Called by queue_sqlite.c and queue_redis.c from any thread.
 */
#include "queue/queue_util.h"

#include <stdbool.h>
#include <string.h>

#include "queue/queue.h"

static bool
queue_util_dedup_valid(const char *d)
{
	size_t n = strnlen(d, QUEUE_UTIL_DEDUP_MAX + 1);

	if (n > QUEUE_UTIL_DEDUP_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (d[i] < 0x21 || d[i] > 0x7e)
			return false;
	return true;
}

int
queue_util_check_send(const char *body, size_t len, const char *dedup_id,
		      int64_t delay_ms, struct ip_error *err)
{
	if (body == NULL || len == 0)
		return ip_error_set(err, IP_EINVAL, "queue: empty message");
	if (len > QUEUE_BODY_MAX)
		return ip_error_set(err, IP_ETOOBIG,
				    "queue: message of %zu bytes, max %d", len,
				    QUEUE_BODY_MAX);
	if (dedup_id != NULL && dedup_id[0] != '\0' &&
	    !queue_util_dedup_valid(dedup_id))
		return ip_error_set(err, IP_EINVAL, "queue: bad dedup id");
	if (delay_ms < 0 || delay_ms > QUEUE_UTIL_DELAY_MAX_MS)
		return ip_error_set(err, IP_EINVAL, "queue: bad delay");
	return IP_OK;
}

int
queue_util_check_receive(int visibility_s, int wait_ms, struct ip_error *err)
{
	if (visibility_s < 0 || visibility_s > QUEUE_UTIL_VISIBILITY_MAX_S)
		return ip_error_set(err, IP_EINVAL,
				    "queue: visibility must be 0..%d s",
				    QUEUE_UTIL_VISIBILITY_MAX_S);
	if (wait_ms < 0)
		return ip_error_set(err, IP_EINVAL, "queue: negative wait");
	return IP_OK;
}

int
queue_util_check_retry(int64_t delay_ms, struct ip_error *err)
{
	if (delay_ms < 0 || delay_ms > QUEUE_UTIL_DELAY_MAX_MS)
		return ip_error_set(err, IP_EINVAL, "queue: bad retry delay");
	return IP_OK;
}

size_t
queue_util_reason_len(const char *reason)
{
	size_t n = strnlen(reason, QUEUE_REASON_MAX - 1);

	if (reason[n] == '\0')
		return n;
	while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
		n--;
	return n;
}
