/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test kit shared by the tracker test programs (check_tracker.c,
 * check_checklist.c): one fixed flow, client 198.51.100.2:cport to server
 * 203.0.113.5:80, a fake clock, a Check fixture that builds a fresh
 * tracker per test, hand-built packets, and EXPECT macros that print
 * names instead of numbers when they fail.
 *
 * Every packet that run() does not see classified INVALID is accounted as
 * the daemon would after an accept verdict, so ended connections reach
 * the end callback, which keeps a copy of each record in ends[].
 */
#ifndef CTGUARD_TESTS_TRACKERKIT_H
#define CTGUARD_TESTS_TRACKERKIT_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/tracker.h"

#define CISN 1000u              /* client ISN */
#define SISN 5000u              /* server ISN */
#define WIN 65535
#define T0 1700000000000000ULL
#define SEC 1000000ULL
#define MAX_ENDS 64

extern struct ctg_tracker *trk;
extern uint64_t now;
extern uint16_t cport;
extern struct ctg_conn_record ends[MAX_ENDS];
extern int nends;
extern uint64_t seed_salt;      /* varies the hash seed of new trackers */

/* Fixture: a 1024-entry strict tracker at T0, nothing ended yet. */
void setup(void);
void teardown(void);

void default_timeouts(struct ctg_timeouts *to);
void base_config(struct ctg_tracker_config *tc, uint32_t max,
    enum ctg_midstream ms);
struct ctg_tracker *make_tracker(uint32_t max, enum ctg_midstream ms,
    uint64_t id_base);
struct ctg_tracker *make_tracker_cfg(const struct ctg_tracker_config *base);
/* Replace the fixture's tracker with another size, mode or config. */
void reset_tracker(uint32_t max, enum ctg_midstream ms);
void reset_tracker_cfg(const struct ctg_tracker_config *tc);

/* dir 0: client to server, 1: server to client. */
struct ctg_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
struct ctg_tuple flow(int dir, uint8_t proto, uint16_t cp, uint16_t sp);
struct ctg_packet tcp_pkt(int dir, uint8_t flags, uint32_t seq, uint32_t ack,
    uint16_t win, uint32_t len);
void ts(struct ctg_packet *p, uint32_t tsval, uint32_t tsecr);
void wscale(struct ctg_packet *p, uint8_t ws);
struct ctg_packet udp_pkt(int dir, uint32_t len);
struct ctg_packet icmp_echo(int dir, bool reply, uint16_t id);
struct ctg_packet icmp_error(struct ctg_addr dst,
    const struct ctg_tuple *inner, uint32_t seq);

/* classify*: no accounting; run*, seg: accounted unless INVALID. */
struct ctg_track_result classify(const struct ctg_packet *p);
struct ctg_track_result classify_in(struct ctg_tracker *t,
    const struct ctg_packet *p);
struct ctg_track_result run_dec(const struct ctg_packet *p,
    enum ctg_reason decode);
struct ctg_track_result run(const struct ctg_packet *p);
struct ctg_track_result seg(int dir, uint8_t flags, uint32_t seq,
    uint32_t ack, uint16_t win, uint32_t len);

struct ctg_conn *find(uint8_t proto, uint16_t cp, uint16_t sp);
struct ctg_conn *find_tcp(void);
size_t sweep_all(void);
struct ctg_tracker_stats stats(void);

struct ctg_conn *handshake(void);
void handshake_ts(void);
void simultaneous_syns(void);

#define EXPECT(res, cs, rsn) do { \
	struct ctg_track_result e_ = (res); \
	ck_assert_msg(e_.ctstate == (cs) && e_.reason == (rsn), \
	    "got %s/%s, want %s/%s", ctg_ctstate_name(e_.ctstate), \
	    ctg_reason_name(e_.reason), ctg_ctstate_name(cs), \
	    ctg_reason_name(rsn)); \
} while (0)

#define EXPECT_STATES(o, r, wo, wr) do { \
	ck_assert_msg((o) == (wo) && (r) == (wr), \
	    "states %s/%s, want %s/%s", ctg_tcp_state_name(o), \
	    ctg_tcp_state_name(r), ctg_tcp_state_name(wo), \
	    ctg_tcp_state_name(wr)); \
} while (0)

#define EXPECT_AFTER(res, wo, wr) EXPECT_STATES((res).after[0], (res).after[1], wo, wr)
#define EXPECT_BEFORE(res, wo, wr) EXPECT_STATES((res).before[0], (res).before[1], wo, wr)

/* The result keeps states unchanged (before == after). */
#define EXPECT_UNCHANGED(res) EXPECT_STATES((res).after[0], (res).after[1], \
	(res).before[0], (res).before[1])

/* INVALID for the given reason, and nothing moved. */
#define EXPECT_INVALID(res, rsn) do { \
	struct ctg_track_result i_ = (res); \
	EXPECT(i_, CTG_CT_INVALID, rsn); \
	EXPECT_UNCHANGED(i_); \
} while (0)

#endif /* CTGUARD_TESTS_TRACKERKIT_H */
