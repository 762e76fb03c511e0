/*
 * vipsmsg.c - per-job capture of libvips' errors and decoder warnings
 * (see vipsmsg.h).  Used by the files of src/imgproc/ on the threads that
 * run jobs; the GLib handler and vips_verror below run on whatever thread
 * libvips speaks from.
 *
 * DESIGN
 *
 * Why interpose vips_verror: libvips 8.14 has no hook on its error
 * buffer.  vips_error() and vips_error_system() both call vips_verror()
 * through the PLT, so a definition in the executable takes every call;
 * ours keeps the line in the calling thread's capture, or hands it to the
 * real function (found with dlsym(RTLD_NEXT)) when the thread has none.
 * The alternative, reading the shared buffer after a failure, is what let
 * a JPEG's "Corrupt JPEG data" warning end up in the next PNG's error:
 * the buffer holds whatever any thread said since anyone last cleared it.
 *
 * libjpeg's warnings ("Corrupt JPEG data: bad Huffman code") are
 * vips_error lines; when the JPEG loader closes it logs "read gave N
 * warnings" followed by a print of the shared buffer.  The first is
 * redundant, the second may hold other threads' text: both are dropped,
 * as are libvips' "error in tile X x Y" notes.
 */
#include "imgproc/vipsmsg.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <vips/vips.h>

#include "core/util.h"

static _Thread_local struct vipsmsg *vipsmsg_tls;
/* One job at a time in this process (vipsmsg_exclusive): its capture also
 * takes what libvips' worker threads say.  lock guards every capture's
 * lines, since then more than one thread writes them. */
static bool vipsmsg_one_job;
static struct vipsmsg *vipsmsg_job;
static pthread_mutex_t vipsmsg_lock = PTHREAD_MUTEX_INITIALIZER;

/* The capture a line said on this thread belongs to, with the lock held
 * (vipsmsg_release), or NULL (nothing held). */
static struct vipsmsg *
capture_hold(void)
{
	struct vipsmsg *m = vipsmsg_tls;

	pthread_mutex_lock(&vipsmsg_lock);
	if (m == NULL && vipsmsg_one_job)
		m = vipsmsg_job;
	if (m == NULL)
		pthread_mutex_unlock(&vipsmsg_lock);
	return m;
}

static void
capture_release(void)
{
	pthread_mutex_unlock(&vipsmsg_lock);
}

typedef void (*verror_fn)(const char *, const char *, va_list);
static pthread_once_t verror_once = PTHREAD_ONCE_INIT;
static verror_fn verror_real;

static void
verror_find(void)
{
	/* POSIX allows the object-to-function pointer conversion here. */
	*(void **)&verror_real = dlsym(RTLD_NEXT, "vips_verror");
}

/* Printable ASCII on one line, no trailing blanks. */
static void
sanitise(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (const char *p = src; *p != '\0' && n + 1 < size; p++) {
		char c = *p;

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		else if (c < 0x20 || c > 0x7e)
			c = '?';
		if (c == ' ' && (n == 0 || dst[n - 1] == ' '))
			continue;
		dst[n++] = c;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* Append a sanitised line unless empty or already there. */
static void
add_line(struct vipsmsg *m, char lines[][VIPSMSG_LEN], int *n, const char *text)
{
	char line[VIPSMSG_LEN];

	sanitise(line, sizeof(line), text);
	if (line[0] == '\0')
		return;
	for (int i = 0; i < *n; i++)
		if (strcmp(lines[i], line) == 0)
			return;
	if (*n >= VIPSMSG_MAX) {
		m->dropped++;
		return;
	}
	memcpy(lines[(*n)++], line, sizeof(line));
}

/* Overrides libvips' own (see DESIGN). */
void
vips_verror(const char *domain, const char *fmt, va_list ap)
{
	struct vipsmsg *m = capture_hold();
	char text[512];
	char line[600];

	if (m == NULL) {
		pthread_once(&verror_once, verror_find);
		if (verror_real != NULL)
			verror_real(domain, fmt, ap);
		return;
	}
	vsnprintf(text, sizeof(text), fmt, ap);
	if (domain != NULL)
		snprintf(line, sizeof(line), "%s: %s", domain, text);
	else
		snprintf(line, sizeof(line), "%s", text);
	add_line(m, m->errors, &m->n_errors, line);
	capture_release();
}

static void
on_log(const gchar *domain, GLogLevelFlags level, const gchar *message,
       gpointer user)
{
	struct vipsmsg *m = capture_hold();
	long count;
	char tail;

	(void)user;
	if (m == NULL) {
		g_log_default_handler(domain, level, message, NULL);
		return;
	}
	if (m->skip_dump)
		m->skip_dump = false;
	else if (sscanf(message, "read gave %ld warnings%c", &count, &tail) ==
		 1)
		m->skip_dump = true;
	/* libvips' note of which tile failed says nothing to a user. */
	else if (strncmp(message, "error in tile ", 14) != 0)
		add_line(m, m->warnings, &m->n_warnings, message);
	capture_release();
}

void
vipsmsg_init(void)
{
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE,
			  on_log, NULL);
}

void
vipsmsg_exclusive(void)
{
	vipsmsg_one_job = true;
}

bool
vipsmsg_is_exclusive(void)
{
	return vipsmsg_one_job;
}

void
vipsmsg_begin(struct vipsmsg *m)
{
	memset(m, 0, sizeof(*m));
	m->prev = vipsmsg_tls;
	vipsmsg_tls = m;
	if (!vipsmsg_one_job)
		return;
	pthread_mutex_lock(&vipsmsg_lock);
	if (vipsmsg_job == NULL)
		vipsmsg_job = m;
	pthread_mutex_unlock(&vipsmsg_lock);
}

void
vipsmsg_end(struct vipsmsg *m)
{
	if (vipsmsg_tls == m)
		vipsmsg_tls = m->prev;
	if (!vipsmsg_one_job)
		return;
	pthread_mutex_lock(&vipsmsg_lock);
	if (vipsmsg_job == m)
		vipsmsg_job = NULL;
	pthread_mutex_unlock(&vipsmsg_lock);
}

bool
vipsmsg_active(void)
{
	return vipsmsg_tls != NULL;
}

static void
join(char *buf, size_t size, size_t *n, const char *line)
{
	int w;

	if (*n + 1 >= size)
		return;
	w = snprintf(buf + *n, size - *n, "%s%s", *n > 0 ? "; " : "", line);
	if (w > 0)
		*n += (size_t)w < size - *n ? (size_t)w : size - *n - 1;
}

void
vipsmsg_take(char *buf, size_t size)
{
	struct vipsmsg *m = vipsmsg_tls;
	size_t n = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (m == NULL) {
		sanitise(buf, size, vips_error_buffer());
		vips_error_clear();
		return;
	}
	pthread_mutex_lock(&vipsmsg_lock);
	for (int i = 0; i < m->n_errors; i++)
		join(buf, size, &n, m->errors[i]);
	for (int i = 0; i < m->n_warnings; i++)
		join(buf, size, &n, m->warnings[i]);
	m->n_errors = 0;
	pthread_mutex_unlock(&vipsmsg_lock);
}

void
vipsmsg_clear(void)
{
	if (vipsmsg_tls != NULL) {
		pthread_mutex_lock(&vipsmsg_lock);
		vipsmsg_tls->n_errors = 0;
		pthread_mutex_unlock(&vipsmsg_lock);
	} else
		vips_error_clear();
}

void
vipsmsg_errors_to_warnings(struct vipsmsg *m)
{
	pthread_mutex_lock(&vipsmsg_lock);
	for (int i = 0; i < m->n_errors; i++)
		add_line(m, m->warnings, &m->n_warnings, m->errors[i]);
	m->n_errors = 0;
	pthread_mutex_unlock(&vipsmsg_lock);
}
