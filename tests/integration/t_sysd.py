"""Starting and stopping under a service manager: sd_notify (READY, STATUS,
RELOADING, STOPPING), socket activation by FileDescriptorName, and SIGHUP
reload (under load, and with an invalid file).

The service manager is played by the test: NotifySocket is a unix datagram
socket the test binds and names in NOTIFY_SOCKET, and launch_activated()
passes listening sockets as systemd does (fd 3 on, LISTEN_FDS, LISTEN_PID,
LISTEN_FDNAMES)."""
import ftplib
import os
import re
import signal
import socket
import subprocess
import threading
import time

from itest import (MiB, PROCS, PYTHON, Failure, Proxy, check, file_sha256, free_port,
                   free_port_range, ftp_close, ftp_session, gone, host_url, idle_children,
                   proc_children, proc_fds, register, retr, sha256, spawn, stop_proc, tail,
                   Target, wait_for, wait_port)


# --------------------------------------------------------------------------
# The stand-ins

class NotifySocket:
    """A NOTIFY_SOCKET: a unix datagram socket (a path, or an abstract name
    when abstract=True); a thread collects every message with its arrival
    time as (monotonic seconds, {VAR: VALUE}, raw text)."""

    def __init__(self, path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.sock.bind("\0" + path)
            self.address = "@" + path
        else:
            if os.path.exists(path):
                os.unlink(path)
            self.sock.bind(path)
            self.address = path
        self.msgs = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.closed:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            kv = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            with self.lock:
                self.msgs.append((time.monotonic(), kv, text))

    def messages(self):
        with self.lock:
            return list(self.msgs)

    def wait(self, what, pred, start=0, timeout=10.0):
        """The index of the first message from index start on for which
        pred(kv) holds (waits at most timeout)."""
        def find():
            for i, (_, kv, _) in enumerate(self.messages()[start:], start):
                if pred(kv):
                    return i + 1  # (0 would read as "not yet")
            return None
        return wait_for("%s; got %r" % (what, [m[2] for m in self.messages()[start:]][-6:]),
                        find, timeout) - 1

    def close(self):
        self.closed = True
        self.sock.close()


# Passive ports of each listener name an SdProxy ever writes (at most
# MAX_LISTENERS names): enough for 20 concurrent transfers.
PASSIVE_PER_LISTENER = 50
MAX_LISTENERS = 4


class SdProxy(Proxy):
    """A Proxy with extra environment variables (environ=), whose listener
    ports and passive ranges stay the same when the configuration is
    rewritten (for reloads), and which can be started without waiting for
    its ports (READY=1 is the signal then)."""

    def __init__(self, env, tag, listeners, environ=None, **global_opts):
        super().__init__(env, tag, listeners, **global_opts)
        self.environ = environ or {}
        self.slots = {}
        self.plo = None
        self.extra_lines = []   # appended verbatim (to break the file on purpose)

    def write_conf(self):
        os.makedirs(self.dir, exist_ok=True)
        if self.plo is None:
            self.plo, _ = free_port_range(PASSIVE_PER_LISTENER * MAX_LISTENERS)
        out = ["[global]"] + ["%s = %s" % kv for kv in self.global_opts.items()]
        for lst in self.listeners:
            name, backend_addr, hosts = lst[:3]
            extra = lst[3] if len(lst) > 3 else {}
            if name not in self.ports:
                self.ports[name] = free_port("127.0.0.1")
            self.slots.setdefault(name, len(self.slots))
            check(self.slots[name] < MAX_LISTENERS, "SdProxy: more than %d listener names" % MAX_LISTENERS)
            plo = self.plo + PASSIVE_PER_LISTENER * self.slots[name]
            out += ["", "[listener %s]" % name,
                    "listen = " + ", ".join("%s:%d" % (host_url(h), self.ports[name]) for h in hosts),
                    "backend = be_" + name,
                    "passive_ports = %d-%d" % (plo, plo + PASSIVE_PER_LISTENER - 1)]
            out += ["%s = %s" % kv for kv in extra.items()]
            out += ["", "[backend be_%s]" % name, "servers = " + backend_addr]
        out += self.extra_lines
        with open(self.conf_path, "w") as f:
            f.write("\n".join(out) + "\n")

    def start(self, wait_ports=True):
        self.write_conf()
        self.started_at = time.monotonic()
        self.proc = spawn([self.env.ftpgate, "-n", "-f", self.conf_path], self.log_path,
                          env=dict(os.environ, **self.environ))
        if wait_ports:
            for lst in self.listeners:
                for h in lst[2]:
                    wait_port(h, self.ports[lst[0]], 10, self.proc, self.log_path)

    def line_of(self, text):
        """The line number of the first line of the written file holding text."""
        with open(self.conf_path) as f:
            for n, line in enumerate(f, 1):
                if text in line:
                    return n
        raise Failure("%r is not in %s" % (text, self.conf_path))

    def reload(self, what, timeout=10.0):
        """Write the configuration, SIGHUP, wait for the log line that ends
        this reload (success or failure) and return it."""
        self.write_conf()
        before = self.log_text().count("SIGHUP: reloading")
        self.proc.send_signal(signal.SIGHUP)

        def done():
            text = self.log_text()
            if text.count("SIGHUP: reloading") <= before:
                return None
            rest = text[[m.start() for m in re.finditer("SIGHUP: reloading", text)][before]:]
            m = re.search(r"^.*(reloaded: |reload failed).*$", rest, re.M)
            return m and m.group(0)
        return wait_for("no end of reload (%s) in the log: %s" % (what, read_log_tail(self)),
                        done, timeout)


def read_log_tail(proxy, n=6):
    try:
        return tail(proxy.log_text(), n)
    except OSError:
        return ""


def banner_of(host, port, timeout=5.0):
    """The first line a new connection gets (None if nothing comes)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        buf = b""
        try:
            while b"\r\n" not in buf:
                chunk = s.recv(512)
                if not chunk:
                    break
                buf += chunk
        except socket.timeout:
            return None
        return buf.split(b"\r\n")[0].decode("utf-8", "replace") if buf else None


def listen_inodes(port):
    """Inodes of the LISTEN sockets on a local TCP port (v4 and v6)."""
    out = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for line in f:
                p = line.split()
                if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                    out.add(int(p[9]))
    return out


def small_file(env, backend, stem):
    name = env.unique(stem)
    data = os.urandom(23456)
    backend.put_file(name, data)
    return "pub/" + name, data


def serves(env, t, what, banner=None):
    """A new session on t: (the banner), login and a small download."""
    path, data = small_file(env, t.backend, "sysd")
    f = ftp_session(t, timeout=10, login=False)
    try:
        if banner is not None:
            check(f.welcome == "220 " + banner, "%s: greeting %r, want %r" % (what, f.welcome, "220 " + banner))
        f.login(t.user, t.password)
        check(retr(f, path) == data, "%s: small download differs" % what)
    finally:
        ftp_close(f)


# --------------------------------------------------------------------------
# sd_notify

STATUS_RE = re.compile(r"^(\d+) sessions, (\d+) idle processes$")


def test_sd_notify(env):
    spare = 3
    ns = NotifySocket(os.path.join(env.tmp, "notify-%d.sock" % os.getpid()))
    b = env.backends["vs"]
    proxy = SdProxy(env, "notify", [("vs", b.addr(), ("127.0.0.1",))],
                    environ={"NOTIFY_SOCKET": ns.address}, spare_sessions=spare)
    try:
        proxy.start(wait_ports=False)
        i = ns.wait("no READY=1 from ftpgate", lambda kv: kv.get("READY") == "1")
        # Nothing may be missing once READY=1 is out: the pool is forked
        # and a client is served without any waiting or retrying.
        kids = proc_children(proxy.proc.pid)
        check(len(kids) >= spare, "READY=1 came with %d session processes forked, not %d"
              % (len(kids), spare))
        ready = ns.messages()[i][1]
        check(ready.get("MAINPID") == str(proxy.proc.pid), "READY=1 says MAINPID=%r, not %d"
              % (ready.get("MAINPID"), proxy.proc.pid))
        # The master's own count at that moment (the /proc look above may
        # come a little late to tell).
        check(ready.get("STATUS") == "0 sessions, %d idle processes" % spare,
              "READY=1 came with STATUS=%r" % ready.get("STATUS"))
        t = Target("127.0.0.1", proxy.ports["vs"], b, "notify")
        serves(env, t, "right after READY=1")

        # STATUS=: counts, sent when they change, at most once a second.
        ns.wait("no STATUS=0 sessions, %d idle processes" % spare,
                lambda kv: kv.get("STATUS") == "0 sessions, %d idle processes" % spare, i)
        held = ftp_session(t, timeout=10)
        try:
            ns.wait("no STATUS with 1 session while one is open",
                    lambda kv: kv.get("STATUS") == "1 sessions, %d idle processes" % spare, i)
            n0 = len(ns.messages())
            for _ in range(6):   # churn: many changes in little time
                ftp_close(ftp_session(t, timeout=10))
        finally:
            ftp_close(held)
        ns.wait("the last STATUS is not 0 sessions, %d idle processes" % spare,
                lambda kv: kv.get("STATUS") == "0 sessions, %d idle processes" % spare, n0)
        time.sleep(1.5)  # let a late update arrive, if one is (wrongly) pending
        stats = [(at, kv["STATUS"]) for at, kv, _ in ns.messages() if "STATUS" in kv and "READY" not in kv
                 and "RELOADING" not in kv]
        check(len(stats) >= 2, "only %d STATUS updates: %r" % (len(stats), stats))
        check(all(STATUS_RE.match(s) for _, s in stats), "STATUS not '<n> sessions, <m> idle processes': %r"
              % [s for _, s in stats if not STATUS_RE.match(s)][:2])
        gaps = [b2[0] - a[0] for a, b2 in zip(stats, stats[1:])]
        check(min(gaps) > 0.9, "two STATUS updates %.3f s apart: %r" % (min(gaps), stats))
        check(stats[-1][1] == "0 sessions, %d idle processes" % spare, "last STATUS is %r" % stats[-1][1])

        # SIGHUP: RELOADING=1 (with MONOTONIC_USEC=), then READY=1.
        n0 = len(ns.messages())
        proxy.proc.send_signal(signal.SIGHUP)
        r = ns.wait("no RELOADING=1 after SIGHUP", lambda kv: kv.get("RELOADING") == "1", n0)
        at, kv, _ = ns.messages()[r]
        usec = kv.get("MONOTONIC_USEC", "")
        check(usec.isdigit(), "RELOADING=1 without MONOTONIC_USEC: %r" % kv)
        # CLOCK_MONOTONIC is the clock of time.monotonic() on Linux.
        check(abs(int(usec) / 1e6 - at) < 5, "MONOTONIC_USEC=%s is not the monotonic clock (now %.0f s)"
              % (usec, at))
        ns.wait("no READY=1 after RELOADING=1", lambda kv: kv.get("READY") == "1", r + 1)
        serves(env, t, "after the reload")

        # SIGTERM: STOPPING=1, and the master ends (no sessions to drain).
        n0 = len(ns.messages())
        proxy.proc.send_signal(signal.SIGTERM)
        ns.wait("no STOPPING=1 after SIGTERM", lambda kv: kv.get("STOPPING") == "1", n0)
        try:
            rc = proxy.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise Failure("ftpgate still running 10 s after SIGTERM")
        check(rc == 0, "ftpgate exited with %s after SIGTERM" % rc)
        check("cannot notify" not in proxy.log_text(), "a notification failed: %s"
              % [l for l in proxy.log_text().splitlines() if "cannot notify" in l][:1])
    finally:
        proxy.stop()
        ns.close()


def test_sd_notify_abstract(env):
    ns = NotifySocket("ftpgate-itest-%d-%d" % (os.getpid(), time.monotonic_ns()), abstract=True)
    b = env.backends["vs"]
    proxy = SdProxy(env, "notify-abs", [("vs", b.addr(), ("127.0.0.1",))],
                    environ={"NOTIFY_SOCKET": ns.address})
    try:
        proxy.start(wait_ports=False)
        ns.wait("no READY=1 on the abstract socket %s" % ns.address, lambda kv: kv.get("READY") == "1")
        serves(env, Target("127.0.0.1", proxy.ports["vs"], b, "notify-abs"), "after READY=1")
    finally:
        proxy.stop()
        ns.close()


register("sd_notify", test_sd_notify, proxy_only=True)
register("sd_notify_abstract", test_sd_notify_abstract, proxy_only=True)


# --------------------------------------------------------------------------
# Socket activation by FileDescriptorName

# Runs in the launched process: move the passed sockets to fd 3, 4, ... in
# the order given, set LISTEN_PID to our own pid (exec keeps it) and exec.
LAUNCH = r"""
import fcntl, os, sys
src = [int(x) for x in os.environ.pop("SDL_FDS").split(",")]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in src]
for fd in src:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)   # inheritable
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
"""


def listening_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def launch_activated(proxy, socks, names):
    """Start proxy's ftpgate with socks as fd 3.. and LISTEN_FDNAMES=names.
    The test keeps its copies open, so the ports stay taken (an ftpgate
    that bound them itself would get EADDRINUSE)."""
    proxy.write_conf()
    env = dict(os.environ, LISTEN_FDS=str(len(socks)), LISTEN_FDNAMES=":".join(names),
               SDL_FDS=",".join(str(s.fileno()) for s in socks))
    proxy.proc = spawn([PYTHON, "-c", LAUNCH, proxy.env.ftpgate, "-n", "-f", proxy.conf_path],
                       proxy.log_path, env=env, pass_fds=[s.fileno() for s in socks])
    wait_for("ftpgate is not ready: %s" % read_log_tail(proxy),
             lambda: proxy.proc.poll() is not None or " ready: " in proxy.log_text(), 10)
    check(proxy.proc.poll() is None, "ftpgate exited (status %s): %s"
          % (proxy.proc.returncode, read_log_tail(proxy)))


def test_socket_activation_fdnames(env):
    vs, py = env.backends["vs"], env.backends["py"]
    pa, pb, pg = free_port(), free_port(), free_port()
    # alpha's and beta's listen addresses are crossed over on purpose: the
    # socket named "alpha" is on pa, which the file gives to beta.  Only a
    # match by name gives each its own socket; gamma's socket has a name of
    # no listener and is matched by its address.
    proxy = SdProxy(env, "fdnames", [
        ("alpha", vs.addr(), ("127.0.0.1",), {"banner": "alpha gate"}),
        ("beta", py.addr(), ("127.0.0.1",), {"banner": "beta gate"}),
        ("gamma", vs.addr(), ("127.0.0.1",), {"banner": "gamma gate"})])
    proxy.ports.update(alpha=pb, beta=pa, gamma=pg)
    socks = [listening_socket(p) for p in (pb, pg, pa)]   # fd 3, 4, 5
    try:
        launch_activated(proxy, socks, ["beta", "other", "alpha"])
        text = proxy.log_text()
        check("using 3 socket(s) from systemd" in text, "no 'using 3 socket(s) from systemd': %s"
              % tail(text, 4))
        check("matches no listen address" not in text, "an inherited socket was not used: %s"
              % [l for l in text.splitlines() if "matches no" in l][:1])
        for port, name, b in ((pa, "alpha", vs), (pb, "beta", py), (pg, "gamma", vs)):
            serves(env, Target("127.0.0.1", port, b, name), "socket named %s" % name,
                   banner="%s gate" % name)

        # A reload that drops beta parks its socket (it stays open: systemd
        # could not give it to us again); one that brings beta back uses it.
        inode_b = os.fstat(socks[0].fileno()).st_ino
        full = list(proxy.listeners)
        proxy.listeners = [l for l in full if l[0] != "beta"]
        line = proxy.reload("without beta")
        check("reloaded: 2 listeners" in line, "reload without beta: %s" % line)
        check("socket:[%d]" % inode_b in proc_fds(proxy.proc.pid).values(),
              "the master closed the inherited socket of beta")
        check(banner_of("127.0.0.1", pb, timeout=1.5) is None,
              "a listener removed by the reload still greets clients")
        serves(env, Target("127.0.0.1", pa, vs, "alpha"), "alpha after beta went", banner="alpha gate")
        proxy.listeners = full
        line = proxy.reload("beta back")
        check("reloaded: 3 listeners" in line, "reload with beta again: %s" % line)
        serves(env, Target("127.0.0.1", pb, py, "beta"), "beta back after a reload", banner="beta gate")
    finally:
        proxy.stop()
        for s in socks:
            s.close()


register("socket_activation_fdnames", test_socket_activation_fdnames, proxy_only=True)


# --------------------------------------------------------------------------
# Reload

RELOAD_N = 20
RELOAD_SIZE = 32 * MiB
RELOAD_RATE = "4M"   # about 8 s per download (the proxy is done ~2 s earlier:
                     # socket buffers hold the rest); slack for a loaded machine


def test_reload_under_load(env):
    vs = env.backends["vs"]
    spare = 4
    proxy = SdProxy(env, "reload", [
        ("main", vs.addr(), ("127.0.0.1", "::1"), {"banner": "generation one"}),
        ("gone", vs.addr(), ("127.0.0.1",))], spare_sessions=spare, max_sessions=100)
    proxy.start()
    dls, outs, held = [], [], None
    try:
        t = Target("127.0.0.1", proxy.ports["main"], vs, "main")
        name = env.unique("reload") + ".bin"
        data = os.urandom(RELOAD_SIZE)
        vs.put_file(name, data)
        digest = sha256(data)
        # A session of the old generation on the listener that goes away.
        held = ftp_session(Target("127.0.0.1", proxy.ports["gone"], vs, "gone"), timeout=20)
        for i in range(RELOAD_N):
            out = os.path.join(env.files, "%s.%d" % (name, i))
            outs.append(out)
            dl = subprocess.Popen(["curl", "-sS", "--max-time", "60", "--limit-rate", RELOAD_RATE,
                                   "-o", out, t.url("pub/" + name)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            PROCS.append(dl)
            dls.append(dl)
        wait_for("the %d downloads did not all start" % RELOAD_N,
                 lambda: all(os.path.exists(o) and os.path.getsize(o) > MiB for o in outs), 15)
        old_idle = wait_for("no idle process before the reload", lambda: idle_children(proxy))
        inodes = listen_inodes(proxy.ports["main"])
        check(len(inodes) == 2, "main listens on %d sockets, not 2" % len(inodes))

        # Probe the kept port all through the reload: it must never refuse.
        refused, stop = [], threading.Event()

        def probe():
            while not stop.is_set():
                try:
                    socket.create_connection(("127.0.0.1", proxy.ports["main"]), timeout=5).close()
                except OSError as e:
                    refused.append(repr(e))
                time.sleep(0.1)
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        try:
            time.sleep(0.3)
            proxy.listeners = [("main", vs.addr(), ("127.0.0.1", "::1"), {"banner": "generation two"}),
                               ("added", vs.addr(), ("127.0.0.1",))]
            line = proxy.reload("new banner, listener added and removed")
            running = sum(dl.poll() is None for dl in dls)
            time.sleep(0.5)
        finally:
            stop.set()
            prober.join(10)
        check("reloaded: 2 listeners" in line, "reload: %s" % line)
        check(not refused, "the kept listen port refused connections during the reload: %r" % refused[:3])
        check(listen_inodes(proxy.ports["main"]) == inodes,
              "the listen sockets of the kept address were replaced (a window without a listener)")
        check(running == RELOAD_N, "only %d of %d downloads were still running at the reload (%s)"
              % (running, RELOAD_N, line.split(": ", 1)[0]))

        # New configuration for new sessions ...
        serves(env, t, "new session after the reload", banner="generation two")
        serves(env, Target("::1", proxy.ports["main"], vs, "main6"), "IPv6 session after the reload",
               banner="generation two")
        serves(env, Target("127.0.0.1", proxy.ports["added"], vs, "added"), "the added listener")
        try:
            with socket.create_connection(("127.0.0.1", proxy.ports["gone"]), timeout=5):
                raise Failure("the removed listener still accepts connections")
        except ConnectionRefusedError:
            pass
        # ... the old one for sessions in progress (even on a removed listener),
        path, small = small_file(env, vs, "held")
        check(retr(held, path) == small, "a session of the old generation stopped working")
        # ... and the idle processes of the old generation are gone.
        wait_for("idle processes of the old configuration still there: %r"
                 % [p for p in old_idle if not gone(p)], lambda: all(gone(p) for p in old_idle))
        wait_for("the pool was not refilled: idle %r" % idle_children(proxy),
                 lambda: len(idle_children(proxy)) == spare)

        for i, dl in enumerate(dls):
            try:
                rc = dl.wait(60)
            except subprocess.TimeoutExpired:
                raise Failure("download %d did not finish" % i)
            err = dl.stderr.read().decode("utf-8", "replace").strip()
            check(rc == 0, "download %d failed across the reload: rc=%d %s" % (i, rc, err))
            check(file_sha256(outs[i]) == digest, "download %d differs" % i)
        check(proxy.alive(), "ftpgate exited")
        # Under load means: every download was still running at the reload
        # (checked above) and most were still moving data through the proxy
        # (its transfer line comes after the reload line; lines are in the
        # order written).  Not all: socket buffers let the proxy finish a
        # few seconds before curl does, and curls start over a second or
        # more on a busy machine.
        text = proxy.log_text()
        at = text.index("reloaded: ")
        ends = [m.start() for m in re.finditer(r"event=transfer [^\n]*%s" % re.escape(name), text)]
        check(len(ends) == RELOAD_N, "%d transfer lines for %d downloads" % (len(ends), RELOAD_N))
        check(sum(e > at for e in ends) >= RELOAD_N // 2, "%d of the downloads were relayed completely before the reload"
              % sum(e < at for e in ends))
    finally:
        if held is not None:
            ftp_close(held)
        for dl in dls:
            stop_proc(dl)
        for o in outs:
            if os.path.exists(o):
                os.unlink(o)
        proxy.stop()


def test_reload_invalid_config(env):
    vs = env.backends["vs"]
    ns = NotifySocket(os.path.join(env.tmp, "notify-inv-%d.sock" % os.getpid()))
    proxy = SdProxy(env, "badreload", [("main", vs.addr(), ("127.0.0.1",), {"banner": "the old one"})],
                    environ={"NOTIFY_SOCKET": ns.address}, spare_sessions=2)
    proxy.start()
    held = None
    blocker = None
    try:
        t = Target("127.0.0.1", proxy.ports["main"], vs, "main")
        held = ftp_session(t, timeout=10)
        idle = wait_for("no 2 idle processes", lambda: len(idle_children(proxy)) == 2 and idle_children(proxy))

        # Two errors: both are logged as FILE:LINE: message.
        proxy.listeners = [("main", vs.addr(), ("127.0.0.1",), {"banner": "the new one"})]
        proxy.global_opts["bogus_key"] = "1"
        proxy.global_opts["idle_timeout"] = "soon"
        proxy.write_conf()
        l1, l2 = proxy.line_of("bogus_key"), proxy.line_of("idle_timeout")
        n0 = len(ns.messages())
        line = proxy.reload("invalid file")
        check("reload failed" in line, "an invalid file was not refused: %s" % line)
        time.sleep(0.3)
        check(all(not gone(p) for p in idle), "the idle processes were retired for a refused reload")
        text = proxy.log_text()
        for n, what in ((l1, "unknown key 'bogus_key'"), (l2, "idle_timeout")):
            check(re.search(r"%s:%d: .*%s" % (re.escape(proxy.conf_path), n, re.escape(what)), text),
                  "no '%s:%d: ...%s' in the log: %s" % (proxy.conf_path, n, what, tail(text, 5)))
        r = ns.wait("no RELOADING=1", lambda kv: kv.get("RELOADING") == "1", n0)
        ns.wait("no READY=1 after a failed reload", lambda kv: kv.get("READY") == "1", r + 1)
        check(proxy.alive(), "ftpgate exited on an invalid file")
        serves(env, t, "after the refused reload", banner="the old one")
        check(held.sendcmd("NOOP").startswith("200"), "the session in progress stopped answering")

        # A valid file with a listen address that cannot be bound: refused
        # as a whole, nothing of it applied.
        del proxy.global_opts["bogus_key"]
        proxy.global_opts["idle_timeout"] = 60
        blocker = listening_socket(free_port())
        proxy.listeners.append(("blocked", vs.addr(), ("127.0.0.1",)))
        proxy.ports["blocked"] = blocker.getsockname()[1]
        line = proxy.reload("unbindable address")
        check("reload failed" in line, "a file with an unbindable address was applied: %s" % line)
        check("cannot listen on 127.0.0.1:%d" % proxy.ports["blocked"] in proxy.log_text(),
              "the bind error is not logged")
        serves(env, t, "after the unbindable reload", banner="the old one")

        # The same file, fixed: the reload works (so the refusals above were
        # about the file, not about reloading).
        proxy.listeners.pop()
        line = proxy.reload("fixed file")
        check("reloaded: 1 listeners" in line, "the fixed file was not taken: %s" % line)
        serves(env, t, "after the fixed reload", banner="the new one")
        check(held.sendcmd("NOOP").startswith("200"), "the session in progress stopped answering")
    finally:
        if held is not None:
            ftp_close(held)
        if blocker is not None:
            blocker.close()
        proxy.stop()
        ns.close()


register("reload_under_load", test_reload_under_load, proxy_only=True)
register("reload_invalid_config", test_reload_invalid_config, proxy_only=True)
