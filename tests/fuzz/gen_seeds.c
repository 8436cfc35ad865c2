/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes the seed corpora of the tracker, snapshot, sync and link-layer fuzzers:
 *   gen_seeds DIR   writes DIR/tracker/NAME.seq, DIR/snapshot/NAME.snap,
 *                   DIR/syncmsg/NAME-*.msg and DIR/linkoff/NAME.bin
 * The tracker seeds are packet sequences in trackseq.h's format; the
 * snapshot seeds are what ctg_tracker_save writes after running them, so
 * they are real snapshots (of struct ctg_conn as this build lays it out).
 * Regenerate (make tests/fuzz/gen_seeds; ./tests/fuzz/gen_seeds
 * ../tests/fuzz/corpus) when the sequence format or the snapshot changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ctguard/syncmsg.h"
#include "trackseq.h"

static const char *outdir;

struct seq {
	uint8_t b[8192];
	size_t n;
};

static void
put(struct seq *s, const void *d, size_t len)
{
	if (s->n + len > sizeof(s->b))
		abort();
	if (len == 0)
		return;
	memcpy(s->b + s->n, d, len);
	s->n += len;
}

static void
put8(struct seq *s, uint8_t v)
{
	put(s, &v, 1);
}

/* --- packets --------------------------------------------------------------- */

static const uint8_t C4[4] = { 198, 51, 100, 2 }, S4[4] = { 203, 0, 113, 5 };
static const uint8_t C6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
static const uint8_t S6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 };

static void
be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
be32(uint8_t *p, uint32_t v)
{
	be16(p, v >> 16);
	be16(p + 2, v);
}

static size_t
ip4(uint8_t *p, int dir, uint8_t proto, size_t l4len)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	be16(p + 2, (uint32_t)(20 + l4len));
	be16(p + 4, 0x1234);
	be16(p + 6, 0x4000);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, dir ? S4 : C4, 4);
	memcpy(p + 16, dir ? C4 : S4, 4);
	return 20;
}

static size_t
ip6(uint8_t *p, int dir, uint8_t proto, size_t l4len)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	be16(p + 4, (uint32_t)l4len);
	p[6] = proto;
	p[7] = 64;
	memcpy(p + 8, dir ? S6 : C6, 16);
	memcpy(p + 24, dir ? C6 : S6, 16);
	return 40;
}

struct tcpseg {
	int v6, dir;
	uint16_t cport, sport;
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t win;
	uint16_t len;
};

static size_t
tcp(uint8_t *p, const struct tcpseg *t)
{
	static const uint8_t synopt[12] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1 };
	size_t opt = (t->flags & CTG_TH_SYN) ? sizeof(synopt) : 0;
	size_t l4 = 20 + opt + t->len;
	size_t h = t->v6 ? ip6(p, t->dir, IPPROTO_TCP, l4) : ip4(p, t->dir, IPPROTO_TCP, l4);
	uint8_t *q = p + h;

	memset(q, 0, l4);
	be16(q, t->dir ? t->sport : t->cport);
	be16(q + 2, t->dir ? t->cport : t->sport);
	be32(q + 4, t->seq);
	be32(q + 8, t->ack);
	q[12] = (uint8_t)(((20 + opt) / 4) << 4);
	q[13] = t->flags;
	be16(q + 14, t->win);
	memcpy(q + 20, synopt, opt);
	memset(q + 20 + opt, 'x', t->len);
	return h + l4;
}

static size_t
udp(uint8_t *p, int dir, uint16_t cport, uint16_t len)
{
	size_t h = ip4(p, dir, IPPROTO_UDP, 8u + len);

	be16(p + h, dir ? 53 : cport);
	be16(p + h + 2, dir ? cport : 53);
	be16(p + h + 4, 8u + len);
	be16(p + h + 6, 0);
	memset(p + h + 8, 'q', len);
	return h + 8 + len;
}

static size_t
echo(uint8_t *p, int dir, uint16_t id)
{
	size_t h = ip4(p, dir, IPPROTO_ICMP, 16);

	memset(p + h, 0, 16);
	p[h] = dir ? 0 : 8;
	be16(p + h + 4, id);
	be16(p + h + 6, 1);
	return h + 16;
}

/* Port unreachable from the server, quoting the client's segment q. */
static size_t
unreach(uint8_t *p, const uint8_t *q)
{
	size_t h = ip4(p, 1, IPPROTO_ICMP, 8 + 28);

	memset(p + h, 0, 8);
	p[h] = 3;
	p[h + 1] = 3;
	memcpy(p + h + 8, q, 28);
	return h + 36;
}

/* --- sequences ------------------------------------------------------------- */

static void
rec(struct seq *s, uint8_t dt, uint8_t ctl, const uint8_t *pkt, size_t len)
{
	if (len > 255)
		abort();
	put8(s, dt);
	put8(s, ctl);
	put8(s, (uint8_t)len);
	put(s, pkt, len);
}

static void
seg(struct seq *s, uint8_t dt, uint8_t ctl, struct tcpseg t)
{
	uint8_t p[256];

	rec(s, dt, ctl, p, tcp(p, &t));
}

static void
write_file(const char *sub, const char *name, const void *d, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, sub);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(d, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* The table as sync messages: its connections as updates and as a bulk, and their ends. */
static void
emit_sync(const char *name, struct ctg_tracker *t, uint64_t now)
{
	static uint8_t msg[CTG_SYNC_MSG_MAX];
	static struct ctg_conn_export ex[64];
	struct ctg_syncmsg_writer w;
	char fname[128];
	size_t n = ctg_tracker_export_slice(t, 0, 64, ex);

	for (unsigned type = CTG_SYNC_CONN_UPDATE; type <= CTG_SYNC_BULK_ENTRIES; type++) {
		if (type != CTG_SYNC_CONN_UPDATE && type != CTG_SYNC_BULK_ENTRIES &&
		    type != CTG_SYNC_CONN_END)
			continue;
		ctg_syncmsg_begin(&w, msg, sizeof(msg), type, now);
		for (size_t i = 0; i < n; i++) {
			struct ctg_sync_end e = { .queue = (uint16_t)(i % 2), .reason = CTG_END_CLOSED,
			    .tuple = ex[i].c.tuple, .id = ex[i].c.id };

			if (type == CTG_SYNC_CONN_END)
				ctg_syncmsg_add_end(&w, &e);
			else
				ctg_syncmsg_add_conn(&w, (uint16_t)(i % 2), &ex[i]);
		}
		if (w.count == 0)
			continue;
		snprintf(fname, sizeof(fname), "%s-%s.msg", name, ctg_sync_type_name(type));
		write_file("syncmsg", fname, msg, ctg_syncmsg_finish(&w));
		/* the same, wanting an ack (active-active defer) */
		if (type == CTG_SYNC_BULK_ENTRIES)
			continue;
		ctg_syncmsg_want_ack(&w, (uint32_t)n);
		snprintf(fname, sizeof(fname), "%s-%s-ack.msg", name, ctg_sync_type_name(type));
		write_file("syncmsg", fname, msg, ctg_syncmsg_finish(&w));
	}
	/* and the acks a member answers with */
	ctg_syncmsg_begin(&w, msg, sizeof(msg), CTG_SYNC_DEFER_ACK, now);
	for (size_t i = 0; i < n; i++) {
		struct ctg_sync_ack a = { .node = (uint32_t)(i + 1), .token = (uint32_t)(n + i) };

		ctg_syncmsg_add_ack(&w, &a);
	}
	if (w.count) {
		snprintf(fname, sizeof(fname), "%s-%s.msg", name, ctg_sync_type_name(CTG_SYNC_DEFER_ACK));
		write_file("syncmsg", fname, msg, ctg_syncmsg_finish(&w));
	}
}

/* The sequence as a tracker seed, and the snapshot of its table as a snapshot seed. */
static void
emit(const char *name, const struct seq *s)
{
	struct trackseq ts;
	char fname[128];
	uint8_t *buf;
	off_t len;
	int fd;

	snprintf(fname, sizeof(fname), "%s.seq", name);
	write_file("tracker", fname, s->b, s->n);
	if (trackseq_run(&ts, s->b, s->n) < 0)
		abort();
	struct ctg_tracker_stats st;
	ctg_tracker_stats(ts.t, &st);
	printf("%-20s %3llu packets: %llu new %llu established %llu invalid; "
	    "%llu created, %llu evicted, %llu refused, %llu timed out, %u live\n", name,
	    (unsigned long long)st.packets, (unsigned long long)st.ctstate[CTG_CT_NEW],
	    (unsigned long long)st.ctstate[CTG_CT_ESTABLISHED],
	    (unsigned long long)st.ctstate[CTG_CT_INVALID], (unsigned long long)st.created,
	    (unsigned long long)st.evicted, (unsigned long long)st.refused,
	    (unsigned long long)st.ended[CTG_END_TIMEOUT], st.live);
	if ((fd = memfd_create("snap", 0)) < 0 || ctg_tracker_save(ts.t, fd, ts.now) != 0)
		abort();
	len = lseek(fd, 0, SEEK_END);
	if (len <= 0 || (buf = malloc((size_t)len)) == NULL ||
	    pread(fd, buf, (size_t)len, 0) != len)
		abort();
	snprintf(fname, sizeof(fname), "%s.snap", name);
	write_file("snapshot", fname, buf, (size_t)len);
	free(buf);
	close(fd);
	emit_sync(name, ts.t, ts.now);
	trackseq_free(&ts);
}

static void
tcp_lifecycle(void)
{
	struct seq s = { .n = 0 };
	const uint32_t c = 1000, v = 5000;

	put8(&s, TSQ_MAX(16));
	seg(&s, 0, 0, (struct tcpseg){ 0, 0, 40000, 80, CTG_TH_SYN, c, 0, 64240, 0 });
	seg(&s, 3, 0, (struct tcpseg){ 0, 1, 40000, 80, CTG_TH_SYN | CTG_TH_ACK, v, c + 1, 65160, 0 });
	seg(&s, 3, 0, (struct tcpseg){ 0, 0, 40000, 80, CTG_TH_ACK, c + 1, v + 1, 502, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 40000, 80, CTG_TH_ACK | CTG_TH_PSH, c + 1, v + 1, 502, 100 });
	seg(&s, 3, 0, (struct tcpseg){ 0, 1, 40000, 80, CTG_TH_ACK, v + 1, c + 101, 509, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 1, 40000, 80, CTG_TH_ACK | CTG_TH_PSH, v + 1, c + 101, 509, 200 });
	/* a retransmission of the same data */
	seg(&s, 9, 0, (struct tcpseg){ 0, 1, 40000, 80, CTG_TH_ACK | CTG_TH_PSH, v + 1, c + 101, 509, 200 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 40000, 80, CTG_TH_ACK, c + 101, v + 201, 501, 0 });
	seg(&s, 2, 0, (struct tcpseg){ 0, 0, 40000, 80, CTG_TH_FIN | CTG_TH_ACK, c + 101, v + 201, 501, 0 });
	seg(&s, 2, 0, (struct tcpseg){ 0, 1, 40000, 80, CTG_TH_FIN | CTG_TH_ACK, v + 201, c + 102, 509, 0 });
	seg(&s, 2, TSQ_SWEEP, (struct tcpseg){ 0, 0, 40000, 80, CTG_TH_ACK, c + 102, v + 202, 501, 0 });
	/* and a second connection left open */
	seg(&s, 5, 0, (struct tcpseg){ 0, 0, 40001, 443, CTG_TH_SYN, 77, 0, 64240, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 1, 40001, 443, CTG_TH_SYN | CTG_TH_ACK, 99, 78, 65160, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 40001, 443, CTG_TH_ACK, 78, 100, 502, 0 });
	emit("tcp4-lifecycle", &s);
}

static void
tcp6_reset_reopen(void)
{
	struct seq s = { .n = 0 };

	put8(&s, TSQ_MAX(4));
	seg(&s, 0, 0, (struct tcpseg){ 1, 0, 50000, 22, CTG_TH_SYN, 10, 0, 64800, 0 });
	seg(&s, 2, 0, (struct tcpseg){ 1, 1, 50000, 22, CTG_TH_SYN | CTG_TH_ACK, 20, 11, 64800, 0 });
	seg(&s, 2, 0, (struct tcpseg){ 1, 0, 50000, 22, CTG_TH_ACK, 11, 21, 500, 0 });
	seg(&s, 2, 0, (struct tcpseg){ 1, 0, 50000, 22, CTG_TH_ACK | CTG_TH_PSH, 11, 21, 500, 30 });
	seg(&s, 2, 0, (struct tcpseg){ 1, 1, 50000, 22, CTG_TH_RST, 21, 0, 0, 0 });
	/* the same tuple again: the closed entry gives way */
	seg(&s, 20, 0, (struct tcpseg){ 1, 0, 50000, 22, CTG_TH_SYN, 9000, 0, 64800, 0 });
	seg(&s, 2, 0, (struct tcpseg){ 1, 1, 50000, 22, CTG_TH_RST | CTG_TH_ACK, 0, 9001, 0, 0 });
	/* a SYN the server answers, then silence */
	seg(&s, 2, 0, (struct tcpseg){ 1, 0, 50001, 22, CTG_TH_SYN, 4, 0, 64800, 0 });
	seg(&s, 2, 0, (struct tcpseg){ 1, 1, 50001, 22, CTG_TH_SYN | CTG_TH_ACK, 8, 5, 64800, 0 });
	emit("tcp6-reset-reopen", &s);
}

static void
datagrams(void)
{
	struct seq s = { .n = 0 };
	uint8_t p[256], q[256];
	size_t n;

	put8(&s, TSQ_MAX(8) | TSQ_SHORT);
	rec(&s, 0, 0, p, udp(p, 0, 33000, 30));
	rec(&s, 1, 0, p, udp(p, 1, 33000, 90));
	rec(&s, 1, 0, p, udp(p, 0, 33000, 30));
	rec(&s, 1, 0, p, echo(p, 0, 7));
	rec(&s, 1, 0, p, echo(p, 1, 7));
	/* a reply nobody asked for */
	rec(&s, 1, 0, p, echo(p, 1, 8));
	n = tcp(q, &(struct tcpseg){ 0, 0, 41000, 25, CTG_TH_SYN, 300, 0, 64240, 0 });
	rec(&s, 1, 0, q, n);
	rec(&s, 1, 0, p, unreach(p, q));
	/* a UDP flow that the sweep ends */
	rec(&s, 1, 0, p, udp(p, 0, 33001, 10));
	rec(&s, 60, TSQ_SWEEP, p, udp(p, 0, 33002, 10));
	rec(&s, 0, TSQ_SWEEP, p, udp(p, 0, 33003, 10));
	emit("datagrams", &s);
}

static void
eviction(void)
{
	struct seq s = { .n = 0 };

	put8(&s, TSQ_MAX(2));
	seg(&s, 0, 0, (struct tcpseg){ 0, 0, 42000, 80, CTG_TH_SYN, 1, 0, 1000, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 1, 42000, 80, CTG_TH_SYN | CTG_TH_ACK, 9, 2, 1000, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 42000, 80, CTG_TH_ACK, 2, 10, 1000, 0 });
	for (uint16_t port = 42001; port < 42006; port++)
		seg(&s, 1, port == 42003 ? TSQ_REFUSE : 0,
		    (struct tcpseg){ 0, 0, port, 80, CTG_TH_SYN, port, 0, 1000, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 1, 42005, 80, CTG_TH_SYN | CTG_TH_ACK, 3, 42006, 1000, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 42005, 80, CTG_TH_ACK, 42006, 4, 1000, 0 });
	/* both entries established: the next one is refused */
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 42010, 80, CTG_TH_SYN, 5, 0, 1000, 0 });
	emit("eviction", &s);
}

static void
midstream(void)
{
	struct seq s = { .n = 0 };

	put8(&s, TSQ_LOOSE | TSQ_MAX(4) | TSQ_ADAPTIVE);
	seg(&s, 0, TSQ_PROFILE(3), (struct tcpseg){ 0, 0, 43000, 993, CTG_TH_ACK | CTG_TH_PSH, 7000, 8000, 300, 40 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 1, 43000, 993, CTG_TH_ACK, 8000, 7040, 300, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 1, 43000, 993, CTG_TH_ACK | CTG_TH_PSH, 8000, 7040, 300, 100 });
	seg(&s, 1, TSQ_KILL, (struct tcpseg){ 0, 0, 43000, 993, CTG_TH_ACK, 7040, 8100, 300, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 43001, 993, CTG_TH_ACK, 1, 1, 300, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 43002, 993, CTG_TH_FIN | CTG_TH_ACK, 1, 1, 300, 0 });
	seg(&s, 1, 0, (struct tcpseg){ 0, 0, 43003, 993, CTG_TH_ACK, 1, 1, 300, 0 });
	emit("midstream-adaptive", &s);
}

/* --- link layer ------------------------------------------------------------ */

static void
linkoff(const char *name, uint8_t sel, const uint8_t *hdr, size_t hlen, int v6)
{
	struct seq s = { .n = 0 };
	uint8_t p[256];
	size_t n = tcp(p, &(struct tcpseg){ v6, 0, 40000, 80, CTG_TH_SYN, 1, 0, 1000, 0 });

	put8(&s, sel);
	put8(&s, 0);
	put(&s, hdr, hlen);
	put(&s, p, n);
	write_file("linkoff", name, s.b, s.n);
}

static void
link_seeds(void)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00 };
	static const uint8_t vlan6[22] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xa8,
		0, 10, 0x81, 0x00, 0, 20, 0x86, 0xdd };
	static const uint8_t arp[14] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06 };
	static const uint8_t sll[16] = { 0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, 0x86, 0xdd };
	static const uint8_t sll2[20] = { 0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0 };
	static const uint8_t null4[4] = { 2, 0, 0, 0 };
	static const uint8_t loop6[4] = { 0, 0, 0, 30 };
	static const uint8_t other[2] = { 147, 0 };     /* link type 147 (DLT_USER0), pad 0 */

	linkoff("en10mb-ipv4.bin", 0, eth, sizeof(eth), 0);
	linkoff("en10mb-qinq-ipv6.bin", 0, vlan6, sizeof(vlan6), 1);
	linkoff("en10mb-arp.bin", 0, arp, sizeof(arp), 0);
	linkoff("raw-ipv4.bin", 1, NULL, 0, 0);
	linkoff("ipv6.bin", 3, NULL, 0, 1);
	linkoff("sll-ipv6.bin", 4, sll, sizeof(sll), 1);
	linkoff("sll2-ipv4.bin", 5, sll2, sizeof(sll2), 0);
	linkoff("null-ipv4.bin", 6, null4, sizeof(null4), 0);
	linkoff("loop-ipv6.bin", 7, loop6, sizeof(loop6), 1);
	linkoff("unsupported.bin", 8, other, sizeof(other), 0);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	tcp_lifecycle();
	tcp6_reset_reopen();
	datagrams();
	eviction();
	midstream();
	link_seeds();
	/* an empty table's snapshot */
	struct seq s = { .n = 0 };
	put8(&s, TSQ_MAX(2));
	emit("empty", &s);
	return 0;
}
