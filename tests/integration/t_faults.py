"""Fault injection: a backend SIGKILLed during RETR and during STOR, a session
process SIGKILLed mid-session, a client SIGKILLed mid-upload, the passive
port range exhausted, and the master out of file descriptors.

Every process is stopped by PID; the session processes killed here are
children of a proxy this test started.  Each test checks what the client
sees, what the proxy logs, and that nothing is left behind: the session
process exits, the master reaps it (no zombie), the spare pool is refilled,
the master's descriptors are back where they were, and a new session is
served."""
import os
import resource
import signal
import socket
import subprocess
import time

from itest import (MiB, PROCS, SLOW_SIZE, Failure, PyFtpd, Target, busy_children, check,
                   child_tcp, file_sha256, free_port_range, ftp_close, ftp_session, gone,
                   idle_children, listen_sock, pid_events, register, serves_small_retr, sha256,
                   start_throttled_curl, stop_proc, throttled_fixture, wait_for)
from hostile import Ctl, HProxy, cpu_ticks, fd_count, pasv_port, read_data, zombies


def login(port, user, password, host="127.0.0.1"):
    c = Ctl(host, port, timeout=10)
    r = c.reply()
    check(r and r.startswith("220"), "greeting %r" % r)
    r = c.cmd("USER " + user)
    if r and r.startswith("331"):
        r = c.cmd("PASS " + password)
    check(r and r.startswith("230"), "login: %r" % r)
    return c


def no_zombies(proxy, what):
    wait_for("zombie children of the master %s: %r" % (what, zombies(proxy.proc.pid)),
             lambda: not zombies(proxy.proc.pid), 5)


def tcp_states():
    """{(local port, remote port): state hex} of every TCP socket."""
    out = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for line in f:
                p = line.split()
                out[(int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16))] = p[3]
    return out


# ---- the backend dies mid-transfer -------------------------------------------------------

def backend_killed(env, verb):
    b = PyFtpd(env, "pyk-" + verb.lower(), "127.0.0.1")
    b.start()
    vs = env.backends["vs"]
    proxy = HProxy(env, "bk-" + verb.lower(), [("pk", b.addr(), ("127.0.0.1",)),
                                               ("vs", vs.addr(), ("127.0.0.1",))])
    c = d = None
    try:
        proxy.start()
        name = env.unique("bk")
        data = os.urandom(SLOW_SIZE)
        if verb == "RETR":
            b.put_file(name, data)
        c = login(proxy.ports["pk"], b.user, b.password)
        check(c.cmd("TYPE I").startswith("200"), "TYPE I")
        port = pasv_port(c.cmd("EPSV") or "")
        check(port, "no EPSV port")
        d = socket.create_connection(("127.0.0.1", port), timeout=10)
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        r = c.cmd("%s pub/%s" % (verb, name))
        check(r and r[:3] in ("125", "150"), "%s answered %r" % (verb, r))
        busy = wait_for("no busy session process", lambda: busy_children(proxy), 5)
        check(len(busy) == 1, "busy session processes: %r" % busy)
        pid = busy[0]
        moved = 0
        # Move 2 MiB slowly, so the backend is surely still in the middle.
        while moved < 2 * MiB:
            if verb == "RETR":
                chunk = d.recv(64 * 1024)
                check(chunk, "data ended after %d bytes, before the backend was killed" % moved)
                moved += len(chunk)
            else:
                d.sendall(data[moved:moved + 64 * 1024])
                moved += 64 * 1024
            time.sleep(0.005)
        b.proc.kill()  # SIGKILL, by PID
        b.proc.wait(5)
        killed_at = time.monotonic()
        # The client carries on as a client would, and must learn of it.
        how = "?"
        if verb == "RETR":
            rest, how = read_data(d, 20)
            moved += len(rest)
        else:
            d.settimeout(1)
            try:
                while moved < len(data) and time.monotonic() < killed_at + 20:
                    d.sendall(data[moved:moved + 64 * 1024])
                    moved += 64 * 1024
                how = "sent everything" if moved >= len(data) else "timeout"
            except (BrokenPipeError, ConnectionResetError) as e:
                how = "send failed: %s" % e.__class__.__name__
            except socket.timeout:
                how = "send blocked"
        d.close()
        d = None
        r = c.reply(20)
        check(r is not None and r[:3] in ("421", "426", "451"),
              "%s with the backend SIGKILLed after 2 MiB: final reply %r (data: %d bytes, %s); "
              "want 421, 426 or 451" % (verb, r and r[:80], moved, how))
        if verb == "RETR":
            check(moved < len(data), "the client got all %d bytes although the backend died"
                  % len(data))
        wait_for("session process %d still there after the backend died" % pid,
                 lambda: gone(pid), 10)
        evs = pid_events(proxy, pid)
        close = [e for e in evs if e["event"] == "close"]
        check(close and "backend" in close[-1].get("reason", ""),
              "the close line does not name the backend: %r" % [e["_line"] for e in evs[-2:]])
        xfer = [e for e in evs if e["event"] == "transfer"]
        check(xfer and xfer[-1].get("result") != "226",
              "the transfer was logged as %r" % [e["_line"] for e in xfer])
        no_zombies(proxy, "after the backend died")
        check(proxy.alive(), "ftpgate exited")
        serves_small_retr(env, Target("127.0.0.1", proxy.ports["vs"], vs, "bk-vs"),
                          "after a backend died")
    finally:
        for s in (c and c.sock, d):
            if s is not None:
                s.close()
        proxy.stop()
        b.stop()


register("fault_backend_killed_during_retr", lambda env: backend_killed(env, "RETR"),
         proxy_only=True)
register("fault_backend_killed_during_stor", lambda env: backend_killed(env, "STOR"),
         proxy_only=True)


# ---- a session process is killed ------------------------------------------------------

def test_session_killed(env):
    spare = 3
    vs = env.backends["vs"]
    proxy = HProxy(env, "sesskill", [("vs", vs.addr(), ("127.0.0.1",))], spare_sessions=spare)
    dls = []
    try:
        proxy.start()
        t = Target("127.0.0.1", proxy.ports["vs"], vs, "sesskill")
        name, data = throttled_fixture(env)
        outs = [os.path.join(env.files, "%s.%d" % (name, i)) for i in range(3)]
        for out in outs:
            dls.append(start_throttled_curl(t, name, out))
        busy = wait_for("3 busy session processes", lambda: len(busy_children(proxy)) == 3
                        and busy_children(proxy), 5)
        victim = busy[0]
        os.kill(victim, signal.SIGKILL)
        wait_for("session process %d still there after SIGKILL" % victim, lambda: gone(victim))
        wait_for("the master did not log the killed session process",
                 lambda: "session process %d killed by signal 9" % victim in proxy.log_text())
        wait_for("the spare pool is not back to %d (idle: %r)" % (spare, idle_children(proxy)),
                 lambda: len(idle_children(proxy)) == spare, 5)
        no_zombies(proxy, "after a session process was killed")
        rcs = []
        for dl in dls:
            try:
                rcs.append(dl.wait(30))
            except subprocess.TimeoutExpired:
                raise Failure("a download still runs 30 s after the kill")
        ok = [out for rc, out in zip(rcs, outs) if rc == 0]
        check(len(ok) == 2, "curl exit codes %r: want two successes and one failure" % rcs)
        for out in ok:
            check(file_sha256(out) == sha256(data), "a download next to the killed session differs")
        for out in outs:
            os.unlink(out)
        check(proxy.alive(), "ftpgate exited")
        serves_small_retr(env, t, "after a session process was killed")
    finally:
        for dl in dls:
            stop_proc(dl)
        proxy.stop()


register("fault_session_process_killed", test_session_killed, proxy_only=True)


# ---- the client vanishes mid-upload ---------------------------------------------------

def test_client_vanishes_upload(env):
    spare = 2
    vs = env.backends["vs"]
    proxy = HProxy(env, "vanishup", [("vs", vs.addr(), ("127.0.0.1",))], spare_sessions=spare)
    up = None
    try:
        proxy.start()
        t = Target("127.0.0.1", proxy.ports["vs"], vs, "vanishup")
        serves_small_retr(env, t, "warm-up")
        wait_for("no idle pool", lambda: not busy_children(proxy)
                 and len(idle_children(proxy)) == spare, 10)
        fds_before = fd_count(proxy.proc.pid)
        name = env.unique("vanish-up")
        src, _ = env.make_big_file(name, SLOW_SIZE)
        dest = os.path.join(vs.pub_dir, name)
        up = subprocess.Popen(["curl", "-sS", "--max-time", "60", "--limit-rate", "5M",
                               "-T", src, t.url("pub/" + name)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        PROCS.append(up)
        wait_for("the upload did not start", lambda: os.path.exists(dest)
                 and os.path.getsize(dest) > 2 * MiB, 10)
        busy = busy_children(proxy)
        check(len(busy) == 1, "busy session processes during one upload: %r" % busy)
        pid = busy[0]
        conns = child_tcp(proxy)[pid]
        check(len(conns) >= 4, "the session has %d TCP connections, want 4 (2 control, 2 data)"
              % len(conns))
        up.kill()  # SIGKILL: the client's sockets just go
        up.wait(5)
        wait_for("session process %d still there after its client was killed" % pid,
                 lambda: gone(pid), 10)
        # Its four connections are closed at both ends: neither the session's
        # socket nor its peer's (the backend's, for the backend legs) is
        # still ESTABLISHED or waiting to close (CLOSE_WAIT).
        def left():
            st = tcp_states()
            return [(c, st.get(k)) for c in conns for k in (c, c[::-1])
                    if st.get(k) in ("01", "08")]
        wait_for("connections of the dead session still open", lambda: not left(), 5)
        evs = pid_events(proxy, pid)
        check(evs and evs[-1]["event"] == "close" and evs[-1].get("reason"),
              "no close line with a reason: %r" % [e["_line"] for e in evs[-2:]])
        check("client" in evs[-1]["reason"], "the close reason does not name the client: %s"
              % evs[-1]["_line"])
        # The log records how much came through.  (Whether it says aborted
        # or 226 depends on which the kernel delivered first: the FIN of the
        # dead client's data connection, which in stream mode is what the
        # end of a file looks like, or the end of its control connection.)
        xfer = [e for e in evs if e["event"] == "transfer"]
        check(xfer and xfer[-1].get("cmd") == "STOR" and int(xfer[-1]["bytes"]) < SLOW_SIZE,
              "no STOR transfer line with the bytes moved: %r" % [e["_line"] for e in xfer])

        no_zombies(proxy, "after the client vanished")
        wait_for("the spare pool is not back to %d" % spare,
                 lambda: len(idle_children(proxy)) == spare and not busy_children(proxy), 5)
        fds_after = fd_count(proxy.proc.pid)
        check(fds_after == fds_before, "the master had %d fds before and has %d after"
              % (fds_before, fds_after))
        serves_small_retr(env, t, "after a client vanished mid-upload")
        os.unlink(src)
    finally:
        if up is not None:
            stop_proc(up)
        proxy.stop()


register("fault_client_vanishes_mid_upload", test_client_vanishes_upload, proxy_only=True)


# ---- passive ports exhausted ------------------------------------------------------------

def test_passive_exhausted(env):
    vs = env.backends["vs"]
    lo, hi = free_port_range(2)
    proxy = HProxy(env, "pasvfull", [("vs", vs.addr(), ("127.0.0.1",),
                                      {"passive_ports": "%d-%d" % (lo, hi)})])
    held = []
    c = d = None
    try:
        held = [listen_sock("127.0.0.1", p) for p in (lo, hi)]
        proxy.start()
        c = login(proxy.ports["vs"], vs.user, vs.password)
        for cmd in ("EPSV", "PASV", "EPSV"):
            r = c.cmd(cmd)
            check(r and r.startswith("425"), "%s with the passive range %d-%d taken: %r"
                  % (cmd, lo, hi, r and r[:80]))
        check("no free passive port in %d-%d" % (lo, hi) in proxy.log_text(),
              "the log does not say 'no free passive port in %d-%d'" % (lo, hi))
        r = c.cmd("NOOP")
        check(r and r.startswith("200"), "NOOP after 425: %r" % r)
        # One port comes free: that one is offered, and it works.
        held.pop().close()
        name = env.unique("pasvfull")
        data = os.urandom(54321)
        vs.put_file(name, data)
        check(c.cmd("TYPE I").startswith("200"), "TYPE I")
        r = c.cmd("EPSV")
        check(r and pasv_port(r) == hi, "EPSV with only port %d free: %r" % (hi, r))
        d = socket.create_connection(("127.0.0.1", hi), timeout=10)
        r = c.cmd("RETR pub/" + name)
        check(r and r.startswith("150"), "RETR: %r" % r)
        got, how = read_data(d, 10)
        r = c.reply(10)
        check(r and r.startswith("226") and got == data, "RETR through port %d: %r, %d bytes (%s)"
              % (hi, r, len(got), how))
    finally:
        for s in held + [d, c and c.sock]:
            if s is not None:
                s.close()
        proxy.stop()


register("fault_passive_ports_exhausted", test_passive_exhausted, proxy_only=True)


# ---- the master runs out of descriptors ------------------------------------------------------

NOFILE = 64


def test_fd_limit(env):
    """Sessions hold no descriptor in the master (it hands each client to a
    session process and closes it), so clients cannot exhaust the master's
    table: the test checks that first, with 20 sessions open under
    RLIMIT_NOFILE = 64.  Then it lowers the master's limit to exactly what
    it uses (prlimit), so that accept() fails with EMFILE: the master must
    log "pausing accepts", not spin, keep serving the open sessions, and
    serve the waiting client once descriptors are available again."""
    spare = 4
    vs = env.backends["vs"]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))

    proxy = HProxy(env, "nofile", [("vs", vs.addr(), ("127.0.0.1",))], preexec=low_nofile,
                   spare_sessions=spare)
    sessions, waiting = [], None
    try:
        proxy.start()
        pid = proxy.proc.pid
        t = Target("127.0.0.1", proxy.ports["vs"], vs, "nofile")
        wait_for("no idle pool", lambda: len(idle_children(proxy)) == spare, 10)
        before = fd_count(pid)
        for _ in range(20):
            sessions.append(ftp_session(t, timeout=10))
        wait_for("the pool is not refilled", lambda: len(idle_children(proxy)) == spare, 10)
        check(fd_count(pid) == before, "with 20 sessions open the master has %d fds, %d before"
              % (fd_count(pid), before))
        fds = {int(x) for x in os.listdir("/proc/%d/fd" % pid)}
        lowest_free = min(set(range(len(fds) + 1)) - fds)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
        try:
            ticks = cpu_ticks(pid)
            waiting = socket.create_connection(("127.0.0.1", t.port), timeout=10)
            waiting.settimeout(3)
            try:
                early = waiting.recv(100)
            except socket.timeout:
                early = None
            check(early is None, "a greeting %r with no descriptor left in the master" % early)
            spent = cpu_ticks(pid) - ticks
            hz = os.sysconf("SC_CLK_TCK")
            check(spent < 0.3 * hz, "the master used %.2f s of CPU in 3 s without descriptors"
                  % (spent / hz))
            text = proxy.log_text()
            pauses = text.count("pausing accepts")
            check(pauses >= 1, "the log does not say 'pausing accepts'")
            check(pauses <= 6, "%d 'pausing accepts' lines in 3 s" % pauses)
            for f in sessions:
                check(f.sendcmd("NOOP").startswith("200"),
                      "an open session stopped answering while the master had no descriptor")
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (NOFILE, hard))
        waiting.settimeout(5)
        greeting = waiting.recv(100)
        check(greeting.startswith(b"220"), "the waiting client got %r once descriptors were free"
              % greeting[:60])
        for f in sessions:
            ftp_close(f)
        sessions = []
        serves_small_retr(env, t, "after the master ran out of descriptors")
        check(proxy.alive(), "ftpgate exited")
    finally:
        for f in sessions:
            f.close()
        if waiting is not None:
            waiting.close()
        proxy.stop()


register("fault_master_out_of_fds", test_fd_limit, proxy_only=True)


# ---- passive ports come back after a transfer ----------------------------------------

def test_passive_ports_reused(env):
    """A download leaves the proxy's end of the data connection in TIME_WAIT
    (the proxy closes first).  A passive range of 3 ports must still serve
    6 downloads in a row: otherwise a range of N ports serves only N
    downloads a minute, and then every client gets 425."""
    from itest import free_port_range
    vs = env.backends["vs"]
    lo, hi = free_port_range(3)
    proxy = HProxy(env, "pasvreuse", [("vs", vs.addr(), ("127.0.0.1",),
                                       {"passive_ports": "%d-%d" % (lo, hi)})])
    name = env.unique("pasvreuse")
    data = os.urandom(4321)
    vs.put_file(name, data)
    try:
        proxy.start()
        for i in range(6):
            c = login(proxy.ports["vs"], vs.user, vs.password)
            try:
                check(c.cmd("TYPE I").startswith("200"), "TYPE I")
                r = c.cmd("EPSV")
                port = pasv_port(r or "")
                if not port:
                    tw = sorted({l for (l, _), st in tcp_states().items()
                                 if st == "06" and lo <= l <= hi})
                    raise Failure("download %d of 6 through passive_ports = %d-%d: EPSV answered "
                                  "%r; ports of the range in TIME_WAIT: %r"
                                  % (i + 1, lo, hi, r and r[:60], tw))
                check(lo <= port <= hi, "EPSV offered port %d outside %d-%d" % (port, lo, hi))
                with socket.create_connection(("127.0.0.1", port), timeout=10) as d:
                    r = c.cmd("RETR pub/" + name)
                    check(r and r.startswith("150"), "RETR: %r" % r)
                    got, how = read_data(d, 10)
                r = c.reply(10)
                check(r and r.startswith("226") and got == data, "download %d: %r, %d bytes"
                      % (i + 1, r, len(got)))
                c.cmd("QUIT")
            finally:
                c.close()
    finally:
        proxy.stop()


# DAEMON BUG (reported, issue 5): fg_net_listen_range() binds passive ports
# without SO_REUSEADDR, so each download's port stays unusable for the 60 s
# of TIME_WAIT; this test fails at the 4th download with 425.
register("fault_passive_ports_reused_after_transfer", test_passive_ports_reused,
         proxy_only=True)
