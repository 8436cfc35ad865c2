/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reply packets for the "reject" verdict: a TCP RST (RFC 793 3.4) or an
 * ICMP/ICMPv6 destination unreachable quoting the offending packet.
 *
 * Pure: builds into a caller buffer, allocates nothing, sends nothing.
 * The reply appears to come from the original destination, so the sender
 * sees the refusal from the host it tried to reach.
 */
#ifndef CTGUARD_REJECT_H
#define CTGUARD_REJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctguard/packet.h"

#define CTG_REJECT_TTL          64
/* Longest reply: each family's minimum MTU (RFC 1812 4.3.2.3, RFC 4443 2.4). */
#define CTG_REJECT_MAX_V4       576
#define CTG_REJECT_MAX_V6       1280

/*
 * Build the reply to the packet p, decoded by ctg_decode_ip from buf
 * (caplen bytes).  TCP gets an RST, everything else an ICMP port
 * unreachable, or administratively prohibited when icmp_admin is set.
 * Returns the reply's length (an IP packet with valid checksums) or -1
 * when no reply may be sent: the packet is an RST, an ICMP error, a
 * non-first fragment, from or to a multicast, broadcast or unspecified
 * address, its headers are not in buf, or outlen is too small.
 */
ssize_t ctg_build_reject(const struct ctg_packet *p, const uint8_t *buf,
    size_t caplen, uint8_t *out, size_t outlen, bool icmp_admin);

#endif
