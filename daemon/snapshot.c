/*
 * The connection tables across restarts: each worker's table is saved to
 * state_file.qN at a clean stop and read back (then deleted) at the next
 * start. This is also where state synchronisation between two gateways
 * would attach.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ctguard/clock.h"
#include "daemon-int.h"

static void
snapshot_path(const struct daemon *dm, const struct worker *w, char *buf, size_t len)
{
	snprintf(buf, len, "%s.q%u", dm->cfg->state_file, w->queue);
}

void
ctgd_snapshot_restore(struct daemon *dm, struct worker *w)
{
	char path[CTG_PATH_MAX + 16], err[256];
	int fd, n;

	if (!dm->cfg->state_file[0])
		return;
	snapshot_path(dm, w, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			ctgd_log(LOG_WARNING, "%s: %s", path, strerror(errno));
		return;
	}
	n = ctg_tracker_restore(w->pl.tracker, fd, ctgd_clock_us(), err, sizeof(err));
	close(fd);
	unlink(path);
	if (n < 0) {
		ctgd_log(LOG_WARNING, "%s: ignored: %s", path, err);
		ctg_pipeline_event(&w->pl, CTG_EV_WARNING, ctg_clock_wall_us(), 0,
		    "snapshot %s ignored: %s", path, err);
	} else {
		ctgd_log(LOG_INFO, "queue %u: restored %d connections from %s", w->queue, n, path);
		ctg_pipeline_event(&w->pl, CTG_EV_WARNING, ctg_clock_wall_us(), (uint64_t)n,
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

void
ctgd_snapshot_save(struct daemon *dm, struct worker *w)
{
	char path[CTG_PATH_MAX + 16], tmp[CTG_PATH_MAX + 32];
	int fd;

	if (!dm->cfg->state_file[0])
		return;
	snapshot_path(dm, w, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		ctgd_log(LOG_WARNING, "%s: %s", tmp, strerror(errno));
		return;
	}
	/*
	 * The next start reads the snapshot on a clock anchored to the wall
	 * time of then: save it in wall time, moving the connections by the
	 * step the wall clock took during this run (the worker has stopped).
	 */
	uint64_t shift = (uint64_t)(ctg_clock_wall_us() - ctgd_clock_us());

	if (shift != 0)
		ctg_tracker_foreach(w->pl.tracker, shift_conn_times, &shift);
	if (ctg_tracker_save(w->pl.tracker, fd, ctgd_clock_us() + shift) < 0 || fsync(fd) < 0) {
		ctgd_log(LOG_WARNING, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		ctgd_log(LOG_WARNING, "%s: %s", path, strerror(errno));
}
