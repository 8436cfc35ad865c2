/*
 * Audit log writer: per-producer SPSC rings drained by one thread that owns
 * the only read-write SQLite connection.
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
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctguard/auditlog.h"
#include "ctguard/auditring.h"
#include "ctguard/packet.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"

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
#define STR_(x) #x
#define STR(x) STR_(x)

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
#define VERDICT_COLS 23

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
	void (*report)(void *, const char *);
	void *report_arg;
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
	unsigned drain_next;            /* ring that drain() starts with */
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
};

static const char schema_sql[] =
	"-- ctguard audit log, schema version 1.\n"
	"-- Times are Unix microseconds (UTC). Addresses are kept twice: as text for\n"
	"-- people, and as 16 bytes (IPv4 as ::ffff:a.b.c.d) so that one BETWEEN on\n"
	"-- one index answers CIDR queries of either family.\n"
	"\n"
	"CREATE TABLE verdicts (\n"
	"\tid INTEGER PRIMARY KEY,\n"
	"\ttime_us INTEGER NOT NULL,\n"
	"\tconn_id INTEGER,\n"
	"\tpacket_no INTEGER,\n"
	"\tdirection TEXT,\n"
	"\tproto INTEGER,\n"
	"\tfamily INTEGER,\n"
	"\tsrc TEXT,\n"
	"\tsrc_bin BLOB,\n"
	"\tsport INTEGER,\n"
	"\tdst TEXT,\n"
	"\tdst_bin BLOB,\n"
	"\tdport INTEGER,\n"
	"\ttcp_flags TEXT,\n"
	"\tctstate TEXT,\n"
	"\torig_before TEXT,\n"
	"\tresp_before TEXT,\n"
	"\torig_after TEXT,\n"
	"\tresp_after TEXT,\n"
	"\tverdict TEXT,\n"
	"\treason TEXT,\n"
	"\trule TEXT,\n"
	"\tqueue INTEGER,\n"
	"\tlength INTEGER\n"
	");\n"
	"\n"
	"CREATE TABLE connections (\n"
	"\tid INTEGER PRIMARY KEY,\n"
	"\tfirst_us INTEGER,\n"
	"\tlast_us INTEGER,\n"
	"\tproto INTEGER,\n"
	"\tfamily INTEGER,\n"
	"\tsrc TEXT,\n"
	"\tsrc_bin BLOB,\n"
	"\tsport INTEGER,\n"
	"\tdst TEXT,\n"
	"\tdst_bin BLOB,\n"
	"\tdport INTEGER,\n"
	"\tconn_state TEXT,\n"
	"\thistory TEXT,\n"
	"\torig_pkts INTEGER,\n"
	"\torig_bytes INTEGER,\n"
	"\tresp_pkts INTEGER,\n"
	"\tresp_bytes INTEGER,\n"
	"\torig_state TEXT,\n"
	"\tresp_state TEXT,\n"
	"\tend_reason TEXT,\n"
	"\trule TEXT\n"
	");\n"
	"\n"
	"CREATE TABLE events (\n"
	"\tid INTEGER PRIMARY KEY,\n"
	"\ttime_us INTEGER NOT NULL,\n"
	"\tkind TEXT,\n"
	"\tcount INTEGER,\n"
	"\tdetail TEXT\n"
	");\n"
	"\n"
	"CREATE INDEX verdicts_time ON verdicts(time_us);\n"
	"CREATE INDEX verdicts_src ON verdicts(src_bin);\n"
	"CREATE INDEX verdicts_dst ON verdicts(dst_bin);\n"
	"CREATE INDEX verdicts_verdict_reason ON verdicts(verdict, reason)\n"
	"\tWHERE verdict <> 'accept';\n"
	"CREATE INDEX verdicts_conn ON verdicts(conn_id);\n"
	"CREATE INDEX connections_first ON connections(first_us);\n"
	"CREATE INDEX connections_src ON connections(src_bin);\n"
	"CREATE INDEX events_time ON events(time_us);\n"
	"\n"
	"CREATE VIEW verdicts_iso AS\n"
	"\tSELECT id, strftime('%Y-%m-%dT%H:%M:%f', time_us / 1e6, 'unixepoch') AS time,\n"
	"\t    conn_id, packet_no, direction, proto, src, sport, dst, dport,\n"
	"\t    tcp_flags, ctstate, orig_before, resp_before, orig_after, resp_after,\n"
	"\t    verdict, reason, rule, queue, length\n"
	"\tFROM verdicts;\n"
	"\n"
	"CREATE VIEW connections_iso AS\n"
	"\tSELECT id,\n"
	"\t    strftime('%Y-%m-%dT%H:%M:%f', first_us / 1e6, 'unixepoch') AS first,\n"
	"\t    strftime('%Y-%m-%dT%H:%M:%f', last_us / 1e6, 'unixepoch') AS last,\n"
	"\t    (last_us - first_us) / 1e6 AS duration_s,\n"
	"\t    proto, src, sport, dst, dport, conn_state, history,\n"
	"\t    orig_pkts, orig_bytes, resp_pkts, resp_bytes,\n"
	"\t    orig_state, resp_state, end_reason, rule\n"
	"\tFROM connections;\n"
	"\n"
	"CREATE VIEW events_iso AS\n"
	"\tSELECT id, strftime('%Y-%m-%dT%H:%M:%f', time_us / 1e6, 'unixepoch') AS time,\n"
	"\t    kind, count, detail\n"
	"\tFROM events;\n";

static const char verdict_insert_sql[] =
	"INSERT INTO verdicts (time_us, conn_id, packet_no, direction, proto,"
	" family, src, src_bin, sport, dst, dst_bin, dport, tcp_flags, ctstate,"
	" orig_before, resp_before, orig_after, resp_after, verdict, reason,"
	" rule, queue, length) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	" ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)";

/* A tracker that reuses an id (e.g. after a restart) replaces the old row. */
static const char conn_insert_sql[] =
	"INSERT OR REPLACE INTO connections (id, first_us, last_us, proto,"
	" family, src, src_bin, sport, dst, dst_bin, dport, conn_state, history,"
	" orig_pkts, orig_bytes, resp_pkts, resp_bytes, orig_state, resp_state,"
	" end_reason, rule) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
	" ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";

static const char event_insert_sql[] =
	"INSERT INTO events (time_us, kind, count, detail) VALUES (?1, ?2, ?3, ?4)";

static const char verdict_group_head_sql[] =
	"INSERT OR FAIL INTO verdicts (time_us, conn_id, packet_no, direction, proto,"
	" family, src, src_bin, sport, dst, dst_bin, dport, tcp_flags, ctstate,"
	" orig_before, resp_before, orig_after, resp_after, verdict, reason,"
	" rule, queue, length) VALUES ";

static const char *const insert_sql[STMT_MAX] = {
	[STMT_VERDICT] = verdict_insert_sql,
	[STMT_CONN] = conn_insert_sql,
	[STMT_EVENT] = event_insert_sql,
	[STMT_VERDICT_GROUP] = NULL,    /* built by verdict_group_sql */
};

/* "INSERT ... VALUES (?, ... ?), ... ": VERDICT_GROUP rows of anonymous parameters. */
static void
verdict_group_sql(char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "%s", verdict_group_head_sql);

	for (int r = 0; r < VERDICT_GROUP && n < len; r++) {
		n += (size_t)snprintf(buf + n, len - n, "%s(", r ? ", " : "");
		for (int c = 0; c < VERDICT_COLS && n < len; c++)
			n += (size_t)snprintf(buf + n, len - n, "%s?", c ? ", " : "");
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, ")");
	}
}

const char *
ctg_auditlog_schema_sql(void)
{
	return schema_sql;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Producers. */

static bool
put_record(struct ctg_auditlog *log, unsigned producer,
    enum ctg_audit_type type, const void *rec, size_t len)
{
	struct ctg_audit_ring *r;

	if (log == NULL || producer >= log->nrings)
		return false;
	r = log->rings[producer];
	if (ctg_audit_ring_try_put(r, type, rec, len))
		return true;
	if (log->block_when_full) {
		struct timespec ts = { 0, 50000 };

		while (!atomic_load_explicit(&log->stopping,
		    memory_order_relaxed)) {
			if (ctg_audit_ring_try_put(r, type, rec, len))
				return true;
			nanosleep(&ts, NULL);
		}
	}
	ctg_audit_ring_drop(r);
	return false;
}

bool
ctg_auditlog_put_verdict(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_verdict_record *r)
{
	return put_record(log, producer, CTG_AUDIT_VERDICT, r, sizeof(*r));
}

bool
ctg_auditlog_put_conn(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_conn_record *r)
{
	return put_record(log, producer, CTG_AUDIT_CONN, r, sizeof(*r));
}

bool
ctg_auditlog_put_event(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_event_record *r)
{
	return put_record(log, producer, CTG_AUDIT_EVENT, r, sizeof(*r));
}

/* Schema and connection. */

void
ctg_auditlog_addr_bin(const struct ctg_addr *a, uint8_t family,
    uint8_t out[16])
{
	if (family == 4) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, a->b, 4);
	} else
		memcpy(out, a->b, 16);
}

static int
migrate_v0_v1(sqlite3 *db, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "creating schema: %s",
		    msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * migrations[v] takes a database from version v to v + 1; they run in order
 * in one transaction. Adding version 2 is adding one function here (and
 * keeping schema.sql as the history of version 1, with the v2 changes in
 * the new function).
 */
static int (*const migrations[])(sqlite3 *, char *, size_t) = {
	migrate_v0_v1,
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(SCHEMA_VERSION == CTG_AUDITLOG_SCHEMA_VERSION,
    "CTG_AUDITLOG_SCHEMA_VERSION must match the migration table");

static int
query_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
exec_simple(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int
schema_prepare(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int version, objects, rc;
	char sql[64];

	rc = query_int(db, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT count(*) FROM sqlite_master", &objects);
	if (rc != SQLITE_OK) {
		if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
			snprintf(err, errlen, "%s is not a SQLite database "
			    "(or is corrupt)", path);
		else
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	if (version > SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema version %d is newer than "
		    "this ctguard (%d)", version, SCHEMA_VERSION);
		return -1;
	}
	if (version == 0 && objects > 0) {
		snprintf(err, errlen, "%s is not a ctguard audit database "
		    "(it has tables but no schema version)", path);
		return -1;
	}
	/*
	 * Only possible before the first table. auto_vacuum lets retention
	 * shrink the file; 16 KiB pages make the writer about 15% cheaper per
	 * row than SQLite's 4 KiB (fewer page splits and B-tree levels across
	 * five appending B-trees; make bench's writer figure).
	 */
	if (version == 0) {
		exec_simple(db, "PRAGMA page_size = " STR(DB_PAGE_SIZE));
		exec_simple(db, "PRAGMA auto_vacuum = INCREMENTAL");
	}

	rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = exec_simple(db, "PRAGMA synchronous = NORMAL");
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d",
	    JOURNAL_SIZE_LIMIT);
	exec_simple(db, sql);
	/* Index pages (src_bin, dst_bin) are hit at random: keep them cached. */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", CACHE_KIB);
	exec_simple(db, sql);
	if (version == SCHEMA_VERSION)
		return 0;

	if (exec_simple(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	/* Read again under the write lock: another process may have migrated. */
	if (query_int(db, "PRAGMA user_version", &version) != SQLITE_OK)
		goto out_rollback;
	for (; version < SCHEMA_VERSION; version++) {
		if (migrations[version](db, err, errlen) == -1)
			goto out_rollback_msg;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (exec_simple(db, sql) != SQLITE_OK ||
	    exec_simple(db, "COMMIT") != SQLITE_OK)
		goto out_rollback;
	return 0;

out_rollback:
	snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
out_rollback_msg:
	if (!sqlite3_get_autocommit(db))
		exec_simple(db, "ROLLBACK");
	return -1;
}

static void
db_close(struct ctg_auditlog *log)
{
	for (int i = 0; i < STMT_MAX; i++) {
		sqlite3_finalize(log->stmt[i]);
		log->stmt[i] = NULL;
	}
	if (log->db != NULL) {
		sqlite3_close(log->db);
		log->db = NULL;
	}
}

static void
unlink_suffix(const char *path, const char *suffix)
{
	char name[4096];

	if ((size_t)snprintf(name, sizeof(name), "%s%s", path, suffix) <
	    sizeof(name))
		unlink(name);
}

/*
 * Before letting go of a file that may have been renamed (rotation): once
 * the file has moved, sqlite3_close() does not checkpoint, and the rows
 * still in the WAL would stay behind under the old name, away from the
 * rotated file. Checkpoint through our open descriptors first; db_open()
 * then removes the emptied WAL when it creates the new file.
 */
static void
db_close_rotated(struct ctg_auditlog *log)
{
	if (log->db != NULL)
		exec_simple(log->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	db_close(log);
}

static void
apply_max_pages(struct ctg_auditlog *log)
{
	char sql[64];

	if (log->db == NULL || log->max_pages == 0)
		return;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRIu32,
	    log->max_pages);
	sqlite3_exec(log->db, sql, NULL, NULL, NULL);
}

/*
 * Create the file if needed (mode 0640 whatever the umask, group if set),
 * open it, bring the schema to our version and prepare the inserts.
 */
static int
db_open(struct ctg_auditlog *log, char *err, size_t errlen)
{
	char group_sql[4096];
	sqlite3 *db = NULL;
	int fd, rc;

	fd = open(log->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd != -1) {
		if (fchmod(fd, 0640) == -1 ||
		    (log->chown_group && fchown(fd, (uid_t)-1, log->gid) == -1)) {
			snprintf(err, errlen, "%s: %s", log->path,
			    strerror(errno));
			close(fd);
			unlink(log->path);
			return -1;
		}
		close(fd);
		/*
		 * A WAL left by a deleted database would be replayed into the
		 * new one: it belongs to no file now.
		 */
		unlink_suffix(log->path, "-wal");
		unlink_suffix(log->path, "-shm");
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", log->path,
		    strerror(errno));
		return -1;
	}

	/* Only the writer thread uses the connection: no SQLite mutex needed. */
	rc = sqlite3_open_v2(log->path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", log->path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto out_close;
	}
	sqlite3_busy_timeout(db, OPEN_BUSY_TIMEOUT_MS);
	if (schema_prepare(db, log->path, err, errlen) == -1)
		goto out_close;
	verdict_group_sql(group_sql, sizeof(group_sql));
	for (int i = 0; i < STMT_MAX; i++) {
		rc = sqlite3_prepare_v3(db, insert_sql[i] ? insert_sql[i] : group_sql,
		    -1, SQLITE_PREPARE_PERSISTENT, &log->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", log->path,
			    sqlite3_errmsg(db));
			goto out_close;
		}
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	log->db = db;
	apply_max_pages(log);
	return 0;

out_close:
	for (int i = 0; i < STMT_MAX; i++) {
		sqlite3_finalize(log->stmt[i]);
		log->stmt[i] = NULL;
	}
	sqlite3_close(db);
	return -1;
}

/*
 * Writer: binding rows. Text comes from the slot being written (it stays in
 * the pending buffer until the transaction ends), from static name tables,
 * or from a row_text the caller keeps until the row is stepped; so it is
 * bound SQLITE_STATIC and SQLite copies nothing.
 */

static void
bind_text_n(sqlite3_stmt *st, int col, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, s, (int)n, SQLITE_STATIC);
}

static void
bind_tuple(sqlite3_stmt *st, int col, const struct ctg_tuple *t,
    struct row_text *txt, uint8_t bin[2][16])
{
	/* col: family, src, src_bin, sport, dst, dst_bin, dport */
	sqlite3_bind_int(st, col, t->family);
	ctg_addr_str(&t->src, t->family, txt->src, sizeof(txt->src));
	ctg_addr_str(&t->dst, t->family, txt->dst, sizeof(txt->dst));
	ctg_auditlog_addr_bin(&t->src, t->family, bin[0]);
	ctg_auditlog_addr_bin(&t->dst, t->family, bin[1]);
	sqlite3_bind_text(st, col + 1, txt->src, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, col + 2, bin[0], 16, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, col + 3, t->sport);
	sqlite3_bind_text(st, col + 4, txt->dst, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, col + 5, bin[1], 16, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, col + 6, t->dport);
}

/* One verdict row at parameters base+1 .. base+VERDICT_COLS. */
static void
bind_verdict(sqlite3_stmt *st, int base, const struct ctg_verdict_record *v,
    struct row_text *txt)
{
	uint8_t bin[2][16];

	sqlite3_bind_int64(st, base + 1, (sqlite3_int64)v->time_us);
	if (v->conn_id != 0)
		sqlite3_bind_int64(st, base + 2, (sqlite3_int64)v->conn_id);
	else
		sqlite3_bind_null(st, base + 2);
	sqlite3_bind_int64(st, base + 3, (sqlite3_int64)v->packet_no);
	sqlite3_bind_text(st, base + 4, v->direction ? "reply" : "original",
	    -1, SQLITE_STATIC);
	sqlite3_bind_int(st, base + 5, v->tuple.proto);
	bind_tuple(st, base + 6, &v->tuple, txt, bin);
	if (v->tuple.proto == 6)
		sqlite3_bind_text(st, base + 13, ctg_tcp_flags_str(v->tcp_flags,
		    txt->flags, sizeof(txt->flags)), -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, base + 13);
	sqlite3_bind_text(st, base + 14, ctg_ctstate_name(v->ctstate), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, base + 15, ctg_tcp_state_name(v->orig_before),
	    -1, SQLITE_STATIC);
	sqlite3_bind_text(st, base + 16, ctg_tcp_state_name(v->resp_before),
	    -1, SQLITE_STATIC);
	sqlite3_bind_text(st, base + 17, ctg_tcp_state_name(v->orig_after),
	    -1, SQLITE_STATIC);
	sqlite3_bind_text(st, base + 18, ctg_tcp_state_name(v->resp_after),
	    -1, SQLITE_STATIC);
	sqlite3_bind_text(st, base + 19, ctg_action_name(v->verdict), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, base + 20, ctg_reason_name(v->reason), -1,
	    SQLITE_STATIC);
	bind_text_n(st, base + 21, v->rule, sizeof(v->rule));
	sqlite3_bind_int(st, base + 22, v->queue);
	sqlite3_bind_int64(st, base + 23, v->length);
}

static sqlite3_stmt *
bind_slot(struct ctg_auditlog *log, const struct ctg_audit_slot *s)
{
	sqlite3_stmt *st;
	uint8_t bin[2][16];

	switch (s->type) {
	case CTG_AUDIT_VERDICT:
		st = log->stmt[STMT_VERDICT];
		bind_verdict(st, 0, &s->v, &log->text[0]);
		return st;
	case CTG_AUDIT_CONN: {
		const struct ctg_conn_record *c = &s->c;

		st = log->stmt[STMT_CONN];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->conn_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)c->first_us);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)c->last_us);
		sqlite3_bind_int(st, 4, c->tuple.proto);
		bind_tuple(st, 5, &c->tuple, &log->text[0], bin);
		bind_text_n(st, 12, c->conn_state, sizeof(c->conn_state));
		bind_text_n(st, 13, c->history, sizeof(c->history));
		sqlite3_bind_int64(st, 14, (sqlite3_int64)c->pkts[0]);
		sqlite3_bind_int64(st, 15, (sqlite3_int64)c->bytes[0]);
		sqlite3_bind_int64(st, 16, (sqlite3_int64)c->pkts[1]);
		sqlite3_bind_int64(st, 17, (sqlite3_int64)c->bytes[1]);
		sqlite3_bind_text(st, 18, ctg_tcp_state_name(c->orig_state),
		    -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 19, ctg_tcp_state_name(c->resp_state),
		    -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 20, ctg_end_reason_name(c->end_reason),
		    -1, SQLITE_STATIC);
		bind_text_n(st, 21, c->rule, sizeof(c->rule));
		return st;
	}
	case CTG_AUDIT_EVENT: {
		const struct ctg_event_record *e = &s->e;

		st = log->stmt[STMT_EVENT];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)e->time_us);
		sqlite3_bind_text(st, 2, ctg_event_kind_name(e->kind), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)e->count);
		bind_text_n(st, 4, e->detail, sizeof(e->detail));
		return st;
	}
	default:
		return NULL;
	}
}

/*
 * Write s[0 .. VERDICT_GROUP-1], all verdicts, in one statement. Returns
 * SQLITE_DONE, or the error. Being OR FAIL, a refused row leaves the rows
 * before it written: the caller rolls the transaction back and writes the
 * batch again row by row (a whole batch for one bad row: a refusal needs
 * a damaged or tampered database, so it is not worth finer bookkeeping).
 */
static int
step_verdict_group(struct ctg_auditlog *log, const struct ctg_audit_slot *s)
{
	sqlite3_stmt *st = log->stmt[STMT_VERDICT_GROUP];
	int rc;

	for (int r = 0; r < VERDICT_GROUP; r++)
		bind_verdict(st, r * VERDICT_COLS, &s[r].v, &log->text[r]);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

/* Writer: the pending buffer. */

static struct ctg_audit_slot *
pend_reserve(struct ctg_auditlog *log, size_t n)
{
	struct ctg_audit_slot *p;
	size_t cap;

	if (log->pend_start + log->pend_count + n <= log->pend_cap)
		return &log->pend[log->pend_start + log->pend_count];
	if (log->pend_start > 0) {
		memmove(log->pend, log->pend + log->pend_start,
		    log->pend_count * sizeof(*log->pend));
		log->pend_start = 0;
		if (log->pend_count + n <= log->pend_cap)
			return &log->pend[log->pend_count];
	}
	cap = log->pend_cap ? log->pend_cap : 256;
	while (cap < log->pend_count + n)
		cap *= 2;
	p = realloc(log->pend, cap * sizeof(*p));
	if (p == NULL)
		return NULL;
	log->pend = p;
	log->pend_cap = cap;
	return &log->pend[log->pend_count];
}

static void
add_gap(struct ctg_auditlog *log, uint64_t n, const char *why)
{
	struct ctg_audit_slot *s;

	s = pend_reserve(log, 1);
	if (s == NULL) {
		/* Cannot even say so; the counter keeps it for next time. */
		return;
	}
	memset(s, 0, sizeof(*s));
	s->type = CTG_AUDIT_EVENT;
	s->synthetic = true;
	s->e.time_us = real_us();
	s->e.kind = CTG_EV_LOG_GAP;
	s->e.count = n;
	snprintf(s->e.detail, sizeof(s->e.detail), "%" PRIu64
	    " records lost: %s", n, why);
	if (log->pend_count == 0)
		log->pend_since_ms = mono_ms();
	log->pend_count++;
	log->synth_made++;
}

/* Turn losses not yet reported into gap events (only when rows can be written). */
static void
gap_check(struct ctg_auditlog *log)
{
	uint64_t drops = 0, n;

	for (unsigned i = 0; i < log->nrings; i++) {
		uint64_t d = ctg_audit_ring_dropped(log->rings[i]);

		drops += d - log->drops_seen[i];
	}
	if (drops > 0 && pend_reserve(log, 1) != NULL) {
		/* Recount: a producer may have dropped more meanwhile. */
		drops = 0;
		for (unsigned i = 0; i < log->nrings; i++) {
			uint64_t d = ctg_audit_ring_dropped(log->rings[i]);

			drops += d - log->drops_seen[i];
			log->drops_seen[i] = d;
		}
		add_gap(log, drops, "queue full");
	}
	n = log->lost_backlog - log->lost_backlog_seen;
	if (n > 0 && pend_reserve(log, 1) != NULL) {
		log->lost_backlog_seen = log->lost_backlog;
		add_gap(log, n, "database unavailable");
	}
}

/*
 * Take up to max records of ring i into the pending buffer. Sets *stop when
 * no ring should be drained further now: the buffer is at its bound while
 * the database is merely busy (the rings absorb it), or out of memory.
 */
static uint32_t
drain_ring(struct ctg_auditlog *log, unsigned i, uint32_t max, bool *stop)
{
	struct ctg_audit_slot scratch[64];
	struct ctg_audit_ring *r = log->rings[i];
	uint32_t avail = ctg_audit_ring_count(r), total = 0;

	while (avail > 0 && total < max) {
		uint32_t room, want, got;
		struct ctg_audit_slot *dst;

		want = avail < max - total ? avail : max - total;
		room = log->pend_count < log->pend_bound ?
		    log->pend_bound - (uint32_t)log->pend_count : 0;
		if (room == 0 && !log->degraded) {
			*stop = true;
			break;
		}
		if (room == 0) {
			/* degraded and full: these are lost */
			if (want > 64)
				want = 64;
			got = ctg_audit_ring_get(r, scratch, want);
			log->lost_backlog += got;
			log->lost_total += got;
			log->settled[i] += got;
		} else {
			if (want > room)
				want = room;
			dst = pend_reserve(log, want);
			if (dst == NULL) {
				*stop = true;
				break;
			}
			got = ctg_audit_ring_get(r, dst, want);
			for (uint32_t k = 0; k < got; k++)
				dst[k].source = (uint16_t)i;
			if (log->pend_count == 0 && got > 0)
				log->pend_since_ms = mono_ms();
			log->pend_count += got;
		}
		if (got == 0)
			break;
		avail -= got;
		total += got;
	}
	return total;
}

/*
 * One batch's worth from the rings. Each ring first gets an equal share
 * and then whatever budget the others left, and the starting ring rotates:
 * otherwise a flooding producer on a low-numbered ring takes the whole
 * budget every time and the rings after it overflow.
 */
static unsigned
drain(struct ctg_auditlog *log)
{
	uint32_t budget = log->batch_max, share;
	unsigned total = 0, start = log->drain_next;
	bool stop = false;

	log->drain_next = (start + 1) % log->nrings;
	share = budget / log->nrings > 0 ? budget / log->nrings : 1;
	for (int pass = 0; pass < 2 && budget > 0 && !stop; pass++) {
		for (unsigned k = 0; k < log->nrings && budget > 0 && !stop; k++) {
			unsigned i = (start + k) % log->nrings;
			uint32_t got;

			got = drain_ring(log, i, pass == 0 && share < budget ?
			    share : budget, &stop);
			budget -= got;
			total += got;
		}
	}
	return total;
}

/* Writer: state reports and batches. */

static void
report(struct ctg_auditlog *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
report(struct ctg_auditlog *log, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log->report != NULL)
		log->report(log->report_arg, msg);
	else
		fprintf(stderr, "ctguard: %s\n", msg);
}

static void
set_error(struct ctg_auditlog *log, const char *msg)
{
	pthread_mutex_lock(&log->mtx);
	snprintf(log->st.last_error, sizeof(log->st.last_error), "%s", msg);
	pthread_mutex_unlock(&log->mtx);
}

static void
enter_degraded(struct ctg_auditlog *log, int rc, const char *msg)
{
	uint64_t now = mono_ms();

	log->last_rc = rc;
	log->next_try_ms = now + RETRY_MS;
	set_error(log, msg);
	pthread_mutex_lock(&log->mtx);
	log->st.write_errors++;
	log->st.degraded = true;
	pthread_mutex_unlock(&log->mtx);
	if (log->degraded)
		return;
	log->degraded = true;
	log->degraded_since_ms = now;
	report(log, "audit log %s degraded: %s; keeping up to %" PRIu32
	    " records in memory, retrying every %d s", log->path, msg,
	    log->pend_bound, RETRY_MS / 1000);
}

static void
leave_degraded(struct ctg_auditlog *log)
{
	if (!log->degraded)
		return;
	log->degraded = false;
	pthread_mutex_lock(&log->mtx);
	log->st.degraded = false;
	pthread_mutex_unlock(&log->mtx);
	report(log, "audit log %s writing again after %" PRIu64 " ms; %"
	    PRIu64 " records lost meanwhile", log->path,
	    mono_ms() - log->degraded_since_ms,
	    log->lost_backlog - log->lost_backlog_seen);
}

/* Errors that condemn one row, not the batch: skip the row. */
static bool
row_error(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return true;
	default:
		return false;
	}
}

static bool
group_of_verdicts(const struct ctg_audit_slot *s)
{
	for (int r = 0; r < VERDICT_GROUP; r++)
		if (s[r].type != CTG_AUDIT_VERDICT)
			return false;
	return true;
}

/*
 * One transaction of up to batch_max pending slots. On success they leave
 * the buffer; on any failure they stay, the transaction is rolled back and
 * the caller decides when to try again.
 */
static int
write_batch(struct ctg_auditlog *log, bool grouped)
{
	size_t n = log->pend_count < log->batch_max ?
	    log->pend_count : log->batch_max;
	struct ctg_audit_slot *s = log->pend + log->pend_start;
	uint64_t skipped = 0;
	int rc;

	rc = exec_simple(log->db, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK) {
		snprintf(log->batch_error, sizeof(log->batch_error), "%s",
		    sqlite3_errmsg(log->db));
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st;

		if (grouped && i + VERDICT_GROUP <= n && group_of_verdicts(&s[i])) {
			rc = step_verdict_group(log, &s[i]);
			if (rc == SQLITE_DONE) {
				i += VERDICT_GROUP - 1;
				continue;
			}
			if (!row_error(rc))
				goto out_rollback;
			/*
			 * One of them is refused. OR FAIL (which spares SQLite a
			 * statement journal) kept the rows before it: undo the
			 * transaction and write this batch row by row.
			 */
			if (!sqlite3_get_autocommit(log->db))
				exec_simple(log->db, "ROLLBACK");
			return write_batch(log, false);
		}
		st = bind_slot(log, &s[i]);
		if (st == NULL) {
			skipped++;
			continue;
		}
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			continue;
		if (row_error(rc)) {
			skipped++;
			continue;
		}
		goto out_rollback;
	}
	rc = exec_simple(log->db, "COMMIT");
	if (rc != SQLITE_OK)
		goto out_rollback;

	for (size_t i = 0; i < n; i++) {
		if (s[i].synthetic)
			log->settled[log->nrings]++;
		else
			log->settled[s[i].source]++;
	}
	log->pend_start += n;
	log->pend_count -= n;
	if (log->pend_count == 0)
		log->pend_start = 0;
	else
		log->pend_since_ms = mono_ms();
	log->lost_total += skipped;
	pthread_mutex_lock(&log->mtx);
	log->st.written += n - skipped;
	log->st.write_errors += skipped;
	log->st.batches++;
	pthread_mutex_unlock(&log->mtx);
	return SQLITE_OK;

out_rollback:
	/* before ROLLBACK replaces it with its own "not an error" */
	snprintf(log->batch_error, sizeof(log->batch_error), "%s",
	    sqlite3_errmsg(log->db));
	/* FULL and IOERR may have rolled back already (lang_transaction §3). */
	if (!sqlite3_get_autocommit(log->db))
		exec_simple(log->db, "ROLLBACK");
	return rc;
}

static int
flush_batch(struct ctg_auditlog *log)
{
	return write_batch(log, true);
}

/* Flush what is due; returns true when it did something. */
static bool
flush_due(struct ctg_auditlog *log, uint64_t now, bool urgent)
{
	bool did = false;
	int rc;

	if (log->pend_count == 0 || now < log->next_try_ms)
		return false;
	if (log->db == NULL) {
		char err[256];

		if (db_open(log, err, sizeof(err)) == -1) {
			enter_degraded(log, SQLITE_CANTOPEN, err);
			return false;
		}
	}
	if (!log->degraded && !urgent && log->pend_count < log->batch_max &&
	    now - log->pend_since_ms < log->batch_ms)
		return false;
	if (!log->degraded)
		gap_check(log);
	while (log->pend_count > 0) {
		rc = flush_batch(log);
		if (rc == SQLITE_OK) {
			did = true;
			log->backoff_ms = 0;
			if (log->degraded) {
				leave_degraded(log);
				gap_check(log);
			}
			if (log->pend_count >= log->batch_max || urgent)
				continue;
			break;
		}
		if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
			/* Someone else writes: keep the batch, back off. */
			log->backoff_ms = log->backoff_ms == 0 ? 10 :
			    log->backoff_ms * 2;
			if (log->backoff_ms > BUSY_BACKOFF_MAX_MS)
				log->backoff_ms = BUSY_BACKOFF_MAX_MS;
			log->next_try_ms = now + log->backoff_ms;
			pthread_mutex_lock(&log->mtx);
			log->st.busy_retries++;
			pthread_mutex_unlock(&log->mtx);
			break;
		}
		enter_degraded(log, rc, log->batch_error);
		/*
		 * A full disk clears by itself; anything else (read-only,
		 * I/O error, file replaced) may need a fresh connection.
		 */
		if ((rc & 0xff) != SQLITE_FULL)
			db_close(log);
		break;
	}
	return did;
}

/* Writer: retention and housekeeping. */

static int64_t
run_delete(sqlite3 *db, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	int64_t changes = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (exec_simple(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	if (arg >= 0)
		sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_DONE) {
		int64_t n = sqlite3_changes64(db);

		if (exec_simple(db, "COMMIT") == SQLITE_OK)
			changes = n;
	}
	if (!sqlite3_get_autocommit(db))
		exec_simple(db, "ROLLBACK");
	sqlite3_finalize(st);
	return changes;
}

static int64_t
used_bytes(sqlite3 *db)
{
	int pages = 0, freel = 0, psize = 0;

	if (query_int(db, "PRAGMA page_count", &pages) != SQLITE_OK ||
	    query_int(db, "PRAGMA freelist_count", &freel) != SQLITE_OK ||
	    query_int(db, "PRAGMA page_size", &psize) != SQLITE_OK)
		return -1;
	return (int64_t)(pages - freel) * psize;
}

/*
 * Deletes in batches of RETENTION_BATCH rows, one transaction each, and
 * drains the rings between batches so producers never wait on it.
 */
static void
maintenance(struct ctg_auditlog *log)
{
	static const char *const by_age[] = {
		"DELETE FROM verdicts WHERE id IN (SELECT id FROM verdicts"
		" WHERE time_us < ?1 ORDER BY time_us LIMIT 10000)",
		"DELETE FROM connections WHERE id IN (SELECT id FROM connections"
		" WHERE first_us < ?1 AND last_us < ?1 LIMIT 10000)",
		"DELETE FROM events WHERE id IN (SELECT id FROM events"
		" WHERE time_us < ?1 ORDER BY time_us LIMIT 10000)",
	};
	static const char *const oldest[] = {
		"DELETE FROM verdicts WHERE id IN (SELECT id FROM verdicts"
		" ORDER BY time_us LIMIT 10000)",
		"DELETE FROM connections WHERE id IN (SELECT id FROM connections"
		" ORDER BY first_us LIMIT 10000)",
	};
	bool freed = false;

	if (log->db == NULL || log->degraded)
		return;
	if (log->retention_days > 0) {
		uint64_t age = (uint64_t)log->retention_days * 86400 * 1000000;
		uint64_t now = real_us();
		int64_t cutoff = now > age ? (int64_t)(now - age) : 0;

		for (size_t t = 0; t < sizeof(by_age) / sizeof(by_age[0]); t++) {
			int64_t n;

			do {
				n = run_delete(log->db, by_age[t], cutoff);
				if (n > 0)
					freed = true;
				drain(log);
			} while (n == RETENTION_BATCH);
		}
	}
	if (log->retention_mb > 0) {
		int64_t limit = (int64_t)log->retention_mb * 1024 * 1024;

		for (int pass = 0; pass < SIZE_PASSES_MAX; pass++) {
			int64_t used = used_bytes(log->db), n = 0;

			if (used < 0 || used <= limit)
				break;
			for (size_t t = 0; t < sizeof(oldest) / sizeof(oldest[0]); t++) {
				int64_t k = run_delete(log->db, oldest[t], -1);

				if (k > 0)
					n += k;
			}
			drain(log);
			if (n <= 0)
				break;
			freed = true;
		}
	}
	if (freed)
		exec_simple(log->db, "PRAGMA incremental_vacuum");
	/* Readers can starve checkpoints; a busy answer here is harmless. */
	exec_simple(log->db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

/* Writer: sync bookkeeping. */

static void
sync_snapshot(struct ctg_auditlog *log)
{
	for (unsigned i = 0; i < log->nrings; i++)
		log->sync_target[i] = ctg_audit_ring_produced(log->rings[i]);
	if (!log->degraded)
		gap_check(log);
	log->sync_target[log->nrings] = log->synth_made;
}

static bool
sync_reached(const struct ctg_auditlog *log)
{
	for (unsigned i = 0; i <= log->nrings; i++) {
		if ((int32_t)(log->settled[i] - log->sync_target[i]) < 0)
			return false;
	}
	return true;
}

static bool
rings_empty(const struct ctg_auditlog *log)
{
	for (unsigned i = 0; i < log->nrings; i++) {
		if (ctg_audit_ring_count(log->rings[i]) > 0)
			return false;
	}
	return true;
}

static void
apply_hooks(struct ctg_auditlog *log, bool pause_set, bool pause_val,
    bool pages_set, uint32_t pages, bool retention)
{
	if (pause_set)
		log->paused = pause_val;
	if (pages_set) {
		log->max_pages = pages;
		apply_max_pages(log);
	}
	if (retention)
		maintenance(log);
}

static void *
writer_main(void *arg)
{
	struct ctg_auditlog *log = arg;
	uint64_t stop_deadline = 0;

	/*
	 * The log must never slow the packet path: when the CPUs are busy,
	 * the queue workers go first and the rings absorb the backlog (what
	 * overflows them is counted and reported as a gap, or dropped with
	 * strict_audit). Linux nice values are per thread.
	 */
	/* not fatal if refused: the writer then competes as an equal */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE);
	log->next_maint_ms = mono_ms() + MAINT_INTERVAL_MS;
	for (;;) {
		bool stop, reopen, pause_set, pause_val, pages_set, retention;
		bool progress = false, urgent;
		uint64_t hook, sync_req, now, wait_ms;
		uint32_t pages;

		pthread_mutex_lock(&log->mtx);
		stop = log->stop;
		reopen = log->reopen_req;
		log->reopen_req = false;
		hook = log->hook_req != log->hook_done ? log->hook_req : 0;
		pause_set = log->hook_pause;
		pause_val = log->hook_pause_val;
		pages_set = log->hook_pages;
		pages = log->hook_pages_val;
		retention = log->hook_retention;
		log->hook_pause = log->hook_pages = log->hook_retention = false;
		sync_req = log->sync_req;
		pthread_mutex_unlock(&log->mtx);

		if (hook != 0) {
			apply_hooks(log, pause_set, pause_val, pages_set, pages,
			    retention);
			pthread_mutex_lock(&log->mtx);
			log->hook_done = hook;
			pthread_cond_broadcast(&log->done);
			pthread_mutex_unlock(&log->mtx);
		}
		if (reopen) {
			char err[256];

			db_close_rotated(log);
			if (db_open(log, err, sizeof(err)) == -1)
				enter_degraded(log, SQLITE_CANTOPEN, err);
			else
				log->next_try_ms = 0;
		}
		if (stop && stop_deadline == 0) {
			stop_deadline = mono_ms() + SHUTDOWN_GRACE_MS;
			log->paused = false;
			/* One more attempt now if degraded, then give up. */
			if (log->degraded)
				log->next_try_ms = 0;
		}
		if (sync_req > log->sync_seen) {
			log->sync_seen = sync_req;
			log->sync_gen = sync_req;
			sync_snapshot(log);
		}

		if (!log->paused && drain(log) > 0)
			progress = true;
		now = mono_ms();
		urgent = stop || log->sync_gen > 0;
		if (!log->paused && flush_due(log, now, urgent))
			progress = true;
		if (!log->paused && now >= log->next_maint_ms) {
			maintenance(log);
			log->next_maint_ms = now + MAINT_INTERVAL_MS;
		}

		pthread_mutex_lock(&log->mtx);
		log->st_pend = log->pend_count;
		log->st_lost = log->lost_total;
		if (log->sync_gen > 0 && sync_reached(log)) {
			log->sync_done = log->sync_gen;
			log->sync_gen = 0;
			pthread_cond_broadcast(&log->done);
		}
		pthread_mutex_unlock(&log->mtx);

		if (stop && ((rings_empty(log) && log->pend_count == 0) ||
		    log->degraded || mono_ms() >= stop_deadline))
			break;
		if (progress)
			continue;
		now = mono_ms();
		wait_ms = IDLE_POLL_MS;
		if (log->pend_count > 0 && !log->degraded) {
			uint64_t due = log->pend_since_ms + log->batch_ms;

			if (due > now && due - now < wait_ms)
				wait_ms = due - now;
		}
		pthread_mutex_lock(&log->mtx);
		if (!log->stop && !log->reopen_req && log->hook_req == log->hook_done &&
		    log->sync_req == log->sync_seen) {
			struct timespec ts;

			deadline_in(&ts, wait_ms);
			pthread_cond_timedwait(&log->wake, &log->mtx, &ts);
		}
		pthread_mutex_unlock(&log->mtx);
	}

	/* Whatever is left could not be written in time. */
	{
		uint64_t left = log->pend_count;

		for (unsigned i = 0; i < log->nrings; i++)
			left += ctg_audit_ring_count(log->rings[i]);
		if (left > 0)
			report(log, "audit log %s: %" PRIu64 " records lost at "
			    "shutdown", log->path, left);
		log->lost_total += left;
	}
	pthread_mutex_lock(&log->mtx);
	log->st_pend = 0;
	log->st_lost = log->lost_total;
	log->sync_done = log->sync_req;
	pthread_cond_broadcast(&log->done);
	pthread_mutex_unlock(&log->mtx);
	return NULL;
}

/* API. */

static void
auditlog_free(struct ctg_auditlog *log)
{
	if (log->rings != NULL) {
		for (unsigned i = 0; i < log->nrings; i++)
			ctg_audit_ring_free(log->rings[i]);
	}
	free(log->rings);
	free(log->settled);
	free(log->sync_target);
	free(log->drops_seen);
	free(log->pend);
	free(log->path);
	pthread_cond_destroy(&log->wake);
	pthread_cond_destroy(&log->done);
	pthread_mutex_destroy(&log->mtx);
	free(log);
}

static int
resolve_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];
	char *end;
	unsigned long n;
	int rc;

	rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (rc == 0 && res != NULL) {
		*gid = gr.gr_gid;
		return 0;
	}
	errno = 0;
	n = strtoul(name, &end, 10);
	if (errno == 0 && *end == '\0' && end != name && n < UINT32_MAX) {
		*gid = (gid_t)n;
		return 0;
	}
	snprintf(err, errlen, "unknown group '%s'", name);
	return -1;
}

struct ctg_auditlog *
ctg_auditlog_open(const struct ctg_auditlog_config *cfg, char *err,
    size_t errlen)
{
	struct ctg_auditlog *log;
	pthread_condattr_t ca;
	uint32_t per_ring, queue;

	if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0') {
		snprintf(err, errlen, "audit log: no database path");
		return NULL;
	}
	if (cfg->producers == 0 || cfg->producers > 256) {
		snprintf(err, errlen, "audit log: producers must be 1 to 256, "
		    "not %u", cfg->producers);
		return NULL;
	}
	queue = cfg->queue_records ? cfg->queue_records : DEFAULT_QUEUE_RECORDS;
	if (queue > (UINT32_C(1) << 24)) {
		snprintf(err, errlen, "audit log: queue of %" PRIu32
		    " records is too large (at most %u)", queue, 1u << 24);
		return NULL;
	}
	log = calloc(1, sizeof(*log));
	if (log == NULL) {
		snprintf(err, errlen, "audit log: out of memory");
		return NULL;
	}
	pthread_mutex_init(&log->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->wake, &ca);
	pthread_cond_init(&log->done, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&log->stopping, false);

	log->batch_max = cfg->batch_max ? cfg->batch_max : DEFAULT_BATCH_MAX;
	log->batch_ms = cfg->batch_ms ? cfg->batch_ms : DEFAULT_BATCH_MS;
	log->retention_days = cfg->retention_days;
	log->retention_mb = cfg->retention_mb;
	log->pend_bound = cfg->memory_bound_records > log->batch_max ?
	    cfg->memory_bound_records : log->batch_max;
	log->block_when_full = cfg->block_when_full;
	log->report = cfg->report;
	log->report_arg = cfg->report_arg;
	log->nrings = cfg->producers;
	log->path = strdup(cfg->path);
	log->rings = calloc(log->nrings, sizeof(*log->rings));
	log->settled = calloc(log->nrings + 1, sizeof(*log->settled));
	log->sync_target = calloc(log->nrings + 1, sizeof(*log->sync_target));
	log->drops_seen = calloc(log->nrings, sizeof(*log->drops_seen));
	if (log->path == NULL || log->rings == NULL || log->settled == NULL ||
	    log->sync_target == NULL || log->drops_seen == NULL)
		goto out_nomem;
	per_ring = (queue + log->nrings - 1) / log->nrings;
	for (unsigned i = 0; i < log->nrings; i++) {
		log->rings[i] = ctg_audit_ring_new(per_ring);
		if (log->rings[i] == NULL)
			goto out_nomem;
	}
	if (cfg->group != NULL && cfg->group[0] != '\0') {
		if (resolve_group(cfg->group, &log->gid, err, errlen) == -1)
			goto out_free;
		log->chown_group = true;
	}
	/*
	 * SQLite's global allocation statistics take a mutex on every
	 * allocation, about a tenth of the writer's time. This only takes
	 * effect before SQLite is first used in the process (else it returns
	 * SQLITE_MISUSE and changes nothing), which is when the daemon opens
	 * its log.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (db_open(log, err, errlen) == -1)
		goto out_free;
	/* signals are the main thread's business: the writer never takes them */
	sigset_t all, old_mask;
	int started;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old_mask);
	started = pthread_create(&log->thread, NULL, writer_main, log);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (started != 0) {
		snprintf(err, errlen, "audit log: cannot start writer thread");
		db_close(log);
		goto out_free;
	}
	log->thread_started = true;
	return log;

out_nomem:
	snprintf(err, errlen, "audit log: out of memory");
out_free:
	auditlog_free(log);
	return NULL;
}

int
ctg_auditlog_sync(struct ctg_auditlog *log, uint32_t timeout_ms)
{
	struct timespec ts;
	uint64_t me;
	int rc = 0;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&log->mtx);
	me = ++log->sync_req;
	pthread_cond_signal(&log->wake);
	while (log->sync_done < me) {
		if (pthread_cond_timedwait(&log->done, &log->mtx, &ts) ==
		    ETIMEDOUT && log->sync_done < me) {
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&log->mtx);
	return rc;
}

void
ctg_auditlog_reopen(struct ctg_auditlog *log)
{
	pthread_mutex_lock(&log->mtx);
	log->reopen_req = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->mtx);
}

void
ctg_auditlog_stats(struct ctg_auditlog *log, struct ctg_auditlog_stats *st)
{
	uint64_t ring_pending = 0, ring_dropped = 0;

	for (unsigned i = 0; i < log->nrings; i++) {
		ring_pending += ctg_audit_ring_count(log->rings[i]);
		ring_dropped += ctg_audit_ring_dropped(log->rings[i]);
	}
	pthread_mutex_lock(&log->mtx);
	*st = log->st;
	st->pending = log->st_pend + ring_pending;
	st->dropped = log->st_lost + ring_dropped;
	pthread_mutex_unlock(&log->mtx);
}

void
ctg_auditlog_close(struct ctg_auditlog *log)
{
	if (log == NULL)
		return;
	atomic_store(&log->stopping, true);
	pthread_mutex_lock(&log->mtx);
	log->stop = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->mtx);
	if (log->thread_started)
		pthread_join(log->thread, NULL);
	if (log->db != NULL)
		exec_simple(log->db, "PRAGMA optimize");
	db_close(log);
	auditlog_free(log);
}

/* Test hooks: post a request and wait for the writer to act on it. */
enum hook {
	HOOK_PAUSE,
	HOOK_MAX_PAGES,
	HOOK_RETENTION
};

static void
hook_post(struct ctg_auditlog *log, enum hook which, uint32_t val)
{
	uint64_t me;

	pthread_mutex_lock(&log->mtx);
	switch (which) {
	case HOOK_PAUSE:
		log->hook_pause = true;
		log->hook_pause_val = val != 0;
		break;
	case HOOK_MAX_PAGES:
		log->hook_pages = true;
		log->hook_pages_val = val;
		break;
	case HOOK_RETENTION:
		log->hook_retention = true;
		break;
	}
	me = ++log->hook_req;
	pthread_cond_signal(&log->wake);
	while (log->hook_done < me)
		pthread_cond_wait(&log->done, &log->mtx);
	pthread_mutex_unlock(&log->mtx);
}

void
ctg_auditlog_test_pause(struct ctg_auditlog *log, bool paused)
{
	hook_post(log, HOOK_PAUSE, paused);
}

void
ctg_auditlog_test_max_pages(struct ctg_auditlog *log, uint32_t pages)
{
	hook_post(log, HOOK_MAX_PAGES, pages);
}

void
ctg_auditlog_test_retention(struct ctg_auditlog *log)
{
	hook_post(log, HOOK_RETENTION, 0);
}
