/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Main configuration loader: golden files plus unit tests.
 *
 * tests/golden/config/good/NAME.conf must load and print exactly NAME.out, where
 * the absolute directory of the .conf (rule files are resolved against it)
 * is written "@DIR@". tests/golden/config/bad/NAME.conf must fail with exactly the
 * one line in NAME.err. Files are named relative to $srcdir, which is the
 * working directory of the whole run.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctguard/config.h"

#define GOOD_DIR "tests/golden/config/good"
#define BAD_DIR "tests/golden/config/bad"

static char *
read_all(const char *path)
{
	FILE *fp;
	char *buf;
	long len;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
	buf[len] = '\0';
	fclose(fp);
	return buf;
}

static void
write_all(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

static char *
print_to_string(const struct ctg_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(fp);
	ctg_config_print(cfg, fp);
	fclose(fp);
	return buf;
}

/* Every occurrence of needle in text replaced by "@DIR@"; a new string. */
static char *
replace_dir(const char *text, const char *needle)
{
	size_t nlen = strlen(needle);
	char *out = malloc(strlen(text) + 1), *o = out;
	const char *p;

	ck_assert_ptr_nonnull(out);
	while ((p = strstr(text, needle)) != NULL) {
		memcpy(o, text, (size_t)(p - text));
		o += p - text;
		memcpy(o, "@DIR@", 5);
		o += 5;
		text = p + nlen;
	}
	strcpy(o, text);
	return out;
}

static void
chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted base names (without .conf) of the .conf files in dir. */
static char **
list_cases(const char *dir, size_t *countp)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, len;

	ck_assert_msg(d != NULL, "%s: %s (is $srcdir right?)", dir,
	    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		ck_assert_ptr_nonnull(names);
		names[n] = strndup(de->d_name, len - 5);
		ck_assert_ptr_nonnull(names[n]);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	*countp = n;
	return names;
}

static void
free_cases(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Print cfg, load the printout back from elsewhere: same config again. */
static void
check_round_trip(const struct ctg_config *cfg, const char *what)
{
	char tmpl[] = "/tmp/check_config.XXXXXX";
	struct ctg_config again, orig;
	char err[512], *text, *text2;
	int fd;

	text = print_to_string(cfg);
	fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	close(fd);
	write_all(tmpl, text, strlen(text));
	ck_assert_msg(ctg_config_load(&again, tmpl, err, sizeof(err)) == 0,
	    "%s: printed config does not load: %s", what, err);
	unlink(tmpl);
	text2 = print_to_string(&again);
	ck_assert_msg(strcmp(text, text2) == 0,
	    "%s: printed config prints differently after loading", what);
	memcpy(&orig, cfg, sizeof(orig));
	memset(orig.path, 0, sizeof(orig.path));
	memset(again.path, 0, sizeof(again.path));
	ck_assert_msg(memcmp(&orig, &again, sizeof(orig)) == 0,
	    "%s: config differs after a print/load round trip", what);
	free(text);
	free(text2);
}

/* Load conf and compare its print, dir written "@DIR@", with out. */
static void
check_golden_output(const char *conf, const char *out, const char *dir)
{
	struct ctg_config cfg;
	char cwd[PATH_MAX], absdir[PATH_MAX + 64], err[512];
	char *want, *got, *text;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	snprintf(absdir, sizeof(absdir), "%s/%s", cwd, dir);
	ck_assert_msg(ctg_config_load(&cfg, conf, err, sizeof(err)) == 0,
	    "%s: %s", conf, err);
	ck_assert_str_eq(cfg.path, conf);
	want = read_all(out);
	ck_assert_msg(want != NULL, "%s: missing", out);
	text = print_to_string(&cfg);
	got = replace_dir(text, absdir);
	ck_assert_msg(strcmp(want, got) == 0,
	    "%s: output differs from %s; got:\n%s", conf, out, got);
	check_round_trip(&cfg, conf);
	free(want);
	free(got);
	free(text);
}

START_TEST(test_golden_good)
{
	char conf[PATH_MAX], out[PATH_MAX];
	size_t n, i;
	char **names = list_cases(GOOD_DIR, &n);

	ck_assert_msg(n > 0, "no cases in " GOOD_DIR);
	for (i = 0; i < n; i++) {
		snprintf(conf, sizeof(conf), "%s/%s.conf", GOOD_DIR, names[i]);
		snprintf(out, sizeof(out), "%s/%s.out", GOOD_DIR, names[i]);
		check_golden_output(conf, out, GOOD_DIR);
	}
	free_cases(names, n);
}
END_TEST

START_TEST(test_golden_bad)
{
	struct ctg_config cfg, before;
	char conf[PATH_MAX], errf[PATH_MAX], err[512], *want;
	size_t n, i;
	char **names = list_cases(BAD_DIR, &n);

	ck_assert_msg(n > 0, "no cases in " BAD_DIR);
	for (i = 0; i < n; i++) {
		snprintf(conf, sizeof(conf), "%s/%s.conf", BAD_DIR, names[i]);
		snprintf(errf, sizeof(errf), "%s/%s.err", BAD_DIR, names[i]);
		want = read_all(errf);
		ck_assert_msg(want != NULL, "%s: missing", errf);
		chomp(want);

		/* a failed load must leave the caller's config alone */
		memset(&cfg, 0xa5, sizeof(cfg));
		memcpy(&before, &cfg, sizeof(cfg));
		strcpy(err, "untouched");
		ck_assert_msg(ctg_config_load(&cfg, conf, err,
		    sizeof(err)) == -1, "%s: loaded, expected: %s", conf, want);
		ck_assert_msg(strcmp(err, want) == 0,
		    "%s:\n got  %s\n want %s", conf, err, want);
		ck_assert_msg(memcmp(&cfg, &before, sizeof(cfg)) == 0,
		    "%s: failed load changed the config", conf);
		free(want);
	}
	free_cases(names, n);
}
END_TEST

START_TEST(test_shipped)
{
	struct ctg_config cfg, def;
	char cwd[PATH_MAX], err[512];

	check_golden_output("packaging/ctguard.conf", "tests/golden/config/shipped.out",
	    "packaging");

	/* the shipped file documents the real defaults, rule path aside */
	ck_assert_int_eq(ctg_config_load(&cfg, "packaging/ctguard.conf", err,
	    sizeof(err)), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_uint_eq(cfg.rule_file_count, 1);
	ck_assert_str_eq(cfg.rule_files[0] + strlen(cwd),
	    "/packaging/rules/default.rules");
	ctg_config_defaults(&def);
	memset(cfg.path, 0, sizeof(cfg.path));
	memset(cfg.rule_files[0], 0, sizeof(cfg.rule_files[0]));
	memset(def.rule_files[0], 0, sizeof(def.rule_files[0]));
	ck_assert(memcmp(&cfg, &def, sizeof(cfg)) == 0);
}
END_TEST

START_TEST(test_defaults)
{
	struct ctg_config cfg;

	memset(&cfg, 0xff, sizeof(cfg));
	ctg_config_defaults(&cfg);
	ck_assert_str_eq(cfg.path, "");
	ck_assert_uint_eq(cfg.queue_first, 0);
	ck_assert_uint_eq(cfg.queue_count, 1);
	ck_assert_uint_eq(cfg.copy_range, 256);
	ck_assert_uint_eq(cfg.queue_maxlen, 8192);
	ck_assert_uint_eq(cfg.rcvbuf_bytes, 8388608);
	ck_assert(cfg.gso && !cfg.fail_open && !cfg.bypass);
	ck_assert_uint_eq(cfg.max_connections, 262144);
	ck_assert_int_eq(cfg.midstream, CTG_MIDSTREAM_LOOSE);
	ck_assert(!cfg.verify_checksums);
	ck_assert_uint_eq(cfg.adaptive_start_pct, 60);
	ck_assert_uint_eq(cfg.adaptive_end_pct, 120);
	ck_assert_uint_eq(cfg.timeouts.tcp_syn_sent, 120);
	ck_assert_uint_eq(cfg.timeouts.tcp_established, 432000);
	ck_assert_uint_eq(cfg.timeouts.tcp_time_wait, 120);
	ck_assert_uint_eq(cfg.timeouts.tcp_close, 10);
	ck_assert_uint_eq(cfg.timeouts.udp_unreplied, 30);
	ck_assert_uint_eq(cfg.timeouts.udp_assured, 180);
	ck_assert_uint_eq(cfg.timeouts.icmp, 30);
	ck_assert_uint_eq(cfg.timeouts.other, 600);
	ck_assert_str_eq(cfg.log_database, "/var/lib/ctguard/audit.db");
	ck_assert_int_eq(cfg.log_policy, CTG_LOG_DECISIONS);
	ck_assert_uint_eq(cfg.log_queue_records, 65536);
	ck_assert_uint_eq(cfg.log_retention_days, 30);
	ck_assert_uint_eq(cfg.log_retention_mb, 1024);
	ck_assert(!cfg.strict_audit);
	ck_assert_str_eq(cfg.log_group, "");
	ck_assert_str_eq(cfg.user, "ctguard");
	ck_assert_str_eq(cfg.pidfile, "/run/ctguard/ctguardd.pid");
	ck_assert_str_eq(cfg.control_socket, "/run/ctguard/control.sock");
	ck_assert_uint_eq(cfg.control_mode, 0660);
	ck_assert_str_eq(cfg.control_group, "");
	ck_assert_str_eq(cfg.state_file, "/var/lib/ctguard/conntable.snap");
	ck_assert_uint_eq(cfg.rule_file_count, 1);
	ck_assert_str_eq(cfg.rule_files[0], "/etc/ctguard/rules/default.rules");
	ck_assert_str_eq(cfg.rule_files[1], "");
	ck_assert_int_eq(cfg.reload_policy, CTG_RELOAD_RECHECK);
	check_round_trip(&cfg, "defaults");
}
END_TEST

START_TEST(test_missing_file)
{
	struct ctg_config cfg;
	char err[512];

	ctg_config_defaults(&cfg);
	cfg.queue_count = 7;
	ck_assert_int_eq(ctg_config_load(&cfg, "tests/golden/config/no-such.conf",
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err,
	    "tests/golden/config/no-such.conf: No such file or directory");
	ck_assert_uint_eq(cfg.queue_count, 7);
}
END_TEST

/* Each load starts from the defaults, not from the previous load. */
START_TEST(test_reload_starts_from_defaults)
{
	struct ctg_config cfg;
	char err[512];

	ck_assert_int_eq(ctg_config_load(&cfg, GOOD_DIR "/all.conf", err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(cfg.queue_count, 4);
	ck_assert_uint_eq(cfg.rule_file_count, 2);
	ck_assert_int_eq(ctg_config_load(&cfg, GOOD_DIR "/empty.conf", err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(cfg.queue_count, 1);
	ck_assert_uint_eq(cfg.rule_file_count, 1);
	ck_assert_str_eq(cfg.rule_files[1], "");
	ck_assert_str_eq(cfg.path, GOOD_DIR "/empty.conf");
}
END_TEST

START_TEST(test_round_trip_odd_strings)
{
	struct ctg_config cfg;

	ctg_config_defaults(&cfg);
	strcpy(cfg.user, "we\"ird\\ name\t\x01\x7f\xc3\xa9");
	strcpy(cfg.log_group, "#not-a-comment // /* */");
	strcpy(cfg.log_database, "/path with spaces/@include \"x\"/3000000000");
	strcpy(cfg.pidfile, "/a\nb\rc\fd");
	cfg.control_mode = 0;
	cfg.adaptive_start_pct = 0;
	cfg.adaptive_end_pct = 0;
	cfg.rule_file_count = CTG_MAX_RULE_FILES;
	for (int i = 0; i < CTG_MAX_RULE_FILES; i++)
		snprintf(cfg.rule_files[i], CTG_PATH_MAX, "/rules/%02d,\"]", i);
	cfg.midstream = CTG_MIDSTREAM_STRICT;
	cfg.log_policy = CTG_LOG_ALL;
	cfg.reload_policy = CTG_RELOAD_KEEP;
	check_round_trip(&cfg, "odd strings");
}
END_TEST

static char tmpdir[64];

static void
make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
remove_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Load text written to a temporary file; returns the load's result. */
static int
load_text(struct ctg_config *cfg, const char *text, size_t len,
    char *path, size_t pathlen, char *err, size_t errlen)
{
	snprintf(path, pathlen, "%s/test.conf", tmpdir);
	write_all(path, text, len);
	return ctg_config_load(cfg, path, err, errlen);
}

START_TEST(test_relative_rules_absolute_config)
{
	static const char text[] =
	    "rules = { files = [ \"x.rules\", \"./y/z.rules\", \"../up.rules\","
	    " \"/abs.rules\" ]; };\n";
	struct ctg_config cfg;
	char path[128], want[256], err[512];

	make_tmpdir();
	ck_assert_int_eq(load_text(&cfg, text, sizeof(text) - 1, path,
	    sizeof(path), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.rule_file_count, 4);
	snprintf(want, sizeof(want), "%s/x.rules", tmpdir);
	ck_assert_str_eq(cfg.rule_files[0], want);
	snprintf(want, sizeof(want), "%s/y/z.rules", tmpdir);
	ck_assert_str_eq(cfg.rule_files[1], want);
	snprintf(want, sizeof(want), "%s/../up.rules", tmpdir);
	ck_assert_str_eq(cfg.rule_files[2], want);
	ck_assert_str_eq(cfg.rule_files[3], "/abs.rules");
	ck_assert_str_eq(cfg.path, path);
	remove_tmpdir();
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] = "queue = { count = 2; };\n# x\0y\n";
	struct ctg_config cfg;
	char path[128], want[256], err[512];

	make_tmpdir();
	ck_assert_int_eq(load_text(&cfg, text, sizeof(text) - 1, path,
	    sizeof(path), err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in file", path);
	ck_assert_str_eq(err, want);
	remove_tmpdir();
}
END_TEST

START_TEST(test_too_large)
{
	struct ctg_config cfg;
	char path[128], want[256], err[512];
	size_t len = 1024 * 1024 + 1;
	char *text = malloc(len);

	ck_assert_ptr_nonnull(text);
	memset(text, '\n', len);
	make_tmpdir();
	ck_assert_int_eq(load_text(&cfg, text, len, path, sizeof(path), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file is larger than 1048576 bytes",
	    path);
	ck_assert_str_eq(err, want);
	/* exactly at the limit is fine */
	ck_assert_int_eq(load_text(&cfg, text, len - 1, path, sizeof(path),
	    err, sizeof(err)), 0);
	remove_tmpdir();
	free(text);
}
END_TEST

/*
 * The 64-bit rewrite must only touch integers: floats, strings, comments
 * and names that contain long digit runs keep their meaning.
 */
START_TEST(test_long_literals)
{
	static const struct {
		const char *text;
		const char *err;        /* NULL: loads */
	} cases[] = {
		{ "queue = { copy_range = 30000000000.5; };",
		    ":1: setting 'queue.copy_range': expected an integer" },
		{ "queue = { copy_range = .30000000000; };",
		    ":1: setting 'queue.copy_range': expected an integer" },
		{ "queue = { copy_range = 30000000000e3; };",
		    ":1: setting 'queue.copy_range': expected an integer" },
		{ "queue = { copy_range = -30000000000; };",
		    ":1: setting 'queue.copy_range': -30000000000 is out of range 64..65535" },
		{ "queue = { copy_range = 0x100000000; };",
		    ":1: setting 'queue.copy_range': 4294967296 is out of range 64..65535" },
		{ "queue = { copy_range = 0xFFFFFFFF; };",
		    ":1: setting 'queue.copy_range': 4294967295 is out of range 64..65535" },
		{ "queue = { copy_range = 2147483648; };",
		    ":1: setting 'queue.copy_range': 2147483648 is out of range 64..65535" },
		{ "queue = { copy_range = 3000000000L; };",
		    ":1: setting 'queue.copy_range': 3000000000 is out of range 64..65535" },
		{ "queue = { copy_range = 65536L; };",
		    ":1: setting 'queue.copy_range': 65536 is out of range 64..65535" },
		{ "# 3000000000\nlog = { group = \"3000000000\"; };\n"
		    "/* 3000000000 */ // 3000000000", NULL },
		{ "x3000000000 = 1;", ":1: unknown setting 'x3000000000'" },
		{ "a-3000000000 = 1;", ":1: unknown setting 'a-3000000000'" },
		{ "log = { group = \"a\\\"3000000000\"; };", NULL },
		{ "log = {\n group = \"multi\nline\"; retention_days = 1e; };",
		    ":3: syntax error" },
		{ "queue = { count = 0x7FFFFFFF; };",
		    ":1: setting 'queue.count': 2147483647 is out of range 1..64" },
	};
	struct ctg_config cfg;
	char path[128], want[256], err[512];

	make_tmpdir();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = load_text(&cfg, cases[i].text, strlen(cases[i].text),
		    path, sizeof(path), err, sizeof(err));

		if (cases[i].err == NULL) {
			ck_assert_msg(rc == 0, "%s: %s", cases[i].text, err);
			continue;
		}
		snprintf(want, sizeof(want), "%s%s", path, cases[i].err);
		ck_assert_msg(rc == -1 && strcmp(err, want) == 0,
		    "%s:\n got  %s\n want %s", cases[i].text, err, want);
	}
	remove_tmpdir();
}
END_TEST

START_TEST(test_error_buffer)
{
	struct ctg_config cfg;
	char err[16];

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(ctg_config_load(&cfg, BAD_DIR "/unknown-key.conf",
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "tests/golden/co");
	ck_assert_int_eq(ctg_config_load(&cfg, BAD_DIR "/unknown-key.conf",
	    NULL, 0), -1);
	ck_assert_int_eq(ctg_config_load(&cfg, GOOD_DIR "/empty.conf",
	    NULL, 0), 0);
}
END_TEST

START_TEST(test_long_config_path)
{
	struct ctg_config cfg;
	char path[CTG_PATH_MAX + 8], err[1024];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(ctg_config_load(&cfg, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ": path is longer than 255 bytes"));
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(ctg_midstream_name(CTG_MIDSTREAM_STRICT), "strict");
	ck_assert_str_eq(ctg_midstream_name(CTG_MIDSTREAM_LOOSE), "loose");
	ck_assert_str_eq(ctg_midstream_name((enum ctg_midstream)7), "unknown");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("golden");

	tcase_add_test(tc, test_golden_good);
	tcase_add_test(tc, test_golden_bad);
	tcase_add_test(tc, test_shipped);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("unit");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_reload_starts_from_defaults);
	tcase_add_test(tc, test_round_trip_odd_strings);
	tcase_add_test(tc, test_relative_rules_absolute_config);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_long_literals);
	tcase_add_test(tc, test_error_buffer);
	tcase_add_test(tc, test_long_config_path);
	tcase_add_test(tc, test_names);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *srcdir = getenv("srcdir");
	SRunner *sr;
	int failed;

	/* golden files are named relative to the source tree */
	if (srcdir == NULL || *srcdir == '\0')
		srcdir = ".";
	if (chdir(srcdir) == -1) {
		fprintf(stderr, "check_config: %s: %s\n", srcdir,
		    strerror(errno));
		return 1;
	}
	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
