/*
 * imgproc_helper.h - the image processor that runs every job in a pool
 * of sandboxed helper processes (imgproc_helper.c; docs/ARCHITECTURE.md,
 * "Image helpers").  Included by its own files, app/ and main.c.
 */
#ifndef IMGPIPE_IMGPROC_HELPER_H
#define IMGPIPE_IMGPROC_HELPER_H

#include "core/config.h"
#include "core/error.h"
#include "imgproc/imgproc.h"

/*
 * The program that serves as a helper (`exe __helper`, main.c's hidden
 * command): main.c names itself ("/proc/self/exe") once at start-up,
 * before any thread.  Programs that cannot be a helper (the C tests,
 * benches) never call it, and imgproc_helper_exe() returns NULL: they
 * run image work in-process.
 */
void imgproc_helper_set_exe(const char *exe);
const char *imgproc_helper_exe(void);

/*
 * Open the helper backend: probe stays in this process (header only,
 * through an in-process imgproc_vips); process goes to one of
 * max(1, cfg->workers) helpers, started on first use (fork+exec via
 * posix_spawn of imgproc_helper_exe(), so forking the threaded host is
 * safe) and replaced when one dies, passes its deadline or has run
 * cfg->helper_jobs jobs.  IP_ENOTSUP when no helper program was named.
 */
int imgproc_helper_open(const struct config *cfg, struct imgproc **out,
			struct ip_error *err);

#endif
