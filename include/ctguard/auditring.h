/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit ring: one per packet-path thread, drained by the audit log writer.
 * Single producer, single consumer, capacity a power of two, fixed-size
 * slots, C11 acquire/release only: the producer never allocates, locks or
 * makes a system call.
 */
#ifndef CTGUARD_AUDITRING_H
#define CTGUARD_AUDITRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/record.h"

enum ctg_audit_type {
	CTG_AUDIT_VERDICT = 0,
	CTG_AUDIT_CONN,
	CTG_AUDIT_EVENT,
	CTG_AUDIT_MAX
};

struct ctg_audit_slot {
	uint8_t type;                   /* enum ctg_audit_type */
	bool synthetic;                 /* made by the writer (gap events) */
	uint16_t source;                /* writer: the ring it came from */
	union {
		struct ctg_verdict_record v;
		struct ctg_conn_record c;
		struct ctg_event_record e;
	};
};

struct ctg_audit_ring;

/* capacity is rounded up to a power of two (at least 2). NULL on ENOMEM. */
struct ctg_audit_ring *ctg_audit_ring_new(uint32_t capacity);
void ctg_audit_ring_free(struct ctg_audit_ring *r);
uint32_t ctg_audit_ring_capacity(const struct ctg_audit_ring *r);
/*
 * Producer side. put refuses (false) a bad type or a len larger than the
 * type's record, or a full ring, and counts each refusal as a drop.
 * try_put trusts type and len and counts nothing, so that a caller may
 * wait and try again; drop counts one record the caller gave up on.
 */
bool ctg_audit_ring_put(struct ctg_audit_ring *r, enum ctg_audit_type type,
    const void *rec, size_t len);
bool ctg_audit_ring_try_put(struct ctg_audit_ring *r, enum ctg_audit_type type,
    const void *rec, size_t len);
void ctg_audit_ring_drop(struct ctg_audit_ring *r);
/* Consumer side: copies up to max slots out, returns how many. */
uint32_t ctg_audit_ring_get(struct ctg_audit_ring *r,
    struct ctg_audit_slot *out, uint32_t max);
/* Either side; exact only from the consumer. */
uint32_t ctg_audit_ring_count(const struct ctg_audit_ring *r);
/* Records ever put, modulo 2^32 (a position to wait for). */
uint32_t ctg_audit_ring_produced(const struct ctg_audit_ring *r);
uint64_t ctg_audit_ring_dropped(const struct ctg_audit_ring *r);

#endif
