/* log.c - syslog, stderr and the audit trail (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "banned.h"

static bool log_stderr;
static bool log_debug;
static char log_sid[32];
static const char *log_ident = "ftpgate";

void fg_log_open(const char *ident, int facility, bool to_stderr, bool debug)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_debug = debug;
	/* LOG_NDELAY: connect now, so that the socket is inherited by session
	 * processes and keeps working after they chroot. */
	openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

void fg_log_set_session(const char *sid)
{
	if (!sid)
		log_sid[0] = '\0';
	else
		(void)snprintf(log_sid, sizeof(log_sid), "%s", sid);
}

const char *fg_log_session(void)
{
	return log_sid;
}

bool fg_log_debug_enabled(void)
{
	return log_debug;
}

/* Write one finished line to syslog and (maybe) stderr. */
static void emit(int prio, const char *line)
{
	syslog(prio, "%s", line);
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%d]: %s\n", when, ts.tv_nsec / 1000000L,
			log_ident, (int)getpid(), line);
	}
}

/* Format prefix + fmt into one line and emit it. */
static void vlog(int prio, const char *prefix, const char *fmt, va_list ap)
{
	char line[2048];
	int n = 0, r;

	if (prio == LOG_DEBUG && !log_debug)
		return;
	if (log_sid[0]) {
		n = snprintf(line, sizeof(line), "session=%s %s", log_sid, prefix);
	} else {
		n = snprintf(line, sizeof(line), "%s", prefix);
	}
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	r = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (r < 0)
		line[n] = '\0';
	/* A longer line is truncated by vsnprintf, which is what we want. */
	emit(prio, line);
}

void fg_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, "", fmt, ap);
	va_end(ap);
}

void fg_audit(const char *event, const char *fmt, ...)
{
	char prefix[64];
	va_list ap;

	(void)snprintf(prefix, sizeof(prefix), "event=%s ", event);
	va_start(ap, fmt);
	vlog(LOG_INFO, prefix, fmt, ap);
	va_end(ap);
}

char *fg_log_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outlen < 8) {
		if (outlen)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		char tmp[4];
		size_t k, t = 0;

		if (c == '"' || c == '\\') {
			tmp[t++] = '\\';
			tmp[t++] = (char)c;
		} else if (c < 0x20 || c > 0x7e) {
			tmp[t++] = '\\';
			tmp[t++] = 'x';
			tmp[t++] = hex[c >> 4];
			tmp[t++] = hex[c & 15];
		} else {
			tmp[t++] = (char)c;
		}
		/* Keep room for '...', the closing quote and the NUL. */
		if (o + t + 5 > outlen) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		for (k = 0; k < t; k++)
			out[o++] = tmp[k];
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
