/* ftp/reply.c - the backend reply reader and reply helpers (see reply.h).
 *
 * The reader keeps its whole state in struct fg_reply_reader and in the
 * text it has built so far, so a reply split anywhere across reads gives
 * the same result as the reply read in one piece.  The text is stored
 * already normalised (CRLF line ends), so r->text can be sent to the
 * client as it is. */
#include "ftp/reply.h"

#include <string.h>

#include "banned.h"

/* Data bytes of one line: the cap counts the CRLF. */
#define LINE_DATA_MAX (FG_MAX_REPLY_LINE - 2)

/* Mark the reader failed with a static reason.  The failure is sticky:
 * a backend that broke the framing once cannot be resynchronised, so
 * every later call fails too.  Returns FG_REPLY_ERROR. */
static enum fg_reply_status reply_fail(struct fg_reply_reader *r, const char *why)
{
	r->error = why;
	return FG_REPLY_ERROR;
}

/* Forget the previous reply and start a new one.  Returns nothing. */
static void reply_reset(struct fg_reply_reader *r)
{
	fg_buf_clear(&r->text);
	r->code = 0;
	r->nlines = 0;
	r->line_start = 0;
	r->multi = false;
	r->done = false;
}

/* Allocate the reader's text buffer and reset its state.  Returns 0, or
 * -1 if memory is short. */
int fg_reply_reader_init(struct fg_reply_reader *r)
{
	memset(r, 0, sizeof(*r));
	return fg_buf_init(&r->text, FG_MAX_REPLY_BYTES);
}

/* Release the text buffer; the reader must be initialised again before
 * reuse.  Returns nothing. */
void fg_reply_reader_free(struct fg_reply_reader *r)
{
	fg_buf_free(&r->text);
}

/* The current (incomplete) line: its start and its length so far. */
static const char *cur_line(const struct fg_reply_reader *r, size_t *len)
{
	*len = fg_buf_len(&r->text) - r->line_start;
	return fg_buf_ptr(&r->text) + r->line_start;
}

/* Check what has arrived of the first line of a reply: "ddd" with the
 * first digit 1..5, then ' ', '-' or the end of the line (a CR is
 * allowed there; a CR not followed by LF is refused elsewhere).  Checking
 * byte by byte rejects a non-FTP peer (an HTTP or SSH server, say) at
 * once instead of after a whole line.  Returns true if the prefix can
 * still start a valid reply. */
static bool first_line_ok(const struct fg_reply_reader *r)
{
	size_t len, i;
	const char *p = cur_line(r, &len);

	for (i = 0; i < len && i < 4; i++) {
		char c = p[i];

		if (i == 0 && !(c >= '1' && c <= '5'))
			return false;
		if ((i == 1 || i == 2) && !(c >= '0' && c <= '9'))
			return false;
		if (i == 3 && c != ' ' && c != '-' && c != '\r')
			return false;
	}
	return true;
}

/* Append bytes to the text, failing the reply when the byte cap would be
 * exceeded.  Returns FG_REPLY_AGAIN or FG_REPLY_ERROR. */
static enum fg_reply_status text_add(struct fg_reply_reader *r, const char *p, size_t n)
{
	if (fg_buf_append(&r->text, p, n) < 0)
		return reply_fail(r, "reply longer than FG_MAX_REPLY_BYTES");
	return FG_REPLY_AGAIN;
}

/* An LF ended the current line: store the CRLF, count the line, and see
 * whether it opens, continues or ends the reply.  Returns FG_REPLY_DONE
 * when the reply is complete, FG_REPLY_AGAIN when more lines follow, or
 * FG_REPLY_ERROR. */
static enum fg_reply_status reply_eol(struct fg_reply_reader *r)
{
	const char *line, *first;
	size_t len;

	line = cur_line(r, &len);
	/* A CR held at the end of the line is the CR of CRLF. */
	if (len > 0 && line[len - 1] == '\r') {
		if (text_add(r, "\n", 1) != FG_REPLY_AGAIN)
			return FG_REPLY_ERROR;
	} else if (text_add(r, "\r\n", 2) != FG_REPLY_AGAIN) {
		return FG_REPLY_ERROR;
	}
	line = cur_line(r, &len);
	len -= 2; /* data bytes only */
	if (r->nlines >= FG_MAX_REPLY_LINES)
		return reply_fail(r, "reply has more than FG_MAX_REPLY_LINES lines");
	r->nlines++;
	r->line_start = fg_buf_len(&r->text);
	if (r->nlines == 1) {
		if (len < 3 || !(line[0] >= '1' && line[0] <= '5') ||
		    !(line[1] >= '0' && line[1] <= '9') ||
		    !(line[2] >= '0' && line[2] <= '9') ||
		    (len > 3 && line[3] != ' ' && line[3] != '-'))
			return reply_fail(r, "reply does not start with a code");
		r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		r->multi = len > 3 && line[3] == '-';
	} else {
		/* RFC 959 4.2: the last line repeats the code followed by a
		 * space; lines in between are free text, even when they
		 * begin with digits (other codes, or "211-"). */
		first = fg_buf_ptr(&r->text);
		if (len >= 3 && memcmp(line, first, 3) == 0 && (len == 3 || line[3] == ' '))
			r->multi = false;
	}
	if (r->multi)
		return FG_REPLY_AGAIN;
	r->done = true;
	return FG_REPLY_DONE;
}

/* Feed n bytes of backend output (see reply.h).  Returns FG_REPLY_DONE
 * with the reply in r->text (stopping right after its last LF),
 * FG_REPLY_AGAIN when all n bytes were consumed, or FG_REPLY_ERROR with
 * r->error set.  *used is the number of bytes consumed; on error it
 * includes the offending byte. */
enum fg_reply_status fg_reply_feed(struct fg_reply_reader *r, const char *in, size_t n, size_t *used)
{
	enum fg_reply_status st;
	size_t i = 0;

	*used = 0;
	if (r->error)
		return FG_REPLY_ERROR;
	if (r->done)
		reply_reset(r);
	while (i < n) {
		const char *line;
		size_t len, j, run, room_line, room_buf;
		char c = in[i];

		line = cur_line(r, &len);
		if (c == '\n') {
			i++;
			st = reply_eol(r);
			if (st != FG_REPLY_AGAIN) {
				*used = i;
				return st;
			}
			continue;
		}
		*used = i + 1; /* in case of an error below */
		if (len > 0 && line[len - 1] == '\r')
			/* A bare CR might end a line for the client but
			 * not for us: the two would then disagree on where
			 * a reply ends.  RFC 854 allows CR only before LF
			 * (or NUL, which is refused anyway). */
			return reply_fail(r, "bare CR in reply");
		if (c == '\0')
			return reply_fail(r, "NUL in reply");
		if (c == '\r') {
			/* Fits the line: at most LINE_DATA_MAX data bytes
			 * are held, and the cap leaves room for CRLF. */
			if (text_add(r, "\r", 1) != FG_REPLY_AGAIN)
				return FG_REPLY_ERROR;
			if (r->nlines == 0 && !first_line_ok(r))
				return reply_fail(r, "reply does not start with a code");
			i++;
			continue;
		}
		/* A run of ordinary bytes: append it whole, but fail at the
		 * exact byte that breaks a limit, as one-byte reads would. */
		for (j = i; j < n && in[j] != '\n' && in[j] != '\r' && in[j] != '\0'; j++)
			;
		run = j - i;
		/* The code of a first line is checked byte by byte, so
		 * that a bad one fails at the same byte however the input
		 * is split. */
		if (r->nlines == 0 && len < 4)
			run = 1;
		j = i + run;
		room_line = LINE_DATA_MAX - len;
		room_buf = fg_buf_room(&r->text);
		if (run > room_line || run > room_buf) {
			if (room_line <= room_buf) {
				*used = i + room_line + 1;
				return reply_fail(r, "reply line longer than FG_MAX_REPLY_LINE");
			}
			*used = i + room_buf + 1;
			return reply_fail(r, "reply longer than FG_MAX_REPLY_BYTES");
		}
		if (text_add(r, in + i, run) != FG_REPLY_AGAIN)
			return FG_REPLY_ERROR;
		i = j;
		if (r->nlines == 0 && !first_line_ok(r))
			return reply_fail(r, "reply does not start with a code");
	}
	*used = n;
	return FG_REPLY_AGAIN;
}

/* Append "CODE text\r\n" to out.  code must be 100..599 and text a
 * trusted string.  Returns 0, or -1 if out is too small or the arguments
 * are invalid. */
int fg_reply_put(struct fg_buf *out, int code, const char *text)
{
	if (code < 100 || code > 599 || text == NULL)
		return -1;
	return fg_buf_printf(out, "%d %s\r\n", code, text);
}

/* ASCII upper case, independent of the locale. */
static char up(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Length of the first word of p[0..len): up to a space, CR or LF. */
static size_t word_len(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && p[i] != ' ' && p[i] != '\r' && p[i] != '\n'; i++)
		;
	return i;
}

/* True if the first words of a[0..alen) and of the C string b are equal,
 * ignoring ASCII case. */
static bool same_word(const char *a, size_t alen, const char *b)
{
	size_t wa = word_len(a, alen), wb = word_len(b, strlen(b)), i;

	if (wa != wb || wa == 0)
		return false;
	for (i = 0; i < wa; i++)
		if (up(a[i]) != up(b[i]))
			return false;
	return true;
}

/* The first word of a FEAT feature line p[0..len) (which starts with a
 * space, RFC 2389): *wlen receives its length past the leading spaces.
 * Returns a pointer to it. */
static const char *feat_word(const char *p, size_t len, size_t *wlen)
{
	size_t i = 0;

	while (i < len && p[i] == ' ')
		i++;
	*wlen = len - i;
	return p + i;
}

/* True if the feature line p[0..len) names one of the NULL-terminated
 * list's features (matched on the first word). */
static bool feat_listed(const char *p, size_t len, const char *const *list)
{
	const char *w;
	size_t wlen;

	if (list == NULL || len == 0 || p[0] != ' ')
		return false;
	w = feat_word(p, len, &wlen);
	for (; *list; list++)
		if (same_word(w, wlen, *list))
			return true;
	return false;
}

/* End (one past the LF, or len) of the line starting at pos. */
static size_t line_end(const char *p, size_t len, size_t pos)
{
	const char *lf = memchr(p + pos, '\n', len - pos);

	return lf ? (size_t)(lf - p) + 1 : len;
}

/* Where the last line of a 211 multi-line reply starts.  The reply must
 * open with "211-" and end with a line "211" or "211 ...", as the reply
 * reader guarantees.  Returns that offset, or 0 if the reply is not of
 * that form. */
static size_t feat_last_line(const char *reply, size_t len)
{
	size_t end = len, last;

	if (len < 4 || memcmp(reply, "211-", 4) != 0)
		return 0;
	if (reply[end - 1] == '\n')
		end--;
	for (last = end; last > 0 && reply[last - 1] != '\n'; last--)
		;
	if (last == 0 || len - last < 3 || memcmp(reply + last, "211", 3) != 0)
		return 0;
	if (len - last > 3 && reply[last + 3] != ' ' && reply[last + 3] != '\r' &&
	    reply[last + 3] != '\n')
		return 0;
	return last;
}

/* True if a kept feature line of reply[first_end..last) names the
 * feature `name` (first word, any case). */
static bool feat_present(const char *reply, size_t first_end, size_t last,
			 const char *const *remove, const char *name)
{
	size_t pos, e;
	const char *const one[] = { name, NULL };

	for (pos = first_end; pos < last; pos = e) {
		e = line_end(reply, last, pos);
		if (feat_listed(reply + pos, e - pos, one) &&
		    !feat_listed(reply + pos, e - pos, remove))
			return true;
	}
	return false;
}

/* Rewrite a FEAT reply (see reply.h).  Lines other than dropped feature
 * lines are copied byte for byte; added features go in as " NAME\r\n"
 * right before the last line.  Returns 0, or -1 if out is too small, in
 * which case out is left as it was. */
int fg_reply_adjust_feat(const char *reply, size_t len, const char *const *remove,
			 const char *const *add, struct fg_buf *out)
{
	size_t keep = fg_buf_len(out);
	size_t last = feat_last_line(reply, len);
	size_t first_end, pos, e;
	const char *const *a, *const *b;

	if (last == 0) {
		if (fg_buf_append(out, reply, len) < 0)
			goto full;
		return 0;
	}
	first_end = line_end(reply, len, 0);
	if (fg_buf_append(out, reply, first_end) < 0)
		goto full;
	for (pos = first_end; pos < last; pos = e) {
		e = line_end(reply, last, pos);
		if (feat_listed(reply + pos, e - pos, remove))
			continue;
		if (fg_buf_append(out, reply + pos, e - pos) < 0)
			goto full;
	}
	for (a = add; a && *a; a++) {
		bool dup = false;

		if (**a == '\0' || feat_present(reply, first_end, last, remove, *a))
			continue;
		/* The same feature twice in `add` is added once. */
		for (b = add; b != a; b++)
			if (same_word(*b, strlen(*b), *a))
				dup = true;
		if (dup)
			continue;
		if (fg_buf_append(out, " ", 1) < 0 || fg_buf_append(out, *a, strlen(*a)) < 0 ||
		    fg_buf_append(out, "\r\n", 2) < 0)
			goto full;
	}
	if (fg_buf_append(out, reply + last, len - last) < 0)
		goto full;
	return 0;
full:
	/* Appends may have compacted out, but the bytes held before the
	 * call are still its first `keep` bytes. */
	out->end = out->start + keep;
	return -1;
}
