/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's main configuration (libconfig syntax), e.g. /etc/ctguard/ctguard.conf.
 *
 * Every setting has a default (ctg_config_defaults); a file only names what
 * it changes. Unknown settings, wrong types and out-of-range values are
 * errors reported as "FILE:LINE: message" naming the setting.
 */
#ifndef CTGUARD_CONFIG_H
#define CTGUARD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ctguard/record.h"
#include "ctguard/timeouts.h"

#define CTG_PATH_MAX 256
/* a bit no common tool (kube-proxy 0x4000/0x8000, wg-quick 0xca6c, Tailscale 0xff0000) uses */
#define CTG_REJECT_MARK_DEFAULT 0x10000000u
/* the next bit up: offloaded connections' packet and connection mark */
#define CTG_OFFLOAD_MARK_DEFAULT 0x20000000u
#define CTG_NAME_MAX 64
#define CTG_MAX_RULE_FILES 32

/* sync.mode: who forwards a synchronised connection */
enum ctg_sync_mode {
	CTG_SYNC_ACTIVE_BACKUP,         /* one gateway at a time (keepalived moves the addresses) */
	CTG_SYNC_ACTIVE_ACTIVE,         /* both, even one connection's two directions */
};

enum ctg_midstream {
	CTG_MIDSTREAM_STRICT,   /* a first packet that is not a SYN is INVALID */
	CTG_MIDSTREAM_LOOSE,    /* pick up, liberal until both sides are seen */
};

enum ctg_reload_policy {
	CTG_RELOAD_RECHECK,     /* re-evaluate live connections against new rules */
	CTG_RELOAD_KEEP,        /* live connections keep their verdict */
};

/* All in seconds; one member per timeout class (timeouts.h). */
struct ctg_timeouts {
#define CTG_X_TO_MEMBER(sym, key, def, doc) uint32_t key;
	CTG_TIMEOUT_CLASSES(CTG_X_TO_MEMBER)
#undef CTG_X_TO_MEMBER
};

struct ctg_config {
	char path[CTG_PATH_MAX];        /* the file this came from ("" = defaults) */

	/* queue intake */
	uint16_t queue_first;
	uint16_t queue_count;
	uint32_t copy_range;            /* bytes of each packet copied to us */
	uint32_t queue_maxlen;          /* kernel queue length, packets */
	uint32_t rcvbuf_bytes;          /* netlink socket receive buffer */
	bool gso;                       /* request NFQA_CFG_F_GSO */
	bool fail_open;                 /* kernel accepts when the queue is full */
	bool bypass;                    /* setup helper adds --queue-bypass */
	uint32_t reject_mark;           /* packet mark bits that ask the kernel's REJECT rule */

	/* tracker */
	uint32_t max_connections;
	enum ctg_midstream midstream;
	bool verify_checksums;
	uint8_t adaptive_start_pct;     /* timeouts shrink past this fill (0 = off) */
	uint8_t adaptive_end_pct;
	uint8_t unanswered_pct;         /* table share for entries one side never answered */
	uint32_t rst_grace;             /* seconds a reset entry still passes in-window segments (0 = off) */
	struct ctg_timeouts timeouts;

	/* audit log */
	char log_database[CTG_PATH_MAX];
	enum ctg_log_level log_policy;
	uint32_t log_queue_records;     /* bounded queue between packet path and writer */
	uint32_t log_retention_days;    /* 0 = keep forever */
	uint32_t log_retention_mb;      /* 0 = no size bound */
	bool strict_audit;              /* drop packets that cannot be logged */
	bool log_nat;                   /* record the kernel's NAT mappings */
	char log_group[CTG_NAME_MAX];   /* group owning the database ("" = daemon's) */
	bool log_export;                /* log.export = "syslog": decisions also to syslog */
	char log_export_socket[CTG_PATH_MAX];   /* its unix datagram socket */
	char log_export_facility[CTG_NAME_MAX]; /* "daemon", "local0" ... */
	char log_export_tag[CTG_NAME_MAX];      /* RFC 5424 APP-NAME */

	/* daemon */
	char user[CTG_NAME_MAX];        /* run as ("" = stay root) */
	char pidfile[CTG_PATH_MAX];
	char control_socket[CTG_PATH_MAX];
	uint32_t control_mode;          /* permission bits, e.g. 0660 */
	char control_group[CTG_NAME_MAX];
	char control_admin_group[CTG_NAME_MAX]; /* may change state besides root ("" = root only) */
	char state_file[CTG_PATH_MAX];  /* connection table saved across restarts */
	uint32_t checkpoint_interval;   /* seconds between table checkpoints (0 = only at stop) */

	/* offload: verified TCP connections' data left to the kernel (worker.c) */
	bool offload;
	uint32_t offload_mark;          /* packet/connmark bits of ctguard-setup --offload's rules */
	uint32_t offload_after_packets; /* packets the connection passed before */
	uint32_t offload_after_bytes;

	/* rules */
	char rule_files[CTG_MAX_RULE_FILES][CTG_PATH_MAX];
	unsigned rule_file_count;
	enum ctg_reload_policy reload_policy;

	/* state sync between gateways (daemon/sync.c; off by default) */
	bool sync_enabled;
	char sync_group[CTG_NAME_MAX];  /* corosync CPG group */
	uint32_t sync_interval_ms;      /* coalescing interval */
	uint32_t sync_max_updates;      /* TCP packets before an early send; 0 = off */
	uint8_t sync_carry;             /* CTG_SYNC_CARRY_* (tracker.h) */
	char sync_node_name[CTG_NAME_MAX];      /* "" = the host name */
	enum ctg_sync_mode sync_mode;
	uint32_t sync_defer_timeout_ms; /* active-active: longest hold of a packet; 0 = no defer */
};

void ctg_config_defaults(struct ctg_config *cfg);

/*
 * Load path over the defaults. On error returns -1 and writes
 * "FILE:LINE: message" into err (the line is the setting's, or the syntax
 * error's). Relative rule file paths are resolved against the directory
 * of the configuration file.
 */
int ctg_config_load(struct ctg_config *cfg, const char *path,
    char *err, size_t errlen);

/* Every setting, one per line, in file syntax: the canonical form. */
void ctg_config_print(const struct ctg_config *cfg, FILE *out);

const char *ctg_midstream_name(enum ctg_midstream m);
const char *ctg_sync_mode_name(enum ctg_sync_mode m);

#endif
