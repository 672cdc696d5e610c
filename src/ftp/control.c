/* ftp/control.c - the control-channel state machine (see control.h). */
#include "ftp/control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "ftp/data.h"
#include "log.h"
#include "net.h"
#include "policy.h"
#include "xferlog.h"
#include "scoreboard.h"
#include "banned.h"

/* Queue records: one type byte, two length bytes (big endian), the line. */
enum { Q_LINE = 1, Q_TOOLONG = 2, Q_BADCHAR = 3 };
#define Q_HDR 3

/* Replies queued to the client beyond this stop us reading the backend:
 * a client that does not read its replies must not make us buffer more. */
#define C_OUT_LOW 4096

static const char *const ctrl_names[] = {
	"CONNECTING", "BANNER", "READY", "WAIT", "DATASETUP", "BACKEND_TLS", "CLOSING",
};

void fg_ctrl_set(struct fg_session *s, enum fg_ctrl_state st)
{
	if (s->ctrl != st)
		fg_log(LOG_DEBUG, "control %s -> %s", ctrl_names[s->ctrl], ctrl_names[st]);
	s->ctrl = st;
}

void fg_ctrl_reply(struct fg_session *s, int code, const char *text)
{
	if (fg_reply_put(&s->c_out, code, text) < 0)
		fg_session_close(s, "reply buffer to client overflowed", NULL);
}

void fg_ctrl_send(struct fg_session *s, const char *line, size_t len)
{
	size_t i, from = 0;
	int r = 0;

	/* The control connection is a Telnet stream: a 0xFF data byte (the
	 * client sent it as IAC IAC) goes out as IAC IAC again, or the
	 * backend would read it and the next byte as a Telnet command. */
	for (i = 0; i < len && r == 0; i++) {
		if ((unsigned char)line[i] == 0xff) {
			r = fg_buf_append(&s->b_out, line + from, i + 1 - from);
			from = i; /* the 0xFF starts the next piece too */
		}
	}
	if (r < 0 || fg_buf_append(&s->b_out, line + from, len - from) < 0 ||
	    fg_buf_append(&s->b_out, "\r\n", 2) < 0)
		fg_session_close(s, "command buffer to backend overflowed",
				 "421 Service not available, closing control connection.");
}

void fg_ctrl_forward_reply(struct fg_session *s)
{
	if (s->reply.code == 227 || s->reply.code == 229) {
		/* Only the answer to our own PASV/EPSV may carry a backend
		 * address, and that one is never relayed (data.c): any other
		 * 227/229 would hand the client the backend's address. */
		fg_log(LOG_WARNING, "backend sent %d out of turn; not relayed", s->reply.code);
		fg_ctrl_reply(s, 451, "Unexpected passive-mode reply from the server.");
		return;
	}
	if (fg_buf_append(&s->c_out, fg_buf_ptr(&s->reply.text), fg_buf_len(&s->reply.text)) < 0)
		fg_session_close(s, "reply buffer to client overflowed", NULL);
}

/* ---- control legs: plain or TLS ------------------------------------------ */

/* Read what fits into b from fd, through t unless t is NULL.  Returns as
 * fg_buf_read_fd(): > 0 bytes, 0 at the end (TLS: the peer's close_notify),
 * -1 with errno (EAGAIN: nothing yet; ENOBUFS: b is full; EPROTO: the TLS
 * connection failed or was cut without close_notify). */
static ssize_t leg_read(struct fg_buf *b, int fd, struct fg_tls *t, short *want)
{
	size_t room;
	char *tail;
	ssize_t r;

	*want = 0;
	if (!t)
		return fg_buf_read_fd(b, fd);
	if (fg_buf_room(b) == 0) {
		errno = ENOBUFS;
		return -1;
	}
	tail = fg_buf_tail(b, &room);
	r = fg_tls_read(t, tail, room);
	if (r > 0)
		fg_buf_commit(b, (size_t)r);
	else if (r < 0 && t->status == FG_TLS_WANT)
		*want = t->want;
	if (r < 0)
		errno = t->status == FG_TLS_WANT ? EAGAIN : EPROTO;
	return r;
}

/* Write what b holds to fd, through t unless t is NULL.  Returns bytes
 * written, or -1 with errno (EAGAIN: later). */
static ssize_t leg_write(struct fg_buf *b, int fd, struct fg_tls *t, short *want)
{
	ssize_t r;

	*want = 0;
	if (!t)
		return fg_buf_write_fd(b, fd);
	if (fg_buf_len(b) == 0)
		return 0;
	r = fg_tls_write(t, fg_buf_ptr(b), fg_buf_len(b));
	if (r > 0)
		fg_buf_consume(b, (size_t)r);
	else if (r < 0 && t->status == FG_TLS_WANT)
		*want = t->want;
	if (r < 0)
		errno = t->status == FG_TLS_WANT ? EAGAIN : EPROTO;
	return r;
}

/* The TLS connection of a control leg once its handshake is done; NULL
 * while the leg is plain. */
static struct fg_tls *client_tls(struct fg_session *s)
{
	return s->ctls_on ? &s->ctls : NULL;
}

static struct fg_tls *backend_tls(struct fg_session *s)
{
	return s->btls_on ? &s->btls : NULL;
}

ssize_t fg_ctrl_write_client(struct fg_session *s)
{
	if (s->ctls_on && !s->ctls.handshake_done) {
		errno = EAGAIN;
		return -1;
	}
	return leg_write(&s->c_out, s->cc.fd, client_tls(s), &s->c_wwant);
}

/* Advance the TLS handshake of a control leg.  Returns true once it is
 * done (and logged); a failure ends the session. */
static bool ctl_handshake(struct fg_session *s, bool client)
{
	struct fg_tls *t = client ? &s->ctls : &s->btls;
	const char *leg = client ? "client" : "backend";
	char desc[FG_TLS_DESCLEN], why[FG_TLS_ERRLEN + 64];
	enum fg_tls_status st;

	if (t->handshake_done)
		return true;
	st = fg_tls_handshake(t);
	if (st == FG_TLS_WANT)
		return false;
	if (st == FG_TLS_ERR) {
		(void)snprintf(why, sizeof(why), "%s TLS handshake failed: %s", leg, t->err);
		fg_log(LOG_WARNING, "%s", why);
		/* Nothing plain may go to a client that started TLS. */
		fg_session_close(s, why, client ? NULL
					 : "421 Service not available, TLS with the backend server failed.");
	}
	fg_audit("tls", "leg=%s tls=\"%s\"", leg, fg_tls_describe(t, desc, sizeof(desc)));
	return true;
}

/* Start TLS on the client control connection (implicit listener, or after
 * the 234 to AUTH TLS has been sent). */
static void start_client_tls(struct fg_session *s)
{
	s->auth_pending = false;
	if (fg_tls_start(&s->ctls, s->lst->tls_ctx, s->cc.fd, true, NULL, NULL) < 0) {
		fg_log(LOG_ERR, "cannot start TLS with the client: %s", s->ctls.err);
		fg_session_close(s, "cannot start TLS with the client", NULL);
	}
	s->ctls_on = true;
	(void)ctl_handshake(s, true);
}

static void backend_tls_ready(struct fg_session *s);

/* Start TLS on the backend control connection (implicit backend, or
 * after its 234 to our AUTH TLS). */
static void start_backend_tls(struct fg_session *s)
{
	const struct fg_backend *b = s->lst->backend;
	char host[FG_ADDRSTRLEN];
	const char *name = b->tls_server_name;

	if (!name[0])
		name = fg_net_ntop((const struct sockaddr *)&s->backend_peer.ss, false, host, sizeof(host));
	if (fg_tls_start(&s->btls, b->tls_ctx, s->bc.fd, false, NULL, name) < 0) {
		fg_log(LOG_ERR, "cannot start TLS with the backend: %s", s->btls.err);
		fg_session_close(s, "cannot start TLS with the backend",
				 "421 Service not available, TLS with the backend server failed.");
	}
	s->btls_on = true;
	if (ctl_handshake(s, false))
		backend_tls_ready(s);
}

/* Send one command of our own TLS set-up to the backend. */
static void backend_tls_send(struct fg_session *s, enum fg_btls_step step, const char *cmd)
{
	s->btls_step = step;
	fg_ctrl_send(s, cmd, strlen(cmd));
	fg_ctrl_set(s, FG_CTRL_BACKEND_TLS);
	fg_timer_set(&s->loop, &s->t_wait, (uint64_t)s->cfg->connect_timeout * 1000);
}

/* The backend's TLS handshake is done: explicit mode goes on with PBSZ;
 * implicit mode now waits for the banner. */
static void backend_tls_ready(struct fg_session *s)
{
	if (s->btls_step == FG_BTLS_AUTH)
		backend_tls_send(s, FG_BTLS_PBSZ, "PBSZ 0");
}

/* A reply to our own TLS set-up on the backend. */
static void backend_tls_reply(struct fg_session *s)
{
	static const char *const what[] = {"", "AUTH TLS", "PBSZ 0", "PROT P", ""};
	int code = s->reply.code;
	char why[160], esc[120];

	if (fg_reply_is_prelim(code))
		return;
	if ((s->btls_step == FG_BTLS_AUTH && code != 234) ||
	    (s->btls_step != FG_BTLS_AUTH && !fg_reply_is_ok(code))) {
		(void)snprintf(why, sizeof(why), "backend refused %s: %s", what[s->btls_step],
			       fg_log_escape(esc, sizeof(esc), fg_buf_ptr(&s->reply.text),
					     fg_buf_len(&s->reply.text)));
		fg_log(LOG_WARNING, "%s", why);
		fg_session_close(s, why, "421 Service not available, TLS with the backend server failed.");
	}
	switch (s->btls_step) {
	case FG_BTLS_AUTH:
		/* The server speaks TLS from its next byte: plain bytes after
		 * the 234 would be an injection. */
		if (fg_buf_len(&s->b_in) > 0)
			fg_session_close(s, "backend sent plain text after 234",
					 "421 Service not available, TLS with the backend server failed.");
		fg_timer_set(&s->loop, &s->t_wait, (uint64_t)s->cfg->connect_timeout * 1000);
		start_backend_tls(s);
		break;
	case FG_BTLS_PBSZ:
		backend_tls_send(s, FG_BTLS_PROT, "PROT P");
		break;
	default:
		s->btls_step = FG_BTLS_DONE;
		fg_ctrl_done(s);
		break;
	}
}

/* ---- backend connection ------------------------------------------------ */

static void on_backend(struct fg_io *io, short rev);

/* Dial servers[backend_try], or the next one that accepts a connect(). */
static void dial_backend(struct fg_session *s)
{
	const struct fg_backend *b = s->lst->backend;
	char addr[FG_ADDRSTRLEN];

	while (s->backend_try < b->n_servers) {
		const struct fg_sockaddr *to = &b->servers[s->backend_try];
		int fd = fg_net_connect((const struct sockaddr *)&to->ss, to->len);

		if (fd >= 0) {
			s->backend_peer = *to;
			fg_net_unmap(&s->backend_peer);
			fg_io_add(&s->loop, &s->bc, fd, on_backend, s);
			fg_timer_set(&s->loop, &s->t_wait, (uint64_t)s->cfg->connect_timeout * 1000);
			return;
		}
		fg_log(LOG_WARNING, "backend %s: connect: %s",
		       fg_net_ntop((const struct sockaddr *)&to->ss, true, addr, sizeof(addr)),
		       strerror(errno));
		s->backend_try++;
	}
	fg_session_close(s, "no backend server reachable",
			 "421 Service not available, backend server unreachable.");
}

void fg_ctrl_start(struct fg_session *s)
{
	fg_ctrl_set(s, FG_CTRL_CONNECTING);
	s->backend_try = 0;
	dial_backend(s);
}

/* The backend connect finished (well or badly). */
static void backend_connected(struct fg_session *s)
{
	char addr[FG_ADDRSTRLEN];
	int err = fg_net_connect_result(s->bc.fd);

	fg_net_ntop((const struct sockaddr *)&s->backend_peer.ss, true, addr, sizeof(addr));
	if (err) {
		fg_log(LOG_WARNING, "backend %s: connect: %s", addr, strerror(err));
		close(s->bc.fd);
		fg_io_del(&s->loop, &s->bc);
		s->backend_try++;
		dial_backend(s);
		return;
	}
	fg_net_control_opts(s->bc.fd);
	fg_audit("backend", "server=%s", addr);
	fg_ctrl_set(s, FG_CTRL_BANNER);
	fg_timer_set(&s->loop, &s->t_wait, (uint64_t)s->cfg->connect_timeout * 1000);
	if (s->lst->backend->tls == FG_TLS_IMPLICIT)
		start_backend_tls(s);
}

/* ---- commands ------------------------------------------------------------ */

/* Move complete client lines from c_in into the queue while there is room.
 * An ABOR seen while a transfer runs stops the transfer at once; the ABOR
 * line itself stays queued and goes to the backend in its turn. */
static void pull_lines(struct fg_session *s)
{
	while (fg_buf_len(&s->c_in) > 0 && fg_buf_room(&s->queue) >= FG_MAX_CMD_LINE + Q_HDR) {
		size_t used = 0;
		enum fg_cmd_status st = fg_cmd_feed(&s->reader, fg_buf_ptr(&s->c_in),
						    fg_buf_len(&s->c_in), &used);
		unsigned char hdr[Q_HDR];
		size_t len = st == FG_CMD_LINE ? s->reader.len : 0;

		fg_buf_consume(&s->c_in, used);
		if (st == FG_CMD_AGAIN)
			break;
		hdr[0] = st == FG_CMD_LINE ? Q_LINE : st == FG_CMD_TOOLONG ? Q_TOOLONG : Q_BADCHAR;
		hdr[1] = (unsigned char)(len >> 8);
		hdr[2] = (unsigned char)(len & 0xff);
		/* Room was checked above: a line is at most FG_MAX_CMD_LINE. */
		(void)fg_buf_append(&s->queue, hdr, Q_HDR);
		(void)fg_buf_append(&s->queue, s->reader.line, len);
		/* (An ABOR that deny_commands refuses stops nothing: it
		 * gets its 502 in its turn.) */
		if (st == FG_CMD_LINE && s->data == FG_DATA_TRANSFER && len >= 4 &&
		    strncasecmp(s->reader.line, "ABOR", 4) == 0 &&
		    (len == 4 || s->reader.line[4] == ' ') &&
		    fg_policy_verb_allowed(&s->lst->policy, "ABOR", NULL))
			fg_data_abort(s, "client sent ABOR");
	}
}

/* Send the current command on to the backend and wait for its reply. */
static void forward_cur(struct fg_session *s)
{
	fg_ctrl_send(s, s->cur_line, s->cur_len);
	fg_ctrl_set(s, FG_CTRL_WAIT);
	fg_timer_set(&s->loop, &s->t_wait, (uint64_t)s->cfg->data_timeout * 1000);
}

/* Commands of RFC 2228: the proxy answers them itself, never the backend
 * (each leg has its own security). */
static bool is_tls_verb(enum fg_verb v)
{
	return v == FG_V_AUTH || v == FG_V_PBSZ || v == FG_V_PROT || v == FG_V_CCC ||
	       v == FG_V_ADAT || v == FG_V_MIC || v == FG_V_CONF || v == FG_V_ENC;
}

/* Is the argument of the command in progress (case-insensitively) one of
 * the words in list (NULL-terminated)? */
static bool arg_is(const struct fg_cmd *c, const char *const *list)
{
	for (; *list; list++)
		if (c->arg.len == strlen(*list) && strncasecmp(c->arg.ptr, *list, c->arg.len) == 0)
			return true;
	return false;
}

/* AUTH / PBSZ / PROT / CCC and the other RFC 2228 commands (RFC 4217). */
static void tls_command(struct fg_session *s)
{
	static const char *const mechs[] = {"TLS", "TLS-C", "SSL", "TLS-P", NULL};
	const struct fg_cmd *c = &s->cur;
	size_t dropped;

	if (s->lst->tls == FG_TLS_OFF && c->verb != FG_V_CCC) {
		fg_ctrl_reply(s, 502, "Command not implemented: TLS is not enabled on this gateway.");
		return;
	}
	switch (c->verb) {
	case FG_V_AUTH:
		if (s->ctls_on) {
			fg_ctrl_reply(s, 503, "Already using TLS.");
			return;
		}
		if (!arg_is(c, mechs)) {
			fg_ctrl_reply(s, 504, "AUTH mechanism not supported; use AUTH TLS.");
			return;
		}
		fg_ctrl_reply(s, 234, "Proceed with TLS negotiation.");
		/* Whatever the client sent after AUTH in plain text must not
		 * count as sent under TLS (command injection): drop it. */
		dropped = fg_buf_len(&s->queue) + fg_buf_len(&s->c_in);
		fg_buf_clear(&s->queue);
		fg_buf_clear(&s->c_in);
		fg_cmd_reader_init(&s->reader);
		if (dropped)
			fg_log(LOG_WARNING, "dropped %zu bytes the client sent after AUTH before TLS", dropped);
		s->auth_pending = true;
		return;
	case FG_V_PBSZ:
		if (!s->ctls_on)
			fg_ctrl_reply(s, 503, "PBSZ needs AUTH TLS first.");
		else
			fg_ctrl_reply(s, 200, "PBSZ=0");
		return;
	case FG_V_PROT:
		if (!s->ctls_on) {
			fg_ctrl_reply(s, 503, "PROT needs AUTH TLS first.");
		} else if (c->arg.len == 1 && (c->arg.ptr[0] == 'P' || c->arg.ptr[0] == 'p')) {
			s->prot_p = true;
			fg_ctrl_reply(s, 200, "Protection level set to Private.");
		} else if (c->arg.len == 1 && (c->arg.ptr[0] == 'C' || c->arg.ptr[0] == 'c')) {
			if (s->lst->tls == FG_TLS_REQUIRED) {
				fg_ctrl_reply(s, 536, "PROT C refused: data connections must be protected here.");
			} else {
				s->prot_p = false;
				fg_ctrl_reply(s, 200, "Protection level set to Clear.");
			}
		} else if (c->arg.len == 1 && strchr("SEse", c->arg.ptr[0])) {
			fg_ctrl_reply(s, 536, "Protection level not supported; use PROT P.");
		} else {
			fg_ctrl_reply(s, 504, "Unknown protection level.");
		}
		return;
	case FG_V_CCC:
		fg_ctrl_reply(s, 534, "CCC refused: the control connection stays protected.");
		return;
	default:
		fg_ctrl_reply(s, 502, "Command not implemented.");
		return;
	}
}

/* tls = required: before AUTH TLS only what a client needs to find and
 * start TLS is served.  Returns true when the command may go on. */
static bool tls_gate(struct fg_session *s)
{
	enum fg_verb v = s->cur.verb;

	if (s->lst->tls != FG_TLS_REQUIRED || s->ctls_on || is_tls_verb(v) || v == FG_V_FEAT ||
	    v == FG_V_QUIT || v == FG_V_NOOP || v == FG_V_HELP || v == FG_V_SYST)
		return true;
	fg_ctrl_reply(s, 530, "TLS required: use AUTH TLS before logging in.");
	if ((s->cur.flags & FG_CMDF_TRANSFER) && s->data != FG_DATA_NONE)
		fg_data_reset(s, true);
	return false;
}

/* Arm the login timer unless it runs already (login_timeout 0: never). */
static void login_pending(struct fg_session *s)
{
	if (s->lst->login_timeout && !s->t_login.armed)
		fg_timer_set(&s->loop, &s->t_login, (uint64_t)s->lst->login_timeout * 1000);
}

/* Apply the listener's command policy to the command in s->cur, before
 * the proxy acts on it in any way (a refused USER sets no user name, a
 * refused PORT opens nothing).  Returns true when the command may go on;
 * otherwise the client has its 502 or 550, and the refusal is logged as
 * event=policy (the argument of PASS/ACCT never: it shows as ****). */
static bool policy_allows(struct fg_session *s)
{
	const struct fg_cmd *c = &s->cur;
	struct fg_policy_hit hit;
	enum fg_policy_verdict v;
	char arg[600];

	v = fg_policy_check(&s->lst->policy, &s->pctx, c->name, c->arg.ptr, c->arg.len, &hit);
	if (v == FG_POLICY_OK)
		return true;
	if (c->flags & FG_CMDF_SECRET)
		(void)snprintf(arg, sizeof(arg), "\"****\"");
	else
		fg_log_escape(arg, sizeof(arg), c->arg.ptr, c->arg.len);
	if (hit.rule) {
		char pat[300], text[120], why[160] = "";

		fg_log_escape(pat, sizeof(pat), hit.rule->pattern, strlen(hit.rule->pattern));
		if (hit.match_error) {
			fg_policy_error_text(hit.match_error, text, sizeof(text));
			fg_log_escape(why, sizeof(why), text, strlen(text));
		}
		fg_audit("policy", "verb=%s arg=%s rule=%s:%d pattern=%s%s%s", c->name, arg, hit.key,
			 hit.rule->line, pat, hit.match_error ? " match_error=" : "", why);
	} else {
		fg_audit("policy", "verb=%s arg=%s rule=%s", c->name, arg, hit.key);
	}
	if (v == FG_POLICY_DENY_VERB)
		fg_ctrl_reply(s, 502, "Command not allowed by policy.");
	else
		fg_ctrl_reply(s, 550, "Argument refused by policy.");
	/* A refused transfer, like one the server refuses, uses up the
	 * prepared data connection. */
	if ((c->flags & FG_CMDF_TRANSFER) && s->data != FG_DATA_NONE)
		fg_data_reset(s, true);
	return false;
}

/* Handle one queued client line.  Either answers it here (state stays
 * READY) or forwards it (state WAIT/DATASETUP). */
static void handle_line(struct fg_session *s, int type, const char *line, size_t len)
{
	struct fg_cmd *c = &s->cur;

	if (type == Q_TOOLONG) {
		fg_log(LOG_NOTICE, "client command line longer than %d bytes discarded", FG_MAX_CMD_LINE);
		fg_ctrl_reply(s, 500, "Command line too long.");
		return;
	}
	if (type == Q_BADCHAR) {
		fg_log(LOG_NOTICE, "client command line with NUL or bare CR discarded");
		fg_ctrl_reply(s, 500, "Command line contains an illegal character.");
		return;
	}
	memcpy(s->cur_line, line, len);
	s->cur_len = len;
	if (fg_cmd_parse(s->cur_line, s->cur_len, c) < 0) {
		fg_ctrl_reply(s, 500, "Syntax error, command unrecognized.");
		return;
	}
	if (fg_log_debug_enabled()) {
		char esc[256];
		if (c->flags & FG_CMDF_SECRET)
			fg_log(LOG_DEBUG, "client: %s ****", c->name);
		else
			fg_log(LOG_DEBUG, "client: %s", fg_log_escape(esc, sizeof(esc), line, len));
	}
	if (!policy_allows(s) || !tls_gate(s))
		return;
	if (is_tls_verb(c->verb)) {
		tls_command(s);
		return;
	}

	switch (c->verb) {
	case FG_V_PASV: case FG_V_EPSV: case FG_V_PORT: case FG_V_EPRT:
		fg_data_setup_cmd(s);
		return;
	case FG_V_LPRT: case FG_V_LPSV: case FG_V_SPSV:
		fg_ctrl_reply(s, 502, "Command not implemented; use EPSV or EPRT.");
		return;
	case FG_V_USER:
		(void)snprintf(s->user, sizeof(s->user), "%.*s",
			       (int)(c->arg.len < sizeof(s->user) ? c->arg.len : sizeof(s->user) - 1),
			       c->arg.ptr);
		s->logged_in = false;
		/* A new login (after a completed one) gets its own deadline. */
		login_pending(s);
		break;
	case FG_V_REIN:
		/* RFC 4217 would drop TLS here, in the middle of the stream. */
		if (s->ctls_on || s->btls_on) {
			fg_ctrl_reply(s, 502, "REIN is not supported on a TLS session.");
			return;
		}
		break;
	default:
		break;
	}
	if (c->flags & FG_CMDF_TRANSFER) {
		if (s->data != FG_DATA_READY) {
			fg_ctrl_reply(s, 425, "Use PORT, PASV, EPRT or EPSV first.");
			return;
		}
		if (s->lst->tls == FG_TLS_REQUIRED && !s->prot_p) {
			fg_data_reset(s, true);
			fg_ctrl_reply(s, 521, "Data connection cannot be opened with this PROT setting; use PROT P.");
			return;
		}
		forward_cur(s);
		fg_data_transfer_begin(s, (c->flags & FG_CMDF_UPLOAD) != 0);
		return;
	}
	forward_cur(s);
}

/* Handle queued lines while no command is in progress. */
static void run_queue(struct fg_session *s)
{
	while (s->ctrl == FG_CTRL_READY && fg_buf_len(&s->queue) >= Q_HDR) {
		const unsigned char *q = (const unsigned char *)fg_buf_ptr(&s->queue);
		int type = q[0];
		size_t len = ((size_t)q[1] << 8) | q[2];
		char line[FG_MAX_CMD_LINE];

		memcpy(line, q + Q_HDR, len);
		fg_buf_consume(&s->queue, Q_HDR + len);
		fg_timer_stop(&s->loop, &s->t_idle);
		handle_line(s, type, line, len);
		/* Lines may have waited in c_in for queue room. */
		pull_lines(s);
	}
	if (s->ctrl == FG_CTRL_READY && !s->t_idle.armed)
		fg_timer_set(&s->loop, &s->t_idle, (uint64_t)s->cfg->idle_timeout * 1000);
}

void fg_ctrl_done(struct fg_session *s)
{
	fg_timer_stop(&s->loop, &s->t_wait);
	fg_ctrl_set(s, FG_CTRL_READY);
	run_queue(s);
}

/* ---- replies ------------------------------------------------------------- */

/* Log the outcome of USER/PASS/ACCT; a success ends the login deadline,
 * a refused PASS or ACCT counts toward max_login_attempts. */
static void audit_login(struct fg_session *s, int code)
{
	char user[160];

	fg_log_escape(user, sizeof(user), s->user, strlen(s->user));
	if (code == 230 || code == 202) {
		s->logged_in = true;
		fg_timer_stop(&s->loop, &s->t_login);
		fg_audit("login", "user=%s result=ok code=%d", user, code);
	} else if (code >= 400) {
		if (s->cur.verb == FG_V_PASS || s->cur.verb == FG_V_ACCT)
			s->login_failures++;
		fg_audit("login", "user=%s result=fail code=%d failures=%u", user, code,
			 s->login_failures);
	}
	/* The master counts failed logins per address (ban_after). */
	fg_sb_login(s, code);
}

/* After the reply to a failed PASS/ACCT has gone out: end the session
 * once max_login_attempts failures are reached.  The count is per
 * session and survives REIN and USER, so a client cannot reset it. */
static void check_login_failures(struct fg_session *s)
{
	unsigned max = s->lst->max_login_attempts;

	if (max && s->login_failures >= max)
		fg_session_close(s, "too many failed logins", "421 Too many failed logins.");
}

/* TYPE argument: does it select an 8-bit binary type (I, or L 8)? */
static bool type_is_image(const struct fg_span *arg)
{
	return arg->len > 0 && (arg->ptr[0] == 'I' || arg->ptr[0] == 'i' ||
				arg->ptr[0] == 'L' || arg->ptr[0] == 'l');
}

/* Forward a FEAT reply with the features the proxy changes adjusted:
 * those it does not offer (RFC 2228 without TLS, LPSV/LPRT/SPSV) and
 * those whose commands the policy refuses removed; EPRT and EPSV, which
 * the proxy always implements, added unless the policy refuses them. */
static void forward_feat(struct fg_session *s)
{
	static const char *const fixed[] = {"AUTH", "PBSZ", "PROT", "CCC", "ADAT", "LPSV", "LPRT", "SPSV"};
	const struct fg_policy *pol = &s->lst->policy;
	/* The fixed ones, deny_commands, and policy.c's feature table (< 64). */
	const char *remove[sizeof(fixed) / sizeof(fixed[0]) + FG_MAX_POLICY_VERBS + 64];
	const char *add[6];
	size_t n, k = 0;

	for (n = 0; n < sizeof(fixed) / sizeof(fixed[0]); n++)
		remove[n] = fixed[n];
	n += fg_policy_feat_hidden(pol, remove + n, sizeof(remove) / sizeof(remove[0]) - n - 1);
	remove[n] = NULL;
	if (fg_policy_verb_allowed(pol, "EPRT", NULL))
		add[k++] = "EPRT";
	if (fg_policy_verb_allowed(pol, "EPSV", NULL))
		add[k++] = "EPSV";
	if (s->lst->tls != FG_TLS_OFF && fg_policy_verb_allowed(pol, "AUTH", NULL)) {
		/* Ours, whatever the backend offers on its own leg. */
		add[k++] = "AUTH TLS";
		if (fg_policy_verb_allowed(pol, "PBSZ", NULL))
			add[k++] = "PBSZ";
		if (fg_policy_verb_allowed(pol, "PROT", NULL))
			add[k++] = "PROT";
	}
	add[k] = NULL;
	if (fg_reply_adjust_feat(fg_buf_ptr(&s->reply.text), fg_buf_len(&s->reply.text),
				 remove, add, &s->c_out) < 0)
		fg_session_close(s, "reply buffer to client overflowed", NULL);
}

/* A file transfer (not a listing) for the xferlog, if there is one. */
static void xferlog_transfer(struct fg_session *s, uint64_t ms, const char *result)
{
	struct fg_xferlog_rec r;
	char host[FG_ADDRSTRLEN];
	enum fg_verb v = s->cur.verb;

	if (!fg_xferlog_enabled() ||
	    (v != FG_V_RETR && v != FG_V_STOR && v != FG_V_STOU && v != FG_V_APPE))
		return;
	memset(&r, 0, sizeof(r));
	r.when = time(NULL);
	r.ms = ms;
	r.host = fg_net_ntop((const struct sockaddr *)&s->client_peer.ss, false, host, sizeof(host));
	r.bytes = s->xfer_bytes;
	r.path = s->cur.arg.ptr;
	r.path_len = s->cur.arg.len;
	r.binary = s->type_image;
	r.incoming = (s->cur.flags & FG_CMDF_UPLOAD) != 0;
	r.user = s->user;
	r.complete = result[0] == '2';
	fg_xferlog_write(&r);
}

/* Log the end of a transfer with its result code. */
static void audit_transfer(struct fg_session *s, const char *result)
{
	char path[600];
	uint64_t ms = fg_now_ms() - s->xfer_start_ms;

	fg_log_escape(path, sizeof(path), s->cur.arg.ptr, s->cur.arg.len);
	fg_audit("transfer", "cmd=%s path=%s bytes=%llu seconds=%llu.%03llu result=%s mode=%s relay=%s%s%s%s%s%s%s",
		 s->cur.name, path, (unsigned long long)s->xfer_bytes,
		 (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000), result,
		 s->mode == FG_MODE_PORT || s->mode == FG_MODE_EPRT ? "active" : "passive",
		 s->tls_pump ? "tls" : s->cfg->relay_splice ? "splice" : "copy",
		 s->cd_tls_desc[0] ? " client_tls=\"" : "", s->cd_tls_desc, s->cd_tls_desc[0] ? "\"" : "",
		 s->bd_tls_desc[0] ? " backend_tls=\"" : "", s->bd_tls_desc, s->bd_tls_desc[0] ? "\"" : "");
	xferlog_transfer(s, ms, result);
	s->transfers++;
}

void fg_ctrl_transfer_cut(struct fg_session *s)
{
	if (!(s->cur.flags & FG_CMDF_TRANSFER) ||
	    (s->data != FG_DATA_TRANSFER && s->data != FG_DATA_DRAINED))
		return;
	fg_data_account(s);
	audit_transfer(s, "aborted");
}

/* Send the final reply of the transfer (held or just arrived) and finish. */
static void finish_transfer(struct fg_session *s)
{
	int code = s->reply.code;
	char result[8];

	if (s->xfer_failed && code < 400) {
		/* A data leg broke: whatever the backend thinks, the client did
		 * not get (or give) every byte.  xfer_fail_why is a whole reply
		 * line, code included ("426 Connection closed; ..."). */
		const char *line = s->xfer_fail_why ? s->xfer_fail_why
						    : "426 Connection closed; transfer aborted.";

		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		fg_ctrl_reply(s, code, line + 4);
	} else {
		fg_ctrl_forward_reply(s);
	}
	(void)snprintf(result, sizeof(result), "%d", code);
	audit_transfer(s, result);
	s->reply_held = false;
	fg_data_reset(s, false);
	fg_ctrl_done(s);
}

void fg_ctrl_transfer_drained(struct fg_session *s)
{
	if (s->reply_held)
		finish_transfer(s);
	else if (s->ctrl == FG_CTRL_WAIT)
		/* The data is done; the final reply must follow within the
		 * reply wait, or the client would wait forever. */
		fg_timer_set(&s->loop, &s->t_wait, (uint64_t)s->cfg->data_timeout * 1000);
}

/* A whole reply is in s->reply: act on it according to the state. */
static void on_reply(struct fg_session *s)
{
	int code = s->reply.code;

	if (fg_log_debug_enabled()) {
		char esc[256];
		fg_log(LOG_DEBUG, "backend: %s",
		       fg_log_escape(esc, sizeof(esc), fg_buf_ptr(&s->reply.text), fg_buf_len(&s->reply.text)));
	}
	if (code == 421) {
		/* The backend is ending the session: say so once, and go. */
		fg_ctrl_forward_reply(s);
		fg_session_close(s, "backend ended the session (421)", NULL);
	}
	switch (s->ctrl) {
	case FG_CTRL_BANNER:
		if (fg_reply_is_prelim(code)) {
			fg_ctrl_forward_reply(s);
			return;
		}
		if (code != 220) {
			fg_ctrl_forward_reply(s);
			fg_session_close(s, "backend refused the session", NULL);
		}
		if (s->lst->banner[0])
			fg_ctrl_reply(s, 220, s->lst->banner);
		else
			fg_ctrl_forward_reply(s);
		/* The client's commands wait in the queue until the backend
		 * leg is protected. */
		if (s->lst->backend->tls == FG_TLS_EXPLICIT)
			backend_tls_send(s, FG_BTLS_AUTH, "AUTH TLS");
		else if (s->lst->backend->tls == FG_TLS_IMPLICIT)
			backend_tls_send(s, FG_BTLS_PBSZ, "PBSZ 0");
		else
			fg_ctrl_done(s);
		return;
	case FG_CTRL_BACKEND_TLS:
		backend_tls_reply(s);
		return;
	case FG_CTRL_DATASETUP:
		fg_data_setup_reply(s);
		return;
	case FG_CTRL_WAIT:
		break;
	default: {
		/* Unsolicited: nobody asked, so relaying it would make every
		 * later reply answer the wrong command.  Drop it and say so. */
		char esc[160];
		fg_log(LOG_NOTICE, "dropped an unsolicited reply from the backend: %s",
		       fg_log_escape(esc, sizeof(esc), fg_buf_ptr(&s->reply.text),
				     fg_buf_len(&s->reply.text)));
		return;
	}
	}

	if (fg_reply_is_prelim(code)) {
		fg_ctrl_forward_reply(s);
		if (s->data == FG_DATA_TRANSFER) {
			/* Data is moving now: the data timer watches it. */
			fg_timer_stop(&s->loop, &s->t_wait);
			fg_data_prelim(s);
		}
		return;
	}
	if (s->cur.flags & FG_CMDF_TRANSFER) {
		if (fg_reply_is_error(code)) {
			fg_data_reset(s, true);
			s->xfer_failed = false;
			finish_transfer(s);
		} else if (s->data == FG_DATA_DRAINED || s->data == FG_DATA_NONE) {
			finish_transfer(s);
		} else {
			/* 226 before the client has all the data: hold it.  (An
			 * active-mode client still needs its connection if the
			 * backend skipped the 1xx.) */
			s->reply_held = true;
			fg_data_prelim(s);
			fg_timer_stop(&s->loop, &s->t_wait);
		}
		return;
	}
	switch (s->cur.verb) {
	case FG_V_FEAT:
		if (code == 211)
			forward_feat(s);
		else
			fg_ctrl_forward_reply(s);
		break;
	case FG_V_USER:
	case FG_V_PASS:
	case FG_V_ACCT:
		audit_login(s, code);
		fg_ctrl_forward_reply(s);
		check_login_failures(s);
		break;
	case FG_V_TYPE:
		if (fg_reply_is_ok(code))
			s->type_image = type_is_image(&s->cur.arg);
		fg_ctrl_forward_reply(s);
		break;
	case FG_V_QUIT:
		fg_ctrl_forward_reply(s);
		fg_session_close(s, "client quit", NULL);
	case FG_V_REIN:
		s->logged_in = false;
		if (fg_reply_is_ok(code)) {
			/* Back to the state of a new connection. */
			s->type_image = false;
			login_pending(s);
		}
		fg_data_reset(s, true);
		fg_ctrl_forward_reply(s);
		break;
	default:
		fg_ctrl_forward_reply(s);
		break;
	}
	fg_ctrl_done(s);
}

/* RFC 959 4.2: a line inside a multi-line reply that begins with a digit
 * must be padded.  The reply reader keeps such lines as free text, but a
 * client that ends a reply at any "ddd " line (curl does) would read the
 * rest out of step, and an inner "227 ... (10,0,0,5,...)" line would show
 * it a backend address.  So pad them with a space before anything acts
 * on the reply.  Returns 0, or -1 when the padded reply would exceed
 * FG_MAX_REPLY_BYTES. */
static int pad_inner_lines(struct fg_reply_reader *r)
{
	static char tmp[FG_MAX_REPLY_BYTES];
	const char *p = fg_buf_ptr(&r->text);
	size_t len = fg_buf_len(&r->text), first_end, last_start, i, o = 0;
	bool any = false;

	if (r->nlines < 3)
		return 0;
	first_end = (size_t)((const char *)memchr(p, '\n', len) - p) + 1;
	for (last_start = len - 1; p[last_start - 1] != '\n'; last_start--)
		;
	for (i = first_end; i < last_start; i++)
		if ((i == first_end || p[i - 1] == '\n') && p[i] >= '0' && p[i] <= '9')
			any = true;
	if (!any)
		return 0;
	for (i = 0; i < len; i++) {
		if (i >= first_end && i < last_start && p[i - 1] == '\n' && p[i] >= '0' && p[i] <= '9') {
			if (o >= sizeof(tmp))
				return -1;
			tmp[o++] = ' ';
		}
		if (o >= sizeof(tmp))
			return -1;
		tmp[o++] = p[i];
	}
	fg_buf_clear(&r->text);
	return fg_buf_append(&r->text, tmp, o);
}

/* Read whole replies out of b_in while the client side can take them. */
static void pull_replies(struct fg_session *s)
{
	while (!s->reply_held && fg_buf_len(&s->b_in) > 0 && fg_buf_len(&s->c_out) <= C_OUT_LOW &&
	       s->ctrl != FG_CTRL_CLOSING) {
		size_t used = 0;
		enum fg_reply_status st = fg_reply_feed(&s->reply, fg_buf_ptr(&s->b_in),
							fg_buf_len(&s->b_in), &used);

		fg_buf_consume(&s->b_in, used);
		if (st == FG_REPLY_ERROR) {
			char why[160];
			(void)snprintf(why, sizeof(why), "malformed reply from backend: %s", s->reply.error);
			fg_session_close(s, why, "421 Service not available, backend sent an invalid reply.");
		}
		if (st == FG_REPLY_AGAIN)
			break;
		if (pad_inner_lines(&s->reply) < 0)
			fg_session_close(s, "malformed reply from backend: too long once padded",
					 "421 Service not available, backend sent an invalid reply.");
		on_reply(s);
	}
}

/* ---- socket callbacks ---------------------------------------------------- */

static void on_backend(struct fg_io *io, short rev)
{
	struct fg_session *s = io->arg;

	if (s->ctrl == FG_CTRL_CONNECTING) {
		backend_connected(s);
		return;
	}
	if (s->btls_on && !s->btls.handshake_done) {
		if (!ctl_handshake(s, false))
			return;
		backend_tls_ready(s);
	}
	/* A TLS call may wait for the other event than its own direction's:
	 * on any event, try both (a call that cannot proceed returns WANT). */
	if (s->btls_on) {
		rev |= POLLOUT;
		if (!s->reply_held && fg_buf_len(&s->c_out) <= C_OUT_LOW)
			rev |= POLLIN;
	}
	if ((rev & POLLOUT) && fg_buf_len(&s->b_out) > 0) {
		if (leg_write(&s->b_out, io->fd, backend_tls(s), &s->b_wwant) < 0 && errno != EAGAIN)
			fg_session_close(s, "backend control connection failed",
					 "421 Service not available, backend connection lost.");
	}
	if (rev & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t r = leg_read(&s->b_in, io->fd, backend_tls(s), &s->b_rwant);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != ENOBUFS)) {
			s->backend_eof = true;
			pull_replies(s);
			fg_session_close(s, r == 0 ? "backend closed the control connection"
						   : "backend control connection failed",
					 "421 Service not available, backend closed the connection.");
		}
		pull_replies(s);
	}
}

static void on_client(struct fg_io *io, short rev)
{
	struct fg_session *s = io->arg;

	if (s->ctls_on && !s->ctls.handshake_done) {
		if (!ctl_handshake(s, true))
			return;
	}
	/* Records may have come with the last handshake message, and a TLS
	 * call may wait for the other event than its own direction's: try
	 * both (a call that cannot proceed returns WANT). */
	if (s->ctls_on)
		rev |= POLLIN | POLLOUT;
	if ((rev & POLLOUT) && fg_buf_len(&s->c_out) > 0) {
		if (fg_ctrl_write_client(s) < 0 && errno != EAGAIN)
			fg_session_close(s, "client control connection failed", NULL);
		/* The 234 is out: the client's next byte starts TLS. */
		if (s->auth_pending && fg_buf_len(&s->c_out) == 0) {
			start_client_tls(s);
			return;
		}
		/* Room again for replies the backend already sent. */
		pull_replies(s);
	}
	/* While the 234 goes out, the client's bytes are its TLS handshake:
	 * never read them as plain text. */
	if ((rev & (POLLIN | POLLHUP | POLLERR)) && !s->auth_pending) {
		ssize_t r = leg_read(&s->c_in, io->fd, client_tls(s), &s->c_rwant);
		if (r == 0)
			fg_session_close(s, "client closed the control connection", NULL);
		if (r < 0 && errno != EAGAIN && errno != ENOBUFS)
			fg_session_close(s, "client control connection failed", NULL);
		pull_lines(s);
		run_queue(s);
	}
}

/* The events a TLS leg waits for: the handshake's; else, for each
 * direction we want to move (ev), the event its last call waits for
 * (OpenSSL may need the other one: a write that must read first). */
static short tls_events(const struct fg_tls *t, short ev, short rwant, short wwant)
{
	short r = 0;

	if (!t->handshake_done)
		return t->want;
	if (ev & POLLIN)
		r |= rwant ? rwant : POLLIN;
	if (ev & POLLOUT)
		r |= wwant ? wwant : POLLOUT;
	return r;
}

void fg_ctrl_interest(struct fg_session *s)
{
	short ev = 0;

	if (s->ctrl != FG_CTRL_CLOSING && !s->auth_pending && fg_buf_room(&s->c_in) > 0)
		ev |= POLLIN;
	if (fg_buf_len(&s->c_out) > 0)
		ev |= POLLOUT;
	s->cc.events = s->ctls_on ? tls_events(&s->ctls, ev, s->c_rwant, s->c_wwant) : ev;

	if (!s->bc.added)
		return;
	if (s->ctrl == FG_CTRL_CONNECTING) {
		s->bc.events = POLLOUT;
		return;
	}
	ev = 0;
	if (!s->reply_held && fg_buf_len(&s->c_out) <= C_OUT_LOW && fg_buf_room(&s->b_in) > 0)
		ev |= POLLIN;
	if (fg_buf_len(&s->b_out) > 0)
		ev |= POLLOUT;
	s->bc.events = s->btls_on ? tls_events(&s->btls, ev, s->b_rwant, s->b_wwant) : ev;
}

void fg_ctrl_pending(struct fg_session *s)
{
	/* OpenSSL may hold decrypted bytes that poll() cannot see. */
	if (s->ctls_on && s->ctls.handshake_done && fg_tls_pending(&s->ctls) && !s->auth_pending &&
	    fg_buf_room(&s->c_in) > 0 && s->ctrl != FG_CTRL_CLOSING)
		on_client(&s->cc, POLLIN);
	if (s->btls_on && s->btls.handshake_done && fg_tls_pending(&s->btls) && !s->reply_held &&
	    fg_buf_len(&s->c_out) <= C_OUT_LOW && fg_buf_room(&s->b_in) > 0 && s->ctrl != FG_CTRL_CLOSING)
		on_backend(&s->bc, POLLIN);
}

/* The backend did not connect, greet or answer in time. */
static void on_wait_timeout(struct fg_timer *t)
{
	struct fg_session *s = t->arg;

	if (s->ctrl == FG_CTRL_CONNECTING) {
		fg_log(LOG_WARNING, "backend connect timed out after %u s", s->cfg->connect_timeout);
		close(s->bc.fd);
		fg_io_del(&s->loop, &s->bc);
		s->backend_try++;
		dial_backend(s);
		return;
	}
	fg_session_close(s, s->ctrl == FG_CTRL_BANNER ? "backend sent no greeting in time"
						      : "backend did not answer in time",
			 "421 Service not available, backend not responding.");
}

/* No command from the client for idle_timeout seconds. */
static void on_idle_timeout(struct fg_timer *t)
{
	struct fg_session *s = t->arg;

	fg_session_close(s, "idle timeout", "421 Timeout: closing control connection.");
}

/* No successful login within login_timeout seconds of the connect (or
 * of a new USER / REIN after a login). */
static void on_login_timeout(struct fg_timer *t)
{
	struct fg_session *s = t->arg;

	fg_session_close(s, "login timeout", "421 Login timeout.");
}

void fg_ctrl_attach_client(struct fg_session *s, int fd)
{
	fg_timer_init(&s->t_wait, "wait", on_wait_timeout, s);
	fg_timer_init(&s->t_idle, "idle", on_idle_timeout, s);
	fg_timer_init(&s->t_login, "login", on_login_timeout, s);
	fg_io_add(&s->loop, &s->cc, fd, on_client, s);
	login_pending(s);
	/* Implicit FTPS: TLS from the first byte; data is protected unless
	 * the client says PROT C. */
	if (s->lst->tls == FG_TLS_IMPLICIT) {
		s->prot_p = true;
		start_client_tls(s);
	}
	if (s->lst->policy.n_rules && fg_policy_ctx_init(&s->pctx) < 0)
		fg_session_close(s, "out of memory", "421 Local error, closing control connection.");
}
