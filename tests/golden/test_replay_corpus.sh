#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Change detector on public traces: replay every capture of
# ../shared/corpus (Zeek's own test traces) through ctguardd -r under the
# shipped default rules and the stateful-only rules, and compare the
# per-frame verdicts and the connection summaries with the golden files in
# tests/golden/corpus/expected/. Those files were made by ctguard itself
# (tests/golden/corpus/gen.sh), so this test detects change, it is not an oracle:
# the comparison with an independent source (Zeek's baselines) is
# tests/golden/test_corpus_oracle.sh. See tests/golden/corpus/README.md.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-.}
d=$builddir/ctguardd
corpus=${CTG_CORPUS:-$srcdir/../shared/corpus}
fails=0

if [ ! -f "$corpus/MANIFEST.tsv" ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok - corpus not found at $corpus (CI=true: refusing to skip)"
		exit 1
	fi
	echo "# SKIP: corpus not found at $corpus (set CTG_CORPUS)"
	exit 77
fi
[ -x "$d" ] || { echo "not ok - ctguardd not built at $d"; exit 1; }

tmp=$(mktemp -d /tmp/ctg-corpus.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
while IFS=$'\t' read -r file _; do
	[ "$file" = file ] && continue
	name=$(basename "$file")
	n=$((n + 1))
	exp=$srcdir/tests/golden/corpus/expected/$name.out
	if [ ! -f "$exp" ]; then
		echo "not ok - $name: no expectation in tests/golden/corpus/expected"
		fails=$((fails + 1))
		continue
	fi
	bash "$srcdir/tests/golden/corpus/gen.sh" "$d" "$srcdir" "$corpus/$file" >"$tmp/$name.out"
	if diff -u "$exp" "$tmp/$name.out" >"$tmp/$name.diff"; then
		echo "ok - $name: $(grep -c $'^[0-9]' "$exp") verdict lines, $(grep -c '^conn' "$exp") connection summaries unchanged (golden file: a change detector, not an oracle)"
	else
		echo "not ok - $name changed: differs from the golden file tests/golden/corpus/expected/$name.out (made by gen.sh; regenerate only for an intended change):"
		sed 's/^/#   /' "$tmp/$name.diff" | head -n 40
		fails=$((fails + 1))
	fi
done <"$corpus/MANIFEST.tsv"

if [ "$n" -ne "$(ls "$srcdir/tests/golden/corpus/expected" | wc -l)" ]; then
	echo "not ok - $n captures in the manifest, $(ls "$srcdir/tests/golden/corpus/expected" | wc -l) expectations"
	fails=$((fails + 1))
else
	echo "ok - every capture of the manifest has an expectation ($n)"
fi
[ "$fails" -eq 0 ]
