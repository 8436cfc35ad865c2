/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * State synchronisation between gateways: the wire format of the messages
 * the daemon's sync room (daemon/sync.c) sends over corosync CPG.
 *
 * A message is a header and count entries of one fixed size, all fields
 * in network order, written and read field by field (never a struct
 * copy), so two builds with different struct layouts still agree, and a
 * message never exceeds CTG_SYNC_MSG_MAX bytes. Connection entries carry
 * the whole tracker state of a connection (both endpoints' states, edges,
 * window scale, SACK and timestamp data, the deciding rule, the cached
 * verdict, the timeout class and the per-rule timeouts); times travel as
 * ages relative to the sender's clock in the header and are rebuilt on the
 * receiver's own clock.
 *
 * Decoding is pure and bounded: ctg_syncmsg_decode checks the header, the
 * length and every field of every entry (the checks a snapshot restore
 * makes, tracker-snapshot.c) before the caller may read a single entry; a
 * message with one bad entry is refused whole.
 */
#ifndef CTGUARD_SYNCMSG_H
#define CTGUARD_SYNCMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/tracker.h"

#define CTG_SYNC_MAGIC 0x43544753u      /* "CTGS" */
#define CTG_SYNC_VERSION 1
#define CTG_SYNC_MSG_MAX 65536
#define CTG_SYNC_HDR_SIZE 24
#define CTG_SYNC_CONN_SIZE (176 + 4 * CTG_TO_COUNT)
#define CTG_SYNC_END_SIZE 50
#define CTG_SYNC_ACK_SIZE 8
/*
 * Header flag: the sender holds packets until every other member has
 * applied this message (active-active defer) and asks for a DEFER_ACK.
 * The message's token (the sender's sequence number of such messages,
 * never 0) travels in the header's last u32, 0 otherwise. Allowed on
 * CONN_UPDATE and CONN_END only.
 */
#define CTG_SYNC_F_WANT_ACK 0x0001

enum ctg_sync_type {
	CTG_SYNC_CONN_UPDATE = 1,       /* connections, new or changed */
	CTG_SYNC_CONN_END,              /* connections ended (tuple, id, reason) */
	CTG_SYNC_BULK_BEGIN,            /* a whole table follows, for a joiner */
	CTG_SYNC_BULK_ENTRIES,          /* connection entries of the bulk transfer */
	CTG_SYNC_BULK_END,
	CTG_SYNC_DEFER_ACK,             /* per sender: the highest token applied from it */
	CTG_SYNC_TYPE_MAX = CTG_SYNC_DEFER_ACK
};

/*
 * A DEFER_ACK entry: this member applied every message of node up to
 * token (CPG delivers one sender's messages in order). Multicast like
 * every message: each member reads the entries naming it.
 */
struct ctg_sync_ack {
	uint32_t node;                  /* the sender acknowledged, never 0 */
	uint32_t token;                 /* never 0 */
};

/* A connection ended on the sender. */
struct ctg_sync_end {
	uint16_t queue;                 /* worker (queue) index, not the queue number */
	uint8_t reason;                 /* enum ctg_end_reason */
	struct ctg_tuple tuple;
	uint64_t id;
};

struct ctg_syncmsg_writer {
	uint8_t *buf;
	size_t cap;                     /* at most CTG_SYNC_MSG_MAX */
	size_t len;
	unsigned count;
	uint8_t type;
	uint16_t flags;                 /* CTG_SYNC_F_* */
	uint32_t token;
	uint64_t now_us;
};

/* Start a message of type in buf (cap bytes, at least the header's). */
void ctg_syncmsg_begin(struct ctg_syncmsg_writer *w, void *buf, size_t cap,
    enum ctg_sync_type type, uint64_t now_us);
/* Add an entry; false when the message is full (or of another type). */
bool ctg_syncmsg_add_conn(struct ctg_syncmsg_writer *w, uint16_t queue,
    const struct ctg_conn_export *e);
bool ctg_syncmsg_add_end(struct ctg_syncmsg_writer *w, const struct ctg_sync_end *e);
bool ctg_syncmsg_add_ack(struct ctg_syncmsg_writer *w, const struct ctg_sync_ack *a);
/* Flag a CONN_UPDATE or CONN_END message as wanting a DEFER_ACK for token (not 0). */
void ctg_syncmsg_want_ack(struct ctg_syncmsg_writer *w, uint32_t token);
/* Write the count into the header; returns the message's length. */
size_t ctg_syncmsg_finish(struct ctg_syncmsg_writer *w);

struct ctg_syncmsg {
	uint8_t type;                   /* enum ctg_sync_type */
	bool want_ack;                  /* CTG_SYNC_F_WANT_ACK */
	uint32_t token;                 /* with want_ack, else 0 */
	uint64_t now_us;                /* the sender's clock when it wrote the message */
	unsigned count;
	size_t entry_size;
	const uint8_t *entries;
};

/* Check a whole message; 0, or -1 with the reason in err. */
int ctg_syncmsg_decode(const void *buf, size_t len, struct ctg_syncmsg *m,
    char *err, size_t errlen);
/*
 * Entry i of a decoded CONN_UPDATE or BULK_ENTRIES message, its times
 * rebuilt on local_now_us (the receiver's tracker clock).
 */
void ctg_syncmsg_conn(const struct ctg_syncmsg *m, unsigned i, uint64_t local_now_us,
    uint16_t *queue, struct ctg_conn_export *e);
void ctg_syncmsg_end(const struct ctg_syncmsg *m, unsigned i, struct ctg_sync_end *e);
void ctg_syncmsg_ack(const struct ctg_syncmsg *m, unsigned i, struct ctg_sync_ack *a);

const char *ctg_sync_type_name(unsigned type);

#endif
