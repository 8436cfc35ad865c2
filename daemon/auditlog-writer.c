/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit log's writer thread: it drains the producers' rings into the
 * pending buffer, writes batches in transactions, binds rows without
 * copying, survives a busy or failing database (degraded mode) and tells
 * sync() callers when their records are settled. See auditlog-int.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/clock.h"
#include "ctguard/logexport.h"
#include "ctguard/packet.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"
#include "auditlog-int.h"

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
    struct row_text *txt, int64_t id)
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
	sqlite3_bind_int64(st, base + 24, id);
}

static sqlite3_stmt *
bind_slot(struct ctg_auditlog *log, const struct ctg_audit_slot *s)
{
	sqlite3_stmt *st;
	uint8_t bin[2][16];

	switch (s->type) {
	case CTG_AUDIT_VERDICT:
		st = log->stmt[STMT_VERDICT];
		bind_verdict(st, 0, &s->v, &log->text[0], log->next_id[SEQ_VERDICT]++);
		return st;
	case CTG_AUDIT_CONN: {
		const struct ctg_conn_record *c = &s->c;
		uint64_t pkts[2] = { c->pkts[0], c->pkts[1] };
		uint64_t bytes[2] = { c->bytes[0], c->bytes[1] };
		struct ctg_conn_kernel k = { { 0, 0 }, { 0, 0 } };
		bool kernel = c->offloaded && log->conn_kernel &&
		    log->conn_kernel(log->conn_kernel_arg, c, &k);

		st = log->stmt[STMT_CONN];
		for (int d = 0; d < 2; d++) {
			/* what the kernel passed without us: its totals less ours */
			k.pkts[d] = kernel && k.pkts[d] > pkts[d] ? k.pkts[d] - pkts[d] : 0;
			k.bytes[d] = kernel && k.bytes[d] > bytes[d] ? k.bytes[d] - bytes[d] : 0;
			pkts[d] += k.pkts[d];
			bytes[d] += k.bytes[d];
			if (kernel) {
				sqlite3_bind_int64(st, 23 + 2 * d, (sqlite3_int64)k.pkts[d]);
				sqlite3_bind_int64(st, 24 + 2 * d, (sqlite3_int64)k.bytes[d]);
			} else {
				sqlite3_bind_null(st, 23 + 2 * d);
				sqlite3_bind_null(st, 24 + 2 * d);
			}
		}
		sqlite3_bind_int(st, 22, c->offloaded);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->conn_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)c->first_us);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)c->last_us);
		sqlite3_bind_int(st, 4, c->tuple.proto);
		bind_tuple(st, 5, &c->tuple, &log->text[0], bin);
		bind_text_n(st, 12, c->conn_state, sizeof(c->conn_state));
		bind_text_n(st, 13, c->history, sizeof(c->history));
		sqlite3_bind_int64(st, 14, (sqlite3_int64)pkts[0]);
		sqlite3_bind_int64(st, 15, (sqlite3_int64)bytes[0]);
		sqlite3_bind_int64(st, 16, (sqlite3_int64)pkts[1]);
		sqlite3_bind_int64(st, 17, (sqlite3_int64)bytes[1]);
		sqlite3_bind_text(st, 18, ctg_tcp_state_name(c->orig_state),
		    -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 19, ctg_tcp_state_name(c->resp_state),
		    -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 20, ctg_end_reason_name(c->end_reason),
		    -1, SQLITE_STATIC);
		bind_text_n(st, 21, c->rule, sizeof(c->rule));
		sqlite3_bind_int64(st, 27, log->next_id[SEQ_CONN]++);
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
		sqlite3_bind_int64(st, 5, log->next_id[SEQ_EVENT]++);
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
		bind_verdict(st, r * VERDICT_COLS, &s[r].v, &log->text[r],
		    log->next_id[SEQ_VERDICT]++);
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
	s->e.time_us = ctg_clock_wall_us();
	s->e.kind = CTG_EV_LOG_GAP;
	s->e.count = n;
	snprintf(s->e.detail, sizeof(s->e.detail), "%" PRIu64
	    " records lost: %s", n, why);
	if (log->pend_count == 0)
		log->pend_since_ms = ctg_clock_mono_ms();
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
		if (room == 0 && (!log->degraded || log->backpressure)) {
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
				log->pend_since_ms = ctg_clock_mono_ms();
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
unsigned
audit_drain(struct ctg_auditlog *log)
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
	uint64_t now = ctg_clock_mono_ms();

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
	/* a full disk: retention first, it may free what the retry needs */
	if ((rc & 0xff) == SQLITE_FULL)
		log->next_maint_ms = now;
	report(log, "audit log %s degraded: %s; keeping up to %" PRIu32
	    " records in memory%s, retrying every %d s", log->path, msg,
	    log->pend_bound, log->backpressure ? " (then the queues fill)" : "",
	    RETRY_MS / 1000);
}

/* An event of the writer's own, written with the next batch. */
static void
add_event(struct ctg_auditlog *log, enum ctg_event_kind kind, const char *detail)
{
	struct ctg_audit_slot *s = pend_reserve(log, 1);

	if (s == NULL)
		return;
	memset(s, 0, sizeof(*s));
	s->type = CTG_AUDIT_EVENT;
	s->synthetic = true;
	s->e.time_us = ctg_clock_wall_us();
	s->e.kind = (uint8_t)kind;
	s->e.count = 1;
	snprintf(s->e.detail, sizeof(s->e.detail), "%.*s", (int)sizeof(s->e.detail) - 1, detail);
	if (log->pend_count == 0)
		log->pend_since_ms = ctg_clock_mono_ms();
	log->pend_count++;
	log->synth_made++;
}

/*
 * Once a second: is the path still the file we write? A database deleted
 * (the writes would go to an unlinked inode) or replaced (renamed over,
 * swapped for a link) is closed and opened anew, and the event written
 * into the new one.
 */
static void
check_file(struct ctg_auditlog *log, uint64_t now)
{
	char why[300], err[256], msg[600];

	if (log->db == NULL || now < log->next_check_ms)
		return;
	log->next_check_ms = now + FILE_CHECK_MS;
	if (!audit_db_replaced(log, why, sizeof(why)))
		return;
	log->replaced++;
	/*
	 * Checkpoint first: a follower reading the file keeps sqlite3_close()
	 * from checkpointing, and the WAL about to be forgotten would take
	 * the rows in it along (a moved file kept nothing since its last
	 * checkpoint: seen with mv during ctguard log --follow).
	 */
	audit_db_close_rotated(log);
	audit_db_forget_wal(log);
	report(log, "audit log: %s; opening it anew", why);
	if (audit_db_open(log, err, sizeof(err)) == -1) {
		enter_degraded(log, SQLITE_CANTOPEN, err);
		return;
	}
	log->next_try_ms = 0;
	snprintf(msg, sizeof(msg), "audit database %s: opened anew (rows written to the "
	    "old file since the last check are with it)", why);
	add_event(log, CTG_EV_WARNING, msg);
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
	    ctg_clock_mono_ms() - log->degraded_since_ms,
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
 * log.export: the verdict rows just committed, read back and printed as
 * `ctguard log --format json` prints them. After the commit, so that only
 * what the database holds is sent; a failed send is only counted.
 */
static void
export_rows(struct ctg_auditlog *log, int64_t first, int64_t last)
{
	ctg_logexport_verdicts(log->export, log->db, first, last);
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
	int64_t first_id[SEQ_MAX];
	uint64_t skipped = 0;
	int rc;

	/* ids of rows a rollback undoes are given again */
	memcpy(first_id, log->next_id, sizeof(first_id));
	rc = audit_exec_simple(log->db, "BEGIN IMMEDIATE");
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
				audit_exec_simple(log->db, "ROLLBACK");
			memcpy(log->next_id, first_id, sizeof(first_id));
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
	if (audit_ids_save(log) == -1 && !log->ids_save_failed) {
		log->ids_save_failed = true;
		report(log, "audit log: cannot write %s (%s): ids continue from "
		    "the database alone after a restart", log->ids_path, strerror(errno));
	}
	rc = audit_exec_simple(log->db, "COMMIT");
	if (rc != SQLITE_OK)
		goto out_rollback;
	if (log->export != NULL && log->next_id[SEQ_VERDICT] > first_id[SEQ_VERDICT])
		export_rows(log, first_id[SEQ_VERDICT], log->next_id[SEQ_VERDICT] - 1);

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
		log->pend_since_ms = ctg_clock_mono_ms();
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
		audit_exec_simple(log->db, "ROLLBACK");
	memcpy(log->next_id, first_id, sizeof(first_id));
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

		if (audit_db_open(log, err, sizeof(err)) == -1) {
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
			audit_db_close(log);
		break;
	}
	return did;
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
		audit_apply_max_pages(log);
	}
	if (retention)
		audit_maintenance(log);
}

/* What API callers asked for since the last turn, taken under the lock. */
struct requests {
	bool stop, reopen;
	uint64_t sync_req;
};

static void
take_requests(struct ctg_auditlog *log, struct requests *rq)
{
	bool pause_set, pause_val, pages_set, retention;
	uint64_t hook;
	uint32_t pages;

	pthread_mutex_lock(&log->mtx);
	rq->stop = log->stop;
	rq->reopen = log->reopen_req;
	log->reopen_req = false;
	hook = log->hook_req != log->hook_done ? log->hook_req : 0;
	pause_set = log->hook_pause;
	pause_val = log->hook_pause_val;
	pages_set = log->hook_pages;
	pages = log->hook_pages_val;
	retention = log->hook_retention;
	log->hook_pause = log->hook_pages = log->hook_retention = false;
	rq->sync_req = log->sync_req;
	pthread_mutex_unlock(&log->mtx);

	if (hook != 0) {
		apply_hooks(log, pause_set, pause_val, pages_set, pages, retention);
		pthread_mutex_lock(&log->mtx);
		log->hook_done = hook;
		pthread_cond_broadcast(&log->done);
		pthread_mutex_unlock(&log->mtx);
	}
}

/* Publish the counters and wake sync() callers whose records are settled. */
static void
publish(struct ctg_auditlog *log)
{
	pthread_mutex_lock(&log->mtx);
	log->st_pend = log->pend_count;
	log->st_lost = log->lost_total;
	if (log->sync_gen > 0 && sync_reached(log)) {
		log->sync_done = log->sync_gen;
		log->sync_gen = 0;
		pthread_cond_broadcast(&log->done);
	}
	pthread_mutex_unlock(&log->mtx);
}

/* Nothing moved: sleep until the next poll, the batch deadline or a request. */
static void
idle_wait(struct ctg_auditlog *log)
{
	uint64_t now = ctg_clock_mono_ms(), wait_ms = IDLE_POLL_MS;

	if (log->pend_count > 0 && !log->degraded) {
		uint64_t due = log->pend_since_ms + log->batch_ms;

		if (due > now && due - now < wait_ms)
			wait_ms = due - now;
	}
	pthread_mutex_lock(&log->mtx);
	if (!log->stop && !log->reopen_req && log->hook_req == log->hook_done &&
	    log->sync_req == log->sync_seen) {
		struct timespec ts;

		ctg_clock_deadline_ms(&ts, wait_ms);
		pthread_cond_timedwait(&log->wake, &log->mtx, &ts);
	}
	pthread_mutex_unlock(&log->mtx);
}

/* Whatever is left could not be written in time. */
static void
writer_finish(struct ctg_auditlog *log)
{
	uint64_t left = log->pend_count;

	for (unsigned i = 0; i < log->nrings; i++)
		left += ctg_audit_ring_count(log->rings[i]);
	if (left > 0)
		report(log, "audit log %s: %" PRIu64 " records lost at "
		    "shutdown", log->path, left);
	log->lost_total += left;
	pthread_mutex_lock(&log->mtx);
	log->st_pend = 0;
	log->st_lost = log->lost_total;
	log->sync_done = log->sync_req;
	pthread_cond_broadcast(&log->done);
	pthread_mutex_unlock(&log->mtx);
}

void *
audit_writer_main(void *arg)
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
	log->next_maint_ms = ctg_clock_mono_ms() + MAINT_INTERVAL_MS;
	for (;;) {
		struct requests rq;
		bool progress = false, urgent;
		uint64_t now;

		take_requests(log, &rq);
		if (rq.reopen) {
			char err[256];

			audit_db_close_rotated(log);
			if (audit_db_open(log, err, sizeof(err)) == -1)
				enter_degraded(log, SQLITE_CANTOPEN, err);
			else {
				char msg[256];

				log->next_try_ms = 0;
				/* the first row of a rotated-to file says where the streams go on */
				snprintf(msg, sizeof(msg), "audit database reopened: ids go on "
				    "from verdicts %" PRId64 ", connections %" PRId64 ", events %"
				    PRId64, log->next_id[SEQ_VERDICT], log->next_id[SEQ_CONN],
				    log->next_id[SEQ_EVENT]);
				add_event(log, CTG_EV_LOG_REOPEN, msg);
			}
		}
		if (rq.stop && stop_deadline == 0) {
			stop_deadline = ctg_clock_mono_ms() + SHUTDOWN_GRACE_MS;
			log->paused = false;
			/* One more attempt now if degraded, then give up. */
			if (log->degraded)
				log->next_try_ms = 0;
		}
		if (rq.sync_req > log->sync_seen) {
			log->sync_seen = rq.sync_req;
			log->sync_gen = rq.sync_req;
			sync_snapshot(log);
		}

		if (!log->paused && audit_drain(log) > 0)
			progress = true;
		now = ctg_clock_mono_ms();
		urgent = rq.stop || log->sync_gen > 0;
		if (!log->paused && flush_due(log, now, urgent))
			progress = true;
		if (!log->paused)
			check_file(log, now);
		if (!log->paused && now >= log->next_maint_ms) {
			audit_maintenance(log);
			log->next_maint_ms = now + MAINT_INTERVAL_MS;
		}
		publish(log);

		if (rq.stop && ((rings_empty(log) && log->pend_count == 0) ||
		    log->degraded || ctg_clock_mono_ms() >= stop_deadline))
			break;
		if (!progress)
			idle_wait(log);
	}
	writer_finish(log);
	return NULL;
}
