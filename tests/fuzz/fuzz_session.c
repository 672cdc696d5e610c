/* fuzz_session.c - libFuzzer harness for a whole session: the control
 * state machine (ftp/control.c), the data channel (ftp/data.c), the
 * command and reply readers, the relay and the timers, driven from both
 * sides at once.
 *
 * Each input is one session.  The harness plays the client and the backend
 * server over real TCP sockets on loopback, so getpeername(), the passive
 * ports, PORT/EPRT and the backend data connections all work as they do in
 * the daemon.  The session runs in this process through the FG_FUZZING
 * entry points of session.c: fg_session_close() returns here (longjmp)
 * instead of ending the process, and the loop runs one non-sleeping round
 * at a time.  Nothing sleeps: timers fire only when the input says so.
 *
 * Addresses (IPv4 inputs; IPv6 inputs use ::1 for everything):
 *   127.0.0.10  the proxy: its listener (the harness accepts the client's
 *               connection and hands it to the session) and passive ports
 *               (40000-49999, away from the integration tests' range)
 *   127.0.0.11  the client (control and data; its PORT/EPRT listener, and
 *               a "dead" port: bound, not listening, connections refused)
 *   127.0.0.12  the backend server (control listener, data listener, a
 *               dead port, and a "black hole": a listener whose full queue
 *               drops SYNs, so a connect to it hangs)
 *   127.0.0.13  a third party that races the client to a passive port
 * Distinct addresses make a wrong dial visible: the session may dial only
 * the backend host and the client host (port >= 1024).  Nothing here ever
 * leaves loopback.
 *
 * Turns: after each record the harness (one poll() over its sockets:
 * accept, read, write) and the session (fg_session_fuzz_step(): one loop
 * round with a zero timeout) take turns until neither moved anything twice
 * in a row, at most MAX_SETTLE_ROUNDS (MAX_INPUT_ROUNDS per input).  Our
 * sockets use TCP_NODELAY, so loopback delivers each write at once.
 * Timers have 60 s timeouts and fire only through OP_TIMER, which sets a
 * deadline to "now": inputs replay the same way however slow the machine.
 *
 * Input format:
 *   byte 0: flags: 1 IPv6, 2 data_relay = splice, 4 listener banner,
 *           8 a dead backend server listed first, 16 debug logging,
 *           32 small socket buffers on the client control connection,
 *           64 passive_address set, 128 a black-holed backend server
 *           (its SYNs are dropped: the connect hangs) listed first
 *   then records, each [op byte] and, for ops that take one, [len byte]
 *   [len bytes] (raw bytes) or [1 byte] (an index or a size).  A record
 *   cut by the end of the input uses what is there.
 * After each record the harness and the session run in turns until
 * neither has anything to do (bounded).
 *
 * Invariants (abort() when broken):
 *   - no crash, no sanitizer report, no leaked file descriptor or memory;
 *   - the bytes the client receives are a well-formed stream of FTP
 *     replies (fg_reply_reader accepts all of it) that ends at the end of
 *     a reply;
 *   - no reply line the client receives is a 227/229 whose port is not a
 *     passive port the session opened itself (a backend 227/229 passed on
 *     verbatim leaks the backend's address and port);
 *   - commands reach the backend one at a time: at any moment the backend
 *     has received no more commands than it has sent final replies
 *     (counting its 220 greeting);
 *   - every line the backend receives is one clean command line: CRLF at
 *     the end, no NUL, CR or LF inside, every 0xFF doubled (Telnet IAC
 *     IAC), at most FG_MAX_CMD_LINE bytes;
 *   - the session connects only to the backend host or to the client host
 *     (port >= 1024), and listens only on ports of passive_ports.
 *
 * Seeds: tests/fuzz/mk_session_corpus.py writes corpus/fuzz_session/ from
 * scripted sessions (keep its op list in step with the enum below).
 * Set FUZZ_SESSION_LOG=1 in the environment to see the session's log and
 * what each peer received on stderr (with debug traces for inputs that set
 * flag 16). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sanitizer/common_interface_defs.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "log.h"
#include "net.h"
#include "session.h"
#include "ftp/addr.h"
#include "ftp/reply.h"
#ifdef FUZZ_TLS
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "tls/tls.h"
#endif

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__ubsan_default_options(void);

/* Input flags (byte 0). */
#define F_V6      0x01
#define F_SPLICE  0x02
#define F_BANNER  0x04
#define F_DEAD    0x08
#define F_DEBUG   0x10
#define F_SMALL   0x20
#define F_PASVADDR 0x40
#define F_BLACKHOLE 0x80

/* Record ops (op byte modulo OP_COUNT). */
enum {
	OP_C_SEND,       /* len + bytes: client control sends raw bytes */
	OP_B_SEND,       /* len + bytes: backend control sends raw bytes */
	OP_C_CMD,        /* 1 byte: client sends a canned command line */
	OP_B_REPLY,      /* 1 byte: backend sends a canned reply */
	OP_C_DCONNECT,   /* client connects to the last passive port offered */
	OP_THIEF,        /* a third host connects to that port first */
	OP_C_DSEND,      /* len + bytes: on the client's latest data connection */
	OP_B_DSEND,      /* len + bytes: on the backend's latest data connection */
	OP_BULK,         /* 1 byte: bits 0-1 where (client data, backend data, client
			  * control, backend control), bits 2-5 units - 1 (32 KiB
			  * on data; on control 1 KiB of text without LF for the
			  * client, 16 KiB of "1234 ..." reply lines for the
			  * backend) */
	OP_C_DSHUT,      /* client data: shutdown(SHUT_WR) (end of upload) */
	OP_B_DSHUT,      /* backend data: shutdown(SHUT_WR) (end of download) */
	OP_C_DRST,       /* client data: close with RST */
	OP_B_DRST,       /* backend data: close with RST */
	OP_C_SHUT,       /* client control: shutdown(SHUT_WR) */
	OP_C_RST,        /* client control: close with RST */
	OP_B_SHUT,       /* backend control: shutdown(SHUT_WR) */
	OP_B_RST,        /* backend control: close with RST */
	OP_TIMER,        /* 1 byte: fire timer (idle, wait, data, flush) now */
	OP_STOP,         /* SIGTERM reached the session */
	OP_C_URGENT,     /* 1 byte: client sends it as TCP urgent data */
	OP_C_READ,       /* client stops / starts reading its control connection */
	OP_COUNT
};

/* Bounds that keep an input fast (target: well over 50 inputs/s). */
#define MAX_RECORDS 200
#define MAX_SETTLE_ROUNDS 64
#define MAX_INPUT_ROUNDS 3000
#define MAX_DATA_CONNS 8
#define MAX_OUT (2 * 1024 * 1024)
#define MAX_OWNED_PORTS 64

/* Passive ports: outside the range the integration tests pick from. */
#define PASV_LO 40000
#define PASV_HI 49999

/* One socket end the harness owns, with bytes waiting to be written. */
struct conn {
	int fd;             /* -1: none */
	uint8_t *out;       /* pending output (malloc'd, MAX_OUT cap) */
	size_t out_len;
	bool shut_wr;       /* shutdown(SHUT_WR) once out is written */
	bool eof;           /* the session closed its end (control only) */
};

/* Addresses and listeners of one family, set up once. */
struct family {
	int af;
	struct fg_sockaddr proxy, client, backend, thief;
	int proxy_lfd, b_lfd, bd_lfd, cd_lfd;  /* listeners */
	int dead_fd, cdead_fd;                 /* bound, not listening: refused */
	int hole_fd, hole_cfd;                 /* listener with a full queue: SYNs dropped */
	uint16_t proxy_port, b_port, bd_port, cd_port, dead_port, cdead_port, hole_port;
	struct fg_config cfg;
};

static struct family fam4, fam6;

/* State of the input being run. */
static struct {
	struct family *f;
	struct fg_session *s;
	bool closed;               /* fg_session_close() ran */
	bool in_session;           /* session code is running (for connect/listen) */
	struct conn cc, bc;        /* client / backend control */
	struct conn cdata[MAX_DATA_CONNS], bdata[MAX_DATA_CONNS];
	unsigned n_cdata, n_bdata;
	bool client_reading;

	/* client side: the reply stream it received */
	struct fg_reply_reader creply;
	bool creply_partial;       /* bytes of an unfinished reply are held */
	bool client_tls;           /* the client got a 234: TLS bytes follow, not replies */
	uint16_t pasv_port;        /* port of the last passive reply (0: none) */
	uint16_t owned[MAX_OWNED_PORTS];
	unsigned n_owned;

	/* backend side: replies sent, commands received */
	struct fg_reply_reader bsent;
	bool bsent_broken;         /* the backend sent a malformed reply */
	unsigned long finals_sent; /* final replies, the greeting included */
	unsigned long cmds_got;
	uint8_t bline[2 * FG_MAX_CMD_LINE + 8];
	size_t bline_len;
	bool bline_toolong;

	unsigned rounds;
} H;

/* File descriptors below FD_CHECK open before the first input. */
#define FD_CHECK 512
static bool fd_open0[FD_CHECK], fd_now[FD_CHECK];
static bool fd_checked;

/* Fill fd_now with which fds below FD_CHECK are open (one poll(): closed
 * fds answer POLLNVAL).  Returns the number that differ from fd_open0. */
static int fd_open_mask(void)
{
	static struct pollfd pfd[FD_CHECK];
	int fd, diff = 0;

	for (fd = 0; fd < FD_CHECK; fd++)
		pfd[fd] = (struct pollfd){fd, 0, 0};
	(void)poll(pfd, FD_CHECK, 0);
	for (fd = 0; fd < FD_CHECK; fd++) {
		fd_now[fd] = !(pfd[fd].revents & POLLNVAL);
		diff += fd_now[fd] != fd_open0[fd];
	}
	return diff;
}
static bool log_to_stderr;
static uint8_t scratch[256 * 1024];

/* UBSan findings must stop the run like ASan ones. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* ---- interposed libc calls ----------------------------------------------- */

/* No syslog from thousands of sessions; stderr on request. */
void openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
}

/* The session's log lines: dropped, or printed with FUZZ_SESSION_LOG. */
void syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	(void)prio;
	if (!log_to_stderr)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Port of a listening socket of the session: must be a passive port; it is
 * remembered as one the session owns (its 227/229 may name it). */
int listen(int fd, int backlog)
{
	int r = (int)syscall(SYS_listen, fd, backlog);

	if (r == 0 && H.in_session) {
		struct fg_sockaddr a;
		uint16_t port;

		if (fg_net_local(fd, &a) < 0)
			abort();
		port = fg_net_port((struct sockaddr *)&a.ss);
		if (port < PASV_LO || port > PASV_HI) {
			fprintf(stderr, "session listens on port %u, outside passive_ports\n", port);
			abort();
		}
		/* A ring: the port a 227/229 names is always a recent one. */
		H.owned[H.n_owned++ % MAX_OWNED_PORTS] = port;
	}
	return r;
}

/* Every connect() of the session goes to the backend host or to the
 * client host (port >= 1024); anything else is a dial the proxy let a
 * peer choose. */
int connect(int fd, const struct sockaddr *to, socklen_t len)
{
	if (H.in_session) {
		const struct family *f = H.f;
		bool ok = fg_net_same_host(to, (const struct sockaddr *)&f->backend.ss) ||
			  (fg_net_same_host(to, (const struct sockaddr *)&f->client.ss) &&
			   fg_net_port(to) >= 1024);
		if (!ok) {
			char addr[FG_ADDRSTRLEN];
			fprintf(stderr, "session dialled %s\n", fg_net_ntop(to, true, addr, sizeof(addr)));
			abort();
		}
	}
	return (int)syscall(SYS_connect, fd, to, len);
}

/* ---- setup ------------------------------------------------------------------ */

/* A socket of a's family bound to a (port 0: any) and, with backlog > 0,
 * listening.  Returns the fd; aborts on failure. */
static int bound_socket(const struct fg_sockaddr *a, int backlog, uint16_t *port)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct fg_sockaddr local;

	if (fd < 0 || bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
		abort();
	if (backlog > 0 && syscall(SYS_listen, fd, backlog) < 0)
		abort();
	if (fg_net_local(fd, &local) < 0)
		abort();
	*port = fg_net_port((struct sockaddr *)&local.ss);
	return fd;
}

#ifdef FUZZ_TLS
/* fuzz_session_tls: the listener offers TLS (explicit, or required when
 * the input has F_SMALL), with a throwaway self-signed certificate written
 * once at start.  The harness's client never completes a handshake: after
 * AUTH TLS its bytes are handshake garbage.  What this covers is the
 * command side of FTPS (the gate of a required listener, AUTH and what
 * was pipelined behind it, PBSZ, PROT, CCC, FEAT) and a session that
 * fails its handshake. */
static char tls_dir[] = "/tmp/fuzz_session_tls.XXXXXX";
static char tls_cert[sizeof(tls_dir) + 16], tls_key[sizeof(tls_dir) + 16];

static void tls_files(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *fc, *fk;

	if (!key || !x || !mkdtemp(tls_dir))
		abort();
	(void)snprintf(tls_cert, sizeof(tls_cert), "%s/cert.pem", tls_dir);
	(void)snprintf(tls_key, sizeof(tls_key), "%s/key.pem", tls_dir);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, key, EVP_sha256()))
		abort();
	fc = fopen(tls_cert, "w");
	fk = fopen(tls_key, "w");
	if (!fc || !fk || !PEM_write_X509(fc, x) || !PEM_write_PrivateKey(fk, key, NULL, NULL, 0, NULL, NULL))
		abort();
	fclose(fc);
	fclose(fk);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void tls_files_remove(void)
{
	unlink(tls_cert);
	unlink(tls_key);
	rmdir(tls_dir);
}
#endif

/* Set up the addresses, listeners and configuration of one family. */
static void family_init(struct family *f, int af)
{
	const char *hosts4[] = {"127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"};
	struct fg_sockaddr *addrs[] = {&f->proxy, &f->client, &f->backend, &f->thief};
	char text[2048], b[FG_ADDRSTRLEN], p[FG_ADDRSTRLEN];
	FILE *errs = fopen("/dev/null", "w");
	unsigned i;
	int n;

	f->af = af;
	for (i = 0; i < 4; i++)
		if (fg_net_parse_host(af == AF_INET ? hosts4[i] : "::1", addrs[i]) < 0)
			abort();
	f->proxy_lfd = bound_socket(&f->proxy, 64, &f->proxy_port);
	f->b_lfd = bound_socket(&f->backend, 64, &f->b_port);
	f->bd_lfd = bound_socket(&f->backend, 64, &f->bd_port);
	f->cd_lfd = bound_socket(&f->client, 64, &f->cd_port);
	f->dead_fd = bound_socket(&f->backend, 0, &f->dead_port);
	f->cdead_fd = bound_socket(&f->client, 0, &f->cdead_port);
	/* Backlog 0 holds one connection; ours fills it for good. */
	f->hole_fd = bound_socket(&f->backend, 0, &f->hole_port);
	if (syscall(SYS_listen, f->hole_fd, 0) < 0)
		abort();
	fg_net_set_port((struct sockaddr *)&f->backend.ss, f->hole_port);
	f->hole_cfd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->hole_cfd < 0 ||
	    syscall(SYS_connect, f->hole_cfd, (struct sockaddr *)&f->backend.ss, f->backend.len) < 0)
		abort();

	fg_net_set_port((struct sockaddr *)&f->backend.ss, f->b_port);
	fg_net_ntop((struct sockaddr *)&f->backend.ss, true, b, sizeof(b));
	fg_net_set_port((struct sockaddr *)&f->proxy.ss, f->proxy_port);
	fg_net_ntop((struct sockaddr *)&f->proxy.ss, true, p, sizeof(p));
	fg_net_set_port((struct sockaddr *)&f->backend.ss, 0);
	fg_net_set_port((struct sockaddr *)&f->proxy.ss, 0);
	n = snprintf(text, sizeof(text),
		     "[global]\nconnect_timeout = 60\nidle_timeout = 60\ndata_timeout = 60\n"
		     "[listener fuzz]\nlisten = %s\nbackend = b\npassive_ports = %d-%d\n"
#ifdef FUZZ_TLS
		     "tls = explicit\ntls_cert = %s\ntls_key = %s\n"
#endif
		     "[backend b]\nservers = %s\n",
		     p, PASV_LO, PASV_HI,
#ifdef FUZZ_TLS
		     tls_cert, tls_key,
#endif
		     b);
	if (n < 0 || (size_t)n >= sizeof(text) || !errs)
		abort();
	if (fg_config_load_string(&f->cfg, "fuzz.conf", text, (size_t)n, errs) != 0)
		abort();
#ifdef FUZZ_TLS
	if (fg_tls_config_build(&f->cfg, errs) != 0 || !f->cfg.listeners[0].tls_ctx)
		abort();
#endif
	fclose(errs);
	if (f->cfg.n_listeners != 1 || f->cfg.n_backends != 1)
		abort();
}

/* Once per process: listeners, addresses and configurations of both
 * families, and the reply readers of the two peers. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char sym[256];

	log_to_stderr = getenv("FUZZ_SESSION_LOG") != NULL;
	/* libFuzzer names each new function it reaches ("NEW_FUNC ..."): the
	 * first time, the sanitizer starts llvm-symbolizer and keeps two pipes
	 * to it for good.  Start it now, so those fds predate the leak check. */
	__sanitizer_symbolize_pc((void *)(uintptr_t)&LLVMFuzzerTestOneInput, "%p %F %L", sym, sizeof(sym));
	/* splice() to a closed socket raises SIGPIPE (the daemon ignores it). */
	signal(SIGPIPE, SIG_IGN);
#ifdef FUZZ_TLS
	tls_files();
	atexit(tls_files_remove);
#endif
	family_init(&fam4, AF_INET);
	family_init(&fam6, AF_INET6);
	if (fg_reply_reader_init(&H.creply) < 0 || fg_reply_reader_init(&H.bsent) < 0)
		abort();
	H.cc.fd = H.bc.fd = -1;
	for (unsigned i = 0; i < MAX_DATA_CONNS; i++)
		H.cdata[i].fd = H.bdata[i].fd = -1;
	return 0;
}

/* ---- connections -------------------------------------------------------- */

/* Close c (RST when rst) and forget what it had pending. */
static void conn_close(struct conn *c, bool rst)
{
	if (c->fd >= 0) {
		if (rst) {
			struct linger lg = {1, 0};
			(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(c->fd);
	}
	c->fd = -1;
	c->out_len = 0;
	c->shut_wr = false;
	c->eof = false;
}

/* Take fd into c (closing what c had). */
static void conn_set(struct conn *c, int fd)
{
	int one = 1;

	conn_close(c, true);
	c->fd = fd;
	/* Without it Nagle holds a small write until the session's delayed
	 * ACK (40 ms): the turns would end before the bytes arrive. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!c->out && !(c->out = malloc(MAX_OUT)))
		abort();
}

/* Queue bytes on c (dropped beyond MAX_OUT or when c is closed). */
static void conn_queue(struct conn *c, const void *p, size_t n)
{
	if (c->fd < 0 || c->shut_wr)
		return;
	if (n > MAX_OUT - c->out_len)
		n = MAX_OUT - c->out_len;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void backend_sent(const uint8_t *p, size_t n);

/* Write what c has pending.  Returns true if bytes moved. */
static bool conn_flush(struct conn *c)
{
	bool moved = false;

	while (c->fd >= 0 && c->out_len > 0) {
		ssize_t r = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r <= 0) {
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				return moved;
			c->out_len = 0; /* the session's end is gone */
			break;
		}
		if (c == &H.bc)
			backend_sent(c->out, (size_t)r);
		memmove(c->out, c->out + r, c->out_len - (size_t)r);
		c->out_len -= (size_t)r;
		moved = true;
	}
	if (c->fd >= 0 && c->shut_wr && c->out_len == 0) {
		(void)shutdown(c->fd, SHUT_WR);
		c->shut_wr = false;
		moved = true;
	}
	return moved;
}

/* Accept every pending connection of lfd into the list (or RST it when
 * the list is full).  Returns true if one was accepted. */
static bool accept_into(int lfd, struct conn *list, unsigned *n, bool single)
{
	bool got = false;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		got = true;
		if (single) {
			conn_set(&list[0], fd);
			continue;
		}
		if (*n >= MAX_DATA_CONNS) {
			struct conn tmp = {fd, NULL, 0, false, false};
			conn_close(&tmp, true);
			continue;
		}
		conn_set(&list[(*n)++], fd);
	}
	return got;
}

/* ---- what the client receives ------------------------------------------- */

/* True if the session opened a listener on port in this input. */
static bool owned_port(uint16_t port)
{
	for (unsigned i = 0; i < H.n_owned && i < MAX_OWNED_PORTS; i++)
		if (H.owned[i] == port)
			return true;
	return false;
}

/* Check one whole reply the client received. */
static void client_reply(const char *p, size_t len, int code)
{
	size_t i = 0;

	while (i < len) {
		const char *line = p + i;
		const char *eol = memchr(line, '\n', len - i);
		size_t ll = eol ? (size_t)(eol - line) + 1 : len - i;
		uint16_t port = 0;
		bool is227 = ll >= 4 && memcmp(line, "227", 3) == 0 && (line[3] == ' ' || line[3] == '-');
		bool is229 = ll >= 4 && memcmp(line, "229", 3) == 0 && (line[3] == ' ' || line[3] == '-');

		if (is227) {
			struct sockaddr_in a4;
			if (fg_addr_parse_227(line, ll, &a4) == 0)
				port = ntohs(a4.sin_port);
		} else if (is229) {
			(void)fg_addr_parse_229(line, ll, &port);
		}
		if (port != 0 && !owned_port(port)) {
			fprintf(stderr, "client got a %.3s line naming port %u, not a passive port of the session: %.*s",
				line, port, (int)ll, line);
			abort();
		}
		if (port != 0 && i == 0 && (code == 227 || code == 229))
			H.pasv_port = port;
		i += ll;
	}
}

/* With FUZZ_SESSION_LOG: show bytes a peer received. */
static void trace(const char *who, const uint8_t *p, size_t n)
{
	char esc[512];

	if (log_to_stderr)
		fprintf(stderr, "%s: %s\n", who, fg_log_escape(esc, sizeof(esc), (const char *)p, n));
}

/* Feed bytes the client received to its reply reader. */
static void client_got(const uint8_t *p, size_t n)
{
	trace("client got", p, n);
	while (n > 0 && !H.client_tls) {
		size_t used = 0;
		enum fg_reply_status st = fg_reply_feed(&H.creply, (const char *)p, n, &used);

		if (st == FG_REPLY_ERROR) {
			fprintf(stderr, "client got a malformed reply stream: %s\n", H.creply.error);
			abort();
		}
		p += used;
		n -= used;
		if (st == FG_REPLY_DONE) {
			H.creply_partial = false;
			client_reply(fg_buf_ptr(&H.creply.text), fg_buf_len(&H.creply.text), H.creply.code);
			/* After a 234 the session speaks TLS (fuzz_session_tls). */
			H.client_tls = H.creply.code == 234;
		} else {
			H.creply_partial = true;
		}
	}
}

/* ---- what the backend sends and receives -------------------------------- */

/* The backend wrote these bytes: count its final replies. */
static void backend_sent(const uint8_t *p, size_t n)
{
	while (n > 0 && !H.bsent_broken) {
		size_t used = 0;
		enum fg_reply_status st = fg_reply_feed(&H.bsent, (const char *)p, n, &used);

		if (st == FG_REPLY_ERROR) {
			/* The session stops reading here too and ends. */
			H.bsent_broken = true;
			return;
		}
		p += used;
		n -= used;
		if (st == FG_REPLY_DONE && !fg_reply_is_prelim(H.bsent.code))
			H.finals_sent++;
	}
}

/* A whole line (with its LF) reached the backend: check it. */
static void backend_line(const uint8_t *l, size_t len)
{
	size_t i;

	if (H.bline_toolong || len < 2 || l[len - 2] != '\r' || len > FG_MAX_CMD_LINE + FG_MAX_CMD_LINE) {
		fprintf(stderr, "backend got a bad command line (%zu bytes)\n", len);
		abort();
	}
	for (i = 0; i + 2 < len; i++) {
		if (l[i] == '\0' || l[i] == '\r' || l[i] == '\n') {
			fprintf(stderr, "backend got a command with NUL/CR/LF inside: %.*s\n", (int)len, l);
			abort();
		}
		if (l[i] == 0xff) {
			if (i + 4 > len || l[i + 1] != 0xff) {
				fprintf(stderr, "backend got a Telnet command (IAC %#x) inside a command line\n",
					l[i + 1]);
				abort();
			}
			i++;
		}
	}
	H.cmds_got++;
	if (H.cmds_got > H.finals_sent) {
		fprintf(stderr, "backend got command %lu after only %lu final replies (greeting included): %.*s",
			H.cmds_got, H.finals_sent, (int)len, l);
		abort();
	}
}

/* Bytes the backend received on its control connection. */
static void backend_got(const uint8_t *p, size_t n)
{
	trace("backend got", p, n);
	for (size_t i = 0; i < n; i++) {
		if (H.bline_len < sizeof(H.bline))
			H.bline[H.bline_len++] = p[i];
		else
			H.bline_toolong = true;
		if (p[i] == '\n') {
			backend_line(H.bline, H.bline_len);
			H.bline_len = 0;
		}
	}
}

/* ---- the harness's turn ------------------------------------------------- */

/* Read what c has for us (poll said it is readable).  Control connections
 * go to their checkers; data is counted only.  A data connection the
 * session ended is closed (RST: no TIME_WAIT on either side); a control
 * connection is kept until the input ends.  Returns true if something
 * happened. */
static bool conn_read(struct conn *c, void (*sink)(const uint8_t *, size_t))
{
	bool moved = false;

	while (c->fd >= 0 && !c->eof) {
		ssize_t r = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (r > 0) {
			if (sink)
				sink(scratch, (size_t)r);
			else if (log_to_stderr)
				fprintf(stderr, "data fd %d got %zd bytes\n", c->fd, r);
			moved = true;
			if ((size_t)r < sizeof(scratch))
				break;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		/* EOF or error: the session closed its end. */
		moved = true;
		if (c == &H.cc || c == &H.bc)
			c->eof = true;
		else
			conn_close(c, true);
	}
	return moved;
}

/* One turn of the harness: accept, read, write what is ready (one poll).
 * Returns true if anything moved. */
static bool harness_turn(void)
{
	struct family *f = H.f;
	struct pollfd pfd[5 + 2 * MAX_DATA_CONNS];
	struct conn *who[5 + 2 * MAX_DATA_CONNS];
	int lfds[3] = {f->b_lfd, f->bd_lfd, f->cd_lfd};
	unsigned n = 0, i, zero = 0;
	bool moved = false;

	for (i = 0; i < 3; i++) {
		pfd[n] = (struct pollfd){lfds[i], POLLIN, 0};
		who[n++] = NULL;
	}
	{
		struct conn *all[2 + 2 * MAX_DATA_CONNS];
		unsigned k, na = 0;

		all[na++] = &H.cc;
		all[na++] = &H.bc;
		for (k = 0; k < H.n_cdata; k++)
			all[na++] = &H.cdata[k];
		for (k = 0; k < H.n_bdata; k++)
			all[na++] = &H.bdata[k];
		for (k = 0; k < na; k++) {
			short ev = 0;

			if (all[k]->fd < 0)
				continue;
			if (!all[k]->eof && (all[k] != &H.cc || H.client_reading))
				ev |= POLLIN;
			if (all[k]->out_len > 0 || all[k]->shut_wr)
				ev |= POLLOUT;
			if (!ev)
				continue;
			pfd[n] = (struct pollfd){all[k]->fd, ev, 0};
			who[n++] = all[k];
		}
	}
	if (poll(pfd, n, 0) <= 0)
		return false;
	for (i = 0; i < n; i++) {
		struct conn *c = who[i];
		short rev = pfd[i].revents;

		if (!rev)
			continue;
		if (!c) {
			if (pfd[i].fd == f->b_lfd)
				moved |= accept_into(f->b_lfd, &H.bc, &zero, true);
			else if (pfd[i].fd == f->bd_lfd)
				moved |= accept_into(f->bd_lfd, H.bdata, &H.n_bdata, false);
			else
				moved |= accept_into(f->cd_lfd, H.cdata, &H.n_cdata, false);
			continue;
		}
		/* An earlier entry may have closed or replaced this one. */
		if (c->fd != pfd[i].fd)
			continue;
		if (rev & (POLLIN | POLLHUP | POLLERR))
			moved |= conn_read(c, c == &H.cc ? client_got : c == &H.bc ? backend_got : NULL);
		if (rev & (POLLOUT | POLLHUP | POLLERR))
			moved |= conn_flush(c);
	}
	return moved;
}

/* Run harness and session in turns until both are idle twice in a row. */
static void settle(void)
{
	int quiet = 0, rounds = 0;

	while (quiet < 2 && rounds++ < MAX_SETTLE_ROUNDS && H.rounds++ < MAX_INPUT_ROUNDS) {
		bool moved = harness_turn();
		int st = 0;

		if (!H.closed) {
			H.in_session = true;
			st = fg_session_fuzz_step(H.s);
			H.in_session = false;
			if (st < 0) {
				H.closed = true;
				st = 1;
			}
		}
		quiet = moved || st ? 0 : quiet + 1;
	}
}

/* ---- input records ---------------------------------------------------------- */

/* Canned command lines; {P} {E} {T} {L} are filled in by fill_cmd(). */
static const char *const cmds[] = {
	"USER anonymous", "PASS secret", "SYST", "FEAT", "TYPE I", "PASV", "EPSV", "EPSV ALL",
	"EPSV 1", "EPSV 2", "{P}", "{E}", "{T}", "{L}", "LIST", "NLST", "MLSD", "RETR file",
	"STOR file", "APPE file", "STOU", "REST 100", "ABOR", ("\xff\xf4\xff\xf2" "ABOR"), "STAT",
	"NOOP", "QUIT", "REIN", "AUTH TLS", "PBSZ 0", "PROT P", "LPRT 4,4,127,0,0,11,2,4,1",
	"LPSV", "HELP", "CWD /pub", "PWD", "SIZE file", "MDTM file", "OPTS UTF8 ON", "ACCT x",
	"RETR \xff\xff\xf4", "STAT file", "{D}", "{ED}", "EPRT |1|127.0.0.11|99999|", "EPRT |3|x|1|",
	"EPRT |2|::1|2000|", "EPRT |1|127.0.0.13|2000|", "PORT 1,2,3", "EPSV 3",
};

/* Canned replies; {227} {229} {H227} name the backend's data listener. */
static const char *const replies[] = {
	"220 fake ready", "220-welcome\r\n 220 text\r\n220 ready", "331 password please",
	"230 logged in", "530 not logged in", "200 ok", "215 UNIX Type: L8",
	"211-Features:\r\n EPSV\r\n EPRT\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n MDTM\r\n SIZE\r\n211 End",
	"150 opening data connection", "125 data connection already open",
	"226 transfer complete", "250 ok", "350 pending", "257 \"/\" created", "421 bye",
	"425 no data connection", "426 transfer aborted", "450 busy", "451 local error",
	"500 unknown", "501 syntax", "502 not implemented", "503 bad sequence", "550 no file",
	"{227}", "{229}", "{H227}", "227 no address here", "229 Entering Extended Passive Mode (|||0|)",
	"213 12345", "110 MARK 0 = 0", "221 goodbye", "202 superfluous", "226-multi\r\n226 done",
	"200-a\r\n227 Entering Passive Mode (10,0,0,5,4,1)\r\n200 end", "120 wait a minute",
	"211-status\r\n 229 (|||40001|)\r\n211 end", "{D229}", "{D227}",
	"211-x\r\n1 digit-led inner line\r\n211-not the end\r\n211 end",
};

/* Write into out the canned command i with the harness's addresses. */
static size_t fill_cmd(unsigned i, char *out, size_t cap)
{
	const struct family *f = H.f;
	const char *c = cmds[i % (sizeof(cmds) / sizeof(cmds[0]))];
	const unsigned char *ca = (const unsigned char *)&((const struct sockaddr_in *)&fam4.client.ss)->sin_addr;
	const unsigned char *ta = (const unsigned char *)&((const struct sockaddr_in *)&fam4.thief.ss)->sin_addr;
	int n;

	if (strcmp(c, "{P}") == 0)
		n = snprintf(out, cap, "PORT %u,%u,%u,%u,%u,%u\r\n", ca[0], ca[1], ca[2], ca[3],
			     f->cd_port >> 8, f->cd_port & 255);
	else if (strcmp(c, "{T}") == 0)
		n = snprintf(out, cap, "PORT %u,%u,%u,%u,%u,%u\r\n", ta[0], ta[1], ta[2], ta[3],
			     f->cd_port >> 8, f->cd_port & 255);
	else if (strcmp(c, "{D}") == 0)
		n = snprintf(out, cap, "PORT %u,%u,%u,%u,%u,%u\r\n", ca[0], ca[1], ca[2], ca[3],
			     f->cdead_port >> 8, f->cdead_port & 255);
	else if (strcmp(c, "{ED}") == 0) {
		char a[FG_ADDRSTRLEN];
		fg_net_ntop((const struct sockaddr *)&f->client.ss, false, a, sizeof(a));
		n = snprintf(out, cap, "EPRT |%d|%s|%u|\r\n", f->af == AF_INET ? 1 : 2, a, f->cdead_port);
	} else if (strcmp(c, "{L}") == 0)
		n = snprintf(out, cap, "PORT %u,%u,%u,%u,0,21\r\n", ca[0], ca[1], ca[2], ca[3]);
	else if (strcmp(c, "{E}") == 0) {
		char a[FG_ADDRSTRLEN];
		fg_net_ntop((const struct sockaddr *)&f->client.ss, false, a, sizeof(a));
		n = snprintf(out, cap, "EPRT |%d|%s|%u|\r\n", f->af == AF_INET ? 1 : 2, a, f->cd_port);
	} else
		n = snprintf(out, cap, "%s\r\n", c);
	if (n < 0 || (size_t)n >= cap)
		abort();
	return (size_t)n;
}

/* Write into out the canned reply i with the harness's addresses. */
static size_t fill_reply(unsigned i, char *out, size_t cap)
{
	const struct family *f = H.f;
	const char *r = replies[i % (sizeof(replies) / sizeof(replies[0]))];
	const unsigned char *ba = (const unsigned char *)&((const struct sockaddr_in *)&fam4.backend.ss)->sin_addr;
	int n;

	if (strcmp(r, "{227}") == 0)
		n = snprintf(out, cap, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).\r\n",
			     ba[0], ba[1], ba[2], ba[3], f->bd_port >> 8, f->bd_port & 255);
	else if (strcmp(r, "{H227}") == 0)
		n = snprintf(out, cap, "227 Entering Passive Mode (10,0,0,5,%u,%u)\r\n",
			     f->bd_port >> 8, f->bd_port & 255);
	else if (strcmp(r, "{D227}") == 0)
		n = snprintf(out, cap, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).\r\n",
			     ba[0], ba[1], ba[2], ba[3], f->dead_port >> 8, f->dead_port & 255);
	else if (strcmp(r, "{D229}") == 0)
		n = snprintf(out, cap, "229 Entering Extended Passive Mode (|||%u|)\r\n", f->dead_port);
	else if (strcmp(r, "{229}") == 0)
		n = snprintf(out, cap, "229 Entering Extended Passive Mode (|||%u|)\r\n", f->bd_port);
	else
		n = snprintf(out, cap, "%s\r\n", r);
	if (n < 0 || (size_t)n >= cap)
		abort();
	return (size_t)n;
}

/* The latest open connection of a list, or NULL. */
static struct conn *latest(struct conn *list, unsigned n)
{
	while (n > 0)
		if (list[--n].fd >= 0)
			return &list[n];
	return NULL;
}

/* A new client data connection to the last passive port, from `from`. */
static void client_dconnect(const struct fg_sockaddr *from)
{
	struct family *f = H.f;
	struct fg_sockaddr to = f->proxy, src = *from;
	int fd;

	if (H.pasv_port == 0 || H.n_cdata >= MAX_DATA_CONNS)
		return;
	fd = socket(f->af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	fg_net_set_port((struct sockaddr *)&src.ss, 0);
	fg_net_set_port((struct sockaddr *)&to.ss, H.pasv_port);
	if (bind(fd, (struct sockaddr *)&src.ss, src.len) < 0 ||
	    (syscall(SYS_connect, fd, (struct sockaddr *)&to.ss, to.len) < 0 && errno != EINPROGRESS)) {
		close(fd);
		return;
	}
	conn_set(&H.cdata[H.n_cdata++], fd);
}

/* Fire a timer of the session now, if it is armed. */
static void fire_timer(unsigned which)
{
	struct fg_timer *t[] = {&H.s->t_idle, &H.s->t_wait, &H.s->t_data, &H.s->t_flush};

	if (!H.closed && t[which % 4]->armed)
		t[which % 4]->deadline = 0;
}

/* Queue n pattern bytes on c. */
static void queue_bulk(struct conn *c, size_t n)
{
	static uint8_t pat[32 * 1024];

	if (pat[1] == 0)
		for (size_t i = 0; i < sizeof(pat); i++)
			pat[i] = (uint8_t)(i * 7 + 1);
	while (c && n > 0) {
		size_t k = n < sizeof(pat) ? n : sizeof(pat);
		conn_queue(c, pat, k);
		n -= k;
	}
}

/* Queue n bytes of text on a control connection: one long run of letters
 * for the client (an overlong command line), lines "1234 ..." for the
 * backend (inner lines of a long multi-line reply). */
static void queue_text(struct conn *c, size_t n, bool lines)
{
	/* 64 bytes: a whole number of lines per unit. */
	static const char line[] = "1234 the quick brown fox jumps over the lazy dog 0123456789abc\r\n";
	static char letters[1024];

	if (letters[0] == 0)
		memset(letters, 'A', sizeof(letters));
	while (n > 0) {
		size_t k = lines ? sizeof(line) - 1 : sizeof(letters);

		if (k > n)
			k = n;
		conn_queue(c, lines ? line : letters, k);
		n -= k;
	}
}

/* Apply one record; returns the bytes it used. */
static size_t apply(const uint8_t *p, size_t n)
{
	unsigned op = p[0] % OP_COUNT;
	size_t used = 1, len = 0;
	const uint8_t *arg = NULL;
	unsigned b = 0;
	char line[FG_MAX_CMD_LINE];
	struct conn *c;

	if (op == OP_C_SEND || op == OP_B_SEND || op == OP_C_DSEND || op == OP_B_DSEND) {
		len = n > 1 ? p[1] : 0;
		used = n > 1 ? 2 : 1;
		if (len > n - used)
			len = n - used;
		arg = p + used;
		used += len;
	} else if (op == OP_C_CMD || op == OP_B_REPLY || op == OP_BULK || op == OP_TIMER ||
		   op == OP_C_URGENT) {
		b = n > 1 ? p[1] : 0;
		used = n > 1 ? 2 : 1;
	}
	switch (op) {
	case OP_C_SEND:
		conn_queue(&H.cc, arg, len);
		break;
	case OP_B_SEND:
		conn_queue(&H.bc, arg, len);
		break;
	case OP_C_CMD:
		len = fill_cmd(b, line, sizeof(line));
		conn_queue(&H.cc, line, len);
		break;
	case OP_B_REPLY:
		len = fill_reply(b, line, sizeof(line));
		conn_queue(&H.bc, line, len);
		break;
	case OP_C_DCONNECT:
		client_dconnect(&H.f->client);
		break;
	case OP_THIEF:
		if (H.f->af == AF_INET)
			client_dconnect(&H.f->thief);
		break;
	case OP_C_DSEND:
		if ((c = latest(H.cdata, H.n_cdata)))
			conn_queue(c, arg, len);
		break;
	case OP_B_DSEND:
		if ((c = latest(H.bdata, H.n_bdata)))
			conn_queue(c, arg, len);
		break;
	case OP_BULK:
		switch (b & 3) {
		case 0:
			queue_bulk(latest(H.cdata, H.n_cdata), (size_t)(((b >> 2) & 15) + 1) * 32 * 1024);
			break;
		case 1:
			queue_bulk(latest(H.bdata, H.n_bdata), (size_t)(((b >> 2) & 15) + 1) * 32 * 1024);
			break;
		default:
			/* The command reader goes byte by byte: a line just over
			 * FG_MAX_CMD_LINE is enough there. */
			queue_text(b & 1 ? &H.bc : &H.cc,
				   (size_t)(((b >> 2) & 15) + 1) * (b & 1 ? 16 * 1024 : 1024), b & 1);
			break;
		}
		break;
	case OP_C_DSHUT:
		if ((c = latest(H.cdata, H.n_cdata)))
			c->shut_wr = true;
		break;
	case OP_B_DSHUT:
		if ((c = latest(H.bdata, H.n_bdata)))
			c->shut_wr = true;
		break;
	case OP_C_DRST:
		if ((c = latest(H.cdata, H.n_cdata)))
			conn_close(c, true);
		break;
	case OP_B_DRST:
		if ((c = latest(H.bdata, H.n_bdata)))
			conn_close(c, true);
		break;
	case OP_C_SHUT:
		if (H.cc.fd >= 0)
			H.cc.shut_wr = true;
		break;
	case OP_C_RST:
		/* What it had not read yet is lost with it: stop checking. */
		conn_close(&H.cc, true);
		break;
	case OP_B_SHUT:
		if (H.bc.fd >= 0)
			H.bc.shut_wr = true;
		break;
	case OP_B_RST:
		conn_close(&H.bc, true);
		break;
	case OP_TIMER:
		fire_timer(b);
		break;
	case OP_STOP:
		fg_session_stop = 1;
		break;
	case OP_C_URGENT:
		if (H.cc.fd >= 0 && H.cc.out_len == 0) {
			char u = (char)b;
			(void)send(H.cc.fd, &u, 1, MSG_OOB | MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		break;
	case OP_C_READ:
		H.client_reading = !H.client_reading;
		break;
	}
	return used;
}

/* ---- one input ------------------------------------------------------------ */

/* Connect the client to the proxy's listener and start the session. */
static bool start(uint8_t flags)
{
	struct family *f = H.f;
	struct fg_listener *lst = &f->cfg.listeners[0];
	struct fg_backend *be = &f->cfg.backends[0];
	struct fg_sockaddr to = f->proxy, src = f->client;
	int cfd, sfd, small = 4096;

	f->cfg.relay_splice = (flags & F_SPLICE) != 0;
#ifdef FUZZ_TLS
	lst->tls = flags & F_SMALL ? FG_TLS_REQUIRED : FG_TLS_EXPLICIT;
#endif
	if (flags & F_BANNER)
		(void)snprintf(lst->banner, sizeof(lst->banner), "ftpgate fuzz gateway ready");
	else
		lst->banner[0] = '\0';
	be->servers[0] = f->backend;
	fg_net_set_port((struct sockaddr *)&be->servers[0].ss, f->b_port);
	be->n_servers = 1;
	if (flags & (F_DEAD | F_BLACKHOLE)) {
		be->servers[1] = be->servers[0];
		fg_net_set_port((struct sockaddr *)&be->servers[0].ss,
				flags & F_BLACKHOLE ? f->hole_port : f->dead_port);
		be->n_servers = 2;
	}
	if (flags & F_DEAD && flags & F_BLACKHOLE) {
		be->servers[2] = be->servers[1];
		fg_net_set_port((struct sockaddr *)&be->servers[1].ss, f->dead_port);
		be->n_servers = 3;
	}
	lst->has_passive_address = (flags & F_PASVADDR) && f->af == AF_INET;
	if (lst->has_passive_address && fg_net_parse_host("198.51.100.7", &lst->passive_address) < 0)
		abort();
	fg_log_open("fuzz_session", LOG_DAEMON, false, (flags & F_DEBUG) != 0);

	cfd = socket(f->af, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0)
		abort();
	if (flags & F_SMALL)
		(void)setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fg_net_set_port((struct sockaddr *)&to.ss, f->proxy_port);
	fg_net_set_port((struct sockaddr *)&src.ss, 0);
	if (bind(cfd, (struct sockaddr *)&src.ss, src.len) < 0 ||
	    syscall(SYS_connect, cfd, (struct sockaddr *)&to.ss, to.len) < 0)
		abort();
	conn_set(&H.cc, cfd);
	fg_net_nonblock(cfd);
	sfd = -1;
	for (int tries = 0; sfd < 0 && tries < 1000; tries++) {
		struct pollfd pf = {f->proxy_lfd, POLLIN, 0};
		(void)poll(&pf, 1, 10);
		sfd = accept4(f->proxy_lfd, NULL, NULL, SOCK_CLOEXEC);
	}
	if (sfd < 0)
		abort();
	if (flags & F_SMALL)
		(void)setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));

	H.in_session = true;
	H.s = fg_session_fuzz_start(&f->cfg, lst, sfd);
	H.in_session = false;
	if (!H.s) {
		close(sfd);
		return false;
	}
	H.closed = H.s->ctrl == FG_CTRL_CLOSING;
	return true;
}

/* Read everything the session has written to the client: what is in our
 * socket and what its kernel still holds in the session's send queue
 * (small buffers: it moves on only as we read). */
static void drain_client(void)
{
	int tries;

	for (tries = 0; tries < 1000 && H.cc.fd >= 0 && !H.cc.eof; tries++) {
		int outq = 0;
		struct pollfd p = {H.cc.fd, POLLIN, 0};

		if (conn_read(&H.cc, client_got))
			continue;
		if (!H.s || !H.s->cc.added || ioctl(H.s->cc.fd, SIOCOUTQ, &outq) < 0 || outq == 0)
			break;
		(void)poll(&p, 1, 10);
	}
}

/* Close and drain everything, run the end-of-input checks. */
static void finish(void)
{
	unsigned i;
	int fd;

	/* What the client has not read yet, then what the session still
	 * holds for it, complete its reply stream. */
	if (H.cc.fd >= 0) {
		H.client_reading = true;
		drain_client();
		if (H.s && fg_buf_len(&H.s->c_out) > 0)
			client_got((const uint8_t *)fg_buf_ptr(&H.s->c_out), fg_buf_len(&H.s->c_out));
		if (H.creply_partial) {
			fprintf(stderr, "the client's reply stream ends inside a reply\n");
			abort();
		}
	}
	/* Our ends first, with RST, so no socket lingers in TIME_WAIT. */
	conn_close(&H.cc, true);
	conn_close(&H.bc, true);
	for (i = 0; i < MAX_DATA_CONNS; i++) {
		conn_close(&H.cdata[i], true);
		conn_close(&H.bdata[i], true);
	}
	if (H.s)
		fg_session_fuzz_end(H.s);
	H.s = NULL;
	/* Connections nobody accepted (the session ended first). */
	{
		int lfds[] = {H.f->b_lfd, H.f->bd_lfd, H.f->cd_lfd, H.f->proxy_lfd};
		for (i = 0; i < 4; i++) {
			while ((fd = accept4(lfds[i], NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				struct conn tmp = {fd, NULL, 0, false, false};
				conn_close(&tmp, true);
			}
		}
	}
	/* Every fd the input opened is closed again.  Another thread of the
	 * process (libFuzzer's, the sanitizers') may hold a file open for a
	 * moment: only a difference that stays is a leak. */
	for (int tries = 0; tries < 5 && fd_open_mask() != 0; tries++)
		(void)poll(NULL, 0, 20);
	if (fd_open_mask() != 0) {
		for (fd = 0; fd < FD_CHECK; fd++) {
			struct fg_sockaddr a, b;
			char la[FG_ADDRSTRLEN] = "-", pa[FG_ADDRSTRLEN] = "-";
			char link[64], what[128] = "?";
			ssize_t n;

			if (fd_now[fd] == fd_open0[fd])
				continue;
			(void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
			n = readlink(link, what, sizeof(what) - 1);
			what[n > 0 ? n : 0] = '\0';
			if (fd_now[fd] && fg_net_local(fd, &a) == 0)
				fg_net_ntop((struct sockaddr *)&a.ss, true, la, sizeof(la));
			if (fd_now[fd] && fg_net_peer(fd, &b) == 0)
				fg_net_ntop((struct sockaddr *)&b.ss, true, pa, sizeof(pa));
			fprintf(stderr, "fd %d %s during the input (%s %s -> %s)\n", fd,
				fd_open0[fd] ? "closed" : "leaked", what, la, pa);
		}
		abort();
	}
}

/* Reset the per-input state (keeping buffers allocated once). */
static void reset(uint8_t flags)
{
	struct fg_buf ct = H.creply.text, bt = H.bsent.text;
	unsigned i;

	H.f = flags & F_V6 ? &fam6 : &fam4;
	H.s = NULL;
	H.closed = false;
	H.in_session = false;
	H.n_cdata = H.n_bdata = 0;
	H.client_reading = true;
	memset(&H.creply, 0, sizeof(H.creply));
	H.creply.text = ct;
	fg_buf_clear(&H.creply.text);
	memset(&H.bsent, 0, sizeof(H.bsent));
	H.bsent.text = bt;
	fg_buf_clear(&H.bsent.text);
	H.creply_partial = false;
	H.client_tls = false;
	H.pasv_port = 0;
	H.n_owned = 0;
	H.bsent_broken = false;
	H.finals_sent = H.cmds_got = 0;
	H.bline_len = 0;
	H.bline_toolong = false;
	H.rounds = 0;
	fg_session_stop = 0;
	H.cc.fd = H.bc.fd = -1;
	for (i = 0; i < MAX_DATA_CONNS; i++)
		H.cdata[i].fd = H.bdata[i].fd = -1;
}

/* One input: one session, record by record, then the end-of-input checks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 1;
	unsigned records = 0;

	if (size == 0)
		return 0;
	if (!fd_checked) {
		/* The fds open before the first input: the same after each. */
		(void)fd_open_mask();
		memcpy(fd_open0, fd_now, sizeof(fd_open0));
		fd_checked = true;
	}
	reset(data[0]);
	if (start(data[0])) {
		settle();
		while (off < size && records++ < MAX_RECORDS && H.rounds < MAX_INPUT_ROUNDS) {
			off += apply(data + off, size - off);
			settle();
		}
	}
	finish();
	return 0;
}
