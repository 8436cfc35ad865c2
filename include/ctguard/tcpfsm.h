/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TCP endpoint state machine of the tracker, as a table.
 *
 * daemon/tracker-tcp.c follows each endpoint of a connection through the
 * RFC 793 states as a box in the middle sees them. This file says which
 * moves it makes: one row per (state before, event, state after) of one
 * endpoint, where the event is a segment the endpoint sends (snd) or
 * receives (rcv). It is the single source of the state diagram
 * (docs/tcp-states.dot and .svg, made by tests/kit/gen_tcpfsm_dot) and of the
 * arrows the audit report draws; tests/unit/check_tcpfsm.c drives the real
 * tracker through every segment kind from every state it can reach and
 * fails when the tracker makes a move this table lacks, or this table
 * lists a move the tracker never makes.
 *
 * A row is what one packet does to one endpoint, which is what the audit
 * log records (orig_before -> orig_after, resp_before -> resp_after). So
 * a FIN|ACK that also acknowledges the peer's FIN is one row
 * ESTABLISHED -> LAST_ACK, besides the rows of the two halves, and a third
 * ACK that carries a FIN takes its sender from SYN_SENT to FIN_WAIT_1.
 * NONE is "no connection yet": the rows from it open one (a SYN, or in
 * loose midstream mode a pickup from a SYN/ACK or an ACK). LISTEN -> rcv
 * ACK -> ESTABLISHED is loose midstream's pick-up of a one-sided flow
 * (its SYN/ACK took another path). "snd ACK" is
 * any segment with ACK and without SYN, FIN or RST, data or not; "snd FIN"
 * a FIN|ACK. Self-loops (retransmissions, duplicate SYNs) are left out.
 */
#ifndef CTGUARD_TCPFSM_H
#define CTGUARD_TCPFSM_H

#include <stdbool.h>
#include <stddef.h>

#include "ctguard/record.h"

/* symbol, label */
#define CTG_TCP_EVENTS(X) \
	X(SND_SYN,    "snd SYN") \
	X(RCV_SYN,    "rcv SYN") \
	X(SND_SYNACK, "snd SYN/ACK") \
	X(RCV_SYNACK, "rcv SYN/ACK") \
	X(SND_ACK,    "snd ACK") \
	X(RCV_ACK,    "rcv ACK") \
	X(SND_FIN,    "snd FIN") \
	X(RCV_FIN,    "rcv FIN") \
	X(SND_RST,    "snd RST") \
	X(RCV_RST,    "rcv RST")

enum ctg_tcp_event {
#define CTG_TCP_EVENT_ENUM(sym, label) CTG_TCPE_##sym,
	CTG_TCP_EVENTS(CTG_TCP_EVENT_ENUM)
#undef CTG_TCP_EVENT_ENUM
	CTG_TCPE_COUNT
};

/* from (CTG_TCPS_*), event (CTG_TCPE_*), to (CTG_TCPS_*) */
#define CTG_TCP_FSM(X) \
	X(NONE,        SND_SYN,    SYN_SENT) \
	X(NONE,        RCV_SYN,    LISTEN) \
	X(NONE,        SND_SYNACK, SYN_RCVD) \
	X(NONE,        RCV_SYNACK, SYN_SENT) \
	X(NONE,        SND_ACK,    ESTABLISHED) \
	X(NONE,        RCV_ACK,    ESTABLISHED) \
	X(LISTEN,      SND_SYN,    SYN_SENT) \
	X(LISTEN,      SND_SYNACK, SYN_RCVD) \
	X(LISTEN,      SND_RST,    CLOSED) \
	X(LISTEN,      RCV_RST,    CLOSED) \
	X(LISTEN,      RCV_ACK,    ESTABLISHED) \
	X(SYN_SENT,    SND_SYNACK, SYN_RCVD) \
	X(SYN_SENT,    SND_SYNACK, ESTABLISHED) \
	X(SYN_SENT,    SND_ACK,    ESTABLISHED) \
	X(SYN_SENT,    SND_FIN,    ESTABLISHED) \
	X(SYN_SENT,    SND_FIN,    FIN_WAIT_1) \
	X(SYN_SENT,    SND_RST,    CLOSED) \
	X(SYN_SENT,    RCV_RST,    CLOSED) \
	X(SYN_RCVD,    RCV_SYNACK, ESTABLISHED) \
	X(SYN_RCVD,    RCV_ACK,    ESTABLISHED) \
	X(SYN_RCVD,    SND_FIN,    FIN_WAIT_1) \
	X(SYN_RCVD,    RCV_FIN,    ESTABLISHED) \
	X(SYN_RCVD,    SND_RST,    CLOSED) \
	X(SYN_RCVD,    RCV_RST,    CLOSED) \
	X(ESTABLISHED, SND_ACK,    CLOSE_WAIT) \
	X(ESTABLISHED, SND_FIN,    FIN_WAIT_1) \
	X(ESTABLISHED, SND_FIN,    LAST_ACK) \
	X(ESTABLISHED, SND_RST,    CLOSED) \
	X(ESTABLISHED, RCV_RST,    CLOSED) \
	X(FIN_WAIT_1,  SND_ACK,    CLOSING) \
	X(FIN_WAIT_1,  RCV_ACK,    FIN_WAIT_2) \
	X(FIN_WAIT_1,  SND_FIN,    CLOSING) \
	X(FIN_WAIT_1,  RCV_FIN,    FIN_WAIT_2) \
	X(FIN_WAIT_1,  SND_RST,    CLOSED) \
	X(FIN_WAIT_1,  RCV_RST,    CLOSED) \
	X(FIN_WAIT_2,  SND_ACK,    TIME_WAIT) \
	X(FIN_WAIT_2,  SND_FIN,    TIME_WAIT) \
	X(FIN_WAIT_2,  SND_RST,    CLOSED) \
	X(FIN_WAIT_2,  RCV_RST,    CLOSED) \
	X(CLOSING,     RCV_ACK,    TIME_WAIT) \
	X(CLOSING,     RCV_FIN,    TIME_WAIT) \
	X(CLOSING,     SND_RST,    CLOSED) \
	X(CLOSING,     RCV_RST,    CLOSED) \
	X(TIME_WAIT,   SND_RST,    CLOSED) \
	X(TIME_WAIT,   RCV_RST,    CLOSED) \
	X(CLOSE_WAIT,  SND_FIN,    LAST_ACK) \
	X(CLOSE_WAIT,  SND_RST,    CLOSED) \
	X(CLOSE_WAIT,  RCV_RST,    CLOSED) \
	X(LAST_ACK,    RCV_ACK,    CLOSED) \
	X(LAST_ACK,    RCV_FIN,    CLOSED) \
	X(LAST_ACK,    SND_RST,    CLOSED) \
	X(LAST_ACK,    RCV_RST,    CLOSED) \
	/* a SYN/ACK answering a new SYN on a tuple still held: re-initialised (tcp_resync) */ \
	X(CLOSED,      SND_SYNACK, SYN_RCVD) \
	X(CLOSED,      RCV_SYNACK, SYN_SENT) \
	X(ESTABLISHED, SND_SYNACK, SYN_RCVD) \
	X(ESTABLISHED, RCV_SYNACK, SYN_SENT) \
	X(FIN_WAIT_1,  SND_SYNACK, SYN_RCVD) \
	X(FIN_WAIT_1,  RCV_SYNACK, SYN_SENT) \
	X(FIN_WAIT_2,  SND_SYNACK, SYN_RCVD) \
	X(FIN_WAIT_2,  RCV_SYNACK, SYN_SENT) \
	X(CLOSING,     SND_SYNACK, SYN_RCVD) \
	X(CLOSING,     RCV_SYNACK, SYN_SENT) \
	X(TIME_WAIT,   SND_SYNACK, SYN_RCVD) \
	X(TIME_WAIT,   RCV_SYNACK, SYN_SENT) \
	X(CLOSE_WAIT,  SND_SYNACK, SYN_RCVD) \
	X(CLOSE_WAIT,  RCV_SYNACK, SYN_SENT) \
	X(LAST_ACK,    SND_SYNACK, SYN_RCVD) \
	X(LAST_ACK,    RCV_SYNACK, SYN_SENT)

struct ctg_tcp_move {
	unsigned char from, event, to;
};

extern const struct ctg_tcp_move ctg_tcp_moves[];
extern const size_t ctg_tcp_nmoves;

const char *ctg_tcp_event_name(enum ctg_tcp_event e);
/* Does the table have a move from -> to (by any event)? */
bool ctg_tcp_fsm_has(enum ctg_tcp_state from, enum ctg_tcp_state to);

#endif
