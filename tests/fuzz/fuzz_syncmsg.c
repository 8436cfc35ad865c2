/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the sync message decoder (ctg_syncmsg_decode and
 * the entry readers), which reads what another gateway sent over corosync:
 * input from the network, as the packet decoder's is.
 *
 * A message the decoder takes must read back into entries that encode to
 * the very same bytes (nothing is taken that the format cannot say), and
 * every entry must go into a small table (apply), be found under its own
 * tuple, take a packet, and leave on a remove or a flush; end entries
 * remove what they name. The input is tried a second time with a
 * well-formed header for its length, or nearly every mutation would stop
 * at the header.
 *
 * Seeds (tests/fuzz/corpus/syncmsg) are messages made from the tracker
 * seeds' tables (tests/fuzz/gen_seeds.c).
 *
 *   ./fuzz_syncmsg -max_total_time=60 tests/fuzz/corpus/syncmsg
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "ctguard/syncmsg.h"
#include "ctguard/tracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1700000000000000ULL

static struct ctg_tracker *
table(void)
{
	struct ctg_tracker_config tc;
	struct ctg_tracker *t;

	memset(&tc, 0, sizeof(tc));
	tc.max_connections = 16;
	tc.midstream = CTG_MIDSTREAM_STRICT;
	tc.id_base = 1;
	tc.hash_seed[0] = 1;
	tc.timeouts.tcp_established = 3600;
	tc.timeouts.tcp_syn_sent = 30;
	tc.timeouts.tcp_syn_rcvd = 30;
	tc.timeouts.tcp_fin_wait = 30;
	tc.timeouts.tcp_close_wait = 30;
	tc.timeouts.tcp_last_ack = 30;
	tc.timeouts.tcp_time_wait = 30;
	tc.timeouts.tcp_close = 10;
	tc.timeouts.tcp_unacked = 30;
	tc.timeouts.tcp_retrans = 30;
	tc.timeouts.udp_unreplied = 30;
	tc.timeouts.udp_replied = 30;
	tc.timeouts.udp_assured = 30;
	tc.timeouts.icmp = 30;
	tc.timeouts.other = 30;
	t = ctg_tracker_new(&tc, NULL, NULL);
	if (!t || ctg_tracker_sync_enable(t, 16, 8, CTG_SYNC_CARRY_ALL) < 0)
		abort();
	return t;
}

/* A packet of c's flow in direction dir, from its edges. */
static void
poke(struct ctg_tracker *t, const struct ctg_conn *c, uint8_t dir, uint64_t now)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	memset(&p, 0, sizeof(p));
	p.tuple = c->tuple;
	if (dir) {
		p.tuple.src = c->tuple.dst;
		p.tuple.dst = c->tuple.src;
		p.tuple.sport = c->tuple.dport;
		p.tuple.dport = c->tuple.sport;
	}
	p.complete = true;
	p.ip_len = p.wire_len = 60;
	if (c->tuple.proto == IPPROTO_TCP) {
		p.tcp.flags = 0x10;
		p.tcp.seq = c->peer[dir].td_end;
		p.tcp.ack = c->peer[!dir].td_end;
		p.tcp.window = 1000;
		p.tcp.doff = 20;
		p.payload_len = 20;
		p.l4_len = 40;
	} else if (c->tuple.proto == IPPROTO_UDP) {
		p.udp.length = 28;
		p.payload_len = 20;
		p.l4_len = 28;
	} else if (c->tuple.proto == IPPROTO_ICMP || c->tuple.proto == IPPROTO_ICMPV6) {
		p.icmp.is_query = true;
		p.icmp.is_reply = dir;
		p.icmp.type = c->tuple.proto == IPPROTO_ICMP ? (dir ? 0 : 8) : (dir ? 129 : 128);
		p.icmp.echo_id = c->tuple.sport;
		p.tuple.sport = c->tuple.sport;
		p.tuple.dport = 0;
	}
	ctg_tracker_packet(t, &p, CTG_R_NONE, now, &r);
	if (r.ctstate != CTG_CT_INVALID && r.conn)
		ctg_tracker_account(t, r.conn, r.dir, p.ip_len);
}

static void
exercise(const uint8_t *data, size_t size)
{
	static uint8_t again[CTG_SYNC_MSG_MAX];
	struct ctg_syncmsg m;
	struct ctg_syncmsg_writer w;
	char err[160];
	uint64_t now = T0;

	if (ctg_syncmsg_decode(data, size, &m, err, sizeof(err)) < 0)
		return;
	struct ctg_tracker *t = table();

	ctg_syncmsg_begin(&w, again, sizeof(again), m.type, m.now_us);
	if (m.want_ack)
		ctg_syncmsg_want_ack(&w, m.token);
	for (unsigned i = 0; i < m.count; i++) {
		if (m.type == CTG_SYNC_DEFER_ACK) {
			struct ctg_sync_ack a;

			ctg_syncmsg_ack(&m, i, &a);
			if (!ctg_syncmsg_add_ack(&w, &a))
				abort();
			continue;
		}
		if (m.type == CTG_SYNC_CONN_END) {
			struct ctg_sync_end e;

			ctg_syncmsg_end(&m, i, &e);
			if (!ctg_syncmsg_add_end(&w, &e))
				abort();
			ctg_tracker_remove(t, &e.tuple, e.id, (enum ctg_end_reason)e.reason, now);
			continue;
		}
		struct ctg_conn_export e;
		struct ctg_conn *c;
		uint16_t q;
		uint8_t dir;

		/* on the sender's own clock first: it must encode back exactly */
		ctg_syncmsg_conn(&m, i, m.now_us, &q, &e);
		if (!ctg_syncmsg_add_conn(&w, q, &e))
			abort();
		ctg_syncmsg_conn(&m, i, now, &q, &e);
		if (ctg_tracker_apply(t, &e, now) < 0)
			continue;
		c = ctg_tracker_lookup(t, &e.c.tuple, &dir);
		if (!c)
			continue;       /* expired on arrival */
		/* replaced, unless packets passed ours since and it is the newer */
		if (c->id != e.c.id && (ctg_tracker_conn_synced(t, c) || c->last_us <= e.c.last_us))
			abort();
		struct ctg_conn copy = *c;
		poke(t, &copy, 0, now);
		if ((c = ctg_tracker_lookup(t, &e.c.tuple, &dir)) != NULL) {
			copy = *c;
			poke(t, &copy, 1, now);
		}
		if (i % 2)
			ctg_tracker_remove(t, &e.c.tuple, 0, CTG_END_CLOSED, now);
	}
	if (ctg_syncmsg_finish(&w) != size || memcmp(again, data, size) != 0)
		abort();
	struct ctg_conn_export out[16];
	struct ctg_conn_end_note ends[16];
	while (ctg_tracker_sync_drain(t, out, 16) > 0)
		;
	while (ctg_tracker_sync_drain_ends(t, ends, 16) > 0)
		;
	ctg_tracker_flush(t, CTG_END_SHUTDOWN, now);
	ctg_tracker_free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t fixed[CTG_SYNC_MSG_MAX];
	size_t es;

	exercise(data, size);
	/* the same bytes behind a header that fits them */
	if (size < 2 || size - 2 > CTG_SYNC_MSG_MAX - CTG_SYNC_HDR_SIZE)
		return 0;
	unsigned type = 1 + data[0] % CTG_SYNC_TYPE_MAX;
	es = type == CTG_SYNC_CONN_END ? CTG_SYNC_END_SIZE :
	    type == CTG_SYNC_DEFER_ACK ? CTG_SYNC_ACK_SIZE :
	    (type == CTG_SYNC_CONN_UPDATE || type == CTG_SYNC_BULK_ENTRIES) ? CTG_SYNC_CONN_SIZE : 0;
	size_t count = es ? (size - 2) / es : 0;
	size_t body = count * es;
	uint8_t *h = fixed;

	memset(h, 0, CTG_SYNC_HDR_SIZE);
	h[0] = 0x43, h[1] = 0x54, h[2] = 0x47, h[3] = 0x53;
	h[4] = CTG_SYNC_VERSION;
	h[5] = (uint8_t)type;
	/* half the updates and ends want an ack (active-active defer) */
	if ((data[1] & 1) && (type == CTG_SYNC_CONN_UPDATE || type == CTG_SYNC_CONN_END))
		h[7] = 1, h[23] = data[1];
	/* the sender's clock: after every age an entry may carry */
	h[8] = 0x00, h[9] = 0x06, h[10] = data[1];
	h[16] = (uint8_t)(count >> 8), h[17] = (uint8_t)count;
	h[18] = (uint8_t)(es >> 8), h[19] = (uint8_t)es;
	memcpy(fixed + CTG_SYNC_HDR_SIZE, data + 2, body);
	exercise(fixed, CTG_SYNC_HDR_SIZE + body);
	return 0;
}
