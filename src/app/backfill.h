/*
 * backfill.h - `imgpipe reprocess`: walk the table (every record, those
 * from an id on, or the ids given) and have each done record's missing
 * or changed presets made again (app/reprocess.h decides and acts for
 * one record).
 *
 * With a queue (storage.events = gateway) the command only queues
 * reprocess events, throttled: it sends one only while the queue holds
 * fewer than max_queued messages, so an upload made during a backfill
 * waits behind at most that many.  Without one (storage.events = store)
 * it makes the variants itself, `jobs` at a time.
 *
 * Resumable: DATA/reprocess.state (the arguments' fingerprint, where the
 * walk is, the counts) is replaced atomically after each page of
 * records; the same command run again resumes after the last id it
 * names, and the file goes when a run completes.  Re-running is
 * idempotent anyway: current records queue nothing.
 *
 * Thread-safety: call from one thread; it starts and joins its own job
 * threads (in-process mode) and opens and closes its own backends.
 */
#ifndef IMGPIPE_APP_BACKFILL_H
#define IMGPIPE_APP_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

#define BACKFILL_JOBS_MAX 64
#define BACKFILL_MAX_QUEUED_MAX 1000
/* Reprocess events allowed in the queue at once by default: enough to
 * keep a host's workers busy between two polls of the depth, few
 * enough that an upload waits behind at most four default jobs (about
 * 0.6 s on the 2-core machine of the benchmarks). */
#define BACKFILL_MAX_QUEUED_DEFAULT 4

struct backfill_opts {
	const char *variants; /* "a,b" (presets), "" = every preset */
	bool all; /* every record */
	const char *since; /* records whose id >= since, or NULL */
	char *const *ids; /* or these records */
	size_t n_ids;
	int max_queued; /* 1..BACKFILL_MAX_QUEUED_MAX, 0 = the default */
	int jobs; /* in-process: records at once; 0 = 1 */
	bool dry_run; /* count, change nothing (no checkpoint either) */
	bool json; /* the summary as one JSON object */
	bool restart; /* ignore a checkpoint */
};

/* Exit statuses of backfill_run(). */
enum backfill_status {
	BACKFILL_OK = 0, /* every record examined current, queued or made */
	BACKFILL_FAILED = 1, /* some record failed, or the walk stopped */
	BACKFILL_USAGE = 2 /* bad arguments (an unknown preset...) */
};

/* Run it as above: progress on stderr (one redrawn line on a terminal,
 * else a line every few seconds), failures on stderr naming the image,
 * the summary on stdout.  Returns an enum backfill_status. */
int backfill_run(const struct config *cfg, const struct backfill_opts *o);

#endif
