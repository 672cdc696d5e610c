/* check_tls.c - unit tests of the TLS layer (tls/tls.c, tls/tls_pump.c):
 * contexts, handshakes, close_notify, truncation, session reuse on data
 * connections, certificate verification and the buffered TLS pump.
 *
 * A throwaway CA, a second ("wrong") CA, a server and a client certificate
 * are made with the OpenSSL API when the suite starts and written to a
 * mkdtemp() directory for the context constructors; nothing is read from
 * outside.  Connections run over socketpair()s or loopback TCP with
 * non-blocking sockets, driven by small poll loops in this process. */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "limits.h"
#include "tls/tls.h"

#include "banned.h"

/* ---- the throwaway PKI --------------------------------------------------------- */

static char dir[64];
static char path_ca[160], path_ca2[160], path_srv_cert[160], path_srv_key[160];
static char path_cli_cert[160], path_cli_key[160];

/* Setup failed outside a test: say what and stop. */
static void die(const char *what)
{
	fprintf(stderr, "check_tls setup: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(EXIT_FAILURE);
}

/* Add extension nid = value (OpenSSL config syntax) to x. */
static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	if (!e || !X509_add_ext(x, e, -1))
		die(value);
	X509_EXTENSION_free(e);
}

/* A certificate for key named cn, signed by issuer/issuer_key (NULL:
 * self-signed), a CA or a leaf with subjectAltName san (or NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       bool ca, const char *san, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;

	if (!x || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400) || !X509_set_pubkey(x, key))
		die("X509 fields");
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
		die("X509 names");
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &v3, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
	if (!ca)
		add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
	if (san)
		add_ext(x, &v3, NID_subject_alt_name, san);
	if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()))
		die("X509_sign");
	return x;
}

/* Write dir/name into out and return it. */
static char *in_dir(char *out, size_t len, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len)
		die("path too long");
	return out;
}

/* Write x as PEM to path. */
static void write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0)
		die(path);
}

/* Write k as unencrypted PEM to path. */
static void write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) || fclose(f) != 0)
		die(path);
}

/* Make the CA, the wrong CA, the server and client certificates. */
static void make_pki(void)
{
	EVP_PKEY *ca_key, *ca2_key, *srv_key, *cli_key;
	X509 *ca, *ca2, *srv, *cli;

	if (!mkdtemp(memcpy(dir, "/tmp/check_tls.XXXXXX", sizeof("/tmp/check_tls.XXXXXX"))))
		die("mkdtemp");
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ca2_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cli_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!ca_key || !ca2_key || !srv_key || !cli_key)
		die("keygen");
	ca = make_cert(ca_key, "ftpgate test CA", NULL, NULL, true, NULL, 1);
	/* Same name as the real CA: only the key tells them apart. */
	ca2 = make_cert(ca2_key, "ftpgate test CA", NULL, NULL, true, NULL, 2);
	srv = make_cert(srv_key, "localhost", ca, ca_key, false,
			"DNS:localhost,DNS:backend.test,IP:127.0.0.1,IP:::1", 3);
	cli = make_cert(cli_key, "ftpgate client", ca, ca_key, false, "DNS:client.test", 4);
	write_cert(in_dir(path_ca, sizeof(path_ca), "ca.pem"), ca);
	write_cert(in_dir(path_ca2, sizeof(path_ca2), "ca2.pem"), ca2);
	write_cert(in_dir(path_srv_cert, sizeof(path_srv_cert), "server.pem"), srv);
	write_key(in_dir(path_srv_key, sizeof(path_srv_key), "server.key"), srv_key);
	write_cert(in_dir(path_cli_cert, sizeof(path_cli_cert), "client.pem"), cli);
	write_key(in_dir(path_cli_key, sizeof(path_cli_key), "client.key"), cli_key);
	X509_free(ca);
	X509_free(ca2);
	X509_free(srv);
	X509_free(cli);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ca2_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
}

/* Remove the files and the directory of make_pki(). */
static void remove_pki(void)
{
	const char *files[] = {path_ca, path_ca2, path_srv_cert, path_srv_key, path_cli_cert, path_cli_key};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		(void)unlink(files[i]);
	(void)rmdir(dir);
}

/* ---- contexts and sockets ------------------------------------------------------ */

/* A server context with the test certificate; max_version 0 = highest. */
static SSL_CTX *server_ctx(int max_version, enum fg_tls_client_cert cc)
{
	struct fg_tls_server_opts o;
	char err[256];
	SSL_CTX *ctx;

	memset(&o, 0, sizeof(o));
	o.cert_chain = path_srv_cert;
	o.key = path_srv_key;
	o.max_version = max_version;
	o.client_cert = cc;
	if (cc != FG_TLS_CERT_OFF)
		o.ca = path_ca;
	ctx = fg_tls_server_ctx_new(&o, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "server ctx: %s", err);
	return ctx;
}

/* A verifying client context trusting ca; with_cert: present the client
 * certificate. */
static SSL_CTX *client_ctx(const char *ca, int max_version, bool with_cert)
{
	struct fg_tls_client_opts o;
	char err[256];
	SSL_CTX *ctx;

	memset(&o, 0, sizeof(o));
	o.ca = ca;
	o.max_version = max_version;
	if (with_cert) {
		o.cert = path_cli_cert;
		o.key = path_cli_key;
	}
	ctx = fg_tls_client_ctx_new(&o, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "client ctx: %s", err);
	return ctx;
}

/* A connected non-blocking AF_UNIX stream pair. */
static void unix_pair(int fds[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

/* A connected non-blocking loopback TCP pair; bufsize > 0 shrinks the
 * socket buffers of both ends (back-pressure). */
static void tcp_pair(int fds[2], int bufsize)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int i;

	ck_assert_int_ge(l, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fds[0], 0);
	if (bufsize > 0) {
		/* Set before connect/listen so the window is small from the start. */
		ck_assert_int_eq(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize)), 0);
		ck_assert_int_eq(setsockopt(l, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize)), 0);
		ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize)), 0);
		ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize)), 0);
	}
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	ck_assert_int_eq(connect(fds[0], (struct sockaddr *)&a, len), 0);
	fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fds[1], 0);
	close(l);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK), 0);
}

/* Wait until t's socket is ready for what t wants (2 s at most). */
static bool wait_want(const struct fg_tls *t)
{
	struct pollfd p = {t->fd, t->want ? t->want : POLLIN, 0};

	return poll(&p, 1, 2000) > 0;
}

/* Drive both handshakes until both finished or one failed and the other
 * stopped (it sees the alert) or went quiet.  True when both succeeded. */
static bool handshake_pair(struct fg_tls *a, struct fg_tls *b)
{
	enum fg_tls_status sa = FG_TLS_WANT, sb = FG_TLS_WANT;
	int rounds;

	for (rounds = 0; rounds < 200; rounds++) {
		struct pollfd p[2];

		if (sa == FG_TLS_WANT)
			sa = fg_tls_handshake(a);
		if (sb == FG_TLS_WANT)
			sb = fg_tls_handshake(b);
		if (sa != FG_TLS_WANT && sb != FG_TLS_WANT)
			break;
		p[0].fd = a->fd;
		p[0].events = sa == FG_TLS_WANT ? a->want : 0;
		p[1].fd = b->fd;
		p[1].events = sb == FG_TLS_WANT ? b->want : 0;
		if (poll(p, 2, (sa == FG_TLS_ERR || sb == FG_TLS_ERR) ? 300 : 2000) <= 0)
			break;
	}
	return sa == FG_TLS_OK && sb == FG_TLS_OK;
}

/* Start a server on fds[1] and a client (host) on fds[0] and shake hands.
 * Returns the handshake result. */
static bool connect_pair(struct fg_tls *srv, SSL_CTX *sctx, struct fg_tls *cli, SSL_CTX *cctx,
			 const int fds[2], SSL_SESSION *resume, const char *host)
{
	ck_assert_msg(fg_tls_start(srv, sctx, fds[1], true, NULL, NULL) == 0, "server start: %s", srv->err);
	ck_assert_msg(fg_tls_start(cli, cctx, fds[0], false, resume, host) == 0, "client start: %s", cli->err);
	return handshake_pair(srv, cli);
}

/* A data connection on a fresh socketpair: server ds for control cs,
 * client dc resuming control cc.  Returns the handshake result. */
static bool data_pair(struct fg_tls *ds, SSL_CTX *sctx, const struct fg_tls *cs, struct fg_tls *dc,
		      SSL_CTX *cctx, const struct fg_tls *cc, int fds[2])
{
	unix_pair(fds);
	ck_assert_msg(fg_tls_start_data(ds, sctx, fds[1], cs) == 0, "%s", ds->err);
	ck_assert_msg(fg_tls_start_data(dc, cctx, fds[0], cc) == 0, "%s", dc->err);
	return handshake_pair(ds, dc);
}

/* Free both ends of a connection and close its socketpair. */
static void close_pair(struct fg_tls *a, struct fg_tls *b, const int fds[2])
{
	fg_tls_free(a);
	fg_tls_free(b);
	close(fds[0]);
	close(fds[1]);
}

/* Write all n bytes to t. */
static void write_all(struct fg_tls *t, const void *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = fg_tls_write(t, (const char *)buf + off, n - off);
		if (r > 0) {
			off += (size_t)r;
			continue;
		}
		ck_assert_msg(t->status == FG_TLS_WANT, "write: %s", t->err);
		ck_assert(wait_want(t));
	}
}

/* Read once from t, waiting as told: bytes, 0 (close_notify) or -1 (ERR). */
static ssize_t read_wait(struct fg_tls *t, void *buf, size_t n)
{
	int i;

	for (i = 0; i < 100; i++) {
		ssize_t r = fg_tls_read(t, buf, n);
		if (r >= 0 || t->status == FG_TLS_ERR)
			return r;
		if (!wait_want(t))
			break;
	}
	return -1;
}

/* Read exactly n bytes from t. */
static void read_exact(struct fg_tls *t, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read_wait(t, buf + got, n - got);
		ck_assert_msg(r > 0, "read: %zd %s", r, t->err);
		got += (size_t)r;
	}
}

/* Client: pump tickets until a resumable session is held. */
static SSL_SESSION *wait_session(struct fg_tls *t)
{
	int i;

	for (i = 0; i < 100; i++) {
		enum fg_tls_status st = fg_tls_pump_tickets(t);
		if (st == FG_TLS_OK)
			return fg_tls_get_session(t);
		ck_assert_msg(st == FG_TLS_WANT, "pump tickets: %s", t->err);
		if (!wait_want(t))
			break;
	}
	return NULL;
}

/* True when needle occurs in hay. */
static bool contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* ---- contexts ---------------------------------------------------------------- */

START_TEST(ctx_errors)
{
	struct fg_tls_server_opts so;
	struct fg_tls_client_opts co;
	char err[256], missing[200];
	SSL_CTX *ctx;

	in_dir(missing, sizeof(missing), "missing.pem");
	memset(&so, 0, sizeof(so));
	ck_assert_ptr_null(fg_tls_server_ctx_new(&so, err, sizeof(err)));
	ck_assert(contains(err, "certificate and a key"));

	so.cert_chain = missing;
	so.key = path_srv_key;
	ck_assert_ptr_null(fg_tls_server_ctx_new(&so, err, sizeof(err)));
	ck_assert_msg(contains(err, "cannot load certificate") && contains(err, missing), "%s", err);

	so.cert_chain = path_srv_cert;
	so.key = path_cli_key; /* another key */
	ck_assert_ptr_null(fg_tls_server_ctx_new(&so, err, sizeof(err)));
	ck_assert_msg(contains(err, "mismatch"), "%s", err);

	so.key = path_srv_key;
	so.client_cert = FG_TLS_CERT_REQUIRED;
	ck_assert_ptr_null(fg_tls_server_ctx_new(&so, err, sizeof(err)));
	ck_assert_msg(contains(err, "CA file"), "%s", err);

	so.client_cert = FG_TLS_CERT_OFF;
	so.ciphers = "NO-SUCH-CIPHER";
	ck_assert_ptr_null(fg_tls_server_ctx_new(&so, err, sizeof(err)));
	ck_assert_msg(contains(err, "cipher list"), "%s", err);

	so.ciphers = NULL;
	ctx = fg_tls_server_ctx_new(&so, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ck_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	ck_assert(!(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET));
	ck_assert(!(SSL_CTX_get_options(ctx) & SSL_OP_IGNORE_UNEXPECTED_EOF));
	ck_assert_int_eq(fg_tls_ctx_child_init(ctx), 0);
	SSL_CTX_free(ctx);

	memset(&co, 0, sizeof(co));
	co.cert = path_cli_cert;
	ck_assert_ptr_null(fg_tls_client_ctx_new(&co, err, sizeof(err)));
	ck_assert_msg(contains(err, "needs its key"), "%s", err);
	co.cert = NULL;
	co.ca = missing;
	ck_assert_ptr_null(fg_tls_client_ctx_new(&co, err, sizeof(err)));
	ck_assert_msg(contains(err, "cannot load CA file"), "%s", err);
	co.ca = path_ca;
	ctx = fg_tls_client_ctx_new(&co, err, sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
	SSL_CTX_free(ctx);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(parse_helpers)
{
	ck_assert_int_eq(fg_tls_parse_version("TLSv1.2"), TLS1_2_VERSION);
	ck_assert_int_eq(fg_tls_parse_version("TLSv1.3"), TLS1_3_VERSION);
	ck_assert_int_eq(fg_tls_parse_version("TLSv1.1"), -1);
	ck_assert_int_eq(fg_tls_parse_version("tlsv1.2"), -1);
	ck_assert_int_eq(fg_tls_parse_client_cert("off"), FG_TLS_CERT_OFF);
	ck_assert_int_eq(fg_tls_parse_client_cert("optional"), FG_TLS_CERT_OPTIONAL);
	ck_assert_int_eq(fg_tls_parse_client_cert("required"), FG_TLS_CERT_REQUIRED);
	ck_assert_int_eq(fg_tls_parse_client_cert("yes"), -1);
}
END_TEST

/* ---- connections ---------------------------------------------------------------- */

/* Handshake, data both ways, close_notify both ways (TLS 1.2 and 1.3). */
START_TEST(handshake_data_close)
{
	int maxv = _i == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX *sctx = server_ctx(maxv, FG_TLS_CERT_OFF), *cctx = client_ctx(path_ca, 0, false);
	struct fg_tls srv, cli;
	char buf[64], desc[128];
	int fds[2];

	unix_pair(fds);
	ck_assert_msg(connect_pair(&srv, sctx, &cli, cctx, fds, NULL, "localhost"), "%s / %s", srv.err, cli.err);
	fg_tls_describe(&cli, desc, sizeof(desc));
	ck_assert_msg(contains(desc, maxv == TLS1_3_VERSION ? "TLSv1.3 " : "TLSv1.2 ECDHE-"), "%s", desc);
	ck_assert_msg(contains(desc, "resumed=no"), "%s", desc);
	ck_assert(!fg_tls_session_reused(&srv));

	write_all(&cli, "hello", 5);
	read_exact(&srv, buf, 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	write_all(&srv, "world!", 6);
	read_exact(&cli, buf, 6);
	ck_assert(memcmp(buf, "world!", 6) == 0);

	/* client -> server close_notify: a clean 0 at the server */
	ck_assert_int_eq(fg_tls_shutdown(&cli), FG_TLS_OK);
	ck_assert(cli.close_sent);
	ck_assert_int_eq(fg_tls_write(&cli, "x", 1), -1);
	ck_assert_int_eq(read_wait(&srv, buf, sizeof(buf)), 0);
	ck_assert(srv.peer_closed && !srv.truncated);
	/* the server may still write after the peer's close_notify (half close) */
	write_all(&srv, "tail", 4);
	read_exact(&cli, buf, 4);
	ck_assert(memcmp(buf, "tail", 4) == 0);
	/* server -> client */
	ck_assert_int_eq(fg_tls_shutdown(&srv), FG_TLS_OK);
	ck_assert_int_eq(read_wait(&cli, buf, sizeof(buf)), 0);
	ck_assert(cli.peer_closed);
	ck_assert_int_eq(fg_tls_await_close(&cli), FG_TLS_OK);

	close_pair(&srv, &cli, fds);
	fg_tls_free(&cli); /* twice is harmless */
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* await_close after our close_notify: the peer's close_notify ends it,
 * and so does the peer closing its socket without one. */
START_TEST(await_close)
{
	SSL_CTX *sctx = server_ctx(0, FG_TLS_CERT_OFF), *cctx = client_ctx(path_ca, 0, false);
	struct fg_tls srv, cli;
	char buf[16];
	int fds[2], i;
	enum fg_tls_status st;

	unix_pair(fds);
	ck_assert(connect_pair(&srv, sctx, &cli, cctx, fds, NULL, "localhost"));
	ck_assert_int_eq(fg_tls_await_close(&cli), FG_TLS_WANT); /* sends ours, waits */
	ck_assert(cli.close_sent);
	ck_assert_int_eq(cli.want, POLLIN);
	ck_assert_int_eq(read_wait(&srv, buf, sizeof(buf)), 0);
	ck_assert_int_eq(fg_tls_shutdown(&srv), FG_TLS_OK);
	for (i = 0; i < 10 && (st = fg_tls_await_close(&cli)) == FG_TLS_WANT; i++)
		ck_assert(wait_want(&cli));
	ck_assert_int_eq(st, FG_TLS_OK);
	close_pair(&srv, &cli, fds);

	/* the peer just closes (no close_notify) */
	unix_pair(fds);
	ck_assert(connect_pair(&srv, sctx, &cli, cctx, fds, NULL, "localhost"));
	ck_assert_int_eq(fg_tls_await_close(&cli), FG_TLS_WANT);
	ck_assert_int_eq(shutdown(fds[1], SHUT_WR), 0);
	for (i = 0; i < 10 && (st = fg_tls_await_close(&cli)) == FG_TLS_WANT; i++)
		ck_assert(wait_want(&cli));
	ck_assert_msg(st == FG_TLS_OK, "%s", cli.err);
	close_pair(&srv, &cli, fds);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* A stream that ends without close_notify is an error, never an end. */
START_TEST(truncated_stream)
{
	int maxv = _i == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX *sctx = server_ctx(maxv, FG_TLS_CERT_OFF), *cctx = client_ctx(path_ca, 0, false);
	struct fg_tls srv, cli;
	char buf[16];
	int fds[2];

	unix_pair(fds);
	ck_assert(connect_pair(&srv, sctx, &cli, cctx, fds, NULL, "localhost"));
	write_all(&cli, "abc", 3);
	ck_assert_int_eq(shutdown(fds[0], SHUT_WR), 0); /* FIN, no close_notify */
	read_exact(&srv, buf, 3);
	ck_assert_int_eq(read_wait(&srv, buf, sizeof(buf)), -1);
	ck_assert_int_eq(srv.status, FG_TLS_ERR);
	ck_assert(srv.truncated && srv.failed && !srv.peer_closed);
	ck_assert_msg(contains(srv.err, "without close_notify (truncated)"), "%s", srv.err);
	/* no close_notify may follow a failure */
	ck_assert_int_eq(fg_tls_shutdown(&srv), FG_TLS_ERR);
	close_pair(&srv, &cli, fds);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* Certificate checks: the right CA and host pass, others fail clearly. */
START_TEST(verify)
{
	SSL_CTX *sctx = server_ctx(0, FG_TLS_CERT_OFF);
	SSL_CTX *good = client_ctx(path_ca, 0, false), *wrong = client_ctx(path_ca2, 0, false);
	struct fg_tls_client_opts o;
	struct {
		SSL_CTX *ctx;
		const char *host;
		bool ok;
		const char *msg;
	} cases[] = {
		{NULL, "localhost", true, NULL},
		{NULL, "backend.test", true, NULL},
		{NULL, "127.0.0.1", true, NULL},
		{NULL, "::1", true, NULL},
		{NULL, "wrong.example", false, "certificate verify failed: hostname mismatch"},
		{NULL, "127.0.0.2", false, "certificate verify failed: IP address mismatch"},
		{NULL, "LOCALHOST", true, NULL},
		{NULL, "localhost", false, "certificate verify failed: unable to get local issuer certificate"},
		{NULL, "localhost", true, NULL},
	};
	char err[256];
	size_t i;

	memset(&o, 0, sizeof(o));
	o.ca = path_ca2;
	o.no_verify = true; /* wrong CA but no verification: passes */
	for (i = 0; i < 7; i++)
		cases[i].ctx = good;
	cases[7].ctx = wrong;
	cases[8].ctx = fg_tls_client_ctx_new(&o, err, sizeof(err));
	ck_assert_msg(cases[8].ctx != NULL, "%s", err);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fg_tls srv, cli;
		int fds[2];
		bool ok;

		unix_pair(fds);
		ok = connect_pair(&srv, sctx, &cli, cases[i].ctx, fds, NULL, cases[i].host);
		ck_assert_msg(ok == cases[i].ok, "case %zu (%s): %s", i, cases[i].host, cli.err);
		if (!ok) {
			ck_assert_int_eq(cli.status, FG_TLS_ERR);
			ck_assert_msg(contains(cli.err, cases[i].msg), "case %zu: \"%s\"", i, cli.err);
			ck_assert_msg(srv.status == FG_TLS_ERR && contains(srv.err, "TLS handshake failed"),
				      "case %zu server: %s", i, srv.err);
		}
		close_pair(&srv, &cli, fds);
	}
	/* Verifying without a host to check is refused up front. */
	{
		struct fg_tls cli;
		int fds[2];

		unix_pair(fds);
		ck_assert_int_eq(fg_tls_start(&cli, good, fds[0], false, NULL, NULL), -1);
		ck_assert_msg(contains(cli.err, "no backend host"), "%s", cli.err);
		fg_tls_free(&cli);
		close(fds[0]);
		close(fds[1]);
	}
	SSL_CTX_free(sctx);
	SSL_CTX_free(good);
	SSL_CTX_free(wrong);
	SSL_CTX_free(cases[8].ctx);
}
END_TEST

/* Required client certificates: none is refused, ours is accepted. */
START_TEST(client_cert_required)
{
	SSL_CTX *sctx = server_ctx(0, FG_TLS_CERT_REQUIRED);
	SSL_CTX *anon = client_ctx(path_ca, 0, false), *with = client_ctx(path_ca, 0, true);
	struct fg_tls srv, cli;
	char buf[8];
	int fds[2];

	unix_pair(fds);
	/* TLS 1.3: the client finishes before the server has checked it, and
	 * learns of the refusal when it reads. */
	ck_assert(!connect_pair(&srv, sctx, &cli, anon, fds, NULL, "localhost"));
	ck_assert_msg(srv.status == FG_TLS_ERR && contains(srv.err, "certificate"), "%s", srv.err);
	if (cli.status == FG_TLS_OK)
		ck_assert_int_eq(read_wait(&cli, buf, sizeof(buf)), -1);
	ck_assert_int_eq(cli.status, FG_TLS_ERR);
	close_pair(&srv, &cli, fds);

	unix_pair(fds);
	ck_assert_msg(connect_pair(&srv, sctx, &cli, with, fds, NULL, "localhost"), "%s / %s", srv.err, cli.err);
	ck_assert_ptr_nonnull(SSL_get0_peer_certificate(srv.ssl));
	close_pair(&srv, &cli, fds);
	SSL_CTX_free(sctx);
	SSL_CTX_free(anon);
	SSL_CTX_free(with);
}
END_TEST

/* ---- session reuse on data connections ----------------------------------------- */

/* Variants: 0 TLS 1.3 tickets, 1 TLS 1.2 tickets, 2 TLS 1.2 session ids
 * (server cache), 3 TLS 1.3 with the server's ticket keys renewed after
 * "fork". */
static int resume_version(int i)
{
	return (i == 0 || i == 3) ? TLS1_3_VERSION : TLS1_2_VERSION;
}

/* One data connection resuming control (cs/cc): handshake and check;
 * then an upload with close_notify both ways, or (abort) both ends freed
 * without any, as an aborted transfer is. */
static void data_conn(SSL_CTX *sctx, SSL_CTX *cctx, struct fg_tls *cs, struct fg_tls *cc, int maxv,
		      bool abort_it)
{
	struct fg_tls ds, dc;
	char desc[128], buf[16];
	int fds[2];

	ck_assert_msg(data_pair(&ds, sctx, cs, &dc, cctx, cc, fds), "%s / %s", ds.err, dc.err);
	ck_assert(fg_tls_session_reused(&ds));
	ck_assert(fg_tls_session_reused(&dc));
	ck_assert_msg(fg_tls_data_matches_control(&ds, cs), "%s", ds.err);
	fg_tls_describe(&ds, desc, sizeof(desc));
	ck_assert_msg(contains(desc, maxv == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2") &&
			      contains(desc, "resumed=yes"), "%s", desc);
	if (abort_it) {
		write_all(&dc, "da", 2);
		close_pair(&ds, &dc, fds);
		return;
	}
	/* an upload: data, close_notify both ways */
	write_all(&dc, "data", 4);
	ck_assert_int_eq(fg_tls_shutdown(&dc), FG_TLS_OK);
	read_exact(&ds, buf, 4);
	ck_assert_int_eq(read_wait(&ds, buf, sizeof(buf)), 0);
	ck_assert_int_eq(fg_tls_shutdown(&ds), FG_TLS_OK);
	ck_assert_int_eq(read_wait(&dc, buf, sizeof(buf)), 0);
	/* Our server data connections issue no tickets (tls.h). */
	if (maxv == TLS1_3_VERSION)
		ck_assert_ptr_null(fg_tls_get_session(&dc));
	close_pair(&ds, &dc, fds);
}

START_TEST(resume_data_from_control)
{
	int maxv = resume_version(_i);
	SSL_CTX *sctx = server_ctx(maxv, FG_TLS_CERT_OFF), *cctx = client_ctx(path_ca, 0, false);
	struct fg_tls cs, cc;
	int fds[2];

	if (_i == 2)
		SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
	if (_i == 3)
		ck_assert_int_eq(fg_tls_ctx_child_init(sctx), 0);
	unix_pair(fds);
	ck_assert(connect_pair(&cs, sctx, &cc, cctx, fds, NULL, "localhost"));
	ck_assert_ptr_nonnull(wait_session(&cc));
	ck_assert(SSL_SESSION_is_resumable(fg_tls_get_session(&cc)));
	/* the control connection still works after the tickets were pumped */
	write_all(&cs, "220 ok\r\n", 8);
	{
		char buf[8];
		read_exact(&cc, buf, 8);
	}
	/* several data connections, each resuming the control session; an
	 * aborted one does not spoil the session for the next */
	data_conn(sctx, cctx, &cs, &cc, maxv, false);
	data_conn(sctx, cctx, &cs, &cc, maxv, false);
	data_conn(sctx, cctx, &cs, &cc, maxv, true);
	data_conn(sctx, cctx, &cs, &cc, maxv, false);
	ck_assert(SSL_SESSION_is_resumable(fg_tls_get_session(&cc)));
	close_pair(&cs, &cc, fds);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* A stranger at the passive port: a full handshake, or a session of
 * another control connection, is refused. */
START_TEST(reject_foreign_data)
{
	int maxv = resume_version(_i);
	SSL_CTX *sctx = server_ctx(maxv, FG_TLS_CERT_OFF), *cctx = client_ctx(path_ca, 0, false);
	struct fg_tls cs1, cc1, cs2, cc2, ds, dc;
	SSL_SESSION *own;
	int f1[2], f2[2], fd[2];

	if (_i == 2)
		SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
	unix_pair(f1);
	unix_pair(f2);
	ck_assert(connect_pair(&cs1, sctx, &cc1, cctx, f1, NULL, "localhost"));
	ck_assert(connect_pair(&cs2, sctx, &cc2, cctx, f2, NULL, "localhost"));
	ck_assert_ptr_nonnull(wait_session(&cc1));
	ck_assert_ptr_nonnull(wait_session(&cc2));

	/* 1: a full handshake on control 1's data port */
	unix_pair(fd);
	ck_assert_int_eq(fg_tls_start_data(&ds, sctx, fd[1], &cs1), 0);
	ck_assert_int_eq(fg_tls_start(&dc, cctx, fd[0], false, NULL, "localhost"), 0);
	ck_assert(handshake_pair(&ds, &dc));
	ck_assert(!fg_tls_session_reused(&ds));
	ck_assert(!fg_tls_data_matches_control(&ds, &cs1));
	ck_assert_msg(contains(ds.err, "did not resume"), "%s", ds.err);
	/* the stranger keeps the session its full handshake made (TLS 1.2:
	 * a ticket or a cached id; TLS 1.3: none, data connections issue no
	 * tickets) */
	ck_assert_int_eq(fg_tls_shutdown(&dc), FG_TLS_OK); /* keeps it resumable */
	own = dc.session;
	dc.session = NULL;
	ck_assert(maxv == TLS1_3_VERSION ? own == NULL : own != NULL);
	close_pair(&ds, &dc, fd);

	/* 1b: ... and tries to resume it on the next passive port */
	if (own) {
		unix_pair(fd);
		ck_assert_int_eq(fg_tls_start_data(&ds, sctx, fd[1], &cs1), 0);
		ck_assert_int_eq(fg_tls_start(&dc, cctx, fd[0], false, own, "localhost"), 0);
		ck_assert(SSL_SESSION_is_resumable(own));
		ck_assert(handshake_pair(&ds, &dc));
		ck_assert(!fg_tls_session_reused(&ds));
		ck_assert(!fg_tls_data_matches_control(&ds, &cs1));
		close_pair(&ds, &dc, fd);
		SSL_SESSION_free(own);
	}

	/* 2: control 2's session offered on control 1's data port: OpenSSL
	 * refuses to resume it (other session id context) */
	ck_assert(data_pair(&ds, sctx, &cs1, &dc, cctx, &cc2, fd));
	ck_assert(!fg_tls_session_reused(&ds));
	ck_assert(!fg_tls_session_reused(&dc));
	ck_assert(!fg_tls_data_matches_control(&ds, &cs1));
	close_pair(&ds, &dc, fd);

	/* 3: control 2's own data connection passes, and is checked against
	 * control 1 it fails: the check names the control connection */
	ck_assert(data_pair(&ds, sctx, &cs2, &dc, cctx, &cc2, fd));
	ck_assert_msg(fg_tls_data_matches_control(&ds, &cs2), "%s", ds.err);
	ck_assert(!fg_tls_data_matches_control(&ds, &cs1));
	ck_assert_msg(contains(ds.err, "another control connection"), "%s", ds.err);
	close_pair(&ds, &dc, fd);

	close_pair(&cs1, &cc1, f1);
	close_pair(&cs2, &cc2, f2);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* A backend that sends tickets on data connections: the client can make
 * the newest one its control session's successor. */
START_TEST(adopt_data_ticket)
{
	SSL_CTX *sctx = server_ctx(TLS1_3_VERSION, FG_TLS_CERT_OFF), *cctx = client_ctx(path_ca, 0, false);
	struct fg_tls cs, cc, ds, dc;
	SSL_SESSION *first;
	int fds[2], fd[2];

	unix_pair(fds);
	ck_assert(connect_pair(&cs, sctx, &cc, cctx, fds, NULL, "localhost"));
	first = wait_session(&cc);
	ck_assert_ptr_nonnull(first);
	ck_assert(!fg_tls_adopt_session(&cc, &cc)); /* nothing received there */

	unix_pair(fd);
	ck_assert_int_eq(fg_tls_start_data(&ds, sctx, fd[1], &cs), 0);
	ck_assert_int_eq(SSL_set_num_tickets(ds.ssl, 1), 1); /* unlike ours */
	ck_assert_int_eq(fg_tls_start_data(&dc, cctx, fd[0], &cc), 0);
	ck_assert(handshake_pair(&ds, &dc));
	ck_assert(fg_tls_session_reused(&dc));
	ck_assert_ptr_nonnull(wait_session(&dc));
	ck_assert(fg_tls_adopt_session(&cc, &dc));
	ck_assert_ptr_null(fg_tls_get_session(&dc));
	ck_assert(fg_tls_get_session(&cc) != NULL);
	close_pair(&ds, &dc, fd);

	/* the adopted ticket resumes the next data connection */
	data_conn(sctx, cctx, &cs, &cc, TLS1_3_VERSION, false);
	close_pair(&cs, &cc, fds);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* ---- the TLS pump -------------------------------------------------------------- */

enum leg { PLAIN, PUMP_SERVER, PUMP_CLIENT };  /* the pump's role on a leg */
enum cut { CUT_NONE, CUT_SRC, CUT_DST };       /* how the test breaks a transfer */

struct pump_case {
	enum leg src, dst;
	int max_version;
	enum cut cut;
};

static const struct pump_case pump_cases[] = {
	{PLAIN, PUMP_CLIENT, 0, CUT_NONE},             /* upload to an FTPS backend */
	{PUMP_CLIENT, PLAIN, 0, CUT_NONE},             /* download from an FTPS backend */
	{PUMP_SERVER, PUMP_CLIENT, 0, CUT_NONE},       /* upload, FTPS on both legs */
	{PUMP_CLIENT, PUMP_SERVER, 0, CUT_NONE},       /* download, FTPS on both legs */
	{PLAIN, PUMP_SERVER, 0, CUT_NONE},             /* download to an FTPS client */
	{PUMP_SERVER, PLAIN, 0, CUT_NONE},             /* upload from an FTPS client */
	{PUMP_SERVER, PUMP_CLIENT, TLS1_2_VERSION, CUT_NONE},
	{PUMP_CLIENT, PUMP_SERVER, TLS1_2_VERSION, CUT_NONE},
	{PUMP_SERVER, PLAIN, 0, CUT_SRC},              /* upload cut short: error */
	{PUMP_SERVER, PUMP_CLIENT, TLS1_2_VERSION, CUT_SRC},
	{PLAIN, PUMP_CLIENT, 0, CUT_DST},              /* backend resets: error at dst */
};

#define PUMP_TOTAL (8u * 1024 * 1024)
#define PUMP_CUT_AT (1024u * 1024)

/* A fake TLS or plain endpoint of the test (producer or consumer). */
struct end {
	int fd;
	bool tls;
	struct fg_tls t;
};

/* Start TLS on the two ends of a leg: the pump's end in role `leg`, the
 * test's end in the other role. */
static void leg_up(enum leg leg, struct fg_tls *pump_end, int pump_fd, struct end *peer,
		   SSL_CTX *sctx, SSL_CTX *cctx)
{
	bool pump_server = leg == PUMP_SERVER;

	ck_assert_int_eq(fg_tls_start(pump_end, pump_server ? sctx : cctx, pump_fd, pump_server, NULL,
				      pump_server ? NULL : "localhost"), 0);
	ck_assert_int_eq(fg_tls_start(&peer->t, pump_server ? cctx : sctx, peer->fd, !pump_server, NULL,
				      pump_server ? "localhost" : NULL), 0);
	peer->tls = true;
	ck_assert_msg(handshake_pair(pump_end, &peer->t), "%s / %s", pump_end->err, peer->t.err);
}

/* Deterministic test data. */
static void fill_data(unsigned char *d, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		d[i] = (unsigned char)x;
	}
}

START_TEST(pump)
{
	const struct pump_case *pc = &pump_cases[_i];
	SSL_CTX *sctx = server_ctx(pc->max_version, FG_TLS_CERT_OFF), *cctx = client_ctx(path_ca, 0, false);
	unsigned char *data = malloc(PUMP_TOTAL), *rbuf = malloc(16384);
	unsigned char want_md[32], got_md[32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct fg_tls psrc, pdst;
	struct end prod, cons;
	struct fg_tls_pump p;
	int a[2], b[2];
	size_t prod_off = 0, cons_bytes = 0;
	enum { SENDING, CLOSING, AWAIT, PROD_DONE } prod_state = SENDING;
	bool cons_done = false, cons_err = false, pump_done = false, backpressure = false;
	enum fg_pump_status st;
	unsigned rounds = 0;

	ck_assert(data && rbuf && md);
	fill_data(data, PUMP_TOTAL);
	ck_assert(EVP_Digest(data, PUMP_TOTAL, want_md, NULL, EVP_sha256(), NULL));
	ck_assert(EVP_DigestInit_ex(md, EVP_sha256(), NULL));

	/* a: producer -> pump src; b: pump dst -> consumer; small buffers */
	tcp_pair(a, 16384);
	tcp_pair(b, 16384);
	fg_tls_init(&psrc);
	fg_tls_init(&pdst);
	memset(&prod, 0, sizeof(prod));
	memset(&cons, 0, sizeof(cons));
	fg_tls_init(&prod.t);
	fg_tls_init(&cons.t);
	prod.fd = a[0];
	cons.fd = b[1];
	if (pc->src != PLAIN)
		leg_up(pc->src, &psrc, a[1], &prod, sctx, cctx);
	if (pc->dst != PLAIN)
		leg_up(pc->dst, &pdst, b[0], &cons, sctx, cctx);
	ck_assert_int_eq(fg_tls_pump_init(&p, a[1], pc->src != PLAIN ? &psrc : NULL,
					  b[0], pc->dst != PLAIN ? &pdst : NULL), 0);
	ck_assert(p.await_peer_close == (pc->dst == PUMP_CLIENT));
	st = fg_tls_pump_run(&p);

	for (;;) {
		struct pollfd f[4];
		short prod_ev = 0, cons_ev = 0;
		int n;

		ck_assert_msg(++rounds < 200000, "too many rounds");
		if (!pump_done && st != FG_PUMP_AGAIN) {
			/* The caller closes dst after DONE (a plain dst needs the FIN). */
			pump_done = true;
			if (st == FG_PUMP_DONE)
				ck_assert_int_eq(shutdown(b[0], SHUT_WR), 0);
		}
		if (pump_done && (pc->cut != CUT_NONE || (cons_done && prod_state == PROD_DONE)))
			break;
		if (prod_state == SENDING || prod_state == CLOSING)
			prod_ev = prod.tls ? (prod.t.want ? prod.t.want : POLLOUT) : POLLOUT;
		else if (prod_state == AWAIT)
			prod_ev = prod.t.want ? prod.t.want : POLLIN;
		if (!cons_done)
			cons_ev = cons.tls && cons.t.want ? cons.t.want : POLLIN;
		f[0] = (struct pollfd){prod.fd, prod_ev, 0};
		f[1] = (struct pollfd){a[1], pump_done ? 0 : p.want_src, 0};
		f[2] = (struct pollfd){b[0], pump_done ? 0 : p.want_dst, 0};
		f[3] = (struct pollfd){cons.fd, cons_ev, 0};
		n = poll(f, 4, 5000);
		ck_assert_msg(n > 0, "stalled: pump st=%d want_src=%d want_dst=%d held=%zu bytes=%llu eof=%d "
			      "closing=%d prod=%d/%zu cons=%zu/%d", st, p.want_src, p.want_dst, p.held,
			      (unsigned long long)p.bytes, p.src_eof, p.dst_closing, prod_state, prod_off,
			      cons_bytes, cons_done);

		if (!pump_done && (f[1].revents || f[2].revents)) {
			st = fg_tls_pump_run(&p);
			if (st == FG_PUMP_AGAIN && !p.src_eof && p.want_src == 0 && p.held > 0)
				backpressure = true; /* buffer full: src not read */
		}

		if (f[0].revents) {
			if (prod_state == SENDING) {
				size_t chunk = PUMP_TOTAL - prod_off;
				ssize_t w;

				if (chunk > 256 * 1024)
					chunk = 256 * 1024;
				if (pc->cut == CUT_SRC && prod_off >= PUMP_CUT_AT) {
					/* the sender vanishes without close_notify */
					ck_assert_int_eq(shutdown(prod.fd, SHUT_WR), 0);
					prod_state = PROD_DONE;
					chunk = 0;
				}
				/* A fast sender: write until the socket is full. */
				while (chunk) {
					w = prod.tls ? fg_tls_write(&prod.t, data + prod_off, chunk)
						     : send(prod.fd, data + prod_off, chunk, MSG_NOSIGNAL);
					if (w <= 0) {
						if (prod.tls)
							ck_assert_msg(prod.t.status == FG_TLS_WANT, "producer: %s",
								      prod.t.err);
						else
							ck_assert_int_eq(errno, EAGAIN);
						break;
					}
					prod_off += (size_t)w;
					chunk -= (size_t)w;
					if (prod_off == PUMP_TOTAL)
						prod_state = CLOSING;
				}
			}
			if (prod_state == CLOSING) {
				if (!prod.tls) {
					ck_assert_int_eq(shutdown(prod.fd, SHUT_WR), 0);
					prod_state = PROD_DONE;
				} else {
					enum fg_tls_status s = fg_tls_shutdown(&prod.t);
					ck_assert_msg(s != FG_TLS_ERR, "producer close: %s", prod.t.err);
					if (s == FG_TLS_OK)
						prod_state = AWAIT;
				}
			} else if (prod_state == AWAIT) {
				/* the pump answers our close_notify with its own */
				enum fg_tls_status s = fg_tls_await_close(&prod.t);
				ck_assert_msg(s != FG_TLS_ERR, "producer await: %s", prod.t.err);
				if (s == FG_TLS_OK)
					prod_state = PROD_DONE;
			}
		}

		if (f[3].revents && !cons_done) {
			/* A slow reader: at most 4 KiB per round. */
			ssize_t r = cons.tls ? fg_tls_read(&cons.t, rbuf, 4096) : recv(cons.fd, rbuf, 4096, 0);

			if (r > 0) {
				ck_assert(EVP_DigestUpdate(md, rbuf, (size_t)r));
				cons_bytes += (size_t)r;
				if (pc->cut == CUT_DST && cons_bytes >= PUMP_CUT_AT) {
					struct linger lg = {1, 0};
					ck_assert_int_eq(setsockopt(cons.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
					fg_tls_free(&cons.t);
					close(cons.fd);
					cons.fd = -1;
					cons_done = true;
				}
			} else if (r == 0) {
				/* the end; a TLS consumer answers close_notify (as vsftpd) */
				if (cons.tls)
					ck_assert_int_eq(fg_tls_shutdown(&cons.t), FG_TLS_OK);
				cons_done = true;
			} else if (cons.tls ? cons.t.status == FG_TLS_ERR : errno != EAGAIN) {
				cons_done = true;
				cons_err = true;
			}
		}
		if (pump_done && prod_state == AWAIT && !psrc.close_sent)
			prod_state = PROD_DONE;
	}

	if (pc->cut == CUT_NONE) {
		ck_assert_msg(st == FG_PUMP_DONE, "pump: st=%d error=%d at_dst=%d why=%s", st, p.error,
			      p.error_at_dst, p.why ? p.why : "");
		ck_assert(!cons_err);
		ck_assert_uint_eq(p.bytes, PUMP_TOTAL);
		ck_assert_uint_eq(cons_bytes, PUMP_TOTAL);
		ck_assert(EVP_DigestFinal_ex(md, got_md, NULL));
		ck_assert(memcmp(want_md, got_md, sizeof(got_md)) == 0);
		ck_assert_msg(backpressure, "the pump buffer never filled");
		if (pc->dst != PLAIN) {
			ck_assert(pdst.close_sent);
			ck_assert(cons.t.peer_closed && !cons.t.truncated);
		}
		if (pc->src != PLAIN)
			ck_assert(psrc.peer_closed && psrc.close_sent && prod.t.peer_closed);
	} else if (pc->cut == CUT_SRC) {
		ck_assert_int_eq(st, FG_PUMP_ERROR);
		ck_assert(!p.error_at_dst);
		ck_assert_int_eq(p.error, EPROTO);
		ck_assert_msg(p.why && contains(p.why, "truncated"), "%s", p.why ? p.why : "");
		ck_assert_uint_lt(p.bytes, PUMP_TOTAL);
	} else {
		ck_assert_int_eq(st, FG_PUMP_ERROR);
		ck_assert(p.error_at_dst);
		ck_assert_msg(p.error == ECONNRESET || p.error == EPIPE, "%d %s", p.error, p.why ? p.why : "");
	}

	fg_tls_pump_free(&p);
	fg_tls_free(&psrc);
	fg_tls_free(&pdst);
	fg_tls_free(&prod.t);
	fg_tls_free(&cons.t);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	if (cons.fd >= 0)
		close(cons.fd);
	EVP_MD_CTX_free(md);
	free(data);
	free(rbuf);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}
END_TEST

/* kTLS, when built in: asked for, data still intact; whether the kernel
 * took the records depends on the tls module (reported, not required). */
START_TEST(ktls_optional)
{
	struct fg_tls_server_opts so;
	struct fg_tls_client_opts co;
	struct fg_tls srv, cli;
	SSL_CTX *sctx, *cctx;
	char err[256], desc[128];
	size_t n = 1024 * 1024, got = 0, put = 0;
	unsigned char *d = malloc(n), *r = malloc(n);
	int fds[2];

	ck_assert(d && r);
	if (!fg_tls_ktls_supported()) {
		free(d);
		free(r);
		return;
	}
	memset(&so, 0, sizeof(so));
	so.cert_chain = path_srv_cert;
	so.key = path_srv_key;
	so.ktls = true;
	memset(&co, 0, sizeof(co));
	co.ca = path_ca;
	co.ktls = true;
	sctx = fg_tls_server_ctx_new(&so, err, sizeof(err));
	ck_assert_msg(sctx, "%s", err);
	cctx = fg_tls_client_ctx_new(&co, err, sizeof(err));
	ck_assert_msg(cctx, "%s", err);
	ck_assert(SSL_CTX_get_options(sctx) & SSL_OP_ENABLE_KTLS);
	tcp_pair(fds, 0);
	ck_assert(connect_pair(&srv, sctx, &cli, cctx, fds, NULL, "127.0.0.1"));
	fill_data(d, n);
	while (got < n) {
		ssize_t w, k;

		if (put < n) {
			w = fg_tls_write(&srv, d + put, n - put);
			if (w > 0)
				put += (size_t)w;
			else
				ck_assert_msg(srv.status == FG_TLS_WANT, "%s", srv.err);
		}
		k = read_wait(&cli, r + got, n - got);
		ck_assert_msg(k > 0, "%s", cli.err);
		got += (size_t)k;
	}
	ck_assert(memcmp(d, r, n) == 0);
	fprintf(stderr, "check_tls: ktls: server %s, client %s\n", fg_tls_describe(&srv, desc, sizeof(desc)),
		fg_tls_ktls_active(&cli) ? "active" : "not active");
	close_pair(&srv, &cli, fds);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	free(d);
	free(r);
}
END_TEST

/* fg_tls_config_build(): a context per TLS listener and backend, none for
 * plain ones; a file that cannot be read is a FILE:LINE error and leaves
 * no context behind. */
START_TEST(config_build)
{
	static struct fg_config cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *errs;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.path, sizeof(cfg.path), "t.conf");
	cfg.n_listeners = 2;
	snprintf(cfg.listeners[0].name, sizeof(cfg.listeners[0].name), "ftps");
	cfg.listeners[0].line = 3;
	cfg.listeners[0].tls = FG_TLS_REQUIRED;
	snprintf(cfg.listeners[0].tls_cert, sizeof(cfg.listeners[0].tls_cert), "%s", path_srv_cert);
	snprintf(cfg.listeners[0].tls_key, sizeof(cfg.listeners[0].tls_key), "%s", path_srv_key);
	snprintf(cfg.listeners[1].name, sizeof(cfg.listeners[1].name), "plain");
	cfg.n_backends = 1;
	snprintf(cfg.backends[0].name, sizeof(cfg.backends[0].name), "in");
	cfg.backends[0].line = 9;
	cfg.backends[0].tls = FG_TLS_EXPLICIT;
	cfg.backends[0].tls_verify = true;
	snprintf(cfg.backends[0].tls_ca, sizeof(cfg.backends[0].tls_ca), "%s", path_ca);

	errs = open_memstream(&text, &len);
	ck_assert_int_eq(fg_tls_config_build(&cfg, errs), 0);
	fclose(errs);
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_nonnull(cfg.listeners[0].tls_ctx);
	ck_assert_ptr_null(cfg.listeners[1].tls_ctx);
	ck_assert_ptr_nonnull(cfg.backends[0].tls_ctx);
	fg_tls_config_free(&cfg);
	ck_assert_ptr_null(cfg.listeners[0].tls_ctx);
	ck_assert_ptr_null(cfg.backends[0].tls_ctx);
	free(text);

	/* A missing CA file on the backend: its error, and nothing kept. */
	in_dir(cfg.backends[0].tls_ca, sizeof(cfg.backends[0].tls_ca), "missing-ca.pem");
	text = NULL;
	errs = open_memstream(&text, &len);
	ck_assert_int_eq(fg_tls_config_build(&cfg, errs), 1);
	fclose(errs);
	ck_assert_msg(strncmp(text, "t.conf:9: backend 'in': ", 24) == 0 && contains(text, "missing-ca.pem") &&
			      contains(text, "No such file or directory"),
		      "%s", text);
	ck_assert_ptr_null(cfg.listeners[0].tls_ctx);
	ck_assert_ptr_null(cfg.backends[0].tls_ctx);
	free(text);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *t = tcase_create("tls");

	/* 8 MiB through small socket buffers, several times, under ASan */
	tcase_set_timeout(t, 300);
	tcase_add_test(t, ctx_errors);
	tcase_add_test(t, parse_helpers);
	tcase_add_loop_test(t, handshake_data_close, 0, 2);
	tcase_add_test(t, await_close);
	tcase_add_loop_test(t, truncated_stream, 0, 2);
	tcase_add_test(t, verify);
	tcase_add_test(t, client_cert_required);
	tcase_add_loop_test(t, resume_data_from_control, 0, 4);
	tcase_add_loop_test(t, reject_foreign_data, 0, 3);
	tcase_add_test(t, adopt_data_ticket);
	tcase_add_loop_test(t, pump, 0, (int)(sizeof(pump_cases) / sizeof(pump_cases[0])));
	tcase_add_test(t, ktls_optional);
	tcase_add_test(t, config_build);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	/* OpenSSL writes with write(2); session processes ignore SIGPIPE too. */
	signal(SIGPIPE, SIG_IGN);
	make_pki();
	sr = srunner_create(tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_pki();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
