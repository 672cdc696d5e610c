/* relay.c - data pumps (see relay.h). */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>
#include "limits.h"
#include "banned.h"

int fg_pump_init(struct fg_pump *p, int src, int dst, bool use_splice)
{
	int r;

	p->src = src;
	p->dst = dst;
	p->splice = use_splice;
	p->pipe[0] = p->pipe[1] = -1;
	p->buf = NULL;
	p->off = p->held = 0;
	p->bytes = 0;
	p->max_read = 0;
	p->src_eof = false;
	p->want_src = p->want_dst = 0;
	p->error = 0;
	p->error_at_dst = false;
	if (!use_splice) {
		p->buf = malloc(FG_COPY_BUF);
		p->cap = FG_COPY_BUF;
		return p->buf ? 0 : -1;
	}
	if (pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		p->pipe[0] = p->pipe[1] = -1;
		return -1;
	}
	/* A bigger pipe means fewer splice calls per GiB; the kernel caps it
	 * at /proc/sys/fs/pipe-max-size, so failure is fine. */
	(void)fcntl(p->pipe[1], F_SETPIPE_SZ, FG_PIPE_SIZE);
	r = fcntl(p->pipe[1], F_GETPIPE_SZ);
	p->cap = r > 0 ? (size_t)r : 4096;
	return 0;
}

void fg_pump_free(struct fg_pump *p)
{
	if (p->pipe[0] >= 0)
		close(p->pipe[0]);
	if (p->pipe[1] >= 0)
		close(p->pipe[1]);
	p->pipe[0] = p->pipe[1] = -1;
	free(p->buf);
	p->buf = NULL;
}

/* Read from src into the empty pipe or buffer (fg_pump_run refills only
 * once everything held is written): >0 bytes, 0 EOF, -1 errno. */
static ssize_t fill(struct fg_pump *p)
{
	if (p->splice)
		return splice(p->src, NULL, p->pipe[1], NULL, p->cap,
			      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	p->off = 0;
	return read(p->src, p->buf, p->cap);
}

/* Write held bytes to dst: >0 bytes, -1 errno. */
static ssize_t drain(struct fg_pump *p)
{
	if (p->splice)
		return splice(p->pipe[0], NULL, p->dst, NULL, p->held,
			      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	return send(p->dst, p->buf + p->off, p->held, MSG_NOSIGNAL | MSG_DONTWAIT);
}

enum fg_pump_status fg_pump_run(struct fg_pump *p)
{
	/* Bounded: each round either moves bytes or ends in EAGAIN/EOF; the
	 * cap keeps one busy transfer from starving the control connections
	 * of this session. */
	int rounds;

	p->want_src = p->want_dst = 0;
	for (rounds = 0; rounds < 64; rounds++) {
		bool progress = false;
		ssize_t r;

		/* Refill only once everything held has been written: topping a
		 * pipe up as bytes trickle in made each splice move a segment or
		 * two (about 200,000 splices per GiB and three times the CPU). */
		if (!p->src_eof && p->held == 0) {
			r = fill(p);
			if (r > 0) {
				p->held += (size_t)r;
				if ((size_t)r > p->max_read)
					p->max_read = (size_t)r;
				progress = true;
			} else if (r == 0) {
				p->src_eof = true;
				progress = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				p->error = errno;
				p->error_at_dst = false;
				return FG_PUMP_ERROR;
			}
		}
		if (p->held > 0) {
			r = drain(p);
			if (r > 0) {
				p->held -= (size_t)r;
				p->off += (size_t)r;
				p->bytes += (uint64_t)r;
				progress = true;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				p->error = errno;
				p->error_at_dst = true;
				return FG_PUMP_ERROR;
			}
		}
		if (p->src_eof && p->held == 0)
			return FG_PUMP_DONE;
		if (!progress)
			break;
	}
	if (p->held > 0)
		p->want_dst = POLLOUT;
	/* Read more only once the pipe or buffer is empty: until then it is
	 * the back-pressure on src. */
	if (!p->src_eof && p->held == 0)
		p->want_src = POLLIN;
	if (!p->want_src && !p->want_dst)
		p->want_dst = POLLOUT; /* hit the round cap: come back soon */
	return FG_PUMP_AGAIN;
}
