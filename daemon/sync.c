/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * State synchronisation between gateways over corosync's closed process
 * groups (CPG): a thread of its own joins the group, sends this gateway's
 * changed connections and applies the other members'.
 *
 * The packet path only marks entries dirty (tracker-sync.c); no CPG call
 * and no system call happens there. Every interval_ms (at once when a
 * worker asks, through an eventfd, after a state change or max_updates
 * packets of one connection) this thread takes each worker's lock for one
 * slice of dirty entries, copies them, lets go, and sends them coalesced,
 * many per message, with CPG_TYPE_AGREED (every member delivers the
 * messages in one order). What it receives it applies to the tracker of
 * the same queue index under that worker's lock, a message at a time.
 *
 * Membership: when a member joins, the member with the lowest node id
 * among those already there sends its whole table (BULK_*). Every other
 * member applies it: the joiner needs it, and after a partition heals each
 * side is the other's joiner (corosync reports the other side as joined);
 * an entry this gateway forwarded more recently than the sender's copy is
 * kept (tracker-sync.c), or in active/active mode merged per endpoint.
 *
 * Defer (active/active): a worker holding verdicts for the group kicks
 * this thread, which drains at once (no change gap); the tokens and
 * acknowledgements that let the verdicts go are sync-defer.c's.
 *
 * corosync not running is not an error: the thread
 * retries every second (counted, shown by ctguard ha status) and the
 * daemon filters on.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <corosync/cmap.h>
#include <corosync/cpg.h>

#include "ctguard/clock.h"
#include "sync-int.h"

#define SYNC_SLICE 256          /* entries copied per hold of a worker's lock */
#define SYNC_RING 16384         /* dirty slots per worker before the walk */
#define SYNC_MAX_SLICES 1024    /* per flush: 262,144 entries, then the next turn */
#define SYNC_RETRY_MS 1000
/*
 * Sends a worker asks for are at least this far apart, so that what
 * changed meanwhile goes in the same messages: every message costs
 * corosync (and both ends) a round of work, and one per change cut the
 * connection rate by half (make bench, config 6). New connections, state
 * changes and ends wait up to CHANGE_GAP; edges that lag (max_updates, a
 * quarter window: a fast transfer) only LAG_GAP, since a receiver
 * re-learns synced edges only within a window of them.
 */
#define SYNC_CHANGE_GAP_US 10000
#define SYNC_LAG_GAP_US 1000
#define SYNC_KICK_LAG (1ULL << 20)      /* eventfd value of a lagging kick */
#define SYNC_SEND_TRIES 2000    /* ~2 s of CS_ERR_TRY_AGAIN before a message is given up */
#define SYNC_KICK_DEFER (1ULL << 40)    /* eventfd value of a worker holding verdicts */

/* An event from this thread: its own producer of the audit log (daemon.c). */
static void sync_event(struct ctgd_sync *s, enum ctg_event_kind kind, uint64_t count,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
sync_event(struct ctgd_sync *s, enum ctg_event_kind kind, uint64_t count, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctgd_event_from(s->dm, ctgd_sync_producer(s->dm), kind, count, fmt, ap);
	va_end(ap);
}

/* --- sending ----------------------------------------------------------------- */

void
sync_send_msg(struct ctgd_sync *s, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	cs_error_t rc = CS_ERR_TRY_AGAIN;

	if (!s->connected)
		return;
	for (int i = 0; i < SYNC_SEND_TRIES && !atomic_load(&ctgd_stopping); i++) {
		rc = cpg_mcast_joined(s->h, CPG_TYPE_AGREED, &iov, 1);
		if (rc != CS_ERR_TRY_AGAIN)
			break;
		/* corosync's flow control: let it deliver (ours too) before we send more */
		cpg_dispatch(s->h, CS_DISPATCH_ALL);
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	pthread_mutex_lock(&s->mu);
	if (rc == CS_OK) {
		s->msgs_sent++;
		s->bytes_sent += len;
	} else
		s->send_failures++;
	pthread_mutex_unlock(&s->mu);
}

/* Send w's message if it has entries (or force), and start the next of its type. */
void
sync_flush_writer(struct ctgd_sync *s, struct ctg_syncmsg_writer *w, bool force)
{
	if (w->count || force) {
		size_t len = ctg_syncmsg_finish(w);

		sync_send_msg(s, w->buf, len);
	}
	ctg_syncmsg_begin(w, w->buf, CTG_SYNC_MSG_MAX, (enum ctg_sync_type)w->type, ctgd_clock_us());
}

/* Drain every worker's dirty entries and end notes, and send them. */
static void
send_changes(struct ctgd_sync *s)
{
	struct daemon *dm = s->dm;
	uint32_t local[CTGD_MAX_WORKERS];
	bool held[CTGD_MAX_WORKERS] = { false }, any_held = false;

	atomic_store(&s->kicked, false);
	atomic_store(&s->kicked_lag, false);
	atomic_store(&s->kicked_defer, false);
	for (unsigned wi = 0; wi < dm->nw; wi++) {
		struct worker *w = &dm->w[wi];

		for (unsigned k = 0; k < SYNC_MAX_SLICES; k++) {
			pthread_mutex_lock(&w->lock);
			/* what it holds changed entries marked before now: all drained below */
			if (k == 0 && sync_defer_take(w, &local[wi]))
				held[wi] = any_held = true;
			size_t n = ctg_tracker_sync_drain(w->pl.tracker, s->slice, SYNC_SLICE);
			size_t ne = ctg_tracker_sync_drain_ends(w->pl.tracker, s->ends, SYNC_SLICE);
			bool more = ctg_tracker_sync_pending(w->pl.tracker) || ne == SYNC_SLICE;
			pthread_mutex_unlock(&w->lock);

			for (size_t i = 0; i < n; i++) {
				if (!ctg_syncmsg_add_conn(&s->wu, (uint16_t)wi, &s->slice[i])) {
					sync_flush_writer(s, &s->wu, false);
					ctg_syncmsg_add_conn(&s->wu, (uint16_t)wi, &s->slice[i]);
				}
			}
			for (size_t i = 0; i < ne; i++) {
				struct ctg_sync_end e = {
					.queue = (uint16_t)wi, .reason = s->ends[i].reason,
					.tuple = s->ends[i].tuple, .id = s->ends[i].id,
				};

				if (!ctg_syncmsg_add_end(&s->we, &e)) {
					sync_flush_writer(s, &s->we, false);
					ctg_syncmsg_add_end(&s->we, &e);
				}
			}
			if (!more)
				break;
		}
	}
	if (!any_held) {
		/* updates first: an end must not overtake the update it ends */
		sync_flush_writer(s, &s->wu, false);
		sync_flush_writer(s, &s->we, false);
		return;
	}
	sync_defer_flush(s, held, local);
}

/* Our whole table, for a member that joined. */
static void
send_bulk(struct ctgd_sync *s)
{
	struct daemon *dm = s->dm;
	struct ctg_syncmsg_writer b;
	uint64_t t0 = ctg_clock_mono_us(), total = 0;
	size_t len;

	s->bulk_pending = false;
	send_changes(s);        /* what changed before the bulk, in order */
	ctg_syncmsg_begin(&b, s->msg, CTG_SYNC_MSG_MAX, CTG_SYNC_BULK_BEGIN, ctgd_clock_us());
	len = ctg_syncmsg_finish(&b);
	sync_send_msg(s, s->msg, len);
	ctg_syncmsg_begin(&b, s->msg, CTG_SYNC_MSG_MAX, CTG_SYNC_BULK_ENTRIES, ctgd_clock_us());
	for (unsigned wi = 0; wi < dm->nw && s->connected; wi++) {
		struct worker *w = &dm->w[wi];
		struct ctg_tracker_stats ts;

		pthread_mutex_lock(&w->lock);
		ctg_tracker_stats(w->pl.tracker, &ts);
		pthread_mutex_unlock(&w->lock);
		for (size_t start = 0; start < ts.max && s->connected; start += SYNC_SLICE) {
			pthread_mutex_lock(&w->lock);
			size_t n = ctg_tracker_export_slice(w->pl.tracker, start, SYNC_SLICE, s->slice);
			pthread_mutex_unlock(&w->lock);

			for (size_t i = 0; i < n; i++) {
				if (!ctg_syncmsg_add_conn(&b, (uint16_t)wi, &s->slice[i])) {
					len = ctg_syncmsg_finish(&b);
					sync_send_msg(s, s->msg, len);
					ctg_syncmsg_begin(&b, s->msg, CTG_SYNC_MSG_MAX, CTG_SYNC_BULK_ENTRIES,
					    ctgd_clock_us());
					ctg_syncmsg_add_conn(&b, (uint16_t)wi, &s->slice[i]);
				}
			}
			total += n;
		}
	}
	if (b.count) {
		len = ctg_syncmsg_finish(&b);
		sync_send_msg(s, s->msg, len);
	}
	ctg_syncmsg_begin(&b, s->msg, CTG_SYNC_MSG_MAX, CTG_SYNC_BULK_END, ctgd_clock_us());
	len = ctg_syncmsg_finish(&b);
	sync_send_msg(s, s->msg, len);
	pthread_mutex_lock(&s->mu);
	s->bulk_sent++;
	pthread_mutex_unlock(&s->mu);
	ctgd_log(LOG_INFO, "sync: sent our table (%" PRIu64 " connections) in %" PRIu64 " ms",
	    total, (ctg_clock_mono_us() - t0) / 1000);
}

/* --- receiving --------------------------------------------------------------- */

static void
add_lag(struct ctgd_sync *s, uint64_t lag_us)
{
	s->lag_us[s->lag_pos] = lag_us > UINT32_MAX ? UINT32_MAX : (uint32_t)lag_us;
	s->lag_pos = (s->lag_pos + 1) % LAG_SAMPLES;
	if (s->lag_n < LAG_SAMPLES)
		s->lag_n++;
}

static struct bulk_in *
bulk_of(struct ctgd_sync *s, uint32_t nodeid, bool make)
{
	struct bulk_in *free_slot = NULL;

	for (unsigned i = 0; i < MAX_MEMBERS; i++) {
		if (s->bulks[i].nodeid == nodeid)
			return &s->bulks[i];
		if (!s->bulks[i].nodeid && !free_slot)
			free_slot = &s->bulks[i];
	}
	if (!make || !free_slot)
		return NULL;
	free_slot->nodeid = nodeid;
	free_slot->t0_us = ctg_clock_mono_us();
	free_slot->entries = 0;
	return free_slot;
}

static void
apply_conns(struct ctgd_sync *s, const struct ctg_syncmsg *m, struct bulk_in *bulk)
{
	struct daemon *dm = s->dm;
	struct worker *held = NULL;
	uint64_t applied = 0, refused = 0, wrong = 0;
	uint64_t now = ctgd_clock_us();
	/* the message's transit: the members' clocks are the hosts' (NTP keeps them together) */
	uint64_t transit = now > m->now_us ? now - m->now_us : 0;

	for (unsigned i = 0; i < m->count; i++) {
		struct ctg_conn_export e;
		uint16_t q;

		ctg_syncmsg_conn(m, i, now, &q, &e);
		if (q >= dm->nw) {
			wrong++;
			continue;
		}
		if (held != &dm->w[q]) {
			if (held)
				pthread_mutex_unlock(&held->lock);
			held = &dm->w[q];
			pthread_mutex_lock(&held->lock);
		}
		if (ctg_tracker_apply(held->pl.tracker, &e, now) == 0)
			applied++;
		else
			refused++;
		if (!bulk) {
			/* from the change on the sender (its last packet) to applied here */
			uint64_t age = now - e.c.last_us;

			pthread_mutex_lock(&s->mu);
			add_lag(s, age + transit);
			pthread_mutex_unlock(&s->mu);
		}
	}
	if (held)
		pthread_mutex_unlock(&held->lock);
	pthread_mutex_lock(&s->mu);
	s->updates_applied += applied;
	s->apply_refused += refused;
	s->wrong_queue += wrong;
	pthread_mutex_unlock(&s->mu);
	if (bulk)
		bulk->entries += applied;
}

static void
apply_ends(struct ctgd_sync *s, const struct ctg_syncmsg *m)
{
	struct daemon *dm = s->dm;
	uint64_t now = ctgd_clock_us(), done = 0;

	for (unsigned i = 0; i < m->count; i++) {
		struct ctg_sync_end e;

		ctg_syncmsg_end(m, i, &e);
		if (e.queue >= dm->nw)
			continue;
		pthread_mutex_lock(&dm->w[e.queue].lock);
		if (ctg_tracker_remove(dm->w[e.queue].pl.tracker, &e.tuple, e.id,
		    (enum ctg_end_reason)e.reason, now) == 0)
			done++;
		pthread_mutex_unlock(&dm->w[e.queue].lock);
	}
	pthread_mutex_lock(&s->mu);
	s->ends_applied += done;
	pthread_mutex_unlock(&s->mu);
}

static void
on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
    void *msg, size_t len)
{
	struct ctgd_sync *s = NULL;
	struct ctg_syncmsg m;
	char err[160];

	(void)group;
	if (cpg_context_get(h, (void **)&s) != CS_OK || !s)
		return;
	if (nodeid == s->nodeid && pid == s->pid)
		return;         /* CPG hands our own messages back */
	pthread_mutex_lock(&s->mu);
	s->msgs_received++;
	s->bytes_received += len;
	pthread_mutex_unlock(&s->mu);
	if (ctg_syncmsg_decode(msg, len, &m, err, sizeof(err)) < 0) {
		uint64_t minute = ctg_clock_mono_ms() / 60000;

		pthread_mutex_lock(&s->mu);
		s->decode_errors++;
		pthread_mutex_unlock(&s->mu);
		if (minute != s->log_minute) {
			s->log_minute = minute;
			s->log_budget = 0;
		}
		if (s->log_budget++ < 5)
			ctgd_log(LOG_WARNING, "sync: message from node %u refused: %s", nodeid, err);
		return;
	}
	struct bulk_in *b;

	switch (m.type) {
	case CTG_SYNC_CONN_UPDATE:
		apply_conns(s, &m, NULL);
		if (m.want_ack)
			sync_defer_ack_due(s, nodeid, m.token);
		break;
	case CTG_SYNC_CONN_END:
		apply_ends(s, &m);
		if (m.want_ack)
			sync_defer_ack_due(s, nodeid, m.token);
		break;
	case CTG_SYNC_DEFER_ACK:
		sync_defer_apply_acks(s, &m, nodeid);
		break;
	case CTG_SYNC_BULK_BEGIN:
		b = bulk_of(s, nodeid, true);
		if (b) {
			b->t0_us = ctg_clock_mono_us();
			b->entries = 0;
		}
		break;
	case CTG_SYNC_BULK_ENTRIES:
		apply_conns(s, &m, bulk_of(s, nodeid, true));
		break;
	case CTG_SYNC_BULK_END:
		if ((b = bulk_of(s, nodeid, false)) != NULL) {
			uint64_t ms = (ctg_clock_mono_us() - b->t0_us) / 1000, n = b->entries;

			b->nodeid = 0;
			pthread_mutex_lock(&s->mu);
			s->bulk_received++;
			s->last_bulk_entries = n;
			s->last_bulk_ms = ms;
			pthread_mutex_unlock(&s->mu);
			sync_event(s, CTG_EV_HA_BULK_RECEIVED, n,
			    "bulk transfer from node %u: %" PRIu64 " connections in %" PRIu64 " ms",
			    nodeid, n, ms);
			ctgd_log(LOG_INFO, "sync: bulk transfer from node %u: %" PRIu64
			    " connections in %" PRIu64 " ms", nodeid, n, ms);
		}
		break;
	}
}

static void
on_confchg(cpg_handle_t h, const struct cpg_name *group,
    const struct cpg_address *members, size_t nmembers,
    const struct cpg_address *left, size_t nleft,
    const struct cpg_address *joined, size_t njoined)
{
	struct ctgd_sync *s = NULL;
	bool me_joined = false;
	uint32_t lowest_before = 0;

	(void)group;
	if (cpg_context_get(h, (void **)&s) != CS_OK || !s)
		return;
	pthread_mutex_lock(&s->mu);
	s->nmembers = 0;
	for (size_t i = 0; i < nmembers && s->nmembers < MAX_MEMBERS; i++)
		s->members[s->nmembers++] = members[i].nodeid;
	pthread_mutex_unlock(&s->mu);
	sync_defer_members(s, members, nmembers);
	for (size_t i = 0; i < njoined; i++) {
		if (joined[i].nodeid == s->nodeid && joined[i].pid == s->pid) {
			me_joined = true;
			continue;
		}
		sync_event(s, CTG_EV_HA_MEMBER_JOINED, nmembers, "node %u joined group %s (%zu members)",
		    joined[i].nodeid, s->dm->cfg->sync_group, nmembers);
		ctgd_log(LOG_INFO, "sync: node %u joined (%zu members)", joined[i].nodeid, nmembers);
	}
	for (size_t i = 0; i < nleft; i++) {
		sync_event(s, CTG_EV_HA_MEMBER_LEFT, nmembers, "node %u left group %s (%zu members)",
		    left[i].nodeid, s->dm->cfg->sync_group, nmembers);
		ctgd_log(LOG_INFO, "sync: node %u left (%zu members)", left[i].nodeid, nmembers);
		struct bulk_in *b = bulk_of(s, left[i].nodeid, false);

		if (b)
			b->nodeid = 0;  /* a bulk cut short: the next one starts over */
	}
	if (me_joined)
		return;         /* the others send us their table */
	if (njoined == 0)
		return;
	/* the lowest node id among those already here sends its table */
	for (size_t i = 0; i < nmembers; i++) {
		bool new = false;

		for (size_t j = 0; j < njoined; j++)
			if (joined[j].nodeid == members[i].nodeid && joined[j].pid == members[i].pid)
				new = true;
		if (!new && (lowest_before == 0 || members[i].nodeid < lowest_before))
			lowest_before = members[i].nodeid;
	}
	if (lowest_before == s->nodeid)
		s->bulk_pending = true;
}

static cpg_callbacks_t callbacks = {
	.cpg_deliver_fn = on_deliver,
	.cpg_confchg_fn = on_confchg,
};

/* --- the connection to corosync ------------------------------------------- */

static void
disconnect(struct ctgd_sync *s)
{
	if (!s->connected)
		return;
	cpg_finalize(s->h);
	s->connected = false;
	s->cpg_fd = -1;
	memset(s->bulks, 0, sizeof(s->bulks));
	sync_defer_alone(s);
	pthread_mutex_lock(&s->mu);
	s->nmembers = 0;
	s->disconnects++;
	pthread_mutex_unlock(&s->mu);
}

/*
 * After every burst corosync turns its token seqno_unchanged_const times
 * (default 30) before it rests; on a gateway whose bursts come hundreds of
 * times a second, those idle turns are most of corosync's CPU (HA in
 * README). Read the running value back and say so once when it is above
 * what this mode needs: 1 for active/backup, 5 for active/active, whose
 * held verdicts wait for the ring to carry acks promptly.
 */
static void
check_idle_turns(struct ctgd_sync *s)
{
	cmap_handle_t ch;
	uint32_t v = 0;
	uint32_t want = s->dm->cfg->sync_mode == CTG_SYNC_ACTIVE_ACTIVE ? 5 : 1;

	if (cmap_initialize(&ch) != CS_OK)
		return;
	if (cmap_get_uint32(ch, "runtime.config.totem.seqno_unchanged_const", &v) != CS_OK)
		v = 0;
	cmap_finalize(ch);
	pthread_mutex_lock(&s->mu);
	s->idle_turns = v;
	pthread_mutex_unlock(&s->mu);
	if (v > want)
		ctgd_log(LOG_NOTICE, "sync: corosync's totem.seqno_unchanged_const is %u: after every "
		    "burst of messages its token turns %u more times before it rests, CPU taken from "
		    "the traffic under load; %s mode needs %u (packaging/ha/corosync.conf)", v, v,
		    ctg_sync_mode_name(s->dm->cfg->sync_mode), want);
}

static int
try_connect(struct ctgd_sync *s)
{
	struct cpg_name name;
	cs_error_t rc;
	const char *what;

	s->next_try_ms = ctg_clock_mono_ms() + SYNC_RETRY_MS;
	pthread_mutex_lock(&s->mu);
	s->connect_tries++;
	pthread_mutex_unlock(&s->mu);
	memset(&name, 0, sizeof(name));
	name.length = (uint32_t)strlen(s->dm->cfg->sync_group);
	memcpy(name.value, s->dm->cfg->sync_group, name.length);
	if ((rc = cpg_initialize(&s->h, &callbacks)) != CS_OK) {
		what = "cpg_initialize";
		goto fail;
	}
	cpg_context_set(s->h, s);
	if ((rc = cpg_local_get(s->h, &s->nodeid)) != CS_OK) {
		what = "cpg_local_get";
		goto fail_fin;
	}
	for (int i = 0; i < 50; i++) {
		rc = cpg_join(s->h, &name);
		if (rc != CS_ERR_TRY_AGAIN)
			break;
		struct timespec ms = { 0, 10000000 };
		nanosleep(&ms, NULL);
	}
	if (rc != CS_OK) {
		what = "cpg_join";
		goto fail_fin;
	}
	if ((rc = cpg_fd_get(s->h, &s->cpg_fd)) != CS_OK) {
		what = "cpg_fd_get";
		goto fail_fin;
	}
	s->connected = true;
	s->connect_warned = false;
	ctgd_log(LOG_INFO, "sync: joined group %s as node %u", s->dm->cfg->sync_group, s->nodeid);
	check_idle_turns(s);
	return 0;
fail_fin:
	cpg_finalize(s->h);
fail:
	pthread_mutex_lock(&s->mu);
	s->connect_failures++;
	pthread_mutex_unlock(&s->mu);
	/* logged once per outage, counted every time */
	if (!s->connect_warned)
		ctgd_log(LOG_WARNING, "sync: cannot reach corosync (%s: error %d); retrying every second",
		    what, (int)rc);
	s->connect_warned = true;
	return -1;
}

static void *
sync_main(void *arg)
{
	struct ctgd_sync *s = arg;
	uint64_t every = s->dm->cfg->sync_interval_ms;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	s->last_flush_ms = ctg_clock_mono_ms();
	while (!atomic_load(&ctgd_stopping)) {
		struct pollfd pfd[2] = { { .fd = s->efd, .events = POLLIN }, { .fd = -1 } };
		uint64_t now = ctg_clock_mono_ms();
		int timeout = (int)(s->last_flush_ms + every > now ? s->last_flush_ms + every - now : 0);

		if (!s->connected && now >= s->next_try_ms)
			try_connect(s);
		if (timeout > 100)
			timeout = 100;
		if ((s->urgent || s->urgent_lag) && timeout > 1)
			timeout = 1;
		if (s->urgent_defer)
			timeout = 0;
		if (s->connected)
			pfd[1] = (struct pollfd){ .fd = s->cpg_fd, .events = POLLIN };
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			continue;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			if (read(s->efd, &v, sizeof(v)) < 0) {
				if (errno != EAGAIN)
					ctgd_log(LOG_WARNING, "sync: eventfd: %s", strerror(errno));
			} else {
				if (v >= SYNC_KICK_DEFER)
					s->urgent_defer = true;
				if ((v % SYNC_KICK_DEFER) >= SYNC_KICK_LAG)
					s->urgent_lag = true;
				if (v % SYNC_KICK_LAG)
					s->urgent = true;
			}
		}
		if (s->connected && (pfd[1].revents & (POLLIN | POLLERR | POLLHUP))) {
			cs_error_t rc = cpg_dispatch(s->h, CS_DISPATCH_ALL);

			if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
				ctgd_log(LOG_WARNING, "sync: lost corosync (error %d); retrying every second",
				    (int)rc);
				disconnect(s);
			}
		}
		if (!s->connected)
			continue;
		/* what this round of deliveries applied, acknowledged in one message */
		sync_defer_send_acks(s);
		now = ctg_clock_mono_ms();
		uint64_t now_us = ctg_clock_mono_us();

		uint64_t since = now_us - s->last_send_us;

		/* held verdicts wait for this send: no gap */
		if (s->urgent_defer || (s->urgent_lag && since >= SYNC_LAG_GAP_US) ||
		    (s->urgent && since >= SYNC_CHANGE_GAP_US) || now - s->last_flush_ms >= every) {
			s->urgent = s->urgent_lag = s->urgent_defer = false;
			send_changes(s);
			s->last_flush_ms = now;
			s->last_send_us = now_us;
		}
		if (s->bulk_pending)
			send_bulk(s);
	}
	disconnect(s);
	return NULL;
}

/* --- the daemon's side -------------------------------------------------------- */

int
ctgd_sync_open(struct daemon *dm)
{
	const struct ctg_config *cfg = dm->cfg;
	struct ctgd_sync *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	dm->sync = s;
	s->dm = dm;
	s->efd = -1;
	s->cpg_fd = -1;
	s->pid = (uint32_t)getpid();
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->role, sizeof(s->role), "none");
	if (cfg->sync_node_name[0])
		snprintf(s->node_name, sizeof(s->node_name), "%s", cfg->sync_node_name);
	else if (gethostname(s->node_name, sizeof(s->node_name)) < 0)
		s->node_name[0] = '\0';
	s->node_name[sizeof(s->node_name) - 1] = '\0';
	if (!cfg->sync_enabled)
		return 0;
	s->msg = malloc(3 * CTG_SYNC_MSG_MAX);
	s->slice = calloc(SYNC_SLICE, sizeof(*s->slice));
	s->ends = calloc(SYNC_SLICE, sizeof(*s->ends));
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!s->msg || !s->slice || !s->ends || s->efd < 0 ||
	    sync_defer_init(s) < 0) {
		ctgd_log(LOG_ERR, "sync: out of memory");
		return -1;
	}
	ctg_syncmsg_begin(&s->wu, s->msg + CTG_SYNC_MSG_MAX, CTG_SYNC_MSG_MAX,
	    CTG_SYNC_CONN_UPDATE, 0);
	ctg_syncmsg_begin(&s->we, s->msg + 2 * CTG_SYNC_MSG_MAX, CTG_SYNC_MSG_MAX,
	    CTG_SYNC_CONN_END, 0);
	for (unsigned i = 0; i < dm->nw; i++) {
		if (ctg_tracker_sync_enable(dm->w[i].pl.tracker, SYNC_RING, cfg->sync_max_updates,
		    cfg->sync_carry) < 0) {
			ctgd_log(LOG_ERR, "sync: out of memory for queue %u's marks", dm->w[i].queue);
			return -1;
		}
		ctg_tracker_sync_set_merge(dm->w[i].pl.tracker,
		    cfg->sync_mode == CTG_SYNC_ACTIVE_ACTIVE);
	}
	/* the first try as root: corosync's IPC admits other users only if configured to */
	try_connect(s);
	return 0;
}

void
ctgd_sync_start(struct daemon *dm)
{
	struct ctgd_sync *s = dm->sync;

	if (!s || !dm->cfg->sync_enabled)
		return;
	if (pthread_create(&s->thread, NULL, sync_main, s) == 0)
		s->running = true;
	else
		ctgd_log(LOG_ERR, "sync: cannot start its thread; not synchronising");
}

void
ctgd_sync_stop(struct daemon *dm)
{
	struct ctgd_sync *s = dm->sync;

	if (!s)
		return;
	if (s->running)
		pthread_join(s->thread, NULL);
	s->running = false;
	disconnect(s);
}

void
ctgd_sync_close(struct daemon *dm)
{
	struct ctgd_sync *s = dm->sync;

	if (!s)
		return;
	ctgd_sync_stop(dm);
	if (s->efd >= 0)
		close(s->efd);
	free(s->msg);
	free(s->slice);
	free(s->ends);
	sync_defer_fini(s);
	pthread_mutex_destroy(&s->mu);
	free(s);
	dm->sync = NULL;
}

/* A worker's burst left urgent changes: wake the thread, once per kind until it drains. */
void
ctgd_sync_kick(struct daemon *dm, enum ctgd_kick kind)
{
	struct ctgd_sync *s = dm->sync;
	atomic_bool *flag;
	uint64_t v = kind == CTGD_KICK_DEFER ? SYNC_KICK_DEFER :
	    kind == CTGD_KICK_LAG ? SYNC_KICK_LAG : 1;

	if (!s || s->efd < 0)
		return;
	flag = kind == CTGD_KICK_DEFER ? &s->kicked_defer :
	    kind == CTGD_KICK_LAG ? &s->kicked_lag : &s->kicked;
	if (!atomic_exchange(flag, true) && write(s->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		atomic_store(flag, false);
}

unsigned
ctgd_sync_others(const struct daemon *dm)
{
	struct ctgd_sync *s = dm->sync;

	return s ? atomic_load(&s->others) : 0;
}

bool
ctgd_sync_set_role(struct daemon *dm, const char *role)
{
	struct ctgd_sync *s = dm->sync;
	char old[16];

	if (!s || (strcmp(role, "primary") != 0 && strcmp(role, "backup") != 0 &&
	    strcmp(role, "fault") != 0))
		return false;
	pthread_mutex_lock(&s->mu);
	snprintf(old, sizeof(old), "%s", s->role);
	snprintf(s->role, sizeof(s->role), "%s", role);
	pthread_mutex_unlock(&s->mu);
	ctgd_event(dm, CTG_EV_HA_ROLE, 0, "ha role %s (was %s) on %s", role, old, s->node_name);
	ctgd_log(LOG_NOTICE, "ha role %s (was %s)", role, old);
	return true;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* p50 and p99 of the recent lag samples, in ms (-1: none). */
static void
lag_percentiles(struct ctgd_sync *s, double *p50, double *p99)
{
	static uint32_t tmp[LAG_SAMPLES];       /* main thread only */
	unsigned n = s->lag_n;

	*p50 = *p99 = -1;
	if (n == 0)
		return;
	memcpy(tmp, s->lag_us, n * sizeof(tmp[0]));
	qsort(tmp, n, sizeof(tmp[0]), cmp_u32);
	*p50 = tmp[(n - 1) * 50 / 100] / 1000.0;
	*p99 = tmp[(n - 1) * 99 / 100] / 1000.0;
}

void
ctgd_sync_status(struct daemon *dm, struct ctg_strbuf *o, bool json, bool summary)
{
	struct ctgd_sync *s = dm->sync;
	struct ctg_tracker_sync_stats ts, sum;
	struct ctg_defer_stats ds, dsum;
	double p50, p99;
	uint64_t w50 = 0, w99 = 0;
	/* the workers' recent waits, for the percentiles (not the packet path) */
	uint32_t *waits = malloc((size_t)dm->nw * CTG_DEFER_WAIT_SAMPLES * sizeof(*waits));
	size_t nwaits = 0;

	if (!s) {
		free(waits);
		return;
	}
	memset(&sum, 0, sizeof(sum));
	memset(&dsum, 0, sizeof(dsum));
	for (unsigned i = 0; i < dm->nw; i++) {
		struct timespec until;

		/* a wedged worker must not wedge the control socket: its marks are left out */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 20 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_mutex_timedlock(&dm->w[i].lock, &until) != 0)
			continue;
		if (dm->w[i].pl.tracker)
			ctg_tracker_sync_stats(dm->w[i].pl.tracker, &ts);
		else
			memset(&ts, 0, sizeof(ts));
		ctg_defer_stats(&dm->w[i].defer, &ds);
		if (waits)
			nwaits += ctg_defer_waits(&dm->w[i].defer, waits + nwaits, CTG_DEFER_WAIT_SAMPLES);
		pthread_mutex_unlock(&dm->w[i].lock);
		dsum.deferred += ds.deferred;
		dsum.timeouts += ds.timeouts;
		dsum.overflows += ds.overflows;
		dsum.held += ds.held;
		sum.merged += ts.merged;
		sum.marked += ts.marked;
		sum.ring_overflows += ts.ring_overflows;
		sum.ends_lost += ts.ends_lost;
		sum.relearned += ts.relearned;
		sum.synced_live += ts.synced_live;
		sum.apply_older += ts.apply_older;
		sum.applied_offloaded += ts.applied_offloaded;
	}
	if (nwaits) {
		qsort(waits, nwaits, sizeof(*waits), cmp_u32);
		w50 = waits[(nwaits - 1) * 50 / 100];
		w99 = waits[(nwaits - 1) * 99 / 100];
	}
	free(waits);
	pthread_mutex_lock(&s->mu);
	lag_percentiles(s, &p50, &p99);
	if (summary) {
		ctg_strbuf_printf(o, "ha role %s members %u connected %s sent %" PRIu64 " received %"
		    PRIu64 " lag_p99_ms %.3f\n", s->role, s->nmembers, s->connected ? "yes" : "no",
		    s->msgs_sent, s->msgs_received, p99 < 0 ? 0.0 : p99);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (json) {
		ctg_strbuf_printf(o, "{\"enabled\":%s,\"role\":\"%s\",\"node_name\":\"",
		    dm->cfg->sync_enabled ? "true" : "false", s->role);
		for (const char *p = s->node_name; *p; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
				ctg_strbuf_printf(o, "%c", *p);
		ctg_strbuf_printf(o, "\",\"group\":\"");
		for (const char *p = dm->cfg->sync_group; *p; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
				ctg_strbuf_printf(o, "%c", *p);
		ctg_strbuf_printf(o, "\",\"connected\":%s,\"nodeid\":%u,\"members\":%u,\"member_ids\":[",
		    s->connected ? "true" : "false", s->nodeid, s->nmembers);
		for (unsigned i = 0; i < s->nmembers; i++)
			ctg_strbuf_printf(o, "%s%u", i ? "," : "", s->members[i]);
		ctg_strbuf_printf(o, "],\"msgs_sent\":%" PRIu64 ",\"msgs_received\":%" PRIu64
		    ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		    ",\"updates_applied\":%" PRIu64 ",\"ends_applied\":%" PRIu64
		    ",\"bulk_sent\":%" PRIu64 ",\"bulk_received\":%" PRIu64
		    ",\"last_bulk_entries\":%" PRIu64 ",\"last_bulk_ms\":%" PRIu64
		    ",\"lag_p50_ms\":%.3f,\"lag_p99_ms\":%.3f,\"lag_samples\":%u"
		    ",\"decode_errors\":%" PRIu64 ",\"send_failures\":%" PRIu64
		    ",\"apply_refused\":%" PRIu64 ",\"connect_tries\":%" PRIu64
		    ",\"connect_failures\":%" PRIu64 ",\"marked\":%" PRIu64
		    ",\"ring_overflows\":%" PRIu64 ",\"ends_lost\":%" PRIu64
		    ",\"relearned\":%" PRIu64 ",\"kept_newer\":%" PRIu64 ",\"synced_only\":%u"
		    ",\"offloaded_as_pickups\":%" PRIu64
		    ",\"mode\":\"%s\",\"defer_timeout_ms\":%u,\"deferred\":%" PRIu64
		    ",\"defer_held\":%u,\"defer_timeouts\":%" PRIu64 ",\"defer_overflows\":%" PRIu64
		    ",\"defer_wait_p50_us\":%" PRIu64 ",\"defer_wait_p99_us\":%" PRIu64
		    ",\"merged\":%" PRIu64 ",\"others\":%u,\"defer_acks_sent\":%" PRIu64
		    ",\"defer_acks_received\":%" PRIu64
		    ",\"totem_seqno_unchanged_const\":%u}\n",
		    s->msgs_sent, s->msgs_received, s->bytes_sent, s->bytes_received,
		    s->updates_applied, s->ends_applied, s->bulk_sent, s->bulk_received,
		    s->last_bulk_entries, s->last_bulk_ms, p50 < 0 ? 0.0 : p50, p99 < 0 ? 0.0 : p99,
		    s->lag_n, s->decode_errors, s->send_failures, s->apply_refused,
		    s->connect_tries, s->connect_failures, sum.marked, sum.ring_overflows,
		    sum.ends_lost, sum.relearned, sum.apply_older, sum.synced_live,
		    sum.applied_offloaded, ctg_sync_mode_name(dm->cfg->sync_mode),
		    dm->cfg->sync_defer_timeout_ms, dsum.deferred, dsum.held, dsum.timeouts,
		    dsum.overflows, w50, w99, sum.merged, atomic_load(&s->others), s->acks_sent,
		    s->acks_received, s->idle_turns);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	ctg_strbuf_printf(o, "enabled %s\nrole %s\nnode_name %s\ngroup %s\nconnected %s\nnodeid %u\n"
	    "members %u ids", dm->cfg->sync_enabled ? "yes" : "no", s->role, s->node_name,
	    dm->cfg->sync_group, s->connected ? "yes" : "no", s->nodeid, s->nmembers);
	for (unsigned i = 0; i < s->nmembers; i++)
		ctg_strbuf_printf(o, "%s%u", i ? "," : " ", s->members[i]);
	ctg_strbuf_printf(o, "\nmessages sent %" PRIu64 " received %" PRIu64
	    "\nbytes sent %" PRIu64 " received %" PRIu64
	    "\nupdates_applied %" PRIu64 " ends_applied %" PRIu64 " refused %" PRIu64
	    "\nbulk sent %" PRIu64 " received %" PRIu64 " last_entries %" PRIu64 " last_ms %" PRIu64
	    "\nlag_ms p50 %.3f p99 %.3f samples %u"
	    "\ndecode_errors %" PRIu64 "\nsend_failures %" PRIu64
	    "\nconnect_tries %" PRIu64 " failures %" PRIu64
	    "\nmarked %" PRIu64 " ring_overflows %" PRIu64 " ends_lost %" PRIu64
	    "\nrelearned %" PRIu64 " kept_newer %" PRIu64 "\nsynced_only %u"
	    "\noffloaded_as_pickups %" PRIu64
	    "\nmode %s defer_timeout_ms %u deferred %" PRIu64 " defer_held %u defer_timeouts %" PRIu64
	    " defer_overflows %" PRIu64 " defer_wait_p50_us %" PRIu64 " defer_wait_p99_us %" PRIu64
	    " merged %" PRIu64 "\ntotem_seqno_unchanged_const %u\n",
	    s->msgs_sent, s->msgs_received, s->bytes_sent, s->bytes_received,
	    s->updates_applied, s->ends_applied, s->apply_refused,
	    s->bulk_sent, s->bulk_received, s->last_bulk_entries, s->last_bulk_ms,
	    p50 < 0 ? 0.0 : p50, p99 < 0 ? 0.0 : p99, s->lag_n,
	    s->decode_errors, s->send_failures, s->connect_tries, s->connect_failures,
	    sum.marked, sum.ring_overflows, sum.ends_lost, sum.relearned, sum.apply_older,
	    sum.synced_live, sum.applied_offloaded, ctg_sync_mode_name(dm->cfg->sync_mode),
	    dm->cfg->sync_defer_timeout_ms, dsum.deferred, dsum.held, dsum.timeouts,
	    dsum.overflows, w50, w99, sum.merged, s->idle_turns);
	pthread_mutex_unlock(&s->mu);
}
