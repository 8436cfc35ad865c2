/*
 * The pid file, for init systems and scripts that want one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon-int.h"

void
ctgd_pidfile_write(const char *path)
{
	FILE *f;

	if (!path[0])
		return;
	if ((f = fopen(path, "w")) == NULL) {
		ctgd_log(LOG_WARNING, "pidfile %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

void
ctgd_pidfile_remove(const char *path)
{
	if (path[0])
		unlink(path);
}
