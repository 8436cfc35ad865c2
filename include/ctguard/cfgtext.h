/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading libconfig files the same careful way everywhere (see cfgtext.c).
 */
#ifndef CTGUARD_CFGTEXT_H
#define CTGUARD_CFGTEXT_H

#include <stddef.h>

/* Largest files read: a configuration is short; rule files can hold big sets. */
#define CTG_CFGTEXT_CONFIG_MAX (1024 * 1024)
#define CTG_CFGTEXT_RULES_MAX (64 * 1024 * 1024)

/*
 * Read path (at most max bytes) and return in *out (malloc'd, caller frees) text ready for
 * config_read_string(). On error returns -1 with a message in msg and the
 * offending line in *line (0 when the error concerns the whole file).
 */
int ctg_cfgtext_read(const char *path, size_t max, char **out, int *line,
    char *msg, size_t msglen);

#endif
