/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's NAT mappings, for the audit log: which inside host and port
 * a public address and port stood for, and when.
 *
 * ctguard judges packets in the filter chains, where the destination is
 * already translated (DNAT) and the source not yet (SNAT, MASQUERADE), so
 * neither its table nor its verdicts hold the public side. The kernel's
 * conntrack entry holds both: this thread follows its events (ctnetlink,
 * libnetfilter_conntrack), NEW when an entry is confirmed with its NAT
 * bindings final and DESTROY when it ends, and writes one row per
 * translated connection to the "nat" table. It is off the packet path:
 * no lookup per packet, its own SQLite connection, rows batched in one
 * transaction at most every NAT_FLUSH_MS.
 *
 * Conventions of a row: src, sport, dst, dport as the rules and the
 * connections table see the connection (orig source, reply source);
 * nat_src/nat_sport the source after SNAT (the reply's destination),
 * nat_dst/nat_dport the destination before DNAT (the orig destination),
 * each NULL when not translated.
 *
 * With offload on, the same thread also serves offwatch.c (the end of
 * offloaded UDP flows, a second subscription): it polls that room's
 * socket beside its own, so the two need no second thread and no lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <sqlite3.h>

#include "ctguard/clock.h"
#include "natwatch-int.h"

#define NAT_PENDING     16384           /* rows waiting for the database */
#define NAT_FLUSH_MS    200
#define NAT_POLL_MS     200
#define NAT_BUSY_MS     1000
#define NAT_RCVBUF      (32 * 1024 * 1024)
#define NAT_PRUNE_US    (3600ULL * 1000000)
#define NAT_BUCKETS     65536           /* the live map, for ctguard connections */
#define NAT_LIVE_MAX    (1u << 20)

struct nat_op {
	bool destroy;
	uint8_t family, proto;
	uint32_t ct_id;
	uint64_t time_us;
	struct ctg_addr src, dst, nsrc, ndst;
	uint16_t sport, dport, nsport, ndport;
	bool snat, dnat;
};

/*
 * The live mappings, for `ctguard connections`: chained by the tuple the
 * filter chains see (the lookup) and by the kernel's id (the DESTROY).
 * Changed by the NAT thread only, read by the control server; a mutex,
 * never taken on the packet path.
 */
struct live {
	struct live *by_tuple, *by_id;
	struct nat_op m;
};

struct ctgd_nat {
	struct nfct_handle *ev;         /* NEW and DESTROY events; NULL: NAT not logged */
	struct ctgd_offwatch *off;      /* offwatch.c; NULL: offload off or not followed */
	pthread_t thread;
	bool running;
	atomic_bool stop;
	const char *path;
	uint32_t retention_days;
	sqlite3 *db;
	dev_t dev;
	ino_t ino;
	sqlite3_stmt *ins, *end, *close_all;
	struct nat_op pend[NAT_PENDING];
	unsigned npend;
	bool dumping;                   /* the start-up dump: rows from before us */
	uint64_t last_flush_ms, last_prune_us;
	_Atomic uint64_t mappings, ended, lost, overruns, db_errors;
	pthread_mutex_t live_lock;
	struct live **by_tuple, **by_id;
	unsigned nlive;
};

/* The one instance, for the control server's lookups (NULL: none). */
static struct ctgd_nat *_Atomic the_nat;

static unsigned
tuple_hash(uint8_t proto, const struct ctg_addr *s, uint16_t sport,
    const struct ctg_addr *d, uint16_t dport)
{
	uint32_t h = 2166136261u ^ proto;

	for (int i = 0; i < 4; i++)
		h = (h ^ s->w[i] ^ (d->w[i] << 1)) * 16777619u;
	h = (h ^ sport ^ ((uint32_t)dport << 16)) * 16777619u;
	return (h ^ (h >> 16)) % NAT_BUCKETS;
}

static void
live_add(struct ctgd_nat *n, const struct nat_op *op)
{
	struct live *e;
	unsigned t, i;

	if (n->nlive >= NAT_LIVE_MAX || !(e = calloc(1, sizeof(*e))))
		return;
	e->m = *op;
	t = tuple_hash(op->proto, &op->src, op->sport, &op->dst, op->dport);
	i = op->ct_id % NAT_BUCKETS;
	pthread_mutex_lock(&n->live_lock);
	e->by_tuple = n->by_tuple[t];
	n->by_tuple[t] = e;
	e->by_id = n->by_id[i];
	n->by_id[i] = e;
	n->nlive++;
	pthread_mutex_unlock(&n->live_lock);
}

static void
live_del(struct ctgd_nat *n, uint32_t ct_id)
{
	struct live **pp, *e = NULL;

	pthread_mutex_lock(&n->live_lock);
	for (pp = &n->by_id[ct_id % NAT_BUCKETS]; *pp; pp = &(*pp)->by_id) {
		if ((*pp)->m.ct_id == ct_id) {
			e = *pp;
			*pp = e->by_id;
			break;
		}
	}
	if (e) {
		const struct nat_op *m = &e->m;
		unsigned t = tuple_hash(m->proto, &m->src, m->sport, &m->dst, m->dport);

		for (pp = &n->by_tuple[t]; *pp; pp = &(*pp)->by_tuple) {
			if (*pp == e) {
				*pp = e->by_tuple;
				break;
			}
		}
		n->nlive--;
	}
	pthread_mutex_unlock(&n->live_lock);
	free(e);
}

static void
live_free(struct ctgd_nat *n)
{
	for (unsigned i = 0; n->by_id && i < NAT_BUCKETS; i++) {
		while (n->by_id[i]) {
			struct live *e = n->by_id[i];
			n->by_id[i] = e->by_id;
			free(e);
		}
	}
	free(n->by_id);
	free(n->by_tuple);
}

/*
 * The public side of connection t, formatted for `ctguard connections`:
 * " nat SRC:PORT" / " natdst DST:PORT" (table) or the JSON members
 * ",\"nat_src\":...". Empty when the kernel did not translate it.
 */
void
ctgd_nat_describe(const struct ctg_tuple *t, bool json, char *buf, size_t len)
{
	struct ctgd_nat *n = atomic_load(&the_nat);
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	struct nat_op m;
	bool found = false;

	buf[0] = '\0';
	if (!n)
		return;
	pthread_mutex_lock(&n->live_lock);
	for (struct live *e = n->by_tuple[tuple_hash(t->proto, &t->src, t->sport, &t->dst,
	    t->dport)]; e; e = e->by_tuple) {
		if (e->m.proto == t->proto && e->m.family == t->family && e->m.sport == t->sport &&
		    e->m.dport == t->dport && memcmp(&e->m.src, &t->src, sizeof(t->src)) == 0 &&
		    memcmp(&e->m.dst, &t->dst, sizeof(t->dst)) == 0) {
			m = e->m;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&n->live_lock);
	if (!found)
		return;
	inet_ntop(m.family == 4 ? AF_INET : AF_INET6, m.nsrc.b, a, sizeof(a));
	inet_ntop(m.family == 4 ? AF_INET : AF_INET6, m.ndst.b, b, sizeof(b));
	if (json)
		snprintf(buf, len, ",\"nat_src\":%s%s%s,\"nat_sport\":%u,"
		    "\"nat_dst\":%s%s%s,\"nat_dport\":%u",
		    m.snat ? "\"" : "", m.snat ? a : "null", m.snat ? "\"" : "",
		    m.snat ? m.nsport : 0,
		    m.dnat ? "\"" : "", m.dnat ? b : "null", m.dnat ? "\"" : "",
		    m.dnat ? m.ndport : 0);
	else if (m.snat && m.dnat)
		snprintf(buf, len, " nat %s:%u natdst %s:%u", a, m.nsport, b, m.ndport);
	else if (m.snat)
		snprintf(buf, len, " nat %s:%u", a, m.nsport);
	else
		snprintf(buf, len, " natdst %s:%u", b, m.ndport);
}

static bool
has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	    proto == IPPROTO_DCCP || proto == IPPROTO_UDPLITE;
}

bool
ctgd_ct_addr(const struct nf_conntrack *ct, uint8_t family, enum nf_conntrack_attr a4,
    enum nf_conntrack_attr a6, struct ctg_addr *out)
{
	enum nf_conntrack_attr a = family == 4 ? a4 : a6;
	const void *p = nfct_attr_is_set(ct, a) > 0 ? nfct_get_attr(ct, a) : NULL;

	memset(out, 0, sizeof(*out));
	if (!p)
		return false;
	memcpy(out->b, p, family == 4 ? 4 : 16);
	return true;
}

/*
 * Past half full, stop the catch loop so that the thread writes: under a
 * steady stream of events nfct_catch would otherwise never return. Each
 * event is a datagram of its own, so stopping loses none.
 */
static int
pend(struct ctgd_nat *n, const struct nat_op *op)
{
	if (n->npend == NAT_PENDING) {
		n->lost++;
		return NFCT_CB_STOP;
	}
	n->pend[n->npend++] = *op;
	return n->npend >= NAT_PENDING / 2 ? NFCT_CB_STOP : NFCT_CB_CONTINUE;
}

static int
on_ct(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct ctgd_nat *n = arg;
	struct nat_op op;
	struct ctg_addr rsrc, rdst;
	uint8_t l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);

	memset(&op, 0, sizeof(op));
	op.time_us = ctg_clock_wall_us();
	op.ct_id = nfct_get_attr_u32(ct, ATTR_ID);
	if (type == NFCT_T_DESTROY) {
		/* an entry the kernel says was not translated has no row */
		if (nfct_attr_is_set(ct, ATTR_STATUS) > 0 &&
		    !(nfct_get_attr_u32(ct, ATTR_STATUS) & (IPS_SRC_NAT | IPS_DST_NAT)))
			return NFCT_CB_CONTINUE;
		op.destroy = true;
		live_del(n, op.ct_id);
		return pend(n, &op);
	}
	if (l3 != AF_INET && l3 != AF_INET6)
		return NFCT_CB_CONTINUE;
	op.family = l3 == AF_INET ? 4 : 6;
	op.proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
	if (!has_ports(op.proto) || nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) <= 0 ||
	    nfct_attr_is_set(ct, ATTR_REPL_PORT_SRC) <= 0)
		return NFCT_CB_CONTINUE;
	if (!ctgd_ct_addr(ct, op.family, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, &op.src) ||
	    !ctgd_ct_addr(ct, op.family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, &op.ndst) ||
	    !ctgd_ct_addr(ct, op.family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, &rsrc) ||
	    !ctgd_ct_addr(ct, op.family, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, &rdst) ||
	    nfct_attr_is_set(ct, ATTR_ORIG_PORT_DST) <= 0 ||
	    nfct_attr_is_set(ct, ATTR_REPL_PORT_DST) <= 0)
		return NFCT_CB_CONTINUE;
	op.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
	op.ndport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	uint16_t rsport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	uint16_t rdport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));

	/* the filter chains see the reply's source as the destination */
	op.dst = rsrc;
	op.dport = rsport;
	op.dnat = memcmp(&op.ndst, &rsrc, sizeof(rsrc)) != 0 || op.ndport != rsport;
	op.nsrc = rdst;
	op.nsport = rdport;
	op.snat = memcmp(&op.src, &rdst, sizeof(rdst)) != 0 || op.sport != rdport;
	if (!op.snat && !op.dnat)
		return NFCT_CB_CONTINUE;
	live_del(n, op.ct_id);          /* the dump and an event may both name it */
	live_add(n, &op);
	return pend(n, &op);
}

static void
bind_addr(sqlite3_stmt *st, int i, const struct ctg_addr *a, uint8_t family)
{
	char text[INET6_ADDRSTRLEN];
	uint8_t bin[16];

	inet_ntop(family == 4 ? AF_INET : AF_INET6, a->b, text, sizeof(text));
	ctg_auditlog_addr_bin(a, family, bin);
	sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, i + 1, bin, 16, SQLITE_TRANSIENT);
}

static const char ins_sql[] =
    "INSERT INTO nat (first_us, proto, family, src, src_bin, sport, dst, dst_bin, dport,"
    " nat_src, nat_src_bin, nat_sport, nat_dst, nat_dst_bin, nat_dport, ct_id)"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16"
    " WHERE NOT EXISTS (SELECT 1 FROM nat WHERE ct_id = ?16 AND last_us IS NULL)";
static const char end_sql[] =
    "UPDATE nat SET last_us = ?1 WHERE ct_id = ?2 AND last_us IS NULL";
static const char close_sql[] =
    "UPDATE nat SET last_us = ?1 WHERE last_us IS NULL";

static void
db_close(struct ctgd_nat *n)
{
	sqlite3_finalize(n->ins);
	sqlite3_finalize(n->end);
	sqlite3_finalize(n->close_all);
	n->ins = n->end = n->close_all = NULL;
	sqlite3_close(n->db);
	n->db = NULL;
}

/*
 * The writer may have rotated the file (reopen-log) or not created the
 * table yet: (re)open when the path names another file than ours.
 */
static bool
db_ready(struct ctgd_nat *n)
{
	struct stat sb;

	if (stat(n->path, &sb) != 0)
		return false;
	if (n->db && sb.st_dev == n->dev && sb.st_ino == n->ino)
		return true;
	if (n->db)
		db_close(n);
	if (sqlite3_open_v2(n->path, &n->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(n->db, NAT_BUSY_MS);
	if (sqlite3_prepare_v2(n->db, ins_sql, -1, &n->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(n->db, end_sql, -1, &n->end, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(n->db, close_sql, -1, &n->close_all, NULL) != SQLITE_OK)
		goto fail;
	n->dev = sb.st_dev;
	n->ino = sb.st_ino;
	return true;
fail:
	db_close(n);
	return false;
}

static bool
step_op(struct ctgd_nat *n, const struct nat_op *op)
{
	sqlite3_stmt *st = op->destroy ? n->end : n->ins;
	int rc;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (op->destroy) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)op->time_us);
		sqlite3_bind_int64(st, 2, op->ct_id);
	} else {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)op->time_us);
		sqlite3_bind_int(st, 2, op->proto);
		sqlite3_bind_int(st, 3, op->family);
		bind_addr(st, 4, &op->src, op->family);
		sqlite3_bind_int(st, 6, op->sport);
		bind_addr(st, 7, &op->dst, op->family);
		sqlite3_bind_int(st, 9, op->dport);
		if (op->snat) {
			bind_addr(st, 10, &op->nsrc, op->family);
			sqlite3_bind_int(st, 12, op->nsport);
		}
		if (op->dnat) {
			bind_addr(st, 13, &op->ndst, op->family);
			sqlite3_bind_int(st, 15, op->ndport);
		}
		sqlite3_bind_int64(st, 16, op->ct_id);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return false;
	if (op->destroy)
		n->ended += (uint64_t)sqlite3_changes(n->db);
	else
		n->mappings += (uint64_t)sqlite3_changes(n->db);
	return true;
}

/* Write what is pending in one transaction; on failure keep it for the next turn. */
static void
flush(struct ctgd_nat *n)
{
	n->last_flush_ms = ctg_clock_mono_ms();
	if (n->npend == 0)
		return;
	if (!db_ready(n)) {
		if (n->db_errors++ == 0)
			ctgd_log(LOG_WARNING, "nat: cannot write to %s; NAT mappings wait "
			    "(at most %u)", n->path, NAT_PENDING);
		return;
	}
	if (sqlite3_exec(n->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		n->db_errors++;
		return;
	}
	for (unsigned i = 0; i < n->npend; i++) {
		if (!step_op(n, &n->pend[i])) {
			n->db_errors++;
			sqlite3_exec(n->db, "ROLLBACK", NULL, NULL, NULL);
			return;
		}
	}
	if (sqlite3_exec(n->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		n->db_errors++;
		sqlite3_exec(n->db, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	n->npend = 0;
}

static void
prune(struct ctgd_nat *n)
{
	uint64_t now = ctg_clock_wall_us();
	char sql[128];

	if (n->retention_days == 0 || now - n->last_prune_us < NAT_PRUNE_US || !db_ready(n))
		return;
	n->last_prune_us = now;
	snprintf(sql, sizeof(sql), "DELETE FROM nat WHERE last_us < %llu",
	    (unsigned long long)(now - (uint64_t)n->retention_days * 86400 * 1000000));
	if (sqlite3_exec(n->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		n->db_errors++;
}

/* The dump must run to its end: write as the rows come instead of stopping. */
static int
on_dumped(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct ctgd_nat *n = arg;

	(void)on_ct(type, ct, arg);
	if (n->npend >= NAT_PENDING / 2)
		flush(n);
	return NFCT_CB_CONTINUE;
}

/*
 * Entries confirmed before we listened (a restart): record what the
 * kernel holds now, from now on; the events then add the rest.
 */
static void
dump_existing(struct ctgd_nat *n)
{
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);
	uint32_t family = AF_UNSPEC;

	if (!h)
		return;
	nfct_callback_register(h, NFCT_T_ALL, on_dumped, n);
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0)
		ctgd_log(LOG_WARNING, "nat: conntrack dump: %s", strerror(errno));
	nfct_close(h);
}

static void *
nat_main(void *arg)
{
	struct ctgd_nat *n = arg;
	sigset_t all;
	int fd = n->ev ? nfct_fd(n->ev) : -1;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (n->ev) {
		dump_existing(n);
		prune(n);
		flush(n);
	}
	while (!atomic_load(&n->stop)) {
		if (n->off)
			ctgd_offwatch_tick(n->off, &n->stop);
		struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
		    { .fd = n->off ? ctgd_offwatch_fd(n->off) : -1, .events = POLLIN } };

		if (poll(pfd, 2, NAT_POLL_MS) > 0) {
			/* the sockets are non-blocking: catch returns when one is drained */
			if (n->ev && pfd[0].revents && nfct_catch(n->ev) < 0 && errno == ENOBUFS)
				n->overruns++;
			if (n->off && pfd[1].revents)
				ctgd_offwatch_readable(n->off);
		}
		if (!n->ev)
			continue;
		if (n->npend > 0 && (n->npend >= NAT_PENDING / 2 ||
		    ctg_clock_mono_ms() - n->last_flush_ms >= NAT_FLUSH_MS))
			flush(n);
		prune(n);
	}
	if (!n->ev)
		return NULL;
	flush(n);
	/* from here on nobody watches: what is open ends now, at the latest */
	if (db_ready(n)) {
		sqlite3_bind_int64(n->close_all, 1, (sqlite3_int64)ctg_clock_wall_us());
		if (sqlite3_step(n->close_all) != SQLITE_DONE)
			n->db_errors++;
		sqlite3_reset(n->close_all);
	}
	db_close(n);
	return NULL;
}

/* Subscribe while we may (CAP_NET_ADMIN); events wait in the socket until started. */
int
ctgd_nat_open(struct daemon *dm)
{
	const struct ctg_config *cfg = dm->cfg;
	struct ctgd_nat *n;
	int fd, sz = NAT_RCVBUF;

	bool nat = cfg->log_nat && cfg->log_policy != CTG_LOG_NONE;

	if (!nat && !cfg->offload)
		return 0;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -1;
	if (cfg->offload && ctgd_offwatch_open(dm, &n->off) < 0) {
		free(n);
		return -1;
	}
	n->by_tuple = calloc(NAT_BUCKETS, sizeof(*n->by_tuple));
	n->by_id = calloc(NAT_BUCKETS, sizeof(*n->by_id));
	if (!n->by_tuple || !n->by_id) {
		live_free(n);
		if (n->off)
			ctgd_offwatch_close(n->off);
		free(n);
		return -1;
	}
	pthread_mutex_init(&n->live_lock, NULL);
	n->path = cfg->log_database;
	n->retention_days = cfg->log_retention_days;
	if (nat) {
		n->ev = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW |
		    NF_NETLINK_CONNTRACK_DESTROY);
		if (!n->ev)
			ctgd_log(LOG_WARNING, "nat: cannot follow conntrack events (%s; is "
			    "nf_conntrack_netlink loaded?): NAT mappings are not logged",
			    strerror(errno));
	}
	if (!n->ev && !n->off) {
		live_free(n);
		pthread_mutex_destroy(&n->live_lock);
		free(n);
		return 0;
	}
	dm->nat = n;
	if (!n->ev)
		return 0;
	fd = nfct_fd(n->ev);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	nfct_callback_register(n->ev, NFCT_T_NEW | NFCT_T_DESTROY, on_ct, n);
	/* while we may still be root: the file may not be the daemon user's */
	(void)db_ready(n);
	atomic_store(&the_nat, n);
	return 0;
}

void
ctgd_nat_start(struct daemon *dm)
{
	struct ctgd_nat *n = dm->nat;

	if (!n)
		return;
	if (pthread_create(&n->thread, NULL, nat_main, n) != 0) {
		ctgd_log(LOG_WARNING, "nat: cannot start the thread: NAT mappings are not logged");
		return;
	}
	n->running = true;
}

void
ctgd_nat_stop(struct daemon *dm)
{
	struct ctgd_nat *n = dm->nat;

	if (!n)
		return;
	if (n->running) {
		atomic_store(&n->stop, true);
		pthread_join(n->thread, NULL);
		n->running = false;
	}
	if (n->ev)
		nfct_close(n->ev);
	if (n->off)
		ctgd_offwatch_close(n->off);
	/* the control server is not serving: stop has run or start failed */
	atomic_store(&the_nat, NULL);
	live_free(n);
	pthread_mutex_destroy(&n->live_lock);
	free(n);
	dm->nat = NULL;
}

void
ctgd_nat_stats(const struct daemon *dm, struct ctgd_nat_stats *st)
{
	const struct ctgd_nat *n = dm->nat;

	memset(st, 0, sizeof(*st));
	if (!n || !n->ev)
		return;
	st->active = true;
	st->mappings = n->mappings;
	st->ended = n->ended;
	st->lost = n->lost;
	st->overruns = n->overruns;
	st->db_errors = n->db_errors;
}
