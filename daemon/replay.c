/*
 * Offline replay of captures through the live pipeline.
 *
 * Link layers are peeled here, by hand and bounds-checked, down to the IP
 * header the daemon would have received from NFQUEUE; everything after that
 * is the daemon's own code path.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctguard/replay.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100
#define MAX_VLAN_TAGS 4

/* Sweep the table once per second of capture time, a bounded slice at a time. */
#define SWEEP_INTERVAL_US 1000000ULL
#define SWEEP_BUDGET 4096

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

/*
 * Find the IP header in a frame. Returns its offset, or -1 for a frame that
 * carries no IP (*why says so) and -2 for a frame cut inside its link header.
 */
static int
link_offset(int dlt, const uint8_t *f, uint32_t len)
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

int
ctg_replay_run(const struct ctg_replay_opts *o, struct ctg_pipeline *p,
    FILE *out, FILE *err)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *frame;
	struct replay_state rs = { .o = o, .out = out };
	uint64_t n = 0, not_ip = 0, now_us = 0, last_sweep = 0;
	struct timespec t0, t1;
	int rc, status = 0, dlt;
	pcap_t *pc;

	pc = pcap_open_offline(o->path, errbuf);
	if (!pc) {
		fprintf(err, "%s: %s\n", o->path, errbuf);
		return 1;
	}
	dlt = pcap_datalink(pc);
	if (link_offset(dlt, (const uint8_t *)"", 0) == -3) {
		const char *name = pcap_datalink_val_to_name(dlt);

		fprintf(err, "%s: unsupported link type %s (%d)\n", o->path,
		    name ? name : "unknown", dlt);
		pcap_close(pc);
		return 1;
	}
	p->on_conn_end = print_conn;
	p->on_conn_end_arg = &rs;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	while ((rc = pcap_next_ex(pc, &h, &frame)) == 1) {
		struct ctg_decision d;
		struct ctg_pkt_in in;
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000ULL + (uint64_t)h->ts.tv_usec;
		int off;

		n++;
		/* capture clocks can step back; the tracker's clock must not */
		if (ts > now_us)
			now_us = ts;
		if (now_us - last_sweep >= SWEEP_INTERVAL_US) {
			ctg_tracker_sweep(p->tracker, now_us, SWEEP_BUDGET);
			last_sweep = now_us;
		}
		off = link_offset(dlt, frame, h->caplen);
		if (off < 0) {
			not_ip++;
			if (o->print_verdicts)
				fprintf(out, "%llu\taccept\t-\t-\t-\t%s\t-\n", (unsigned long long)n,
				    off == -2 ? "link_truncated" : "not_ip");
			continue;
		}
		memset(&in, 0, sizeof(in));
		in.buf = frame + off;
		in.caplen = h->caplen - (uint32_t)off;
		in.wire_len = h->len > (uint32_t)off ? h->len - (uint32_t)off : in.caplen;
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
	if (rc == -1) {
		fprintf(err, "%s: damaged capture at frame %llu: %s (%llu frames processed)\n",
		    o->path, (unsigned long long)n + 1, pcap_geterr(pc), (unsigned long long)n);
		status = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* connections still open at the end of the capture are summarised too */
	ctg_tracker_flush(p->tracker, CTG_END_SHUTDOWN, now_us);
	print_summary(err, p, n, not_ip,
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	p->on_conn_end = NULL;
	pcap_close(pc);
	return status;
}
