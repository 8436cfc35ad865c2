/*
 * The control server: the daemon's side of the control socket. The main
 * thread serves one client at a time; each request is one command line,
 * looked up in the command table below. Commands read a worker's table
 * under its lock, in slices, so that the queue workers never wait long.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "ctguard/clock.h"
#include "ctguard/control.h"
#include "ctguard/tracker.h"
#include "daemon-int.h"

/*
 * A request is one short line, so a client gets little time to send it; a
 * reply may be a big connection listing, so reading it gets more.
 */
#define CTL_RECV_TIMEOUT_MS 500
#define CTL_SEND_TIMEOUT_MS 2000
#define CTL_REPLY_START 4096

/* --- connections: filtered listing of the live tables ---------------------- */

struct conn_filter {
	struct ctg_strbuf *o;
	bool json;
	bool have_addr;
	struct ctg_addr addr;
	uint8_t family;
	uint8_t plen;
	int port;
	int proto;
	const char *state;
	unsigned shown;
	int64_t wall_shift_us;          /* of the worker being listed */
};

static bool
addr_in(const struct ctg_addr *a, uint8_t fam, const struct conn_filter *f)
{
	if (fam != f->family)
		return false;
	unsigned bytes = f->plen / 8, bits = f->plen % 8;
	if (memcmp(a->b, f->addr.b, bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - bits));
	return (a->b[bytes] & m) == (f->addr.b[bytes] & m);
}

static int
list_conn(void *arg, struct ctg_conn *c)
{
	struct conn_filter *f = arg;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *label = ctg_conn_label(c);

	if (!(c->flags & CTG_CONN_CONFIRMED))
		return 0;
	if (f->have_addr && !addr_in(&c->tuple.src, c->tuple.family, f) &&
	    !addr_in(&c->tuple.dst, c->tuple.family, f))
		return 0;
	if (f->port >= 0 && c->tuple.sport != f->port && c->tuple.dport != f->port)
		return 0;
	if (f->proto >= 0 && c->tuple.proto != f->proto)
		return 0;
	if (f->state && strcasecmp(f->state, label) != 0)
		return 0;
	ctg_addr_str(&c->tuple.src, c->tuple.family, s, sizeof(s));
	ctg_addr_str(&c->tuple.dst, c->tuple.family, d, sizeof(d));
	if (f->json)
		ctg_strbuf_printf(f->o, "{\"id\":%" PRIu64 ",\"proto\":%u,\"src\":\"%s\",\"sport\":%u,"
		    "\"dst\":\"%s\",\"dport\":%u,\"state\":\"%s\",\"orig_state\":\"%s\","
		    "\"resp_state\":\"%s\",\"conn_state\":\"%s\",\"history\":\"%s\","
		    "\"orig_pkts\":%u,\"orig_bytes\":%" PRIu64 ",\"resp_pkts\":%u,"
		    "\"resp_bytes\":%" PRIu64 ",\"first_us\":%" PRIu64 ",\"last_us\":%" PRIu64 "}\n",
		    c->id, c->tuple.proto, s, c->tuple.sport, d, c->tuple.dport, label,
		    ctg_tcp_state_name(c->peer[0].state), ctg_tcp_state_name(c->peer[1].state),
		    ctg_conn_state_code(c), c->history, c->pkts[0], c->bytes[0], c->pkts[1],
		    c->bytes[1], c->first_us + (uint64_t)f->wall_shift_us,
		    c->last_us + (uint64_t)f->wall_shift_us);
	else
		ctg_strbuf_printf(f->o, "%-20" PRIu64 " %-5u %-40s %-40s %-12s %-11s %-11s %8u %10" PRIu64
		    " %8u %10" PRIu64 "\n", c->id, c->tuple.proto,
		    (snprintf(s + strlen(s), sizeof(s) - strlen(s), ":%u", c->tuple.sport), s),
		    (snprintf(d + strlen(d), sizeof(d) - strlen(d), ":%u", c->tuple.dport), d),
		    label, ctg_tcp_state_name(c->peer[0].state), ctg_tcp_state_name(c->peer[1].state),
		    c->pkts[0], c->bytes[0], c->pkts[1], c->bytes[1]);
	f->shown++;
	return f->o->full ? 1 : 0;
}

static int
parse_filter(struct conn_filter *f, char *args, char *err, size_t errlen)
{
	char *save = NULL;

	f->port = -1;
	f->proto = -1;
	for (char *tok = strtok_r(args, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *val = strchr(tok, '=');
		if (strcmp(tok, "json") == 0) {
			f->json = true;
			continue;
		}
		if (!val) {
			snprintf(err, errlen, "bad filter '%s' (want key=value)", tok);
			return -1;
		}
		*val++ = '\0';
		if (strcmp(tok, "addr") == 0) {
			char *slash = strchr(val, '/');
			if (slash)
				*slash++ = '\0';
			memset(&f->addr, 0, sizeof(f->addr));
			if (inet_pton(AF_INET, val, f->addr.b) == 1)
				f->family = 4;
			else if (inet_pton(AF_INET6, val, f->addr.b) == 1)
				f->family = 6;
			else {
				snprintf(err, errlen, "bad address '%s'", val);
				return -1;
			}
			int max = f->family == 4 ? 32 : 128;
			int l = slash ? atoi(slash) : max;
			if (l < 0 || l > max) {
				snprintf(err, errlen, "bad prefix length");
				return -1;
			}
			f->plen = (uint8_t)l;
			f->have_addr = true;
		} else if (strcmp(tok, "port") == 0) {
			f->port = atoi(val);
			if (f->port < 0 || f->port > 65535) {
				snprintf(err, errlen, "bad port '%s'", val);
				return -1;
			}
		} else if (strcmp(tok, "proto") == 0) {
			f->proto = strcmp(val, "tcp") == 0 ? 6 : strcmp(val, "udp") == 0 ? 17 :
			    strcmp(val, "icmp") == 0 ? 1 : strcmp(val, "icmpv6") == 0 ? 58 : atoi(val);
		} else if (strcmp(tok, "state") == 0) {
			f->state = val;
		} else {
			snprintf(err, errlen, "unknown filter '%s'", tok);
			return -1;
		}
	}
	return 0;
}

/* --- the commands ------------------------------------------------------------ */

static void
cmd_status(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	uint64_t live = 0, max = 0;
	struct ctg_auditlog_stats ls;

	for (unsigned i = 0; i < dm->nw; i++) {
		struct ctg_tracker_stats ts;
		pthread_mutex_lock(&dm->w[i].lock);
		ctg_tracker_stats(dm->w[i].pl.tracker, &ts);
		pthread_mutex_unlock(&dm->w[i].lock);
		live += ts.live;
		max += ts.max;
	}
	ctg_auditlog_stats(dm->log, &ls);
	ctg_strbuf_printf(o, "ok\nversion %s\nuptime %" PRIu64 "\nqueues %u-%u\nconnections %" PRIu64
	    "/%" PRIu64 "\nlog_pending %" PRIu64 "\nlog_degraded %s\nreloads %" PRIu64
	    " failed %" PRIu64 "\n", PACKAGE_VERSION, (ctg_clock_mono_us() - dm->started_us) / 1000000,
	    dm->cfg->queue_first, dm->cfg->queue_first + dm->nw - 1, live, max,
	    ls.pending, ls.degraded ? "yes" : "no", dm->reloads, dm->reload_failures);
	if (dm->reload_failures)
		ctg_strbuf_printf(o, "last_reload_error %s\n", dm->last_reload_error);
	ctg_strbuf_printf(o, "checkpoints %" PRIu64 " failed %" PRIu64 " last_age %" PRId64
	    " write_ms %" PRIu64 " hold_max_us %" PRIu64 "\n",
	    dm->checkpoints, dm->checkpoint_failures, dm->last_checkpoint_us ?
	    (int64_t)((ctg_clock_wall_us() - dm->last_checkpoint_us) / 1000000) : (int64_t)-1,
	    dm->checkpoint_write_us / 1000, dm->checkpoint_hold_max_us);
}

static void
cmd_connections(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	char err[512];
	struct conn_filter f;

	memset(&f, 0, sizeof(f));
	f.o = o;
	if (parse_filter(&f, args, err, sizeof(err)) < 0) {
		ctg_strbuf_printf(o, "error: %s\n", err);
		return;
	}
	ctg_strbuf_printf(o, "ok\n");
	if (!f.json)
		ctg_strbuf_printf(o, "%-20s %-5s %-40s %-40s %-12s %-11s %-11s %8s %10s %8s %10s\n", "ID",
		    "PROTO", "SOURCE", "DESTINATION", "STATE", "ORIG", "RESP", "OPKTS",
		    "OBYTES", "RPKTS", "RBYTES");
	/* in slices, so the queue workers wait for one slice at most */
	for (unsigned i = 0; i < dm->nw && !o->full; i++) {
		struct ctg_tracker_stats ts;
		size_t pos = 0;

		ctg_tracker_stats(dm->w[i].pl.tracker, &ts);
		while (pos < ts.max && !o->full) {
			pthread_mutex_lock(&dm->w[i].lock);
			f.wall_shift_us = dm->w[i].pl.wall_shift_us;
			pos = ctg_tracker_foreach_from(dm->w[i].pl.tracker, pos, 4096,
			    list_conn, &f);
			pthread_mutex_unlock(&dm->w[i].lock);
		}
	}
}

static void
cmd_stats(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	ctg_strbuf_printf(o, "ok\n");
	ctgd_stats_text(dm, o, strstr(args, "prometheus") != NULL);
}

static void
cmd_reload(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	char err[512];

	if (ctgd_reload(dm, err, sizeof(err)) < 0)
		ctg_strbuf_printf(o, "error: reload failed, running rules kept: %s\n", err);
	else
		ctg_strbuf_printf(o, "ok\nreloaded\n");
}

static void
cmd_flush(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	for (unsigned i = 0; i < dm->nw; i++) {
		pthread_mutex_lock(&dm->w[i].lock);
		ctg_tracker_flush(dm->w[i].pl.tracker, CTG_END_FLUSHED, ctgd_clock_us());
		pthread_mutex_unlock(&dm->w[i].lock);
	}
	ctg_strbuf_printf(o, "ok\nflushed\n");
}

static void
cmd_kill(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	char *end;
	unsigned long long id = strtoull(args, &end, 10);
	int found = -1;

	if (*args == '\0' || *end != '\0') {
		ctg_strbuf_printf(o, "error: kill needs a connection id\n");
		return;
	}
	for (unsigned i = 0; i < dm->nw && found < 0; i++) {
		pthread_mutex_lock(&dm->w[i].lock);
		found = ctg_tracker_kill(dm->w[i].pl.tracker, id, ctgd_clock_us());
		pthread_mutex_unlock(&dm->w[i].lock);
	}
	if (found < 0)
		ctg_strbuf_printf(o, "error: no connection %llu\n", id);
	else
		ctg_strbuf_printf(o, "ok\nkilled %llu\n", id);
}

static void
cmd_reopen_log(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	ctg_auditlog_reopen(dm->log);
	ctg_strbuf_printf(o, "ok\nreopen requested\n");
}

/*
 * One entry per command. changes_state marks the commands that change what
 * the daemon does (as opposed to reading it): the ones a read-only role
 * must not reach.
 */
static const struct ctl_command {
	const char *name;
	void (*handler)(struct daemon *dm, char *args, struct ctg_strbuf *o);
	bool changes_state;
} commands[] = {
	{ "status",      cmd_status,      false },
	{ "connections", cmd_connections, false },
	{ "stats",       cmd_stats,       false },
	{ "reload",      cmd_reload,      true },
	{ "flush",       cmd_flush,       true },
	{ "kill",        cmd_kill,        true },
	{ "reopen-log",  cmd_reopen_log,  true },
	{ "set-add",     ctgd_cmd_set_add,   true },
	{ "set-del",     ctgd_cmd_set_del,   true },
	{ "set-flush",   ctgd_cmd_set_flush, true },
	{ "set-load",    ctgd_cmd_set_load,  true },
	{ "set-list",    ctgd_cmd_set_list,  false },
};

static const struct ctl_command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* cmd is "NAME" or "NAME ARGS": split it and run NAME's handler. */
static void
handle_command(struct daemon *dm, char *cmd, struct ctg_strbuf *o)
{
	const struct ctl_command *c;
	char *args = strchr(cmd, ' ');

	if (args)
		*args++ = '\0';
	else
		args = cmd + strlen(cmd);
	if ((c = find_command(cmd)) == NULL) {
		ctg_strbuf_printf(o, "error: unknown command '%.64s'\n", cmd);
		return;
	}
	c->handler(dm, args, o);
}

/* --- the socket ------------------------------------------------------------------ */

void
ctgd_ctl_serve(struct daemon *dm, int fd)
{
	char req[CTG_CTL_MAX_REQUEST + 1];
	long n = ctg_ctl_recv(fd, req, CTG_CTL_MAX_REQUEST, CTL_RECV_TIMEOUT_MS);
	struct ctg_strbuf o;

	if (n < 0) {
		if (errno == EMSGSIZE) {
			static const char msg[] = "error: request too long\n";
			ctg_ctl_send(fd, msg, sizeof(msg) - 1, CTL_SEND_TIMEOUT_MS);
		}
		return;
	}
	if (ctg_strbuf_init(&o, CTL_REPLY_START, CTG_CTL_MAX_REPLY) < 0)
		return;
	dm->ctl_peer_uid = ctgd_peer_uid(fd);   /* for the audit events of changes */
	if (memchr(req, '\0', (size_t)n) != NULL) {
		ctg_strbuf_printf(&o, "error: request contains a NUL byte\n");
	} else {
		while (n > 0 && (req[n - 1] == '\n' || req[n - 1] == '\r'))
			req[--n] = '\0';
		handle_command(dm, req, &o);
	}
	if (o.full) {
		/* room for the note: it replaces the tail of the reply */
		o.len = o.len > 64 ? o.len - 64 : 0;
		o.full = false;
		ctg_strbuf_printf(&o, "\n(truncated)\n");
	}
	ctg_ctl_send(fd, o.s, (uint32_t)o.len, CTL_SEND_TIMEOUT_MS);
	ctg_strbuf_free(&o);
}

int
ctgd_ctl_open(const struct ctg_config *cfg)
{
	struct sockaddr_un sa;
	int fd;

	if (!cfg->control_socket[0])
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cfg->control_socket) >= sizeof(sa.sun_path)) {
		ctgd_log(LOG_ERR, "control socket path too long: %s", cfg->control_socket);
		return -1;
	}
	strcpy(sa.sun_path, cfg->control_socket);
	unlink(cfg->control_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	mode_t old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		umask(old);
		ctgd_log(LOG_ERR, "control socket %s: %s", cfg->control_socket, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	chmod(cfg->control_socket, (mode_t)cfg->control_mode);
	if (cfg->control_group[0]) {
		struct group *gr = getgrnam(cfg->control_group);
		if (!gr || chown(cfg->control_socket, (uid_t)-1, gr->gr_gid) < 0)
			ctgd_log(LOG_WARNING, "control socket group %s: %s", cfg->control_group,
			    gr ? strerror(errno) : "no such group");
	}
	return fd;
}

void
ctgd_ctl_close(struct daemon *dm)
{
	if (dm->ctl_fd >= 0) {
		close(dm->ctl_fd);
		unlink(dm->cfg->control_socket);
		dm->ctl_fd = -1;
	}
}
