/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tracker micro-benchmark (issue 8): packets per second on one core over a
 * synthetic mixed stream, bytes per connection, 1,000,000 concurrent
 * connections, and lookup cost at 1k / 100k / 1M live connections.
 *
 * The stream: SLOTS flows open at once, each step picking a random slot and
 * sending that flow's next packet, so every phase is interleaved: TCP
 * handshakes, data both ways, FIN closes (IPv4 and IPv6, timestamps on every
 * segment), UDP request/reply, ICMP echo. Packets are stored as NFQUEUE would
 * copy them (headers only; wire_len says how long they were), pre-built so
 * that generation is not timed.
 *
 * usage: bench_tracker [-n PACKETS] [-s SLOTS] [-r ROUNDS] [-w PCAP] [-q]
 *                      [-T | -M]
 *   -w writes the same stream as a DLT_RAW pcap (for the replay benchmark)
 *   -T skips the table benchmarks (lookups, 1M connections)
 *   -M skips the mixed stream (only the table benchmarks)
 *   -q only runs the mixed stream once (for callgrind instruction counts:
 *      valgrind --tool=callgrind --toggle-collect=run_full ...)
 *   -P RULES also runs the daemon's whole pipeline (decoder, tracker, the
 *      rules in RULES, connection summaries; no audit log) over the stream in
 *      memory and with replay's table size, so that make bench can split
 *      replay's cost into the pipeline's and the capture reading's
 * Output: lines "METRIC name value unit" for bench/report.py.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/bytes.h"
#include "ctguard/config.h"
#include "ctguard/packet.h"
#include "ctguard/pipeline.h"
#include "ctguard/rules.h"
#include "ctguard/tracker.h"

#define REC_HDR         8       /* caplen (2), pad (2), wire_len (4) */
#define MAX_HDR         96
#define CHUNK           256

enum flow_kind { F_TCP4, F_TCP6, F_UDP4, F_ICMP4 };

struct flow {
	enum flow_kind kind;
	int step;
	uint32_t caddr, saddr;  /* v4; v6 derives from them */
	uint16_t cport, sport;
	uint32_t cseq, sseq;    /* next sequence number to send */
	uint32_t cts, sts;      /* timestamp values */
};

struct stream {
	uint8_t *buf;
	size_t len, cap;
	uint64_t npkts;
	uint64_t nflows;
	uint64_t kind_pkts[4];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t
ip_csum(const uint8_t *h, size_t len)
{
	return ctg_csum_fold(ctg_csum_add(0, h, len));
}

/* IP header for family; returns its length. */
static size_t
ip_hdr(uint8_t *p, bool v6, uint32_t src, uint32_t dst, uint8_t proto,
    uint32_t l4_len)
{
	if (v6) {
		memset(p, 0, 40);
		p[0] = 0x60;
		ctg_put16(p + 4, (uint16_t)l4_len);
		p[6] = proto;
		p[7] = 64;
		/*
		 * The v4 address mapped into 2001:db8:1::/48 (clients, 10/8)
		 * or 2001:db8:2::/48 (servers), as in the shipped rules.
		 */
		ctg_put32(p + 8, 0x20010db8);
		ctg_put16(p + 12, (src >> 24) == 10 ? 1 : 2);
		ctg_put32(p + 20, src);
		ctg_put32(p + 24, 0x20010db8);
		ctg_put16(p + 28, (dst >> 24) == 10 ? 1 : 2);
		ctg_put32(p + 36, dst);
		return 40;
	}
	memset(p, 0, 20);
	p[0] = 0x45;
	ctg_put16(p + 2, (uint16_t)(20 + l4_len));
	ctg_put16(p + 4, (uint16_t)rng());
	p[6] = 0x40;            /* DF */
	p[8] = 64;
	p[9] = proto;
	ctg_put32(p + 12, src);
	ctg_put32(p + 16, dst);
	ctg_put16(p + 10, ip_csum(p, 20));
	return 20;
}

static uint8_t *
rec_alloc(struct stream *s)
{
	if (s->len + REC_HDR + MAX_HDR > s->cap) {
		s->cap = s->cap ? s->cap * 2 : (64u << 20);
		s->buf = realloc(s->buf, s->cap);
		if (s->buf == NULL) {
			perror("bench_tracker: realloc");
			exit(1);
		}
	}
	return s->buf + s->len;
}

static void
rec_commit(struct stream *s, uint8_t *r, size_t caplen, uint32_t wire_len)
{
	uint16_t c = (uint16_t)caplen;

	memcpy(r, &c, 2);
	memcpy(r + 4, &wire_len, 4);
	s->len += (REC_HDR + caplen + 7) & ~(size_t)7;
	s->npkts++;
}

static void
emit_tcp(struct stream *s, struct flow *f, bool from_client, uint8_t flags,
    uint32_t payload)
{
	uint8_t *r = rec_alloc(s), *p = r + REC_HDR, *t;
	bool v6 = f->kind == F_TCP6, syn = flags & CTG_TH_SYN;
	size_t olen = syn ? 20 : 12, ihl;
	uint32_t *seq = from_client ? &f->cseq : &f->sseq;
	uint32_t ack = from_client ? f->sseq : f->cseq;
	uint32_t *ts = from_client ? &f->cts : &f->sts;
	/* echo the peer's last TSval (each send advances it by one); a SYN echoes none */
	uint32_t ecr = (flags & (CTG_TH_SYN | CTG_TH_ACK)) == CTG_TH_SYN ? 0 :
	    (from_client ? f->sts : f->cts) - 1;

	ihl = ip_hdr(p, v6, from_client ? f->caddr : f->saddr,
	    from_client ? f->saddr : f->caddr, IPPROTO_TCP,
	    (uint32_t)(20 + olen + payload));
	t = p + ihl;
	memset(t, 0, 20 + olen);
	ctg_put16(t, from_client ? f->cport : f->sport);
	ctg_put16(t + 2, from_client ? f->sport : f->cport);
	ctg_put32(t + 4, *seq);
	ctg_put32(t + 8, (flags & CTG_TH_ACK) ? ack : 0);
	t[12] = (uint8_t)(((20 + olen) / 4) << 4);
	t[13] = flags;
	ctg_put16(t + 14, syn ? 64240 : 502);      /* 502 << 7 = 64k scaled */
	if (syn) {
		uint8_t *o = t + 20;
		o[0] = 2; o[1] = 4; ctg_put16(o + 2, 1460);
		o[4] = 4; o[5] = 2;                     /* SACK permitted */
		o[6] = 8; o[7] = 10; ctg_put32(o + 8, *ts); ctg_put32(o + 12, ecr);
		o[16] = 1; o[17] = 3; o[18] = 3; o[19] = 7;
	} else {
		uint8_t *o = t + 20;
		o[0] = 1; o[1] = 1; o[2] = 8; o[3] = 10;
		ctg_put32(o + 4, *ts);
		ctg_put32(o + 8, ecr);
	}
	*seq += payload + ((flags & (CTG_TH_SYN | CTG_TH_FIN)) ? 1 : 0);
	*ts += 1;
	rec_commit(s, r, ihl + 20 + olen, (uint32_t)(ihl + 20 + olen + payload));
	s->kind_pkts[f->kind]++;
}

static void
emit_udp(struct stream *s, struct flow *f, bool from_client, uint32_t payload)
{
	uint8_t *r = rec_alloc(s), *p = r + REC_HDR, *u;
	size_t ihl = ip_hdr(p, false, from_client ? f->caddr : f->saddr,
	    from_client ? f->saddr : f->caddr, IPPROTO_UDP, 8 + payload);

	u = p + ihl;
	ctg_put16(u, from_client ? f->cport : f->sport);
	ctg_put16(u + 2, from_client ? f->sport : f->cport);
	ctg_put16(u + 4, (uint16_t)(8 + payload));
	ctg_put16(u + 6, 0);
	rec_commit(s, r, ihl + 8, (uint32_t)(ihl + 8 + payload));
	s->kind_pkts[f->kind]++;
}

static void
emit_icmp(struct stream *s, struct flow *f, bool request)
{
	uint8_t *r = rec_alloc(s), *p = r + REC_HDR, *ic;
	size_t ihl = ip_hdr(p, false, request ? f->caddr : f->saddr,
	    request ? f->saddr : f->caddr, IPPROTO_ICMP, 8 + 56);

	ic = p + ihl;
	memset(ic, 0, 8);
	ic[0] = request ? 8 : 0;
	ctg_put16(ic + 4, f->cport);
	ctg_put16(ic + 6, (uint16_t)f->step);
	rec_commit(s, r, ihl + 8, (uint32_t)(ihl + 8 + 56));
	s->kind_pkts[f->kind]++;
}

static void
flow_start(struct flow *f, uint32_t slot, uint64_t serial)
{
	unsigned k = (unsigned)(rng() % 100);

	memset(f, 0, sizeof(*f));
	f->kind = k < 60 ? F_TCP4 : k < 75 ? F_TCP6 : k < 92 ? F_UDP4 : F_ICMP4;
	f->caddr = 0x0a000000u | (slot & 0xffffffu);            /* 10/8 */
	f->saddr = 0xcb007100u | (uint32_t)(rng() % 200 + 1);   /* 203.0.113/24 */
	f->cport = (uint16_t)(1024 + (serial / 1 % 64000));
	f->sport = f->kind == F_UDP4 ? 53 : (rng() & 1) ? 443 : 80;
	f->cseq = (uint32_t)rng();
	f->sseq = (uint32_t)rng();
	f->cts = (uint32_t)rng();
	f->sts = (uint32_t)rng();
}

/* Emit the flow's next packet; returns false when the flow is over. */
static bool
flow_step(struct stream *s, struct flow *f)
{
	const uint8_t A = CTG_TH_ACK, PA = CTG_TH_PSH | CTG_TH_ACK;
	int st = f->step++;

	switch (f->kind) {
	case F_TCP4:
	case F_TCP6:
		switch (st) {
		case 0: emit_tcp(s, f, true, CTG_TH_SYN, 0); break;
		case 1: emit_tcp(s, f, false, CTG_TH_SYN | A, 0); break;
		case 2: emit_tcp(s, f, true, A, 0); break;
		case 3: emit_tcp(s, f, true, PA, 300); break;
		case 4: emit_tcp(s, f, false, A, 0); break;
		case 5: emit_tcp(s, f, false, A, 1400); break;
		case 6: emit_tcp(s, f, false, PA, 1400); break;
		case 7: emit_tcp(s, f, true, A, 0); break;
		case 8: emit_tcp(s, f, false, PA, 900); break;
		case 9: emit_tcp(s, f, true, A, 0); break;
		case 10: emit_tcp(s, f, true, CTG_TH_FIN | A, 0); break;
		case 11: emit_tcp(s, f, false, CTG_TH_FIN | A, 0); break;
		case 12: emit_tcp(s, f, true, A, 0); return false;
		}
		return true;
	case F_UDP4:
		emit_udp(s, f, (st & 1) == 0, (st & 1) ? 180 : 40);
		return st < 3;
	case F_ICMP4:
		emit_icmp(s, f, (st & 1) == 0);
		return st < 3;
	}
	return false;
}

static void
build_stream(struct stream *s, uint64_t npkts, uint32_t slots)
{
	struct flow *fl = calloc(slots, sizeof(*fl));
	uint64_t serial = 0;

	if (fl == NULL) {
		perror("bench_tracker: calloc");
		exit(1);
	}
	for (uint32_t i = 0; i < slots; i++)
		flow_start(&fl[i], i, serial++);
	s->nflows = slots;
	while (s->npkts < npkts) {
		uint32_t i = (uint32_t)(rng() % slots);

		if (!flow_step(s, &fl[i])) {
			/* new client address per flow: no tuple is reused */
			flow_start(&fl[i], (uint32_t)(serial % 0xffffff), serial);
			serial++;
			s->nflows++;
		}
	}
	free(fl);
}

#define REC_NEXT(p) ((p) + ((REC_HDR + rec_caplen(p) + 7) & ~(size_t)7))

static uint16_t
rec_caplen(const uint8_t *r)
{
	uint16_t c;

	memcpy(&c, r, 2);
	return c;
}

static uint32_t
rec_wire(const uint8_t *r)
{
	uint32_t w;

	memcpy(&w, r + 4, 4);
	return w;
}

/*
 * unanswered_pct 100: the table benchmarks fill every slot with one-way
 * flows to measure capacity and lookups; the default share (50%) for
 * unanswered entries would recycle half of them (bench_flood measures that
 * policy).
 */
static struct ctg_tracker *
tracker_new_share(uint32_t max, uint8_t unanswered_pct)
{
	struct ctg_tracker_config tc;
	struct ctg_config cfg;
	struct ctg_tracker *t;

	ctg_config_defaults(&cfg);
	cfg.max_connections = max;
	if (unanswered_pct)
		cfg.unanswered_pct = unanswered_pct;
	ctg_tracker_config_from(&tc, &cfg);
	tc.id_base = 1;
	tc.hash_seed[0] = 0x1234;
	tc.hash_seed[1] = 0x5678;
	t = ctg_tracker_new(&tc, NULL, NULL);
	if (t == NULL) {
		fprintf(stderr, "bench_tracker: ctg_tracker_new(%u) failed\n", max);
		exit(1);
	}
	return t;
}

static struct ctg_tracker *
tracker_new(uint32_t max)
{
	return tracker_new_share(max, 0);
}

static volatile uint64_t sink;

/*
 * The per-packet work the daemon does in the tracker: decode, classify,
 * account the accepted packet. Not static inline so callgrind can toggle on it.
 */
__attribute__((noinline)) uint64_t run_full(struct ctg_tracker *t,
    const struct stream *s);

uint64_t
run_full(struct ctg_tracker *t, const struct stream *s)
{
	const uint8_t *r = s->buf, *end = s->buf + s->len;
	struct ctg_track_result res;
	struct ctg_packet p;
	uint64_t now = 1000000, inval = 0;

	while (r < end) {
		enum ctg_reason dr = ctg_decode_ip(&p, r + REC_HDR, rec_caplen(r),
		    rec_wire(r));

		ctg_tracker_packet(t, &p, dr, now++, &res);
		if (res.ctstate == CTG_CT_INVALID)
			inval++;
		else if (res.conn)
			ctg_tracker_account(t, res.conn, res.dir, rec_wire(r));
		r = REC_NEXT(r);
	}
	return inval;
}

static double
run_decode(const struct stream *s)
{
	const uint8_t *r = s->buf, *end = s->buf + s->len;
	struct ctg_packet p;
	uint64_t acc = 0;
	double t0 = now_s();

	while (r < end) {
		acc += ctg_decode_ip(&p, r + REC_HDR, rec_caplen(r), rec_wire(r));
		acc += p.tuple.sport;
		r = REC_NEXT(r);
	}
	sink = acc;
	return now_s() - t0;
}

/* Tracker alone: decode CHUNK packets untimed, then time tracking them. */
static double
run_track_only(struct ctg_tracker *t, const struct stream *s)
{
	static struct ctg_packet p[CHUNK];
	static enum ctg_reason dr[CHUNK];
	static uint32_t wl[CHUNK];
	const uint8_t *r = s->buf, *end = s->buf + s->len;
	struct ctg_track_result res;
	uint64_t now = 1000000;
	double total = 0;

	while (r < end) {
		unsigned n = 0;
		double t0;

		while (n < CHUNK && r < end) {
			dr[n] = ctg_decode_ip(&p[n], r + REC_HDR, rec_caplen(r),
			    rec_wire(r));
			wl[n] = rec_wire(r);
			n++;
			r = REC_NEXT(r);
		}
		t0 = now_s();
		for (unsigned i = 0; i < n; i++) {
			ctg_tracker_packet(t, &p[i], dr[i], now++, &res);
			if (res.ctstate != CTG_CT_INVALID && res.conn)
				ctg_tracker_account(t, res.conn, res.dir, wl[i]);
		}
		total += now_s() - t0;
	}
	return total;
}

/* The pipeline as replay runs it (1M-entry table, rules, no log), in memory. */
static double
run_pipeline(const struct stream *s, const char *rules_path, uint64_t *accepted)
{
	const uint8_t *r = s->buf, *end = s->buf + s->len;
	const char *paths[] = { rules_path };
	struct ctg_rules_diag diag;
	struct ctg_pipeline pl;
	struct ctg_ruleset *rs;
	struct ctg_config cfg;
	struct ctg_decision d;
	struct ctg_pkt_in in;
	uint64_t now = 1000000, n = 0;
	char err[512];
	double t0, dt;

	ctg_config_defaults(&cfg);
	cfg.max_connections = 1u << 20;
	if ((rs = ctg_ruleset_load(paths, 1, &diag)) == NULL) {
		fprintf(stderr, "bench_tracker: %s\n", diag.error);
		exit(1);
	}
	if (ctg_pipeline_init(&pl, &cfg, rs, NULL, 0, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_tracker: %s\n", err);
		exit(1);
	}
	memset(&in, 0, sizeof(in));
	in.iif = "";
	in.oif = "";
	t0 = now_s();
	while (r < end) {
		in.buf = r + REC_HDR;
		in.caplen = rec_caplen(r);
		in.wire_len = rec_wire(r);
		in.now_us = now++;
		in.packet_no = ++n;
		ctg_pipeline_process(&pl, &in, &d);
		r = REC_NEXT(r);
	}
	dt = now_s() - t0;
	*accepted = pl.st.verdicts[CTG_ACT_ACCEPT];
	ctg_pipeline_fini(&pl);
	ctg_ruleset_free(rs);
	return dt;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
write_pcap(const char *path, const struct stream *s)
{
	const uint8_t *r = s->buf, *end = s->buf + s->len;
	FILE *f = fopen(path, "wb");
	uint32_t gh[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 101 };
	uint64_t us = 1000000;

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(gh, 4, 6, f);
	while (r < end) {
		uint32_t ph[4];

		ph[0] = (uint32_t)(us / 1000000);
		ph[1] = (uint32_t)(us % 1000000);
		ph[2] = rec_caplen(r);
		ph[3] = rec_wire(r);
		fwrite(ph, 4, 4, f);
		fwrite(r + REC_HDR, 1, rec_caplen(r), f);
		us++;
		r = REC_NEXT(r);
	}
	if (fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A UDP packet of flow i (distinct 5-tuple per i), decoded into p; raw28 gets its 28 header bytes. */
static void
udp_flow_packet(uint32_t i, bool reply, struct ctg_packet *p, uint8_t *raw28)
{
	struct flow f;
	struct stream s = { 0 };
	uint8_t buf[REC_HDR + MAX_HDR];
	enum ctg_reason dr;

	memset(&f, 0, sizeof(f));
	f.kind = F_UDP4;
	f.caddr = 0x0a000000u | (i >> 6);
	f.saddr = 0xcb007101u;
	f.cport = (uint16_t)(1024 + (i & 63));
	f.sport = 53;
	s.buf = buf;
	s.cap = sizeof(buf);
	emit_udp(&s, &f, !reply, 40);
	if (raw28)
		memcpy(raw28, buf + REC_HDR, 28);
	dr = ctg_decode_ip(p, buf + REC_HDR, rec_caplen(buf), rec_wire(buf));
	if (dr != CTG_R_NONE) {
		fprintf(stderr, "bench_tracker: synthetic UDP did not decode\n");
		exit(1);
	}
}

/*
 * What a checkpoint costs the packet path: the daemon's checkpoint thread
 * holds a worker's table only to copy 1,024 pool slots at a time (as here),
 * then writes them after letting go. Reported: the longest hold against
 * one lookup's cost measured in the same run (the baseline), and the whole
 * write, which no packet waits for.
 */
static void
bench_checkpoint(struct ctg_tracker *t, uint32_t n)
{
	char path[] = "/tmp/ctg-bench-ckpt.XXXXXX";
	int fd = mkstemp(path);
	struct ctg_conn *buf = malloc(1024 * sizeof(*buf));
	struct ctg_snap_writer w;
	struct ctg_tracker_stats st;
	double t0, hold_max = 0, t_all, hold_sum = 0;
	uint64_t next_id = 0, slices = 0;

	if (fd < 0 || !buf) {
		perror("bench_tracker: checkpoint");
		exit(1);
	}
	unlink(path);
	ctg_tracker_stats(t, &st);
	t_all = now_s();
	if (ctg_snap_begin(&w, fd, true) < 0)
		exit(1);
	for (size_t i = 0; i < st.max; i += 1024) {
		t0 = now_s();
		size_t k = ctg_tracker_copy_slice(t, i, 1024, buf, &next_id);
		double h = now_s() - t0;

		if (h > hold_max)
			hold_max = h;
		hold_sum += h;
		slices++;
		if (k && ctg_snap_write(&w, buf, k) < 0)
			exit(1);
	}
	if (ctg_snap_finish(&w, 1000000, next_id) < 0 || fsync(fd) < 0)
		exit(1);
	t_all = now_s() - t_all;
	printf("METRIC checkpoint_hold_max_us_%u %.1f us\n", n, hold_max * 1e6);
	printf("METRIC checkpoint_hold_mean_us_%u %.1f us\n", n, hold_sum / slices * 1e6);
	printf("METRIC checkpoint_write_ms_%u %.1f ms\n", n, t_all * 1e3);
	printf("METRIC checkpoint_bytes_%u %.1f MiB\n", n,
	    (double)lseek(fd, 0, SEEK_END) / 1048576.0);
	close(fd);
	free(buf);
}

/*
 * Table pressure: spoofed ACKs (picked up midstream, the default loose
 * mode) or SYNs at five times the table size per second, while 20
 * established connections exchange data and a client opens 100 new
 * connections a second, each answered at once, for two seconds of the
 * tracker's clock. Reported: the share of the new connections admitted
 * and of established packets passed, against the same run without a
 * flood (the baseline).
 */
static struct ctg_packet
flood_pkt(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t flags,
    uint32_t seq, uint32_t ack, uint32_t len)
{
	struct ctg_packet p;

	memset(&p, 0, sizeof(p));
	p.tuple.family = 4;
	p.tuple.proto = IPPROTO_TCP;
	ctg_put32(p.tuple.src.b, src);
	ctg_put32(p.tuple.dst.b, dst);
	p.tuple.sport = sport;
	p.tuple.dport = dport;
	p.tcp.seq = seq;
	p.tcp.ack = ack;
	p.tcp.window = 65535;
	p.tcp.flags = flags;
	p.tcp.doff = 20;
	p.payload_len = len;
	p.l3_hdr_len = 20;
	p.l4_offset = 20;
	p.l4_len = 20 + len;
	p.ip_len = p.wire_len = 40 + len;
	p.complete = true;
	p.ttl = 64;
	return p;
}

static void
flood_run(uint32_t max, uint8_t flood_flags, uint32_t flood_per_s, double *admitted_pct,
    double *est_pct)
{
	const uint32_t cli = 0xc6336402, srv = 0xcb007105;      /* 198.51.100.2, 203.0.113.5 */
	const uint32_t ticks = 100, seconds = 2, nest = 20, new_per_tick = 1;
	struct ctg_tracker *t = tracker_new(max);
	struct ctg_track_result r;
	struct ctg_packet p;
	uint32_t sent[20], spoof = 0, tried = 0, admitted = 0, est = 0, est_ok = 0;
	uint64_t now = 1000000;

	for (uint32_t k = 0; k < nest; k++) {
		uint16_t cp = (uint16_t)(30000 + k);

		p = flood_pkt(cli, cp, srv, 80, CTG_TH_SYN, 1000, 0, 0);
		ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
		p = flood_pkt(srv, 80, cli, cp, CTG_TH_SYN | CTG_TH_ACK, 5000, 1001, 0);
		ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
		p = flood_pkt(cli, cp, srv, 80, CTG_TH_ACK, 1001, 5001, 0);
		ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
		sent[k] = 1001;
	}
	for (uint32_t tick = 0; tick < seconds * ticks; tick++) {
		for (uint32_t j = 0; j < flood_per_s / ticks; j++, spoof++) {
			p = flood_pkt(0x64400000u | (spoof & 0x3fffff), (uint16_t)(1024 + spoof % 60000),
			    cli, 22, flood_flags, spoof * 7919u, spoof * 104729u, 0);
			ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
		}
		for (uint32_t k = 0; k < nest; k++) {
			uint16_t cp = (uint16_t)(30000 + k);

			p = flood_pkt(cli, cp, srv, 80, CTG_TH_ACK | CTG_TH_PSH, sent[k], 5001, 100);
			ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
			est++;
			est_ok += r.ctstate == CTG_CT_ESTABLISHED;
			if (r.conn)
				ctg_tracker_account(t, r.conn, r.dir, 140);
			sent[k] += 100;
			p = flood_pkt(srv, 80, cli, cp, CTG_TH_ACK, 5001, sent[k], 0);
			ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
			est++;
			est_ok += r.ctstate == CTG_CT_ESTABLISHED;
		}
		for (uint32_t j = 0; j < new_per_tick; j++, tried++) {
			uint16_t cp = (uint16_t)(40000 + tried % 20000);

			p = flood_pkt(cli, cp, srv, 80, CTG_TH_SYN, 1000, 0, 0);
			ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
			if (r.ctstate != CTG_CT_NEW)
				continue;
			p = flood_pkt(srv, 80, cli, cp, CTG_TH_SYN | CTG_TH_ACK, 5000, 1001, 0);
			ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
			if (r.ctstate != CTG_CT_ESTABLISHED)
				continue;
			p = flood_pkt(cli, cp, srv, 80, CTG_TH_ACK, 1001, 5001, 0);
			ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
			admitted += r.ctstate == CTG_CT_ESTABLISHED;
		}
		now += 1000000 / ticks;
	}
	*admitted_pct = 100.0 * admitted / tried;
	*est_pct = 100.0 * est_ok / est;
	ctg_tracker_free(t);
}

static void
bench_flood(void)
{
	static const uint32_t sizes[] = { 1000, 262144 };
	double base_new, base_est, new_pct, est_pct;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint32_t n = sizes[k];

		flood_run(n, CTG_TH_ACK, 0, &base_new, &base_est);
		flood_run(n, CTG_TH_ACK, 5 * n, &new_pct, &est_pct);
		printf("METRIC flood_ack_%u_new_admitted %.1f %% (without flood %.1f)\n", n,
		    new_pct, base_new);
		printf("METRIC flood_ack_%u_established_passed %.1f %% (without flood %.1f)\n", n,
		    est_pct, base_est);
		flood_run(n, CTG_TH_SYN, 5 * n, &new_pct, &est_pct);
		printf("METRIC flood_syn_%u_new_admitted %.1f %% (without flood %.1f)\n", n,
		    new_pct, base_new);
		printf("METRIC flood_syn_%u_established_passed %.1f %% (without flood %.1f)\n", n,
		    est_pct, base_est);
	}
}

static void
bench_tables(void)
{
	static const uint32_t sizes[] = { 1000, 100000, 1000000 };
	const uint32_t nlook = 2000000;
	struct ctg_track_result res;
	struct ctg_tracker_stats st;
	struct ctg_packet pk;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint32_t n = sizes[k];
		struct ctg_tracker *t;
		struct ctg_tuple *tu;
		uint8_t *raw;
		long rss0 = rss_kb();
		uint64_t now = 1000000, hits = 0;
		double t0, dt_look, dt_track;
		uint8_t dir;

		/* exactly n slots: the table must hold n live connections at full fill */
		t = tracker_new_share(n, 100);
		for (uint32_t i = 0; i < n; i++) {
			udp_flow_packet(i, false, &pk, NULL);
			ctg_tracker_packet(t, &pk, CTG_R_NONE, now++, &res);
			if (res.conn)
				ctg_tracker_account(t, res.conn, res.dir, 68);
		}
		ctg_tracker_stats(t, &st);
		if (n == 1000000) {
			printf("METRIC tracker_bytes_per_conn %zu bytes\n",
			    ctg_tracker_bytes_per_entry(t));
			printf("METRIC tracker_memory_1m %.1f MiB\n",
			    (double)ctg_tracker_memory(t) / 1048576.0);
			printf("METRIC tracker_rss_1m %.1f MiB\n",
			    (double)(rss_kb() - rss0) / 1024.0);
			printf("METRIC tracker_live_1m %u conns\n", st.live);
			printf("METRIC tracker_1m_fits %d bool\n",
			    st.live == 1000000 && st.evicted == 0 && st.refused == 0);
		}
		if (n >= 100000)
			bench_checkpoint(t, n);
		/*
		 * Keys in random order but read sequentially, so the figure is
		 * the table's cost, not a cache miss on the key array.
		 */
		tu = malloc((size_t)nlook * sizeof(*tu));
		raw = malloc((size_t)nlook * 32);
		if (tu == NULL || raw == NULL) {
			perror("bench_tracker: malloc");
			exit(1);
		}
		for (uint32_t i = 0; i < nlook; i++) {
			uint32_t f = (uint32_t)(rng() % n);

			udp_flow_packet(f, false, &pk, NULL);
			tu[i] = pk.tuple;
			udp_flow_packet(f, true, &pk, raw + (size_t)i * 32);
		}
		t0 = now_s();
		for (uint32_t i = 0; i < nlook; i++)
			hits += ctg_tracker_lookup(t, &tu[i], &dir) != NULL;
		dt_look = now_s() - t0;
		if (hits != nlook) {
			fprintf(stderr, "bench_tracker: %" PRIu64 " of %u lookups hit\n",
			    hits, nlook);
			exit(1);
		}
		/* a reply packet of a random live flow: decode and track it */
		t0 = now_s();
		for (uint32_t i = 0; i < nlook; i++) {
			const uint8_t *r = raw + (size_t)i * 32;
			enum ctg_reason dr = ctg_decode_ip(&pk, r, 28, 68);

			ctg_tracker_packet(t, &pk, dr, now++, &res);
			if (res.conn)
				ctg_tracker_account(t, res.conn, res.dir, 68);
		}
		dt_track = now_s() - t0;
		printf("METRIC lookup_ns_%u %.1f ns\n", n, dt_look / nlook * 1e9);
		printf("METRIC track_existing_ns_%u %.1f ns\n", n, dt_track / nlook * 1e9);
		ctg_tracker_free(t);
		free(tu);
		free(raw);
	}
}

int
main(int argc, char **argv)
{
	struct ctg_tracker_stats st;
	struct stream s = { 0 };
	uint64_t npkts = 4000000;
	uint32_t slots = 20000;
	const char *pcap = NULL;
	double full[9], dec[9], trk[9], pipe[9], t0;
	const char *rules_path = NULL;
	uint64_t pipe_accepted = 0;
	int rounds = 3, c;
	bool quick = false, tables = true, mixed = true;

	while ((c = getopt(argc, argv, "n:s:r:w:qTMP:")) != -1) {
		switch (c) {
		case 'n': npkts = strtoull(optarg, NULL, 10); break;
		case 's': slots = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': rounds = atoi(optarg); break;
		case 'w': pcap = optarg; break;
		case 'q': quick = true; break;
		case 'T': tables = false; break;
		case 'M': mixed = false; break;
		case 'P': rules_path = optarg; break;
		default:
			fprintf(stderr, "usage: bench_tracker [-n PACKETS] [-s SLOTS] "
			    "[-r ROUNDS] [-w PCAP] [-q] [-T | -M] [-P RULES]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 9 || slots < 1 || npkts < 1) {
		fprintf(stderr, "bench_tracker: bad -r/-s/-n\n");
		return 2;
	}
	if (!mixed) {
		bench_tables();
		bench_flood();
		return 0;
	}
	t0 = now_s();
	build_stream(&s, npkts, slots);
	fprintf(stderr, "bench_tracker: stream of %" PRIu64 " packets, %" PRIu64
	    " flows (tcp4 %" PRIu64 " tcp6 %" PRIu64 " udp %" PRIu64 " icmp %"
	    PRIu64 " pkts) built in %.2f s\n", s.npkts, s.nflows, s.kind_pkts[0],
	    s.kind_pkts[1], s.kind_pkts[2], s.kind_pkts[3], now_s() - t0);
	if (pcap) {
		write_pcap(pcap, &s);
		printf("METRIC stream_packets %" PRIu64 " packets\n", s.npkts);
		return 0;
	}
	if (quick) {
		struct ctg_tracker *t = tracker_new(1u << 21);

		sink = run_full(t, &s);
		printf("METRIC stream_packets %" PRIu64 " packets\n", s.npkts);
		ctg_tracker_free(t);
		return 0;
	}
	for (int i = 0; i < rounds; i++) {
		struct ctg_tracker *t = tracker_new(1u << 21);
		uint64_t inval;

		t0 = now_s();
		inval = run_full(t, &s);
		full[i] = now_s() - t0;
		ctg_tracker_stats(t, &st);
		if (inval != 0) {
			fprintf(stderr, "bench_tracker: %" PRIu64 " packets of the "
			    "synthetic stream were INVALID (generator or tracker bug)\n",
			    inval);
			return 1;
		}
		ctg_tracker_free(t);
		t = tracker_new(1u << 21);
		trk[i] = run_track_only(t, &s);
		ctg_tracker_free(t);
		dec[i] = run_decode(&s);
		if (rules_path)
			pipe[i] = run_pipeline(&s, rules_path, &pipe_accepted);
	}
	printf("METRIC stream_packets %" PRIu64 " packets\n", s.npkts);
	printf("METRIC stream_flows %" PRIu64 " flows\n", s.nflows);
	printf("METRIC stream_live_end %u conns\n", st.live);
	printf("METRIC stream_created %" PRIu64 " conns\n", st.created);
	printf("METRIC tracker_decode_track_mpps %.2f Mpps\n",
	    (double)s.npkts / median(full, rounds) / 1e6);
	printf("METRIC tracker_decode_track_mpps_min %.2f Mpps\n",
	    (double)s.npkts / full[rounds - 1] / 1e6);
	printf("METRIC tracker_decode_track_mpps_max %.2f Mpps\n",
	    (double)s.npkts / full[0] / 1e6);
	if (rules_path) {
		printf("METRIC pipeline_mem_mpps %.2f Mpps\n",
		    (double)s.npkts / median(pipe, rounds) / 1e6);
		printf("METRIC pipeline_mem_accepted %" PRIu64 " packets\n", pipe_accepted);
	}
	printf("METRIC tracker_only_mpps %.2f Mpps\n",
	    (double)s.npkts / median(trk, rounds) / 1e6);
	printf("METRIC tracker_only_mpps_min %.2f Mpps\n",
	    (double)s.npkts / trk[rounds - 1] / 1e6);
	printf("METRIC tracker_only_mpps_max %.2f Mpps\n",
	    (double)s.npkts / trk[0] / 1e6);
	printf("METRIC decode_only_mpps %.2f Mpps\n",
	    (double)s.npkts / median(dec, rounds) / 1e6);
	fflush(stdout);
	if (tables) {
		bench_tables();
		bench_flood();
	}
	free(s.buf);
	return 0;
}
