/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Escaping text for output, in one place. Control bytes (below 0x20, and
 * 0x7f) never reach a terminal or a file as they are: they are written as
 * \xNN (ctguard's own formats) or \u00NN (JSON).
 */
#ifndef CTGUARD_ESCAPE_H
#define CTGUARD_ESCAPE_H

#include <stdbool.h>
#include <stdio.h>

enum ctg_escape_style {
	CTG_ESC_JSON,           /* a JSON string: \" \\ \n \r \t, others \u00NN */
	CTG_ESC_CONFIG,         /* a libconfig string: \" \\ \n \r \t \f, others \xNN */
};

bool ctg_is_ctl(unsigned char c);
bool ctg_has_ctl(const char *s);

/* s between double quotes, escaped in style. */
void ctg_escape_quoted(FILE *out, const char *s, enum ctg_escape_style style);

/* RFC 4180 field: quoted when needed, quotes doubled, control bytes \xNN. */
void ctg_escape_csv(FILE *out, const char *s);

/*
 * Control bytes of s as \xNN: returns s itself when nothing needs escaping,
 * else a new string and s is freed (NULL when out of memory; s is kept).
 */
char *ctg_escape_ctl(char *s);

#endif
