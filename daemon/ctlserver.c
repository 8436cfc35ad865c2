/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server: the daemon's side of the control socket.
 *
 * The main thread serves every client at once and never waits for one:
 * the sockets are non-blocking and each client is a small state machine
 *
 *   READ   the request (4-byte length + one command line) arrives; the
 *          whole of it within CTL_READ_MS of the accept, or the client is
 *          cut without a reply
 *   BUILD  the reply is made, one bounded step per turn of the main loop
 *          (a slice of one worker's table for connections and flush), so
 *          one client's big listing never holds up another's status
 *   WRITE  the reply goes out as fast as the client reads it; a client that
 *          reads nothing for CTL_STALL_MS, or not all of it within
 *          CTL_WRITE_MS, is cut
 *
 * Who asks is known from SO_PEERCRED: the commands that change state
 * (changes_state in the table) are for root, the daemon's own user and the
 * members of daemon.control_admin_group; anyone else who can open the
 * socket may read. A refusal is answered and recorded as an event.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctguard/clock.h"
#include "ctguard/connfilter.h"
#include "ctguard/control.h"
#include "ctguard/proto.h"
#include "ctguard/tracker.h"
#include "daemon-int.h"

#define CTL_READ_MS     1000            /* accept to complete request */
#define CTL_STALL_MS    2000            /* writing: no byte taken for this long */
#define CTL_WRITE_MS    30000           /* writing: the whole reply */
#define CTL_REPLY_START 4096
#define CTL_SLICE       4096            /* table slots per step */
#define CTL_LIST_SLICE  32              /* listing: slots per lock hold (~6 KiB printed) */
#define CTL_FLUSH_SLICE 32              /* flush: slots per lock hold */
#define CTL_WAIT_MS     5               /* a step waiting for room: poll this long */
#define CTL_PACE_MS     1               /* flush: between slices */
#define CTL_STEP_BYTES  8192            /* listing: output per step */
#define CTL_BACKLOG     128
/* all replies being built or sent together; a builder past it waits */
#define CTL_BUFFER_BUDGET ((size_t)256 << 20)

enum cl_state { CL_FREE, CL_READ, CL_BUILD, CL_WRITE };

struct ctl_client {
	int fd;
	enum cl_state state;
	uint64_t accepted_ms, progress_ms, write_start_ms;
	/* SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool admin;
	/* READ */
	uint8_t hdr[4];
	uint32_t got, want;             /* request bytes read, announced (after hdr) */
	char req[CTG_CTL_MAX_REQUEST + 1];
	/* BUILD */
	const struct ctl_command *cmd;
	char *args;
	unsigned wi;                    /* worker being sliced */
	size_t pos;                     /* its next slot */
	struct ctg_conn_filter f;
	unsigned long long done_count;
	uint64_t waits;                 /* flush: steps that found the ring full */
	bool overran;                   /* flush: went on without room */
	unsigned skipped;               /* workers whose lock was not had */
	int waiting;                    /* ms the last step wants to wait (no busy loop) */
	uint64_t hold_max_us;           /* flush: longest lock hold */
	uint64_t holds, holds_over_1ms; /* flush: lock holds, those past 1 ms */
	/* WRITE: 4-byte length, then o.s */
	struct ctg_strbuf o;
	uint8_t rhdr[4];
	size_t off;
};

struct ctl_server {
	struct ctl_client c[CTGD_MAX_CLIENTS];
	size_t buffered;                /* sum of the replies' capacities */
	gid_t admin_gid;
	bool have_admin_gid;
	uint64_t refused, cut, evicted, busy;
	uint64_t refusal_sec, refusals_this_sec, refusals_unlogged;
	uint64_t turn_max_us;           /* longest ctgd_ctl_run, wall clock */
	uint64_t turn_max_cpu_us;       /* ... the main thread's CPU time */
};

/*
 * The main thread never waits long for a worker's lock: a worker wedged
 * while holding it (the watchdog's case) must not wedge the control
 * socket, the signals and the watchdog with it. A command that cannot
 * get a lock says so instead of waiting.
 */
#define CTL_LOCK_MS 20

static bool
worker_lock(struct worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += CTL_LOCK_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&w->lock, &ts) == 0;
}

/* --- connections: filtered listing of the live tables ---------------------- */

struct list_ctx {
	struct ctl_client *cl;
	int64_t wall_shift_us;          /* of the worker being listed */
};

static int
list_conn(void *arg, struct ctg_conn *c)
{
	struct list_ctx *x = arg;
	const struct ctg_conn_filter *f = &x->cl->f;
	struct ctg_strbuf *o = &x->cl->o;
	char s[INET6_ADDRSTRLEN + 8], d[INET6_ADDRSTRLEN + 8], pn[8], nat[160];
	const char *label = ctg_conn_label(c);
	const char *proto = ctg_proto_name(c->tuple.proto);

	if (!(c->flags & CTG_CONN_CONFIRMED))
		return 0;
	if (f->have_addr && !ctg_conn_filter_addr_in(f, &c->tuple.src, c->tuple.family) &&
	    !ctg_conn_filter_addr_in(f, &c->tuple.dst, c->tuple.family))
		return 0;
	if (f->port >= 0 && c->tuple.sport != f->port && c->tuple.dport != f->port)
		return 0;
	if (f->proto >= 0 && c->tuple.proto != f->proto)
		return 0;
	if (f->state && strcasecmp(f->state, label) != 0)
		return 0;
	if (!proto) {
		snprintf(pn, sizeof(pn), "%u", c->tuple.proto);
		proto = pn;
	}
	ctg_addr_str(&c->tuple.src, c->tuple.family, s, sizeof(s));
	ctg_addr_str(&c->tuple.dst, c->tuple.family, d, sizeof(d));
	ctgd_nat_describe(&c->tuple, f->json, nat, sizeof(nat));
	if (f->json) {
		ctg_strbuf_printf(o, "{\"id\":%" PRIu64 ",\"proto\":%u,\"proto_name\":\"%s\","
		    "\"src\":\"%s\",\"sport\":%u,"
		    "\"dst\":\"%s\",\"dport\":%u,\"state\":\"%s\",\"orig_state\":\"%s\","
		    "\"resp_state\":\"%s\",\"conn_state\":\"%s\",\"history\":\"%s\","
		    "\"orig_pkts\":%u,\"orig_bytes\":%" PRIu64 ",\"resp_pkts\":%u,"
		    "\"resp_bytes\":%" PRIu64 ",\"first_us\":%" PRIu64 ",\"last_us\":%" PRIu64 "%s}\n",
		    c->id, c->tuple.proto, proto, s, c->tuple.sport, d, c->tuple.dport, label,
		    ctg_tcp_state_name(c->peer[0].state), ctg_tcp_state_name(c->peer[1].state),
		    ctg_conn_state_code(c), c->history, c->pkts[0], c->bytes[0], c->pkts[1],
		    c->bytes[1], c->first_us + (uint64_t)x->wall_shift_us,
		    c->last_us + (uint64_t)x->wall_shift_us, nat);
	} else {
		size_t sl = strlen(s), dl = strlen(d);

		snprintf(s + sl, sizeof(s) - sl, ":%u", c->tuple.sport);
		snprintf(d + dl, sizeof(d) - dl, ":%u", c->tuple.dport);
		ctg_strbuf_printf(o, "%-20" PRIu64 " %-6s %-40s %-40s %-12s %-11s %-11s %8u %10" PRIu64
		    " %8u %10" PRIu64 "%s\n", c->id, proto, s, d,
		    label, ctg_tcp_state_name(c->peer[0].state), ctg_tcp_state_name(c->peer[1].state),
		    c->pkts[0], c->bytes[0], c->pkts[1], c->bytes[1], nat);
	}
	return o->full ? 1 : 0;
}

/* --- the commands ------------------------------------------------------------ */

/* A step returns true when the reply is complete. */
typedef bool (*ctl_step_fn)(struct daemon *dm, struct ctl_client *cl);

static bool
cmd_status(struct daemon *dm, struct ctl_client *cl)
{
	uint64_t live = 0, max = 0;
	struct ctg_auditlog_stats ls;
	struct ctg_strbuf *o = &cl->o;
	unsigned busy = 0;

	memset(&ls, 0, sizeof(ls));
	for (unsigned i = 0; i < dm->nw; i++) {
		struct ctg_tracker_stats ts;

		if (!worker_lock(&dm->w[i])) {
			busy++;
			continue;
		}
		ctg_tracker_stats(dm->w[i].pl.tracker, &ts);
		pthread_mutex_unlock(&dm->w[i].lock);
		live += ts.live;
		max += ts.max;
	}
	if (dm->log)
		ctg_auditlog_stats(dm->log, &ls);
	ctg_strbuf_printf(o, "ok\nversion %s\nuptime %" PRIu64 "\nqueues %u-%u\nconnections %" PRIu64
	    "/%" PRIu64 "\nlog_pending %" PRIu64 "\nlog_degraded %s\nreloads %" PRIu64
	    " failed %" PRIu64 "\n", PACKAGE_VERSION, (ctg_clock_mono_us() - dm->started_us) / 1000000,
	    dm->cfg->queue_first, dm->cfg->queue_first + dm->nw - 1, live, max,
	    ls.pending, ls.degraded ? "yes" : "no", dm->reloads, dm->reload_failures);
	if (ls.degraded && ls.last_error[0])
		ctg_strbuf_printf(o, "log_error %s\n", ls.last_error);
	if (dm->reload_failures)
		ctg_strbuf_printf(o, "last_reload_error %s\n", dm->last_reload_error);
	ctg_strbuf_printf(o, "checkpoints %" PRIu64 " failed %" PRIu64 " last_age %" PRId64
	    " write_ms %" PRIu64 " hold_max_us %" PRIu64 "\n",
	    dm->checkpoints, dm->checkpoint_failures, dm->last_checkpoint_us ?
	    (int64_t)((ctg_clock_wall_us() - dm->last_checkpoint_us) / 1000000) : (int64_t)-1,
	    dm->checkpoint_write_us / 1000, dm->checkpoint_hold_max_us);
	if (busy)
		ctg_strbuf_printf(o, "workers_busy %u (their tables not counted above)\n", busy);
	for (unsigned i = 0; i < dm->nw; i++)
		if (atomic_load(&dm->w[i].stuck))
			ctg_strbuf_printf(o, "worker_stuck queue %u\n", dm->w[i].queue);
	if (dm->cfg->sync_enabled)
		ctgd_sync_status(dm, o, false, true);
	return true;
}

static bool
cmd_connections(struct daemon *dm, struct ctl_client *cl)
{
	struct list_ctx x = { .cl = cl };

	if (cl->wi == 0 && cl->pos == 0 && cl->o.len == 0) {
		char err[512];

		if (ctg_conn_filter_parse(&cl->f, cl->args, err, sizeof(err)) < 0) {
			ctg_strbuf_printf(&cl->o, "error: %s\n", err);
			return true;
		}
		ctg_strbuf_printf(&cl->o, "ok\n");
		if (!cl->f.json)
			ctg_strbuf_printf(&cl->o, "%-20s %-6s %-40s %-40s %-12s %-11s %-11s %8s %10s %8s %10s\n",
			    "ID", "PROTO", "SOURCE", "DESTINATION", "STATE", "ORIG", "RESP",
			    "OPKTS", "OBYTES", "RPKTS", "RBYTES");
		if (dm->nw == 0)
			return true;
	}
	/*
	 * Small slices of one worker's table, its lock taken for one slice at
	 * a time, until this step has covered CTL_SLICE slots or printed
	 * CTL_STEP_BYTES: every other client waits for one step at most.
	 */
	for (size_t slots = 0, start = cl->o.len; slots < CTL_SLICE &&
	    cl->o.len - start < CTL_STEP_BYTES && cl->wi < dm->nw && !cl->o.full;
	    slots += CTL_LIST_SLICE) {
		struct worker *w = &dm->w[cl->wi];
		struct ctg_tracker_stats ts;

		if (!worker_lock(w)) {
			/* not waited for: listed without it, and said so */
			cl->skipped++;
			cl->wi++;
			cl->pos = 0;
			continue;
		}
		ctg_tracker_stats(w->pl.tracker, &ts);
		x.wall_shift_us = w->pl.wall_shift_us;
		cl->pos = ctg_tracker_foreach_from(w->pl.tracker, cl->pos, CTL_LIST_SLICE,
		    list_conn, &x);
		pthread_mutex_unlock(&w->lock);
		if (cl->pos >= ts.max) {
			cl->wi++;
			cl->pos = 0;
		}
	}
	if (cl->wi >= dm->nw && cl->skipped && !cl->o.full)
		ctg_strbuf_printf(&cl->o, "# %u queue(s) busy: their connections are not listed\n",
		    cl->skipped);
	return cl->o.full || cl->wi >= dm->nw;
}

static bool
cmd_stats(struct daemon *dm, struct ctl_client *cl)
{
	struct ctl_server *s = dm->ctl;
	bool prom = strstr(cl->args, "prometheus") != NULL;

	ctg_strbuf_printf(&cl->o, "ok\n");
	ctgd_stats_text(dm, &cl->o, prom);
	if (prom) {
		/* each family once, HELP and TYPE first (the exposition format) */
		static const char *const help[4][2] = {
			{ "ctguard_control_refused_total", "Control commands refused to the client's role." },
			{ "ctguard_control_cut_total", "Control clients cut for being too slow." },
			{ "ctguard_control_evicted_total", "Idle control clients evicted to make room." },
			{ "ctguard_control_busy_total", "Control requests answered busy." },
		};
		const uint64_t v[4] = { s->refused, s->cut, s->evicted, s->busy };

		for (int i = 0; i < 4; i++)
			ctg_strbuf_printf(&cl->o, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n",
			    help[i][0], help[i][1], help[i][0], help[i][0], v[i]);
	} else
		ctg_strbuf_printf(&cl->o, "control refused %" PRIu64 " cut %" PRIu64 " evicted %" PRIu64
		    " busy %" PRIu64 " turn_max_us %" PRIu64 " cpu %" PRIu64 "\n", s->refused, s->cut,
		    s->evicted, s->busy, s->turn_max_us, s->turn_max_cpu_us);
	return true;
}

static bool
cmd_reload(struct daemon *dm, struct ctl_client *cl)
{
	char err[512];

	if (ctgd_reload(dm, err, sizeof(err)) < 0)
		ctg_strbuf_printf(&cl->o, "error: reload failed, running rules kept: %s\n", err);
	else
		ctg_strbuf_printf(&cl->o, "ok\nreloaded\n");
	return true;
}

struct flush_ctx {
	struct ctg_tracker *t;
	uint64_t now_us;
	unsigned long long n;
};

static int
flush_one(void *arg, struct ctg_conn *c)
{
	struct flush_ctx *x = arg;

	ctg_tracker_end(x->t, c, CTG_END_FLUSHED, x->now_us);
	x->n++;
	return 0;
}

/*
 * Flush in slices, the worker's lock released between them: the packet
 * path waits for one slice at most. A slice ends at most as many
 * connections as the worker's audit ring has room for, so the end
 * records are not dropped for want of room: when the ring is full the
 * step ends nothing and the next turn of the main loop tries again, once
 * the writer has drained it. While the log is degraded the writer stops
 * draining (back-pressure), and after CTL_FLUSH_WAIT_MS of no room the
 * flush goes on without it, each lost record counted as a log gap.
 */
#define CTL_FLUSH_WAIT_MS 5000

static bool
cmd_flush(struct daemon *dm, struct ctl_client *cl)
{
	struct worker *w;
	struct flush_ctx x;
	struct ctg_tracker_stats ts;
	size_t n = CTL_FLUSH_SLICE;
	uint64_t t0;

	cl->waiting = 0;
	if (cl->wi >= dm->nw) {
		ctg_strbuf_printf(&cl->o, "ok\nflushed %llu\nlock_holds %" PRIu64 " over_1ms %" PRIu64
		    " max_us %" PRIu64 "\nwaits_for_log %" PRIu64 "\n", cl->done_count, cl->holds,
		    cl->holds_over_1ms, cl->hold_max_us, cl->waits);
		if (cl->skipped)
			ctg_strbuf_printf(&cl->o, "note: %u queue(s) stayed busy: not flushed\n",
			    cl->skipped);
		if (cl->overran)
			ctg_strbuf_printf(&cl->o, "note: the audit log took no records for %u s; "
			    "end records beyond its ring were dropped and counted as a log gap\n",
			    CTL_FLUSH_WAIT_MS / 1000);
		return true;
	}
	w = &dm->w[cl->wi];
	if (!worker_lock(w)) {
		/* a worker wedged with its lock: try again, then leave it */
		if (ctg_clock_mono_ms() - cl->progress_ms < CTL_FLUSH_WAIT_MS) {
			cl->waiting = CTL_WAIT_MS;
			return false;
		}
		cl->skipped++;
		cl->wi++;
		cl->pos = 0;
		cl->progress_ms = ctg_clock_mono_ms();
		return false;
	}
	if (dm->log && w->pl.log && w->pl.log_policy != CTG_LOG_NONE) {
		/* under the lock: the worker puts only while holding it */
		uint32_t room = ctg_auditlog_room(dm->log, w->pl.producer);

		if (room < n) {
			if (room == 0 && ctg_clock_mono_ms() - cl->progress_ms < CTL_FLUSH_WAIT_MS) {
				pthread_mutex_unlock(&w->lock);
				cl->waits++;
				cl->waiting = CTL_WAIT_MS;
				return false;
			}
			if (room == 0)
				cl->overran = true;
			n = room ? room : CTL_FLUSH_SLICE;
		}
	}
	ctg_tracker_stats(w->pl.tracker, &ts);
	x.t = w->pl.tracker;
	x.now_us = ctgd_clock_us();
	x.n = 0;
	t0 = ctg_clock_mono_us();
	cl->pos = ctg_tracker_foreach_from(w->pl.tracker, cl->pos, n, flush_one, &x);
	pthread_mutex_unlock(&w->lock);
	t0 = ctg_clock_mono_us() - t0;
	if (t0 > cl->hold_max_us)
		cl->hold_max_us = t0;
	cl->holds++;
	cl->holds_over_1ms += t0 > 1000;
	cl->done_count += x.n;
	/*
	 * Pace it: the main loop polls (1 ms, plus as long as the slice held
	 * the lock: preempted while holding it, on a busy machine) before the
	 * next slice, so that the worker and the log writer get the CPU
	 * between slices rather than a flush loop that never sleeps.
	 */
	cl->waiting = x.n > 0 ? CTL_PACE_MS + (int)(t0 / 1000) : 0;
	cl->progress_ms = ctg_clock_mono_ms();
	if (cl->pos >= ts.max) {
		cl->wi++;
		cl->pos = 0;
	}
	return false;   /* the reply is written by the step after the last worker */
}

static bool
cmd_kill(struct daemon *dm, struct ctl_client *cl)
{
	char *end;
	unsigned long long id;
	int found = -1;

	errno = 0;
	id = strtoull(cl->args, &end, 10);
	if (cl->args[0] < '0' || cl->args[0] > '9' || *end != '\0' || errno != 0) {
		ctg_strbuf_printf(&cl->o, "error: kill needs a connection id\n");
		return true;
	}
	for (unsigned i = 0; i < dm->nw && found < 0; i++) {
		if (!worker_lock(&dm->w[i])) {
			cl->skipped++;
			continue;
		}
		found = ctg_tracker_kill(dm->w[i].pl.tracker, id, ctgd_clock_us());
		pthread_mutex_unlock(&dm->w[i].lock);
	}
	if (found < 0 && cl->skipped)
		ctg_strbuf_printf(&cl->o, "error: no connection %llu (%u queue(s) busy, not searched)\n",
		    id, cl->skipped);
	else if (found < 0)
		ctg_strbuf_printf(&cl->o, "error: no connection %llu\n", id);
	else
		ctg_strbuf_printf(&cl->o, "ok\nkilled %llu\n", id);
	return true;
}

/* ctguard ha primary|backup|fault: what keepalived's notify hook says we are */
static bool
cmd_ha_role(struct daemon *dm, struct ctl_client *cl)
{
	if (!ctgd_sync_set_role(dm, cl->args)) {
		ctg_strbuf_printf(&cl->o, "error: ha role must be primary, backup or fault\n");
		return true;
	}
	ctg_strbuf_printf(&cl->o, "ok\nrole %s\n", cl->args);
	return true;
}

static bool
cmd_ha_status(struct daemon *dm, struct ctl_client *cl)
{
	bool json = strcmp(cl->args, "json") == 0;

	if (!json && cl->args[0]) {
		ctg_strbuf_printf(&cl->o, "error: ha-status takes only 'json'\n");
		return true;
	}
	ctg_strbuf_printf(&cl->o, "ok\n");
	ctgd_sync_status(dm, &cl->o, json, false);
	return true;
}

static bool
cmd_reopen_log(struct daemon *dm, struct ctl_client *cl)
{
	if (dm->log)
		ctg_auditlog_reopen(dm->log);
	ctg_strbuf_printf(&cl->o, "ok\nreopen requested\n");
	return true;
}

/*
 * The set commands (ctlsets.c) answer in one step; their audit events
 * name the client's uid.
 */
#define SET_COMMAND(fn) \
	static bool \
	step_##fn(struct daemon *dm, struct ctl_client *cl) \
	{ \
		dm->ctl_peer_uid = (long)cl->uid; \
		fn(dm, cl->args, &cl->o); \
		dm->ctl_peer_uid = -1; \
		return true; \
	}
SET_COMMAND(ctgd_cmd_set_add)
SET_COMMAND(ctgd_cmd_set_del)
SET_COMMAND(ctgd_cmd_set_flush)
SET_COMMAND(ctgd_cmd_set_load)
SET_COMMAND(ctgd_cmd_set_list)

/*
 * One entry per command. changes_state marks the commands that change what
 * the daemon does (as opposed to reading it): the ones a read-only role
 * must not reach.
 */
static const struct ctl_command {
	const char *name;
	ctl_step_fn step;
	bool changes_state;
} commands[] = {
	{ "status",      cmd_status,      false },
	{ "connections", cmd_connections, false },
	{ "stats",       cmd_stats,       false },
	{ "reload",      cmd_reload,      true },
	{ "flush",       cmd_flush,       true },
	{ "kill",        cmd_kill,        true },
	{ "reopen-log",  cmd_reopen_log,  true },
	{ "set-add",     step_ctgd_cmd_set_add,   true },
	{ "set-del",     step_ctgd_cmd_set_del,   true },
	{ "set-flush",   step_ctgd_cmd_set_flush, true },
	{ "set-load",    step_ctgd_cmd_set_load,  true },
	{ "set-list",    step_ctgd_cmd_set_list,  false },
	{ "ha-role",     cmd_ha_role,     true },
	{ "ha-status",   cmd_ha_status,   false },
};

static const struct ctl_command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* --- the clients ------------------------------------------------------------ */

static void
client_close(struct ctl_server *s, struct ctl_client *cl)
{
	if (cl->state == CL_FREE)
		return;
	s->buffered -= cl->o.cap;
	ctg_strbuf_free(&cl->o);
	close(cl->fd);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
	cl->state = CL_FREE;
}

/* Is the peer root, the daemon itself, or in the admin group? */
static bool
peer_is_admin(const struct ctl_server *s, int fd, const struct ucred *uc)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (uc->uid == 0 || uc->uid == geteuid())
		return true;
	if (!s->have_admin_gid)
		return false;
	if (uc->gid == s->admin_gid)
		return true;
	/* supplementary groups (Linux 4.13+); without them only the primary counts */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == s->admin_gid)
				return true;
	return false;
}

/* Take one client from the listen queue; false when it was empty. */
static bool
client_accept(struct daemon *dm, struct ctl_server *s)
{
	struct ctl_client *cl = NULL, *oldest_reader = NULL;
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	int fd = accept4(dm->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return false;
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++) {
		if (s->c[i].state == CL_FREE) {
			cl = &s->c[i];
			break;
		}
		if (s->c[i].state == CL_READ &&
		    (!oldest_reader || s->c[i].accepted_ms < oldest_reader->accepted_ms))
			oldest_reader = &s->c[i];
	}
	if (!cl && oldest_reader) {
		/* every slot taken: the client that has waited longest to say anything goes */
		client_close(s, oldest_reader);
		s->evicted++;
		cl = oldest_reader;
	}
	if (!cl) {
		/* every slot is busy with a reply: no room, and no waiting either */
		static const char busy[] = "\0\0\0\x13" "error: server busy\n";
		(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		s->busy++;
		return true;
	}
	memset(&uc, 0, sizeof(uc));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0) {
		close(fd);
		return true;
	}
	memset(cl, 0, sizeof(*cl));
	cl->fd = fd;
	cl->state = CL_READ;
	cl->uid = uc.uid;
	cl->gid = uc.gid;
	cl->pid = uc.pid;
	cl->admin = peer_is_admin(s, fd, &uc);
	cl->accepted_ms = cl->progress_ms = ctg_clock_mono_ms();
	return true;
}

static void
reply_error(struct ctl_client *cl, const char *msg)
{
	ctg_strbuf_printf(&cl->o, "error: %s\n", msg);
}

/*
 * A refusal is an audit event, but a client asking again and again must
 * not fill the log with them: at most CTL_REFUSALS_PER_S a second, the
 * rest counted into the next one recorded.
 */
#define CTL_REFUSALS_PER_S 10

static void
refusal_event(struct daemon *dm, struct ctl_server *s, const struct ctl_client *cl)
{
	uint64_t sec = ctg_clock_mono_ms() / 1000;

	if (sec != s->refusal_sec) {
		s->refusal_sec = sec;
		s->refusals_this_sec = 0;
	}
	if (++s->refusals_this_sec > CTL_REFUSALS_PER_S) {
		s->refusals_unlogged++;
		return;
	}
	ctgd_event(dm, CTG_EV_WARNING, 1 + s->refusals_unlogged,
	    "control: refused '%s' from uid %u gid %u pid %d%s", cl->cmd->name,
	    (unsigned)cl->uid, (unsigned)cl->gid, (int)cl->pid,
	    s->refusals_unlogged ? " (count includes refusals not recorded one by one)" : "");
	ctgd_log(LOG_WARNING, "control: refused '%s' from uid %u gid %u pid %d",
	    cl->cmd->name, (unsigned)cl->uid, (unsigned)cl->gid, (int)cl->pid);
	s->refusals_unlogged = 0;
}

/* The request is complete: choose the command, check the role. */
static void
client_request(struct daemon *dm, struct ctl_server *s, struct ctl_client *cl)
{
	char *name = cl->req;
	uint32_t n = cl->want;

	cl->state = CL_BUILD;
	if (ctg_strbuf_init(&cl->o, CTL_REPLY_START, CTG_CTL_MAX_REPLY) < 0) {
		client_close(s, cl);
		return;
	}
	s->buffered += cl->o.cap;
	cl->req[n] = '\0';
	if (memchr(cl->req, '\0', n) != NULL) {
		reply_error(cl, "request contains a NUL byte");
		return;
	}
	while (n > 0 && (cl->req[n - 1] == '\n' || cl->req[n - 1] == '\r'))
		cl->req[--n] = '\0';
	cl->args = strchr(name, ' ');
	if (cl->args)
		*cl->args++ = '\0';
	else
		cl->args = name + strlen(name);
	if ((cl->cmd = find_command(name)) == NULL) {
		ctg_strbuf_printf(&cl->o, "error: unknown command '%.64s'\n", name);
		return;
	}
	if (cl->cmd->changes_state && !cl->admin) {
		const char *g = dm->cfg->control_admin_group;

		ctg_strbuf_printf(&cl->o, "error: permission denied: '%s' changes the daemon's state"
		    " and is for root%s%s%s only (you are uid %u)\n", cl->cmd->name,
		    g[0] ? " and group '" : "", g, g[0] ? "'" : "", (unsigned)cl->uid);
		s->refused++;
		refusal_event(dm, s, cl);
		cl->cmd = NULL;
		return;
	}
	if (cl->cmd->changes_state)
		ctgd_log(LOG_INFO, "control: '%s' from uid %u pid %d", cl->cmd->name,
		    (unsigned)cl->uid, (int)cl->pid);
}

static void
client_read(struct daemon *dm, struct ctl_server *s, struct ctl_client *cl)
{
	for (;;) {
		ssize_t r;

		if (cl->got < 4)
			r = recv(cl->fd, cl->hdr + cl->got, 4 - cl->got, 0);
		else
			r = recv(cl->fd, cl->req + (cl->got - 4), cl->want - (cl->got - 4), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			client_close(s, cl);
			return;
		}
		cl->got += (uint32_t)r;
		if (cl->got == 4) {
			cl->want = (uint32_t)cl->hdr[0] << 24 | (uint32_t)cl->hdr[1] << 16 |
			    (uint32_t)cl->hdr[2] << 8 | cl->hdr[3];
			if (cl->want > CTG_CTL_MAX_REQUEST) {
				cl->state = CL_BUILD;
				if (ctg_strbuf_init(&cl->o, 64, 64) < 0) {
					client_close(s, cl);
					return;
				}
				s->buffered += cl->o.cap;
				reply_error(cl, "request too long");
				return;
			}
		}
		if (cl->got >= 4 && cl->got - 4 == cl->want) {
			client_request(dm, s, cl);
			return;
		}
	}
}

/* One bounded step of the reply; then it is framed for writing. */
static void
client_build(struct daemon *dm, struct ctl_server *s, struct ctl_client *cl)
{
	size_t cap = cl->o.cap;
	bool done = true;

	/* the budget holds back the big builders, never the first step */
	if (cl->cmd && cl->o.len > 0 && s->buffered > CTL_BUFFER_BUDGET) {
		cl->waiting = CTL_WAIT_MS;
		return;
	}
	cl->waiting = 0;
	if (cl->cmd)
		done = cl->cmd->step(dm, cl);
	s->buffered += cl->o.cap - cap;
	if (!done)
		return;
	if (cl->o.full) {
		/* room for the note: it replaces the tail of the reply */
		cl->o.len = cl->o.len > 64 ? cl->o.len - 64 : 0;
		cl->o.full = false;
		ctg_strbuf_printf(&cl->o, "\n(truncated)\n");
	}
	cl->rhdr[0] = (uint8_t)(cl->o.len >> 24);
	cl->rhdr[1] = (uint8_t)(cl->o.len >> 16);
	cl->rhdr[2] = (uint8_t)(cl->o.len >> 8);
	cl->rhdr[3] = (uint8_t)cl->o.len;
	cl->off = 0;
	cl->state = CL_WRITE;
	cl->write_start_ms = cl->progress_ms = ctg_clock_mono_ms();
}

static void
client_write(struct ctl_server *s, struct ctl_client *cl)
{
	size_t total = 4 + cl->o.len;

	while (cl->off < total) {
		ssize_t r;

		if (cl->off < 4)
			r = send(cl->fd, cl->rhdr + cl->off, 4 - cl->off, MSG_NOSIGNAL | MSG_MORE);
		else
			r = send(cl->fd, cl->o.s + (cl->off - 4), total - cl->off, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			client_close(s, cl);
			return;
		}
		cl->off += (size_t)r;
		cl->progress_ms = ctg_clock_mono_ms();
	}
	client_close(s, cl);
}

/* Cut a client that overstayed. */
static void
client_deadlines(struct ctl_server *s, struct ctl_client *cl, uint64_t now)
{
	bool cut = false;

	if (cl->state == CL_READ)
		cut = now - cl->accepted_ms > CTL_READ_MS;
	else if (cl->state == CL_WRITE)
		cut = now - cl->progress_ms > CTL_STALL_MS || now - cl->write_start_ms > CTL_WRITE_MS;
	if (cut) {
		s->cut++;
		client_close(s, cl);
	}
}

/* --- the main loop's side ---------------------------------------------------- */

nfds_t
ctgd_ctl_pollfds(struct daemon *dm, struct pollfd *pfd, nfds_t max, int *timeout_ms)
{
	struct ctl_server *s = dm->ctl;
	nfds_t n = 0;
	uint64_t now = ctg_clock_mono_ms();

	if (dm->ctl_fd < 0 || !s || max < 1)
		return 0;
	pfd[n].fd = dm->ctl_fd;
	pfd[n].events = POLLIN;
	pfd[n++].revents = 0;
	for (int i = 0; i < CTGD_MAX_CLIENTS && n < max; i++) {
		struct ctl_client *cl = &s->c[i];
		uint64_t deadline;

		if (cl->state == CL_FREE)
			continue;
		if (cl->state == CL_BUILD) {
			/* more to do at once, unless it waits for the writer */
			if (*timeout_ms > cl->waiting)
				*timeout_ms = cl->waiting;
			continue;
		}
		pfd[n].fd = cl->fd;
		pfd[n].events = cl->state == CL_READ ? POLLIN : POLLOUT;
		pfd[n++].revents = 0;
		deadline = cl->state == CL_READ ? cl->accepted_ms + CTL_READ_MS :
		    cl->progress_ms + CTL_STALL_MS;
		deadline += 1;
		if (deadline <= now)
			*timeout_ms = 0;
		else if ((uint64_t)*timeout_ms > deadline - now)
			*timeout_ms = (int)(deadline - now);
	}
	return n;
}

/* Wall time on a loaded machine includes waiting for a CPU; this does not. */
static uint64_t
thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
ctgd_ctl_run(struct daemon *dm, const struct pollfd *pfd, nfds_t n)
{
	struct ctl_server *s = dm->ctl;
	uint64_t now, t0 = ctg_clock_mono_us(), c0 = thread_cpu_us();

	if (!s || dm->ctl_fd < 0)
		return;
	/* the clients that were ready when poll returned */
	for (nfds_t k = 1; k < n; k++) {
		if (!pfd[k].revents)
			continue;
		for (int i = 0; i < CTGD_MAX_CLIENTS; i++) {
			struct ctl_client *cl = &s->c[i];

			if (cl->state == CL_FREE || cl->fd != pfd[k].fd)
				continue;
			if (cl->state == CL_READ)
				client_read(dm, s, cl);
			else if (cl->state == CL_WRITE)
				client_write(s, cl);
			break;
		}
	}
	/* a step for each reply being built, then the ones just finished start going out */
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &s->c[i];

		if (cl->state == CL_BUILD) {
			client_build(dm, s, cl);
			if (cl->state == CL_WRITE)
				client_write(s, cl);
		}
	}
	/* new clients, a bounded number per turn */
	if (n > 0 && (pfd[0].revents & POLLIN))
		for (int k = 0; k < 32 && client_accept(dm, s); k++)
			;
	now = ctg_clock_mono_ms();
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++)
		client_deadlines(s, &s->c[i], now);
	if (ctg_clock_mono_us() - t0 > s->turn_max_us)
		s->turn_max_us = ctg_clock_mono_us() - t0;
	if (thread_cpu_us() - c0 > s->turn_max_cpu_us)
		s->turn_max_cpu_us = thread_cpu_us() - c0;
}

int
ctgd_ctl_open(struct daemon *dm)
{
	const struct ctg_config *cfg = dm->cfg;
	struct sockaddr_un sa;
	struct ctl_server *s;
	int fd;

	if (!cfg->control_socket[0])
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++)
		s->c[i].fd = -1;
	if (cfg->control_admin_group[0]) {
		struct group *gr = getgrnam(cfg->control_admin_group);

		if (!gr)
			ctgd_log(LOG_WARNING, "control admin group %s: no such group "
			    "(state-changing commands: root only)", cfg->control_admin_group);
		else {
			s->admin_gid = gr->gr_gid;
			s->have_admin_gid = true;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cfg->control_socket) >= sizeof(sa.sun_path)) {
		ctgd_log(LOG_ERR, "control socket path too long: %s", cfg->control_socket);
		free(s);
		return -1;
	}
	strcpy(sa.sun_path, cfg->control_socket);
	unlink(cfg->control_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		free(s);
		return -1;
	}
	mode_t old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, CTL_BACKLOG) < 0) {
		umask(old);
		ctgd_log(LOG_ERR, "control socket %s: %s", cfg->control_socket, strerror(errno));
		close(fd);
		free(s);
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
	dm->ctl = s;
	dm->ctl_fd = fd;
	return fd;
}

void
ctgd_ctl_close(struct daemon *dm)
{
	if (dm->ctl) {
		for (int i = 0; i < CTGD_MAX_CLIENTS; i++)
			client_close(dm->ctl, &dm->ctl->c[i]);
		free(dm->ctl);
		dm->ctl = NULL;
	}
	if (dm->ctl_fd >= 0) {
		close(dm->ctl_fd);
		unlink(dm->cfg->control_socket);
		dm->ctl_fd = -1;
	}
}
