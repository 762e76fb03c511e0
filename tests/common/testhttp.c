/*
 * testhttp.c - see testhttp.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testhttp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

size_t
test_reply_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct test_reply *r = arg;
	size_t len = size * n;
	char *grown = realloc(r->body, r->len + len + 1);

	assert_non_null(grown);
	r->body = grown;
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

size_t
test_reply_on_header(char *p, size_t size, size_t n, void *arg)
{
	struct test_reply *r = arg;
	size_t len = size * n;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		r->head_len = 0; /* a new block (after 100 Continue) */
	if (r->head_len + len < sizeof(r->head)) {
		memcpy(r->head + r->head_len, p, len);
		r->head_len += len;
		r->head[r->head_len] = '\0';
	}
	return len;
}

void
test_reply_add_header(struct test_reply *r, const char *name, const char *value)
{
	int n = snprintf(r->head + r->head_len, sizeof(r->head) - r->head_len,
			 "%s: %s\r\n", name, value);

	assert_true(n > 0 && (size_t)n < sizeof(r->head) - r->head_len);
	r->head_len += (size_t)n;
}

const char *
test_reply_header(const struct test_reply *r, const char *name)
{
	static char value[1024];
	const char *p = r->head;
	size_t n = strlen(name);

	for (;;) {
		const char *eol = strstr(p, "\r\n");

		if (eol == NULL)
			return NULL;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;

			while (*v == ' ')
				v++;
			snprintf(value, sizeof(value), "%.*s", (int)(eol - v),
				 v);
			return value;
		}
		p = eol + 2;
	}
}

void
test_reply_free(struct test_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

json_t *
test_reply_json(const struct test_reply *r)
{
	json_error_t je;
	json_t *j = json_loadb(r->body, r->len, 0, &je);

	if (j == NULL)
		fail_msg("not JSON: %.200s", r->body ? r->body : "(empty)");
	return j;
}

void
test_read_corpus(const char *name, char **data, size_t *len)
{
	const char *dir = getenv("IMGPIPE_CORPUS");
	char path[1024];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s",
		 dir != NULL ? dir : "../shared/corpus", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	*data = malloc(*len);
	assert_non_null(*data);
	assert_int_equal(read(fd, *data, *len), (ssize_t)*len);
	close(fd);
}
