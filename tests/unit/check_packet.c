/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for the packet decoder, the checksum helpers and the reject
 * builder.  Packets come from hex fixtures in tests/unit/fixtures/packets/
 * (made with scapy; each file says what it holds); malformed variants
 * that differ from a fixture by a byte or two are made here.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/packet.h"
#include "ctguard/reject.h"

#define PKT_MAX 2048

struct fx {
	uint8_t b[PKT_MAX];
	size_t len;
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex bytes separated by anything; '#' comments run to the end of the line. */
static void
load(const char *name, struct fx *f)
{
	const char *srcdir = getenv("srcdir");
	char path[1024];
	FILE *fp;
	int c, hi = -1;

	snprintf(path, sizeof(path), "%s/tests/unit/fixtures/packets/%s.hex",
	    srcdir != NULL ? srcdir : ".", name);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open fixture %s", path);
	f->len = 0;
	while ((c = fgetc(fp)) != EOF) {
		int v;

		if (c == '#') {
			while ((c = fgetc(fp)) != EOF && c != '\n')
				;
			continue;
		}
		if ((v = hexval(c)) < 0) {
			ck_assert_msg(hi < 0, "%s: odd hex digit", path);
			continue;
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		ck_assert_msg(f->len < PKT_MAX, "%s: too long", path);
		f->b[f->len++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	fclose(fp);
	ck_assert_msg(hi < 0 && f->len > 0, "%s: bad hex", path);
}

static enum ctg_reason
dec(struct ctg_packet *p, const struct fx *f)
{
	return ctg_decode_ip(p, f->b, f->len, f->len);
}

static void
assert_addr(const struct ctg_addr *a, uint8_t family, const char *want)
{
	char s[64];

	ctg_addr_str(a, family, s, sizeof(s));
	ck_assert_str_eq(s, want);
}

static void
assert_reason(enum ctg_reason got, enum ctg_reason want)
{
	ck_assert_msg(got == want, "reason %s, expected %s",
	    ctg_reason_name(got), ctg_reason_name(want));
}

static bool
tuple_eq(const struct ctg_tuple *a, const struct ctg_tuple *b)
{
	return a->family == b->family && a->proto == b->proto &&
	    a->sport == b->sport && a->dport == b->dport &&
	    memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	    memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

/* The same flow seen from the other side. */
static bool
tuple_reversed(const struct ctg_tuple *a, const struct ctg_tuple *b)
{
	return a->family == b->family && a->proto == b->proto &&
	    a->sport == b->dport && a->dport == b->sport &&
	    memcmp(&a->src, &b->dst, sizeof(a->src)) == 0 &&
	    memcmp(&a->dst, &b->src, sizeof(a->dst)) == 0;
}

/* ---- valid packets ---- */

START_TEST(test_tcp4_syn)
{
	struct fx f;
	struct ctg_packet p;

	load("tcp4_syn", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.family, 4);
	ck_assert_uint_eq(p.tuple.proto, 6);
	assert_addr(&p.tuple.src, 4, "192.0.2.1");
	assert_addr(&p.tuple.dst, 4, "198.51.100.2");
	ck_assert_uint_eq(p.tuple.src.w[1] | p.tuple.src.w[2] |
	    p.tuple.src.w[3], 0);
	ck_assert_uint_eq(p.tuple.sport, 40000);
	ck_assert_uint_eq(p.tuple.dport, 443);
	ck_assert_uint_eq(p.ttl, 64);
	ck_assert_uint_eq(p.dscp, 10);
	ck_assert_uint_eq(p.ecn, 2);
	ck_assert_uint_eq(p.wire_len, 72);
	ck_assert_uint_eq(p.ip_len, 72);
	ck_assert_uint_eq(p.l3_hdr_len, 20);
	ck_assert_uint_eq(p.l4_offset, 20);
	ck_assert_uint_eq(p.l4_len, 52);
	ck_assert_uint_eq(p.payload_len, 0);
	ck_assert(p.complete);
	ck_assert(!p.fragment && !p.first_fragment);
	ck_assert_uint_eq(p.frag_id, 0x1234);
	ck_assert_uint_eq(p.anomalies, 0);
	ck_assert_uint_eq(p.tcp.flags, CTG_TH_SYN);
	ck_assert_uint_eq(p.tcp.seq, 1000);
	ck_assert_uint_eq(p.tcp.ack, 0);
	ck_assert_uint_eq(p.tcp.window, 64240);
	ck_assert_uint_eq(p.tcp.doff, 52);
	ck_assert(p.tcp.opt.has_mss);
	ck_assert_uint_eq(p.tcp.opt.mss, 1460);
	ck_assert(p.tcp.opt.sack_permitted);
	ck_assert(p.tcp.opt.has_timestamp);
	ck_assert_uint_eq(p.tcp.opt.tsval, 12345);
	ck_assert_uint_eq(p.tcp.opt.tsecr, 0);
	ck_assert(p.tcp.opt.has_wscale);
	ck_assert_uint_eq(p.tcp.opt.wscale, 7);
	ck_assert_uint_eq(p.tcp.opt.wscale_raw, 7);
	ck_assert(p.tcp.opt.has_tfo);
	ck_assert_uint_eq(p.tcp.opt.tfo_cookie_len, 8);
	ck_assert_uint_eq(p.tcp.opt.sack_count, 0);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
}
END_TEST

START_TEST(test_tcp4_synack)
{
	struct fx f;
	struct ctg_packet p;

	load("tcp4_synack", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tcp.flags, CTG_TH_SYN | CTG_TH_ACK);
	ck_assert_uint_eq(p.tcp.seq, 5000);
	ck_assert_uint_eq(p.tcp.ack, 1001);
	ck_assert_uint_eq(p.tuple.sport, 443);
	ck_assert_uint_eq(p.tuple.dport, 40000);
	ck_assert_uint_eq(p.ttl, 57);
	ck_assert_uint_eq(p.tcp.opt.mss, 1400);
	ck_assert_uint_eq(p.tcp.opt.wscale, 8);
	ck_assert_uint_eq(p.tcp.opt.tsval, 777);
	ck_assert_uint_eq(p.tcp.opt.tsecr, 12345);
	ck_assert(!p.tcp.opt.has_tfo);
	ck_assert_uint_eq(p.anomalies, 0);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
}
END_TEST

START_TEST(test_tcp4_data)
{
	struct fx f;
	struct ctg_packet p;

	load("tcp4_data", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tcp.flags, CTG_TH_PSH | CTG_TH_ACK);
	ck_assert_uint_eq(p.tcp.doff, 52);
	ck_assert_uint_eq(p.l4_len, 152);
	ck_assert_uint_eq(p.payload_len, 100);
	ck_assert(!p.tcp.opt.has_mss && !p.tcp.opt.has_wscale);
	ck_assert(p.tcp.opt.has_timestamp);
	ck_assert_uint_eq(p.tcp.opt.tsval, 12400);
	ck_assert_uint_eq(p.tcp.opt.sack_count, 2);
	ck_assert_uint_eq(p.tcp.opt.sack_left[0], 5100);
	ck_assert_uint_eq(p.tcp.opt.sack_right[0], 5200);
	ck_assert_uint_eq(p.tcp.opt.sack_left[1], 5300);
	ck_assert_uint_eq(p.tcp.opt.sack_right[1], 5400);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
}
END_TEST

START_TEST(test_tcp6_syn)
{
	struct fx f;
	struct ctg_packet p;

	load("tcp6_syn", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.family, 6);
	ck_assert_uint_eq(p.tuple.proto, 6);
	assert_addr(&p.tuple.src, 6, "2001:db8::1");
	assert_addr(&p.tuple.dst, 6, "2001:db8:1::2");
	ck_assert_uint_eq(p.tuple.sport, 50000);
	ck_assert_uint_eq(p.tuple.dport, 22);
	ck_assert_uint_eq(p.dscp, 46);
	ck_assert_uint_eq(p.ecn, 0);
	ck_assert_uint_eq(p.ttl, 64);
	ck_assert_uint_eq(p.ip_len, 68);
	ck_assert_uint_eq(p.l3_hdr_len, 40);
	ck_assert_uint_eq(p.l4_len, 28);
	ck_assert_uint_eq(p.tcp.seq, 0xfffffff0u);
	ck_assert_uint_eq(p.tcp.opt.mss, 1440);
	ck_assert_uint_eq(p.tcp.opt.wscale, 7);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
}
END_TEST

START_TEST(test_ipv6_ext_chain)
{
	struct fx f;
	struct ctg_packet p;

	load("ipv6_ext_chain", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.proto, 17);
	ck_assert_uint_eq(p.l3_hdr_len, 64);
	ck_assert_uint_eq(p.l4_offset, 64);
	ck_assert_uint_eq(p.l4_len, 208);
	ck_assert(p.fragment);
	ck_assert(p.first_fragment);
	ck_assert_uint_eq(p.frag_offset, 0);
	ck_assert_uint_eq(p.frag_id, 0xabcdef);
	ck_assert_uint_eq(p.tuple.sport, 5353);
	ck_assert_uint_eq(p.tuple.dport, 9999);
	/* The first fragment announces the whole datagram's length. */
	ck_assert_uint_eq(p.udp.length, 1208);
	ck_assert_uint_eq(p.payload_len, 200);
	ck_assert_uint_eq(p.ttl, 63);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
}
END_TEST

START_TEST(test_fragments)
{
	struct fx f;
	struct ctg_packet p;

	load("ipv6_frag2", &f);
	assert_reason(dec(&p, &f), CTG_R_IP_FRAGMENT);
	ck_assert_uint_eq(p.tuple.family, 6);
	ck_assert_uint_eq(p.tuple.proto, 17);
	ck_assert(p.fragment && !p.first_fragment);
	ck_assert_uint_eq(p.frag_offset, 208);
	ck_assert_uint_eq(p.frag_id, 0xabcdef);
	ck_assert_uint_eq(p.tuple.sport, 0);
	ck_assert_uint_eq(p.tuple.dport, 0);
	ck_assert_uint_eq(p.l4_offset, 48);
	assert_addr(&p.tuple.dst, 6, "2001:db8:1::2");

	load("ip4_frag2", &f);
	assert_reason(dec(&p, &f), CTG_R_IP_FRAGMENT);
	ck_assert_uint_eq(p.tuple.proto, 17);
	ck_assert(p.fragment && !p.first_fragment);
	ck_assert_uint_eq(p.frag_offset, 1480);
	ck_assert_uint_eq(p.frag_id, 0x4321);
	ck_assert_uint_eq(p.tuple.sport, 0);
	assert_addr(&p.tuple.src, 4, "192.0.2.1");
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);

	/* Offset 65528 plus 100 bytes runs past the largest datagram. */
	f.b[6] = 0x1f;
	f.b[7] = 0xff;
	assert_reason(dec(&p, &f), CTG_R_IP_BAD_FRAGMENT);

	/* A first fragment: MF set, offset 0; UDP length may exceed it. */
	load("udp4", &f);
	f.b[6] = 0x20;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert(p.fragment && p.first_fragment);
	f.b[25] = 57 + 100;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	f.b[25] = 20;
	assert_reason(dec(&p, &f), CTG_R_UDP_BAD_LENGTH);
}
END_TEST

START_TEST(test_udp)
{
	struct fx f;
	struct ctg_packet p;

	load("udp4", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.proto, 17);
	ck_assert_uint_eq(p.tuple.sport, 33333);
	ck_assert_uint_eq(p.tuple.dport, 53);
	ck_assert_uint_eq(p.udp.length, 37);
	ck_assert_uint_eq(p.l4_len, 37);
	ck_assert_uint_eq(p.payload_len, 29);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);

	load("udp6", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.family, 6);
	ck_assert_uint_eq(p.tuple.sport, 546);
	ck_assert_uint_eq(p.tuple.dport, 547);
	ck_assert_uint_eq(p.udp.length, 45);
	ck_assert_uint_eq(p.payload_len, 37);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
}
END_TEST

START_TEST(test_icmp_echo)
{
	struct fx f;
	struct ctg_packet req, rep;

	load("icmp4_echo_req", &f);
	assert_reason(dec(&req, &f), CTG_R_NONE);
	ck_assert_uint_eq(req.tuple.proto, 1);
	ck_assert_uint_eq(req.icmp.type, 8);
	ck_assert(req.icmp.is_query && !req.icmp.is_reply && !req.icmp.is_error);
	ck_assert_uint_eq(req.icmp.echo_id, 0x4242);
	ck_assert_uint_eq(req.icmp.echo_seq, 7);
	ck_assert_uint_eq(req.tuple.sport, 0x4242);
	ck_assert_uint_eq(req.tuple.dport, 0);
	ck_assert_uint_eq(req.payload_len, 56);
	assert_reason(ctg_verify_checksums(&req, f.b), CTG_R_NONE);

	load("icmp4_echo_reply", &f);
	assert_reason(dec(&rep, &f), CTG_R_NONE);
	ck_assert_uint_eq(rep.icmp.type, 0);
	ck_assert(rep.icmp.is_query && rep.icmp.is_reply);
	ck_assert_uint_eq(rep.tuple.sport, 0x4242);
	ck_assert_uint_eq(rep.tuple.dport, 0);
	assert_reason(ctg_verify_checksums(&rep, f.b), CTG_R_NONE);
	/* Swapping the addresses alone maps the reply onto the request. */
	ck_assert(memcmp(&req.tuple.src, &rep.tuple.dst, sizeof(req.tuple.src)) == 0);
	ck_assert(memcmp(&req.tuple.dst, &rep.tuple.src, sizeof(req.tuple.src)) == 0);
	ck_assert_uint_eq(req.tuple.sport, rep.tuple.sport);
	ck_assert_uint_eq(req.tuple.dport, rep.tuple.dport);

	load("icmp6_echo_req", &f);
	assert_reason(dec(&req, &f), CTG_R_NONE);
	ck_assert_uint_eq(req.tuple.proto, 58);
	ck_assert_uint_eq(req.icmp.type, 128);
	ck_assert(req.icmp.is_query && !req.icmp.is_reply);
	ck_assert_uint_eq(req.tuple.sport, 0x77);
	ck_assert_uint_eq(req.icmp.echo_seq, 3);
	assert_reason(ctg_verify_checksums(&req, f.b), CTG_R_NONE);
	f.b[40] = 129;
	assert_reason(dec(&rep, &f), CTG_R_NONE);
	ck_assert(rep.icmp.is_query && rep.icmp.is_reply);
	ck_assert_uint_eq(rep.tuple.sport, 0x77);
	ck_assert_uint_eq(rep.tuple.dport, 0);
	/* NDP neighbour solicitation: plain, not an error. */
	f.b[40] = 135;
	assert_reason(dec(&rep, &f), CTG_R_NONE);
	ck_assert(!rep.icmp.is_query && !rep.icmp.is_error);

	/* Timestamp request (13): a query with an id too. */
	load("icmp4_echo_req", &f);
	f.b[20] = 13;
	assert_reason(dec(&req, &f), CTG_R_NONE);
	ck_assert(req.icmp.is_query && !req.icmp.is_reply);
	ck_assert_uint_eq(req.tuple.sport, 0x4242);
	/* Router advertisement (9): neither query nor error, not invalid. */
	f.b[20] = 9;
	assert_reason(dec(&req, &f), CTG_R_NONE);
	ck_assert(!req.icmp.is_query && !req.icmp.is_error);
	ck_assert_uint_eq(req.tuple.sport, 0);
}
END_TEST

START_TEST(test_icmp_errors)
{
	struct fx f, orig;
	struct ctg_packet p, o;

	load("udp4", &orig);
	assert_reason(dec(&o, &orig), CTG_R_NONE);
	load("icmp4_unreach_udp", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.icmp.type, 3);
	ck_assert_uint_eq(p.icmp.code, 3);
	ck_assert(p.icmp.is_error && !p.icmp.is_query);
	ck_assert(tuple_eq(&p.icmp.inner, &o.tuple));
	ck_assert(!p.icmp.inner_has_seq);
	ck_assert_uint_eq(p.tuple.sport, 0);
	assert_addr(&p.tuple.src, 4, "203.0.113.9");
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);

	load("tcp4_data", &orig);
	assert_reason(dec(&o, &orig), CTG_R_NONE);
	load("icmp4_unreach_tcp", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.icmp.code, 13);
	ck_assert(tuple_eq(&p.icmp.inner, &o.tuple));
	ck_assert(p.icmp.inner_has_seq);
	ck_assert_uint_eq(p.icmp.inner_tcp_seq, 1001);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);

	load("icmp6_too_big", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.proto, 58);
	ck_assert_uint_eq(p.icmp.type, 2);
	ck_assert(p.icmp.is_error);
	ck_assert_uint_eq(p.icmp.inner.family, 6);
	ck_assert_uint_eq(p.icmp.inner.proto, 6);
	ck_assert_uint_eq(p.icmp.inner.sport, 50000);
	ck_assert_uint_eq(p.icmp.inner.dport, 22);
	assert_addr(&p.icmp.inner.src, 6, "2001:db8::1");
	assert_addr(&p.icmp.inner.dst, 6, "2001:db8:1::2");
	ck_assert_uint_eq(p.icmp.inner_tcp_seq, 100);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);

	load("icmp4_inner_trunc", &f);
	assert_reason(dec(&p, &f), CTG_R_ICMP_INNER_TRUNCATED);

	/* Quoted non-first fragment, quoted bad IHL, quoted wrong family. */
	load("icmp4_unreach_udp", &f);
	f.b[28 + 7] = 0x10;
	assert_reason(dec(&p, &f), CTG_R_ICMP_INNER_BAD);
	load("icmp4_unreach_udp", &f);
	f.b[28] = 0x43;
	assert_reason(dec(&p, &f), CTG_R_ICMP_INNER_BAD);
	f.b[28] = 0x65;
	assert_reason(dec(&p, &f), CTG_R_ICMP_INNER_BAD);
	/* An ICMP header shorter than 8 bytes. */
	load("icmp4_unreach_udp", &f);
	f.b[3] = 24;
	f.len = 24;
	assert_reason(dec(&p, &f), CTG_R_ICMP_TRUNCATED);
	/* Quoted echo request: the id stands in for the source port. */
	load("icmp4_echo_req", &orig);
	load("icmp4_unreach_udp", &f);
	memcpy(f.b + 28, orig.b, 28);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.icmp.inner.proto, 1);
	ck_assert_uint_eq(p.icmp.inner.sport, 0x4242);
	ck_assert_uint_eq(p.icmp.inner.dport, 0);
}
END_TEST

/* ---- malformed packets ---- */

START_TEST(test_ip_malformed)
{
	struct fx f;
	struct ctg_packet p;

	load("ip4_bad_ihl", &f);
	assert_reason(dec(&p, &f), CTG_R_IP_BAD_IHL);
	ck_assert_uint_eq(p.tuple.family, 4);
	ck_assert_uint_eq(p.tuple.proto, 6);
	load("ip4_bad_totlen", &f);
	assert_reason(dec(&p, &f), CTG_R_IP_BAD_TOTLEN);

	load("tcp4_data", &f);
	assert_reason(ctg_decode_ip(&p, f.b, 100, 100), CTG_R_IP_TOTLEN_EXCEEDS);
	assert_reason(ctg_decode_ip(&p, f.b, f.len, f.len - 1),
	    CTG_R_IP_TOTLEN_EXCEEDS);
	assert_reason(ctg_decode_ip(&p, f.b, 0, 0), CTG_R_IP_TRUNCATED);
	f.b[0] = 0x55;
	assert_reason(dec(&p, &f), CTG_R_IP_BAD_VERSION);

	load("ip4_padded", &f);
	ck_assert_uint_eq(f.len, 46);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert(p.anomalies & CTG_PA_IP_PADDED);
	ck_assert_uint_eq(p.ip_len, 40);
	ck_assert_uint_eq(p.wire_len, 46);
	ck_assert_uint_eq(p.l4_len, 20);
	ck_assert_uint_eq(p.payload_len, 0);
	ck_assert(p.complete);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
	/* Padding is not payload: garbage there must not matter. */
	memset(f.b + 40, 0xee, 6);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);

	/* IPv4 options are skipped and noted. */
	{
		struct fx o;
		load("udp4", &f);
		memcpy(o.b, f.b, 20);
		memset(o.b + 20, 1, 4);                 /* four NOP options */
		memcpy(o.b + 24, f.b + 20, f.len - 20);
		o.b[0] = 0x46;
		o.b[3] = (uint8_t)(f.len + 4);
		o.len = f.len + 4;
		assert_reason(dec(&p, &o), CTG_R_NONE);
		ck_assert(p.anomalies & CTG_PA_IP_OPTIONS);
		ck_assert_uint_eq(p.l3_hdr_len, 24);
		ck_assert_uint_eq(p.tuple.dport, 53);
	}
}
END_TEST

START_TEST(test_ipv6_malformed)
{
	struct fx f;
	struct ctg_packet p;

	load("ipv6_ext_9", &f);
	assert_reason(dec(&p, &f), CTG_R_IPV6_EXT_TOO_MANY);
	ck_assert_uint_eq(p.tuple.family, 6);
	load("ipv6_ext_8", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.proto, 17);
	ck_assert_uint_eq(p.l3_hdr_len, 40 + 8 * 8);
	load("ipv6_hbh_not_first", &f);
	assert_reason(dec(&p, &f), CTG_R_IPV6_EXT_BAD);
	load("ipv6_two_frag", &f);
	assert_reason(dec(&p, &f), CTG_R_IPV6_EXT_BAD);

	/* An extension header claiming more than the packet holds. */
	load("ipv6_ext_chain", &f);
	f.b[41] = 200;
	assert_reason(dec(&p, &f), CTG_R_IPV6_EXT_TRUNCATED);
	/* Jumbogram: payload length 0 with hop-by-hop. */
	load("ipv6_ext_chain", &f);
	f.b[4] = f.b[5] = 0;
	assert_reason(dec(&p, &f), CTG_R_IP_BAD_TOTLEN);
	/* AH whose length is not a multiple of 8 bytes. */
	load("ipv6_ext_8", &f);
	f.b[6] = 51;
	f.b[41] = 1;
	assert_reason(dec(&p, &f), CTG_R_IPV6_EXT_BAD);
	/* AH of (2 + 2) * 4 = 16 bytes: two dest-opts' worth. */
	f.b[41] = 2;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.l3_hdr_len, 104);
	/* Routing header noted. */
	f.b[6] = 43;
	f.b[41] = 0;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert(p.anomalies & CTG_PA_IPV6_ROUTING);
	/* Pseudo-header destination unknown: the UDP checksum is not judged. */
	f.b[f.len - 1] ^= 0xff;
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
	/* ESP ends the walk; no next header means nothing follows. */
	load("ipv6_ext_8", &f);
	f.b[40] = 50;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.proto, 50);
	ck_assert_uint_eq(p.l3_hdr_len, 48);
	ck_assert_uint_eq(p.tuple.sport, 0);
	f.b[40] = 59;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tuple.proto, 59);
}
END_TEST

START_TEST(test_tcp_malformed)
{
	struct fx f, syn;
	struct ctg_packet p;

	load("tcp4_opt_zero_len", &f);
	assert_reason(dec(&p, &f), CTG_R_TCP_BAD_OPTION);

	load("tcp4_wscale255", &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tcp.opt.wscale, CTG_TCP_MAX_WSCALE);
	ck_assert_uint_eq(p.tcp.opt.wscale_raw, 255);
	ck_assert(p.anomalies & CTG_PA_WSCALE_CLAMPED);
	ck_assert_uint_eq(p.tcp.opt.mss, 536);

	load("tcp4_syn", &syn);
	f = syn;
	f.b[32] = 0x40 | (f.b[32] & 0x0f);     /* doff 4 words */
	assert_reason(dec(&p, &f), CTG_R_TCP_BAD_DOFF);
	f = syn;
	f.b[32] = 0xf0;                         /* 60 bytes > 52 in the segment */
	assert_reason(dec(&p, &f), CTG_R_TCP_BAD_DOFF);
	/* Options present in the segment but not captured. */
	assert_reason(ctg_decode_ip(&p, syn.b, 50, syn.len), CTG_R_TCP_TRUNCATED);
	/* A segment too short for any TCP header (total length 36). */
	f = syn;
	f.b[3] = 36;
	assert_reason(ctg_decode_ip(&p, f.b, 36, 36), CTG_R_TCP_TRUNCATED);

	f = syn;
	f.b[32] |= 0x01;
	f.b[38] = 0;
	f.b[39] = 1;
	f.b[28] = 1;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert(p.anomalies & CTG_PA_RESERVED_BITS);
	ck_assert(p.anomalies & CTG_PA_ACK_WITHOUT_FLAG);
	ck_assert(p.anomalies & CTG_PA_URG_WITHOUT_FLAG);
	ck_assert_uint_eq(p.tcp.flags, CTG_TH_SYN);
	ck_assert_uint_eq(p.tcp.ack, 0x01000000);
	ck_assert_uint_eq(p.tcp.urg_ptr, 1);
}
END_TEST

/*
 * Option bytes of tcp4_syn: 40 MSS, 44 SACK-permitted, 46 timestamps,
 * 56 NOP, 57 window scale, 60 TFO (10 bytes), 70-71 EOL.
 */
START_TEST(test_tcp_option_lengths)
{
	static const struct {
		size_t off;
		uint8_t val;
		enum ctg_reason want;
	} cases[] = {
		{ 41, 0, CTG_R_TCP_BAD_OPTION },        /* MSS length 0 */
		{ 41, 1, CTG_R_TCP_BAD_OPTION },
		{ 41, 3, CTG_R_TCP_BAD_OPTION },
		{ 41, 5, CTG_R_TCP_BAD_OPTION },
		{ 45, 3, CTG_R_TCP_BAD_OPTION },        /* SACK-permitted */
		{ 47, 9, CTG_R_TCP_BAD_OPTION },        /* timestamps */
		{ 47, 11, CTG_R_TCP_BAD_OPTION },
		{ 58, 2, CTG_R_TCP_BAD_OPTION },        /* window scale */
		{ 58, 4, CTG_R_TCP_BAD_OPTION },
		{ 61, 13, CTG_R_TCP_BAD_OPTION },       /* TFO past the header */
		{ 61, 12, CTG_R_NONE },                 /* TFO to the header's end */
		{ 60, 0xfd, CTG_R_NONE },               /* unknown kind skipped */
		{ 70, 0x1e, CTG_R_TCP_BAD_OPTION },     /* kind in the last byte but one */
		{ 70, 0x01, CTG_R_NONE },               /* NOP, then EOL */
		{ 40, 0x00, CTG_R_NONE },               /* EOL first: rest ignored */
	};
	struct fx syn, f;
	struct ctg_packet p;

	load("tcp4_syn", &syn);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum ctg_reason r;

		f = syn;
		f.b[cases[i].off] = cases[i].val;
		r = dec(&p, &f);
		ck_assert_msg(r == cases[i].want, "case %zu: %s", i,
		    ctg_reason_name(r));
	}
	f = syn;
	f.b[40] = 0;
	dec(&p, &f);
	ck_assert(!p.tcp.opt.has_mss && !p.tcp.opt.has_timestamp);
	f = syn;
	f.b[60] = 0xfd;
	dec(&p, &f);
	ck_assert(!p.tcp.opt.has_tfo && p.tcp.opt.has_wscale);
	/* TFO cookie request (no cookie), NOPs after it. */
	f = syn;
	f.b[61] = 2;
	memset(f.b + 62, 1, 8);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert(p.tcp.opt.has_tfo);
	ck_assert_uint_eq(p.tcp.opt.tfo_cookie_len, 0);

	/* A kind in the last byte has no room for its length. */
	f = syn;
	f.b[70] = 1;
	f.b[71] = 0x1e;
	assert_reason(dec(&p, &f), CTG_R_TCP_BAD_OPTION);

	/*
	 * tcp4_data: 40 NOP NOP, 42 timestamps, 52 NOP NOP, 54 SACK (len
	 * at 55, blocks from 56).  SACK takes 1 to 4 whole 8-byte blocks.
	 */
	load("tcp4_data", &f);
	f.b[55] = 12;
	assert_reason(dec(&p, &f), CTG_R_TCP_BAD_OPTION);
	f.b[55] = 2;
	assert_reason(dec(&p, &f), CTG_R_TCP_BAD_OPTION);
	f.b[55] = 10;
	memset(f.b + 64, 1, 8);                 /* NOPs in place of block 2 */
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert_uint_eq(p.tcp.opt.sack_count, 1);
	ck_assert_uint_eq(p.tcp.opt.sack_right[0], 5200);

	/* Duplicate MSS in place of TFO: noted, the last value wins. */
	f = syn;
	memcpy(f.b + 60, "\x02\x04\x05\xdc\x01\x01\x01\x01\x01\x01", 10);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	ck_assert(p.anomalies & CTG_PA_TCP_OPT_DUP);
	ck_assert_uint_eq(p.tcp.opt.mss, 1500);
	ck_assert(!(p.anomalies & CTG_PA_WSCALE_CLAMPED));
}
END_TEST

START_TEST(test_udp_malformed)
{
	struct fx f;
	struct ctg_packet p;

	load("udp4_bad_len", &f);
	assert_reason(dec(&p, &f), CTG_R_UDP_BAD_LENGTH);
	ck_assert_uint_eq(p.tuple.sport, 1000);
	load("udp4", &f);
	f.b[24] = 0;
	f.b[25] = 7;
	assert_reason(dec(&p, &f), CTG_R_UDP_BAD_LENGTH);
	f.b[25] = 36;                           /* trailing byte not covered */
	assert_reason(dec(&p, &f), CTG_R_UDP_BAD_LENGTH);
	/* IP length leaving 4 bytes for the UDP header. */
	load("udp4", &f);
	f.b[3] = 24;
	assert_reason(ctg_decode_ip(&p, f.b, 24, 24), CTG_R_UDP_TRUNCATED);
}
END_TEST

/*
 * Every prefix of every fixture, as NFQUEUE's copy range would cut it
 * (wire_len stays the full length): below the end of the headers the
 * decoder reports a truncation, from there on it decodes exactly as the
 * whole packet does, and `complete` flips only at the IP length.
 */
static const struct {
	const char *name;
	size_t hdr_end;
} prefix_cases[] = {
	{ "tcp4_syn", 72 },
	{ "tcp4_synack", 60 },
	{ "tcp4_data", 72 },
	{ "tcp6_syn", 68 },
	{ "ipv6_ext_chain", 72 },
	{ "ipv6_frag2", 48 },
	{ "ipv6_ext_8", 112 },
	{ "ip4_frag2", 20 },
	{ "ip4_padded", 40 },
	{ "udp4", 28 },
	{ "udp6", 48 },
	{ "icmp4_echo_req", 28 },
	{ "icmp4_echo_reply", 28 },
	{ "icmp6_echo_req", 48 },
	{ "icmp4_unreach_udp", 56 },
	{ "icmp4_unreach_tcp", 56 },
	{ "icmp6_too_big", 96 },
	{ "tcp4_wscale255", 48 },
};

static bool
is_truncation(enum ctg_reason r)
{
	return r == CTG_R_IP_TRUNCATED || r == CTG_R_IPV6_EXT_TRUNCATED ||
	    r == CTG_R_TCP_TRUNCATED || r == CTG_R_UDP_TRUNCATED ||
	    r == CTG_R_ICMP_TRUNCATED || r == CTG_R_ICMP_INNER_TRUNCATED;
}

START_TEST(test_prefixes)
{
	struct fx f;
	struct ctg_packet full, p;
	enum ctg_reason want, r;
	uint8_t *copy;

	load(prefix_cases[_i].name, &f);
	want = dec(&full, &f);
	ck_assert(want == CTG_R_NONE || want == CTG_R_IP_FRAGMENT);
	for (size_t n = 0; n <= f.len; n++) {
		/* An exact-size heap copy lets ASan catch any overread. */
		copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, f.b, n);
		r = ctg_decode_ip(&p, copy, n, f.len);
		if (n < prefix_cases[_i].hdr_end) {
			ck_assert_msg(is_truncation(r), "%s/%zu: %s",
			    prefix_cases[_i].name, n, ctg_reason_name(r));
		} else {
			ck_assert_msg(r == want, "%s/%zu: %s",
			    prefix_cases[_i].name, n, ctg_reason_name(r));
			ck_assert(tuple_eq(&p.tuple, &full.tuple));
			ck_assert_uint_eq(p.payload_len, full.payload_len);
			ck_assert_uint_eq(p.l4_len, full.l4_len);
			ck_assert_int_eq(p.complete, n >= full.ip_len);
			/* An incomplete packet cannot fail its transport check. */
			if (!p.complete)
				assert_reason(ctg_verify_checksums(&p, copy),
				    CTG_R_NONE);
		}
		/* Really cut short: only a padded packet may still pass. */
		r = ctg_decode_ip(&p, copy, n, n);
		if (n < full.ip_len)
			ck_assert_msg(r != CTG_R_NONE, "%s/%zu cut",
			    prefix_cases[_i].name, n);
		free(copy);
	}
}
END_TEST

/* ---- checksums ---- */

static uint16_t
ref_csum(const uint8_t *d, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (len & 1)
		s += (uint32_t)d[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

START_TEST(test_csum_helpers)
{
	/* RFC 1071 section 3 example: sum ddf2, checksum 220d. */
	static const uint8_t ex[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5,
	    0xf6, 0xf7 };
	uint8_t buf[300];
	uint32_t seed = 12345;

	ck_assert_uint_eq(ctg_csum_fold(ctg_csum_add(0, ex, sizeof(ex))), 0x220d);
	ck_assert_uint_eq(ctg_csum_fold(ctg_csum_add(ctg_csum_add(0, ex, 4),
	    ex + 4, 4)), 0x220d);
	ck_assert_uint_eq(ctg_csum_fold(0), 0xffff);
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245 + 12345;
		buf[i] = (uint8_t)(seed >> 16);
	}
	memset(buf + 200, 0xff, 100);
	/* Every length and alignment against the byte-at-a-time reference. */
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len + off <= sizeof(buf); len++) {
			uint16_t fast = ctg_csum_fold(ctg_csum_add(0, buf + off, len));

			ck_assert_msg(fast == ref_csum(buf + off, len),
			    "off %zu len %zu", off, len);
			/* Split at an even point: same result. */
			ck_assert_uint_eq(ctg_csum_fold(ctg_csum_add(ctg_csum_add(0,
			    buf + off, len / 4 * 2), buf + off + len / 4 * 2,
			    len - len / 4 * 2)), fast);
		}
	}
}
END_TEST

static const char *const csum_fixtures[] = {
	"tcp4_syn", "tcp4_synack", "tcp4_data", "tcp6_syn", "udp4", "udp6",
	"icmp4_echo_req", "icmp4_echo_reply", "icmp6_echo_req",
	"icmp4_unreach_udp", "icmp4_unreach_tcp", "icmp6_too_big", "ip4_padded",
};

/*
 * Flip every bit that a checksum covers: either the packet no longer
 * decodes or the checksum check catches it.  Not covered: the version
 * nibble (a flip makes it another family's packet) and the first 8 bytes
 * of an IPv6 header, which no checksum protects.
 */
START_TEST(test_csum_flip)
{
	struct fx f, g;
	struct ctg_packet p;
	size_t start, ip_len, caught = 0;

	load(csum_fixtures[_i], &f);
	assert_reason(dec(&p, &f), CTG_R_NONE);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
	start = p.tuple.family == 6 ? 8 : 0;
	ip_len = p.ip_len;
	for (size_t i = start; i < ip_len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			if (i == 0 && bit >= 4)
				continue;
			g = f;
			g.b[i] ^= (uint8_t)(1 << bit);
			if (dec(&p, &g) != CTG_R_NONE)
				continue;
			ck_assert_msg(ctg_verify_checksums(&p, g.b) != CTG_R_NONE,
			    "%s: flip of byte %zu bit %d not caught",
			    csum_fixtures[_i], i, bit);
			caught++;
		}
	}
	ck_assert_uint_gt(caught, (ip_len - start) * 4);
}
END_TEST

START_TEST(test_csum_reasons)
{
	struct fx f;
	struct ctg_packet p;

	load("tcp4_data", &f);
	f.b[10] ^= 0x80;
	dec(&p, &f);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_IP_BAD_CHECKSUM);
	load("tcp4_data", &f);
	f.b[f.len - 1] ^= 1;
	dec(&p, &f);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_TCP_BAD_CHECKSUM);
	/* Not complete: the transport checksum cannot be checked. */
	ctg_decode_ip(&p, f.b, f.len - 1, f.len);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);

	load("udp4", &f);
	f.b[f.len - 1] ^= 1;
	dec(&p, &f);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_UDP_BAD_CHECKSUM);
	f.b[26] = f.b[27] = 0;                  /* no checksum over IPv4 */
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_NONE);
	load("udp6", &f);
	f.b[46] = f.b[47] = 0;                  /* mandatory over IPv6 */
	dec(&p, &f);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_UDP_BAD_CHECKSUM);

	load("icmp4_echo_req", &f);
	f.b[30] ^= 4;
	dec(&p, &f);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_ICMP_BAD_CHECKSUM);
	/* ICMPv6 covers the pseudo-header: a changed address is caught. */
	load("icmp6_echo_req", &f);
	f.b[39] ^= 1;
	dec(&p, &f);
	assert_reason(ctg_verify_checksums(&p, f.b), CTG_R_ICMP_BAD_CHECKSUM);
}
END_TEST

START_TEST(test_strings)
{
	char s[64];
	struct ctg_addr a;

	memset(&a, 0, sizeof(a));
	inet_pton(AF_INET, "10.1.2.3", a.b);
	ck_assert_str_eq(ctg_addr_str(&a, 4, s, sizeof(s)), "10.1.2.3");
	inet_pton(AF_INET6, "fe80::1:2", a.b);
	ck_assert_str_eq(ctg_addr_str(&a, 6, s, sizeof(s)), "fe80::1:2");
	ck_assert_str_eq(ctg_addr_str(&a, 5, s, sizeof(s)), "?");

	/* the hand-made IPv4 formatter agrees with inet_ntop on every byte value */
	for (unsigned v = 0; v < 256; v++) {
		char want[INET_ADDRSTRLEN];

		a.b[0] = (uint8_t)v;
		a.b[1] = (uint8_t)(255 - v);
		a.b[2] = (uint8_t)(v * 7);
		a.b[3] = (uint8_t)(v / 3);
		inet_ntop(AF_INET, a.b, want, sizeof(want));
		ck_assert_str_eq(ctg_addr_str(&a, 4, s, sizeof(s)), want);
	}
	/* too small for the longest address: inet_ntop's refusal, never a cut */
	a.b[0] = a.b[1] = a.b[2] = a.b[3] = 1;
	ck_assert_str_eq(ctg_addr_str(&a, 4, s, 8), "1.1.1.1");
	a.b[0] = 200;
	ck_assert_str_eq(ctg_addr_str(&a, 4, s, 8), "?");
	ck_assert_str_eq(ctg_tcp_flags_str(CTG_TH_SYN | CTG_TH_ACK, s, 9), "SA");
	ck_assert_str_eq(ctg_tcp_flags_str(0, s, 9), "");
	ck_assert_str_eq(ctg_tcp_flags_str(CTG_TH_FIN | CTG_TH_PSH | CTG_TH_ACK,
	    s, 9), "FPA");
	ck_assert_str_eq(ctg_tcp_flags_str(0xff, s, 9), "FSRPAUEC");
	ck_assert_str_eq(ctg_tcp_flags_str(0xff, s, 3), "FS");
	ck_assert_str_eq(ctg_tcp_flags_str(CTG_TH_RST | CTG_TH_ECE | CTG_TH_CWR,
	    s, 9), "REC");
}
END_TEST

/* ---- reject builder ---- */

static void
decode_reply(const uint8_t *out, ssize_t n, struct ctg_packet *r)
{
	ck_assert_int_gt(n, 0);
	assert_reason(ctg_decode_ip(r, out, (size_t)n, (size_t)n), CTG_R_NONE);
	assert_reason(ctg_verify_checksums(r, out), CTG_R_NONE);
	ck_assert_uint_eq(r->ttl, CTG_REJECT_TTL);
	ck_assert(r->complete);
}

START_TEST(test_reject_rst)
{
	struct fx f;
	struct ctg_packet p, r;
	uint8_t out[1500];
	ssize_t n;

	load("tcp4_syn", &f);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	ck_assert_int_eq(n, 40);
	decode_reply(out, n, &r);
	ck_assert(tuple_reversed(&r.tuple, &p.tuple));
	ck_assert_uint_eq(r.tcp.flags, CTG_TH_RST | CTG_TH_ACK);
	ck_assert_uint_eq(r.tcp.seq, 0);
	ck_assert_uint_eq(r.tcp.ack, 1001);

	/* With ACK: take its sequence number from the segment's ack. */
	load("tcp4_data", &f);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), true);
	decode_reply(out, n, &r);
	ck_assert(tuple_reversed(&r.tuple, &p.tuple));
	ck_assert_uint_eq(r.tcp.flags, CTG_TH_RST);
	ck_assert_uint_eq(r.tcp.seq, 5001);
	ck_assert_uint_eq(r.tcp.ack, 0);

	/* Data and FIN without ACK: ack = seq + len + FIN. */
	f.b[33] = CTG_TH_PSH | CTG_TH_FIN;
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	decode_reply(out, n, &r);
	ck_assert_uint_eq(r.tcp.flags, CTG_TH_RST | CTG_TH_ACK);
	ck_assert_uint_eq(r.tcp.ack, 1001 + 100 + 1);

	/* IPv6, sequence space wrapping. */
	load("tcp6_syn", &f);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	ck_assert_int_eq(n, 60);
	decode_reply(out, n, &r);
	ck_assert(tuple_reversed(&r.tuple, &p.tuple));
	ck_assert_uint_eq(r.tcp.ack, 0xfffffff1u);

	/* Only the headers were captured: still answerable. */
	load("tcp4_data", &f);
	assert_reason(ctg_decode_ip(&p, f.b, 72, f.len), CTG_R_NONE);
	n = ctg_build_reject(&p, f.b, 72, out, sizeof(out), false);
	decode_reply(out, n, &r);
	ck_assert_uint_eq(r.tcp.seq, 5001);

	/* Never answer an RST; never overrun the output buffer. */
	f.b[33] = CTG_TH_RST | CTG_TH_ACK;
	dec(&p, &f);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, sizeof(out),
	    false), -1);
	load("tcp4_syn", &f);
	dec(&p, &f);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, 39, false), -1);
}
END_TEST

START_TEST(test_reject_icmp)
{
	struct fx f;
	struct ctg_packet p, r;
	uint8_t out[1500];
	ssize_t n;

	load("udp4", &f);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	ck_assert_int_eq(n, 20 + 8 + 57);
	decode_reply(out, n, &r);
	ck_assert_uint_eq(r.tuple.proto, 1);
	ck_assert_uint_eq(r.icmp.type, 3);
	ck_assert_uint_eq(r.icmp.code, 3);
	ck_assert(r.icmp.is_error);
	ck_assert(memcmp(&r.tuple.src, &p.tuple.dst, sizeof(r.tuple.src)) == 0);
	ck_assert(memcmp(&r.tuple.dst, &p.tuple.src, sizeof(r.tuple.dst)) == 0);
	ck_assert(tuple_eq(&r.icmp.inner, &p.tuple));
	ck_assert_mem_eq(out + 28, f.b, f.len);

	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), true);
	decode_reply(out, n, &r);
	ck_assert_uint_eq(r.icmp.code, 13);

	load("udp6", &f);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	ck_assert_int_eq(n, 40 + 8 + (ssize_t)f.len);
	decode_reply(out, n, &r);
	ck_assert_uint_eq(r.tuple.proto, 58);
	ck_assert_uint_eq(r.icmp.type, 1);
	ck_assert_uint_eq(r.icmp.code, 4);
	ck_assert(tuple_eq(&r.icmp.inner, &p.tuple));
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), true);
	decode_reply(out, n, &r);
	ck_assert_uint_eq(r.icmp.code, 1);

	/* An echo request is answered; the quote carries its id. */
	load("icmp4_echo_req", &f);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	decode_reply(out, n, &r);
	ck_assert(tuple_eq(&r.icmp.inner, &p.tuple));
	ck_assert_uint_eq(r.icmp.inner.sport, 0x4242);

	/* Link padding after the IP packet is not quoted. */
	load("udp4", &f);
	memset(f.b + f.len, 0xee, 6);
	f.len += 6;
	assert_reason(dec(&p, &f), CTG_R_NONE);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	ck_assert_int_eq(n, 20 + 8 + 57);
	decode_reply(out, n, &r);
}
END_TEST

/* A UDP datagram of len bytes built around a fixture's headers. */
static void
big_udp(struct fx *f, const char *name, size_t len)
{
	struct ctg_packet p;
	size_t hl;
	uint32_t sum;

	load(name, f);
	hl = f->b[0] >> 4 == 4 ? 20 : 40;
	for (size_t i = hl + 8; i < len; i++)
		f->b[i] = (uint8_t)i;
	if (hl == 20) {
		f->b[2] = (uint8_t)(len >> 8);
		f->b[3] = (uint8_t)len;
		f->b[10] = f->b[11] = 0;
		sum = ctg_csum_fold(ctg_csum_add(0, f->b, 20));
		f->b[10] = (uint8_t)(sum >> 8);
		f->b[11] = (uint8_t)sum;
	} else {
		f->b[4] = (uint8_t)((len - 40) >> 8);
		f->b[5] = (uint8_t)(len - 40);
	}
	f->b[hl + 4] = (uint8_t)((len - hl) >> 8);
	f->b[hl + 5] = (uint8_t)(len - hl);
	f->b[hl + 6] = f->b[hl + 7] = 0;
	f->len = len;
	ck_assert_int_eq(dec(&p, f), CTG_R_NONE);
	sum = ctg_csum_add(0, f->b + (hl == 20 ? 12 : 8), hl == 20 ? 8 : 32);
	sum += 17 + (uint32_t)(len - hl);
	sum = ctg_csum_fold(ctg_csum_add(sum, f->b + hl, len - hl));
	if (sum == 0)
		sum = 0xffff;           /* RFC 768: 0 would mean none */
	f->b[hl + 6] = (uint8_t)(sum >> 8);
	f->b[hl + 7] = (uint8_t)sum;
	ck_assert_int_eq(ctg_verify_checksums(&p, f->b), CTG_R_NONE);
}

START_TEST(test_reject_quote_limits)
{
	struct fx f;
	struct ctg_packet p, r;
	uint8_t out[1500];
	ssize_t n;

	big_udp(&f, "udp4", 1400);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	ck_assert_int_eq(n, CTG_REJECT_MAX_V4);
	decode_reply(out, n, &r);
	ck_assert(tuple_eq(&r.icmp.inner, &p.tuple));
	ck_assert_mem_eq(out + 28, f.b, 576 - 28);

	big_udp(&f, "udp6", 1500);
	dec(&p, &f);
	n = ctg_build_reject(&p, f.b, f.len, out, sizeof(out), false);
	ck_assert_int_eq(n, CTG_REJECT_MAX_V6);
	decode_reply(out, n, &r);
	ck_assert(tuple_eq(&r.icmp.inner, &p.tuple));

	/* A small output buffer shortens the quote, down to the IP header. */
	n = ctg_build_reject(&p, f.b, f.len, out, 100, false);
	ck_assert_int_eq(n, 100);
	decode_reply(out, n, &r);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, 87, false), -1);
	/* Only 60 bytes captured: quote those. */
	ctg_decode_ip(&p, f.b, 60, f.len);
	n = ctg_build_reject(&p, f.b, 60, out, sizeof(out), false);
	ck_assert_int_eq(n, 40 + 8 + 60);
	decode_reply(out, n, &r);
}
END_TEST

START_TEST(test_reject_refused)
{
	static const char *const errors[] = {
		"icmp4_unreach_udp", "icmp4_unreach_tcp", "icmp6_too_big",
		"icmp4_inner_trunc", "ip4_frag2", "ipv6_frag2",
	};
	struct fx f;
	struct ctg_packet p;
	uint8_t out[1500];

	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		load(errors[i], &f);
		dec(&p, &f);
		ck_assert_msg(ctg_build_reject(&p, f.b, f.len, out, sizeof(out),
		    false) == -1, "%s answered", errors[i]);
	}
	/* Multicast and broadcast destinations, unspecified source. */
	load("udp4", &f);
	f.b[16] = 224;
	dec(&p, &f);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, sizeof(out),
	    false), -1);
	memset(f.b + 16, 0xff, 4);
	dec(&p, &f);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, sizeof(out),
	    false), -1);
	load("udp6", &f);
	f.b[24] = 0xff;
	dec(&p, &f);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, sizeof(out),
	    false), -1);
	load("tcp6_syn", &f);
	memset(f.b + 8, 0, 16);
	dec(&p, &f);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, sizeof(out),
	    false), -1);
	/* The IP header was not even decoded. */
	load("ip4_bad_ihl", &f);
	dec(&p, &f);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, f.len, out, sizeof(out),
	    false), -1);
	/* TCP header not captured: no sequence number to reset. */
	load("tcp4_syn", &f);
	ctg_decode_ip(&p, f.b, 30, f.len);
	ck_assert_int_eq(ctg_build_reject(&p, f.b, 30, out, sizeof(out),
	    false), -1);
}
END_TEST

static Suite *
packet_suite(void)
{
	Suite *s = suite_create("packet");
	TCase *tc;

	tc = tcase_create("decode");
	tcase_add_test(tc, test_tcp4_syn);
	tcase_add_test(tc, test_tcp4_synack);
	tcase_add_test(tc, test_tcp4_data);
	tcase_add_test(tc, test_tcp6_syn);
	tcase_add_test(tc, test_ipv6_ext_chain);
	tcase_add_test(tc, test_fragments);
	tcase_add_test(tc, test_udp);
	tcase_add_test(tc, test_icmp_echo);
	tcase_add_test(tc, test_icmp_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_test(tc, test_ip_malformed);
	tcase_add_test(tc, test_ipv6_malformed);
	tcase_add_test(tc, test_tcp_malformed);
	tcase_add_test(tc, test_tcp_option_lengths);
	tcase_add_test(tc, test_udp_malformed);
	tcase_add_loop_test(tc, test_prefixes, 0,
	    (int)(sizeof(prefix_cases) / sizeof(prefix_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("checksum");
	tcase_add_test(tc, test_csum_helpers);
	tcase_add_loop_test(tc, test_csum_flip, 0,
	    (int)(sizeof(csum_fixtures) / sizeof(csum_fixtures[0])));
	tcase_add_test(tc, test_csum_reasons);
	tcase_add_test(tc, test_strings);
	suite_add_tcase(s, tc);

	tc = tcase_create("reject");
	tcase_add_test(tc, test_reject_rst);
	tcase_add_test(tc, test_reject_icmp);
	tcase_add_test(tc, test_reject_quote_limits);
	tcase_add_test(tc, test_reject_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(packet_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
