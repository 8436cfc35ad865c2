/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A growable string built with printf. Bounded on request: past max bytes
 * (or when memory runs out) it stops growing, sets full and ignores further
 * writes, so a writer never has to check each call.
 */
#ifndef CTGUARD_STRBUF_H
#define CTGUARD_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct ctg_strbuf {
	char *s;                /* NUL-terminated once anything was written */
	size_t len, cap;
	size_t max;             /* largest capacity allowed; 0 = no bound */
	bool full;              /* a write did not fit (bound reached or no memory) */
};

/* Reserve cap bytes now (0: nothing until the first write). -1 when out of memory. */
int ctg_strbuf_init(struct ctg_strbuf *sb, size_t cap, size_t max);

void ctg_strbuf_printf(struct ctg_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hand the string over (caller frees): "" when nothing was written, NULL when full. */
char *ctg_strbuf_take(struct ctg_strbuf *sb);

void ctg_strbuf_free(struct ctg_strbuf *sb);

#endif
