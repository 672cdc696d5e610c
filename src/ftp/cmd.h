/* ftp/cmd.h - the client command reader and the command table.
 *
 * Every byte from a client's control connection goes through
 * fg_cmd_feed(): CRLF framing, Telnet IAC handling, a length limit and a
 * refusal of NUL and stray CR.  A complete line is then split by
 * fg_cmd_parse() into a verb (looked up in the command table) and an
 * argument span. */
#ifndef FG_FTP_CMD_H
#define FG_FTP_CMD_H
#include <stdbool.h>
#include <stddef.h>
#include "limits.h"
#include "span.h"

enum fg_cmd_status {
	FG_CMD_AGAIN = 0, /* all input consumed, no complete line yet */
	FG_CMD_LINE,      /* r->line holds a complete line (no CR/LF) */
	FG_CMD_TOOLONG,   /* a line longer than FG_MAX_CMD_LINE was discarded */
	FG_CMD_BADCHAR,   /* a line holding NUL or a bare CR was discarded */
};

struct fg_cmd_reader {
	char line[FG_MAX_CMD_LINE]; /* current line, without CR LF; not NUL-terminated */
	size_t len;
	/* private state: */
	int iac;        /* Telnet state: 0 none, 1 after IAC, 2 after IAC WILL/WONT/DO/DONT */
	bool cr;        /* last data byte was CR */
	bool toolong;   /* discarding until LF */
	bool badchar;   /* line contains NUL or bare CR */
	bool done;      /* previous call returned a line: start a new one */
};

void fg_cmd_reader_init(struct fg_cmd_reader *r);

/* Feed n bytes.  Consumes bytes up to and including the LF that ends a
 * line, and stops there.  *used receives the number consumed.  Returns
 * FG_CMD_LINE with the line in r->line / r->len (valid until the next
 * call), FG_CMD_TOOLONG or FG_CMD_BADCHAR when a bad line was dropped
 * (the caller answers 500), or FG_CMD_AGAIN when all n bytes were consumed
 * without completing a line.
 *
 * Framing: a line ends at LF; one CR right before the LF is removed.  A CR
 * anywhere else, or a NUL, makes the line BADCHAR.  Telnet: IAC IAC is a
 * literal 0xFF byte; IAC WILL/WONT/DO/DONT <opt> (3 bytes) and every other
 * IAC <cmd> (2 bytes, e.g. IP, DM, NOP) are removed from the stream.
 * A line longer than FG_MAX_CMD_LINE - 2 data bytes is TOOLONG. */
enum fg_cmd_status fg_cmd_feed(struct fg_cmd_reader *r, const char *in, size_t n, size_t *used);

/* Commands the proxy needs to know by name. */
enum fg_verb {
	FG_V_UNKNOWN = 0,
	FG_V_USER, FG_V_PASS, FG_V_ACCT, FG_V_QUIT, FG_V_REIN,
	FG_V_PORT, FG_V_PASV, FG_V_EPRT, FG_V_EPSV, FG_V_LPRT, FG_V_LPSV, FG_V_SPSV,
	FG_V_RETR, FG_V_STOR, FG_V_STOU, FG_V_APPE, FG_V_LIST, FG_V_NLST, FG_V_MLSD,
	FG_V_REST, FG_V_TYPE, FG_V_MODE, FG_V_STRU, FG_V_ABOR, FG_V_STAT,
	FG_V_FEAT, FG_V_OPTS, FG_V_AUTH, FG_V_PBSZ, FG_V_PROT, FG_V_CCC, FG_V_ADAT,
	FG_V_MIC, FG_V_CONF, FG_V_ENC, FG_V_NOOP, FG_V_HELP, FG_V_SYST,
	FG_V_OTHER /* a syntactically valid verb not in the table: relayed */
};

/* Flags of a command table entry. */
#define FG_CMDF_TRANSFER 0x01 /* opens a data connection (LIST NLST MLSD RETR STOR STOU APPE) */
#define FG_CMDF_UPLOAD   0x02 /* data flows client -> server (STOR STOU APPE) */
#define FG_CMDF_SECRET   0x04 /* argument must never be logged (PASS, ACCT) */
#define FG_CMDF_PATH     0x08 /* argument is a path (logged escaped) */

struct fg_cmd {
	enum fg_verb verb;
	char name[FG_MAX_VERB + 1]; /* verb upper-cased, NUL-terminated */
	struct fg_span arg;         /* after the first space; may be empty; points into the line */
	bool has_arg;               /* a space followed the verb */
	unsigned flags;             /* FG_CMDF_* */
};

/* Split a line (as returned by fg_cmd_feed) into verb and argument.
 * The verb is 1..FG_MAX_VERB ASCII letters (case-insensitive), followed by
 * end of line or one space and the argument (kept verbatim).  Returns 0, or
 * -1 if the line is empty or the verb is malformed (caller answers 500). */
int fg_cmd_parse(const char *line, size_t len, struct fg_cmd *out);

#endif
