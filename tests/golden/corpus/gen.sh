#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Replay one capture the way tests/golden/test_replay_corpus.sh does and print the
# result: the per-frame verdict lines and the connection summaries under the
# shipped default rules, then under the stateful-only rules. Connection ids
# (they carry the wall clock) are replaced by "-".
# usage: gen.sh CTGUARDD SRCDIR CAPTURE
set -u
d=$1 src=$2 cap=$3
conf=$src/packaging/ctguard.conf
case "$(basename "$cap")" in
syn-bad-checksum.*) conf=$src/tests/golden/corpus/checksums.conf ;;
esac
for rules in default stateful-only; do
	echo "# rules/$rules.rules"
	"$d" -c "$conf" -R "$src/rules/$rules.rules" -r "$cap" --verdicts --connections 2>/dev/null |
	    sed -E 's/^conn\t[0-9]+\t/conn\t-\t/'
	echo "# exit ${PIPESTATUS[0]}"
done
