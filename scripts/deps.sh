#!/bin/sh
# Install what building and testing ftpgate needs (Debian 12).  Does
# nothing for packages already present; needs root (or sudo) otherwise.
set -eu
PKGS="build-essential autoconf automake pkg-config libssl-dev libpcre2-dev libinih-dev check
      clang vsftpd python3-pyftpdlib python3-openssl openssl curl lftp socat iproute2 procps"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# vsftpd's package starts a system instance on port 21; tests run their own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now vsftpd >/dev/null 2>&1 || true; fi
