/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reply packets for the "reject" verdict (contract in ctguard/reject.h).
 *
 * Every field is written explicitly so that no byte of a stale caller
 * buffer can leak into a reply.  p may come from a decode that failed
 * half way: nothing here reads buf past caplen or trusts p beyond it.
 */
#include <string.h>

#include "ctguard/reject.h"

#define PROTO_ICMP      1
#define PROTO_TCP       6
#define PROTO_ICMPV6    58

static inline void
wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void
wr32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/*
 * RFC 1122 3.2.2 and RFC 4443 2.4 (e): no reply to a multicast or
 * broadcast destination or to a source that names no single host.
 * Subnet broadcasts cannot be told from here; the rules must not
 * reject those.
 */
static bool
addr_answerable(const struct ctg_tuple *t)
{
	static const uint8_t zero[16];

	if (t->family == 4) {
		if (t->src.b[0] == 0 || t->src.b[0] >= 224 ||
		    t->dst.b[0] >= 224)
			return false;
		return true;
	}
	if (memcmp(t->src.b, zero, 16) == 0 || t->src.b[0] == 0xff ||
	    t->dst.b[0] == 0xff)
		return false;
	return true;
}

/* IP header of the reply, addresses swapped; returns its length. */
static size_t
put_ip(const struct ctg_tuple *t, uint8_t *out, uint8_t proto,
    size_t l4_len)
{
	if (t->family == 4) {
		out[0] = 0x45;
		out[1] = 0;
		wr16(out + 2, (uint16_t)(20 + l4_len));
		wr16(out + 4, 0);
		/* RFC 6864: an atomic datagram may carry ID 0 with DF. */
		wr16(out + 6, 0x4000);
		out[8] = CTG_REJECT_TTL;
		out[9] = proto;
		wr16(out + 10, 0);
		memcpy(out + 12, t->dst.b, 4);
		memcpy(out + 16, t->src.b, 4);
		wr16(out + 10, ctg_csum_fold(ctg_csum_add(0, out, 20)));
		return 20;
	}
	wr32(out, 0x60000000);
	wr16(out + 4, (uint16_t)l4_len);
	out[6] = proto;
	out[7] = CTG_REJECT_TTL;
	memcpy(out + 8, t->dst.b, 16);
	memcpy(out + 24, t->src.b, 16);
	return 40;
}

/* Transport checksum of a reply built by put_ip (addresses already swapped). */
static uint16_t
l4_csum(const uint8_t *ip, const uint8_t *l4, size_t len, uint8_t proto)
{
	uint32_t sum = 0;

	if (ip[0] >> 4 == 4) {
		if (proto == PROTO_ICMP)
			return ctg_csum_fold(ctg_csum_add(0, l4, len));
		sum = ctg_csum_add(sum, ip + 12, 8);
	} else
		sum = ctg_csum_add(sum, ip + 8, 32);
	sum += proto + (uint32_t)len;
	return ctg_csum_fold(ctg_csum_add(sum, l4, len));
}

static ssize_t
build_rst(const struct ctg_packet *p, uint8_t *out, size_t outlen)
{
	const struct ctg_tcp *th = &p->tcp;
	uint8_t *tcp;
	size_t hl = p->tuple.family == 4 ? 20 : 40;
	uint32_t seq, ack;
	uint8_t flags;

	if (th->flags & CTG_TH_RST)
		return -1;
	if (outlen < hl + 20)
		return -1;
	/* RFC 793 3.4, "Reset Generation". */
	if (th->flags & CTG_TH_ACK) {
		seq = th->ack;
		ack = 0;
		flags = CTG_TH_RST;
	} else {
		seq = 0;
		ack = th->seq + p->payload_len;
		if (th->flags & CTG_TH_SYN)
			ack++;
		if (th->flags & CTG_TH_FIN)
			ack++;
		flags = CTG_TH_RST | CTG_TH_ACK;
	}
	put_ip(&p->tuple, out, PROTO_TCP, 20);
	tcp = out + hl;
	wr16(tcp, p->tuple.dport);
	wr16(tcp + 2, p->tuple.sport);
	wr32(tcp + 4, seq);
	wr32(tcp + 8, ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	wr16(tcp + 14, 0);
	wr16(tcp + 16, 0);
	wr16(tcp + 18, 0);
	wr16(tcp + 16, l4_csum(out, tcp, 20, PROTO_TCP));
	return (ssize_t)(hl + 20);
}

static ssize_t
build_unreach(const struct ctg_packet *p, const uint8_t *buf, size_t caplen,
    uint8_t *out, size_t outlen, bool icmp_admin)
{
	bool v4 = p->tuple.family == 4;
	size_t hl = v4 ? 20 : 40, room, quote;
	uint8_t proto = v4 ? PROTO_ICMP : PROTO_ICMPV6;
	uint8_t *icmp;

	room = v4 ? CTG_REJECT_MAX_V4 : CTG_REJECT_MAX_V6;
	if (outlen < room)
		room = outlen;
	if (room < hl + 8 + p->l3_hdr_len)
		return -1;
	room -= hl + 8;
	/* Quote the IP packet, never the link padding after it. */
	quote = p->ip_len < caplen ? p->ip_len : caplen;
	if (quote > room)
		quote = room;

	put_ip(&p->tuple, out, proto, 8 + quote);
	icmp = out + hl;
	if (v4) {
		icmp[0] = 3;                    /* destination unreachable */
		icmp[1] = icmp_admin ? 13 : 3;  /* admin prohibited : port */
	} else {
		icmp[0] = 1;
		icmp[1] = icmp_admin ? 1 : 4;
	}
	wr16(icmp + 2, 0);
	wr32(icmp + 4, 0);
	memcpy(icmp + 8, buf, quote);
	wr16(icmp + 2, l4_csum(out, icmp, 8 + quote, proto));
	return (ssize_t)(hl + 8 + quote);
}

ssize_t
ctg_build_reject(const struct ctg_packet *p, const uint8_t *buf,
    size_t caplen, uint8_t *out, size_t outlen, bool icmp_admin)
{
	uint8_t proto = p->tuple.proto;
	size_t min_hl;

	if (p->tuple.family != 4 && p->tuple.family != 6)
		return -1;
	min_hl = p->tuple.family == 4 ? 20 : 40;
	/* The decode must have got past the IP header, and buf must hold it. */
	if (p->l3_hdr_len < min_hl || p->l3_hdr_len > caplen ||
	    p->ip_len < p->l3_hdr_len || (buf[0] >> 4) != p->tuple.family)
		return -1;
	if (p->fragment && p->frag_offset != 0)
		return -1;
	if (!addr_answerable(&p->tuple))
		return -1;

	if (proto == PROTO_TCP) {
		/* No decoded TCP header, no sequence number to reset. */
		if (p->tcp.doff < 20 || (size_t)p->l4_offset + 20 > caplen)
			return -1;
		return build_rst(p, out, outlen);
	}
	if ((proto == PROTO_ICMP && p->tuple.family == 4) ||
	    (proto == PROTO_ICMPV6 && p->tuple.family == 6)) {
		uint8_t type;

		/* RFC 1122 3.2.2, RFC 4443 2.4 (e): no error for an error. */
		if (p->l4_offset >= caplen)
			return -1;
		type = buf[p->l4_offset];
		if (p->tuple.family == 4 ? (type == 3 || type == 4 ||
		    type == 5 || type == 11 || type == 12) : type < 128)
			return -1;
	}
	return build_unreach(p, buf, caplen, out, outlen, icmp_admin);
}
