/* notify.h - the service manager's readiness protocol (sd_notify(3)),
 * spoken without libsystemd.
 *
 * When ftpgate runs as a Type=notify service, systemd passes the address
 * of a datagram socket in NOTIFY_SOCKET ("/path" or "@abstract").  The
 * master tells it READY=1 once it serves, RELOADING=1 / READY=1 around a
 * SIGHUP, STOPPING=1 at SIGTERM, and a STATUS= line for `systemctl
 * status`.  Without NOTIFY_SOCKET every call here does nothing. */
#ifndef FG_NOTIFY_H
#define FG_NOTIFY_H
#include <stdbool.h>

/* Take the address from NOTIFY_SOCKET and remove the variable from the
 * environment, so that no session process (nor anything it might run)
 * inherits it.  Call once, in the master, before the first fork.  An
 * unusable address is logged and notification stays off.  Returns true
 * when notification is on. */
bool fg_notify_init(void);

/* True when NOTIFY_SOCKET named a usable address. */
bool fg_notify_enabled(void);

/* Send one datagram of newline-separated VAR=VALUE assignments, e.g.
 * "READY=1\nSTATUS=serving".  Never blocks; a lost datagram is logged
 * once and otherwise ignored (the service manager is not ours to wait
 * for).  Returns 0, or -1 when nothing was sent. */
int fg_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In a session process: forget the address, so that code running there
 * cannot speak for the master. */
void fg_notify_forget(void);

#endif
