#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The committed state diagram is the table's: docs/tcp-states.dot is what
# tests/kit/gen_tcpfsm_dot prints from include/ctguard/tcpfsm.h, byte for byte,
# and docs/tcp-states.svg (rendered from it by Graphviz) has exactly its
# states and arrows. The README and ctguard(8) show it. Fix a failure with
# `make tcp-states-diagram` (needs graphviz).
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-.}
gen=$builddir/tests/kit/gen_tcpfsm_dot
dotf=$srcdir/docs/tcp-states.dot
svg=$srcdir/docs/tcp-states.svg
tmp=$(mktemp -d /tmp/ctg-fsmdia.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }

[ -x "$gen" ] || { echo "not ok - $gen not built"; exit 1; }
"$gen" >"$tmp/gen.dot" || { echo "not ok - gen_tcpfsm_dot failed"; exit 1; }
if [ ! -f "$dotf" ]; then
	nok "docs/tcp-states.dot missing"
elif diff -u "$dotf" "$tmp/gen.dot" >"$tmp/diff"; then
	ok "docs/tcp-states.dot is what the table generates"
else
	nok "docs/tcp-states.dot differs from the table (make tcp-states-diagram):"
	sed 's/^/#   /' "$tmp/diff" | head -n 30
fi

# Arrows and states of the generated graph, and of the committed SVG
# (Graphviz titles each edge "A&#45;&gt;B" and each node by its name).
sed -n 's/^\t\([A-Za-z_0-9]*\) -> \([A-Za-z_0-9]*\) .*/\1->\2/p' "$tmp/gen.dot" | sort >"$tmp/dot.edges"
n=$(wc -l <"$tmp/dot.edges")
if [ "$n" -lt 20 ]; then
	nok "only $n arrows in the generated graph: did the generator's format change?"
fi
if [ -f "$svg" ]; then
	grep -A1 'class="edge"' "$svg" | sed -n 's/.*<title>\(.*\)<\/title>.*/\1/p' |
	    sed 's/&#45;&gt;/->/' | sort >"$tmp/svg.edges"
	grep -A1 'class="node"' "$svg" | sed -n 's/.*<title>\(.*\)<\/title>.*/\1/p' |
	    sort >"$tmp/svg.nodes"
	if diff -u "$tmp/dot.edges" "$tmp/svg.edges" >"$tmp/ediff"; then
		ok "docs/tcp-states.svg draws the table's $n arrows, no other"
	else
		nok "docs/tcp-states.svg arrows differ from the table (make tcp-states-diagram):"
		sed 's/^/#   /' "$tmp/ediff" | head -n 20
	fi
	printf '%s\n' new CLOSED LISTEN SYN_SENT SYN_RCVD ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 \
	    CLOSING TIME_WAIT CLOSE_WAIT LAST_ACK | sort >"$tmp/want.nodes"
	if diff -q "$tmp/want.nodes" "$tmp/svg.nodes" >/dev/null; then
		ok "docs/tcp-states.svg has the eleven states and the start"
	else
		nok "docs/tcp-states.svg states: $(tr '\n' ' ' <"$tmp/svg.nodes")"
	fi
else
	nok "docs/tcp-states.svg missing"
fi

# Rendered again with the Graphviz installed here, the arrows are the same.
if command -v dot >/dev/null; then
	dot -Tsvg "$tmp/gen.dot" >"$tmp/new.svg" 2>"$tmp/dot.err" ||
	    nok "dot -Tsvg failed: $(head -n 3 "$tmp/dot.err")"
	grep -A1 'class="edge"' "$tmp/new.svg" | sed -n 's/.*<title>\(.*\)<\/title>.*/\1/p' |
	    sed 's/&#45;&gt;/->/' | sort >"$tmp/new.edges"
	if diff -q "$tmp/dot.edges" "$tmp/new.edges" >/dev/null; then
		ok "dot renders every arrow of the generated graph"
	else
		nok "dot -Tsvg of the generated graph lost or added arrows"
	fi
else
	echo "ok - dot not installed: rendering not repeated # SKIP"
fi

grep -q 'docs/tcp-states.svg' "$srcdir/README.md" &&
    ok "README.md shows docs/tcp-states.svg" || nok "README.md does not show docs/tcp-states.svg"
grep -q 'tcp-states.svg' "$srcdir/packaging/man/ctguard.8" &&
    ok "ctguard(8) names the diagram" || nok "ctguard(8) does not name tcp-states.svg"
[ "$fails" -eq 0 ]
