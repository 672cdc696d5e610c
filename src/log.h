/* log.h - syslog, stderr and the audit trail.
 *
 * Untrusted text never reaches a format string: it is passed as an argument
 * and escaped with fg_log_escape().  Passwords are never logged. */
#ifndef FG_LOG_H
#define FG_LOG_H
#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/* Open syslog on facility (LOG_DAEMON, LOG_LOCAL0, ...) with LOG_NDELAY,
 * so the socket is inherited by session processes and survives chroot,
 * and decide whether lines are copied to stderr.  debug enables LOG_DEBUG
 * lines. */
void fg_log_open(const char *ident, int facility, bool to_stderr, bool debug);

/* Prefix every later line with "session=ID " (NULL clears it). */
void fg_log_set_session(const char *sid);
const char *fg_log_session(void);

/* One log line at priority prio (LOG_ERR .. LOG_DEBUG). */
void fg_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One audit event line: "session=ID event=EVENT " followed by fmt, which
 * must be key=value pairs.  Logged at LOG_INFO. */
void fg_audit(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Escape untrusted bytes for a log line: the result is wrapped in double
 * quotes, '"' and '\\' are backslash-escaped and bytes outside 0x20..0x7e
 * become \xNN.  Always NUL-terminates (if outlen > 0); truncates with
 * "..." inside the quotes.  Returns out. */
char *fg_log_escape(char *out, size_t outlen, const char *in, size_t inlen);

bool fg_log_debug_enabled(void);

#endif
