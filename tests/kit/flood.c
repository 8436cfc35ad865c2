/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded, paced flood of spoofed TCP segments for the end-to-end flood
 * test (tests/e2e/e2e_flood.sh): bare ACKs (which a loose tracker picks up
 * midstream) or SYNs, from random addresses of a source prefix and random
 * ports, to one destination port. Scapy sends a few hundred packets a
 * second; this sends tens of thousands through one raw socket.
 *
 * Both a packet count and a time limit bound every run, and the pace is
 * held against the clock (not by sleeping a fixed time per packet), so a
 * descheduled sender catches up in bursts of at most CATCHUP_TICKS ticks'
 * worth instead of drifting below the asked rate.
 *
 * usage: flood -m ack|syn -d DST -p PORT -s SRC/PREFIX -r PPS -n COUNT -t SECONDS [-S SEED]
 * Output, one line: "flood MODE sent N errors E seconds S pps P".
 * Exit 0 when every packet was sent, 1 on a send error or a short run, 2 on usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/bytes.h"

#define TICK_NS 1000000L        /* the pace is checked every millisecond */
#define CATCHUP_TICKS 10
#define MAX_PPS 1000000UL
#define MAX_SECONDS 600

static uint64_t rng;

/* xorshift64*: reproducible from -S, no libc state */
static uint32_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 2685821657736338717ULL) >> 32);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint16_t
csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/*
 * One IPv4 + TCP segment, no options, no payload. The SYN carries an MSS
 * option as every real stack's does, so it is not a scan the decoder
 * would call malformed.
 */
static size_t
build(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, int syn)
{
	size_t thl = syn ? 24 : 20, len = 20 + thl;
	uint8_t ph[12];

	memset(b, 0, len);
	b[0] = 0x45;
	ctg_put16(b + 2, (uint16_t)len);
	ctg_put16(b + 4, (uint16_t)rnd());
	b[6] = 0x40;                    /* DF */
	b[8] = 64;
	b[9] = IPPROTO_TCP;
	ctg_put32(b + 12, src);
	ctg_put32(b + 16, dst);
	ctg_put16(b + 10, csum_fold(csum_add(0, b, 20)));

	uint8_t *t = b + 20;
	ctg_put16(t, sport);
	ctg_put16(t + 2, dport);
	ctg_put32(t + 4, rnd());
	ctg_put32(t + 8, syn ? 0 : rnd());
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = syn ? 0x02 : 0x10;
	ctg_put16(t + 14, 64240);
	if (syn) {
		t[20] = 2;
		t[21] = 4;
		ctg_put16(t + 22, 1460);
	}
	memcpy(ph, b + 12, 8);
	ph[8] = 0;
	ph[9] = IPPROTO_TCP;
	ctg_put16(ph + 10, (uint16_t)thl);
	ctg_put16(t + 16, csum_fold(csum_add(csum_add(0, ph, 12), t, thl)));
	return len;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: flood -m ack|syn -d DST -p PORT -s SRC/PREFIX -r PPS -n COUNT "
	    "-t SECONDS [-S SEED]\n");
}

static int
parse_ul(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long port = 0, pps = 0, count = 0, secs = 0, seed = 1, plen = 32;
	struct in_addr dst = { 0 }, src = { 0 };
	int syn = -1, opt;
	char *slash;

	while ((opt = getopt(argc, argv, "m:d:p:s:r:n:t:S:h")) != -1) {
		switch (opt) {
		case 'm':
			syn = strcmp(optarg, "syn") == 0 ? 1 : strcmp(optarg, "ack") == 0 ? 0 : -2;
			break;
		case 'd':
			if (inet_pton(AF_INET, optarg, &dst) != 1)
				syn = -2;
			break;
		case 'p':
			if (parse_ul(optarg, 1, 65535, &port) < 0)
				syn = -2;
			break;
		case 's':
			slash = strchr(optarg, '/');
			if (slash) {
				*slash = '\0';
				if (parse_ul(slash + 1, 8, 32, &plen) < 0)
					syn = -2;
			}
			if (inet_pton(AF_INET, optarg, &src) != 1)
				syn = -2;
			break;
		case 'r':
			if (parse_ul(optarg, 1, MAX_PPS, &pps) < 0)
				syn = -2;
			break;
		case 'n':
			if (parse_ul(optarg, 1, 100000000UL, &count) < 0)
				syn = -2;
			break;
		case 't':
			if (parse_ul(optarg, 1, MAX_SECONDS, &secs) < 0)
				syn = -2;
			break;
		case 'S':
			if (parse_ul(optarg, 1, 0xffffffffUL, &seed) < 0)
				syn = -2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (syn < 0 || !dst.s_addr || !src.s_addr || !port || !pps || !count || !secs ||
	    optind != argc) {
		usage(stderr);
		return 2;
	}
	rng = 0x9e3779b97f4a7c15ULL ^ seed;

	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);        /* IP_HDRINCL implied */
	if (fd < 0) {
		fprintf(stderr, "flood: raw socket: %s\n", strerror(errno));
		return 1;
	}
	uint32_t base = ntohl(src.s_addr), hostmask = plen == 32 ? 0 : 0xffffffffu >> plen;
	base &= ~hostmask;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
	uint8_t pkt[64];
	unsigned long sent = 0, errors = 0;
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)secs * 1000000000ULL;
	int first_errno = 0;

	while (sent + errors < count) {
		uint64_t t = now_ns();
		if (t >= deadline)
			break;
		/* packets due by now, at most CATCHUP_TICKS ticks' worth at once */
		uint64_t due = (uint64_t)((double)(t - t0) * (double)pps / 1e9) + 1;
		uint64_t tick_pkts = CATCHUP_TICKS * (pps * (uint64_t)TICK_NS / 1000000000ULL + 1);
		if (due > count)
			due = count;
		if (due > sent + errors + tick_pkts)
			due = sent + errors + tick_pkts;
		while (sent + errors < due) {
			uint32_t s = base | (rnd() & hostmask);
			uint16_t sp = (uint16_t)(1024 + rnd() % 64512);
			size_t len = build(pkt, s, ntohl(dst.s_addr), sp, (uint16_t)port, syn);

			if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len) {
				sent++;
			} else {
				if (!first_errno)
					first_errno = errno;
				errors++;
			}
		}
		struct timespec pause = { 0, TICK_NS };
		nanosleep(&pause, NULL);
	}
	double el = (double)(now_ns() - t0) / 1e9;
	printf("flood %s sent %lu errors %lu seconds %.2f pps %.0f\n", syn ? "syn" : "ack",
	    sent, errors, el, el > 0 ? sent / el : 0.0);
	if (first_errno)
		fprintf(stderr, "flood: first send error: %s\n", strerror(first_errno));
	close(fd);
	return errors || sent < count ? 1 : 0;
}
