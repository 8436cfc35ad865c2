/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Addresses, prefixes, ports and protocol names as people write them: the
 * one parser behind the rule language, the log CLI and the control server,
 * so that every place that takes an address accepts and refuses the same
 * text.
 *
 * The acceptance rule is the rule language's:
 *   prefix    an IPv4 or IPv6 address (inet_pton syntax, no scope id),
 *             optionally "/LEN" with LEN 0-32 or 0-128 in at most three
 *             decimal digits. Host bits beyond LEN are an error (not
 *             masked): "10.0.0.1/8" is refused, naming 10.0.0.0/8.
 *   port      decimal digits only, 0-65535; service names ("http") are
 *             not looked up and are refused.
 *   port range  a port or "LO-HI" with LO <= HI.
 *   protocol  tcp, udp, icmp, icmpv6, or a number 0-255.
 * The rule language writes numeric ports and protocols as libconfig
 * integers; these parsers take their decimal text, which is the same set
 * of values.
 *
 * Every parser returns 0 on success, or -1 with a one-line message in err
 * ("bad address '10.0.0.300/8'"), quoting the input; err may be NULL.
 * No allocation; safe on any thread.
 */
#ifndef CTGUARD_NETADDR_H
#define CTGUARD_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/packet.h"
#include "ctguard/proto.h"

/* Room for ctg_prefix_str: the longest IPv6 text, "/128" and the NUL. */
#define CTG_PREFIX_STRLEN 52

/* A network: family 4 or 6, addr in struct ctg_addr layout (IPv4 in the
 * first four bytes, the rest zero), bits past plen always zero. */
struct ctg_prefix {
	uint8_t family;
	uint8_t plen;
	struct ctg_addr addr;
};

int ctg_prefix_parse(const char *text, struct ctg_prefix *out, char *err,
    size_t errlen);
/* "ADDR/LEN", always with the length (inet_ntop form). */
const char *ctg_prefix_str(const struct ctg_prefix *p, char *buf,
    size_t len);
/* Whether an address of the given family lies inside p. */
bool ctg_prefix_contains(const struct ctg_prefix *p, uint8_t family,
    const struct ctg_addr *a);

/* One port. A range ("80-90") is refused here. */
int ctg_port_parse(const char *text, uint16_t *out, char *err,
    size_t errlen);
/* A port or a range; a single port gives lo == hi. */
int ctg_port_range_parse(const char *text, uint16_t *lo, uint16_t *hi,
    char *err, size_t errlen);

/* A protocol name (the table of proto.h) or number. */
int ctg_proto_parse(const char *text, uint8_t *out, char *err,
    size_t errlen);

#endif
