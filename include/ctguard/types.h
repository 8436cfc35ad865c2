/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The core enumerations: what a packet is (ctstate), what happens to it
 * (action), where each TCP endpoint stands, and why a connection ended.
 * Each has a _COUNT member, so that every array indexed by one of them is
 * sized by it and grows with it. Their names (record.c) are an interface.
 */
#ifndef CTGUARD_TYPES_H
#define CTGUARD_TYPES_H

enum ctg_ctstate {
	CTG_CT_NEW,
	CTG_CT_ESTABLISHED,
	CTG_CT_RELATED,
	CTG_CT_INVALID,
	CTG_CT_COUNT
};

enum ctg_action {
	CTG_ACT_ACCEPT,
	CTG_ACT_DROP,
	CTG_ACT_REJECT,
	CTG_ACT_COUNT
};

/* TCP endpoint states as inferred by a box in the middle. */
enum ctg_tcp_state {
	CTG_TCPS_NONE,          /* not TCP, or nothing seen yet */
	CTG_TCPS_CLOSED,
	CTG_TCPS_LISTEN,
	CTG_TCPS_SYN_SENT,
	CTG_TCPS_SYN_RCVD,
	CTG_TCPS_ESTABLISHED,
	CTG_TCPS_FIN_WAIT_1,
	CTG_TCPS_FIN_WAIT_2,
	CTG_TCPS_CLOSING,
	CTG_TCPS_TIME_WAIT,
	CTG_TCPS_CLOSE_WAIT,
	CTG_TCPS_LAST_ACK,
	CTG_TCPS_COUNT
};

enum ctg_end_reason {
	CTG_END_CLOSED,
	CTG_END_RESET,
	CTG_END_TIMEOUT,
	CTG_END_EVICTED,
	CTG_END_FLUSHED,
	CTG_END_SHUTDOWN,
	CTG_END_KILLED,
	CTG_END_REOPENED,       /* a new SYN took the tuple over */
	CTG_END_COUNT
};

#endif
