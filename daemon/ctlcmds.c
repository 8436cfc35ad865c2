/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control commands: status, connections, stats, reload, flush, kill,
 * reopen-log, the set commands (ctlsets.c) and ha. Each is a step the
 * control server (ctlserver.c) calls once per turn of the main loop until
 * it says the reply is complete; one that walks the tables (connections,
 * flush) takes one worker's lock for one small slice per step.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "ctguard/clock.h"
#include "ctguard/proto.h"
#include "ctguard/tracker.h"
#include "ctlserver-int.h"
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

		if (!ctl_worker_lock(&dm->w[i])) {
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

		if (!ctl_worker_lock(w)) {
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
	if (!ctl_worker_lock(w)) {
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
		if (!ctl_worker_lock(&dm->w[i])) {
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
static const struct ctl_command commands[] = {
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

const struct ctl_command *
ctl_find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}
