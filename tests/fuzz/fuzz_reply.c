/* fuzz_reply.c - libFuzzer harness for the reply reader and FEAT rewrite.
 *
 * The input is fed twice: in one piece, and in chunks whose sizes come
 * from the input's own bytes.  Both runs must give the same replies and
 * end the same way.  Every DONE reply must satisfy the reader's contract
 * (CRLF lines, a valid code, within the caps) and goes through
 * fg_reply_adjust_feat(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ftp/reply.h"

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const feat_remove[] = { "AUTH", "PBSZ", "PROT", "CCC", NULL };
static const char *const feat_add[] = { "EPSV", "EPRT", NULL };

/* Check a completed reply, and run the FEAT rewrite on it. */
static void check_done(const struct fg_reply_reader *r)
{
	static struct fg_buf out;
	const char *p = fg_buf_ptr(&r->text);
	size_t len = fg_buf_len(&r->text), i, lines = 0, line_len = 0;

	if (len < 5 || len > FG_MAX_REPLY_BYTES || p[len - 2] != '\r' || p[len - 1] != '\n')
		abort();
	if (r->code < 100 || r->code > 599 || r->nlines == 0 || r->nlines > FG_MAX_REPLY_LINES)
		abort();
	if (p[0] - '0' != r->code / 100 || p[1] - '0' != r->code / 10 % 10 ||
	    p[2] - '0' != r->code % 10)
		abort();
	/* Every LF preceded by CR, every CR followed by LF, no NUL. */
	for (i = 0; i < len; i++) {
		line_len++;
		if (p[i] == '\0')
			abort();
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			abort();
		if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r' || line_len > FG_MAX_REPLY_LINE)
				abort();
			lines++;
			line_len = 0;
		}
	}
	if (lines != r->nlines)
		abort();

	if (out.data == NULL && fg_buf_init(&out, FG_MAX_REPLY_BYTES + 64) < 0)
		abort();
	fg_buf_clear(&out);
	if (fg_reply_adjust_feat(p, len, feat_remove, feat_add, &out) < 0)
		abort(); /* the adds fit in the 64 spare bytes */
	if (len < 4 || memcmp(p, "211-", 4) != 0) {
		/* Anything else is copied unchanged. */
		if (fg_buf_len(&out) != len || memcmp(fg_buf_ptr(&out), p, len) != 0)
			abort();
	} else if (fg_buf_len(&out) < 12) {
		abort();
	}
	/* Too small an output fails cleanly and leaves it empty. */
	{
		struct fg_buf small;

		if (fg_buf_init(&small, len / 2) < 0)
			abort();
		if (fg_reply_adjust_feat(p, len, feat_remove, feat_add, &small) < 0 &&
		    fg_buf_len(&small) != 0)
			abort();
		fg_buf_free(&small);
	}
}

/* Run log: the texts of DONE replies, then the final status. */
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

/* Make r a fresh reader.  The 256 KiB text buffer is allocated once and
 * kept: allocating it for every run made the harness ~20x slower under
 * ASan.  What remains is what fg_reply_reader_init() does after its
 * allocation. */
static void reader_reset(struct fg_reply_reader *r)
{
	struct fg_buf keep = r->text;

	if (keep.data == NULL && fg_buf_init(&keep, FG_MAX_REPLY_BYTES) < 0)
		abort();
	memset(r, 0, sizeof(*r));
	r->text = keep;
	fg_buf_clear(&r->text);
}

/* Feed data in chunks (sizes from `sizes` as in fuzz_cmd.c, or all at
 * once when nsizes is 0), logging each reply. */
static void run(struct fg_reply_reader *r, const uint8_t *data, size_t size,
		const uint8_t *sizes, size_t nsizes, struct log *l)
{
	size_t off = 0, k = 0;
	enum fg_reply_status st = FG_REPLY_AGAIN;
	uint8_t s;

	reader_reset(r);
	while (off < size) {
		size_t lim = nsizes ? 1 + sizes[k++ % nsizes] % 64 : size - off, used = 0;

		if (lim > size - off)
			lim = size - off;
		st = fg_reply_feed(r, (const char *)data + off, lim, &used);
		if (used > lim)
			abort();
		off += used;
		if (st == FG_REPLY_ERROR) {
			if (r->error == NULL)
				abort();
			break;
		}
		if (used == 0 || (st == FG_REPLY_AGAIN && used != lim))
			abort();
		if (st == FG_REPLY_DONE) {
			if (data[off - 1] != '\n')
				abort();
			check_done(r);
			log_add(l, fg_buf_ptr(&r->text), fg_buf_len(&r->text));
			log_add(l, &r->code, sizeof(r->code));
		}
	}
	s = (uint8_t)st;
	log_add(l, &s, 1);
	if (st == FG_REPLY_ERROR)
		log_add(l, &off, sizeof(off)); /* the offending byte is the same */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fg_reply_reader r;
	struct log a, b;
	/* Normalising LF to CRLF at most doubles the bytes. */
	size_t cap = 2 * size + size * sizeof(int) + 32;

	a.p = malloc(cap);
	b.p = malloc(cap);
	if (a.p == NULL || b.p == NULL)
		abort();
	a.len = b.len = 0;
	a.cap = b.cap = cap;
	run(&r, data, size, NULL, 0, &a);
	if (size > 0)
		run(&r, data, size, data + (size > 8 ? size - 8 : 0), size > 8 ? 8 : size, &b);
	else
		log_add(&b, a.p, a.len);
	if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
		abort();
	free(a.p);
	free(b.p);
	return 0;
}
