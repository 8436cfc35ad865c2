/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctguardd: the gateway daemon, its configuration check (-t) and offline
 * replay (-r). All three load the configuration and rules the same way.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "ctguard/auditlog.h"
#include "ctguard/config.h"
#include "ctguard/daemon.h"
#include "ctguard/pipeline.h"
#include "ctguard/replay.h"
#include "ctguard/rules.h"

#ifndef CTG_SYSCONFDIR
#define CTG_SYSCONFDIR "/etc/ctguard"
#endif

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: ctguardd [-f] [-c CONF] [-R RULES]...          run the gateway daemon\n"
	    "       ctguardd -t [-v] [-c CONF] [-R RULES]...       check configuration and rules\n"
	    "       ctguardd -r CAPTURE [-c CONF] [-R RULES]... [--verdicts] [--connections]\n"
	    "                [-d DB | --no-log] [--inside CIDR]... [--inside-if NAME]\n"
	    "                [--outside-if NAME]                    replay a capture offline\n"
	    "\n"
	    "  -c, --config FILE   configuration (default %s/ctguard.conf)\n"
	    "  -R, --rules FILE    use these rule files instead of the configured ones\n"
	    "  -t, --test          check and exit 0 (valid) or 1 (invalid)\n"
	    "  -v, --verbose       with -t: print configuration and ruleset canonically\n"
	    "  -f, --foreground    stay in the foreground, log to stderr too\n"
	    "  -r, --replay FILE   run a pcap/pcapng capture through the pipeline\n"
	    "  -d, --db PATH       audit database for replay (default: none)\n"
	    "      --verdicts      replay: one tab-separated line per frame on stdout\n"
	    "      --connections   replay: one line per connection summary on stdout\n"
	    "      --inside CIDR   replay: an inside network (decides iif/oif)\n"
	    "      --inside-if N   replay: interface name toward the inside (default lan0)\n"
	    "      --outside-if N  replay: interface name toward the outside (default wan0)\n"
	    "  -V, --version       print the version\n", CTG_SYSCONFDIR);
}

struct options {
	const char *config;
	const char *rule_files[CTG_MAX_RULE_FILES];
	unsigned nrule_files;
	bool config_default;
	bool test, verbose, foreground;
	const char *replay;
	const char *db;
	struct ctg_replay_opts ro;
};

/* Load configuration and rules as every mode does; -R replaces the rule files. */
static int
load_all(const struct options *o, struct ctg_config *cfg, struct ctg_ruleset **rs)
{
	char err[512];
	struct ctg_rules_diag diag;
	const char *paths[CTG_MAX_RULE_FILES];
	unsigned n;

	ctg_config_defaults(cfg);
	if (access(o->config, F_OK) != 0 && o->config_default) {
		/* no file at the default place: run on defaults */
	} else if (ctg_config_load(cfg, o->config, err, sizeof(err)) < 0) {
		fprintf(stderr, "ctguardd: %s\n", err);
		return -1;
	}
	if (o->nrule_files) {
		for (n = 0; n < o->nrule_files; n++)
			paths[n] = o->rule_files[n];
	} else {
		for (n = 0; n < cfg->rule_file_count; n++)
			paths[n] = cfg->rule_files[n];
	}
	memset(&diag, 0, sizeof(diag));
	*rs = ctg_ruleset_load(paths, n, &diag);
	for (unsigned i = 0; i < diag.nwarnings; i++)
		fprintf(stderr, "ctguardd: %s\n", diag.warnings[i]);
	if (!*rs) {
		fprintf(stderr, "ctguardd: %s\n", diag.error);
		return -1;
	}
	return 0;
}

static int
run_replay(struct options *o, struct ctg_config *cfg, struct ctg_ruleset *rs)
{
	struct ctg_auditlog *log = NULL;
	struct ctg_pipeline pl;
	char err[512];
	int status;

	if (o->db) {
		struct ctg_auditlog_config lc = {
			.path = o->db,
			.policy = cfg->log_policy,
			.queue_records = cfg->log_queue_records,
			.producers = 1,
			.batch_max = 4096,
			.batch_ms = 200,
			.memory_bound_records = 1u << 20,
			.group = "",
			.block_when_full = true,
		};
		struct ctg_logexport_config ec = {
			.socket_path = cfg->log_export_socket,
			.facility = ctg_logexport_facility(cfg->log_export_facility),
			.tag = cfg->log_export_tag,
		};

		/* log.export applies to a replay's decisions too (tests, trials) */
		if (cfg->log_export)
			lc.export = &ec;
		log = ctg_auditlog_open(&lc, err, sizeof(err));
		if (!log) {
			fprintf(stderr, "ctguardd: %s\n", err);
			return 1;
		}
	}
	if (ctg_pipeline_init(&pl, cfg, rs, log, 0, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "ctguardd: %s\n", err);
		if (log)
			ctg_auditlog_close(log);
		return 1;
	}
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint64_t wall = (uint64_t)tv.tv_sec * 1000000ULL + (uint64_t)tv.tv_usec;
	ctg_pipeline_event(&pl, CTG_EV_START, wall, 0, "replay of %s", o->replay);
	ctg_pipeline_event(&pl, CTG_EV_RULES_LOAD, wall, ctg_ruleset_count(rs),
	    "ruleset %016llx", (unsigned long long)ctg_ruleset_hash(rs));
	o->ro.path = o->replay;
	status = ctg_replay_run(&o->ro, &pl, stdout, stderr);
	gettimeofday(&tv, NULL);
	wall = (uint64_t)tv.tv_sec * 1000000ULL + (uint64_t)tv.tv_usec;
	ctg_pipeline_event(&pl, CTG_EV_STOP, wall, pl.st.packets, "replay done");
	fflush(stdout);
	if (log)
		ctg_auditlog_close(log);
	ctg_pipeline_fini(&pl);
	return status;
}

int
main(int argc, char **argv)
{
	enum { OPT_VERDICTS = 256, OPT_CONNECTIONS, OPT_INSIDE, OPT_INSIDE_IF,
	    OPT_OUTSIDE_IF, OPT_NO_LOG };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rules", required_argument, NULL, 'R' },
		{ "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "replay", required_argument, NULL, 'r' },
		{ "db", required_argument, NULL, 'd' },
		{ "no-log", no_argument, NULL, OPT_NO_LOG },
		{ "verdicts", no_argument, NULL, OPT_VERDICTS },
		{ "connections", no_argument, NULL, OPT_CONNECTIONS },
		{ "inside", required_argument, NULL, OPT_INSIDE },
		{ "inside-if", required_argument, NULL, OPT_INSIDE_IF },
		{ "outside-if", required_argument, NULL, OPT_OUTSIDE_IF },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o;
	struct ctg_config cfg;
	struct ctg_ruleset *rs = NULL;
	int ch, status;

	memset(&o, 0, sizeof(o));
	o.config = CTG_SYSCONFDIR "/ctguard.conf";
	o.config_default = true;
	o.ro.inside_if = "lan0";
	o.ro.outside_if = "wan0";
	while ((ch = getopt_long(argc, argv, "c:R:tvfr:d:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			o.config_default = false;
			break;
		case 'R':
			if (o.nrule_files >= CTG_MAX_RULE_FILES) {
				fprintf(stderr, "ctguardd: at most %d rule files\n", CTG_MAX_RULE_FILES);
				return 2;
			}
			o.rule_files[o.nrule_files++] = optarg;
			break;
		case 't': o.test = true; break;
		case 'v': o.verbose = true; break;
		case 'f': o.foreground = true; break;
		case 'r': o.replay = optarg; break;
		case 'd': o.db = optarg; break;
		case OPT_NO_LOG: o.db = NULL; break;
		case OPT_VERDICTS: o.ro.print_verdicts = true; break;
		case OPT_CONNECTIONS: o.ro.print_connections = true; break;
		case OPT_INSIDE:
			if (ctg_replay_add_inside(&o.ro, optarg) < 0) {
				fprintf(stderr, "ctguardd: --inside: bad network '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_INSIDE_IF: o.ro.inside_if = optarg; break;
		case OPT_OUTSIDE_IF: o.ro.outside_if = optarg; break;
		case 'V':
			printf("ctguardd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (load_all(&o, &cfg, &rs) < 0)
		return 1;
	if (o.test) {
		if (o.verbose) {
			ctg_config_print(&cfg, stdout);
			printf("\n");
			ctg_ruleset_print(rs, stdout);
		}
		fprintf(stderr, "ctguardd: configuration %s and %u rules OK\n",
		    o.config_default && access(o.config, F_OK) != 0 ? "(defaults)" : o.config,
		    ctg_ruleset_count(rs));
		ctg_ruleset_free(rs);
		return 0;
	}
	if (o.replay) {
		status = run_replay(&o, &cfg, rs);
		ctg_ruleset_free(rs);
	} else {
		/* the daemon owns the ruleset from here: it swaps and frees it on reloads */
		/* reloads read the file again, unless we run on defaults */
		const char *reload_from = o.config_default && access(o.config, F_OK) != 0 ?
		    NULL : o.config;
		status = ctg_daemon_run(&cfg, rs, reload_from, o.rule_files, o.nrule_files,
		    o.foreground);
	}
	return status;
}
