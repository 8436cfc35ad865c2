/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The table of address, port and protocol arguments with what the rule
 * language does with each: tests/unit/check_netaddr.c runs it through the
 * parsers of netaddr.h and through the rule loader; any other program
 * that takes such an argument (ctguard log --src/--port/--proto,
 * ctguard connections, the control server) can run the same rows.
 *
 * kind    which parser: prefix, one port, port or range, protocol
 * text    the argument as typed
 * ok      accepted?
 * expect  accepted: the value in canonical form (ctg_prefix_str; the
 *         port; "lo-hi" or the port; the protocol number);
 *         refused: a piece of the message, the same for every caller.
 */
#ifndef CTGUARD_TESTS_NETADDR_CASES_H
#define CTGUARD_TESTS_NETADDR_CASES_H

#include <stdbool.h>

enum netaddr_kind { NA_PREFIX, NA_PORT, NA_PORT_RANGE, NA_PROTO };

struct netaddr_case {
	enum netaddr_kind kind;
	const char *text;
	bool ok;
	const char *expect;
};

static const struct netaddr_case netaddr_cases[] = {
	/* prefixes: host bits are an error, never masked */
	{ NA_PREFIX, "10.0.0.0/8", true, "10.0.0.0/8" },
	{ NA_PREFIX, "10.0.0.1", true, "10.0.0.1/32" },
	{ NA_PREFIX, "10.0.0.1/32", true, "10.0.0.1/32" },
	{ NA_PREFIX, "0.0.0.0/0", true, "0.0.0.0/0" },
	{ NA_PREFIX, "198.51.100.0/24", true, "198.51.100.0/24" },
	{ NA_PREFIX, "10.0.0.0/08", true, "10.0.0.0/8" },
	{ NA_PREFIX, "10.0.0.1/8", false, "host bits set in '10.0.0.1/8' (the network is 10.0.0.0/8)" },
	{ NA_PREFIX, "198.51.100.7/24", false, "host bits set" },
	{ NA_PREFIX, "0.0.0.1/0", false, "(the network is 0.0.0.0/0)" },
	{ NA_PREFIX, "10.0.0.0/33", false, "prefix /33 too long for an IPv4 address in '10.0.0.0/33'" },
	{ NA_PREFIX, "10.0.0.0/0008", false, "bad address '10.0.0.0/0008'" },
	{ NA_PREFIX, "10.0.0.0/", false, "bad address" },
	{ NA_PREFIX, "10.0.0.0/+8", false, "bad address" },
	{ NA_PREFIX, "10.0.0.0/-8", false, "bad address" },
	{ NA_PREFIX, "10.0.0.0/ 8", false, "bad address" },
	{ NA_PREFIX, "10.0.0.0/8x", false, "bad address" },
	{ NA_PREFIX, "10.0.0.1/32/1", false, "bad address" },
	{ NA_PREFIX, "10.0.0.300/8", false, "bad address '10.0.0.300/8'" },
	{ NA_PREFIX, "10.0.0/8", false, "bad address" },
	{ NA_PREFIX, "010.0.0.1", false, "bad address" },
	{ NA_PREFIX, " 10.0.0.1", false, "bad address" },
	{ NA_PREFIX, "10.0.0.1 ", false, "bad address" },
	{ NA_PREFIX, "", false, "bad address ''" },
	{ NA_PREFIX, "/8", false, "bad address" },
	{ NA_PREFIX, "localhost", false, "bad address 'localhost'" },
	{ NA_PREFIX, "2001:db8::/32", true, "2001:db8::/32" },
	{ NA_PREFIX, "2001:DB8::1/128", true, "2001:db8::1/128" },
	{ NA_PREFIX, "2001:db8:0:0::1", true, "2001:db8::1/128" },
	{ NA_PREFIX, "::/0", true, "::/0" },
	{ NA_PREFIX, "::ffff:10.0.0.1", true, "::ffff:10.0.0.1/128" },
	{ NA_PREFIX, "2001:db8::1/64", false, "host bits set in '2001:db8::1/64' (the network is 2001:db8::/64)" },
	{ NA_PREFIX, "2001:db8::/129", false, "prefix /129 too long for an IPv6 address in '2001:db8::/129'" },
	{ NA_PREFIX, "fe80::1%eth0", false, "bad address" },
	{ NA_PREFIX, "2001:db8::g", false, "bad address" },
	{ NA_PREFIX, "1:2:3:4:5:6:7:8:9", false, "bad address" },
	{ NA_PREFIX, "2001:0db8:0000:0000:0000:0000:0000:0001:ffff/64", false, "bad address" },

	/* one port: digits only, no names, no ranges */
	{ NA_PORT, "80", true, "80" },
	{ NA_PORT, "0", true, "0" },
	{ NA_PORT, "65535", true, "65535" },
	{ NA_PORT, "0080", true, "80" },
	{ NA_PORT, "65536", false, "port 65536 out of range (0-65535)" },
	{ NA_PORT, "http", false, "bad port 'http' (a number 0-65535: service names are not looked up)" },
	{ NA_PORT, "80-90", false, "one port, not a range" },
	{ NA_PORT, "-1", false, "bad port '-1'" },
	{ NA_PORT, "+80", false, "bad port '+80'" },
	{ NA_PORT, " 80", false, "bad port" },
	{ NA_PORT, "80 ", false, "bad port" },
	{ NA_PORT, "8o", false, "bad port '8o'" },
	{ NA_PORT, "0x50", false, "bad port" },
	{ NA_PORT, "", false, "bad port ''" },
	{ NA_PORT, "99999999999999999999", false, "bad port" },

	/* port or range, as in src_port / dst_port and port sets */
	{ NA_PORT_RANGE, "80", true, "80" },
	{ NA_PORT_RANGE, "80-90", true, "80-90" },
	{ NA_PORT_RANGE, "80-80", true, "80" },
	{ NA_PORT_RANGE, "0-65535", true, "0-65535" },
	{ NA_PORT_RANGE, "90-80", false, "port range 90-80 is upside down" },
	{ NA_PORT_RANGE, "1-65536", false, "port 65536 out of range (0-65535)" },
	{ NA_PORT_RANGE, "80-", false, "bad port '80-'" },
	{ NA_PORT_RANGE, "-80", false, "bad port '-80'" },
	{ NA_PORT_RANGE, "80-90-100", false, "bad port" },
	{ NA_PORT_RANGE, "http-https", false, "service names are not looked up" },
	{ NA_PORT_RANGE, "80 - 90", false, "bad port" },

	/* protocols: the four names (case matters) or a number */
	{ NA_PROTO, "tcp", true, "6" },
	{ NA_PROTO, "udp", true, "17" },
	{ NA_PROTO, "icmp", true, "1" },
	{ NA_PROTO, "icmpv6", true, "58" },
	{ NA_PROTO, "6", true, "6" },
	{ NA_PROTO, "0", true, "0" },
	{ NA_PROTO, "132", true, "132" },
	{ NA_PROTO, "255", true, "255" },
	{ NA_PROTO, "256", false, "protocol 256 out of range (0-255)" },
	{ NA_PROTO, "TCP", false, "unknown protocol 'TCP' (tcp, udp, icmp, icmpv6 or a number)" },
	{ NA_PROTO, "sctp", false, "unknown protocol 'sctp'" },
	{ NA_PROTO, "ipv6-icmp", false, "unknown protocol" },
	{ NA_PROTO, "-1", false, "unknown protocol" },
	{ NA_PROTO, "6x", false, "unknown protocol" },
	{ NA_PROTO, "", false, "unknown protocol ''" },
};

#define NETADDR_NCASES (sizeof(netaddr_cases) / sizeof(netaddr_cases[0]))

#endif
