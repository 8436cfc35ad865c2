/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: the unreachable-rule check. A rule is reported when an
 * earlier rule matches every packet it matches (conservatively: negated
 * lists and limited rules never shadow). Pairwise, so it is skipped above
 * CTG_RULES_SHADOW_CHECK_MAX rules, with a warning saying so.
 */
#include <stdio.h>
#include <string.h>

#include "rules-int.h"

/* Is all of [a, b] inside one range of t? Merged tables make that exact. */
static bool
rtab_covers(const struct rtab *t, struct r128 a, struct r128 b)
{
	long i = rtab_floor(t, a);

	return i >= 0 && r_le(b, t->r[i].b);
}

static bool
bm_subset(const uint64_t *sub, const uint64_t *sup, unsigned words)
{
	for (unsigned i = 0; i < words; i++)
		if (sub[i] & ~sup[i])
			return false;
	return true;
}

/* Does one positive table of a contain [lo, hi]? */
static bool
mlist_covers(const struct mlist *a, int f, struct r128 lo, struct r128 hi)
{
	if (rtab_covers(&a->pos[f], lo, hi))
		return true;
	for (uint32_t i = 0; i < a->nrefs; i++)
		if (rtab_covers(&a->refs[i].set->t[f], lo, hi))
			return true;
	return false;
}

static bool
rtab_within(const struct mlist *a, int f, const struct rtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (!mlist_covers(a, f, t->r[i].a, t->r[i].b))
			return false;
	return true;
}

/* Is every value b matches also matched by a? Conservative: false when
 * negation is involved. */
static bool
mlist_superset(const struct mlist *a, const struct mlist *b, int nfam)
{
	if (a->has_neg || b->has_neg)
		return false;
	for (int f = 0; f < nfam; f++) {
		if (!rtab_within(a, f, &b->pos[f]))
			return false;
		for (uint32_t i = 0; i < b->nrefs; i++) {
			bool same = false;

			for (uint32_t k = 0; k < a->nrefs; k++)
				if (a->refs[k].set == b->refs[i].set)
					same = true;
			/* a dynamic set's contents are not known here */
			if (!same && (b->refs[i].set->dynamic ||
			    !rtab_within(a, f, &b->refs[i].set->t[f])))
				return false;
		}
	}
	return true;
}

static bool
ifaces_superset(char **a, uint32_t na, char **b, uint32_t nb)
{
	for (uint32_t i = 0; i < nb; i++) {
		bool ok = false;

		for (uint32_t k = 0; k < na && !ok; k++) {
			if (strcmp(a[k], "*") == 0 || strcmp(a[k], b[i]) == 0)
				ok = true;
			else if (strpbrk(b[i], "*?") == NULL &&
			    rules_glob_match(a[k], b[i]))
				ok = true;
		}
		if (!ok)
			return false;
	}
	return true;
}

/* Does rule a match every packet rule b matches? */
static bool
rule_covers(const struct rule *a, const struct rule *b)
{
	uint32_t m = a->mask;

	if (a->rate || a->crate || a->conn_limit)
		return false;
	if (m & ~b->mask)
		return false;
	if ((m & M_STATE) && (b->state_mask & ~a->state_mask))
		return false;
	if ((m & M_FAMILY) && (b->family_mask & ~a->family_mask))
		return false;
	if ((m & M_PROTO) && !bm_subset(b->proto_bm, a->proto_bm, 4))
		return false;
	if ((m & M_REASON) && !bm_subset(b->reason_bm, a->reason_bm, 2))
		return false;
	if ((m & M_TCPFLAGS) && ((a->flags_mask & ~b->flags_mask) ||
	    (b->flags_set & a->flags_mask) != a->flags_set))
		return false;
	if (m & M_ICMPTYPE) {
		if (!bm_subset(b->icmp_type_bm[0], a->icmp_type_bm[0], 4) ||
		    !bm_subset(b->icmp_type_bm[1], a->icmp_type_bm[1], 4))
			return false;
		if (b->icmp_v4_ptb && !a->icmp_v4_ptb &&
		    !bm_test(a->icmp_type_bm[0], 3))
			return false;
	}
	if ((m & M_ICMPCODE) && !bm_subset(b->icmp_code_bm, a->icmp_code_bm, 4))
		return false;
	if ((m & M_IIF) && !ifaces_superset(a->iif, a->niif, b->iif, b->niif))
		return false;
	if ((m & M_OIF) && !ifaces_superset(a->oif, a->noif, b->oif, b->noif))
		return false;
	if ((m & M_SPORT) && !mlist_superset(&a->sport, &b->sport, 1))
		return false;
	if ((m & M_DPORT) && !mlist_superset(&a->dport, &b->dport, 1))
		return false;
	if ((m & M_SRC) && !mlist_superset(&a->src, &b->src, 2))
		return false;
	if ((m & M_DST) && !mlist_superset(&a->dst, &b->dst, 2))
		return false;
	return true;
}

void
rules_check_shadowing(struct loader *L)
{
	struct ctg_ruleset *rs = L->rs;
	struct ctg_rules_diag *d = L->diag;

	/*
	 * The check compares every pair: past a few thousand rules it would
	 * cost seconds at every load and reload, so say it was skipped.
	 */
	if (rs->nrules > CTG_RULES_SHADOW_CHECK_MAX) {
		if (d->nwarnings < sizeof(d->warnings) / sizeof(d->warnings[0]))
			snprintf(d->warnings[d->nwarnings], sizeof(d->warnings[0]),
			    "warning: %u rules: the unreachable-rule check is skipped above %u",
			    rs->nrules, CTG_RULES_SHADOW_CHECK_MAX);
		d->nwarnings++;
		return;
	}
	for (uint32_t j = 1; j < rs->nrules; j++) {
		for (uint32_t i = 0; i < j; i++) {
			if (!rule_covers(&rs->rules[i], &rs->rules[j]))
				continue;
			if (d->nwarnings < sizeof(d->warnings) / sizeof(d->warnings[0]))
				snprintf(d->warnings[d->nwarnings],
				    sizeof(d->warnings[0]),
				    "%s: warning: rule '%s' is unreachable (shadowed by rule '%s')",
				    rs->rules[j].where, rs->rules[j].name,
				    rs->rules[i].name);
			d->nwarnings++;
			break;
		}
	}
}

