/*
 * process.h - `imgpipe process`: the function on local files, no server.
 *
 * Thread-safety: call from one thread; it opens and closes its own
 * private backends.
 */
#ifndef IMGPIPE_HOSTS_PROCESS_H
#define IMGPIPE_HOSTS_PROCESS_H

#include "core/config.h"

/* Run each of files[0, n_files) through a private embedded pipeline in a
 * temporary data directory (removed afterwards) and write
 * outdir/<name>-<variant>.<ext>; print each record as one JSON line on
 * stdout and each failure on stderr.  The storage settings of config are
 * ignored (the private pipeline is always fs + sqlite).  Returns the exit
 * status: 0 when every file is done, 1 otherwise. */
int process_files(const struct config *config, char *const *files, int n_files,
		  const char *outdir);

#endif
