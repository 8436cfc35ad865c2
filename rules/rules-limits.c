/*
 * Rule engine: rate_limit and conn_limit, the per-(rule, source) state
 * that a first match consults (packet path: no allocation, no locks).
 *
 * Both live in two fixed tables of CTG_RULES_LIMIT_SLOTS entries, 4-way
 * set associative on a keyed hash of (rule, source). A full set gives up
 * its least recently used entry (for connection counts an entry holding
 * no connection first), so a flood of sources makes limits forget rather
 * than block: they fail open.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "rules-int.h"

/* The tables the ruleset needs, and the seed of their hash; -1 OOM. */
int
rules_limits_init(struct ctg_ruleset *rs)
{
	bool need_rate = false, need_conn = false;

	for (uint32_t i = 0; i < rs->nrules; i++) {
		need_rate |= rs->rules[i].rate != 0;
		need_conn |= rs->rules[i].conn_limit != 0;
	}
	if (need_rate && (rs->rate_tab = calloc(CTG_RULES_LIMIT_SLOTS,
	    sizeof(struct lim_slot))) == NULL)
		return -1;
	if (need_conn && (rs->conn_tab = calloc(CTG_RULES_LIMIT_SLOTS,
	    sizeof(struct lim_slot))) == NULL)
		return -1;
	if (getrandom(&rs->seed, sizeof(rs->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(rs->seed)) {
		/* Weak, but limits only degrade under targeted collisions. */
		rs->seed = mix64((uint64_t)time(NULL) ^ (uintptr_t)rs);
	}
	return 0;
}

/*
 * The slot for (rule, source) in tab, or NULL. With create, a missing key
 * takes the victim slot of its set, reset to val 0 and last_us 0.
 */
static struct lim_slot *
lim_lookup(const struct ctg_ruleset *rs, struct lim_slot *tab, uint32_t rule,
    uint8_t family, const struct ctg_addr *a, bool create, bool is_conn)
{
	uint64_t h, w0, w1;
	struct lim_slot *set, *victim = NULL;
	struct ctg_addr key;

	memset(&key, 0, sizeof(key));
	memcpy(key.b, a->b, family == 4 ? 4 : 16);
	memcpy(&w0, key.b, 8);
	memcpy(&w1, key.b + 8, 8);
	h = mix64(rs->seed ^ ((uint64_t)rule << 8 | family));
	h = mix64(h ^ w0);
	h = mix64(h ^ w1);
	set = &tab[(h % (CTG_RULES_LIMIT_SLOTS / LIM_WAYS)) * LIM_WAYS];
	for (int i = 0; i < LIM_WAYS; i++) {
		if (set[i].rule == rule + 1 && set[i].family == family &&
		    memcmp(set[i].addr.b, key.b, 16) == 0)
			return &set[i];
	}
	if (!create)
		return NULL;
	for (int i = 0; i < LIM_WAYS; i++) {
		struct lim_slot *s = &set[i];

		if (s->rule == 0) {
			victim = s;
			break;
		}
		if (victim == NULL)
			victim = s;
		else if (is_conn && (s->val == 0) != (victim->val == 0)) {
			if (s->val == 0)
				victim = s;
		} else if (s->last_us < victim->last_us)
			victim = s;
	}
	victim->addr = key;
	victim->rule = rule + 1;
	victim->family = family;
	victim->last_us = 0;
	victim->val = 0;
	return victim;
}

/* Token bucket; true when the packet is within the limit. */
bool
rules_rate_ok(struct ctg_ruleset *rs, const struct rule *r, uint32_t idx,
    const struct ctg_tuple *t, uint64_t now)
{
	struct lim_slot *s;
	uint64_t cap = (uint64_t)r->burst * TOKEN;

	s = lim_lookup(rs, rs->rate_tab, idx, t->family, &t->src, true, false);
	if (s->last_us == 0 && s->val == 0)
		s->val = cap;
	else if (now > s->last_us) {
		uint64_t el = now - s->last_us;

		/* elapsed * rate cannot overflow below 1000 s */
		if (el >= 1000000000ULL)
			s->val = cap;
		else {
			s->val += el * r->rate;
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

/*
 * A NEW connection accepted by rule idx from t->src: true and counted
 * when the source is under the rule's conn_limit.
 */
bool
rules_conn_take(struct ctg_ruleset *rs, const struct rule *r, uint32_t idx,
    const struct ctg_tuple *t, uint64_t now)
{
	struct lim_slot *s = lim_lookup(rs, rs->conn_tab, idx, t->family,
	    &t->src, true, true);

	s->last_us = now;
	if (s->val >= r->conn_limit)
		return false;
	s->val++;
	return true;
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
	s = lim_lookup(rs, rs->conn_tab, (uint32_t)rule_index, orig->family,
	    &orig->src, false, true);
	if (s != NULL && s->val > 0)
		s->val--;
}
