/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cross-queue ICMP lookups under load (issue 14): a worker's packet
 * latency while forged ICMP errors about unknown flows make it look in a
 * saturated neighbour's table, against the same run without them.
 *
 * Two workers' trackers are wired together through the daemon's own
 * lookup (daemon/crossqueue.c, ctgd_related_elsewhere, with the daemon's
 * struct worker and struct daemon), in one process:
 *   worker B is saturated: it takes its lock for a burst of 64 packets
 *     (decode, track, account: what worker.c does per burst), lets go, and
 *     starts the next burst at once, as a queue that always has one ready;
 *   worker A processes a paced stream (100,000 packets a second of UDP
 *     traffic on its own flows), each packet under its own lock as the
 *     worker loop takes it, optionally with 10,000 ICMP errors a second
 *     interleaved, each quoting a flow no table has (so each one is looked
 *     up in B's table, or finds B busy: related_busy).
 * A's latency per packet is its sojourn: from the moment the packet was
 * due (the pace's schedule) to the end of its processing, so a packet
 * stuck behind a slow lookup counts its wait too. Reported: p50, p99 and
 * p99.9 with and without the errors (runs alternate, the median of the
 * rounds is taken), their ratio, and the share of lookups that found B
 * busy, with B's bursts bare (the worst case for a lookup) and as the
 * daemon's (syscalls around them: "daemonlike"). The sleeping lookup of
 * 6ad6a1a (up to 50 trylocks 20 us apart) is run the same way for
 * comparison (-O).
 *
 * usage: bench_crossqueue [-t SECONDS] [-r ROUNDS] [-p PPS] [-e ERRORS_PPS] [-O]
 * Output: "METRIC name value unit" lines for bench/report.py.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/bytes.h"
#include "ctguard/config.h"
#include "ctguard/packet.h"
#include "ctguard/tracker.h"
#include "daemon-int.h"

#define NFLOWS 1024
#define PKT_LEN 60              /* IPv4 + UDP + 32 bytes */
#define ERR_LEN 56              /* IPv4 + ICMP + quoted IPv4 + UDP */
#define B_BURST 64

static struct daemon dm;
static struct worker wk[2];
static atomic_bool b_stop;
static uint64_t b_packets;
static bool b_syscalls;         /* B's bursts as the daemon's: see b_main */
static int b_pair[2] = { -1, -1 };

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
ip4(uint8_t *b, uint16_t len, uint8_t proto, uint32_t src, uint32_t dst)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	ctg_put16(b + 2, len);
	b[8] = 64;
	b[9] = proto;
	ctg_put32(b + 12, src);
	ctg_put32(b + 16, dst);
	ctg_put16(b + 10, ctg_csum_fold(ctg_csum_add(0, b, 20)));
}

/* A datagram of flow f (client 10.W.x.y:port <-> server :53), request or reply. */
static void
udp_pkt(uint8_t *b, unsigned w, uint32_t f, int reply)
{
	uint32_t cli = 0x0a000000u | (w + 1) << 16 | f, srv = 0xcb007101u;
	uint16_t cport = (uint16_t)(20000 + f);

	ip4(b, PKT_LEN, IPPROTO_UDP, reply ? srv : cli, reply ? cli : srv);
	ctg_put16(b + 20, reply ? 53 : cport);
	ctg_put16(b + 22, reply ? cport : 53);
	ctg_put16(b + 24, PKT_LEN - 20);
	ctg_put16(b + 26, 0);
	memset(b + 28, 0x5a, PKT_LEN - 28);
}

/*
 * A port unreachable from a router about a datagram 100.64.x.y:port ->
 * 203.0.113.9:53 that no table holds: it travels back to its "sender".
 */
static void
icmp_err(uint8_t *b, uint32_t i)
{
	uint32_t sender = 0x64400000u | (i & 0xffff), router = 0xc0000201u;

	ip4(b, ERR_LEN, IPPROTO_ICMP, router, sender);
	b[20] = 3;
	b[21] = 3;
	memset(b + 22, 0, 6);
	ip4(b + 28, 60, IPPROTO_UDP, sender, 0xcb007109u);
	ctg_put16(b + 48, (uint16_t)(1024 + i % 60000));
	ctg_put16(b + 50, 53);
	ctg_put16(b + 52, 40);
	ctg_put16(b + 54, 0);
	ctg_put16(b + 22, ctg_csum_fold(ctg_csum_add(0, b + 20, ERR_LEN - 20)));
}

static void
track(struct worker *w, const uint8_t *b, size_t len, uint64_t now_us)
{
	struct ctg_packet p;
	struct ctg_track_result r;
	enum ctg_reason dr = ctg_decode_ip(&p, b, len, len);

	ctg_tracker_packet(w->pl.tracker, &p, dr, now_us, &r);
	if (r.conn && r.ctstate != CTG_CT_INVALID)
		ctg_tracker_account(w->pl.tracker, r.conn, r.dir, (uint32_t)len);
}

/*
 * The lookup as it was at 6ad6a1a (issue 14, item 4), for comparison
 * only: up to 50 trylocks with a 20 us sleep between them.
 */
static bool
old_related_elsewhere(void *arg, const struct ctg_tuple *key, struct ctg_conn *copy,
    uint8_t *dir)
{
	struct worker *w = arg;
	bool found = false;

	if (w->locked)
		pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < dm.nw && !found; i++) {
		struct worker *o = &dm.w[i];
		struct ctg_conn *c;
		int tries = 0;

		if (o == w)
			continue;
		while (pthread_mutex_trylock(&o->lock) != 0) {
			struct timespec pause = { 0, 20 * 1000 };

			if (++tries > 50)
				break;
			nanosleep(&pause, NULL);
		}
		if (tries > 50) {
			w->related_busy++;
			continue;
		}
		if ((c = ctg_tracker_lookup(o->pl.tracker, key, dir)) != NULL) {
			*copy = *c;
			copy->tprofile = 0;
			found = true;
		}
		pthread_mutex_unlock(&o->lock);
	}
	if (w->locked)
		pthread_mutex_lock(&w->lock);
	return found;
}

static struct ctg_tracker *
tracker_new(void)
{
	struct ctg_tracker_config tc;
	struct ctg_config cfg;
	struct ctg_tracker *t;

	ctg_config_defaults(&cfg);
	cfg.max_connections = 65536;
	ctg_tracker_config_from(&tc, &cfg);
	tc.id_base = 1;
	t = ctg_tracker_new(&tc, NULL, NULL);
	if (!t) {
		fprintf(stderr, "bench_crossqueue: ctg_tracker_new failed\n");
		exit(1);
	}
	return t;
}

/*
 * Worker B: bursts under its lock until told to stop. Bare (b_syscalls
 * false), the next burst starts at once: the lock is free only between an
 * unlock and the next lock, the worst case for a lookup. With b_syscalls,
 * each burst pays what the daemon's does: the batched verdicts are sent
 * under the lock (one sendmmsg of 64 datagrams here; the kernel reinjects
 * the packets in that call), the next burst is received without it (one
 * recvmmsg of 64).
 */
static void *
b_main(void *arg)
{
	struct worker *w = arg;
	uint8_t pkt[PKT_LEN], io[B_BURST][PKT_LEN];
	struct mmsghdr mm[B_BURST];
	struct iovec iov[B_BURST];
	uint32_t f = 0;
	uint64_t n = 0;

	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < B_BURST; i++) {
		iov[i].iov_base = io[i];
		iov[i].iov_len = PKT_LEN;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	while (!atomic_load_explicit(&b_stop, memory_order_relaxed)) {
		if (b_syscalls && recvmmsg(b_pair[1], mm, B_BURST, MSG_DONTWAIT, NULL) < 0 &&
		    errno != EAGAIN) {
			perror("bench_crossqueue: recvmmsg");
			exit(1);
		}
		pthread_mutex_lock(&w->lock);
		w->locked = true;
		uint64_t now_us = mono_ns() / 1000;
		for (int i = 0; i < B_BURST; i++, n++) {
			udp_pkt(pkt, 1, f, (int)(n & 1));
			track(w, pkt, PKT_LEN, now_us);
			if (n & 1)
				f = (f + 1) % NFLOWS;
		}
		if (b_syscalls && sendmmsg(b_pair[0], mm, B_BURST, 0) < 0) {
			perror("bench_crossqueue: sendmmsg");
			exit(1);
		}
		w->locked = false;
		pthread_mutex_unlock(&w->lock);
	}
	b_packets = n;
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct result {
	double p50, p99, p999, max;     /* service, microseconds */
	double err_p50, err_p99;        /* service of the ICMP errors alone */
	double soj_p99;                 /* sojourn */
	uint64_t n, errors, busy, behind;
	double b_mpps;
};

static double
pct(uint64_t *v, uint64_t n, unsigned per_mille)
{
	if (n == 0)
		return 0;
	return (double)v[n * per_mille / 1000 < n ? n * per_mille / 1000 : n - 1] / 1e3;
}

/*
 * One run: A paced at pps with err_pps errors among them (0: none) for
 * secs (at most three times that in wall time, for the sleeping lookup,
 * which cannot keep the pace), B saturated. svc, soj, esvc: the caller's
 * arrays of nlat entries.
 */
static void
run(double secs, uint32_t pps, uint32_t err_pps, bool old, uint64_t *svc, uint64_t *soj,
    uint64_t *esvc, size_t nlat, struct result *res)
{
	struct worker *a = &wk[0], *b = &wk[1];
	uint8_t pkt[PKT_LEN], err[ERR_LEN];
	uint32_t total = pps + err_pps;
	uint64_t n = (uint64_t)(secs * total), f = 0, nerr = 0;
	pthread_t bt;

	if (n > nlat)
		n = nlat;
	for (unsigned i = 0; i < 2; i++) {
		if (wk[i].pl.tracker)
			ctg_tracker_free(wk[i].pl.tracker);
		wk[i].pl.tracker = tracker_new();
		ctg_tracker_set_related_lookup(wk[i].pl.tracker,
		    old ? old_related_elsewhere : ctgd_related_elsewhere, &wk[i]);
		wk[i].related_busy = wk[i].related_elsewhere = 0;
		/* every flow of the worker's stream is known (request and reply seen) */
		for (uint32_t k = 0; k < NFLOWS; k++) {
			udp_pkt(pkt, i, k, 0);
			track(&wk[i], pkt, PKT_LEN, mono_ns() / 1000);
			udp_pkt(pkt, i, k, 1);
			track(&wk[i], pkt, PKT_LEN, mono_ns() / 1000);
		}
	}
	atomic_store(&b_stop, false);
	if (pthread_create(&bt, NULL, b_main, b) != 0) {
		fprintf(stderr, "bench_crossqueue: pthread_create failed\n");
		exit(1);
	}
	/* let B get going */
	struct timespec warm = { 0, 50 * 1000 * 1000 };
	nanosleep(&warm, NULL);

	double gap = 1e9 / total;
	uint64_t t0 = mono_ns(), behind = 0, i;
	uint64_t stop = t0 + (uint64_t)(3 * secs * 1e9);
	for (i = 0; i < n; i++) {
		uint64_t due = t0 + (uint64_t)((double)i * gap), t;

		while ((t = mono_ns()) < due)
			;
		if (t > stop)
			break;
		if (t - due > 1000000)
			behind++;
		/* every (total / err_pps)-th packet is an error, spread evenly */
		bool is_err = err_pps && (i * err_pps) / total != ((i + 1) * err_pps) / total;

		if (is_err)
			icmp_err(err, (uint32_t)nerr);
		else
			udp_pkt(pkt, 0, (uint32_t)(f / 2), (int)(f & 1));
		/* the packet's processing, as the worker loop takes it */
		uint64_t t1 = mono_ns();
		pthread_mutex_lock(&a->lock);
		a->locked = true;
		if (is_err)
			track(a, err, ERR_LEN, t1 / 1000);
		else
			track(a, pkt, PKT_LEN, t1 / 1000);
		a->locked = false;
		pthread_mutex_unlock(&a->lock);
		uint64_t t2 = mono_ns();
		svc[i] = t2 - t1;
		soj[i] = t2 - due;
		if (is_err)
			esvc[nerr++] = t2 - t1;
		else
			f = (f + 1) % (2 * NFLOWS);
	}
	n = i;
	double el = (double)(mono_ns() - t0) / 1e9;
	atomic_store(&b_stop, true);
	pthread_join(bt, NULL);

	qsort(svc, n, sizeof(*svc), cmp_u64);
	qsort(soj, n, sizeof(*soj), cmp_u64);
	qsort(esvc, nerr, sizeof(*esvc), cmp_u64);
	res->n = n;
	res->p50 = pct(svc, n, 500);
	res->p99 = pct(svc, n, 990);
	res->p999 = pct(svc, n, 999);
	res->max = n ? svc[n - 1] / 1e3 : 0;
	res->err_p50 = pct(esvc, nerr, 500);
	res->err_p99 = pct(esvc, nerr, 990);
	res->soj_p99 = pct(soj, n, 990);
	res->errors = nerr;
	res->busy = a->related_busy;
	res->behind = behind;
	res->b_mpps = (double)b_packets / el / 1e6;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_ROUNDS 9

int
main(int argc, char **argv)
{
	double secs = 2;
	unsigned long pps = 100000, err_pps = 10000;
	int rounds = 3, c;
	bool with_old = false;

	while ((c = getopt(argc, argv, "t:r:p:e:Oh")) != -1) {
		switch (c) {
		case 't':
			secs = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'p':
			pps = strtoul(optarg, NULL, 10);
			break;
		case 'e':
			err_pps = strtoul(optarg, NULL, 10);
			break;
		case 'O':
			with_old = true;
			break;
		default:
			fprintf(stderr, "usage: bench_crossqueue [-t SECONDS] [-r ROUNDS] [-p PPS] "
			    "[-e ERRORS_PPS] [-O]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (secs < 0.1 || secs > 60 || rounds < 1 || rounds > MAX_ROUNDS || pps < 1000 ||
	    pps > 2000000 || err_pps >= pps) {
		fprintf(stderr, "bench_crossqueue: out of range (-t 0.1-60, -r 1-%d, -p 1000-2000000, "
		    "-e below -p)\n", MAX_ROUNDS);
		return 2;
	}

	dm.nw = 2;
	dm.w = wk;
	for (unsigned i = 0; i < 2; i++) {
		wk[i].idx = i;
		wk[i].queue = (uint16_t)i;
		wk[i].dm = &dm;
		pthread_mutex_init(&wk[i].lock, NULL);
	}
	size_t nlat = (size_t)(secs * (double)(pps + err_pps)) + 1;
	uint64_t *svc = malloc(nlat * sizeof(*svc)), *soj = malloc(nlat * sizeof(*soj));
	uint64_t *esvc = malloc(nlat * sizeof(*esvc));
	if (!svc || !soj || !esvc) {
		perror("bench_crossqueue: malloc");
		return 1;
	}

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, b_pair) < 0) {
		perror("bench_crossqueue: socketpair");
		return 1;
	}

	/*
	 * Modes, alternating in every round: without errors; with them; with
	 * them and B's bursts as the daemon's (syscalls); with them and the
	 * sleeping lookup of 6ad6a1a (-O).
	 */
	enum { NMODES = 4 };
	const char *name[NMODES] = { "without", "with", "daemonlike", "old" };
	enum { Q50, Q99, Q999, QMAX, QE50, QE99, QSOJ, QBUSY, QB, NQ };
	double v[NMODES][NQ][MAX_ROUNDS], q[NMODES][NQ];
	uint64_t behind[NMODES] = { 0 }, done[NMODES] = { 0 };
	uint64_t lookups[NMODES] = { 0 }, busy[NMODES] = { 0 };
	int nmodes = with_old ? 4 : 3;

	for (int r = 0; r < rounds; r++) {
		for (int m = 0; m < nmodes; m++) {
			struct result res;

			b_syscalls = m == 2;
			run(secs, (uint32_t)pps, m ? (uint32_t)err_pps : 0, m == 3, svc, soj, esvc,
			    nlat, &res);
			v[m][Q50][r] = res.p50;
			v[m][Q99][r] = res.p99;
			v[m][Q999][r] = res.p999;
			v[m][QMAX][r] = res.max;
			v[m][QE50][r] = res.err_p50;
			v[m][QE99][r] = res.err_p99;
			v[m][QSOJ][r] = res.soj_p99;
			v[m][QBUSY][r] = res.errors ? 100.0 * res.busy / res.errors : 0;
			v[m][QB][r] = res.b_mpps;
			behind[m] += res.behind;
			done[m] += res.n;
			lookups[m] += res.errors;
			busy[m] += res.busy;
			fprintf(stderr, "# round %d %-10s service p50 %.2f p99 %.2f p99.9 %.2f max %.0f us; "
			    "errors %" PRIu64 " (p50 %.2f p99 %.2f us) busy %" PRIu64 "; sojourn p99 %.0f us, "
			    "%" PRIu64 " of %" PRIu64 " late > 1 ms; B %.2f Mpps\n", r + 1, name[m],
			    res.p50, res.p99, res.p999, res.max, res.errors, res.err_p50, res.err_p99,
			    res.busy, res.soj_p99, res.behind, res.n, res.b_mpps);
		}
	}
	for (int m = 0; m < nmodes; m++)
		for (int k = 0; k < NQ; k++)
			q[m][k] = median(v[m][k], rounds);
	printf("METRIC xq_pps %lu pps (worker A's ordinary packets)\n", pps);
	printf("METRIC xq_errors_pps %lu pps (ICMP errors quoting unknown flows)\n", err_pps);
	for (int m = 0; m < nmodes; m++) {
		printf("METRIC xq_%s_p50_us %.2f us\n", name[m], q[m][Q50]);
		printf("METRIC xq_%s_p99_us %.2f us\n", name[m], q[m][Q99]);
		printf("METRIC xq_%s_p999_us %.2f us\n", name[m], q[m][Q999]);
		printf("METRIC xq_%s_max_us %.0f us\n", name[m], q[m][QMAX]);
		printf("METRIC xq_%s_sojourn_p99_us %.0f us\n", name[m], q[m][QSOJ]);
		printf("METRIC xq_%s_late_pct %.2f %% (started over 1 ms after due)\n", name[m],
		    done[m] ? 100.0 * behind[m] / done[m] : 0);
		printf("METRIC xq_%s_b_mpps %.2f Mpps (worker B, saturated)\n", name[m], q[m][QB]);
		if (m == 0)
			continue;
		printf("METRIC xq_%s_error_p50_us %.2f us (the ICMP errors alone)\n", name[m], q[m][QE50]);
		printf("METRIC xq_%s_error_p99_us %.2f us (the ICMP errors alone)\n", name[m], q[m][QE99]);
		printf("METRIC xq_%s_busy_pct %.1f %% (of %" PRIu64 " lookups, %" PRIu64 " found B busy)\n",
		    name[m], q[m][QBUSY], lookups[m], busy[m]);
		printf("METRIC xq_%s_p99_ratio %.2f x (p99 against the run without errors)\n", name[m],
		    q[0][Q99] > 0 ? q[m][Q99] / q[0][Q99] : 0);
		printf("METRIC xq_%s_p999_ratio %.2f x (p99.9 against the run without errors)\n",
		    name[m], q[0][Q999] > 0 ? q[m][Q999] / q[0][Q999] : 0);
	}
	for (unsigned i = 0; i < 2; i++)
		ctg_tracker_free(wk[i].pl.tracker);
	free(svc);
	free(soj);
	free(esvc);
	close(b_pair[0]);
	close(b_pair[1]);
	return 0;
}
