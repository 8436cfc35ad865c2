/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit log: verdict, connection and event records into SQLite.
 *
 * The packet path copies fixed-size records into one bounded lock-free
 * ring per producer thread and never waits (unless block_when_full), never
 * allocates and never calls SQLite. One writer thread drains the rings and
 * writes them in batched transactions. When the database cannot be written
 * (disk full, I/O error) the writer keeps a bounded backlog in memory,
 * retries every second and reports the state change once; records that do
 * not fit anywhere are counted and later written as a log_gap event.
 * The database is opened without following a symbolic link, and checked
 * every second: a database deleted or replaced under the log is reopened
 * (created anew) and the event recorded.
 */
#ifndef CTGUARD_AUDITLOG_H
#define CTGUARD_AUDITLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctguard/logexport.h"
#include "ctguard/record.h"

#define CTG_AUDITLOG_SCHEMA_VERSION 4

/* The kernel's counters of a connection (conntrack accounting), totals per direction. */
struct ctg_conn_kernel {
	uint64_t pkts[2];
	uint64_t bytes[2];
};

struct ctg_auditlog_config {
	const char *path;
	enum ctg_log_level policy;      /* informational: producers filter */
	uint32_t queue_records;         /* total; split over the producers' rings */
	unsigned producers;             /* one SPSC ring per producer thread */
	uint32_t batch_max;             /* rows per transaction (0 = 16384) */
	uint32_t batch_ms;              /* commit at least this often (0 = 200) */
	uint32_t retention_days;        /* 0 = keep forever */
	uint32_t retention_mb;          /* 0 = no size bound */
	uint32_t memory_bound_records;  /* backlog while the DB cannot be written */
	const char *group;              /* chown group of a new file; NULL/"" = none */
	bool block_when_full;           /* offline replay: producers wait, no drops */
	/*
	 * While the database cannot be written, stop taking records from the
	 * rings once memory_bound_records are pending, instead of discarding
	 * them: the rings fill and the producers see it (put returns false),
	 * which is what strict_audit needs to drop rather than pass unlogged.
	 */
	bool backpressure;
	/*
	 * Owner of the files the log creates (database, -wal, -shm) when the
	 * caller is root and will become another user: the files must stay
	 * writable after the drop. own_files false = leave them as created.
	 */
	bool own_files;
	uid_t owner_uid;
	gid_t owner_gid;
	/*
	 * Called from the writer thread once per state change (degraded,
	 * writing again, records lost at shutdown). NULL = stderr.
	 */
	void (*report)(void *arg, const char *msg);
	void *report_arg;
	/*
	 * Called from the writer thread for each summary of an offloaded
	 * connection before it is written: the kernel's counters of that
	 * connection (ctacct.c), or false when unknown. The summary then
	 * counts what the kernel passed without ctguard, and the offload_*
	 * columns say how much that was. NULL: those columns stay NULL.
	 */
	bool (*conn_kernel)(void *arg, const struct ctg_conn_record *rec,
	    struct ctg_conn_kernel *out);
	void *conn_kernel_arg;
	/*
	 * The stream ids (verdicts.id, connections.seq, events.id) are the
	 * writer's: a new file (rotation, a deleted database, a restart on a
	 * fresh path) continues after the highest id written before. ids_path
	 * names a small file that keeps the last ids across restarts, written
	 * before each commit (NULL = the database's own maximum only).
	 */
	const char *ids_path;
	/*
	 * Also send each committed verdict row as one JSON line (the fields of
	 * `ctguard log --format json`) to syslog; NULL or socket_path NULL = off.
	 */
	const struct ctg_logexport_config *export;
};

struct ctg_auditlog_stats {
	uint64_t written;               /* rows committed (incl. gap events) */
	uint64_t dropped;               /* records lost: rings full or backlog full */
	uint64_t pending;               /* in rings and backlog, not yet committed */
	uint64_t busy_retries;
	uint64_t write_errors;          /* failed batches other than busy */
	uint64_t batches;               /* committed transactions */
	uint64_t exported;              /* verdict rows sent to syslog (log.export) */
	uint64_t export_dropped;        /* rows not sent: socket full or absent */
	bool degraded;
	char last_error[256];
};

struct ctg_auditlog;

/*
 * Open (creating or migrating the schema) and start the writer thread.
 * Returns NULL and writes the reason into err on failure: bad settings,
 * cannot create the file, unknown group, foreign database, or a schema
 * newer than this build ("database schema version N is newer than this
 * ctguard (M)").
 */
struct ctg_auditlog *ctg_auditlog_open(const struct ctg_auditlog_config *cfg,
    char *err, size_t errlen);

/*
 * Packet path: copy a record into producer's ring. Each producer index must
 * be used by one thread only. Never allocates, never calls SQLite, never
 * blocks unless block_when_full. Returns false when the ring was full: the
 * record is lost, counted, and reported later as a log_gap event.
 */
bool ctg_auditlog_put_verdict(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_verdict_record *r);
bool ctg_auditlog_put_conn(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_conn_record *r);
bool ctg_auditlog_put_event(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_event_record *r);

/*
 * Free slots in producer's ring now: that many puts from its one thread
 * will not be dropped. For whole-table operations (flush) that pace
 * themselves to the writer instead of overflowing the ring.
 */
uint32_t ctg_auditlog_room(struct ctg_auditlog *log, unsigned producer);

/*
 * Wait until every record put before the call is committed (or known lost).
 * Returns 0, or -1 when timeout_ms passed first (e.g. the log is degraded).
 */
int ctg_auditlog_sync(struct ctg_auditlog *log, uint32_t timeout_ms);

/* Asynchronous: close the file and open the path again (log rotation). */
void ctg_auditlog_reopen(struct ctg_auditlog *log);

void ctg_auditlog_stats(struct ctg_auditlog *log, struct ctg_auditlog_stats *st);

/* Producers must have stopped. Drains and commits everything, then frees. */
void ctg_auditlog_close(struct ctg_auditlog *log);

/* The DDL of the current schema version (the text of daemon/schema.sql). */
const char *ctg_auditlog_schema_sql(void);

/* IPv4 as ::ffff:a.b.c.d, IPv6 as is: the 16-byte form of the *_bin columns. */
void ctg_auditlog_addr_bin(const struct ctg_addr *a, uint8_t family,
    uint8_t out[16]);

/*
 * Test hooks; each waits until the writer thread has acted on it.
 * pause: the writer stops draining the rings (to make them overflow).
 * max_pages: PRAGMA max_page_count on the writer's connection (SQLITE_FULL).
 * retention: run the retention pass now instead of within the next minute.
 */
void ctg_auditlog_test_pause(struct ctg_auditlog *log, bool paused);
void ctg_auditlog_test_max_pages(struct ctg_auditlog *log, uint32_t pages);
void ctg_auditlog_test_retention(struct ctg_auditlog *log);

#endif
