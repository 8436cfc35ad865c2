/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit log writer: the ring, batching, overflow accounting, busy retries,
 * disk full, schema versions, file mode, reopen and retention.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <check.h>
#include <grp.h>
#include <pthread.h>
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
#include "ctguard/config.h"
#include "ctguard/pipeline.h"
#include "ctguard/packet.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"

static char tmpdir[64];
static char dbpath[128];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_auditlog.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/audit.db", tmpdir);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
make_verdict(struct ctg_verdict_record *v, uint64_t i, uint64_t t)
{
	static const uint8_t src[4] = { 10, 0, 0, 1 };
	static const uint8_t dst[4] = { 192, 168, 1, 2 };

	memset(v, 0, sizeof(*v));
	v->time_us = t;
	v->conn_id = i + 1;
	v->packet_no = i;
	v->tuple.family = 4;
	v->tuple.proto = 6;
	memcpy(v->tuple.src.b, src, 4);
	memcpy(v->tuple.dst.b, dst, 4);
	v->tuple.sport = 40000;
	v->tuple.dport = 443;
	v->reason = CTG_R_TCP_SEQ_ABOVE_WINDOW;
	v->queue = 3;
	v->direction = 1;
	v->tcp_flags = CTG_TH_SYN | CTG_TH_ACK;
	v->ctstate = CTG_CT_INVALID;
	v->verdict = CTG_ACT_DROP;
	v->orig_before = CTG_TCPS_ESTABLISHED;
	v->resp_before = CTG_TCPS_ESTABLISHED;
	v->orig_after = CTG_TCPS_FIN_WAIT_1;
	v->resp_after = CTG_TCPS_CLOSE_WAIT;
	v->length = 60;
	snprintf(v->rule, sizeof(v->rule), "web");
}

static void
base_config(struct ctg_auditlog_config *c)
{
	memset(c, 0, sizeof(*c));
	c->path = dbpath;
	c->policy = CTG_LOG_ALL;
	c->queue_records = 4096;
	c->producers = 1;
	c->batch_max = 256;
	c->batch_ms = 50;
	c->memory_bound_records = 10000;
}

static struct ctg_auditlog *
open_ok(const struct ctg_auditlog_config *c)
{
	char err[256] = "";
	struct ctg_auditlog *log = ctg_auditlog_open(c, err, sizeof(err));

	ck_assert_msg(log != NULL, "open failed: %s", err);
	return log;
}

/* Fold the WAL into the file, so that page_count is the file's. */
static void
audit_checkpoint(const char *path)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	sqlite3_close(db);
}

static sqlite3 *
reader(const char *path)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

static int64_t
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t
count_path(const char *path, const char *sql)
{
	sqlite3 *db = reader(path);
	int64_t v = q_int(db, sql);

	sqlite3_close(db);
	return v;
}

static void
q_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	out[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		snprintf(out, len, "%s", sqlite3_column_text(st, 0));
	else
		snprintf(out, len, "<null>");
	sqlite3_finalize(st);
}

/* The ring on its own. */

START_TEST(test_ring_put_get)
{
	struct ctg_audit_ring *r = ctg_audit_ring_new(5);
	struct ctg_audit_slot out[16];
	struct ctg_event_record e;

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(ctg_audit_ring_capacity(r), 8);
	memset(&e, 0, sizeof(e));
	for (uint64_t i = 0; i < 8; i++) {
		e.count = i;
		ck_assert(ctg_audit_ring_put(r, CTG_AUDIT_EVENT, &e, sizeof(e)));
	}
	e.count = 99;
	ck_assert(!ctg_audit_ring_put(r, CTG_AUDIT_EVENT, &e, sizeof(e)));
	ck_assert_uint_eq(ctg_audit_ring_dropped(r), 1);
	ck_assert_uint_eq(ctg_audit_ring_count(r), 8);
	ck_assert_uint_eq(ctg_audit_ring_get(r, out, 3), 3);
	for (uint64_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(out[i].type, CTG_AUDIT_EVENT);
		ck_assert_uint_eq(out[i].e.count, i);
	}
	/* a type with a length larger than its record is refused */
	ck_assert(!ctg_audit_ring_put(r, CTG_AUDIT_VERDICT, &e, sizeof(e)));
	ck_assert_uint_eq(ctg_audit_ring_dropped(r), 2);
	ck_assert_uint_eq(ctg_audit_ring_get(r, out, 16), 5);
	ck_assert_uint_eq(out[4].e.count, 7);
	ck_assert_uint_eq(ctg_audit_ring_get(r, out, 16), 0);

	/* try_put leaves counting to the caller; produced counts what went in */
	ck_assert_uint_eq(ctg_audit_ring_produced(r), 8);
	for (uint64_t i = 0; i < 8; i++)
		ck_assert(ctg_audit_ring_try_put(r, CTG_AUDIT_EVENT, &e, sizeof(e)));
	ck_assert(!ctg_audit_ring_try_put(r, CTG_AUDIT_EVENT, &e, sizeof(e)));
	ck_assert_uint_eq(ctg_audit_ring_dropped(r), 2);
	ctg_audit_ring_drop(r);
	ck_assert_uint_eq(ctg_audit_ring_dropped(r), 3);
	ck_assert_uint_eq(ctg_audit_ring_produced(r), 16);
	ck_assert_uint_eq(ctg_audit_ring_count(r), 8);
	ctg_audit_ring_free(r);
}
END_TEST

START_TEST(test_ring_wraparound)
{
	struct ctg_audit_ring *r = ctg_audit_ring_new(8);
	struct ctg_audit_slot out[8];
	struct ctg_event_record e;
	uint64_t next_in = 0, next_out = 0;

	memset(&e, 0, sizeof(e));
	/* Uneven put/get sizes walk the indexes around the ring many times. */
	for (unsigned round = 0; round < 5000; round++) {
		unsigned k = 1 + round % 7, got;

		for (unsigned j = 0; j < k; j++) {
			e.count = next_in;
			if (ctg_audit_ring_put(r, CTG_AUDIT_EVENT, &e, sizeof(e)))
				next_in++;
		}
		got = ctg_audit_ring_get(r, out, 1 + round % 5);
		for (unsigned j = 0; j < got; j++)
			ck_assert_uint_eq(out[j].e.count, next_out++);
	}
	while ((ctg_audit_ring_get(r, out, 8)) > 0)
		;
	ck_assert_uint_eq(ctg_audit_ring_count(r), 0);
	ck_assert_uint_gt(next_in, 8 * 1000);
	ctg_audit_ring_free(r);
}
END_TEST

#define THREAD_N 300000

static void *
ring_producer(void *arg)
{
	struct ctg_audit_ring *r = arg;
	struct ctg_event_record e;

	memset(&e, 0, sizeof(e));
	for (uint64_t i = 0; i < THREAD_N; ) {
		e.count = i;
		if (ctg_audit_ring_put(r, CTG_AUDIT_EVENT, &e, sizeof(e)))
			i++;
		else
			sched_yield();
	}
	return NULL;
}

START_TEST(test_ring_threads)
{
	struct ctg_audit_ring *r = ctg_audit_ring_new(64);
	static struct ctg_audit_slot out[32];
	uint64_t next = 0;
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, ring_producer, r), 0);
	while (next < THREAD_N) {
		uint32_t got = ctg_audit_ring_get(r, out, 32);

		for (uint32_t j = 0; j < got; j++)
			ck_assert_uint_eq(out[j].e.count, next++);
		if (got == 0)
			sched_yield();
	}
	pthread_join(t, NULL);
	ck_assert_uint_eq(ctg_audit_ring_count(r), 0);
	ctg_audit_ring_free(r);
}
END_TEST

/* The writer. */

START_TEST(test_batching)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	uint64_t t0 = now_us();
	char buf[128];
	sqlite3 *db;

	base_config(&c);
	c.batch_max = 100;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 1000; i++) {
		make_verdict(&v, i, t0 + i);
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_stats(log, &st);
	ck_assert_uint_eq(st.written, 1000);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_ge(st.batches, 10);
	ck_assert(!st.degraded);

	db = reader(dbpath);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts"), 1000);
	ck_assert_int_eq(q_int(db, "SELECT count(DISTINCT packet_no) FROM verdicts"), 1000);
	q_text(db, "SELECT src || ' ' || dst || ' ' || sport || ' ' || dport"
	    " || ' ' || direction || ' ' || tcp_flags || ' ' || ctstate || ' '"
	    " || verdict || ' ' || reason || ' ' || rule || ' ' || orig_before"
	    " || ' ' || resp_after || ' ' || queue || ' ' || length || ' ' ||"
	    " proto || ' ' || family FROM verdicts WHERE packet_no = 7",
	    buf, sizeof(buf));
	ck_assert_str_eq(buf, "10.0.0.1 192.168.1.2 40000 443 reply SA invalid"
	    " drop tcp_seq_above_window web ESTABLISHED CLOSE_WAIT 3 60 6 4");
	q_text(db, "SELECT hex(src_bin) FROM verdicts WHERE packet_no = 7",
	    buf, sizeof(buf));
	ck_assert_str_eq(buf, "00000000000000000000FFFF0A000001");
	ck_assert_int_eq(q_int(db, "SELECT time_us FROM verdicts WHERE packet_no = 7"),
	    (int64_t)(t0 + 7));
	ck_assert_int_eq(q_int(db, "SELECT conn_id FROM verdicts WHERE packet_no = 7"), 8);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts_iso"
	    " WHERE time LIKE '____-__-__T__:__:__.___'"), 1000);
	ck_assert_int_eq(q_int(db, "PRAGMA user_version"), CTG_AUDITLOG_SCHEMA_VERSION);
	sqlite3_close(db);
	ctg_auditlog_close(log);
}
END_TEST

/*
 * Verdict rows go in by groups of several per statement. Every row must keep
 * its own values whatever its place in a group, groups must break around
 * other records, and a row the database refuses must cost only itself.
 */
START_TEST(test_groups_rows_distinct)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	struct ctg_conn_record cr;
	uint64_t t0 = now_us();
	sqlite3 *db;
	char *msg = NULL;

	base_config(&c);
	c.batch_max = 97;
	log = open_ok(&c);
	/* a refusal the writer cannot foresee: a trigger in the database */
	db = reader(dbpath);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TRIGGER refuse_13 BEFORE INSERT"
	    " ON verdicts WHEN NEW.packet_no = 13 BEGIN"
	    " SELECT RAISE(ABORT, 'refused by test'); END", NULL, NULL, &msg),
	    SQLITE_OK);
	sqlite3_close(db);
	for (uint64_t i = 0; i < 1000; i++) {
		make_verdict(&v, i, t0 + i);
		v.tuple.sport = (uint16_t)(1000 + i);
		v.tuple.dst.b[0] = 192;
		v.tuple.dst.b[1] = 0;
		v.tuple.dst.b[2] = 2;
		v.tuple.dst.b[3] = (uint8_t)(i % 250);
		v.conn_id = i % 3 == 0 ? 0 : i + 1;
		v.tuple.proto = i % 4 == 0 ? 17 : 6;
		v.length = (uint32_t)(i * 3);
		snprintf(v.rule, sizeof(v.rule), i % 5 == 0 ? "" : "r%u", (unsigned)(i % 5));
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
		if (i % 13 == 5) {
			memset(&cr, 0, sizeof(cr));
			cr.conn_id = 100000 + i;
			cr.tuple = v.tuple;
			snprintf(cr.conn_state, sizeof(cr.conn_state), "SF");
			ck_assert(ctg_auditlog_put_conn(log, 0, &cr));
		}
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_stats(log, &st);
	ck_assert_uint_eq(st.write_errors, 1);
	ck_assert_uint_eq(st.written, 999 + 77);

	db = reader(dbpath);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts"), 999);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts WHERE packet_no = 13"), 0);
	ck_assert_int_eq(q_int(db, "SELECT count(DISTINCT packet_no) FROM verdicts"), 999);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM connections"), 77);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts WHERE"
	    " sport = 1000 + packet_no"
	    " AND dst = '192.0.2.' || (packet_no % 250)"
	    " AND hex(dst_bin) = '00000000000000000000FFFFC00002' || printf('%02X', packet_no % 250)"
	    " AND time_us - packet_no = (SELECT min(time_us) FROM verdicts WHERE packet_no = 0)"
	    " AND length = packet_no * 3"
	    " AND (conn_id IS NULL) = (packet_no % 3 = 0)"
	    " AND (conn_id IS NULL OR conn_id = packet_no + 1)"
	    " AND proto = CASE WHEN packet_no % 4 = 0 THEN 17 ELSE 6 END"
	    " AND (tcp_flags IS NULL) = (packet_no % 4 = 0)"
	    " AND (rule IS NULL) = (packet_no % 5 = 0)"
	    " AND (rule IS NULL OR rule = 'r' || (packet_no % 5))"), 999);
	sqlite3_close(db);
	ctg_auditlog_close(log);
}
END_TEST

/*
 * The daemon's tracker clock does not follow steps of the wall clock; the
 * pipeline adds the step back (wall_shift_us) to every time it logs, for
 * verdicts and for connection summaries alike.
 */
START_TEST(test_pipeline_wall_shift)
{
	static const uint8_t udp[28] = {
		0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0,
		198, 51, 100, 2, 203, 0, 113, 2,
		0x13, 0x88, 0, 53, 0, 8, 0, 0,
	};
	const int64_t shift = -3600LL * 1000000;     /* wall clock stepped back 1 h */
	const uint64_t t0 = 1800000000000000ULL;
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_pipeline pl;
	struct ctg_config cfg;
	struct ctg_decision d;
	struct ctg_pkt_in in;
	char err[256];
	sqlite3 *db;

	base_config(&c);
	log = open_ok(&c);
	ctg_config_defaults(&cfg);
	cfg.max_connections = 64;
	cfg.log_policy = CTG_LOG_ALL;
	ck_assert_int_eq(ctg_pipeline_init(&pl, &cfg, NULL, log, 0, 0, err,
	    sizeof(err)), 0);
	pl.wall_shift_us = shift;
	memset(&in, 0, sizeof(in));
	in.buf = udp;
	in.caplen = in.wire_len = sizeof(udp);
	in.iif = in.oif = "";
	for (int i = 0; i < 2; i++) {
		in.now_us = t0 + (uint64_t)i * 1000;
		in.packet_no = (uint64_t)i + 1;
		ctg_pipeline_process(&pl, &in, &d);
		ck_assert_int_eq(d.action, CTG_ACT_ACCEPT);
	}
	ctg_tracker_flush(pl.tracker, CTG_END_SHUTDOWN, t0 + 5000);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);

	db = reader(dbpath);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts"), 2);
	ck_assert_int_eq(q_int(db, "SELECT min(time_us) FROM verdicts"),
	    (int64_t)t0 + shift);
	ck_assert_int_eq(q_int(db, "SELECT max(time_us) FROM verdicts"),
	    (int64_t)t0 + 1000 + shift);
	ck_assert_int_eq(q_int(db, "SELECT first_us FROM connections"),
	    (int64_t)t0 + shift);
	ck_assert_int_eq(q_int(db, "SELECT last_us FROM connections"),
	    (int64_t)t0 + 1000 + shift);
	sqlite3_close(db);
	ctg_pipeline_fini(&pl);
	ctg_auditlog_close(log);
}
END_TEST

START_TEST(test_conn_event_v6)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_conn_record cr;
	struct ctg_event_record e;
	struct ctg_verdict_record v;
	char buf[256];
	sqlite3 *db;

	base_config(&c);
	log = open_ok(&c);
	memset(&cr, 0, sizeof(cr));
	cr.conn_id = 42;
	cr.first_us = 1000000;
	cr.last_us = 3500000;
	cr.tuple.family = 6;
	cr.tuple.proto = 17;
	cr.tuple.src.b[0] = 0x20;
	cr.tuple.src.b[1] = 0x01;
	cr.tuple.src.b[2] = 0x0d;
	cr.tuple.src.b[3] = 0xb8;
	cr.tuple.src.b[15] = 1;
	cr.tuple.dst.b[15] = 1;
	cr.tuple.sport = 5353;
	cr.tuple.dport = 53;
	cr.pkts[0] = 3;
	cr.pkts[1] = 2;
	cr.bytes[0] = 300;
	cr.bytes[1] = 200;
	cr.end_reason = CTG_END_TIMEOUT;
	snprintf(cr.conn_state, sizeof(cr.conn_state), "SF");
	/* history fills its array: no terminator */
	memset(cr.history, 'd', sizeof(cr.history));
	ck_assert(ctg_auditlog_put_conn(log, 0, &cr));
	memset(&e, 0, sizeof(e));
	e.time_us = 2000000;
	e.kind = CTG_EV_RULES_LOAD;
	e.count = 12;
	snprintf(e.detail, sizeof(e.detail), "rules 'it''s' loaded");
	ck_assert(ctg_auditlog_put_event(log, 0, &e));
	make_verdict(&v, 0, 5);
	v.conn_id = 0;
	v.rule[0] = '\0';
	v.tuple.proto = 17;
	ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);

	db = reader(dbpath);
	q_text(db, "SELECT id || ' ' || src || ' ' || dst || ' ' || sport || ' '"
	    " || dport || ' ' || conn_state || ' ' || history || ' ' ||"
	    " orig_pkts || ' ' || orig_bytes || ' ' || resp_pkts || ' ' ||"
	    " resp_bytes || ' ' || end_reason || ' ' || orig_state || ' ' ||"
	    " family || ' ' || hex(src_bin) FROM connections", buf, sizeof(buf));
	ck_assert_str_eq(buf, "42 2001:db8::1 ::1 5353 53 SF dddddddddddddddddddddddd"
	    " 3 300 2 200 timeout - 6 20010DB8000000000000000000000001");
	ck_assert_int_eq(q_int(db, "SELECT rule IS NULL FROM connections"), 1);
	q_text(db, "SELECT kind || ' ' || count || ' ' || detail FROM events",
	    buf, sizeof(buf));
	ck_assert_str_eq(buf, "rules_load 12 rules 'it''s' loaded");
	ck_assert_int_eq(q_int(db, "SELECT conn_id IS NULL AND rule IS NULL"
	    " AND tcp_flags IS NULL FROM verdicts"), 1);
	q_text(db, "SELECT duration_s FROM connections_iso", buf, sizeof(buf));
	ck_assert_str_eq(buf, "2.5");
	sqlite3_close(db);
	ctg_auditlog_close(log);
}
END_TEST

START_TEST(test_overflow_gap)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	unsigned ok = 0, lost = 0;
	char buf[256];
	sqlite3 *db;

	base_config(&c);
	c.queue_records = 8;
	log = open_ok(&c);
	ctg_auditlog_test_pause(log, true);
	for (uint64_t i = 0; i < 20; i++) {
		make_verdict(&v, i, now_us());
		if (ctg_auditlog_put_verdict(log, 0, &v))
			ok++;
		else
			lost++;
	}
	ck_assert_uint_eq(ok, 8);
	ck_assert_uint_eq(lost, 12);
	ctg_auditlog_stats(log, &st);
	ck_assert_uint_eq(st.dropped, 12);
	ck_assert_uint_eq(st.pending, 8);
	/* paused: nothing can be committed */
	ck_assert_int_eq(ctg_auditlog_sync(log, 100), -1);
	ctg_auditlog_test_pause(log, false);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);

	db = reader(dbpath);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts"), 8);
	ck_assert_int_eq(q_int(db, "SELECT max(packet_no) FROM verdicts"), 7);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM events WHERE kind = 'log_gap'"), 1);
	ck_assert_int_eq(q_int(db, "SELECT count FROM events WHERE kind = 'log_gap'"), 12);
	q_text(db, "SELECT detail FROM events", buf, sizeof(buf));
	ck_assert_str_eq(buf, "12 records lost: queue full");
	sqlite3_close(db);
	ctg_auditlog_stats(log, &st);
	ck_assert_uint_eq(st.written, 9);
	ctg_auditlog_close(log);
}
END_TEST

START_TEST(test_busy_retry)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	sqlite3 *other;

	base_config(&c);
	c.batch_ms = 10;
	log = open_ok(&c);
	other = reader(dbpath);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
	    SQLITE_OK);
	for (uint64_t i = 0; i < 500; i++) {
		make_verdict(&v, i, now_us());
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	usleep(300 * 1000);
	ctg_auditlog_stats(log, &st);
	ck_assert_uint_gt(st.busy_retries, 0);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_eq(st.pending, 500);
	ck_assert(!st.degraded);
	ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_stats(log, &st);
	ck_assert_uint_eq(st.written, 500);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.write_errors, 0);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts"), 500);
	ctg_auditlog_close(log);
}
END_TEST

static char reported[8][512];
static int nreported;

static void
capture_report(void *arg, const char *msg)
{
	if (nreported < 8)
		snprintf(reported[nreported++], sizeof(reported[0]), "%s", msg);
}

START_TEST(test_disk_full)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	sqlite3 *db;

	base_config(&c);
	/*
	 * The first batch must need a new page: 100 rows with long rule names
	 * are more than one empty 16 KiB page holds.
	 */
	c.batch_max = 100;
	c.batch_ms = 1000;
	c.memory_bound_records = 100;
	c.queue_records = 1024;
	c.report = capture_report;
	nreported = 0;
	log = open_ok(&c);
	ctg_auditlog_test_pause(log, true);
	/* Below the current size: SQLite clamps it, so any growth fails. */
	ctg_auditlog_test_max_pages(log, 1);
	for (uint64_t i = 0; i < 500; i++) {
		make_verdict(&v, i, now_us());
		memset(v.rule, 'r', sizeof(v.rule) - 1);
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ctg_auditlog_test_pause(log, false);
	for (int i = 0; i < 300; i++) {
		ctg_auditlog_stats(log, &st);
		if (st.degraded && st.dropped == 400)
			break;
		usleep(10 * 1000);
	}
	ck_assert(st.degraded);
	ck_assert_uint_eq(st.dropped, 400);
	ck_assert_uint_eq(st.pending, 100);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_ge(st.write_errors, 1);
	ck_assert_msg(strstr(st.last_error, "full") != NULL, "%s", st.last_error);
	ck_assert_int_eq(nreported, 1);
	ck_assert_msg(strstr(reported[0], "degraded") != NULL, "%s", reported[0]);
	ck_assert_int_eq(ctg_auditlog_sync(log, 300), -1);

	ctg_auditlog_test_max_pages(log, 1000000);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_stats(log, &st);
	ck_assert(!st.degraded);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.written, 101);
	ck_assert_int_eq(nreported, 2);
	ck_assert_msg(strstr(reported[1], "writing again") != NULL, "%s", reported[1]);

	db = reader(dbpath);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts"), 100);
	/* the oldest records were kept, in order */
	ck_assert_int_eq(q_int(db, "SELECT max(packet_no) FROM verdicts"), 99);
	ck_assert_int_eq(q_int(db, "SELECT sum(count) FROM events"
	    " WHERE kind = 'log_gap' AND detail LIKE '%database unavailable'"), 400);
	sqlite3_close(db);
	ctg_auditlog_close(log);
}
END_TEST

/*
 * strict_audit's back-pressure: on a full disk the writer keeps
 * memory_bound records and then takes no more, so the ring fills and the
 * producer is told (put returns false) instead of the writer discarding
 * what it already took. After the disk frees, every record that was
 * accepted is written and the refused ones are one gap event.
 */
START_TEST(test_disk_full_backpressure)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	unsigned accepted = 0, refused = 0;
	sqlite3 *db;

	base_config(&c);
	c.batch_max = 100;
	c.batch_ms = 20;
	c.memory_bound_records = 100;
	c.queue_records = 256;
	c.backpressure = true;
	c.report = capture_report;
	nreported = 0;
	log = open_ok(&c);
	ctg_auditlog_test_max_pages(log, 1);
	/* far more than the bound and the ring hold together, slowly enough
	 * that the writer drains whatever it is willing to take */
	for (uint64_t i = 0; i < 2000; i++) {
		make_verdict(&v, i, now_us());
		memset(v.rule, 'r', sizeof(v.rule) - 1);
		if (ctg_auditlog_put_verdict(log, 0, &v))
			accepted++;
		else
			refused++;
		if (i % 50 == 0)
			usleep(5000);
	}
	ctg_auditlog_stats(log, &st);
	ck_assert(st.degraded);
	ck_assert_uint_gt(refused, 0);
	/* the bound plus the ring, nothing more, and none of it discarded */
	ck_assert_uint_le(accepted, 100 + 256);
	ck_assert_uint_eq(st.dropped, refused);
	ck_assert_uint_eq(st.pending, accepted);
	ck_assert_uint_eq(st.written, 0);

	ctg_auditlog_test_max_pages(log, 1000000);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_stats(log, &st);
	ck_assert(!st.degraded);
	ck_assert_uint_eq(st.pending, 0);
	db = reader(dbpath);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM verdicts"), (int)accepted);
	ck_assert_int_eq(q_int(db, "SELECT sum(count) FROM events WHERE kind = 'log_gap'"),
	    (int)refused);
	sqlite3_close(db);
	ctg_auditlog_close(log);
}
END_TEST

/* A database deleted, then replaced by another file, under a running log. */
START_TEST(test_deleted_replaced)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	char name[160], other[160];
	struct stat sb;
	sqlite3 *db;
	uint64_t t0;

	base_config(&c);
	c.batch_ms = 20;
	c.report = capture_report;
	nreported = 0;
	log = open_ok(&c);
	make_verdict(&v, 1, now_us());
	ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	ck_assert_int_eq(ctg_auditlog_sync(log, 2000), 0);
	ck_assert_int_eq(unlink(dbpath), 0);
	snprintf(name, sizeof(name), "%s-wal", dbpath);
	unlink(name);
	snprintf(name, sizeof(name), "%s-shm", dbpath);
	unlink(name);
	/* the next write lands in a new file within about a second */
	t0 = now_us();
	make_verdict(&v, 2, now_us());
	ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	while (stat(dbpath, &sb) < 0 && now_us() - t0 < 3000000)
		usleep(10000);
	ck_assert_msg(stat(dbpath, &sb) == 0, "database not recreated");
	ck_assert_uint_lt(now_us() - t0, 1500000);
	make_verdict(&v, 3, now_us());
	ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	ck_assert_int_eq(ctg_auditlog_sync(log, 2000), 0);
	db = reader(dbpath);
	ck_assert_int_eq(q_int(db, "SELECT count(*) FROM events WHERE kind = 'warning'"
	    " AND detail LIKE 'audit database %No such file%opened anew%'"), 1);
	ck_assert_int_ge(q_int(db, "SELECT count(*) FROM verdicts WHERE packet_no = 3"), 1);
	sqlite3_close(db);

	/* replaced by another file: renamed over the path */
	snprintf(other, sizeof(other), "%s/other.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(other, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE x (y)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(rename(other, dbpath), 0);
	usleep(1300 * 1000);
	ctg_auditlog_stats(log, &st);
	/* not a ctguard database: refused, and said so */
	ck_assert_msg(st.degraded, "not degraded; reports %d: %s / %s", nreported,
	    nreported > 0 ? reported[0] : "", nreported > 1 ? reported[1] : "");
	ck_assert_msg(strstr(st.last_error, "not a ctguard audit database") != NULL, "%s",
	    st.last_error);
	ctg_auditlog_close(log);
}
END_TEST

/* A symbolic link at the path is not followed, at open or at a reopen. */
START_TEST(test_symlink_refused)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	char err[256] = "", target[160];
	struct stat sb;

	base_config(&c);
	snprintf(target, sizeof(target), "%s/target.db", tmpdir);
	ck_assert_int_eq(symlink(target, dbpath), 0);
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_msg(strstr(err, "symbolic link") != NULL, "%s", err);
	ck_assert_int_eq(stat(target, &sb), -1);

	ck_assert_int_eq(unlink(dbpath), 0);
	c.report = capture_report;
	nreported = 0;
	log = open_ok(&c);
	ck_assert_int_eq(unlink(dbpath), 0);
	ck_assert_int_eq(symlink(target, dbpath), 0);
	ctg_auditlog_reopen(log);
	usleep(1300 * 1000);
	ctg_auditlog_stats(log, &st);
	ck_assert(st.degraded);
	ck_assert_msg(strstr(st.last_error, "symbolic link") != NULL, "%s", st.last_error);
	ck_assert_int_eq(stat(target, &sb), -1);
	ctg_auditlog_close(log);
}
END_TEST

START_TEST(test_close_drains)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;

	base_config(&c);
	c.batch_ms = 10000;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 3000; i++) {
		make_verdict(&v, i, now_us());
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts"), 3000);
}
END_TEST

struct producer_arg {
	struct ctg_auditlog *log;
	unsigned id;
	unsigned n;
	unsigned failed;
};

static void *
log_producer(void *arg)
{
	struct producer_arg *a = arg;
	struct ctg_verdict_record v;

	for (unsigned i = 0; i < a->n; i++) {
		make_verdict(&v, i, now_us());
		v.queue = (uint16_t)a->id;
		if (!ctg_auditlog_put_verdict(a->log, a->id, &v))
			a->failed++;
	}
	return NULL;
}

START_TEST(test_block_when_full_two_producers)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct producer_arg a[2];
	pthread_t t[2];

	base_config(&c);
	c.producers = 2;
	c.queue_records = 32;
	c.block_when_full = true;
	for (unsigned i = 0; i < 2; i++) {
		a[i].id = i;
		a[i].n = 20000;
		a[i].failed = 0;
	}
	a[0].log = a[1].log = open_ok(&c);
	for (unsigned i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, log_producer, &a[i]);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(a[0].failed + a[1].failed, 0);
	ck_assert_int_eq(ctg_auditlog_sync(a[0].log, 10000), 0);
	ctg_auditlog_stats(a[0].log, &st);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.written, 40000);
	ck_assert_int_eq(count_path(dbpath,
	    "SELECT count(*) FROM verdicts WHERE queue = 1"), 20000);
	ck_assert_int_eq(count_path(dbpath,
	    "SELECT count(DISTINCT packet_no) FROM verdicts WHERE queue = 0"), 20000);
	/* a producer index past the configured count is refused */
	ck_assert(!ctg_auditlog_put_verdict(a[0].log, 2, &(struct ctg_verdict_record){ 0 }));
	ctg_auditlog_close(a[0].log);
}
END_TEST

/*
 * Producer 0 floods its ring while producer 1 writes a few thousand records
 * a second: the writer must serve both rings, not take its whole budget
 * from ring 0 every time (which left ring 1 to overflow).
 */
#define FAIR_N 6000

static _Atomic int flood_stop;

static void *
flood_producer(void *arg)
{
	struct producer_arg *a = arg;
	struct ctg_verdict_record v;

	make_verdict(&v, 0, now_us());
	v.queue = 0;
	while (!atomic_load(&flood_stop)) {
		v.packet_no++;
		if (ctg_auditlog_put_verdict(a->log, 0, &v))
			a->n++;
		else {
			/* still full all the time, without starving the writer of CPU */
			a->failed++;
			sched_yield();
		}
	}
	return NULL;
}

START_TEST(test_drain_fair)
{
	struct ctg_auditlog_config c;
	struct producer_arg flood = { 0 };
	struct ctg_verdict_record v;
	struct timespec gap = { 0, 2 * 1000 * 1000 };
	unsigned failed = 0;
	pthread_t t;

	base_config(&c);
	c.producers = 2;
	c.queue_records = 2048;         /* 1024 a ring: 250 ms of producer 1 */
	c.batch_max = 64;
	c.batch_ms = 10;
	flood.log = open_ok(&c);
	atomic_store(&flood_stop, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, flood_producer, &flood), 0);
	/* about 4000 a second, for 1.5 s */
	for (unsigned i = 0; i < FAIR_N; i++) {
		make_verdict(&v, i, now_us());
		v.queue = 1;
		if (!ctg_auditlog_put_verdict(flood.log, 1, &v))
			failed++;
		if (i % 8 == 7)
			nanosleep(&gap, NULL);
	}
	atomic_store(&flood_stop, 1);
	pthread_join(t, NULL);
	ck_assert_int_eq(ctg_auditlog_sync(flood.log, 20000), 0);
	/* the flood did overflow its own ring, so ring 0 always had plenty */
	ck_assert_uint_gt(flood.failed, 0);
	/*
	 * Fair draining. A writer that served the flood's ring whenever it
	 * had records (always, until the flood stopped) would write at most
	 * two rings' worth of the paced producer: what its ring held at the
	 * start and at the end. A fair one writes more, however slow it is:
	 * the writer runs at nice 10, and on a loaded machine it can be
	 * descheduled for longer than a ring lasts, so losses alone do not
	 * tell fairness. When the writer managed very little in all, the
	 * paced producer must still have had a fair share of it.
	 */
	unsigned ring = c.queue_records / c.producers;
	unsigned written1 = FAIR_N - failed, total = flood.n + written1;
	unsigned due = total / 2 > 2 * ring ? 2 * ring + 1 : total * 2 / 5;
	ck_assert_msg(written1 >= due, "producer 1 got %u of %u written rows, "
	    "due %u (lost %u of %u; producer 0: %u put, %u lost)", written1, total,
	    due, failed, FAIR_N, flood.n, flood.failed);
	/* and every record a producer handed over was written, none twice */
	ck_assert_int_eq(count_path(dbpath,
	    "SELECT count(*) FROM verdicts WHERE queue = 1"), written1);
	ck_assert_int_eq(count_path(dbpath,
	    "SELECT count(*) FROM verdicts WHERE queue = 0"), flood.n);
	ctg_auditlog_close(flood.log);
}
END_TEST

/* Schema versions and files. */

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot read %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

START_TEST(test_schema_file_matches)
{
	const char *srcdir = getenv("srcdir");
	char path[512];
	char *text;

	snprintf(path, sizeof(path), "%s/daemon/schema.sql",
	    srcdir != NULL ? srcdir : ".");
	text = read_file(path);
	ck_assert_str_eq(text, ctg_auditlog_schema_sql());
	free(text);
}
END_TEST

static void
make_db(const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	if (sql != NULL)
		ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

START_TEST(test_migrate_v0)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	FILE *f;

	/* an empty file is an empty database at version 0 */
	f = fopen(dbpath, "w");
	fclose(f);
	base_config(&c);
	log = open_ok(&c);
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "PRAGMA user_version"), CTG_AUDITLOG_SCHEMA_VERSION);
	ck_assert_int_eq(count_path(dbpath, "PRAGMA auto_vacuum"), 2);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"), 14);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'view'"), 4);
	/* and opening it again (already at the current version) keeps it */
	log = open_ok(&c);
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "PRAGMA user_version"), CTG_AUDITLOG_SCHEMA_VERSION);
}
END_TEST

/* A version 1 database (schema.sql as shipped) gains the nat table and keeps its rows. */
START_TEST(test_migrate_v1)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, ctg_auditlog_schema_sql(), NULL, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO connections (id, first_us, last_us,"
	    " proto, src_bin, sport, dst_bin, dport) VALUES (1, 10000000, 20000000, 6,"
	    " x'00000000000000000000ffffc6336402', 40000,"
	    " x'00000000000000000000ffffcb007102', 22); PRAGMA user_version = 1",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	base_config(&c);
	log = open_ok(&c);
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "PRAGMA user_version"), CTG_AUDITLOG_SCHEMA_VERSION);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM connections"), 1);
	/* a mapping of the same tuple, 1 s later: the view joins them */
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO nat (first_us, proto, family,"
	    " src_bin, sport, dst_bin, dport, nat_src, nat_src_bin, nat_sport, ct_id)"
	    " VALUES (11000000, 6, 4, x'00000000000000000000ffffc6336402', 40000,"
	    " x'00000000000000000000ffffcb007102', 22, '203.0.113.1',"
	    " x'00000000000000000000ffffcb007101', 61000, 7);"
	    " INSERT INTO nat (first_us, proto, family, src_bin, sport, dst_bin, dport,"
	    " nat_src, nat_sport, ct_id) VALUES (90000000, 6, 4,"
	    " x'00000000000000000000ffffc6336402', 40000,"
	    " x'00000000000000000000ffffcb007102', 22, '203.0.113.1', 61001, 8)",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(count_path(dbpath, "SELECT nat_sport FROM connections_nat"
	    " WHERE id = 1"), 61000);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM connections_nat"), 1);
}
END_TEST

/*
 * A version 2 database (made here by taking later versions' columns away)
 * gains the offload columns (and connections.seq): old rows read as not offloaded, counters NULL.
 */
START_TEST(test_migrate_v2)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	sqlite3 *db;

	base_config(&c);
	log = open_ok(&c);
	ctg_auditlog_close(log);
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DROP INDEX connections_seq;"
	    " ALTER TABLE connections DROP COLUMN seq;"
	    " ALTER TABLE connections DROP COLUMN offloaded;"
	    " ALTER TABLE connections DROP COLUMN offload_orig_pkts;"
	    " ALTER TABLE connections DROP COLUMN offload_orig_bytes;"
	    " ALTER TABLE connections DROP COLUMN offload_resp_pkts;"
	    " ALTER TABLE connections DROP COLUMN offload_resp_bytes;"
	    " INSERT INTO connections (id, proto, orig_bytes) VALUES (5, 6, 1234);"
	    " PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM pragma_table_info('connections')"
	    " WHERE name LIKE 'offload%'"), 0);
	log = open_ok(&c);
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "PRAGMA user_version"), CTG_AUDITLOG_SCHEMA_VERSION);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM pragma_table_info('connections')"
	    " WHERE name LIKE 'offload%'"), 5);
	ck_assert_int_eq(count_path(dbpath, "SELECT orig_bytes FROM connections"
	    " WHERE id = 5 AND offloaded = 0 AND offload_orig_bytes IS NULL"
	    " AND offload_resp_pkts IS NULL"), 1234);
}
END_TEST

/* The kernel's totals for an offloaded connection, as ctacct.c would give them. */
static bool
fake_kernel(void *arg, const struct ctg_conn_record *rec, struct ctg_conn_kernel *out)
{
	int *calls = arg;

	(*calls)++;
	if (rec->conn_id == 3)
		return false;   /* the kernel's entry is gone */
	out->pkts[0] = 1000;
	out->bytes[0] = 1500000;
	out->pkts[1] = 500;
	out->bytes[1] = 26000;
	return true;
}

/*
 * An offloaded connection's summary counts what the kernel passed without
 * ctguard (its totals less ctguard's) and says how much that was; one whose
 * kernel entry could not be read keeps ctguard's counters, offload columns
 * NULL; one not offloaded does not ask the kernel.
 */
START_TEST(test_conn_offloaded)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_conn_record cr;
	char buf[256];
	sqlite3 *db;
	int calls = 0;

	base_config(&c);
	c.conn_kernel = fake_kernel;
	c.conn_kernel_arg = &calls;
	log = open_ok(&c);
	memset(&cr, 0, sizeof(cr));
	cr.tuple.family = 4;
	cr.tuple.proto = 6;
	cr.pkts[0] = 20;
	cr.bytes[0] = 20000;
	cr.pkts[1] = 10;
	cr.bytes[1] = 600;
	for (uint64_t id = 1; id <= 3; id++) {
		cr.conn_id = id;
		cr.offloaded = id != 1;
		ck_assert(ctg_auditlog_put_conn(log, 0, &cr));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	db = reader(dbpath);
	q_text(db, "SELECT group_concat(id || ':' || offloaded || ' ' || orig_pkts || ' '"
	    " || orig_bytes || ' ' || resp_pkts || ' ' || resp_bytes || ' ' ||"
	    " ifnull(offload_orig_pkts, '-') || ' ' || ifnull(offload_orig_bytes, '-')"
	    " || ' ' || ifnull(offload_resp_pkts, '-') || ' ' ||"
	    " ifnull(offload_resp_bytes, '-'), ', ') FROM (SELECT * FROM connections"
	    " ORDER BY id)", buf, sizeof(buf));
	ck_assert_str_eq(buf, "1:0 20 20000 10 600 - - - -,"
	    " 2:1 1000 1500000 500 26000 980 1480000 490 25400,"
	    " 3:1 20 20000 10 600 - - - -");
	sqlite3_close(db);
	ctg_auditlog_close(log);
	ck_assert_int_eq(calls, 2);
}
END_TEST

START_TEST(test_newer_schema)
{
	struct ctg_auditlog_config c;
	char err[256] = "";

	make_db("CREATE TABLE verdicts (id INTEGER); PRAGMA user_version = 99");
	base_config(&c);
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_str_eq(err, "database schema version 99 is newer than this ctguard (4)");
}
END_TEST

START_TEST(test_foreign_db)
{
	struct ctg_auditlog_config c;
	char err[256] = "";

	make_db("CREATE TABLE mine (x)");
	base_config(&c);
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_msg(strstr(err, "is not a ctguard audit database") != NULL, "%s", err);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM sqlite_master"), 1);
}
END_TEST

START_TEST(test_not_a_database)
{
	struct ctg_auditlog_config c;
	char err[256] = "";
	FILE *f = fopen(dbpath, "w");

	for (int i = 0; i < 200; i++)
		fputs("this is not a database\n", f);
	fclose(f);
	base_config(&c);
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_msg(strstr(err, "is not a SQLite database") != NULL, "%s", err);
}
END_TEST

START_TEST(test_bad_config)
{
	struct ctg_auditlog_config c;
	char err[256] = "";

	base_config(&c);
	c.producers = 0;
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_str_eq(err, "audit log: producers must be 1 to 256, not 0");
	base_config(&c);
	c.path = "";
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_str_eq(err, "audit log: no database path");
	base_config(&c);
	c.path = "/nonexistent-dir-ctguard/audit.db";
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_str_eq(err, "cannot create /nonexistent-dir-ctguard/audit.db: "
	    "No such file or directory");
	base_config(&c);
	c.group = "no-such-group-ctguard";
	ck_assert_ptr_null(ctg_auditlog_open(&c, err, sizeof(err)));
	ck_assert_str_eq(err, "unknown group 'no-such-group-ctguard'");
	ck_assert_int_eq(access(dbpath, F_OK), -1);
}
END_TEST

START_TEST(test_file_mode_group)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct group *gr;
	struct stat sb;
	mode_t old;

	/* a permissive umask must not widen the mode */
	old = umask(0);
	base_config(&c);
	gr = getgrnam("daemon");
	if (gr != NULL)
		c.group = "daemon";
	log = open_ok(&c);
	umask(old);
	ck_assert_int_eq(stat(dbpath, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0640);
	if (gr != NULL)
		ck_assert_uint_eq(sb.st_gid, gr->gr_gid);
	ctg_auditlog_close(log);
}
END_TEST

START_TEST(test_reopen)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	char rotated[160];

	base_config(&c);
	c.batch_ms = 2000;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 10; i++) {
		make_verdict(&v, i, now_us());
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	snprintf(rotated, sizeof(rotated), "%s.1", dbpath);
	ck_assert_int_eq(rename(dbpath, rotated), 0);
	ctg_auditlog_reopen(log);
	for (uint64_t i = 100; i < 105; i++) {
		make_verdict(&v, i, now_us());
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts"), 5);
	ck_assert_int_eq(count_path(dbpath, "SELECT min(packet_no) FROM verdicts"), 100);
	ck_assert_int_eq(count_path(dbpath, "PRAGMA user_version"), CTG_AUDITLOG_SCHEMA_VERSION);
	ck_assert_int_eq(count_path(rotated, "SELECT count(*) FROM verdicts"), 10);
	ctg_auditlog_close(log);
}
END_TEST

START_TEST(test_retention_days)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	struct ctg_conn_record cr;
	struct ctg_event_record e;
	uint64_t now = now_us(), day = 86400ULL * 1000000;

	base_config(&c);
	c.retention_days = 7;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 30; i++) {
		make_verdict(&v, i, i < 20 ? now - 10 * day + i : now - i);
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	memset(&cr, 0, sizeof(cr));
	cr.tuple.family = 4;
	cr.conn_id = 1;
	cr.first_us = now - 9 * day;
	cr.last_us = now - 8 * day;
	ck_assert(ctg_auditlog_put_conn(log, 0, &cr));
	cr.conn_id = 2;
	cr.last_us = now;       /* started long ago, still reported recently */
	ck_assert(ctg_auditlog_put_conn(log, 0, &cr));
	memset(&e, 0, sizeof(e));
	e.time_us = now - 30 * day;
	ck_assert(ctg_auditlog_put_event(log, 0, &e));
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_test_retention(log);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts"), 10);
	ck_assert_int_eq(count_path(dbpath, "SELECT min(packet_no) FROM verdicts"), 20);
	ck_assert_int_eq(count_path(dbpath, "SELECT group_concat(id) FROM connections"), 2);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM events"), 0);
	ctg_auditlog_close(log);
}
END_TEST

/*
 * A full disk with the database past its size bound: retention runs at
 * once while degraded and the space it frees lets writing resume by
 * itself, the file never growing (max_page_count stands for the disk).
 */
START_TEST(test_full_disk_retention_frees)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	uint64_t now = now_us();
	int pages;

	base_config(&c);
	c.retention_mb = 5;
	c.batch_max = 4096;
	c.batch_ms = 20;
	c.queue_records = 65536;
	c.block_when_full = true;
	c.report = capture_report;
	nreported = 0;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 30000; i++) {
		make_verdict(&v, i, now - 30000 + i);
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 10000), 0);
	audit_checkpoint(dbpath);
	pages = (int)count_path(dbpath, "PRAGMA page_count");
	ck_assert_int_gt(pages * 16384, 8 * 1024 * 1024);
	/* the disk is full: not one page more */
	ctg_auditlog_test_max_pages(log, (uint32_t)pages);
	for (uint64_t i = 30000; i < 34000; i++) {
		make_verdict(&v, i, now_us());
		memset(v.rule, 'r', sizeof(v.rule) - 1);
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	/* degraded, then retention frees pages and the retry succeeds, no hook */
	ck_assert_int_eq(ctg_auditlog_sync(log, 10000), 0);
	ctg_auditlog_stats(log, &st);
	ck_assert(!st.degraded);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_int_ge(nreported, 1);
	ck_assert_msg(strstr(reported[0], "degraded") != NULL, "%s", reported[0]);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts WHERE packet_no >= 30000"),
	    4000);
	ck_assert_int_lt(count_path(dbpath, "SELECT count(*) FROM verdicts"), 30000);
	ck_assert_int_le(count_path(dbpath, "PRAGMA page_count"), pages);
	ctg_auditlog_close(log);
}
END_TEST

START_TEST(test_retention_size)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	uint64_t now = now_us();
	int64_t before, after;

	base_config(&c);
	c.retention_mb = 5;     /* 30000 rows take about 9.6 MB */
	c.batch_max = 4096;
	c.queue_records = 65536;
	c.block_when_full = true;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 30000; i++) {
		make_verdict(&v, i, now - 30000 + i);
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 10000), 0);
	before = count_path(dbpath, "PRAGMA page_count") *
	    count_path(dbpath, "PRAGMA page_size");
	ck_assert_int_gt(before, 8 * 1024 * 1024);
	ctg_auditlog_test_retention(log);
	after = count_path(dbpath, "SELECT count(*) FROM verdicts");
	/* oldest batches of 10000 go until the data fits in 5 MB */
	ck_assert_int_eq(after, 10000);
	ck_assert_int_eq(count_path(dbpath, "SELECT min(packet_no) FROM verdicts"), 20000);
	/* and the file itself shrank (auto_vacuum = incremental) */
	ck_assert_int_lt(count_path(dbpath, "PRAGMA page_count") *
	    count_path(dbpath, "PRAGMA page_size"), before);
	ctg_auditlog_close(log);
}
END_TEST


/* One verdict, one connection and one event, tagged n. */
static void
put_three(struct ctg_auditlog *log, uint64_t n)
{
	struct ctg_verdict_record v;
	struct ctg_conn_record cr;
	struct ctg_event_record e;

	make_verdict(&v, n, now_us());
	ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	memset(&cr, 0, sizeof(cr));
	cr.conn_id = 1000 + n;
	cr.first_us = cr.last_us = now_us();
	cr.tuple.family = 4;
	cr.tuple.proto = 6;
	ck_assert(ctg_auditlog_put_conn(log, 0, &cr));
	memset(&e, 0, sizeof(e));
	e.time_us = now_us();
	e.kind = CTG_EV_WARNING;
	e.count = n;
	ck_assert(ctg_auditlog_put_event(log, 0, &e));
}

/* min and max of the three stream ids of path, in that order */
static void
stream_ids(const char *path, int64_t out[6])
{
	sqlite3 *db = reader(path);

	out[0] = q_int(db, "SELECT min(id) FROM verdicts");
	out[1] = q_int(db, "SELECT max(id) FROM verdicts");
	out[2] = q_int(db, "SELECT min(seq) FROM connections");
	out[3] = q_int(db, "SELECT max(seq) FROM connections");
	out[4] = q_int(db, "SELECT min(id) FROM events");
	out[5] = q_int(db, "SELECT max(id) FROM events");
	sqlite3_close(db);
}

/*
 * Rotation (mv + reopen) while running: the new file's ids of all three
 * streams follow the old file's, none restarts at 1.
 */
START_TEST(test_ids_continue_rotation)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	char rotated[160];
	int64_t a[6], b[6];

	base_config(&c);
	log = open_ok(&c);
	for (uint64_t i = 0; i < 10; i++)
		put_three(log, i);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	snprintf(rotated, sizeof(rotated), "%s.1", dbpath);
	ck_assert_int_eq(rename(dbpath, rotated), 0);
	ctg_auditlog_reopen(log);
	for (uint64_t i = 10; i < 15; i++)
		put_three(log, i);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	stream_ids(rotated, a);
	stream_ids(dbpath, b);
	ck_assert_int_eq(a[0], 1);
	ck_assert_int_eq(a[1], 10);
	ck_assert_int_eq(a[2], 1);
	ck_assert_int_eq(a[3], 10);
	ck_assert_int_eq(b[0], a[1] + 1);
	ck_assert_int_eq(b[1], a[1] + 5);
	ck_assert_int_eq(b[2], a[3] + 1);
	ck_assert_int_eq(b[3], a[3] + 5);
	/* events: the writer's own (reopen warnings) may be among them */
	ck_assert_int_gt(b[4], a[5]);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts"), 5);
}
END_TEST

/*
 * A restart on a fresh file (rotated while stopped): the ids state file
 * carries the ids over; without one they restart, which is what the
 * state file is for.
 */
START_TEST(test_ids_state_file)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	char rotated[160], ids[160];
	int64_t a[6], b[6];

	snprintf(ids, sizeof(ids), "%s/state.logids", tmpdir);
	snprintf(rotated, sizeof(rotated), "%s.1", dbpath);
	base_config(&c);
	c.ids_path = ids;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 20; i++)
		put_three(log, i);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	stream_ids(dbpath, a);
	ck_assert_int_eq(rename(dbpath, rotated), 0);

	log = open_ok(&c);
	for (uint64_t i = 20; i < 23; i++)
		put_three(log, i);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	stream_ids(dbpath, b);
	ck_assert_int_eq(b[0], a[1] + 1);
	ck_assert_int_eq(b[2], a[3] + 1);
	ck_assert_int_eq(b[4], a[5] + 1);

	/* the same file again: its own maximum, no jump */
	log = open_ok(&c);
	put_three(log, 99);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "SELECT max(id) FROM verdicts"), b[1] + 1);

	/* no state file, fresh file: 1 again */
	ck_assert_int_eq(unlink(dbpath), 0);
	c.ids_path = NULL;
	log = open_ok(&c);
	put_three(log, 100);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "SELECT max(id) FROM verdicts"), 1);
}
END_TEST

/* Retention deleting every row does not bring the ids back to 1. */
START_TEST(test_ids_after_retention)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;

	base_config(&c);
	c.retention_days = 1;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 50; i++) {
		/* three days old */
		make_verdict(&v, i, now_us() - 3ULL * 86400 * 1000000);
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_test_retention(log);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts"), 0);
	make_verdict(&v, 50, now_us());
	ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ck_assert_int_eq(count_path(dbpath, "SELECT id FROM verdicts"), 51);
	ctg_auditlog_close(log);
}
END_TEST

/* A version 3 database gains connections.seq; old rows keep NULL, new ones count on. */
START_TEST(test_migrate_v3)
{
	struct ctg_auditlog_config c;
	struct ctg_auditlog *log;
	sqlite3 *db;

	base_config(&c);
	log = open_ok(&c);
	put_three(log, 1);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	/* back to what version 3 had */
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DROP INDEX connections_seq;"
	    " ALTER TABLE connections DROP COLUMN seq; PRAGMA user_version = 3",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	log = open_ok(&c);
	put_three(log, 2);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "PRAGMA user_version"), CTG_AUDITLOG_SCHEMA_VERSION);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM connections WHERE seq IS NULL"), 1);
	ck_assert_int_eq(count_path(dbpath, "SELECT seq FROM connections WHERE id = 1002"), 1);
	ck_assert_int_eq(count_path(dbpath, "SELECT max(id) FROM verdicts"), 2);
}
END_TEST

/* Waits (bounded) until the log's export counters reach sent and dropped. */
static bool
export_counts(struct ctg_auditlog *log, uint64_t sent, uint64_t dropped)
{
	struct ctg_auditlog_stats st;

	for (int i = 0; i < 500; i++) {
		ctg_auditlog_stats(log, &st);
		if (st.exported == sent && st.export_dropped == dropped)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * log.export: each committed verdict row as one RFC 5424 datagram whose MSG
 * is its JSON line, in id order, with the configured facility and tag;
 * more rows than the socket holds (10 datagrams) all arrive.
 */
START_TEST(test_export)
{
	struct ctg_auditlog_config c;
	struct ctg_logexport_config ec;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	struct sockaddr_un sa;
	struct timeval tv = { 2, 0 };
	char sock[160], buf[9000], want[64];
	int fd, got = 0;

	snprintf(sock, sizeof(sock), "%s/syslog.sock", tmpdir);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(sock), sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	memset(&ec, 0, sizeof(ec));
	ec.socket_path = sock;
	ec.facility = ctg_logexport_facility("local3");
	ec.tag = "ctg-test";
	ck_assert_int_eq(ec.facility, 19 << 3);
	base_config(&c);
	c.export = &ec;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 50; i++) {
		make_verdict(&v, i, now_us());
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	for (; got < 50; got++) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n <= 0)
			break;
		buf[n] = '\0';
		/* <PRI>1 TIME HOST APP PROCID MSGID - MSG, PRI = local3.info */
		ck_assert_msg(strncmp(buf, "<158>1 20", 9) == 0, "%s", buf);
		ck_assert_ptr_nonnull(strstr(buf, " ctg-test "));
		snprintf(want, sizeof(want), " verdict - {\"id\":%d,", got + 1);
		ck_assert_msg(strstr(buf, want) != NULL, "%s", buf);
		ck_assert_ptr_nonnull(strstr(buf, "\"proto\":\"tcp\",\"src\":\"10.0.0.1\","
		    "\"sport\":40000,\"dst\":\"192.168.1.2\",\"dport\":443,\"tcp_flags\":\"SA\""));
		ck_assert_ptr_nonnull(strstr(buf, "\"verdict\":\"drop\","
		    "\"reason\":\"tcp_seq_above_window\",\"rule\":\"web\",\"queue\":3,"
		    "\"length\":60}"));
		ck_assert(buf[n - 1] == '}');
	}
	ck_assert_int_eq(got, 50);
	ck_assert(export_counts(log, 50, 0));
	ctg_auditlog_close(log);
	close(fd);
}
END_TEST

/* Nobody listening: the rows are written, the messages counted as dropped. */
START_TEST(test_export_absent)
{
	struct ctg_auditlog_config c;
	struct ctg_logexport_config ec;
	struct ctg_auditlog *log;
	struct ctg_verdict_record v;
	char sock[160];

	snprintf(sock, sizeof(sock), "%s/nobody.sock", tmpdir);
	memset(&ec, 0, sizeof(ec));
	ec.socket_path = sock;
	ec.facility = -1;
	base_config(&c);
	c.export = &ec;
	log = open_ok(&c);
	for (uint64_t i = 0; i < 20; i++) {
		make_verdict(&v, i, now_us());
		ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
	}
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ck_assert(export_counts(log, 0, 20));
	ctg_auditlog_close(log);
	ck_assert_int_eq(count_path(dbpath, "SELECT count(*) FROM verdicts"), 20);
}
END_TEST

static Suite *
auditlog_suite(void)
{
	Suite *s = suite_create("auditlog");
	TCase *tc;

	tc = tcase_create("ring");
	tcase_add_test(tc, test_ring_put_get);
	tcase_add_test(tc, test_ring_wraparound);
	tcase_add_test(tc, test_ring_threads);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("writer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_batching);
	tcase_add_test(tc, test_groups_rows_distinct);
	tcase_add_test(tc, test_pipeline_wall_shift);
	tcase_add_test(tc, test_conn_event_v6);
	tcase_add_test(tc, test_overflow_gap);
	tcase_add_test(tc, test_busy_retry);
	tcase_add_test(tc, test_disk_full);
	tcase_add_test(tc, test_disk_full_backpressure);
	tcase_add_test(tc, test_deleted_replaced);
	tcase_add_test(tc, test_symlink_refused);
	tcase_add_test(tc, test_close_drains);
	tcase_add_test(tc, test_block_when_full_two_producers);
	tcase_add_test(tc, test_drain_fair);
	tcase_add_test(tc, test_export);
	tcase_add_test(tc, test_export_absent);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_schema_file_matches);
	tcase_add_test(tc, test_migrate_v0);
	tcase_add_test(tc, test_migrate_v1);
	tcase_add_test(tc, test_migrate_v2);
	tcase_add_test(tc, test_conn_offloaded);
	tcase_add_test(tc, test_newer_schema);
	tcase_add_test(tc, test_foreign_db);
	tcase_add_test(tc, test_not_a_database);
	tcase_add_test(tc, test_bad_config);
	tcase_add_test(tc, test_file_mode_group);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_retention_days);
	tcase_add_test(tc, test_retention_size);
	tcase_add_test(tc, test_full_disk_retention_frees);
	tcase_add_test(tc, test_ids_continue_rotation);
	tcase_add_test(tc, test_ids_state_file);
	tcase_add_test(tc, test_ids_after_retention);
	tcase_add_test(tc, test_migrate_v3);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(auditlog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
