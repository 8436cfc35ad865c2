/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The held-verdict table of active/active sync (see ctguard/defer.h).
 */
#include <stdlib.h>
#include <string.h>

#include "ctguard/defer.h"

int
ctg_defer_init(struct ctg_defer *d, unsigned cap, uint32_t slots)
{
	memset(d, 0, sizeof(*d));
	if (cap == 0)
		cap = 1;
	d->ring = calloc(cap, sizeof(*d->ring));
	d->wait_us = calloc(CTG_DEFER_WAIT_SAMPLES, sizeof(*d->wait_us));
	d->held_of = calloc(slots ? slots : 1, sizeof(*d->held_of));
	if (!d->ring || !d->wait_us || !d->held_of) {
		ctg_defer_fini(d);
		return -1;
	}
	d->cap = cap;
	d->slots = slots;
	return 0;
}

void
ctg_defer_fini(struct ctg_defer *d)
{
	free(d->ring);
	free(d->wait_us);
	free(d->held_of);
	memset(d, 0, sizeof(*d));
}

static void
let_go(struct ctg_defer *d, uint64_t now_us, uint64_t *counter, ctg_defer_fn fn, void *arg)
{
	struct ctg_defer_pkt p = d->ring[d->head];
	uint64_t w = now_us > p.held_us ? now_us - p.held_us : 0;

	d->head = (d->head + 1) % d->cap;
	d->n--;
	if (p.slot < d->slots && d->held_of[p.slot] > 0)
		d->held_of[p.slot]--;
	(*counter)++;
	d->wait_us[d->wait_pos] = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
	d->wait_pos = (d->wait_pos + 1) % CTG_DEFER_WAIT_SAMPLES;
	if (d->wait_n < CTG_DEFER_WAIT_SAMPLES)
		d->wait_n++;
	fn(arg, &p);
}

void
ctg_defer_hold(struct ctg_defer *d, const struct ctg_defer_pkt *p, ctg_defer_fn fn, void *arg)
{
	if (d->n == d->cap)
		let_go(d, p->held_us, &d->st.overflows, fn, arg);
	d->ring[(d->head + d->n) % d->cap] = *p;
	d->n++;
	/* the table holds fewer packets than a count can reach: the test is belt and braces */
	if (p->slot < d->slots && d->held_of[p->slot] < UINT16_MAX)
		d->held_of[p->slot]++;
	d->st.deferred++;
}

unsigned
ctg_defer_release(struct ctg_defer *d, uint32_t acked, uint64_t now_us, ctg_defer_fn fn,
    void *arg)
{
	unsigned done = 0;

	while (d->n) {
		const struct ctg_defer_pkt *p = &d->ring[d->head];

		if (acked && !ctg_defer_token_after(p->token, acked))
			let_go(d, now_us, &d->st.acked, fn, arg);
		else if (p->deadline_us <= now_us)
			let_go(d, now_us, &d->st.timeouts, fn, arg);
		else
			break;
		done++;
	}
	return done;
}

unsigned
ctg_defer_flush(struct ctg_defer *d, uint64_t now_us, ctg_defer_fn fn, void *arg)
{
	unsigned done = 0;

	while (d->n) {
		let_go(d, now_us, &d->st.flushed, fn, arg);
		done++;
	}
	return done;
}

uint64_t
ctg_defer_next_deadline(const struct ctg_defer *d)
{
	/* one timeout for all (the configuration's): deadlines grow along the ring */
	return d->n ? d->ring[d->head].deadline_us : 0;
}

void
ctg_defer_stats(const struct ctg_defer *d, struct ctg_defer_stats *st)
{
	*st = d->st;
	st->held = d->n;
}

size_t
ctg_defer_waits(const struct ctg_defer *d, uint32_t *out, size_t max)
{
	size_t n = d->wait_n < max ? d->wait_n : max;

	if (n)
		memcpy(out, d->wait_us, n * sizeof(*out));
	return n;
}

/* --- the sender's book of acknowledgements ---------------------------------- */

int
ctg_defer_book_init(struct ctg_defer_book *b, unsigned cap)
{
	memset(b, 0, sizeof(*b));
	if (cap == 0)
		cap = 1;
	b->notes = calloc(cap, sizeof(*b->notes));
	if (!b->notes)
		return -1;
	b->cap = cap;
	return 0;
}

void
ctg_defer_book_fini(struct ctg_defer_book *b)
{
	free(b->notes);
	memset(b, 0, sizeof(*b));
}

uint32_t
ctg_defer_book_issue(struct ctg_defer_book *b)
{
	if (++b->token == 0)
		b->token = 1;
	return b->token;
}

void
ctg_defer_book_note(struct ctg_defer_book *b, uint32_t token, unsigned worker, uint32_t local)
{
	if (b->n == b->cap) {
		b->head = (b->head + 1) % b->cap;
		b->n--;
		b->lost++;
	}
	b->notes[(b->head + b->n) % b->cap] =
	    (struct ctg_defer_note){ .token = token, .local = local, .worker = (uint16_t)worker };
	b->n++;
}

void
ctg_defer_book_members(struct ctg_defer_book *b, uint32_t self, const uint32_t *nodes, size_t n)
{
	struct ctg_defer_member old[CTG_DEFER_MEMBERS_MAX];
	unsigned nold = b->nm;

	memcpy(old, b->m, sizeof(old));
	b->self = self;
	b->nm = 0;
	for (size_t i = 0; i < n && b->nm < CTG_DEFER_MEMBERS_MAX; i++) {
		uint32_t acked = b->token;
		bool dup = false;

		if (nodes[i] == self)
			continue;
		for (unsigned k = 0; k < b->nm; k++)
			dup |= b->m[k].node == nodes[i];
		if (dup)
			continue;
		for (unsigned k = 0; k < nold; k++)
			if (old[k].node == nodes[i])
				acked = old[k].acked;
		b->m[b->nm++] = (struct ctg_defer_member){ .node = nodes[i], .acked = acked };
	}
}

void
ctg_defer_book_ack(struct ctg_defer_book *b, uint32_t from, uint32_t token)
{
	for (unsigned k = 0; k < b->nm; k++)
		if (b->m[k].node == from && ctg_defer_token_after(token, b->m[k].acked) &&
		    !ctg_defer_token_after(token, b->token))
			b->m[k].acked = token;
}

unsigned
ctg_defer_book_advance(struct ctg_defer_book *b, ctg_defer_ack_fn fn, void *arg)
{
	uint32_t upto = b->token;
	unsigned done = 0;

	for (unsigned k = 0; k < b->nm; k++)
		if (ctg_defer_token_after(upto, b->m[k].acked))
			upto = b->m[k].acked;
	while (b->n) {
		const struct ctg_defer_note *p = &b->notes[b->head];

		if (ctg_defer_token_after(p->token, upto))
			break;
		fn(arg, p->worker, p->local);
		b->head = (b->head + 1) % b->cap;
		b->n--;
		done++;
	}
	return done;
}
