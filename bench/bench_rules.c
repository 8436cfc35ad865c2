/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rough evaluation cost: ns per ctg_ruleset_eval for rulesets of 10, 1000
 * and 10000 rules (the deciding rule last, the worst case for a first
 * match walk) and for one rule naming a 100,000-prefix set, static and
 * dynamic (ctguard set load), with one source and with 4096. Not part of
 * the test suite; build like check_rules and run by hand.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/dynset.h"
#include "ctguard/rules.h"

#define ITER 200000

static struct ctg_ruleset *
load(const char *text)
{
	char path[] = "/tmp/bench_rules.XXXXXX";
	const char *p = path;
	struct ctg_rules_diag d;
	struct ctg_ruleset *rs;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs(text, f);
	fclose(f);
	rs = ctg_ruleset_load(&p, 1, &d);
	unlink(path);
	if (rs == NULL) {
		fprintf(stderr, "%s\n", d.error);
		exit(1);
	}
	return rs;
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double
bench(struct ctg_ruleset *rs, const struct ctg_packet *pkt, const char *expect)
{
	struct ctg_rule_input in = { .pkt = pkt, .ctstate = CTG_CT_NEW, .iif = "eth0", .oif = "eth1" };
	struct ctg_rule_result res;
	double t0 = now_ns();

	for (int i = 0; i < ITER; i++) {
		in.now_us = (uint64_t)i;
		ctg_ruleset_eval(rs, &in, &res);
	}
	if (strcmp(res.rule_name, expect) != 0) {
		fprintf(stderr, "matched %s, expected %s\n", res.rule_name, expect);
		exit(1);
	}
	return (now_ns() - t0) / ITER;
}

/*
 * Sources spread over the set (and half outside it), so the bisection
 * does not run on one hot path of the table.
 */
static double
bench_spread(struct ctg_ruleset *rs, const struct ctg_packet *base)
{
	static struct ctg_packet p[4096];
	struct ctg_rule_input in = { .ctstate = CTG_CT_NEW, .iif = "eth0", .oif = "eth1" };
	struct ctg_rule_result res;
	unsigned hits = 0;
	double t0;

	for (unsigned k = 0; k < 4096; k++) {
		uint32_t x = k * 2654435761u;

		p[k] = *base;
		p[k].tuple.src.b[0] = (uint8_t)(k & 1 ? 11 + (x >> 8) % 2 : 200);
		p[k].tuple.src.b[1] = (uint8_t)((x >> 16) % 250);
		p[k].tuple.src.b[2] = (uint8_t)((x >> 24) % 250);
		p[k].tuple.src.b[3] = (uint8_t)x;
	}
	t0 = now_ns();
	for (int i = 0; i < ITER; i++) {
		in.pkt = &p[i & 4095];
		in.now_us = (uint64_t)i;
		ctg_ruleset_eval(rs, &in, &res);
		hits += res.rule_index == 0;
	}
	if (hits == 0) {
		fprintf(stderr, "no source matched\n");
		exit(1);
	}
	return (now_ns() - t0) / ITER;
}

/* n rules: tcp to 10.x.y.z port p, each distinct; the last accepts ours. */
static char *
rules_text(int n)
{
	size_t cap = (size_t)n * 160 + 64, len = 0;
	char *t = malloc(cap);

	len += (size_t)snprintf(t, cap, "rules = (\n");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(t + len, cap - len,
		    "{ name = \"r%d\"; action = \"accept\"; proto = \"tcp\"; state = \"new\";"
		    " dst = \"10.%d.%d.0/24\"; dst_port = %d; }%s\n",
		    i, i / 250 % 250, i % 250, 1000 + i % 60000, i + 1 < n ? "," : "");
	snprintf(t + len, cap - len, ");\n");
	return t;
}

int
main(void)
{
	static const int sizes[] = { 10, 1000, 10000 };
	struct ctg_packet pkt;

	memset(&pkt, 0, sizeof(pkt));
	pkt.tuple.family = 4;
	pkt.tuple.proto = 6;
	inet_pton(AF_INET, "192.0.2.1", pkt.tuple.src.b);
	pkt.tuple.sport = 40000;
	for (unsigned k = 0; k < 3; k++) {
		int n = sizes[k], last = n - 1;
		char *t = rules_text(n), name[16];
		double t0 = now_ns(), load_ms;
		struct ctg_ruleset *rs = load(t);
		struct ctg_packet udp = pkt;

		load_ms = (now_ns() - t0) / 1e6;
		free(t);
		snprintf(name, sizeof(name), "r%d", last);
		pkt.tuple.dst.b[0] = 10;
		pkt.tuple.dst.b[1] = (uint8_t)(last / 250 % 250);
		pkt.tuple.dst.b[2] = (uint8_t)(last % 250);
		pkt.tuple.dport = (uint16_t)(1000 + last % 60000);
		udp.tuple.proto = 17;
		printf("%5d rules: load %.1f ms, last rule matches %.0f ns/eval, "
		    "udp (other bucket) %.0f ns/eval\n", n, load_ms,
		    bench(rs, &pkt, name), bench(rs, &udp, "default"));
		ctg_ruleset_free(rs);
	}
	{
		size_t cap = 100000 * 24 + 256, len = 0, dlen = 0, n;
		char *t = malloc(cap), *list = malloc(cap), err[256];
		struct ctg_ruleset *rs, *drs;
		struct ctg_dynsets *reg;
		double t0;

		len += (size_t)snprintf(t, cap, "sets = { big = { type = \"address\"; members = [ ");
		for (int i = 0; i < 100000; i++) {
			len += (size_t)snprintf(t + len, cap - len, "%s\"%d.%d.%d.0/24\"",
			    i ? "," : "", 11 + i / 62500, i / 250 % 250, i % 250);
			dlen += (size_t)snprintf(list + dlen, cap - dlen, "%d.%d.%d.0/24\n",
			    11 + i / 62500, i / 250 % 250, i % 250);
		}
		snprintf(t + len, cap - len, " ]; }; };\nrules = ( { name = \"big\"; action = \"drop\"; src = \"@big\"; } );\n");
		t0 = now_ns();
		rs = load(t);
		free(t);
		printf("100000-prefix set: load %.1f ms, ", (now_ns() - t0) / 1e6);
		inet_pton(AF_INET, "12.100.7.9", pkt.tuple.src.b);
		printf("hit %.0f ns/eval, ", bench(rs, &pkt, "big"));
		inet_pton(AF_INET, "200.1.1.1", pkt.tuple.src.b);
		printf("miss %.0f ns/eval, ", bench(rs, &pkt, "default"));
		printf("4096 sources %.0f ns/eval\n", bench_spread(rs, &pkt));

		/* the same contents in a dynamic set: one more pointer load per lookup */
		drs = load("sets = { big = { type = \"address\"; dynamic = true; }; };\n"
		    "rules = ( { name = \"big\"; action = \"drop\"; src = \"@big\"; } );\n");
		reg = ctg_dynsets_new(NULL, NULL);
		if (reg == NULL || ctg_dynsets_bind(reg, drs, true, err, sizeof(err)) < 0) {
			fprintf(stderr, "bind failed\n");
			return 1;
		}
		t0 = now_ns();
		if (ctg_dynset_load_text(reg, ctg_dynsets_find(reg, "big"), list, dlen, 0, NULL,
		    &n, err, sizeof(err)) < 0 || n != 100000) {
			fprintf(stderr, "set load failed: %s\n", err);
			return 1;
		}
		printf("100000-prefix dynamic set: set load %.1f ms, ", (now_ns() - t0) / 1e6);
		inet_pton(AF_INET, "12.100.7.9", pkt.tuple.src.b);
		printf("hit %.0f ns/eval, ", bench(drs, &pkt, "big"));
		inet_pton(AF_INET, "200.1.1.1", pkt.tuple.src.b);
		printf("miss %.0f ns/eval, ", bench(drs, &pkt, "default"));
		printf("4096 sources %.0f ns/eval\n", bench_spread(drs, &pkt));
		free(list);
		ctg_ruleset_free(drs);
		ctg_dynsets_free(reg);
		ctg_ruleset_free(rs);
	}
	return 0;
}
