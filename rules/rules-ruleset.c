/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: the ruleset's accessors (names, counts, hit counters) and
 * its teardown.
 */
#include <stdlib.h>

#include "rules-int.h"

bool
ctg_ruleset_uses_interfaces(const struct ctg_ruleset *rs)
{
	return rs->uses_interfaces;
}

unsigned
ctg_ruleset_count(const struct ctg_ruleset *rs)
{
	return rs->nrules;
}

uint64_t
ctg_ruleset_hits(const struct ctg_ruleset *rs, int rule_index)
{
	if (rule_index == -1)
		return rs->default_hits;
	if (rule_index < 0 || (uint32_t)rule_index >= rs->nrules)
		return 0;
	return rs->rules[rule_index].hits;
}

const char *
ctg_ruleset_rule_name(const struct ctg_ruleset *rs, int rule_index)
{
	if (rule_index == -1)
		return "default";
	if (rule_index < 0 || (uint32_t)rule_index >= rs->nrules)
		return NULL;
	return rs->rules[rule_index].name;
}

unsigned
ctg_ruleset_set_count(const struct ctg_ruleset *rs)
{
	return rs->nsets;
}

const char *
ctg_ruleset_set_name(const struct ctg_ruleset *rs, unsigned i)
{
	return i < rs->nsets ? rs->sets[i]->name : NULL;
}

uint64_t
ctg_ruleset_set_hits(const struct ctg_ruleset *rs, unsigned i)
{
	return i < rs->nsets ? rs->sets[i]->hits : 0;
}

uint64_t
ctg_ruleset_hash(const struct ctg_ruleset *rs)
{
	return rs->hash;
}


static void
mlist_free(struct mlist *m)
{
	for (int i = 0; i < 2; i++) {
		free(m->pos[i].r);
		free(m->neg[i].r);
	}
	free(m->refs);
}

static void
strv_free(char **v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
rule_free(struct rule *r)
{
	mlist_free(&r->src);
	mlist_free(&r->dst);
	mlist_free(&r->sport);
	mlist_free(&r->dport);
	strv_free(r->iif, r->niif);
	strv_free(r->oif, r->noif);
	free(r->text);
	free(r->where);
}

void
ctg_ruleset_free(struct ctg_ruleset *rs)
{
	if (rs == NULL)
		return;
	for (uint32_t i = 0; i < rs->nrules; i++)
		rule_free(&rs->rules[i]);
	free(rs->rules);
	for (uint32_t i = 0; i < rs->nsets; i++) {
		struct rset *s = rs->sets[i];

		free(s->name);
		free(s->t[0].r);
		free(s->t[1].r);
		free(s->text);
		free(s->where);
		free(s);
	}
	free(rs->sets);
	for (int c = 0; c < PC_COUNT; c++)
		for (int f = 0; f < FS_COUNT; f++) {
			free(rs->buckets[c][f].idx);
			free(rs->buckets[c][f].pre);
			rules_portidx_free(rs->buckets[c][f].pidx);
		}
	free(rs->rate_tab);
	free(rs->conn_tab);
	free(rs->rate_shared);
	free(rs->crate_tab);
	free(rs->crate_shared);
	free(rs->conn_shared);
	free(rs);
}
