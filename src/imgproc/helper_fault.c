/*
 * helper_fault.c - the test-only fault hook of the image helpers (see
 * helper_child.h).  Compiled empty unless IMGPIPE_TEST_HOOKS (meson
 * -Dtest_hooks), so a release binary has no such switch.  Host side on
 * worker threads (a lock guards the "once" memory); helper side on the
 * helper's one thread.
 */
#include "imgproc/helper_child.h"

#if IMGPIPE_TEST_HOOKS
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

static const char *const fault_names[] = {
    [HELPER_FAULT_SEGV] = "segv", [HELPER_FAULT_ABORT] = "abort",
    [HELPER_FAULT_LOOP] = "loop", [HELPER_FAULT_OOM] = "oom",
    [HELPER_FAULT_OPEN] = "open", [HELPER_FAULT_SOCKET] = "socket",
    [HELPER_FAULT_WARN] = "warn",
};

#define FIRED_MAX 64
static pthread_mutex_t fired_lock = PTHREAD_MUTEX_INITIALIZER;
static char fired[FIRED_MAX][256];
static int n_fired;

/* "once": true the first time path is seen, false afterwards. */
static bool
first_time(const char *path)
{
	bool first = true;

	pthread_mutex_lock(&fired_lock);
	for (int i = 0; i < n_fired && first; i++)
		if (strcmp(fired[i], path) == 0)
			first = false;
	if (first && n_fired < FIRED_MAX)
		util_strlcpy(fired[n_fired++], path, sizeof(fired[0]));
	pthread_mutex_unlock(&fired_lock);
	return first;
}

/* One KIND:WHEN:SUBSTRING entry against path; WHEN "probe" fires on
 * every probe of a matching path and never on a job. */
static uint32_t
fault_match(const char *entry, const char *path, bool probe)
{
	char kind[16], when[16], sub[200];

	if (sscanf(entry, "%15[a-z]:%15[a-z]:%199[^,]", kind, when, sub) != 3 ||
	    strstr(path, sub) == NULL || probe != (strcmp(when, "probe") == 0))
		return HELPER_FAULT_NONE;
	for (uint32_t i = 1; i < UTIL_ARRAY_LEN(fault_names); i++)
		if (strcmp(kind, fault_names[i]) == 0)
			return strcmp(when, "once") != 0 || first_time(path)
				   ? i
				   : HELPER_FAULT_NONE;
	return HELPER_FAULT_NONE;
}

uint32_t
helper_fault_for(int fd, bool probe)
{
	const char *spec = getenv("IMGPIPE_TEST_HELPER_FAULT");
	char link[64], path[256];
	ssize_t n;

	if (spec == NULL)
		return HELPER_FAULT_NONE;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return HELPER_FAULT_NONE;
	path[n] = '\0';
	/* Comma-separated entries; the first that names path wins. */
	for (const char *e = spec; e != NULL && *e != '\0';) {
		uint32_t f = fault_match(e, path, probe);
		const char *comma = strchr(e, ',');

		if (f != HELPER_FAULT_NONE)
			return f;
		e = comma != NULL ? comma + 1 : NULL;
	}
	return HELPER_FAULT_NONE;
}

void
helper_fault_run(uint32_t fault)
{
	volatile int *guard;

	switch (fault) {
	case HELPER_FAULT_SEGV:
		/* A real fault: a store to a page with no access. */
		guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
		if (guard != MAP_FAILED)
			*guard = 1;
		break;
	case HELPER_FAULT_ABORT:
		abort();
	case HELPER_FAULT_LOOP:
		for (volatile unsigned long i = 0;; i++)
			;
	case HELPER_FAULT_OOM:
		/* As libvips would: g_malloc until it fails (GLib then
		 * aborts, which the helper reports as out of memory). */
		for (;;) {
			volatile char *p = g_malloc(64 << 20);

			p[0] = 1; /* address space, not RSS: fast */
		}
	case HELPER_FAULT_OPEN:
		close(open("/etc/hostname", O_RDONLY | O_CLOEXEC));
		break;
	case HELPER_FAULT_SOCKET:
		close(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		break;
	case HELPER_FAULT_WARN:
		/* As a library would warn mid-job; the log must escape it. */
		g_log("GLib-GObject", G_LOG_LEVEL_WARNING,
		      "test hook: a warning \x1b[31mred\x1b[0m");
		break;
	default:
		break;
	}
}

#else

uint32_t
helper_fault_for(int fd, bool probe)
{
	(void)fd;
	(void)probe;
	return HELPER_FAULT_NONE;
}

void
helper_fault_run(uint32_t fault)
{
	(void)fault;
}

#endif
