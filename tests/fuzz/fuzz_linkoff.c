/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the replay's link-layer code: finding the IP header
 * in a captured frame (ctg_replay_link_offset), then decoding what follows
 * as replay does.
 *
 * Input: byte 0 picks the link type among those replay reads (Ethernet,
 * raw IP, IPv4, IPv6, Linux cooked v1 and v2, BSD loopback NULL and LOOP);
 * one value past the list takes the link type from bytes 1-2 instead, to
 * check that every other type is refused. Byte 1 (or 3) adds to the
 * frame's wire length (snaplen cut). The rest is the frame, copied to an
 * exact-size heap buffer so that ASan sees any read past the capture.
 *
 *   ./fuzz_linkoff -max_total_time=60 tests/fuzz/corpus/linkoff
 */
#include <stdlib.h>
#include <string.h>

#include <pcap/dlt.h>

#include "ctguard/packet.h"
#include "ctguard/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int supported[] = {
	DLT_EN10MB, DLT_RAW, DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL, DLT_LINUX_SLL2,
	DLT_NULL, DLT_LOOP,
};
#define NSUPPORTED (sizeof(supported) / sizeof(supported[0]))

static int
is_supported(int dlt)
{
	for (size_t i = 0; i < NSUPPORTED; i++)
		if (supported[i] == dlt)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctg_packet p;
	uint32_t caplen, wire_len, pad;
	size_t hdr;
	uint8_t *frame;
	int dlt, off;

	if (size < 2)
		return 0;
	if (data[0] % (NSUPPORTED + 1) < NSUPPORTED) {
		dlt = supported[data[0] % (NSUPPORTED + 1)];
		pad = data[1];
		hdr = 2;
	} else {
		if (size < 4)
			return 0;
		dlt = data[1] << 8 | data[2];
		pad = data[3];
		hdr = 4;
	}
	caplen = (uint32_t)(size - hdr);
	wire_len = caplen + pad;
	if ((frame = malloc(caplen ? caplen : 1)) == NULL)
		return 0;
	memcpy(frame, data + hdr, caplen);

	off = ctg_replay_link_offset(dlt, frame, caplen);
	if (off < -3 || (off == -3) == is_supported(dlt) || off > (int)caplen)
		abort();
	/* the link header alone decides: the same offset with nothing after it */
	if (off >= 0 && ctg_replay_link_offset(dlt, frame, (uint32_t)off) != off)
		abort();
	if (off >= 0) {
		/* as replay_frame hands it to the pipeline */
		size_t cap = caplen - (uint32_t)off;
		size_t wire = wire_len > (uint32_t)off ? wire_len - (uint32_t)off : cap;
		uint8_t *ip = malloc(cap ? cap : 1);

		if (ip == NULL)
			abort();
		memcpy(ip, frame + off, cap);
		if (wire < cap)
			wire = cap;
		if (ctg_decode_ip(&p, ip, cap, wire) == CTG_R_NONE &&
		    (p.l4_offset > cap || (p.tuple.family != 4 && p.tuple.family != 6)))
			abort();
		free(ip);
	}
	free(frame);
	return 0;
}
