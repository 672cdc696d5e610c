#!/bin/sh
# Configure and build ftpgate out of tree: scripts/build.sh DIR [configure flags...]
# (DIR defaults to build/).  Prints nothing but errors unless VERBOSE=1.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
# An in-tree configure blocks out-of-tree builds.
if [ -f Makefile ] && [ -f config.status ]; then make distclean >/dev/null 2>&1 || true; fi
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || autoreconf -fi >/dev/null 2>&1
mkdir -p "$dir"
cd "$dir"
if [ ! -f config.status ] || [ "$(./config.status --config)" != "$(printf "'%s' " --enable-werror "$@" | sed 's/ $//')" ]; then
	../configure --enable-werror "$@" >configure.out 2>&1 || { cat configure.out; exit 1; }
fi
make -j"$(nproc)" >make.out 2>&1 || { cat make.out; exit 1; }
