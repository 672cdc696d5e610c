/* privsep.h - dropping privileges, once, before any client byte is read. */
#ifndef FG_PRIVSEP_H
#define FG_PRIVSEP_H
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

struct fg_privs {
	bool drop;     /* false when not started as root: nothing to drop */
	uid_t uid;
	gid_t gid;
	char user[64];
};

/* Look `user` up (in the master, while /etc/passwd is reachable).  When
 * not running as root, drop is false and the user is not needed.
 * Returns 0, or -1 with a message on err. */
int fg_privs_lookup(const char *user, struct fg_privs *out, FILE *err);

/* In a session process: setgroups, setresgid, setresuid to the looked-up
 * account, then no_new_privs and non-dumpable; verifies that root cannot
 * be regained.  Returns 0, or -1 (the caller must exit). */
int fg_privs_drop(const struct fg_privs *p);

#endif
