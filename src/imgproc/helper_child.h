/*
 * helper_child.h - the inside of an image helper (helper_child.c) and its
 * confinement (helper_confine.c), plus the test-only fault hook
 * (helper_fault.c).  Used by imgproc_helper.c.
 */
#ifndef IMGPIPE_HELPER_CHILD_H
#define IMGPIPE_HELPER_CHILD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

/* The helper's side: the `imgpipe __helper [probe]` hidden command.
 * Reads its configuration from HELPER_FD, warms up, confines itself and
 * serves jobs until the host closes the socket.  A probe helper (the
 * gateway's) warms up for headers only and serves probes only.  Does not
 * return. */
_Noreturn void imgproc_helper_main(bool probe);

/* A helper's exit status when an allocation failed (RLIMIT_AS). */
#define HELPER_EXIT_OOM 3

enum helper_fault {
	HELPER_FAULT_NONE,
	HELPER_FAULT_SEGV, /* write through NULL */
	HELPER_FAULT_ABORT, /* abort() */
	HELPER_FAULT_LOOP, /* spin for ever */
	HELPER_FAULT_OOM, /* allocate without bound */
	HELPER_FAULT_OPEN, /* open a file after confinement */
	HELPER_FAULT_SOCKET, /* make a socket after confinement */
	HELPER_FAULT_WARN, /* a GLib warning (with an escape byte), then on */
};

/*
 * Test builds (meson -Dtest_hooks, on wherever the tests are built):
 * IMGPIPE_TEST_HELPER_FAULT=KIND:WHEN:SUBSTRING (KIND one of segv, abort,
 * loop, oom, open, socket, warn; WHEN once, always or probe) makes the
 * helper fail that way on a job whose original's path contains SUBSTRING
 * ("once": the first such job of this host process only; "probe": every
 * probe of such a file, never a job); several entries are separated by
 * commas.  Host side: the fault for the original open on fd, for a probe
 * or a job.  Release builds: always HELPER_FAULT_NONE.
 */
uint32_t helper_fault_for(int fd, bool probe);

/* Helper side: do it (test builds only; nothing otherwise). */
void helper_fault_run(uint32_t fault);

/* After warm-up: RLIMIT_AS (worker.helper_memory_mb, 0 = none), no core
 * files, PR_SET_NO_NEW_PRIVS, then the seccomp filter (kill the process
 * on open, socket, exec, ptrace...).  IP_EIO with the reason on failure. */
int helper_confine(const struct config *cfg, struct ip_error *err);

/* Before each job: RLIMIT_CPU's soft limit to the CPU time used so far
 * plus what one job may take (limits.timeout x its libvips threads +
 * 5 s); the kernel's SIGXCPU ends a helper that spins past it. */
void helper_cpu_budget(const struct config *cfg, int threads);

/* More libvips threads than this in one job is a corrupt job. */
#define HELPER_THREADS_MAX 1024

#endif
