/*
 * webhooks.h - the deliverer of completion webhooks: it drains the outbox
 * the function fills (table_hook_*, core/hook.h) and POSTs each delivery,
 * signed, to its URL (docs/API.md "Webhooks").
 *
 * DESIGN: the function writes a delivery before the record's final write;
 * a deliverer sends it once the record is final, with the record as GET
 * /v1/images/{id} shows it then.  Nothing here runs on the image path: a
 * slow or dead receiver costs a deliverer thread, bounded by
 * notify.timeout, never a worker.  Deliveries are claimed by a
 * conditional update (a lease of twice notify.timeout), so deliverers of
 * several processes sharing a table do not send one delivery twice while
 * the lease holds; a deliverer that dies mid-send leaves the delivery to
 * be sent again when the lease ends (at-least-once: receivers dedupe by
 * Imgpipe-Delivery).
 *
 * Hosts: `serve` and `worker` run webhooks_start's threads (one
 * dispatcher listing what is due into a bounded ring, notify.concurrency
 * senders); the Lambda
 * host calls webhooks_drain after each invocation with what is left of
 * its budget; `imgpipe webhooks` lists and redrives dead letters.
 */
#ifndef IMGPIPE_APP_WEBHOOKS_H
#define IMGPIPE_APP_WEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/hook.h"

struct app;
struct table;
struct webhooks;

struct webhooks_stats {
	int delivered; /* receivers answered 2xx */
	int retried; /* failed, to be tried again */
	int dead; /* failed for the last time: dead-lettered */
	int dropped; /* the record was deleted or moved on */
};

/* Start the deliverer over app's table: a dispatcher thread and
 * notify.concurrency sender threads.  *out is
 * NULL (and IP_OK) when notify.url is empty.  IP_ENOMEM, or IP_EINVAL for
 * a setting config_validate would refuse. */
int webhooks_start(struct app *app, struct webhooks **out,
		   struct ip_error *err);

/* A record reached its final state here: look at the outbox now.  Any
 * thread; NULL-safe. */
void webhooks_wake(struct webhooks *w);

/* Stop the threads (a send in flight is abandoned; its lease expires and
 * it is sent again later) and free w.  NULL-safe. */
void webhooks_stop(struct webhooks *w);

/* Deliver what is due, in this thread, until nothing is due or
 * budget_ms passes (checked between deliveries; each is bounded by
 * notify.timeout).  For hosts without threads of their own (Lambda).
 * IP_OK, or the table's error. */
int webhooks_drain(struct app *app, int64_t budget_ms,
		   struct webhooks_stats *stats, struct ip_error *err);

/* Make dead deliveries pending again, due now, with their attempts reset:
 * the one named id, or all of them when id is NULL.  *n counts them.
 * IP_ENOTFOUND for an id that is not a dead delivery. */
int webhooks_redrive(struct table *t, const char *id, size_t *n,
		     struct ip_error *err);

#endif
