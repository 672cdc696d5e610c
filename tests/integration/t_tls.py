"""FTPS through ftpgate: explicit (AUTH TLS), required and implicit listeners,
explicit FTPS toward the backend, TLS session reuse on data connections,
mixed legs, and what must be refused.  Fixtures (PKI, the strict TLS
vsftpd, pyftpdlib with TLS, the TLS proxies) are in tlsfix.py.

Through the proxy most tests use one shared ftpgate (tlsfix.SHARED):
  req        tls = required -> strict vsftpd, backend tls = explicit
  imp        tls = implicit -> strict vsftpd, backend tls = explicit
  tls2plain  tls = required -> plain pyftpdlib
  plain2tls  tls = explicit -> strict vsftpd, backend tls = explicit
With --direct the same clients talk to the backend that stands for the
listener: the strict vsftpd (req), its implicit_ssl twin (imp), pyftpdlib
with TLS (tls2plain); plain2tls has no twin (proxy only).

The strict vsftpd (require_ssl_reuse) and pyftpdlib both negotiate TLS 1.3
with OpenSSL 3, so every leg here runs TLS 1.3."""
import ftplib
import io
import os
import re
import shutil
import socket
import ssl
import time

import tlsfix
from itest import (MiB, RawReplies, Skip, check, curl_ok, curl_mode, file_sha256, ftp_close,
                   ftp_session, lftp, raw_cmd, register, retr, run, session_events, sha256, tail,
                   test, wait_for)
from tlsfix import FTPS, ftps_session, pki, tls_target

TLS13 = "TLSv1.3"
# client_tls= / backend_tls= in the audit log: "TLSv1.3 TLS_AES_256_GCM_SHA384 resumed=yes"
# (plus " ktls=tx,rx" or part of it where the kernel does the records)
AUDIT_TLS = re.compile(r"^(TLSv1\.[23]) (\S+) resumed=(yes|no)( ktls=\S+)?$")


def curl_tls_args(env):
    return ["--ssl-reqd", "--cacert", pki(env).ca]


def check_curl_tls(err, what):
    """The curl -v transcript shows TLS on the control connection (AUTH, TLS
    1.3), PROT P, and a resumed session for the data connection."""
    check(re.search(r"^> AUTH (TLS|SSL)", err, re.M), "%s: curl sent no AUTH" % what)
    check(re.search(r"^> PROT P", err, re.M), "%s: curl sent no PROT P" % what)
    check(re.search(r"^< 2\d\d .*", err, re.M), "%s: no 2xx reply in the transcript" % what)
    check("SSL connection using %s" % TLS13 in err,
          "%s: not TLS 1.3: %s" % (what, [l for l in err.splitlines() if "SSL connection" in l]))
    check("SSL re-using session ID" in err,
          "%s: curl did not resume the TLS session on the data connection" % what)


# ---- curl, explicit FTPS on a required listener, every data mode -----------------

def curl_version():
    rc, out, _ = run(["curl", "--version"], timeout=10)
    m = re.match(r"curl (\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def curl_explicit(env, mode):
    if mode in ("eprt", "port") and (7, 87, 0) <= curl_version() < (8, 0, 0):
        # curl 7.87/7.88 (Debian 12's 7.88.1 too) cannot do active-mode FTPS:
        # the accepted data connection fails ("sa_addr inet_ntop() failed",
        # then "wrong version number" or a time-out), whatever the server
        # (curl issue 10666, a regression fixed in 8.0).  Active FTPS is
        # covered by tls_ftplib_active and tls_lftp_active.
        raise Skip("curl %d.%d.%d cannot do active-mode FTPS (curl issue 10666)"
                   % curl_version())
    t = tls_target(env, "req")
    extra, verb = curl_mode(t, mode)
    extra = curl_tls_args(env) + extra
    name = env.unique("tls-curl-%s" % mode) + ".bin"
    data = os.urandom(900 * 1024 + 13)
    src = env.write_local(name, data)
    out = src + ".got"

    _, err = curl_ok(extra + ["-T", src, t.url("pub/" + name)])
    check(re.search(r"^> %s\b" % verb, err, re.M), "upload did not use %s" % verb)
    check(re.search(r"^> STOR\b", err, re.M), "upload did not send STOR")
    check_curl_tls(err, "upload")
    with open(os.path.join(t.backend.pub_dir, name), "rb") as f:
        check(sha256(f.read()) == sha256(data), "the file on the backend differs from the upload")

    _, err = curl_ok(extra + ["-o", out, t.url("pub/" + name)])
    check(re.search(r"^> RETR\b", err, re.M), "download did not send RETR")
    check_curl_tls(err, "download")
    check(file_sha256(out) == sha256(data), "downloaded file differs from the upload")

    listing, err = curl_ok(extra + [t.url("pub/")])
    check(re.search(r"^> LIST\b", err, re.M), "listing did not send LIST")
    check_curl_tls(err, "LIST")
    check(re.search(r"\b%d\b.*\b%s$" % (len(data), re.escape(name)), listing, re.M),
          "LIST lacks %s with size %d: %s" % (name, len(data), tail(listing, 4)))


for _m in ("epsv", "pasv", "eprt", "port"):
    register("tls_curl_explicit_%s" % _m, lambda env, m=_m: curl_explicit(env, m))


# ---- curl, implicit FTPS -------------------------------------------------------------

@test()
def test_tls_curl_implicit(env):
    t = tls_target(env, "imp")
    url = lambda path: "ftps://%s:%s@%s:%d/%s" % (t.user, t.password, t.host, t.port, path)
    name = env.unique("tls-imp") + ".bin"
    data = os.urandom(600 * 1024 + 1)
    src = env.write_local(name, data)
    out = src + ".got"
    extra = ["--cacert", pki(env).ca]
    _, err = curl_ok(extra + ["-T", src, url("pub/" + name)])
    check(not re.search(r"^> AUTH", err, re.M), "curl sent AUTH on an implicit FTPS port")
    check("SSL connection using %s" % TLS13 in err, "implicit FTPS upload is not TLS 1.3")
    check(re.search(r"^> PROT P", err, re.M), "curl sent no PROT P")
    _, err = curl_ok(extra + ["-o", out, url("pub/" + name)])
    check("SSL re-using session ID" in err, "curl did not resume the TLS session for data")
    check(file_sha256(out) == sha256(data), "implicit FTPS download differs from the upload")
    listing, _ = curl_ok(extra + [url("pub/")])
    check(re.search(r"\b%d\b.*\b%s$" % (len(data), re.escape(name)), listing, re.M),
          "LIST lacks %s: %s" % (name, tail(listing, 4)))


# ---- lftp -----------------------------------------------------------------------------

def lftp_tls(env, passive):
    """lftp (GnuTLS) limited to TLS 1.2: the client leg's TLS 1.2 coverage
    (curl and ftplib negotiate TLS 1.3).  Over TLS 1.3 lftp's uploads fail
    with "426 Failure reading network stream" against a server that insists
    on close_notify (vsftpd with strict_ssl_read_eof, tlsfix "vstls_eof"),
    every time and in both modes; over TLS 1.2 they pass."""
    t = tls_target(env, "req")
    settings = ("set ssl:priority NORMAL:-VERS-TLS1.3; "
                "set ftp:ssl-allow yes; set ftp:ssl-force true; set ftp:ssl-protect-data true; "
                "set ftp:ssl-protect-list true; set ssl:verify-certificate yes; "
                "set ssl:ca-file %s; set ftp:passive-mode %s"
                % (pki(env).ca, "on" if passive else "off"))
    name = env.unique("tls-lftp")
    data = os.urandom(2 * MiB + 5)
    src = env.write_local(name, data)
    back = src + ".got"
    rc, out, err, log = lftp(t, "put %s -o pub/%s; get pub/%s -o %s; cls -1 pub/"
                             % (src, name, name, back), settings=settings)
    check(rc == 0, "lftp rc=%d: %s" % (rc, tail(err, 4)))
    check(re.search(r"^---> AUTH TLS", log, re.M), "lftp sent no AUTH TLS")
    check(re.search(r"^---> PROT P", log, re.M), "lftp sent no PROT P")
    verb = "(EPSV|PASV)" if passive else "(EPRT|PORT)"
    check(re.search(r"^---> %s" % verb, log, re.M), "lftp did not use %s" % verb)
    check(file_sha256(back) == sha256(data), "lftp get differs from put")
    check(name in [os.path.basename(l.strip()) for l in out.splitlines()],
          "cls lacks %s: %s" % (name, tail(out, 4)))


register("tls_lftp_passive", lambda env: lftp_tls(env, True))
register("tls_lftp_active", lambda env: lftp_tls(env, False))


# ---- Python ftplib with session reuse ------------------------------------------------

def ftplib_tls(env, passive):
    t = tls_target(env, "req")
    f = ftps_session(env, t, passive)
    try:
        check(f.sock.version() == TLS13, "control connection is %s" % f.sock.version())
        f.cwd("pub")
        name = env.unique("tls-ftplib")
        data = os.urandom(MiB + 3)
        f.storbinary("STOR " + name, io.BytesIO(data))
        check(retr(f, name) == data, "RETR differs from STOR")
        check(f.size(name) == len(data), "SIZE is not %d" % len(data))
        check(name in [os.path.basename(n) for n in f.nlst()], "NLST lacks %s" % name)
        listing = []
        f.retrlines("LIST", listing.append)
        check(any(l.endswith(" " + name) for l in listing), "LIST lacks %s" % name)
        check(len(f.data_tls) == 4, "%d TLS data connections, not 4" % len(f.data_tls))
        for s in f.data_tls:
            check(s.startswith(TLS13) and s.endswith("resumed=yes"),
                  "data connection: %s (want TLS 1.3, resumed)" % s)
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after the transfers failed")
    finally:
        ftp_close(f)


register("tls_ftplib_passive", lambda env: ftplib_tls(env, True))
register("tls_ftplib_active", lambda env: ftplib_tls(env, False))


@test()
def test_tls_big_file(env):
    """ITEST_BIG_MIB (256) MiB up and down, FTPS on both legs."""
    t = tls_target(env, "req")
    size = int(os.environ.get("ITEST_BIG_MIB", "256")) * MiB
    name = env.unique("tls-big") + ".bin"
    src, digest = env.make_big_file(name, size)
    f = ftps_session(env, t, timeout=120)
    try:
        with open(src, "rb") as fp:
            f.storbinary("STOR pub/" + name, fp, blocksize=256 * 1024)
        os.unlink(src)
        h = __import__("hashlib").sha256()
        n = [0]

        def got(chunk):
            h.update(chunk)
            n[0] += len(chunk)
        f.retrbinary("RETR pub/" + name, got, blocksize=256 * 1024)
        check(n[0] == size, "downloaded %d bytes, not %d" % (n[0], size))
        check(h.hexdigest() == digest, "%d MiB FTPS download differs from upload" % (size // MiB))
        check(all(s.endswith("resumed=yes") for s in f.data_tls), "data TLS not resumed: %r"
              % f.data_tls)
    finally:
        ftp_close(f)
        path = os.path.join(t.backend.pub_dir, name)
        if os.path.exists(path):
            os.unlink(path)


# ---- mixed legs --------------------------------------------------------------------------

@test()
def test_tls_client_to_plain_backend(env):
    """FTPS client, plain pyftpdlib behind (direct: pyftpdlib with TLS)."""
    t = tls_target(env, "tls2plain")
    for passive in (True, False):
        f = ftps_session(env, t, passive)
        try:
            check(f.sock.version() == TLS13, "control connection is %s" % f.sock.version())
            name = env.unique("tls2plain")
            data = os.urandom(700 * 1024 + 9)
            f.storbinary("STOR pub/" + name, io.BytesIO(data))
            check(retr(f, "pub/" + name) == data, "round trip differs (passive=%s)" % passive)
            with open(os.path.join(t.backend.pub_dir, name), "rb") as fp:
                check(sha256(fp.read()) == sha256(data), "the file on the backend differs")
            check(all(s.endswith("resumed=yes") for s in f.data_tls),
                  "data TLS not resumed: %r" % f.data_tls)
        finally:
            ftp_close(f)
    if env.direct:
        # curl 7.88 and pyftpdlib's TLS_FTPHandler do not get along (curl
        # gives up on the EPSV data connection and falls back to PASV out of
        # turn); the same curl invocation is checked against vsftpd by
        # tls_curl_explicit_*.  Through the proxy curl's peer is ftpgate.
        return
    out = os.path.join(env.files, name + ".curl")
    curl_ok(curl_tls_args(env) + ["-o", out, t.url("pub/" + name)])
    check(file_sha256(out) == sha256(data), "curl FTPS download from the plain backend differs")


@test(proxy_only=True)
def test_tls_plain_client_to_tls_backend(env):
    """Plain client on an explicit listener; the proxy speaks FTPS (AUTH TLS,
    PBSZ 0, PROT P, resumed data sessions) to the strict vsftpd."""
    t = tls_target(env, "plain2tls")
    f = ftp_session(t, login=False)
    try:
        reply = raw_cmd(f, "FEAT")
        check(reply.startswith("211") and re.search(r"^ AUTH TLS", reply, re.M),
              "FEAT on an explicit listener lacks AUTH TLS: %r" % reply)
    finally:
        ftp_close(f)
    for passive in (True, False):
        f = ftp_session(t, passive)
        try:
            name = env.unique("plain2tls")
            data = os.urandom(800 * 1024 + 1)
            f.storbinary("STOR pub/" + name, io.BytesIO(data))
            with open(os.path.join(t.backend.pub_dir, name), "rb") as fp:
                check(sha256(fp.read()) == sha256(data), "the file on the backend differs")
            check(retr(f, "pub/" + name) == data, "round trip differs (passive=%s)" % passive)
        finally:
            ftp_close(f)
    for mode in ("epsv", "port"):
        extra, _ = curl_mode(t, mode)
        out = os.path.join(env.files, "%s.%s" % (name, mode))
        curl_ok(extra + ["-o", out, t.url("pub/" + name)])
        check(file_sha256(out) == sha256(data), "plain curl %s download differs" % mode)


# ---- what is refused -----------------------------------------------------------------------

@test()
def test_tls_data_without_reuse_refused(env):
    """A data connection that does a full handshake instead of resuming the
    control session is refused; the transfer fails with a 4xx (vsftpd
    itself: 522 and it ends the session; the proxy keeps the control
    connection usable)."""
    t = tls_target(env, "req")
    name = env.unique("noreuse")
    data = os.urandom(300 * 1024)
    t.backend.put_file(name, data)
    f = ftps_session(env, t, reuse=False)
    try:
        try:
            got = retr(f, "pub/" + name)
            raise tlsfix.Failure("RETR without session reuse succeeded (%d bytes)" % len(got))
        except (ftplib.error_temp, ftplib.error_perm) as e:
            code = str(e)[:3]
        except (ssl.SSLError, OSError):
            # The data connection was cut during or after the handshake (after
            # the 1xx): the final reply says how the transfer ended.
            for d in f.data_socks:
                d.close()
            code = f.getmultiline()[:3] if not env.direct else "522"
        if env.direct:
            check(code == "522", "vsftpd answered %s, not 522" % code)
            return
        check(code[:1] == "4", "transfer without session reuse ended with %s, not 4xx" % code)
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after the refused data connection failed")
        f.reuse = True
        check(retr(f, "pub/" + name) == data, "RETR with session reuse afterwards differs")
    finally:
        ftp_close(f)


@test(proxy_only=True)
def test_tls_data_without_reuse_allowed(env):
    """tls_require_reuse = no: a data connection with a full handshake is served
    (the backend leg still resumes, as the strict vsftpd demands)."""
    proxy, ts = tlsfix.start_tls_proxy(env, "tls-noreuse", {
        "nr": ("vstls", tlsfix.listener_keys(env, "required", tls_require_reuse="no"),
               tlsfix.backend_keys(env))})
    try:
        t = ts["nr"]
        for passive in (True, False):
            f = ftps_session(env, t, passive, reuse=False)
            try:
                name = env.unique("noreuse-ok")
                data = os.urandom(400 * 1024 + 7)
                f.storbinary("STOR pub/" + name, io.BytesIO(data))
                check(retr(f, "pub/" + name) == data, "round trip differs (passive=%s)" % passive)
                check(f.data_tls and all(s.endswith("resumed=no") for s in f.data_tls),
                      "the client's data sessions were resumed after all: %r" % f.data_tls)
            finally:
                ftp_close(f)
    finally:
        proxy.stop()


@test()
def test_tls_required_plain_user(env):
    """USER before AUTH TLS on a required listener: 530; AUTH TLS then works."""
    t = tls_target(env, "req")
    f = ftp_session(t, login=False)
    try:
        reply = raw_cmd(f, "USER " + t.user)
        check(reply.startswith("530"), "plain USER on a required listener answered %r" % reply[:60])
    finally:
        ftp_close(f)
    f = ftps_session(env, t)
    try:
        check(f.sendcmd("PWD").startswith("257"), "PWD after AUTH TLS and login failed")
    finally:
        ftp_close(f)


@test()
def test_tls_feat(env):
    """FEAT before login lists AUTH TLS, PBSZ and PROT."""
    t = tls_target(env, "req")
    f = ftp_session(t, login=False)
    try:
        reply = raw_cmd(f, "FEAT")
        check(reply.startswith("211"), "FEAT answered %r" % reply[:60])
        feats = {l.strip().upper() for l in reply.splitlines()[1:-1]}
        for x in ("AUTH TLS", "PBSZ", "PROT"):
            check(x in feats, "FEAT lacks %s: %r" % (x, sorted(feats)))
    finally:
        ftp_close(f)


@test()
def test_tls_prot_c_refused(env):
    t = tls_target(env, "req")
    f = ftps_session(env, t, prot_p=False)
    try:
        check(f.sendcmd("PBSZ 0").startswith("200"), "PBSZ 0 failed")
        reply = raw_cmd(f, "PROT C")
        if env.direct and reply.startswith("200"):
            # vsftpd takes PROT C and refuses the clear data connection later
            # (force_anon_data_ssl); the proxy answers 536 at once.
            try:
                f.nlst("pub")
                raise tlsfix.Failure("a clear data connection was served after PROT C")
            except ftplib.error_perm as e:
                check(str(e)[:3] in ("521", "522", "536"), "clear LIST answered %r" % str(e)[:60])
        else:
            check(reply.startswith("536"), "PROT C on a required listener answered %r" % reply[:60])
        check(f.sendcmd("PROT P").startswith("200"), "PROT P after the refused PROT C failed")
        f._prot_p = True
        name = env.unique("protc")
        t.backend.put_file(name, b"p" * 1000)
        check(retr(f, "pub/" + name) == b"p" * 1000, "RETR after PROT P differs")
    finally:
        ftp_close(f)


@test(proxy_only=True)
def test_tls_ccc_refused(env):
    t = tls_target(env, "req")
    f = ftps_session(env, t)
    try:
        reply = raw_cmd(f, "CCC")
        check(reply.startswith("534"), "CCC answered %r" % reply[:60])
        check(f.sendcmd("NOOP").startswith("200"), "NOOP (still over TLS) after CCC failed")
    finally:
        ftp_close(f)


@test(proxy_only=True)
def test_tls_backend_wrong_cert(env):
    """A backend whose certificate the proxy cannot verify: the client gets
    421 and the log says why; with tls_verify = no the same backend serves."""
    bad = tlsfix.backend(env, "vstls_wrong")
    proxy, ts = tlsfix.start_tls_proxy(env, "tls-wrong", {
        "verify": ("vstls_wrong", tlsfix.listener_keys(env, "explicit"),
                   tlsfix.backend_keys(env, tls_verify="yes")),
        "noverify": ("vstls_wrong", tlsfix.listener_keys(env, "explicit"),
                     tlsfix.backend_keys(env, tls_verify="no"))})
    try:
        replies = first_replies(ts["verify"])
        check(any(r.startswith("421") for r in replies),
              "backend with an unverifiable certificate: client got %r, no 421"
              % [r[:50] for r in replies])
        check(not any(r.startswith("230") or r.startswith("331") for r in replies),
              "a login went ahead: %r" % [r[:50] for r in replies])
        wait_for("no 'certificate verify failed' in the proxy log",
                 lambda: "certificate verify failed" in proxy.log_text())
        name = env.unique("noverify")
        data = os.urandom(5000)
        bad.put_file(name, data)
        f = ftp_session(ts["noverify"])
        try:
            check(retr(f, "pub/" + name) == data, "tls_verify = no: download differs")
        finally:
            ftp_close(f)
    finally:
        proxy.stop()


@test()
def test_tls_truncated_upload(env):
    """The client's TLS data connection ends without close_notify (TCP FIN
    only) in the middle of a STOR: the final reply is 4xx (426), never 226,
    and the audit log does not call the transfer a success.  (Direct: the
    vsftpd with strict_ssl_read_eof; the proxy's backend does not insist.)"""
    t = tls_target(env, "req", direct_twin="vstls_eof")
    f = ftps_session(env, t)
    client = "127.0.0.1:%d" % f.sock.getsockname()[1]
    name = env.unique("trunc")
    try:
        f.voidcmd("TYPE I")
        conn = f.transfercmd("STOR pub/" + name)
        conn.sendall(os.urandom(MiB))
        raw = socket.socket(fileno=os.dup(conn.fileno()))
        raw.shutdown(socket.SHUT_RDWR)  # FIN without close_notify
        raw.close()
        conn.close()  # SSLSocket.close() sends no close_notify either
        f.sock.settimeout(20)
        final = f.getmultiline()
        check(final[:1] == "4", "truncated TLS upload ended with %r, not 4xx" % final[:60])
        check(final.startswith("426") or env.direct,
              "truncated TLS upload ended with %r, not 426" % final[:60])
    finally:
        ftp_close(f)
    if env.direct:
        return
    proxy, _ = tlsfix.shared_proxy(env)
    sid, mine = session_events(proxy, client)
    check(sid, "no open line for client %s" % client)
    xfer = [e for e in mine if e["event"] == "transfer" and e.get("cmd") == "STOR"]
    check(len(xfer) == 1, "%d STOR transfer lines" % len(xfer))
    check(xfer[0].get("result") != "226" and xfer[0].get("result", "")[:1] in ("4", "5"),
          "the truncated upload is logged as %s" % xfer[0]["_line"])


@test()
def test_tls_plain_on_implicit_port(env):
    """Plain FTP on an implicit FTPS port: no FTP reply, the connection is
    closed within seconds, and a real implicit FTPS client is served next."""
    t = tls_target(env, "imp")
    with socket.create_connection((t.host, t.port), timeout=10) as s:
        s.settimeout(10)
        s.sendall(b"USER anonymous\r\nPASS x\r\n")
        got = b""
        deadline = time.monotonic() + 10
        closed = False
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            got += chunk
        check(closed, "the implicit port left a plain-text client connected for 10 s")
        # vsftpd says "500 OOPS: ... wrong version number" in clear text
        # before it closes; nothing may look like a greeting or a served command.
        check(not re.search(rb"^[123]\d\d[ -]", got, re.M),
              "the implicit port served plain text: %r" % got[:80])
    name = env.unique("imp-after")
    data = os.urandom(20000)
    t.backend.put_file(name, data)
    f = ftps_session(env, t, implicit=True)
    try:
        check(f.welcome.startswith("220"), "implicit FTPS greeting %r" % f.welcome[:60])
        check(retr(f, "pub/" + name) == data, "implicit FTPS download after the plain client differs")
        check(f.data_tls[-1].endswith("resumed=yes"), "data TLS not resumed: %r" % f.data_tls)
    finally:
        ftp_close(f)


# ---- audit -----------------------------------------------------------------------------------

@test(proxy_only=True)
def test_tls_audit(env):
    """A transfer through FTPS on both legs logs client_tls and backend_tls
    ("TLSv1.3 CIPHER resumed=yes"), and the session logs a tls event per
    control handshake (leg=client, leg=backend)."""
    t = tls_target(env, "req")
    proxy, _ = tlsfix.shared_proxy(env)
    name = env.unique("tls-audit")
    data = os.urandom(65432)
    t.backend.put_file(name, data)
    f = ftps_session(env, t)
    client = "127.0.0.1:%d" % f.sock.getsockname()[1]
    try:
        check(retr(f, "pub/" + name) == data, "download differs")
        want_client = f.data_tls[-1]
    finally:
        ftp_close(f)
    sid, mine = session_events(proxy, client)
    check(sid, "no open line for client %s" % client)
    legs = sorted(e.get("leg", "?") for e in mine if e["event"] == "tls")
    check(legs == ["backend", "client"], "tls events by leg: %r, want one client and one backend"
          % legs)
    xfer = [e for e in mine if e["event"] == "transfer"]
    check(len(xfer) == 1 and xfer[0].get("result") == "226", "transfer lines: %r"
          % [e["_line"] for e in xfer])
    x = xfer[0]
    for field in ("client_tls", "backend_tls"):
        m = AUDIT_TLS.match(x.get(field, ""))
        check(m, "%s is %r, not 'TLSvX CIPHER resumed=yes|no': %s" % (field, x.get(field), x["_line"]))
        check(m.group(3) == "yes", "%s: the data session was not resumed: %s" % (field, x["_line"]))
    check(re.sub(r" ktls=\S+$", "", x["client_tls"]) == want_client,
          "client_tls=%r, but the client saw %r" % (x["client_tls"], want_client))
    # Kernel TLS is used where the kernel has it; either way is right, but
    # say which one ran.
    ktls = [m.group(4).strip() for m in (AUDIT_TLS.match(x[f]) for f in ("client_tls", "backend_tls"))
            if m.group(4)]
    print("INFO tls_audit: TLS data records by %s" % (
        "the kernel (%s)" % ", ".join(ktls) if ktls else
        "OpenSSL in user space (no kernel TLS: %s)" % (
            "no tls module loaded" if not os.path.exists("/sys/module/tls") else "not offered")))


# ---- more modes: EPRT under PROT P, a TLS 1.2 backend leg, client certificates ---------

class FTPSEprt(FTPS):
    """FTPS that asks for active data connections with EPRT, also on IPv4."""

    def sendport(self, host, port):
        return self.sendeprt(host, port)


@test()
def test_tls_ftplib_eprt(env):
    """EPRT (active, RFC 2428) under PROT P: upload and download, resumed."""
    t = tls_target(env, "req")
    f = FTPSEprt(context=tlsfix.client_context(env), timeout=30)
    try:
        f.connect(t.host, t.port)
        f.auth()
        ftplib.FTP.login(f, t.user, t.password)
        f.prot_p()
        f.set_pasv(False)
        name = env.unique("tls-eprt")
        data = os.urandom(3 * MiB + 17)
        f.storbinary("STOR pub/" + name, io.BytesIO(data))
        check(retr(f, "pub/" + name) == data, "EPRT: RETR differs from STOR")
        check(any(r.startswith("200 EPRT") for r in f.replies) or
              any("EPRT" in r for r in f.replies), "no EPRT reply seen: %r" % f.replies[-6:])
        check(len(f.data_tls) == 2 and all(x.endswith("resumed=yes") for x in f.data_tls),
              "data TLS: %r" % f.data_tls)
    finally:
        ftp_close(f)


@test(proxy_only=True)
def test_tls_backend_tls12(env):
    """The backend leg pinned to TLS 1.2 (tls_max_version): the strict vsftpd
    must see its TLS 1.2 session id resumed on every data connection, while
    the client leg stays TLS 1.3 (each leg negotiates on its own)."""
    proxy, ts = tlsfix.start_tls_proxy(env, "tls12", {
        "t12": ("vstls", tlsfix.listener_keys(env, "required"),
                tlsfix.backend_keys(env, tls_max_version="TLSv1.2"))})
    try:
        t = ts["t12"]
        name = env.unique("tls12")
        data = os.urandom(2 * MiB + 5)
        f = ftps_session(env, t)
        client = "127.0.0.1:%d" % f.sock.getsockname()[1]
        try:
            check(f.sock.version() == TLS13, "client leg is %s, not TLS 1.3" % f.sock.version())
            f.storbinary("STOR pub/" + name, io.BytesIO(data))
            check(retr(f, "pub/" + name) == data, "RETR differs from STOR")
        finally:
            ftp_close(f)
        check(file_sha256(os.path.join(t.backend.pub_dir, name)) == sha256(data),
              "file on the backend differs")
        sid, mine = session_events(proxy, client)
        xfer = [e for e in mine if e["event"] == "transfer"]
        check(len(xfer) == 2, "transfer lines: %r" % [e["_line"] for e in xfer])
        for x in xfer:
            m = AUDIT_TLS.match(x.get("backend_tls", ""))
            check(m and m.group(1) == "TLSv1.2" and m.group(3) == "yes",
                  "backend leg not TLS 1.2 resumed: %s" % x["_line"])
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_tls_client_cert(env):
    """tls_client_cert = required: a client with a certificate from tls_ca is
    served; one without cannot even finish the handshake."""
    p = pki(env)
    proxy, ts = tlsfix.start_tls_proxy(env, "tlscc", {
        "cc": ("vstls", tlsfix.listener_keys(env, "required", tls_ca=p.ca,
                                              tls_client_cert="required"),
               tlsfix.backend_keys(env))})
    try:
        t = ts["cc"]
        # Without a certificate: the TLS 1.3 server rejects it after the
        # handshake, at the first read at the latest.
        refused = False
        try:
            f = FTPS(context=tlsfix.client_context(env), timeout=10)
            f.connect(t.host, t.port)
            f.auth()
            ftplib.FTP.login(f, t.user, t.password)
            ftp_close(f)
        except (ssl.SSLError, OSError, EOFError, ftplib.Error):
            refused = True
        check(refused, "a client without a certificate logged in")
        # With one: a full transfer.
        ctx = tlsfix.client_context(env)
        ctx.load_cert_chain(p.client_cert, p.client_key)
        f = FTPS(context=ctx, timeout=30)
        try:
            f.connect(t.host, t.port)
            f.auth()
            ftplib.FTP.login(f, t.user, t.password)
            f.prot_p()
            name = env.unique("tlscc")
            data = os.urandom(100000)
            t.backend.put_file(name, data)
            check(retr(f, "pub/" + name) == data, "download with a client certificate differs")
        finally:
            ftp_close(f)
    finally:
        proxy.stop()


# ---- backend modes and identities: implicit FTPS, server name, client certificate ------

def proxy_roundtrip(env, t, what):
    """Upload and download through an FTPS client on t; compares SHA-256."""
    name = env.unique("tls-rt")
    data = os.urandom(MiB + 11)
    f = ftps_session(env, t)
    try:
        f.storbinary("STOR pub/" + name, io.BytesIO(data))
        check(retr(f, "pub/" + name) == data, "%s: RETR differs from STOR" % what)
    finally:
        ftp_close(f)
    check(file_sha256(os.path.join(t.backend.pub_dir, name)) == sha256(data),
          "%s: file on the backend differs" % what)


@test(proxy_only=True)
def test_tls_backend_implicit(env):
    """Backend tls = implicit: TLS from the first byte toward an implicit_ssl
    vsftpd (which also requires session reuse), explicit FTPS to the client."""
    proxy, ts = tlsfix.start_tls_proxy(env, "tlsbimp", {
        "bimp": ("vstls_imp", tlsfix.listener_keys(env, "required"),
                 tlsfix.backend_keys(env, "implicit"))})
    try:
        proxy_roundtrip(env, ts["bimp"], "implicit backend")
    finally:
        proxy.stop()


def first_replies(t, seconds=3):
    """Connect to t, send USER after the greeting, return the replies."""
    with socket.create_connection((t.host, t.port), timeout=10) as s:
        s.settimeout(10)
        ctl = RawReplies(s)
        replies = ctl.within(seconds)
        if replies and not any(r.startswith("421") for r in replies) and \
                replies[-1] != "<control connection closed>":
            s.sendall(b"USER anonymous\r\n")
            replies += ctl.within(seconds)
    return replies


@test(proxy_only=True)
def test_tls_backend_server_name(env):
    """tls_server_name is the name checked in the backend's certificate (and
    sent as SNI): one the certificate has works; another fails with 421 and
    'hostname mismatch' in the log, although the chain is good."""
    proxy, ts = tlsfix.start_tls_proxy(env, "tlssni", {
        "good": ("vstls", tlsfix.listener_keys(env, "explicit"),
                 tlsfix.backend_keys(env, tls_server_name="localhost")),
        "bad": ("vstls", tlsfix.listener_keys(env, "explicit"),
                tlsfix.backend_keys(env, tls_server_name="files.example.org"))})
    try:
        proxy_roundtrip(env, ts["good"], "tls_server_name = localhost")
        replies = first_replies(ts["bad"])
        check(any(r.startswith("421") for r in replies) and
              not any(r.startswith("230") or r.startswith("331") for r in replies),
              "a name the certificate lacks: %r" % [r[:50] for r in replies])
        wait_for("no 'hostname mismatch' in the proxy log",
                 lambda: "hostname mismatch" in proxy.log_text())
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_tls_backend_client_cert(env):
    """A backend that demands a client certificate (vsftpd require_cert,
    validate_cert): ftpgate presents tls_cert/tls_key and is served, on the
    control connection and on every data connection; without them the
    backend refuses the handshake and the client gets 421."""
    p = pki(env)
    proxy, ts = tlsfix.start_tls_proxy(env, "tlsbcc", {
        "with": ("vstls_cc", tlsfix.listener_keys(env, "required"),
                 tlsfix.backend_keys(env, tls_cert=p.client_cert, tls_key=p.client_key)),
        "without": ("vstls_cc", tlsfix.listener_keys(env, "explicit"), tlsfix.backend_keys(env))})
    try:
        proxy_roundtrip(env, ts["with"], "backend client certificate")
        replies = first_replies(ts["without"])
        check(any(r.startswith("421") for r in replies) and
              not any(r.startswith("230") or r.startswith("331") for r in replies),
              "no client certificate, yet: %r" % [r[:50] for r in replies])
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_tls_silent_clients_on_implicit_port(env):
    """Clients that connect to an implicit FTPS port and never start the
    handshake, or stop half way through it, are closed at login_timeout
    (there is no reply to send: the client never got a TLS connection);
    a real client is served meanwhile."""
    proxy, ts = tlsfix.start_tls_proxy(env, "tlssilent", {
        "imp": ("vstls", tlsfix.listener_keys(env, "implicit"), tlsfix.backend_keys(env))},
        login_timeout=2, spare_sessions=4)
    t = ts["imp"]
    socks = []
    try:
        for i in range(20):
            s = socket.create_connection((t.host, t.port), timeout=10)
            if i % 2:
                # half a ClientHello: a record header that promises more
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            socks.append(s)
        proxy_roundtrip_implicit(env, t)
        deadline = time.monotonic() + 10
        open_ = list(socks)
        while open_ and time.monotonic() < deadline:
            for s in list(open_):
                s.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    if s.recv(4096) == b"":
                        open_.remove(s)
                except (ConnectionResetError, BrokenPipeError):
                    open_.remove(s)
                except socket.timeout:
                    break
        check(not open_, "%d of 20 silent TLS clients still connected 10 s after a 2 s "
              "login_timeout" % len(open_))
        wait_for("fewer than 20 'login timeout' closes in the proxy log",
                 lambda: proxy.log_text().count('reason="login timeout"') >= 20)
    finally:
        for s in socks:
            s.close()
        proxy.stop()


def proxy_roundtrip_implicit(env, t):
    """A download through an implicit FTPS client on t."""
    name = env.unique("tls-imp-rt")
    data = os.urandom(77777)
    t.backend.put_file(name, data)
    f = ftps_session(env, t, implicit=True)
    try:
        check(retr(f, "pub/" + name) == data, "implicit FTPS download differs")
    finally:
        ftp_close(f)


@test(proxy_only=True)
def test_tls_versions_and_suites(env):
    """tls_min_version and tls_ciphersuites of a listener take effect: a
    TLS 1.2-only client is refused where TLS 1.3 is the minimum and served
    where the default (TLS 1.2) applies; the TLS 1.3 suite configured is
    the one negotiated."""
    proxy, ts = tlsfix.start_tls_proxy(env, "tlsver", {
        "v13": ("vstls", tlsfix.listener_keys(env, "required", tls_min_version="TLSv1.3",
                                               tls_ciphersuites="TLS_CHACHA20_POLY1305_SHA256"),
                tlsfix.backend_keys(env)),
        "dflt": ("vstls", tlsfix.listener_keys(env, "required"), tlsfix.backend_keys(env))})

    def login(t, max12):
        ctx = tlsfix.client_context(env)
        if max12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        f = FTPS(context=ctx, timeout=10)
        f.connect(t.host, t.port)
        f.auth()
        ftplib.FTP.login(f, t.user, t.password)
        return f

    try:
        refused = False
        try:
            ftp_close(login(ts["v13"], True))
        except (ssl.SSLError, OSError, EOFError, ftplib.Error):
            refused = True
        check(refused, "a TLS 1.2 client was served with tls_min_version = TLSv1.3")
        f = login(ts["v13"], False)
        try:
            got = (f.sock.version(), f.sock.cipher()[0])
            check(got == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"),
                  "negotiated %r, want TLS 1.3 with the configured suite" % (got,))
        finally:
            ftp_close(f)
        f = login(ts["dflt"], True)
        try:
            check(f.sock.version() == "TLSv1.2", "default listener: %s" % f.sock.version())
            check("ECDHE" in f.sock.cipher()[0], "TLS 1.2 without ECDHE: %s" % f.sock.cipher()[0])
        finally:
            ftp_close(f)
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_tls_certificate_rotation_on_sighup(env):
    """Certificate rotation: new files + SIGHUP, and new sessions get the new
    certificate (the master reads key files; sessions never do).  A reload
    whose key file is unreadable fails, is logged, and the running
    certificate keeps serving."""
    import signal
    p = pki(env)
    d = os.path.join(env.tmp, "rot")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    shutil.copy(p.server_cert, cert)
    shutil.copy(p.server_key, key)
    proxy, ts = tlsfix.start_tls_proxy(env, "tlsrot", {
        "rot": ("vstls", {"tls": "required", "tls_cert": cert, "tls_key": key},
                tlsfix.backend_keys(env))})
    t = ts["rot"]

    def issuer_seen(ca):
        """Log in trusting ca only; True if that worked."""
        try:
            f = FTPS(context=tlsfix.client_context(env, ca=ca), timeout=10)
            f.connect(t.host, t.port)
            f.auth()
            ftplib.FTP.login(f, t.user, t.password)
            ftp_close(f)
            return True
        except (ssl.SSLError, OSError, EOFError, ftplib.Error):
            return False

    def reload(outcome):
        before = proxy.log_text().count(outcome)
        proxy.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while proxy.log_text().count(outcome) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        check(proxy.log_text().count(outcome) > before,
              "no '%s' after SIGHUP: %s" % (outcome, tail(proxy.log_text(), 3)))

    try:
        check(issuer_seen(p.ca), "the first certificate does not verify")
        shutil.copy(p.wrong_cert, cert)
        shutil.copy(p.wrong_key, key)
        reload("reloaded:")
        time.sleep(0.5)  # the pool's idle processes were forked before: give
        # the master a moment to retire them (new sessions use the new contexts)
        ok = False
        for _ in range(20):
            if issuer_seen(p.wrong_ca):
                ok = True
                break
            time.sleep(0.25)
        check(ok, "after rotation and SIGHUP the new certificate is not served")
        check(not issuer_seen(p.ca), "the old certificate is still served after the reload")
        with open(key, "w") as fp:
            fp.write("not a key\n")
        reload("reload failed")
        check(re.search(r"rot\.key|key\.pem", proxy.log_text()) is not None,
              "the failed reload does not name the key file: %s" % tail(proxy.log_text(), 3))
        check(issuer_seen(p.wrong_ca), "after a failed reload the running certificate stopped")
    finally:
        proxy.stop()


@test()
def test_tls_big_reply_on_protected_control(env):
    """A multi-line reply of about 150 KB (STAT of a big directory) crosses
    the TLS control connections whole, many records each way, and the
    session goes on."""
    t = tls_target(env, "req")
    sub = env.unique("tls-statdir")
    d = os.path.join(t.backend.pub_dir, sub)
    os.makedirs(d)
    names = ["file-%05d-%s" % (i, "x" * 40) for i in range(2000)]
    for n in names:
        open(os.path.join(d, n), "w").close()
    os.chmod(d, 0o755)
    f = ftps_session(env, t)
    try:
        reply = f.sendcmd("STAT pub/" + sub)
        check(reply.startswith("213") and len(reply) > 100000,
              "STAT reply: %d bytes, starts %r" % (len(reply), reply[:40]))
        missing = [n for n in names if n not in reply]
        check(not missing, "%d of 2000 names missing from the STAT reply, e.g. %r"
              % (len(missing), missing[:2]))
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after the big reply")
    finally:
        ftp_close(f)
        shutil.rmtree(d, ignore_errors=True)


@test(proxy_only=True)
def test_tls_feat_follows_policy(env):
    """A listener whose policy refuses AUTH offers no AUTH TLS in FEAT and
    answers AUTH with the policy's 502 (TLS stays off for its clients)."""
    proxy, ts = tlsfix.start_tls_proxy(env, "tlspol", {
        "pol": ("vstls", tlsfix.listener_keys(env, "explicit", deny_commands="AUTH"),
                tlsfix.backend_keys(env))})
    try:
        t = ts["pol"]
        f = ftplib.FTP()
        f.connect(t.host, t.port, timeout=10)
        try:
            feat = f.sendcmd("FEAT")
            check("AUTH" not in feat and "PBSZ" not in feat,
                  "FEAT offers what the policy refuses: %r" % feat)
            check("EPSV" in feat, "FEAT lost its other features: %r" % feat)
            try:
                r = f.sendcmd("AUTH TLS")
            except ftplib.error_perm as e:
                r = str(e)
            check(r.startswith("502"), "AUTH TLS under a policy that refuses it: %r" % r)
        finally:
            ftp_close(f)
    finally:
        proxy.stop()
