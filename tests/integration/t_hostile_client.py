"""Hostile clients: overlong lines, NUL and stray CR/LF, Telnet IAC floods,
a replies-unread flood, 1,000 connections that say nothing, TLS on the plain
port, PORT/EPRT bounce attempts from IPv4 and IPv6 control connections, and
passive port stealing over IPv6 (only where lo has a second IPv6 address).

Each test checks what the client sees (codes, order, a closed connection),
that the session stays usable where it should, and, where it matters, what
reached the backend (a fake backend that logs every line) or a trap
listener."""
import os
import resource
import select
import selectors
import socket
import ssl
import subprocess
import time

from itest import (Failure, Skip, Target, busy_children, check, idle_children,
                   listen_sock, proc_children, register, serves_small_retr, wait_for)
from hostile import Ctl, FakeServer, HProxy, pasv_port, read_data

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
SERVE_OK = os.path.join(CASES, "serve-ok.case")

IAC, WILL, WONT, DO, DONT, NOP, IP, DM = 255, 251, 252, 253, 254, 241, 244, 242


def main_ctl(env, family=4):
    """A logged-in raw control connection through the main proxy to vsftpd."""
    t = env.target("vs", family=family)
    c = Ctl(t.host, t.port, timeout=10)
    check((c.reply() or "").startswith("220"), "no greeting")
    check((c.cmd("USER " + t.user) or "")[:3] in ("230", "331"), "USER failed")
    r = c.cmd("PASS " + t.password)
    check((r or "").startswith("230"), "login failed: %r" % r)
    return c


def expect(c, what, want, timeout=10.0):
    r = c.reply(timeout)
    check(r is not None and r[:3] == want, "%s: want %s, got %r" % (what, want, r and r[:100]))
    return r


def still_in_sync(c, what):
    """NOOP gets its own 200 and SYST its 215: nothing stale is queued."""
    c.send("NOOP\r\nSYST\r\n")
    expect(c, "NOOP after %s" % what, "200")
    expect(c, "SYST after %s" % what, "215")


# ---- lines ---------------------------------------------------------------------------

def test_long_lines(env):
    c = main_ctl(env)
    try:
        c.send("NOOP " + "A" * 8192 + "\r\n")
        expect(c, "8 KiB line", "500")
        still_in_sync(c, "an 8 KiB line")
        # 1 MiB without a line end, in pieces, then the end: one 500, and the
        # reader must have kept nothing of it.
        for _ in range(16):
            c.send(b"X" * 65536)
        c.send("\r\n")
        expect(c, "1 MiB line", "500")
        still_in_sync(c, "a 1 MiB line")
        # A long line followed at once by a good one in the same write.
        c.send("NOOP " + "B" * 5000 + "\r\nNOOP\r\n")
        expect(c, "5 KiB line", "500")
        expect(c, "NOOP in the same write as a 5 KiB line", "200")
        still_in_sync(c, "a 5 KiB line")
    finally:
        c.close()


register("hostile_client_long_lines", test_long_lines, proxy_only=True)


def test_nul_cr_lf(env):
    c = main_ctl(env)
    try:
        # Lines end at LF; a CR right before it is dropped (ftpgate(8)).
        c.send("NOOP\n")
        expect(c, "NOOP ended by a bare LF", "200")
        for raw, what in ((b"NOOP\r\r\n", "CR CR LF"), (b"NO\rOP\r\n", "CR inside the verb"),
                          (b"NOOP \rx\r\n", "CR inside the argument"),
                          (b"NOOP\x00\r\n", "NUL at the end"), (b"\x00\x00\x00\n", "only NULs"),
                          (b"\r\n", "empty line"), (b"\rNOOP\r\n", "leading CR")):
            c.send(raw)
            expect(c, repr(raw) + " (%s)" % what, "500")
            still_in_sync(c, what)
        # A good line, then a line starting with the CR of a CRLF split
        # the wrong way round: 200, then 500.
        c.send(b"NOOP\n\rNOOP\r\n")
        expect(c, "NOOP LF", "200")
        expect(c, "CR NOOP CR LF", "500")
        # 300 empty lines: 300 answers (500), in order, nothing lost.
        c.send(b"\n" * 300 + b"NOOP\r\n")
        for i in range(300):
            expect(c, "empty line %d of 300" % (i + 1), "500")
        expect(c, "NOOP after 300 empty lines", "200")
        still_in_sync(c, "300 empty lines")
    finally:
        c.close()


register("hostile_client_nul_cr_lf", test_nul_cr_lf, proxy_only=True)


def test_telnet_iac_flood(env):
    c = main_ctl(env)
    try:
        unit = bytes([IAC, NOP, IAC, WILL, 1, IAC, DO, 3, IAC, WONT, 24, IAC, DONT, 31,
                      IAC, IP, IAC, DM])
        flood = unit * (100 * 1024 // len(unit) + 1)
        c.send(flood)
        c.send("NOOP\r\n")
        r = c.reply(15)
        check(r is not None and r.startswith("200"),
              "NOOP after 100 KB of Telnet commands: %r (nothing may answer the IAC bytes)"
              % (r and r[:80]))
        still_in_sync(c, "an IAC flood")
        # Inside a command: the IAC sequences vanish from the line.
        c.send(b"NO" + bytes([IAC, NOP]) * 20000 + b"OP\r\n")
        expect(c, "NOOP with 40 KB of IAC NOP inside the verb", "200")
        # Split across writes: IAC | WILL | option byte | rest of the line.
        for piece in (b"NO", bytes([IAC]), bytes([WILL]), bytes([1]), b"OP ", bytes([IAC]),
                      bytes([IAC]), b"\r\n"):
            c.send(piece)
            time.sleep(0.02)
        # IAC IAC is a literal 0xFF in the argument: NOOP with an argument,
        # which vsftpd answers 200.
        expect(c, "NOOP split inside IAC sequences", "200")
        still_in_sync(c, "IAC sequences split across writes")
    finally:
        c.close()


register("hostile_client_telnet_iac_flood", test_telnet_iac_flood, proxy_only=True)


def test_replies_unread(env):
    """3,000 commands in one go from a client that reads nothing meanwhile:
    then every reply arrives, in order, and the session is in sync."""
    c = main_ctl(env)
    try:
        n = 3000
        c.send(b"NOOP\r\n" * n)
        time.sleep(1)
        for i in range(n):
            r = c.reply(15)
            check(r is not None and r.startswith("200"), "reply %d of %d: %r" % (i + 1, n, r))
        still_in_sync(c, "%d unread replies" % n)
    finally:
        c.close()


register("hostile_client_replies_unread", test_replies_unread, proxy_only=True)


# ---- 1,000 silent connections ---------------------------------------------------

SILENT_N = 1000
SILENT_MAX = 300
SILENT_IDLE = 3


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def test_silent_connections(env):
    raise_nofile(SILENT_N + 1024)
    spare = 8
    fake = FakeServer(env, "silent")
    vs = env.backends["vs"]
    proxy = HProxy(env, "silent", [("fake", fake.addr(), ("127.0.0.1",)),
                                   ("vs", vs.addr(), ("127.0.0.1",))],
                   idle_timeout=SILENT_IDLE, max_sessions=SILENT_MAX, spare_sessions=spare)
    sel = selectors.DefaultSelector()
    socks = []
    try:
        fake.start(SERVE_OK)
        proxy.start()
        port = proxy.ports["fake"]
        got, closed_at = {}, {}
        t0 = time.monotonic()

        def pump(wait):
            for key, _ in sel.select(wait):
                s = key.fileobj
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                if chunk:
                    got[s] += chunk
                else:
                    closed_at[s] = time.monotonic()
                    sel.unregister(s)

        for batch in range(SILENT_N // 100):
            for _ in range(100):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.setblocking(False)
                socks.append(s)
                got[s] = b""
                sel.register(s, selectors.EVENT_READ)
            pump(0.05)
        opened = time.monotonic() - t0
        kids = len(proc_children(proxy.proc.pid))
        check(kids <= SILENT_MAX + spare, "%d session processes with max_sessions = %d"
              % (kids, SILENT_MAX))
        deadline = time.monotonic() + SILENT_IDLE + 25
        while len(closed_at) < len(socks) and time.monotonic() < deadline:
            pump(0.5)
        still = len(socks) - len(closed_at)
        check(still == 0, "%d of %d silent connections still open %.0f s after the last was "
              "opened (idle_timeout = %d)" % (still, len(socks), SILENT_IDLE + 25, SILENT_IDLE))
        refused = [s for s in socks if got[s].startswith(b"421 Too many sessions")]
        idled = [s for s in socks if got[s].startswith(b"220") and b"\n421 Timeout" in got[s]]
        other = [got[s][:80] for s in socks if s not in refused and s not in idled]
        check(not other, "%d connections saw neither '421 Too many sessions' nor '220 ... "
              "421 Timeout': %r" % (len(other), other[:3]))
        check(len(idled) >= SILENT_MAX // 2, "only %d connections were admitted" % len(idled))
        slowest = max(closed_at[s] for s in idled) - t0
        check(slowest < opened + SILENT_IDLE + 15, "the last idle session ended %.1f s after "
              "the first connect" % slowest)
        wait_for("session processes not back to 0 busy / %d idle: busy %d, idle %d"
                 % (spare, len(busy_children(proxy)), len(idle_children(proxy))),
                 lambda: not busy_children(proxy) and len(idle_children(proxy)) == spare, 15)
        evs = fake.wait_scripts_done(10)
        opens = [e for e in evs if e["ev"] == "open"]
        ends = [e for e in evs if e["ev"] == "end"]
        check(len(opens) == len(idled), "the backend saw %d connections for %d admitted sessions"
              % (len(opens), len(idled)))
        check(len(ends) == len(opens), "%d backend connections still open"
              % (len(opens) - len(ends)))
        check(not [e for e in evs if e["ev"] == "recv"],
              "silent clients made the proxy send the backend something")
        check(proxy.alive(), "ftpgate exited")
        serves_small_retr(env, Target("127.0.0.1", proxy.ports["vs"], vs, "silent-vs"),
                          "after %d silent connections" % SILENT_N)
        print("  silent: %d refused (421 max_sessions), %d idled out, opened in %.1f s, "
              "last closed at %.1f s" % (len(refused), len(idled), opened, slowest),
              file=__import__("sys").stderr)
    finally:
        for s in socks:
            s.close()
        sel.close()
        proxy.stop()
        fake.stop()


register("hostile_client_1000_silent_connections", test_silent_connections, proxy_only=True)


# ---- TLS on the plain port -------------------------------------------------------------

def client_hello():
    """A real ClientHello in which no line (the bytes after an LF) starts
    with a letter.  Its random fields could otherwise hold e.g. "\\ni\\n",
    a well-formed (unknown) command line that the proxy rightly forwards,
    and the checks below would fail by chance.  (It always holds LF bytes:
    0x000a is the supported_groups extension type.)"""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for _ in range(200):
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="ftp.example")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        check(hello[:1] == b"\x16", "no TLS handshake record generated")
        if not any(seg[:1].isalpha() for seg in hello.split(b"\n")[1:]):
            return hello
    raise Failure("no suitable ClientHello in 200 tries")


def test_tls_on_plain_port(env):
    idle = 3
    fake = FakeServer(env, "tlsplain")
    vs = env.backends["vs"]
    proxy = HProxy(env, "tlsplain", [("fake", fake.addr(), ("127.0.0.1",)),
                                     ("vs", vs.addr(), ("127.0.0.1",))], idle_timeout=idle)
    try:
        fake.start(SERVE_OK)
        proxy.start()
        port = proxy.ports["fake"]
        hello = client_hello()
        # 1. A TLS client that sends its ClientHello and waits: FTP replies
        #    only (220, 500s), then 421 at the idle timeout and a close.
        c = Ctl("127.0.0.1", port)
        c.send(hello)
        replies = []
        deadline = time.monotonic() + idle + 15
        while time.monotonic() < deadline:
            r = c.reply(max(0.1, deadline - time.monotonic()))
            if r is None:
                break
            replies.append(r)
        c.close()
        check(replies and replies[-1].startswith("421") and c.eof,
              "ClientHello on the plain port: want FTP replies ending in 421 and a close "
              "within %d s, got %r" % (idle + 15, [r[:40] for r in replies]))
        check(all(r[:3] in ("220", "500", "421") for r in replies),
              "unexpected replies to a ClientHello: %r" % [r[:40] for r in replies])
        # 2. The hello as one junk line: 500s only, then the session works.
        c = Ctl("127.0.0.1", port)
        expect(c, "greeting", "220")
        c.send(hello + b"\r\nNOOP\r\n")
        while True:
            r = c.reply(10)
            check(r is not None, "connection closed after a ClientHello line")
            if r[:3] != "500":
                break
        check(r.startswith("200"), "NOOP after a ClientHello line: %r" % r[:60])
        check(c.cmd("QUIT", 10)[:3] == "221", "QUIT after a ClientHello line")
        c.close()
        # 3. A real implicit-TLS client (curl ftps://): fails fast and cleanly.
        t0 = time.monotonic()
        p = subprocess.run(["curl", "-sS", "-k", "--max-time", "15",
                            "ftps://127.0.0.1:%d/" % port],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
        took = time.monotonic() - t0
        check(p.returncode != 0, "curl ftps:// to the plain port succeeded")
        check(took < 10, "curl ftps:// to the plain port took %.1f s to fail" % took)
        # Nothing of the TLS bytes may have reached the backend.
        evs = fake.wait_scripts_done(10)
        recv = [e["text"] for e in evs if e["ev"] == "recv"]
        check(recv == ["NOOP", "QUIT"], "the backend received %r; want only NOOP and QUIT"
              % [x[:40] for x in recv])
        wait_for("session processes still busy: %r" % busy_children(proxy),
                 lambda: not busy_children(proxy), 10)
        serves_small_retr(env, Target("127.0.0.1", proxy.ports["vs"], vs, "tls-vs"),
                          "after TLS on the plain port")
    finally:
        proxy.stop()
        fake.stop()


register("hostile_client_tls_on_plain_port", test_tls_on_plain_port, proxy_only=True)


# ---- PORT/EPRT bounce -------------------------------------------------------------------

def priv_listener(host):
    for port in list(range(1023, 900, -1)):
        try:
            return listen_sock(host, port)
        except OSError:
            continue
    raise Failure("no free port below 1024 on %s" % host)


def test_bounce(env):
    trap2 = listen_sock("127.0.0.2")          # another host
    trap1 = listen_sock("127.0.0.1")          # this host, from an IPv6 client
    trap6 = listen_sock("::1")                # IPv6 loopback, from an IPv4 client
    priv4 = priv_listener("127.0.0.1")        # privileged ports
    priv6 = priv_listener("::1")
    traps = (trap2, trap1, trap6, priv4, priv6)
    p2, p1, p6, pp4, pp6 = (s.getsockname()[1] for s in traps)
    hi = lambda p: "%d,%d" % (p >> 8, p & 255)
    v4_cases = [
        "PORT 127,0,0,2,%s" % hi(p2),
        "PORT 127,0,0,1,%s" % hi(pp4),
        "PORT 127,0,0,1,0,21",
        "PORT 0,0,0,0,%s" % hi(p1),                # 0.0.0.0 reaches this host
        "PORT 127,0,0,1,0,0",
        "PORT 127,0,0,2,%s,0" % hi(p2),            # seven numbers
        "EPRT |1|127.0.0.2|%d|" % p2,
        "EPRT |1|127.0.0.1|%d|" % pp4,
        "EPRT |1|0.0.0.0|%d|" % p1,
        "EPRT |2|::1|%d|" % p6,
        "EPRT |2|::ffff:127.0.0.2|%d|" % p2,
        "EPRT |2|::ffff:127.0.0.1|%d|" % pp4,
        "EPRT |2|::ffff:7f00:2|%d|" % p2,
        "EPRT |1|127.0.0.2|%d|" % (p2 + 65536),
        "EPRT |3|127.0.0.2|%d|" % p2,
    ]
    v6_cases = [
        "PORT 127,0,0,1,%s" % hi(p1),
        "PORT 127,0,0,2,%s" % hi(p2),
        "EPRT |2|::ffff:127.0.0.2|%d|" % p2,
        "EPRT |2|::ffff:127.0.0.1|%d|" % p1,
        "EPRT |2|0:0:0:0:0:ffff:7f00:1|%d|" % p1,
        "EPRT |2|::1|%d|" % pp6,
        "EPRT |2|::|%d|" % p6,
        "EPRT |2|::1%%lo|%d|" % p6,
        "EPRT |1|127.0.0.2|%d|" % p2,
        "EPRT |1|127.0.0.1|%d|" % p1,
    ]
    try:
        for family, cases in ((4, v4_cases), (6, v6_cases)):
            c = main_ctl(env, family)
            try:
                for line in cases:
                    r = c.cmd(line)
                    check(r is not None and r[:3] in ("500", "501", "504", "522"),
                          "IPv%d client: %s answered %r" % (family, line, r and r[:60]))
                    # A transfer anyway: there is no data address, so 425,
                    # and above all no connection anywhere.
                    r = c.cmd("LIST")
                    check(r is not None and r.startswith("425"),
                          "IPv%d client: LIST after refused %r answered %r"
                          % (family, line, r and r[:60]))
                still_in_sync(c, "bounce attempts")
            finally:
                c.close()
        r, _, _ = select.select(list(traps), [], [], 1.0)
        check(not r, "a connection arrived at %s" % [s.getsockname()[:2] for s in r])
    finally:
        for s in traps:
            s.close()


register("hostile_client_port_bounce_v4_v6", test_bounce, proxy_only=True)


# ---- passive port stealing over IPv6 ------------------------------------------------------

def second_lo_v6():
    """An IPv6 address of lo other than ::1, or None."""
    with open("/proc/net/if_inet6") as f:
        for line in f:
            p = line.split()
            if p[-1] == "lo" and p[0] != "0" * 31 + "1":
                return ":".join(p[0][i:i + 4] for i in range(0, 32, 4))
    return None


def test_passive_steal_v6(env):
    thief_addr = second_lo_v6()
    if thief_addr is None:
        raise Skip("::1 is the only IPv6 address on lo: no second local address to steal from "
                   "(the IPv4 variant is passive_steal_*)")
    t = env.target("vs", family=6)
    name = env.unique("steal6")
    data = os.urandom(2 * 1024 * 1024)
    t.backend.put_file(name, data)
    c = main_ctl(env, 6)
    thief = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        check(c.cmd("TYPE I").startswith("200"), "TYPE I")
        r = c.cmd("EPSV")
        port = pasv_port(r or "")
        check(port, "EPSV answered %r" % r)
        thief.bind((thief_addr, 0))
        thief.settimeout(5)
        try:
            thief.connect(("::1", port))
            connected = True
        except OSError:
            connected = False
        real = socket.create_connection(("::1", port), timeout=30)
        r = c.cmd("RETR pub/" + name)
        check(r and r.startswith("1"), "RETR answered %r" % r)
        got, how = read_data(real, 30)
        real.close()
        expect(c, "end of the transfer", "226", 30)
        check(got == data, "the real client got %d bytes (%s), want %d"
              % (len(got), how, len(data)))
        if connected:
            stolen, how = read_data(thief, 3)
            check(stolen == b"" and how != "timeout",
                  "the thief got %d bytes (%s)" % (len(stolen), how))
    finally:
        thief.close()
        c.close()


register("hostile_client_passive_steal_v6", test_passive_steal_v6, proxy_only=True)
