/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: labels. The history string (Zeek's letters, one per
 * kind of packet and direction), Zeek's conn_state and the conntrack-style
 * label derived from it, and the summary record of an ended connection.
 */
#include <string.h>

#include <netinet/in.h>

#include "ctguard/tracker.h"
#include "tracker-int.h"

static const char hist_letter[] = "SHADFRCTWQIG";

/* Whether dir's history holds a letter, or (any) any letter at all. */
bool
tracker_hist_has(const struct ctg_conn *c, uint8_t dir, char upper, bool any)
{
	size_t n = strnlen(c->history, sizeof(c->history));

	for (size_t i = 0; i < n; i++) {
		char h = c->history[i];
		bool mine = dir == 0 ? (h >= 'A' && h <= 'Z') : (h >= 'a' && h <= 'z');

		if (mine && (any || h == (dir == 0 ? upper : (char)(upper - 'A' + 'a'))))
			return true;
	}
	return false;
}

void
tracker_hist_add(struct ctg_conn *c, uint8_t dir, enum hist_bit bit)
{
	char l = dir == 0 ? hist_letter[bit] : (char)(hist_letter[bit] - 'A' + 'a');

	/* each letter once per direction: the string itself says which are in */
	if (memchr(c->history, l, strnlen(c->history, sizeof(c->history))))
		return;
	size_t n = strnlen(c->history, sizeof(c->history));
	if (n + 1 < sizeof(c->history)) {
		c->history[n] = l;
		c->history[n + 1] = '\0';
	}
}

/* Whether dir's history holds any letter other than upper. */
static bool
hist_has_other(const struct ctg_conn *c, uint8_t dir, char upper)
{
	size_t n = strnlen(c->history, sizeof(c->history));
	char want = dir == 0 ? upper : (char)(upper - 'A' + 'a');

	for (size_t i = 0; i < n; i++) {
		char h = c->history[i];
		bool mine = dir == 0 ? (h >= 'A' && h <= 'Z') : (h >= 'a' && h <= 'z');

		if (mine && h != want)
			return true;
	}
	return false;
}

/* Zeek's endpoint states, reconstructed from what we recorded. */
enum zstate { Z_INACTIVE, Z_SYN_SENT, Z_SYN_ACK_SENT, Z_PARTIAL, Z_ESTABLISHED, Z_CLOSED, Z_RESET };

static enum zstate
zeek_state(const struct ctg_conn *c, uint8_t dir)
{
	/*
	 * From what each side sent, not from our inferred RFC 793 state: an
	 * RST sets both sides CLOSED here, but Zeek still calls a side that
	 * never answered inactive.
	 */
	if (c->flags & (dir == 0 ? CTG_CONN_RST_ORIG : CTG_CONN_RST_RESP))
		return Z_RESET;
	if (c->flags & (dir == 0 ? CTG_CONN_FIN_ORIG : CTG_CONN_FIN_RESP))
		return Z_CLOSED;
	if (!tracker_hist_has(c, dir, 0, true))
		return Z_INACTIVE;
	if (c->flags & CTG_CONN_MIDSTREAM) {
		if (dir == 1 && (c->flags & CTG_CONN_SYNACK) &&
		    !hist_has_other(c, 1, 'H'))
			return Z_SYN_ACK_SENT;
		return Z_PARTIAL;
	}
	if (c->flags & CTG_CONN_ASSURED)
		return Z_ESTABLISHED;
	if (dir == 0)
		return (c->flags & CTG_CONN_SYN_ORIG) ? Z_SYN_SENT : Z_PARTIAL;
	if (c->flags & CTG_CONN_SYNACK)
		return Z_SYN_ACK_SENT;
	if (c->peer[1].state == CTG_TCPS_SYN_SENT || c->peer[1].state == CTG_TCPS_SYN_RCVD)
		return Z_SYN_SENT;
	return Z_PARTIAL;
}

static bool
history_rstos0(const char *h)
{
	if (*h == '^')
		h++;
	if (*h != 'S')
		return false;
	for (h++; *h; h++) {
		if (*h == 'R')
			return true;
		if (strchr("HAFGIQ", *h))
			return false;
	}
	return false;
}

const char *
ctg_conn_state_code(const struct ctg_conn *c)
{
	if (c->tuple.proto != IPPROTO_TCP) {
		bool o = tracker_hist_has(c, 0, 0, true), r = tracker_hist_has(c, 1, 0, true);
		if (o)
			return r ? "SF" : "S0";
		return r ? "SHR" : "OTH";
	}
	enum zstate os = zeek_state(c, 0), rs = zeek_state(c, 1);
	bool o_inactive = os == Z_INACTIVE || os == Z_PARTIAL;
	bool r_inactive = rs == Z_INACTIVE || rs == Z_PARTIAL;

	if (rs == Z_RESET) {
		if (os == Z_SYN_SENT || os == Z_SYN_ACK_SENT ||
		    (os == Z_RESET && c->bytes[0] == 0 && c->bytes[1] == 0 &&
		    !(c->flags & (CTG_CONN_DATA_ORIG | CTG_CONN_DATA_RESP))))
			return "REJ";
		return o_inactive ? "RSTRH" : "RSTR";
	}
	if (os == Z_RESET) {
		if (r_inactive)
			return history_rstos0(c->history) ? "RSTOS0" : "OTH";
		return "RSTO";
	}
	if (rs == Z_CLOSED && os == Z_CLOSED)
		return "SF";
	if (os == Z_CLOSED)
		return r_inactive ? "SH" : "S2";
	if (rs == Z_CLOSED)
		return o_inactive ? "SHR" : "S3";
	if (os == Z_SYN_SENT && rs == Z_INACTIVE)
		return "S0";
	if (os == Z_ESTABLISHED && rs == Z_ESTABLISHED)
		return "S1";
	return "OTH";
}

const char *
ctg_conn_label(const struct ctg_conn *c)
{
	if (c->tuple.proto != IPPROTO_TCP)
		return c->proto_state == 0 ? "UNREPLIED" :
		    c->proto_state == 1 ? "REPLIED" : "ASSURED";
	uint8_t o = c->peer[0].state, r = c->peer[1].state;
	if ((c->flags & CTG_CONN_CLOSED) && (c->flags & (CTG_CONN_RST_ORIG | CTG_CONN_RST_RESP)))
		return "CLOSE";
	if (o == CTG_TCPS_ESTABLISHED && r == CTG_TCPS_ESTABLISHED)
		return "ESTABLISHED";
	if (r == CTG_TCPS_LISTEN)
		return "SYN_SENT";
	if (o == CTG_TCPS_SYN_SENT || r == CTG_TCPS_SYN_RCVD || r == CTG_TCPS_SYN_SENT)
		return "SYN_RECV";
	if (o == CTG_TCPS_TIME_WAIT || r == CTG_TCPS_TIME_WAIT ||
	    (o == CTG_TCPS_CLOSED && r == CTG_TCPS_CLOSED))
		return "TIME_WAIT";
	if (o == CTG_TCPS_LAST_ACK || r == CTG_TCPS_LAST_ACK)
		return "LAST_ACK";
	if (o == CTG_TCPS_CLOSE_WAIT || r == CTG_TCPS_CLOSE_WAIT)
		return "CLOSE_WAIT";
	return "FIN_WAIT";
}

void
ctg_conn_summary(const struct ctg_conn *c, enum ctg_end_reason why,
    struct ctg_conn_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->conn_id = c->id;
	rec->first_us = c->first_us;
	rec->last_us = c->last_us;
	rec->tuple = c->tuple;
	rec->pkts[0] = c->pkts[0];
	rec->pkts[1] = c->pkts[1];
	rec->bytes[0] = c->bytes[0];
	rec->bytes[1] = c->bytes[1];
	rec->orig_state = c->peer[0].state;
	rec->resp_state = c->peer[1].state;
	rec->end_reason = (uint8_t)why;
	ctg_copy_str(rec->conn_state, sizeof(rec->conn_state), ctg_conn_state_code(c));
	/* history is always terminated inside its 16 bytes (tracker_hist_add) */
	_Static_assert(sizeof(rec->history) >= sizeof(c->history), "history fits");
	memcpy(rec->history, c->history, sizeof(c->history));
	rec->offloaded = ctg_conn_offloaded(c);
}
