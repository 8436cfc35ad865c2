/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the main configuration loader. The loader reads a
 * named file (errors name it), so each input is written to a file in a
 * private temporary directory. Beyond "never crash", anything that loads must survive a
 * print/load round trip unchanged: the printer is the canonical form.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I include \
 *       tests/fuzz/fuzz_config.c daemon/config.c daemon/record.c \
 *       daemon/reason.c $(pkg-config --libs libconfig) -o fuzz_config
 *   ./fuzz_config -max_total_time=60 tests/fuzz/corpus/config
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctguard/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * libconfig before 1.7.3 leaks a string token dropped by a syntax error
 * (hyperrealm/libconfig#142, fixed by #155); a few bytes per failed load,
 * not ours to fix. Our own leaks are still reported.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

static char dir[64];
static char input_path[96];
static char print_path[96];

static void
cleanup(void)
{
	rmdir(dir);
}

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fuzz_config.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(input_path, sizeof(input_path), "%s/input.conf", dir);
	snprintf(print_path, sizeof(print_path), "%s/printed.conf", dir);
	atexit(cleanup);
}

static void
write_file(const char *path, const void *data, size_t size)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
		perror(path);
		abort();
	}
}

static char *
print_to_string(const struct ctg_config *cfg, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);

	if (fp == NULL)
		abort();
	ctg_config_print(cfg, fp);
	fclose(fp);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctg_config cfg, again;
	char err[512], *text, *text2;
	size_t len, len2;
	int rc;

	if (dir[0] == '\0')
		make_dir();
	/* each file lives only across its load, so a crash leaves little */
	write_file(input_path, data, size);
	rc = ctg_config_load(&cfg, input_path, err, sizeof(err));
	unlink(input_path);
	if (rc == -1) {
		/* every failure explains itself with the file's name */
		if (strncmp(err, input_path, strlen(input_path)) != 0)
			abort();
		return 0;
	}

	text = print_to_string(&cfg, &len);
	write_file(print_path, text, len);
	rc = ctg_config_load(&again, print_path, err, sizeof(err));
	unlink(print_path);
	if (rc == -1) {
		fprintf(stderr, "printed config does not load: %s\n%s", err,
		    text);
		abort();
	}
	text2 = print_to_string(&again, &len2);
	memcpy(again.path, cfg.path, sizeof(again.path));
	if (len != len2 || memcmp(text, text2, len) != 0 ||
	    memcmp(&cfg, &again, sizeof(cfg)) != 0) {
		fprintf(stderr, "round trip changed the config:\n%s---\n%s",
		    text, text2);
		abort();
	}
	free(text);
	free(text2);
	return 0;
}
