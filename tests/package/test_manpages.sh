#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The manual pages: mandoc -T lint (and groff through man --warnings, as
# lintian does) finds nothing; the pages do not drift from the code: every
# reason code of reason.h is in ctguard.rules(5) (and the generated list is
# current), every setting ctguardd prints is in ctguard.conf(5), every long
# option of ctguardd and ctguard is in their pages.
# Without mandoc: skipped (exit 77); without man/groff, python3 or a built
# ctguardd those checks are reported skipped; all of it fails under CI=true.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-.}
man=$srcdir/packaging/man
pages=(ctguardd.8 ctguard.8 ctguard-setup.8 ctguard.conf.5 ctguard.rules.5)
tmp=$(mktemp -d /tmp/ctg-man.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }
# A check that cannot run is counted as skipped (tests/run-tests.sh), and
# fails under CI=true, where every tool is installed (packaging/build-deps.txt).
skip() {
	if [ "${CI:-}" = true ]; then
		nok "$* (CI=true: refusing to skip)"
	else
		echo "ok - $* # SKIP"
	fi
}

if ! command -v mandoc >/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "not ok - mandoc not installed (apt-get install mandoc)"
		exit 1
	fi
	echo "mandoc not installed: skipped (apt-get install mandoc)"
	exit 77
fi

# Our own pages are not installed where mandoc looks for them, and
# system pages (iptables(8), sqlite3(1)) may not be either: only that
# message is allowed, and only for pages that exist somewhere.
for p in "${pages[@]}"; do
	f=$man/$p
	if [ ! -f "$f" ]; then
		nok "$p missing"
		continue
	fi
	mandoc -T lint -W style "$f" >"$tmp/lint" 2>&1
	grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db' \
	    "$tmp/lint" >"$tmp/lint.rest"
	if [ -s "$tmp/lint.rest" ]; then
		nok "mandoc -T lint $p: $(head -n 3 "$tmp/lint.rest" | tr '\n' ' ')"
	else
		ok "mandoc -T lint $p is clean"
	fi
	if command -v man >/dev/null && command -v groff >/dev/null; then
		LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
		    man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>"$tmp/groff" >/dev/null
		if [ -s "$tmp/groff" ]; then
			nok "man --warnings $p: $(head -n 3 "$tmp/groff" | tr '\n' ' ')"
		else
			ok "man --warnings (groff) $p is clean"
		fi
	else
		skip "man --warnings (groff) $p: man or groff not installed (apt-get install man-db groff-base)"
	fi
done

# Cross references between our pages name pages that exist.
bad=
for p in "${pages[@]}"; do
	while read -r name sec; do
		case $name in ctguard*) ;; *) continue ;; esac
		[ -f "$man/$name.$sec" ] || bad="$bad $p->$name($sec)"
	done < <(sed -n 's/^\.Xr \([^ ]*\) \([0-9]\).*/\1 \2/p' "$man/$p")
done
if [ -z "$bad" ]; then
	ok "every .Xr to a ctguard page names a shipped page"
else
	nok "dangling .Xr:$bad"
fi

# Reason codes: every name in reason.h is listed (as .It Cm NAME).
names=$(grep -o 'X([A-Z0-9_]*, *"[a-z0-9_]*"' "$srcdir/include/ctguard/reason.h" |
    sed 's/.*"\(.*\)"/\1/')
n=0 missing=
for r in $names; do
	n=$((n + 1))
	grep -q "^\.It Cm $r " "$man/ctguard.rules.5" || missing="$missing $r"
done
if [ "$n" -lt 10 ]; then
	nok "found only $n reason names in reason.h: the X-macro format changed?"
elif [ -n "$missing" ]; then
	nok "reason codes missing from ctguard.rules.5:$missing (run packaging/gen-reasons.py --update)"
else
	ok "all $n reason codes of reason.h are in ctguard.rules.5"
fi
listed=$(sed -n 's/^\.It Cm \([a-z0-9_]*\) Pq .*/\1/p' "$man/ctguard.rules.5" | sort)
if [ "$listed" = "$(printf '%s\n' $names | sort)" ]; then
	ok "ctguard.rules.5 lists no reason code that reason.h lacks"
else
	nok "ctguard.rules.5 reason list differs from reason.h"
fi
if command -v python3 >/dev/null; then
	if python3 "$srcdir/packaging/gen-reasons.py" --header "$srcdir/include/ctguard/reason.h" \
	    --check "$man/ctguard.rules.5" 2>"$tmp/gen"; then
		ok "generated reason list in ctguard.rules.5 is current"
	else
		nok "gen-reasons.py --check: $(cat "$tmp/gen")"
	fi
else
	skip "gen-reasons.py --check (no python3)"
fi

# Settings: every key ctguardd -t -v prints is documented as .It Ic KEY
# (groups as .Ss GROUP).
d=$builddir/ctguardd
if [ -x "$d" ] && "$d" -t -v -c "$srcdir/packaging/ctguard.conf" \
    -R "$srcdir/rules/default.rules" >"$tmp/conf" 2>/dev/null; then
	sed -n '1,/^$/s/^[[:space:]]*\([a-z_]*\) = .*/\1/p' "$tmp/conf" | sort -u >"$tmp/keys"
	missing=
	while read -r k; do
		grep -q -e "^\.It Ic $k\( \|$\)" -e "^\.Ss $k$" "$man/ctguard.conf.5" ||
		    missing="$missing $k"
	done <"$tmp/keys"
	if [ "$(wc -l <"$tmp/keys")" -lt 30 ]; then
		nok "ctguardd -t -v printed only $(wc -l <"$tmp/keys") settings"
	elif [ -n "$missing" ]; then
		nok "settings missing from ctguard.conf.5:$missing"
	else
		ok "all $(wc -l <"$tmp/keys") settings of ctguardd -t -v are in ctguard.conf.5"
	fi
else
	skip "settings check (ctguardd not built in $builddir)"
fi

# Long options of the programs' --help are in their pages (as Fl \-NAME).
check_opts() {
	local page=$1 label=$2
	shift 2
	local missing= o
	for o in $("$@" 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "Fl \\\\-${o#--}\\b" "$man/$page" || missing="$missing $o"
	done
	if [ -n "$missing" ]; then
		nok "$label options missing from $page:$missing"
	else
		ok "every long option of $label is in $page"
	fi
}
if [ -x "$d" ] && [ -x "$builddir/ctguard" ]; then
	check_opts ctguardd.8 "ctguardd --help" "$d" --help
	check_opts ctguard.8 "ctguard --help" "$builddir/ctguard" --help
	for c in log history summary; do
		check_opts ctguard.8 "ctguard $c --help" "$builddir/ctguard" $c --help
	done
	missing=
	for c in status connections stats reload flush kill reopen-log set log history summary; do
		grep -q "^\.It Cm $c\b" "$man/ctguard.8" || missing="$missing $c"
	done
	if [ -z "$missing" ]; then ok "every ctguard command has an entry in ctguard.8"
	else nok "ctguard commands missing from ctguard.8:$missing"; fi
else
	skip "option checks (ctguardd/ctguard not built in $builddir)"
fi
if [ -f "$srcdir/packaging/ctguard-setup" ]; then
	check_opts ctguard-setup.8 "ctguard-setup --help" bash "$srcdir/packaging/ctguard-setup" --help
fi

[ "$fails" -eq 0 ]
