/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ctguard report`: one self-contained HTML page of charts (inline SVG, no
 * scripts, no fetches) drawn from the audit database alone: verdicts and
 * drops over time, top sources and destinations of drops, rules by hits,
 * connection outcomes, durations and sizes, daemon events and log gaps,
 * and the TCP state machine with the moves observed in the period.
 */
#ifndef CTGUARD_REPORT_H
#define CTGUARD_REPORT_H

#include <stdio.h>

/*
 * argv[0] is "report". The page goes to -o FILE (written whole, then
 * renamed into place) or to out; diagnostics go to err.
 * Returns the exit status: 0 ok, 1 error (no database, not a database,
 * newer schema, locked, cannot write), 2 usage.
 */
int ctg_report_main(int argc, char **argv, FILE *out, FILE *err);

#endif
