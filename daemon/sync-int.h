/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the sync thread's two rooms: sync.c (corosync, the messages
 * sent and applied, when the thread sends) and sync-defer.c (what lets an
 * active/active worker's held verdicts go: tokens and acknowledgements).
 * Both run on the sync thread only and share its state, struct ctgd_sync.
 */
#ifndef CTGUARD_SYNC_INT_H
#define CTGUARD_SYNC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <corosync/cpg.h>

#include "ctguard/defer.h"
#include "ctguard/syncmsg.h"
#include "ctguard/tracker.h"
#include "daemon-int.h"

#define LAG_SAMPLES 4096
#define MAX_MEMBERS 64

struct ctgd_sync {
	struct daemon *dm;
	pthread_t thread;
	bool running;
	int efd;                        /* workers wake the thread through it */
	atomic_bool kicked, kicked_lag, kicked_defer;   /* written to efd, not yet drained */
	atomic_uint others;             /* other members in the group (workers read it) */
	cpg_handle_t h;
	atomic_bool connected;      /* read by status */
	int cpg_fd;
	uint32_t nodeid;
	uint32_t pid;
	uint64_t next_try_ms;
	/* thread only */
	uint8_t *msg;
	struct ctg_conn_export *slice;
	struct ctg_conn_end_note *ends;
	struct ctg_syncmsg_writer wu, we;       /* updates, ends being filled */
	bool bulk_pending;              /* send our table (a member joined) */
	struct bulk_in {                /* bulk transfers being received, by sender */
		uint32_t nodeid;        /* 0: free */
		uint64_t t0_us, entries;
	} bulks[MAX_MEMBERS];
	uint64_t last_flush_ms;
	uint64_t last_send_us;          /* of the last send_changes */
	bool urgent, urgent_lag;        /* a worker asked; sent once the gap is over */
	bool urgent_defer;              /* a worker holds verdicts: send now */
	/* defer (sync-defer.c), thread only */
	struct ctg_defer_book book;     /* our messages wanting acks, the members' acks */
	bool woken[CTGD_MAX_WORKERS];   /* defer_advance: workers to wake */
	struct ack_due {                /* acks to send: the highest token applied per sender */
		uint32_t nodeid;        /* 0: free */
		uint32_t token;
		bool due;
	} due[MAX_MEMBERS];
	bool connect_warned;            /* the current outage is in the log */
	unsigned log_budget;            /* decode errors logged, per minute */
	uint64_t log_minute;
	/* shared with the main thread (status, role): under mu */
	pthread_mutex_t mu;
	char role[16];
	char node_name[CTG_NAME_MAX];
	uint32_t members[MAX_MEMBERS];
	unsigned nmembers;
	uint64_t connect_tries, connect_failures, disconnects;
	uint64_t msgs_sent, msgs_received, bytes_sent, bytes_received;
	uint64_t updates_applied, ends_applied, apply_refused, wrong_queue;
	uint64_t bulk_sent, bulk_received, last_bulk_entries, last_bulk_ms;
	uint64_t decode_errors, send_failures;
	uint64_t acks_sent, acks_received;
	uint32_t idle_turns;            /* corosync's seqno_unchanged_const; 0: unread */
	uint32_t lag_us[LAG_SAMPLES];
	unsigned lag_n, lag_pos;
};

/* sync.c */
void sync_send_msg(struct ctgd_sync *s, const void *buf, size_t len);
void sync_flush_writer(struct ctgd_sync *s, struct ctg_syncmsg_writer *w, bool force);

/* sync-defer.c */
int sync_defer_init(struct ctgd_sync *s);
void sync_defer_fini(struct ctgd_sync *s);
/* Under w's lock, first slice of a turn: the token its held verdicts wait for, if any. */
bool sync_defer_take(struct worker *w, uint32_t *local);
/* The turn took tokens (held[wi], local[wi]): flush its messages, the last wanting acks. */
void sync_defer_flush(struct ctgd_sync *s, const bool *held, const uint32_t *local);
void sync_defer_members(struct ctgd_sync *s, const struct cpg_address *members, size_t nmembers);
/* Out of the group: nothing waits for it any more. */
void sync_defer_alone(struct ctgd_sync *s);
void sync_defer_apply_acks(struct ctgd_sync *s, const struct ctg_syncmsg *m, uint32_t from);
void sync_defer_ack_due(struct ctgd_sync *s, uint32_t from, uint32_t token);
void sync_defer_send_acks(struct ctgd_sync *s);

#endif
