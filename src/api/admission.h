/*
 * admission.h - back-pressure of the gateway: what an upload costs, whether
 * there is room for it, per-client upload rates, and the cap on ?wait=
 * holds.  docs/SECURITY.md ("Back-pressure and rate limits") is the user's
 * view of it.
 *
 * Work admitted but not finished is bounded two ways:
 * - by count (limits.max_queued): the queue's depth (visible + in flight),
 *   which every gateway sharing the queue sees and which survives a
 *   restart; and this process's ledger of admitted uploads;
 * - by declared pixels (limits.max_queued_pixels): the sum, over this
 *   process's ledger, of each upload's width x height x frames read from
 *   its header (core/imgheader.h), or limits.max_pixels when the header
 *   cannot be read.
 * An entry leaves the ledger when the record of its image ends done or
 * failed: at once when the worker pool runs in this process (workers.c
 * calls admission_release), else when a refusal finds, by re-reading the
 * table (at most once a second), that its record is finished or gone.
 * The ledger is seeded from the table's unfinished records on first use,
 * so a restart neither forgets admitted work nor leaks released work.
 *
 * One ledger per process (a process serves one struct app; a new app
 * starts a new ledger).  Thread-safety: every function may be called from
 * any thread.
 */
#ifndef IMGPIPE_API_ADMISSION_H
#define IMGPIPE_API_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

struct app;

/* Retry-After, in seconds, of a refusal because the queue is full: a
 * hint, as no gateway knows how fast the workers drain it. */
#define ADMISSION_FULL_RETRY_S 2

/* A reservation held from admission_reserve to _commit or _cancel. */
struct admission_ticket {
	int64_t pixels;
	bool held;
};

/* The cost of the upload whose bytes are in fd (read from offset 0, the
 * first IMGHEADER_PREFIX_MAX bytes at most): declared pixels, capped at
 * limits.max_total_pixels; limits.max_pixels when the header does not say
 * (*known false). */
int64_t admission_cost(const struct config *cfg, int fd, bool *known);

/* One upload by `who` (an API key's name, else a client address; ""
 * is never limited): IP_OK, or IP_EFULL with *retry_after_s when its
 * token bucket (limits.upload_rate, limits.upload_burst) is empty. */
int admission_rate(struct app *app, const char *who, int *retry_after_s,
		   struct ip_error *err);

/* Failed authentications by client address (auth.max_failures a
 * minute; "" is never limited), so that guessing keys, and the table
 * read an unknown key id costs, are bounded per client.  _check: IP_OK,
 * or IP_EFULL with *retry_after_s while client's allowance is spent;
 * _failed: one failure spent. */
int admission_auth_check(struct app *app, const char *client,
			 int *retry_after_s, struct ip_error *err);
void admission_auth_failed(struct app *app, const char *client);

/* Reserve room for an upload costing `pixels`: IP_OK with t held, or
 * IP_EFULL (err says which bound) with *retry_after_s.  An upload that
 * alone exceeds limits.max_queued_pixels is admitted when nothing else is
 * (else it could never run).  Backend errors reading the queue's depth
 * are logged and the depth bound skipped for this upload. */
int admission_reserve(struct app *app, int64_t pixels,
		      struct admission_ticket *t, int *retry_after_s,
		      struct ip_error *err);

/* The upload committed as record `id`: the reservation becomes its
 * ledger entry.  t is no longer held. */
void admission_commit(struct app *app, struct admission_ticket *t,
		      const char *id);

/* The upload was not committed: give the room back.  No-op unless held. */
void admission_cancel(struct app *app, struct admission_ticket *t);

/* Record `id` ended (done or failed): its entry leaves the ledger.
 * Unknown ids are remembered briefly, for a commit that comes after. */
void admission_release(struct app *app, const char *id);

/* A ?wait= hold begins: true if within server.max_waiting (then call
 * admission_wait_end), false if the request should answer now. */
bool admission_wait_begin(struct app *app);
void admission_wait_end(struct app *app);

struct admission_stats {
	int64_t images; /* ledger entries */
	int64_t pixels; /* their declared pixels */
	int64_t refused_full; /* uploads refused: queue full */
	int64_t refused_rate; /* uploads refused: client rate */
	int64_t refused_auth; /* requests refused: failed keys */
	int64_t waiting; /* ?wait= holds now */
	int64_t waits_capped; /* ?wait= answered at once */
};

/* A snapshot for /metrics. */
void admission_stats(const struct app *app, struct admission_stats *out);

#endif
