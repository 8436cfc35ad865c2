/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit records: fixed-size copies of what the packet path decided, handed
 * to the audit log writer. They own no pointers, so the packet path fills
 * one with plain stores and never allocates or waits.
 */
#ifndef CTGUARD_RECORD_H
#define CTGUARD_RECORD_H

#include <stdint.h>
#include <string.h>

#include "ctguard/packet.h"
#include "ctguard/types.h"

/* Which record a log policy mode would write. */
enum ctg_log_level {
	CTG_LOG_INHERIT = -1,   /* rule option absent: use the global policy */
	CTG_LOG_NONE = 0,
	CTG_LOG_DROPS,
	CTG_LOG_DECISIONS,
	CTG_LOG_ALL,
};

#define CTG_RULE_NAME_MAX 48
#define CTG_HISTORY_MAX 24

/*
 * Copy src into dst[size], cut and terminated like snprintf("%s") but
 * without its cost: this runs for every logged packet and ended connection.
 */
static inline void
ctg_copy_str(char *dst, size_t size, const char *src)
{
	size_t n;

	if (size == 0)
		return;
	n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

struct ctg_verdict_record {
	uint64_t time_us;       /* Unix time, microseconds */
	uint64_t conn_id;       /* 0 when no connection exists */
	uint64_t packet_no;     /* NFQUEUE packet id live, frame number in replay */
	struct ctg_tuple tuple; /* as the packet travelled */
	uint16_t reason;        /* enum ctg_reason */
	uint16_t queue;
	uint8_t direction;      /* 0 original, 1 reply */
	uint8_t tcp_flags;
	uint8_t ctstate;        /* enum ctg_ctstate */
	uint8_t verdict;        /* enum ctg_action */
	uint8_t orig_before, resp_before;       /* enum ctg_tcp_state */
	uint8_t orig_after, resp_after;
	uint32_t length;        /* IP length */
	char rule[CTG_RULE_NAME_MAX];           /* "" when no rule */
};

struct ctg_conn_record {
	uint64_t conn_id;
	uint64_t first_us;
	uint64_t last_us;
	struct ctg_tuple tuple; /* originator to responder */
	uint64_t pkts[2];       /* [0] originator, [1] responder */
	uint64_t bytes[2];
	uint8_t orig_state;     /* enum ctg_tcp_state, final */
	uint8_t resp_state;
	uint8_t end_reason;     /* enum ctg_end_reason */
	char conn_state[8];     /* Zeek-style: S0, S1, SF, REJ, RSTO ... */
	char history[CTG_HISTORY_MAX];
	char rule[CTG_RULE_NAME_MAX];
};

enum ctg_event_kind {
	CTG_EV_START,
	CTG_EV_STOP,
	CTG_EV_CONFIG_LOAD,
	CTG_EV_RULES_LOAD,
	CTG_EV_RELOAD_FAILED,
	CTG_EV_LOG_GAP,
	CTG_EV_COUNTERS,
	CTG_EV_WARNING,
	CTG_EV_SET_CHANGE,      /* a dynamic set changed: count = entries */
	CTG_EV_HA_ROLE,         /* ctguard ha primary|backup|fault */
	CTG_EV_HA_MEMBER_JOINED, /* a gateway joined the sync group: count = members */
	CTG_EV_HA_MEMBER_LEFT,
	CTG_EV_HA_BULK_RECEIVED, /* the table of a member, on joining: count = entries */
};

struct ctg_event_record {
	uint64_t time_us;
	uint8_t kind;           /* enum ctg_event_kind */
	uint64_t count;         /* CTG_EV_LOG_GAP: records lost */
	char detail[256];
};

const char *ctg_ctstate_name(enum ctg_ctstate s);
const char *ctg_action_name(enum ctg_action a);
const char *ctg_tcp_state_name(enum ctg_tcp_state s);
const char *ctg_end_reason_name(enum ctg_end_reason r);
const char *ctg_event_kind_name(enum ctg_event_kind k);
const char *ctg_log_level_name(enum ctg_log_level l);
int ctg_log_level_parse(const char *s, enum ctg_log_level *out);

#endif
