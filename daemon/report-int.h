/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard report`, private: what the rooms of the report share. Only the
 * daemon/report*.c sources include this; the command's public face is
 * ctguard/report.h.
 *
 * The rooms:
 *   report-scan.c  the aggregating scans over the audit database: the
 *                  string maps and counters, the tally functions SQLite
 *                  calls per row, the sliced table scans on threads, the
 *                  time bounds and the events
 *   report-html.c  the page: CSS, the SVG charts, the TCP state diagram
 *   report.c       the command: options, the period, the order of the
 *                  scans, writing the page whole
 * Non-static functions are ctg_report_main (public) or report_* (private,
 * declared below by the file that defines them).
 *
 * Every string that comes from the database is HTML-escaped on output, and
 * every query takes its values as bound parameters.
 */
#ifndef CTGUARD_REPORT_INT_H
#define CTGUARD_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "ctguard/tcpfsm.h"

#define NB 60                   /* time buckets */
#define NDUR 9
#define NSIZE 8

/* --- string -> dense index ------------------------------------------------ */

struct smap {
	char **keys;
	uint32_t *slot;                 /* index + 1; 0 empty */
	size_t cap, n;
};

long report_smap_get(struct smap *m, const char *key);
void report_smap_free(struct smap *m);

/* A growable array of counters, indexed like a smap. */
struct counts {
	uint64_t *v;
	size_t n, width;                /* width counters per index */
};

int report_counts_add(struct counts *c, long idx, size_t col, uint64_t by);
uint64_t report_counts_get(const struct counts *c, size_t idx, size_t col);

/* --- what the scans gather ------------------------------------------------ */

enum { V_ACCEPT, V_DROP, V_REJECT, V_OTHER, V_N };

struct report {
	long long t0, t1, bw;           /* [t0, t1), bucket width (us) */
	bool oom;
	uint64_t verdicts;
	uint64_t vb[NB][V_N];
	uint64_t vtotal[V_N];
	struct smap reasons;            /* drop reasons */
	struct counts reason_b;         /* [reason][NB + 1], last: total */
	struct smap rules;
	struct counts rule_v;           /* [rule][V_N] */
	struct smap srcs, dsts;         /* of drops */
	struct counts src_n, dst_n;
	uint64_t moves[CTG_TCPS_COUNT][CTG_TCPS_COUNT];
	struct smap refused;            /* "ob\tb\treason" of refused TCP packets */
	struct counts refused_n;
	uint64_t conns;
	struct smap cstates;
	struct counts cstate_n;
	uint64_t dur[NDUR], size[NSIZE];
};

void report_init(struct report *r);
void report_free(struct report *r);

/* --- report-scan.c: database ---------------------------------------------- */

struct bounds {
	long long lo, hi;
	bool any;
};

struct event {
	long long t, count;
	char *kind, *detail;
};

struct events {
	struct event *v;
	size_t n;
	long long more;                 /* past MAX_EVENTS */
	long long counters;             /* periodic counter snapshots, not drawn */
};

int report_open_db(const char *path, sqlite3 **out, FILE *err);
/* Run a statement with nparam (0-2) int64 parameters; each row to fn. */
int report_query(sqlite3 *db, const char *path, const char *sql, int nparam, long long p1,
    long long p2, int (*fn)(void *, sqlite3_stmt *), void *arg, FILE *err);
/* Row callbacks for report_query: min and max into a struct bounds, events. */
int report_take_bounds(void *arg, sqlite3_stmt *st);
int report_take_event(void *arg, sqlite3_stmt *st);
void report_events_free(struct events *e);
/* The tally functions the scans call, registered on db with r as their data. */
int report_register_fns(sqlite3 *db, struct report *r);
/* One scan of table's rows in [r->t0, r->t1) through the tally call. */
int report_scan(sqlite3 *db, const char *path, struct report *r, const char *table,
    const char *tcol, const char *call, FILE *err);

/* --- report-html.c -------------------------------------------------------- */

void report_write_page(FILE *f, const struct report *r, const struct events *ev,
    const char *db);

#endif
