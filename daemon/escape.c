/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Escaping text for output (see escape.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/escape.h"

bool
ctg_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

bool
ctg_has_ctl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (ctg_is_ctl(*p))
			return true;
	return false;
}

/* The two-character escape of c in style, or NULL when it has none. */
static const char *
short_escape(unsigned char c, enum ctg_escape_style style)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	case '\f':
		return style == CTG_ESC_CONFIG ? "\\f" : NULL;
	default:
		return NULL;
	}
}

void
ctg_escape_quoted(FILE *out, const char *s, enum ctg_escape_style style)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *e = short_escape(*p, style);

		if (e)
			fputs(e, out);
		else if (!ctg_is_ctl(*p))
			fputc(*p, out);
		else if (style == CTG_ESC_JSON)
			fprintf(out, "\\u%04x", *p);
		else
			fprintf(out, "\\x%02x", *p);
	}
	fputc('"', out);
}

void
ctg_escape_csv(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"") == NULL && !ctg_has_ctl(s)) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		if (ctg_is_ctl((unsigned char)*s))
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

char *
ctg_escape_ctl(char *s)
{
	size_t n = 0;
	char *e, *q;

	if (!ctg_has_ctl(s))
		return s;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += ctg_is_ctl(*p) ? 4 : 1;
	e = malloc(n + 1);
	if (e == NULL)
		return NULL;
	q = e;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (ctg_is_ctl(*p))
			q += sprintf(q, "\\x%02x", *p);
		else
			*q++ = (char)*p;
	}
	*q = '\0';
	free(s);
	return e;
}
