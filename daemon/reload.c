/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reload: the configuration and rule files are read and checked off the
 * packet path, one ruleset copy per worker; only when every copy loaded
 * are they handed to the workers, which swap them in between bursts.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "daemon-int.h"

struct ctg_ruleset *
ctgd_load_rules(struct daemon *dm, const struct ctg_config *cfg, char *err, size_t errlen)
{
	const char *paths[CTG_MAX_RULE_FILES];
	struct ctg_rules_diag diag;
	unsigned n = 0;
	struct ctg_ruleset *rs;

	if (dm->nrule_files)
		for (n = 0; n < dm->nrule_files; n++)
			paths[n] = dm->rule_files[n];
	else
		for (n = 0; n < cfg->rule_file_count; n++)
			paths[n] = cfg->rule_files[n];
	memset(&diag, 0, sizeof(diag));
	rs = ctg_ruleset_load(paths, n, &diag);
	if (!rs)
		snprintf(err, errlen, "%s", diag.error);
	return rs;
}

/* Parse and check everything off the packet path; swap only when all loaded. */
int
ctgd_reload(struct daemon *dm, char *err, size_t errlen)
{
	struct ctg_config cfg;
	struct ctg_ruleset *sets[CTGD_MAX_WORKERS];
	char why[512];

	/* as at start: a configuration file we started from must still load */
	ctg_config_defaults(&cfg);
	if (dm->config_path &&
	    ctg_config_load(&cfg, dm->config_path, why, sizeof(why)) < 0)
		goto fail;
	/* one copy per worker (rate and limit tables are per worker) */
	for (unsigned i = 0; i < dm->nw; i++) {
		if ((sets[i] = ctgd_load_rules(dm, &cfg, why, sizeof(why))) == NULL ||
		    (i > 0 && ctg_ruleset_hash(sets[i]) != ctg_ruleset_hash(sets[0]))) {
			if (sets[i] != NULL) {
				snprintf(why, sizeof(why), "rule files changed while they were "
				    "being loaded; nothing was swapped, try again");
				ctg_ruleset_free(sets[i]);
			}
			for (unsigned j = 0; j < i; j++)
				ctg_ruleset_free(sets[j]);
			goto fail;
		}
	}
	/* dynamic sets keep their contents: the new copies read the same ones */
	if (dm->dynsets && ctgd_dynsets_rebind(dm, sets, dm->nw, why, sizeof(why)) < 0) {
		for (unsigned j = 0; j < dm->nw; j++)
			ctg_ruleset_free(sets[j]);
		goto fail;
	}
	for (unsigned i = 0; i < dm->nw; i++) {
		atomic_store(&dm->w[i].recheck, cfg.reload_policy == CTG_RELOAD_RECHECK);
		struct ctg_ruleset *prev = atomic_exchange(&dm->w[i].pending, sets[i]);
		if (prev)
			ctg_ruleset_free(prev);
	}
	dm->reloads++;
	ctgd_log(LOG_INFO, "reloaded: %u rules, ruleset %016" PRIx64,
	    ctg_ruleset_count(sets[0]), ctg_ruleset_hash(sets[0]));
	ctgd_event(dm, CTG_EV_RULES_LOAD, ctg_ruleset_count(sets[0]),
	    "reload: ruleset %016" PRIx64, ctg_ruleset_hash(sets[0]));
	return 0;
fail:
	dm->reload_failures++;
	snprintf(dm->last_reload_error, sizeof(dm->last_reload_error), "%s", why);
	snprintf(err, errlen, "%s", why);
	ctgd_log(LOG_ERR, "reload failed, keeping the running rules: %s", why);
	ctgd_event(dm, CTG_EV_RELOAD_FAILED, 0, "%s", why);
	return -1;
}

void
ctgd_free_retired(struct daemon *dm)
{
	for (unsigned i = 0; i < dm->nw; i++) {
		struct ctg_ruleset *old = atomic_exchange(&dm->w[i].retired, NULL);
		if (old)
			ctg_ruleset_free(old);
	}
}
