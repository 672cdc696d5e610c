"""Hostile backends, as data: one test per tests/integration/cases/backend-*.case.

For each case: a fakeftpd.py plays the case's [backend] script; an ftpgate
of its own has a listener "fake" (on 127.0.0.3, so that "the proxy's own
address" differs from the backend's 127.0.0.1) pointing at it, and a second
listener "vs" pointing at the real vsftpd.  A raw-socket client plays the
[client] script against "fake".  The case passes when

  * every client step saw what it expects (within its bound),
  * the fake server saw what its script expects, no connection reached a
    trap or an unexpected data port, and it got exactly backend-connections
    connections (a proxy that dialled itself would make a second one),
  * the proxy log matches every proxy-log expression,
  * no session process is left over, the master is alive, and a normal
    session through "vs" still downloads a file intact.

Headers: client-expects, timeout, proxy-global (a [global] key = value),
proxy-backend (a key = value for the fake's [backend] section, e.g. tls),
proxy-log (a regular expression the proxy log must match),
backend-connections.

Client directives ([client] section; TEXT as in fakeftpd.py):
    greeting OUTCOME        read the greeting
    cmd LINE -> OUTCOME     send LINE, read its reply
    send TEXT               send raw TEXT (escapes allowed), read nothing
    reply OUTCOME           read one reply
    sleep S
    data-connect            connect to the port of the last 227/229 reply
    xfer LINE -> OUTCOME    send LINE (RETR/LIST...), read the 1xx, read the
                            data connection to its end, then the final reply
    data-is TEXT            the data read by the last xfer is exactly TEXT
    closed [S]              the proxy closes the control connection within S
                            seconds (default 5) and sends nothing more
OUTCOME: alternatives separated by " | ", each a reply code with an optional
"text" the reply must contain, or "close" (the connection closes with no
reply); an optional "within S" at the end sets the bound for this read.
"""
import glob
import os
import re
import shlex
import socket
import time

from itest import Failure, Target, busy_children, check, register, serves_small_retr, wait_for
from fakeftpd import unescape as fake_unescape
from hostile import Ctl, FakeServer, HProxy, pasv_port, read_data

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
PROXY_HOST = "127.0.0.3"


def parse_case(path):
    """(headers {key: [values]}, [(lineno, op, arg)] of [client])."""
    headers, steps, section = {}, [], None
    with open(path, encoding="latin-1") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("[") and line.strip().endswith("]"):
                section = line.strip()[1:-1]
                continue
            if section is None:
                m = re.match(r"#\s*([a-z-]+):\s*(.*?)\s*$", line)
                if m:
                    headers.setdefault(m.group(1), []).append(m.group(2))
                continue
            if section == "client" and line.strip() and not line.lstrip().startswith("#"):
                op, _, arg = line.partition(" ")
                steps.append((no, op, arg))
    return headers, steps


class Outcome:
    def __init__(self, text, default_timeout):
        self.raw = text.strip()
        self.timeout = default_timeout
        m = re.match(r"(.*?)\s+within\s+([\d.]+)$", self.raw)
        body = self.raw
        if m:
            body, self.timeout = m.group(1), float(m.group(2))
        self.alts = []
        for alt in body.split(" | "):
            words = shlex.split(alt)
            self.alts.append((words[0], words[1] if len(words) > 1 else None))
        self.codes = [a[0] for a in self.alts]

    def matches(self, reply):
        for code, text in self.alts:
            if code == "close" and reply is None:
                return True
            if reply is not None and reply[:3] == code and (text is None or text in reply):
                return True
        return False


def unescape(text):
    return fake_unescape(text, {})


class ClientRun:
    def __init__(self, case, port, timeout):
        self.case = case
        self.port = port
        self.timeout = timeout
        self.ctl = None
        self.last = None
        self.data_sock = None
        self.data = None
        self.transcript = []

    def got(self, reply):
        text = "<closed>" if reply is None else reply.replace("\n", " / ")[:120]
        self.transcript.append("< " + text)
        return reply

    def expect(self, no, out, reply, what):
        if not out.matches(reply):
            raise Failure("%s line %d: %s: want %s, got %s" % (
                os.path.basename(self.case), no, what, out.raw,
                "the connection closed" if reply is None else repr(reply[:160])))

    def step(self, no, op, arg):
        if op == "greeting":
            out = Outcome(arg, self.timeout)
            self.ctl = Ctl(PROXY_HOST, self.port, timeout=10)
            self.last = self.got(self.ctl.reply(out.timeout))
            self.expect(no, out, self.last, "greeting")
        elif op in ("cmd", "xfer"):
            line, _, o = arg.partition(" -> ")
            out = Outcome(o, self.timeout)
            self.transcript.append("> " + line)
            self.ctl.send(line + "\r\n")
            r = self.got(self.ctl.reply(out.timeout))
            if op == "xfer" and r is not None and r[:1] == "1":
                if self.data_sock is not None:
                    self.data, how = read_data(self.data_sock, out.timeout)
                    self.transcript.append("  data: %d bytes, %s" % (len(self.data), how))
                    self.data_sock.close()
                    self.data_sock = None
                r = self.got(self.ctl.reply(out.timeout))
            self.last = r
            self.expect(no, out, r, line)
        elif op == "send":
            self.transcript.append("> (raw) " + arg[:60])
            self.ctl.send(unescape(arg))
        elif op == "reply":
            out = Outcome(arg, self.timeout)
            self.last = self.got(self.ctl.reply(out.timeout))
            self.expect(no, out, self.last, "reply")
        elif op == "sleep":
            time.sleep(float(arg))
        elif op == "data-connect":
            port = pasv_port(self.last or "")
            check(port, "line %d: no port in %r" % (no, self.last))
            self.data_sock = socket.create_connection((PROXY_HOST, port), timeout=10)
        elif op == "data-is":
            want = unescape(arg)
            check(self.data == want, "%s line %d: data %r, want %r"
                  % (os.path.basename(self.case), no, (self.data or b"")[:80], want[:80]))
        elif op == "closed":
            secs = float(arg or 5)
            if not self.ctl.closed_within(secs):
                raise Failure("line %d: the control connection is still open after %.0f s"
                              % (no, secs))
            self.transcript.append("< <closed>")
        else:
            raise Failure("line %d: unknown client directive %r" % (no, op))

    def close(self):
        for s in (self.data_sock, self.ctl and self.ctl.sock):
            if s is not None:
                s.close()


def run_case(env, path):
    name = os.path.basename(path)[:-len(".case")]
    headers, steps = parse_case(path)
    check(headers.get("client-expects"), "%s has no '# client-expects:' header" % name)
    timeout = float(headers.get("timeout", ["10"])[0])
    gopts = {"connect_timeout": 2, "data_timeout": 3, "spare_sessions": 2}
    for kv in headers.get("proxy-global", []):
        k, v = (x.strip() for x in kv.split("=", 1))
        gopts[k] = v
    # The headline outcome must be what one of the steps expects: the
    # header documents the case and cannot drift from the script.
    headline = Outcome(headers["client-expects"][0], timeout).codes
    step_codes = [Outcome(a.partition(" -> ")[2] if o in ("cmd", "xfer") else a, timeout).codes
                  for _, o, a in steps if o in ("greeting", "cmd", "xfer", "reply")]
    check(headline in step_codes, "%s: client-expects %s is not the outcome of any client step %r"
          % (name, headline, step_codes))

    bkeys = {}
    for kv in headers.get("proxy-backend", []):
        k, v = (x.strip() for x in kv.split("=", 1))
        bkeys[k] = v
    fake = FakeServer(env, name)
    vs = env.backends["vs"]
    proxy = HProxy(env, "hb-" + name, [("fake", fake.addr(), (PROXY_HOST,), {}, bkeys),
                                       ("vs", vs.addr(), ("127.0.0.1",))], **gopts)
    client = ClientRun(path, proxy.ports["fake"], timeout)
    try:
        proxy.start()
        fake.start(path, {"PROXY_PORT": proxy.ports["fake"], "PROXY_HOST": PROXY_HOST})
        try:
            for no, op, arg in steps:
                client.step(no, op, arg)
        except Failure as e:
            raise Failure("%s [client: %s]" % (e, " ; ".join(client.transcript[-8:])))
        finally:
            client.close()
        evs = fake.wait_scripts_done(20)
        fails = ["line %s: %s" % (e["line"], e["msg"]) for e in evs if e["ev"] == "fail"]
        check(not fails, "fake backend: %s" % "; ".join(fails[:3]))
        opened = [e for e in evs if e["ev"] == "open"]
        ended = {e["conn"] for e in evs if e["ev"] == "end"}
        check(all(e["conn"] in ended for e in opened),
              "the fake backend's script was still running 20 s after the client finished")
        want = int(headers.get("backend-connections", ["1"])[0])
        check(len(opened) == want, "the fake backend got %d connection(s), want %d: %r"
              % (len(opened), want, [e["peer"] for e in opened]))
        for rx in headers.get("proxy-log", []):
            wait_for("proxy log lacks /%s/" % rx, lambda: re.search(rx, proxy.log_text()), 5)
        wait_for("session processes still busy after the case: %r" % busy_children(proxy),
                 lambda: not busy_children(proxy), 10)
        check(proxy.alive(), "ftpgate exited")
        serves_small_retr(env, Target("127.0.0.1", proxy.ports["vs"], vs, "hb-vs"),
                          "the vs listener after case %s" % name)
    finally:
        fake.stop()
        proxy.stop()


for _path in sorted(glob.glob(os.path.join(CASES, "backend-*.case"))):
    _name = os.path.basename(_path)[:-len(".case")]
    register("hostile_" + _name.replace("-", "_"), lambda env, p=_path: run_case(env, p),
             proxy_only=True)
