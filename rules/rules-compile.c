/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: compiling. Range tables (sorted, merged), the evaluation
 * buckets by (protocol class, family) with their prefilters, and the
 * destination-port index of long TCP and UDP buckets; then the steps
 * that finish a load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

int
rules_rvec_push(struct rvec *v, struct r128 a, struct r128 b)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 8;
		struct range *nr = realloc(v->r, ncap * sizeof(*nr));

		if (nr == NULL)
			return -1;
		v->r = nr;
		v->cap = ncap;
	}
	v->r[v->n].a = a;
	v->r[v->n].b = b;
	v->n++;
	return 0;
}

static int
range_cmp(const void *x, const void *y)
{
	const struct range *p = x, *q = y;

	if (r_lt(p->a, q->a))
		return -1;
	if (r_lt(q->a, p->a))
		return 1;
	return 0;
}

/* Sort and merge v into t; v is consumed. */
void
rules_rtab_build(struct rtab *t, struct rvec *v)
{
	size_t out = 0;

	t->r = NULL;
	t->n = 0;
	if (v->n == 0) {
		free(v->r);
		v->r = NULL;
		return;
	}
	qsort(v->r, v->n, sizeof(v->r[0]), range_cmp);
	for (size_t i = 1; i < v->n; i++) {
		struct range *last = &v->r[out];
		struct r128 next = last->b;
		bool top = (next.hi == UINT64_MAX && next.lo == UINT64_MAX);

		/* Merge overlapping and adjacent ranges. */
		if (!top) {
			next.lo++;
			if (next.lo == 0)
				next.hi++;
		}
		if (top || r_le(v->r[i].a, next)) {
			if (r_lt(last->b, v->r[i].b))
				last->b = v->r[i].b;
		} else
			v->r[++out] = v->r[i];
	}
	t->r = v->r;
	t->n = (uint32_t)(out + 1);
	v->r = NULL;
	v->n = v->cap = 0;
}

static bool
mlist_admits_family(const struct mlist *m, int f)
{
	if (!m->has_pos)
		return true;
	if (m->pos[f].n > 0)
		return true;
	for (uint32_t i = 0; i < m->nrefs; i++)
		if (!m->refs[i].neg && (m->refs[i].set->dynamic ||
		    m->refs[i].set->t[f].n > 0))
			return true;
	return false;
}

static void
hull_add(const struct rtab *t, unsigned *lo, unsigned *hi)
{
	if (t->n == 0)
		return;
	if (t->r[0].a.lo < *lo)
		*lo = (unsigned)t->r[0].a.lo;
	if (t->r[t->n - 1].b.lo > *hi)
		*hi = (unsigned)t->r[t->n - 1].b.lo;
}

static void
prefilter_init(struct prefilter *pf, const struct rule *r, bool ports)
{
	unsigned lo = 65535, hi = 0;

	pf->state_mask = (r->mask & M_STATE) ? r->state_mask : 0x0f;
	pf->dlo = 0;
	pf->dhi = 65535;
	/* Negation makes the hull the complement: keep the full range. */
	if (!ports || !(r->mask & M_DPORT) || r->dport.has_neg)
		return;
	hull_add(&r->dport.pos[0], &lo, &hi);
	for (uint32_t i = 0; i < r->dport.nrefs; i++)
		hull_add(&r->dport.refs[i].set->t[0], &lo, &hi);
	if (lo <= hi) {
		pf->dlo = (uint16_t)lo;
		pf->dhi = (uint16_t)hi;
	}
}

static int
u16_cmp(const void *x, const void *y)
{
	return (int)*(const uint16_t *)x - (int)*(const uint16_t *)y;
}

void
rules_portidx_free(struct portidx *x)
{
	if (x == NULL)
		return;
	free(x->bounds);
	free(x->start);
	free(x->cand);
	free(x->any);
	free(x);
}

/* Build b->pidx; 0 also when it is not worth building, -1 out of memory. */
static int
portidx_build(struct bucket *b)
{
	struct portidx *x = calloc(1, sizeof(*x));
	uint16_t *pts = malloc(((size_t)b->n * 2 + 1) * sizeof(*pts));
	uint64_t pairs = 0;
	uint32_t npts = 0;

	if (x == NULL || pts == NULL)
		goto oom;
	pts[npts++] = 0;
	for (uint32_t k = 0; k < b->n; k++) {
		const struct prefilter *pf = &b->pre[k];

		if (pf->dlo == 0 && pf->dhi == 65535) {
			x->nany++;
			continue;
		}
		pts[npts++] = pf->dlo;
		if (pf->dhi < 65535)
			pts[npts++] = (uint16_t)(pf->dhi + 1);
	}
	qsort(pts, npts, sizeof(*pts), u16_cmp);
	x->nint = 0;
	for (uint32_t i = 0; i < npts; i++)
		if (x->nint == 0 || pts[i] != pts[x->nint - 1])
			pts[x->nint++] = pts[i];
	x->bounds = pts;
	pts = NULL;
	if ((x->start = calloc((size_t)x->nint + 1, sizeof(*x->start))) == NULL ||
	    (x->any = malloc(((size_t)x->nany + 1) * sizeof(*x->any))) == NULL)
		goto oom;
	/* count, per interval, the rules covering it */
	x->nany = 0;
	for (uint32_t k = 0; k < b->n; k++) {
		const struct prefilter *pf = &b->pre[k];

		if (pf->dlo == 0 && pf->dhi == 65535) {
			x->any[x->nany++] = k;
			continue;
		}
		for (uint32_t j = portidx_find(x, pf->dlo);
		    j < x->nint && x->bounds[j] <= pf->dhi; j++) {
			x->start[j + 1]++;
			if (++pairs > PORTIDX_MAX_PAIRS) {
				/* wide nested ranges: the walk is as good */
				rules_portidx_free(x);
				return 0;
			}
		}
	}
	for (uint32_t j = 0; j < x->nint; j++)
		x->start[j + 1] += x->start[j];
	if ((x->cand = malloc(((size_t)pairs + 1) * sizeof(*x->cand))) == NULL)
		goto oom;
	/* fill in rule order, so each interval's list is ascending */
	uint32_t *fill = calloc((size_t)x->nint + 1, sizeof(*fill));
	if (fill == NULL)
		goto oom;
	for (uint32_t k = 0; k < b->n; k++) {
		const struct prefilter *pf = &b->pre[k];

		if (pf->dlo == 0 && pf->dhi == 65535)
			continue;
		for (uint32_t j = portidx_find(x, pf->dlo);
		    j < x->nint && x->bounds[j] <= pf->dhi; j++)
			x->cand[x->start[j] + fill[j]++] = k;
	}
	free(fill);
	b->pidx = x;
	return 0;
oom:
	free(pts);
	rules_portidx_free(x);
	return -1;
}

static int
build_buckets(struct ctg_ruleset *rs)
{
	uint16_t *adm = calloc((size_t)rs->nrules + 1, sizeof(*adm));

	if (adm == NULL)
		return -1;
	/* Admission bits: protocol class c, family slot f -> bit c * 3 + f. */
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const struct rule *r = &rs->rules[i];
		unsigned pcm = 0, fsm = 0;

		if (r->mask & M_PROTO) {
			for (unsigned p = 0; p < 256; p++)
				if (bm_test(r->proto_bm, p))
					pcm |= 1u << proto_class((uint8_t)p);
		} else
			pcm = (1u << PC_COUNT) - 1;
		if (r->mask & (M_SPORT | M_DPORT))
			pcm &= 1u << PC_TCP | 1u << PC_UDP;
		if (r->mask & M_TCPFLAGS)
			pcm &= 1u << PC_TCP;
		if (r->mask & (M_ICMPTYPE | M_ICMPCODE))
			pcm &= 1u << PC_ICMP | 1u << PC_ICMP6;
		fsm = (r->mask & M_FAMILY) ? r->family_mask :
		    (1u << FS_V4 | 1u << FS_V6 | 1u << FS_NONE);
		if (r->mask & (M_SRC | M_DST))
			fsm &= ~(1u << FS_NONE);
		for (int f = FS_V4; f <= FS_V6; f++) {
			if (((r->mask & M_SRC) && !mlist_admits_family(&r->src, f)) ||
			    ((r->mask & M_DST) && !mlist_admits_family(&r->dst, f)))
				fsm &= ~(1u << f);
		}
		adm[i] = 0;
		for (int c = 0; c < PC_COUNT; c++)
			for (int f = 0; f < FS_COUNT; f++)
				if ((pcm & (1u << c)) && (fsm & (1u << f)))
					adm[i] |= (uint16_t)(1u << (c * FS_COUNT + f));
	}
	for (int c = 0; c < PC_COUNT; c++) {
		for (int f = 0; f < FS_COUNT; f++) {
			struct bucket *b = &rs->buckets[c][f];
			uint16_t bit = (uint16_t)(1u << (c * FS_COUNT + f));
			uint32_t n = 0;

			for (uint32_t i = 0; i < rs->nrules; i++)
				n += (adm[i] & bit) != 0;
			b->idx = malloc(((size_t)n + 1) * sizeof(*b->idx));
			b->pre = malloc(((size_t)n + 1) * sizeof(*b->pre));
			if (b->idx == NULL || b->pre == NULL) {
				free(adm);
				return -1;
			}
			for (uint32_t i = 0; i < rs->nrules; i++) {
				if (!(adm[i] & bit))
					continue;
				prefilter_init(&b->pre[b->n], &rs->rules[i],
				    c == PC_TCP || c == PC_UDP);
				b->idx[b->n++] = i;
			}
			if ((c == PC_TCP || c == PC_UDP) && b->n >= PORTIDX_MIN_RULES &&
			    portidx_build(b) == -1) {
				free(adm);
				return -1;
			}
		}
	}
	free(adm);
	return 0;
}

/* After the last file: limits, checks, buckets, hash. -1 sets no error
 * when it is out of memory (the caller reports that). */
int
rules_finish(struct loader *L)
{
	struct ctg_ruleset *rs = L->rs;

	/* connections keep the index of the rule that accepted them in 16 bits */
	if (rs->nrules > CTG_RULES_MAX) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%u rules: at most %u are allowed",
		    rs->nrules, CTG_RULES_MAX);
		rules_err_plain(L, msg);
		return -1;
	}
	rules_check_shadowing(L);
	if (build_buckets(rs) == -1)
		return -1;
	for (uint32_t i = 0; i < rs->nrules; i++)
		rs->uses_interfaces |= (rs->rules[i].mask & (M_IIF | M_OIF)) != 0;
	if (rules_limits_init(rs) == -1)
		return -1;
	return rules_hash(rs);
}
