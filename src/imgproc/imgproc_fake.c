/*
 * imgproc_fake.c - the fake image processor of imgproc_fake.h: reads the
 * input, hashes it, and writes small deterministic "variants" without
 * decoding anything.  Used by tests (tests/tsan, any plumbing test) on
 * any thread; its only shared state is an atomic counter.
 */
#include "imgproc/imgproc_fake.h"
#include "core/buf.h"
#include "core/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_INPUT_MAX (1024 * 1024)

struct imgproc_fake {
	struct imgproc base; /* first: the interface */
	_Atomic int64_t calls;
};

static struct imgproc_fake *
imgproc_fake_cast(struct imgproc *p)
{
	return (struct imgproc_fake *)p;
}

/* FNV-1a: cheap, deterministic, good enough to tell inputs apart. */
static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *b = data;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Read the whole input (bounded) into a malloc'd buffer. */
static int
read_all(int fd, char **out, size_t *len, struct ip_error *err)
{
	struct buf b;
	char chunk[4096];
	int rc = IP_OK;

	buf_init(&b, FAKE_INPUT_MAX, "fake: input");
	for (;;) {
		ssize_t r = pread(fd, chunk, sizeof(chunk), (off_t)b.len);

		if (r < 0) {
			rc = ip_error_set(err, IP_EIO, "fake: read: %s",
					  strerror(errno));
			break;
		}
		if (r == 0)
			break;
		rc = buf_add(&b, chunk, (size_t)r, err);
		if (rc != IP_OK)
			break;
	}
	if (rc != IP_OK) {
		buf_free(&b);
		return rc;
	}
	*out = buf_steal(&b, len);
	if (*out == NULL)
		*out = calloc(1, 1); /* empty input: "" */
	return *out != NULL ? IP_OK : ip_error_set(err, IP_ENOMEM, "oom");
}

static void
fake_info(struct image_info *info)
{
	memset(info, 0, sizeof(*info));
	util_strlcpy(info->format, "jpeg", sizeof(info->format));
	util_strlcpy(info->content_type, "image/jpeg",
		     sizeof(info->content_type));
	info->width = info->display_width = 100;
	info->height = info->display_height = 80;
	info->orientation = 1;
	info->pages = 1;
	util_strlcpy(info->colourspace, "srgb", sizeof(info->colourspace));
}

static int
fake_probe(struct imgproc *p, int fd, struct image_info *out,
	   struct ip_error *err)
{
	char *data;
	size_t len;
	int rc = read_all(fd, &data, &len, err);

	(void)p;
	if (rc != IP_OK)
		return rc;
	free(data);
	fake_info(out);
	return IP_OK;
}

static int
fake_variant(const struct variant_spec *s, uint64_t h,
	     struct imgproc_variant *v, struct ip_error *err)
{
	char text[128];
	int n = snprintf(text, sizeof(text), "fake %s %dx%d %016llx\n", s->name,
			 s->width, s->height, (unsigned long long)h);
	uint64_t vh = fnv1a(h, text, (size_t)n);

	memset(v, 0, sizeof(*v));
	util_strlcpy(v->name, s->name, sizeof(v->name));
	v->format = s->format == FORMAT_AUTO ? FORMAT_JPEG : s->format;
	v->width = s->width;
	v->height = s->height;
	v->data = malloc((size_t)n);
	if (v->data == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	memcpy(v->data, text, (size_t)n);
	v->len = (size_t)n;
	for (int i = 0; i < 4; i++)
		snprintf(v->sha256 + 16 * i, 17, "%016llx",
			 (unsigned long long)(vh + (uint64_t)i));
	return IP_OK;
}

static int
fake_process(struct imgproc *p, int fd, const struct variant_spec *specs,
	     size_t n_specs, struct imgproc_result *out, struct ip_error *err)
{
	struct imgproc_fake *f = imgproc_fake_cast(p);
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned long spin = 0;
	char *data = NULL;
	size_t len;
	int rc;

	atomic_fetch_add(&f->calls, 1);
	memset(out, 0, sizeof(*out));
	rc = read_all(fd, &data, &len, err);
	if (rc != IP_OK)
		return rc;
	if (strncmp(data, "FAIL", 4) == 0) {
		rc = ip_error_set(err, IP_EUNPROCESSABLE,
				  "fake: the input asked to fail");
		goto out;
	}
	if (sscanf(data, "SPIN %lu", &spin) != 1)
		spin = 0;
	h = fnv1a(h, data, len);
	for (unsigned long i = 0; i < spin; i++)
		h = fnv1a(h, &i, sizeof(i));
	fake_info(&out->info);
	for (size_t i = 0; i < n_specs && i < RECORD_VARIANTS_MAX; i++) {
		rc = fake_variant(&specs[i], h, &out->variants[i], err);
		if (rc != IP_OK)
			goto out;
		out->n++;
	}
	snprintf(out->dominant, sizeof(out->dominant), "#%06llx",
		 (unsigned long long)(h & 0xffffff));
out:
	if (rc != IP_OK)
		imgproc_result_clear(out);
	free(data);
	return rc;
}

static void
fake_close(struct imgproc *p)
{
	free(imgproc_fake_cast(p));
}

static const struct imgproc_ops fake_ops = {
    .name = "fake",
    .close = fake_close,
    .probe = fake_probe,
    .process = fake_process,
};

int
imgproc_fake_open(struct imgproc **out, struct ip_error *err)
{
	struct imgproc_fake *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return ip_error_set(err, IP_ENOMEM, "out of memory");
	f->base.ops = &fake_ops;
	atomic_init(&f->calls, 0);
	*out = &f->base;
	return IP_OK;
}

int64_t
imgproc_fake_calls(struct imgproc *p)
{
	return atomic_load(&imgproc_fake_cast(p)->calls);
}
