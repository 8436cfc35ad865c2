/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The shared address, port and protocol parser: the table of
 * tests/kit/netaddr_cases.h through each parser, and through the rule loader,
 * which must accept and refuse exactly the same text with the same
 * message.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "ctguard/connfilter.h"
#include "ctguard/netaddr.h"
#include "ctguard/rules.h"
#include "netaddr_cases.h"

static char tmpdir[] = "/tmp/check_netaddr.XXXXXX";

/* Run one row through its parser: 0/-1, the canonical value, the message. */
static int
parse_case(const struct netaddr_case *c, char *val, size_t vlen, char *err,
    size_t elen)
{
	struct ctg_prefix p;
	uint16_t lo, hi;
	uint8_t proto;
	int rc = -1;

	err[0] = '\0';
	val[0] = '\0';
	switch (c->kind) {
	case NA_PREFIX:
		if ((rc = ctg_prefix_parse(c->text, &p, err, elen)) == 0)
			ctg_prefix_str(&p, val, vlen);
		break;
	case NA_PORT:
		if ((rc = ctg_port_parse(c->text, &lo, err, elen)) == 0)
			snprintf(val, vlen, "%u", lo);
		break;
	case NA_PORT_RANGE:
		if ((rc = ctg_port_range_parse(c->text, &lo, &hi, err, elen)) == 0) {
			if (lo == hi)
				snprintf(val, vlen, "%u", lo);
			else
				snprintf(val, vlen, "%u-%u", lo, hi);
		}
		break;
	case NA_PROTO:
		if ((rc = ctg_proto_parse(c->text, &proto, err, elen)) == 0)
			snprintf(val, vlen, "%u", proto);
		break;
	}
	return rc;
}

START_TEST(test_table)
{
	for (size_t i = 0; i < NETADDR_NCASES; i++) {
		const struct netaddr_case *c = &netaddr_cases[i];
		char val[64], err[256];
		int rc = parse_case(c, val, sizeof(val), err, sizeof(err));

		if (c->ok) {
			ck_assert_msg(rc == 0, "'%s' refused: %s", c->text, err);
			ck_assert_msg(strcmp(val, c->expect) == 0,
			    "'%s' gave %s, expected %s", c->text, val, c->expect);
		} else {
			ck_assert_msg(rc == -1, "'%s' accepted as %s", c->text, val);
			ck_assert_msg(strstr(err, c->expect) != NULL,
			    "'%s': message '%s' lacks '%s'", c->text, err, c->expect);
		}
	}
}
END_TEST

/*
 * The same rows through the control server's connections filter
 * (addr=, port=, proto=): same accept/refuse, same value, same message.
 * The filter's words are separated by spaces, so a row whose text holds
 * a space cannot be one argument there and is left out; ranges are not
 * a filter form.
 */
START_TEST(test_connfilter_agrees)
{
	unsigned checked = 0;

	for (size_t i = 0; i < NETADDR_NCASES; i++) {
		const struct netaddr_case *c = &netaddr_cases[i];
		const char *key = c->kind == NA_PREFIX ? "addr" : c->kind == NA_PORT ? "port" :
		    c->kind == NA_PROTO ? "proto" : NULL;
		char args[256], val[128], err[256];
		struct ctg_conn_filter f;
		int rc;

		if (!key || strchr(c->text, ' ') != NULL)
			continue;
		snprintf(args, sizeof(args), "%s=%s", key, c->text);
		err[0] = '\0';
		rc = ctg_conn_filter_parse(&f, args, err, sizeof(err));
		if (!c->ok) {
			ck_assert_msg(rc == -1, "connections %s=%s accepted", key, c->text);
			ck_assert_msg(strstr(err, c->expect) != NULL,
			    "connections %s=%s: message '%s' lacks '%s'", key, c->text, err, c->expect);
			checked++;
			continue;
		}
		ck_assert_msg(rc == 0, "connections %s=%s refused: %s", key, c->text, err);
		if (c->kind == NA_PREFIX) {
			struct ctg_prefix p = { .family = f.family, .plen = f.plen, .addr = f.addr };

			ck_assert(f.have_addr);
			ctg_prefix_str(&p, val, sizeof(val));
		} else
			snprintf(val, sizeof(val), "%d", c->kind == NA_PORT ? f.port : f.proto);
		ck_assert_msg(strcmp(val, c->expect) == 0, "connections %s=%s gave %s, expected %s",
		    key, c->text, val, c->expect);
		checked++;
	}
	ck_assert_uint_gt(checked, 40);
}
END_TEST

/* The canonical text the rule printer gives for the row's value. */
static void
rule_canon(const struct netaddr_case *c, char *out, size_t len)
{
	const char *nm;

	switch (c->kind) {
	case NA_PREFIX:
		snprintf(out, len, " src=%s ", c->expect);
		break;
	case NA_PORT:
	case NA_PORT_RANGE:
		snprintf(out, len, " dst_port=%s ", c->expect);
		break;
	case NA_PROTO:
		nm = ctg_proto_name((uint8_t)atoi(c->expect));
		snprintf(out, len, " proto=%s ", nm ? nm : c->expect);
		break;
	}
}

static bool
all_digits(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s) &&
	    strlen(s) < 10;
}

/* The same row as a rule file: the rule language must agree. */
START_TEST(test_rule_language_agrees)
{
	unsigned checked = 0;

	for (size_t i = 0; i < NETADDR_NCASES; i++) {
		const struct netaddr_case *c = &netaddr_cases[i];
		char path[128], val[64], err[256], canon[96], *txt = NULL;
		const char *p = path;
		struct ctg_rules_diag d;
		struct ctg_ruleset *rs;
		size_t tlen = 0;
		FILE *f;
		int rc = parse_case(c, val, sizeof(val), err, sizeof(err));

		/* the rule language takes ranges wherever it takes a port */
		if (c->kind == NA_PORT && strchr(c->text, '-') != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/t.rules", tmpdir);
		ck_assert_ptr_nonnull(f = fopen(path, "w"));
		fprintf(f, "rules = ( { name = \"x\"; action = \"accept\"; ");
		if (c->kind == NA_PREFIX)
			fprintf(f, "src = \"%s\"; } );\n", c->text);
		else if (c->kind == NA_PROTO && all_digits(c->text))
			fprintf(f, "proto = %s; } );\n", c->text);
		else if (c->kind == NA_PROTO)
			fprintf(f, "proto = \"%s\"; } );\n", c->text);
		else
			fprintf(f, "proto = \"tcp\"; dst_port = \"%s\"; } );\n",
			    c->text);
		fclose(f);
		rs = ctg_ruleset_load(&p, 1, &d);
		if (rc == 0) {
			ck_assert_msg(rs != NULL, "rules refuse '%s': %s",
			    c->text, d.error);
			ck_assert_ptr_nonnull(f = open_memstream(&txt, &tlen));
			ctg_ruleset_print(rs, f);
			fclose(f);
			rule_canon(c, canon, sizeof(canon));
			ck_assert_msg(strstr(txt, canon) != NULL,
			    "'%s': rules print\n%s\nwithout '%s'", c->text, txt,
			    canon);
			free(txt);
			ctg_ruleset_free(rs);
		} else {
			size_t el = strlen(d.error), ml = strlen(err);

			ck_assert_msg(rs == NULL, "rules accept '%s'", c->text);
			ck_assert_msg(el >= ml &&
			    strcmp(d.error + el - ml, err) == 0,
			    "'%s': rules say '%s', the parser '%s'", c->text,
			    d.error, err);
		}
		checked++;
	}
	ck_assert_uint_ge(checked, 60);
}
END_TEST

START_TEST(test_contains)
{
	struct ctg_prefix p;
	struct ctg_addr a;

	ck_assert_int_eq(ctg_prefix_parse("198.51.100.128/25", &p, NULL, 0), 0);
	memset(&a, 0, sizeof(a));
	inet_pton(AF_INET, "198.51.100.200", a.b);
	ck_assert(ctg_prefix_contains(&p, 4, &a));
	ck_assert(!ctg_prefix_contains(&p, 6, &a));
	inet_pton(AF_INET, "198.51.100.127", a.b);
	ck_assert(!ctg_prefix_contains(&p, 4, &a));
	ck_assert_int_eq(ctg_prefix_parse("0.0.0.0/0", &p, NULL, 0), 0);
	ck_assert(ctg_prefix_contains(&p, 4, &a));

	ck_assert_int_eq(ctg_prefix_parse("2001:db8::/31", &p, NULL, 0), 0);
	inet_pton(AF_INET6, "2001:db9:1:1::5", a.b);
	ck_assert(ctg_prefix_contains(&p, 6, &a));
	inet_pton(AF_INET6, "2001:dba::5", a.b);
	ck_assert(!ctg_prefix_contains(&p, 6, &a));
	ck_assert_int_eq(ctg_prefix_parse("2001:db8::5", &p, NULL, 0), 0);
	inet_pton(AF_INET6, "2001:db8::5", a.b);
	ck_assert(ctg_prefix_contains(&p, 6, &a));
	a.b[15] ^= 1;
	ck_assert(!ctg_prefix_contains(&p, 6, &a));
}
END_TEST

START_TEST(test_proto_names)
{
	uint8_t v;

	for (unsigned n = 0; n < 256; n++) {
		const char *nm = ctg_proto_name((uint8_t)n);

		if (nm == NULL)
			continue;
		ck_assert_int_eq(ctg_proto_by_name(nm), (int)n);
		ck_assert_int_eq(ctg_proto_parse(nm, &v, NULL, 0), 0);
		ck_assert_uint_eq(v, n);
	}
	ck_assert_str_eq(ctg_proto_name(6), "tcp");
	ck_assert_str_eq(ctg_proto_name(58), "icmpv6");
	ck_assert_ptr_null(ctg_proto_name(132));
	ck_assert_int_eq(ctg_proto_by_name("6"), -1);
}
END_TEST

/* A small err buffer truncates, never overflows; NULL err is allowed. */
START_TEST(test_small_err)
{
	char err[8];
	uint16_t port;

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(ctg_port_parse("http", &port, err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(ctg_port_parse("http", &port, NULL, 0), -1);
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
	char path[128];

	snprintf(path, sizeof(path), "%s/t.rules", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	strcpy(tmpdir, "/tmp/check_netaddr.XXXXXX");
}

int
main(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_rule_language_agrees);
	tcase_add_test(tc, test_connfilter_agrees);
	tcase_add_test(tc, test_contains);
	tcase_add_test(tc, test_proto_names);
	tcase_add_test(tc, test_small_err);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
