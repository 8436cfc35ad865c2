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
#include <stdio_ext.h>
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
		struct msg *list, *m;
		bool late;

		while (ex->head == NULL && !ex->stop)
			pthread_cond_wait(&ex->wake, &ex->mtx);
		if (ex->head == NULL)
			break;
		/*
		 * The whole queue at once: the writer appends without waiting
		 * for sends. nmsgs and nbytes still count these until sent, so
		 * the bound holds for queued and in-flight messages together.
		 */
		list = ex->head;
		ex->head = ex->tail = NULL;
		pthread_mutex_unlock(&ex->mtx);
		while ((m = list) != NULL) {
			list = m->next;
			pthread_mutex_lock(&ex->mtx);
			late = ex->stop && ctg_clock_mono_ms() >= ex->stop_deadline_ms;
			ex->nmsgs--;
			ex->nbytes -= m->len;
			pthread_mutex_unlock(&ex->mtx);
			if (late || sendto(ex->fd, m->text, m->len, MSG_NOSIGNAL,
			    (const struct sockaddr *)&ex->addr, ex->addrlen) == -1)
				atomic_fetch_add(&ex->dropped, 1);
			else
				atomic_fetch_add(&ex->sent, 1);
			free(m);
		}
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

/* Messages made but not yet handed to the sending thread. */
struct batch {
	struct msg *head, *tail;
	size_t n, bytes;
};

/* head: the RFC 5424 header, made once for a batch (one commit, one time) */
static int
batch_add(struct ctg_logexport *ex, struct batch *b, const char *head, size_t h,
    const char *text, size_t len)
{
	struct msg *m;

	if (h + len > EXPORT_MSG_MAX || (m = malloc(sizeof(*m) + h + len)) == NULL) {
		atomic_fetch_add(&ex->dropped, 1);
		return -1;
	}
	m->next = NULL;
	m->len = h + len;
	memcpy(m->text, head, h);
	memcpy(m->text + h, text, len);
	if (b->tail)
		b->tail->next = m;
	else
		b->head = m;
	b->tail = m;
	b->n++;
	b->bytes += m->len;
	return 0;
}

/* Into the queue in one step; what does not fit is dropped (the newest). */
static void
batch_flush(struct ctg_logexport *ex, struct batch *b)
{
	struct msg *m, *keep_tail = NULL, *rest;
	size_t n = 0;

	if (b->head == NULL)
		return;
	pthread_mutex_lock(&ex->mtx);
	rest = b->head;
	while (rest != NULL && ex->nmsgs + n < QUEUE_MAX_MSGS &&
	    ex->nbytes + rest->len <= QUEUE_MAX_BYTES) {
		ex->nbytes += rest->len;
		keep_tail = rest;
		rest = rest->next;
		n++;
	}
	if (keep_tail != NULL) {
		keep_tail->next = NULL;
		if (ex->tail)
			ex->tail->next = b->head;
		else
			ex->head = b->head;
		ex->tail = keep_tail;
		ex->nmsgs += n;
		pthread_cond_signal(&ex->wake);
	}
	pthread_mutex_unlock(&ex->mtx);
	while ((m = rest) != NULL) {
		rest = m->next;
		free(m);
		atomic_fetch_add(&ex->dropped, 1);
	}
	memset(b, 0, sizeof(*b));
}

int
ctg_logexport_send(struct ctg_logexport *ex, const char *text, size_t len)
{
	struct batch b = { 0 };
	uint64_t before = atomic_load(&ex->dropped);
	char head[512];
	int h = ctg_logexport_header(ex, ctg_clock_wall_us(), head, sizeof(head));

	if (h < 0 || (size_t)h >= sizeof(head)) {
		atomic_fetch_add(&ex->dropped, 1);
		return -1;
	}
	batch_add(ex, &b, head, (size_t)h, text, len);
	batch_flush(ex, &b);
	return atomic_load(&ex->dropped) == before ? 0 : -1;
}

int
ctg_logexport_verdicts(struct ctg_logexport *ex, sqlite3 *db, int64_t first_id,
    int64_t last_id)
{
	char sql[1024];
	struct batch b = { 0 };
	struct printer pr;
	sqlite3_stmt *st;
	char *text = NULL, head[512];
	size_t textlen = 0;
	int h = ctg_logexport_header(ex, ctg_clock_wall_us(), head, sizeof(head));
	FILE *mem;
	int rc;

	lc_select_list(lc_log_cols, lc_log_ncols, sql, sizeof(sql));
	snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql),
	    " FROM verdicts WHERE id BETWEEN ?1 AND ?2 ORDER BY id");
	if (h < 0 || (size_t)h >= sizeof(head) ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
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
	/* this thread's own stream: the printer's fputc per byte without a lock */
	__fsetlocking(mem, FSETLOCKING_BYCALLER);
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
			batch_add(ex, &b, head, (size_t)h, text, textlen - 1);
	}
	batch_flush(ex, &b);
	lc_printer_free(&pr);
	fclose(mem);
	free(text);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
