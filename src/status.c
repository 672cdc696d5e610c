/* status.c - the status dump: SIGUSR1 log lines and the status socket
 * (see status.h). */
#include "status.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "admit.h"
#include "buf.h"
#include "log.h"
#include "scoreboard.h"
#include "banned.h"

struct client {
	struct fg_io io;
	struct fg_buf out;
	struct fg_timer t;
	bool used;
};

static struct {
	const struct fg_config *const *cfgp;
	struct fg_loop *loop;
	struct fg_io lio;
	bool created;            /* we made the socket file (and remove it) */
	pid_t owner;             /* the master, the only one that removes it */
	dev_t dev;
	ino_t ino;
	char path[FG_MAX_PATH];
	struct client c[FG_STATUS_CLIENTS];
} S = {.lio = {.fd = -1}};

/* ---- one pass over the sessions ------------------------------------------------ */

typedef void (*row_fn)(void *arg, const struct fg_sb_rec *r, const struct fg_sb_slot *sl,
		       uint64_t now);

/* Call fn for every process that serves a client; count them and the idle
 * ones. */
static void each_session(row_fn fn, void *arg, uint64_t now, unsigned *busy, unsigned *idle)
{
	unsigned i, n = fg_sb_size();
	struct fg_sb_slot sl;

	*busy = *idle = 0;
	for (i = 0; i < n; i++) {
		const struct fg_sb_rec *r = fg_sb_rec((int)i);

		if (!r->pid)
			continue;
		if (!r->busy) {
			(*idle)++;
			continue;
		}
		(*busy)++;
		if (fn) {
			fg_sb_read((int)i, &sl);
			fn(arg, r, &sl, now);
		}
	}
}

/* A field for display: "-" when the session has not set it yet. */
static const char *or_dash(const char *s)
{
	return s[0] ? s : "-";
}

/* 42s, 5m03s, 2h05m, 3d04h. */
static const char *age_text(uint64_t ms, char *buf, size_t len)
{
	unsigned long long s = ms / 1000;

	if (s < 60)
		(void)snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		(void)snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		(void)snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		(void)snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
	return buf;
}

/* ---- SIGUSR1: log lines ---------------------------------------------------------- */

static void log_row(void *arg, const struct fg_sb_rec *r, const struct fg_sb_slot *sl, uint64_t now)
{
	(void)arg;
	fg_log(LOG_INFO, "event=status id=%s pid=%d client=%s user=%s listener=%s backend=%s "
	       "state=%s/%s bytes_up=%llu bytes_down=%llu age=%llu login_failures=%u",
	       or_dash(sl->id), (int)r->pid, r->client_text, or_dash(sl->user), r->listener,
	       or_dash(sl->backend), or_dash(sl->ctrl), or_dash(sl->data),
	       (unsigned long long)sl->bytes_up, (unsigned long long)sl->bytes_down,
	       (unsigned long long)((now - r->since_ms) / 1000), sl->login_failures);
}

static void log_ban(void *arg, const char *addr, unsigned failures, uint64_t left_ms)
{
	(void)arg;
	fg_log(LOG_INFO, "event=status_ban client=%s failures=%u seconds_left=%llu", addr, failures,
	       (unsigned long long)((left_ms + 999) / 1000));
}

void fg_status_log(const struct fg_config *cfg)
{
	uint64_t now = fg_now_ms();
	struct fg_admit_stats st;
	unsigned busy, idle;

	each_session(log_row, NULL, now, &busy, &idle);
	fg_admit_each_ban(now, log_ban, NULL);
	fg_admit_stats(&st);
	fg_log(LOG_INFO, "event=status_summary sessions=%u idle=%u max_sessions=%u banned=%u addresses=%u",
	       busy, idle, cfg->max_sessions, st.banned, st.tracked);
}

/* ---- the table for the status socket ---------------------------------------------- */

#define ROW_FMT "%-12s %7s %7s  %-24s %-20s %-12s %-24s %-18s %12s %12s %5s\n"
#define ROW_MAX 400 /* bytes of one row, generously */

struct render {
	struct fg_buf *b;
	bool cut;                /* something did not fit */
	bool ban_header;
};

static void table_row(void *arg, const struct fg_sb_rec *r, const struct fg_sb_slot *sl,
		      uint64_t now)
{
	struct render *rd = arg;
	char pid[16], age[24], state[40], up[24], down[24], fails[16];

	(void)snprintf(pid, sizeof(pid), "%d", (int)r->pid);
	(void)snprintf(state, sizeof(state), "%s/%s", or_dash(sl->ctrl), or_dash(sl->data));
	(void)snprintf(up, sizeof(up), "%llu", (unsigned long long)sl->bytes_up);
	(void)snprintf(down, sizeof(down), "%llu", (unsigned long long)sl->bytes_down);
	(void)snprintf(fails, sizeof(fails), "%u", sl->login_failures);
	if (fg_buf_printf(rd->b, ROW_FMT, or_dash(sl->id), pid, age_text(now - r->since_ms, age, sizeof(age)),
			  r->client_text, or_dash(sl->user), r->listener, or_dash(sl->backend), state, up,
			  down, fails) < 0)
		rd->cut = true;
}

static void table_ban(void *arg, const char *addr, unsigned failures, uint64_t left_ms)
{
	struct render *rd = arg;
	char left[24];

	if (!rd->ban_header && fg_buf_printf(rd->b, "\n%-40s %8s %9s\n", "BANNED ADDRESS", "FAILURES",
					     "REMAINING") < 0)
		rd->cut = true;
	rd->ban_header = true;
	if (fg_buf_printf(rd->b, "%-40s %8u %9s\n", addr, failures,
			  age_text(left_ms + 999, left, sizeof(left))) < 0)
		rd->cut = true;
}

/* Render the dump into b (allocated here, sized for the sessions and bans
 * there are).  Returns 0, or -1 if out of memory. */
static int render(struct fg_buf *b)
{
	const struct fg_config *cfg = *S.cfgp;
	uint64_t now = fg_now_ms();
	struct fg_admit_stats st;
	struct render rd = {b, false, false};
	unsigned busy, idle;

	each_session(NULL, NULL, now, &busy, &idle);
	fg_admit_stats(&st);
	/* The rows are bounded (every field has a fixed maximum), so this fits
	 * them all; "cut" below is a safety net. */
	if (fg_buf_init(b, 1024 + (size_t)(busy + 1) * ROW_MAX + (size_t)st.banned * 128) < 0)
		return -1;
	(void)fg_buf_printf(b, "ftpgate %s: %u session(s), %u idle process(es), max_sessions %u; "
			    "%u banned address(es), %u address(es) tracked\n\n",
			    PACKAGE_VERSION, busy, idle, cfg->max_sessions, st.banned, st.tracked);
	(void)fg_buf_printf(b, ROW_FMT, "SESSION", "PID", "AGE", "CLIENT", "USER", "LISTENER",
			    "BACKEND", "STATE", "UP", "DOWN", "FAILS");
	each_session(table_row, &rd, now, &busy, &idle);
	fg_admit_each_ban(now, table_ban, &rd);
	if (rd.cut)
		(void)fg_buf_printf(b, "\n(rows left out: they did not fit)\n");
	return 0;
}

/* ---- the status socket -------------------------------------------------------- */

static void client_close(struct client *c)
{
	if (!c->used)
		return;
	if (c->io.added) {
		close(c->io.fd);
		fg_io_del(S.loop, &c->io);
	}
	fg_timer_stop(S.loop, &c->t);
	if (c->out.data) {
		/* It lists other clients' addresses: a later fork must not see it. */
		explicit_bzero(c->out.data, c->out.cap);
		fg_buf_free(&c->out);
	}
	memset(c, 0, sizeof(*c));
}

static void on_client(struct fg_io *io, short rev)
{
	struct client *c = io->arg;

	if (rev & (POLLERR | POLLHUP | POLLNVAL)) {
		client_close(c);
		return;
	}
	if (fg_buf_write_fd(&c->out, io->fd) < 0 && errno != EAGAIN) {
		client_close(c);
		return;
	}
	if (fg_buf_len(&c->out) == 0)
		client_close(c);
}

/* A reader that does not take its dump in time is dropped. */
static void on_client_timeout(struct fg_timer *t)
{
	client_close(t->arg);
}

/* Only the account the master runs as (root) may read the dump.  The
 * socket's mode already says so; this holds even if the file's directory
 * or mode were changed. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void on_accept(struct fg_io *io, short rev)
{
	int n;

	(void)rev;
	for (n = 0; n < FG_STATUS_CLIENTS; n++) {
		struct client *c = NULL;
		unsigned i;
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (!peer_allowed(fd)) {
			fg_log(LOG_WARNING, "status socket: connection from another user refused");
			close(fd);
			continue;
		}
		for (i = 0; i < FG_STATUS_CLIENTS; i++)
			if (!S.c[i].used)
				c = &S.c[i];
		if (!c) {
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->used = true;
		if (render(&c->out) < 0 || fg_io_add(S.loop, &c->io, fd, on_client, c) < 0) {
			close(fd);
			client_close(c);
			continue;
		}
		c->io.events = POLLOUT;
		fg_timer_init(&c->t, "status", on_client_timeout, c);
		if (fg_timer_set(S.loop, &c->t, FG_STATUS_TIMEOUT_MS) < 0)
			client_close(c);
	}
}

/* True when something accepts connections on the unix socket at path. */
static bool in_use(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 || errno == EAGAIN ||
	       errno == EINPROGRESS;
	close(fd);
	return used;
}

/* Make the directory of path if it is missing (one level: /run/ftpgate). */
static void make_parent(const char *path)
{
	char dir[FG_MAX_PATH];
	char *slash;

	(void)snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0750) == 0)
		fg_log(LOG_INFO, "created %s for the status socket", dir);
}

void fg_status_start(const struct fg_config *const *cfgp, struct fg_loop *loop)
{
	const char *path = (*cfgp)->status_socket;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	S.cfgp = cfgp;
	S.loop = loop;
	if (!path[0])
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return; /* the configuration checks this */
	memcpy(sun.sun_path, path, strlen(path));
	make_parent(path);
	if (lstat(path, &st) == 0) {
		/* Replace only a socket nobody serves: never a file, never the
		 * socket of another running ftpgate. */
		if (!S_ISSOCK(st.st_mode)) {
			fg_log(LOG_ERR, "status socket %s: exists and is not a socket; no status socket", path);
			return;
		}
		if (in_use(&sun)) {
			fg_log(LOG_ERR, "status socket %s: another process serves it; no status socket", path);
			return;
		}
		(void)unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fg_log(LOG_ERR, "status socket: %s", strerror(errno));
		return;
	}
	/* Created 0600 from the start: no moment where others could connect. */
	old = umask(0177);
	if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		fg_log(LOG_ERR, "status socket %s: bind: %s; no status socket", path, strerror(errno));
		close(fd);
		return;
	}
	umask(old);
	if (listen(fd, 8) < 0 || stat(path, &st) < 0 ||
	    fg_io_add(loop, &S.lio, fd, on_accept, NULL) < 0) {
		fg_log(LOG_ERR, "status socket %s: %s; no status socket", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		return;
	}
	S.lio.events = POLLIN;
	S.created = true;
	S.owner = getpid();
	S.dev = st.st_dev;
	S.ino = st.st_ino;
	(void)snprintf(S.path, sizeof(S.path), "%s", path);
	fg_log(LOG_INFO, "status socket %s", path);
}

void fg_status_stop(void)
{
	struct stat st;
	unsigned i;

	for (i = 0; i < FG_STATUS_CLIENTS; i++)
		client_close(&S.c[i]);
	if (S.lio.added) {
		close(S.lio.fd);
		fg_io_del(S.loop, &S.lio);
	}
	/* Remove the file only if it is still the one we made. */
	if (S.created && getpid() == S.owner && stat(S.path, &st) == 0 && st.st_dev == S.dev &&
	    st.st_ino == S.ino)
		(void)unlink(S.path);
	S.created = false;
}

void fg_status_child(void)
{
	unsigned i;

	if (S.lio.added)
		close(S.lio.fd);
	for (i = 0; i < FG_STATUS_CLIENTS; i++) {
		struct client *c = &S.c[i];
		if (!c->used)
			continue;
		if (c->io.added)
			close(c->io.fd);
		if (c->out.data) {
			explicit_bzero(c->out.data, c->out.cap);
			fg_buf_free(&c->out);
		}
	}
	/* The master's loop is not ours: forget it all without touching it. */
	memset(&S, 0, sizeof(S));
	S.lio.fd = -1;
}

/* ---- ftpgate -s ------------------------------------------------------------------ */

int fg_status_query(const char *path, FILE *out, FILE *err)
{
	struct sockaddr_un sun;
	char buf[16384];
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(err, "ftpgate: status socket path too long: %s\n", path);
		return 1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		fprintf(err, "ftpgate: status socket %s: %s%s\n", path, strerror(e),
			e == ENOENT || e == ECONNREFUSED ? " (is ftpgate running?)" : "");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		if (poll(&p, 1, FG_STATUS_TIMEOUT_MS) <= 0) {
			fprintf(err, "ftpgate: status socket %s: no answer\n", path);
			close(fd);
			return 1;
		}
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(err, "ftpgate: status socket %s: %s\n", path, strerror(errno));
			close(fd);
			return 1;
		}
		if (r == 0)
			break;
		if (fwrite(buf, 1, (size_t)r, out) != (size_t)r)
			break;
	}
	close(fd);
	if (fflush(out) != 0 || ferror(out)) {
		fprintf(err, "ftpgate: writing the status: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
