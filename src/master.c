/* master.c - the prefork pool, admission, signals, reload, graceful stop.
 *
 * The master never reads a client byte.  It accepts connections, decides
 * whether to admit them (max_sessions; per-address limits and bans in
 * admit.c), and hands each admitted socket to
 * an idle pre-forked session process over a private socketpair
 * (SCM_RIGHTS).  A session process serves exactly one session and exits;
 * the master reaps it and keeps spare_sessions idle processes ready so
 * that no client waits for fork().
 *
 * Reload (SIGHUP) needs no shared state: a session process has its own copy
 * of the configuration from the moment it was forked, so sessions in
 * progress simply finish on the configuration they started with.  Idle
 * processes of the previous configuration are retired (their channel is
 * closed and they exit), new ones are forked with the new configuration,
 * and the master frees its copy of the old one at once, because no process
 * reads the master's copy.  Listen sockets are matched by address, so an
 * address that stays configured keeps its socket: there is no moment when
 * its port refuses connections. */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "admit.h"
#include "event.h"
#include "log.h"
#include "net.h"
#include "notify.h"
#include "scoreboard.h"
#include "session.h"
#include "status.h"
#include "tls/tls.h"
#include "xferlog.h"
#include "banned.h"

#define MAX_LISTEN_FDS (FG_LOOP_MAX_IO - 8)

/* STATUS= updates to the service manager: at most one per this many ms. */
#define STATUS_INTERVAL_MS 1000

/* Longest stretch of accepting before the loop looks at signals again. */
#define ACCEPT_ROUND_MS 100

struct child {
	pid_t pid;
	int chan;      /* master's end of the socketpair; -1 once busy or retired */
	bool busy;
	int sb;        /* scoreboard slot (scoreboard.h); -1: none */
	bool retired;  /* idle, but forked with a configuration replaced since */
};

/* A listen socket.  Our own sockets exist while a listener of the current
 * configuration names their address; sockets inherited from systemd are
 * never closed (we could not get them back), only parked while no
 * listener wants them. */
struct lsock {
	struct fg_io io;
	unsigned listener;        /* index into M.cfg->listeners (when used) */
	int fd;                   /* io.fd is cleared while the io is not polled */
	struct fg_sockaddr addr;  /* configured address, or the local address if inherited */
	char fdname[FG_MAX_NAME]; /* LISTEN_FDNAMES entry ("" if none or too long) */
	bool inherited;           /* passed by systemd (LISTEN_FDS) */
	bool used;                /* serves a listener of the current configuration */
	bool fresh;               /* bound for the configuration being applied */
};

static struct {
	struct fg_config *cfg;        /* owned; replaced on reload */
	struct fg_privs privs;
	struct fg_master_opts opts;
	bool running;                 /* the loop exists: listen sockets are polled */
	bool stopping;
	struct fg_loop loop;
	struct lsock ls[MAX_LISTEN_FDS];
	unsigned n_ls;
	struct child *kids;
	unsigned n_kids, cap_kids;
	unsigned busy;
	unsigned retired;
	int inflight;  /* client fd being handed over; a child forked now must not keep it */
	struct fg_timer t_backoff;
	struct fg_timer t_status;
	char status[96];              /* last STATUS= text sent */
	uint64_t status_at;           /* when it was sent (ms, monotonic) */
} M = {.inflight = -1};

static volatile sig_atomic_t got_chld, got_term, got_hup, got_usr1;

/* One handover message: the listener index as data, the client socket as
 * SCM_RIGHTS ancillary data. */
struct handover {
	struct msghdr msg;
	struct iovec iov;
	uint32_t idx;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
};

static void handover_init(struct handover *h)
{
	memset(h, 0, sizeof(*h));
	h->iov.iov_base = &h->idx;
	h->iov.iov_len = sizeof(h->idx);
	h->msg.msg_iov = &h->iov;
	h->msg.msg_iovlen = 1;
	h->msg.msg_control = h->cm.buf;
	h->msg.msg_controllen = sizeof(h->cm.buf);
}

static void on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

/* ---- session processes --------------------------------------------------- */

/* In a new session process: let go of everything that belongs to the
 * master, drop privileges, wait for one client, serve it, exit.  sb is the
 * process's scoreboard slot. */
static void __attribute__((noreturn)) child_main(int chan, int sb)
{
	struct sigaction sa;
	sigset_t none;
	struct handover h;
	struct cmsghdr *c;
	unsigned i;
	ssize_t r;
	int fd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* `kill -USR1` meant for the master must not end sessions. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (i = 0; i < M.n_ls; i++)
		close(M.ls[i].fd);
	if (M.inflight >= 0)
		close(M.inflight);
	for (i = 0; i < M.n_kids; i++)
		if (M.kids[i].chan >= 0)
			close(M.kids[i].chan);
	/* Before the privilege drop: keep only our own scoreboard slot, and
	 * nothing that names other clients. */
	fg_sb_child(sb);
	fg_admit_child();
	fg_status_child();
	fg_notify_forget();
	if (fg_privs_drop(&M.privs) < 0)
		_exit(2);

	handover_init(&h);
	do
		r = recvmsg(chan, &h.msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof(h.idx))
		_exit(0); /* the master went away or retired us */
	for (c = CMSG_FIRSTHDR(&h.msg); c; c = CMSG_NXTHDR(&h.msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	close(chan);
	if (fd < 0 || h.idx >= M.cfg->n_listeners)
		_exit(1);
	fg_session_run(M.cfg, &M.cfg->listeners[h.idx], fd);
}

/* Fork one idle session process. Returns its slot or -1. */
static int spawn(void)
{
	int sv[2], sb;
	pid_t pid;

	if (M.n_kids == M.cap_kids) {
		unsigned cap = M.cap_kids ? M.cap_kids * 2 : 64;
		struct child *k = realloc(M.kids, cap * sizeof(*k));
		if (!k)
			return -1;
		M.kids = k;
		M.cap_kids = cap;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		fg_log(LOG_ERR, "socketpair: %s", strerror(errno));
		return -1;
	}
	sb = fg_sb_claim();
	pid = fork();
	if (pid < 0) {
		fg_log(LOG_ERR, "fork: %s", strerror(errno));
		fg_sb_release(sb);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1], sb);
	}
	close(sv[1]);
	fg_admit_spawned(sb, pid);
	M.kids[M.n_kids].pid = pid;
	M.kids[M.n_kids].chan = sv[0];
	M.kids[M.n_kids].busy = false;
	M.kids[M.n_kids].sb = sb;
	M.kids[M.n_kids].retired = false;
	return (int)M.n_kids++;
}

/* Idle processes that can take a client now (retired ones cannot). */
static unsigned idle_count(void)
{
	return M.n_kids - M.busy - M.retired;
}

/* Keep spare_sessions idle processes, within max_sessions in all.
 * Retired processes are on their way out and do not count. */
static void replenish(void)
{
	unsigned guard = 0;

	while (idle_count() < M.cfg->spare_sessions &&
	       M.n_kids - M.retired < M.cfg->max_sessions + M.cfg->spare_sessions && guard++ < 64)
		if (spawn() < 0)
			break;
}

/* Fill the pool completely (replenish() forks at most 64 per call, so that
 * the loop stays responsive): used before telling systemd READY=1. */
static void fill_pool(void)
{
	unsigned before;

	do {
		before = M.n_kids;
		replenish();
	} while (M.n_kids != before && idle_count() < M.cfg->spare_sessions);
}

/* After a reload: every idle process holds the previous configuration.
 * Closing its channel makes its recvmsg() return 0, and it exits; it
 * stays in kids[] (as retired) until it is reaped. */
static void retire_idle(void)
{
	unsigned i;

	for (i = 0; i < M.n_kids; i++) {
		if (M.kids[i].busy || M.kids[i].retired)
			continue;
		close(M.kids[i].chan);
		M.kids[i].chan = -1;
		M.kids[i].retired = true;
		M.retired++;
	}
}

static void remove_kid(unsigned i)
{
	if (M.kids[i].chan >= 0)
		close(M.kids[i].chan);
	if (M.kids[i].busy)
		M.busy--;
	if (M.kids[i].retired)
		M.retired--;
	M.kids[i] = M.kids[--M.n_kids];
}

static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		unsigned i;
		for (i = 0; i < M.n_kids; i++) {
			if (M.kids[i].pid != pid)
				continue;
			/* Idle processes we stopped ourselves end by SIGTERM. */
			if (WIFSIGNALED(status) && !(got_term && !M.kids[i].busy))
				fg_log(LOG_WARNING, "session process %d killed by signal %d",
				       (int)pid, WTERMSIG(status));
			else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
				fg_log(LOG_WARNING, "session process %d exited with status %d",
				       (int)pid, WEXITSTATUS(status));
			fg_admit_reaped(M.cfg, M.kids[i].sb, fg_now_ms());
			remove_kid(i);
			break;
		}
	}
}

/* Give client fd to an idle session process.  Returns the index of that
 * process in M.kids, or -1. */
static int hand_over(int fd, unsigned listener)
{
	unsigned tries;

	for (tries = 0; tries < 4; tries++) {
		struct handover h;
		struct cmsghdr *c;
		int slot = -1;
		unsigned i;

		for (i = 0; i < M.n_kids; i++)
			if (!M.kids[i].busy && !M.kids[i].retired) {
				slot = (int)i;
				break;
			}
		if (slot < 0 && (slot = spawn()) < 0)
			return -1;
		handover_init(&h);
		h.idx = listener;
		c = CMSG_FIRSTHDR(&h.msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(M.kids[slot].chan, &h.msg, MSG_NOSIGNAL) == (ssize_t)sizeof(h.idx)) {
			close(M.kids[slot].chan);
			M.kids[slot].chan = -1;
			M.kids[slot].busy = true;
			M.busy++;
			return slot;
		}
		/* That process died while idle; it will be reaped. */
		fg_log(LOG_WARNING, "session process %d did not take a client: %s",
		       (int)M.kids[slot].pid, strerror(errno));
		close(M.kids[slot].chan);
		M.kids[slot].chan = -1;
		M.kids[slot].busy = true;
		M.busy++;
	}
	return -1;
}

/* Turn a connection away with a reply, without reading from it. */
static void refuse(int fd, const char *reply)
{
	ssize_t r;

	fg_net_nonblock(fd);
	r = send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)r;
	close(fd);
}

static void on_backoff(struct fg_timer *t)
{
	unsigned i;

	(void)t;
	for (i = 0; i < M.n_ls; i++)
		M.ls[i].io.events = POLLIN;
}

static void on_accept(struct fg_io *io, short rev)
{
	struct lsock *l = io->arg;
	uint64_t until = fg_now_ms() + ACCEPT_ROUND_MS;
	unsigned n;

	/* Bounded in time too: hand_over() forks when the pool is empty, and
	 * signals (SIGHUP, SIGTERM) wait until the loop sleeps again. */
	for (n = 0; n < 64 && (n == 0 || fg_now_ms() < until); n++) {
		struct fg_sockaddr peer;
		char addr[FG_ADDRSTRLEN];
		const char *no;
		int fd, k;

		peer.len = sizeof(peer.ss);
		fd = accept4(io->fd, (struct sockaddr *)&peer.ss, &peer.len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: stop accepting for a moment
				 * rather than spin on a listener we cannot serve. */
				unsigned i;
				fg_log(LOG_ERR, "accept: %s; pausing accepts for 1 s", strerror(errno));
				for (i = 0; i < M.n_ls; i++)
					M.ls[i].io.events = 0;
				fg_timer_set(&M.loop, &M.t_backoff, 1000);
			}
			return;
		}
		fg_net_unmap(&peer);
		fg_net_ntop((struct sockaddr *)&peer.ss, true, addr, sizeof(addr));
		if ((no = fg_admit_check(M.cfg, &peer, fg_now_ms())) != NULL) {
			refuse(fd, no);
			continue;
		}
		if (M.busy >= M.cfg->max_sessions) {
			fg_log(LOG_WARNING, "event=refused client=%s reason=\"max_sessions (%u) reached\"",
			       addr, M.cfg->max_sessions);
			refuse(fd, "421 Too many sessions, try again later.\r\n");
			continue;
		}
		M.inflight = fd;
		if ((k = hand_over(fd, l->listener)) < 0) {
			M.inflight = -1;
			fg_log(LOG_ERR, "event=refused client=%s reason=\"no session process\"", addr);
			refuse(fd, "421 Service not available, try again later.\r\n");
			continue;
		}
		M.inflight = -1;
		fg_admit_opened(M.kids[k].sb, &peer, addr, M.cfg->listeners[l->listener].name,
				fg_now_ms());
		close(fd);
	}
}

/* ---- listeners ----------------------------------------------------------- */

/* True when a and b are the same address and port (an IPv4-mapped IPv6
 * address equals its IPv4 address, as fg_net_local() reports it). */
static bool same_addr(const struct fg_sockaddr *a, const struct fg_sockaddr *b)
{
	return fg_net_same_host((const struct sockaddr *)&a->ss, (const struct sockaddr *)&b->ss) &&
	       fg_net_port((const struct sockaddr *)&a->ss) == fg_net_port((const struct sockaddr *)&b->ss);
}

/* "ADDR:PORT" of a listen socket, for log lines.  Returns buf. */
static const char *ls_text(const struct lsock *l, char *buf, size_t len)
{
	return fg_net_ntop((const struct sockaddr *)&l->addr.ss, true, buf, len);
}

/* Append a listen socket to next[] (n entries, MAX_LISTEN_FDS room).
 * Returns the entry, or NULL (logged) when there is no room. */
static struct lsock *plan_add(struct lsock *next, unsigned *n)
{
	struct lsock *l;

	if (*n >= MAX_LISTEN_FDS) {
		fg_log(LOG_ERR, "too many listen sockets (at most %d)", MAX_LISTEN_FDS);
		return NULL;
	}
	l = &next[(*n)++];
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	return l;
}

/* Carry M.ls[k] over into next[] for listener li (used) or parked. */
static int plan_keep(struct lsock *next, unsigned *n, bool *keep, unsigned k, int li)
{
	struct lsock *l = plan_add(next, n);

	if (!l)
		return -1;
	l->listener = li < 0 ? 0 : (unsigned)li;
	l->fd = M.ls[k].fd;
	l->addr = M.ls[k].addr;
	memcpy(l->fdname, M.ls[k].fdname, sizeof(l->fdname));
	l->inherited = M.ls[k].inherited;
	l->used = li >= 0;
	keep[k] = true;
	return 0;
}

/* Work out the listen sockets that cfg needs, into next[] (*n entries),
 * without changing M.ls or the loop, so that a configuration whose
 * addresses cannot be bound leaves everything as it was.  Sockets of M.ls
 * are reused (keep[k] set): an inherited socket whose LISTEN_FDNAMES name
 * is a listener's name serves that listener; then every listen address
 * takes the open socket with that address, inherited or ours; the
 * remaining addresses are bound.  A listener that got sockets by name
 * uses only those: systemd owns its addresses.  Inherited sockets nobody
 * wants are parked, never closed.  Returns 0, or -1 after logging why
 * (with the sockets bound here closed again). */
static int plan_listeners(const struct fg_config *cfg, struct lsock *next, unsigned *n, bool *keep)
{
	bool named[FG_MAX_LISTENERS] = {false};
	unsigned i, j, k;

	*n = 0;
	memset(keep, 0, MAX_LISTEN_FDS * sizeof(*keep));
	for (i = 0; i < cfg->n_listeners; i++) {
		for (k = 0; k < M.n_ls; k++) {
			if (!M.ls[k].inherited || keep[k] || strcmp(M.ls[k].fdname, cfg->listeners[i].name))
				continue;
			if (plan_keep(next, n, keep, k, (int)i) < 0)
				goto fail;
			named[i] = true;
		}
	}
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct fg_listener *l = &cfg->listeners[i];
		if (named[i])
			continue;
		for (j = 0; j < l->n_addrs; j++) {
			struct lsock *s;
			char addr[FG_ADDRSTRLEN];

			for (k = 0; k < M.n_ls; k++)
				if (!keep[k] && same_addr(&M.ls[k].addr, &l->addrs[j]))
					break;
			if (k < M.n_ls) {
				if (plan_keep(next, n, keep, k, (int)i) < 0)
					goto fail;
				continue;
			}
			s = plan_add(next, n);
			if (!s)
				goto fail;
			s->listener = i;
			s->addr = l->addrs[j];
			s->used = true;
			s->fresh = true;
			s->fd = fg_net_listen(&l->addrs[j], 511);
			if (s->fd < 0) {
				fg_log(LOG_ERR, "listener %s: cannot listen on %s: %s", l->name,
				       fg_net_ntop((const struct sockaddr *)&l->addrs[j].ss, true, addr,
						   sizeof(addr)), strerror(errno));
				(*n)--;
				goto fail;
			}
		}
	}
	for (k = 0; k < M.n_ls; k++)
		if (M.ls[k].inherited && !keep[k] && plan_keep(next, n, keep, k, -1) < 0)
			goto fail;
	return 0;
fail:
	for (k = 0; k < *n; k++)
		if (next[k].fresh)
			close(next[k].fd);
	*n = 0;
	return -1;
}

/* Make next[] (from plan_listeners() for cfg) the listen sockets: close
 * our sockets that are not kept, poll the used ones, and log what serves
 * what.  Sockets of unchanged addresses were never closed. */
static void commit_listeners(const struct fg_config *cfg, struct lsock *next, unsigned n,
			     const bool *keep)
{
	char addr[FG_ADDRSTRLEN];
	unsigned i;

	for (i = 0; i < M.n_ls; i++) {
		if (M.running)
			fg_io_del(&M.loop, &M.ls[i].io);
		if (!keep[i]) {
			fg_log(LOG_NOTICE, "closed listen socket %s (no longer configured)",
			       ls_text(&M.ls[i], addr, sizeof(addr)));
			close(M.ls[i].fd);
		}
	}
	for (i = 0; i < n; i++) {
		struct lsock *l = &next[i];
		bool was_used = false;
		unsigned k;

		for (k = 0; k < M.n_ls; k++)
			if (M.ls[k].fd == l->fd)
				was_used = M.ls[k].used;
		if (!l->used) {
			/* Say so when it happens, not at every reload. */
			if (was_used || !M.running)
				fg_log(LOG_WARNING, "inherited socket %d (%s, name '%s') matches no listen address; kept open, unused",
				       l->fd, ls_text(l, addr, sizeof(addr)), l->fdname);
			continue;
		}
		if (l->inherited)
			fg_log(LOG_INFO, "listener %s on %s -> backend %s (socket from systemd%s%s)",
			       cfg->listeners[l->listener].name, ls_text(l, addr, sizeof(addr)),
			       cfg->listeners[l->listener].backend->name, l->fdname[0] ? ", name " : "",
			       l->fdname);
		else
			fg_log(LOG_INFO, "listener %s on %s -> backend %s", cfg->listeners[l->listener].name,
			       ls_text(l, addr, sizeof(addr)), cfg->listeners[l->listener].backend->name);
	}
	for (i = 0; i < cfg->n_listeners; i++) {
		unsigned k;
		for (k = 0; k < n; k++)
			if (next[k].used && next[k].listener == i && next[k].inherited &&
			    strcmp(next[k].fdname, cfg->listeners[i].name) == 0)
				break;
		if (k < n)
			fg_log(LOG_INFO, "listener %s: uses the socket(s) systemd passed as '%s'; its listen addresses are not bound",
			       cfg->listeners[i].name, cfg->listeners[i].name);
	}
	memcpy(M.ls, next, n * sizeof(*next));
	M.n_ls = n;
	for (i = 0; i < M.n_ls; i++) {
		M.ls[i].fresh = false;
		if (!M.running || !M.ls[i].used)
			continue;
		fg_io_add(&M.loop, &M.ls[i].io, M.ls[i].fd, on_accept, &M.ls[i]);
		/* A pause after EMFILE (on_backoff) covers new sockets too. */
		M.ls[i].io.events = M.t_backoff.armed ? 0 : POLLIN;
	}
}

/* Split LISTEN_FDNAMES ("a:b:c") into names[0..n-1].  A name that is too
 * long for a listener name stays empty (it could match none).  When the
 * count differs from LISTEN_FDS the names are ignored, as sd_listen_fds
 * does. */
static void fd_names(const char *s, char names[][FG_MAX_NAME], unsigned n)
{
	const char *colon = NULL;
	unsigned i = 0;

	memset(names, 0, n * sizeof(names[0]));
	if (!s)
		return;
	while (i < n) {
		size_t len;

		colon = strchr(s, ':');
		len = colon ? (size_t)(colon - s) : strlen(s);
		if (len < FG_MAX_NAME) {
			memcpy(names[i], s, len);
			names[i][len] = '\0';
		}
		i++;
		if (!colon)
			break;
		s = colon + 1;
	}
	/* Fewer names, or a ':' after the last one we took: more names. */
	if (i != n || colon) {
		fg_log(LOG_WARNING, "LISTEN_FDNAMES does not have %u names; matching by address only", n);
		memset(names, 0, n * sizeof(names[0]));
	}
}

/* Take the sockets systemd passed (LISTEN_PID/LISTEN_FDS, fd 3 onwards)
 * into M.ls as parked inherited sockets, and drop the variables so that
 * no session process sees them. */
static void take_inherited(void)
{
	static char names[MAX_LISTEN_FDS][FG_MAX_NAME];
	const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
	unsigned n = 0, i;

	if (pid_s && n_s && strtol(pid_s, NULL, 10) == (long)getpid()) {
		long v = strtol(n_s, NULL, 10);
		n = v > 0 ? (v > MAX_LISTEN_FDS ? MAX_LISTEN_FDS : (unsigned)v) : 0;
		fd_names(getenv("LISTEN_FDNAMES"), names, n);
		fg_log(LOG_INFO, "using %u socket(s) from systemd", n);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (i = 0; i < n; i++) {
		struct lsock *l = &M.ls[M.n_ls];
		int fd = 3 + (int)i, listening = 0;
		socklen_t len = sizeof(listening);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening ||
		    fg_net_local(fd, &l->addr) < 0) {
			fg_log(LOG_WARNING, "inherited fd %d is not a listening socket; closed", fd);
			close(fd);
			continue;
		}
		fg_net_nonblock(fd); /* also close-on-exec */
		l->fd = fd;
		l->inherited = true;
		memcpy(l->fdname, names[i], sizeof(l->fdname));
		M.n_ls++;
	}
}

int fg_master_listen(const struct fg_config *cfg)
{
	static struct lsock next[MAX_LISTEN_FDS];
	static bool keep[MAX_LISTEN_FDS];
	unsigned n;

	take_inherited();
	if (plan_listeners(cfg, next, &n, keep) < 0)
		return -1;
	commit_listeners(cfg, next, n, keep);
	return 0;
}

/* Listen sockets that serve a listener (parked ones do not). */
static unsigned used_sockets(void)
{
	unsigned i, n = 0;

	for (i = 0; i < M.n_ls; i++)
		n += M.ls[i].used;
	return n;
}

/* ---- service manager status ---------------------------------------------- */

/* The STATUS= text for now. */
static void status_text(char *buf, size_t len)
{
	if (M.stopping)
		snprintf(buf, len, "stopping: %u sessions", M.busy);
	else
		snprintf(buf, len, "%u sessions, %u idle processes", M.busy, idle_count());
}

/* Tell systemd the session counts when they changed, at most once per
 * STATUS_INTERVAL_MS: a change within the interval is sent when it ends
 * (t_status), so the last state always arrives. */
static void status_update(void)
{
	char text[sizeof(M.status)];
	uint64_t now;

	if (!fg_notify_enabled())
		return;
	status_text(text, sizeof(text));
	if (strcmp(text, M.status) == 0)
		return;
	now = fg_now_ms();
	if (now < M.status_at + STATUS_INTERVAL_MS) {
		if (!M.t_status.armed)
			fg_timer_set(&M.loop, &M.t_status, M.status_at + STATUS_INTERVAL_MS - now);
		return;
	}
	if (fg_notify("STATUS=%s", text) == 0) {
		memcpy(M.status, text, sizeof(M.status));
		M.status_at = now;
	}
}

static void on_status(struct fg_timer *t)
{
	(void)t;
	status_update();
}

/* READY=1 with the current STATUS= (after startup and after a reload). */
static void notify_ready(void)
{
	status_text(M.status, sizeof(M.status));
	M.status_at = fg_now_ms();
	fg_notify("READY=1\nMAINPID=%d\nSTATUS=%s", (int)getpid(), M.status);
}

/* ---- reload ------------------------------------------------------------------ */

/* Log each line of the error text a loader wrote (e.g. "FILE:LINE: msg"). */
static void log_lines(int prio, const char *text)
{
	while (text && *text) {
		const char *nl = strchr(text, '\n');
		int len = nl ? (int)(nl - text) : (int)strlen(text);
		if (len > 0)
			fg_log(prio, "%.*s", len, text);
		text = nl ? nl + 1 : NULL;
	}
}

/* Write the pid file (path empty: none).  Returns 0 or -1 (logged). */
static int write_pid_file(const char *path)
{
	FILE *f;

	if (!path[0])
		return 0;
	f = fopen(path, "we");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
		fg_log(LOG_WARNING, "cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The monotonic clock in microseconds (RELOADING=1 carries it: systemd
 * 253 and later use it to tell this reload from an earlier one). */
static unsigned long long monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
}

/* Apply a new, valid configuration: listen sockets first (the only step
 * that can still fail), then retire the idle processes of the old one and
 * fork new ones.  Returns 0, or -1 with nothing changed. */
static int apply(struct fg_config *next, const struct fg_privs *privs)
{
	static struct lsock ls[MAX_LISTEN_FDS];
	static bool keep[MAX_LISTEN_FDS];
	struct fg_config *old = M.cfg;
	unsigned n;

	if (plan_listeners(next, ls, &n, keep) < 0)
		return -1;
	commit_listeners(next, ls, n, keep);
	retire_idle();
	M.cfg = next;
	M.privs = *privs;
	fg_log_open("ftpgate", next->syslog_facility, M.opts.log_stderr, M.opts.debug || next->debug);
	if (strcmp(old->pid_file, next->pid_file) != 0) {
		if (old->pid_file[0])
			unlink(old->pid_file);
		write_pid_file(next->pid_file);
	}
	/* SIGHUP also reopens the transfer log, for logrotate. */
	if (fg_xferlog_open(next->xferlog) < 0)
		fg_log(LOG_ERR, "xferlog %s: %s; transfers are not logged there", next->xferlog,
		       strerror(errno));
	else if (!next->xferlog[0])
		fg_xferlog_close();
	/* Session processes have their own copies; nothing else reads this. */
	fg_master_config_release(old);
	free(old);
	fill_pool();
	return 0;
}

int fg_master_config_load(struct fg_config *cfg, const char *path, FILE *errs)
{
	int nerr = fg_config_load(cfg, path, errs);

	if (nerr == 0) {
		nerr = fg_tls_config_build(cfg, errs);
		if (nerr)
			fg_config_release(cfg);
	}
	return nerr;
}

void fg_master_config_release(struct fg_config *cfg)
{
	fg_tls_config_free(cfg);
	fg_config_release(cfg);
}

/* SIGHUP: read and check the configuration file again.  Valid: new
 * sessions get it, sessions in progress keep theirs.  Invalid: every
 * error is logged and the running configuration stays. */
static void reload(void)
{
	struct fg_config *next = calloc(1, sizeof(*next));
	struct fg_privs privs;
	char *errtext = NULL;
	size_t errlen = 0;
	FILE *errs;
	int nerr = 0;

	fg_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
		  monotonic_usec());
	fg_log(LOG_NOTICE, "SIGHUP: reloading %s", M.opts.config_path);
	errs = open_memstream(&errtext, &errlen);
	if (!next || !errs) {
		fg_log(LOG_ERR, "reload failed: out of memory; still running on the previous configuration");
		if (errs)
			fclose(errs);
		goto out;
	}
	nerr = fg_master_config_load(next, M.opts.config_path, errs);
	if (nerr == 0 && (fg_privs_lookup(next->user, &privs, errs) < 0 ||
			  fg_privs_sandbox(&privs, next->sandbox, next->chroot_dir, errs) < 0))
		nerr = 1;
	fclose(errs);
	if (nerr) {
		log_lines(LOG_ERR, errtext);
		fg_log(LOG_ERR, "reload failed: %d error(s) in %s; still running on the previous configuration",
		       nerr, M.opts.config_path);
		goto out;
	}
	if (apply(next, &privs) < 0) {
		fg_log(LOG_ERR, "reload failed: cannot open the listen sockets of %s; still running on the previous configuration",
		       M.opts.config_path);
		goto out;
	}
	fg_log(LOG_NOTICE, "reloaded: %u listeners (%u listen sockets); %u session(s) in progress keep the previous configuration",
	       M.cfg->n_listeners, used_sockets(), M.busy);
	next = NULL;
out:
	if (next)
		fg_master_config_release(next);
	free(next);
	free(errtext);
	notify_ready();
}

/* ---- main loop --------------------------------------------------------------- */

/* SIGTERM: stop accepting, let sessions finish within shutdown_grace, then
 * tell the rest to end (they send 421), and exit. */
static void drain_and_exit(void)
{
	uint64_t deadline = fg_now_ms() + (uint64_t)M.cfg->shutdown_grace * 1000;
	unsigned i;
	bool termed = false;
	int rounds;

	M.stopping = true;
	status_text(M.status, sizeof(M.status));
	M.status_at = fg_now_ms();
	fg_notify("STOPPING=1\nSTATUS=%s", M.status);
	fg_log(LOG_NOTICE, "stopping: %u session(s) in progress, grace %u s", M.busy,
	       M.cfg->shutdown_grace);
	for (i = 0; i < M.n_ls; i++) {
		close(M.ls[i].fd);
		fg_io_del(&M.loop, &M.ls[i].io);
	}
	M.n_ls = 0;
	for (i = 0; i < M.n_kids; i++)
		if (!M.kids[i].busy)
			kill(M.kids[i].pid, SIGTERM);
	/* Bounded: one round per 100 ms until everyone is gone. */
	for (rounds = 0; rounds < 10 * 86400 * 2 && M.n_kids > 0; rounds++) {
		uint64_t now = fg_now_ms();
		if (!termed && now >= deadline) {
			fg_log(LOG_NOTICE, "grace period over: ending %u session(s)", M.busy);
			for (i = 0; i < M.n_kids; i++)
				kill(M.kids[i].pid, SIGTERM);
			termed = true;
			deadline = now + 5000;
		} else if (termed && now >= deadline) {
			for (i = 0; i < M.n_kids; i++)
				kill(M.kids[i].pid, SIGKILL);
		}
		got_chld = 0;
		reap();
		if (M.n_kids == 0)
			break;
		status_update();
		fg_loop_once(&M.loop, 100);
	}
	if (M.cfg->pid_file[0])
		unlink(M.cfg->pid_file);
	fg_status_stop();
	fg_log(LOG_NOTICE, "stopped");
	fg_master_config_release(M.cfg);
	free(M.cfg);
	M.cfg = NULL;
	exit(0);
}

int fg_master_run(struct fg_config *cfg, const struct fg_privs *privs,
		  const struct fg_master_opts *opts)
{
	struct sigaction sa;
	sigset_t block, wait;
	unsigned i;

	M.cfg = cfg;
	M.privs = *privs;
	M.opts = *opts;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &wait);
	sigdelset(&wait, SIGCHLD);
	sigdelset(&wait, SIGTERM);
	sigdelset(&wait, SIGINT);
	sigdelset(&wait, SIGHUP);
	sigdelset(&wait, SIGUSR1);
	fg_loop_init(&M.loop, &wait);
	fg_timer_init(&M.t_backoff, "backoff", on_backoff, NULL);
	fg_timer_init(&M.t_status, "status", on_status, NULL);
	M.running = true;
	for (i = 0; i < M.n_ls; i++) {
		if (!M.ls[i].used)
			continue;
		fg_io_add(&M.loop, &M.ls[i].io, M.ls[i].fd, on_accept, &M.ls[i]);
		M.ls[i].io.events = POLLIN;
	}
	write_pid_file(M.cfg->pid_file);
	if (!M.privs.drop)
		fg_log(LOG_NOTICE, "not started as root: sessions run as the current user");
	/* Shared state exists before the first fork (scoreboard.h). */
	if (fg_sb_create(cfg->max_sessions + cfg->spare_sessions + FG_SB_EXTRA_SLOTS) < 0 ||
	    fg_admit_init() < 0)
		return -1;
	fg_status_start((const struct fg_config *const *)&M.cfg, &M.loop);
	fill_pool();
	fg_log(LOG_NOTICE, "ftpgate %s ready: %u listen socket(s), %u spare session process(es)",
	       PACKAGE_VERSION, used_sockets(), M.cfg->spare_sessions);
	/* The listen sockets are open and the pool is forked: from now on a
	 * client that connects is served. */
	notify_ready();

	for (;;) {
		if (got_term)
			drain_and_exit();
		if (got_hup) {
			got_hup = 0;
			reload();
		}
		/* Reap every round: ppoll() returns ready sockets without
		 * delivering a pending SIGCHLD, so under a steady stream of
		 * connections the flag alone would never be seen. */
		got_chld = 0;
		reap();
		if (got_usr1) {
			got_usr1 = 0;
			fg_status_log(M.cfg);
		}
		fg_admit_tick(M.cfg, fg_now_ms());
		replenish();
		status_update();
		if (fg_loop_once(&M.loop, 1000) < 0) {
			fg_log(LOG_ERR, "poll: %s", strerror(errno));
			fg_master_config_release(M.cfg);
			free(M.cfg);
			M.cfg = NULL;
			return -1;
		}
	}
}
