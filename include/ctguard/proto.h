/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The IP protocols ctguard knows by name: one table for printing them and
 * for looking a name up. Parsing a protocol argument (name or number) is
 * ctg_proto_parse's job (netaddr.h), which uses these names.
 */
#ifndef CTGUARD_PROTO_H
#define CTGUARD_PROTO_H

/* X(number, name) */
#define CTG_PROTOCOLS(X) \
	X(1, "icmp") \
	X(6, "tcp") \
	X(17, "udp") \
	X(58, "icmpv6")

/* "tcp" for 6; NULL for a protocol without a name here. */
const char *ctg_proto_name(unsigned proto);

/* 6 for "tcp" (exact, lower case); -1 for a name not in the table. */
int ctg_proto_by_name(const char *name);

#endif
