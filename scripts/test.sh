#!/bin/sh
# Build ftpgate and run the whole test suite: unit tests (Check), the
# integration tests with real servers and clients, then the same suite
# under AddressSanitizer + UndefinedBehaviorSanitizer in a separate build
# directory.  Set FTPGATE_NO_SANITIZERS=1 to skip the second pass.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
if ! make check; then
	cat test-suite.log 2>/dev/null || true
	exit 1
fi
if [ "${FTPGATE_NO_SANITIZERS:-0}" != 1 ]; then
	echo "=== sanitizer build (ASan + UBSan + LSan)"
	rm -rf build-san && mkdir build-san
	(cd build-san && ../configure --enable-werror --enable-sanitizers CC=gcc >/dev/null && make -j"$(nproc)" >/dev/null)
	if ! (cd build-san && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 make check); then
		cat build-san/test-suite.log 2>/dev/null || true
		exit 1
	fi
fi
