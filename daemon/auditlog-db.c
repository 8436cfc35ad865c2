/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit database: creating the file, bringing its schema to this
 * version (the schema text is daemon/schema.sql, made into a C string at
 * build time), the connection settings, and the prepared inserts.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auditlog-int.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* daemon/schema.sql, generated into the build directory by the Makefile. */
static const char schema_sql[] =
#include "daemon/schema-sql.h"
	;

static const char verdict_insert_sql[] =
	"INSERT INTO verdicts (time_us, conn_id, packet_no, direction, proto,"
	" family, src, src_bin, sport, dst, dst_bin, dport, tcp_flags, ctstate,"
	" orig_before, resp_before, orig_after, resp_after, verdict, reason,"
	" rule, queue, length, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	" ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)";

/* A tracker that reuses an id (e.g. after a restart) replaces the old row. */
static const char conn_insert_sql[] =
	"INSERT OR REPLACE INTO connections (id, first_us, last_us, proto,"
	" family, src, src_bin, sport, dst, dst_bin, dport, conn_state, history,"
	" orig_pkts, orig_bytes, resp_pkts, resp_bytes, orig_state, resp_state,"
	" end_reason, rule, offloaded, offload_orig_pkts, offload_orig_bytes,"
	" offload_resp_pkts, offload_resp_bytes, seq) VALUES (?1, ?2, ?3, ?4, ?5,"
	" ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
	" ?21, ?22, ?23, ?24, ?25, ?26, ?27)";

static const char event_insert_sql[] =
	"INSERT INTO events (time_us, kind, count, detail, id) VALUES (?1, ?2, ?3, ?4, ?5)";

static const char verdict_group_head_sql[] =
	"INSERT OR FAIL INTO verdicts (time_us, conn_id, packet_no, direction, proto,"
	" family, src, src_bin, sport, dst, dst_bin, dport, tcp_flags, ctstate,"
	" orig_before, resp_before, orig_after, resp_after, verdict, reason,"
	" rule, queue, length, id) VALUES ";

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
 * Version 2: the kernel's NAT mappings (natwatch.c). src..dport as the
 * filter chains and the connections table see the connection; nat_src and
 * nat_sport the source after SNAT, nat_dst and nat_dport the destination
 * before DNAT (NULL: not translated); last_us NULL while the entry lives.
 */
static const char schema_v2_sql[] =
    "CREATE TABLE nat ("
    " id INTEGER PRIMARY KEY, first_us INTEGER NOT NULL, last_us INTEGER,"
    " proto INTEGER, family INTEGER,"
    " src TEXT, src_bin BLOB, sport INTEGER, dst TEXT, dst_bin BLOB, dport INTEGER,"
    " nat_src TEXT, nat_src_bin BLOB, nat_sport INTEGER,"
    " nat_dst TEXT, nat_dst_bin BLOB, nat_dport INTEGER, ct_id INTEGER);"
    "CREATE INDEX nat_tuple ON nat(src_bin, sport);"
    "CREATE INDEX nat_nat_src ON nat(nat_src_bin, nat_sport);"
    "CREATE INDEX nat_nat_dst ON nat(nat_dst_bin, nat_dport);"
    "CREATE INDEX nat_open ON nat(ct_id) WHERE last_us IS NULL;"
    "CREATE INDEX nat_last ON nat(last_us);"
    /*
     * A connection and the mapping of the same tuple whose lifetimes
     * overlap (2 s of slack: the conntrack event and ctguard's clocks).
     */
    "CREATE VIEW connections_nat AS SELECT c.*,"
    " n.nat_src, n.nat_src_bin, n.nat_sport, n.nat_dst, n.nat_dst_bin, n.nat_dport"
    " FROM connections c LEFT JOIN nat n ON n.id = (SELECT m.id FROM nat m"
    " WHERE m.src_bin = c.src_bin AND m.sport = c.sport AND m.dst_bin = c.dst_bin"
    " AND m.dport = c.dport AND m.proto = c.proto"
    " AND m.first_us <= c.last_us + 2000000"
    " AND (m.last_us IS NULL OR m.last_us >= c.first_us - 2000000)"
    " ORDER BY m.first_us DESC LIMIT 1);";

static int
migrate_v1_v2(sqlite3 *db, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, schema_v2_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "schema version 2 (nat): %s",
		    msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Version 3: offload (worker.c). offloaded is 1 for a connection whose
 * data segments the kernel passed without ctguard from some point on;
 * offload_* are the kernel's counters for that span (its totals less what
 * ctguard counted, NULL when the kernel's entry could not be read), which
 * the orig_ and resp_ totals then include.
 */
static const char schema_v3_sql[] =
    "ALTER TABLE connections ADD COLUMN offloaded INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE connections ADD COLUMN offload_orig_pkts INTEGER;"
    "ALTER TABLE connections ADD COLUMN offload_orig_bytes INTEGER;"
    "ALTER TABLE connections ADD COLUMN offload_resp_pkts INTEGER;"
    "ALTER TABLE connections ADD COLUMN offload_resp_bytes INTEGER;";

static int
migrate_v2_v3(sqlite3 *db, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, schema_v3_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "schema version 3 (offload): %s",
		    msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Version 4: connections.seq, the order in which connection rows were
 * written (a connection's id is its start, and it is written at its end),
 * so that a reader can resume the connections after the last one it saw.
 * Rows of older versions have none (NULL: before every numbered one).
 */
static const char schema_v4_sql[] =
    "ALTER TABLE connections ADD COLUMN seq INTEGER;"
    "CREATE INDEX connections_seq ON connections(seq);";

static int
migrate_v3_v4(sqlite3 *db, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, schema_v4_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "schema version 4 (connections.seq): %s",
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
	migrate_v1_v2,
	migrate_v2_v3,
	migrate_v3_v4,
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(SCHEMA_VERSION == CTG_AUDITLOG_SCHEMA_VERSION,
    "CTG_AUDITLOG_SCHEMA_VERSION must match the migration table");

int
audit_query_int(sqlite3 *db, const char *sql, int *out)
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

int
audit_exec_simple(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int
schema_prepare(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int version, objects, rc;
	char sql[64];

	rc = audit_query_int(db, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = audit_query_int(db, "SELECT count(*) FROM sqlite_master", &objects);
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
		audit_exec_simple(db, "PRAGMA page_size = " STR(DB_PAGE_SIZE));
		audit_exec_simple(db, "PRAGMA auto_vacuum = INCREMENTAL");
	}

	rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = audit_exec_simple(db, "PRAGMA synchronous = NORMAL");
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d",
	    JOURNAL_SIZE_LIMIT);
	audit_exec_simple(db, sql);
	/* Index pages (src_bin, dst_bin) are hit at random: keep them cached. */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", CACHE_KIB);
	audit_exec_simple(db, sql);
	if (version == SCHEMA_VERSION)
		return 0;

	if (audit_exec_simple(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	/* Read again under the write lock: another process may have migrated. */
	if (audit_query_int(db, "PRAGMA user_version", &version) != SQLITE_OK)
		goto out_rollback;
	for (; version < SCHEMA_VERSION; version++) {
		if (migrations[version](db, err, errlen) == -1)
			goto out_rollback_msg;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (audit_exec_simple(db, sql) != SQLITE_OK ||
	    audit_exec_simple(db, "COMMIT") != SQLITE_OK)
		goto out_rollback;
	return 0;

out_rollback:
	snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
out_rollback_msg:
	if (!sqlite3_get_autocommit(db))
		audit_exec_simple(db, "ROLLBACK");
	return -1;
}

void
audit_db_close(struct ctg_auditlog *log)
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
 * rotated file. Checkpoint through our open descriptors first; audit_db_open()
 * then removes the emptied WAL when it creates the new file.
 */
void
audit_db_close_rotated(struct ctg_auditlog *log)
{
	if (log->db != NULL)
		audit_exec_simple(log->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	audit_db_close(log);
}

void
audit_apply_max_pages(struct ctg_auditlog *log)
{
	char sql[64];

	if (log->db == NULL || log->max_pages == 0)
		return;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRIu32,
	    log->max_pages);
	sqlite3_exec(log->db, sql, NULL, NULL, NULL);
}

/*
 * Started as root to become another user: the files SQLite made beside
 * the database (-wal, -shm) belong to root now, and the next reopen after
 * the drop would fail on them. Hand them over; lchown never follows a link.
 */
static void
own_files(struct ctg_auditlog *log)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char name[4096];

	if (!log->own_files || geteuid() != 0)
		return;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
		if ((size_t)snprintf(name, sizeof(name), "%s%s", log->path, suffix[i]) <
		    sizeof(name))
			(void)lchown(name, log->owner_uid,
			    log->chown_group ? log->gid : log->owner_gid);
}

/*
 * The -wal and -shm beside the path were our connection's: SQLite would
 * replay that WAL into whatever file now has the name (a WAL does not
 * name its database).
 */
void
audit_db_forget_wal(struct ctg_auditlog *log)
{
	unlink_suffix(log->path, "-wal");
	unlink_suffix(log->path, "-shm");
}

int
audit_db_replaced(struct ctg_auditlog *log, char *why, size_t whylen)
{
	struct stat st;

	if (log->db == NULL)
		return 0;
	if (lstat(log->path, &st) < 0) {
		snprintf(why, whylen, "%s: %s", log->path, strerror(errno));
		return errno == ENOENT || errno == ENOTDIR;
	}
	if (st.st_dev != log->db_dev || st.st_ino != log->db_ino) {
		snprintf(why, whylen, "%s was replaced by another file%s", log->path,
		    S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
		return 1;
	}
	return 0;
}

/*
 * Ids continue after the highest this writer, this file or the state file
 * has seen: a fresh file (rotated, deleted, a new path) does not restart
 * them at 1, so a reader resumes by id alone. Rows of this file that a
 * past writer numbered higher (no state file, a restored copy) also count.
 */
static int
seed_ids(struct ctg_auditlog *log, sqlite3 *db, char *err, size_t errlen)
{
	static const char *const max_sql[SEQ_MAX] = {
		[SEQ_VERDICT] = "SELECT max(id) FROM verdicts",
		[SEQ_CONN] = "SELECT max(seq) FROM connections",
		[SEQ_EVENT] = "SELECT max(id) FROM events",
	};

	for (int i = 0; i < SEQ_MAX; i++) {
		sqlite3_stmt *st;
		int rc = sqlite3_prepare_v2(db, max_sql[i], -1, &st, NULL);

		if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t m = sqlite3_column_int64(st, 0);

			if (m >= log->next_id[i])
				log->next_id[i] = m + 1;
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", log->path, sqlite3_errmsg(db));
			return -1;
		}
		if (log->next_id[i] < 1)
			log->next_id[i] = 1;
	}
	return 0;
}

/*
 * The state file: "ctguard-log-ids 1" then one "NAME NEXT" line per
 * stream. Unreadable or absent: ids come from the database alone.
 */
static const char *const ids_names[SEQ_MAX] = {
	[SEQ_VERDICT] = "verdicts",
	[SEQ_CONN] = "connections",
	[SEQ_EVENT] = "events",
};

void
audit_ids_load(struct ctg_auditlog *log)
{
	char line[128], name[32];
	long long v;
	FILE *f;

	if (log->ids_path == NULL || (f = fopen(log->ids_path, "re")) == NULL)
		return;
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, "ctguard-log-ids 1\n") != 0) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%31s %lld", name, &v) != 2 || v < 1)
			continue;
		for (int i = 0; i < SEQ_MAX; i++)
			if (strcmp(name, ids_names[i]) == 0 && v > log->next_id[i])
				log->next_id[i] = v;
	}
	fclose(f);
	memcpy(log->saved_id, log->next_id, sizeof(log->saved_id));
}

/*
 * Written before the commit that uses the ids: a crash after it leaves a
 * gap in the numbers, never a repeat. Replaced by rename, so a reader (or
 * a crash) sees the old or the new file whole; no fsync: at most a few
 * commits per second, and after a power loss the database's own maximum
 * still counts when the file is the same.
 */
int
audit_ids_save(struct ctg_auditlog *log)
{
	char tmp[4096];
	FILE *f;
	int ok;

	if (log->ids_path == NULL ||
	    memcmp(log->saved_id, log->next_id, sizeof(log->saved_id)) == 0)
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", log->ids_path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((f = fopen(tmp, "we")) == NULL)
		return -1;
	fprintf(f, "ctguard-log-ids 1\n");
	for (int i = 0; i < SEQ_MAX; i++)
		fprintf(f, "%s %" PRId64 "\n", ids_names[i], log->next_id[i]);
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok || rename(tmp, log->ids_path) == -1) {
		int e = errno;

		unlink(tmp);
		errno = e;
		return -1;
	}
	memcpy(log->saved_id, log->next_id, sizeof(log->saved_id));
	return 0;
}

/*
 * Create the file if needed (mode 0640 whatever the umask, group if set),
 * open it, bring the schema to our version and prepare the inserts.
 */
int
audit_db_open(struct ctg_auditlog *log, char *err, size_t errlen)
{
	char group_sql[4096];
	sqlite3 *db = NULL;
	int fd, rc;

	struct stat st;

	/*
	 * No symbolic link is followed, on creation or on opening: whoever
	 * can write the directory must not point the daemon's writes (as root
	 * at start, as the daemon later) at another file.
	 */
	if (lstat(log->path, &st) == 0 && S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s is a symbolic link: refusing to follow it",
		    log->path);
		return -1;
	}
	fd = open(log->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd != -1) {
		if (fchmod(fd, 0640) == -1 ||
		    (log->own_files && fchown(fd, log->owner_uid, log->owner_gid) == -1) ||
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
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
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
	if (seed_ids(log, db, err, errlen) == -1)
		goto out_close;
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	log->db = db;
	audit_apply_max_pages(log);
	if (lstat(log->path, &st) == 0) {
		log->db_dev = st.st_dev;
		log->db_ino = st.st_ino;
	}
	own_files(log);
	return 0;

out_close:
	for (int i = 0; i < STMT_MAX; i++) {
		sqlite3_finalize(log->stmt[i]);
		log->stmt[i] = NULL;
	}
	sqlite3_close(db);
	return -1;
}
