/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The end of offloaded UDP flows. Once such a flow is handed to the
 * kernel (worker.c) its datagrams no longer reach ctguard, so only the
 * kernel knows when it ends: without this room its entry would live on
 * until tcp_established's timeout and its summary would lack the
 * kernel's counters.
 *
 * With offload on, the NAT thread (natwatch.c, which polls this room's
 * socket: no thread and no lock of its own) follows a second ctnetlink
 * subscription: the DESTROY events of UDP entries whose connection mark
 * carries the offload bits (a filter the kernel applies, so no other
 * event wakes us). The event's counters go to ctacct.c for the summary
 * and the entry ends in its queue's table, under that worker's lock (as
 * `ctguard kill` does), never on the packet path. Events we cannot have
 * seen (ended while we were stopped, lost to an overrun) are made up for
 * by a dump of the marked entries (off_resync).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <netinet/in.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ctguard/clock.h"
#include "natwatch-int.h"

#define OFF_RCVBUF      (32 * 1024 * 1024)

struct ctgd_offwatch {
	struct nfct_handle *h;          /* DESTROY of offloaded UDP entries */
	struct daemon *dm;
	uint32_t omark;
	_Atomic uint64_t ended, overruns;
	bool resync;                    /* walk the tables against a dump: due */
	uint64_t resync_ms;             /* last walk (monotonic ms) */
	struct ctg_tuple *live;         /* the dump, sorted */
	size_t nlive, cap;
};

/*
 * The tuple the filter chains saw of a kernel entry carrying the offload
 * mark, if it is UDP: its destination translated and its source not (the
 * orig source and the reply's source, as for the NAT rows).
 */
static bool
offloaded_udp_tuple(const struct ctgd_offwatch *o, const struct nf_conntrack *ct,
    struct ctg_tuple *tp)
{
	uint8_t l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);

	if ((l3 != AF_INET && l3 != AF_INET6) ||
	    nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_UDP ||
	    nfct_attr_is_set(ct, ATTR_MARK) <= 0 ||
	    (nfct_get_attr_u32(ct, ATTR_MARK) & o->omark) != o->omark)
		return false;
	memset(tp, 0, sizeof(*tp));
	tp->family = l3 == AF_INET ? 4 : 6;
	tp->proto = IPPROTO_UDP;
	if (!ctgd_ct_addr(ct, tp->family, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, &tp->src) ||
	    !ctgd_ct_addr(ct, tp->family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, &tp->dst) ||
	    nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) <= 0 ||
	    nfct_attr_is_set(ct, ATTR_REPL_PORT_SRC) <= 0)
		return false;
	tp->sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
	tp->dport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	return true;
}

/*
 * An offloaded UDP flow's kernel entry ended: end ctguard's entry of it
 * with the kernel's final counters.
 */
static int
on_off_destroy(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct ctgd_offwatch *o = arg;
	struct daemon *dm = o->dm;
	struct ctg_tuple tp;
	struct ctg_conn_kernel k;
	bool counted;

	if (type != NFCT_T_DESTROY || !offloaded_udp_tuple(o, ct, &tp))
		return NFCT_CB_CONTINUE;
	counted = nfct_attr_is_set(ct, ATTR_ORIG_COUNTER_BYTES) > 0;
	for (unsigned i = 0; i < dm->nw; i++) {
		struct worker *w = &dm->w[i];
		struct ctg_conn *c;
		uint8_t dir = 0;

		pthread_mutex_lock(&w->lock);
		c = ctg_tracker_lookup(w->pl.tracker, &tp, &dir);
		if (c && c->tuple.proto == IPPROTO_UDP && ctg_conn_offloaded(c)) {
			if (counted) {
				/* the kernel's original direction is ours unless we met the reply first */
				k.pkts[dir] = nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS);
				k.bytes[dir] = nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES);
				k.pkts[!dir] = nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_PACKETS);
				k.bytes[!dir] = nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES);
				ctgd_ctacct_gone(c->id, &k);
			}
			ctg_tracker_end(w->pl.tracker, c, CTG_END_TIMEOUT, ctgd_clock_us());
			o->ended++;
			pthread_mutex_unlock(&w->lock);
			break;
		}
		pthread_mutex_unlock(&w->lock);
	}
	return NFCT_CB_CONTINUE;
}

/*
 * Entries whose DESTROY we did not see: the kernel's entry ended while
 * ctguardd was stopped (entries restored from the snapshot) or its event
 * was lost to an overrun. At start and after an overrun (at most every
 * OFF_RESYNC_MS), dump the kernel's UDP entries that carry the mark and
 * end every offloaded UDP entry offloaded before the dump that none of
 * them matches; the tables are walked in slices, each worker's lock held
 * for one slice at a time.
 */
#define OFF_RESYNC_MS 10000
#define OFF_SLICE 16384

static int
tuple_cmp(const void *a, const void *b)
{
	const struct ctg_tuple *x = a, *y = b;
	int d;

	if (x->family != y->family)
		return x->family - y->family;
	if (x->sport != y->sport)
		return x->sport - y->sport;
	if (x->dport != y->dport)
		return x->dport - y->dport;
	if ((d = memcmp(&x->src, &y->src, sizeof(x->src))) != 0)
		return d;
	return memcmp(&x->dst, &y->dst, sizeof(x->dst));
}

static int
on_off_dumped(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct ctgd_offwatch *o = arg;
	struct ctg_tuple tp;

	(void)type;
	if (!offloaded_udp_tuple(o, ct, &tp))
		return NFCT_CB_CONTINUE;
	if (o->nlive == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 1024;
		struct ctg_tuple *m = realloc(o->live, cap * sizeof(*m));

		if (!m)
			return NFCT_CB_FAILURE;
		o->live = m;
		o->cap = cap;
	}
	o->live[o->nlive++] = tp;
	return NFCT_CB_CONTINUE;
}

static bool
off_in_dump(const struct ctgd_offwatch *o, const struct ctg_tuple *t)
{
	struct ctg_tuple k, r;

	if (!o->nlive)
		return false;
	memset(&k, 0, sizeof(k));
	k.src = t->src;
	k.dst = t->dst;
	k.sport = t->sport;
	k.dport = t->dport;
	k.family = t->family;
	k.proto = t->proto;
	r = k;
	r.src = k.dst;
	r.dst = k.src;
	r.sport = k.dport;
	r.dport = k.sport;
	return bsearch(&k, o->live, o->nlive, sizeof(k), tuple_cmp) ||
	    bsearch(&r, o->live, o->nlive, sizeof(r), tuple_cmp);
}

struct off_walk {
	struct ctgd_offwatch *o;
	struct ctg_tracker *t;
	uint64_t before_us, now_us;
	unsigned ended;
};

static int
off_visit(void *arg, struct ctg_conn *c)
{
	struct off_walk *x = arg;

	/* offloaded before the dump began: its kernel entry, if live, is in it */
	if (c->tuple.proto == IPPROTO_UDP && ctg_conn_offloaded(c) &&
	    c->last_us < x->before_us && !off_in_dump(x->o, &c->tuple)) {
		ctg_tracker_end(x->t, c, CTG_END_TIMEOUT, x->now_us);
		x->ended++;
	}
	return 0;
}

static void
off_resync(struct ctgd_offwatch *o, const atomic_bool *stop)
{
	struct daemon *dm = o->dm;
	struct nfct_handle *h;
	uint32_t family = AF_UNSPEC;
	struct off_walk x = { .o = o };

	o->resync = false;
	o->resync_ms = ctg_clock_mono_ms();
	x.before_us = ctgd_clock_us();
	if (!(h = nfct_open(CONNTRACK, 0)))
		return;
	o->nlive = 0;
	nfct_callback_register(h, NFCT_T_ALL, on_off_dumped, o);
	int rc = nfct_query(h, NFCT_Q_DUMP, &family);
	nfct_close(h);
	if (rc < 0) {
		ctgd_log(LOG_WARNING, "offload: conntrack dump: %s", strerror(errno));
		return;
	}
	if (o->nlive)
		qsort(o->live, o->nlive, sizeof(*o->live), tuple_cmp);
	for (unsigned i = 0; i < dm->nw; i++) {
		struct worker *w = &dm->w[i];
		struct ctg_tracker_stats st;
		size_t at = 0;

		ctg_tracker_stats(w->pl.tracker, &st);  /* its size is fixed */
		while (at < st.max && !atomic_load(stop)) {
			pthread_mutex_lock(&w->lock);
			x.t = w->pl.tracker;
			x.now_us = ctgd_clock_us();
			at = ctg_tracker_foreach_from(x.t, at, OFF_SLICE, off_visit, &x);
			pthread_mutex_unlock(&w->lock);
		}
	}
	if (x.ended)
		ctgd_log(LOG_NOTICE, "offload: %u offloaded UDP flows ended: their kernel "
		    "entries were gone (ended unseen)", x.ended);
	o->ended += x.ended;
}

/*
 * Subscribe to the DESTROY events of offloaded UDP entries, filtered in
 * the kernel by protocol and mark (checked again in on_off_destroy, in
 * case the filter could not be attached).
 */
int
ctgd_offwatch_open(struct daemon *dm, struct ctgd_offwatch **out)
{
	const struct ctg_config *cfg = dm->cfg;
	struct ctgd_offwatch *o;
	struct nfct_filter *f;
	struct nfct_filter_dump_mark m = { .val = cfg->offload_mark, .mask = cfg->offload_mark };
	int fd, sz = OFF_RCVBUF;

	*out = NULL;
	if (!(o = calloc(1, sizeof(*o))))
		return -1;
	o->dm = dm;
	o->omark = cfg->offload_mark;
	o->h = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_DESTROY);
	if (!o->h) {
		ctgd_log(LOG_WARNING, "offload: cannot follow conntrack DESTROY events (%s; is "
		    "nf_conntrack_netlink loaded?): offloaded UDP flows end only by "
		    "tcp_established's timeout", strerror(errno));
		free(o);
		return 0;
	}
	fd = nfct_fd(o->h);
	if ((f = nfct_filter_create()) != NULL) {
		nfct_filter_add_attr_u32(f, NFCT_FILTER_L4PROTO, IPPROTO_UDP);
		nfct_filter_add_attr(f, NFCT_FILTER_MARK, &m);
		if (nfct_filter_attach(fd, f) < 0)
			ctgd_log(LOG_NOTICE, "offload: conntrack event filter refused (%s): "
			    "every DESTROY event is read", strerror(errno));
		nfct_filter_destroy(f);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	nfct_callback_register(o->h, NFCT_T_DESTROY, on_off_destroy, o);
	/* the first turn of the thread: entries restored from the snapshot may be gone */
	o->resync = true;
	*out = o;
	return 0;
}

int
ctgd_offwatch_fd(const struct ctgd_offwatch *o)
{
	return nfct_fd(o->h);
}

void
ctgd_offwatch_readable(struct ctgd_offwatch *o)
{
	if (nfct_catch(o->h) < 0 && errno == ENOBUFS) {
		/* which ones is unknown: the next walk finds them */
		o->resync = true;
		if (o->overruns++ == 0)
			ctgd_log(LOG_WARNING, "offload: conntrack DESTROY events lost (socket "
			    "overrun): offloaded UDP flows are checked against a dump");
	}
}

void
ctgd_offwatch_tick(struct ctgd_offwatch *o, const atomic_bool *stop)
{
	if (o->resync && ctg_clock_mono_ms() - o->resync_ms >= OFF_RESYNC_MS)
		off_resync(o, stop);
}

void
ctgd_offwatch_close(struct ctgd_offwatch *o)
{
	nfct_close(o->h);
	free(o->live);
	free(o);
}
