#!/bin/sh
# Build ftpgate and start it in front of a local demo FTP server
# (pyftpdlib on 127.0.0.1:2121, user demo / password demo), listening on
# 127.0.0.1:2100 (plain FTP or explicit FTPS) and 127.0.0.1:2990 (implicit
# FTPS) with a throwaway certificate.  Ctrl-C stops both.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
demo=$(mktemp -d /tmp/ftpgate-demo.XXXXXX)
mkdir -p "$demo/files"
echo "hello from the demo FTP server behind ftpgate" > "$demo/files/hello.txt"
chmod -R a+rwX "$demo"
# A throwaway certificate for FTPS (read by ftpgate's master only).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
	-subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" \
	-keyout "$demo/key.pem" -out "$demo/cert.pem" 2>/dev/null
chmod 600 "$demo/key.pem"
cat > "$demo/ftpgate.conf" <<CONF
[global]
user = nobody
spare_sessions = 2

[listener demo]
listen = 127.0.0.1:2100, [::1]:2100
backend = demo
passive_ports = 50000-50099
; plain FTP, or FTPS after AUTH TLS
tls = explicit
tls_cert = $demo/cert.pem
tls_key = $demo/key.pem

[listener demo-implicit]
listen = 127.0.0.1:2990
backend = demo
passive_ports = 50100-50199
tls = implicit
tls_cert = $demo/cert.pem
tls_key = $demo/key.pem

[backend demo]
servers = 127.0.0.1:2121
CONF
/usr/bin/python3 tests/integration/pyftpd.py --host 127.0.0.1 --port 2121 \
	--root "$demo/files" --user demo --password demo >"$demo/backend.log" 2>&1 &
backend=$!
trap 'kill $backend 2>/dev/null; wait $backend 2>/dev/null; rm -rf "$demo"' EXIT INT TERM
sleep 1
cat <<MSG
ftpgate is listening on 127.0.0.1:2100 (and [::1]:2100) in front of a demo
FTP server on 127.0.0.1:2121 (files in $demo/files).  Try:

    curl -u demo:demo ftp://127.0.0.1:2100/
    curl -u demo:demo ftp://127.0.0.1:2100/hello.txt
    curl -u demo:demo -T README.md ftp://127.0.0.1:2100/
    lftp -u demo,demo 127.0.0.1:2100
    curl --ssl-reqd --cacert $demo/cert.pem -u demo:demo ftp://127.0.0.1:2100/hello.txt
    curl --cacert $demo/cert.pem -u demo:demo ftps://127.0.0.1:2990/hello.txt

Press Ctrl-C to stop.
MSG
build/src/ftpgate -n -f "$demo/ftpgate.conf" || true
