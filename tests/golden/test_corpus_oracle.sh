#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The corpus against an independent oracle: replay every capture of the
# corpus manifest with ctguardd -r under the ruleset closest to a passive
# monitor (tests/golden/corpus/monitor.rules: everything accepted, so INVALID
# packets still count, as Zeek counts every packet; midstream = loose as
# shipped), and compare each connection's conn_state, history and packet
# counts with Zeek's own baseline, parsed from the manifest's
# expected_outcome by tests/golden/corpus/oracle.py. Differences must be listed,
# with the reason, in tests/golden/corpus/oracle-differences.tsv, and every listed
# difference must still occur. Unlike tests/golden/test_replay_corpus.sh (golden
# files made by ctguard itself: a change detector), nothing here comes from
# ctguard. Without the corpus: skipped (77), a failure under CI=true.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-.}
d=$builddir/ctguardd
corpus=${CTG_CORPUS:-$srcdir/../shared/corpus}

if [ ! -f "$corpus/MANIFEST.tsv" ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok - corpus not found at $corpus (CI=true: refusing to skip)"
		exit 1
	fi
	echo "# SKIP: corpus not found at $corpus (set CTG_CORPUS)"
	exit 77
fi
[ -x "$d" ] || { echo "not ok - ctguardd not built at $d"; exit 1; }
if ! command -v python3 >/dev/null; then
	echo "not ok - python3 not installed (apt-get install python3)"
	exit 1
fi

tmp=$(mktemp -d /tmp/ctg-oracle.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
while IFS=$'\t' read -r file _; do
	[ "$file" = file ] && continue
	name=$(basename "$file")
	# Zeek's bad-checksum baseline is the one run that verifies checksums;
	# the other captures were anonymised or offloaded without fixing them.
	conf=$srcdir/packaging/ctguard.conf
	case $name in syn-bad-checksum.*) conf=$srcdir/tests/golden/corpus/checksums.conf ;; esac
	if ! "$d" -c "$conf" -R "$srcdir/tests/golden/corpus/monitor.rules" -r "$corpus/$file" \
	    --connections >"$tmp/$name.conn" 2>"$tmp/$name.err"; then
		echo "not ok - ctguardd -r $name: $(head -n 3 "$tmp/$name.err" | tr '\n' ' ')"
		fails=$((fails + 1))
	fi
done <"$corpus/MANIFEST.tsv"

python3 "$srcdir/tests/golden/corpus/oracle.py" "$corpus/MANIFEST.tsv" \
    "$srcdir/tests/golden/corpus/oracle-differences.tsv" "$tmp" || fails=$((fails + 1))
[ "$fails" -eq 0 ]
