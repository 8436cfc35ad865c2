/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard report`: the aggregating scans over the audit database.
 *
 * Speed: a week of a busy gateway is tens of millions of verdict rows, and
 * SQLite groups by sorting, which for ten million rows takes longer than
 * the whole report may. So each big table is read by exactly one scan, in
 * which a small aggregate function (registered on the connection) adds the
 * row's values to fixed arrays and hash tables: nothing per row leaves
 * SQLite, nothing is sorted. Everything else (time bounds, events) is an
 * index lookup. The time range decides between the time index and a plain
 * table scan, since for most of the table a scan is much cheaper than an
 * index walk with a table lookup per row.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctguard/tcpfsm.h"
#include "logcli-int.h"
#include "report-int.h"

#define MAX_EVENTS 500

/* --- string -> dense index ------------------------------------------------ */

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Index of key, added when new; -1 when out of memory. */
long
report_smap_get(struct smap *m, const char *key)
{
	if (m->n * 2 >= m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		uint32_t *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -1;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->slot[i])
				continue;
			size_t j = hash_str(m->keys[m->slot[i] - 1]) & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = m->slot[i];
		}
		free(m->slot);
		m->slot = ns;
		m->cap = ncap;
	}
	size_t j = hash_str(key) & (m->cap - 1);
	while (m->slot[j]) {
		if (strcmp(m->keys[m->slot[j] - 1], key) == 0)
			return (long)m->slot[j] - 1;
		j = (j + 1) & (m->cap - 1);
	}
	if ((m->n & (m->n - 1)) == 0 || m->n == 0) {
		char **nk = realloc(m->keys, (m->n ? m->n * 2 : 1) * sizeof(*nk));

		if (!nk)
			return -1;
		m->keys = nk;
	}
	if (!(m->keys[m->n] = strdup(key)))
		return -1;
	m->slot[j] = (uint32_t)++m->n;
	return (long)m->n - 1;
}

void
report_smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

int
report_counts_add(struct counts *c, long idx, size_t col, uint64_t by)
{
	if (idx < 0)
		return -1;
	if ((size_t)idx >= c->n) {
		size_t nn = c->n ? c->n : 16;

		while (nn <= (size_t)idx)
			nn *= 2;
		uint64_t *nv = realloc(c->v, nn * c->width * sizeof(*nv));
		if (!nv)
			return -1;
		memset(nv + c->n * c->width, 0, (nn - c->n) * c->width * sizeof(*nv));
		c->v = nv;
		c->n = nn;
	}
	c->v[(size_t)idx * c->width + col] += by;
	return 0;
}

uint64_t
report_counts_get(const struct counts *c, size_t idx, size_t col)
{
	return idx < c->n ? c->v[idx * c->width + col] : 0;
}

/* --- what the scans gather ------------------------------------------------ */

static int
vclass(const unsigned char *v)
{
	if (!v)
		return V_OTHER;
	if (strcmp((const char *)v, "accept") == 0)
		return V_ACCEPT;
	if (strcmp((const char *)v, "drop") == 0)
		return V_DROP;
	if (strcmp((const char *)v, "reject") == 0)
		return V_REJECT;
	return V_OTHER;
}

static int
state_of(const unsigned char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < CTG_TCPS_COUNT; i++)
		if (strcmp((const char *)s, ctg_tcp_state_name((enum ctg_tcp_state)i)) == 0)
			return i;
	return -1;
}

static const char *
txt(sqlite3_value *v)
{
	const unsigned char *s = sqlite3_value_text(v);

	return s ? (const char *)s : "";
}

static int
bucket_of(const struct report *r, long long t)
{
	if (t < r->t0)
		return 0;
	long long b = (t - r->t0) / r->bw;
	return b >= NB ? NB - 1 : (int)b;
}

/*
 * tally_verdict(time_us, verdict, reason, rule, src, dst, ctstate, proto,
 *     orig_before, orig_after, resp_before, resp_after)
 */
static void
tally_verdict(sqlite3_context *ctx, int argc, sqlite3_value **a)
{
	struct report *r = sqlite3_user_data(ctx);
	long long t = sqlite3_value_int64(a[0]);
	int v = vclass(sqlite3_value_text(a[1]));
	int b = bucket_of(r, t);
	int err = 0;

	(void)argc;
	r->verdicts++;
	r->vb[b][v]++;
	r->vtotal[v]++;
	const char *rule = txt(a[3]);
	err |= report_counts_add(&r->rule_v,
	    report_smap_get(&r->rules, *rule ? rule : "(default policy)"), (size_t)v, 1);
	if (v == V_DROP) {
		long ri = report_smap_get(&r->reasons, txt(a[2]));

		err |= report_counts_add(&r->reason_b, ri, (size_t)b, 1);
		err |= report_counts_add(&r->reason_b, ri, NB, 1);
		err |= report_counts_add(&r->src_n, report_smap_get(&r->srcs, txt(a[4])), 0, 1);
		err |= report_counts_add(&r->dst_n, report_smap_get(&r->dsts, txt(a[5])), 0, 1);
	}
	if (sqlite3_value_int(a[7]) == 6) {
		const char *cs = txt(a[6]);

		if (strcmp(cs, "invalid") == 0) {
			if (v == V_DROP) {
				char key[160];

				snprintf(key, sizeof(key), "%s\t%s\t%s", txt(a[8]), txt(a[10]),
				    txt(a[2]));
				err |= report_counts_add(&r->refused_n, report_smap_get(&r->refused, key),
				    0, 1);
			}
		} else {
			for (int e = 0; e < 2; e++) {
				const unsigned char *bs = sqlite3_value_text(a[8 + 2 * e]);
				const unsigned char *as = sqlite3_value_text(a[9 + 2 * e]);

				if (!bs || !as || strcmp((const char *)bs, (const char *)as) == 0)
					continue;
				int fs = state_of(bs), ts = state_of(as);
				if (fs >= 0 && ts >= 0)
					r->moves[fs][ts]++;
			}
		}
	}
	if (err)
		r->oom = true;
}

static int
dur_bucket(long long us)
{
	long long lim = 1000;           /* 1 ms */
	int i = 0;

	while (i < NDUR - 1 && us >= lim) {
		lim *= 10;
		i++;
	}
	return i;
}

static int
size_bucket(long long bytes)
{
	long long lim = 100;
	int i = 0;

	while (i < NSIZE - 1 && bytes >= lim) {
		lim *= 10;
		i++;
	}
	return i;
}

/* tally_conn(first_us, last_us, conn_state, orig_bytes, resp_bytes) */
static void
tally_conn(sqlite3_context *ctx, int argc, sqlite3_value **a)
{
	struct report *r = sqlite3_user_data(ctx);
	long long d = sqlite3_value_int64(a[1]) - sqlite3_value_int64(a[0]);

	(void)argc;
	r->conns++;
	if (report_counts_add(&r->cstate_n,
	    report_smap_get(&r->cstates, *txt(a[2]) ? txt(a[2]) : "-"), 0, 1))
		r->oom = true;
	r->dur[dur_bucket(d < 0 ? 0 : d)]++;
	r->size[size_bucket(sqlite3_value_int64(a[3]) + sqlite3_value_int64(a[4]))]++;
}

static void
tally_final(sqlite3_context *ctx)
{
	struct report *r = sqlite3_user_data(ctx);

	if (r->oom)
		sqlite3_result_error_nomem(ctx);
	else
		sqlite3_result_null(ctx);
}

void
report_free(struct report *r)
{
	report_smap_free(&r->reasons);
	report_smap_free(&r->rules);
	report_smap_free(&r->srcs);
	report_smap_free(&r->dsts);
	report_smap_free(&r->refused);
	report_smap_free(&r->cstates);
	free(r->reason_b.v);
	free(r->rule_v.v);
	free(r->src_n.v);
	free(r->dst_n.v);
	free(r->refused_n.v);
	free(r->cstate_n.v);
}

/* --- database --------------------------------------------------------------- */

/* Read-only, checked the way every audit command opens it (logquery.c). */
int
report_open_db(const char *path, sqlite3 **out, FILE *err)
{
	if (lc_open_db(path, out, err) != 0)
		return 1;
	/* the scans read every page once: mapped, they cost no copy (ignored if unsupported) */
	sqlite3_exec(*out, "PRAGMA mmap_size = 4294967296", NULL, NULL, NULL);
	return 0;
}

/* Run a statement with nparam int64 parameters; each row to fn. */
static int
query_n(sqlite3 *db, const char *path, const char *sql, const long long *p, int nparam,
    int (*fn)(void *, sqlite3_stmt *), void *arg, FILE *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return lc_db_error(db, path, rc, err);
	for (int i = 0; i < nparam; i++)
		sqlite3_bind_int64(st, i + 1, p[i]);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn && fn(arg, st) != 0) {
			sqlite3_finalize(st);
			fprintf(err, "ctguard: out of memory\n");
			return 1;
		}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return lc_db_error(db, path, rc, err);
	return 0;
}

int
report_query(sqlite3 *db, const char *path, const char *sql, int nparam, long long p1,
    long long p2, int (*fn)(void *, sqlite3_stmt *), void *arg, FILE *err)
{
	long long p[2] = { p1, p2 };

	return query_n(db, path, sql, p, nparam, fn, arg, err);
}

int
report_take_bounds(void *arg, sqlite3_stmt *st)
{
	struct bounds *b = arg;

	if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		return 0;
	long long lo = sqlite3_column_int64(st, 0), hi = sqlite3_column_int64(st, 1);
	if (!b->any || lo < b->lo)
		b->lo = lo;
	if (!b->any || hi > b->hi)
		b->hi = hi;
	b->any = true;
	return 0;
}

static int
take_int(void *arg, sqlite3_stmt *st)
{
	*(long long *)arg = sqlite3_column_int64(st, 0);
	return 0;
}

int
report_take_event(void *arg, sqlite3_stmt *st)
{
	struct events *e = arg;
	const char *kind = (const char *)sqlite3_column_text(st, 1);
	const char *detail = (const char *)sqlite3_column_text(st, 3);

	if (e->n >= MAX_EVENTS) {
		e->more++;
		return 0;
	}
	if (e->n % 64 == 0) {
		struct event *nv = realloc(e->v, (e->n + 64) * sizeof(*nv));

		if (!nv)
			return -1;
		e->v = nv;
	}
	struct event *x = &e->v[e->n];
	x->t = sqlite3_column_int64(st, 0);
	x->count = sqlite3_column_int64(st, 2);
	x->kind = strdup(kind ? kind : "");
	x->detail = strdup(detail ? detail : "");
	if (!x->kind || !x->detail) {
		free(x->kind);
		free(x->detail);
		return -1;
	}
	e->n++;
	return 0;
}

void
report_events_free(struct events *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].kind);
		free(e->v[i].detail);
	}
	free(e->v);
}

int
report_register_fns(sqlite3 *db, struct report *r)
{
	int rc = sqlite3_create_function(db, "ctg_tally_verdict", 12, SQLITE_UTF8, r, NULL,
	    tally_verdict, tally_final);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "ctg_tally_conn", 5, SQLITE_UTF8, r, NULL,
		    tally_conn, tally_final);
	return rc;
}

void
report_init(struct report *r)
{
	r->reason_b.width = NB + 1;
	r->rule_v.width = V_N;
	r->src_n.width = r->dst_n.width = r->refused_n.width = r->cstate_n.width = 1;
}

static int
merge_map(struct smap *dm, struct counts *dc, const struct smap *sm, const struct counts *sc)
{
	for (size_t i = 0; i < sm->n; i++) {
		long j = report_smap_get(dm, sm->keys[i]);

		for (size_t col = 0; col < sc->width; col++)
			if (report_counts_add(dc, j, col, report_counts_get(sc, i, col)))
				return -1;
	}
	return 0;
}

static int
report_merge(struct report *d, const struct report *s)
{
	d->verdicts += s->verdicts;
	d->conns += s->conns;
	for (int b = 0; b < NB; b++)
		for (int v = 0; v < V_N; v++)
			d->vb[b][v] += s->vb[b][v];
	for (int v = 0; v < V_N; v++)
		d->vtotal[v] += s->vtotal[v];
	for (int a = 0; a < CTG_TCPS_COUNT; a++)
		for (int b = 0; b < CTG_TCPS_COUNT; b++)
			d->moves[a][b] += s->moves[a][b];
	for (int i = 0; i < NDUR; i++)
		d->dur[i] += s->dur[i];
	for (int i = 0; i < NSIZE; i++)
		d->size[i] += s->size[i];
	return merge_map(&d->reasons, &d->reason_b, &s->reasons, &s->reason_b) ||
	    merge_map(&d->rules, &d->rule_v, &s->rules, &s->rule_v) ||
	    merge_map(&d->srcs, &d->src_n, &s->srcs, &s->src_n) ||
	    merge_map(&d->dsts, &d->dst_n, &s->dsts, &s->dst_n) ||
	    merge_map(&d->refused, &d->refused_n, &s->refused, &s->refused_n) ||
	    merge_map(&d->cstates, &d->cstate_n, &s->cstates, &s->cstate_n) ? -1 : 0;
}

/* One slice of a table scan, on its own connection. */
struct worker {
	pthread_t th;
	const char *path, *sql;
	long long p[4];
	struct report r;
	FILE *err;
	int rc;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	sqlite3 *db;

	w->rc = 1;
	if (report_open_db(w->path, &db, w->err) != 0)
		return NULL;
	if (report_register_fns(db, &w->r) != SQLITE_OK)
		w->rc = lc_db_error(db, w->path, SQLITE_NOMEM, w->err);
	else
		w->rc = query_n(db, w->path, w->sql, w->p, 4, NULL, NULL, w->err);
	sqlite3_close(db);
	return NULL;
}

/*
 * Threads for a big scan: one per CPU, at most 4. CTG_REPORT_THREADS sets
 * the number and scans even small tables in slices (the tests compare).
 */
static int
nworkers(bool *forced)
{
	const char *e = getenv("CTG_REPORT_THREADS");
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	*forced = false;
	if (e && *e) {
		n = strtol(e, NULL, 10);
		*forced = true;
	}
	if (!sqlite3_threadsafe() || n < 2)
		return 1;
	return n > 16 ? 16 : n > 4 && !*forced ? 4 : (int)n;
}

/*
 * One scan of the rows in [t0, t1) through the tally function call. The
 * time index is used only when the range holds under a third of the table:
 * otherwise a table scan (index disabled by the unary +) reads each page
 * once instead of looking every row up. A big table scan is cut into
 * rowid slices, one thread and one read-only connection each, and their
 * tallies added up.
 */
int
report_scan(sqlite3 *db, const char *path, struct report *r, const char *table,
    const char *tcol, const char *call, FILE *err)
{
	char sql[512];
	long long all = 0, in = 0;
	struct bounds ids = { 0, 0, false };
	bool forced;
	int nw = nworkers(&forced);

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (report_query(db, path, sql, 0, 0, 0, take_int, &all, err))
		return 1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s >= ?1 AND %s < ?2",
	    table, tcol, tcol);
	if (report_query(db, path, sql, 2, r->t0, r->t1, take_int, &in, err))
		return 1;
	if (in == 0)
		return 0;
	if (in * 3 <= all || (in < 1000000 && !forced) || nw < 2) {
		snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s%s >= ?1 AND %s%s < ?2",
		    call, table, in * 3 > all ? "+" : "", tcol, in * 3 > all ? "+" : "", tcol);
		return report_query(db, path, sql, 2, r->t0, r->t1, NULL, NULL, err);
	}
	snprintf(sql, sizeof(sql), "SELECT min(rowid), max(rowid) FROM %s", table);
	if (report_query(db, path, sql, 0, 0, 0, report_take_bounds, &ids, err))
		return 1;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE rowid >= ?3 AND rowid < ?4 AND "
	    "+%s >= ?1 AND +%s < ?2", call, table, tcol, tcol);

	struct worker *w = calloc((size_t)nw, sizeof(*w));
	int rc = 0, started = 0;

	if (!w) {
		fprintf(err, "ctguard: out of memory\n");
		return 1;
	}
	long long step = (ids.hi - ids.lo) / nw + 1;
	for (int i = 0; i < nw; i++) {
		w[i].path = path;
		w[i].sql = sql;
		w[i].err = err;
		w[i].p[0] = r->t0;
		w[i].p[1] = r->t1;
		w[i].p[2] = ids.lo + step * i;
		w[i].p[3] = i == nw - 1 ? ids.hi + 1 : ids.lo + step * (i + 1);
		w[i].r.t0 = r->t0;
		w[i].r.t1 = r->t1;
		w[i].r.bw = r->bw;
		report_init(&w[i].r);
		if (pthread_create(&w[i].th, NULL, work, &w[i]) != 0) {
			fprintf(err, "ctguard: cannot start a thread: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].rc)
			rc = 1;
		else if (!rc && (w[i].r.oom || report_merge(r, &w[i].r))) {
			fprintf(err, "ctguard: out of memory\n");
			rc = 1;
		}
	}
	for (int i = 0; i < nw; i++)
		report_free(&w[i].r);
	free(w);
	return rc;
}
