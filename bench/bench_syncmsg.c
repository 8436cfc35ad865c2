/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * State sync micro-benchmark (issue 16), in one run:
 *   - the packet path's cost of marking: a stream of short TCP connections
 *     (handshake, data both ways, FIN close) through the tracker with sync
 *     marking off and on, rounds alternating; packets/s and connections/s
 *     of each, and the ratio
 *   - encode + decode (+ rebuild) cost per connection entry
 *   - sync traffic per 1,000 new connections: the stream's table drained
 *     into CONN_UPDATE / CONN_END messages, their bytes counted, drained
 *     after every burst of 64 packets (every new connection and state
 *     change wakes the sync thread at once: the most messages) and every
 *     100 ms of the stream at the rate measured (coalesced: the least)
 *   - bulk transfer: a table of 100k and of 1M established connections
 *     exported in slices and encoded (the sender), decoded and applied to
 *     an empty table (the joiner); ms and MB of each
 * No corosync here: what CPG adds is in the e2e test.
 *
 * usage: bench_syncmsg [-n CONNS] [-r ROUNDS] [-b]   (-b: skip the bulk part)
 * Instructions per packet, marking off / on drained every burst / on
 * coalesced (wall time on a loaded machine is noise):
 *   valgrind --tool=callgrind --toggle-collect=feed_sync_off \
 *     --toggle-collect=feed_sync_on --toggle-collect=feed_sync_interval \
 *     bench/bench_syncmsg -n 50000 -r 1 -b; callgrind_annotate --inclusive=yes
 * Output: lines "METRIC name value unit" for bench/report.py.
 */
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctguard/syncmsg.h"
#include "ctguard/tracker.h"

#define PKTS_PER_CONN 10
#define OPEN_AT_ONCE 4096       /* connections interleaved in the stream */
#define BURST 64                /* a worker's burst: an urgent change drains after it */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
timeouts(struct ctg_timeouts *to)
{
#define CTG_X_DEF(sym, key, def, doc) to->key = def;
	CTG_TIMEOUT_CLASSES(CTG_X_DEF)
#undef CTG_X_DEF
}

static struct ctg_tracker *
table(uint32_t max)
{
	struct ctg_tracker_config tc;

	memset(&tc, 0, sizeof(tc));
	tc.max_connections = max;
	tc.midstream = CTG_MIDSTREAM_STRICT;
	tc.id_base = 1;
	tc.hash_seed[0] = 7;
	tc.hash_seed[1] = 9;
	timeouts(&tc.timeouts);
	/* no adaptive shrinking: a full table must keep what it holds */
	return ctg_tracker_new(&tc, NULL, NULL);
}

static struct ctg_packet
tcp(uint32_t conn, int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
	struct ctg_packet p;
	/* clients 198.18.x.y (RFC 2544's benchmark range), 60,000 ports each */
	uint32_t host = conn / 60000;
	struct ctg_addr cli = { .b = { 198, 18, (uint8_t)(host >> 8), (uint8_t)host } };
	struct ctg_addr srv = { .b = { 198, 19, 0, 5 } };
	uint16_t cport = (uint16_t)(1024 + conn % 60000);

	memset(&p, 0, sizeof(p));
	p.tuple.family = 4;
	p.tuple.proto = IPPROTO_TCP;
	p.tuple.src = dir ? srv : cli;
	p.tuple.dst = dir ? cli : srv;
	p.tuple.sport = dir ? 443 : cport;
	p.tuple.dport = dir ? cport : 443;
	p.tcp.seq = seq;
	p.tcp.ack = ack;
	p.tcp.window = 65535;
	p.tcp.flags = flags;
	p.tcp.doff = 20;
	p.payload_len = len;
	p.l3_hdr_len = 20;
	p.l4_offset = 20;
	p.l4_len = 20 + len;
	p.ip_len = 40 + len;
	p.wire_len = p.ip_len;
	p.complete = true;
	p.ttl = 64;
	return p;
}

/* Packet k (0..9) of connection c's life. */
static struct ctg_packet
step(uint32_t c, int k)
{
	const uint32_t ci = 1000, si = 5000;

	switch (k) {
	case 0: return tcp(c, 0, 0x02, ci, 0, 0);
	case 1: return tcp(c, 1, 0x12, si, ci + 1, 0);
	case 2: return tcp(c, 0, 0x10, ci + 1, si + 1, 0);
	case 3: return tcp(c, 0, 0x18, ci + 1, si + 1, 500);
	case 4: return tcp(c, 1, 0x18, si + 1, ci + 501, 1400);
	case 5: return tcp(c, 0, 0x10, ci + 501, si + 1401, 0);
	case 6: return tcp(c, 0, 0x11, ci + 501, si + 1401, 0);
	case 7: return tcp(c, 1, 0x11, si + 1401, ci + 502, 0);
	case 8: return tcp(c, 0, 0x10, ci + 502, si + 1402, 0);
	default: return tcp(c, 1, 0x10, si + 1402, ci + 502, 0);
	}
}

/* The stream: OPEN_AT_ONCE connections interleaved, each PKTS_PER_CONN packets. */
static struct ctg_packet *
make_stream(uint32_t nconn, size_t *n)
{
	struct ctg_packet *s = malloc((size_t)nconn * PKTS_PER_CONN * sizeof(*s));
	size_t k = 0;

	if (!s)
		abort();
	for (uint32_t base = 0; base < nconn; base += OPEN_AT_ONCE) {
		uint32_t m = nconn - base < OPEN_AT_ONCE ? nconn - base : OPEN_AT_ONCE;

		for (int st = 0; st < PKTS_PER_CONN; st++)
			for (uint32_t i = 0; i < m; i++)
				s[k++] = step(base + i, st);
	}
	*n = k;
	return s;
}

struct traffic {
	uint64_t msgs, bytes, updates, ends;
};

static uint8_t msgbuf[CTG_SYNC_MSG_MAX];
static struct ctg_conn_export slice[256];
static struct ctg_conn_end_note endn[256];

/* Drain t as the sync thread does, encoding (not sending) the messages. */
static void
drain(struct ctg_tracker *t, uint64_t now, struct traffic *tr)
{
	struct ctg_syncmsg_writer w;
	size_t n;

	ctg_syncmsg_begin(&w, msgbuf, sizeof(msgbuf), CTG_SYNC_CONN_UPDATE, now);
	while (ctg_tracker_sync_pending(t)) {
		n = ctg_tracker_sync_drain(t, slice, 256);
		for (size_t i = 0; i < n; i++) {
			if (!ctg_syncmsg_add_conn(&w, 0, &slice[i])) {
				tr->bytes += ctg_syncmsg_finish(&w);
				tr->msgs++;
				ctg_syncmsg_begin(&w, msgbuf, sizeof(msgbuf), CTG_SYNC_CONN_UPDATE, now);
				ctg_syncmsg_add_conn(&w, 0, &slice[i]);
			}
			tr->updates++;
		}
	}
	if (w.count) {
		tr->bytes += ctg_syncmsg_finish(&w);
		tr->msgs++;
	}
	ctg_syncmsg_begin(&w, msgbuf, sizeof(msgbuf), CTG_SYNC_CONN_END, now);
	while ((n = ctg_tracker_sync_drain_ends(t, endn, 256)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct ctg_sync_end e = { .queue = 0, .reason = endn[i].reason,
			    .tuple = endn[i].tuple, .id = endn[i].id };

			if (!ctg_syncmsg_add_end(&w, &e)) {
				tr->bytes += ctg_syncmsg_finish(&w);
				tr->msgs++;
				ctg_syncmsg_begin(&w, msgbuf, sizeof(msgbuf), CTG_SYNC_CONN_END, now);
				ctg_syncmsg_add_end(&w, &e);
			}
			tr->ends++;
		}
	}
	if (w.count) {
		tr->bytes += ctg_syncmsg_finish(&w);
		tr->msgs++;
	}
}

/*
 * The packet loop, twice the same, so that callgrind can count each alone
 * (--toggle-collect=feed_sync_off / feed_sync_on): wall time is noisy on a
 * shared machine, instruction counts are not.
 */
static void __attribute__((noipa))
feed_sync_off(struct ctg_tracker *t, const struct ctg_packet *s, size_t n, uint64_t *now)
{
	for (size_t k = 0; k < n; k++) {
		struct ctg_track_result r;

		ctg_tracker_packet(t, &s[k], CTG_R_NONE, (*now)++, &r);
		if (r.ctstate != CTG_CT_INVALID && r.conn)
			ctg_tracker_account(t, r.conn, r.dir, s[k].ip_len);
	}
}

static void __attribute__((noipa))
feed_sync_on(struct ctg_tracker *t, const struct ctg_packet *s, size_t n, uint64_t *now)
{
	for (size_t k = 0; k < n; k++) {
		struct ctg_track_result r;

		ctg_tracker_packet(t, &s[k], CTG_R_NONE, (*now)++, &r);
		if (r.ctstate != CTG_CT_INVALID && r.conn)
			ctg_tracker_account(t, r.conn, r.dir, s[k].ip_len);
	}
}

/* ... and the coalesced run's (drained every 100 ms of the stream) */
static void __attribute__((noipa))
feed_sync_interval(struct ctg_tracker *t, const struct ctg_packet *s, size_t n, uint64_t *now)
{
	for (size_t k = 0; k < n; k++) {
		struct ctg_track_result r;

		ctg_tracker_packet(t, &s[k], CTG_R_NONE, (*now)++, &r);
		if (r.ctstate != CTG_CT_INVALID && r.conn)
			ctg_tracker_account(t, r.conn, r.dir, s[k].ip_len);
	}
}

/* One pass of the stream; seconds of packet path (drains not timed). */
static double
run_stream(const struct ctg_packet *s, size_t n, bool sync, size_t every, struct traffic *tr)
{
	struct ctg_tracker *t = table(1u << 20);
	uint64_t now = 1700000000000000ULL;
	double spent = 0;

	if (!t || (sync && ctg_tracker_sync_enable(t, 16384, 128, CTG_SYNC_CARRY_ALL) < 0))
		abort();
	for (size_t i = 0; i < n; i += every) {
		size_t end = i + every < n ? i + every : n;
		double t0 = now_s();

		if (sync && every == BURST)
			feed_sync_on(t, s + i, end - i, &now);
		else if (sync)
			feed_sync_interval(t, s + i, end - i, &now);
		else
			feed_sync_off(t, s + i, end - i, &now);
		spent += now_s() - t0;
		if (sync)
			drain(t, now, tr);
	}
	ctg_tracker_free(t);
	return spent;
}

static void
stream_bench(uint32_t nconn, int rounds)
{
	size_t n;
	struct ctg_packet *s = make_stream(nconn, &n);
	double best_off = 1e9, best_on = 1e9;
	struct traffic tr = { 0 }, co = { 0 };

	for (int r = 0; r < rounds; r++) {
		struct traffic x = { 0 };
		double off = run_stream(s, n, false, BURST, &x);
		double on = run_stream(s, n, true, BURST, &x);

		if (off < best_off)
			best_off = off;
		if (on < best_on)
			best_on = on;
		tr = x;
	}
	size_t every = (size_t)(n / best_off / 10);     /* packets in 100 ms */
	run_stream(s, n, true, every, &co);
	printf("METRIC sync_stream_packets %zu packets (%u connections, %d rounds, best)\n",
	    n, nconn, rounds);
	printf("METRIC sync_off_pps %.0f packets/s\n", n / best_off);
	printf("METRIC sync_on_pps %.0f packets/s\n", n / best_on);
	printf("METRIC sync_off_conn_per_s %.0f connections/s\n", nconn / best_off);
	printf("METRIC sync_on_conn_per_s %.0f connections/s\n", nconn / best_on);
	printf("METRIC sync_marking_ratio %.3f on/off (connection rate)\n", best_off / best_on);
	printf("METRIC sync_bytes_per_1000_conns_burst %.0f bytes (drained after every %d-packet "
	    "burst: %.2f updates, %.2f ends per connection, %" PRIu64 " messages)\n",
	    tr.bytes * 1000.0 / nconn, BURST, (double)tr.updates / nconn, (double)tr.ends / nconn,
	    tr.msgs);
	printf("METRIC sync_bytes_per_1000_conns_interval %.0f bytes (drained every 100 ms = %zu "
	    "packets: %.2f updates per connection, %" PRIu64 " messages)\n",
	    co.bytes * 1000.0 / nconn, every, (double)co.updates / nconn, co.msgs);
	free(s);
}

/* A table of n established connections (the handshake's three packets each). */
static struct ctg_tracker *
filled(uint32_t n)
{
	struct ctg_tracker *t = table(n + n / 8);
	uint64_t now = 1700000000000000ULL;

	if (!t)
		abort();
	for (uint32_t c = 0; c < n; c++) {
		for (int k = 0; k < 4; k++) {
			struct ctg_packet p = step(c, k);
			struct ctg_track_result r;

			ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
			if (r.ctstate != CTG_CT_INVALID && r.conn)
				ctg_tracker_account(t, r.conn, r.dir, p.ip_len);
		}
	}
	return t;
}

static void
codec_bench(void)
{
	struct ctg_tracker *t = filled(4096);
	struct ctg_conn_export ex[256];
	struct ctg_syncmsg_writer w;
	struct ctg_syncmsg m;
	char err[160];
	size_t n = ctg_tracker_export_slice(t, 0, 256, ex), len = 0;
	const int reps = 2000;
	double t0, enc, dec;
	uint64_t sink = 0;

	t0 = now_s();
	for (int r = 0; r < reps; r++) {
		ctg_syncmsg_begin(&w, msgbuf, sizeof(msgbuf), CTG_SYNC_CONN_UPDATE, 1700000000000000ULL);
		for (size_t i = 0; i < n; i++)
			ctg_syncmsg_add_conn(&w, 0, &ex[i]);
		len = ctg_syncmsg_finish(&w);
	}
	enc = (now_s() - t0) / (reps * (double)n);
	t0 = now_s();
	for (int r = 0; r < reps; r++) {
		if (ctg_syncmsg_decode(msgbuf, len, &m, err, sizeof(err)) < 0)
			abort();
		for (unsigned i = 0; i < m.count; i++) {
			struct ctg_conn_export e;
			uint16_t q;

			ctg_syncmsg_conn(&m, i, 1700000000000000ULL, &q, &e);
			sink += e.c.id;
		}
	}
	dec = (now_s() - t0) / (reps * (double)n);
	printf("METRIC sync_encode_ns_per_conn %.1f ns\n", enc * 1e9);
	printf("METRIC sync_decode_ns_per_conn %.1f ns (checks every field, then rebuilds)\n",
	    dec * 1e9);
	printf("METRIC sync_entry_bytes %d bytes (%zu entries per 64 KiB message)\n",
	    CTG_SYNC_CONN_SIZE, (size_t)(CTG_SYNC_MSG_MAX - CTG_SYNC_HDR_SIZE) / CTG_SYNC_CONN_SIZE);
	if (sink == 42)
		printf("#\n");
	ctg_tracker_free(t);
}

struct bulk {
	struct ctg_tracker *b;
	uint64_t now, bytes, msgs, applied;
	double apply_s;
};

/* A full message reaches the joiner: decode it, apply every entry. */
static void
ship(struct ctg_syncmsg_writer *w, struct bulk *x)
{
	struct ctg_syncmsg m;
	char err[160];
	size_t len = ctg_syncmsg_finish(w);
	double t0 = now_s();

	x->bytes += len;
	x->msgs++;
	if (ctg_syncmsg_decode(msgbuf, len, &m, err, sizeof(err)) < 0)
		abort();
	for (unsigned i = 0; i < m.count; i++) {
		struct ctg_conn_export e;
		uint16_t q;

		ctg_syncmsg_conn(&m, i, x->now, &q, &e);
		x->applied += ctg_tracker_apply(x->b, &e, x->now) == 0;
	}
	x->apply_s += now_s() - t0;
	ctg_syncmsg_begin(w, msgbuf, sizeof(msgbuf), CTG_SYNC_BULK_ENTRIES, x->now);
}

static void
bulk_bench(uint32_t n, const char *tag)
{
	struct ctg_tracker *a = filled(n);
	struct bulk x = { .b = table(n + n / 8), .now = 1700000000000000ULL };
	struct ctg_tracker_stats st;
	struct ctg_syncmsg_writer w;
	double t0, total;

	if (!x.b || ctg_tracker_sync_enable(x.b, 16384, 128, CTG_SYNC_CARRY_ALL) < 0)
		abort();
	ctg_tracker_stats(a, &st);
	t0 = now_s();
	/* as send_bulk does: a slice at a time, messages filled and sent as they fill */
	ctg_syncmsg_begin(&w, msgbuf, sizeof(msgbuf), CTG_SYNC_BULK_ENTRIES, x.now);
	for (size_t start = 0; start < st.max; start += 256) {
		size_t k = ctg_tracker_export_slice(a, start, 256, slice);

		for (size_t i = 0; i < k; i++) {
			if (!ctg_syncmsg_add_conn(&w, 0, &slice[i])) {
				ship(&w, &x);
				ctg_syncmsg_add_conn(&w, 0, &slice[i]);
			}
		}
	}
	if (w.count)
		ship(&w, &x);
	total = now_s() - t0;
	printf("METRIC sync_bulk_%s_encode_ms %.1f ms (%" PRIu64 " messages, %.1f MB)\n", tag,
	    (total - x.apply_s) * 1e3, x.msgs, x.bytes / 1e6);
	printf("METRIC sync_bulk_%s_apply_ms %.1f ms (%" PRIu64 " of %u applied)\n", tag,
	    x.apply_s * 1e3, x.applied, n);
	ctg_tracker_free(a);
	ctg_tracker_free(x.b);
}

int
main(int argc, char **argv)
{
	uint32_t nconn = 400000;
	int rounds = 3, c;
	bool bulk = true;

	while ((c = getopt(argc, argv, "n:r:b")) != -1) {
		switch (c) {
		case 'n':
			nconn = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'b':
			bulk = false;
			break;
		default:
			fprintf(stderr, "usage: bench_syncmsg [-n CONNS] [-r ROUNDS] [-b]\n");
			return 2;
		}
	}
	stream_bench(nconn, rounds);
	codec_bench();
	if (bulk) {
		bulk_bench(100000, "100k");
		bulk_bench(1000000, "1m");
	}
	return 0;
}
