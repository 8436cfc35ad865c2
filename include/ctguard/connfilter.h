/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server's "connections" filter: "json", "addr=A[/LEN]",
 * "port=N", "proto=NAME|N" and "state=LABEL", separated by spaces.
 *
 * A module of its own so that the parser, which reads bytes from any
 * local user the control socket admits, can be fuzzed without a daemon.
 */
#ifndef CTGUARD_CONNFILTER_H
#define CTGUARD_CONNFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctguard/packet.h"

struct ctg_conn_filter {
	bool json;
	bool have_addr;
	struct ctg_addr addr;
	uint8_t family;                 /* 4 or 6 when have_addr */
	uint8_t plen;                   /* <= 32 or 128 by family */
	int port;                       /* 0..65535, -1 any */
	int proto;                      /* 0..255, -1 any */
	const char *state;              /* points into args; NULL any */
};

/*
 * Parse args (modified in place: state points into it) into *f, which is
 * reset first. Returns 0, or -1 with the reason in err. A later key
 * overrides an earlier one.
 */
int ctg_conn_filter_parse(struct ctg_conn_filter *f, char *args, char *err,
    size_t errlen);

/* Does an address of family fam fall inside f's prefix? */
bool ctg_conn_filter_addr_in(const struct ctg_conn_filter *f,
    const struct ctg_addr *a, uint8_t fam);

#endif
