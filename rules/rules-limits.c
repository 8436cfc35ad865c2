/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: rate_limit (packets per second), conn_rate (new
 * connections per second) and conn_limit (live connections), the
 * per-(rule, source) state that a first match consults, and that later
 * packets of a rate-limited connection consult again (packet path: no
 * allocation, no locks).
 *
 * Each lives in a fixed table of CTG_RULES_LIMIT_SLOTS entries, 4-way
 * set associative on a keyed hash of (rule, source). Tables this size are
 * filled by a flood of spoofed sources, so what matters is what they give
 * up. They give up only what can be forgotten without effect: a free
 * slot, or an entry whose bucket has refilled to the burst (a newcomer
 * would get the same) or that holds no connection; among those the least
 * recently used. An entry that still limits its source is never replaced,
 * so a limited source stays limited however many sources follow.
 *
 * A source whose set holds no replaceable entry is aggregated instead:
 * it shares an entry with its prefix (IPv4 /24, IPv6 /64: one operator's
 * addresses, or one host's privacy addresses), and when that prefix's set
 * is full too, the rule's one overflow bucket, with the rule's own rate
 * and limit. Under a flood the newcomers are thus limited together,
 * rather than each given a fresh burst; sources that already hold an
 * entry are not affected. A source keeps using its prefix entry while
 * that exists, so it cannot win a fresh bucket by leaving the aggregate.
 *
 * Connection slots are given back to the first of (source, prefix,
 * overflow) that holds any, which is where they were taken unless a
 * source moved between levels while holding connections; the counts
 * then stay right in total for the source's prefix.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "rules-int.h"

/* The three tables: packets per second, new connections per second,
 * live connections. */
enum lim_kind { LK_RATE, LK_CRATE, LK_CONN };

/* Prefix lengths of the aggregate entries. */
#define AGG_PLEN_V4 24
#define AGG_PLEN_V6 64

static int
lim_alloc(const struct ctg_ruleset *rs, struct lim_slot **tab,
    struct lim_slot **shared)
{
	*tab = calloc(CTG_RULES_LIMIT_SLOTS, sizeof(struct lim_slot));
	*shared = calloc(rs->nrules ? rs->nrules : 1, sizeof(struct lim_slot));
	return *tab != NULL && *shared != NULL ? 0 : -1;
}

/* The tables the ruleset needs, and the seed of their hash; -1 OOM. */
int
rules_limits_init(struct ctg_ruleset *rs)
{
	bool need_rate = false, need_crate = false, need_conn = false;

	for (uint32_t i = 0; i < rs->nrules; i++) {
		need_rate |= rs->rules[i].rate != 0;
		need_crate |= rs->rules[i].crate != 0;
		need_conn |= rs->rules[i].conn_limit != 0;
	}
	if ((need_rate && lim_alloc(rs, &rs->rate_tab, &rs->rate_shared) == -1) ||
	    (need_crate && lim_alloc(rs, &rs->crate_tab, &rs->crate_shared) == -1) ||
	    (need_conn && lim_alloc(rs, &rs->conn_tab, &rs->conn_shared) == -1))
		return -1;
	if (getrandom(&rs->seed, sizeof(rs->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(rs->seed)) {
		/* Weak, but limits only degrade under targeted collisions. */
		rs->seed = mix64((uint64_t)time(NULL) ^ (uintptr_t)rs);
	}
	return 0;
}

/* The key of a source (plen 0) or of its prefix. */
static void
lim_key(struct ctg_addr *key, uint8_t family, const struct ctg_addr *a,
    unsigned plen)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->b, a->b, family == 4 ? 4 : 16);
	if (plen != 0)
		memset(key->b + plen / 8, 0, 16 - plen / 8);
}

/* The 4-way set of (rule, family, plen, key). */
static struct lim_slot *
lim_set(const struct ctg_ruleset *rs, struct lim_slot *tab, uint32_t rule,
    uint8_t family, uint8_t plen, const struct ctg_addr *key)
{
	uint64_t h, w0, w1;

	memcpy(&w0, key->b, 8);
	memcpy(&w1, key->b + 8, 8);
	h = mix64(rs->seed ^ ((uint64_t)rule << 16 | (uint64_t)plen << 8 |
	    family));
	h = mix64(h ^ w0);
	h = mix64(h ^ w1);
	return &tab[(h % (CTG_RULES_LIMIT_SLOTS / LIM_WAYS)) * LIM_WAYS];
}

static struct lim_slot *
lim_find(struct lim_slot *set, uint32_t rule, uint8_t family, uint8_t plen,
    const struct ctg_addr *key)
{
	for (int i = 0; i < LIM_WAYS; i++) {
		if (set[i].rule == rule + 1 && set[i].family == family &&
		    set[i].plen == plen &&
		    memcmp(set[i].addr.b, key->b, 16) == 0)
			return &set[i];
	}
	return NULL;
}

/* Would forgetting s change any verdict? Not when it is free, holds no
 * connection, or its token bucket is full by now. */
static bool
lim_forgettable(const struct ctg_ruleset *rs, const struct lim_slot *s,
    enum lim_kind kind, uint64_t now)
{
	const struct rule *r;
	uint64_t cap, el, rate;

	if (s->rule == 0)
		return true;
	if (kind == LK_CONN)
		return s->val == 0;
	if (s->last_us == 0 && s->val == 0)
		return true;            /* claimed, never charged */
	r = &rs->rules[s->rule - 1];
	rate = kind == LK_RATE ? r->rate : r->crate;
	cap = (uint64_t)(kind == LK_RATE ? r->burst : r->cburst) * TOKEN;
	if (s->val >= cap)
		return true;
	if (now <= s->last_us)
		return false;
	el = now - s->last_us;
	return el >= 1000000000ULL || s->val + el * rate >= cap;
}

/*
 * A slot for a new key in set: free, or the least recently used of the
 * forgettable ones, reset to val 0 and last_us 0. NULL when every entry
 * still limits someone.
 */
static struct lim_slot *
lim_claim(const struct ctg_ruleset *rs, struct lim_slot *set, uint32_t rule,
    uint8_t family, uint8_t plen, const struct ctg_addr *key,
    enum lim_kind kind, uint64_t now)
{
	struct lim_slot *victim = NULL;

	for (int i = 0; i < LIM_WAYS; i++) {
		struct lim_slot *s = &set[i];

		if (s->rule == 0) {
			victim = s;
			break;
		}
		if (!lim_forgettable(rs, s, kind, now))
			continue;
		if (victim == NULL || s->last_us < victim->last_us)
			victim = s;
	}
	if (victim == NULL)
		return NULL;
	victim->addr = *key;
	victim->rule = rule + 1;
	victim->family = family;
	victim->plen = plen;
	victim->last_us = 0;
	victim->val = 0;
	return victim;
}

/*
 * The entry that limits t->src under rule idx: its own, its prefix's, or
 * the rule's overflow bucket (shared[idx]); see the top of the file.
 */
static struct lim_slot *
lim_get(const struct ctg_ruleset *rs, struct lim_slot *tab,
    struct lim_slot *shared, uint32_t idx, const struct ctg_tuple *t,
    enum lim_kind kind, uint64_t now)
{
	uint8_t agg = t->family == 4 ? AGG_PLEN_V4 : AGG_PLEN_V6;
	struct ctg_addr own, pfx;
	struct lim_slot *set_own, *set_pfx, *s;

	lim_key(&own, t->family, &t->src, 0);
	lim_key(&pfx, t->family, &t->src, agg);
	set_own = lim_set(rs, tab, idx, t->family, 0, &own);
	if ((s = lim_find(set_own, idx, t->family, 0, &own)) != NULL)
		return s;
	set_pfx = lim_set(rs, tab, idx, t->family, agg, &pfx);
	if ((s = lim_find(set_pfx, idx, t->family, agg, &pfx)) != NULL)
		return s;
	if ((s = lim_claim(rs, set_own, idx, t->family, 0, &own, kind,
	    now)) != NULL)
		return s;
	if ((s = lim_claim(rs, set_pfx, idx, t->family, agg, &pfx, kind,
	    now)) != NULL)
		return s;
	return &shared[idx];
}

/* Take a token from s (rate per second, burst); false when none is left. */
static bool
token_take(struct lim_slot *s, uint32_t rate, uint32_t burst, uint64_t now)
{
	uint64_t cap = (uint64_t)burst * TOKEN;

	if (s->last_us == 0 && s->val == 0)
		s->val = cap;
	else if (now > s->last_us) {
		uint64_t el = now - s->last_us;

		/* elapsed * rate cannot overflow below 1000 s */
		if (el >= 1000000000ULL)
			s->val = cap;
		else {
			s->val += el * rate;
			if (s->val > cap)
				s->val = cap;
		}
	}
	s->last_us = now ? now : 1;
	if (s->val < TOKEN)
		return false;
	s->val -= TOKEN;
	return true;
}

/* rate_limit: true when the packet is within the limit. */
bool
rules_rate_ok(struct ctg_ruleset *rs, const struct rule *r, uint32_t idx,
    const struct ctg_tuple *t, uint64_t now)
{
	return token_take(lim_get(rs, rs->rate_tab, rs->rate_shared, idx, t,
	    LK_RATE, now), r->rate, r->burst, now);
}

/* conn_rate: true when the new connection is within the limit. */
bool
rules_crate_ok(struct ctg_ruleset *rs, const struct rule *r, uint32_t idx,
    const struct ctg_tuple *t, uint64_t now)
{
	return token_take(lim_get(rs, rs->crate_tab, rs->crate_shared, idx, t,
	    LK_CRATE, now), r->crate, r->cburst, now);
}

/*
 * A NEW connection accepted by rule idx from t->src: true and counted
 * when the source is under the rule's conn_limit.
 */
bool
rules_conn_take(struct ctg_ruleset *rs, const struct rule *r, uint32_t idx,
    const struct ctg_tuple *t, uint64_t now)
{
	struct lim_slot *s = lim_get(rs, rs->conn_tab, rs->conn_shared, idx, t,
	    LK_CONN, now);

	s->last_us = now;
	if (s->val >= r->conn_limit)
		return false;
	s->val++;
	return true;
}

/* The first of (source, prefix, overflow) holding connections of t->src
 * under rule idx; the overflow bucket when none does. */
static struct lim_slot *
lim_holder(const struct ctg_ruleset *rs, uint32_t idx,
    const struct ctg_tuple *t)
{
	uint8_t agg = t->family == 4 ? AGG_PLEN_V4 : AGG_PLEN_V6;
	struct ctg_addr own, pfx;
	struct lim_slot *s;

	lim_key(&own, t->family, &t->src, 0);
	s = lim_find(lim_set(rs, rs->conn_tab, idx, t->family, 0, &own), idx,
	    t->family, 0, &own);
	if (s != NULL && s->val > 0)
		return s;
	lim_key(&pfx, t->family, &t->src, agg);
	s = lim_find(lim_set(rs, rs->conn_tab, idx, t->family, agg, &pfx), idx,
	    t->family, agg, &pfx);
	if (s != NULL && s->val > 0)
		return s;
	return &rs->conn_shared[idx];
}

void
ctg_ruleset_conn_release(struct ctg_ruleset *rs, int rule_index,
    const struct ctg_tuple *orig)
{
	struct lim_slot *s;

	if (rs == NULL || orig == NULL || rule_index < 0 ||
	    (uint32_t)rule_index >= rs->nrules ||
	    rs->rules[rule_index].conn_limit == 0 ||
	    (orig->family != 4 && orig->family != 6))
		return;
	s = lim_holder(rs, (uint32_t)rule_index, orig);
	if (s->val > 0)
		s->val--;
}

bool
ctg_ruleset_rate_check(struct ctg_ruleset *rs, int rule_index,
    const struct ctg_tuple *t, uint64_t now_us, enum ctg_action *action)
{
	const struct rule *r;

	if (rs == NULL || rule_index < 0 || (uint32_t)rule_index >= rs->nrules ||
	    (t->family != 4 && t->family != 6))
		return true;
	r = &rs->rules[rule_index];
	if (r->rate == 0 ||
	    rules_rate_ok(rs, r, (uint32_t)rule_index, t, now_us))
		return true;
	*action = (enum ctg_action)r->rate_action;
	return false;
}
