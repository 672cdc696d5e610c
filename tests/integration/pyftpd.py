#!/usr/bin/python3
"""Minimal pyftpdlib backend for the ftpgate integration tests.

One user with full permissions, rooted in --root; listens on --host/--port
(IPv4 or IPv6 literal).  Runs in the foreground until SIGTERM."""
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
    args = ap.parse_args()

    logging.basicConfig(filename=args.log, level=logging.INFO,
                        format="%(asctime)s %(message)s")
    auth = DummyAuthorizer()
    auth.add_user(args.user, args.password, args.root, perm="elradfmwMT")

    handler = FTPHandler
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
