/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NFQUEUE queue I/O over libmnl (the libnetfilter_queue nfq_nlmsg_* API).
 *
 * One struct ctg_nfq owns one netlink socket bound to one queue number;
 * the kernel allows a single owner per queue, so use one per worker.
 * Everything is allocated at open: receiving packets and queueing
 * verdicts never allocate.
 *
 * Verdicts must be given in arrival order. The module checks this and
 * stays correct when it is not so (it then stops using batch verdicts,
 * which would answer packets the caller still holds), but the kernel
 * finds an out-of-order verdict by a linear scan on older kernels.
 */
#ifndef CTGUARD_NFQ_H
#define CTGUARD_NFQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Verdict values, the kernel's NF_DROP and NF_ACCEPT. */
#define CTG_NFQ_DROP            0u
#define CTG_NFQ_ACCEPT          1u
#define CTG_NFQ_REPEAT          4u      /* NF_REPEAT: the hook's table runs again */

/* NFQA_CFG_F_* bits, repeated so callers need no libnetfilter_queue header. */
#define CTG_NFQ_F_FAIL_OPEN     0x01
#define CTG_NFQ_F_CONNTRACK     0x02
#define CTG_NFQ_F_GSO           0x04

/* Verdicts queued before a flush is forced. */
#define CTG_NFQ_VERDICT_BATCH   64

struct ctg_nfq_config {
	uint16_t queue;
	uint32_t copy_range;    /* bytes of each packet copied; 0 = all (65531) */
	uint32_t maxlen;        /* kernel queue length; 0 = kernel default 1024 */
	uint32_t rcvbuf;        /* socket receive buffer bytes; 0 = leave */
	bool gso;               /* request CTG_NFQ_F_GSO */
	bool fail_open;         /* request CTG_NFQ_F_FAIL_OPEN */
};

struct ctg_nfq_pkt {
	uint32_t id;
	uint16_t hw_proto;      /* ETH_P_IP / ETH_P_IPV6, host order */
	uint8_t hook;           /* NF_INET_* */
	const uint8_t *payload; /* valid during the callback only; NULL if none */
	uint32_t caplen;        /* bytes at payload */
	uint32_t wire_len;      /* NFQA_CAP_LEN when truncated, else caplen */
	uint32_t ifindex_in;    /* 0 = none */
	uint32_t ifindex_out;
	uint32_t mark;
	bool gso;               /* NFQA_SKB_GSO: may exceed the MTU */
	bool gso_partial_csum;  /* NFQA_SKB_CSUMNOTREADY: do not check sums */
	bool csum_unverified;   /* NFQA_SKB_CSUM_NOTVERIFIED */
};

struct ctg_nfq_stats {
	uint64_t packets;       /* delivered to the callback */
	uint64_t verdicts;      /* ctg_nfq_verdict calls */
	uint64_t enobufs;       /* receive buffer overflows reported */
	uint64_t id_gaps;       /* packets lost or bypassed, from id gaps */
	uint64_t send_errors;   /* verdict sendto() failures */
	uint64_t bursts;        /* receive calls that delivered packets */
	uint64_t sends;         /* verdict sendto() calls */
	uint64_t batch_msgs;    /* NFQNL_MSG_VERDICT_BATCH messages sent */
	uint64_t nl_errors;     /* errors the kernel reported, e.g. bad id */
	uint64_t malformed;     /* messages dropped as unparseable */
	uint64_t out_of_order;  /* verdicts not for the oldest packet held */
	uint64_t verdicts_lost; /* given up after repeated send failures */
};

/* Counters of /proc/net/netfilter/nfnetlink_queue for one queue. */
struct ctg_nfq_kstats {
	uint32_t portid;
	uint32_t queue_total;   /* packets waiting for a verdict */
	uint32_t copy_mode;
	uint32_t copy_range;
	uint32_t queue_dropped; /* queue full */
	uint32_t user_dropped;  /* netlink send failed (receive buffer full) */
	uint32_t id_sequence;   /* last packet id given */
};

struct ctg_nfq;

typedef void (*ctg_nfq_cb)(void *arg, const struct ctg_nfq_pkt *pkt);

/*
 * Bind the queue and configure it. Optional flags the kernel refuses are
 * not an error: see ctg_nfq_flags_accepted and ctg_nfq_refused. On error
 * returns NULL with a message in err.
 */
struct ctg_nfq *ctg_nfq_open(const struct ctg_nfq_config *cfg,
    char *err, size_t errlen);

int ctg_nfq_fd(const struct ctg_nfq *q);

/*
 * An eventfd (non-blocking) that ends ctg_nfq_receive's wait early, read
 * empty there: another thread has something for the caller (daemon/sync-defer.c
 * wakes a worker holding verdicts). -1: none.
 */
void ctg_nfq_set_wake(struct ctg_nfq *q, int fd);

/*
 * Wait up to timeout_ms (-1 = forever) for packets, then take a burst
 * without blocking, up to max packets or until the socket is drained, and
 * call cb for each in arrival order. Queued verdicts are flushed before
 * returning. Returns packets handled, 0 on timeout, EINTR or ENOBUFS
 * (counted), -1 on a fatal error (errno set).
 */
int ctg_nfq_receive(struct ctg_nfq *q, int timeout_ms, unsigned max,
    ctg_nfq_cb cb, void *arg);

/*
 * Queue a verdict (CTG_NFQ_ACCEPT, CTG_NFQ_DROP or another NF_* value).
 * Flushes when the batch is full.
 */
void ctg_nfq_verdict(struct ctg_nfq *q, uint32_t id, uint32_t verdict);
/* Same, also setting the packet mark. */
void ctg_nfq_verdict_mark(struct ctg_nfq *q, uint32_t id, uint32_t verdict,
    uint32_t mark);

/* Send queued verdicts. Returns 0, or -1 if they could not be sent. */
int ctg_nfq_flush(struct ctg_nfq *q);

/* Packets received and not yet given a verdict. */
unsigned ctg_nfq_outstanding(const struct ctg_nfq *q);

void ctg_nfq_stats(const struct ctg_nfq *q, struct ctg_nfq_stats *st);

/* CTG_NFQ_F_* bits the kernel accepted. */
uint32_t ctg_nfq_flags_accepted(const struct ctg_nfq *q);

/* "" if every requested flag was accepted, else e.g. "GSO (Not supported)". */
const char *ctg_nfq_refused(const struct ctg_nfq *q);

/* Receive buffer granted; *forced is false if SO_RCVBUFFORCE was refused. */
uint32_t ctg_nfq_rcvbuf(const struct ctg_nfq *q, bool *forced);

/* Unbind and free. Packets still unanswered are dropped by the kernel. */
void ctg_nfq_close(struct ctg_nfq *q);

/*
 * Find queue in the text of /proc/net/netfilter/nfnetlink_queue (path NULL
 * = that file, in the caller's network namespace). Returns 0, or -1 if the
 * queue is not listed or the file cannot be read or parsed.
 */
int ctg_nfq_kstats(const char *path, uint16_t queue, struct ctg_nfq_kstats *ks);

#endif
