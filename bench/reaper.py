#!/usr/bin/python3
"""reaper.py PROGRAM ARGS... : run PROGRAM as our child with us as its child
subreaper (prctl PR_SET_CHILD_SUBREAPER), reap every process that ends up
ours, and exit with PROGRAM's status.

Why: the benchmark charges a daemon with the CPU of its whole process tree,
read from /proc/PID/stat (utime, stime, cutime, cstime).  A process that
exits without being waited for by a parent inside the tree (a session's
helper orphaned when its parent exits first; vsftpd does this) would
reparent to init and take its CPU with it.  Under this wrapper it is reaped
here, so its time lands in our cutime/cstime and the tree stays complete.
SIGTERM/SIGINT/SIGHUP are forwarded to PROGRAM.
"""

import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def main():
    argv = sys.argv[1:]
    if not argv:
        print("usage: reaper.py PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("reaper.py: prctl: %s" % os.strerror(ctypes.get_errno()), file=sys.stderr)
        return 1
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except OSError:
            pass
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)

    status = None
    while status is None:
        try:
            p, st = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        if p == pid:
            status = st
    # PROGRAM is gone: reap what is left for a short while, then leave it
    # (the benchmark kills leftovers by PID).
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            p, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if p == 0:
            time.sleep(0.05)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status)


if __name__ == "__main__":
    sys.exit(main())
