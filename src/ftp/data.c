/* ftp/data.c - the data-channel state machine (see data.h). */
#include "ftp/data.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ftp/addr.h"
#include "ftp/control.h"
#include "log.h"
#include "net.h"
#include "banned.h"

static const char *const data_names[] = {"NONE", "READY", "TRANSFER", "DRAINED"};

void fg_data_set(struct fg_session *s, enum fg_data_state st)
{
	if (s->data != st)
		fg_log(LOG_DEBUG, "data %s -> %s", data_names[s->data], data_names[st]);
	s->data = st;
}

/* The TLS connection of a data socket (cd or bd), and its flag. */
static struct fg_tls *leg_tls(struct fg_session *s, struct fg_io *io, bool **on)
{
	if (io == &s->cd) {
		*on = &s->cdt_on;
		return &s->cdt;
	}
	if (io == &s->bd) {
		*on = &s->bdt_on;
		return &s->bdt;
	}
	*on = NULL;
	return NULL;
}

/* Close a data socket; with reset, make the peer see an error (RST) rather
 * than a clean end of data, so a cut transfer never looks complete.  Its
 * TLS goes first: a clean end has sent close_notify already (the pump). */
static void close_leg(struct fg_session *s, struct fg_io *io, bool reset)
{
	bool *on;
	struct fg_tls *t = leg_tls(s, io, &on);

	if (t && *on) {
		fg_tls_free(t);
		*on = false;
	}
	if (!io->added)
		return;
	if (reset) {
		struct linger lg = {1, 0};
		(void)setsockopt(io->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(io->fd);
	fg_io_del(&s->loop, io);
}

/* ---- a backend TLS data connection that lingers ---------------------------- */

/* Close the lingering backend data connection (if any). */
static void end_linger(struct fg_session *s)
{
	if (!s->lbd.added)
		return;
	fg_tls_free(&s->lbdt);
	close_leg(s, &s->lbd, s->lbd_reset);
	fg_timer_stop(&s->loop, &s->t_linger);
}

static void on_linger(struct fg_io *io, short rev)
{
	struct fg_session *s = io->arg;
	enum fg_tls_status st = fg_tls_handshake(&s->lbdt);

	(void)rev;
	if (st == FG_TLS_WANT)
		return;
	/* A download ends with our close_notify: the server sees a reader
	 * that left, not a failed handshake.  An upload ends with RST. */
	if (st == FG_TLS_OK && !s->lbd_reset)
		(void)fg_tls_shutdown(&s->lbdt);
	end_linger(s);
}

static void on_linger_timeout(struct fg_timer *t)
{
	end_linger(t->arg);
}

/* The transfer is over while the backend data connection is still in
 * its TLS handshake.  Cutting it now would fail the server's handshake,
 * which vsftpd answers by ending the whole session: let the handshake
 * finish first (bounded by FG_TLS_LINGER_MS), then close. */
static void linger_backend(struct fg_session *s)
{
	int fd = s->bd.fd;

	end_linger(s);
	fg_tls_move(&s->lbdt, &s->bdt);
	s->bdt_on = false;
	fg_io_del(&s->loop, &s->bd);
	fg_io_add(&s->loop, &s->lbd, fd, on_linger, s);
	s->lbd_reset = s->xfer_upload;
	fg_timer_set(&s->loop, &s->t_linger, FG_TLS_LINGER_MS);
}

/* Count the pump's bytes, then close every data socket and stop the data
 * timers.  reset: RST rather than FIN (see close_leg). */
static void close_all(struct fg_session *s, bool reset)
{
	if (s->ctrl == FG_CTRL_CLOSING)
		end_linger(s);
	else if (reset && s->bdt_on && s->bd_connected && !s->bd_ready)
		linger_backend(s);
	fg_data_account(s);
	s->batching = false;
	fg_timer_stop(&s->loop, &s->t_flush);
	fg_timer_stop(&s->loop, &s->t_data);
	close_leg(s, &s->plisten, false);
	close_leg(s, &s->cd, reset);
	close_leg(s, &s->bd, reset);
}

/* The fields both pumps have, from the one this transfer uses. */
static uint64_t pump_bytes(const struct fg_session *s)
{
	return s->tls_pump ? s->tpump.bytes : s->pump.bytes;
}

static size_t pump_held(const struct fg_session *s)
{
	return s->tls_pump ? s->tpump.held : s->pump.held;
}

void fg_data_account(struct fg_session *s)
{
	uint64_t bytes;

	if (!s->pump_started)
		return;
	bytes = pump_bytes(s);
	s->xfer_bytes = bytes;
	if (s->xfer_upload)
		s->bytes_up += bytes;
	else
		s->bytes_down += bytes;
	if (s->tls_pump)
		fg_tls_pump_free(&s->tpump);
	else
		fg_pump_free(&s->pump);
	s->pump_started = false;
}

void fg_data_reset(struct fg_session *s, bool reset)
{
	close_all(s, reset);
	s->cd_connected = s->bd_connected = s->cd_connecting = false;
	s->cd_ready = s->bd_ready = false;
	s->mode = FG_MODE_NONE;
	fg_data_set(s, FG_DATA_NONE);
}

/* The legs are finished (or broken): close them and let the control side
 * send the held final reply. */
static void legs_finished(struct fg_session *s, bool reset)
{
	close_all(s, reset);
	fg_data_set(s, FG_DATA_DRAINED);
	fg_ctrl_transfer_drained(s);
}

void fg_data_abort(struct fg_session *s, const char *why)
{
	if (s->data != FG_DATA_TRANSFER)
		return;
	fg_log(LOG_NOTICE, "transfer stopped: %s", why);
	legs_finished(s, true);
}

/* A data leg failed: remember the reply the client must get instead of a
 * success, and reset the other leg so the backend sees the failure too. */
static void leg_failed(struct fg_session *s, const char *what, int err, const char *reply)
{
	fg_log(LOG_NOTICE, "transfer failed: %s: %s", what, err ? strerror(err) : "closed");
	s->xfer_failed = true;
	s->xfer_fail_why = reply;
	legs_finished(s, true);
}

/* ---- pumping ------------------------------------------------------------- */

static void run_pump(struct fg_session *s)
{
	uint64_t before = pump_bytes(s);
	size_t before_held = pump_held(s);
	enum fg_pump_status st = s->tls_pump ? fg_tls_pump_run(&s->tpump) : fg_pump_run(&s->pump);

	if (pump_bytes(s) != before || pump_held(s) != before_held)
		fg_timer_set(&s->loop, &s->t_data, (uint64_t)s->cfg->data_timeout * 1000);
	/* (Plain pumps only: OpenSSL reads record by record anyway.) */
	if (!s->tls_pump && st == FG_PUMP_AGAIN && !s->batching && s->pump.max_read >= FG_BATCH_TRIGGER) {
		/* A fast sender: wake up per big batch, not per segment.  Fewer,
		 * larger splices cost much less CPU per GiB. */
		int lowat = FG_BATCH_LOWAT;
		if (setsockopt(s->pump.src, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) == 0) {
			s->batching = true;
			fg_timer_set(&s->loop, &s->t_flush, FG_BATCH_TICK_MS);
		}
	}
	if (st == FG_PUMP_DONE) {
		/* Every byte is in dst's socket (and, for TLS, our close_notify);
		 * close() sends it, then FIN. */
		legs_finished(s, false);
	} else if (st == FG_PUMP_ERROR) {
		bool at_dst = s->tls_pump ? s->tpump.error_at_dst : s->pump.error_at_dst;
		bool client_side = (at_dst == !s->xfer_upload);

		if (s->tls_pump)
			fg_log(LOG_NOTICE, "TLS data leg: %s", s->tpump.why ? s->tpump.why : "failed");
		leg_failed(s, client_side ? "client data connection" : "backend data connection",
			   s->tls_pump ? s->tpump.error : s->pump.error,
			   "426 Connection closed; transfer aborted.");
	}
}

static void try_start_pump(struct fg_session *s)
{
	int src, dst;
	struct fg_tls *src_tls, *dst_tls;

	if (s->data != FG_DATA_TRANSFER || !s->cd_ready || !s->bd_ready || s->pump_started)
		return;
	src = s->xfer_upload ? s->cd.fd : s->bd.fd;
	dst = s->xfer_upload ? s->bd.fd : s->cd.fd;
	src_tls = s->xfer_upload ? (s->cdt_on ? &s->cdt : NULL) : (s->bdt_on ? &s->bdt : NULL);
	dst_tls = s->xfer_upload ? (s->bdt_on ? &s->bdt : NULL) : (s->cdt_on ? &s->cdt : NULL);
	s->tls_pump = src_tls || dst_tls;
	if (s->tls_pump ? fg_tls_pump_init(&s->tpump, src, src_tls, dst, dst_tls) < 0
			: fg_pump_init(&s->pump, src, dst, s->cfg->relay_splice) < 0) {
		leg_failed(s, "pipe", errno, "451 Local error in processing.");
		return;
	}
	s->pump_started = true;
	run_pump(s);
}

/* Advance the TLS handshake of a data leg; once done (and, toward the
 * client, proven to belong to the control connection) the leg is ready. */
static void data_handshake(struct fg_session *s, bool client)
{
	struct fg_tls *t = client ? &s->cdt : &s->bdt;
	const char *leg = client ? "client" : "backend";
	enum fg_tls_status st = fg_tls_handshake(t);

	if (st == FG_TLS_WANT)
		return;
	if (st == FG_TLS_ERR) {
		fg_log(LOG_WARNING, "%s data TLS handshake failed: %s", leg, t->err);
		leg_failed(s, client ? "client data TLS handshake" : "backend data TLS handshake", EPROTO,
			   "425 Can't open data connection: TLS negotiation failed.");
		return;
	}
	if (client && s->lst->tls_require_reuse && !fg_tls_data_matches_control(t, &s->ctls)) {
		/* A stranger who got to our passive port first, or a client
		 * that does not resume: either way not this session's data. */
		fg_log(LOG_WARNING, "refused client data connection: %s", t->err);
		leg_failed(s, "client data TLS", EPERM,
			   "425 Can't open data connection: TLS session reuse required.");
		return;
	}
	(void)fg_tls_describe(t, client ? s->cd_tls_desc : s->bd_tls_desc, FG_TLS_DESCLEN);
	if (client)
		s->cd_ready = true;
	else
		s->bd_ready = true;
	try_start_pump(s);
}

/* A data leg's TCP connection is up: start TLS on it when that side
 * protects data (the client chose PROT P; the backend always gets PROT P
 * when its control connection is TLS).  In both directions we keep the
 * control connection's role: TLS server toward the client, TLS client
 * toward the backend (RFC 4217). */
static void leg_connected(struct fg_session *s, bool client)
{
	struct fg_tls *t = client ? &s->cdt : &s->bdt;
	bool tls = client ? s->prot_p && s->ctls_on : s->btls_on;

	if (!tls) {
		if (client)
			s->cd_ready = true;
		else
			s->bd_ready = true;
		try_start_pump(s);
		return;
	}
	if (fg_tls_start_data(t, client ? s->lst->tls_ctx : s->lst->backend->tls_ctx,
			      client ? s->cd.fd : s->bd.fd, client ? &s->ctls : &s->btls) < 0) {
		fg_log(LOG_ERR, "cannot start TLS on the %s data connection: %s", client ? "client" : "backend",
		       t->err);
		leg_failed(s, "data TLS", EPROTO, "425 Can't open data connection.");
		return;
	}
	if (client)
		s->cdt_on = true;
	else
		s->bdt_on = true;
	data_handshake(s, client);
}

/* ---- sockets ------------------------------------------------------------- */

static void on_backend_data(struct fg_io *io, short rev)
{
	struct fg_session *s = io->arg;

	if (!s->bd_connected) {
		int err = fg_net_connect_result(io->fd);
		if (err) {
			leg_failed(s, "connect to backend data port", err,
				   "425 Can't open data connection.");
			return;
		}
		s->bd_connected = true;
		leg_connected(s, false);
		return;
	}
	if (s->bdt_on && !s->bd_ready)
		data_handshake(s, false);
	else if (s->pump_started)
		run_pump(s);
}

static void on_client_data(struct fg_io *io, short rev)
{
	struct fg_session *s = io->arg;

	if (!s->cd_connected) {
		int err = fg_net_connect_result(io->fd);
		if (err) {
			char addr[FG_ADDRSTRLEN];
			fg_net_ntop((struct sockaddr *)&s->client_data_addr.ss, true, addr, sizeof(addr));
			fg_log(LOG_NOTICE, "active data connection to %s failed: %s", addr, strerror(err));
			leg_failed(s, "connect to client data port", err, "425 Can't open data connection.");
			return;
		}
		s->cd_connected = true;
		s->cd_connecting = false;
		leg_connected(s, true);
		return;
	}
	if (s->cdt_on && !s->cd_ready)
		data_handshake(s, true);
	else if (s->pump_started)
		run_pump(s);
}

/* Our passive port for the client: accept only the control peer. */
static void on_passive(struct fg_io *io, short rev)
{
	struct fg_session *s = io->arg;
	struct fg_sockaddr peer;
	char addr[FG_ADDRSTRLEN];
	int fd;

	peer.len = sizeof(peer.ss);
	fd = accept4(io->fd, (struct sockaddr *)&peer.ss, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	fg_net_unmap(&peer);
	if (!fg_net_same_host((struct sockaddr *)&peer.ss, (struct sockaddr *)&s->client_peer.ss)) {
		/* Port stealing: someone else raced the client to our port. */
		fg_log(LOG_WARNING, "refused data connection from %s: not the control peer",
		       fg_net_ntop((struct sockaddr *)&peer.ss, true, addr, sizeof(addr)));
		struct linger lg = {1, 0};
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		return;
	}
	/* One connection per transfer: the port closes now. */
	close_leg(s, &s->plisten, false);
	fg_io_add(&s->loop, &s->cd, fd, on_client_data, s);
	s->cd_connected = true;
	leg_connected(s, true);
}

/* t_flush: move what waits below the low-water mark, then tick again. */
static void on_flush(struct fg_timer *t)
{
	struct fg_session *s = t->arg;

	if (!s->pump_started || !s->batching)
		return;
	fg_timer_set(&s->loop, &s->t_flush, FG_BATCH_TICK_MS);
	run_pump(s);
}

/* t_data: no byte moved for data_timeout seconds. */
static void on_data_timeout(struct fg_timer *t)
{
	struct fg_session *s = t->arg;

	if (s->data == FG_DATA_TRANSFER)
		leg_failed(s, "data timeout", ETIMEDOUT, "426 Data connection timed out; transfer aborted.");
}

void fg_data_init(struct fg_session *s)
{
	fg_timer_init(&s->t_data, "data", on_data_timeout, s);
	fg_timer_init(&s->t_flush, "flush", on_flush, s);
	fg_timer_init(&s->t_linger, "linger", on_linger_timeout, s);
	fg_data_set(s, FG_DATA_NONE);
}

/* ---- setup ----------------------------------------------------------------- */

/* Refuse a client's setup command with code/text and log why. */
static void refuse(struct fg_session *s, int code, const char *text, const char *why)
{
	if (why) {
		char arg[200];
		fg_log(LOG_WARNING, "refused %s %s: %s", s->cur.name,
		       fg_log_escape(arg, sizeof(arg), s->cur.arg.ptr, s->cur.arg.len), why);
	}
	fg_ctrl_reply(s, code, text);
}

/* Ask the backend for a passive port: EPSV unless it refused EPSV before. */
static void ask_backend(struct fg_session *s)
{
	bool v4 = s->backend_peer.ss.ss_family == AF_INET;

	s->setup_used_pasv = s->backend_no_epsv && v4;
	if (s->setup_used_pasv)
		fg_ctrl_send(s, "PASV", 4);
	else
		fg_ctrl_send(s, "EPSV", 4);
	fg_ctrl_set(s, FG_CTRL_DATASETUP);
	fg_timer_set(&s->loop, &s->t_wait, (uint64_t)s->cfg->data_timeout * 1000);
}

/* Check an active-mode target: the control peer's own address, port >= 1024. */
static bool active_ok(struct fg_session *s, const struct sockaddr *to)
{
	return fg_net_same_host(to, (struct sockaddr *)&s->client_peer.ss) && fg_net_port(to) >= 1024;
}

void fg_data_setup_cmd(struct fg_session *s)
{
	struct fg_cmd *c = &s->cur;
	int fam = fg_net_family((struct sockaddr *)&s->client_peer.ss);
	const char *want = fam == AF_INET6 ? "Network protocol not supported, use (2)."
					   : "Network protocol not supported, use (1).";
	struct fg_sockaddr to;

	if (c->verb == FG_V_EPSV && c->arg.len == 3 && strncasecmp(c->arg.ptr, "ALL", 3) == 0) {
		s->epsv_all = true;
		fg_ctrl_reply(s, 200, "EPSV ALL ok.");
		return;
	}
	if (s->epsv_all && c->verb != FG_V_EPSV) {
		refuse(s, 503, "Only EPSV is allowed after EPSV ALL.", NULL);
		return;
	}
	memset(&to, 0, sizeof(to));
	switch (c->verb) {
	case FG_V_PORT: {
		struct sockaddr_in a4;
		if (fam != AF_INET) {
			refuse(s, 522, "Network protocol not supported, use (2).", NULL);
			return;
		}
		if (fg_addr_parse_port(c->arg.ptr, c->arg.len, &a4) < 0) {
			refuse(s, 501, "Syntax error in PORT argument.", NULL);
			return;
		}
		memcpy(&to.ss, &a4, sizeof(a4));
		to.len = sizeof(a4);
		if (!active_ok(s, (struct sockaddr *)&to.ss)) {
			refuse(s, 500, "Illegal PORT command.", "not the control peer or port < 1024 (bounce)");
			return;
		}
		break;
	}
	case FG_V_EPRT: {
		int r = fg_addr_parse_eprt(c->arg.ptr, c->arg.len, &to.ss, &to.len);
		if (r == -2) {
			fg_ctrl_reply(s, 522, want);
			return;
		}
		if (r < 0) {
			refuse(s, 501, "Syntax error in EPRT argument.", NULL);
			return;
		}
		if (to.ss.ss_family != fam) {
			fg_ctrl_reply(s, 522, want);
			return;
		}
		fg_net_unmap(&to);
		if (!active_ok(s, (struct sockaddr *)&to.ss)) {
			refuse(s, 500, "Illegal EPRT command.", "not the control peer or port < 1024 (bounce)");
			return;
		}
		break;
	}
	case FG_V_PASV:
		/* A 227 reply can only carry an IPv4 address. */
		if (fam != AF_INET) {
			refuse(s, 425, "PASV needs IPv4; use EPSV.", NULL);
			return;
		}
		break;
	case FG_V_EPSV:
		if (c->arg.len > 0 && !((c->arg.len == 1 && c->arg.ptr[0] == '1' && fam == AF_INET) ||
					(c->arg.len == 1 && c->arg.ptr[0] == '2' && fam == AF_INET6))) {
			if (c->arg.len == 1 && (c->arg.ptr[0] == '1' || c->arg.ptr[0] == '2'))
				fg_ctrl_reply(s, 522, want);
			else
				refuse(s, 501, "Syntax error in EPSV argument.", NULL);
			return;
		}
		break;
	default:
		return;
	}
	/* A new setup replaces any earlier one. */
	fg_data_reset(s, true);
	s->cd_tls_desc[0] = s->bd_tls_desc[0] = '\0';
	s->xfer_failed = false;
	s->xfer_fail_why = NULL;
	s->setup_verb = c->verb;
	s->client_data_addr = to;
	ask_backend(s);
}

/* Open our passive port for the client and answer its PASV/EPSV. */
static void answer_passive(struct fg_session *s)
{
	char reply[128];
	int fd = fg_net_listen_range((struct sockaddr *)&s->client_local.ss,
				     s->lst->passive_lo, s->lst->passive_hi);
	uint16_t port;
	struct fg_sockaddr local;

	if (fd < 0) {
		/* Never an ephemeral port: the firewall would drop it. */
		fg_log(LOG_ERR, "no free passive port in %u-%u: %s", s->lst->passive_lo,
		       s->lst->passive_hi, strerror(errno));
		fg_data_reset(s, true);
		fg_ctrl_reply(s, 425, "Can't open passive connection: no free port.");
		return;
	}
	fg_net_local(fd, &local);
	port = fg_net_port((struct sockaddr *)&local.ss);
	fg_io_add(&s->loop, &s->plisten, fd, on_passive, s);
	s->plisten.events = POLLIN;
	if (s->setup_verb == FG_V_PASV) {
		struct sockaddr_in a4;
		const struct fg_sockaddr *adv = &s->client_local;
		if (s->lst->has_passive_address && s->lst->passive_address.ss.ss_family == AF_INET)
			adv = &s->lst->passive_address;
		memcpy(&a4, &adv->ss, sizeof(a4));
		a4.sin_port = htons(port);
		if (fg_addr_format_227(&a4, reply, sizeof(reply)) < 0) {
			fg_data_reset(s, true);
			fg_ctrl_reply(s, 425, "Can't open passive connection.");
			return;
		}
		s->mode = FG_MODE_PASV;
	} else {
		if (fg_addr_format_229(port, reply, sizeof(reply)) < 0) {
			fg_data_reset(s, true);
			fg_ctrl_reply(s, 425, "Can't open passive connection.");
			return;
		}
		s->mode = FG_MODE_EPSV;
	}
	if (fg_buf_append(&s->c_out, reply, strlen(reply)) < 0)
		fg_session_close(s, "reply buffer to client overflowed", NULL);
	fg_data_set(s, FG_DATA_READY);
}

void fg_data_setup_reply(struct fg_session *s)
{
	const char *text = fg_buf_ptr(&s->reply.text);
	size_t len = fg_buf_len(&s->reply.text);
	int code = s->reply.code;
	uint16_t port = 0;
	int fd;

	if (fg_reply_is_prelim(code))
		return; /* not expected for EPSV/PASV; wait for the final one */
	if (!s->setup_used_pasv && code >= 500 && code != 530 &&
	    s->backend_peer.ss.ss_family == AF_INET) {
		/* An old backend without EPSV: PASV from now on. */
		s->backend_no_epsv = true;
		ask_backend(s);
		return;
	}
	if (s->setup_used_pasv && code == 227) {
		struct sockaddr_in a4;
		if (fg_addr_parse_227(text, len, &a4) == 0)
			port = ntohs(a4.sin_port);
		/* The address in the 227 is ignored on purpose: we dial the
		 * control peer (private or hostile addresses in 227 replies). */
	} else if (!s->setup_used_pasv && code == 229) {
		(void)fg_addr_parse_229(text, len, &port);
	} else if (code != 227 && code != 229) {
		/* The backend said no (e.g. 530 not logged in): its answer is
		 * the answer to the client's command. */
		fg_ctrl_forward_reply(s);
		fg_data_reset(s, true);
		fg_ctrl_done(s);
		return;
	}
	/* port 0 here: no port in it, or the form we did not ask for (a 227
	 * to EPSV, a 229 to PASV); never relayed, it names a backend port. */
	if (port == 0) {
		fg_log(LOG_WARNING, "backend sent an unusable passive reply");
		fg_data_reset(s, true);
		fg_ctrl_reply(s, 425, "Can't open data connection.");
		fg_ctrl_done(s);
		return;
	}
	s->backend_data_addr = s->backend_peer;
	fg_net_set_port((struct sockaddr *)&s->backend_data_addr.ss, port);
	fd = fg_net_connect((struct sockaddr *)&s->backend_data_addr.ss, s->backend_data_addr.len);
	if (fd < 0) {
		fg_log(LOG_WARNING, "backend data connect: %s", strerror(errno));
		fg_data_reset(s, true);
		fg_ctrl_reply(s, 425, "Can't open data connection.");
		fg_ctrl_done(s);
		return;
	}
	fg_io_add(&s->loop, &s->bd, fd, on_backend_data, s);
	s->bd_connected = false;

	if (s->setup_verb == FG_V_PASV || s->setup_verb == FG_V_EPSV) {
		answer_passive(s);
	} else {
		s->mode = s->setup_verb == FG_V_PORT ? FG_MODE_PORT : FG_MODE_EPRT;
		fg_ctrl_reply(s, 200, s->setup_verb == FG_V_PORT ? "PORT command successful."
								  : "EPRT command successful.");
		fg_data_set(s, FG_DATA_READY);
	}
	fg_ctrl_done(s);
}

void fg_data_transfer_begin(struct fg_session *s, bool upload)
{
	s->xfer_upload = upload;
	s->tls_pump = false;
	s->xfer_start_ms = fg_now_ms();
	s->xfer_bytes = 0;
	s->xfer_failed = false;
	s->xfer_fail_why = NULL;
	fg_data_set(s, FG_DATA_TRANSFER);
	fg_timer_set(&s->loop, &s->t_data, (uint64_t)s->cfg->data_timeout * 1000);
	try_start_pump(s);
}

/* Active mode: dial the client's PORT/EPRT address from the control
 * connection's local address, as a server would. */
static void connect_client(struct fg_session *s)
{
	struct fg_sockaddr src = s->client_local;
	int fd, e;

	fd = socket(s->client_data_addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		leg_failed(s, "socket", errno, "425 Can't open data connection.");
		return;
	}
	fg_net_set_port((struct sockaddr *)&src.ss, 0);
	if (src.ss.ss_family == s->client_data_addr.ss.ss_family)
		(void)bind(fd, (struct sockaddr *)&src.ss, src.len);
	if (connect(fd, (struct sockaddr *)&s->client_data_addr.ss, s->client_data_addr.len) < 0 &&
	    errno != EINPROGRESS) {
		e = errno;
		close(fd);
		leg_failed(s, "connect to client data port", e, "425 Can't open data connection.");
		return;
	}
	fg_io_add(&s->loop, &s->cd, fd, on_client_data, s);
	s->cd_connecting = true;
}

void fg_data_prelim(struct fg_session *s)
{
	if (s->data != FG_DATA_TRANSFER)
		return;
	if ((s->mode == FG_MODE_PORT || s->mode == FG_MODE_EPRT) && !s->cd_connecting && !s->cd_connected)
		connect_client(s);
}

void fg_data_interest(struct fg_session *s)
{
	struct fg_io *src, *dst;

	if (s->plisten.added)
		s->plisten.events = POLLIN;
	if (s->lbd.added)
		s->lbd.events = s->lbdt.want ? s->lbdt.want : POLLIN;
	if (s->bd.added)
		s->bd.events = !s->bd_connected ? POLLOUT : s->bdt_on && !s->bd_ready ? s->bdt.want : 0;
	if (s->cd.added)
		s->cd.events = !s->cd_connected ? POLLOUT : s->cdt_on && !s->cd_ready ? s->cdt.want : 0;
	if (!s->pump_started)
		return;
	src = s->xfer_upload ? &s->cd : &s->bd;
	dst = s->xfer_upload ? &s->bd : &s->cd;
	src->events |= s->tls_pump ? s->tpump.want_src : s->pump.want_src;
	dst->events |= s->tls_pump ? s->tpump.want_dst : s->pump.want_dst;
}
