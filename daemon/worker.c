/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Queue workers. One thread per queue owns its queue socket, its
 * connection table and its copy of the ruleset: the kernel sends both
 * directions of a flow to the same queue, so the packet path takes no lock
 * but its own worker's, once per burst (the main thread takes it only to
 * answer control commands). A new ruleset arrives through an atomic
 * pointer that the worker swaps in between bursts, so no packet sees half
 * a ruleset.
 *
 * Every packet gets exactly one verdict: the pipeline always yields one,
 * and on shutdown the workers answer what they hold before they stop.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/clock.h"
#include "ctguard/tracker.h"
#include "daemon-int.h"

#define BURST 64
/*
 * The sweep walks the table a slice per tick, so that an idle entry ends
 * (and its summary reaches the audit log) about a second after its timeout
 * on a table of any size up to 10 * SWEEP_BUDGET_MAX entries, and the
 * packet path never waits for more than one slice.
 */
#define SWEEP_EVERY_US 100000ULL
#define SWEEP_TICKS_PER_PASS 10
#define SWEEP_BUDGET_MIN 4096
#define SWEEP_BUDGET_MAX 131072
/*
 * Verdicts one worker holds at most for the group (active/active defer);
 * a full table lets its oldest go early. Each held packet also holds a
 * slot of the kernel's queue: at most half of queue.max_length (the
 * kernel's default 1024 when unset) is held, the rest stays for traffic.
 */
#define DEFER_MAX 1024
#define NFQ_QMAX_KERNEL 1024

/*
 * Interface index to name, for rules that match on iif/oif. A small
 * direct-mapped cache (failures cached too) keeps if_indextoname's
 * socket+ioctl off most packets; entries are refreshed after
 * IFNAME_TTL_US so a renamed or recreated interface is seen again.
 */
#define IFNAME_TTL_US 5000000ULL

static const char *
ifname_of(struct worker *w, uint32_t idx)
{
	struct ifslot *e;

	if (idx == 0 || !w->want_ifnames)
		return "";
	e = &w->ifname[idx % CTGD_IFCACHE];
	if (e->index != idx || w->now_us - e->resolved_us > IFNAME_TTL_US) {
		e->index = idx;
		e->resolved_us = w->now_us;
		if (!if_indextoname(idx, e->name))
			e->name[0] = '\0';
	}
	return e->name;
}

/*
 * A burst starts with the first packet (or with the housekeeping after an
 * empty poll): take our table's lock once and read the clocks once.
 */
static void
burst_begin(struct worker *w)
{
	if (w->locked)
		return;
	pthread_mutex_lock(&w->lock);
	w->locked = true;
	w->now_us = ctgd_clock_us();
	w->pl.wall_shift_us = (int64_t)(ctg_clock_wall_us() - w->now_us);
}

/*
 * A packet the rules reject goes back to the kernel marked, to run its
 * hook's table again (NF_REPEAT), where the rule ctguard-setup puts before
 * the queue rule (-m mark --mark M/M -j REJECT) answers it. The kernel
 * attaches the packet's conntrack entry to its RST or ICMP error, so NAT
 * translates the answer like any reply: a refused port forward is refused
 * from the public address, and no inside address leaves on the outside,
 * which a reply built here from the post-DNAT headers could not ensure.
 * The kernel also declines what must not be answered (an RST, an ICMP
 * error, a broadcast, a non-first fragment).
 */
static void
verdict_reject(struct worker *w, const struct ctg_nfq_pkt *pkt)
{
	uint32_t mark = w->dm->cfg->reject_mark;

	ctg_nfq_verdict_mark(w->nfq, pkt->id, CTG_NFQ_REPEAT, pkt->mark | mark);
	w->rejects_sent++;
}

/*
 * A packet back with our mark passed no REJECT rule: the queue rules were
 * not installed by ctguard-setup (or with another mark). Drop it, or it
 * would loop through the queue.
 */
static bool
came_back(struct worker *w, const struct ctg_nfq_pkt *pkt)
{
	uint32_t mark = w->dm->cfg->reject_mark;

	if ((pkt->mark & mark) != mark)
		return false;
	if (w->reject_errors++ == 0)
		ctgd_log(LOG_WARNING, "queue %u: a rejected packet came back: no "
		    "'-m mark --mark %#x/%#x -j REJECT' rule before the queue rule "
		    "(ctguard-setup install --reject-mark); rejects are dropped silently",
		    w->queue, mark, mark);
	ctg_nfq_verdict(w->nfq, pkt->id, CTG_NFQ_DROP);
	return true;
}

/*
 * Offload (ctguard.conf offload, ctguard-setup --offload). A TCP
 * connection established both ways, its verdict a cached accept that
 * neither meters nor logs each packet, and past after_packets and
 * after_bytes, gets the offload mark on its next accepted segment without
 * SYN, FIN or RST, handed back with NF_REPEAT like a reject: the hook's
 * table runs again, where ctguard-setup's rules save the mark to the
 * connection mark and accept the packet. From then on the rule before
 * the queue rule accepts that connection's segments without SYN, FIN or
 * RST that the kernel's conntrack calls ESTABLISHED (its window tracking
 * checks every one); what it calls INVALID, and every SYN, FIN and RST,
 * still comes here, and the tracker re-synchronises from them
 * (tracker-tcp.c). A UDP flow qualifies once its reply direction was
 * seen; from then on the kernel passes every datagram it calls ESTABLISHED
 * and the entry ends with the kernel's (offwatch.c, tracker-datagram.c).
 * ICMP stays here. A repeat rather than an
 * accept with a connmark set through the queue keeps the mark's saving in
 * the rules, where ctguard-setup remove takes it away with them.
 */
static bool
offload_now(struct worker *w, const struct ctg_nfq_pkt *pkt, const struct ctg_decision *d)
{
	const struct ctg_config *cfg = w->dm->cfg;
	struct ctg_conn *c = d->tr.conn;

	if (d->action != CTG_ACT_ACCEPT || d->decode != CTG_R_NONE ||
	    !ctg_tracker_offload_ready(c, &d->pkt, &d->tr, cfg->offload_after_packets,
	    cfg->offload_after_bytes) || ctg_pipeline_conn_metered(c))
		return false;
	ctg_tracker_offload(w->pl.tracker, c);
	ctg_nfq_verdict_mark(w->nfq, pkt->id, CTG_NFQ_REPEAT, pkt->mark | cfg->offload_mark);
	w->offloads++;
	ctg_pipeline_event(&w->pl, CTG_EV_OFFLOAD_START,
	    w->now_us + (uint64_t)w->pl.wall_shift_us, c->id,
	    "conn %llu queue %u after %u packets", (unsigned long long)c->id, w->queue,
	    c->pkts[0] + c->pkts[1]);
	return true;
}

/*
 * A packet with the offload mark in the queue: no rule saved and accepted
 * it (ctguard-setup install without --offload). It was judged already.
 */
static bool
offload_came_back(struct worker *w, const struct ctg_nfq_pkt *pkt)
{
	uint32_t mark = w->dm->cfg->offload_mark;

	if ((pkt->mark & mark) != mark)
		return false;
	if (w->offload_errors++ == 0)
		ctgd_log(LOG_WARNING, "queue %u: an offloaded packet came back: no "
		    "'-m mark --mark %#x/%#x -j CONNMARK --save-mark' and ACCEPT rules "
		    "before the queue rule (ctguard-setup install --offload); "
		    "connections are not offloaded", w->queue, mark, mark);
	ctg_nfq_verdict(w->nfq, pkt->id, CTG_NFQ_ACCEPT);
	return true;
}

/* --- active/active defer ---------------------------------------------------- */

static void
defer_send(void *arg, const struct ctg_defer_pkt *p)
{
	struct worker *w = arg;

	if (p->has_mark)
		ctg_nfq_verdict_mark(w->nfq, p->id, p->verdict, p->mark);
	else
		ctg_nfq_verdict(w->nfq, p->id, p->verdict);
}

/*
 * An accepted packet that created its connection or moved a TCP endpoint
 * while it opens (and would be carried: ctg_tracker_sync_holds): keep its
 * verdict until every other member has applied the change, so that a
 * reply crossing another gateway finds the state there. A later packet of
 * a connection with one held waits behind it (ctguard/defer.h: a
 * connection's packets leave in order). Only while
 * others are in the group, and never on the way out. Its id stays
 * unanswered in nfq.c, so no batch verdict covers it.
 */
static bool
defer_hold(struct worker *w, const struct ctg_nfq_pkt *pkt, const struct ctg_decision *d)
{
	if (!w->defer_on || d->action != CTG_ACT_ACCEPT ||
	    ctgd_sync_others(w->dm) == 0 || atomic_load(&ctgd_stopping))
		return false;
	uint32_t slot = d->tr.conn ? ctg_tracker_conn_slot(w->pl.tracker, d->tr.conn) :
	    CTG_DEFER_NO_SLOT;

	if (!ctg_defer_conn_held(&w->defer, slot) &&
	    !ctg_tracker_sync_holds(w->pl.tracker, &d->tr))
		return false;
	uint64_t now = ctgd_clock_us();
	struct ctg_defer_pkt h = {
		.id = pkt->id, .verdict = CTG_NFQ_ACCEPT, .token = w->defer_open,
		.slot = slot, .held_us = now,
		.deadline_us = now + (uint64_t)w->dm->cfg->sync_defer_timeout_ms * 1000,
	};

	ctg_defer_hold(&w->defer, &h, defer_send, w);
	w->defer_wanted = true;
	return true;
}

/* Under lock: let go what the group acknowledged or what waited long enough. */
static void
defer_tick(struct worker *w)
{
	if (!ctg_defer_held(&w->defer))
		return;
	uint64_t now = ctgd_clock_us();

	if (ctgd_sync_others(w->dm) == 0 || atomic_load(&ctgd_stopping))
		ctg_defer_flush(&w->defer, now, defer_send, w);
	else if (ctg_defer_release(&w->defer, atomic_load(&w->defer_acked), now, defer_send, w) == 0)
		return;
	ctg_nfq_flush(w->nfq);
}

/* How long the next receive may wait: not past the first deadline held. */
static int
defer_wait_ms(struct worker *w, int most)
{
	uint64_t dl = ctg_defer_next_deadline(&w->defer), now;

	if (dl == 0)
		return most;
	now = ctgd_clock_us();
	if (dl <= now)
		return 0;
	uint64_t ms = (dl - now + 999) / 1000;
	return ms < (uint64_t)most ? (int)ms : most;
}

static void
on_packet(void *arg, const struct ctg_nfq_pkt *pkt)
{
	struct worker *w = arg;
	struct ctg_decision d;
	struct ctg_pkt_in in;

	burst_begin(w);
	if (came_back(w, pkt))
		return;
	if (w->dm->cfg->offload && offload_came_back(w, pkt))
		return;
	if (!pkt->payload || pkt->caplen == 0) {
		/* nothing to judge, so nothing may pass */
		w->no_payload++;
		ctg_nfq_verdict(w->nfq, pkt->id, CTG_NFQ_DROP);
		return;
	}
	memset(&in, 0, sizeof(in));
	in.buf = pkt->payload;
	in.caplen = pkt->caplen;
	in.wire_len = pkt->wire_len > pkt->caplen ? pkt->wire_len : pkt->caplen;
	in.now_us = w->now_us;
	in.packet_no = pkt->id;
	in.iif = ifname_of(w, pkt->ifindex_in);
	in.oif = ifname_of(w, pkt->ifindex_out);
	ctg_pipeline_process(&w->pl, &in, &d);
	if (d.action == CTG_ACT_REJECT) {
		verdict_reject(w, pkt);
		return;
	}
	if (defer_hold(w, pkt, &d))
		return;
	if (w->dm->cfg->offload && offload_now(w, pkt, &d))
		return;
	ctg_nfq_verdict(w->nfq, pkt->id,
	    d.action == CTG_ACT_ACCEPT ? CTG_NFQ_ACCEPT : CTG_NFQ_DROP);
}

/* Between bursts: a ruleset that reload() left for us replaces ours. */
static void
swap_rules(struct worker *w)
{
	struct ctg_ruleset *nr = atomic_exchange(&w->pending, NULL);

	if (!nr)
		return;
	/* verdicts held were decided under the old rules: sent now, never lost */
	if (ctg_defer_flush(&w->defer, ctgd_clock_us(), defer_send, w))
		ctg_nfq_flush(w->nfq);
	struct ctg_ruleset *old = w->pl.rules;
	unsigned cut = ctg_pipeline_set_rules(&w->pl, nr, atomic_load(&w->recheck), w->now_us);
	if (cut)
		ctgd_log(LOG_INFO, "queue %u: reload cut %u connections the new rules refuse",
		    w->queue, cut);
	w->want_ifnames = ctg_ruleset_uses_interfaces(nr);
	/* two reloads before main freed the first retired set */
	struct ctg_ruleset *unfreed = atomic_exchange(&w->retired, old);
	if (unfreed)
		ctg_ruleset_free(unfreed);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;
	char name[16];

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	snprintf(name, sizeof(name), "ctg-q%u", w->queue);
	prctl(PR_SET_NAME, name);       /* for ps, top and the watchdog test */
	while (!atomic_load(&ctgd_stopping)) {
		/* the main thread's watchdog reads this (receive waits 100 ms at most) */
		atomic_fetch_add_explicit(&w->heartbeat, 1, memory_order_relaxed);
		int n = ctg_nfq_receive(w->nfq, defer_wait_ms(w, 100), BURST, on_packet, w);

		if (n < 0 && errno != EINTR) {
			ctgd_log(LOG_ERR, "queue %u: receive failed: %s", w->queue, strerror(errno));
			if (w->locked) {
				pthread_mutex_unlock(&w->lock);
				w->locked = false;
			}
			struct timespec pause = { 0, 10 * 1000 * 1000 };
			nanosleep(&pause, NULL);
			continue;
		}
		burst_begin(w);
		defer_tick(w);
		swap_rules(w);
		if (w->now_us - w->last_sweep >= SWEEP_EVERY_US) {
			ctg_tracker_sweep(w->pl.tracker, w->now_us, w->sweep_budget);
			w->last_sweep = w->now_us;
		}
		/* once per burst, not per packet: a state change is sent without waiting the interval */
		unsigned urgent = ctg_tracker_sync_urgent(w->pl.tracker);
		if (w->defer_wanted)
			ctgd_sync_kick(w->dm, CTGD_KICK_DEFER);
		else if (urgent)
			ctgd_sync_kick(w->dm, urgent > 1 ? CTGD_KICK_LAG : CTGD_KICK_CHANGE);
		pthread_mutex_unlock(&w->lock);
		w->locked = false;
	}
	/*
	 * Answer what the kernel already queued to us before we unbind, so
	 * stopping judges those packets instead of dropping them unseen.
	 * Bounded: the rules keep queueing new packets until removed.
	 */
	for (int i = 0; i < 64; i++) {
		if (ctg_nfq_receive(w->nfq, 0, BURST, on_packet, w) <= 0)
			break;
	}
	/* and what we hold for the group: released, never lost */
	burst_begin(w);
	ctg_defer_flush(&w->defer, ctgd_clock_us(), defer_send, w);
	if (w->locked) {
		pthread_mutex_unlock(&w->lock);
		w->locked = false;
	}
	ctg_nfq_flush(w->nfq);
	return NULL;
}

/*
 * Set worker i up: pipeline over rs (owned from here on, freed on error),
 * queue, and the snapshot of the last run.
 */
static int
worker_open(struct daemon *dm, struct worker *w, unsigned i, struct ctg_ruleset *rs,
    const char *rs_err)
{
	const struct ctg_config *cfg = dm->cfg;
	char err[512];
	struct ctg_nfq_config qc = {
		.queue = (uint16_t)(cfg->queue_first + i),
		.copy_range = cfg->copy_range,
		.maxlen = cfg->queue_maxlen,
		.rcvbuf = cfg->rcvbuf_bytes,
		.gso = cfg->gso,
		.fail_open = cfg->fail_open,
	};

	w->idx = i;
	w->queue = qc.queue;
	w->sweep_budget = cfg->max_connections / SWEEP_TICKS_PER_PASS + 1;
	if (w->sweep_budget < SWEEP_BUDGET_MIN)
		w->sweep_budget = SWEEP_BUDGET_MIN;
	if (w->sweep_budget > SWEEP_BUDGET_MAX)
		w->sweep_budget = SWEEP_BUDGET_MAX;
	pthread_mutex_init(&w->lock, NULL);
	if (!rs) {
		ctgd_log(LOG_ERR, "%s", rs_err);
		return -1;
	}
	if (ctg_pipeline_init(&w->pl, cfg, rs, dm->log, i + 1, w->queue, err, sizeof(err)) < 0) {
		ctgd_log(LOG_ERR, "%s", err);
		ctg_ruleset_free(rs);
		return -1;
	}
	w->want_ifnames = ctg_ruleset_uses_interfaces(rs);
	w->nfq = ctg_nfq_open(&qc, err, sizeof(err));
	if (!w->nfq) {
		ctgd_log(LOG_ERR, "queue %u: %s", w->queue, err);
		return -1;
	}
	const char *refused = ctg_nfq_refused(w->nfq);
	if (refused && refused[0])
		ctgd_log(LOG_NOTICE, "queue %u: kernel refused optional flags: %s; running without them",
		    w->queue, refused);
	bool forced;
	uint32_t rb = ctg_nfq_rcvbuf(w->nfq, &forced);
	if (!forced)
		ctgd_log(LOG_WARNING, "queue %u: receive buffer %u bytes (SO_RCVBUFFORCE refused)",
		    w->queue, rb);
	w->dm = dm;
	w->defer_wake = -1;
	w->defer_open = 1;
	w->defer_on = cfg->sync_enabled && cfg->sync_mode == CTG_SYNC_ACTIVE_ACTIVE &&
	    cfg->sync_defer_timeout_ms > 0;
	if (w->defer_on) {
		w->defer_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		uint32_t qmax = cfg->queue_maxlen ? cfg->queue_maxlen : NFQ_QMAX_KERNEL;
		unsigned cap = qmax / 2 < DEFER_MAX ? qmax / 2 : DEFER_MAX;

		struct ctg_tracker_stats ts;

		ctg_tracker_stats(w->pl.tracker, &ts);
		if (w->defer_wake < 0 || ctg_defer_init(&w->defer, cap, (uint32_t)ts.max) < 0) {
			ctgd_log(LOG_ERR, "queue %u: out of memory for held verdicts", w->queue);
			return -1;
		}
		ctg_nfq_set_wake(w->nfq, w->defer_wake);
	}
	ctg_tracker_set_related_lookup(w->pl.tracker, ctgd_related_elsewhere, w);
	ctgd_snapshot_restore(dm, w);
	return 0;
}

int
ctgd_workers_setup(struct daemon *dm, struct ctg_ruleset *first)
{
	const struct ctg_config *cfg = dm->cfg;
	char err[512];

	dm->nw = cfg->queue_count ? cfg->queue_count : 1;
	if (dm->nw > CTGD_MAX_WORKERS)
		dm->nw = CTGD_MAX_WORKERS;
	dm->w = calloc(dm->nw, sizeof(*dm->w));
	if (!dm->w)
		return -1;
	for (unsigned i = 0; i < dm->nw; i++) {
		struct ctg_ruleset *rs = i == 0 ? first : ctgd_load_rules(dm, cfg, err, sizeof(err));

		if (worker_open(dm, &dm->w[i], i, rs, err) < 0)
			return -1;
	}
	return 0;
}

int
ctgd_workers_start(struct daemon *dm)
{
	for (unsigned i = 0; i < dm->nw; i++) {
		if (pthread_create(&dm->w[i].thread, NULL, worker_main, &dm->w[i]) != 0) {
			ctgd_log(LOG_ERR, "cannot start worker %u", i);
			atomic_store(&ctgd_stopping, true);
			for (unsigned j = 0; j < i; j++)
				pthread_join(dm->w[j].thread, NULL);
			return -1;
		}
	}
	return 0;
}

/* Workers answer what they hold and stop; their tables are kept for the snapshot. */
void
ctgd_workers_stop(struct daemon *dm)
{
	atomic_store(&ctgd_stopping, true);
	for (unsigned i = 0; i < dm->nw; i++)
		pthread_join(dm->w[i].thread, NULL);
}

void
ctgd_workers_close(struct daemon *dm)
{
	for (unsigned i = 0; dm->w && i < dm->nw; i++) {
		struct worker *w = &dm->w[i];
		if (w->nfq)
			ctg_nfq_close(w->nfq);
		struct ctg_ruleset *p = atomic_exchange(&w->pending, NULL);
		if (p)
			ctg_ruleset_free(p);
		if (w->pl.rules)
			ctg_ruleset_free(w->pl.rules);
		w->pl.rules = NULL;
		if (w->pl.tracker)
			ctg_pipeline_fini(&w->pl);
		ctg_defer_fini(&w->defer);
		if (w->defer_on && w->defer_wake >= 0)
			close(w->defer_wake);
	}
	free(dm->w);
	dm->w = NULL;
}
