/*
 * The live daemon.
 *
 * One worker thread per queue owns its queue socket, its connection table
 * and its copy of the ruleset: the kernel sends both directions of a flow to
 * the same queue, so the packet path takes no lock but its own worker's,
 * once per burst (the main thread takes it only to answer control
 * commands). The main thread handles signals, the control socket and
 * reloads; a new ruleset reaches a worker through an atomic pointer that
 * the worker swaps in between bursts, so no packet sees half a ruleset.
 *
 * Every packet gets exactly one verdict: the pipeline always yields one,
 * and on shutdown the workers answer what they hold before they stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "ctguard/auditlog.h"
#include "ctguard/control.h"
#include "ctguard/daemon.h"
#include "ctguard/nfq.h"
#include "ctguard/pipeline.h"
#include "ctguard/reject.h"
#include "ctguard/tracker.h"

#define BURST 64
/*
 * The sweep walks the table a slice per tick, so that an idle entry ends
 * (and its summary reaches the audit log) about a second after its timeout
 * on a table of any size up to 10 * SWEEP_BUDGET_MAX entries, and the
 * packet path never waits for more than one slice.
 */
#define SWEEP_EVERY_US 100000ULL
#define SWEEP_TICKS_PER_PASS 10
#define SWEEP_BUDGET_MIN 4096
#define SWEEP_BUDGET_MAX 131072
#define MAX_CLIENTS 16
/*
 * The main thread serves one control client at a time: a request is one
 * short line, so a client gets little time to send it; a reply may be a
 * big connection listing, so reading it gets more.
 */
#define CTL_RECV_TIMEOUT_MS 500
#define CTL_SEND_TIMEOUT_MS 2000
#define IFCACHE 256

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
	int raw4, raw6;
	uint64_t now_us;
	uint64_t last_sweep;
	size_t sweep_budget;
	uint64_t rejects_sent, reject_errors;
	uint64_t related_elsewhere;     /* ICMP errors matched in another queue's table */
	uint64_t related_busy;          /* ... not looked up: that worker stayed busy */
	struct daemon *dm;
	uint64_t no_payload;            /* packets the kernel sent without content */
	bool want_ifnames;              /* the ruleset matches on interfaces */
	struct ifslot {
		uint32_t index;
		uint64_t resolved_us;
		char name[IF_NAMESIZE];
	} ifname[IFCACHE];
};

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
	int clients[MAX_CLIENTS];
	uint64_t started_us;            /* CLOCK_MONOTONIC */
	uint64_t reloads, reload_failures;
	char last_reload_error[512];
	pthread_t ckpt_thread;
	bool ckpt_running;
	/* written by the checkpoint thread, read by status: plain counters */
	uint64_t last_checkpoint_us;    /* wall time of the last one written */
	uint64_t checkpoints, checkpoint_failures;
	uint64_t checkpoint_write_us, checkpoint_hold_max_us;
};

static volatile sig_atomic_t sig_term, sig_hup, sig_usr1;
static atomic_bool stopping;
static bool log_foreground;

static void
logmsg(int prio, const char *fmt, ...)
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

static uint64_t
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
wall_us(void)
{
	return clock_us(CLOCK_REALTIME);
}

static uint64_t
mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

/*
 * The tracker's clock: the wall time at start, advanced by CLOCK_MONOTONIC.
 * Timeouts run on it, so a step of the wall clock (NTP at boot, an operator)
 * neither expires every connection at once nor keeps them for the length of
 * the step. It reads as wall time (snapshots restored at the next start age
 * by the real downtime); records get the step added back (wall_shift_us).
 */
static uint64_t clock_base_wall, clock_base_mono;

static void
tracker_clock_init(void)
{
	clock_base_wall = wall_us();
	clock_base_mono = mono_us();
}

static uint64_t
tracker_us(void)
{
	return clock_base_wall + (mono_us() - clock_base_mono);
}

/*
 * An event from the main thread. It goes to the log's producer 0, which
 * only the main thread uses: the workers' rings are single producer.
 */
static void __attribute__((format(printf, 4, 5)))
main_event(struct daemon *dm, enum ctg_event_kind kind, uint64_t count,
    const char *fmt, ...)
{
	struct ctg_event_record ev;
	va_list ap;

	if (!dm->log)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.time_us = wall_us();
	ev.kind = (uint8_t)kind;
	ev.count = count;
	va_start(ap, fmt);
	vsnprintf(ev.detail, sizeof(ev.detail), fmt, ap);
	va_end(ap);
	ctg_auditlog_put_event(dm->log, 0, &ev);
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

/*
 * Interface index to name, for rules that match on iif/oif. A small
 * direct-mapped cache (failures cached too) keeps if_indextoname's
 * socket+ioctl off most packets; entries are refreshed after
 * IFNAME_TTL_US so a renamed or recreated interface is seen again.
 */
#define IFNAME_TTL_US 5000000ULL

static const char *
ifname_of(struct worker *w, uint32_t idx)
{
	struct ifslot *e;

	if (idx == 0 || !w->want_ifnames)
		return "";
	e = &w->ifname[idx % IFCACHE];
	if (e->index != idx || w->now_us - e->resolved_us > IFNAME_TTL_US) {
		e->index = idx;
		e->resolved_us = w->now_us;
		if (!if_indextoname(idx, e->name))
			e->name[0] = '\0';
	}
	return e->name;
}

static void
send_reject(struct worker *w, const struct ctg_decision *d,
    const uint8_t *buf, uint32_t caplen)
{
	uint8_t out[1500];
	ssize_t n = ctg_build_reject(&d->pkt, buf, caplen, out, sizeof(out), false);
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	if (n <= 0)
		return;
	memset(&ss, 0, sizeof(ss));
	if (d->pkt.tuple.family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, d->pkt.tuple.src.b, 4);
		sl = sizeof(*sin);
		fd = w->raw4;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, d->pkt.tuple.src.b, 16);
		sl = sizeof(*sin6);
		fd = w->raw6;
	}
	if (fd < 0 || sendto(fd, out, (size_t)n, 0, (struct sockaddr *)&ss, sl) < 0)
		w->reject_errors++;
	else
		w->rejects_sent++;
}

static void
on_packet(void *arg, const struct ctg_nfq_pkt *pkt)
{
	struct worker *w = arg;
	struct ctg_decision d;
	struct ctg_pkt_in in;

	if (!w->locked) {
		pthread_mutex_lock(&w->lock);
		w->locked = true;
		w->now_us = tracker_us();
		w->pl.wall_shift_us = (int64_t)(wall_us() - w->now_us);
	}
	if (!pkt->payload || pkt->caplen == 0) {
		/* nothing to judge, so nothing may pass */
		w->no_payload++;
		ctg_nfq_verdict(w->nfq, pkt->id, CTG_NFQ_DROP);
		return;
	}
	memset(&in, 0, sizeof(in));
	in.buf = pkt->payload;
	in.caplen = pkt->caplen;
	in.wire_len = pkt->wire_len > pkt->caplen ? pkt->wire_len : pkt->caplen;
	in.now_us = w->now_us;
	in.packet_no = pkt->id;
	in.iif = ifname_of(w, pkt->ifindex_in);
	in.oif = ifname_of(w, pkt->ifindex_out);
	ctg_pipeline_process(&w->pl, &in, &d);
	if (d.action == CTG_ACT_REJECT)
		send_reject(w, &d, in.buf, in.caplen);
	ctg_nfq_verdict(w->nfq, pkt->id,
	    d.action == CTG_ACT_ACCEPT ? CTG_NFQ_ACCEPT : CTG_NFQ_DROP);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&stopping)) {
		int n = ctg_nfq_receive(w->nfq, 100, BURST, on_packet, w);

		if (n < 0 && errno != EINTR) {
			logmsg(LOG_ERR, "queue %u: receive failed: %s", w->queue, strerror(errno));
			if (w->locked) {
				pthread_mutex_unlock(&w->lock);
				w->locked = false;
			}
			struct timespec pause = { 0, 10 * 1000 * 1000 };
			nanosleep(&pause, NULL);
			continue;
		}
		if (!w->locked) {
			pthread_mutex_lock(&w->lock);
			w->locked = true;
			w->now_us = tracker_us();
			w->pl.wall_shift_us = (int64_t)(wall_us() - w->now_us);
		}
		struct ctg_ruleset *nr = atomic_exchange(&w->pending, NULL);
		if (nr) {
			struct ctg_ruleset *old = w->pl.rules;
			unsigned cut = ctg_pipeline_set_rules(&w->pl, nr, atomic_load(&w->recheck),
			    w->now_us);
			if (cut)
				logmsg(LOG_INFO, "queue %u: reload cut %u connections the new rules refuse",
				    w->queue, cut);
			w->want_ifnames = ctg_ruleset_uses_interfaces(nr);
			/* two reloads before main freed the first retired set */
			struct ctg_ruleset *unfreed = atomic_exchange(&w->retired, old);
			if (unfreed)
				ctg_ruleset_free(unfreed);
		}
		if (w->now_us - w->last_sweep >= SWEEP_EVERY_US) {
			ctg_tracker_sweep(w->pl.tracker, w->now_us, w->sweep_budget);
			w->last_sweep = w->now_us;
		}
		pthread_mutex_unlock(&w->lock);
		w->locked = false;
	}
	/*
	 * Answer what the kernel already queued to us before we unbind, so
	 * stopping judges those packets instead of dropping them unseen.
	 * Bounded: the rules keep queueing new packets until removed.
	 */
	for (int i = 0; i < 64; i++) {
		if (ctg_nfq_receive(w->nfq, 0, BURST, on_packet, w) <= 0)
			break;
	}
	if (w->locked) {
		pthread_mutex_unlock(&w->lock);
		w->locked = false;
	}
	ctg_nfq_flush(w->nfq);
	return NULL;
}

/* --- snapshot across restarts ------------------------------------------------ */

static void
snapshot_path(const struct daemon *dm, const struct worker *w, char *buf, size_t len)
{
	snprintf(buf, len, "%s.q%u", dm->cfg->state_file, w->queue);
}

static void
snapshot_restore(struct daemon *dm, struct worker *w)
{
	char path[CTG_PATH_MAX + 16], err[256];
	int fd, n;

	if (!dm->cfg->state_file[0])
		return;
	snapshot_path(dm, w, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			logmsg(LOG_WARNING, "%s: %s", path, strerror(errno));
		return;
	}
	n = ctg_tracker_restore(w->pl.tracker, fd, tracker_us(), err, sizeof(err));
	close(fd);
	unlink(path);
	if (n < 0) {
		logmsg(LOG_WARNING, "%s: ignored: %s", path, err);
		ctg_pipeline_event(&w->pl, CTG_EV_WARNING, wall_us(), 0,
		    "snapshot %s ignored: %s", path, err);
	} else {
		logmsg(LOG_INFO, "queue %u: restored %d connections from %s", w->queue, n, path);
		ctg_pipeline_event(&w->pl, CTG_EV_WARNING, wall_us(), (uint64_t)n,
		    "restored %d connections from %s", n, path);
	}
}

static int
shift_conn_times(void *arg, struct ctg_conn *c)
{
	uint64_t d = *(const uint64_t *)arg;

	c->first_us += d;
	c->last_us += d;
	return 0;
}

static void
snapshot_save(struct daemon *dm, struct worker *w)
{
	char path[CTG_PATH_MAX + 16], tmp[CTG_PATH_MAX + 32];
	int fd;

	if (!dm->cfg->state_file[0])
		return;
	snapshot_path(dm, w, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		logmsg(LOG_WARNING, "%s: %s", tmp, strerror(errno));
		return;
	}
	/*
	 * The next start reads the snapshot on a clock anchored to the wall
	 * time of then: save it in wall time, moving the connections by the
	 * step the wall clock took during this run (the worker has stopped).
	 */
	uint64_t shift = (uint64_t)(wall_us() - tracker_us());

	if (shift != 0)
		ctg_tracker_foreach(w->pl.tracker, shift_conn_times, &shift);
	if (ctg_tracker_save(w->pl.tracker, fd, tracker_us() + shift) < 0 || fsync(fd) < 0) {
		logmsg(LOG_WARNING, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		logmsg(LOG_WARNING, "%s: %s", path, strerror(errno));
}

/*
 * Checkpoints: a crash (kill -9, a watchdog abort, a power cut) must not
 * cost every connection, so a thread of its own writes the tables every
 * checkpoint_interval seconds while packets flow. It holds a worker's
 * table only to copy CKPT_SLICE pool slots (tens of microseconds), and
 * writes after letting go, so no packet ever waits for the disk. The file
 * appears atomically (temporary file, fsync, rename).
 */
#define CKPT_SLICE 1024

static int
checkpoint_queue(struct daemon *dm, struct worker *w, struct ctg_conn *buf)
{
	char path[CTG_PATH_MAX + 16], tmp[CTG_PATH_MAX + 32];
	struct ctg_tracker_stats ts;
	struct ctg_snap_writer sw;
	uint64_t next_id = 0;
	int fd, rc = 0;

	snapshot_path(dm, w, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.ckpt", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&w->lock);
	ctg_tracker_stats(w->pl.tracker, &ts);
	pthread_mutex_unlock(&w->lock);
	if (ctg_snap_begin(&sw, fd, true) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < ts.max; i += CKPT_SLICE) {
		uint64_t t0 = mono_us();

		pthread_mutex_lock(&w->lock);
		size_t n = ctg_tracker_copy_slice(w->pl.tracker, i, CKPT_SLICE, buf, &next_id);
		pthread_mutex_unlock(&w->lock);
		uint64_t held = mono_us() - t0;

		if (held > dm->checkpoint_hold_max_us)
			dm->checkpoint_hold_max_us = held;
		/* saved in wall time: the next start's clock is anchored to it */
		uint64_t shift = (uint64_t)(wall_us() - tracker_us());

		for (size_t k = 0; k < n; k++)
			shift_conn_times(&shift, &buf[k]);
		if (n && ctg_snap_write(&sw, buf, n) < 0)
			rc = -1;
	}
	if (rc == 0 && (ctg_snap_finish(&sw, wall_us(), next_id) < 0 || fsync(fd) < 0))
		rc = -1;
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static void *
checkpoint_main(void *arg)
{
	struct daemon *dm = arg;
	struct ctg_conn *buf = malloc(CKPT_SLICE * sizeof(*buf));
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (!buf) {
		logmsg(LOG_ERR, "checkpoints off: out of memory");
		return NULL;
	}
	uint64_t next = mono_us() + (uint64_t)dm->cfg->checkpoint_interval * 1000000;

	while (!atomic_load(&stopping)) {
		struct timespec tick = { 0, 100 * 1000 * 1000 };

		if (mono_us() < next) {
			nanosleep(&tick, NULL);
			continue;
		}
		uint64_t t0 = mono_us();
		int failed = 0;

		for (unsigned i = 0; i < dm->nw && !atomic_load(&stopping); i++) {
			if (checkpoint_queue(dm, &dm->w[i], buf) < 0) {
				failed++;
				logmsg(LOG_WARNING, "checkpoint of queue %u: %s", dm->w[i].queue,
				    strerror(errno));
			}
		}
		dm->checkpoint_write_us = mono_us() - t0;
		if (failed)
			dm->checkpoint_failures++;
		else {
			dm->checkpoints++;
			dm->last_checkpoint_us = wall_us();
		}
		next = mono_us() + (uint64_t)dm->cfg->checkpoint_interval * 1000000;
	}
	free(buf);
	return NULL;
}

/* --- reload -------------------------------------------------------------------- */

static struct ctg_ruleset *
load_rules(struct daemon *dm, const struct ctg_config *cfg, char *err, size_t errlen)
{
	const char *paths[CTG_MAX_RULE_FILES];
	struct ctg_rules_diag diag;
	unsigned n = 0;
	struct ctg_ruleset *rs;

	if (dm->nrule_files)
		for (n = 0; n < dm->nrule_files; n++)
			paths[n] = dm->rule_files[n];
	else
		for (n = 0; n < cfg->rule_file_count; n++)
			paths[n] = cfg->rule_files[n];
	memset(&diag, 0, sizeof(diag));
	rs = ctg_ruleset_load(paths, n, &diag);
	if (!rs)
		snprintf(err, errlen, "%s", diag.error);
	return rs;
}

/* Parse and check everything off the packet path; swap only when all loaded. */
static int
reload(struct daemon *dm, char *err, size_t errlen)
{
	struct ctg_config cfg;
	struct ctg_ruleset *sets[64];
	char why[512];

	/* as at start: a configuration file we started from must still load */
	ctg_config_defaults(&cfg);
	if (dm->config_path &&
	    ctg_config_load(&cfg, dm->config_path, why, sizeof(why)) < 0)
		goto fail;
	/* one copy per worker (rate and limit tables are per worker) */
	for (unsigned i = 0; i < dm->nw; i++) {
		if ((sets[i] = load_rules(dm, &cfg, why, sizeof(why))) == NULL ||
		    (i > 0 && ctg_ruleset_hash(sets[i]) != ctg_ruleset_hash(sets[0]))) {
			if (sets[i] != NULL) {
				snprintf(why, sizeof(why), "rule files changed while they were "
				    "being loaded; nothing was swapped, try again");
				ctg_ruleset_free(sets[i]);
			}
			for (unsigned j = 0; j < i; j++)
				ctg_ruleset_free(sets[j]);
			goto fail;
		}
	}
	for (unsigned i = 0; i < dm->nw; i++) {
		atomic_store(&dm->w[i].recheck, cfg.reload_policy == CTG_RELOAD_RECHECK);
		struct ctg_ruleset *prev = atomic_exchange(&dm->w[i].pending, sets[i]);
		if (prev)
			ctg_ruleset_free(prev);
	}
	dm->reloads++;
	logmsg(LOG_INFO, "reloaded: %u rules, ruleset %016" PRIx64,
	    ctg_ruleset_count(sets[0]), ctg_ruleset_hash(sets[0]));
	main_event(dm, CTG_EV_RULES_LOAD, ctg_ruleset_count(sets[0]),
	    "reload: ruleset %016" PRIx64, ctg_ruleset_hash(sets[0]));
	return 0;
fail:
	dm->reload_failures++;
	snprintf(dm->last_reload_error, sizeof(dm->last_reload_error), "%s", why);
	snprintf(err, errlen, "%s", why);
	logmsg(LOG_ERR, "reload failed, keeping the running rules: %s", why);
	main_event(dm, CTG_EV_RELOAD_FAILED, 0, "%s", why);
	return -1;
}

static void
free_retired(struct daemon *dm)
{
	for (unsigned i = 0; i < dm->nw; i++) {
		struct ctg_ruleset *old = atomic_exchange(&dm->w[i].retired, NULL);
		if (old)
			ctg_ruleset_free(old);
	}
}

/* --- control socket -------------------------------------------------------------- */

struct outbuf {
	char *buf;
	size_t len, cap;
	bool full;
};

static void __attribute__((format(printf, 2, 3)))
out(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = o->cap * 2;
		if (ncap > CTG_CTL_MAX_REPLY) {
			o->full = true;
			return;
		}
		char *nb = realloc(o->buf, ncap);
		if (!nb) {
			o->full = true;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
}

struct conn_filter {
	struct outbuf *o;
	bool json;
	bool have_addr;
	struct ctg_addr addr;
	uint8_t family;
	uint8_t plen;
	int port;
	int proto;
	const char *state;
	unsigned shown;
	int64_t wall_shift_us;          /* of the worker being listed */
};

static bool
addr_in(const struct ctg_addr *a, uint8_t fam, const struct conn_filter *f)
{
	if (fam != f->family)
		return false;
	unsigned bytes = f->plen / 8, bits = f->plen % 8;
	if (memcmp(a->b, f->addr.b, bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - bits));
	return (a->b[bytes] & m) == (f->addr.b[bytes] & m);
}

static int
list_conn(void *arg, struct ctg_conn *c)
{
	struct conn_filter *f = arg;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *label = ctg_conn_label(c);

	if (!(c->flags & CTG_CONN_CONFIRMED))
		return 0;
	if (f->have_addr && !addr_in(&c->tuple.src, c->tuple.family, f) &&
	    !addr_in(&c->tuple.dst, c->tuple.family, f))
		return 0;
	if (f->port >= 0 && c->tuple.sport != f->port && c->tuple.dport != f->port)
		return 0;
	if (f->proto >= 0 && c->tuple.proto != f->proto)
		return 0;
	if (f->state && strcasecmp(f->state, label) != 0)
		return 0;
	ctg_addr_str(&c->tuple.src, c->tuple.family, s, sizeof(s));
	ctg_addr_str(&c->tuple.dst, c->tuple.family, d, sizeof(d));
	if (f->json)
		out(f->o, "{\"id\":%" PRIu64 ",\"proto\":%u,\"src\":\"%s\",\"sport\":%u,"
		    "\"dst\":\"%s\",\"dport\":%u,\"state\":\"%s\",\"orig_state\":\"%s\","
		    "\"resp_state\":\"%s\",\"conn_state\":\"%s\",\"history\":\"%s\","
		    "\"orig_pkts\":%u,\"orig_bytes\":%" PRIu64 ",\"resp_pkts\":%u,"
		    "\"resp_bytes\":%" PRIu64 ",\"first_us\":%" PRIu64 ",\"last_us\":%" PRIu64 "}\n",
		    c->id, c->tuple.proto, s, c->tuple.sport, d, c->tuple.dport, label,
		    ctg_tcp_state_name(c->peer[0].state), ctg_tcp_state_name(c->peer[1].state),
		    ctg_conn_state_code(c), c->history, c->pkts[0], c->bytes[0], c->pkts[1],
		    c->bytes[1], c->first_us + (uint64_t)f->wall_shift_us,
		    c->last_us + (uint64_t)f->wall_shift_us);
	else
		out(f->o, "%-20" PRIu64 " %-5u %-40s %-40s %-12s %-11s %-11s %8u %10" PRIu64
		    " %8u %10" PRIu64 "\n", c->id, c->tuple.proto,
		    (snprintf(s + strlen(s), sizeof(s) - strlen(s), ":%u", c->tuple.sport), s),
		    (snprintf(d + strlen(d), sizeof(d) - strlen(d), ":%u", c->tuple.dport), d),
		    label, ctg_tcp_state_name(c->peer[0].state), ctg_tcp_state_name(c->peer[1].state),
		    c->pkts[0], c->bytes[0], c->pkts[1], c->bytes[1]);
	f->shown++;
	return f->o->full ? 1 : 0;
}

static int
parse_filter(struct conn_filter *f, char *args, char *err, size_t errlen)
{
	char *save = NULL;

	f->port = -1;
	f->proto = -1;
	for (char *tok = strtok_r(args, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *val = strchr(tok, '=');
		if (strcmp(tok, "json") == 0) {
			f->json = true;
			continue;
		}
		if (!val) {
			snprintf(err, errlen, "bad filter '%s' (want key=value)", tok);
			return -1;
		}
		*val++ = '\0';
		if (strcmp(tok, "addr") == 0) {
			char *slash = strchr(val, '/');
			if (slash)
				*slash++ = '\0';
			memset(&f->addr, 0, sizeof(f->addr));
			if (inet_pton(AF_INET, val, f->addr.b) == 1)
				f->family = 4;
			else if (inet_pton(AF_INET6, val, f->addr.b) == 1)
				f->family = 6;
			else {
				snprintf(err, errlen, "bad address '%s'", val);
				return -1;
			}
			int max = f->family == 4 ? 32 : 128;
			int l = slash ? atoi(slash) : max;
			if (l < 0 || l > max) {
				snprintf(err, errlen, "bad prefix length");
				return -1;
			}
			f->plen = (uint8_t)l;
			f->have_addr = true;
		} else if (strcmp(tok, "port") == 0) {
			f->port = atoi(val);
			if (f->port < 0 || f->port > 65535) {
				snprintf(err, errlen, "bad port '%s'", val);
				return -1;
			}
		} else if (strcmp(tok, "proto") == 0) {
			f->proto = strcmp(val, "tcp") == 0 ? 6 : strcmp(val, "udp") == 0 ? 17 :
			    strcmp(val, "icmp") == 0 ? 1 : strcmp(val, "icmpv6") == 0 ? 58 : atoi(val);
		} else if (strcmp(tok, "state") == 0) {
			f->state = val;
		} else {
			snprintf(err, errlen, "unknown filter '%s'", tok);
			return -1;
		}
	}
	return 0;
}

static void
cmd_stats(struct daemon *dm, struct outbuf *o, bool prom)
{
	uint64_t verdicts[3] = { 0 }, reasons[CTG_R_COUNT] = { 0 };
	uint64_t live = 0, max = 0, evicted = 0, refused = 0, logdrop = 0;
	struct ctg_auditlog_stats ls;
	uint64_t *hits = NULL;
	unsigned nhits = 0;

	/* every worker runs a copy of one ruleset: add their hit counters up */
	pthread_mutex_lock(&dm->w[0].lock);
	if (dm->w[0].pl.rules) {
		nhits = ctg_ruleset_count(dm->w[0].pl.rules) + 1;
		hits = calloc(nhits, sizeof(*hits));
	}
	pthread_mutex_unlock(&dm->w[0].lock);

	for (unsigned i = 0; i < dm->nw; i++) {
		struct worker *w = &dm->w[i];
		struct ctg_tracker_stats ts;
		struct ctg_nfq_stats qs;

		pthread_mutex_lock(&w->lock);
		ctg_tracker_stats(w->pl.tracker, &ts);
		for (int a = 0; a < 3; a++)
			verdicts[a] += w->pl.st.verdicts[a];
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			reasons[r] += w->pl.st.reasons[r];
		logdrop += w->pl.st.log_dropped;
		if (hits && w->pl.rules && ctg_ruleset_count(w->pl.rules) + 1 == nhits)
			for (int r = -1; r < (int)nhits - 1; r++)
				hits[r + 1] += ctg_ruleset_hits(w->pl.rules, r);
		uint64_t rejects = w->rejects_sent, reject_errors = w->reject_errors;
		uint64_t foreign = w->related_elsewhere, no_payload = w->no_payload;
		pthread_mutex_unlock(&w->lock);
		ctg_nfq_stats(w->nfq, &qs);
		live += ts.live;
		max += ts.max;
		evicted += ts.evicted;
		refused += ts.refused;
		if (prom) {
			out(o, "ctguard_queue_packets_total{queue=\"%u\"} %" PRIu64 "\n", w->queue, qs.packets);
			out(o, "ctguard_queue_enobufs_total{queue=\"%u\"} %" PRIu64 "\n", w->queue, qs.enobufs);
			out(o, "ctguard_queue_lost_estimate_total{queue=\"%u\"} %" PRIu64 "\n", w->queue, qs.id_gaps);
		} else {
			out(o, "queue %u packets %" PRIu64 " enobufs %" PRIu64 " id_gaps %" PRIu64
			    " send_errors %" PRIu64 " rejects_sent %" PRIu64 " reject_errors %" PRIu64
			    " icmp_related_other_queue %" PRIu64 " no_payload %" PRIu64 "\n",
			    w->queue, qs.packets, qs.enobufs, qs.id_gaps, qs.send_errors, rejects,
			    reject_errors, foreign, no_payload);
		}
	}
	pthread_mutex_lock(&dm->w[0].lock);
	for (int r = -1; hits && r < (int)nhits - 1; r++) {
		const char *name = ctg_ruleset_rule_name(dm->w[0].pl.rules, r);

		if (prom)
			out(o, "ctguard_rule_hits_total{rule=\"%s\"} %" PRIu64 "\n",
			    name ? name : "", hits[r + 1]);
		else
			out(o, "rule %-30s %" PRIu64 "\n", name ? name : "", hits[r + 1]);
	}
	pthread_mutex_unlock(&dm->w[0].lock);
	free(hits);
	ctg_auditlog_stats(dm->log, &ls);
	if (prom) {
		for (int a = 0; a < 3; a++)
			out(o, "ctguard_verdicts_total{verdict=\"%s\"} %" PRIu64 "\n",
			    ctg_action_name(a), verdicts[a]);
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			if (reasons[r])
				out(o, "ctguard_reason_total{reason=\"%s\"} %" PRIu64 "\n",
				    ctg_reason_name(r), reasons[r]);
		out(o, "ctguard_connections %" PRIu64 "\nctguard_connections_max %" PRIu64 "\n", live, max);
		out(o, "ctguard_evictions_total %" PRIu64 "\nctguard_refused_total %" PRIu64 "\n", evicted, refused);
		out(o, "ctguard_log_written_total %" PRIu64 "\nctguard_log_dropped_total %" PRIu64 "\n",
		    ls.written, ls.dropped + logdrop);
	} else {
		for (int a = 0; a < 3; a++)
			out(o, "verdict %-8s %" PRIu64 "\n", ctg_action_name(a), verdicts[a]);
		for (unsigned r = 0; r < CTG_R_COUNT; r++)
			if (reasons[r])
				out(o, "reason %-28s %" PRIu64 "\n", ctg_reason_name(r), reasons[r]);
		out(o, "connections %" PRIu64 "/%" PRIu64 " evicted %" PRIu64 " refused %" PRIu64 "\n",
		    live, max, evicted, refused);
		out(o, "log written %" PRIu64 " dropped %" PRIu64 " pending %" PRIu64 " degraded %s\n",
		    ls.written, ls.dropped + logdrop, ls.pending, ls.degraded ? "yes" : "no");
	}
}

static void
handle_command(struct daemon *dm, char *cmd, struct outbuf *o)
{
	char err[512];
	char *args = strchr(cmd, ' ');

	if (args)
		*args++ = '\0';
	else
		args = cmd + strlen(cmd);

	if (strcmp(cmd, "status") == 0) {
		uint64_t live = 0, max = 0;
		struct ctg_auditlog_stats ls;

		for (unsigned i = 0; i < dm->nw; i++) {
			struct ctg_tracker_stats ts;
			pthread_mutex_lock(&dm->w[i].lock);
			ctg_tracker_stats(dm->w[i].pl.tracker, &ts);
			pthread_mutex_unlock(&dm->w[i].lock);
			live += ts.live;
			max += ts.max;
		}
		ctg_auditlog_stats(dm->log, &ls);
		out(o, "ok\nversion %s\nuptime %" PRIu64 "\nqueues %u-%u\nconnections %" PRIu64
		    "/%" PRIu64 "\nlog_pending %" PRIu64 "\nlog_degraded %s\nreloads %" PRIu64
		    " failed %" PRIu64 "\n", PACKAGE_VERSION, (mono_us() - dm->started_us) / 1000000,
		    dm->cfg->queue_first, dm->cfg->queue_first + dm->nw - 1, live, max,
		    ls.pending, ls.degraded ? "yes" : "no", dm->reloads, dm->reload_failures);
		if (dm->reload_failures)
			out(o, "last_reload_error %s\n", dm->last_reload_error);
		out(o, "checkpoints %" PRIu64 " failed %" PRIu64 " last_age %" PRId64
		    " write_ms %" PRIu64 " hold_max_us %" PRIu64 "\n",
		    dm->checkpoints, dm->checkpoint_failures, dm->last_checkpoint_us ?
		    (int64_t)((wall_us() - dm->last_checkpoint_us) / 1000000) : (int64_t)-1,
		    dm->checkpoint_write_us / 1000, dm->checkpoint_hold_max_us);
	} else if (strcmp(cmd, "connections") == 0) {
		struct conn_filter f;

		memset(&f, 0, sizeof(f));
		f.o = o;
		if (parse_filter(&f, args, err, sizeof(err)) < 0) {
			out(o, "error: %s\n", err);
			return;
		}
		out(o, "ok\n");
		if (!f.json)
			out(o, "%-20s %-5s %-40s %-40s %-12s %-11s %-11s %8s %10s %8s %10s\n", "ID",
			    "PROTO", "SOURCE", "DESTINATION", "STATE", "ORIG", "RESP", "OPKTS",
			    "OBYTES", "RPKTS", "RBYTES");
		/* in slices, so the queue workers wait for one slice at most */
		for (unsigned i = 0; i < dm->nw && !o->full; i++) {
			struct ctg_tracker_stats ts;
			size_t pos = 0;

			ctg_tracker_stats(dm->w[i].pl.tracker, &ts);
			while (pos < ts.max && !o->full) {
				pthread_mutex_lock(&dm->w[i].lock);
				f.wall_shift_us = dm->w[i].pl.wall_shift_us;
				pos = ctg_tracker_foreach_from(dm->w[i].pl.tracker, pos, 4096,
				    list_conn, &f);
				pthread_mutex_unlock(&dm->w[i].lock);
			}
		}
	} else if (strcmp(cmd, "stats") == 0) {
		out(o, "ok\n");
		cmd_stats(dm, o, strstr(args, "prometheus") != NULL);
	} else if (strcmp(cmd, "reload") == 0) {
		if (reload(dm, err, sizeof(err)) < 0)
			out(o, "error: reload failed, running rules kept: %s\n", err);
		else
			out(o, "ok\nreloaded\n");
	} else if (strcmp(cmd, "flush") == 0) {
		for (unsigned i = 0; i < dm->nw; i++) {
			pthread_mutex_lock(&dm->w[i].lock);
			ctg_tracker_flush(dm->w[i].pl.tracker, CTG_END_FLUSHED, tracker_us());
			pthread_mutex_unlock(&dm->w[i].lock);
		}
		out(o, "ok\nflushed\n");
	} else if (strcmp(cmd, "kill") == 0) {
		char *end;
		unsigned long long id = strtoull(args, &end, 10);
		int found = -1;

		if (*args == '\0' || *end != '\0') {
			out(o, "error: kill needs a connection id\n");
			return;
		}
		for (unsigned i = 0; i < dm->nw && found < 0; i++) {
			pthread_mutex_lock(&dm->w[i].lock);
			found = ctg_tracker_kill(dm->w[i].pl.tracker, id, tracker_us());
			pthread_mutex_unlock(&dm->w[i].lock);
		}
		if (found < 0)
			out(o, "error: no connection %llu\n", id);
		else
			out(o, "ok\nkilled %llu\n", id);
	} else if (strcmp(cmd, "reopen-log") == 0) {
		ctg_auditlog_reopen(dm->log);
		out(o, "ok\nreopen requested\n");
	} else {
		out(o, "error: unknown command '%.64s'\n", cmd);
	}
}

static void
serve_client(struct daemon *dm, int fd)
{
	char req[CTG_CTL_MAX_REQUEST + 1];
	long n = ctg_ctl_recv(fd, req, CTG_CTL_MAX_REQUEST, CTL_RECV_TIMEOUT_MS);
	struct outbuf o = { .cap = 4096 };

	if (n < 0) {
		if (errno == EMSGSIZE) {
			static const char msg[] = "error: request too long\n";
			ctg_ctl_send(fd, msg, sizeof(msg) - 1, CTL_SEND_TIMEOUT_MS);
		}
		return;
	}
	if ((o.buf = malloc(o.cap)) == NULL)
		return;
	if (memchr(req, '\0', (size_t)n) != NULL) {
		out(&o, "error: request contains a NUL byte\n");
	} else {
		while (n > 0 && (req[n - 1] == '\n' || req[n - 1] == '\r'))
			req[--n] = '\0';
		handle_command(dm, req, &o);
	}
	if (o.full) {
		/* room for the note: it replaces the tail of the reply */
		o.len = o.len > 64 ? o.len - 64 : 0;
		o.full = false;
		out(&o, "\n(truncated)\n");
	}
	ctg_ctl_send(fd, o.buf, (uint32_t)o.len, CTL_SEND_TIMEOUT_MS);
	free(o.buf);
}

static int
open_control(const struct ctg_config *cfg)
{
	struct sockaddr_un sa;
	int fd;

	if (!cfg->control_socket[0])
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cfg->control_socket) >= sizeof(sa.sun_path)) {
		logmsg(LOG_ERR, "control socket path too long: %s", cfg->control_socket);
		return -1;
	}
	strcpy(sa.sun_path, cfg->control_socket);
	unlink(cfg->control_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	mode_t old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		umask(old);
		logmsg(LOG_ERR, "control socket %s: %s", cfg->control_socket, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	chmod(cfg->control_socket, (mode_t)cfg->control_mode);
	if (cfg->control_group[0]) {
		struct group *gr = getgrnam(cfg->control_group);
		if (!gr || chown(cfg->control_socket, (uid_t)-1, gr->gr_gid) < 0)
			logmsg(LOG_WARNING, "control socket group %s: %s", cfg->control_group,
			    gr ? strerror(errno) : "no such group");
	}
	return fd;
}

/* --- privileges ------------------------------------------------------------------ */

/* Become cfg->user, keeping only CAP_NET_ADMIN (verdicts on the open queues, reloads). */
static int
drop_privileges(const struct ctg_config *cfg)
{
	struct passwd *pw;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (!cfg->user[0] || getuid() != 0)
		return 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		logmsg(LOG_ERR, "user %s does not exist", cfg->user);
		return -1;
	}
	if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setgroups(0, NULL) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		logmsg(LOG_ERR, "cannot become %s: %s", cfg->user, strerror(errno));
		return -1;
	}
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = 1u << CAP_NET_ADMIN;
	if (syscall(SYS_capset, &hdr, data) < 0) {
		logmsg(LOG_ERR, "capset: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * An ICMP error whose flow lives in another worker's table. Our own lock
 * is released while we look (nothing of our table is held at this point),
 * so two workers doing this at once cannot deadlock.
 */
static bool
related_elsewhere(void *arg, const struct ctg_tuple *key, struct ctg_conn *copy,
    uint8_t *dir)
{
	struct worker *w = arg;
	struct daemon *dm = w->dm;
	bool found = false;

	if (!dm || dm->nw < 2)
		return false;
	if (w->locked)
		pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < dm->nw && !found; i++) {
		struct worker *o = &dm->w[i];
		struct ctg_conn *c;

		if (o == w)
			continue;
		/*
		 * A worker holds its lock for a burst. Never wait for it: a
		 * flood of forged errors would otherwise stall this queue
		 * behind a busy one. A busy owner means "not found here",
		 * which makes the error INVALID (counted as related_busy).
		 */
		if (pthread_mutex_trylock(&o->lock) != 0) {
			w->related_busy++;
			continue;
		}
		if ((c = ctg_tracker_lookup(o->pl.tracker, key, dir)) != NULL) {
			*copy = *c;
			/* its timeout profile indexes the owner's table, not ours */
			copy->tprofile = 0;
			found = true;
		}
		pthread_mutex_unlock(&o->lock);
	}
	if (w->locked)
		pthread_mutex_lock(&w->lock);
	if (found)
		w->related_elsewhere++;
	return found;
}

/* --- lifecycle ---------------------------------------------------------------------- */

static int
setup_workers(struct daemon *dm, struct ctg_ruleset *first)
{
	const struct ctg_config *cfg = dm->cfg;
	char err[512];

	dm->nw = cfg->queue_count ? cfg->queue_count : 1;
	if (dm->nw > 64)
		dm->nw = 64;
	dm->w = calloc(dm->nw, sizeof(*dm->w));
	if (!dm->w)
		return -1;
	for (unsigned i = 0; i < dm->nw; i++) {
		struct worker *w = &dm->w[i];
		struct ctg_ruleset *rs = i == 0 ? first : load_rules(dm, cfg, err, sizeof(err));
		struct ctg_nfq_config qc = {
			.queue = (uint16_t)(cfg->queue_first + i),
			.copy_range = cfg->copy_range,
			.maxlen = cfg->queue_maxlen,
			.rcvbuf = cfg->rcvbuf_bytes,
			.gso = cfg->gso,
			.fail_open = cfg->fail_open,
		};

		w->idx = i;
		w->queue = qc.queue;
		w->sweep_budget = cfg->max_connections / SWEEP_TICKS_PER_PASS + 1;
		if (w->sweep_budget < SWEEP_BUDGET_MIN)
			w->sweep_budget = SWEEP_BUDGET_MIN;
		if (w->sweep_budget > SWEEP_BUDGET_MAX)
			w->sweep_budget = SWEEP_BUDGET_MAX;
		w->raw4 = w->raw6 = -1;
		pthread_mutex_init(&w->lock, NULL);
		if (!rs) {
			logmsg(LOG_ERR, "%s", err);
			return -1;
		}
		if (ctg_pipeline_init(&w->pl, cfg, rs, dm->log, i + 1, w->queue, err, sizeof(err)) < 0) {
			logmsg(LOG_ERR, "%s", err);
			ctg_ruleset_free(rs);
			return -1;
		}
		w->want_ifnames = ctg_ruleset_uses_interfaces(rs);
		w->nfq = ctg_nfq_open(&qc, err, sizeof(err));
		if (!w->nfq) {
			logmsg(LOG_ERR, "queue %u: %s", w->queue, err);
			return -1;
		}
		const char *refused = ctg_nfq_refused(w->nfq);
		if (refused && refused[0])
			logmsg(LOG_NOTICE, "queue %u: kernel refused optional flags: %s; running without them",
			    w->queue, refused);
		bool forced;
		uint32_t rb = ctg_nfq_rcvbuf(w->nfq, &forced);
		if (!forced)
			logmsg(LOG_WARNING, "queue %u: receive buffer %u bytes (SO_RCVBUFFORCE refused)",
			    w->queue, rb);
		w->raw4 = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		w->raw6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		w->dm = dm;
		ctg_tracker_set_related_lookup(w->pl.tracker, related_elsewhere, w);
		snapshot_restore(dm, w);
	}
	return 0;
}

static void
write_pidfile(const char *path)
{
	FILE *f;

	if (!path[0])
		return;
	if ((f = fopen(path, "w")) == NULL) {
		logmsg(LOG_WARNING, "pidfile %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

int
ctg_daemon_run(const struct ctg_config *cfg, struct ctg_ruleset *rules,
    const char *config_path, const char *const *rule_files, unsigned nrule_files,
    bool foreground)
{
	struct daemon dm;
	struct sigaction sa;
	char err[512];
	int status = 0;

	memset(&dm, 0, sizeof(dm));
	dm.cfg = cfg;
	dm.config_path = config_path;
	dm.rule_files = rule_files;
	dm.nrule_files = nrule_files;
	dm.foreground = foreground;
	dm.ctl_fd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		dm.clients[i] = -1;
	log_foreground = foreground;
	openlog("ctguardd", LOG_PID, LOG_DAEMON);

	if (!foreground && daemon(0, 0) < 0) {
		logmsg(LOG_ERR, "daemon: %s", strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;        /* no SA_RESTART: a blocking poll must wake up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct ctg_auditlog_config lc = {
		.path = cfg->log_database,
		.policy = cfg->log_policy,
		.queue_records = cfg->log_queue_records,
		.producers = (cfg->queue_count ? cfg->queue_count : 1) + 1,
		.batch_max = 0,         /* the writer's default (16,384 rows) */
		.batch_ms = 200,
		.retention_days = cfg->log_retention_days,
		.retention_mb = cfg->log_retention_mb,
		.memory_bound_records = 1u << 20,
		.group = cfg->log_group,
		.block_when_full = false,
	};
	if (cfg->log_policy != CTG_LOG_NONE) {
		dm.log = ctg_auditlog_open(&lc, err, sizeof(err));
		if (!dm.log) {
			logmsg(LOG_ERR, "audit log: %s", err);
			ctg_ruleset_free(rules);
			return 1;
		}
	}
	tracker_clock_init();
	dm.started_us = mono_us();
	if (setup_workers(&dm, rules) < 0) {
		status = 1;
		goto out;
	}
	dm.ctl_fd = open_control(cfg);
	write_pidfile(cfg->pidfile);
	if (drop_privileges(cfg) < 0) {
		status = 1;
		goto out;
	}
	main_event(&dm, CTG_EV_START, dm.nw,
	    "ctguardd %s started: queues %u-%u, ruleset %016" PRIx64, PACKAGE_VERSION,
	    cfg->queue_first, cfg->queue_first + dm.nw - 1, ctg_ruleset_hash(dm.w[0].pl.rules));
	for (unsigned i = 0; i < dm.nw; i++) {
		if (pthread_create(&dm.w[i].thread, NULL, worker_main, &dm.w[i]) != 0) {
			logmsg(LOG_ERR, "cannot start worker %u", i);
			atomic_store(&stopping, true);
			for (unsigned j = 0; j < i; j++)
				pthread_join(dm.w[j].thread, NULL);
			status = 1;
			goto out;
		}
	}
	if (cfg->state_file[0] && cfg->checkpoint_interval) {
		if (pthread_create(&dm.ckpt_thread, NULL, checkpoint_main, &dm) == 0)
			dm.ckpt_running = true;
		else
			logmsg(LOG_WARNING, "checkpoints off: cannot start their thread");
	}
	logmsg(LOG_INFO, "running on queues %u-%u", cfg->queue_first, cfg->queue_first + dm.nw - 1);
#ifdef HAVE_SYSTEMD
	sd_notify(0, "READY=1\nSTATUS=filtering");
	uint64_t wd_usec = 0;
	bool wd = sd_watchdog_enabled(0, &wd_usec) > 0;
	uint64_t last_wd = mono_us();
#endif

	while (!sig_term) {
		struct pollfd pfd[1 + MAX_CLIENTS];
		int n = 0;

		if (dm.ctl_fd >= 0) {
			pfd[n].fd = dm.ctl_fd;
			pfd[n].events = POLLIN;
			n++;
		}
		int r = poll(pfd, (nfds_t)n, 200);
		if (r > 0 && (pfd[0].revents & POLLIN)) {
			int cfd = accept4(dm.ctl_fd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd >= 0) {
				serve_client(&dm, cfd);
				close(cfd);
			}
		}
		if (sig_hup) {
			sig_hup = 0;
			reload(&dm, err, sizeof(err));
			if (dm.log)
				ctg_auditlog_reopen(dm.log);
		}
		if (sig_usr1) {
			struct outbuf o = { .cap = 4096 };
			sig_usr1 = 0;
			if ((o.buf = malloc(o.cap)) != NULL) {
				cmd_stats(&dm, &o, false);
				logmsg(LOG_INFO, "counters:\n%s", o.buf);
				free(o.buf);
			}
		}
		free_retired(&dm);
#ifdef HAVE_SYSTEMD
		if (wd && mono_us() - last_wd > wd_usec / 2) {
			sd_notify(0, "WATCHDOG=1");
			last_wd = mono_us();
		}
#endif
	}
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	logmsg(LOG_INFO, "stopping");
	atomic_store(&stopping, true);
	for (unsigned i = 0; i < dm.nw; i++)
		pthread_join(dm.w[i].thread, NULL);
	free_retired(&dm);
	/* a checkpoint still being written must not rename over the final save */
	if (dm.ckpt_running)
		pthread_join(dm.ckpt_thread, NULL);
	for (unsigned i = 0; i < dm.nw; i++) {
		snapshot_save(&dm, &dm.w[i]);
	}
	main_event(&dm, CTG_EV_STOP, 0, "ctguardd stopped");
out:
	if (dm.ctl_fd >= 0) {
		close(dm.ctl_fd);
		unlink(cfg->control_socket);
	}
	for (unsigned i = 0; dm.w && i < dm.nw; i++) {
		struct worker *w = &dm.w[i];
		if (w->nfq)
			ctg_nfq_close(w->nfq);
		if (w->raw4 >= 0)
			close(w->raw4);
		if (w->raw6 >= 0)
			close(w->raw6);
		struct ctg_ruleset *p = atomic_exchange(&w->pending, NULL);
		if (p)
			ctg_ruleset_free(p);
		if (w->pl.rules)
			ctg_ruleset_free(w->pl.rules);
		w->pl.rules = NULL;
		if (w->pl.tracker)
			ctg_pipeline_fini(&w->pl);
	}
	free(dm.w);
	if (dm.log)
		ctg_auditlog_close(dm.log);
	if (cfg->pidfile[0])
		unlink(cfg->pidfile);
	return status;
}
