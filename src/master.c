/* master.c - the prefork pool, admission, signals, graceful stop.
 *
 * The master never reads a client byte.  It accepts connections, decides
 * whether to admit them (max_sessions; per-address limits and bans in
 * admit.c), and hands each admitted socket to
 * an idle pre-forked session process over a private socketpair
 * (SCM_RIGHTS).  A session process serves exactly one session and exits;
 * the master reaps it and keeps spare_sessions idle processes ready so
 * that no client waits for fork(). */
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
#include <unistd.h>
#include "admit.h"
#include "event.h"
#include "log.h"
#include "net.h"
#include "scoreboard.h"
#include "session.h"
#include "status.h"
#include "banned.h"

#define MAX_LISTEN_FDS (FG_LOOP_MAX_IO - 8)

struct child {
	pid_t pid;
	int chan;      /* master's end of the socketpair; -1 once busy */
	bool busy;
	int sb;        /* scoreboard slot (scoreboard.h); -1: none */
};

struct lsock {
	struct fg_io io;
	unsigned listener; /* index into cfg->listeners */
};

static struct {
	const struct fg_config *cfg;
	const struct fg_privs *privs;
	struct fg_loop loop;
	struct lsock ls[MAX_LISTEN_FDS];
	unsigned n_ls;
	struct child *kids;
	unsigned n_kids, cap_kids;
	unsigned busy;
	int inflight;  /* client fd being handed over; a child forked now must not keep it */
	struct fg_timer t_backoff;
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
		close(M.ls[i].io.fd);
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
	if (fg_privs_drop(M.privs) < 0)
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
	return (int)M.n_kids++;
}

static unsigned idle_count(void)
{
	return M.n_kids - M.busy;
}

/* Keep spare_sessions idle processes, within max_sessions in all. */
static void replenish(void)
{
	unsigned guard = 0;

	while (idle_count() < M.cfg->spare_sessions &&
	       M.n_kids < M.cfg->max_sessions + M.cfg->spare_sessions && guard++ < 64)
		if (spawn() < 0)
			break;
}

static void remove_kid(unsigned i)
{
	if (M.kids[i].chan >= 0)
		close(M.kids[i].chan);
	if (M.kids[i].busy)
		M.busy--;
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
			if (!M.kids[i].busy) {
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
	unsigned n;

	for (n = 0; n < 64; n++) {
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

/* Sockets handed over by systemd (LISTEN_PID/LISTEN_FDS): fd 3 onwards. */
static int inherited_fd(const struct fg_sockaddr *want, int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct fg_sockaddr have;
		if (fds[i] < 0 || fg_net_local(fds[i], &have) < 0)
			continue;
		if (fg_net_same_host((struct sockaddr *)&have.ss, (struct sockaddr *)&want->ss) &&
		    fg_net_port((struct sockaddr *)&have.ss) == fg_net_port((struct sockaddr *)&want->ss)) {
			int fd = fds[i];
			fds[i] = -1;
			return fd;
		}
	}
	return -1;
}

int fg_master_listen(const struct fg_config *cfg)
{
	const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
	int fds[MAX_LISTEN_FDS];
	unsigned n_inh = 0, i, j;

	if (pid_s && n_s && strtol(pid_s, NULL, 10) == (long)getpid()) {
		long n = strtol(n_s, NULL, 10);
		for (i = 0; n > 0 && i < (unsigned)n && i < MAX_LISTEN_FDS; i++)
			fds[n_inh++] = 3 + (int)i;
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		fg_log(LOG_INFO, "using %u socket(s) from systemd", n_inh);
	}
	M.n_ls = 0;
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct fg_listener *l = &cfg->listeners[i];
		for (j = 0; j < l->n_addrs; j++) {
			char addr[FG_ADDRSTRLEN];
			int fd = inherited_fd(&l->addrs[j], fds, n_inh);

			fg_net_ntop((struct sockaddr *)&l->addrs[j].ss, true, addr, sizeof(addr));
			if (M.n_ls >= MAX_LISTEN_FDS) {
				fg_log(LOG_ERR, "too many listen addresses (at most %d)", MAX_LISTEN_FDS);
				return -1;
			}
			if (fd >= 0) {
				fg_net_nonblock(fd);
			} else if ((fd = fg_net_listen(&l->addrs[j], 511)) < 0) {
				fg_log(LOG_ERR, "listener %s: cannot listen on %s: %s", l->name, addr,
				       strerror(errno));
				return -1;
			}
			M.ls[M.n_ls].listener = i;
			M.ls[M.n_ls].io.fd = fd;
			M.n_ls++;
			fg_log(LOG_INFO, "listener %s on %s -> backend %s", l->name, addr,
			       l->backend->name);
		}
	}
	for (i = 0; i < n_inh; i++)
		if (fds[i] >= 0) {
			fg_log(LOG_WARNING, "inherited socket %d matches no listen address; closed", fds[i]);
			close(fds[i]);
		}
	return 0;
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

	fg_log(LOG_NOTICE, "stopping: %u session(s) in progress, grace %u s", M.busy,
	       M.cfg->shutdown_grace);
	for (i = 0; i < M.n_ls; i++) {
		close(M.ls[i].io.fd);
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
		fg_loop_once(&M.loop, 100);
	}
	if (M.cfg->pid_file[0])
		unlink(M.cfg->pid_file);
	fg_status_stop();
	fg_log(LOG_NOTICE, "stopped");
	exit(0);
}

int fg_master_run(const struct fg_config *cfg, const struct fg_privs *privs)
{
	struct sigaction sa;
	sigset_t block, wait;
	unsigned i;

	M.cfg = cfg;
	M.privs = privs;
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
	for (i = 0; i < M.n_ls; i++) {
		int fd = M.ls[i].io.fd;
		fg_io_add(&M.loop, &M.ls[i].io, fd, on_accept, &M.ls[i]);
		M.ls[i].io.events = POLLIN;
	}
	if (!privs->drop)
		fg_log(LOG_NOTICE, "not started as root: sessions run as the current user");
	/* Shared state exists before the first fork (scoreboard.h). */
	if (fg_sb_create(cfg->max_sessions + cfg->spare_sessions + FG_SB_EXTRA_SLOTS) < 0 ||
	    fg_admit_init() < 0)
		return -1;
	fg_status_start(&M.cfg, &M.loop);
	replenish();
	fg_log(LOG_NOTICE, "ftpgate %s ready: %u listen socket(s), %u spare session process(es)",
	       PACKAGE_VERSION, M.n_ls, M.cfg->spare_sessions);

	for (;;) {
		if (got_term)
			drain_and_exit();
		if (got_hup) {
			got_hup = 0;
			fg_log(LOG_NOTICE, "SIGHUP: configuration reload is not supported yet; ignored");
		}
		if (got_chld) {
			got_chld = 0;
			reap();
		}
		if (got_usr1) {
			got_usr1 = 0;
			fg_status_log(M.cfg);
		}
		fg_admit_tick(M.cfg, fg_now_ms());
		replenish();
		if (fg_loop_once(&M.loop, 1000) < 0) {
			fg_log(LOG_ERR, "poll: %s", strerror(errno));
			return -1;
		}
	}
}
