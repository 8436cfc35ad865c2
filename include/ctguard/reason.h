/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reason codes: why a packet got the classification it got.
 *
 * One list for the decoder, the tracker, the rules and the daemon, so that
 * every verdict in the audit log names its cause with one stable string.
 * The names are an interface (rule files match on them, audit queries filter
 * on them): never rename one, only add.
 *
 * Each entry: symbol, stable name, class, one-line meaning.
 * Class INVALID means the packet is classified INVALID; NOTE means the packet
 * is valid but notable (a retransmission, an inexact RST that the endpoint
 * will answer with a challenge ACK); POLICY comes from rules or resources.
 */
#ifndef CTGUARD_REASON_H
#define CTGUARD_REASON_H

#include <stdint.h>

enum ctg_reason_class {
	CTG_RC_NONE,
	CTG_RC_INVALID,
	CTG_RC_NOTE,
	CTG_RC_POLICY,
};

#define CTG_REASONS(X) \
	X(NONE,                 "none",                 NONE,    "valid packet, nothing to report") \
	/* decoder: link and IP */ \
	X(NOT_IP,               "not_ip",               INVALID, "frame does not carry IPv4 or IPv6") \
	X(LINK_TRUNCATED,       "link_truncated",       INVALID, "frame shorter than its link-layer header") \
	X(IP_TRUNCATED,         "ip_truncated",         INVALID, "buffer shorter than the IP header") \
	X(IP_BAD_VERSION,       "ip_bad_version",       INVALID, "IP version is neither 4 nor 6") \
	X(IP_BAD_IHL,           "ip_bad_ihl",           INVALID, "IPv4 header length below 20 bytes") \
	X(IP_BAD_TOTLEN,        "ip_bad_totlen",        INVALID, "IP total length smaller than its header") \
	X(IP_TOTLEN_EXCEEDS,    "ip_totlen_exceeds_packet", INVALID, "IP total length larger than the packet on the wire") \
	X(IP_BAD_CHECKSUM,      "ip_bad_checksum",      INVALID, "IPv4 header checksum does not verify") \
	X(IP_BAD_FRAGMENT,      "ip_bad_fragment",      INVALID, "fragment offset and length run past 65535") \
	X(IP_FRAGMENT,          "ip_fragment",          INVALID, "non-first fragment: no transport header to track") \
	X(IPV6_EXT_TRUNCATED,   "ipv6_ext_truncated",   INVALID, "IPv6 extension header runs past the packet") \
	X(IPV6_EXT_TOO_MANY,    "ipv6_ext_too_many",    INVALID, "IPv6 extension header chain longer than the bound") \
	X(IPV6_EXT_BAD,         "ipv6_ext_bad",         INVALID, "malformed IPv6 extension header (AH length, repeated fragment header)") \
	/* decoder: transport */ \
	X(TCP_TRUNCATED,        "tcp_truncated",        INVALID, "TCP header (with options) not fully present") \
	X(TCP_BAD_DOFF,         "tcp_bad_doff",         INVALID, "TCP data offset below 5 words or past the segment") \
	X(TCP_BAD_OPTION,       "tcp_bad_option",       INVALID, "TCP option with an impossible length") \
	X(TCP_BAD_CHECKSUM,     "tcp_bad_checksum",     INVALID, "TCP checksum does not verify") \
	X(UDP_TRUNCATED,        "udp_truncated",        INVALID, "UDP header not fully present") \
	X(UDP_BAD_LENGTH,       "udp_bad_length",       INVALID, "UDP length field disagrees with the IP payload") \
	X(UDP_BAD_CHECKSUM,     "udp_bad_checksum",     INVALID, "UDP checksum does not verify") \
	X(ICMP_TRUNCATED,       "icmp_truncated",       INVALID, "ICMP header not fully present") \
	X(ICMP_BAD_CHECKSUM,    "icmp_bad_checksum",    INVALID, "ICMP checksum does not verify") \
	X(ICMP_INNER_TRUNCATED, "icmp_inner_truncated", INVALID, "ICMP error quotes less than an IP header and 8 bytes") \
	X(ICMP_INNER_BAD,       "icmp_inner_bad",       INVALID, "ICMP error quotes a malformed or non-first-fragment packet") \
	/* tracker: TCP flags */ \
	X(TCP_FLAGS_NULL,       "tcp_flags_null",       INVALID, "no TCP flag set (null scan)") \
	X(TCP_FLAGS_SYN_FIN,    "tcp_flags_syn_fin",    INVALID, "SYN and FIN together") \
	X(TCP_FLAGS_SYN_RST,    "tcp_flags_syn_rst",    INVALID, "SYN and RST together") \
	X(TCP_FLAGS_FIN_RST,    "tcp_flags_fin_rst",    INVALID, "FIN and RST together") \
	X(TCP_FLAGS_XMAS,       "tcp_flags_xmas",       INVALID, "FIN, PSH and URG without ACK (Xmas scan)") \
	X(TCP_FLAGS_NO_ACK,     "tcp_flags_no_ack",     INVALID, "FIN, PSH or URG without ACK") \
	X(TCP_FLAGS_BAD,        "tcp_flags_bad",        INVALID, "flag combination no TCP stack sends") \
	/* tracker: TCP state */ \
	X(TCP_NO_CONN,          "tcp_no_connection",    INVALID, "not a SYN and no connection exists (strict midstream)") \
	X(TCP_NEW_NOT_SYN,      "tcp_new_not_syn",      INVALID, "SYN/ACK, FIN or RST cannot open a connection") \
	X(TCP_SYNACK_WRONG_DIR, "tcp_synack_wrong_dir", INVALID, "SYN/ACK sent by the connection's originator") \
	X(TCP_SYNACK_BAD_ACK,   "tcp_synack_bad_ack",   INVALID, "SYN/ACK does not acknowledge the SYN") \
	X(TCP_SYNACK_UNEXPECTED,"tcp_synack_unexpected",INVALID, "SYN/ACK where the state allows none") \
	X(TCP_SYN_ON_ESTABLISHED,"tcp_syn_on_established",INVALID, "SYN inside an established connection") \
	X(TCP_SYN_WRONG_DIR,    "tcp_syn_wrong_dir",    INVALID, "SYN from the responder after it sent its SYN/ACK") \
	X(TCP_ACK_BEFORE_SYNACK,"tcp_ack_before_synack",INVALID, "originator ACK or data before any SYN/ACK") \
	X(TCP_DATA_BEFORE_ESTABLISHED, "tcp_data_before_established", INVALID, "responder data before the handshake completed") \
	X(TCP_FIN_BEFORE_ESTABLISHED,  "tcp_fin_before_established",  INVALID, "FIN before the handshake completed") \
	X(TCP_SEQ_ABOVE_WINDOW, "tcp_seq_above_window", INVALID, "data beyond the receiver's advertised window") \
	X(TCP_SEQ_BELOW_WINDOW, "tcp_seq_below_window", INVALID, "data more than a window behind what was acknowledged") \
	X(TCP_ACK_ABOVE_SENT,   "tcp_ack_above_sent",   INVALID, "acknowledges data the peer never sent") \
	X(TCP_ACK_BELOW_WINDOW, "tcp_ack_below_window", INVALID, "acknowledgment far older than the latest") \
	X(TCP_DATA_AFTER_FIN,   "tcp_data_after_fin",   INVALID, "data or FIN past the sender's own FIN") \
	X(TCP_RST_OUT_OF_WINDOW,"tcp_rst_out_of_window",INVALID, "RST sequence outside the receive window (RFC 5961)") \
	X(TCP_RST_BAD_ACK,      "tcp_rst_bad_ack",      INVALID, "RST in SYN_SENT that does not acknowledge the SYN") \
	X(TCP_PAWS,             "tcp_paws",             INVALID, "timestamp older than the sender's last (PAWS, RFC 7323)") \
	X(TCP_CLOSED,           "tcp_closed",           INVALID, "segment on a connection already closed or reset") \
	X(TCP_BAD_TSECR,        "tcp_bad_tsecr",        INVALID, "answer to a SYN echoing no timestamp the SYN sent (PAWSActiveRejected)") \
	X(TCP_MD5_UNEXPECTED,   "tcp_md5_unexpected",   INVALID, "TCP-MD5 option on a connection whose SYNs had none (TCPMD5Unexpected)") \
	/* tracker: other protocols */ \
	X(ICMP_REPLY_NO_REQUEST,"icmp_reply_without_request", INVALID, "echo reply with no matching request") \
	X(ICMP_ERROR_NO_CONN,   "icmp_error_no_connection", INVALID, "ICMP error quoting no tracked connection") \
	X(ICMP_ERROR_WRONG_DIR, "icmp_error_wrong_dir", INVALID, "ICMP error not addressed to the quoted packet's sender") \
	X(ICMP_ERROR_BAD_SEQ,   "icmp_error_bad_seq",   INVALID, "ICMP error quoting a TCP sequence outside the window") \
	X(ICMP_UNKNOWN_TYPE,    "icmp_unknown_type",    INVALID, "ICMP type that is neither a query nor an error") \
	/* notes: valid packets worth saying something about */ \
	X(TCP_RETRANSMIT,       "tcp_retransmit",       NOTE,    "retransmission of data already seen") \
	X(TCP_KEEPALIVE,        "tcp_keepalive",        NOTE,    "keepalive probe (one byte below the next sequence)") \
	X(TCP_WINDOW_PROBE,     "tcp_window_probe",     NOTE,    "zero-window probe") \
	X(TCP_RST_INEXACT,      "tcp_rst_inexact",      NOTE,    "in-window but inexact RST: state kept, the endpoint will send a challenge ACK") \
	X(TCP_CHALLENGE_ACK,    "tcp_challenge_ack",    NOTE,    "ACK answering a SYN or inexact RST inside a connection") \
	X(TCP_REOPEN,           "tcp_reopen",           NOTE,    "SYN reused the tuple of a closed connection") \
	X(TCP_MIDSTREAM,        "tcp_midstream",        NOTE,    "connection picked up without its handshake (loose midstream)") \
	X(TCP_WSCALE_CLAMPED,   "tcp_wscale_clamped",   NOTE,    "window scale above 14 clamped to 14") \
	X(TCP_SYN_DATA,         "tcp_syn_data",         NOTE,    "SYN or SYN/ACK carrying data (TCP Fast Open)") \
	X(TCP_SYN_RETRANSMIT,   "tcp_syn_retransmit",   NOTE,    "retransmitted SYN or SYN/ACK") \
	X(TCP_SIMULTANEOUS_OPEN,"tcp_simultaneous_open",NOTE,    "SYN crossed SYN") \
	X(TCP_SYN_HELD,         "tcp_syn_held",         NOTE,    "SYN on a tuple still held: passed, state kept, the peer's answer decides") \
	X(TCP_RESYNC,           "tcp_resync",           NOTE,    "SYN/ACK with a new ISN answering a SYN: entry re-initialised from it") \
	X(TCP_RST_GRACE,        "tcp_rst_grace",        NOTE,    "in-window segment moments after an RST: passed, the entry is kept") \
	X(TCP_REVIVED,          "tcp_revived",          NOTE,    "both sides went on after an RST: the connection is revived") \
	X(TCP_PAWS_IGNORED,     "tcp_paws_ignored",     NOTE,    "data or ACK failing PAWS: passed, moves nothing (the receiver drops it)") \
	/* offload: connections whose data segments the kernel passes */ \
	X(TCP_OFFLOAD_RESYNC,   "tcp_offload_resync",   NOTE,    "FIN or RST of an offloaded connection, checked without full knowledge") \
	X(TCP_OFFLOAD_KERNEL_INVALID, "tcp_offload_kernel_invalid", INVALID, "data of an offloaded connection that the kernel refused") \
	/* policy and resources */ \
	X(TABLE_FULL,           "table_full",           POLICY,  "connection table full and nothing could be evicted") \
	X(RATE_LIMITED,         "rate_limited",         POLICY,  "rule rate limit exceeded") \
	X(CONN_LIMITED,         "conn_limited",         POLICY,  "rule per-source connection limit exceeded") \
	X(DEFAULT_POLICY,       "default_policy",       POLICY,  "no rule matched: default policy applied") \
	X(REJECT_SUPPRESSED,    "reject_suppressed",    POLICY,  "reject of a segment of an unknown connection made a silent drop") \
	X(AUDIT_OVERFLOW,       "audit_overflow",       POLICY,  "strict_audit: the audit log could not take the record") \
	X(INTERNAL_ERROR,       "internal_error",       POLICY,  "the daemon could not process the packet")

enum ctg_reason {
#define CTG_REASON_ENUM(sym, name, cls, desc) CTG_R_##sym,
	CTG_REASONS(CTG_REASON_ENUM)
#undef CTG_REASON_ENUM
	CTG_R_COUNT
};

const char *ctg_reason_name(enum ctg_reason r);
const char *ctg_reason_desc(enum ctg_reason r);
enum ctg_reason_class ctg_reason_class(enum ctg_reason r);
/* Returns 0 and sets *out, or -1 when the name is unknown. */
int ctg_reason_parse(const char *name, enum ctg_reason *out);

#endif
