#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build ctguard with AddressSanitizer + UBSan and warnings as errors, run
# every test (`make check`), run each fuzzer briefly over its seed corpus,
# check the release tarball (`make distcheck`), and print one line:
# "N passed, N failed, N skipped", counting every test case of every test
# program automake ran (its .trs results, in every folder), the fuzzers,
# the package test and distcheck. Every skip is printed by name; under
# CI=true a skip is a failure.
# Dependencies: see packaging/build-deps.txt (the README's one-liner installs them).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 skipped=0
fail_notes=()

skip_notes=()

note_fail() { failed=$((failed + 1)); fail_notes+=("$1"); }
# note_skip WHAT: one test case that did not run.
note_skip() {
	if [ "${CI:-}" = true ]; then
		note_fail "skipped under CI=true: $1"
	else
		skipped=$((skipped + 1))
		skip_notes+=("$1")
	fi
}

# The public captures for the replay regression suite live beside the checkout.
if [ -z "${CTG_CORPUS:-}" ] && [ -d "$top/../shared/corpus" ]; then
	CTG_CORPUS=$(cd "$top/../shared/corpus" && pwd)
	export CTG_CORPUS
fi

./autogen.sh >/tmp/ctguard-autogen.log 2>&1 || { cat /tmp/ctguard-autogen.log; echo "0 passed, 1 failed"; exit 1; }

rm -rf build && mkdir build && cd build
if ! ../configure --enable-sanitizers --enable-werror >configure.out 2>&1; then
	cat configure.out; echo "0 passed, 1 failed"; exit 1
fi
tail -n 20 configure.out
if ! make -j"$jobs" >make.out 2>&1; then
	grep -E 'error|Error' make.out | head -50; echo "0 passed, 1 failed"; exit 1
fi

# Leaks inside libconfig 1.5 on some syntax errors are upstream's (fixed in 1.7.3).
export LSAN_OPTIONS="suppressions=$top/tests/kit/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
make -j"$jobs" check >check.out 2>&1
check_rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' check.out

# Count test cases, for every test program automake ran, in every folder
# (one .trs per program, cross-checked with test-suite.log's total): Check's
# own summary of a unit-test program, the "ok - " / "not ok - " lines of a
# script test; "ok - ... # SKIP" lines are skips, not passes. A program
# that reported nothing is one case; one that exited 77 (automake: SKIP)
# without naming its skipped cases is one skipped case.
mapfile -t trs_files < <(find . -name '*.trs' | sort)
total=$(sed -n 's/^# TOTAL: *//p' test-suite.log 2>/dev/null | head -n1)
if [ "${#trs_files[@]}" -eq 0 ] || [ "${#trs_files[@]}" != "${total:-}" ]; then
	note_fail "make check: ${#trs_files[@]} test results (.trs) found, test-suite.log says ${total:-nothing} (see build/check.out)"
fi
for trs in "${trs_files[@]}"; do
	log="${trs%.trs}.log"
	name=${trs#./}
	name=${name%.trs}
	result=$(sed -n 's/^:test-result: //p' "$trs" | head -n1)
	cases=0 bad=0
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n1)
	if [ -n "$line" ]; then
		n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
		f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
		e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
		passed=$((passed + n - f - e))
		cases=$n bad=$((f + e))
		[ "$bad" -gt 0 ] && fail_notes+=("$name: $f failures, $e errors")
	else
		ok=$(grep '^ok - ' "$log" | grep -vc '# SKIP')
		nok=$(grep -c '^not ok - ' "$log")
		passed=$((passed + ok))
		cases=$((ok + nok)) bad=$nok
		[ "$nok" -gt 0 ] && fail_notes+=("$name: $nok checks failed")
	fi
	failed=$((failed + bad))
	nskip=0
	while IFS= read -r l; do
		nskip=$((nskip + 1))
		note_skip "$name: ${l#ok - }"
	done < <(grep -E '^ok - .*# SKIP' "$log")
	case $result in
	PASS)
		[ $((cases + nskip)) -eq 0 ] && passed=$((passed + 1)) ;;
	SKIP)
		[ "$nskip" -eq 0 ] && note_skip "$name: $(grep -m1 -E '^# SKIP|skipped' "$log" || tail -n1 "$log")" ;;
	*)
		[ "$bad" -eq 0 ] && note_fail "$name: $result without a failing check (see build/$name.log)" ;;
	esac
done
if [ $check_rc -ne 0 ] && [ $failed -eq 0 ]; then
	note_fail "make check failed (see build/check.out)"
fi

# Fuzzers: a short run of each over its seed corpus (tests/fuzz/corpus/NAME),
# built with clang, with leak detection on: tests/kit/lsan.supp (LSAN_OPTIONS
# above) suppresses only libconfig 1.5's scanner leak. A fuzzer whose corpus is
# missing, or that does not report its runs, fails like a crash.
FUZZERS="packet config rules linkoff snapshot tracker ctlfilter syncmsg"
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
cd "$top"
if command -v clang >/dev/null; then
	rm -rf build-fuzz && mkdir build-fuzz && cd build-fuzz
	fuzz_targets=
	for f in $FUZZERS; do fuzz_targets="$fuzz_targets tests/fuzz/fuzz_$f"; done
	# shellcheck disable=SC2086 # a list of make targets
	if ../configure CC=clang --enable-fuzz --enable-sanitizers >configure.out 2>&1 &&
	    make -j"$jobs" $fuzz_targets >make.out 2>&1; then
		for f in $FUZZERS; do
			mkdir -p "corpus-$f"
			if ! ls "$top/tests/fuzz/corpus/$f"/* >/dev/null 2>&1; then
				note_fail "fuzz_$f: no seed corpus in tests/fuzz/corpus/$f"
			elif ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
			    timeout $((FUZZ_SECONDS * 3 + 60)) "./tests/fuzz/fuzz_$f" \
			    -max_total_time="$FUZZ_SECONDS" -artifact_prefix="crash-$f-" \
			    "corpus-$f" "$top/tests/fuzz/corpus/$f" >"fuzz_$f.out" 2>&1 &&
			    grep -Eq 'Done [0-9]+ runs' "fuzz_$f.out"; then
				echo "ok - fuzz_$f: $(grep -Eo 'Done [0-9]+ runs' "fuzz_$f.out" | tail -n1)"
				passed=$((passed + 1))
			else
				tail -n 30 "fuzz_$f.out"
				note_fail "fuzz_$f found a crash, leak or timeout (build-fuzz/fuzz_$f.out, crash-$f-*)"
			fi
		done
	else
		tail -n 30 make.out configure.out
		note_fail "fuzz build failed"
	fi
	cd "$top"
else
	for f in "$top"/tests/fuzz/fuzz_*.c; do
		note_skip "$(basename "${f%.c}"): clang not installed"
	done
fi

# The Debian package builds from the release tarball, installs into a
# throwaway root, and its ctguardd -t accepts the installed configuration.
cd "$top/build"
srcdir=$top builddir=$top/build bash "$top/tests/package/test_package.sh" >package.out 2>&1
pkg_rc=$?
grep -E '^(ok|not ok) - ' package.out
ok=$(grep '^ok - ' package.out | grep -vc '# SKIP')
nok=$(grep -c '^not ok - ' package.out)
passed=$((passed + ok))
failed=$((failed + nok))
[ "$nok" -gt 0 ] && fail_notes+=("test_package: $nok checks failed")
while IFS= read -r l; do note_skip "test_package: ${l#ok - }"; done < <(grep -E '^ok - .*# SKIP' package.out)
if [ $pkg_rc -eq 77 ]; then
	note_skip "test_package: $(tail -n1 package.out)"
elif [ $pkg_rc -ne 0 ] && [ "$nok" -eq 0 ]; then
	note_fail "test_package.sh exited $pkg_rc (see build/package.out)"
fi
cd "$top"

# The release tarball builds and passes its own tests.
if [ "${CTG_SKIP_DISTCHECK:-}" = 1 ]; then
	note_skip "make distcheck: CTG_SKIP_DISTCHECK=1"
else
	cd "$top/build"
	if make -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >distcheck.out 2>&1; then
		echo "ok - make distcheck"
		passed=$((passed + 1))
	else
		grep -E 'FAIL|ERROR|error' distcheck.out | head -30
		note_fail "make distcheck failed (see build/distcheck.out)"
	fi
	cd "$top"
fi

if [ ${#skip_notes[@]} -gt 0 ]; then
	printf 'skipped: %s\n' "${skip_notes[@]}"
fi
if [ ${#fail_notes[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${fail_notes[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
