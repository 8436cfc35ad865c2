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
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
/*
 * The queue between the audit writer and the sending thread. A local
 * syslog socket holds only max_dgram_qlen (10 by default) datagrams, so a
 * burst of decisions waits here; past these bounds it is dropped.
 */
#define QUEUE_MAX_MSGS 65536
#define QUEUE_MAX_BYTES (32u << 20)
/* a syslog daemon that stops reading: give up on a message after this */
#define SEND_TIMEOUT_MS 1000
#define CLOSE_GRACE_MS 5000

struct msg {
	struct msg *next;
	size_t len;
	char text[];
};

struct ctg_logexport {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
	int facility;
	char tag[CTG_LOGEXPORT_TAG_MAX + 1];
	char host[256];
	long pid;

	pthread_t thread;
	pthread_mutex_t mtx;
	pthread_cond_t wake;
	struct msg *head, *tail;        /* under mtx */
	size_t nmsgs, nbytes;           /* under mtx */
	bool stop;                      /* under mtx */
	uint64_t stop_deadline_ms;      /* under mtx */
	_Atomic uint64_t sent, dropped;
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

/*
 * The sending thread: it alone waits on the socket (SO_SNDTIMEO bounds a
 * wait), so the audit writer never does. Nobody listening (ENOENT,
 * ECONNREFUSED) or a timeout drops the message.
 */
static void *
sender_main(void *arg)
{
	struct ctg_logexport *ex = arg;

	pthread_mutex_lock(&ex->mtx);
	for (;;) {
		struct msg *m;

		while (ex->head == NULL && !ex->stop)
			pthread_cond_wait(&ex->wake, &ex->mtx);
		if (ex->head == NULL ||
		    (ex->stop && ctg_clock_mono_ms() >= ex->stop_deadline_ms))
			break;
		m = ex->head;
		ex->head = m->next;
		if (ex->head == NULL)
			ex->tail = NULL;
		ex->nmsgs--;
		ex->nbytes -= m->len;
		pthread_mutex_unlock(&ex->mtx);
		if (sendto(ex->fd, m->text, m->len, MSG_NOSIGNAL,
		    (const struct sockaddr *)&ex->addr, ex->addrlen) == -1)
			atomic_fetch_add(&ex->dropped, 1);
		else
			atomic_fetch_add(&ex->sent, 1);
		free(m);
		pthread_mutex_lock(&ex->mtx);
	}
	pthread_mutex_unlock(&ex->mtx);
	return NULL;
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
	ex->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
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
	{
		/* a full receiver makes sendto wait: this long at most */
		struct timeval tv = { SEND_TIMEOUT_MS / 1000, (SEND_TIMEOUT_MS % 1000) * 1000 };

		setsockopt(ex->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	pthread_mutex_init(&ex->mtx, NULL);
	pthread_cond_init(&ex->wake, NULL);
	atomic_init(&ex->sent, 0);
	atomic_init(&ex->dropped, 0);
	{
		sigset_t all, old;
		int started;

		/* signals are the main thread's */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		started = pthread_create(&ex->thread, NULL, sender_main, ex);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (started != 0) {
			snprintf(err, errlen, "log.export: cannot start its thread");
			pthread_cond_destroy(&ex->wake);
			pthread_mutex_destroy(&ex->mtx);
			close(ex->fd);
			free(ex);
			return NULL;
		}
	}
	return ex;
}

/* What is queued goes out for CLOSE_GRACE_MS more; the rest counts as dropped. */
void
ctg_logexport_close(struct ctg_logexport *ex)
{
	struct msg *m;

	if (ex == NULL)
		return;
	pthread_mutex_lock(&ex->mtx);
	ex->stop = true;
	ex->stop_deadline_ms = ctg_clock_mono_ms() + CLOSE_GRACE_MS;
	pthread_cond_signal(&ex->wake);
	pthread_mutex_unlock(&ex->mtx);
	pthread_join(ex->thread, NULL);
	while ((m = ex->head) != NULL) {
		ex->head = m->next;
		free(m);
		atomic_fetch_add(&ex->dropped, 1);
	}
	pthread_cond_destroy(&ex->wake);
	pthread_mutex_destroy(&ex->mtx);
	close(ex->fd);
	free(ex);
}

void
ctg_logexport_counts(struct ctg_logexport *ex, uint64_t *sent, uint64_t *dropped)
{
	*sent = ex ? atomic_load(&ex->sent) : 0;
	*dropped = ex ? atomic_load(&ex->dropped) : 0;
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
ctg_logexport_send(struct ctg_logexport *ex, const char *text, size_t len)
{
	char head[512];
	int h = ctg_logexport_header(ex, ctg_clock_wall_us(), head, sizeof(head));
	struct msg *m;

	if (h < 0 || (size_t)h >= sizeof(head) || (size_t)h + len > EXPORT_MSG_MAX)
		goto drop;
	pthread_mutex_lock(&ex->mtx);
	if (ex->nmsgs >= QUEUE_MAX_MSGS || ex->nbytes + (size_t)h + len > QUEUE_MAX_BYTES) {
		pthread_mutex_unlock(&ex->mtx);
		goto drop;
	}
	pthread_mutex_unlock(&ex->mtx);
	if ((m = malloc(sizeof(*m) + (size_t)h + len)) == NULL)
		goto drop;
	m->next = NULL;
	m->len = (size_t)h + len;
	memcpy(m->text, head, (size_t)h);
	memcpy(m->text + h, text, len);
	pthread_mutex_lock(&ex->mtx);
	if (ex->tail)
		ex->tail->next = m;
	else
		ex->head = m;
	ex->tail = m;
	ex->nmsgs++;
	ex->nbytes += m->len;
	pthread_cond_signal(&ex->wake);
	pthread_mutex_unlock(&ex->mtx);
	return 0;
drop:
	atomic_fetch_add(&ex->dropped, 1);
	return -1;
}

int
ctg_logexport_verdicts(struct ctg_logexport *ex, sqlite3 *db, int64_t first_id,
    int64_t last_id)
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
		atomic_fetch_add(&ex->dropped, (uint64_t)(last_id - first_id + 1));
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
		atomic_fetch_add(&ex->dropped, (uint64_t)(last_id - first_id + 1));
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
			atomic_fetch_add(&ex->dropped, 1);
			continue;
		}
		/* the row's line, without its newline */
		fflush(mem);
		if (textlen > 1)
			ctg_logexport_send(ex, text, textlen - 1);
	}
	lc_printer_free(&pr);
	fclose(mem);
	free(text);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
