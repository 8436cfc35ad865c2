/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: state synchronisation between gateways. The packet
 * path's part (marking changed entries dirty, noting ends), the sync side's
 * part (draining them under the owner's lock, exporting slices for a bulk
 * transfer), and the receiver's (applying and removing entries, and the
 * bounded re-learning of synced TCP edges).
 *
 * Marks live beside the pool (one byte and one counter per slot), not in
 * struct ctg_conn: the entry's layout is the snapshot format, and a table
 * without sync pays nothing but a test of a NULL pointer per packet.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "ctguard/tracker.h"
#include "tracker-int.h"

/*
 * The pipeline keeps a conn_limit slot's bit in the cached action
 * (pipeline.c ACTION_COUNTED): the slot is the sender's, not ours.
 */
#define ACTION_COUNTED_BIT 0x40
/* pool slots one drain walks after a ring overflow */
#define WALK_SLICE 4096
/* how long a synced TCP entry re-learns its edges, from its first packet here */
#define RELEARN_MS 2000

int
ctg_tracker_sync_enable(struct ctg_tracker *t, uint32_t ring_size, uint32_t max_updates,
    uint8_t carry)
{
	if (t->sync_of)
		return 0;
	/* a power of two: the ring's index is a mask on the packet path */
	uint32_t cap = 1;
	while (cap < ring_size && cap < (1u << 30))
		cap <<= 1;
	ring_size = cap;
	t->sync_of = calloc(t->max, sizeof(*t->sync_of));
	t->sync_upd = calloc(t->max, sizeof(*t->sync_upd));
	t->sync_edges = calloc(t->max, sizeof(*t->sync_edges));
	t->sync_relearn_ms = calloc(t->max, sizeof(*t->sync_relearn_ms));
	t->sync_ring = calloc(ring_size, sizeof(*t->sync_ring));
	t->sync_ends = calloc(ring_size, sizeof(*t->sync_ends));
	if (!t->sync_of || !t->sync_upd || !t->sync_edges || !t->sync_relearn_ms ||
	    !t->sync_ring || !t->sync_ends) {
		free(t->sync_of);
		free(t->sync_relearn_ms);
		t->sync_relearn_ms = NULL;
		free(t->sync_upd);
		free(t->sync_edges);
		free(t->sync_ring);
		free(t->sync_ends);
		t->sync_of = NULL;
		t->sync_upd = NULL;
		t->sync_edges = NULL;
		t->sync_ring = NULL;
		t->sync_ends = NULL;
		return -1;
	}
	t->sync_ring_cap = ring_size;
	t->sync_ends_cap = ring_size;
	t->sync_max_updates = (uint16_t)(max_updates > 65535 ? 65535 : max_updates);     /* 0: off */
	t->sync_carry = carry ? carry : CTG_SYNC_CARRY_ALL;
	return 0;
}

bool
ctg_tracker_sync_enabled(const struct ctg_tracker *t)
{
	return t->sync_of != NULL;
}

void
ctg_tracker_sync_set_merge(struct ctg_tracker *t, bool merge)
{
	t->sync_merge = merge;
}

unsigned
ctg_tracker_sync_urgent(const struct ctg_tracker *t)
{
	return t->sync_urgent;
}

static bool
carried(const struct ctg_tracker *t, const struct ctg_conn *c)
{
	switch (c->tuple.proto) {
	case IPPROTO_TCP:
		return t->sync_carry & CTG_SYNC_CARRY_TCP;
	case IPPROTO_UDP:
		return t->sync_carry & CTG_SYNC_CARRY_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return t->sync_carry & CTG_SYNC_CARRY_ICMP;
	default:
		return t->sync_carry & CTG_SYNC_CARRY_OTHER;
	}
}

/* Order of the TCP endpoint states along a connection's life (merge, defer). */
static unsigned
tcp_progress(uint8_t state)
{
	static const uint8_t rank[CTG_TCPS_COUNT] = {
		[CTG_TCPS_NONE] = 0, [CTG_TCPS_LISTEN] = 1, [CTG_TCPS_SYN_SENT] = 2,
		[CTG_TCPS_SYN_RCVD] = 3, [CTG_TCPS_ESTABLISHED] = 4,
		[CTG_TCPS_FIN_WAIT_1] = 5, [CTG_TCPS_CLOSE_WAIT] = 5,
		[CTG_TCPS_FIN_WAIT_2] = 6, [CTG_TCPS_CLOSING] = 6, [CTG_TCPS_LAST_ACK] = 6,
		[CTG_TCPS_TIME_WAIT] = 7, [CTG_TCPS_CLOSED] = 8,
	};

	return state < CTG_TCPS_COUNT ? rank[state] : 0;
}

/*
 * Held: the packet that created the connection, and a TCP endpoint's move
 * while the connection opens (no state after it past ESTABLISHED). The
 * reply that crosses another member needs what these taught (a SYN's or
 * SYN/ACK's ISN, the end of the handshake). The close it does not: an
 * ack of a FIN that member has not heard of is within the window it
 * re-learns, and the merge settles the FIN (merge_conn()). Holding the
 * close was worse than useless: a FIN held at one member and its ACK at
 * the other outlasted the sender's loss probe (a few ms on a LAN), and
 * the probe's copy of the FIN reached the peer after the close; the
 * peer's answer met a closed socket, which sent a RST.
 */
bool
ctg_tracker_sync_holds(const struct ctg_tracker *t, const struct ctg_track_result *r)
{
	const struct ctg_conn *c = r->conn;

	if (!t->sync_of || !c || c < t->pool || c >= t->pool + t->max || c->id == 0)
		return false;
	if (!r->created && r->before[0] == r->after[0] && r->before[1] == r->after[1])
		return false;
	if (!r->created && c->tuple.proto == IPPROTO_TCP &&
	    (tcp_progress(r->after[0]) > tcp_progress(CTG_TCPS_ESTABLISHED) ||
	    tcp_progress(r->after[1]) > tcp_progress(CTG_TCPS_ESTABLISHED)))
		return false;
	return carried(t, c) && (t->sync_of[idx_of(t, c)] & SY_DIRTY);
}

/*
 * An accepted packet: mark its entry. Once per drain an entry goes on the
 * ring; later packets only count, and the max_updates-th (or a state
 * change) asks for an early drain.
 */
void
tracker_sync_mark(struct ctg_tracker *t, struct ctg_conn *c)
{
	uint32_t i = idx_of(t, c);
	uint8_t *f = &t->sync_of[i];

	if ((*f & (SY_SYNCED | SY_LOCAL)) == SY_SYNCED && t->sync_st.synced_live)
		t->sync_st.synced_live--;
	*f |= SY_LOCAL;
	if (!carried(t, c))
		return;
	if (t->sync_changed && (*f & SY_DIRTY))
		tracker_sync_changed_state(t, c, i);
	else if (t->sync_changed && !t->sync_urgent)
		t->sync_urgent = 1;
	if (*f & SY_DIRTY) {
		/* ctg_tracker_account counted this packet already */
		if (tracker_sync_due(t, c, i))
			t->sync_urgent = 2;
		return;
	}
	*f |= SY_DIRTY;
	t->sync_upd[i] = 0;
	t->sync_edges[i] = tracker_sync_edge_sum(t, c, i);
	t->sync_st.marked++;
	if (t->sync_head - t->sync_tail < t->sync_ring_cap) {
		t->sync_ring[t->sync_head++ & (t->sync_ring_cap - 1)] = i;
		return;
	}
	/* the next drains walk the whole table for marked entries */
	t->sync_st.ring_overflows++;
	t->sync_walk_left = t->max;
}

/*
 * c ends here. The other gateways learn it if they knew it and the end is
 * the connection's own (closed, reset, killed, reopened, flushed): each
 * gateway times entries out and evicts by itself, and a stop is not an end.
 */
void
tracker_sync_ended(struct ctg_tracker *t, const struct ctg_conn *c, enum ctg_end_reason why)
{
	uint8_t f = t->sync_of[idx_of(t, c)];

	if ((f & (SY_SYNCED | SY_LOCAL)) == SY_SYNCED && t->sync_st.synced_live)
		t->sync_st.synced_live--;
	if (t->sync_applying || !(f & SY_SENT))
		return;
	if (why == CTG_END_TIMEOUT || why == CTG_END_EVICTED || why == CTG_END_SHUTDOWN)
		return;
	if (t->sync_ends_n >= t->sync_ends_cap) {
		t->sync_st.ends_lost++;
		return;
	}
	struct ctg_conn_end_note *n = &t->sync_ends[t->sync_ends_n++];
	n->tuple = c->tuple;
	n->id = c->id;
	n->reason = (uint8_t)why;
	if (!t->sync_urgent)
		t->sync_urgent = 1;
}

static void
export_conn(const struct ctg_tracker *t, const struct ctg_conn *c, struct ctg_conn_export *out)
{
	out->c = *c;
	out->c.hnext = out->c.lprev = out->c.lnext = 0;
	out->c.tprofile = 0;
	if (c->tprofile && c->tprofile <= t->nprofiles)
		out->to = t->profiles[c->tprofile - 1];
	else
		memset(&out->to, 0, sizeof(out->to));
}

static bool
drain_one(struct ctg_tracker *t, uint32_t i, struct ctg_conn_export *out)
{
	const struct ctg_conn *c = &t->pool[i];

	if (!(t->sync_of[i] & SY_DIRTY))
		return false;
	t->sync_of[i] &= (uint8_t)~SY_DIRTY;
	t->sync_upd[i] = 0;
	if (c->id == 0 || !(c->flags & CTG_CONN_CONFIRMED))
		return false;
	export_conn(t, c, out);
	t->sync_of[i] |= SY_SENT;
	return true;
}

size_t
ctg_tracker_sync_drain(struct ctg_tracker *t, struct ctg_conn_export *out, size_t max)
{
	size_t n = 0;

	if (!t->sync_of)
		return 0;
	while (n < max && t->sync_tail != t->sync_head) {
		uint32_t i = t->sync_ring[t->sync_tail & (t->sync_ring_cap - 1)];

		t->sync_tail++;
		if (drain_one(t, i, &out[n]))
			n++;
	}
	for (size_t k = 0; n < max && t->sync_walk_left && k < WALK_SLICE; k++) {
		uint32_t i = t->sync_walk_hand;

		if (++t->sync_walk_hand >= t->max)
			t->sync_walk_hand = 0;
		t->sync_walk_left--;
		if (drain_one(t, i, &out[n]))
			n++;
	}
	if (t->sync_tail == t->sync_head && !t->sync_walk_left)
		t->sync_urgent = t->sync_ends_n > 0 ? 1 : 0;
	t->sync_st.drained += n;
	return n;
}

bool
ctg_tracker_sync_pending(const struct ctg_tracker *t)
{
	return t->sync_of && (t->sync_tail != t->sync_head || t->sync_walk_left);
}

size_t
ctg_tracker_sync_drain_ends(struct ctg_tracker *t, struct ctg_conn_end_note *out, size_t max)
{
	size_t n = t->sync_ends_n < max ? t->sync_ends_n : max;

	if (n == 0)
		return 0;
	memcpy(out, t->sync_ends, n * sizeof(*out));
	memmove(t->sync_ends, t->sync_ends + n, (t->sync_ends_n - n) * sizeof(*out));
	t->sync_ends_n -= (uint32_t)n;
	t->sync_st.ends += n;
	return n;
}

size_t
ctg_tracker_export_slice(const struct ctg_tracker *t, size_t start, size_t count,
    struct ctg_conn_export *out)
{
	size_t n = 0;

	for (size_t i = start; i < start + count && i < t->max; i++) {
		const struct ctg_conn *c = &t->pool[i];

		if (c->id == 0 || !(c->flags & CTG_CONN_CONFIRMED))
			continue;
		export_conn(t, c, &out[n++]);
	}
	return n;
}

static bool
timeouts_set(const struct ctg_timeouts *to)
{
	static const struct ctg_timeouts none;

	return memcmp(to, &none, sizeof(none)) != 0;
}

/* As tracker_datagram_packet leaves them: unassured UDP, ICMP, unreplied others. */
static uint8_t
datagram_list(const struct ctg_conn *c)
{
	if (!(c->flags & CTG_CONN_SEEN_REPLY))
		return L_UNANSWERED;
	if (c->tuple.proto == IPPROTO_UDP)
		return c->proto_state < 2 ? L_CLOSING : L_NONE;
	if (c->tuple.proto == IPPROTO_ICMP || c->tuple.proto == IPPROTO_ICMPV6)
		return L_CLOSING;
	return c->proto_state == 0 ? L_CLOSING : L_NONE;
}


/* What one gateway learnt of a connection the other may not have seen. */
#define MERGED_FLAGS (CTG_CONN_SEEN_REPLY | CTG_CONN_ASSURED | CTG_CONN_SYN_ORIG | \
	CTG_CONN_SYNACK | CTG_CONN_FIN_ORIG | CTG_CONN_FIN_RESP | CTG_CONN_RST_ORIG | \
	CTG_CONN_RST_RESP | CTG_CONN_CHALLENGE | CTG_CONN_CLOSED | CTG_CONN_DATA_ORIG | \
	CTG_CONN_DATA_RESP)

/*
 * The close of a split connection: a FIN crossed one member and its ack
 * the other (neither is held, ctg_tracker_sync_holds()), so neither
 * member saw the ack meet the FIN. Once the merge knows both, the ack
 * moves the close on as it would have where it passed. Two rounds: the
 * second FIN's ack may be settled only once the first is.
 */
static void
settle_fins(struct ctg_conn *c)
{
	/* ack_of_fin() moves each endpoint only from a state the ack had not reached */
	for (int round = 0; round < 2; round++)
		for (uint8_t d = 0; d < 2; d++) {
			const struct ctg_tcp_peer *x = &c->peer[d], *y = &c->peer[!d];

			if ((y->flags & CTG_PEER_FIN) && (x->flags & CTG_PEER_MAXACK) &&
			    SEQ_GEQ(x->td_maxack, y->td_end))
				tracker_tcp_ack_of_fin(c, d);
		}
}

/*
 * Active/active: in, from another member, meets c, which this gateway
 * forwards too (each forwards a part: a direction, or turns of ECMP).
 * Neither copy is simply the newer, so each endpoint is taken from the
 * copy that is further along: a later state, or the same state with its
 * data's end after ours; then each of its edges is the further of the
 * two (below). The rest stays ours: the deciding rule and the counters
 * (the audit log is per gateway); last seen is the later.
 */
static void
merge_conn(struct ctg_conn *c, const struct ctg_conn *in)
{
	if (c->tuple.proto == IPPROTO_TCP) {
		for (int d = 0; d < 2; d++) {
			const struct ctg_tcp_peer *ip = &in->peer[d];
			struct ctg_tcp_peer *op = &c->peer[d];
			unsigned ir = tcp_progress(ip->state), or = tcp_progress(op->state);

			struct ctg_tcp_peer mine = *op;
			bool take = ir > or || (ir == or && SEQ_GT(ip->td_end, op->td_end));

			if (take) {
				*op = *ip;
				c->fin_ooo[d] = in->fin_ooo[d];
			}
			/*
			 * Edges are learnt apart: an endpoint's data end where its
			 * segments pass, its right edge (the peer's ack and window)
			 * and its highest ack where the peer's and its own pass,
			 * which may be the other gateway. Each edge is the further
			 * of the two copies, once both copies know the endpoint.
			 */
			if (ir < 2 || or < 2)
				continue;
			const struct ctg_tcp_peer *other = take ? &mine : ip;

			if (SEQ_GT(other->td_end, op->td_end))
				op->td_end = other->td_end;
			if (SEQ_GT(other->td_maxend, op->td_maxend))
				op->td_maxend = other->td_maxend;
			if (other->td_maxwin > op->td_maxwin)
				op->td_maxwin = other->td_maxwin;
			if ((other->flags & op->flags & CTG_PEER_MAXACK) &&
			    SEQ_GT(other->td_maxack, op->td_maxack))
				op->td_maxack = other->td_maxack;
			/* a FIN one copy saw and the other did not (a state of the same rank) */
			if ((other->flags & CTG_PEER_FIN) && !(op->flags & CTG_PEER_FIN))
				tracker_tcp_sent_fin(c, (uint8_t)d);
		}
		settle_fins(c);
	} else if (in->proto_state > c->proto_state)
		c->proto_state = in->proto_state;       /* datagrams: replies seen, and so on */
	c->flags |= in->flags & MERGED_FLAGS;
	if (in->last_us > c->last_us)
		c->last_us = in->last_us;
}

int
ctg_tracker_apply(struct ctg_tracker *t, const struct ctg_conn_export *e, uint64_t now_us)
{
	const struct ctg_conn *in = &e->c;
	struct ctg_conn *c;
	uint8_t dir, keep = 0;
	bool quiet_before = false;

	if (!t->sync_of || !tracker_conn_sane(in))
		return -1;
	t->sync_applying = true;
	c = tracker_conn_find(t, &in->tuple, &dir);
	if (c) {
		uint8_t was = t->sync_of[idx_of(t, c)];

		keep = was & SY_LOCAL;
		quiet_before = (was & (SY_SYNCED | SY_LOCAL)) == SY_SYNCED;
		if (keep && t->sync_merge && c->id == in->id) {
			uint32_t i = idx_of(t, c);

			merge_conn(c, in);
			/*
			 * Split: the part the other member forwards shows here only
			 * through sync, so its edges lag for as long as it lives.
			 */
			t->sync_of[i] |= SY_SYNCED | SY_SENT | SY_SPLIT;
			if (c->tuple.proto == IPPROTO_TCP) {
				if (!(c->flags & CTG_CONN_CLOSED))
					t->sync_of[i] |= SY_RELEARN0 | SY_RELEARN1;
				tracker_tcp_set_tclass(t, c);
			} else
				tracker_evict_list_place(t, c, datagram_list(c));
			t->sync_st.merged++;
			t->sync_st.applied++;
			if (expired(t, c, now_us))
				tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
			t->sync_applying = false;
			return 0;
		}
		/*
		 * Forwarded here more recently than the sender's copy (both
		 * times on this clock): ours is the fresher state (a bulk after
		 * a partition, two gateways forwarding one connection).
		 */
		if (keep && c->last_us > in->last_us) {
			t->sync_applying = false;
			t->sync_st.apply_older++;
			return 0;
		}
	} else {
		c = tracker_conn_new(t, &in->tuple, t->last_hash, now_us);
		if (!c) {
			t->sync_applying = false;
			t->sync_st.apply_refused++;
			return -1;
		}
		/* created counts this gateway's new connections */
		t->st.created--;
	}
	uint32_t hnext = c->hnext, lprev = c->lprev, lnext = c->lnext;
	uint32_t i = idx_of(t, c);

	*c = *in;
	c->hnext = hnext;
	c->lprev = lprev;
	c->lnext = lnext;
	c->action &= (uint8_t)~ACTION_COUNTED_BIT;
	c->tprofile = 0;
	if (timeouts_set(&e->to))
		ctg_tracker_set_timeouts(t, c, &e->to);
	if (!keep && !quiet_before)
		t->sync_st.synced_live++;
	/* known to the sender, not to be echoed back; SENT so that an end here goes out */
	t->sync_of[i] = keep | SY_SYNCED | SY_SENT;
	t->sync_upd[i] = 0;
	if (c->tuple.proto == IPPROTO_TCP) {
		/*
		 * Offloaded on the sender (issue 19): its edges stopped where the
		 * kernel took the data over, and this gateway's kernel has no
		 * mark for it, so every segment comes here. Carried as a
		 * pick-up: both sides re-learn their edges from their segments
		 * (liberal), and this gateway offloads it anew once it qualifies.
		 */
		if (c->proto_state & CTG_CONN_OFFLOADED) {
			c->proto_state &= (uint8_t)~CTG_CONN_OFFLOADED;
			c->peer[0].flags |= CTG_PEER_LIBERAL;
			c->peer[1].flags |= CTG_PEER_LIBERAL;
			t->sync_st.applied_offloaded++;
		}
		if (!(c->flags & CTG_CONN_CLOSED) &&
		    !((c->peer[0].flags | c->peer[1].flags) & CTG_PEER_LIBERAL)) {
			t->sync_of[i] |= SY_RELEARN0 | SY_RELEARN1;
			t->sync_relearn_ms[i] = 0;
		}
		tracker_tcp_set_tclass(t, c);
	} else {
		/*
		 * A UDP flow offloaded on the sender: its datagrams come here (no
		 * mark in this kernel), an answered flow like any other, which
		 * this gateway may offload anew. The sender saw none of them
		 * since the hand-over: alive for one timeout from now.
		 */
		if (c->tuple.proto == IPPROTO_UDP && (c->peer[0].flags & CTG_PEER_DGRAM_OFFLOADED)) {
			c->peer[0].flags &= (uint8_t)~CTG_PEER_DGRAM_OFFLOADED;
			c->tclass = c->proto_state == 2 ? TC_UDP_ASSURED : TC_UDP_REPLIED;
			c->last_us = now_us;
			t->sync_st.applied_offloaded++;
		}
		tracker_evict_list_place(t, c, datagram_list(c));
	}
	t->sync_st.applied++;
	if (expired(t, c, now_us))
		tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
	t->sync_applying = false;
	return 0;
}

int
ctg_tracker_remove(struct ctg_tracker *t, const struct ctg_tuple *tuple, uint64_t id,
    enum ctg_end_reason why, uint64_t now_us)
{
	struct ctg_conn *c;
	uint8_t dir;

	c = tracker_conn_find(t, tuple, &dir);
	/* a tuple reused since (a new connection, a new id) is not the one that ended */
	if (!c || (id && c->id != id))
		return -1;
	t->sync_applying = true;
	if (t->sync_of)
		t->sync_st.removed++;
	tracker_conn_end(t, c, why, now_us);
	t->sync_applying = false;
	return 0;
}

bool
ctg_tracker_conn_synced(const struct ctg_tracker *t, const struct ctg_conn *c)
{
	return t->sync_of && (t->sync_of[idx_of(t, c)] & (SY_SYNCED | SY_LOCAL)) == SY_SYNCED;
}

void
ctg_tracker_sync_stats(const struct ctg_tracker *t, struct ctg_tracker_sync_stats *st)
{
	*st = t->sync_st;
}

/*
 * Re-learning the edges of a synced TCP entry. The sender's edges lag
 * (by up to an interval, max_updates packets or a quarter window): after a
 * failover the first segments each way may lie beyond them. A segment of
 * a side still re-learning that the strict checks refuse passes them (as
 * after a checkpoint restore, CTG_PEER_LIBERAL for this one segment) only
 * if its sequence range and its ack fall within one maximum window (the
 * larger of the two synced scaled windows) of the edges; anything else,
 * and every RST and SYN, is judged strictly. Re-learning lasts RELEARN_MS
 * from the entry's first packet here (the first burst after a takeover
 * mixes both sides' segments with acks of data that crossed the other
 * gateway only), as after a checkpoint restore; then every check is strict.
 * A connection split between active/active members (a merge, above)
 * re-learns for as long as it lives: the part another member forwards is
 * seen here only through sync. What the segment's own direction decides
 * (flags, the state machine, RST exactness, SYN rules) stays strict.
 */
uint8_t
tracker_sync_relearn_begin(struct ctg_tracker *t, struct ctg_conn *c, uint8_t dir,
    const struct ctg_packet *p, uint64_t now_us)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint32_t i = idx_of(t, c), ms = (uint32_t)(now_us / 1000);
	uint32_t w, seq, end;

	if (!(t->sync_of[i] & (SY_RELEARN0 << dir)))
		return SYNC_RELEARN_NO;
	/* split between members (active-active): the other part's edges lag for good */
	if (!(t->sync_of[i] & SY_SPLIT)) {
		if (t->sync_relearn_ms[i] == 0)
			t->sync_relearn_ms[i] = (ms + RELEARN_MS) | 1;
		else if ((int32_t)(ms - t->sync_relearn_ms[i]) >= 0) {
			t->sync_of[i] &= (uint8_t)~(SY_RELEARN0 | SY_RELEARN1);
			return SYNC_RELEARN_NO;
		}
	}
	if (((s->flags | r->flags) & CTG_PEER_LIBERAL) ||
	    (p->tcp.flags & (CTG_TH_RST | CTG_TH_SYN)))
		return SYNC_RELEARN_STRICT;
	w = s->td_maxwin > r->td_maxwin ? s->td_maxwin : r->td_maxwin;
	if (w == 0)
		w = 1;
	seq = p->tcp.seq;
	end = seq + p->payload_len + ((p->tcp.flags & CTG_TH_FIN) ? 1 : 0);
	if (SEQ_LT(seq, s->td_end - w) || SEQ_GT(end, s->td_maxend + w))
		return SYNC_RELEARN_STRICT;
	if ((p->tcp.flags & CTG_TH_ACK) &&
	    (SEQ_LT(p->tcp.ack, r->td_end - w) || SEQ_GT(p->tcp.ack, r->td_maxend + w)))
		return SYNC_RELEARN_STRICT;
	return SYNC_RELEARN_CANDIDATE;
}

void
tracker_sync_relearn_end(struct ctg_tracker *t, struct ctg_conn *c, uint8_t dir,
    uint8_t token, enum ctg_reason why)
{
	if (token != SYNC_RELEARN_LOOSE)
		return;
	c->peer[dir].flags &= (uint8_t)~CTG_PEER_LIBERAL;
	if (why != CTG_R_TCP_REOPEN && ctg_reason_class(why) != CTG_RC_INVALID)
		t->sync_st.relearned++;
}
