/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NFQUEUE queue I/O over libmnl and the nfq_nlmsg_* helpers.
 *
 * Receive: poll, then recvmmsg(MSG_DONTWAIT) into preallocated slots, one
 * netlink datagram (normally one packet) per slot. Verdicts are queued and
 * sent several per sendto(); a run of equal verdicts becomes one
 * NFQNL_MSG_VERDICT_BATCH when that cannot touch a packet the caller still
 * holds. The batch answers every queued packet with an id up to its own, so
 * we keep the ids of packets received and not yet answered in a ring, in
 * arrival order, and batch only below the oldest of them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "ctguard/clock.h"
#include "ctguard/nfq.h"

_Static_assert(CTG_NFQ_DROP == NF_DROP, "CTG_NFQ_DROP");
_Static_assert(CTG_NFQ_ACCEPT == NF_ACCEPT, "CTG_NFQ_ACCEPT");
_Static_assert(CTG_NFQ_REPEAT == NF_REPEAT, "CTG_NFQ_REPEAT");
_Static_assert(CTG_NFQ_F_FAIL_OPEN == NFQA_CFG_F_FAIL_OPEN, "F_FAIL_OPEN");
_Static_assert(CTG_NFQ_F_CONNTRACK == NFQA_CFG_F_CONNTRACK, "F_CONNTRACK");
_Static_assert(CTG_NFQ_F_GSO == NFQA_CFG_F_GSO, "F_GSO");

#define NFQ_COPY_MAX            65531   /* 0xffff - NLA_HDRLEN, kernel limit */
#define NFQ_RX_BYTES            (256 * 1024)
#define NFQ_SLOTS_MIN           16
#define NFQ_SLOTS_MAX           64
/* Room for every attribute but the payload, and for error messages. */
#define NFQ_SLOT_OVERHEAD       1024
#define NFQ_SLOT_MIN            4096
#define NFQ_ACK_TIMEOUT_MS      2000
#define NFQ_SEND_TRIES          3
#define NFQ_QMAX_DEFAULT        1024    /* kernel NFQNL_QMAX_DEFAULT */
/* One verdict message with a mark: nlmsghdr, nfgenmsg, two attributes. */
#define NFQ_TXMSG_MAX           64
#define NFQ_CFGMSG_MAX          256

struct nfq_pending {
	uint32_t id;
	uint32_t verdict;
	uint32_t mark;
	bool has_mark;
	bool known;             /* id was received and still held */
};

struct ctg_nfq {
	struct mnl_socket *nl;
	int fd;
	uint32_t portid;
	uint16_t queue;
	uint32_t copy_range;
	uint32_t seq;

	/* receive slots; slot nslots is scratch for the set-up phase */
	uint8_t *rxbuf;
	size_t slot_size;
	unsigned nslots;
	struct mmsghdr *msgs;
	struct iovec *iov;
	unsigned backlog_pos;   /* datagrams read during open, not delivered */
	unsigned backlog_n;

	/* ids delivered and not yet answered, oldest first */
	uint32_t *ring;
	unsigned ring_cap;
	unsigned ring_head;
	unsigned ring_len;
	bool ring_lost;         /* overflowed: batching is no longer safe */
	uint32_t last_id;

	struct nfq_pending pend[CTG_NFQ_VERDICT_BATCH];
	unsigned npend;
	uint8_t txbuf[CTG_NFQ_VERDICT_BATCH * NFQ_TXMSG_MAX];

	struct ctg_nfq_stats st;
	uint32_t flags_accepted;
	char refused[160];
	uint32_t rcvbuf;
	bool rcvbuf_forced;
	int wake_fd;            /* the caller's eventfd, polled beside the socket; -1 none */
};

static bool
serial_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static uint8_t *
slot(struct ctg_nfq *q, unsigned i)
{
	return q->rxbuf + (size_t)i * q->slot_size;
}

static int
is_packet_msg(const struct nlmsghdr *nlh)
{
	return NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_QUEUE &&
	    NFNL_MSG_TYPE(nlh->nlmsg_type) == NFQNL_MSG_PACKET;
}

static void
ring_push(struct ctg_nfq *q, uint32_t id)
{
	if (q->ring_len == q->ring_cap) {
		q->ring_lost = true;
		return;
	}
	q->ring[(q->ring_head + q->ring_len) % q->ring_cap] = id;
	q->ring_len++;
}

/* Remove id from the ring; false if it is not there. */
static bool
ring_take(struct ctg_nfq *q, uint32_t id)
{
	unsigned i, j, cap = q->ring_cap;

	if (q->ring_len == 0)
		return false;
	if (q->ring[q->ring_head] == id) {
		q->ring_head = (q->ring_head + 1) % cap;
		q->ring_len--;
		return true;
	}
	q->st.out_of_order++;
	for (i = 1; i < q->ring_len; i++) {
		if (q->ring[(q->ring_head + i) % cap] != id)
			continue;
		/* close the hole by moving the older entries up by one */
		for (j = i; j > 0; j--)
			q->ring[(q->ring_head + j) % cap] =
			    q->ring[(q->ring_head + j - 1) % cap];
		q->ring_head = (q->ring_head + 1) % cap;
		q->ring_len--;
		return true;
	}
	return false;
}

static void
note_id(struct ctg_nfq *q, uint32_t id)
{
	uint32_t d = id - q->last_id;

	if (d == 0 || d >= 0x80000000u)
		return;         /* duplicate or older: nothing new lost */
	q->st.id_gaps += d - 1;
	q->last_id = id;
}

static void
deliver(struct ctg_nfq *q, struct nlattr **attr, ctg_nfq_cb cb, void *arg)
{
	const struct nfqnl_msg_packet_hdr *ph;
	struct ctg_nfq_pkt pkt;
	uint32_t skbinfo = 0;

	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	memset(&pkt, 0, sizeof(pkt));
	pkt.id = ntohl(ph->packet_id);
	pkt.hw_proto = ntohs(ph->hw_protocol);
	pkt.hook = ph->hook;
	if (attr[NFQA_PAYLOAD] != NULL) {
		pkt.payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		pkt.caplen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	pkt.wire_len = pkt.caplen;
	if (attr[NFQA_CAP_LEN] != NULL)
		pkt.wire_len = ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN]));
	if (attr[NFQA_IFINDEX_INDEV] != NULL)
		pkt.ifindex_in = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
	if (attr[NFQA_IFINDEX_OUTDEV] != NULL)
		pkt.ifindex_out =
		    ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV]));
	if (attr[NFQA_MARK] != NULL)
		pkt.mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	if (attr[NFQA_SKB_INFO] != NULL)
		skbinfo = ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO]));
	pkt.gso = (skbinfo & NFQA_SKB_GSO) != 0;
	pkt.gso_partial_csum = (skbinfo & NFQA_SKB_CSUMNOTREADY) != 0;
	pkt.csum_unverified = (skbinfo & NFQA_SKB_CSUM_NOTVERIFIED) != 0;

	note_id(q, pkt.id);
	ring_push(q, pkt.id);
	q->st.packets++;
	cb(arg, &pkt);
}

/*
 * A datagram cut short (MSG_TRUNC): slots are sized so this should not
 * happen, but a packet we cannot answer would sit in the kernel until we
 * exit. Find its id and hand it over without payload so it gets a verdict.
 */
static unsigned
salvage(struct ctg_nfq *q, const struct nlmsghdr *nlh, size_t rem,
    ctg_nfq_cb cb, void *arg)
{
	struct nlattr *attr[NFQA_MAX + 1];
	const struct nlattr *a;
	size_t off = MNL_ALIGN(sizeof(*nlh)) + MNL_ALIGN(sizeof(struct nfgenmsg));
	int left;

	q->st.malformed++;
	if (rem < off || rem > INT_MAX || !is_packet_msg(nlh))
		return 0;
	memset(attr, 0, sizeof(attr));
	a = (const struct nlattr *)((const uint8_t *)nlh + off);
	left = (int)(rem - off);
	while (mnl_attr_ok(a, left)) {
		uint16_t type = mnl_attr_get_type(a);

		if (type == NFQA_PACKET_HDR &&
		    mnl_attr_get_payload_len(a) >=
		    sizeof(struct nfqnl_msg_packet_hdr))
			attr[type] = (struct nlattr *)a;
		else if (type == NFQA_CAP_LEN &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			attr[type] = (struct nlattr *)a;
		a = mnl_attr_next(a);
		left = (int)(rem - (size_t)((const uint8_t *)a -
		    (const uint8_t *)nlh));
	}
	if (attr[NFQA_PACKET_HDR] == NULL)
		return 0;
	deliver(q, attr, cb, arg);
	return 1;
}

/* Handle one datagram; returns the number of packets delivered. */
static unsigned
process(struct ctg_nfq *q, const uint8_t *buf, size_t len, bool trunc,
    ctg_nfq_cb cb, void *arg)
{
	struct nlattr *attr[NFQA_MAX + 1];
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	const struct nlmsgerr *e;
	int rem = (int)len;
	unsigned n = 0;

	while (mnl_nlmsg_ok(nlh, rem)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			e = mnl_nlmsg_get_payload(nlh);
			if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(*e)) &&
			    e->error != 0)
				q->st.nl_errors++;
		} else if (is_packet_msg(nlh)) {
			memset(attr, 0, sizeof(attr));
			if (nfq_nlmsg_parse(nlh, attr) < 0)
				q->st.malformed++;
			if (attr[NFQA_PACKET_HDR] != NULL) {
				deliver(q, attr, cb, arg);
				n++;
			} else {
				q->st.malformed++;
			}
		}
		nlh = mnl_nlmsg_next(nlh, &rem);
	}
	if (trunc && rem > 0)
		n += salvage(q, nlh, (size_t)rem, cb, arg);
	return n;
}

static int
send_all(struct ctg_nfq *q, const void *buf, size_t len)
{
	int i;
	ssize_t r;

	for (i = 0; i < NFQ_SEND_TRIES; i++) {
		r = mnl_socket_sendto(q->nl, buf, len);
		if (r == (ssize_t)len)
			return 0;
		if (r >= 0) {
			errno = EMSGSIZE;
			break;
		}
		if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN &&
		    errno != ENOMEM)
			break;
	}
	return -1;
}

static size_t
put_verdict(struct ctg_nfq *q, size_t off, int type,
    const struct nfq_pending *p)
{
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put((char *)q->txbuf + off, type, q->queue);
	nfq_nlmsg_verdict_put(nlh, (int)p->id, (int)p->verdict);
	if (p->has_mark)
		nfq_nlmsg_verdict_put_mark(nlh, p->mark);
	return off + MNL_ALIGN(nlh->nlmsg_len);
}

/* A batch up to last answers only packets already answered in our order. */
static bool
batch_safe(const struct ctg_nfq *q, uint32_t last)
{
	if (q->ring_lost)
		return false;
	return q->ring_len == 0 || serial_gt(q->ring[q->ring_head], last);
}

static bool
same_run(const struct nfq_pending *a, const struct nfq_pending *b)
{
	return b->known && b->verdict == a->verdict &&
	    b->has_mark == a->has_mark && (!a->has_mark || b->mark == a->mark);
}

int
ctg_nfq_flush(struct ctg_nfq *q)
{
	const struct nfq_pending *p;
	size_t off = 0;
	unsigned i, j;
	int rc;

	if (q->npend == 0)
		return 0;
	for (i = 0; i < q->npend; i = j) {
		p = &q->pend[i];
		j = i + 1;
		if (p->known) {
			while (j < q->npend && same_run(p, &q->pend[j]) &&
			    serial_gt(q->pend[j].id, q->pend[j - 1].id))
				j++;
		}
		if (j - i >= 2 && batch_safe(q, q->pend[j - 1].id)) {
			off = put_verdict(q, off, NFQNL_MSG_VERDICT_BATCH,
			    &q->pend[j - 1]);
			q->st.batch_msgs++;
		} else {
			j = i + 1;
			off = put_verdict(q, off, NFQNL_MSG_VERDICT, p);
		}
	}
	q->st.sends++;
	rc = send_all(q, q->txbuf, off);
	if (rc == -1) {
		/*
		 * Keep the verdicts: a packet without one holds a kernel queue
		 * slot until unbind. The next flush sends them again.
		 */
		q->st.send_errors++;
		return -1;
	}
	q->npend = 0;
	return 0;
}

static void
queue_verdict(struct ctg_nfq *q, uint32_t id, uint32_t verdict,
    bool has_mark, uint32_t mark)
{
	struct nfq_pending *p;

	/*
	 * Full after failed flushes: keep trying for a while (the socket's
	 * send buffer drains as the kernel reinjects), then give the oldest
	 * verdict up rather than overrun the array; the kernel drops that
	 * packet at unbind, which the send_errors counter shows.
	 */
	for (int tries = 0; q->npend == CTG_NFQ_VERDICT_BATCH && tries < 100; tries++) {
		struct timespec pause = { 0, 1000 * 1000 };

		if (ctg_nfq_flush(q) == 0)
			break;
		nanosleep(&pause, NULL);
	}
	if (q->npend == CTG_NFQ_VERDICT_BATCH) {
		memmove(&q->pend[0], &q->pend[1], (CTG_NFQ_VERDICT_BATCH - 1) * sizeof(q->pend[0]));
		q->npend--;
		q->st.verdicts_lost++;
	}
	p = &q->pend[q->npend++];
	p->id = id;
	p->verdict = verdict;
	p->mark = mark;
	p->has_mark = has_mark;
	p->known = ring_take(q, id);
	q->st.verdicts++;
	if (q->npend == CTG_NFQ_VERDICT_BATCH)
		(void)ctg_nfq_flush(q);
}

void
ctg_nfq_verdict(struct ctg_nfq *q, uint32_t id, uint32_t verdict)
{
	queue_verdict(q, id, verdict, false, 0);
}

void
ctg_nfq_verdict_mark(struct ctg_nfq *q, uint32_t id, uint32_t verdict,
    uint32_t mark)
{
	queue_verdict(q, id, verdict, true, mark);
}

static void
drop_cb(void *arg, const struct ctg_nfq_pkt *pkt)
{
	ctg_nfq_verdict(arg, pkt->id, NF_DROP);
}

/*
 * Wait for the kernel's answer to config message seq. Once the queue is
 * bound, packets can arrive before the answer: keep them in the receive
 * slots for the first ctg_nfq_receive. Returns 0 or an errno value.
 */
static int
ack_wait(struct ctg_nfq *q, uint32_t seq)
{
	uint64_t t0;
	const struct nlmsghdr *nlh;
	const struct nlmsgerr *e;
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
	uint8_t *buf;
	ssize_t n;
	long left;
	int rem, r, answer;
	bool packets;

	t0 = ctg_clock_mono_ms();
	for (;;) {
		left = NFQ_ACK_TIMEOUT_MS - (long)(ctg_clock_mono_ms() - t0);
		if (left <= 0)
			return ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return errno;
		if (r == 0)
			return ETIMEDOUT;
		buf = slot(q, q->backlog_n < q->nslots ? q->backlog_n :
		    q->nslots);
		n = recv(q->fd, buf, q->slot_size, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == ENOBUFS)
				q->st.enobufs++;
			else if (errno != EINTR && errno != EAGAIN)
				return errno;
			continue;
		}
		answer = -1;
		packets = false;
		nlh = (const struct nlmsghdr *)buf;
		rem = (int)n;
		for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
			if (is_packet_msg(nlh))
				packets = true;
			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_seq != seq ||
			    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			answer = -e->error;
		}
		if (packets) {
			if (q->backlog_n < q->nslots) {
				q->msgs[q->backlog_n].msg_len = (unsigned)n;
				q->msgs[q->backlog_n].msg_hdr.msg_flags = 0;
				q->backlog_n++;
			} else {
				/* no room to keep it: fail closed */
				process(q, buf, (size_t)n, false, drop_cb, q);
				if (ctg_nfq_flush(q) == -1)
					return errno;
			}
		}
		if (answer >= 0)
			return answer;
	}
}

static int
config_send(struct ctg_nfq *q, uint8_t cmd, bool params, uint32_t maxlen,
    uint32_t flag)
{
	char buf[NFQ_CFGMSG_MAX];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->queue);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++q->seq;
	if (cmd != NFQNL_CFG_CMD_NONE)
		nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, cmd);
	if (params)
		nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET,
		    (int)q->copy_range);
	if (maxlen != 0)
		nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	if (flag != 0) {
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flag));
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flag));
	}
	if (send_all(q, buf, nlh->nlmsg_len) == -1)
		return errno;
	return ack_wait(q, q->seq);
}

static void
probe_flag(struct ctg_nfq *q, uint32_t flag, const char *name)
{
	size_t used = strlen(q->refused);
	int e;

	e = config_send(q, NFQNL_CFG_CMD_NONE, false, 0, flag);
	if (e == 0) {
		q->flags_accepted |= flag;
		return;
	}
	snprintf(q->refused + used, sizeof(q->refused) - used, "%s%s (%s)",
	    used ? ", " : "", name, strerror(e));
}

static void
set_rcvbuf(struct ctg_nfq *q, uint32_t want)
{
	int v = want > INT_MAX / 2 ? INT_MAX / 2 : (int)want;
	socklen_t sl = sizeof(v);

	if (want != 0) {
		q->rcvbuf_forced = setsockopt(q->fd, SOL_SOCKET,
		    SO_RCVBUFFORCE, &v, sizeof(v)) == 0;
		if (!q->rcvbuf_forced)
			(void)setsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &v,
			    sizeof(v));
	}
	/* the kernel reports twice the size asked for, bookkeeping included */
	if (getsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &v, &sl) == 0 && v > 0)
		q->rcvbuf = (uint32_t)v / 2;
}

static const char *
bind_hint(int e)
{
	switch (e) {
	case EPERM:
		return " (need CAP_NET_ADMIN, or another process owns the queue)";
	case EBUSY:
		return " (queue already bound by this socket)";
	case ETIMEDOUT:
		return " (no answer from the kernel)";
	case EPROTONOSUPPORT:
	case ENOENT:
		return " (is nfnetlink_queue available?)";
	default:
		return "";
	}
}

struct ctg_nfq *
ctg_nfq_open(const struct ctg_nfq_config *cfg, char *err, size_t errlen)
{
	struct ctg_nfq *q;
	uint32_t range;
	unsigned i;
	int e;

	if (cfg == NULL) {
		snprintf(err, errlen, "nfq: no configuration");
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(err, errlen, "nfq: out of memory");
		return NULL;
	}
	q->fd = -1;
	q->wake_fd = -1;
	q->queue = cfg->queue;
	q->seq = (uint32_t)time(NULL);

	range = cfg->copy_range;
	if (range == 0 || range > NFQ_COPY_MAX)
		range = NFQ_COPY_MAX;
	q->copy_range = range;
	q->slot_size = range + NFQ_SLOT_OVERHEAD;
	if (q->slot_size < NFQ_SLOT_MIN)
		q->slot_size = NFQ_SLOT_MIN;
	q->slot_size = (q->slot_size + 63) & ~(size_t)63;
	q->nslots = NFQ_RX_BYTES / q->slot_size;
	if (q->nslots < NFQ_SLOTS_MIN)
		q->nslots = NFQ_SLOTS_MIN;
	if (q->nslots > NFQ_SLOTS_MAX)
		q->nslots = NFQ_SLOTS_MAX;
	q->ring_cap = cfg->maxlen != 0 ? cfg->maxlen : NFQ_QMAX_DEFAULT;
	if (q->ring_cap > 1u << 20)
		q->ring_cap = 1u << 20;

	q->rxbuf = malloc((q->nslots + 1) * q->slot_size);
	q->msgs = calloc(q->nslots, sizeof(*q->msgs));
	q->iov = calloc(q->nslots, sizeof(*q->iov));
	q->ring = calloc(q->ring_cap, sizeof(*q->ring));
	if (q->rxbuf == NULL || q->msgs == NULL || q->iov == NULL ||
	    q->ring == NULL) {
		snprintf(err, errlen, "nfq: out of memory");
		goto fail;
	}
	for (i = 0; i < q->nslots; i++) {
		q->iov[i].iov_base = slot(q, i);
		q->iov[i].iov_len = q->slot_size;
		q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
		q->msgs[i].msg_hdr.msg_iovlen = 1;
	}

	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (q->nl == NULL) {
		snprintf(err, errlen, "nfq: netlink socket: %s",
		    strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		snprintf(err, errlen, "nfq: netlink bind: %s", strerror(errno));
		goto fail;
	}
	q->fd = mnl_socket_get_fd(q->nl);
	q->portid = mnl_socket_get_portid(q->nl);
	set_rcvbuf(q, cfg->rcvbuf);

	/* copy mode in the bind message: a queue in COPY_NONE drops packets */
	e = config_send(q, NFQNL_CFG_CMD_BIND, true, cfg->maxlen, 0);
	if (e != 0) {
		snprintf(err, errlen, "nfq: bind queue %u: %s%s", q->queue,
		    strerror(e), bind_hint(e));
		goto fail;
	}
	if (cfg->gso)
		probe_flag(q, NFQA_CFG_F_GSO, "GSO");
	if (cfg->fail_open)
		probe_flag(q, NFQA_CFG_F_FAIL_OPEN, "FAIL_OPEN");
	return q;
fail:
	ctg_nfq_close(q);
	return NULL;
}

int
ctg_nfq_fd(const struct ctg_nfq *q)
{
	return q->fd;
}

void
ctg_nfq_set_wake(struct ctg_nfq *q, int fd)
{
	q->wake_fd = fd;
}

int
ctg_nfq_receive(struct ctg_nfq *q, int timeout_ms, unsigned max,
    ctg_nfq_cb cb, void *arg)
{
	struct pollfd pfd[2] = { { .fd = q->fd, .events = POLLIN },
	    { .fd = q->wake_fd, .events = POLLIN } };
	unsigned handled = 0, want, i;
	int n, fatal = 0;

	if (max == 0)
		max = 1;
	while (q->backlog_pos < q->backlog_n && handled < max) {
		i = q->backlog_pos++;
		handled += process(q, slot(q, i), q->msgs[i].msg_len, false,
		    cb, arg);
	}
	if (q->backlog_pos == q->backlog_n)
		q->backlog_pos = q->backlog_n = 0;
	if (handled == 0 && q->backlog_n == 0) {
		n = poll(pfd, q->wake_fd >= 0 ? 2 : 1, timeout_ms);
		if (n == 0 || (n == -1 && errno == EINTR))
			return 0;
		if (n == -1)
			return -1;
		if (pfd[1].revents & POLLIN) {
			uint64_t v;

			if (read(q->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return -1;
			if (!(pfd[0].revents & POLLIN))
				return 0;
		}
	}
	while (handled < max && q->backlog_n == 0) {
		want = max - handled;
		if (want > q->nslots)
			want = q->nslots;
		n = recvmmsg(q->fd, q->msgs, want, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == ENOBUFS)
				q->st.enobufs++;
			else if (errno != EAGAIN && errno != EINTR)
				fatal = errno;
			break;
		}
		for (i = 0; i < (unsigned)n; i++)
			handled += process(q, slot(q, i), q->msgs[i].msg_len,
			    (q->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0,
			    cb, arg);
		if ((unsigned)n < want)
			break;
	}
	if (handled > 0)
		q->st.bursts++;
	if (ctg_nfq_flush(q) == -1 && fatal == 0)
		fatal = errno;
	if (fatal != 0) {
		errno = fatal;
		return -1;
	}
	return handled > INT_MAX ? INT_MAX : (int)handled;
}

unsigned
ctg_nfq_outstanding(const struct ctg_nfq *q)
{
	return q->ring_len;
}

void
ctg_nfq_stats(const struct ctg_nfq *q, struct ctg_nfq_stats *st)
{
	*st = q->st;
}

uint32_t
ctg_nfq_flags_accepted(const struct ctg_nfq *q)
{
	return q->flags_accepted;
}

const char *
ctg_nfq_refused(const struct ctg_nfq *q)
{
	return q->refused;
}

uint32_t
ctg_nfq_rcvbuf(const struct ctg_nfq *q, bool *forced)
{
	if (forced != NULL)
		*forced = q->rcvbuf_forced;
	return q->rcvbuf;
}

void
ctg_nfq_close(struct ctg_nfq *q)
{
	char buf[NFQ_CFGMSG_MAX];
	struct nlmsghdr *nlh;

	if (q == NULL)
		return;
	if (q->nl != NULL) {
		if (q->fd != -1) {
			(void)ctg_nfq_flush(q);
			/* closing unbinds too; say it for older kernels */
			nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->queue);
			nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC,
			    NFQNL_CFG_CMD_UNBIND);
			(void)mnl_socket_sendto(q->nl, buf, nlh->nlmsg_len);
		}
		mnl_socket_close(q->nl);
	}
	free(q->ring);
	free(q->iov);
	free(q->msgs);
	free(q->rxbuf);
	free(q);
}

int
ctg_nfq_kstats(const char *path, uint16_t queue, struct ctg_nfq_kstats *ks)
{
	FILE *f;
	char line[256];
	unsigned v[9];
	int found = -1;

	if (path == NULL)
		path = "/proc/net/netfilter/nfnetlink_queue";
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%u %u %u %u %u %u %u %u %u", &v[0], &v[1],
		    &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) != 9)
			continue;
		if (v[0] != queue)
			continue;
		ks->portid = v[1];
		ks->queue_total = v[2];
		ks->copy_mode = v[3];
		ks->copy_range = v[4];
		ks->queue_dropped = v[5];
		ks->user_dropped = v[6];
		ks->id_sequence = v[7];
		found = 0;
		break;
	}
	fclose(f);
	return found;
}
