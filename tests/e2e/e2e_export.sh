#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: log.export with Debian's rsyslog. Two rsyslogd instances of
# the test's own, in a network namespace of its own: the first listens on
# a unix socket of the test (imuxsock, RFC 5424 parsing) and forwards
# ctguard's messages over RELP (omrelp) to the second (imrelp on
# 127.0.0.1 inside the namespace), which writes each message's MSG to a
# file. ctguardd replays captures of the corpus with log.export pointing
# at the first instance's socket. Every verdict id of the database must
# arrive exactly once, as a JSON line field-equal to the one ctguard log
# --format json prints for it. The host's /dev/log is never touched.
#
# Environment: srcdir, builddir (where ctguardd and ctguard are),
# CTG_CORPUS (default ../shared/corpus beside the checkout).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool missing; CI=true fails).

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=${srcdir:-$here/../..}
top=$(cd "$top" && pwd)
bld=${builddir:-$PWD}
bld=$(cd "$bld" && pwd)
# shellcheck source=../kit/netns.sh disable=SC1091
. "$top/tests/kit/netns.sh"

ctg_require_root
ctg_require_tools ip python3 timeout sqlite3 rsyslogd

ctg_programs "$top" "$bld"
CORPUS=${CTG_CORPUS:-$top/../shared/corpus}
RSDIR=
for d in /usr/lib/x86_64-linux-gnu/rsyslog /usr/lib/*/rsyslog /usr/lib/rsyslog; do
	if [ -f "$d/omrelp.so" ] && [ -f "$d/imrelp.so" ] && [ -f "$d/imuxsock.so" ]; then
		RSDIR=$d
		break
	fi
done
[ -n "$RSDIR" ] || ctg_skip "rsyslog's RELP modules (package rsyslog-relp) are not installed"
[ -d "$CORPUS/zeek" ] || ctg_skip "no capture corpus at $CORPUS (set CTG_CORPUS)"

ctg_tmpdir
T=$CTG_TMPDIR
NS=${CTG_PREFIX}syslog
DB=$T/audit.db
SOCK=$T/ctguard-syslog.sock
RECV=$T/recv/$(hostname).jsonl
PORT=$((20000 + $$ % 20000))
mkdir -p "$T/fwd" "$T/recv"

if ! ctg_netns_add "$NS"; then
	echo "not ok - cannot make the namespace"
	exit 1
fi

# the receiver and the forwarder: packaging/rsyslog's examples, with the
# test's port, socket, directories, and imuxsock loaded (Debian's
# rsyslog.conf loads it; this instance reads no other configuration)
sed -e "s|port=\"2514\"|port=\"$PORT\"|" -e "s|/var/log/ctguard|$T/recv|" \
    "$top/packaging/rsyslog/ctguard-relp-receiver.conf" >"$T/recv.conf.1"
{ printf 'global(workDirectory="%s/recv")\n' "$T"; cat "$T/recv.conf.1"; } >"$T/recv.conf"
sed -e "s|/run/ctguard/syslog.sock|$SOCK|" -e "s|target=\"logs.example.org\"|target=\"127.0.0.1\"|" \
    -e "s|port=\"2514\"|port=\"$PORT\"|" \
    "$top/packaging/rsyslog/ctguard-relp.conf" >"$T/fwd.conf.1"
{
	printf 'global(workDirectory="%s/fwd")\n' "$T"
	printf 'module(load="imuxsock" SysSock.Use="off")\n'
	cat "$T/fwd.conf.1"
} >"$T/fwd.conf"
for c in recv fwd; do
	if ! ctg_quiet ctg_in "$NS" rsyslogd -N1 -f "$T/$c.conf" 2>"$T/$c.check"; then
		echo "not ok - rsyslogd -N1 refuses the $c configuration"
		sed 's/^/# /' "$T/$c.check"
		exit 1
	fi
done
ctg_ok "rsyslogd -N1 accepts both configurations (packaging/rsyslog's examples)"

ctg_bg "$NS" "$T/recv.log" rsyslogd -n -f "$T/recv.conf" -i "$T/recv.pid"
RPID=$CTG_BG_PID
listening() { ctg_in "$NS" python3 -c "
import socket
socket.create_connection(('127.0.0.1', $PORT), timeout=1).close()"; }
ctg_check "the receiver listens on 127.0.0.1:$PORT (RELP)" ctg_wait_for 10 listening
ctg_bg "$NS" "$T/fwd.log" rsyslogd -n -f "$T/fwd.conf" -i "$T/fwd.pid"
FPID=$CTG_BG_PID
ctg_check "the forwarder listens on $SOCK" ctg_wait_for 10 test -S "$SOCK"

cat >"$T/ctguard.conf" <<EOF
log = {
	policy = "all";
	export = "syslog";
	export_socket = "$SOCK";
	export_facility = "local5";
};
EOF
ctg_check "ctguardd -t accepts log.export" ctg_quiet "$CTGUARDD" -t -c "$T/ctguard.conf" \
    -R "$top/rules/default.rules" 2>/dev/null
n=0
# a burst per capture: far more than the socket's 10 datagrams at once
for f in $(cd "$CORPUS/zeek" && ls -- *.pcap *.pcapng 2>/dev/null | head -n 24); do
	if ctg_in "$NS" "$CTGUARDD" -r "$CORPUS/zeek/$f" -d "$DB" -c "$T/ctguard.conf" \
	    -R "$top/rules/default.rules" >/dev/null 2>>"$T/replay.err"; then
		n=$((n + 1))
	fi
done
ctg_check "$n captures replayed with log.export = \"syslog\"" test "$n" -ge 10
rows=$(sqlite3 -batch -noheader "$DB" "SELECT count(*) FROM verdicts")
echo "# $rows verdict rows in the database"
ctg_check "there are decisions to export" test "${rows:-0}" -gt 100
arrived() { [ "$(wc -l <"$RECV" 2>/dev/null || echo 0)" -ge "$rows" ]; }
ctg_check "the receiver's file has $rows lines (RELP delivered them)" ctg_wait_for 20 arrived
"$CTGUARD" log -d "$DB" --format json >"$T/want.jsonl"
ctg_check "every verdict id arrived exactly once, field-equal to ctguard log --format json" \
    python3 - "$T/want.jsonl" "$RECV" <<'EOF'
import json, sys
want = {}
for line in open(sys.argv[1]):
    row = json.loads(line)
    want[row["id"]] = row
got = {}
bad = 0
for line in open(sys.argv[2]):
    line = line.strip()
    if not line:
        continue
    row = json.loads(line)
    if row["id"] in got:
        print("# duplicate id", row["id"])
        bad += 1
    got[row["id"]] = row
missing = sorted(set(want) - set(got))
extra = sorted(set(got) - set(want))
differ = [i for i in want if i in got and got[i] != want[i]]
print("# %d rows in the database, %d received, %d missing, %d extra, %d differ"
      % (len(want), len(got), len(missing), len(extra), len(differ)))
for i in differ[:3]:
    print("# id %d: want %s\n#        got  %s" % (i, want[i], got[i]))
sys.exit(1 if bad or missing or extra or differ else 0)
EOF
# with nobody listening, the daemon does not wait: it counts and goes on
ctg_stop "$FPID" 5
rm -f "$SOCK"
s=$(date +%s%N)
ctg_check "a replay with the socket gone still completes" ctg_quiet ctg_in "$NS" "$CTGUARDD" \
    -r "$CORPUS/zeek/ctu-64702-888.pcap" -d "$T/nobody.db" -c "$T/ctguard.conf" \
    -R "$top/rules/default.rules" 2>/dev/null
e=$(date +%s%N)
ctg_check "... within 5 s ($(((e - s) / 1000000)) ms)" test $(((e - s) / 1000000)) -lt 5000
ctg_check "... and its database has every row" \
    test "$(sqlite3 -batch -noheader "$T/nobody.db" "SELECT count(*) FROM verdicts")" -gt 0
ctg_check "the forwarder logged no error" eval "! grep -i -E 'error|fail' '$T/fwd.log'"
ctg_stop "$RPID" 5
ctg_check "no sanitizer reports" eval "! grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' '$T/replay.err'"
ctg_finish
