/*
 * helper_proto.c - framing between the host and an image helper (see
 * helper_proto.h).  Used by worker threads on the host (one helper per
 * thread at a time) and by the helper's single thread.
 */
#include "imgproc/helper_proto.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

/* Wait until sock is readable or the deadline passes. */
static int
wait_readable(int sock, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = {.fd = sock, .events = POLLIN};
		int64_t left = -1;
		int r;

		if (deadline_ms > 0) {
			left = deadline_ms - util_mono_ms();
			if (left <= 0)
				return -ETIMEDOUT;
		}
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int
helper_send(int sock, uint32_t type, const void *body, size_t len, int fd)
{
	struct helper_hdr h = {.type = type, .len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	const char *p = body;
	ssize_t r;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if ((size_t)r < sizeof(h) &&
	    util_write_all(sock, (const char *)&h + r, sizeof(h) - (size_t)r))
		return -EPIPE;
	while (len > 0) {
		r = send(sock, p, len, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int
helper_recv_body(int sock, void *buf, size_t len, int64_t deadline_ms)
{
	char *p = buf;

	while (len > 0) {
		int rc = wait_readable(sock, deadline_ms);
		ssize_t r;

		if (rc != 0)
			return rc;
		r = recv(sock, p, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int
helper_recv_hdr(int sock, struct helper_hdr *h, int *fd, int64_t deadline_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = h, .iov_len = sizeof(*h)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	ssize_t r;
	int rc;

	if (fd != NULL)
		*fd = -1;
	rc = wait_readable(sock, deadline_ms);
	if (rc != 0)
		return rc;
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EPIPE;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		int got;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(&got, CMSG_DATA(c), sizeof(int));
		if (fd != NULL && *fd < 0)
			*fd = got;
		else
			close(got);
	}
	if ((size_t)r < sizeof(*h))
		return helper_recv_body(sock, (char *)h + r,
					sizeof(*h) - (size_t)r, deadline_ms);
	return 0;
}
