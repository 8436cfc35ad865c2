/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dynamic sets in the live daemon: the registry every worker's ruleset is
 * bound to, its state file (state_file + ".sets"), expiry from the main
 * loop, and the control commands set-add, set-del, set-flush, set-load
 * and set-list (entries of the command table in ctlserver.c).
 *
 * Everything here runs on the main thread. A change publishes a new
 * version, then waits once for each worker's burst lock, so the version it
 * replaced is freed only when no burst can still be reading it; workers
 * never wait for the main thread on the packet path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "ctguard/clock.h"
#include "ctguard/dynset.h"
#include "ctguard/netaddr.h"
#include "daemon-int.h"

/* set-load reads at most this much (1,000,000 IPv6 prefixes fit). */
#define SET_FILE_MAX (64u << 20)

/* Readers of an old version are done once every worker ended its burst. */
static void
sync_workers(void *arg)
{
	struct daemon *dm = arg;

	for (unsigned i = 0; i < dm->nw; i++) {
		pthread_mutex_lock(&dm->w[i].lock);
		pthread_mutex_unlock(&dm->w[i].lock);
	}
}

static void
state_path(const struct daemon *dm, char *buf, size_t len)
{
	buf[0] = '\0';
	if (dm->cfg->state_file[0])
		snprintf(buf, len, "%s.sets", dm->cfg->state_file);
}

static void
save(struct daemon *dm)
{
	char path[CTG_PATH_MAX + 8], err[512];

	state_path(dm, path, sizeof(path));
	if (path[0] && ctg_dynsets_save(dm->dynsets, path, err, sizeof(err)) < 0)
		ctgd_log(LOG_WARNING, "dynamic sets not saved: %s", err);
}

int
ctgd_dynsets_start(struct daemon *dm)
{
	char path[CTG_PATH_MAX + 8], err[512];
	size_t n;

	if ((dm->dynsets = ctg_dynsets_new(sync_workers, dm)) == NULL)
		return -1;
	for (unsigned i = 0; i < dm->nw; i++)
		if (ctg_dynsets_bind(dm->dynsets, dm->w[i].pl.rules, i == 0, err,
		    sizeof(err)) < 0) {
			ctgd_log(LOG_ERR, "dynamic sets: %s", err);
			return -1;
		}
	state_path(dm, path, sizeof(path));
	if (!path[0])
		return 0;
	if (ctg_dynsets_restore(dm->dynsets, path, ctg_clock_wall_us(), &n, err,
	    sizeof(err)) < 0)
		ctgd_log(LOG_WARNING, "dynamic sets: %s", err);
	if (n)
		ctgd_log(LOG_INFO, "dynamic sets: %zu entries restored", n);
	return 0;
}

void
ctgd_dynsets_stop(struct daemon *dm)
{
	if (dm->dynsets == NULL)
		return;
	save(dm);
	ctg_dynsets_free(dm->dynsets);
	dm->dynsets = NULL;
}

int
ctgd_dynsets_rebind(struct daemon *dm, struct ctg_ruleset **sets, unsigned n,
    char *err, size_t errlen)
{
	for (unsigned i = 0; i < n; i++)
		if (ctg_dynsets_bind(dm->dynsets, sets[i], i == 0, err, errlen) < 0)
			return -1;
	return 0;
}

/* Main loop: drop what expired (the loop turns every 200 ms at most). */
void
ctgd_dynsets_tick(struct daemon *dm)
{
	uint64_t now = ctg_clock_wall_us(), next;
	size_t n;

	if (dm->dynsets == NULL)
		return;
	next = ctg_dynsets_next_expiry(dm->dynsets);
	if (next == 0 || next > now)
		return;
	if ((n = ctg_dynsets_expire(dm->dynsets, now)) == 0)
		return;
	ctgd_event(dm, CTG_EV_SET_CHANGE, n, "set expire: %zu entries", n);
	save(dm);
}

long
ctgd_peer_uid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -1;
	return (long)cr.uid;
}

/* --- the commands ----------------------------------------------------------- */

struct set_args {
	struct ctg_dynset *set;
	char *what;             /* the address or the file */
	uint64_t timeout_s;     /* 0: none */
	const char *comment;
	bool cut, json;
};

/*
 * "NAME [WHAT] [timeout=S] [cut] [json] [comment=TEXT...]": the comment
 * comes last and takes the rest of the line, spaces included.
 */
static int
parse_args(struct daemon *dm, char *args, bool want_what, bool name_optional,
    struct set_args *a, struct ctg_strbuf *o)
{
	char *save = NULL, *tok, *name;

	memset(a, 0, sizeof(*a));
	name = strtok_r(args, " ", &save);
	if (name == NULL && name_optional)
		return 0;
	if (name == NULL) {
		ctg_strbuf_printf(o, "error: no set named\n");
		return -1;
	}
	if (name_optional && strcmp(name, "json") == 0) {
		a->json = true;
		return 0;
	}
	a->set = ctg_dynsets_find(dm->dynsets, name);
	if (a->set == NULL || !ctg_dynset_declared(a->set)) {
		ctg_strbuf_printf(o, "error: no dynamic set '%.64s' in the running rules\n", name);
		return -1;
	}
	if (want_what && (a->what = strtok_r(NULL, " ", &save)) == NULL) {
		ctg_strbuf_printf(o, "error: missing address or file\n");
		return -1;
	}
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		char *end;

		if (strncmp(tok, "comment=", 8) == 0) {
			/* the rest of the line, spaces and all */
			if (save != NULL && *save != '\0')
				tok[strlen(tok)] = ' ';
			a->comment = tok + 8;
			break;
		} else if (strncmp(tok, "timeout=", 8) == 0) {
			errno = 0;
			a->timeout_s = strtoull(tok + 8, &end, 10);
			if (errno || end == tok + 8 || *end != '\0' || a->timeout_s == 0 ||
			    a->timeout_s > 10ULL * 365 * 86400) {
				ctg_strbuf_printf(o, "error: bad timeout '%.32s'\n", tok + 8);
				return -1;
			}
		} else if (strcmp(tok, "cut") == 0)
			a->cut = true;
		else if (strcmp(tok, "json") == 0)
			a->json = true;
		else {
			ctg_strbuf_printf(o, "error: unknown option '%.64s'\n", tok);
			return -1;
		}
	}
	return 0;
}

/* As a reload's recheck: live connections the rules now refuse are ended. */
static unsigned
cut_refused(struct daemon *dm)
{
	unsigned cut = 0;

	for (unsigned i = 0; i < dm->nw; i++) {
		struct worker *w = &dm->w[i];

		pthread_mutex_lock(&w->lock);
		cut += ctg_pipeline_set_rules(&w->pl, w->pl.rules, true, ctgd_clock_us());
		pthread_mutex_unlock(&w->lock);
	}
	return cut;
}

static uint64_t
expiry_of(const struct set_args *a)
{
	return a->timeout_s ? ctg_clock_wall_us() + a->timeout_s * 1000000 : 0;
}

/* The change happened: audit event, state file, reply. */
static void
changed(struct daemon *dm, const struct set_args *a, const char *verb, size_t count,
    const char *what, struct ctg_strbuf *o)
{
	unsigned cut = a->cut ? cut_refused(dm) : 0;

	ctgd_event(dm, CTG_EV_SET_CHANGE, count, "set %s %s%s%s: %zu entries by uid %ld%s",
	    ctg_dynset_name(a->set), verb, what ? " " : "", what ? what : "", count,
	    dm->ctl_peer_uid, a->cut ? " (cut)" : "");
	save(dm);
	ctg_strbuf_printf(o, "ok\n%s %s: %zu entr%s", ctg_dynset_name(a->set), verb, count,
	    count == 1 ? "y" : "ies");
	if (a->cut)
		ctg_strbuf_printf(o, ", %u connections cut", cut);
	ctg_strbuf_printf(o, "\n");
}

void
ctgd_cmd_set_add(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	struct set_args a;
	struct ctg_prefix p;
	char err[256], txt[CTG_PREFIX_STRLEN + 32];

	if (parse_args(dm, args, true, false, &a, o) < 0)
		return;
	if (ctg_prefix_parse(a.what, &p, err, sizeof(err)) < 0 ||
	    ctg_dynset_add(dm->dynsets, a.set, &p, expiry_of(&a), a.comment, err,
	    sizeof(err)) < 0) {
		ctg_strbuf_printf(o, "error: %s\n", err);
		return;
	}
	ctg_prefix_str(&p, txt, CTG_PREFIX_STRLEN);
	if (a.timeout_s)
		snprintf(txt + strlen(txt), sizeof(txt) - strlen(txt), " timeout %" PRIu64 "s",
		    a.timeout_s);
	changed(dm, &a, "add", 1, txt, o);
}

void
ctgd_cmd_set_del(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	struct set_args a;
	struct ctg_prefix p;
	char err[256], txt[CTG_PREFIX_STRLEN];
	int r;

	if (parse_args(dm, args, true, false, &a, o) < 0)
		return;
	if (ctg_prefix_parse(a.what, &p, err, sizeof(err)) < 0 ||
	    (r = ctg_dynset_del(dm->dynsets, a.set, &p, err, sizeof(err))) < 0) {
		ctg_strbuf_printf(o, "error: %s\n", err);
		return;
	}
	ctg_prefix_str(&p, txt, sizeof(txt));
	if (r == 1) {
		ctg_strbuf_printf(o, "error: %s is not in set %s\n", txt, ctg_dynset_name(a.set));
		return;
	}
	changed(dm, &a, "del", 1, txt, o);
}

void
ctgd_cmd_set_flush(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	struct set_args a;
	char err[256];
	size_t n;

	if (parse_args(dm, args, false, false, &a, o) < 0)
		return;
	n = ctg_dynset_size(a.set);
	if (ctg_dynset_flush(dm->dynsets, a.set, err, sizeof(err)) < 0) {
		ctg_strbuf_printf(o, "error: %s\n", err);
		return;
	}
	changed(dm, &a, "flush", n, NULL, o);
}

/* The whole file, NUL-terminated; NULL with err set. */
static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SET_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %u MB", path,
		    SET_FILE_MAX >> 20);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

void
ctgd_cmd_set_load(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	struct set_args a;
	char err[512];
	size_t len, n;
	char *text;

	if (parse_args(dm, args, true, false, &a, o) < 0)
		return;
	if ((text = read_file(a.what, &len, err, sizeof(err))) == NULL) {
		ctg_strbuf_printf(o, "error: %s\n", err);
		return;
	}
	if (ctg_dynset_load_text(dm->dynsets, a.set, text, len, expiry_of(&a), a.comment,
	    &n, err, sizeof(err)) < 0) {
		free(text);
		ctg_strbuf_printf(o, "error: %s: %s (set unchanged)\n", a.what, err);
		return;
	}
	free(text);
	changed(dm, &a, "load", n, a.what, o);
}

void
ctgd_cmd_set_list(struct daemon *dm, char *args, struct ctg_strbuf *o)
{
	struct set_args a;
	uint64_t now = ctg_clock_wall_us();

	if (parse_args(dm, args, false, true, &a, o) < 0)
		return;
	ctg_strbuf_printf(o, "ok\n");
	for (unsigned i = 0; i < ctg_dynsets_count(dm->dynsets); i++) {
		struct ctg_dynset *s = ctg_dynsets_at(dm->dynsets, i);

		if ((a.set == NULL && ctg_dynset_declared(s)) || s == a.set)
			ctg_dynset_list(s, now, a.json, o);
	}
}
