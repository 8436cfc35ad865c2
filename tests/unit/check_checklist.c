/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The invalid-segment checklist, section (c) of
 * shared/reference/tcp-tracking.md: one test for each item that applies
 * to a firewall and that no other test program asserts yet
 * (tests/unit/CHECKLIST.md maps all 66 items to their tests). Each test names
 * its item and asserts both the classification and the reason; where
 * ctguard deliberately differs from Linux conntrack or pf, the comment
 * says so and why.
 *
 * Packets are built by hand over the flow of trackerkit.h (client
 * 198.51.100.2:40000, server 203.0.113.5:80) with a fake clock; the
 * decoder items build raw IPv4 bytes and go through ctg_decode_ip first,
 * as the daemon does.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "ctguard/packet.h"
#include "ctguard/tracker.h"

#include "trackerkit.h"

/* --- raw packets for the decoder items ------------------------------------ */

struct raw {
	uint8_t b[128];
	size_t len;
};

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/*
 * A client-to-server IPv4/TCP packet with the given options (a multiple
 * of 4 bytes) and payload length. Checksums are left zero: the daemon
 * verifies them only with verify_checksums set, which these items are not
 * about.
 */
static void
raw_tcp(struct raw *r, uint8_t flags, uint32_t seq, uint32_t ack,
    const uint8_t *opts, size_t optlen, size_t paylen)
{
	size_t thl = 20 + optlen;

	ck_assert_uint_eq(optlen % 4, 0);
	memset(r, 0, sizeof(*r));
	r->len = 20 + thl + paylen;
	ck_assert_uint_le(r->len, sizeof(r->b));
	r->b[0] = 0x45;
	wr16(r->b + 2, (uint16_t)r->len);
	r->b[8] = 64;
	r->b[9] = IPPROTO_TCP;
	memcpy(r->b + 12, "\xc6\x33\x64\x02", 4);       /* 198.51.100.2 */
	memcpy(r->b + 16, "\xcb\x00\x71\x05", 4);       /* 203.0.113.5 */
	wr16(r->b + 20, cport);
	wr16(r->b + 22, 80);
	wr32(r->b + 24, seq);
	wr32(r->b + 28, ack);
	r->b[32] = (uint8_t)((thl / 4) << 4);
	r->b[33] = flags;
	wr16(r->b + 34, WIN);
	memcpy(r->b + 40, opts, optlen);
}

/* Decode as the daemon does, then classify with the decoder's verdict. */
static struct ctg_track_result
run_raw(const struct raw *r, size_t caplen, struct ctg_packet *p)
{
	enum ctg_reason dec = ctg_decode_ip(p, r->b, caplen, r->len);

	return run_dec(p, dec);
}

/* --- C1. Stateless header sanity ------------------------------------------ */

/*
 * Item 1: truncated TCP header (doff < 5 words, doff past the segment,
 * options not captured) is INVALID with the decoder's reason, and the
 * tracker creates nothing from it.
 */
START_TEST(test_c1_01_truncated_header)
{
	static const uint8_t mss[4] = { 2, 4, 0x05, 0xb4 };
	struct raw raw;
	struct ctg_packet p;
	struct ctg_track_result r;

	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, mss, sizeof(mss), 0);
	raw.b[32] = 0x40;                               /* 16-byte header */
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_BAD_DOFF);
	ck_assert_ptr_null(r.conn);
	raw.b[32] = 0xf0;                               /* 60 bytes > 24 sent */
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_BAD_DOFF);
	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, mss, sizeof(mss), 0);
	r = run_raw(&raw, 42, &p);                      /* options cut off */
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_TRUNCATED);
	ck_assert_ptr_null(find_tcp());
	/* the intact SYN then opens the connection */
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
}
END_TEST

/*
 * Item 4: ACK field non-zero with the ACK flag clear. The decoder notes
 * it (CTG_PA_ACK_WITHOUT_FLAG, check_packet.c:test_tcp_malformed); the
 * tracker ignores the field, as the receiving stack does (RFC 793: the
 * ack field is significant only with ACK), so the packet is not INVALID.
 * Same as Linux and pf; Suricata only raises STREAM_PKT_BROKEN_ACK.
 */
START_TEST(test_c1_04_ack_field_without_flag)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0xdeadbeef, WIN, 0);
	p.anomalies |= CTG_PA_ACK_WITHOUT_FLAG;
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(!(r.conn->peer[0].flags & CTG_PEER_MAXACK));
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* an exact RST without ACK but with junk in the ack field still closes */
	p = tcp_pkt(1, CTG_TH_RST, SISN + 1, 0x12345678, 0, 0);
	p.anomalies |= CTG_PA_ACK_WITHOUT_FLAG;
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * Item 5: reserved bits set, urgent pointer without URG. pf's scrub
 * clears them; ctguard gives verdicts and does not rewrite packets, and
 * receivers ignore both, so they pass (the decoder records the anomaly
 * bits for the audit log).
 */
START_TEST(test_c1_05_reserved_bits_urg_pointer)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake();
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	p.tcp.urg_ptr = 5;
	p.anomalies |= CTG_PA_RESERVED_BITS | CTG_PA_URG_WITHOUT_FLAG;
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 11);
}
END_TEST

/*
 * Item 6: malformed options are INVALID (tcp_bad_option) and open
 * nothing; a duplicated option is only noted (last value wins).
 * Differs from Linux, whose option parser stops at a "silly" length and
 * lets the packet through: ctguard cannot know how the receiver parses
 * an impossible option, so it refuses to guess (Suricata
 * TCP_OPT_INVALID_LEN, Zeek *_invalid_len agree).
 */
START_TEST(test_c1_06_malformed_options)
{
	static const uint8_t zero_len[4] = { 2, 0, 0, 0 };
	static const uint8_t ws_len4[4] = { 3, 4, 7, 1 };
	static const uint8_t past_end[4] = { 1, 1, 8, 10 };     /* TS runs past */
	static const uint8_t dup_mss[8] = { 2, 4, 0x05, 0xb4, 2, 4, 0x05, 0xdc };
	struct raw raw;
	struct ctg_packet p;
	struct ctg_track_result r;

	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, zero_len, 4, 0);
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_BAD_OPTION);
	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, ws_len4, 4, 0);
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_BAD_OPTION);
	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, past_end, 4, 0);
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_BAD_OPTION);
	ck_assert_ptr_null(find_tcp());
	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, dup_mss, 8, 0);
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(p.anomalies & CTG_PA_TCP_OPT_DUP);
	ck_assert_uint_eq(p.tcp.opt.mss, 1500);
}
END_TEST

/*
 * Item 7: window scale above 14, decoded and tracked: clamped to 14
 * (RFC 7323 2.3, as Linux) and noted on the SYN (tcp_wscale_clamped).
 */
START_TEST(test_c1_07_wscale_over_14)
{
	static const uint8_t ws[4] = { 1, 3, 3, 255 };
	struct raw raw;
	struct ctg_packet p;
	struct ctg_track_result r;

	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, ws, 4, 0);
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_WSCALE_CLAMPED);
	ck_assert_uint_eq(r.conn->peer[0].wscale, CTG_TCP_MAX_WSCALE);
	ck_assert(r.conn->peer[0].flags & CTG_PEER_WSCALE);
}
END_TEST

/*
 * Item 8: two timestamp options in one segment. pf drops it (PFRES_TS);
 * ctguard passes it and uses the last one, which is what the Linux and
 * BSD option parsers of the receiving stack do, so firewall and endpoint
 * judge PAWS on the same value.
 */
START_TEST(test_c1_08_multiple_timestamps)
{
	static const uint8_t two_ts[24] = {
		1, 1, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0,
		1, 1, 8, 10, 0, 0, 0, 50, 0, 0, 0, 0,
	};
	struct raw raw;
	struct ctg_packet p;
	struct ctg_track_result r;

	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, two_ts, sizeof(two_ts), 0);
	r = run_raw(&raw, raw.len, &p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(p.anomalies & CTG_PA_TCP_OPT_DUP);
	ck_assert(r.conn->peer[0].flags & CTG_PEER_TS);
	ck_assert_uint_eq(r.conn->peer[0].last_tsval, 50);
}
END_TEST

/*
 * Item 10: RST carrying data (RFC 1122 4.2.2.12 allows it, as
 * diagnostic text). Judged like any RST: exact, so it closes. Same as
 * Linux and pf; Suricata and Zeek only raise an event.
 */
START_TEST(test_c1_10_rst_with_data)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_RST | CTG_TH_ACK, CISN + 1, SISN + 1, 0, 20);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "RSTO");
}
END_TEST

/*
 * The decoder exposes a TCP-MD5 option (kind 19, length 18) so that the
 * tracker can refuse one the connection never negotiated
 * (check_tracker.c:test_rst_md5_unexpected); a wrong length is malformed.
 */
START_TEST(test_c1_06_md5_option_decoded)
{
	uint8_t md5[20] = { 19, 18 };
	struct raw raw;
	struct ctg_packet p;

	md5[18] = 1;            /* NOP NOP pads to 20 bytes */
	md5[19] = 1;
	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, md5, sizeof(md5), 0);
	ck_assert_int_eq(ctg_decode_ip(&p, raw.b, raw.len, raw.len), CTG_R_NONE);
	ck_assert(p.tcp.opt.has_md5);
	md5[1] = 17;
	raw_tcp(&raw, CTG_TH_SYN, CISN, 0, md5, sizeof(md5), 0);
	ck_assert_int_eq(ctg_decode_ip(&p, raw.b, raw.len, raw.len), CTG_R_TCP_BAD_OPTION);
}
END_TEST

/* --- C2. No existing state -------------------------------------------------- */

/*
 * Item 13: a picked-up connection is not trusted like a handshake one:
 * until a reply is seen it lives on the unacked timer (300 s), not the
 * established one (5 days), as Linux caps it; once both directions are
 * seen, the window checks apply again.
 */
START_TEST(test_c2_13_midstream_not_trusted)
{
	struct ctg_track_result r;

	reset_tracker(1024, CTG_MIDSTREAM_LOOSE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_MIDSTREAM);
	ck_assert(r.conn->flags & CTG_CONN_MIDSTREAM);
	ck_assert(!(r.conn->flags & CTG_CONN_ASSURED));
	now += 299 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now += 1 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_TIMEOUT);

	/* with an answer: assured, and the answer's acks are checked again */
	cport++;
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* the next packet after the answer finds both directions seen */
	r = seg(0, CTG_TH_ACK, CISN + 101, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert(r.conn->flags & CTG_CONN_ASSURED);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 5000, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_ABOVE_SENT);
	now += 300 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
}
END_TEST

/* --- C3. Handshake ---------------------------------------------------------- */

/*
 * Item 18: FIN before the handshake completed, in SYN_SENT and in
 * SYN_SENT2 (simultaneous open), from either side: INVALID, as Linux
 * (sIV in both directions). The reason names what is wrong from the
 * sender's side: the originator's FIN|ACK acknowledges a SYN/ACK that
 * never came (tcp_ack_before_synack), the listener's FIN is data before
 * the handshake (tcp_data_before_established), and in SYN_SENT2 the
 * responder's FIN is tcp_fin_before_established.
 */
START_TEST(test_c3_18_fin_in_syn_sent)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_BEFORE_SYNACK);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_DATA_BEFORE_ESTABLISHED);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);

	cport++;
	simultaneous_syns();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_BEFORE_SYNACK);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_FIN_BEFORE_ESTABLISHED);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_SENT);
}
END_TEST

/*
 * Item 20: a SYN with another ISN. Before any answer it restarts the
 * attempt from the new ISN (as Linux re-initialises the sender), so the
 * SYN/ACK must then ack the new ISN. After the SYN/ACK it is INVALID
 * (tcp_syn_on_established). Differs from Linux, which ignores it (sIG)
 * and resynchronises if the server answers it: the server holds the
 * first attempt in SYN_RCVD and answers a SYN with another ISN by an ACK
 * or RST (RFC 793, RFC 5961 4), never by a SYN/ACK for it, so passing it
 * opens nothing a real stack would.
 */
START_TEST(test_c3_20_syn_new_isn)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(0, CTG_TH_SYN, CISN + 5000, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_SYN_RETRANSMIT);
	ck_assert_uint_eq(r.conn->peer[0].isn, CISN + 5000);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_BAD_ACK);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 5001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	/* yet another ISN after the SYN/ACK: passed, nothing moves (item 55) */
	r = seg(0, CTG_TH_SYN, CISN + 9000, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_UNCHANGED(r);
	r = seg(0, CTG_TH_ACK, CISN + 5001, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * Item 21: the SYN/ACK again with another sequence number, before the
 * third ACK: SYN-cookie servers, load balancers and TFO fallback answer a
 * retransmitted SYN so, and the client takes the newer one. Like
 * nf_conntrack ("re-init state for retransmitted syn-ack",
 * tcp_in_window()) the responder is re-initialised from it (NOTE
 * tcp_resync) if it acks the SYN; the third ACK must then ack the new
 * ISN. After the handshake another seq stays INVALID (item 56).
 * (The resend with the same seq but another ack: see the suspected-bug
 * test test_bug_c3_21_synack_resend_other_ack.)
 */
START_TEST(test_c3_21_synack_resend_other_seq)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN + 777, CISN + 2, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_BAD_ACK);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN + 777, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RESYNC);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	ck_assert_uint_eq(r.conn->peer[1].isn, SISN + 777);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_BELOW_WINDOW);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 778, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN + 999, CISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_UNEXPECTED);
}
END_TEST

/*
 * Item 23: the third ACK with the wrong ack (below ISN+1: the SYN/ACK
 * is not acknowledged; above: acks data never sent), with the wrong seq
 * (beyond the window), and from the wrong direction (the responder's
 * pure ACK in SYN_RCVD passes, as Linux's REPLY ack in sSR, but does not
 * complete the handshake). Linux: the ack bound III catches "above" only;
 * an ack of ISN+0 is IGNORE there. ctguard: RFC 793 makes SEG.ACK =< ISS
 * unacceptable, so the server would answer it with RST; INVALID.
 */
START_TEST(test_c3_23_third_ack_wrong)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_BELOW_WINDOW);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 100, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_ABOVE_SENT);
	r = seg(0, CTG_TH_ACK, CISN + 1 + 200000, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SEQ_ABOVE_WINDOW);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	ck_assert(!(r.conn->flags & CTG_CONN_ASSURED));
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * Item 25: simultaneous open consistency: a SYN/ACK whose ack is not the
 * other SYN + 1 (Suricata 4WHS_SYNACK_WITH_WRONG_ACK) and one whose seq
 * is not the sender's own SYN (4WHS_SYNACK_WITH_WRONG_SYN) are INVALID.
 * Linux's SYN_SENT2 row checks neither (only bound III).
 * (That the connection still completes afterwards: see the
 * suspected-bug test test_bug_c3_25_simultaneous_wrong_syn_poisons.)
 */
START_TEST(test_c3_25_simultaneous_open_inconsistent)
{
	struct ctg_track_result r;

	simultaneous_syns();
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN, SISN + 5, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_BAD_ACK);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_BAD_ACK);
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN + 9, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_UNEXPECTED);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_SENT);
}
END_TEST

/*
 * Item 26: a SYN/ACK with a timestamp the SYN did not offer. Suricata
 * flags it; ctguard, like Linux and pf, passes it: RFC 7323 3.2 makes
 * the client ignore timestamps it did not negotiate, so the option
 * changes nothing downstream, and data without timestamps keeps flowing.
 */
START_TEST(test_c3_26_synack_timestamp_not_offered)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ts(&p, 900, 0);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 11, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_FIN_WAIT_1);
}
END_TEST

/*
 * Item 28: both peers in SYN_SENT and a segment that fits neither: the
 * originator's ACK is INVALID (tcp_ack_before_synack, Linux sIV); the
 * responder's pure ACK of the client's SYN passes without moving the
 * state (Linux sIG: passed, not recorded); data from it is beyond its
 * own window (tcp_seq_above_window). pf drops and sends an RST itself;
 * ctguard never sends packets from the tracker (a rule may reject).
 */
START_TEST(test_c3_28_both_syn_sent_mismatch)
{
	struct ctg_track_result r;

	simultaneous_syns();
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_BEFORE_SYNACK);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 10);
	EXPECT_INVALID(r, CTG_R_TCP_SEQ_ABOVE_WINDOW);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_SENT);
	ck_assert(!(r.conn->flags & CTG_CONN_ASSURED));
}
END_TEST

/* --- C4. Sequence and ACK window ------------------------------------------- */

/*
 * Item 33: ACK lower bound (van Rooij IV): an ack more than
 * MAXACKWINDOW (max(td_maxwin, 66000)) below the newest data of the
 * other side is INVALID (tcp_ack_below_window); a delayed ack inside it
 * passes. Differs from Linux, which passes it as IGNORE: every packet
 * crosses this box, so an ack that old cannot come from the live
 * connection (pf condition 4 drops it too).
 */
START_TEST(test_c4_33_ack_below_window)
{
	struct ctg_track_result r;

	handshake();
	seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 60000);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 60001, WIN, 0);
	seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 60001, CISN + 1, WIN, 60000);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 120001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_BELOW_WINDOW);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 60001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.conn->peer[0].td_maxack, SISN + 120001);
}
END_TEST

/*
 * Item 34: SACK blocks count for the ack bound only when the receiver
 * offered SACK-permitted (as Linux): without it, a SACK block beyond
 * anything sent is not an ack of unsent data (the receiver ignores it).
 * With SACK permitted: check_tracker.c:test_sack_above_sent.
 */
START_TEST(test_c4_34_sack_not_permitted)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 300);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	p.tcp.opt.sack_count = 1;
	p.tcp.opt.sack_left[0] = CISN + 401;
	p.tcp.opt.sack_right[0] = CISN + 501;
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* the ack itself is still bounded */
	p.tcp.ack = CISN + 501;
	r = run(&p);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_ABOVE_SENT);
}
END_TEST

/*
 * Item 38: a window that shrinks. The right edge the receiver once
 * offered is kept (td_maxend never moves back), so data the sender
 * already had permission for passes, as in Linux and pf (RFC 7323 2.4:
 * a sender may use the window it was given). The "bad window update"
 * that also acks unseen data is INVALID through the ack bound.
 */
START_TEST(test_c4_38_window_shrink)
{
	struct ctg_track_result r;

	handshake();
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, 100, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 1000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 2001, 0, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_ABOVE_SENT);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1 + WIN, SISN + 1, WIN, 10);
	EXPECT_INVALID(r, CTG_R_TCP_SEQ_ABOVE_WINDOW);
}
END_TEST

/*
 * Item 39: repeated retransmissions shorten the timeout to tcp_retrans
 * after RETRANS_LIMIT (3), as Linux's nf_conntrack_tcp_max_retrans.
 * ctguard counts resent data only, not duplicate pure ACKs (Linux counts
 * any identical ACK-class packet): a dup ACK is normal fast-retransmit
 * signalling, not a sign of a dead peer.
 */
START_TEST(test_c4_39_retransmissions_shorten_timeout)
{
	struct ctg_tracker_config tc;
	struct ctg_track_result r;

	base_config(&tc, 1024, CTG_MIDSTREAM_STRICT);
	tc.timeouts.tcp_retrans = 100;
	reset_tracker_cfg(&tc);
	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	for (int i = 0; i < 2; i++) {
		r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
		EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RETRANSMIT);
	}
	/* duplicate ACKs from the server do not count */
	for (int i = 0; i < 3; i++) {
		r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
		EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	}
	now += 100 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);      /* unacked: 300 s */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RETRANSMIT);
	ck_assert_uint_eq(r.conn->peer[0].retrans, 3);
	now += 99 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now += 1 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_TIMEOUT);
}
END_TEST

/*
 * Item 40: PAWS guards the segments that change state (FIN:
 * check_tracker.c:test_paws). A data segment with an old timestamp
 * passes (NOTE tcp_paws_ignored) and moves nothing, neither last_tsval
 * nor the sent edge: the receiver itself discards it (RFC 7323 5.3;
 * Linux tcp_validate_incoming() -> tcp_paws_discard()), so it can neither
 * inject nor desynchronise. Linux conntrack has no PAWS; pf's scrub drops
 * it (PFRES_TS).
 */
START_TEST(test_c4_40_paws_data)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake_ts();
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	ts(&p, 200, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 11, SISN + 1, WIN, 10);
	ts(&p, 150, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_PAWS_IGNORED);
	ck_assert_uint_eq(r.conn->peer[0].last_tsval, 200);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 11);
	/*
	 * An RST at the end of the ignored data is not exact (the receiver
	 * never took that data); one at the real edge is, whatever its
	 * timestamp (RFC 7323 5.2).
	 */
	p = tcp_pkt(0, CTG_TH_RST, CISN + 21, 0, 0, 0);
	ts(&p, 150, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RST_INEXACT);
	EXPECT_UNCHANGED(r);
	p = tcp_pkt(0, CTG_TH_RST, CISN + 11, 0, 0, 0);
	ts(&p, 150, 900);
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/* --- C5. RST ------------------------------------------------------------------ */

/*
 * Item 43: the ack field of an RST|ACK. In SYN_SENT it must acknowledge
 * the SYN, and ack 0 counts as no ACK (as Linux and pf, for broken
 * stacks): tcp_rst_bad_ack. In a synchronised state only the sequence
 * number decides (RFC 5961 3.2; the Linux and BSD stacks accept such an
 * RST by its seq alone), so an exact RST|ACK whose ack is off still
 * closes. Differs from Linux and pf, which apply the ack bounds to RSTs
 * too: refusing an RST the endpoint accepts would leave the box holding
 * a connection its endpoints no longer have.
 */
START_TEST(test_c5_43_rst_ack_field)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, 0, 0, 0, 0);
	EXPECT_INVALID(r, CTG_R_TCP_RST_BAD_ACK);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);

	cport++;
	handshake();
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, SISN + 1, CISN + 100000, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * Item 44: the RST that answers a challenge ACK for a SYN passed on a
 * held tuple. Linux passes the SYN as IGNORE and accepts the RST that
 * acks its last_end without window checks; ctguard passes the SYN
 * without letting it change state (tcp_syn_held), so the server's
 * challenge ACK is an ordinary in-window ACK and the client's RST, sent
 * at the challenge ACK's ack, is exact for the connection as tracked: it
 * closes, and the retransmitted SYN then reopens the tuple.
 */
START_TEST(test_c5_44_rst_after_challenge_ack_for_syn)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_SYN, CISN + 777, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_UNCHANGED(r);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	r = seg(0, CTG_TH_SYN, CISN + 777, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	ck_assert(r.created);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN + 99999, CISN + 778, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/*
 * Item 45: an RST as the only reply ever seen. Linux kills the entry at
 * once; ctguard keeps it closed for tcp_close (10 s) so that the
 * attempt is logged as REJ and late copies are classified (tcp_closed),
 * while a new SYN on the tuple reopens it at once, so the client's retry
 * is never blocked.
 */
START_TEST(test_c5_45_rst_only_reply)
{
	struct ctg_track_result r;
	uint64_t old_id;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	old_id = r.conn->id;
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	EXPECT_INVALID(r, CTG_R_TCP_CLOSED);
	now += 1 * SEC;
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	ck_assert(r.created);
	ck_assert_uint_ne(r.conn->id, old_id);
	ck_assert_int_eq(nends, 1);
	ck_assert_str_eq(ends[0].conn_state, "REJ");
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_REOPENED);

	/* left alone, a rejected entry goes after tcp_close (10 s) */
	cport++;
	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	now += 9 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now += 1 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_int_eq(nends, 2);
	ck_assert_str_eq(ends[1].conn_state, "REJ");
	ck_assert_uint_eq(ends[1].end_reason, CTG_END_RESET);
}
END_TEST

/*
 * Item 46: traffic after an exact RST, from either endpoint and of any
 * kind, is INVALID (tcp_closed). Differs from Linux, which keeps passing
 * in-window segments in CLOSE for 10 s (tests/e2e/diff tcp_data_after_rst):
 * the receiver of the RST has no connection any more, and segments after
 * it are the classic sign of an injected RST that ctguard accepted or of
 * a peer that ignored one; neither should pass silently.
 */
START_TEST(test_c5_46_traffic_after_rst)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	r = seg(0, CTG_TH_RST | CTG_TH_ACK, CISN + 11, SISN + 1, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 11, WIN, 20);
	EXPECT_INVALID(r, CTG_R_TCP_CLOSED);
	r = seg(0, CTG_TH_ACK, CISN + 11, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_CLOSED);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 11, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_CLOSED);
	r = seg(1, CTG_TH_RST, SISN + 1, 0, 0, 0);
	EXPECT_INVALID(r, CTG_R_TCP_CLOSED);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_CLOSED);
}
END_TEST

/* --- C6. FIN and close ---------------------------------------------------------- */

/*
 * Item 48: a FIN beyond the receiver's window, before the sender's
 * window, or acking unsent data is INVALID like any segment (the FIN
 * counts one sequence number) and does not start the close.
 * Linux: the same window checks (bound II is IGNORE there).
 */
START_TEST(test_c6_48_fin_out_of_window)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1 + WIN + 100, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SEQ_ABOVE_WINDOW);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN - 100000, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SEQ_BELOW_WINDOW);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 100, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	ck_assert(!(r.conn->flags & CTG_CONN_FIN_ORIG));
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * Item 49: ack and seq checks in every closing state (Suricata's FIN1_*,
 * FIN2_*, CLOSING_*, CLOSEWAIT_*, LASTACK_*, TIMEWAIT_* events): an ack
 * of data never sent, data past the sender's FIN, and data beyond the
 * window are INVALID in FIN_WAIT_1, FIN_WAIT_2 / CLOSE_WAIT, LAST_ACK,
 * TIME_WAIT and CLOSING, and move nothing. Linux applies only the window
 * bounds here; data after the sender's own FIN differs (tests/e2e/diff
 * tcp_data_after_fin): RFC 793 allows none.
 */
START_TEST(test_c6_49_closing_states)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	/* FIN_WAIT_1 */
	EXPECT_INVALID(seg(1, CTG_TH_ACK, SISN + 1, CISN + 3, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_INVALID(seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 2, SISN + 1, WIN, 10),
	    CTG_R_TCP_DATA_AFTER_FIN);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_CLOSE_WAIT);
	/* FIN_WAIT_2 / CLOSE_WAIT */
	EXPECT_INVALID(seg(1, CTG_TH_ACK, SISN + 1, CISN + 3, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1 + WIN, CISN + 2, WIN, 10),
	    CTG_R_TCP_SEQ_ABOVE_WINDOW);
	EXPECT_INVALID(seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 2, SISN + 1, WIN, 0),
	    CTG_R_TCP_DATA_AFTER_FIN);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_LAST_ACK);
	/* LAST_ACK */
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 2, SISN + 3, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 2, CISN + 2, WIN, 5),
	    CTG_R_TCP_DATA_AFTER_FIN);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
	/* TIME_WAIT */
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 2, SISN + 3, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 2, CISN + 2, WIN, 5),
	    CTG_R_TCP_DATA_AFTER_FIN);
	EXPECT_INVALID(seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 2, SISN + 2, WIN, 5),
	    CTG_R_TCP_DATA_AFTER_FIN);

	/* CLOSING: both FINs crossed */
	cport++;
	handshake();
	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	ck_assert_uint_eq(r.after[0], CTG_TCPS_CLOSING);
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 2, SISN + 3, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_INVALID(seg(1, CTG_TH_ACK, SISN + 2, CISN + 3, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 2, CISN + 2, WIN, 5),
	    CTG_R_TCP_DATA_AFTER_FIN);
	r = seg(1, CTG_TH_ACK, SISN + 2, CISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_TIME_WAIT);
}
END_TEST

/*
 * Item 50: a SYN from the originator while the connection closes
 * (FIN_WAIT, CLOSE_WAIT, LAST_ACK) passes without moving anything
 * (NOTE tcp_syn_held), as Linux passes it as IGNORE: the peer answers
 * with a challenge ACK or, if it has forgotten the connection, a SYN/ACK
 * (check_tracker.c:test_syn_held_*). A SYN from the responder stays
 * INVALID (tcp_syn_on_established; Linux sIV, pf drops it too).
 */
START_TEST(test_c6_50_syn_during_shutdown)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	r = seg(0, CTG_TH_SYN, CISN + 100000, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	r = seg(0, CTG_TH_SYN, CISN + 100000, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_CLOSE_WAIT);
	r = seg(1, CTG_TH_SYN, SISN + 100000, 0, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYN_ON_ESTABLISHED);
	seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	r = seg(0, CTG_TH_SYN, CISN + 100000, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_LAST_ACK);
}
END_TEST

/*
 * Item 51: the challenge ACK a LAST_ACK endpoint sends in answer to a
 * SYN is not the final ACK. Linux needs IP_CT_EXP_CHALLENGE_ACK for
 * this because any ACK moves its sLA to sTW; ctguard follows each
 * endpoint, and only the FIN_WAIT_2 side's ack of the last FIN closes,
 * so the LAST_ACK side's own ACK moves nothing.
 */
START_TEST(test_c6_51_challenge_ack_in_last_ack)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_LAST_ACK);
	r = seg(0, CTG_TH_SYN, CISN + 100000, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	r = seg(1, CTG_TH_ACK, SISN + 2, CISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_LAST_ACK);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * Item 52: an INVALID RST after the peer's (inexact, hence not closing)
 * RST changes nothing, timeout included. Differs from Linux, which
 * lowers an assured connection's timeout to UNACK when an invalid FIN or
 * RST follows one from the other side: anyone can forge an INVALID
 * packet, so letting it shorten a connection's life would let an
 * off-path host age connections out; and ctguard needs no such rescue
 * because a FIN already moves the entry to the short closing timers and
 * a real reset ends with an exact RST after the challenge ACK.
 */
START_TEST(test_c6_52_invalid_rst_keeps_timeout)
{
	struct ctg_track_result r;

	handshake();
	r = seg(1, CTG_TH_RST, SISN + 1 + 42, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RST_INEXACT);
	r = seg(0, CTG_TH_RST, CISN + 1 + 1000000, 0, 0, 0);
	EXPECT_INVALID(r, CTG_R_TCP_RST_OUT_OF_WINDOW);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	now += 301 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	ck_assert_ptr_nonnull(find_tcp());
}
END_TEST

/* --- C7. Reuse and resynchronisation ------------------------------------------ */

/*
 * Item 56: a SYN/ACK inside an established connection. A late copy of
 * the real one (same seq) is a note (check_tracker.c:
 * test_synack_retransmit); one with another seq is INVALID
 * (tcp_synack_unexpected), the originator's is tcp_synack_wrong_dir (as
 * Linux's sIV). Differs from Linux for the responder's other-seq SYN/ACK
 * (sIG there, for resynchronisation after an ignored SYN): ctguard never
 * ignores a SYN into the connection, so there is nothing to resync to.
 */
START_TEST(test_c7_56_synack_in_established)
{
	struct ctg_track_result r;

	handshake();
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN + 99, CISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_UNEXPECTED);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_WRONG_DIR);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/*
 * Item 57: port reuse with the roles reversed: the old responder opens
 * a connection to the old originator on the same ports while the reset
 * entry lingers. The SYN reopens the tuple as a new connection in its
 * own direction, so the answering SYN/ACK matches the new entry, not the
 * stale one (P-11).
 */
START_TEST(test_c7_57_reuse_roles_reversed)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	now += 1 * SEC;
	r = seg(1, CTG_TH_SYN, 70000, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	ck_assert(r.created);
	ck_assert_uint_eq(r.conn->tuple.sport, 80);
	ck_assert_uint_eq(r.conn->tuple.dport, cport);
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, 90000, 70001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.dir, 1);
	r = seg(1, CTG_TH_ACK, 70001, 90001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * Item 58: handshake ping-pong (SYN, SYN/ACK, SYN, SYN/ACK ... without a
 * third ACK, ironcore-dev/dpservice #628) never reaches ESTABLISHED: the
 * repeats are notes, the endpoints stay SYN_SENT / SYN_RCVD, the entry
 * is not assured and lives on the syn_rcvd timer (60 s).
 */
START_TEST(test_c7_58_handshake_ping_pong)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	for (int i = 0; i < 5; i++) {
		now += 1 * SEC;
		r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
		EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_RETRANSMIT);
		EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
		r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
		EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_RETRANSMIT);
		EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	}
	ck_assert(!(r.conn->flags & CTG_CONN_ASSURED));
	ck_assert_str_ne(ctg_conn_label(r.conn), "ESTABLISHED");
	now += 59 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now += 1 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_uint_eq(ends[0].orig_state, CTG_TCPS_SYN_SENT);
	ck_assert_uint_eq(ends[0].resp_state, CTG_TCPS_SYN_RCVD);
}
END_TEST

/* --- C9. Resources --------------------------------------------------------------- */

/*
 * Item 66: half-open pressure. ctguard has no SYN cookies (it gives
 * verdicts, it cannot answer SYNs); instead half-open entries are
 * evicted first (check_tracker.c:test_table_evicts_oldest_unestablished)
 * and, as in pf, timeouts shrink linearly between adaptive_start and
 * adaptive_end: at 6 of 10 entries with 50..100 %, 120 s becomes 96 s.
 */
START_TEST(test_c9_66_adaptive_timeouts)
{
	struct ctg_tracker_config tc;
	struct ctg_track_result r;

	base_config(&tc, 10, CTG_MIDSTREAM_STRICT);
	tc.adaptive_start_pct = 50;
	tc.adaptive_end_pct = 100;
	reset_tracker_cfg(&tc);
	for (int i = 0; i < 6; i++) {
		r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
		EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
		cport++;
	}
	now += 95 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now += 1 * SEC;
	/* the first to go brings the table back to 5: the rest keep 120 s */
	ck_assert_uint_eq(sweep_all(), 1);
	now += 23 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now += 1 * SEC;
	ck_assert_uint_eq(sweep_all(), 5);
}
END_TEST

/* --- bugs these checks found (fixed; kept as regression tests) ------------- */

/*
 * Item 21: a resent SYN/ACK with the same seq but another ack passes as
 * a retransmission (tcp_syn_retransmit) even when the ack is not the
 * SYN + 1, which the first SYN/ACK check would have refused
 * (tcp_synack_bad_ack). Expected: the same ack check as the first one.
 */
START_TEST(test_bug_c3_21_synack_resend_other_ack)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 50000, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_BAD_ACK);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_BAD_ACK);
}
END_TEST

/*
 * Item 25: the INVALID SYN/ACK with the wrong seq in a simultaneous open
 * re-initialises its sender (peer_init_syn runs before the seq check),
 * so the correct SYN/ACK that follows is refused as well and the
 * connection can never open. Expected: an INVALID packet changes nothing.
 */
START_TEST(test_bug_c3_25_simultaneous_wrong_syn_poisons)
{
	struct ctg_track_result r;

	simultaneous_syns();
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN + 9, SISN + 1, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYNACK_UNEXPECTED);
	ck_assert_uint_eq(r.conn->peer[0].isn, CISN);
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN, SISN + 1, WIN, 0);
	ck_assert_msg(r.ctstate != CTG_CT_INVALID, "%s", ctg_reason_name(r.reason));
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ck_assert_msg(r.ctstate != CTG_CT_INVALID, "%s", ctg_reason_name(r.reason));
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

static Suite *
checklist_suite(void)
{
	Suite *s = suite_create("checklist");
	TCase *tc;

	tc = tcase_create("c1_stateless");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_c1_01_truncated_header);
	tcase_add_test(tc, test_c1_04_ack_field_without_flag);
	tcase_add_test(tc, test_c1_05_reserved_bits_urg_pointer);
	tcase_add_test(tc, test_c1_06_malformed_options);
	tcase_add_test(tc, test_c1_06_md5_option_decoded);
	tcase_add_test(tc, test_c1_07_wscale_over_14);
	tcase_add_test(tc, test_c1_08_multiple_timestamps);
	tcase_add_test(tc, test_c1_10_rst_with_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("c2_c3_handshake");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_c2_13_midstream_not_trusted);
	tcase_add_test(tc, test_c3_18_fin_in_syn_sent);
	tcase_add_test(tc, test_c3_20_syn_new_isn);
	tcase_add_test(tc, test_c3_21_synack_resend_other_seq);
	tcase_add_test(tc, test_c3_23_third_ack_wrong);
	tcase_add_test(tc, test_c3_25_simultaneous_open_inconsistent);
	tcase_add_test(tc, test_c3_26_synack_timestamp_not_offered);
	tcase_add_test(tc, test_c3_28_both_syn_sent_mismatch);
	suite_add_tcase(s, tc);

	tc = tcase_create("c4_window");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_c4_33_ack_below_window);
	tcase_add_test(tc, test_c4_34_sack_not_permitted);
	tcase_add_test(tc, test_c4_38_window_shrink);
	tcase_add_test(tc, test_c4_39_retransmissions_shorten_timeout);
	tcase_add_test(tc, test_c4_40_paws_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("c5_c6_rst_fin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_c5_43_rst_ack_field);
	tcase_add_test(tc, test_c5_44_rst_after_challenge_ack_for_syn);
	tcase_add_test(tc, test_c5_45_rst_only_reply);
	tcase_add_test(tc, test_c5_46_traffic_after_rst);
	tcase_add_test(tc, test_c6_48_fin_out_of_window);
	tcase_add_test(tc, test_c6_49_closing_states);
	tcase_add_test(tc, test_c6_50_syn_during_shutdown);
	tcase_add_test(tc, test_c6_51_challenge_ack_in_last_ack);
	tcase_add_test(tc, test_c6_52_invalid_rst_keeps_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("c7_c9_reuse_resources");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_c7_56_synack_in_established);
	tcase_add_test(tc, test_c7_57_reuse_roles_reversed);
	tcase_add_test(tc, test_c7_58_handshake_ping_pong);
	tcase_add_test(tc, test_c9_66_adaptive_timeouts);
	suite_add_tcase(s, tc);

	tc = tcase_create("fixed_bugs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bug_c3_21_synack_resend_other_ack);
	tcase_add_test(tc, test_bug_c3_25_simultaneous_wrong_syn_poisons);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(checklist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
