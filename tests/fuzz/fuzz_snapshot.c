/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the connection snapshot reader
 * (ctg_tracker_restore), which reads the state file a restarting daemon
 * finds on disk. The input is the file, fed through a memfd.
 *
 * Each input is restored twice into an 8-entry table: once as it is, and
 * once with its last 8 bytes replaced by the checksum of what precedes
 * them, as a file written by someone who knows the format would carry;
 * otherwise nearly every mutation would stop at the checksum. Whatever is
 * restored must then be found under its own tuple, take packets, and end
 * on a flush.
 *
 * Seeds (tests/fuzz/corpus/snapshot) are snapshots ctg_tracker_save wrote
 * (tests/fuzz/gen_seeds.c); they hold struct ctg_conn as laid out on
 * x86-64 and need regenerating when it changes.
 *
 *   ./fuzz_snapshot -max_total_time=60 tests/fuzz/corpus/snapshot
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ctguard/tracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1700000000000000ULL

static int memfd = -1;

/*
 * The snapshot checksum (tracker-snapshot.c): FNV-1a over everything before it in
 * version 1; in version 2 (header of 48 bytes rewritten last) over the
 * entries, then the header.
 */
static uint64_t
fnv1a_from(uint64_t h, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
snapshot_sum(const uint8_t *b, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t version = 0;

	if (len >= 12)
		memcpy(&version, b + 8, 4);
	if (version >= 2 && len >= 48)
		return fnv1a_from(fnv1a_from(h, b + 48, len - 48), b, 48);
	return fnv1a_from(h, b, len);
}

struct poke {
	struct ctg_tracker *t;
	uint64_t now;
	unsigned n;
};

/* Every restored entry is in the index under its own tuple, and fresh. */
static int
poke(void *arg, struct ctg_conn *c)
{
	struct poke *pk = arg;
	struct ctg_conn *found;
	uint8_t dir = 9;

	found = ctg_tracker_lookup(pk->t, &c->tuple, &dir);
	if (found != c || dir != 0)
		abort();
	/* nothing of the last run's rules survives: verdict, rule, timeout profile */
	if (c->tprofile != 0 || c->rule_index != -1 || (c->flags & CTG_CONN_VERDICT))
		abort();
	if (++pk->n > 8)
		abort();
	return 0;
}

/* One packet each way on a restored connection: its state is the file's. */
static void
feed(struct ctg_tracker *t, const struct ctg_tuple *tp, uint64_t now)
{
	struct ctg_track_result res;
	struct ctg_packet p;

	for (int d = 0; d < 2; d++) {
		memset(&p, 0, sizeof(p));
		p.tuple = *tp;
		if (d) {
			p.tuple.src = tp->dst;
			p.tuple.dst = tp->src;
			p.tuple.sport = tp->dport;
			p.tuple.dport = tp->sport;
		}
		p.ip_len = p.wire_len = 60;
		p.complete = true;
		if (tp->proto == IPPROTO_TCP) {
			p.l4_len = 20 + 8;
			p.payload_len = 8;
			p.tcp.flags = CTG_TH_ACK | CTG_TH_PSH;
			p.tcp.window = 1024;
			p.tcp.doff = 20;
		} else if (tp->proto == IPPROTO_ICMP || tp->proto == IPPROTO_ICMPV6) {
			p.icmp.is_query = true;
			p.icmp.is_reply = d == 1;
			p.icmp.echo_id = tp->sport;
		}
		ctg_tracker_packet(t, &p, CTG_R_NONE, now, &res);
		if (res.conn && res.ctstate != CTG_CT_INVALID)
			ctg_tracker_account(t, res.conn, res.dir, p.ip_len);
		else if (res.conn && res.created)
			ctg_tracker_unconfirm(t, res.conn);
	}
}

struct tuples {
	unsigned n;
	struct ctg_tuple tp[8];
};

static int
collect(void *arg, struct ctg_conn *c)
{
	struct tuples *ts = arg;

	if (ts->n < 8)
		ts->tp[ts->n++] = c->tuple;
	return 0;
}

static void
restore(const uint8_t *data, size_t size)
{
	struct ctg_tracker_config tc;
	struct ctg_tracker_stats st;
	struct ctg_tracker *t;
	struct poke pk;
	struct tuples ts = { 0 };
	char err[256];
	int n;

	memset(&tc, 0, sizeof(tc));
	tc.max_connections = 8;
	tc.id_base = 1;
	tc.hash_seed[0] = 1;
	tc.hash_seed[1] = 2;
	for (uint32_t *v = (uint32_t *)&tc.timeouts;
	    v < (uint32_t *)(&tc.timeouts + 1); v++)
		*v = 60;
	if ((t = ctg_tracker_new(&tc, NULL, NULL)) == NULL)
		abort();
	if (ftruncate(memfd, 0) != 0 || lseek(memfd, 0, SEEK_SET) != 0)
		abort();
	if (size && write(memfd, data, size) != (ssize_t)size)
		abort();
	if (lseek(memfd, 0, SEEK_SET) != 0)
		abort();
	err[0] = '\0';
	n = ctg_tracker_restore(t, memfd, T0, err, sizeof(err));
	if (n < -1 || n > 8 || (n == -1 && (err[0] == '\0' ||
	    memchr(err, '\0', sizeof(err)) == NULL)))
		abort();
	ctg_tracker_stats(t, &st);
	if (st.live != (uint32_t)(n < 0 ? 0 : n))
		abort();

	pk.t = t;
	pk.now = T0;
	pk.n = 0;
	ctg_tracker_foreach(t, poke, &pk);
	ctg_tracker_foreach(t, collect, &ts);
	for (unsigned i = 0; i < ts.n; i++)
		feed(t, &ts.tp[i], T0 + 1000);
	ctg_tracker_sweep(t, T0 + 3600 * 1000000ULL, 16);
	ctg_tracker_flush(t, CTG_END_SHUTDOWN, T0 + 3600 * 1000000ULL);
	ctg_tracker_stats(t, &st);
	if (st.live != 0)
		abort();
	ctg_tracker_free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	uint64_t sum;

	if (size > 65536)
		return 0;
	if (memfd < 0 && (memfd = memfd_create("fuzz_snapshot", 0)) < 0)
		abort();
	restore(data, size);
	if (size < 8)
		return 0;
	if ((fixed = malloc(size)) == NULL)
		abort();
	memcpy(fixed, data, size);
	sum = snapshot_sum(fixed, size - 8);
	memcpy(fixed + size - 8, &sum, 8);
	restore(fixed, size);
	free(fixed);
	return 0;
}
