/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Offline replay: run a pcap or pcapng capture through the same pipeline
 * the daemon runs, with the capture's timestamps as the clock, so that
 * timeouts behave as they would have live and results do not depend on
 * how fast the replay runs.
 */
#ifndef CTGUARD_REPLAY_H
#define CTGUARD_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pcap/dlt.h>

/* Link types the capture reader handles that older libpcap headers lack. */
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

#include "ctguard/pipeline.h"

#define CTG_REPLAY_MAX_INSIDE 16

struct ctg_replay_opts {
	const char *path;
	bool print_verdicts;            /* one tab-separated line per frame on out */
	bool print_connections;         /* one line per ended connection on out */
	/* what a capture cannot say: */
	struct ctg_addr inside[CTG_REPLAY_MAX_INSIDE];
	uint8_t inside_family[CTG_REPLAY_MAX_INSIDE];
	uint8_t inside_len[CTG_REPLAY_MAX_INSIDE];
	unsigned ninside;
	const char *inside_if;          /* interface name toward the inside network */
	const char *outside_if;
};

/* Parse "ADDR/LEN" into opts->inside; returns -1 on a bad prefix. */
int ctg_replay_add_inside(struct ctg_replay_opts *o, const char *cidr);

/*
 * Find the IP header in a frame of link type dlt (pcap's DLT_* value).
 * Returns its offset (never past len), -1 for a frame that carries no IP,
 * -2 for a frame cut inside its link header, -3 for a link type replay
 * does not read.
 */
int ctg_replay_link_offset(int dlt, const uint8_t *frame, uint32_t len);

/*
 * Replay o->path through p. Returns 0, or 1 when the capture could not be
 * opened or was damaged (the message, with the frame number and what was
 * processed, goes to err). The closing summary goes to err as well.
 */
int ctg_replay_run(const struct ctg_replay_opts *o, struct ctg_pipeline *p,
    FILE *out, FILE *err);

#endif
