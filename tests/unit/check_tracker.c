/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: one test per behaviour the design intends.
 *
 * Packets are built by hand (no decoder) over one fixed flow, client
 * 198.51.100.2:40000 to server 203.0.113.5:80, with a fake clock. Every
 * packet the tracker does not call INVALID is accounted as the daemon
 * would after an accept verdict, so that ended connections reach the end
 * callback, which keeps a copy of each record.
 */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ctguard/config.h"
#include "ctguard/tracker.h"

#include "trackerkit.h"

/* --- handshake ---------------------------------------------------------- */

START_TEST(test_handshake)
{
	struct ctg_track_result r;

	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(r.created);
	ck_assert_uint_eq(r.dir, 0);
	EXPECT_BEFORE(r, CTG_TCPS_NONE, CTG_TCPS_NONE);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);

	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert(!r.created);
	ck_assert_uint_eq(r.dir, 1);
	EXPECT_BEFORE(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);

	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_BEFORE(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	ck_assert_str_eq(ctg_conn_label(r.conn), "ESTABLISHED");
	ck_assert_uint_eq(stats().live, 1);
}
END_TEST

START_TEST(test_syn_retransmit)
{
	struct ctg_track_result r;

	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	now += 60 * SEC;
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_SYN_RETRANSMIT);
	ck_assert(!r.created);
	EXPECT_UNCHANGED(r);
	/* the retransmission did not refresh the 120 s syn_sent timer */
	now = T0 + 119 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now = T0 + 120 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_TIMEOUT);
}
END_TEST

START_TEST(test_synack_retransmit)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_RETRANSMIT);
	EXPECT_UNCHANGED(r);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* a late copy after the handshake completed */
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_RETRANSMIT);
	EXPECT_UNCHANGED(r);
}
END_TEST

START_TEST(test_simultaneous_open)
{
	struct ctg_track_result r;

	simultaneous_syns();
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN, SISN + 1, WIN, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* and data flows both ways */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 11, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/* The SYN/ACKs cross too: the responder's may be the first to pass. */
START_TEST(test_simultaneous_open_reply_first)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_SYN, SISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SIMULTANEOUS_OPEN);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ck_assert_msg(r.ctstate != CTG_CT_INVALID, "%s", ctg_reason_name(r.reason));
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN, SISN + 1, WIN, 0);
	ck_assert_msg(r.ctstate != CTG_CT_INVALID, "%s", ctg_reason_name(r.reason));
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_tfo)
{
	struct ctg_track_result r;

	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 100);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_SYN_DATA);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	/* the server acks only the SYN: the client will resend the data */
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	ck_assert_int_eq(r.ctstate, CTG_CT_ESTABLISHED);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

START_TEST(test_tfo_server_answers_early)
{
	struct ctg_track_result r;

	/* RFC 7413: a server that acked the SYN's data may answer before the third ACK */
	seg(0, CTG_TH_SYN, CISN, 0, WIN, 40);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 41, WIN, 0);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 41, WIN, 120);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_server_data_before_third_ack)
{
	struct ctg_track_result r;

	/* without TFO the same early data is an injection */
	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 120);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_DATA_BEFORE_ESTABLISHED);
}
END_TEST

START_TEST(test_syn_retransmit_after_synack)
{
	struct ctg_track_result r;

	/* the SYN/ACK was lost past the gateway: the client resends its SYN */
	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_RETRANSMIT);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	/* a SYN with another ISN is not a retransmission: passed, nothing moves */
	r = seg(0, CTG_TH_SYN, CISN + 5000, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
}
END_TEST

START_TEST(test_tfo_data_acked)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 100);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 101, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 101, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

START_TEST(test_synack_data)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 50);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_DATA);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 51, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

/* --- close -------------------------------------------------------------- */

START_TEST(test_close_by_client)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_CLOSE_WAIT);
	/* half-closed: the server still sends, the client still acks */
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 2, WIN, 300);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_UNCHANGED(r);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 301, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_UNCHANGED(r);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 301, CISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_LAST_ACK);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 302, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "SF");

	/* 2*MSL = time_wait 120 s */
	now += 119 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	now += 1 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_int_eq(nends, 1);
	ck_assert_str_eq(ctg_end_reason_name(ends[0].end_reason), "closed");
	ck_assert_str_eq(ends[0].conn_state, "SF");
	ck_assert_uint_eq(ends[0].orig_state, CTG_TCPS_TIME_WAIT);
	ck_assert_uint_eq(ends[0].resp_state, CTG_TCPS_CLOSED);
	ck_assert_uint_eq(ends[0].tuple.sport, 40000);
	ck_assert_uint_eq(ends[0].pkts[0], 5);
	ck_assert_uint_eq(ends[0].pkts[1], 4);
}
END_TEST

START_TEST(test_close_by_server)
{
	struct ctg_track_result r;

	handshake();
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_FIN_WAIT_1);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSE_WAIT, CTG_TCPS_FIN_WAIT_2);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 2, WIN, 20);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_ACK, SISN + 2, CISN + 21, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSE_WAIT, CTG_TCPS_FIN_WAIT_2);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 21, SISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_LAST_ACK, CTG_TCPS_FIN_WAIT_2);
	r = seg(1, CTG_TH_ACK, SISN + 2, CISN + 22, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_TIME_WAIT);
	now += 120 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_CLOSED);
	ck_assert_str_eq(ends[0].conn_state, "SF");
}
END_TEST

START_TEST(test_close_fin_with_data)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	/* acking the data but not the FIN moves nothing */
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 11, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 12, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_LAST_ACK);
	r = seg(0, CTG_TH_ACK, CISN + 12, SISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
	/* a late copy of the last ACK in TIME_WAIT is harmless */
	r = seg(0, CTG_TH_ACK, CISN + 12, SISN + 2, WIN, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	EXPECT_UNCHANGED(r);
}
END_TEST

START_TEST(test_simultaneous_close)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	/* the server's FIN crossed the client's: it does not ack it */
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_FIN_WAIT_1);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.after[0], CTG_TCPS_CLOSING);
	r = seg(1, CTG_TH_ACK, SISN + 2, CISN + 2, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_TIME_WAIT);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "SF");
	now += 120 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_CLOSED);
}
END_TEST

START_TEST(test_fin_retransmit)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RETRANSMIT);
	EXPECT_UNCHANGED(r);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_CLOSE_WAIT);
	/* a late copy after the ack changes nothing either */
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RETRANSMIT);
	EXPECT_UNCHANGED(r);
}
END_TEST

/* Client-initiated close to TIME_WAIT / CLOSED. */
static void
close_conn(void)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
}

START_TEST(test_time_wait_reuse)
{
	struct ctg_track_result r;
	uint64_t old_id = handshake()->id;

	close_conn();
	now += 5 * SEC;
	r = seg(0, CTG_TH_SYN, CISN + 100000, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	ck_assert(r.created);
	ck_assert_ptr_nonnull(r.conn);
	ck_assert_uint_ne(r.conn->id, old_id);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].conn_id, old_id);
	ck_assert_str_eq(ctg_end_reason_name(ends[0].end_reason), "reopened");
	ck_assert_uint_eq(stats().live, 1);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, 77777, CISN + 100001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/*
 * A SYN with a lower ISN and no newer timestamp inside TIME_WAIT: it may
 * be an old duplicate (RFC 1122 4.2.2.13), so it does not reopen the
 * entry; but the endpoints decide what it is: it passes without moving
 * anything (tcp_syn_held). A server that has forgotten the connection
 * answers with a SYN/ACK, which re-initialises the entry; one still in
 * TIME_WAIT answers with an ACK (tcp_timewait_state_process()), the
 * client resets that and its next SYN reopens.
 */
START_TEST(test_time_wait_old_syn)
{
	struct ctg_track_result r;

	handshake();
	close_conn();
	now += 5 * SEC;
	r = seg(0, CTG_TH_SYN, CISN - 500, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_UNCHANGED(r);
	ck_assert_int_eq(nends, 0);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, 9999, CISN - 499, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RESYNC);
	r = seg(0, CTG_TH_ACK, CISN - 499, 10000, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);

	/* the server closed first and is in TIME_WAIT: it answers with an ACK */
	cport++;
	handshake();
	seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 2, WIN, 0);
	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 2, WIN, 0);
	r = seg(1, CTG_TH_ACK, SISN + 2, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_TIME_WAIT);
	now += 1 * SEC;
	EXPECT(seg(0, CTG_TH_SYN, CISN - 500, 0, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_TCP_SYN_HELD);
	EXPECT(seg(1, CTG_TH_ACK, SISN + 2, CISN + 2, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	r = seg(0, CTG_TH_RST, CISN + 2, 0, 0, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	r = seg(0, CTG_TH_SYN, CISN - 500, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
}
END_TEST

START_TEST(test_time_wait_newer_timestamp)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake_ts();
	p = tcp_pkt(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ts(&p, 102, 900);
	run(&p);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	ts(&p, 901, 102);
	run(&p);
	p = tcp_pkt(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	ts(&p, 902, 102);
	run(&p);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	ts(&p, 103, 902);
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);

	/* lower ISN, older timestamp: maybe a delayed old SYN, kept from reopening */
	p = tcp_pkt(0, CTG_TH_SYN, CISN - 500, 0, WIN, 0);
	ts(&p, 50, 0);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_UNCHANGED(r);
	/* lower ISN but a newer timestamp: a new incarnation */
	p = tcp_pkt(0, CTG_TH_SYN, CISN - 500, 0, WIN, 0);
	ts(&p, 5000, 0);
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_REOPENED);
}
END_TEST

/* --- issue 22 class 3: new SYNs on a tuple still held ------------------- */

/*
 * The client rebooted (or a NAT reused the port) while the entry of an
 * idle connection is still ESTABLISHED. Linux answers the new SYN with a
 * challenge ACK (RFC 5961 4.2, tcp_validate_incoming()), the client
 * answers that with an RST at its ack, which is exact and closes, and the
 * retransmitted SYN opens the new connection. The SYN that started it
 * all passes without moving anything or refreshing the timer.
 */
START_TEST(test_syn_held_established_challenge)
{
	struct ctg_track_result r;
	struct ctg_conn *c = handshake();
	uint64_t last = c->last_us;

	now += 3600 * SEC;
	r = seg(0, CTG_TH_SYN, 777777, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_UNCHANGED(r);
	ck_assert_uint_eq(c->last_us, last);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	now += 1 * SEC;
	r = seg(0, CTG_TH_SYN, 777777, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, 424242, 777778, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, 777778, 424243, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * The server had forgotten the old connection and answers the new SYN
 * with a SYN/ACK: both ends agree on a new connection, so the entry is
 * re-initialised from the SYN/ACK (nf_conntrack: "This SYN/ACK
 * acknowledges a SYN that we earlier ignored as invalid ... We get in
 * sync from the previously annotated values"), with the options the
 * SYN/ACK echoes and the SYN's window scale.
 */
START_TEST(test_syn_held_synack_resyncs)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake();
	now += 3600 * SEC;
	p = tcp_pkt(0, CTG_TH_SYN, 777777, 0, 1000, 0);
	wscale(&p, 7);
	ts(&p, 5000, 0);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, 424242, 777778, 1000, 0);
	wscale(&p, 7);
	ts(&p, 90, 5000);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RESYNC);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	ck_assert_uint_eq(r.conn->peer[0].isn, 777777);
	ck_assert_uint_eq(r.conn->peer[0].wscale, 7);
	p = tcp_pkt(0, CTG_TH_ACK, 777778, 424243, 1000, 0);
	ts(&p, 5001, 90);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* windows are scaled: 1000 << 7 */
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_PSH, 424243, 777778, 1000, 100000);
	ts(&p, 91, 5001);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, 777778, 524243, 1000, 0);
	ts(&p, 5002, 91);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* the old incarnation's sequence space is gone */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	ck_assert_int_eq(r.ctstate, CTG_CT_INVALID);
	EXPECT_UNCHANGED(r);
}
END_TEST

/*
 * The same in SYN_RCVD after the SYN/ACK was lost past the box and the
 * client came back with a new ISN: the half-open server answers the
 * out-of-window SYN with an ACK (tcp_check_req()), the client resets it
 * (RST at that ACK's ack, which ends the half-open connection), and the
 * retransmitted SYN succeeds.
 */
START_TEST(test_syn_held_syn_rcvd)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(0, CTG_TH_SYN, 777777, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	r = seg(0, CTG_TH_SYN, 777777, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	EXPECT(seg(1, CTG_TH_SYN | CTG_TH_ACK, 424242, 777778, WIN, 0),
	    CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, 777778, 424243, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * A SYN/ACK with a new ISN answering a retransmitted SYN (SYN cookies,
 * load balancers, TFO fallback; seen on a CDN capture): the client takes
 * it, so the responder is re-initialised from it, as nf_conntrack does
 * since commit 82b72cb94666 ("re-init state for retransmitted syn-ack"),
 * and the session that follows passes.
 */
START_TEST(test_synack_new_isn_after_syn_retransmit)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	now += 1 * SEC;
	EXPECT(seg(0, CTG_TH_SYN, CISN, 0, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_TCP_SYN_RETRANSMIT);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, 88888888, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RESYNC);
	r = seg(0, CTG_TH_ACK, CISN + 1, 88888889, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	EXPECT(seg(1, CTG_TH_ACK | CTG_TH_PSH, 88888889, CISN + 1, WIN, 500),
	    CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/*
 * A SYN with a lower ISN and no timestamps 70 s after a FIN close: the
 * endpoints' TIME_WAIT (Linux TCP_TIMEWAIT_LEN, 60 s) is over, so no
 * endpoint would take it for an old duplicate; it reopens although the
 * entry still lingers (tcp_time_wait, 120 s). Within 60 s it only
 * passes, and the endpoint decides (test_time_wait_old_syn).
 */
START_TEST(test_time_wait_lower_isn_after_60s)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
	now += 59 * SEC;
	r = seg(0, CTG_TH_SYN, CISN - 500, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	ck_assert(!r.created);
	now += 11 * SEC;
	r = seg(0, CTG_TH_SYN, CISN - 500, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	EXPECT(seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN - 499, WIN, 0),
	    CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/* --- RST ------------------------------------------------------------------ */

START_TEST(test_rst_exact_orig)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	ck_assert_uint_eq(r.reason, CTG_R_NONE);
	EXPECT_BEFORE(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "RSTO");
	now += 10 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_str_eq(ends[0].conn_state, "RSTO");
	ck_assert_str_eq(ctg_end_reason_name(ends[0].end_reason), "reset");
}
END_TEST

START_TEST(test_rst_exact_resp)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, SISN + 1, CISN + 101, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "RSTR");
	now += 10 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_str_eq(ends[0].conn_state, "RSTR");
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_RESET);
}
END_TEST

START_TEST(test_rst_inexact)
{
	struct ctg_track_result r;

	handshake();
	r = seg(1, CTG_TH_RST, SISN + 1 + 42, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RST_INEXACT);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* the connection carries on */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_int_eq(nends, 0);
}
END_TEST

START_TEST(test_rst_out_of_window)
{
	struct ctg_track_result r;

	handshake();
	r = seg(1, CTG_TH_RST, SISN + 1 + 1000000, 0, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_RST_OUT_OF_WINDOW);
	EXPECT_UNCHANGED(r);
	r = seg(1, CTG_TH_RST, 0, 0, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_RST_OUT_OF_WINDOW);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* one below the next sequence (after the peer acked it) */
	seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 3000);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 3001, WIN, 0);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, SISN + 3000, CISN + 1, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_RST_OUT_OF_WINDOW);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, SISN + 3001, CISN + 1, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

START_TEST(test_syn_after_rst)
{
	struct ctg_track_result r;
	uint64_t old_id = handshake()->id;

	r = seg(1, CTG_TH_RST, SISN + 1, 0, 0, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	now += 1 * SEC;
	/* even an ISN below the old one: after a reset the tuple is free */
	r = seg(0, CTG_TH_SYN, CISN - 300, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	ck_assert(r.created);
	ck_assert_uint_ne(r.conn->id, old_id);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_REOPENED);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN - 299, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_rst_answers_syn)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "REJ");
	now += 10 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_str_eq(ends[0].conn_state, "REJ");
}
END_TEST

START_TEST(test_rst_answers_syn_bad_ack)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 7, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_RST_BAD_ACK);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	r = seg(1, CTG_TH_RST, 0, 0, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_RST_BAD_ACK);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
}
END_TEST

START_TEST(test_rst_by_originator_in_syn_sent)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "RSTOS0");
	now += 10 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_str_eq(ends[0].conn_state, "RSTOS0");
	ck_assert_str_eq(ends[0].history, "SR");
}
END_TEST

START_TEST(test_challenge_ack)
{
	struct ctg_track_result r;

	/* conntrack_syn_challenge_ack.pkt: the peer still has an old incarnation */
	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_ACK, 145824453u, 643160523u, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_CHALLENGE_ACK);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	r = seg(0, CTG_TH_RST, 643160523u, 0, 0, 0);
	ck_assert_msg(r.ctstate != CTG_CT_INVALID, "RST after challenge ACK: %s",
	    ctg_reason_name(r.reason));
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	/* the client tries again and gets through */
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_REOPEN);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

START_TEST(test_challenge_ack_wrong_rst)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_ACK, 145824453u, 643160523u, WIN, 0);
	r = seg(0, CTG_TH_RST, 643160523u + 99999, 0, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_RST_OUT_OF_WINDOW);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
}
END_TEST

/* --- issue 22 class 2 / issue 14 item 5: RSTs as endpoints judge them ---- */

/*
 * An RST or FIN answering a SYN whose TSecr echoes no TSval of that SYN
 * is discarded by the Linux client (tcp_rcv_synsent_state_process():
 * PAWSActiveRejected -> reset_and_undo), and so is such a SYN/ACK: INVALID
 * tcp_bad_tsecr with nothing moved, and the real SYN/ACK and the session
 * that follows pass.
 */
START_TEST(test_answer_to_syn_bad_tsecr)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	ts(&p, 100, 0);
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_NONE);
	/* the SYN is retransmitted: its answer may echo either TSval */
	now += 1 * SEC;
	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	ts(&p, 1100, 0);
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_TCP_SYN_RETRANSMIT);
	p = tcp_pkt(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	ts(&p, 7, 55);
	EXPECT_INVALID(run(&p), CTG_R_TCP_BAD_TSECR);
	p = tcp_pkt(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	ts(&p, 7, 1101);
	EXPECT_INVALID(run(&p), CTG_R_TCP_BAD_TSECR);
	p = tcp_pkt(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	ts(&p, 7, 55);
	r = run(&p);
	ck_assert_int_eq(r.ctstate, CTG_CT_INVALID);
	EXPECT_UNCHANGED(r);
	/* a SYN/ACK may echo somewhat older (test_synack_echoes_first_syn), not this */
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN + 99, CISN + 1, WIN, 0);
	ts(&p, 7, 0x80000000u);
	EXPECT_INVALID(run(&p), CTG_R_TCP_BAD_TSECR);
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	/* the real answer echoes the retransmitted SYN's TSval */
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ts(&p, 900, 1100);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ts(&p, 1101, 900);
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 100);
	ts(&p, 901, 1101);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* an RST answering the SYN with the right echo is fine */
	cport++;
	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	ts(&p, 100, 0);
	run(&p);
	p = tcp_pkt(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	ts(&p, 7, 100);
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * An entry made again by a retransmitted SYN (the first one's entry was
 * ended to make room) knows only that SYN's TSval, while a Linux server
 * answers every retransmission with the TSecr of the first SYN (the
 * request keeps its ts_recent; tcp_check_req resends the SYN/ACK). Found
 * by tests/e2e/e2e_flood.sh: such connections never completed. A SYN/ACK
 * may echo up to 2^17 ticks before the oldest SYN seen; an RST or FIN
 * answering the SYN keeps the exact range.
 */
START_TEST(test_synack_echoes_first_syn)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	ts(&p, 501000, 0);
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_NONE);
	/* the first SYN was TSval 500000: an RST echoing it is still refused */
	p = tcp_pkt(1, CTG_TH_RST | CTG_TH_ACK, 0, CISN + 1, 0, 0);
	ts(&p, 7, 500000);
	EXPECT_INVALID(run(&p), CTG_R_TCP_BAD_TSECR);
	/* a SYN/ACK echoing further back than the slack is refused */
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ts(&p, 900, 501000 - (1u << 17) - 1);
	EXPECT_INVALID(run(&p), CTG_R_TCP_BAD_TSECR);
	/* the server's SYN/ACK echoing the first SYN completes the handshake */
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ts(&p, 900, 500000);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ts(&p, 501001, 900);
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * A SYN with ISN 0xffffffff ends at 0, so the RST that refuses it carries
 * ack 0: it acks the SYN and is valid (the "ack 0 means no ACK" rule of
 * broken stacks cannot apply to it).
 */
START_TEST(test_rst_answers_syn_isn_ffffffff)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, 0xffffffffu, 0, WIN, 0);
	r = seg(1, CTG_TH_RST | CTG_TH_ACK, 0, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * A receiver in CLOSE_WAIT (it has the sender's FIN) accepts an RST whose
 * sequence number is that FIN's (Linux tcp_reset_check(): seq ==
 * rcv_nxt - 1 in CLOSE_WAIT, LAST_ACK, CLOSING).
 */
START_TEST(test_rst_fin_seq_in_close_wait)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_CLOSE_WAIT);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * An in-window RST to a half-open server (SYN_RCVD) ends it even if it
 * is not exact: Linux tcp_check_req() goes to embryonic_reset for any RST
 * that passes tcp_in_window(). Keeping SYN_RCVD would leave the table and
 * the server disagreeing. Out of the window it is still INVALID.
 */
START_TEST(test_rst_inexact_in_syn_rcvd)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(0, CTG_TH_RST, CISN + 1 + 70000, 0, 0, 0);
	EXPECT_INVALID(r, CTG_R_TCP_RST_OUT_OF_WINDOW);
	r = seg(0, CTG_TH_RST, CISN + 1 + 500, 0, 0, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * RFC 5961 3.2 with data in flight: the client's RST at the server's
 * last ack is no longer exact once the client's data has reached the
 * server, which answers with a challenge ACK; that ACK and the client's
 * exact RST that follows pass, and the RST closes.
 */
START_TEST(test_challenge_ack_then_exact_rst)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RST_INEXACT);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_RST, CISN + 101, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * An RST (or any segment) with a TCP-MD5 option on a connection whose
 * SYNs carried none is dropped by the receiving stack (Linux
 * tcp_inbound_hash(): TCPMD5Unexpected): INVALID tcp_md5_unexpected, and
 * the flow is not closed. On a connection that negotiated MD5 the same
 * RST closes.
 */
START_TEST(test_rst_md5_unexpected)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake();
	p = tcp_pkt(1, CTG_TH_RST, SISN + 1, 0, 0, 0);
	p.tcp.opt.has_md5 = true;
	EXPECT_INVALID(run(&p), CTG_R_TCP_MD5_UNEXPECTED);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_int_eq(nends, 0);

	cport++;
	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	p.tcp.opt.has_md5 = true;
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	p.tcp.opt.has_md5 = true;
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	p.tcp.opt.has_md5 = true;
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_RST, SISN + 1, 0, 0, 0);
	p.tcp.opt.has_md5 = true;
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/* --- issue 22 class 6: a safety net for RSTs ----------------------------- */

static void
grace_tracker(uint32_t grace)
{
	struct ctg_tracker_config tc;

	base_config(&tc, 1024, CTG_MIDSTREAM_STRICT);
	tc.rst_grace = grace;
	reset_tracker_cfg(&tc);
}

/*
 * An endpoint may ignore an exact RST for reasons the box cannot see
 * (TCP-MD5/AO keys it holds, its own rules): for rst_grace seconds after
 * an accepted RST, segments that fit the connection still pass (NOTE
 * tcp_rst_grace, the entry stays closed and its timer runs on); when both
 * sides have gone on, the connection is revived (NOTE tcp_revived,
 * counted).
 */
START_TEST(test_rst_grace_revives)
{
	struct ctg_track_result r;

	grace_tracker(10);
	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0);
	r = seg(0, CTG_TH_RST, CISN + 101, 0, 0, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	now += 2 * SEC;
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 101, WIN, 300);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RST_GRACE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	/* the server's data counted: the client's ack of it fits */
	now += 1 * SEC;
	r = seg(0, CTG_TH_ACK, CISN + 101, SISN + 301, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_REVIVED);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	ck_assert_uint_eq(stats().reason[CTG_R_TCP_REVIVED], 1);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 101, SISN + 301, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(1, CTG_TH_ACK, SISN + 301, CISN + 111, WIN, 0), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	now += 3600 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	ck_assert_int_eq(nends, 0);
}
END_TEST

/*
 * A real reset: the RST's receiver may still send within the grace (it
 * passes), but the side that reset answers only with RSTs, which are
 * INVALID tcp_closed, so nothing is revived and the entry ends as reset
 * when the grace is over. Out of the window, after the grace, or with the
 * grace off, a segment after an RST is INVALID tcp_closed.
 */
START_TEST(test_rst_grace_real_reset)
{
	struct ctg_track_result r;

	grace_tracker(5);
	handshake();
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	EXPECT(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 100),
	    CTG_CT_ESTABLISHED, CTG_R_TCP_RST_GRACE);
	EXPECT_INVALID(seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0), CTG_R_TCP_CLOSED);
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1 + 1000000, CISN + 1, WIN, 10),
	    CTG_R_TCP_CLOSED);
	now += 6 * SEC;
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 1, SISN + 101, WIN, 0), CTG_R_TCP_CLOSED);
	now += 5 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_RESET);

	/* grace off (the fixture's default): tcp_closed at once */
	grace_tracker(0);
	handshake();
	seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 100),
	    CTG_R_TCP_CLOSED);
}
END_TEST

/*
 * tracker.rst_grace reaches the tracker through the configuration file
 * (ctg_config_load, ctg_tracker_config_from): its own key, no longer the
 * tcp_close timeout, which the file sets to something else here.
 */
static void
grace_from_file(const char *tracker_group, uint32_t want)
{
	char path[] = "/tmp/check_tracker_grace.XXXXXX", err[512];
	struct ctg_config cfg;
	struct ctg_tracker_config tc;
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "tracker = { midstream = \"strict\"; max_connections = 1024;\n"
	    "  timeouts = { tcp_close = 20; }; %s };\n", tracker_group);
	fclose(f);
	ck_assert_msg(ctg_config_load(&cfg, path, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	ck_assert_uint_eq(cfg.rst_grace, want);
	ctg_tracker_config_from(&tc, &cfg);
	ck_assert_uint_eq(tc.rst_grace, want);
	reset_tracker_cfg(&tc);
}

START_TEST(test_rst_grace_config_key)
{
	struct ctg_track_result r;

	/* absent: the default, 10 s (not tcp_close's 20) */
	grace_from_file("", 10);
	handshake();
	seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	now += 9 * SEC;
	EXPECT(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 10),
	    CTG_CT_ESTABLISHED, CTG_R_TCP_RST_GRACE);
	now += 2 * SEC;
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 11, CISN + 1, WIN, 10),
	    CTG_R_TCP_CLOSED);

	/* 0: off, the first segment after an exact RST is INVALID */
	cport++;
	grace_from_file("rst_grace = 0;", 0);
	handshake();
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 100),
	    CTG_R_TCP_CLOSED);
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0), CTG_R_TCP_CLOSED);

	/* 3: in-window segments pass within 3 s of the RST, not after */
	cport++;
	grace_from_file("rst_grace = 3;", 3);
	handshake();
	seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	now += 2 * SEC;
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RST_GRACE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
	/* the grace counts from the RST: the passed segment did not extend it */
	now += 1 * SEC + SEC / 2;
	EXPECT_INVALID(seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 101, CISN + 1, WIN, 100),
	    CTG_R_TCP_CLOSED);
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 1, SISN + 101, WIN, 0), CTG_R_TCP_CLOSED);
}
END_TEST

/* --- issue 22: one-sided flows (asymmetric routing) --------------------- */

/*
 * The responder's SYN/ACK and everything after it take another path: the
 * gateway sees the originator's SYN, then its third ACK and data. Linux
 * conntrack marks that ACK INVALID (nf_conntrack_proto_tcp.c tcp_conntracks
 * ORIGINAL ack: sSS -> sIV, "ACK is invalid: we haven't seen a SYN/ACK
 * yet"); strict keeps that. Loose picks up what it cannot see, so the
 * entry becomes a pick-up (tcp_midstream) when the segment continues the
 * SYN's sequence; one that does not stays INVALID and moves nothing. The
 * flow is never answered, so it is never protected from eviction.
 */
START_TEST(test_one_sided_after_syn)
{
	struct ctg_track_result r;
	uint16_t one_sided;

	/* strict: INVALID, as in the kernel */
	EXPECT(seg(0, CTG_TH_SYN, CISN, 0, WIN, 0), CTG_CT_NEW, CTG_R_NONE);
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0), CTG_R_TCP_ACK_BEFORE_SYNACK);

	reset_tracker(2, CTG_MIDSTREAM_LOOSE);
	cport++;
	one_sided = cport;
	EXPECT(seg(0, CTG_TH_SYN, CISN, 0, WIN, 0), CTG_CT_NEW, CTG_R_NONE);
	/* not the SYN's sequence: no pick-up */
	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 5000, SISN + 1, WIN, 0),
	    CTG_R_TCP_ACK_BEFORE_SYNACK);
	ck_assert_uint_eq(find_tcp()->peer[0].state, CTG_TCPS_SYN_SENT);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_MIDSTREAM);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 1000), CTG_CT_NEW,
	    CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1001, SISN + 1, WIN, 1000), CTG_CT_NEW,
	    CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_FIN, CISN + 2001, SISN + 1, WIN, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	ck_assert_str_eq(find_tcp()->history, "SADF");

	/* a connection both sides speak in, then a third: the table (2) is full */
	cport++;
	handshake();
	cport++;
	EXPECT(seg(0, CTG_TH_SYN, CISN, 0, WIN, 0), CTG_CT_NEW, CTG_R_NONE);
	ck_assert_uint_eq(stats().evicted, 1);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].tuple.sport, one_sided);
	ck_assert_ptr_nonnull(find(IPPROTO_TCP, (uint16_t)(cport - 1), 80));

	/*
	 * The path was symmetric after all (the pick-up came early, or was
	 * forged by someone who saw the SYN): the SYN/ACK still answers the
	 * SYN, as in nf_conntrack, and the real handshake goes on.
	 */
	reset_tracker(16, CTG_MIDSTREAM_LOOSE);
	cport++;
	EXPECT(seg(0, CTG_TH_SYN, CISN, 0, WIN, 0), CTG_CT_NEW, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0), CTG_CT_NEW, CTG_R_TCP_MIDSTREAM);
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 20), CTG_CT_NEW,
	    CTG_R_NONE);
	/* a SYN/ACK that acks nothing the SYN sent is refused and moves nothing */
	EXPECT_INVALID(seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 5000, WIN, 0),
	    CTG_R_TCP_SYNACK_BAD_ACK);
	ck_assert_uint_eq(find_tcp()->peer[0].state, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	EXPECT(seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	EXPECT(seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(find_tcp()->flags & CTG_CONN_MIDSTREAM, 0);
}
END_TEST

/* --- keepalive, probes ------------------------------------------------------ */

START_TEST(test_keepalive)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0);
	/* BSD style: one garbage byte */
	r = seg(0, CTG_TH_ACK, CISN + 100, SISN + 1, WIN, 1);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_KEEPALIVE);
	EXPECT_UNCHANGED(r);
	/* Linux style: no data */
	r = seg(0, CTG_TH_ACK, CISN + 100, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_KEEPALIVE);
	EXPECT_UNCHANGED(r);
	/* the keepalive ACK */
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* and an ordinary segment afterwards is not a keepalive */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 101, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_window_probe)
{
	struct ctg_track_result r;

	handshake();
	/* the client fills the server's whole window ... */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, WIN);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* ... and the server's application reads nothing: window 0 */
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1 + WIN, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1 + WIN, SISN + 1, WIN, 1);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_WINDOW_PROBE);
	EXPECT_UNCHANGED(r);
	/* the probe is not acked (still window 0) */
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1 + WIN, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* two bytes into a zero window are not a probe */
	r = seg(0, CTG_TH_ACK, CISN + 1 + WIN, SISN + 1, WIN, 2);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SEQ_ABOVE_WINDOW);
	/* the window opens: data flows again */
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1 + WIN, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1 + WIN, SISN + 1, WIN, 1000);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
}
END_TEST

/* --- flags ---------------------------------------------------------------- */

static const struct {
	uint8_t flags;
	enum ctg_reason why;
} bad_flags[] = {
	{ 0, CTG_R_TCP_FLAGS_NULL },
	{ CTG_TH_ECE | CTG_TH_CWR, CTG_R_TCP_FLAGS_NULL },
	{ CTG_TH_SYN | CTG_TH_FIN, CTG_R_TCP_FLAGS_SYN_FIN },
	{ CTG_TH_SYN | CTG_TH_FIN | CTG_TH_PSH | CTG_TH_URG, CTG_R_TCP_FLAGS_SYN_FIN },
	{ CTG_TH_SYN | CTG_TH_ACK | CTG_TH_URG | CTG_TH_FIN, CTG_R_TCP_FLAGS_SYN_FIN },
	{ CTG_TH_SYN | CTG_TH_RST, CTG_R_TCP_FLAGS_SYN_RST },
	{ CTG_TH_SYN | CTG_TH_RST | CTG_TH_ACK, CTG_R_TCP_FLAGS_SYN_RST },
	{ CTG_TH_FIN | CTG_TH_RST, CTG_R_TCP_FLAGS_FIN_RST },
	{ CTG_TH_FIN | CTG_TH_RST | CTG_TH_ACK, CTG_R_TCP_FLAGS_FIN_RST },
	{ CTG_TH_FIN | CTG_TH_PSH | CTG_TH_URG, CTG_R_TCP_FLAGS_XMAS },
	{ CTG_TH_FIN, CTG_R_TCP_FLAGS_NO_ACK },
	{ CTG_TH_PSH, CTG_R_TCP_FLAGS_NO_ACK },
	{ CTG_TH_URG, CTG_R_TCP_FLAGS_NO_ACK },
	{ CTG_TH_FIN | CTG_TH_PSH, CTG_R_TCP_FLAGS_NO_ACK },
	{ CTG_TH_SYN | CTG_TH_ACK | CTG_TH_URG, CTG_R_TCP_FLAGS_BAD },
	{ CTG_TH_RST | CTG_TH_ACK | CTG_TH_URG, CTG_R_TCP_FLAGS_BAD },
	{ CTG_TH_RST | CTG_TH_URG, CTG_R_TCP_FLAGS_BAD },
};

START_TEST(test_bad_flags_no_conn)
{
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		struct ctg_packet p = tcp_pkt(0, bad_flags[i].flags, CISN, 0, WIN, 0);
		struct ctg_track_result r = run(&p);

		ck_assert_msg(r.ctstate == CTG_CT_INVALID && r.reason == bad_flags[i].why,
		    "flags 0x%02x: got %s/%s, want invalid/%s", bad_flags[i].flags,
		    ctg_ctstate_name(r.ctstate), ctg_reason_name(r.reason),
		    ctg_reason_name(bad_flags[i].why));
		ck_assert_ptr_null(r.conn);
	}
	ck_assert_uint_eq(stats().live, 0);
}
END_TEST

START_TEST(test_bad_flags_with_conn)
{
	struct ctg_conn *c = handshake();
	struct ctg_conn before = *c;

	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		for (int dir = 0; dir < 2; dir++) {
			struct ctg_packet p = tcp_pkt(dir, bad_flags[i].flags,
			    dir ? SISN + 1 : CISN + 1, dir ? CISN + 1 : SISN + 1, WIN, 0);
			struct ctg_track_result r = run(&p);

			ck_assert_msg(r.ctstate == CTG_CT_INVALID &&
			    r.reason == bad_flags[i].why,
			    "dir %d flags 0x%02x: got %s/%s, want invalid/%s", dir,
			    bad_flags[i].flags, ctg_ctstate_name(r.ctstate),
			    ctg_reason_name(r.reason), ctg_reason_name(bad_flags[i].why));
			ck_assert_ptr_eq(r.conn, c);
			EXPECT_BEFORE(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
			EXPECT_UNCHANGED(r);
		}
	}
	ck_assert_mem_eq(&c->peer, &before.peer, sizeof(c->peer));
	ck_assert_uint_eq(c->last_us, before.last_us);
}
END_TEST

START_TEST(test_good_flags)
{
	struct ctg_track_result r;

	/* SYN|URG, SYN with ECE|CWR (ECN setup) are SYNs */
	r = seg(0, CTG_TH_SYN | CTG_TH_ECE | CTG_TH_CWR, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK | CTG_TH_ECE, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_URG | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 5);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK | CTG_TH_URG | CTG_TH_PSH, CISN + 6, SISN + 1, WIN, 5);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	cport++;
	r = seg(0, CTG_TH_SYN | CTG_TH_URG, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
}
END_TEST

/* --- handshake state checks ------------------------------------------------ */

START_TEST(test_synack_wrong_dir)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SYNACK_WRONG_DIR);
	EXPECT_UNCHANGED(r);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	/* after the server's SYN/ACK too (no simultaneous open here) */
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(0, CTG_TH_SYN | CTG_TH_ACK, CISN, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SYNACK_WRONG_DIR);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
}
END_TEST

START_TEST(test_synack_bad_ack)
{
	struct ctg_track_result r;

	/* conntrack_synack_old.pkt */
	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, 145824453u, 643160523u, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SYNACK_BAD_ACK);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SYNACK_BAD_ACK);
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_SYN_RETRANSMIT);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
}
END_TEST

START_TEST(test_ack_before_synack)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_ACK_BEFORE_SYNACK);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
}
END_TEST

START_TEST(test_data_before_established)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_DATA_BEFORE_ESTABLISHED);
	EXPECT_UNCHANGED(r);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
}
END_TEST

START_TEST(test_fin_before_established)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, 0, WIN, 0);
	ck_assert_int_eq(r.ctstate, CTG_CT_INVALID);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_LISTEN);
}
END_TEST

START_TEST(test_syn_on_established)
{
	struct ctg_track_result r;

	handshake();
	/* the originator's SYN passes and moves nothing (nf_conntrack sIG) */
	r = seg(0, CTG_TH_SYN, CISN + 777, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_UNCHANGED(r);
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* the responder's SYN is refused (Linux sIV) */
	r = seg(1, CTG_TH_SYN, SISN + 777, 0, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_SYN_ON_ESTABLISHED);
}
END_TEST

START_TEST(test_syn_wrong_dir)
{
	struct ctg_track_result r;

	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	r = seg(1, CTG_TH_SYN, SISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SYN_WRONG_DIR);
	EXPECT_UNCHANGED(r);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
}
END_TEST

START_TEST(test_no_connection_strict)
{
	struct ctg_track_result r;

	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NO_CONN);
	ck_assert_ptr_null(r.conn);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NO_CONN);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NEW_NOT_SYN);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NEW_NOT_SYN);
	r = seg(0, CTG_TH_RST | CTG_TH_ACK, CISN + 1, SISN + 1, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NEW_NOT_SYN);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NEW_NOT_SYN);
	ck_assert_uint_eq(stats().live, 0);
}
END_TEST

START_TEST(test_midstream_loose)
{
	struct ctg_track_result r;

	reset_tracker(1024, CTG_MIDSTREAM_LOOSE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_MIDSTREAM);
	ck_assert(r.created);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 101, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* FIN and RST still cannot open anything */
	cport++;
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NEW_NOT_SYN);
	r = seg(0, CTG_TH_RST, CISN + 1, 0, 0, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NEW_NOT_SYN);
}
END_TEST

START_TEST(test_midstream_loose_synack)
{
	struct ctg_track_result r;

	reset_tracker(1024, CTG_MIDSTREAM_LOOSE);
	r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_MIDSTREAM);
	ck_assert(r.created);
	ck_assert_uint_eq(r.dir, 1);
	ck_assert_ptr_nonnull(r.conn);
	/* the SYN/ACK's receiver is the originator */
	ck_assert_uint_eq(r.conn->tuple.sport, 40000);
	ck_assert_uint_eq(r.conn->tuple.dport, 80);
	ck_assert_msg(r.conn->history[0] == '^', "history %s", r.conn->history);
	EXPECT_AFTER(r, CTG_TCPS_SYN_SENT, CTG_TCPS_SYN_RCVD);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	ck_assert_str_eq(ctg_conn_state_code(r.conn), "OTH");
}
END_TEST

/* --- window --------------------------------------------------------------- */

START_TEST(test_seq_above_window)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1 + WIN, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SEQ_ABOVE_WINDOW);
	EXPECT_UNCHANGED(r);
	/* the window edge itself is fine */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1 + WIN - 100, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_ack_above_sent)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 11, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT_UNCHANGED(r);
	seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 10);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 11, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_retransmit)
{
	struct ctg_track_result r;
	struct ctg_conn *c = handshake();

	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 0);
	struct ctg_tcp_peer before = c->peer[0];
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RETRANSMIT);
	EXPECT_UNCHANGED(r);
	ck_assert_uint_eq(c->peer[0].td_end, before.td_end);
	ck_assert_uint_eq(c->peer[0].td_maxend, before.td_maxend);
	ck_assert_ptr_nonnull(strchr(c->history, 'T'));
}
END_TEST

START_TEST(test_seq_below_window)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 60000);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 60001, WIN, 0);
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 60001, SISN + 1, WIN, 60000);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 120001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/*
	 * More than a window back but inside what the client really sent:
	 * a resend after acks were lost past the box (Linux selftest
	 * conntrack_ack_loss_stall); it must pass, or the connection stalls.
	 */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RETRANSMIT);
	EXPECT_UNCHANGED(r);
	/* before the client's ISN: never sent, INVALID */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN - 70000, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SEQ_BELOW_WINDOW);
	EXPECT_UNCHANGED(r);
}
END_TEST

START_TEST(test_data_after_fin)
{
	struct ctg_track_result r;

	handshake();
	seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 2, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_DATA_AFTER_FIN);
	EXPECT_UNCHANGED(r);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 2, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_DATA_AFTER_FIN);
}
END_TEST

/*
 * Handshake where each side may offer window scale 7, then the server
 * opens a raw window of 1000: 128000 bytes when scaling is on, 1000 when not.
 */
static void
wscale_handshake(bool cli, bool srv)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, 1000, 0);
	if (cli)
		wscale(&p, 7);
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, 1000, 0);
	if (srv)
		wscale(&p, 7);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, 1000, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, 1000, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}

START_TEST(test_wscale_both)
{
	struct ctg_track_result r;

	wscale_handshake(true, true);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, 1000, 60000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_wscale_client_only)
{
	struct ctg_track_result r;

	wscale_handshake(true, false);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, 1000, 60000);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SEQ_ABOVE_WINDOW);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, 1000, 1000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_wscale_server_only)
{
	struct ctg_track_result r;

	wscale_handshake(false, true);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, 1000, 60000);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SEQ_ABOVE_WINDOW);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, 1000, 1000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

START_TEST(test_wscale_clamped)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, 1000, 0);
	wscale(&p, CTG_TCP_MAX_WSCALE);
	p.tcp.opt.wscale_raw = 255;
	p.anomalies |= CTG_PA_WSCALE_CLAMPED;
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_TCP_WSCALE_CLAMPED);
	ck_assert_uint_eq(r.conn->peer[0].wscale, CTG_TCP_MAX_WSCALE);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, 1000, 0);
	wscale(&p, CTG_TCP_MAX_WSCALE);
	p.tcp.opt.wscale_raw = 255;
	r = run(&p);
	ck_assert_int_eq(r.ctstate, CTG_CT_ESTABLISHED);
	ck_assert_uint_eq(r.conn->peer[1].wscale, CTG_TCP_MAX_WSCALE);
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, 1, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* server raw window 4 << 14 = 65536 */
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1, 4, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, 1, 65536);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 65537, SISN + 1, 1, 1000);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_SEQ_ABOVE_WINDOW);
}
END_TEST

START_TEST(test_sack_above_sent)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	run(&p);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	run(&p);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 300);
	/* a SACK of data that was sent: fine */
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 1, WIN, 0);
	p.tcp.opt.sack_count = 1;
	p.tcp.opt.sack_left[0] = CISN + 101;
	p.tcp.opt.sack_right[0] = CISN + 301;
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/*
	 * A SACK block beyond anything sent (a middlebox rewrote the ISN but
	 * not the blocks): the data sender ignores the block and takes the
	 * rest of the segment (Linux tcp_is_sackblock_valid()), so does the
	 * tracker; the block raises no bound.
	 */
	p.tcp.opt.sack_count = 2;
	p.tcp.opt.sack_left[1] = CISN + 401;
	p.tcp.opt.sack_right[1] = CISN + 501;
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_UNCHANGED(r);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 301);
	/* the ack itself is still bounded by what was sent */
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 401, WIN, 0);
	EXPECT_INVALID(run(&p), CTG_R_TCP_ACK_ABOVE_SENT);
}
END_TEST

static struct ctg_track_result
sack_ack(uint32_t ack, uint32_t left, uint32_t right)
{
	struct ctg_packet p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, ack, WIN, 0);

	if (left != right) {
		p.tcp.opt.sack_count = 1;
		p.tcp.opt.sack_left[0] = left;
		p.tcp.opt.sack_right[0] = right;
	}
	return run(&p);
}

/*
 * Loss before the gateway in a bulk transfer (issue 22, reordering and
 * loss shapes; tests/e2e/e2e_stacks.sh case reorder): segment B is lost
 * upstream, C and D pass beyond the gap, then the retransmitted B, and
 * new data E goes on. The receiver's ACKs come a flight late: an ACK of A
 * without SACK blocks (C and D are still in flight to it), dup ACKs with
 * SACK, then cumulative ACKs through D and E once B arrives. Every one is
 * an ACK the data sender takes (Linux tcp_ack(): in (snd_una, snd_nxt]);
 * the receiver's plain ACK at the in-order edge does not mean nothing
 * beyond it has crossed the box, so it must not bring bound III back to
 * the in-order edge while data beyond it has been seen.
 */
START_TEST(test_loss_upstream_acks_catch_up)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	run(&p);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	run(&p);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	/* A in order; B [101, 201) lost before the box; C, D beyond the gap */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 201, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 301, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* the receiver acks A before C reaches it: no SACK block yet */
	EXPECT(sack_ack(CISN + 101, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* C and D arrive: dup ACKs with SACK */
	EXPECT(sack_ack(CISN + 101, CISN + 201, CISN + 301), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 101, CISN + 201, CISN + 401), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* B again, and new data E while the ACKs are on their way */
	r = seg(0, CTG_TH_ACK, CISN + 101, SISN + 1, WIN, 100);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 401, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* B arrived: cumulative ACK through D (E still in flight), then E */
	EXPECT(sack_ack(CISN + 401, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 501, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 501);
	/* everything acked: the bound is the sent edge again */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 501, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_INVALID(sack_ack(CISN + 5000, 0, 0), CTG_R_TCP_ACK_ABOVE_SENT);
}
END_TEST

/*
 * Bound IV counts from what the sender of the ack acknowledged before
 * (Linux tcp_ack(): an ack below snd_una - max_window is too old), not
 * from the peer's sent edge: with a full window in flight, a reordered
 * data segment that carries the previous ack passes.
 */
START_TEST(test_ack_lower_bound_from_acked)
{
	struct ctg_track_result r;

	handshake();
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 60000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* sent second, arrives first: acks 1000 of the server's bytes */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 11, SISN + 1001, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 60001, CISN + 1, WIN, 6500);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* sent first, carries the older ack */
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* an ack more than a window below the last one is still refused */
	r = seg(0, CTG_TH_ACK, CISN + 21, SISN + 1001 - 70000, WIN, 0);
	EXPECT_INVALID(r, CTG_R_TCP_ACK_BELOW_WINDOW);
}
END_TEST

START_TEST(test_paws)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake_ts();
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	ts(&p, 200, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* FIN with an old timestamp: the receiver discards it (RFC 7323 5.3) */
	p = tcp_pkt(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 11, SISN + 1, WIN, 0);
	ts(&p, 150, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_PAWS);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	/* the same FIN with a current timestamp passes */
	ts(&p, 201, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * An RST with an exact sequence number is accepted whatever its
 * timestamp: RFC 7323 5.2 exempts RSTs from PAWS, and Linux
 * tcp_validate_incoming() says "Reset is accepted even if it did not pass
 * PAWS" (a real SSH server ends sessions with TSval 0). An inexact one is
 * still only a note (the receiver sends a challenge ACK).
 */
START_TEST(test_rst_ignores_paws)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake_ts();
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 10);
	ts(&p, 5000, 101);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_RST, SISN + 11 + 5, 0, 0, 0);
	ts(&p, 0, 0);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_TCP_RST_INEXACT);
	p = tcp_pkt(1, CTG_TH_RST, SISN + 11, 0, 0, 0);
	ts(&p, 0, 0);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_CLOSED, CTG_TCPS_CLOSED);
}
END_TEST

/*
 * PAWS exceptions (issue 22 class 5). RFC 7323 5.5: after a connection
 * sat idle for more than 24 days its TS.Recent is invalid, since the
 * peer's timestamp clock may have wrapped (Linux tcp_paws_check():
 * TCP_PAWS_24DAYS); the FIN that then carries an "older" TSval is taken.
 * A day short of that it is still refused.
 */
START_TEST(test_paws_after_24_days_idle)
{
	struct ctg_tracker_config tc;
	struct ctg_packet p;
	struct ctg_track_result r;

	base_config(&tc, 1024, CTG_MIDSTREAM_STRICT);
	tc.timeouts.tcp_established = 60 * 86400;
	reset_tracker_cfg(&tc);
	handshake_ts();
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	ts(&p, 0x70000000u, 900);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 11, WIN, 0);
	ts(&p, 901, 0x70000000u);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	now += 23 * 86400 * SEC;
	p = tcp_pkt(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 11, SISN + 1, WIN, 0);
	ts(&p, 0x10000000u, 901);
	EXPECT_INVALID(run(&p), CTG_R_TCP_PAWS);
	now += 2 * 86400 * SEC;
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	ck_assert_uint_eq(r.conn->peer[0].last_tsval, 0x10000000u);
}
END_TEST

/*
 * While the stored timestamp is 0 there is nothing to compare with
 * (Linux tcp_paws_check(): "if (!rx_opt->ts_recent) return true"): a FIN
 * whose TSval is "older" than 0 in serial arithmetic passes.
 */
START_TEST(test_paws_ts_recent_zero)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	ts(&p, 0, 0);
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	ts(&p, 900, 0);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ts(&p, 0, 900);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ts(&p, 0xfffffff0u, 900);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
}
END_TEST

/* --- issue 22 class 1: only what the receiver acts on moves state ---------- */

/*
 * A forged FIN ahead of the real data: a Linux receiver queues it out of
 * order (tcp_data_queue() -> tcp_data_queue_ofo()) and acts on it only
 * when everything before it has arrived, so the sender is not closing and
 * the real data that follows is not "data after FIN". The entry keeps the
 * established timeout (5 days), not the 120 s of FIN_WAIT.
 */
START_TEST(test_forged_fin_ahead_of_data)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1 + 5000, SISN + 1, WIN, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	ck_assert_uint_eq(r.conn->peer[0].flags & CTG_PEER_FIN, 0);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 101, SISN + 1, WIN, 1000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 1101, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	now += 3600 * SEC;
	ck_assert_uint_eq(sweep_all(), 0);
	/* the real close still works */
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1101, SISN + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
}
END_TEST

/*
 * A forged byte 60 kB ahead (inside the window) does not move the sent
 * edge: the real data that follows is new data, not a retransmission, and
 * does not push the entry into the retransmission class.
 */
START_TEST(test_forged_byte_far_ahead)
{
	struct ctg_track_result r;
	struct ctg_conn *c = handshake();

	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1 + 60000, SISN + 1, WIN, 1);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	ck_assert_uint_eq(c->peer[0].td_end, CISN + 1);
	for (uint32_t off = 0; off < 4000; off += 1000) {
		r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1 + off, SISN + 1, WIN, 1000);
		EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	}
	ck_assert_uint_eq(c->peer[0].retrans, 0);
	ck_assert_uint_eq(c->peer[0].td_end, CISN + 4001);
	/* the server acks what it holds; nothing forged is acked */
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 4001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/*
 * Reordering for real: a segment overtakes the one before it. The
 * receiver holds both once the first arrives and acks past everything;
 * that ack is valid and moves the edge (the receiver says it holds the
 * data).
 */
START_TEST(test_reordered_data_then_ack)
{
	struct ctg_track_result r;
	struct ctg_conn *c = handshake();

	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1001, SISN + 1, WIN, 1000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(c->peer[0].td_end, CISN + 1);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 1000);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(c->peer[0].td_end, CISN + 1001);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 2001, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(c->peer[0].td_end, CISN + 2001);
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 2001, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/*
 * A forged ACK ahead of the real sequence with a far-future TSval: the
 * receiver stores TS.Recent only from a segment with SEG.SEQ <= Last.ACK.sent
 * (RFC 7323 4.3, Linux tcp_replace_ts_recent()), so the real FIN that
 * follows with the sender's current timestamp passes PAWS.
 */
START_TEST(test_forged_future_tsval)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake_ts();
	p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	ts(&p, 200, 900);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 11, WIN, 0);
	ts(&p, 950, 200);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 11 + 3000, SISN + 1, WIN, 0);
	ts(&p, 0x7fff0000u, 950);
	r = run(&p);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	ck_assert_uint_eq(r.conn->peer[0].last_tsval, 200);
	p = tcp_pkt(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 11, SISN + 1, WIN, 0);
	ts(&p, 201, 950);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	ck_assert_uint_eq(r.conn->peer[0].last_tsval, 201);
}
END_TEST

/*
 * A forged empty ACK ahead, then a RST at that sequence: an empty segment
 * moves no edge (RFC 793: it occupies no sequence space), so the RST is
 * not exact for the receiver (RFC 5961 3.2): it answers with a challenge
 * ACK and the connection lives on.
 */
START_TEST(test_forged_empty_ack_then_rst)
{
	struct ctg_track_result r;

	handshake();
	r = seg(0, CTG_TH_ACK, CISN + 1 + 3000, SISN + 1, WIN, 0);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	r = seg(0, CTG_TH_RST, CISN + 1 + 3000, 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_RST_INEXACT);
	EXPECT_AFTER(r, CTG_TCPS_ESTABLISHED, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 100);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_int_eq(nends, 0);
}
END_TEST

/*
 * A FIN overtaken by the sender's own later ACK (reordering): the ACK is
 * empty and one past the FIN, so it moves neither the edge nor TS.Recent;
 * the FIN then arrives in order, passes PAWS, and the close completes, so
 * the next SYN on the tuple reopens it.
 */
START_TEST(test_fin_overtaken_by_own_ack)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	handshake_ts();
	p = tcp_pkt(1, CTG_TH_ACK | CTG_TH_PSH, SISN + 1, CISN + 1, WIN, 100);
	ts(&p, 950, 101);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* sent second, arrives first */
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 2, SISN + 101, WIN, 0);
	ts(&p, 301, 950);
	r = run(&p);
	ck_assert_int_ne(r.ctstate, CTG_CT_INVALID);
	p = tcp_pkt(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ts(&p, 300, 950);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	p = tcp_pkt(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 101, CISN + 2, WIN, 0);
	ts(&p, 951, 301);
	EXPECT(run(&p), CTG_CT_ESTABLISHED, CTG_R_NONE);
	p = tcp_pkt(0, CTG_TH_ACK, CISN + 2, SISN + 102, WIN, 0);
	ts(&p, 302, 951);
	r = run(&p);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
	now += 5 * SEC;
	p = tcp_pkt(0, CTG_TH_SYN, CISN + 100000, 0, WIN, 0);
	ts(&p, 400, 0);
	EXPECT(run(&p), CTG_CT_NEW, CTG_R_TCP_REOPEN);
}
END_TEST

/* --- UDP, ICMP -------------------------------------------------------------- */

START_TEST(test_udp_states)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = udp_pkt(0, 40);
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(r.created);
	ck_assert_str_eq(ctg_conn_label(r.conn), "UNREPLIED");
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(!r.created);
	p = udp_pkt(1, 80);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.dir, 1);
	ck_assert_str_eq(ctg_conn_label(r.conn), "REPLIED");
	p = udp_pkt(0, 40);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_str_eq(ctg_conn_label(r.conn), "ASSURED");
	ck_assert(r.conn->flags & CTG_CONN_ASSURED);
}
END_TEST

/* Expire a UDP flow at the given timeout after its last packet. */
static void
udp_expect_timeout(uint64_t last, uint32_t timeout)
{
	now = last + timeout * SEC - 1;
	ck_assert_uint_eq(sweep_all(), 0);
	ck_assert_ptr_nonnull(find(IPPROTO_UDP, cport, 53));
	now = last + timeout * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_ptr_null(find(IPPROTO_UDP, cport, 53));
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_TIMEOUT);
}

START_TEST(test_udp_timeout_unreplied)
{
	struct ctg_packet p = udp_pkt(0, 40);

	run(&p);
	udp_expect_timeout(T0, 30);
	ck_assert_str_eq(ends[0].conn_state, "S0");
}
END_TEST

START_TEST(test_udp_timeout_replied)
{
	struct ctg_packet p = udp_pkt(0, 40);

	run(&p);
	now += 10 * SEC;
	p = udp_pkt(1, 40);
	run(&p);
	udp_expect_timeout(T0 + 10 * SEC, 120);
	ck_assert_str_eq(ends[0].conn_state, "SF");
}
END_TEST

START_TEST(test_udp_timeout_assured)
{
	struct ctg_packet p = udp_pkt(0, 40);

	run(&p);
	now += 1 * SEC;
	p = udp_pkt(1, 40);
	run(&p);
	now += 1 * SEC;
	p = udp_pkt(0, 40);
	run(&p);
	udp_expect_timeout(T0 + 2 * SEC, 180);
}
END_TEST

START_TEST(test_icmp_echo)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	p = icmp_echo(0, false, 777);
	r = run(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(r.created);
	p = icmp_echo(1, true, 777);
	r = run(&p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.dir, 1);
	/* another id: no request for it */
	p = icmp_echo(1, true, 778);
	r = run(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_REPLY_NO_REQUEST);
	/* a reply travelling the request's way */
	p = icmp_echo(0, true, 777);
	r = run(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_REPLY_NO_REQUEST);
	ck_assert_uint_eq(stats().live, 1);
	now += 30 * SEC;
	ck_assert_uint_eq(sweep_all(), 1);
}
END_TEST

START_TEST(test_icmp_error_related)
{
	struct ctg_conn *c = handshake();
	struct ctg_conn before = *c;
	struct ctg_tuple inner = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_packet p;
	struct ctg_track_result r;

	now += 5 * SEC;
	/* quoting the client's packet, sent back to the client */
	p = icmp_error(v4(198, 51, 100, 2), &inner, CISN + 1);
	r = classify(&p);
	EXPECT(r, CTG_CT_RELATED, CTG_R_NONE);
	ck_assert_ptr_eq(r.conn, c);
	/* quoting the server's packet, sent back to the server */
	inner = flow(1, IPPROTO_TCP, cport, 80);
	p = icmp_error(v4(203, 0, 113, 5), &inner, SISN + 1);
	r = classify(&p);
	EXPECT(r, CTG_CT_RELATED, CTG_R_NONE);
	/* the tracker leaves the connection alone, timer included */
	ck_assert_mem_eq(c, &before, sizeof(before));
}
END_TEST

/* Another queue's tracker, as the daemon's related lookup would consult it. */
static struct ctg_tracker *other_trk;

static bool
lookup_other(void *arg, const struct ctg_tuple *key, struct ctg_conn *copy, uint8_t *dir)
{
	struct ctg_conn *c = ctg_tracker_lookup(other_trk, key, dir);

	(void)arg;
	if (!c)
		return false;
	*copy = *c;
	return true;
}

START_TEST(test_icmp_error_other_queue)
{
	struct ctg_conn *c = handshake();
	struct ctg_tuple inner = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_packet p;
	struct ctg_track_result r;
	struct ctg_tracker *mine = make_tracker(64, CTG_MIDSTREAM_STRICT, 1000);

	/* the flow lives in trk; the error reaches the tracker "mine" */
	other_trk = trk;
	p = icmp_error(v4(198, 51, 100, 2), &inner, CISN + 1);
	r = classify_in(mine, &p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_ERROR_NO_CONN);
	ctg_tracker_set_related_lookup(mine, lookup_other, NULL);
	r = classify_in(mine, &p);
	EXPECT(r, CTG_CT_RELATED, CTG_R_NONE);
	/* a copy judged it: nothing of the other table is handed out */
	ck_assert_ptr_null(r.conn);
	/* the window check still applies to the copy */
	p = icmp_error(v4(198, 51, 100, 2), &inner, CISN + 0x40000000u);
	r = classify_in(mine, &p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_ERROR_BAD_SEQ);
	ck_assert_uint_eq(c->pkts[0] + c->pkts[1], 3);
	ctg_tracker_free(mine);
}
END_TEST

START_TEST(test_icmp_error_udp)
{
	struct ctg_packet p = udp_pkt(0, 40);
	struct ctg_track_result r = run(&p);
	struct ctg_conn before = *r.conn;
	struct ctg_tuple inner = flow(0, IPPROTO_UDP, cport, 53);

	now += 5 * SEC;
	p = icmp_error(v4(198, 51, 100, 2), &inner, 0);
	p.icmp.inner_has_seq = false;
	r = classify(&p);
	EXPECT(r, CTG_CT_RELATED, CTG_R_NONE);
	ck_assert_mem_eq(r.conn, &before, sizeof(before));
	p = icmp_error(v4(203, 0, 113, 5), &inner, 0);
	p.icmp.inner_has_seq = false;
	r = classify(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_ERROR_WRONG_DIR);
}
END_TEST

START_TEST(test_icmp_error_invalid)
{
	struct ctg_conn *c = handshake();
	struct ctg_conn before = *c;
	struct ctg_tuple inner = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_packet p;
	struct ctg_track_result r;

	p = icmp_error(v4(203, 0, 113, 5), &inner, CISN + 1);
	r = classify(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_ERROR_WRONG_DIR);
	p = icmp_error(v4(198, 51, 100, 2), &inner, CISN + 1000000000u);
	r = classify(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_ERROR_BAD_SEQ);
	p = icmp_error(v4(198, 51, 100, 2), &inner, CISN - 200000);
	r = classify(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_ERROR_BAD_SEQ);
	inner.sport = 40001;
	p = icmp_error(v4(198, 51, 100, 2), &inner, CISN + 1);
	r = classify(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_ICMP_ERROR_NO_CONN);
	ck_assert_ptr_null(r.conn);
	ck_assert_mem_eq(c, &before, sizeof(before));
	ck_assert_uint_eq(stats().live, 1);
}
END_TEST

/* --- table ---------------------------------------------------------------- */

START_TEST(test_table_evicts_oldest_unestablished)
{
	struct ctg_track_result r;
	struct ctg_tracker_stats st;

	reset_tracker(4, CTG_MIDSTREAM_STRICT);
	handshake();                            /* 40000, established */
	for (cport = 40001; cport <= 40003; cport++) {
		now += SEC;
		r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
		EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	}
	ck_assert_uint_eq(stats().live, 4);
	cport = 40004;
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	st = stats();
	ck_assert_uint_eq(st.evicted, 1);
	ck_assert_uint_eq(st.refused, 0);
	ck_assert_uint_eq(st.live, 4);
	ck_assert_uint_eq(st.ended[CTG_END_EVICTED], 1);
	ck_assert_int_eq(nends, 1);
	ck_assert_str_eq(ctg_end_reason_name(ends[0].end_reason), "evicted");
	ck_assert_uint_eq(ends[0].tuple.sport, 40001);
	ck_assert_ptr_null(find(IPPROTO_TCP, 40001, 80));
	ck_assert_ptr_nonnull(find(IPPROTO_TCP, 40000, 80));
	ck_assert_ptr_nonnull(find(IPPROTO_TCP, 40004, 80));
}
END_TEST

START_TEST(test_table_full_refuses)
{
	struct ctg_track_result r;
	struct ctg_tracker_stats st;

	reset_tracker(4, CTG_MIDSTREAM_STRICT);
	for (cport = 40000; cport < 40004; cport++)
		handshake();
	cport = 40004;
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TABLE_FULL);
	ck_assert_ptr_null(r.conn);
	st = stats();
	ck_assert_uint_eq(st.refused, 1);
	ck_assert_uint_eq(st.evicted, 0);
	ck_assert_uint_eq(st.live, 4);
	ck_assert_int_eq(nends, 0);
	/* UDP is refused the same way */
	struct ctg_packet p = udp_pkt(0, 10);
	r = run(&p);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TABLE_FULL);
	ck_assert_uint_eq(stats().refused, 2);
}
END_TEST

/*
 * Table pressure (a spoofed-ACK or SYN flood at five times the table size
 * per second, as the tracker sees it with loose pick-up): every packet of
 * the established connections passes, and at least 95% of the real new
 * connections opened during the flood complete their handshake.
 */
static struct ctg_packet
spoofed(uint32_t i, uint8_t flags)
{
	struct ctg_packet p = tcp_pkt(0, flags, i * 7919u, i * 104729u, WIN, 0);

	/* sources anywhere in 100.64.0.0/10, ports all over */
	p.tuple.src = v4(100, (uint8_t)(64 + ((i >> 16) & 63)), (uint8_t)(i >> 8), (uint8_t)i);
	p.tuple.sport = (uint16_t)(1024 + i % 60000);
	p.tuple.dport = 22;
	return p;
}

static void
flood_round(uint32_t max, uint8_t flood_flags)
{
	struct ctg_tracker_config tc;
	const unsigned nest = 20, seconds = 2, new_per_s = 100;
	const uint32_t flood_per_s = 5 * max;
	const uint32_t ticks = 100;     /* per second */
	unsigned admitted = 0, tried = 0;
	uint32_t sent[20], spoof = 0;
	struct ctg_track_result r;

	base_config(&tc, max, CTG_MIDSTREAM_LOOSE);
	tc.unanswered_pct = 0;          /* the shipped default */
	reset_tracker_cfg(&tc);
	for (unsigned k = 0; k < nest; k++) {
		cport = (uint16_t)(30000 + k);
		handshake();
		sent[k] = CISN + 1;
	}
	for (uint32_t tick = 0; tick < seconds * ticks; tick++) {
		for (uint32_t j = 0; j < flood_per_s / ticks; j++) {
			struct ctg_packet p = spoofed(spoof++, flood_flags);

			classify(&p);
		}
		/* every established connection sends and is acknowledged */
		for (unsigned k = 0; k < nest; k++) {
			cport = (uint16_t)(30000 + k);
			r = seg(0, CTG_TH_ACK | CTG_TH_PSH, sent[k], SISN + 1, WIN, 100);
			ck_assert_msg(r.ctstate == CTG_CT_ESTABLISHED,
			    "established data refused (%s) at tick %u", ctg_reason_name(r.reason), tick);
			sent[k] += 100;
			r = seg(1, CTG_TH_ACK, SISN + 1, sent[k], WIN, 0);
			ck_assert_msg(r.ctstate == CTG_CT_ESTABLISHED,
			    "established ack refused (%s) at tick %u", ctg_reason_name(r.reason), tick);
		}
		/* a real client opens new connections, answered within the tick */
		for (unsigned j = 0; j < new_per_s / ticks; j++) {
			cport = (uint16_t)(40000 + tried % 20000);
			tried++;
			r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
			if (r.ctstate != CTG_CT_NEW)
				continue;
			r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
			if (r.ctstate != CTG_CT_ESTABLISHED)
				continue;
			r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
			if (r.ctstate == CTG_CT_ESTABLISHED)
				admitted++;
		}
		now += SEC / ticks;
	}
	ck_assert_msg(admitted * 100 >= tried * 95, "table %u, flood %s: %u of %u new connections admitted",
	    max, flood_flags == CTG_TH_SYN ? "SYN" : "ACK", admitted, tried);
	ck_assert_uint_gt(stats().evicted, flood_per_s);
}

START_TEST(test_flood_ack_small_table)
{
	flood_round(1000, CTG_TH_ACK);
}
END_TEST

START_TEST(test_flood_syn_small_table)
{
	flood_round(1000, CTG_TH_SYN);
}
END_TEST

START_TEST(test_flood_ack_default_table)
{
	flood_round(262144, CTG_TH_ACK);
}
END_TEST

START_TEST(test_flood_syn_default_table)
{
	flood_round(262144, CTG_TH_SYN);
}
END_TEST

/*
 * The live flood (tests/e2e/e2e_flood.sh) with a table full of closing
 * entries (TIME_WAIT of real connections that came and went): a real SYN
 * is then the only unanswered entry, and the spoofed SYNs that reach the
 * gateway before its SYN/ACK must end closing entries idle for longer,
 * not the SYN (which they did when the unanswered list always went first).
 */
START_TEST(test_flood_full_of_closing)
{
	struct ctg_tracker_config tc;
	struct ctg_track_result r;
	uint32_t spoof = 0;

	base_config(&tc, 100, CTG_MIDSTREAM_LOOSE);
	tc.unanswered_pct = 0;
	reset_tracker_cfg(&tc);
	for (cport = 30000; cport < 30020; cport++)
		handshake();
	for (; cport < 30100; cport++) {
		handshake();
		close_conn();
	}
	ck_assert_uint_eq(stats().live, 100);
	for (unsigned j = 0; j < 50; j++) {
		nends = 0;              /* the kit keeps 64 ended records */
		now += SEC / 1000;
		cport = (uint16_t)(40000 + j);
		r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
		EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
		for (unsigned k = 0; k < 10; k++) {
			struct ctg_packet p = spoofed(spoof++, CTG_TH_SYN);

			now += 100;
			classify(&p);
		}
		r = seg(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
		ck_assert_msg(r.ctstate == CTG_CT_ESTABLISHED, "SYN/ACK %u: %s", j,
		    ctg_reason_name(r.reason));
		r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
		EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
		close_conn();
	}
	for (cport = 30000; cport < 30020; cport++)
		ck_assert_ptr_nonnull(find(IPPROTO_TCP, cport, 80));
	ck_assert_uint_eq(stats().refused, 0);
}
END_TEST

/* --- expiry, unconfirm ------------------------------------------------------ */

START_TEST(test_expiry_sweep)
{
	handshake();
	now += 432000 * SEC - 1;
	ck_assert_uint_eq(sweep_all(), 0);
	ck_assert_int_eq(nends, 0);
	now += 1;
	ck_assert_uint_eq(sweep_all(), 1);
	ck_assert_int_eq(nends, 1);
	ck_assert_str_eq(ctg_end_reason_name(ends[0].end_reason), "timeout");
	ck_assert_str_eq(ends[0].conn_state, "S1");
	ck_assert_uint_eq(stats().live, 0);
	ck_assert_uint_eq(stats().ended[CTG_END_TIMEOUT], 1);
}
END_TEST

START_TEST(test_expiry_lookup)
{
	struct ctg_track_result r;

	handshake();
	now += 432000 * SEC;
	r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_NO_CONN);
	ck_assert_ptr_null(r.conn);
	ck_assert_int_eq(nends, 1);
	ck_assert_uint_eq(ends[0].end_reason, CTG_END_TIMEOUT);
	ck_assert_uint_eq(stats().live, 0);
	/* a fresh SYN starts a new connection */
	r = seg(0, CTG_TH_SYN, CISN + 99, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(r.created);
}
END_TEST

START_TEST(test_unconfirm)
{
	struct ctg_packet p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	struct ctg_track_result r = classify(&p);

	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert_uint_eq(stats().live, 1);
	ctg_tracker_unconfirm(trk, r.conn);
	ck_assert_uint_eq(stats().live, 0);
	ck_assert_ptr_null(find_tcp());
	ck_assert_int_eq(nends, 0);
	/* the same SYN again is a first SYN, not a retransmission */
	r = classify(&p);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(r.created);
	/* a confirmed connection is not removed */
	ctg_tracker_account(trk, r.conn, 0, 60);
	ctg_tracker_unconfirm(trk, r.conn);
	ck_assert_uint_eq(stats().live, 1);
	ck_assert_int_eq(nends, 0);
}
END_TEST

/* --- snapshot --------------------------------------------------------------- */

struct snap_view {
	int n;
	uint64_t ids[16];
};

static int
collect(void *arg, struct ctg_conn *c)
{
	struct snap_view *v = arg;

	if (v->n < 16)
		v->ids[v->n] = c->id;
	v->n++;
	return 0;
}

/* Three connections: established TCP, SYN_SENT TCP, replied UDP. */
static void
populate(void)
{
	struct ctg_packet p;

	handshake();
	seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	seg(1, CTG_TH_ACK, SISN + 1, CISN + 11, WIN, 0);
	cport = 40001;
	seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	cport = 40000;
	p = udp_pkt(0, 20);
	run(&p);
	p = udp_pkt(1, 20);
	run(&p);
}

static int
snapshot_fd(void)
{
	FILE *fp = tmpfile();
	int fd;

	ck_assert_ptr_nonnull(fp);
	fd = dup(fileno(fp));
	fclose(fp);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static size_t
slurp(int fd, uint8_t *buf, size_t cap)
{
	off_t len = lseek(fd, 0, SEEK_END);

	ck_assert_int_gt(len, 0);
	ck_assert_uint_le((size_t)len, cap);
	ck_assert_int_eq(pread(fd, buf, (size_t)len, 0), len);
	return (size_t)len;
}

static int
fd_with(const uint8_t *buf, size_t len)
{
	int fd = snapshot_fd();

	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/*
 * A checkpoint is behind the endpoints: the data sent after it must pass
 * once the table is restored from it (each side re-learns its edges from
 * its next segment), then the checks are strict again. A final snapshot
 * saw everything: the same jump is INVALID after it.
 */
static enum ctg_ctstate
after_restore(bool checkpoint, uint32_t jump, struct ctg_tracker **out)
{
	struct ctg_tracker *t2;
	char err[256];
	int fd = snapshot_fd();

	populate();
	ck_assert_int_eq(ctg_tracker_save_as(trk, fd, now, checkpoint), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	t2 = make_tracker(1024, CTG_MIDSTREAM_STRICT, 1);
	ck_assert_int_eq(ctg_tracker_restore(t2, fd, now, err, sizeof(err)), 3);
	close(fd);
	/* the client sent 1 MB more while the checkpoint aged */
	struct ctg_packet p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 11 + jump,
	    SISN + 1, WIN, 100);
	*out = t2;
	return classify_in(t2, &p).ctstate;
}

START_TEST(test_snapshot_checkpoint_relearns)
{
	struct ctg_tracker *t2;
	const uint32_t jump = 1000000;

	ck_assert_int_eq(after_restore(true, jump, &t2), CTG_CT_ESTABLISHED);
	/* the server's ack of it passes */
	struct ctg_packet a = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 11 + jump + 100, WIN, 0);
	ck_assert_int_eq(classify_in(t2, &a).ctstate, CTG_CT_ESTABLISHED);
	/* within the first seconds every segment re-learns: a later jump too */
	struct ctg_packet early = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 11 + 2 * jump,
	    SISN + 1, WIN, 100);
	ck_assert_int_eq(classify_in(t2, &early).ctstate, CTG_CT_ESTABLISHED);
	/* after them, once each side has spoken, the checks are strict again */
	now += 6 * SEC;
	struct ctg_packet c2 = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 11 + 2 * jump + 100,
	    SISN + 1, WIN, 100);
	ck_assert_int_eq(classify_in(t2, &c2).ctstate, CTG_CT_ESTABLISHED);
	struct ctg_packet a2 = tcp_pkt(1, CTG_TH_ACK, SISN + 1, CISN + 11 + 2 * jump + 200, WIN, 0);
	ck_assert_int_eq(classify_in(t2, &a2).ctstate, CTG_CT_ESTABLISHED);
	struct ctg_packet far = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 11 + 5 * jump,
	    SISN + 1, WIN, 100);
	ck_assert_int_eq(classify_in(t2, &far).ctstate, CTG_CT_INVALID);
	ctg_tracker_free(t2);
}
END_TEST

START_TEST(test_snapshot_final_stays_strict)
{
	struct ctg_tracker *t2;

	ck_assert_int_eq(after_restore(false, 1000000, &t2), CTG_CT_INVALID);
	ctg_tracker_free(t2);
}
END_TEST

START_TEST(test_snapshot_round_trip)
{
	struct ctg_tracker *t2;
	char err[256];
	int fd = snapshot_fd();
	struct snap_view a = { 0 }, b = { 0 };

	populate();
	ctg_tracker_foreach(trk, collect, &a);
	ck_assert_int_eq(a.n, 3);
	ck_assert_int_eq(ctg_tracker_save(trk, fd, now), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);

	/* another hash seed: entries must be placed anew, not copied */
	seed_salt = 0x5eed;
	t2 = make_tracker(1024, CTG_MIDSTREAM_STRICT, 1);
	ck_assert_int_eq(ctg_tracker_restore(t2, fd, now, err, sizeof(err)), 3);
	ctg_tracker_foreach(t2, collect, &b);
	ck_assert_int_eq(b.n, 3);
	/* every saved id is among the restored ones */
	for (int i = 0; i < 3; i++) {
		bool found = false;

		for (int j = 0; j < 3; j++)
			found |= a.ids[i] == b.ids[j];
		ck_assert_msg(found, "id %llu lost", (unsigned long long)a.ids[i]);
	}
	/* same states, looked up by tuple in the new table */
	struct ctg_tuple tp = flow(1, IPPROTO_TCP, 40000, 80);
	uint8_t d1, d2;
	struct ctg_conn *o = ctg_tracker_lookup(trk, &tp, &d1);
	struct ctg_conn *n = ctg_tracker_lookup(t2, &tp, &d2);
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(d2, 1);
	ck_assert_uint_eq(n->id, o->id);
	ck_assert_mem_eq(n->peer, o->peer, sizeof(o->peer));
	ck_assert_uint_eq(n->flags, o->flags);
	ck_assert_str_eq(n->history, o->history);
	tp = flow(0, IPPROTO_TCP, 40001, 80);
	o = ctg_tracker_lookup(trk, &tp, &d1);
	n = ctg_tracker_lookup(t2, &tp, &d2);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(n->id, o->id);
	ck_assert_uint_eq(n->peer[0].state, CTG_TCPS_SYN_SENT);
	ck_assert_uint_eq(n->peer[1].state, CTG_TCPS_LISTEN);
	tp = flow(0, IPPROTO_UDP, 40000, 53);
	n = ctg_tracker_lookup(t2, &tp, &d2);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(n->proto_state, 1);

	/* the restored connection carries on in the new tracker */
	struct ctg_tracker *keep = trk;
	trk = t2;
	struct ctg_track_result r = seg(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 11, SISN + 1, WIN, 5);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* and new ids do not collide with restored ones */
	cport = 40009;
	r = seg(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_ne(r.conn->id, a.ids[i]);
	trk = keep;
	ctg_tracker_free(t2);
	close(fd);
}
END_TEST

START_TEST(test_snapshot_corrupt)
{
	static uint8_t good[16384], bad[16384];
	char err[256];
	int fd = snapshot_fd();
	size_t len;
	uint64_t held_id;

	populate();
	ck_assert_int_eq(ctg_tracker_save(trk, fd, now), 0);
	len = slurp(fd, good, sizeof(good));
	close(fd);

	for (size_t off = 0; off < len; off++) {
		struct ctg_tracker *t2 = make_tracker(64, CTG_MIDSTREAM_STRICT, 500);
		struct ctg_track_result r;
		struct ctg_tracker_stats st;
		struct ctg_packet p = udp_pkt(0, 10);

		p.tuple.sport = 1234;
		ctg_tracker_packet(t2, &p, CTG_R_NONE, now, &r);
		ck_assert_ptr_nonnull(r.conn);
		held_id = r.conn->id;
		memcpy(bad, good, len);
		bad[off] ^= 0x01;
		fd = fd_with(bad, len);
		err[0] = '\0';
		ck_assert_msg(ctg_tracker_restore(t2, fd, now, err, sizeof(err)) == -1,
		    "flipped byte %zu accepted", off);
		ck_assert_msg(err[0] != '\0', "no message for byte %zu", off);
		close(fd);
		ctg_tracker_stats(t2, &st);
		ck_assert_uint_eq(st.live, 1);
		/* the id sequence was not moved by the refused file */
		p.tuple.sport = 1235;
		ctg_tracker_packet(t2, &p, CTG_R_NONE, now, &r);
		ck_assert_uint_eq(r.conn->id, held_id + 1);
		ctg_tracker_free(t2);
	}
}
END_TEST

/*
 * A snapshot of format 1 (before the in-order edge, fin_ooo and the peer
 * nibbles) is converted, not refused: same layout, with the old
 * hist_seen bits and a retransmission count above 15 cleaned up, so a
 * restart after the upgrade keeps its connections.
 */
static uint64_t
fnv1a_test(uint64_t h, const void *data, size_t len)
{
	const uint8_t *b = data;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

START_TEST(test_snapshot_v1_converted)
{
	static uint8_t buf[16384];
	char err[256];
	int fd = snapshot_fd();
	/* format 1: a 40-byte header (no kind), then the entries */
	size_t len, hdr = 8 + 4 + 4 + 8 + 8 + 8, v2hdr = hdr + 8;
	struct ctg_conn c1;
	uint8_t dir;

	handshake();
	ck_assert_int_eq(ctg_tracker_save(trk, fd, now), 0);
	len = slurp(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_uint_eq(len, v2hdr + sizeof(struct ctg_conn) + 8);
	/* make it a format 1 file: version 1, hist_seen bits, retrans 200 */
	memmove(buf + hdr, buf + v2hdr, sizeof(c1));
	len = hdr + sizeof(c1) + 8;
	buf[8] = 1;
	memcpy(&c1, buf + hdr, sizeof(c1));
	c1.fin_ooo[0] = 0x0123;
	c1.fin_ooo[1] = 0x0456;
	memcpy(buf + hdr, &c1, sizeof(c1));
	buf[hdr + offsetof(struct ctg_conn, peer) + sizeof(struct ctg_tcp_peer) - 1] = 200;
	uint64_t sum = fnv1a_test(0xcbf29ce484222325ULL, buf, hdr + sizeof(c1));
	memcpy(buf + hdr + sizeof(c1), &sum, 8);

	struct ctg_tracker *t2 = make_tracker(64, CTG_MIDSTREAM_STRICT, 500);
	fd = fd_with(buf, len);
	ck_assert_int_eq(ctg_tracker_restore(t2, fd, now, err, sizeof(err)), 1);
	close(fd);
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, cport, 80);
	struct ctg_conn *c = ctg_tracker_lookup(t2, &tp, &dir);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->fin_ooo[0], 0);
	ck_assert_uint_eq(c->fin_ooo[1], 0);
	ck_assert_uint_eq(c->peer[0].retrans, 15);
	ck_assert_uint_eq(c->peer[0].xflags, 0);
	struct ctg_packet p = tcp_pkt(0, CTG_TH_ACK | CTG_TH_PSH, CISN + 1, SISN + 1, WIN, 10);
	struct ctg_track_result r = classify_in(t2, &p);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ctg_tracker_free(t2);
}
END_TEST

START_TEST(test_snapshot_truncated)
{
	static uint8_t good[16384];
	char err[256];
	int fd = snapshot_fd();
	size_t len;

	populate();
	ck_assert_int_eq(ctg_tracker_save(trk, fd, now), 0);
	len = slurp(fd, good, sizeof(good));
	close(fd);
	for (size_t cut = 0; cut < len; cut++) {
		struct ctg_tracker *t2 = make_tracker(64, CTG_MIDSTREAM_STRICT, 500);
		struct ctg_tracker_stats st;

		fd = fd_with(good, cut);
		err[0] = '\0';
		ck_assert_msg(ctg_tracker_restore(t2, fd, now, err, sizeof(err)) == -1,
		    "file cut at %zu accepted", cut);
		ck_assert(err[0] != '\0');
		close(fd);
		ctg_tracker_stats(t2, &st);
		ck_assert_uint_eq(st.live, 0);
		ctg_tracker_free(t2);
	}
	/* cut 0 was the empty file; the whole file still loads */
	struct ctg_tracker *t3 = make_tracker(64, CTG_MIDSTREAM_STRICT, 500);
	fd = fd_with(good, len);
	ck_assert_int_eq(ctg_tracker_restore(t3, fd, now, err, sizeof(err)), 3);
	close(fd);
	ctg_tracker_free(t3);
}
END_TEST

START_TEST(test_snapshot_drops_expired)
{
	struct ctg_tracker *t2;
	char err[256];
	int fd = snapshot_fd();
	struct ctg_tracker_stats st;
	uint8_t d;

	populate();                     /* all three at T0 */
	ck_assert_int_eq(ctg_tracker_save(trk, fd, now), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	t2 = make_tracker(1024, CTG_MIDSTREAM_STRICT, 1);
	/* 121 s later: the SYN_SENT (120 s) is gone, UDP replied (120 s) too */
	ck_assert_int_eq(ctg_tracker_restore(t2, fd, now + 121 * SEC, err,
	    sizeof(err)), 1);
	ctg_tracker_stats(t2, &st);
	ck_assert_uint_eq(st.live, 1);
	struct ctg_tuple tp = flow(0, IPPROTO_TCP, 40000, 80);
	ck_assert_ptr_nonnull(ctg_tracker_lookup(t2, &tp, &d));
	tp = flow(0, IPPROTO_TCP, 40001, 80);
	ck_assert_ptr_null(ctg_tracker_lookup(t2, &tp, &d));
	tp = flow(0, IPPROTO_UDP, 40000, 53);
	ck_assert_ptr_null(ctg_tracker_lookup(t2, &tp, &d));
	ctg_tracker_free(t2);
	close(fd);
}
END_TEST

/* --- memory, reasons -------------------------------------------------------- */

START_TEST(test_memory)
{
	struct ctg_tracker *t = make_tracker(1000000, CTG_MIDSTREAM_STRICT, 1);

	ck_assert_uint_le(ctg_tracker_bytes_per_entry(t), 192);
	ck_assert_uint_lt(ctg_tracker_memory(t), 192u * 1000 * 1000);
	ck_assert_uint_ge(ctg_tracker_memory(t),
	    (size_t)1000000 * sizeof(struct ctg_conn));
	ctg_tracker_free(t);
}
END_TEST

START_TEST(test_reason_table)
{
	for (int i = 0; i < CTG_R_COUNT; i++) {
		const char *n = ctg_reason_name((enum ctg_reason)i);
		enum ctg_reason back;

		ck_assert_ptr_nonnull(n);
		ck_assert_msg(n[0] != '\0', "reason %d has no name", i);
		ck_assert_msg(ctg_reason_desc((enum ctg_reason)i)[0] != '\0',
		    "reason %s has no description", n);
		for (int j = 0; j < i; j++)
			ck_assert_msg(strcmp(n, ctg_reason_name((enum ctg_reason)j)) != 0,
			    "reasons %d and %d share the name %s", j, i, n);
		ck_assert_int_eq(ctg_reason_parse(n, &back), 0);
		ck_assert_int_eq(back, i);
	}
	enum ctg_reason x = CTG_R_NONE;
	ck_assert_int_eq(ctg_reason_parse("no_such_reason", &x), -1);
	ck_assert_int_eq(ctg_reason_parse("", &x), -1);
	ck_assert_str_eq(ctg_reason_name(CTG_R_TCP_RST_INEXACT), "tcp_rst_inexact");
	ck_assert_int_eq(ctg_reason_class(CTG_R_TCP_RST_INEXACT), CTG_RC_NOTE);
	ck_assert_int_eq(ctg_reason_class(CTG_R_TCP_PAWS), CTG_RC_INVALID);
}
END_TEST

START_TEST(test_decode_error_passthrough)
{
	struct ctg_packet p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	struct ctg_track_result r;

	ctg_tracker_packet(trk, &p, CTG_R_TCP_BAD_CHECKSUM, now, &r);
	EXPECT(r, CTG_CT_INVALID, CTG_R_TCP_BAD_CHECKSUM);
	ck_assert_ptr_null(r.conn);
	ck_assert_uint_eq(stats().live, 0);
}
END_TEST

/*
 * Offload (worker.c, tracker-tcp.c). The fixture's connection after a
 * handshake and 100 bytes each way, acknowledged, then offloaded; from
 * then on the test sends only what would still reach ctguard.
 */
static struct ctg_conn *
offloaded(void)
{
	struct ctg_conn *c = handshake();

	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(1, CTG_TH_ACK, SISN + 1, CISN + 101, WIN, 100), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 101, SISN + 101, WIN, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert(!ctg_conn_offloaded(c));
	ctg_tracker_offload(trk, c);
	ck_assert(ctg_conn_offloaded(c));
	return c;
}

/* The flag: only TCP and answered UDP take it, the summary says it, the entry outlives unseen data. */
START_TEST(test_offload_flag)
{
	struct ctg_packet u = udp_pkt(0, 10);
	struct ctg_track_result r = run(&u);
	struct ctg_conn *c;

	ck_assert_ptr_nonnull(r.conn);
	ctg_tracker_offload(trk, r.conn);
	ck_assert(!ctg_conn_offloaded(r.conn));
	ck_assert_int_eq(r.conn->proto_state, 0);

	c = offloaded();
	/* data in flight when it was offloaded: unacked, which would time out in 300 s */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 101, SISN + 101, WIN, 1000), CTG_CT_ESTABLISHED, CTG_R_NONE);
	now += 3600 * SEC;
	sweep_all();
	ck_assert_ptr_eq(find_tcp(), c);
	ck_assert_int_eq(ctg_tracker_kill(trk, c->id, now), 0);
	/* the UDP flow timed out meanwhile, unflagged */
	ck_assert_int_eq(nends, 2);
	ck_assert(!ends[0].offloaded);
	ck_assert(ends[nends - 1].offloaded);
	ck_assert_int_eq(ends[nends - 1].tuple.proto, IPPROTO_TCP);
}
END_TEST

/*
 * Who qualifies (ctg_tracker_offload_ready; worker.c adds the rules' part):
 * a cached verdict, established both ways, past after_packets and
 * after_bytes; TCP only on a segment without SYN, FIN or RST; UDP once
 * answered; ICMP never.
 */
START_TEST(test_offload_ready)
{
	struct ctg_packet u = udp_pkt(0, 40), ur = udp_pkt(1, 40);
	struct ctg_packet e = icmp_echo(0, false, 7), er = icmp_echo(1, true, 7);
	struct ctg_track_result r = run(&u);
	struct ctg_conn *c = r.conn;

	ck_assert_ptr_nonnull(c);
	c->flags |= CTG_CONN_VERDICT;
	ck_assert(!ctg_tracker_offload_ready(c, &u, &r, 0, 0));        /* unanswered */
	r = run(&ur);
	ck_assert(ctg_tracker_offload_ready(c, &ur, &r, 2, 0));
	ck_assert(!ctg_tracker_offload_ready(c, &ur, &r, 3, 0));       /* after_packets */
	ck_assert(!ctg_tracker_offload_ready(c, &ur, &r,
	    0, c->bytes[0] + c->bytes[1] + 1));                          /* after_bytes */
	c->flags &= (uint16_t)~CTG_CONN_VERDICT;
	ck_assert(!ctg_tracker_offload_ready(c, &ur, &r, 0, 0));       /* no cached verdict */
	c->flags |= CTG_CONN_VERDICT;
	ctg_tracker_offload(trk, c);
	ck_assert(ctg_conn_offloaded(c));
	ck_assert(!ctg_tracker_offload_ready(c, &ur, &r, 0, 0));       /* once */

	r = run(&e);
	r.conn->flags |= CTG_CONN_VERDICT;
	r = run(&er);
	ck_assert_int_eq(r.ctstate, CTG_CT_ESTABLISHED);
	ck_assert(!ctg_tracker_offload_ready(r.conn, &er, &r, 0, 0));  /* ICMP stays */
	ctg_tracker_offload(trk, r.conn);
	ck_assert(!ctg_conn_offloaded(r.conn));

	struct ctg_conn *t = handshake();
	t->flags |= CTG_CONN_VERDICT;
	r = seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 100);
	ck_assert(ctg_tracker_offload_ready(t, &(struct ctg_packet){ .tcp.flags = CTG_TH_ACK,
	    .tuple = t->tuple }, &r, 0, 0));
	struct ctg_packet fin = tcp_pkt(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 101, SISN + 1, WIN, 0);
	ck_assert(!ctg_tracker_offload_ready(t, &fin, &r, 0, 0));
	t->peer[1].flags |= CTG_PEER_LIBERAL;
	ck_assert(!ctg_tracker_offload_ready(t, &(struct ctg_packet){ .tcp.flags = CTG_TH_ACK,
	    .tuple = t->tuple }, &r, 0, 0));
}
END_TEST

/*
 * An offloaded UDP flow: datagrams in flight at the hand-over belong to
 * it; no timeout of ours ends it (its datagrams pass us unseen); the first
 * datagram that reaches us later than that is a new flow, judged anew,
 * after the old one ends as timed out with its summary marked offloaded.
 */
START_TEST(test_offload_udp_lifetime)
{
	struct ctg_packet u = udp_pkt(0, 40), ur = udp_pkt(1, 40);
	struct ctg_track_result r;
	struct ctg_conn *c;

	run(&u);
	now += SEC / 10;
	r = run(&ur);
	c = r.conn;
	ck_assert_ptr_nonnull(c);
	c->flags |= CTG_CONN_VERDICT;
	ctg_tracker_offload(trk, c);
	ck_assert(ctg_conn_offloaded(c));
	uint64_t id = c->id;

	now += SEC / 2;                         /* queued behind the marked one */
	r = run(&u);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert(!r.created);
	ck_assert_ptr_eq(r.conn, c);
	ck_assert(ctg_conn_offloaded(c));

	now += 3600 * SEC;                      /* 20 times udp_assured */
	sweep_all();
	ck_assert_int_eq(nends, 0);
	ck_assert_ptr_eq(find(IPPROTO_UDP, cport, 53), c);

	/* its owner ends it when the kernel's entry ends (offwatch.c) */
	ctg_tracker_end(trk, c, CTG_END_TIMEOUT, now);
	ck_assert_int_eq(nends, 1);
	ck_assert(ends[0].offloaded);
	ck_assert_uint_eq(ends[0].conn_id, id);

	/* the same tuple again, offloaded; a datagram 2 s after the hand-over */
	run(&u);
	r = run(&ur);
	c = r.conn;
	c->flags |= CTG_CONN_VERDICT;
	ctg_tracker_offload(trk, c);
	id = c->id;
	now += 2 * SEC;
	r = run(&ur);
	EXPECT(r, CTG_CT_NEW, CTG_R_NONE);
	ck_assert(r.created);
	ck_assert(!ctg_conn_offloaded(r.conn));
	ck_assert_uint_ne(r.conn->id, id);
	ck_assert_int_eq(nends, 2);
	ck_assert(ends[1].offloaded);
	ck_assert_uint_eq(ends[1].conn_id, id);
	ck_assert_uint_eq(ends[1].end_reason, CTG_END_TIMEOUT);
	/* the new flow's originator is who sent first now */
	ck_assert_uint_eq(r.conn->tuple.sport, 53);
}
END_TEST

/*
 * A FIN after megabytes the tracker never saw, acking the other side's
 * unseen data: plausible, so both edges jump to it and the close goes on,
 * each step noted as judged without full knowledge.
 */
START_TEST(test_offload_fin_resync)
{
	struct ctg_track_result r;
	struct ctg_conn *c = offloaded();
	uint32_t cfin = CISN + 101 + 10000000, sfin = SISN + 101 + 500000;

	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, cfin, sfin, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_OFFLOAD_RESYNC);
	ck_assert_uint_eq(c->peer[0].td_end, cfin + 1);
	ck_assert_uint_eq(c->peer[1].td_end, sfin);
	ck_assert(c->flags & CTG_CONN_FIN_ORIG);
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, sfin, cfin + 1, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_OFFLOAD_RESYNC);
	ck_assert(c->flags & CTG_CONN_FIN_RESP);
	/* the last ACK is the kernel's to pass, unseen: counted with the second FIN */
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
	ck_assert_str_eq(ctg_conn_state_code(c), "SF");
	/* and the entry ends as closed, not as an idle timeout in LAST_ACK */
	now += 200 * SEC;
	sweep_all();
	ck_assert_ptr_null(find_tcp());
	ck_assert_int_eq(nends, 1);
	ck_assert_int_eq(ends[0].end_reason, CTG_END_CLOSED);
}
END_TEST

/* A FIN outside the plausible region is judged by the stale edges: INVALID, nothing moves. */
START_TEST(test_offload_fin_outside)
{
	struct ctg_conn *c = offloaded();
	struct ctg_tcp_peer before[2] = { c->peer[0], c->peer[1] };

	/* 2^31 ahead */
	EXPECT_INVALID(seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 101 + 0x80000000u,
	    SISN + 101, WIN, 0), CTG_R_TCP_SEQ_ABOVE_WINDOW);
	/* plausible sequence number, but acking 2^30 + 1 beyond what the server sent */
	EXPECT_INVALID(seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 5000,
	    SISN + 101 + (1u << 30) + 1, WIN, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	/* more than a window behind */
	EXPECT_INVALID(seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 101 - 3 * WIN,
	    SISN + 101, WIN, 0), CTG_R_TCP_SEQ_BELOW_WINDOW);
	ck_assert(memcmp(before, c->peer, sizeof(before)) == 0);
	ck_assert(!(c->flags & CTG_CONN_FIN_ORIG));
}
END_TEST

/* RST: accepted only inside the plausible region, then exact; a SYN as usual. */
START_TEST(test_offload_rst_syn)
{
	struct ctg_track_result r;
	struct ctg_conn *c = offloaded();

	EXPECT_INVALID(seg(1, CTG_TH_RST, SISN + 101 + 0x80000000u, 0, 0, 0),
	    CTG_R_TCP_RST_OUT_OF_WINDOW);
	/* SYNs as without offload: the originator's is held, the responder's refused */
	r = seg(0, CTG_TH_SYN, CISN + 77777, 0, WIN, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_SYN_HELD);
	EXPECT_INVALID(seg(1, CTG_TH_SYN, SISN + 77777, 0, WIN, 0), CTG_R_TCP_SYN_ON_ESTABLISHED);
	ck_assert(!(c->flags & CTG_CONN_CLOSED));
	r = seg(1, CTG_TH_RST, SISN + 101 + (1u << 29), 0, 0, 0);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_TCP_OFFLOAD_RESYNC);
	ck_assert(c->flags & CTG_CONN_CLOSED);
	ck_assert(c->flags & CTG_CONN_RST_RESP);
}
END_TEST

/*
 * A segment without SYN, FIN or RST reaches ctguard only when the kernel
 * called it INVALID (or it was in flight at the offload): refused by our
 * edges it is the kernel's INVALID; inside them it passes.
 */
START_TEST(test_offload_kernel_invalid)
{
	struct ctg_conn *c = offloaded();

	EXPECT_INVALID(seg(0, CTG_TH_ACK, CISN + 101 + 0x40000000u, SISN + 101, WIN, 100),
	    CTG_R_TCP_OFFLOAD_KERNEL_INVALID);
	EXPECT_INVALID(seg(1, CTG_TH_ACK, SISN + 101, CISN + 101 + 0x10000000u, WIN, 0),
	    CTG_R_TCP_OFFLOAD_KERNEL_INVALID);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 101, SISN + 101, WIN, 100), CTG_CT_ESTABLISHED,
	    CTG_R_NONE);
	ck_assert(ctg_conn_offloaded(c));
}
END_TEST

/*
 * Reordering of GSO super-packets in a bulk transfer (e2e_sync_smoke's
 * iperf3 through gw1: 26 to 41 server ACKs refused as tcp_ack_above_sent
 * per run). Segments of 65160 bytes (45 x 1448): A in order, C before B,
 * then B fills the gap; the in-order edge stops at B's end, so D and E,
 * which continue C, are beyond it too until the receiver's ack moves it.
 * The end of the highest data beyond the gap must follow D and E although
 * each is 64 kB on (the 16-bit difference of the ends is negative): an
 * ack of C's end without SACK blocks is not the receiver's last one, and
 * the acks of D and E that follow are ACKs of data that crossed.
 */
START_TEST(test_gso_reorder_acks_follow)
{
	const uint32_t L = 65160;
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	wscale(&p, 7);
	run(&p);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	wscale(&p, 7);
	run(&p);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	/* the server's first scaled window: 8 MB */
	EXPECT(sack_ack(CISN + 1, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* A; C before B; B fills the gap; D and E continue C */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 2 * L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1 + 3 * L, SISN + 1, WIN, L);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 4 * L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 1 + 2 * L);
	/* the receiver's ACKs, a flight late and without SACK blocks */
	EXPECT(sack_ack(CISN + 1 + 2 * L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 3 * L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 4 * L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 5 * L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 1 + 5 * L);
	/* everything acked: an ack of data never sent is refused again */
	EXPECT_INVALID(sack_ack(CISN + 1 + 5 * L + 1448, 0, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	/* new data in order: the bound is its end */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 5 * L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT_INVALID(sack_ack(CISN + 1 + 6 * L + 1448, 0, 0), CTG_R_TCP_ACK_ABOVE_SENT);
	EXPECT(sack_ack(CISN + 1 + 6 * L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
}
END_TEST

/*
 * The same over IPv6 (64260-byte super-packets, 45 x 1428) with a second
 * reordering right after the first (e2e_bulk_acks, one ACK in about ten
 * runs): C overtakes B, then E overtakes D. E starts a new gap beyond the
 * highest end seen (C's); the receiver's plain ack of C, sent before D
 * and E reach it, must not end the allowance, since E crossed the box.
 */
START_TEST(test_gso_second_gap_acks_follow)
{
	const uint32_t L = 64260;
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	wscale(&p, 7);
	run(&p);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	wscale(&p, 7);
	run(&p);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(sack_ack(CISN + 1, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* A; C before B */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 2 * L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1 + L, SISN + 1, WIN, L);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + L, CISN + 1 + 2 * L, CISN + 1 + 3 * L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* E before D */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 4 * L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 3 * L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 3 * L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 3 * L, CISN + 1 + 4 * L, CISN + 1 + 5 * L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 5 * L, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 1 + 5 * L);
	/* everything acked: an ack of data never sent is refused again */
	EXPECT_INVALID(sack_ack(CISN + 1 + 5 * L + 1428, 0, 0), CTG_R_TCP_ACK_ABOVE_SENT);
}
END_TEST

/*
 * iperf3 writes 128 kB: each write leaves as 65160 + 65160 + 752 bytes,
 * so the ends of the writes are 2 x 64 kB apart and the low 16 bits of
 * the highest end beyond the gap equal those of an ack one or two writes
 * behind it (e2e_sync_smoke's gw2, one ACK in two runs). Such an ack,
 * without SACK blocks, is not the last one: the allowance must stay.
 */
START_TEST(test_ooo_ack_writes_64k_apart)
{
	const uint32_t L = 65160, W = 131072;
	struct ctg_packet p;
	struct ctg_track_result r;

	p = tcp_pkt(0, CTG_TH_SYN, CISN, 0, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	wscale(&p, 7);
	run(&p);
	p = tcp_pkt(1, CTG_TH_SYN | CTG_TH_ACK, SISN, CISN + 1, WIN, 0);
	p.tcp.opt.sack_permitted = true;
	wscale(&p, 7);
	run(&p);
	seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	EXPECT(sack_ack(CISN + 1, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* the first write: its tail overtakes its second segment */
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(seg(0, CTG_TH_ACK, CISN + 1 + 2 * L, SISN + 1, WIN, W - 2 * L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	r = seg(0, CTG_TH_ACK, CISN + 1 + L, SISN + 1, WIN, L);
	EXPECT(r, CTG_CT_ESTABLISHED, CTG_R_NONE);
	/* two more writes, in order, all beyond the in-order edge */
	for (uint32_t w = 1; w <= 2; w++) {
		uint32_t at = CISN + 1 + w * W;

		EXPECT(seg(0, CTG_TH_ACK, at, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
		EXPECT(seg(0, CTG_TH_ACK, at + L, SISN + 1, WIN, L), CTG_CT_ESTABLISHED, CTG_R_NONE);
		EXPECT(seg(0, CTG_TH_ACK, at + 2 * L, SISN + 1, WIN, W - 2 * L), CTG_CT_ESTABLISHED, CTG_R_NONE);
	}
	/* the receiver acks the first write: 2 x 64 kB behind the highest end */
	EXPECT(sack_ack(CISN + 1 + W, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 2 * W, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	EXPECT(sack_ack(CISN + 1 + 3 * W, 0, 0), CTG_CT_ESTABLISHED, CTG_R_NONE);
	ck_assert_uint_eq(r.conn->peer[0].td_end, CISN + 1 + 3 * W);
	/* everything acked: an ack of data never sent is refused again */
	EXPECT_INVALID(sack_ack(CISN + 1 + 3 * W + 1448, 0, 0), CTG_R_TCP_ACK_ABOVE_SENT);
}
END_TEST

static Suite *
tracker_suite(void)
{
	Suite *s = suite_create("tracker");
	TCase *tc;

	tc = tcase_create("handshake");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_syn_retransmit);
	tcase_add_test(tc, test_synack_retransmit);
	tcase_add_test(tc, test_simultaneous_open);
	tcase_add_test(tc, test_simultaneous_open_reply_first);
	tcase_add_test(tc, test_tfo);
	tcase_add_test(tc, test_tfo_data_acked);
	tcase_add_test(tc, test_tfo_server_answers_early);
	tcase_add_test(tc, test_server_data_before_third_ack);
	tcase_add_test(tc, test_syn_retransmit_after_synack);
	tcase_add_test(tc, test_synack_data);
	tcase_add_test(tc, test_synack_wrong_dir);
	tcase_add_test(tc, test_synack_bad_ack);
	tcase_add_test(tc, test_ack_before_synack);
	tcase_add_test(tc, test_data_before_established);
	tcase_add_test(tc, test_fin_before_established);
	tcase_add_test(tc, test_syn_on_established);
	tcase_add_test(tc, test_syn_wrong_dir);
	tcase_add_test(tc, test_no_connection_strict);
	tcase_add_test(tc, test_midstream_loose);
	tcase_add_test(tc, test_midstream_loose_synack);
	suite_add_tcase(s, tc);

	tc = tcase_create("offload");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_offload_flag);
	tcase_add_test(tc, test_offload_ready);
	tcase_add_test(tc, test_offload_udp_lifetime);
	tcase_add_test(tc, test_offload_fin_resync);
	tcase_add_test(tc, test_offload_fin_outside);
	tcase_add_test(tc, test_offload_rst_syn);
	tcase_add_test(tc, test_offload_kernel_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_close_by_client);
	tcase_add_test(tc, test_close_by_server);
	tcase_add_test(tc, test_close_fin_with_data);
	tcase_add_test(tc, test_simultaneous_close);
	tcase_add_test(tc, test_fin_retransmit);
	tcase_add_test(tc, test_time_wait_reuse);
	tcase_add_test(tc, test_time_wait_old_syn);
	tcase_add_test(tc, test_time_wait_newer_timestamp);
	tcase_add_test(tc, test_syn_held_established_challenge);
	tcase_add_test(tc, test_syn_held_synack_resyncs);
	tcase_add_test(tc, test_syn_held_syn_rcvd);
	tcase_add_test(tc, test_synack_new_isn_after_syn_retransmit);
	tcase_add_test(tc, test_time_wait_lower_isn_after_60s);
	suite_add_tcase(s, tc);

	tc = tcase_create("rst");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rst_exact_orig);
	tcase_add_test(tc, test_rst_exact_resp);
	tcase_add_test(tc, test_rst_inexact);
	tcase_add_test(tc, test_rst_out_of_window);
	tcase_add_test(tc, test_syn_after_rst);
	tcase_add_test(tc, test_rst_answers_syn);
	tcase_add_test(tc, test_rst_answers_syn_bad_ack);
	tcase_add_test(tc, test_rst_by_originator_in_syn_sent);
	tcase_add_test(tc, test_challenge_ack);
	tcase_add_test(tc, test_challenge_ack_wrong_rst);
	tcase_add_test(tc, test_answer_to_syn_bad_tsecr);
	tcase_add_test(tc, test_synack_echoes_first_syn);
	tcase_add_test(tc, test_rst_answers_syn_isn_ffffffff);
	tcase_add_test(tc, test_rst_fin_seq_in_close_wait);
	tcase_add_test(tc, test_rst_inexact_in_syn_rcvd);
	tcase_add_test(tc, test_challenge_ack_then_exact_rst);
	tcase_add_test(tc, test_rst_md5_unexpected);
	tcase_add_test(tc, test_rst_grace_revives);
	tcase_add_test(tc, test_rst_grace_real_reset);
	tcase_add_test(tc, test_rst_grace_config_key);
	tcase_add_test(tc, test_one_sided_after_syn);
	suite_add_tcase(s, tc);

	tc = tcase_create("window");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_window_probe);
	tcase_add_test(tc, test_seq_above_window);
	tcase_add_test(tc, test_ack_above_sent);
	tcase_add_test(tc, test_retransmit);
	tcase_add_test(tc, test_seq_below_window);
	tcase_add_test(tc, test_data_after_fin);
	tcase_add_test(tc, test_wscale_both);
	tcase_add_test(tc, test_wscale_client_only);
	tcase_add_test(tc, test_wscale_server_only);
	tcase_add_test(tc, test_wscale_clamped);
	tcase_add_test(tc, test_sack_above_sent);
	tcase_add_test(tc, test_loss_upstream_acks_catch_up);
	tcase_add_test(tc, test_gso_reorder_acks_follow);
	tcase_add_test(tc, test_gso_second_gap_acks_follow);
	tcase_add_test(tc, test_ooo_ack_writes_64k_apart);
	tcase_add_test(tc, test_ack_lower_bound_from_acked);
	tcase_add_test(tc, test_paws);
	tcase_add_test(tc, test_rst_ignores_paws);
	tcase_add_test(tc, test_paws_after_24_days_idle);
	tcase_add_test(tc, test_paws_ts_recent_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("receiver_acts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_forged_fin_ahead_of_data);
	tcase_add_test(tc, test_forged_byte_far_ahead);
	tcase_add_test(tc, test_reordered_data_then_ack);
	tcase_add_test(tc, test_forged_future_tsval);
	tcase_add_test(tc, test_forged_empty_ack_then_rst);
	tcase_add_test(tc, test_fin_overtaken_by_own_ack);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_flags_no_conn);
	tcase_add_test(tc, test_bad_flags_with_conn);
	tcase_add_test(tc, test_good_flags);
	tcase_add_test(tc, test_decode_error_passthrough);
	suite_add_tcase(s, tc);

	tc = tcase_create("datagram");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_udp_states);
	tcase_add_test(tc, test_udp_timeout_unreplied);
	tcase_add_test(tc, test_udp_timeout_replied);
	tcase_add_test(tc, test_udp_timeout_assured);
	tcase_add_test(tc, test_icmp_echo);
	tcase_add_test(tc, test_icmp_error_related);
	tcase_add_test(tc, test_icmp_error_other_queue);
	tcase_add_test(tc, test_icmp_error_udp);
	tcase_add_test(tc, test_icmp_error_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_table_evicts_oldest_unestablished);
	tcase_add_test(tc, test_table_full_refuses);
	tcase_add_test(tc, test_flood_ack_small_table);
	tcase_add_test(tc, test_flood_syn_small_table);
	tcase_add_test(tc, test_flood_ack_default_table);
	tcase_add_test(tc, test_flood_syn_default_table);
	tcase_add_test(tc, test_flood_full_of_closing);
	/* two floods of 2.6M packets each under the sanitizers */
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_expiry_sweep);
	tcase_add_test(tc, test_expiry_lookup);
	tcase_add_test(tc, test_unconfirm);
	tcase_add_test(tc, test_memory);
	tcase_add_test(tc, test_reason_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("snapshot");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_snapshot_round_trip);
	tcase_add_test(tc, test_snapshot_checkpoint_relearns);
	tcase_add_test(tc, test_snapshot_final_stays_strict);
	tcase_add_test(tc, test_snapshot_corrupt);
	tcase_add_test(tc, test_snapshot_truncated);
	tcase_add_test(tc, test_snapshot_v1_converted);
	tcase_add_test(tc, test_snapshot_drops_expired);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tracker_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
