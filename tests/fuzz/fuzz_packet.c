/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the packet decoder, checksums and reject builder.
 *
 * Input: two control bytes, then the packet.  Byte 0 cuts that many bytes
 * off the end (an NFQUEUE copy range); byte 1 adds to the wire length
 * (link padding), and its low bit picks icmp_admin.  The packet is copied
 * to an exact-size heap buffer so that ASan sees any read past caplen.
 *
 * Beyond "no crash", it checks that every reply the reject builder makes
 * fits its buffer and, when it decodes clean, carries valid checksums.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_packet.c daemon/packet.c daemon/reject.c \
 *       daemon/reason.c -o fuzz-packet
 *   ./fuzz-packet -max_total_time=60 tests/fuzz/corpus/packet
 */
#include <stdlib.h>
#include <string.h>

#include "ctguard/packet.h"
#include "ctguard/reject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctg_packet p, r;
	uint8_t out[CTG_REJECT_MAX_V6];
	size_t n, caplen, wire_len;
	uint8_t *buf;
	ssize_t len;
	enum ctg_reason rc;

	if (size < 2)
		return 0;
	n = size - 2;
	caplen = data[0] < n ? n - data[0] : 0;
	wire_len = n + data[1];
	buf = malloc(caplen ? caplen : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 2, caplen);

	rc = ctg_decode_ip(&p, buf, caplen, wire_len);
	if (rc == CTG_R_NONE || rc == CTG_R_IP_FRAGMENT)
		(void)ctg_verify_checksums(&p, buf);
	len = ctg_build_reject(&p, buf, caplen, out, sizeof(out),
	    data[1] & 1);
	if (len > (ssize_t)sizeof(out))
		abort();
	if (len > 0 && ctg_decode_ip(&r, out, (size_t)len, (size_t)len) ==
	    CTG_R_NONE && ctg_verify_checksums(&r, out) != CTG_R_NONE)
		abort();
	free(buf);
	return 0;
}
