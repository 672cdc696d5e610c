/* privsep.c - privilege drop (see privsep.h). */
#include "privsep.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "log.h"
#include "banned.h"

int fg_privs_lookup(const char *user, struct fg_privs *out, FILE *err)
{
	struct passwd *pw;

	memset(out, 0, sizeof(*out));
	(void)snprintf(out->user, sizeof(out->user), "%s", user);
	if (geteuid() != 0)
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		fprintf(err, "ftpgate: user '%s' (config key 'user') does not exist%s%s\n", user,
			errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	if (pw->pw_uid == 0) {
		fprintf(err, "ftpgate: refusing to run sessions as root (user = %s)\n", user);
		return -1;
	}
	out->drop = true;
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	return 0;
}

int fg_privs_drop(const struct fg_privs *p)
{
	if (!p->drop)
		goto lock;
	if (setgroups(1, &p->gid) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0) {
		fg_log(LOG_ERR, "cannot drop privileges to %s: %s", p->user, strerror(errno));
		return -1;
	}
	/* Belt and braces: make sure root is really gone. */
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0) {
		fg_log(LOG_ERR, "privileges could be regained after dropping them; refusing to serve");
		return -1;
	}
lock:
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fg_log(LOG_ERR, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}
