/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test kit shared by the tracker test programs: see trackerkit.h.
 */
#include <check.h>
#include <string.h>

#include <netinet/in.h>

#include "ctguard/tracker.h"
#include "trackerkit.h"

struct ctg_tracker *trk;
uint64_t now;
uint16_t cport = 40000;
struct ctg_conn_record ends[MAX_ENDS];
int nends;
uint64_t seed_salt;

static void
on_end(void *arg, const struct ctg_conn *c, const struct ctg_conn_record *rec)
{
	(void)arg;
	(void)c;
	ck_assert_int_lt(nends, MAX_ENDS);
	ends[nends++] = *rec;
}

void
default_timeouts(struct ctg_timeouts *to)
{
	memset(to, 0, sizeof(*to));
	to->tcp_syn_sent = 120;
	to->tcp_syn_rcvd = 60;
	to->tcp_established = 432000;
	to->tcp_fin_wait = 120;
	to->tcp_close_wait = 60;
	to->tcp_last_ack = 30;
	to->tcp_time_wait = 120;
	to->tcp_close = 10;
	to->tcp_unacked = 300;
	to->tcp_retrans = 300;
	to->udp_unreplied = 30;
	to->udp_replied = 120;
	to->udp_assured = 180;
	to->icmp = 30;
	to->other = 600;
}

void
base_config(struct ctg_tracker_config *tc, uint32_t max, enum ctg_midstream ms)
{
	memset(tc, 0, sizeof(*tc));
	tc->max_connections = max;
	tc->midstream = ms;
	default_timeouts(&tc->timeouts);
	/* no budget for unanswered entries unless a test sets one */
	tc->unanswered_pct = 100;
}

/* Every tracker gets the fixture's end callback and hash seed. */
static struct ctg_tracker *
new_tracker(struct ctg_tracker_config *tc)
{
	struct ctg_tracker *t;

	tc->hash_seed[0] = 0x0123456789abcdefULL ^ seed_salt;
	tc->hash_seed[1] = 0xfedcba9876543210ULL;
	t = ctg_tracker_new(tc, on_end, NULL);
	ck_assert_ptr_nonnull(t);
	return t;
}

struct ctg_tracker *
make_tracker(uint32_t max, enum ctg_midstream ms, uint64_t id_base)
{
	struct ctg_tracker_config tc;

	base_config(&tc, max, ms);
	tc.id_base = id_base;
	return new_tracker(&tc);
}

struct ctg_tracker *
make_tracker_cfg(const struct ctg_tracker_config *base)
{
	struct ctg_tracker_config tc = *base;

	tc.id_base = 1;
	return new_tracker(&tc);
}

void
setup(void)
{
	now = T0;
	cport = 40000;
	nends = 0;
	seed_salt = 0;
	trk = make_tracker(1024, CTG_MIDSTREAM_STRICT, 1);
}

void
teardown(void)
{
	ctg_tracker_free(trk);
	trk = NULL;
}

void
reset_tracker(uint32_t max, enum ctg_midstream ms)
{
	ctg_tracker_free(trk);
	trk = make_tracker(max, ms, 1);
}

void
reset_tracker_cfg(const struct ctg_tracker_config *tc)
{
	ctg_tracker_free(trk);
	trk = make_tracker_cfg(tc);
}

struct ctg_addr
v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct ctg_addr x;

	memset(&x, 0, sizeof(x));
	x.b[0] = a;
	x.b[1] = b;
	x.b[2] = c;
	x.b[3] = d;
	return x;
}

struct ctg_tuple
flow(int dir, uint8_t proto, uint16_t cp, uint16_t sp)
{
	struct ctg_tuple tp;

	memset(&tp, 0, sizeof(tp));
	tp.family = 4;
	tp.proto = proto;
	if (dir == 0) {
		tp.src = v4(198, 51, 100, 2);
		tp.dst = v4(203, 0, 113, 5);
		tp.sport = cp;
		tp.dport = sp;
	} else {
		tp.src = v4(203, 0, 113, 5);
		tp.dst = v4(198, 51, 100, 2);
		tp.sport = sp;
		tp.dport = cp;
	}
	return tp;
}

struct ctg_packet
tcp_pkt(int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
    uint32_t len)
{
	struct ctg_packet p;

	memset(&p, 0, sizeof(p));
	p.tuple = flow(dir, IPPROTO_TCP, cport, 80);
	p.tcp.seq = seq;
	p.tcp.ack = ack;
	p.tcp.window = win;
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

void
ts(struct ctg_packet *p, uint32_t tsval, uint32_t tsecr)
{
	p->tcp.opt.has_timestamp = true;
	p->tcp.opt.tsval = tsval;
	p->tcp.opt.tsecr = tsecr;
}

void
wscale(struct ctg_packet *p, uint8_t ws)
{
	p->tcp.opt.has_wscale = true;
	p->tcp.opt.wscale = ws;
	p->tcp.opt.wscale_raw = ws;
}

struct ctg_packet
udp_pkt(int dir, uint32_t len)
{
	struct ctg_packet p;

	memset(&p, 0, sizeof(p));
	p.tuple = flow(dir, IPPROTO_UDP, cport, 53);
	p.payload_len = len;
	p.udp.length = (uint16_t)(8 + len);
	p.l4_len = 8 + len;
	p.ip_len = 28 + len;
	p.wire_len = p.ip_len;
	p.complete = true;
	return p;
}

struct ctg_packet
icmp_echo(int dir, bool reply, uint16_t id)
{
	struct ctg_packet p;

	memset(&p, 0, sizeof(p));
	p.tuple = flow(dir, IPPROTO_ICMP, id, 0);
	/* queries carry (id, 0) in both directions */
	p.tuple.sport = id;
	p.tuple.dport = 0;
	p.icmp.type = reply ? 0 : 8;
	p.icmp.is_query = true;
	p.icmp.is_reply = reply;
	p.icmp.echo_id = id;
	p.icmp.echo_seq = 1;
	p.ip_len = 84;
	p.wire_len = 84;
	p.complete = true;
	return p;
}

/* An unreachable from router 192.0.2.1 to dst, quoting inner (TCP, seq). */
struct ctg_packet
icmp_error(struct ctg_addr dst, const struct ctg_tuple *inner, uint32_t seq)
{
	struct ctg_packet p;

	memset(&p, 0, sizeof(p));
	p.tuple.family = 4;
	p.tuple.proto = IPPROTO_ICMP;
	p.tuple.src = v4(192, 0, 2, 1);
	p.tuple.dst = dst;
	p.icmp.type = 3;
	p.icmp.code = 1;
	p.icmp.is_error = true;
	p.icmp.inner = *inner;
	p.icmp.inner_tcp_seq = seq;
	p.icmp.inner_has_seq = true;
	p.ip_len = 56;
	p.wire_len = 56;
	p.complete = true;
	return p;
}

/* Classify without the accept that follows in the daemon. */
struct ctg_track_result
classify(const struct ctg_packet *p)
{
	return classify_in(trk, p);
}

struct ctg_track_result
classify_in(struct ctg_tracker *t, const struct ctg_packet *p)
{
	struct ctg_track_result r;

	ctg_tracker_packet(t, p, CTG_R_NONE, now, &r);
	return r;
}

/* Classify with the decoder's verdict, then account unless INVALID. */
struct ctg_track_result
run_dec(const struct ctg_packet *p, enum ctg_reason decode)
{
	struct ctg_track_result r;

	ctg_tracker_packet(trk, p, decode, now, &r);
	if (r.ctstate != CTG_CT_INVALID && r.conn)
		ctg_tracker_account(trk, r.conn, r.dir, p->ip_len);
	return r;
}

struct ctg_track_result
run(const struct ctg_packet *p)
{
	return run_dec(p, CTG_R_NONE);
}

struct ctg_track_result
seg(int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
    uint32_t len)
{
	struct ctg_packet p = tcp_pkt(dir, flags, seq, ack, win, len);

	return run(&p);
}

struct ctg_conn *
find(uint8_t proto, uint16_t cp, uint16_t sp)
{
	struct ctg_tuple tp = flow(0, proto, cp, sp);
	uint8_t dir;

	return ctg_tracker_lookup(trk, &tp, &dir);
}

struct ctg_conn *
find_tcp(void)
{
	return find(IPPROTO_TCP, cport, 80);
}

size_t
sweep_all(void)
{
	return ctg_tracker_sweep(trk, now, 1u << 20);
}

struct ctg_tracker_stats
stats(void)
{
	struct ctg_tracker_stats st;

	ctg_tracker_stats(trk, &st);
	return st;
}

/* Full handshake, window 65535 both ways, no options. */
struct ctg_conn *
handshake(void)
{
	struct ctg_track_result r;

	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	return r.conn;
}

/* Handshake carrying timestamps: client tsval from 100, server from 900. */
void
handshake_ts(void)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	ts(&p, 100, 0);
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ts(&p, 900, 100);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ts(&p, 101, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}

/* Both sides sent SYNs that crossed (SYN_SENT / SYN_SENT). */
void
simultaneous_syns(void)
{
	struct ctg_track_result r;

	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	r = seg(1, CTG_TH_SYN, SISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SIMULTANEOUS_OPEN);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_SENT);
}

