/*
 * The control server's "connections" filter parser, taken out of daemon.c
 * (parse_filter) so that it can be fuzzed. Numbers are parsed strictly:
 * atoi() took "port=1x" as 1, "addr=A/" as /0 (everything), a proto of
 * 300 or -5 (never or always matching) and wrapped overflowing values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctguard/connfilter.h"

/* A decimal number in [0, max], nothing before or after it; -1 otherwise. */
static long
number(const char *s, long max)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	return v;
}

static int
parse_addr(struct ctg_conn_filter *f, char *val, char *err, size_t errlen)
{
	char *slash = strchr(val, '/');
	long l, max;

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
	max = f->family == 4 ? 32 : 128;
	l = slash ? number(slash, max) : max;
	if (l < 0) {
		snprintf(err, errlen, "bad prefix length '%s'", slash);
		return -1;
	}
	f->plen = (uint8_t)l;
	f->have_addr = true;
	return 0;
}

int
ctg_conn_filter_parse(struct ctg_conn_filter *f, char *args, char *err,
    size_t errlen)
{
	char *save = NULL;

	memset(f, 0, sizeof(*f));
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
			if (parse_addr(f, val, err, errlen) < 0)
				return -1;
		} else if (strcmp(tok, "port") == 0) {
			if ((f->port = (int)number(val, 65535)) < 0) {
				snprintf(err, errlen, "bad port '%s'", val);
				return -1;
			}
		} else if (strcmp(tok, "proto") == 0) {
			f->proto = strcmp(val, "tcp") == 0 ? 6 : strcmp(val, "udp") == 0 ? 17 :
			    strcmp(val, "icmp") == 0 ? 1 : strcmp(val, "icmpv6") == 0 ? 58 :
			    (int)number(val, 255);
			if (f->proto < 0) {
				snprintf(err, errlen, "bad protocol '%s'", val);
				return -1;
			}
		} else if (strcmp(tok, "state") == 0) {
			f->state = val;
		} else {
			snprintf(err, errlen, "unknown filter '%s'", tok);
			return -1;
		}
	}
	return 0;
}

bool
ctg_conn_filter_addr_in(const struct ctg_conn_filter *f, const struct ctg_addr *a,
    uint8_t fam)
{
	unsigned bytes = f->plen / 8, bits = f->plen % 8;
	uint8_t m;

	if (fam != f->family)
		return false;
	if (memcmp(a->b, f->addr.b, bytes) != 0)
		return false;
	if (!bits)
		return true;
	m = (uint8_t)(0xff << (8 - bits));
	return (a->b[bytes] & m) == (f->addr.b[bytes] & m);
}
