/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TCP endpoint state machine table (include/ctguard/tcpfsm.h) as data.
 */
#include "ctguard/tcpfsm.h"

const struct ctg_tcp_move ctg_tcp_moves[] = {
#define CTG_TCP_MOVE(from, ev, to) { CTG_TCPS_##from, CTG_TCPE_##ev, CTG_TCPS_##to },
	CTG_TCP_FSM(CTG_TCP_MOVE)
#undef CTG_TCP_MOVE
};

const size_t ctg_tcp_nmoves = sizeof(ctg_tcp_moves) / sizeof(ctg_tcp_moves[0]);

static const char *const event_names[] = {
#define CTG_TCP_EVENT_NAME(sym, label) label,
	CTG_TCP_EVENTS(CTG_TCP_EVENT_NAME)
#undef CTG_TCP_EVENT_NAME
};

const char *
ctg_tcp_event_name(enum ctg_tcp_event e)
{
	return (unsigned)e < CTG_TCPE_COUNT ? event_names[e] : "unknown";
}

bool
ctg_tcp_fsm_has(enum ctg_tcp_state from, enum ctg_tcp_state to)
{
	for (size_t i = 0; i < ctg_tcp_nmoves; i++)
		if (ctg_tcp_moves[i].from == from && ctg_tcp_moves[i].to == to)
			return true;
	return false;
}
