/*
 * Rule engine: loader/checker for rule files and the compiled evaluator.
 *
 * Loading reads each libconfig file (includes first, depth first), checks
 * every setting and compiles the rules into an array of struct rule. The
 * libconfig trees are destroyed before ctg_ruleset_load returns; the
 * packet path only sees plain structs.
 *
 * Compiled form, and why:
 * - Address and port lists become sorted, merged ranges (struct rtab) with
 *   128-bit bounds, one table per family, searched by bisection: a
 *   100,000-prefix set costs ~17 comparisons, not a scan. A rule keeps its
 *   literal members in its own tables and points at named sets, so a set
 *   is stored once and can count its hits.
 * - Small value sets (proto, state, reason, icmp type/code) are bitmaps.
 * - Each rule carries a bitmask of the match kinds it uses; a rule with no
 *   match costs one test.
 * - Rules are bucketed by (protocol class, family) at load: a packet walks
 *   only the rules that could match its protocol and family, still in the
 *   original order, so first match semantics are unchanged. Rules whose
 *   address lists only name IPv4 prefixes never enter the IPv6 buckets.
 *   The walk within a bucket is linear; pf-style skip steps would be the
 *   next step if long buckets show up in profiles.
 *
 * Rate and connection limits live in two fixed tables of
 * CTG_RULES_LIMIT_SLOTS entries, 4-way set associative on a keyed hash of
 * (rule, source). A full set gives up its least recently used entry (for
 * connection counts an entry holding no connection first), so a flood of
 * sources makes limits forget rather than block: they fail open.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ctguard/cfgtext.h"
#include "ctguard/netaddr.h"
#include "ctguard/rules.h"

_Static_assert(CTG_R_COUNT <= 128, "reason bitmap holds 128 reasons");

#define LIM_WAYS        4
#define TOKEN           1000000ULL      /* one token in micro-tokens */
#define MAX_RATE        1000000
#define MAX_CONN_LIMIT  1000000
#define MAX_TIMEOUT     (366U * 86400U)
#define IFPAT_MAX       32

/* Match kinds present in a rule. */
#define M_FAMILY        0x0001
#define M_PROTO         0x0002
#define M_SRC           0x0004
#define M_DST           0x0008
#define M_SPORT         0x0010
#define M_DPORT         0x0020
#define M_IIF           0x0040
#define M_OIF           0x0080
#define M_STATE         0x0100
#define M_REASON        0x0200
#define M_TCPFLAGS      0x0400
#define M_ICMPTYPE      0x0800
#define M_ICMPCODE      0x1000
/* Fields that need a decoded packet. */
#define M_PKT (M_FAMILY | M_PROTO | M_SRC | M_DST | M_SPORT | M_DPORT | \
	M_TCPFLAGS | M_ICMPTYPE | M_ICMPCODE)

/* Protocol classes and family slots of the evaluation buckets. */
enum { PC_TCP, PC_UDP, PC_ICMP, PC_ICMP6, PC_OTHER, PC_COUNT };
enum { FS_V4, FS_V6, FS_NONE, FS_COUNT };

enum { SET_ADDRESS, SET_PORT };

struct r128 {
	uint64_t hi, lo;
};

struct range {
	struct r128 a, b;       /* inclusive */
};

/* Sorted by a, merged: no two ranges overlap or touch. */
struct rtab {
	struct range *r;
	uint32_t n;
};

struct rset {
	char *name;
	int type;               /* SET_* */
	struct rtab t[2];       /* address: [0] IPv4, [1] IPv6; port: [0] */
	char *text;             /* members, canonical, comma separated */
	char *where;            /* FILE:LINE of the definition */
	uint64_t hits;
};

struct setref {
	struct rset *set;
	bool neg;
};

/* An address or port match: see rules.h for the "!" semantics. */
struct mlist {
	struct rtab pos[2], neg[2];
	struct setref *refs;
	uint32_t nrefs;
	bool has_pos, has_neg;
};

struct rule {
	uint32_t mask;          /* M_* */
	uint8_t family_mask;    /* 1 << FS_V4 | 1 << FS_V6 */
	uint8_t state_mask;     /* 1 << enum ctg_ctstate */
	uint8_t flags_set, flags_mask;
	uint8_t action;         /* enum ctg_action */
	uint8_t log;            /* enum ctg_rule_log */
	uint8_t rate_action;
	bool icmp_v4_ptb;       /* IPv4 type 3 code 4 (packet-too-big) */
	bool has_timeouts;
	uint64_t proto_bm[4];
	uint64_t reason_bm[2];
	uint64_t icmp_type_bm[2][4];    /* [0] IPv4, [1] IPv6 */
	uint64_t icmp_code_bm[4];
	struct mlist src, dst, sport, dport;
	char **iif, **oif;
	uint32_t niif, noif;
	uint32_t rate, burst;   /* rate 0: no rate limit */
	uint32_t conn_limit;    /* 0: none */
	struct ctg_timeouts timeouts;
	uint64_t hits;
	char name[CTG_RULE_NAME_MAX];
	char *text;             /* canonical fields */
	char *where;            /* FILE:LINE */
};

struct lim_slot {
	struct ctg_addr addr;
	uint32_t rule;          /* rule index + 1, 0 = free */
	uint8_t family;
	uint64_t last_us;
	uint64_t val;           /* micro-tokens, or live connections */
};

/*
 * Dense per-position prefilter, walked before touching the (large) rule:
 * the state bits and the hull of the destination ports the rule can
 * match. 10,000 rules fit in 80 KB, so the walk stays in cache.
 */
struct prefilter {
	uint8_t state_mask;     /* 0x0f when the rule has no state match */
	uint16_t dlo, dhi;      /* 0-65535 when it has no usable port hull */
};

/*
 * Destination-port index of a TCP or UDP bucket (built when it holds many
 * rules): the port space cut into elementary intervals at every rule's
 * port hull edge, and for each interval the rules whose hull covers it.
 * A packet then walks its interval's rules merged with the rules that
 * name no port, in rule order, instead of every rule of the bucket, so
 * that first-match cost stays nearly flat as port-specific rules pile up.
 */
struct portidx {
	uint16_t *bounds;       /* interval j starts at bounds[j] */
	uint32_t nint;
	uint32_t *start;        /* interval j's rules: cand[start[j] .. start[j + 1]) */
	uint32_t *cand;         /* positions in the bucket, ascending */
	uint32_t *any;          /* rules with no port hull, ascending */
	uint32_t nany;
};

struct bucket {
	uint32_t *idx;
	struct prefilter *pre;
	uint32_t n;
	struct portidx *pidx;   /* NULL: walk the bucket */
};

static uint32_t portidx_find(const struct portidx *x, unsigned port);
static void portidx_free(struct portidx *x);

/* Buckets smaller than this are walked (the index would not pay). */
#define PORTIDX_MIN_RULES 32
/* Past this many (interval, rule) pairs the index is not built (nested ranges). */
#define PORTIDX_MAX_PAIRS (4u << 20)

struct ctg_ruleset {
	struct rule *rules;
	uint32_t nrules, caprules;
	struct rset **sets;
	uint32_t nsets, capsets;
	enum ctg_action policy;
	uint64_t default_hits;
	uint64_t hash;
	uint64_t seed;
	struct lim_slot *rate_tab, *conn_tab;
	bool uses_interfaces;
	struct bucket buckets[PC_COUNT][FS_COUNT];
};

/* ---------------------------------------------------------------- */
/* Small helpers: growable strings and 128-bit ranges. */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_printf(struct sbuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->oom)
		return;
	for (;;) {
		size_t room = sb->cap - sb->len;

		va_start(ap, fmt);
		n = vsnprintf(sb->s ? sb->s + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->oom = true;
			return;
		}
		if ((size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		size_t ncap = sb->cap ? sb->cap * 2 : 64;
		while (ncap - sb->len <= (size_t)n)
			ncap *= 2;
		char *ns = realloc(sb->s, ncap);
		if (ns == NULL) {
			sb->oom = true;
			return;
		}
		sb->s = ns;
		sb->cap = ncap;
	}
}

/* Take the string; "" when nothing was written. NULL on OOM. */
static char *
sb_take(struct sbuf *sb)
{
	char *s;

	if (sb->oom) {
		free(sb->s);
		return NULL;
	}
	s = sb->s ? sb->s : strdup("");
	sb->s = NULL;
	sb->len = sb->cap = 0;
	return s;
}

static inline bool
r_le(struct r128 x, struct r128 y)
{
	return x.hi < y.hi || (x.hi == y.hi && x.lo <= y.lo);
}

static inline bool
r_lt(struct r128 x, struct r128 y)
{
	return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo);
}

static inline struct r128
addr_key(const struct ctg_addr *a, int fs)
{
	struct r128 k;

	if (fs == FS_V4) {
		k.hi = 0;
		k.lo = (uint64_t)a->b[0] << 24 | (uint64_t)a->b[1] << 16 |
		    (uint64_t)a->b[2] << 8 | a->b[3];
		return k;
	}
	k.hi = k.lo = 0;
	for (int i = 0; i < 8; i++) {
		k.hi = k.hi << 8 | a->b[i];
		k.lo = k.lo << 8 | a->b[8 + i];
	}
	return k;
}

static inline struct r128
port_key(uint16_t p)
{
	struct r128 k = { 0, p };

	return k;
}

/* Index of the last range starting at or below x, or -1. */
static inline long
rtab_floor(const struct rtab *t, struct r128 x)
{
	uint32_t lo = 0, hi = t->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r_le(t->r[mid].a, x))
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

static inline bool
rtab_has(const struct rtab *t, struct r128 x)
{
	long i;

	if (t->n == 0)
		return false;
	i = rtab_floor(t, x);
	return i >= 0 && r_le(x, t->r[i].b);
}

/* Is all of [a, b] inside one range of t? Merged tables make that exact. */
static bool
rtab_covers(const struct rtab *t, struct r128 a, struct r128 b)
{
	long i = rtab_floor(t, a);

	return i >= 0 && r_le(b, t->r[i].b);
}

struct rvec {
	struct range *r;
	size_t n, cap;
};

static int
rvec_push(struct rvec *v, struct r128 a, struct r128 b)
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
static void
rtab_build(struct rtab *t, struct rvec *v)
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

static inline bool
bm_test(const uint64_t *bm, unsigned bit)
{
	return (bm[bit >> 6] >> (bit & 63)) & 1;
}

static inline void
bm_set(uint64_t *bm, unsigned bit)
{
	bm[bit >> 6] |= 1ULL << (bit & 63);
}

static bool
bm_subset(const uint64_t *sub, const uint64_t *sup, unsigned words)
{
	for (unsigned i = 0; i < words; i++)
		if (sub[i] & ~sup[i])
			return false;
	return true;
}

/* Interface glob: '*' any run, '?' one character. No allocation. */
static bool
glob_match(const char *pat, const char *s)
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

/* ---------------------------------------------------------------- */
/* Evaluation. */

static inline bool
mlist_match(const struct mlist *m, int t, struct r128 x)
{
	bool in = !m->has_pos;

	if (!in)
		in = rtab_has(&m->pos[t], x);
	for (uint32_t i = 0; !in && i < m->nrefs; i++) {
		if (!m->refs[i].neg && rtab_has(&m->refs[i].set->t[t], x)) {
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
		if (m->refs[i].neg && rtab_has(&m->refs[i].set->t[t], x)) {
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
		if (glob_match(pats[i], name))
			return true;
	return false;
}

static inline int
family_slot(uint8_t family)
{
	return family == 4 ? FS_V4 : family == 6 ? FS_V6 : FS_NONE;
}

static inline int
proto_class(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return PC_TCP;
	case IPPROTO_UDP:
		return PC_UDP;
	case IPPROTO_ICMP:
		return PC_ICMP;
	case IPPROTO_ICMPV6:
		return PC_ICMP6;
	default:
		return PC_OTHER;
	}
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

static inline uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
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
static bool
rate_ok(struct ctg_ruleset *rs, const struct rule *r, uint32_t idx,
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
	/* Limits key on the source address: no packet, no limit. */
	if (p == NULL || fs == FS_NONE)
		return true;
	/* a rate meters arrivals; rechecking the table is not one */
	if (r->rate && !in->recheck && !rate_ok(rs, r, i, &p->tuple, in->now_us)) {
		out->action = r->rate_action;
		out->reason = CTG_R_RATE_LIMITED;
		return true;
	}
	if (r->conn_limit && in->ctstate == CTG_CT_NEW) {
		struct lim_slot *s = lim_lookup(rs, rs->conn_tab, i,
		    p->tuple.family, &p->tuple.src, true, true);

		s->last_us = in->now_us;
		if (s->val >= r->conn_limit) {
			out->action = CTG_ACT_DROP;
			out->reason = CTG_R_CONN_LIMITED;
			return true;
		}
		s->val++;
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

/* ---------------------------------------------------------------- */
/* Accessors and teardown. */

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

void
ctg_ruleset_print(const struct ctg_ruleset *rs, FILE *out)
{
	fprintf(out, "# ctguard ruleset: %u rules, %u sets\n", rs->nrules,
	    rs->nsets);
	fprintf(out, "default_policy %s\n", ctg_action_name(rs->policy));
	for (uint32_t i = 0; i < rs->nsets; i++)
		fprintf(out, "set %s %s %s\n", rs->sets[i]->name,
		    rs->sets[i]->type == SET_ADDRESS ? "address" : "port",
		    rs->sets[i]->text);
	for (uint32_t i = 0; i < rs->nrules; i++)
		fprintf(out, "rule %u %s: %s\n", i, rs->rules[i].name,
		    rs->rules[i].text);
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
			portidx_free(rs->buckets[c][f].pidx);
		}
	free(rs->rate_tab);
	free(rs->conn_tab);
	free(rs);
}

/* ---------------------------------------------------------------- */
/* Loader. */

struct strtab {                 /* open addressing: name -> index */
	const char **key;
	uint32_t *val;
	uint32_t cap, n;
};

struct loader {
	struct ctg_ruleset *rs;
	struct ctg_rules_diag *diag;
	bool failed;
	char *stack[CTG_RULES_MAX_DEPTH + 2];   /* realpaths being loaded */
	unsigned depth;
	char *policy_where;
	struct strtab rule_names, set_names;
	const char *ctx;        /* "rule 'x': " or "set 'x': " or "" */
	const char *cur_path;   /* file being parsed: libconfig reads it from a string */
	char ctxbuf[96];
};

static void lerr(struct loader *, const config_setting_t *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
where_file(const struct loader *L, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	if (f)
		return f;
	return L->cur_path ? L->cur_path : "?";
}

/* Record the first error as FILE:LINE: [context] message. */
static void
lerr(struct loader *L, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t cap = sizeof(L->diag->error);

	if (L->failed)
		return;
	L->failed = true;
	n = snprintf(L->diag->error, cap, "%s:%u: %s", where_file(L, s),
	    s ? (unsigned)config_setting_source_line(s) : 0U,
	    L->ctx ? L->ctx : "");
	if (n < 0 || (size_t)n >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(L->diag->error + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
}

static void
lerr_plain(struct loader *L, const char *msg)
{
	if (L->failed)
		return;
	L->failed = true;
	snprintf(L->diag->error, sizeof(L->diag->error), "%s", msg);
}

static void
oom(struct loader *L)
{
	lerr_plain(L, "out of memory");
}

static char *
where_dup(const struct loader *L, const config_setting_t *s)
{
	char buf[CTG_PATH_MAX + 16];

	snprintf(buf, sizeof(buf), "%s:%u", where_file(L, s),
	    (unsigned)config_setting_source_line(s));
	return strdup(buf);
}

static uint64_t
str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

/* 1 and *found when key is present; else inserts a copy and returns 0;
 * -1 when out of memory. */
static int
strtab_put(struct strtab *t, const char *key, uint32_t val, uint32_t *found)
{
	uint32_t i;

	if ((t->n + 1) * 2 > t->cap) {
		uint32_t ncap = t->cap ? t->cap * 2 : 64;
		const char **nk = calloc(ncap, sizeof(*nk));
		uint32_t *nv = calloc(ncap, sizeof(*nv));

		if (nk == NULL || nv == NULL) {
			free(nk);
			free(nv);
			return -1;
		}
		for (uint32_t j = 0; j < t->cap; j++) {
			if (t->key[j] == NULL)
				continue;
			i = (uint32_t)str_hash(t->key[j]) & (ncap - 1);
			while (nk[i] != NULL)
				i = (i + 1) & (ncap - 1);
			nk[i] = t->key[j];
			nv[i] = t->val[j];
		}
		free(t->key);
		free(t->val);
		t->key = nk;
		t->val = nv;
		t->cap = ncap;
	}
	i = (uint32_t)str_hash(key) & (t->cap - 1);
	while (t->key[i] != NULL) {
		if (strcmp(t->key[i], key) == 0) {
			*found = t->val[i];
			return 1;
		}
		i = (i + 1) & (t->cap - 1);
	}
	if ((t->key[i] = strdup(key)) == NULL)
		return -1;
	t->val[i] = val;
	t->n++;
	return 0;
}

static void
strtab_free(struct strtab *t)
{
	for (uint32_t i = 0; i < t->cap; i++)
		free((char *)t->key[i]);
	free(t->key);
	free(t->val);
}

static int
strtab_get(const struct strtab *t, const char *key, uint32_t *found)
{
	uint32_t i;

	if (t->cap == 0)
		return 0;
	i = (uint32_t)str_hash(key) & (t->cap - 1);
	while (t->key[i] != NULL) {
		if (strcmp(t->key[i], key) == 0) {
			*found = t->val[i];
			return 1;
		}
		i = (i + 1) & (t->cap - 1);
	}
	return 0;
}

static const char *
type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "something else";
	}
}

static int
get_str(struct loader *L, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		lerr(L, s, "'%s' must be a string, not %s",
		    config_setting_name(s) ? config_setting_name(s) : "value",
		    type_name(config_setting_type(s)));
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

static int
get_int(struct loader *L, const config_setting_t *s, long long lo,
    long long hi, long long *out)
{
	const char *nm = config_setting_name(s) ? config_setting_name(s) :
	    "value";
	int t = config_setting_type(s);

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		lerr(L, s, "'%s' must be an integer, not %s", nm, type_name(t));
		return -1;
	}
	*out = config_setting_get_int64(s);
	if (*out < lo || *out > hi) {
		lerr(L, s, "'%s' %lld out of range (%lld-%lld)", nm, *out, lo, hi);
		return -1;
	}
	return 0;
}

/* Elements of a list-or-scalar setting: arrays and lists give their
 * members, anything else is a list of one. */
static unsigned
elem_count(const config_setting_t *s)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)
		return (unsigned)config_setting_length(s);
	return 1;
}

static config_setting_t *
elem_at(config_setting_t *s, unsigned i)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)
		return config_setting_get_elem(s, i);
	return s;
}

static int
nonempty(struct loader *L, const config_setting_t *s)
{
	if (elem_count(s) == 0) {
		lerr(L, s, "'%s' is empty", config_setting_name(s));
		return -1;
	}
	return 0;
}

/* Every child of group s must be named in keys. */
static int
check_keys(struct loader *L, const config_setting_t *s,
    const char *const *keys, const char *what)
{
	int n = config_setting_length(s);

	for (int i = 0; i < n; i++) {
		config_setting_t *c = config_setting_get_elem(s, i);
		const char *nm = config_setting_name(c);
		bool ok = false;

		for (unsigned k = 0; keys[k] != NULL && nm != NULL; k++)
			if (strcmp(keys[k], nm) == 0)
				ok = true;
		if (!ok) {
			lerr(L, c, "unknown %s '%s'", what, nm ? nm : "?");
			return -1;
		}
	}
	return 0;
}

/* --- addresses and ports --- */

static void
prefix_range(const struct ctg_prefix *c, struct r128 *a, struct r128 *b)
{
	struct ctg_addr hi = c->addr;
	int fs = c->family == 4 ? FS_V4 : FS_V6;
	unsigned max = c->family == 4 ? 32 : 128;

	for (unsigned bit = c->plen; bit < max; bit++)
		hi.b[bit >> 3] |= (uint8_t)(0x80 >> (bit & 7));
	*a = addr_key(&c->addr, fs);
	*b = addr_key(&hi, fs);
}

/* A port member: integer, "p" or "lo-hi". */
static int
parse_port(struct loader *L, const config_setting_t *s, const char *str,
    long long ival, bool is_int, unsigned *lo, unsigned *hi)
{
	char err[256];
	uint16_t a, b;

	if (is_int) {
		if (ival < 0 || ival > 65535) {
			lerr(L, s, "port %lld out of range (0-65535)", ival);
			return -1;
		}
		*lo = *hi = (unsigned)ival;
		return 0;
	}
	if (ctg_port_range_parse(str, &a, &b, err, sizeof(err)) == -1) {
		lerr(L, s, "%s", err);
		return -1;
	}
	*lo = a;
	*hi = b;
	return 0;
}

/*
 * One member of an address or port list (or set) into the range vectors
 * (vec[0] IPv4 or ports, vec[1] IPv6) and its canonical text.
 */
static int
parse_member(struct loader *L, config_setting_t *e, int type,
    struct rvec vec[2], struct sbuf *sb, const char *str)
{
	if (type == SET_ADDRESS) {
		struct ctg_prefix c;
		struct r128 a, b;
		char err[256], txt[CTG_PREFIX_STRLEN];

		if (str == NULL) {
			lerr(L, e, "address must be a string, not %s",
			    type_name(config_setting_type(e)));
			return -1;
		}
		if (ctg_prefix_parse(str, &c, err, sizeof(err)) == -1) {
			lerr(L, e, "%s", err);
			return -1;
		}
		prefix_range(&c, &a, &b);
		if (rvec_push(&vec[c.family == 4 ? FS_V4 : FS_V6], a, b) == -1) {
			oom(L);
			return -1;
		}
		sb_printf(sb, "%s", ctg_prefix_str(&c, txt, sizeof(txt)));
	} else {
		unsigned lo, hi;
		int t = config_setting_type(e);
		bool is_int = (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64);

		if (!is_int && str == NULL) {
			lerr(L, e, "port must be an integer or a string, not %s",
			    type_name(t));
			return -1;
		}
		if (parse_port(L, e, str, is_int ? config_setting_get_int64(e) :
		    0, is_int, &lo, &hi) == -1)
			return -1;
		if (rvec_push(&vec[0], port_key((uint16_t)lo),
		    port_key((uint16_t)hi)) == -1) {
			oom(L);
			return -1;
		}
		if (lo == hi)
			sb_printf(sb, "%u", lo);
		else
			sb_printf(sb, "%u-%u", lo, hi);
	}
	return 0;
}

static const char *
elem_str(config_setting_t *e)
{
	return config_setting_type(e) == CONFIG_TYPE_STRING ?
	    config_setting_get_string(e) : NULL;
}

static int
parse_set(struct loader *L, config_setting_t *s)
{
	static const char *const keys[] = { "type", "members", NULL };
	struct ctg_ruleset *rs = L->rs;
	config_setting_t *ts, *ms;
	const char *tstr, *name = config_setting_name(s);
	struct rvec vec[2] = { { 0 }, { 0 } };
	struct sbuf sb = { 0 };
	struct rset *set;
	uint32_t prev;
	int type, r;

	snprintf(L->ctxbuf, sizeof(L->ctxbuf), "set '%s': ", name);
	L->ctx = L->ctxbuf;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		lerr(L, s, "must be a group { type = ...; members = ...; }");
		return -1;
	}
	if (check_keys(L, s, keys, "set setting") == -1)
		return -1;
	if ((ts = config_setting_get_member(s, "type")) == NULL) {
		lerr(L, s, "missing 'type' (address or port)");
		return -1;
	}
	if (get_str(L, ts, &tstr) == -1)
		return -1;
	if (strcmp(tstr, "address") == 0)
		type = SET_ADDRESS;
	else if (strcmp(tstr, "port") == 0)
		type = SET_PORT;
	else {
		lerr(L, ts, "unknown set type '%s' (address, port)", tstr);
		return -1;
	}
	if ((ms = config_setting_get_member(s, "members")) == NULL) {
		lerr(L, s, "missing 'members'");
		return -1;
	}
	if (nonempty(L, ms) == -1)
		return -1;
	for (unsigned i = 0; i < elem_count(ms); i++) {
		config_setting_t *e = elem_at(ms, i);
		const char *str = elem_str(e);

		if (str != NULL && (str[0] == '@' || str[0] == '!')) {
			lerr(L, e, "set members cannot be set references or negated ('%s')",
			    str);
			goto fail;
		}
		if (i > 0)
			sb_printf(&sb, ",");
		if (parse_member(L, e, type, vec, &sb, str) == -1)
			goto fail;
	}
	if (rs->nsets == rs->capsets) {
		uint32_t ncap = rs->capsets ? rs->capsets * 2 : 8;
		struct rset **ns = realloc(rs->sets, ncap * sizeof(*ns));

		if (ns == NULL)
			goto fail_oom;
		rs->sets = ns;
		rs->capsets = ncap;
	}
	if ((set = calloc(1, sizeof(*set))) == NULL)
		goto fail_oom;
	set->type = type;
	rtab_build(&set->t[0], &vec[0]);
	rtab_build(&set->t[1], &vec[1]);
	set->text = sb_take(&sb);
	/* Owned by rs from here on, so ctg_ruleset_free cleans up. */
	rs->sets[rs->nsets++] = set;
	set->name = strdup(name);
	set->where = where_dup(L, s);
	if (set->name == NULL || set->text == NULL || set->where == NULL) {
		oom(L);
		return -1;
	}
	r = strtab_put(&L->set_names, set->name, rs->nsets - 1, &prev);
	if (r == -1)
		goto fail_oom;
	if (r == 1) {
		lerr(L, s, "duplicate set name (first defined at %s)",
		    rs->sets[prev]->where);
		return -1;
	}
	L->ctx = "";
	return 0;
fail_oom:
	oom(L);
fail:
	free(vec[0].r);
	free(vec[1].r);
	free(sb.s);
	return -1;
}

/* An address or port match of a rule. */
static int
parse_mlist(struct loader *L, config_setting_t *s, int type, struct mlist *m,
    struct sbuf *text)
{
	struct rvec pos[2] = { { 0 }, { 0 } }, neg[2] = { { 0 }, { 0 } };
	unsigned n;

	if (nonempty(L, s) == -1)
		return -1;
	n = elem_count(s);
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *e = elem_at(s, i);
		const char *str = elem_str(e);
		bool isneg = false;

		if (i > 0)
			sb_printf(text, ",");
		if (str != NULL && str[0] == '!') {
			isneg = true;
			str++;
			sb_printf(text, "!");
		}
		if (str != NULL && str[0] == '@') {
			uint32_t si;
			struct rset *set;
			struct setref *nr;

			if (!strtab_get(&L->set_names, str + 1, &si)) {
				lerr(L, e, "undefined set '%s'", str);
				goto fail;
			}
			set = L->rs->sets[si];
			if (set->type != type) {
				lerr(L, e, "set '%s' has type %s, not %s", str,
				    set->type == SET_ADDRESS ? "address" : "port",
				    type == SET_ADDRESS ? "address" : "port");
				goto fail;
			}
			nr = realloc(m->refs, (m->nrefs + 1) * sizeof(*nr));
			if (nr == NULL) {
				oom(L);
				goto fail;
			}
			m->refs = nr;
			m->refs[m->nrefs].set = set;
			m->refs[m->nrefs].neg = isneg;
			m->nrefs++;
			sb_printf(text, "@%s{%s}", set->name, set->text);
		} else if (parse_member(L, e, type, isneg ? neg : pos, text,
		    str) == -1)
			goto fail;
		if (isneg)
			m->has_neg = true;
		else
			m->has_pos = true;
	}
	for (int f = 0; f < 2; f++) {
		rtab_build(&m->pos[f], &pos[f]);
		rtab_build(&m->neg[f], &neg[f]);
	}
	return 0;
fail:
	for (int f = 0; f < 2; f++) {
		free(pos[f].r);
		free(neg[f].r);
	}
	return -1;
}

static int
parse_ifaces(struct loader *L, config_setting_t *s, char ***out,
    uint32_t *nout, struct sbuf *text)
{
	unsigned n;

	if (nonempty(L, s) == -1)
		return -1;
	n = elem_count(s);
	if ((*out = calloc(n, sizeof(char *))) == NULL) {
		oom(L);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *e = elem_at(s, i);
		const char *str;

		if (get_str(L, e, &str) == -1)
			return -1;
		if (str[0] == '\0' || strlen(str) >= IFPAT_MAX ||
		    strspn(str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-*?") != strlen(str)) {
			lerr(L, e, "bad interface name '%s'", str);
			return -1;
		}
		if (((*out)[i] = strdup(str)) == NULL) {
			oom(L);
			return -1;
		}
		*nout = i + 1;
		sb_printf(text, "%s%s", i ? "," : "", str);
	}
	return 0;
}

struct icmp_name {
	const char *name;
	int v4, v6;             /* -1: no such type in that family */
};

static const struct icmp_name icmp_names[] = {
	{ "echo-reply",              0, 129 },
	{ "dest-unreachable",        3,   1 },
	{ "packet-too-big",         -1,   2 },  /* IPv4: type 3 code 4 */
	{ "time-exceeded",          11,   3 },
	{ "parameter-problem",      12,   4 },
	{ "echo-request",            8, 128 },
	{ "router-solicitation",    10, 133 },
	{ "router-advertisement",    9, 134 },
	{ "neighbor-solicitation",  -1, 135 },
	{ "neighbor-advertisement", -1, 136 },
};

static const char *const timeout_keys[] = {
	"tcp_syn_sent", "tcp_syn_rcvd", "tcp_established", "tcp_fin_wait",
	"tcp_close_wait", "tcp_last_ack", "tcp_time_wait", "tcp_close",
	"tcp_unacked", "tcp_retrans", "udp_unreplied", "udp_replied",
	"udp_assured", "icmp", "other", NULL
};

static uint32_t *
timeout_field(struct ctg_timeouts *t, unsigned i)
{
	uint32_t *f[] = {
		&t->tcp_syn_sent, &t->tcp_syn_rcvd, &t->tcp_established,
		&t->tcp_fin_wait, &t->tcp_close_wait, &t->tcp_last_ack,
		&t->tcp_time_wait, &t->tcp_close, &t->tcp_unacked,
		&t->tcp_retrans, &t->udp_unreplied, &t->udp_replied,
		&t->udp_assured, &t->icmp, &t->other,
	};

	return f[i];
}

static const char tcp_flag_letters[] = "FSRPAUEC";

static int
parse_flag_letters(struct loader *L, const config_setting_t *s,
    const char *p, const char *end, const char *whole, uint8_t *out)
{
	*out = 0;
	for (; p < end; p++) {
		const char *c = strchr(tcp_flag_letters, *p);

		if (*p == '\0' || c == NULL) {
			lerr(L, s, "bad tcp_flags '%s' (letters FSRPAUEC, as in \"S/SA\")",
			    whole);
			return -1;
		}
		*out |= (uint8_t)(1u << (c - tcp_flag_letters));
	}
	return 0;
}

static void
flags_text(uint8_t f, struct sbuf *sb)
{
	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			sb_printf(sb, "%c", tcp_flag_letters[i]);
}

static int
parse_action(struct loader *L, config_setting_t *s, uint8_t *out)
{
	const char *str;

	if (get_str(L, s, &str) == -1)
		return -1;
	for (int a = CTG_ACT_ACCEPT; a <= CTG_ACT_REJECT; a++) {
		if (strcmp(str, ctg_action_name(a)) == 0) {
			*out = (uint8_t)a;
			return 0;
		}
	}
	lerr(L, s, "unknown action '%s' (accept, drop, reject)", str);
	return -1;
}

static bool
valid_rule_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < CTG_RULE_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

static config_setting_t *
member(config_setting_t *g, const char *name)
{
	return config_setting_get_member(g, name);
}

/* Everything from proto to icmp_code; appends "key=value " to text. */
static int
parse_matches(struct loader *L, config_setting_t *g, struct rule *r,
    struct sbuf *t)
{
	config_setting_t *s;
	const char *str;
	long long v;

	if ((s = member(g, "family")) != NULL) {
		for (unsigned i = 0; i < elem_count(s); i++) {
			config_setting_t *e = elem_at(s, i);
			int ty = config_setting_type(e);
			long long f = -1;

			if (ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64)
				f = config_setting_get_int64(e);
			else if ((str = elem_str(e)) != NULL)
				f = strcmp(str, "ipv4") == 0 ? 4 :
				    strcmp(str, "ipv6") == 0 ? 6 : -1;
			if (f != 4 && f != 6) {
				lerr(L, e, "bad family (4, 6, \"ipv4\" or \"ipv6\")");
				return -1;
			}
			r->family_mask |= (uint8_t)(1u << (f == 4 ? FS_V4 : FS_V6));
		}
		if (nonempty(L, s) == -1)
			return -1;
		r->mask |= M_FAMILY;
	}
	sb_printf(t, "family=%s",
	    !(r->mask & M_FAMILY) || r->family_mask == 3 ? "any" :
	    r->family_mask == 1 ? "ipv4" : "ipv6");

	sb_printf(t, " proto=");
	if ((s = member(g, "proto")) != NULL) {
		if (nonempty(L, s) == -1)
			return -1;
		for (unsigned i = 0; i < elem_count(s); i++) {
			config_setting_t *e = elem_at(s, i);
			int ty = config_setting_type(e);
			long long p = -1;

			if (ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64) {
				p = config_setting_get_int64(e);
				if (p < 0 || p > 255) {
					lerr(L, e, "protocol %lld out of range (0-255)", p);
					return -1;
				}
			} else if ((str = elem_str(e)) != NULL) {
				/* names only: a number is written as an integer */
				p = ctg_proto_by_name(str);
				if (p < 0) {
					lerr(L, e, "unknown protocol '%s' (tcp, udp, icmp, icmpv6 or a number)",
					    str);
					return -1;
				}
			} else {
				lerr(L, e, "protocol must be a name or a number, not %s",
				    type_name(ty));
				return -1;
			}
			bm_set(r->proto_bm, (unsigned)p);
			if (ctg_proto_name((uint8_t)p))
				sb_printf(t, "%s%s", i ? "," : "", ctg_proto_name((uint8_t)p));
			else
				sb_printf(t, "%s%lld", i ? "," : "", p);
		}
		r->mask |= M_PROTO;
	} else
		sb_printf(t, "any");

	static const struct {
		const char *key;
		uint32_t bit;
		int type;
		size_t off;
	} lists[] = {
		{ "src", M_SRC, SET_ADDRESS, offsetof(struct rule, src) },
		{ "src_port", M_SPORT, SET_PORT, offsetof(struct rule, sport) },
		{ "dst", M_DST, SET_ADDRESS, offsetof(struct rule, dst) },
		{ "dst_port", M_DPORT, SET_PORT, offsetof(struct rule, dport) },
	};
	for (unsigned k = 0; k < 4; k++) {
		sb_printf(t, " %s=", lists[k].key);
		if ((s = member(g, lists[k].key)) == NULL) {
			sb_printf(t, "any");
			continue;
		}
		if (lists[k].type == SET_PORT && (r->mask & M_PROTO) &&
		    !bm_test(r->proto_bm, IPPROTO_TCP) &&
		    !bm_test(r->proto_bm, IPPROTO_UDP)) {
			lerr(L, s, "'%s' needs proto tcp or udp", lists[k].key);
			return -1;
		}
		if (parse_mlist(L, s, lists[k].type,
		    (struct mlist *)((char *)r + lists[k].off), t) == -1)
			return -1;
		r->mask |= lists[k].bit;
	}

	sb_printf(t, " iif=");
	if ((s = member(g, "iif")) != NULL) {
		if (parse_ifaces(L, s, &r->iif, &r->niif, t) == -1)
			return -1;
		r->mask |= M_IIF;
	} else
		sb_printf(t, "any");
	sb_printf(t, " oif=");
	if ((s = member(g, "oif")) != NULL) {
		if (parse_ifaces(L, s, &r->oif, &r->noif, t) == -1)
			return -1;
		r->mask |= M_OIF;
	} else
		sb_printf(t, "any");

	sb_printf(t, " state=");
	if ((s = member(g, "state")) != NULL) {
		if (nonempty(L, s) == -1)
			return -1;
		for (unsigned i = 0; i < elem_count(s); i++) {
			config_setting_t *e = elem_at(s, i);
			int st;

			if (get_str(L, e, &str) == -1)
				return -1;
			for (st = CTG_CT_NEW; st <= CTG_CT_INVALID; st++)
				if (strcmp(str, ctg_ctstate_name(st)) == 0)
					break;
			if (st > CTG_CT_INVALID) {
				lerr(L, e, "unknown state '%s' (new, established, related, invalid)",
				    str);
				return -1;
			}
			r->state_mask |= (uint8_t)(1u << st);
			sb_printf(t, "%s%s", i ? "," : "", str);
		}
		r->mask |= M_STATE;
	} else
		sb_printf(t, "any");

	sb_printf(t, " reason=");
	if ((s = member(g, "reason")) != NULL) {
		if (nonempty(L, s) == -1)
			return -1;
		for (unsigned i = 0; i < elem_count(s); i++) {
			config_setting_t *e = elem_at(s, i);
			enum ctg_reason rc;

			if (get_str(L, e, &str) == -1)
				return -1;
			if (ctg_reason_parse(str, &rc) == -1) {
				lerr(L, e, "unknown reason '%s'", str);
				return -1;
			}
			bm_set(r->reason_bm, rc);
			sb_printf(t, "%s%s", i ? "," : "", str);
		}
		r->mask |= M_REASON;
	} else
		sb_printf(t, "any");

	sb_printf(t, " tcp_flags=");
	if ((s = member(g, "tcp_flags")) != NULL) {
		const char *slash;

		if (get_str(L, s, &str) == -1)
			return -1;
		if ((r->mask & M_PROTO) && !bm_test(r->proto_bm, IPPROTO_TCP)) {
			lerr(L, s, "'tcp_flags' needs proto tcp");
			return -1;
		}
		slash = strchr(str, '/');
		if (parse_flag_letters(L, s, str, slash ? slash : str + strlen(str),
		    str, &r->flags_set) == -1)
			return -1;
		if (slash != NULL) {
			if (parse_flag_letters(L, s, slash + 1,
			    slash + 1 + strlen(slash + 1), str, &r->flags_mask) == -1)
				return -1;
			if (r->flags_mask == 0) {
				lerr(L, s, "bad tcp_flags '%s': empty mask", str);
				return -1;
			}
		} else
			r->flags_mask = 0xff;
		if (r->flags_set & ~r->flags_mask) {
			lerr(L, s, "tcp_flags '%s' can never match: flags set outside the mask",
			    str);
			return -1;
		}
		flags_text(r->flags_set, t);
		sb_printf(t, "/");
		flags_text(r->flags_mask, t);
		r->mask |= M_TCPFLAGS;
	} else
		sb_printf(t, "any");

	sb_printf(t, " icmp_type=");
	if ((s = member(g, "icmp_type")) != NULL) {
		if (nonempty(L, s) == -1)
			return -1;
		if ((r->mask & M_PROTO) && !bm_test(r->proto_bm, IPPROTO_ICMP) &&
		    !bm_test(r->proto_bm, IPPROTO_ICMPV6)) {
			lerr(L, s, "'icmp_type' needs proto icmp or icmpv6");
			return -1;
		}
		for (unsigned i = 0; i < elem_count(s); i++) {
			config_setting_t *e = elem_at(s, i);
			int ty = config_setting_type(e);

			if (ty == CONFIG_TYPE_INT || ty == CONFIG_TYPE_INT64) {
				if (get_int(L, e, 0, 255, &v) == -1)
					return -1;
				bm_set(r->icmp_type_bm[0], (unsigned)v);
				bm_set(r->icmp_type_bm[1], (unsigned)v);
				sb_printf(t, "%s%lld", i ? "," : "", v);
				continue;
			}
			if ((str = elem_str(e)) == NULL) {
				lerr(L, e, "icmp type must be a name or a number, not %s",
				    type_name(ty));
				return -1;
			}
			unsigned k;
			for (k = 0; k < sizeof(icmp_names) / sizeof(icmp_names[0]); k++)
				if (strcmp(icmp_names[k].name, str) == 0)
					break;
			if (k == sizeof(icmp_names) / sizeof(icmp_names[0])) {
				lerr(L, e, "unknown icmp type '%s'", str);
				return -1;
			}
			if (icmp_names[k].v4 >= 0)
				bm_set(r->icmp_type_bm[0], (unsigned)icmp_names[k].v4);
			else if (strcmp(str, "packet-too-big") == 0)
				r->icmp_v4_ptb = true;
			bm_set(r->icmp_type_bm[1], (unsigned)icmp_names[k].v6);
			sb_printf(t, "%s%s", i ? "," : "", str);
		}
		r->mask |= M_ICMPTYPE;
	} else
		sb_printf(t, "any");

	sb_printf(t, " icmp_code=");
	if ((s = member(g, "icmp_code")) != NULL) {
		if (nonempty(L, s) == -1)
			return -1;
		if ((r->mask & M_PROTO) && !bm_test(r->proto_bm, IPPROTO_ICMP) &&
		    !bm_test(r->proto_bm, IPPROTO_ICMPV6)) {
			lerr(L, s, "'icmp_code' needs proto icmp or icmpv6");
			return -1;
		}
		for (unsigned i = 0; i < elem_count(s); i++) {
			if (get_int(L, elem_at(s, i), 0, 255, &v) == -1)
				return -1;
			bm_set(r->icmp_code_bm, (unsigned)v);
			sb_printf(t, "%s%lld", i ? "," : "", v);
		}
		r->mask |= M_ICMPCODE;
	} else
		sb_printf(t, "any");
	return 0;
}

static int
parse_options(struct loader *L, config_setting_t *g, struct rule *r,
    struct sbuf *t)
{
	static const char *const rl_keys[] = { "rate", "burst", "action", NULL };
	config_setting_t *s, *e;
	const char *str;
	long long v;

	r->log = CTG_RULELOG_INHERIT;
	if ((s = member(g, "log")) != NULL) {
		if (get_str(L, s, &str) == -1)
			return -1;
		if (strcmp(str, "none") == 0)
			r->log = CTG_RULELOG_NONE;
		else if (strcmp(str, "verdict") == 0)
			r->log = CTG_RULELOG_VERDICT;
		else if (strcmp(str, "flow") == 0)
			r->log = CTG_RULELOG_FLOW;
		else {
			lerr(L, s, "unknown log '%s' (none, verdict, flow)", str);
			return -1;
		}
	}
	sb_printf(t, " log=%s", r->log == CTG_RULELOG_INHERIT ? "inherit" :
	    r->log == CTG_RULELOG_NONE ? "none" :
	    r->log == CTG_RULELOG_VERDICT ? "verdict" : "flow");

	sb_printf(t, " rate_limit=");
	if ((s = member(g, "rate_limit")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			lerr(L, s, "'rate_limit' must be a group { rate = N; burst = N; action = \"drop\"; }");
			return -1;
		}
		if (check_keys(L, s, rl_keys, "rate_limit setting") == -1)
			return -1;
		if ((e = member(s, "rate")) == NULL) {
			lerr(L, s, "'rate_limit' needs 'rate' (packets per second)");
			return -1;
		}
		if (get_int(L, e, 1, MAX_RATE, &v) == -1)
			return -1;
		r->rate = (uint32_t)v;
		r->burst = r->rate;
		if ((e = member(s, "burst")) != NULL) {
			if (get_int(L, e, 1, MAX_RATE, &v) == -1)
				return -1;
			r->burst = (uint32_t)v;
		}
		r->rate_action = CTG_ACT_DROP;
		if ((e = member(s, "action")) != NULL &&
		    parse_action(L, e, &r->rate_action) == -1)
			return -1;
		sb_printf(t, "rate:%u,burst:%u,action:%s", r->rate, r->burst,
		    ctg_action_name(r->rate_action));
	} else
		sb_printf(t, "none");

	sb_printf(t, " conn_limit=");
	if ((s = member(g, "conn_limit")) != NULL) {
		if (get_int(L, s, 1, MAX_CONN_LIMIT, &v) == -1)
			return -1;
		if (r->action != CTG_ACT_ACCEPT) {
			lerr(L, s, "'conn_limit' needs action accept");
			return -1;
		}
		r->conn_limit = (uint32_t)v;
		sb_printf(t, "%u", r->conn_limit);
	} else
		sb_printf(t, "none");

	sb_printf(t, " timeouts=");
	if ((s = member(g, "timeouts")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			lerr(L, s, "'timeouts' must be a group { tcp_established = N; ... }");
			return -1;
		}
		if (check_keys(L, s, timeout_keys, "timeout") == -1)
			return -1;
		if (config_setting_length(s) == 0) {
			lerr(L, s, "'timeouts' is empty");
			return -1;
		}
		for (unsigned i = 0; timeout_keys[i] != NULL; i++) {
			if ((e = member(s, timeout_keys[i])) == NULL)
				continue;
			if (get_int(L, e, 1, MAX_TIMEOUT, &v) == -1)
				return -1;
			*timeout_field(&r->timeouts, i) = (uint32_t)v;
			sb_printf(t, "%s%s:%lld", r->has_timeouts ? "," : "",
			    timeout_keys[i], v);
			r->has_timeouts = true;
		}
	} else
		sb_printf(t, "none");
	return 0;
}

static int
parse_rule(struct loader *L, config_setting_t *g)
{
	static const char *const keys[] = {
		"name", "action", "family", "proto", "src", "dst", "src_port",
		"dst_port", "iif", "oif", "state", "reason", "tcp_flags",
		"icmp_type", "icmp_code", "log", "rate_limit", "conn_limit",
		"timeouts", NULL
	};
	struct ctg_ruleset *rs = L->rs;
	struct rule *r;
	config_setting_t *s;
	const char *name;
	struct sbuf t = { 0 };
	uint32_t prev;
	int res;

	L->ctx = "";
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(L, g, "a rule must be a group { name = ...; action = ...; }");
		return -1;
	}
	if ((s = member(g, "name")) == NULL) {
		lerr(L, g, "rule without a name");
		return -1;
	}
	if (get_str(L, s, &name) == -1)
		return -1;
	if (!valid_rule_name(name) || strcmp(name, "default") == 0) {
		lerr(L, s, "bad rule name '%s' (1-%d of A-Z a-z 0-9 _ . : -, not \"default\")",
		    name, CTG_RULE_NAME_MAX - 1);
		return -1;
	}
	snprintf(L->ctxbuf, sizeof(L->ctxbuf), "rule '%s': ", name);
	L->ctx = L->ctxbuf;
	if (check_keys(L, g, keys, "rule setting") == -1)
		return -1;

	if (rs->nrules == rs->caprules) {
		uint32_t ncap = rs->caprules ? rs->caprules * 2 : 16;
		struct rule *nr = realloc(rs->rules, ncap * sizeof(*nr));

		if (nr == NULL) {
			oom(L);
			return -1;
		}
		rs->rules = nr;
		rs->caprules = ncap;
	}
	/* Owned by rs from here on, so ctg_ruleset_free cleans up. */
	r = &rs->rules[rs->nrules++];
	memset(r, 0, sizeof(*r));
	strcpy(r->name, name);
	if ((r->where = where_dup(L, g)) == NULL) {
		oom(L);
		return -1;
	}
	res = strtab_put(&L->rule_names, r->name, rs->nrules - 1, &prev);
	if (res == -1) {
		oom(L);
		return -1;
	}
	if (res == 1) {
		lerr(L, s, "duplicate rule name (first defined at %s)",
		    rs->rules[prev].where);
		return -1;
	}
	if ((s = member(g, "action")) == NULL) {
		lerr(L, g, "rule has no action");
		return -1;
	}
	if (parse_action(L, s, &r->action) == -1)
		return -1;
	sb_printf(&t, "action=%s ", ctg_action_name(r->action));
	if (parse_matches(L, g, r, &t) == -1 || parse_options(L, g, r, &t) == -1) {
		free(t.s);
		return -1;
	}
	if ((r->text = sb_take(&t)) == NULL) {
		oom(L);
		return -1;
	}
	L->ctx = "";
	return 0;
}

static int load_file(struct loader *, const char *, const config_setting_t *);

/* path relative to the directory of base, unless absolute. */
static int
resolve(struct loader *L, const config_setting_t *s, const char *base,
    const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(base, '/');
	int n;

	if (path[0] == '/' || slash == NULL)
		n = snprintf(out, outlen, "%s", path);
	else
		n = snprintf(out, outlen, "%.*s/%s", (int)(slash - base), base,
		    path);
	if (n < 0 || (size_t)n >= outlen) {
		lerr(L, s, "include path too long");
		return -1;
	}
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
load_dir(struct loader *L, const config_setting_t *s, const char *base,
    const char *dir)
{
	char path[PATH_MAX], file[PATH_MAX];
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	if (resolve(L, s, base, dir, path, sizeof(path)) == -1)
		return -1;
	if ((d = opendir(path)) == NULL) {
		lerr(L, s, "cannot open include_dir '%s': %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 7 ||
		    strcmp(de->d_name + len - 6, ".rules") != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (nn == NULL)
				goto out;
			names = nn;
			cap = ncap;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto out;
		n++;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int len = snprintf(file, sizeof(file), "%s/%s", path, names[i]);

		if (len < 0 || (size_t)len >= sizeof(file)) {
			lerr(L, s, "include path too long");
			rc = -1;
		} else
			rc = load_file(L, file, s);
	}
out:
	if (rc == -1 && !L->failed)
		oom(L);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int
load_root(struct loader *L, config_setting_t *root, const char *path)
{
	static const char *const keys[] = {
		"include", "include_dir", "default_policy", "sets", "rules", NULL
	};
	config_setting_t *s;
	char inc[PATH_MAX];
	const char *str;

	L->ctx = "";
	if (check_keys(L, root, keys, "setting") == -1)
		return -1;
	if ((s = member(root, "include")) != NULL) {
		for (unsigned i = 0; i < elem_count(s); i++) {
			config_setting_t *e = elem_at(s, i);

			if (get_str(L, e, &str) == -1 ||
			    resolve(L, e, path, str, inc, sizeof(inc)) == -1 ||
			    load_file(L, inc, e) == -1)
				return -1;
		}
	}
	if ((s = member(root, "include_dir")) != NULL) {
		if (get_str(L, s, &str) == -1 || load_dir(L, s, path, str) == -1)
			return -1;
	}
	L->ctx = "";
	if ((s = member(root, "default_policy")) != NULL) {
		uint8_t a;

		if (L->policy_where != NULL) {
			lerr(L, s, "default_policy already set at %s",
			    L->policy_where);
			return -1;
		}
		if (parse_action(L, s, &a) == -1)
			return -1;
		L->rs->policy = a;
		if ((L->policy_where = where_dup(L, s)) == NULL) {
			oom(L);
			return -1;
		}
	}
	if ((s = member(root, "sets")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			lerr(L, s, "'sets' must be a group { name = { ... }; }");
			return -1;
		}
		for (int i = 0; i < config_setting_length(s); i++)
			if (parse_set(L, config_setting_get_elem(s, i)) == -1)
				return -1;
		L->ctx = "";
	}
	if ((s = member(root, "rules")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_LIST) {
			lerr(L, s, "'rules' must be a list ( { ... }, { ... } )");
			return -1;
		}
		for (int i = 0; i < config_setting_length(s); i++)
			if (parse_rule(L, config_setting_get_elem(s, i)) == -1)
				return -1;
	}
	return 0;
}

/* from: the include setting that named path, NULL for a top-level file. */
static int
load_file(struct loader *L, const char *path, const config_setting_t *from)
{
	config_t cfg;
	char *real;
	FILE *fp;
	int rc;

	if (L->depth > CTG_RULES_MAX_DEPTH) {
		lerr(L, from, "includes nested deeper than %d", CTG_RULES_MAX_DEPTH);
		return -1;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		char msg[sizeof(L->diag->error)];

		if (from != NULL) {
			lerr(L, from, "cannot open include '%s': %s", path,
			    strerror(errno));
		} else {
			snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
			lerr_plain(L, msg);
		}
		return -1;
	}
	fclose(fp);
	if ((real = realpath(path, NULL)) == NULL) {
		oom(L);
		return -1;
	}
	for (unsigned i = 0; i < L->depth; i++) {
		if (strcmp(L->stack[i], real) == 0) {
			free(real);
			lerr(L, from, "include loop: '%s' is already being loaded",
			    path);
			return -1;
		}
	}
	L->stack[L->depth++] = real;

	char *text = NULL, why[256];
	int line;

	/* the same reader as the configuration's: size bound, no NUL, no @include, 64-bit ints */
	if (ctg_cfgtext_read(path, CTG_CFGTEXT_RULES_MAX, &text, &line, why, sizeof(why)) == -1) {
		char msg[sizeof(L->diag->error)];

		if (line > 0)
			snprintf(msg, sizeof(msg), "%s:%d: %s", path, line, why);
		else
			snprintf(msg, sizeof(msg), "%s: %s", path, why);
		lerr_plain(L, msg);
		free(L->stack[--L->depth]);
		L->stack[L->depth] = NULL;
		return -1;
	}
	config_init(&cfg);
	/* errors carry the path we give libconfig as the include directory's file */
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		char msg[sizeof(L->diag->error)];

		snprintf(msg, sizeof(msg), "%s:%d: %s", path,
		    config_error_line(&cfg), config_error_text(&cfg));
		lerr_plain(L, msg);
		rc = -1;
	} else {
		const char *outer = L->cur_path;

		L->cur_path = path;
		rc = load_root(L, config_root_setting(&cfg), path);
		L->cur_path = outer;
	}
	config_destroy(&cfg);
	free(text);
	free(L->stack[--L->depth]);
	L->stack[L->depth] = NULL;
	return rc;
}

/* --- after loading: shadowing, buckets, limit tables, hash --- */

static bool
mlist_admits_family(const struct mlist *m, int f)
{
	if (!m->has_pos)
		return true;
	if (m->pos[f].n > 0)
		return true;
	for (uint32_t i = 0; i < m->nrefs; i++)
		if (!m->refs[i].neg && m->refs[i].set->t[f].n > 0)
			return true;
	return false;
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
			if (!same && !rtab_within(a, f, &b->refs[i].set->t[f]))
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
			    glob_match(a[k], b[i]))
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

	if (a->rate || a->conn_limit)
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

static void
check_shadowing(struct loader *L)
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

static void
portidx_free(struct portidx *x)
{
	if (x == NULL)
		return;
	free(x->bounds);
	free(x->start);
	free(x->cand);
	free(x->any);
	free(x);
}

/* The last interval starting at or below port. */
static uint32_t
portidx_find(const struct portidx *x, unsigned port)
{
	uint32_t lo = 0, hi = x->nint;

	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;

		if (x->bounds[mid] <= port)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
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
				portidx_free(x);
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
	portidx_free(x);
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

static int
finish(struct loader *L)
{
	struct ctg_ruleset *rs = L->rs;
	bool need_rate = false, need_conn = false;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	/* connections keep the index of the rule that accepted them in 16 bits */
	if (rs->nrules > CTG_RULES_MAX) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%u rules: at most %u are allowed",
		    rs->nrules, CTG_RULES_MAX);
		lerr_plain(L, msg);
		return -1;
	}
	check_shadowing(L);
	if (build_buckets(rs) == -1)
		return -1;
	for (uint32_t i = 0; i < rs->nrules; i++) {
		need_rate |= rs->rules[i].rate != 0;
		need_conn |= rs->rules[i].conn_limit != 0;
		rs->uses_interfaces |= (rs->rules[i].mask & (M_IIF | M_OIF)) != 0;
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
	if ((mf = open_memstream(&buf, &len)) == NULL)
		return -1;
	ctg_ruleset_print(rs, mf);
	if (fclose(mf) != 0) {
		free(buf);
		return -1;
	}
	rs->hash = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++)
		rs->hash = (rs->hash ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
	free(buf);
	return 0;
}

struct ctg_ruleset *
ctg_ruleset_load(const char *const *paths, unsigned npaths,
    struct ctg_rules_diag *diag)
{
	struct loader L;

	memset(diag, 0, sizeof(*diag));
	memset(&L, 0, sizeof(L));
	L.diag = diag;
	L.ctx = "";
	if ((L.rs = calloc(1, sizeof(*L.rs))) == NULL) {
		oom(&L);
		return NULL;
	}
	L.rs->policy = CTG_ACT_DROP;
	if (npaths == 0)
		lerr_plain(&L, "no rule files given");
	for (unsigned i = 0; i < npaths && !L.failed; i++)
		load_file(&L, paths[i], NULL);
	if (!L.failed && finish(&L) == -1)
		oom(&L);
	free(L.policy_where);
	strtab_free(&L.rule_names);
	strtab_free(&L.set_names);
	if (L.failed) {
		ctg_ruleset_free(L.rs);
		return NULL;
	}
	return L.rs;
}
