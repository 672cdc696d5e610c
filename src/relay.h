/* relay.h - byte pumps for data connections.
 *
 * A pump moves one direction of a data connection, from src to dst, in
 * one of two ways:
 *  - copy: read(2)/send(2) through one fixed buffer (FG_COPY_BUF, 4 MiB).  The
 *    default: measured on loopback it costs about the CPU per GiB of splice
 *    and moves more bytes per second (see doc/PERFORMANCE.md), because the
 *    kernel sends big linear segments instead of re-sending the received
 *    segments' fragments one by one.
 *  - splice: splice(2) socket -> pipe -> socket, so file data never enters
 *    our address space (data_relay = splice).
 * Either way src is read again only once everything held has been written
 * (big batches per call), and the buffer (or pipe) is the back-pressure:
 * when dst does not drain we stop reading src; nothing goes to a disk. */
#ifndef FG_RELAY_H
#define FG_RELAY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fg_pump_status {
	FG_PUMP_AGAIN = 0, /* waiting: see want_src / want_dst */
	FG_PUMP_DONE,      /* src reached EOF and every byte reached dst */
	FG_PUMP_ERROR,     /* a socket failed; error and error_at_dst say which */
};

struct fg_pump {
	int src, dst;          /* not owned */
	bool splice;           /* splice through pipe[], else copy through buf */
	int pipe[2];           /* owned (splice) */
	char *buf;             /* owned (copy), FG_COPY_BUF bytes */
	size_t off;            /* copy: first byte of buf not yet written */
	size_t held;           /* bytes read from src, not yet written to dst */
	size_t cap;            /* pipe or buffer capacity */
	uint64_t bytes;        /* bytes delivered to dst */
	size_t max_read;       /* largest single read from src so far */
	bool src_eof;
	short want_src;        /* POLLIN when src should be polled */
	short want_dst;        /* POLLOUT when dst should be polled */
	int error;             /* errno of the failure */
	bool error_at_dst;     /* the failure was writing (else reading) */
};

/* Set up a pump (pipe or buffer). Returns 0, or -1 with errno. */
int fg_pump_init(struct fg_pump *p, int src, int dst, bool use_splice);
void fg_pump_free(struct fg_pump *p);

/* Move what can be moved without blocking.  Returns DONE once src is at
 * EOF and nothing is held (the caller then closes dst), ERROR on a socket
 * error, else AGAIN with want_src/want_dst set. */
enum fg_pump_status fg_pump_run(struct fg_pump *p);

#endif
