/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit log: the API. The packet path copies records into its producer's
 * ring (put); one writer thread (auditlog-writer.c) owns the only
 * read-write SQLite connection. See auditlog-int.h for how records travel.
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/clock.h"
#include "auditlog-int.h"

/* Producers. */

static bool
put_record(struct ctg_auditlog *log, unsigned producer,
    enum ctg_audit_type type, const void *rec, size_t len)
{
	struct ctg_audit_ring *r;

	if (log == NULL || producer >= log->nrings)
		return false;
	r = log->rings[producer];
	if (ctg_audit_ring_try_put(r, type, rec, len))
		return true;
	if (log->block_when_full) {
		struct timespec ts = { 0, 50000 };

		while (!atomic_load_explicit(&log->stopping,
		    memory_order_relaxed)) {
			if (ctg_audit_ring_try_put(r, type, rec, len))
				return true;
			nanosleep(&ts, NULL);
		}
	}
	ctg_audit_ring_drop(r);
	return false;
}

bool
ctg_auditlog_put_verdict(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_verdict_record *r)
{
	return put_record(log, producer, CTG_AUDIT_VERDICT, r, sizeof(*r));
}

bool
ctg_auditlog_put_conn(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_conn_record *r)
{
	return put_record(log, producer, CTG_AUDIT_CONN, r, sizeof(*r));
}

bool
ctg_auditlog_put_event(struct ctg_auditlog *log, unsigned producer,
    const struct ctg_event_record *r)
{
	return put_record(log, producer, CTG_AUDIT_EVENT, r, sizeof(*r));
}

void
ctg_auditlog_addr_bin(const struct ctg_addr *a, uint8_t family,
    uint8_t out[16])
{
	if (family == 4) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, a->b, 4);
	} else
		memcpy(out, a->b, 16);
}

/* API. */

static void
auditlog_free(struct ctg_auditlog *log)
{
	if (log->rings != NULL) {
		for (unsigned i = 0; i < log->nrings; i++)
			ctg_audit_ring_free(log->rings[i]);
	}
	free(log->rings);
	free(log->settled);
	free(log->sync_target);
	free(log->drops_seen);
	free(log->pend);
	free(log->path);
	free(log->ids_path);
	ctg_logexport_close(log->export);
	pthread_cond_destroy(&log->wake);
	pthread_cond_destroy(&log->done);
	pthread_mutex_destroy(&log->mtx);
	free(log);
}

static int
resolve_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];
	char *end;
	unsigned long n;
	int rc;

	rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (rc == 0 && res != NULL) {
		*gid = gr.gr_gid;
		return 0;
	}
	errno = 0;
	n = strtoul(name, &end, 10);
	if (errno == 0 && *end == '\0' && end != name && n < UINT32_MAX) {
		*gid = (gid_t)n;
		return 0;
	}
	snprintf(err, errlen, "unknown group '%s'", name);
	return -1;
}

struct ctg_auditlog *
ctg_auditlog_open(const struct ctg_auditlog_config *cfg, char *err,
    size_t errlen)
{
	struct ctg_auditlog *log;
	pthread_condattr_t ca;
	uint32_t per_ring, queue;

	if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0') {
		snprintf(err, errlen, "audit log: no database path");
		return NULL;
	}
	if (cfg->producers == 0 || cfg->producers > 256) {
		snprintf(err, errlen, "audit log: producers must be 1 to 256, "
		    "not %u", cfg->producers);
		return NULL;
	}
	queue = cfg->queue_records ? cfg->queue_records : DEFAULT_QUEUE_RECORDS;
	if (queue > (UINT32_C(1) << 24)) {
		snprintf(err, errlen, "audit log: queue of %" PRIu32
		    " records is too large (at most %u)", queue, 1u << 24);
		return NULL;
	}
	log = calloc(1, sizeof(*log));
	if (log == NULL) {
		snprintf(err, errlen, "audit log: out of memory");
		return NULL;
	}
	pthread_mutex_init(&log->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->wake, &ca);
	pthread_cond_init(&log->done, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&log->stopping, false);

	log->batch_max = cfg->batch_max ? cfg->batch_max : DEFAULT_BATCH_MAX;
	log->batch_ms = cfg->batch_ms ? cfg->batch_ms : DEFAULT_BATCH_MS;
	log->retention_days = cfg->retention_days;
	log->retention_mb = cfg->retention_mb;
	log->pend_bound = cfg->memory_bound_records > log->batch_max ?
	    cfg->memory_bound_records : log->batch_max;
	log->block_when_full = cfg->block_when_full;
	log->backpressure = cfg->backpressure;
	log->own_files = cfg->own_files;
	log->owner_uid = cfg->owner_uid;
	log->owner_gid = cfg->owner_gid;
	log->report = cfg->report;
	log->report_arg = cfg->report_arg;
	log->conn_kernel = cfg->conn_kernel;
	log->conn_kernel_arg = cfg->conn_kernel_arg;
	log->nrings = cfg->producers;
	log->path = strdup(cfg->path);
	log->rings = calloc(log->nrings, sizeof(*log->rings));
	log->settled = calloc(log->nrings + 1, sizeof(*log->settled));
	log->sync_target = calloc(log->nrings + 1, sizeof(*log->sync_target));
	log->drops_seen = calloc(log->nrings, sizeof(*log->drops_seen));
	if (log->path == NULL || log->rings == NULL || log->settled == NULL ||
	    log->sync_target == NULL || log->drops_seen == NULL)
		goto out_nomem;
	per_ring = (queue + log->nrings - 1) / log->nrings;
	for (unsigned i = 0; i < log->nrings; i++) {
		log->rings[i] = ctg_audit_ring_new(per_ring);
		if (log->rings[i] == NULL)
			goto out_nomem;
	}
	if (cfg->group != NULL && cfg->group[0] != '\0') {
		if (resolve_group(cfg->group, &log->gid, err, errlen) == -1)
			goto out_free;
		log->chown_group = true;
	}
	/*
	 * SQLite's global allocation statistics take a mutex on every
	 * allocation, about a tenth of the writer's time. This only takes
	 * effect before SQLite is first used in the process (else it returns
	 * SQLITE_MISUSE and changes nothing), which is when the daemon opens
	 * its log.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (cfg->ids_path != NULL && cfg->ids_path[0] != '\0') {
		if ((log->ids_path = strdup(cfg->ids_path)) == NULL)
			goto out_nomem;
		audit_ids_load(log);
	}
	if (cfg->export != NULL && cfg->export->socket_path != NULL &&
	    (log->export = ctg_logexport_open(cfg->export, err, errlen)) == NULL)
		goto out_free;
	if (audit_db_open(log, err, errlen) == -1)
		goto out_free;
	/* signals are the main thread's business: the writer never takes them */
	sigset_t all, old_mask;
	int started;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old_mask);
	started = pthread_create(&log->thread, NULL, audit_writer_main, log);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (started != 0) {
		snprintf(err, errlen, "audit log: cannot start writer thread");
		audit_db_close(log);
		goto out_free;
	}
	log->thread_started = true;
	return log;

out_nomem:
	snprintf(err, errlen, "audit log: out of memory");
out_free:
	auditlog_free(log);
	return NULL;
}

int
ctg_auditlog_sync(struct ctg_auditlog *log, uint32_t timeout_ms)
{
	struct timespec ts;
	uint64_t me;
	int rc = 0;

	ctg_clock_deadline_ms(&ts, timeout_ms);
	pthread_mutex_lock(&log->mtx);
	me = ++log->sync_req;
	pthread_cond_signal(&log->wake);
	while (log->sync_done < me) {
		if (pthread_cond_timedwait(&log->done, &log->mtx, &ts) ==
		    ETIMEDOUT && log->sync_done < me) {
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&log->mtx);
	return rc;
}

void
ctg_auditlog_reopen(struct ctg_auditlog *log)
{
	pthread_mutex_lock(&log->mtx);
	log->reopen_req = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->mtx);
}

uint32_t
ctg_auditlog_room(struct ctg_auditlog *log, unsigned producer)
{
	const struct ctg_audit_ring *r;

	if (log == NULL || producer >= log->nrings)
		return 0;
	r = log->rings[producer];
	return ctg_audit_ring_capacity(r) - ctg_audit_ring_count(r);
}

void
ctg_auditlog_stats(struct ctg_auditlog *log, struct ctg_auditlog_stats *st)
{
	uint64_t ring_pending = 0, ring_dropped = 0;

	for (unsigned i = 0; i < log->nrings; i++) {
		ring_pending += ctg_audit_ring_count(log->rings[i]);
		ring_dropped += ctg_audit_ring_dropped(log->rings[i]);
	}
	pthread_mutex_lock(&log->mtx);
	*st = log->st;
	st->pending = log->st_pend + ring_pending;
	st->dropped = log->st_lost + ring_dropped;
	pthread_mutex_unlock(&log->mtx);
	ctg_logexport_counts(log->export, &st->exported, &st->export_dropped);
}

void
ctg_auditlog_close(struct ctg_auditlog *log)
{
	if (log == NULL)
		return;
	atomic_store(&log->stopping, true);
	pthread_mutex_lock(&log->mtx);
	log->stop = true;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->mtx);
	if (log->thread_started)
		pthread_join(log->thread, NULL);
	if (log->db != NULL)
		audit_exec_simple(log->db, "PRAGMA optimize");
	audit_db_close(log);
	auditlog_free(log);
}

/* Test hooks: post a request and wait for the writer to act on it. */
enum hook {
	HOOK_PAUSE,
	HOOK_MAX_PAGES,
	HOOK_RETENTION
};

static void
hook_post(struct ctg_auditlog *log, enum hook which, uint32_t val)
{
	uint64_t me;

	pthread_mutex_lock(&log->mtx);
	switch (which) {
	case HOOK_PAUSE:
		log->hook_pause = true;
		log->hook_pause_val = val != 0;
		break;
	case HOOK_MAX_PAGES:
		log->hook_pages = true;
		log->hook_pages_val = val;
		break;
	case HOOK_RETENTION:
		log->hook_retention = true;
		break;
	}
	me = ++log->hook_req;
	pthread_cond_signal(&log->wake);
	while (log->hook_done < me)
		pthread_cond_wait(&log->done, &log->mtx);
	pthread_mutex_unlock(&log->mtx);
}

void
ctg_auditlog_test_pause(struct ctg_auditlog *log, bool paused)
{
	hook_post(log, HOOK_PAUSE, paused);
}

void
ctg_auditlog_test_max_pages(struct ctg_auditlog *log, uint32_t pages)
{
	hook_post(log, HOOK_MAX_PAGES, pages);
}

void
ctg_auditlog_test_retention(struct ctg_auditlog *log)
{
	hook_post(log, HOOK_RETENTION, 0);
}
