/* ftp/reply.h - the backend reply reader and reply helpers.
 *
 * A backend reply is read whole (every line of a multi-line reply) before
 * any of it reaches the client, so the proxy can decide about it as one
 * unit.  Limits: FG_MAX_REPLY_LINE per line, FG_MAX_REPLY_BYTES and
 * FG_MAX_REPLY_LINES per reply; beyond them the reply is an error and the
 * session ends (a backend that breaks them is broken or hostile). */
#ifndef FG_FTP_REPLY_H
#define FG_FTP_REPLY_H
#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "limits.h"

enum fg_reply_status {
	FG_REPLY_AGAIN = 0, /* all input consumed, reply not complete */
	FG_REPLY_DONE,      /* a whole reply is in r->text */
	FG_REPLY_ERROR,     /* malformed or over a limit; r->error says why */
};

struct fg_reply_reader {
	/* The completed reply, every line ending in CRLF (bare LF from the
	 * backend is normalised to CRLF), valid after FG_REPLY_DONE until the
	 * next fg_reply_feed() call. */
	struct fg_buf text;
	int code;            /* 100..599 */
	unsigned nlines;
	const char *error;   /* static string, set with FG_REPLY_ERROR */
	/* private state: */
	size_t line_start;   /* offset in text of the line being read */
	bool multi;          /* inside a multi-line reply */
	bool done;
};

/* Allocate the reader (FG_MAX_REPLY_BYTES). Returns 0 or -1. */
int fg_reply_reader_init(struct fg_reply_reader *r);
void fg_reply_reader_free(struct fg_reply_reader *r);

/* Feed n bytes; consumes up to the end of one complete reply and stops
 * there (*used = bytes consumed).  Rules (RFC 959 4.2): a reply line
 * starts with three digits, the first 1..5; "ddd " (or "ddd" alone) ends
 * a single-line reply; "ddd-" opens a multi-line reply, which ends at the
 * first later line that starts with the same three digits and a space (or
 * is exactly those digits).  Lines in between are free text.  NUL anywhere
 * is an error. */
enum fg_reply_status fg_reply_feed(struct fg_reply_reader *r, const char *in, size_t n, size_t *used);

/* Class helpers on a reply code. */
static inline bool fg_reply_is_prelim(int code) { return code >= 100 && code < 200; }
static inline bool fg_reply_is_ok(int code) { return code >= 200 && code < 400; }
static inline bool fg_reply_is_error(int code) { return code >= 400; }

/* Append one single-line reply "CODE text\r\n" to out.  text must be a
 * constant or trusted (it is not checked for CR/LF).  Returns 0 or -1. */
int fg_reply_put(struct fg_buf *out, int code, const char *text);

/* FEAT adjustment: given a whole FEAT reply (211 multi-line, CRLF lines),
 * write to out the same reply with the feature lines in `remove` (e.g.
 * "AUTH", "PBSZ", "PROT", "CCC" - matched case-insensitively on the first
 * word of a feature line) dropped and the lines in `add` (e.g. "EPSV",
 * "EPRT", matched on the first word) appended before the last line when
 * missing.  Both lists end with NULL.  A reply that is not a 211 multi-line
 * reply is copied unchanged.  Returns 0, or -1 if out is too small. */
int fg_reply_adjust_feat(const char *reply, size_t len, const char *const *remove,
			 const char *const *add, struct fg_buf *out);

#endif
