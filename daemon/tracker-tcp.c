/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: TCP. Each endpoint followed through the RFC 793
 * states as seen from the middle: the flags check, SYN, SYN/ACK, RST (and
 * its grace), PAWS, and the sequence-space checks of tcp_window() after
 * van Rooij, as Linux and pf do. Packet path.
 */
#include <string.h>

#include <netinet/in.h>

#include "ctguard/tracker.h"
#include "tracker-int.h"

/* An ack may trail the newest data by this much before it is implausible. */
#define MAXACKWINDOW_MIN 66000
#define RETRANS_LIMIT 3

static void
tuple_reverse(struct ctg_tuple *out, const struct ctg_tuple *in)
{
	*out = *in;
	out->src = in->dst;
	out->dst = in->src;
	out->sport = in->dport;
	out->dport = in->sport;
}

static bool
peer_closing(uint8_t s)
{
	return s >= CTG_TCPS_FIN_WAIT_1;
}

/* Choose the timeout class after a TCP packet, shortest cause first. */
void
tracker_tcp_set_tclass(struct ctg_tracker *t, struct ctg_conn *c)
{
	uint8_t o = c->peer[0].state, r = c->peer[1].state;
	enum tclass tc;

	if (c->flags & CTG_CONN_CLOSED)
		tc = (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)) ?
		    TC_CLOSE : TC_TIME_WAIT;
	else if (o == CTG_TCPS_TIME_WAIT || r == CTG_TCPS_TIME_WAIT ||
	    o == CTG_TCPS_CLOSED || r == CTG_TCPS_CLOSED)
		tc = TC_TIME_WAIT;
	else if (o == CTG_TCPS_LAST_ACK || r == CTG_TCPS_LAST_ACK)
		tc = TC_LAST_ACK;
	else if (c->proto_state & CTG_CONN_OFFLOADED &&
	    (o == CTG_TCPS_CLOSE_WAIT || r == CTG_TCPS_CLOSE_WAIT || peer_closing(o) ||
	    peer_closing(r)))
		/*
		 * Half closed and offloaded: the other side's data flows past
		 * us unseen, and its FIN must still find the entry.
		 */
		tc = TC_ESTABLISHED;
	else if (o == CTG_TCPS_CLOSE_WAIT || r == CTG_TCPS_CLOSE_WAIT)
		tc = TC_CLOSE_WAIT;
	else if (peer_closing(o) || peer_closing(r))
		tc = TC_FIN_WAIT;
	else if (r == CTG_TCPS_LISTEN || r == CTG_TCPS_NONE)
		tc = TC_SYN_SENT;
	else if (o == CTG_TCPS_SYN_SENT || o == CTG_TCPS_SYN_RCVD ||
	    r == CTG_TCPS_SYN_SENT || r == CTG_TCPS_SYN_RCVD)
		tc = TC_SYN_RCVD;
	else
		tc = TC_ESTABLISHED;

	/* offloaded: the unacked data and retransmissions we see are not current */
	if (tc == TC_ESTABLISHED && !(c->proto_state & CTG_CONN_OFFLOADED)) {
		if ((c->flags & CTG_CONN_MIDSTREAM) && !(c->flags & CTG_CONN_SEEN_REPLY))
			tc = TC_UNACKED;
		else if (c->peer[0].retrans >= RETRANS_LIMIT ||
		    c->peer[1].retrans >= RETRANS_LIMIT)
			tc = TC_RETRANS;
		else if ((c->peer[0].flags | c->peer[1].flags) & CTG_PEER_UNACKED)
			tc = TC_UNACKED;
		if (tc != TC_ESTABLISHED &&
		    t->timeout[tc] > t->timeout[TC_ESTABLISHED])
			tc = TC_ESTABLISHED;
	}
	c->tclass = (uint8_t)tc;

	/*
	 * Open connections are never evicted to make room, once both sides
	 * have spoken: a pick-up the other side never answered is as cheap
	 * to forge as a SYN and is treated like one.
	 */
	bool answered = (c->peer[0].flags & c->peer[1].flags & CTG_PEER_SEEN) != 0;
	bool open = tc == TC_ESTABLISHED || tc == TC_UNACKED || tc == TC_RETRANS;

	tracker_evict_list_place(t, c, !answered ? L_UNANSWERED : open ? L_NONE : L_CLOSING);
}

/*
 * Flags no stack sends, after Linux's tcp_valid_flags[] (PSH, ECE, CWR
 * masked), with the scans named so that the log says what was seen.
 */
static enum ctg_reason
tcp_flags_check(uint8_t f)
{
	uint8_t core = f & (CTG_TH_FIN | CTG_TH_SYN | CTG_TH_RST | CTG_TH_ACK | CTG_TH_URG);

	if ((f & ~(CTG_TH_ECE | CTG_TH_CWR)) == 0)
		return CTG_R_TCP_FLAGS_NULL;
	if ((f & (CTG_TH_SYN | CTG_TH_FIN)) == (CTG_TH_SYN | CTG_TH_FIN))
		return CTG_R_TCP_FLAGS_SYN_FIN;
	if ((f & (CTG_TH_SYN | CTG_TH_RST)) == (CTG_TH_SYN | CTG_TH_RST))
		return CTG_R_TCP_FLAGS_SYN_RST;
	if ((f & (CTG_TH_FIN | CTG_TH_RST)) == (CTG_TH_FIN | CTG_TH_RST))
		return CTG_R_TCP_FLAGS_FIN_RST;
	if (!(f & CTG_TH_ACK) && (f & (CTG_TH_FIN | CTG_TH_PSH | CTG_TH_URG)) ==
	    (CTG_TH_FIN | CTG_TH_PSH | CTG_TH_URG))
		return CTG_R_TCP_FLAGS_XMAS;
	switch (core) {
	case CTG_TH_SYN:
	case CTG_TH_SYN | CTG_TH_URG:
	case CTG_TH_SYN | CTG_TH_ACK:
	case CTG_TH_RST:
	case CTG_TH_RST | CTG_TH_ACK:
	case CTG_TH_FIN | CTG_TH_ACK:
	case CTG_TH_FIN | CTG_TH_ACK | CTG_TH_URG:
	case CTG_TH_ACK:
	case CTG_TH_ACK | CTG_TH_URG:
		return CTG_R_NONE;
	}
	if (!(f & (CTG_TH_ACK | CTG_TH_SYN | CTG_TH_RST)))
		return CTG_R_TCP_FLAGS_NO_ACK;
	return CTG_R_TCP_FLAGS_BAD;
}

static uint32_t
seg_end(const struct ctg_packet *p)
{
	uint32_t end = p->tcp.seq + p->payload_len;

	if (p->tcp.flags & CTG_TH_SYN)
		end++;
	if (p->tcp.flags & CTG_TH_FIN)
		end++;
	return end;
}

/* Initialise a peer from its SYN or SYN/ACK. */
static void
peer_init_syn(struct ctg_tcp_peer *s, const struct ctg_packet *p)
{
	const struct ctg_tcp_opts *o = &p->tcp.opt;

	s->isn = p->tcp.seq;
	s->td_end = seg_end(p);
	s->td_maxend = s->td_end;
	s->td_maxwin = p->tcp.window ? p->tcp.window : 1;
	s->td_maxack = 0;
	s->flags = CTG_PEER_SEEN;
	s->retrans = 0;
	s->wscale = 0;
	if (o->has_wscale) {
		s->flags |= CTG_PEER_WSCALE;
		s->wscale = o->wscale;
	}
	if (o->sack_permitted)
		s->flags |= CTG_PEER_SACK_PERM;
	s->xflags = 0;
	if (o->has_md5)
		s->xflags |= CTG_PEERX_MD5;
	if (o->has_timestamp) {
		s->flags |= CTG_PEER_TS;
		s->last_tsval = o->tsval;
		/* a SYN: td_maxack holds its latest TSval (tsecr_bad) */
		s->td_maxack = o->tsval;
	}
	if (p->tcp.flags & CTG_TH_ACK) {
		s->td_maxack = p->tcp.ack;
		s->flags |= CTG_PEER_MAXACK;
	}
}

/*
 * An answer to the originator's SYN whose TSecr echoes no TSval of its
 * SYNs: the Linux client discards it (tcp_rcv_synsent_state_process():
 * rcv_tsecr not between retrans_stamp and now, PAWSActiveRejected).
 * TSecr 0 is not checked, as there.
 *
 * The entry knows the SYNs it saw, which are all of them unless it was
 * ended (a full table, a restart) and made again by a retransmitted SYN.
 * A Linux server answers every retransmission of a SYN with the TSecr of
 * the first (the request keeps its ts_recent), so the SYN/ACK of such an
 * entry echoes a TSval older than any it knows, and the connection could
 * never complete. A SYN/ACK may therefore echo up to SYNACK_TSECR_SLACK
 * ticks before the oldest SYN seen (2^17: the Linux SYN retries span
 * 63 s, at its 1 kHz clock). An RST or FIN keeps the exact range: those
 * are the ones that end a connection (issue 14, item 5), while a forged
 * SYN/ACK is replaced by the real one (the re-initialising SYN/ACK below).
 */
#define SYNACK_TSECR_SLACK (1u << 17)

static bool
tsecr_bad(const struct ctg_tcp_peer *orig, const struct ctg_packet *p)
{
	uint32_t slack = (p->tcp.flags & (CTG_TH_SYN | CTG_TH_RST | CTG_TH_FIN)) == CTG_TH_SYN ?
	    SYNACK_TSECR_SLACK : 0;

	if (!(orig->flags & CTG_PEER_TS) || (orig->flags & CTG_PEER_MAXACK) ||
	    !p->tcp.opt.has_timestamp || p->tcp.opt.tsecr == 0)
		return false;
	return (uint32_t)(p->tcp.opt.tsecr - (orig->last_tsval - slack)) >
	    (uint32_t)(orig->td_maxack - orig->last_tsval) + slack;
}

/* Scaling counts only when both SYNs offered it (RFC 7323 section 2.2). */
static void
settle_wscale(struct ctg_conn *c)
{
	if (!(c->peer[0].flags & CTG_PEER_WSCALE) ||
	    !(c->peer[1].flags & CTG_PEER_WSCALE)) {
		c->peer[0].wscale = 0;
		c->peer[1].wscale = 0;
	}
}

/* A picked-up peer: nothing known but what this packet says. */
static void
peer_init_midstream(struct ctg_tcp_peer *s, const struct ctg_packet *p,
    uint8_t state)
{
	s->isn = p->tcp.seq;
	s->td_end = seg_end(p);
	s->td_maxwin = ((uint32_t)(p->tcp.window ? p->tcp.window : 1)) << CTG_TCP_MAX_WSCALE;
	s->td_maxend = s->td_end;
	s->wscale = CTG_TCP_MAX_WSCALE;
	s->flags = CTG_PEER_SEEN | CTG_PEER_LIBERAL | CTG_PEER_SACK_PERM;
	s->state = state;
	s->retrans = 0;
	if (p->tcp.opt.has_timestamp) {
		s->flags |= CTG_PEER_TS;
		s->last_tsval = p->tcp.opt.tsval;
	}
	if (p->tcp.flags & CTG_TH_ACK) {
		s->td_maxack = p->tcp.ack;
		s->flags |= CTG_PEER_MAXACK;
	}
}

/* Linux TCP_TIMEWAIT_LEN: how long an endpoint holds a closed connection. */
#define ENDPOINT_TIME_WAIT_US (60ULL * 1000000)

/* RFC 7323 5.5 / Linux TCP_PAWS_24DAYS: after that long idle TS.Recent is void. */
#define PAWS_IDLE_US (24ULL * 24 * 3600 * 1000000)

/*
 * TS.Recent holds no usable value: none stored yet (Linux tcp_paws_check()
 * treats ts_recent 0 so), or the connection sat idle 24 days, after which
 * the peer's timestamp clock may have wrapped (RFC 7323 5.5).
 */
static bool
ts_recent_void(const struct ctg_conn *c, const struct ctg_tcp_peer *s,
    uint64_t now_us)
{
	return s->last_tsval == 0 || now_us - c->last_us >= PAWS_IDLE_US;
}

/*
 * PAWS as the receiving stack applies it (RFC 7323 5.3; Linux
 * tcp_paws_discard() with TCP_PAWS_WINDOW 1): the segment's TSval is more
 * than one tick older than TS.Recent, and TS.Recent is not void.
 */
static bool
paws_fails(const struct ctg_conn *c, const struct ctg_tcp_peer *s,
    const struct ctg_packet *p, uint64_t now_us)
{
	if (!(s->flags & CTG_PEER_TS))
		return false;
	if (!p->tcp.opt.has_timestamp)
		return false;
	if (ts_recent_void(c, s, now_us))
		return false;
	return (int32_t)(s->last_tsval - p->tcp.opt.tsval) > 1;
}

/*
 * The highest sequence number this segment acknowledges, SACK included.
 * A block that ends beyond what the receiver sent, or is empty, is
 * ignored as the data sender ignores it (Linux tcp_is_sackblock_valid();
 * middleboxes that rewrite ISNs but not SACK blocks produce them): the
 * rest of the segment is still valid.
 */
static uint32_t
seg_sack(const struct ctg_packet *p, const struct ctg_tcp_peer *receiver,
    uint32_t sent)
{
	uint32_t sack = p->tcp.ack;

	if (receiver->flags & CTG_PEER_SACK_PERM) {
		for (unsigned i = 0; i < p->tcp.opt.sack_count && i < CTG_MAX_SACK_BLOCKS; i++) {
			uint32_t left = p->tcp.opt.sack_left[i], right = p->tcp.opt.sack_right[i];

			if (SEQ_GT(right, sent) || !SEQ_LT(left, right))
				continue;
			if (SEQ_GT(right, sack))
				sack = right;
		}
	}
	return sack;
}

/*
 * The FIN bookkeeping of the close: X's packet acknowledges Y's FIN.
 * Y moves on (FIN_WAIT_1 -> FIN_WAIT_2, CLOSING -> TIME_WAIT,
 * LAST_ACK -> CLOSED); X has now received the FIN (ESTABLISHED ->
 * CLOSE_WAIT, FIN_WAIT_1 -> CLOSING, FIN_WAIT_2 -> TIME_WAIT). Also
 * from a sync merge, when the FIN and its ack crossed different members.
 */
void
tracker_tcp_ack_of_fin(struct ctg_conn *c, uint8_t dir)
{
	struct ctg_tcp_peer *x = &c->peer[dir], *y = &c->peer[!dir];

	switch (y->state) {
	case CTG_TCPS_FIN_WAIT_1: y->state = CTG_TCPS_FIN_WAIT_2; break;
	case CTG_TCPS_CLOSING: y->state = CTG_TCPS_TIME_WAIT; break;
	case CTG_TCPS_LAST_ACK: y->state = CTG_TCPS_CLOSED; break;
	default: break;
	}
	switch (x->state) {
	case CTG_TCPS_ESTABLISHED: x->state = CTG_TCPS_CLOSE_WAIT; break;
	case CTG_TCPS_FIN_WAIT_1: x->state = CTG_TCPS_CLOSING; break;
	case CTG_TCPS_FIN_WAIT_2: x->state = CTG_TCPS_TIME_WAIT; break;
	default: break;
	}
}

/* dir's endpoint sent its FIN (also from a sync merge: the other member saw it). */
void
tracker_tcp_sent_fin(struct ctg_conn *c, uint8_t dir)
{
	struct ctg_tcp_peer *x = &c->peer[dir];

	x->flags |= CTG_PEER_FIN;
	c->flags |= dir == 0 ? CTG_CONN_FIN_ORIG : CTG_CONN_FIN_RESP;
	if (x->state == CTG_TCPS_ESTABLISHED || x->state == CTG_TCPS_SYN_RCVD ||
	    x->state == CTG_TCPS_SYN_SENT)
		x->state = CTG_TCPS_FIN_WAIT_1;
	else if (x->state == CTG_TCPS_CLOSE_WAIT)
		x->state = CTG_TCPS_LAST_ACK;
}

static void
mark_closed(struct ctg_conn *c)
{
	c->flags |= CTG_CONN_CLOSED;
}

/*
 * RST, judged as the receiving stack judges it (RFC 5961 3.2, Linux
 * tcp_validate_incoming()): one whose sequence number is exactly the next
 * one the receiver expects closes the connection, whatever its timestamp
 * ("Reset is accepted even if it did not pass PAWS"; RFC 7323 5.2); one
 * inside the window but not exact does not (the receiver answers with a
 * challenge ACK, and a real peer then sends the exact RST); one outside
 * the window is INVALID.
 */
static enum ctg_reason
tcp_rst(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint32_t seq = p->tcp.seq;

	(void)now_us;
	/*
	 * Answer to a SYN: acceptable only if it acknowledges that SYN
	 * (ack in (ISN, SYN end], tcp_rcv_synsent_state_process(); an ack of
	 * 0 is fine when the SYN's ISN was 0xffffffff) and echoes one of its
	 * timestamps.
	 */
	if (r->state == CTG_TCPS_SYN_SENT &&
	    (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_NONE)) {
		if (!(p->tcp.flags & CTG_TH_ACK) || SEQ_LEQ(p->tcp.ack, r->isn) ||
		    SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_RST_BAD_ACK;
		if (tsecr_bad(r, p))
			return CTG_R_TCP_BAD_TSECR;
		goto closes;
	}
	/* Originator abandons its own unanswered SYN. */
	if (s->state == CTG_TCPS_SYN_SENT &&
	    (r->state == CTG_TCPS_LISTEN || r->state == CTG_TCPS_NONE)) {
		if ((c->flags & CTG_CONN_CHALLENGE) && seq == r->td_maxack)
			goto closes;
		if (SEQ_GEQ(seq, s->isn) && SEQ_LEQ(seq, s->td_end))
			goto closes;
		return CTG_R_TCP_RST_OUT_OF_WINDOW;
	}
	if ((s->flags & CTG_PEER_LIBERAL) || (r->flags & CTG_PEER_LIBERAL)) {
		/* picked up: no window known, take the RST as it comes */
		goto closes;
	}

	uint32_t rcv_nxt = (r->flags & CTG_PEER_MAXACK) ? r->td_maxack : s->td_end;
	uint32_t rcv_wnd = r->td_maxwin ? r->td_maxwin : 1;

	/*
	 * The receiver still half-open (SYN_RCVD): any RST inside its window
	 * ends it (tcp_check_req() -> embryonic_reset), not only an exact one.
	 */
	if (r->state == CTG_TCPS_SYN_RCVD && s->state == CTG_TCPS_SYN_SENT) {
		if (SEQ_GEQ(seq, s->td_end) && SEQ_LT(seq, s->td_end + rcv_wnd))
			goto closes;
		return CTG_R_TCP_RST_OUT_OF_WINDOW;
	}
	/*
	 * Exact: the receiver's next expected sequence number is the end of
	 * what crossed in order (the receiver has it once it arrives, even
	 * before it acks it; its last ack may lag behind data in flight).
	 */
	if (seq == s->td_end)
		goto closes;
	/*
	 * tcp_reset_check(): a receiver in CLOSE_WAIT, LAST_ACK or CLOSING
	 * (it has the sender's FIN) also takes the FIN's own sequence number.
	 */
	if ((s->flags & CTG_PEER_FIN) && seq == s->td_end - 1 &&
	    r->state != CTG_TCPS_FIN_WAIT_2 && r->state != CTG_TCPS_TIME_WAIT &&
	    r->state != CTG_TCPS_CLOSED)
		goto closes;
	if (SEQ_GEQ(seq, rcv_nxt) && SEQ_LT(seq, rcv_nxt + rcv_wnd))
		return CTG_R_TCP_RST_INEXACT;
	return CTG_R_TCP_RST_OUT_OF_WINDOW;

closes:
	/* kept for the RST grace (tcp_after_rst) */
	c->fin_ooo[0] = (uint16_t)(c->peer[0].state | c->peer[1].state << 8);
	c->fin_ooo[1] = 0;
	s->state = CTG_TCPS_CLOSED;
	r->state = CTG_TCPS_CLOSED;
	c->flags |= dir == 0 ? CTG_CONN_RST_ORIG : CTG_CONN_RST_RESP;
	mark_closed(c);
	return CTG_R_NONE;
}

/* Sequence number of dir's FIN beyond a gap (CTG_PEERX_FIN_OOO), at or past td_end. */
static uint32_t
fin_ooo_seq(const struct ctg_conn *c, uint8_t dir)
{
	uint32_t e = c->peer[dir].td_end;

	return e + (uint16_t)(c->fin_ooo[dir] - (uint16_t)e);
}

/*
 * The end of the highest data dir sent beyond the gap in full, when it is
 * known: fin_ooo[dir] has its low 16 bits, and fin_ooo[!dir] its high 16
 * while the other side has no gap of its own (ooo_set_highest()). Bulk
 * data written in 64 kB multiples (iperf3 writes 128 kB: 65160 + 65160 +
 * 752 bytes) puts the ends of the flight's writes 64 kB apart, so the low
 * bits alone match an ack a write or two behind the highest end, and that
 * ack ended the out-of-order allowance while data beyond it had crossed.
 * A value outside [td_end, td_maxend] (the other side's own bits, left
 * from before) is not taken.
 */
static bool
ooo_high_known(const struct ctg_conn *c, uint8_t dir, uint32_t *h)
{
	const struct ctg_tcp_peer *s = &c->peer[dir];
	uint32_t v;

	if ((c->peer[!dir].xflags & (CTG_PEERX_OOO | CTG_PEERX_FIN_OOO)) ||
	    (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)))
		return false;
	v = (uint32_t)c->fin_ooo[!dir] << 16 | c->fin_ooo[dir];
	if (SEQ_LT(v, s->td_end) || SEQ_GT(v, s->td_maxend))
		return false;
	*h = v;
	return true;
}

static void
ooo_set_highest(struct ctg_conn *c, uint8_t dir, uint32_t end)
{
	c->fin_ooo[dir] = (uint16_t)end;
	if (!(c->peer[!dir].xflags & (CTG_PEERX_OOO | CTG_PEERX_FIN_OOO)) &&
	    !(c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)))
		c->fin_ooo[!dir] = (uint16_t)(end >> 16);
}

/* Whether ack reaches exactly the highest end dir sent beyond the gap. */
static bool
ooo_acked(const struct ctg_conn *c, uint8_t dir, uint32_t ack)
{
	uint32_t h;

	if (ooo_high_known(c, dir, &h))
		return ack == h;
	return (uint16_t)ack == c->fin_ooo[dir];
}

/*
 * Whether a segment [seq, end) beyond the gap from dir ends past the
 * highest data seen beyond it so far (its low 16 bits in fin_ooo). One
 * that starts exactly there continues it: the usual case in a bulk
 * transfer, where after a gap filled by a reordered segment every new
 * segment is still beyond the in-order edge until the receiver's ack
 * moves it, and that edge may lag the highest end by far more than 64 kB.
 * Another is compared with the highest end taken as the first value with
 * those low bits at or past the in-order edge, as fin_ooo_seq() does: a
 * retransmission of data seen beyond the gap lies between the two. The
 * plain 16-bit difference of the ends that this replaces reads a GSO/GRO
 * super-packet (up to 64 kB: 45 x 1448 = 65160 bytes) that goes on past
 * the highest end as one behind it: the highest end stayed back, the
 * receiver's plain ack of it ended the out-of-order allowance
 * (tcp_window_ack()) while data beyond it had crossed, and the receiver's
 * next ack was refused as tcp_ack_above_sent.
 */
static bool
ooo_highest(const struct ctg_conn *c, uint8_t dir, uint32_t seq, uint32_t end)
{
	uint16_t highest = c->fin_ooo[dir];
	uint32_t e = c->peer[dir].td_end, h;

	if (ooo_high_known(c, dir, &h))
		return SEQ_GT(end, h);
	if ((uint16_t)seq == highest)
		return true;
	return SEQ_GT(end, e + (uint16_t)(highest - (uint16_t)e));
}

/*
 * tcp_window()'s bounds I to IV (and the plausibility of an empty
 * segment's sequence number), for a segment that is not judged liberally:
 * the INVALID reason, or CTG_R_NONE with *note set to the zero-window
 * probe NOTE if it is one (left alone otherwise).
 */
static enum ctg_reason
tcp_window_bounds(const struct ctg_tcp_peer *s, const struct ctg_tcp_peer *r,
    const struct ctg_packet *p, uint32_t end, uint32_t plen, uint32_t ack,
    uint32_t sack, uint32_t r_sent, enum ctg_reason *note)
{
	uint32_t seq = p->tcp.seq;
	bool ackf = (p->tcp.flags & CTG_TH_ACK) != 0;
	uint32_t maxackwin = s->td_maxwin > MAXACKWINDOW_MIN ?
	    s->td_maxwin : MAXACKWINDOW_MIN;

	if (ackf && SEQ_GT(sack, r_sent))
		return CTG_R_TCP_ACK_ABOVE_SENT;
	/*
	 * Bound IV from what s acknowledged before, not from r's sent
	 * edge: r's data in flight may be far ahead of any ack, and a
	 * reordered segment carries a slightly older ack. Linux
	 * tcp_ack() drops an ack below snd_una - max_window
	 * (RFC 5961 5.2); MAXACKWINDOW keeps a margin above that.
	 */
	if (ackf && (s->flags & CTG_PEER_MAXACK) &&
	    SEQ_LT(ack, s->td_maxack - maxackwin))
		return CTG_R_TCP_ACK_BELOW_WINDOW;
	if ((s->flags & CTG_PEER_FIN) && plen > 0 && SEQ_GT(end, s->td_end))
		return CTG_R_TCP_DATA_AFTER_FIN;
	if (plen > 0 && SEQ_GT(end, s->td_maxend))
		return CTG_R_TCP_SEQ_ABOVE_WINDOW;
	/*
	 * A zero window leaves td_maxend at the receiver's ack + 1, so
	 * a one-byte probe at the ack fits exactly: note it.
	 */
	if (p->payload_len == 1 && plen == 1 && end == s->td_maxend &&
	    SEQ_GT(end, s->td_end) && (r->flags & CTG_PEER_MAXACK) &&
	    seq == r->td_maxack)
		*note = CTG_R_TCP_WINDOW_PROBE;
	/*
	 * More than a window back: only data the sender really sent
	 * before may come again (its acks can be lost past this box,
	 * and the Linux selftest conntrack_ack_loss_stall shows that
	 * refusing the resend stalls the connection). Sequence numbers
	 * outside everything it ever sent are INVALID.
	 */
	if (plen > 0 && SEQ_LT(end, s->td_end - r->td_maxwin) &&
	    (uint32_t)(seq - s->isn) > (uint32_t)(s->td_end - s->isn))
		return CTG_R_TCP_SEQ_BELOW_WINDOW;
	/* empty segments: the sequence number must still be plausible */
	if (plen == 0 && SEQ_GT(seq, s->td_maxend))
		return CTG_R_TCP_SEQ_ABOVE_WINDOW;
	if (plen == 0 && SEQ_LT(seq, s->td_end - r->td_maxwin - 1) &&
	    (uint32_t)(seq - s->isn) > (uint32_t)(s->td_end - s->isn))
		return CTG_R_TCP_SEQ_BELOW_WINDOW;
	return CTG_R_NONE;
}

/*
 * What an ack in a segment from dir tells tcp_window() about both peers:
 * the sender's highest ack, the receiver's window edge, and the receiver's
 * data (and queued FIN) beyond a gap that the ack shows arrived.
 */
static void
tcp_window_ack(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint32_t ack, uint32_t sack, uint32_t win, bool liberal)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];

	if (!(s->flags & CTG_PEER_MAXACK) || SEQ_GT(ack, s->td_maxack)) {
		s->td_maxack = ack;
		s->flags |= CTG_PEER_MAXACK;
	}
	if (SEQ_GT(sack + (win ? win : 1), r->td_maxend) || liberal)
		r->td_maxend = sack + (win ? win : 1);
	/* the receiver holds what r sent beyond the gap: the gap was filled */
	if (SEQ_GT(ack, r->td_end)) {
		uint32_t fseq = fin_ooo_seq(c, !dir);

		if ((r->xflags & CTG_PEERX_FIN_OOO) && ack == fseq + 1 &&
		    !(r->flags & CTG_PEER_FIN)) {
			/* the receiver acked exactly through the queued FIN */
			tracker_tcp_sent_fin(c, !dir);
		}
		if ((r->xflags & CTG_PEERX_FIN_OOO) && SEQ_GEQ(ack, fseq))
			r->xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
		r->td_end = ack;
		if (SEQ_GT(r->td_end, r->td_maxend))
			r->td_maxend = r->td_end;
	}
	if (SEQ_GEQ(ack, r->td_end))
		r->flags &= ~CTG_PEER_UNACKED;
	/*
	 * An ack at r's edge without SACK blocks, when SACK is in use, says
	 * the receiver holds nothing beyond it; but what crossed the box
	 * beyond the gap may still be on its way to the receiver (its ACKs
	 * run a flight late), so the bound returns to the in-order edge only
	 * when the ack reaches the end of the highest data seen beyond the
	 * gap (fin_ooo, ooo_acked()), or r's FIN.
	 */
	if ((r->xflags & CTG_PEERX_OOO) && SEQ_GEQ(ack, r->td_end) &&
	    (r->flags & s->flags & CTG_PEER_SACK_PERM) && p->tcp.opt.sack_count == 0 &&
	    ((r->flags & CTG_PEER_FIN) || (!(r->xflags & CTG_PEERX_FIN_OOO) &&
	    ooo_acked(c, (uint8_t)!dir, ack))))
		r->xflags &= (uint8_t)~CTG_PEERX_OOO;
}

/*
 * The sequence-space checks on a segment from peer s to peer r, after
 * van Rooij (as Linux tcp_in_window() and pf_tcp_track_full()):
 *   I   end <= s.td_maxend            data inside the receiver's window
 *   II  end >= s.td_end - r.td_maxwin  not more than a window back
 *   III sack <= r.td_end               acks only data r has sent
 *   IV  ack >= s.td_maxack - MAXACKWINDOW (what s acked before)
 * Linux lets II and IV pass unrecorded (IGNORE) and tolerates I by up to a
 * window; we follow pf and call all four INVALID, because every packet of
 * the connection crosses this box, so a window update we did not see does
 * not exist. A segment wholly below td_end is a retransmission: it passes
 * and moves nothing.
 *
 * State moves only as the receiver's would (RFC 793 3.9, Linux
 * tcp_data_queue()): data and FIN advance td_end only in order; a segment
 * beyond a gap is passed but only recorded as "out of order" (its
 * receiver queues it and acts on it once the gap is filled, which the
 * receiver's ack then tells us); an empty segment never moves td_end.
 * TS.Recent moves as in RFC 7323 4.3 and Linux tcp_replace_ts_recent():
 * only from a segment that is not older than the last ack (tcp_ack()'s
 * old_ack path does not store it) and whose SEG.SEQ <= Last.ACK.sent.
 * *fin is set when the segment's FIN is in order, i.e. the receiver acts
 * on it.
 * Returns CTG_R_NONE (state updated), a NOTE (passed, state kept), or an
 * INVALID reason (nothing changed).
 */
static enum ctg_reason
tcp_window(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    bool ts_void, bool *fin)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint32_t seq = p->tcp.seq, end = seg_end(p);
	bool ackf = (p->tcp.flags & CTG_TH_ACK) != 0;
	/* r may ack beyond its in-order edge only after data beyond a gap */
	uint32_t r_sent = (r->xflags & CTG_PEERX_OOO) ? r->td_maxend : r->td_end;
	uint32_t ack = ackf ? p->tcp.ack : r->td_end;
	uint32_t sack = ackf ? seg_sack(p, r, r_sent) : ack;
	uint32_t win = p->tcp.window;
	uint32_t plen = p->payload_len + ((p->tcp.flags & CTG_TH_FIN) ? 1 : 0);
	bool liberal = (s->flags | r->flags) & CTG_PEER_LIBERAL;
	enum ctg_reason note = CTG_R_NONE;

	*fin = false;
	if (!(p->tcp.flags & CTG_TH_SYN))
		win <<= s->wscale;

	/* Empty segments carry seq = td_end or so; judge them by their ack. */
	if (!liberal) {
		enum ctg_reason bad = tcp_window_bounds(s, r, p, end, plen, ack,
		    sack, r_sent, &note);

		if (bad != CTG_R_NONE)
			return bad;
	}

	bool in_order = false;
	if (plen > 0 && SEQ_LEQ(end, s->td_end)) {
		/* keepalive: one byte (or none) just below the next sequence */
		if (p->payload_len <= 1 && end == s->td_end && seq == s->td_end - 1 &&
		    !(p->tcp.flags & CTG_TH_FIN))
			note = CTG_R_TCP_KEEPALIVE;
		else {
			note = CTG_R_TCP_RETRANSMIT;
			if (s->retrans < 15)
				s->retrans++;
		}
	} else if (plen > 0) {
		s->retrans = 0;
		in_order = liberal || SEQ_LEQ(seq, s->td_end);
		if (!in_order) {
			bool first = !(s->xflags & CTG_PEERX_OOO);

			/* bytes before this segment have not crossed us (yet) */
			s->xflags |= CTG_PEERX_OOO;
			tracker_hist_add(c, dir, H_GAP);
			/* a FIN within 64 kB of the edge is remembered until the gap fills */
			if ((p->tcp.flags & CTG_TH_FIN) && end - 1 - s->td_end < 65536) {
				s->xflags |= CTG_PEERX_FIN_OOO;
				c->fin_ooo[dir] = (uint16_t)(end - 1);
			} else if (!(s->xflags & CTG_PEERX_FIN_OOO) &&
			    (first || ooo_highest(c, dir, seq, end))) {
				/* the end of the highest data beyond the gap (tcp_window_ack) */
				ooo_set_highest(c, dir, end);
			}
		}
	} else if (seq == s->td_end - 1) {
		/* the usual keepalive carries no data at all */
		note = CTG_R_TCP_KEEPALIVE;
	}

	/* TS.Recent before the ack moves Last.ACK.sent (RFC 7323 4.3) */
	uint32_t last_ack_sent = (r->flags & CTG_PEER_MAXACK) ? r->td_maxack : s->td_end;
	if (p->tcp.opt.has_timestamp && (s->flags & CTG_PEER_TS) &&
	    (ts_void || SEQ_GEQ(p->tcp.opt.tsval, s->last_tsval)) &&
	    (liberal || SEQ_LEQ(seq, last_ack_sent)) &&
	    !(ackf && (s->flags & CTG_PEER_MAXACK) && SEQ_LT(ack, s->td_maxack)))
		s->last_tsval = p->tcp.opt.tsval;

	/* Update the sender's and receiver's sequence space. */
	if (s->td_maxwin < (win ? win : 1))
		s->td_maxwin = win ? win : 1;
	if (in_order && SEQ_GT(end, s->td_end)) {
		uint32_t fseq = fin_ooo_seq(c, dir);

		*fin = (p->tcp.flags & CTG_TH_FIN) != 0;
		if (!*fin && (s->xflags & CTG_PEERX_FIN_OOO) && fseq == end) {
			/* the gap before the queued FIN is filled: it counts now */
			end++;
			*fin = true;
		}
		if (*fin || SEQ_GEQ(end, fseq))
			s->xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
		s->td_end = end;
		s->flags |= CTG_PEER_UNACKED;
	}
	if (ackf)
		tcp_window_ack(c, dir, p, ack, sack, win, liberal);
	return note;
}

/* A SYN on a closed connection (conn_dead): reopen, hold, or refuse. */
static enum ctg_reason
tcp_syn_on_closed(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, bool *reopen)
{
	struct ctg_tcp_peer *s = &c->peer[dir];

	/*
	 * Reuse of a closed tuple (RFC 1122 4.2.2.13, RFC 6191):
	 * after a reset always; after TIME_WAIT only with a
	 * sequence number above the old one or a newer timestamp,
	 * so that a delayed old SYN cannot reopen it - unless the
	 * endpoints' own TIME_WAIT is over (Linux TCP_TIMEWAIT_LEN,
	 * 60 s after the last segment): then no endpoint remembers the
	 * old connection and the SYN is simply new.
	 */
	bool by_rst = c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP);
	bool newer_seq = SEQ_GT(p->tcp.seq, s->td_end);
	bool newer_ts = (s->flags & CTG_PEER_TS) && p->tcp.opt.has_timestamp &&
	    SEQ_GT(p->tcp.opt.tsval, s->last_tsval);
	bool tw_over = now_us - c->last_us >= ENDPOINT_TIME_WAIT_US;
	if (by_rst || newer_seq || newer_ts || tw_over || !(s->flags & CTG_PEER_SEEN)) {
		*reopen = true;
		return CTG_R_TCP_REOPEN;
	}
	/*
	 * An old duplicate, or a new incarnation that did not pick a
	 * higher ISN: the endpoint in TIME_WAIT decides
	 * (tcp_timewait_state_process() answers it with an ACK, the
	 * client resets that, and its next SYN opens). Pass it without
	 * moving anything, as tcp_syn() passes one on a tuple still open.
	 */
	if (dir == 0) {
		s->xflags |= CTG_PEERX_SYN_NOTED;
		s->syn_wscale = p->tcp.opt.has_wscale ? p->tcp.opt.wscale : 0;
		return CTG_R_TCP_SYN_HELD;
	}
	return CTG_R_TCP_CLOSED;
}

/* A SYN on a connection in the table: retransmission, reuse, or refused. */
static enum ctg_reason
tcp_syn(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, bool *reopen)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];

	tracker_hist_add(c, dir, H_SYN);
	if (conn_dead(c))
		return tcp_syn_on_closed(c, dir, p, now_us, reopen);
	if (dir == 0 && (c->flags & CTG_CONN_FLIPPED) && s->state == CTG_TCPS_SYN_SENT &&
	    !(s->flags & CTG_PEER_SEEN) && p->tcp.seq == s->isn) {
		/*
		 * The SYN of a connection picked up from its SYN/ACK,
		 * arriving late (reordered in a capture): it tells us the
		 * originator's options after all.
		 */
		uint32_t maxend = s->td_maxend;
		peer_init_syn(s, p);
		s->td_maxend = maxend;
		s->state = CTG_TCPS_SYN_SENT;
		if (!(s->flags & CTG_PEER_WSCALE) || !(r->flags & CTG_PEER_WSCALE)) {
			s->wscale = 0;
			r->wscale = 0;
		}
		s->flags |= CTG_PEER_LIBERAL;
		c->flags |= CTG_CONN_SYN_ORIG;
		return CTG_R_NONE;
	}
	if (dir == 0 && s->state == CTG_TCPS_SYN_SENT &&
	    (r->state == CTG_TCPS_LISTEN || r->state == CTG_TCPS_NONE)) {
		if (p->tcp.seq == s->isn) {
			/* its answer may echo this SYN's timestamp (tsecr_bad) */
			if (p->tcp.opt.has_timestamp && (s->flags & CTG_PEER_TS) &&
			    SEQ_GT(p->tcp.opt.tsval, s->td_maxack))
				s->td_maxack = p->tcp.opt.tsval;
			return CTG_R_TCP_SYN_RETRANSMIT;
		}
		/* a new ISN on an unanswered attempt: start over from it */
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_SENT;
		return CTG_R_TCP_SYN_RETRANSMIT;
	}
	if (dir == 1 && r->state == CTG_TCPS_SYN_SENT &&
	    (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_NONE)) {
		/* simultaneous open: the responder sent its own SYN */
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_SENT;
		settle_wscale(c);
		return CTG_R_TCP_SIMULTANEOUS_OPEN;
	}
	if (dir == 1 && s->state == CTG_TCPS_SYN_SENT && p->tcp.seq == s->isn)
		return CTG_R_TCP_SYN_RETRANSMIT;
	/* the SYN/ACK was lost past this box: the client sends its SYN again */
	if (dir == 0 && s->state == CTG_TCPS_SYN_SENT && r->state == CTG_TCPS_SYN_RCVD &&
	    p->tcp.seq == s->isn)
		return CTG_R_TCP_SYN_RETRANSMIT;
	if (dir == 1 && s->state == CTG_TCPS_SYN_RCVD)
		return CTG_R_TCP_SYN_WRONG_DIR;
	if (dir == 0) {
		/*
		 * A SYN from the originator on a tuple we still hold: its host
		 * may have rebooted or a NAT may have reused the port. Let it
		 * through without moving anything, as nf_conntrack does (sIG),
		 * and let the peer's answer decide: a challenge ACK (RFC 5961
		 * 4.2; tcp_check_req() answers a half-open one with an ACK too)
		 * draws the client's RST, which is exact and closes, and the
		 * retransmitted SYN then reopens; a SYN/ACK for it
		 * re-initialises the entry (tcp_synack).
		 */
		s->xflags |= CTG_PEERX_SYN_NOTED;
		s->syn_wscale = p->tcp.opt.has_wscale ? p->tcp.opt.wscale : 0;
		return CTG_R_TCP_SYN_HELD;
	}
	return CTG_R_TCP_SYN_ON_ESTABLISHED;
}

/*
 * The responder answered a SYN that was passed on a held tuple with a
 * SYN/ACK: client and server agree on a new connection and only the box
 * is out of sync, so start over from the SYN/ACK (nf_conntrack "get in
 * sync from the previously annotated values"). The SYN/ACK echoes only
 * the options the SYN offered (RFC 7323 1.3, RFC 2018), so it tells us
 * which the client used; its ack gives the client's ISN.
 */
static void
tcp_reinit_from_synack(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint8_t ws = r->syn_wscale;
	bool md5 = p->tcp.opt.has_md5;

	memset(r, 0, sizeof(*r));
	r->isn = p->tcp.ack - 1;
	r->td_end = p->tcp.ack;
	r->td_maxwin = 65535;           /* a SYN's window is never scaled */
	r->flags = CTG_PEER_SEEN;
	if (p->tcp.opt.has_wscale) {
		r->flags |= CTG_PEER_WSCALE;
		r->wscale = ws;
	}
	if (p->tcp.opt.sack_permitted)
		r->flags |= CTG_PEER_SACK_PERM;
	if (p->tcp.opt.has_timestamp) {
		r->flags |= CTG_PEER_TS;
		r->last_tsval = p->tcp.opt.tsecr;
		r->td_maxack = p->tcp.opt.tsecr;
	}
	if (md5)
		r->xflags |= CTG_PEERX_MD5;
	r->state = CTG_TCPS_SYN_SENT;
	peer_init_syn(s, p);
	s->state = CTG_TCPS_SYN_RCVD;
	settle_wscale(c);
	r->td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
	s->td_maxend = s->td_end + r->td_maxwin;
	c->fin_ooo[0] = c->fin_ooo[1] = 0;
	c->flags &= (uint16_t)~(CTG_CONN_ASSURED | CTG_CONN_CHALLENGE | CTG_CONN_CLOSED |
	    CTG_CONN_FIN_ORIG | CTG_CONN_FIN_RESP | CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP);
	c->flags |= CTG_CONN_SYN_ORIG | (dir == 1 ? CTG_CONN_SYNACK : 0);
}

/* A SYN/ACK on a connection in the table: the answer, a copy, or refused. */
static enum ctg_reason
tcp_synack(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];

	tracker_hist_add(c, dir, H_SYNACK);
	if (dir == 1 && p->tcp.seq != s->isn && (r->xflags & CTG_PEERX_SYN_NOTED) &&
	    !(c->flags & CTG_CONN_FLIPPED)) {
		tcp_reinit_from_synack(c, dir, p);
		return CTG_R_TCP_RESYNC;
	}
	if (conn_dead(c))
		return CTG_R_TCP_CLOSED;
	/* normal answer, or the second half of a simultaneous open */
	/*
	 * simultaneous open: the second SYN/ACK, from either side (they
	 * cross); the originator's only if the responder sent a SYN
	 */
	bool second_simul = r->state == CTG_TCPS_SYN_RCVD &&
	    s->state == CTG_TCPS_SYN_SENT &&
	    (dir == 1 || tracker_hist_has(c, 1, 'S', false));
	if ((r->state == CTG_TCPS_SYN_SENT &&
	    (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_SYN_SENT ||
	    s->state == CTG_TCPS_NONE)) || second_simul) {
		if (dir == 0 && s->state != CTG_TCPS_SYN_SENT)
			return CTG_R_TCP_SYNACK_WRONG_DIR;
		/* TFO: the SYN/ACK may acknowledge only the SYN, not its data */
		if (SEQ_LT(p->tcp.ack, r->isn + 1) || SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_SYNACK_BAD_ACK;
		if (dir == 1 && !second_simul && tsecr_bad(r, p))
			return CTG_R_TCP_BAD_TSECR;
		/* in a simultaneous open it must carry the SYN's own ISN */
		bool simultaneous = s->state == CTG_TCPS_SYN_SENT;
		if ((simultaneous || second_simul) && p->tcp.seq != s->isn)
			return CTG_R_TCP_SYNACK_UNEXPECTED;
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_RCVD;
		settle_wscale(c);
		if (second_simul) {
			/* both SYN/ACKs crossed: each side has the other's SYN acked */
			s->state = CTG_TCPS_ESTABLISHED;
			r->state = CTG_TCPS_ESTABLISHED;
			c->flags |= CTG_CONN_ASSURED;
		}
		r->td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
		r->flags &= ~CTG_PEER_UNACKED;
		/* until the third ACK, the SYN's (unscaled) window bounds the answer */
		s->td_maxend = s->td_end + (r->td_maxwin ? r->td_maxwin : 1);
		if (dir == 1)
			c->flags |= CTG_CONN_SYNACK;
		if (p->payload_len) {
			tracker_hist_add(c, dir, H_DATA);
			return CTG_R_TCP_SYN_DATA;
		}
		return CTG_R_NONE;
	}
	/*
	 * A SYN/ACK with a new ISN answering the (retransmitted) SYN while
	 * the first SYN/ACK is unacknowledged: SYN cookies, load balancers
	 * and TFO fallback send them, and the client takes it. nf_conntrack
	 * re-initialises the responder ("re-init state for retransmitted
	 * syn-ack", tcp_in_window()); so do we, if it acks the SYN and
	 * echoes its timestamp.
	 */
	if (dir == 1 && s->state == CTG_TCPS_SYN_RCVD && r->state == CTG_TCPS_SYN_SENT &&
	    p->tcp.seq != s->isn && !(s->flags & CTG_PEER_LIBERAL) &&
	    !(c->flags & CTG_CONN_FLIPPED)) {
		if (SEQ_LT(p->tcp.ack, r->isn + 1) || SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_SYNACK_BAD_ACK;
		if (tsecr_bad(r, p))
			return CTG_R_TCP_BAD_TSECR;
		peer_init_syn(s, p);
		s->state = CTG_TCPS_SYN_RCVD;
		settle_wscale(c);
		r->td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
		s->td_maxend = s->td_end + (r->td_maxwin ? r->td_maxwin : 1);
		return CTG_R_TCP_RESYNC;
	}
	if (dir == 0 && !(c->flags & CTG_CONN_FLIPPED) &&
	    s->state != CTG_TCPS_SYN_RCVD)
		return CTG_R_TCP_SYNACK_WRONG_DIR;
	/* a late copy of the SYN/ACK already seen, acking the same SYN */
	if ((s->flags & CTG_PEER_SEEN) && p->tcp.seq == s->isn &&
	    !(s->flags & CTG_PEER_LIBERAL)) {
		if (SEQ_LT(p->tcp.ack, r->isn + 1) || SEQ_GT(p->tcp.ack, r->td_end))
			return CTG_R_TCP_SYNACK_BAD_ACK;
		return CTG_R_TCP_SYN_RETRANSMIT;
	}
	return CTG_R_TCP_SYNACK_UNEXPECTED;
}

/* The history letters (and data flags) of a segment tcp_segment() passed. */
static void
segment_letters(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    enum ctg_reason why)
{
	uint8_t f = p->tcp.flags;

	if (p->payload_len) {
		tracker_hist_add(c, dir, H_DATA);
		c->flags |= dir == 0 ? CTG_CONN_DATA_ORIG : CTG_CONN_DATA_RESP;
	} else if (!(f & CTG_TH_FIN))
		tracker_hist_add(c, dir, H_ACK);
	if (why == CTG_R_TCP_RETRANSMIT)
		tracker_hist_add(c, dir, H_RETRANS);
	if (p->tcp.window == 0 && !(f & (CTG_TH_RST | CTG_TH_FIN)))
		tracker_hist_add(c, dir, H_ZEROWIN);
}

/* ACK, data or FIN|ACK on a connection in the table: the window decides. */
static enum ctg_reason tcp_after_rst(struct ctg_conn *c, uint8_t dir,
    const struct ctg_packet *p, uint64_t now_us, uint64_t grace_us);

static enum ctg_reason
tcp_segment(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, uint64_t grace_us)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint8_t f = p->tcp.flags;
	enum ctg_reason why;

	/* ACK class: ACK, data, FIN|ACK. */
	if (conn_dead(c) && !(c->peer[0].state == CTG_TCPS_TIME_WAIT ||
	    c->peer[1].state == CTG_TCPS_TIME_WAIT || c->peer[0].state == CTG_TCPS_LAST_ACK ||
	    c->peer[1].state == CTG_TCPS_LAST_ACK)) {
		if (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP))
			return tcp_after_rst(c, dir, p, now_us, grace_us);
	}

	/* The handshake is not complete: only the third ACK may come from the originator. */
	if (dir == 0 && s->state == CTG_TCPS_SYN_SENT && r->state != CTG_TCPS_SYN_RCVD &&
	    !(c->flags & CTG_CONN_FLIPPED))
		return CTG_R_TCP_ACK_BEFORE_SYNACK;
	if (dir == 1 && (s->state == CTG_TCPS_LISTEN || s->state == CTG_TCPS_NONE) &&
	    r->state == CTG_TCPS_SYN_SENT) {
		/* the responder ACKs a SYN: a challenge ACK from a stale connection */
		if (p->payload_len || (f & CTG_TH_FIN))
			return CTG_R_TCP_DATA_BEFORE_ESTABLISHED;
		c->flags |= CTG_CONN_CHALLENGE;
		/* the originator's RST must carry this ack (tcp_rst) */
		s->td_maxack = p->tcp.ack;
		tracker_hist_add(c, dir, H_ACK);
		return CTG_R_TCP_CHALLENGE_ACK;
	}
	/*
	 * Responder data before the third ACK is an injection (Suricata's
	 * 3WHS_ACK_DATA_INJECT), except under TCP Fast Open: a server whose
	 * SYN/ACK acknowledged the SYN's data may answer at once (RFC 7413).
	 */
	if (dir == 1 && s->state == CTG_TCPS_SYN_RCVD && r->state == CTG_TCPS_SYN_SENT &&
	    (p->payload_len || (f & CTG_TH_FIN)) && !(c->flags & CTG_CONN_FLIPPED) &&
	    !SEQ_GT(s->td_maxack, r->isn + 1))
		return CTG_R_TCP_DATA_BEFORE_ESTABLISHED;
	if ((f & CTG_TH_FIN) && (s->state == CTG_TCPS_SYN_SENT ||
	    s->state == CTG_TCPS_LISTEN) && r->state != CTG_TCPS_SYN_RCVD)
		return CTG_R_TCP_FIN_BEFORE_ESTABLISHED;
	/*
	 * PAWS (RFC 7323 5.3): the receiver discards the segment. A FIN
	 * would move the close, so it is INVALID; data and ACKs pass (the
	 * receiver drops them itself and the sender resends with a current
	 * timestamp) but move nothing here either.
	 */
	if (paws_fails(c, s, p, now_us)) {
		if (f & CTG_TH_FIN)
			return CTG_R_TCP_PAWS;
		return CTG_R_TCP_PAWS_IGNORED;
	}

	/* Third ACK must acknowledge the SYN/ACK exactly or beyond. */
	bool third_ack = s->state == CTG_TCPS_SYN_SENT && r->state == CTG_TCPS_SYN_RCVD;
	if (third_ack && !(r->flags & CTG_PEER_LIBERAL) && SEQ_LT(p->tcp.ack, r->isn + 1))
		return CTG_R_TCP_ACK_BELOW_WINDOW;
	/* In a simultaneous open each side ACKs the other's SYN/ACK. */
	bool simul_ack = s->state == CTG_TCPS_SYN_RCVD && r->state == CTG_TCPS_SYN_RCVD;

	bool liberal_before = (s->flags | r->flags) & CTG_PEER_LIBERAL;
	bool fin_in_order;
	why = tcp_window(c, dir, p, ts_recent_void(c, s, now_us), &fin_in_order);
	if (ctg_reason_class(why) == CTG_RC_INVALID)
		return why;

	if (third_ack || simul_ack || (s->state == CTG_TCPS_SYN_RCVD &&
	    r->state == CTG_TCPS_ESTABLISHED)) {
		if (s->state == CTG_TCPS_SYN_SENT || s->state == CTG_TCPS_SYN_RCVD)
			s->state = CTG_TCPS_ESTABLISHED;
		if (r->state == CTG_TCPS_SYN_RCVD && third_ack)
			r->state = CTG_TCPS_ESTABLISHED;
		if (simul_ack)
			s->state = CTG_TCPS_ESTABLISHED;
		c->flags |= CTG_CONN_ASSURED;
	}
	if (liberal_before && !(c->flags & CTG_CONN_MIDSTREAM) && (c->flags & CTG_CONN_SEEN_REPLY)) {
		/*
		 * Restored from a checkpoint: each side re-learns its own edges
		 * from the first segment it sends, so the checks stay loose
		 * until both have spoken since the restart.
		 */
		s->flags &= ~CTG_PEER_LIBERAL;
	} else if (liberal_before && (c->flags & CTG_CONN_SEEN_REPLY) &&
	    (s->flags & CTG_PEER_SEEN) && (r->flags & CTG_PEER_SEEN)) {
		/* Both directions seen: the picked-up connection is now judged normally. */
		s->flags &= ~CTG_PEER_LIBERAL;
		r->flags &= ~CTG_PEER_LIBERAL;
		c->flags |= CTG_CONN_ASSURED;
	}

	/* The close: acks of the other side's FIN first, then our own FIN. */
	if ((f & CTG_TH_ACK) && (r->flags & CTG_PEER_FIN) && SEQ_GEQ(p->tcp.ack, r->td_end))
		tracker_tcp_ack_of_fin(c, dir);
	if (f & CTG_TH_FIN)
		tracker_hist_add(c, dir, H_FIN);
	if (fin_in_order)
		tracker_tcp_sent_fin(c, dir);
	segment_letters(c, dir, p, why);
	return why;
}

static bool
synchronized(uint8_t st)
{
	return st >= CTG_TCPS_ESTABLISHED && st != CTG_TCPS_TIME_WAIT;
}

/*
 * A segment after an accepted RST. The receiver of the RST normally has
 * no connection any more, and the segment is INVALID tcp_closed. But an
 * endpoint may ignore an RST for reasons no box can see (TCP-MD5 or AO
 * keys, its own rules), and cutting a live session is worse than holding
 * an entry a little longer: for rst_grace after the RST, a segment that
 * fits the connection as it was passes (NOTE tcp_rst_grace) without
 * refreshing the timer; once both sides have gone on, the connection is
 * revived (NOTE tcp_revived, counted and logged like every reason).
 */
static enum ctg_reason
tcp_after_rst(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, uint64_t grace_us)
{
	uint8_t os = (uint8_t)(c->fin_ooo[0] & 0xff), rs = (uint8_t)(c->fin_ooo[0] >> 8);

	if (!grace_us || now_us - c->last_us > grace_us || !synchronized(os) ||
	    !synchronized(rs) || os >= CTG_TCPS_COUNT || rs >= CTG_TCPS_COUNT)
		return CTG_R_TCP_CLOSED;

	struct ctg_conn tmp = *c;

	tmp.peer[0].state = os;
	tmp.peer[1].state = rs;
	tmp.fin_ooo[0] = tmp.fin_ooo[1] = 0;
	tmp.peer[0].xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
	tmp.peer[1].xflags &= (uint8_t)~CTG_PEERX_FIN_OOO;
	tmp.flags &= (uint16_t)~(CTG_CONN_CLOSED | CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP);
	enum ctg_reason why = tcp_segment(&tmp, dir, p, now_us, 0);
	if (ctg_reason_class(why) == CTG_RC_INVALID)
		return CTG_R_TCP_CLOSED;
	uint16_t went_on = (uint16_t)(c->fin_ooo[1] | (dir == 0 ? 1 : 2));
	if (went_on != 3) {
		/* keep what the segment moved, the entry stays closed */
		c->peer[0] = tmp.peer[0];
		c->peer[1] = tmp.peer[1];
		memcpy(c->history, tmp.history, sizeof(c->history));
		c->fin_ooo[0] = (uint16_t)(tmp.peer[0].state | tmp.peer[1].state << 8);
		c->fin_ooo[1] = went_on;
		c->peer[0].state = CTG_TCPS_CLOSED;
		c->peer[1].state = CTG_TCPS_CLOSED;
		return CTG_R_TCP_RST_GRACE;
	}
	*c = tmp;
	return CTG_R_TCP_REVIVED;
}

/* A segment of a connection already in the table, flags known valid. */
static enum ctg_reason
tcp_existing(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, uint64_t grace_us, bool *reopen)
{
	uint8_t f = p->tcp.flags;

	*reopen = false;
	/*
	 * A TCP-MD5 option on a connection whose SYNs carried none: the
	 * receiving stack has no key for it and drops the segment (Linux
	 * tcp_inbound_hash(), TCPMD5Unexpected), so it must move nothing,
	 * in particular an RST must not close the flow.
	 */
	if (p->tcp.opt.has_md5 && !(f & CTG_TH_SYN) && (c->flags & CTG_CONN_SYN_ORIG) &&
	    !((c->peer[0].flags | c->peer[1].flags) & CTG_PEER_LIBERAL) &&
	    !((c->peer[0].xflags | c->peer[1].xflags) & CTG_PEERX_MD5)) {
		if (f & CTG_TH_RST)
			tracker_hist_add(c, dir, H_RST);
		return CTG_R_TCP_MD5_UNEXPECTED;
	}
	if (f & CTG_TH_RST) {
		tracker_hist_add(c, dir, H_RST);
		if (conn_dead(c) && (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)))
			return CTG_R_TCP_CLOSED;
		return tcp_rst(c, dir, p, now_us);
	}
	if ((f & (CTG_TH_SYN | CTG_TH_ACK)) == CTG_TH_SYN)
		return tcp_syn(c, dir, p, now_us, reopen);
	if ((f & (CTG_TH_SYN | CTG_TH_ACK)) == (CTG_TH_SYN | CTG_TH_ACK))
		return tcp_synack(c, dir, p);
	return tcp_segment(c, dir, p, now_us, grace_us);
}

/* Flags no stack sends: INVALID, and Zeek's letter if the connection is known. */
static void
tcp_bad_flags(struct ctg_conn *c, uint8_t dir, uint8_t f, enum ctg_reason why,
    struct ctg_track_result *res)
{
	if (c) {
		res->conn = c;
		res->dir = dir;
		res->before[0] = res->after[0] = c->peer[0].state;
		res->before[1] = res->after[1] = c->peer[1].state;
		/* Zeek's letters: q for SYN with FIN or RST, i for FIN with RST */
		if ((f & CTG_TH_SYN) && (f & (CTG_TH_FIN | CTG_TH_RST)))
			tracker_hist_add(c, dir, H_MULTIFLAG);
		else if ((f & (CTG_TH_FIN | CTG_TH_RST)) == (CTG_TH_FIN | CTG_TH_RST))
			tracker_hist_add(c, dir, H_INCONSISTENT);
		else if (f & CTG_TH_FIN)
			tracker_hist_add(c, dir, H_FIN);
	}
	res->ctstate = CTG_CT_INVALID;
	res->reason = why;
}

/*
 * Offload. Once the kernel passes an offloaded connection's segments
 * without SYN, FIN or RST, our edges stop where they were at the offload:
 * the segments still coming here are its SYN, FIN and RST, and those the
 * kernel's conntrack calls INVALID. How far the endpoints moved meanwhile
 * is not known here (the kernel's counters are read off the packet path,
 * at the end), so a FIN or RST is judged against a bounded region: its
 * sequence number at most a window behind the sender's last known edge
 * and at most OFFLOAD_SPAN ahead, and its ack (if any) not older than the
 * sender's last ack by more than the usual margin and at most OFFLOAD_SPAN
 * beyond what the other side had sent. Inside, both edges jump to the
 * segment and it is then judged as usual (an RST is then exact), with the
 * note tcp_offload_resync saying the check was made without full
 * knowledge; outside, it is judged against the stale edges and is
 * INVALID with its usual reason. The endpoint's own check (RFC 5961)
 * still applies to what passes. SYNs are judged as usual (a SYN inside an
 * established connection is INVALID whatever the edges).
 */
#define OFFLOAD_SPAN (1u << 30)

/* seq in [lo, lo + span] in sequence space */
static bool
seq_within(uint32_t seq, uint32_t lo, uint32_t span)
{
	return (uint32_t)(seq - lo) <= span;
}

static bool
offload_plausible(const struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p)
{
	const struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint32_t back = r->td_maxwin ? r->td_maxwin : 1;
	uint32_t maxackwin = s->td_maxwin > MAXACKWINDOW_MIN ? s->td_maxwin : MAXACKWINDOW_MIN;

	if (!seq_within(p->tcp.seq, s->td_end - back, back + OFFLOAD_SPAN))
		return false;
	if (p->tcp.flags & CTG_TH_ACK) {
		uint32_t lo = ((s->flags & CTG_PEER_MAXACK) ? s->td_maxack : r->td_end) - maxackwin;

		if (!seq_within(p->tcp.ack, lo, r->td_end + OFFLOAD_SPAN - lo))
			return false;
	}
	return true;
}

/* Move both edges forward to a plausible FIN or RST of an offloaded connection. */
static void
offload_jump(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p)
{
	struct ctg_tcp_peer *s = &c->peer[dir], *r = &c->peer[!dir];
	uint32_t end = seg_end(p);

	if (SEQ_GT(p->tcp.seq, s->td_end)) {
		s->td_end = p->tcp.seq;
		s->xflags &= (uint8_t)~(CTG_PEERX_OOO | CTG_PEERX_FIN_OOO);
	}
	if (SEQ_GT(end, s->td_maxend))
		s->td_maxend = end;
	if ((p->tcp.flags & CTG_TH_ACK) && SEQ_GT(p->tcp.ack, r->td_end)) {
		r->td_end = p->tcp.ack;
		r->xflags &= (uint8_t)~(CTG_PEERX_OOO | CTG_PEERX_FIN_OOO);
		if (SEQ_GT(r->td_end, r->td_maxend))
			r->td_maxend = r->td_end;
	}
}

/*
 * A segment of an offloaded connection: resync from a plausible FIN or
 * RST (undone if the segment is INVALID all the same), and name a refused
 * segment without SYN, FIN or RST for what it is: the kernel refused it
 * first, or it would not have come here.
 */
static enum ctg_reason
tcp_offloaded(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p,
    uint64_t now_us, uint64_t grace_us, bool *reopen)
{
	uint8_t f = p->tcp.flags;
	enum ctg_reason why;

	*reopen = false;
	if (!(f & (CTG_TH_SYN | CTG_TH_FIN | CTG_TH_RST))) {
		/*
		 * In flight when the mark was given (inside our edges), or
		 * refused by the kernel: its edges are ahead of ours, so what
		 * its window refuses (beyond it, or acking what was not sent)
		 * ours refuse too; what lies below its window it ignores and
		 * passes itself.
		 */
		why = tcp_existing(c, dir, p, now_us, grace_us, reopen);
		return ctg_reason_class(why) == CTG_RC_INVALID ?
		    CTG_R_TCP_OFFLOAD_KERNEL_INVALID : why;
	}
	if ((f & CTG_TH_SYN) || ((c->peer[0].flags | c->peer[1].flags) & CTG_PEER_LIBERAL) ||
	    !offload_plausible(c, dir, p))
		return tcp_existing(c, dir, p, now_us, grace_us, reopen);

	struct ctg_tcp_peer saved[2] = { c->peer[0], c->peer[1] };

	offload_jump(c, dir, p);
	why = tcp_existing(c, dir, p, now_us, grace_us, reopen);
	if (ctg_reason_class(why) == CTG_RC_INVALID) {
		c->peer[0] = saved[0];
		c->peer[1] = saved[1];
		return why;
	}
	/*
	 * The second FIN: the ACK that answers it carries no flag, so the
	 * kernel passes it unseen; count it, or the close would end as an
	 * idle timeout in LAST_ACK.
	 */
	struct ctg_tcp_peer *s = &c->peer[dir];
	if ((f & CTG_TH_FIN) && (s->flags & c->peer[!dir].flags & CTG_PEER_FIN) &&
	    (s->state == CTG_TCPS_LAST_ACK || s->state == CTG_TCPS_CLOSING))
		tracker_tcp_ack_of_fin(c, !dir);
	return why == CTG_R_NONE ? CTG_R_TCP_OFFLOAD_RESYNC : why;
}

void
ctg_tracker_offload(struct ctg_tracker *t, struct ctg_conn *c)
{
	if (c->tuple.proto == IPPROTO_UDP)
		tracker_datagram_offload(t, c);
	if (c->tuple.proto != IPPROTO_TCP)
		return;
	c->proto_state |= CTG_CONN_OFFLOADED;
	tracker_tcp_set_tclass(t, c);
}

/*
 * Loose midstream, asymmetric routing: the originator's first segment
 * after its SYN continues that SYN's sequence (the third ACK, or data; a
 * FIN comes after the third ACK, and a FIN|ACK before any SYN/ACK stays
 * INVALID as in the kernel, tests/e2e/diff tcp_fin_before_established), but
 * no SYN/ACK came by: the responder's answers take another path. Loose
 * picks up what it cannot see (tcp_pickup_ack), so the entry becomes a
 * pick-up of the responder's side with the originator's edges as its SYN
 * set them, and both judged liberally, instead of every segment being
 * INVALID tcp_ack_before_synack for as long as the flow lives. A blind
 * forger needs the SYN's sequence number, and loose picks up any ACK of an
 * unknown tuple anyway. Nothing from the responder means the entry stays
 * unanswered (tracker_tcp_set_tclass): never protected from eviction.
 * nf_conntrack marks such ACKs INVALID (sSS -> sIV); strict keeps that.
 */
static bool
tcp_pickup_one_sided(struct ctg_conn *c, uint8_t dir, const struct ctg_packet *p)
{
	struct ctg_tcp_peer *s = &c->peer[0], *r = &c->peer[1];
	uint8_t f = p->tcp.flags;

	if (dir != 0 || (f & (CTG_TH_SYN | CTG_TH_RST | CTG_TH_FIN)) || !(f & CTG_TH_ACK) ||
	    s->state != CTG_TCPS_SYN_SENT || r->state != CTG_TCPS_LISTEN ||
	    (c->flags & (CTG_CONN_FLIPPED | CTG_CONN_SEEN_REPLY | CTG_CONN_SYNACK)) ||
	    SEQ_LT(p->tcp.seq, s->isn + 1) || SEQ_GT(p->tcp.seq, s->td_end))
		return false;
	uint8_t ws = (s->flags & CTG_PEER_WSCALE) ? CTG_TCP_MAX_WSCALE : 0;

	s->state = CTG_TCPS_ESTABLISHED;
	s->flags |= CTG_PEER_LIBERAL;
	s->td_maxend = p->tcp.seq + ((uint32_t)(p->tcp.window ? p->tcp.window : 1) << ws);
	r->state = CTG_TCPS_ESTABLISHED;
	r->flags = CTG_PEER_LIBERAL | CTG_PEER_SACK_PERM;
	r->wscale = ws;
	r->td_end = p->tcp.ack;
	r->td_maxwin = 1;
	r->td_maxend = p->tcp.ack;
	c->flags |= CTG_CONN_MIDSTREAM;
	return true;
}

/* Picked up by tcp_pickup_one_sided: a SYN seen, nothing from the responder. */
static bool
tcp_one_sided(const struct ctg_conn *c)
{
	return (c->flags & (CTG_CONN_MIDSTREAM | CTG_CONN_SYN_ORIG | CTG_CONN_SEEN_REPLY |
	    CTG_CONN_SYNACK | CTG_CONN_FLIPPED)) == (CTG_CONN_MIDSTREAM | CTG_CONN_SYN_ORIG) &&
	    !(c->peer[1].flags & CTG_PEER_SEEN);
}

/*
 * The responder's SYN/ACK reaches a one-sided pick-up after all: the path
 * is symmetric and the segments taken for the pick-up came early (or were
 * forged by someone who saw the SYN). Back to SYN_SENT/LISTEN, so that
 * the SYN/ACK is judged as the answer to the SYN it is (tcp_synack) and
 * the real handshake is not cut; nf_conntrack, which never picked up,
 * takes the SYN/ACK the same way.
 */
static void
tcp_unpick_one_sided(struct ctg_conn *c, const struct ctg_packet *p)
{
	struct ctg_tcp_peer *s = &c->peer[0];

	s->state = CTG_TCPS_SYN_SENT;
	s->flags &= (uint8_t)~(CTG_PEER_LIBERAL | CTG_PEER_FIN | CTG_PEER_UNACKED);
	/* the originator's edge is what the SYN/ACK takes of it (tcp_synack bounds it) */
	if (SEQ_GEQ(p->tcp.ack, s->isn + 1) && SEQ_LEQ(p->tcp.ack, s->td_end))
		s->td_end = p->tcp.ack;
	s->td_maxend = s->td_end;
	memset(&c->peer[1], 0, sizeof(c->peer[1]));
	c->peer[1].state = CTG_TCPS_LISTEN;
	c->flags &= (uint16_t)~CTG_CONN_MIDSTREAM;
}

/*
 * A segment of a connection in the table. True when it reopened the
 * tuple: the old connection is ended and the caller opens the new one.
 */
static bool
tcp_known(struct ctg_tracker *t, struct ctg_conn *c, uint8_t dir,
    const struct ctg_packet *p, uint64_t now_us, struct ctg_track_result *res)
{
	bool reopen;
	uint64_t last_before = c->last_us;
	enum ctg_reason why;

	res->conn = c;
	res->dir = dir;
	res->before[0] = c->peer[0].state;
	res->before[1] = c->peer[1].state;
	/*
	 * Just after a restore from a checkpoint the first burst holds
	 * segments of both sides in any order, acking data the checkpoint
	 * never saw sent: restored connections re-learn their edges from
	 * every segment until relearn_until_us, and from each side's next
	 * segment after it (tcp_segment).
	 */
	uint8_t relearn = now_us < t->relearn_until_us && !(c->flags & CTG_CONN_MIDSTREAM) ?
	    (uint8_t)((c->peer[0].flags & CTG_PEER_LIBERAL) | ((c->peer[1].flags & CTG_PEER_LIBERAL) << 1)) : 0;
	/*
	 * Applied from another gateway: its edges may lag (tracker-sync.c).
	 * A segment within a window of them is tried strictly on a copy
	 * first; only if that refuses it does it re-learn the edges.
	 */
	uint8_t synced = t->sync_of ? tracker_sync_relearn_begin(t, c, dir, p, now_us) : 0;
	if (synced == SYNC_RELEARN_CANDIDATE) {
		struct ctg_conn trial = *c;
		bool trial_reopen;

		if (ctg_reason_class(tcp_existing(&trial, dir, p, now_us, t->rst_grace_us,
		    &trial_reopen)) != CTG_RC_INVALID)
			synced = SYNC_RELEARN_STRICT;
		else {
			c->peer[dir].flags |= CTG_PEER_LIBERAL;
			synced = SYNC_RELEARN_LOOSE;
		}
	}
	struct ctg_conn undo;
	bool one_sided = false, unpicked = false;

	if (t->midstream == CTG_MIDSTREAM_LOOSE && dir == 0 &&
	    c->peer[0].state == CTG_TCPS_SYN_SENT) {
		undo = *c;
		one_sided = tcp_pickup_one_sided(c, dir, p);
	} else if (dir == 1 && (p->tcp.flags & (CTG_TH_SYN | CTG_TH_ACK | CTG_TH_RST)) ==
	    (CTG_TH_SYN | CTG_TH_ACK) && tcp_one_sided(c)) {
		undo = *c;
		tcp_unpick_one_sided(c, p);
		unpicked = true;
	}
	if (c->proto_state & CTG_CONN_OFFLOADED)
		why = tcp_offloaded(c, dir, p, now_us, t->rst_grace_us, &reopen);
	else
		why = tcp_existing(c, dir, p, now_us, t->rst_grace_us, &reopen);
	if ((one_sided || unpicked) && !reopen && ctg_reason_class(why) == CTG_RC_INVALID)
		*c = undo;              /* an INVALID segment moves nothing */
	else if (one_sided && why == CTG_R_NONE)
		why = CTG_R_TCP_MIDSTREAM;
	if (synced)
		tracker_sync_relearn_end(t, c, dir, synced, reopen ? CTG_R_TCP_REOPEN : why);
	if (relearn && !reopen) {
		c->peer[0].flags |= relearn & CTG_PEER_LIBERAL;
		c->peer[1].flags |= (relearn >> 1) & CTG_PEER_LIBERAL;
	}
	if (reopen) {
		tracker_conn_end(t, c, CTG_END_REOPENED, now_us);
		res->conn = NULL;
		return true;
	}
	res->reason = why;
	res->after[0] = c->peer[0].state;
	res->after[1] = c->peer[1].state;
	if (ctg_reason_class(why) == CTG_RC_INVALID) {
		res->ctstate = CTG_CT_INVALID;
		return false;
	}
	c->last_us = now_us;
	c->peer[dir].flags |= CTG_PEER_SEEN;
	if (dir == 1)
		c->flags |= CTG_CONN_SEEN_REPLY;
	res->ctstate = (dir == 0 && !(c->flags & CTG_CONN_SEEN_REPLY)) ?
	    CTG_CT_NEW : CTG_CT_ESTABLISHED;
	/* a retransmitted SYN must not keep an unanswered entry alive */
	if (why == CTG_R_TCP_SYN_RETRANSMIT && dir == 0 &&
	    !(c->flags & CTG_CONN_SEEN_REPLY))
		c->last_us = last_before;
	/* nor may SYNs passed on a held tuple keep it (nf_conntrack IGNORE) */
	if (why == CTG_R_TCP_SYN_HELD || why == CTG_R_TCP_RST_GRACE)
		c->last_us = last_before;
	tracker_tcp_set_tclass(t, c);
	return false;
}

/* A SYN and no connection: the originator opens one (NULL: table full). */
static struct ctg_conn *
tcp_open_syn(struct ctg_tracker *t, const struct ctg_packet *p, uint64_t now_us,
    bool reopened, enum ctg_reason *why)
{
	struct ctg_conn *c = tracker_conn_new(t, &p->tuple, t->last_hash, now_us);

	if (!c)
		return NULL;
	peer_init_syn(&c->peer[0], p);
	c->peer[0].state = CTG_TCPS_SYN_SENT;
	c->peer[1].state = CTG_TCPS_LISTEN;
	c->flags |= CTG_CONN_SYN_ORIG;
	tracker_hist_add(c, 0, H_SYN);
	if (reopened)
		*why = CTG_R_TCP_REOPEN;
	else if (p->payload_len) {
		*why = CTG_R_TCP_SYN_DATA;
		tracker_hist_add(c, 0, H_DATA);
	} else if (p->tcp.opt.wscale_raw > CTG_TCP_MAX_WSCALE)
		*why = CTG_R_TCP_WSCALE_CLAMPED;
	return c;
}

/* A SYN/ACK first: its receiver is the originator (roles flipped). */
static struct ctg_conn *
tcp_pickup_synack(struct ctg_tracker *t, const struct ctg_packet *p,
    uint64_t now_us, struct ctg_track_result *res)
{
	struct ctg_tuple rev;
	struct ctg_conn *c;

	tuple_reverse(&rev, &p->tuple);
	c = tracker_conn_new(t, &rev, t->last_hash, now_us);
	if (!c)
		return NULL;
	res->dir = 1;
	strcpy(c->history, "^");
	peer_init_syn(&c->peer[1], p);
	c->peer[1].state = CTG_TCPS_SYN_RCVD;
	c->peer[0].isn = p->tcp.ack - 1;
	c->peer[0].td_end = p->tcp.ack;
	c->peer[0].td_maxend = p->tcp.ack + (p->tcp.window ? p->tcp.window : 1);
	c->peer[0].td_maxwin = 1;
	c->peer[0].state = CTG_TCPS_SYN_SENT;
	c->peer[0].flags = CTG_PEER_LIBERAL | CTG_PEER_SACK_PERM;
	/* its SYN went by unseen: if scaling is on, assume the largest shift */
	c->peer[0].wscale = p->tcp.opt.has_wscale ? CTG_TCP_MAX_WSCALE : 0;
	c->flags |= CTG_CONN_MIDSTREAM | CTG_CONN_FLIPPED | CTG_CONN_SYNACK |
	    CTG_CONN_SEEN_REPLY;
	tracker_hist_add(c, 1, H_SYNACK);
	if (p->payload_len)
		tracker_hist_add(c, 1, H_DATA);
	return c;
}

/* An ACK or data first: picked up established, both sides judged liberally. */
static struct ctg_conn *
tcp_pickup_ack(struct ctg_tracker *t, const struct ctg_packet *p, uint64_t now_us)
{
	struct ctg_conn *c = tracker_conn_new(t, &p->tuple, t->last_hash, now_us);

	if (!c)
		return NULL;
	peer_init_midstream(&c->peer[0], p, CTG_TCPS_ESTABLISHED);
	c->peer[1].state = CTG_TCPS_ESTABLISHED;
	c->peer[1].flags = CTG_PEER_LIBERAL | CTG_PEER_SACK_PERM;
	c->peer[1].wscale = CTG_TCP_MAX_WSCALE;
	c->peer[1].td_end = p->tcp.ack;
	c->peer[1].td_maxwin = 1;
	c->peer[1].td_maxend = p->tcp.ack;
	c->peer[0].td_maxend = p->tcp.seq + ((uint32_t)(p->tcp.window ? p->tcp.window : 1) << CTG_TCP_MAX_WSCALE);
	c->flags |= CTG_CONN_MIDSTREAM;
	tracker_hist_add(c, 0, p->payload_len ? H_DATA : H_ACK);
	return c;
}

/* No connection: only a SYN opens one, or a pickup in loose mode. */
static void
tcp_open(struct ctg_tracker *t, const struct ctg_packet *p, uint64_t now_us,
    bool reopened, struct ctg_track_result *res)
{
	uint8_t f = p->tcp.flags;
	enum ctg_reason why = CTG_R_NONE;
	struct ctg_conn *c;

	res->dir = 0;
	if ((f & (CTG_TH_SYN | CTG_TH_ACK)) == CTG_TH_SYN) {
		c = tcp_open_syn(t, p, now_us, reopened, &why);
	} else if (t->midstream == CTG_MIDSTREAM_LOOSE &&
	    (f & (CTG_TH_SYN | CTG_TH_ACK)) == (CTG_TH_SYN | CTG_TH_ACK)) {
		c = tcp_pickup_synack(t, p, now_us, res);
		why = CTG_R_TCP_MIDSTREAM;
	} else if (t->midstream == CTG_MIDSTREAM_LOOSE &&
	    (f & (CTG_TH_SYN | CTG_TH_RST | CTG_TH_FIN)) == 0 && (f & CTG_TH_ACK)) {
		c = tcp_pickup_ack(t, p, now_us);
		why = CTG_R_TCP_MIDSTREAM;
	} else {
		res->ctstate = CTG_CT_INVALID;
		if (f & (CTG_TH_SYN | CTG_TH_RST | CTG_TH_FIN))
			res->reason = CTG_R_TCP_NEW_NOT_SYN;
		else
			res->reason = CTG_R_TCP_NO_CONN;
		return;
	}
	if (!c) {
		res->ctstate = CTG_CT_INVALID;
		res->reason = CTG_R_TABLE_FULL;
		return;
	}
	c->peer[res->dir].flags |= CTG_PEER_SEEN;
	res->conn = c;
	res->created = true;
	res->ctstate = CTG_CT_NEW;
	res->reason = why;
	res->before[0] = res->before[1] = CTG_TCPS_NONE;
	res->after[0] = c->peer[0].state;
	res->after[1] = c->peer[1].state;
	tracker_tcp_set_tclass(t, c);
}

void
tracker_tcp_packet(struct ctg_tracker *t, const struct ctg_packet *p, uint64_t now_us,
    struct ctg_track_result *res)
{
	uint8_t f = p->tcp.flags;
	enum ctg_reason why = tcp_flags_check(f);
	struct ctg_conn *c;
	uint8_t dir = 0;

	c = tracker_conn_find(t, &p->tuple, &dir);
	if (c && expired(t, c, now_us)) {
		tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
		c = NULL;
	}
	if (why != CTG_R_NONE) {
		tcp_bad_flags(c, dir, f, why, res);
		return;
	}
	bool reopened = false;
	if (c) {
		if (!tcp_known(t, c, dir, p, now_us, res))
			return;
		reopened = true;
	}
	tcp_open(t, p, now_us, reopened, res);
}
