/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard log`, `ctguard history` and `ctguard summary`: read-only queries
 * of the audit database.
 */
#ifndef CTGUARD_LOGCLI_H
#define CTGUARD_LOGCLI_H

#include <stdio.h>

#define CTG_LOGCLI_DEFAULT_DB "/var/lib/ctguard/audit.db"

/*
 * argv[0] names the command: "log" (verdicts), "history" (connections) or
 * "summary" (counts). Results go to out, diagnostics to err.
 * Returns the exit status: 0 ok, 1 error (no database, not a database,
 * newer schema, locked), 2 usage.
 */
int ctg_logcli_main(int argc, char **argv, FILE *out, FILE *err);

/*
 * Parse a time as the options take it: ISO 8601 "2026-11-25T10:00:00" or
 * "2026-11-25 10:00:00" (UTC, optional fraction and Z, or a date alone),
 * Unix seconds, or "30s", "15m", "1h", "2d" before now_us.
 * Returns 0 and sets *out_us, or -1.
 */
int ctg_logcli_parse_time(const char *s, long long now_us, long long *out_us);

#endif
