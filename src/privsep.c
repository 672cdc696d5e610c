/* privsep.c - chroot, privilege drop, no_new_privs, seccomp (see privsep.h
 * and doc/SECURITY.md). */
#include "privsep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "seccomp.h"
#include "banned.h"

static bool dropped;    /* fg_privs_drop() ran in this process */
static bool sandboxed;  /* ... and installed the seccomp filter */

/* See privsep.h. */
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

/* Create dir and every missing parent, each with mode 0755 whatever the
 * umask (root owns them: we run as root).  Returns 0 or -1 (errno). */
static int make_dirs(const char *dir)
{
	char path[FG_MAX_PATH];
	size_t i, len = strlen(dir);

	if (len >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		char c = path[i];

		if (c != '/' && c != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0755) == 0) {
			if (chmod(path, 0755) < 0)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
		path[i] = c;
	}
	return 0;
}

/* The chroot directory must give a session nothing: a directory owned by
 * root that only root may write, with no entry at all (no device node, no
 * socket, no binary, no /etc).  Returns 0, or -1 with a message on err. */
static int check_empty_dir(const char *dir, FILE *err)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(err, "ftpgate: chroot_dir %s: %s\n", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		fprintf(err, "ftpgate: chroot_dir %s: must be owned by root and writable by root only "
			"(owner uid %u, mode %04o)\n", dir, (unsigned)st.st_uid,
			(unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	d = fdopendir(fd);
	if (!d) {
		fprintf(err, "ftpgate: chroot_dir %s: %s\n", dir, strerror(errno));
		close(fd);
		return -1;
	}
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		fprintf(err, "ftpgate: chroot_dir %s: must be empty, but holds '%s'\n", dir,
			e->d_name);
		closedir(d);
		return -1;
	}
	if (errno) {
		fprintf(err, "ftpgate: chroot_dir %s: %s\n", dir, strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

/* See privsep.h. */
int fg_privs_sandbox(struct fg_privs *p, bool on, const char *chroot_dir, FILE *err)
{
	p->sandbox = on;
	p->chroot = false;
	p->chroot_dir[0] = '\0';
	if (!on)
		return 0;
	if (!fg_seccomp_supported()) {
		fprintf(err, "ftpgate: sandbox = on: no seccomp filter for this architecture "
			"(set sandbox = off)\n");
		return -1;
	}
	/* Without root there is no chroot(); seccomp still applies. */
	if (geteuid() != 0)
		return 0;
	if (strlen(chroot_dir) >= sizeof(p->chroot_dir) || chroot_dir[0] != '/') {
		fprintf(err, "ftpgate: chroot_dir must be an absolute path\n");
		return -1;
	}
	if (make_dirs(chroot_dir) < 0) {
		fprintf(err, "ftpgate: cannot create chroot_dir %s: %s\n", chroot_dir, strerror(errno));
		return -1;
	}
	if (check_empty_dir(chroot_dir, err) < 0)
		return -1;
	(void)snprintf(p->chroot_dir, sizeof(p->chroot_dir), "%s", chroot_dir);
	p->chroot = true;
	return 0;
}

/* See privsep.h. */
void fg_privs_log_mode(const struct fg_privs *p)
{
	if (!p->sandbox)
		fg_log(LOG_WARNING, "sandbox = off: session processes are not chrooted and have no "
		       "seccomp filter (privilege drop and no_new_privs only)");
	else if (!p->chroot)
		fg_log(LOG_NOTICE, "not started as root: session processes cannot chroot; they get "
		       "the seccomp filter and no_new_privs only");
	else
		fg_log(LOG_INFO, "session processes: user %s, chroot %s, seccomp filter", p->user,
		       p->chroot_dir);
}

/* See privsep.h. */
int fg_privs_drop(const struct fg_privs *p)
{
	if (dropped) {
		fg_log(LOG_ERR, "bug: privileges dropped twice in one process");
		return -1;
	}
	dropped = true;
	/* localtime() (stderr log lines, syslog's time stamp) needs the zone
	 * file; after chroot it is gone, so load it now. */
	tzset();
	/* chroot() needs root: before the drop.  chdir("/") so that no
	 * directory outside stays reachable through the working directory. */
	if (p->chroot && (chroot(p->chroot_dir) < 0 || chdir("/") < 0)) {
		fg_log(LOG_ERR, "cannot chroot to %s: %s", p->chroot_dir, strerror(errno));
		return -1;
	}
	if (p->drop) {
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
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fg_log(LOG_ERR, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (p->sandbox) {
		if (fg_seccomp_install() < 0) {
			fg_log(LOG_ERR, "cannot install the seccomp filter: %s", strerror(errno));
			return -1;
		}
		sandboxed = true;
	}
	return 0;
}

/* See privsep.h. */
bool fg_privs_sandboxed(void)
{
	return sandboxed;
}
