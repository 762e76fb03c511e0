/*
 * vipsutil.c - libvips error and time-limit glue (see vipsutil.h).
 *
 * The job's own decode is pulled on the job's thread (vipsutil_pull), so
 * what the decoder says reaches that job's capture (vipsmsg.h).
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
#include "imgproc/vipsmsg.h"

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

	vipsmsg_take(msg, sizeof(msg));
	if (msg[0] == '\0')
		return ip_error_set(err, code, "%s", what);
	return ip_error_set(err, code, "%s: %s", what, msg);
}

/* Header fields libvips keeps in the image struct, not as metadata. */
static const char *const pull_builtin[] = {
    "width",   "height",  "bands", "format", "coding",	"interpretation",
    "xoffset", "yoffset", "xres",  "yres",   "filename"};

static void *
pull_copy_meta(VipsImage *in, const char *name, GValue *value, void *out)
{
	(void)in;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(pull_builtin); i++)
		if (strcmp(name, pull_builtin[i]) == 0)
			return NULL;
	vips_image_set(out, name, value);
	return NULL;
}

static void
pull_free(VipsImage *image, void *buf)
{
	(void)image;
	g_free(buf);
}

/* Not vips_image_copy_memory's way (a "t" image written from a linked
 * pipeline): that keeps links to the upstream images, which libvips only
 * breaks with private calls.  A plain buffer wrapped afterwards has no
 * link to the decoder at all. */
VipsImage *
vipsutil_pull(VipsImage *in, struct vipsutil_deadline *d)
{
	size_t line = VIPS_IMAGE_SIZEOF_LINE(in);
	size_t size = VIPS_IMAGE_SIZEOF_IMAGE(in);
	VipsRegion *reg = vips_region_new(in);
	VipsImage *out = NULL;
	VipsPel *buf = g_try_malloc(size > 0 ? size : 1);
	int tw, th, rows;

	if (reg == NULL || buf == NULL) {
		vips_error("imgpipe", "out of memory for %zu bytes", size);
		goto fail;
	}
	vips_get_tile_size(in, &tw, &th, &rows);
	if (rows < 1)
		rows = 16;
	for (int y = 0; y < in->Ysize; y += rows) {
		VipsRect r = {0, y, in->Xsize,
			      rows < in->Ysize - y ? rows : in->Ysize - y};

		if (vipsutil_deadline_over(d) || vips_region_prepare(reg, &r))
			goto fail;
		for (int i = 0; i < r.height; i++)
			memcpy(buf + line * (size_t)(y + i),
			       VIPS_REGION_ADDR(reg, 0, y + i), line);
	}
	out = vips_image_new_from_memory(buf, size, in->Xsize, in->Ysize,
					 in->Bands, in->BandFmt);
	if (out == NULL)
		goto fail;
	g_signal_connect(out, "postclose", G_CALLBACK(pull_free), buf);
	buf = NULL;
	out->Type = in->Type;
	out->Coding = in->Coding;
	out->Xres = in->Xres;
	out->Yres = in->Yres;
	out->Xoffset = in->Xoffset;
	out->Yoffset = in->Yoffset;
	vips_image_map(in, pull_copy_meta, out);
fail:
	g_free(buf);
	VIPSUTIL_UNREF(reg);
	return out;
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
	vipsmsg_clear();
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
