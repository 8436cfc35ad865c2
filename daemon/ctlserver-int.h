/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the control server (ctlserver.c: the clients, their state
 * machine, the main loop's side) and its commands (ctlcmds.c): a command is
 * a step function that adds to the client's reply and keeps its place in
 * the client between steps.
 */
#ifndef CTGUARD_CTLSERVER_INT_H
#define CTGUARD_CTLSERVER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctguard/connfilter.h"
#include "ctguard/control.h"
#include "daemon-int.h"

#define CTL_SLICE       4096            /* table slots per step */
#define CTL_LIST_SLICE  32              /* listing: slots per lock hold (~6 KiB printed) */
#define CTL_FLUSH_SLICE 32              /* flush: slots per lock hold */
#define CTL_WAIT_MS     5               /* a step waiting for room: poll this long */
#define CTL_PACE_MS     1               /* flush: between slices */
#define CTL_STEP_BYTES  8192            /* listing: output per step */

enum cl_state { CL_FREE, CL_READ, CL_BUILD, CL_WRITE };

struct ctl_client {
	int fd;
	enum cl_state state;
	uint64_t accepted_ms, progress_ms, write_start_ms;
	/* SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool admin;
	/* READ */
	uint8_t hdr[4];
	uint32_t got, want;             /* request bytes read, announced (after hdr) */
	char req[CTG_CTL_MAX_REQUEST + 1];
	/* BUILD */
	const struct ctl_command *cmd;
	char *args;
	unsigned wi;                    /* worker being sliced */
	size_t pos;                     /* its next slot */
	struct ctg_conn_filter f;
	unsigned long long done_count;
	uint64_t waits;                 /* flush: steps that found the ring full */
	bool overran;                   /* flush: went on without room */
	unsigned skipped;               /* workers whose lock was not had */
	int waiting;                    /* ms the last step wants to wait (no busy loop) */
	uint64_t hold_max_us;           /* flush: longest lock hold */
	uint64_t holds, holds_over_1ms; /* flush: lock holds, those past 1 ms */
	/* WRITE: 4-byte length, then o.s */
	struct ctg_strbuf o;
	uint8_t rhdr[4];
	size_t off;
};

struct ctl_server {
	struct ctl_client c[CTGD_MAX_CLIENTS];
	size_t buffered;                /* sum of the replies' capacities */
	gid_t admin_gid;
	bool have_admin_gid;
	uint64_t refused, cut, evicted, busy;
	uint64_t refusal_sec, refusals_this_sec, refusals_unlogged;
	uint64_t turn_max_us;           /* longest ctgd_ctl_run, wall clock */
	uint64_t turn_max_cpu_us;       /* ... the main thread's CPU time */
};

/* A step returns true when the reply is complete. */
typedef bool (*ctl_step_fn)(struct daemon *dm, struct ctl_client *cl);

struct ctl_command {
	const char *name;
	ctl_step_fn step;
	bool changes_state;     /* for the admin role only (see ctlserver.c) */
};

const struct ctl_command *ctl_find_command(const char *name);
bool ctl_worker_lock(struct worker *w);

#endif
