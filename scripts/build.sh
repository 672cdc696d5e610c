#!/bin/sh
# Configure and build ftpgate in the source tree (extra configure flags as arguments).
set -eu
cd "$(dirname "$0")/.."
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || autoreconf -fi
./configure --enable-werror "$@"
make -j"$(nproc)"
