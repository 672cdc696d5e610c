"""Helpers shared by the hostile-input and failure tests (t_hostile_*.py,
t_faults.py, t_leak.py).  Not a test module itself (no t_ prefix).

HProxy: an ftpgate whose ports are fixed when it is made (so a fake server
can be told them before the proxy starts), that may override passive_ports
per listener and the resource limits of the master, and that waits for the
master's "ready" log line instead of connecting to its listeners (a probe
connection would be a session, and would reach the backend).

FakeServer: fakeftpd.py playing one case file.

Ctl: a raw control connection that reads whole replies with timeouts and
tells a closed connection from a slow one.

/proc helpers for the master: fd count, CPU time, RSS, zombie children."""
import json
import os
import re
import select
import socket
import time

from itest import (HERE, PYTHON, Failure, Proxy, free_port, free_port_range, host_url,
                   proc_children, read_tail, spawn, stop_proc)


# --------------------------------------------------------------------------
# The proxy

class HProxy(Proxy):
    """listeners: [(name, backend_addr, listen_hosts, {extra keys}, {backend
    keys})]; the
    extra keys may include passive_ports, which then replaces the range the
    harness would pick.  preexec: run in the child before exec (e.g. to lower
    RLIMIT_NOFILE)."""

    def __init__(self, env, tag, listeners, preexec=None, **global_opts):
        super().__init__(env, tag, listeners, **global_opts)
        self.preexec = preexec
        lo, _ = free_port_range(100 * len(listeners))
        self.passive = {}
        for i, lst in enumerate(listeners):
            name = lst[0]
            self.ports[name] = free_port("127.0.0.1")
            extra = lst[3] if len(lst) > 3 else {}
            default = "%d-%d" % (lo + 100 * i, lo + 100 * i + 99)
            self.passive[name] = extra.get("passive_ports", default)

    def write_conf(self):
        os.makedirs(self.dir, exist_ok=True)
        out = ["[global]"] + ["%s = %s" % kv for kv in self.global_opts.items()]
        for lst in self.listeners:
            name, backend_addr, hosts = lst[:3]
            extra = dict(lst[3]) if len(lst) > 3 else {}
            extra.pop("passive_ports", None)
            addrs = ", ".join("%s:%d" % (host_url(h), self.ports[name]) for h in hosts)
            out += ["", "[listener %s]" % name,
                    "listen = " + addrs,
                    "backend = be_" + name,
                    "passive_ports = " + self.passive[name]]
            out += ["%s = %s" % kv for kv in extra.items()]
            out += ["", "[backend be_%s]" % name, "servers = " + backend_addr]
            out += ["%s = %s" % kv for kv in (lst[4] if len(lst) > 4 else {}).items()]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(out) + "\n")

    def start(self, log_pipe=False):
        self.write_conf()
        self.started_at = time.monotonic()
        argv = [self.env.ftpgate, "-n", "-f", self.conf_path]
        kw = {"preexec_fn": self.preexec} if self.preexec else {}
        self.proc = spawn(argv, self.log_path, **kw)
        deadline = time.monotonic() + 10
        while " ready: " not in self.log_text():
            if self.proc.poll() is not None:
                raise Failure("ftpgate exited with %s at startup: %s"
                              % (self.proc.returncode, read_tail(self.log_path, 4)))
            if time.monotonic() > deadline:
                raise Failure("ftpgate not ready after 10 s: %s" % read_tail(self.log_path, 4))
            time.sleep(0.05)


# --------------------------------------------------------------------------
# The fake backend

class FakeServer:
    """fakeftpd.py on 127.0.0.1:port playing one case file."""

    def __init__(self, env, tag, port=None):
        self.dir = os.path.join(env.tmp, "fake-" + tag)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port("127.0.0.1")
        self.events_path = os.path.join(self.dir, "events.jsonl")
        self.log_path = os.path.join(self.dir, "fakeftpd.log")
        self.proc = None

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self, case_path, variables=None):
        argv = [PYTHON, os.path.join(HERE, "fakeftpd.py"), "--case", case_path,
                "--port", str(self.port), "--events", self.events_path]
        for k, v in (variables or {}).items():
            argv += ["--var", "%s=%s" % (k, v)]
        self.proc = spawn(argv, self.log_path)
        # Not a probe connection: that would play the script.
        deadline = time.monotonic() + 10
        while not listening(self.port):
            if self.proc.poll() is not None:
                raise Failure("fakeftpd exited with %s: %s" % (self.proc.returncode,
                                                               read_tail(self.log_path, 6)))
            if time.monotonic() > deadline:
                raise Failure("fakeftpd not listening after 10 s")
            time.sleep(0.02)

    def events(self):
        if not os.path.exists(self.events_path):
            return []
        with open(self.events_path) as f:
            return [json.loads(l) for l in f if l.strip()]

    def wait_scripts_done(self, timeout):
        """Wait until every connection's script has ended; returns the events."""
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events()
            opened = {e["conn"] for e in evs if e["ev"] == "open"}
            ended = {e["conn"] for e in evs if e["ev"] == "end"}
            if opened <= ended or time.monotonic() > deadline:
                return evs
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.proc = None


def listening(port, host_hex="0100007F"):
    """Is there a TCP listener on 127.0.0.1:port (from /proc/net/tcp)?"""
    want = "%s:%04X" % (host_hex, port)
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[1] == want and p[3] == "0A":
                return True
    return False


# --------------------------------------------------------------------------
# A raw control connection

class Ctl:
    """Control connection read by hand: reply() returns one whole reply
    (multi-line joined with \\n) or None once the peer closed/reset it."""

    def __init__(self, host, port, timeout=10.0, source=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.host = host
        self.buf = b""
        self.eof = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, OSError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _take(self):
        lines = self.buf.split(b"\n")
        if len(lines) < 2:
            return None
        first = lines[0].rstrip(b"\r")
        if first[3:4] != b"-":
            self.buf = b"\n".join(lines[1:])
            return first.decode("latin-1")
        for i, l in enumerate(lines[1:-1], 1):
            l = l.rstrip(b"\r")
            if l[:3] == first[:3] and l[3:4] == b" ":
                self.buf = b"\n".join(lines[i + 1:])
                return "\n".join(x.rstrip(b"\r").decode("latin-1") for x in lines[:i + 1])
        return None

    def reply(self, timeout=10.0):
        """The next reply, or None if the connection closed first.  A reply
        that does not come within timeout is a Failure."""
        deadline = time.monotonic() + timeout
        while True:
            r = self._take()
            if r is not None:
                return r
            if self.eof:
                return None
            if not self._fill(deadline) and not self.eof:
                raise Failure("no reply within %.0f s (have %r)" % (timeout, self.buf[:80]))

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def cmd(self, line, timeout=10.0):
        self.send(line + "\r\n")
        return self.reply(timeout)

    def closed_within(self, seconds):
        """True if the peer closes within seconds with nothing more sent;
        any further reply is returned as a Failure message."""
        deadline = time.monotonic() + seconds
        while not self.eof:
            r = self._take()
            if r is not None:
                raise Failure("reply %r where the connection should close" % r[:80])
            if not self._fill(deadline) and not self.eof:
                return False
        r = self._take()
        if r is not None:
            raise Failure("reply %r where the connection should close" % r[:80])
        return True

    def close(self):
        self.sock.close()


def pasv_port(reply):
    """The port of a 229 (|||port|) or 227 (h,h,h,h,p,p) reply, or None."""
    m = re.search(r"\(\|\|\|(\d+)\|\)", reply)
    if m:
        return int(m.group(1))
    m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", reply)
    if m:
        return int(m.group(5)) * 256 + int(m.group(6))
    return None


def read_data(sock, timeout, limit=1 << 30):
    """Read a data connection to EOF (or reset); returns (bytes, how it ended)."""
    sock.settimeout(timeout)
    out = bytearray()
    try:
        while len(out) < limit:
            chunk = sock.recv(256 * 1024)
            if not chunk:
                return bytes(out), "eof"
            out += chunk
    except ConnectionResetError:
        return bytes(out), "reset"
    except socket.timeout:
        return bytes(out), "timeout"
    return bytes(out), "limit"


# --------------------------------------------------------------------------
# Build flavour

def sanitized(env):
    """True if env.ftpgate is an AddressSanitizer build.  Each session
    process then runs LeakSanitizer when it ends (session.c), which makes a
    session roughly 100 times dearer (measured here: 3 short sessions a
    second instead of 40-60), so the session-count tests scale down."""
    try:
        with open(env.ftpgate, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def count_from_env(env, var, normal, asan):
    """int($var) if set, else normal (asan on a sanitizer build)."""
    if os.environ.get(var):
        return int(os.environ[var])
    return asan if sanitized(env) else normal


# --------------------------------------------------------------------------
# /proc

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_ticks(pid):
    """utime + stime of pid, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure("no VmRSS for pid %d" % pid)


def zombies(ppid):
    """Children of ppid in state Z."""
    return proc_children(ppid, zombies=True)
