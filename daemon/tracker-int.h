/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker, private: the table shared by the rooms of the
 * tracker. Only the daemon/tracker*.c sources include this; everything
 * else uses ctguard/tracker.h.
 *
 * The rooms:
 *   tracker.c           the table: SipHash of the tuple, the pool, the
 *                       eviction lists, timeouts (adaptive, profiles),
 *                       find / new / end, and the public entry points
 *                       (new, free, packet dispatch, sweep, flush, kill,
 *                       foreach, lookup, stats, memory)
 *   tracker-tcp.c       the TCP state machine: flags, windows, RST, SYN,
 *                       SYN/ACK, segments, PAWS, the RST grace (packet path)
 *   tracker-datagram.c  UDP, ICMP echo, other protocols, ICMP errors and
 *                       the related lookup in other queues' trackers
 *                       (packet path)
 *   tracker-label.c     the history letters, Zeek conn_state and labels,
 *                       connection summaries
 *   tracker-snapshot.c  the snapshot format: save, the sliced writer,
 *                       restore and its checks
 *   tracker-sync.c      state sync: changed-connection marks and their
 *                       ring, export, apply/remove of another gateway's
 *                       entries, re-learning their edges after failover
 * Non-static functions are ctg_* (public, tracker.h) or tracker_*
 * (private, declared below by the file that defines them). The helpers
 * the packet path calls across rooms that the compiler inlined when all
 * was one file (idx_of, expired, conn_dead) are static inline here; the
 * others (find, new, end, hash, evict lists, history letters) were
 * out-of-line calls then too. The one call a packet gains is
 * ctg_tracker_packet's into its protocol's room: about 1% more
 * instructions per packet (callgrind, bench_tracker's stream).
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
 * see tcp_window() in tracker-tcp.c for the bounds and why each failure is
 * INVALID or only a note.
 */
#ifndef CTGUARD_TRACKER_INT_H
#define CTGUARD_TRACKER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>

#include "ctguard/timeouts.h"
#include "ctguard/tracker.h"

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

#define MAX_PROFILES 254

/* The timeout classes are timeouts.h's list, in its order. */
enum tclass {
#define CTG_X_TCLASS(sym, key, def, doc) TC_##sym = CTG_TO_##sym,
	CTG_TIMEOUT_CLASSES(CTG_X_TCLASS)
#undef CTG_X_TCLASS
	TC_COUNT = CTG_TO_COUNT
};

/* History letters, Zeek's alphabet (tracker-label.c); upper case for the originator. */
enum hist_bit {
	H_SYN, H_SYNACK, H_ACK, H_DATA, H_FIN, H_RST, H_BADSUM, H_RETRANS,
	H_ZEROWIN, H_MULTIFLAG, H_INCONSISTENT, H_GAP,
};

/* The eviction lists an entry may be on (ctg_tracker.list_of). */
enum { L_NONE, L_CLOSING, L_UNANSWERED };

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
	uint64_t relearn_until_us;      /* restored from a checkpoint: loose until then */
	struct ctg_timeouts profiles[MAX_PROFILES];
	unsigned nprofiles;
	uint32_t last_hash;             /* of the tuple conn_find looked up last */
	ctg_related_fn related_fn;      /* look in other trackers (other queues) */
	void *related_arg;
	ctg_conn_end_fn end_fn;
	void *end_arg;
	struct ctg_tracker_stats st;
	/* state sync (tracker-sync.c); sync_of NULL: off */
	uint8_t *sync_of;               /* per pool slot: SY_* */
	uint16_t *sync_upd;             /* per pool slot: packets since marked */
	uint32_t *sync_edges;           /* per pool slot: tracker_sync_edge_sum when marked */
	uint32_t *sync_relearn_ms;      /* per pool slot: re-learning ends (ms clock; 0 not begun) */
	uint32_t *sync_ring;            /* pool indices of dirty entries */
	uint32_t sync_ring_cap, sync_head, sync_tail;
	struct ctg_conn_end_note *sync_ends;
	uint32_t sync_ends_cap, sync_ends_n;
	uint32_t sync_walk_left, sync_walk_hand;        /* after a ring overflow */
	uint16_t sync_max_updates;
	uint8_t sync_carry;             /* CTG_SYNC_CARRY_* */
	bool sync_changed;              /* the last packet created or moved its connection */
	uint8_t sync_urgent;            /* 0, 1 a change to send soon, 2 edges lagging: send now */
	bool sync_applying;             /* ends now come from another gateway: not sent back */
	bool sync_merge;                /* active-active: updates merge per endpoint */
	struct ctg_tracker_sync_stats sync_st;
};

/* Per-slot sync marks (ctg_tracker.sync_of). */
#define SY_DIRTY    0x01        /* changed since last drained */
#define SY_SENT     0x02        /* the other gateways know it */
#define SY_SYNCED   0x04        /* applied from another gateway */
#define SY_LOCAL    0x08        /* a packet of it passed here */
#define SY_RELEARN0 0x10        /* originator re-learns its edges (bounded) */
#define SY_RELEARN1 0x20
#define SY_SPLIT    0x40        /* active-active: other members forward parts of it */


/* tracker.c: the table */
uint32_t tracker_tuple_hash(const struct ctg_tracker *t, const struct ctg_tuple *tp);
void tracker_evict_list_move(struct ctg_tracker *t, struct ctg_conn *c, uint8_t which);
uint32_t tracker_timeout_of(const struct ctg_tracker *t, const struct ctg_conn *c);
void tracker_conn_end(struct ctg_tracker *t, struct ctg_conn *c,
    enum ctg_end_reason why, uint64_t now_us);
struct ctg_conn *tracker_conn_find(struct ctg_tracker *t, const struct ctg_tuple *tp,
    uint8_t *dir);
struct ctg_conn *tracker_conn_new(struct ctg_tracker *t, const struct ctg_tuple *tp,
    uint32_t hash, uint64_t now_us);

/* tracker-snapshot.c: an entry read from outside (snapshot, sync) is sane */
bool tracker_conn_sane(const struct ctg_conn *c);

/* tracker-sync.c */
void tracker_sync_mark(struct ctg_tracker *t, struct ctg_conn *c);
void tracker_sync_ended(struct ctg_tracker *t, const struct ctg_conn *c,
    enum ctg_end_reason why);
/* tracker_sync_relearn_begin's answers, and what tcp_known made of a candidate */
enum {
	SYNC_RELEARN_NO,                /* not re-learning */
	SYNC_RELEARN_STRICT,            /* re-learning, but this segment is judged strictly */
	SYNC_RELEARN_CANDIDATE,         /* within a window of the synced edges */
	SYNC_RELEARN_LOOSE,             /* ... refused strictly: loose for this segment */
};
uint8_t tracker_sync_relearn_begin(struct ctg_tracker *t, struct ctg_conn *c, uint8_t dir,
    const struct ctg_packet *p, uint64_t now_us);
void tracker_sync_relearn_end(struct ctg_tracker *t, struct ctg_conn *c, uint8_t dir,
    uint8_t token, enum ctg_reason why);

/* tracker-tcp.c */
void tracker_tcp_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res);
void tracker_tcp_set_tclass(struct ctg_tracker *t, struct ctg_conn *c);
void tracker_tcp_ack_of_fin(struct ctg_conn *c, uint8_t dir);
void tracker_tcp_sent_fin(struct ctg_conn *c, uint8_t dir);

/* tracker-datagram.c */
void tracker_datagram_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res);
void tracker_datagram_offload(struct ctg_tracker *t, struct ctg_conn *c);
void tracker_icmp_error_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res);

/* tracker-label.c: the history string */
bool tracker_hist_has(const struct ctg_conn *c, uint8_t dir, char upper, bool any);
void tracker_hist_add(struct ctg_conn *c, uint8_t dir, enum hist_bit bit);

static inline uint32_t
idx_of(const struct ctg_tracker *t, const struct ctg_conn *c)
{
	return (uint32_t)(c - t->pool);
}

/*
 * Put c at the young end of list which, unless it is on that list already:
 * the check runs for nearly every packet, the move rarely.
 */
static inline void
tracker_evict_list_place(struct ctg_tracker *t, struct ctg_conn *c, uint8_t which)
{
	if (t->list_of[idx_of(t, c)] != which)
		tracker_evict_list_move(t, c, which);
}

static inline bool
expired(const struct ctg_tracker *t, const struct ctg_conn *c, uint64_t now_us)
{
	return now_us >= c->last_us + (uint64_t)tracker_timeout_of(t, c) * 1000000ULL;
}

/*
 * Both sides' edges in one number: how far it moved is how far the two
 * moved together (each by less than 2^31 between two sends). Sequence
 * space, not bytes on the wire: a stream of pure ACKs moves nothing a
 * receiver would have to re-learn.
 */
static inline uint32_t
tracker_sync_edge_sum(const struct ctg_tracker *t, const struct ctg_conn *c, uint32_t i)
{
	uint32_t v = c->peer[0].td_end + c->peer[1].td_end;

	/*
	 * Split between active/active members: acks that crossed here move
	 * right edges the other member checks the data against (the acks
	 * move nothing else it sees).
	 */
	if (t->sync_of[i] & SY_SPLIT)
		v += c->peer[0].td_maxend + c->peer[1].td_maxend;
	return v;
}

/*
 * The edges of a TCP entry marked dirty moved a quarter of its largest
 * window since: send it now, whatever max_updates says. A receiver
 * re-learns synced edges only within one maximum window of them
 * (tracker-sync.c), and with GSO a packet can be 64 kB: a count of
 * packets alone does not bound how far the synced edges lag.
 */
static inline bool
tracker_sync_lagging(const struct ctg_tracker *t, const struct ctg_conn *c, uint32_t i)
{
	uint32_t w = c->peer[0].td_maxwin > c->peer[1].td_maxwin ?
	    c->peer[0].td_maxwin : c->peer[1].td_maxwin;

	return tracker_sync_edge_sum(t, c, i) - t->sync_edges[i] > w / 4;
}

/*
 * A state changed: the entry goes soon (urgent 1), and how far its edges
 * lag counts from here. The handshake moves the responder's edge from
 * nothing to its ISN, a jump of any size that is no lag.
 */
static inline void
tracker_sync_changed_state(struct ctg_tracker *t, const struct ctg_conn *c, uint32_t i)
{
	if (!t->sync_urgent)
		t->sync_urgent = 1;
	t->sync_edges[i] = tracker_sync_edge_sum(t, c, i);
}

/*
 * A marked entry to send before the interval is over. Only TCP: its edges
 * lag behind the traffic, and a receiver re-learns them only within a
 * window. A datagram flow has no edges; what a receiver needs of it (that
 * it lives, its replies seen) keeps for an interval however many packets
 * pass, so a fast UDP flow costs one entry per interval, not one message
 * every max_updates packets.
 */
static inline bool
tracker_sync_due(const struct ctg_tracker *t, const struct ctg_conn *c, uint32_t i)
{
	return c->tuple.proto == IPPROTO_TCP &&
	    ((t->sync_max_updates && t->sync_upd[i] >= t->sync_max_updates) ||
	    tracker_sync_lagging(t, c, i));
}

static inline bool
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

#endif
