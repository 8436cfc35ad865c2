/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: evaluation, the packet path. A packet walks the bucket of
 * its (protocol class, family) in rule order, through the destination-port
 * index when the bucket has one; the first rule whose matches all hold
 * decides, then its limits (rules-limits.c) may turn the verdict. No
 * allocation, no locks, no system calls.
 */
#include <string.h>

#include "rules-int.h"

/* Interface glob: '*' any run, '?' one character. No allocation. */
bool
rules_glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat == '?' || *pat == *s) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++resume;
		} else
			return false;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

static inline bool
mlist_match(const struct mlist *m, int t, struct r128 x)
{
	bool in = !m->has_pos;

	if (!in)
		in = rtab_has(&m->pos[t], x);
	for (uint32_t i = 0; !in && i < m->nrefs; i++) {
		if (!m->refs[i].neg && rtab_has(rset_tab(m->refs[i].set, t), x)) {
			m->refs[i].set->hits++;
			in = true;
		}
	}
	if (!in)
		return false;
	if (!m->has_neg)
		return true;
	if (rtab_has(&m->neg[t], x))
		return false;
	for (uint32_t i = 0; i < m->nrefs; i++) {
		if (m->refs[i].neg && rtab_has(rset_tab(m->refs[i].set, t), x)) {
			m->refs[i].set->hits++;
			return false;
		}
	}
	return true;
}

static bool
iface_match(char **pats, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (rules_glob_match(pats[i], name))
			return true;
	return false;
}

static bool
rule_match(const struct rule *r, const struct ctg_rule_input *in, int fs)
{
	const struct ctg_packet *p = in->pkt;
	uint32_t m = r->mask;
	uint8_t proto;

	if (m == 0)
		return true;
	if ((m & M_STATE) && ((unsigned)in->ctstate > CTG_CT_INVALID ||
	    !(r->state_mask & (1u << in->ctstate))))
		return false;
	if ((m & M_REASON) && ((unsigned)in->reason >= CTG_R_COUNT ||
	    !bm_test(r->reason_bm, in->reason)))
		return false;
	/* a recheck has no packet, so no interfaces: they cannot rule it out */
	if ((m & M_IIF) && !in->recheck && !iface_match(r->iif, r->niif,
	    in->iif ? in->iif : ""))
		return false;
	if ((m & M_OIF) && !in->recheck && !iface_match(r->oif, r->noif,
	    in->oif ? in->oif : ""))
		return false;
	if (!(m & M_PKT))
		return true;
	if (p == NULL)
		return false;
	proto = p->tuple.proto;
	if ((m & M_FAMILY) && (fs == FS_NONE || !(r->family_mask & (1u << fs))))
		return false;
	if ((m & M_PROTO) && !bm_test(r->proto_bm, proto))
		return false;
	if (m & (M_SPORT | M_DPORT)) {
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
			return false;
		if ((m & M_SPORT) &&
		    !mlist_match(&r->sport, 0, port_key(p->tuple.sport)))
			return false;
		if ((m & M_DPORT) &&
		    !mlist_match(&r->dport, 0, port_key(p->tuple.dport)))
			return false;
	}
	if (m & M_TCPFLAGS) {
		if (proto != IPPROTO_TCP ||
		    (p->tcp.flags & r->flags_mask) != r->flags_set)
			return false;
	}
	if (m & (M_ICMPTYPE | M_ICMPCODE)) {
		if ((proto != IPPROTO_ICMP || fs != FS_V4) &&
		    (proto != IPPROTO_ICMPV6 || fs != FS_V6))
			return false;
		if ((m & M_ICMPTYPE) &&
		    !bm_test(r->icmp_type_bm[fs], p->icmp.type) &&
		    !(fs == FS_V4 && r->icmp_v4_ptb && p->icmp.type == 3 &&
		    p->icmp.code == 4))
			return false;
		if ((m & M_ICMPCODE) && !bm_test(r->icmp_code_bm, p->icmp.code))
			return false;
	}
	if (m & (M_SRC | M_DST)) {
		if (fs == FS_NONE)
			return false;
		if ((m & M_SRC) &&
		    !mlist_match(&r->src, fs, addr_key(&p->tuple.src, fs)))
			return false;
		if ((m & M_DST) &&
		    !mlist_match(&r->dst, fs, addr_key(&p->tuple.dst, fs)))
			return false;
	}
	return true;
}

/* Try the rule at position k of bucket b; true when it decides the packet. */
static bool
eval_one(struct ctg_ruleset *rs, const struct bucket *b, uint32_t k,
    const struct ctg_rule_input *in, int fs, struct ctg_rule_result *out)
{
	const struct ctg_packet *p = in->pkt;
	uint32_t i = b->idx[k];
	struct rule *r = &rs->rules[i];

	if (!rule_match(r, in, fs))
		return false;
	if (!in->recheck)
		r->hits++;
	out->action = r->action;
	out->log = r->log;
	out->rule_index = (int)i;
	out->rule_name = r->name;
	out->reason = CTG_R_NONE;
	out->timeouts = r->has_timeouts ? &r->timeouts : NULL;
	out->conn_counted = false;
	out->rate_metered = false;
	/* Limits key on the source address: no packet, no limit. */
	if (p == NULL || fs == FS_NONE)
		return true;
	out->rate_metered = r->rate != 0;
	/* a rate meters arrivals; rechecking the table is not one */
	if (r->rate && !in->recheck &&
	    !rules_rate_ok(rs, r, i, &p->tuple, in->now_us)) {
		out->action = r->rate_action;
		out->reason = CTG_R_RATE_LIMITED;
		return true;
	}
	/* a connection rate meters connections: NEW packets only */
	if (r->crate && !in->recheck && in->ctstate == CTG_CT_NEW &&
	    !rules_crate_ok(rs, r, i, &p->tuple, in->now_us)) {
		out->action = r->crate_action;
		out->reason = CTG_R_RATE_LIMITED;
		return true;
	}
	if (r->conn_limit && in->ctstate == CTG_CT_NEW) {
		if (!rules_conn_take(rs, r, i, &p->tuple, in->now_us)) {
			out->action = CTG_ACT_DROP;
			out->reason = CTG_R_CONN_LIMITED;
			return true;
		}
		out->conn_counted = true;
	}
	return true;
}

void
ctg_ruleset_eval(struct ctg_ruleset *rs, const struct ctg_rule_input *in,
    struct ctg_rule_result *out)
{
	const struct ctg_packet *p = in->pkt;
	int fs = p ? family_slot(p->tuple.family) : FS_NONE;
	int pc = p ? proto_class(p->tuple.proto) : PC_OTHER;
	const struct bucket *b = &rs->buckets[pc][fs];
	unsigned stbit = (unsigned)in->ctstate <= CTG_CT_INVALID ?
	    1u << in->ctstate : 0;
	uint16_t dport = p ? p->tuple.dport : 0;

	if (b->pidx != NULL && p != NULL) {
		const struct portidx *x = b->pidx;
		uint32_t j = portidx_find(x, dport);
		const uint32_t *c = x->cand + x->start[j], *ce = x->cand + x->start[j + 1];
		const uint32_t *a = x->any, *ae = x->any + x->nany;

		while (c < ce || a < ae) {
			uint32_t k = (a == ae || (c < ce && *c < *a)) ? *c++ : *a++;

			if ((b->pre[k].state_mask & stbit) && eval_one(rs, b, k, in, fs, out))
				return;
		}
	} else {
		for (uint32_t k = 0; k < b->n; k++) {
			const struct prefilter *pf = &b->pre[k];

			if (!(pf->state_mask & stbit) || dport < pf->dlo ||
			    dport > pf->dhi)
				continue;
			if (eval_one(rs, b, k, in, fs, out))
				return;
		}
	}
	if (!in->recheck)
		rs->default_hits++;
	out->action = rs->policy;
	out->log = CTG_RULELOG_INHERIT;
	out->rule_index = -1;
	out->rule_name = "default";
	out->reason = CTG_R_DEFAULT_POLICY;
	out->timeouts = NULL;
	out->conn_counted = false;
	out->rate_metered = false;
}

