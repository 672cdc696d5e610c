/* buf.c - fixed-capacity byte buffers (see buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "banned.h"

int fg_buf_init(struct fg_buf *b, size_t cap)
{
	b->data = malloc(cap ? cap : 1);
	b->start = b->end = 0;
	b->cap = b->data ? cap : 0;
	return b->data ? 0 : -1;
}

void fg_buf_free(struct fg_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->end = b->cap = 0;
}

/* Move the unread bytes to the front so that all free space is at the end. */
static void compact(struct fg_buf *b)
{
	if (b->start == 0)
		return;
	if (b->end > b->start)
		memmove(b->data, b->data + b->start, b->end - b->start);
	b->end -= b->start;
	b->start = 0;
}

size_t fg_buf_room(const struct fg_buf *b)
{
	return b->cap - (b->end - b->start);
}

int fg_buf_append(struct fg_buf *b, const void *p, size_t n)
{
	if (n > fg_buf_room(b))
		return -1;
	if (n > b->cap - b->end)
		compact(b);
	if (n)
		memcpy(b->data + b->end, p, n);
	b->end += n;
	return 0;
}

int fg_buf_printf(struct fg_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t avail;
	char *tmp;
	int r;

	compact(b);
	avail = b->cap - b->end;
	va_start(ap, fmt);
	r = vsnprintf(b->data + b->end, avail, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r > avail)
		return -1;
	if ((size_t)r < avail) {
		b->end += (size_t)r;
		return 0;
	}
	/* Exactly avail bytes: the text fits, but vsnprintf needed one more
	 * byte for its NUL and so cut the last character.  Format it again
	 * into scratch space and copy the bytes without the NUL. */
	tmp = malloc((size_t)r + 1);
	if (tmp == NULL)
		return -1;
	va_start(ap, fmt);
	r = vsnprintf(tmp, avail + 1, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r != avail) {
		free(tmp);
		return -1;
	}
	memcpy(b->data + b->end, tmp, avail);
	b->end += avail;
	free(tmp);
	return 0;
}

void fg_buf_consume(struct fg_buf *b, size_t n)
{
	if (n > b->end - b->start)
		n = b->end - b->start;
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

void fg_buf_clear(struct fg_buf *b)
{
	b->start = b->end = 0;
}

char *fg_buf_tail(struct fg_buf *b, size_t *room)
{
	if (b->end == b->cap)
		compact(b);
	*room = b->cap - b->end;
	return b->data + b->end;
}

void fg_buf_commit(struct fg_buf *b, size_t n)
{
	b->end += n;
}

ssize_t fg_buf_read_fd(struct fg_buf *b, int fd)
{
	size_t room;
	char *tail;
	ssize_t r;

	if (fg_buf_room(b) == 0) {
		errno = ENOBUFS;
		return -1;
	}
	tail = fg_buf_tail(b, &room);
	do
		r = read(fd, tail, room);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		fg_buf_commit(b, (size_t)r);
	return r;
}

ssize_t fg_buf_write_fd(struct fg_buf *b, int fd)
{
	ssize_t r;

	if (fg_buf_len(b) == 0)
		return 0;
	do
		r = send(fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		fg_buf_consume(b, (size_t)r);
	return r;
}
