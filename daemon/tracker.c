/*
 * Connection tracker.
 *
 * The table: a preallocated pool of struct ctg_conn, chained into a bucket
 * array by a keyed SipHash of the direction-independent 5-tuple (the seed is
 * random per process, so crafted tuples cannot pile into one chain). Free
 * slots are chained through hnext. Entries that may be evicted first (not
 * yet established, or closing) sit on one list in the order they became
 * evictable; established entries are on no list and are never evicted to
 * make room: when only they remain, a new connection is refused and counted.
 *
 * Expiry is by timestamp: an entry is dead once last_us + its timeout has
 * passed. Lookups treat dead entries as absent and end them; a clock-hand
 * sweep ends the ones nobody looks up, a bounded number per call.
 *
 * TCP follows each endpoint through the RFC 793 states as seen from the
 * middle, with sequence-space checks after van Rooij (as Linux and pf do):
 * see tcp_segment() for the bounds and why each failure is INVALID or only
 * a note.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ctguard/timeouts.h"
#include "ctguard/tracker.h"

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

/* An ack may trail the newest data by this much before it is implausible. */
#define MAXACKWINDOW_MIN 66000
#define RETRANS_LIMIT 3
#define MAX_PROFILES 254

/* The timeout classes are timeouts.h's list, in its order. */
enum tclass {
#define CTG_X_TCLASS(sym, key, def, doc) TC_##sym = CTG_TO_##sym,
	CTG_TIMEOUT_CLASSES(CTG_X_TCLASS)
#undef CTG_X_TCLASS
	TC_COUNT = CTG_TO_COUNT
};

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

/* History letters, Zeek's alphabet; upper case for the originator. */
enum hist_bit {
	H_SYN, H_SYNACK, H_ACK, H_DATA, H_FIN, H_RST, H_BADSUM, H_RETRANS,
	H_ZEROWIN, H_MULTIFLAG, H_INCONSISTENT, H_GAP,
};
static const char hist_letter[] = "SHADFRCTWQIG";

struct ctg_tracker {
	struct ctg_conn *pool;
	uint32_t *buckets;              /* pool index + 1, 0 = empty */
	uint32_t nbuckets;              /* power of two */
	uint32_t max;
	uint32_t live;
	uint32_t free_head;             /* pool index + 1 */
	/*
	 * Entries that may be ended to make room, oldest first, in two
	 * lists: those one side has not answered (half-open, pick-ups,
	 * unreplied datagrams), which go first and may hold at most
	 * unanswered_max entries, and those closing. An entry both sides
	 * have spoken in is on neither: it is never ended to make room.
	 */
	struct evict_list {
		uint32_t head, tail;    /* pool index + 1 */
		uint32_t count;
	} lists[3];
	uint8_t *list_of;               /* per pool slot: L_* */
	uint32_t unanswered_max;
	uint32_t sweep_hand;
	uint64_t seed[2];
	uint64_t next_id;
	enum ctg_midstream midstream;
	uint32_t adaptive_start, adaptive_end;  /* in entries; 0 = off */
	uint32_t timeout[TC_COUNT];
	uint64_t rst_grace_us;          /* 0: off */
	struct ctg_timeouts profiles[MAX_PROFILES];
	unsigned nprofiles;
	uint32_t last_hash;             /* of the tuple conn_find looked up last */
	ctg_related_fn related_fn;      /* look in other trackers (other queues) */
	void *related_arg;
	ctg_conn_end_fn end_fn;
	void *end_arg;
	struct ctg_tracker_stats st;
};

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
static uint32_t
tuple_hash(const struct ctg_tracker *t, const struct ctg_tuple *tp)
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

static void
tuple_reverse(struct ctg_tuple *out, const struct ctg_tuple *in)
{
	*out = *in;
	out->src = in->dst;
	out->dst = in->src;
	out->sport = in->dport;
	out->dport = in->sport;
}

/* --- pool, lists, timeouts ---------------------------------------------- */

static inline uint32_t
idx_of(const struct ctg_tracker *t, const struct ctg_conn *c)
{
	return (uint32_t)(c - t->pool);
}

enum { L_NONE, L_CLOSING, L_UNANSWERED };

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

/* Put c at the young end of list which, unless it is on that list already. */
static void
evict_list_place(struct ctg_tracker *t, struct ctg_conn *c, uint8_t which)
{
	uint32_t i = idx_of(t, c);
	struct evict_list *l = &t->lists[which];

	if (t->list_of[i] == which)
		return;
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

static uint32_t
timeout_of(const struct ctg_tracker *t, const struct ctg_conn *c)
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

static bool
expired(const struct ctg_tracker *t, const struct ctg_conn *c, uint64_t now_us)
{
	return now_us >= c->last_us + (uint64_t)timeout_of(t, c) * 1000000ULL;
}

static void
conn_unlink(struct ctg_tracker *t, struct ctg_conn *c)
{
	uint32_t b = tuple_hash(t, &c->tuple) & (t->nbuckets - 1);
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
	c->hnext = t->free_head;
	t->free_head = idx_of(t, c) + 1;
	t->live--;
}

static bool
conn_dead(const struct ctg_conn *c)
{
	uint8_t o = c->peer[0].state, r = c->peer[1].state;

	if (c->flags & CTG_CONN_CLOSED)
		return true;
	if (c->tuple.proto != IPPROTO_TCP)
		return false;
	return (o == CTG_TCPS_TIME_WAIT || o == CTG_TCPS_CLOSED) &&
	    (r == CTG_TCPS_TIME_WAIT || r == CTG_TCPS_CLOSED);
}

/* End c: tell the owner (only for connections that ever passed), free it. */
static void
conn_end(struct ctg_tracker *t, struct ctg_conn *c, enum ctg_end_reason why,
    uint64_t now_us)
{
	conn_unlink(t, c);
	if (why == CTG_END_TIMEOUT && conn_dead(c))
		why = (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)) ?
		    CTG_END_RESET : CTG_END_CLOSED;
	if ((unsigned)why < 8)
		t->st.ended[why]++;
	if (t->end_fn && (c->flags & CTG_CONN_CONFIRMED)) {
		struct ctg_conn_record rec;

		ctg_conn_summary(c, why, &rec);
		t->end_fn(t->end_arg, c, &rec);
	}
	conn_release(t, c);
}

/*
 * Find tp's connection. The hash is left in t->last_hash for conn_new,
 * which nearly always follows a miss with the same tuple.
 */
static struct ctg_conn *
conn_find(struct ctg_tracker *t, const struct ctg_tuple *tp, uint8_t *dir)
{
	uint32_t h = tuple_hash(t, tp);
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

/* Make room by ending the oldest evictable entry; false when none is. */
static bool
evict_one(struct ctg_tracker *t, uint64_t now_us)
{
	uint32_t i = t->lists[L_UNANSWERED].head;

	if (!i)
		i = t->lists[L_CLOSING].head;
	if (!i)
		return false;
	t->st.evicted++;
	conn_end(t, &t->pool[i - 1], CTG_END_EVICTED, now_us);
	return true;
}

/* hash: tuple_hash(tp), which the conn_find before has just computed */
static struct ctg_conn *
conn_new(struct ctg_tracker *t, const struct ctg_tuple *tp, uint32_t hash,
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
		conn_end(t, &t->pool[t->lists[L_UNANSWERED].head - 1], CTG_END_EVICTED, now_us);
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
	evict_list_place(t, c, L_UNANSWERED);
	return c;
}

/* Whether dir's history holds a letter, or (any) any letter at all. */
static bool
hist_has(const struct ctg_conn *c, uint8_t dir, char upper, bool any)
{
	size_t n = strnlen(c->history, sizeof(c->history));

	for (size_t i = 0; i < n; i++) {
		char h = c->history[i];
		bool mine = dir == 0 ? (h >= 'A' && h <= 'Z') : (h >= 'a' && h <= 'z');

		if (mine && (any || h == (dir == 0 ? upper : (char)(upper - 'A' + 'a'))))
			return true;
	}
	return false;
}

static void
hist_add(struct ctg_conn *c, uint8_t dir, enum hist_bit bit)
{
	char l = dir == 0 ? hist_letter[bit] : (char)(hist_letter[bit] - 'A' + 'a');

	/* each letter once per direction: the string itself says which are in */
	if (memchr(c->history, l, strnlen(c->history, sizeof(c->history))))
		return;
	size_t n = strnlen(c->history, sizeof(c->history));
	if (n + 1 < sizeof(c->history)) {
		c->history[n] = l;
		c->history[n + 1] = '\0';
	}
}

/* --- TCP ---------------------------------------------------------------- */

static bool
peer_closing(uint8_t s)
{
	return s >= CTG_TCPS_FIN_WAIT_1;
}

/* Choose the timeout class after a TCP packet, shortest cause first. */
static void
tcp_set_tclass(struct ctg_tracker *t, struct ctg_conn *c)
{
	uint8_t o = c->peer[0].state, r = c->peer[1].state;
	enum tclass tc;

	if (c->flags & CTG_CONN_CLOSED)
		tc = (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)) ?
		    TC_CLOSE : TC_TIME_WAIT;
	else if (o == CTG_TCPS_TIME_WAIT || r == CTG_TCPS_TIME_WAIT ||
	    o == CTG_TCPS_CLOSED || r == CTG_TCPS_CLOSED)
		tc = TC_TIME_WAIT;
	else if (o == CTG_TCPS_LAST_ACK || r == CTG_TCPS_LAST_ACK)
		tc = TC_LAST_ACK;
	else if (o == CTG_TCPS_CLOSE_WAIT || r == CTG_TCPS_CLOSE_WAIT)
		tc = TC_CLOSE_WAIT;
	else if (peer_closing(o) || peer_closing(r))
		tc = TC_FIN_WAIT;
	else if (r == CTG_TCPS_LISTEN || r == CTG_TCPS_NONE)
		tc = TC_SYN_SENT;
	else if (o == CTG_TCPS_SYN_SENT || o == CTG_TCPS_SYN_RCVD ||
	    r == CTG_TCPS_SYN_SENT || r == CTG_TCPS_SYN_RCVD)
		tc = TC_SYN_RCVD;
	else
		tc = TC_ESTABLISHED;

	if (tc == TC_ESTABLISHED) {
		if ((c->flags & CTG_CONN_MIDSTREAM) && !(c->flags & CTG_CONN_SEEN_REPLY))
			tc = TC_UNACKED;
		else if (c->peer[0].retrans >= RETRANS_LIMIT ||
		    c->peer[1].retrans >= RETRANS_LIMIT)
			tc = TC_RETRANS;
		else if ((c->peer[0].flags | c->peer[1].flags) & CTG_PEER_UNACKED)
			tc = TC_UNACKED;
		if (tc != TC_ESTABLISHED &&
		    t->timeout[tc] > t->timeout[TC_ESTABLISHED])
			tc = TC_ESTABLISHED;
	}
	c->tclass = (uint8_t)tc;

	/*
	 * Open connections are never evicted to make room, once both sides
	 * have spoken: a pick-up the other side never answered is as cheap
	 * to forge as a SYN and is treated like one.
	 */
	bool answered = (c->peer[0].flags & c->peer[1].flags & CTG_PEER_SEEN) != 0;
	bool open = tc == TC_ESTABLISHED || tc == TC_UNACKED || tc == TC_RETRANS;

	evict_list_place(t, c, !answered ? L_UNANSWERED : open ? L_NONE : L_CLOSING);
}

/*
 * Flags no stack sends, after Linux's tcp_valid_flags[] (PSH, ECE, CWR
 * masked), with the scans named so that the log says what was seen.
 */
static enum ctg_reason
tcp_flags_check(uint8_t f)
{
	uint8_t core = f & (CTG_TH_FIN | CTG_TH_SYN | CTG_TH_RST | CTG_TH_ACK | CTG_TH_URG);

	if ((f & ~(CTG_TH_ECE | CTG_TH_CWR)) == 0)
		return CTG_R_TCP_FLAGS_NULL;
	if ((f & (CTG_TH_SYN | CTG_TH_FIN)) == (CTG_TH_SYN | CTG_TH_FIN))
		return CTG_R_TCP_FLAGS_SYN_FIN;
	if ((f & (CTG_TH_SYN | CTG_TH_RST)) == (CTG_TH_SYN | CTG_TH_RST))
		return CTG_R_TCP_FLAGS_SYN_RST;
	if ((f & (CTG_TH_FIN | CTG_TH_RST)) == (CTG_TH_FIN | CTG_TH_RST))
		return CTG_R_TCP_FLAGS_FIN_RST;
	if (!(f & CTG_TH_ACK) && (f & (CTG_TH_FIN | CTG_TH_PSH | CTG_TH_URG)) ==
	    (CTG_TH_FIN | CTG_TH_PSH | CTG_TH_URG))
		return CTG_R_TCP_FLAGS_XMAS;
	switch (core) {
	case CTG_TH_SYN:
	case CTG_TH_SYN | CTG_TH_URG:
	case CTG_TH_SYN | CTG_TH_ACK:
	case CTG_TH_RST:
	case CTG_TH_RST | CTG_TH_ACK:
	case CTG_TH_FIN | CTG_TH_ACK:
	case CTG_TH_FIN | CTG_TH_ACK | CTG_TH_URG:
	case CTG_TH_ACK:
	case CTG_TH_ACK | CTG_TH_URG:
		return CTG_R_NONE;
	}
	if (!(f & (CTG_TH_ACK | CTG_TH_SYN | CTG_TH_RST)))
		return CTG_R_TCP_FLAGS_NO_ACK;
	return CTG_R_TCP_FLAGS_BAD;
}

static uint32_t
seg_end(const struct ctg_packet *p)
{
	uint32_t end = p->tcp.seq + p->payload_len;

	if (p->tcp.flags & CTG_TH_SYN)
		end++;
	if (p->tcp.flags & CTG_TH_FIN)
		end++;
	return end;
}

/* Initialise a peer from its SYN or SYN/ACK. */
static void
peer_init_syn(struct ctg_tcp_peer *s, const struct ctg_packet *p)
{
	const struct ctg_tcp_opts *o = &p->tcp.opt;

	s->isn = p->tcp.seq;
	s->td_end = seg_end(p);
	s->td_maxend = s->td_end;
	s->td_maxwin = p->tcp.window ? p->tcp.window : 1;
	s->td_maxack = 0;
	s->flags = CTG_PEER_SEEN;
	s->retrans = 0;
	s->wscale = 0;
	if (o->has_wscale) {
		s->flags |= CTG_PEER_WSCALE;
		s->wscale = o->wscale;
	}
	if (o->sack_permitted)
		s->flags |= CTG_PEER_SACK_PERM;
	s->xflags = 0;
	if (o->has_md5)
		s->xflags |= CTG_PEERX_MD5;
	if (o->has_timestamp) {
		s->flags |= CTG_PEER_TS;
		s->last_tsval = o->tsval;
		/* a SYN: td_maxack holds its latest TSval (tsecr_bad) */
		s->td_maxack = o->tsval;
	}
	if (p->tcp.flags & CTG_TH_ACK) {
		s->td_maxack = p->tcp.ack;
		s->flags |= CTG_PEER_MAXACK;
	}
}

/*
 * An answer to the originator's SYN whose TSecr echoes no TSval of its
 * SYNs: the Linux client discards it (tcp_rcv_synsent_state_process():
 * rcv_tsecr not between retrans_stamp and now, PAWSActiveRejected).
 * TSecr 0 is not checked, as there.
 */
static bool
tsecr_bad(const struct ctg_tcp_peer *orig, const struct ctg_packet *p)
{
	if (!(orig->flags & CTG_PEER_TS) || (orig->flags & CTG_PEER_MAXACK) ||
	    !p->tcp.opt.has_timestamp || p->tcp.opt.tsecr == 0)
		return false;
	return (uint32_t)(p->tcp.opt.tsecr - orig->last_tsval) >
	    (uint32_t)(orig->td_maxack - orig->last_tsval);
}

/* Scaling counts only when both SYNs offered it (RFC 7323 section 2.2). */
static void
settle_wscale(struct ctg_conn *c)
{
	if (!(c->peer[0].flags & CTG_PEER_WSCALE) ||
	    !(c->peer[1].flags & CTG_PEER_WSCALE)) {
		c->peer[0].wscale = 0;
		c->peer[1].wscale = 0;
	}
}

/* A picked-up peer: nothing known but what this packet says. */
static void
peer_init_midstream(struct ctg_tcp_peer *s, const struct ctg_packet *p,
    uint8_t state)
{
	s->isn = p->tcp.seq;
	s->td_end = seg_end(p);
	s->td_maxwin = ((uint32_t)(p->tcp.window ? p->tcp.window : 1)) << CTG_TCP_MAX_WSCALE;
	s->td_maxend = s->td_end;
	s->wscale = CTG_TCP_MAX_WSCALE;
	s->flags = CTG_PEER_SEEN | CTG_PEER_LIBERAL | CTG_PEER_SACK_PERM;
	s->state = state;
	s->retrans = 0;
	if (p->tcp.opt.has_timestamp) {
		s->flags |= CTG_PEER_TS;
		s->last_tsval = p->tcp.opt.tsval;
	}
	if (p->tcp.flags & CTG_TH_ACK) {
		s->td_maxack = p->tcp.ack;
		s->flags |= CTG_PEER_MAXACK;
	}
}

/* Linux TCP_TIMEWAIT_LEN: how long an endpoint holds a closed connection. */
#define ENDPOINT_TIME_WAIT_US (60ULL * 1000000)

/* RFC 7323 5.5 / Linux TCP_PAWS_24DAYS: after that long idle TS.Recent is void. */
#define PAWS_IDLE_US (24ULL * 24 * 3600 * 1000000)

/*
 * TS.Recent holds no usable value: none stored yet (Linux tcp_paws_check()
 * treats ts_recent 0 so), or the connection sat idle 24 days, after which
 * the peer's timestamp clock may have wrapped (RFC 7323 5.5).
 */
static bool
ts_recent_void(const struct ctg_conn *c, const struct ctg_tcp_peer *s,
    uint64_t now_us)
{
	return s->last_tsval == 0 || now_us - c->last_us >= PAWS_IDLE_US;
}

/*
 * PAWS as the receiving stack applies it (RFC 7323 5.3; Linux
 * tcp_paws_discard() with TCP_PAWS_WINDOW 1): the segment's TSval is more
 * than one tick older than TS.Recent, and TS.Recent is not void.
 */
static bool
paws_fails(const struct ctg_conn *c, const struct ctg_tcp_peer *s,
    const struct ctg_packet *p, uint64_t now_us)
{
	if (!(s->flags & CTG_PEER_TS))
		return false;
	if (!p->tcp.opt.has_timestamp)
		return false;
	if (ts_recent_void(c, s, now_us))
		return false;
	return (int32_t)(s->last_tsval - p->tcp.opt.tsval) > 1;
}

/*
 * The highest sequence number this segment acknowledges, SACK included.
 * A block that ends beyond what the receiver sent, or is empty, is
 * ignored as the data sender ignores it (Linux tcp_is_sackblock_valid();
 * middleboxes that rewrite ISNs but not SACK blocks produce them): the
 * rest of the segment is still valid.
 */
static uint32_t
seg_sack(const struct ctg_packet *p, const struct ctg_tcp_peer *receiver,
    uint32_t sent)
{
	uint32_t sack = p->tcp.ack;

	if (receiver->flags & CTG_PEER_SACK_PERM) {
		for (unsigned i = 0; i < p->tcp.opt.sack_count && i < CTG_MAX_SACK_BLOCKS; i++) {
			uint32_t left = p->tcp.opt.sack_left[i], right = p->tcp.opt.sack_right[i];

			if (SEQ_GT(right, sent) || !SEQ_LT(left, right))
				continue;
			if (SEQ_GT(right, sack))
				sack = right;
		}
	}
	return sack;
}

/*
 * The FIN bookkeeping of the close: X's packet acknowledges Y's FIN.
 * Y moves on (FIN_WAIT_1 -> FIN_WAIT_2, CLOSING -> TIME_WAIT,
 * LAST_ACK -> CLOSED); X has now received the FIN (ESTABLISHED ->
 * CLOSE_WAIT, FIN_WAIT_1 -> CLOSING, FIN_WAIT_2 -> TIME_WAIT).
 */
static void
ack_of_fin(struct ctg_conn *c, uint8_t dir)
{
	struct ctg_tcp_peer *x = &c->peer[dir], *y = &c->peer[!dir];

	switch (y->state) {
	case CTG_TCPS_FIN_WAIT_1: y->state = CTG_TCPS_FIN_WAIT_2; break;
	case CTG_TCPS_CLOSING: y->state = CTG_TCPS_TIME_WAIT; break;
	case CTG_TCPS_LAST_ACK: y->state = CTG_TCPS_CLOSED; break;
	default: break;
	}
	switch (x->state) {
	case CTG_TCPS_ESTABLISHED: x->state = CTG_TCPS_CLOSE_WAIT; break;
	case CTG_TCPS_FIN_WAIT_1: x->state = CTG_TCPS_CLOSING; break;
	case CTG_TCPS_FIN_WAIT_2: x->state = CTG_TCPS_TIME_WAIT; break;
	default: break;
	}
}

static void
sent_fin(struct ctg_conn *c, uint8_t dir)
{
	struct ctg_tcp_peer *x = &c->peer[dir];

	x->flags |= CTG_PEER_FIN;
	c->flags |= dir == 0 ? CTG_CONN_FIN_ORIG : CTG_CONN_FIN_RESP;
	if (x->state == CTG_TCPS_ESTABLISHED || x->state == CTG_TCPS_SYN_RCVD ||
	    x->state == CTG_TCPS_SYN_SENT)
		x->state = CTG_TCPS_FIN_WAIT_1;
	else if (x->state == CTG_TCPS_CLOSE_WAIT)
		x->state = CTG_TCPS_LAST_ACK;
}

static void
mark_closed(struct ctg_conn *c)
{
	c->flags |= CTG_CONN_CLOSED;
}

/*
 * RST, judged as the receiving stack judges it (RFC 5961 3.2, Linux
 * tcp_validate_incoming()): one whose sequence number is exactly the next
 * one the receiver expects closes the connection, whatever its timestamp
 * ("Reset is accepted even if it did not pass PAWS"; RFC 7323 5.2); one
 * inside the window but not exact does not (the receiver answers with a
 * challenge ACK, and a real peer then sends the exact RST); one outside
 * the window is INVALID.
 */
static enum ctg_reason
tcp_rst(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint32_t seq = p->tcp.seq;

	(void)now_us;
	/*
	 * Answer to a SYN: acceptable only if it acknowledges that SYN
	 * (ack in (ISN, SYN end], tcp_rcv_synsent_state_process(); an ack of
	 * 0 is fine when the SYN's ISN was 0xffffffff) and echoes one of its
	 * timestamps.
	 */
	if (r->state == CTG_TCPS_SYN_SENT &&
	    (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_NONE)) {
		if (!(p->tcp.flags & CTG_TH_ACK) || SEQ_LEQ(p->tcp.ack, r->isn) ||
		    SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_RST_BAD_ACK;
		if (tsecr_bad(r, p))
			return CTG_R_TCP_BAD_TSECR;
		goto closes;
	}
	/* Originator abandons its own unanswered SYN. */
	if (s->state == CTG_TCPS_SYN_SENT &&
	    (r->state == CTG_TCPS_LISTEN || r->state == CTG_TCPS_NONE)) {
		if ((c->flags & CTG_CONN_CHALLENGE) && seq == r->td_maxack)
			goto closes;
		if (SEQ_GEQ(seq, s->isn) && SEQ_LEQ(seq, s->td_end))
			goto closes;
		return CTG_R_TCP_RST_OUT_OF_WINDOW;
	}
	if ((s->flags & CTG_PEER_LIBERAL) || (r->flags & CTG_PEER_LIBERAL)) {
		/* picked up: no window known, take the RST as it comes */
		goto closes;
	}

	uint32_t rcv_nxt = (r->flags & CTG_PEER_MAXACK) ? r->td_maxack : s->td_end;
	uint32_t rcv_wnd = r->td_maxwin ? r->td_maxwin : 1;

	/*
	 * The receiver still half-open (SYN_RCVD): any RST inside its window
	 * ends it (tcp_check_req() -> embryonic_reset), not only an exact one.
	 */
	if (r->state == CTG_TCPS_SYN_RCVD && s->state == CTG_TCPS_SYN_SENT) {
		if (SEQ_GEQ(seq, s->td_end) && SEQ_LT(seq, s->td_end + rcv_wnd))
			goto closes;
		return CTG_R_TCP_RST_OUT_OF_WINDOW;
	}
	/*
	 * Exact: the receiver's next expected sequence number is the end of
	 * what crossed in order (the receiver has it once it arrives, even
	 * before it acks it; its last ack may lag behind data in flight).
	 */
	if (seq == s->td_end)
		goto closes;
	/*
	 * tcp_reset_check(): a receiver in CLOSE_WAIT, LAST_ACK or CLOSING
	 * (it has the sender's FIN) also takes the FIN's own sequence number.
	 */
	if ((s->flags & CTG_PEER_FIN) && seq == s->td_end - 1 &&
	    r->state != CTG_TCPS_FIN_WAIT_2 && r->state != CTG_TCPS_TIME_WAIT &&
	    r->state != CTG_TCPS_CLOSED)
		goto closes;
	if (SEQ_GEQ(seq, rcv_nxt) && SEQ_LT(seq, rcv_nxt + rcv_wnd))
		return CTG_R_TCP_RST_INEXACT;
	return CTG_R_TCP_RST_OUT_OF_WINDOW;

closes:
	/* kept for the RST grace (tcp_after_rst) */
	c->fin_ooo[0] = (uint16_t)(c->peer[0].state | c->peer[1].state << 8);
	c->fin_ooo[1] = 0;
	s->state = CTG_TCPS_CLOSED;
	r->state = CTG_TCPS_CLOSED;
	c->flags |= dir == 0 ? CTG_CONN_RST_ORIG : CTG_CONN_RST_RESP;
	mark_closed(c);
	return CTG_R_NONE;
}

/* Sequence number of dir's FIN beyond a gap (CTG_PEERX_FIN_OOO), at or past td_end. */
static uint32_t
fin_ooo_seq(const struct ctg_conn *c, uint8_t dir)
{
	uint32_t e = c->peer[dir].td_end;

	return e + (uint16_t)(c->fin_ooo[dir] - (uint16_t)e);
}

/*
 * The sequence-space checks on a segment from peer s to peer r, after
 * van Rooij (as Linux tcp_in_window() and pf_tcp_track_full()):
 *   I   end <= s.td_maxend            data inside the receiver's window
 *   II  end >= s.td_end - r.td_maxwin  not more than a window back
 *   III sack <= r.td_end               acks only data r has sent
 *   IV  ack >= s.td_maxack - MAXACKWINDOW (what s acked before)
 * Linux lets II and IV pass unrecorded (IGNORE) and tolerates I by up to a
 * window; we follow pf and call all four INVALID, because every packet of
 * the connection crosses this box, so a window update we did not see does
 * not exist. A segment wholly below td_end is a retransmission: it passes
 * and moves nothing.
 *
 * State moves only as the receiver's would (RFC 793 3.9, Linux
 * tcp_data_queue()): data and FIN advance td_end only in order; a segment
 * beyond a gap is passed but only recorded as "out of order" (its
 * receiver queues it and acts on it once the gap is filled, which the
 * receiver's ack then tells us); an empty segment never moves td_end.
 * TS.Recent moves as in RFC 7323 4.3 and Linux tcp_replace_ts_recent():
 * only from a segment that is not older than the last ack (tcp_ack()'s
 * old_ack path does not store it) and whose SEG.SEQ <= Last.ACK.sent.
 * *fin is set when the segment's FIN is in order, i.e. the receiver acts
 * on it.
 * Returns CTG_R_NONE (state updated), a NOTE (passed, state kept), or an
 * INVALID reason (nothing changed).
 */
static enum ctg_reason
tcp_window(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    bool ts_void, bool *fin)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint32_t seq = p->tcp.seq, end = seg_end(p);
	bool ackf = (p->tcp.flags & CTG_TH_ACK) != 0;
	/* r may ack beyond its in-order edge only after data beyond a gap */
	uint32_t r_sent = (r->xflags & CTG_PEERX_OOO) ? r->td_maxend : r->td_end;
	uint32_t ack = ackf ? p->tcp.ack : r->td_end;
	uint32_t sack = ackf ? seg_sack(p, r, r_sent) : ack;
	uint32_t win = p->tcp.window;
	uint32_t plen = p->payload_len + ((p->tcp.flags & CTG_TH_FIN) ? 1 : 0);
	bool liberal = (s->flags | r->flags) & CTG_PEER_LIBERAL;
	enum ctg_reason note = CTG_R_NONE;

	*fin = false;
	if (!(p->tcp.flags & CTG_TH_SYN))
		win <<= s->wscale;

	/* Empty segments carry seq = td_end or so; judge them by their ack. */
	if (!liberal) {
		uint32_t maxackwin = s->td_maxwin > MAXACKWINDOW_MIN ?
		    s->td_maxwin : MAXACKWINDOW_MIN;

		if (ackf && SEQ_GT(sack, r_sent))
			return CTG_R_TCP_ACK_ABOVE_SENT;
		/*
		 * Bound IV from what s acknowledged before, not from r's sent
		 * edge: r's data in flight may be far ahead of any ack, and a
		 * reordered segment carries a slightly older ack. Linux
		 * tcp_ack() drops an ack below snd_una - max_window
		 * (RFC 5961 5.2); MAXACKWINDOW keeps a margin above that.
		 */
		if (ackf && (s->flags & CTG_PEER_MAXACK) &&
		    SEQ_LT(ack, s->td_maxack - maxackwin))
			return CTG_R_TCP_ACK_BELOW_WINDOW;
		if ((s->flags & CTG_PEER_FIN) && plen > 0 && SEQ_GT(end, s->td_end))
			return CTG_R_TCP_DATA_AFTER_FIN;
		if (plen > 0 && SEQ_GT(end, s->td_maxend))
			return CTG_R_TCP_SEQ_ABOVE_WINDOW;
		/*
		 * A zero window leaves td_maxend at the receiver's ack + 1, so
		 * a one-byte probe at the ack fits exactly: note it.
		 */
		if (p->payload_len == 1 && plen == 1 && end == s->td_maxend &&
		    SEQ_GT(end, s->td_end) && (r->flags & CTG_PEER_MAXACK) &&
		    seq == r->td_maxack)
			note = CTG_R_TCP_WINDOW_PROBE;
		/*
		 * More than a window back: only data the sender really sent
		 * before may come again (its acks can be lost past this box,
		 * and the Linux selftest conntrack_ack_loss_stall shows that
		 * refusing the resend stalls the connection). Sequence numbers
		 * outside everything it ever sent are INVALID.
		 */
		if (plen > 0 && SEQ_LT(end, s->td_end - r->td_maxwin) &&
		    (uint32_t)(seq - s->isn) > (uint32_t)(s->td_end - s->isn))
			return CTG_R_TCP_SEQ_BELOW_WINDOW;
		/* empty segments: the sequence number must still be plausible */
		if (plen == 0 && SEQ_GT(seq, s->td_maxend))
			return CTG_R_TCP_SEQ_ABOVE_WINDOW;
		if (plen == 0 && SEQ_LT(seq, s->td_end - r->td_maxwin - 1) &&
		    (uint32_t)(seq - s->isn) > (uint32_t)(s->td_end - s->isn))
			return CTG_R_TCP_SEQ_BELOW_WINDOW;
	}

	bool in_order = false;
	if (plen > 0 && SEQ_LEQ(end, s->td_end)) {
		/* keepalive: one byte (or none) just below the next sequence */
		if (p->payload_len <= 1 && end == s->td_end && seq == s->td_end - 1 &&
		    !(p->tcp.flags & CTG_TH_FIN))
			note = CTG_R_TCP_KEEPALIVE;
		else {
			note = CTG_R_TCP_RETRANSMIT;
			if (s->retrans < 15)
				s->retrans++;
		}
	} else if (plen > 0) {
		s->retrans = 0;
		in_order = liberal || SEQ_LEQ(seq, s->td_end);
		if (!in_order) {
			/* bytes before this segment have not crossed us (yet) */
			s->xflags |= CTG_PEERX_OOO;
			hist_add(c, dir, H_GAP);
			/* a FIN within 64 kB of the edge is remembered until the gap fills */
			if ((p->tcp.flags & CTG_TH_FIN) && end - 1 - s->td_end < 65536) {
				s->xflags |= CTG_PEERX_FIN_OOO;
				c->fin_ooo[dir] = (uint16_t)(end - 1);
			}
		}
	} else if (seq == s->td_end - 1) {
		/* the usual keepalive carries no data at all */
		note = CTG_R_TCP_KEEPALIVE;
	}

	/* TS.Recent before the ack moves Last.ACK.sent (RFC 7323 4.3) */
	uint32_t last_ack_sent = (r->flags & CTG_PEER_MAXACK) ? r->td_maxack : s->td_end;
	if (p->tcp.opt.has_timestamp && (s->flags & CTG_PEER_TS) &&
	    (ts_void || SEQ_GEQ(p->tcp.opt.tsval, s->last_tsval)) &&
	    (liberal || SEQ_LEQ(seq, last_ack_sent)) &&
	    !(ackf && (s->flags & CTG_PEER_MAXACK) && SEQ_LT(ack, s->td_maxack)))
		s->last_tsval = p->tcp.opt.tsval;

	/* Update the sender's and receiver's sequence space. */
	if (s->td_maxwin < (win ? win : 1))
		s->td_maxwin = win ? win : 1;
	if (in_order && SEQ_GT(end, s->td_end)) {
		uint32_t fseq = fin_ooo_seq(c, dir);

		*fin = (p->tcp.flags & CTG_TH_FIN) != 0;
		if (!*fin && (s->xflags & CTG_PEERX_FIN_OOO) && fseq == end) {
			/* the gap before the queued FIN is filled: it counts now */
			end++;
			*fin = true;
		}
		if (*fin || SEQ_GEQ(end, fseq))
			s->xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
		s->td_end = end;
		s->flags |= CTG_PEER_UNACKED;
	}
	if (ackf) {
		if (!(s->flags & CTG_PEER_MAXACK) || SEQ_GT(ack, s->td_maxack)) {
			s->td_maxack = ack;
			s->flags |= CTG_PEER_MAXACK;
		}
		if (SEQ_GT(sack + (win ? win : 1), r->td_maxend) || liberal)
			r->td_maxend = sack + (win ? win : 1);
		/* the receiver holds what r sent beyond the gap: the gap was filled */
		if (SEQ_GT(ack, r->td_end)) {
			uint32_t fseq = fin_ooo_seq(c, !dir);

			if ((r->xflags & CTG_PEERX_FIN_OOO) && ack == fseq + 1 &&
			    !(r->flags & CTG_PEER_FIN)) {
				/* the receiver acked exactly through the queued FIN */
				sent_fin(c, !dir);
			}
			if ((r->xflags & CTG_PEERX_FIN_OOO) && SEQ_GEQ(ack, fseq))
				r->xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
			r->td_end = ack;
			if (SEQ_GT(r->td_end, r->td_maxend))
				r->td_maxend = r->td_end;
		}
		if (SEQ_GEQ(ack, r->td_end))
			r->flags &= ~CTG_PEER_UNACKED;
		/*
		 * An ack at r's edge without SACK blocks, when SACK is in use,
		 * says the receiver holds nothing beyond it.
		 */
		if ((r->xflags & CTG_PEERX_OOO) && SEQ_GEQ(ack, r->td_end) &&
		    (r->flags & s->flags & CTG_PEER_SACK_PERM) && p->tcp.opt.sack_count == 0)
			r->xflags &= (uint8_t)~CTG_PEERX_OOO;
	}
	return note;
}

/* A SYN on a connection in the table: retransmission, reuse, or refused. */
static enum ctg_reason
tcp_syn(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, bool *reopen)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];

	hist_add(c, dir, H_SYN);
	if (conn_dead(c)) {
		/*
		 * Reuse of a closed tuple (RFC 1122 4.2.2.13, RFC 6191):
		 * after a reset always; after TIME_WAIT only with a
		 * sequence number above the old one or a newer timestamp,
		 * so that a delayed old SYN cannot reopen it - unless the
		 * endpoints' own TIME_WAIT is over (Linux TCP_TIMEWAIT_LEN,
		 * 60 s after the last segment): then no endpoint remembers the
		 * old connection and the SYN is simply new.
		 */
		bool by_rst = c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP);
		bool newer_seq = SEQ_GT(p->tcp.seq, s->td_end);
		bool newer_ts = (s->flags & CTG_PEER_TS) && p->tcp.opt.has_timestamp &&
		    SEQ_GT(p->tcp.opt.tsval, s->last_tsval);
		bool tw_over = now_us - c->last_us >= ENDPOINT_TIME_WAIT_US;
		if (by_rst || newer_seq || newer_ts || tw_over || !(s->flags & CTG_PEER_SEEN)) {
			*reopen = true;
			return CTG_R_TCP_REOPEN;
		}
		/*
		 * An old duplicate, or a new incarnation that did not pick a
		 * higher ISN: the endpoint in TIME_WAIT decides
		 * (tcp_timewait_state_process() answers it with an ACK, the
		 * client resets that, and its next SYN opens). Pass it without
		 * moving anything, as below.
		 */
		if (dir == 0) {
			s->xflags |= CTG_PEERX_SYN_NOTED;
			s->syn_wscale = p->tcp.opt.has_wscale ? p->tcp.opt.wscale : 0;
			return CTG_R_TCP_SYN_HELD;
		}
		return CTG_R_TCP_CLOSED;
	}
	if (dir == 0 && (c->flags & CTG_CONN_FLIPPED) && s->state == CTG_TCPS_SYN_SENT &&
	    !(s->flags & CTG_PEER_SEEN) && p->tcp.seq == s->isn) {
		/*
		 * The SYN of a connection picked up from its SYN/ACK,
		 * arriving late (reordered in a capture): it tells us the
		 * originator's options after all.
		 */
		uint32_t maxend = s->td_maxend;
		peer_init_syn(s, p);
		s->td_maxend = maxend;
		s->state = CTG_TCPS_SYN_SENT;
		if (!(s->flags & CTG_PEER_WSCALE) || !(r->flags & CTG_PEER_WSCALE)) {
			s->wscale = 0;
			r->wscale = 0;
		}
		s->flags |= CTG_PEER_LIBERAL;
		c->flags |= CTG_CONN_SYN_ORIG;
		return CTG_R_NONE;
	}
	if (dir == 0 && s->state == CTG_TCPS_SYN_SENT &&
	    (r->state == CTG_TCPS_LISTEN || r->state == CTG_TCPS_NONE)) {
		if (p->tcp.seq == s->isn) {
			/* its answer may echo this SYN's timestamp (tsecr_bad) */
			if (p->tcp.opt.has_timestamp && (s->flags & CTG_PEER_TS) &&
			    SEQ_GT(p->tcp.opt.tsval, s->td_maxack))
				s->td_maxack = p->tcp.opt.tsval;
			return CTG_R_TCP_SYN_RETRANSMIT;
		}
		/* a new ISN on an unanswered attempt: start over from it */
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_SENT;
		return CTG_R_TCP_SYN_RETRANSMIT;
	}
	if (dir == 1 && r->state == CTG_TCPS_SYN_SENT &&
	    (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_NONE)) {
		/* simultaneous open: the responder sent its own SYN */
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_SENT;
		settle_wscale(c);
		return CTG_R_TCP_SIMULTANEOUS_OPEN;
	}
	if (dir == 1 && s->state == CTG_TCPS_SYN_SENT && p->tcp.seq == s->isn)
		return CTG_R_TCP_SYN_RETRANSMIT;
	/* the SYN/ACK was lost past this box: the client sends its SYN again */
	if (dir == 0 && s->state == CTG_TCPS_SYN_SENT && r->state == CTG_TCPS_SYN_RCVD &&
	    p->tcp.seq == s->isn)
		return CTG_R_TCP_SYN_RETRANSMIT;
	if (dir == 1 && s->state == CTG_TCPS_SYN_RCVD)
		return CTG_R_TCP_SYN_WRONG_DIR;
	if (dir == 0) {
		/*
		 * A SYN from the originator on a tuple we still hold: its host
		 * may have rebooted or a NAT may have reused the port. Let it
		 * through without moving anything, as nf_conntrack does (sIG),
		 * and let the peer's answer decide: a challenge ACK (RFC 5961
		 * 4.2; tcp_check_req() answers a half-open one with an ACK too)
		 * draws the client's RST, which is exact and closes, and the
		 * retransmitted SYN then reopens; a SYN/ACK for it
		 * re-initialises the entry (tcp_synack).
		 */
		s->xflags |= CTG_PEERX_SYN_NOTED;
		s->syn_wscale = p->tcp.opt.has_wscale ? p->tcp.opt.wscale : 0;
		return CTG_R_TCP_SYN_HELD;
	}
	return CTG_R_TCP_SYN_ON_ESTABLISHED;
}

/*
 * The responder answered a SYN that was passed on a held tuple with a
 * SYN/ACK: client and server agree on a new connection and only the box
 * is out of sync, so start over from the SYN/ACK (nf_conntrack "get in
 * sync from the previously annotated values"). The SYN/ACK echoes only
 * the options the SYN offered (RFC 7323 1.3, RFC 2018), so it tells us
 * which the client used; its ack gives the client's ISN.
 */
static void
tcp_reinit_from_synack(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint8_t ws = r->syn_wscale;
	bool md5 = p->tcp.opt.has_md5;

	memset(r, 0, sizeof(*r));
	r->isn = p->tcp.ack - 1;
	r->td_end = p->tcp.ack;
	r->td_maxwin = 65535;           /* a SYN's window is never scaled */
	r->flags = CTG_PEER_SEEN;
	if (p->tcp.opt.has_wscale) {
		r->flags |= CTG_PEER_WSCALE;
		r->wscale = ws;
	}
	if (p->tcp.opt.sack_permitted)
		r->flags |= CTG_PEER_SACK_PERM;
	if (p->tcp.opt.has_timestamp) {
		r->flags |= CTG_PEER_TS;
		r->last_tsval = p->tcp.opt.tsecr;
		r->td_maxack = p->tcp.opt.tsecr;
	}
	if (md5)
		r->xflags |= CTG_PEERX_MD5;
	r->state = CTG_TCPS_SYN_SENT;
	peer_init_syn(s, p);
	s->state = CTG_TCPS_SYN_RCVD;
	settle_wscale(c);
	r->td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
	s->td_maxend = s->td_end + r->td_maxwin;
	c->fin_ooo[0] = c->fin_ooo[1] = 0;
	c->flags &= (uint16_t)~(CTG_CONN_ASSURED | CTG_CONN_CHALLENGE | CTG_CONN_CLOSED |
	    CTG_CONN_FIN_ORIG | CTG_CONN_FIN_RESP | CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP);
	c->flags |= CTG_CONN_SYN_ORIG | (dir == 1 ? CTG_CONN_SYNACK : 0);
}

/* A SYN/ACK on a connection in the table: the answer, a copy, or refused. */
static enum ctg_reason
tcp_synack(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];

	hist_add(c, dir, H_SYNACK);
	if (dir == 1 && p->tcp.seq != s->isn && (r->xflags & CTG_PEERX_SYN_NOTED) &&
	    !(c->flags & CTG_CONN_FLIPPED)) {
		tcp_reinit_from_synack(c, dir, p);
		return CTG_R_TCP_RESYNC;
	}
	if (conn_dead(c))
		return CTG_R_TCP_CLOSED;
	/* normal answer, or the second half of a simultaneous open */
	/*
	 * simultaneous open: the second SYN/ACK, from either side (they
	 * cross); the originator's only if the responder sent a SYN
	 */
	bool second_simul = r->state == CTG_TCPS_SYN_RCVD &&
	    s->state == CTG_TCPS_SYN_SENT &&
	    (dir == 1 || hist_has(c, 1, 'S', false));
	if ((r->state == CTG_TCPS_SYN_SENT &&
	    (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_SYN_SENT ||
	    s->state == CTG_TCPS_NONE)) || second_simul) {
		if (dir == 0 && s->state != CTG_TCPS_SYN_SENT)
			return CTG_R_TCP_SYNACK_WRONG_DIR;
		/* TFO: the SYN/ACK may acknowledge only the SYN, not its data */
		if (SEQ_LT(p->tcp.ack, r->isn + 1) || SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_SYNACK_BAD_ACK;
		if (dir == 1 && !second_simul && tsecr_bad(r, p))
			return CTG_R_TCP_BAD_TSECR;
		/* in a simultaneous open it must carry the SYN's own ISN */
		bool simultaneous = s->state == CTG_TCPS_SYN_SENT;
		if ((simultaneous || second_simul) && p->tcp.seq != s->isn)
			return CTG_R_TCP_SYNACK_UNEXPECTED;
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_RCVD;
		settle_wscale(c);
		if (second_simul) {
			/* both SYN/ACKs crossed: each side has the other's SYN acked */
			s->state = CTG_TCPS_ESTABLISHED;
			r->state = CTG_TCPS_ESTABLISHED;
			c->flags |= CTG_CONN_ASSURED;
		}
		r->td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
		r->flags &= ~CTG_PEER_UNACKED;
		/* until the third ACK, the SYN's (unscaled) window bounds the answer */
		s->td_maxend = s->td_end + (r->td_maxwin ? r->td_maxwin : 1);
		if (dir == 1)
			c->flags |= CTG_CONN_SYNACK;
		if (p->payload_len) {
			hist_add(c, dir, H_DATA);
			return CTG_R_TCP_SYN_DATA;
		}
		return CTG_R_NONE;
	}
	/*
	 * A SYN/ACK with a new ISN answering the (retransmitted) SYN while
	 * the first SYN/ACK is unacknowledged: SYN cookies, load balancers
	 * and TFO fallback send them, and the client takes it. nf_conntrack
	 * re-initialises the responder ("re-init state for retransmitted
	 * syn-ack", tcp_in_window()); so do we, if it acks the SYN and
	 * echoes its timestamp.
	 */
	if (dir == 1 && s->state == CTG_TCPS_SYN_RCVD && r->state == CTG_TCPS_SYN_SENT &&
	    p->tcp.seq != s->isn && !(s->flags & CTG_PEER_LIBERAL) &&
	    !(c->flags & CTG_CONN_FLIPPED)) {
		if (SEQ_LT(p->tcp.ack, r->isn + 1) || SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_SYNACK_BAD_ACK;
		if (tsecr_bad(r, p))
			return CTG_R_TCP_BAD_TSECR;
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_RCVD;
		settle_wscale(c);
		r->td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
		s->td_maxend = s->td_end + (r->td_maxwin ? r->td_maxwin : 1);
		return CTG_R_TCP_RESYNC;
	}
	if (dir == 0 && !(c->flags & CTG_CONN_FLIPPED) &&
	    s->state != CTG_TCPS_SYN_RCVD)
		return CTG_R_TCP_SYNACK_WRONG_DIR;
	/* a late copy of the SYN/ACK already seen, acking the same SYN */
	if ((s->flags & CTG_PEER_SEEN) && p->tcp.seq == s->isn &&
	    !(s->flags & CTG_PEER_LIBERAL)) {
		if (SEQ_LT(p->tcp.ack, r->isn + 1) || SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_SYNACK_BAD_ACK;
		return CTG_R_TCP_SYN_RETRANSMIT;
	}
	return CTG_R_TCP_SYNACK_UNEXPECTED;
}

/* ACK, data or FIN|ACK on a connection in the table: the window decides. */
static enum ctg_reason tcp_after_rst(struct ctg_conn *c, uint8_t dir,
    const struct ctg_packet *p, uint64_t now_us, uint64_t grace_us);

static enum ctg_reason
tcp_segment(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, uint64_t grace_us)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint8_t f = p->tcp.flags;
	enum ctg_reason why;

	/* ACK class: ACK, data, FIN|ACK. */
	if (conn_dead(c) && !(c->peer[0].state == CTG_TCPS_TIME_WAIT ||
	    c->peer[1].state == CTG_TCPS_TIME_WAIT || c->peer[0].state == CTG_TCPS_LAST_ACK ||
	    c->peer[1].state == CTG_TCPS_LAST_ACK)) {
		if (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP))
			return tcp_after_rst(c, dir, p, now_us, grace_us);
	}

	/* The handshake is not complete: only the third ACK may come from the originator. */
	if (dir == 0 && s->state == CTG_TCPS_SYN_SENT && r->state != CTG_TCPS_SYN_RCVD &&
	    !(c->flags & CTG_CONN_FLIPPED))
		return CTG_R_TCP_ACK_BEFORE_SYNACK;
	if (dir == 1 && (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_NONE) &&
	    r->state == CTG_TCPS_SYN_SENT) {
		/* the responder ACKs a SYN: a challenge ACK from a stale connection */
		if (p->payload_len || (f & CTG_TH_FIN))
			return CTG_R_TCP_DATA_BEFORE_ESTABLISHED;
		c->flags |= CTG_CONN_CHALLENGE;
		/* the originator's RST must carry this ack (tcp_rst) */
		s->td_maxack = p->tcp.ack;
		hist_add(c, dir, H_ACK);
		return CTG_R_TCP_CHALLENGE_ACK;
	}
	/*
	 * Responder data before the third ACK is an injection (Suricata's
	 * 3WHS_ACK_DATA_INJECT), except under TCP Fast Open: a server whose
	 * SYN/ACK acknowledged the SYN's data may answer at once (RFC 7413).
	 */
	if (dir == 1 && s->state == CTG_TCPS_SYN_RCVD && r->state == CTG_TCPS_SYN_SENT &&
	    (p->payload_len || (f & CTG_TH_FIN)) && !(c->flags & CTG_CONN_FLIPPED) &&
	    !SEQ_GT(s->td_maxack, r->isn + 1))
		return CTG_R_TCP_DATA_BEFORE_ESTABLISHED;
	if ((f & CTG_TH_FIN) && (s->state == CTG_TCPS_SYN_SENT ||
	    s->state == CTG_TCPS_LISTEN) && r->state != CTG_TCPS_SYN_RCVD)
		return CTG_R_TCP_FIN_BEFORE_ESTABLISHED;
	/*
	 * PAWS (RFC 7323 5.3): the receiver discards the segment. A FIN
	 * would move the close, so it is INVALID; data and ACKs pass (the
	 * receiver drops them itself and the sender resends with a current
	 * timestamp) but move nothing here either.
	 */
	if (paws_fails(c, s, p, now_us)) {
		if (f & CTG_TH_FIN)
			return CTG_R_TCP_PAWS;
		return CTG_R_TCP_PAWS_IGNORED;
	}

	/* Third ACK must acknowledge the SYN/ACK exactly or beyond. */
	bool third_ack = s->state == CTG_TCPS_SYN_SENT && r->state == CTG_TCPS_SYN_RCVD;
	if (third_ack && !(r->flags & CTG_PEER_LIBERAL) && SEQ_LT(p->tcp.ack, r->isn + 1))
		return CTG_R_TCP_ACK_BELOW_WINDOW;
	/* In a simultaneous open each side ACKs the other's SYN/ACK. */
	bool simul_ack = s->state == CTG_TCPS_SYN_RCVD && r->state == CTG_TCPS_SYN_RCVD;

	bool liberal_before = (s->flags | r->flags) & CTG_PEER_LIBERAL;
	bool fin_in_order;
	why = tcp_window(c, dir, p, ts_recent_void(c, s, now_us), &fin_in_order);
	if (ctg_reason_class(why) == CTG_RC_INVALID)
		return why;

	if (third_ack || simul_ack || (s->state == CTG_TCPS_SYN_RCVD &&
	    r->state == CTG_TCPS_ESTABLISHED)) {
		if (s->state == CTG_TCPS_SYN_SENT || s->state == CTG_TCPS_SYN_RCVD)
			s->state = CTG_TCPS_ESTABLISHED;
		if (r->state == CTG_TCPS_SYN_RCVD && third_ack)
			r->state = CTG_TCPS_ESTABLISHED;
		if (simul_ack)
			s->state = CTG_TCPS_ESTABLISHED;
		c->flags |= CTG_CONN_ASSURED;
	}
	if (liberal_before && (c->flags & CTG_CONN_SEEN_REPLY) &&
	    (s->flags & CTG_PEER_SEEN) && (r->flags & CTG_PEER_SEEN)) {
		/* Both directions seen: the picked-up connection is now judged normally. */
		s->flags &= ~CTG_PEER_LIBERAL;
		r->flags &= ~CTG_PEER_LIBERAL;
		c->flags |= CTG_CONN_ASSURED;
	}

	/* The close: acks of the other side's FIN first, then our own FIN. */
	if ((f & CTG_TH_ACK) && (r->flags & CTG_PEER_FIN) && SEQ_GEQ(p->tcp.ack, r->td_end))
		ack_of_fin(c, dir);
	if (f & CTG_TH_FIN)
		hist_add(c, dir, H_FIN);
	if (fin_in_order)
		sent_fin(c, dir);

	if (p->payload_len) {
		hist_add(c, dir, H_DATA);
		c->flags |= dir == 0 ? CTG_CONN_DATA_ORIG : CTG_CONN_DATA_RESP;
	} else if (!(f & CTG_TH_FIN))
		hist_add(c, dir, H_ACK);
	if (why == CTG_R_TCP_RETRANSMIT)
		hist_add(c, dir, H_RETRANS);
	if (p->tcp.window == 0 && !(f & (CTG_TH_RST | CTG_TH_FIN)))
		hist_add(c, dir, H_ZEROWIN);
	return why;
}

static bool
synchronized(uint8_t st)
{
	return st >= CTG_TCPS_ESTABLISHED && st != CTG_TCPS_TIME_WAIT;
}

/*
 * A segment after an accepted RST. The receiver of the RST normally has
 * no connection any more, and the segment is INVALID tcp_closed. But an
 * endpoint may ignore an RST for reasons no box can see (TCP-MD5 or AO
 * keys, its own rules), and cutting a live session is worse than holding
 * an entry a little longer: for rst_grace after the RST, a segment that
 * fits the connection as it was passes (NOTE tcp_rst_grace) without
 * refreshing the timer; once both sides have gone on, the connection is
 * revived (NOTE tcp_revived, counted and logged like every reason).
 */
static enum ctg_reason
tcp_after_rst(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, uint64_t grace_us)
{
	uint8_t os = (uint8_t)(c->fin_ooo[0] & 0xff), rs = (uint8_t)(c->fin_ooo[0] >> 8);

	if (!grace_us || now_us - c->last_us > grace_us || !synchronized(os) ||
	    !synchronized(rs) || os >= CTG_TCPS_COUNT || rs >= CTG_TCPS_COUNT)
		return CTG_R_TCP_CLOSED;

	struct ctg_conn tmp = *c;

	tmp.peer[0].state = os;
	tmp.peer[1].state = rs;
	tmp.fin_ooo[0] = tmp.fin_ooo[1] = 0;
	tmp.peer[0].xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
	tmp.peer[1].xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
	tmp.flags &= (uint16_t)~(CTG_CONN_CLOSED | CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP);
	enum ctg_reason why = tcp_segment(&tmp, dir, p, now_us, 0);
	if (ctg_reason_class(why) == CTG_RC_INVALID)
		return CTG_R_TCP_CLOSED;
	uint16_t went_on = (uint16_t)(c->fin_ooo[1] | (dir == 0 ? 1 : 2));
	if (went_on != 3) {
		/* keep what the segment moved, the entry stays closed */
		c->peer[0] = tmp.peer[0];
		c->peer[1] = tmp.peer[1];
		memcpy(c->history, tmp.history, sizeof(c->history));
		c->fin_ooo[0] = (uint16_t)(tmp.peer[0].state | tmp.peer[1].state << 8);
		c->fin_ooo[1] = went_on;
		c->peer[0].state = CTG_TCPS_CLOSED;
		c->peer[1].state = CTG_TCPS_CLOSED;
		return CTG_R_TCP_RST_GRACE;
	}
	*c = tmp;
	return CTG_R_TCP_REVIVED;
}

/* A segment of a connection already in the table, flags known valid. */
static enum ctg_reason
tcp_existing(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, uint64_t grace_us, bool *reopen)
{
	uint8_t f = p->tcp.flags;

	*reopen = false;
	/*
	 * A TCP-MD5 option on a connection whose SYNs carried none: the
	 * receiving stack has no key for it and drops the segment (Linux
	 * tcp_inbound_hash(), TCPMD5Unexpected), so it must move nothing,
	 * in particular an RST must not close the flow.
	 */
	if (p->tcp.opt.has_md5 && !(f & CTG_TH_SYN) && (c->flags & CTG_CONN_SYN_ORIG) &&
	    !((c->peer[0].flags | c->peer[1].flags) & CTG_PEER_LIBERAL) &&
	    !((c->peer[0].xflags | c->peer[1].xflags) & CTG_PEERX_MD5)) {
		if (f & CTG_TH_RST)
			hist_add(c, dir, H_RST);
		return CTG_R_TCP_MD5_UNEXPECTED;
	}
	if (f & CTG_TH_RST) {
		hist_add(c, dir, H_RST);
		if (conn_dead(c) && (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)))
			return CTG_R_TCP_CLOSED;
		return tcp_rst(c, dir, p, now_us);
	}
	if ((f & (CTG_TH_SYN | CTG_TH_ACK)) == CTG_TH_SYN)
		return tcp_syn(c, dir, p, now_us, reopen);
	if ((f & (CTG_TH_SYN | CTG_TH_ACK)) == (CTG_TH_SYN | CTG_TH_ACK))
		return tcp_synack(c, dir, p);
	return tcp_segment(c, dir, p, now_us, grace_us);
}

static void
tcp_packet(struct ctg_tracker *t, const struct ctg_packet *p, uint64_t now_us,
    struct ctg_track_result *res)
{
	uint8_t f = p->tcp.flags;
	enum ctg_reason why = tcp_flags_check(f);
	struct ctg_conn *c;
	uint8_t dir = 0;

	c = conn_find(t, &p->tuple, &dir);
	if (c && expired(t, c, now_us)) {
		conn_end(t, c, CTG_END_TIMEOUT, now_us);
		c = NULL;
	}
	if (why != CTG_R_NONE) {
		if (c) {
			res->conn = c;
			res->dir = dir;
			res->before[0] = res->after[0] = c->peer[0].state;
			res->before[1] = res->after[1] = c->peer[1].state;
			/* Zeek's letters: q for SYN with FIN or RST, i for FIN with RST */
			if ((f & CTG_TH_SYN) && (f & (CTG_TH_FIN | CTG_TH_RST)))
				hist_add(c, dir, H_MULTIFLAG);
			else if ((f & (CTG_TH_FIN | CTG_TH_RST)) == (CTG_TH_FIN | CTG_TH_RST))
				hist_add(c, dir, H_INCONSISTENT);
			else if (f & CTG_TH_FIN)
				hist_add(c, dir, H_FIN);
		}
		res->ctstate = CTG_CT_INVALID;
		res->reason = why;
		return;
	}

	bool reopened = false;
	if (c) {
		bool reopen;
		uint64_t last_before = c->last_us;

		res->conn = c;
		res->dir = dir;
		res->before[0] = c->peer[0].state;
		res->before[1] = c->peer[1].state;
		why = tcp_existing(c, dir, p, now_us, t->rst_grace_us, &reopen);
		if (reopen) {
			conn_end(t, c, CTG_END_REOPENED, now_us);
			c = NULL;
			res->conn = NULL;
			reopened = true;
		} else {
			res->reason = why;
			res->after[0] = c->peer[0].state;
			res->after[1] = c->peer[1].state;
			if (ctg_reason_class(why) == CTG_RC_INVALID) {
				res->ctstate = CTG_CT_INVALID;
				return;
			}
			c->last_us = now_us;
			c->peer[dir].flags |= CTG_PEER_SEEN;
			if (dir == 1)
				c->flags |= CTG_CONN_SEEN_REPLY;
			res->ctstate = (dir == 0 && !(c->flags & CTG_CONN_SEEN_REPLY)) ?
			    CTG_CT_NEW : CTG_CT_ESTABLISHED;
			/* a retransmitted SYN must not keep an unanswered entry alive */
			if (why == CTG_R_TCP_SYN_RETRANSMIT && dir == 0 &&
			    !(c->flags & CTG_CONN_SEEN_REPLY))
				c->last_us = last_before;
			/* nor may SYNs passed on a held tuple keep it (nf_conntrack IGNORE) */
			if (why == CTG_R_TCP_SYN_HELD || why == CTG_R_TCP_RST_GRACE)
				c->last_us = last_before;
			tcp_set_tclass(t, c);
			return;
		}
	}

	/* No connection: only a SYN opens one, or a pickup in loose mode. */
	res->dir = 0;
	if ((f & (CTG_TH_SYN | CTG_TH_ACK)) == CTG_TH_SYN) {
		c = conn_new(t, &p->tuple, t->last_hash, now_us);
		if (!c) {
			res->ctstate = CTG_CT_INVALID;
			res->reason = CTG_R_TABLE_FULL;
			return;
		}
		peer_init_syn(&c->peer[0], p);
		c->peer[0].state = CTG_TCPS_SYN_SENT;
		c->peer[1].state = CTG_TCPS_LISTEN;
		c->flags |= CTG_CONN_SYN_ORIG;
		hist_add(c, 0, H_SYN);
		if (reopened)
			why = CTG_R_TCP_REOPEN;
		else if (p->payload_len) {
			why = CTG_R_TCP_SYN_DATA;
			hist_add(c, 0, H_DATA);
		} else if (p->tcp.opt.wscale_raw > CTG_TCP_MAX_WSCALE)
			why = CTG_R_TCP_WSCALE_CLAMPED;
	} else if (t->midstream == CTG_MIDSTREAM_LOOSE &&
	    (f & (CTG_TH_SYN | CTG_TH_ACK)) == (CTG_TH_SYN | CTG_TH_ACK)) {
		/* A SYN/ACK first: its receiver is the originator (roles flipped). */
		struct ctg_tuple rev;

		tuple_reverse(&rev, &p->tuple);
		c = conn_new(t, &rev, t->last_hash, now_us);
		if (!c) {
			res->ctstate = CTG_CT_INVALID;
			res->reason = CTG_R_TABLE_FULL;
			return;
		}
		res->dir = 1;
		strcpy(c->history, "^");
		peer_init_syn(&c->peer[1], p);
		c->peer[1].state = CTG_TCPS_SYN_RCVD;
		c->peer[0].isn = p->tcp.ack - 1;
		c->peer[0].td_end = p->tcp.ack;
		c->peer[0].td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
		c->peer[0].td_maxwin = 1;
		c->peer[0].state = CTG_TCPS_SYN_SENT;
		c->peer[0].flags = CTG_PEER_LIBERAL | CTG_PEER_SACK_PERM;
		/* its SYN went by unseen: if scaling is on, assume the largest shift */
		c->peer[0].wscale = p->tcp.opt.has_wscale ? CTG_TCP_MAX_WSCALE : 0;
		c->flags |= CTG_CONN_MIDSTREAM | CTG_CONN_FLIPPED | CTG_CONN_SYNACK |
		    CTG_CONN_SEEN_REPLY;
		hist_add(c, 1, H_SYNACK);
		if (p->payload_len)
			hist_add(c, 1, H_DATA);
		why = CTG_R_TCP_MIDSTREAM;
	} else if (t->midstream == CTG_MIDSTREAM_LOOSE &&
	    (f & (CTG_TH_SYN | CTG_TH_RST | CTG_TH_FIN)) == 0 && (f & CTG_TH_ACK)) {
		c = conn_new(t, &p->tuple, t->last_hash, now_us);
		if (!c) {
			res->ctstate = CTG_CT_INVALID;
			res->reason = CTG_R_TABLE_FULL;
			return;
		}
		peer_init_midstream(&c->peer[0], p, CTG_TCPS_ESTABLISHED);
		c->peer[1].state = CTG_TCPS_ESTABLISHED;
		c->peer[1].flags = CTG_PEER_LIBERAL | CTG_PEER_SACK_PERM;
		c->peer[1].wscale = CTG_TCP_MAX_WSCALE;
		c->peer[1].td_end = p->tcp.ack;
		c->peer[1].td_maxwin = 1;
		c->peer[1].td_maxend = p->tcp.ack;
		c->peer[0].td_maxend = p->tcp.seq + ((uint32_t)(p->tcp.window ? p->tcp.window : 1) << CTG_TCP_MAX_WSCALE);
		c->flags |= CTG_CONN_MIDSTREAM;
		hist_add(c, 0, p->payload_len ? H_DATA : H_ACK);
		why = CTG_R_TCP_MIDSTREAM;
	} else {
		res->ctstate = CTG_CT_INVALID;
		if (f & (CTG_TH_SYN | CTG_TH_RST | CTG_TH_FIN))
			res->reason = CTG_R_TCP_NEW_NOT_SYN;
		else
			res->reason = CTG_R_TCP_NO_CONN;
		return;
	}
	c->peer[res->dir].flags |= CTG_PEER_SEEN;
	res->conn = c;
	res->created = true;
	res->ctstate = CTG_CT_NEW;
	res->reason = why;
	res->before[0] = res->before[1] = CTG_TCPS_NONE;
	res->after[0] = c->peer[0].state;
	res->after[1] = c->peer[1].state;
	tcp_set_tclass(t, c);
}

/* --- UDP, ICMP, other ---------------------------------------------------- */

/*
 * ICMP queries carry (id, 0) as ports in both directions; key them as
 * (id, id) so that the reply finds its request like any reversed tuple.
 */
static void
flow_key(struct ctg_tuple *key, const struct ctg_tuple *tp)
{
	*key = *tp;
	if (tp->proto == IPPROTO_ICMP || tp->proto == IPPROTO_ICMPV6)
		key->dport = key->sport;
}

static void
datagram_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res)
{
	uint8_t dir = 0;
	struct ctg_tuple key;
	bool is_icmp = p->tuple.proto == IPPROTO_ICMP || p->tuple.proto == IPPROTO_ICMPV6;

	flow_key(&key, &p->tuple);
	struct ctg_conn *c = conn_find(t, &key, &dir);

	if (c && expired(t, c, now_us)) {
		conn_end(t, c, CTG_END_TIMEOUT, now_us);
		c = NULL;
	}
	if (!c) {
		if (is_icmp && p->icmp.is_reply) {
			res->ctstate = CTG_CT_INVALID;
			res->reason = CTG_R_ICMP_REPLY_NO_REQUEST;
			return;
		}
		c = conn_new(t, &key, t->last_hash, now_us);
		if (!c) {
			res->ctstate = CTG_CT_INVALID;
			res->reason = CTG_R_TABLE_FULL;
			return;
		}
		c->tclass = is_icmp ? TC_ICMP :
		    p->tuple.proto == IPPROTO_UDP ? TC_UDP_UNREPLIED : TC_OTHER;
		hist_add(c, 0, H_DATA);
		res->conn = c;
		res->created = true;
		res->ctstate = CTG_CT_NEW;
		res->reason = CTG_R_NONE;
		return;
	}
	res->conn = c;
	res->dir = dir;
	if (is_icmp && p->icmp.is_reply && dir == 0) {
		/* an echo reply travelling the way the request went */
		res->ctstate = CTG_CT_INVALID;
		res->reason = CTG_R_ICMP_REPLY_NO_REQUEST;
		return;
	}
	c->last_us = now_us;
	hist_add(c, dir, H_DATA);
	if (dir == 1) {
		c->flags |= CTG_CONN_SEEN_REPLY;
		if (c->proto_state == 0)
			c->proto_state = 1;
	} else if (c->proto_state == 1) {
		c->proto_state = 2;
		c->flags |= CTG_CONN_ASSURED;
	}
	if (p->tuple.proto == IPPROTO_UDP) {
		c->tclass = c->proto_state == 0 ? TC_UDP_UNREPLIED :
		    c->proto_state == 1 ? TC_UDP_REPLIED : TC_UDP_ASSURED;
		evict_list_place(t, c, c->proto_state == 0 ? L_UNANSWERED :
		    c->proto_state == 1 ? L_CLOSING : L_NONE);
	} else if (is_icmp)
		evict_list_place(t, c, c->proto_state == 0 ? L_UNANSWERED : L_CLOSING);
	else
		evict_list_place(t, c, c->proto_state == 0 ? L_UNANSWERED : L_NONE);
	res->ctstate = (c->flags & CTG_CONN_SEEN_REPLY) ? CTG_CT_ESTABLISHED : CTG_CT_NEW;
	res->reason = CTG_R_NONE;
}

/*
 * An ICMP error is RELATED when it quotes a packet of a tracked connection,
 * travels back toward that packet's sender, and (TCP) quotes a sequence
 * number inside the sender's window, as pf checks: otherwise anyone could
 * tear connections down blind. It never changes the connection.
 */
static void
icmp_error_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res)
{
	const struct ctg_tuple *in = &p->icmp.inner;
	uint8_t dir = 0;
	struct ctg_tuple key;

	flow_key(&key, in);
	struct ctg_conn *c = conn_find(t, &key, &dir);
	struct ctg_conn foreign;
	bool is_foreign = false;

	if (c && expired(t, c, now_us)) {
		conn_end(t, c, CTG_END_TIMEOUT, now_us);
		c = NULL;
	}
	/*
	 * The kernel balances queues by addresses: an error sent by a router
	 * about a flow may reach another queue's worker than the flow's. Ask
	 * the other trackers for a copy to judge it by.
	 */
	if (!c && t->related_fn && t->related_fn(t->related_arg, &key, &foreign, &dir) &&
	    !expired(t, &foreign, now_us)) {
		c = &foreign;
		is_foreign = true;
	}
	res->ctstate = CTG_CT_INVALID;
	if (!c) {
		res->reason = CTG_R_ICMP_ERROR_NO_CONN;
		return;
	}
	res->conn = is_foreign ? NULL : c;
	res->dir = dir;
	res->before[0] = res->after[0] = c->peer[0].state;
	res->before[1] = res->after[1] = c->peer[1].state;
	if (memcmp(&p->tuple.dst, &in->src, sizeof(in->src)) != 0) {
		res->reason = CTG_R_ICMP_ERROR_WRONG_DIR;
		return;
	}
	if (in->proto == IPPROTO_TCP && p->icmp.inner_has_seq) {
		const struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
		uint32_t seq = p->icmp.inner_tcp_seq;
		uint32_t back = r->td_maxwin ? r->td_maxwin : 1;

		if (!((s->flags | r->flags) & CTG_PEER_LIBERAL) &&
		    (SEQ_LT(seq, s->td_end - back) || SEQ_GT(seq, s->td_maxend))) {
			res->reason = CTG_R_ICMP_ERROR_BAD_SEQ;
			return;
		}
	}
	res->ctstate = CTG_CT_RELATED;
	res->reason = CTG_R_NONE;
}

void
ctg_tracker_set_related_lookup(struct ctg_tracker *t, ctg_related_fn fn, void *arg)
{
	t->related_fn = fn;
	t->related_arg = arg;
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
	tc->rst_grace = cfg->timeouts.tcp_close;
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
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
		t->seed[1] = (uint64_t)ts.tv_sec ^ 0xda942042e4dd58b5ULL;
	}
	if (tc->id_base)
		t->next_id = tc->id_base;
	else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		t->next_id = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
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
		tcp_packet(t, p, now_us, res);
	} else if ((p->tuple.proto == IPPROTO_ICMP || p->tuple.proto == IPPROTO_ICMPV6) &&
	    p->icmp.is_error) {
		icmp_error_packet(t, p, now_us, res);
	} else if ((p->tuple.proto == IPPROTO_ICMP || p->tuple.proto == IPPROTO_ICMPV6) &&
	    !p->icmp.is_query) {
		/* neighbour discovery, router adverts, MLD: nothing to track */
		res->ctstate = CTG_CT_NEW;
		res->reason = CTG_R_NONE;
	} else {
		datagram_packet(t, p, now_us, res);
	}
	if (res->conn && p->tuple.proto != IPPROTO_TCP) {
		res->before[0] = res->after[0] = CTG_TCPS_NONE;
		res->before[1] = res->after[1] = CTG_TCPS_NONE;
	}
	t->st.ctstate[res->ctstate]++;
	if ((unsigned)res->reason < CTG_R_COUNT)
		t->st.reason[res->reason]++;
}

void
ctg_tracker_account(struct ctg_tracker *t, struct ctg_conn *c, uint8_t dir,
    uint32_t bytes)
{
	(void)t;
	c->flags |= CTG_CONN_CONFIRMED;
	c->pkts[dir & 1]++;
	c->bytes[dir & 1] += bytes;
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
			conn_end(t, c, CTG_END_TIMEOUT, now_us);
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
			conn_end(t, &t->pool[i], why, now_us);
}

void
ctg_tracker_end(struct ctg_tracker *t, struct ctg_conn *c, enum ctg_end_reason why,
    uint64_t now_us)
{
	conn_end(t, c, why, now_us);
}

int
ctg_tracker_kill(struct ctg_tracker *t, uint64_t id, uint64_t now_us)
{
	for (uint32_t i = 0; i < t->max; i++) {
		if (t->pool[i].id == id) {
			conn_end(t, &t->pool[i], CTG_END_KILLED, now_us);
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
	struct ctg_conn *c = conn_find(t, tuple, &d);

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

/* --- summaries ------------------------------------------------------------ */

/* Whether dir's history holds any letter other than upper. */
static bool
hist_has_other(const struct ctg_conn *c, uint8_t dir, char upper)
{
	size_t n = strnlen(c->history, sizeof(c->history));
	char want = dir == 0 ? upper : (char)(upper - 'A' + 'a');

	for (size_t i = 0; i < n; i++) {
		char h = c->history[i];
		bool mine = dir == 0 ? (h >= 'A' && h <= 'Z') : (h >= 'a' && h <= 'z');

		if (mine && h != want)
			return true;
	}
	return false;
}

/* Zeek's endpoint states, reconstructed from what we recorded. */
enum zstate { Z_INACTIVE, Z_SYN_SENT, Z_SYN_ACK_SENT, Z_PARTIAL, Z_ESTABLISHED, Z_CLOSED, Z_RESET };

static enum zstate
zeek_state(const struct ctg_conn *c, uint8_t dir)
{
	/*
	 * From what each side sent, not from our inferred RFC 793 state: an
	 * RST sets both sides CLOSED here, but Zeek still calls a side that
	 * never answered inactive.
	 */
	if (c->flags & (dir == 0 ? CTG_CONN_RST_ORIG : CTG_CONN_RST_RESP))
		return Z_RESET;
	if (c->flags & (dir == 0 ? CTG_CONN_FIN_ORIG : CTG_CONN_FIN_RESP))
		return Z_CLOSED;
	if (!hist_has(c, dir, 0, true))
		return Z_INACTIVE;
	if (c->flags & CTG_CONN_MIDSTREAM) {
		if (dir == 1 && (c->flags & CTG_CONN_SYNACK) &&
		    !hist_has_other(c, 1, 'H'))
			return Z_SYN_ACK_SENT;
		return Z_PARTIAL;
	}
	if (c->flags & CTG_CONN_ASSURED)
		return Z_ESTABLISHED;
	if (dir == 0)
		return (c->flags & CTG_CONN_SYN_ORIG) ? Z_SYN_SENT : Z_PARTIAL;
	if (c->flags & CTG_CONN_SYNACK)
		return Z_SYN_ACK_SENT;
	if (c->peer[1].state == CTG_TCPS_SYN_SENT || c->peer[1].state == CTG_TCPS_SYN_RCVD)
		return Z_SYN_SENT;
	return Z_PARTIAL;
}

static bool
history_rstos0(const char *h)
{
	if (*h == '^')
		h++;
	if (*h != 'S')
		return false;
	for (h++; *h; h++) {
		if (*h == 'R')
			return true;
		if (strchr("HAFGIQ", *h))
			return false;
	}
	return false;
}

const char *
ctg_conn_state_code(const struct ctg_conn *c)
{
	if (c->tuple.proto != IPPROTO_TCP) {
		bool o = hist_has(c, 0, 0, true), r = hist_has(c, 1, 0, true);
		if (o)
			return r ? "SF" : "S0";
		return r ? "SHR" : "OTH";
	}
	enum zstate os = zeek_state(c, 0), rs = zeek_state(c, 1);
	bool o_inactive = os == Z_INACTIVE || os == Z_PARTIAL;
	bool r_inactive = rs == Z_INACTIVE || rs == Z_PARTIAL;

	if (rs == Z_RESET) {
		if (os == Z_SYN_SENT || os == Z_SYN_ACK_SENT ||
		    (os == Z_RESET && c->bytes[0] == 0 && c->bytes[1] == 0 &&
		    !(c->flags & (CTG_CONN_DATA_ORIG | CTG_CONN_DATA_RESP))))
			return "REJ";
		return o_inactive ? "RSTRH" : "RSTR";
	}
	if (os == Z_RESET) {
		if (r_inactive)
			return history_rstos0(c->history) ? "RSTOS0" : "OTH";
		return "RSTO";
	}
	if (rs == Z_CLOSED && os == Z_CLOSED)
		return "SF";
	if (os == Z_CLOSED)
		return r_inactive ? "SH" : "S2";
	if (rs == Z_CLOSED)
		return o_inactive ? "SHR" : "S3";
	if (os == Z_SYN_SENT && rs == Z_INACTIVE)
		return "S0";
	if (os == Z_ESTABLISHED && rs == Z_ESTABLISHED)
		return "S1";
	return "OTH";
}

const char *
ctg_conn_label(const struct ctg_conn *c)
{
	if (c->tuple.proto != IPPROTO_TCP)
		return c->proto_state == 0 ? "UNREPLIED" :
		    c->proto_state == 1 ? "REPLIED" : "ASSURED";
	uint8_t o = c->peer[0].state, r = c->peer[1].state;
	if ((c->flags & CTG_CONN_CLOSED) && (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)))
		return "CLOSE";
	if (o == CTG_TCPS_ESTABLISHED && r == CTG_TCPS_ESTABLISHED)
		return "ESTABLISHED";
	if (r == CTG_TCPS_LISTEN)
		return "SYN_SENT";
	if (o == CTG_TCPS_SYN_SENT || r == CTG_TCPS_SYN_RCVD || r == CTG_TCPS_SYN_SENT)
		return "SYN_RECV";
	if (o == CTG_TCPS_TIME_WAIT || r == CTG_TCPS_TIME_WAIT ||
	    (o == CTG_TCPS_CLOSED && r == CTG_TCPS_CLOSED))
		return "TIME_WAIT";
	if (o == CTG_TCPS_LAST_ACK || r == CTG_TCPS_LAST_ACK)
		return "LAST_ACK";
	if (o == CTG_TCPS_CLOSE_WAIT || r == CTG_TCPS_CLOSE_WAIT)
		return "CLOSE_WAIT";
	return "FIN_WAIT";
}

void
ctg_conn_summary(const struct ctg_conn *c, enum ctg_end_reason why,
    struct ctg_conn_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->conn_id = c->id;
	rec->first_us = c->first_us;
	rec->last_us = c->last_us;
	rec->tuple = c->tuple;
	rec->pkts[0] = c->pkts[0];
	rec->pkts[1] = c->pkts[1];
	rec->bytes[0] = c->bytes[0];
	rec->bytes[1] = c->bytes[1];
	rec->orig_state = c->peer[0].state;
	rec->resp_state = c->peer[1].state;
	rec->end_reason = (uint8_t)why;
	ctg_copy_str(rec->conn_state, sizeof(rec->conn_state), ctg_conn_state_code(c));
	/* history is always terminated inside its 16 bytes (hist_add) */
	_Static_assert(sizeof(rec->history) >= sizeof(c->history), "history fits");
	memcpy(rec->history, c->history, sizeof(c->history));
}

/* --- snapshot -------------------------------------------------------------- */

#define SNAP_MAGIC "CTGSNAP\n"
/*
 * 2: td_end is the in-order edge, fin_ooo replaced hist_seen, peer
 * nibbles; the header says final or checkpoint, and is written last.
 */
#define SNAP_VERSION 2
#define SNAP_KIND_FINAL 0       /* written at a clean stop: every packet seen */
#define SNAP_KIND_CHECKPOINT 1  /* written while running: may be behind */

struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t entry_size;
	uint64_t count;
	uint64_t saved_us;
	uint64_t next_id;
	uint32_t kind;          /* SNAP_KIND_* (version 2 on) */
	uint32_t reserved;
};

/* Version 1 had no kind: it was only ever written at a clean stop. */
#define SNAP_V1_HEADER_SIZE 40

static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *b = data;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_all(int fd, void *buf, size_t len)
{
	uint8_t *b = buf;

	while (len > 0) {
		ssize_t n = read(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Version 2 writes the entries first and the header's counts last (a
 * checkpoint learns how many it wrote only at the end): the header is
 * rewritten in place, and the checksum covers the entries, then the header.
 */
int
ctg_snap_begin(struct ctg_snap_writer *w, int fd, bool checkpoint)
{
	struct snap_header h;

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->sum = 0xcbf29ce484222325ULL;
	w->checkpoint = checkpoint;
	memset(&h, 0, sizeof(h));
	return write_all(fd, &h, sizeof(h));
}

int
ctg_snap_write(struct ctg_snap_writer *w, const struct ctg_conn *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w->sum = fnv1a(w->sum, &c[i], sizeof(c[i]));
	w->count += n;
	return write_all(w->fd, c, n * sizeof(*c));
}

int
ctg_snap_finish(struct ctg_snap_writer *w, uint64_t saved_us, uint64_t next_id)
{
	struct snap_header h;
	uint64_t sum;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SNAP_MAGIC, 8);
	h.version = SNAP_VERSION;
	h.entry_size = sizeof(struct ctg_conn);
	h.count = w->count;
	h.saved_us = saved_us;
	h.next_id = next_id;
	h.kind = w->checkpoint ? SNAP_KIND_CHECKPOINT : SNAP_KIND_FINAL;
	sum = fnv1a(w->sum, &h, sizeof(h));
	if (write_all(w->fd, &sum, sizeof(sum)) < 0)
		return -1;
	if (pwrite(w->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -1;
	return 0;
}

size_t
ctg_tracker_copy_slice(const struct ctg_tracker *t, size_t start, size_t count,
    struct ctg_conn *out, uint64_t *next_id)
{
	size_t n = 0;

	for (size_t i = start; i < start + count && i < t->max; i++) {
		const struct ctg_conn *c = &t->pool[i];

		if (c->id == 0 || !(c->flags & CTG_CONN_CONFIRMED))
			continue;
		out[n] = *c;
		/* places in this table and this run's rules mean nothing to another */
		out[n].hnext = out[n].lprev = out[n].lnext = 0;
		out[n].tprofile = 0;
		n++;
	}
	*next_id = t->next_id;
	return n;
}

int
ctg_tracker_save(struct ctg_tracker *t, int fd, uint64_t now_us)
{
	return ctg_tracker_save_as(t, fd, now_us, false);
}

int
ctg_tracker_save_as(struct ctg_tracker *t, int fd, uint64_t now_us, bool checkpoint)
{
	struct ctg_snap_writer w;
	struct ctg_conn chunk[256];
	uint64_t next_id = t->next_id;

	if (ctg_snap_begin(&w, fd, checkpoint) < 0)
		return -1;
	for (size_t i = 0; i < t->max; i += 256) {
		size_t n = ctg_tracker_copy_slice(t, i, 256, chunk, &next_id);

		if (n && ctg_snap_write(&w, chunk, n) < 0)
			return -1;
	}
	return ctg_snap_finish(&w, now_us, next_id);
}

/*
 * Ids come from the clock in microseconds (about 2^51 now); one near 2^64
 * is corrupt, and would wrap next_id to 0, the mark of a free slot.
 */
#define SNAP_MAX_ID (1ULL << 62)

static bool
conn_sane(const struct ctg_conn *c)
{
	if (c->id == 0 || c->id >= SNAP_MAX_ID)
		return false;
	if (c->tuple.family != 4 && c->tuple.family != 6)
		return false;
	if (c->peer[0].state >= CTG_TCPS_COUNT || c->peer[1].state >= CTG_TCPS_COUNT)
		return false;
	if (c->tclass >= TC_COUNT || (c->action & 0x3f) > CTG_ACT_REJECT || c->proto_state > 2)
		return false;
	if (memchr(c->history, '\0', sizeof(c->history)) == NULL)
		return false;
	return c->peer[0].wscale <= CTG_TCP_MAX_WSCALE && c->peer[1].wscale <= CTG_TCP_MAX_WSCALE;
}

/* As datagram_packet leaves them: unassured UDP, ICMP, unreplied others. */
static bool
datagram_evictable(const struct ctg_conn *c)
{
	if (c->tuple.proto == IPPROTO_UDP)
		return c->proto_state < 2;
	if (c->tuple.proto == IPPROTO_ICMP || c->tuple.proto == IPPROTO_ICMPV6)
		return true;
	return c->proto_state == 0;
}

int
ctg_tracker_restore(struct ctg_tracker *t, int fd, uint64_t now_us,
    char *err, size_t errlen)
{
	struct snap_header h;
	uint64_t sum = 0xcbf29ce484222325ULL, want;
	struct ctg_conn *buf = NULL;
	int restored = 0;

	memset(&h, 0, sizeof(h));
	if (read_all(fd, &h, SNAP_V1_HEADER_SIZE) < 0) {
		snprintf(err, errlen, "snapshot truncated in its header");
		return -1;
	}
	if (memcmp(h.magic, SNAP_MAGIC, 8) != 0) {
		snprintf(err, errlen, "not a ctguard connection snapshot");
		return -1;
	}
	if ((h.version != 1 && h.version != SNAP_VERSION) ||
	    h.entry_size != sizeof(struct ctg_conn)) {
		snprintf(err, errlen, "snapshot version %u (entry size %u) not supported",
		    h.version, h.entry_size);
		return -1;
	}
	if (h.version >= 2 && read_all(fd, (char *)&h + SNAP_V1_HEADER_SIZE,
	    sizeof(h) - SNAP_V1_HEADER_SIZE) < 0) {
		snprintf(err, errlen, "snapshot truncated in its header");
		return -1;
	}
	if (h.kind > SNAP_KIND_CHECKPOINT) {
		snprintf(err, errlen, "snapshot of unknown kind %u", h.kind);
		return -1;
	}
	if (h.next_id >= SNAP_MAX_ID) {
		snprintf(err, errlen, "snapshot next id %llu is corrupt",
		    (unsigned long long)h.next_id);
		return -1;
	}
	if (h.count > t->max) {
		snprintf(err, errlen, "snapshot holds %llu connections, table takes %u",
		    (unsigned long long)h.count, t->max);
		return -1;
	}
	if (h.version == 1)
		sum = fnv1a(sum, &h, SNAP_V1_HEADER_SIZE);
	if (h.count && (buf = calloc(h.count, sizeof(*buf))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint64_t i = 0; i < h.count; i++) {
		if (read_all(fd, &buf[i], sizeof(buf[i])) < 0) {
			snprintf(err, errlen, "snapshot truncated at entry %llu", (unsigned long long)i);
			free(buf);
			return -1;
		}
		sum = fnv1a(sum, &buf[i], sizeof(buf[i]));
		if (h.version == 1) {
			/* same layout: hist_seen and the whole retrans byte become ours */
			buf[i].fin_ooo[0] = buf[i].fin_ooo[1] = 0;
			for (int d = 0; d < 2; d++) {
				if (buf[i].peer[d].xflags)
					buf[i].peer[d].retrans = 15;
				buf[i].peer[d].xflags = 0;
				buf[i].peer[d].syn_wscale = 0;
			}
		}
		if (!conn_sane(&buf[i])) {
			snprintf(err, errlen, "snapshot entry %llu is corrupt", (unsigned long long)i);
			free(buf);
			return -1;
		}
	}
	if (h.version >= 2)
		sum = fnv1a(sum, &h, sizeof(h));
	if (read_all(fd, &want, sizeof(want)) < 0 || want != sum) {
		snprintf(err, errlen, "snapshot checksum mismatch");
		free(buf);
		return -1;
	}
	if (h.next_id > t->next_id)
		t->next_id = h.next_id;
	for (uint64_t i = 0; i < h.count; i++) {
		struct ctg_conn *c;
		uint8_t d;

		if (conn_find(t, &buf[i].tuple, &d) != NULL)
			continue;
		if (!t->free_head)
			break;
		c = &t->pool[t->free_head - 1];
		t->free_head = c->hnext;
		*c = buf[i];
		c->hnext = c->lprev = c->lnext = 0;
		/* verdicts and rule indices belong to the rules of the last run */
		c->flags &= ~CTG_CONN_VERDICT;
		c->rule_index = -1;
		c->action = 0;
		c->tprofile = 0;        /* an index into the last run's profiles */
		/* new ids must not repeat a restored one, whatever next_id said */
		if (c->id >= t->next_id)
			t->next_id = c->id + 1;
		uint32_t b = tuple_hash(t, &c->tuple) & (t->nbuckets - 1);
		c->hnext = t->buckets[b];
		t->buckets[b] = idx_of(t, c) + 1;
		t->live++;
		if (expired(t, c, now_us)) {
			conn_end(t, c, CTG_END_TIMEOUT, now_us);
			continue;
		}
		if (c->tuple.proto == IPPROTO_TCP) {
			/*
			 * A checkpoint is up to one interval behind: the
			 * endpoints moved their windows on since, with packets
			 * this table never saw. Each side's next segment
			 * re-learns its edges (as a pick-up does); the checks
			 * are strict again from the segment after. A final
			 * snapshot saw every packet that passed: no re-learning.
			 */
			if (h.kind == SNAP_KIND_CHECKPOINT && !(c->flags & CTG_CONN_CLOSED)) {
				c->peer[0].flags |= CTG_PEER_LIBERAL;
				c->peer[1].flags |= CTG_PEER_LIBERAL;
			}
			tcp_set_tclass(t, c);
		} else if (!(c->flags & CTG_CONN_SEEN_REPLY))
			evict_list_place(t, c, L_UNANSWERED);
		else if (datagram_evictable(c))
			evict_list_place(t, c, L_CLOSING);
		restored++;
	}
	free(buf);
	return restored;
}
