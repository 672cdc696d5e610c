#!/bin/bash
# ftpgate side-by-side benchmark: RETR and STOR of one large file through
#   direct     curl -> vsftpd
#   ftpgate    curl -> src/ftpgate -> vsftpd
#   mod_proxy  curl -> ProFTPD mod_proxy (reverse) -> vsftpd
# interleaved round by round.  Loopback (127.0.0.1) only.
# With --tls (or BENCH_TLS=1) every path is explicit FTPS with PROT P on both
# legs: vsftpd requires TLS, curl runs with --ssl-reqd, both proxies speak TLS
# to the client and to vsftpd; certificates come from a throwaway CA made with
# the openssl CLI in the temp dir.
#
# With --pinned (or BENCH_PIN=1) the proxy gets CPUs of its own, as a DMZ
# gateway host would: curl, vsftpd and the bench run on the first half of the
# CPUs (CPU 0 of 2), every proxy on the other half; direct uses only the
# first half too.  The default shares all CPUs between all processes.
#
# Usage: bench/run.sh [--quick] [--tls] [--pinned]
# Environment:
#   BENCH_MB=1024        file size in MiB            (--quick: 128)
#   BENCH_ROUNDS=3       rounds                      (--quick: 1)
#   FTPGATE=PATH         ftpgate binary (default: src/ftpgate of this tree;
#                        missing -> the column is n/a)
#   BENCH_PATHS="direct ftpgate mod_proxy"  which paths to run
#   BENCH_CACHE=/var/cache/ftpgate-bench    downloaded .debs + extracted tree
#   BENCH_KEEP=1         keep the temp dir (configs, logs) for inspection
#   BENCH_TLS=1          same as --tls
#   BENCH_PIN=1          same as --pinned
#   BENCH_MODPROXY_TLS=1.2  mod_proxy's backend TLS leg: 1.2 (pinned, the
#                        default: its uploads fail on a TLS 1.3 backend leg)
#                        or 1.3 (TLSv1.2 and TLSv1.3 allowed)
#
# Needs root on Debian 12; installs what is missing with apt-get.  vsftpd is
# used from /usr/sbin/vsftpd when present; ProFTPD is never installed as a
# package (the FTP servers conflict): its .debs are downloaded and unpacked
# into $BENCH_CACHE/root and its library dependencies installed with apt-get.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) export BENCH_MB=${BENCH_MB_QUICK:-128} BENCH_ROUNDS=1 ;;
	--tls) export BENCH_TLS=1 ;;
	--pinned) export BENCH_PIN=1 ;;
	*)
		echo "usage: $0 [--quick] [--tls] [--pinned]" >&2
		exit 2
		;;
	esac
	shift
done
case ${BENCH_TLS:-0} in
0 | "") export BENCH_TLS=0 ;;
1) ;;
*)
	echo "run.sh: BENCH_TLS must be 0 or 1" >&2
	exit 2
	;;
esac
case ${BENCH_PIN:-0} in
0 | "") export BENCH_PIN=0 ;;
1)
	if (($(nproc) < 2)); then
		echo "run.sh: --pinned needs at least 2 CPUs" >&2
		exit 2
	fi
	;;
*)
	echo "run.sh: BENCH_PIN must be 0 or 1" >&2
	exit 2
	;;
esac
case ${BENCH_MODPROXY_TLS:=1.2} in
1.2 | 1.3) export BENCH_MODPROXY_TLS ;;
*)
	echo "run.sh: BENCH_MODPROXY_TLS must be 1.2 or 1.3" >&2
	exit 2
	;;
esac
export BENCH_MB=${BENCH_MB:-1024}
export BENCH_ROUNDS=${BENCH_ROUNDS:-3}
export FTPGATE=${FTPGATE:-$top/src/ftpgate}
cache=${BENCH_CACHE:-/var/cache/ftpgate-bench}
export BENCH_CACHE=$cache

if [[ $(id -u) -ne 0 ]]; then
	echo "run.sh: must run as root (daemons bind, chroot and drop privileges)" >&2
	exit 1
fi

log() { echo "run.sh: $*" >&2; }

# ---- apt helpers (bounded; wait for a locked dpkg/apt) --------------------
export DEBIAN_FRONTEND=noninteractive
apt_updated=0

# apt_run CMD... : retry while another process holds the apt/dpkg lock.
apt_run() {
	local try out rc
	for try in $(seq 1 30); do
		set +e
		out=$(timeout 900 "$@" -o DPkg::Lock::Timeout=60 2>&1)
		rc=$?
		set -e
		if [[ $rc -eq 0 ]]; then
			return 0
		fi
		if grep -qiE 'could not get lock|unable to lock|is another process using it' <<<"$out"; then
			log "apt is locked by another process; retry $try/30 in 10 s"
			sleep 10
			continue
		fi
		echo "$out" | tail -20 >&2
		return $rc
	done
	log "gave up waiting for the apt lock"
	return 1
}

apt_update_once() {
	if [[ $apt_updated -eq 0 ]]; then
		log "apt-get update"
		apt_run apt-get update -q
		apt_updated=1
	fi
}

pkg_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

# apt_install PKG... : install those not yet installed.
apt_install() {
	local want=() p
	for p in "$@"; do
		pkg_installed "$p" || want+=("$p")
	done
	[[ ${#want[@]} -eq 0 ]] && return 0
	log "apt-get install ${want[*]}"
	if ! apt_run apt-get install -y -q --no-install-recommends "${want[@]}"; then
		apt_update_once
		apt_run apt-get install -y -q --no-install-recommends "${want[@]}"
	fi
}

# unpack_debs DIR PKG... : apt-get download PKGs into $cache/debs, dpkg -x
# them into DIR, and install their library dependencies (not the packages).
unpack_debs() {
	local dir=$1 p f deps=() d
	shift
	mkdir -p "$cache/debs" "$dir"
	for p in "$@"; do
		if ! compgen -G "$cache/debs/${p}_*.deb" >/dev/null; then
			log "apt-get download $p"
			if ! (cd "$cache/debs" && apt_run apt-get download "$p"); then
				apt_update_once
				(cd "$cache/debs" && apt_run apt-get download "$p")
			fi
		fi
	done
	for p in "$@"; do
		f=$(find "$cache/debs" -maxdepth 1 -name "${p}_*.deb" | sort -V | tail -1)
		dpkg -x "$f" "$dir"
		# Depends: a, b (>= 1), c | d  -> first alternative, names only
		while read -r d; do
			case $d in
			proftpd-*|vsftpd|libpam-runtime|libpam-modules) ;;
			lib*|zlib*) deps+=("$d") ;;
			esac
		done < <(dpkg-deb -f "$f" Depends | tr ',' '\n' |
			sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/^[[:space:]]+//; s/[[:space:]]+$//')
	done
	if [[ ${#deps[@]} -gt 0 ]]; then
		mapfile -t deps < <(printf '%s\n' "${deps[@]}" | sort -u)
		apt_install "${deps[@]}"
	fi
}

# ---- what the benchmark needs ----------------------------------------------
[[ -x /usr/bin/python3 ]] || apt_install python3
command -v curl >/dev/null || apt_install curl
command -v dpkg-deb >/dev/null || apt_install dpkg
if [[ $BENCH_TLS == 1 ]]; then
	command -v openssl >/dev/null || apt_install openssl
fi

if [[ -z ${VSFTPD:-} ]]; then
	if [[ -x /usr/sbin/vsftpd ]]; then
		VSFTPD=/usr/sbin/vsftpd
	else
		unpack_debs "$cache/root" vsftpd
		VSFTPD=$cache/root/usr/sbin/vsftpd
	fi
fi
export VSFTPD
# vsftpd's anonymous account: it changes into the user's home before anon_root,
# so the home must exist (Debian's vsftpd postinst creates the same user).
if ! getent passwd ftp >/dev/null; then
	log "creating system user ftp (home /srv/ftp) for vsftpd anonymous logins"
	mkdir -p /srv/ftp
	useradd --system --home-dir /srv/ftp --no-create-home --shell /usr/sbin/nologin \
		--user-group ftp
fi
ftp_home=$(getent passwd ftp | cut -d: -f6)
[[ -d $ftp_home ]] || mkdir -p "$ftp_home"

paths=${BENCH_PATHS:-direct ftpgate mod_proxy}
export BENCH_PATHS=$paths
export PROFTPD_ROOT=""
if [[ " $paths " == *" mod_proxy "* ]]; then
	if [[ -x $cache/root/usr/sbin/proftpd && -f $cache/root/usr/lib/proftpd/mod_proxy.so ]] &&
		! ldd "$cache/root/usr/sbin/proftpd" "$cache/root/usr/lib/proftpd/mod_proxy.so" \
			"$cache/root/usr/lib/proftpd/mod_tls.so" | grep -q 'not found'; then
		:
	else
		unpack_debs "$cache/root" proftpd-core proftpd-mod-proxy proftpd-mod-crypto
	fi
	if ldd "$cache/root/usr/sbin/proftpd" "$cache/root/usr/lib/proftpd/mod_proxy.so" \
		"$cache/root/usr/lib/proftpd/mod_tls.so" | grep 'not found' >&2; then
		log "ProFTPD libraries missing; mod_proxy column will be n/a"
	else
		export PROFTPD_ROOT=$cache/root
	fi
fi

# ---- run (bench.py stops its daemons itself; this trap is the safety net) --
state=$(mktemp -d /dev/shm/ftpgate-bench.XXXXXX)
chmod 755 "$state"
export BENCH_STATE=$state
py_pid=""

# shellcheck disable=SC2317  # invoked by trap
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [[ -n $py_pid ]] && kill -0 "$py_pid" 2>/dev/null; then
		kill -TERM "$py_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$py_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$py_pid" 2>/dev/null || true
	fi
	# Daemons bench.py recorded (one PID a line) and still alive: stop them.
	if [[ -f $state/pids ]]; then
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			kill -TERM "$pid" 2>/dev/null || true
		done <"$state/pids"
		sleep 0.5
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			kill -KILL "$pid" 2>/dev/null || true
		done <"$state/pids"
	fi
	if [[ -z ${BENCH_KEEP:-} ]]; then
		rm -rf "$state"
	else
		log "kept $state"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

/usr/bin/python3 "$here/bench.py" &
py_pid=$!
set +e
wait "$py_pid"
rc=$?
set -e
py_pid=""
exit $rc
