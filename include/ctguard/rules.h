/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: rule files (libconfig syntax) compiled into an ordered,
 * first-match ruleset, and the evaluator the packet path calls.
 *
 * Language (see rules/example.rules for every feature):
 *   include = [ "a.rules" ];  include_dir = "rules.d";   loaded first
 *   default_policy = "drop";  accept | drop | reject, at most once over all
 *                             files; "drop" when no file sets it
 *   sets = { name = { type = "address" | "port"; members = ( ... ); }; };
 *   rules = ( { name = "x"; action = "accept"; <matches> <options> }, ... );
 * Sets are global and must be defined (in this file or one loaded before
 * it) before a rule names them. libconfig arrays [ ] must hold one type,
 * so a port list mixing 80 and "8000-8080" is written as a list ( ).
 *
 * Matches are AND-ed, members of one match OR-ed. Address and port lists
 * take "!" on a member ("!10.0.0.0/8", "!@set"): the match then holds when
 * the value is in some positive member (or there is none) and in no
 * negated one. Ports match only TCP and UDP packets, icmp_type/icmp_code
 * only ICMP and ICMPv6, tcp_flags only TCP. icmp_type names map by the
 * packet's family (echo-request is 8 for IPv4, 128 for IPv6; IPv4
 * packet-too-big is type 3 code 4); numbers match the raw type of either
 * family. A CIDR with host bits set is an error, not a warning.
 *
 * Options: rate_limit = { rate; burst; action; } is a token bucket per
 * (rule, source address), rate packets per second, burst defaulting to
 * rate. Every packet the source sends on a connection the rule accepted
 * takes a token: the first one here (ctg_ruleset_eval), the later ones,
 * which the caller decides from the connection's cached verdict, through
 * ctg_ruleset_rate_check (the result's rate_metered says so). Packets of
 * the other direction take none. A packet over the limit gets the rate
 * action (default drop) and reason rate_limited. conn_rate = { rate;
 * burst; action; } is the same bucket for new connections: only NEW
 * packets take a token, reason rate_limited. conn_limit = N (accept
 * rules only) counts, per (rule, source), the NEW packets the rule
 * accepted; the N+1st gets drop with reason conn_limited. The caller
 * gives a slot back with ctg_ruleset_conn_release() when the connection
 * ends (or is never created).
 *
 * The tables are fixed size (CTG_RULES_LIMIT_SLOTS entries, 4-way set
 * associative). They degrade by aggregating, never by forgetting a
 * limited source: an entry is replaced only when forgetting it changes
 * nothing (its bucket has refilled, or it holds no connection). A source
 * that finds no such entry to take shares one with its prefix (IPv4 /24,
 * IPv6 /64) and, when even that has no room, the rule's one overflow
 * bucket: under a flood of distinct sources, the newcomers are limited
 * together.
 *
 * Canonical form (ctg_ruleset_print, also hashed by ctg_ruleset_hash):
 *   # ctguard ruleset: N rules, M sets
 *   default_policy <action>
 *   set <name> <address|port> <member>,<member>,...
 *   rule <index> <name>: action=.. family=.. proto=.. src=.. src_port=..
 *     dst=.. dst_port=.. iif=.. oif=.. state=.. reason=.. tcp_flags=..
 *     icmp_type=.. icmp_code=.. log=.. rate_limit=.. conn_rate=..
 *     conn_limit=.. timeouts=..                     (all on one line)
 * Every field is printed; "any" (or "none" for options) when absent. Set
 * references print as @name{members}. CIDRs are normalised (inet_ntop,
 * always with /len), tcp flags in FSRPAUEC order, lists comma separated
 * in the order written. Source positions are not printed, so the hash
 * does not change when a file moves.
 *
 * Threading: a ruleset is immutable except for its hit counters and limit
 * tables, which ctg_ruleset_eval updates without locks. Use one ruleset
 * per worker thread (load it once per worker).
 */
#ifndef CTGUARD_RULES_H
#define CTGUARD_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctguard/config.h"
#include "ctguard/packet.h"
#include "ctguard/reason.h"
#include "ctguard/record.h"

/* Rules in one ruleset at most (connections keep the index in 16 bits). */
#define CTG_RULES_MAX 32000
/* Above this many rules the O(n^2) unreachable-rule check is skipped. */
#define CTG_RULES_SHADOW_CHECK_MAX 4000
/* Include nesting bound; deeper is an error. */
#define CTG_RULES_MAX_DEPTH 16
/* Entries in each of the rate_limit, conn_rate and conn_limit tables. */
#define CTG_RULES_LIMIT_SLOTS 65536

enum ctg_rule_log {
	CTG_RULELOG_INHERIT,    /* log option absent: global policy decides */
	CTG_RULELOG_NONE,
	CTG_RULELOG_VERDICT,
	CTG_RULELOG_FLOW,
};

struct ctg_rule_input {
	const struct ctg_packet *pkt;   /* decoded packet; when decode failed, tuple may be partial; NULL matches no packet field */
	enum ctg_ctstate ctstate;       /* from the tracker */
	enum ctg_reason reason;         /* tracker/decoder reason (NONE or a NOTE or an INVALID reason) */
	const char *iif;                /* input interface name, "" (or NULL) if unknown */
	const char *oif;
	uint64_t now_us;                /* clock for rate limits */
	/*
	 * Re-asking about a live connection after a reload: interfaces are
	 * not known (they do not rule a match out), no hit is counted and no
	 * rate token is taken; a conn_limit slot is taken as for a new one,
	 * so the new ruleset counts the connections it keeps.
	 */
	bool recheck;
};

struct ctg_rule_result {
	enum ctg_action action;
	enum ctg_rule_log log;
	int rule_index;                 /* -1 = default policy */
	const char *rule_name;          /* "default" for the default policy; valid while the ruleset lives */
	enum ctg_reason reason;         /* CTG_R_RATE_LIMITED / CTG_R_CONN_LIMITED when a limit fired,
	                                   CTG_R_DEFAULT_POLICY for the default, else CTG_R_NONE */
	const struct ctg_timeouts *timeouts; /* override (only fields != 0 count) or NULL */
	bool conn_counted;              /* a conn_limit slot was taken: release it when the connection ends */
	bool rate_metered;              /* the rule has a rate_limit: meter the connection's later
	                                   packets with ctg_ruleset_rate_check */
};

struct ctg_rules_diag {
	char error[512];                /* "" on success, else "FILE:LINE: message" */
	char warnings[8][256];          /* "FILE:LINE: warning: ..." */
	unsigned nwarnings;             /* may exceed 8: the rest were not kept */
};

struct ctg_ruleset;

/*
 * Load and compile the files in order (includes first, depth first).
 * Returns the ruleset, owned by the caller (ctg_ruleset_free), or NULL
 * with diag->error set. diag must not be NULL. Not for the packet path.
 */
struct ctg_ruleset *ctg_ruleset_load(const char *const *paths,
    unsigned npaths, struct ctg_rules_diag *diag);

/* First match wins. No allocation, no locks, no system calls. */
void ctg_ruleset_eval(struct ctg_ruleset *rs, const struct ctg_rule_input *in,
    struct ctg_rule_result *out);

/*
 * Connection limit bookkeeping: a connection accepted by rule_index (a
 * result with conn_counted set) with source orig->src ended. Unknown rule
 * indexes and sources without a slot are ignored.
 */
void ctg_ruleset_conn_release(struct ctg_ruleset *rs, int rule_index,
    const struct ctg_tuple *orig);

/*
 * Rate limit of a later packet of a connection whose first packet rule
 * rule_index accepted with rate_metered set: t is the packet's tuple,
 * for packets the connection's source sent (original direction). True
 * when the packet is within the rule's rate_limit (or nothing limits
 * it); false with *action set to the rate action (reason rate_limited).
 * Packet path: no allocation, no locks, no system calls.
 */
bool ctg_ruleset_rate_check(struct ctg_ruleset *rs, int rule_index,
    const struct ctg_tuple *t, uint64_t now_us, enum ctg_action *action);

/* The canonical form described above. */
void ctg_ruleset_print(const struct ctg_ruleset *rs, FILE *out);
/* FNV-1a 64 of the canonical form, for the audit log. */
uint64_t ctg_ruleset_hash(const struct ctg_ruleset *rs);
unsigned ctg_ruleset_count(const struct ctg_ruleset *rs);
/* Whether any rule matches on iif or oif (the daemon then resolves names). */
bool ctg_ruleset_uses_interfaces(const struct ctg_ruleset *rs);
/* Packets the rule matched (limited ones included); -1 = default policy. */
uint64_t ctg_ruleset_hits(const struct ctg_ruleset *rs, int rule_index);
/* Sets: count, name, and lookups that matched through the set. */
unsigned ctg_ruleset_set_count(const struct ctg_ruleset *rs);
const char *ctg_ruleset_set_name(const struct ctg_ruleset *rs, unsigned i);
uint64_t ctg_ruleset_set_hits(const struct ctg_ruleset *rs, unsigned i);
const char *ctg_ruleset_rule_name(const struct ctg_ruleset *rs, int rule_index);
void ctg_ruleset_free(struct ctg_ruleset *rs);

#endif
