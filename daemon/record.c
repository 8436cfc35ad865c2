/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names of the enumerations that reach users: in the audit log, in replay
 * output, in rule files. Like reason names they are an interface.
 */
#include <string.h>

#include "ctguard/record.h"

#define NAME_OF(table, v) \
	((unsigned)(v) < sizeof(table) / sizeof(table[0]) && table[v] ? table[v] : "unknown")

static const char *const ctstate_names[CTG_CT_COUNT] = {
	[CTG_CT_NEW] = "new",
	[CTG_CT_ESTABLISHED] = "established",
	[CTG_CT_RELATED] = "related",
	[CTG_CT_INVALID] = "invalid",
};

static const char *const action_names[CTG_ACT_COUNT] = {
	[CTG_ACT_ACCEPT] = "accept",
	[CTG_ACT_DROP] = "drop",
	[CTG_ACT_REJECT] = "reject",
};

static const char *const tcp_state_names[CTG_TCPS_COUNT] = {
	[CTG_TCPS_NONE] = "-",
	[CTG_TCPS_CLOSED] = "CLOSED",
	[CTG_TCPS_LISTEN] = "LISTEN",
	[CTG_TCPS_SYN_SENT] = "SYN_SENT",
	[CTG_TCPS_SYN_RCVD] = "SYN_RCVD",
	[CTG_TCPS_ESTABLISHED] = "ESTABLISHED",
	[CTG_TCPS_FIN_WAIT_1] = "FIN_WAIT_1",
	[CTG_TCPS_FIN_WAIT_2] = "FIN_WAIT_2",
	[CTG_TCPS_CLOSING] = "CLOSING",
	[CTG_TCPS_TIME_WAIT] = "TIME_WAIT",
	[CTG_TCPS_CLOSE_WAIT] = "CLOSE_WAIT",
	[CTG_TCPS_LAST_ACK] = "LAST_ACK",
};

static const char *const end_reason_names[CTG_END_COUNT] = {
	[CTG_END_CLOSED] = "closed",
	[CTG_END_RESET] = "reset",
	[CTG_END_TIMEOUT] = "timeout",
	[CTG_END_EVICTED] = "evicted",
	[CTG_END_FLUSHED] = "flushed",
	[CTG_END_SHUTDOWN] = "shutdown",
	[CTG_END_KILLED] = "killed",
	[CTG_END_REOPENED] = "reopened",
};

static const char *const event_kind_names[] = {
	[CTG_EV_START] = "start",
	[CTG_EV_STOP] = "stop",
	[CTG_EV_CONFIG_LOAD] = "config_load",
	[CTG_EV_RULES_LOAD] = "rules_load",
	[CTG_EV_RELOAD_FAILED] = "reload_failed",
	[CTG_EV_LOG_GAP] = "log_gap",
	[CTG_EV_COUNTERS] = "counters",
	[CTG_EV_WARNING] = "warning",
	[CTG_EV_SET_CHANGE] = "set_change",
	[CTG_EV_HA_ROLE] = "ha_role",
	[CTG_EV_HA_MEMBER_JOINED] = "ha_member_joined",
	[CTG_EV_HA_MEMBER_LEFT] = "ha_member_left",
	[CTG_EV_HA_BULK_RECEIVED] = "ha_bulk_received",
};

static const char *const log_level_names[] = {
	[CTG_LOG_NONE] = "none",
	[CTG_LOG_DROPS] = "drops",
	[CTG_LOG_DECISIONS] = "decisions",
	[CTG_LOG_ALL] = "all",
};

const char *ctg_ctstate_name(enum ctg_ctstate s) { return NAME_OF(ctstate_names, s); }
const char *ctg_action_name(enum ctg_action a) { return NAME_OF(action_names, a); }
const char *ctg_tcp_state_name(enum ctg_tcp_state s) { return NAME_OF(tcp_state_names, s); }
const char *ctg_end_reason_name(enum ctg_end_reason r) { return NAME_OF(end_reason_names, r); }
const char *ctg_event_kind_name(enum ctg_event_kind k) { return NAME_OF(event_kind_names, k); }

const char *
ctg_log_level_name(enum ctg_log_level l)
{
	if (l == CTG_LOG_INHERIT)
		return "inherit";
	return NAME_OF(log_level_names, l);
}

int
ctg_log_level_parse(const char *s, enum ctg_log_level *out)
{
	for (unsigned i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum ctg_log_level)i;
			return 0;
		}
	}
	return -1;
}
