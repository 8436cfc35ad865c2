/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Giving up root once the queues and sockets are open.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon-int.h"

/*
 * CAP_NET_RAW is for opening the REJECT sockets, which are open by now:
 * out of every set, so that a compromised daemon cannot craft packets on
 * new raw sockets (under systemd the unit's ambient set gives it to a
 * daemon that never was root, which the user switch below never sees).
 */
static int
drop_net_raw(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_RAW, 0, 0);
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[0].effective &= ~(1u << CAP_NET_RAW);
	data[0].permitted &= ~(1u << CAP_NET_RAW);
	data[0].inheritable &= ~(1u << CAP_NET_RAW);
	if (syscall(SYS_capset, &hdr, data) < 0) {
		ctgd_log(LOG_ERR, "dropping CAP_NET_RAW: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Become cfg->user, keeping only CAP_NET_ADMIN (verdicts on the open
 * queues, reloads); whoever we run as, CAP_NET_RAW goes.
 */
int
ctgd_drop_privileges(const struct ctg_config *cfg)
{
	struct passwd *pw;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (!cfg->user[0] || getuid() != 0)
		return drop_net_raw();
	if ((pw = getpwnam(cfg->user)) == NULL) {
		ctgd_log(LOG_ERR, "user %s does not exist", cfg->user);
		return -1;
	}
	if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setgroups(0, NULL) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		ctgd_log(LOG_ERR, "cannot become %s: %s", cfg->user, strerror(errno));
		return -1;
	}
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = 1u << CAP_NET_ADMIN;
	if (syscall(SYS_capset, &hdr, data) < 0) {
		ctgd_log(LOG_ERR, "capset: %s", strerror(errno));
		return -1;
	}
	return 0;
}
