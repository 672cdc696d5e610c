"""Both data relays: data_relay = splice (the default copy relay is what
every other test uses)."""
import os

from itest import MiB, check, curl_mode, curl_ok, file_sha256, register, sent


def splice_relay(env, bname):
    proxy = env.make_proxy("splice-" + bname, {"data_relay": "splice"}, names=(bname,))
    proxy.start()
    try:
        t = env.target(bname, proxy=proxy)
        size = 48 * MiB + 12345
        name = env.unique("splice-" + bname) + ".bin"
        src, digest = env.make_big_file(name, size)
        out = src + ".got"
        for mode in ("epsv", "port"):
            extra, verb = curl_mode(t, mode)
            _, err = curl_ok(extra + ["-T", src, t.url("pub/%s.%s" % (name, mode))], timeout=120)
            check(sent(err, verb), "upload did not use %s" % verb)
            curl_ok(extra + ["-o", out, t.url("pub/%s.%s" % (name, mode))], timeout=120)
            check(os.path.getsize(out) == size, "%s: downloaded %d bytes, not %d"
                  % (mode, os.path.getsize(out), size))
            check(file_sha256(out) == digest, "%s: download through the splice relay differs" % mode)
        text = proxy.log_text()
        lines = [l for l in text.splitlines() if "event=transfer" in l and "bytes=%d " % size in l]
        check(len(lines) == 4, "want 4 transfer lines of %d bytes, got %d" % (size, len(lines)))
        check(all("relay=splice" in l for l in lines), "a transfer did not use the splice relay: %s"
              % [l for l in lines if "relay=splice" not in l][:1])
        os.unlink(out)
        os.unlink(src)
    finally:
        proxy.stop()


for _b in ("vs", "py"):
    register("splice_relay_%s" % _b, lambda env, b=_b: splice_relay(env, b), proxy_only=True)
