#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package, built from the release tarball as packaging/build-deb.sh
# does: dpkg-buildpackage, lintian without errors, the contents, conffiles
# and dependencies, installation into a throwaway root with dpkg --root,
# and the installed ctguardd -t on the installed configuration.
# Takes a minute or two. The tarball is made from $builddir's distdir
# target into a temporary directory, so the build tree stays clean.
# Without dpkg-buildpackage or debhelper: skipped (exit 77), a failure
# under CI=true.
set -u
srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${builddir:-.}

need=
for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || need="$need $t"
done
if [ -n "$need" ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok - missing:$need (apt-get install dpkg-dev debhelper lintian)"
		exit 1
	fi
	echo "missing:$need: skipped (apt-get install dpkg-dev debhelper lintian)"
	exit 77
fi
if [ ! -f "$builddir/Makefile" ]; then
	echo "not ok - $builddir is not a configured build directory"
	exit 1
fi

tmp=$(mktemp -d /tmp/ctg-pkg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
version=$(sed -n 's/^PACKAGE_VERSION = //p' "$builddir/Makefile")
dist=ctguard-$version
if ! make -C "$builddir" distdir distdir="$tmp/$dist" >"$tmp/dist.log" 2>&1 ||
    ! tar -C "$tmp" -czf "$tmp/$dist.tar.gz" "$dist"; then
	echo "not ok - make distdir failed: $(tail -n 5 "$tmp/dist.log" | tr '\n' ' ')"
	exit 1
fi
rm -rf "${tmp:?}/$dist"
bash "$srcdir/packaging/build-deb.sh" --tarball "$tmp/$dist.tar.gz" "$tmp/build"
