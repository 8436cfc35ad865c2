#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the Debian package the way a release is built, and check it:
#   1. make dist in BUILDDIR (configured from this checkout if needed);
#   2. unpack the tarball and copy its packaging/debian to ./debian (the
#      tarball carries packaging/, so the package builds from the release
#      tarball alone);
#   3. dpkg-buildpackage -us -uc -b;
#   4. lintian (errors fail the build; warnings are printed);
#   5. the contents (dpkg-deb -c), the dependencies, and the installed
#      ctguardd -t against the installed default configuration, both from
#      dpkg -x and from dpkg --root into a throwaway root (maintainer
#      scripts run there: system user from sysusers.d, state directory
#      from tmpfiles.d).
# Prints "ok - ..." / "not ok - ..." lines; exits 0 when all pass.
#
# usage: packaging/build-deb.sh [--tarball FILE] [BUILDDIR]
#   BUILDDIR  where to configure (if it has no Makefile yet), make dist and
#             build (default /tmp/ctguard-deb)
#   --tarball FILE  use this release tarball instead of running make dist
# Needs: dpkg-dev debhelper lintian and the Build-Depends of
# packaging/debian/control (apt-get install dpkg-dev debhelper lintian
# $(cat packaging/build-deps.txt)).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tarball=
if [ "${1:-}" = --tarball ]; then
	[ $# -ge 2 ] || { echo "usage: $0 [--tarball FILE] [BUILDDIR]" >&2; exit 2; }
	tarball=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	shift 2
fi
bdir=${1:-/tmp/ctguard-deb}
fails=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }
die() { echo "not ok - $*"; exit 1; }

mkdir -p "$bdir" && bdir=$(cd "$bdir" && pwd)
log=$bdir/build-deb.log
: >"$log"
echo "# build directory $bdir, log $log"

# 1. the release tarball
if [ -n "$tarball" ]; then
	[ -f "$tarball" ] || die "no tarball $tarball"
	ok "release tarball: ${tarball##*/}"
else
	if [ ! -f "$bdir/Makefile" ]; then
		[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh) >>"$log" 2>&1 ||
		    die "autogen.sh failed (see $log)"
		(cd "$bdir" && "$top/configure") >>"$log" 2>&1 ||
		    die "configure failed (see $log)"
	fi
	rm -f "$bdir"/ctguard-*.tar.gz
	(cd "$bdir" && make dist) >>"$log" 2>&1 || die "make dist failed (see $log)"
	tarball=$(ls "$bdir"/ctguard-*.tar.gz 2>/dev/null | head -n 1)
	[ -n "$tarball" ] || die "make dist made no tarball"
	ok "make dist: ${tarball##*/}"
fi

# 2. unpack, debian/ at the top
work=$bdir/deb
rm -rf "$work" && mkdir -p "$work"
tar -xzf "$tarball" -C "$work" || die "cannot unpack $tarball"
src=$(ls -d "$work"/ctguard-*/ | head -n 1)
src=${src%/}
[ -d "$src/packaging/debian" ] || die "the tarball has no packaging/debian"
cp -r "$src/packaging/debian" "$src/debian"
ok "unpacked ${src##*/} with debian/ from packaging/debian"

# 3. build
if (cd "$src" && dpkg-buildpackage -us -uc -b) >>"$log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	tail -n 30 "$log"
	die "dpkg-buildpackage failed (see $log)"
fi
deb=$(ls "$work"/ctguard_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
changes=$(ls "$work"/ctguard_*.changes 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "no .deb built"

# 4. lintian
if command -v lintian >/dev/null; then
	lintian --info --display-info --fail-on error "$changes" >"$bdir/lintian.txt" 2>&1
	rc=$?
	sed 's/^/# /' "$bdir/lintian.txt"
	nerr=$(grep -c '^E: ' "$bdir/lintian.txt")
	nwarn=$(grep -c '^W: ' "$bdir/lintian.txt")
	if [ "$rc" -eq 0 ] && [ "$nerr" -eq 0 ]; then
		ok "lintian: no errors ($nwarn warnings, listed above)"
	else
		nok "lintian: $nerr errors (exit $rc)"
	fi
else
	nok "lintian not installed (apt-get install lintian)"
fi

# 5. contents
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$bdir/contents.txt"
missing=
for f in /usr/sbin/ctguardd /usr/bin/ctguard /usr/sbin/ctguard-setup \
    /usr/libexec/ctguard/ctguard-rules \
    /etc/ctguard/ctguard.conf /etc/ctguard/rules/default.rules \
    /etc/ctguard/rules/stateful-only.rules /etc/ctguard/rules/host.rules \
    /etc/ctguard/rules/example.rules /etc/ctguard/rules.d/ /etc/default/ctguard \
    /usr/share/ctguard/schema.sql /var/lib/ctguard/ \
    /lib/systemd/system/ctguardd.service /lib/systemd/system/ctguard-rules.service \
    /lib/systemd/system/ctguard-metrics.service /lib/systemd/system/ctguard-metrics.timer \
    /usr/lib/sysusers.d/ctguard.conf /usr/lib/tmpfiles.d/ctguard.conf \
    /usr/share/bash-completion/completions/ctguard \
    /etc/fail2ban/action.d/ctguard.conf \
    /usr/share/ctguard/grafana/ctguard-dashboard.json \
    /usr/share/man/man8/ctguardd.8.gz /usr/share/man/man8/ctguard.8.gz \
    /usr/share/man/man8/ctguard-setup.8.gz /usr/share/man/man5/ctguard.conf.5.gz \
    /usr/share/man/man5/ctguard.rules.5.gz; do
	grep -qx -- "$f" "$bdir/contents.txt" || missing="$missing $f"
done
if [ -z "$missing" ]; then
	ok "package holds daemon, CLI, setup helper, units, configuration, schema, man pages, completion"
else
	nok "missing from the package:$missing"
fi
dpkg-deb -I "$deb" conffiles >"$bdir/conffiles.txt" 2>/dev/null
if grep -qx /etc/ctguard/ctguard.conf "$bdir/conffiles.txt" &&
    grep -qx /etc/ctguard/rules/default.rules "$bdir/conffiles.txt" &&
    grep -qx /etc/default/ctguard "$bdir/conffiles.txt" &&
    grep -qx /etc/fail2ban/action.d/ctguard.conf "$bdir/conffiles.txt"; then
	ok "configuration and rulesets are conffiles"
else
	nok "conffiles: $(tr '\n' ' ' <"$bdir/conffiles.txt")"
fi
depends=$(dpkg-deb -f "$deb" Depends)
echo "# Depends: $depends"
bad=
for d in $(printf '%s\n' "$depends" | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g'); do
	[ -n "$(apt-cache policy "$d" 2>/dev/null | sed -n 's/^ *Candidate: //p' |
	    grep -v '(none)')" ] || dpkg -s "$d" >/dev/null 2>&1 || bad="$bad $d"
done
if printf '%s' "$depends" | grep -q iptables && printf '%s' "$depends" | grep -q libnetfilter-queue1 &&
    [ -z "$bad" ]; then
	ok "Depends has iptables and the shared libraries, all available"
else
	nok "Depends '$depends' (unavailable:${bad:- none})"
fi

# ctguardd -t of the installed binary with the installed configuration.
xroot=$bdir/xroot
rm -rf "$xroot" && mkdir -p "$xroot"
dpkg -x "$deb" "$xroot"
if "$xroot/usr/sbin/ctguardd" -t -c "$xroot/etc/ctguard/ctguard.conf" >"$bdir/t.out" 2>&1 &&
    grep -q "$xroot/etc/ctguard/ctguard.conf and [1-9][0-9]* rules OK" "$bdir/t.out"; then
	ok "installed ctguardd -t accepts the installed ctguard.conf and rules ($(sed 's/.* and //' "$bdir/t.out"))"
else
	nok "installed ctguardd -t: $(cat "$bdir/t.out")"
fi
"$xroot/usr/sbin/ctguardd" -t -v -c "$xroot/etc/ctguard/ctguard.conf" >"$bdir/tv.out" 2>/dev/null
if grep -q "\"$xroot/etc/ctguard/rules/default.rules\"" "$bdir/tv.out"; then
	ok "the installed configuration loads /etc/ctguard/rules/default.rules"
else
	nok "the installed configuration does not name the installed default.rules"
fi
for u in ctguardd ctguard-rules; do
	if grep -q "^ExecStart=/usr/" "$xroot/lib/systemd/system/$u.service" &&
	    ! grep -q '@[a-z]*dir@' "$xroot/lib/systemd/system/$u.service"; then
		ok "$u.service names the installed paths"
	else
		nok "$u.service has unsubstituted or wrong paths"
	fi
done

# dpkg --root: a throwaway root with only a dpkg database; maintainer
# scripts run chrootless with DPKG_ROOT set.
droot=$bdir/droot
rm -rf "$droot" && mkdir -p "$droot/var/lib/dpkg/info" "$droot/var/lib/dpkg/updates" "$droot/etc"
touch "$droot/var/lib/dpkg/status"
if dpkg --root="$droot" --force-depends --force-script-chrootless -i "$deb" \
    >"$bdir/dpkg-root.log" 2>&1; then
	ok "dpkg --root installs the package (maintainer scripts ran)"
else
	nok "dpkg --root install failed: $(tail -n 5 "$bdir/dpkg-root.log" | tr '\n' ' ')"
fi
if grep -q '^ctguard:' "$droot/etc/passwd" 2>/dev/null && grep -q '^ctguard:' "$droot/etc/group"; then
	ok "postinst created user and group ctguard (sysusers.d)"
else
	nok "no ctguard user in the root after install"
fi
if [ -d "$droot/var/lib/ctguard" ] &&
    [ "$(stat -c %a "$droot/var/lib/ctguard")" = 750 ]; then
	ok "state directory /var/lib/ctguard is mode 750 (tmpfiles.d)"
else
	nok "state directory: $(stat -c '%a %U:%G' "$droot/var/lib/ctguard" 2>&1)"
fi
if "$droot/usr/sbin/ctguardd" -t -c "$droot/etc/ctguard/ctguard.conf" >/dev/null 2>&1; then
	ok "ctguardd -t in the dpkg --root tree accepts its configuration"
else
	nok "ctguardd -t in the dpkg --root tree fails"
fi
if dpkg --root="$droot" --force-script-chrootless --purge ctguard >>"$bdir/dpkg-root.log" 2>&1 &&
    [ ! -e "$droot/usr/sbin/ctguardd" ] && [ ! -e "$droot/etc/ctguard/ctguard.conf" ]; then
	ok "dpkg --purge removes binaries and conffiles"
else
	nok "dpkg --purge: $(tail -n 5 "$bdir/dpkg-root.log" | tr '\n' ' ')"
fi

echo "# package: $deb"
[ "$fails" -eq 0 ]
