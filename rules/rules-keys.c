/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: the rule keys. One table lists every key a rule may have,
 * in the order they are checked and printed; each key has one handler
 * that checks its setting, compiles it into struct rule and appends its
 * canonical value to the rule's text. The same table refuses unknown
 * keys and writes "any"/"none" for absent ones, so a key cannot be
 * loadable but missing from the canonical form (as in daemon/config.c).
 *
 * The order matters where one key depends on another: action comes
 * before conn_limit (accept only), proto before the ports, tcp_flags and
 * icmp keys (which need a matching protocol).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/timeouts.h"
#include "rules-int.h"

static int
parse_ifaces(struct loader *L, config_setting_t *s, char ***out,
    uint32_t *nout, struct ctg_strbuf *text)
{
	unsigned n;

	if (rules_nonempty(L, s) == -1)
		return -1;
	n = rules_nelem(s);
	if ((*out = calloc(n, sizeof(char *))) == NULL) {
		rules_oom(L);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *e = rules_elem(s, i);
		const char *str;

		if (rules_get_str(L, e, &str) == -1)
			return -1;
		if (str[0] == '\0' || strlen(str) >= IFPAT_MAX ||
		    strspn(str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-*?") != strlen(str)) {
			rules_err(L, e, "bad interface name '%s'", str);
			return -1;
		}
		if (((*out)[i] = strdup(str)) == NULL) {
			rules_oom(L);
			return -1;
		}
		*nout = i + 1;
		ctg_strbuf_printf(text, "%s%s", i ? "," : "", str);
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

/* The timeout classes of timeouts.h, by the keys rule files use. */
static const char *const timeout_keys[] = {
#define CTG_X_KEY(sym, key, def, doc) #key,
	CTG_TIMEOUT_CLASSES(CTG_X_KEY)
#undef CTG_X_KEY
	NULL
};

static uint32_t *
timeout_field(struct ctg_timeouts *t, unsigned i)
{
	switch (i) {
#define CTG_X_FIELD(sym, key, def, doc) case CTG_TO_##sym: return &t->key;
	CTG_TIMEOUT_CLASSES(CTG_X_FIELD)
#undef CTG_X_FIELD
	}
	return NULL;
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
			rules_err(L, s, "bad tcp_flags '%s' (letters FSRPAUEC, as in \"S/SA\")",
			    whole);
			return -1;
		}
		*out |= (uint8_t)(1u << (c - tcp_flag_letters));
	}
	return 0;
}

static void
flags_text(uint8_t f, struct ctg_strbuf *sb)
{
	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			ctg_strbuf_printf(sb, "%c", tcp_flag_letters[i]);
}

int
rules_parse_action(struct loader *L, config_setting_t *s, uint8_t *out)
{
	const char *str;

	if (rules_get_str(L, s, &str) == -1)
		return -1;
	for (int a = CTG_ACT_ACCEPT; a <= CTG_ACT_REJECT; a++) {
		if (strcmp(str, ctg_action_name(a)) == 0) {
			*out = (uint8_t)a;
			return 0;
		}
	}
	rules_err(L, s, "unknown action '%s' (accept, drop, reject)", str);
	return -1;
}

static bool
valid_rule_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < CTG_RULE_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

/* Elements that are integers: libconfig keeps 32- and 64-bit apart. */
static bool
is_int(const config_setting_t *e)
{
	int t = config_setting_type(e);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* Does the rule's proto match (if any) admit one of p1, p2? */
static bool
proto_admits(const struct rule *r, unsigned p1, unsigned p2)
{
	return !(r->mask & M_PROTO) || bm_test(r->proto_bm, p1) ||
	    bm_test(r->proto_bm, p2);
}

/* --- the handlers, in table order --- */

static int
key_action(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	if (rules_parse_action(L, s, &r->action) == -1)
		return -1;
	ctg_strbuf_printf(t, "%s", ctg_action_name(r->action));
	return 0;
}

static int
key_family(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	const char *str;

	for (unsigned i = 0; i < rules_nelem(s); i++) {
		config_setting_t *e = rules_elem(s, i);
		long long f = -1;

		if (is_int(e))
			f = config_setting_get_int64(e);
		else if ((str = rules_elem_str(e)) != NULL)
			f = strcmp(str, "ipv4") == 0 ? 4 :
			    strcmp(str, "ipv6") == 0 ? 6 : -1;
		if (f != 4 && f != 6) {
			rules_err(L, e, "bad family (4, 6, \"ipv4\" or \"ipv6\")");
			return -1;
		}
		r->family_mask |= (uint8_t)(1u << (f == 4 ? FS_V4 : FS_V6));
	}
	if (rules_nonempty(L, s) == -1)
		return -1;
	r->mask |= M_FAMILY;
	ctg_strbuf_printf(t, "%s", r->family_mask == 3 ? "any" :
	    r->family_mask == 1 ? "ipv4" : "ipv6");
	return 0;
}

static int
key_proto(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	if (rules_nonempty(L, s) == -1)
		return -1;
	for (unsigned i = 0; i < rules_nelem(s); i++) {
		config_setting_t *e = rules_elem(s, i);
		const char *str, *nm;
		long long p;

		if (is_int(e)) {
			p = config_setting_get_int64(e);
			if (p < 0 || p > 255) {
				rules_err(L, e, "protocol %lld out of range (0-255)", p);
				return -1;
			}
		} else if ((str = rules_elem_str(e)) != NULL) {
			/* names only: a number is written as an integer */
			if ((p = ctg_proto_by_name(str)) < 0) {
				rules_err(L, e, "unknown protocol '%s' (tcp, udp, icmp, icmpv6 or a number)",
				    str);
				return -1;
			}
		} else {
			rules_err(L, e, "protocol must be a name or a number, not %s",
			    rules_type_name(config_setting_type(e)));
			return -1;
		}
		bm_set(r->proto_bm, (unsigned)p);
		if ((nm = ctg_proto_name((uint8_t)p)) != NULL)
			ctg_strbuf_printf(t, "%s%s", i ? "," : "", nm);
		else
			ctg_strbuf_printf(t, "%s%lld", i ? "," : "", p);
	}
	r->mask |= M_PROTO;
	return 0;
}

/* src, src_port, dst, dst_port: an address or port list. */
static int
key_list(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t, struct mlist *m, int type, uint32_t bit)
{
	if (type == SET_PORT && !proto_admits(r, IPPROTO_TCP, IPPROTO_UDP)) {
		rules_err(L, s, "'%s' needs proto tcp or udp",
		    config_setting_name(s));
		return -1;
	}
	if (rules_parse_mlist(L, s, type, m, t) == -1)
		return -1;
	r->mask |= bit;
	return 0;
}

static int
key_src(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	return key_list(L, s, r, t, &r->src, SET_ADDRESS, M_SRC);
}

static int
key_src_port(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	return key_list(L, s, r, t, &r->sport, SET_PORT, M_SPORT);
}

static int
key_dst(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	return key_list(L, s, r, t, &r->dst, SET_ADDRESS, M_DST);
}

static int
key_dst_port(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	return key_list(L, s, r, t, &r->dport, SET_PORT, M_DPORT);
}

static int
key_iif(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	if (parse_ifaces(L, s, &r->iif, &r->niif, t) == -1)
		return -1;
	r->mask |= M_IIF;
	return 0;
}

static int
key_oif(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	if (parse_ifaces(L, s, &r->oif, &r->noif, t) == -1)
		return -1;
	r->mask |= M_OIF;
	return 0;
}

static int
key_state(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	const char *str;

	if (rules_nonempty(L, s) == -1)
		return -1;
	for (unsigned i = 0; i < rules_nelem(s); i++) {
		config_setting_t *e = rules_elem(s, i);
		int st;

		if (rules_get_str(L, e, &str) == -1)
			return -1;
		for (st = CTG_CT_NEW; st <= CTG_CT_INVALID; st++)
			if (strcmp(str, ctg_ctstate_name(st)) == 0)
				break;
		if (st > CTG_CT_INVALID) {
			rules_err(L, e, "unknown state '%s' (new, established, related, invalid)",
			    str);
			return -1;
		}
		r->state_mask |= (uint8_t)(1u << st);
		ctg_strbuf_printf(t, "%s%s", i ? "," : "", str);
	}
	r->mask |= M_STATE;
	return 0;
}

static int
key_reason(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	const char *str;

	if (rules_nonempty(L, s) == -1)
		return -1;
	for (unsigned i = 0; i < rules_nelem(s); i++) {
		config_setting_t *e = rules_elem(s, i);
		enum ctg_reason rc;

		if (rules_get_str(L, e, &str) == -1)
			return -1;
		if (ctg_reason_parse(str, &rc) == -1) {
			rules_err(L, e, "unknown reason '%s'", str);
			return -1;
		}
		bm_set(r->reason_bm, rc);
		ctg_strbuf_printf(t, "%s%s", i ? "," : "", str);
	}
	r->mask |= M_REASON;
	return 0;
}

static int
key_tcp_flags(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	const char *str, *slash;

	if (rules_get_str(L, s, &str) == -1)
		return -1;
	if ((r->mask & M_PROTO) && !bm_test(r->proto_bm, IPPROTO_TCP)) {
		rules_err(L, s, "'tcp_flags' needs proto tcp");
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
			rules_err(L, s, "bad tcp_flags '%s': empty mask", str);
			return -1;
		}
	} else
		r->flags_mask = 0xff;
	if (r->flags_set & ~r->flags_mask) {
		rules_err(L, s, "tcp_flags '%s' can never match: flags set outside the mask",
		    str);
		return -1;
	}
	flags_text(r->flags_set, t);
	ctg_strbuf_printf(t, "/");
	flags_text(r->flags_mask, t);
	r->mask |= M_TCPFLAGS;
	return 0;
}

/* One icmp_type element: a number (either family) or a name. */
static int
icmp_type_elem(struct loader *L, config_setting_t *e, struct rule *r,
    struct ctg_strbuf *t, bool first)
{
	const char *str;
	long long v;
	unsigned k;

	if (is_int(e)) {
		if (rules_get_int(L, e, 0, 255, &v) == -1)
			return -1;
		bm_set(r->icmp_type_bm[0], (unsigned)v);
		bm_set(r->icmp_type_bm[1], (unsigned)v);
		ctg_strbuf_printf(t, "%s%lld", first ? "" : ",", v);
		return 0;
	}
	if ((str = rules_elem_str(e)) == NULL) {
		rules_err(L, e, "icmp type must be a name or a number, not %s",
		    rules_type_name(config_setting_type(e)));
		return -1;
	}
	for (k = 0; k < sizeof(icmp_names) / sizeof(icmp_names[0]); k++)
		if (strcmp(icmp_names[k].name, str) == 0)
			break;
	if (k == sizeof(icmp_names) / sizeof(icmp_names[0])) {
		rules_err(L, e, "unknown icmp type '%s'", str);
		return -1;
	}
	if (icmp_names[k].v4 >= 0)
		bm_set(r->icmp_type_bm[0], (unsigned)icmp_names[k].v4);
	else if (strcmp(str, "packet-too-big") == 0)
		r->icmp_v4_ptb = true;
	bm_set(r->icmp_type_bm[1], (unsigned)icmp_names[k].v6);
	ctg_strbuf_printf(t, "%s%s", first ? "" : ",", str);
	return 0;
}

static int
key_icmp_type(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	if (rules_nonempty(L, s) == -1)
		return -1;
	if (!proto_admits(r, IPPROTO_ICMP, IPPROTO_ICMPV6)) {
		rules_err(L, s, "'icmp_type' needs proto icmp or icmpv6");
		return -1;
	}
	for (unsigned i = 0; i < rules_nelem(s); i++)
		if (icmp_type_elem(L, rules_elem(s, i), r, t, i == 0) == -1)
			return -1;
	r->mask |= M_ICMPTYPE;
	return 0;
}

static int
key_icmp_code(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	long long v;

	if (rules_nonempty(L, s) == -1)
		return -1;
	if (!proto_admits(r, IPPROTO_ICMP, IPPROTO_ICMPV6)) {
		rules_err(L, s, "'icmp_code' needs proto icmp or icmpv6");
		return -1;
	}
	for (unsigned i = 0; i < rules_nelem(s); i++) {
		if (rules_get_int(L, rules_elem(s, i), 0, 255, &v) == -1)
			return -1;
		bm_set(r->icmp_code_bm, (unsigned)v);
		ctg_strbuf_printf(t, "%s%lld", i ? "," : "", v);
	}
	r->mask |= M_ICMPCODE;
	return 0;
}

static int
key_log(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	const char *str;

	if (rules_get_str(L, s, &str) == -1)
		return -1;
	if (strcmp(str, "none") == 0)
		r->log = CTG_RULELOG_NONE;
	else if (strcmp(str, "verdict") == 0)
		r->log = CTG_RULELOG_VERDICT;
	else if (strcmp(str, "flow") == 0)
		r->log = CTG_RULELOG_FLOW;
	else {
		rules_err(L, s, "unknown log '%s' (none, verdict, flow)", str);
		return -1;
	}
	ctg_strbuf_printf(t, "%s", str);
	return 0;
}

/* rate_limit and conn_rate: { rate = N; burst = N; action = "drop"; } */
static int
token_bucket(struct loader *L, config_setting_t *s, const char *unit,
    uint32_t *rate, uint32_t *burst, uint8_t *action, struct ctg_strbuf *t)
{
	static const char *const keys[] = { "rate", "burst", "action", NULL };
	const char *key = config_setting_name(s);
	char what[48];
	config_setting_t *e;
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		rules_err(L, s, "'%s' must be a group { rate = N; burst = N; action = \"drop\"; }",
		    key);
		return -1;
	}
	snprintf(what, sizeof(what), "%s setting", key);
	if (rules_check_keys(L, s, keys, what) == -1)
		return -1;
	if ((e = member(s, "rate")) == NULL) {
		rules_err(L, s, "'%s' needs 'rate' (%s per second)", key, unit);
		return -1;
	}
	if (rules_get_int(L, e, 1, MAX_RATE, &v) == -1)
		return -1;
	*rate = (uint32_t)v;
	*burst = *rate;
	if ((e = member(s, "burst")) != NULL) {
		if (rules_get_int(L, e, 1, MAX_RATE, &v) == -1)
			return -1;
		*burst = (uint32_t)v;
	}
	*action = CTG_ACT_DROP;
	if ((e = member(s, "action")) != NULL &&
	    rules_parse_action(L, e, action) == -1)
		return -1;
	ctg_strbuf_printf(t, "rate:%u,burst:%u,action:%s", *rate, *burst,
	    ctg_action_name(*action));
	return 0;
}

static int
key_rate_limit(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	return token_bucket(L, s, "packets", &r->rate, &r->burst,
	    &r->rate_action, t);
}

static int
key_conn_rate(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	return token_bucket(L, s, "new connections", &r->crate, &r->cburst,
	    &r->crate_action, t);
}

static int
key_conn_limit(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	long long v;

	if (rules_get_int(L, s, 1, MAX_CONN_LIMIT, &v) == -1)
		return -1;
	if (r->action != CTG_ACT_ACCEPT) {
		rules_err(L, s, "'conn_limit' needs action accept");
		return -1;
	}
	r->conn_limit = (uint32_t)v;
	ctg_strbuf_printf(t, "%u", r->conn_limit);
	return 0;
}

static int
key_timeouts(struct loader *L, config_setting_t *s, struct rule *r,
    struct ctg_strbuf *t)
{
	config_setting_t *e;
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		rules_err(L, s, "'timeouts' must be a group { tcp_established = N; ... }");
		return -1;
	}
	if (rules_check_keys(L, s, timeout_keys, "timeout") == -1)
		return -1;
	if (config_setting_length(s) == 0) {
		rules_err(L, s, "'timeouts' is empty");
		return -1;
	}
	for (unsigned i = 0; timeout_keys[i] != NULL; i++) {
		if ((e = member(s, timeout_keys[i])) == NULL)
			continue;
		if (rules_get_int(L, e, 1, MAX_TIMEOUT, &v) == -1)
			return -1;
		*timeout_field(&r->timeouts, i) = (uint32_t)v;
		ctg_strbuf_printf(t, "%s%s:%lld", r->has_timeouts ? "," : "",
		    timeout_keys[i], v);
		r->has_timeouts = true;
	}
	return 0;
}

/* --- the table --- */

struct rule_key {
	const char *name;
	/* check, compile, append the canonical value; NULL: name, taken
	 * by rules_parse_rule itself and not part of the text */
	int (*parse)(struct loader *, config_setting_t *, struct rule *,
	    struct ctg_strbuf *);
	/* canonical value when absent; NULL: the key is required */
	const char *absent;
};

static const struct rule_key rule_keys[] = {
	{ "name", NULL, NULL },
	{ "action", key_action, NULL },
	{ "family", key_family, "any" },
	{ "proto", key_proto, "any" },
	{ "src", key_src, "any" },
	{ "src_port", key_src_port, "any" },
	{ "dst", key_dst, "any" },
	{ "dst_port", key_dst_port, "any" },
	{ "iif", key_iif, "any" },
	{ "oif", key_oif, "any" },
	{ "state", key_state, "any" },
	{ "reason", key_reason, "any" },
	{ "tcp_flags", key_tcp_flags, "any" },
	{ "icmp_type", key_icmp_type, "any" },
	{ "icmp_code", key_icmp_code, "any" },
	{ "log", key_log, "inherit" },
	{ "rate_limit", key_rate_limit, "none" },
	{ "conn_rate", key_conn_rate, "none" },
	{ "conn_limit", key_conn_limit, "none" },
	{ "timeouts", key_timeouts, "none" },
};

#define NKEYS (sizeof(rule_keys) / sizeof(rule_keys[0]))

/* Every setting of rule g must be a key of the table. */
static int
check_rule_keys(struct loader *L, config_setting_t *g)
{
	const char *names[NKEYS + 1];

	for (size_t k = 0; k < NKEYS; k++)
		names[k] = rule_keys[k].name;
	names[NKEYS] = NULL;
	return rules_check_keys(L, g, names, "rule setting");
}

/* The keys after the name, in table order, into r and its text t. */
static int
parse_keys(struct loader *L, config_setting_t *g, struct rule *r,
    struct ctg_strbuf *t)
{
	bool first = true;

	for (size_t k = 0; k < NKEYS; k++) {
		const struct rule_key *key = &rule_keys[k];
		config_setting_t *s;

		if (key->parse == NULL)
			continue;
		if ((s = member(g, key->name)) == NULL && key->absent == NULL) {
			rules_err(L, g, "rule has no %s", key->name);
			return -1;
		}
		ctg_strbuf_printf(t, "%s%s=", first ? "" : " ", key->name);
		first = false;
		if (s == NULL)
			ctg_strbuf_printf(t, "%s", key->absent);
		else if (key->parse(L, s, r, t) == -1)
			return -1;
	}
	return 0;
}

/* A new rule at the end of the ruleset, owned by it; NULL out of memory. */
static struct rule *
rule_append(struct loader *L)
{
	struct ctg_ruleset *rs = L->rs;
	struct rule *r;

	if (rs->nrules == rs->caprules) {
		uint32_t ncap = rs->caprules ? rs->caprules * 2 : 16;
		struct rule *nr = realloc(rs->rules, ncap * sizeof(*nr));

		if (nr == NULL) {
			rules_oom(L);
			return NULL;
		}
		rs->rules = nr;
		rs->caprules = ncap;
	}
	/* Owned by rs from here on, so ctg_ruleset_free cleans up. */
	r = &rs->rules[rs->nrules++];
	memset(r, 0, sizeof(*r));
	return r;
}

int
rules_parse_rule(struct loader *L, config_setting_t *g)
{
	struct ctg_ruleset *rs = L->rs;
	struct rule *r;
	config_setting_t *s;
	const char *name;
	struct ctg_strbuf t = { 0 };
	uint32_t prev;
	int res;

	L->ctx = "";
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		rules_err(L, g, "a rule must be a group { name = ...; action = ...; }");
		return -1;
	}
	if ((s = member(g, "name")) == NULL) {
		rules_err(L, g, "rule without a name");
		return -1;
	}
	if (rules_get_str(L, s, &name) == -1)
		return -1;
	if (!valid_rule_name(name) || strcmp(name, "default") == 0) {
		rules_err(L, s, "bad rule name '%s' (1-%d of A-Z a-z 0-9 _ . : -, not \"default\")",
		    name, CTG_RULE_NAME_MAX - 1);
		return -1;
	}
	snprintf(L->ctxbuf, sizeof(L->ctxbuf), "rule '%s': ", name);
	L->ctx = L->ctxbuf;
	if (check_rule_keys(L, g) == -1 || (r = rule_append(L)) == NULL)
		return -1;
	strcpy(r->name, name);
	if ((r->where = rules_where(L, g)) == NULL) {
		rules_oom(L);
		return -1;
	}
	res = rules_strtab_put(&L->rule_names, r->name, rs->nrules - 1, &prev);
	if (res == -1) {
		rules_oom(L);
		return -1;
	}
	if (res == 1) {
		rules_err(L, s, "duplicate rule name (first defined at %s)",
		    rs->rules[prev].where);
		return -1;
	}
	if (parse_keys(L, g, r, &t) == -1) {
		ctg_strbuf_free(&t);
		return -1;
	}
	if ((r->text = ctg_strbuf_take(&t)) == NULL) {
		rules_oom(L);
		return -1;
	}
	L->ctx = "";
	return 0;
}
