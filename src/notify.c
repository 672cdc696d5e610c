/* notify.c - sd_notify(3) without libsystemd (see notify.h).
 *
 * The protocol is one AF_UNIX datagram per message, the payload a list of
 * "VAR=VALUE" lines; the socket is a file system path or, with a leading
 * '@', a name in the abstract namespace.  A fresh socket per message (as
 * libsystemd does) keeps no descriptor around for session processes to
 * inherit; messages are rare (at most about one a second). */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "log.h"
#include "banned.h"

/* Longest message we send (STATUS= lines are short). */
#define NOTIFY_MAX_MSG 1024

static struct {
	struct sockaddr_un sun;
	socklen_t len;           /* 0: notification off */
	bool warned;             /* a failed send was logged already */
} N;

/* See notify.h. */
bool fg_notify_init(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	memset(&N, 0, sizeof(N));
	if (!e || !*e)
		goto out;
	n = strlen(e);
	/* Only what sd_notify() itself accepts: an absolute path or an
	 * abstract name; anything else (e.g. "vsock:") would be a guess. */
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(N.sun.sun_path) || n < 2) {
		fg_log(LOG_WARNING, "NOTIFY_SOCKET: unsupported address (want /PATH or @NAME); "
		       "not notifying the service manager");
		goto out;
	}
	N.sun.sun_family = AF_UNIX;
	memcpy(N.sun.sun_path, e, n);
	if (e[0] == '@')
		N.sun.sun_path[0] = '\0'; /* abstract: the name is not NUL-terminated */
	N.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/'));
out:
	unsetenv("NOTIFY_SOCKET");
	return N.len != 0;
}

/* See notify.h. */
bool fg_notify_enabled(void)
{
	return N.len != 0;
}

/* See notify.h. */
void fg_notify_forget(void)
{
	memset(&N, 0, sizeof(N));
}

/* See notify.h. */
int fg_notify(const char *fmt, ...)
{
	char msg[NOTIFY_MAX_MSG];
	va_list ap;
	ssize_t r;
	int n, fd, e;

	if (!N.len)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1; /* a cut assignment would say something we did not mean */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	/* Non-blocking: a service manager that does not read its socket must
	 * not stall the master's loop. */
	r = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&N.sun, N.len);
	e = errno;
	close(fd);
	if (r == (ssize_t)n) {
		N.warned = false;
		return 0;
	}
fail:
	if (!N.warned)
		fg_log(LOG_WARNING, "cannot notify the service manager (NOTIFY_SOCKET): %s",
		       strerror(e));
	N.warned = true;
	return -1;
}
