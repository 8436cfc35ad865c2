/*
 * The daemon's counters as text: the `stats` control command (plain or
 * Prometheus exposition) and the SIGUSR1 dump to the log. Every worker's
 * counters are read under its lock and added up.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "ctguard/reason.h"
#include "daemon-int.h"

void
ctgd_stats_text(struct daemon *dm, struct ctg_strbuf *o, bool prom)
{
	uint64_t verdicts[CTG_ACT_COUNT] = { 0 }, reasons[CTG_R_COUNT] = { 0 };
	uint64_t live = 0, max = 0, evicted = 0, refused = 0;
	struct ctg_auditlog_stats ls;
	uint64_t *hits = NULL;
	unsigned nhits = 0;

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
		pthread_mutex_unlock(&w->lock);
		ctg_nfq_stats(w->nfq, &qs);
		live += ts.live;
		max += ts.max;
		evicted += ts.evicted;
		refused += ts.refused;
		if (prom) {
			ctg_strbuf_printf(o, "ctguard_queue_packets_total{queue=\"%u\"} %" PRIu64 "\n", w->queue, qs.packets);
			ctg_strbuf_printf(o, "ctguard_queue_enobufs_total{queue=\"%u\"} %" PRIu64 "\n", w->queue, qs.enobufs);
			ctg_strbuf_printf(o, "ctguard_queue_lost_estimate_total{queue=\"%u\"} %" PRIu64 "\n", w->queue, qs.id_gaps);
		} else {
			ctg_strbuf_printf(o, "queue %u packets %" PRIu64 " enobufs %" PRIu64 " id_gaps %" PRIu64
			    " send_errors %" PRIu64 " rejects_sent %" PRIu64 " reject_errors %" PRIu64
			    " icmp_related_other_queue %" PRIu64 " no_payload %" PRIu64 "\n",
			    w->queue, qs.packets, qs.enobufs, qs.id_gaps, qs.send_errors, rejects,
			    reject_errors, foreign, no_payload);
		}
	}
	pthread_mutex_lock(&dm->w[0].lock);
	for (int r = -1; hits && r < (int)nhits - 1; r++) {
		const char *name = ctg_ruleset_rule_name(dm->w[0].pl.rules, r);

		if (prom)
			ctg_strbuf_printf(o, "ctguard_rule_hits_total{rule=\"%s\"} %" PRIu64 "\n",
			    name ? name : "", hits[r + 1]);
		else
			ctg_strbuf_printf(o, "rule %-30s %" PRIu64 "\n", name ? name : "", hits[r + 1]);
	}
	pthread_mutex_unlock(&dm->w[0].lock);
	free(hits);
	ctg_auditlog_stats(dm->log, &ls);
	if (prom) {
		for (int a = 0; a < CTG_ACT_COUNT; a++)
			ctg_strbuf_printf(o, "ctguard_verdicts_total{verdict=\"%s\"} %" PRIu64 "\n",
			    ctg_action_name(a), verdicts[a]);
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			if (reasons[r])
				ctg_strbuf_printf(o, "ctguard_reason_total{reason=\"%s\"} %" PRIu64 "\n",
				    ctg_reason_name(r), reasons[r]);
		ctg_strbuf_printf(o, "ctguard_connections %" PRIu64 "\nctguard_connections_max %" PRIu64 "\n", live, max);
		ctg_strbuf_printf(o, "ctguard_evictions_total %" PRIu64 "\nctguard_refused_total %" PRIu64 "\n", evicted, refused);
		ctg_strbuf_printf(o, "ctguard_log_written_total %" PRIu64 "\nctguard_log_dropped_total %" PRIu64 "\n",
		    ls.written, ls.dropped);
	} else {
		for (int a = 0; a < CTG_ACT_COUNT; a++)
			ctg_strbuf_printf(o, "verdict %-8s %" PRIu64 "\n", ctg_action_name(a), verdicts[a]);
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			if (reasons[r])
				ctg_strbuf_printf(o, "reason %-28s %" PRIu64 "\n", ctg_reason_name(r), reasons[r]);
		ctg_strbuf_printf(o, "connections %" PRIu64 "/%" PRIu64 " evicted %" PRIu64 " refused %" PRIu64 "\n",
		    live, max, evicted, refused);
		ctg_strbuf_printf(o, "log written %" PRIu64 " dropped %" PRIu64 " pending %" PRIu64 " degraded %s\n",
		    ls.written, ls.dropped, ls.pending, ls.degraded ? "yes" : "no");
	}
	struct ctgd_nat_stats ns;
	ctgd_nat_stats(dm, &ns);
	if (!ns.active)
		return;
	if (prom)
		ctg_strbuf_printf(o, "ctguard_nat_mappings_total %" PRIu64 "\nctguard_nat_lost_total %" PRIu64 "\n",
		    ns.mappings, ns.lost + ns.overruns);
	else
		ctg_strbuf_printf(o, "nat mappings %" PRIu64 " ended %" PRIu64 " lost %" PRIu64
		    " overruns %" PRIu64 " db_errors %" PRIu64 "\n",
		    ns.mappings, ns.ended, ns.lost, ns.overruns, ns.db_errors);
}
