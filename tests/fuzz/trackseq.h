/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A packet sequence driven through a connection tracker, shared by the
 * tracker fuzzer (fuzz_tracker.c) and the seed generator (gen_seeds.c),
 * so that the seeds are in exactly the format the fuzzer reads.
 *
 * Format: one config byte, then records of three bytes and a packet:
 *   config  bit 0: midstream loose; bits 1-2: table of 2, 4, 8 or 16
 *           entries (eviction and refusal run early); bit 3: adaptive
 *           timeouts; bit 4: timeouts of a few seconds instead of the
 *           defaults (expiry runs without long clock jumps)
 *   dt      the clock advances by dt * dt * 10 ms (monotonic: never back)
 *   ctl     bits 0-1: 2 refuse the packet (a connection it created is
 *           forgotten, as the pipeline does), else accept and account
 *           it; bit 2: sweep after it;
 *           bit 3: kill its connection by id; bit 4: give its connection
 *           a per-rule timeout profile (bits 5-7 choose among eight)
 *   len     bytes of IP packet that follow (fewer at the end of input),
 *           decoded by ctg_decode_ip as the pipeline does
 *
 * Every step checks what can be checked cheaply through the tracker's API
 * and aborts when an invariant breaks (see trackseq.c).
 */
#ifndef CTGUARD_TESTS_TRACKSEQ_H
#define CTGUARD_TESTS_TRACKSEQ_H

#include <stddef.h>
#include <stdint.h>

#include "ctguard/tracker.h"

#define TRACKSEQ_T0 1700000000000000ULL

#define TSQ_LOOSE      0x01
#define TSQ_MAX(n)     ((n) == 2 ? 0 : (n) == 4 ? 2 : (n) == 8 ? 4 : 6)
#define TSQ_ADAPTIVE   0x08
#define TSQ_SHORT      0x10

#define TSQ_ACCEPT     0x00
#define TSQ_REFUSE     0x02
#define TSQ_SWEEP      0x04
#define TSQ_KILL       0x08
#define TSQ_PROFILE(n) (0x10 | ((n) & 7) << 5)

struct trackseq {
	struct ctg_tracker *t;
	struct ctg_tracker_config tc;
	uint64_t now;
	uint64_t ends;                  /* end callbacks seen */
};

/* Run data through a new tracker in *s; 0, or -1 when out of memory. */
int trackseq_run(struct trackseq *s, const uint8_t *data, size_t size);
/* The invariants over the whole table (also run after every step). */
void trackseq_check(struct trackseq *s);
void trackseq_free(struct trackseq *s);

#endif
