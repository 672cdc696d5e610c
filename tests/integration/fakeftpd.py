#!/usr/bin/python3
"""fakeftpd: a scripted fake FTP server for hostile-backend tests.

    fakeftpd.py --case FILE --port PORT [--host 127.0.0.1] --events FILE
                [--var NAME=VALUE ...]

Listens on HOST:PORT and plays the [backend] section of a case file for every
connection it accepts (one thread each), in the spirit of curl's tests/data:
the case file holds what the server sends, what it expects to be sent, and
(in its [client] section, read by t_hostile_backend.py, not here) what the
client does and must see.  Standard library only.  Stops on SIGTERM.

Case file format
----------------
    # one-line description
    # key: value          header lines (top of the file), read by the runner
    [backend]
    DIRECTIVE ARGS...     one per line; blank lines and "#" lines are skipped
    [client]
    ...                   see t_hostile_backend.py

Header keys (runner): client-expects (the headline outcome: one of the
client steps must expect exactly this), proxy-log (a regular expression the
proxy log must match; repeatable), proxy-global (a "key = value" line for the
proxy's [global] section; repeatable), backend-connections (how many
connections the fake server must see; default 1), timeout (seconds each
client read may take; default 10).

TEXT arguments are taken verbatim up to the end of the line, after escapes:
\\r \\n \\t \\0 \\\\ \\xHH, and ${NAME} replaced by a --var or by a variable
that a directive set (below).  For every numeric variable X, ${X_HI} and
${X_LO} are its high and low byte (X >> 8, X & 255), as PASV replies want.
Variables given by the runner: PROXY_PORT (the proxy listener that points
here), PROXY_HOST.

Backend directives (the script of one connection):
    send TEXT              send TEXT on the control connection
    sendraw HEX            send raw bytes, e.g. "sendraw 16 03 01 00 05"
    sendbig N BYTE         send N copies of BYTE (a character or \\xHH), in
                           64 KiB writes; stops quietly when the peer goes
    sendloop SECONDS TEXT  send TEXT over and over until the peer closes the
                           connection; FAIL if it still reads after SECONDS
    expect PREFIX          read one line (CRLF or LF); FAIL unless it starts
                           with PREFIX (ASCII case ignored), or on timeout/EOF
    expect-close [S]       wait until the peer closes the control connection
                           (EOF or reset; input meanwhile is discarded);
                           FAIL if it has not after S seconds (default 10)
    hold S                 stay connected and silent for S seconds (input is
                           discarded); ends early if the peer closes
    sleep S                sleep S seconds
    timeout S              from now on, "expect" waits at most S seconds
    close                  close the control and data connections; script ends
    listen-data [HOST [PORT]]
                           open the data listener (default 127.0.0.1, any free
                           port); sets ${DP} to its port
    trap HOST              also listen on HOST:${DP}: nobody may connect there
    accept-data [S]        accept one connection on the data listener (FAIL
                           after S seconds, default 10)
    send-data TEXT         send TEXT on the data connection
    close-data             close the data connection
    wait-data-closed [S]   wait until the peer closes (or resets) the data
                           connection, discarding input; FAIL after S seconds
    respond-all TEXT       answer every further line with TEXT (QUIT gets
                           "221 Bye." and ends the script); each line received
                           is logged as a "recv" event
At the end of a script (or at "close") every listener must have no
connection waiting: a connection nobody accepted (a trap hit, or a data
connection the script did not expect) is a FAIL.  (The data connection of
an accept-data, or of an unexpected connect that the script never looked at,
is told apart this way.)

Events: one JSON object per line in --events, e.g.
    {"conn": 1, "ev": "open", "peer": "127.0.0.1:40312"}
    {"conn": 1, "ev": "fail", "line": 12, "msg": "expect PASV: got 'EPSV'"}
    {"conn": 1, "ev": "recv", "text": "NOOP"}
    {"conn": 1, "ev": "note", "msg": "peer closed after 8192 bytes"}
    {"conn": 1, "ev": "end"}
The runner fails a case on any "fail" event.
"""
import argparse
import json
import re
import select
import signal
import socket
import sys
import threading
import time

VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ScriptFail(Exception):
    pass


class PeerGone(Exception):
    pass


def unescape(text, variables):
    """Apply ${VAR} substitution, then backslash escapes; returns bytes."""
    def var(m):
        name = m.group(1)
        if name in variables:
            return str(variables[name])
        for suffix, fn in (("_HI", lambda v: v >> 8), ("_LO", lambda v: v & 255)):
            if name.endswith(suffix) and name[:-3] in variables:
                return str(fn(int(variables[name[:-3]])))
        raise ScriptFail("unknown variable ${%s}" % name)

    text = VAR_RE.sub(var, text)
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 == len(text):
            out += c.encode("latin-1")
            i += 1
            continue
        n = text[i + 1]
        if n == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
            continue
        out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}.get(
            n, ("\\" + n).encode("latin-1"))
        i += 2
    return bytes(out)


def parse_case(path):
    """The [backend] section of a case file: [(lineno, op, rest-of-line)]."""
    script = []
    section = None
    with open(path, encoding="latin-1") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("[") and line.strip().endswith("]"):
                section = line.strip()[1:-1]
                continue
            if section != "backend" or not line.strip() or line.lstrip().startswith("#"):
                continue
            op, _, rest = line.partition(" ")
            script.append((no, op.strip(), rest))
    return script


class Events:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def add(self, **ev):
        with self.lock, open(self.path, "a") as f:
            f.write(json.dumps(ev) + "\n")


def listen(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(512)
    return s


class Conn:
    def __init__(self, sock, n, script, variables, events):
        self.sock = sock
        self.n = n
        self.script = script
        self.vars = dict(variables)
        self.events = events
        self.buf = b""
        self.expect_timeout = 10.0
        self.dlisten = None
        self.traps = []
        self.data = None
        self.lineno = 0

    def ev(self, **kw):
        self.events.add(conn=self.n, **kw)

    def fail(self, msg):
        raise ScriptFail(msg)

    def text(self, arg):
        return unescape(arg, self.vars)

    # ---- helpers

    def sendall(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise PeerGone("control send: %s" % e)

    def wait_closed(self, sock, seconds):
        """True when sock reached EOF/reset within seconds (input discarded)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                continue
            try:
                chunk = sock.recv(65536)
            except OSError:
                return True
            if not chunk:
                return True

    def read_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "timeout after %.0f s" % timeout
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(65536)
            except OSError as e:
                return None, "connection error: %s" % e
            if not chunk:
                return None, "connection closed"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1"), None

    # ---- directives

    def op_send(self, arg):
        self.sendall(self.text(arg))

    def op_sendraw(self, arg):
        self.sendall(bytes.fromhex(arg))

    def op_sendbig(self, arg):
        n, byte = arg.split(None, 1)
        b = self.text(byte)
        chunk = b * 65536
        left = int(n)
        sent = 0
        self.sock.settimeout(10)
        try:
            while left > 0:
                k = self.sock.send(chunk[:min(left, len(chunk))])
                left -= k
                sent += k
        except OSError as e:
            self.ev(ev="note", msg="sendbig: peer gone after %d bytes (%s)" % (sent, e))
            return
        finally:
            self.sock.settimeout(None)
        self.ev(ev="note", msg="sendbig: sent all %d bytes" % sent)

    def op_sendloop(self, arg):
        seconds, text = arg.split(" ", 1)
        data = self.text(text) * 64
        deadline = time.monotonic() + float(seconds)
        sent = 0
        self.sock.settimeout(0.5)
        try:
            while time.monotonic() < deadline:
                try:
                    sent += self.sock.send(data)
                except socket.timeout:
                    continue
        except OSError as e:
            self.ev(ev="note", msg="sendloop: peer gone after %d bytes (%s)" % (sent, e))
            raise PeerGone("sendloop ended by the peer")
        finally:
            self.sock.settimeout(None)
        self.fail("sendloop: the peer still reads after %s s (%d bytes)" % (seconds, sent))

    def op_expect(self, arg):
        line, why = self.read_line(self.expect_timeout)
        if line is None:
            self.fail("expect %s: %s" % (arg, why))
        self.ev(ev="recv", text=line)
        if not line.upper().startswith(arg.upper()):
            self.fail("expect %s: got %r" % (arg, line[:200]))

    def op_expect_close(self, arg):
        seconds = float(arg or 10)
        if not self.wait_closed(self.sock, seconds):
            self.fail("expect-close: the peer still holds the connection after %.0f s" % seconds)
        raise PeerGone("closed as expected")

    def op_hold(self, arg):
        if self.wait_closed(self.sock, float(arg)):
            self.ev(ev="note", msg="hold: the peer closed the connection")
            raise PeerGone("closed during hold")

    def op_sleep(self, arg):
        time.sleep(float(arg))

    def op_timeout(self, arg):
        self.expect_timeout = float(arg)

    def op_close(self, arg):
        raise PeerGone("script closed the connection")

    def op_listen_data(self, arg):
        parts = arg.split()
        host = parts[0] if parts else "127.0.0.1"
        port = int(self.text(parts[1])) if len(parts) > 1 else 0
        self.dlisten = listen(host, port)
        self.vars["DP"] = self.dlisten.getsockname()[1]

    def op_trap(self, arg):
        self.traps.append(listen(arg.strip(), int(self.vars["DP"])))

    def op_accept_data(self, arg):
        r, _, _ = select.select([self.dlisten], [], [], float(arg or 10))
        if not r:
            self.fail("accept-data: no data connection within %s s" % (arg or 10))
        self.data, peer = self.dlisten.accept()
        self.ev(ev="note", msg="data connection from %s:%d" % peer[:2])

    def op_send_data(self, arg):
        self.data.sendall(self.text(arg))

    def op_close_data(self, arg):
        self.data.close()
        self.data = None

    def op_wait_data_closed(self, arg):
        seconds = float(arg or 10)
        t0 = time.monotonic()
        if not self.wait_closed(self.data, seconds):
            self.fail("wait-data-closed: data connection still open after %.0f s" % seconds)
        self.ev(ev="note", msg="data connection closed by the peer after %.1f s"
                % (time.monotonic() - t0))
        self.data.close()
        self.data = None

    def op_respond_all(self, arg):
        reply = self.text(arg)
        while True:
            line, why = self.read_line(3600)
            if line is None:
                raise PeerGone("respond-all: %s" % why)
            self.ev(ev="recv", text=line)
            if line.upper() == "QUIT":
                self.sendall(b"221 Bye.\r\n")
                raise PeerGone("QUIT")
            self.sendall(reply)

    # ---- driver

    def check_listeners(self):
        for what, s in [("data port", self.dlisten)] + [("trap", t) for t in self.traps]:
            if s is None:
                continue
            r, _, _ = select.select([s], [], [], 0)
            if r:
                c, peer = s.accept()
                c.close()
                self.ev(ev="fail", line=0, msg="unexpected connection to %s %s:%d from %s:%d"
                        % (what, s.getsockname()[0], s.getsockname()[1], peer[0], peer[1]))
            s.close()

    def run(self):
        try:
            peer = self.sock.getpeername()
            self.ev(ev="open", peer="%s:%d" % peer[:2])
            for no, op, arg in self.script:
                self.lineno = no
                fn = getattr(self, "op_" + op.replace("-", "_"), None)
                if fn is None:
                    self.fail("unknown directive %r" % op)
                fn(arg)
        except ScriptFail as e:
            self.ev(ev="fail", line=self.lineno, msg=str(e))
        except PeerGone as e:
            self.ev(ev="note", msg="line %d: %s" % (self.lineno, e))
        except Exception as e:  # a bug in the script or here: fail loudly
            self.ev(ev="fail", line=self.lineno, msg="%s: %s" % (type(e).__name__, e))
        finally:
            try:
                self.check_listeners()
            finally:
                for s in (self.data, self.sock):
                    if s is not None:
                        s.close()
                self.ev(ev="end")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--var", action="append", default=[])
    args = ap.parse_args()

    script = parse_case(args.case)
    variables = dict(v.split("=", 1) for v in args.var)
    events = Events(args.events)
    srv = listen(args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    threading.stack_size(512 * 1024)
    n = 0
    while True:
        c, _ = srv.accept()
        n += 1
        threading.Thread(target=Conn(c, n, script, variables, events).run, daemon=True).start()


if __name__ == "__main__":
    main()
