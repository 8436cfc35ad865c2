/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit ring: the bounded single-producer, single-consumer queue between
 * a packet-path thread and the audit log writer.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/auditring.h"
#include "ctguard/record.h"

/*
 * The ring. The producer owns head, the consumer owns tail; each publishes
 * its index with a release store and reads the other's with an acquire
 * load, so a slot's contents are visible before the index that hands it
 * over. Indexes run freely and wrap modulo 2^32; capacity is a power of
 * two, so head - tail is the fill even across the wrap. The producer keeps
 * a stale copy of tail and reloads it only when the ring looks full, which
 * keeps the consumer's cache line out of the common case.
 */
struct ctg_audit_ring {
	/* producer's line */
	_Alignas(64) _Atomic uint32_t head;
	uint32_t cached_tail;
	_Atomic uint64_t dropped;
	/* consumer's line */
	_Alignas(64) _Atomic uint32_t tail;
	/* read-only after creation */
	_Alignas(64) uint32_t mask;
	struct ctg_audit_slot *slots;
};

static size_t
record_size(enum ctg_audit_type type)
{
	switch (type) {
	case CTG_AUDIT_VERDICT:
		return sizeof(struct ctg_verdict_record);
	case CTG_AUDIT_CONN:
		return sizeof(struct ctg_conn_record);
	case CTG_AUDIT_EVENT:
		return sizeof(struct ctg_event_record);
	default:
		return 0;
	}
}

struct ctg_audit_ring *
ctg_audit_ring_new(uint32_t capacity)
{
	struct ctg_audit_ring *r;
	uint32_t cap = 2;

	if (capacity > (UINT32_C(1) << 30))
		return NULL;
	while (cap < capacity)
		cap <<= 1;
	r = aligned_alloc(64, (sizeof(*r) + 63) & ~(size_t)63);
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->slots = calloc(cap, sizeof(*r->slots));
	if (r->slots == NULL) {
		free(r);
		return NULL;
	}
	r->mask = cap - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->dropped, 0);
	return r;
}

void
ctg_audit_ring_free(struct ctg_audit_ring *r)
{
	if (r == NULL)
		return;
	free(r->slots);
	free(r);
}

uint32_t
ctg_audit_ring_capacity(const struct ctg_audit_ring *r)
{
	return r->mask + 1;
}

bool
ctg_audit_ring_try_put(struct ctg_audit_ring *r, enum ctg_audit_type type,
    const void *rec, size_t len)
{
	struct ctg_audit_slot *s;
	uint32_t h;

	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (h - r->cached_tail > r->mask) {
		r->cached_tail = atomic_load_explicit(&r->tail,
		    memory_order_acquire);
		if (h - r->cached_tail > r->mask)
			return false;
	}
	s = &r->slots[h & r->mask];
	s->type = (uint8_t)type;
	s->synthetic = false;
	memcpy(&s->v, rec, len);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

bool
ctg_audit_ring_put(struct ctg_audit_ring *r, enum ctg_audit_type type,
    const void *rec, size_t len)
{
	if ((unsigned)type >= CTG_AUDIT_MAX || len > record_size(type) ||
	    !ctg_audit_ring_try_put(r, type, rec, len)) {
		ctg_audit_ring_drop(r);
		return false;
	}
	return true;
}

uint32_t
ctg_audit_ring_get(struct ctg_audit_ring *r, struct ctg_audit_slot *out,
    uint32_t max)
{
	uint32_t t, h, n;

	t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	h = atomic_load_explicit(&r->head, memory_order_acquire);
	n = h - t;
	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++) {
		const struct ctg_audit_slot *s = &r->slots[(t + i) & r->mask];

		/* Copy only the member in use: slots are sized for the largest. */
		out[i].type = s->type;
		out[i].synthetic = false;
		out[i].source = 0;
		memcpy(&out[i].v, &s->v, record_size(s->type));
	}
	atomic_store_explicit(&r->tail, t + n, memory_order_release);
	return n;
}

uint32_t
ctg_audit_ring_count(const struct ctg_audit_ring *r)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	return h - t;
}

void
ctg_audit_ring_drop(struct ctg_audit_ring *r)
{
	atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
}

uint32_t
ctg_audit_ring_produced(const struct ctg_audit_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire);
}

uint64_t
ctg_audit_ring_dropped(const struct ctg_audit_ring *r)
{
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
