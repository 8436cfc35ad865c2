/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control server: the daemon's side of the control socket.
 *
 * The main thread serves every client at once and never waits for one:
 * the sockets are non-blocking and each client is a small state machine
 *
 *   READ   the request (4-byte length + one command line) arrives; the
 *          whole of it within CTL_READ_MS of the accept, or the client is
 *          cut without a reply
 *   BUILD  the reply is made, one bounded step per turn of the main loop
 *          (a slice of one worker's table for connections and flush), so
 *          one client's big listing never holds up another's status
 *   WRITE  the reply goes out as fast as the client reads it; a client that
 *          reads nothing for CTL_STALL_MS, or not all of it within
 *          CTL_WRITE_MS, is cut
 *
 * Who asks is known from SO_PEERCRED: the commands that change state
 * (changes_state in ctlcmds.c's table) are for root, the daemon's own user and the
 * members of daemon.control_admin_group; anyone else who can open the
 * socket may read. A refusal is answered and recorded as an event.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctguard/clock.h"
#include "ctguard/control.h"
#include "ctlserver-int.h"

#define CTL_READ_MS     1000            /* accept to complete request */
#define CTL_STALL_MS    2000            /* writing: no byte taken for this long */
#define CTL_WRITE_MS    30000           /* writing: the whole reply */
#define CTL_REPLY_START 4096
#define CTL_BACKLOG     128
/* all replies being built or sent together; a builder past it waits */
#define CTL_BUFFER_BUDGET ((size_t)256 << 20)

/*
 * The main thread never waits long for a worker's lock: a worker wedged
 * while holding it (the watchdog's case) must not wedge the control
 * socket, the signals and the watchdog with it. A command that cannot
 * get a lock says so instead of waiting.
 */
#define CTL_LOCK_MS 20

bool
ctl_worker_lock(struct worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += CTL_LOCK_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&w->lock, &ts) == 0;
}

/* --- the clients ------------------------------------------------------------ */

static void
client_close(struct ctl_server *s, struct ctl_client *cl)
{
	if (cl->state == CL_FREE)
		return;
	s->buffered -= cl->o.cap;
	ctg_strbuf_free(&cl->o);
	close(cl->fd);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
	cl->state = CL_FREE;
}

/* Is the peer root, the daemon itself, or in the admin group? */
static bool
peer_is_admin(const struct ctl_server *s, int fd, const struct ucred *uc)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (uc->uid == 0 || uc->uid == geteuid())
		return true;
	if (!s->have_admin_gid)
		return false;
	if (uc->gid == s->admin_gid)
		return true;
	/* supplementary groups (Linux 4.13+); without them only the primary counts */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == s->admin_gid)
				return true;
	return false;
}

/* Take one client from the listen queue; false when it was empty. */
static bool
client_accept(struct daemon *dm, struct ctl_server *s)
{
	struct ctl_client *cl = NULL, *oldest_reader = NULL;
	struct ucred uc;
	socklen_t ul = sizeof(uc);
	int fd = accept4(dm->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return false;
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++) {
		if (s->c[i].state == CL_FREE) {
			cl = &s->c[i];
			break;
		}
		if (s->c[i].state == CL_READ &&
		    (!oldest_reader || s->c[i].accepted_ms < oldest_reader->accepted_ms))
			oldest_reader = &s->c[i];
	}
	if (!cl && oldest_reader) {
		/* every slot taken: the client that has waited longest to say anything goes */
		client_close(s, oldest_reader);
		s->evicted++;
		cl = oldest_reader;
	}
	if (!cl) {
		/* every slot is busy with a reply: no room, and no waiting either */
		static const char busy[] = "\0\0\0\x13" "error: server busy\n";
		(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		s->busy++;
		return true;
	}
	memset(&uc, 0, sizeof(uc));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0) {
		close(fd);
		return true;
	}
	memset(cl, 0, sizeof(*cl));
	cl->fd = fd;
	cl->state = CL_READ;
	cl->uid = uc.uid;
	cl->gid = uc.gid;
	cl->pid = uc.pid;
	cl->admin = peer_is_admin(s, fd, &uc);
	cl->accepted_ms = cl->progress_ms = ctg_clock_mono_ms();
	return true;
}

static void
reply_error(struct ctl_client *cl, const char *msg)
{
	ctg_strbuf_printf(&cl->o, "error: %s\n", msg);
}

/*
 * A refusal is an audit event, but a client asking again and again must
 * not fill the log with them: at most CTL_REFUSALS_PER_S a second, the
 * rest counted into the next one recorded.
 */
#define CTL_REFUSALS_PER_S 10

static void
refusal_event(struct daemon *dm, struct ctl_server *s, const struct ctl_client *cl)
{
	uint64_t sec = ctg_clock_mono_ms() / 1000;

	if (sec != s->refusal_sec) {
		s->refusal_sec = sec;
		s->refusals_this_sec = 0;
	}
	if (++s->refusals_this_sec > CTL_REFUSALS_PER_S) {
		s->refusals_unlogged++;
		return;
	}
	ctgd_event(dm, CTG_EV_WARNING, 1 + s->refusals_unlogged,
	    "control: refused '%s' from uid %u gid %u pid %d%s", cl->cmd->name,
	    (unsigned)cl->uid, (unsigned)cl->gid, (int)cl->pid,
	    s->refusals_unlogged ? " (count includes refusals not recorded one by one)" : "");
	ctgd_log(LOG_WARNING, "control: refused '%s' from uid %u gid %u pid %d",
	    cl->cmd->name, (unsigned)cl->uid, (unsigned)cl->gid, (int)cl->pid);
	s->refusals_unlogged = 0;
}

/* The request is complete: choose the command, check the role. */
static void
client_request(struct daemon *dm, struct ctl_server *s, struct ctl_client *cl)
{
	char *name = cl->req;
	uint32_t n = cl->want;

	cl->state = CL_BUILD;
	if (ctg_strbuf_init(&cl->o, CTL_REPLY_START, CTG_CTL_MAX_REPLY) < 0) {
		client_close(s, cl);
		return;
	}
	s->buffered += cl->o.cap;
	cl->req[n] = '\0';
	if (memchr(cl->req, '\0', n) != NULL) {
		reply_error(cl, "request contains a NUL byte");
		return;
	}
	while (n > 0 && (cl->req[n - 1] == '\n' || cl->req[n - 1] == '\r'))
		cl->req[--n] = '\0';
	cl->args = strchr(name, ' ');
	if (cl->args)
		*cl->args++ = '\0';
	else
		cl->args = name + strlen(name);
	if ((cl->cmd = ctl_find_command(name)) == NULL) {
		ctg_strbuf_printf(&cl->o, "error: unknown command '%.64s'\n", name);
		return;
	}
	if (cl->cmd->changes_state && !cl->admin) {
		const char *g = dm->cfg->control_admin_group;

		ctg_strbuf_printf(&cl->o, "error: permission denied: '%s' changes the daemon's state"
		    " and is for root%s%s%s only (you are uid %u)\n", cl->cmd->name,
		    g[0] ? " and group '" : "", g, g[0] ? "'" : "", (unsigned)cl->uid);
		s->refused++;
		refusal_event(dm, s, cl);
		cl->cmd = NULL;
		return;
	}
	if (cl->cmd->changes_state)
		ctgd_log(LOG_INFO, "control: '%s' from uid %u pid %d", cl->cmd->name,
		    (unsigned)cl->uid, (int)cl->pid);
}

static void
client_read(struct daemon *dm, struct ctl_server *s, struct ctl_client *cl)
{
	for (;;) {
		ssize_t r;

		if (cl->got < 4)
			r = recv(cl->fd, cl->hdr + cl->got, 4 - cl->got, 0);
		else
			r = recv(cl->fd, cl->req + (cl->got - 4), cl->want - (cl->got - 4), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			client_close(s, cl);
			return;
		}
		cl->got += (uint32_t)r;
		if (cl->got == 4) {
			cl->want = (uint32_t)cl->hdr[0] << 24 | (uint32_t)cl->hdr[1] << 16 |
			    (uint32_t)cl->hdr[2] << 8 | cl->hdr[3];
			if (cl->want > CTG_CTL_MAX_REQUEST) {
				cl->state = CL_BUILD;
				if (ctg_strbuf_init(&cl->o, 64, 64) < 0) {
					client_close(s, cl);
					return;
				}
				s->buffered += cl->o.cap;
				reply_error(cl, "request too long");
				return;
			}
		}
		if (cl->got >= 4 && cl->got - 4 == cl->want) {
			client_request(dm, s, cl);
			return;
		}
	}
}

/* One bounded step of the reply; then it is framed for writing. */
static void
client_build(struct daemon *dm, struct ctl_server *s, struct ctl_client *cl)
{
	size_t cap = cl->o.cap;
	bool done = true;

	/* the budget holds back the big builders, never the first step */
	if (cl->cmd && cl->o.len > 0 && s->buffered > CTL_BUFFER_BUDGET) {
		cl->waiting = CTL_WAIT_MS;
		return;
	}
	cl->waiting = 0;
	if (cl->cmd)
		done = cl->cmd->step(dm, cl);
	s->buffered += cl->o.cap - cap;
	if (!done)
		return;
	if (cl->o.full) {
		/* room for the note: it replaces the tail of the reply */
		cl->o.len = cl->o.len > 64 ? cl->o.len - 64 : 0;
		cl->o.full = false;
		ctg_strbuf_printf(&cl->o, "\n(truncated)\n");
	}
	cl->rhdr[0] = (uint8_t)(cl->o.len >> 24);
	cl->rhdr[1] = (uint8_t)(cl->o.len >> 16);
	cl->rhdr[2] = (uint8_t)(cl->o.len >> 8);
	cl->rhdr[3] = (uint8_t)cl->o.len;
	cl->off = 0;
	cl->state = CL_WRITE;
	cl->write_start_ms = cl->progress_ms = ctg_clock_mono_ms();
}

static void
client_write(struct ctl_server *s, struct ctl_client *cl)
{
	size_t total = 4 + cl->o.len;

	while (cl->off < total) {
		ssize_t r;

		if (cl->off < 4)
			r = send(cl->fd, cl->rhdr + cl->off, 4 - cl->off, MSG_NOSIGNAL | MSG_MORE);
		else
			r = send(cl->fd, cl->o.s + (cl->off - 4), total - cl->off, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			client_close(s, cl);
			return;
		}
		cl->off += (size_t)r;
		cl->progress_ms = ctg_clock_mono_ms();
	}
	client_close(s, cl);
}

/* Cut a client that overstayed. */
static void
client_deadlines(struct ctl_server *s, struct ctl_client *cl, uint64_t now)
{
	bool cut = false;

	if (cl->state == CL_READ)
		cut = now - cl->accepted_ms > CTL_READ_MS;
	else if (cl->state == CL_WRITE)
		cut = now - cl->progress_ms > CTL_STALL_MS || now - cl->write_start_ms > CTL_WRITE_MS;
	if (cut) {
		s->cut++;
		client_close(s, cl);
	}
}

/* --- the main loop's side ---------------------------------------------------- */

nfds_t
ctgd_ctl_pollfds(struct daemon *dm, struct pollfd *pfd, nfds_t max, int *timeout_ms)
{
	struct ctl_server *s = dm->ctl;
	nfds_t n = 0;
	uint64_t now = ctg_clock_mono_ms();

	if (dm->ctl_fd < 0 || !s || max < 1)
		return 0;
	pfd[n].fd = dm->ctl_fd;
	pfd[n].events = POLLIN;
	pfd[n++].revents = 0;
	for (int i = 0; i < CTGD_MAX_CLIENTS && n < max; i++) {
		struct ctl_client *cl = &s->c[i];
		uint64_t deadline;

		if (cl->state == CL_FREE)
			continue;
		if (cl->state == CL_BUILD) {
			/* more to do at once, unless it waits for the writer */
			if (*timeout_ms > cl->waiting)
				*timeout_ms = cl->waiting;
			continue;
		}
		pfd[n].fd = cl->fd;
		pfd[n].events = cl->state == CL_READ ? POLLIN : POLLOUT;
		pfd[n++].revents = 0;
		deadline = cl->state == CL_READ ? cl->accepted_ms + CTL_READ_MS :
		    cl->progress_ms + CTL_STALL_MS;
		deadline += 1;
		if (deadline <= now)
			*timeout_ms = 0;
		else if ((uint64_t)*timeout_ms > deadline - now)
			*timeout_ms = (int)(deadline - now);
	}
	return n;
}

/* Wall time on a loaded machine includes waiting for a CPU; this does not. */
static uint64_t
thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
ctgd_ctl_run(struct daemon *dm, const struct pollfd *pfd, nfds_t n)
{
	struct ctl_server *s = dm->ctl;
	uint64_t now, t0 = ctg_clock_mono_us(), c0 = thread_cpu_us();

	if (!s || dm->ctl_fd < 0)
		return;
	/* the clients that were ready when poll returned */
	for (nfds_t k = 1; k < n; k++) {
		if (!pfd[k].revents)
			continue;
		for (int i = 0; i < CTGD_MAX_CLIENTS; i++) {
			struct ctl_client *cl = &s->c[i];

			if (cl->state == CL_FREE || cl->fd != pfd[k].fd)
				continue;
			if (cl->state == CL_READ)
				client_read(dm, s, cl);
			else if (cl->state == CL_WRITE)
				client_write(s, cl);
			break;
		}
	}
	/* a step for each reply being built, then the ones just finished start going out */
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++) {
		struct ctl_client *cl = &s->c[i];

		if (cl->state == CL_BUILD) {
			client_build(dm, s, cl);
			if (cl->state == CL_WRITE)
				client_write(s, cl);
		}
	}
	/* new clients, a bounded number per turn */
	if (n > 0 && (pfd[0].revents & POLLIN))
		for (int k = 0; k < 32 && client_accept(dm, s); k++)
			;
	now = ctg_clock_mono_ms();
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++)
		client_deadlines(s, &s->c[i], now);
	if (ctg_clock_mono_us() - t0 > s->turn_max_us)
		s->turn_max_us = ctg_clock_mono_us() - t0;
	if (thread_cpu_us() - c0 > s->turn_max_cpu_us)
		s->turn_max_cpu_us = thread_cpu_us() - c0;
}

int
ctgd_ctl_open(struct daemon *dm)
{
	const struct ctg_config *cfg = dm->cfg;
	struct sockaddr_un sa;
	struct ctl_server *s;
	int fd;

	if (!cfg->control_socket[0])
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	for (int i = 0; i < CTGD_MAX_CLIENTS; i++)
		s->c[i].fd = -1;
	if (cfg->control_admin_group[0]) {
		struct group *gr = getgrnam(cfg->control_admin_group);

		if (!gr)
			ctgd_log(LOG_WARNING, "control admin group %s: no such group "
			    "(state-changing commands: root only)", cfg->control_admin_group);
		else {
			s->admin_gid = gr->gr_gid;
			s->have_admin_gid = true;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cfg->control_socket) >= sizeof(sa.sun_path)) {
		ctgd_log(LOG_ERR, "control socket path too long: %s", cfg->control_socket);
		free(s);
		return -1;
	}
	strcpy(sa.sun_path, cfg->control_socket);
	unlink(cfg->control_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		free(s);
		return -1;
	}
	mode_t old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, CTL_BACKLOG) < 0) {
		umask(old);
		ctgd_log(LOG_ERR, "control socket %s: %s", cfg->control_socket, strerror(errno));
		close(fd);
		free(s);
		return -1;
	}
	umask(old);
	chmod(cfg->control_socket, (mode_t)cfg->control_mode);
	if (cfg->control_group[0]) {
		struct group *gr = getgrnam(cfg->control_group);
		if (!gr || chown(cfg->control_socket, (uid_t)-1, gr->gr_gid) < 0)
			ctgd_log(LOG_WARNING, "control socket group %s: %s", cfg->control_group,
			    gr ? strerror(errno) : "no such group");
	}
	dm->ctl = s;
	dm->ctl_fd = fd;
	return fd;
}

void
ctgd_ctl_close(struct daemon *dm)
{
	if (dm->ctl) {
		for (int i = 0; i < CTGD_MAX_CLIENTS; i++)
			client_close(dm->ctl, &dm->ctl->c[i]);
		free(dm->ctl);
		dm->ctl = NULL;
	}
	if (dm->ctl_fd >= 0) {
		close(dm->ctl_fd);
		unlink(dm->cfg->control_socket);
		dm->ctl_fd = -1;
	}
}
