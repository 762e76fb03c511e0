/*
 * vipsutil.c - libvips error and time-limit glue (see vipsutil.h).
 *
 * Why "eval" + kill: libvips computes lazily in a thread pool and reports
 * progress through the "eval" signal of the images it evaluates (and of
 * the images upstream that asked for progress).  Setting the kill flag from
 * that callback makes the running sink stop at its next tile and return an
 * error, which is the only way to abandon a long decode or resize without
 * leaving a thread busy.
 */
#include "imgproc/vipsutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

struct fd_reader {
	int fd;
	gint64 pos;
	gint64 size;
};

static gint64
fd_read(VipsSourceCustom *src, void *buf, gint64 len, void *user)
{
	struct fd_reader *r = user;
	ssize_t n;

	(void)src;
	if (len <= 0 || r->pos >= r->size)
		return 0;
	do
		n = pread(r->fd, buf, (size_t)len, (off_t)r->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	r->pos += n;
	return n;
}

static gint64
fd_seek(VipsSourceCustom *src, gint64 offset, int whence, void *user)
{
	struct fd_reader *r = user;
	gint64 to;

	(void)src;
	switch (whence) {
	case SEEK_SET:
		to = offset;
		break;
	case SEEK_CUR:
		to = r->pos + offset;
		break;
	case SEEK_END:
		to = r->size + offset;
		break;
	default:
		return -1;
	}
	if (to < 0 || to > r->size)
		return -1;
	r->pos = to;
	return to;
}

static void
fd_reader_free(void *data, GClosure *closure)
{
	(void)closure;
	g_free(data);
}

VipsSource *
vipsutil_source_fd(int fd)
{
	VipsSourceCustom *src;
	struct fd_reader *r;
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		vips_error("imgpipe", "not a regular file");
		return NULL;
	}
	src = vips_source_custom_new();
	if (src == NULL)
		return NULL;
	r = g_new0(struct fd_reader, 1);
	r->fd = fd;
	r->size = st.st_size;
	/* r lives as long as the handler, i.e. as long as the source. */
	g_signal_connect_data(src, "read", G_CALLBACK(fd_read), r,
			      fd_reader_free, 0);
	g_signal_connect(src, "seek", G_CALLBACK(fd_seek), r);
	return VIPS_SOURCE(src);
}

int
vipsutil_error(struct ip_error *err, int code, const char *what)
{
	char msg[IP_ERROR_MSG_MAX];
	const char *buf = vips_error_buffer();
	size_t n = 0;

	/* libvips messages are "domain: text\n" lines; keep them on one line
	 * and drop the trailing newline. */
	for (const char *p = buf;
	     p != NULL && *p != '\0' && n + 1 < sizeof(msg); p++) {
		if (*p == '\n') {
			if (p[1] == '\0')
				break;
			if (n + 3 >= sizeof(msg))
				break;
			msg[n++] = ';';
			msg[n++] = ' ';
			continue;
		}
		msg[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	}
	msg[n] = '\0';
	vips_error_clear();
	if (n == 0)
		return ip_error_set(err, code, "%s", what);
	return ip_error_set(err, code, "%s: %s", what, msg);
}

static void
deadline_on_eval(VipsImage *image, VipsProgress *progress, void *user)
{
	struct vipsutil_deadline *d = user;

	(void)progress;
	if (vipsutil_deadline_over(d))
		vips_image_set_kill(image, TRUE);
}

void
vipsutil_deadline_init(struct vipsutil_deadline *d, int timeout_s)
{
	d->timeout_s = timeout_s;
	d->end_ms =
	    timeout_s > 0 ? util_mono_ms() + (int64_t)timeout_s * 1000 : 0;
	atomic_init(&d->expired, false);
}

void
vipsutil_deadline_attach(struct vipsutil_deadline *d, VipsImage *image)
{
	if (d == NULL || d->end_ms == 0)
		return;
	vips_image_set_progress(image, TRUE);
	g_signal_connect(image, "eval", G_CALLBACK(deadline_on_eval), d);
}

void
vipsutil_deadline_detach(struct vipsutil_deadline *d, VipsImage *image)
{
	if (d == NULL || image == NULL || d->end_ms == 0)
		return;
	g_signal_handlers_disconnect_by_data(image, d);
}

bool
vipsutil_deadline_over(struct vipsutil_deadline *d)
{
	if (d == NULL || d->end_ms == 0)
		return false;
	if (atomic_load(&d->expired))
		return true;
	if (util_mono_ms() < d->end_ms)
		return false;
	atomic_store(&d->expired, true);
	return true;
}

int
vipsutil_deadline_error(struct vipsutil_deadline *d, struct ip_error *err)
{
	vips_error_clear();
	return ip_error_set(err, IP_ETIMEOUT,
			    "image processing took longer than the limit of "
			    "%d s (limits.timeout) and was cancelled",
			    d->timeout_s);
}

/* See vipsutil.h. */
void
vipsutil_place(enum gravity g, int w, int h, int mw, int mh, int margin, int *x,
	       int *y)
{
	int left = margin;
	int centre_x = (w - mw) / 2;
	int right = w - mw - margin;
	int top = margin;
	int centre_y = (h - mh) / 2;
	int bottom = h - mh - margin;

	switch (g) {
	case GRAVITY_NORTH:
		*x = centre_x, *y = top;
		break;
	case GRAVITY_SOUTH:
		*x = centre_x, *y = bottom;
		break;
	case GRAVITY_EAST:
		*x = right, *y = centre_y;
		break;
	case GRAVITY_WEST:
		*x = left, *y = centre_y;
		break;
	case GRAVITY_NORTH_EAST:
		*x = right, *y = top;
		break;
	case GRAVITY_NORTH_WEST:
		*x = left, *y = top;
		break;
	case GRAVITY_SOUTH_EAST:
		*x = right, *y = bottom;
		break;
	case GRAVITY_SOUTH_WEST:
		*x = left, *y = bottom;
		break;
	case GRAVITY_CENTRE:
	case GRAVITY_ATTENTION:
	default:
		*x = centre_x, *y = centre_y;
		break;
	}
}
