/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server's "connections" filter parser, a module of its own so
 * that it can be fuzzed. Addresses, ports and protocols go through the
 * shared parser (netaddr.h): "connections port=http" is refused with the
 * same words as "ctguard log --port http" and a rule file's dst_port.
 */
#include <stdio.h>
#include <string.h>

#include "ctguard/connfilter.h"
#include "ctguard/netaddr.h"

int
ctg_conn_filter_parse(struct ctg_conn_filter *f, char *args, char *err,
    size_t errlen)
{
	char *save = NULL;

	memset(f, 0, sizeof(*f));
	f->port = -1;
	f->proto = -1;
	for (char *tok = strtok_r(args, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *val = strchr(tok, '=');

		if (strcmp(tok, "json") == 0) {
			f->json = true;
			continue;
		}
		if (!val) {
			snprintf(err, errlen, "bad filter '%s' (want key=value)", tok);
			return -1;
		}
		*val++ = '\0';
		if (strcmp(tok, "addr") == 0) {
			struct ctg_prefix p;

			if (ctg_prefix_parse(val, &p, err, errlen) < 0)
				return -1;
			f->addr = p.addr;
			f->family = p.family;
			f->plen = p.plen;
			f->have_addr = true;
		} else if (strcmp(tok, "port") == 0) {
			uint16_t port;

			if (ctg_port_parse(val, &port, err, errlen) < 0)
				return -1;
			f->port = port;
		} else if (strcmp(tok, "proto") == 0) {
			uint8_t proto;

			if (ctg_proto_parse(val, &proto, err, errlen) < 0)
				return -1;
			f->proto = proto;
		} else if (strcmp(tok, "state") == 0) {
			f->state = val;
		} else {
			snprintf(err, errlen, "unknown filter '%s'", tok);
			return -1;
		}
	}
	return 0;
}

bool
ctg_conn_filter_addr_in(const struct ctg_conn_filter *f, const struct ctg_addr *a,
    uint8_t fam)
{
	unsigned bytes = f->plen / 8, bits = f->plen % 8;
	uint8_t m;

	if (fam != f->family)
		return false;
	if (memcmp(a->b, f->addr.b, bytes) != 0)
		return false;
	if (!bits)
		return true;
	m = (uint8_t)(0xff << (8 - bits));
	return (a->b[bytes] & m) == (f->addr.b[bytes] & m);
}
