/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracker: the snapshot. The file format, the sliced writer a
 * daemon uses to save without stopping its workers, and restore with its
 * checks (every entry is judged sane before any enters the table).
 * State synchronisation (tracker-sync.c) checks what it receives with
 * tracker_conn_sane too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ctguard/tracker.h"
#include "tracker-int.h"

#define SNAP_MAGIC "CTGSNAP\n"
/*
 * 2: td_end is the in-order edge, fin_ooo replaced hist_seen, peer
 * nibbles; the header says final or checkpoint, and is written last.
 */
#define SNAP_VERSION 2
#define SNAP_KIND_FINAL 0       /* written at a clean stop: every packet seen */
#define SNAP_KIND_CHECKPOINT 1  /* written while running: may be behind */
/*
 * After a restore from a checkpoint, how long restored TCP connections
 * re-learn their sequence edges from every segment: the senders' first
 * retransmissions after the restart arrive within it.
 */
#define RELEARN_US (5 * 1000000ULL)

struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t entry_size;
	uint64_t count;
	uint64_t saved_us;
	uint64_t next_id;
	uint32_t kind;          /* SNAP_KIND_* (version 2 on) */
	uint32_t reserved;
};

/* Version 1 had no kind: it was only ever written at a clean stop. */
#define SNAP_V1_HEADER_SIZE 40

static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *b = data;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_all(int fd, void *buf, size_t len)
{
	uint8_t *b = buf;

	while (len > 0) {
		ssize_t n = read(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Version 2 writes the entries first and the header's counts last (a
 * checkpoint learns how many it wrote only at the end): the header is
 * rewritten in place, and the checksum covers the entries, then the header.
 */
int
ctg_snap_begin(struct ctg_snap_writer *w, int fd, bool checkpoint)
{
	struct snap_header h;

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->sum = 0xcbf29ce484222325ULL;
	w->checkpoint = checkpoint;
	memset(&h, 0, sizeof(h));
	return write_all(fd, &h, sizeof(h));
}

int
ctg_snap_write(struct ctg_snap_writer *w, const struct ctg_conn *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w->sum = fnv1a(w->sum, &c[i], sizeof(c[i]));
	w->count += n;
	return write_all(w->fd, c, n * sizeof(*c));
}

int
ctg_snap_finish(struct ctg_snap_writer *w, uint64_t saved_us, uint64_t next_id)
{
	struct snap_header h;
	uint64_t sum;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SNAP_MAGIC, 8);
	h.version = SNAP_VERSION;
	h.entry_size = sizeof(struct ctg_conn);
	h.count = w->count;
	h.saved_us = saved_us;
	h.next_id = next_id;
	h.kind = w->checkpoint ? SNAP_KIND_CHECKPOINT : SNAP_KIND_FINAL;
	sum = fnv1a(w->sum, &h, sizeof(h));
	if (write_all(w->fd, &sum, sizeof(sum)) < 0)
		return -1;
	if (pwrite(w->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -1;
	return 0;
}

size_t
ctg_tracker_copy_slice(const struct ctg_tracker *t, size_t start, size_t count,
    struct ctg_conn *out, uint64_t *next_id)
{
	size_t n = 0;

	for (size_t i = start; i < start + count && i < t->max; i++) {
		const struct ctg_conn *c = &t->pool[i];

		if (c->id == 0 || !(c->flags & CTG_CONN_CONFIRMED))
			continue;
		out[n] = *c;
		/* places in this table and this run's rules mean nothing to another */
		out[n].hnext = out[n].lprev = out[n].lnext = 0;
		out[n].tprofile = 0;
		n++;
	}
	*next_id = t->next_id;
	return n;
}

int
ctg_tracker_save(struct ctg_tracker *t, int fd, uint64_t now_us)
{
	return ctg_tracker_save_as(t, fd, now_us, false);
}

int
ctg_tracker_save_as(struct ctg_tracker *t, int fd, uint64_t now_us, bool checkpoint)
{
	struct ctg_snap_writer w;
	struct ctg_conn chunk[256];
	uint64_t next_id = t->next_id;

	if (ctg_snap_begin(&w, fd, checkpoint) < 0)
		return -1;
	for (size_t i = 0; i < t->max; i += 256) {
		size_t n = ctg_tracker_copy_slice(t, i, 256, chunk, &next_id);

		if (n && ctg_snap_write(&w, chunk, n) < 0)
			return -1;
	}
	return ctg_snap_finish(&w, now_us, next_id);
}

/*
 * Ids come from the clock in microseconds (about 2^51 now); one near 2^64
 * is corrupt, and would wrap next_id to 0, the mark of a free slot.
 */
#define SNAP_MAX_ID (1ULL << 62)

bool
tracker_conn_sane(const struct ctg_conn *c)
{
	if (c->id == 0 || c->id >= SNAP_MAX_ID)
		return false;
	if (c->tuple.family != 4 && c->tuple.family != 6)
		return false;
	if (c->peer[0].state >= CTG_TCPS_COUNT || c->peer[1].state >= CTG_TCPS_COUNT)
		return false;
	if (c->tclass >= TC_COUNT || (c->action & 0x3f) > CTG_ACT_REJECT || c->proto_state > 2)
		return false;
	if (memchr(c->history, '\0', sizeof(c->history)) == NULL)
		return false;
	return c->peer[0].wscale <= CTG_TCP_MAX_WSCALE && c->peer[1].wscale <= CTG_TCP_MAX_WSCALE;
}

/* As tracker_datagram_packet leaves them: unassured UDP, ICMP, unreplied others. */
static bool
datagram_evictable(const struct ctg_conn *c)
{
	if (c->tuple.proto == IPPROTO_UDP)
		return c->proto_state < 2;
	if (c->tuple.proto == IPPROTO_ICMP || c->tuple.proto == IPPROTO_ICMPV6)
		return true;
	return c->proto_state == 0;
}

/*
 * Read and check a snapshot's header; *sum starts the checksum (version 1
 * summed the header first, version 2 sums it after the entries).
 */
static int
snap_read_header(const struct ctg_tracker *t, int fd, struct snap_header *h,
    uint64_t *sum, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	if (read_all(fd, h, SNAP_V1_HEADER_SIZE) < 0) {
		snprintf(err, errlen, "snapshot truncated in its header");
		return -1;
	}
	if (memcmp(h->magic, SNAP_MAGIC, 8) != 0) {
		snprintf(err, errlen, "not a ctguard connection snapshot");
		return -1;
	}
	if ((h->version != 1 && h->version != SNAP_VERSION) ||
	    h->entry_size != sizeof(struct ctg_conn)) {
		snprintf(err, errlen, "snapshot version %u (entry size %u) not supported",
		    h->version, h->entry_size);
		return -1;
	}
	if (h->version >= 2 && read_all(fd, (char *)h + SNAP_V1_HEADER_SIZE,
	    sizeof(*h) - SNAP_V1_HEADER_SIZE) < 0) {
		snprintf(err, errlen, "snapshot truncated in its header");
		return -1;
	}
	if (h->kind > SNAP_KIND_CHECKPOINT) {
		snprintf(err, errlen, "snapshot of unknown kind %u", h->kind);
		return -1;
	}
	if (h->next_id >= SNAP_MAX_ID) {
		snprintf(err, errlen, "snapshot next id %llu is corrupt",
		    (unsigned long long)h->next_id);
		return -1;
	}
	if (h->count > t->max) {
		snprintf(err, errlen, "snapshot holds %llu connections, table takes %u",
		    (unsigned long long)h->count, t->max);
		return -1;
	}
	if (h->version == 1)
		*sum = fnv1a(*sum, h, SNAP_V1_HEADER_SIZE);
	return 0;
}

/*
 * Read the entries after the header into *bufp, each one checked, and the
 * checksum after them. On failure nothing is left allocated.
 */
static int
snap_read_entries(int fd, const struct snap_header *h, uint64_t sum,
    struct ctg_conn **bufp, char *err, size_t errlen)
{
	struct ctg_conn *buf = NULL;
	uint64_t want;

	*bufp = NULL;
	if (h->count && (buf = calloc(h->count, sizeof(*buf))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint64_t i = 0; i < h->count; i++) {
		if (read_all(fd, &buf[i], sizeof(buf[i])) < 0) {
			snprintf(err, errlen, "snapshot truncated at entry %llu", (unsigned long long)i);
			free(buf);
			return -1;
		}
		sum = fnv1a(sum, &buf[i], sizeof(buf[i]));
		if (h->version == 1) {
			/* same layout: hist_seen and the whole retrans byte become ours */
			buf[i].fin_ooo[0] = buf[i].fin_ooo[1] = 0;
			for (int d = 0; d < 2; d++) {
				if (buf[i].peer[d].xflags)
					buf[i].peer[d].retrans = 15;
				buf[i].peer[d].xflags = 0;
				buf[i].peer[d].syn_wscale = 0;
			}
		}
		if (!tracker_conn_sane(&buf[i])) {
			snprintf(err, errlen, "snapshot entry %llu is corrupt", (unsigned long long)i);
			free(buf);
			return -1;
		}
	}
	if (h->version >= 2)
		sum = fnv1a(sum, h, sizeof(*h));
	if (read_all(fd, &want, sizeof(want)) < 0 || want != sum) {
		snprintf(err, errlen, "snapshot checksum mismatch");
		free(buf);
		return -1;
	}
	*bufp = buf;
	return 0;
}

/* Put one checked entry into the table; false when it expired meanwhile. */
static bool
snap_insert(struct ctg_tracker *t, const struct snap_header *h,
    const struct ctg_conn *from, uint64_t now_us)
{
	struct ctg_conn *c = &t->pool[t->free_head - 1];

	t->free_head = c->hnext;
	*c = *from;
	c->hnext = c->lprev = c->lnext = 0;
	/* verdicts and rule indices belong to the rules of the last run */
	c->flags &= ~CTG_CONN_VERDICT;
	c->rule_index = -1;
	c->action = 0;
	c->tprofile = 0;        /* an index into the last run's profiles */
	/* new ids must not repeat a restored one, whatever next_id said */
	if (c->id >= t->next_id)
		t->next_id = c->id + 1;
	uint32_t b = tracker_tuple_hash(t, &c->tuple) & (t->nbuckets - 1);
	c->hnext = t->buckets[b];
	t->buckets[b] = idx_of(t, c) + 1;
	t->live++;
	if (expired(t, c, now_us)) {
		tracker_conn_end(t, c, CTG_END_TIMEOUT, now_us);
		return false;
	}
	if (c->tuple.proto == IPPROTO_TCP) {
		/*
		 * A checkpoint is up to one interval behind: the
		 * endpoints moved their windows on since, with packets
		 * this table never saw. The segments of the first
		 * seconds re-learn the edges (as a pick-up does), then
		 * each side's next one, and the checks are strict again
		 * from the segment after (tracker-tcp.c). A final
		 * snapshot saw every packet that passed: no re-learning.
		 */
		if (h->kind == SNAP_KIND_CHECKPOINT && !(c->flags & CTG_CONN_CLOSED)) {
			c->peer[0].flags |= CTG_PEER_LIBERAL;
			c->peer[1].flags |= CTG_PEER_LIBERAL;
			t->relearn_until_us = now_us + RELEARN_US;
		}
		tracker_tcp_set_tclass(t, c);
	} else if (!(c->flags & CTG_CONN_SEEN_REPLY))
		tracker_evict_list_place(t, c, L_UNANSWERED);
	else if (datagram_evictable(c))
		tracker_evict_list_place(t, c, L_CLOSING);
	return true;
}

int
ctg_tracker_restore(struct ctg_tracker *t, int fd, uint64_t now_us,
    char *err, size_t errlen)
{
	struct snap_header h;
	uint64_t sum = 0xcbf29ce484222325ULL;
	struct ctg_conn *buf;
	int restored = 0;

	if (snap_read_header(t, fd, &h, &sum, err, errlen) < 0 ||
	    snap_read_entries(fd, &h, sum, &buf, err, errlen) < 0)
		return -1;
	if (h.next_id > t->next_id)
		t->next_id = h.next_id;
	for (uint64_t i = 0; i < h.count; i++) {
		uint8_t d;

		if (tracker_conn_find(t, &buf[i].tuple, &d) != NULL)
			continue;
		if (!t->free_head)
			break;
		if (snap_insert(t, &h, &buf[i], now_us))
			restored++;
	}
	free(buf);
	return restored;
}
