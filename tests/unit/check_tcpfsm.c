/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state table of include/ctguard/tcpfsm.h against the real tracker.
 *
 * A breadth-first walk: from "no connection", every segment kind from
 * either side (SYN, SYN/ACK, ACK, data, FIN|ACK, a FIN|ACK that does not
 * yet acknowledge the peer's FIN, a FIN|ACK sent again, RST|ACK), each
 * built to fit the
 * connection as the tracker holds it (the sequence and acknowledgment
 * numbers a well-behaved peer would send), on a fresh loose-midstream
 * tracker replaying the path that led there. Every segment the tracker
 * does not classify INVALID and that moves an endpoint is a move
 * (state before, snd/rcv event, state after) of that endpoint. The set of
 * moves seen must equal the table: a move the table lacks, or a row never
 * seen, fails the test and names it.
 *
 * CTG_FSM_DUMP=1 prints the moves seen as CTG_TCP_FSM rows.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "ctguard/tcpfsm.h"
#include "ctguard/tracker.h"
#include "trackerkit.h"

enum kind { K_SYN, K_SYNACK, K_ACK, K_DATA, K_FIN, K_FIN_NOACK, K_FIN_AGAIN, K_RST, K_COUNT };

static const char *const kind_names[K_COUNT] = {
	"SYN", "SYN/ACK", "ACK", "data", "FIN|ACK", "FIN|ACK (not acking FIN)",
	"FIN|ACK again", "RST|ACK",
};

#define MAX_DEPTH 12
#define MAX_NODES 6000

struct step {
	unsigned char dir, kind;
};

struct node {
	unsigned char len;
	struct step path[MAX_DEPTH];
};

struct key {
	unsigned char exists, o, r;
	uint16_t cflags;
	uint8_t f0, f1;
	uint16_t h0, h1;
};

static struct node *nodes;
static struct key *keys;
static int nnodes;
static bool seen_move[CTG_TCPS_COUNT][CTG_TCPE_COUNT][CTG_TCPS_COUNT];
/* one path that showed each move, for the failure message */
static struct node witness[CTG_TCPS_COUNT][CTG_TCPE_COUNT][CTG_TCPS_COUNT];

static enum ctg_tcp_event
event_of(unsigned kind, bool sent)
{
	switch (kind) {
	case K_SYN: return sent ? CTG_TCPE_SND_SYN : CTG_TCPE_RCV_SYN;
	case K_SYNACK: return sent ? CTG_TCPE_SND_SYNACK : CTG_TCPE_RCV_SYNACK;
	case K_ACK:
	case K_DATA: return sent ? CTG_TCPE_SND_ACK : CTG_TCPE_RCV_ACK;
	case K_FIN:
	case K_FIN_NOACK:
	case K_FIN_AGAIN: return sent ? CTG_TCPE_SND_FIN : CTG_TCPE_RCV_FIN;
	default: return sent ? CTG_TCPE_SND_RST : CTG_TCPE_RCV_RST;
	}
}

/*
 * The segment of this kind a well-behaved endpoint would send now: its
 * next sequence number, acknowledging all the peer sent. false when the
 * kind does not apply (a FIN not acking a FIN the peer never sent).
 */
static bool
make(unsigned dir, unsigned kind, struct ctg_packet *p)
{
	struct ctg_conn *c = find_tcp();
	const struct ctg_tcp_peer *s = c ? &c->peer[dir] : NULL;
	const struct ctg_tcp_peer *r = c ? &c->peer[!dir] : NULL;
	uint32_t isn = dir == 0 ? CISN : SISN, other = dir == 0 ? SISN : CISN;
	/* an endpoint picked up unseen (the originator of a flipped pickup) has td_end */
	uint32_t seq = s && ((s->flags & CTG_PEER_SEEN) || s->td_end) ? s->td_end : isn;
	uint32_t ack = r && r->td_end ? r->td_end : other + 1;

	switch (kind) {
	case K_SYN:
		/* a SYN after the end of a connection reuses it with a newer ISN */
		*p = tcp_pkt((int)dir, CTG_TH_SYN,
		    s && (s->flags & CTG_PEER_SEEN) ? s->td_end + 100000 : isn, 0, WIN, 0);
		return true;
	case K_SYNACK:
		*p = tcp_pkt((int)dir, CTG_TH_SYN | CTG_TH_ACK,
		    s && s->state == CTG_TCPS_SYN_SENT ? s->isn : isn, ack, WIN, 0);
		return true;
	case K_ACK:
		*p = tcp_pkt((int)dir, CTG_TH_ACK, seq, ack, WIN, 0);
		return true;
	case K_DATA:
		*p = tcp_pkt((int)dir, CTG_TH_ACK | CTG_TH_PSH, seq, ack, WIN, 100);
		return true;
	case K_FIN:
		*p = tcp_pkt((int)dir, CTG_TH_FIN | CTG_TH_ACK, seq, ack, WIN, 0);
		return true;
	case K_FIN_NOACK:
		if (!r || !(r->flags & CTG_PEER_FIN))
			return false;
		*p = tcp_pkt((int)dir, CTG_TH_FIN | CTG_TH_ACK, seq, ack - 1, WIN, 0);
		return true;
	case K_FIN_AGAIN:
		/* the sender's FIN retransmitted (its ACK may be new) */
		if (!s || !(s->flags & CTG_PEER_FIN))
			return false;
		*p = tcp_pkt((int)dir, CTG_TH_FIN | CTG_TH_ACK, seq - 1, ack, WIN, 0);
		return true;
	default:
		*p = tcp_pkt((int)dir, CTG_TH_RST | CTG_TH_ACK, seq, ack, WIN, 0);
		return true;
	}
}

#define PEER_MASK (CTG_PEER_FIN | CTG_PEER_LIBERAL | CTG_PEER_SEEN | CTG_PEER_MAXACK)

static struct key
key_now(void)
{
	struct ctg_conn *c = find_tcp();
	struct key k;

	memset(&k, 0, sizeof(k));
	if (!c)
		return k;
	k.exists = 1;
	k.o = c->peer[0].state;
	k.r = c->peer[1].state;
	/* only what the tracker's state decisions read, or the walk never ends */
	k.cflags = c->flags & (CTG_CONN_SEEN_REPLY | CTG_CONN_MIDSTREAM | CTG_CONN_FLIPPED |
	    CTG_CONN_CHALLENGE | CTG_CONN_CLOSED | CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP |
	    CTG_CONN_SYN_ORIG);
	k.f0 = c->peer[0].flags & PEER_MASK;
	k.f1 = c->peer[1].flags & PEER_MASK;
	k.h0 = strchr(c->history, 'S') != NULL;  /* a SYN seen from the originator */
	k.h1 = strchr(c->history, 's') != NULL;  /* ... from the responder */
	return k;
}

static void
print_path(const struct node *n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < n->len && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s %s", i ? ", " : "",
		    n->path[i].dir ? "resp" : "orig", kind_names[n->path[i].kind]);
	if (n->len == 0)
		snprintf(buf, len, "(no connection)");
}

/* Fresh tracker, replay n's path; false if a step is no longer accepted. */
static bool
replay(const struct node *n)
{
	struct ctg_packet p;
	struct ctg_track_result r;

	reset_tracker(64, CTG_MIDSTREAM_LOOSE);
	now = T0;
	nends = 0;
	for (int i = 0; i < n->len; i++) {
		now += 1000;
		if (!make(n->path[i].dir, n->path[i].kind, &p))
			return false;
		r = run(&p);
		if (r.ctstate == CTG_CT_INVALID)
			return false;
	}
	return true;
}

static void
explore(void)
{
	nodes = calloc(MAX_NODES, sizeof(*nodes));
	keys = calloc(MAX_NODES, sizeof(*keys));
	ck_assert_ptr_nonnull(nodes);
	ck_assert_ptr_nonnull(keys);
	nnodes = 1;
	memset(seen_move, 0, sizeof(seen_move));

	for (int q = 0; q < nnodes; q++) {
		for (unsigned dir = 0; dir < 2; dir++) {
			for (unsigned kind = 0; kind < K_COUNT; kind++) {
				struct ctg_packet p;
				struct ctg_track_result r;

				ck_assert_msg(replay(&nodes[q]), "path %d no longer replays", q);
				now += 1000;
				if (!make(dir, kind, &p))
					continue;
				r = run(&p);
				if (r.ctstate == CTG_CT_INVALID) {
					/* refused: nothing may have moved */
					EXPECT_UNCHANGED(r);
					continue;
				}
				bool moved = false;
				for (unsigned e = 0; e < 2; e++) {
					if (r.before[e] == r.after[e])
						continue;
					/* the endpoint dir of the tuple sent it */
					bool sent = e == r.dir;
					enum ctg_tcp_event ev = event_of(kind, sent);

					moved = true;
					if (!seen_move[r.before[e]][ev][r.after[e]]) {
						seen_move[r.before[e]][ev][r.after[e]] = true;
						witness[r.before[e]][ev][r.after[e]] = nodes[q];
						struct node *w = &witness[r.before[e]][ev][r.after[e]];
						if (w->len < MAX_DEPTH)
							w->path[w->len++] = (struct step){ (unsigned char)dir,
							    (unsigned char)kind };
					}
				}
				(void)moved;
				if (nodes[q].len + 1 >= MAX_DEPTH)
					continue;
				struct key k = key_now();
				bool known = false;
				for (int i = 0; i < nnodes && !known; i++)
					known = memcmp(&keys[i], &k, sizeof(k)) == 0;
				if (known)
					continue;
				ck_assert_msg(nnodes < MAX_NODES, "state space larger than %d",
				    MAX_NODES);
				nodes[nnodes] = nodes[q];
				nodes[nnodes].path[nodes[nnodes].len++] =
				    (struct step){ (unsigned char)dir, (unsigned char)kind };
				keys[nnodes] = k;
				nnodes++;
			}
		}
	}
}

static const char *
state_sym(unsigned s)
{
	return s == CTG_TCPS_NONE ? "NONE" : ctg_tcp_state_name((enum ctg_tcp_state)s);
}

static const char *const event_syms[] = {
#define SYM(sym, label) #sym,
	CTG_TCP_EVENTS(SYM)
#undef SYM
};

START_TEST(table_matches_tracker)
{
	bool in_table[CTG_TCPS_COUNT][CTG_TCPE_COUNT][CTG_TCPS_COUNT];
	char buf[1024];
	int bad = 0;

	memset(in_table, 0, sizeof(in_table));
	for (size_t i = 0; i < ctg_tcp_nmoves; i++) {
		const struct ctg_tcp_move *m = &ctg_tcp_moves[i];

		ck_assert_msg(m->from != m->to, "row %zu is a self-loop", i);
		ck_assert_msg(!in_table[m->from][m->event][m->to], "row %zu twice", i);
		in_table[m->from][m->event][m->to] = true;
	}
	explore();
	if (getenv("CTG_FSM_DUMP")) {
		for (unsigned f = 0; f < CTG_TCPS_COUNT; f++) {
			for (unsigned e = 0; e < CTG_TCPE_COUNT; e++) {
				for (unsigned t = 0; t < CTG_TCPS_COUNT; t++) {
					char a[32], b[32];

					if (!seen_move[f][e][t])
						continue;
					snprintf(a, sizeof(a), "%s,", state_sym(f));
					snprintf(b, sizeof(b), "%s,", event_syms[e]);
					printf("\tX(%-12s %-11s %s) \\\n", a, b, state_sym(t));
				}
			}
		}
	}
	for (unsigned f = 0; f < CTG_TCPS_COUNT; f++) {
		for (unsigned e = 0; e < CTG_TCPE_COUNT; e++) {
			for (unsigned t = 0; t < CTG_TCPS_COUNT; t++) {
				if (seen_move[f][e][t] && !in_table[f][e][t]) {
					print_path(&witness[f][e][t], buf, sizeof(buf));
					fprintf(stderr, "tracker moves %s --%s--> %s, the table "
					    "lacks it (after: %s)\n", state_sym(f),
					    ctg_tcp_event_name(e), state_sym(t), buf);
					bad++;
				} else if (!seen_move[f][e][t] && in_table[f][e][t]) {
					fprintf(stderr, "table has %s --%s--> %s, the tracker "
					    "never makes it\n", state_sym(f),
					    ctg_tcp_event_name(e), state_sym(t));
					bad++;
				}
			}
		}
	}
	ck_assert_msg(bad == 0, "%d disagreements between include/ctguard/tcpfsm.h "
	    "and the tracker (explored %d states; see stderr)", bad, nnodes);
	/* the walk reached every one of the eleven states */
	for (unsigned s = CTG_TCPS_CLOSED; s < CTG_TCPS_COUNT; s++) {
		bool reached = false;

		for (unsigned f = 0; f < CTG_TCPS_COUNT; f++)
			for (unsigned e = 0; e < CTG_TCPE_COUNT; e++)
				reached |= seen_move[f][e][s];
		ck_assert_msg(reached, "no move into %s", state_sym(s));
	}
	free(nodes);
	free(keys);
}
END_TEST

/* The classic close, step by step, as the table says it. */
START_TEST(table_walks_the_classic_close)
{
	struct ctg_track_result r;

	reset_tracker(64, CTG_MIDSTREAM_STRICT);
	handshake();
	r = seg(0, CTG_TH_FIN | CTG_TH_ACK, CISN + 1, SISN + 1, WIN, 0);
	ck_assert(ctg_tcp_fsm_has(r.before[0], r.after[0]));
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_1, CTG_TCPS_ESTABLISHED);
	r = seg(1, CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_CLOSE_WAIT);
	ck_assert(ctg_tcp_fsm_has(r.before[0], r.after[0]));
	ck_assert(ctg_tcp_fsm_has(r.before[1], r.after[1]));
	r = seg(1, CTG_TH_FIN | CTG_TH_ACK, SISN + 1, CISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_FIN_WAIT_2, CTG_TCPS_LAST_ACK);
	ck_assert(ctg_tcp_fsm_has(r.before[1], r.after[1]));
	r = seg(0, CTG_TH_ACK, CISN + 2, SISN + 2, WIN, 0);
	EXPECT_AFTER(r, CTG_TCPS_TIME_WAIT, CTG_TCPS_CLOSED);
	ck_assert(ctg_tcp_fsm_has(r.before[0], r.after[0]));
	ck_assert(ctg_tcp_fsm_has(r.before[1], r.after[1]));
	ck_assert(!ctg_tcp_fsm_has(CTG_TCPS_CLOSE_WAIT, CTG_TCPS_FIN_WAIT_2));
	ck_assert_str_eq(ctg_tcp_event_name(CTG_TCPE_RCV_FIN), "rcv FIN");
	ck_assert_str_eq(ctg_tcp_event_name(CTG_TCPE_COUNT), "unknown");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tcpfsm");
	TCase *tc = tcase_create("table");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, table_matches_tracker);
	tcase_add_test(tc, table_walks_the_classic_close);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
