/* privsep.h - locking a session process down, once, before any client byte
 * is read: chroot, privilege drop, no_new_privs, seccomp. */
#ifndef FG_PRIVSEP_H
#define FG_PRIVSEP_H
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "limits.h"

struct fg_privs {
	bool drop;     /* false when not started as root: nothing to drop */
	uid_t uid;
	gid_t gid;
	char user[64];
	bool sandbox;  /* sandbox = on: install the seccomp filter */
	bool chroot;   /* sandbox = on and started as root: chroot first */
	char chroot_dir[FG_MAX_PATH];
};

/* Look `user` up (in the master, while /etc/passwd is reachable).  When
 * not running as root, drop is false and the user is not needed.  The
 * sandbox is off until fg_privs_sandbox() turns it on.
 * Returns 0, or -1 with a message on err. */
int fg_privs_lookup(const char *user, struct fg_privs *out, FILE *err);

/* In the master, at start: decide how session processes are locked down
 * (sandbox = on|off, chroot_dir).  With on and root, chroot_dir is created
 * (mode 0755, owned by root, parents too) if it is missing; a directory
 * that is not owned by root, is writable by group or others, or is not
 * empty is refused.  Not root: no chroot (seccomp and no_new_privs only).
 * Returns 0, or -1 with a message on err. */
int fg_privs_sandbox(struct fg_privs *p, bool on, const char *chroot_dir, FILE *err);

/* Log, once per start, how session processes will be locked down. */
void fg_privs_log_mode(const struct fg_privs *p);

/* In a session process, once: tzset (while /etc/localtime is reachable),
 * chroot to chroot_dir, setgroups, setresgid, setresuid to the looked-up
 * account (verified by trying to regain root), no_new_privs,
 * non-dumpable, then the seccomp filter (seccomp.h).  Returns 0, or -1
 * after logging why (the caller must exit); a second call fails. */
int fg_privs_drop(const struct fg_privs *p);

/* True in a process whose seccomp filter is installed. */
bool fg_privs_sandboxed(void);

#endif
