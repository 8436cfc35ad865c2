/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Active/active defer (daemon/defer.c): the worker's table of held
 * verdicts (release by acknowledged token, at the deadline, the oldest
 * when full, everything at a stop; every packet held is answered exactly
 * once) and the sender's book of acknowledgements (every other member
 * must acknowledge; a member leaving no longer counts, a joiner counts as
 * having acknowledged what came before, nobody else means nothing waits,
 * bogus and old acks change nothing, a full book forgets its oldest).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/defer.h"
#include "ctguard/nfq.h"

#define MAXOUT 256

/* What the "queue" received, in order. */
static struct ctg_defer_pkt out[MAXOUT];
static unsigned nout;

static void
sent(void *arg, const struct ctg_defer_pkt *p)
{
	(void)arg;
	ck_assert_uint_lt(nout, MAXOUT);
	out[nout++] = *p;
}

static void
reset(void)
{
	nout = 0;
	memset(out, 0, sizeof(out));
}

static void
hold(struct ctg_defer *d, uint32_t id, uint32_t token, uint64_t now, uint64_t timeout)
{
	struct ctg_defer_pkt p = {
		.id = id, .verdict = CTG_NFQ_ACCEPT, .token = token,
		.held_us = now, .deadline_us = now + timeout,
	};

	ctg_defer_hold(d, &p, sent, NULL);
}

static void
hold_conn(struct ctg_defer *d, uint32_t id, uint32_t token, uint32_t slot, uint64_t now)
{
	struct ctg_defer_pkt p = {
		.id = id, .verdict = CTG_NFQ_ACCEPT, .token = token, .slot = slot,
		.held_us = now, .deadline_us = now + 20000,
	};

	ctg_defer_hold(d, &p, sent, NULL);
}

/*
 * A connection counts as held from its first packet held to its last let
 * go, whichever way they go (ack, deadline, overflow, flush): the worker
 * holds its later packets behind them, so they leave in order.
 */
START_TEST(test_conn_held_until_its_last_goes)
{
	struct ctg_defer d;

	reset();
	ck_assert_int_eq(ctg_defer_init(&d, 3, 8), 0);
	ck_assert(!ctg_defer_conn_held(&d, 3));
	hold_conn(&d, 10, 1, 3, 1000);
	hold_conn(&d, 11, 2, 5, 1100);
	hold_conn(&d, 12, 2, 3, 1200);          /* behind 10 */
	ck_assert(ctg_defer_conn_held(&d, 3));
	ck_assert(ctg_defer_conn_held(&d, 5));
	ck_assert(!ctg_defer_conn_held(&d, 4));
	ck_assert(!ctg_defer_conn_held(&d, CTG_DEFER_NO_SLOT));
	ck_assert_uint_eq(ctg_defer_release(&d, 1, 1300, sent, NULL), 1);
	ck_assert(ctg_defer_conn_held(&d, 3));  /* 12 still waits */
	hold_conn(&d, 13, 3, 7, 1400);
	hold_conn(&d, 14, 3, 7, 1500);          /* full: 11 (slot 5) goes early */
	ck_assert(!ctg_defer_conn_held(&d, 5));
	ck_assert_uint_eq(ctg_defer_release(&d, 2, 1600, sent, NULL), 1);
	ck_assert(!ctg_defer_conn_held(&d, 3));
	ck_assert(ctg_defer_conn_held(&d, 7));
	ck_assert_uint_eq(ctg_defer_flush(&d, 1700, sent, NULL), 2);
	ck_assert(!ctg_defer_conn_held(&d, 7));
	/* in the order they came */
	ck_assert_uint_eq(nout, 5);
	ck_assert_uint_eq(out[0].id, 10);
	ck_assert_uint_eq(out[1].id, 11);
	ck_assert_uint_eq(out[2].id, 12);
	ck_assert_uint_eq(out[3].id, 13);
	ck_assert_uint_eq(out[4].id, 14);
	ctg_defer_fini(&d);
}
END_TEST

START_TEST(test_release_by_token)
{
	struct ctg_defer d;
	struct ctg_defer_stats st;

	reset();
	ck_assert_int_eq(ctg_defer_init(&d, 16, 0), 0);
	hold(&d, 10, 1, 1000, 20000);
	hold(&d, 11, 1, 1100, 20000);
	hold(&d, 12, 2, 1200, 20000);
	hold(&d, 13, 3, 1300, 20000);
	ck_assert_uint_eq(ctg_defer_held(&d), 4);
	/* nothing acknowledged (0), nothing due */
	ck_assert_uint_eq(ctg_defer_release(&d, 0, 2000, sent, NULL), 0);
	ck_assert_uint_eq(nout, 0);
	/* token 1 acknowledged: its two packets, oldest first, nothing of 2 */
	ck_assert_uint_eq(ctg_defer_release(&d, 1, 3000, sent, NULL), 2);
	ck_assert_uint_eq(out[0].id, 10);
	ck_assert_uint_eq(out[1].id, 11);
	ck_assert_uint_eq(out[0].verdict, CTG_NFQ_ACCEPT);
	/* up to 3 covers 2 as well */
	ck_assert_uint_eq(ctg_defer_release(&d, 3, 4000, sent, NULL), 2);
	ck_assert_uint_eq(out[2].id, 12);
	ck_assert_uint_eq(out[3].id, 13);
	ctg_defer_stats(&d, &st);
	ck_assert_uint_eq(st.deferred, 4);
	ck_assert_uint_eq(st.acked, 4);
	ck_assert_uint_eq(st.timeouts, 0);
	ck_assert_uint_eq(st.held, 0);
	/* the waits: 2000, 1900, 2800, 2700 µs */
	uint32_t w[8];
	ck_assert_uint_eq(ctg_defer_waits(&d, w, 8), 4);
	ck_assert_uint_eq(w[0], 2000);
	ck_assert_uint_eq(w[1], 1900);
	ck_assert_uint_eq(w[2], 2800);
	ck_assert_uint_eq(w[3], 2700);
	ck_assert_uint_eq(ctg_defer_next_deadline(&d), 0);
	ctg_defer_fini(&d);
}
END_TEST

START_TEST(test_deadline)
{
	struct ctg_defer d;
	struct ctg_defer_stats st;

	reset();
	ck_assert_int_eq(ctg_defer_init(&d, 16, 0), 0);
	hold(&d, 1, 5, 1000, 20000);
	hold(&d, 2, 6, 5000, 20000);
	ck_assert(ctg_defer_next_deadline(&d) == 21000);
	ck_assert_uint_eq(ctg_defer_release(&d, 4, 20999, sent, NULL), 0);
	/* the first one's deadline: released unacknowledged, counted */
	ck_assert_uint_eq(ctg_defer_release(&d, 4, 21000, sent, NULL), 1);
	ck_assert_uint_eq(out[0].id, 1);
	ck_assert(ctg_defer_next_deadline(&d) == 25000);
	/* the second is acknowledged before its deadline */
	ck_assert_uint_eq(ctg_defer_release(&d, 6, 22000, sent, NULL), 1);
	ctg_defer_stats(&d, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_uint_eq(st.acked, 1);
	ctg_defer_fini(&d);
}
END_TEST

START_TEST(test_overflow_releases_oldest)
{
	struct ctg_defer d;
	struct ctg_defer_stats st;

	reset();
	ck_assert_int_eq(ctg_defer_init(&d, 4, 0), 0);
	for (uint32_t i = 0; i < 6; i++)
		hold(&d, 100 + i, 1, 1000 + i, 20000);
	/* two went early, the oldest first, and the table holds the four newest */
	ck_assert_uint_eq(nout, 2);
	ck_assert_uint_eq(out[0].id, 100);
	ck_assert_uint_eq(out[1].id, 101);
	ck_assert_uint_eq(ctg_defer_held(&d), 4);
	ctg_defer_stats(&d, &st);
	ck_assert_uint_eq(st.overflows, 2);
	ck_assert_uint_eq(st.deferred, 6);
	ck_assert_uint_eq(ctg_defer_release(&d, 1, 2000, sent, NULL), 4);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_uint_eq(out[i].id, 100 + i);
	ctg_defer_fini(&d);
}
END_TEST

/* A stop (or a reload, or an empty group): everything held is answered, once. */
START_TEST(test_flush_answers_every_packet_once)
{
	struct ctg_defer d;
	struct ctg_defer_stats st;
	bool seen[64] = { false };

	reset();
	ck_assert_int_eq(ctg_defer_init(&d, 32, 0), 0);
	for (uint32_t i = 0; i < 50; i++) {
		struct ctg_defer_pkt p = {
			.id = i, .verdict = CTG_NFQ_REPEAT, .mark = 0x20000000 | i, .has_mark = true,
			.token = 1 + i / 8, .held_us = 1000, .deadline_us = 1000 + 20000,
		};

		ctg_defer_hold(&d, &p, sent, NULL);
		if (i == 30)
			ctg_defer_release(&d, 2, 1500, sent, NULL);
	}
	ctg_defer_flush(&d, 2000, sent, NULL);
	ck_assert_uint_eq(ctg_defer_held(&d), 0);
	ck_assert_uint_eq(nout, 50);
	for (unsigned i = 0; i < nout; i++) {
		ck_assert(!seen[out[i].id]);
		seen[out[i].id] = true;
		/* the verdict and mark decided are the ones sent */
		ck_assert_uint_eq(out[i].verdict, CTG_NFQ_REPEAT);
		ck_assert(out[i].has_mark);
		ck_assert_uint_eq(out[i].mark, 0x20000000 | out[i].id);
		if (i)
			ck_assert_uint_gt(out[i].id, out[i - 1].id);    /* in arrival order */
	}
	ctg_defer_stats(&d, &st);
	ck_assert(st.acked + st.overflows + st.flushed + st.timeouts == 50);
	ck_assert(st.flushed > 0 && st.acked == 16);
	ctg_defer_fini(&d);
}
END_TEST

/* Tokens are serial numbers: the release works across the wrap. */
START_TEST(test_token_wrap)
{
	struct ctg_defer d;

	reset();
	ck_assert_int_eq(ctg_defer_init(&d, 8, 0), 0);
	hold(&d, 1, 0xfffffffeu, 0, 1000000);
	hold(&d, 2, 0xffffffffu, 0, 1000000);
	hold(&d, 3, 1, 0, 1000000);
	ck_assert_uint_eq(ctg_defer_release(&d, 0xffffffffu, 10, sent, NULL), 2);
	ck_assert_uint_eq(ctg_defer_held(&d), 1);
	ck_assert_uint_eq(ctg_defer_release(&d, 1, 10, sent, NULL), 1);
	ck_assert(ctg_defer_token_after(1, 0xffffffffu));
	ck_assert(!ctg_defer_token_after(0xffffffffu, 1));
	ctg_defer_fini(&d);
}
END_TEST

/* --- the sender's book -------------------------------------------------------- */

static unsigned acked_worker[16], acked_local[16], nacked;

static void
on_acked(void *arg, unsigned worker, uint32_t local)
{
	(void)arg;
	ck_assert_uint_lt(nacked, 16);
	acked_worker[nacked] = worker;
	acked_local[nacked++] = local;
}

static void
book_of(struct ctg_defer_book *b, const uint32_t *nodes, size_t n)
{
	nacked = 0;
	ck_assert_int_eq(ctg_defer_book_init(b, 8), 0);
	ctg_defer_book_members(b, 1, nodes, n);
}

START_TEST(test_book_every_member_must_ack)
{
	static const uint32_t group[] = { 1, 2, 3 };
	struct ctg_defer_book b;

	book_of(&b, group, 3);
	ck_assert_uint_eq(ctg_defer_book_others(&b), 2);
	uint32_t t1 = ctg_defer_book_issue(&b);
	ctg_defer_book_note(&b, t1, 0, 7);
	ctg_defer_book_note(&b, t1, 1, 3);
	uint32_t t2 = ctg_defer_book_issue(&b);
	ctg_defer_book_note(&b, t2, 0, 8);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 0);
	/* node 2 alone is not the group */
	ctg_defer_book_ack(&b, 2, t2);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 0);
	/* node 3 applied the first message only */
	ctg_defer_book_ack(&b, 3, t1);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 2);
	ck_assert_uint_eq(acked_worker[0], 0);
	ck_assert_uint_eq(acked_local[0], 7);
	ck_assert_uint_eq(acked_worker[1], 1);
	ck_assert_uint_eq(acked_local[1], 3);
	/* an older ack, an ack for another node's token, one never issued: nothing */
	ctg_defer_book_ack(&b, 3, t1);
	ctg_defer_book_ack(&b, 9, t2);
	ctg_defer_book_ack(&b, 3, t2 + 5);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 0);
	ctg_defer_book_ack(&b, 3, t2);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 1);
	ck_assert_uint_eq(acked_local[2], 8);
	ctg_defer_book_fini(&b);
}
END_TEST

START_TEST(test_book_member_leaves_and_joins)
{
	static const uint32_t three[] = { 1, 2, 3 }, two[] = { 3, 1 }, alone[] = { 1 };
	static const uint32_t joined[] = { 1, 3, 4 };
	struct ctg_defer_book b;

	book_of(&b, three, 3);
	uint32_t t1 = ctg_defer_book_issue(&b);
	ctg_defer_book_note(&b, t1, 0, 1);
	ctg_defer_book_ack(&b, 3, t1);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 0);
	/* node 2 (silent) leaves: node 3's ack is all the group's */
	ctg_defer_book_members(&b, 1, two, 2);
	ck_assert_uint_eq(ctg_defer_book_others(&b), 1);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 1);
	/* node 4 joins: it counts as having seen t1 and before, not t2 */
	uint32_t t2 = ctg_defer_book_issue(&b);
	ctg_defer_book_note(&b, t2, 0, 2);
	ctg_defer_book_members(&b, 1, joined, 3);
	ctg_defer_book_ack(&b, 3, t2);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 1);
	uint32_t t3 = ctg_defer_book_issue(&b);
	ctg_defer_book_note(&b, t3, 0, 3);
	ctg_defer_book_ack(&b, 3, t3);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 0);       /* 4 has not */
	/* everyone else leaves: nothing waits */
	ctg_defer_book_members(&b, 1, alone, 1);
	ck_assert_uint_eq(ctg_defer_book_others(&b), 0);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 1);
	ck_assert_uint_eq(acked_local[2], 3);
	ctg_defer_book_fini(&b);
}
END_TEST

START_TEST(test_book_full_forgets_oldest)
{
	static const uint32_t pair[] = { 1, 2 };
	struct ctg_defer_book b;

	book_of(&b, pair, 2);
	for (unsigned i = 0; i < 10; i++)
		ctg_defer_book_note(&b, ctg_defer_book_issue(&b), 0, i + 1);
	ck_assert(b.lost == 2);
	ctg_defer_book_ack(&b, 2, b.token);
	ck_assert_uint_eq(ctg_defer_book_advance(&b, on_acked, NULL), 8);
	ck_assert_uint_eq(acked_local[0], 3);
	ck_assert_uint_eq(acked_local[7], 10);
	ctg_defer_book_fini(&b);
}
END_TEST

static Suite *
defer_suite(void)
{
	Suite *s = suite_create("defer");
	TCase *tc = tcase_create("held");

	tcase_add_test(tc, test_release_by_token);
	tcase_add_test(tc, test_conn_held_until_its_last_goes);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_overflow_releases_oldest);
	tcase_add_test(tc, test_flush_answers_every_packet_once);
	tcase_add_test(tc, test_token_wrap);
	suite_add_tcase(s, tc);
	tc = tcase_create("book");
	tcase_add_test(tc, test_book_every_member_must_ack);
	tcase_add_test(tc, test_book_member_leaves_and_joins);
	tcase_add_test(tc, test_book_full_forgets_oldest);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(defer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
