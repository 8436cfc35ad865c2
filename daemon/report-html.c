/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard report`: the page, from what the scans gathered. One
 * self-contained HTML document: CSS and inline SVG charts, no scripts, no
 * fetches. Database strings go out HTML-escaped (esc) or reduced to class
 * names (cls).
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctguard/clock.h"
#include "ctguard/tcpfsm.h"
#include "report-int.h"

#define TOP_N 10                /* top sources, destinations */
#define MAX_RULES 30
#define MAX_REFUSED 20
#define W 760                   /* SVG width (viewBox units) */

static void
esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

/* A class name from a DB string: letters, digits, '-' only. */
static void
cls(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ? *s :
		    (*s >= 'A' && *s <= 'Z') ? *s - 'A' + 'a' : '-', f);
}

static void
fmt_time(char *buf, size_t len, long long us, bool local)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;

	if (local)
		localtime_r(&s, &tm);
	else
		gmtime_r(&s, &tm);
	strftime(buf, len, local ? "%Y-%m-%d %H:%M:%S %Z" : "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void
fmt_both(char *buf, size_t len, long long us)
{
	char u[64], l[64];

	fmt_time(u, sizeof(u), us, false);
	fmt_time(l, sizeof(l), us, true);
	snprintf(buf, len, "%s (%s)", u, l);
}

static void
fmt_dur(char *buf, size_t len, long long us)
{
	double s = (double)us / 1e6;

	if (s < 120)
		snprintf(buf, len, "%.3g s", s);
	else if (s < 7200)
		snprintf(buf, len, "%.3g min", s / 60);
	else if (s < 2 * 86400)
		snprintf(buf, len, "%.3g h", s / 3600);
	else
		snprintf(buf, len, "%.3g days", s / 86400);
}

/* A round axis maximum at or above max: 1, 2, 4, 8 or 10 times a power of ten. */
static double
nice_max(uint64_t max)
{
	static const double m[] = { 1, 2, 4, 8, 10 };
	double p = 1;

	if (max < 4)
		return 4;
	while (p * 10 <= (double)max)
		p *= 10;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (m[i] * p >= (double)max)
			return m[i] * p;
	return 10 * p;
}

static void
fmt_count(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%gM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%gk", v / 1e3);
	else
		snprintf(buf, len, "%g", v);
}

/* v with thousands separated, in buf (at least 32 bytes) */
static const char *
grp(char *buf, uint64_t v)
{
	char d[24];
	int n = snprintf(d, sizeof(d), "%" PRIu64, v), o = 0;

	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = d[i];
	}
	buf[o] = '\0';
	return buf;
}

static const char css[] =
	":root{--accept:#3d8b5a;--drop:#c0392b;--reject:#e08e0b;--ink:#1f2a3a;--mute:#6b778a;"
	"--grid:#e3e7ee;--fsm:#35507a}\n"
	"*{box-sizing:border-box}\n"
	"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
	"color:var(--ink);margin:0 auto;max-width:980px;padding:12px 16px 40px;background:#fff}\n"
	"h1{font-size:1.5em;margin:.4em 0 .1em}h2{font-size:1.12em;margin:0 0 .2em}\n"
	"p.sub{color:var(--mute);margin:.1em 0 .6em;font-size:.92em}\n"
	"section{border:1px solid var(--grid);border-radius:8px;padding:12px 14px;margin:14px 0;"
	"break-inside:avoid;page-break-inside:avoid}\n"
	"svg{display:block;width:100%;height:auto;max-width:100%}\n"
	"svg text{font-family:inherit;fill:var(--ink)}\n"
	".axis text,.lbl{font-size:11px;fill:var(--mute)}.axis line{stroke:var(--grid)}\n"
	".verdict-accept{fill:var(--accept)}.verdict-drop{fill:var(--drop)}"
	".verdict-reject{fill:var(--reject)}.verdict-other{fill:#999}\n"
	".legend span{display:inline-block;margin-right:1em;font-size:.88em}"
	".legend i{display:inline-block;width:.9em;height:.9em;border-radius:2px;margin-right:.3em;"
	"vertical-align:-.1em}\n"
	".totals{display:flex;flex-wrap:wrap;gap:8px;margin:.6em 0}"
	".totals div{border:1px solid var(--grid);border-radius:6px;padding:6px 10px;min-width:8.5em}"
	".totals b{display:block;font-size:1.25em}.totals span{font-size:.82em;color:var(--mute)}\n"
	".pair{display:flex;flex-wrap:wrap;gap:16px}.pair>div{flex:1 1 300px;min-width:0}\n"
	".reason-bar,.src-bar,.dst-bar,.refused-bar{fill:var(--drop)}.reason-cell{fill:var(--drop)}\n"
	".rule-bar{fill:#5b7db1}.connstate-bar{fill:#6a8caf}.duration-bar{fill:#7a6fb0}"
	".size-bar{fill:#4f9a94}\n"
	".fsm-node rect{fill:#eef3fb;stroke:var(--fsm);stroke-width:1.2}"
	".fsm-node.seen rect{fill:#dbe8fa}.fsm-node text{font-size:12px;font-weight:600}\n"
	".fsm-table{stroke:#c9d1dd;stroke-width:1;fill:none;stroke-dasharray:3 3}\n"
	".fsm-edge{stroke:var(--fsm);fill:none;stroke-opacity:.8}"
	".fsm-edge.extra{stroke:#d0672a;stroke-dasharray:6 3}"
	".fsm-edge.rst{stroke:#b05050}.fsm-count{font-size:10px;fill:#22324d;font-weight:600}\n"
	".event-mark{fill:var(--fsm)}.event-mark.ev-log-gap,.event-mark.ev-reload-failed,"
	".event-mark.ev-warning{fill:var(--drop)}.event-mark.ev-start{fill:var(--accept)}"
	".event-mark.ev-stop{fill:#777}\n"
	"table{border-collapse:collapse;font-size:.85em;width:100%}td,th{text-align:left;"
	"padding:2px 6px;border-bottom:1px solid var(--grid);vertical-align:top}"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	".empty{color:var(--mute);font-style:italic}\n"
	"footer{color:var(--mute);font-size:.82em;margin-top:2em}\n"
	".wide{overflow-x:auto}\n"
	"@media (max-width:600px){body{font-size:14px;padding:8px}section{padding:8px}"
	".wide svg.chart{min-width:640px}}\n"
	"@media print{body{max-width:none;padding:0;font-size:11pt}section{border-color:#bbb;"
	"margin:8px 0}a{color:inherit;text-decoration:none}@page{margin:14mm}}\n";

/* x of time t on a time axis from x0 to x1 */
static double
tx(const struct report *r, long long t, double x0, double x1)
{
	double span = (double)(r->bw * NB);

	return x0 + (x1 - x0) * ((double)(t - r->t0) / span);
}

static void
time_axis(FILE *f, const struct report *r, double x0, double x1, double y)
{
	char buf[64];

	int nt = x1 - x0 < 450 ? 2 : 4;

	fprintf(f, "<g class=\"axis\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
	    x0, y, x1, y);
	for (int i = 0; i <= nt; i++) {
		long long t = r->t0 + (long long)((double)r->bw * NB * i / nt);
		double x = x0 + (x1 - x0) * i / nt;
		time_t s = (time_t)(t / 1000000);
		struct tm tm;

		gmtime_r(&s, &tm);
		strftime(buf, sizeof(buf), r->bw * NB > 3LL * 86400 * 1000000 ? "%Y-%m-%d" :
		    "%m-%d %H:%M", &tm);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
		    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>",
		    x, y, x, y + 4, x, y + 16, i == 0 ? "start" : i == nt ? "end" : "middle", buf);
	}
	fputs("</g>", f);
}

static void
legend_verdicts(FILE *f)
{
	fputs("<p class=\"legend\"><span><i class=\"verdict-accept\" style=\"background:"
	    "var(--accept)\"></i>accept</span><span><i style=\"background:var(--drop)\"></i>"
	    "drop</span><span><i style=\"background:var(--reject)\"></i>reject</span></p>\n", f);
}

static const char *const vnames[V_N] = { "accept", "drop", "reject", "other" };

static void
chart_verdicts(FILE *f, const struct report *r)
{
	const double x0 = 54, x1 = W - 8, y0 = 10, y1 = 190;
	uint64_t max = 1;
	char a[96], b[96];

	for (int i = 0; i < NB; i++) {
		uint64_t s = r->vb[i][0] + r->vb[i][1] + r->vb[i][2] + r->vb[i][3];
		if (s > max)
			max = s;
	}
	fputs("<section id=\"verdicts-time\"><h2>Verdicts over time</h2>", f);
	fprintf(f, "<p class=\"sub\">Packets logged per %s, stacked by verdict (axis in UTC).</p>",
	    (fmt_dur(a, sizeof(a), r->bw), a));
	legend_verdicts(f);
	if (!r->verdicts) {
		fputs("<p class=\"empty\">No verdicts in this period.</p></section>\n", f);
		return;
	}
	fprintf(f, "<div class=\"wide\"><svg class=\"chart\" viewBox=\"0 0 %d 215\" data-t0=\"%lld\" "
	    "data-bucket-us=\"%lld\" data-buckets=\"%d\" role=\"img\" "
	    "aria-label=\"verdicts over time\">", W, r->t0, r->bw, NB);
	double top = nice_max(max);
	fputs("<g class=\"axis\">", f);
	for (int i = 0; i <= 4; i++) {
		double y = y1 - (y1 - y0) * i / 4;
		fmt_count(a, sizeof(a), top * i / 4);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
		    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
		    x0, y, x1, y, x0 - 4, y + 4, a);
	}
	fputs("</g>", f);
	double bwid = (x1 - x0) / NB;
	for (int i = 0; i < NB; i++) {
		double y = y1;

		fmt_time(a, sizeof(a), r->t0 + r->bw * i, false);
		fmt_time(b, sizeof(b), r->t0 + r->bw * i, true);
		for (int v = 0; v < V_N; v++) {
			uint64_t n = r->vb[i][v];
			if (!n)
				continue;
			double h = (y1 - y0) * (double)n / top;
			y -= h;
			fprintf(f, "<rect class=\"mark verdict-bar verdict-%s\" data-n=\"%" PRIu64
			    "\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"><title>%s: %"
			    PRIu64 " %s (%s)</title></rect>", vnames[v], n, x0 + i * bwid + 0.5, y,
			    bwid > 2 ? bwid - 1 : bwid, h < 0.5 ? 0.5 : h, a, n, vnames[v], b);
		}
	}
	time_axis(f, r, x0, x1, y1);
	fputs("</svg></div></section>\n", f);
}

/* Indices of the n largest of count(idx) over m entries, largest first. */
static size_t
top(const struct counts *c, size_t m, size_t col, size_t *idx, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < m; i++) {
		uint64_t v = report_counts_get(c, i, col);
		size_t j;

		if (!v)
			continue;
		if (k == n && v <= report_counts_get(c, idx[k - 1], col))
			continue;
		j = k < n ? k++ : k - 1;
		while (j > 0 && report_counts_get(c, idx[j - 1], col) < v) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	return k;
}

static void
chart_reasons(FILE *f, const struct report *r)
{
	size_t n = r->reasons.n, *idx = calloc(n ? n : 1, sizeof(*idx));
	const double lx = 200, bx = 205, bw = 120, sx = 410, sxe = W - 8;
	char a[96];

	fputs("<section id=\"drop-reasons\"><h2>Drops by reason over time</h2>"
	    "<p class=\"sub\">Each reason: total drops (bar) and when they came (one cell per "
	    "time bucket, darker is more).</p>", f);
	if (!idx || !n) {
		fputs(n ? "<p class=\"empty\">out of memory</p>" :
		    "<p class=\"empty\">No drops in this period.</p>", f);
		fputs("</section>\n", f);
		free(idx);
		return;
	}
	n = top(&r->reason_b, n, NB, idx, n);
	uint64_t max = report_counts_get(&r->reason_b, idx[0], NB), cmax = 1;
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < NB; b++)
			if (report_counts_get(&r->reason_b, idx[i], (size_t)b) > cmax)
				cmax = report_counts_get(&r->reason_b, idx[i], (size_t)b);
	double h = 22;
	fprintf(f, "<div class=\"wide\"><svg class=\"chart\" viewBox=\"0 0 %d %.0f\" role=\"img\" "
	    "aria-label=\"drops by reason\">", W, h * (double)n + 30);
	for (size_t i = 0; i < n; i++) {
		uint64_t tot = report_counts_get(&r->reason_b, idx[i], NB);
		double y = h * (double)i + 4;
		double w = bw * (double)tot / (double)max;

		fputs("<text class=\"lbl\" text-anchor=\"end\" ", f);
		fprintf(f, "x=\"%.0f\" y=\"%.1f\">", lx - 6, y + 13);
		esc(f, r->reasons.keys[idx[i]]);
		fprintf(f, "</text><rect class=\"mark reason-bar\" data-n=\"%" PRIu64 "\" "
		    "x=\"%.0f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\"><title>", tot, bx, y,
		    w < 1 ? 1 : w, h - 6);
		esc(f, r->reasons.keys[idx[i]]);
		fprintf(f, ": %" PRIu64 " drops</title></rect><text class=\"lbl\" x=\"%.1f\" "
		    "y=\"%.1f\">%s</text>", tot, bx + (w < 1 ? 1 : w) + 4, y + 13, grp(a, tot));
		double cw = (sxe - sx) / NB;
		for (int b = 0; b < NB; b++) {
			uint64_t c = report_counts_get(&r->reason_b, idx[i], (size_t)b);
			if (!c)
				continue;
			fmt_time(a, sizeof(a), r->t0 + r->bw * b, false);
			fprintf(f, "<rect class=\"mark reason-cell\" data-n=\"%" PRIu64 "\" "
			    "x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill-opacity=\"%.2f\">"
			    "<title>%s: %" PRIu64 "</title></rect>", c, sx + b * cw, y, cw, h - 6,
			    0.25 + 0.75 * sqrt((double)c / (double)cmax), a, c);
		}
	}
	time_axis(f, r, sx, sxe, h * (double)n + 6);
	fputs("</svg></div></section>\n", f);
	free(idx);
}

/* Horizontal bars of the top entries of a smap/counts pair. */
static void
bars(FILE *f, const struct smap *m, const struct counts *c, size_t col, size_t limit,
    const char *mark, const char *what, int vw, double lx)
{
	size_t *idx = calloc(m->n ? m->n : 1, sizeof(*idx)), n;
	const double bx = lx + 5, bw = vw - bx - 70, h = 21;
	char g[32];

	if (!idx) {
		fputs("<p class=\"empty\">out of memory</p>", f);
		return;
	}
	n = top(c, m->n, col, idx, limit);
	if (!n) {
		fprintf(f, "<p class=\"empty\">No %s in this period.</p>", what);
		free(idx);
		return;
	}
	uint64_t max = report_counts_get(c, idx[0], col);
	fprintf(f, "<div class=\"%s\"><svg class=\"chart\" viewBox=\"0 0 %d %.0f\" role=\"img\" "
	    "aria-label=\"%s\">", vw == W ? "wide" : "half", vw, h * (double)n + 4, what);
	for (size_t i = 0; i < n; i++) {
		uint64_t v = report_counts_get(c, idx[i], col);
		double y = h * (double)i + 2, w = bw * (double)v / (double)max;

		fprintf(f, "<text class=\"lbl\" text-anchor=\"end\" x=\"%.0f\" y=\"%.1f\">",
		    lx - 6, y + 13);
		esc(f, m->keys[idx[i]]);
		fprintf(f, "</text><rect class=\"mark %s\" data-n=\"%" PRIu64 "\" x=\"%.0f\" "
		    "y=\"%.1f\" width=\"%.2f\" height=\"%.0f\"><title>", mark, v, bx, y,
		    w < 1 ? 1 : w, h - 5);
		esc(f, m->keys[idx[i]]);
		fprintf(f, ": %" PRIu64 "</title></rect><text class=\"lbl\" x=\"%.1f\" y=\"%.1f\">%"
		    "s</text>", v, bx + (w < 1 ? 1 : w) + 4, y + 13, grp(g, v));
	}
	fputs("</svg></div>", f);
	free(idx);
}

static void
chart_talkers(FILE *f, const struct report *r)
{
	fputs("<section id=\"top-talkers\"><h2>Top sources and destinations of drops</h2>"
	    "<div class=\"pair\"><div id=\"top-sources\"><p class=\"sub\">Sources</p>", f);
	bars(f, &r->srcs, &r->src_n, 0, TOP_N, "src-bar", "drops", W / 2, 150);
	fputs("</div><div id=\"top-destinations\"><p class=\"sub\">Destinations</p>", f);
	bars(f, &r->dsts, &r->dst_n, 0, TOP_N, "dst-bar", "drops", W / 2, 150);
	fputs("</div></div></section>\n", f);
}

static void
chart_rules(FILE *f, const struct report *r)
{
	struct counts tot = { NULL, 0, 1 };

	for (size_t i = 0; i < r->rules.n; i++)
		for (int v = 0; v < V_N; v++)
			if (report_counts_add(&tot, (long)i, 0,
			    report_counts_get(&r->rule_v, i, (size_t)v)))
				break;
	fprintf(f, "<section id=\"rules\"><h2>Rules by hits</h2><p class=\"sub\">Logged "
	    "packets decided by each rule (the %d most used).</p>", MAX_RULES);
	bars(f, &r->rules, &tot, 0, MAX_RULES, "rule-bar", "rule hits", W, 200);
	fputs("</section>\n", f);
	free(tot.v);
}

static const char *
zeek_desc(const char *s)
{
	static const char *const d[][2] = {
		{ "S0", "attempt, no reply" }, { "S1", "established, not closed" },
		{ "SF", "normal open and close" }, { "REJ", "attempt rejected" },
		{ "S2", "established, originator closed" }, { "S3", "established, responder closed" },
		{ "RSTO", "originator reset" }, { "RSTR", "responder reset" },
		{ "RSTOS0", "originator SYN then reset" }, { "RSTRH", "responder SYN/ACK then reset" },
		{ "SH", "originator SYN then FIN" }, { "SHR", "responder SYN/ACK then FIN" },
		{ "OTH", "no SYN seen, midstream" },
	};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (strcmp(s, d[i][0]) == 0)
			return d[i][1];
	return NULL;
}

static void
chart_conn_states(FILE *f, const struct report *r)
{
	struct smap lab;

	memset(&lab, 0, sizeof(lab));
	fputs("<section id=\"conn-states\"><h2>Connection outcomes</h2><p class=\"sub\">"
	    "Connections logged (when they ended) that began in the period, by Zeek conn_state.</p>", f);
	/* the same keys with their meaning, for the labels */
	for (size_t i = 0; i < r->cstates.n; i++) {
		char buf[128];
		const char *d = zeek_desc(r->cstates.keys[i]);

		snprintf(buf, sizeof(buf), "%s%s%s", r->cstates.keys[i], d ? " · " : "", d ? d : "");
		if (report_smap_get(&lab, buf) < 0)
			break;
	}
	if (lab.n == r->cstates.n)
		bars(f, &lab, &r->cstate_n, 0, 64, "connstate-bar", "connections", W, 280);
	else
		bars(f, &r->cstates, &r->cstate_n, 0, 64, "connstate-bar", "connections", W, 280);
	fputs("</section>\n", f);
	report_smap_free(&lab);
}

static void
histogram(FILE *f, const uint64_t *v, int n, const char *const *labels, const char *mark,
    const char *what)
{
	uint64_t max = 0;
	const double x0 = 10, x1 = W / 2.0 - 20, y0 = 22, y1 = 150;

	for (int i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	if (!max) {
		fprintf(f, "<p class=\"empty\">No %s in this period.</p>", what);
		return;
	}
	double bw = (x1 - x0) / n;
	fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %.0f 185\" role=\"img\" aria-label=\"%s\">",
	    W / 2.0, what);
	for (int i = 0; i < n; i++) {
		double x = x0 + bw * i;
		fprintf(f, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
		    x + bw / 2, y1 + 14, labels[i]);
		if (!v[i])
			continue;
		double h = (y1 - y0) * (double)v[i] / (double)max;
		fprintf(f, "<rect class=\"mark %s\" data-n=\"%" PRIu64 "\" x=\"%.1f\" y=\"%.1f\" "
		    "width=\"%.1f\" height=\"%.1f\"><title>%s: %" PRIu64 "</title></rect>"
		    "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%" PRIu64
		    "</text>", mark, v[i], x + 2, y1 - (h < 1 ? 1 : h), bw - 4, h < 1 ? 1 : h,
		    labels[i], v[i], x + bw / 2, y1 - (h < 1 ? 1 : h) - 3, v[i]);
	}
	fputs("</svg>", f);
}

static void
chart_conn_hist(FILE *f, const struct report *r)
{
	static const char *const dl[NDUR] = { "<1ms", "<10ms", "<0.1s", "<1s", "<10s",
		"<100s", "<17m", "<2.8h", "≥2.8h" };
	static const char *const sl[NSIZE] = { "<100B", "<1k", "<10k", "<100k", "<1M",
		"<10M", "<100M", "≥100M" };

	fputs("<section id=\"conn-sizes\"><h2>Durations and sizes of connections</h2>"
	    "<div class=\"pair\"><div id=\"conn-durations\"><p class=\"sub\">Duration "
	    "(first to last packet)</p>", f);
	histogram(f, r->dur, NDUR, dl, "duration-bar", "connections");
	fputs("</div><div id=\"conn-bytes\"><p class=\"sub\">Bytes, both directions</p>", f);
	histogram(f, r->size, NSIZE, sl, "size-bar", "connections");
	fputs("</div></div></section>\n", f);
}

static void
chart_events(FILE *f, const struct report *r, const struct events *e)
{
	const double x0 = 10, x1 = W - 10;
	char a[160];
	static const char *const kinds[] = { "start", "stop", "config_load", "rules_load",
		"reload_failed", "log_gap", "warning" };
	const int nk = (int)(sizeof(kinds) / sizeof(kinds[0]));

	fputs("<section id=\"events\"><h2>Daemon events and log gaps</h2><p class=\"sub\">"
	    "Starts, stops, reloads, warnings and log gaps (records the audit log lost) on the "
	    "time axis; periodic counter snapshots are left out.</p>", f);
	if (!e->n) {
		fputs("<p class=\"empty\">No daemon events in this period.</p></section>\n", f);
		return;
	}
	double rowh = 20, top = 6;
	fprintf(f, "<div class=\"wide\"><svg class=\"chart\" viewBox=\"0 0 %d %.0f\" role=\"img\" "
	    "aria-label=\"events\">", W, top + rowh * (nk + 1) + 24);
	for (int k = 0; k <= nk; k++) {
		fprintf(f, "<g class=\"axis\"><line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		    "<text x=\"%.0f\" y=\"%.1f\">%s</text></g>", x0 + 100, x1, top + rowh * k + 10,
		    top + rowh * k + 10, x0, top + rowh * k + 14, k < nk ? kinds[k] : "other");
	}
	for (size_t i = 0; i < e->n; i++) {
		const struct event *x = &e->v[i];
		int k = 0;

		while (k < nk && strcmp(kinds[k], x->kind) != 0)
			k++;
		double px = tx(r, x->t, x0 + 100, x1), py = top + rowh * k + 10;
		fmt_both(a, sizeof(a), x->t);
		fputs("<path class=\"mark event-mark ev-", f);
		cls(f, x->kind);
		fprintf(f, "\" d=\"M%.1f %.1fl5 6l-5 6l-5 -6z\"><title>%s: ", px, py - 6, a);
		esc(f, x->kind);
		fprintf(f, " %lld ", x->count);
		esc(f, x->detail);
		fputs("</title></path>", f);
	}
	time_axis(f, r, x0 + 100, x1, top + rowh * (nk + 1) + 2);
	fputs("</svg></div>", f);
	fputs("<details><summary>The events</summary><table><tr><th>time (UTC)</th><th>local"
	    "</th><th>kind</th><th class=\"n\">count</th><th>detail</th></tr>", f);
	for (size_t i = 0; i < e->n && i < 100; i++) {
		fmt_time(a, sizeof(a), e->v[i].t, false);
		fprintf(f, "<tr><td>%s</td>", a);
		fmt_time(a, sizeof(a), e->v[i].t, true);
		fprintf(f, "<td>%s</td><td>", a);
		esc(f, e->v[i].kind);
		fprintf(f, "</td><td class=\"n\">%lld</td><td>", e->v[i].count);
		esc(f, e->v[i].detail);
		fputs("</td></tr>", f);
	}
	fputs("</table>", f);
	if (e->n > 100 || e->more)
		fprintf(f, "<p class=\"sub\">%zu more not listed.</p>",
		    e->n - (e->n > 100 ? 100 : e->n) + (size_t)e->more);
	fputs("</details></section>\n", f);
}

/* The classic layout (RFC 793 figure 6), CLOSED at the bottom as its end. */
static const struct { double x, y; } pos[CTG_TCPS_COUNT] = {
	[CTG_TCPS_NONE] = { 380, 22 },
	[CTG_TCPS_LISTEN] = { 380, 92 },
	[CTG_TCPS_SYN_RCVD] = { 170, 172 },
	[CTG_TCPS_SYN_SENT] = { 590, 172 },
	[CTG_TCPS_ESTABLISHED] = { 380, 262 },
	[CTG_TCPS_FIN_WAIT_1] = { 170, 352 },
	[CTG_TCPS_CLOSE_WAIT] = { 590, 352 },
	[CTG_TCPS_FIN_WAIT_2] = { 90, 442 },
	[CTG_TCPS_CLOSING] = { 290, 442 },
	[CTG_TCPS_LAST_ACK] = { 590, 442 },
	[CTG_TCPS_TIME_WAIT] = { 190, 532 },
	[CTG_TCPS_CLOSED] = { 470, 560 },
};
#define NODE_W 112
#define NODE_H 28

/* Where the segment from the centre (cx,cy) toward (dx,dy) leaves the node box. */
static void
box_exit(double cx, double cy, double dx, double dy, bool dot, double *ox, double *oy)
{
	double hw = dot ? 8 : NODE_W / 2.0 + 3, hh = dot ? 8 : NODE_H / 2.0 + 3;
	double sx = dx != 0 ? hw / fabs(dx) : 1e9, sy = dy != 0 ? hh / fabs(dy) : 1e9;
	double s = sx < sy ? sx : sy;

	*ox = cx + dx * s;
	*oy = cy + dy * s;
}

static void
edge_path(FILE *f, int a, int b, double bend, double *mx, double *my)
{
	double dx = pos[b].x - pos[a].x, dy = pos[b].y - pos[a].y;
	double len = sqrt(dx * dx + dy * dy);
	double nx = -dy / len, ny = dx / len;
	double cx = (pos[a].x + pos[b].x) / 2 + nx * bend, cy = (pos[a].y + pos[b].y) / 2 + ny * bend;
	double sx, sy, ex, ey;

	box_exit(pos[a].x, pos[a].y, cx - pos[a].x, cy - pos[a].y, a == CTG_TCPS_NONE, &sx, &sy);
	box_exit(pos[b].x, pos[b].y, cx - pos[b].x, cy - pos[b].y, false, &ex, &ey);
	fprintf(f, " d=\"M%.1f %.1fQ%.1f %.1f %.1f %.1f\"", sx, sy, cx, cy, ex, ey);
	*mx = 0.25 * sx + 0.5 * cx + 0.25 * ex;
	*my = 0.25 * sy + 0.5 * cy + 0.25 * ey;
}

static double
bend_of(int a, int b)
{
	/* arrows into CLOSED fan out; others bow a little to clear labels */
	if (a == CTG_TCPS_NONE && b == CTG_TCPS_ESTABLISHED)
		return 170;             /* around LISTEN */
	if (b == CTG_TCPS_CLOSED)
		return a < CTG_TCPS_ESTABLISHED ? 60 : -30;
	return 14;
}

static void
chart_fsm(FILE *f, const struct report *r)
{
	uint64_t max = 0, total = 0;
	char g[32];
	bool seen[CTG_TCPS_COUNT] = { false };

	for (int a = 0; a < CTG_TCPS_COUNT; a++)
		for (int b = 0; b < CTG_TCPS_COUNT; b++) {
			if (r->moves[a][b] > max)
				max = r->moves[a][b];
			total += r->moves[a][b];
			if (r->moves[a][b])
				seen[a] = seen[b] = true;
		}
	fputs("<section id=\"tcp-states\"><h2>TCP state machine</h2><p class=\"sub\">"
	    "The tracker's eleven endpoint states. Each arrow is a move of an originator or "
	    "responder endpoint seen in the period (before and after states of logged, not "
	    "refused, TCP packets); its width grows with how often, the number says how many. "
	    "Red: moves by RST. Dotted grey: moves the tracker can make (include/ctguard/tcpfsm.h) "
	    "that were not seen; dashed orange: seen but not in the table.</p>", f);
	fprintf(f, "<div class=\"wide\"><svg class=\"chart fsm\" viewBox=\"0 0 %d 590\" role=\"img\" "
	    "aria-label=\"TCP state machine\"><defs><marker id=\"ah\" viewBox=\"0 0 10 10\" "
	    "refX=\"8\" refY=\"5\" markerWidth=\"10\" markerHeight=\"10\" orient=\"auto\" "
	    "markerUnits=\"userSpaceOnUse\"><path d=\"M0 0L10 "
	    "5L0 10z\" fill=\"#35507a\"/></marker><marker id=\"ahg\" viewBox=\"0 0 10 10\" "
	    "refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\">"
	    "<path d=\"M0 0L10 5L0 10z\" fill=\"#c9d1dd\"/></marker><marker id=\"ahr\" "
	    "viewBox=\"0 0 10 10\" refX=\"8\" refY=\"5\" markerWidth=\"10\" markerHeight=\"10\" "
	    "orient=\"auto\" markerUnits=\"userSpaceOnUse\"><path d=\"M0 0L10 5L0 10z\" "
	    "fill=\"#b05050\"/></marker></defs>", W);
	double mx, my;
	for (size_t i = 0; i < ctg_tcp_nmoves; i++) {
		int a = ctg_tcp_moves[i].from, b = ctg_tcp_moves[i].to;
		bool first = true;

		for (size_t j = 0; j < i; j++)
			if (ctg_tcp_moves[j].from == a && ctg_tcp_moves[j].to == b)
				first = false;
		if (!first || r->moves[a][b])
			continue;
		fputs("<path class=\"fsm-table\" marker-end=\"url(#ahg)\"", f);
		edge_path(f, a, b, bend_of(a, b), &mx, &my);
		fputs("/>", f);
	}
	for (int a = 0; a < CTG_TCPS_COUNT; a++)
		for (int b = 0; b < CTG_TCPS_COUNT; b++) {
			uint64_t n = r->moves[a][b];
			if (!n)
				continue;
			double w = 1.2 + 7.0 * log1p((double)n) / log1p((double)max);
			bool in = ctg_tcp_fsm_has((enum ctg_tcp_state)a, (enum ctg_tcp_state)b);
			bool rst = in;

			for (size_t i = 0; i < ctg_tcp_nmoves; i++)
				if (ctg_tcp_moves[i].from == a && ctg_tcp_moves[i].to == b &&
				    ctg_tcp_moves[i].event != CTG_TCPE_SND_RST &&
				    ctg_tcp_moves[i].event != CTG_TCPE_RCV_RST)
					rst = false;
			fprintf(f, "<path class=\"mark fsm-edge%s%s\" data-from=\"%s\" data-to=\"%s\" "
			    "data-n=\"%" PRIu64 "\" stroke-width=\"%.2f\" marker-end=\"url(#%s)\"",
			    in ? "" : " extra", rst ? " rst" : "",
			    ctg_tcp_state_name((enum ctg_tcp_state)a),
			    ctg_tcp_state_name((enum ctg_tcp_state)b), n, w, rst ? "ahr" : "ah");
			edge_path(f, a, b, bend_of(a, b), &mx, &my);
			fprintf(f, "><title>%s → %s: %" PRIu64 "</title></path>",
			    a == CTG_TCPS_NONE ? "(new)" : ctg_tcp_state_name((enum ctg_tcp_state)a),
			    ctg_tcp_state_name((enum ctg_tcp_state)b), n);
			fprintf(f, "<text class=\"fsm-count\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
			    "paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">%s</text>",
			    mx, my + 3, grp(g, n));
		}
	fprintf(f, "<g class=\"fsm-node start\"><circle cx=\"%.0f\" cy=\"%.0f\" r=\"8\" "
	    "fill=\"#22324d\"/><text x=\"%.0f\" y=\"%.0f\" class=\"lbl\">new connection</text></g>",
	    pos[0].x, pos[0].y, pos[0].x + 14, pos[0].y + 4);
	for (int s = 1; s < CTG_TCPS_COUNT; s++) {
		fprintf(f, "<g class=\"fsm-node%s\" id=\"st-%d\"><rect x=\"%.0f\" y=\"%.0f\" "
		    "width=\"%d\" height=\"%d\" rx=\"8\"/><text x=\"%.0f\" y=\"%.0f\" "
		    "text-anchor=\"middle\">%s</text></g>", seen[s] ? " seen" : "", s,
		    pos[s].x - NODE_W / 2.0, pos[s].y - NODE_H / 2.0, NODE_W, NODE_H, pos[s].x,
		    pos[s].y + 4, ctg_tcp_state_name((enum ctg_tcp_state)s));
	}
	fputs("</svg></div>", f);
	if (!total)
		fputs("<p class=\"empty\">No TCP state changes logged in this period (the log "
		    "policy may record drops only).</p>", f);
	fputs("</section>\n", f);

	/* refused: INVALID TCP packets that were dropped, by states and reason */
	fputs("<section id=\"tcp-refused\"><h2>Moves the tracker refused</h2><p class=\"sub\">"
	    "Dropped TCP packets classified INVALID, by the endpoint states they met "
	    "(originator / responder) and the reason code.</p>", f);
	struct smap lab;
	memset(&lab, 0, sizeof(lab));
	for (size_t i = 0; i < r->refused.n; i++) {
		char buf[200], ob[40], rb[40], rs[100];

		if (sscanf(r->refused.keys[i], "%39[^\t]\t%39[^\t]\t%99[^\t]", ob, rb, rs) != 3)
			snprintf(buf, sizeof(buf), "%s", r->refused.keys[i]);
		else if (strcmp(ob, "-") == 0 && strcmp(rb, "-") == 0)
			snprintf(buf, sizeof(buf), "no connection: %s", rs);
		else
			snprintf(buf, sizeof(buf), "%s / %s: %s", ob, rb, rs);
		/* distinct keys stay distinct: the tab-free form is unique as well */
		if (report_smap_get(&lab, buf) < 0)
			break;
	}
	bars(f, lab.n == r->refused.n ? &lab : &r->refused, &r->refused_n, 0, MAX_REFUSED,
	    "refused-bar", "refused TCP packets", W, 380);
	report_smap_free(&lab);
	fputs("</section>\n", f);
}

void
report_write_page(FILE *f, const struct report *r, const struct events *ev, const char *db)
{
	char a[160], b[160], now_s[160], g[32];
	uint64_t changes = 0;

	for (int i = 0; i < CTG_TCPS_COUNT; i++)
		for (int j = 0; j < CTG_TCPS_COUNT; j++)
			changes += r->moves[i][j];
	fmt_both(a, sizeof(a), r->t0);
	fmt_both(b, sizeof(b), r->t1);
	fmt_both(now_s, sizeof(now_s), (long long)(ctg_clock_wall_us() / 1000000 * 1000000));
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>ctguard audit report</title>\n<style>\n", f);
	fputs(css, f);
	fputs("</style></head><body>\n<header><h1>ctguard audit report</h1>", f);
	fprintf(f, "<p class=\"sub\" id=\"period\">From %s<br>to %s</p>", a, b);
	fputs("<div class=\"totals\">", f);
	fprintf(f, "<div id=\"total-verdicts\"><b>%s</b><span>verdicts logged</span></div>",
	    grp(g, r->verdicts));
	for (int v = 0; v < 3; v++)
		fprintf(f, "<div id=\"total-%s\"><b>%s</b><span>%s (%.1f%%)</span></div>",
		    vnames[v], grp(g, r->vtotal[v]), vnames[v],
		    r->verdicts ? 100.0 * (double)r->vtotal[v] / (double)r->verdicts : 0.0);
	fprintf(f, "<div id=\"total-connections\"><b>%s</b><span>connections</span></div>",
	    grp(g, r->conns));
	fprintf(f, "<div id=\"total-moves\"><b>%s</b><span>TCP state moves</span>"
	    "</div></div></header>\n", grp(g, changes));
	chart_verdicts(f, r);
	chart_reasons(f, r);
	chart_talkers(f, r);
	chart_rules(f, r);
	chart_conn_states(f, r);
	chart_conn_hist(f, r);
	chart_events(f, r, ev);
	chart_fsm(f, r);
	fputs("<footer>Generated ", f);
	esc(f, now_s);
	fputs(" by ctguard " PACKAGE_VERSION " from ", f);
	esc(f, db);
	fputs(". Times are UTC, local time in brackets.</footer>\n</body></html>\n", f);
}
