/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's counters as text: the `stats` control command (plain or
 * Prometheus exposition) and the SIGUSR1 dump to the log. Every worker's
 * counters are read under its lock and added up.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/dynset.h"
#include "ctguard/reason.h"
#include "daemon-int.h"

static void stats_prom(struct daemon *dm, struct ctg_strbuf *o);

void
ctgd_stats_text(struct daemon *dm, struct ctg_strbuf *o, bool prom)
{
	uint64_t verdicts[CTG_ACT_COUNT] = { 0 }, reasons[CTG_R_COUNT] = { 0 };
	uint64_t live = 0, max = 0, evicted = 0, refused = 0;
	struct ctg_auditlog_stats ls;
	uint64_t *hits = NULL;
	unsigned nhits = 0;

	if (prom) {
		stats_prom(dm, o);
		return;
	}
	/* every worker runs a copy of one ruleset: add their hit counters up */
	pthread_mutex_lock(&dm->w[0].lock);
	if (dm->w[0].pl.rules) {
		nhits = ctg_ruleset_count(dm->w[0].pl.rules) + 1;
		hits = calloc(nhits, sizeof(*hits));
	}
	pthread_mutex_unlock(&dm->w[0].lock);

	for (unsigned i = 0; i < dm->nw; i++) {
		struct worker *w = &dm->w[i];
		struct ctg_tracker_stats ts;
		struct ctg_nfq_stats qs;

		pthread_mutex_lock(&w->lock);
		ctg_tracker_stats(w->pl.tracker, &ts);
		for (int a = 0; a < CTG_ACT_COUNT; a++)
			verdicts[a] += w->pl.st.verdicts[a];
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			reasons[r] += w->pl.st.reasons[r];
		/*
		 * Not added to the log's dropped count: each failed put is
		 * already counted there, by the ring that refused it.
		 */
		if (hits && w->pl.rules && ctg_ruleset_count(w->pl.rules) + 1 == nhits)
			for (int r = -1; r < (int)nhits - 1; r++)
				hits[r + 1] += ctg_ruleset_hits(w->pl.rules, r);
		uint64_t rejects = w->rejects_sent, reject_errors = w->reject_errors;
		uint64_t foreign = w->related_elsewhere, no_payload = w->no_payload;
		uint64_t related_busy = w->related_busy, offloads = w->offloads;
		pthread_mutex_unlock(&w->lock);
		ctg_nfq_stats(w->nfq, &qs);
		live += ts.live;
		max += ts.max;
		evicted += ts.evicted;
		refused += ts.refused;
		{
			ctg_strbuf_printf(o, "queue %u packets %" PRIu64 " enobufs %" PRIu64 " id_gaps %" PRIu64
			    " send_errors %" PRIu64 " rejects_sent %" PRIu64 " reject_errors %" PRIu64
			    " icmp_related_other_queue %" PRIu64 " icmp_related_busy %" PRIu64
			    " no_payload %" PRIu64 " offloads %" PRIu64 "\n",
			    w->queue, qs.packets, qs.enobufs, qs.id_gaps, qs.send_errors, rejects,
			    reject_errors, foreign, related_busy, no_payload, offloads);
		}
	}
	pthread_mutex_lock(&dm->w[0].lock);
	for (int r = -1; hits && r < (int)nhits - 1; r++) {
		const char *name = ctg_ruleset_rule_name(dm->w[0].pl.rules, r);

		ctg_strbuf_printf(o, "rule %-30s %" PRIu64 "\n", name ? name : "", hits[r + 1]);
	}
	pthread_mutex_unlock(&dm->w[0].lock);
	free(hits);
	ctg_auditlog_stats(dm->log, &ls);
	{
		for (int a = 0; a < CTG_ACT_COUNT; a++)
			ctg_strbuf_printf(o, "verdict %-8s %" PRIu64 "\n", ctg_action_name(a), verdicts[a]);
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			if (reasons[r])
				ctg_strbuf_printf(o, "reason %-28s %" PRIu64 "\n", ctg_reason_name(r), reasons[r]);
		ctg_strbuf_printf(o, "connections %" PRIu64 "/%" PRIu64 " evicted %" PRIu64 " refused %" PRIu64 "\n",
		    live, max, evicted, refused);
		ctg_strbuf_printf(o, "log written %" PRIu64 " dropped %" PRIu64 " pending %" PRIu64 " degraded %s\n",
		    ls.written, ls.dropped, ls.pending, ls.degraded ? "yes" : "no");
		if (dm->cfg->log_export)
			ctg_strbuf_printf(o, "log exported %" PRIu64 " export_dropped %" PRIu64 "\n",
			    ls.exported, ls.export_dropped);
	}
	struct ctgd_nat_stats ns;
	ctgd_nat_stats(dm, &ns);
	if (ns.active)
		ctg_strbuf_printf(o, "nat mappings %" PRIu64 " ended %" PRIu64 " lost %" PRIu64
		    " overruns %" PRIu64 " db_errors %" PRIu64 "\n",
		    ns.mappings, ns.ended, ns.lost, ns.overruns, ns.db_errors);
}

/* --- Prometheus text exposition ------------------------------------------------ */

/*
 * The format the Prometheus project documents (exposition_formats.md, and
 * its naming guide): every family once, HELP then TYPE then all of its
 * samples together; counters end in _total; label values escaped. A
 * family with per-queue samples is therefore written queue by queue from
 * a snapshot taken first, not interleaved with other families.
 */
struct qsnap {
	uint16_t queue;
	struct ctg_nfq_stats qs;
	uint64_t verdicts[CTG_ACT_COUNT], reasons[CTG_R_COUNT];
	uint64_t rejects, reject_errors, foreign, related_busy, no_payload, offloads;
	uint64_t live, max, evicted, refused;
};

static void
family(struct ctg_strbuf *o, const char *name, const char *type, const char *help)
{
	ctg_strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label(struct ctg_strbuf *o, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			ctg_strbuf_printf(o, "\\%c", *v);
		else if (*v == '\n')
			ctg_strbuf_printf(o, "\\n");
		else
			ctg_strbuf_printf(o, "%c", *v);
	}
}

#define PER_QUEUE(name, type, help, field) do { \
	family(o, name, type, help); \
	for (unsigned i = 0; i < n; i++) \
		ctg_strbuf_printf(o, name "{queue=\"%u\"} %" PRIu64 "\n", q[i].queue, \
		    (uint64_t)(q[i].field)); \
} while (0)

static void
stats_prom(struct daemon *dm, struct ctg_strbuf *o)
{
	struct qsnap *q = calloc(dm->nw, sizeof(*q));
	struct ctg_auditlog_stats ls;
	uint64_t *hits = NULL, *sethits = NULL;
	unsigned n = dm->nw, nhits = 0, nsets = 0;

	if (q == NULL) {
		ctg_strbuf_printf(o, "# out of memory\n");
		return;
	}
	pthread_mutex_lock(&dm->w[0].lock);
	if (dm->w[0].pl.rules) {
		nhits = ctg_ruleset_count(dm->w[0].pl.rules) + 1;
		nsets = ctg_ruleset_set_count(dm->w[0].pl.rules);
		hits = calloc(nhits, sizeof(*hits));
		sethits = calloc(nsets + 1, sizeof(*sethits));
	}
	pthread_mutex_unlock(&dm->w[0].lock);
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &dm->w[i];
		struct ctg_tracker_stats ts;
		const struct ctg_ruleset *rs;

		pthread_mutex_lock(&w->lock);
		rs = w->pl.rules;
		ctg_tracker_stats(w->pl.tracker, &ts);
		q[i].queue = w->queue;
		memcpy(q[i].verdicts, w->pl.st.verdicts, sizeof(q[i].verdicts));
		memcpy(q[i].reasons, w->pl.st.reasons, sizeof(q[i].reasons));
		q[i].rejects = w->rejects_sent;
		q[i].reject_errors = w->reject_errors;
		q[i].foreign = w->related_elsewhere;
		q[i].no_payload = w->no_payload;
		q[i].related_busy = w->related_busy;
		q[i].offloads = w->offloads;
		/* copies of one ruleset: add up, unless a reload is half way through */
		if (hits && rs && ctg_ruleset_count(rs) + 1 == nhits)
			for (int r = -1; r < (int)nhits - 1; r++)
				hits[r + 1] += ctg_ruleset_hits(rs, r);
		if (sethits && rs && ctg_ruleset_set_count(rs) == nsets)
			for (unsigned k = 0; k < nsets; k++)
				sethits[k] += ctg_ruleset_set_hits(rs, k);
		pthread_mutex_unlock(&w->lock);
		ctg_nfq_stats(w->nfq, &q[i].qs);
		q[i].live = ts.live;
		q[i].max = ts.max;
		q[i].evicted = ts.evicted;
		q[i].refused = ts.refused;
	}

	family(o, "ctguard_up", "gauge", "1 when ctguardd answered this scrape.");
	ctg_strbuf_printf(o, "ctguard_up 1\n");
	family(o, "ctguard_uptime_seconds", "gauge", "Seconds since ctguardd started.");
	ctg_strbuf_printf(o, "ctguard_uptime_seconds %" PRIu64 "\n",
	    (ctgd_clock_us() - dm->started_us) / 1000000);
	family(o, "ctguard_verdicts_total", "counter", "Packets judged, by queue and verdict.");
	for (unsigned i = 0; i < n; i++)
		for (int a = 0; a < CTG_ACT_COUNT; a++)
			ctg_strbuf_printf(o, "ctguard_verdicts_total{queue=\"%u\",verdict=\"%s\"} %"
			    PRIu64 "\n", q[i].queue, ctg_action_name(a), q[i].verdicts[a]);
	family(o, "ctguard_reasons_total", "counter",
	    "Packets by the reason code of their verdict, by queue (codes seen so far).");
	for (unsigned i = 0; i < n; i++)
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			if (q[i].reasons[r])
				ctg_strbuf_printf(o, "ctguard_reasons_total{queue=\"%u\",reason=\"%s\"} %"
				    PRIu64 "\n", q[i].queue, ctg_reason_name(r), q[i].reasons[r]);
	PER_QUEUE("ctguard_queue_packets_total", "counter", "Packets the kernel queued to us.",
	    qs.packets);
	PER_QUEUE("ctguard_queue_enobufs_total", "counter",
	    "Times the queue socket overflowed (packets lost in the kernel).", qs.enobufs);
	PER_QUEUE("ctguard_queue_lost_estimate_total", "counter",
	    "Packets lost, estimated from gaps in the packet ids.", qs.id_gaps);
	PER_QUEUE("ctguard_queue_send_errors_total", "counter", "Verdicts the kernel refused.",
	    qs.send_errors);
	PER_QUEUE("ctguard_rejects_sent_total", "counter", "RSTs and ICMP errors sent by reject.",
	    rejects);
	PER_QUEUE("ctguard_reject_errors_total", "counter", "Reject replies that failed to send.",
	    reject_errors);
	PER_QUEUE("ctguard_icmp_related_other_queue_total", "counter",
	    "ICMP errors whose flow another queue tracks.", foreign);
	PER_QUEUE("ctguard_icmp_related_busy_total", "counter",
	    "ICMP errors not matched because the queue tracking their flow was busy (INVALID).",
	    related_busy);
	PER_QUEUE("ctguard_no_payload_total", "counter", "Packets queued without content (dropped).",
	    no_payload);
	PER_QUEUE("ctguard_offloads_total", "counter",
	    "Connections whose data was handed to the kernel (offload mode).", offloads);
	PER_QUEUE("ctguard_connections", "gauge", "Connections tracked now.", live);
	PER_QUEUE("ctguard_connections_max", "gauge", "Size of the connection table.", max);
	PER_QUEUE("ctguard_evictions_total", "counter", "Connections evicted from a full table.",
	    evicted);
	PER_QUEUE("ctguard_refused_total", "counter", "New connections refused by a full table.",
	    refused);
	family(o, "ctguard_rule_hits_total", "counter",
	    "Packets each rule matched (rule=\"default\": the default policy), since the last reload.");
	pthread_mutex_lock(&dm->w[0].lock);
	for (int r = -1; hits && r < (int)nhits - 1; r++) {
		const char *name = ctg_ruleset_rule_name(dm->w[0].pl.rules, r);

		ctg_strbuf_printf(o, "ctguard_rule_hits_total{rule=\"");
		label(o, name ? name : "");
		ctg_strbuf_printf(o, "\"} %" PRIu64 "\n", hits[r + 1]);
	}
	family(o, "ctguard_set_hits_total", "counter",
	    "Lookups that matched through each named set, since the last reload.");
	for (unsigned k = 0; sethits && k < nsets; k++) {
		ctg_strbuf_printf(o, "ctguard_set_hits_total{set=\"");
		label(o, ctg_ruleset_set_name(dm->w[0].pl.rules, k));
		ctg_strbuf_printf(o, "\"} %" PRIu64 "\n", sethits[k]);
	}
	pthread_mutex_unlock(&dm->w[0].lock);
	if (dm->dynsets) {
		family(o, "ctguard_set_entries", "gauge", "Entries in each dynamic set.");
		for (unsigned k = 0; k < ctg_dynsets_count(dm->dynsets); k++) {
			struct ctg_dynset *s = ctg_dynsets_at(dm->dynsets, k);

			if (!ctg_dynset_declared(s))
				continue;
			ctg_strbuf_printf(o, "ctguard_set_entries{set=\"");
			label(o, ctg_dynset_name(s));
			ctg_strbuf_printf(o, "\"} %zu\n", ctg_dynset_size(s));
		}
	}
	family(o, "ctguard_reloads_total", "counter", "Rule reloads that succeeded.");
	ctg_strbuf_printf(o, "ctguard_reloads_total %" PRIu64 "\n", dm->reloads);
	family(o, "ctguard_reload_failures_total", "counter", "Rule reloads that failed.");
	ctg_strbuf_printf(o, "ctguard_reload_failures_total %" PRIu64 "\n", dm->reload_failures);
	ctg_auditlog_stats(dm->log, &ls);
	family(o, "ctguard_log_written_total", "counter", "Audit records written to the database.");
	ctg_strbuf_printf(o, "ctguard_log_written_total %" PRIu64 "\n", ls.written);
	family(o, "ctguard_log_dropped_total", "counter",
	    "Audit records lost (queue full or database unwritable).");
	/* the rings' refusals are in ls.dropped already: counted once */
	ctg_strbuf_printf(o, "ctguard_log_dropped_total %" PRIu64 "\n", ls.dropped);
	family(o, "ctguard_log_pending", "gauge", "Audit records waiting to be written.");
	ctg_strbuf_printf(o, "ctguard_log_pending %" PRIu64 "\n", ls.pending);
	family(o, "ctguard_log_degraded", "gauge", "1 while the audit log cannot keep up or write.");
	ctg_strbuf_printf(o, "ctguard_log_degraded %d\n", ls.degraded ? 1 : 0);
	if (dm->cfg->log_export) {
		family(o, "ctguard_log_exported_total", "counter",
		    "Decisions sent to syslog as JSON lines (log.export).");
		ctg_strbuf_printf(o, "ctguard_log_exported_total %" PRIu64 "\n", ls.exported);
		family(o, "ctguard_log_export_dropped_total", "counter",
		    "Decisions not sent to syslog: its socket was full or absent.");
		ctg_strbuf_printf(o, "ctguard_log_export_dropped_total %" PRIu64 "\n",
		    ls.export_dropped);
	}
	struct ctgd_nat_stats ns;
	ctgd_nat_stats(dm, &ns);
	if (ns.active) {
		family(o, "ctguard_nat_mappings_total", "counter",
		    "NAT mappings learned from the kernel's conntrack events.");
		ctg_strbuf_printf(o, "ctguard_nat_mappings_total %" PRIu64 "\n", ns.mappings);
		family(o, "ctguard_nat_lost_total", "counter",
		    "NAT mappings not recorded (events lost or overrun).");
		ctg_strbuf_printf(o, "ctguard_nat_lost_total %" PRIu64 "\n", ns.lost + ns.overruns);
	}
	free(hits);
	free(sethits);
	free(q);
}
