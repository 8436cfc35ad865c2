/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Accept every packet of one queue, with the nfq module's settings and
 * nothing else: the userspace verdict ceiling the daemon is measured
 * against, and the consumer of the end-to-end queue tests.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctguard/nfq.h"

#define BURST 64

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: nfq_acceptall -q QUEUE [-n PACKETS] [-t SECONDS]\n"
	    "           [--copy-range N] [--maxlen N] [--rcvbuf BYTES]\n"
	    "           [--no-gso] [--fail-open]\n"
	    "Accepts every packet of QUEUE until PACKETS were seen, SECONDS\n"
	    "passed, or SIGINT/SIGTERM; then prints\n"
	    "\"packets=N enobufs=N id_gaps=N\".\n");
}

static int
number(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v > max) {
		fprintf(stderr, "nfq_acceptall: %s: bad value \"%s\" "
		    "(0..%lu)\n", opt, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

static void
accept_cb(void *arg, const struct ctg_nfq_pkt *pkt)
{
	ctg_nfq_verdict(arg, pkt->id, CTG_NFQ_ACCEPT);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "copy-range", required_argument, NULL, 'c' },
		{ "maxlen", required_argument, NULL, 'm' },
		{ "rcvbuf", required_argument, NULL, 'r' },
		{ "no-gso", no_argument, NULL, 'G' },
		{ "fail-open", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctg_nfq_config cfg = {
		.copy_range = 128, .maxlen = 4096, .rcvbuf = 8u << 20,
		.gso = true, .fail_open = false,
	};
	struct ctg_nfq_stats st;
	struct sigaction sa;
	struct timespec t0, now;
	struct ctg_nfq *q;
	unsigned long v, limit = 0, seconds = 0;
	uint64_t total = 0;
	bool have_queue = false, forced;
	char err[256];
	int c, n, rc = 0;

	while ((c = getopt_long(argc, argv, "q:n:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (number("-q", optarg, UINT16_MAX, &v) == -1)
				return 2;
			cfg.queue = (uint16_t)v;
			have_queue = true;
			break;
		case 'n':
			if (number("-n", optarg, ULONG_MAX, &limit) == -1)
				return 2;
			break;
		case 't':
			if (number("-t", optarg, 86400 * 365, &seconds) == -1)
				return 2;
			break;
		case 'c':
			if (number("--copy-range", optarg, 65531, &v) == -1)
				return 2;
			cfg.copy_range = (uint32_t)v;
			break;
		case 'm':
			if (number("--maxlen", optarg, 1u << 20, &v) == -1)
				return 2;
			cfg.maxlen = (uint32_t)v;
			break;
		case 'r':
			if (number("--rcvbuf", optarg, INT_MAX / 2, &v) == -1)
				return 2;
			cfg.rcvbuf = (uint32_t)v;
			break;
		case 'G':
			cfg.gso = false;
			break;
		case 'o':
			cfg.fail_open = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!have_queue || optind != argc) {
		usage(stderr);
		return 2;
	}

	/* no SA_RESTART: a signal must wake the blocking receive */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	q = ctg_nfq_open(&cfg, err, sizeof(err));
	if (q == NULL) {
		fprintf(stderr, "nfq_acceptall: %s\n", err);
		return 1;
	}
	if (ctg_nfq_refused(q)[0] != '\0')
		fprintf(stderr, "nfq_acceptall: kernel refused flags: %s\n",
		    ctg_nfq_refused(q));
	v = ctg_nfq_rcvbuf(q, &forced);
	if (cfg.rcvbuf != 0 && v < cfg.rcvbuf)
		fprintf(stderr, "nfq_acceptall: receive buffer %lu bytes, "
		    "asked for %" PRIu32 "\n", v, cfg.rcvbuf);
	fprintf(stderr, "nfq_acceptall: queue %u bound\n", cfg.queue);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop && (limit == 0 || total < limit)) {
		if (seconds != 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((unsigned long)(now.tv_sec - t0.tv_sec) >= seconds)
				break;
		}
		n = ctg_nfq_receive(q, 200, BURST, accept_cb, q);
		if (n == -1) {
			fprintf(stderr, "nfq_acceptall: receive: %s\n",
			    strerror(errno));
			rc = 1;
			break;
		}
		total += (uint64_t)n;
	}
	if (ctg_nfq_flush(q) == -1) {
		fprintf(stderr, "nfq_acceptall: verdict: %s\n", strerror(errno));
		rc = 1;
	}
	ctg_nfq_stats(q, &st);
	printf("packets=%" PRIu64 " enobufs=%" PRIu64 " id_gaps=%" PRIu64
	    "\n", st.packets, st.enobufs, st.id_gaps);
	fflush(stdout);
	ctg_nfq_close(q);
	return rc;
}
