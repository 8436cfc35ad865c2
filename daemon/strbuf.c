/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Growable printf strings (see strbuf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/strbuf.h"

int
ctg_strbuf_init(struct ctg_strbuf *sb, size_t cap, size_t max)
{
	memset(sb, 0, sizeof(*sb));
	sb->max = max;
	if (cap == 0)
		return 0;
	if ((sb->s = malloc(cap)) == NULL)
		return -1;
	sb->s[0] = '\0';
	sb->cap = cap;
	return 0;
}

void
ctg_strbuf_printf(struct ctg_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->full)
		return;
	for (;;) {
		size_t room = sb->cap - sb->len;

		va_start(ap, fmt);
		n = vsnprintf(sb->s ? sb->s + sb->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			sb->len += (size_t)n;
			return;
		}
		size_t ncap = sb->cap ? sb->cap * 2 : 64;
		while (ncap - sb->len <= (size_t)n)
			ncap *= 2;
		if (sb->max && ncap > sb->max) {
			sb->full = true;
			return;
		}
		char *ns = realloc(sb->s, ncap);
		if (ns == NULL) {
			sb->full = true;
			return;
		}
		sb->s = ns;
		sb->cap = ncap;
	}
}

char *
ctg_strbuf_take(struct ctg_strbuf *sb)
{
	char *s;

	if (sb->full) {
		ctg_strbuf_free(sb);
		return NULL;
	}
	s = sb->s ? sb->s : strdup("");
	memset(sb, 0, sizeof(*sb));
	return s;
}

void
ctg_strbuf_free(struct ctg_strbuf *sb)
{
	free(sb->s);
	memset(sb, 0, sizeof(*sb));
}
