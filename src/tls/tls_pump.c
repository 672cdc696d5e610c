/* tls/tls_pump.c - the buffered pump for data legs of which at least one
 * is TLS (see the end of tls.h).  The plain/plain case stays in relay.c. */
#include "tls/tls.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "limits.h"
#include "banned.h"

/* Bytes read from src in one fg_tls_pump_run(): enough for big batches,
 * small enough that one transfer does not starve the control legs. */
#define FG_TLS_PUMP_BUDGET (2 * FG_TLS_BUF)

/* Reverse-direction reads from a TLS dst per run (tickets, alerts). */
#define FG_TLS_PUMP_REVERSE_READS 8

enum io_res { IO_BYTES, IO_END, IO_WAIT, IO_FAIL };

int fg_tls_pump_init(struct fg_tls_pump *p, int src, struct fg_tls *src_tls,
		     int dst, struct fg_tls *dst_tls)
{
	memset(p, 0, sizeof(*p));
	p->src = src;
	p->dst = dst;
	p->src_tls = src_tls;
	p->dst_tls = dst_tls;
	/* Our backend legs are TLS clients: before close they read to the
	 * server's close_notify so that unread tickets never turn the close
	 * into a RST (FIELD-NOTES, TLS). */
	p->await_peer_close = dst_tls && !dst_tls->server;
	p->buf = malloc(FG_TLS_BUF);
	p->cap = FG_TLS_BUF;
	return p->buf ? 0 : -1;
}

void fg_tls_pump_free(struct fg_tls_pump *p)
{
	free(p->buf);
	p->buf = NULL;
}

/* Free space after the held bytes. */
static size_t room(const struct fg_tls_pump *p)
{
	return p->cap - p->off - p->held;
}

/* Record a failure of a leg (tls NULL: plain, err is the errno). */
static enum fg_pump_status fail(struct fg_tls_pump *p, bool at_dst, const struct fg_tls *tls, int err)
{
	p->error_at_dst = at_dst;
	if (tls) {
		p->error = tls->sys_errno ? tls->sys_errno : EPROTO;
		p->why = tls->err;
	} else {
		p->error = err;
		p->why = strerror(err);
	}
	return FG_PUMP_ERROR;
}

/* Read from src into to (n > 0): IO_BYTES with *got, IO_END at the clean
 * end, IO_WAIT with *want, IO_FAIL (errno in *err for a plain leg). */
static enum io_res src_read(struct fg_tls_pump *p, char *to, size_t n, size_t *got, short *want, int *err)
{
	ssize_t r;

	if (p->src_tls) {
		r = fg_tls_read(p->src_tls, to, n);
		if (r > 0) {
			*got = (size_t)r;
			return IO_BYTES;
		}
		if (r == 0)
			return IO_END;
		if (p->src_tls->status == FG_TLS_WANT) {
			*want = p->src_tls->want;
			return IO_WAIT;
		}
		return IO_FAIL;
	}
	r = read(p->src, to, n);
	if (r > 0) {
		*got = (size_t)r;
		return IO_BYTES;
	}
	if (r == 0)
		return IO_END;
	if (errno == EAGAIN || errno == EINTR) {
		*want = POLLIN;
		return IO_WAIT;
	}
	*err = errno;
	return IO_FAIL;
}

/* Write the held bytes to dst: as src_read. */
static enum io_res dst_write(struct fg_tls_pump *p, size_t *done, short *want, int *err)
{
	ssize_t r;

	if (p->dst_tls) {
		r = fg_tls_write(p->dst_tls, p->buf + p->off, p->held);
		if (r > 0) {
			*done = (size_t)r;
			return IO_BYTES;
		}
		if (r < 0 && p->dst_tls->status == FG_TLS_WANT) {
			*want = p->dst_tls->want;
			return IO_WAIT;
		}
		return IO_FAIL;
	}
	r = send(p->dst, p->buf + p->off, p->held, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r > 0) {
		*done = (size_t)r;
		return IO_BYTES;
	}
	if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
		*want = POLLOUT;
		return IO_WAIT;
	}
	*err = r < 0 ? errno : EPIPE;
	return IO_FAIL;
}

/* Read what a TLS dst's peer sent us (TLS 1.3 tickets, an alert, stray
 * bytes of a client that should send nothing on this connection) and
 * throw it away, so that it never sits unread when we close.  Only while
 * no write is pending: OpenSSL must finish that write first.  Returns
 * false when dst failed. */
static bool read_reverse(struct fg_tls_pump *p)
{
	char scratch[4096];
	int i;

	for (i = 0; i < FG_TLS_PUMP_REVERSE_READS && !p->dst_tls->peer_closed; i++) {
		ssize_t r = fg_tls_read(p->dst_tls, scratch, sizeof(scratch));
		if (r > 0)
			continue;
		if (r == 0 || p->dst_tls->status == FG_TLS_WANT)
			break;
		return false;
	}
	return true;
}

/* All data is at dst: send close_notify on a TLS dst and, if wanted, wait
 * for the peer's.  Returns DONE, AGAIN (want_dst set) or ERROR. */
static enum fg_pump_status finish(struct fg_tls_pump *p)
{
	enum fg_tls_status st;

	if (!p->dst_tls)
		return FG_PUMP_DONE;
	if (!p->dst_tls->close_sent) {
		st = fg_tls_shutdown(p->dst_tls);
		if (st == FG_TLS_WANT) {
			p->want_dst = p->dst_tls->want;
			return FG_PUMP_AGAIN;
		}
		if (st == FG_TLS_ERR)
			return fail(p, true, p->dst_tls, 0);
	}
	if (!p->await_peer_close)
		return FG_PUMP_DONE;
	p->dst_closing = true;
	st = fg_tls_await_close(p->dst_tls);
	if (st == FG_TLS_WANT) {
		p->want_dst = p->dst_tls->want;
		return FG_PUMP_AGAIN;
	}
	if (st == FG_TLS_ERR)
		return fail(p, true, p->dst_tls, 0);
	return FG_PUMP_DONE;
}

enum fg_pump_status fg_tls_pump_run(struct fg_tls_pump *p)
{
	size_t moved = 0;
	short src_wait = 0, dst_wait = 0;
	bool progress = true;
	int err = 0;

	p->want_src = p->want_dst = 0;
	if (p->src_eof && p->held == 0)
		return finish(p);
	while (progress && moved < FG_TLS_PUMP_BUDGET) {
		progress = false;
		/* Fill the tail of the buffer: a TLS src gives one record per
		 * read, so keep reading while there is room. */
		src_wait = 0;
		while (!p->src_eof && room(p) > 0 && moved < FG_TLS_PUMP_BUDGET) {
			size_t got = 0;
			enum io_res r = src_read(p, p->buf + p->off + p->held, room(p), &got, &src_wait, &err);

			if (r == IO_BYTES) {
				p->held += got;
				moved += got;
				if (got > p->max_read)
					p->max_read = got;
				progress = true;
			} else if (r == IO_END) {
				p->src_eof = true;
				progress = true;
				/* Answer the sender's close_notify, once and best
				 * effort: some clients wait for it (Python's
				 * unwrap()); the data is complete either way. */
				if (p->src_tls)
					(void)fg_tls_shutdown(p->src_tls);
			} else if (r == IO_WAIT) {
				break;
			} else {
				return fail(p, false, p->src_tls, err);
			}
		}
		/* Drain from the head.  The held bytes do not change until
		 * written, as a TLS write retry requires. */
		dst_wait = 0;
		while (p->held > 0) {
			size_t done = 0;
			enum io_res r = dst_write(p, &done, &dst_wait, &err);

			if (r == IO_BYTES) {
				p->held -= done;
				p->off += done;
				p->bytes += done;
				progress = true;
			} else if (r == IO_WAIT) {
				break;
			} else {
				return fail(p, true, p->dst_tls, err);
			}
		}
		if (p->held == 0)
			p->off = 0;
	}
	if (p->dst_tls && !dst_wait && !p->dst_tls->close_sent && !read_reverse(p))
		return fail(p, true, p->dst_tls, 0);
	if (p->src_eof && p->held == 0)
		return finish(p);

	if (p->held > 0)
		p->want_dst = dst_wait ? dst_wait : POLLOUT;
	/* Read more only while there is room: a full buffer is the
	 * back-pressure on src. */
	if (!p->src_eof && room(p) > 0)
		p->want_src = src_wait ? src_wait : POLLIN;
	/* Come back soon when the budget ran out, or when OpenSSL holds
	 * decrypted src bytes that poll() cannot see.  dst is idle then
	 * (nothing held), so its POLLOUT fires at once. */
	if (p->held == 0 && !p->src_eof &&
	    (moved >= FG_TLS_PUMP_BUDGET || (p->src_tls && fg_tls_pending(p->src_tls))))
		p->want_dst |= POLLOUT;
	if (!p->want_src && !p->want_dst)
		p->want_dst = POLLOUT;
	return FG_PUMP_AGAIN;
}
