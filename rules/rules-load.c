/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: loading. Reads each rule file (includes first, depth
 * first), checks the top-level settings (include, include_dir,
 * default_policy, sets, rules) and hands sets to rules-lists.c and rules
 * to rules-keys.c; then rules-compile.c finishes the ruleset. The
 * libconfig trees are destroyed before ctg_ruleset_load returns: the
 * packet path only sees plain structs.
 *
 * Also here, for every room of the loader: the first error as
 * "FILE:LINE: [rule 'x': ] message", and the libconfig value helpers.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/cfgtext.h"
#include "rules-int.h"

static const char *
where_file(const struct loader *L, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	if (f)
		return f;
	return L->cur_path ? L->cur_path : "?";
}

/* Record the first error as FILE:LINE: [context] message. */
void
rules_err(struct loader *L, const config_setting_t *s, const char *fmt, ...)
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

void
rules_err_plain(struct loader *L, const char *msg)
{
	if (L->failed)
		return;
	L->failed = true;
	snprintf(L->diag->error, sizeof(L->diag->error), "%s", msg);
}

void
rules_oom(struct loader *L)
{
	rules_err_plain(L, "out of memory");
}

char *
rules_where(const struct loader *L, const config_setting_t *s)
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
int
rules_strtab_put(struct strtab *t, const char *key, uint32_t val, uint32_t *found)
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

void
rules_strtab_free(struct strtab *t)
{
	for (uint32_t i = 0; i < t->cap; i++)
		free((char *)t->key[i]);
	free(t->key);
	free(t->val);
}

int
rules_strtab_get(const struct strtab *t, const char *key, uint32_t *found)
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

const char *
rules_type_name(int type)
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

int
rules_get_str(struct loader *L, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		rules_err(L, s, "'%s' must be a string, not %s",
		    config_setting_name(s) ? config_setting_name(s) : "value",
		    rules_type_name(config_setting_type(s)));
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

int
rules_get_int(struct loader *L, const config_setting_t *s, long long lo,
    long long hi, long long *out)
{
	const char *nm = config_setting_name(s) ? config_setting_name(s) :
	    "value";
	int t = config_setting_type(s);

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		rules_err(L, s, "'%s' must be an integer, not %s", nm, rules_type_name(t));
		return -1;
	}
	*out = config_setting_get_int64(s);
	if (*out < lo || *out > hi) {
		rules_err(L, s, "'%s' %lld out of range (%lld-%lld)", nm, *out, lo, hi);
		return -1;
	}
	return 0;
}

/* Elements of a list-or-scalar setting: arrays and lists give their
 * members, anything else is a list of one. */
unsigned
rules_nelem(const config_setting_t *s)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)
		return (unsigned)config_setting_length(s);
	return 1;
}

config_setting_t *
rules_elem(config_setting_t *s, unsigned i)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST)
		return config_setting_get_elem(s, i);
	return s;
}

int
rules_nonempty(struct loader *L, const config_setting_t *s)
{
	if (rules_nelem(s) == 0) {
		rules_err(L, s, "'%s' is empty", config_setting_name(s));
		return -1;
	}
	return 0;
}

/* Every child of group s must be named in keys. */
int
rules_check_keys(struct loader *L, const config_setting_t *s,
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
			rules_err(L, c, "unknown %s '%s'", what, nm ? nm : "?");
			return -1;
		}
	}
	return 0;
}

const char *
rules_elem_str(config_setting_t *e)
{
	return config_setting_type(e) == CONFIG_TYPE_STRING ?
	    config_setting_get_string(e) : NULL;
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
		rules_err(L, s, "include path too long");
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
		rules_err(L, s, "cannot open include_dir '%s': %s", dir,
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
			rules_err(L, s, "include path too long");
			rc = -1;
		} else
			rc = load_file(L, file, s);
	}
out:
	if (rc == -1 && !L->failed)
		rules_oom(L);
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
	if (rules_check_keys(L, root, keys, "setting") == -1)
		return -1;
	if ((s = member(root, "include")) != NULL) {
		for (unsigned i = 0; i < rules_nelem(s); i++) {
			config_setting_t *e = rules_elem(s, i);

			if (rules_get_str(L, e, &str) == -1 ||
			    resolve(L, e, path, str, inc, sizeof(inc)) == -1 ||
			    load_file(L, inc, e) == -1)
				return -1;
		}
	}
	if ((s = member(root, "include_dir")) != NULL) {
		if (rules_get_str(L, s, &str) == -1 || load_dir(L, s, path, str) == -1)
			return -1;
	}
	L->ctx = "";
	if ((s = member(root, "default_policy")) != NULL) {
		uint8_t a;

		if (L->policy_where != NULL) {
			rules_err(L, s, "default_policy already set at %s",
			    L->policy_where);
			return -1;
		}
		if (rules_parse_action(L, s, &a) == -1)
			return -1;
		L->rs->policy = a;
		if ((L->policy_where = rules_where(L, s)) == NULL) {
			rules_oom(L);
			return -1;
		}
	}
	if ((s = member(root, "sets")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			rules_err(L, s, "'sets' must be a group { name = { ... }; }");
			return -1;
		}
		for (int i = 0; i < config_setting_length(s); i++)
			if (rules_parse_set(L, config_setting_get_elem(s, i)) == -1)
				return -1;
		L->ctx = "";
	}
	if ((s = member(root, "rules")) != NULL) {
		if (config_setting_type(s) != CONFIG_TYPE_LIST) {
			rules_err(L, s, "'rules' must be a list ( { ... }, { ... } )");
			return -1;
		}
		for (int i = 0; i < config_setting_length(s); i++)
			if (rules_parse_rule(L, config_setting_get_elem(s, i)) == -1)
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
		rules_err(L, from, "includes nested deeper than %d", CTG_RULES_MAX_DEPTH);
		return -1;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		char msg[sizeof(L->diag->error)];

		if (from != NULL) {
			rules_err(L, from, "cannot open include '%s': %s", path,
			    strerror(errno));
		} else {
			snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
			rules_err_plain(L, msg);
		}
		return -1;
	}
	fclose(fp);
	if ((real = realpath(path, NULL)) == NULL) {
		rules_oom(L);
		return -1;
	}
	for (unsigned i = 0; i < L->depth; i++) {
		if (strcmp(L->stack[i], real) == 0) {
			free(real);
			rules_err(L, from, "include loop: '%s' is already being loaded",
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
		rules_err_plain(L, msg);
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
		rules_err_plain(L, msg);
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
		rules_oom(&L);
		return NULL;
	}
	L.rs->policy = CTG_ACT_DROP;
	if (npaths == 0)
		rules_err_plain(&L, "no rule files given");
	for (unsigned i = 0; i < npaths && !L.failed; i++)
		load_file(&L, paths[i], NULL);
	if (!L.failed && rules_finish(&L) == -1)
		rules_oom(&L);
	free(L.policy_where);
	rules_strtab_free(&L.rule_names);
	rules_strtab_free(&L.set_names);
	if (L.failed) {
		ctg_ruleset_free(L.rs);
		return NULL;
	}
	return L.rs;
}
