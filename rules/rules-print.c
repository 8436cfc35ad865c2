/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule engine: canonical text. Every rule key writes its part of a rule's
 * text while it is loaded (rules-keys.c, into a ctg_strbuf); this file
 * prints the ruleset in the form rules.h describes, and hashes that form
 * for the audit log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

void
ctg_ruleset_print(const struct ctg_ruleset *rs, FILE *out)
{
	fprintf(out, "# ctguard ruleset: %u rules, %u sets\n", rs->nrules,
	    rs->nsets);
	fprintf(out, "default_policy %s\n", ctg_action_name(rs->policy));
	for (uint32_t i = 0; i < rs->nsets; i++)
		fprintf(out, "set %s %s %s\n", rs->sets[i]->name,
		    rs->sets[i]->type == SET_ADDRESS ? "address" : "port",
		    rs->sets[i]->text);
	for (uint32_t i = 0; i < rs->nrules; i++)
		fprintf(out, "rule %u %s: %s\n", i, rs->rules[i].name,
		    rs->rules[i].text);
}

/* FNV-1a 64 of the canonical form; -1 out of memory. */
int
rules_hash(struct ctg_ruleset *rs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	if ((mf = open_memstream(&buf, &len)) == NULL)
		return -1;
	ctg_ruleset_print(rs, mf);
	if (fclose(mf) != 0) {
		free(buf);
		return -1;
	}
	rs->hash = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++)
		rs->hash = (rs->hash ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
	free(buf);
	return 0;
}
