/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packet decoder and Internet checksums (contract in ctguard/packet.h).
 *
 * Two lengths bound every read: cap, the bytes we may touch (the captured
 * bytes, never more than the IP packet itself, so link padding is never
 * parsed as protocol data), and the IP length, which says what the packet
 * claims to carry.  A header that lies inside the IP length but past cap
 * is "truncated"; a header that lies past the IP length is malformed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ctguard/bytes.h"
#include "ctguard/packet.h"

#define PROTO_HOPOPTS   0
#define PROTO_ICMP      1
#define PROTO_TCP       6
#define PROTO_UDP       17
#define PROTO_ROUTING   43
#define PROTO_FRAGMENT  44
#define PROTO_ESP       50
#define PROTO_AH        51
#define PROTO_ICMPV6    58
#define PROTO_NONE      59
#define PROTO_DSTOPTS   60

#define TCPOPT_EOL      0
#define TCPOPT_NOP      1
#define TCPOPT_MSS      2
#define TCPOPT_WSCALE   3
#define TCPOPT_SACKOK   4
#define TCPOPT_SACK     5
#define TCPOPT_TS       8
#define TCPOPT_MD5      19
#define TCPOPT_TFO      34

/* Bits of the per-segment "seen" mask used to spot duplicate options. */
#define SEEN_MSS        0x01
#define SEEN_WSCALE     0x02
#define SEEN_SACKOK     0x04
#define SEEN_SACK       0x08
#define SEEN_TS         0x10
#define SEEN_TFO        0x20

/*
 * Result of walking an IPv6 extension header chain.  The walk stops at
 * the first header that is not an extension header, at ESP (opaque), or
 * at a non-first fragment header (what follows is fragment data).
 */
struct v6_chain {
	uint8_t nh;             /* upper-layer protocol */
	uint32_t end;           /* offset just past the chain */
	uint32_t frag_end;      /* offset just past the fragment header */
	uint32_t frag_id;
	uint16_t frag_offset;   /* bytes */
	bool frag;
	bool frag_more;
	bool routing;
};

static enum ctg_reason
v6_walk(const uint8_t *buf, size_t cap, struct v6_chain *c)
{
	uint32_t off = 40, len;
	unsigned int n = 0;
	uint8_t nh = buf[6];

	memset(c, 0, sizeof(*c));
	for (;;) {
		if (nh != PROTO_HOPOPTS && nh != PROTO_ROUTING &&
		    nh != PROTO_FRAGMENT && nh != PROTO_DSTOPTS &&
		    nh != PROTO_AH)
			break;
		if (n == CTG_IPV6_MAX_EXT)
			return CTG_R_IPV6_EXT_TOO_MANY;
		/* RFC 8200 4.3: hop-by-hop only right after the header. */
		if (nh == PROTO_HOPOPTS && n != 0)
			return CTG_R_IPV6_EXT_BAD;
		if (off + 8 > cap)
			return CTG_R_IPV6_EXT_TRUNCATED;
		if (nh == PROTO_FRAGMENT)
			len = 8;
		else if (nh == PROTO_AH)
			len = ((uint32_t)buf[off + 1] + 2) * 4;
		else
			len = ((uint32_t)buf[off + 1] + 1) * 8;
		/* RFC 4302 2.2: over IPv6 AH must be a multiple of 8 bytes. */
		if (nh == PROTO_AH && len % 8 != 0)
			return CTG_R_IPV6_EXT_BAD;
		if (off + len > cap)
			return CTG_R_IPV6_EXT_TRUNCATED;
		if (nh == PROTO_ROUTING)
			c->routing = true;
		if (nh == PROTO_FRAGMENT) {
			uint16_t f = ctg_get16(buf + off + 2);

			if (c->frag)
				return CTG_R_IPV6_EXT_BAD;
			c->frag = true;
			c->frag_offset = f & 0xfff8;
			c->frag_more = f & 1;
			c->frag_id = ctg_get32(buf + off + 4);
			c->frag_end = off + 8;
			if (c->frag_offset != 0) {
				c->nh = buf[off];
				c->end = off + 8;
				return CTG_R_NONE;
			}
		}
		nh = buf[off];
		off += len;
		n++;
	}
	c->nh = nh;
	c->end = off;
	return CTG_R_NONE;
}

static bool
icmp_is_error(uint8_t family, uint8_t type)
{
	if (family == 4)
		return type == 3 || type == 4 || type == 5 || type == 11 ||
		    type == 12;
	return type >= 1 && type <= 4;
}

/* Queries carry an identifier that pairs a request with its reply. */
static bool
icmp_is_query(uint8_t family, uint8_t type, bool *reply)
{
	if (family == 4) {
		switch (type) {
		case 8: case 13: case 15: case 17:
			*reply = false;
			return true;
		case 0: case 14: case 16: case 18:
			*reply = true;
			return true;
		}
		return false;
	}
	if (type == 128 || type == 129) {
		*reply = type == 129;
		return true;
	}
	return false;
}

/*
 * The packet quoted in an ICMP error: its IP header and the first 8 bytes
 * of its transport header, which is all RFC 792 promises.  Its IP length
 * may exceed the quote; that is how errors look, not a fault.
 */
static enum ctg_reason
decode_inner(struct ctg_icmp *ic, uint8_t family, const uint8_t *q,
    size_t qlen)
{
	struct ctg_tuple *t = &ic->inner;
	size_t hl;
	uint8_t proto;

	if (qlen < 1)
		return CTG_R_ICMP_INNER_TRUNCATED;
	if (q[0] >> 4 != family)
		return CTG_R_ICMP_INNER_BAD;
	t->family = family;
	if (family == 4) {
		if (qlen < 20)
			return CTG_R_ICMP_INNER_TRUNCATED;
		hl = (size_t)(q[0] & 0x0f) * 4;
		if (hl < 20 || ctg_get16(q + 2) < hl)
			return CTG_R_ICMP_INNER_BAD;
		proto = q[9];
		memcpy(t->src.b, q + 12, 4);
		memcpy(t->dst.b, q + 16, 4);
		t->proto = proto;
		if ((ctg_get16(q + 6) & 0x1fff) != 0)
			return CTG_R_ICMP_INNER_BAD;
	} else {
		struct v6_chain c;
		enum ctg_reason r;

		if (qlen < 40)
			return CTG_R_ICMP_INNER_TRUNCATED;
		memcpy(t->src.b, q + 8, 16);
		memcpy(t->dst.b, q + 24, 16);
		r = v6_walk(q, qlen, &c);
		if (r == CTG_R_IPV6_EXT_TRUNCATED)
			return CTG_R_ICMP_INNER_TRUNCATED;
		if (r != CTG_R_NONE)
			return CTG_R_ICMP_INNER_BAD;
		t->proto = proto = c.nh;
		if (c.frag && c.frag_offset != 0)
			return CTG_R_ICMP_INNER_BAD;
		hl = c.end;
		if (proto == PROTO_NONE)
			return CTG_R_NONE;
	}
	if (qlen < hl + 8)
		return CTG_R_ICMP_INNER_TRUNCATED;
	q += hl;
	switch (proto) {
	case PROTO_TCP:
		ic->inner_tcp_seq = ctg_get32(q + 4);
		ic->inner_has_seq = true;
		/* FALLTHROUGH */
	case PROTO_UDP:
		t->sport = ctg_get16(q);
		t->dport = ctg_get16(q + 2);
		break;
	case PROTO_ICMP:
	case PROTO_ICMPV6: {
		bool reply;

		if ((proto == PROTO_ICMP) == (family == 4) &&
		    icmp_is_query(family, q[0], &reply))
			t->sport = ctg_get16(q + 4);
		break;
	}
	}
	return CTG_R_NONE;
}

static enum ctg_reason
decode_icmp(struct ctg_packet *p, const uint8_t *l4, size_t avail)
{
	struct ctg_icmp *ic = &p->icmp;
	uint8_t fam = p->tuple.family;

	if (p->l4_len < 8 || avail < 8)
		return CTG_R_ICMP_TRUNCATED;
	ic->type = l4[0];
	ic->code = l4[1];
	p->payload_len = p->l4_len - 8;
	if (icmp_is_query(fam, ic->type, &ic->is_reply)) {
		ic->is_query = true;
		ic->echo_id = ctg_get16(l4 + 4);
		ic->echo_seq = ctg_get16(l4 + 6);
		/* (id, 0) both ways: a reply needs only swapped addresses. */
		p->tuple.sport = ic->echo_id;
		p->tuple.dport = 0;
		return CTG_R_NONE;
	}
	if (icmp_is_error(fam, ic->type)) {
		ic->is_error = true;
		return decode_inner(ic, fam, l4 + 8, avail - 8);
	}
	return CTG_R_NONE;
}

static enum ctg_reason
decode_udp(struct ctg_packet *p, const uint8_t *l4, size_t avail)
{
	if (p->l4_len < 8 || avail < 8)
		return CTG_R_UDP_TRUNCATED;
	p->tuple.sport = ctg_get16(l4);
	p->tuple.dport = ctg_get16(l4 + 2);
	p->udp.length = ctg_get16(l4 + 4);
	p->payload_len = p->l4_len - 8;
	/* A first fragment carries only part of the datagram it announces. */
	if (p->fragment) {
		if (p->udp.length < p->l4_len)
			return CTG_R_UDP_BAD_LENGTH;
	} else if (p->udp.length != p->l4_len)
		return CTG_R_UDP_BAD_LENGTH;
	return CTG_R_NONE;
}

static enum ctg_reason
decode_tcp_opts(struct ctg_packet *p, const uint8_t *o, size_t len)
{
	struct ctg_tcp_opts *opt = &p->tcp.opt;
	unsigned int seen = 0, bit;
	size_t i = 0, olen;

	while (i < len) {
		uint8_t kind = o[i];

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		/* A zero or one length would loop forever or read past. */
		if (i + 1 >= len)
			return CTG_R_TCP_BAD_OPTION;
		olen = o[i + 1];
		if (olen < 2 || i + olen > len)
			return CTG_R_TCP_BAD_OPTION;
		bit = 0;
		switch (kind) {
		case TCPOPT_MSS:
			if (olen != 4)
				return CTG_R_TCP_BAD_OPTION;
			opt->mss = ctg_get16(o + i + 2);
			opt->has_mss = true;
			bit = SEEN_MSS;
			break;
		case TCPOPT_WSCALE:
			if (olen != 3)
				return CTG_R_TCP_BAD_OPTION;
			opt->wscale_raw = o[i + 2];
			opt->wscale = opt->wscale_raw;
			/* RFC 7323 2.3: larger shifts are treated as 14. */
			if (opt->wscale > CTG_TCP_MAX_WSCALE) {
				opt->wscale = CTG_TCP_MAX_WSCALE;
				p->anomalies |= CTG_PA_WSCALE_CLAMPED;
			}
			opt->has_wscale = true;
			bit = SEEN_WSCALE;
			break;
		case TCPOPT_SACKOK:
			if (olen != 2)
				return CTG_R_TCP_BAD_OPTION;
			opt->sack_permitted = true;
			bit = SEEN_SACKOK;
			break;
		case TCPOPT_SACK:
			if (olen < 10 || (olen - 2) % 8 != 0 ||
			    (olen - 2) / 8 > CTG_MAX_SACK_BLOCKS)
				return CTG_R_TCP_BAD_OPTION;
			opt->sack_count = (uint8_t)((olen - 2) / 8);
			for (unsigned int b = 0; b < opt->sack_count; b++) {
				opt->sack_left[b] = ctg_get32(o + i + 2 + b * 8);
				opt->sack_right[b] = ctg_get32(o + i + 6 + b * 8);
			}
			bit = SEEN_SACK;
			break;
		case TCPOPT_TS:
			if (olen != 10)
				return CTG_R_TCP_BAD_OPTION;
			opt->tsval = ctg_get32(o + i + 2);
			opt->tsecr = ctg_get32(o + i + 6);
			opt->has_timestamp = true;
			bit = SEEN_TS;
			break;
		case TCPOPT_MD5:
			if (olen != 18)
				return CTG_R_TCP_BAD_OPTION;
			opt->has_md5 = true;
			break;
		case TCPOPT_TFO:
			if (olen > 18)
				return CTG_R_TCP_BAD_OPTION;
			opt->tfo_cookie_len = (uint8_t)(olen - 2);
			opt->has_tfo = true;
			bit = SEEN_TFO;
			break;
		}
		if (seen & bit)
			p->anomalies |= CTG_PA_TCP_OPT_DUP;
		seen |= bit;
		i += olen;
	}
	return CTG_R_NONE;
}

static enum ctg_reason
decode_tcp(struct ctg_packet *p, const uint8_t *l4, size_t avail)
{
	struct ctg_tcp *th = &p->tcp;
	size_t doff;

	if (p->l4_len < 20 || avail < 20)
		return CTG_R_TCP_TRUNCATED;
	p->tuple.sport = ctg_get16(l4);
	p->tuple.dport = ctg_get16(l4 + 2);
	th->seq = ctg_get32(l4 + 4);
	th->ack = ctg_get32(l4 + 8);
	doff = (size_t)(l4[12] >> 4) * 4;
	th->doff = (uint8_t)doff;
	th->flags = l4[13];
	th->window = ctg_get16(l4 + 14);
	th->urg_ptr = ctg_get16(l4 + 18);
	if (l4[12] & 0x0f)
		p->anomalies |= CTG_PA_RESERVED_BITS;
	if (th->ack != 0 && !(th->flags & CTG_TH_ACK))
		p->anomalies |= CTG_PA_ACK_WITHOUT_FLAG;
	if (th->urg_ptr != 0 && !(th->flags & CTG_TH_URG))
		p->anomalies |= CTG_PA_URG_WITHOUT_FLAG;
	if (doff < 20 || doff > p->l4_len)
		return CTG_R_TCP_BAD_DOFF;
	if (avail < doff)
		return CTG_R_TCP_TRUNCATED;
	p->payload_len = p->l4_len - (uint32_t)doff;
	return decode_tcp_opts(p, l4 + 20, doff - 20);
}

static enum ctg_reason
decode_l4(struct ctg_packet *p, const uint8_t *buf, size_t cap)
{
	size_t avail = cap > p->l4_offset ? cap - p->l4_offset : 0;
	const uint8_t *l4 = buf + p->l4_offset;

	p->payload_len = p->l4_len;
	switch (p->tuple.proto) {
	case PROTO_TCP:
		return decode_tcp(p, l4, avail);
	case PROTO_UDP:
		return decode_udp(p, l4, avail);
	case PROTO_ICMP:
		if (p->tuple.family == 4)
			return decode_icmp(p, l4, avail);
		break;
	case PROTO_ICMPV6:
		if (p->tuple.family == 6)
			return decode_icmp(p, l4, avail);
		break;
	}
	return CTG_R_NONE;
}

static void
set_lengths(struct ctg_packet *p, size_t caplen, uint32_t hdr)
{
	p->l3_hdr_len = (uint16_t)hdr;
	p->l4_offset = (uint16_t)hdr;
	p->l4_len = p->ip_len - hdr;
	p->complete = caplen >= p->ip_len;
}

static enum ctg_reason
decode_ipv4(struct ctg_packet *p, const uint8_t *buf, size_t caplen)
{
	size_t ihl, cap;
	uint16_t totlen, frag;

	if (caplen < 20)
		return CTG_R_IP_TRUNCATED;
	p->tuple.proto = buf[9];
	memcpy(p->tuple.src.b, buf + 12, 4);
	memcpy(p->tuple.dst.b, buf + 16, 4);
	p->dscp = buf[1] >> 2;
	p->ecn = buf[1] & 3;
	p->ttl = buf[8];
	ihl = (size_t)(buf[0] & 0x0f) * 4;
	if (ihl < 20)
		return CTG_R_IP_BAD_IHL;
	totlen = ctg_get16(buf + 2);
	if (totlen < ihl)
		return CTG_R_IP_BAD_TOTLEN;
	if (caplen < ihl)
		return CTG_R_IP_TRUNCATED;
	if (totlen > p->wire_len)
		return CTG_R_IP_TOTLEN_EXCEEDS;
	if (totlen < p->wire_len)
		p->anomalies |= CTG_PA_IP_PADDED;
	if (ihl > 20)
		p->anomalies |= CTG_PA_IP_OPTIONS;
	p->ip_len = totlen;
	set_lengths(p, caplen, (uint32_t)ihl);

	frag = ctg_get16(buf + 6);
	p->frag_id = ctg_get16(buf + 4);
	p->frag_offset = (uint16_t)((frag & 0x1fff) * 8);
	p->fragment = (frag & 0x2000) || p->frag_offset != 0;
	p->first_fragment = p->fragment && p->frag_offset == 0;
	if ((uint32_t)p->frag_offset + p->l4_len > 65535)
		return CTG_R_IP_BAD_FRAGMENT;
	if (p->frag_offset != 0)
		return CTG_R_IP_FRAGMENT;

	cap = caplen < totlen ? caplen : totlen;
	return decode_l4(p, buf, cap);
}

static enum ctg_reason
decode_ipv6(struct ctg_packet *p, const uint8_t *buf, size_t caplen)
{
	struct v6_chain c;
	enum ctg_reason r;
	size_t cap;
	uint16_t plen;

	if (caplen < 40)
		return CTG_R_IP_TRUNCATED;
	p->tuple.proto = buf[6];
	memcpy(p->tuple.src.b, buf + 8, 16);
	memcpy(p->tuple.dst.b, buf + 24, 16);
	p->dscp = (uint8_t)(((buf[0] & 0x0f) << 2) | (buf[1] >> 6));
	p->ecn = (buf[1] >> 4) & 3;
	p->ttl = buf[7];
	plen = ctg_get16(buf + 4);
	/* Jumbograms (RFC 2675) never cross a gateway we guard. */
	if (plen == 0 && buf[6] == PROTO_HOPOPTS)
		return CTG_R_IP_BAD_TOTLEN;
	p->ip_len = 40 + (uint32_t)plen;
	if (p->ip_len > p->wire_len)
		return CTG_R_IP_TOTLEN_EXCEEDS;
	if (p->ip_len < p->wire_len)
		p->anomalies |= CTG_PA_IP_PADDED;
	p->complete = caplen >= p->ip_len;
	cap = caplen < p->ip_len ? caplen : p->ip_len;

	r = v6_walk(buf, cap, &c);
	if (c.routing)
		p->anomalies |= CTG_PA_IPV6_ROUTING;
	if (r != CTG_R_NONE)
		return r;
	p->tuple.proto = c.nh;
	set_lengths(p, caplen, c.end);
	if (c.frag) {
		p->fragment = c.frag_offset != 0 || c.frag_more;
		p->first_fragment = c.frag_offset == 0 && c.frag_more;
		p->frag_offset = c.frag_offset;
		p->frag_id = c.frag_id;
		if ((uint32_t)c.frag_offset + (p->ip_len - c.frag_end) > 65535)
			return CTG_R_IP_BAD_FRAGMENT;
		if (c.frag_offset != 0)
			return CTG_R_IP_FRAGMENT;
	}
	if (c.nh == PROTO_NONE || c.nh == PROTO_ESP) {
		p->payload_len = p->l4_len;
		return CTG_R_NONE;
	}
	return decode_l4(p, buf, cap);
}

enum ctg_reason
ctg_decode_ip(struct ctg_packet *p, const uint8_t *buf, size_t caplen,
    size_t wire_len)
{
	memset(p, 0, sizeof(*p));
	/* Bytes past the wire length are not the packet's. */
	if (caplen > wire_len)
		caplen = wire_len;
	p->wire_len = wire_len > UINT32_MAX ? UINT32_MAX : (uint32_t)wire_len;
	if (caplen < 1)
		return CTG_R_IP_TRUNCATED;
	switch (buf[0] >> 4) {
	case 4:
		p->tuple.family = 4;
		return decode_ipv4(p, buf, caplen);
	case 6:
		p->tuple.family = 6;
		return decode_ipv6(p, buf, caplen);
	}
	return CTG_R_IP_BAD_VERSION;
}

/*
 * Checksums.  Words are summed in host order, 32 bits at a time into a
 * 64-bit accumulator; the folded one's complement sum is then swapped to
 * network order, which RFC 1071 shows gives the same result as summing
 * big-endian 16-bit words one by one.
 */
static uint16_t
sum_host(const uint8_t *d, size_t len)
{
	uint64_t s = 0;
	uint32_t w32, w32b;
	uint16_t w16;

	while (len >= 8) {
		memcpy(&w32, d, 4);
		memcpy(&w32b, d + 4, 4);
		s += w32;
		s += w32b;
		d += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&w32, d, 4);
		s += w32;
		d += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w16, d, 2);
		s += w16;
		d += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { d[0], 0 };

		memcpy(&w16, last, 2);
		s += w16;
	}
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/*
 * Add len bytes to a running sum of big-endian 16-bit words.  Only the
 * last chunk of a sum may have an odd length.
 */
uint32_t
ctg_csum_add(uint32_t sum, const void *data, size_t len)
{
	sum = (sum & 0xffff) + (sum >> 16);
	return sum + ntohs(sum_host(data, len));
}

/* Fold and complement: the value to store, or 0 when verifying a match. */
uint16_t
ctg_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t
pseudo_sum(const struct ctg_packet *p, uint8_t proto, uint32_t len)
{
	uint32_t sum;

	if (p->tuple.family == 4) {
		sum = ctg_csum_add(0, p->tuple.src.b, 4);
		sum = ctg_csum_add(sum, p->tuple.dst.b, 4);
	} else {
		sum = ctg_csum_add(0, p->tuple.src.b, 16);
		sum = ctg_csum_add(sum, p->tuple.dst.b, 16);
	}
	return sum + proto + (len >> 16) + (len & 0xffff);
}

/*
 * Valid for packets that decoded clean and for non-first fragments
 * (CTG_R_IP_FRAGMENT): both have a whole IP header in buf.
 */
enum ctg_reason
ctg_verify_checksums(const struct ctg_packet *p, const uint8_t *buf)
{
	const uint8_t *l4 = buf + p->l4_offset;
	uint32_t sum;
	uint8_t proto = p->tuple.proto;

	if (p->tuple.family == 4 && p->l3_hdr_len >= 20 &&
	    ctg_csum_fold(ctg_csum_add(0, buf, p->l3_hdr_len)) != 0)
		return CTG_R_IP_BAD_CHECKSUM;
	/*
	 * A fragment's checksum covers the reassembled datagram; behind a
	 * routing header the pseudo-header names the final destination,
	 * which this decoder does not dig out.  Neither can be checked.
	 */
	if (!p->complete || p->fragment || (p->anomalies & CTG_PA_IPV6_ROUTING))
		return CTG_R_NONE;
	switch (proto) {
	case PROTO_TCP:
		if (p->l4_len < 20)
			return CTG_R_NONE;
		sum = pseudo_sum(p, proto, p->l4_len);
		if (ctg_csum_fold(ctg_csum_add(sum, l4, p->l4_len)) != 0)
			return CTG_R_TCP_BAD_CHECKSUM;
		break;
	case PROTO_UDP:
		if (p->l4_len < 8)
			return CTG_R_NONE;
		if (ctg_get16(l4 + 6) == 0)
			return p->tuple.family == 4 ? CTG_R_NONE :
			    CTG_R_UDP_BAD_CHECKSUM;
		sum = pseudo_sum(p, proto, p->l4_len);
		if (ctg_csum_fold(ctg_csum_add(sum, l4, p->l4_len)) != 0)
			return CTG_R_UDP_BAD_CHECKSUM;
		break;
	case PROTO_ICMP:
		if (p->tuple.family != 4 || p->l4_len < 8)
			return CTG_R_NONE;
		if (ctg_csum_fold(ctg_csum_add(0, l4, p->l4_len)) != 0)
			return CTG_R_ICMP_BAD_CHECKSUM;
		break;
	case PROTO_ICMPV6:
		if (p->tuple.family != 6 || p->l4_len < 8)
			return CTG_R_NONE;
		sum = pseudo_sum(p, proto, p->l4_len);
		if (ctg_csum_fold(ctg_csum_add(sum, l4, p->l4_len)) != 0)
			return CTG_R_ICMP_BAD_CHECKSUM;
		break;
	}
	return CTG_R_NONE;
}

const char *
ctg_addr_str(const struct ctg_addr *a, uint8_t family, char *buf, size_t len)
{
	int af = family == 4 ? AF_INET : AF_INET6;

	if (len == 0)
		return buf;
	if (family == 4 && len >= INET_ADDRSTRLEN) {
		/* glibc formats IPv4 through sprintf; the audit writer does this
		 * twice per row */
		char *p = buf;

		for (int i = 0; i < 4; i++) {
			unsigned v = a->b[i];

			if (i)
				*p++ = '.';
			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
		}
		*p = '\0';
		return buf;
	}
	if ((family != 4 && family != 6) ||
	    inet_ntop(af, a->b, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *
ctg_tcp_flags_str(uint8_t flags, char *buf, size_t len)
{
	static const char letters[] = "FSRPAUEC";
	size_t n = 0;

	if (len == 0)
		return buf;
	for (unsigned int i = 0; i < 8 && n + 1 < len; i++)
		if (flags & (1u << i))
			buf[n++] = letters[i];
	buf[n] = '\0';
	return buf;
}
