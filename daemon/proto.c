/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Protocol names (see proto.h).
 */
#include <stddef.h>
#include <string.h>

#include "ctguard/proto.h"

static const struct {
	unsigned number;
	const char *name;
} protocols[] = {
#define X(n, s) { n, s },
	CTG_PROTOCOLS(X)
#undef X
};

const char *
ctg_proto_name(unsigned proto)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
		if (protocols[i].number == proto)
			return protocols[i].name;
	return NULL;
}

int
ctg_proto_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
		if (strcmp(protocols[i].name, name) == 0)
			return (int)protocols[i].number;
	return -1;
}
