/* xferlog.h - the transfer log in the xferlog format of wu-ftpd, ProFTPD
 * and vsftpd, for the tools that read it.
 *
 * Session processes cannot open files (they are chrooted and sandboxed),
 * so the file is opened once at startup, before any session process is
 * forked, and every session inherits the descriptor.  Each transfer is one
 * line written with one write(2) on an O_APPEND descriptor: lines of
 * concurrent sessions never interleave, because a line is at most
 * FG_XFERLOG_LINE (PIPE_BUF) bytes. */
#ifndef FG_XFERLOG_H
#define FG_XFERLOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One finished (or cut) file transfer. */
struct fg_xferlog_rec {
	time_t when;             /* end of the transfer (wall clock) */
	uint64_t ms;             /* duration in milliseconds */
	const char *host;        /* client address, without port */
	uint64_t bytes;          /* bytes moved on the data connection */
	const char *path;        /* the argument as the client sent it (not NUL-terminated) */
	size_t path_len;
	bool binary;             /* TYPE I (or L 8) was in force; else ASCII */
	bool incoming;           /* upload (STOR, STOU, APPE); else download (RETR) */
	const char *user;        /* the USER name (never a password) */
	bool complete;           /* the client got a 2xx final reply */
};

/* Open path for appending (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
 * mode 0640) in the process that will fork the sessions; an empty path
 * means no transfer log.  When a log was open already the new one
 * replaces it (so a reload may call this again).  Returns 0, or -1 with
 * errno (the previous log, if any, stays). */
int fg_xferlog_open(const char *path);

/* Is a transfer log open? */
/* Stop writing the transfer log (a reload removed xferlog). */
void fg_xferlog_close(void);

bool fg_xferlog_enabled(void);

/* The open descriptor, or -1: one that a session process must keep (and
 * may write(2) to) after it is sandboxed. */
int fg_xferlog_fd(void);

/* Format one line (ending in '\n') into out: current-time (local,
 * "Www Mmm dd hh:mm:ss yyyy"), transfer-time (whole seconds, rounded up,
 * at least 1), remote-host, file-size, filename, transfer-type (a/b),
 * special-action-flag (_), direction (o/i), access-mode (a for the user
 * names anonymous and ftp, else r), username, service-name (ftp),
 * authentication-method (0), authenticated-user-id (*), completion-status
 * (c/i).  In filename and username a space becomes '_', a backslash "\\"
 * and any other byte outside printable ASCII "\xNN", so that every field
 * stays one word; an empty one is written "-", and one too long for the
 * line is cut and ends in "...".  Returns the line length, or -1 when
 * outlen is smaller than FG_XFERLOG_LINE. */
int fg_xferlog_format(char *out, size_t outlen, const struct fg_xferlog_rec *r);

/* Append the line of r to the transfer log, if one is open, with one
 * write(2).  Failures are logged and otherwise ignored. */
void fg_xferlog_write(const struct fg_xferlog_rec *r);

#endif
