/* session.c - one session process: setup, loop, close with a reason. */
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ftp/control.h"
#include "ftp/data.h"
#include "log.h"
#include "net.h"
#include "privsep.h"
#include "scoreboard.h"
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif
#include "banned.h"

volatile sig_atomic_t fg_session_stop;

#ifdef FG_FUZZING
/* Where fg_session_close() returns to while the harness runs session code
 * (NULL: nowhere, exit as usual). */
static jmp_buf *fuzz_jmp;
/* The harness collects what is left in c_out itself: never wait for it. */
#define CLOSE_FLUSH_MS 0
#else
/* How long the last replies get to reach the client at close. */
#define CLOSE_FLUSH_MS 2000
#endif

static void on_term(int sig)
{
	(void)sig;
	fg_session_stop = 1;
}

/* A random printable session id; ties every log line of a session together. */
static void make_id(char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[FG_SESSION_ID_LEN / 2];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t x = fg_now_ms() ^ ((uint64_t)getpid() << 32);
		memcpy(rnd, &x, sizeof(rnd) < sizeof(x) ? sizeof(rnd) : sizeof(x));
	}
	for (i = 0; i < sizeof(rnd) && 2 * i + 2 < len; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[2 * i] = '\0';
}

/* Write what is queued for the client, waiting at most ms in total. */
static void flush_client(struct fg_session *s, int ms)
{
	uint64_t end = fg_now_ms() + (uint64_t)ms;

	/* A client whose TLS handshake has not finished can read nothing. */
	if (s->ctls_on && !s->ctls.handshake_done)
		return;
	while (fg_buf_len(&s->c_out) > 0 && s->cc.added) {
		/* TLS may have to read before it can write. */
		short ev = s->c_wwant ? s->c_wwant : POLLOUT;
		struct pollfd p = {s->cc.fd, ev, 0};
		uint64_t now = fg_now_ms();
		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
			break;
		if (fg_ctrl_write_client(s) < 0 && errno != EAGAIN)
			break;
	}
	/* A TLS client gets our close_notify: its next read sees a clean
	 * end, not a truncation.  Best effort, never waited for. */
	if (s->ctls_on && s->ctls.handshake_done && fg_buf_len(&s->c_out) == 0)
		(void)fg_tls_shutdown(&s->ctls);
}

void fg_session_close(struct fg_session *s, const char *reason, const char *reply)
{
	uint64_t ms = fg_now_ms() - s->started_ms;

	if (s->ctrl != FG_CTRL_CLOSING) {
		fg_ctrl_set(s, FG_CTRL_CLOSING);
		/* Whole or not at all: a lone CRLF after a failed append
		 * would be a malformed reply. */
		if (reply && fg_buf_room(&s->c_out) >= strlen(reply) + 2) {
			(void)fg_buf_append(&s->c_out, reply, strlen(reply));
			(void)fg_buf_append(&s->c_out, "\r\n", 2);
		}
		fg_ctrl_transfer_cut(s);
		fg_data_reset(s, true);
		flush_client(s, CLOSE_FLUSH_MS);
		/* The backend, too, sees a clean end of its TLS control
		 * connection (best effort). */
		if (s->btls_on && s->btls.handshake_done)
			(void)fg_tls_shutdown(&s->btls);
		fg_audit("close", "reason=\"%s\" seconds=%llu.%03llu transfers=%u bytes_up=%llu bytes_down=%llu",
			 reason, (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
			 s->transfers, (unsigned long long)s->bytes_up, (unsigned long long)s->bytes_down);
	}
#ifdef FG_FUZZING
	/* The fuzz harness runs many sessions in one process: back to it. */
	if (fuzz_jmp)
		longjmp(*fuzz_jmp, 1);
#endif
#ifdef __SANITIZE_ADDRESS__
	/* _exit() skips LeakSanitizer; sanitizer builds check every session
	 * that runs without the seccomp filter.  Under it LeakSanitizer cannot
	 * work (it needs a thread, ptrace and /proc), and a failed check would
	 * look like a crash. */
	if (!fg_privs_sandboxed())
		__lsan_do_leak_check();
#endif
	/* The process ends here: the kernel closes every socket. */
	_exit(0);
}

/* Set up s for a session on client fd `fd`: buffers, the client socket,
 * the data state; waitmask is the signal mask while the loop sleeps (NULL:
 * the current one).  Returns 0; -1 when memory is short; -2 when the
 * client is already gone.  Each failure is logged. */
static int session_init(struct fg_session *s, const struct fg_config *cfg,
			const struct fg_listener *lst, int fd, const sigset_t *waitmask)
{
	char peer[FG_ADDRSTRLEN], local[FG_ADDRSTRLEN];
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->lst = lst;
	s->started_ms = fg_now_ms();
	s->cc.fd = s->bc.fd = s->cd.fd = s->bd.fd = s->plisten.fd = s->lbd.fd = -1;
	s->ctrl = FG_CTRL_CONNECTING;
	fg_tls_init(&s->ctls);
	fg_tls_init(&s->btls);
	fg_tls_init(&s->cdt);
	fg_tls_init(&s->bdt);
	fg_tls_init(&s->lbdt);
	make_id(s->id, sizeof(s->id));
	fg_log_set_session(s->id);
	fg_loop_init(&s->loop, waitmask);

	if (fg_buf_init(&s->c_in, FG_CTRL_INBUF) < 0 || fg_buf_init(&s->c_out, FG_CTRL_OUTBUF) < 0 ||
	    fg_buf_init(&s->b_in, FG_CTRL_INBUF) < 0 || fg_buf_init(&s->b_out, FG_CTRL_INBUF) < 0 ||
	    fg_buf_init(&s->queue, FG_CTRL_INBUF) < 0 || fg_reply_reader_init(&s->reply) < 0) {
		fg_log(LOG_ERR, "out of memory");
		return -1;
	}
	fg_cmd_reader_init(&s->reader);

	/* Ticket keys of our own: no other session can decrypt ours. */
	if (lst->tls_ctx && fg_tls_ctx_child_init(lst->tls_ctx) < 0) {
		fg_log(LOG_ERR, "cannot make TLS ticket keys");
		return -1;
	}
	fg_net_nonblock(fd);
	fg_net_control_opts(fd);
	/* Urgent data (Telnet Synch before ABOR) stays in the byte stream. */
	(void)setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	if (fg_net_peer(fd, &s->client_peer) < 0 || fg_net_local(fd, &s->client_local) < 0) {
		fg_log(LOG_NOTICE, "client went away before the session started");
		return -2;
	}
	fg_ctrl_attach_client(s, fd);
	fg_data_init(s);
	fg_audit("open", "client=%s local=%s listener=%s",
		 fg_net_ntop((struct sockaddr *)&s->client_peer.ss, true, peer, sizeof(peer)),
		 fg_net_ntop((struct sockaddr *)&s->client_local.ss, true, local, sizeof(local)),
		 lst->name);
	return 0;
}

/* Before each poll of the loop: end the session on SIGTERM, take in what
 * TLS holds decrypted, and say which events each socket waits for. */
static void before_poll(struct fg_session *s)
{
	if (fg_session_stop)
		fg_session_close(s, "ftpgate is shutting down",
				 "421 Service not available, closing control connection.");
	fg_ctrl_pending(s);
	fg_ctrl_interest(s);
	fg_data_interest(s);
}

static void poll_failed(struct fg_session *s)
{
	fg_session_close(s, "poll failed", "421 Local error, closing control connection.");
}

void fg_session_run(const struct fg_config *cfg, const struct fg_listener *lst, int fd)
{
	static struct fg_session sess;
	struct fg_session *s = &sess;
	struct sigaction sa;
	sigset_t block, wait;
	int r;

	/* Signals reach us only while the loop sleeps. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL); /* splice() to a closed socket raises it */
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &wait);
	sigdelset(&wait, SIGTERM);
	sigdelset(&wait, SIGINT);

	r = session_init(s, cfg, lst, fd, &wait);
	if (r < 0)
		_exit(r == -1 ? 1 : 0);
	fg_ctrl_start(s);

	for (;;) {
		before_poll(s);
		/* What changed this round becomes visible to the master. */
		fg_sb_update(s);
		if (fg_loop_once(&s->loop, -1) < 0)
			poll_failed(s);
	}
}

#ifdef FG_FUZZING
struct fg_session *fg_session_fuzz_start(const struct fg_config *cfg,
					 const struct fg_listener *lst, int fd)
{
	static struct fg_session sess;
	struct fg_session *s = &sess;
	jmp_buf jb;

	if (session_init(s, cfg, lst, fd, NULL) < 0) {
		fg_session_fuzz_end(s);
		return NULL;
	}
	fuzz_jmp = &jb;
	if (setjmp(jb) == 0)
		fg_ctrl_start(s); /* may end the session: no server reachable */
	fuzz_jmp = NULL;
	return s;
}

/* True when one of the session's sockets is ready for the events it waits
 * for, or a timer is due: a round of the loop would do something. */
static bool fuzz_ready(struct fg_session *s)
{
	struct pollfd pfd[FG_LOOP_MAX_IO];
	uint64_t now = fg_now_ms();
	unsigned i, n = 0;

	for (i = 0; i < s->loop.n_timers; i++)
		if (s->loop.timers[i]->deadline <= now)
			return true;
	for (i = 0; i < s->loop.n_io; i++) {
		if (!s->loop.io[i]->events)
			continue;
		pfd[n].fd = s->loop.io[i]->fd;
		pfd[n].events = s->loop.io[i]->events;
		pfd[n].revents = 0;
		n++;
	}
	return n > 0 && poll(pfd, n, 0) > 0;
}

int fg_session_fuzz_step(struct fg_session *s)
{
	jmp_buf jb;
	int busy = 0;

	if (s->ctrl == FG_CTRL_CLOSING)
		return -1;
	fuzz_jmp = &jb;
	if (setjmp(jb) != 0) {
		fuzz_jmp = NULL;
		return -1;
	}
	before_poll(s);
	if (fuzz_ready(s)) {
		busy = 1;
		if (fg_loop_once(&s->loop, 0) < 0)
			poll_failed(s);
	}
	fuzz_jmp = NULL;
	return busy;
}

void fg_session_fuzz_end(struct fg_session *s)
{
	s->ctrl = FG_CTRL_CLOSING; /* nothing may linger */
	fg_data_reset(s, true);
	fg_tls_free(&s->ctls);
	fg_tls_free(&s->btls);
	if (s->bc.added) {
		close(s->bc.fd);
		fg_io_del(&s->loop, &s->bc);
	}
	if (s->cc.added) {
		close(s->cc.fd);
		fg_io_del(&s->loop, &s->cc);
	}
	fg_buf_free(&s->c_in);
	fg_buf_free(&s->c_out);
	fg_buf_free(&s->b_in);
	fg_buf_free(&s->b_out);
	fg_buf_free(&s->queue);
	fg_reply_reader_free(&s->reply);
	fg_log_set_session(NULL);
}
#endif
