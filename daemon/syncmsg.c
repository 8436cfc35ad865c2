/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sync messages' wire format (see ctguard/syncmsg.h): header, then
 * fixed-size entries, every field big-endian and bounds-checked.
 *
 * Header (24 bytes): magic u32, version u8, type u8, flags u16 (0 or
 * CTG_SYNC_F_WANT_ACK), sender's clock u64, entry count u16, entry size
 * u16, token u32 (0 unless the flag is set, then not 0).
 *
 * Connection entry (CTG_SYNC_CONN_SIZE bytes): queue index u16, family u8,
 * proto u8, sport u16, dport u16, src[16], dst[16], flags u16,
 * proto_state u8, action u8, rule_index s16, tclass u8, has_timeouts u8,
 * fin_ooo[2] u16, id u64, age of first_us u64, age of last_us u64,
 * pkts[2] u32, bytes[2] u64, two endpoints of 30 bytes each (td_end,
 * td_maxend, td_maxwin, td_maxack, isn, last_tsval u32; state, wscale,
 * syn_wscale, flags, retrans, xflags u8), history[16], then one u32 per
 * timeout class: the connection's per-rule timeouts (all 0 when none).
 *
 * End entry (50 bytes): queue u16, family u8, proto u8, sport u16,
 * dport u16, src[16], dst[16], id u64, end reason u8, 0 u8.
 *
 * Ack entry (8 bytes): node u32, token u32, neither 0.
 */
#include <stdio.h>
#include <string.h>

#include "ctguard/bytes.h"
#include "ctguard/syncmsg.h"
#include "ctguard/timeouts.h"
#include "tracker-int.h"

static const char *const type_names[] = {
	[CTG_SYNC_CONN_UPDATE] = "conn_update",
	[CTG_SYNC_CONN_END] = "conn_end",
	[CTG_SYNC_BULK_BEGIN] = "bulk_begin",
	[CTG_SYNC_BULK_ENTRIES] = "bulk_entries",
	[CTG_SYNC_BULK_END] = "bulk_end",
	[CTG_SYNC_DEFER_ACK] = "defer_ack",
};

const char *
ctg_sync_type_name(unsigned type)
{
	if (type >= 1 && type <= CTG_SYNC_TYPE_MAX)
		return type_names[type];
	return "unknown";
}

static size_t
entry_size_of(unsigned type)
{
	switch (type) {
	case CTG_SYNC_CONN_UPDATE:
	case CTG_SYNC_BULK_ENTRIES:
		return CTG_SYNC_CONN_SIZE;
	case CTG_SYNC_CONN_END:
		return CTG_SYNC_END_SIZE;
	case CTG_SYNC_DEFER_ACK:
		return CTG_SYNC_ACK_SIZE;
	default:
		return 0;
	}
}

void
ctg_syncmsg_begin(struct ctg_syncmsg_writer *w, void *buf, size_t cap,
    enum ctg_sync_type type, uint64_t now_us)
{
	w->buf = buf;
	w->cap = cap > CTG_SYNC_MSG_MAX ? CTG_SYNC_MSG_MAX : cap;
	w->len = CTG_SYNC_HDR_SIZE;
	w->count = 0;
	w->type = (uint8_t)type;
	w->flags = 0;
	w->token = 0;
	w->now_us = now_us;
}

void
ctg_syncmsg_want_ack(struct ctg_syncmsg_writer *w, uint32_t token)
{
	if (token == 0 || (w->type != CTG_SYNC_CONN_UPDATE && w->type != CTG_SYNC_CONN_END))
		return;
	w->flags = CTG_SYNC_F_WANT_ACK;
	w->token = token;
}

static bool
room_for(const struct ctg_syncmsg_writer *w, unsigned type)
{
	size_t es = entry_size_of(type);

	return w->type == type && es && w->count < 0xffff && w->len + es <= w->cap;
}

static void
put_tuple(uint8_t *p, uint16_t queue, const struct ctg_tuple *t)
{
	ctg_put16(p, queue);
	p[2] = t->family;
	p[3] = t->proto;
	ctg_put16(p + 4, t->sport);
	ctg_put16(p + 6, t->dport);
	memcpy(p + 8, t->src.b, 16);
	memcpy(p + 24, t->dst.b, 16);
}

static uint64_t
age_of(uint64_t now, uint64_t t)
{
	return t < now ? now - t : 0;
}

static const uint32_t *
timeouts_at(const struct ctg_timeouts *to, unsigned cls)
{
	/* struct ctg_timeouts is one uint32_t per class, in class order */
	return (const uint32_t *)(const void *)to + cls;
}

bool
ctg_syncmsg_add_conn(struct ctg_syncmsg_writer *w, uint16_t queue,
    const struct ctg_conn_export *e)
{
	const struct ctg_conn *c = &e->c;
	bool has_to = false;
	uint8_t *p;

	if (!room_for(w, CTG_SYNC_CONN_UPDATE) && !room_for(w, CTG_SYNC_BULK_ENTRIES))
		return false;
	for (unsigned k = 0; k < CTG_TO_COUNT; k++)
		has_to |= *timeouts_at(&e->to, k) != 0;
	p = w->buf + w->len;
	put_tuple(p, queue, &c->tuple);
	ctg_put16(p + 40, c->flags);
	p[42] = c->proto_state;
	p[43] = c->action;
	ctg_put16(p + 44, (uint16_t)c->rule_index);
	p[46] = c->tclass;
	p[47] = has_to;
	ctg_put16(p + 48, c->fin_ooo[0]);
	ctg_put16(p + 50, c->fin_ooo[1]);
	ctg_put64(p + 52, c->id);
	ctg_put64(p + 60, age_of(w->now_us, c->first_us));
	ctg_put64(p + 68, age_of(w->now_us, c->last_us));
	ctg_put32(p + 76, c->pkts[0]);
	ctg_put32(p + 80, c->pkts[1]);
	ctg_put64(p + 84, c->bytes[0]);
	ctg_put64(p + 92, c->bytes[1]);
	for (int d = 0; d < 2; d++) {
		const struct ctg_tcp_peer *s = &c->peer[d];
		uint8_t *q = p + 100 + 30 * d;

		ctg_put32(q, s->td_end);
		ctg_put32(q + 4, s->td_maxend);
		ctg_put32(q + 8, s->td_maxwin);
		ctg_put32(q + 12, s->td_maxack);
		ctg_put32(q + 16, s->isn);
		ctg_put32(q + 20, s->last_tsval);
		q[24] = s->state;
		q[25] = s->wscale;
		q[26] = s->syn_wscale;
		q[27] = s->flags;
		q[28] = s->retrans;
		q[29] = s->xflags;
	}
	memcpy(p + 160, c->history, CTG_CONN_HISTORY);
	for (unsigned k = 0; k < CTG_TO_COUNT; k++)
		ctg_put32(p + 176 + 4 * k, *timeouts_at(&e->to, k));
	w->len += CTG_SYNC_CONN_SIZE;
	w->count++;
	return true;
}

bool
ctg_syncmsg_add_end(struct ctg_syncmsg_writer *w, const struct ctg_sync_end *e)
{
	uint8_t *p;

	if (!room_for(w, CTG_SYNC_CONN_END))
		return false;
	p = w->buf + w->len;
	put_tuple(p, e->queue, &e->tuple);
	ctg_put64(p + 40, e->id);
	p[48] = e->reason;
	p[49] = 0;
	w->len += CTG_SYNC_END_SIZE;
	w->count++;
	return true;
}

bool
ctg_syncmsg_add_ack(struct ctg_syncmsg_writer *w, const struct ctg_sync_ack *a)
{
	uint8_t *p;

	if (!room_for(w, CTG_SYNC_DEFER_ACK) || a->node == 0 || a->token == 0)
		return false;
	p = w->buf + w->len;
	ctg_put32(p, a->node);
	ctg_put32(p + 4, a->token);
	w->len += CTG_SYNC_ACK_SIZE;
	w->count++;
	return true;
}

size_t
ctg_syncmsg_finish(struct ctg_syncmsg_writer *w)
{
	uint8_t *p = w->buf;

	ctg_put32(p, CTG_SYNC_MAGIC);
	p[4] = CTG_SYNC_VERSION;
	p[5] = w->type;
	ctg_put16(p + 6, w->flags);
	ctg_put64(p + 8, w->now_us);
	ctg_put16(p + 16, (uint16_t)w->count);
	ctg_put16(p + 18, (uint16_t)entry_size_of(w->type));
	ctg_put32(p + 20, w->token);
	return w->len;
}

/* --- decoding ---------------------------------------------------------------- */

/* The tuple as the tracker keys it: IPv4 in the first 4 bytes, the rest zero. */
static bool
get_tuple(const uint8_t *p, uint16_t *queue, struct ctg_tuple *t)
{
	memset(t, 0, sizeof(*t));
	*queue = ctg_get16(p);
	t->family = p[2];
	t->proto = p[3];
	t->sport = ctg_get16(p + 4);
	t->dport = ctg_get16(p + 6);
	memcpy(t->src.b, p + 8, 16);
	memcpy(t->dst.b, p + 24, 16);
	if (t->family != 4 && t->family != 6)
		return false;
	if (t->family == 4) {
		static const uint8_t zero[12];

		if (memcmp(t->src.b + 4, zero, 12) != 0 || memcmp(t->dst.b + 4, zero, 12) != 0)
			return false;
	}
	return true;
}

/*
 * Decode entry p into e; false when a field is out of its range. Fields
 * narrower in the struct (bitfields) are checked before they are stored.
 */
static bool
get_conn(const uint8_t *p, uint64_t sender_now, uint64_t local_now, uint16_t *queue,
    struct ctg_conn_export *e)
{
	struct ctg_conn *c = &e->c;
	uint64_t age_first, age_last;

	memset(e, 0, sizeof(*e));
	if (!get_tuple(p, queue, &c->tuple))
		return false;
	c->flags = ctg_get16(p + 40);
	c->proto_state = p[42];
	c->action = p[43];
	c->rule_index = (int16_t)ctg_get16(p + 44);
	c->tclass = p[46];
	if (c->rule_index < -1 || p[47] > 1)
		return false;
	c->fin_ooo[0] = ctg_get16(p + 48);
	c->fin_ooo[1] = ctg_get16(p + 50);
	c->id = ctg_get64(p + 52);
	age_first = ctg_get64(p + 60);
	age_last = ctg_get64(p + 68);
	/* the connection began before it was last seen, and after the sender's clock began */
	if (age_last > age_first || age_first > sender_now)
		return false;
	c->first_us = age_first < local_now ? local_now - age_first : 0;
	c->last_us = age_last < local_now ? local_now - age_last : 0;
	c->pkts[0] = ctg_get32(p + 76);
	c->pkts[1] = ctg_get32(p + 80);
	c->bytes[0] = ctg_get64(p + 84);
	c->bytes[1] = ctg_get64(p + 92);
	for (int d = 0; d < 2; d++) {
		struct ctg_tcp_peer *s = &c->peer[d];
		const uint8_t *q = p + 100 + 30 * d;

		s->td_end = ctg_get32(q);
		s->td_maxend = ctg_get32(q + 4);
		s->td_maxwin = ctg_get32(q + 8);
		s->td_maxack = ctg_get32(q + 12);
		s->isn = ctg_get32(q + 16);
		s->last_tsval = ctg_get32(q + 20);
		s->state = q[24];
		if (q[25] > CTG_TCP_MAX_WSCALE || q[26] > CTG_TCP_MAX_WSCALE || q[28] > 15 || q[29] > 15)
			return false;
		s->wscale = q[25] & 0xf;
		s->syn_wscale = q[26] & 0xf;
		s->flags = q[27];
		s->retrans = q[28] & 0xf;
		s->xflags = q[29] & 0xf;
	}
	memcpy(c->history, p + 160, CTG_CONN_HISTORY);
	uint32_t *to = (uint32_t *)(void *)&e->to;
	bool any = false;
	for (unsigned k = 0; k < CTG_TO_COUNT; k++) {
		to[k] = ctg_get32(p + 176 + 4 * k);
		if (to[k] > CTG_TIMEOUT_MAX_S)
			return false;
		any |= to[k] != 0;
	}
	/* the flag says whether there are per-rule timeouts, and only that */
	if (any != (p[47] == 1))
		return false;
	return tracker_conn_sane(c);
}

static bool
get_end(const uint8_t *p, struct ctg_sync_end *e)
{
	memset(e, 0, sizeof(*e));
	if (!get_tuple(p, &e->queue, &e->tuple))
		return false;
	e->id = ctg_get64(p + 40);
	e->reason = p[48];
	return e->id != 0 && e->reason < CTG_END_COUNT && p[49] == 0;
}

static bool
get_ack(const uint8_t *p, struct ctg_sync_ack *a)
{
	a->node = ctg_get32(p);
	a->token = ctg_get32(p + 4);
	return a->node != 0 && a->token != 0;
}

static int
decode(const void *buf, size_t len, struct ctg_syncmsg *m, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	size_t es;

	memset(m, 0, sizeof(*m));
	if (len < CTG_SYNC_HDR_SIZE) {
		snprintf(err, errlen, "message of %zu bytes: shorter than its header", len);
		return -1;
	}
	if (len > CTG_SYNC_MSG_MAX) {
		snprintf(err, errlen, "message of %zu bytes: over %d", len, CTG_SYNC_MSG_MAX);
		return -1;
	}
	if (ctg_get32(p) != CTG_SYNC_MAGIC) {
		snprintf(err, errlen, "not a ctguard sync message");
		return -1;
	}
	if (p[4] != CTG_SYNC_VERSION) {
		snprintf(err, errlen, "sync message version %u not supported (this is %u)",
		    p[4], CTG_SYNC_VERSION);
		return -1;
	}
	if (p[5] < 1 || p[5] > CTG_SYNC_TYPE_MAX) {
		snprintf(err, errlen, "sync message of unknown type %u", p[5]);
		return -1;
	}
	uint16_t flags = ctg_get16(p + 6);
	uint32_t token = ctg_get32(p + 20);

	if (flags & ~CTG_SYNC_F_WANT_ACK) {
		snprintf(err, errlen, "sync message with unknown flags");
		return -1;
	}
	if (flags && p[5] != CTG_SYNC_CONN_UPDATE && p[5] != CTG_SYNC_CONN_END) {
		snprintf(err, errlen, "%s message cannot want an ack", ctg_sync_type_name(p[5]));
		return -1;
	}
	if ((flags != 0) != (token != 0)) {
		snprintf(err, errlen, "sync message: token %u with flags %#x", token, flags);
		return -1;
	}
	m->want_ack = flags != 0;
	m->token = token;
	m->type = p[5];
	m->now_us = ctg_get64(p + 8);
	m->count = ctg_get16(p + 16);
	es = ctg_get16(p + 18);
	if (es != entry_size_of(m->type)) {
		snprintf(err, errlen, "%s message: entry size %zu, expected %zu",
		    ctg_sync_type_name(m->type), es, entry_size_of(m->type));
		return -1;
	}
	if (len != CTG_SYNC_HDR_SIZE + (size_t)m->count * es || (es == 0 && m->count)) {
		snprintf(err, errlen, "%s message: %zu bytes for %u entries of %zu",
		    ctg_sync_type_name(m->type), len, m->count, es);
		return -1;
	}
	if (m->now_us >= (1ULL << 62)) {
		snprintf(err, errlen, "sync message clock %llu is corrupt",
		    (unsigned long long)m->now_us);
		return -1;
	}
	m->entry_size = es;
	m->entries = p + CTG_SYNC_HDR_SIZE;
	for (unsigned i = 0; i < m->count; i++) {
		const uint8_t *e = m->entries + (size_t)i * es;
		bool ok;

		if (es == CTG_SYNC_CONN_SIZE) {
			struct ctg_conn_export x;
			uint16_t q;

			ok = get_conn(e, m->now_us, m->now_us, &q, &x);
		} else if (es == CTG_SYNC_ACK_SIZE) {
			struct ctg_sync_ack x;

			ok = get_ack(e, &x);
		} else {
			struct ctg_sync_end x;

			ok = get_end(e, &x);
		}
		if (!ok) {
			snprintf(err, errlen, "%s message: entry %u is corrupt",
			    ctg_sync_type_name(m->type), i);
			return -1;
		}
	}
	return 0;
}

int
ctg_syncmsg_decode(const void *buf, size_t len, struct ctg_syncmsg *m,
    char *err, size_t errlen)
{
	if (decode(buf, len, m, err, errlen) == 0)
		return 0;
	/* nothing of a refused message may be read */
	memset(m, 0, sizeof(*m));
	return -1;
}

void
ctg_syncmsg_conn(const struct ctg_syncmsg *m, unsigned i, uint64_t local_now_us,
    uint16_t *queue, struct ctg_conn_export *e)
{
	get_conn(m->entries + (size_t)i * m->entry_size, m->now_us, local_now_us, queue, e);
}

void
ctg_syncmsg_end(const struct ctg_syncmsg *m, unsigned i, struct ctg_sync_end *e)
{
	get_end(m->entries + (size_t)i * m->entry_size, e);
}

void
ctg_syncmsg_ack(const struct ctg_syncmsg *m, unsigned i, struct ctg_sync_ack *a)
{
	get_ack(m->entries + (size_t)i * m->entry_size, a);
}
