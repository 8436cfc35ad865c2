/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket protocol between ctguardd and ctguard.
 *
 * A message is a 4-byte big-endian length followed by that many bytes of
 * text. A request is one command line ("status", "kill 42", ...) of at most
 * CTG_CTL_MAX_REQUEST bytes; a reply starts with "ok\n" or "error: ...\n".
 * Lengths are checked before anything is read: a message announcing more
 * than the receiver accepts is refused without reading it.
 */
#ifndef CTGUARD_CONTROL_H
#define CTGUARD_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define CTG_CTL_MAX_REQUEST 4096
#define CTG_CTL_MAX_REPLY (64u << 20)

/* Returns 0, or -1 with errno set. */
int ctg_ctl_send(int fd, const void *buf, uint32_t len, int timeout_ms);

/*
 * Receive one message into a buffer of max bytes (+1 for a NUL, which is
 * added). Returns the length, or -1: errno EMSGSIZE for an oversized
 * message, ETIMEDOUT, ECONNRESET for a peer that closed mid-message.
 */
long ctg_ctl_recv(int fd, char *buf, uint32_t max, int timeout_ms);

/* Connect to the daemon's socket; -1 with errno set. */
int ctg_ctl_connect(const char *path);

#endif
