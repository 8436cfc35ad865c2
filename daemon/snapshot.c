/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection tables across restarts: each worker's table is saved to
 * state_file.qN at a clean stop, checkpointed there while running, and read
 * back (then deleted) at the next start. This is also where state
 * synchronisation between two gateways would attach (the sliced writer
 * below is the bulk transfer's natural source).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
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
		uint64_t t0 = ctg_clock_mono_us();

		pthread_mutex_lock(&w->lock);
		size_t n = ctg_tracker_copy_slice(w->pl.tracker, i, CKPT_SLICE, buf, &next_id);
		pthread_mutex_unlock(&w->lock);
		uint64_t held = ctg_clock_mono_us() - t0;

		if (held > dm->checkpoint_hold_max_us)
			dm->checkpoint_hold_max_us = held;
		/* saved in wall time: the next start's clock is anchored to it */
		uint64_t shift = (uint64_t)(ctg_clock_wall_us() - ctgd_clock_us());

		for (size_t k = 0; k < n; k++)
			shift_conn_times(&shift, &buf[k]);
		if (n && ctg_snap_write(&sw, buf, n) < 0)
			rc = -1;
	}
	if (rc == 0 && (ctg_snap_finish(&sw, ctg_clock_wall_us(), next_id) < 0 || fsync(fd) < 0))
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
	uint64_t every = (uint64_t)dm->cfg->checkpoint_interval * 1000000;
	uint64_t next = ctg_clock_mono_us() + every;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (!buf) {
		ctgd_log(LOG_ERR, "checkpoints off: out of memory");
		return NULL;
	}
	while (!atomic_load(&ctgd_stopping)) {
		struct timespec tick = { 0, 100 * 1000 * 1000 };

		if (ctg_clock_mono_us() < next) {
			nanosleep(&tick, NULL);
			continue;
		}
		uint64_t t0 = ctg_clock_mono_us();
		int failed = 0;

		for (unsigned i = 0; i < dm->nw && !atomic_load(&ctgd_stopping); i++) {
			if (checkpoint_queue(dm, &dm->w[i], buf) < 0) {
				failed++;
				ctgd_log(LOG_WARNING, "checkpoint of queue %u: %s", dm->w[i].queue,
				    strerror(errno));
			}
		}
		dm->checkpoint_write_us = ctg_clock_mono_us() - t0;
		if (failed)
			dm->checkpoint_failures++;
		else {
			dm->checkpoints++;
			dm->last_checkpoint_us = ctg_clock_wall_us();
		}
		next = ctg_clock_mono_us() + every;
	}
	free(buf);
	return NULL;
}

void
ctgd_checkpoints_start(struct daemon *dm)
{
	if (!dm->cfg->state_file[0] || !dm->cfg->checkpoint_interval)
		return;
	if (pthread_create(&dm->ckpt_thread, NULL, checkpoint_main, dm) == 0)
		dm->ckpt_running = true;
	else
		ctgd_log(LOG_WARNING, "checkpoints off: cannot start their thread");
}

/* after ctgd_stopping: a checkpoint still being written must not rename over the final save */
void
ctgd_checkpoints_stop(struct daemon *dm)
{
	if (dm->ckpt_running)
		pthread_join(dm->ckpt_thread, NULL);
	dm->ckpt_running = false;
}
