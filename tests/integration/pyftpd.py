#!/usr/bin/python3
"""Minimal pyftpdlib backend for the ftpgate integration tests.

One user with full permissions, rooted in --root; listens on --host/--port
(IPv4 or IPv6 literal); explicit FTPS with --tls-cert/--tls-key.  Runs in the
foreground until SIGTERM."""
import argparse
import logging
import signal
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--user", default="test")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--log", help="log file (default: stderr)")
    # pyftpdlib's own login limits (defaults: 3 s delay, 3 attempts); the
    # login-limit tests turn them off so that only the proxy's act.
    ap.add_argument("--auth-failed-delay", type=float, default=3.0)
    ap.add_argument("--max-login-attempts", type=int, default=3)
    # FTPS (explicit, AUTH TLS): needs python3-openssl (pyftpdlib's TLS_FTPHandler).
    ap.add_argument("--tls-cert", help="PEM certificate chain: serve explicit FTPS")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    ap.add_argument("--tls-required", action="store_true",
                    help="refuse USER before AUTH TLS and data without PROT P")
    args = ap.parse_args()

    logging.basicConfig(filename=args.log, level=logging.INFO,
                        format="%(asctime)s %(message)s")
    auth = DummyAuthorizer()
    auth.add_user(args.user, args.password, args.root, perm="elradfmwMT")

    handler = FTPHandler
    if args.tls_cert:
        from pyftpdlib.handlers import TLS_FTPHandler
        handler = TLS_FTPHandler
        handler.certfile = args.tls_cert
        handler.keyfile = args.tls_key
        handler.tls_control_required = args.tls_required
        handler.tls_data_required = args.tls_required
    handler.authorizer = auth
    handler.banner = "pyftpdlib test backend ready."
    # Never let a stuck test keep a session forever.
    handler.timeout = 120
    handler.auth_failed_timeout = args.auth_failed_delay
    handler.max_login_attempts = args.max_login_attempts

    server = FTPServer((args.host, args.port), handler)
    server.max_cons = 512
    server.max_cons_per_ip = 0

    def stop(signum, frame):
        server.close_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever(timeout=0.5)


if __name__ == "__main__":
    main()
