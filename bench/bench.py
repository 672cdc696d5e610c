#!/usr/bin/python3
"""ftpgate benchmark driver (stdlib only; started by bench/run.sh).

Starts vsftpd (backend), ftpgate and ProFTPD mod_proxy on 127.0.0.1, checks a
real transfer through each path, then times RETR and STOR of one large file
with curl, interleaving the paths within each round, and measures the CPU the
proxy's whole process tree spent per transfer.

BENCH_TLS=1: the same over explicit FTPS, PROT P on every leg (client ->
proxy and proxy -> vsftpd), with a throwaway CA made by the openssl CLI.
"""

import os
import re
import secrets
import ssl
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HOST = "127.0.0.1"
MIB = 1 << 20
GIB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")

MB = int(os.environ.get("BENCH_MB", "1024"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
STATE = os.environ["BENCH_STATE"]
VSFTPD = os.environ.get("VSFTPD", "/usr/sbin/vsftpd")
FTPGATE = os.environ.get("FTPGATE", "")
PROFTPD_ROOT = os.environ.get("PROFTPD_ROOT", "")
PATHS = os.environ.get("BENCH_PATHS", "direct ftpgate mod_proxy").split()
TLS = os.environ.get("BENCH_TLS", "0") == "1"
# mod_proxy's backend leg: "1.2" pinned (default) or "1.3" (1.2 and 1.3 allowed)
MODPROXY_TLS = os.environ.get("BENCH_MODPROXY_TLS", "1.2")
# BENCH_PIN=1: the proxies run on CPUs of their own (the upper half), curl,
# vsftpd and this script on the lower half, as if the proxy were a host of
# its own; direct then also has only the lower half.
PIN = os.environ.get("BENCH_PIN", "0") == "1"
_CPUS = sorted(os.sched_getaffinity(0))
CLIENT_CPUS = set(_CPUS[:len(_CPUS) // 2]) if PIN else set(_CPUS)
PROXY_CPUS = set(_CPUS[len(_CPUS) // 2:]) if PIN else set(_CPUS)
PKI = {}  # ca, cert, key: paths, filled by make_pki() in TLS mode
TLS_SEEN = {}  # path name -> what curl -v reported it negotiated (verify step)

# Targets from the FTPS performance issue, printed with the TLS table.
TLS_TARGET_RATIO = 0.6
TLS_TARGET_CPU = 2.0
TLS_MODPROXY_REF = "~0.54x direct, ~4.1 CPU s/GiB"
# Plain FTP (issue 2): ftpgate against direct, and the mod_proxy figures it quotes.
PLAIN_TARGET_RATIO = 0.95
PLAIN_TARGET_CPU = 0.35
PLAIN_MODPROXY_REF = "~0.6x direct, ~1.4 CPU s/GiB on RETR"
ORDER = ["direct", "ftpgate", "mod_proxy"]

# fixed passive ranges, disjoint per server
VS_PASV = (40000, 40099)
FG_PASV = (41000, 41099)
PF_PASV = (42000, 42099)

REAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reaper.py")
DAEMONS = []  # Popen objects, stopped at exit


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


# ---- processes ---------------------------------------------------------------

def record_pids():
    with open(os.path.join(STATE, "pids"), "w") as f:
        for p in DAEMONS:
            if p.poll() is None:
                f.write("%d\n" % p.pid)


def start_daemon(argv, logname, cpus=None):
    """cpus: the CPUs the daemon may use (default: this script's)."""
    out = open(os.path.join(STATE, logname), "ab")
    # under reaper.py, so that orphans of the daemon are reaped inside the
    # measured tree (see reaper.py); p.pid is the reaper's
    argv = [sys.executable, REAPER] + argv
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True,
                         cwd=STATE, preexec_fn=(lambda: os.sched_setaffinity(0, cpus))
                         if cpus else None)
    out.close()
    DAEMONS.append(p)
    record_pids()
    return p


def proc_stat(pid):
    """(ppid, state, utime+stime, cutime+cstime) in ticks, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); field n is rest[n - 3]
    return (int(rest[1]), rest[0], int(rest[11]) + int(rest[12]),
            int(rest[13]) + int(rest[14]))


def all_stats():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                out[int(d)] = st
    return out


def descendants(master, stats=None):
    stats = stats if stats is not None else all_stats()
    kids = {}
    for pid, st in stats.items():
        kids.setdefault(st[0], []).append(pid)
    out, todo = [], [master]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out, stats


def tree_cpu(master):
    """CPU seconds of master incl. reaped children (cutime/cstime) plus every
    live descendant's own and reaped-children time.  master is the reaper.py
    process above the daemon, so nothing of the tree escapes to init."""
    stats = all_stats()
    if master not in stats:
        return None
    total = stats[master][2] + stats[master][3]
    kids, _ = descendants(master, stats)
    for k in kids:
        total += stats[k][2] + stats[k][3]
    return total / CLK_TCK


def tcp_states():
    """inode -> TCP state (hex string) for all TCP sockets."""
    m = {}
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    p = line.split()
                    m[p[9]] = p[3]
        except OSError:
            pass
    return m


def busy_children(master):
    """Descendants that are zombies or hold a TCP socket that is not LISTEN:
    a session still running or not yet reaped."""
    kids, stats = descendants(master)
    states = tcp_states()
    busy = []
    for k in kids:
        if stats[k][1] in "ZX":
            busy.append(k)
            continue
        try:
            fds = os.listdir("/proc/%d/fd" % k)
        except OSError:
            continue
        for fd in fds:
            try:
                t = os.readlink("/proc/%d/fd/%s" % (k, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                st = states.get(t[8:-1])
                if st is not None and st != "0A":
                    busy.append(k)
                    break
    return busy


def settle(master, limit=10.0):
    """Wait (bounded) until master has no busy child. True if settled."""
    if master is None:
        return True
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not busy_children(master):
            time.sleep(0.05)  # let a replacement spare finish forking
            if not busy_children(master):
                return True
        time.sleep(0.02)
    return False


def stop_all():
    for p in list(DAEMONS):
        stop_one(p)
    DAEMONS.clear()
    record_pids()


def log_tail(logname, n=5):
    try:
        with open(os.path.join(STATE, logname), errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def stop_one(p):
    if p in DAEMONS:
        if p.poll() is None:
            kids, _ = descendants(p.pid)
            try:
                p.terminate()
            except OSError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    log("pid %d did not die" % p.pid)
            for k in kids:  # sessions left behind by their master
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
        DAEMONS.remove(p)
        record_pids()


# ---- network helpers ------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_banner(port, proc, limit=15.0):
    end = time.monotonic() + limit
    last = ""
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise Fail("exited with status %s before listening" % proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.settimeout(5)
                data = s.recv(512).decode("latin-1", "replace")
                if data.startswith("220"):
                    try:
                        s.sendall(b"QUIT\r\n")
                        s.recv(512)
                    except OSError:
                        pass
                    return
                last = data.strip()
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise Fail("no 220 banner on port %d within %.0f s (%s)" % (port, limit, last))


def ftps_probe(port, limit=5.0):
    """Explicit FTPS handshake on port, bounded: 220, AUTH TLS -> 234, then a
    TLS handshake that verifies the server certificate against the bench CA
    for 127.0.0.1.  Raises Fail with what went wrong; returns "TLSv1.x CIPHER"."""
    ctx = ssl.create_default_context(cafile=PKI["ca"])
    stage = "banner"
    try:
        with socket.create_connection((HOST, port), timeout=limit) as s:
            s.settimeout(limit)
            f = s.makefile("rb")
            line = f.readline(1024).decode("latin-1", "replace").strip()
            while line[3:4] == "-" or not line[:3].isdigit():
                if not line:
                    raise Fail("FTPS probe: connection closed before the banner")
                line = f.readline(1024).decode("latin-1", "replace").strip()
            if not line.startswith("220"):
                raise Fail("FTPS probe: banner %r" % line[:100])
            stage = "reply to AUTH TLS"
            s.sendall(b"AUTH TLS\r\n")
            line = f.readline(1024).decode("latin-1", "replace").strip()
            while line[3:4] == "-":
                line = f.readline(1024).decode("latin-1", "replace").strip()
            if not line.startswith("234"):
                raise Fail("FTPS probe: AUTH TLS answered %r, want 234 (no FTPS on this port?)"
                           % (line[:100] or "(connection closed)"))
            f.close()
            stage = "TLS handshake"
            with ctx.wrap_socket(s, server_hostname=HOST) as t:
                got = "%s %s" % (t.version(), t.cipher()[0])
                try:
                    t.sendall(b"QUIT\r\n")
                    t.recv(512)
                except (OSError, ssl.SSLError):
                    pass
                return got
    except socket.timeout:
        raise Fail("FTPS probe: no %s within %.0f s" % (stage, limit))
    except ssl.SSLError as e:
        raise Fail("FTPS probe: TLS handshake failed: %s" % e)
    except OSError as e:
        raise Fail("FTPS probe: %s" % e)


def make_pki():
    """Throwaway CA and a server certificate for 127.0.0.1 (SAN IP), made with
    the openssl CLI under STATE/pki.  One server certificate serves vsftpd and
    both proxies' client-facing listeners."""
    d = os.path.join(STATE, "pki")
    os.makedirs(d)
    os.chmod(d, 0o755)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, cert = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = IP:127.0.0.1\n")
    steps = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "2", "-subj", "/CN=ftpgate bench throwaway CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext],
    ]
    for argv in steps:
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise Fail("openssl %s did not finish within 60 s" % argv[1])
        if cp.returncode != 0:
            raise Fail("openssl %s failed: %s" % (argv[1], cp.stderr.strip()[-300:]))
    for p in (ca_key, key):
        os.chmod(p, 0o600)  # read by the daemons as root, before they drop privileges
    os.chmod(ca, 0o644)
    os.chmod(cert, 0o644)
    PKI.update(ca=ca, cert=cert, key=key)


# ---- servers ------------------------------------------------------------------------

def setup_tree():
    root = os.path.join(STATE, "ftproot")  # anon_root: not writable by the user
    os.makedirs(os.path.join(root, "pub"))
    os.makedirs(os.path.join(root, "up"))
    os.chmod(root, 0o755)
    os.chmod(os.path.join(root, "pub"), 0o755)
    shutil.chown(os.path.join(root, "up"), "ftp")
    os.chmod(os.path.join(root, "up"), 0o755)
    empty = os.path.join(STATE, "empty")
    os.makedirs(empty)
    os.chmod(empty, 0o755)
    return root, empty


def make_file(path, nbytes):
    block = secrets.token_bytes(4 * MIB)
    with open(path, "wb") as f:
        left = nbytes
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    os.chmod(path, 0o644)


def start_vsftpd(root, empty):
    port = free_port()
    conf = os.path.join(STATE, "vsftpd.conf")
    with open(conf, "w") as f:
        f.write("""\
listen=YES
listen_ipv6=NO
listen_address=%(host)s
listen_port=%(port)d
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=NO
ftp_username=ftp
anon_root=%(root)s
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=NO
anon_other_write_enable=YES
anon_umask=022
pasv_enable=YES
pasv_min_port=%(pmin)d
pasv_max_port=%(pmax)d
port_enable=YES
connect_from_port_20=NO
secure_chroot_dir=%(empty)s
dirmessage_enable=NO
xferlog_enable=NO
syslog_enable=NO
vsftpd_log_file=%(state)s/vsftpd.xfer.log
tcp_wrappers=NO
%(ssl)smax_clients=0
max_per_ip=0
idle_session_timeout=300
data_connection_timeout=300
""" % dict(host=HOST, port=port, root=root, empty=empty, pmin=VS_PASV[0],
           pmax=VS_PASV[1], state=STATE, ssl=vsftpd_ssl()))
    p = start_daemon([VSFTPD, conf], "vsftpd.log")
    wait_banner(port, p)
    if TLS:
        ftps_probe(port)
    return p, port


def vsftpd_ssl():
    if not TLS:
        return "ssl_enable=NO\n"
    # FTPS required for the anonymous user the bench logs in as (and for local
    # users, were they enabled): login and data protected (PROT P), data
    # connections must resume the control connection's TLS session.
    return """\
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
ssl_ciphers=HIGH
rsa_cert_file=%(cert)s
rsa_private_key_file=%(key)s
""" % PKI


def start_ftpgate(vsport):
    if not FTPGATE or not os.path.isfile(FTPGATE) or not os.access(FTPGATE, os.X_OK):
        raise Fail("binary %s not found" % (FTPGATE or "(unset)"))
    port = free_port()
    conf = os.path.join(STATE, "ftpgate.conf")
    with open(conf, "w") as f:
        f.write("""\
[global]
user = nobody
spare_sessions = 2
[listener bench]
listen = %s:%d
backend = vs
passive_ports = %d-%d
%s[backend vs]
servers = %s:%d
%s""" % (HOST, port, FG_PASV[0], FG_PASV[1],
         "tls = explicit\ntls_cert = %(cert)s\ntls_key = %(key)s\n" % PKI if TLS else "",
         HOST, vsport,
         "tls = explicit\ntls_verify = yes\ntls_ca = %(ca)s\n" % PKI if TLS else ""))
    if TLS:
        try:
            chk = subprocess.run([FTPGATE, "-t", "-f", conf], capture_output=True,
                                 text=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise Fail("ftpgate -t did not finish within 30 s")
        if chk.returncode != 0:
            raise Fail("config check (ftpgate -t) failed: " +
                       (chk.stdout + chk.stderr).strip()[-300:])
    p = start_daemon([FTPGATE, "-n", "-f", conf], "ftpgate.log", PROXY_CPUS)
    wait_banner(port, p)
    if TLS:
        # fail here, clearly and within seconds, if the listener cannot do FTPS
        # yet (rather than leave curl to its transfer timeout)
        ftps_probe(port)
    return p, port


def start_proftpd(vsport):
    if not PROFTPD_ROOT:
        raise Fail("ProFTPD not available (see run.sh output)")
    port = free_port()
    d = os.path.join(STATE, "proftpd")
    tables = os.path.join(d, "tables")
    os.makedirs(tables)
    os.chmod(d, 0o755)
    shutil.chown(tables, "nobody", "nogroup")
    conf = os.path.join(d, "proftpd.conf")
    with open(conf, "w") as f:
        f.write("""\
ModulePath          %(mods)s
LoadModule          mod_tls.c
LoadModule          mod_proxy.c

ServerName          "bench"
ServerType          standalone
DefaultServer       on
Port                %(port)d
DefaultAddress      %(host)s
SocketBindTight     on
UseIPv6             off
UseReverseDNS       off
User                nobody
Group               nogroup
MaxInstances        64
PidFile             %(d)s/proftpd.pid
ScoreboardFile      %(d)s/proftpd.scoreboard
SystemLog           %(d)s/proftpd.syslog
TransferLog         none
WtmpLog             off
PassivePorts        %(pmin)d %(pmax)d
TimeoutIdle         300
TimeoutNoTransfer   300
TimeoutStalled      300
<IfModule mod_ident.c>
  IdentLookups      off
</IfModule>
<IfModule mod_delay.c>
  DelayEngine       off
</IfModule>

<IfModule mod_proxy.c>
  ProxyEngine               on
  ProxyLog                  %(d)s/proxy.log
  ProxyTables               %(tables)s
  ProxyRole                 reverse
  ProxyReverseServers       ftp://%(host)s:%(vsport)d
  ProxyDataTransferPolicy   PASV
  ProxyTimeoutConnect       5sec
%(proxytls)s</IfModule>
%(tls)s""" % dict(mods=os.path.join(PROFTPD_ROOT, "usr/lib/proftpd"), port=port,
           host=HOST, d=d, tables=tables, pmin=PF_PASV[0], pmax=PF_PASV[1],
           vsport=vsport, tls=proftpd_tls(d), proxytls=proftpd_proxytls()))
    argv = [os.path.join(PROFTPD_ROOT, "usr/sbin/proftpd"), "-n", "-c", conf]
    chk = subprocess.run(argv + ["-t"], capture_output=True, text=True, timeout=30)
    if chk.returncode != 0:
        raise Fail("config check failed: " + (chk.stdout + chk.stderr).strip()[-500:])
    p = start_daemon(argv, "proftpd.log", PROXY_CPUS)
    wait_banner(port, p)
    if TLS:
        ftps_probe(port)
    return p, port


def proftpd_tls(d):
    """mod_tls: FTPS toward the client, required (control and data)."""
    if not TLS:
        return ""
    return """
<IfModule mod_tls.c>
  TLSEngine                 on
  TLSRequired               on
  TLSLog                    %(d)s/tls.log
  TLSProtocol               TLSv1.2 TLSv1.3
  TLSRSACertificateFile     %(cert)s
  TLSRSACertificateKeyFile  %(key)s
  TLSVerifyClient           off
</IfModule>
""" % dict(PKI, d=d)


def proftpd_proxytls():
    """mod_proxy: FTPS (AUTH TLS, PROT P) toward vsftpd, certificate verified.
    Pinned to TLS 1.2 by default: mod_proxy's uploads fail on a TLS 1.3
    backend leg (doc/PERFORMANCE.md)."""
    if not TLS:
        return ""
    proto = "TLSv1.2" if MODPROXY_TLS == "1.2" else "TLSv1.2 TLSv1.3"
    return """\
  ProxyTLSEngine            on
  ProxyTLSProtocol          %s
  ProxyTLSCACertificateFile %s
  ProxyTLSVerifyServer      on
  ProxyTLSTransferProtectionPolicy required
""" % (proto, PKI["ca"])


# ---- transfers ----------------------------------------------------------------------

def machine_busy():
    """CPU seconds the whole machine has been busy (all CPUs, every process and
    softirq; idle and iowait excluded), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / CLK_TCK


def curl(args, limit, tls_seen=None):
    """tls_seen: a list to which the "SSL connection using ..." lines of curl -v
    are added (TLS mode; use for small transfers only)."""
    argv = ["curl", "-sS", "--connect-timeout", "5", "--max-time", str(int(limit)),
            "-w", "%{size_download} %{size_upload} %{time_total}\\n"]
    if TLS:
        # explicit FTPS, PROT P: curl --ssl-reqd protects control and data
        argv += ["--ssl-reqd", "--cacert", PKI["ca"]]
        if tls_seen is not None:
            argv.append("-v")
    argv += args
    t0 = time.monotonic()
    r0 = os.times()
    m0 = machine_busy()
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=limit + 10)
    except subprocess.TimeoutExpired:
        raise Fail("curl did not finish within %d s" % (limit + 10))
    busy = machine_busy() - m0
    r1 = os.times()
    wall = time.monotonic() - t0
    ccpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    if tls_seen is not None:
        for l in cp.stderr.splitlines():
            m = re.search(r"SSL connection using (.*)", l)
            if m and m.group(1).strip() not in tls_seen:
                tls_seen.append(m.group(1).strip())
    if cp.returncode != 0:
        err = "\n".join(l for l in cp.stderr.splitlines()
                        if not l.startswith(("*", ">", "<", "{", "}")))
        raise Fail("curl exit %d: %s" % (cp.returncode, (err or cp.stderr).strip()[-300:]))
    dl, ul, tt = cp.stdout.split()[-3:]
    return int(float(dl)), int(float(ul)), float(tt), wall, ccpu, busy


def xfer_limit(nbytes):
    return 60 + nbytes / (10 * 1e6)  # floor of 10 MB/s


class Path:
    def __init__(self, name, port, master, backend):
        self.name, self.port, self.master, self.backend = name, port, master, backend
        self.seq = 0

    def url(self, p):
        return "ftp://%s:%d/%s" % (HOST, self.port, p)

    def measure(self, op, src, nbytes, root):
        """One timed transfer; returns a dict of raw numbers."""
        master = self.master.pid if self.master else None
        if not settle(master):
            log("%s: proxy still busy before %s" % (self.name, op))
        settle(self.backend.pid)
        c0 = tree_cpu(master) if master else None
        b0 = tree_cpu(self.backend.pid)
        self.seq += 1
        if op == "RETR":
            dl, ul, tt, wall, ccpu, busy = curl(["-o", "/dev/null", self.url("pub/" + src)],
                                          xfer_limit(nbytes))
            if dl != nbytes:
                raise Fail("RETR got %d bytes, expected %d" % (dl, nbytes))
        else:
            name = "%s-%d.bin" % (self.name, self.seq)
            dest = os.path.join(root, "up", name)
            dl, ul, tt, wall, ccpu, busy = curl(["-T", os.path.join(STATE, src),
                                           self.url("up/" + name)], xfer_limit(nbytes))
        settled = settle(master)
        settle(self.backend.pid)
        c1 = tree_cpu(master) if master else None
        b1 = tree_cpu(self.backend.pid)
        if op == "STOR":
            try:
                got = os.path.getsize(dest)
                os.unlink(dest)
            except OSError:
                got = -1
            if ul != nbytes or got != nbytes:
                raise Fail("STOR sent %d, server has %d, expected %d" % (ul, got, nbytes))
        if master and (self.master.poll() is not None):
            raise Fail("proxy master exited (status %s)" % self.master.returncode)
        return dict(bytes=nbytes, time=tt, wall=wall, mbps=nbytes / tt / 1e6,
                    proxy_cpu=(c1 - c0) if master and c0 is not None and c1 is not None else None,
                    backend_cpu=(b1 - b0) if b0 is not None and b1 is not None else None,
                    curl_cpu=ccpu, machine_cpu=busy, settled=settled)

    def verify(self, root):
        """Byte-exact RETR and STOR of a small file before measuring."""
        out = os.path.join(STATE, "verify-%s.bin" % self.name)
        seen = TLS_SEEN.setdefault(self.name, []) if TLS else None
        curl(["-o", out, self.url("pub/small.bin")], 60, seen)
        with open(out, "rb") as a, open(os.path.join(root, "pub", "small.bin"), "rb") as b:
            if a.read() != b.read():
                raise Fail("RETR of small.bin differs")
        os.unlink(out)
        name = "verify-%s.bin" % self.name
        curl(["-T", os.path.join(root, "pub", "small.bin"), self.url("up/" + name)], 60, seen)
        dest = os.path.join(root, "up", name)
        with open(dest, "rb") as a, open(os.path.join(root, "pub", "small.bin"), "rb") as b:
            if a.read() != b.read():
                raise Fail("STOR of small.bin differs")
        os.unlink(dest)
        # and one with the benchmark's own file, compared by size
        self.measure("RETR", "big.bin", self.nbytes, root)
        self.measure("STOR", "upload.bin", self.nbytes, root)


# ---- report -------------------------------------------------------------------------------

def fmt(v, spec="%.1f"):
    return "n/a" if v is None else spec % v


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def floor_line():
    cells = []
    for op in ("RETR", "STOR"):
        xs = [f[0] for f in FLOOR.get(op, []) if f]
        cells.append("%s-like %s" % (op, fmt(median(xs), "%.2f")))
    print()
    print("Floor: a minimal relay (Python, blocking recv_into()/sendall() through one 4 MiB "
          "buffer; no FTP, poll or timers) on the proxy's CPUs between a vsftpd-like sender and "
          "a curl-like receiver cost %s CPU s/GiB (median over rounds; see floor_probe() in "
          "bench.py)." % ", ".join(cells))


def targets(med, issue, ratio, cpu, ref):
    """The issue's targets for ftpgate and whether this run met them."""
    print("Targets (%s): ftpgate >= %.2gx direct and <= %.2g CPU s/GiB, RETR and STOR; "
          "mod_proxy reference %s." % (issue, ratio, cpu, ref))
    verdict = []
    for op in ("RETR", "STOR"):
        m, d = med[("ftpgate", op, "mbps")], med[("direct", op, "mbps")]
        c = med[("ftpgate", op, "cpu")]
        if m is None or not d:
            verdict.append("%s not measured" % op)
            continue
        ok = m / d >= ratio and c is not None and c <= cpu
        verdict.append("%s %.2fx, %s CPU s/GiB: %s" % (op, m / d, fmt(c, "%.2f"),
                                                       "met" if ok else "NOT met"))
    print("ftpgate against the targets: " + "; ".join(verdict) + ".")


def headroom(med):
    """What the CPUs leave a proxy.  Client, proxy and server share this
    machine's CPUs, so a proxied path can only be as fast as direct if the
    direct path leaves CPU time idle: with N CPUs and direct taking T s/GiB
    of wall time, a path at ratio R may use at most N*T/R CPU s/GiB of the
    whole machine.  Printed next to what direct, ftpgate and the minimal relay
    of floor_probe() used."""
    n = len(CLIENT_CPUS)  # shared mode: every CPU this bench may use
    ratio = TLS_TARGET_RATIO if TLS else PLAIN_TARGET_RATIO
    lines = []
    for op in ("RETR", "STOR"):
        t, b = med[("direct", op, "spg")], med[("direct", op, "busy")]
        if t is None or b is None:
            continue
        line = ("%s: direct keeps the %d CPUs %.0f%% busy (%.2f CPU s/GiB); %.2gx direct "
                "allows a path %.2f CPU s/GiB of the whole machine, %.2f more than direct" % (
                    op, n, 100 * b / (n * t), b, ratio, n * t / ratio, n * t / ratio - b))
        bp = med.get(("ftpgate", op, "busy"))
        if bp is not None:
            line += "; the path through ftpgate used %.2f (ftpgate itself %s)" % (
                bp, fmt(med.get(("ftpgate", op, "cpu")), "%.2f"))
        fl = median([f[1] for f in FLOOR.get(op, []) if f])
        if fl is not None:
            line += "; the minimal relay's chain used %.2f" % fl
        lines.append(line)
    if lines:
        print()
        print("CPU headroom (client, proxy and server share this machine's CPUs; "
              "see doc/PERFORMANCE.md):")
        for l in lines:
            print("* " + l + ".")


def floor_probe(op, path, nbytes):
    """The least a relay can cost here.  A minimal relay (one Python process,
    blocking recv_into() and sendall() through one 4 MiB buffer: no FTP, no
    poll, no TLS) between a sender and a receiver shaped like the bench's
    vsftpd and curl: RETR-like, sendfile() of the bench file into a reader of
    16 KiB (curl's buffer); STOR-like, 64 KiB writes (curl's upload buffer)
    into a reader of 64 KiB (vsftpd's).  The relay runs on the proxies' CPUs,
    the ends on the client's.  Returns (relay CPU s/GiB, machine busy CPU
    s/GiB), or None if it did not finish in time or the receiver did not get
    every byte."""
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    rs = socket.socket()
    rs.bind((HOST, 0))
    rs.listen(1)

    def child(role):
        ok = False
        try:
            if role == "relay":
                os.sched_setaffinity(0, PROXY_CPUS)
                c, _ = rs.accept()
                d = socket.create_connection((HOST, ls.getsockname()[1]), timeout=60)
                buf = bytearray(4 * MIB)
                mv = memoryview(buf)
                while True:
                    k = c.recv_into(buf)
                    if not k:
                        break
                    d.sendall(mv[:k])
                d.close()
            elif role == "send":
                s = socket.create_connection((HOST, rs.getsockname()[1]), timeout=60)
                with open(path, "rb") as f:
                    if op == "RETR":
                        s.sendfile(f)
                    else:
                        buf = bytearray(64 * 1024)
                        while True:
                            k = f.readinto(buf)
                            if not k:
                                break
                            s.sendall(memoryview(buf)[:k])
                s.close()
            else:
                a, _ = ls.accept()
                buf = bytearray((16 if op == "RETR" else 64) * 1024)
                got = 0
                while True:
                    k = a.recv_into(buf)
                    if not k:
                        break
                    got += k
                if got != nbytes:
                    return
            ok = True
        finally:
            os._exit(0 if ok else 1)  # an exception, or a short transfer, is a failed probe

    m0 = machine_busy()
    kids = {}
    for role in ("relay", "recv", "send"):
        pid = os.fork()
        if pid == 0:
            child(role)
        kids[pid] = role
    ls.close()
    rs.close()
    relay_cpu = None
    failed = False
    deadline = time.monotonic() + xfer_limit(nbytes)
    while kids and time.monotonic() < deadline:
        pid, status, ru = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.01)
            continue
        failed |= os.waitstatus_to_exitcode(status) != 0
        if kids.pop(pid, None) == "relay":
            relay_cpu = ru.ru_utime + ru.ru_stime
    busy = machine_busy() - m0
    for pid in kids:  # bounded: a hung probe is killed and reported as n/a
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if kids or failed or relay_cpu is None:
        return None
    return relay_cpu * GIB / nbytes, busy * GIB / nbytes


def report(results, status, nbytes):
    ops = ("RETR", "STOR")
    med = {}
    for name in ORDER:
        for op in ops:
            rs = results.get((name, op), [])
            med[(name, op, "mbps")] = median([r["mbps"] for r in rs])
            med[(name, op, "cpu")] = median([r["proxy_cpu"] * GIB / r["bytes"]
                                             for r in rs if r["proxy_cpu"] is not None])
            med[(name, op, "bcpu")] = median([r["backend_cpu"] * GIB / r["bytes"]
                                              for r in rs if r["backend_cpu"] is not None])
            med[(name, op, "busy")] = median([r["machine_cpu"] * GIB / r["bytes"] for r in rs])
            # wall time of the curl process: the span machine_cpu covers
            med[(name, op, "spg")] = median([r["wall"] * GIB / r["bytes"] for r in rs])
    print()
    print("## ftpgate benchmark%s: %d MiB file, %d round(s), loopback, curl %s" %
          (" over FTPS (explicit, PROT P on both legs)" if TLS else "",
           nbytes // MIB, ROUNDS, curl_version()))
    print()
    if PIN:
        print("Pinned (--pinned): curl, vsftpd and the bench on CPUs %s, each proxy on CPUs %s "
              "of its own, as on a gateway host; direct uses CPUs %s only." % (
                  sorted(CLIENT_CPUS), sorted(PROXY_CPUS), sorted(CLIENT_CPUS)))
    else:
        print("Shared: curl, vsftpd and the proxy share all %d CPUs (--pinned gives the proxy "
              "CPUs of its own)." % len(CLIENT_CPUS))
    print()
    if TLS:
        print("FTPS: curl --ssl-reqd --cacert CA (AUTH TLS, PBSZ 0, PROT P); vsftpd requires TLS "
              "on control and data and session reuse on data connections (require_ssl_reuse=YES); "
              "ftpgate: listener tls = explicit, backend tls = explicit, tls_verify = yes; "
              "mod_proxy: mod_tls (TLSRequired on) toward the client, ProxyTLSEngine on toward "
              "vsftpd, backend leg %s.  Certificates: throwaway CA from the openssl CLI, "
              "server certificate with SAN IP:127.0.0.1." % (
                  "pinned to TLS 1.2 (ProxyTLSProtocol TLSv1.2: mod_proxy uploads fail on a "
                  "TLS 1.3 backend leg)" if MODPROXY_TLS == "1.2" else
                  "TLS 1.2 or 1.3 (ProxyTLSProtocol TLSv1.2 TLSv1.3; BENCH_MODPROXY_TLS=1.3)"))
        print()
    print("Throughput is the median over rounds in MB/s (10^6 B/s); ratio is vs direct; "
          "proxy CPU is user+system of the proxy's whole process tree, seconds per GiB.")
    print()
    print("| path | RETR MB/s | RETR ratio | STOR MB/s | STOR ratio "
          "| proxy CPU s/GiB RETR | proxy CPU s/GiB STOR |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ORDER:
        row = [name]
        for op in ops:
            m = med[(name, op, "mbps")]
            d = med[("direct", op, "mbps")]
            row.append(fmt(m))
            row.append(fmt(m / d if m is not None and d else None, "%.2f"))
        for op in ops:
            row.append("-" if name == "direct" else fmt(med[(name, op, "cpu")], "%.2f"))
        print("| " + " | ".join(row) + " |")
    if TLS:
        print()
        targets(med, "FTPS issue", TLS_TARGET_RATIO, TLS_TARGET_CPU, TLS_MODPROXY_REF)
        print("Caveat: direct FTPS pays a fixed ~0.2 s stall per transfer here (vsftpd answers "
              "TYPE/SIZE late once curl has started the data TLS handshake), which a proxy "
              "that opens its backend data leg later avoids: small files flatter the proxies' "
              "ratios; see doc/PERFORMANCE.md.")
        seen = ["%s: %s" % (n, ", ".join(TLS_SEEN[n])) for n in ORDER if TLS_SEEN.get(n)]
        if seen:
            print("Client leg as curl reported it (verify step): " + "; ".join(seen) + ".")
        back = proxy_log_tls()
        if back:
            print("mod_proxy backend leg as its ProxyLog reports it: " + ", ".join(back) + ".")
    else:
        print()
        targets(med, "issue 2", PLAIN_TARGET_RATIO, PLAIN_TARGET_CPU, PLAIN_MODPROXY_REF)
    if FLOOR:
        floor_line()
    if not PIN:  # pinned, the proxy's CPUs are not the ones direct used
        headroom(med)
    notes = [(n, s) for n, s in status.items() if s]
    if notes:
        print()
        for n, s in notes:
            print("* %s: %s" % (n, s))
    print()
    print("### Raw numbers")
    print()
    print("| round | path | op | seconds | MB/s | proxy CPU s | backend CPU s | curl CPU s "
          "| machine busy CPU s | settled |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---|")
    for rnd in range(1, ROUNDS + 1):
        for name in ORDER:
            for op in ops:
                for r in results.get((name, op), []):
                    if r["round"] != rnd:
                        continue
                    print("| %d | %s | %s | %.3f | %.1f | %s | %s | %.2f | %.2f | %s |" % (
                        rnd, name, op, r["time"], r["mbps"], fmt(r["proxy_cpu"], "%.2f"),
                        fmt(r["backend_cpu"], "%.2f"), r["curl_cpu"], r["machine_cpu"],
                        "yes" if r["settled"] else "NO"))
    print()
    print("Backend (vsftpd) CPU, median s/GiB: " + ", ".join(
        "%s %s %s" % (n, op, fmt(med[(n, op, "bcpu")], "%.2f"))
        for n in ORDER for op in ops if med[(n, op, "bcpu")] is not None))
    for (name, op), errs in sorted(ERRORS.items()):
        for e in errs:
            print("* error %s %s: %s" % (name, op, e))
    sys.stdout.flush()


ERRORS = {}
FLOOR = {}


def proxy_log_tls():
    """Protocol and cipher mod_proxy negotiated with vsftpd, from its ProxyLog."""
    seen = []
    try:
        with open(os.path.join(STATE, "proftpd", "proxy.log"), errors="replace") as f:
            for l in f:
                m = re.search(r"(TLSv[0-9.]+) connection created, using cipher (\S+)", l)
                if m and "%s %s" % m.groups() not in seen:
                    seen.append("%s %s" % m.groups())
    except OSError:
        pass
    return seen


def curl_version():
    try:
        return subprocess.run(["curl", "--version"], capture_output=True, text=True,
                              timeout=10).stdout.split()[1]
    except Exception:
        return "?"


# ---- main ------------------------------------------------------------------------------------

def main():
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    nbytes = MB * MIB
    os.sched_setaffinity(0, CLIENT_CPUS)  # inherited by vsftpd, curl and the floor probe
    if PIN:
        log("pinned: curl, vsftpd and the bench on CPUs %s, proxies on CPUs %s" % (
            sorted(CLIENT_CPUS), sorted(PROXY_CPUS)))
    if TLS:
        make_pki()
        log("FTPS mode: throwaway CA %s" % PKI["ca"])
    root, empty = setup_tree()
    log("creating %d MiB test file in %s" % (MB, STATE))
    make_file(os.path.join(root, "pub", "big.bin"), nbytes)
    os.link(os.path.join(root, "pub", "big.bin"), os.path.join(STATE, "upload.bin"))
    make_file(os.path.join(root, "pub", "small.bin"), MIB + 12345)

    status = {n: "" for n in ORDER}
    paths = {}
    vs, vsport = start_vsftpd(root, empty)
    log("vsftpd %s on %s:%d (pid %d)" % (VSFTPD, HOST, vsport, vs.pid))
    starters = {"direct": lambda: (None, vsport),
                "ftpgate": lambda: start_ftpgate(vsport),
                "mod_proxy": lambda: start_proftpd(vsport)}
    for name in ORDER:
        if name not in PATHS:
            status[name] = "not requested (BENCH_PATHS)"
            continue
        before = list(DAEMONS)
        try:
            master, port = starters[name]()
            p = Path(name, port, master, vs)
            p.nbytes = nbytes
            log("%s: port %d, verifying transfers" % (name, port))
            p.verify(root)
            paths[name] = p
        except Fail as e:
            status[name] = "n/a: " + str(e)
            tail = log_tail({"ftpgate": "ftpgate.log", "mod_proxy": "proftpd.log"}.get(name, "vsftpd.log"))
            if tail:
                status[name] += " (log: %s)" % tail
            for d in DAEMONS[len(before):]:
                stop_one(d)
            log("%s: %s" % (name, status[name]))
            if name == "direct":
                raise
    results = {}
    for rnd in range(1, ROUNDS + 1):
        for name in ORDER:
            p = paths.get(name)
            if p is None:
                continue
            for op in ("RETR", "STOR"):
                try:
                    r = p.measure(op, "big.bin" if op == "RETR" else "upload.bin", nbytes, root)
                except Fail as e:
                    ERRORS.setdefault((name, op), []).append("round %d: %s" % (rnd, e))
                    log("%s %s round %d: %s" % (name, op, rnd, e))
                    continue
                r["round"] = rnd
                results.setdefault((name, op), []).append(r)
                log("round %d %-9s %s %7.1f MB/s  proxy CPU %s s" % (
                    rnd, name, op, r["mbps"], fmt(r["proxy_cpu"], "%.2f")))
        if not TLS:  # the floor of a plain relay, in the same conditions as the paths
            for op in ("RETR", "STOR"):
                f = floor_probe(op, os.path.join(root, "pub", "big.bin"), nbytes)
                FLOOR.setdefault(op, []).append(f)
                log("round %d minimal relay %s: %s CPU s/GiB" % (
                    rnd, op, fmt(f[0] if f else None, "%.2f")))
    report(results, status, nbytes)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        log("fatal: %s" % e)
        sys.exit(1)
    finally:
        stop_all()
