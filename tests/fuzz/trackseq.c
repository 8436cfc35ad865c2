/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tracker driven by a byte sequence, with its invariants checked after
 * every step (format in trackseq.h). The table is at most 16 entries, so
 * walking all of it per step is cheap and eviction runs all the time.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "trackseq.h"

static void
on_end(void *arg, const struct ctg_conn *c, const struct ctg_conn_record *rec)
{
	struct trackseq *s = arg;

	/* only connections that passed are reported, and with a state code */
	if (c->id == 0 || !(c->flags & CTG_CONN_CONFIRMED) || rec->conn_state[0] == '\0' ||
	    memchr(rec->history, '\0', sizeof(rec->history)) == NULL ||
	    rec->end_reason > CTG_END_REOPENED)
		abort();
	/*
	 * Established entries both sides have spoken in are never evicted to
	 * make room (tracker.c); a pick-up nobody answered may be.
	 */
	if (rec->end_reason == CTG_END_EVICTED && !(c->flags & CTG_CONN_CLOSED) &&
	    (c->tuple.proto == IPPROTO_TCP ?
	    c->peer[0].state == CTG_TCPS_ESTABLISHED && c->peer[1].state == CTG_TCPS_ESTABLISHED &&
	    (c->peer[0].flags & c->peer[1].flags & CTG_PEER_SEEN) :
	    c->tuple.proto == IPPROTO_UDP && c->proto_state == 2))
		abort();
	s->ends++;
}

struct walk {
	struct trackseq *s;
	uint32_t n;
	uint64_t ids[16];
};

static int
visit(void *arg, struct ctg_conn *c)
{
	struct walk *w = arg;
	struct ctg_conn *found;
	uint8_t dir = 9;

	if (c->id == 0 || (c->tuple.family != 4 && c->tuple.family != 6))
		abort();
	if (memchr(c->history, '\0', sizeof(c->history)) == NULL)
		abort();
	if (c->peer[0].state >= CTG_TCPS_COUNT || c->peer[1].state >= CTG_TCPS_COUNT)
		abort();
	if (c->first_us > c->last_us || c->last_us > w->s->now)
		abort();
	/* the index finds every live entry under its own tuple */
	found = ctg_tracker_lookup(w->s->t, &c->tuple, &dir);
	if (found != c || dir != 0)
		abort();
	if (w->n >= 16)
		abort();
	for (uint32_t i = 0; i < w->n; i++)
		if (w->ids[i] == c->id)
			abort();
	w->ids[w->n++] = c->id;
	return 0;
}

void
trackseq_check(struct trackseq *s)
{
	struct ctg_tracker_stats st;
	struct walk w = { .s = s };
	uint64_t ended = 0;

	ctg_tracker_stats(s->t, &st);
	ctg_tracker_foreach(s->t, visit, &w);
	for (unsigned i = 0; i < 8; i++)
		ended += st.ended[i];
	if (st.live > st.max || w.n != st.live)
		abort();
	/* every entry created is live, or ended once (refused ones uncount) */
	if (st.created != ended + st.live || st.evicted != st.ended[CTG_END_EVICTED])
		abort();
	if (s->ends > ended)
		abort();
}

static void
timeouts(struct ctg_timeouts *to, uint32_t base)
{
	uint32_t *v = (uint32_t *)to;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint32_t); i++)
		v[i] = base + (uint32_t)i;
}

int
trackseq_run(struct trackseq *s, const uint8_t *data, size_t size)
{
	static const uint32_t maxes[4] = { 2, 4, 8, 16 };
	struct ctg_config cfg;
	size_t i = 1;

	memset(s, 0, sizeof(*s));
	if (size < 1)
		return -1;
	ctg_config_defaults(&cfg);
	ctg_tracker_config_from(&s->tc, &cfg);
	s->tc.midstream = (data[0] & TSQ_LOOSE) ? CTG_MIDSTREAM_LOOSE : CTG_MIDSTREAM_STRICT;
	s->tc.max_connections = maxes[(data[0] >> 1) & 3];
	if (data[0] & TSQ_ADAPTIVE) {
		s->tc.adaptive_start_pct = 50;
		s->tc.adaptive_end_pct = 100;
	} else
		s->tc.adaptive_start_pct = s->tc.adaptive_end_pct = 0;
	if (data[0] & TSQ_SHORT)
		timeouts(&s->tc.timeouts, 2);
	s->tc.id_base = 1;
	s->tc.hash_seed[0] = 0x0123456789abcdefULL;
	s->tc.hash_seed[1] = 0xfedcba9876543210ULL;
	if ((s->t = ctg_tracker_new(&s->tc, on_end, s)) == NULL)
		return -1;
	s->now = TRACKSEQ_T0;

	while (i + 3 <= size) {
		uint8_t dt = data[i], ctl = data[i + 1];
		size_t len = data[i + 2];
		struct ctg_track_result res;
		struct ctg_packet p;
		enum ctg_reason rc;
		uint8_t *buf;

		i += 3;
		if (len > size - i)
			len = size - i;
		/* an exact-size copy, so that ASan sees a read past the packet */
		if ((buf = malloc(len ? len : 1)) == NULL)
			abort();
		memcpy(buf, data + i, len);
		i += len;
		s->now += (uint64_t)dt * dt * 10000;

		rc = ctg_decode_ip(&p, buf, len, len);
		ctg_tracker_packet(s->t, &p, rc, s->now, &res);
		free(buf);
		if (res.ctstate > CTG_CT_INVALID || (unsigned)res.reason >= CTG_R_COUNT)
			abort();
		if (rc != CTG_R_NONE && (res.conn != NULL || res.ctstate != CTG_CT_INVALID))
			abort();
		if (res.conn) {
			struct ctg_conn *c = res.conn;
			uint8_t dir = 9;

			if (ctg_tracker_lookup(s->t, &c->tuple, &dir) != c || res.dir > 1)
				abort();
			if (ctl & TSQ_PROFILE(0)) {
				struct ctg_timeouts ovr;

				timeouts(&ovr, 1 + (ctl >> 5));
				if (ctg_tracker_set_timeouts(s->t, c, &ovr) != 0)
					abort();
			}
			if ((ctl & 3) == TSQ_REFUSE) {
				if (res.created)
					ctg_tracker_unconfirm(s->t, c);
			} else
				ctg_tracker_account(s->t, c, res.dir, p.ip_len);
			if ((ctl & TSQ_KILL) && (!res.created || (ctl & 3) != TSQ_REFUSE)) {
				if (ctg_tracker_kill(s->t, c->id, s->now) != 0)
					abort();
			}
		}
		if (ctl & TSQ_SWEEP)
			ctg_tracker_sweep(s->t, s->now, 4);
		trackseq_check(s);
	}
	return 0;
}

void
trackseq_free(struct trackseq *s)
{
	ctg_tracker_free(s->t);
	s->t = NULL;
}
