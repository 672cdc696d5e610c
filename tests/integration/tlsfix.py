"""FTPS fixtures for the integration tests: a test PKI, TLS backends, an
FTP_TLS client that resumes the control session on its data connections,
and the ftpgate configurations for TLS listeners and backends.

Everything is made lazily, once per run, in the run's temp dir: a test that
does not ask for TLS costs nothing.  Certificates come from the openssl CLI
(EC P-256 keys, a few milliseconds each); no python3-openssl is needed for
them.  The pyftpdlib TLS backend needs python3-openssl (pyftpdlib's
TLS_FTPHandler); run.sh installs it."""
import ftplib
import os
import socket
import ssl
import subprocess

import itest
from itest import Failure, Proxy, PyFtpd, Skip, Target, Vsftpd, tail


# --------------------------------------------------------------------------
# Test PKI

class Pki:
    """A CA; a server certificate (SAN IP:127.0.0.1, IP:::1, DNS:localhost)
    for vsftpd, pyftpdlib and ftpgate's listeners; a client certificate from
    the same CA; and an unrelated CA ("wrong") with its own server
    certificate of the same names, for verification failures.

    Attributes are file paths: ca, ca_key, server_cert, server_key,
    server_pem (cert + key in one file), client_cert, client_key, wrong_ca,
    wrong_cert, wrong_key, wrong_pem."""

    def __init__(self, dirpath):
        self.dir = dirpath
        os.makedirs(dirpath, exist_ok=True)
        os.chmod(dirpath, 0o755)
        p = lambda name: os.path.join(dirpath, name)
        self.ca, self.ca_key = p("ca.pem"), p("ca.key")
        self.server_cert, self.server_key, self.server_pem = p("server.pem"), p("server.key"), p("server-all.pem")
        self.client_cert, self.client_key = p("client.pem"), p("client.key")
        self.wrong_ca, self.wrong_ca_key = p("wrong-ca.pem"), p("wrong-ca.key")
        self.wrong_cert, self.wrong_key, self.wrong_pem = p("wrong.pem"), p("wrong.key"), p("wrong-all.pem")
        self._make_ca(self.ca, self.ca_key, "ftpgate itest CA")
        self._make_ca(self.wrong_ca, self.wrong_ca_key, "ftpgate itest unrelated CA")
        server_ext = ("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
                      "basicConstraints=critical,CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=serverAuth\n")
        client_ext = ("basicConstraints=critical,CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=clientAuth\n")
        self._make_leaf(self.server_cert, self.server_key, "localhost", server_ext,
                        self.ca, self.ca_key)
        self._make_leaf(self.client_cert, self.client_key, "itest client", client_ext,
                        self.ca, self.ca_key)
        self._make_leaf(self.wrong_cert, self.wrong_key, "localhost", server_ext,
                        self.wrong_ca, self.wrong_ca_key)
        for pem, parts in ((self.server_pem, (self.server_cert, self.server_key)),
                           (self.wrong_pem, (self.wrong_cert, self.wrong_key))):
            with open(pem, "w") as out:
                for part in parts:
                    with open(part) as f:
                        out.write(f.read())
        # ftpgate reads its keys as root before it drops privileges, and
        # vsftpd as root; nobody else needs them.
        for path in (self.ca_key, self.server_key, self.client_key, self.wrong_ca_key,
                     self.wrong_key, self.server_pem, self.wrong_pem):
            os.chmod(path, 0o600)

    @staticmethod
    def _openssl(args):
        try:
            p = subprocess.run(["openssl"] + args, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        except subprocess.TimeoutExpired:
            raise Failure("openssl %s timed out" % args[0])
        if p.returncode != 0:
            raise Failure("openssl %s: %s" % (" ".join(args[:2]),
                                              tail(p.stdout.decode("utf-8", "replace"), 4)))

    def _make_ca(self, cert, key, cn):
        self._openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=" + cn,
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def _make_leaf(self, cert, key, cn, ext, ca, ca_key):
        csr, extfile = cert + ".csr", cert + ".ext"
        with open(extfile, "w") as f:
            f.write(ext)
        self._openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn])
        self._openssl(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                       "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
                       "-out", cert, "-days", "30", "-extfile", extfile])


def pki(env):
    """The run's PKI (made on first use)."""
    if getattr(env, "pki", None) is None:
        env.pki = Pki(os.path.join(env.tmp, "pki"))
    return env.pki


# --------------------------------------------------------------------------
# TLS backends

class VsftpdTls(Vsftpd):
    """The strict FTPS vsftpd: AUTH TLS before login and PROT P for data are
    mandatory, data connections must resume the control connection's TLS
    session (require_ssl_reuse).  implicit=True: TLS from the first byte
    (implicit_ssl).  strict_eof=True: an upload must end with a close_notify
    and a download is shut down both ways (strict_ssl_read_eof,
    strict_ssl_write_shutdown); not the default, because over TLS 1.3 curl's
    uploads then fail with 426 about one time in three (curl leaves the
    session ticket vsftpd sends on the data connection unread, so its close
    resets the connection and vsftpd may never read the close_notify).
    cert/key default to the PKI's server certificate."""
    kind = "vsftpd-tls"

    def __init__(self, env, name, host, implicit=False, strict_eof=False, cert=None, key=None,
                 client_cert=False):
        super().__init__(env, name, host)
        self.implicit = implicit
        self.strict_eof = strict_eof
        self.client_cert = client_cert  # require a client certificate from the PKI's CA
        p = pki(env)
        self.cert = cert or p.server_cert
        self.key = key or p.server_key

    def conf_extra(self):
        lines = ["ssl_enable=YES",
                 "rsa_cert_file=" + self.cert,
                 "rsa_private_key_file=" + self.key,
                 "ssl_sslv2=NO", "ssl_sslv3=NO", "ssl_tlsv1=YES",
                 "ssl_ciphers=HIGH",
                 "require_ssl_reuse=YES",
                 "strict_ssl_read_eof=%s" % ("YES" if self.strict_eof else "NO"),
                 "strict_ssl_write_shutdown=%s" % ("YES" if self.strict_eof else "NO"),
                 "allow_anon_ssl=YES",
                 "force_anon_logins_ssl=YES",
                 "force_anon_data_ssl=YES",
                 "force_local_logins_ssl=YES",
                 "force_local_data_ssl=YES",
                 "implicit_ssl=%s" % ("YES" if self.implicit else "NO")]
        if self.client_cert:
            lines += ["require_cert=YES", "validate_cert=YES", "ca_certs_file=" + pki(self.env).ca]
        return "\n".join(lines) + "\n"


class PyFtpdTls(PyFtpd):
    """pyftpdlib's TLS_FTPHandler (explicit FTPS, AUTH TLS required before
    login, PROT P required for data); python3-openssl, so OpenSSL 3's TLS 1.3.
    It does not insist on session reuse for data connections."""
    kind = "pyftpdlib-tls"

    def extra_args(self):
        p = pki(self.env)
        return ["--tls-cert", p.server_cert, "--tls-key", p.server_key, "--tls-required"]


def have_pyopenssl():
    p = subprocess.run([itest.PYTHON, "-c", "import OpenSSL"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return p.returncode == 0


# name: (class, host, constructor keywords); started on first use.
TLS_BACKENDS = {
    "vstls": (VsftpdTls, "127.0.0.1", {}),
    "vstls_imp": (VsftpdTls, "127.0.0.1", {"implicit": True}),
    "vstls_eof": (VsftpdTls, "127.0.0.1", {"strict_eof": True}),
    "vstls_wrong": (VsftpdTls, "127.0.0.1", {"wrong": True}),
    "vstls_cc": (VsftpdTls, "127.0.0.1", {"client_cert": True}),
    "pytls": (PyFtpdTls, "127.0.0.1", {}),
}


def backend(env, name):
    """env.backends[name], started on first use (plain ones are always there)."""
    b = env.backends.get(name)
    if b is not None:
        return b
    cls, host, kw = TLS_BACKENDS[name]
    kw = dict(kw)
    if kw.pop("wrong", False):
        p = pki(env)
        kw.update(cert=p.wrong_cert, key=p.wrong_key)
    if cls is PyFtpdTls and not have_pyopenssl():
        raise Skip("no python3-openssl: pyftpdlib cannot serve TLS")
    pki(env)
    b = cls(env, name, host, **kw)
    b.start()
    env.backends[name] = b
    return b


# --------------------------------------------------------------------------
# ftpgate with TLS listeners and backends

def listener_keys(env, mode, **more):
    """Listener keys for tls = mode with the PKI's server certificate."""
    p = pki(env)
    keys = {"tls": mode, "tls_cert": p.server_cert, "tls_key": p.server_key}
    keys.update(more)
    return keys


def backend_keys(env, mode="explicit", **more):
    """Backend keys for tls = mode, verified against the PKI's CA."""
    keys = {"tls": mode, "tls_ca": pki(env).ca}
    keys.update(more)
    return keys


def start_tls_proxy(env, tag, listeners, **global_opts):
    """An ftpgate with a listener per entry of listeners, a dict {listener
    name: (backend name, {listener keys}, {backend keys})}.  Returns (proxy,
    {listener name: Target}); the proxy is stopped when start() fails."""
    rows, backs = [], {}
    for name, (bname, lkeys, bkeys) in listeners.items():
        b = backend(env, bname)
        backs[name] = b
        rows.append((name, b.addr(), ("127.0.0.1",), lkeys, bkeys))
    proxy = Proxy(env, tag, rows, **global_opts)
    try:
        proxy.start()
    except RuntimeError as e:
        proxy.stop()
        raise Failure("ftpgate with TLS keys did not start: %s" % e)
    return proxy, {name: Target("127.0.0.1", proxy.ports[name], b, "%s-%s" % (tag, name))
                   for name, b in backs.items()}


# The listeners of the run's shared TLS proxy: name -> (backend, listener
# keys, backend keys) as functions of env.
SHARED = {
    # FTPS required toward the client, explicit FTPS toward the strict vsftpd.
    "req": lambda env: ("vstls", listener_keys(env, "required"), backend_keys(env)),
    # Implicit FTPS toward the client.
    "imp": lambda env: ("vstls", listener_keys(env, "implicit"), backend_keys(env)),
    # FTPS client, plain pyftpdlib backend.
    "tls2plain": lambda env: ("py", listener_keys(env, "required"), {}),
    # Plain client (tls = explicit: the client may stay plain), FTPS backend.
    "plain2tls": lambda env: ("vstls", listener_keys(env, "explicit"), backend_keys(env)),
}

# What a listener of the shared proxy is, in --direct mode: the backend the
# same client invocation talks to (None: the test is proxy only).
DIRECT_TWIN = {"req": "vstls", "imp": "vstls_imp", "tls2plain": "pytls", "plain2tls": None}


def shared_proxy(env):
    """One ftpgate for the run with the SHARED listeners (started once; a
    failure to start is remembered and reported by every test that needs it)."""
    err = getattr(env, "tls_proxy_error", None)
    if err:
        raise Failure(err)
    if getattr(env, "tls_proxy", None) is None or not env.tls_proxy[0].alive():
        try:
            env.tls_proxy = start_tls_proxy(env, "tls", {n: f(env) for n, f in SHARED.items()})
        except Failure as e:
            env.tls_proxy_error = str(e)
            raise
    return env.tls_proxy


def tls_target(env, listener, direct_twin=None):
    """Where a TLS client goes for listener (a SHARED name): the shared
    proxy's listener, or with --direct its backend twin (direct_twin, else
    DIRECT_TWIN's)."""
    if env.direct:
        twin = direct_twin or DIRECT_TWIN[listener]
        if twin is None:
            raise Skip("proxy only")
        b = backend(env, twin)
        return Target(b.host, b.port, b, "direct-" + twin)
    proxy, targets = shared_proxy(env)
    return targets[listener]


# --------------------------------------------------------------------------
# Clients

def client_context(env, ca=None):
    ctx = ssl.create_default_context(cafile=ca or pki(env).ca)
    ctx.check_hostname = True
    return ctx


class FTPS(ftplib.FTP_TLS):
    """ftplib.FTP_TLS whose data connections resume the control connection's
    TLS session (reuse=True), as vsftpd's require_ssl_reuse and ftpgate's
    tls_require_reuse demand; records every reply like itest.FTP and the
    TLS data sockets it made (data_socks, data_tls)."""

    def __init__(self, *a, reuse=True, **kw):
        self.replies = []
        self.reuse = reuse
        self.data_socks = []
        self.data_tls = []  # session_summary() of each, taken after its handshake
        super().__init__(*a, **kw)

    def getmultiline(self):
        line = super().getmultiline()
        self.replies.append(line)
        return line

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = self.sock.session if self.reuse else None
            try:
                conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                                session=session)
            except Exception:
                conn.close()
                raise
            self.data_socks.append(conn)
            self.data_tls.append(session_summary(conn))
        return conn, size


def ftps_session(env, t, passive=True, timeout=30, reuse=True, login=True, prot_p=True,
                 implicit=False):
    """FTPS control connection to t: AUTH TLS (or implicit TLS), login, PBSZ 0 +
    PROT P."""
    f = FTPS(context=client_context(env), timeout=timeout, reuse=reuse)
    if implicit:
        raw = socket.create_connection((t.host, t.port), timeout=timeout)
        f.host, f.port, f.af = t.host, t.port, raw.family
        f.sock = f.context.wrap_socket(raw, server_hostname=t.host)
        f.file = f.sock.makefile("r", encoding=f.encoding)
        f.welcome = f.getresp()
    else:
        f.connect(t.host, t.port)
        f.auth()
    if login:
        ftplib.FTP.login(f, t.user, t.password)
        if prot_p:
            f.prot_p()
    f.set_pasv(passive)
    return f


def session_summary(sock):
    """'TLSv1.3 TLS_AES_256_GCM_SHA384 resumed=yes' for an ssl socket."""
    return "%s %s resumed=%s" % (sock.version(), sock.cipher()[0],
                                 "yes" if sock.session_reused else "no")

