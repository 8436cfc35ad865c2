/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pid file, for init systems and scripts that want one.
 *
 * Made as root before the drop, in a directory others may be able to
 * write: created exclusively and without following a link, so that no
 * planted file or link redirects the write. A file left by a process
 * that no longer runs is stale and replaced; one whose process runs means
 * another daemon, and this one does not start. Removed at exit if it is
 * still ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon-int.h"

/* The pid in the file, or 0 if it holds none; -1 if it cannot be read. */
static long
read_pid(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	long pid;
	char *end;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
		return 0;
	return pid;
}

int
ctgd_pidfile_write(const char *path)
{
	char buf[32];
	int fd, len;

	if (!path[0])
		return 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct stat st;
		long pid;

		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0)
			break;
		if (errno != EEXIST) {
			ctgd_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
			return -1;
		}
		if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			ctgd_log(LOG_ERR, "pidfile %s exists and is not a regular file "
			    "(a link?): not touching it", path);
			return -1;
		}
		pid = read_pid(path);
		if (pid > 0 && pid != (long)getpid() &&
		    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
			ctgd_log(LOG_ERR, "pidfile %s: ctguardd already runs as pid %ld", path, pid);
			return -1;
		}
		ctgd_log(LOG_NOTICE, "pidfile %s: removing a stale one (pid %ld)", path, pid);
		if (unlink(path) < 0 && errno != ENOENT) {
			ctgd_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (fd < 0) {
		ctgd_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		ctgd_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

void
ctgd_pidfile_remove(const char *path)
{
	/* only our own: a second daemon may have taken the name meanwhile */
	if (path[0] && read_pid(path) == (long)getpid())
		unlink(path);
}
