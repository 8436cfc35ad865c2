/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: datagrams. UDP, ICMP echo and other protocols, keyed
 * and timed by what each direction sent; ICMP errors judged RELATED against
 * the connection they quote, here or in another queue's tracker. Packet
 * path.
 */
#include <string.h>

#include <netinet/in.h>

#include "ctguard/tracker.h"
#include "tracker-int.h"

/*
 * ICMP queries carry (id, 0) as ports in both directions; key them as
 * (id, id) so that the reply finds its request like any reversed tuple.
 */
static void
flow_key(struct ctg_tuple *key, const struct ctg_tuple *tp)
{
	*key = *tp;
	if (tp->proto == IPPROTO_ICMP || tp->proto == IPPROTO_ICMPV6)
		key->dport = key->sport;
}

/*
 * Offloaded UDP (worker.c, ctguard-setup --offload). The datagram that
 * carried the mark went back through the hook; those queued behind it
 * reach us within the queue's latency and belong to the flow. A datagram
 * later than DGRAM_INFLIGHT_US after the hand-over means the kernel no
 * longer carries the flow under our mark: its entry ended (idle timeout,
 * conntrack -D/-F) and a new one, without the mark, sent this one here,
 * or the mark never reached it (no fast-path rule, a gateway that took
 * the flow over from another). Kernel entries end at the earliest 30 s
 * after their last packet (nf_conntrack_udp_timeout), so the bound needs
 * only to exceed the queue's latency.
 */
#define DGRAM_INFLIGHT_US 1000000ULL

static uint64_t
dgram_offloaded_at(const struct ctg_conn *c)
{
	return (uint64_t)c->peer[0].isn << 32 | c->peer[0].td_maxack;
}

void
tracker_datagram_offload(struct ctg_tracker *t, struct ctg_conn *c)
{
	/* the fast path passes only what the kernel calls ESTABLISHED: answered */
	if (!(c->flags & CTG_CONN_SEEN_REPLY))
		return;
	c->peer[0].flags |= CTG_PEER_DGRAM_OFFLOADED;
	c->peer[0].td_maxack = (uint32_t)c->last_us;
	c->peer[0].isn = (uint32_t)(c->last_us >> 32);
	/*
	 * Its datagrams no longer reach us, so no idle timeout of ours can
	 * tell that it ended: the kernel's DESTROY event does. The long
	 * class is only the backstop for an event lost to a socket overrun.
	 */
	c->tclass = TC_ESTABLISHED;
	tracker_evict_list_place(t, c, L_NONE);
}

void
tracker_datagram_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res)
{
	uint8_t dir = 0;
	struct ctg_tuple key;
	bool is_icmp = p->tuple.proto == IPPROTO_ICMP || p->tuple.proto == IPPROTO_ICMPV6;

	flow_key(&key, &p->tuple);
	struct ctg_conn *c = tracker_conn_find(t, &key, &dir);

	if (c && expired(t, c, now_us)) {
		tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
		c = NULL;
	}
	if (c && (c->peer[0].flags & CTG_PEER_DGRAM_OFFLOADED) &&
	    now_us - dgram_offloaded_at(c) > DGRAM_INFLIGHT_US) {
		/* the kernel's flow ended: this is a new one's first datagram, judged anew */
		tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
		c = NULL;
	}
	if (!c) {
		if (is_icmp && p->icmp.is_reply) {
			res->ctstate = CTG_CT_INVALID;
			res->reason = CTG_R_ICMP_REPLY_NO_REQUEST;
			return;
		}
		c = tracker_conn_new(t, &key, t->last_hash, now_us);
		if (!c) {
			res->ctstate = CTG_CT_INVALID;
			res->reason = CTG_R_TABLE_FULL;
			return;
		}
		c->tclass = is_icmp ? TC_ICMP :
		    p->tuple.proto == IPPROTO_UDP ? TC_UDP_UNREPLIED : TC_OTHER;
		tracker_hist_add(c, 0, H_DATA);
		res->conn = c;
		res->created = true;
		res->ctstate = CTG_CT_NEW;
		res->reason = CTG_R_NONE;
		return;
	}
	res->conn = c;
	res->dir = dir;
	if (is_icmp && p->icmp.is_reply && dir == 0) {
		/* an echo reply travelling the way the request went */
		res->ctstate = CTG_CT_INVALID;
		res->reason = CTG_R_ICMP_REPLY_NO_REQUEST;
		return;
	}
	c->last_us = now_us;
	tracker_hist_add(c, dir, H_DATA);
	if (dir == 1) {
		c->flags |= CTG_CONN_SEEN_REPLY;
		if (c->proto_state == 0)
			c->proto_state = 1;
	} else if (c->proto_state == 1) {
		c->proto_state = 2;
		c->flags |= CTG_CONN_ASSURED;
	}
	if (c->peer[0].flags & CTG_PEER_DGRAM_OFFLOADED) {
		/* in flight at the hand-over: it keeps the offloaded class */
	} else if (p->tuple.proto == IPPROTO_UDP) {
		c->tclass = c->proto_state == 0 ? TC_UDP_UNREPLIED :
		    c->proto_state == 1 ? TC_UDP_REPLIED : TC_UDP_ASSURED;
		tracker_evict_list_place(t, c, c->proto_state == 0 ? L_UNANSWERED :
		    c->proto_state == 1 ? L_CLOSING : L_NONE);
	} else if (is_icmp)
		tracker_evict_list_place(t, c, c->proto_state == 0 ? L_UNANSWERED : L_CLOSING);
	else
		tracker_evict_list_place(t, c, c->proto_state == 0 ? L_UNANSWERED : L_NONE);
	res->ctstate = (c->flags & CTG_CONN_SEEN_REPLY) ? CTG_CT_ESTABLISHED : CTG_CT_NEW;
	res->reason = CTG_R_NONE;
}

/*
 * An ICMP error is RELATED when it quotes a packet of a tracked connection,
 * travels back toward that packet's sender, and (TCP) quotes a sequence
 * number inside the sender's window, as pf checks: otherwise anyone could
 * tear connections down blind. It never changes the connection.
 */
void
tracker_icmp_error_packet(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res)
{
	const struct ctg_tuple *in = &p->icmp.inner;
	uint8_t dir = 0;
	struct ctg_tuple key;

	flow_key(&key, in);
	struct ctg_conn *c = tracker_conn_find(t, &key, &dir);
	struct ctg_conn foreign;
	bool is_foreign = false;

	if (c && expired(t, c, now_us)) {
		tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
		c = NULL;
	}
	/*
	 * The kernel balances queues by addresses: an error sent by a router
	 * about a flow may reach another queue's worker than the flow's. Ask
	 * the other trackers for a copy to judge it by.
	 */
	if (!c && t->related_fn && t->related_fn(t->related_arg, &key, &foreign, &dir) &&
	    !expired(t, &foreign, now_us)) {
		c = &foreign;
		is_foreign = true;
	}
	res->ctstate = CTG_CT_INVALID;
	if (!c) {
		res->reason = CTG_R_ICMP_ERROR_NO_CONN;
		return;
	}
	res->conn = is_foreign ? NULL : c;
	res->dir = dir;
	res->before[0] = res->after[0] = c->peer[0].state;
	res->before[1] = res->after[1] = c->peer[1].state;
	if (memcmp(&p->tuple.dst, &in->src, sizeof(in->src)) != 0) {
		res->reason = CTG_R_ICMP_ERROR_WRONG_DIR;
		return;
	}
	if (in->proto == IPPROTO_TCP && p->icmp.inner_has_seq) {
		const struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
		uint32_t seq = p->icmp.inner_tcp_seq;
		uint32_t back = r->td_maxwin ? r->td_maxwin : 1;

		if (!((s->flags | r->flags) & CTG_PEER_LIBERAL) &&
		    (SEQ_LT(seq, s->td_end - back) || SEQ_GT(seq, s->td_maxend))) {
			res->reason = CTG_R_ICMP_ERROR_BAD_SEQ;
			return;
		}
	}
	res->ctstate = CTG_CT_RELATED;
	res->reason = CTG_R_NONE;
}

void
ctg_tracker_set_related_lookup(struct ctg_tracker *t, ctg_related_fn fn, void *arg)
{
	t->related_fn = fn;
	t->related_arg = arg;
}
