/*
 * doctor.h - `imgpipe doctor`: check what the stores hold against each
 * other, and repair what can be repaired.
 *
 * Checks, in order: the databases themselves (the table's and the
 * queue's check, PRAGMA quick_check for the embedded ones), records whose
 * stored document does not parse (damaged rows), records still pending or
 * processing with no queue message (they would wait forever), and, with
 * `orphans`, objects of the buckets that no record names and records
 * whose original is missing.
 *
 * Repairs (`repair`): a damaged embedded database is set aside
 * (FILE.damaged-<ms>, kept) and rebuilt from the rows it still gives; an
 * unfinished record without a message is announced again; with `adopt`
 * too, a damaged row is deleted and every original without a record is
 * announced, so that a worker makes its record (as for any object that
 * reached the bucket without the gateway).  Repairs need the data
 * directory to itself (the lock `serve` takes).
 *
 * Called from main.c on the main thread; opens and closes what it needs.
 * Works through the interfaces, so the same on S3/DynamoDB/Redis, except
 * that a service's own files are not checked or rebuilt here.
 */
#ifndef IMGPIPE_APP_DOCTOR_H
#define IMGPIPE_APP_DOCTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

struct doctor_opts {
	bool repair; /* fix what can be fixed */
	bool orphans; /* list both buckets against the records */
	bool adopt; /* with repair: announce originals without a record */
	bool json; /* one JSON document instead of the text report */
	int64_t check_ms; /* bound of each database check */
};

/*
 * Run the checks (and repairs) on the stores cfg names and write the
 * report to out.  Returns the exit status: 0 healthy (or every problem
 * repaired), 1 problems remain, 2 the check could not run (message on
 * stderr).
 */
int doctor_run(const struct config *cfg, const struct doctor_opts *o,
	       FILE *out);

#endif
