/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-packet pipeline shared by the live daemon and offline replay.
 *
 * Rules run when a connection starts, and for INVALID and RELATED packets;
 * the verdict is then kept on the connection, so its established traffic
 * never walks the rule list again (a rule's rate_limit still meters every
 * packet the connection's source sends). A new connection whose first packet the
 * rules refuse is forgotten at once, as the kernel's conntrack forgets an
 * unconfirmed entry: only connections that passed a packet are tracked and
 * summarised in the audit log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include "ctguard/pipeline.h"

/* Bit kept with the cached action: log every packet of this connection. */
#define ACTION_LOG_FLOW 0x80
/* ... and: it holds one of its rule's conn_limit slots */
#define ACTION_COUNTED 0x40
/* ... and: its rule has a rate_limit, which meters every packet it sends */
#define ACTION_RATED 0x20
#define ACTION_MASK 0x03

int
ctg_pipeline_init(struct ctg_pipeline *p, const struct ctg_config *cfg,
    struct ctg_ruleset *rules, struct ctg_auditlog *log, unsigned producer,
    uint16_t queue, char *err, size_t errlen)
{
	struct ctg_tracker_config tc;

	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->rules = rules;
	p->log = log;
	p->producer = producer;
	p->queue = queue;
	p->strict_audit = cfg->strict_audit;
	p->log_policy = log ? cfg->log_policy : CTG_LOG_NONE;
	ctg_tracker_config_from(&tc, cfg);
	p->tracker = ctg_tracker_new(&tc, ctg_pipeline_conn_end, p);
	if (!p->tracker) {
		snprintf(err, errlen, "cannot allocate a connection table of %u entries",
		    cfg->max_connections);
		return -1;
	}
	return 0;
}

void
ctg_pipeline_fini(struct ctg_pipeline *p)
{
	ctg_tracker_free(p->tracker);
	p->tracker = NULL;
}

static const char *
rule_name(const struct ctg_pipeline *p, int idx)
{
	const char *name;

	if (!p->rules)
		return "";
	name = ctg_ruleset_rule_name(p->rules, idx);
	return name ? name : "";
}

static bool
want_log(const struct ctg_pipeline *p, const struct ctg_decision *d,
    bool evaluated, enum ctg_rule_log rule_log)
{
	if (!p->log)
		return false;
	switch (rule_log) {
	case CTG_RULELOG_NONE:
		return false;
	case CTG_RULELOG_VERDICT:
		return evaluated;
	case CTG_RULELOG_FLOW:
		return true;
	case CTG_RULELOG_INHERIT:
		break;
	}
	switch (p->log_policy) {
	case CTG_LOG_ALL:
		return true;
	case CTG_LOG_DECISIONS:
		return d->tr.created || d->action != CTG_ACT_ACCEPT ||
		    d->tr.ctstate == CTG_CT_INVALID;
	case CTG_LOG_DROPS:
		return d->action != CTG_ACT_ACCEPT;
	default:
		return false;
	}
}

static void
fill_verdict(const struct ctg_pipeline *p, const struct ctg_pkt_in *in,
    const struct ctg_decision *d, struct ctg_verdict_record *r)
{
	memset(r, 0, sizeof(*r));
	r->time_us = in->now_us + (uint64_t)p->wall_shift_us;
	r->conn_id = d->tr.conn ? d->tr.conn->id : 0;
	r->packet_no = in->packet_no;
	r->tuple = d->pkt.tuple;
	r->reason = (uint16_t)d->reason;
	r->queue = p->queue;
	r->direction = d->tr.dir;
	r->tcp_flags = d->pkt.tuple.proto == 6 && d->decode == CTG_R_NONE ? d->pkt.tcp.flags : 0;
	r->ctstate = (uint8_t)d->tr.ctstate;
	r->verdict = (uint8_t)d->action;
	r->orig_before = d->tr.before[0];
	r->resp_before = d->tr.before[1];
	r->orig_after = d->tr.after[0];
	r->resp_after = d->tr.after[1];
	r->length = d->pkt.ip_len ? d->pkt.ip_len : in->wire_len;
	ctg_copy_str(r->rule, sizeof(r->rule), d->rule ? d->rule : "");
}

void
ctg_pipeline_process(struct ctg_pipeline *p, const struct ctg_pkt_in *in,
    struct ctg_decision *d)
{
	struct ctg_rule_result rr = { 0 };
	enum ctg_rule_log rule_log = CTG_RULELOG_INHERIT;
	bool evaluated = false;
	struct ctg_conn *c;

	memset(&d->tr, 0, sizeof(d->tr));
	d->rule = "";
	d->logged = false;
	p->st.packets++;

	d->decode = ctg_decode_ip(&d->pkt, in->buf, in->caplen, in->wire_len);
	if (d->decode == CTG_R_NONE && p->cfg->verify_checksums)
		d->decode = ctg_verify_checksums(&d->pkt, in->buf);
	ctg_tracker_packet(p->tracker, &d->pkt, d->decode, in->now_us, &d->tr);
	c = d->tr.conn;
	d->reason = d->tr.reason;

	if (c && (c->flags & CTG_CONN_VERDICT) && !d->tr.created &&
	    (d->tr.ctstate == CTG_CT_NEW || d->tr.ctstate == CTG_CT_ESTABLISHED)) {
		d->action = (enum ctg_action)(c->action & ACTION_MASK);
		d->rule = rule_name(p, c->rule_index);
		if (c->action & ACTION_LOG_FLOW)
			rule_log = CTG_RULELOG_FLOW;
		if ((c->action & ACTION_RATED) && d->tr.dir == 0 &&
		    !ctg_ruleset_rate_check(p->rules, c->rule_index,
		    &d->pkt.tuple, in->now_us, &d->action))
			d->reason = CTG_R_RATE_LIMITED;
		p->st.cached++;
	} else if (p->rules) {
		struct ctg_rule_input ri = {
			.pkt = &d->pkt,
			.ctstate = d->tr.ctstate,
			.reason = d->tr.reason,
			.iif = in->iif ? in->iif : "",
			.oif = in->oif ? in->oif : "",
			.now_us = in->now_us,
		};

		ctg_ruleset_eval(p->rules, &ri, &rr);
		evaluated = true;
		d->action = rr.action;
		d->rule = rr.rule_name;
		rule_log = rr.log;
		if (rr.reason != CTG_R_NONE &&
		    (d->reason == CTG_R_NONE || rr.reason == CTG_R_RATE_LIMITED ||
		    rr.reason == CTG_R_CONN_LIMITED))
			d->reason = rr.reason;
		if (c && d->action == CTG_ACT_ACCEPT &&
		    (d->tr.ctstate == CTG_CT_NEW || d->tr.ctstate == CTG_CT_ESTABLISHED)) {
			c->flags |= CTG_CONN_VERDICT;
			c->action = (uint8_t)(d->action |
			    (rr.log == CTG_RULELOG_FLOW ? ACTION_LOG_FLOW : 0) |
			    (rr.conn_counted ? ACTION_COUNTED : 0) |
			    (rr.rate_metered ? ACTION_RATED : 0));
			c->rule_index = (int16_t)rr.rule_index;
			if (rr.timeouts)
				ctg_tracker_set_timeouts(p->tracker, c, rr.timeouts);
		}
	} else {
		/* no ruleset at all: the stateful-only policy */
		d->action = d->tr.ctstate == CTG_CT_INVALID ? CTG_ACT_DROP : CTG_ACT_ACCEPT;
	}

	/*
	 * A RST answers a segment of a connection we do not know: a pick-up
	 * (loose) or a segment that is not a plain SYN (strict). After a crash or a
	 * restart without a snapshot those are the live connections of
	 * before, and a RST would cut them: drop silently instead.
	 */
	if (d->action == CTG_ACT_REJECT && d->pkt.tuple.proto == IPPROTO_TCP &&
	    d->decode == CTG_R_NONE &&
	    (d->pkt.tcp.flags & (CTG_TH_SYN | CTG_TH_ACK)) != CTG_TH_SYN &&
	    ((c && d->tr.created && (c->flags & CTG_CONN_MIDSTREAM)) ||
	    d->tr.reason == CTG_R_TCP_NEW_NOT_SYN || d->tr.reason == CTG_R_TCP_NO_CONN)) {
		d->action = CTG_ACT_DROP;
		d->reason = CTG_R_REJECT_SUPPRESSED;
	}

	if (want_log(p, d, evaluated, rule_log)) {
		struct ctg_verdict_record vr;

		fill_verdict(p, in, d, &vr);
		if (ctg_auditlog_put_verdict(p->log, p->producer, &vr))
			d->logged = true;
		else {
			p->st.log_dropped++;
			if (p->strict_audit) {
				/* an unlogged packet must not pass */
				d->action = CTG_ACT_DROP;
				d->reason = CTG_R_AUDIT_OVERFLOW;
			}
		}
	}

	/* a connection-limit slot for a connection that will not be tracked */
	if (evaluated && rr.conn_counted && (!c || d->action != CTG_ACT_ACCEPT))
		ctg_ruleset_conn_release(p->rules, rr.rule_index, &d->pkt.tuple);

	if (c) {
		if (d->action == CTG_ACT_ACCEPT)
			ctg_tracker_account(p->tracker, c, d->tr.dir,
			    d->pkt.ip_len ? d->pkt.ip_len : in->wire_len);
		else if (d->tr.created) {
			ctg_tracker_unconfirm(p->tracker, c);
			d->tr.conn = NULL;
		}
	}
	p->st.verdicts[d->action]++;
	if ((unsigned)d->reason < CTG_R_COUNT)
		p->st.reasons[d->reason]++;
}

bool
ctg_pipeline_conn_metered(const struct ctg_conn *c)
{
	return (c->action & (ACTION_RATED | ACTION_LOG_FLOW)) != 0;
}

void
ctg_pipeline_conn_end(void *arg, const struct ctg_conn *c,
    const struct ctg_conn_record *rec)
{
	struct ctg_pipeline *p = arg;
	struct ctg_conn_record r = *rec;

	r.first_us += (uint64_t)p->wall_shift_us;
	r.last_us += (uint64_t)p->wall_shift_us;
	if (p->rules && c->rule_index >= 0 && (c->action & ACTION_COUNTED))
		ctg_ruleset_conn_release(p->rules, c->rule_index, &c->tuple);
	if (c->flags & CTG_CONN_VERDICT)
		ctg_copy_str(r.rule, sizeof(r.rule), rule_name(p, c->rule_index));
	if (p->on_conn_end)
		p->on_conn_end(p->on_conn_end_arg, &r);
	if (!p->log || p->log_policy == CTG_LOG_NONE)
		return;
	if (!ctg_auditlog_put_conn(p->log, p->producer, &r))
		p->st.log_dropped++;
}

struct recheck_ctx {
	struct ctg_pipeline *p;
	bool same;              /* the same ruleset again: a dynamic set changed */
	uint64_t now_us;
	unsigned cut;
	bool recheck;
};

/* Ask the new rules about c as if its first packet came again. */
static int
recheck_conn(void *arg, struct ctg_conn *c)
{
	struct recheck_ctx *x = arg;
	struct ctg_packet pkt;
	struct ctg_rule_result rr;

	if (!(c->flags & CTG_CONN_VERDICT))
		return 0;
	if (!x->recheck) {
		/* rule indices belong to the old ruleset; keep the verdict only */
		c->rule_index = -1;
		return 0;
	}
	/* asked again by the rules that counted it: give its conn_limit slot back first */
	if (x->same && c->rule_index >= 0 && (c->action & ACTION_COUNTED)) {
		ctg_ruleset_conn_release(x->p->rules, c->rule_index, &c->tuple);
		c->action &= (uint8_t)~ACTION_COUNTED;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.tuple = c->tuple;
	if (c->tuple.proto == 6)
		pkt.tcp.flags = CTG_TH_SYN;
	if (c->tuple.proto == 1 || c->tuple.proto == 58) {
		pkt.icmp.is_query = true;
		pkt.icmp.type = c->tuple.family == 4 ? 8 : 128;
		pkt.tuple.dport = 0;
	}
	struct ctg_rule_input ri = {
		.pkt = &pkt,
		.ctstate = CTG_CT_NEW,
		.reason = CTG_R_NONE,
		.iif = NULL,
		.oif = NULL,
		.now_us = x->now_us,
		.recheck = true,
	};
	ctg_ruleset_eval(x->p->rules, &ri, &rr);
	if (rr.action != CTG_ACT_ACCEPT) {
		c->flags &= ~CTG_CONN_VERDICT;
		c->rule_index = -1;
		ctg_tracker_end(x->p->tracker, c, CTG_END_FLUSHED, x->now_us);
		x->cut++;
		return 0;
	}
	c->rule_index = (int16_t)rr.rule_index;
	c->action = (uint8_t)(CTG_ACT_ACCEPT |
	    (rr.log == CTG_RULELOG_FLOW ? ACTION_LOG_FLOW : 0) |
	    (rr.conn_counted ? ACTION_COUNTED : 0) |
	    (rr.rate_metered ? ACTION_RATED : 0));
	return 0;
}

unsigned
ctg_pipeline_set_rules(struct ctg_pipeline *p, struct ctg_ruleset *rules,
    bool recheck, uint64_t now_us)
{
	struct recheck_ctx x = { .p = p, .now_us = now_us, .recheck = recheck,
	    .same = p->rules == rules };

	p->rules = rules;
	if (rules)
		ctg_tracker_foreach(p->tracker, recheck_conn, &x);
	return x.cut;
}

void
ctg_pipeline_event(struct ctg_pipeline *p, enum ctg_event_kind kind,
    uint64_t now_us, uint64_t count, const char *fmt, ...)
{
	struct ctg_event_record ev;
	va_list ap;

	if (!p->log)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.time_us = now_us;
	ev.kind = (uint8_t)kind;
	ev.count = count;
	va_start(ap, fmt);
	vsnprintf(ev.detail, sizeof(ev.detail), fmt, ap);
	va_end(ap);
	if (!ctg_auditlog_put_event(p->log, p->producer, &ev))
		p->st.log_dropped++;
}
