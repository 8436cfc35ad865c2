/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Retention: rows older than retention_days, and the oldest rows while the
 * file is larger than retention_mb, are deleted by the writer thread about
 * once a minute, and at once when the disk is found full.
 */
#include <stdint.h>

#include "ctguard/clock.h"
#include "auditlog-int.h"

static int64_t
run_delete(sqlite3 *db, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	int64_t changes = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (audit_exec_simple(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	if (arg >= 0)
		sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_DONE) {
		int64_t n = sqlite3_changes64(db);

		if (audit_exec_simple(db, "COMMIT") == SQLITE_OK)
			changes = n;
	}
	if (!sqlite3_get_autocommit(db))
		audit_exec_simple(db, "ROLLBACK");
	sqlite3_finalize(st);
	return changes;
}

static int64_t
used_bytes(sqlite3 *db)
{
	int pages = 0, freel = 0, psize = 0;

	if (audit_query_int(db, "PRAGMA page_count", &pages) != SQLITE_OK ||
	    audit_query_int(db, "PRAGMA freelist_count", &freel) != SQLITE_OK ||
	    audit_query_int(db, "PRAGMA page_size", &psize) != SQLITE_OK)
		return -1;
	return (int64_t)(pages - freel) * psize;
}

/*
 * Deletes in batches of RETENTION_BATCH rows, one transaction each, and
 * drains the rings between batches so producers never wait on it.
 */
void
audit_maintenance(struct ctg_auditlog *log)
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

	/*
	 * Also while degraded (the database is open but writes fail): on a
	 * full disk, deleting what retention would delete anyway is what lets
	 * the next retry succeed. A failing delete just fails.
	 */
	if (log->db == NULL)
		return;
	if (log->retention_days > 0) {
		uint64_t age = (uint64_t)log->retention_days * 86400 * 1000000;
		uint64_t now = ctg_clock_wall_us();
		int64_t cutoff = now > age ? (int64_t)(now - age) : 0;

		for (size_t t = 0; t < sizeof(by_age) / sizeof(by_age[0]); t++) {
			int64_t n;

			do {
				n = run_delete(log->db, by_age[t], cutoff);
				if (n > 0)
					freed = true;
				audit_drain(log);
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
			audit_drain(log);
			if (n <= 0)
				break;
			freed = true;
		}
	}
	if (freed)
		audit_exec_simple(log->db, "PRAGMA incremental_vacuum");
	/* Readers can starve checkpoints; a busy answer here is harmless. */
	audit_exec_simple(log->db, "PRAGMA wal_checkpoint(TRUNCATE)");
}
