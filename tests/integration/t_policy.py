"""Command policy, login limits and the transfer log (issue 4): allow_commands,
deny_commands, deny_arguments (PCRE2), FEAT without refused features,
login_timeout, max_login_attempts, xferlog.  Each test starts its own ftpgate
with the listener keys it needs, in front of the shared pyftpdlib backend
(user test/secret), or of its own pyftpdlib where pyftpdlib's own login
limits would get in the way."""
import io
import os
import re
import socket
import stat
import time

from itest import (HERE, PYTHON, Proxy, PyFtpd, RawReplies, Target, audit_events, check,
                   curl_ok, free_port, ftp_close, ftp_session, raw_cmd, retr, run, session_events,
                   spawn, tail, test, wait_port)

REFUSED_VERB = "502 Command not allowed by policy."
REFUSED_ARG = "550 Argument refused by policy."


def start_proxy(env, tag, listeners, **global_opts):
    """An ftpgate with one listener per entry of listeners, a dict
    {listener name: (backend, {listener keys})}; backend is a name of
    env.backends or a Backend.  Returns (proxy, {listener name: Target})."""
    rows, backs = [], {}
    for name, (b, extra) in listeners.items():
        b = env.backends[b] if isinstance(b, str) else b
        backs[name] = b
        rows.append((name, b.addr(), ("127.0.0.1",), extra))
    proxy = Proxy(env, tag, rows, **global_opts)
    proxy.start()
    targets = {name: Target("127.0.0.1", proxy.ports[name], b, "%s-%s" % (tag, name))
               for name, b in backs.items()}
    return proxy, targets


def policy_events(proxy):
    return [e for e in audit_events(proxy.log_text()) if e.get("event") == "policy"]


def feat_names(reply):
    return {l.strip().split(" ")[0].upper() for l in reply.splitlines()[1:-1] if l.strip()}


@test(proxy_only=True)
def test_policy_deny_commands(env):
    proxy, ts = start_proxy(env, "pol-deny", {"py": ("py", {"deny_commands": "DELE, SITE"})})
    try:
        t = ts["py"]
        name = env.unique("keep")
        data = os.urandom(4321)
        path = t.backend.put_file(name, data)
        f = ftp_session(t)
        try:
            for line in ("DELE pub/" + name, "dele pub/" + name, "SITE CHMOD 600 pub/" + name):
                r = raw_cmd(f, line)
                check(r == REFUSED_VERB, "%r answered %r, not %r" % (line, r, REFUSED_VERB))
            check(os.path.exists(path), "the backend lost the file: DELE reached it")
            check(retr(f, "pub/" + name) == data, "RETR after the refused DELE differs")
            check(f.sendcmd("NOOP").startswith("200"), "NOOP after refusals failed")
        finally:
            ftp_close(f)
        check(os.path.exists(path), "the backend lost the file")
        evs = policy_events(proxy)
        check(any(e.get("verb") == "DELE" and e.get("rule") == "deny_commands"
                  and e.get("arg") == "pub/" + name for e in evs),
              "no event=policy verb=DELE rule=deny_commands arg=...: %r" % [e["_line"] for e in evs])
        check(len(evs) == 3, "want 3 policy events, got %d" % len(evs))
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_policy_allow_commands(env):
    # What curl needs to download (it also sends EPSV and QUIT, and USER
    # and PASS, which are always allowed).
    proxy, ts = start_proxy(env, "pol-allow",
                            {"py": ("py", {"allow_commands": "RETR, TYPE, SIZE, PWD, CWD, NOOP"})})
    try:
        t = ts["py"]
        name = env.unique("allow")
        data = os.urandom(70000)
        t.backend.put_file(name, data)
        out = os.path.join(env.files, name + ".got")
        curl_ok(["-o", out, t.url("pub/" + name)])
        with open(out, "rb") as fh:
            check(fh.read() == data, "curl download through allow_commands differs")
        os.unlink(out)
        f = ftp_session(t)
        try:
            check(f.sendcmd("NOOP").startswith("200"), "listed NOOP refused")
            check(f.sendcmd("XCWD pub").startswith("250"), "XCWD (alias of listed CWD) refused")
            check(f.sendcmd("CWD /").startswith("250"), "listed CWD refused")
            for line in ("STOR pub/new-" + name, "MKD pub/d-" + name, "XMKD pub/d-" + name,
                         "DELE pub/" + name, "MDTM pub/" + name, "HELP"):
                r = raw_cmd(f, line)
                check(r == REFUSED_VERB, "%r answered %r, not %r" % (line, r, REFUSED_VERB))
            check(retr(f, "pub/" + name) == data, "ftplib RETR through allow_commands differs")
        finally:
            ftp_close(f)
        pub = t.backend.pub_dir
        check(not os.path.exists(os.path.join(pub, "new-" + name)), "STOR reached the backend")
        check(not os.path.exists(os.path.join(pub, "d-" + name)), "MKD reached the backend")
        check(os.path.exists(os.path.join(pub, name)), "DELE reached the backend")
        evs = policy_events(proxy)
        check(evs and all(e.get("rule") == "allow_commands" for e in evs),
              "policy events: %r" % [e["_line"] for e in evs])
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_policy_deny_arguments(env):
    rules = [r"* \.\.", "SITE .*", "USER ^root$",
             # `*` never looks at PASS: this must not stop "PASS secret".
             "* ^secre[t]$"]
    proxy, ts = start_proxy(env, "pol-args", {"py": ("py", {"deny_arguments": rules})})
    try:
        t = ts["py"]
        name = env.unique("args")
        data = os.urandom(5000)
        t.backend.put_file(name, data)
        f = ftp_session(t)
        try:
            for line in ("RETR ../x", "RETR pub/../pub/" + name, "CWD ..", "SIZE pub/..",
                         "SITE CHMOD 644 pub/" + name, "SITE", "RETR secret"):
                r = raw_cmd(f, line)
                check(r == REFUSED_ARG, "%r answered %r, not %r" % (line, r, REFUSED_ARG))
            # A refused transfer uses up the prepared data connection, and
            # the next transfer still works.
            f.sendcmd("TYPE I")
            r = raw_cmd(f, "PASV")
            check(r.startswith("227"), "PASV answered %r" % r)
            r = raw_cmd(f, "RETR ../" + name)
            check(r == REFUSED_ARG, "RETR ../ after PASV answered %r" % r)
            check(retr(f, "pub/" + name) == data, "harmless RETR differs")
            check(f.sendcmd("CWD pub").startswith("250"), "harmless CWD refused")
            check(f.sendcmd("SIZE " + name).startswith("213"), "harmless SIZE refused")
        finally:
            ftp_close(f)
        f = ftp_session(t, login=False)
        try:
            r = raw_cmd(f, "USER root")
            check(r == REFUSED_ARG, "USER root answered %r" % r)
            f.login(t.user, t.password)
        finally:
            ftp_close(f)
        with open(proxy.conf_path) as fh:
            conf = fh.read().splitlines()
        line = {r: conf.index("deny_arguments = " + r) + 1 for r in rules}
        evs = policy_events(proxy)
        dots = [e for e in evs if e.get("verb") == "RETR" and e.get("arg") == "../x"]
        want = "deny_arguments:%d" % line[r"* \.\."]
        check(dots and dots[0].get("rule") == want and dots[0].get("pattern") == r"\.\.",
              "no event=policy verb=RETR arg=\"../x\" rule=%s pattern=...: %r"
              % (want, [e["_line"] for e in evs][:3]))
        check(any(e.get("verb") == "SITE" and e.get("rule") == "deny_arguments:%d" % line["SITE .*"]
                  for e in evs), "no SITE refusal logged")
        check(len(evs) == 9, "want 9 policy events, got %d" % len(evs))
        # The password matched `* ^secre[t]$` but was never looked at, so
        # it is in no line (only RETR's argument is).
        bad = [l for l in proxy.log_text().splitlines() if "secret" in l and "verb=RETR" not in l]
        check(not bad, "the password reached the log: %r" % bad[:2])
    finally:
        proxy.stop()


@test(proxy_only=True)
def test_policy_bad_regex_reported(env):
    path = os.path.join(env.tmp, "policy-bad-regex.conf")
    conf = ("[global]\nuser = nobody\n[listener a]\nlisten = 127.0.0.1:2121\nbackend = b\n"
            "deny_arguments = * \\.\\.\n"          # line 6: fine
            "deny_arguments = RETR a(b\n"          # line 7: unbalanced
            "deny_arguments = STOR,APPE [z-a]\n"   # line 8: bad range
            "[backend b]\nservers = 127.0.0.1:21\n")
    with open(path, "w") as fh:
        fh.write(conf)
    rc, out, err = run([env.ftpgate, "-t", "-f", path], timeout=10)
    text = out + err
    check(rc == 1, "rc=%d, not 1: %s" % (rc, tail(text, 3)))
    want = ["%s:7: deny_arguments: bad regular expression at offset 3: missing closing parenthesis" % path,
            "%s:8: deny_arguments: bad regular expression at offset 3: range out of order in character class"
            % path]
    for w in want:
        check(w in text.splitlines(), "missing %r in %r" % (w, tail(text, 4)))
    check(len(re.findall(r"^%s:\d+: " % re.escape(path), text, re.M)) == 2,
          "want exactly two errors: %r" % tail(text, 4))
    with open(path, "w") as fh:
        fh.write(conf.replace("a(b", "a\\(b").replace("[z-a]", "[a-z]"))
    rc, out, err = run([env.ftpgate, "-t", "-f", path], timeout=10)
    check(rc == 0, "fixed file: rc=%d: %s" % (rc, tail(out + err, 3)))


@test(proxy_only=True)
def test_policy_feat(env):
    proxy, ts = start_proxy(env, "pol-feat", {
        "deny": ("py", {"deny_commands": "MLSD, SIZE"}),
        "allow": ("py", {"allow_commands": "RETR, TYPE", "deny_commands": "EPRT"}),
    })
    try:
        f = ftp_session(ts["deny"], login=False)
        try:
            feats = feat_names(raw_cmd(f, "FEAT"))
            for x in ("MLST", "MLSD", "SIZE"):
                check(x not in feats, "FEAT lists %s although MLSD and SIZE are denied: %r"
                      % (x, sorted(feats)))
            for x in ("EPSV", "EPRT", "MDTM", "UTF8", "REST"):
                check(x in feats, "FEAT lacks %s: %r" % (x, sorted(feats)))
            f.login(ts["deny"].user, ts["deny"].password)
            check(raw_cmd(f, "MLSD") == REFUSED_VERB, "MLSD not refused")
        finally:
            ftp_close(f)
        f = ftp_session(ts["allow"], login=False)
        try:
            feats = feat_names(raw_cmd(f, "FEAT"))
            for x in ("EPRT", "SIZE", "MDTM", "MLST", "MFMT", "UTF8", "REST"):
                check(x not in feats, "FEAT lists %s, not allowed: %r" % (x, sorted(feats)))
            for x in ("EPSV", "TVFS"):
                check(x in feats, "FEAT lacks %s: %r" % (x, sorted(feats)))
        finally:
            ftp_close(f)
    finally:
        proxy.stop()


def connect_raw(t):
    s = socket.create_connection((t.host, t.port), timeout=10)
    rr = RawReplies(s)
    banner = rr.next(10)
    check(banner.startswith("220"), "greeting %r" % banner)
    return s, rr


def wait_login_timeout(rr, started, limit):
    """The 421 and the close, within limit seconds of started."""
    got = rr.within(limit + 3)
    took = time.monotonic() - started
    check(got[:2] == ["421 Login timeout.", "<control connection closed>"],
          "after %.1f s got %r, want 421 Login timeout. and the close" % (took, got))
    check(limit - 0.5 <= took <= limit + 2.5, "421 after %.1f s; login_timeout is %d" % (took, limit))


@test(proxy_only=True)
def test_login_timeout(env):
    proxy, ts = start_proxy(env, "login-time", {
        "py": ("py", {}),
        "slow": ("py", {"login_timeout": 30}),
    }, login_timeout=2)
    try:
        t = ts["py"]
        # Nothing at all after connecting.
        t0 = time.monotonic()
        s, rr = connect_raw(t)
        client = "127.0.0.1:%d" % s.getsockname()[1]
        wait_login_timeout(rr, t0, 2)
        s.close()
        sid, mine = session_events(proxy, client)
        check(mine and mine[-1].get("reason") == "login timeout",
              "close line: %r" % (mine[-1]["_line"] if mine else None))
        # Only USER, never PASS; busy with other commands meanwhile.
        t0 = time.monotonic()
        s, rr = connect_raw(t)
        s.sendall(b"USER test\r\n")
        check(rr.next(5).startswith("331"), "USER not answered with 331")
        time.sleep(1)
        s.sendall(b"NOOP\r\n")
        rr.next(5)
        wait_login_timeout(rr, t0, 2)
        s.close()
        # A session that logged in is not cut.
        f = ftp_session(t)
        try:
            time.sleep(3)
            check(f.sendcmd("NOOP").startswith("200"), "logged-in session cut by login_timeout")
        finally:
            ftp_close(f)
        # The listener's own login_timeout overrides [global]'s.
        s, rr = connect_raw(ts["slow"])
        got = rr.within(3.5)
        check(got == [], "login_timeout = 30 listener sent %r within 3.5 s" % got)
        s.close()
    finally:
        proxy.stop()


def fail_logins(t, n):
    """n wrong passwords on one connection; returns the replies and
    whatever followed the last one (RawReplies.within)."""
    s = socket.create_connection((t.host, t.port), timeout=10)
    rr = RawReplies(s)
    replies = [rr.next(10)]
    try:
        for _ in range(n):
            s.sendall(b"USER test\r\nPASS wrong\r\n")
            replies.append(rr.next(10))
            replies.append(rr.next(10))
        replies += rr.within(1.5)
    finally:
        s.close()
    return replies


@test(proxy_only=True)
def test_max_login_attempts(env):
    # pyftpdlib with its own limits off: only the proxy's act.
    b = PyFtpd(env, "py-nolimit", "127.0.0.1")
    b.pub_dir = os.path.join(b.dir, "root", "pub")
    os.makedirs(b.pub_dir, exist_ok=True)
    b.port = free_port(b.host)
    b.proc = spawn([PYTHON, os.path.join(HERE, "pyftpd.py"), "--host", b.host, "--port", str(b.port),
                    "--root", os.path.join(b.dir, "root"), "--user", b.user, "--password", b.password,
                    "--auth-failed-delay", "0", "--max-login-attempts", "1000"], b.log_path)
    proxy = None
    try:
        wait_port(b.host, b.port, 10, b.proc, b.log_path)
        proxy, ts = start_proxy(env, "login-max", {
            "py": (b, {}),
            "free": (b, {"max_login_attempts": 0}),
        })
        t = ts["py"]
        got = fail_logins(t, 3)
        check(got[1:6:2] == [got[1]] * 3 and got[1].startswith("331"), "USER replies %r" % got)
        check([r[:3] for r in got[2:7:2]] == ["530"] * 3, "PASS replies %r" % got)
        check(got[7:] == ["421 Too many failed logins.", "<control connection closed>"],
              "after the third failure got %r" % got[7:])
        evs = [e for e in audit_events(proxy.log_text()) if e.get("event") == "login"]
        check([e.get("result") for e in evs] == ["fail"] * 3 and
              [e.get("failures") for e in evs] == ["1", "2", "3"],
              "login events %r" % [e["_line"] for e in evs])
        # The failing session's own close line (port probes close too, in
        # any order).
        sids = {e["session"] for e in evs}
        closes = [e for e in audit_events(proxy.log_text())
                  if e.get("event") == "close" and e["session"] in sids]
        check(len(closes) == 1 and closes[0].get("reason") == "too many failed logins",
              "close lines of the failing session: %r" % [e["_line"] for e in closes])
        # Two failures leave the session open; a new session logs in.
        got = fail_logins(t, 2)
        check(got[-1:] != ["<control connection closed>"] and "421" not in " ".join(got),
              "two failures ended the session: %r" % got)
        f = ftp_session(t)
        check(f.sendcmd("NOOP").startswith("200"), "new session after the limit cannot work")
        ftp_close(f)
        # max_login_attempts = 0 on a listener: no limit.
        got = fail_logins(ts["free"], 5)
        check("421" not in " ".join(got) and len(got) == 11, "unlimited listener: %r" % got)
    finally:
        if proxy:
            proxy.stop()
        b.stop()


@test(proxy_only=True)
def test_xferlog(env):
    log = os.path.join(env.tmp, "proxy-xferlog", "xferlog")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    proxy, ts = start_proxy(env, "xferlog", {"py": ("py", {})}, xferlog=log)
    try:
        t = ts["py"]
        name = env.unique("xfer") + " with spaces.bin"
        up = os.urandom(123457)
        down = os.urandom(65432)
        t.backend.put_file("dl-" + name, down)
        f = ftp_session(t)
        try:
            f.storbinary("STOR pub/" + name, io.BytesIO(up))
            check(retr(f, "pub/dl-" + name) == down, "download differs")
            f.retrlines("LIST pub", lambda l: None)   # a listing is no file transfer
            r = raw_cmd(f, "PASV")
            check(r.startswith("227"), "PASV answered %r" % r)
            r = raw_cmd(f, "RETR pub/nonexistent-" + name)
            check(r.startswith("550"), "RETR of a missing file answered %r" % r)
        finally:
            ftp_close(f)
        st = os.stat(log)
        check(stat.S_IMODE(st.st_mode) == 0o640, "xferlog mode %o, not 640" % stat.S_IMODE(st.st_mode))
        with open(log) as fh:
            lines = fh.read().splitlines()
        check(len(lines) == 3, "want 3 xferlog lines, got %d: %r" % (len(lines), lines))
        rows = []
        for line in lines:
            w = line.split()
            # current-time is "Www Mmm dd hh:mm:ss yyyy": 5 words + 13 fields.
            check(len(w) == 18, "not an xferlog line (%d words): %r" % (len(w), line))
            time.strptime(" ".join(w[:5]), "%a %b %d %H:%M:%S %Y")
            rows.append(dict(zip(("xtime", "host", "size", "file", "type", "flag", "dir", "mode",
                                  "user", "service", "auth", "authuser", "status"), w[5:])))
        # ftplib's LIST sent TYPE A: the last RETR is an ASCII one.
        want = [("i", len(up), "pub/" + name, "c", "b"), ("o", len(down), "pub/dl-" + name, "c", "b"),
                ("o", 0, "pub/nonexistent-" + name, "i", "a")]
        for row, (d, size, fname, status, typ) in zip(rows, want):
            check(row["dir"] == d and row["size"] == str(size) and row["status"] == status
                  and row["type"] == typ,
                  "xferlog row %r, want direction %s size %d status %s type %s"
                  % (row, d, size, status, typ))
            check(row["file"] == fname.replace(" ", "_"), "file name %r, want %r"
                  % (row["file"], fname.replace(" ", "_")))
            check(row["host"] == "127.0.0.1" and row["flag"] == "_"
                  and row["mode"] == "r" and row["user"] == t.user and row["service"] == "ftp"
                  and row["auth"] == "0" and row["authuser"] == "*" and int(row["xtime"]) >= 1,
                  "xferlog row %r" % row)
    finally:
        proxy.stop()
