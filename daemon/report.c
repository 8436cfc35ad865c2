/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard report`: the command. Reads the options, finds the period,
 * runs the scans (report-scan.c) and writes the page (report-html.c)
 * whole: to a temporary file renamed into place when -o is given.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctguard/clock.h"
#include "ctguard/logcli.h"
#include "ctguard/report.h"
#include "logcli-int.h"
#include "report-int.h"

static void
usage(FILE *f)
{
	fputs("usage: ctguard report [-d DB] [--since TIME] [--until TIME] [-o FILE]\n"
	    "  -d, --db PATH       audit database (default " CTG_LOGCLI_DEFAULT_DB ")\n"
	    "      --since TIME    from TIME, inclusive (as ctguard log takes it:\n"
	    "                      2026-11-25T10:00:00 UTC, Unix seconds, or 1h, 2d before now)\n"
	    "      --until TIME    up to TIME, exclusive\n"
	    "  -o, --output FILE   write the HTML page to FILE (default: standard output)\n"
	    "  -h, --help          this help\n", f);
}

static int
write_out(const char *path, const struct report *r, const struct events *ev,
    const char *db, FILE *out, FILE *err)
{
	if (!path) {
		report_write_page(out, r, ev, db);
		if (fflush(out) != 0 || ferror(out)) {
			fprintf(err, "ctguard: writing the report: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	size_t len = strlen(path);
	char *tmp = malloc(len + 16);
	int fd;
	FILE *f;

	if (!tmp) {
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	snprintf(tmp, len + 16, "%s.tmpXXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(err, "ctguard: cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return 1;
	}
	fchmod(fd, 0644);
	report_write_page(f, r, ev, db);
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(err, "ctguard: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return 1;
	}
	free(tmp);
	return 0;
}

int
ctg_report_main(int argc, char **argv, FILE *out, FILE *err)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dbpath = CTG_LOGCLI_DEFAULT_DB, *output = NULL;
	long long since = 0, until = 0;
	bool has_since = false, has_until = false;
	int ch, rc;
	long long now_us = (long long)ctg_clock_wall_us();
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dbpath = optarg; break;
		case 'o': output = optarg; break;
		case 's':
		case 'u':
			if (ctg_logcli_parse_time(optarg, now_us, ch == 's' ? &since : &until) < 0) {
				fprintf(err, "ctguard: --%s: cannot read time '%s'\n",
				    ch == 's' ? "since" : "until", optarg);
				return 2;
			}
			*(ch == 's' ? &has_since : &has_until) = true;
			break;
		case 'h':
			usage(out);
			return 0;
		case ':':
			fprintf(err, "ctguard: report: option %s needs a value\n", argv[optind - 1]);
			usage(err);
			return 2;
		default:
			fprintf(err, "ctguard: report: unknown option %s\n", argv[optind - 1]);
			usage(err);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(err, "ctguard: report: unexpected argument '%s'\n", argv[optind]);
		usage(err);
		return 2;
	}
	if (has_since && has_until && until <= since) {
		fprintf(err, "ctguard: report: --until must be after --since\n");
		return 2;
	}

	sqlite3 *db;
	if (report_open_db(dbpath, &db, err) != 0)
		return 1;
	struct report *r = calloc(1, sizeof(*r));
	struct events ev;
	memset(&ev, 0, sizeof(ev));
	if (!r) {
		sqlite3_close(db);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	report_init(r);

	/* the period: as asked, else from the first to the last record of any table */
	struct bounds bd = { 0, 0, false };
	rc = report_query(db, dbpath, "SELECT min(time_us), max(time_us) FROM verdicts", 0, 0, 0,
	    report_take_bounds, &bd, err) ||
	    report_query(db, dbpath, "SELECT min(first_us), max(first_us) FROM connections",
	    0, 0, 0, report_take_bounds, &bd, err) ||
	    report_query(db, dbpath, "SELECT min(time_us), max(time_us) FROM events", 0, 0, 0,
	    report_take_bounds, &bd, err);
	if (rc)
		goto done;
	r->t0 = has_since ? since : bd.any ? bd.lo : now_us - 86400LL * 1000000;
	r->t1 = has_until ? until : bd.any ? bd.hi + 1 : now_us;
	if (r->t1 <= r->t0)
		r->t1 = r->t0 + 1;
	r->bw = (r->t1 - r->t0 + NB - 1) / NB;
	if (r->bw < 1)
		r->bw = 1;

	rc = report_register_fns(db, r);
	if (rc != SQLITE_OK) {
		rc = lc_db_error(db, dbpath, rc, err);
		goto done;
	}
	rc = report_scan(db, dbpath, r, "verdicts", "time_us",
	    "ctg_tally_verdict(time_us, verdict, CASE WHEN verdict = 'drop' THEN reason END, "
	    "rule, CASE WHEN verdict = 'drop' THEN src END, CASE WHEN verdict = 'drop' THEN dst END, "
	    "ctstate, proto, orig_before, orig_after, resp_before, resp_after)", err) ||
	    report_scan(db, dbpath, r, "connections", "first_us",
	    "ctg_tally_conn(first_us, last_us, conn_state, orig_bytes, resp_bytes)", err) ||
	    report_query(db, dbpath, "SELECT time_us, kind, count, detail FROM events WHERE "
	    "time_us >= ?1 AND time_us < ?2 AND kind <> 'counters' ORDER BY time_us, id",
	    2, r->t0, r->t1, report_take_event, &ev, err);
	if (rc)
		goto done;
	rc = write_out(output, r, &ev, dbpath, out, err);
	if (rc == 0 && output)
		fprintf(err, "ctguard: report of %" PRIu64 " verdicts and %" PRIu64
		    " connections written to %s\n", r->verdicts, r->conns, output);
done:
	sqlite3_close(db);
	report_events_free(&ev);
	report_free(r);
	free(r);
	return rc ? 1 : 0;
}
