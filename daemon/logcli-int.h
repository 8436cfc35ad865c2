/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the `ctguard log|history|summary` commands: logcli.c (options),
 * logprint.c (table, json and csv output), logquery.c (the SQL).
 */
#ifndef CTGUARD_LOGCLI_INT_H
#define CTGUARD_LOGCLI_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

enum cmd {
	CMD_LOG,
	CMD_HISTORY,
	CMD_SUMMARY,
	CMD_EVENTS
};

enum fmt {
	FMT_TABLE,
	FMT_JSON,
	FMT_CSV
};

struct range {
	bool set;
	uint8_t lo[16];
	uint8_t hi[16];
};

struct opts {
	enum cmd cmd;
	const char *db;
	bool has_since, has_until;
	long long since_us, until_us;
	const char *verdict;
	const char *reason;
	struct range src, dst;
	long port;              /* -1 = any */
	struct range nat_addr;  /* history: the public side of a NAT mapping */
	long nat_port;          /* -1 = any */
	long proto;             /* -1 = any */
	const char *rule;
	bool has_conn;
	long long conn;
	long long limit;        /* 0 = no limit */
	enum fmt fmt;
	bool follow;
	long long follow_ms;    /* -1 = until interrupted */
	bool has_after_id;      /* rows after this cursor only: log and events */
	long long after_id;     /* --after-id (id), history --after-seq (seq) */
	const char *kind;       /* events: --kind */
};

/* Column kinds: how a value is shown. */
enum kind {
	K_INT,
	K_TEXT,
	K_TIME,                 /* microseconds since the epoch */
	K_DURATION,             /* microseconds, shown as seconds */
	K_PROTO
};

struct col {
	const char *name;
	const char *expr;
	enum kind kind;
	bool table;             /* shown in the table format */
};

enum jtype {
	J_NULL,
	J_NUM,
	J_STR
};

struct cell {
	char *text;
	enum jtype jt;
};

struct printer {
	FILE *out;
	enum fmt fmt;
	const struct col *cols;
	int ncols;
	bool header_done;
	bool widths_fixed;      /* follow: keep the first widths */
	int *width;
	struct cell *cells;     /* table: buffered rows, ncols per row */
	size_t nrows, cap;
};

/* logprint.c */
extern const struct col lc_log_cols[];
extern const int lc_log_ncols;
/* "SELECT expr, expr ..." of cols into buf. */
void lc_select_list(const struct col *cols, int ncols, char *buf, size_t len);
void lc_format_time(long long us, char *buf, size_t len);
/* Column i of the current row as shown for kind; NULL when out of memory. */
char *lc_format_cell(enum kind kind, sqlite3_stmt *st, int i, enum jtype *jt);
int lc_printer_init(struct printer *p, FILE *out, enum fmt fmt,
    const struct col *cols, int ncols);
void lc_printer_free(struct printer *p);
/* Takes the row's texts, except on failure (-1): then they stay the caller's. */
int lc_printer_row(struct printer *p, struct cell *row);
void lc_table_flush(struct printer *p);
void lc_printer_end(struct printer *p);

/* logquery.c: each returns the exit status */
int lc_open_db(const char *path, sqlite3 **out, FILE *err);
/* The one message for a failed database call: not SQLite, corrupt, locked... (returns 1). */
int lc_db_error(sqlite3 *db, const char *path, int rc, FILE *err);
int lc_cmd_rows(sqlite3 *db, const struct opts *o, FILE *out, FILE *err);
int lc_cmd_summary(sqlite3 *db, const struct opts *o, FILE *out, FILE *err);

#endif
