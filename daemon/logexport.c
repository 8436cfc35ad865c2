/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.export: committed verdict rows as RFC 5424 messages whose MSG is the
 * row's JSON line, printed by the printer of `ctguard log --format json`
 * (logprint.c), so that a line received equals a line `ctguard log`
 * prints for the same id. See logexport.h.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ctguard/clock.h"
#include "ctguard/logexport.h"
#include "logcli-int.h"

/* A datagram past this would be cut by most receivers (rsyslog: 8 KiB). */
#define EXPORT_MSG_MAX 8192

struct ctg_logexport {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
	int facility;
	char tag[CTG_LOGEXPORT_TAG_MAX + 1];
	char host[256];
	long pid;
	char buf[EXPORT_MSG_MAX];
};

static const struct {
	const char *name;
	int facility;
} facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER }, { "auth", LOG_AUTH },
	{ "authpriv", LOG_AUTHPRIV }, { "security", LOG_AUTH },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int
ctg_logexport_facility(const char *name)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcmp(name, facilities[i].name) == 0)
			return facilities[i].facility;
	return -1;
}

/* RFC 5424 APP-NAME and HOSTNAME: printable US-ASCII without spaces. */
static void
copy_token(char *dst, size_t len, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 1 < len; src++)
		if (*src > 32 && *src < 127)
			dst[n++] = *src;
	dst[n] = '\0';
	if (n == 0 && len > 1)
		snprintf(dst, len, "-");
}

struct ctg_logexport *
ctg_logexport_open(const struct ctg_logexport_config *cfg, char *err,
    size_t errlen)
{
	struct ctg_logexport *ex;
	const char *path = cfg->socket_path && cfg->socket_path[0] ?
	    cfg->socket_path : CTG_LOGEXPORT_DEFAULT_SOCKET;
	char host[256];

	if (strlen(path) >= sizeof(ex->addr.sun_path)) {
		snprintf(err, errlen, "log.export_socket %s: path too long", path);
		return NULL;
	}
	if ((ex = calloc(1, sizeof(*ex))) == NULL) {
		snprintf(err, errlen, "log.export: out of memory");
		return NULL;
	}
	/*
	 * Unconnected, one sendto per message: a syslog daemon that restarts
	 * (a new socket under the same name) is found again without any
	 * reconnection logic here.
	 */
	ex->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ex->fd == -1) {
		snprintf(err, errlen, "log.export: socket: %s", strerror(errno));
		free(ex);
		return NULL;
	}
	ex->addr.sun_family = AF_UNIX;
	memcpy(ex->addr.sun_path, path, strlen(path) + 1);
	ex->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	ex->facility = cfg->facility >= 0 ? cfg->facility : LOG_DAEMON;
	copy_token(ex->tag, sizeof(ex->tag), cfg->tag && cfg->tag[0] ? cfg->tag :
	    CTG_LOGEXPORT_DEFAULT_TAG);
	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	copy_token(ex->host, sizeof(ex->host), host);
	ex->pid = (long)getpid();
	return ex;
}

void
ctg_logexport_close(struct ctg_logexport *ex)
{
	if (ex == NULL)
		return;
	close(ex->fd);
	free(ex);
}

int
ctg_logexport_header(const struct ctg_logexport *ex, uint64_t us, char *buf,
    size_t len)
{
	char ts[64];

	lc_format_time((long long)us, ts, sizeof(ts));
	/* PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA */
	return snprintf(buf, len, "<%d>1 %s %s %s %ld verdict - ",
	    ex->facility | LOG_INFO, ts, ex->host, ex->tag, ex->pid);
}

int
ctg_logexport_send(struct ctg_logexport *ex, const char *msg, size_t len)
{
	int h = ctg_logexport_header(ex, ctg_clock_wall_us(), ex->buf, sizeof(ex->buf));

	if (h < 0 || (size_t)h + len > sizeof(ex->buf))
		return -1;
	memcpy(ex->buf + h, msg, len);
	/* never waits: a full receiver queue (EAGAIN) or none (ENOENT) drops */
	if (sendto(ex->fd, ex->buf, (size_t)h + len, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (const struct sockaddr *)&ex->addr, ex->addrlen) == -1)
		return -1;
	return 0;
}

int
ctg_logexport_verdicts(struct ctg_logexport *ex, sqlite3 *db, int64_t first_id,
    int64_t last_id, uint64_t *sent, uint64_t *dropped)
{
	char sql[1024];
	struct printer pr;
	sqlite3_stmt *st;
	char *text = NULL;
	size_t textlen = 0;
	FILE *mem;
	int rc;

	lc_select_list(lc_log_cols, lc_log_ncols, sql, sizeof(sql));
	snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql),
	    " FROM verdicts WHERE id BETWEEN ?1 AND ?2 ORDER BY id");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		*dropped += (uint64_t)(last_id - first_id + 1);
		return -1;
	}
	sqlite3_bind_int64(st, 1, first_id);
	sqlite3_bind_int64(st, 2, last_id);
	if ((mem = open_memstream(&text, &textlen)) == NULL ||
	    lc_printer_init(&pr, mem, FMT_JSON, lc_log_cols, lc_log_ncols) == -1) {
		if (mem != NULL)
			fclose(mem);
		free(text);
		sqlite3_finalize(st);
		*dropped += (uint64_t)(last_id - first_id + 1);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cell row[32];
		bool ok = true;

		/* one line at a time in the buffer: a batch is up to 16,384 rows */
		fseek(mem, 0, SEEK_SET);
		for (int i = 0; i < lc_log_ncols; i++) {
			row[i].text = lc_format_cell(lc_log_cols[i].kind, st, i, &row[i].jt);
			ok = ok && row[i].text != NULL;
		}
		if (!ok || lc_printer_row(&pr, row) == -1) {
			for (int i = 0; i < lc_log_ncols; i++)
				free(row[i].text);
			(*dropped)++;
			continue;
		}
		/* the row's line, without its newline */
		fflush(mem);
		if (textlen > 1 && ctg_logexport_send(ex, text, textlen - 1) == 0)
			(*sent)++;
		else
			(*dropped)++;
	}
	lc_printer_free(&pr);
	fclose(mem);
	free(text);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
