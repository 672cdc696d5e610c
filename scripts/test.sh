#!/bin/sh
# Build ftpgate and run the whole test suite twice: a normal build (build/)
# and an AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer build
# (build-san/).  Each pass runs the unit tests (Check), the banned-call check
# and the integration tests with real servers and clients.
# FTPGATE_NO_SANITIZERS=1 skips the second pass.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh

suite() {
	dir=$1
	shift
	echo "=== $dir: configure $*"
	scripts/build.sh "$dir" "$@"
	if ! (cd "$dir" && make check); then
		cat "$dir/test-suite.log" 2>/dev/null || true
		echo "=== $dir: FAILED"
		return 1
	fi
}

suite build
if [ "${FTPGATE_NO_SANITIZERS:-0}" != 1 ]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		suite build-san --enable-sanitizers
fi
echo "=== all tests passed"
