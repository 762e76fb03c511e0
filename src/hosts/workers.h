/*
 * workers.h - the local worker pool: N threads that take events from the
 * queue and run the function (function_handle_event) on them.
 *
 * Retry policy (as Lambda's asynchronous invocation): an attempt that
 * fails with a transient error is retried after backoff_ms * 2^(n-1)
 * (capped at backoff_max_ms, with +-20% jitter); after max_attempts the
 * record is `failed` and the message goes to the dead-letter store.  A
 * permanent error (not an image, too many pixels, time limit) fails the
 * record at once.  A message delivered more than max_attempts times (its
 * workers died mid-way, e.g. a process crash) is dead-lettered unrun.
 *
 * Threads: workers_start/stop are called by main.c's thread; the pool's
 * threads only touch the app's backends (thread-safe) and their own stack.
 */
#ifndef IMGPIPE_WORKERS_H
#define IMGPIPE_WORKERS_H

#include <stdint.h>

#include "core/error.h"

struct app;
struct workers;

int workers_start(struct app *app, int n, struct workers **out,
		  struct ip_error *err);

/* Ask the threads to stop after their current event (app_stop must have
 * been called so blocked receives wake), and join them for at most
 * grace_ms.  A thread still busy after that is left to the process exit:
 * its message becomes visible again and is redone on the next start.
 * Returns the number of threads that did not finish in time.  Frees the
 * pool when all joined. */
int workers_stop(struct workers *w, int64_t grace_ms);

/* Start-up recovery for a process that owns its queue: make in-flight
 * messages visible (if the queue supports it) and re-announce every record
 * left pending/processing (dedup by id keeps one message per image).
 * Returns the number of records re-announced, or an error code. */
int workers_recover(struct app *app, struct ip_error *err);

#endif
