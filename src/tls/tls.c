/* tls/tls.c - OpenSSL contexts and non-blocking connections (see tls.h). */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "banned.h"

/* ---- error text ------------------------------------------------------------- */

/* Append printf-style text to the NUL-terminated string in out (len bytes
 * in all); text that does not fit is cut, out stays terminated. */
static void addf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void addf(char *out, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(out, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(out + used, len - used, fmt, ap);
	va_end(ap);
}

/* Append the reasons in OpenSSL's error queue, oldest (the root cause)
 * first, to out, and empty the queue.  Sets *eof when one of them is
 * "unexpected eof" (the peer closed without close_notify).  Returns the
 * number of reasons. */
static int add_queue(char *out, size_t len, bool *eof)
{
	unsigned long e, prev = 0;
	int n = 0;

	const char *last = NULL;

	while ((e = ERR_get_error()) != 0) {
		const char *r = ERR_reason_error_string(e);
		char code[128];

		if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING &&
		    eof)
			*eof = true;
		if (e == prev)
			continue;
		prev = e;
		if (ERR_SYSTEM_ERROR(e)) {
			/* A failed fopen() and the like: say it as errno would. */
			r = strerror(ERR_GET_REASON(e));
		} else if (!r) {
			ERR_error_string_n(e, code, sizeof(code));
			r = code;
		}
		/* OpenSSL stacks the same reason per layer ("system lib"). */
		if ((last && strcmp(last, r) == 0) || strcmp(r, "system lib") == 0)
			continue;
		if (r != code)
			last = r;
		addf(out, len, ": %s", r);
		n++;
	}
	return n;
}

/* Context errors: "what: reasons" into err. */
static void ctx_error(char *err, size_t errlen, const char *what, const char *path)
{
	if (!err || errlen == 0) {
		ERR_clear_error();
		return;
	}
	err[0] = '\0';
	if (path)
		addf(err, errlen, "%s %s", what, path);
	else
		addf(err, errlen, "%s", what);
	(void)add_queue(err, errlen, NULL);
}

/* Interpret an SSL call that did not succeed (ret from the call): WANT
 * states set t->want; a close_notify sets t->peer_closed and returns OK
 * (the caller decides what that means); anything else is fatal and
 * writes "what: reason" to t->err.  Returns the status, also kept in
 * t->status. */
static enum fg_tls_status outcome(struct fg_tls *t, int ret, const char *what)
{
	int saved = errno;
	int e = SSL_get_error(t->ssl, ret);
	bool eof = false;
	long v;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		t->want = POLLIN;
		return t->status = FG_TLS_WANT;
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		t->want = POLLOUT;
		return t->status = FG_TLS_WANT;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		t->peer_closed = true;
		t->want = 0;
		return t->status = FG_TLS_OK;
	default:
		break;
	}
	/* Fatal: OpenSSL forbids close_notify after SSL_ERROR_SSL/SYSCALL. */
	t->failed = true;
	t->want = 0;
	t->status = FG_TLS_ERR;
	t->err[0] = '\0';
	addf(t->err, sizeof(t->err), "%s", what);
	if (e == SSL_ERROR_SYSCALL) {
		(void)add_queue(t->err, sizeof(t->err), &eof);
		t->sys_errno = saved;
		if (saved)
			addf(t->err, sizeof(t->err), ": %s", strerror(saved));
		else
			eof = true;
	} else if (e == SSL_ERROR_SSL) {
		char reasons[FG_TLS_ERRLEN] = "";
		(void)add_queue(reasons, sizeof(reasons), &eof);
		/* A cut stream gets its own plain words below. */
		if (!eof)
			addf(t->err, sizeof(t->err), "%s", reasons);
		v = SSL_get_verify_result(t->ssl);
		if (!t->handshake_done && v != X509_V_OK)
			addf(t->err, sizeof(t->err), ": %s", X509_verify_cert_error_string(v));
	} else {
		ERR_clear_error();
		addf(t->err, sizeof(t->err), ": SSL error %d", e);
	}
	if (eof) {
		if (t->handshake_done) {
			t->truncated = true;
			addf(t->err, sizeof(t->err), ": peer closed the connection without close_notify (truncated)");
		} else {
			addf(t->err, sizeof(t->err), ": peer closed the connection during the handshake");
		}
	}
	return FG_TLS_ERR;
}

/* ---- contexts ----------------------------------------------------------------- */

/* Password callback for PEM keys: we never prompt (a daemon has no tty);
 * an encrypted key fails to load with a clear error instead. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/* Settings shared by server and client contexts.  Returns 0, or -1 with
 * err set. */
static int ctx_common(SSL_CTX *ctx, int min_version, int max_version, const char *ciphers,
		      const char *suites, bool ktls, char *err, size_t errlen)
{
	if (!SSL_CTX_set_min_proto_version(ctx, min_version ? min_version : TLS1_2_VERSION)) {
		ctx_error(err, errlen, "bad minimum TLS version", NULL);
		return -1;
	}
	if (max_version && !SSL_CTX_set_max_proto_version(ctx, max_version)) {
		ctx_error(err, errlen, "bad maximum TLS version", NULL);
		return -1;
	}
	if (!SSL_CTX_set_cipher_list(ctx, ciphers ? ciphers : FG_TLS_DEFAULT_CIPHERS)) {
		ctx_error(err, errlen, "bad cipher list", ciphers);
		return -1;
	}
	if (suites && !SSL_CTX_set_ciphersuites(ctx, suites)) {
		ctx_error(err, errlen, "bad TLS 1.3 cipher suites", suites);
		return -1;
	}
	/* Renegotiation buys nothing for FTP and has a history of bugs.
	 * SSL_OP_IGNORE_UNEXPECTED_EOF stays off: a missing close_notify is
	 * how a truncated transfer shows. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
#ifdef SSL_OP_ENABLE_KTLS
	if (ktls)
		SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
	/* Partial writes: one record at a time, so a full socket never keeps
	 * a big buffer half-encrypted; moving buffer: the pump may pass the
	 * same pending bytes from another address. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_timeout(ctx, FG_TLS_SESSION_TIMEOUT);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);
	return 0;
}

/* Load our certificate chain and key into ctx and check they match.
 * Returns 0, or -1 with err set. */
static int load_identity(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ctx_error(err, errlen, "cannot load certificate", cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ctx_error(err, errlen, "cannot load private key", key);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ctx_error(err, errlen, "private key does not match the certificate", key);
		return -1;
	}
	return 0;
}

/* Load the CAs of PEM file path into ctx's store now (never lazily:
 * session processes are chrooted).  Returns 0, or -1 with err set. */
static int load_ca(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	if (SSL_CTX_load_verify_file(ctx, path) != 1) {
		ctx_error(err, errlen, "cannot load CA file", path);
		return -1;
	}
	return 0;
}

/* A context of method m with the settings both sides share (ctx_common);
 * NULL with a message in err ("what: reasons" when it cannot be made). */
static SSL_CTX *ctx_new(const SSL_METHOD *m, const char *what, int min_version, int max_version,
			const char *ciphers, const char *suites, bool ktls, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(m);
	if (!ctx) {
		ctx_error(err, errlen, what, NULL);
		return NULL;
	}
	if (ctx_common(ctx, min_version, max_version, ciphers, suites, ktls, err, errlen) < 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

SSL_CTX *fg_tls_server_ctx_new(const struct fg_tls_server_opts *o, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "ftpgate";
	SSL_CTX *ctx;

	if (err && errlen)
		err[0] = '\0';
	if (!o->cert_chain || !o->key) {
		if (err && errlen)
			(void)snprintf(err, errlen, "a TLS server needs a certificate and a key");
		return NULL;
	}
	if (o->client_cert != FG_TLS_CERT_OFF && !o->ca) {
		if (err && errlen)
			(void)snprintf(err, errlen, "verifying client certificates needs a CA file");
		return NULL;
	}
	ctx = ctx_new(TLS_server_method(), "cannot create TLS server context", o->min_version,
		      o->max_version, o->ciphers, o->ciphersuites, o->ktls, err, errlen);
	if (!ctx)
		return NULL;
	if (load_identity(ctx, o->cert_chain, o->key, err, errlen) < 0)
		goto fail;
	/* Resumption on: FTPS data connections resume the control session.
	 * Each connection overrides this context with its own (tls.h). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (!SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1)) {
		ctx_error(err, errlen, "cannot set the session id context", NULL);
		goto fail;
	}
	if (o->client_cert != FG_TLS_CERT_OFF) {
		STACK_OF(X509_NAME) *names;

		if (load_ca(ctx, o->ca, err, errlen) < 0)
			goto fail;
		names = SSL_load_client_CA_file(o->ca);
		if (!names) {
			ctx_error(err, errlen, "no CA names in", o->ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, o->client_cert == FG_TLS_CERT_REQUIRED
					? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
					: SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

/* New-session callback of client contexts: keep the newest resumable
 * session on the connection (TLS 1.2: at the end of the handshake; TLS
 * 1.3: each NewSessionTicket).  Returns 1: we keep the reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct fg_tls *t = SSL_get_app_data(ssl);

	if (!t || !SSL_SESSION_is_resumable(sess))
		return 0;
	if (t->session)
		SSL_SESSION_free(t->session);
	t->session = sess;
	return 1;
}

SSL_CTX *fg_tls_client_ctx_new(const struct fg_tls_client_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (err && errlen)
		err[0] = '\0';
	if (!o->cert != !o->key) {
		if (err && errlen)
			(void)snprintf(err, errlen, "a client certificate needs its key, and a key its certificate");
		return NULL;
	}
	ctx = ctx_new(TLS_client_method(), "cannot create TLS client context", o->min_version,
		      o->max_version, o->ciphers, o->ciphersuites, o->ktls, err, errlen);
	if (!ctx)
		return NULL;
	if (o->cert && load_identity(ctx, o->cert, o->key, err, errlen) < 0)
		goto fail;
	if (o->no_verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		const char *ca = o->ca;

		if (!ca) {
			/* The system bundle, as one file read now (not the hashed
			 * directory, which is read lazily). */
			ca = getenv(X509_get_default_cert_file_env());
			if (!ca || !*ca)
				ca = X509_get_default_cert_file();
		}
		if (load_ca(ctx, ca, err, errlen) < 0)
			goto fail;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	/* Sessions live on the connection (for its data connections), not in
	 * a cache shared by all backends. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

int fg_tls_ctx_child_init(SSL_CTX *ctx)
{
	/* 16 bytes key name, 32 HMAC, 32 AES (SSL_CTX_set_tlsext_ticket_keys). */
	unsigned char keys[80];
	int ok;

	if (RAND_bytes(keys, sizeof(keys)) != 1) {
		ERR_clear_error();
		return -1;
	}
	ok = (int)SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof(keys));
	OPENSSL_cleanse(keys, sizeof(keys));
	ERR_clear_error();
	return ok == 1 ? 0 : -1;
}

int fg_tls_parse_version(const char *s)
{
	if (strcmp(s, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(s, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return -1;
}

int fg_tls_parse_client_cert(const char *s)
{
	if (strcmp(s, "off") == 0)
		return FG_TLS_CERT_OFF;
	if (strcmp(s, "optional") == 0)
		return FG_TLS_CERT_OPTIONAL;
	if (strcmp(s, "required") == 0)
		return FG_TLS_CERT_REQUIRED;
	return -1;
}

bool fg_tls_ktls_supported(void)
{
#if defined(SSL_OP_ENABLE_KTLS) && !defined(OPENSSL_NO_KTLS)
	return true;
#else
	return false;
#endif
}

/* ---- connections ------------------------------------------------------------ */

void fg_tls_init(struct fg_tls *t)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

/* True when host is a numeric IPv4 or IPv6 address. */
static bool is_ip(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Client side: check the peer's certificate against host (a name, or an
 * address against its IP SANs) and send SNI for names.  Returns 0 or -1
 * with t->err set. */
static int set_peer_host(struct fg_tls *t, SSL_CTX *ctx, const char *host)
{
	bool verify = (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0;

	if (!host || !*host) {
		if (verify) {
			(void)snprintf(t->err, sizeof(t->err), "no backend host name or address to verify");
			return -1;
		}
		return 0;
	}
	if (strlen(host) >= sizeof(t->host)) {
		(void)snprintf(t->err, sizeof(t->err), "host name too long");
		return -1;
	}
	memcpy(t->host, host, strlen(host) + 1);
	if (is_ip(host)) {
		/* RFC 6066: no SNI for addresses. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) != 1)
			goto fail;
		return 0;
	}
	SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(t->ssl, host) != 1 || SSL_set_tlsext_host_name(t->ssl, host) != 1)
		goto fail;
	return 0;
fail:
	t->err[0] = '\0';
	addf(t->err, sizeof(t->err), "cannot set the host to verify");
	(void)add_queue(t->err, sizeof(t->err), NULL);
	return -1;
}

int fg_tls_start(struct fg_tls *t, SSL_CTX *ctx, int fd, bool server,
		 SSL_SESSION *resume, const char *host)
{
	fg_tls_init(t);
	t->fd = fd;
	t->server = server;
	ERR_clear_error();
	t->ssl = SSL_new(ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
		addf(t->err, sizeof(t->err), "cannot create TLS connection");
		goto fail;
	}
	/* The new-session callback finds t here. */
	SSL_set_app_data(t->ssl, t);
	if (server) {
		/* A control connection: its own session id context, so only
		 * its own peer can resume its sessions (tls.h). */
		t->sid_ctx_len = sizeof(t->sid_ctx);
		if (RAND_bytes(t->sid_ctx, (int)t->sid_ctx_len) != 1 ||
		    SSL_set_session_id_context(t->ssl, t->sid_ctx, t->sid_ctx_len) != 1) {
			addf(t->err, sizeof(t->err), "cannot set the session id context");
			goto fail;
		}
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (set_peer_host(t, ctx, host) < 0)
			goto fail_quiet;
		if (resume) {
			/* Offer a copy: OpenSSL marks the session it resumed
			 * (TLS 1.3) or one whose connection ended without
			 * close_notify as not resumable, and the caller's
			 * session must serve every later data connection. */
			SSL_SESSION *copy = SSL_SESSION_dup(resume);
			int ok = copy && SSL_set_session(t->ssl, copy) == 1;

			SSL_SESSION_free(copy);
			if (!ok) {
				addf(t->err, sizeof(t->err), "cannot offer the session for resumption");
				goto fail;
			}
		}
	}
	return 0;
fail:
	(void)add_queue(t->err, sizeof(t->err), NULL);
fail_quiet:
	ERR_clear_error();
	SSL_free(t->ssl);
	t->ssl = NULL;
	t->failed = true;
	t->status = FG_TLS_ERR;
	return -1;
}

/* Info callback of server data connections.  Once the server hello is
 * due, OpenSSL knows whether this handshake resumes a session; if it does
 * not, the new session gets a random context, so that neither our cache
 * nor a TLS 1.2 ticket issued later in this handshake can ever resume it.
 * Else a stranger could make a full handshake on a passive port (refused)
 * and then resume its own session - stamped with the control connection's
 * context - on the next one. */
static void data_info_cb(const SSL *ssl, int where, int ret)
{
	unsigned char poison[SSL_MAX_SID_CTX_LENGTH];
	SSL_SESSION *sess;

	if (!(where & SSL_CB_ACCEPT_LOOP) || SSL_get_state(ssl) != TLS_ST_SW_SRVR_HELLO ||
	    SSL_session_reused(ssl))
		return;
	sess = SSL_get_session(ssl);
	if (!sess || RAND_bytes(poison, sizeof(poison)) != 1 ||
	    SSL_SESSION_set1_id_context(sess, poison, sizeof(poison)) != 1) {
		/* Cannot happen short of memory; then make it unusable. */
		if (sess)
			SSL_SESSION_set1_id_context(sess, (const unsigned char *)"", 0);
		ERR_clear_error();
	}
}

/* Data connections read ahead: one read(2) takes in several records
 * rather than a 5-byte header and then one record's body, which halves
 * the system calls per GiB at least.  Raw bytes held this way are not
 * SSL_pending(): the pump reads until OpenSSL says WANT_READ (or its
 * buffer is full, or its budget is spent: then it comes back at once),
 * so none is left behind unseen.  Control connections keep reading one
 * record at a time (fg_tls_pending() must tell them everything). */
static void data_read_ahead(struct fg_tls *t)
{
	SSL_set_default_read_buffer_len(t->ssl, FG_TLS_READ_AHEAD);
	SSL_set_read_ahead(t->ssl, 1);
}

int fg_tls_start_data(struct fg_tls *t, SSL_CTX *ctx, int fd, const struct fg_tls *control)
{
	if (!control->ssl || !control->handshake_done) {
		fg_tls_init(t);
		(void)snprintf(t->err, sizeof(t->err), "the control connection has no TLS session");
		t->failed = true;
		t->status = FG_TLS_ERR;
		return -1;
	}
	if (!control->server) {
		if (fg_tls_start(t, ctx, fd, false, control->session,
				 control->host[0] ? control->host : NULL) < 0)
			return -1;
		t->data = true;
		data_read_ahead(t);
		return 0;
	}
	if (fg_tls_start(t, ctx, fd, true, NULL, NULL) < 0)
		return -1;
	t->data = true;
	data_read_ahead(t);
	SSL_set_info_callback(t->ssl, data_info_cb);
	memcpy(t->sid_ctx, control->sid_ctx, control->sid_ctx_len);
	t->sid_ctx_len = control->sid_ctx_len;
	if (SSL_set_session_id_context(t->ssl, t->sid_ctx, t->sid_ctx_len) != 1 ||
	    SSL_set_num_tickets(t->ssl, 0) != 1) {
		/* No tickets: see tls.h (clients that close without reading
		 * them turn the close into a RST). */
		(void)snprintf(t->err, sizeof(t->err), "cannot bind the data connection to its control connection");
		ERR_clear_error();
		fg_tls_free(t);
		t->failed = true;
		t->status = FG_TLS_ERR;
		return -1;
	}
	return 0;
}

enum fg_tls_status fg_tls_handshake(struct fg_tls *t)
{
	int r;

	if (!t->ssl || t->failed)
		return t->status = FG_TLS_ERR;
	if (t->handshake_done)
		return t->status = FG_TLS_OK;
	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->handshake_done = true;
		t->want = 0;
		return t->status = FG_TLS_OK;
	}
	if (outcome(t, r, "TLS handshake failed") == FG_TLS_OK) {
		/* close_notify before the handshake finished */
		t->failed = true;
		(void)snprintf(t->err, sizeof(t->err), "TLS handshake failed: peer closed the connection");
		return t->status = FG_TLS_ERR;
	}
	return t->status;
}

ssize_t fg_tls_read(struct fg_tls *t, void *buf, size_t n)
{
	size_t got = 0;

	if (!t->ssl || t->failed || !t->handshake_done) {
		t->status = FG_TLS_ERR;
		return -1;
	}
	if (t->peer_closed) {
		t->status = FG_TLS_OK;
		return 0;
	}
	ERR_clear_error();
	if (SSL_read_ex(t->ssl, buf, n, &got) == 1) {
		t->want = 0;
		t->status = FG_TLS_OK;
		return (ssize_t)got;
	}
	if (outcome(t, 0, "TLS read failed") == FG_TLS_OK)
		return 0; /* close_notify: the clean end */
	return -1;
}

ssize_t fg_tls_write(struct fg_tls *t, const void *buf, size_t n)
{
	size_t done = 0;

	if (!t->ssl || t->failed || !t->handshake_done || t->close_sent) {
		t->status = FG_TLS_ERR;
		return -1;
	}
	if (n == 0)
		return 0;
	ERR_clear_error();
	if (SSL_write_ex(t->ssl, buf, n, &done) == 1) {
		t->want = 0;
		t->status = FG_TLS_OK;
		return (ssize_t)done;
	}
	if (outcome(t, 0, "TLS write failed") == FG_TLS_OK) {
		t->failed = true;
		(void)snprintf(t->err, sizeof(t->err), "TLS write failed: peer closed the connection");
		t->status = FG_TLS_ERR;
	}
	return -1;
}

bool fg_tls_pending(const struct fg_tls *t)
{
	/* SSL_pending, not SSL_has_pending: the latter is also true for half
	 * a record, which only more socket bytes can complete; a caller that
	 * did not wait for those would spin. */
	return t->ssl && !t->failed && SSL_pending(t->ssl) > 0;
}

enum fg_tls_status fg_tls_pump_tickets(struct fg_tls *t)
{
	unsigned char c;
	size_t got;

	if (!t->ssl || t->failed || !t->handshake_done)
		return t->status = FG_TLS_ERR;
	if (t->session || t->peer_closed) {
		t->want = 0;
		return t->status = FG_TLS_OK;
	}
	/* SSL_peek processes handshake records (the tickets) as it meets
	 * them and stops at application data without consuming it. */
	ERR_clear_error();
	if (SSL_peek_ex(t->ssl, &c, 1, &got) == 1) {
		t->want = 0;
		return t->status = FG_TLS_OK;
	}
	switch (outcome(t, 0, "TLS read (session tickets) failed")) {
	case FG_TLS_OK:
		return FG_TLS_OK; /* peer closed */
	case FG_TLS_WANT:
		if (t->session) {
			t->want = 0;
			return t->status = FG_TLS_OK;
		}
		return FG_TLS_WANT;
	default:
		return FG_TLS_ERR;
	}
}

SSL_SESSION *fg_tls_get_session(const struct fg_tls *t)
{
	return t->session;
}

bool fg_tls_adopt_session(struct fg_tls *control, struct fg_tls *data)
{
	if (control == data || control->server || data->server || !data->session)
		return false;
	if (control->session)
		SSL_SESSION_free(control->session);
	control->session = data->session;
	data->session = NULL;
	return true;
}

bool fg_tls_session_reused(const struct fg_tls *t)
{
	return t->ssl && t->handshake_done && SSL_session_reused(t->ssl) == 1;
}

bool fg_tls_data_matches_control(struct fg_tls *data, const struct fg_tls *control)
{
	const unsigned char *id;
	unsigned int len = 0;
	SSL_SESSION *sess;

	if (!data->ssl || !data->handshake_done || !data->server || !control->server ||
	    control->sid_ctx_len == 0) {
		(void)snprintf(data->err, sizeof(data->err), "no server TLS data/control connection pair");
		return false;
	}
	if (SSL_session_reused(data->ssl) != 1) {
		(void)snprintf(data->err, sizeof(data->err),
			       "data connection did not resume the control connection's TLS session");
		return false;
	}
	/* OpenSSL already refuses sessions of another context; checking the
	 * resumed session's own context again costs nothing. */
	sess = SSL_get0_session(data->ssl);
	id = sess ? SSL_SESSION_get0_id_context(sess, &len) : NULL;
	if (!id || len != control->sid_ctx_len || memcmp(id, control->sid_ctx, len) != 0) {
		(void)snprintf(data->err, sizeof(data->err),
			       "data connection resumed a TLS session of another control connection");
		return false;
	}
	return true;
}

enum fg_tls_status fg_tls_shutdown(struct fg_tls *t)
{
	int r;

	if (t->close_sent) {
		t->want = 0;
		return t->status = FG_TLS_OK;
	}
	if (!t->ssl || t->failed || !t->handshake_done) {
		if (!t->err[0])
			(void)snprintf(t->err, sizeof(t->err), "no close_notify: the TLS connection is not open");
		return t->status = FG_TLS_ERR;
	}
	ERR_clear_error();
	r = SSL_shutdown(t->ssl);
	if (r >= 0) {
		/* 0: ours is out, the peer's not yet in; 1: both. */
		t->close_sent = true;
		if (r == 1)
			t->peer_closed = true;
		t->want = 0;
		return t->status = FG_TLS_OK;
	}
	if (outcome(t, r, "sending close_notify failed") == FG_TLS_OK) {
		t->close_sent = true;
		return FG_TLS_OK;
	}
	return t->status;
}

enum fg_tls_status fg_tls_await_close(struct fg_tls *t)
{
	enum fg_tls_status st;
	int r, i;

	if (t->peer_closed) {
		t->want = 0;
		return t->status = FG_TLS_OK;
	}
	st = fg_tls_shutdown(t);
	if (st != FG_TLS_OK)
		return st;
	/* Each call reads what has arrived; OpenSSL discards anything but
	 * the alert once our close_notify is sent.  Bounded: the peer cannot
	 * keep us here, the caller's timer ends the wait. */
	for (i = 0; i < 64 && !t->peer_closed; i++) {
		ERR_clear_error();
		r = SSL_shutdown(t->ssl);
		if (r == 1) {
			t->peer_closed = true;
			break;
		}
		if (r == 0) {
			/* our alert is not out yet (cannot happen after
			 * fg_tls_shutdown said OK, but never spin on it) */
			t->want = POLLOUT;
			return t->status = FG_TLS_WANT;
		}
		st = outcome(t, r, "waiting for close_notify failed");
		if (st == FG_TLS_WANT)
			return st;
		if (st == FG_TLS_ERR && (t->truncated || t->sys_errno == 0)) {
			/* The peer closed its socket without close_notify
			 * after taking everything: that is an end, too. */
			t->truncated = false;
			t->peer_closed = true;
			break;
		}
		if (st == FG_TLS_ERR)
			return st;
	}
	if (!t->peer_closed) {
		t->want = POLLIN;
		return t->status = FG_TLS_WANT;
	}
	t->want = 0;
	return t->status = FG_TLS_OK;
}

char *fg_tls_describe(const struct fg_tls *t, char *buf, size_t len)
{
	int k;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (!t->ssl || !t->handshake_done) {
		addf(buf, len, "none");
		return buf;
	}
	addf(buf, len, "%s %s resumed=%s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
	     SSL_session_reused(t->ssl) == 1 ? "yes" : "no");
	k = fg_tls_ktls_active(t);
	if (k)
		addf(buf, len, " ktls=%s", k == 3 ? "tx,rx" : k == 1 ? "tx" : "rx");
	return buf;
}

int fg_tls_ktls_active(const struct fg_tls *t)
{
	int k = 0;

	if (!t->ssl)
		return 0;
#if !defined(OPENSSL_NO_KTLS)
	if (BIO_get_ktls_send(SSL_get_wbio(t->ssl)))
		k |= 1;
	if (BIO_get_ktls_recv(SSL_get_rbio(t->ssl)))
		k |= 2;
#endif
	return k;
}

void fg_tls_move(struct fg_tls *dst, struct fg_tls *src)
{
	memcpy(dst, src, sizeof(*dst));
	if (dst->ssl)
		SSL_set_app_data(dst->ssl, dst);
	src->ssl = NULL;
	src->session = NULL;
	fg_tls_init(src);
}

void fg_tls_free(struct fg_tls *t)
{
	if (t->ssl) {
		/* SSL_free of a connection that sent no close_notify removes
		 * its session from the cache and marks it not resumable.  For
		 * a data connection that session is the control connection's
		 * (server side, TLS 1.2 ids): one aborted transfer must not
		 * stop every later data connection from resuming. */
		if (t->data && t->handshake_done)
			SSL_set_shutdown(t->ssl, SSL_get_shutdown(t->ssl) | SSL_SENT_SHUTDOWN);
		SSL_free(t->ssl);
		t->ssl = NULL;
	}
	if (t->session) {
		SSL_SESSION_free(t->session);
		t->session = NULL;
	}
}
