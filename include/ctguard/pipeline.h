/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-packet pipeline: decode, track, apply rules, pick what to log.
 *
 * The live daemon (one pipeline per queue worker) and offline replay run
 * exactly this code; only where packets come from and where verdicts go
 * differ. Nothing here allocates or touches SQLite: audit records are
 * copied into the audit log's lock-free ring.
 */
#ifndef CTGUARD_PIPELINE_H
#define CTGUARD_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "ctguard/auditlog.h"
#include "ctguard/config.h"
#include "ctguard/packet.h"
#include "ctguard/rules.h"
#include "ctguard/tracker.h"

struct ctg_pipeline_stats {
	uint64_t packets;
	uint64_t verdicts[CTG_ACT_COUNT];
	uint64_t reasons[CTG_R_COUNT];  /* reason of every packet */
	uint64_t log_dropped;           /* records the audit ring refused */
	uint64_t cached;                /* decided from the connection's cached verdict */
};

struct ctg_pipeline {
	const struct ctg_config *cfg;
	struct ctg_tracker *tracker;
	struct ctg_ruleset *rules;
	struct ctg_auditlog *log;       /* may be NULL: no audit log */
	unsigned producer;              /* this pipeline's ring in the log */
	uint16_t queue;
	bool strict_audit;
	enum ctg_log_level log_policy;
	struct ctg_pipeline_stats st;
	/*
	 * Wall time minus the tracker's clock, added to the times the audit
	 * log receives. The daemon's tracker clock does not step with the
	 * wall clock (an NTP step must not expire or prolong connections);
	 * this is how far the wall clock has stepped since start. Replay: 0.
	 */
	int64_t wall_shift_us;
	/* optional observer of connection summaries (replay prints them) */
	void (*on_conn_end)(void *arg, const struct ctg_conn_record *rec);
	void *on_conn_end_arg;
};

/* One packet as it reaches us. */
struct ctg_pkt_in {
	const uint8_t *buf;             /* from the IP header on */
	uint32_t caplen;
	uint32_t wire_len;
	uint64_t now_us;                /* the tracker's clock */
	uint64_t packet_no;
	const char *iif;                /* "" when unknown */
	const char *oif;
};

struct ctg_decision {
	enum ctg_action action;
	enum ctg_reason reason;         /* the packet's reason (tracker, decoder or rule) */
	const char *rule;               /* rule that decided, "" when cached by none */
	struct ctg_track_result tr;
	struct ctg_packet pkt;
	enum ctg_reason decode;
	bool logged;
};

/* Set up p; the tracker's end callback must be ctg_pipeline_conn_end with arg p. */
int ctg_pipeline_init(struct ctg_pipeline *p, const struct ctg_config *cfg,
    struct ctg_ruleset *rules, struct ctg_auditlog *log, unsigned producer,
    uint16_t queue, char *err, size_t errlen);
void ctg_pipeline_fini(struct ctg_pipeline *p);

void ctg_pipeline_process(struct ctg_pipeline *p, const struct ctg_pkt_in *in,
    struct ctg_decision *d);

/*
 * Swap in a new ruleset (the caller frees the old one). With recheck, every
 * live connection is evaluated again as if new, and those the new rules no
 * longer accept are ended (reason "flushed"). Returns how many were cut.
 * The same ruleset again (after a dynamic set changed) rechecks too; the
 * conn_limit slots the kept connections hold are not counted twice.
 */
unsigned ctg_pipeline_set_rules(struct ctg_pipeline *p, struct ctg_ruleset *rules,
    bool recheck, uint64_t now_us);

/*
 * The cached verdict of c meters or logs every packet (a rate_limit, log
 * "flow"): its packets must keep coming here, so it is never offloaded.
 */
bool ctg_pipeline_conn_metered(const struct ctg_conn *c);

/* Tracker end callback: write the connection summary. */
void ctg_pipeline_conn_end(void *arg, const struct ctg_conn *c,
    const struct ctg_conn_record *rec);

/* Write an event record (start, stop, reloads) through this pipeline's ring. */
void ctg_pipeline_event(struct ctg_pipeline *p, enum ctg_event_kind kind,
    uint64_t now_us, uint64_t count, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
