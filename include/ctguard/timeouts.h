/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The timeout classes: one list from which the configuration (struct
 * ctg_timeouts, its keys and defaults), the tracker's class table and the
 * rules' timeout options are all made. A new protocol's timeouts are one
 * line here.
 *
 * Each entry: class symbol (CTG_TO_<sym>), key (the ctg_timeouts member and
 * the setting's name in ctguard.conf and rule files), default in seconds
 * (Linux nf_conntrack's), one-line meaning.
 */
#ifndef CTGUARD_TIMEOUTS_H
#define CTGUARD_TIMEOUTS_H

#define CTG_TIMEOUT_CLASSES(X) \
	X(SYN_SENT,       tcp_syn_sent,    120,    "SYN seen, no answer yet") \
	X(SYN_RCVD,       tcp_syn_rcvd,    60,     "SYN answered, handshake not complete") \
	X(ESTABLISHED,    tcp_established, 432000, "TCP connection established") \
	X(FIN_WAIT,       tcp_fin_wait,    120,    "one side has closed") \
	X(CLOSE_WAIT,     tcp_close_wait,  60,     "close received, not yet sent") \
	X(LAST_ACK,       tcp_last_ack,    30,     "both closed, last ACK awaited") \
	X(TIME_WAIT,      tcp_time_wait,   120,    "both closed and acknowledged") \
	X(CLOSE,          tcp_close,       10,     "reset or fully closed") \
	X(UNACKED,        tcp_unacked,     300,    "data outstanding, or midstream unreplied") \
	X(RETRANS,        tcp_retrans,     300,    "3+ retransmissions, or zero window") \
	X(UDP_UNREPLIED,  udp_unreplied,   30,     "UDP, one direction only") \
	X(UDP_REPLIED,    udp_replied,     120,    "UDP, answered") \
	X(UDP_ASSURED,    udp_assured,     180,    "UDP, replied and then seen again") \
	X(ICMP,           icmp,            30,     "ICMP queries") \
	X(OTHER,          other,           600,    "any other protocol")

enum ctg_timeout_class {
#define CTG_X_TO_ENUM(sym, key, def, doc) CTG_TO_##sym,
	CTG_TIMEOUT_CLASSES(CTG_X_TO_ENUM)
#undef CTG_X_TO_ENUM
	CTG_TO_COUNT
};

/* Largest timeout ctguard.conf and rule files accept: 365 days. */
#define CTG_TIMEOUT_MAX_S (365U * 86400U)

#endif
