#!/bin/sh
# Integration tests: real FTP servers (vsftpd, pyftpdlib), real clients (curl,
# lftp, Python ftplib) and src/ftpgate in between.  Run by `make check`.
#
#   tests/integration/run.sh [--direct] [-k SUBSTRING] ...
#
# --direct runs the same tests against the backends without the proxy (to
# validate the tests themselves).  Needs root (vsftpd chroots); installs the
# tools it needs with apt-get when one is missing.
set -u

here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3   # the system Python: pyftpdlib is a Debian package

missing=""
[ -x /usr/sbin/vsftpd ] || missing="$missing vsftpd"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v lftp >/dev/null 2>&1 || missing="$missing lftp"
command -v socat >/dev/null 2>&1 || missing="$missing socat"
if [ ! -x "$python" ] || ! "$python" -c 'import pyftpdlib' >/dev/null 2>&1; then
	missing="$missing python3-pyftpdlib"
fi
# pyftpdlib's TLS_FTPHandler (the FTPS pyftpdlib backend of t_tls.py)
if [ ! -x "$python" ] || ! "$python" -c 'import OpenSSL' >/dev/null 2>&1; then
	missing="$missing python3-openssl"
fi
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "run.sh: missing:$missing (install them, or run as root on Debian)" >&2
		exit 1
	fi
	echo "run.sh: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	apt-get install -y $missing >&2 ||
		{ apt-get update >&2 && apt-get install -y $missing >&2; } ||
		{ echo "run.sh: apt-get install$missing failed" >&2; exit 1; }
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: must run as root (vsftpd needs chroot; ftpgate binds and drops privileges)" >&2
	exit 1
fi

exec "$python" "$here/itest.py" --ftpgate "${top_builddir:-.}/src/ftpgate" "$@"
