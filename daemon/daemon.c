/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live daemon: start, main loop, stop.
 *
 * The main thread handles signals, the control socket and reloads; the
 * queue workers (worker.c) judge the packets. The other rooms of the
 * daemon are listed in daemon-int.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "ctguard/clock.h"
#include "ctguard/control.h"
#include "ctguard/daemon.h"
#include "daemon-int.h"

#define MAIN_POLL_MS 200
/* a worker whose loop has not turned for this long while its queue holds packets is stuck */
#define WORKER_STUCK_MS 5000

atomic_bool ctgd_stopping;

static volatile sig_atomic_t sig_term, sig_hup, sig_usr1;
static bool log_foreground;

void
ctgd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	/* in the foreground stderr is the log (systemd's journal takes it) */
	va_start(ap, fmt);
	if (log_foreground) {
		fprintf(stderr, "ctguardd: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else
		vsyslog(prio, fmt, ap);
	va_end(ap);
}

/*
 * The tracker's clock: the wall time at start, advanced by CLOCK_MONOTONIC.
 * Timeouts run on it, so a step of the wall clock (NTP at boot, an operator)
 * neither expires every connection at once nor keeps them for the length of
 * the step. It reads as wall time (snapshots restored at the next start age
 * by the real downtime); records get the step added back (wall_shift_us).
 */
static uint64_t clock_base_wall, clock_base_mono;

void
ctgd_clock_init(void)
{
	clock_base_wall = ctg_clock_wall_us();
	clock_base_mono = ctg_clock_mono_us();
}

uint64_t
ctgd_clock_us(void)
{
	return clock_base_wall + (ctg_clock_mono_us() - clock_base_mono);
}

/*
 * An event for the audit log, through producer: each producer (ring) of
 * the log has one thread writing to it, since the rings are single
 * producer.
 */
void
ctgd_event_from(struct daemon *dm, unsigned producer, enum ctg_event_kind kind,
    uint64_t count, const char *fmt, va_list ap)
{
	struct ctg_event_record ev;

	if (!dm->log)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.time_us = ctg_clock_wall_us();
	ev.kind = (uint8_t)kind;
	ev.count = count;
	vsnprintf(ev.detail, sizeof(ev.detail), fmt, ap);
	ctg_auditlog_put_event(dm->log, producer, &ev);
}

/* An event from the main thread: producer 0 is the main thread's. */
void
ctgd_event(struct daemon *dm, enum ctg_event_kind kind, uint64_t count, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctgd_event_from(dm, 0, kind, count, fmt, ap);
	va_end(ap);
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_hup = 1;
	else if (sig == SIGUSR1)
		sig_usr1 = 1;
	else
		sig_term = 1;
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;        /* no SA_RESTART: a blocking poll must wake up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
open_auditlog(struct daemon *dm)
{
	const struct ctg_config *cfg = dm->cfg;
	char err[512];
	struct ctg_auditlog_config lc = {
		.path = cfg->log_database,
		.policy = cfg->log_policy,
		.queue_records = cfg->log_queue_records,
		/* the main thread, the workers, the sync thread (ctgd_sync_producer) */
		.producers = (cfg->queue_count ? cfg->queue_count : 1) + 2,
		.batch_max = 0,         /* the writer's default (16,384 rows) */
		.batch_ms = 200,
		.retention_days = cfg->log_retention_days,
		.retention_mb = cfg->log_retention_mb,
		/* 16 rings' worth, at most 2^20 (the default queue gives 2^20) */
		.memory_bound_records = cfg->log_queue_records < (1u << 16) ?
		    cfg->log_queue_records * 16 : 1u << 20,
		.group = cfg->log_group,
		.block_when_full = false,
		/* strict_audit drops what cannot be logged: it must see a full ring */
		.backpressure = cfg->strict_audit,
	};
	struct ctg_logexport_config ec = {
		.socket_path = cfg->log_export_socket,
		.facility = ctg_logexport_facility(cfg->log_export_facility),
		.tag = cfg->log_export_tag,
	};
	char ids_path[CTG_PATH_MAX + 16];
	struct passwd *pw;

	if (cfg->log_policy == CTG_LOG_NONE)
		return 0;
	dm->ctacct = ctgd_ctacct_open(cfg);
	if (dm->ctacct) {
		lc.conn_kernel = ctgd_ctacct_conn;
		lc.conn_kernel_arg = dm->ctacct;
	}
	/* the last stream ids, beside the other state kept across restarts */
	if (cfg->state_file[0]) {
		snprintf(ids_path, sizeof(ids_path), "%s.logids", cfg->state_file);
		lc.ids_path = ids_path;
	}
	if (cfg->log_export)
		lc.export = &ec;
	/* opened as root, written as cfg->user: the files must be that user's */
	if (cfg->user[0] && getuid() == 0 && (pw = getpwnam(cfg->user)) != NULL) {
		lc.own_files = true;
		lc.owner_uid = pw->pw_uid;
		lc.owner_gid = pw->pw_gid;
	}
	if ((dm->log = ctg_auditlog_open(&lc, err, sizeof(err))) == NULL) {
		ctgd_log(LOG_ERR, "audit log: %s", err);
		return -1;
	}
	return 0;
}

/* What the signals asked for since the last turn of the main loop. */
static void
handle_signals(struct daemon *dm)
{
	char err[512];

	if (sig_hup) {
		sig_hup = 0;
		ctgd_reload(dm, err, sizeof(err));
		if (dm->log)
			ctg_auditlog_reopen(dm->log);
	}
	if (sig_usr1) {
		struct ctg_strbuf o;

		sig_usr1 = 0;
		if (ctg_strbuf_init(&o, 4096, CTG_CTL_MAX_REPLY) == 0) {
			ctgd_stats_text(dm, &o, false);
			ctgd_log(LOG_INFO, "counters:\n%s", o.s);
			ctg_strbuf_free(&o);
		}
	}
}

/*
 * The watchdog's view of the workers: each bumps its heartbeat every turn
 * (at least every 100 ms, the receive timeout). One that has not for
 * WORKER_STUCK_MS while the kernel has packets waiting for it is stuck:
 * logged once, shown by status, and systemd's watchdog is no longer fed,
 * so that it restarts the daemon. False when a worker is stuck.
 */
static bool
workers_alive(struct daemon *dm)
{
	uint64_t now = ctg_clock_mono_ms();
	bool ok = true;

	for (unsigned i = 0; i < dm->nw; i++) {
		struct worker *w = &dm->w[i];
		uint64_t hb = atomic_load_explicit(&w->heartbeat, memory_order_relaxed);
		struct pollfd p = { .fd = ctg_nfq_fd(w->nfq), .events = POLLIN };

		if (hb != w->wd_seen || w->wd_since_ms == 0) {
			w->wd_seen = hb;
			w->wd_since_ms = now;
			if (atomic_load(&w->stuck)) {
				atomic_store(&w->stuck, false);
				ctgd_log(LOG_WARNING, "queue %u: worker moving again", w->queue);
			}
			continue;
		}
		if (now - w->wd_since_ms < WORKER_STUCK_MS || p.fd < 0 ||
		    poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
			continue;
		ok = false;
		if (!atomic_load(&w->stuck)) {
			atomic_store(&w->stuck, true);
			ctgd_log(LOG_ERR, "queue %u: worker made no progress for %" PRIu64
			    " ms with packets waiting; no longer feeding the watchdog",
			    w->queue, now - w->wd_since_ms);
			ctgd_event(dm, CTG_EV_WARNING, 1, "queue %u: worker stuck for %" PRIu64
			    " ms with packets waiting", w->queue, now - w->wd_since_ms);
		}
	}
	return ok;
}

static void
main_loop(struct daemon *dm)
{
	uint64_t last_check = 0;
	bool alive = true;
#ifdef HAVE_SYSTEMD
	uint64_t wd_usec = 0;
	bool wd = sd_watchdog_enabled(0, &wd_usec) > 0;
	uint64_t last_wd = ctg_clock_mono_us();
#endif

	while (!sig_term) {
		struct pollfd pfd[CTGD_MAX_CLIENTS + 1];
		int timeout = MAIN_POLL_MS;
		/* without a control socket, poll only waits */
		nfds_t n = ctgd_ctl_pollfds(dm, pfd, CTGD_MAX_CLIENTS + 1, &timeout);

		if (poll(pfd, n, timeout) < 0)
			for (nfds_t k = 0; k < n; k++)
				pfd[k].revents = 0;
		ctgd_ctl_run(dm, pfd, n);
		handle_signals(dm);
		ctgd_free_retired(dm);
		if (ctg_clock_mono_ms() - last_check >= 1000) {
			alive = workers_alive(dm);
			last_check = ctg_clock_mono_ms();
		}
		ctgd_dynsets_tick(dm);
#ifdef HAVE_SYSTEMD
		if (wd && alive && ctg_clock_mono_us() - last_wd > wd_usec / 2) {
			sd_notify(0, "WATCHDOG=1");
			last_wd = ctg_clock_mono_us();
		}
#endif
	}
}

/* Before anything needs undoing: detach, signals, the audit log. */
static int
start_early(struct daemon *dm, struct ctg_ruleset *rules)
{
	if (!dm->foreground && daemon(0, 0) < 0) {
		ctgd_log(LOG_ERR, "daemon: %s", strerror(errno));
		return -1;
	}
	catch_signals();
	if (open_auditlog(dm) < 0) {
		ctg_ruleset_free(rules);
		return -1;
	}
	return 0;
}

/* The rest, in order, up to the workers running; release() undoes it. */
static int
start(struct daemon *dm, struct ctg_ruleset *rules)
{
	const struct ctg_config *cfg = dm->cfg;

	ctgd_clock_init();
	dm->started_us = ctg_clock_mono_us();
	if (ctgd_workers_setup(dm, rules) < 0 || ctgd_dynsets_start(dm) < 0)
		return -1;
	ctgd_ctl_open(dm);
	if (ctgd_nat_open(dm) < 0)
		return -1;
	if (ctgd_sync_open(dm) < 0)
		return -1;
	if (ctgd_pidfile_write(cfg->pidfile) < 0)
		return -1;
	dm->pidfile_written = cfg->pidfile[0] != '\0';
	if (ctgd_drop_privileges(cfg) < 0)
		return -1;
	ctgd_event(dm, CTG_EV_START, dm->nw,
	    "ctguardd %s started: queues %u-%u, ruleset %016" PRIx64, PACKAGE_VERSION,
	    cfg->queue_first, cfg->queue_first + dm->nw - 1, ctg_ruleset_hash(dm->w[0].pl.rules));
	if (ctgd_workers_start(dm) < 0)
		return -1;
	ctgd_nat_start(dm);
	ctgd_sync_start(dm);
	return 0;
}

/* The workers have stopped: save their tables for the next start. */
static void
stop(struct daemon *dm)
{
	ctgd_free_retired(dm);
	ctgd_nat_stop(dm);
	ctgd_sync_stop(dm);
	ctgd_checkpoints_stop(dm);
	for (unsigned i = 0; i < dm->nw; i++)
		ctgd_snapshot_save(dm, &dm->w[i]);
	ctgd_dynsets_stop(dm);
	ctgd_event(dm, CTG_EV_STOP, 0, "ctguardd stopped");
}

static void
release(struct daemon *dm)
{
	ctgd_ctl_close(dm);
	ctgd_nat_stop(dm);
	atomic_store(&ctgd_stopping, true);     /* a start that failed half way */
	ctgd_sync_close(dm);
	ctgd_workers_close(dm);
	if (dm->log)
		ctg_auditlog_close(dm->log);
	ctgd_ctacct_close(dm->ctacct);
	dm->ctacct = NULL;
	if (dm->pidfile_written)
		ctgd_pidfile_remove(dm->cfg->pidfile);
}

int
ctg_daemon_run(const struct ctg_config *cfg, struct ctg_ruleset *rules,
    const char *config_path, const char *const *rule_files, unsigned nrule_files,
    bool foreground)
{
	struct daemon dm;
	int status = 1;

	memset(&dm, 0, sizeof(dm));
	dm.cfg = cfg;
	dm.config_path = config_path;
	dm.rule_files = rule_files;
	dm.nrule_files = nrule_files;
	dm.foreground = foreground;
	dm.ctl_fd = -1;
	log_foreground = foreground;
	openlog("ctguardd", LOG_PID, LOG_DAEMON);

	if (start_early(&dm, rules) < 0)
		return 1;
	if (start(&dm, rules) == 0) {
		ctgd_checkpoints_start(&dm);
		ctgd_log(LOG_INFO, "running on queues %u-%u", cfg->queue_first,
		    cfg->queue_first + dm.nw - 1);
#ifdef HAVE_SYSTEMD
		sd_notify(0, "READY=1\nSTATUS=filtering");
#endif
		main_loop(&dm);
#ifdef HAVE_SYSTEMD
		sd_notify(0, "STOPPING=1");
#endif
		ctgd_log(LOG_INFO, "stopping");
		ctgd_workers_stop(&dm);
		stop(&dm);
		status = 0;
	}
	release(&dm);
	return status;
}
