/* fuzz_cmd.c - libFuzzer harness for the command reader and parser.
 *
 * The input is fed twice: in one piece, and in chunks whose sizes come
 * from the input's own bytes (so the fuzzer explores split points).  Both
 * runs must give the same lines and statuses; every result must respect
 * the reader's contract; every line goes through fg_cmd_parse(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ftp/cmd.h"

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Event log of one run: status byte, then for a line its length (2
 * bytes) and bytes.  Sized for the worst case: every input byte an LF. */
struct log {
	uint8_t *p;
	size_t len, cap;
};

/* Append to a log; aborts if the harness sized it wrong. */
static void log_add(struct log *l, const void *p, size_t n)
{
	if (l->len + n > l->cap)
		abort();
	memcpy(l->p + l->len, p, n);
	l->len += n;
}

/* Check one parsed line against fg_cmd_parse()'s contract. */
static void check_parse(const char *line, size_t len)
{
	struct fg_cmd c;
	size_t i, nl;

	if (fg_cmd_parse(line, len, &c) < 0) {
		if (c.verb != FG_V_UNKNOWN)
			abort();
		return;
	}
	nl = strlen(c.name);
	if (nl == 0 || nl > FG_MAX_VERB || c.verb == FG_V_UNKNOWN)
		abort();
	for (i = 0; i < nl; i++)
		if (c.name[i] < 'A' || c.name[i] > 'Z')
			abort();
	if (c.has_arg) {
		if (c.arg.ptr != line + nl + 1 || c.arg.len != len - nl - 1 || line[nl] != ' ')
			abort();
	} else if (c.arg.len != 0 || nl != len) {
		abort();
	}
	if ((c.flags & FG_CMDF_UPLOAD) && !(c.flags & FG_CMDF_TRANSFER))
		abort();
}

/* Feed data in chunks: chunk k has size 1 + sizes[k % nsizes] % 64 when
 * nsizes > 0, else everything at once.  Logs every result into l. */
static void run(const uint8_t *data, size_t size, const uint8_t *sizes, size_t nsizes,
		struct log *l)
{
	static struct fg_cmd_reader r;
	size_t off = 0, k = 0, i;

	fg_cmd_reader_init(&r);
	while (off < size) {
		size_t lim = nsizes ? 1 + sizes[k++ % nsizes] % 64 : size - off, used = 0;
		enum fg_cmd_status st;
		uint8_t s;

		if (lim > size - off)
			lim = size - off;
		st = fg_cmd_feed(&r, (const char *)data + off, lim, &used);
		/* Progress, and never past what it was given. */
		if (used == 0 || used > lim)
			abort();
		if (st == FG_CMD_AGAIN && used != lim)
			abort();
		/* A finished line ends with the LF just consumed. */
		if (st != FG_CMD_AGAIN && data[off + used - 1] != '\n')
			abort();
		off += used;
		if (st == FG_CMD_AGAIN)
			continue;
		s = (uint8_t)st;
		log_add(l, &s, 1);
		if (st != FG_CMD_LINE)
			continue;
		if (r.len > FG_MAX_CMD_LINE - 2)
			abort();
		for (i = 0; i < r.len; i++)
			if (r.line[i] == '\r' || r.line[i] == '\n' || r.line[i] == '\0')
				abort();
		log_add(l, &r.len, sizeof(r.len));
		log_add(l, r.line, r.len);
		check_parse(r.line, r.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log a, b;
	size_t cap = size * (1 + sizeof(size_t)) + size + 16;

	a.p = malloc(cap);
	b.p = malloc(cap);
	if (a.p == NULL || b.p == NULL)
		abort();
	a.len = b.len = 0;
	a.cap = b.cap = cap;
	run(data, size, NULL, 0, &a);
	/* Chunk sizes from the input itself: its last 8 bytes. */
	if (size > 0)
		run(data, size, data + (size > 8 ? size - 8 : 0), size > 8 ? 8 : size, &b);
	else
		b.len = 0;
	if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
		abort();
	/* One byte at a time for short inputs. */
	if (size <= 512) {
		static const uint8_t one[1] = { 0 };

		b.len = 0;
		run(data, size, one, 1, &b);
		if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
			abort();
	}
	free(a.p);
	free(b.p);
	return 0;
}
