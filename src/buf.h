/* buf.h - byte buffers with a capacity fixed at creation.
 *
 * All control-channel bytes pass through these.  The capacity never grows,
 * so a peer can never make us hold more than the cap; every size check is
 * done here, once. */
#ifndef FG_BUF_H
#define FG_BUF_H
#include <stddef.h>
#include <sys/types.h>

struct fg_buf {
	char *data;   /* cap bytes, owned */
	size_t start; /* first unread byte */
	size_t end;   /* one past the last byte */
	size_t cap;
};

/* Allocate a buffer of exactly cap bytes. Returns 0, or -1 (ENOMEM). */
int fg_buf_init(struct fg_buf *b, size_t cap);
void fg_buf_free(struct fg_buf *b);

/* Bytes held / free space (after compaction). */
static inline size_t fg_buf_len(const struct fg_buf *b) { return b->end - b->start; }
static inline const char *fg_buf_ptr(const struct fg_buf *b) { return b->data + b->start; }
size_t fg_buf_room(const struct fg_buf *b);

/* Append n bytes. Returns 0, or -1 if they do not fit (buffer unchanged). */
int fg_buf_append(struct fg_buf *b, const void *p, size_t n);

/* Append formatted text. Returns 0, or -1 if it does not fit (unchanged). */
int fg_buf_printf(struct fg_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Drop n bytes from the front (n <= len). */
void fg_buf_consume(struct fg_buf *b, size_t n);
void fg_buf_clear(struct fg_buf *b);

/* Where the next bytes go: a pointer to *room (> 0 unless the buffer is
 * full) free bytes at the end, compacting first if needed.  Fill some of
 * them, then fg_buf_commit() how many.  For readers other than read(2),
 * e.g. TLS. */
char *fg_buf_tail(struct fg_buf *b, size_t *room);
void fg_buf_commit(struct fg_buf *b, size_t n);
/* read(2) as much as fits into the buffer. Returns bytes read, 0 on EOF,
 * -1 with errno (EAGAIN when nothing is ready; ENOBUFS when the buffer is
 * full). */
ssize_t fg_buf_read_fd(struct fg_buf *b, int fd);

/* write(2) as much of the buffer as the socket takes (MSG_NOSIGNAL).
 * Returns bytes written, -1 with errno. */
ssize_t fg_buf_write_fd(struct fg_buf *b, int fd);

#endif
