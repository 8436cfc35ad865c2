/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: the table. Hashing, the pool, the eviction lists,
 * timeouts, finding, creating and ending entries, and the public entry
 * points; ctg_tracker_packet hands each packet to its protocol's room.
 * The map of the rooms and the table's design: tracker-int.h.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ctguard/clock.h"
#include "ctguard/timeouts.h"
#include "ctguard/tracker.h"
#include "tracker-int.h"

/* A class's timeout in a set of timeouts (0: not set there). */
static uint32_t
class_timeout(const struct ctg_timeouts *to, unsigned cls)
{
	switch (cls) {
#define CTG_X_FIELD(sym, key, def, doc) case CTG_TO_##sym: return to->key;
	CTG_TIMEOUT_CLASSES(CTG_X_FIELD)
#undef CTG_X_FIELD
	}
	return 0;
}

/* --- hashing ----------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND \
	do { \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

/* SipHash-1-3 over whole 64-bit words: keyed, and cheap for a 40-byte key. */
static uint64_t
siphash13(const uint64_t seed[2], const uint64_t *w, size_t nwords)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ seed[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ seed[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ seed[0];
	uint64_t v3 = 0x7465646279746573ULL ^ seed[1];

	for (size_t i = 0; i < nwords; i++) {
		v3 ^= w[i];
		SIPROUND;
		v0 ^= w[i];
	}
	uint64_t b = (uint64_t)(nwords * 8) << 56;
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Put the lower (address, port) endpoint first so both directions hash alike. */
uint32_t
tracker_tuple_hash(const struct ctg_tracker *t, const struct ctg_tuple *tp)
{
	uint64_t w[5], sa[2], da[2];
	uint16_t pa = tp->sport, pb = tp->dport;

	/* any order will do as long as both directions agree on it */
	memcpy(sa, tp->src.b, 16);
	memcpy(da, tp->dst.b, 16);
	if (sa[0] > da[0] || (sa[0] == da[0] && (sa[1] > da[1] ||
	    (sa[1] == da[1] && pa > pb)))) {
		w[0] = da[0];
		w[1] = da[1];
		w[2] = sa[0];
		w[3] = sa[1];
		pa = tp->dport;
		pb = tp->sport;
	} else {
		w[0] = sa[0];
		w[1] = sa[1];
		w[2] = da[0];
		w[3] = da[1];
	}
	w[4] = (uint64_t)pa | (uint64_t)pb << 16 | (uint64_t)tp->proto << 32 |
	    (uint64_t)tp->family << 40;
	return (uint32_t)siphash13(t->seed, w, 5);
}

static bool
tuple_eq(const struct ctg_tuple *a, const struct ctg_tuple *b)
{
	return a->sport == b->sport && a->dport == b->dport &&
	    a->proto == b->proto && a->family == b->family &&
	    memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	    memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

static bool
tuple_eq_reversed(const struct ctg_tuple *a, const struct ctg_tuple *b)
{
	return a->sport == b->dport && a->dport == b->sport &&
	    a->proto == b->proto && a->family == b->family &&
	    memcmp(&a->src, &b->dst, sizeof(a->src)) == 0 &&
	    memcmp(&a->dst, &b->src, sizeof(a->dst)) == 0;
}

/* --- pool, lists, timeouts ---------------------------------------------- */

static void
evict_list_remove(struct ctg_tracker *t, struct ctg_conn *c)
{
	uint32_t i = idx_of(t, c);
	struct evict_list *l;

	if (t->list_of[i] == L_NONE)
		return;
	l = &t->lists[t->list_of[i]];
	if (c->lprev)
		t->pool[c->lprev - 1].lnext = c->lnext;
	else
		l->head = c->lnext;
	if (c->lnext)
		t->pool[c->lnext - 1].lprev = c->lprev;
	else
		l->tail = c->lprev;
	c->lprev = c->lnext = 0;
	l->count--;
	t->list_of[i] = L_NONE;
}

/* The move itself; tracker_evict_list_place (tracker-int.h) filters out the common no-op. */
void
tracker_evict_list_move(struct ctg_tracker *t, struct ctg_conn *c, uint8_t which)
{
	uint32_t i = idx_of(t, c);
	struct evict_list *l = &t->lists[which];

	evict_list_remove(t, c);
	if (which == L_NONE)
		return;
	c->lprev = l->tail;
	c->lnext = 0;
	if (l->tail)
		t->pool[l->tail - 1].lnext = i + 1;
	else
		l->head = i + 1;
	l->tail = i + 1;
	l->count++;
	t->list_of[i] = which;
}

uint32_t
tracker_timeout_of(const struct ctg_tracker *t, const struct ctg_conn *c)
{
	uint32_t v = t->timeout[c->tclass];

	if (c->tprofile) {
		const struct ctg_timeouts *p = &t->profiles[c->tprofile - 1];
		uint32_t o = class_timeout(p, c->tclass);

		if (o)
			v = o;
	}
	/* pf-style adaptive timeouts: shrink linearly as the table fills. */
	if (t->adaptive_end && t->live > t->adaptive_start) {
		if (t->live >= t->adaptive_end)
			return 0;
		v = (uint32_t)((uint64_t)v * (t->adaptive_end - t->live) /
		    (t->adaptive_end - t->adaptive_start));
	}
	return v;
}

static void
conn_unlink(struct ctg_tracker *t, struct ctg_conn *c)
{
	uint32_t b = tracker_tuple_hash(t, &c->tuple) & (t->nbuckets - 1);
	uint32_t *pp = &t->buckets[b];
	uint32_t i = idx_of(t, c) + 1;

	while (*pp && *pp != i)
		pp = &t->pool[*pp - 1].hnext;
	if (*pp == i)
		*pp = c->hnext;
	evict_list_remove(t, c);
}

static void
conn_release(struct ctg_tracker *t, struct ctg_conn *c)
{
	memset(c, 0, sizeof(*c));
	if (t->sync_of)
		t->sync_of[idx_of(t, c)] = 0;
	c->hnext = t->free_head;
	t->free_head = idx_of(t, c) + 1;
	t->live--;
}

/* End c: tell the owner (only for connections that ever passed), free it. */
void
tracker_conn_end(struct ctg_tracker *t, struct ctg_conn *c, enum ctg_end_reason why,
    uint64_t now_us)
{
	conn_unlink(t, c);
	if (why == CTG_END_TIMEOUT && conn_dead(c))
		why = (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)) ?
		    CTG_END_RESET : CTG_END_CLOSED;
	if ((unsigned)why < 8)
		t->st.ended[why]++;
	/* an entry only another gateway forwarded is that gateway's to record */
	bool quiet = t->sync_of && (t->sync_of[idx_of(t, c)] & (SY_SYNCED | SY_LOCAL)) == SY_SYNCED;

	if (t->sync_of)
		tracker_sync_ended(t, c, why);
	if (t->end_fn && (c->flags & CTG_CONN_CONFIRMED) && !quiet) {
		struct ctg_conn_record rec;

		ctg_conn_summary(c, why, &rec);
		t->end_fn(t->end_arg, c, &rec);
	}
	conn_release(t, c);
}

/*
 * Find tp's connection. The hash is left in t->last_hash for
 * tracker_conn_new, which nearly always follows a miss with the same tuple.
 */
struct ctg_conn *
tracker_conn_find(struct ctg_tracker *t, const struct ctg_tuple *tp, uint8_t *dir)
{
	uint32_t h = tracker_tuple_hash(t, tp);
	uint32_t b = h & (t->nbuckets - 1);

	t->last_hash = h;
	for (uint32_t i = t->buckets[b]; i; i = t->pool[i - 1].hnext) {
		struct ctg_conn *c = &t->pool[i - 1];

		if (tuple_eq(&c->tuple, tp)) {
			*dir = 0;
			return c;
		}
		if (tuple_eq_reversed(&c->tuple, tp)) {
			*dir = 1;
			return c;
		}
	}
	return NULL;
}

/*
 * Make room by ending the evictable entry idle the longest, from either
 * list; false when none is. Not the unanswered list first: once closing
 * entries (TIME_WAIT of real connections, half-open entries the server
 * answered for a spoofed client, picked-up flows it reset) fill the
 * table, the unanswered list holds only what arrived in the last
 * microseconds, among them real SYNs whose SYN/ACK is on its way, and a
 * flood would end each of them before its answer came back (measured by
 * tests/e2e/e2e_flood.sh: 8-27% of new connections lost). The budget in
 * tracker_conn_new still ends the oldest unanswered entry first.
 */
static bool
evict_one(struct ctg_tracker *t, uint64_t now_us)
{
	uint32_t i = t->lists[L_UNANSWERED].head, k = t->lists[L_CLOSING].head;

	if (!i || (k && t->pool[k - 1].last_us < t->pool[i - 1].last_us))
		i = k;
	if (!i)
		return false;
	t->st.evicted++;
	tracker_conn_end(t, &t->pool[i - 1], CTG_END_EVICTED, now_us);
	return true;
}

/* hash: tracker_tuple_hash(tp), which the tracker_conn_find before computed */
struct ctg_conn *
tracker_conn_new(struct ctg_tracker *t, const struct ctg_tuple *tp, uint32_t hash,
    uint64_t now_us)
{
	/*
	 * Every new entry is unanswered. Their share of the table is
	 * bounded, so a flood of spoofed first packets (SYNs, ACKs picked up
	 * midstream, datagrams) recycles its own entries and never crowds
	 * out the connections both sides speak in.
	 */
	if (t->lists[L_UNANSWERED].count >= t->unanswered_max) {
		t->st.evicted++;
		tracker_conn_end(t, &t->pool[t->lists[L_UNANSWERED].head - 1], CTG_END_EVICTED, now_us);
	}
	if (!t->free_head && !evict_one(t, now_us)) {
		t->st.refused++;
		return NULL;
	}
	struct ctg_conn *c = &t->pool[t->free_head - 1];
	t->free_head = c->hnext;
	memset(c, 0, sizeof(*c));
	c->tuple = *tp;
	c->id = t->next_id++;
	c->first_us = c->last_us = now_us;
	c->rule_index = -1;
	uint32_t b = hash & (t->nbuckets - 1);
	c->hnext = t->buckets[b];
	t->buckets[b] = idx_of(t, c) + 1;
	t->live++;
	t->st.created++;
	tracker_evict_list_place(t, c, L_UNANSWERED);
	return c;
}

/* --- public ------------------------------------------------------------- */

void
ctg_tracker_config_from(struct ctg_tracker_config *tc, const struct ctg_config *cfg)
{
	memset(tc, 0, sizeof(*tc));
	tc->max_connections = cfg->max_connections;
	tc->midstream = cfg->midstream;
	tc->adaptive_start_pct = cfg->adaptive_start_pct;
	tc->adaptive_end_pct = cfg->adaptive_end_pct;
	tc->timeouts = cfg->timeouts;
	tc->unanswered_pct = cfg->unanswered_pct;
	tc->rst_grace = cfg->rst_grace;
}

struct ctg_tracker *
ctg_tracker_new(const struct ctg_tracker_config *tc, ctg_conn_end_fn end_fn,
    void *end_arg)
{
	struct ctg_tracker *t;
	uint32_t max = tc->max_connections ? tc->max_connections : 65536;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->max = max;
	/* about two entries per bucket keeps the index share near 2 bytes */
	t->nbuckets = 1;
	while (t->nbuckets < max / 2 && t->nbuckets < (1u << 31))
		t->nbuckets <<= 1;
	t->pool = calloc(max, sizeof(*t->pool));
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->list_of = calloc(max, sizeof(*t->list_of));
	if (!t->pool || !t->buckets || !t->list_of) {
		ctg_tracker_free(t);
		return NULL;
	}
	for (uint32_t i = max; i > 0; i--) {
		t->pool[i - 1].hnext = t->free_head;
		t->free_head = i;
	}
	if (tc->hash_seed[0] || tc->hash_seed[1]) {
		t->seed[0] = tc->hash_seed[0];
		t->seed[1] = tc->hash_seed[1];
	} else if (getrandom(t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed)) {
		uint64_t us = ctg_clock_mono_us();

		t->seed[0] = us * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
		t->seed[1] = us / 1000000 ^ 0xda942042e4dd58b5ULL;
	}
	if (tc->id_base)
		t->next_id = tc->id_base;
	else {
		t->next_id = ctg_clock_wall_us();
	}
	t->midstream = tc->midstream;
	uint32_t pct = tc->unanswered_pct ? tc->unanswered_pct : CTG_UNANSWERED_PCT_DEFAULT;
	t->unanswered_max = (uint32_t)((uint64_t)max * (pct > 100 ? 100 : pct) / 100);
	if (t->unanswered_max == 0)
		t->unanswered_max = 1;
	if (tc->adaptive_end_pct > tc->adaptive_start_pct) {
		t->adaptive_start = (uint32_t)((uint64_t)max * tc->adaptive_start_pct / 100);
		t->adaptive_end = (uint32_t)((uint64_t)max * tc->adaptive_end_pct / 100);
	}
	const struct ctg_timeouts *to = &tc->timeouts;
	for (unsigned cls = 0; cls < TC_COUNT; cls++)
		t->timeout[cls] = class_timeout(to, cls);
	t->rst_grace_us = (uint64_t)tc->rst_grace * 1000000ULL;
	t->end_fn = end_fn;
	t->end_arg = end_arg;
	t->st.max = max;
	return t;
}

void
ctg_tracker_free(struct ctg_tracker *t)
{
	if (!t)
		return;
	free(t->pool);
	free(t->buckets);
	free(t->list_of);
	free(t->sync_of);
	free(t->sync_upd);
	free(t->sync_edges);
	free(t->sync_relearn_ms);
	free(t->sync_ring);
	free(t->sync_ends);
	free(t);
}

void
ctg_tracker_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    enum ctg_reason decode, uint64_t now_us, struct ctg_track_result *res)
{
	memset(res, 0, sizeof(*res));
	t->st.packets++;
	if (decode != CTG_R_NONE) {
		res->ctstate = CTG_CT_INVALID;
		res->reason = decode;
	} else if (p->tuple.proto == IPPROTO_TCP) {
		tracker_tcp_packet(t, p, now_us, res);
	} else if ((p->tuple.proto == IPPROTO_ICMP || p->tuple.proto == IPPROTO_ICMPV6) &&
	    p->icmp.is_error) {
		tracker_icmp_error_packet(t, p, now_us, res);
	} else if ((p->tuple.proto == IPPROTO_ICMP || p->tuple.proto == IPPROTO_ICMPV6) &&
	    !p->icmp.is_query) {
		/* neighbour discovery, router adverts, MLD: nothing to track */
		res->ctstate = CTG_CT_NEW;
		res->reason = CTG_R_NONE;
	} else {
		tracker_datagram_packet(t, p, now_us, res);
	}
	if (res->conn && p->tuple.proto != IPPROTO_TCP) {
		res->before[0] = res->after[0] = CTG_TCPS_NONE;
		res->before[1] = res->after[1] = CTG_TCPS_NONE;
	}
	t->st.ctstate[res->ctstate]++;
	if ((unsigned)res->reason < CTG_R_COUNT)
		t->st.reason[res->reason]++;
	if (t->sync_of)
		t->sync_changed = res->created || res->before[0] != res->after[0] ||
		    res->before[1] != res->after[1];
}

void
ctg_tracker_account(struct ctg_tracker *t, struct ctg_conn *c, uint8_t dir,
    uint32_t bytes)
{
	c->flags |= CTG_CONN_CONFIRMED;
	c->pkts[dir & 1]++;
	c->bytes[dir & 1] += bytes;
	if (t->sync_of) {
		uint32_t i = idx_of(t, c);

		/* the common case inline: marked already, on the ring since the last drain */
		if ((t->sync_of[i] & (SY_DIRTY | SY_LOCAL)) == (SY_DIRTY | SY_LOCAL)) {
			if (t->sync_changed)
				tracker_sync_changed_state(t, c, i);
			t->sync_upd[i]++;
			if (tracker_sync_due(t, c, i))
				t->sync_urgent = 2;
			return;
		}
		tracker_sync_mark(t, c);
	}
}

bool
ctg_tracker_offload_ready(const struct ctg_conn *c, const struct ctg_packet *p,
    const struct ctg_track_result *res, uint32_t after_packets, uint64_t after_bytes)
{
	if (!c || res->conn != c || res->ctstate != CTG_CT_ESTABLISHED ||
	    ctg_conn_offloaded(c) || !(c->flags & CTG_CONN_VERDICT))
		return false;
	if (c->tuple.proto == IPPROTO_TCP) {
		if ((p->tcp.flags & (CTG_TH_SYN | CTG_TH_FIN | CTG_TH_RST)) ||
		    c->peer[0].state != CTG_TCPS_ESTABLISHED ||
		    c->peer[1].state != CTG_TCPS_ESTABLISHED ||
		    ((c->peer[0].flags | c->peer[1].flags) & CTG_PEER_LIBERAL))
			return false;
	} else if (c->tuple.proto != IPPROTO_UDP || !(c->flags & CTG_CONN_SEEN_REPLY)) {
		/* ICMP and other protocols stay here: the fast path has rules for TCP and UDP only */
		return false;
	}
	return (uint64_t)c->pkts[0] + c->pkts[1] >= after_packets &&
	    c->bytes[0] + c->bytes[1] >= after_bytes;
}

uint32_t
ctg_tracker_conn_slot(const struct ctg_tracker *t, const struct ctg_conn *c)
{
	return idx_of(t, c);
}

void
ctg_tracker_unconfirm(struct ctg_tracker *t, struct ctg_conn *c)
{
	if (c->flags & CTG_CONN_CONFIRMED)
		return;
	conn_unlink(t, c);
	conn_release(t, c);
	t->st.created--;
}

int
ctg_tracker_set_timeouts(struct ctg_tracker *t, struct ctg_conn *c,
    const struct ctg_timeouts *ovr)
{
	for (unsigned i = 0; i < t->nprofiles; i++) {
		if (memcmp(&t->profiles[i], ovr, sizeof(*ovr)) == 0) {
			c->tprofile = (uint8_t)(i + 1);
			return 0;
		}
	}
	if (t->nprofiles >= MAX_PROFILES)
		return -1;
	t->profiles[t->nprofiles] = *ovr;
	c->tprofile = (uint8_t)++t->nprofiles;
	return 0;
}

size_t
ctg_tracker_sweep(struct ctg_tracker *t, uint64_t now_us, size_t budget)
{
	size_t ended = 0;

	for (size_t n = 0; n < budget && n < t->max; n++) {
		struct ctg_conn *c = &t->pool[t->sweep_hand];

		if (++t->sweep_hand == t->max)
			t->sweep_hand = 0;
		if (c->id != 0 && expired(t, c, now_us)) {
			tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
			ended++;
		}
	}
	return ended;
}

void
ctg_tracker_flush(struct ctg_tracker *t, enum ctg_end_reason why, uint64_t now_us)
{
	for (uint32_t i = 0; i < t->max; i++)
		if (t->pool[i].id != 0)
			tracker_conn_end(t, &t->pool[i], why, now_us);
}

void
ctg_tracker_end(struct ctg_tracker *t, struct ctg_conn *c, enum ctg_end_reason why,
    uint64_t now_us)
{
	tracker_conn_end(t, c, why, now_us);
}

int
ctg_tracker_kill(struct ctg_tracker *t, uint64_t id, uint64_t now_us)
{
	for (uint32_t i = 0; i < t->max; i++) {
		if (t->pool[i].id == id) {
			tracker_conn_end(t, &t->pool[i], CTG_END_KILLED, now_us);
			return 0;
		}
	}
	return -1;
}

void
ctg_tracker_foreach(struct ctg_tracker *t, ctg_conn_visit_fn fn, void *arg)
{
	for (uint32_t i = 0; i < t->max; i++)
		if (t->pool[i].id != 0 && fn(arg, &t->pool[i]) != 0)
			return;
}

size_t
ctg_tracker_foreach_from(struct ctg_tracker *t, size_t start, size_t count,
    ctg_conn_visit_fn fn, void *arg)
{
	size_t end = start + count < t->max ? start + count : t->max;

	for (size_t i = start; i < end; i++)
		if (t->pool[i].id != 0 && fn(arg, &t->pool[i]) != 0)
			return t->max;
	return end;
}

struct ctg_conn *
ctg_tracker_lookup(struct ctg_tracker *t, const struct ctg_tuple *tuple, uint8_t *dir)
{
	uint8_t d = 0;
	struct ctg_conn *c = tracker_conn_find(t, tuple, &d);

	if (dir)
		*dir = d;
	return c;
}

void
ctg_tracker_stats(const struct ctg_tracker *t, struct ctg_tracker_stats *st)
{
	*st = t->st;
	st->live = t->live;
	st->max = t->max;
}

size_t
ctg_tracker_bytes_per_entry(const struct ctg_tracker *t)
{
	return sizeof(struct ctg_conn) + sizeof(*t->list_of) +
	    ((size_t)t->nbuckets * sizeof(uint32_t) + t->max - 1) / t->max;
}

size_t
ctg_tracker_memory(const struct ctg_tracker *t)
{
	return sizeof(*t) + (size_t)t->max * (sizeof(struct ctg_conn) + sizeof(*t->list_of)) +
	    (size_t)t->nbuckets * sizeof(uint32_t);
}
