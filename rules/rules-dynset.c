/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: dynamic sets (see ctguard/dynset.h for the why). The main
 * thread keeps each set's entries in a plain vector; every change rebuilds
 * the sorted, merged range tables from it into a new version and
 * publishes that with one atomic store. Rebuilding from scratch costs
 * O(n log n) per change (about 10 ms for 100,000 entries), which buys
 * versions that never change once readers see them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules-int.h"

struct dynent {
	struct ctg_prefix p;
	uint64_t expires;       /* wall us, 0: never */
	char *comment;          /* NULL: none */
};

struct ctg_dynsets {
	struct ctg_dynset **s;
	unsigned n, cap;
	void (*sync)(void *);
	void *arg;
	struct dynver **grave;  /* no sync: freed with the registry */
	size_t ngrave, capgrave;
	/*
	 * The earliest expiry, or earlier (a deleted entry may have held
	 * it): the main loop asks every turn, so it must not scan.
	 */
	uint64_t next_expiry;
};

static void
note_expiry(struct ctg_dynsets *reg, uint64_t expires)
{
	if (expires != 0 && (reg->next_expiry == 0 || expires < reg->next_expiry))
		reg->next_expiry = expires;
}

static void
recompute_expiry(struct ctg_dynsets *reg)
{
	reg->next_expiry = 0;
	for (unsigned k = 0; k < reg->n; k++)
		for (size_t i = 0; i < reg->s[k]->n; i++)
			note_expiry(reg, reg->s[k]->e[i].expires);
}

static void
ver_free(struct dynver *v)
{
	if (v == NULL)
		return;
	free(v->t[0].r);
	free(v->t[1].r);
	free(v);
}

static void
ent_clear(struct dynent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].comment);
}

struct ctg_dynsets *
ctg_dynsets_new(void (*sync)(void *), void *arg)
{
	struct ctg_dynsets *reg = calloc(1, sizeof(*reg));

	if (reg != NULL) {
		reg->sync = sync;
		reg->arg = arg;
	}
	return reg;
}

void
ctg_dynsets_free(struct ctg_dynsets *reg)
{
	if (reg == NULL)
		return;
	for (unsigned i = 0; i < reg->n; i++) {
		struct ctg_dynset *s = reg->s[i];

		ver_free(atomic_load(&s->cur));
		ent_clear(s->e, s->n);
		free(s->e);
		free(s);
	}
	for (size_t i = 0; i < reg->ngrave; i++)
		ver_free(reg->grave[i]);
	free(reg->grave);
	free(reg->s);
	free(reg);
}

/* Build a version from the entries and swap it in; the old one is retired. */
static int
publish(struct ctg_dynsets *reg, struct ctg_dynset *s)
{
	struct rvec vec[2] = { { 0 }, { 0 } };
	struct dynver *nv, *old;

	if ((nv = calloc(1, sizeof(*nv))) == NULL)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		struct r128 a, b;

		rules_prefix_range(&s->e[i].p, &a, &b);
		if (rules_rvec_push(&vec[s->e[i].p.family == 4 ? FS_V4 : FS_V6],
		    a, b) == -1) {
			free(vec[0].r);
			free(vec[1].r);
			free(nv);
			return -1;
		}
	}
	rules_rtab_build(&nv->t[0], &vec[0]);
	rules_rtab_build(&nv->t[1], &vec[1]);
	if (reg->sync == NULL && reg->ngrave == reg->capgrave) {
		size_t ncap = reg->capgrave ? reg->capgrave * 2 : 16;
		struct dynver **ng = realloc(reg->grave, ncap * sizeof(*ng));

		if (ng == NULL) {
			ver_free(nv);
			return -1;
		}
		reg->grave = ng;
		reg->capgrave = ncap;
	}
	old = atomic_exchange_explicit(&s->cur, nv, memory_order_acq_rel);
	if (reg->sync == NULL) {
		reg->grave[reg->ngrave++] = old;
		return 0;
	}
	/* every burst that could have loaded old has ended */
	reg->sync(reg->arg);
	ver_free(old);
	return 0;
}

static struct ctg_dynset *
set_new(struct ctg_dynsets *reg, const char *name)
{
	struct ctg_dynset *s;

	if (reg->n == reg->cap) {
		unsigned ncap = reg->cap ? reg->cap * 2 : 8;
		struct ctg_dynset **ns = realloc(reg->s, ncap * sizeof(*ns));

		if (ns == NULL)
			return NULL;
		reg->s = ns;
		reg->cap = ncap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	atomic_init(&s->cur, calloc(1, sizeof(struct dynver)));
	if (atomic_load(&s->cur) == NULL) {
		free(s);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	reg->s[reg->n++] = s;
	return s;
}

struct ctg_dynset *
ctg_dynsets_find(struct ctg_dynsets *reg, const char *name)
{
	for (unsigned i = 0; i < reg->n; i++)
		if (strcmp(reg->s[i]->name, name) == 0)
			return reg->s[i];
	return NULL;
}

int
ctg_dynsets_bind(struct ctg_dynsets *reg, struct ctg_ruleset *rs,
    bool redeclare, char *err, size_t errlen)
{
	if (redeclare)
		for (unsigned i = 0; i < reg->n; i++)
			reg->s[i]->declared = false;
	for (uint32_t i = 0; i < rs->nsets; i++) {
		struct rset *set = rs->sets[i];
		struct ctg_dynset *s;

		if (!set->dynamic)
			continue;
		if ((s = ctg_dynsets_find(reg, set->name)) == NULL &&
		    (s = set_new(reg, set->name)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (redeclare)
			s->declared = true;
		set->dyn = s;
	}
	return 0;
}

bool
ctg_dynset_declared(const struct ctg_dynset *s)
{
	return s->declared;
}

const char *
ctg_dynset_name(const struct ctg_dynset *s)
{
	return s->name;
}

size_t
ctg_dynset_size(const struct ctg_dynset *s)
{
	return s->n;
}

unsigned
ctg_dynsets_count(const struct ctg_dynsets *reg)
{
	return reg->n;
}

struct ctg_dynset *
ctg_dynsets_at(struct ctg_dynsets *reg, unsigned i)
{
	return i < reg->n ? reg->s[i] : NULL;
}

/* Comments go into the state file, a text listing and JSON unescaped. */
static int
check_comment(const char *c, char *err, size_t errlen)
{
	if (c == NULL)
		return 0;
	if (strlen(c) >= CTG_DYNSET_COMMENT_MAX) {
		snprintf(err, errlen, "comment longer than %d characters",
		    CTG_DYNSET_COMMENT_MAX - 1);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)c; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
			snprintf(err, errlen, "comment may not hold control characters, "
			    "quotes or backslashes");
			return -1;
		}
	return 0;
}

static bool
same_prefix(const struct ctg_prefix *a, const struct ctg_prefix *b)
{
	return a->family == b->family && a->plen == b->plen &&
	    memcmp(a->addr.b, b->addr.b, sizeof(a->addr.b)) == 0;
}

static int
ent_push(struct dynent **e, size_t *n, size_t *cap, const struct ctg_prefix *p,
    uint64_t expires, const char *comment)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct dynent *ne = realloc(*e, ncap * sizeof(*ne));

		if (ne == NULL)
			return -1;
		*e = ne;
		*cap = ncap;
	}
	(*e)[*n].p = *p;
	(*e)[*n].expires = expires;
	(*e)[*n].comment = NULL;
	if (comment != NULL && comment[0] != '\0' &&
	    ((*e)[*n].comment = strdup(comment)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

int
ctg_dynset_add(struct ctg_dynsets *reg, struct ctg_dynset *s,
    const struct ctg_prefix *p, uint64_t expires, const char *comment,
    char *err, size_t errlen)
{
	if (check_comment(comment, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		char *c = NULL;

		if (!same_prefix(&s->e[i].p, p))
			continue;
		/* contents unchanged: only the expiry and comment move */
		if (comment != NULL && comment[0] != '\0' &&
		    (c = strdup(comment)) == NULL)
			goto oom;
		free(s->e[i].comment);
		s->e[i].comment = c;
		s->e[i].expires = expires;
		note_expiry(reg, expires);
		return 0;
	}
	if (s->n >= CTG_DYNSET_MAX_ENTRIES) {
		snprintf(err, errlen, "set '%s' is full (%d entries)", s->name,
		    CTG_DYNSET_MAX_ENTRIES);
		return -1;
	}
	if (ent_push(&s->e, &s->n, &s->cap, p, expires, comment) == -1)
		goto oom;
	if (publish(reg, s) == -1) {
		free(s->e[--s->n].comment);
		goto oom;
	}
	note_expiry(reg, expires);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
ctg_dynset_del(struct ctg_dynsets *reg, struct ctg_dynset *s,
    const struct ctg_prefix *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->n; i++) {
		struct dynent gone = s->e[i];

		if (!same_prefix(&gone.p, p))
			continue;
		s->e[i] = s->e[--s->n];
		if (publish(reg, s) == -1) {
			s->e[s->n++] = gone;
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(gone.comment);
		return 0;
	}
	return 1;
}

/* Swap in a whole new entry vector; the old one is freed after publishing. */
static int
replace(struct ctg_dynsets *reg, struct ctg_dynset *s, struct dynent *e,
    size_t n, size_t cap)
{
	struct dynent *olde = s->e;
	size_t oldn = s->n, oldcap = s->cap;

	s->e = e;
	s->n = n;
	s->cap = cap;
	if (publish(reg, s) == -1) {
		s->e = olde;
		s->n = oldn;
		s->cap = oldcap;
		return -1;
	}
	ent_clear(olde, oldn);
	free(olde);
	return 0;
}

int
ctg_dynset_flush(struct ctg_dynsets *reg, struct ctg_dynset *s, char *err,
    size_t errlen)
{
	if (replace(reg, s, NULL, 0, 0) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* The next line of text (without its newline, trimmed); NULL at the end. */
static const char *
next_line(const char *text, size_t len, size_t *pos, size_t *linelen)
{
	size_t a, b;

	if (*pos >= len)
		return NULL;
	a = *pos;
	b = a;
	while (b < len && text[b] != '\n')
		b++;
	*pos = b < len ? b + 1 : b;
	while (a < b && (text[a] == ' ' || text[a] == '\t'))
		a++;
	while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' ||
	    text[b - 1] == '\r'))
		b--;
	*linelen = b - a;
	return text + a;
}

int
ctg_dynset_load_text(struct ctg_dynsets *reg, struct ctg_dynset *s,
    const char *text, size_t len, uint64_t expires, const char *comment,
    size_t *count, char *err, size_t errlen)
{
	struct dynent *e = NULL;
	size_t n = 0, cap = 0, pos = 0, ll;
	unsigned lineno = 0;
	const char *line;
	char buf[CTG_PREFIX_STRLEN + 8], perr[200];

	if (check_comment(comment, err, errlen) == -1)
		return -1;
	while ((line = next_line(text, len, &pos, &ll)) != NULL) {
		struct ctg_prefix p;

		lineno++;
		if (ll == 0 || line[0] == '#')
			continue;
		if (ll >= sizeof(buf) || memchr(line, '\0', ll) != NULL) {
			snprintf(err, errlen, "line %u: not an address or prefix", lineno);
			goto fail;
		}
		memcpy(buf, line, ll);
		buf[ll] = '\0';
		if (ctg_prefix_parse(buf, &p, perr, sizeof(perr)) == -1) {
			snprintf(err, errlen, "line %u: %s", lineno, perr);
			goto fail;
		}
		if (n >= CTG_DYNSET_MAX_ENTRIES) {
			snprintf(err, errlen, "more than %d entries", CTG_DYNSET_MAX_ENTRIES);
			goto fail;
		}
		if (ent_push(&e, &n, &cap, &p, expires, comment) == -1)
			goto oom;
	}
	if (replace(reg, s, e, n, cap) == -1)
		goto oom;
	if (n > 0)
		note_expiry(reg, expires);
	*count = n;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	ent_clear(e, n);
	free(e);
	return -1;
}

size_t
ctg_dynsets_expire(struct ctg_dynsets *reg, uint64_t now_us)
{
	size_t total = 0;

	for (unsigned k = 0; k < reg->n; k++) {
		struct ctg_dynset *s = reg->s[k];
		struct dynent *gone;
		size_t out = 0, ngone = 0;

		for (size_t i = 0; i < s->n; i++)
			if (s->e[i].expires != 0 && s->e[i].expires <= now_us)
				ngone++;
		if (ngone == 0)
			continue;
		/* keep the expired entries until the new version is out */
		if ((gone = malloc(ngone * sizeof(*gone))) == NULL)
			continue;
		ngone = 0;
		for (size_t i = 0; i < s->n; i++) {
			if (s->e[i].expires != 0 && s->e[i].expires <= now_us)
				gone[ngone++] = s->e[i];
			else
				s->e[out++] = s->e[i];
		}
		s->n = out;
		if (publish(reg, s) == -1) {
			/* try again at the next sweep */
			for (size_t i = 0; i < ngone; i++)
				s->e[s->n++] = gone[i];
			free(gone);
			continue;
		}
		ent_clear(gone, ngone);
		free(gone);
		total += ngone;
	}
	recompute_expiry(reg);
	return total;
}

uint64_t
ctg_dynsets_next_expiry(const struct ctg_dynsets *reg)
{
	return reg->next_expiry;
}

static int
ent_cmp(const void *pa, const void *pb)
{
	const struct dynent *a = pa, *b = pb;
	int c;

	if (a->p.family != b->p.family)
		return a->p.family < b->p.family ? -1 : 1;
	if ((c = memcmp(a->p.addr.b, b->p.addr.b, sizeof(a->p.addr.b))) != 0)
		return c;
	return (int)a->p.plen - (int)b->p.plen;
}

void
ctg_dynset_list(const struct ctg_dynset *cs, uint64_t now_us, bool json,
    struct ctg_strbuf *o)
{
	/* the order of entries is the main thread's: sorting them is harmless */
	struct ctg_dynset *s = (struct ctg_dynset *)cs;

	if (s->n > 1)
		qsort(s->e, s->n, sizeof(s->e[0]), ent_cmp);
	for (size_t i = 0; i < s->n && !o->full; i++) {
		const struct dynent *e = &s->e[i];
		char txt[CTG_PREFIX_STRLEN];
		int64_t left = e->expires == 0 ? -1 : e->expires <= now_us ? 0 :
		    (int64_t)((e->expires - now_us + 999999) / 1000000);

		ctg_prefix_str(&e->p, txt, sizeof(txt));
		if (json)
			ctg_strbuf_printf(o, "{\"set\":\"%s\",\"entry\":\"%s\","
			    "\"expires_us\":%" PRIu64 ",\"timeout_left\":%" PRId64
			    ",\"comment\":\"%s\"}\n", s->name, txt, e->expires, left,
			    e->comment ? e->comment : "");
		else if (left < 0)
			ctg_strbuf_printf(o, "%s %s never%s%s\n", s->name, txt,
			    e->comment ? " " : "", e->comment ? e->comment : "");
		else
			ctg_strbuf_printf(o, "%s %s %" PRId64 "s%s%s\n", s->name, txt,
			    left, e->comment ? " " : "", e->comment ? e->comment : "");
	}
}

int
ctg_dynsets_save(const struct ctg_dynsets *reg, const char *path, char *err,
    size_t errlen)
{
	char tmp[4200];
	FILE *f;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "# ctguard dynamic sets 1\n");
	for (unsigned k = 0; k < reg->n; k++) {
		const struct ctg_dynset *s = reg->s[k];

		if (!s->declared)
			continue;
		fprintf(f, "set %s\n", s->name);
		for (size_t i = 0; i < s->n; i++) {
			char txt[CTG_PREFIX_STRLEN];

			fprintf(f, "%s %" PRIu64 "%s%s\n",
			    ctg_prefix_str(&s->e[i].p, txt, sizeof(txt)),
			    s->e[i].expires, s->e[i].comment ? " " : "",
			    s->e[i].comment ? s->e[i].comment : "");
		}
	}
	if (fflush(f) != 0 || fsync(fd) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

int
ctg_dynsets_restore(struct ctg_dynsets *reg, const char *path, uint64_t now_us,
    size_t *count, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[512];
	struct ctg_dynset *cur = NULL;
	struct dynent *e = NULL;
	size_t n = 0, cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	*count = 0;
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		bool eof = fgets(line, sizeof(line), f) == NULL;
		char *nl, *sp, *end, perr[200];
		struct ctg_prefix p;
		unsigned long long exp;

		if (!eof)
			lineno++;
		if (eof || strncmp(line, "set ", 4) == 0) {
			if (cur != NULL) {
				if (replace(reg, cur, e, n, cap) == -1) {
					ent_clear(e, n);
					free(e);
					snprintf(err, errlen, "out of memory");
					rc = -1;
					break;
				}
				*count += n;
			} else {
				ent_clear(e, n);
				free(e);
			}
			e = NULL;
			n = cap = 0;
			cur = NULL;
			if (eof)
				break;
			if ((nl = strchr(line, '\n')) != NULL)
				*nl = '\0';
			cur = ctg_dynsets_find(reg, line + 4);
			if (cur != NULL && !cur->declared)
				cur = NULL;
			continue;
		}
		if (line[0] == '#' || cur == NULL)
			continue;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		sp = strchr(line, ' ');
		if (sp != NULL)
			*sp++ = '\0';
		errno = 0;
		exp = sp ? strtoull(sp, &end, 10) : 0;
		if (sp == NULL || errno != 0 || end == sp || (*end != '\0' && *end != ' ') ||
		    ctg_prefix_parse(line, &p, perr, sizeof(perr)) == -1) {
			snprintf(err, errlen, "%s:%u: bad entry", path, lineno);
			rc = -1;
			continue;       /* the rest still loads */
		}
		if (exp != 0 && exp <= now_us)
			continue;
		if (ent_push(&e, &n, &cap, &p, exp, *end == ' ' ? end + 1 : NULL) == -1) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
	}
	fclose(f);
	recompute_expiry(reg);
	return rc;
}

bool
ctg_dynset_contains(const struct ctg_dynset *s, uint8_t family,
    const struct ctg_addr *a)
{
	int fs = family == 4 ? FS_V4 : FS_V6;
	const struct dynver *v = atomic_load_explicit(&s->cur, memory_order_acquire);

	return rtab_has(&v->t[fs], addr_key(a, fs));
}

size_t
ctg_dynset_contains_n(const struct ctg_dynset *s, uint8_t family,
    const struct ctg_addr *addrs, size_t n, bool *out)
{
	int fs = family == 4 ? FS_V4 : FS_V6;
	const struct dynver *v = atomic_load_explicit(&s->cur, memory_order_acquire);
	size_t in = 0;

	for (size_t i = 0; i < n; i++) {
		out[i] = rtab_has(&v->t[fs], addr_key(&addrs[i], fs));
		in += out[i];
	}
	return in;
}
