/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine tests: golden files (tests/golden/rules/good, tests/golden/rules/bad),
 * the shipped rulesets, and every matcher against hand-built packets.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ctguard/dynset.h"
#include "ctguard/pipeline.h"
#include "ctguard/rules.h"

static char tmpdir[] = "/tmp/check_rules.XXXXXX";

/* --- helpers --- */

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Load rule text written to a temporary file; NULL on error (diag set). */
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
	return ctg_ruleset_load(&p, 1, d);
}

static struct ctg_ruleset *
must_load(const char *text)
{
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs = load_text(text, &d);

	ck_assert_msg(rs != NULL, "load failed: %s", d.error);
	return rs;
}

static struct ctg_packet
pkt4(const char *src, const char *dst, uint8_t proto, uint16_t sport,
    uint16_t dport)
{
	struct ctg_packet p;

	memset(&p, 0, sizeof(p));
	p.tuple.family = 4;
	p.tuple.proto = proto;
	ck_assert_int_eq(inet_pton(AF_INET, src, p.tuple.src.b), 1);
	ck_assert_int_eq(inet_pton(AF_INET, dst, p.tuple.dst.b), 1);
	p.tuple.sport = sport;
	p.tuple.dport = dport;
	return p;
}

static struct ctg_packet
pkt6(const char *src, const char *dst, uint8_t proto, uint16_t sport,
    uint16_t dport)
{
	struct ctg_packet p;

	memset(&p, 0, sizeof(p));
	p.tuple.family = 6;
	p.tuple.proto = proto;
	ck_assert_int_eq(inet_pton(AF_INET6, src, p.tuple.src.b), 1);
	ck_assert_int_eq(inet_pton(AF_INET6, dst, p.tuple.dst.b), 1);
	p.tuple.sport = sport;
	p.tuple.dport = dport;
	return p;
}

/* Name of the rule that decides p (NEW, no reason, no interfaces). */
static const char *
verdict_full(struct ctg_ruleset *rs, const struct ctg_packet *p,
    enum ctg_ctstate st, enum ctg_reason reason, const char *iif,
    const char *oif, uint64_t now, struct ctg_rule_result *res)
{
	struct ctg_rule_input in = {
		.pkt = p, .ctstate = st, .reason = reason, .iif = iif,
		.oif = oif, .now_us = now,
	};

	ctg_ruleset_eval(rs, &in, res);
	return res->rule_name;
}

static const char *
verdict(struct ctg_ruleset *rs, const struct ctg_packet *p)
{
	struct ctg_rule_result res;

	return verdict_full(rs, p, CTG_CT_NEW, CTG_R_NONE, "", "", 1, &res);
}

/* --- golden files --- */

static const char *
srcdir(void)
{
	const char *s = getenv("srcdir");

	return s != NULL && *s != '\0' ? s : ".";
}

static int
rules_filter(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return n > 6 && strcmp(de->d_name + n - 6, ".rules") == 0;
}

/* Returns the number of cases run; fails on the first mismatch. */
static int
run_golden(const char *dir, bool good)
{
	struct dirent **names;
	char cwd[4096];
	int n;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(srcdir()), 0);
	n = scandir(dir, &names, rules_filter, alphasort);
	ck_assert_msg(n > 0, "no *.rules in %s/%s", srcdir(), dir);
	for (int i = 0; i < n; i++) {
		char path[512], expect_path[512], *got = NULL, *expect;
		size_t len = 0;
		const char *p = path;
		struct ctg_rules_diag d;
		struct ctg_ruleset *rs;
		FILE *mf;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		snprintf(expect_path, sizeof(expect_path), "%.*s.%s",
		    (int)(strlen(path) - 6), path, good ? "out" : "err");
		expect = read_all(expect_path);
		ck_assert_msg(expect != NULL, "missing %s", expect_path);
		rs = ctg_ruleset_load(&p, 1, &d);
		mf = open_memstream(&got, &len);
		if (good) {
			ck_assert_msg(rs != NULL, "%s: %s", path, d.error);
			ctg_ruleset_print(rs, mf);
			for (unsigned w = 0; w < d.nwarnings && w < 8; w++)
				fprintf(mf, "%s\n", d.warnings[w]);
		} else {
			ck_assert_msg(rs == NULL, "%s loaded but must fail", path);
			fprintf(mf, "%s\n", d.error);
		}
		fclose(mf);
		ck_assert_msg(strcmp(got, expect) == 0,
		    "%s:\n--- expected\n%s--- got\n%s", path, expect, got);
		ctg_ruleset_free(rs);
		free(got);
		free(expect);
		free(names[i]);
	}
	free(names);
	ck_assert_int_eq(chdir(cwd), 0);
	return n;
}

START_TEST(test_golden_good)
{
	ck_assert_int_ge(run_golden("tests/golden/rules/good", true), 10);
}
END_TEST

START_TEST(test_golden_bad)
{
	ck_assert_int_ge(run_golden("tests/golden/rules/bad", false), 20);
}
END_TEST

START_TEST(test_shipped)
{
	static const char *const files[] = {
		"rules/default.rules", "rules/stateful-only.rules",
		"rules/host.rules", "rules/example.rules",
	};
	char path[512];

	for (unsigned i = 0; i < 4; i++) {
		const char *p = path;
		struct ctg_rules_diag d;
		struct ctg_ruleset *rs;

		snprintf(path, sizeof(path), "%s/%s", srcdir(), files[i]);
		rs = ctg_ruleset_load(&p, 1, &d);
		ck_assert_msg(rs != NULL, "%s: %s", path, d.error);
		ck_assert_msg(d.nwarnings == 0, "%s: %s", path, d.warnings[0]);
		ck_assert_uint_gt(ctg_ruleset_count(rs), 0);
		ctg_ruleset_free(rs);
	}
}
END_TEST

/* The shipped gateway ruleset does what its comments say. */
START_TEST(test_default_rules_behaviour)
{
	char path[512];
	const char *p = path;
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs;
	struct ctg_rule_result res;
	struct ctg_packet in_tcp = pkt4("192.168.1.5", "8.8.8.8", IPPROTO_TCP, 40000, 443);
	struct ctg_packet out_ssh = pkt4("8.8.8.8", "192.168.1.5", IPPROTO_TCP, 40000, 22);
	struct ctg_packet out_web = pkt4("8.8.8.8", "192.168.1.5", IPPROTO_TCP, 40000, 80);

	snprintf(path, sizeof(path), "%s/rules/default.rules", srcdir());
	rs = ctg_ruleset_load(&p, 1, &d);
	ck_assert_msg(rs != NULL, "%s", d.error);
	ck_assert_str_eq(verdict(rs, &in_tcp), "inside-out");
	ck_assert_str_eq(verdict(rs, &out_ssh), "services");
	verdict_full(rs, &out_web, CTG_CT_NEW, CTG_R_NONE, "", "", 1, &res);
	ck_assert_str_eq(res.rule_name, "reject-inbound");
	ck_assert_int_eq(res.action, CTG_ACT_REJECT);
	verdict_full(rs, &out_web, CTG_CT_ESTABLISHED, CTG_R_NONE, "", "", 1, &res);
	ck_assert_str_eq(res.rule_name, "established");
	verdict_full(rs, &out_web, CTG_CT_INVALID, CTG_R_TCP_SEQ_ABOVE_WINDOW, "", "", 1, &res);
	ck_assert_int_eq(res.action, CTG_ACT_DROP);
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_load_errors_misc)
{
	struct ctg_rules_diag d;
	const char *missing = "/nonexistent/x.rules";

	ck_assert_ptr_null(ctg_ruleset_load(&missing, 1, &d));
	ck_assert_str_eq(d.error, "/nonexistent/x.rules: No such file or directory");
	ck_assert_ptr_null(ctg_ruleset_load(NULL, 0, &d));
	ck_assert_str_eq(d.error, "no rule files given");
}
END_TEST

/* Two top-level files share sets and the default_policy rule. */
START_TEST(test_multiple_files)
{
	char a[128], b[128];
	const char *paths[2] = { a, b };
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs;
	FILE *f;

	snprintf(a, sizeof(a), "%s/a.rules", tmpdir);
	snprintf(b, sizeof(b), "%s/b.rules", tmpdir);
	f = fopen(a, "w");
	fputs("default_policy = \"accept\";\nsets = { s = { type = \"port\"; members = [ 22 ]; }; };\n", f);
	fclose(f);
	f = fopen(b, "w");
	fputs("rules = ( { name = \"r\"; action = \"drop\"; proto = \"tcp\"; dst_port = \"@s\"; } );\n", f);
	fclose(f);
	rs = ctg_ruleset_load(paths, 2, &d);
	ck_assert_msg(rs != NULL, "%s", d.error);
	ck_assert_uint_eq(ctg_ruleset_count(rs), 1);
	ctg_ruleset_free(rs);
	f = fopen(b, "w");
	fputs("default_policy = \"drop\";\n", f);
	fclose(f);
	ck_assert_ptr_null(ctg_ruleset_load(paths, 2, &d));
	ck_assert_ptr_nonnull(strstr(d.error, "b.rules:1: default_policy already set at"));
}
END_TEST

/* --- matchers --- */

START_TEST(test_cidr_edges_v4)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"host\"; action = \"accept\"; src = \"10.0.0.1/32\"; },\n"
	    " { name = \"net\"; action = \"accept\"; src = \"10.0.0.0/31\"; },\n"
	    " { name = \"top\"; action = \"accept\"; src = \"255.255.255.255\"; },\n"
	    " { name = \"all4\"; action = \"drop\"; src = \"0.0.0.0/0\"; }\n"
	    ");\n");
	struct ctg_packet p;

	p = pkt4("10.0.0.1", "1.1.1.1", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "host");
	p = pkt4("10.0.0.0", "1.1.1.1", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "net");
	p = pkt4("10.0.0.2", "1.1.1.1", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "all4");
	p = pkt4("255.255.255.255", "1.1.1.1", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "top");
	p = pkt4("0.0.0.0", "1.1.1.1", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "all4");
	/* A v4 /0 never matches IPv6, even ::ffff:0:0/96 or :: itself. */
	p = pkt6("::", "::1", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "default");
	p = pkt6("::ffff:10.0.0.1", "::1", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "default");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_cidr_edges_v6)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"host\"; action = \"accept\"; dst = \"2001:db8::1/128\"; },\n"
	    " { name = \"top\"; action = \"accept\"; dst = \"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\"; },\n"
	    " { name = \"half\"; action = \"accept\"; dst = \"2001:db8::/65\"; },\n"
	    " { name = \"all6\"; action = \"drop\"; dst = \"::/0\"; }\n"
	    ");\n");
	struct ctg_packet p;

	p = pkt6("::1", "2001:db8::1", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "host");
	p = pkt6("::1", "2001:db8::2", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "half");
	p = pkt6("::1", "2001:db8::7fff:ffff:ffff:ffff", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "half");
	p = pkt6("::1", "2001:db8::8000:0:0:0", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "all6");
	p = pkt6("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "top");
	p = pkt4("1.1.1.1", "0.0.0.0", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "default");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_sets_and_negation)
{
	struct ctg_ruleset *rs = must_load(
	    "sets = { inside = { type = \"address\"; members = [ \"10.0.0.0/8\", \"fc00::/7\" ]; };\n"
	    "         web = { type = \"port\"; members = ( 80, \"8000-8080\" ); }; };\n"
	    "rules = (\n"
	    " { name = \"web\"; action = \"accept\"; proto = \"tcp\"; dst_port = \"@web\";\n"
	    "   src = [ \"@inside\", \"!10.66.0.0/16\" ]; },\n"
	    " { name = \"outside\"; action = \"drop\"; src = \"!@inside\"; }\n"
	    ");\n");
	struct ctg_packet p;

	ck_assert_uint_eq(ctg_ruleset_set_count(rs), 2);
	ck_assert_str_eq(ctg_ruleset_set_name(rs, 0), "inside");
	p = pkt4("10.1.1.1", "1.1.1.1", IPPROTO_TCP, 1000, 8080);
	ck_assert_str_eq(verdict(rs, &p), "web");
	ck_assert_uint_eq(ctg_ruleset_set_hits(rs, 0), 1);
	ck_assert_uint_eq(ctg_ruleset_set_hits(rs, 1), 1);
	p = pkt6("fd00::1", "::1", IPPROTO_TCP, 1000, 80);
	ck_assert_str_eq(verdict(rs, &p), "web");
	p = pkt4("10.66.1.1", "1.1.1.1", IPPROTO_TCP, 1000, 80);
	ck_assert_str_eq(verdict(rs, &p), "default");
	p = pkt4("10.1.1.1", "1.1.1.1", IPPROTO_TCP, 1000, 8081);
	ck_assert_str_eq(verdict(rs, &p), "default");
	p = pkt4("11.1.1.1", "1.1.1.1", IPPROTO_TCP, 1000, 80);
	ck_assert_str_eq(verdict(rs, &p), "outside");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_port_edges)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"zero\"; action = \"accept\"; proto = \"udp\"; dst_port = 0; },\n"
	    " { name = \"max\"; action = \"accept\"; dst_port = 65535; },\n"
	    " { name = \"range\"; action = \"accept\"; src_port = \"1024-2048\"; }\n"
	    ");\n");
	struct ctg_packet p;

	p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_UDP, 5, 0);
	ck_assert_str_eq(verdict(rs, &p), "zero");
	p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 5, 65535);
	ck_assert_str_eq(verdict(rs, &p), "max");
	p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1023, 1);
	ck_assert_str_eq(verdict(rs, &p), "default");
	p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1024, 1);
	ck_assert_str_eq(verdict(rs, &p), "range");
	p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_UDP, 2048, 1);
	ck_assert_str_eq(verdict(rs, &p), "range");
	p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_UDP, 2049, 1);
	ck_assert_str_eq(verdict(rs, &p), "default");
	/* Ports only exist for TCP and UDP. */
	p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_ICMP, 1500, 0);
	ck_assert_str_eq(verdict(rs, &p), "default");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_interfaces)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"veth\"; action = \"accept\"; iif = \"veth*\"; },\n"
	    " { name = \"eth\"; action = \"accept\"; iif = \"eth?\"; oif = [ \"wan0\", \"ppp*\" ]; },\n"
	    " { name = \"lo\"; action = \"accept\"; iif = \"lo\"; }\n"
	    ");\n");
	struct ctg_packet p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_UDP, 1, 2);
	struct ctg_rule_result res;
	struct ctg_rule_input in = { .pkt = &p, .ctstate = CTG_CT_NEW };

	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "veth", "", 1, &res), "veth");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "veth0a", "", 1, &res), "veth");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "xveth0", "", 1, &res), "default");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "eth1", "wan0", 1, &res), "eth");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "eth1", "ppp0", 1, &res), "eth");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "eth1", "wan1", 1, &res), "default");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "eth10", "wan0", 1, &res), "default");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "eth", "wan0", 1, &res), "default");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "lo", "", 1, &res), "lo");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, 0, "lo0", "", 1, &res), "default");
	/* NULL interface names are treated as unknown (""). */
	ctg_ruleset_eval(rs, &in, &res);
	ck_assert_str_eq(res.rule_name, "default");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_first_match_and_default)
{
	struct ctg_ruleset *rs = must_load(
	    "default_policy = \"reject\";\n"
	    "rules = (\n"
	    " { name = \"a\"; action = \"drop\"; proto = \"tcp\"; dst_port = 22; },\n"
	    " { name = \"b\"; action = \"accept\"; proto = \"tcp\"; log = \"flow\";\n"
	    "   timeouts = { tcp_established = 100; }; }\n"
	    ");\n");
	struct ctg_packet p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1, 22);
	struct ctg_rule_result res;

	verdict_full(rs, &p, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.rule_index, 0);
	ck_assert_int_eq(res.action, CTG_ACT_DROP);
	ck_assert_int_eq(res.reason, CTG_R_NONE);
	ck_assert_int_eq(res.log, CTG_RULELOG_INHERIT);
	ck_assert_ptr_null(res.timeouts);
	p.tuple.dport = 23;
	verdict_full(rs, &p, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.rule_index, 1);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	ck_assert_int_eq(res.log, CTG_RULELOG_FLOW);
	ck_assert_ptr_nonnull(res.timeouts);
	ck_assert_uint_eq(res.timeouts->tcp_established, 100);
	ck_assert_uint_eq(res.timeouts->tcp_syn_sent, 0);
	p.tuple.proto = IPPROTO_UDP;
	verdict_full(rs, &p, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.rule_index, -1);
	ck_assert_str_eq(res.rule_name, "default");
	ck_assert_int_eq(res.action, CTG_ACT_REJECT);
	ck_assert_int_eq(res.reason, CTG_R_DEFAULT_POLICY);
	/* No packet at all: only packet-independent rules can match. */
	verdict_full(rs, NULL, CTG_CT_INVALID, CTG_R_IP_TRUNCATED, "", "", 1, &res);
	ck_assert_int_eq(res.rule_index, -1);
	ck_assert_uint_eq(ctg_ruleset_hits(rs, 0), 1);
	ck_assert_uint_eq(ctg_ruleset_hits(rs, 1), 1);
	ck_assert_uint_eq(ctg_ruleset_hits(rs, -1), 2);
	ck_assert_uint_eq(ctg_ruleset_hits(rs, 7), 0);
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_state_and_reason)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"retrans\"; action = \"accept\"; state = \"invalid\"; reason = [ \"tcp_retransmit\", \"tcp_paws\" ]; },\n"
	    " { name = \"invalid\"; action = \"drop\"; state = [ \"invalid\" ]; },\n"
	    " { name = \"est\"; action = \"accept\"; state = [ \"established\", \"related\" ]; }\n"
	    ");\n");
	struct ctg_packet p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1, 2);
	struct ctg_rule_result res;

	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_INVALID, CTG_R_TCP_PAWS, "", "", 1, &res), "retrans");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_INVALID, CTG_R_TCP_RETRANSMIT, "", "", 1, &res), "retrans");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_INVALID, CTG_R_TCP_CLOSED, "", "", 1, &res), "invalid");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_RELATED, CTG_R_NONE, "", "", 1, &res), "est");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_ESTABLISHED, CTG_R_TCP_RETRANSMIT, "", "", 1, &res), "est");
	ck_assert_str_eq(verdict_full(rs, &p, CTG_CT_NEW, CTG_R_NONE, "", "", 1, &res), "default");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_tcp_flags)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"syn\"; action = \"accept\"; tcp_flags = \"S/SA\"; },\n"
	    " { name = \"fin-exact\"; action = \"drop\"; tcp_flags = \"FA\"; }\n"
	    ");\n");
	struct ctg_packet p = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1, 2);

	p.tcp.flags = CTG_TH_SYN;
	ck_assert_str_eq(verdict(rs, &p), "syn");
	p.tcp.flags = CTG_TH_SYN | CTG_TH_ECE | CTG_TH_CWR;
	ck_assert_str_eq(verdict(rs, &p), "syn");
	p.tcp.flags = CTG_TH_SYN | CTG_TH_ACK;
	ck_assert_str_eq(verdict(rs, &p), "default");
	p.tcp.flags = CTG_TH_FIN | CTG_TH_ACK;
	ck_assert_str_eq(verdict(rs, &p), "fin-exact");
	p.tcp.flags = CTG_TH_FIN | CTG_TH_ACK | CTG_TH_PSH;
	ck_assert_str_eq(verdict(rs, &p), "default");
	/* Same bits in a UDP packet's union mean nothing. */
	p.tuple.proto = IPPROTO_UDP;
	p.tcp.flags = CTG_TH_SYN;
	ck_assert_str_eq(verdict(rs, &p), "default");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_icmp_types_per_family)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"ping\"; action = \"accept\"; proto = ( \"icmp\", \"icmpv6\" ); icmp_type = \"echo-request\"; },\n"
	    " { name = \"ptb\"; action = \"accept\"; icmp_type = \"packet-too-big\"; },\n"
	    " { name = \"code\"; action = \"accept\"; proto = \"icmp\"; icmp_type = 5; icmp_code = [ 1 ]; }\n"
	    ");\n");
	struct ctg_packet p4 = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_ICMP, 7, 0);
	struct ctg_packet p6 = pkt6("::1", "::2", IPPROTO_ICMPV6, 7, 0);

	p4.icmp.type = 8;
	ck_assert_str_eq(verdict(rs, &p4), "ping");
	p4.icmp.type = 128;
	ck_assert_str_eq(verdict(rs, &p4), "default");
	p6.icmp.type = 128;
	ck_assert_str_eq(verdict(rs, &p6), "ping");
	p6.icmp.type = 8;
	ck_assert_str_eq(verdict(rs, &p6), "default");
	p6.icmp.type = 2;
	ck_assert_str_eq(verdict(rs, &p6), "ptb");
	p4.icmp.type = 3;
	p4.icmp.code = 4;
	ck_assert_str_eq(verdict(rs, &p4), "ptb");
	p4.icmp.code = 3;
	ck_assert_str_eq(verdict(rs, &p4), "default");
	p4.icmp.type = 5;
	p4.icmp.code = 1;
	ck_assert_str_eq(verdict(rs, &p4), "code");
	p4.icmp.code = 0;
	ck_assert_str_eq(verdict(rs, &p4), "default");
	/* ICMP over IPv6 (proto 1 in a v6 packet) is not ICMPv6. */
	p6.tuple.proto = IPPROTO_ICMP;
	p6.icmp.type = 128;
	ck_assert_str_eq(verdict(rs, &p6), "default");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_proto_family)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = (\n"
	    " { name = \"gre\"; action = \"accept\"; proto = 47; },\n"
	    " { name = \"v6\"; action = \"accept\"; family = \"ipv6\"; },\n"
	    " { name = \"udp4\"; action = \"accept\"; family = 4; proto = \"udp\"; }\n"
	    ");\n");
	struct ctg_packet p = pkt4("1.1.1.1", "2.2.2.2", 47, 0, 0);

	ck_assert_str_eq(verdict(rs, &p), "gre");
	p.tuple.proto = IPPROTO_UDP;
	ck_assert_str_eq(verdict(rs, &p), "udp4");
	p.tuple.proto = IPPROTO_TCP;
	ck_assert_str_eq(verdict(rs, &p), "default");
	p = pkt6("::1", "::2", IPPROTO_UDP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "v6");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_rate_limit)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = ( { name = \"ping\"; action = \"accept\"; proto = \"icmp\";\n"
	    "  rate_limit = { rate = 2; burst = 3; action = \"reject\"; }; } );\n");
	struct ctg_packet a = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_ICMP, 0, 0);
	struct ctg_packet b = pkt4("1.1.1.2", "2.2.2.2", IPPROTO_ICMP, 0, 0);
	struct ctg_rule_result res;
	uint64_t t = 1000000;

	/* Burst of 3, then limited. */
	for (int i = 0; i < 3; i++) {
		verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t, &res);
		ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
		ck_assert_int_eq(res.reason, CTG_R_NONE);
	}
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t, &res);
	ck_assert_int_eq(res.action, CTG_ACT_REJECT);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	ck_assert_int_eq(res.rule_index, 0);
	/* Another source has its own bucket. */
	verdict_full(rs, &b, CTG_CT_NEW, 0, "", "", t, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	/* 2 per second: after 0.4 s still nothing, after 0.5 s one token. */
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t + 400000, &res);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t + 500000, &res);
	ck_assert_int_eq(res.reason, CTG_R_NONE);
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t + 500000, &res);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	/* A long pause refills to the burst, not beyond. */
	t += 100000000;
	for (int i = 0; i < 3; i++) {
		verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t, &res);
		ck_assert_int_eq(res.reason, CTG_R_NONE);
	}
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t, &res);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	ck_assert_uint_eq(ctg_ruleset_hits(rs, 0), 12);
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_recheck_has_no_side_effects)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = ( { name = \"lan\"; action = \"accept\"; iif = \"veth*\";\n"
	    "  rate_limit = { rate = 1; burst = 1; }; } );\n"
	    "default_policy = \"drop\";\n");
	struct ctg_packet a = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1000, 80);
	struct ctg_rule_input in = {
		.pkt = &a, .ctstate = CTG_CT_NEW, .iif = NULL, .oif = NULL,
		.now_us = 1000000, .recheck = true,
	};
	struct ctg_rule_result res;

	/* a recheck knows no interface: the iif match cannot cut the connection */
	for (int i = 0; i < 5; i++) {
		ctg_ruleset_eval(rs, &in, &res);
		ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
		ck_assert_int_eq(res.reason, CTG_R_NONE);
	}
	/* and it took neither hits nor rate tokens: the one token is still there */
	ck_assert_uint_eq(ctg_ruleset_hits(rs, 0), 0);
	verdict_full(rs, &a, CTG_CT_NEW, 0, "veth0", "", 1000000, &res);
	ck_assert_int_eq(res.reason, CTG_R_NONE);
	verdict_full(rs, &a, CTG_CT_NEW, 0, "veth0", "", 1000000, &res);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	/* a live packet on another interface does not match */
	ck_assert_str_eq(verdict_full(rs, &a, CTG_CT_NEW, 0, "eth0", "", 1000000, &res), "default");
	ctg_ruleset_free(rs);
}
END_TEST

/*
 * Many TCP rules put the bucket behind the destination-port index: the
 * first match must stay the one a plain walk in rule order finds. The
 * oracle re-checks the few fields the random rules use.
 */
struct rnd_rule {
	int lo, hi;             /* -1: any port */
	int net;                /* dst 10.net.0.0/16, -1: any */
	int state;              /* 0 new only, 1 any */
};

START_TEST(test_port_index_first_match)
{
	enum { NR = 300, NPKT = 4000 };
	static struct rnd_rule rr[NR];
	size_t cap = NR * 200 + 64, len = 0;
	char *text = malloc(cap);
	unsigned seed = 12345;

	len += (size_t)snprintf(text, cap, "default_policy = \"drop\";\nrules = (\n");
	for (int i = 0; i < NR; i++) {
		seed = seed * 1103515245 + 12345;
		int kind = (int)(seed >> 16) % 10;
		seed = seed * 1103515245 + 12345;
		int base = (int)(seed >> 16) % 2000;
		seed = seed * 1103515245 + 12345;
		int width = kind < 6 ? 0 : (int)(seed >> 16) % 300;
		rr[i].lo = kind == 9 ? -1 : base;
		rr[i].hi = kind == 9 ? -1 : base + width;
		rr[i].net = (int)(seed >> 8) % 3 == 0 ? -1 : (int)(seed >> 12) % 4;
		rr[i].state = (int)(seed >> 20) % 2;
		len += (size_t)snprintf(text + len, cap - len,
		    "{ name = \"r%d\"; action = \"accept\"; proto = \"tcp\";", i);
		if (rr[i].lo >= 0)
			len += (size_t)snprintf(text + len, cap - len,
			    " dst_port = ( \"%d-%d\" );", rr[i].lo, rr[i].hi);
		if (rr[i].net >= 0)
			len += (size_t)snprintf(text + len, cap - len,
			    " dst = [ \"10.%d.0.0/16\" ];", rr[i].net);
		if (rr[i].state == 0)
			len += (size_t)snprintf(text + len, cap - len, " state = [ \"new\" ];");
		len += (size_t)snprintf(text + len, cap - len, " }%s\n", i + 1 < NR ? "," : "");
	}
	snprintf(text + len, cap - len, ");\n");
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs = load_text(text, &d);
	ck_assert_msg(rs != NULL, "load failed: %s", d.error);
	free(text);

	for (int n = 0; n < NPKT; n++) {
		char dst[32], want[16];
		struct ctg_rule_result res;
		seed = seed * 1103515245 + 12345;
		int port = (int)(seed >> 16) % 2400;
		int net = (int)(seed >> 4) % 5;
		enum ctg_ctstate st = (seed >> 28) & 1 ? CTG_CT_NEW : CTG_CT_ESTABLISHED;
		int expect = -1;

		snprintf(dst, sizeof(dst), "10.%d.1.1", net);
		struct ctg_packet p = pkt4("192.0.2.1", dst, IPPROTO_TCP, 40000, (uint16_t)port);
		for (int i = 0; i < NR && expect < 0; i++) {
			if (rr[i].lo >= 0 && (port < rr[i].lo || port > rr[i].hi))
				continue;
			if (rr[i].net >= 0 && rr[i].net != net)
				continue;
			if (rr[i].state == 0 && st != CTG_CT_NEW)
				continue;
			expect = i;
		}
		verdict_full(rs, &p, st, CTG_R_NONE, "", "", 1, &res);
		if (expect < 0)
			snprintf(want, sizeof(want), "default");
		else
			snprintf(want, sizeof(want), "r%d", expect);
		ck_assert_msg(strcmp(res.rule_name, want) == 0,
		    "port %d net %d state %d: got %s, want %s", port, net, st,
		    res.rule_name, want);
	}
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_conn_limit)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = ( { name = \"ssh\"; action = \"accept\"; proto = \"tcp\"; dst_port = 22;\n"
	    "  conn_limit = 2; } );\n");
	struct ctg_packet a = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1000, 22);
	struct ctg_packet b = pkt6("2001:db8::1", "::2", IPPROTO_TCP, 1000, 22);
	struct ctg_rule_result res;

	for (int i = 0; i < 2; i++) {
		verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", 1, &res);
		ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
		ck_assert(res.conn_counted);
	}
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.action, CTG_ACT_DROP);
	ck_assert_int_eq(res.reason, CTG_R_CONN_LIMITED);
	ck_assert(!res.conn_counted);
	/* Packets of existing connections are not counted. */
	verdict_full(rs, &a, CTG_CT_ESTABLISHED, 0, "", "", 1, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	ck_assert(!res.conn_counted);
	/* Other source, other family: own count. */
	verdict_full(rs, &b, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	/* One ends: one new one fits again. */
	ctg_ruleset_conn_release(rs, 0, &a.tuple);
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.reason, CTG_R_CONN_LIMITED);
	/* Bogus releases are ignored and never underflow. */
	ctg_ruleset_conn_release(rs, 5, &a.tuple);
	ctg_ruleset_conn_release(rs, -1, &a.tuple);
	for (int i = 0; i < 5; i++)
		ctg_ruleset_conn_release(rs, 0, &b.tuple);
	verdict_full(rs, &b, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert(res.conn_counted);
	verdict_full(rs, &b, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert(res.conn_counted);
	verdict_full(rs, &b, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.reason, CTG_R_CONN_LIMITED);
	ctg_ruleset_free(rs);
}
END_TEST

/* --- limits that hold (issue 14 item 3) --- */

static uint16_t
csum(const uint8_t *b, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4 ICMP echo request (type 8) or reply (type 0), checksums right. */
static void
icmp_echo4(uint8_t b[28], const char *src, const char *dst, uint8_t type,
    uint16_t id, uint16_t seq)
{
	uint16_t c;

	memset(b, 0, 28);
	b[0] = 0x45;
	b[3] = 28;
	b[8] = 64;
	b[9] = IPPROTO_ICMP;
	ck_assert_int_eq(inet_pton(AF_INET, src, b + 12), 1);
	ck_assert_int_eq(inet_pton(AF_INET, dst, b + 16), 1);
	c = csum(b, 20);
	b[10] = (uint8_t)(c >> 8);
	b[11] = (uint8_t)c;
	b[20] = type;
	b[24] = (uint8_t)(id >> 8);
	b[25] = (uint8_t)id;
	b[26] = (uint8_t)(seq >> 8);
	b[27] = (uint8_t)seq;
	c = csum(b + 20, 8);
	b[22] = (uint8_t)(c >> 8);
	b[23] = (uint8_t)c;
}

/*
 * The shipped gateway ruleset's ping rule (5/s, burst 10) against 100
 * echo requests of one flow (one ICMP id) in one second, each passed one
 * answered: the rule's first match created the connection, the others
 * are decided from its cached verdict and must still be metered. Before,
 * all 100 passed. Replies are not metered.
 */
START_TEST(test_rate_limit_every_packet_of_the_flow)
{
	char path[512], err[256];
	const char *p = path;
	struct ctg_rules_diag diag;
	struct ctg_ruleset *rs;
	struct ctg_pipeline pl;
	struct ctg_config cfg;
	struct ctg_decision d;
	struct ctg_pkt_in in;
	uint8_t req[28], rep[28];
	uint64_t t0 = 5000000000ULL;
	unsigned passed = 0, limited = 0;

	snprintf(path, sizeof(path), "%s/rules/default.rules", srcdir());
	ck_assert_msg((rs = ctg_ruleset_load(&p, 1, &diag)) != NULL, "%s",
	    diag.error);
	ctg_config_defaults(&cfg);
	cfg.max_connections = 64;
	ck_assert_int_eq(ctg_pipeline_init(&pl, &cfg, rs, NULL, 0, 0, err,
	    sizeof(err)), 0);
	memset(&in, 0, sizeof(in));
	in.iif = in.oif = "";
	for (unsigned i = 0; i < 100; i++) {
		icmp_echo4(req, "203.0.113.7", "198.51.100.1", 8, 0x4242,
		    (uint16_t)i);
		in.buf = req;
		in.caplen = in.wire_len = sizeof(req);
		in.now_us = t0 + (uint64_t)i * 10000;   /* 100 in 0.99 s */
		in.packet_no++;
		ctg_pipeline_process(&pl, &in, &d);
		ck_assert_str_eq(d.rule, "ping");
		if (d.action != CTG_ACT_ACCEPT) {
			ck_assert_int_eq(d.action, CTG_ACT_DROP);
			ck_assert_int_eq(d.reason, CTG_R_RATE_LIMITED);
			limited++;
			continue;
		}
		passed++;
		icmp_echo4(rep, "198.51.100.1", "203.0.113.7", 0, 0x4242,
		    (uint16_t)i);
		in.buf = rep;
		in.packet_no++;
		ctg_pipeline_process(&pl, &in, &d);
		ck_assert_int_eq(d.action, CTG_ACT_ACCEPT);
	}
	/* burst 10, then 5/s for 0.99 s: 14 */
	ck_assert_msg(passed >= 10 && passed <= 15, "%u of 100 passed", passed);
	ck_assert_uint_eq(passed + limited, 100);
	ck_assert_uint_eq(pl.st.reasons[CTG_R_RATE_LIMITED], limited);
	ck_assert_uint_ge(pl.st.cached, 99);
	/* a quiet second later the flow gets its burst back */
	icmp_echo4(req, "203.0.113.7", "198.51.100.1", 8, 0x4242, 1000);
	in.buf = req;
	in.now_us = t0 + 3000000;
	ctg_pipeline_process(&pl, &in, &d);
	ck_assert_int_eq(d.action, CTG_ACT_ACCEPT);
	ctg_pipeline_fini(&pl);
	ctg_ruleset_free(rs);
}
END_TEST

/*
 * A dynamic set changed under live connections: the same ruleset rechecks
 * them (ctguard set add --cut). Kept connections keep their one conn_limit
 * slot, cut ones give it back.
 */
START_TEST(test_recheck_same_ruleset)
{
	struct ctg_ruleset *rs = must_load(
	    "sets = { banned = { type = \"address\"; dynamic = true; }; };\n"
	    "rules = ( { name = \"ban\"; action = \"drop\"; src = [ \"@banned\" ]; },\n"
	    " { name = \"ping\"; action = \"accept\"; proto = \"icmp\"; conn_limit = 2; } );\n");
	struct ctg_dynsets *reg = ctg_dynsets_new(NULL, NULL);
	struct ctg_pipeline pl;
	struct ctg_config cfg;
	struct ctg_decision d;
	struct ctg_pkt_in in;
	struct ctg_prefix pfx;
	uint8_t req[28];
	char err[256];
	uint64_t t = 5000000000ULL;

	ck_assert_int_eq(ctg_dynsets_bind(reg, rs, true, err, sizeof(err)), 0);
	ctg_config_defaults(&cfg);
	cfg.max_connections = 64;
	ck_assert_int_eq(ctg_pipeline_init(&pl, &cfg, rs, NULL, 0, 0, err, sizeof(err)), 0);
	memset(&in, 0, sizeof(in));
	in.iif = in.oif = "";
	in.buf = req;
	in.caplen = in.wire_len = sizeof(req);
#define ECHO(id) (icmp_echo4(req, "203.0.113.7", "198.51.100.1", 8, (id), 1), \
	in.now_us = (t += 1000), in.packet_no++, ctg_pipeline_process(&pl, &in, &d), d.action)
	ck_assert_int_eq(ECHO(1), CTG_ACT_ACCEPT);
	/* nothing changed: nothing cut, and the slot is not counted twice */
	ck_assert_uint_eq(ctg_pipeline_set_rules(&pl, rs, true, t), 0);
	ck_assert_uint_eq(ctg_pipeline_set_rules(&pl, rs, true, t), 0);
	ck_assert_int_eq(ECHO(2), CTG_ACT_ACCEPT);
	ck_assert_int_eq(ECHO(3), CTG_ACT_DROP);
	ck_assert_int_eq(d.reason, CTG_R_CONN_LIMITED);
	/* banned: both live ones cut, their slots given back */
	ck_assert_int_eq(ctg_prefix_parse("203.0.113.7", &pfx, err, sizeof(err)), 0);
	ck_assert_int_eq(ctg_dynset_add(reg, ctg_dynsets_find(reg, "banned"), &pfx, 0, NULL,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(ctg_pipeline_set_rules(&pl, rs, true, t), 2);
	ck_assert_int_eq(ECHO(4), CTG_ACT_DROP);
	ck_assert_str_eq(d.rule, "ban");
	ck_assert_int_eq(ctg_dynset_del(reg, ctg_dynsets_find(reg, "banned"), &pfx, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(ECHO(5), CTG_ACT_ACCEPT);
	ck_assert_int_eq(ECHO(6), CTG_ACT_ACCEPT);
	ck_assert_int_eq(ECHO(7), CTG_ACT_DROP);
#undef ECHO
	ctg_pipeline_fini(&pl);
	ctg_ruleset_free(rs);
	ctg_dynsets_free(reg);
}
END_TEST

/*
 * conn_rate meters new connections (NEW packets) per source, not packets:
 * established packets take no token, and the rule leaves later packets
 * unmetered (rate_metered false), unlike rate_limit.
 */
START_TEST(test_conn_rate)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = ( { name = \"ssh\"; action = \"accept\"; proto = \"tcp\"; dst_port = 22;\n"
	    "  conn_rate = { rate = 1; burst = 2; action = \"reject\"; }; },\n"
	    " { name = \"ping\"; action = \"accept\"; proto = \"icmp\";\n"
	    "  rate_limit = { rate = 1; burst = 2; }; } );\n");
	struct ctg_packet a = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_TCP, 1000, 22);
	struct ctg_packet b = pkt4("1.1.1.2", "2.2.2.2", IPPROTO_TCP, 1000, 22);
	struct ctg_packet ping = pkt4("1.1.1.1", "2.2.2.2", IPPROTO_ICMP, 9, 0);
	struct ctg_rule_result res;
	uint64_t t = 1000000;

	for (int i = 0; i < 2; i++) {
		verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t, &res);
		ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
		ck_assert(!res.rate_metered);
	}
	for (int i = 0; i < 50; i++) {
		verdict_full(rs, &a, CTG_CT_ESTABLISHED, 0, "", "", t, &res);
		ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	}
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t, &res);
	ck_assert_int_eq(res.action, CTG_ACT_REJECT);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	verdict_full(rs, &b, CTG_CT_NEW, 0, "", "", t, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	verdict_full(rs, &a, CTG_CT_NEW, 0, "", "", t + 1000000, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	/* rate_limit: the result asks for every later packet to be metered */
	verdict_full(rs, &ping, CTG_CT_NEW, 0, "", "", t, &res);
	ck_assert(res.rate_metered);
	ck_assert(ctg_ruleset_rate_check(rs, res.rule_index, &ping.tuple, t, &res.action));
	ck_assert(!ctg_ruleset_rate_check(rs, res.rule_index, &ping.tuple, t, &res.action));
	ck_assert_int_eq(res.action, CTG_ACT_DROP);
	/* nothing to meter: unknown rule, rule without rate_limit */
	ck_assert(ctg_ruleset_rate_check(rs, 7, &ping.tuple, t, &res.action));
	ck_assert(ctg_ruleset_rate_check(rs, 0, &a.tuple, t, &res.action));
	ctg_ruleset_free(rs);
}
END_TEST

/* The i-th of 2^32 distinct IPv4 sources (an odd multiplier permutes). */
static void
spoofed4(struct ctg_packet *p, uint32_t i)
{
	uint32_t a = i * 2654435761u;

	p->tuple.src.b[0] = (uint8_t)(a >> 24);
	p->tuple.src.b[1] = (uint8_t)(a >> 16);
	p->tuple.src.b[2] = (uint8_t)(a >> 8);
	p->tuple.src.b[3] = (uint8_t)a;
}

/*
 * A source that used up its burst stays limited after a million distinct
 * spoofed sources went through the same rule (before: the table forgot it
 * and it got a fresh burst), and the flood itself is limited in
 * aggregate once the table has no forgettable entry.
 */
START_TEST(test_rate_limit_survives_source_flood)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = ( { name = \"ping\"; action = \"accept\"; proto = \"icmp\";\n"
	    "  rate_limit = { rate = 5; burst = 10; }; } );\n");
	struct ctg_packet lim = pkt4("203.0.113.7", "198.51.100.1", IPPROTO_ICMP, 7, 0);
	struct ctg_packet other = pkt4("203.0.113.8", "198.51.100.1", IPPROTO_ICMP, 7, 0);
	struct ctg_packet f = pkt4("0.0.0.0", "198.51.100.1", IPPROTO_ICMP, 7, 0);
	struct ctg_rule_result res;
	uint64_t t0 = 1000000, t;
	unsigned flood_passed = 0;
	const uint32_t nflood = 1000000;

	for (int i = 0; i < 20; i++)
		verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", t0, &res);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	/* a source that used a little and is refilled by the end */
	verdict_full(rs, &other, CTG_CT_NEW, 0, "", "", t0, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	/* 1M sources in 0.1 s: the limited source earns half a token */
	for (uint32_t i = 1; i <= nflood; i++) {
		spoofed4(&f, i);
		if (memcmp(f.tuple.src.b, lim.tuple.src.b, 4) == 0)
			continue;
		t = t0 + (uint64_t)i * 100000 / nflood;
		verdict_full(rs, &f, CTG_CT_NEW, 0, "", "", t, &res);
		flood_passed += res.action == CTG_ACT_ACCEPT;
	}
	t = t0 + 100000;
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", t, &res);
	ck_assert_int_eq(res.action, CTG_ACT_DROP);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	/* limited still at 0.15 s (0.75 token); at 0.2 s one whole token */
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", t + 50000, &res);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", t + 100000, &res);
	ck_assert_int_eq(res.reason, CTG_R_NONE);
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", t + 100000, &res);
	ck_assert_int_eq(res.reason, CTG_R_RATE_LIMITED);
	/* the flood: one entry each while the table lasted, then shared */
	ck_assert_msg(flood_passed > 30000 && flood_passed < 80000,
	    "%u of %u flood sources passed", flood_passed, nflood);
	ctg_ruleset_free(rs);
}
END_TEST

/* The same for conn_limit, over IPv6 (sources from a million /64s). */
START_TEST(test_conn_limit_survives_source_flood)
{
	struct ctg_ruleset *rs = must_load(
	    "rules = ( { name = \"ssh\"; action = \"accept\"; proto = \"tcp\";\n"
	    "  dst_port = 22; conn_limit = 2; } );\n");
	struct ctg_packet lim = pkt6("2001:db8:7::1", "2001:db8::22", IPPROTO_TCP, 1000, 22);
	struct ctg_packet f = pkt6("2001:db8::", "2001:db8::22", IPPROTO_TCP, 1000, 22);
	struct ctg_rule_result res;
	const uint32_t nflood = 1000000;
	unsigned flood_passed = 0;

	for (int i = 0; i < 2; i++) {
		verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", 1, &res);
		ck_assert(res.conn_counted);
	}
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", 1, &res);
	ck_assert_int_eq(res.reason, CTG_R_CONN_LIMITED);
	for (uint32_t i = 1; i <= nflood; i++) {
		uint32_t a = i * 2654435761u;

		memcpy(f.tuple.src.b + 4, &a, 4);       /* a distinct /64 each */
		verdict_full(rs, &f, CTG_CT_NEW, 0, "", "", 1 + i, &res);
		flood_passed += res.conn_counted;
	}
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", 2 + nflood, &res);
	ck_assert_int_eq(res.reason, CTG_R_CONN_LIMITED);
	/* its own connections end: its own entry gives the slots back */
	ctg_ruleset_conn_release(rs, 0, &lim.tuple);
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", 3 + nflood, &res);
	ck_assert_int_eq(res.action, CTG_ACT_ACCEPT);
	verdict_full(rs, &lim, CTG_CT_NEW, 0, "", "", 4 + nflood, &res);
	ck_assert_int_eq(res.reason, CTG_R_CONN_LIMITED);
	/* every entry holds connections: the rest share the overflow's 2 */
	ck_assert_msg(flood_passed <= CTG_RULES_LIMIT_SLOTS * 2 + 2,
	    "%u of %u flood sources counted", flood_passed, nflood);
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_big_set)
{
	/* 20,000 /30 prefixes in one set: bisection, not a scan. */
	size_t cap = 20000 * 24 + 256, len = 0;
	char *text = malloc(cap);
	struct ctg_ruleset *rs;
	struct ctg_packet p;

	len += (size_t)snprintf(text + len, cap - len,
	    "sets = { big = { type = \"address\"; members = [ ");
	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s\"10.%d.%d.0/30\"",
		    i ? ", " : "", i / 250, i % 250);
	snprintf(text + len, cap - len, " ]; }; };\n"
	    "rules = ( { name = \"big\"; action = \"drop\"; src = \"@big\"; } );\n");
	rs = must_load(text);
	free(text);
	p = pkt4("10.79.249.3", "1.1.1.1", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "big");
	p = pkt4("10.79.249.4", "1.1.1.1", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "default");
	p = pkt4("10.0.0.0", "1.1.1.1", IPPROTO_TCP, 1, 2);
	ck_assert_str_eq(verdict(rs, &p), "big");
	ctg_ruleset_free(rs);
}
END_TEST

START_TEST(test_print_hash)
{
	struct ctg_ruleset *a = must_load(
	    "rules = ( { name = \"x\"; action = \"accept\"; src = \"10.0.0.1\"; } );\n");
	struct ctg_ruleset *b = must_load(
	    "# same rules, other spelling\nrules = ( { name = \"x\"; src = [ \"10.0.0.1/32\" ]; action = \"accept\"; } );\n");
	struct ctg_ruleset *c = must_load(
	    "rules = ( { name = \"x\"; action = \"drop\"; src = \"10.0.0.1\"; } );\n");

	ck_assert_uint_eq(ctg_ruleset_hash(a), ctg_ruleset_hash(b));
	ck_assert_uint_ne(ctg_ruleset_hash(a), ctg_ruleset_hash(c));
	ctg_ruleset_free(a);
	ctg_ruleset_free(b);
	ctg_ruleset_free(c);
}
END_TEST

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/t.rules", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/a.rules", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.rules", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	strcpy(tmpdir, "/tmp/check_rules.XXXXXX");
}

static Suite *
rules_suite(void)
{
	Suite *s = suite_create("rules");
	TCase *tc = tcase_create("golden");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_golden_good);
	tcase_add_test(tc, test_golden_bad);
	tcase_add_test(tc, test_shipped);
	tcase_add_test(tc, test_default_rules_behaviour);
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_load_errors_misc);
	tcase_add_test(tc, test_multiple_files);
	tcase_add_test(tc, test_cidr_edges_v4);
	tcase_add_test(tc, test_cidr_edges_v6);
	tcase_add_test(tc, test_sets_and_negation);
	tcase_add_test(tc, test_port_edges);
	tcase_add_test(tc, test_interfaces);
	tcase_add_test(tc, test_first_match_and_default);
	tcase_add_test(tc, test_state_and_reason);
	tcase_add_test(tc, test_tcp_flags);
	tcase_add_test(tc, test_icmp_types_per_family);
	tcase_add_test(tc, test_proto_family);
	tcase_add_test(tc, test_rate_limit);
	tcase_add_test(tc, test_recheck_has_no_side_effects);
	tcase_add_test(tc, test_port_index_first_match);
	tcase_add_test(tc, test_conn_limit);
	tcase_add_test(tc, test_recheck_same_ruleset);
	tcase_add_test(tc, test_big_set);
	tcase_add_test(tc, test_print_hash);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rate_limit_every_packet_of_the_flow);
	tcase_add_test(tc, test_conn_rate);
	tcase_add_test(tc, test_rate_limit_survives_source_flood);
	tcase_add_test(tc, test_conn_limit_survives_source_flood);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(rules_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
