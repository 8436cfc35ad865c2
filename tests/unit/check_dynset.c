/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dynamic sets: declared in a rule file, changed at run time. The rule
 * language side (dynamic = true), add/del/flush/load through the ruleset's
 * verdicts, expiry, the state file, and atomicity: a reader thread that
 * judges against the set while 100,000-entry loads replace it must see
 * every version whole.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ctguard/dynset.h"
#include "ctguard/rules.h"
#include "ctguard/strbuf.h"

static char tmpdir[] = "/tmp/check_dynset.XXXXXX";

static const char RULES[] =
    "sets = { banned = { type = \"address\"; dynamic = true; }; };\n"
    "rules = ( { name = \"ban\"; action = \"drop\"; src = [ \"@banned\" ]; } );\n"
    "default_policy = \"accept\";\n";

static struct ctg_ruleset *
load_text(const char *text, struct ctg_rules_diag *d)
{
	char path[128];
	const char *p = path;
	FILE *f;

	snprintf(path, sizeof(path), "%s/t.rules", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	memset(d, 0, sizeof(*d));
	return ctg_ruleset_load(&p, 1, d);
}

static enum ctg_action
judge(struct ctg_ruleset *rs, const char *src, const char **rule)
{
	struct ctg_packet p;
	struct ctg_rule_result res;

	memset(&p, 0, sizeof(p));
	if (strchr(src, ':')) {
		p.tuple.family = 6;
		ck_assert_int_eq(inet_pton(AF_INET6, src, p.tuple.src.b), 1);
		ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", p.tuple.dst.b), 1);
	} else {
		p.tuple.family = 4;
		ck_assert_int_eq(inet_pton(AF_INET, src, p.tuple.src.b), 1);
		ck_assert_int_eq(inet_pton(AF_INET, "203.0.113.1", p.tuple.dst.b), 1);
	}
	p.tuple.proto = IPPROTO_TCP;
	p.tuple.sport = 40000;
	p.tuple.dport = 22;
	struct ctg_rule_input in = { .pkt = &p, .ctstate = CTG_CT_NEW };
	ctg_ruleset_eval(rs, &in, &res);
	if (rule)
		*rule = res.rule_name;
	return res.action;
}

static struct ctg_prefix
pfx(const char *s)
{
	struct ctg_prefix p;
	char err[200];

	ck_assert_msg(ctg_prefix_parse(s, &p, err, sizeof(err)) == 0, "%s", err);
	return p;
}

START_TEST(test_language)
{
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	rs = load_text(RULES, &d);
	ck_assert_msg(rs != NULL, "%s", d.error);
	f = open_memstream(&buf, &len);
	ctg_ruleset_print(rs, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "set banned address dynamic\n"));
	ck_assert_ptr_nonnull(strstr(buf, "src=@banned{dynamic}"));
	free(buf);
	ctg_ruleset_free(rs);

	rs = load_text("sets = { b = { type = \"address\"; dynamic = true; "
	    "members = [ \"10.0.0.0/8\" ]; }; };\n", &d);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(d.error, "dynamic set has no 'members'"));
	rs = load_text("sets = { b = { type = \"port\"; dynamic = true; }; };\n", &d);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(d.error, "holds addresses"));
	rs = load_text("sets = { b = { type = \"address\"; dynamic = 1; }; };\n", &d);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(d.error, "true or false"));
	/* a static set still needs members */
	rs = load_text("sets = { b = { type = \"address\"; dynamic = false; }; };\n", &d);
	ck_assert_ptr_null(rs);
	ck_assert_ptr_nonnull(strstr(d.error, "missing 'members'"));
}
END_TEST

START_TEST(test_add_del_flush)
{
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs = load_text(RULES, &d);
	struct ctg_dynsets *reg = ctg_dynsets_new(NULL, NULL);
	struct ctg_dynset *s;
	struct ctg_prefix p;
	const char *rule;
	char err[256];
	uint64_t hash;

	ck_assert_ptr_nonnull(rs);
	hash = ctg_ruleset_hash(rs);
	/* unbound: an empty set, the rule still in both family buckets */
	ck_assert_int_eq(judge(rs, "198.51.100.7", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(ctg_dynsets_bind(reg, rs, true, err, sizeof(err)), 0);
	s = ctg_dynsets_find(reg, "banned");
	ck_assert_ptr_nonnull(s);
	ck_assert(ctg_dynset_declared(s));
	ck_assert_int_eq(judge(rs, "198.51.100.7", NULL), CTG_ACT_ACCEPT);
	/* listing a set never filled lists nothing */
	{
		struct ctg_strbuf o;

		ck_assert_int_eq(ctg_strbuf_init(&o, 64, 1024), 0);
		ctg_dynset_list(s, 0, true, &o);
		ck_assert_uint_eq(o.len, 0);
		ctg_strbuf_free(&o);
	}

	p = pfx("198.51.100.0/24");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, 0, "ssh", err, sizeof(err)), 0);
	ck_assert_int_eq(judge(rs, "198.51.100.7", &rule), CTG_ACT_DROP);
	ck_assert_str_eq(rule, "ban");
	ck_assert_int_eq(judge(rs, "198.51.101.7", NULL), CTG_ACT_ACCEPT);
	p = pfx("2001:db8:bad::/48");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, 0, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(judge(rs, "2001:db8:bad::5", NULL), CTG_ACT_DROP);
	ck_assert_int_eq(judge(rs, "2001:db8:bee::5", NULL), CTG_ACT_ACCEPT);
	/* the same prefix again updates, does not duplicate */
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, 0, "again", err, sizeof(err)), 0);
	ck_assert_uint_eq(ctg_dynset_size(s), 2);
	/* contents do not change the ruleset's identity */
	ck_assert_uint_eq(ctg_ruleset_hash(rs), hash);
	/* bad comments are refused before anything changes */
	p = pfx("203.0.113.9/32");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, 0, "a\"b", err, sizeof(err)), -1);
	ck_assert_uint_eq(ctg_dynset_size(s), 2);

	p = pfx("198.51.100.0/24");
	ck_assert_int_eq(ctg_dynset_del(reg, s, &p, err, sizeof(err)), 0);
	ck_assert_int_eq(judge(rs, "198.51.100.7", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(ctg_dynset_del(reg, s, &p, err, sizeof(err)), 1);
	ck_assert_int_eq(ctg_dynset_flush(reg, s, err, sizeof(err)), 0);
	ck_assert_uint_eq(ctg_dynset_size(s), 0);
	ck_assert_int_eq(judge(rs, "2001:db8:bad::5", NULL), CTG_ACT_ACCEPT);

	/* a reload's ruleset finds the contents where they were */
	p = pfx("198.51.100.9");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, 0, NULL, err, sizeof(err)), 0);
	struct ctg_ruleset *rs2 = load_text(RULES, &d);
	ck_assert_ptr_nonnull(rs2);
	ck_assert_int_eq(ctg_dynsets_bind(reg, rs2, true, err, sizeof(err)), 0);
	ck_assert_int_eq(judge(rs2, "198.51.100.9", NULL), CTG_ACT_DROP);
	/* a reload that no longer declares it: kept but not declared */
	struct ctg_ruleset *rs3 = load_text("default_policy = \"accept\";\n", &d);
	ck_assert_ptr_nonnull(rs3);
	ck_assert_int_eq(ctg_dynsets_bind(reg, rs3, true, err, sizeof(err)), 0);
	ck_assert(!ctg_dynset_declared(s));
	ck_assert_uint_eq(ctg_dynset_size(s), 1);
	ctg_ruleset_free(rs3);
	ctg_ruleset_free(rs2);
	ctg_ruleset_free(rs);
	ctg_dynsets_free(reg);
}
END_TEST

START_TEST(test_expiry_and_state)
{
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs = load_text(RULES, &d);
	struct ctg_dynsets *reg = ctg_dynsets_new(NULL, NULL);
	struct ctg_dynset *s;
	struct ctg_prefix p;
	struct ctg_strbuf o;
	char err[256], path[128];
	size_t n;
	const uint64_t t0 = 1700000000000000ULL;

	ck_assert_int_eq(ctg_dynsets_bind(reg, rs, true, err, sizeof(err)), 0);
	s = ctg_dynsets_find(reg, "banned");
	p = pfx("198.51.100.1");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, t0 + 1000000, "short", err, sizeof(err)), 0);
	p = pfx("198.51.100.2");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, t0 + 5000000, NULL, err, sizeof(err)), 0);
	p = pfx("198.51.100.3");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, 0, "forever", err, sizeof(err)), 0);
	ck_assert_uint_eq(ctg_dynsets_next_expiry(reg), t0 + 1000000);
	ck_assert_uint_eq(ctg_dynsets_expire(reg, t0 + 999999), 0);
	ck_assert_int_eq(judge(rs, "198.51.100.1", NULL), CTG_ACT_DROP);
	ck_assert_uint_eq(ctg_dynsets_expire(reg, t0 + 1000000), 1);
	ck_assert_int_eq(judge(rs, "198.51.100.1", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(judge(rs, "198.51.100.2", NULL), CTG_ACT_DROP);
	ck_assert_uint_eq(ctg_dynsets_next_expiry(reg), t0 + 5000000);
	/* an earlier entry deleted: the hint may stay early, expire corrects it */
	p = pfx("198.51.100.4");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, t0 + 2000000, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(ctg_dynsets_next_expiry(reg), t0 + 2000000);
	ck_assert_int_eq(ctg_dynset_del(reg, s, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(ctg_dynsets_expire(reg, t0 + 2000000), 0);
	ck_assert_uint_eq(ctg_dynsets_next_expiry(reg), t0 + 5000000);

	ck_assert_int_eq(ctg_strbuf_init(&o, 256, 1 << 20), 0);
	ctg_dynset_list(s, t0 + 1000000, false, &o);
	ck_assert_str_eq(o.s, "banned 198.51.100.2/32 4s\nbanned 198.51.100.3/32 never forever\n");
	o.len = 0;
	o.s[0] = '\0';
	ctg_dynset_list(s, t0 + 1000000, true, &o);
	ck_assert_ptr_nonnull(strstr(o.s, "{\"set\":\"banned\",\"entry\":\"198.51.100.3/32\","
	    "\"expires_us\":0,\"timeout_left\":-1,\"comment\":\"forever\"}\n"));
	ctg_strbuf_free(&o);

	/* the state file: an entry expiring meanwhile is not restored */
	snprintf(path, sizeof(path), "%s/dynsets", tmpdir);
	ck_assert_int_eq(ctg_dynsets_save(reg, path, err, sizeof(err)), 0);
	ck_assert_int_eq(access(path, F_OK), 0);
	struct ctg_dynsets *reg2 = ctg_dynsets_new(NULL, NULL);
	struct ctg_ruleset *rs2 = load_text(RULES, &d);
	ck_assert_int_eq(ctg_dynsets_bind(reg2, rs2, true, err, sizeof(err)), 0);
	ck_assert_int_eq(ctg_dynsets_restore(reg2, path, t0 + 6000000, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(judge(rs2, "198.51.100.3", NULL), CTG_ACT_DROP);
	ck_assert_int_eq(judge(rs2, "198.51.100.2", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(ctg_dynsets_restore(reg2, path, t0, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ctg_dynsets_next_expiry(reg2), t0 + 5000000);
	/* a missing file is an empty start */
	unlink(path);
	ck_assert_int_eq(ctg_dynsets_restore(reg2, path, t0, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	ctg_ruleset_free(rs2);
	ctg_dynsets_free(reg2);
	ctg_ruleset_free(rs);
	ctg_dynsets_free(reg);
}
END_TEST

START_TEST(test_load_all_or_nothing)
{
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs = load_text(RULES, &d);
	struct ctg_dynsets *reg = ctg_dynsets_new(NULL, NULL);
	struct ctg_dynset *s;
	struct ctg_prefix p;
	char err[256];
	size_t n = 99;
	static const char good[] = "# blocklist\n198.51.100.0/25\n\n  2001:db8::/32  \r\n";
	static const char bad[] = "203.0.113.0/24\n10.0.0.1/8\n";

	ck_assert_int_eq(ctg_dynsets_bind(reg, rs, true, err, sizeof(err)), 0);
	s = ctg_dynsets_find(reg, "banned");
	p = pfx("203.0.113.77");
	ck_assert_int_eq(ctg_dynset_add(reg, s, &p, 0, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(ctg_dynset_load_text(reg, s, bad, strlen(bad), 0, NULL, &n,
	    err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "line 2: ", 8) == 0, "%s", err);
	ck_assert_uint_eq(ctg_dynset_size(s), 1);
	ck_assert_int_eq(judge(rs, "203.0.113.77", NULL), CTG_ACT_DROP);
	ck_assert_int_eq(judge(rs, "203.0.113.78", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(ctg_dynset_load_text(reg, s, good, strlen(good), 0, "list", &n,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(judge(rs, "203.0.113.77", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(judge(rs, "198.51.100.127", NULL), CTG_ACT_DROP);
	ck_assert_int_eq(judge(rs, "198.51.100.128", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(judge(rs, "2001:db8:ffff::1", NULL), CTG_ACT_DROP);
	ctg_ruleset_free(rs);
	ctg_dynsets_free(reg);
}
END_TEST

/*
 * Atomicity: the writer alternates two disjoint 100,000-entry contents
 * (A: 10.0.0.0 + 2i, B: 10.128.0.0 + 2i, ranges that do not merge); the reader, in "bursts" under a
 * lock as the daemon's workers run, probes both ends and the middle of
 * each in one version. A version seen half loaded would answer a mix.
 */
#define NLOAD 100000

struct race {
	pthread_mutex_t burst;
	struct ctg_dynset *s;
	atomic_bool stop;
	atomic_ulong bursts, whole_a, whole_b, empty, torn;
};

static void
race_sync(void *arg)
{
	struct race *r = arg;

	pthread_mutex_lock(&r->burst);
	pthread_mutex_unlock(&r->burst);
}

static struct ctg_addr
a4(uint32_t v)
{
	struct ctg_addr a;

	memset(&a, 0, sizeof(a));
	a.b[0] = (uint8_t)(v >> 24);
	a.b[1] = (uint8_t)(v >> 16);
	a.b[2] = (uint8_t)(v >> 8);
	a.b[3] = (uint8_t)v;
	return a;
}

static void *
reader(void *arg)
{
	struct race *r = arg;
	const uint32_t A = 0x0a000000, B = 0x0a800000;
	struct ctg_addr probe[6] = {
		a4(A), a4(A + NLOAD), a4(A + 2 * (NLOAD - 1)),
		a4(B), a4(B + NLOAD), a4(B + 2 * (NLOAD - 1)),
	};
	bool in[6];

	while (!atomic_load(&r->stop)) {
		pthread_mutex_lock(&r->burst);
		for (int k = 0; k < 64; k++) {
			size_t n = ctg_dynset_contains_n(r->s, 4, probe, 6, in);

			if (n == 0)
				atomic_fetch_add(&r->empty, 1);
			else if (n == 3 && in[0] && in[1] && in[2])
				atomic_fetch_add(&r->whole_a, 1);
			else if (n == 3 && in[3] && in[4] && in[5])
				atomic_fetch_add(&r->whole_b, 1);
			else
				atomic_fetch_add(&r->torn, 1);
		}
		pthread_mutex_unlock(&r->burst);
		atomic_fetch_add(&r->bursts, 1);
	}
	return NULL;
}

static char *
make_list(uint32_t base)
{
	struct ctg_strbuf sb;

	ck_assert_int_eq(ctg_strbuf_init(&sb, 1 << 20, 8 << 20), 0);
	/* descending, so that a table filled in file order would be torn longest */
	for (uint32_t i = NLOAD; i-- > 0;) {
		uint32_t v = base + 2 * i;

		ctg_strbuf_printf(&sb, "%u.%u.%u.%u\n", v >> 24, (v >> 16) & 255,
		    (v >> 8) & 255, v & 255);
	}
	ck_assert(!sb.full);
	return ctg_strbuf_take(&sb);
}

START_TEST(test_load_atomic_under_readers)
{
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs = load_text(RULES, &d);
	struct race r;
	struct ctg_dynsets *reg = ctg_dynsets_new(race_sync, &r);
	char *la = make_list(0x0a000000), *lb = make_list(0x0a800000), err[256];
	pthread_t th;
	size_t n;
	int loads = 0;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.burst, NULL);
	ck_assert_int_eq(ctg_dynsets_bind(reg, rs, true, err, sizeof(err)), 0);
	r.s = ctg_dynsets_find(reg, "banned");
	ck_assert_int_eq(pthread_create(&th, NULL, reader, &r), 0);
	for (int i = 0; i < 12; i++) {
		const char *t = i % 2 ? lb : la;

		ck_assert_int_eq(ctg_dynset_load_text(reg, r.s, t, strlen(t), 0, NULL, &n,
		    err, sizeof(err)), 0);
		ck_assert_uint_eq(n, NLOAD);
		loads++;
		/* let the reader see this version for a while */
		for (unsigned long b0 = atomic_load(&r.bursts);
		    atomic_load(&r.bursts) < b0 + 20;)
			usleep(100);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	ck_assert_int_eq(loads, 12);
	ck_assert_uint_eq(atomic_load(&r.torn), 0);
	ck_assert_uint_gt(atomic_load(&r.whole_a), 0);
	ck_assert_uint_gt(atomic_load(&r.whole_b), 0);
	/* the rule sees the last version whole too */
	ck_assert_int_eq(judge(rs, "10.128.0.0", NULL), CTG_ACT_DROP);
	ck_assert_int_eq(judge(rs, "10.131.13.62", NULL), CTG_ACT_DROP);
	ck_assert_int_eq(judge(rs, "10.131.13.63", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(judge(rs, "10.131.13.64", NULL), CTG_ACT_ACCEPT);
	ck_assert_int_eq(judge(rs, "10.0.0.0", NULL), CTG_ACT_ACCEPT);
	free(la);
	free(lb);
	ctg_ruleset_free(rs);
	ctg_dynsets_free(reg);
	pthread_mutex_destroy(&r.burst);
}
END_TEST

static Suite *
dynset_suite(void)
{
	Suite *s = suite_create("dynset");
	TCase *tc = tcase_create("dynset");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_language);
	tcase_add_test(tc, test_add_del_flush);
	tcase_add_test(tc, test_expiry_and_state);
	tcase_add_test(tc, test_load_all_or_nothing);
	tcase_add_test(tc, test_load_atomic_under_readers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	sr = srunner_create(dynset_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return failed ? 1 : 0;
}
