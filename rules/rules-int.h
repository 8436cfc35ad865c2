/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine, private: the compiled form shared by the rooms of rules/.
 * Only the rules/ sources include this; everything else uses ctguard/rules.h.
 *
 * The rooms, in the order a ruleset lives through them (pf's parse /
 * ruleset / evaluate split):
 *   rules-load.c     files, include, include_dir, top-level settings,
 *                    FILE:LINE: diagnostics, libconfig value helpers
 *   rules-keys.c     the rule key table: one handler per key, which
 *                    checks the setting, compiles it into struct rule and
 *                    writes its canonical text
 *   rules-lists.c    address and port lists ("!", "@set") and named sets
 *   rules-compile.c  range tables, evaluation buckets, prefilters, the
 *                    destination-port index, finishing a load
 *   rules-shadow.c   the unreachable-rule warning
 *   rules-eval.c     matching and the first-match walk (packet path)
 *   rules-limits.c   rate_limit and conn_limit tables (packet path)
 *   rules-print.c    canonical text, ctg_ruleset_print, the hash
 *   rules-ruleset.c  accessors and teardown
 *   rules-dynset.c   dynamic sets: contents changed at run time, published
 *                    as immutable versions (ctguard/dynset.h)
 * Non-static functions are ctg_ruleset_* (public, rules.h) or rules_*
 * (private, declared below by the file that defines them).
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
 */
#ifndef CTGUARD_RULES_INT_H
#define CTGUARD_RULES_INT_H

#include <libconfig.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/dynset.h"
#include "ctguard/strbuf.h"
#include "ctguard/timeouts.h"
#include "ctguard/netaddr.h"
#include "ctguard/rules.h"

_Static_assert(CTG_R_COUNT <= 128, "reason bitmap holds 128 reasons");

#define LIM_WAYS        4
#define TOKEN           1000000ULL      /* one token in micro-tokens */
#define MAX_RATE        1000000
#define MAX_CONN_LIMIT  1000000
#define MAX_TIMEOUT     CTG_TIMEOUT_MAX_S      /* as ctguard.conf: 365 days */
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

/* One published version of a dynamic set's contents: immutable. */
struct dynver {
	struct rtab t[2];       /* [0] IPv4, [1] IPv6 */
};

struct rset {
	char *name;
	int type;               /* SET_* */
	struct rtab t[2];       /* address: [0] IPv4, [1] IPv6; port: [0] */
	char *text;             /* members, canonical, comma separated; "dynamic" */
	char *where;            /* FILE:LINE of the definition */
	uint64_t hits;
	bool dynamic;           /* contents in dyn (rules-dynset.c), t[] empty */
	struct ctg_dynset *dyn; /* NULL until ctg_dynsets_bind: then empty */
};

/*
 * A dynamic set of the registry. cur is the only field a worker reads;
 * the rest belongs to the main thread.
 */
struct ctg_dynset {
	_Atomic(struct dynver *) cur;
	char name[CTG_DYNSET_NAME_MAX];
	bool declared;
	struct dynent *e;       /* entries, unsorted */
	size_t n, cap;
};

/* The range table a lookup in set reads: a dynamic set's current version. */
static inline const struct rtab *
rset_tab(const struct rset *set, int t)
{
	if (set->dyn != NULL)
		return &atomic_load_explicit(&set->dyn->cur,
		    memory_order_acquire)->t[t];
	return &set->t[t];
}

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
	uint8_t crate_action;
	bool icmp_v4_ptb;       /* IPv4 type 3 code 4 (packet-too-big) */
	bool has_timeouts;
	uint64_t proto_bm[4];
	uint64_t reason_bm[2];
	uint64_t icmp_type_bm[2][4];    /* [0] IPv4, [1] IPv6 */
	uint64_t icmp_code_bm[4];
	struct mlist src, dst, sport, dport;
	char **iif, **oif;
	uint32_t niif, noif;
	uint32_t rate, burst;   /* rate_limit, packets; rate 0: none */
	uint32_t crate, cburst; /* conn_rate, new connections; crate 0: none */
	uint32_t conn_limit;    /* 0: none */
	struct ctg_timeouts timeouts;
	uint64_t hits;
	char name[CTG_RULE_NAME_MAX];
	char *text;             /* canonical fields */
	char *where;            /* FILE:LINE */
};

/* One (rule, source) or (rule, prefix) entry of a limit table. */
struct lim_slot {
	struct ctg_addr addr;
	uint32_t rule;          /* rule index + 1, 0 = free */
	uint8_t family;
	uint8_t plen;           /* 0: one source; else the prefix length */
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
	struct lim_slot *rate_tab, *crate_tab, *conn_tab;
	/* per rule: the overflow entry of each table */
	struct lim_slot *rate_shared, *crate_shared, *conn_shared;
	bool uses_interfaces;
	struct bucket buckets[PC_COUNT][FS_COUNT];
};


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

struct rvec {
	struct range *r;
	size_t n, cap;
};

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

/* The last interval of x starting at or below port. */
static inline uint32_t
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

/* Loading state, alive for one ctg_ruleset_load. */
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

static inline config_setting_t *
member(config_setting_t *g, const char *name)
{
	return config_setting_get_member(g, name);
}

/* rules-load.c: diagnostics and libconfig values */
void rules_err(struct loader *L, const config_setting_t *s, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
void rules_err_plain(struct loader *L, const char *msg);
void rules_oom(struct loader *L);
char *rules_where(const struct loader *L, const config_setting_t *s);
const char *rules_type_name(int type);
int rules_get_str(struct loader *L, const config_setting_t *s,
    const char **out);
int rules_get_int(struct loader *L, const config_setting_t *s, long long lo,
    long long hi, long long *out);
unsigned rules_nelem(const config_setting_t *s);
config_setting_t *rules_elem(config_setting_t *s, unsigned i);
const char *rules_elem_str(config_setting_t *e);
int rules_nonempty(struct loader *L, const config_setting_t *s);
int rules_check_keys(struct loader *L, const config_setting_t *s,
    const char *const *keys, const char *what);
int rules_strtab_put(struct strtab *t, const char *key, uint32_t val,
    uint32_t *found);
int rules_strtab_get(const struct strtab *t, const char *key,
    uint32_t *found);
void rules_strtab_free(struct strtab *t);

/* rules-keys.c */
int rules_parse_rule(struct loader *L, config_setting_t *g);
int rules_parse_action(struct loader *L, config_setting_t *s, uint8_t *out);

/* rules-lists.c */
void rules_prefix_range(const struct ctg_prefix *c, struct r128 *a,
    struct r128 *b);
int rules_parse_set(struct loader *L, config_setting_t *s);
int rules_parse_mlist(struct loader *L, config_setting_t *s, int type,
    struct mlist *m, struct ctg_strbuf *text);

/* rules-compile.c */
int rules_rvec_push(struct rvec *v, struct r128 a, struct r128 b);
void rules_rtab_build(struct rtab *t, struct rvec *v);
int rules_finish(struct loader *L);
void rules_portidx_free(struct portidx *x);

/* rules-shadow.c */
void rules_check_shadowing(struct loader *L);

/* rules-eval.c */
bool rules_glob_match(const char *pat, const char *s);

/* rules-limits.c */
int rules_limits_init(struct ctg_ruleset *rs);
bool rules_rate_ok(struct ctg_ruleset *rs, const struct rule *r, uint32_t idx,
    const struct ctg_tuple *t, uint64_t now);
bool rules_crate_ok(struct ctg_ruleset *rs, const struct rule *r,
    uint32_t idx, const struct ctg_tuple *t, uint64_t now);
bool rules_conn_take(struct ctg_ruleset *rs, const struct rule *r,
    uint32_t idx, const struct ctg_tuple *t, uint64_t now);

/* rules-print.c */
int rules_hash(struct ctg_ruleset *rs);

#endif
