/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * State sync: the wire format (round trip, every truncation, every bad
 * field refused, the 64 KiB bound) and the tracker's side (marks and the
 * dirty ring, end notes, apply and remove, a connection applied to another
 * table judged like the original, stale edges and their bounded
 * re-learning, an out-of-window RST still INVALID), and active/active:
 * the DEFER_ACK message and the ack flag, which packets a worker holds,
 * the merge per endpoint and a split connection's lasting re-learning.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "ctguard/syncmsg.h"
#include "ctguard/timeouts.h"
#include "ctguard/tracker.h"

#include "trackerkit.h"

static uint8_t buf[CTG_SYNC_MSG_MAX + 64];

static void
enable(struct ctg_tracker *t, uint32_t ring)
{
	ck_assert_int_eq(ctg_tracker_sync_enable(t, ring, 128, CTG_SYNC_CARRY_ALL), 0);
}

static void
sync_setup(void)
{
	setup();
	enable(trk, 1024);
}

/* Classify on t and account the packet as the daemon does after an accept. */
static struct ctg_track_result
run_on(struct ctg_tracker *t, const struct ctg_packet *p)
{
	struct ctg_track_result r = classify_in(t, p);

	if (r.ctstate != CTG_CT_INVALID && r.conn)
		ctg_tracker_account(t, r.conn, r.dir, p->ip_len);
	return r;
}

static uint32_t
ctg_tracker_stats_live(const struct ctg_tracker *t)
{
	struct ctg_tracker_stats st;

	ctg_tracker_stats(t, &st);
	return st.live;
}

/* A TCP connection with timestamps and data both ways, a UDP flow, an ICMP echo. */
static void
some_connections(void)
{
	struct ctg_packet p;

	handshake_ts();
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 1000);
	ts(&p, 102, 900);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 1001, WIN, 500);
	ts(&p, 901, 102);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = udp_pkt(0, 40);
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_NONE);
	p = udp_pkt(1, 80);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = icmp_echo(0, false, 77);
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_NONE);
}

static size_t
drain_all(struct ctg_tracker *t, struct ctg_conn_export *out, size_t max)
{
	size_t n = 0;

	while (n < max && ctg_tracker_sync_pending(t))
		n += ctg_tracker_sync_drain(t, out + n, max - n);
	return n;
}

static size_t
encode(const struct ctg_conn_export *e, size_t n, uint64_t at)
{
	struct ctg_syncmsg_writer w;

	ctg_syncmsg_begin(&w, buf, CTG_SYNC_MSG_MAX, CTG_SYNC_CONN_UPDATE, at);
	for (size_t i = 0; i < n; i++)
		ck_assert(ctg_syncmsg_add_conn(&w, (uint16_t)i, &e[i]));
	return ctg_syncmsg_finish(&w);
}

/* --- wire format ----------------------------------------------------------- */

START_TEST(test_roundtrip)
{
	struct ctg_conn_export ex[8], back;
	struct ctg_syncmsg m;
	char err[160];
	struct ctg_timeouts ovr;
	size_t n, len;

	some_connections();
	memset(&ovr, 0, sizeof(ovr));
	ovr.tcp_established = 77;
	ovr.udp_replied = 9;
	ck_assert_int_eq(ctg_tracker_set_timeouts(trk, find_tcp(), &ovr), 0);
	n = drain_all(trk, ex, 8);
	ck_assert_uint_eq(n, 3);
	now += 3 * SEC;
	len = encode(ex, n, now);
	ck_assert_uint_eq(len, CTG_SYNC_HDR_SIZE + 3 * CTG_SYNC_CONN_SIZE);
	ck_assert_msg(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m.type, CTG_SYNC_CONN_UPDATE);
	ck_assert_uint_eq(m.count, 3);
	ck_assert(m.now_us == now);
	for (unsigned i = 0; i < n; i++) {
		uint16_t q;

		/* rebuilt on the same clock: every byte as exported */
		ctg_syncmsg_conn(&m, i, now, &q, &back);
		ck_assert_uint_eq(q, i);
		ck_assert_msg(memcmp(&back.c, &ex[i].c, sizeof(back.c)) == 0, "entry %u differs", i);
		ck_assert(memcmp(&back.to, &ex[i].to, sizeof(back.to)) == 0);
		/* and on a clock 10 s later: the same ages */
		ctg_syncmsg_conn(&m, i, now + 10 * SEC, &q, &back);
		ck_assert(back.c.last_us == ex[i].c.last_us + 10 * SEC);
		ck_assert(back.c.first_us == ex[i].c.first_us + 10 * SEC);
	}
	ck_assert_uint_eq(ex[0].c.tuple.proto, IPPROTO_TCP);
	ck_assert_uint_eq(ex[0].to.tcp_established, 77);
	ck_assert_uint_eq(ex[0].c.peer[0].last_tsval, 102);
}
END_TEST

START_TEST(test_roundtrip_end_and_bulk_markers)
{
	struct ctg_syncmsg_writer w;
	struct ctg_sync_end e = { .queue = 3, .reason = CTG_END_KILLED, .id = 42 }, back;
	struct ctg_syncmsg m;
	char err[160];
	size_t len;

	e.tuple = flow(0, IPPROTO_TCP, 1234, 80);
	ctg_syncmsg_begin(&w, buf, CTG_SYNC_MSG_MAX, CTG_SYNC_CONN_END, T0);
	ck_assert(ctg_syncmsg_add_end(&w, &e));
	/* an end message takes no connection entry */
	ck_assert(!ctg_syncmsg_add_conn(&w, 0, &(struct ctg_conn_export){ 0 }));
	len = ctg_syncmsg_finish(&w);
	ck_assert_uint_eq(len, CTG_SYNC_HDR_SIZE + CTG_SYNC_END_SIZE);
	ck_assert_msg(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0, "%s", err);
	ctg_syncmsg_end(&m, 0, &back);
	ck_assert(memcmp(&back.tuple, &e.tuple, sizeof(e.tuple)) == 0);
	ck_assert_uint_eq(back.queue, 3);
	ck_assert_uint_eq(back.reason, CTG_END_KILLED);
	ck_assert(back.id == 42);

	for (unsigned type = CTG_SYNC_BULK_BEGIN; type <= CTG_SYNC_BULK_END; type += 2) {
		ctg_syncmsg_begin(&w, buf, CTG_SYNC_MSG_MAX, type, T0);
		len = ctg_syncmsg_finish(&w);
		ck_assert_uint_eq(len, CTG_SYNC_HDR_SIZE);
		ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0);
		ck_assert_uint_eq(m.type, type);
		ck_assert_uint_eq(m.count, 0);
	}
}
END_TEST

START_TEST(test_message_bound)
{
	struct ctg_conn_export ex[4];
	struct ctg_syncmsg_writer w;
	struct ctg_syncmsg m;
	char err[160];
	unsigned n = 0;
	size_t len;

	some_connections();
	ck_assert_uint_eq(drain_all(trk, ex, 4), 3);
	ctg_syncmsg_begin(&w, buf, sizeof(buf), CTG_SYNC_BULK_ENTRIES, now);
	while (ctg_syncmsg_add_conn(&w, 0, &ex[n % 3]))
		n++;
	len = ctg_syncmsg_finish(&w);
	ck_assert_uint_le(len, CTG_SYNC_MSG_MAX);
	ck_assert_uint_eq(n, (CTG_SYNC_MSG_MAX - CTG_SYNC_HDR_SIZE) / CTG_SYNC_CONN_SIZE);
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0);
	ck_assert_uint_eq(m.count, n);
	/* one byte more than the bound is refused before anything else */
	ck_assert(ctg_syncmsg_decode(buf, CTG_SYNC_MSG_MAX + 1, &m, err, sizeof(err)) < 0);
}
END_TEST

START_TEST(test_every_truncation)
{
	struct ctg_conn_export ex[4];
	struct ctg_syncmsg m;
	char err[160];
	size_t len;

	some_connections();
	len = encode(ex, drain_all(trk, ex, 4), now);
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_msg(ctg_syncmsg_decode(buf, cut, &m, err, sizeof(err)) < 0,
		    "%zu of %zu bytes accepted", cut, len);
	buf[len] = 0;
	ck_assert(ctg_syncmsg_decode(buf, len + 1, &m, err, sizeof(err)) < 0);
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0);
}
END_TEST

/* A one-entry message of the TCP connection; offsets are syncmsg.c's. */
static size_t
one_tcp_message(uint8_t *copy)
{
	struct ctg_conn_export ex[4];
	size_t len;

	handshake_ts();
	ck_assert_uint_eq(drain_all(trk, ex, 4), 1);
	len = encode(ex, 1, now + SEC);
	memcpy(copy, buf, len);
	return len;
}

struct bad {
	const char *what;
	size_t off;             /* from the message's start */
	unsigned width;         /* bytes written, big-endian */
	uint64_t value;
};

#define H CTG_SYNC_HDR_SIZE
static const struct bad bad_fields[] = {
	{ "magic", 0, 4, 0x43544754 },
	{ "version", 4, 1, 2 },
	{ "type 0", 5, 1, 0 },
	{ "type past the last", 5, 1, CTG_SYNC_TYPE_MAX + 1 },
	{ "end type over connection entries", 5, 1, CTG_SYNC_CONN_END },
	{ "begin type with entries", 5, 1, CTG_SYNC_BULK_BEGIN },
	{ "flags", 6, 2, 1 },
	{ "sender clock past 2^62", 8, 8, 1ULL << 62 },
	{ "count one more", 16, 2, 2 },
	{ "count zero", 16, 2, 0 },
	{ "entry size", 18, 2, CTG_SYNC_CONN_SIZE - 1 },
	{ "reserved", 20, 4, 1 },
	{ "family", H + 2, 1, 5 },
	{ "IPv4 source beyond 4 bytes", H + 8 + 5, 1, 1 },
	{ "IPv4 destination beyond 4 bytes", H + 24 + 15, 1, 1 },
	{ "proto_state", H + 42, 1, 3 },
	{ "action", H + 43, 1, CTG_ACT_REJECT + 1 },
	{ "rule index below -1", H + 44, 2, 0xfffe },
	{ "timeout class", H + 46, 1, CTG_TO_COUNT },
	{ "has_timeouts", H + 47, 1, 2 },
	{ "has_timeouts without timeouts", H + 47, 1, 1 },
	{ "id 0", H + 52, 8, 0 },
	{ "id past 2^62", H + 52, 8, 1ULL << 62 },
	{ "first seen after the sender's clock", H + 60, 8, T0 + 100 * SEC },
	{ "last seen before first seen", H + 68, 8, 0xffffffffffffULL },
	{ "originator state", H + 100 + 24, 1, CTG_TCPS_COUNT },
	{ "originator wscale", H + 100 + 25, 1, CTG_TCP_MAX_WSCALE + 1 },
	{ "originator SYN wscale", H + 100 + 26, 1, 15 },
	{ "originator retransmissions", H + 100 + 28, 1, 16 },
	{ "originator xflags", H + 100 + 29, 1, 16 },
	{ "responder state", H + 130 + 24, 1, 0xff },
	{ "responder wscale", H + 130 + 25, 1, 0xff },
	{ "responder SYN wscale", H + 130 + 26, 1, CTG_TCP_MAX_WSCALE + 1 },
	{ "responder retransmissions", H + 130 + 28, 1, 0x80 },
	{ "responder xflags", H + 130 + 29, 1, 0x10 },
	{ "timeout without has_timeouts", H + 176, 4, 30 },
	{ "last timeout without has_timeouts", H + 176 + 4 * (CTG_TO_COUNT - 1), 4, 1 },
};
#undef H

static void
put_be(uint8_t *p, unsigned width, uint64_t v)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

START_TEST(test_every_bad_field)
{
	uint8_t good[CTG_SYNC_HDR_SIZE + CTG_SYNC_CONN_SIZE], copy[sizeof(good)];
	struct ctg_syncmsg m;
	char err[160];
	size_t len = one_tcp_message(good);

	ck_assert_uint_eq(len, sizeof(good));
	ck_assert(ctg_syncmsg_decode(good, len, &m, err, sizeof(err)) == 0);
	for (size_t i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
		const struct bad *b = &bad_fields[i];

		memcpy(copy, good, len);
		put_be(copy + b->off, b->width, b->value);
		ck_assert_msg(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0,
		    "bad %s accepted", b->what);
		ck_assert(m.entries == NULL && m.count == 0);
	}
	/* the history must hold its NUL */
	memcpy(copy, good, len);
	memset(copy + CTG_SYNC_HDR_SIZE + 160, 'S', CTG_CONN_HISTORY);
	ck_assert(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0);
	/* a timeout out of range even with has_timeouts */
	memcpy(copy, good, len);
	copy[CTG_SYNC_HDR_SIZE + 47] = 1;
	put_be(copy + CTG_SYNC_HDR_SIZE + 176, 4, CTG_TIMEOUT_MAX_S + 1);
	ck_assert(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0);
	put_be(copy + CTG_SYNC_HDR_SIZE + 176, 4, CTG_TIMEOUT_MAX_S);
	ck_assert(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) == 0);
}
END_TEST

START_TEST(test_bad_end_fields)
{
	struct ctg_syncmsg_writer w;
	struct ctg_sync_end e = { .queue = 0, .reason = CTG_END_CLOSED, .id = 9 };
	uint8_t good[CTG_SYNC_HDR_SIZE + CTG_SYNC_END_SIZE], copy[sizeof(good)];
	struct ctg_syncmsg m;
	char err[160];
	const struct { size_t off; unsigned width; uint64_t v; } bads[] = {
		{ CTG_SYNC_HDR_SIZE + 2, 1, 0 },                /* family */
		{ CTG_SYNC_HDR_SIZE + 40, 8, 0 },               /* id */
		{ CTG_SYNC_HDR_SIZE + 48, 1, CTG_END_COUNT },   /* reason */
		{ CTG_SYNC_HDR_SIZE + 49, 1, 1 },               /* padding */
		{ 18, 2, CTG_SYNC_CONN_SIZE },                  /* entry size */
	};

	e.tuple = flow(1, IPPROTO_UDP, 5000, 53);
	ctg_syncmsg_begin(&w, good, sizeof(good), CTG_SYNC_CONN_END, T0);
	ck_assert(ctg_syncmsg_add_end(&w, &e));
	ck_assert(!ctg_syncmsg_add_end(&w, &e));        /* the buffer is full */
	ck_assert_uint_eq(ctg_syncmsg_finish(&w), sizeof(good));
	ck_assert(ctg_syncmsg_decode(good, sizeof(good), &m, err, sizeof(err)) == 0);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		memcpy(copy, good, sizeof(good));
		put_be(copy + bads[i].off, bads[i].width, bads[i].v);
		ck_assert_msg(ctg_syncmsg_decode(copy, sizeof(copy), &m, err, sizeof(err)) < 0,
		    "bad end field %zu accepted", i);
	}
}
END_TEST

/* Any single byte changed: refused, or decoded into an entry the tracker takes. */
START_TEST(test_any_byte_changed)
{
	uint8_t good[CTG_SYNC_HDR_SIZE + CTG_SYNC_CONN_SIZE], copy[sizeof(good)];
	struct ctg_tracker *t2 = make_tracker(4096, CTG_MIDSTREAM_STRICT, 1);
	size_t len = one_tcp_message(good);
	unsigned accepted = 0;

	enable(t2, 64);
	for (size_t off = 0; off < len; off++) {
		for (unsigned v = 0; v < 256; v += 37) {
			struct ctg_syncmsg m;
			struct ctg_conn_export e;
			char err[160];
			uint16_t q;

			memcpy(copy, good, len);
			copy[off] ^= (uint8_t)(v | 1);
			if (ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0)
				continue;
			accepted++;
			ctg_syncmsg_conn(&m, 0, now, &q, &e);
			/* taken, or refused for want of room; never half taken */
			if (ctg_tracker_apply(t2, &e, now) < 0)
				ck_assert_uint_eq(ctg_tracker_stats_live(t2), 4096);
		}
	}
	ck_assert_uint_gt(accepted, 0);
	ctg_tracker_free(t2);
}
END_TEST

/* --- the tracker's side ---------------------------------------------------- */

START_TEST(test_marks_once_per_drain)
{
	struct ctg_conn_export ex[8];
	struct ctg_tracker_sync_stats st;

	handshake();
	ck_assert_uint_eq(ctg_tracker_sync_urgent(trk), 1);     /* created, states moved: soon */
	for (int i = 0; i < 5; i++)
		EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0), CTG_CT_ESTABLISHED,
		    CTG_R_NONE);
	ck_assert_uint_eq(drain_all(trk, ex, 8), 1);
	ck_assert(!ctg_tracker_sync_urgent(trk));
	ctg_tracker_sync_stats(trk, &st);
	ck_assert_uint_eq(st.marked, 1);
	ck_assert_uint_eq(drain_all(trk, ex, 8), 0);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert(!ctg_tracker_sync_urgent(trk));       /* nothing moved: wait for the interval */
	ck_assert_uint_eq(drain_all(trk, ex, 8), 1);
}
END_TEST

START_TEST(test_max_updates_urgent)
{
	struct ctg_conn_export ex[2];

	ctg_tracker_free(trk);
	trk = make_tracker(64, CTG_MIDSTREAM_STRICT, 1);
	ck_assert_int_eq(ctg_tracker_sync_enable(trk, 16, 4, CTG_SYNC_CARRY_ALL), 0);
	handshake();
	drain_all(trk, ex, 2);
	for (int i = 0; i < 4; i++) {
		ck_assert(!ctg_tracker_sync_urgent(trk));
		EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0), CTG_CT_ESTABLISHED,
		    CTG_R_NONE);
	}
	ck_assert(!ctg_tracker_sync_urgent(trk));
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(ctg_tracker_sync_urgent(trk), 2);
}
END_TEST

/* A quarter of the largest window carried since marked: send now (GSO packets are big). */
START_TEST(test_bytes_urgent)
{
	struct ctg_conn_export ex[2];
	uint32_t seq = CISN + 1;

	handshake();
	drain_all(trk, ex, 2);
	for (int i = 0; i < 20; i++) {
		if (i == 10)
			ck_assert(!ctg_tracker_sync_urgent(trk));       /* 10 kB of a 64 kB window */
		EXPECT(seg(0, CTG_TH_ACK, seq, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
		seq += 1000;
	}
	ck_assert_uint_eq(ctg_tracker_sync_urgent(trk), 2);     /* 20 kB: now */
	ck_assert_uint_eq(drain_all(trk, ex, 2), 1);
	ck_assert(!ctg_tracker_sync_urgent(trk));
}
END_TEST

/* max_updates = 0 (the default): packets alone never hurry a send; a quarter window does. */
START_TEST(test_max_updates_off)
{
	struct ctg_conn_export ex[2];
	uint32_t seq = CISN + 1;

	ctg_tracker_free(trk);
	trk = make_tracker(64, CTG_MIDSTREAM_STRICT, 1);
	ck_assert_int_eq(ctg_tracker_sync_enable(trk, 16, 0, CTG_SYNC_CARRY_ALL), 0);
	handshake();
	drain_all(trk, ex, 2);
	for (int i = 0; i < 1000; i++) {
		EXPECT(seg(i & 1, CTG_TH_ACK, i & 1 ? SISN + 1 : CISN + 1, i & 1 ? CISN + 1 : SISN + 1,
		    WIN, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
		ck_assert_uint_lt(ctg_tracker_sync_urgent(trk), 2);     /* never "lagging" */
	}
	for (int i = 0; i < 20; i++) {
		EXPECT(seg(0, CTG_TH_ACK, seq, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
		seq += 1000;
	}
	ck_assert_uint_eq(ctg_tracker_sync_urgent(trk), 2);     /* 20 kB of a 64 kB window */
}
END_TEST

/*
 * The handshake sets the responder's edge from nothing to its ISN: a jump
 * of any size in the edges' sum, which is no lag (the state changes send
 * the entry soon anyway). Counted as lag, every new connection went out
 * 1 ms apart instead of 10: make bench config 7, 3,324 messages and 53% of
 * (4)'s connection rate.
 */
START_TEST(test_handshake_is_no_lag)
{
	ctg_tracker_free(trk);
	trk = make_tracker(64, CTG_MIDSTREAM_STRICT, 1);
	ck_assert_int_eq(ctg_tracker_sync_enable(trk, 16, 0, CTG_SYNC_CARRY_ALL), 0);
	const uint32_t sisn = SISN + 0x40000000u;       /* ISNs are random: far apart */

	EXPECT(seg(0, CTG_TH_SYN, CISN, 0, WIN, 0), CTG_CT_NEW, CTG_R_NONE);
	EXPECT(seg(1, CTG_TH_SYN | CTG_TH_ACK, sisn, CISN + 1, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, sisn + 1, WIN, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(ctg_tracker_sync_urgent(trk), 1);
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, sisn + 1, WIN, 100), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	EXPECT(seg(1, CTG_TH_ACK | CTG_TH_PSH, sisn + 1, CISN + 101, WIN, 100), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	ck_assert_uint_eq(ctg_tracker_sync_urgent(trk), 1);     /* soon, not now */
}
END_TEST

/*
 * A datagram flow has no edges to lag: however many packets pass, it waits
 * for the interval (one entry per interval, not a message every
 * max_updates packets: UDP 64 B through make bench config 7 was 40% of 4).
 */
START_TEST(test_datagram_waits_interval)
{
	struct ctg_conn_export ex[2];
	struct ctg_packet p;

	ctg_tracker_free(trk);
	trk = make_tracker(64, CTG_MIDSTREAM_STRICT, 1);
	ck_assert_int_eq(ctg_tracker_sync_enable(trk, 16, 4, CTG_SYNC_CARRY_ALL), 0);
	p = udp_pkt(0, 40);
	EXPECT(run_on(trk, &p), CTG_CT_NEW, CTG_R_NONE);
	ck_assert_uint_eq(ctg_tracker_sync_urgent(trk), 1);     /* a new flow: soon */
	ck_assert_uint_eq(drain_all(trk, ex, 2), 1);
	for (int i = 0; i < 1000; i++) {
		p = udp_pkt(i & 1, 1400);
		run_on(trk, &p);
		ck_assert(!ctg_tracker_sync_urgent(trk));
	}
	/* marked once, sent with the next interval's drain */
	ck_assert_uint_eq(drain_all(trk, ex, 2), 1);
	ck_assert_uint_eq(ex[0].c.pkts[0] + ex[0].c.pkts[1], 1001);
}
END_TEST

START_TEST(test_ring_overflow_walks)
{
	struct ctg_conn_export ex[64];
	struct ctg_tracker_sync_stats st;
	size_t n = 0, k;

	ctg_tracker_free(trk);
	trk = make_tracker(1024, CTG_MIDSTREAM_STRICT, 1);
	enable(trk, 4);
	for (int i = 0; i < 40; i++) {
		struct ctg_packet p = udp_pkt(0, 10);

		p.tuple.sport = (uint16_t)(2000 + i);
		EXPECT(run(&p), CTG_CT_NEW, CTG_R_NONE);
	}
	ctg_tracker_sync_stats(trk, &st);
	ck_assert_uint_eq(st.ring_overflows, 36);
	/* the ring's four, then the walk, a slice at a time */
	for (int i = 0; i < 10 && ctg_tracker_sync_pending(trk); i++) {
		k = ctg_tracker_sync_drain(trk, ex + n, 64 - n);
		n += k;
	}
	ck_assert(!ctg_tracker_sync_pending(trk));
	ck_assert_uint_eq(n, 40);
	ck_assert_uint_eq(ctg_tracker_sync_drain(trk, ex, 64), 0);
}
END_TEST

START_TEST(test_carry_filter)
{
	struct ctg_conn_export ex[8];

	ctg_tracker_free(trk);
	trk = make_tracker(64, CTG_MIDSTREAM_STRICT, 1);
	ck_assert_int_eq(ctg_tracker_sync_enable(trk, 16, 128, CTG_SYNC_CARRY_TCP), 0);
	some_connections();
	ck_assert_uint_eq(drain_all(trk, ex, 8), 1);
	ck_assert_uint_eq(ex[0].c.tuple.proto, IPPROTO_TCP);
}
END_TEST

START_TEST(test_end_notes)
{
	struct ctg_conn_export ex[8];
	struct ctg_conn_end_note en[8];
	struct ctg_conn *c;
	uint64_t id;

	/* never sent: its end concerns nobody */
	handshake();
	c = find_tcp();
	ck_assert_int_eq(ctg_tracker_kill(trk, c->id, now), 0);
	ck_assert_uint_eq(ctg_tracker_sync_drain_ends(trk, en, 8), 0);
	/* sent, then killed: an end note with its id */
	cport++;
	handshake();
	drain_all(trk, ex, 8);
	id = find_tcp()->id;
	ck_assert_int_eq(ctg_tracker_kill(trk, id, now), 0);
	ck_assert_uint_eq(ctg_tracker_sync_drain_ends(trk, en, 8), 1);
	ck_assert(en[0].id == id);
	ck_assert_uint_eq(en[0].reason, CTG_END_KILLED);
	ck_assert_uint_eq(en[0].tuple.sport, cport);
	/* sent, then timed out: each gateway times out its own */
	cport++;
	handshake();
	drain_all(trk, ex, 8);
	now += 10 * 86400 * SEC;
	sweep_all();
	ck_assert_uint_eq(stats().live, 0);
	ck_assert_uint_eq(ctg_tracker_sync_drain_ends(trk, en, 8), 0);
}
END_TEST

/* Export the fixture's connections (as a bulk does) and apply them to a second tracker. */
static struct ctg_tracker *
replica(void)
{
	struct ctg_tracker *t2 = make_tracker(1024, CTG_MIDSTREAM_STRICT, 500000);
	struct ctg_conn_export ex[16];
	struct ctg_syncmsg m;
	char err[160];
	size_t n, len;

	enable(t2, 1024);
	n = ctg_tracker_export_slice(trk, 0, 1024, ex);
	ck_assert_uint_gt(n, 0);
	len = encode(ex, n, now);
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0);
	for (unsigned i = 0; i < m.count; i++) {
		struct ctg_conn_export e;
		uint16_t q;

		ctg_syncmsg_conn(&m, i, now, &q, &e);
		ck_assert_int_eq(ctg_tracker_apply(t2, &e, now), 0);
	}
	return t2;
}

static void
same_verdict(struct ctg_tracker *t2, struct ctg_packet p, const char *what)
{
	struct ctg_track_result a = run_on(trk, &p), b = run_on(t2, &p);

	ck_assert_msg(a.ctstate == b.ctstate && a.reason == b.reason &&
	    a.after[0] == b.after[0] && a.after[1] == b.after[1],
	    "%s: original %s/%s, replica %s/%s", what, ctg_ctstate_name(a.ctstate),
	    ctg_reason_name(a.reason), ctg_ctstate_name(b.ctstate), ctg_reason_name(b.reason));
}

START_TEST(test_apply_judged_identically)
{
	struct ctg_tracker *t2;
	struct ctg_conn *c2;
	struct ctg_packet p;
	uint8_t dir;
	int before = nends;

	some_connections();
	t2 = replica();
	ck_assert_uint_eq(ctg_tracker_stats_live(t2), 3);
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_ptr_nonnull(c2);
	ck_assert(ctg_tracker_conn_synced(t2, c2));
	ck_assert(c2->id == find_tcp()->id);
	ck_assert_uint_eq(c2->peer[1].last_tsval, 901);

	/* segment by segment, both tables judge alike */
	for (uint32_t k = 0; k < 6; k++) {
		p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1001 + 100 * k, SISN + 501, WIN, 100);
		ts(&p, 103 + k, 901);
		same_verdict(t2, p, "client data");
		p = tcp_pkt(1, CTG_TH_ACK, SISN + 501, CISN + 1101 + 100 * k, WIN, 0);
		ts(&p, 902 + k, 103 + k);
		same_verdict(t2, p, "server ack");
	}
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1601 + 10 * WIN, SISN + 501, WIN, 100);
	ts(&p, 120, 907);
	same_verdict(t2, p, "data far above the window");
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 501, CISN + 1601 + 10 * WIN, WIN, 0);
	ts(&p, 910, 120);
	same_verdict(t2, p, "ack of data never sent");
	p = tcp_pkt(1, CTG_TH_RST, SISN + 501 + 5 * WIN, 0, 0, 0);
	same_verdict(t2, p, "out-of-window RST");
	p = tcp_pkt(0, CTG_TH_SYN, CISN + 77, 0, WIN, 0);
	same_verdict(t2, p, "SYN on the open connection");
	p = udp_pkt(1, 20);
	same_verdict(t2, p, "UDP reply");
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_FIN, CISN + 1601, SISN + 501, WIN, 0);
	ts(&p, 121, 907);
	same_verdict(t2, p, "FIN");
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_FIN, SISN + 501, CISN + 1602, WIN, 0);
	ts(&p, 911, 121);
	same_verdict(t2, p, "FIN back");
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1602, SISN + 502, WIN, 0);
	ts(&p, 122, 911);
	same_verdict(t2, p, "last ACK");
	/* packets passed the replica: its entry is its own now, and is recorded at its end */
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert(!ctg_tracker_conn_synced(t2, c2));
	ctg_tracker_flush(t2, CTG_END_SHUTDOWN, now);
	ck_assert_int_eq(nends - before, 2);   /* TCP and UDP passed packets; ICMP did not */
	ctg_tracker_free(t2);
}
END_TEST

START_TEST(test_stale_edges_relearn_bounded)
{
	struct ctg_tracker *t2;
	struct ctg_tracker_sync_stats st;
	struct ctg_track_result r;
	struct ctg_packet p;

	handshake();
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	t2 = replica();
	/* the original goes on for 20 kB the replica never hears of */
	for (uint32_t k = 0; k < 20; k++) {
		EXPECT(seg(0, CTG_TH_ACK, CISN + 1001 + 1000 * k, SISN + 1, WIN, 1000),
		    CTG_CT_ESTABLISHED, CTG_R_NONE);
		EXPECT(seg(1, CTG_TH_ACK, SISN + 1, CISN + 2001 + 1000 * k, WIN, 0),
		    CTG_CT_ESTABLISHED, CTG_R_NONE);
	}
	/* failover: the next segments reach the replica, beyond its edges */
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 21001, WIN, 0);
	r = run_on(t2, &p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 21001, SISN + 1, WIN, 1000);
	r = run_on(t2, &p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* the ack re-learned the client's edge; the client's data then fit strictly */
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.relearned, 1);
	/* a segment far ahead is refused */
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 22001 + 3 * WIN, SISN + 1, WIN, 1000);
	r = run_on(t2, &p);
	ck_assert_int_eq(r.ctstate, CTG_CT_INVALID);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 22001, WIN, 0);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ctg_tracker_free(t2);

	/* a fresh replica whose re-learning time ran out: strict from then on */
	t2 = replica();
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 21001, WIN, 0);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);         /* begins it */
	now += 3 * SEC;
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 51001, WIN, 0);     /* acks unseen data */
	EXPECT_INVALID(run_on(t2, &p), CTG_R_TCP_ACK_ABOVE_SENT);
	ctg_tracker_free(t2);

	/* a fresh replica: beyond one maximum window of its edges is no re-learning */
	t2 = replica();
	p = tcp_pkt(0, CTG_TH_ACK, find_tcp()->peer[0].td_end + 2 * WIN, SISN + 1, WIN, 1000);
	r = run_on(t2, &p);
	ck_assert_int_eq(r.ctstate, CTG_CT_INVALID);
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.relearned, 0);
	ctg_tracker_free(t2);
}
END_TEST

/*
 * An entry offloaded on the sender (issue 19): its edges stopped where the
 * kernel took the data over. The replica's kernel has no mark for it, so
 * every segment comes to it: carried as a pick-up, it re-learns the edges
 * from the segments instead of refusing the whole transfer, and is not
 * marked offloaded here (this gateway offloads it anew once it qualifies).
 */
START_TEST(test_offloaded_carried_as_pickup)
{
	struct ctg_tracker *t2;
	struct ctg_tracker_sync_stats st;
	struct ctg_packet p;
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_conn *c2;
	uint8_t dir;

	handshake();
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ctg_tracker_offload(trk, find_tcp());
	t2 = replica();
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_ptr_nonnull(c2);
	ck_assert(!(c2->proto_state & CTG_CONN_OFFLOADED));
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.applied_offloaded, 1);
	/* 50 MB further on, as the kernel carried it: the replica goes on */
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1001 + 50000000, SISN + 1, WIN, 1000);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 2001 + 50000000, WIN, 0);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ctg_tracker_free(t2);
}
END_TEST

/*
 * A UDP flow offloaded on the sender reaches the replica as an answered
 * flow, not offloaded (this kernel has no mark for it), alive for one UDP
 * timeout from the transfer although the sender saw nothing of it since.
 */
START_TEST(test_offloaded_udp_carried)
{
	struct ctg_tracker *t2;
	struct ctg_tracker_sync_stats st;
	struct ctg_packet u = udp_pkt(0, 40), ur = udp_pkt(1, 40);
	struct ctg_tuple tp = flow(0, IPPROTO_UDP, cport, 53);
	struct ctg_conn *c2;
	uint8_t dir;

	run_on(trk, &u);
	run_on(trk, &ur);
	ctg_tracker_offload(trk, find(IPPROTO_UDP, cport, 53));
	ck_assert(ctg_conn_offloaded(find(IPPROTO_UDP, cport, 53)));
	now += 600 * SEC;                       /* past every UDP timeout */
	t2 = replica();
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_ptr_nonnull(c2);
	ck_assert(!ctg_conn_offloaded(c2));
	ck_assert_uint_eq(c2->last_us, now);
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.applied_offloaded, 1);
	EXPECT(run_on(t2, &ur), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ctg_tracker_free(t2);
}
END_TEST

START_TEST(test_oow_rst_stays_invalid)
{
	struct ctg_tracker *t2;
	struct ctg_packet p;
	struct ctg_track_result r;
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	uint8_t dir;

	handshake();
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	t2 = replica();
	/* before either side spoke on the replica, and after */
	for (int round = 0; round < 2; round++) {
		p = tcp_pkt(1, CTG_TH_RST, SISN + 1 + 3 * WIN, 0, 0, 0);
		r = run_on(t2, &p);
		EXPECT_INVALID(r, CTG_R_TCP_RST_OUT_OF_WINDOW);
		p = tcp_pkt(0, CTG_TH_RST, CISN + 1001 - 2 * WIN, 0, 0, 0);
		r = run_on(t2, &p);
		EXPECT_INVALID(r, CTG_R_TCP_RST_OUT_OF_WINDOW);
		struct ctg_conn *c2 = ctg_tracker_lookup(t2, &tp, &dir);
		ck_assert_ptr_nonnull(c2);
		EXPECT_STATES(c2->peer[0].state, c2->peer[1].state, CTG_TCPS_ESTABLISHED,
		    CTG_TCPS_ESTABLISHED);
		p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 1001, WIN, 0);
		EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
		p = tcp_pkt(0, CTG_TH_ACK, CISN + 1001, SISN + 1, WIN, 0);
		EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	}
	/* the exact RST still closes it */
	p = tcp_pkt(1, CTG_TH_RST, SISN + 1, 0, 0, 0);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ctg_tracker_free(t2);
}
END_TEST

START_TEST(test_remove_and_quiet_end)
{
	struct ctg_tracker *t2;
	struct ctg_conn_end_note en[4];
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_conn_export ex[4];
	uint64_t id;
	uint8_t dir;
	int before;

	handshake();
	id = find_tcp()->id;
	t2 = replica();
	before = nends;
	/* another connection's end on the same tuple (a new id) is not this one's */
	ck_assert_int_eq(ctg_tracker_remove(t2, &tp, id + 1, CTG_END_CLOSED, now), -1);
	ck_assert_ptr_nonnull(ctg_tracker_lookup(t2, &tp, &dir));
	/* a reversed tuple finds it too */
	struct ctg_tuple rev = flow(1, IPPROTO_TCP, cport, 80);
	ck_assert_int_eq(ctg_tracker_remove(t2, &rev, id, CTG_END_CLOSED, now), 0);
	ck_assert_ptr_null(ctg_tracker_lookup(t2, &tp, &dir));
	/* synced only: no record here, and nothing to send back */
	ck_assert_int_eq(nends, before);
	ck_assert_uint_eq(ctg_tracker_sync_drain_ends(t2, en, 4), 0);
	ck_assert_uint_eq(drain_all(t2, ex, 4), 0);
	ck_assert_int_eq(ctg_tracker_remove(t2, &tp, id, CTG_END_CLOSED, now), -1);
	ctg_tracker_free(t2);
}
END_TEST

START_TEST(test_apply_replaces_in_place)
{
	struct ctg_tracker *t2;
	struct ctg_conn_export ex[4];
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_conn *c2;
	uint8_t dir;

	handshake();
	/* a full table of established entries refuses, and says so */
	struct ctg_tracker *tiny = make_tracker(1, CTG_MIDSTREAM_STRICT, 1);
	struct ctg_tracker_sync_stats st;

	enable(tiny, 4);
	ck_assert_uint_eq(ctg_tracker_export_slice(trk, 0, 1024, ex), 1);
	ck_assert_int_eq(ctg_tracker_apply(tiny, &ex[0], now), 0);
	ex[0].c.tuple.sport++;
	ck_assert_int_eq(ctg_tracker_apply(tiny, &ex[0], now), -1);
	ctg_tracker_sync_stats(tiny, &st);
	ck_assert_uint_eq(st.apply_refused, 1);
	ctg_tracker_free(tiny);

	t2 = replica();
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_FIN, CISN + 1, SISN + 1, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	ck_assert_uint_eq(drain_all(trk, ex, 4), 1);
	ck_assert_int_eq(ctg_tracker_apply(t2, &ex[0], now), 0);
	ck_assert_uint_eq(ctg_tracker_stats_live(t2), 1);
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_ptr_nonnull(c2);
	ck_assert_uint_eq(c2->peer[0].state, find_tcp()->peer[0].state);
	ck_assert_uint_eq(c2->peer[0].td_end, CISN + 2);
	/* forwarded here since: an older copy (a bulk after a partition) does not win */
	struct ctg_conn_export old = ex[0];
	struct ctg_packet p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	now += SEC;
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_int_eq(ctg_tracker_apply(t2, &old, now), 0);
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert(c2->last_us == now);
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.apply_older, 1);
	/* a newer one does */
	old.c.last_us = now + 1;
	ck_assert_int_eq(ctg_tracker_apply(t2, &old, now), 0);
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert(c2->last_us == now + 1);
	ctg_tracker_free(t2);
}
END_TEST


/* --- active/active ------------------------------------------------------------ */

START_TEST(test_defer_ack_wire)
{
	struct ctg_syncmsg_writer w;
	struct ctg_syncmsg m;
	struct ctg_sync_ack a;
	char err[160];
	uint8_t copy[CTG_SYNC_HDR_SIZE + 3 * CTG_SYNC_ACK_SIZE];
	size_t len;

	/* a DEFER_ACK: node and token per entry, neither 0 */
	ctg_syncmsg_begin(&w, buf, CTG_SYNC_MSG_MAX, CTG_SYNC_DEFER_ACK, T0);
	ck_assert(!ctg_syncmsg_add_ack(&w, &(struct ctg_sync_ack){ .node = 0, .token = 5 }));
	ck_assert(!ctg_syncmsg_add_ack(&w, &(struct ctg_sync_ack){ .node = 2, .token = 0 }));
	ck_assert(ctg_syncmsg_add_ack(&w, &(struct ctg_sync_ack){ .node = 2, .token = 7 }));
	ck_assert(ctg_syncmsg_add_ack(&w, &(struct ctg_sync_ack){ .node = 0x01020304, .token = 0xfffffffe }));
	ck_assert(ctg_syncmsg_add_ack(&w, &(struct ctg_sync_ack){ .node = 3, .token = 1 }));
	/* no other kind of entry, and it cannot want an ack itself */
	ck_assert(!ctg_syncmsg_add_conn(&w, 0, &(struct ctg_conn_export){ 0 }));
	ctg_syncmsg_want_ack(&w, 9);
	len = ctg_syncmsg_finish(&w);
	ck_assert_uint_eq(len, sizeof(copy));
	/* node 0x01020304, token 0xfffffffe, big-endian */
	ck_assert_uint_eq(buf[CTG_SYNC_HDR_SIZE + 8], 1);
	ck_assert_uint_eq(buf[CTG_SYNC_HDR_SIZE + 11], 4);
	ck_assert_uint_eq(buf[CTG_SYNC_HDR_SIZE + 15], 0xfe);
	ck_assert_msg(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m.type, CTG_SYNC_DEFER_ACK);
	ck_assert(!m.want_ack && m.token == 0);
	ck_assert_uint_eq(m.count, 3);
	ctg_syncmsg_ack(&m, 1, &a);
	ck_assert_uint_eq(a.node, 0x01020304);
	ck_assert_uint_eq(a.token, 0xfffffffe);
	ck_assert_str_eq(ctg_sync_type_name(CTG_SYNC_DEFER_ACK), "defer_ack");
	memcpy(copy, buf, len);
	/* node 0, token 0, a truncated entry, a wrong entry size: refused */
	copy[CTG_SYNC_HDR_SIZE + 8] = copy[CTG_SYNC_HDR_SIZE + 9] = 0;
	copy[CTG_SYNC_HDR_SIZE + 10] = copy[CTG_SYNC_HDR_SIZE + 11] = 0;
	ck_assert(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0);
	memcpy(copy, buf, len);
	memset(copy + CTG_SYNC_HDR_SIZE + 4, 0, 4);
	ck_assert(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0);
	ck_assert(ctg_syncmsg_decode(buf, len - 1, &m, err, sizeof(err)) < 0);
	memcpy(copy, buf, len);
	copy[19] = CTG_SYNC_ACK_SIZE + 1;
	ck_assert(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0);
	/* a DEFER_ACK flagged as wanting one */
	memcpy(copy, buf, len);
	copy[7] = 1;
	copy[23] = 4;
	ck_assert(ctg_syncmsg_decode(copy, len, &m, err, sizeof(err)) < 0);
	ck_assert_str_eq(err, "defer_ack message cannot want an ack");

	/* an end message wanting an ack: flag and token in the header */
	struct ctg_sync_end e = { .queue = 1, .reason = CTG_END_CLOSED, .id = 9 };

	e.tuple = flow(0, IPPROTO_TCP, 1234, 80);
	ctg_syncmsg_begin(&w, buf, CTG_SYNC_MSG_MAX, CTG_SYNC_CONN_END, T0);
	ck_assert(ctg_syncmsg_add_end(&w, &e));
	ctg_syncmsg_want_ack(&w, 0);            /* token 0: not a token */
	len = ctg_syncmsg_finish(&w);
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0 && !m.want_ack);
	ctg_syncmsg_want_ack(&w, 0x11223344);
	len = ctg_syncmsg_finish(&w);
	ck_assert_uint_eq(buf[7], CTG_SYNC_F_WANT_ACK);
	ck_assert_uint_eq(buf[20], 0x11);
	ck_assert_uint_eq(buf[23], 0x44);
	ck_assert_msg(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert(m.want_ack);
	ck_assert_uint_eq(m.token, 0x11223344);
	/* flag without token, token without flag, an unknown flag: refused */
	buf[7] = 0;
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) < 0);
	buf[7] = 1;
	memset(buf + 20, 0, 4);
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) < 0);
	buf[23] = 1;
	buf[7] = 3;
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) < 0);
	/* a turn with nothing to send still carries its token: an empty update */
	ctg_syncmsg_begin(&w, buf, CTG_SYNC_MSG_MAX, CTG_SYNC_CONN_UPDATE, T0);
	ctg_syncmsg_want_ack(&w, 12);
	len = ctg_syncmsg_finish(&w);
	ck_assert_uint_eq(len, CTG_SYNC_HDR_SIZE);
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0);
	ck_assert(m.want_ack && m.token == 12 && m.count == 0);
	/* bulk messages never want one */
	ctg_syncmsg_begin(&w, buf, CTG_SYNC_MSG_MAX, CTG_SYNC_BULK_BEGIN, T0);
	ctg_syncmsg_want_ack(&w, 3);
	len = ctg_syncmsg_finish(&w);
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) == 0 && !m.want_ack);
	buf[7] = 1;
	buf[23] = 3;
	ck_assert(ctg_syncmsg_decode(buf, len, &m, err, sizeof(err)) < 0);
}
END_TEST

/*
 * What a worker holds: the packets that create a carried connection or
 * move a TCP endpoint while it opens; not the moves of the close.
 */
START_TEST(test_held_packets)
{
	struct ctg_track_result r;
	struct ctg_packet p;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = run(&p);
	ck_assert(ctg_tracker_sync_holds(trk, &r));
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = run(&p);
	ck_assert(ctg_tracker_sync_holds(trk, &r));
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	r = run(&p);
	ck_assert(ctg_tracker_sync_holds(trk, &r));
	/* data in an established connection moves no state */
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	r = run(&p);
	ck_assert(!ctg_tracker_sync_holds(trk, &r));
	/* the close moves endpoints, and nothing of it is held: the FIN, its ack */
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_FIN, SISN + 1, CISN + 101, WIN, 0);
	r = run(&p);
	ck_assert_uint_ne(r.before[1], r.after[1]);
	ck_assert(!ctg_tracker_sync_holds(trk, &r));
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 101, SISN + 2, WIN, 0);
	r = run(&p);
	ck_assert_uint_ne(r.before[1], r.after[1]);
	ck_assert(!ctg_tracker_sync_holds(trk, &r));
	/* the first datagram of a flow, not its reply */
	p = udp_pkt(0, 40);
	r = run(&p);
	ck_assert(ctg_tracker_sync_holds(trk, &r));
	p = udp_pkt(1, 40);
	r = run(&p);
	ck_assert(!ctg_tracker_sync_holds(trk, &r));
	p = icmp_echo(0, false, 99);
	r = run(&p);
	ck_assert(ctg_tracker_sync_holds(trk, &r));
	/* nothing without sync, nothing not carried, nothing without a connection */
	struct ctg_tracker *t2 = make_tracker(64, CTG_MIDSTREAM_STRICT, 1000);

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = run_on(t2, &p);
	ck_assert(!ctg_tracker_sync_holds(t2, &r));
	ctg_tracker_free(t2);
	t2 = make_tracker(64, CTG_MIDSTREAM_STRICT, 1000);
	ck_assert_int_eq(ctg_tracker_sync_enable(t2, 64, 128, CTG_SYNC_CARRY_TCP), 0);
	p = udp_pkt(0, 40);
	r = run_on(t2, &p);
	ck_assert(r.created);
	ck_assert(!ctg_tracker_sync_holds(t2, &r));
	memset(&r, 0, sizeof(r));
	ck_assert(!ctg_tracker_sync_holds(t2, &r));
	ctg_tracker_free(t2);
}
END_TEST

/* t's entry of the TCP flow, exported */
static struct ctg_conn_export
export_tcp_of(struct ctg_tracker *t)
{
	struct ctg_conn_export ex[8];
	size_t n = ctg_tracker_export_slice(t, 0, 1024, ex);

	for (size_t i = 0; i < n; i++)
		if (ex[i].c.tuple.proto == IPPROTO_TCP)
			return ex[i];
	ck_abort_msg("no TCP entry");
	return ex[0];
}

/* trk's */
static struct ctg_conn_export
export_tcp(void)
{
	return export_tcp_of(trk);
}

/*
 * Two active/active gateways forwarding parts of one connection: trk
 * (gateway A) the client's side, t2 (B) a reply. Each update merges per
 * endpoint (the one further along, with the further of each edge);
 * counters stay each gateway's own.
 */
START_TEST(test_merge_per_endpoint)
{
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_tracker_sync_stats st;
	struct ctg_tracker *t2;
	struct ctg_packet p;
	struct ctg_conn *c2;
	uint8_t dir;

	handshake();
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	t2 = replica();
	ctg_tracker_sync_set_merge(t2, true);
	/* B forwards 500 bytes of the server's */
	now += 1000;
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 1001, WIN, 500);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	uint64_t b_last = now;
	/* A forwards 1000 more of the client's, and hears nothing of B's yet */
	now -= 500;
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1001, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	struct ctg_conn_export a1 = export_tcp();

	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	uint32_t b_pkts0 = c2->pkts[0], b_pkts1 = c2->pkts[1];
	uint64_t b_bytes1 = c2->bytes[1];
	uint32_t b_maxend0 = c2->peer[0].td_maxend, b_maxack1 = c2->peer[1].td_maxack;
	/* the server's ack crossed B only: B's right edge for the client is further */
	ck_assert_uint_gt(b_maxend0, a1.c.peer[0].td_maxend);
	ck_assert_int_eq(ctg_tracker_apply(t2, &a1, now), 0);
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	/* the client's endpoint is further along at A: taken, with B's further edges */
	ck_assert_uint_eq(c2->peer[0].td_end, CISN + 2001);
	ck_assert_uint_eq(c2->peer[0].td_maxend, b_maxend0);
	ck_assert_uint_eq(c2->peer[1].td_maxack, b_maxack1);
	ck_assert_uint_eq(c2->peer[0].td_maxack, a1.c.peer[0].td_maxack);
	/* the server's is further along here: kept (A's copy says SISN + 1) */
	ck_assert_uint_eq(a1.c.peer[1].td_end, SISN + 1);
	ck_assert_uint_eq(c2->peer[1].td_end, SISN + 501);
	/* B's own counters, the later last seen */
	ck_assert_uint_eq(c2->pkts[0], b_pkts0);
	ck_assert_uint_eq(c2->pkts[1], b_pkts1);
	ck_assert(c2->bytes[1] == b_bytes1);
	ck_assert(c2->last_us == b_last);
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.merged, 1);
	ck_assert_uint_eq(st.apply_older, 0);

	/* a later state wins even with an edge behind: the client's FIN at A */
	now += 2000;
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_FIN, CISN + 2001, SISN + 1, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	struct ctg_conn_export a2 = export_tcp();

	ck_assert_uint_gt(a2.c.peer[0].state, CTG_TCPS_ESTABLISHED);
	ck_assert_int_eq(ctg_tracker_apply(t2, &a2, now), 0);
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_uint_eq(c2->peer[0].state, a2.c.peer[0].state);
	ck_assert_uint_eq(c2->peer[0].td_end, CISN + 2002);
	ck_assert(c2->flags & CTG_CONN_FIN_ORIG);
	ck_assert(c2->last_us == now);
	/* an older copy arriving late moves nothing back */
	ck_assert_int_eq(ctg_tracker_apply(t2, &a1, now), 0);
	c2 = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_uint_eq(c2->peer[0].state, a2.c.peer[0].state);
	ck_assert_uint_eq(c2->peer[0].td_end, CISN + 2002);
	ck_assert_uint_eq(c2->peer[1].td_end, SISN + 501);
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.merged, 3);
	ctg_tracker_free(t2);

	/* active/backup (no merge): the copy forwarded more recently wins whole */
	t2 = replica();
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 2002, WIN, 0);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	a2.c.last_us = now + 1;
	ck_assert_int_eq(ctg_tracker_apply(t2, &a2, now), 0);
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_eq(st.merged, 0);
	ctg_tracker_free(t2);
}
END_TEST

/*
 * A split connection (its directions cross different members) sees the
 * other direction's edges only through sync: it re-learns within a window
 * of them for its whole life, not only RELEARN_MS; RST stays strict.
 */
START_TEST(test_split_relearns_for_life)
{
	struct ctg_tracker_sync_stats st;
	struct ctg_tracker *t2;
	struct ctg_packet p;

	handshake();
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	t2 = replica();
	ctg_tracker_sync_set_merge(t2, true);
	/* B forwards the server's acks; A the client's data */
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 1001, WIN, 0);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	struct ctg_conn_export a = export_tcp();
	ck_assert_int_eq(ctg_tracker_apply(t2, &a, now), 0);
	/* long after RELEARN_MS, A's data not yet synced: B's ack of it passes */
	for (uint32_t k = 0; k < 5; k++) {
		now += 3 * SEC;
		EXPECT(seg(0, CTG_TH_ACK, CISN + 1001 + 2000 * k, SISN + 1, WIN, 2000),
		    CTG_CT_ESTABLISHED, CTG_R_NONE);
		p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 3001 + 2000 * k, WIN, 0);
		EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
		a = export_tcp();
		ck_assert_int_eq(ctg_tracker_apply(t2, &a, now), 0);
	}
	ctg_tracker_sync_stats(t2, &st);
	ck_assert_uint_ge(st.relearned, 4);
	/* still strict: acking far beyond a window of the synced edges */
	now += 3 * SEC;
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 11001 + 4 * WIN, WIN, 0);
	ck_assert_int_eq(run_on(t2, &p).ctstate, CTG_CT_INVALID);
	/* and an RST out of the window */
	p = tcp_pkt(1, CTG_TH_RST, SISN + 1 + 3 * WIN, 0, 0, 0);
	ck_assert_int_eq(run_on(t2, &p).ctstate, CTG_CT_INVALID);
	ctg_tracker_free(t2);

	/* not split (active/backup): strict again after RELEARN_MS, as before */
	t2 = replica();
	now += 3 * SEC;
	EXPECT(seg(0, CTG_TH_ACK, CISN + 11001, SISN + 1, WIN, 2000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 13001, WIN, 0);
	EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);         /* begins it */
	now += 3 * SEC;
	EXPECT(seg(0, CTG_TH_ACK, CISN + 13001, SISN + 1, WIN, 2000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 15001, WIN, 0);
	EXPECT_INVALID(run_on(t2, &p), CTG_R_TCP_ACK_ABOVE_SENT);
	ctg_tracker_free(t2);
}
END_TEST

/*
 * Acks carry no bytes, but on a split connection they move the right edge
 * the other member checks the data against: a quarter window of it sends
 * the entry at once (urgent 2), as a quarter window of data does.
 */
START_TEST(test_split_acks_send_early)
{
	struct ctg_conn_export ex[8];
	struct ctg_tracker *t2;
	struct ctg_packet p;

	handshake();
	/* A carries 20 kB of the client's */
	for (uint32_t k = 0; k < 11; k++)
		EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 2000 * k, SISN + 1, WIN, 2000),
		    CTG_CT_ESTABLISHED, CTG_R_NONE);
	for (uint32_t split = 0; split < 2; split++) {
		t2 = replica();
		ctg_tracker_sync_set_merge(t2, split);
		p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 1001, WIN, 0);
		EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
		struct ctg_conn_export a = export_tcp();
		ck_assert_int_eq(ctg_tracker_apply(t2, &a, now), 0);
		drain_all(t2, ex, 8);
		ck_assert_uint_eq(ctg_tracker_sync_urgent(t2), 0);
		/* B's acks of A's data: 1 kB more (marks it), then 19 kB more (over WIN / 4) */
		p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 2001, WIN, 0);
		EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
		ck_assert_uint_eq(ctg_tracker_sync_urgent(t2), 0);
		p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 21001, WIN, 0);
		EXPECT(run_on(t2, &p), CTG_CT_ESTABLISHED, CTG_R_NONE);
		/* split: now; active/backup (the acks are the takeover's own): as before */
		ck_assert_uint_eq(ctg_tracker_sync_urgent(t2), split ? 2 : 0);
		ctg_tracker_free(t2);
	}
}
END_TEST

static bool
closed_state(uint8_t st)
{
	return st == CTG_TCPS_TIME_WAIT || st == CTG_TCPS_CLOSED;
}

/* After a handshake on A (trk): B, a replica, and both merging (active/active). */
static struct ctg_tracker *
split_pair(void)
{
	struct ctg_tracker *t2;

	handshake();
	t2 = replica();
	ctg_tracker_sync_set_merge(trk, true);
	ctg_tracker_sync_set_merge(t2, true);
	now += 1000;
	return t2;
}

/*
 * The close of a split connection: the client's FIN and its ack of the
 * server's FIN cross A (trk), the server's ack and FIN cross B (t2), and
 * neither was held, so each member saw an ack of a FIN it did not know
 * yet. Once each has the other's copy, both endpoints are closed on both
 * members, as where one gateway saw it all; the packets all passed.
 */
START_TEST(test_split_close_settles)
{
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_tracker *t2;
	struct ctg_packet p;
	struct ctg_conn *c;
	uint8_t dir;

	t2 = split_pair();
	/* A: the client's FIN; B: the server's ack of it (ahead of the FIN's update) and FIN */
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_FIN, CISN + 1, SISN + 1, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	ck_assert_int_ne(run_on(t2, &p).ctstate, CTG_CT_INVALID);
	/* B's update so far reaches A (the connection is split there from now on) */
	struct ctg_conn_export b1 = export_tcp_of(t2);

	ck_assert_int_eq(ctg_tracker_apply(trk, &b1, now), 0);
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_FIN, SISN + 1, CISN + 2, WIN, 0);
	ck_assert_int_ne(run_on(t2, &p).ctstate, CTG_CT_INVALID);
	/* A: the client's ack of the server's FIN, which A has not heard of */
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	ck_assert_int_ne(run_on(trk, &p).ctstate, CTG_CT_INVALID);
	c = ctg_tracker_lookup(trk, &tp, &dir);
	ck_assert(!closed_state(c->peer[0].state) && !closed_state(c->peer[1].state));

	struct ctg_conn_export a = export_tcp_of(trk), b = export_tcp_of(t2);

	ck_assert_int_eq(ctg_tracker_apply(t2, &a, now), 0);
	ck_assert_int_eq(ctg_tracker_apply(trk, &b, now), 0);
	c = ctg_tracker_lookup(trk, &tp, &dir);
	ck_assert_msg(closed_state(c->peer[0].state) && closed_state(c->peer[1].state),
	    "A: client %u server %u", c->peer[0].state, c->peer[1].state);
	c = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_msg(closed_state(c->peer[0].state) && closed_state(c->peer[1].state),
	    "B: client %u server %u", c->peer[0].state, c->peer[1].state);
	ctg_tracker_free(t2);
}
END_TEST

/*
 * Settling takes an ack the merge knows, never one it does not: the
 * server's FIN reached A by sync, the client has not acked it.
 */
START_TEST(test_unacked_fin_stays_open)
{
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_tracker *t2;
	struct ctg_packet p;
	struct ctg_conn *c;
	uint8_t dir;

	t2 = split_pair();
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_FIN, SISN + 1, CISN + 1, WIN, 0);
	ck_assert_int_ne(run_on(t2, &p).ctstate, CTG_CT_INVALID);
	struct ctg_conn_export b = export_tcp_of(t2);

	ck_assert_int_eq(ctg_tracker_apply(trk, &b, now), 0);
	c = ctg_tracker_lookup(trk, &tp, &dir);
	ck_assert_uint_eq(c->peer[1].state, CTG_TCPS_FIN_WAIT_1);
	ck_assert_uint_eq(c->peer[0].state, CTG_TCPS_ESTABLISHED);
	ctg_tracker_free(t2);
}
END_TEST

static Suite *
sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("syncmsg");

	tcase_add_checked_fixture(tc, sync_setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_roundtrip_end_and_bulk_markers);
	tcase_add_test(tc, test_message_bound);
	tcase_add_test(tc, test_every_truncation);
	tcase_add_test(tc, test_every_bad_field);
	tcase_add_test(tc, test_bad_end_fields);
	tcase_add_test(tc, test_any_byte_changed);
	suite_add_tcase(s, tc);

	tc = tcase_create("tracker");
	tcase_add_checked_fixture(tc, sync_setup, teardown);
	tcase_add_test(tc, test_marks_once_per_drain);
	tcase_add_test(tc, test_max_updates_urgent);
	tcase_add_test(tc, test_bytes_urgent);
	tcase_add_test(tc, test_max_updates_off);
	tcase_add_test(tc, test_handshake_is_no_lag);
	tcase_add_test(tc, test_datagram_waits_interval);
	tcase_add_test(tc, test_ring_overflow_walks);
	tcase_add_test(tc, test_carry_filter);
	tcase_add_test(tc, test_end_notes);
	tcase_add_test(tc, test_apply_judged_identically);
	tcase_add_test(tc, test_stale_edges_relearn_bounded);
	tcase_add_test(tc, test_oow_rst_stays_invalid);
	tcase_add_test(tc, test_offloaded_carried_as_pickup);
	tcase_add_test(tc, test_offloaded_udp_carried);
	tcase_add_test(tc, test_remove_and_quiet_end);
	tcase_add_test(tc, test_apply_replaces_in_place);
	suite_add_tcase(s, tc);

	tc = tcase_create("active-active");
	tcase_add_checked_fixture(tc, sync_setup, teardown);
	tcase_add_test(tc, test_defer_ack_wire);
	tcase_add_test(tc, test_held_packets);
	tcase_add_test(tc, test_split_close_settles);
	tcase_add_test(tc, test_unacked_fin_stays_open);
	tcase_add_test(tc, test_merge_per_endpoint);
	tcase_add_test(tc, test_split_relearns_for_life);
	tcase_add_test(tc, test_split_acks_send_early);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sync_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
