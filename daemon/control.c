/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Framing for the control socket. Every read and write is bounded in size
 * and in time, so a slow or malicious client cannot stall the daemon.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/clock.h"
#include "ctguard/control.h"

static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return n < 0 ? -1 : 0;
}

/*
 * timeout_ms bounds the whole transfer, not each wait: a peer trickling
 * one byte at a time must not hold the caller for longer.
 */
static int
io_all(int fd, void *buf, size_t len, int timeout_ms, int writing)
{
	uint8_t *b = buf;
	int64_t deadline = (int64_t)ctg_clock_mono_ms() + timeout_ms;

	while (len > 0) {
		ssize_t n;
		int64_t left = deadline - (int64_t)ctg_clock_mono_ms();

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (wait_fd(fd, writing ? POLLOUT : POLLIN, (int)left) < 0)
			return -1;
		n = writing ? send(fd, b, len, MSG_NOSIGNAL) : recv(fd, b, len, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ctg_ctl_send(int fd, const void *buf, uint32_t len, int timeout_ms)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len };

	if (io_all(fd, hdr, 4, timeout_ms, 1) < 0)
		return -1;
	return io_all(fd, (void *)(uintptr_t)buf, len, timeout_ms, 1);
}

long
ctg_ctl_recv(int fd, char *buf, uint32_t max, int timeout_ms)
{
	uint8_t hdr[4];
	uint32_t len;

	if (io_all(fd, hdr, 4, timeout_ms, 0) < 0)
		return -1;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > max) {
		errno = EMSGSIZE;
		return -1;
	}
	if (io_all(fd, buf, len, timeout_ms, 0) < 0)
		return -1;
	buf[len] = '\0';
	return (long)len;
}

int
ctg_ctl_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
