"""Per-address limits, connection rate, bans after failed logins, and the
status dump (SIGUSR1 and `ftpgate -s`).

Loopback is 127.0.0.0/8, so a client can choose 127.0.0.2 as its source
address: that is "another address" for the per-address rules."""
import ftplib
import os
import re
import signal
import socket
import stat
import threading
import time

from itest import (FTP, busy_children, check, ftp_close, retr, run, session_pid, test,
                   wait_for)

OTHER = "127.0.0.2"


def ftp_from(t, src, password=None, timeout=10):
    """An ftplib session to target t from source address src, logged in."""
    f = FTP(timeout=timeout)
    f.connect(t.host, t.port, source_address=(src, 0))
    f.login(t.user, t.password if password is None else password)
    return f


def raw_from(t, src, timeout=10):
    """A TCP connection to t from src (nothing read yet)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((t.host, t.port))
    return s


def first_line(s):
    """The first line the server sends (or what it sent before closing)."""
    data = b""
    while b"\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode("utf-8", "replace").split("\n")[0].rstrip("\r")


def greeting_from(t, src):
    return first_line(raw_from(t, src))


def admitted(t, src):
    """A logged-in session from src, or None while the proxy says 421."""
    try:
        return ftp_from(t, src)
    except ftplib.error_temp:
        return None


def log_has(proxy, pattern):
    return re.search(pattern, proxy.log_text(), re.M)


def start_quiet(proxy):
    """Start proxy and wait until the sessions of its start-up port probes
    (one per listen address, from 127.0.0.1 and ::1) have ended: they count
    for their address too."""
    proxy.start()
    probes = sum(len(lst[2]) for lst in proxy.listeners)
    wait_for("the sessions of the %d port probes did not end" % probes,
             lambda: (proxy.log_text().count("event=close ") >= probes
                      and not busy_children(proxy)), 10)


@test(proxy_only=True)
def test_limits_per_ip(env):
    proxy = env.make_proxy("perip", {"max_sessions_per_ip": 2}, names=("vs",))
    start_quiet(proxy)
    held = []
    try:
        t = env.target("vs", proxy=proxy)
        for _ in range(2):
            held.append(ftp_from(t, "127.0.0.1"))
        for f in held:
            check(f.sendcmd("NOOP").startswith("200"), "a session under the limit does not answer")
        third = greeting_from(t, "127.0.0.1")
        check(third == "421 Too many sessions from your address.",
              "third session from 127.0.0.1 with max_sessions_per_ip = 2 got %r" % third[:80])
        wait_for("no 'event=refused client=127.0.0.1 reason=\"max_sessions_per_ip (2) reached\"' line",
                 lambda: log_has(proxy, r'ftpgate\[\d+\]: event=refused client=127\.0\.0\.1 '
                                        r'reason="max_sessions_per_ip \(2\) reached"'))
        # The limit is per address: 127.0.0.2 still gets its own two.
        for _ in range(2):
            f = ftp_from(t, OTHER)
            held.append(f)
            check(f.sendcmd("NOOP").startswith("200"), "a session from %s does not answer" % OTHER)
        check(greeting_from(t, OTHER).startswith("421 Too many sessions"),
              "a third session from %s was not refused" % OTHER)
        # A session that ends gives its place back (once the master reaps it).
        ftp_close(held.pop(0))
        f = wait_for("after one of its two sessions quit, 127.0.0.1 still gets 421",
                     lambda: admitted(t, "127.0.0.1"))
        held.append(f)
        name = env.unique("perip")
        data = os.urandom(4321)
        t.backend.put_file(name, data)
        check(retr(f, "pub/" + name) == data, "download in the freed session differs")
    finally:
        for f in held:
            ftp_close(f)
        proxy.stop()


@test(proxy_only=True)
def test_limits_rate(env):
    n = 20  # per minute: a burst of 20, then one every 3 s
    proxy = env.make_proxy("rate", {"max_connections_per_minute": n}, names=("vs",))
    proxy.start()
    # Proxy.start() checked the port from 127.0.0.1: the burst comes from
    # an address that has not connected yet.
    src = "127.0.0.3"
    try:
        t = env.target("vs", proxy=proxy)
        # Open the whole burst and one more at once (the master takes them in
        # this order), so that no token comes back meanwhile.
        socks = [raw_from(t, src) for _ in range(n + 1)]
        burst_end = time.monotonic()
        greetings = [first_line(s) for s in socks]
        bad = [g for g in greetings[:n] if not g.startswith("220")]
        check(not bad, "%d of the first %d connections were not served: %r" % (len(bad), n, bad[:2]))
        check(greetings[n] == "421 Too many connections from your address, try again later.",
              "connection %d within the minute got %r" % (n + 1, greetings[n][:80]))
        wait_for("no 'event=refused ... max_connections_per_minute (%d) exceeded' line" % n,
                 lambda: log_has(proxy, r'event=refused client=127\.0\.0\.3 '
                                        r'reason="max_connections_per_minute \(%d\) exceeded"' % n))
        other = greeting_from(t, OTHER)
        check(other.startswith("220"), "%s was refused along with %s: %r" % (OTHER, src, other[:80]))
        # 60/n seconds after the burst one connection is allowed again.
        time.sleep(max(0.0, burst_end + 60.0 / n + 0.3 - time.monotonic()))
        f = ftp_from(t, src)
        try:
            check(f.sendcmd("NOOP").startswith("200"), "the session after the wait does not answer")
        finally:
            ftp_close(f)
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_limits_ban(env):
    proxy = env.make_proxy("ban", {"ban_after": 3, "ban_time": 4}, names=("py",))
    proxy.start()
    try:
        t = env.target("py", proxy=proxy)
        # A good login counts for nothing.
        ftp_close(ftp_from(t, "127.0.0.1"))
        # Three wrong passwords, in parallel: pyftpdlib answers a wrong
        # password only after 3 s.
        replies = []

        def wrong():
            f = FTP(timeout=15)
            try:
                f.connect(t.host, t.port, source_address=("127.0.0.1", 0))
                f.login(t.user, "wrong-password")
                replies.append("230?")
            except ftplib.error_perm as e:
                replies.append(str(e))
            except Exception as e:  # reported below
                replies.append(repr(e))
            finally:
                ftp_close(f)

        threads = [threading.Thread(target=wrong, daemon=True) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(20)
        check(len(replies) == 3 and all(r.startswith("530") for r in replies),
              "wrong passwords did not all get 530: %r" % replies)
        refused = greeting_from(t, "127.0.0.1")
        check(refused == "421 Your address is temporarily banned.",
              "after 3 failed logins (ban_after = 3) 127.0.0.1 got %r" % refused[:80])
        ban = wait_for("no 'event=ban client=127.0.0.1 failures=3 seconds=4' line",
                       lambda: log_has(proxy, r"ftpgate\[\d+\]: event=ban client=127\.0\.0\.1 "
                                              r"failures=3 seconds=4$"))
        banned_seen = time.monotonic()
        wait_for("no 'event=refused client=127.0.0.1 reason=\"banned\"' line",
                 lambda: log_has(proxy, r'event=refused client=127\.0\.0\.1 reason="banned"'))
        # Another address is not affected.
        f = ftp_from(t, OTHER)
        check(f.sendcmd("NOOP").startswith("200"), "%s does not get served during the ban" % OTHER)
        ftp_close(f)
        check(not log_has(proxy, r"event=unban"), "unbanned before ban_time")
        # After ban_time (4 s) the address is served again, and it is logged.
        wait_for("no 'event=unban client=127.0.0.1' line 8 s after the ban",
                 lambda: log_has(proxy, r"ftpgate\[\d+\]: event=unban client=127\.0\.0\.1$"), 8)
        check(time.monotonic() - banned_seen > 2.0, "unbanned %.1f s after the ban, ban_time is 4 s"
              % (time.monotonic() - banned_seen))
        f = ftp_from(t, "127.0.0.1")
        check(f.sendcmd("NOOP").startswith("200"), "127.0.0.1 is not served after the ban ended")
        ftp_close(f)
        check(ban.group(0) and proxy.alive(), "ftpgate exited")
    finally:
        proxy.stop()


def table_pages(pid):
    """Pages of the scoreboard (a shared anonymous mapping, which the kernel
    names "/dev/zero (deleted)") that process pid has mapped."""
    pages = 0
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if line.rstrip().endswith("/dev/zero (deleted)"):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                pages += (hi - lo) // os.sysconf("SC_PAGE_SIZE")
    return pages


def status_lines(proxy, client):
    return [l for l in proxy.log_text().splitlines()
            if "event=status " in l and " client=%s " % client in l]


@test(proxy_only=True)
def test_limits_status(env):
    proxy = env.make_proxy("status", {}, names=("py",))
    start_quiet(proxy)
    sock_path = proxy.global_opts["status_socket"]
    try:
        t = env.target("py", proxy=proxy)
        check(os.path.exists(sock_path) and stat.S_ISSOCK(os.stat(sock_path).st_mode),
              "no status socket at %s" % sock_path)
        mode = stat.S_IMODE(os.stat(sock_path).st_mode)
        check(mode == 0o600, "status socket mode is %o, not 600" % mode)
        f = ftp_from(t, "127.0.0.1")
        try:
            client = "127.0.0.1:%d" % f.sock.getsockname()[1]
            name = env.unique("status")
            data = os.urandom(12345)
            t.backend.put_file(name, data)
            check(retr(f, "pub/" + name) == data, "download differs")
            backend = t.backend.addr()

            # SIGUSR1: one line per live session, then a summary.
            os.kill(proxy.proc.pid, signal.SIGUSR1)
            lines = wait_for("no 'event=status ... client=%s' line after SIGUSR1" % client,
                             lambda: status_lines(proxy, client))
            line = lines[-1]
            for want in ('user="test"', "listener=py", "backend=%s" % backend, "state=READY/",
                         "bytes_down=12345", "pid="):
                check(want in line, "status line lacks %s: %s" % (want, line))
            check(re.search(r"ftpgate\[%d\]: event=status " % proxy.proc.pid, line),
                  "the status line is not the master's: %s" % line)
            wait_for("no 'event=status_summary sessions=1' line",
                     lambda: log_has(proxy, r"event=status_summary sessions=1 idle=\d+ "
                                            r"max_sessions=200 banned=0"))

            # ftpgate -s: the same, as a table.
            rc, out, err = run([env.ftpgate, "-s", "-f", proxy.conf_path], timeout=15)
            check(rc == 0, "ftpgate -s: rc=%d: %s" % (rc, err.strip()[:200]))
            rows = [l for l in out.splitlines() if client in l]
            check(len(rows) == 1, "ftpgate -s lists the session %d times:\n%s" % (len(rows), out))
            cols = rows[0].split()
            for want in ('"test"', "py", backend, "12345"):
                check(want in cols, "ftpgate -s row lacks %s: %s" % (want, rows[0]))
            check(re.search(r"\b1 session\(s\)", out), "ftpgate -s summary: %r" % out[:200])
            rc2, out2, _ = run([env.ftpgate, "--status", "-f", proxy.conf_path], timeout=15)
            check(rc2 == 0 and client in out2, "ftpgate --status: rc=%d %r" % (rc2, out2[:200]))

            # The session process keeps only the header and its own slot of
            # the table; the master has all of them (200 + 4 + 64 slots).
            pid = session_pid(proxy, f.sock.getsockname()[1])
            check(table_pages(pid) == 2, "session process %d maps %d pages of the scoreboard, not 2"
                  % (pid, table_pages(pid)))
            check(table_pages(proxy.proc.pid) >= 1 + 268, "the master maps only %d scoreboard pages"
                  % table_pages(proxy.proc.pid))
        finally:
            ftp_close(f)
        wait_for("the ended session is still listed by ftpgate -s",
                 lambda: client not in run([env.ftpgate, "-s", "-f", proxy.conf_path], 15)[1])
    finally:
        proxy.stop()
    check(not os.path.exists(sock_path), "status socket left behind after stop")
    rc, out, err = run([env.ftpgate, "-s", "-f", proxy.conf_path], timeout=15)
    check(rc == 1 and "status socket" in err,
          "ftpgate -s without a running ftpgate: rc=%d %r" % (rc, err[:200]))
