/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the conntrack thread's two rooms: natwatch.c (the kernel's
 * NAT mappings for the audit log; it owns the thread and its poll loop)
 * and offwatch.c (the end of offloaded UDP flows, which the kernel alone
 * sees). One thread serves both so that neither adds a thread or a lock:
 * natwatch.c polls offwatch.c's socket and hands it each turn.
 */
#ifndef CTGUARD_NATWATCH_INT_H
#define CTGUARD_NATWATCH_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "daemon-int.h"

/* natwatch.c: address a4 (IPv4) or a6 of ct by family; false when unset. */
bool ctgd_ct_addr(const struct nf_conntrack *ct, uint8_t family, enum nf_conntrack_attr a4,
    enum nf_conntrack_attr a6, struct ctg_addr *out);

/* offwatch.c */
struct ctgd_offwatch;
/*
 * Subscribe while we may (CAP_NET_ADMIN): -1 out of memory, else 0 with
 * *out NULL when the kernel refused (logged: flows then end by timeout).
 */
int ctgd_offwatch_open(struct daemon *dm, struct ctgd_offwatch **out);
int ctgd_offwatch_fd(const struct ctgd_offwatch *o);
/* poll said the socket is readable: read what it holds (non-blocking) */
void ctgd_offwatch_readable(struct ctgd_offwatch *o);
/* each turn of the thread: the walk against a dump, when one is due */
void ctgd_offwatch_tick(struct ctgd_offwatch *o, const atomic_bool *stop);
/* after the thread has stopped */
void ctgd_offwatch_close(struct ctgd_offwatch *o);

#endif
