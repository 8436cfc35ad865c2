#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Time `ctguard report` on a synthetic audit database of ROWS verdict rows
# (default 10 million, made by bench/gen-auditdb.sh unless DB exists), three
# runs. Prints METRIC lines for bench/run-bench.sh: wall and CPU seconds per
# run, and the load average at the start (the figure is wall time on a
# machine that may be shared; CPU time is what the report itself costs).
#
# usage: bench-report.sh CTGUARD DB [ROWS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
c=${1:?usage: bench-report.sh CTGUARD DB [ROWS]}
db=${2:?usage: bench-report.sh CTGUARD DB [ROWS]}
rows=${3:-10000000}
if [ ! -f "$db" ]; then
	echo "# generating $rows verdict rows in $db" >&2
	"$here/gen-auditdb.sh" "$db" "$rows"
fi
have=$(sqlite3 "$db" 'SELECT count(*) FROM verdicts')
out=$(mktemp /tmp/ctg-report-bench.XXXXXX.html)
trap 'rm -f "$out"' EXIT
echo "METRIC report_rows $have rows"
echo "METRIC report_loadavg_start $(cut -d' ' -f1 /proc/loadavg) load"
for i in 1 2 3; do
	/usr/bin/time -f '%e %U %S' -o "$out.time" "$c" report -d "$db" -o "$out" 2>/dev/null
	read -r wall user sys <"$out.time"
	echo "METRIC report_wall_s_run $wall s"
	awk -v u="$user" -v s="$sys" 'BEGIN { printf "METRIC report_cpu_s_run %.2f s\n", u + s }'
	rm -f "$out.time"
done
