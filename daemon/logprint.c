/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Output of the audit queries: an aligned table for people, one JSON object
 * per line or RFC 4180 CSV for scripts. Values come from a database that
 * may hold anything, so every text is escaped for its format.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctguard/escape.h"
#include "ctguard/proto.h"
#include "logcli-int.h"

/*
 * The verdict columns of `ctguard log`: the daemon's log.export prints
 * the same (logexport.c), so that both streams carry the same fields.
 */
const struct col lc_log_cols[] = {
	{ "id", "id", K_INT, true },
	{ "time", "time_us", K_TIME, true },
	{ "conn_id", "conn_id", K_INT, true },
	{ "direction", "direction", K_TEXT, false },
	{ "proto", "proto", K_PROTO, true },
	{ "src", "src", K_TEXT, true },
	{ "sport", "sport", K_INT, true },
	{ "dst", "dst", K_TEXT, true },
	{ "dport", "dport", K_INT, true },
	{ "tcp_flags", "tcp_flags", K_TEXT, true },
	{ "ctstate", "ctstate", K_TEXT, true },
	{ "orig_before", "orig_before", K_TEXT, false },
	{ "resp_before", "resp_before", K_TEXT, false },
	{ "orig_after", "orig_after", K_TEXT, false },
	{ "resp_after", "resp_after", K_TEXT, false },
	{ "verdict", "verdict", K_TEXT, true },
	{ "reason", "reason", K_TEXT, true },
	{ "rule", "rule", K_TEXT, true },
	{ "queue", "queue", K_INT, false },
	{ "length", "length", K_INT, true },
};

const int lc_log_ncols = (int)(sizeof(lc_log_cols) / sizeof(lc_log_cols[0]));

void
lc_select_list(const struct col *cols, int ncols, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "SELECT ");

	for (int i = 0; i < ncols && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", cols[i].expr);
}

void
lc_format_time(long long us, char *buf, size_t len)
{
	time_t sec = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	if (gmtime_r(&sec, &tm) == NULL) {
		snprintf(buf, len, "%lld", us);
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, frac);
}

char *
lc_format_cell(enum kind kind, sqlite3_stmt *st, int i, enum jtype *jt)
{
	char buf[64];
	long long v;

	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		*jt = J_NULL;
		return strdup("");
	}
	v = sqlite3_column_int64(st, i);
	switch (kind) {
	case K_INT:
		*jt = J_NUM;
		snprintf(buf, sizeof(buf), "%lld", v);
		return strdup(buf);
	case K_TIME:
		*jt = J_STR;
		lc_format_time(v, buf, sizeof(buf));
		return strdup(buf);
	case K_DURATION: {
		/* -LLONG_MIN overflows; and -0.5 s must keep its sign */
		unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v :
		    (unsigned long long)v;

		*jt = J_NUM;
		snprintf(buf, sizeof(buf), "%s%llu.%06llu", v < 0 ? "-" : "",
		    m / 1000000, m % 1000000);
		return strdup(buf);
	}
	case K_PROTO: {
		/* a corrupt row may hold any integer: only 0-255 can have a name */
		const char *name = v >= 0 && v <= 255 ? ctg_proto_name((unsigned)v) : NULL;

		if (name != NULL) {
			*jt = J_STR;
			return strdup(name);
		}
		*jt = J_NUM;
		snprintf(buf, sizeof(buf), "%lld", v);
		return strdup(buf);
	}
	case K_TEXT:
	default: {
		const char *t = (const char *)sqlite3_column_text(st, i);

		*jt = J_STR;
		/*
		 * The value is not NULL (checked above), so a NULL pointer is
		 * a failed conversion: out of memory, which the caller reports.
		 */
		if (t == NULL) {
			if (sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
				return NULL;
			t = "";
		}
		return strdup(t);
	}
	}
}

/*
 * The database may hold anything (a crafted or corrupt file): control
 * bytes are shown as \xNN in table and csv, \u00NN in json, and never
 * reach the terminal as they are (escape.c).
 */

static bool
right_aligned(enum kind k)
{
	return k == K_INT || k == K_DURATION;
}

int
lc_printer_init(struct printer *p, FILE *out, enum fmt fmt,
    const struct col *cols, int ncols)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->fmt = fmt;
	p->cols = cols;
	p->ncols = ncols;
	p->width = calloc((size_t)ncols, sizeof(*p->width));
	return p->width == NULL ? -1 : 0;
}

void
lc_printer_free(struct printer *p)
{
	for (size_t i = 0; i < p->nrows * (size_t)p->ncols; i++)
		free(p->cells[i].text);
	free(p->cells);
	free(p->width);
	p->cells = NULL;
	p->width = NULL;
}

static void
print_line(struct printer *p, const struct cell *row, bool header)
{
	int last = -1;

	for (int i = 0; i < p->ncols; i++)
		if (p->cols[i].table)
			last = i;
	for (int i = 0; i < p->ncols; i++) {
		const char *s;
		int w = p->width[i];

		if (!p->cols[i].table)
			continue;
		if (header)
			s = p->cols[i].name;
		else
			s = row[i].jt == J_NULL ? "-" : row[i].text;
		if (!header && right_aligned(p->cols[i].kind))
			fprintf(p->out, "%*s", w, s);
		else if (i == last)
			fputs(s, p->out);
		else
			fprintf(p->out, "%-*s", w, s);
		fputs(i == last ? "\n" : "  ", p->out);
	}
}

void
lc_table_flush(struct printer *p)
{
	if (!p->widths_fixed) {
		for (int i = 0; i < p->ncols; i++) {
			int w = (int)strlen(p->cols[i].name);

			for (size_t r = 0; r < p->nrows; r++) {
				const struct cell *c = &p->cells[r * p->ncols + i];
				int l = c->jt == J_NULL ? 1 : (int)strlen(c->text);

				if (l > w)
					w = l;
			}
			p->width[i] = w;
		}
	}
	if (!p->header_done) {
		print_line(p, NULL, true);
		p->header_done = true;
	}
	for (size_t r = 0; r < p->nrows; r++)
		print_line(p, &p->cells[r * p->ncols], false);
	for (size_t i = 0; i < p->nrows * (size_t)p->ncols; i++)
		free(p->cells[i].text);
	p->nrows = 0;
}

int
lc_printer_row(struct printer *p, struct cell *row)
{
	if (p->fmt == FMT_TABLE) {
		for (int i = 0; i < p->ncols; i++) {
			char *e = ctg_escape_ctl(row[i].text);

			if (e == NULL)
				return -1;
			row[i].text = e;
		}
		if (p->nrows == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 64;
			struct cell *c = realloc(p->cells,
			    cap * (size_t)p->ncols * sizeof(*c));

			if (c == NULL)
				return -1;
			p->cells = c;
			p->cap = cap;
		}
		memcpy(&p->cells[p->nrows * p->ncols], row,
		    (size_t)p->ncols * sizeof(*row));
		p->nrows++;
		return 0;
	}
	if (p->fmt == FMT_CSV) {
		if (!p->header_done) {
			for (int i = 0; i < p->ncols; i++) {
				fputs(i ? "," : "", p->out);
				ctg_escape_csv(p->out, p->cols[i].name);
			}
			fputs("\r\n", p->out);
			p->header_done = true;
		}
		for (int i = 0; i < p->ncols; i++) {
			fputs(i ? "," : "", p->out);
			ctg_escape_csv(p->out, row[i].text);
		}
		fputs("\r\n", p->out);
	} else {
		fputc('{', p->out);
		for (int i = 0; i < p->ncols; i++) {
			fputs(i ? "," : "", p->out);
			ctg_escape_quoted(p->out, p->cols[i].name, CTG_ESC_JSON);
			fputc(':', p->out);
			if (row[i].jt == J_NULL)
				fputs("null", p->out);
			else if (row[i].jt == J_NUM)
				fputs(row[i].text, p->out);
			else
				ctg_escape_quoted(p->out, row[i].text, CTG_ESC_JSON);
		}
		fputs("}\n", p->out);
	}
	for (int i = 0; i < p->ncols; i++)
		free(row[i].text);
	return 0;
}

/* Header only for csv and table when there are no rows at all. */
void
lc_printer_end(struct printer *p)
{
	if (p->fmt == FMT_TABLE)
		lc_table_flush(p);
	else if (p->fmt == FMT_CSV && !p->header_done) {
		for (int i = 0; i < p->ncols; i++) {
			fputs(i ? "," : "", p->out);
			ctg_escape_csv(p->out, p->cols[i].name);
		}
		fputs("\r\n", p->out);
		p->header_done = true;
	}
	fflush(p->out);
}
