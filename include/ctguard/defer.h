/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Held verdicts of active/active sync ("defer", pfsync's word): a packet
 * that creates a connection or changes a TCP endpoint's state is judged at
 * once, but its verdict waits here until every other member of the group
 * has applied the change, or until its deadline.
 *
 * One table per worker, used by that worker only (no lock): a FIFO ring of
 * {nfq id, verdict, mark, token, deadline} allocated at init, so holding
 * and releasing never allocate. Tokens are the worker's own sequence
 * numbers (daemon/sync-defer.c maps them to the group's acknowledgements); they
 * do not decrease along the ring, so "released up to token T" is a walk
 * from the oldest. A full table releases its oldest packet early (counted
 * as an overflow) rather than refuse to hold or drop.
 *
 * A connection's packets leave in the order they came: while one of its
 * packets is held, its later accepted packets are held behind it (a data
 * segment overtaking the held third ACK is harmless, but a held ACK let go
 * after its connection closed at the endpoint draws a RST). Per connection
 * (the tracker's slot), a count of its packets held.
 *
 * The caller sends the verdicts: release calls fn for each packet let go,
 * oldest first. Nothing here touches the queue; a held packet keeps its id
 * among those not yet answered in daemon/nfq.c, so no batch verdict covers
 * it.
 */
#ifndef CTGUARD_DEFER_H
#define CTGUARD_DEFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTG_DEFER_WAIT_SAMPLES 4096     /* recent waits kept for the percentiles */

struct ctg_defer_pkt {
	uint32_t id;                    /* nfq packet id */
	uint32_t verdict;               /* CTG_NFQ_* */
	uint32_t mark;
	bool has_mark;
	uint32_t token;
	uint32_t slot;                  /* the connection's tracker slot, CTG_DEFER_NO_SLOT none */
	uint64_t held_us, deadline_us;
};

#define CTG_DEFER_NO_SLOT UINT32_MAX

struct ctg_defer_stats {
	uint64_t deferred;              /* packets held, total */
	uint64_t acked;                 /* ... released because the group applied the change */
	uint64_t timeouts;              /* ... released at their deadline */
	uint64_t overflows;             /* ... released early: the table was full */
	uint64_t flushed;               /* ... released by a stop, a reload or an empty group */
	unsigned held;                  /* now */
};

struct ctg_defer {
	struct ctg_defer_pkt *ring;
	unsigned cap, head, n;
	struct ctg_defer_stats st;
	uint16_t *held_of;              /* per connection slot: its packets held */
	uint32_t slots;
	uint32_t *wait_us;              /* CTG_DEFER_WAIT_SAMPLES, a ring */
	unsigned wait_n, wait_pos;
};

typedef void (*ctg_defer_fn)(void *arg, const struct ctg_defer_pkt *p);

/* A table of cap packets (at least 1) for connections in slots slots; 0, or -1 out of memory. */
int ctg_defer_init(struct ctg_defer *d, unsigned cap, uint32_t slots);
void ctg_defer_fini(struct ctg_defer *d);

/*
 * Hold p (its held_us and deadline_us set by the caller). When the table
 * is full its oldest packet goes to fn first (an overflow).
 */
void ctg_defer_hold(struct ctg_defer *d, const struct ctg_defer_pkt *p,
    ctg_defer_fn fn, void *arg);

/*
 * Release, oldest first, every packet whose token is at or before acked
 * (serial order; acked 0 acknowledges nothing) or whose deadline is at or
 * before now_us. Returns how many went to fn.
 */
unsigned ctg_defer_release(struct ctg_defer *d, uint32_t acked, uint64_t now_us,
    ctg_defer_fn fn, void *arg);

/* Release everything now (stop, reload, nobody else in the group). */
unsigned ctg_defer_flush(struct ctg_defer *d, uint64_t now_us, ctg_defer_fn fn, void *arg);

/* The earliest deadline held, 0 when nothing is. */
uint64_t ctg_defer_next_deadline(const struct ctg_defer *d);

static inline unsigned
ctg_defer_held(const struct ctg_defer *d)
{
	return d->n;
}

/* Whether a packet of the connection in slot is held: a later one waits behind it. */
static inline bool
ctg_defer_conn_held(const struct ctg_defer *d, uint32_t slot)
{
	return slot < d->slots && d->held_of[slot] > 0;
}

void ctg_defer_stats(const struct ctg_defer *d, struct ctg_defer_stats *st);
/* Copy up to max recent waits (µs) into out; how many. */
size_t ctg_defer_waits(const struct ctg_defer *d, uint32_t *out, size_t max);

/*
 * The sender's book of acknowledgements (daemon/sync-defer.c, the sync thread only).
 * Each message wanting acks gets the next token; a note ties it to the
 * worker token it covered. Every other member acknowledges the highest
 * token it applied; a note is done when every member now in the group
 * has acknowledged its token. A member that joins counts as having
 * acknowledged every token issued before (it gets the table by a bulk
 * transfer); one that leaves no longer counts; with nobody else, every
 * note is done. A full book forgets its oldest note (its packets go at
 * their deadline), counted in lost.
 */
#define CTG_DEFER_MEMBERS_MAX 64

struct ctg_defer_note {
	uint32_t token;                 /* of the message */
	uint32_t local;                 /* the worker's token it covered */
	uint16_t worker;
};

struct ctg_defer_book {
	uint32_t self;                  /* our node id */
	uint32_t token;                 /* the last issued, 0 none */
	struct ctg_defer_member {
		uint32_t node;
		uint32_t acked;
	} m[CTG_DEFER_MEMBERS_MAX];
	unsigned nm;
	struct ctg_defer_note *notes;
	unsigned cap, head, n;
	uint64_t lost;
};

typedef void (*ctg_defer_ack_fn)(void *arg, unsigned worker, uint32_t local);

int ctg_defer_book_init(struct ctg_defer_book *b, unsigned cap);
void ctg_defer_book_fini(struct ctg_defer_book *b);
/* The token of the next message wanting acks (never 0). */
uint32_t ctg_defer_book_issue(struct ctg_defer_book *b);
void ctg_defer_book_note(struct ctg_defer_book *b, uint32_t token, unsigned worker,
    uint32_t local);
/* The group's members now (self among them or not). */
void ctg_defer_book_members(struct ctg_defer_book *b, uint32_t self, const uint32_t *nodes,
    size_t n);
/* from applied our messages up to token. */
void ctg_defer_book_ack(struct ctg_defer_book *b, uint32_t from, uint32_t token);
/* Hand every done note to fn, oldest first; how many. */
unsigned ctg_defer_book_advance(struct ctg_defer_book *b, ctg_defer_ack_fn fn, void *arg);
static inline unsigned
ctg_defer_book_others(const struct ctg_defer_book *b)
{
	return b->nm;
}

/* a after b in the 32-bit serial order of tokens */
static inline bool
ctg_defer_token_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

#endif
