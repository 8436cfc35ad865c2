/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Address, prefix, port and protocol text: the one acceptance rule (see
 * netaddr.h) shared by the rule loader, the log CLI and the control
 * server. The messages are the rule loader's, which prefixes them with
 * FILE:LINE: and the rule; other callers print them as they are.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/netaddr.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
ctg_prefix_parse(const char *text, struct ctg_prefix *out, char *err,
    size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8], net[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max, plen;
	bool hostbits = false;

	if (alen >= sizeof(buf))
		goto bad;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr.b) == 1) {
		out->family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr.b) == 1) {
		out->family = 6;
		max = 128;
	} else
		goto bad;
	plen = max;
	if (slash != NULL) {
		char *end;
		unsigned long v;

		/* digits only: strtoul would take a sign or blanks */
		if (slash[1] < '0' || slash[1] > '9')
			goto bad;
		errno = 0;
		v = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || errno != 0 || end - (slash + 1) > 3)
			goto bad;
		if (v > max) {
			seterr(err, errlen,
			    "prefix /%lu too long for an IPv%u address in '%s'",
			    v, out->family, text);
			return -1;
		}
		plen = (unsigned)v;
	}
	out->plen = (uint8_t)plen;
	for (unsigned bit = plen; bit < max; bit++) {
		uint8_t m = (uint8_t)(0x80 >> (bit & 7));

		if (out->addr.b[bit >> 3] & m) {
			hostbits = true;
			out->addr.b[bit >> 3] &= (uint8_t)~m;
		}
	}
	/*
	 * Refused rather than masked: "10.0.0.1/8" is more often a typo for
	 * a host or a /24 than a way to write 10.0.0.0/8.
	 */
	if (hostbits) {
		inet_ntop(out->family == 4 ? AF_INET : AF_INET6, out->addr.b,
		    net, sizeof(net));
		seterr(err, errlen, "host bits set in '%s' (the network is %s/%u)",
		    text, net, plen);
		return -1;
	}
	return 0;
bad:
	seterr(err, errlen, "bad address '%s'", text);
	return -1;
}

const char *
ctg_prefix_str(const struct ctg_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr.b, a,
	    sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, p->plen);
	return buf;
}

bool
ctg_prefix_contains(const struct ctg_prefix *p, uint8_t family,
    const struct ctg_addr *a)
{
	unsigned full = p->plen / 8, rest = p->plen % 8;

	if (family != p->family)
		return false;
	if (memcmp(p->addr.b, a->b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((p->addr.b[full] ^ a->b[full]) &
	    (uint8_t)(0xff << (8 - rest))) == 0;
}

/* One decimal port of text (which is whole, for the message). */
static int
port_num(const char *p, const char *whole, unsigned *out, char *err,
    size_t errlen)
{
	char *end;
	long v;

	if (*p < '0' || *p > '9') {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			seterr(err, errlen, "bad port '%s' (a number 0-65535: "
			    "service names are not looked up)", whole);
		else
			seterr(err, errlen, "bad port '%s'", whole);
		return -1;
	}
	errno = 0;
	v = strtol(p, &end, 10);
	if (end == p || *end != '\0' || errno != 0) {
		seterr(err, errlen, "bad port '%s'", whole);
		return -1;
	}
	if (v > 65535) {
		seterr(err, errlen, "port %ld out of range (0-65535)", v);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int
ctg_port_range_parse(const char *text, uint16_t *lo, uint16_t *hi,
    char *err, size_t errlen)
{
	char buf[32];
	char *dash;
	unsigned a, b;

	if (strlen(text) >= sizeof(buf)) {
		seterr(err, errlen, "bad port '%s'", text);
		return -1;
	}
	strcpy(buf, text);
	dash = strchr(buf, '-');
	if (dash == NULL) {
		if (port_num(buf, text, &a, err, errlen) == -1)
			return -1;
		*lo = *hi = (uint16_t)a;
		return 0;
	}
	*dash = '\0';
	if (port_num(buf, text, &a, err, errlen) == -1 ||
	    port_num(dash + 1, text, &b, err, errlen) == -1)
		return -1;
	if (a > b) {
		seterr(err, errlen, "port range %u-%u is upside down", a, b);
		return -1;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

int
ctg_port_parse(const char *text, uint16_t *out, char *err, size_t errlen)
{
	uint16_t lo, hi;

	if (ctg_port_range_parse(text, &lo, &hi, err, errlen) == -1)
		return -1;
	if (strchr(text, '-') != NULL) {
		seterr(err, errlen, "bad port '%s' (one port, not a range)", text);
		return -1;
	}
	*out = lo;
	return 0;
}

int
ctg_proto_parse(const char *text, uint8_t *out, char *err, size_t errlen)
{
	int p = ctg_proto_by_name(text);
	char *end;
	unsigned long v;

	if (p >= 0) {
		*out = (uint8_t)p;
		return 0;
	}
	if (text[0] >= '0' && text[0] <= '9') {
		errno = 0;
		v = strtoul(text, &end, 10);
		if (*end == '\0' && errno == 0) {
			if (v > 255) {
				seterr(err, errlen,
				    "protocol %s out of range (0-255)", text);
				return -1;
			}
			*out = (uint8_t)v;
			return 0;
		}
	}
	seterr(err, errlen,
	    "unknown protocol '%s' (tcp, udp, icmp, icmpv6 or a number)", text);
	return -1;
}
