/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: address and port lists and named sets. A list member is a
 * prefix or a port/range (parsed by netaddr.c, the one acceptance rule
 * the CLI and the control server share), "!member" or "@set"; members
 * compile into the merged range tables of struct mlist, and each list
 * writes its canonical text (prefixes normalised, sets expanded as
 * @name{members}, order as written).
 */
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

void
rules_prefix_range(const struct ctg_prefix *c, struct r128 *a, struct r128 *b)
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
			rules_err(L, s, "port %lld out of range (0-65535)", ival);
			return -1;
		}
		*lo = *hi = (unsigned)ival;
		return 0;
	}
	if (ctg_port_range_parse(str, &a, &b, err, sizeof(err)) == -1) {
		rules_err(L, s, "%s", err);
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
    struct rvec vec[2], struct ctg_strbuf *sb, const char *str)
{
	if (type == SET_ADDRESS) {
		struct ctg_prefix c;
		struct r128 a, b;
		char err[256], txt[CTG_PREFIX_STRLEN];

		if (str == NULL) {
			rules_err(L, e, "address must be a string, not %s",
			    rules_type_name(config_setting_type(e)));
			return -1;
		}
		if (ctg_prefix_parse(str, &c, err, sizeof(err)) == -1) {
			rules_err(L, e, "%s", err);
			return -1;
		}
		rules_prefix_range(&c, &a, &b);
		if (rules_rvec_push(&vec[c.family == 4 ? FS_V4 : FS_V6], a, b) == -1) {
			rules_oom(L);
			return -1;
		}
		ctg_strbuf_printf(sb, "%s", ctg_prefix_str(&c, txt, sizeof(txt)));
	} else {
		unsigned lo, hi;
		int t = config_setting_type(e);
		bool is_int = (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64);

		if (!is_int && str == NULL) {
			rules_err(L, e, "port must be an integer or a string, not %s",
			    rules_type_name(t));
			return -1;
		}
		if (parse_port(L, e, str, is_int ? config_setting_get_int64(e) :
		    0, is_int, &lo, &hi) == -1)
			return -1;
		if (rules_rvec_push(&vec[0], port_key((uint16_t)lo),
		    port_key((uint16_t)hi)) == -1) {
			rules_oom(L);
			return -1;
		}
		if (lo == hi)
			ctg_strbuf_printf(sb, "%u", lo);
		else
			ctg_strbuf_printf(sb, "%u-%u", lo, hi);
	}
	return 0;
}

int
rules_parse_set(struct loader *L, config_setting_t *s)
{
	static const char *const keys[] = { "type", "members", "dynamic", NULL };
	struct ctg_ruleset *rs = L->rs;
	config_setting_t *ts, *ms, *ds;
	bool dynamic = false;
	const char *tstr, *name = config_setting_name(s);
	struct rvec vec[2] = { { 0 }, { 0 } };
	struct ctg_strbuf sb = { 0 };
	struct rset *set;
	uint32_t prev;
	int type, r;

	snprintf(L->ctxbuf, sizeof(L->ctxbuf), "set '%s': ", name);
	L->ctx = L->ctxbuf;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		rules_err(L, s, "must be a group { type = ...; members = ...; }");
		return -1;
	}
	if (rules_check_keys(L, s, keys, "set setting") == -1)
		return -1;
	if ((ts = config_setting_get_member(s, "type")) == NULL) {
		rules_err(L, s, "missing 'type' (address or port)");
		return -1;
	}
	if (rules_get_str(L, ts, &tstr) == -1)
		return -1;
	if (strcmp(tstr, "address") == 0)
		type = SET_ADDRESS;
	else if (strcmp(tstr, "port") == 0)
		type = SET_PORT;
	else {
		rules_err(L, ts, "unknown set type '%s' (address, port)", tstr);
		return -1;
	}
	if ((ds = config_setting_get_member(s, "dynamic")) != NULL) {
		if (config_setting_type(ds) != CONFIG_TYPE_BOOL) {
			rules_err(L, ds, "'dynamic' must be true or false, not %s",
			    rules_type_name(config_setting_type(ds)));
			return -1;
		}
		dynamic = config_setting_get_bool(ds);
	}
	ms = config_setting_get_member(s, "members");
	/*
	 * A dynamic set starts empty and is filled at run time (ctguard set):
	 * members written here would be lost or doubled on the first change.
	 */
	if (dynamic && type != SET_ADDRESS) {
		rules_err(L, ts, "a dynamic set holds addresses, not %s", tstr);
		return -1;
	}
	if (dynamic && ms != NULL) {
		rules_err(L, ms, "a dynamic set has no 'members' (fill it with ctguard set)");
		return -1;
	}
	if (dynamic && strlen(name) >= CTG_DYNSET_NAME_MAX) {
		rules_err(L, s, "a dynamic set name has at most %d characters",
		    CTG_DYNSET_NAME_MAX - 1);
		return -1;
	}
	if (dynamic)
		ctg_strbuf_printf(&sb, "dynamic");
	else if (ms == NULL) {
		rules_err(L, s, "missing 'members'");
		return -1;
	} else if (rules_nonempty(L, ms) == -1)
		return -1;
	for (unsigned i = 0; !dynamic && i < rules_nelem(ms); i++) {
		config_setting_t *e = rules_elem(ms, i);
		const char *str = rules_elem_str(e);

		if (str != NULL && (str[0] == '@' || str[0] == '!')) {
			rules_err(L, e, "set members cannot be set references or negated ('%s')",
			    str);
			goto fail;
		}
		if (i > 0)
			ctg_strbuf_printf(&sb, ",");
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
	set->dynamic = dynamic;
	rules_rtab_build(&set->t[0], &vec[0]);
	rules_rtab_build(&set->t[1], &vec[1]);
	set->text = ctg_strbuf_take(&sb);
	/* Owned by rs from here on, so ctg_ruleset_free cleans up. */
	rs->sets[rs->nsets++] = set;
	set->name = strdup(name);
	set->where = rules_where(L, s);
	if (set->name == NULL || set->text == NULL || set->where == NULL) {
		rules_oom(L);
		return -1;
	}
	r = rules_strtab_put(&L->set_names, set->name, rs->nsets - 1, &prev);
	if (r == -1)
		goto fail_oom;
	if (r == 1) {
		rules_err(L, s, "duplicate set name (first defined at %s)",
		    rs->sets[prev]->where);
		return -1;
	}
	L->ctx = "";
	return 0;
fail_oom:
	rules_oom(L);
fail:
	free(vec[0].r);
	free(vec[1].r);
	ctg_strbuf_free(&sb);
	return -1;
}

/* An address or port match of a rule. */
int
rules_parse_mlist(struct loader *L, config_setting_t *s, int type, struct mlist *m,
    struct ctg_strbuf *text)
{
	struct rvec pos[2] = { { 0 }, { 0 } }, neg[2] = { { 0 }, { 0 } };
	unsigned n;

	if (rules_nonempty(L, s) == -1)
		return -1;
	n = rules_nelem(s);
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *e = rules_elem(s, i);
		const char *str = rules_elem_str(e);
		bool isneg = false;

		if (i > 0)
			ctg_strbuf_printf(text, ",");
		if (str != NULL && str[0] == '!') {
			isneg = true;
			str++;
			ctg_strbuf_printf(text, "!");
		}
		if (str != NULL && str[0] == '@') {
			uint32_t si;
			struct rset *set;
			struct setref *nr;

			if (!rules_strtab_get(&L->set_names, str + 1, &si)) {
				rules_err(L, e, "undefined set '%s'", str);
				goto fail;
			}
			set = L->rs->sets[si];
			if (set->type != type) {
				rules_err(L, e, "set '%s' has type %s, not %s", str,
				    set->type == SET_ADDRESS ? "address" : "port",
				    type == SET_ADDRESS ? "address" : "port");
				goto fail;
			}
			nr = realloc(m->refs, (m->nrefs + 1) * sizeof(*nr));
			if (nr == NULL) {
				rules_oom(L);
				goto fail;
			}
			m->refs = nr;
			m->refs[m->nrefs].set = set;
			m->refs[m->nrefs].neg = isneg;
			m->nrefs++;
			ctg_strbuf_printf(text, "@%s{%s}", set->name, set->text);
		} else if (parse_member(L, e, type, isneg ? neg : pos, text,
		    str) == -1)
			goto fail;
		if (isneg)
			m->has_neg = true;
		else
			m->has_pos = true;
	}
	for (int f = 0; f < 2; f++) {
		rules_rtab_build(&m->pos[f], &pos[f]);
		rules_rtab_build(&m->neg[f], &neg[f]);
	}
	return 0;
fail:
	for (int f = 0; f < 2; f++) {
		free(pos[f].r);
		free(neg[f].r);
	}
	return -1;
}

