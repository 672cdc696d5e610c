/* relay.h - byte pumps for data connections.
 *
 * A pump moves one direction of a data connection, from src to dst.  Plain
 * pumps use splice(2) through a pipe: file data goes socket -> pipe ->
 * socket inside the kernel and never enters our address space, let alone a
 * disk.  The pipe is the back-pressure: when dst does not drain, the pipe
 * fills and we stop reading src. */
#ifndef FG_RELAY_H
#define FG_RELAY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fg_pump_status {
	FG_PUMP_AGAIN = 0, /* waiting: see want_src / want_dst */
	FG_PUMP_DONE,      /* src reached EOF and every byte reached dst */
	FG_PUMP_ERROR,     /* a socket failed; errno_ and side say which */
};

struct fg_pump {
	int src, dst;          /* not owned */
	int pipe[2];           /* owned */
	size_t in_pipe;        /* bytes read from src, not yet written to dst */
	size_t pipe_cap;       /* what the kernel gave us */
	uint64_t bytes;        /* bytes delivered to dst */
	bool src_eof;
	short want_src;        /* POLLIN when src should be polled */
	short want_dst;        /* POLLOUT when dst should be polled */
	int error;             /* errno of the failure */
	bool error_at_dst;     /* the failure was writing (else reading) */
};

/* Create the pipe (F_SETPIPE_SZ FG_PIPE_SIZE, best effort). Returns 0 or -1. */
int fg_pump_init(struct fg_pump *p, int src, int dst);
void fg_pump_free(struct fg_pump *p);

/* Move what can be moved without blocking.  Returns DONE once src is at
 * EOF and the pipe is empty (the caller then shuts dst down), ERROR on a
 * socket error, else AGAIN with want_src/want_dst set. */
enum fg_pump_status fg_pump_run(struct fg_pump *p);

#endif
