/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: finds or creates the connection of a decoded packet,
 * validates the packet against what the connection's state allows, updates
 * the state and classifies the packet (NEW, ESTABLISHED, RELATED, INVALID)
 * with a reason code.
 *
 * It never drops anything itself (rules decide), knows nothing of NFQUEUE
 * or SQLite, and takes the clock as an argument, so it runs the same live,
 * in offline replay and in unit tests.
 *
 * Memory: one pool of max_connections entries and one bucket array, both
 * allocated by ctg_tracker_new; nothing is allocated per packet. A tracker
 * is not thread safe: the daemon gives each queue worker its own.
 */
#ifndef CTGUARD_TRACKER_H
#define CTGUARD_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/config.h"
#include "ctguard/packet.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"

/* One direction's sequence space, as a box in the middle infers it. */
struct ctg_tcp_peer {
	/*
	 * Next sequence number in order: the end of the data, SYN and FIN
	 * that crossed without a gap, i.e. what the receiver holds once they
	 * arrive. Segments beyond a gap do not move it (the receiver queues
	 * them and acts on them only in order); the receiver's ack does.
	 */
	uint32_t td_end;
	uint32_t td_maxend;     /* highest seq the peer's acks and window allow */
	uint32_t td_maxwin;     /* largest window advertised (scaled) */
	/*
	 * Highest ack sent. While the originator waits in SYN_SENT
	 * (CTG_PEER_MAXACK clear) it holds the TSval of its latest SYN, so
	 * that an answer's TSecr can be checked against [first, latest].
	 */
	uint32_t td_maxack;
	uint32_t isn;
	uint32_t last_tsval;    /* TS.Recent, kept as the receiver keeps it (RFC 7323 4.3) */
	uint8_t state;          /* enum ctg_tcp_state */
	uint8_t wscale : 4;
	uint8_t syn_wscale : 4; /* window scale of a noted SYN (CTG_PEERX_SYN_NOTED) */
	uint8_t flags;          /* CTG_PEER_* */
	uint8_t retrans : 4;    /* consecutive retransmissions, saturating at 15 */
	uint8_t xflags : 4;     /* CTG_PEERX_* */
};

#define CTG_PEER_WSCALE    0x01 /* sent window scale on its SYN */
#define CTG_PEER_SACK_PERM 0x02
#define CTG_PEER_TS        0x04 /* timestamps seen */
#define CTG_PEER_FIN       0x08 /* sent a FIN; td_end counts it */
#define CTG_PEER_LIBERAL   0x10 /* picked up midstream: bounds not known */
#define CTG_PEER_MAXACK    0x20 /* td_maxack valid */
#define CTG_PEER_UNACKED   0x40 /* sent data not yet acknowledged */
#define CTG_PEER_SEEN      0x80 /* at least one packet seen from it */

/* More peer flags (4 bits, ctg_tcp_peer.xflags). */
#define CTG_PEERX_OOO       0x1 /* sent data beyond a gap: its receiver may ack up to td_maxend */
#define CTG_PEERX_SYN_NOTED 0x2 /* sent a new SYN on this held tuple: a SYN/ACK may answer it */
#define CTG_PEERX_MD5       0x4 /* its SYN carried a TCP-MD5 option (RFC 2385) */
#define CTG_PEERX_FIN_OOO   0x8 /* sent a FIN beyond a gap (conn fin_ooo[dir]) */

/* Connection flags. */
#define CTG_CONN_SEEN_REPLY   0x0001
#define CTG_CONN_ASSURED      0x0002
#define CTG_CONN_MIDSTREAM    0x0004
#define CTG_CONN_CONFIRMED    0x0008 /* a packet of it was accepted */
#define CTG_CONN_VERDICT      0x0010 /* verdict cached in rule_index/action */
#define CTG_CONN_FLIPPED      0x0020 /* picked up from a SYN/ACK: roles inferred */
#define CTG_CONN_SYN_ORIG     0x0040 /* for conn_state: SYN seen from originator */
#define CTG_CONN_SYNACK       0x0080 /* SYN/ACK seen from responder */
#define CTG_CONN_FIN_ORIG     0x0100
#define CTG_CONN_FIN_RESP     0x0200
#define CTG_CONN_RST_ORIG     0x0400
#define CTG_CONN_RST_RESP     0x0800
#define CTG_CONN_CHALLENGE    0x1000 /* responder ACKed a SYN: an RST may follow */
#define CTG_CONN_CLOSED       0x2000 /* ended by FIN or RST, lingering */
#define CTG_CONN_DATA_ORIG    0x4000
#define CTG_CONN_DATA_RESP    0x8000

/*
 * Offloaded (TCP only): its segments without SYN, FIN or RST that the
 * kernel's conntrack calls ESTABLISHED no longer come to us (worker.c,
 * ctguard-setup --offload); the tracker re-synchronises from the control
 * segments it still sees (tracker-tcp.c). Kept in proto_state, which TCP
 * entries do not otherwise use: flags has no free bit, and a wider entry
 * would make every existing snapshot unreadable.
 */
#define CTG_CONN_OFFLOADED    0x01

/*
 * Offloaded (UDP): its datagrams that the kernel's conntrack calls
 * ESTABLISHED no longer come to us; the entry ends when the kernel's does
 * (its DESTROY event, offwatch.c) or when a datagram of it reaches us past
 * the hand-over (tracker-datagram.c). Kept in peer[0].flags, which datagram
 * entries do not otherwise use (proto_state must stay 0..2 for them in a
 * snapshot); the hand-over time (its last_us then) in peer[0].td_maxack
 * and peer[0].isn.
 */
#define CTG_PEER_DGRAM_OFFLOADED 0x01

/*
 * A connection's Zeek history as the tracker keeps it: each letter at most
 * once per direction (hist_seen). Real histories are a handful of letters;
 * one past 15 is cut there (summaries copy it into a record's wider
 * CTG_HISTORY_MAX field). Kept small because it is in every entry and in
 * the snapshot format: changing it changes the entry size, which refuses
 * older snapshots.
 */
#define CTG_CONN_HISTORY 16

struct ctg_conn {
	struct ctg_tuple tuple;         /* originator's direction */
	uint16_t flags;                 /* CTG_CONN_* */
	uint8_t proto_state;            /* UDP/ICMP/other: 0 unreplied, 1 replied, 2 assured */
	uint8_t action;                 /* cached verdict (enum ctg_action) */
	int16_t rule_index;             /* rule that accepted it, -1 default */
	uint8_t tclass;                 /* timeout class (tracker.c) */
	uint8_t tprofile;               /* per-rule timeout override (0 = none) */
	/*
	 * Low 16 bits of the sequence number of a FIN seen beyond a gap
	 * (CTG_PEERX_FIN_OOO), per direction: it counts once the gap is
	 * filled, in order or by the receiver's ack of exactly that FIN.
	 * With CTG_PEERX_OOO and no such FIN, the low 16 bits of the end of
	 * the highest data seen beyond the gap: an ack reaching it ends the
	 * out-of-order allowance (tcp_window_ack()). While one direction has
	 * neither, its slot holds the high 16 bits of the other's highest end
	 * (tracker-tcp.c ooo_set_highest()).
	 * After an accepted RST (CTG_CONN_CLOSED with an RST flag) they hold
	 * instead the endpoint states before it ([0]: orig | resp << 8) and
	 * which sides went on since ([1]: bit 0 orig, bit 1 resp), for the
	 * RST grace (rst_grace).
	 */
	uint16_t fin_ooo[2];
	uint32_t hnext;                 /* hash chain (pool index + 1; 0 ends) */
	uint32_t lprev, lnext;          /* eviction list (pool index + 1) */
	uint64_t id;
	uint64_t first_us;
	uint64_t last_us;
	uint32_t pkts[2];
	uint64_t bytes[2];
	struct ctg_tcp_peer peer[2];    /* [0] originator, [1] responder */
	char history[CTG_CONN_HISTORY];
};

static inline bool
ctg_conn_offloaded(const struct ctg_conn *c)
{
	return (c->tuple.proto == 6 && (c->proto_state & CTG_CONN_OFFLOADED)) ||
	    (c->tuple.proto == 17 && (c->peer[0].flags & CTG_PEER_DGRAM_OFFLOADED));
}

struct ctg_track_result {
	enum ctg_ctstate ctstate;
	enum ctg_reason reason;         /* NONE, a NOTE, or why INVALID/RELATED failed */
	struct ctg_conn *conn;          /* NULL when no connection applies */
	uint8_t dir;                    /* 0 original, 1 reply */
	bool created;                   /* this packet created conn */
	uint8_t before[2];              /* endpoint states before (orig, resp) */
	uint8_t after[2];
};

#define CTG_UNANSWERED_PCT_DEFAULT 50

struct ctg_tracker_config {
	uint32_t max_connections;
	enum ctg_midstream midstream;
	uint8_t adaptive_start_pct;
	uint8_t adaptive_end_pct;
	struct ctg_timeouts timeouts;
	uint8_t unanswered_pct;         /* share of the table for unanswered entries (0: default) */
	uint64_t id_base;               /* first connection id (0: derive from the clock) */
	/*
	 * Seconds after an accepted RST during which in-window segments of
	 * the reset connection still pass, and the connection is revived if
	 * both sides go on (an endpoint ignored the RST: MD5/AO keys, its
	 * own rules). 0: off. ctg_tracker_config_from sets it from the
	 * configuration's tracker.rst_grace (default 10).
	 */
	uint32_t rst_grace;
	uint64_t hash_seed[2];          /* 0,0: random */
};

struct ctg_tracker_stats {
	uint64_t packets;
	uint64_t created;
	uint64_t ended[CTG_END_COUNT];              /* by enum ctg_end_reason */
	uint64_t evicted;               /* entries removed to make room */
	uint64_t refused;               /* new connections refused: table full */
	uint64_t ctstate[CTG_CT_COUNT];            /* by enum ctg_ctstate */
	uint64_t reason[CTG_R_COUNT];
	uint32_t live;
	uint32_t max;
};

/* Called for every connection that ends; the record is valid only during the call. */
typedef void (*ctg_conn_end_fn)(void *arg, const struct ctg_conn *c,
    const struct ctg_conn_record *rec);

struct ctg_tracker;

/*
 * Find the connection of key in another tracker and copy it to *copy
 * (with its direction relative to key); false when none has it. Used for
 * ICMP errors, which may reach a different queue than their flow.
 */
typedef bool (*ctg_related_fn)(void *arg, const struct ctg_tuple *key,
    struct ctg_conn *copy, uint8_t *dir);

void ctg_tracker_config_from(struct ctg_tracker_config *tc,
    const struct ctg_config *cfg);
struct ctg_tracker *ctg_tracker_new(const struct ctg_tracker_config *tc,
    ctg_conn_end_fn end_fn, void *end_arg);
void ctg_tracker_free(struct ctg_tracker *t);

/*
 * Classify one packet. decode is the decoder's result for p: a decode
 * failure gives INVALID with that reason, without touching any state.
 */
void ctg_tracker_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    enum ctg_reason decode, uint64_t now_us, struct ctg_track_result *res);

void ctg_tracker_set_related_lookup(struct ctg_tracker *t, ctg_related_fn fn,
    void *arg);

/*
 * Mark c offloaded. TCP: from now on it sees only control and kernel-INVALID
 * segments. UDP: it sees no datagram of it but those in flight at the
 * hand-over, and lives until the kernel's entry ends (ctg_tracker_end by
 * the owner of the kernel's DESTROY events) or a later datagram shows that
 * the kernel no longer carries it.
 */
void ctg_tracker_offload(struct ctg_tracker *t, struct ctg_conn *c);

/*
 * Whether c qualifies for offload after the packet p (its tracker result
 * res), as far as the tracker knows: established both ways (TCP: both
 * endpoints ESTABLISHED, no liberal side, p without SYN, FIN or RST; UDP:
 * the reply direction seen), not yet offloaded, and at least after_packets
 * packets and after_bytes bytes passed. The caller adds what the rules
 * know (a cached accept that neither meters nor logs each packet).
 */
bool ctg_tracker_offload_ready(const struct ctg_conn *c, const struct ctg_packet *p,
    const struct ctg_track_result *res, uint32_t after_packets, uint64_t after_bytes);

/* After the verdict: count an accepted packet, or forget a refused new connection. */
void ctg_tracker_account(struct ctg_tracker *t, struct ctg_conn *c,
    uint8_t dir, uint32_t bytes);
void ctg_tracker_unconfirm(struct ctg_tracker *t, struct ctg_conn *c);

/*
 * Give c the timeouts a rule set for it (fields that are 0 keep the
 * global value). Up to 254 distinct override sets; returns -1 when full.
 */
int ctg_tracker_set_timeouts(struct ctg_tracker *t, struct ctg_conn *c,
    const struct ctg_timeouts *ovr);

/* Expire idle entries; examines at most budget entries. Returns how many ended. */
size_t ctg_tracker_sweep(struct ctg_tracker *t, uint64_t now_us, size_t budget);
/* End every connection (flush, shutdown), reporting each with the reason. */
void ctg_tracker_flush(struct ctg_tracker *t, enum ctg_end_reason why,
    uint64_t now_us);
/* End c now (safe inside ctg_tracker_foreach); c is gone afterwards. */
void ctg_tracker_end(struct ctg_tracker *t, struct ctg_conn *c,
    enum ctg_end_reason why, uint64_t now_us);
/* End one connection by id; returns 0, or -1 when not found. */
int ctg_tracker_kill(struct ctg_tracker *t, uint64_t id, uint64_t now_us);

typedef int (*ctg_conn_visit_fn)(void *arg, struct ctg_conn *c);
/* Visit every live connection; stops early when fn returns non-zero. */
void ctg_tracker_foreach(struct ctg_tracker *t, ctg_conn_visit_fn fn, void *arg);
/*
 * Visit the slots [start, start + count) only, so a caller can walk a big
 * table in slices and let go of its lock between them. Returns where the
 * next slice starts; the table size when the walk is over (or fn stopped it).
 */
size_t ctg_tracker_foreach_from(struct ctg_tracker *t, size_t start, size_t count,
    ctg_conn_visit_fn fn, void *arg);
struct ctg_conn *ctg_tracker_lookup(struct ctg_tracker *t,
    const struct ctg_tuple *tuple, uint8_t *dir);

void ctg_tracker_stats(const struct ctg_tracker *t, struct ctg_tracker_stats *st);
/* Bytes the tracker holds per connection slot, index share included. */
size_t ctg_tracker_bytes_per_entry(const struct ctg_tracker *t);
size_t ctg_tracker_memory(const struct ctg_tracker *t);

/* Fill a summary record of c as it is now (for logs and listings). */
void ctg_conn_summary(const struct ctg_conn *c, enum ctg_end_reason why,
    struct ctg_conn_record *rec);
/* Zeek-style conn_state of c ("S0", "SF", "REJ", ...). */
const char *ctg_conn_state_code(const struct ctg_conn *c);
/* Connection-level label derived from both endpoints ("ESTABLISHED" ...). */
const char *ctg_conn_label(const struct ctg_conn *c);

/*
 * Snapshot: write every live connection to fd in a versioned, checksummed
 * format; restore them, dropping entries that expired by now_us. A file
 * that fails any check is refused as a whole (never trusted in part).
 */
int ctg_tracker_save(struct ctg_tracker *t, int fd, uint64_t now_us);
/*
 * A checkpoint (taken while packets flow) may be behind the endpoints:
 * restoring one lets each TCP connection re-learn its sequence edges from
 * its next segment each way instead of judging it by stale ones.
 */
int ctg_tracker_save_as(struct ctg_tracker *t, int fd, uint64_t now_us, bool checkpoint);

/*
 * The same format written in slices, for a table that keeps changing: the
 * owner of the table copies up to count pool slots from start (only the
 * connections in them) while it holds the table, and the writer writes
 * them after letting go. Each entry is consistent; the whole is not a
 * single instant, which a checkpoint does not need.
 */
struct ctg_snap_writer {
	int fd;
	bool checkpoint;
	uint64_t sum;
	uint64_t count;
};
size_t ctg_tracker_copy_slice(const struct ctg_tracker *t, size_t start, size_t count,
    struct ctg_conn *out, uint64_t *next_id);
int ctg_snap_begin(struct ctg_snap_writer *w, int fd, bool checkpoint);
int ctg_snap_write(struct ctg_snap_writer *w, const struct ctg_conn *c, size_t n);
int ctg_snap_finish(struct ctg_snap_writer *w, uint64_t saved_us, uint64_t next_id);
int ctg_tracker_restore(struct ctg_tracker *t, int fd, uint64_t now_us,
    char *err, size_t errlen);

/*
 * State synchronisation (daemon/sync.c, the wire format in syncmsg.h).
 * With sync enabled, every accepted packet marks its connection dirty
 * (once per interval: a flag per slot, its pool index pushed on a bounded
 * ring preallocated here; an overflow is caught by a walk of the table),
 * and the sync side drains the dirty entries under the owner's lock.
 * Entries received from another gateway are applied by tuple; an applied
 * entry ends without an audit record unless packets of it passed here, and
 * for 2 s from its first packet here a TCP segment the strict checks refuse
 * re-learns the edges if it lies within one maximum window of them
 * (tracker-sync.c). In active/active mode an update meeting an entry this
 * gateway forwards too is merged per endpoint, and the entry, split
 * between members, re-learns for as long as it lives.
 */
struct ctg_conn_export {
	struct ctg_conn c;              /* hnext/lprev/lnext 0, tprofile 0 */
	struct ctg_timeouts to;         /* its per-rule timeouts; all 0: none */
};

/* A connection that ended here, for the other gateways. */
struct ctg_conn_end_note {
	struct ctg_tuple tuple;
	uint64_t id;
	uint8_t reason;                 /* enum ctg_end_reason */
};

#define CTG_SYNC_CARRY_TCP   0x1
#define CTG_SYNC_CARRY_UDP   0x2
#define CTG_SYNC_CARRY_ICMP  0x4
#define CTG_SYNC_CARRY_OTHER 0x8
#define CTG_SYNC_CARRY_ALL   0xf

struct ctg_tracker_sync_stats {
	uint64_t marked;                /* entries that became dirty */
	uint64_t ring_overflows;        /* ... with the ring full: left to the walk */
	uint64_t drained;               /* entries handed to the sync side */
	uint64_t ends;                  /* end notes handed over */
	uint64_t ends_lost;             /* end notes with the end ring full */
	uint64_t applied;               /* entries received and applied */
	uint64_t apply_refused;         /* ... no room for them */
	uint64_t apply_older;           /* ... older than ours, forwarded here since: kept ours */
	uint64_t applied_offloaded;     /* ... offloaded on the sender: carried as pick-ups */
	uint64_t removed;               /* ended by another gateway's end note */
	uint64_t relearned;             /* segments that re-learned synced edges */
	uint64_t merged;                /* updates merged per endpoint (active-active) */
	uint32_t synced_live;           /* entries applied here not (yet) seen here */
};

/* Turn marking on: ring_size dirty slots, an urgent flag after max_updates TCP packets (0: off). */
int ctg_tracker_sync_enable(struct ctg_tracker *t, uint32_t ring_size,
    uint32_t max_updates, uint8_t carry);
bool ctg_tracker_sync_enabled(const struct ctg_tracker *t);
/* c's slot in the table (0 .. max - 1): per-connection side tables index by it. */
uint32_t ctg_tracker_conn_slot(const struct ctg_tracker *t, const struct ctg_conn *c);
/*
 * Active/active (sync.mode): an update meeting an entry this gateway
 * forwards too is merged per endpoint (the endpoint further along is
 * taken, counters stay ours), and such a split connection re-learns the
 * synced edges for its whole life, not only after a takeover.
 */
void ctg_tracker_sync_set_merge(struct ctg_tracker *t, bool merge);
/*
 * Whether defer holds the packet just judged (its result r, accepted and
 * accounted) until the group has its change: it created its carried
 * connection, or moved a TCP endpoint while the connection opens. Moves
 * of the close are sent as soon, but not waited for (tracker-sync.c).
 */
bool ctg_tracker_sync_holds(const struct ctg_tracker *t, const struct ctg_track_result *r);
/*
 * Whether the sync side should drain before its interval: 0 no, 1 a
 * connection was created, changed state or ended (soon), 2 a TCP
 * connection's edges moved a quarter of its window (or it carried
 * max_updates packets) since marked (now: the synced edges lag).
 */
unsigned ctg_tracker_sync_urgent(const struct ctg_tracker *t);
/*
 * Copy up to max dirty entries out (clearing their mark); how many. After
 * a ring overflow one call walks a bounded slice of the table: call again
 * while ctg_tracker_sync_pending (letting go of the lock in between).
 */
size_t ctg_tracker_sync_drain(struct ctg_tracker *t, struct ctg_conn_export *out, size_t max);
bool ctg_tracker_sync_pending(const struct ctg_tracker *t);
size_t ctg_tracker_sync_drain_ends(struct ctg_tracker *t, struct ctg_conn_end_note *out,
    size_t max);
/* As ctg_tracker_copy_slice, for the bulk transfer: every confirmed entry, with its timeouts. */
size_t ctg_tracker_export_slice(const struct ctg_tracker *t, size_t start, size_t count,
    struct ctg_conn_export *out);
/* Insert or replace (by tuple) an entry from another gateway; 0, or -1 when no room. */
int ctg_tracker_apply(struct ctg_tracker *t, const struct ctg_conn_export *e,
    uint64_t now_us);
/* End the connection of tuple if its id is id; 0, or -1 when none. */
int ctg_tracker_remove(struct ctg_tracker *t, const struct ctg_tuple *tuple, uint64_t id,
    enum ctg_end_reason why, uint64_t now_us);
/* Whether c was applied from another gateway and no packet of it passed here. */
bool ctg_tracker_conn_synced(const struct ctg_tracker *t, const struct ctg_conn *c);
void ctg_tracker_sync_stats(const struct ctg_tracker *t, struct ctg_tracker_sync_stats *st);

#endif
