/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packet decoder: IPv4/IPv6 with extension headers, TCP, UDP, ICMP, ICMPv6.
 *
 * Pure functions over a caller-owned byte buffer. Every read is bounds
 * checked, nothing is allocated, and every malformed input yields a reason
 * code (see reason.h) rather than a crash.
 *
 * The buffer may hold less than the whole packet: NFQUEUE copies only the
 * first copy_range bytes. Lengths that matter for tracking (payload length,
 * sequence space) come from the IP header, checked against wire_len, the
 * length of the packet as it was on the wire. Checksums can be verified only
 * when the whole packet is present (ctg_packet.complete).
 */
#ifndef CTGUARD_PACKET_H
#define CTGUARD_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/reason.h"

#define CTG_TH_FIN 0x01
#define CTG_TH_SYN 0x02
#define CTG_TH_RST 0x04
#define CTG_TH_PSH 0x08
#define CTG_TH_ACK 0x10
#define CTG_TH_URG 0x20
#define CTG_TH_ECE 0x40
#define CTG_TH_CWR 0x80

#define CTG_TCP_MAX_WSCALE 14
#define CTG_MAX_SACK_BLOCKS 4
/* Longest IPv6 extension header chain we walk before calling it an attack. */
#define CTG_IPV6_MAX_EXT 8

/* An address of either family; IPv4 lives in the first 4 bytes, rest zero. */
struct ctg_addr {
	union {
		uint8_t b[16];
		uint32_t w[4];
	};
};

/*
 * The flow a packet belongs to, as seen in this packet's direction.
 * For ICMP queries the ports are (id, 0); for other protocols both are 0.
 */
struct ctg_tuple {
	struct ctg_addr src;
	struct ctg_addr dst;
	uint16_t sport;
	uint16_t dport;
	uint8_t family;         /* 4 or 6 */
	uint8_t proto;          /* IPPROTO_* */
};

/* Anomalies that do not make the packet invalid on their own. */
#define CTG_PA_IP_PADDED        0x0001  /* wire length > IP total length */
#define CTG_PA_IP_OPTIONS       0x0002
#define CTG_PA_WSCALE_CLAMPED   0x0004
#define CTG_PA_TCP_OPT_DUP      0x0008  /* an option appeared twice */
#define CTG_PA_RESERVED_BITS    0x0010  /* TCP reserved bits set */
#define CTG_PA_ACK_WITHOUT_FLAG 0x0020  /* ack field non-zero, ACK clear */
#define CTG_PA_URG_WITHOUT_FLAG 0x0040
#define CTG_PA_IPV6_ROUTING     0x0080  /* routing header present */

struct ctg_tcp_opts {
	uint16_t mss;
	uint8_t wscale;         /* clamped to CTG_TCP_MAX_WSCALE */
	uint8_t wscale_raw;
	uint8_t sack_count;
	uint8_t tfo_cookie_len;
	bool has_mss;
	bool has_wscale;
	bool sack_permitted;
	bool has_timestamp;
	bool has_tfo;
	bool has_md5;           /* TCP-MD5 signature option (RFC 2385, kind 19) */
	uint32_t tsval;
	uint32_t tsecr;
	uint32_t sack_left[CTG_MAX_SACK_BLOCKS];
	uint32_t sack_right[CTG_MAX_SACK_BLOCKS];
};

struct ctg_tcp {
	uint32_t seq;
	uint32_t ack;
	uint16_t window;        /* raw, unscaled */
	uint16_t urg_ptr;
	uint8_t flags;          /* CTG_TH_* */
	uint8_t doff;           /* header length in bytes */
	struct ctg_tcp_opts opt;
};

struct ctg_icmp {
	uint8_t type;
	uint8_t code;
	bool is_error;          /* unreachable, too big, time exceeded, param problem */
	bool is_query;          /* echo request or reply */
	bool is_reply;          /* echo reply */
	uint16_t echo_id;
	uint16_t echo_seq;
	/*
	 * For errors: the quoted packet's flow as it travelled (from its
	 * sender to its destination), and for TCP its sequence number.
	 * For quoted ICMP queries, sport holds the echo id as for queries.
	 */
	struct ctg_tuple inner;
	uint32_t inner_tcp_seq;
	bool inner_has_seq;
};

struct ctg_packet {
	struct ctg_tuple tuple;
	uint32_t wire_len;      /* bytes on the wire from the IP header on */
	uint32_t ip_len;        /* IP total length (v6: 40 + payload length) */
	uint16_t l3_hdr_len;    /* IP header incl. v6 extension headers */
	uint16_t l4_offset;     /* offset of the transport header in the buffer */
	uint32_t l4_len;        /* transport header + payload, from ip_len */
	uint32_t payload_len;   /* transport payload bytes, from ip_len */
	uint8_t ttl;            /* TTL or hop limit */
	uint8_t dscp;
	uint8_t ecn;
	bool fragment;          /* part of a fragmented datagram */
	bool first_fragment;    /* offset 0 with more fragments following */
	uint16_t frag_offset;   /* in bytes */
	uint32_t frag_id;
	bool complete;          /* the whole IP packet is in the buffer */
	uint16_t anomalies;     /* CTG_PA_* */
	union {
		struct ctg_tcp tcp;
		struct ctg_icmp icmp;
		struct {
			uint16_t length;
		} udp;
	};
};

/*
 * Decode an IP packet (v4 or v6, by its version nibble) from buf.
 *   caplen:   bytes present in buf
 *   wire_len: the packet's full length (>= caplen); pass caplen if unknown
 * Fills *p and returns CTG_R_NONE, or a decode reason. On error *p holds
 * whatever was decoded before the fault (at least family and proto when
 * the IP header itself was readable).
 */
enum ctg_reason ctg_decode_ip(struct ctg_packet *p, const uint8_t *buf,
    size_t caplen, size_t wire_len);

/*
 * Verify the checksums of a decoded packet: IPv4 header always, then
 * TCP/UDP/ICMP/ICMPv6 when the packet is complete. A packet that is not
 * complete passes the transport check (it cannot be verified).
 * UDP over IPv4 with checksum 0 passes (RFC 768).
 */
enum ctg_reason ctg_verify_checksums(const struct ctg_packet *p,
    const uint8_t *buf);

/* Internet checksum helpers, exported for the tests and for reject replies. */
uint32_t ctg_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t ctg_csum_fold(uint32_t sum);

/* Text helpers; buf must hold at least 46 bytes (INET6_ADDRSTRLEN). */
const char *ctg_addr_str(const struct ctg_addr *a, uint8_t family,
    char *buf, size_t len);
/* Flags as "SA", "FPA", "R" ... into buf of at least 9 bytes. */
const char *ctg_tcp_flags_str(uint8_t flags, char *buf, size_t len);

#endif
