/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's counters of offloaded connections (conntrack accounting),
 * for their summaries in the audit log.
 *
 * Once a connection is offloaded (worker.c) its data segments pass the
 * kernel without coming here, so ctguard's own counters stop; the kernel's
 * conntrack entry counts every packet (net.netfilter.nf_conntrack_acct,
 * which ctguard-setup --offload sets). When the summary of an offloaded
 * connection reaches the audit writer, the writer thread asks the kernel
 * for that entry by tuple (ctnetlink GET, one request per offloaded
 * connection, never on the packet path) and writes its totals less what
 * ctguard counted itself (auditlog-writer.c).
 *
 * The filter chains see a connection with its destination translated
 * (DNAT) and its source not yet (SNAT): that is the kernel's original
 * tuple when only SNAT applies, and the reverse of its reply tuple when
 * only DNAT does; both are tried. With both translations neither matches
 * and the counters are unknown (NULL columns). The entry must still carry
 * the offload bits in its connection mark, so that a new connection on
 * the same tuple is not taken for the old one. An entry the kernel
 * already destroyed (an RST closes it 10 s after, and ctguard's entry
 * lingers as long) is not found either: the summary then has ctguard's
 * counters only and NULL offload columns.
 *
 * An offloaded UDP flow ends when the kernel's entry does: the NAT
 * thread (offwatch.c) reads its DESTROY event, which carries the final
 * counters, leaves them here by connection id (ctgd_ctacct_gone) and ends
 * ctguard's entry; its summary then finds them here instead of asking
 * the kernel for an entry that no longer exists.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "daemon-int.h"

/*
 * Final counters of ended kernel entries, direct-mapped by connection id
 * (ids are consecutive per queue): written by the NAT thread, taken by the
 * audit writer a few milliseconds later. A slot overwritten before its
 * summary came (GONE_SLOTS ends in between) leaves that summary without
 * the kernel's counters (NULL columns), never with another's.
 */
#define GONE_SLOTS 4096

static struct gone {
	uint64_t id;
	struct ctg_conn_kernel k;
} gone[GONE_SLOTS];
static pthread_mutex_t gone_lock = PTHREAD_MUTEX_INITIALIZER;

void
ctgd_ctacct_gone(uint64_t conn_id, const struct ctg_conn_kernel *k)
{
	pthread_mutex_lock(&gone_lock);
	gone[conn_id % GONE_SLOTS].id = conn_id;
	gone[conn_id % GONE_SLOTS].k = *k;
	pthread_mutex_unlock(&gone_lock);
}

static bool
gone_take(uint64_t conn_id, struct ctg_conn_kernel *k)
{
	struct gone *g = &gone[conn_id % GONE_SLOTS];
	bool found = false;

	pthread_mutex_lock(&gone_lock);
	if (g->id == conn_id && conn_id != 0) {
		*k = g->k;
		g->id = 0;
		found = true;
	}
	pthread_mutex_unlock(&gone_lock);
	return found;
}

struct ctgd_ctacct {
	struct nfct_handle *h;
	uint32_t mark;
	/* the callback's result */
	bool found;
	struct nf_conntrack *entry;     /* a copy of its original tuple and mark */
	struct ctg_conn_kernel k;
	uint64_t misses, undo_errors;
	const char *why;                /* of the last miss */
};

static int
on_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct ctgd_ctacct *a = arg;

	(void)type;
	if (nfct_attr_is_set(ct, ATTR_MARK) <= 0 ||
	    (nfct_get_attr_u32(ct, ATTR_MARK) & a->mark) != a->mark) {
		a->why = "an entry without the offload mark: a new connection";
		return NFCT_CB_CONTINUE;
	}
	if (nfct_attr_is_set(ct, ATTR_ORIG_COUNTER_BYTES) <= 0) {
		a->why = "no accounting: nf_conntrack_acct was 0 when it began";
		return NFCT_CB_CONTINUE;
	}
	a->k.pkts[0] = nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS);
	a->k.bytes[0] = nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES);
	a->k.pkts[1] = nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_PACKETS);
	a->k.bytes[1] = nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES);
	a->found = true;
	nfct_copy(a->entry, ct, NFCT_CP_ORIG);
	nfct_set_attr_u32(a->entry, ATTR_MARK, nfct_get_attr_u32(ct, ATTR_MARK));
	/* not STOP: the request's ACK must be read too, or the next query reads it */
	return NFCT_CB_CONTINUE;
}

/*
 * Look t up as the kernel's original tuple, or (reply) as the reverse of
 * its reply tuple: the filter chains' destination is the reply's source.
 */
static bool
query(struct ctgd_ctacct *a, const struct ctg_tuple *t, bool reply)
{
	struct nf_conntrack *ct = nfct_new();
	const struct ctg_addr *s = reply ? &t->dst : &t->src, *d = reply ? &t->src : &t->dst;
	uint16_t sp = reply ? t->dport : t->sport, dp = reply ? t->sport : t->dport;

	if (!ct)
		return false;
	nfct_set_attr_u8(ct, ATTR_L3PROTO, t->family == 4 ? AF_INET : AF_INET6);
	if (reply)
		nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, t->family == 4 ? AF_INET : AF_INET6);
	if (t->family == 4) {
		nfct_set_attr(ct, reply ? ATTR_REPL_IPV4_SRC : ATTR_ORIG_IPV4_SRC, s->b);
		nfct_set_attr(ct, reply ? ATTR_REPL_IPV4_DST : ATTR_ORIG_IPV4_DST, d->b);
	} else {
		nfct_set_attr(ct, reply ? ATTR_REPL_IPV6_SRC : ATTR_ORIG_IPV6_SRC, s->b);
		nfct_set_attr(ct, reply ? ATTR_REPL_IPV6_DST : ATTR_ORIG_IPV6_DST, d->b);
	}
	nfct_set_attr_u8(ct, reply ? ATTR_REPL_L4PROTO : ATTR_L4PROTO, t->proto);
	nfct_set_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_ORIG_PORT_SRC, htons(sp));
	nfct_set_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_ORIG_PORT_DST, htons(dp));
	a->found = false;
	(void)nfct_query(a->h, NFCT_Q_GET, ct);  /* ENOENT: not this tuple */
	nfct_destroy(ct);
	return a->found;
}

/*
 * ctguard forgot an offloaded connection that may still be live: the
 * idle timeout (it saw only control segments), an eviction, a flush, a
 * kill, a reload whose rules refuse it. Take the offload bits off the
 * kernel entry's mark, so that its segments come to ctguard again, which
 * picks the connection up (loose midstream) or refuses it by its rules.
 */
static void
offload_undo(struct ctgd_ctacct *a)
{
	uint32_t m = nfct_get_attr_u32(a->entry, ATTR_MARK);

	nfct_set_attr_u32(a->entry, ATTR_MARK, m & ~a->mark);
	if (nfct_query(a->h, NFCT_Q_UPDATE, a->entry) < 0 && a->undo_errors++ == 0)
		ctgd_log(LOG_WARNING, "offload: cannot clear the mark of a forgotten "
		    "connection's kernel entry: %s; it stays offloaded", strerror(errno));
}

/* auditlog conn_kernel hook: runs in the audit writer thread. */
bool
ctgd_ctacct_conn(void *arg, const struct ctg_conn_record *rec, struct ctg_conn_kernel *out)
{
	struct ctgd_ctacct *a = arg;

	if (!a || (rec->tuple.proto != IPPROTO_TCP && rec->tuple.proto != IPPROTO_UDP))
		return false;
	if (rec->tuple.proto == IPPROTO_UDP && gone_take(rec->conn_id, out))
		return true;
	a->why = "no entry of this tuple (gone, or both SNAT and DNAT)";
	if (!query(a, &rec->tuple, false) && !query(a, &rec->tuple, true)) {
		/* the first says why (the NULL offload columns say it of each) */
		if (a->misses++ == 0) {
			char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
			int af = rec->tuple.family == 4 ? AF_INET : AF_INET6;

			inet_ntop(af, rec->tuple.src.b, sa, sizeof(sa));
			inet_ntop(af, rec->tuple.dst.b, da, sizeof(da));
			ctgd_log(LOG_NOTICE, "offload: connection %llu (%s %u -> %s %u): "
			    "no kernel counters (%s): its summary counts what ctguard saw",
			    (unsigned long long)rec->conn_id, sa, rec->tuple.sport, da,
			    rec->tuple.dport, a->why);
		}
		return false;
	}
	*out = a->k;
	switch (rec->end_reason) {
	case CTG_END_TIMEOUT:
	case CTG_END_EVICTED:
	case CTG_END_FLUSHED:
	case CTG_END_KILLED:
		offload_undo(a);
		break;
	default:
		/* closed, reset, reopened: over; shutdown: the snapshot keeps it */
		break;
	}
	return true;
}

static int
sysctl_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Before the audit log opens (its writer calls us) and while still root.
 * NULL when offload is off or ctnetlink is unavailable (warned).
 */
struct ctgd_ctacct *
ctgd_ctacct_open(const struct ctg_config *cfg)
{
	struct ctgd_ctacct *a;

	if (!cfg->offload)
		return NULL;
	if (sysctl_int("/proc/sys/net/netfilter/nf_conntrack_acct") == 0)
		ctgd_log(LOG_WARNING, "offload: net.netfilter.nf_conntrack_acct is 0: "
		    "offloaded connections' summaries lack the kernel's counters "
		    "(ctguard-setup install --offload sets it)");
	if (sysctl_int("/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal") == 1)
		ctgd_log(LOG_WARNING, "offload: net.netfilter.nf_conntrack_tcp_be_liberal is 1: "
		    "the kernel passes offloaded connections' data without window checks");
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->mark = cfg->offload_mark;
	a->entry = nfct_new();
	a->h = nfct_open(CONNTRACK, 0);
	if (!a->h || !a->entry) {
		ctgd_log(LOG_WARNING, "offload: cannot query conntrack (%s; is "
		    "nf_conntrack_netlink loaded?): summaries lack the kernel's counters",
		    strerror(errno));
		if (a->h)
			nfct_close(a->h);
		if (a->entry)
			nfct_destroy(a->entry);
		free(a);
		return NULL;
	}
	nfct_callback_register(a->h, NFCT_T_ALL, on_entry, a);
	return a;
}

/* After the audit log closed (its writer has stopped). */
void
ctgd_ctacct_close(struct ctgd_ctacct *a)
{
	if (!a)
		return;
	nfct_close(a->h);
	nfct_destroy(a->entry);
	free(a);
}
