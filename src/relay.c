/* relay.c - splice pumps (see relay.h). */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include "limits.h"
#include "banned.h"

int fg_pump_init(struct fg_pump *p, int src, int dst)
{
	int r;

	p->src = src;
	p->dst = dst;
	p->in_pipe = 0;
	p->bytes = 0;
	p->src_eof = false;
	p->want_src = p->want_dst = 0;
	p->error = 0;
	p->error_at_dst = false;
	if (pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		p->pipe[0] = p->pipe[1] = -1;
		return -1;
	}
	/* A bigger pipe means fewer splice calls per GiB; the kernel caps it
	 * at /proc/sys/fs/pipe-max-size, so failure is fine. */
	(void)fcntl(p->pipe[1], F_SETPIPE_SZ, FG_PIPE_SIZE);
	r = fcntl(p->pipe[1], F_GETPIPE_SZ);
	p->pipe_cap = r > 0 ? (size_t)r : 4096;
	return 0;
}

void fg_pump_free(struct fg_pump *p)
{
	if (p->pipe[0] >= 0)
		close(p->pipe[0]);
	if (p->pipe[1] >= 0)
		close(p->pipe[1]);
	p->pipe[0] = p->pipe[1] = -1;
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

		if (!p->src_eof) {
			r = splice(p->src, NULL, p->pipe[1], NULL, FG_PIPE_SIZE,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (r > 0) {
				p->in_pipe += (size_t)r;
				progress = true;
			} else if (r == 0) {
				p->src_eof = true;
				progress = true;
			} else if (errno == EAGAIN) {
				/* Either src has nothing or the pipe is full. */
			} else if (errno != EINTR) {
				p->error = errno;
				p->error_at_dst = false;
				return FG_PUMP_ERROR;
			}
		}
		if (p->in_pipe > 0) {
			r = splice(p->pipe[0], NULL, p->dst, NULL, p->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (r > 0) {
				p->in_pipe -= (size_t)r;
				p->bytes += (uint64_t)r;
				progress = true;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				p->error = errno;
				p->error_at_dst = true;
				return FG_PUMP_ERROR;
			}
		}
		if (p->src_eof && p->in_pipe == 0)
			return FG_PUMP_DONE;
		if (!progress)
			break;
	}
	if (p->in_pipe > 0)
		p->want_dst = POLLOUT;
	/* Read more only while the pipe has room; a full pipe is back-pressure. */
	if (!p->src_eof && p->in_pipe < p->pipe_cap)
		p->want_src = POLLIN;
	if (!p->want_src && !p->want_dst)
		p->want_dst = POLLOUT; /* hit the round cap: come back soon */
	return FG_PUMP_AGAIN;
}
