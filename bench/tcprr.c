/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small TCP load generator for the end-to-end benchmark (issue 8).
 *
 *   tcprr server PORT
 *       echo server (epoll, one thread): every byte read is written back.
 *   tcprr crr HOST PORT SECONDS [CONCURRENCY] [WARMUP]
 *       connection rate: CONCURRENCY clients each loop connect, send a
 *       64-byte request, read the 64-byte reply, close. Prints
 *       "crr_per_s=N completed=N failed=N".
 *   tcprr rr HOST PORT SECONDS [WARMUP]
 *       latency: 64-byte ping-pong over one TCP_NODELAY connection. Prints
 *       "rr_p50_us=X rr_p99_us=X rr_p999_us=X rr_n=N".
 *
 * Only the SECONDS after WARMUP (default 1) count.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAXEV 256

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "tcprr: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int
run_server(int port)
{
	struct sockaddr_in6 sa;
	struct epoll_event ev, evs[MAXEV];
	int one = 1, lfd, ep;
	char buf[65536];

	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons((uint16_t)port);
	sa.sin6_addr = in6addr_any;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(lfd, 4096) < 0)
		die("listen");
	nonblock(lfd);
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, MAXEV, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0) {
					/* replies are small: the send buffer takes them whole */
					if (write(fd, buf, (size_t)r) != r) {
						close(fd);
						break;
					}
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				close(fd);      /* EOF or error; close removes it from epoll */
				break;
			}
		}
	}
	return 0;
}

static struct sockaddr_storage peer;
static socklen_t peer_len;

static void
resolve(const char *host, int port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&peer;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&peer;

	memset(&peer, 0, sizeof(peer));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		peer_len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		peer_len = sizeof(*s6);
	} else {
		fprintf(stderr, "tcprr: bad address %s\n", host);
		exit(2);
	}
}

struct cli {
	int fd;
	int got;
	double start;
};

static void
cli_start(int ep, struct cli *c)
{
	struct epoll_event ev;

	c->fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket");
	c->got = -1;            /* connecting */
	c->start = now_s();
	if (connect(c->fd, (struct sockaddr *)&peer, peer_len) < 0 &&
	    errno != EINPROGRESS)
		die("connect");
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static int
run_crr(double secs, int conc, double warm)
{
	struct epoll_event ev, evs[MAXEV];
	struct cli *cs = calloc((size_t)conc, sizeof(*cs));
	unsigned long done = 0, failed = 0, stalled = 0;
	double t0 = now_s(), tw = t0 + warm, tend = tw + secs, tlast = t0;
	char req[MSG], buf[MSG];
	int ep = epoll_create1(0);

	if (cs == NULL || ep < 0)
		die("crr setup");
	memset(req, 'q', sizeof(req));
	for (int i = 0; i < conc; i++)
		cli_start(ep, &cs[i]);
	for (;;) {
		double t = now_s();
		int n;

		if (t >= tend)
			break;
		n = epoll_wait(ep, evs, MAXEV, 100);
		t = now_s();
		for (int i = 0; i < n; i++) {
			struct cli *c = evs[i].data.ptr;
			bool finish = false, fail = false;

			if (c->got < 0) {
				int err = 0;
				socklen_t el = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0 || write(c->fd, req, MSG) != MSG) {
					fail = true;
				} else {
					c->got = 0;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			} else {
				ssize_t r = read(c->fd, buf, sizeof(buf));

				if (r > 0) {
					c->got += (int)r;
					finish = c->got >= MSG;
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					fail = true;
				}
			}
			if (finish || fail) {
				close(c->fd);
				if (t >= tw && t < tend) {
					if (finish)
						done++;
					else
						failed++;
				}
				cli_start(ep, c);
			}
		}
		/* a lost SYN waits 1 s for its retransmission: count, do not hide */
		if (t - tlast > 0.1) {
			for (int i = 0; i < conc; i++)
				if (t - cs[i].start > 3.0) {
					stalled++;
					close(cs[i].fd);
					cli_start(ep, &cs[i]);
				}
			tlast = t;
		}
	}
	printf("crr_per_s=%.0f completed=%lu failed=%lu stalled=%lu\n",
	    (double)done / secs, done, failed, stalled);
	fflush(stdout);
	for (int i = 0; i < conc; i++)
		close(cs[i].fd);
	close(ep);
	free(cs);
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
run_rr(double secs, double warm)
{
	size_t cap = 4u << 20, n = 0;
	uint32_t *lat = malloc(cap * sizeof(*lat));
	char msg[MSG];
	int one = 1, fd;
	double t0, tw, tend;

	if (lat == NULL)
		die("malloc");
	fd = socket(peer.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&peer, peer_len) < 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(msg, 'p', sizeof(msg));
	t0 = now_s();
	tw = t0 + warm;
	tend = tw + secs;
	for (;;) {
		double a = now_s(), b;
		int got = 0;

		if (a >= tend || n == cap)
			break;
		if (write(fd, msg, MSG) != MSG)
			die("write");
		while (got < MSG) {
			ssize_t r = read(fd, msg, (size_t)(MSG - got));

			if (r <= 0)
				die("read");
			got += (int)r;
		}
		b = now_s();
		if (a >= tw)
			lat[n++] = (uint32_t)((b - a) * 1e9);
	}
	close(fd);
	if (n == 0) {
		fprintf(stderr, "tcprr: no round trips\n");
		free(lat);
		return 1;
	}
	qsort(lat, n, sizeof(*lat), cmp_u32);
	printf("rr_p50_us=%.1f rr_p99_us=%.1f rr_p999_us=%.1f rr_n=%zu\n",
	    lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, lat[n * 999 / 1000] / 1e3, n);
	fflush(stdout);
	free(lat);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && strcmp(argv[1], "server") == 0)
		return run_server(atoi(argv[2]));
	if (argc >= 5 && strcmp(argv[1], "crr") == 0) {
		resolve(argv[2], atoi(argv[3]));
		return run_crr(atof(argv[4]), argc > 5 ? atoi(argv[5]) : 32,
		    argc > 6 ? atof(argv[6]) : 1.0);
	}
	if (argc >= 5 && strcmp(argv[1], "rr") == 0) {
		resolve(argv[2], atoi(argv[3]));
		return run_rr(atof(argv[4]), argc > 5 ? atof(argv[5]) : 1.0);
	}
	fprintf(stderr, "usage: tcprr server PORT | crr HOST PORT SECONDS "
	    "[CONCURRENCY] [WARMUP] | rr HOST PORT SECONDS [WARMUP]\n");
	return 2;
}
