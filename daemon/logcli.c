/*
 * Audit log queries for people and scripts: `ctguard log` (verdicts),
 * `ctguard history` (connections), `ctguard summary` (counts).
 *
 * The database is opened read-only, so a query never takes the writer's
 * lock and cannot corrupt the log. Every filter is a bound parameter. CIDR
 * filters use the 16-byte address columns, where IPv4 sits in the
 * ::ffff:0:0/96 range, so one BETWEEN on one index covers both families.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ctguard/auditlog.h"
#include "ctguard/logcli.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"

#define BUSY_TIMEOUT_MS 2000
#define FOLLOW_POLL_MS  200
#define MAX_PARAMS      16
#define TOP_N           10

enum cmd {
	CMD_LOG,
	CMD_HISTORY,
	CMD_SUMMARY
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
	long proto;             /* -1 = any */
	const char *rule;
	bool has_conn;
	long long conn;
	long long limit;        /* 0 = no limit */
	enum fmt fmt;
	bool follow;
	long long follow_ms;    /* -1 = until interrupted */
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

static const struct col log_cols[] = {
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

/* Output. */

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

static const char *
proto_name(long p)
{
	switch (p) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 58:
		return "icmpv6";
	default:
		return NULL;
	}
}

static void
format_time(long long us, char *buf, size_t len)
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

static char *
format_cell(enum kind kind, sqlite3_stmt *st, int i, enum jtype *jt)
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
		format_time(v, buf, sizeof(buf));
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
	case K_PROTO:
		if (proto_name(v) != NULL) {
			*jt = J_STR;
			return strdup(proto_name(v));
		}
		*jt = J_NUM;
		snprintf(buf, sizeof(buf), "%lld", v);
		return strdup(buf);
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
 * reach the terminal as they are.
 */
static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
has_ctl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (is_ctl(*p))
			return true;
	return false;
}

/* Returns s itself when nothing needs escaping, else a new string (or NULL). */
static char *
escape_ctl(char *s)
{
	size_t n = 0;
	char *e, *q;

	if (!has_ctl(s))
		return s;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += is_ctl(*p) ? 4 : 1;
	e = malloc(n + 1);
	if (e == NULL)
		return NULL;
	q = e;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (is_ctl(*p))
			q += sprintf(q, "\\x%02x", *p);
		else
			*q++ = (char)*p;
	}
	*q = '\0';
	free(s);
	return e;
}

static void
json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (is_ctl(*p))
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

/*
 * RFC 4180: quote when needed, double the quotes inside. Control bytes
 * (line breaks included) are escaped as in the table and their field is
 * quoted, so every record stays on one line.
 */
static void
csv_field(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"") == NULL && !has_ctl(s)) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		if (is_ctl((unsigned char)*s))
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static bool
right_aligned(enum kind k)
{
	return k == K_INT || k == K_DURATION;
}

static int
printer_init(struct printer *p, FILE *out, enum fmt fmt,
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

static void
printer_free(struct printer *p)
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

static void
table_flush(struct printer *p)
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

/* Takes the row's texts, except on failure (-1): then they stay the caller's. */
static int
printer_row(struct printer *p, struct cell *row)
{
	if (p->fmt == FMT_TABLE) {
		for (int i = 0; i < p->ncols; i++) {
			char *e = escape_ctl(row[i].text);

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
				csv_field(p->out, p->cols[i].name);
			}
			fputs("\r\n", p->out);
			p->header_done = true;
		}
		for (int i = 0; i < p->ncols; i++) {
			fputs(i ? "," : "", p->out);
			csv_field(p->out, row[i].text);
		}
		fputs("\r\n", p->out);
	} else {
		fputc('{', p->out);
		for (int i = 0; i < p->ncols; i++) {
			fputs(i ? "," : "", p->out);
			json_string(p->out, p->cols[i].name);
			fputc(':', p->out);
			if (row[i].jt == J_NULL)
				fputs("null", p->out);
			else if (row[i].jt == J_NUM)
				fputs(row[i].text, p->out);
			else
				json_string(p->out, row[i].text);
		}
		fputs("}\n", p->out);
	}
	for (int i = 0; i < p->ncols; i++)
		free(row[i].text);
	return 0;
}

/* Header only for csv and table when there are no rows at all. */
static void
printer_end(struct printer *p)
{
	if (p->fmt == FMT_TABLE)
		table_flush(p);
	else if (p->fmt == FMT_CSV && !p->header_done) {
		for (int i = 0; i < p->ncols; i++) {
			fputs(i ? "," : "", p->out);
			csv_field(p->out, p->cols[i].name);
		}
		fputs("\r\n", p->out);
		p->header_done = true;
	}
	fflush(p->out);
}

/* Parsing options. */

int
ctg_logcli_parse_time(const char *s, long long now_us, long long *out_us)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	long long frac_us = 0;
	struct tm tm;
	time_t t;
	char *end;
	size_t len = strlen(s);

	if (len == 0)
		return -1;
	/* relative: "30s", "15m", "1h", "2d" */
	if (len >= 2 && strchr("smhd", s[len - 1]) != NULL &&
	    strspn(s, "0123456789") == len - 1) {
		long long v, unit;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || v > 100LL * 365 * 86400)
			return -1;
		unit = s[len - 1] == 's' ? 1 : s[len - 1] == 'm' ? 60 :
		    s[len - 1] == 'h' ? 3600 : 86400;
		*out_us = now_us - v * unit * 1000000;
		return 0;
	}
	/* Unix seconds, optionally with a fraction */
	if (strspn(s, "0123456789") == len ||
	    (strspn(s, "0123456789") > 0 && s[strspn(s, "0123456789")] == '.' &&
	    strspn(s + strspn(s, "0123456789") + 1, "0123456789") ==
	    len - strspn(s, "0123456789") - 1)) {
		double v;

		if (len > 16)
			return -1;
		v = strtod(s, &end);
		*out_us = (long long)(v * 1e6 + 0.5);
		return 0;
	}
	/* ISO 8601, UTC */
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	s += n;
	if (*s == 'T' || *s == ' ') {
		int m = 0;

		if (sscanf(s + 1, "%2d:%2d%n", &h, &mi, &m) != 2 || m != 5)
			return -1;
		s += 1 + m;
		if (*s == ':') {
			if (!isdigit((unsigned char)s[1]) ||
			    !isdigit((unsigned char)s[2]))
				return -1;
			sec = (s[1] - '0') * 10 + (s[2] - '0');
			s += 3;
			if (*s == '.') {
				long long scale = 100000;

				s++;
				if (!isdigit((unsigned char)*s))
					return -1;
				for (; isdigit((unsigned char)*s); s++) {
					frac_us += (*s - '0') * scale;
					scale /= 10;
				}
			}
		}
	}
	if (*s == 'Z')
		s++;
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || y < 1970)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalizes the 31st of February: refuse instead */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	*out_us = (long long)t * 1000000 + frac_us;
	return 0;
}

static int
parse_cidr(const char *s, struct range *r)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	uint8_t a[16];
	long bits, maxbits;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	char *end;

	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, a + 12) == 1) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, addr, a) == 1)
		maxbits = 128;
	else
		return -1;
	bits = maxbits;
	if (slash != NULL) {
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || end == slash + 1 || bits < 0 ||
		    bits > maxbits)
			return -1;
	}
	if (maxbits == 32)
		bits += 96;
	for (int i = 0; i < 16; i++) {
		int keep = bits >= (i + 1) * 8 ? 8 : bits > i * 8 ?
		    (int)bits - i * 8 : 0;
		uint8_t mask = keep == 0 ? 0 : (uint8_t)(0xff << (8 - keep));

		r->lo[i] = a[i] & mask;
		r->hi[i] = a[i] | (uint8_t)~mask;
	}
	r->set = true;
	return 0;
}

static int
parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static const char *const cmd_names[] = {
	[CMD_LOG] = "log",
	[CMD_HISTORY] = "history",
	[CMD_SUMMARY] = "summary",
};

static void
usage(enum cmd cmd, FILE *f)
{
	fprintf(f,
	    "usage: ctguard %s [options]\n"
	    "%s\n"
	    "  -d, --db PATH       audit database (default %s)\n"
	    "      --since T       from T (inclusive)\n"
	    "      --until T       up to T (exclusive)\n"
	    "                      T: 2026-11-25T10:00:00 or \"2026-11-25 10:00:00\"\n"
	    "                      (UTC), Unix seconds, or 30s, 15m, 1h, 2d ago\n",
	    cmd_names[cmd],
	    cmd == CMD_LOG ? "Show packet verdicts, oldest first." :
	    cmd == CMD_HISTORY ? "Show finished connections, oldest first." :
	    "Count verdicts by verdict, reason and rule; top sources and "
	    "destinations.",
	    CTG_LOGCLI_DEFAULT_DB);
	if (cmd != CMD_HISTORY)
		fprintf(f,
		    "      --verdict V     accept, drop or reject\n"
		    "      --reason NAME   reason code, e.g. tcp_seq_above_window\n");
	fprintf(f,
	    "      --src ADDR[/LEN] source address or CIDR (IPv4 or IPv6)\n"
	    "      --dst ADDR[/LEN] destination address or CIDR\n"
	    "      --port N        source or destination port\n"
	    "      --proto P       tcp, udp, icmp, icmpv6 or a number\n"
	    "      --rule NAME     rule name\n"
	    "      --conn ID       connection id\n");
	if (cmd != CMD_SUMMARY)
		fprintf(f,
		    "      --limit N       only the N most recent\n"
		    "      --format F      table (default), json (one object per line)"
		    " or csv\n");
	else
		fprintf(f, "      --format F      table (default), json or csv\n");
	if (cmd == CMD_LOG)
		fprintf(f, "      --follow        keep printing new verdicts "
		    "until interrupted\n");
	fprintf(f, "  -h, --help          this text\n");
}

static int
usage_error(enum cmd cmd, FILE *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
usage_error(enum cmd cmd, FILE *err, const char *fmt, ...)
{
	va_list ap;

	fprintf(err, "ctguard %s: ", cmd_names[cmd]);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fprintf(err, "\nTry 'ctguard %s --help'.\n", cmd_names[cmd]);
	return 2;
}

enum opt_id {
	O_DB, O_SINCE, O_UNTIL, O_VERDICT, O_REASON, O_SRC, O_DST, O_PORT,
	O_PROTO, O_RULE, O_CONN, O_LIMIT, O_FORMAT, O_FOLLOW, O_FOLLOW_FOR,
	O_HELP
};

static const struct {
	const char *name;
	char short_name;
	bool arg;
	enum opt_id id;
} options[] = {
	{ "db", 'd', true, O_DB },
	{ "since", 0, true, O_SINCE },
	{ "until", 0, true, O_UNTIL },
	{ "verdict", 0, true, O_VERDICT },
	{ "reason", 0, true, O_REASON },
	{ "src", 0, true, O_SRC },
	{ "dst", 0, true, O_DST },
	{ "port", 0, true, O_PORT },
	{ "proto", 0, true, O_PROTO },
	{ "rule", 0, true, O_RULE },
	{ "conn", 0, true, O_CONN },
	{ "limit", 0, true, O_LIMIT },
	{ "format", 0, true, O_FORMAT },
	{ "follow", 0, false, O_FOLLOW },
	{ "follow-for-ms", 0, true, O_FOLLOW_FOR },     /* for tests */
	{ "help", 'h', false, O_HELP },
};

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, struct opts *o, FILE *out, FILE *err)
{
	long long v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		size_t nlen;
		int k, nopt = (int)(sizeof(options) / sizeof(options[0]));

		if (a[0] != '-' || a[1] == '\0')
			return usage_error(o->cmd, err, "unexpected argument '%s'", a);
		if (a[1] == '-') {
			eq = strchr(a + 2, '=');
			nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			for (k = 0; k < nopt; k++) {
				if (strlen(options[k].name) == nlen &&
				    strncmp(options[k].name, a + 2, nlen) == 0)
					break;
			}
			if (k == nopt)
				return usage_error(o->cmd, err,
				    "unknown option '%s'", a);
			if (eq != NULL && !options[k].arg)
				return usage_error(o->cmd, err,
				    "option '%s' takes no value", a);
			if (eq != NULL)
				val = eq + 1;
		} else {
			for (k = 0; k < nopt; k++) {
				if (options[k].short_name == a[1])
					break;
			}
			if (k == nopt)
				return usage_error(o->cmd, err,
				    "unknown option '%s'", a);
			if (a[2] != '\0') {
				if (!options[k].arg)
					return usage_error(o->cmd, err,
					    "unknown option '%s'", a);
				val = a + 2;
			}
		}
		if (options[k].arg && val == NULL) {
			if (i + 1 >= argc)
				return usage_error(o->cmd, err,
				    "option '%s' needs a value", a);
			val = argv[++i];
		}

		switch (options[k].id) {
		case O_DB:
			o->db = val;
			break;
		case O_SINCE:
		case O_UNTIL:
			if (ctg_logcli_parse_time(val, now_us(), &v) == -1)
				return usage_error(o->cmd, err,
				    "invalid time '%s' (use 2026-11-25T10:00:00, "
				    "Unix seconds, or 30s/15m/1h/2d)", val);
			if (options[k].id == O_SINCE) {
				o->has_since = true;
				o->since_us = v;
			} else {
				o->has_until = true;
				o->until_us = v;
			}
			break;
		case O_VERDICT:
			if (o->cmd == CMD_HISTORY)
				return usage_error(o->cmd, err,
				    "option '%s' applies to log and summary", a);
			if (strcmp(val, "accept") != 0 && strcmp(val, "drop") != 0 &&
			    strcmp(val, "reject") != 0)
				return usage_error(o->cmd, err, "invalid verdict '%s' "
				    "(accept, drop or reject)", val);
			o->verdict = val;
			break;
		case O_REASON: {
			enum ctg_reason r;

			if (o->cmd == CMD_HISTORY)
				return usage_error(o->cmd, err,
				    "option '%s' applies to log and summary", a);
			if (ctg_reason_parse(val, &r) == -1)
				return usage_error(o->cmd, err,
				    "unknown reason '%s'", val);
			o->reason = val;
			break;
		}
		case O_SRC:
		case O_DST:
			if (parse_cidr(val, options[k].id == O_SRC ? &o->src :
			    &o->dst) == -1)
				return usage_error(o->cmd, err, "invalid address "
				    "'%s' (use ADDR or ADDR/LEN)", val);
			break;
		case O_PORT:
			if (parse_num(val, 0, 65535, &v) == -1)
				return usage_error(o->cmd, err,
				    "invalid port '%s'", val);
			o->port = (long)v;
			break;
		case O_PROTO:
			if (strcmp(val, "tcp") == 0)
				o->proto = 6;
			else if (strcmp(val, "udp") == 0)
				o->proto = 17;
			else if (strcmp(val, "icmp") == 0)
				o->proto = 1;
			else if (strcmp(val, "icmpv6") == 0)
				o->proto = 58;
			else if (parse_num(val, 0, 255, &v) == 0)
				o->proto = (long)v;
			else
				return usage_error(o->cmd, err, "invalid protocol "
				    "'%s' (tcp, udp, icmp, icmpv6 or 0-255)", val);
			break;
		case O_RULE:
			o->rule = val;
			break;
		case O_CONN:
			if (parse_num(val, 0, INT64_MAX, &v) == -1)
				return usage_error(o->cmd, err,
				    "invalid connection id '%s'", val);
			o->has_conn = true;
			o->conn = v;
			break;
		case O_LIMIT:
			if (o->cmd == CMD_SUMMARY)
				return usage_error(o->cmd, err,
				    "option '%s' applies to log and history", a);
			if (parse_num(val, 1, INT64_MAX, &v) == -1)
				return usage_error(o->cmd, err,
				    "invalid limit '%s'", val);
			o->limit = v;
			break;
		case O_FORMAT:
			if (strcmp(val, "table") == 0)
				o->fmt = FMT_TABLE;
			else if (strcmp(val, "json") == 0)
				o->fmt = FMT_JSON;
			else if (strcmp(val, "csv") == 0)
				o->fmt = FMT_CSV;
			else
				return usage_error(o->cmd, err, "invalid format "
				    "'%s' (table, json or csv)", val);
			break;
		case O_FOLLOW:
		case O_FOLLOW_FOR:
			if (o->cmd != CMD_LOG)
				return usage_error(o->cmd, err,
				    "option '%s' applies to log only", a);
			o->follow = true;
			if (options[k].id == O_FOLLOW_FOR) {
				if (parse_num(val, 0, INT32_MAX, &v) == -1)
					return usage_error(o->cmd, err,
					    "invalid duration '%s'", val);
				o->follow_ms = v;
			}
			break;
		case O_HELP:
			usage(o->cmd, out);
			return 0;
		}
	}
	if (o->has_since && o->has_until && o->since_us >= o->until_us)
		return usage_error(o->cmd, err, "%s", "--since must be before --until");
	return -1;
}

/* Queries. */

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

/* WHERE clause for verdicts (log, summary) or connections (history). */
static void
build_where(const struct opts *o, char *w, size_t wlen, struct params *p)
{
	bool conns = o->cmd == CMD_HISTORY;

	snprintf(w, wlen, " WHERE 1");
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

static int
db_error(sqlite3 *db, const char *path, int rc, FILE *err)
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

/* Runs a prepared query to its end through the printer. */
static int
run_rows(sqlite3 *db, sqlite3_stmt *st, struct printer *pr, const char *path,
    long long *last_id, FILE *err)
{
	struct cell row[32];
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < pr->ncols; i++)
			row[i].text = format_cell(pr->cols[i].kind, st, i, &row[i].jt);
		if (last_id != NULL)
			*last_id = sqlite3_column_int64(st, 0);
		for (int i = 0; i < pr->ncols; i++) {
			if (row[i].text == NULL) {
				fprintf(err, "ctguard: out of memory\n");
				for (int j = 0; j < pr->ncols; j++)
					free(row[j].text);
				return 1;
			}
		}
		if (printer_row(pr, row) == -1) {
			fprintf(err, "ctguard: out of memory\n");
			for (int j = 0; j < pr->ncols; j++)
				free(row[j].text);
			return 1;
		}
	}
	if (rc != SQLITE_DONE)
		return db_error(db, path, rc, err);
	return 0;
}

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path,
    FILE *err)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		return db_error(db, path, rc, err);
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int
cmd_rows(sqlite3 *db, const struct opts *o, FILE *out, FILE *err)
{
	const struct col *cols = o->cmd == CMD_LOG ? log_cols : history_cols;
	int ncols = o->cmd == CMD_LOG ? NCOLS(log_cols) : NCOLS(history_cols);
	const char *table = o->cmd == CMD_LOG ? "verdicts" : "connections";
	char select[1024], where[1024], sql[4096];
	struct params p = { 0 };
	struct printer pr;
	sqlite3_stmt *st;
	long long last_id = 0, waited = 0;
	int rc;

	snprintf(select, sizeof(select), "SELECT ");
	for (int i = 0; i < ncols; i++) {
		append(select, sizeof(select), i ? ", " : "");
		append(select, sizeof(select), cols[i].expr);
	}
	build_where(o, where, sizeof(where), &p);
	if (o->limit > 0)
		snprintf(sql, sizeof(sql), "SELECT * FROM (%s FROM %s%s ORDER BY "
		    "id DESC LIMIT %lld) ORDER BY id", select, table, where,
		    o->limit);
	else
		snprintf(sql, sizeof(sql), "%s FROM %s%s ORDER BY id", select,
		    table, where);
	if (prepare(db, sql, &st, o->db, err) != 0)
		return 1;
	bind_params(st, &p);
	if (printer_init(&pr, out, o->fmt, cols, ncols) == -1) {
		sqlite3_finalize(st);
		printer_free(&pr);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	rc = run_rows(db, st, &pr, o->db, &last_id, err);
	sqlite3_finalize(st);
	if (rc != 0)
		goto out;
	printer_end(&pr);
	if (!o->follow)
		goto out;

	/* Poll by id: new rows only, same filters, widths kept. */
	pr.widths_fixed = true;
	snprintf(sql, sizeof(sql), "%s FROM %s%s AND id > ? ORDER BY id",
	    select, table, where);
	if (prepare(db, sql, &st, o->db, err) != 0) {
		rc = 1;
		goto out;
	}
	for (;;) {
		if (o->follow_ms >= 0 && waited >= o->follow_ms)
			break;
		sleep_ms(FOLLOW_POLL_MS);
		waited += FOLLOW_POLL_MS;
		bind_params(st, &p);
		sqlite3_bind_int64(st, p.n + 1, last_id);
		rc = run_rows(db, st, &pr, o->db, &last_id, err);
		sqlite3_reset(st);
		if (rc != 0)
			break;
		if (pr.fmt == FMT_TABLE)
			table_flush(&pr);
		fflush(out);
	}
	sqlite3_finalize(st);
out:
	printer_free(&pr);
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

	build_where(o, where, sizeof(where), &p);
	snprintf(sql, sizeof(sql), "SELECT '%s', %s, count(*) FROM verdicts%s "
	    "GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT %d", group, expr, where,
	    limit > 0 ? limit : -1);
	if (prepare(db, sql, &st, o->db, err) != 0)
		return 1;
	bind_params(st, &p);
	if (pr->fmt != FMT_TABLE) {
		rc = run_rows(db, st, pr, o->db, NULL, err);
		sqlite3_finalize(st);
		return rc;
	}
	/* Table: one small aligned table per group, without the group column. */
	memcpy(named, cols, sizeof(named));
	named[0].name = group;
	if (printer_init(&tpr, out, FMT_TABLE, named, 2) == -1) {
		sqlite3_finalize(st);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cell row[2];

		row[0].text = format_cell(K_TEXT, st, 1, &row[0].jt);
		row[1].text = format_cell(K_INT, st, 2, &row[1].jt);
		if (row[0].text == NULL || row[1].text == NULL ||
		    printer_row(&tpr, row) == -1) {
			free(row[0].text);
			free(row[1].text);
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		printer_free(&tpr);
		return db_error(db, o->db, rc, err);
	}
	fputc('\n', out);
	table_flush(&tpr);
	printer_free(&tpr);
	return 0;
}

static int
cmd_summary(sqlite3 *db, const struct opts *o, FILE *out, FILE *err)
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

	build_where(o, where, sizeof(where), &p);
	snprintf(sql, sizeof(sql), "SELECT 'total', NULL, count(*), min(time_us),"
	    " max(time_us) FROM verdicts%s", where);
	if (prepare(db, sql, &st, o->db, err) != 0)
		return 1;
	bind_params(st, &p);
	if (printer_init(&pr, out, o->fmt, summary_cols,
	    NCOLS(summary_cols)) == -1) {
		sqlite3_finalize(st);
		printer_free(&pr);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		printer_free(&pr);
		return db_error(db, o->db, rc, err);
	}
	if (o->fmt == FMT_TABLE) {
		char first[64] = "-", last[64] = "-";

		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			format_time(sqlite3_column_int64(st, 3), first, sizeof(first));
			format_time(sqlite3_column_int64(st, 4), last, sizeof(last));
		}
		fprintf(out, "verdicts: %lld\nfirst: %s\nlast: %s\n",
		    (long long)sqlite3_column_int64(st, 2), first, last);
	} else {
		struct cell row[3];

		row[0].text = strdup("total");
		row[0].jt = J_STR;
		row[1].text = strdup("");
		row[1].jt = J_NULL;
		row[2].text = format_cell(K_INT, st, 2, &row[2].jt);
		if (row[0].text == NULL || row[1].text == NULL ||
		    row[2].text == NULL || printer_row(&pr, row) == -1) {
			free(row[0].text);
			free(row[1].text);
			free(row[2].text);
			rc = SQLITE_NOMEM;
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_NOMEM) {
		printer_free(&pr);
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	rc = 0;
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]) && rc == 0; g++)
		rc = summary_group(db, o, groups[g].group, groups[g].expr,
		    groups[g].limit, &pr, out, err);
	/* Table groups printed themselves; pr only carries json and csv. */
	if (rc == 0 && o->fmt != FMT_TABLE)
		printer_end(&pr);
	fflush(out);
	printer_free(&pr);
	return rc;
}

/* Opening. */

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

static int
open_db(const char *path, sqlite3 **out, FILE *err)
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
		db_error(db, path, rc, err);
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

int
ctg_logcli_main(int argc, char **argv, FILE *out, FILE *err)
{
	struct opts o;
	sqlite3 *db;
	int rc;

	memset(&o, 0, sizeof(o));
	if (argc < 1 || argv[0] == NULL) {
		fprintf(err, "ctguard: no command\n");
		return 2;
	}
	if (strcmp(argv[0], "log") == 0)
		o.cmd = CMD_LOG;
	else if (strcmp(argv[0], "history") == 0)
		o.cmd = CMD_HISTORY;
	else if (strcmp(argv[0], "summary") == 0)
		o.cmd = CMD_SUMMARY;
	else {
		fprintf(err, "ctguard: unknown command '%s' (log, history or "
		    "summary)\n", argv[0]);
		return 2;
	}
	o.db = CTG_LOGCLI_DEFAULT_DB;
	o.port = -1;
	o.proto = -1;
	o.follow_ms = -1;
	rc = parse_args(argc, argv, &o, out, err);
	if (rc >= 0)
		return rc;
	if (open_db(o.db, &db, err) != 0)
		return 1;
	if (o.cmd == CMD_SUMMARY)
		rc = cmd_summary(db, &o, out, err);
	else
		rc = cmd_rows(db, &o, out, err);
	sqlite3_close(db);
	fflush(out);
	return rc;
}
