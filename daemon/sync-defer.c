/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Defer (active/active), the sync thread's side: what lets a worker's
 * held verdicts go (defer.c holds them). A verdict may leave only once
 * every other member has applied the change it rests on: the answer,
 * routed back through another gateway, must find the state that admits
 * it there. So the members say what they applied, and each worker learns
 * which of its holds that covers.
 *
 * A worker holding verdicts kicks the sync thread, which drains at once
 * (no change gap, sync.c) and sends the last message of that turn
 * flagged as wanting an ack, with a token (this member's sequence number
 * of such messages). Under each worker's lock it takes the worker's open
 * token and opens the next, and notes {message token, worker, worker
 * token}. Every member answers, after applying, with a DEFER_ACK of the
 * highest token applied per sender; when every other current member has
 * acknowledged a message, the workers' tokens it covered are
 * acknowledged (an atomic per worker, and its eventfd to end its wait).
 * A member that joins counts as having acknowledged what was sent
 * before; one that leaves no longer counts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "sync-int.h"

#define DEFER_NOTES 4096        /* {message token, worker, worker token} awaiting acks */

int
sync_defer_init(struct ctgd_sync *s)
{
	return ctg_defer_book_init(&s->book, DEFER_NOTES);
}

void
sync_defer_fini(struct ctgd_sync *s)
{
	ctg_defer_book_fini(&s->book);
}

static void
wake_worker(struct worker *w)
{
	uint64_t one = 1;

	if (w->defer_wake >= 0 && write(w->defer_wake, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ctgd_log(LOG_WARNING, "sync: waking queue %u: %s", w->queue, strerror(errno));
}

/* The group applied what a worker held up to local: tell it. */
static void
worker_acked(void *arg, unsigned wi, uint32_t local)
{
	struct ctgd_sync *s = arg;

	if (wi >= s->dm->nw)
		return;
	atomic_store(&s->dm->w[wi].defer_acked, local);
	s->woken[wi] = true;
}

/* Acknowledge to the workers what every other member has applied. */
static void
defer_advance(struct ctgd_sync *s)
{
	memset(s->woken, 0, sizeof(s->woken));
	if (ctg_defer_book_advance(&s->book, worker_acked, s) == 0)
		return;
	for (unsigned wi = 0; wi < s->dm->nw; wi++)
		if (s->woken[wi])
			wake_worker(&s->dm->w[wi]);
}

bool
sync_defer_take(struct worker *w, uint32_t *local)
{
	if (!w->defer_wanted)
		return false;
	*local = w->defer_open;
	if (++w->defer_open == 0)
		w->defer_open = 1;
	w->defer_wanted = false;
	return true;
}

void
sync_defer_flush(struct ctgd_sync *s, const bool *held, const uint32_t *local)
{
	/*
	 * The turn's last message wants the ack (CPG delivers a sender's
	 * messages in order: applying it means applying all before it).
	 */
	uint32_t token = ctg_defer_book_issue(&s->book);

	if (s->we.count) {
		sync_flush_writer(s, &s->wu, false);
		ctg_syncmsg_want_ack(&s->we, token);
		sync_flush_writer(s, &s->we, false);
	} else {
		ctg_syncmsg_want_ack(&s->wu, token);
		sync_flush_writer(s, &s->wu, true);
	}
	for (unsigned wi = 0; wi < s->dm->nw; wi++)
		if (held[wi])
			ctg_defer_book_note(&s->book, token, wi, local[wi]);
	defer_advance(s);
}

/* The other members as CPG lists them now. */
void
sync_defer_members(struct ctgd_sync *s, const struct cpg_address *members, size_t nmembers)
{
	uint32_t ids[MAX_MEMBERS];
	size_t n = 0;

	for (size_t i = 0; i < nmembers && n < MAX_MEMBERS; i++)
		ids[n++] = members[i].nodeid;
	ctg_defer_book_members(&s->book, s->nodeid, ids, n);
	atomic_store(&s->others, ctg_defer_book_others(&s->book));
	defer_advance(s);
}

void
sync_defer_alone(struct ctgd_sync *s)
{
	memset(s->due, 0, sizeof(s->due));
	/* alone now: nothing waits for the group */
	ctg_defer_book_members(&s->book, s->nodeid, NULL, 0);
	atomic_store(&s->others, 0);
	defer_advance(s);
}

/* A DEFER_ACK: the entries naming us. */
void
sync_defer_apply_acks(struct ctgd_sync *s, const struct ctg_syncmsg *m, uint32_t from)
{
	for (unsigned i = 0; i < m->count; i++) {
		struct ctg_sync_ack a;

		ctg_syncmsg_ack(m, i, &a);
		if (a.node != s->nodeid)
			continue;
		ctg_defer_book_ack(&s->book, from, a.token);
		pthread_mutex_lock(&s->mu);
		s->acks_received++;
		pthread_mutex_unlock(&s->mu);
	}
	defer_advance(s);
}

/* A message wanting an ack was applied: answer after this round of deliveries. */
void
sync_defer_ack_due(struct ctgd_sync *s, uint32_t from, uint32_t token)
{
	struct ack_due *free_slot = NULL;

	for (unsigned i = 0; i < MAX_MEMBERS; i++) {
		if (s->due[i].nodeid == from) {
			s->due[i].token = token;
			s->due[i].due = true;
			return;
		}
		if (!s->due[i].nodeid && !free_slot)
			free_slot = &s->due[i];
	}
	if (free_slot)
		*free_slot = (struct ack_due){ .nodeid = from, .token = token, .due = true };
}

void
sync_defer_send_acks(struct ctgd_sync *s)
{
	struct ctg_syncmsg_writer a;
	uint8_t buf[CTG_SYNC_HDR_SIZE + MAX_MEMBERS * CTG_SYNC_ACK_SIZE];

	ctg_syncmsg_begin(&a, buf, sizeof(buf), CTG_SYNC_DEFER_ACK, ctgd_clock_us());
	for (unsigned i = 0; i < MAX_MEMBERS; i++) {
		if (!s->due[i].due)
			continue;
		struct ctg_sync_ack e = { .node = s->due[i].nodeid, .token = s->due[i].token };

		s->due[i].due = false;
		ctg_syncmsg_add_ack(&a, &e);
	}
	if (a.count == 0)
		return;
	sync_send_msg(s, buf, ctg_syncmsg_finish(&a));
	pthread_mutex_lock(&s->mu);
	s->acks_sent += a.count;
	pthread_mutex_unlock(&s->mu);
}
