#!/usr/bin/python3
"""ftpgate integration tests: real servers, real clients, the proxy in between.

    itest.py [--direct] [-k SUBSTRING ...] [--ftpgate PATH] [--keep]

Each test runs a real client (curl, lftp, Python ftplib) against a target.  By
default the target is ftpgate in front of a real backend (vsftpd or
pyftpdlib); with --direct the same test talks to the backend itself, which is
how the tests are validated before (and independently of) the proxy.  Tests
that only make sense with the proxy print SKIP in --direct mode.

Output: one line per test (PASS name / FAIL name: reason / SKIP name: reason)
and a final "N passed, N failed, N skipped"; exit status 1 if any test failed.

Every process started here is tracked and stopped by PID; every wait is
bounded.  Standard library only (plus the pyftpdlib backend script).
"""
import argparse
import atexit
import ftplib
import hashlib
import importlib
import io
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"  # the one with pyftpdlib
VSFTPD = "/usr/sbin/vsftpd"
MiB = 1024 * 1024


# --------------------------------------------------------------------------
# Outcomes and small assertions

class Skip(Exception):
    """Raised by a test that does not apply in this mode."""


class Failure(Exception):
    """Raised by a test whose check failed; the message is the reason."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(MiB)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def tail(text, n=12):
    lines = text.strip().splitlines()
    return " | ".join(lines[-n:])


# --------------------------------------------------------------------------
# Process tracking: everything we start is stopped by PID, bounded in time.

PROCS = []


def spawn(argv, log_path, **kw):
    """Start argv with stdout+stderr appended to log_path; track it."""
    log = open(log_path, "ab")
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             **kw)
    finally:
        log.close()
    PROCS.append(p)
    return p


def spawn_piped(argv, log_path):
    """Like spawn(), but the process writes into a pipe that a thread copies
    to log_path: its descriptors 1 and 2 are then no file on disk."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    PROCS.append(p)

    def copy(src=p.stdout):
        with open(log_path, "ab", buffering=0) as log:
            for line in iter(src.readline, b""):
                log.write(line)
        src.close()

    threading.Thread(target=copy, daemon=True).start()
    return p


def stop_proc(p, timeout=5.0):
    """Terminate p, wait up to timeout, then kill it.  Returns its status."""
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
    if p in PROCS:
        PROCS.remove(p)
    return p.returncode


def stop_all():
    for p in list(reversed(PROCS)):
        stop_proc(p)


def _on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


# --------------------------------------------------------------------------
# Ports and addresses

def host_url(host):
    return "[%s]" % host if ":" in host else host


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host="127.0.0.1"):
    with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_free(port):
    for host in ("127.0.0.1", "::1"):
        try:
            with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
        except OSError:
            return False
    return True


def free_port_range(n):
    """A block of n consecutive free ports below the ephemeral range."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - n)
        if all(port_free(p) for p in range(base, base + n)):
            return base, base + n - 1
    raise RuntimeError("no free block of %d ports" % n)


def wait_port(host, port, timeout=10.0, proc=None, log_path=None):
    """Wait until host:port accepts a TCP connection (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %s:%d: %s"
                               % (proc.returncode, host, port, read_tail(log_path)))
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing accepts on %s:%d after %.0fs: %s"
                       % (host, port, timeout, read_tail(log_path)))


def read_tail(path, n=8):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return tail(f.read().decode("utf-8", "replace"), n)


# --------------------------------------------------------------------------
# Backends

class Backend:
    """A real FTP server: start(), stop(), files under pub_dir."""
    kind = "?"

    def __init__(self, env, name, host):
        self.env = env
        self.name = name
        self.host = host
        self.port = None
        self.proc = None
        self.dir = os.path.join(env.tmp, "backend-" + name)
        self.log_path = os.path.join(self.dir, "server.log")

    def addr(self):
        return "%s:%d" % (host_url(self.host), self.port)

    def put_file(self, name, data):
        """Place a file in pub/ directly on disk (fixture for downloads)."""
        path = os.path.join(self.pub_dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path

    def start(self):
        raise NotImplementedError

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)
            self.proc = None


class Vsftpd(Backend):
    """vsftpd with anonymous login and anonymous upload into pub/."""
    kind = "vsftpd"
    user, password = "anonymous", "itest"

    def conf_extra(self):
        """Lines appended to vsftpd.conf.in (subclasses: TLS, tlsfix.py)."""
        return ""

    def start(self):
        root = os.path.join(self.dir, "root")
        self.pub_dir = os.path.join(root, "pub")
        empty = os.path.join(self.dir, "empty")
        for d in (self.dir, root, self.pub_dir, empty):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        # vsftpd refuses a writable anonymous root: root owns it, ftp owns pub.
        ftp_pw = __import__("pwd").getpwnam("ftp")
        os.chown(self.pub_dir, ftp_pw.pw_uid, ftp_pw.pw_gid)
        self.port = free_port(self.host)
        v6 = ":" in self.host
        with open(os.path.join(HERE, "vsftpd.conf.in")) as f:
            conf = f.read()
        conf = conf.format(
            listen="NO" if v6 else "YES", listen_ipv6="YES" if v6 else "NO",
            listen_address=("listen_address6=" if v6 else "listen_address=") + self.host,
            port=self.port, anon_root=root, empty=empty,
            log=os.path.join(self.dir, "vsftpd.log"))
        conf += self.conf_extra()
        conf_path = os.path.join(self.dir, "vsftpd.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        self.proc = spawn([VSFTPD, conf_path], self.log_path)
        wait_port(self.host, self.port, 10, self.proc, self.log_path)


class PyFtpd(Backend):
    """pyftpdlib with user test/secret (full permissions); supports MLSD."""
    kind = "pyftpdlib"
    user, password = "test", "secret"

    def extra_args(self):
        """More pyftpd.py arguments (subclasses: TLS, tlsfix.py)."""
        return []

    def start(self):
        root = os.path.join(self.dir, "root")
        self.pub_dir = os.path.join(root, "pub")
        os.makedirs(self.pub_dir, exist_ok=True)
        self.port = free_port(self.host)
        self.proc = spawn([PYTHON, os.path.join(HERE, "pyftpd.py"),
                           "--host", self.host, "--port", str(self.port),
                           "--root", root, "--user", self.user,
                           "--password", self.password,
                           "--log", os.path.join(self.dir, "pyftpd.log")] + self.extra_args(),
                          self.log_path)
        wait_port(self.host, self.port, 10, self.proc, self.log_path)


# --------------------------------------------------------------------------
# The proxy

class Proxy:
    """One ftpgate process from a generated configuration.

    listeners: list of (name, backend_addr, listen_hosts[, {extra key: value}
    [, {backend key: value}]]); a list value writes its key once per item
    (deny_arguments); the backend keys go into that listener's [backend]
    section (tls, tls_ca, ...).  Every
    listener gets its own port (the same on each listen host) and
    passive port range.  With log_pipe=True ftpgate's stdout/stderr is a pipe
    (copied into log_path by a thread), as under a service manager, instead
    of the log file itself."""

    # Every proxy of the run; their logs are scanned for crashes at the end.
    ALL = []

    def __init__(self, env, tag, listeners, **global_opts):
        Proxy.ALL.append(self)
        self.env = env
        self.tag = tag
        self.listeners = listeners
        self.dir = os.path.join(env.tmp, "proxy-" + tag)
        # Each proxy its own status socket: the default is one per host.
        self.global_opts = dict(user="nobody", max_sessions=200,
                                spare_sessions=4, idle_timeout=60,
                                status_socket=os.path.join(self.dir, "status.sock"))
        self.global_opts.update(global_opts)
        self.conf_path = os.path.join(self.dir, "ftpgate.conf")
        self.log_path = os.path.join(self.dir, "ftpgate.log")
        self.ports = {}
        self.proc = None

    def write_conf(self):
        os.makedirs(self.dir, exist_ok=True)
        lo, _ = free_port_range(100 * len(self.listeners))
        out = ["[global]"]
        out += ["%s = %s" % kv for kv in self.global_opts.items()]
        for i, lst in enumerate(self.listeners):
            name, backend_addr, hosts = lst[:3]
            extra = lst[3] if len(lst) > 3 else {}
            port = free_port("127.0.0.1")
            self.ports[name] = port
            plo = lo + 100 * i
            out += ["", "[listener %s]" % name,
                    "listen = " + ", ".join("%s:%d" % (host_url(h), port) for h in hosts),
                    "backend = be_" + name,
                    "passive_ports = %d-%d" % (plo, plo + 99)]
            out += ["%s = %s" % (k, x) for k, v in extra.items()
                    for x in (v if isinstance(v, list) else [v])]
            out += ["", "[backend be_%s]" % name,
                    "servers = " + backend_addr]
            bextra = lst[4] if len(lst) > 4 else {}
            out += ["%s = %s" % kv for kv in bextra.items()]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(out) + "\n")

    def start(self, log_pipe=False):
        self.write_conf()
        self.started_at = time.monotonic()
        argv = [self.env.ftpgate, "-n", "-f", self.conf_path]
        if log_pipe:
            self.proc = spawn_piped(argv, self.log_path)
        else:
            self.proc = spawn(argv, self.log_path)
        for lst in self.listeners:
            name, hosts = lst[0], lst[2]
            for h in hosts:
                wait_port(h, self.ports[name], 10, self.proc, self.log_path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None:
            rc = stop_proc(self.proc, timeout=10)
            self.proc = None
            return rc

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# A session process that crashed, or a sanitizer report, fails the run even
# when every client got what it wanted: the master replaces dead session
# processes, so a crash would otherwise go unnoticed.
CRASH_PATTERNS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                  "killed by signal 6", "killed by signal 11", "killed by signal 7",
                  "exited with status")


def crash_lines():
    found = []
    for p in Proxy.ALL:
        try:
            text = p.log_text()
        except OSError:
            continue
        for line in text.splitlines():
            if any(pat in line for pat in CRASH_PATTERNS):
                found.append("%s: %s" % (p.tag, line.strip()))
    return found


# --------------------------------------------------------------------------
# Audit log format (kept in one place so that it is easy to adjust)
#
#   session=ID event=open client=127.0.0.1:PORT listener=main
#   session=ID event=login user="anonymous" result=ok
#   session=ID event=transfer cmd=RETR path="pub/x" bytes=N seconds=S result=226
#   session=ID event=close reason="..."

AUDIT_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def audit_events(text):
    """Parse every audit line of a proxy log into a dict of its fields."""
    events = []
    for line in text.splitlines():
        i = line.find("session=")
        if i < 0 or "event=" not in line:
            continue
        ev = {}
        for k, v in AUDIT_KV.findall(line[i:]):
            if v.startswith('"'):
                v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            ev[k] = v
        ev["_line"] = line
        events.append(ev)
    return events


def session_events(proxy, client, timeout=5.0):
    """The audit events of the newest session opened from client ("ip:port"),
    once its close line is there (waits at most timeout).  Returns (sid,
    events in log order); sid is None when there is no open line for client."""
    deadline = time.monotonic() + timeout
    while True:
        evs = audit_events(proxy.log_text())
        sids = [e["session"] for e in evs
                if e.get("event") == "open" and e.get("client") == client]
        # Source ports get reused over a long run: the newest session
        # opened from client is the one just made.
        sid = sids[-1] if sids else None
        mine = [e for e in evs if e["session"] == sid]
        if (mine and mine[-1]["event"] == "close") or time.monotonic() > deadline:
            return sid, mine
        time.sleep(0.1)


# --------------------------------------------------------------------------
# Targets: where a client connects (the proxy, or the backend with --direct)

class Target:
    def __init__(self, host, port, backend, label):
        self.host, self.port, self.backend, self.label = host, port, backend, label
        self.user, self.password = backend.user, backend.password

    def url(self, path=""):
        return "ftp://%s:%s@%s:%d/%s" % (self.user, self.password,
                                         host_url(self.host), self.port, path)

    @property
    def v6(self):
        return ":" in self.host

    def __repr__(self):
        return "%s(%s:%d)" % (self.label, self.host, self.port)


class Env:
    def __init__(self, args):
        self.direct = args.direct
        self.ftpgate = args.ftpgate
        self.tmp = tempfile.mkdtemp(prefix="ftpgate-itest-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.files = os.path.join(self.tmp, "files")
        os.makedirs(self.files)
        self.backends = {}
        self.proxy = None
        self.counter = 0

    def start(self):
        for name, cls, host in (("vs", Vsftpd, "127.0.0.1"), ("vs6", Vsftpd, "::1"),
                                ("py", PyFtpd, "127.0.0.1"), ("py6", PyFtpd, "::1")):
            b = cls(self, name, host)
            b.start()
            self.backends[name] = b
        if not self.direct:
            self.proxy = self.make_proxy("main", {})
            self.proxy.start()

    def make_proxy(self, tag, global_opts, names=("vs", "py", "py6", "down"), listener_opts=None):
        both = ("127.0.0.1", "::1")
        table = {"vs": (self.backends["vs"].addr(), both),
                 "py": (self.backends["py"].addr(), both),
                 "py6": (self.backends["py6"].addr(), both),
                 "down": ("127.0.0.1:%d" % free_port(), ("127.0.0.1",))}
        listener_opts = listener_opts or {}
        return Proxy(self, tag, [(n,) + table[n] + (listener_opts.get(n, {}),) for n in names],
                     **global_opts)

    def target(self, name, family=4, proxy=None):
        """The address a client uses to reach backend `name`.

        Proxy mode: the proxy listener for that backend, over IPv4 or IPv6.
        Direct mode: the backend itself (vs over IPv6 is the second vsftpd)."""
        host = "::1" if family == 6 else "127.0.0.1"
        if self.direct:
            if name == "vs" and family == 6:
                name = "vs6"
            b = self.backends[name]
            return Target(b.host, b.port, b, "direct-" + name)
        proxy = proxy or self.proxy
        # "down" has no running backend; it still needs credentials.
        backend = self.backends.get(name) or Vsftpd(self, name, "127.0.0.1")
        return Target(host, proxy.ports[name], backend, "%s-%s" % (proxy.tag, name))

    def unique(self, stem):
        self.counter += 1
        return "%s-%d-%d" % (stem, os.getpid(), self.counter)

    def write_local(self, name, data):
        path = os.path.join(self.files, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def make_big_file(self, name, size):
        """Write size random bytes in chunks; return (path, sha256)."""
        path = os.path.join(self.files, name)
        h = hashlib.sha256()
        with open(path, "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 4 * MiB))
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        return path, h.hexdigest()

    def cleanup(self, keep):
        stop_all()
        if keep:
            print("kept %s" % self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# Clients

def run(argv, timeout=60, stdin=None):
    """Run argv; return (rc, stdout, stderr) as text.  Times out as a Failure."""
    try:
        p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("%s timed out after %ss" % (argv[0], timeout))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def curl(args, timeout=60):
    """curl with a verbose transcript in stderr ("> CMD" lines)."""
    return run(["curl", "-sS", "-v", "-g", "--connect-timeout", "10",
                "--max-time", str(timeout)] + args, timeout=timeout + 10)


def curl_ok(args, timeout=60):
    rc, out, err = curl(args, timeout)
    check(rc == 0, "curl %s: rc=%d: %s" % (" ".join(args[-2:]), rc, tail(err, 6)))
    return out, err


def sent(transcript, verb):
    """Did the client send a command starting with verb (curl -v transcript)?"""
    return re.search(r"^> %s\b" % re.escape(verb), transcript, re.M) is not None


# curl data-connection modes: extra arguments and the command that proves it.
CURL_MODES = {
    "epsv": (lambda a: [], "EPSV"),
    "pasv": (lambda a: ["--disable-epsv"], "PASV"),
    "eprt": (lambda a: ["-P", a], "EPRT"),
    "port": (lambda a: ["-P", a, "--disable-eprt"], "PORT"),
}


def curl_mode(t, mode):
    args, verb = CURL_MODES[mode]
    return args("::1" if t.v6 else "127.0.0.1"), verb


def lftp(t, cmds, timeout=90, settings=""):
    """Run lftp -c with bounded retries; returns (rc, out, err, debug log)."""
    dbg = os.path.join(tempfile.gettempdir(), "lftp-debug-%d-%d" % (os.getpid(), time.monotonic_ns()))
    script = ("set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; "
              "set ftp:ssl-allow no; set cmd:fail-exit yes; set xfer:clobber on; "
              "%s; debug -o %s 5; open -u %s,%s -p %d %s; %s"
              % (settings, dbg, t.user, t.password, t.port, t.host, cmds))
    try:
        rc, out, err = run(["lftp", "-c", script], timeout=timeout)
        with open(dbg, "rb") as f:
            log = f.read().decode("utf-8", "replace")
    finally:
        if os.path.exists(dbg):
            os.unlink(dbg)
    return rc, out, err, log


class FTP(ftplib.FTP):
    """ftplib.FTP that remembers every reply it read (for 1xx texts)."""

    def __init__(self, *a, **kw):
        self.replies = []
        super().__init__(*a, **kw)

    def getmultiline(self):
        line = super().getmultiline()
        self.replies.append(line)
        return line


def ftp_session(t, passive=True, timeout=30, login=True):
    f = FTP(timeout=timeout)
    f.connect(t.host, t.port)
    if login:
        f.login(t.user, t.password)
    f.set_pasv(passive)
    return f


def raw_cmd(f, line):
    """Send one command line, return the reply text (never raises on 4xx/5xx)."""
    f.putline(line)
    return f.getmultiline()


def ftp_close(f):
    try:
        f.quit()
    except (OSError, EOFError, ftplib.Error):
        f.close()


def retr(f, path, rest=None):
    buf = io.BytesIO()
    f.retrbinary("RETR " + path, buf.write, rest=rest)
    return buf.getvalue()


# --------------------------------------------------------------------------
# Test registry

TESTS = []


def register(name, fn, proxy_only=False):
    TESTS.append((name, fn, proxy_only))


def test(proxy_only=False):
    def deco(fn):
        register(fn.__name__[len("test_"):] if fn.__name__.startswith("test_") else fn.__name__,
                 fn, proxy_only)
        return fn
    return deco


# ---- 1. curl: every backend x every data mode ------------------------------

def curl_transfers(env, bname, mode):
    t = env.target(bname)
    extra, verb = curl_mode(t, mode)
    name = env.unique("curl-%s-%s" % (bname, mode)) + ".bin"
    data = os.urandom(700 * 1024 + 17)
    more = os.urandom(123 * 1024 + 5)
    src = env.write_local(name, data)
    add = env.write_local(name + ".more", more)
    out = os.path.join(env.files, name + ".got")

    _, err = curl_ok(extra + ["-T", src, t.url("pub/" + name)])
    check(sent(err, verb), "upload did not use %s" % verb)
    check(sent(err, "STOR"), "upload did not send STOR")
    curl_ok(extra + ["-o", out, t.url("pub/" + name)])
    check(file_sha256(out) == sha256(data), "downloaded file differs from upload")

    _, err = curl_ok(extra + ["--append", "-T", add, t.url("pub/" + name)])
    check(sent(err, "APPE"), "append did not send APPE")
    _, err = curl_ok(extra + ["-o", out, t.url("pub/" + name)])
    check(sent(err, "RETR"), "download did not send RETR")
    check(file_sha256(out) == sha256(data + more), "file after APPE differs")

    listing, err = curl_ok(extra + [t.url("pub/")])
    check(sent(err, "LIST"), "listing did not send LIST")
    check(re.search(r"\b%d\b.*\b%s$" % (len(data + more), re.escape(name)), listing, re.M),
          "LIST lacks %s with size %d: %s" % (name, len(data + more), tail(listing, 4)))
    names, err = curl_ok(extra + ["-l", t.url("pub/")])
    check(sent(err, "NLST"), "-l did not send NLST")
    check(name in [n.strip() for n in names.splitlines()], "NLST lacks %s" % name)


for _b in ("vs", "py"):
    for _m in CURL_MODES:
        register("curl_%s_%s" % (_b, _m),
                 lambda env, b=_b, m=_m: curl_transfers(env, b, m))


# ---- 2. Python ftplib ------------------------------------------------------

def ftplib_transfers(env, bname, passive):
    t = env.target(bname)
    f = ftp_session(t, passive)
    try:
        f.cwd("pub")
        name = env.unique("ftplib-%s" % bname)
        data = os.urandom(512 * 1024 + 3)
        more = os.urandom(64 * 1024 + 1)
        f.storbinary("STOR " + name, io.BytesIO(data))
        check(retr(f, name) == data, "RETR differs from STOR")
        check(f.size(name) == len(data), "SIZE is not %d" % len(data))
        f.storbinary("APPE " + name, io.BytesIO(more))
        check(retr(f, name) == data + more, "RETR after APPE differs")

        # STOU: the server picks the name and tells it in the 1xx reply.
        stou_data = os.urandom(33 * 1024)
        f.voidcmd("TYPE I")
        conn = f.transfercmd("STOU")
        conn.sendall(stou_data)
        conn.close()
        f.voidresp()
        prelim = [r for r in f.replies if r[:1] == "1"][-1]
        m = re.search(r"FILE:\s*(\S+)", prelim)
        check(m, "STOU reply names no file: %r" % prelim)
        stou_name = os.path.basename(m.group(1).rstrip("."))
        check(retr(f, stou_name) == stou_data, "RETR of STOU file %s differs" % stou_name)

        empty = name + ".empty"
        f.storbinary("STOR " + empty, io.BytesIO(b""))
        check(retr(f, empty) == b"", "zero-byte file came back non-empty")
        check(f.size(empty) == 0, "SIZE of zero-byte file is not 0")

        names = [os.path.basename(n) for n in f.nlst()]
        for n in (name, stou_name, empty):
            check(n in names, "NLST lacks %s" % n)
    finally:
        ftp_close(f)


def ftplib_ascii(env, bname, passive):
    t = env.target(bname)
    f = ftp_session(t, passive)
    try:
        f.cwd("pub")
        name = env.unique("ascii-%s" % bname) + ".txt"
        lines = ["line %d: %s" % (i, "x" * (i % 70)) for i in range(500)]
        f.storlines("STOR " + name, io.BytesIO(("\n".join(lines) + "\n").encode()))
        got = []
        f.retrlines("RETR " + name, got.append)
        check(got == lines, "TYPE A round trip differs (%d vs %d lines)" % (len(got), len(lines)))
        listing = []
        f.retrlines("LIST", listing.append)
        check(any(l.endswith(" " + name) for l in listing), "TYPE A LIST lacks %s" % name)
        check(any(r.startswith("200") for r in f.replies), "no 200 reply to TYPE A")
    finally:
        ftp_close(f)


def ftplib_rest(env, bname, passive):
    t = env.target(bname)
    name = env.unique("rest-%s" % bname)
    data = os.urandom(MiB + 7)
    t.backend.put_file(name, data)
    f = ftp_session(t, passive)
    try:
        for off in (1, 123457, len(data) - 1):
            check(retr(f, "pub/" + name, rest=off) == data[off:],
                  "RETR with REST %d differs" % off)
        check(retr(f, "pub/" + name) == data, "plain RETR after REST differs")
    finally:
        ftp_close(f)


def ftplib_mlsd(env, bname, passive):
    t = env.target(bname)
    f = ftp_session(t, passive)
    try:
        name = env.unique("mlsd")
        f.storbinary("STOR pub/" + name, io.BytesIO(b"m" * 4321))
        facts = dict(f.mlsd("pub", ["type", "size"]))
        check(name in facts, "MLSD lacks %s" % name)
        check(facts[name].get("type") == "file" and facts[name].get("size") == "4321",
              "MLSD facts wrong: %r" % facts[name])
    finally:
        ftp_close(f)


for _b in ("vs", "py"):
    for _mode, _pasv in (("pasv", True), ("active", False)):
        for _what, _fn in (("transfers", ftplib_transfers), ("ascii", ftplib_ascii),
                           ("rest", ftplib_rest), ("mlsd", ftplib_mlsd)):
            if _what == "mlsd" and _b == "vs":
                continue  # vsftpd has no MLSD
            register("ftplib_%s_%s_%s" % (_b, _mode, _what),
                     lambda env, b=_b, p=_pasv, fn=_fn: fn(env, b, p))


# ---- 3. lftp ---------------------------------------------------------------

LFTP_MODES = {
    "epsv": ("set ftp:passive-mode on; set ftp:prefer-epsv yes", "EPSV"),
    "pasv": ("set ftp:passive-mode on; set ftp:prefer-epsv no", "PASV"),
    "active": ("set ftp:passive-mode off; set ftp:prefer-epsv no", "PORT"),
}


def lftp_transfers(env, bname, mode):
    t = env.target(bname)
    settings, verb = LFTP_MODES[mode]
    name = env.unique("lftp-%s-%s" % (bname, mode))
    tree = os.path.join(env.files, name)
    os.makedirs(tree)
    files = {}
    for i, size in enumerate((0, 1, 65536, 3 * MiB + 11)):
        data = os.urandom(size)
        files["f%d" % i] = sha256(data)
        with open(os.path.join(tree, "f%d" % i), "wb") as f:
            f.write(data)
    back = tree + ".back"
    single = tree + ".single"
    rc, out, err, log = lftp(t, "mirror -R %s pub/%s; mirror pub/%s %s; "
                                "put %s/f3 -o pub/%s.one; get pub/%s.one -o %s; cls -1 pub/%s"
                             % (tree, name, name, back, tree, name, name, single, name),
                             settings=settings)
    check(rc == 0, "lftp rc=%d: %s" % (rc, tail(err, 4)))
    check(re.search(r"^---> %s" % verb, log, re.M), "lftp did not use %s" % verb)
    for fn, digest in files.items():
        path = os.path.join(back, fn)
        check(os.path.exists(path), "mirror did not bring back %s" % fn)
        check(file_sha256(path) == digest, "mirrored %s differs" % fn)
    check(file_sha256(single) == files["f3"], "put/get round trip differs")
    listed = sorted(os.path.basename(l.strip()) for l in out.splitlines() if l.strip())
    check(listed == sorted(files), "cls listing %r != %r" % (listed, sorted(files)))


for _b in ("vs", "py"):
    for _m in LFTP_MODES:
        register("lftp_%s_%s" % (_b, _m), lambda env, b=_b, m=_m: lftp_transfers(env, b, m))


# ---- 4. one big file ---------------------------------------------------------

@test()
def test_big_file_256mib(env):
    t = env.target("vs")
    size = int(os.environ.get("ITEST_BIG_MIB", "256")) * MiB
    name = env.unique("big") + ".bin"
    src, digest = env.make_big_file(name, size)
    curl_ok(["-T", src, t.url("pub/" + name)], timeout=120)
    out = src + ".got"
    curl_ok(["-o", out, t.url("pub/" + name)], timeout=120)
    check(os.path.getsize(out) == size, "downloaded %d bytes, not %d" % (os.path.getsize(out), size))
    check(file_sha256(out) == digest, "256 MiB download differs from upload")
    os.unlink(out)
    os.unlink(src)


# ---- 5. concurrency ----------------------------------------------------------

@test()
def test_concurrent_50_sessions(env):
    t = env.target("vs")
    n = 50
    barrier = threading.Barrier(n, timeout=60)
    errors = []
    done = []

    def worker(i):
        f = None
        try:
            data = os.urandom(MiB)
            name = env.unique("conc-%d" % i)
            f = ftp_session(t, passive=(i % 2 == 0), timeout=60)
            barrier.wait()  # all n sessions are logged in at the same time
            f.storbinary("STOR pub/" + name, io.BytesIO(data))
            if sha256(retr(f, "pub/" + name)) != sha256(data):
                errors.append("session %d: download differs" % i)
            else:
                done.append(i)
        except Exception as e:  # reported below, with the session number
            errors.append("session %d: %r" % (i, e))
            barrier.abort()
        finally:
            if f is not None:
                ftp_close(f)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 120
    for th in threads:
        th.join(max(0.1, deadline - time.monotonic()))
    check(not any(th.is_alive() for th in threads), "sessions still running after 120 s")
    check(not errors, "%d failed: %s" % (len(errors), "; ".join(errors[:3])))
    check(len(done) == n, "only %d of %d sessions completed" % (len(done), n))


# ---- 6. ABOR -------------------------------------------------------------------

def abor_mid_transfer(env, bname):
    t = env.target(bname)
    big = env.unique("abor")
    small = env.unique("abor-small")
    small_data = os.urandom(10000)
    t.backend.put_file(big, os.urandom(64 * MiB))
    t.backend.put_file(small, small_data)
    f = ftp_session(t)
    try:
        f.voidcmd("TYPE I")
        conn = f.transfercmd("RETR pub/" + big)
        got = 0
        while got < 256 * 1024:
            chunk = conn.recv(65536)
            check(chunk, "data connection closed after %d bytes" % got)
            got += len(chunk)
        conn.close()  # as curl does: drop the data connection, then ABOR
        first = f.abort()  # ftplib accepts 426/225/226 and raises otherwise
        # Two replies are owed: one for RETR, one for ABOR.  The second must be
        # 2xx, and nothing stale may be left for the next command.
        second = f.getresp()
        check(second[:1] == "2", "second reply after ABOR is %r" % second)
        check(first[:3] in ("426", "226", "225"), "first reply after ABOR is %r" % first)
        noop = f.sendcmd("NOOP")
        check(noop.startswith("200"), "NOOP after ABOR got %r" % noop)
        check(retr(f, "pub/" + small) == small_data, "RETR after ABOR differs")
    finally:
        ftp_close(f)


for _b in ("vs", "py"):
    register("abor_%s" % _b, lambda env, b=_b: abor_mid_transfer(env, b))


# ---- 7. REST with curl -C - -----------------------------------------------------

def curl_resume(env, bname):
    t = env.target(bname)
    name = env.unique("resume")
    data = os.urandom(2 * MiB + 99)
    t.backend.put_file(name, data)
    part = env.write_local(name, data[:700001])
    _, err = curl_ok(["-C", "-", "-o", part, t.url("pub/" + name)])
    check(sent(err, "REST 700001"), "curl did not send REST 700001")
    check(file_sha256(part) == sha256(data), "resumed download differs")


for _b in ("vs", "py"):
    register("curl_resume_%s" % _b, lambda env, b=_b: curl_resume(env, b))


# ---- 8. pipelining ---------------------------------------------------------------

def pipelining(env, bname):
    t = env.target(bname)
    f = ftp_session(t)
    try:
        f.sock.sendall(b"NOOP\r\nSYST\r\nPWD\r\n")  # one write, three commands
        codes = [f.getresp()[:3] for _ in range(3)]
        check(codes == ["200", "215", "257"], "replies out of order: %r" % codes)
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after pipelined commands failed")
    finally:
        ftp_close(f)


for _b in ("vs", "py"):
    register("pipelining_%s" % _b, lambda env, b=_b: pipelining(env, b))


# ---- 9. IPv6 ------------------------------------------------------------------------

def v6_roundtrip(env, t, modes):
    name = env.unique("v6") + ".bin"
    data = os.urandom(300 * 1024 + 1)
    src = env.write_local(name, data)
    out = src + ".got"
    for mode in modes:
        extra, verb = curl_mode(t, mode)
        _, err = curl_ok(extra + ["-T", src, t.url("pub/%s.%s" % (name, mode))])
        check(sent(err, verb), "%s: upload did not use %s" % (mode, verb))
        _, err = curl_ok(extra + ["-o", out, t.url("pub/%s.%s" % (name, mode))])
        check(file_sha256(out) == sha256(data), "%s: download differs" % mode)
        if t.v6 and verb == "EPRT":
            check(re.search(r"^> EPRT \|2\|::1\|\d+\|", err, re.M), "EPRT is not the |2| form")
        if t.v6 and verb == "EPSV":
            check(re.search(r"^< 229 .*\(\|\|\|\d+\|\)", err, re.M), "no 229 (|||port|) reply")


@test()
def test_ipv6_client_v4_backend(env):
    """Client over ::1; the backend is IPv4 vsftpd (direct: vsftpd on ::1)."""
    t = env.target("vs", family=6)
    check(t.v6, "target is not IPv6")
    v6_roundtrip(env, t, ("epsv", "eprt"))


@test()
def test_ipv4_client_v6_backend(env):
    """IPv4 client to a listener whose backend is pyftpdlib on ::1
    (direct: pyftpdlib over ::1 itself)."""
    t = env.target("py6", family=4)
    v6_roundtrip(env, t, ("epsv", "pasv", "eprt", "port") if not t.v6 else ("epsv", "eprt"))


@test()
def test_ipv6_ftplib(env):
    t = env.target("py", family=6) if not env.direct else env.target("py6")
    for passive in (True, False):
        f = ftp_session(t, passive)
        try:
            name = env.unique("v6ftplib")
            data = os.urandom(100000)
            f.storbinary("STOR pub/" + name, io.BytesIO(data))
            check(retr(f, "pub/" + name) == data, "IPv6 ftplib round trip differs")
        finally:
            ftp_close(f)


# ---- 10. policy: what the proxy must refuse (also true of both backends) ------------

def feat(env, bname):
    t = env.target(bname)
    f = ftp_session(t, login=False)
    try:
        reply = raw_cmd(f, "FEAT")
        check(reply.startswith("211"), "FEAT reply %r" % reply[:40])
        feats = {l.strip().split(" ")[0].upper() for l in reply.splitlines()[1:-1]}
        for x in ("EPSV", "EPRT"):
            check(x in feats, "FEAT lacks %s: %r" % (x, sorted(feats)))
    finally:
        ftp_close(f)


def listen_sock(host, port=0):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(8)
    s.setblocking(False)
    return s


def privileged_listener():
    for port in [21] + list(range(1023, 1000, -1)):
        try:
            return listen_sock("127.0.0.1", port)
        except OSError:
            continue
    raise Failure("no free port below 1024 on 127.0.0.1")


def port_bounce(env, bname):
    t = env.target(bname)
    provoke = bname == "vs"
    trap2 = listen_sock("127.0.0.2")
    trap6 = listen_sock("::1")
    trapp = privileged_listener()
    p2, p6, pp = (s.getsockname()[1] for s in (trap2, trap6, trapp))
    cases = ["PORT 127,0,0,2,%d,%d" % (p2 >> 8, p2 & 255),
             "PORT 127,0,0,1,%d,%d" % (pp >> 8, pp & 255),
             "EPRT |1|127.0.0.2|%d|" % p2,
             "EPRT |1|127.0.0.1|%d|" % pp,
             "EPRT |2|::1|%d|" % p6]
    f = ftp_session(t)
    try:
        for line in cases:
            reply = raw_cmd(f, line)
            check(reply[:3] in ("500", "501", "504", "522"), "%s answered %r" % (line, reply[:60]))
            if provoke:
                # Ask for a transfer anyway: there must be no connection attempt.
                # (Only where the backend answers 425 to a transfer without a
                # data address; pyftpdlib answers 150 and waits forever.)
                reply = raw_cmd(f, "NLST")
                check(not reply.startswith("1"), "NLST after refused %s answered %r"
                      % (line.split()[0], reply[:60]))
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after bounce attempts failed")
        for s in (trap2, trap6, trapp):
            r, _, _ = select.select([s], [], [], 0.5)
            check(not r, "a connection arrived at %s" % (s.getsockname(),))
    finally:
        ftp_close(f)
        for s in (trap2, trap6, trapp):
            s.close()


def passive_steal(env, bname):
    """A data connection from another address (127.0.0.2) must not get the data,
    and the real client (127.0.0.1) still completes its transfer."""
    t = env.target(bname)
    name = env.unique("steal")
    data = os.urandom(2 * MiB)
    t.backend.put_file(name, data)
    f = ftp_session(t)
    thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        f.voidcmd("TYPE I")
        host, port = f.makepasv()
        thief.bind(("127.0.0.2", 0))
        thief.settimeout(5)
        try:
            thief.connect((host, port))
            connected = True
        except OSError:
            connected = False  # refused outright: fine
        real = socket.create_connection((host, port), timeout=30)
        reply = f.sendcmd("RETR pub/" + name)
        check(reply.startswith("1"), "RETR answered %r" % reply)
        buf = bytearray()
        while True:
            chunk = real.recv(256 * 1024)
            if not chunk:
                break
            buf += chunk
        real.close()
        check(f.voidresp().startswith("226"), "transfer did not end with 226")
        check(sha256(bytes(buf)) == sha256(data), "real client got %d wrong bytes" % len(buf))
        if connected:
            try:
                stolen = thief.recv(65536)
            except ConnectionResetError:
                stolen = b""
            except socket.timeout:
                raise Failure("connection from 127.0.0.2 was left open")
            check(stolen == b"", "connection from 127.0.0.2 received %d bytes" % len(stolen))
    finally:
        thief.close()
        ftp_close(f)


def long_line(env, bname):
    t = env.target(bname)
    f = ftp_session(t)
    try:
        reply = raw_cmd(f, "NOOP " + "A" * 8192)
        check(reply.startswith("500"), "8 KiB line answered %r" % reply[:60])
        reply = f.sendcmd("NOOP")
        check(reply.startswith("200"), "NOOP after long line got %r" % reply[:60])
    finally:
        ftp_close(f)


for _b in ("vs", "py"):
    register("feat_%s" % _b, lambda env, b=_b: feat(env, b))
    register("port_bounce_%s" % _b, lambda env, b=_b: port_bounce(env, b))
    register("long_command_line_%s" % _b, lambda env, b=_b: long_line(env, b), proxy_only=True)
    # Both backends answer a foreign data connection with 425 and end the
    # transfer, so the behaviour asked of the proxy has no direct-mode twin.
    register("passive_steal_%s" % _b, lambda env, b=_b: passive_steal(env, b), proxy_only=True)


# ---- 10. proxy-only ------------------------------------------------------------------

@test(proxy_only=True)
def test_backend_down(env):
    t = env.target("down")
    with socket.create_connection((t.host, t.port), timeout=10) as s:
        s.settimeout(10)
        local_port = s.getsockname()[1]
        banner = s.recv(4096).decode("utf-8", "replace")
    check(banner.startswith("421"), "greeting with backend down is %r" % banner[:60])
    client = "127.0.0.1:%d" % local_port
    sid, mine = session_events(env.proxy, client)
    check(sid, "no open line for client %s" % client)
    check(mine[0].get("listener") == "down", "open line lacks listener=down: %s" % mine[0]["_line"])
    check(mine[-1]["event"] == "close" and mine[-1].get("reason"),
          "no close line with a reason for the backend-down session")


@test(proxy_only=True)
def test_audit_log(env):
    t = env.target("vs")
    name = env.unique("audit")
    data = os.urandom(54321)
    t.backend.put_file(name, data)
    f = ftp_session(t)
    client = "127.0.0.1:%d" % f.sock.getsockname()[1]
    check(retr(f, "pub/" + name) == data, "download differs")
    ftp_close(f)
    sid, mine = session_events(env.proxy, client)
    check(sid, "no open line for client %s" % client)
    kinds = [e["event"] for e in mine]
    check(mine[0].get("listener") == "vs", "open line lacks listener=vs: %s" % mine[0]["_line"])
    check(any(e["event"] == "login" and e.get("user") == t.user and e.get("result") == "ok"
              for e in mine), "no login line: %r" % kinds)
    xfer = [e for e in mine if e["event"] == "transfer"]
    check(len(xfer) == 1, "%d transfer lines: %r" % (len(xfer), kinds))
    x = xfer[0]
    check(x.get("cmd") == "RETR" and x.get("path", "").endswith(name)
          and x.get("bytes") == str(len(data)) and x.get("result") == "226",
          "transfer line wrong: %s" % x["_line"])
    check(kinds[0] == "open" and kinds[-1] == "close", "session lines out of order: %r" % kinds)


# ftpgate -t: FILE:LINE: message, exit 1 (line is 1-based)
GOOD_CONF = """[global]
user = nobody
max_sessions = 10
[listener a]
listen = 127.0.0.1:2121
backend = b
passive_ports = 40000-40099
[backend b]
servers = 127.0.0.1:21
"""

BAD_CONFS = {
    "unknown_key": (GOOD_CONF.replace("max_sessions = 10", "max_sesions = 10"), (3,)),
    "bad_address": (GOOD_CONF.replace("127.0.0.1:2121", "127.0.0.300:2121"), (5,)),
    "reversed_port_range": (GOOD_CONF.replace("40000-40099", "5000-4000"), (7,)),
    "port_out_of_range": (GOOD_CONF.replace("40000-40099", "60000-70000"), (7,)),
    "missing_backend": (GOOD_CONF.replace("backend = b", "backend = nowhere"), (4, 6)),
    "duplicate_listener": (GOOD_CONF + "[listener a]\nlisten = 127.0.0.1:2122\nbackend = b\n", (10,)),
}


def config_check(env, case):
    if case == "good":
        text, lines = GOOD_CONF, None
    else:
        text, lines = BAD_CONFS[case]
    path = os.path.join(env.tmp, "check-%s.conf" % case)
    with open(path, "w") as f:
        f.write(text)
    rc, out, err = run([env.ftpgate, "-t", "-f", path], timeout=10)
    if lines is None:
        check(rc == 0, "good config: rc=%d: %s" % (rc, tail(out + err, 3)))
        return
    check(rc == 1, "rc=%d, not 1: %s" % (rc, tail(out + err, 3)))
    found = re.findall(r"^%s:(\d+): \S" % re.escape(path), out + err, re.M)
    check(found, "no '%s:LINE: message' in output: %r" % (path, tail(out + err, 3)))
    check(any(int(n) in lines for n in found),
          "reported line(s) %s, expected %s" % (found, " or ".join(map(str, lines))))


register("config_good", lambda env: config_check(env, "good"), proxy_only=True)
for _c in BAD_CONFS:
    register("config_" + _c, lambda env, c=_c: config_check(env, c), proxy_only=True)


# Throttled downloads: the file must be much larger than what the kernel can
# buffer between backend and client (socket buffers autotune to several MiB
# per leg on loopback), or the proxy could finish relaying in a moment and
# the client would only be draining buffers when the interesting thing happens.
SLOW_SIZE = 64 * MiB
SLOW_RATE = "10M"   # curl --limit-rate: about 6.4 s for SLOW_SIZE


def throttled_fixture(env):
    name = env.unique("slow")
    data = os.urandom(SLOW_SIZE)
    env.backends["vs"].put_file(name, data)
    return name, data


@test(proxy_only=True)
def test_idle_timer_suspended_during_transfer(env):
    proxy = env.make_proxy("idle", {"idle_timeout": 2}, names=("vs",))
    proxy.start()
    try:
        t = env.target("vs", proxy=proxy)
        # First prove that the idle timer works at all ...
        f = ftp_session(t)
        time.sleep(4)
        try:
            reply = f.sendcmd("NOOP")
            raise Failure("idle session still answers after 4 s: %r" % reply)
        except (OSError, EOFError, ftplib.Error):
            pass
        finally:
            f.close()
        # ... then that a transfer of about 6 s outlives it.
        name, data = throttled_fixture(env)
        out = os.path.join(env.files, name)
        start = time.monotonic()
        curl_ok(["--limit-rate", SLOW_RATE, "-o", out, t.url("pub/" + name)], timeout=30)
        took = time.monotonic() - start
        check(took >= 5, "transfer took only %.1fs; the throttle did not work" % took)
        check(file_sha256(out) == sha256(data), "throttled download differs")
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_sigterm_drains(env):
    grace = 15
    proxy = env.make_proxy("term", {"shutdown_grace": grace}, names=("vs",))
    proxy.start()
    try:
        t = env.target("vs", proxy=proxy)
        name, data = throttled_fixture(env)
        out = os.path.join(env.files, name)
        dl = subprocess.Popen(["curl", "-sS", "--max-time", "30", "--limit-rate", SLOW_RATE,
                               "-o", out, t.url("pub/" + name)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        PROCS.append(dl)
        deadline = time.monotonic() + 10
        while not (os.path.exists(out) and os.path.getsize(out) > 4 * MiB):
            check(time.monotonic() < deadline, "download did not start")
            if dl.poll() is not None:  # (not check(): the message would block)
                raise Failure("download ended early: %s" % dl.stderr.read().decode("utf-8", "replace"))
            time.sleep(0.05)
        proxy.proc.send_signal(signal.SIGTERM)
        term_at = time.monotonic()
        # New connections must be refused (no 220 banner) while the transfer drains.
        deadline = time.monotonic() + 3
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                with socket.create_connection(("127.0.0.1", proxy.ports["vs"]), timeout=2) as s:
                    s.settimeout(2)
                    greeting = s.recv(64)
                    refused = not greeting.startswith(b"220")
            except (ConnectionRefusedError, ConnectionResetError, socket.timeout):
                refused = True
            if not refused:
                time.sleep(0.2)
        check(refused, "new connections still get a 220 banner 3 s after SIGTERM")
        try:
            rc = dl.wait(30)
        except subprocess.TimeoutExpired:
            raise Failure("download did not finish after SIGTERM")
        finally:
            stop_proc(dl)
        check(rc == 0, "download in progress failed after SIGTERM: rc=%d %s"
              % (rc, dl.stderr.read().decode("utf-8", "replace").strip()))
        check(file_sha256(out) == sha256(data), "download in progress differs")
        try:
            proxy.proc.wait(max(0.1, term_at + grace + 2 - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise Failure("ftpgate still running %ds after SIGTERM" % (grace + 2))
    finally:
        proxy.stop()


# ---- 11. processes, limits, startup modes (issue: itest2) --------------------------
#
# The session process of a connection is found through /proc: the children of
# the master (ppid == master pid) that hold a TCP socket are busy; the idle,
# pre-forked ones hold only their socketpair to the master.

def proc_children(ppid, zombies=False):
    """Children of ppid: the live ones, or (zombies=True) those in state Z."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the name may hold spaces
        if int(fields[1]) == ppid and (fields[0] == "Z") == zombies:
            kids.append(int(d))
    return sorted(kids)


def proc_ids(pid, which="Uid"):
    """The real, effective, saved and filesystem uid (or gid) of pid."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(which + ":"):
                return [int(x) for x in line.split()[1:5]]
    raise Failure("no %s line for pid %d" % (which, pid))


def proc_fds(pid):
    """{fd: readlink target} of pid (fds that vanish meanwhile are left out)."""
    out = {}
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(os.path.join(d, fd))
        except OSError:
            pass
    return out


def tcp_table():
    """{socket inode: (local port, remote port)} of every TCP socket."""
    table = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for line in f:
                p = line.split()
                table[int(p[9])] = (int(p[1].rsplit(":", 1)[1], 16),
                                    int(p[2].rsplit(":", 1)[1], 16))
    return table


def child_tcp(proxy):
    """{child pid: [(local port, remote port), ...]} for every child of the
    master; an empty list means an idle (pre-forked, unused) process."""
    table = tcp_table()
    out = {}
    for pid in proc_children(proxy.proc.pid):
        conns = []
        try:
            for target in proc_fds(pid).values():
                m = re.match(r"socket:\[(\d+)\]$", target)
                if m and int(m.group(1)) in table:
                    conns.append(table[int(m.group(1))])
        except OSError:
            continue  # exited meanwhile
        out[pid] = conns
    return out


def wait_for(what, cond, timeout=5.0):
    """Poll cond() until it returns a true value (returned) or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("%s (waited %.0f s)" % (what, timeout))
        time.sleep(0.05)


def session_pid(proxy, client_port, timeout=5.0):
    """The pid of the session process serving the client whose control
    connection has local port client_port."""
    def find():
        pids = [pid for pid, conns in child_tcp(proxy).items()
                if any(remote == client_port for _, remote in conns)]
        return pids[0] if len(pids) == 1 else None
    return wait_for("no session process holds the connection from port %d" % client_port, find,
                    timeout)


def idle_children(proxy):
    return sorted(pid for pid, conns in child_tcp(proxy).items() if not conns)


def busy_children(proxy):
    return sorted(pid for pid, conns in child_tcp(proxy).items() if conns)


def gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def stop_pids(pids, timeout=5.0):
    """SIGTERM, then SIGKILL, to processes we started indirectly (by PID)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(gone(p) for p in pids):
            time.sleep(0.05)
        if all(gone(p) for p in pids):
            return


def pid_events(proxy, pid):
    """Audit events logged by process pid (log lines carry ftpgate[PID])."""
    return [e for e in audit_events(proxy.log_text()) if "ftpgate[%d]:" % pid in e["_line"]]


def nobody_ids():
    import pwd
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def start_throttled_curl(t, name, out):
    """curl --limit-rate downloading pub/name to out; returns once 4 MiB are in."""
    dl = subprocess.Popen(["curl", "-sS", "--max-time", "60", "--limit-rate", SLOW_RATE,
                           "-o", out, t.url("pub/" + name)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    PROCS.append(dl)
    deadline = time.monotonic() + 10
    while not (os.path.exists(out) and os.path.getsize(out) > 4 * MiB):
        if dl.poll() is not None:
            raise Failure("download ended early: rc=%s %s"
                          % (dl.returncode, dl.stderr.read().decode("utf-8", "replace").strip()))
        check(time.monotonic() < deadline, "throttled download did not start")
        time.sleep(0.05)
    return dl


def serves_small_retr(env, t, what):
    """A new session on t gets 220, logs in, and downloads a small file intact."""
    name = env.unique("small")
    data = os.urandom(12345)
    t.backend.put_file(name, data)
    f = ftp_session(t, timeout=10)
    try:
        check(f.welcome.startswith("220"), "%s: greeting %r" % (what, f.welcome[:60]))
        check(retr(f, "pub/" + name) == data, "%s: small download differs" % what)
    finally:
        ftp_close(f)


@test(proxy_only=True)
def test_max_sessions(env):
    proxy = env.make_proxy("maxs", {"max_sessions": 2, "spare_sessions": 2}, names=("vs",))
    proxy.start()
    # The sessions of start()'s two port probes count until they are reaped
    # (slow under sanitizers): let them end first.
    wait_for("the port probes' sessions did not end",
             lambda: proxy.log_text().count("event=close ") >= 2 and not busy_children(proxy), 10)
    held = []
    try:
        t = env.target("vs", proxy=proxy)

        # The master frees a slot when it reaps that session's process (the
        # start-up port probe is a session too; slow under sanitizers):
        # until then a new connection may still get 421, so retry (bounded).
        def admitted():
            try:
                return ftp_session(t, timeout=10)
            except ftplib.error_temp:
                return None
        for _ in range(2):
            held.append(wait_for("a session under max_sessions = 2 got 421", admitted))
        for f in held:
            check(f.sendcmd("NOOP").startswith("200"), "a session under the limit does not answer")
        with socket.create_connection((t.host, t.port), timeout=10) as s:
            s.settimeout(10)
            third = s.recv(4096).decode("utf-8", "replace")
        check(third.startswith("421"), "third connection with max_sessions = 2 got %r" % third[:60])
        wait_for("no 'event=refused ... max_sessions' line in the log",
                 lambda: re.search(r"event=refused .*max_sessions", proxy.log_text()))
        ftp_close(held.pop(0))
        f = wait_for("after one of two sessions quit, a new connection still gets 421", admitted)
        held.append(f)
        check(f.welcome.startswith("220"), "greeting after one session quit: %r" % f.welcome[:60])
        name = env.unique("maxs")
        data = os.urandom(12345)
        t.backend.put_file(name, data)
        check(retr(f, "pub/" + name) == data, "small download after one session quit differs")
    finally:
        for f in held:
            ftp_close(f)
        proxy.stop()


@test(proxy_only=True)
def test_process_model(env):
    spare = 3
    proxy = env.make_proxy("procs", {"spare_sessions": spare}, names=("vs",))
    proxy.start()
    sessions = []
    try:
        t = env.target("vs", proxy=proxy)
        uid, gid = nobody_ids()
        check(proc_ids(proxy.proc.pid) == [0, 0, 0, 0], "the master does not run as root")
        wait_for("%d idle session processes never appeared (have %r)"
                 % (spare, idle_children(proxy)), lambda: len(idle_children(proxy)) == spare)
        pids = []
        for _ in range(2):
            f = ftp_session(t, timeout=10)
            sessions.append(f)
            pid = session_pid(proxy, f.sock.getsockname()[1])
            ids = proc_ids(pid)
            check(ids == [uid] * 4, "session process %d has uids %r, not nobody (%d)" % (pid, ids, uid))
            check(proc_ids(pid, "Gid") == [gid] * 4,
                  "session process %d has gids %r, not nobody's group (%d)" % (pid, proc_ids(pid, "Gid"), gid))
            pids.append(pid)
        check(pids[0] != pids[1], "two sessions are served by the same process %d" % pids[0])
        wait_for("with 2 sessions open, idle processes are %r, not %d"
                 % (idle_children(proxy), spare), lambda: len(idle_children(proxy)) == spare)
        ftp_close(sessions.pop(0))
        wait_for("session process %d still there after QUIT" % pids[0], lambda: gone(pids[0]))
        check(not gone(pids[1]), "the other session's process %d ended too" % pids[1])
        check(sessions[0].sendcmd("NOOP").startswith("200"), "the other session stopped answering")
        ftp_close(sessions.pop(0))
        wait_for("session process %d still there after QUIT" % pids[1], lambda: gone(pids[1]))
        wait_for("after all sessions ended: busy %r, idle %r (want 0 and %d)"
                 % (busy_children(proxy), idle_children(proxy), spare),
                 lambda: not busy_children(proxy) and len(idle_children(proxy)) == spare)
    finally:
        for f in sessions:
            ftp_close(f)
        proxy.stop()


@test(proxy_only=True)
def test_no_disk_during_transfer(env):
    proxy = env.make_proxy("nodisk", {}, names=("vs",))
    # Logs through a pipe, as under a service manager: with the harness's
    # usual log *file* on stderr that file would be open in every process.
    proxy.start(log_pipe=True)
    dl = None
    try:
        t = env.target("vs", proxy=proxy)
        name, _ = throttled_fixture(env)
        dl = start_throttled_curl(t, name, os.path.join(env.files, name))
        busy = busy_children(proxy)
        check(len(busy) == 1, "busy session processes during one download: %r" % busy)
        fds = proc_fds(busy[0])
        bad = {fd: p for fd, p in fds.items()
               if not (p.startswith(("socket:", "pipe:", "anon_inode:")) or p == "/dev/null")}
        check(not bad, "session process %d has open: %s" % (busy[0], ", ".join(
            "%d -> %s" % kv for kv in sorted(bad.items()))))
        kinds = [p.split(":")[0] for p in fds.values()]
        check(kinds.count("socket") >= 4 and "pipe" in kinds,
              "not a transfer in progress? fds: %r" % sorted(fds.values()))
    finally:
        if dl is not None:
            stop_proc(dl)
        proxy.stop()


class RawReplies:
    """Reads FTP replies from a control socket by hand, with timeouts."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _take(self):
        """One whole reply out of buf, or None."""
        lines = self.buf.split(b"\r\n")
        if len(lines) < 2:
            return None
        first = lines[0]
        if first[3:4] != b"-":
            self.buf = b"\r\n".join(lines[1:])
            return first.decode("utf-8", "replace")
        for i, l in enumerate(lines[1:-1], 1):
            if l[:3] == first[:3] and l[3:4] == b" ":
                self.buf = b"\r\n".join(lines[i + 1:])
                return b"\n".join(lines[:i + 1]).decode("utf-8", "replace")
        return None

    def within(self, seconds):
        """Every reply that arrives within seconds."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            r = self._take()
            if r is not None:
                out.append(r)
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return out
            chunk = self.sock.recv(4096)
            if not chunk:
                out.append("<control connection closed>")
                return out
            self.buf += chunk

    def next(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            r = self._take()
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise Failure("no reply within %.0f s" % timeout)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Failure("control connection closed while waiting for a reply")
            self.buf += chunk


def final_after_data(env, bname, size=32 * MiB, backend_done=False):
    """RETR with the data connection left unread for 1.5 s: no final reply in
    that time; the 226 comes after the client has read to EOF.

    backend_done (pyftpdlib, proxy only): also wait until the backend logs that
    its side of the transfer is complete, i.e. it has sent its 226 to the
    proxy, and check that the proxy still holds it."""
    t = env.target(bname)
    name = env.unique("hold")
    data = os.urandom(size)
    t.backend.put_file(name, data)
    f = ftp_session(t)
    d = None
    try:
        f.voidcmd("TYPE I")
        host, port = ftplib.parse229(f.sendcmd("EPSV"), f.sock.getpeername())
        d = socket.socket(family_of(host), socket.SOCK_STREAM)
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)  # no autotuning
        d.settimeout(30)
        d.connect((host, port))
        ctl = RawReplies(f.sock)  # ftplib's reader is empty here: TYPE and EPSV are answered
        f.sock.sendall(("RETR pub/%s\r\n" % name).encode())
        early = ctl.within(1.5)
        check(early and early[0][:1] == "1", "first reply to RETR within 1.5 s: %r" % early[:1])
        check(all(r[:1] == "1" for r in early),
              "final reply before the client read any data: %r" % early)
        if backend_done:
            log = os.path.join(t.backend.dir, "pyftpd.log")
            done = "pub/%s completed=1" % name
            end = time.monotonic() + 5
            while time.monotonic() < end and done not in open(log).read():
                early += ctl.within(0.1)
            check(all(r[:1] == "1" for r in early),
                  "final reply before the client read any data: %r" % early)
            if done not in open(log).read():
                raise Skip("the backend did not finish its side within 5 s; nothing to hold")
            early += ctl.within(0.5)
            check(all(r[:1] == "1" for r in early),
                  "the backend's 226 was relayed before the client read the data: %r" % early)
        h = hashlib.sha256()
        n = 0
        while True:
            chunk = d.recv(1024 * 1024)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        d.close()
        d = None
        final = ctl.next(30)
        check(final.startswith("226"), "final reply after reading the data: %r" % final[:60])
        check(n == len(data) and h.hexdigest() == sha256(data),
              "got %d bytes (want %d), digest %s" % (n, len(data), "differs" if n == len(data) else "-"))
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after the transfer failed")
    finally:
        if d is not None:
            d.close()
        ftp_close(f)


for _b in ("vs", "py"):
    register("final_reply_after_data_%s" % _b, lambda env, b=_b: final_after_data(env, b))
# 12 MiB: more than the proxy can put into its socket toward a client that
# does not read (wmem max 4 MiB + 256 KiB), less than the backend leg takes in
# (pyftpdlib finishes 8-16 MiB here), so the backend's 226 is really waiting
# in the proxy.  SKIP (not PASS) if the backend does not finish.
register("final_reply_held_py", lambda env: final_after_data(env, "py", 12 * MiB, True),
         proxy_only=True)


@test(proxy_only=True)
def test_inetd_mode(env):
    proxy = env.make_proxy("inetd", {}, names=("vs",))
    proxy.write_conf()  # the first listener gives backend and passive ports; nothing binds
    port = free_port()
    log = os.path.join(proxy.dir, "socat.log")
    # fork: one socat child per connection, which (nofork) becomes
    # "ftpgate -i" itself with the TCP socket as stdin/stdout, as inetd does.
    sc = spawn(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port,
                "EXEC:%s -i -n -f %s,nofork" % (env.ftpgate, proxy.conf_path)], log)
    try:
        wait_port("127.0.0.1", port, 10, sc, log)
        t = Target("127.0.0.1", port, env.backends["vs"], "inetd")
        for mode in ("epsv", "port"):
            extra, verb = curl_mode(t, mode)
            name = env.unique("inetd-%s" % mode)
            data = os.urandom(1500 * 1024 + 3)
            src = env.write_local(name, data)
            out = src + ".got"
            _, err = curl_ok(extra + ["-T", src, t.url("pub/" + name)])
            check(sent(err, verb), "%s upload did not use %s" % (mode, verb))
            _, err = curl_ok(extra + ["-o", out, t.url("pub/" + name)])
            check(sent(err, verb), "%s download did not use %s" % (mode, verb))
            check(file_sha256(out) == sha256(data), "%s: download differs from upload" % mode)
            with open(os.path.join(t.backend.pub_dir, name), "rb") as f:
                check(sha256(f.read()) == sha256(data), "%s: uploaded file differs on the backend" % mode)
        text = open(log, "rb").read().decode("utf-8", "replace")
        xfers = [e for e in audit_events(text) if e.get("event") == "transfer"]
        check(len(xfers) == 4 and all(e.get("result") == "226" for e in xfers),
              "inetd sessions logged %d transfer line(s): %s" % (len(xfers), tail(text, 4)))
        # "ftpgate -i" serves one session and exits: socat has no child left.
        wait_for("ftpgate -i processes still running after their sessions: %r"
                 % proc_children(sc.pid), lambda: not proc_children(sc.pid))
    finally:
        kids = proc_children(sc.pid)
        stop_proc(sc)
        stop_pids(kids)


@test(proxy_only=True)
def test_systemd_socket_activation(env):
    proxy = env.make_proxy("sd", {}, names=("vs",))
    proxy.write_conf()
    port = proxy.ports["vs"]
    pidfile = os.path.join(proxy.dir, "ftpgate.pid")
    launcher = spawn([PYTHON, os.path.join(HERE, "sdlaunch.py"), "127.0.0.1", str(port), pidfile,
                      env.ftpgate, "-n", "-f", proxy.conf_path], proxy.log_path)
    try:
        wait_for("the launcher wrote no pid file", lambda: os.path.exists(pidfile))
        with open(pidfile) as f:
            master = int(f.read())
        wait_for("ftpgate is not ready: %s" % read_tail(proxy.log_path, 4),
                 lambda: launcher.poll() is not None or " ready: " in proxy.log_text(), 10)
        check(launcher.poll() is None, "ftpgate exited (status %s): %s"
              % (launcher.returncode, read_tail(proxy.log_path, 4)))
        text = proxy.log_text()
        check("using 1 socket(s) from systemd" in text, "no 'using 1 socket(s) from systemd' in the log")
        check("matches no listen address" not in text, "the inherited socket was not used: %s"
              % tail(text, 3))
        t = Target("127.0.0.1", port, env.backends["vs"], "systemd")
        name = env.unique("sd")
        data = os.urandom(777 * 1024)
        t.backend.put_file(name, data)
        out = os.path.join(env.files, name)
        curl_ok(["-o", out, t.url("pub/" + name)])
        check(file_sha256(out) == sha256(data), "download through the inherited socket differs")
        check(not gone(master), "ftpgate (pid %d) is gone" % master)
    finally:
        stop_proc(launcher, timeout=15)


BANNER = "Welcome to the test gateway"


@test(proxy_only=True)
def test_listener_banner(env):
    proxy = env.make_proxy("banner", {}, names=("vs", "py"),
                           listener_opts={"vs": {"banner": BANNER}})
    proxy.start()
    try:
        f = ftp_session(env.target("vs", proxy=proxy))
        try:
            check(f.welcome == "220 " + BANNER, "listener with banner greets %r" % f.welcome)
            check(f.sendcmd("NOOP").startswith("200"), "NOOP after the banner failed")
        finally:
            ftp_close(f)
        # Without banner: the backend's own greeting, exactly as it sends it.
        for t in (env.target("py", proxy=proxy), env.target("vs")):
            b = t.backend
            direct = ftp_session(Target(b.host, b.port, b, "direct"), login=False)
            via = ftp_session(t, login=False)
            try:
                check(via.welcome == direct.welcome, "%s greets %r; the backend itself says %r"
                      % (t, via.welcome, direct.welcome))
            finally:
                ftp_close(direct)
                ftp_close(via)
    finally:
        proxy.stop()


def top_srcdir():
    return os.environ.get("top_srcdir") or os.path.normpath(os.path.join(HERE, "..", ".."))


@test(proxy_only=True)
def test_cli(env):
    rc, out, err = run([env.ftpgate, "-V"], timeout=10)
    check(rc == 0, "-V: rc=%d" % rc)
    m = re.match(r"ftpgate (\S+)\n?$", out)
    check(m, "-V printed %r" % out[:80])
    ac = os.path.join(top_srcdir(), "configure.ac")
    if os.path.exists(ac):
        want = re.search(r"AC_INIT\(\[ftpgate\],\s*\[([^\]]+)\]", open(ac).read())
        check(want and m.group(1) == want.group(1), "-V says %s, configure.ac %s"
              % (m.group(1), want and want.group(1)))
    rc2, out2, _ = run([env.ftpgate, "--version"], timeout=10)
    check(rc2 == 0 and out2 == out, "--version: rc=%d %r" % (rc2, out2[:60]))
    for flag in ("-h", "--help"):
        rc, out, err = run([env.ftpgate, flag], timeout=10)
        check(rc == 0, "%s: rc=%d" % (flag, rc))
        for opt in ("--config", "--foreground", "--check-config", "--inetd", "--version", "--help"):
            check(re.search(r"(^|[\s,])%s(?![\w-])" % opt, out), "%s output lacks %s" % (flag, opt))
    for bad in (["-Z"], ["--no-such-option"], ["stray-argument"]):
        rc, out, err = run([env.ftpgate] + bad, timeout=10)
        check(rc == 1, "%s: rc=%d, not 1" % (bad[0], rc))
        check(err.strip(), "%s: nothing on stderr" % bad[0])
    example = os.path.join(top_srcdir(), "etc", "ftpgate.conf")
    check(os.path.exists(example), "no shipped example at %s" % example)
    rc, out, err = run([env.ftpgate, "-t", "-f", example], timeout=10)
    check(rc == 0, "-t on the shipped example: rc=%d: %s" % (rc, tail(out + err, 3)))


def no_data_connection(env, bname):
    t = env.target(bname)
    name = env.unique("nodata")
    data = os.urandom(5000)
    t.backend.put_file(name, data)
    f = ftp_session(t, timeout=10)
    try:
        f.voidcmd("TYPE I")
        for cmd in ("RETR pub/" + name, "LIST pub"):
            reply = raw_cmd(f, cmd)
            check(reply.startswith("425"), "%s without PASV/PORT answered %r" % (cmd.split()[0], reply[:60]))
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after 425 failed")
        check(retr(f, "pub/" + name) == data, "RETR after the 425 differs")
    finally:
        ftp_close(f)


# pyftpdlib itself answers 150 and waits for a data connection: only the proxy
# owes the 425 there.
register("no_data_connection_vs", lambda env: no_data_connection(env, "vs"))
register("no_data_connection_py", lambda env: no_data_connection(env, "py"), proxy_only=True)


def bad_chars(env, bname):
    t = env.target(bname)
    f = ftp_session(t, timeout=10)
    try:
        # A backend that saw these would answer 200 (vsftpd: NOOP with an
        # argument) or split the line at the CR (pyftpdlib).
        for line in (b"NOOP a\x00b", b"NO\x00OP", b"NOOP a\rb", b"NO\rOP", b"\rNOOP"):
            f.sock.sendall(line + b"\r\n")
            reply = f.getmultiline()
            check(reply.startswith("500"), "%r answered %r" % (line, reply[:60]))
            reply = f.sendcmd("NOOP")
            check(reply.startswith("200"), "NOOP after %r answered %r" % (line, reply[:60]))
    finally:
        ftp_close(f)


for _b in ("vs", "py"):
    # vsftpd answers 200 to NOOP with an argument holding a NUL or CR, and
    # pyftpdlib takes a bare CR as the end of a line: only the proxy promises 500.
    register("nul_and_bare_cr_%s" % _b, lambda env, b=_b: bad_chars(env, b), proxy_only=True)


@test(proxy_only=True)
def test_client_vanishes(env):
    proxy = env.make_proxy("vanish", {}, names=("vs",))
    proxy.start()
    dl = None
    try:
        t = env.target("vs", proxy=proxy)
        name, _ = throttled_fixture(env)
        dl = start_throttled_curl(t, name, os.path.join(env.files, name))
        busy = busy_children(proxy)
        check(len(busy) == 1, "busy session processes during one download: %r" % busy)
        pid = busy[0]
        dl.kill()  # SIGKILL: the client's sockets just go
        dl.wait(5)
        wait_for("session process %d still there 5 s after its client was killed" % pid,
                 lambda: gone(pid))
        evs = pid_events(proxy, pid)
        check(any(e["event"] == "open" for e in evs), "no open line from process %d" % pid)
        check(evs and evs[-1]["event"] == "close" and evs[-1].get("reason"),
              "no close line with a reason from process %d: %r" % (pid, [e["_line"] for e in evs[-2:]]))
        serves_small_retr(env, t, "after a client vanished")
    finally:
        if dl is not None:
            stop_proc(dl)
        proxy.stop()


@test(proxy_only=True)
def test_backend_killed_during_retr(env):
    b = PyFtpd(env, "pykill", "127.0.0.1")
    b.start()
    proxy = Proxy(env, "bkill", [("pk", b.addr(), ("127.0.0.1",))])
    proxy.start()
    dl = None
    try:
        t = Target("127.0.0.1", proxy.ports["pk"], b, "bkill")
        name = env.unique("bkill")
        data = os.urandom(SLOW_SIZE)
        b.put_file(name, data)
        out = os.path.join(env.files, name)
        dl = start_throttled_curl(t, name, out)
        busy = busy_children(proxy)
        check(len(busy) == 1, "busy session processes during one download: %r" % busy)
        pid = busy[0]
        b.proc.kill()  # the backend dies (SIGKILL, by PID) mid-transfer
        b.proc.wait(5)
        try:
            rc = dl.wait(20)
        except subprocess.TimeoutExpired:
            raise Failure("curl still running 20 s after the backend died")
        err = dl.stderr.read().decode("utf-8", "replace").strip()
        check(rc != 0, "curl exited 0 although the backend died mid-transfer (got %d of %d bytes)"
              % (os.path.getsize(out), len(data)))
        check(os.path.getsize(out) < len(data) or file_sha256(out) != sha256(data),
              "curl failed (rc=%d) but has the whole file" % rc)
        wait_for("session process %d still there after the backend died" % pid, lambda: gone(pid))
        evs = pid_events(proxy, pid)
        check(evs and evs[-1]["event"] == "close" and evs[-1].get("reason"),
              "no close line with a reason from process %d: %r" % (pid, [e["_line"] for e in evs[-2:]]))
        wait_for("session processes left behind: %r" % busy_children(proxy),
                 lambda: not busy_children(proxy))
        check(proxy.alive(), "ftpgate exited")
    finally:
        if dl is not None:
            stop_proc(dl)
        proxy.stop()
        b.stop()


# --------------------------------------------------------------------------
# Runner

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--direct", action="store_true",
                    help="talk to the backends directly (validates the tests)")
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTRING",
                    help="run only tests whose name contains SUBSTRING (repeatable)")
    ap.add_argument("--ftpgate", default=os.path.join(
        os.environ.get("top_builddir", "."), "src", "ftpgate"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--list", action="store_true", help="list test names")
    args = ap.parse_args()

    # Test modules beside this file (t_*.py) register more tests; they
    # import this module as `itest`.
    sys.modules.setdefault("itest", sys.modules[__name__])
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    for mod in sorted(f[:-3] for f in os.listdir(here) if f.startswith("t_") and f.endswith(".py")):
        importlib.import_module(mod)

    selected = [t for t in TESTS if not args.k or any(k in t[0] for k in args.k)]
    if args.list:
        for name, _, proxy_only in selected:
            print(name + (" (proxy only)" if proxy_only else ""))
        return 0

    passed = failed = skipped = 0
    if not args.direct and not os.access(args.ftpgate, os.X_OK):
        for name, _, _ in selected:
            print("FAIL %s: no ftpgate executable at %s" % (name, args.ftpgate))
        print("0 passed, %d failed, 0 skipped" % len(selected))
        return 1

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    atexit.register(stop_all)
    env = Env(args)
    started = time.monotonic()
    try:
        try:
            env.start()
        except Exception as e:
            print("FAIL setup: %s" % e)
            print("0 passed, 1 failed, 0 skipped")
            return 1
        for name, fn, proxy_only in selected:
            t0 = time.monotonic()
            if proxy_only and args.direct:
                print("SKIP %s: proxy-specific (--direct)" % name, flush=True)
                skipped += 1
                continue
            try:
                fn(env)
                reason = None
            except Skip as e:
                print("SKIP %s: %s" % (name, e), flush=True)
                skipped += 1
                continue
            except Failure as e:
                reason = str(e)
            except (ftplib.Error, OSError, EOFError) as e:
                reason = "%s: %s" % (type(e).__name__, e)
            except Exception as e:
                reason = "%s: %s (%s)" % (type(e).__name__, e,
                                          traceback.format_exc().strip().splitlines()[-3].strip())
            if env.proxy is not None and not env.proxy.alive():
                why = "ftpgate exited with status %s: %s" % (
                    env.proxy.proc.returncode, read_tail(env.proxy.log_path, 4))
                reason = why if reason is None else "%s; %s" % (reason, why)
                env.proxy.stop()
                env.proxy = env.make_proxy("main", {})
                env.proxy.start()
            if reason is None:
                print("PASS %s" % name, flush=True)
                passed += 1
            else:
                print("FAIL %s: %s" % (name, reason.replace("\n", " ")), flush=True)
                failed += 1
            if os.environ.get("ITEST_TIMES"):
                print("  (%.1fs)" % (time.monotonic() - t0), file=sys.stderr)
        if not args.direct:
            bad = crash_lines()
            if bad:
                print("FAIL no_crashes_in_logs: %s" % " | ".join(bad[:5]), flush=True)
                failed += 1
            else:
                print("PASS no_crashes_in_logs", flush=True)
                passed += 1
    finally:
        env.cleanup(args.keep or failed > 0 and os.environ.get("ITEST_KEEP_ON_FAIL"))
    print("total %.0fs" % (time.monotonic() - started), file=sys.stderr)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
