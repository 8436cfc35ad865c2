/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the control server's "connections" filter parser
 * (ctg_conn_filter_parse). The input is one command's argument string,
 * copied to an exact-size heap buffer so that ASan sees any read past its
 * terminator.
 *
 * Beyond "no crash", every filter it accepts must be in range (port,
 * protocol, prefix length by family), its address must fall inside its
 * own prefix, and printing it back in the filter syntax and parsing that
 * must give the same filter.
 *
 *   ./fuzz_ctlfilter -max_total_time=60 tests/fuzz/corpus/ctlfilter
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/connfilter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_range(const struct ctg_conn_filter *f)
{
	if (f->port < -1 || f->port > 65535 || f->proto < -1 || f->proto > 255)
		abort();
	if (f->have_addr) {
		if (f->family != 4 && f->family != 6)
			abort();
		if (f->plen > (f->family == 4 ? 32 : 128))
			abort();
		if (!ctg_conn_filter_addr_in(f, &f->addr, f->family))
			abort();
		/* a prefix never matches the other family */
		if (ctg_conn_filter_addr_in(f, &f->addr, f->family == 4 ? 6 : 4))
			abort();
	}
}

/* The filter in its own syntax (a state never holds a space: it is one token). */
static int
print_filter(const struct ctg_conn_filter *f, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int n = 0;

	buf[0] = '\0';
	if (f->json)
		n += snprintf(buf + n, len - (size_t)n, "json ");
	if (f->have_addr) {
		if (!inet_ntop(f->family == 4 ? AF_INET : AF_INET6, f->addr.b, a, sizeof(a)))
			abort();
		n += snprintf(buf + n, len - (size_t)n, "addr=%s/%u ", a, f->plen);
	}
	if (f->port >= 0)
		n += snprintf(buf + n, len - (size_t)n, "port=%d ", f->port);
	if (f->proto >= 0)
		n += snprintf(buf + n, len - (size_t)n, "proto=%d ", f->proto);
	if (f->state)
		n += snprintf(buf + n, len - (size_t)n, "state=%s", f->state);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctg_conn_filter f, g;
	char err[128], *args, *again;
	int n;

	if (size > 4096)
		return 0;
	if ((args = malloc(size + 1)) == NULL)
		return 0;
	memcpy(args, data, size);
	args[size] = '\0';
	if (ctg_conn_filter_parse(&f, args, err, sizeof(err)) < 0) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		free(args);
		return 0;
	}
	check_range(&f);
	if (f.state && (f.state < args || f.state > args + size))
		abort();

	if ((again = malloc(size + 256)) == NULL)
		abort();
	n = print_filter(&f, again, size + 256);
	if (n < 0 || (size_t)n >= size + 256)
		abort();
	if (ctg_conn_filter_parse(&g, again, err, sizeof(err)) < 0)
		abort();
	if (g.json != f.json || g.have_addr != f.have_addr || g.port != f.port ||
	    g.proto != f.proto || (f.state == NULL) != (g.state == NULL) ||
	    (f.state && strcmp(f.state, g.state) != 0))
		abort();
	if (f.have_addr && (g.family != f.family || g.plen != f.plen ||
	    memcmp(&g.addr, &f.addr, sizeof(f.addr)) != 0))
		abort();
	free(again);
	free(args);
	return 0;
}
