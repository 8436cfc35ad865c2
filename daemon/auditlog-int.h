/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the audit log (daemon/auditlog*.c):
 *
 *   auditlog.c            the API: open, put (the packet path), sync, close
 *   auditlog-writer.c     the writer thread: draining, batches, binding,
 *                         degraded mode, sync bookkeeping
 *   auditlog-db.c         the database: open, schema, migrations
 *   auditlog-retention.c  deleting old rows
 *
 * Records leave the rings into a FIFO "pending" buffer owned by the writer,
 * and leave that buffer only when their transaction has committed, so a
 * busy database, a full disk or an I/O error never loses what was already
 * taken from a ring. The buffer is bounded by max(batch_max,
 * memory_bound_records): while the database is merely busy the writer
 * stops draining at the bound and the rings absorb (then drop) the excess;
 * while it is degraded (writes fail) the writer keeps draining so that the
 * packet path sees no change, and counts what does not fit as lost. Every
 * loss becomes one log_gap event as soon as rows can be written again.
 *
 * Producers never signal the writer: it polls the rings every few
 * milliseconds when idle, which keeps the packet path free of syscalls.
 */
#ifndef CTGUARD_AUDITLOG_INT_H
#define CTGUARD_AUDITLOG_INT_H

#include <sys/types.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ctguard/auditlog.h"
#include "ctguard/auditring.h"

#define DEFAULT_QUEUE_RECORDS   65536
/*
 * Rows per transaction at most. Each commit rewrites the partly filled
 * right-hand pages of all six B-trees to the WAL; under log policy "all"
 * 16,384 rather than 4,096 made the writer 8% cheaper (make bench).
 */
#define DEFAULT_BATCH_MAX       16384
#define DEFAULT_BATCH_MS        200
#define IDLE_POLL_MS            10
#define RETRY_MS                1000    /* degraded: try again this often */
#define BUSY_TIMEOUT_MS         50      /* SQLite's own wait, then ours */
#define BUSY_BACKOFF_MAX_MS     1000
#define OPEN_BUSY_TIMEOUT_MS    5000
/* how much the writer yields to the queue workers under load */
#define WRITER_NICE 10
#define MAINT_INTERVAL_MS       60000
#define RETENTION_BATCH         10000
#define SIZE_PASSES_MAX         100     /* retention_mb: batches per pass */
#define SHUTDOWN_GRACE_MS       5000
#define JOURNAL_SIZE_LIMIT      (64 * 1024 * 1024)
#define CACHE_KIB               65536
#define DB_PAGE_SIZE            16384
#define FILE_CHECK_MS           1000    /* is the database still the file we opened? */

enum {
	STMT_VERDICT,
	STMT_CONN,
	STMT_EVENT,
	STMT_VERDICT_GROUP,     /* VERDICT_GROUP rows in one statement */
	STMT_MAX
};

/*
 * Runs of verdict rows go in by VERDICT_GROUP per INSERT: a statement's own
 * cost (opening cursors on the table and its indexes, halting) is then paid
 * once per group rather than per row. The group is INSERT OR FAIL: a
 * multi-row INSERT that may abort makes SQLite keep a statement journal,
 * a copy of every page it changes, which cost more than grouping saved.
 */
#define VERDICT_GROUP 16
#define VERDICT_COLS 24

/*
 * The ids a stream resumes by: verdicts.id, connections.seq, events.id.
 * The writer binds them itself (SQLite would restart a fresh file at 1).
 */
enum {
	SEQ_VERDICT,
	SEQ_CONN,
	SEQ_EVENT,
	SEQ_MAX
};

/* Text a row binds that is not in its slot: kept until the row is stepped. */
struct row_text {
	char src[INET6_ADDRSTRLEN];
	char dst[INET6_ADDRSTRLEN];
	char flags[16];
};

/*
 * Fields under mtx are shared with API callers; fields marked "writer" are
 * touched by the writer thread only (and by open/close before the thread
 * starts and after it is joined).
 */
struct ctg_auditlog {
	/* immutable after open */
	char *path;
	gid_t gid;
	bool chown_group;
	uint32_t batch_max;
	uint32_t batch_ms;
	uint32_t retention_days;
	uint32_t retention_mb;
	uint32_t pend_bound;
	bool block_when_full;
	bool backpressure;
	bool own_files;
	uid_t owner_uid;
	gid_t owner_gid;
	void (*report)(void *, const char *);
	void *report_arg;
	bool (*conn_kernel)(void *, const struct ctg_conn_record *, struct ctg_conn_kernel *);
	void *conn_kernel_arg;
	unsigned nrings;
	struct ctg_audit_ring **rings;
	pthread_t thread;
	bool thread_started;

	/* under mtx */
	pthread_mutex_t mtx;
	pthread_cond_t wake;            /* writer sleeps on it */
	pthread_cond_t done;            /* callers of sync and hooks sleep on it */
	bool stop;
	bool reopen_req;
	uint64_t sync_req, sync_done;
	uint64_t hook_req, hook_done;
	bool hook_pause, hook_pause_val;
	bool hook_pages;
	uint32_t hook_pages_val;
	bool hook_retention;
	struct ctg_auditlog_stats st;   /* pending is computed on demand */
	uint64_t st_pend;
	uint64_t st_lost;               /* lost by the writer (rings count theirs) */
	_Atomic bool stopping;

	/* writer */
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_MAX];
	struct row_text text[VERDICT_GROUP];
	char batch_error[256];          /* why the last flush_batch failed */
	struct ctg_audit_slot *pend;
	size_t pend_cap, pend_start, pend_count;
	uint64_t pend_since_ms;         /* when the oldest pending slot arrived */
	uint32_t *settled;              /* per ring (+1 for synthetic): committed or lost */
	uint32_t *sync_target;
	uint32_t synth_made;
	uint64_t sync_gen;              /* request being served, 0 = none */
	uint64_t sync_seen;             /* last request taken */
	uint64_t *drops_seen;           /* per ring, already reported as gaps */
	unsigned drain_next;            /* ring that audit_drain() starts with */
	uint64_t lost_backlog, lost_backlog_seen;
	uint64_t lost_total;            /* everything the writer discarded */
	bool paused;
	bool degraded;
	uint64_t degraded_since_ms;
	int last_rc;
	uint64_t next_try_ms;           /* busy backoff or degraded retry */
	uint32_t backoff_ms;
	uint64_t next_maint_ms;
	uint32_t max_pages;             /* test hook, 0 = SQLite's default */
	dev_t db_dev;                   /* the file opened, to notice a replacement */
	ino_t db_ino;
	uint64_t next_check_ms;
	uint64_t replaced;              /* times the file was found gone or replaced */
	int64_t next_id[SEQ_MAX];       /* the next row's id; never goes down */
	int64_t saved_id[SEQ_MAX];      /* next_id as ids_path last says */
	char *ids_path;                 /* NULL = no state file */
	bool ids_save_failed;           /* reported once */
	struct ctg_logexport *export;   /* NULL = log.export none */
};

/* auditlog-db.c */
int audit_db_open(struct ctg_auditlog *log, char *err, size_t errlen);
void audit_db_close(struct ctg_auditlog *log);
void audit_db_close_rotated(struct ctg_auditlog *log);
void audit_apply_max_pages(struct ctg_auditlog *log);
/* 1 when the path no longer names the open file (deleted, replaced), else 0. */
void audit_db_forget_wal(struct ctg_auditlog *log);
int audit_db_replaced(struct ctg_auditlog *log, char *why, size_t whylen);
int audit_query_int(sqlite3 *db, const char *sql, int *out);
int audit_exec_simple(sqlite3 *db, const char *sql);
/* ids_path into next_id (at open, before the first file). */
void audit_ids_load(struct ctg_auditlog *log);
/* next_id into ids_path, when it moved; -1 and errno when it could not. */
int audit_ids_save(struct ctg_auditlog *log);

/* auditlog-writer.c */
void *audit_writer_main(void *arg);
unsigned audit_drain(struct ctg_auditlog *log);

/* auditlog-retention.c */
void audit_maintenance(struct ctg_auditlog *log);

#endif
