/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Offline replay of captures through the live pipeline.
 *
 * Link layers are peeled here, by hand and bounds-checked, down to the IP
 * header the daemon would have received from NFQUEUE; everything after that
 * is the daemon's own code path.
 *
 * A thread of its own reads the capture through libpcap into a few large
 * batches ahead of the pipeline: reading and copying a frame costs about a
 * third of what the pipeline spends on it, and done in line it was the
 * difference between replay and the tracker's own rate. Batches are handed
 * over whole, so the two threads meet once per thousand frames, not per frame.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctguard/clock.h"
#include "ctguard/replay.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100
#define MAX_VLAN_TAGS 4

/* Sweep the table once per second of capture time, a bounded slice at a time. */
#define SWEEP_INTERVAL_US 1000000ULL
#define SWEEP_BUDGET 4096

/*
 * A batch holds up to BATCH_FRAMES frames in BATCH_BYTES. A frame is copied
 * whole up to MAX_FRAME bytes (above every snap length libpcap gives the
 * link types replay accepts); a batch stops taking frames when one more of
 * that size might not fit, so a frame read always has room.
 */
#define BATCH_FRAMES 1024
#define MAX_FRAME (256u * 1024)
#define BATCH_BYTES (1024u * 1024)
#define NBATCHES 4

struct frame_meta {
	uint64_t ts_us;
	uint32_t off;           /* into data */
	uint32_t caplen;
	uint32_t len;           /* on the wire */
};

struct batch {
	unsigned nframes;
	uint32_t used;
	struct frame_meta f[BATCH_FRAMES];
	uint8_t data[BATCH_BYTES];
};

struct reader {
	pcap_t *pc;
	pthread_mutex_t mu;
	pthread_cond_t filled;  /* reader -> pipeline: a batch is ready, or the end */
	pthread_cond_t freed;   /* pipeline -> reader: a batch may be refilled */
	struct batch *b[NBATCHES];
	uint64_t head;          /* batches published */
	uint64_t tail;          /* batches given back */
	bool done;              /* no batch will follow; rc says why */
	bool stop;              /* the pipeline wants no more */
	int rc;                 /* pcap_next_ex's last result */
	char error[PCAP_ERRBUF_SIZE + 64];
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct pcap_pkthdr *h;
	const u_char *frame;
	int rc = 1;

	while (rc == 1) {
		struct batch *b;

		pthread_mutex_lock(&r->mu);
		while (r->head - r->tail == NBATCHES && !r->stop)
			pthread_cond_wait(&r->freed, &r->mu);
		if (r->stop) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		b = r->b[r->head % NBATCHES];
		pthread_mutex_unlock(&r->mu);

		b->nframes = 0;
		b->used = 0;
		while (b->nframes < BATCH_FRAMES && b->used <= BATCH_BYTES - MAX_FRAME &&
		    (rc = pcap_next_ex(r->pc, &h, &frame)) == 1) {
			struct frame_meta *m = &b->f[b->nframes++];
			uint32_t caplen = h->caplen < MAX_FRAME ? h->caplen : MAX_FRAME;

			m->ts_us = (uint64_t)h->ts.tv_sec * 1000000ULL + (uint64_t)h->ts.tv_usec;
			m->off = b->used;
			m->caplen = caplen;
			m->len = h->len;
			memcpy(b->data + b->used, frame, caplen);
			/* keep frames 8-byte aligned, as a receive buffer would be */
			b->used += (caplen + 7u) & ~7u;
		}
		if (rc == -1)
			snprintf(r->error, sizeof(r->error), "%s", pcap_geterr(r->pc));
		pthread_mutex_lock(&r->mu);
		if (b->nframes > 0)
			r->head++;
		if (rc != 1) {
			r->done = true;
			r->rc = rc;
		}
		pthread_cond_signal(&r->filled);
		pthread_mutex_unlock(&r->mu);
	}
	return NULL;
}

/* The next batch to process, or NULL at the end of the capture. */
static struct batch *
reader_next(struct reader *r)
{
	struct batch *b = NULL;

	pthread_mutex_lock(&r->mu);
	while (r->head == r->tail && !r->done)
		pthread_cond_wait(&r->filled, &r->mu);
	if (r->head != r->tail)
		b = r->b[r->tail % NBATCHES];
	pthread_mutex_unlock(&r->mu);
	return b;
}

static void
reader_release(struct reader *r)
{
	pthread_mutex_lock(&r->mu);
	r->tail++;
	pthread_cond_signal(&r->freed);
	pthread_mutex_unlock(&r->mu);
}

static void
reader_stop(struct reader *r, pthread_t th)
{
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->freed);
	pthread_mutex_unlock(&r->mu);
	pthread_join(th, NULL);
}

static void
reader_free(struct reader *r)
{
	for (unsigned i = 0; i < NBATCHES; i++)
		free(r->b[i]);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->filled);
	pthread_cond_destroy(&r->freed);
}

struct replay_state {
	const struct ctg_replay_opts *o;
	FILE *out;
};

int
ctg_replay_add_inside(struct ctg_replay_opts *o, const char *cidr)
{
	char buf[64];
	char *slash;
	long len;
	unsigned i = o->ninside;

	if (i >= CTG_REPLAY_MAX_INSIDE || strlen(cidr) >= sizeof(buf))
		return -1;
	strcpy(buf, cidr);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(&o->inside[i], 0, sizeof(o->inside[i]));
	if (inet_pton(AF_INET, buf, o->inside[i].b) == 1)
		o->inside_family[i] = 4;
	else if (inet_pton(AF_INET6, buf, o->inside[i].b) == 1)
		o->inside_family[i] = 6;
	else
		return -1;
	len = o->inside_family[i] == 4 ? 32 : 128;
	if (slash) {
		char *end;
		long v = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || v < 0 || v > len)
			return -1;
		len = v;
	}
	o->inside_len[i] = (uint8_t)len;
	o->ninside++;
	return 0;
}

static bool
prefix_match(const struct ctg_addr *a, const struct ctg_addr *net, unsigned len)
{
	unsigned bytes = len / 8, bits = len % 8;

	if (memcmp(a->b, net->b, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (a->b[bytes] & mask) == (net->b[bytes] & mask);
}

static bool
is_inside(const struct ctg_replay_opts *o, const struct ctg_addr *a, uint8_t family)
{
	for (unsigned i = 0; i < o->ninside; i++)
		if (o->inside_family[i] == family && prefix_match(a, &o->inside[i], o->inside_len[i]))
			return true;
	return false;
}

int
ctg_replay_link_offset(int dlt, const uint8_t *f, uint32_t len)
{
	uint32_t off;
	uint16_t type;

	switch (dlt) {
	case DLT_EN10MB:
		if (len < 14)
			return -2;
		type = (uint16_t)(f[12] << 8 | f[13]);
		off = 14;
		for (int tags = 0; type == ETH_P_8021Q || type == ETH_P_8021AD ||
		    type == ETH_P_QINQ_OLD; tags++) {
			if (tags >= MAX_VLAN_TAGS || len < off + 4)
				return -2;
			type = (uint16_t)(f[off + 2] << 8 | f[off + 3]);
			off += 4;
		}
		return type == ETH_P_IP || type == ETH_P_IPV6 ? (int)off : -1;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	case DLT_LINUX_SLL:
		if (len < 16)
			return -2;
		type = (uint16_t)(f[14] << 8 | f[15]);
		return type == ETH_P_IP || type == ETH_P_IPV6 ? 16 : -1;
	case DLT_LINUX_SLL2:
		if (len < 20)
			return -2;
		type = (uint16_t)(f[0] << 8 | f[1]);
		return type == ETH_P_IP || type == ETH_P_IPV6 ? 20 : -1;
	case DLT_NULL:
	case DLT_LOOP: {
		uint32_t af;

		if (len < 4)
			return -2;
		if (dlt == DLT_LOOP)
			af = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | (uint32_t)f[2] << 8 | f[3];
		else
			memcpy(&af, f, 4);
		/* AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 by OS */
		if (af > 0xffff)
			af = __builtin_bswap32(af);
		return af == 2 || af == 10 || af == 24 || af == 28 || af == 30 ? 4 : -1;
	}
	default:
		return -3;
	}
}

static void
print_conn(void *arg, const struct ctg_conn_record *r)
{
	struct replay_state *rs = arg;
	char s[64], d[64];

	if (!rs->o->print_connections)
		return;
	ctg_addr_str(&r->tuple.src, r->tuple.family, s, sizeof(s));
	ctg_addr_str(&r->tuple.dst, r->tuple.family, d, sizeof(d));
	fprintf(rs->out, "conn\t%llu\t%u\t%s\t%u\t%s\t%u\t%s\t%s\t%s\t%s\t%s\t%llu\t%llu\n",
	    (unsigned long long)r->conn_id, r->tuple.proto, s, r->tuple.sport, d,
	    r->tuple.dport, r->conn_state, r->history[0] ? r->history : "-",
	    r->tuple.proto == IPPROTO_TCP ? ctg_tcp_state_name(r->orig_state) : "-",
	    r->tuple.proto == IPPROTO_TCP ? ctg_tcp_state_name(r->resp_state) : "-",
	    ctg_end_reason_name(r->end_reason),
	    (unsigned long long)r->pkts[0], (unsigned long long)r->pkts[1]);
}

static void
print_verdict(FILE *out, uint64_t frame, const struct ctg_decision *d)
{
	bool tcp = d->pkt.tuple.proto == IPPROTO_TCP && d->tr.conn != NULL;

	fprintf(out, "%llu\t%s\t%s\t%s\t%s\t%s\t%s\n", (unsigned long long)frame,
	    ctg_action_name(d->action), ctg_ctstate_name(d->tr.ctstate),
	    tcp ? ctg_tcp_state_name(d->tr.after[0]) : "-",
	    tcp ? ctg_tcp_state_name(d->tr.after[1]) : "-",
	    ctg_reason_name(d->reason), d->rule && d->rule[0] ? d->rule : "-");
}

static void
print_summary(FILE *err, const struct ctg_pipeline *p, uint64_t frames,
    uint64_t not_ip, double secs)
{
	struct ctg_tracker_stats ts;

	ctg_tracker_stats(p->tracker, &ts);
	fprintf(err, "replay: %llu frames, %llu IP packets, %llu not IP, %llu connections\n",
	    (unsigned long long)frames, (unsigned long long)p->st.packets,
	    (unsigned long long)not_ip, (unsigned long long)ts.created);
	fprintf(err, "replay: verdicts accept %llu, drop %llu, reject %llu\n",
	    (unsigned long long)p->st.verdicts[CTG_ACT_ACCEPT],
	    (unsigned long long)p->st.verdicts[CTG_ACT_DROP],
	    (unsigned long long)p->st.verdicts[CTG_ACT_REJECT]);
	for (unsigned i = 0; i < CTG_R_COUNT; i++)
		if (p->st.reasons[i])
			fprintf(err, "replay: reason %-28s %llu\n", ctg_reason_name(i),
			    (unsigned long long)p->st.reasons[i]);
	fprintf(err, "replay: %.0f packets per second\n",
	    secs > 0 ? (double)frames / secs : 0.0);
}

/* One frame through the pipeline, as the daemon would have received it. */
static void
replay_frame(const struct ctg_replay_opts *o, struct ctg_pipeline *p, FILE *out,
    int dlt, uint64_t n, uint64_t now_us, const uint8_t *frame,
    uint32_t caplen, uint32_t len, uint64_t *not_ip)
{
	struct ctg_decision d;
	struct ctg_pkt_in in;
	int off = ctg_replay_link_offset(dlt, frame, caplen);

	if (off < 0) {
		(*not_ip)++;
		if (o->print_verdicts)
			fprintf(out, "%llu\taccept\t-\t-\t-\t%s\t-\n", (unsigned long long)n,
			    off == -2 ? "link_truncated" : "not_ip");
		return;
	}
	memset(&in, 0, sizeof(in));
	in.buf = frame + off;
	in.caplen = caplen - (uint32_t)off;
	in.wire_len = len > (uint32_t)off ? len - (uint32_t)off : in.caplen;
	if (in.wire_len < in.caplen)
		in.wire_len = in.caplen;
	in.now_us = now_us;
	in.packet_no = n;
	in.iif = "";
	in.oif = "";
	/* decode once more for the interface guess only when asked */
	if (o->ninside > 0) {
		struct ctg_packet peek;

		ctg_decode_ip(&peek, in.buf, in.caplen, in.wire_len);
		if (is_inside(o, &peek.tuple.src, peek.tuple.family)) {
			in.iif = o->inside_if;
			in.oif = o->outside_if;
		} else {
			in.iif = o->outside_if;
			in.oif = o->inside_if;
		}
	}
	ctg_pipeline_process(p, &in, &d);
	if (o->print_verdicts)
		print_verdict(out, n, &d);
}

int
ctg_replay_run(const struct ctg_replay_opts *o, struct ctg_pipeline *p,
    FILE *out, FILE *err)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct replay_state rs = { .o = o, .out = out };
	struct reader rd;
	struct batch *b;
	uint64_t n = 0, not_ip = 0, now_us = 0, last_sweep = 0;
	struct timespec t0;
	double secs;
	int status = 0, dlt, e;
	pthread_t th;
	FILE *fp;

	/*
	 * libpcap reads each frame with two freads; only the reader thread
	 * touches the stream, so stdio's per-call locking is pure cost.
	 */
	/* "-" is standard input, as for tcpdump -r (e.g. tcpdump -w - | ...) */
	if (strcmp(o->path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(o->path, "rb")) == NULL) {
		fprintf(err, "%s: %s\n", o->path, strerror(errno));
		return 1;
	}
	__fsetlocking(fp, FSETLOCKING_BYCALLER);
	memset(&rd, 0, sizeof(rd));
	rd.pc = pcap_fopen_offline(fp, errbuf);
	if (!rd.pc) {
		fprintf(err, "%s: %s\n", o->path, errbuf);
		if (fp != stdin)
			fclose(fp);
		return 1;
	}
	dlt = pcap_datalink(rd.pc);
	if (ctg_replay_link_offset(dlt, (const uint8_t *)"", 0) == -3) {
		const char *name = pcap_datalink_val_to_name(dlt);

		fprintf(err, "%s: unsupported link type %s (%d)\n", o->path,
		    name ? name : "unknown", dlt);
		pcap_close(rd.pc);
		return 1;
	}
	pthread_mutex_init(&rd.mu, NULL);
	pthread_cond_init(&rd.filled, NULL);
	pthread_cond_init(&rd.freed, NULL);
	for (unsigned i = 0; i < NBATCHES; i++)
		if ((rd.b[i] = malloc(sizeof(*rd.b[i]))) == NULL) {
			fprintf(err, "%s: out of memory for read batches\n", o->path);
			reader_free(&rd);
			pcap_close(rd.pc);
			return 1;
		}
	p->on_conn_end = print_conn;
	p->on_conn_end_arg = &rs;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((e = pthread_create(&th, NULL, reader_main, &rd)) != 0) {
		fprintf(err, "%s: cannot start the capture reader: %s\n", o->path,
		    strerror(e));
		p->on_conn_end = NULL;
		reader_free(&rd);
		pcap_close(rd.pc);
		return 1;
	}

	while ((b = reader_next(&rd)) != NULL) {
		for (unsigned i = 0; i < b->nframes; i++) {
			const struct frame_meta *m = &b->f[i];

			n++;
			/* capture clocks can step back; the tracker's clock must not */
			if (m->ts_us > now_us)
				now_us = m->ts_us;
			if (now_us - last_sweep >= SWEEP_INTERVAL_US) {
				ctg_tracker_sweep(p->tracker, now_us, SWEEP_BUDGET);
				last_sweep = now_us;
			}
			replay_frame(o, p, out, dlt, n, now_us, b->data + m->off,
			    m->caplen, m->len, &not_ip);
		}
		reader_release(&rd);
	}
	reader_stop(&rd, th);
	if (rd.rc == -1) {
		fprintf(err, "%s: damaged capture at frame %llu: %s (%llu frames processed)\n",
		    o->path, (unsigned long long)n + 1, rd.error, (unsigned long long)n);
		status = 1;
	}
	secs = ctg_clock_since_s(&t0);
	/* connections still open at the end of the capture are summarised too */
	ctg_tracker_flush(p->tracker, CTG_END_SHUTDOWN, now_us);
	print_summary(err, p, n, not_ip, secs);
	p->on_conn_end = NULL;
	reader_free(&rd);
	pcap_close(rd.pc);
	return status;
}
