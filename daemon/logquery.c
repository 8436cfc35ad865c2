/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit queries behind `ctguard log`, `history` and `summary`.
 *
 * The database is opened read-only, so a query never takes the writer's
 * lock and cannot corrupt the log. Every filter is a bound parameter. CIDR
 * filters use the 16-byte address columns, where IPv4 sits in the
 * ::ffff:0:0/96 range, so one BETWEEN on one index covers both families.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ctguard/auditlog.h"
#include "ctguard/logcli.h"
#include "logcli-int.h"

#define BUSY_TIMEOUT_MS 2000
#define FOLLOW_POLL_MS  200
#define ROTATE_OPEN_TRIES 50    /* polls: 10 s for a new file to become readable */
#define MAX_PARAMS      32
#define TOP_N           10

static const struct col history_cols[] = {
	{ "id", "id", K_INT, true },
	{ "first", "first_us", K_TIME, true },
	{ "last", "last_us", K_TIME, false },
	{ "duration", "last_us - first_us", K_DURATION, true },
	{ "proto", "proto", K_PROTO, true },
	{ "src", "src", K_TEXT, true },
	{ "sport", "sport", K_INT, true },
	{ "dst", "dst", K_TEXT, true },
	{ "dport", "dport", K_INT, true },
	{ "conn_state", "conn_state", K_TEXT, true },
	{ "history", "history", K_TEXT, true },
	{ "orig_pkts", "orig_pkts", K_INT, true },
	{ "orig_bytes", "orig_bytes", K_INT, true },
	{ "resp_pkts", "resp_pkts", K_INT, true },
	{ "resp_bytes", "resp_bytes", K_INT, true },
	{ "orig_state", "orig_state", K_TEXT, false },
	{ "resp_state", "resp_state", K_TEXT, false },
	{ "end_reason", "end_reason", K_TEXT, true },
	{ "rule", "rule", K_TEXT, true },
	/* the kernel's NAT mapping of the connection (schema 2; NULL: none) */
	{ "nat_src", "nat_src", K_TEXT, true },
	{ "nat_sport", "nat_sport", K_INT, true },
	{ "nat_dst", "nat_dst", K_TEXT, true },
	{ "nat_dport", "nat_dport", K_INT, true },
	/* the stream position (schema 4): the order rows were written in */
	{ "seq", "seq", K_INT, false },
};

/* Before schema 2 there is no mapping to show, before 4 no seq. */
#define HISTORY_V1_SOURCE "(SELECT *, NULL AS nat_src, NULL AS nat_sport," \
	" NULL AS nat_dst, NULL AS nat_dport, NULL AS nat_src_bin," \
	" NULL AS nat_dst_bin, NULL AS seq FROM connections)"
#define HISTORY_V2_SOURCE "(SELECT *, NULL AS seq FROM connections_nat)"

static const struct col events_cols[] = {
	{ "id", "id", K_INT, true },
	{ "time", "time_us", K_TIME, true },
	{ "kind", "kind", K_TEXT, true },
	{ "count", "count", K_INT, true },
	{ "detail", "detail", K_TEXT, true },
};

static const struct col summary_cols[] = {
	{ "group", NULL, K_TEXT, true },
	{ "key", NULL, K_TEXT, true },
	{ "count", NULL, K_INT, true },
};

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Bound parameters of the WHERE clause. */
struct params {
	int n;
	struct {
		enum { P_INT, P_TEXT, P_BLOB } type;
		long long i;
		const void *p;
	} v[MAX_PARAMS];
};

static void
add_param(struct params *p, int type, long long i, const void *ptr)
{
	p->v[p->n].type = type;
	p->v[p->n].i = i;
	p->v[p->n].p = ptr;
	p->n++;
}

static void
append(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s", s);
}

/*
 * The NAT filters, on the columns of nat (prefix "n.") or of
 * connections_nat (""). Address and port must be the same side's (the
 * source after SNAT, or the destination before DNAT); a single address is
 * an equality, so that (address, port) is one seek in nat's indexes.
 */
static void
nat_side(const struct opts *o, const char *pre, const char *side, const char *port,
    char *w, size_t wlen, struct params *p)
{
	char buf[160];
	bool one = o->nat_addr.set && memcmp(o->nat_addr.lo, o->nat_addr.hi, 16) == 0;

	snprintf(buf, sizeof(buf), "(1");
	if (one) {
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " AND %snat_%s_bin = ?",
		    pre, side);
		add_param(p, P_BLOB, 0, o->nat_addr.lo);
	} else if (o->nat_addr.set) {
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
		    " AND %snat_%s_bin BETWEEN ? AND ?", pre, side);
		add_param(p, P_BLOB, 0, o->nat_addr.lo);
		add_param(p, P_BLOB, 0, o->nat_addr.hi);
	}
	if (o->nat_port >= 0) {
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " AND %snat_%s = ?",
		    pre, port);
		add_param(p, P_INT, o->nat_port, NULL);
	}
	append(w, wlen, buf);
	append(w, wlen, ")");
}

static void
nat_where(const struct opts *o, const char *pre, char *w, size_t wlen, struct params *p)
{
	append(w, wlen, " AND (");
	nat_side(o, pre, "src", "sport", w, wlen, p);
	append(w, wlen, " OR ");
	nat_side(o, pre, "dst", "dport", w, wlen, p);
	append(w, wlen, ")");
}

/*
 * WHERE clause for verdicts (log, summary) or connections (history).
 * has_nat: the database has the nat table (schema 2).
 */
static void
build_where(const struct opts *o, bool has_nat, char *w, size_t wlen, struct params *p)
{
	bool conns = o->cmd == CMD_HISTORY;

	snprintf(w, wlen, " WHERE 1");
	if (o->cmd == CMD_EVENTS) {
		if (o->has_since) {
			append(w, wlen, " AND time_us >= ?");
			add_param(p, P_INT, o->since_us, NULL);
		}
		if (o->has_until) {
			append(w, wlen, " AND time_us < ?");
			add_param(p, P_INT, o->until_us, NULL);
		}
		if (o->kind != NULL) {
			append(w, wlen, " AND kind = ?");
			add_param(p, P_TEXT, 0, o->kind);
		}
		if (o->has_after_id) {
			append(w, wlen, " AND id > ?");
			add_param(p, P_INT, o->after_id, NULL);
		}
		return;
	}
	if (o->has_since) {
		/* A connection is in range when any of it is. */
		append(w, wlen, conns ? " AND last_us >= ?" : " AND time_us >= ?");
		add_param(p, P_INT, o->since_us, NULL);
	}
	if (o->has_until) {
		append(w, wlen, conns ? " AND first_us < ?" : " AND time_us < ?");
		add_param(p, P_INT, o->until_us, NULL);
	}
	if (o->verdict != NULL) {
		append(w, wlen, " AND verdict = ?");
		add_param(p, P_TEXT, 0, o->verdict);
		/*
		 * The verdict index holds drops and rejects only (accepts are
		 * most rows and few questions); saying so lets SQLite use it.
		 */
		if (strcmp(o->verdict, "accept") != 0)
			append(w, wlen, " AND verdict <> 'accept'");
	}
	if (o->reason != NULL) {
		append(w, wlen, " AND reason = ?");
		add_param(p, P_TEXT, 0, o->reason);
	}
	if (o->src.set) {
		append(w, wlen, " AND src_bin BETWEEN ? AND ?");
		add_param(p, P_BLOB, 0, o->src.lo);
		add_param(p, P_BLOB, 0, o->src.hi);
	}
	if (o->dst.set) {
		append(w, wlen, " AND dst_bin BETWEEN ? AND ?");
		add_param(p, P_BLOB, 0, o->dst.lo);
		add_param(p, P_BLOB, 0, o->dst.hi);
	}
	if (o->port >= 0) {
		append(w, wlen, " AND (sport = ? OR dport = ?)");
		add_param(p, P_INT, o->port, NULL);
		add_param(p, P_INT, o->port, NULL);
	}
	if (o->proto >= 0) {
		append(w, wlen, " AND proto = ?");
		add_param(p, P_INT, o->proto, NULL);
	}
	if (o->rule != NULL) {
		append(w, wlen, " AND rule = ?");
		add_param(p, P_TEXT, 0, o->rule);
	}
	if (o->has_conn) {
		append(w, wlen, conns ? " AND id = ?" : " AND conn_id = ?");
		add_param(p, P_INT, o->conn, NULL);
	}
	if (conns && (o->nat_addr.set || o->nat_port >= 0)) {
		/*
		 * Find the few mappings first, through nat's indexes, rather
		 * than joining every connection to its mapping and filtering
		 * after (seconds on a million connections); the filter on the
		 * view's columns then keeps the mapping each row is shown with.
		 */
		if (has_nat) {
			append(w, wlen, " AND id IN (SELECT c.id FROM nat n JOIN connections c"
			    " ON c.src_bin = n.src_bin AND c.sport = n.sport AND c.dst_bin = n.dst_bin"
			    " AND c.dport = n.dport AND c.proto = n.proto WHERE 1");
			nat_where(o, "n.", w, wlen, p);
			append(w, wlen, ")");
		}
		nat_where(o, "", w, wlen, p);
	}
	/*
	 * The shipper's cursor: verdict ids and connection seqs only grow,
	 * across files too (the writer continues them after a rotation).
	 */
	if (o->has_after_id) {
		append(w, wlen, conns ? " AND seq > ?" : " AND id > ?");
		add_param(p, P_INT, o->after_id, NULL);
	}
}

static void
bind_params(sqlite3_stmt *st, const struct params *p)
{
	for (int i = 0; i < p->n; i++) {
		switch (p->v[i].type) {
		case P_INT:
			sqlite3_bind_int64(st, i + 1, p->v[i].i);
			break;
		case P_TEXT:
			sqlite3_bind_text(st, i + 1, p->v[i].p, -1, SQLITE_STATIC);
			break;
		case P_BLOB:
			sqlite3_bind_blob(st, i + 1, p->v[i].p, 16, SQLITE_STATIC);
			break;
		}
	}
}

int
lc_db_error(sqlite3 *db, const char *path, int rc, FILE *err)
{
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		fprintf(err, "ctguard: %s is not a SQLite database\n", path);
		break;
	case SQLITE_CORRUPT:
		fprintf(err, "ctguard: database %s is corrupt\n", path);
		break;
	case SQLITE_NOMEM:
		fprintf(err, "ctguard: out of memory\n");
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		fprintf(err, "ctguard: database %s is locked (still busy after "
		    "%d ms)\n", path, BUSY_TIMEOUT_MS);
		break;
	default:
		fprintf(err, "ctguard: %s: %s\n", path, sqlite3_errmsg(db));
	}
	return 1;
}

/* Runs a prepared query to its end through the printer; column cursor into *last_id. */
static int
run_rows(sqlite3 *db, sqlite3_stmt *st, struct printer *pr, const char *path,
    long long *last_id, int cursor, FILE *err)
{
	struct cell row[32];
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < pr->ncols; i++)
			row[i].text = lc_format_cell(pr->cols[i].kind, st, i, &row[i].jt);
		if (last_id != NULL && sqlite3_column_type(st, cursor) != SQLITE_NULL)
			*last_id = sqlite3_column_int64(st, cursor);
		for (int i = 0; i < pr->ncols; i++) {
			if (row[i].text == NULL) {
				fprintf(err, "ctguard: out of memory\n");
				for (int j = 0; j < pr->ncols; j++)
					free(row[j].text);
				return 1;
			}
		}
		if (lc_printer_row(pr, row) == -1) {
			fprintf(err, "ctguard: out of memory\n");
			for (int j = 0; j < pr->ncols; j++)
				free(row[j].text);
			return 1;
		}
	}
	if (rc != SQLITE_DONE)
		return lc_db_error(db, path, rc, err);
	return 0;
}

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path,
    FILE *err)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		return lc_db_error(db, path, rc, err);
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int
schema_version(sqlite3 *db)
{
	int version = 0;
	sqlite3_stmt *vs;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &vs, NULL) == SQLITE_OK &&
	    sqlite3_step(vs) == SQLITE_ROW)
		version = sqlite3_column_int(vs, 0);
	sqlite3_finalize(vs);
	return version;
}

/*
 * After a rotation: the cursor holds when the new file's ids follow the
 * old one's (the writer continues them); a file whose ids start again
 * (written by an older ctguard) is read from its start.
 */
static long long
cursor_in_new_file(sqlite3 *db, const char *table, const char *cursor, long long last)
{
	char sql[256];
	sqlite3_stmt *st;
	long long keep = last;

	snprintf(sql, sizeof(sql), "SELECT min(%s) FROM %s", cursor, table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
	    sqlite3_column_int64(st, 0) <= last)
		keep = 0;
	sqlite3_finalize(st);
	return keep;
}

int
lc_cmd_rows(sqlite3 *db, const struct opts *o, FILE *out, FILE *err)
{
	const struct col *cols = o->cmd == CMD_LOG ? lc_log_cols :
	    o->cmd == CMD_EVENTS ? events_cols : history_cols;
	int ncols = o->cmd == CMD_LOG ? lc_log_ncols :
	    o->cmd == CMD_EVENTS ? NCOLS(events_cols) : NCOLS(history_cols);
	const char *table = o->cmd == CMD_LOG ? "verdicts" :
	    o->cmd == CMD_EVENTS ? "events" : "connections_nat";
	/* the stream position: connections are written at their end, in seq order */
	const char *cursor = o->cmd == CMD_HISTORY ? "seq" : "id";
	int cursor_col = o->cmd == CMD_HISTORY ? ncols - 1 : 0;
	const char *order = o->cmd == CMD_HISTORY && !o->follow && !o->has_after_id ?
	    "id" : cursor;
	char select[1024], where[2048], sql[8192];
	bool has_nat = true;
	struct params p = { 0 };
	struct printer pr;
	sqlite3_stmt *st;
	sqlite3 *cur = db;      /* the file being followed */
	struct stat seen;
	long long last_id = 0, waited = 0;
	int rc, open_tries = 0;

	lc_select_list(cols, ncols, select, sizeof(select));
	if (o->cmd == CMD_HISTORY) {
		int version = schema_version(db);

		if (version < 2) {
			table = HISTORY_V1_SOURCE;
			has_nat = false;
		} else if (version < 4)
			table = HISTORY_V2_SOURCE;
	}
	build_where(o, has_nat, where, sizeof(where), &p);
	if (o->limit > 0)
		snprintf(sql, sizeof(sql), "SELECT * FROM (%s FROM %s%s ORDER BY "
		    "%s DESC LIMIT %lld) ORDER BY %s", select, table, where,
		    order, o->limit, order);
	else
		snprintf(sql, sizeof(sql), "%s FROM %s%s ORDER BY %s", select,
		    table, where, order);
	if (prepare(db, sql, &st, o->db, err) != 0)
		return 1;
	bind_params(st, &p);
	if (lc_printer_init(&pr, out, o->fmt, cols, ncols) == -1) {
		sqlite3_finalize(st);
		lc_printer_free(&pr);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	if (o->has_after_id)
		last_id = o->after_id;
	rc = run_rows(db, st, &pr, o->db, &last_id, cursor_col, err);
	sqlite3_finalize(st);
	if (rc != 0)
		goto out;
	lc_printer_end(&pr);
	if (!o->follow)
		goto out;

	/*
	 * Poll by cursor: new rows only, same filters, widths kept. When the
	 * path names another file (the log was rotated: moved away, then the
	 * daemon reopened it), the old file is read to its end first, then
	 * the new one after the same cursor, so a follower loses and repeats
	 * nothing.
	 */
	pr.widths_fixed = true;
	{
		/* the cursor below replaces --after-id, which a new file must not see */
		struct opts fo = *o;

		fo.has_after_id = false;
		memset(&p, 0, sizeof(p));
		build_where(&fo, false, where, sizeof(where), &p);
	}
	snprintf(sql, sizeof(sql), "%s FROM %s%s AND %s > ? ORDER BY %s",
	    select, table, where, cursor, cursor);
	if (stat(o->db, &seen) == -1)
		memset(&seen, 0, sizeof(seen));
	if (prepare(cur, sql, &st, o->db, err) != 0) {
		rc = 1;
		goto out;
	}
	for (;;) {
		struct stat now;
		bool rotated;

		if (o->follow_ms >= 0 && waited >= o->follow_ms)
			break;
		sleep_ms(FOLLOW_POLL_MS);
		waited += FOLLOW_POLL_MS;
		rotated = stat(o->db, &now) == 0 && seen.st_ino != 0 &&
		    (now.st_ino != seen.st_ino || now.st_dev != seen.st_dev);
		bind_params(st, &p);
		sqlite3_bind_int64(st, p.n + 1, last_id);
		rc = run_rows(cur, st, &pr, o->db, &last_id, cursor_col, err);
		sqlite3_reset(st);
		if (rc != 0)
			break;
		if (rotated) {
			sqlite3 *next;
			FILE *quiet = fopen("/dev/null", "we");
			int orc;

			/*
			 * The old file read to its end above: on to the new one.
			 * The daemon may be creating it right now (no schema yet):
			 * keep reading the old file and try again next turn, for
			 * a while, before saying why it cannot be read.
			 */
			orc = lc_open_db(o->db, &next, quiet != NULL ? quiet : err);
			if (quiet != NULL)
				fclose(quiet);
			if (orc != 0 && ++open_tries < ROTATE_OPEN_TRIES)
				continue;
			if (orc != 0 && lc_open_db(o->db, &next, err) != 0) {
				rc = 1;
				break;
			}
			open_tries = 0;
			sqlite3_finalize(st);
			st = NULL;
			if (cur != db)
				sqlite3_close(cur);
			cur = next;
			seen = now;
			last_id = cursor_in_new_file(cur, o->cmd == CMD_HISTORY ?
			    "connections" : table, cursor, last_id);
			if (prepare(cur, sql, &st, o->db, err) != 0) {
				rc = 1;
				break;
			}
			continue;
		}
		if (pr.fmt == FMT_TABLE)
			lc_table_flush(&pr);
		fflush(out);
	}
	sqlite3_finalize(st);
out:
	if (cur != db)
		sqlite3_close(cur);
	lc_printer_free(&pr);
	return rc;
}

static int
summary_group(sqlite3 *db, const struct opts *o, const char *group,
    const char *expr, int limit, struct printer *pr, FILE *out, FILE *err)
{
	static const struct col cols[] = {
		{ NULL, NULL, K_TEXT, true },
		{ "count", NULL, K_INT, true },
	};
	struct col named[2];
	char where[1024], sql[2048];
	struct params p = { 0 };
	struct printer tpr;
	sqlite3_stmt *st;
	int rc;

	build_where(o, false, where, sizeof(where), &p);
	snprintf(sql, sizeof(sql), "SELECT '%s', %s, count(*) FROM verdicts%s "
	    "GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT %d", group, expr, where,
	    limit > 0 ? limit : -1);
	if (prepare(db, sql, &st, o->db, err) != 0)
		return 1;
	bind_params(st, &p);
	if (pr->fmt != FMT_TABLE) {
		rc = run_rows(db, st, pr, o->db, NULL, 0, err);
		sqlite3_finalize(st);
		return rc;
	}
	/* Table: one small aligned table per group, without the group column. */
	memcpy(named, cols, sizeof(named));
	named[0].name = group;
	if (lc_printer_init(&tpr, out, FMT_TABLE, named, 2) == -1) {
		sqlite3_finalize(st);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cell row[2];

		row[0].text = lc_format_cell(K_TEXT, st, 1, &row[0].jt);
		row[1].text = lc_format_cell(K_INT, st, 2, &row[1].jt);
		if (row[0].text == NULL || row[1].text == NULL ||
		    lc_printer_row(&tpr, row) == -1) {
			free(row[0].text);
			free(row[1].text);
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		lc_printer_free(&tpr);
		return lc_db_error(db, o->db, rc, err);
	}
	fputc('\n', out);
	lc_table_flush(&tpr);
	lc_printer_free(&tpr);
	return 0;
}

int
lc_cmd_summary(sqlite3 *db, const struct opts *o, FILE *out, FILE *err)
{
	static const struct {
		const char *group;
		const char *expr;
		int limit;
	} groups[] = {
		{ "verdict", "verdict", 0 },
		{ "reason", "reason", 0 },
		{ "rule", "rule", 0 },
		{ "src", "src", TOP_N },
		{ "dst", "dst", TOP_N },
	};
	char where[1024], sql[2048];
	struct params p = { 0 };
	struct printer pr;
	sqlite3_stmt *st;
	int rc;

	build_where(o, false, where, sizeof(where), &p);
	snprintf(sql, sizeof(sql), "SELECT 'total', NULL, count(*), min(time_us),"
	    " max(time_us) FROM verdicts%s", where);
	if (prepare(db, sql, &st, o->db, err) != 0)
		return 1;
	bind_params(st, &p);
	if (lc_printer_init(&pr, out, o->fmt, summary_cols,
	    NCOLS(summary_cols)) == -1) {
		sqlite3_finalize(st);
		lc_printer_free(&pr);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		lc_printer_free(&pr);
		return lc_db_error(db, o->db, rc, err);
	}
	if (o->fmt == FMT_TABLE) {
		char first[64] = "-", last[64] = "-";

		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			lc_format_time(sqlite3_column_int64(st, 3), first, sizeof(first));
			lc_format_time(sqlite3_column_int64(st, 4), last, sizeof(last));
		}
		fprintf(out, "verdicts: %lld\nfirst: %s\nlast: %s\n",
		    (long long)sqlite3_column_int64(st, 2), first, last);
	} else {
		struct cell row[3];

		row[0].text = strdup("total");
		row[0].jt = J_STR;
		row[1].text = strdup("");
		row[1].jt = J_NULL;
		row[2].text = lc_format_cell(K_INT, st, 2, &row[2].jt);
		if (row[0].text == NULL || row[1].text == NULL ||
		    row[2].text == NULL || lc_printer_row(&pr, row) == -1) {
			free(row[0].text);
			free(row[1].text);
			free(row[2].text);
			rc = SQLITE_NOMEM;
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_NOMEM) {
		lc_printer_free(&pr);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	rc = 0;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]) && rc == 0; g++)
		rc = summary_group(db, o, groups[g].group, groups[g].expr,
		    groups[g].limit, &pr, out, err);
	/* Table groups printed themselves; pr only carries json and csv. */
	if (rc == 0 && o->fmt != FMT_TABLE)
		lc_printer_end(&pr);
	fflush(out);
	lc_printer_free(&pr);
	return rc;
}

/* "file:" URI with the characters URIs reserve escaped. */
static char *
make_uri(const char *path)
{
	size_t len = strlen(path);
	char *uri = malloc(len * 3 + 16), *q;

	if (uri == NULL)
		return NULL;
	q = uri + sprintf(uri, "file:");
	for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
		if (*s == '%' || *s == '?' || *s == '#' || *s < 0x20 || *s >= 0x7f)
			q += sprintf(q, "%%%02X", *s);
		else
			*q++ = (char)*s;
	}
	strcpy(q, "?mode=ro");
	return uri;
}

int
lc_open_db(const char *path, sqlite3 **out, FILE *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	struct stat sb;
	char *uri;
	int rc, version = 0;

	if (stat(path, &sb) == -1) {
		if (errno == ENOENT)
			fprintf(err, "ctguard: no audit database at %s\n", path);
		else
			fprintf(err, "ctguard: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(err, "ctguard: %s is not a SQLite database\n", path);
		return 1;
	}
	uri = make_uri(path);
	if (uri == NULL) {
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	    NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		fprintf(err, "ctguard: cannot open %s: %s\n", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return 1;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		version = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_ROW) {
		lc_db_error(db, path, rc, err);
		sqlite3_close(db);
		return 1;
	}
	if (version > CTG_AUDITLOG_SCHEMA_VERSION) {
		fprintf(err, "ctguard: database schema version %d is newer than "
		    "this ctguard (%d)\n", version, CTG_AUDITLOG_SCHEMA_VERSION);
		sqlite3_close(db);
		return 1;
	}
	if (version < 1) {
		fprintf(err, "ctguard: %s is not a ctguard audit database\n", path);
		sqlite3_close(db);
		return 1;
	}
	*out = db;
	return 0;
}
