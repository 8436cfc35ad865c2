/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live gateway daemon: queue workers, signals, the control socket,
 * reloads, the connection-table snapshot across restarts.
 */
#ifndef CTGUARD_DAEMON_H
#define CTGUARD_DAEMON_H

#include <stdbool.h>

#include "ctguard/config.h"
#include "ctguard/rules.h"

/*
 * Run until SIGTERM/SIGINT. Takes ownership of rules (the first worker's
 * copy); config_path and the rule files are kept to reload from.
 * Returns the process exit status.
 */
int ctg_daemon_run(const struct ctg_config *cfg, struct ctg_ruleset *rules,
    const char *config_path, const char *const *rule_files, unsigned nrule_files,
    bool foreground);

#endif
