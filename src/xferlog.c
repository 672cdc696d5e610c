/* xferlog.c - the xferlog transfer log (see xferlog.h). */
#include "xferlog.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "limits.h"
#include "log.h"
#include "banned.h"

/* Writes up to PIPE_BUF bytes on an O_APPEND file are never interleaved
 * with other writers' (src/limits.h hides <limits.h>, hence linux/). */
_Static_assert(FG_XFERLOG_LINE <= PIPE_BUF, "an xferlog line must fit in PIPE_BUF");

/* The descriptor every session inherits; -1: no transfer log. */
static int xfer_fd = -1;

/* See xferlog.h.  tzset() here, before any fork and chroot: the sessions
 * inherit the loaded time zone and write local time like the daemons
 * whose format this is, even where /etc/localtime is out of reach. */
int fg_xferlog_open(const char *path)
{
	int fd;

	if (!path || !*path)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -1;
	tzset();
	if (xfer_fd >= 0)
		close(xfer_fd);
	xfer_fd = fd;
	return 0;
}

/* See xferlog.h. */
void fg_xferlog_close(void)
{
	if (xfer_fd >= 0)
		close(xfer_fd);
	xfer_fd = -1;
}

/* See xferlog.h. */
bool fg_xferlog_enabled(void)
{
	return xfer_fd >= 0;
}

/* See xferlog.h. */
int fg_xferlog_fd(void)
{
	return xfer_fd;
}

/* Write in (len bytes) into out (room for cap bytes plus a NUL) as one
 * whitespace-free word (see xferlog.h).  Returns the length written. */
static size_t esc_word(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (cap < 8) {
		out[0] = '\0';
		return 0;
	}
	if (len == 0) {
		out[o++] = '-';
		out[o] = '\0';
		return o;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char tmp[4];
		size_t t = 0;

		if (c == ' ') {
			tmp[t++] = '_';
		} else if (c == '\\') {
			tmp[t++] = '\\';
			tmp[t++] = '\\';
		} else if (c <= 0x20 || c >= 0x7f) {
			tmp[t++] = '\\';
			tmp[t++] = 'x';
			tmp[t++] = hex[c >> 4];
			tmp[t++] = hex[c & 15];
		} else {
			tmp[t++] = (char)c;
		}
		/* Keep room for "..." if more is to come. */
		if (o + t + (i + 1 < len ? 3 : 0) > cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, tmp, t);
		o += t;
	}
	out[o] = '\0';
	return o;
}

/* See xferlog.h. */
int fg_xferlog_format(char *out, size_t outlen, const struct fg_xferlog_rec *r)
{
	char head[256], tail[600], user[520], when[64];
	const char *u = r->user ? r->user : "";
	uint64_t secs = (r->ms + 999) / 1000;
	struct tm tm;
	size_t room;
	int h, t;
	bool anon;

	if (outlen < FG_XFERLOG_LINE)
		return -1;
	if (secs == 0)
		secs = 1;
	if (!localtime_r(&r->when, &tm) || strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		(void)snprintf(when, sizeof(when), "Thu Jan  1 00:00:00 1970");
	anon = strcasecmp(u, "anonymous") == 0 || strcasecmp(u, "ftp") == 0;
	esc_word(user, 512, u, strlen(u));
	h = snprintf(head, sizeof(head), "%s %llu %s %llu ", when, (unsigned long long)secs,
		     r->host && *r->host ? r->host : "-", (unsigned long long)r->bytes);
	t = snprintf(tail, sizeof(tail), " %c _ %c %c %s ftp 0 * %c\n", r->binary ? 'b' : 'a',
		     r->incoming ? 'i' : 'o', anon ? 'a' : 'r', user, r->complete ? 'c' : 'i');
	if (h < 0 || (size_t)h >= sizeof(head) || t < 0 || (size_t)t >= sizeof(tail))
		return -1;
	/* The file name gets what is left of one PIPE_BUF-sized line. */
	room = FG_XFERLOG_LINE - 1 - (size_t)h - (size_t)t;
	memcpy(out, head, (size_t)h);
	room = esc_word(out + h, room, r->path, r->path ? r->path_len : 0);
	memcpy(out + h + room, tail, (size_t)t + 1);
	return h + (int)room + t;
}

/* See xferlog.h. */
void fg_xferlog_write(const struct fg_xferlog_rec *r)
{
	char line[FG_XFERLOG_LINE];
	int n;
	ssize_t w;

	if (xfer_fd < 0)
		return;
	n = fg_xferlog_format(line, sizeof(line), r);
	if (n < 0)
		return;
	w = write(xfer_fd, line, (size_t)n);
	if (w != n)
		fg_log(LOG_WARNING, "xferlog: write: %s", w < 0 ? strerror(errno) : "short write");
}
