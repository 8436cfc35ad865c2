/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The text of a libconfig file, made safe to hand to libconfig.
 *
 * Shared by the configuration and the rule loaders so that both read
 * files by the same rules: a size bound, no NUL bytes, no @include
 * (includes would escape the loaders' own checks), and integers too big
 * for libconfig 1.5's 32-bit parser marked as 64-bit so that range checks
 * see their real value instead of a silently wrapped one.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctguard/cfgtext.h"

struct scan {
	int line;
	char *msg;
	size_t msglen;
};

static void __attribute__((format(printf, 3, 4)))
scan_error(struct scan *ld, int line, const char *fmt, ...)
{
	va_list ap;

	ld->line = line;
	if (ld->msg == NULL || ld->msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->msg, ld->msglen, fmt, ap);
	va_end(ap);
}

static int
read_file(struct scan *ld, const char *path, size_t max, char **bufp, size_t *lenp)
{
	FILE *fp;
	char *buf = NULL;
	size_t len = 0, cap;
	struct stat st;

	if ((fp = fopen(path, "r")) == NULL) {
		scan_error(ld, 0, "%s", strerror(errno));
		return -1;
	}
	/* sized by the file, grown if it grows while we read; never past max */
	cap = fstat(fileno(fp), &st) == 0 && st.st_size > 0 &&
	    (uint64_t)st.st_size <= max ? (size_t)st.st_size + 1 : 4096;
	for (;;) {
		char *nb;
		size_t n;

		if ((nb = realloc(buf, cap + 1)) == NULL) {
			scan_error(ld, 0, "out of memory");
			goto fail;
		}
		buf = nb;
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (ferror(fp)) {
			scan_error(ld, 0, "%s", strerror(errno));
			goto fail;
		}
		if (len > max) {
			scan_error(ld, 0, "file is larger than %zu bytes", max);
			goto fail;
		}
		if (feof(fp))
			break;
		if (len == cap)
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
	}
	fclose(fp);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	fclose(fp);
	free(buf);
	return -1;
}

static bool
name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '*';
}

/*
 * Copy one numeric token. libconfig 1.5 truncates an integer literal that
 * does not fit in 32 bits (3000000000 becomes -1294967296, 4294967297
 * becomes 1), so such a literal gets the 64-bit suffix L appended and
 * reaches the range checks at its real value. The text ends in a NUL, so
 * looking one character past a non-NUL one is safe.
 */
static void
copy_number(const char *in, size_t *ip, char *out, size_t *op)
{
	size_t i = *ip, o = *op, start = i;
	unsigned long long v = 0, lim = 0x7fffffffULL;
	bool neg = false, big = false, isfloat = false;

	if (in[i] == '-' || in[i] == '+')
		neg = in[i++] == '-';
	if (in[i] == '0' && (in[i + 1] == 'x' || in[i + 1] == 'X') &&
	    isxdigit((unsigned char)in[i + 2])) {
		for (i += 2; isxdigit((unsigned char)in[i]); i++) {
			int d = isdigit((unsigned char)in[i]) ? in[i] - '0' :
			    tolower((unsigned char)in[i]) - 'a' + 10;
			if (v > lim)
				big = true;
			else
				v = v * 16 + (unsigned)d;
		}
		neg = false;    /* hex is unsigned to libconfig */
	} else {
		for (; isdigit((unsigned char)in[i]); i++) {
			if (v > lim)
				big = true;
			else
				v = v * 10 + (unsigned)(in[i] - '0');
		}
		if (in[i] == '.') {
			isfloat = true;
			for (i++; isdigit((unsigned char)in[i]); i++)
				;
		}
		if ((in[i] == 'e' || in[i] == 'E') &&
		    (isdigit((unsigned char)in[i + 1]) ||
		    ((in[i + 1] == '-' || in[i + 1] == '+') &&
		    isdigit((unsigned char)in[i + 2])))) {
			isfloat = true;
			for (i += 2; isdigit((unsigned char)in[i]); i++)
				;
		}
	}
	if (v > lim + neg)
		big = true;
	if (isfloat || in[i] == 'L')
		big = false;
	memcpy(out + o, in + start, i - start);
	o += i - start;
	if (big)
		out[o++] = 'L';
	*ip = i;
	*op = o;
}

/*
 * One pass over the text with libconfig's token rules for strings,
 * comments and names, so that numbers are seen where libconfig sees them.
 * Also refuses @include: a daemon's configuration is one file, and
 * includes would escape the checks done here.
 */
static int
prescan(struct scan *ld, const char *in, size_t len, char *out, size_t *outlen)
{
	const char *nul;
	size_t i = 0, o = 0;
	int line = 1;

	if ((nul = memchr(in, '\0', len)) != NULL) {
		for (i = 0; in + i < nul; i++)
			line += in[i] == '\n';
		scan_error(ld, line, "NUL byte in file");
		return -1;
	}
	while (i < len) {
		char c = in[i];

		if (c == '"') {
			out[o++] = in[i++];
			while (i < len && in[i] != '"') {
				if (in[i] == '\\' && i + 1 < len) {
					line += in[i + 1] == '\n';
					out[o++] = in[i++];
				}
				line += in[i] == '\n';
				out[o++] = in[i++];
			}
			if (i < len)
				out[o++] = in[i++];
		} else if (c == '#' || (c == '/' && in[i + 1] == '/')) {
			while (i < len && in[i] != '\n')
				out[o++] = in[i++];
		} else if (c == '/' && in[i + 1] == '*') {
			out[o++] = in[i++];
			out[o++] = in[i++];
			while (i < len && !(in[i] == '*' && in[i + 1] == '/')) {
				line += in[i] == '\n';
				out[o++] = in[i++];
			}
			if (i < len) {
				out[o++] = in[i++];
				out[o++] = in[i++];
			}
		} else if (c == '@') {
			if (strncmp(in + i, "@include", 8) == 0) {
				scan_error(ld, line, "@include is not supported");
				return -1;
			}
			out[o++] = in[i++];
		} else if (isalpha((unsigned char)c) || c == '*') {
			while (i < len && name_char(in[i]))
				out[o++] = in[i++];
		} else if (isdigit((unsigned char)c) || ((c == '-' ||
		    c == '+' || c == '.') && isdigit((unsigned char)in[i + 1])) ||
		    ((c == '-' || c == '+') && in[i + 1] == '.' &&
		    isdigit((unsigned char)in[i + 2]))) {
			copy_number(in, &i, out, &o);
		} else {
			line += c == '\n';
			out[o++] = in[i++];
		}
	}
	/* libconfig misreads a comment that ends the file without a newline */
	if (o > 0 && out[o - 1] != '\n')
		out[o++] = '\n';
	out[o] = '\0';
	*outlen = o;
	return 0;
}

int
ctg_cfgtext_read(const char *path, size_t max, char **out, int *line, char *msg,
    size_t msglen)
{
	struct scan sc = { .line = 0, .msg = msg, .msglen = msglen };
	char *text = NULL, *scanned = NULL;
	size_t len, slen;

	*out = NULL;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (read_file(&sc, path, max, &text, &len) == -1)
		goto fail;
	/* every inserted L follows at least ten digits; one more for '\n' */
	if ((scanned = malloc(len + len / 10 + 3)) == NULL) {
		scan_error(&sc, 0, "out of memory");
		goto fail;
	}
	if (prescan(&sc, text, len, scanned, &slen) == -1)
		goto fail;
	free(text);
	*out = scanned;
	*line = 0;
	return 0;
fail:
	free(text);
	free(scanned);
	*line = sc.line;
	return -1;
}
