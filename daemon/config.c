/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's main configuration: libconfig syntax, checked against a
 * table of known settings. The same table drives loading and printing, so
 * a setting cannot be loadable but missing from the canonical output.
 */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctguard/cfgtext.h"
#include "ctguard/config.h"
#include "ctguard/escape.h"
#include "ctguard/logexport.h"

/* A configuration file is a page of text; anything bigger is a mistake. */

/* sizeof(((struct sockaddr_un *)0)->sun_path), less the terminating NUL */
#define SOCKET_PATH_MAX 107

enum key_kind {
	K_GROUP,
	K_BOOL,
	K_U8,
	K_U16,
	K_U32,
	K_PATH,                 /* absolute path; max is the longest length */
	K_NAME,                 /* user or group name, may be empty */
	K_MIDSTREAM,
	K_POLICY,
	K_RELOAD,
	K_MODE,
	K_RULES,
	K_EXPORT,               /* log.export: "none" or "syslog" */
	K_FACILITY,             /* a syslog facility name */
	K_TOKEN,                /* printable ASCII without spaces, 1-48 bytes */
	K_CARRY,                /* sync.carry: protocol names -> CTG_SYNC_CARRY_* */
	K_SYNCMODE,             /* sync.mode: "active-backup" or "active-active" */
};

struct key {
	const char *name;
	enum key_kind kind;
	size_t off;
	long long min, max;
	const struct key *sub;  /* K_GROUP */
};

#define F(member) offsetof(struct ctg_config, member)
#define TIMEOUT(sym, key, def, doc) { #key, K_U32, F(timeouts.key), 1, CTG_TIMEOUT_MAX_S, NULL },

static const struct key queue_keys[] = {
	{ "first", K_U16, F(queue_first), 0, 65535, NULL },
	{ "count", K_U16, F(queue_count), 1, 64, NULL },
	{ "copy_range", K_U32, F(copy_range), 64, 65535, NULL },
	{ "max_length", K_U32, F(queue_maxlen), 1, 16777216, NULL },
	{ "rcvbuf", K_U32, F(rcvbuf_bytes), 4096, 1073741824, NULL },
	{ "gso", K_BOOL, F(gso), 0, 0, NULL },
	{ "fail_open", K_BOOL, F(fail_open), 0, 0, NULL },
	{ "bypass", K_BOOL, F(bypass), 0, 0, NULL },
	{ "reject_mark", K_U32, F(reject_mark), 1, 0xffffffffLL, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct key timeout_keys[] = {
	CTG_TIMEOUT_CLASSES(TIMEOUT)
	{ NULL, 0, 0, 0, 0, NULL }
};

/*
 * adaptive_end may exceed 100: like pf's adaptive.end it is the fill at
 * which timeouts would reach zero, so a value past the table size only
 * bounds how far they shrink.
 */
static const struct key tracker_keys[] = {
	{ "max_connections", K_U32, F(max_connections), 1, 100000000, NULL },
	{ "midstream", K_MIDSTREAM, F(midstream), 0, 0, NULL },
	{ "verify_checksums", K_BOOL, F(verify_checksums), 0, 0, NULL },
	{ "adaptive_start", K_U8, F(adaptive_start_pct), 0, 100, NULL },
	{ "adaptive_end", K_U8, F(adaptive_end_pct), 0, 255, NULL },
	{ "unanswered_share", K_U8, F(unanswered_pct), 1, 100, NULL },
	{ "rst_grace", K_U32, F(rst_grace), 0, 3600, NULL },
	{ "timeouts", K_GROUP, 0, 0, 0, timeout_keys },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct key log_keys[] = {
	{ "database", K_PATH, F(log_database), 0, CTG_PATH_MAX - 1, NULL },
	{ "policy", K_POLICY, F(log_policy), 0, 0, NULL },
	{ "queue_records", K_U32, F(log_queue_records), 16, 16777216, NULL },
	{ "retention_days", K_U32, F(log_retention_days), 0, 36500, NULL },
	{ "retention_mb", K_U32, F(log_retention_mb), 0, 16777216, NULL },
	{ "strict_audit", K_BOOL, F(strict_audit), 0, 0, NULL },
	{ "nat", K_BOOL, F(log_nat), 0, 0, NULL },
	{ "group", K_NAME, F(log_group), 0, 0, NULL },
	{ "export", K_EXPORT, F(log_export), 0, 0, NULL },
	{ "export_socket", K_PATH, F(log_export_socket), 0, SOCKET_PATH_MAX, NULL },
	{ "export_facility", K_FACILITY, F(log_export_facility), 0, 0, NULL },
	{ "export_tag", K_TOKEN, F(log_export_tag), 1, CTG_LOGEXPORT_TAG_MAX, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct key daemon_keys[] = {
	{ "user", K_NAME, F(user), 0, 0, NULL },
	{ "pidfile", K_PATH, F(pidfile), 0, CTG_PATH_MAX - 1, NULL },
	{ "control_socket", K_PATH, F(control_socket), 0, SOCKET_PATH_MAX, NULL },
	{ "control_mode", K_MODE, F(control_mode), 0, 0777, NULL },
	{ "control_group", K_NAME, F(control_group), 0, 0, NULL },
	{ "control_admin_group", K_NAME, F(control_admin_group), 0, 0, NULL },
	{ "state_file", K_PATH, F(state_file), 0, CTG_PATH_MAX - 1, NULL },
	{ "checkpoint_interval", K_U32, F(checkpoint_interval), 0, 86400, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct key rules_keys[] = {
	{ "files", K_RULES, F(rule_files), 0, 0, NULL },
	{ "reload", K_RELOAD, F(reload_policy), 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct key offload_keys[] = {
	{ "enabled", K_BOOL, F(offload), 0, 0, NULL },
	{ "mark", K_U32, F(offload_mark), 1, 0xffffffffLL, NULL },
	{ "after_packets", K_U32, F(offload_after_packets), 0, 0xffffffffLL, NULL },
	{ "after_bytes", K_U32, F(offload_after_bytes), 0, 0xffffffffLL, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

static const struct key sync_keys[] = {
	{ "enabled", K_BOOL, F(sync_enabled), 0, 0, NULL },
	{ "group", K_NAME, F(sync_group), 0, 0, NULL },
	{ "interval_ms", K_U32, F(sync_interval_ms), 1, 10000, NULL },
	{ "max_updates", K_U32, F(sync_max_updates), 0, 65535, NULL },
	{ "carry", K_CARRY, F(sync_carry), 0, 0, NULL },
	{ "node_name", K_NAME, F(sync_node_name), 0, 0, NULL },
	{ "mode", K_SYNCMODE, F(sync_mode), 0, 0, NULL },
	{ "defer_timeout_ms", K_U32, F(sync_defer_timeout_ms), 0, 1000, NULL },
	{ NULL, 0, 0, 0, 0, NULL }
};

/* sync.carry's names, bit i = 1 << i (tracker.h CTG_SYNC_CARRY_*) */
static const char *const carry_names[] = { "tcp", "udp", "icmp", "other" };

static const struct key top_keys[] = {
	{ "queue", K_GROUP, 0, 0, 0, queue_keys },
	{ "tracker", K_GROUP, 0, 0, 0, tracker_keys },
	{ "log", K_GROUP, 0, 0, 0, log_keys },
	{ "daemon", K_GROUP, 0, 0, 0, daemon_keys },
	{ "rules", K_GROUP, 0, 0, 0, rules_keys },
	{ "offload", K_GROUP, 0, 0, 0, offload_keys },
	{ "sync", K_GROUP, 0, 0, 0, sync_keys },
	{ NULL, 0, 0, 0, 0, NULL }
};

struct loader {
	struct ctg_config *cfg;
	const char *path;
	char *err;
	size_t errlen;
	char dir[PATH_MAX];     /* absolute directory of path */
};

static const char *const midstream_names[] = {
	[CTG_MIDSTREAM_STRICT] = "strict",
	[CTG_MIDSTREAM_LOOSE] = "loose",
};

static const char *const sync_mode_names[] = {
	[CTG_SYNC_ACTIVE_BACKUP] = "active-backup",
	[CTG_SYNC_ACTIVE_ACTIVE] = "active-active",
};

const char *
ctg_sync_mode_name(enum ctg_sync_mode m)
{
	if ((unsigned)m < sizeof(sync_mode_names) / sizeof(sync_mode_names[0]))
		return sync_mode_names[m];
	return "unknown";
}

static const char *const reload_names[] = {
	[CTG_RELOAD_RECHECK] = "recheck",
	[CTG_RELOAD_KEEP] = "keep",
};

const char *
ctg_midstream_name(enum ctg_midstream m)
{
	if ((unsigned)m < sizeof(midstream_names) / sizeof(midstream_names[0]))
		return midstream_names[m];
	return "unknown";
}

static const char *
reload_name(enum ctg_reload_policy r)
{
	if ((unsigned)r < sizeof(reload_names) / sizeof(reload_names[0]))
		return reload_names[r];
	return "unknown";
}

void
ctg_config_defaults(struct ctg_config *cfg)
{
	/* zeroed so that configs compare equal with memcmp */
	memset(cfg, 0, sizeof(*cfg));

	cfg->queue_first = 0;
	cfg->queue_count = 1;
	cfg->copy_range = 256;
	cfg->queue_maxlen = 8192;
	cfg->rcvbuf_bytes = 8388608;
	cfg->gso = true;
	cfg->fail_open = false;
	cfg->bypass = false;
	cfg->reject_mark = CTG_REJECT_MARK_DEFAULT;

	cfg->max_connections = 262144;
	cfg->midstream = CTG_MIDSTREAM_LOOSE;
	cfg->verify_checksums = false;
	cfg->adaptive_start_pct = 60;
	cfg->adaptive_end_pct = 120;
	cfg->unanswered_pct = 50;
	cfg->rst_grace = 10;

	/* Linux nf_conntrack defaults */
#define TIMEOUT_DEFAULT(sym, key, def, doc) cfg->timeouts.key = def;
	CTG_TIMEOUT_CLASSES(TIMEOUT_DEFAULT)
#undef TIMEOUT_DEFAULT

	strcpy(cfg->log_database, "/var/lib/ctguard/audit.db");
	cfg->log_policy = CTG_LOG_DECISIONS;
	cfg->log_queue_records = 65536;
	cfg->log_retention_days = 30;
	cfg->log_retention_mb = 1024;
	cfg->strict_audit = false;
	cfg->log_nat = true;
	cfg->log_export = false;
	strcpy(cfg->log_export_socket, CTG_LOGEXPORT_DEFAULT_SOCKET);
	strcpy(cfg->log_export_facility, "daemon");
	strcpy(cfg->log_export_tag, CTG_LOGEXPORT_DEFAULT_TAG);

	strcpy(cfg->user, "ctguard");
	strcpy(cfg->pidfile, "/run/ctguard/ctguardd.pid");
	strcpy(cfg->control_socket, "/run/ctguard/control.sock");
	cfg->control_mode = 0660;
	strcpy(cfg->state_file, "/var/lib/ctguard/conntable.snap");
	cfg->checkpoint_interval = 5;

	cfg->offload = false;
	cfg->offload_mark = CTG_OFFLOAD_MARK_DEFAULT;
	cfg->offload_after_packets = 16;
	cfg->offload_after_bytes = 0;

	strcpy(cfg->rule_files[0], "/etc/ctguard/rules/default.rules");
	cfg->rule_file_count = 1;
	cfg->reload_policy = CTG_RELOAD_RECHECK;

	cfg->sync_enabled = false;
	strcpy(cfg->sync_group, "ctguard");
	cfg->sync_interval_ms = 100;
	cfg->sync_max_updates = 0;
	cfg->sync_carry = 0xf;
	cfg->sync_mode = CTG_SYNC_ACTIVE_BACKUP;
	cfg->sync_defer_timeout_ms = 20;
}

static void errorf(struct loader *, const char *, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

/* line 0: the message is about the whole file */
static void
errorf(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->err == NULL || ld->errlen == 0)
		return;
	if (file == NULL)
		file = ld->path;
	if (line > 0)
		n = snprintf(ld->err, ld->errlen, "%s:%d: ", file, line);
	else
		n = snprintf(ld->err, ld->errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= ld->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
	va_end(ap);
}

static int setting_error(struct loader *, const config_setting_t *,
    const char *, const char *, ...) __attribute__((format(printf, 4, 5)));

static int
setting_error(struct loader *ld, const config_setting_t *s, const char *name,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s == NULL)
		errorf(ld, NULL, 0, "setting '%s': %s", name, msg);
	else
		errorf(ld, config_setting_source_file(s),
		    config_setting_source_line(s), "setting '%s': %s", name, msg);
	return -1;
}

static void *
field(struct ctg_config *cfg, const struct key *k)
{
	return (char *)cfg + k->off;
}

static const void *
cfield(const struct ctg_config *cfg, const struct key *k)
{
	return (const char *)cfg + k->off;
}

static bool
is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static int
parse_int(struct loader *ld, const config_setting_t *s, const char *name,
    const struct key *k, long long *out)
{
	long long v;

	if (!is_int(s))
		return setting_error(ld, s, name, "expected an integer");
	v = config_setting_get_int64(s);
	if (v < k->min || v > k->max)
		return setting_error(ld, s, name, "%lld is out of range %lld..%lld",
		    v, k->min, k->max);
	*out = v;
	return 0;
}

static const char *
get_string(struct loader *ld, const config_setting_t *s, const char *name)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		setting_error(ld, s, name, "expected a string");
		return NULL;
	}
	return config_setting_get_string(s);
}

/*
 * libconfig has no octal literals and reads 0640 as decimal 640. Nobody
 * writes permission bits in decimal, so an integer's decimal digits are
 * read as octal; only a hex literal is taken at its value.
 */
/*
 * A socket anyone may write to is a socket anyone may command: the read
 * commands show every connection, and a world-writable mode usually means
 * the group was meant. Refused rather than warned about.
 */
static int
check_mode(struct loader *ld, const config_setting_t *s, const char *name,
    long long v, uint32_t *out)
{
	if (v & 0002)
		return setting_error(ld, s, name,
		    "%04llo is writable by every user (o+w): any local user could "
		    "command the daemon; use a group (e.g. \"0660\")", v);
	*out = (uint32_t)v;
	return 0;
}

static int
parse_mode(struct loader *ld, const config_setting_t *s, const char *name,
    const struct key *k, uint32_t *out)
{
	char buf[32];
	const char *p;
	long long v;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		p = config_setting_get_string(s);
	} else if (is_int(s)) {
		v = config_setting_get_int64(s);
		if (config_setting_get_format(s) == CONFIG_FORMAT_HEX) {
			if (v < k->min || v > k->max)
				return setting_error(ld, s, name,
				    "%#llx is out of range %04llo..%04llo",
				    v, k->min, k->max);
			return check_mode(ld, s, name, v, out);
		}
		snprintf(buf, sizeof(buf), "%lld", v);
		p = buf;
	} else
		return setting_error(ld, s, name,
		    "expected an octal mode string or an integer");

	if (*p == '-')
		return setting_error(ld, s, name,
		    "%s is out of range %04llo..%04llo", p, k->min, k->max);
	if (*p == '\0' || strspn(p, "01234567") != strlen(p))
		return setting_error(ld, s, name,
		    "'%s' is not an octal mode (e.g. \"0660\")", p);
	/* saturate: any value past the limit is equally out of range */
	for (v = 0; *p != '\0' && v <= k->max; p++)
		v = v * 8 + (*p - '0');
	if (v < k->min || v > k->max)
		return setting_error(ld, s, name,
		    "%s is out of range %04llo..%04llo",
		    config_setting_type(s) == CONFIG_TYPE_STRING ?
		    config_setting_get_string(s) : buf, k->min, k->max);
	return check_mode(ld, s, name, v, out);
}

static int
parse_path(struct loader *ld, const config_setting_t *s, const char *name,
    const struct key *k, char *out)
{
	const char *v;
	size_t len;

	if ((v = get_string(ld, s, name)) == NULL)
		return -1;
	len = strlen(v);
	if (len == 0)
		return setting_error(ld, s, name, "empty path");
	/* a daemon must not depend on the directory it was started in */
	if (v[0] != '/')
		return setting_error(ld, s, name,
		    "'%s' is not an absolute path", v);
	if (len > (size_t)k->max)
		return setting_error(ld, s, name,
		    "path is longer than %lld bytes", k->max);
	memcpy(out, v, len + 1);
	return 0;
}

static int
parse_name(struct loader *ld, const config_setting_t *s, const char *name,
    char *out)
{
	const char *v;
	size_t len;

	if ((v = get_string(ld, s, name)) == NULL)
		return -1;
	len = strlen(v);
	if (len >= CTG_NAME_MAX)
		return setting_error(ld, s, name,
		    "name is longer than %d bytes", CTG_NAME_MAX - 1);
	memcpy(out, v, len + 1);
	return 0;
}

/* Strip "./" components that only make resolved paths noisier. */
static const char *
skip_dot_slash(const char *p)
{
	while (p[0] == '.' && p[1] == '/') {
		p += 2;
		while (*p == '/')
			p++;
	}
	return p;
}

static int
parse_rules(struct loader *ld, const config_setting_t *s, const char *name)
{
	struct ctg_config *cfg = ld->cfg;
	const config_setting_t *e;
	const char *v;
	int i, n, t = config_setting_type(s);

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return setting_error(ld, s, name, "expected an array of strings");
	n = config_setting_length(s);
	if (n == 0)
		return setting_error(ld, s, name, "no rule files");
	if (n > CTG_MAX_RULE_FILES)
		return setting_error(ld, s, name, "more than %d rule files",
		    CTG_MAX_RULE_FILES);
	for (i = 0; i < n; i++) {
		char *out = cfg->rule_files[i];
		int len;

		e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return setting_error(ld, e, name,
			    "expected an array of strings");
		v = config_setting_get_string(e);
		if (*v == '\0')
			return setting_error(ld, e, name, "empty path");
		if (v[0] == '/')
			len = snprintf(out, CTG_PATH_MAX, "%s", v);
		else
			len = snprintf(out, CTG_PATH_MAX, "%s%s%s", ld->dir,
			    strcmp(ld->dir, "/") == 0 ? "" : "/",
			    skip_dot_slash(v));
		if (len < 0 || len >= CTG_PATH_MAX)
			return setting_error(ld, e, name,
			    "path is longer than %d bytes", CTG_PATH_MAX - 1);
	}
	cfg->rule_file_count = (unsigned)n;
	/* stale entries past the count would defeat memcmp of configs */
	for (; i < CTG_MAX_RULE_FILES; i++)
		memset(cfg->rule_files[i], 0, sizeof(cfg->rule_files[i]));
	return 0;
}

static int
parse_choice(struct loader *ld, const config_setting_t *s, const char *name,
    const char *const *names, size_t count, int *out)
{
	char list[128] = "";
	const char *v;
	size_t i;

	if ((v = get_string(ld, s, name)) == NULL)
		return -1;
	for (i = 0; i < count; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	for (i = 0; i < count; i++) {
		strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, names[i], sizeof(list) - strlen(list) - 1);
	}
	return setting_error(ld, s, name, "'%s' is not one of %s", v, list);
}

static int parse_group(struct loader *, const config_setting_t *,
    const struct key *, const char *);

static int
parse_carry(struct loader *ld, const config_setting_t *s, const char *name, uint8_t *out)
{
	int t = config_setting_type(s), n;
	uint8_t mask = 0;

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return setting_error(ld, s, name, "expected an array of protocol names");
	n = config_setting_length(s);
	if (n == 0)
		return setting_error(ld, s, name, "nothing to carry (leave sync off instead)");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		int choice;

		if (parse_choice(ld, e, name, carry_names, 4, &choice) == -1)
			return -1;
		mask |= (uint8_t)(1u << choice);
	}
	*out = mask;
	return 0;
}

static int
parse_key(struct loader *ld, const config_setting_t *s, const struct key *k,
    const char *name)
{
	static const char *const policy_names[] = {
		[CTG_LOG_NONE] = "none",
		[CTG_LOG_DROPS] = "drops",
		[CTG_LOG_DECISIONS] = "decisions",
		[CTG_LOG_ALL] = "all",
	};
	struct ctg_config *cfg = ld->cfg;
	enum ctg_log_level level;
	long long v = 0;
	int choice = 0;

	switch (k->kind) {
	case K_GROUP:
		if (config_setting_type(s) != CONFIG_TYPE_GROUP)
			return setting_error(ld, s, name, "expected a group");
		return parse_group(ld, s, k->sub, name);
	case K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return setting_error(ld, s, name, "expected a boolean");
		*(bool *)field(cfg, k) = config_setting_get_bool(s) != 0;
		return 0;
	case K_U8:
		if (parse_int(ld, s, name, k, &v) == -1)
			return -1;
		*(uint8_t *)field(cfg, k) = (uint8_t)v;
		return 0;
	case K_U16:
		if (parse_int(ld, s, name, k, &v) == -1)
			return -1;
		*(uint16_t *)field(cfg, k) = (uint16_t)v;
		return 0;
	case K_U32:
		if (parse_int(ld, s, name, k, &v) == -1)
			return -1;
		*(uint32_t *)field(cfg, k) = (uint32_t)v;
		return 0;
	case K_PATH:
		return parse_path(ld, s, name, k, field(cfg, k));
	case K_NAME:
		return parse_name(ld, s, name, field(cfg, k));
	case K_MIDSTREAM:
		if (parse_choice(ld, s, name, midstream_names, 2, &choice) == -1)
			return -1;
		*(enum ctg_midstream *)field(cfg, k) = choice;
		return 0;
	case K_SYNCMODE:
		if (parse_choice(ld, s, name, sync_mode_names, 2, &choice) == -1)
			return -1;
		*(enum ctg_sync_mode *)field(cfg, k) = choice;
		return 0;
	case K_RELOAD:
		if (parse_choice(ld, s, name, reload_names, 2, &choice) == -1)
			return -1;
		*(enum ctg_reload_policy *)field(cfg, k) = choice;
		return 0;
	case K_POLICY:
		/* record.c owns the names; the list here only words the error */
		if (config_setting_type(s) == CONFIG_TYPE_STRING &&
		    ctg_log_level_parse(config_setting_get_string(s),
		    &level) == 0) {
			*(enum ctg_log_level *)field(cfg, k) = level;
			return 0;
		}
		if (parse_choice(ld, s, name, policy_names, 4, &choice) == -1)
			return -1;
		*(enum ctg_log_level *)field(cfg, k) = choice;
		return 0;
	case K_MODE:
		return parse_mode(ld, s, name, k, field(cfg, k));
	case K_RULES:
		return parse_rules(ld, s, name);
	case K_EXPORT: {
		static const char *const export_names[] = { "none", "syslog" };

		if (parse_choice(ld, s, name, export_names, 2, &choice) == -1)
			return -1;
		*(bool *)field(cfg, k) = choice == 1;
		return 0;
	}
	case K_FACILITY: {
		const char *str = get_string(ld, s, name);

		if (str == NULL)
			return -1;
		if (ctg_logexport_facility(str) == -1)
			return setting_error(ld, s, name, "'%s' is not a syslog facility "
			    "(daemon, user, auth, authpriv, local0 ... local7)", str);
		snprintf(field(cfg, k), CTG_NAME_MAX, "%s", str);
		return 0;
	}
	case K_TOKEN: {
		const char *str = get_string(ld, s, name);
		size_t len;

		if (str == NULL)
			return -1;
		len = strlen(str);
		if (len < (size_t)k->min || len > (size_t)k->max)
			return setting_error(ld, s, name, "must be %lld to %lld bytes long",
			    k->min, k->max);
		for (size_t i = 0; i < len; i++)
			if (str[i] <= 32 || str[i] >= 127)
				return setting_error(ld, s, name, "only printable ASCII "
				    "without spaces");
		memcpy(field(cfg, k), str, len + 1);
		return 0;
	}
	case K_CARRY:
		return parse_carry(ld, s, name, field(cfg, k));
	}
	return setting_error(ld, s, name, "internal error: unhandled kind");
}

static int
parse_group(struct loader *ld, const config_setting_t *grp,
    const struct key *keys, const char *prefix)
{
	char name[256];
	const config_setting_t *s;
	const struct key *k;
	const char *n;
	int i;

	/* in file order, so the first mistake in the file is the one reported */
	for (i = 0; (s = config_setting_get_elem(grp, i)) != NULL; i++) {
		if ((n = config_setting_name(s)) == NULL)
			n = "";
		snprintf(name, sizeof(name), "%s%s%s", prefix,
		    *prefix ? "." : "", n);
		for (k = keys; k->name != NULL; k++)
			if (strcmp(k->name, n) == 0)
				break;
		if (k->name == NULL) {
			errorf(ld, config_setting_source_file(s),
			    config_setting_source_line(s),
			    "unknown setting '%s'", name);
			return -1;
		}
		if (parse_key(ld, s, k, name) == -1)
			return -1;
	}
	return 0;
}

/* Constraints between settings, blamed on a setting the file names. */
static int
check_cross(struct loader *ld, const config_t *c)
{
	struct ctg_config *cfg = ld->cfg;
	const config_setting_t *s;
	const char *name;
	unsigned last = (unsigned)cfg->queue_first + cfg->queue_count;

	if (last > 65536) {
		name = "queue.count";
		if ((s = config_lookup(c, name)) == NULL)
			s = config_lookup(c, name = "queue.first");
		return setting_error(ld, s, name,
		    "first + count = %u is more than 65536", last);
	}

	if (cfg->sync_enabled && cfg->sync_group[0] == '\0') {
		s = config_lookup(c, name = "sync.group");
		if (s == NULL)
			s = config_lookup(c, name = "sync.enabled");
		return setting_error(ld, s, name, "sync needs a group name");
	}

	/* either bound at 0 turns shrinking off; keep one spelling of "off" */
	if (cfg->adaptive_start_pct == 0 || cfg->adaptive_end_pct == 0) {
		cfg->adaptive_start_pct = 0;
		cfg->adaptive_end_pct = 0;
	} else if (cfg->adaptive_end_pct <= cfg->adaptive_start_pct) {
		s = config_lookup(c, "tracker.adaptive_end");
		if (s != NULL)
			return setting_error(ld, s, "tracker.adaptive_end",
			    "%u must be greater than adaptive_start (%u)",
			    cfg->adaptive_end_pct, cfg->adaptive_start_pct);
		s = config_lookup(c, "tracker.adaptive_start");
		return setting_error(ld, s, "tracker.adaptive_start",
		    "%u must be less than adaptive_end (%u)",
		    cfg->adaptive_start_pct, cfg->adaptive_end_pct);
	}
	/* a bit in both would make rejected packets offload their connection */
	if (cfg->offload && (cfg->offload_mark & cfg->reject_mark)) {
		const char *other = "queue.reject_mark";

		name = "offload.mark";
		if ((s = config_lookup(c, name)) == NULL) {
			s = config_lookup(c, name = other);
			other = "offload.mark";
		}
		return setting_error(ld, s, name, "shares bits (%#x) with %s",
		    cfg->offload_mark & cfg->reject_mark, other);
	}
	return 0;
}

/* The absolute directory of ld->path, for relative rule files. */
static int
find_dir(struct loader *ld)
{
	const char *slash = strrchr(ld->path, '/');
	const char *rel;
	size_t dlen, n;

	if (ld->path[0] == '/') {
		dlen = (size_t)(slash - ld->path);
		if (dlen == 0)
			dlen = 1;
		memcpy(ld->dir, ld->path, dlen);
		ld->dir[dlen] = '\0';
		return 0;
	}
	if (getcwd(ld->dir, sizeof(ld->dir)) == NULL) {
		errorf(ld, NULL, 0, "cannot find the current directory: %s",
		    strerror(errno));
		return -1;
	}
	if (slash == NULL)
		return 0;
	rel = skip_dot_slash(ld->path);
	dlen = slash > rel ? (size_t)(slash - rel) : 0;
	n = strlen(ld->dir);
	if (dlen == 0)
		return 0;
	if (n + 1 + dlen >= sizeof(ld->dir)) {
		errorf(ld, NULL, 0, "directory name too long");
		return -1;
	}
	if (strcmp(ld->dir, "/") != 0)
		ld->dir[n++] = '/';
	memcpy(ld->dir + n, rel, dlen);
	ld->dir[n + dlen] = '\0';
	return 0;
}

int
ctg_config_load(struct ctg_config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct loader ld;
	struct ctg_config *tmp = NULL;
	config_t c;
	char *scanned = NULL, msg[256];
	int rc = -1, line;

	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.err = err;
	ld.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	if (strlen(path) >= CTG_PATH_MAX) {
		errorf(&ld, NULL, 0, "path is longer than %d bytes",
		    CTG_PATH_MAX - 1);
		return -1;
	}
	if (find_dir(&ld) == -1)
		return -1;
	if (ctg_cfgtext_read(path, CTG_CFGTEXT_CONFIG_MAX, &scanned, &line, msg, sizeof(msg)) == -1) {
		errorf(&ld, NULL, line, "%s", msg);
		return -1;
	}
	if ((tmp = malloc(sizeof(*tmp))) == NULL) {
		errorf(&ld, NULL, 0, "out of memory");
		goto out;
	}

	/* built aside so that a failed load leaves *cfg as it was */
	ctg_config_defaults(tmp);
	snprintf(tmp->path, sizeof(tmp->path), "%s", path);
	ld.cfg = tmp;

	config_init(&c);
	if (config_read_string(&c, scanned) != CONFIG_TRUE) {
		errorf(&ld, config_error_file(&c), config_error_line(&c), "%s",
		    config_error_text(&c) ? config_error_text(&c) :
		    "syntax error");
	} else if (parse_group(&ld, config_root_setting(&c), top_keys,
	    "") == 0 && check_cross(&ld, &c) == 0) {
		memcpy(cfg, tmp, sizeof(*cfg));
		rc = 0;
	}
	config_destroy(&c);
out:
	free(tmp);
	free(scanned);
	return rc;
}

static void
print_u(FILE *out, unsigned long v)
{
	/* past 32 bits libconfig needs the L suffix (see copy_number) */
	fprintf(out, "%lu%s;\n", v, v > 0x7fffffffUL ? "L" : "");
}

static void
indent(FILE *out, int depth)
{
	while (depth-- > 0)
		fputc('\t', out);
}

static void
print_group(const struct ctg_config *cfg, const struct key *keys, int depth,
    FILE *out)
{
	const struct key *k;
	const void *f;
	unsigned i;

	for (k = keys; k->name != NULL; k++) {
		f = cfield(cfg, k);
		indent(out, depth);
		fprintf(out, "%s = ", k->name);
		switch (k->kind) {
		case K_GROUP:
			fputs("{\n", out);
			print_group(cfg, k->sub, depth + 1, out);
			indent(out, depth);
			fputs("};\n", out);
			break;
		case K_BOOL:
			fprintf(out, "%s;\n", *(const bool *)f ? "true" : "false");
			break;
		case K_U8:
			print_u(out, *(const uint8_t *)f);
			break;
		case K_U16:
			print_u(out, *(const uint16_t *)f);
			break;
		case K_U32:
			print_u(out, *(const uint32_t *)f);
			break;
		case K_PATH:
		case K_NAME:
		case K_FACILITY:
		case K_TOKEN:
			ctg_escape_quoted(out, f, CTG_ESC_CONFIG);
			fputs(";\n", out);
			break;
		case K_MIDSTREAM:
			fprintf(out, "\"%s\";\n",
			    ctg_midstream_name(*(const enum ctg_midstream *)f));
			break;
		case K_POLICY:
			fprintf(out, "\"%s\";\n",
			    ctg_log_level_name(*(const enum ctg_log_level *)f));
			break;
		case K_RELOAD:
			fprintf(out, "\"%s\";\n",
			    reload_name(*(const enum ctg_reload_policy *)f));
			break;
		case K_SYNCMODE:
			fprintf(out, "\"%s\";\n",
			    ctg_sync_mode_name(*(const enum ctg_sync_mode *)f));
			break;
		case K_MODE:
			fprintf(out, "\"%04o\";\n", *(const uint32_t *)f);
			break;
		case K_EXPORT:
			fprintf(out, "\"%s\";\n", *(const bool *)f ? "syslog" : "none");
			break;
		case K_CARRY:
			fputs("[", out);
			for (i = 0; i < 4; i++)
				if (*(const uint8_t *)f & (1u << i))
					fprintf(out, "%s\"%s\"", (*(const uint8_t *)f & ((1u << i) - 1)) ?
					    ", " : " ", carry_names[i]);
			fputs(" ];\n", out);
			break;
		case K_RULES:
			fputs("[", out);
			for (i = 0; i < cfg->rule_file_count &&
			    i < CTG_MAX_RULE_FILES; i++) {
				fputs(i ? ",\n" : "\n", out);
				indent(out, depth + 1);
				ctg_escape_quoted(out, cfg->rule_files[i], CTG_ESC_CONFIG);
			}
			fputc('\n', out);
			indent(out, depth);
			fputs("];\n", out);
			break;
		}
	}
}

void
ctg_config_print(const struct ctg_config *cfg, FILE *out)
{
	const struct key *k;

	for (k = top_keys; k->name != NULL; k++) {
		fprintf(out, "%s = {\n", k->name);
		print_group(cfg, k->sub, 1, out);
		fputs("};\n", out);
	}
}
