/*
 * process.h - `imgpipe process`: the function's image work on local files
 * and folders, no server.
 *
 * Thread-safety: call from one thread; it starts and joins its own job
 * threads and opens and closes its own image processor.
 */
#ifndef IMGPIPE_HOSTS_PROCESS_H
#define IMGPIPE_HOSTS_PROCESS_H

#include <stdbool.h>

#include "core/config.h"

/* --jobs at most (as worker.workers). */
#define PROCESS_JOBS_MAX 256

/* Exit statuses of process_files(). */
enum process_status {
	PROCESS_OK = 0, /* every input done */
	PROCESS_FAILED = 1, /* at least one input failed; the others done */
	PROCESS_USAGE = 2 /* nothing written: two inputs would write the
			       same output, or the output folder or image
			       processor could not be set up */
};

struct process_opts {
	const char *outdir; /* required */
	const char *const *includes; /* NULL-terminated globs, or NULL */
	int jobs; /* parallel jobs; 0 = worker.workers */
	bool json; /* records + summary as JSON lines */
};

/*
 * Run the image work on every input of files[0, n_files) (files, and
 * folders walked recursively: process_inputs.h) with opts->jobs threads
 * sharing one image processor (sandboxed helpers when worker.helpers is
 * on), and write each input's variants to
 * OUTDIR/[FOLDERS/]STEM-VARIANT.EXT, where FOLDERS are those between the
 * input's argument and the file.  Output names are checked for
 * collisions before anything is written.
 *
 * Reports: with opts->json, one JSON line per input on stdout (the record
 * plus "input" and "outputs"; a failure is {"input","status":"failed",
 * "error"}) and a final {"summary":{...}} line.  Otherwise a line per
 * input on stdout, or, when stderr is a terminal, one progress line
 * redrawn on stderr; a summary on stderr.  Failures are also written to
 * stderr, naming the input.  Returns an enum process_status.
 */
int process_files(const struct config *config, char *const *files, int n_files,
		  const struct process_opts *opts);

#endif
