/*
 * helper_confine.c - what an image helper may do once warm (see
 * helper_child.h).  Called once by the helper's thread after warm-up and
 * before its first job, and before each job for the CPU budget.
 *
 * The seccomp filter is an allow-list (libseccomp): the calls image work
 * makes on descriptors it already holds, found by running the corpus and
 * the hostile suite under `strace -f -c` on a helper (docs/ARCHITECTURE.md,
 * "Image helpers").  Anything else kills the helper (SECCOMP_RET_KILL_PROCESS
 * = SIGSYS, signal 31): opening a file, a socket, exec, ptrace, fork.  A
 * kill costs one job (retried), never the server.
 *
 * One exception, because Pango/FreeType open the watermark's font file
 * again for every new size they render (a mark's size follows the
 * variant's), and glibc reads two /proc and /sys files lazily:
 * open/openat/access of a file in a short list, opened read-only before
 * the filter (those two, the fonts fontconfig sorts first for
 * watermark.font), trap (SIGSYS handler) instead of killing, and the
 * handler answers with a duplicate of the descriptor opened earlier (a
 * "broker" in the process, as Chromium's sandbox does).  Any other path,
 * any write flag, or a relative path: the handler logs the call and ends
 * the helper with SIGSYS.
 */
#include "imgproc/helper_child.h"

#include <errno.h>
#include <fcntl.h>
#include <fontconfig/fontconfig.h>
#include <pango/pango.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* Seconds of CPU a job may use beyond limits.timeout x threads. */
#define CPU_SLACK_S 5

static const char *const allowed[] = {
    /* descriptors already open */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "lseek",
    "fstat",
    "newfstatat",
    "statx",
    "close",
    "fcntl",
    "dup",
    "ftruncate",
    "fallocate",
    "memfd_create",
    "recvmsg",
    "sendmsg",
    "recvfrom",
    "sendto",
    "poll",
    "ppoll",
    "eventfd2",
    "pipe2",
    "fadvise64",
    /* memory */
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "brk",
    "madvise",
    "membarrier",
    /* threads (libvips' pool), time, signals */
    "futex",
    "clone",
    "clone3",
    "set_robust_list",
    "rseq",
    "set_tid_address",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "gettid",
    "getpid",
    "getppid",
    "tgkill",
    "tkill",
    "rt_sigprocmask",
    "rt_sigaction",
    "rt_sigreturn",
    "sigaltstack",
    "restart_syscall",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "getrandom",
    "getrusage",
    "prlimit64",
    "getrlimit",
    "setrlimit",
    "prctl",
    "uname",
    "sysinfo",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "exit",
    "exit_group",
};

/* ---- the read-only files the filter lets through ------------------ */

#define PREOPEN_MAX 32
#define PREOPEN_PATH_MAX 512

struct preopen {
	char path[PREOPEN_PATH_MAX];
	int fd;
};

static struct preopen preopened[PREOPEN_MAX];
static int n_preopened;

static void
preopen_add(const char *path)
{
	struct preopen *po;
	int fd;

	if (n_preopened >= PREOPEN_MAX || path[0] != '/' ||
	    strlen(path) >= PREOPEN_PATH_MAX)
		return;
	for (int i = 0; i < n_preopened; i++)
		if (strcmp(preopened[i].path, path) == 0)
			return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	po = &preopened[n_preopened++];
	util_strlcpy(po->path, path, sizeof(po->path));
	po->fd = fd;
}

/* The files fontconfig offers first for watermark.font (with its
 * fallbacks, in the order Pango would try them). */
static void
preopen_fonts(const struct config *cfg)
{
	PangoFontDescription *d;
	FcPattern *pat;
	FcFontSet *set;
	FcResult res;
	const char *family;

	if (!cfg->watermark.enabled || cfg->watermark.image[0] != '\0')
		return;
	d = pango_font_description_from_string(cfg->watermark.font);
	family = pango_font_description_get_family(d);
	pat = FcPatternCreate();
	FcPatternAddString(pat, FC_FAMILY,
			   (const FcChar8 *)(family != NULL ? family : "sans"));
	if (pango_font_description_get_weight(d) >= PANGO_WEIGHT_SEMIBOLD)
		FcPatternAddInteger(pat, FC_WEIGHT, FC_WEIGHT_BOLD);
	FcConfigSubstitute(NULL, pat, FcMatchPattern);
	FcDefaultSubstitute(pat);
	set = FcFontSort(NULL, pat, FcFalse, NULL, &res);
	for (int i = 0; set != NULL && i < set->nfont; i++) {
		FcChar8 *file = NULL;

		if (FcPatternGetString(set->fonts[i], FC_FILE, 0, &file) ==
		    FcResultMatch)
			preopen_add((const char *)file);
	}
	if (set != NULL)
		FcFontSetDestroy(set);
	FcPatternDestroy(pat);
	pango_font_description_free(d);
}

/* ---- the SIGSYS handler (async-signal-safe calls only) ----------- */

#if defined(__x86_64__)
#define ARG(uc, i)                                                             \
	((uc)->uc_mcontext.gregs[(int[]){REG_RDI, REG_RSI, REG_RDX}[i]])
#define SET_RET(uc, v) ((uc)->uc_mcontext.gregs[REG_RAX] = (greg_t)(v))
#define HAVE_BROKER 1
#elif defined(__aarch64__)
#define ARG(uc, i) ((uc)->uc_mcontext.regs[i])
#define SET_RET(uc, v) ((uc)->uc_mcontext.regs[0] = (unsigned long long)(v))
#define HAVE_BROKER 1
#else
#define HAVE_BROKER 0
#endif

#if HAVE_BROKER
static _Noreturn void
die(const char *what, const char *path)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t set;

	char msg[512] = "imgpipe helper: confinement refused ";

	/* In the log's format (a signal handler: no allocation). */
	strncat(msg, what, sizeof(msg) - strlen(msg) - 1);
	strncat(msg, " ", sizeof(msg) - strlen(msg) - 1);
	strncat(msg, path != NULL ? path : "?", sizeof(msg) - strlen(msg) - 1);
	log_signal_safe(LOG_ERROR, msg);
	sigaction(SIGSYS, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	syscall(SYS_tgkill, getpid(), gettid(), SIGSYS);
	_exit(128 + SIGSYS);
}

static int
preopen_find(const char *path)
{
	for (int i = 0; path != NULL && i < n_preopened; i++)
		if (strcmp(preopened[i].path, path) == 0)
			return i;
	return -1;
}

static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	int nr = si->si_syscall;
	const char *path = NULL;
	long flags = 0, mode = 0, dirfd = AT_FDCWD;
	bool is_open = false;
	int i, fd;

	(void)sig;
#ifdef __NR_open
	if (nr == __NR_open) {
		path = (const char *)ARG(uc, 0);
		flags = (long)ARG(uc, 1);
		is_open = true;
	}
#endif
#ifdef __NR_access
	if (nr == __NR_access) {
		path = (const char *)ARG(uc, 0);
		mode = (long)ARG(uc, 1);
	}
#endif
	if (nr == __NR_openat) {
		dirfd = (long)(int)ARG(uc, 0);
		path = (const char *)ARG(uc, 1);
		flags = (long)ARG(uc, 2);
		is_open = true;
	}
	if (nr == __NR_faccessat) {
		dirfd = (long)(int)ARG(uc, 0);
		path = (const char *)ARG(uc, 1);
		mode = (long)ARG(uc, 2);
	}
	i = preopen_find(path);
	if (i < 0 || path[0] != '/' || (flags & O_ACCMODE) != O_RDONLY ||
	    (flags & (O_CREAT | O_TRUNC | O_PATH)) != 0 ||
	    (mode & (W_OK | X_OK)) != 0)
		die(is_open ? "open" : "access", path);
	(void)dirfd; /* an absolute path ignores it */
	if (!is_open) {
		SET_RET(uc, 0);
		return;
	}
	fd = fcntl(preopened[i].fd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0)
		lseek(fd, 0, SEEK_SET);
	SET_RET(uc, fd >= 0 ? fd : -errno);
}

static int
trap_opens(scmp_filter_ctx ctx)
{
	static const char *const names[] = {"open", "openat", "access",
					    "faccessat"};
	struct sigaction sa = {.sa_sigaction = on_sigsys,
			       .sa_flags = SA_SIGINFO};
	int rc = 0;

	if (sigaction(SIGSYS, &sa, NULL) != 0)
		return -errno;
	for (size_t i = 0; rc == 0 && i < UTIL_ARRAY_LEN(names); i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);

		if (nr != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, nr, 0);
	}
	return rc;
}
#else
static int
trap_opens(scmp_filter_ctx ctx)
{
	(void)ctx;
	return 0;
}
#endif

static int
install_filter(const struct config *cfg, struct ip_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = 0;

	/* glibc reads these lazily (malloc, when a thread's heap shrinks;
	 * sysconf for the processor count): found by the imgproc suite
	 * under MALLOC_PERTURB_ through helpers. */
	preopen_add("/proc/sys/vm/overcommit_memory");
	preopen_add("/sys/devices/system/cpu/online");
	preopen_fonts(cfg);
	if (ctx == NULL)
		return ip_error_set(err, IP_EIO, "seccomp_init failed");
	if (n_preopened > 0)
		rc = trap_opens(ctx);

	if (ctx == NULL)
		return ip_error_set(err, IP_EIO, "seccomp_init failed");
	for (size_t i = 0; rc == 0 && i < UTIL_ARRAY_LEN(allowed); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	/* isatty(stderr) for the log's format: TCGETS only. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_EQ, TCGETS));
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0)
		return ip_error_set(err, IP_EIO, "seccomp: %s", strerror(-rc));
	return IP_OK;
}

int
helper_confine(const struct config *cfg, struct ip_error *err)
{
	struct rlimit none = {0, 0};

	if (cfg->helper_memory_mb > 0) {
		struct rlimit as = {
		    .rlim_cur = (rlim_t)cfg->helper_memory_mb << 20,
		    .rlim_max = (rlim_t)cfg->helper_memory_mb << 20,
		};

		if (setrlimit(RLIMIT_AS, &as) != 0)
			return ip_error_set(err, IP_EIO, "RLIMIT_AS: %s",
					    strerror(errno));
	}
	setrlimit(RLIMIT_CORE, &none);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return ip_error_set(err, IP_EIO, "no_new_privs: %s",
				    strerror(errno));
	if (!cfg->helper_seccomp)
		return IP_OK;
	return install_filter(cfg, err);
}

void
helper_cpu_budget(const struct config *cfg, int threads)
{
	struct rusage ru;
	struct rlimit cpu;

	threads = threads > 0 ? threads : 1;
	if (getrusage(RUSAGE_SELF, &ru) != 0 ||
	    getrlimit(RLIMIT_CPU, &cpu) != 0)
		return;
	cpu.rlim_cur = (rlim_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		       (rlim_t)cfg->timeout_s * (rlim_t)threads + CPU_SLACK_S;
	if (cpu.rlim_max != RLIM_INFINITY && cpu.rlim_cur > cpu.rlim_max)
		cpu.rlim_cur = cpu.rlim_max;
	setrlimit(RLIMIT_CPU, &cpu);
}
