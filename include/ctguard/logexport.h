/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.export: each verdict the audit log commits, also as one JSON line
 * (the fields of `ctguard log --format json`) in an RFC 5424 message to a
 * local syslog daemon's unix datagram socket (default /dev/log).
 *
 * Called from the audit writer thread only, after a commit: the database
 * row is the authority and the export a copy. The writer only queues
 * (bounded); a thread of the export's own sends, and waits when the
 * syslog daemon's socket is full (1 s at most per message). A message
 * that does not fit the queue, finds nobody listening or times out is
 * counted as dropped.
 */
#ifndef CTGUARD_LOGEXPORT_H
#define CTGUARD_LOGEXPORT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define CTG_LOGEXPORT_DEFAULT_SOCKET "/dev/log"
#define CTG_LOGEXPORT_DEFAULT_TAG "ctguard"
#define CTG_LOGEXPORT_TAG_MAX 48        /* RFC 5424 APP-NAME */

struct ctg_logexport_config {
	const char *socket_path;
	int facility;                   /* LOG_DAEMON, LOG_LOCAL0 ... (syslog.h) */
	const char *tag;                /* APP-NAME */
};

struct ctg_logexport;

/* Never fails for an absent socket (messages count as dropped until it appears). */
struct ctg_logexport *ctg_logexport_open(const struct ctg_logexport_config *cfg,
    char *err, size_t errlen);
void ctg_logexport_close(struct ctg_logexport *ex);

/*
 * Queue the verdict rows first_id..last_id of db (just committed), oldest
 * first. Returns -1 only when db cannot be read (then every row of the
 * range counts as dropped).
 */
int ctg_logexport_verdicts(struct ctg_logexport *ex, sqlite3 *db,
    int64_t first_id, int64_t last_id);

/* Queue one message (MSG, no trailing newline); 0 queued, -1 dropped. */
int ctg_logexport_send(struct ctg_logexport *ex, const char *msg, size_t len);

/* Messages sent, and dropped (queue full, nobody listening, timed out). */
void ctg_logexport_counts(struct ctg_logexport *ex, uint64_t *sent, uint64_t *dropped);

/* "daemon", "user", "local0" .. "local7" as LOG_*; -1 when unknown. */
int ctg_logexport_facility(const char *name);

/* The RFC 5424 header of a message at wall time us (for tests). */
int ctg_logexport_header(const struct ctg_logexport *ex, uint64_t us,
    char *buf, size_t len);

#endif
