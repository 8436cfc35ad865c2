/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the live daemon (the daemon/ files below): the shared state of its rooms.
 *
 *   daemon.c      lifecycle: start, main loop, signals, stop; log and events
 *   worker.c      one thread per queue: packets, verdicts (rejects by the kernel)
 *   crossqueue.c  ICMP errors whose flow another worker tracks
 *   snapshot.c    the connection tables saved across restarts
 *   reload.c      rules (and configuration) loaded anew and swapped in
 *   natwatch.c    the kernel's NAT mappings (conntrack events) into the audit log
 *   offwatch.c    the end of offloaded UDP flows (conntrack DESTROY, natwatch.c's thread)
 *   ctacct.c      the kernel's counters of offloaded connections, for their summaries
 *   ctlserver.c   the control socket: a table of commands
 *   ctlsets.c     dynamic sets: registry, state file, expiry, set-* commands
 *   sync.c        state sync with the other gateways (corosync CPG), ha commands
 *   sync-defer.c  active/active: the group's acks that let held verdicts go
 *   privileges.c  giving up root
 *   pidfile.c     the pid file
 */
#ifndef CTGUARD_DAEMON_INT_H
#define CTGUARD_DAEMON_INT_H

#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctguard/auditlog.h"
#include "ctguard/config.h"
#include "ctguard/defer.h"
#include "ctguard/nfq.h"
#include "ctguard/pipeline.h"
#include "ctguard/rules.h"
#include "ctguard/strbuf.h"

#define CTGD_MAX_WORKERS 64     /* queues one daemon serves */
#define CTGD_MAX_CLIENTS 128    /* control clients served at once */
#define CTGD_IFCACHE 256

struct worker {
	pthread_t thread;
	unsigned idx;
	uint16_t queue;
	struct ctg_nfq *nfq;
	struct ctg_pipeline pl;
	pthread_mutex_t lock;
	bool locked;
	_Atomic(struct ctg_ruleset *) pending;
	_Atomic(struct ctg_ruleset *) retired;
	atomic_bool recheck;    /* set with pending: a second reload may race the first */
	uint64_t now_us;
	uint64_t last_sweep;
	size_t sweep_budget;
	uint64_t rejects_sent;          /* handed back marked for the kernel's REJECT */
	uint64_t reject_errors;         /* ... that came back: no REJECT rule */
	uint64_t offloads;              /* connections handed to the kernel (offload) */
	uint64_t offload_errors;        /* offload-marked packets that came back: no rules */
	uint64_t related_elsewhere;     /* ICMP errors matched in another queue's table */
	uint64_t related_busy;          /* ... not looked up: that worker stayed busy */
	struct daemon *dm;
	/* watchdog: bumped by the worker each turn, read by the main thread */
	atomic_uint_fast64_t heartbeat;
	atomic_bool stuck;              /* set by the main thread */
	uint64_t wd_seen, wd_since_ms;  /* main thread: last heartbeat, since when */
	uint64_t no_payload;            /* packets the kernel sent without content */
	bool want_ifnames;              /* the ruleset matches on interfaces */
	/*
	 * Active/active defer (defer.c): verdicts held until the group has
	 * applied their change. The table is the worker's (changed under
	 * lock, for status); sync-defer.c hands out tokens and acknowledgements.
	 */
	bool defer_on;                  /* mode active-active, defer_timeout_ms > 0 */
	struct ctg_defer defer;
	uint32_t defer_open;            /* under lock: the token holds get now (never 0) */
	bool defer_wanted;              /* under lock: holds wait for the next send */
	_Atomic uint32_t defer_acked;   /* sync thread: the group applied up to this token */
	int defer_wake;                 /* eventfd: sync-defer.c moved defer_acked; -1 none */
	struct ifslot {
		uint32_t index;
		uint64_t resolved_us;
		char name[IF_NAMESIZE];
	} ifname[CTGD_IFCACHE];
};

struct ctgd_nat;
struct ctgd_sync;

struct daemon {
	const struct ctg_config *cfg;
	struct ctg_config live_cfg;
	const char *config_path;
	const char *const *rule_files;
	unsigned nrule_files;
	bool foreground;
	struct worker *w;
	unsigned nw;
	struct ctg_auditlog *log;
	int ctl_fd;
	struct ctl_server *ctl;         /* ctlserver.c's clients */
	uint64_t started_us;            /* CLOCK_MONOTONIC */
	bool pidfile_written;
	uint64_t reloads, reload_failures;
	char last_reload_error[512];
	/* checkpoints (snapshot.c): written by its thread, read by status */
	pthread_t ckpt_thread;
	bool ckpt_running;
	uint64_t last_checkpoint_us;    /* wall time of the last one written */
	uint64_t checkpoints, checkpoint_failures;
	uint64_t checkpoint_write_us, checkpoint_hold_max_us;
	struct ctgd_nat *nat;           /* natwatch.c; NULL: not followed */
	struct ctgd_ctacct *ctacct;     /* ctacct.c; NULL: offload off */
	struct ctg_dynsets *dynsets;    /* ctlsets.c */
	long ctl_peer_uid;              /* of the client being served, -1: unknown */
	struct ctgd_sync *sync;         /* sync.c; allocated even with sync off (the role) */
};

/* daemon.c */
extern atomic_bool ctgd_stopping;       /* workers finish their burst and stop */
void ctgd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctgd_event(struct daemon *dm, enum ctg_event_kind kind, uint64_t count,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ctgd_event_from(struct daemon *dm, unsigned producer, enum ctg_event_kind kind,
    uint64_t count, const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
void ctgd_clock_init(void);
uint64_t ctgd_clock_us(void);

/* worker.c */
int ctgd_workers_setup(struct daemon *dm, struct ctg_ruleset *first);
int ctgd_workers_start(struct daemon *dm);
void ctgd_workers_stop(struct daemon *dm);
void ctgd_workers_close(struct daemon *dm);

/* crossqueue.c */
bool ctgd_related_elsewhere(void *arg, const struct ctg_tuple *key, struct ctg_conn *copy,
    uint8_t *dir);

/* snapshot.c */
void ctgd_snapshot_restore(struct daemon *dm, struct worker *w);
void ctgd_snapshot_save(struct daemon *dm, struct worker *w);
void ctgd_checkpoints_start(struct daemon *dm);
void ctgd_checkpoints_stop(struct daemon *dm);

/* reload.c */
struct ctg_ruleset *ctgd_load_rules(struct daemon *dm, const struct ctg_config *cfg,
    char *err, size_t errlen);
int ctgd_reload(struct daemon *dm, char *err, size_t errlen);
void ctgd_free_retired(struct daemon *dm);

/* ctacct.c: the kernel's counters of offloaded connections */
struct ctgd_ctacct;
struct ctgd_ctacct *ctgd_ctacct_open(const struct ctg_config *cfg);
bool ctgd_ctacct_conn(void *arg, const struct ctg_conn_record *rec,
    struct ctg_conn_kernel *out);
void ctgd_ctacct_close(struct ctgd_ctacct *a);
/* An offloaded UDP flow's kernel entry ended with these counters (offwatch.c). */
void ctgd_ctacct_gone(uint64_t conn_id, const struct ctg_conn_kernel *k);

/* natwatch.c */
struct ctgd_nat_stats {
	bool active;
	uint64_t mappings, ended, lost, overruns, db_errors;
};
int ctgd_nat_open(struct daemon *dm);
void ctgd_nat_start(struct daemon *dm);
void ctgd_nat_stop(struct daemon *dm);
void ctgd_nat_stats(const struct daemon *dm, struct ctgd_nat_stats *st);
/* For `ctguard connections`: the public side of t, "" when not translated. */
void ctgd_nat_describe(const struct ctg_tuple *t, bool json, char *buf, size_t len);

/* ctlserver.c */
int ctgd_ctl_open(struct daemon *dm);
/* Fill pfd (listening socket first) and lower *timeout_ms to the next deadline. */
nfds_t ctgd_ctl_pollfds(struct daemon *dm, struct pollfd *pfd, nfds_t max, int *timeout_ms);
/* Serve what poll reported: reads, one build step per client, writes, cuts. */
void ctgd_ctl_run(struct daemon *dm, const struct pollfd *pfd, nfds_t n);
void ctgd_ctl_close(struct daemon *dm);
void ctgd_stats_text(struct daemon *dm, struct ctg_strbuf *o, bool prom);

/* ctlsets.c */
int ctgd_dynsets_start(struct daemon *dm);
void ctgd_dynsets_stop(struct daemon *dm);
int ctgd_dynsets_rebind(struct daemon *dm, struct ctg_ruleset **sets, unsigned n,
    char *err, size_t errlen);
void ctgd_dynsets_tick(struct daemon *dm);
long ctgd_peer_uid(int fd);
void ctgd_cmd_set_add(struct daemon *dm, char *args, struct ctg_strbuf *o);
void ctgd_cmd_set_del(struct daemon *dm, char *args, struct ctg_strbuf *o);
void ctgd_cmd_set_flush(struct daemon *dm, char *args, struct ctg_strbuf *o);
void ctgd_cmd_set_load(struct daemon *dm, char *args, struct ctg_strbuf *o);
void ctgd_cmd_set_list(struct daemon *dm, char *args, struct ctg_strbuf *o);

/* sync.c */
int ctgd_sync_open(struct daemon *dm);          /* before privileges are dropped */
void ctgd_sync_start(struct daemon *dm);
void ctgd_sync_stop(struct daemon *dm);
void ctgd_sync_close(struct daemon *dm);
/* A worker: changes to send soon, edges lagging or verdicts held: send now. */
enum ctgd_kick { CTGD_KICK_CHANGE, CTGD_KICK_LAG, CTGD_KICK_DEFER };
void ctgd_sync_kick(struct daemon *dm, enum ctgd_kick kind);
/* Other members in the group now (workers hold verdicts only then). */
unsigned ctgd_sync_others(const struct daemon *dm);
bool ctgd_sync_set_role(struct daemon *dm, const char *role);
/* summary: the one line of ctguard status */
void ctgd_sync_status(struct daemon *dm, struct ctg_strbuf *o, bool json, bool summary);
/* The sync thread's producer in the audit log: after the workers' (daemon.c). */
static inline unsigned
ctgd_sync_producer(const struct daemon *dm)
{
	return dm->nw + 1;
}

/* privileges.c */
int ctgd_drop_privileges(const struct ctg_config *cfg);

/* pidfile.c */
/* 0, or -1 when another ctguardd runs (or the file cannot be made safely) */
int ctgd_pidfile_write(const char *path);
void ctgd_pidfile_remove(const char *path);

#endif
