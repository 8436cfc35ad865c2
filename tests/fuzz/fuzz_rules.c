/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the rule loader: each input is written to a
 * temporary file, loaded, printed and freed. Loading must never crash,
 * whatever the bytes.
 *
 * Leak detection stays on; libconfig 1.5 leaks its string buffer on some
 * syntax errors (a string token followed by a parse error), which is not
 * ours to fix, so tests/kit/lsan.supp suppresses that leak (strbuf_append) only:
 *   LSAN_OPTIONS=suppressions=tests/kit/lsan.supp \
 *       build-fuzz/tests/fuzz/fuzz_rules -max_total_time=60 tests/fuzz/corpus/rules
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctguard/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = path;
	struct ctg_rules_diag diag;
	struct ctg_ruleset *rs;
	FILE *f, *null;

	if (path[0] == '\0') {
		int fd;

		snprintf(path, sizeof(path), "/tmp/fuzz_rules.XXXXXX");
		if ((fd = mkstemp(path)) == -1)
			abort();
		close(fd);
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	rs = ctg_ruleset_load(&p, 1, &diag);
	if (rs != NULL) {
		struct ctg_packet pkt = { 0 };
		struct ctg_rule_input in = { .pkt = &pkt, .iif = "eth0" };
		struct ctg_rule_result res;

		pkt.tuple.family = 4;
		pkt.tuple.proto = 6;
		ctg_ruleset_eval(rs, &in, &res);
		if ((null = fopen("/dev/null", "w")) != NULL) {
			ctg_ruleset_print(rs, null);
			fclose(null);
		}
		ctg_ruleset_free(rs);
	}
	return 0;
}
