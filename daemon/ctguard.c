/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctguard: the command line for operators and auditors.
 *
 * Audit queries (log, history, summary) read the SQLite database directly
 * and work whether or not the daemon runs; everything else asks the daemon
 * over its control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctguard/control.h"
#include "ctguard/logcli.h"
#include "ctguard/report.h"

#ifndef CTG_RUNDIR
#define CTG_RUNDIR "/run/ctguard"
#endif

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: ctguard [-s SOCKET] COMMAND [ARGS]\n"
	    "\n"
	    "daemon commands (over the control socket, default %s/control.sock):\n"
	    "  status                          version, uptime, queues, table fill, log lag\n"
	    "  connections [--addr CIDR] [--port N] [--proto P] [--state S] [--json]\n"
	    "                                  live connections, like conntrack -L\n"
	    "  stats [--prometheus [--textfile PATH]]\n"
	    "                                  counters per verdict, reason, rule and queue;\n"
	    "                                  --textfile: written atomically for node exporter\n"
	    "  reload                          reload configuration and rules\n"
	    "  flush                           end every tracked connection\n"
	    "  kill CONN-ID                    end one connection\n"
	    "  reopen-log                      reopen the audit database (after rotation)\n"
	    "  set add SET ADDR|CIDR [--timeout DURATION] [--comment TEXT] [--cut]\n"
	    "  set del SET ADDR|CIDR [--cut]   change a set declared dynamic = true\n"
	    "  set flush SET [--cut]           (--cut: end live connections it now refuses)\n"
	    "  set load SET FILE [--timeout DURATION] [--comment TEXT] [--cut]\n"
	    "                                  replace the contents, atomically\n"
	    "  set list [SET] [--json]         entries and the seconds they have left\n"
	    "  ha primary|backup|fault         record this gateway's role (keepalived's notify hook)\n"
	    "  ha status [--json]              state sync: role, members, messages, lag, bulk\n"
	    "\n"
	    "audit commands (read the SQLite database, -d PATH):\n"
	    "  log       verdicts     (ctguard log --help)\n"
	    "  history   ended connections\n"
	    "  summary   counts by verdict, reason, rule, top talkers\n"
	    "  report    charts of a period as one HTML page (ctguard report --help)\n", CTG_RUNDIR);
}

/*
 * One request; *body gets the reply after "ok\n" (the caller frees it).
 * Returns 0, or 1 after the error was reported on stderr.
 */
static int
ask_reply(const char *sock, const char *req, char **body)
{
	char *reply = malloc(CTG_CTL_MAX_REPLY + 1);
	long n;
	int fd;

	*body = NULL;
	if (!reply) {
		fprintf(stderr, "ctguard: out of memory\n");
		return 1;
	}
	if ((fd = ctg_ctl_connect(sock)) < 0) {
		fprintf(stderr, "ctguard: cannot reach ctguardd at %s: %s\n", sock, strerror(errno));
		free(reply);
		return 1;
	}
	if (ctg_ctl_send(fd, req, (uint32_t)strlen(req), 5000) < 0 ||
	    (n = ctg_ctl_recv(fd, reply, CTG_CTL_MAX_REPLY, 30000)) < 0) {
		fprintf(stderr, "ctguard: %s: %s\n", sock, strerror(errno));
		close(fd);
		free(reply);
		return 1;
	}
	close(fd);
	if (strncmp(reply, "ok\n", 3) == 0) {
		memmove(reply, reply + 3, (size_t)n - 3 + 1);
		*body = reply;
		return 0;
	}
	fprintf(stderr, "ctguard: %s", reply);
	if (n == 0 || reply[n - 1] != '\n')
		fputc('\n', stderr);
	free(reply);
	return 1;
}

static int
ask(const char *sock, const char *req)
{
	char *body;

	if (ask_reply(sock, req, &body) != 0)
		return 1;
	fputs(body, stdout);
	free(body);
	return 0;
}

/*
 * For node exporter's textfile collector: the metrics written to PATH
 * through a temporary file in the same directory and a rename, so a
 * scrape never reads half a file. When the daemon does not answer, the
 * file says ctguard_up 0 (and the command fails), rather than keeping
 * numbers that look alive.
 */
static int
stats_textfile(const char *sock, const char *path)
{
	static const char down[] = "# HELP ctguard_up 1 when ctguardd answered this scrape.\n"
	    "# TYPE ctguard_up gauge\nctguard_up 0\n";
	char tmp[PATH_MAX], *body;
	int rc = ask_reply(sock, "stats prometheus", &body), fd;
	const char *text = rc == 0 ? body : down;
	size_t len = strlen(text), off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		fprintf(stderr, "ctguard: %s: path too long\n", path);
		free(body);
		return 1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "ctguard: %s: %s\n", tmp, strerror(errno));
		free(body);
		return 1;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(body);
	if (off != len || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "ctguard: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	return rc;
}

static int
cmd_connections(const char *sock, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "src", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "proto", required_argument, NULL, 'P' },
		{ "state", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char req[CTG_CTL_MAX_REQUEST];
	size_t len = (size_t)snprintf(req, sizeof(req), "connections");
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *key = ch == 'a' ? "addr" : ch == 'p' ? "port" : ch == 'P' ? "proto" :
		    ch == 'S' ? "state" : NULL;

		if (ch == 'j')
			len += (size_t)snprintf(req + len, sizeof(req) - len, " json");
		else if (key && strchr(optarg, ' ') == NULL)
			len += (size_t)snprintf(req + len, sizeof(req) - len, " %s=%s", key, optarg);
		else {
			fprintf(stderr, "usage: ctguard connections [--addr CIDR] [--port N] "
			    "[--proto P] [--state S] [--json]\n");
			return 2;
		}
		if (len >= sizeof(req)) {
			fprintf(stderr, "ctguard: filter too long\n");
			return 2;
		}
	}
	return ask(sock, req);
}

/* "90", "90s", "15m", "2h", "7d" as seconds; 0 on error. */
static unsigned long long
parse_duration(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return 0;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': v *= 60; break;
	case 'h': v *= 3600; break;
	case 'd': v *= 86400; break;
	default: return 0;
	}
	if (*end != '\0' && end[1] != '\0')
		return 0;
	return v <= 10ULL * 365 * 86400 ? v : 0;
}

static int
set_usage(void)
{
	fprintf(stderr, "usage: ctguard set add SET ADDR|CIDR [--timeout DURATION] [--comment TEXT] [--cut]\n"
	    "       ctguard set del SET ADDR|CIDR [--cut]\n"
	    "       ctguard set flush SET [--cut]\n"
	    "       ctguard set load SET FILE [--timeout DURATION] [--comment TEXT] [--cut]\n"
	    "       ctguard set list [SET] [--json]\n");
	return 2;
}

/* Arguments are single words on the wire, so none may hold a space. */
static bool
one_word(const char *s)
{
	return s[0] != '\0' && strpbrk(s, " \t\r\n") == NULL;
}

static int
cmd_set(const char *sock, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "comment", required_argument, NULL, 'c' },
		{ "cut", no_argument, NULL, 'x' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char req[CTG_CTL_MAX_REQUEST], path[PATH_MAX];
	const char *sub, *comment = NULL;
	unsigned long long timeout = 0;
	bool cut = false, json = false;
	unsigned want;
	size_t len;
	int ch;

	if (argc < 2)
		return set_usage();
	sub = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if ((timeout = parse_duration(optarg)) == 0) {
				fprintf(stderr, "ctguard: bad duration '%s' (90, 90s, 15m, 2h, 7d; "
				    "at most 10 years)\n", optarg);
				return 2;
			}
			break;
		case 'c':
			comment = optarg;
			break;
		case 'x':
			cut = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			return set_usage();
		}
	}
	want = strcmp(sub, "add") == 0 || strcmp(sub, "del") == 0 || strcmp(sub, "load") == 0 ? 2 :
	    strcmp(sub, "flush") == 0 ? 1 : strcmp(sub, "list") == 0 ? 0 : 9;
	if (want == 9 || (want == 0 && argc - optind > 1) || (want && argc - optind != (int)want) ||
	    (json && want != 0) || (cut && want == 0) ||
	    ((timeout || comment) && strcmp(sub, "add") != 0 && strcmp(sub, "load") != 0))
		return set_usage();
	for (int k = optind; k < argc; k++)
		if (!one_word(argv[k])) {
			fprintf(stderr, "ctguard: '%s': no spaces allowed here\n", argv[k]);
			return 2;
		}
	len = (size_t)snprintf(req, sizeof(req), "set-%s", sub);
	if (argc - optind >= 1)
		len += (size_t)snprintf(req + len, sizeof(req) - len, " %s", argv[optind]);
	if (want == 2) {
		const char *what = argv[optind + 1];

		/* the daemon opens the file: give it a path that does not depend on our cwd */
		if (strcmp(sub, "load") == 0) {
			if (realpath(what, path) == NULL) {
				fprintf(stderr, "ctguard: %s: %s\n", what, strerror(errno));
				return 1;
			}
			if (!one_word(path)) {
				fprintf(stderr, "ctguard: '%s': no spaces allowed in the path\n", path);
				return 2;
			}
			what = path;
		}
		len += (size_t)snprintf(req + len, sizeof(req) - len, " %s", what);
	}
	if (timeout)
		len += (size_t)snprintf(req + len, sizeof(req) - len, " timeout=%llu", timeout);
	if (cut)
		len += (size_t)snprintf(req + len, sizeof(req) - len, " cut");
	if (json)
		len += (size_t)snprintf(req + len, sizeof(req) - len, " json");
	if (comment) {
		if (strpbrk(comment, "\r\n") != NULL) {
			fprintf(stderr, "ctguard: a comment is one line\n");
			return 2;
		}
		len += (size_t)snprintf(req + len, sizeof(req) - len, " comment=%s", comment);
	}
	if (len >= sizeof(req)) {
		fprintf(stderr, "ctguard: request too long\n");
		return 2;
	}
	return ask(sock, req);
}

int
main(int argc, char **argv)
{
	const char *sock = CTG_RUNDIR "/control.sock";
	const char *cmd;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--socket") == 0) && i + 1 < argc) {
			sock = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("ctguard %s\n", PACKAGE_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i];
	if (strcmp(cmd, "log") == 0 || strcmp(cmd, "history") == 0 || strcmp(cmd, "summary") == 0)
		return ctg_logcli_main(argc - i, argv + i, stdout, stderr);
	if (strcmp(cmd, "report") == 0)
		return ctg_report_main(argc - i, argv + i, stdout, stderr);
	if (strcmp(cmd, "connections") == 0)
		return cmd_connections(sock, argc - i, argv + i);
	if (strcmp(cmd, "set") == 0)
		return cmd_set(sock, argc - i, argv + i);
	if (strcmp(cmd, "stats") == 0) {
		int n = argc - i;

		if (n == 4 && strcmp(argv[i + 1], "--prometheus") == 0 &&
		    strcmp(argv[i + 2], "--textfile") == 0)
			return stats_textfile(sock, argv[i + 3]);
		if (n > 2 || (n == 2 && strcmp(argv[i + 1], "--prometheus") != 0)) {
			fprintf(stderr, "usage: ctguard stats [--prometheus [--textfile PATH]]\n");
			return 2;
		}
		return ask(sock, n == 2 ? "stats prometheus" : "stats");
	}
	if (strcmp(cmd, "ha") == 0) {
		const char *sub = argc - i >= 2 ? argv[i + 1] : "";

		if (argc - i == 2 && (strcmp(sub, "primary") == 0 || strcmp(sub, "backup") == 0 ||
		    strcmp(sub, "fault") == 0)) {
			char req[32];

			snprintf(req, sizeof(req), "ha-role %s", sub);
			return ask(sock, req);
		}
		if (strcmp(sub, "status") == 0 && (argc - i == 2 ||
		    (argc - i == 3 && strcmp(argv[i + 2], "--json") == 0)))
			return ask(sock, argc - i == 3 ? "ha-status json" : "ha-status");
		fprintf(stderr, "usage: ctguard ha primary|backup|fault\n"
		    "       ctguard ha status [--json]\n");
		return 2;
	}
	if (strcmp(cmd, "kill") == 0) {
		char req[64];
		char *end;

		if (argc - i != 2 || strtoull(argv[i + 1], &end, 10) == 0 || *end != '\0') {
			fprintf(stderr, "usage: ctguard kill CONN-ID\n");
			return 2;
		}
		snprintf(req, sizeof(req), "kill %s", argv[i + 1]);
		return ask(sock, req);
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0 ||
	    strcmp(cmd, "flush") == 0 || strcmp(cmd, "reopen-log") == 0) {
		if (argc - i != 1) {
			fprintf(stderr, "usage: ctguard %s\n", cmd);
			return 2;
		}
		return ask(sock, cmd);
	}
	fprintf(stderr, "ctguard: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
