/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard log/history/summary` against a database of known contents
 * written by the audit log writer.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "netaddr_cases.h"
#include "ctguard/auditlog.h"
#include "ctguard/logcli.h"
#include "ctguard/packet.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"

#define T0 1591005600000000LL           /* 2020-06-01T10:00:00Z */
#define SEC 1000000LL

static char tmpdir[64];
static char dbpath[128];
static char out_text[65536];
static char err_text[4096];

static void
addr(struct ctg_addr *a, uint8_t family, const char *s)
{
	memset(a, 0, sizeof(*a));
	ck_assert_int_eq(inet_pton(family == 4 ? AF_INET : AF_INET6, s, a->b), 1);
}

static void
verdict(struct ctg_auditlog *log, long long t, uint8_t family, uint8_t proto,
    const char *src, uint16_t sport, const char *dst, uint16_t dport,
    enum ctg_action act, enum ctg_reason reason, const char *rule,
    uint64_t conn)
{
	struct ctg_verdict_record v;

	memset(&v, 0, sizeof(v));
	v.time_us = (uint64_t)t;
	v.conn_id = conn;
	v.packet_no = conn * 10;
	v.tuple.family = family;
	v.tuple.proto = proto;
	addr(&v.tuple.src, family, src);
	addr(&v.tuple.dst, family, dst);
	v.tuple.sport = sport;
	v.tuple.dport = dport;
	v.verdict = act;
	v.reason = reason;
	v.ctstate = act == CTG_ACT_ACCEPT ? CTG_CT_NEW : CTG_CT_INVALID;
	v.tcp_flags = proto == 6 ? CTG_TH_SYN : 0;
	v.length = 60;
	snprintf(v.rule, sizeof(v.rule), "%s", rule);
	ck_assert(ctg_auditlog_put_verdict(log, 0, &v));
}

static void
conn(struct ctg_auditlog *log, uint64_t id, long long first, long long last,
    uint8_t family, uint8_t proto, const char *src, uint16_t sport,
    const char *dst, uint16_t dport, const char *state, const char *rule)
{
	struct ctg_conn_record c;

	memset(&c, 0, sizeof(c));
	c.conn_id = id;
	c.first_us = (uint64_t)first;
	c.last_us = (uint64_t)last;
	c.tuple.family = family;
	c.tuple.proto = proto;
	addr(&c.tuple.src, family, src);
	addr(&c.tuple.dst, family, dst);
	c.tuple.sport = sport;
	c.tuple.dport = dport;
	c.pkts[0] = 10;
	c.pkts[1] = 8;
	c.bytes[0] = 1000;
	c.bytes[1] = 5000;
	c.end_reason = CTG_END_CLOSED;
	c.orig_state = proto == 6 ? CTG_TCPS_TIME_WAIT : CTG_TCPS_NONE;
	c.resp_state = proto == 6 ? CTG_TCPS_CLOSED : CTG_TCPS_NONE;
	snprintf(c.conn_state, sizeof(c.conn_state), "%s", state);
	snprintf(c.history, sizeof(c.history), "ShADadFf");
	snprintf(c.rule, sizeof(c.rule), "%s", rule);
	ck_assert(ctg_auditlog_put_conn(log, 0, &c));
}

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

static struct ctg_auditlog *
open_writer(void)
{
	struct ctg_auditlog_config c;
	char err[256];
	struct ctg_auditlog *log;

	memset(&c, 0, sizeof(c));
	c.path = dbpath;
	c.producers = 1;
	c.queue_records = 1024;
	c.batch_ms = 20;
	log = ctg_auditlog_open(&c, err, sizeof(err));
	ck_assert_msg(log != NULL, "%s", err);
	return log;
}

/*
 * The kernel's NAT mappings as natwatch.c writes them: connection 1 went
 * out through SNAT as 203.0.113.1:61000; the same inside tuple again an
 * hour after it ended, as :61001 (must not join); connection 3 came in
 * through DNAT to [2001:db8:ffff::1]:5300.
 */
static void
nat_rows(void)
{
	sqlite3 *db;
	char sql[1024];

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO nat (first_us, last_us, proto, family, src, src_bin, sport,"
	    " dst, dst_bin, dport, nat_src, nat_src_bin, nat_sport, ct_id) VALUES"
	    " (%lld, %lld, 6, 4, '10.0.0.1', x'00000000000000000000ffff0a000001', 40000,"
	    " '192.168.1.2', x'00000000000000000000ffffc0a80102', 443, '203.0.113.1',"
	    " x'00000000000000000000ffffcb007101', 61000, 1),"
	    " (%lld, NULL, 6, 4, '10.0.0.1', x'00000000000000000000ffff0a000001', 40000,"
	    " '192.168.1.2', x'00000000000000000000ffffc0a80102', 443, '203.0.113.1',"
	    " x'00000000000000000000ffffcb007101', 61001, 2);"
	    "INSERT INTO nat (first_us, last_us, proto, family, src, src_bin, sport,"
	    " dst, dst_bin, dport, nat_dst, nat_dst_bin, nat_dport, ct_id) VALUES"
	    " (%lld, %lld, 17, 6, '2001:db8::1', x'20010db8000000000000000000000001', 5353,"
	    " '2001:db8:1::53', x'20010db8000100000000000000000053', 53,"
	    " '2001:db8:ffff::1', x'20010db8ffff00000000000000000001', 5300, 3)",
	    (long long)T0 + 10000, (long long)T0 + 3600 * SEC,
	    (long long)T0 + 7200 * SEC, (long long)T0 + 2 * SEC + 1000,
	    (long long)T0 + 3 * SEC);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * Verdict ids 1-7 and connections 1, 3, 4. Id 7 is five minutes old;
 * the others are on 2020-06-01.
 */
static void
setup(void)
{
	struct ctg_auditlog *log;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_logcli.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/audit.db", tmpdir);
	log = open_writer();
	verdict(log, T0, 4, 6, "10.0.0.1", 40000, "192.168.1.2", 443,
	    CTG_ACT_DROP, CTG_R_TCP_SEQ_ABOVE_WINDOW, "web", 1);
	verdict(log, T0 + 1 * SEC, 4, 6, "10.0.0.2", 40001, "192.168.1.2", 443,
	    CTG_ACT_ACCEPT, CTG_R_NONE, "web", 2);
	verdict(log, T0 + 2 * SEC, 6, 17, "2001:db8::1", 5353, "2001:db8:1::53", 53,
	    CTG_ACT_ACCEPT, CTG_R_NONE, "dns", 3);
	verdict(log, T0 + 3 * SEC, 4, 1, "10.1.2.3", 7, "8.8.8.8", 0,
	    CTG_ACT_REJECT, CTG_R_RATE_LIMITED, "odd,\"name\"", 4);
	verdict(log, T0 + 1800 * SEC, 4, 6, "172.16.0.5", 12345, "192.168.1.2", 22,
	    CTG_ACT_DROP, CTG_R_TCP_NO_CONN, "", 0);
	verdict(log, T0 + 3600 * SEC, 4, 6, "10.0.0.1", 40000, "192.168.1.2", 443,
	    CTG_ACT_ACCEPT, CTG_R_NONE, "web", 1);
	verdict(log, now_us() - 300 * SEC, 4, 17, "10.9.9.9", 1000, "10.8.8.8", 2000,
	    CTG_ACT_ACCEPT, CTG_R_NONE, "recent", 9);
	conn(log, 1, T0, T0 + 3600 * SEC, 4, 6, "10.0.0.1", 40000, "192.168.1.2",
	    443, "SF", "web");
	conn(log, 3, T0 + 2 * SEC, T0 + 2 * SEC + 250000, 6, 17, "2001:db8::1",
	    5353, "2001:db8:1::53", 53, "SF", "dns");
	conn(log, 4, T0 + 3 * SEC, T0 + 33 * SEC, 4, 1, "10.1.2.3", 7, "8.8.8.8",
	    0, "S0", "");
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	nat_rows();
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* Runs the command line (NULL-terminated words) and captures both outputs. */
static int
run(const char *first, ...)
{
	char *argv[64];
	int argc = 0, rc;
	FILE *out = tmpfile(), *err = tmpfile();
	size_t n;
	va_list ap;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(err);
	va_start(ap, first);
	for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	rc = ctg_logcli_main(argc, argv, out, err);
	rewind(out);
	n = fread(out_text, 1, sizeof(out_text) - 1, out);
	out_text[n] = '\0';
	rewind(err);
	n = fread(err_text, 1, sizeof(err_text) - 1, err);
	err_text[n] = '\0';
	fclose(out);
	fclose(err);
	return rc;
}

/* The ids in the first csv column, e.g. "1 6", from out_text. */
static const char *
csv_ids(void)
{
	static char ids[512];
	const char *line = strstr(out_text, "\r\n");

	ids[0] = '\0';
	while (line != NULL && line[2] != '\0') {
		line += 2;
		if (ids[0] != '\0')
			strcat(ids, " ");
		strncat(ids, line, strcspn(line, ","));
		line = strstr(line, "\r\n");
	}
	return ids;
}

#define LOG_IDS(expect, ...) do { \
	ck_assert_int_eq(run("log", "-d", dbpath, "--format", "csv", \
	    __VA_ARGS__, NULL), 0); \
	ck_assert_str_eq(err_text, ""); \
	ck_assert_str_eq(csv_ids(), expect); \
} while (0)

#define HISTORY_IDS(expect, ...) do { \
	ck_assert_int_eq(run("history", "-d", dbpath, "--format", "csv", \
	    __VA_ARGS__, NULL), 0); \
	ck_assert_str_eq(csv_ids(), expect); \
} while (0)

/*
 * Every address, port and protocol argument accepts and refuses exactly
 * what the rule language does: the shared table of tests/kit/netaddr_cases.h
 * through --src, --dst, --port and --proto.
 */
START_TEST(test_netaddr_table)
{
	for (size_t i = 0; i < sizeof(netaddr_cases) / sizeof(netaddr_cases[0]); i++) {
		const struct netaddr_case *nc = &netaddr_cases[i];
		const char *opt = nc->kind == NA_PREFIX ? (i % 2 ? "--src" : "--dst") :
		    nc->kind == NA_PORT ? "--port" : nc->kind == NA_PROTO ? "--proto" : NULL;
		int rc;

		if (!opt)
			continue;       /* ranges: no CLI option takes one */
		rc = run("log", "-d", dbpath, "--format", "csv", opt, nc->text, NULL);
		if (nc->ok)
			ck_assert_msg(rc == 0, "%s '%s' refused: %s", opt, nc->text, err_text);
		else
			ck_assert_msg(rc == 2 && strstr(err_text, nc->expect) != NULL,
			    "%s '%s': rc %d, want a refusal saying \"%s\": %s", opt, nc->text,
			    rc, nc->expect, err_text);
	}
}
END_TEST

START_TEST(test_log_filters)
{
	LOG_IDS("1 2 3 4 5 6 7", "--limit", "100");
	LOG_IDS("1 5", "--verdict", "drop");
	LOG_IDS("4", "--reason", "rate_limited");
	LOG_IDS("1 2 4 6 7", "--src", "10.0.0.0/8");
	LOG_IDS("1 6", "--src", "10.0.0.1");
	LOG_IDS("1 2", "--src", "10.0.0.0/30", "--until", "2020-06-01T10:30:00");
	LOG_IDS("3", "--dst", "2001:db8:1::/48");
	LOG_IDS("3", "--src", "2001:db8::/32");
	LOG_IDS("", "--src", "2001:db9::/32");
	LOG_IDS("1 2 4 5 6 7", "--src", "0.0.0.0/0");
	LOG_IDS("1 2 3 4 5 6 7", "--src", "::/0");
	LOG_IDS("1 2 5 6", "--dst", "192.168.1.2/32");
	LOG_IDS("5", "--port", "22");
	LOG_IDS("3", "--port", "53");
	LOG_IDS("1 6", "--port", "40000");
	LOG_IDS("3 7", "--proto", "udp");
	LOG_IDS("4", "--proto", "1");
	LOG_IDS("4", "--proto", "icmp");
	LOG_IDS("1 2 6", "--rule", "web");
	LOG_IDS("4", "--rule", "odd,\"name\"");
	LOG_IDS("1 6", "--conn", "1");
	LOG_IDS("3 4", "--since", "2020-06-01T10:00:02", "--until",
	    "2020-06-01 10:30:00");
	LOG_IDS("5 6 7", "--since", "1591007400");
	LOG_IDS("1 2 3 4", "--since", "2020-06-01", "--until", "1591005603.5");
	LOG_IDS("7", "--since", "1h");
	LOG_IDS("1 2 3 4 5 6", "--until", "10m");
	LOG_IDS("1 2 3 4 5 6 7", "--until", "2m");
	LOG_IDS("6 7", "--limit", "2");
	LOG_IDS("2 6", "--verdict", "accept", "--src", "10.0.0.0/8", "--until", "1d");
	LOG_IDS("2 6", "--verdict=accept", "--src=10.0.0.0/8", "--until=1d");
}
END_TEST

START_TEST(test_log_formats)
{
	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "3", "--format",
	    "json", NULL), 0);
	ck_assert_str_eq(out_text, "{\"id\":3,\"time\":\"2020-06-01T10:00:02.000000Z\","
	    "\"conn_id\":3,\"direction\":\"original\",\"proto\":\"udp\","
	    "\"src\":\"2001:db8::1\",\"sport\":5353,\"dst\":\"2001:db8:1::53\","
	    "\"dport\":53,\"tcp_flags\":null,\"ctstate\":\"new\","
	    "\"orig_before\":\"-\",\"resp_before\":\"-\",\"orig_after\":\"-\","
	    "\"resp_after\":\"-\",\"verdict\":\"accept\",\"reason\":\"none\","
	    "\"rule\":\"dns\",\"queue\":0,\"length\":60}\n");

	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "4", "--format",
	    "json", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "\"rule\":\"odd,\\\"name\\\"\""));

	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "4", "--format",
	    "csv", NULL), 0);
	ck_assert_str_eq(out_text,
	    "id,time,conn_id,direction,proto,src,sport,dst,dport,tcp_flags,"
	    "ctstate,orig_before,resp_before,orig_after,resp_after,verdict,"
	    "reason,rule,queue,length\r\n"
	    "4,2020-06-01T10:00:03.000000Z,4,original,icmp,10.1.2.3,7,8.8.8.8,0,,"
	    "invalid,-,-,-,-,reject,rate_limited,\"odd,\"\"name\"\"\",0,60\r\n");

	/* table: columns sized to the widest value, numbers to the right */
	ck_assert_int_eq(run("log", "-d", dbpath, "--src", "10.0.0.0/30",
	    "--until", "2020-06-02", NULL), 0);
	ck_assert_str_eq(out_text,
	    "id  time                         conn_id  proto  src       sport  dst          dport  tcp_flags  ctstate  verdict  reason                rule  length\n"
	    " 1  2020-06-01T10:00:00.000000Z        1  tcp    10.0.0.1  40000  192.168.1.2    443  S          invalid  drop     tcp_seq_above_window  web       60\n"
	    " 2  2020-06-01T10:00:01.000000Z        2  tcp    10.0.0.2  40001  192.168.1.2    443  S          new      accept   none                  web       60\n"
	    " 6  2020-06-01T11:00:00.000000Z        1  tcp    10.0.0.1  40000  192.168.1.2    443  S          new      accept   none                  web       60\n");

	/* no rows: table and csv still print their header */
	ck_assert_int_eq(run("log", "-d", dbpath, "--port", "9", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "id  time"));
	ck_assert_ptr_null(strchr(strchr(out_text, '\n') + 1, '\n'));
	ck_assert_int_eq(run("log", "-d", dbpath, "--port", "9", "--format",
	    "json", NULL), 0);
	ck_assert_str_eq(out_text, "");
}
END_TEST

START_TEST(test_history)
{
	HISTORY_IDS("1 3 4", "--limit", "10");
	HISTORY_IDS("1", "--src", "10.0.0.1");
	HISTORY_IDS("3", "--proto", "udp");
	HISTORY_IDS("4", "--conn", "4");
	HISTORY_IDS("3", "--rule", "web", "--rule", "dns");      /* last one wins */
	HISTORY_IDS("4", "--port", "7");
	/* a connection is in a range when any part of it is */
	HISTORY_IDS("1 4", "--since", "2020-06-01T10:00:10");
	HISTORY_IDS("1 3", "--until", "2020-06-01T10:00:03");
	HISTORY_IDS("3 4", "--limit", "2");
	/* who was behind a public address and port */
	HISTORY_IDS("1", "--nat-addr", "203.0.113.1");
	HISTORY_IDS("1", "--nat-addr", "203.0.113.0/24", "--nat-port", "61000");
	HISTORY_IDS("", "--nat-port", "61001");
	HISTORY_IDS("3", "--nat-addr", "2001:db8:ffff::/48");
	HISTORY_IDS("3", "--nat-port", "5300");
	HISTORY_IDS("1 3", "--nat-addr", "::/0");
	ck_assert_int_eq(run("history", "-d", dbpath, "--nat-addr", "203.0.113.1",
	    "--format", "csv", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, ",nat_src,nat_sport,nat_dst,nat_dport,seq\r\n"));
	ck_assert_ptr_nonnull(strstr(out_text, ",203.0.113.1,61000,,,1\r\n"));
	ck_assert_int_eq(run("log", "-d", dbpath, "--nat-addr", "203.0.113.1", NULL), 2);
	ck_assert_int_eq(run("history", "-d", dbpath, "--nat-port", "x", NULL), 2);

	ck_assert_int_eq(run("history", "-d", dbpath, "--conn", "3", "--format",
	    "json", NULL), 0);
	ck_assert_str_eq(out_text, "{\"id\":3,\"first\":\"2020-06-01T10:00:02.000000Z\","
	    "\"last\":\"2020-06-01T10:00:02.250000Z\",\"duration\":0.250000,"
	    "\"proto\":\"udp\",\"src\":\"2001:db8::1\",\"sport\":5353,"
	    "\"dst\":\"2001:db8:1::53\",\"dport\":53,\"conn_state\":\"SF\","
	    "\"history\":\"ShADadFf\",\"orig_pkts\":10,\"orig_bytes\":1000,"
	    "\"resp_pkts\":8,\"resp_bytes\":5000,\"orig_state\":\"-\","
	    "\"resp_state\":\"-\",\"end_reason\":\"closed\",\"rule\":\"dns\","
	    "\"nat_src\":null,\"nat_sport\":null,\"nat_dst\":\"2001:db8:ffff::1\","
	    "\"nat_dport\":5300,\"seq\":2}\n");
	ck_assert_int_eq(run("history", "-d", dbpath, "--conn", "1", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "3600.000000"));
	ck_assert_ptr_nonnull(strstr(out_text, "SF"));
}
END_TEST

/* A version 1 database (no nat table): history still answers, without mappings. */
START_TEST(test_history_v1)
{
	sqlite3 *db;
	char path[300];

	snprintf(path, sizeof(path), "%s/v1.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, ctg_auditlog_schema_sql(), NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO connections (id, first_us, last_us,"
	    " proto, src, sport) VALUES (5, 1, 2, 6, '10.0.0.9', 1234);"
	    " PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(run("history", "-d", path, "--format", "csv", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "\r\n5,"));
	ck_assert_int_eq(run("history", "-d", path, "--nat-addr", "10.0.0.9", NULL), 0);
	ck_assert_ptr_null(strstr(out_text, "10.0.0.9"));
}
END_TEST

START_TEST(test_summary)
{
	ck_assert_int_eq(run("summary", "-d", dbpath, "--until", "2020-06-02",
	    "--format", "csv", NULL), 0);
	ck_assert_str_eq(out_text,
	    "group,key,count\r\n"
	    "total,,6\r\n"
	    "verdict,accept,3\r\n"
	    "verdict,drop,2\r\n"
	    "verdict,reject,1\r\n"
	    "reason,none,3\r\n"
	    "reason,rate_limited,1\r\n"
	    "reason,tcp_no_connection,1\r\n"
	    "reason,tcp_seq_above_window,1\r\n"
	    "rule,web,3\r\n"
	    "rule,,1\r\n"
	    "rule,dns,1\r\n"
	    "rule,\"odd,\"\"name\"\"\",1\r\n"
	    "src,10.0.0.1,2\r\n"
	    "src,10.0.0.2,1\r\n"
	    "src,10.1.2.3,1\r\n"
	    "src,172.16.0.5,1\r\n"
	    "src,2001:db8::1,1\r\n"
	    "dst,192.168.1.2,4\r\n"
	    "dst,2001:db8:1::53,1\r\n"
	    "dst,8.8.8.8,1\r\n");

	ck_assert_int_eq(run("summary", "-d", dbpath, "--verdict", "drop",
	    "--format", "json", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text,
	    "{\"group\":\"total\",\"key\":null,\"count\":2}\n"));
	ck_assert_ptr_nonnull(strstr(out_text,
	    "{\"group\":\"rule\",\"key\":null,\"count\":1}\n"));

	ck_assert_int_eq(run("summary", "-d", dbpath, "--src", "10.0.0.0/8", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "verdicts: 5\n"));
	ck_assert_ptr_nonnull(strstr(out_text, "first: 2020-06-01T10:00:00.000000Z\n"));
	ck_assert_ptr_nonnull(strstr(out_text, "\nverdict  count\naccept       3\n"
	    "drop         1\nreject       1\n"));
	ck_assert_msg(strstr(out_text, "\nsrc       count\n10.0.0.1      2\n"
	    "10.0.0.2      1\n10.1.2.3      1\n10.9.9.9      1\n") != NULL,
	    "%s", out_text);
}
END_TEST

static void *
late_writer(void *arg)
{
	struct ctg_auditlog *log;

	(void)arg;
	usleep(400 * 1000);
	log = open_writer();
	verdict(log, now_us(), 4, 6, "10.7.7.7", 1111, "10.6.6.6", 80,
	    CTG_ACT_DROP, CTG_R_TCP_FLAGS_XMAS, "late", 77);
	verdict(log, now_us(), 4, 6, "10.7.7.8", 1111, "10.6.6.6", 80,
	    CTG_ACT_ACCEPT, CTG_R_NONE, "late", 78);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	return NULL;
}

START_TEST(test_follow)
{
	pthread_t t;
	int rc;

	pthread_create(&t, NULL, late_writer, NULL);
	rc = run("log", "-d", dbpath, "--verdict", "drop", "--format", "csv",
	    "--follow-for-ms", "1600", NULL);
	pthread_join(t, NULL);
	ck_assert_int_eq(rc, 0);
	/* the old drops, then the new drop (id 8) but not the accept (id 9) */
	ck_assert_str_eq(csv_ids(), "1 5 8");
	ck_assert_ptr_nonnull(strstr(out_text, "tcp_flags_xmas,late"));

	ck_assert_int_eq(run("summary", "-d", dbpath, "--follow", NULL), 2);
	ck_assert_str_eq(err_text, "ctguard summary: option '--follow' applies to "
	    "log, history and events\nTry 'ctguard summary --help'.\n");
}
END_TEST

/* A shipper's cursor: rows after the last id seen, then the new ones. */
START_TEST(test_after_id)
{
	pthread_t t;
	int rc;

	LOG_IDS("6 7", "--after-id", "5");
	LOG_IDS("5", "--after-id", "1", "--verdict", "drop");
	LOG_IDS("", "--after-id", "7");
	pthread_create(&t, NULL, late_writer, NULL);
	rc = run("log", "-d", dbpath, "--format", "csv", "--after-id", "7",
	    "--follow-for-ms", "1600", NULL);
	pthread_join(t, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(csv_ids(), "8 9");
	ck_assert_int_eq(run("log", "-d", dbpath, "--after-id", "-1", NULL), 2);
	ck_assert_int_eq(run("history", "-d", dbpath, "--after-id", "1", NULL), 2);
	ck_assert_str_eq(err_text, "ctguard history: option '--after-id' applies to "
	    "log and events (history: --after-seq)\nTry 'ctguard history --help'.\n");
	ck_assert_int_eq(run("log", "-d", dbpath, "--after-seq", "1", NULL), 2);
}
END_TEST


/* A connection with a low id (an early start) written after the others. */
static void *
late_conn_writer(void *arg)
{
	struct ctg_auditlog *log;

	(void)arg;
	usleep(400 * 1000);
	log = open_writer();
	conn(log, 2, T0 + 1 * SEC, now_us(), 4, 6, "10.0.0.2", 40001, "192.168.1.2",
	    443, "SF", "web");
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	return NULL;
}

/*
 * The connections stream: seq is the order rows were written (1, 3, 4 in
 * setup), not their id (the start); a connection that started early and
 * ended late comes after the others, and a follower from the last seq
 * gets it.
 */
START_TEST(test_history_after_seq)
{
	pthread_t t;
	int rc;

	HISTORY_IDS("3 4", "--after-seq", "1");
	HISTORY_IDS("", "--after-seq", "3");
	HISTORY_IDS("4", "--after-seq", "1", "--proto", "icmp");
	pthread_create(&t, NULL, late_conn_writer, NULL);
	rc = run("history", "-d", dbpath, "--format", "csv", "--after-seq", "3",
	    "--follow-for-ms", "1600", NULL);
	pthread_join(t, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(csv_ids(), "2");
	ck_assert_ptr_nonnull(strstr(out_text, ",4\r\n"));     /* its seq */
	/* by id without a cursor, in write order with one */
	HISTORY_IDS("1 2 3 4", "--limit", "10");
	HISTORY_IDS("1 3 4 2", "--after-seq", "0");
	HISTORY_IDS("4 2", "--after-seq", "0", "--limit", "2");
	ck_assert_int_eq(run("history", "-d", dbpath, "--after-seq", "x", NULL), 2);
}
END_TEST

static void
event(struct ctg_auditlog *log, long long t, enum ctg_event_kind kind, uint64_t count,
    const char *detail)
{
	struct ctg_event_record e;

	memset(&e, 0, sizeof(e));
	e.time_us = (uint64_t)t;
	e.kind = kind;
	e.count = count;
	snprintf(e.detail, sizeof(e.detail), "%s", detail);
	ck_assert(ctg_auditlog_put_event(log, 0, &e));
}

static void *
late_event_writer(void *arg)
{
	struct ctg_auditlog *log;

	(void)arg;
	usleep(400 * 1000);
	log = open_writer();
	event(log, now_us(), CTG_EV_SET_CHANGE, 1, "set banned add 10.0.0.1/32");
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	return NULL;
}

#define EVENT_IDS(expect, ...) do { \
	ck_assert_int_eq(run("events", "-d", dbpath, "--format", "csv", \
	    __VA_ARGS__, NULL), 0); \
	ck_assert_str_eq(err_text, ""); \
	ck_assert_str_eq(csv_ids(), expect); \
} while (0)

START_TEST(test_events)
{
	struct ctg_auditlog *log = open_writer();
	pthread_t t;
	int rc;

	event(log, T0, CTG_EV_START, 0, "ctguardd 0.1");
	event(log, T0 + SEC, CTG_EV_RULES_LOAD, 6, "ruleset 1234");
	event(log, T0 + 2 * SEC, CTG_EV_LOG_GAP, 17, "17 records lost: queue full");
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);

	EVENT_IDS("1 2 3", "--limit", "10");
	EVENT_IDS("2 3", "--after-id", "1");
	EVENT_IDS("3", "--kind", "log_gap");
	EVENT_IDS("2", "--since", "2020-06-01T10:00:01", "--until", "2020-06-01T10:00:02");
	EVENT_IDS("3", "--limit", "1");
	ck_assert_int_eq(run("events", "-d", dbpath, "--kind", "log_gap", "--format", "json",
	    NULL), 0);
	ck_assert_str_eq(out_text, "{\"id\":3,\"time\":\"2020-06-01T10:00:02.000000Z\","
	    "\"kind\":\"log_gap\",\"count\":17,\"detail\":\"17 records lost: queue full\"}\n");
	pthread_create(&t, NULL, late_event_writer, NULL);
	rc = run("events", "-d", dbpath, "--format", "csv", "--after-id", "3",
	    "--follow-for-ms", "1600", NULL);
	pthread_join(t, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(csv_ids(), "4");
	ck_assert_int_eq(run("events", "-d", dbpath, "--kind", "nosuch", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err_text, "unknown event kind 'nosuch'"));
	ck_assert_int_eq(run("events", "-d", dbpath, "--src", "10.0.0.1", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err_text, "applies to log, history and summary"));
	ck_assert_int_eq(run("log", "-d", dbpath, "--kind", "start", NULL), 2);
	ck_assert_int_eq(run("events", "--help", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "--kind"));
	ck_assert_ptr_nonnull(strstr(out_text, "--after-id"));
}
END_TEST

/*
 * A rotation caught while the new file is still being made (it exists,
 * empty, for a second): the follower keeps at it and goes on in the new
 * file; a file whose ids start again (no ids carried over) is read from
 * its start.
 */
static void *
slow_rotation(void *arg)
{
	struct ctg_auditlog *log;
	char moved[300];
	FILE *f;

	(void)arg;
	usleep(400 * 1000);
	snprintf(moved, sizeof(moved), "%s.1", dbpath);
	ck_assert_int_eq(rename(dbpath, moved), 0);
	f = fopen(dbpath, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	usleep(1000 * 1000);
	log = open_writer();
	verdict(log, now_us(), 4, 6, "10.7.7.7", 1111, "10.6.6.6", 80,
	    CTG_ACT_DROP, CTG_R_TCP_FLAGS_XMAS, "late", 77);
	verdict(log, now_us(), 4, 6, "10.7.7.8", 1111, "10.6.6.6", 80,
	    CTG_ACT_ACCEPT, CTG_R_NONE, "late", 78);
	ck_assert_int_eq(ctg_auditlog_sync(log, 5000), 0);
	ctg_auditlog_close(log);
	return NULL;
}

START_TEST(test_follow_slow_rotation)
{
	pthread_t t;
	int rc;

	pthread_create(&t, NULL, slow_rotation, NULL);
	rc = run("log", "-d", dbpath, "--format", "csv", "--follow-for-ms", "2800", NULL);
	pthread_join(t, NULL);
	ck_assert_str_eq(err_text, "");
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(csv_ids(), "1 2 3 4 5 6 7 1 2");
}
END_TEST

START_TEST(test_parse_time)
{
	long long t;
	long long now = 1700000000LL * SEC;

	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25T10:00:00", now, &t), 0);
	ck_assert_int_eq(t, 1795600800LL * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25 10:00:00Z", now, &t), 0);
	ck_assert_int_eq(t, 1795600800LL * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25T10:00:00.25", now, &t), 0);
	ck_assert_int_eq(t, 1795600800LL * SEC + 250000);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25T10:00", now, &t), 0);
	ck_assert_int_eq(t, 1795600800LL * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25", now, &t), 0);
	ck_assert_int_eq(t, (1795600800LL - 36000) * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("1700000000", now, &t), 0);
	ck_assert_int_eq(t, now);
	ck_assert_int_eq(ctg_logcli_parse_time("30s", now, &t), 0);
	ck_assert_int_eq(t, now - 30 * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("15m", now, &t), 0);
	ck_assert_int_eq(t, now - 900 * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("1h", now, &t), 0);
	ck_assert_int_eq(t, now - 3600 * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("2d", now, &t), 0);
	ck_assert_int_eq(t, now - 2 * 86400 * SEC);
	ck_assert_int_eq(ctg_logcli_parse_time("", now, &t), -1);
	ck_assert_int_eq(ctg_logcli_parse_time("abc", now, &t), -1);
	ck_assert_int_eq(ctg_logcli_parse_time("10x", now, &t), -1);
	ck_assert_int_eq(ctg_logcli_parse_time("h", now, &t), -1);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-02-31", now, &t), -1);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25T25:00:00", now, &t), -1);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25T10:00:00+02", now, &t), -1);
	ck_assert_int_eq(ctg_logcli_parse_time("2026-11-25X", now, &t), -1);
}
END_TEST

START_TEST(test_usage_errors)
{
	static const struct {
		const char *args[4];
		const char *msg;
	} cases[] = {
		{ { "--verdict", "maybe" }, "invalid verdict 'maybe'" },
		{ { "--reason", "nope" }, "unknown reason 'nope'" },
		{ { "--since", "yesterday" }, "invalid time 'yesterday'" },
		{ { "--src", "10.0.0.0/33" }, "invalid address '10.0.0.0/33'" },
		{ { "--dst", "fe80::/129" }, "invalid address 'fe80::/129'" },
		{ { "--src", "10.0.0.300" }, "invalid address '10.0.0.300'" },
		{ { "--port", "65536" }, "invalid port '65536'" },
		{ { "--proto", "sctpx" }, "invalid protocol 'sctpx'" },
		{ { "--limit", "0" }, "invalid limit '0'" },
		{ { "--format", "xml" }, "invalid format 'xml'" },
		{ { "--conn", "-1" }, "invalid connection id '-1'" },
		{ { "--bogus" }, "unknown option '--bogus'" },
		{ { "-x" }, "unknown option '-x'" },
		{ { "--db" }, "option '--db' needs a value" },
		{ { "--follow=1" }, "option '--follow=1' takes no value" },
		{ { "stray" }, "unexpected argument 'stray'" },
		{ { "--since", "2020-06-02", "--until", "2020-06-01" },
		    "--since must be before --until" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[8] = { "log" };
		int argc = 1;
		FILE *out = tmpfile(), *err = tmpfile();
		size_t n;

		for (int k = 0; k < 4 && cases[i].args[k] != NULL; k++)
			argv[argc++] = (char *)cases[i].args[k];
		ck_assert_int_eq(ctg_logcli_main(argc, argv, out, err), 2);
		rewind(err);
		n = fread(err_text, 1, sizeof(err_text) - 1, err);
		err_text[n] = '\0';
		ck_assert_msg(strncmp(err_text, "ctguard log: ", 13) == 0 &&
		    strstr(err_text, cases[i].msg) != NULL &&
		    strstr(err_text, "Try 'ctguard log --help'.") != NULL,
		    "case %zu: %s", i, err_text);
		fclose(out);
		fclose(err);
	}
	ck_assert_int_eq(run("history", "--verdict", "drop", NULL), 2);
	ck_assert_int_eq(run("summary", "--limit", "3", NULL), 2);
	ck_assert_int_eq(run("frobnicate", NULL), 2);
	ck_assert_str_eq(err_text, "ctguard: unknown command 'frobnicate' "
	    "(log, history, events or summary)\n");
	ck_assert_int_eq(run("log", "--help", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "usage: ctguard log [options]\n"));
	ck_assert_ptr_nonnull(strstr(out_text, "--follow"));
	ck_assert_int_eq(run("history", "-h", NULL), 0);
	ck_assert_ptr_null(strstr(out_text, "--verdict"));
}
END_TEST

START_TEST(test_db_errors)
{
	char path[160];
	sqlite3 *db;
	FILE *f;

	snprintf(path, sizeof(path), "%s/missing.db", tmpdir);
	ck_assert_int_eq(run("log", "-d", path, NULL), 1);
	ck_assert_str_eq(out_text, "");
	{
		char expect[256];

		snprintf(expect, sizeof(expect), "ctguard: no audit database at %s\n",
		    path);
		ck_assert_str_eq(err_text, expect);
	}

	snprintf(path, sizeof(path), "%s/text.db", tmpdir);
	f = fopen(path, "w");
	for (int i = 0; i < 100; i++)
		fputs("definitely not SQLite\n", f);
	fclose(f);
	ck_assert_int_eq(run("summary", "-d", path, NULL), 1);
	ck_assert_ptr_nonnull(strstr(err_text, "is not a SQLite database"));

	snprintf(path, sizeof(path), "%s/newer.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE verdicts (id);"
	    "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(run("history", "-d", path, NULL), 1);
	ck_assert_str_eq(err_text, "ctguard: database schema version 7 is newer "
	    "than this ctguard (4)\n");

	snprintf(path, sizeof(path), "%s/foreign.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(run("log", "-d", path, NULL), 1);
	ck_assert_ptr_nonnull(strstr(err_text, "is not a ctguard audit database"));

	/* a directory is not a database either */
	ck_assert_int_eq(run("log", "-d", tmpdir, NULL), 1);
	ck_assert_ptr_nonnull(strstr(err_text, "is not a SQLite database"));

	/* the read-only open leaves the database as it was */
	ck_assert_int_eq(run("log", "-d", dbpath, NULL), 0);
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
}
END_TEST

START_TEST(test_locked)
{
	sqlite3 *db;
	char path[160];
	int rc;

	/* WAL readers never wait; a rollback-journal exclusive lock does stop them */
	snprintf(path, sizeof(path), "%s/locked.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE verdicts (id);"
	    "PRAGMA user_version = 1; BEGIN EXCLUSIVE;"
	    "INSERT INTO verdicts VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
	rc = run("log", "-d", path, NULL);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(err_text, "is locked") != NULL, "%s", err_text);

	/* and while the writer runs (WAL) the reader is not blocked */
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM verdicts"
	    " WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "1", "--format",
	    "csv", NULL), 0);
	ck_assert_str_eq(csv_ids(), "1 6");
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
}
END_TEST

static void
exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK,
	    "%s: %s", sql, msg);
	sqlite3_close(db);
}

/* Durations at the ends of the range, from a crafted database. */
START_TEST(test_extreme_values)
{
	exec_sql(dbpath, "UPDATE connections SET first_us = 0,"
	    " last_us = -9223372036854775807 - 1 WHERE id = 3;"
	    "UPDATE connections SET first_us = 1000000, last_us = 500000"
	    " WHERE id = 4;"
	    "UPDATE connections SET first_us = -9223372036854775807 - 1,"
	    " last_us = 9223372036854775807 WHERE id = 1;"
	    "UPDATE verdicts SET time_us = -9223372036854775807 - 1 WHERE id = 1");

	ck_assert_int_eq(run("history", "-d", dbpath, "--conn", "3", "--format",
	    "json", NULL), 0);
	ck_assert_msg(strstr(out_text, "\"duration\":-9223372036854.775808,")
	    != NULL, "%s", out_text);
	/* a negative duration under a second keeps its sign */
	ck_assert_int_eq(run("history", "-d", dbpath, "--conn", "4", "--format",
	    "json", NULL), 0);
	ck_assert_msg(strstr(out_text, "\"duration\":-0.500000,") != NULL, "%s",
	    out_text);
	/* last - first overflows in SQLite (a REAL); shown clamped, not UB */
	ck_assert_int_eq(run("history", "-d", dbpath, "--conn", "1", NULL), 0);
	ck_assert_msg(strstr(out_text, "9223372036854.775807") != NULL, "%s",
	    out_text);
	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "1", "--format",
	    "csv", NULL), 0);
	ck_assert_str_eq(csv_ids(), "1 6");
}
END_TEST

/* Bytes below 0x20 and 0x7f in table lines, excluding the line ends. */
static int
count_ctl(const char *s)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
			n++;
	return n;
}

/* Terminal escapes stored in the database are shown, not obeyed. */
START_TEST(test_control_chars)
{
	const char *l1, *l2;

	exec_sql(dbpath, "UPDATE verdicts SET rule = 'a' || char(27) || '[31mb'"
	    " || char(127) || char(10) WHERE id = 2;"
	    "UPDATE connections SET history = char(7) || 'S' || char(13)"
	    " WHERE id = 3");

	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "2", NULL), 0);
	ck_assert_int_eq(count_ctl(out_text), 0);
	ck_assert_msg(strstr(out_text, "  a\\x1b[31mb\\x7f\\x0a  ") != NULL, "%s",
	    out_text);
	/* one header and one row, the column as wide as the escaped text */
	l1 = strchr(out_text, '\n');
	ck_assert_ptr_nonnull(l1);
	l2 = strchr(l1 + 1, '\n');
	ck_assert_ptr_nonnull(l2);
	ck_assert_str_eq(l2 + 1, "");
	ck_assert_int_eq(l1 - out_text, l2 - (l1 + 1));

	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "2", "--format",
	    "csv", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, ",\"a\\x1b[31mb\\x7f\\x0a\",0,60\r\n"));
	ck_assert_int_eq(count_ctl(out_text), 2);      /* the two \r */

	ck_assert_int_eq(run("log", "-d", dbpath, "--conn", "2", "--format",
	    "json", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text,
	    "\"rule\":\"a\\u001b[31mb\\u007f\\n\""));

	ck_assert_int_eq(run("history", "-d", dbpath, "--conn", "3", NULL), 0);
	ck_assert_int_eq(count_ctl(out_text), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "\\x07S\\x0d"));

	ck_assert_int_eq(run("summary", "-d", dbpath, NULL), 0);
	ck_assert_int_eq(count_ctl(out_text), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "\na\\x1b[31mb\\x7f\\x0a  "));
}
END_TEST

/*
 * A database made by hand: no types, so text columns can hold numbers,
 * and a row that is NULL everywhere but its id.
 */
static void
make_loose_db(const char *path)
{
	exec_sql(path,
	    "CREATE TABLE verdicts (id INTEGER PRIMARY KEY, time_us, conn_id,"
	    " direction, proto, src, src_bin, sport, dst, dst_bin, dport,"
	    " tcp_flags, ctstate, orig_before, resp_before, orig_after,"
	    " resp_after, verdict, reason, rule, queue, length);"
	    "CREATE TABLE connections (id INTEGER PRIMARY KEY, first_us, last_us,"
	    " proto, src, src_bin, sport, dst, dst_bin, dport, conn_state,"
	    " history, orig_pkts, orig_bytes, resp_pkts, resp_bytes, orig_state,"
	    " resp_state, end_reason, rule);"
	    "INSERT INTO verdicts (id) VALUES (1);"
	    "INSERT INTO verdicts VALUES (2, 5, 6, 7, 8, 9, X'00', 10, 11.5, NULL,"
	    " 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);"
	    "INSERT INTO connections (id) VALUES (1);"
	    "INSERT INTO connections VALUES (2, 1, 3, 4, 5, NULL, 6, 7, NULL, 8,"
	    " 9, 10, 11, 12, 13, 14, 15, 16, 17, 18);"
	    "PRAGMA user_version = 1");
}

START_TEST(test_null_columns)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/loose.db", tmpdir);
	make_loose_db(path);

	ck_assert_int_eq(run("log", "-d", path, "--format", "json", NULL), 0);
	ck_assert_msg(strncmp(out_text, "{\"id\":1,\"time\":null,\"conn_id\":null,",
	    35) == 0, "%s", out_text);
	ck_assert_ptr_nonnull(strstr(out_text, "\"rule\":null,\"queue\":null,"
	    "\"length\":null}\n{\"id\":2,"));
	ck_assert_ptr_nonnull(strstr(out_text, "\"dst\":\"11.5\","));
	ck_assert_ptr_nonnull(strstr(out_text, "\"rule\":\"21\","));
	ck_assert_int_eq(run("log", "-d", path, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "\n 1  -"));
	ck_assert_int_eq(run("log", "-d", path, "--format", "csv", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "\r\n1,,,,,,,,,,,,,,,,,,,\r\n2,"));
	ck_assert_int_eq(run("history", "-d", path, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "\n 1  -"));
	ck_assert_int_eq(run("summary", "-d", path, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text, "verdicts: 2\n"));
	ck_assert_int_eq(run("summary", "-d", path, "--format", "json", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out_text,
	    "{\"group\":\"rule\",\"key\":\"21\",\"count\":1}\n"));
}
END_TEST

/*
 * SQLite out of memory at each of its allocations in turn: every run ends
 * with output or an error message, never a crash (sanitizer builds).
 */
static sqlite3_mem_methods real_mem;
static long oom_countdown = -1;         /* fail the allocation it reaches 0 at */
static int oom_hit;

static void *
oom_malloc(int n)
{
	if (oom_countdown >= 0 && oom_countdown-- == 0) {
		oom_hit = 1;
		return NULL;
	}
	return real_mem.xMalloc(n);
}

static void *
oom_realloc(void *p, int n)
{
	if (oom_countdown >= 0 && oom_countdown-- == 0) {
		oom_hit = 1;
		return NULL;
	}
	return real_mem.xRealloc(p, n);
}

static void
oom_sweep(const char *cmd, const char *path, const char *fmt)
{
	int rc, failed = 0;

	for (long n = 0;; n++) {
		ck_assert_msg(n < 100000, "%s: no end", cmd);
		oom_hit = 0;
		oom_countdown = n;
		rc = run(cmd, "-d", path, "--format", fmt, NULL);
		oom_countdown = -1;
		if (!oom_hit) {
			ck_assert_int_eq(rc, 0);
			break;
		}
		ck_assert_msg(rc == 0 || (rc == 1 && err_text[0] != '\0'),
		    "%s %s, allocation %ld: rc %d, %s", cmd, fmt, n, rc, err_text);
		if (rc == 1)
			failed++;
	}
	ck_assert_int_gt(failed, 0);
}

START_TEST(test_sqlite_oom)
{
	sqlite3_mem_methods mem;
	char path[160];

	snprintf(path, sizeof(path), "%s/loose.db", tmpdir);
	make_loose_db(path);
	ck_assert_int_eq(sqlite3_shutdown(), SQLITE_OK);
	ck_assert_int_eq(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem),
	    SQLITE_OK);
	mem = real_mem;
	mem.xMalloc = oom_malloc;
	mem.xRealloc = oom_realloc;
	ck_assert_int_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &mem), SQLITE_OK);
	/* no lookaside: number-to-text conversions must reach the allocator */
	ck_assert_int_eq(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0), SQLITE_OK);
	ck_assert_int_eq(sqlite3_initialize(), SQLITE_OK);

	oom_sweep("log", path, "table");
	oom_sweep("log", path, "csv");
	oom_sweep("history", path, "json");
	oom_sweep("summary", path, "table");
	oom_sweep("summary", path, "json");

	ck_assert_int_eq(sqlite3_shutdown(), SQLITE_OK);
	ck_assert_int_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &real_mem),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_initialize(), SQLITE_OK);
}
END_TEST

static Suite *
logcli_suite(void)
{
	Suite *s = suite_create("logcli");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_time);
	suite_add_tcase(s, tc);

	tc = tcase_create("queries");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_log_filters);
	tcase_add_test(tc, test_netaddr_table);
	tcase_add_test(tc, test_log_formats);
	tcase_add_test(tc, test_history);
	tcase_add_test(tc, test_history_v1);
	tcase_add_test(tc, test_summary);
	tcase_add_test(tc, test_follow);
	tcase_add_test(tc, test_after_id);
	tcase_add_test(tc, test_history_after_seq);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_follow_slow_rotation);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_db_errors);
	tcase_add_test(tc, test_locked);
	tcase_add_test(tc, test_extreme_values);
	tcase_add_test(tc, test_control_chars);
	tcase_add_test(tc, test_null_columns);
	tcase_add_test(tc, test_sqlite_oom);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(logcli_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
