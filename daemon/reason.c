/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reason code names and descriptions, generated from the one list in
 * reason.h so that the enum, the names and the documentation cannot drift.
 */
#include <string.h>

#include "ctguard/reason.h"

struct reason_info {
	const char *name;
	const char *desc;
	enum ctg_reason_class cls;
};

static const struct reason_info reasons[CTG_R_COUNT] = {
#define CTG_REASON_INFO(sym, nm, c, d) [CTG_R_##sym] = { nm, d, CTG_RC_##c },
	CTG_REASONS(CTG_REASON_INFO)
#undef CTG_REASON_INFO
};

const char *
ctg_reason_name(enum ctg_reason r)
{
	if ((unsigned)r >= CTG_R_COUNT)
		return "unknown";
	return reasons[r].name;
}

const char *
ctg_reason_desc(enum ctg_reason r)
{
	if ((unsigned)r >= CTG_R_COUNT)
		return "unknown reason code";
	return reasons[r].desc;
}

enum ctg_reason_class
ctg_reason_class(enum ctg_reason r)
{
	if ((unsigned)r >= CTG_R_COUNT)
		return CTG_RC_NONE;
	return reasons[r].cls;
}

int
ctg_reason_parse(const char *name, enum ctg_reason *out)
{
	for (unsigned i = 0; i < CTG_R_COUNT; i++) {
		if (strcmp(reasons[i].name, name) == 0) {
			*out = (enum ctg_reason)i;
			return 0;
		}
	}
	return -1;
}
