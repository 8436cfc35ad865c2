/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard log` (verdicts), `ctguard history` (connections) and
 * `ctguard summary` (counts): the command line. The queries are in
 * logquery.c, the output formats in logprint.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ctguard/clock.h"
#include "ctguard/logcli.h"
#include "ctguard/netaddr.h"
#include "ctguard/proto.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"
#include "ctguard/types.h"
#include "logcli-int.h"

/* Parsing option values. */

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

/*
 * An address argument: the rule language's acceptance (netaddr.h), as a
 * range of the 16-byte keys the database stores (IPv4 mapped to
 * ::ffff:0:0/96), so that one BETWEEN answers either family.
 */
static int
parse_cidr(const char *s, struct range *r, char *err, size_t errlen)
{
	struct ctg_prefix p;
	uint8_t a[16];
	unsigned bits;

	if (ctg_prefix_parse(s, &p, err, errlen) == -1)
		return -1;
	if (p.family == 4) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, p.addr.b, 4);
		bits = 96u + p.plen;
	} else {
		memcpy(a, p.addr.b, 16);
		bits = p.plen;
	}
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits >= (i + 1) * 8 ? 8 : bits > i * 8 ? bits - i * 8 : 0;
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
	[CMD_EVENTS] = "events",
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
	    cmd == CMD_EVENTS ? "Show the daemon's events (starts, reloads, set "
	    "changes, log gaps...), oldest first." :
	    "Count verdicts by verdict, reason and rule; top sources and "
	    "destinations.",
	    CTG_LOGCLI_DEFAULT_DB);
	if (cmd == CMD_LOG || cmd == CMD_SUMMARY)
		fprintf(f,
		    "      --verdict V     accept, drop or reject\n"
		    "      --reason NAME   reason code, e.g. tcp_seq_above_window\n");
	if (cmd != CMD_EVENTS)
		fprintf(f,
		    "      --src ADDR[/LEN] source address or CIDR (IPv4 or IPv6)\n"
		    "      --dst ADDR[/LEN] destination address or CIDR\n"
		    "      --port N        source or destination port\n"
		    "      --proto P       tcp, udp, icmp, icmpv6 or a number\n"
		    "      --rule NAME     rule name\n"
		    "      --conn ID       connection id\n");
	else
		fprintf(f, "      --kind K        one kind of event, e.g. rules_load\n");
	if (cmd == CMD_HISTORY)
		fprintf(f,
		    "      --nat-addr ADDR[/LEN] public address of a NAT mapping: the\n"
		    "                      source after SNAT or the destination before DNAT\n"
		    "      --nat-port N    public port of a NAT mapping\n");
	if (cmd != CMD_SUMMARY)
		fprintf(f,
		    "      --limit N       only the N most recent\n"
		    "      --format F      table (default), json (one object per line)"
		    " or csv\n");
	else
		fprintf(f, "      --format F      table (default), json or csv\n");
	if (cmd == CMD_LOG || cmd == CMD_EVENTS)
		fprintf(f, "      --follow        keep printing new %s until interrupted\n"
		    "      --after-id N    only %s with an id above N (a shipper\n"
		    "                      resumes after the last id it saw; ids go on\n"
		    "                      across log rotation and restarts)\n",
		    cmd == CMD_LOG ? "verdicts" : "events", cmd == CMD_LOG ? "verdicts" : "events");
	if (cmd == CMD_HISTORY)
		fprintf(f, "      --follow        keep printing connections as they end,\n"
		    "                      in the order they were written (seq)\n"
		    "      --after-seq N   only connections written after seq N (the\n"
		    "                      stream position: a connection's id is its\n"
		    "                      start, but it is written at its end)\n");
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

/*
 * The options. Each has a setter; `cmds` says which commands take it (the
 * others refuse it with "applies to <applies>") before its value is read.
 * A setter returns -1 to go on, or an exit status.
 */
struct cli {
	struct opts *o;
	FILE *out, *err;
	const char *arg;        /* the option as written, for messages */
};

#define FOR_LOG         (1u << CMD_LOG)
#define FOR_HISTORY     (1u << CMD_HISTORY)
#define FOR_SUMMARY     (1u << CMD_SUMMARY)
#define FOR_EVENTS      (1u << CMD_EVENTS)
#define FOR_ROWS        (FOR_LOG | FOR_HISTORY | FOR_SUMMARY)   /* packets and connections */
#define FOR_ALL         (FOR_ROWS | FOR_EVENTS)

static int
set_db(struct cli *c, const char *val)
{
	c->o->db = val;
	return -1;
}

static int
set_time(struct cli *c, const char *val, bool *has, long long *us)
{
	if (ctg_logcli_parse_time(val, (long long)ctg_clock_wall_us(), us) == -1)
		return usage_error(c->o->cmd, c->err, "invalid time '%s' (use 2026-11-25T10:00:00, "
		    "Unix seconds, or 30s/15m/1h/2d)", val);
	*has = true;
	return -1;
}

static int
set_since(struct cli *c, const char *val)
{
	return set_time(c, val, &c->o->has_since, &c->o->since_us);
}

static int
set_until(struct cli *c, const char *val)
{
	return set_time(c, val, &c->o->has_until, &c->o->until_us);
}

static int
set_verdict(struct cli *c, const char *val)
{
	if (strcmp(val, "accept") != 0 && strcmp(val, "drop") != 0 &&
	    strcmp(val, "reject") != 0)
		return usage_error(c->o->cmd, c->err, "invalid verdict '%s' "
		    "(accept, drop or reject)", val);
	c->o->verdict = val;
	return -1;
}

static int
set_reason(struct cli *c, const char *val)
{
	enum ctg_reason r;

	if (ctg_reason_parse(val, &r) == -1)
		return usage_error(c->o->cmd, c->err, "unknown reason '%s'", val);
	c->o->reason = val;
	return -1;
}

static int
set_addr(struct cli *c, const char *val, struct range *r)
{
	char why[160];

	if (parse_cidr(val, r, why, sizeof(why)) == -1)
		return usage_error(c->o->cmd, c->err, "invalid address "
		    "'%s' (%s; use ADDR or ADDR/LEN)", val, why);
	return -1;
}

static int
set_src(struct cli *c, const char *val)
{
	return set_addr(c, val, &c->o->src);
}

static int
set_dst(struct cli *c, const char *val)
{
	return set_addr(c, val, &c->o->dst);
}

static int
set_port(struct cli *c, const char *val)
{
	char why[160];
	uint16_t port;

	if (ctg_port_parse(val, &port, why, sizeof(why)) == -1)
		return usage_error(c->o->cmd, c->err, "invalid port '%s' (%s)", val, why);
	c->o->port = port;
	return -1;
}

static int
set_nat_addr(struct cli *c, const char *val)
{
	return set_addr(c, val, &c->o->nat_addr);
}

static int
set_nat_port(struct cli *c, const char *val)
{
	long long v;

	if (parse_num(val, 0, 65535, &v) == -1)
		return usage_error(c->o->cmd, c->err, "invalid port '%s'", val);
	c->o->nat_port = (long)v;
	return -1;
}

static int
set_proto(struct cli *c, const char *val)
{
	char why[160];
	uint8_t proto;

	if (ctg_proto_parse(val, &proto, why, sizeof(why)) == -1)
		return usage_error(c->o->cmd, c->err, "invalid protocol '%s' (%s)", val, why);
	c->o->proto = proto;
	return -1;
}

static int
set_rule(struct cli *c, const char *val)
{
	c->o->rule = val;
	return -1;
}

static int
set_conn(struct cli *c, const char *val)
{
	long long v;

	if (parse_num(val, 0, INT64_MAX, &v) == -1)
		return usage_error(c->o->cmd, c->err, "invalid connection id '%s'", val);
	c->o->has_conn = true;
	c->o->conn = v;
	return -1;
}

static int
set_after_id(struct cli *c, const char *val)
{
	long long v;

	if (parse_num(val, 0, INT64_MAX, &v) == -1)
		return usage_error(c->o->cmd, c->err, "invalid id '%s'", val);
	c->o->has_after_id = true;
	c->o->after_id = v;
	return -1;
}

static int
set_kind(struct cli *c, const char *val)
{
	/* the names are record.c's; its table may grow */
	for (unsigned k = 0; k < 256; k++) {
		const char *name = ctg_event_kind_name((enum ctg_event_kind)k);

		if (name != NULL && strcmp(name, "unknown") != 0 && strcmp(name, val) == 0) {
			c->o->kind = val;
			return -1;
		}
	}
	return usage_error(c->o->cmd, c->err, "unknown event kind '%s'", val);
}

static int
set_limit(struct cli *c, const char *val)
{
	long long v;

	if (parse_num(val, 1, INT64_MAX, &v) == -1)
		return usage_error(c->o->cmd, c->err, "invalid limit '%s'", val);
	c->o->limit = v;
	return -1;
}

static int
set_format(struct cli *c, const char *val)
{
	if (strcmp(val, "table") == 0)
		c->o->fmt = FMT_TABLE;
	else if (strcmp(val, "json") == 0)
		c->o->fmt = FMT_JSON;
	else if (strcmp(val, "csv") == 0)
		c->o->fmt = FMT_CSV;
	else
		return usage_error(c->o->cmd, c->err, "invalid format "
		    "'%s' (table, json or csv)", val);
	return -1;
}

static int
set_follow(struct cli *c, const char *val)
{
	c->o->follow = true;
	return -1;
}

static int
set_follow_for(struct cli *c, const char *val)
{
	long long v;

	c->o->follow = true;
	if (parse_num(val, 0, INT32_MAX, &v) == -1)
		return usage_error(c->o->cmd, c->err, "invalid duration '%s'", val);
	c->o->follow_ms = v;
	return -1;
}

static int
set_help(struct cli *c, const char *val)
{
	usage(c->o->cmd, c->out);
	return 0;
}

static const struct option {
	const char *name;
	char short_name;
	bool arg;
	unsigned cmds;
	const char *applies;            /* when not for every command */
	int (*set)(struct cli *c, const char *val);
} options[] = {
	{ "db", 'd', true, FOR_ALL, NULL, set_db },
	{ "since", 0, true, FOR_ALL, NULL, set_since },
	{ "until", 0, true, FOR_ALL, NULL, set_until },
	{ "verdict", 0, true, FOR_LOG | FOR_SUMMARY, "log and summary", set_verdict },
	{ "reason", 0, true, FOR_LOG | FOR_SUMMARY, "log and summary", set_reason },
	{ "src", 0, true, FOR_ROWS, "log, history and summary", set_src },
	{ "dst", 0, true, FOR_ROWS, "log, history and summary", set_dst },
	{ "port", 0, true, FOR_ROWS, "log, history and summary", set_port },
	{ "proto", 0, true, FOR_ROWS, "log, history and summary", set_proto },
	{ "rule", 0, true, FOR_ROWS, "log, history and summary", set_rule },
	{ "conn", 0, true, FOR_ROWS, "log, history and summary", set_conn },
	{ "kind", 0, true, FOR_EVENTS, "events only", set_kind },
	{ "nat-addr", 0, true, FOR_HISTORY, "history only", set_nat_addr },
	{ "nat-port", 0, true, FOR_HISTORY, "history only", set_nat_port },
	{ "limit", 0, true, FOR_LOG | FOR_HISTORY | FOR_EVENTS, "log, history and events",
	    set_limit },
	{ "format", 0, true, FOR_ALL, NULL, set_format },
	{ "follow", 0, false, FOR_LOG | FOR_HISTORY | FOR_EVENTS, "log, history and events",
	    set_follow },
	{ "follow-for-ms", 0, true, FOR_LOG | FOR_HISTORY | FOR_EVENTS,   /* for tests */
	    "log, history and events", set_follow_for },
	{ "after-id", 0, true, FOR_LOG | FOR_EVENTS, "log and events (history: --after-seq)",
	    set_after_id },
	{ "after-seq", 0, true, FOR_HISTORY, "history only (log and events: --after-id)",
	    set_after_id },
	{ "help", 'h', false, FOR_ALL, NULL, set_help },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/*
 * Which option argument a names, and its inline value: "--name=value" or
 * "-dvalue". Long options must be spelled in full (no abbreviations).
 * Returns NULL after reporting the error into *status.
 */
static const struct option *
find_option(const struct cli *c, const char *a, const char **val, int *status)
{
	const struct option *opt = NULL;

	*val = NULL;
	if (a[0] != '-' || a[1] == '\0') {
		*status = usage_error(c->o->cmd, c->err, "unexpected argument '%s'", a);
		return NULL;
	}
	if (a[1] == '-') {
		const char *eq = strchr(a + 2, '=');
		size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

		for (size_t k = 0; k < NOPTIONS && !opt; k++)
			if (strlen(options[k].name) == nlen &&
			    strncmp(options[k].name, a + 2, nlen) == 0)
				opt = &options[k];
		if (opt && eq && !opt->arg) {
			*status = usage_error(c->o->cmd, c->err, "option '%s' takes no value", a);
			return NULL;
		}
		if (eq)
			*val = eq + 1;
	} else {
		for (size_t k = 0; k < NOPTIONS && !opt; k++)
			if (options[k].short_name == a[1])
				opt = &options[k];
		if (opt && a[2] != '\0') {
			if (!opt->arg)
				opt = NULL;     /* "-hx" */
			else
				*val = a + 2;
		}
	}
	if (!opt)
		*status = usage_error(c->o->cmd, c->err, "unknown option '%s'", a);
	return opt;
}

/* Returns -1 to go on, or an exit status. */
static int
parse_args(int argc, char **argv, struct opts *o, FILE *out, FILE *err)
{
	struct cli c = { .o = o, .out = out, .err = err };

	for (int i = 1; i < argc; i++) {
		const struct option *opt;
		const char *val;
		int status;

		c.arg = argv[i];
		if ((opt = find_option(&c, argv[i], &val, &status)) == NULL)
			return status;
		if (opt->arg && val == NULL) {
			if (i + 1 >= argc)
				return usage_error(o->cmd, err, "option '%s' needs a value", c.arg);
			val = argv[++i];
		}
		if (!(opt->cmds & (1u << o->cmd)))
			return usage_error(o->cmd, err, "option '%s' applies to %s", c.arg,
			    opt->applies);
		if ((status = opt->set(&c, val)) >= 0)
			return status;
	}
	if (o->has_since && o->has_until && o->since_us >= o->until_us)
		return usage_error(o->cmd, err, "%s", "--since must be before --until");
	return -1;
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
	else if (strcmp(argv[0], "events") == 0)
		o.cmd = CMD_EVENTS;
	else {
		fprintf(err, "ctguard: unknown command '%s' (log, history, events "
		    "or summary)\n", argv[0]);
		return 2;
	}
	o.db = CTG_LOGCLI_DEFAULT_DB;
	o.port = -1;
	o.nat_port = -1;
	o.proto = -1;
	o.follow_ms = -1;
	rc = parse_args(argc, argv, &o, out, err);
	if (rc >= 0)
		return rc;
	if (lc_open_db(o.db, &db, err) != 0)
		return 1;
	if (o.cmd == CMD_SUMMARY)
		rc = lc_cmd_summary(db, &o, out, err);
	else
		rc = lc_cmd_rows(db, &o, out, err);
	sqlite3_close(db);
	fflush(out);
	return rc;
}
