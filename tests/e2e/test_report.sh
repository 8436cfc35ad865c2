#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ctguard report, end to end: replay captures of the corpus ($CTG_CORPUS)
# with ctguardd -r into one audit database (log policy "all", the shipped
# default rules for some, the stateful-only rules for others, so there are
# accepts, drops and rejects), write the report, open it in headless
# Chromium and check that the page loads without console messages, that
# every chart is there with as many marks as direct sqlite3 queries of the
# same database say, that the page fetches nothing and runs no script, and
# that strings from the database are escaped. Also: the errors for a
# missing, non-SQLite, corrupt and locked database. Screenshots (desktop,
# phone) and a PDF print go to $builddir/tests/report-out/.
# Without chromium or the corpus: skipped (77), but under CI=true a failure.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-.}
d=$builddir/ctguardd
c=$builddir/ctguard
corpus=${CTG_CORPUS:-$srcdir/../shared/corpus}
out=$builddir/tests/report-out
fails=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }
cannot() {
	if [ "${CI:-}" = true ]; then
		echo "not ok - $* (CI=true: refusing to skip)"
		exit 1
	fi
	echo "# SKIP: $*"
	exit 77
}

[ -x "$d" ] && [ -x "$c" ] || { echo "not ok - ctguardd/ctguard not built in $builddir"; exit 1; }
command -v sqlite3 >/dev/null || cannot "sqlite3 not installed (apt-get install sqlite3)"
command -v python3 >/dev/null || cannot "python3 not installed"
chrome=
for b in chromium chromium-browser google-chrome; do
	command -v "$b" >/dev/null && { chrome=$b; break; }
done
[ -n "$chrome" ] || cannot "chromium not installed (apt-get install chromium)"
[ -f "$corpus/MANIFEST.tsv" ] || cannot "corpus not found at $corpus (set CTG_CORPUS)"

tmp=$(mktemp -d /tmp/ctg-report.XXXXXX)
lockpid=
cleanup() {
	[ -n "$lockpid" ] && kill "$lockpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out"

# --- the database ------------------------------------------------------------
sed 's/^\([[:space:]]*policy = \)"[a-z]*";/\1"all";/' "$srcdir/packaging/ctguard.conf" >"$tmp/all.conf"
grep -q 'policy = "all"' "$tmp/all.conf" || { echo "not ok - could not set log.policy"; exit 1; }
db=$out/audit.db
n=0
replay() {
	local rules=$1 cap=$corpus/zeek/$2
	[ -f "$cap" ] || { nok "capture $2 missing from the corpus"; return; }
	if "$d" -c "$tmp/all.conf" -R "$srcdir/rules/$rules.rules" -r "$cap" -d "$db" \
	    >/dev/null 2>"$tmp/replay.err"; then
		n=$((n + 1))
	else
		nok "ctguardd -r $2: $(tail -n 2 "$tmp/replay.err" | tr '\n' ' ')"
	fi
}
for f in ssh-dups.pcap handshake-reorder.pcap missing-syn.pcap retransmit-fast009.pcap \
    rst-inject-rae.pcap fin_retransmission.pcap syn-then-rst.pcap icmp-ping.pcap \
    payload-synack.pcap ctu-64702-888.pcap; do
	replay stateful-only "$f"
done
for f in wikipedia-mixed-udp-tcp.pcap reassembly-overlaps.pcap qi-quantum-insert-synack.pcap \
    syn-then-stuff-then-rst.pcap; do
	replay default "$f"
done
q() { sqlite3 -batch -noheader "$db" "$@"; }
nv=$(q 'SELECT count(*) FROM verdicts')
echo "# $n captures replayed: $nv verdicts, $(q 'SELECT count(*) FROM connections') connections"
for v in accept drop reject; do
	[ "$(q "SELECT count(*) FROM verdicts WHERE verdict = '$v'")" -gt 0 ] ||
	    nok "the replayed database has no $v verdict: the test would prove little"
done

# --- the report --------------------------------------------------------------
html=$out/report.html
if "$c" report -d "$db" -o "$html" 2>"$tmp/report.err"; then
	ok "ctguard report wrote $(wc -c <"$html") bytes"
else
	nok "ctguard report failed: $(cat "$tmp/report.err")"
	exit 1
fi

# self-contained: nothing to fetch, nothing to run
if grep -Eiq '<script|<link|<img|<iframe|<object|src=|href=|@import|url\((["'\'' ]*)[^#]' "$html"; then
	nok "the page refers to something outside itself: $(grep -Eio '<script|<link|<img|src=[^ >]*|href=[^ >]*|@import|url\([^)]*\)' "$html" | grep -v 'url(#' | head -n 3 | tr '\n' ' ')"
else
	ok "the page fetches nothing and has no script"
fi
grep -q '<meta name="viewport" content="width=device-width' "$html" &&
    ok "viewport meta for phones" || nok "no viewport meta"
grep -q '@media print' "$html" && ok "print stylesheet" || nok "no print stylesheet"

chrome_run() {
	timeout 90 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	    --disable-background-networking --disable-component-update --disable-sync \
	    --user-data-dir="$(mktemp -d "$tmp/profile.XXXXXX")" --hide-scrollbars \
	    --enable-logging=stderr --v=0 "$@"
}
if chrome_run --dump-dom "file://$(cd "$(dirname "$html")" && pwd)/report.html" \
    >"$out/dom.html" 2>"$tmp/chrome.err" && grep -q '</html>' "$out/dom.html"; then
	ok "chromium loaded the page ($(wc -c <"$out/dom.html") bytes of DOM)"
else
	nok "chromium --dump-dom failed: $(grep -v -e dbus -e WARNING "$tmp/chrome.err" | tail -n 3 | tr '\n' ' ')"
	exit 1
fi
if grep -E 'CONSOLE|net::ERR_|Failed to load|Uncaught' "$tmp/chrome.err" >"$tmp/console"; then
	nok "messages while loading: $(head -n 3 "$tmp/console" | tr '\n' ' ')"
else
	ok "no console message, no failed load"
fi

# --- marks against sqlite3 -----------------------------------------------------
python3 - "$out/dom.html" >"$tmp/marks" <<'EOF' || nok "could not read the DOM"
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.sect = None; s.out = []; s.ids = []; s.attrs = {}
    def handle_starttag(s, tag, a):
        a = dict(a)
        if tag == 'section':
            s.sect = a.get('id'); s.ids.append(s.sect)
        if tag == 'svg' and a.get('data-t0'):
            s.attrs['t0'] = a['data-t0']; s.attrs['bw'] = a['data-bucket-us']
        c = (a.get('class') or '').split()
        if 'mark' in c:
            kind = [x for x in c if x not in ('mark',)][0]
            extra = a.get('data-from', '') + '>' + a.get('data-to', '') if 'fsm-edge' in c else \
                next((x for x in c if x.startswith('verdict-') and x != 'verdict-bar'), '')
            s.out.append((s.sect, kind, a.get('data-n', '0'), extra))
p = P(); p.feed(open(sys.argv[1]).read())
print('sections', ' '.join(x for x in p.ids if x))
print('t0', p.attrs.get('t0', 0)); print('bw', p.attrs.get('bw', 1))
for m in p.out: print('mark', *m)
EOF
marks() { awk -v k="$1" '$1 == "mark" && $3 == k' "$tmp/marks" | wc -l; }
sumn() { awk -v k="$1" -v e="${2:-}" '$1 == "mark" && $3 == k && (e == "" || $5 == e) { s += $4 } END { print s + 0 }' "$tmp/marks"; }
expect() { # expect NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1: $2"; else nok "$1: page has $2, the database says $3"; fi
}
want_sections="verdicts-time drop-reasons top-talkers rules conn-states conn-sizes events tcp-states tcp-refused"
got_sections=$(sed -n 's/^sections //p' "$tmp/marks")
for s in $want_sections; do
	case " $got_sections " in *" $s "*) ;; *) nok "chart $s missing" ;; esac
done
ok "sections present: $got_sections"

t0=$(sed -n 's/^t0 //p' "$tmp/marks")
bw=$(sed -n 's/^bw //p' "$tmp/marks")
expect "verdict bars (one per time bucket and verdict)" "$(marks verdict-bar)" \
    "$(q "SELECT count(DISTINCT ((time_us - $t0) / $bw) || verdict) FROM verdicts")"
for v in accept drop reject; do
	expect "$v packets in the verdict bars" "$(sumn verdict-bar "verdict-$v")" \
	    "$(q "SELECT count(*) FROM verdicts WHERE verdict = '$v'")"
done
expect "reason bars (one per drop reason)" "$(marks reason-bar)" \
    "$(q "SELECT count(DISTINCT reason) FROM verdicts WHERE verdict = 'drop'")"
expect "drops in the reason bars" "$(sumn reason-bar)" \
    "$(q "SELECT count(*) FROM verdicts WHERE verdict = 'drop'")"
expect "reason cells (reason x bucket)" "$(marks reason-cell)" \
    "$(q "SELECT count(DISTINCT reason || '/' || ((time_us - $t0) / $bw)) FROM verdicts WHERE verdict = 'drop'")"
expect "top sources of drops" "$(marks src-bar)" \
    "$(q "SELECT min(10, count(DISTINCT src)) FROM verdicts WHERE verdict = 'drop'")"
expect "top destinations of drops" "$(marks dst-bar)" \
    "$(q "SELECT min(10, count(DISTINCT dst)) FROM verdicts WHERE verdict = 'drop'")"
expect "count of the top source" \
    "$(awk '$1 == "mark" && $3 == "src-bar" { print $4; exit }' "$tmp/marks")" \
    "$(q "SELECT count(*) FROM verdicts WHERE verdict = 'drop' GROUP BY src ORDER BY 1 DESC LIMIT 1")"
expect "rule bars (one per rule)" "$(marks rule-bar)" \
    "$(q "SELECT min(30, count(DISTINCT coalesce(nullif(rule, ''), '(default policy)'))) FROM verdicts")"
expect "packets in the rule bars" "$(sumn rule-bar)" "$nv"
expect "connection outcome bars (one per conn_state)" "$(marks connstate-bar)" \
    "$(q "SELECT count(DISTINCT coalesce(nullif(conn_state, ''), '-')) FROM connections")"
dur="CASE WHEN d < 1000 THEN 0 WHEN d < 10000 THEN 1 WHEN d < 100000 THEN 2 WHEN d < 1000000 THEN 3
    WHEN d < 10000000 THEN 4 WHEN d < 100000000 THEN 5 WHEN d < 1000000000 THEN 6
    WHEN d < 10000000000 THEN 7 ELSE 8 END"
expect "duration bars (one per non-empty decade)" "$(marks duration-bar)" \
    "$(q "SELECT count(DISTINCT $dur) FROM (SELECT max(last_us - first_us, 0) AS d FROM connections)")"
size="CASE WHEN d < 100 THEN 0 WHEN d < 1000 THEN 1 WHEN d < 10000 THEN 2 WHEN d < 100000 THEN 3
    WHEN d < 1000000 THEN 4 WHEN d < 10000000 THEN 5 WHEN d < 100000000 THEN 6 ELSE 7 END"
expect "size bars (one per non-empty decade)" "$(marks size-bar)" \
    "$(q "SELECT count(DISTINCT $size) FROM (SELECT orig_bytes + resp_bytes AS d FROM connections)")"
expect "connections in the duration bars" "$(sumn duration-bar)" "$(q 'SELECT count(*) FROM connections')"
expect "event marks (every event but counter snapshots)" "$(marks event-mark)" \
    "$(q "SELECT count(*) FROM events WHERE kind <> 'counters'")"
moves="SELECT orig_before AS b, orig_after AS a FROM verdicts WHERE proto = 6 AND ctstate <> 'invalid'
    AND orig_before <> orig_after UNION ALL SELECT resp_before, resp_after FROM verdicts
    WHERE proto = 6 AND ctstate <> 'invalid' AND resp_before <> resp_after"
expect "state machine arrows (one per observed move)" "$(marks fsm-edge)" \
    "$(q "SELECT count(*) FROM (SELECT DISTINCT b, a FROM ($moves))")"
awk '$1 == "mark" && $3 == "fsm-edge" { print $5, $4 }' "$tmp/marks" | sort >"$tmp/edges.page"
q "SELECT b || '>' || a, count(*) FROM ($moves) GROUP BY b, a" | tr '|' ' ' | sort >"$tmp/edges.db"
if [ -s "$tmp/edges.db" ] && diff -u "$tmp/edges.db" "$tmp/edges.page" >"$tmp/edges.diff"; then
	ok "every arrow's count matches the database ($(wc -l <"$tmp/edges.db") moves)"
else
	nok "arrow counts differ from the database: $(head -n 6 "$tmp/edges.diff" | tr '\n' ' ')"
fi
expect "refused-move bars (states and reason)" "$(marks refused-bar)" \
    "$(q "SELECT min(20, count(*)) FROM (SELECT DISTINCT orig_before, resp_before, reason FROM verdicts WHERE verdict = 'drop' AND ctstate = 'invalid' AND proto = 6)")"
[ "$(marks refused-bar)" -gt 0 ] || nok "no refused move in the replayed captures"

# --- screenshots and print ------------------------------------------------------
url="file://$(cd "$out" && pwd)/report.html"
chrome_run --window-size=1000,3600 --screenshot="$out/report.png" "$url" >/dev/null 2>&1
chrome_run --window-size=412,6200 --screenshot="$out/report-phone.png" "$url" >/dev/null 2>&1
chrome_run --print-to-pdf="$out/report.pdf" --no-pdf-header-footer "$url" >/dev/null 2>&1
for f in report.png report-phone.png; do
	if [ "$(head -c 8 "$out/$f" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
	    [ "$(wc -c <"$out/$f")" -gt 20000 ]; then
		ok "screenshot $out/$f"
	else
		nok "no screenshot $f"
	fi
done
if [ "$(head -c 5 "$out/report.pdf" 2>/dev/null)" = "%PDF-" ]; then
	ok "printed to $out/report.pdf"
else
	nok "chromium --print-to-pdf gave no PDF"
fi

# --- the same page from one scan and from scans in slices on threads ----------------
for t in 1 3; do
	CTG_REPORT_THREADS=$t "$c" report -d "$db" 2>/dev/null | grep -v '^<footer' >"$tmp/threads$t.html"
done
if [ -s "$tmp/threads1.html" ] && cmp -s "$tmp/threads1.html" "$tmp/threads3.html"; then
	ok "one scan and three threaded slices give the same page"
else
	nok "the page differs between CTG_REPORT_THREADS=1 and 3"
fi

# --- --since/--until ------------------------------------------------------------
mid=$(q "SELECT time_us FROM verdicts ORDER BY time_us LIMIT 1 OFFSET (SELECT count(*) / 2 FROM verdicts)")
since=$(q "SELECT strftime('%Y-%m-%dT%H:%M:%S', $mid / 1000000, 'unixepoch')")
if "$c" report -d "$db" --since "$since" >"$tmp/since.html" 2>"$tmp/since.err"; then
	got=$(grep -o '<div id="total-verdicts"><b>[0-9,]*' "$tmp/since.html" | grep -o '[0-9,]*$' | tr -d ,)
	expect "--since $since counts the verdicts from then" "$got" \
	    "$(q "SELECT count(*) FROM verdicts WHERE time_us >= $mid / 1000000 * 1000000")"
else
	nok "report --since failed: $(cat "$tmp/since.err")"
fi
"$c" report -d "$db" --since 2026-01-01 --until 2025-01-01 >/dev/null 2>&1
expect "--until before --since is a usage error" "$?" 2
"$c" report -d "$db" --since yesterday-ish >/dev/null 2>&1
expect "an unreadable time is a usage error" "$?" 2

# --- hostile strings are escaped -------------------------------------------------
cp "$db" "$tmp/evil.db"
sqlite3 "$tmp/evil.db" "UPDATE verdicts SET rule = '<script>alert(1)</script>', reason = '\"><img src=x onerror=alert(2)>' WHERE verdict = 'drop';
    INSERT INTO events(time_us, kind, count, detail) VALUES ((SELECT max(time_us) FROM verdicts), 'warning', 1, '</title><script>alert(3)</script>&');"
if "$c" report -d "$tmp/evil.db" -o "$tmp/evil.html" 2>/dev/null &&
    ! grep -Eq '<script|<img|onerror=alert\(2\)>' "$tmp/evil.html" &&
    grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$tmp/evil.html" &&
    grep -q '&lt;/title&gt;&lt;script&gt;alert(3)&lt;/script&gt;&amp;' "$tmp/evil.html"; then
	ok "rule, reason and event strings are HTML-escaped"
else
	nok "a string from the database reached the page unescaped"
fi

# --- bad databases -----------------------------------------------------------------
bad() { # bad NAME DBPATH PATTERN
	"$c" report -d "$2" -o "$tmp/bad.html" >/dev/null 2>"$tmp/bad.err"
	local rc=$?
	if [ "$rc" -eq 1 ] && grep -q "$3" "$tmp/bad.err" && [ ! -e "$tmp/bad.html" ]; then
		ok "$1: exit 1, '$(head -n 1 "$tmp/bad.err")'"
	else
		nok "$1: exit $rc, '$(head -n 1 "$tmp/bad.err")', want 1 and /$3/"
	fi
}
bad "missing database" "$tmp/none.db" "no audit database"
head -c 5000 /dev/urandom >"$tmp/noise.db"
bad "not a database" "$tmp/noise.db" "not a SQLite database"
sqlite3 "$tmp/other.db" "CREATE TABLE t(x)"
bad "a SQLite database of something else" "$tmp/other.db" "not a ctguard audit database"
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$db" "$tmp/corrupt.db"
size=$(wc -c <"$tmp/corrupt.db")
dd if=/dev/urandom of="$tmp/corrupt.db" bs=1 seek=$((size / 3)) count=$((size / 3)) conv=notrunc 2>/dev/null
bad "corrupt database" "$tmp/corrupt.db" "corrupt\|not a SQLite\|malformed"
cp "$db" "$tmp/locked.db"
sqlite3 "$tmp/locked.db" "PRAGMA journal_mode = DELETE" >/dev/null
python3 -c "
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN EXCLUSIVE')
c.execute('INSERT INTO events(time_us, kind) VALUES (0, \'x\')')
print('locked', flush=True)
time.sleep(30)
" "$tmp/locked.db" >"$tmp/lock.out" &
lockpid=$!
for _ in $(seq 50); do grep -q locked "$tmp/lock.out" && break; sleep 0.1; done
bad "locked database" "$tmp/locked.db" "locked"
kill "$lockpid" 2>/dev/null
wait "$lockpid" 2>/dev/null
lockpid=

echo "# report, DOM, screenshots and PDF in $out"
[ "$fails" -eq 0 ]
