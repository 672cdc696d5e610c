#!/usr/bin/python3
"""Stand-in for systemd socket activation (the integration tests' launcher).

    sdlaunch.py HOST PORT PIDFILE PROGRAM [ARG ...]

Binds and listens on HOST:PORT, forks; the child gets the socket as fd 3,
LISTEN_FDS=1 and LISTEN_PID=<its own pid>, and execs PROGRAM.  The parent
keeps its copy of the socket (so the port stays taken: a PROGRAM that ignored
fd 3 and bound HOST:PORT itself would get EADDRINUSE), writes the child's pid
to PIDFILE, and waits for the child; SIGTERM is passed on to the child
(bounded: SIGKILL after 10 s)."""
import os
import signal
import socket
import sys
import time


def main():
    host, port, pidfile, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, port))
    s.listen(64)
    child = []  # set before the fork: a SIGTERM can come at any time

    def on_term(signum, frame):
        if not child:
            sys.exit(0)
        pid = child[0]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                sys.exit(0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    pid = os.fork()
    if pid == 0:
        try:
            if s.fileno() != 3:
                os.dup2(s.fileno(), 3)
            os.set_inheritable(3, True)  # dup2(3, 3) would keep FD_CLOEXEC
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    child.append(pid)
    with open(pidfile + ".tmp", "w") as f:
        f.write("%d\n" % pid)
    os.rename(pidfile + ".tmp", pidfile)

    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) & 0xff)


if __name__ == "__main__":
    main()
