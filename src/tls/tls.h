/* tls/tls.h - OpenSSL glue: contexts, non-blocking connections, session
 * reuse on data channels, and the buffered pump for TLS data legs.
 *
 * Where things happen
 *  - Contexts (SSL_CTX) are built once, in the master, while it may still
 *    read key files; session processes inherit them across fork() and
 *    never open a key or CA file.  All CA material is loaded eagerly into
 *    the context's store (PEM files only, never hashed directories, which
 *    OpenSSL reads lazily at verification time: a chrooted session could
 *    not).  After fork, a session process calls fg_tls_ctx_child_init() on
 *    each server context so that its ticket keys are its own.
 *  - A connection (struct fg_tls) wraps one SSL on one non-blocking socket.
 *    WANT_READ / WANT_WRITE are states, not errors: the call returns
 *    FG_TLS_WANT (or -1 with status FG_TLS_WANT) and t->want says which
 *    event to poll, POLLIN or POLLOUT - which may be the "other" one, e.g.
 *    SSL_write that must read first.  Retry the same call with the same
 *    arguments when that event arrives.
 *  - OpenSSL buffers decrypted bytes that poll() cannot see: after a read
 *    that filled the caller's buffer, check fg_tls_pending() before going
 *    back to poll.
 *  - SIGPIPE must be ignored (session processes do): OpenSSL writes to the
 *    socket with write(2).
 *
 * Session reuse on data channels (FTPS, RFC 4217; vsftpd's
 * require_ssl_reuse)
 *  - Client side (the backend legs): the control connection captures
 *    every new session the server issues (SSL_CTX_sess_set_new_cb), in
 *    TLS 1.2 at the end of the handshake, in TLS 1.3 whenever a
 *    NewSessionTicket arrives after it.  fg_tls_pump_tickets() processes
 *    the records that have arrived without consuming application data, so
 *    the tickets are in before fg_tls_get_session() is asked; each backend
 *    data connection then resumes that session (fg_tls_start_data()).
 *  - Server side (the client legs): every control connection gets its own
 *    random session id context.  Sessions (TLS 1.2 ids and tickets, TLS 1.3
 *    tickets) carry the context they were made in, and OpenSSL refuses to
 *    resume a session whose context differs from the connection's.  A data
 *    connection is started with its control connection's context, and
 *    fg_tls_data_matches_control() accepts it only if it was resumed and
 *    the resumed session carries that context.  So a stranger who reaches
 *    a passive port first - even from the client's own address, behind the
 *    same NAT - cannot use it: a full handshake is not a resumption, and a
 *    session from any other control connection (even one of ours, with the
 *    same ticket keys) has another context.  Resuming needs the session's
 *    secret, which only the control connection's peer has.  A full
 *    handshake on a data connection must not mint a session with the
 *    control's context either (the stranger would resume it on the next
 *    passive port): such a session gets a random context as soon as
 *    OpenSSL knows the handshake is not a resumption, before any TLS 1.2
 *    ticket is made from it or it enters the cache.  The price: a
 *    control connection never resumes an earlier control connection's
 *    session (each session process serves one client anyway).
 *  - Sessions outlive broken data connections: OpenSSL invalidates the
 *    session of a connection freed without close_notify, so the client
 *    side offers a copy of the control's session, and data connections
 *    are freed as if closed cleanly (an aborted transfer must not stop
 *    the next one from resuming).
 *  - Our server data connections issue no TLS 1.3 tickets: a client that
 *    closes without reading them would make its kernel answer with RST,
 *    which can destroy the end of an upload (curl #4654 area).
 *
 * The TLS pump has the contract of struct fg_pump (relay.h), with either
 * leg plain or TLS; see the end of this file. */
#ifndef FG_TLS_H
#define FG_TLS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <openssl/ssl.h>
#include "config.h"
#include "relay.h"

/* Longest error text of a connection (t->err), including the NUL. */
#define FG_TLS_ERRLEN 256

/* Longest host name kept for verification and SNI (RFC 1035: 253). */
#define FG_TLS_HOSTLEN 256

/* Read-ahead buffer of a TLS data connection (bytes): see tls.c. */
#define FG_TLS_READ_AHEAD (256 * 1024)

/* Session lifetime in seconds (cache and tickets): a data connection may
 * come hours after the control connection's handshake, and must still be
 * able to resume it. */
#define FG_TLS_SESSION_TIMEOUT (24 * 3600)

/* TLS 1.2 cipher list by default: ECDHE (forward secrecy) with AEAD only.
 * TLS 1.3 suites stay at OpenSSL's default. */
#define FG_TLS_DEFAULT_CIPHERS                                       \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"     \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"     \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* What a server asks of its clients' certificates. */
enum fg_tls_client_cert {
	FG_TLS_CERT_OFF = 0,    /* not asked for */
	FG_TLS_CERT_OPTIONAL,   /* asked for; verified if sent */
	FG_TLS_CERT_REQUIRED,   /* handshake fails without a valid one */
};

/* Server context options.  A zeroed struct plus cert_chain and key is
 * the secure default. */
struct fg_tls_server_opts {
	const char *cert_chain;          /* PEM: leaf first, then intermediates */
	const char *key;                 /* PEM private key, not encrypted */
	const char *ca;                  /* PEM file of CAs for client certs, or NULL */
	enum fg_tls_client_cert client_cert; /* needs ca unless OFF */
	int min_version;                 /* TLS1_2_VERSION.. ; 0 = TLS 1.2 */
	int max_version;                 /* 0 = the highest (TLS 1.3) */
	const char *ciphers;             /* TLS <= 1.2; NULL = FG_TLS_DEFAULT_CIPHERS */
	const char *ciphersuites;        /* TLS 1.3; NULL = OpenSSL's default */
	bool ktls;                       /* try kernel TLS (never required) */
};

/* Client context options.  A zeroed struct is the secure default:
 * verify the chain against the system bundle and the host name. */
struct fg_tls_client_opts {
	bool no_verify;                  /* true: accept any certificate (insecure) */
	const char *ca;                  /* PEM file of trusted CAs; NULL = system bundle */
	const char *cert, *key;          /* our client certificate, both or neither */
	int min_version, max_version;    /* as for servers */
	const char *ciphers, *ciphersuites;
	bool ktls;
};

/* Build a server context; keys and CA files are read now.  Returns the
 * context (free with SSL_CTX_free), or NULL with a message in err. */
SSL_CTX *fg_tls_server_ctx_new(const struct fg_tls_server_opts *o, char *err, size_t errlen);

/* Build a client context (for backend legs).  Returns the context, or
 * NULL with a message in err. */
SSL_CTX *fg_tls_client_ctx_new(const struct fg_tls_client_opts *o, char *err, size_t errlen);

/* In a freshly forked session process: give the server context new random
 * ticket keys, so tickets are valid only inside this process (forward
 * secrecy per session; nothing a stranger got from another session
 * decrypts here).  Returns 0, or -1. */
int fg_tls_ctx_child_init(SSL_CTX *ctx);

/* Build the context of every listener and backend with tls != off from
 * its tls_* keys (tls_config.c); in the master, at start, for -t and on
 * reload, so key and CA files are read there and never by a session.
 * Each failure is written to errs as "FILE:LINE: listener 'NAME': why".
 * Returns the number of errors (0: all built; else none is kept). */
int fg_tls_config_build(struct fg_config *cfg, FILE *errs);

/* Free the contexts fg_tls_config_build() made (safe on any config). */
void fg_tls_config_free(struct fg_config *cfg);

/* "TLSv1.2" / "TLSv1.3" (as in OpenSSL's MinProtocol) -> TLS1_2_VERSION /
 * TLS1_3_VERSION; anything else -> -1. */
int fg_tls_parse_version(const char *s);

/* "off" / "optional" / "required" -> the mode; anything else -> -1. */
int fg_tls_parse_client_cert(const char *s);

/* True when this OpenSSL was built with kernel TLS. */
bool fg_tls_ktls_supported(void);

/* ---- connections ---------------------------------------------------------- */

enum fg_tls_status {
	FG_TLS_OK = 0,     /* done (or: n bytes moved) */
	FG_TLS_WANT = 1,   /* poll t->want, then call again */
	FG_TLS_ERR = -1,   /* failed for good: t->err says why */
};

struct fg_tls {
	SSL *ssl;                        /* owned */
	int fd;                          /* not owned, non-blocking */
	bool server;
	bool data;                       /* started by fg_tls_start_data */
	bool handshake_done;
	bool peer_closed;                /* the peer's close_notify arrived */
	bool close_sent;                 /* our close_notify is in the kernel */
	bool failed;                     /* fatal error: no close_notify may follow */
	bool truncated;                  /* the peer closed without close_notify */
	enum fg_tls_status status;       /* of the last call */
	short want;                      /* POLLIN / POLLOUT while status is WANT */
	int sys_errno;                   /* errno of a socket failure, else 0 */
	SSL_SESSION *session;            /* client: newest resumable session (owned) */
	unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH]; /* server: session id context */
	unsigned sid_ctx_len;
	char host[FG_TLS_HOSTLEN];       /* client: verified name or address */
	char err[FG_TLS_ERRLEN];
};

/* Make t safe to fg_tls_free() before (or without) fg_tls_start(). */
void fg_tls_init(struct fg_tls *t);

/* Start TLS on non-blocking socket fd (not owned; close it yourself after
 * fg_tls_free).  t must stay at the same address until fg_tls_free.
 *  - server: a control connection: gets a new random session id context.
 *  - client: resume (or NULL) is a session to offer for resumption (a
 *    reference is taken); host is the backend's name or numeric address,
 *    checked against its certificate unless the context does not verify,
 *    and sent as SNI when it is a name.  NULL host: no name check (only
 *    sensible with no_verify).
 * Returns 0, or -1 with t->err set.  Then drive fg_tls_handshake(). */
int fg_tls_start(struct fg_tls *t, SSL_CTX *ctx, int fd, bool server,
		 SSL_SESSION *resume, const char *host);

/* Start TLS on a data connection that belongs to control connection
 * `control` (same side, handshake done):
 *  - server: the control connection's session id context, and no TLS 1.3
 *    tickets; check fg_tls_data_matches_control() after the handshake.
 *  - client: resumes control's newest session (fg_tls_get_session) and
 *    checks the same host.
 * Returns 0, or -1 with t->err set. */
int fg_tls_start_data(struct fg_tls *t, SSL_CTX *ctx, int fd, const struct fg_tls *control);

/* Advance the handshake.  Returns OK (done), WANT (poll t->want) or ERR
 * (t->err: OpenSSL's reason and, for certificate failures, the
 * verification result, e.g. "certificate verify failed: hostname
 * mismatch"). */
enum fg_tls_status fg_tls_handshake(struct fg_tls *t);

/* Read up to n (> 0) bytes.  Returns the count (> 0), 0 when the peer's
 * close_notify arrived (a clean end of stream; t->peer_closed), or -1 with
 * t->status WANT (poll t->want) or ERR.  A peer that closes the socket
 * without close_notify is ERR with t->truncated set: a cut-off upload must
 * never look complete. */
ssize_t fg_tls_read(struct fg_tls *t, void *buf, size_t n);

/* Write up to n bytes; partial writes happen (one record at a time).
 * Returns the count (> 0; 0 only for n == 0) or -1 with t->status WANT or
 * ERR.  After WANT, call again with the same bytes (the buffer may have
 * moved, their count may have grown) before any other write. */
ssize_t fg_tls_write(struct fg_tls *t, const void *buf, size_t n);

/* True when OpenSSL holds decrypted bytes of t that poll() cannot see
 * (a read filled the caller's buffer before the record was used up):
 * read again before polling. */
bool fg_tls_pending(const struct fg_tls *t);

/* Process every record that has arrived without consuming application
 * data, so that TLS 1.3 NewSessionTicket messages are taken in.  Returns
 * OK when a resumable session is held (or nothing more can come before the
 * application data or close that is waiting), WANT (poll t->want) when no
 * session has arrived yet, ERR on failure.  The caller bounds the wait
 * with a timer: a server may send no ticket at all. */
enum fg_tls_status fg_tls_pump_tickets(struct fg_tls *t);

/* Client: the newest resumable session the peer gave us, or NULL.  The
 * reference stays t's (valid until the next call on t or fg_tls_free);
 * fg_tls_start takes its own. */
SSL_SESSION *fg_tls_get_session(const struct fg_tls *t);

/* Client, optional: make the newest session that data received (a ticket
 * a server sent on a data connection) the one control offers from now on,
 * for servers that accept each TLS 1.3 ticket only once.  Returns true if
 * there was one. */
bool fg_tls_adopt_session(struct fg_tls *control, struct fg_tls *data);

/* True when the handshake resumed an earlier session. */
bool fg_tls_session_reused(const struct fg_tls *t);

/* Server: true when data resumed the session of control (see the top of
 * this file for why that proves it is the control connection's peer).
 * Else false with data->err set. */
bool fg_tls_data_matches_control(struct fg_tls *data, const struct fg_tls *control);

/* Send our close_notify without waiting for the peer's.  Returns OK once
 * it is in the kernel (t->close_sent), WANT (poll t->want), or ERR (also
 * when nothing may be sent: the handshake did not finish or the
 * connection failed).  The caller bounds retries with a timer. */
enum fg_tls_status fg_tls_shutdown(struct fg_tls *t);

/* After fg_tls_shutdown: read and discard until the peer's close_notify
 * or the end of the socket.  Returns OK (the peer is done), WANT, or ERR.
 * A TLS client uses it before close() so that unread tickets never turn
 * the close into a RST that could destroy the end of an upload. */
enum fg_tls_status fg_tls_await_close(struct fg_tls *t);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384 resumed=yes" (plus " ktls=tx,rx" when
 * kernel TLS carries the records); "none" before the handshake.  Returns
 * buf. */
char *fg_tls_describe(const struct fg_tls *t, char *buf, size_t len);

/* Kernel TLS in use: bit 0 send, bit 1 receive; 0 when not (or not built). */
int fg_tls_ktls_active(const struct fg_tls *t);

/* Move the connection in src to dst (another address); src is left as
 * after fg_tls_init(). */
void fg_tls_move(struct fg_tls *dst, struct fg_tls *src);

/* Free the SSL and the held session; the fd stays open.  Sends nothing:
 * call fg_tls_shutdown first for a clean close.  Safe to call twice. */
void fg_tls_free(struct fg_tls *t);

/* ---- the buffered TLS pump ------------------------------------------------- */

/* One direction of a data connection, src -> dst, each leg plain (tls
 * NULL) or TLS (handshake done), through one fixed buffer of FG_TLS_BUF
 * bytes; a full buffer is the back-pressure on src.  fg_tls_pump_run()
 * returns the statuses of fg_pump_run():
 *  - DONE only when src ended cleanly (plain: EOF; TLS: close_notify),
 *    every byte was written to dst and, for a TLS dst, our close_notify is
 *    in the kernel and (await_peer_close) the peer's close_notify or EOF
 *    arrived.  The caller then frees the TLS legs and closes the sockets.
 *    While dst_closing, all data has been delivered and only the peer's
 *    close is awaited: if the caller's timer ends that wait, the backend's
 *    reply on the control connection tells whether the upload arrived.
 *  - ERROR when a leg failed, including a TLS src that ends without
 *    close_notify (truncated: an upload cut short must get 426, never
 *    226).  error is an errno (EPROTO for TLS failures) and why the text
 *    (valid until the legs are freed).
 *  - AGAIN: poll src for want_src and dst for want_dst (either may be
 *    POLLIN or POLLOUT for a TLS leg).
 * When src has ended with close_notify we answer with ours (once, best
 * effort): clients that wait for it (Python's unwrap()) do not fail. */
struct fg_tls_pump {
	int src, dst;                    /* not owned */
	struct fg_tls *src_tls, *dst_tls; /* NULL: plain leg; not owned */
	char *buf;                       /* owned, cap bytes */
	size_t cap, off, held;           /* held bytes start at buf + off */
	uint64_t bytes;                  /* bytes delivered to dst */
	size_t max_read;                 /* largest single read from src */
	bool src_eof;                    /* clean end of src */
	bool dst_closing;                /* data and close_notify sent, waiting for the peer */
	bool await_peer_close;           /* default: true for a TLS client dst */
	short want_src, want_dst;        /* events to poll on src / dst */
	int error;                       /* errno of the failure */
	bool error_at_dst;               /* the failure was at dst (else src) */
	const char *why;                 /* text of the failure (points into a leg or static) */
};

/* Set up a pump.  Returns 0, or -1 (no memory). */
int fg_tls_pump_init(struct fg_tls_pump *p, int src, struct fg_tls *src_tls,
		     int dst, struct fg_tls *dst_tls);
void fg_tls_pump_free(struct fg_tls_pump *p);

/* Move what can be moved without blocking (bounded per call so one busy
 * transfer does not starve the control connections).  See above. */
enum fg_pump_status fg_tls_pump_run(struct fg_tls_pump *p);

#endif
