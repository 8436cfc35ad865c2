/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sustained audit log throughput: N verdict records (default 1,000,000)
 * from one producer thread through the ring into SQLite on disk, timed
 * from the first put to the commit of the last row.
 *
 * usage: bench_auditlog [DB_PATH [RECORDS [BATCH_MAX]]]
 * The producer blocks when the ring is full (block_when_full), so the
 * figure is the writer's rate, and nothing may be dropped.
 * CTG_BENCH_EXPORT=SOCKET also exports every row (log.export) to that
 * unix datagram socket: the writer's share of the export is in the time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/auditlog.h"
#include "ctguard/packet.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
remove_db(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char name[512];

	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffix[i]);
		unlink(name);
	}
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/bench_auditlog.db";
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	struct ctg_auditlog_config c;
	struct ctg_auditlog_stats st;
	struct ctg_verdict_record v;
	struct ctg_auditlog *log;
	struct timespec t;
	char err[256];
	double t0, t1;
	uint64_t base;

	memset(&c, 0, sizeof(c));
	c.path = path;
	c.policy = CTG_LOG_ALL;
	c.producers = 1;
	c.queue_records = 65536;
	c.batch_max = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 4096;
	c.batch_ms = 200;
	c.memory_bound_records = 100000;
	c.block_when_full = true;
	struct ctg_logexport_config ec = { .socket_path = getenv("CTG_BENCH_EXPORT"),
		.facility = -1, .tag = "bench" };
	if (ec.socket_path != NULL && ec.socket_path[0] != '\0')
		c.export = &ec;
	remove_db(path);
	log = ctg_auditlog_open(&c, err, sizeof(err));
	if (log == NULL) {
		fprintf(stderr, "bench_auditlog: %s\n", err);
		return 1;
	}

	clock_gettime(CLOCK_REALTIME, &t);
	base = (uint64_t)t.tv_sec * 1000000;
	memset(&v, 0, sizeof(v));
	v.tuple.family = 4;
	v.tuple.proto = 6;
	v.tuple.dst.b[0] = 192;
	v.tuple.dst.b[1] = 168;
	v.tuple.dst.b[3] = 1;
	v.tuple.dport = 443;
	v.tcp_flags = CTG_TH_ACK;
	v.ctstate = CTG_CT_ESTABLISHED;
	v.orig_before = v.orig_after = CTG_TCPS_ESTABLISHED;
	v.resp_before = v.resp_after = CTG_TCPS_ESTABLISHED;
	snprintf(v.rule, sizeof(v.rule), "web");

	t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		/* vary what the indexes see, as real traffic would */
		v.time_us = base + i;
		v.conn_id = i / 8 + 1;
		v.packet_no = i;
		v.tuple.src.b[0] = 10;
		v.tuple.src.b[1] = (uint8_t)(i >> 16);
		v.tuple.src.b[2] = (uint8_t)(i >> 8);
		v.tuple.src.b[3] = (uint8_t)i;
		v.tuple.sport = (uint16_t)(1024 + i % 60000);
		v.verdict = i % 10 == 0 ? CTG_ACT_DROP : CTG_ACT_ACCEPT;
		v.reason = i % 10 == 0 ? CTG_R_TCP_SEQ_ABOVE_WINDOW : CTG_R_NONE;
		v.length = (uint32_t)(40 + i % 1400);
		ctg_auditlog_put_verdict(log, 0, &v);
	}
	if (ctg_auditlog_sync(log, 600000) != 0) {
		fprintf(stderr, "bench_auditlog: sync timed out\n");
		ctg_auditlog_close(log);
		return 1;
	}
	t1 = now_s();
	ctg_auditlog_stats(log, &st);
	ctg_auditlog_close(log);

	printf("records: %lu  batch_max: %u  written: %llu  dropped: %llu  "
	    "batches: %llu\n", n, c.batch_max, (unsigned long long)st.written,
	    (unsigned long long)st.dropped, (unsigned long long)st.batches);
	printf("time: %.3f s  rate: %.0f rows/s\n", t1 - t0,
	    (double)st.written / (t1 - t0));
	if (c.export != NULL)
		printf("exported: %llu  export_dropped: %llu (at the commit of the last row)\n",
		    (unsigned long long)st.exported, (unsigned long long)st.export_dropped);
	return st.written == n && st.dropped == 0 ? 0 : 1;
}
