/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runtime (dynamic) address sets: a set declared `dynamic = true` in a
 * rule file is filled and emptied while the daemon runs (ctguard set
 * add/del/flush/load), without a reload.
 *
 * Why it looks like this: rulesets are immutable and one copy lives in
 * each worker, so a dynamic set's contents live outside them, in a
 * registry shared by every ruleset copy (and kept across reloads, by
 * name). Each change builds a new immutable version (the same sorted,
 * merged range tables a static set has) off the packet path and publishes
 * it with one atomic pointer store; a lookup loads the pointer once and
 * bisects that version, so it costs what a static set costs plus one load,
 * and sees either all of a change or none of it (a 100,000-entry `set
 * load` included). The version replaced is freed only after the registry's
 * sync callback returned: the daemon's passes through every worker's
 * burst lock, so no burst that could still hold the old pointer is left.
 *
 * Threading: every function here but the lookup (rules-eval.c, through
 * the ruleset) belongs to one thread, the daemon's main thread.
 */
#ifndef CTGUARD_DYNSET_H
#define CTGUARD_DYNSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctguard/netaddr.h"
#include "ctguard/strbuf.h"

/* Entries in one dynamic set at most; set load refuses more. */
#define CTG_DYNSET_MAX_ENTRIES 1000000
#define CTG_DYNSET_COMMENT_MAX 128
#define CTG_DYNSET_NAME_MAX 64

struct ctg_dynsets;
struct ctg_dynset;
struct ctg_ruleset;

/*
 * sync(arg) must return only once no reader can still use a version
 * published before the call. NULL: versions are never freed before
 * ctg_dynsets_free (for tools with no concurrent reader).
 */
struct ctg_dynsets *ctg_dynsets_new(void (*sync)(void *), void *arg);
void ctg_dynsets_free(struct ctg_dynsets *reg);

/*
 * Point the ruleset's dynamic sets at the registry's sets of the same
 * name, creating empty ones for new names; the registry's contents are
 * kept (a reload keeps them). Sets of the registry that no bound ruleset
 * declares any more stay (with their contents) but are not "declared":
 * commands refuse them until a reload declares them again. redeclare
 * makes this ruleset's sets the declared ones (true for the first copy
 * of a reload's rulesets, false for the others).
 */
int ctg_dynsets_bind(struct ctg_dynsets *reg, struct ctg_ruleset *rs,
    bool redeclare, char *err, size_t errlen);

struct ctg_dynset *ctg_dynsets_find(struct ctg_dynsets *reg, const char *name);
bool ctg_dynset_declared(const struct ctg_dynset *s);
const char *ctg_dynset_name(const struct ctg_dynset *s);
size_t ctg_dynset_size(const struct ctg_dynset *s);
unsigned ctg_dynsets_count(const struct ctg_dynsets *reg);
struct ctg_dynset *ctg_dynsets_at(struct ctg_dynsets *reg, unsigned i);

/*
 * Changes. now_us and expires are wall-clock microseconds; expires 0:
 * never. Each publishes a new version before it returns. add on a prefix
 * already present updates its expiry and comment. Return 0 (or, for
 * del, 1 when the prefix was not present) or -1 with err set.
 */
int ctg_dynset_add(struct ctg_dynsets *reg, struct ctg_dynset *s,
    const struct ctg_prefix *p, uint64_t expires, const char *comment,
    char *err, size_t errlen);
int ctg_dynset_del(struct ctg_dynsets *reg, struct ctg_dynset *s,
    const struct ctg_prefix *p, char *err, size_t errlen);
int ctg_dynset_flush(struct ctg_dynsets *reg, struct ctg_dynset *s,
    char *err, size_t errlen);
/*
 * Replace the contents with the prefixes of a text (one a line, blank
 * lines and "# comments" ignored). All or nothing: a bad line leaves the
 * set as it was, and err names the line. *count gets the entries loaded.
 */
int ctg_dynset_load_text(struct ctg_dynsets *reg, struct ctg_dynset *s,
    const char *text, size_t len, uint64_t expires, const char *comment,
    size_t *count, char *err, size_t errlen);

/* Drop the expired entries of every set; returns how many went. */
size_t ctg_dynsets_expire(struct ctg_dynsets *reg, uint64_t now_us);
/*
 * The earliest expiry of any entry, or 0 when none expires; after a del
 * or flush it may be earlier than any entry left (expire then finds
 * nothing and corrects it). No scan: cheap to ask often.
 */
uint64_t ctg_dynsets_next_expiry(const struct ctg_dynsets *reg);

/* Entries as text lines "PREFIX expires=N|never comment=..." or JSON lines. */
void ctg_dynset_list(const struct ctg_dynset *s, uint64_t now_us, bool json,
    struct ctg_strbuf *o);

/*
 * State file: every set with its entries (expiry as wall time, so an
 * entry still expires on time across a restart). Save writes PATH.tmp,
 * fsyncs and renames. Restore ignores entries already expired and sets
 * no ruleset declares; a missing file is not an error.
 */
int ctg_dynsets_save(const struct ctg_dynsets *reg, const char *path,
    char *err, size_t errlen);
int ctg_dynsets_restore(struct ctg_dynsets *reg, const char *path,
    uint64_t now_us, size_t *count, char *err, size_t errlen);

/* Membership of an address (family 4 or 6) in the current version. */
bool ctg_dynset_contains(const struct ctg_dynset *s, uint8_t family,
    const struct ctg_addr *a);

/*
 * Several addresses looked up in one version (as one packet's lookups
 * would be): out[i] says whether addrs[i] is in it. Returns how many are.
 */
size_t ctg_dynset_contains_n(const struct ctg_dynset *s, uint8_t family,
    const struct ctg_addr *addrs, size_t n, bool *out);

#endif
