"""The lockdown of session processes (sandbox = on|off, chroot_dir): what
/proc shows of a live session process, and that sessions still move data
under the seccomp filter (both relays, passive and active, up and down)."""
import ftplib
import io
import os
import stat

from itest import (MiB, Failure, Target, check, curl_mode, curl_ok, file_sha256, free_port,
                   ftp_close, ftp_session, idle_children, nobody_ids, proc_children, proc_ids,
                   register, retr, run, sent, session_pid, sha256, spawn, stop_pids, stop_proc,
                   tail, wait_for, wait_port)

DEFAULT_CHROOT = "/run/ftpgate/empty"


def proc_status(pid):
    """/proc/PID/status as {field: value}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def check_lockdown(pid, master_pid, chroot, sandbox=True):
    """pid runs as nobody with no_new_privs; with sandbox, under one seccomp
    filter more than the master and chrooted to chroot; without, exactly as
    the master is (normally "Seccomp: 0") and not chrooted."""
    st, mst = proc_status(pid), proc_status(master_pid)
    what = "session process %d" % pid
    check(st["NoNewPrivs"] == "1", "%s: NoNewPrivs: %s" % (what, st["NoNewPrivs"]))
    root = os.readlink("/proc/%d/root" % pid)
    if sandbox:
        check(st["Seccomp"] == "2", "%s: Seccomp: %s, want 2 (filter)" % (what, st["Seccomp"]))
        if "Seccomp_filters" in st:
            check(int(st["Seccomp_filters"]) == int(mst["Seccomp_filters"]) + 1,
                  "%s: %s seccomp filter(s), the master %s" % (what, st["Seccomp_filters"],
                                                               mst["Seccomp_filters"]))
        check(root == os.path.realpath(chroot), "%s: root is %s, not %s" % (what, root, chroot))
    else:
        check(st["Seccomp"] == mst["Seccomp"],
              "%s: Seccomp: %s with sandbox = off (the master: %s)" % (what, st["Seccomp"], mst["Seccomp"]))
        check(st.get("Seccomp_filters") == mst.get("Seccomp_filters"),
              "%s: a seccomp filter with sandbox = off" % what)
        check(root == "/", "%s: root is %s with sandbox = off" % (what, root))
    uid, gid = nobody_ids()
    check(proc_ids(pid) == [uid] * 4, "%s: uids %r, not nobody" % (what, proc_ids(pid)))
    check(proc_ids(pid, "Gid") == [gid] * 4, "%s: gids %r, not nobody's group" % (what, proc_ids(pid, "Gid")))
    check(st["Groups"] == str(gid), "%s: supplementary groups %r" % (what, st["Groups"]))


def ftplib_roundtrips(env, f, tag, size):
    """On one live session: STOR and RETR over PASV, then over PORT."""
    for passive, verb in ((True, "PASV"), (False, "PORT")):
        f.set_pasv(passive)
        data = os.urandom(size)
        name = "pub/%s.%s" % (env.unique(tag), verb.lower())
        try:
            f.storbinary("STOR " + name, io.BytesIO(data))
            got = retr(f, name)
        except (ftplib.Error, OSError, EOFError) as e:
            raise Failure("%s: transfer over %s failed: %s: %s" % (tag, verb, type(e).__name__, e))
        check(got == data, "%s: %s download differs from the upload" % (tag, verb))


def curl_roundtrips(env, t, tag, size):
    """New sessions: upload and download with curl over PASV and PORT, hashes
    checked on the client and on the backend's disk."""
    for mode in ("pasv", "port"):
        extra, verb = curl_mode(t, mode)
        name = env.unique("%s-%s" % (tag, mode)) + ".bin"
        data = os.urandom(size)
        src = env.write_local(name, data)
        out = src + ".got"
        _, err = curl_ok(extra + ["-T", src, t.url("pub/" + name)])
        check(sent(err, verb), "%s: upload did not use %s" % (tag, verb))
        with open(os.path.join(t.backend.pub_dir, name), "rb") as f:
            check(sha256(f.read()) == sha256(data), "%s: %s upload differs on the backend" % (tag, mode))
        _, err = curl_ok(extra + ["-o", out, t.url("pub/" + name)])
        check(sent(err, verb), "%s: download did not use %s" % (tag, verb))
        check(file_sha256(out) == sha256(data), "%s: %s download differs" % (tag, mode))
        os.unlink(out)
        os.unlink(src)


def live_session(env, proxy, bname, chroot, sandbox, tag):
    """Lockdown of the idle pool and of a live session process, then
    transfers on that very session and on new ones."""
    t = env.target(bname, proxy=proxy)
    master = proxy.proc.pid
    # Pre-forked processes are locked down before any client exists.
    def an_idle_one():
        for pid in idle_children(proxy):
            try:
                check_lockdown(pid, master, chroot, sandbox)
                return pid
            except (FileNotFoundError, ProcessLookupError):
                continue  # a session that just ended (proxy.start() probes) looks idle briefly
        return None
    wait_for("no idle session process", an_idle_one)
    f = ftp_session(t, timeout=30)
    try:
        pid = session_pid(proxy, f.sock.getsockname()[1])
        check_lockdown(pid, master, chroot, sandbox)
        ftplib_roundtrips(env, f, tag, 2 * MiB + 11)
        check(f.sendcmd("NOOP").startswith("200"), "NOOP after the transfers failed")
        check_lockdown(pid, master, chroot, sandbox)
    finally:
        ftp_close(f)
    curl_roundtrips(env, t, tag, 3 * MiB + 5)
    text = proxy.log_text()
    if sandbox:
        check(os.listdir(chroot) == [], "the chroot directory is no longer empty: %r" % os.listdir(chroot))
        check("chroot %s, seccomp filter" % chroot in text, "no lockdown line in the log: %s" % tail(text, 3))
    else:
        check("sandbox = off" in text, "no 'sandbox = off' warning in the log")


def sandbox_on(env, relay):
    base = os.path.join(env.tmp, "chroot-" + relay)
    chroot = os.path.join(base, "empty")  # missing: the master creates it
    proxy = env.make_proxy("sandbox-" + relay, {"chroot_dir": chroot, "data_relay": relay},
                           names=("vs",))
    proxy.start()
    try:
        st = os.stat(chroot)
        check(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 0,
              "chroot_dir created with mode %o, uid %d" % (stat.S_IMODE(st.st_mode), st.st_uid))
        live_session(env, proxy, "vs", chroot, True, "sbx-" + relay)
    finally:
        proxy.stop()


for _relay in ("copy", "splice"):
    register("sandbox_on_%s" % _relay, lambda env, r=_relay: sandbox_on(env, r), proxy_only=True)


def sandbox_off(env):
    chroot = os.path.join(env.tmp, "chroot-off")  # never created: unused
    proxy = env.make_proxy("sandbox-off", {"sandbox": "off", "chroot_dir": chroot}, names=("py",))
    proxy.start()
    try:
        live_session(env, proxy, "py", chroot, False, "sbx-off")
        check(not os.path.exists(chroot), "sandbox = off created chroot_dir")
    finally:
        proxy.stop()


register("sandbox_off", sandbox_off, proxy_only=True)


def sandbox_default_dir(env):
    """The harness's main proxy sets no chroot_dir: sessions are in the default."""
    proxy = env.proxy
    f = ftp_session(env.target("vs", proxy=proxy), timeout=10)
    try:
        pid = session_pid(proxy, f.sock.getsockname()[1])
        check_lockdown(pid, proxy.proc.pid, DEFAULT_CHROOT, True)
    finally:
        ftp_close(f)


register("sandbox_default_chroot_dir", sandbox_default_dir, proxy_only=True)


def sandbox_inetd(env):
    """ftpgate -i locks itself down the same way before serving."""
    chroot = os.path.join(env.tmp, "chroot-inetd")
    proxy = env.make_proxy("sandbox-inetd", {"chroot_dir": chroot}, names=("vs",))
    proxy.write_conf()
    port = free_port()
    log = os.path.join(proxy.dir, "socat.log")
    sc = spawn(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port,
                "EXEC:%s -i -n -f %s,nofork" % (env.ftpgate, proxy.conf_path)], log)
    try:
        wait_port("127.0.0.1", port, 10, sc, log)
        t = Target("127.0.0.1", port, env.backends["vs"], "sandbox-inetd")
        f = ftp_session(t, timeout=30)
        try:
            # wait_port()'s probe connection had its own ftpgate -i: let it end.
            kids = wait_for("not exactly one ftpgate -i process under socat: %r" % proc_children(sc.pid),
                            lambda: (lambda k: k if len(k) == 1 else None)(proc_children(sc.pid)))
            check_lockdown(kids[0], sc.pid, chroot, True)
            ftplib_roundtrips(env, f, "sbx-inetd", MiB + 3)
        finally:
            ftp_close(f)
        wait_for("ftpgate -i still running after QUIT", lambda: not proc_children(sc.pid))
    finally:
        kids = proc_children(sc.pid)
        stop_proc(sc)
        stop_pids(kids)


register("sandbox_inetd", sandbox_inetd, proxy_only=True)


def sandbox_bad_chroot_dir(env):
    """A chroot_dir that is not empty, or writable by others, stops the start."""
    base = os.path.join(env.tmp, "chroot-bad")
    full = os.path.join(base, "full")
    loose = os.path.join(base, "loose")
    for d in (full, loose):
        os.makedirs(d)
    os.chmod(full, 0o755)
    with open(os.path.join(full, "passwd"), "w") as f:
        f.write("planted\n")
    os.chmod(loose, 0o777)
    for d, want in ((full, "must be empty"), (loose, "writable by root only")):
        proxy = env.make_proxy("sandbox-bad-" + os.path.basename(d), {"chroot_dir": d}, names=("vs",))
        proxy.write_conf()
        rc, out, err = run([env.ftpgate, "-n", "-f", proxy.conf_path], timeout=10)
        check(rc == 1, "chroot_dir %s: ftpgate exited %d, not 1" % (d, rc))
        check(want in err, "chroot_dir %s: stderr lacks %r: %s" % (d, want, tail(err, 3)))


register("sandbox_bad_chroot_dir", sandbox_bad_chroot_dir, proxy_only=True)


def sandbox_not_root(env):
    """Started as another user than root there is no chroot(): a notice, and
    sessions still get no_new_privs and the seccomp filter."""
    proxy = env.make_proxy("sandbox-user", {"chroot_dir": os.path.join(env.tmp, "chroot-user")},
                           names=("vs",))
    proxy.write_conf()
    uid, gid = nobody_ids()
    proxy.proc = spawn(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                        env.ftpgate, "-n", "-f", proxy.conf_path], proxy.log_path)
    try:
        wait_port("127.0.0.1", proxy.ports["vs"], 10, proxy.proc, proxy.log_path)
        check("not started as root: session processes cannot chroot" in proxy.log_text(),
              "no notice about the missing chroot: %s" % tail(proxy.log_text(), 3))
        t = env.target("vs", proxy=proxy)
        f = ftp_session(t, timeout=30)
        try:
            pid = session_pid(proxy, f.sock.getsockname()[1])
            st = proc_status(pid)
            check(st["Seccomp"] == "2" and st["NoNewPrivs"] == "1",
                  "session process %d: Seccomp: %s, NoNewPrivs: %s" % (pid, st["Seccomp"], st["NoNewPrivs"]))
            check(os.readlink("/proc/%d/root" % pid) == "/", "a non-root start chrooted")
            ftplib_roundtrips(env, f, "sbx-user", MiB + 1)
        finally:
            ftp_close(f)
    finally:
        proxy.stop()


register("sandbox_not_root", sandbox_not_root, proxy_only=True)
