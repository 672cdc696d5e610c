#!/usr/bin/env python3
"""Write the seed corpus of fuzz_session (tests/fuzz/corpus/fuzz_session/).

Each seed is a scripted session in the harness's input format (see the
comment at the top of fuzz_session.c): a flags byte, then records.  The
canned command and reply tables are read from fuzz_session.c itself, so the
seeds follow the harness when the tables change.

    tests/fuzz/mk_session_corpus.py [OUTDIR [TLS_OUTDIR]]

TLS_OUTDIR (default corpus/fuzz_session_tls) gets the seeds of
fuzz_session_tls.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

OPS = ["C_SEND", "B_SEND", "C_CMD", "B_REPLY", "C_DCONNECT", "THIEF", "C_DSEND",
       "B_DSEND", "BULK", "C_DSHUT", "B_DSHUT", "C_DRST", "B_DRST", "C_SHUT", "C_RST",
       "B_SHUT", "B_RST", "TIMER", "STOP", "C_URGENT", "C_READ"]
OP = {name: i for i, name in enumerate(OPS)}

V6, SPLICE, BANNER, DEAD, DEBUG, SMALL, PASVADDR, BLACKHOLE = 1, 2, 4, 8, 16, 32, 64, 128
TIMERS = {"idle": 0, "wait": 1, "data": 2, "flush": 3}


def bulk(where, units):
    """Argument of a BULK record: units of 32 KiB (data), 1 KiB (client
    control) or 16 KiB (backend control)."""
    return ["cdata", "bdata", "cctrl", "bctrl"].index(where) | ((units - 1) << 2)


def c_strings(name):
    """The C string literals of array `name` in fuzz_session.c, unescaped."""
    src = open(os.path.join(HERE, "fuzz_session.c"), encoding="latin-1").read()
    body = re.search(r"\b%s\[\] = \{(.*?)\n\};" % name, src, re.S).group(1)
    out = []
    for item in re.findall(r'\(?((?:"(?:[^"\\]|\\.)*"\s*)+)\)?\s*,', body):
        s = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', item))
        out.append(s.encode("latin-1").decode("unicode_escape").encode("latin-1"))
    return out


CMDS = c_strings("cmds")
REPLIES = c_strings("replies")


def cmd_index(text):
    return CMDS.index(text.encode("latin-1"))


def reply_index(text):
    return REPLIES.index(text.encode("latin-1"))


class Script:
    def __init__(self, flags=0):
        self.b = bytearray([flags])

    def raw(self, op, payload=b""):
        if op in ("C_SEND", "B_SEND", "C_DSEND", "B_DSEND"):
            # Longer payloads become several records.
            for i in range(0, max(len(payload), 1), 255):
                part = payload[i:i + 255]
                self.b += bytes([OP[op], len(part)]) + part
            return self
        self.b.append(OP[op])
        if payload:
            self.b += payload
        return self

    def c(self, text):
        """Client sends a canned command."""
        return self.raw("C_CMD", bytes([cmd_index(text)]))

    def r(self, text):
        """Backend sends a canned reply."""
        return self.raw("B_REPLY", bytes([reply_index(text)]))

    def cs(self, data):
        return self.raw("C_SEND", data)

    def bs(self, data):
        return self.raw("B_SEND", data)

    def op(self, name, arg=None):
        return self.raw(name, bytes([arg]) if arg is not None else b"")

    def login(self):
        return (self.r("220 fake ready").c("USER anonymous").r("331 password please")
                .c("PASS secret").r("230 logged in"))


def seeds():
    s = {}
    s["login_quit"] = (Script().login().c("SYST").r("215 UNIX Type: L8")
                       .c("QUIT").r("221 goodbye"))
    s["epsv_retr"] = (Script().login().c("TYPE I").r("200 ok").c("EPSV").r("{229}")
                      .op("C_DCONNECT").c("RETR file").r("150 opening data connection")
                      .raw("B_DSEND", b"hello, file data\n" * 8).op("B_DSHUT")
                      .r("226 transfer complete").c("QUIT").r("221 goodbye"))
    s["pasv_fallback_list"] = (Script().login().c("PASV").r("500 unknown").r("{227}")
                               .op("C_DCONNECT").c("LIST").r("150 opening data connection")
                               .raw("B_DSEND", b"-rw-r--r-- 1 ftp ftp 5 Jan 1 file\r\n")
                               .op("B_DSHUT").r("226 transfer complete")
                               .c("PASV").r("{227}").op("C_DCONNECT").c("NLST")
                               .r("125 data connection already open")
                               .raw("B_DSEND", b"file\r\n").op("B_DSHUT").r("226 transfer complete"))
    s["port_stor"] = (Script().login().c("TYPE I").r("200 ok").c("{P}").r("{229}")
                      .c("STOR file").r("150 opening data connection")
                      .raw("C_DSEND", b"uploaded bytes " * 10).op("C_DSHUT")
                      .r("226 transfer complete").c("QUIT").r("221 goodbye"))
    s["eprt_retr_226_early"] = (Script().login().c("{E}").r("{229}").c("RETR file")
                                .r("150 opening data connection")
                                .raw("B_DSEND", b"x" * 200)
                                .r("226 transfer complete").op("B_DSHUT")
                                .c("NOOP").r("200 ok"))
    s["abor_mid_retr"] = (Script().login().c("EPSV").r("{229}").op("C_DCONNECT")
                          .c("RETR file").r("150 opening data connection")
                          .op("BULK", bulk("bdata", 4)).c("\xff\xf4\xff\xf2ABOR")
                          .r("426 transfer aborted").r("226 transfer complete")
                          .c("NOOP").r("200 ok"))
    s["feat_multiline"] = (Script(BANNER).r("220-welcome\r\n 220 text\r\n220 ready")
                           .c("FEAT").r("211-Features:\r\n EPSV\r\n EPRT\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n MDTM\r\n SIZE\r\n211 End")
                           .c("HELP").bs(b"214-The following commands are recognized.\r\n USER PASS\r\n214 Help OK.\r\n")
                           .c("AUTH TLS").c("PBSZ 0").c("LPSV").c("LPRT 4,4,127,0,0,11,2,4,1"))
    s["errors"] = (Script().r("220 fake ready").c("USER anonymous").r("331 password please")
                   .c("PASS secret").r("530 not logged in").c("EPSV").r("530 not logged in")
                   .c("RETR file").c("{T}").c("{L}").c("EPSV 2").cs(b"EPSV x\r\n")
                   .cs(b"RETR\x00x\r\nNOOP\rX\r\n" + b"A" * 200 + b"\r\n")
                   .c("USER anonymous").r("331 password please").c("PASS secret")
                   .r("230 logged in").c("EPSV").r("{229}").op("C_DCONNECT")
                   .c("RETR file").r("550 no file").c("SIZE file").r("550 no file"))
    s["v6_epsv_eprt"] = (Script(V6).login().c("PASV").c("EPSV 2").r("{229}").op("C_DCONNECT")
                         .c("MLSD").r("150 opening data connection")
                         .raw("B_DSEND", b"type=file;size=5; file\r\n").op("B_DSHUT")
                         .r("226 transfer complete").c("{E}").r("{229}").c("RETR file")
                         .r("150 opening data connection").raw("B_DSEND", b"data").op("B_DSHUT")
                         .r("226 transfer complete"))
    s["splice_bulk_download"] = (Script(SPLICE).login().c("EPSV").r("{229}").op("C_DCONNECT")
                                 .c("RETR file").r("150 opening data connection")
                                 .op("BULK", bulk("bdata", 8)).op("TIMER", TIMERS["flush"])
                                 .op("BULK", bulk("bdata", 8)).op("B_DSHUT")
                                 .r("226 transfer complete").c("QUIT").r("221 goodbye"))
    s["dead_server_small_bufs"] = (Script(DEAD | SMALL | DEBUG).r("220 fake ready").op("C_READ")
                                   .c("STAT").bs(b"211-" + b"s" * 200 + b"\r\n" + (b" " + b"l" * 250 + b"\r\n") * 20 + b"211 end\r\n")
                                   .c("STAT file").bs(b"213-status\r\n" + b" x\r\n" * 60 + b"213 end\r\n")
                                   .c("NOOP").r("200 ok").op("C_READ").c("NOOP").r("200 ok"))
    s["data_timeout"] = (Script().login().c("EPSV").r("{229}").op("C_DCONNECT").c("RETR file")
                         .r("150 opening data connection").op("TIMER", TIMERS["data"])
                         .r("226 transfer complete").c("NOOP").r("200 ok"))
    s["sigterm_mid_transfer"] = (Script().login().c("EPSV").r("{229}").op("C_DCONNECT")
                                 .c("RETR file").r("150 opening data connection")
                                 .raw("B_DSEND", b"partial").op("STOP"))
    s["thief_then_client"] = (Script().login().c("PASV").r("{229}").op("THIEF").op("C_DCONNECT")
                              .c("RETR file").r("150 opening data connection")
                              .raw("B_DSEND", b"abc").op("B_DSHUT").r("226 transfer complete"))
    s["pipelined"] = (Script().r("220 fake ready")
                      .cs(b"USER anonymous\r\nPASS secret\r\nTYPE I\r\nREST 100\r\nNOOP\r\nQUIT\r\n")
                      .r("331 password please").r("230 logged in").r("200 ok")
                      .r("350 pending").r("200 ok").r("221 goodbye"))
    s["backend_drops"] = (Script().login().c("EPSV").r("{229}").op("C_DCONNECT").c("RETR file")
                          .r("150 opening data connection").op("B_DRST").r("226 transfer complete")
                          .c("NOOP").op("B_RST"))
    # Telnet Synch: IAC IP IAC, then DM as TCP urgent data, then ABOR.
    s["urgent_abor"] = (Script().login().c("EPSV").r("{229}").op("C_DCONNECT").c("RETR file")
                        .r("150 opening data connection").raw("B_DSEND", b"some data")
                        .cs(b"\xff\xf4\xff").op("C_URGENT", 0xF2)
                        .cs(b"ABOR\r\n").r("426 transfer aborted").r("226 transfer complete"))
    s["blackhole_connect_timeout"] = (Script(BLACKHOLE | DEAD).op("TIMER", TIMERS["wait"])
                                      .r("220 fake ready").c("NOOP").r("200 ok"))
    s["dead_data_ports"] = (Script(PASVADDR).login().c("{D}").r("{229}").c("RETR file")
                            .r("150 opening data connection").r("226 transfer complete")
                            .c("EPSV").r("{D229}").op("C_DCONNECT").c("LIST")
                            .r("150 opening data connection").r("226 transfer complete")
                            .c("PASV").r("{229}").c("PASV").r("500 unknown").r("{D227}")
                            .c("EPRT |1|127.0.0.11|99999|").c("EPRT |3|x|1|")
                            .c("EPRT |1|127.0.0.13|2000|").c("PORT 1,2,3").c("EPSV 3"))
    # A 5 KiB command line; a 240 KiB STAT reply; then 3840 + 150
    # digit-led inner lines: within FG_MAX_REPLY_BYTES as sent, over it once
    # padded (RFC 959), so the session ends with 421.
    s["long_lines"] = (Script().r("220 fake ready").op("BULK", bulk("cctrl", 5)).cs(b"\r\nNOOP\r\n")
                       .r("200 ok").c("STAT").bs(b"211-status\r\n").op("BULK", bulk("bctrl", 15))
                       .bs(b"211 end\r\n").c("NOOP").r("200 ok")
                       .c("STAT").bs(b"211-status\r\n").op("BULK", bulk("bctrl", 15))
                       .bs((b"1" * 83 + b"\r\n") * 150).bs(b"211 end\r\n"))
    # Reproducers of what the fuzzer found (fixed in src/): each aborted
    # the harness before the fix.
    s["repro_227_to_epsv"] = (Script().login().c("EPSV").r("{227}").c("PASV").r("{H227}")
                              .c("NOOP").r("200 ok"))
    s["repro_227_out_of_turn"] = (Script().login().c("NOOP").r("{H227}").c("CWD /pub")
                                  .r("229 Entering Extended Passive Mode (|||0|)")
                                  .r("{229}").c("NOOP").r("200 ok"))
    s["repro_inner_227_line"] = (Script().login().c("STAT")
                                 .r("200-a\r\n227 Entering Passive Mode (10,0,0,5,4,1)\r\n200 end")
                                 .c("HELP").r("211-x\r\n1 digit-led inner line\r\n211-not the end\r\n211 end"))
    s["repro_iac_in_command"] = (Script().login().cs(b"SITE x\xff\xff\xf4y\r\n").r("200 ok")
                                 .c("EPSV").r("{229}").op("C_DCONNECT").c("RETR \xff\xff\xf4")
                                 .r("550 no file"))
    return s


def tls_seeds():
    """Seeds of fuzz_session_tls (a TLS listener; SMALL makes it required)."""
    hello = bytes.fromhex("160301002e0100002a0303") + b"\x00" * 32 + bytes.fromhex("0000020013")
    s = {}
    s["feat_auth"] = (Script().r("220 fake ready").c("FEAT")
                      .r("211-Features:\r\n EPSV\r\n EPRT\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n MDTM\r\n SIZE\r\n211 End")
                      .c("PBSZ 0").c("PROT P").c("AUTH TLS").cs(hello))
    s["required_gate"] = (Script(SMALL).r("220 fake ready").c("USER anonymous").c("PASV")
                          .c("SYST").r("215 UNIX Type: L8").c("AUTH TLS").cs(b"garbage\r\n"))
    s["auth_pipelined"] = (Script().r("220 fake ready")
                           .cs(b"AUTH TLS\r\nUSER anonymous\r\nPASS secret\r\n"))
    s["plain_session_then_auth"] = (Script().login().c("EPSV").r("{229}").op("C_DCONNECT")
                                    .c("RETR file").r("150 opening data connection")
                                    .raw("B_DSEND", b"data" * 10).op("B_DSHUT")
                                    .r("226 transfer complete").c("REIN").r("220 fake ready")
                                    .cs(b"CCC\r\nPROT C\r\nAUTH SSL\r\n").op("C_SHUT"))
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "fuzz_session")
    tls_out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "corpus", "fuzz_session_tls")
    for d, table in ((out, seeds()), (tls_out, tls_seeds())):
        os.makedirs(d, exist_ok=True)
        for name, script in table.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(bytes(script.b))


if __name__ == "__main__":
    main()
