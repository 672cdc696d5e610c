/* ftp/cmd.c - the client command reader and the command table (see cmd.h).
 *
 * The reader is a byte-at-a-time state machine whose whole state lives in
 * struct fg_cmd_reader, so a line split anywhere across reads (even inside
 * a Telnet IAC sequence or between CR and LF) gives the same result as the
 * line read in one piece. */
#include "ftp/cmd.h"

#include <string.h>

#include "banned.h"

/* Telnet command bytes (RFC 854). */
#define TN_IAC  0xff
#define TN_DONT 0xfe
#define TN_WILL 0xfb

/* Longest line we keep, in data bytes: the cap counts the CRLF. */
#define CMD_DATA_MAX (FG_MAX_CMD_LINE - 2)

/* Accept one data byte (after Telnet decoding) into the current line.
 * A CR is held back until the next byte shows whether it ends the line;
 * any byte but LF after it makes the CR bare.  Bytes past the cap are
 * dropped and the line marked TOOLONG, so memory stays bounded while we
 * skip to the LF.  Returns nothing. */
static void cmd_data(struct fg_cmd_reader *r, unsigned char c)
{
	if (r->cr) {
		/* RFC 959 lines end in CRLF; a CR elsewhere could make
		 * us and the server disagree about where a line ends. */
		r->badchar = true;
		r->cr = false;
	}
	if (c == '\r') {
		r->cr = true;
		return;
	}
	if (c == '\0')
		r->badchar = true;
	if (r->len < CMD_DATA_MAX)
		r->line[r->len++] = (char)c;
	else
		r->toolong = true;
}

/* Initialise a reader before its first fg_cmd_feed(). */
void fg_cmd_reader_init(struct fg_cmd_reader *r)
{
	memset(r, 0, sizeof(*r));
}

/* Feed n bytes of client input (see cmd.h for the framing rules).  Returns
 * FG_CMD_LINE / FG_CMD_TOOLONG / FG_CMD_BADCHAR after consuming the LF of a
 * line, or FG_CMD_AGAIN after consuming all n bytes; *used says how many
 * bytes were consumed.  Telnet state and a pending CR carry over between
 * calls. */
enum fg_cmd_status fg_cmd_feed(struct fg_cmd_reader *r, const char *in, size_t n, size_t *used)
{
	enum fg_cmd_status st;
	size_t i;

	/* The previous line stayed readable until now; start afresh. */
	if (r->done) {
		r->len = 0;
		r->done = false;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (r->iac == 1) {
			if (c == TN_IAC) {
				/* IAC IAC is how Telnet sends a literal 0xFF. */
				r->iac = 0;
				cmd_data(r, c);
			} else if (c >= TN_WILL && c <= TN_DONT) {
				r->iac = 2; /* option negotiation: one more byte */
			} else {
				/* IP, DM, NOP, AYT...: clients send IAC IP
				 * IAC DM before ABOR; none carry data. */
				r->iac = 0;
			}
			continue;
		}
		if (r->iac == 2) {
			r->iac = 0; /* the option byte of WILL/WONT/DO/DONT */
			continue;
		}
		if (c == TN_IAC) {
			r->iac = 1;
			continue;
		}
		if (c != '\n') {
			cmd_data(r, c);
			continue;
		}
		/* End of line; a CR held back right before it is dropped. */
		r->cr = false;
		if (r->toolong)
			st = FG_CMD_TOOLONG;
		else if (r->badchar)
			st = FG_CMD_BADCHAR;
		else
			st = FG_CMD_LINE;
		if (st != FG_CMD_LINE)
			r->len = 0;
		r->toolong = false;
		r->badchar = false;
		r->done = true;
		*used = i + 1;
		return st;
	}
	*used = n;
	return FG_CMD_AGAIN;
}

/* The command table: every verb the proxy treats specially, plus verbs
 * that take a path (so the session knows to log the argument escaped). */
struct cmd_entry {
	const char *name;
	enum fg_verb verb;
	unsigned flags;
};

#define T FG_CMDF_TRANSFER
#define U FG_CMDF_UPLOAD
#define S FG_CMDF_SECRET
#define P FG_CMDF_PATH

static const struct cmd_entry cmd_table[] = {
	{ "USER", FG_V_USER, 0 },
	{ "PASS", FG_V_PASS, S },
	{ "ACCT", FG_V_ACCT, S },
	{ "QUIT", FG_V_QUIT, 0 },
	{ "REIN", FG_V_REIN, 0 },
	{ "PORT", FG_V_PORT, 0 },
	{ "PASV", FG_V_PASV, 0 },
	{ "EPRT", FG_V_EPRT, 0 },
	{ "EPSV", FG_V_EPSV, 0 },
	{ "LPRT", FG_V_LPRT, 0 },
	{ "LPSV", FG_V_LPSV, 0 },
	{ "SPSV", FG_V_SPSV, 0 },
	{ "RETR", FG_V_RETR, T | P },
	{ "STOR", FG_V_STOR, T | U | P },
	{ "STOU", FG_V_STOU, T | U | P },
	{ "APPE", FG_V_APPE, T | U | P },
	{ "LIST", FG_V_LIST, T | P },
	{ "NLST", FG_V_NLST, T | P },
	{ "MLSD", FG_V_MLSD, T | P },
	{ "REST", FG_V_REST, 0 },
	{ "TYPE", FG_V_TYPE, 0 },
	{ "MODE", FG_V_MODE, 0 },
	{ "STRU", FG_V_STRU, 0 },
	{ "ABOR", FG_V_ABOR, 0 },
	{ "STAT", FG_V_STAT, 0 },
	{ "FEAT", FG_V_FEAT, 0 },
	{ "OPTS", FG_V_OPTS, 0 },
	{ "AUTH", FG_V_AUTH, 0 },
	{ "PBSZ", FG_V_PBSZ, 0 },
	{ "PROT", FG_V_PROT, 0 },
	{ "CCC", FG_V_CCC, 0 },
	{ "ADAT", FG_V_ADAT, 0 },
	{ "MIC", FG_V_MIC, 0 },
	{ "CONF", FG_V_CONF, 0 },
	{ "ENC", FG_V_ENC, 0 },
	{ "NOOP", FG_V_NOOP, 0 },
	{ "HELP", FG_V_HELP, 0 },
	{ "SYST", FG_V_SYST, 0 },
	/* Relayed unchanged, but their argument is a path. */
	{ "DELE", FG_V_OTHER, P },
	{ "RNFR", FG_V_OTHER, P },
	{ "RNTO", FG_V_OTHER, P },
	{ "MKD", FG_V_OTHER, P },
	{ "RMD", FG_V_OTHER, P },
	{ "CWD", FG_V_OTHER, P },
	{ "SIZE", FG_V_OTHER, P },
	{ "MDTM", FG_V_OTHER, P },
	{ "XMKD", FG_V_OTHER, P },
	{ "XRMD", FG_V_OTHER, P },
	{ "XCWD", FG_V_OTHER, P },
};

#undef T
#undef U
#undef S
#undef P

/* Split a line into verb and argument (see cmd.h).  The verb is matched in
 * the C locale by hand: isalpha()/toupper() depend on the locale and
 * would let bytes >= 0x80 through in some.  Returns 0, or -1 if the line
 * is empty or the verb is not 1..FG_MAX_VERB ASCII letters followed by end
 * of line or a space.  On -1, *out is zeroed. */
int fg_cmd_parse(const char *line, size_t len, struct fg_cmd *out)
{
	size_t i, k;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		else if (!(c >= 'A' && c <= 'Z'))
			break;
		if (i == FG_MAX_VERB)
			goto bad;
		out->name[i] = (char)c;
	}
	if (i == 0)
		goto bad;
	if (i < len) {
		if (line[i] != ' ')
			goto bad;
		out->has_arg = true;
		out->arg.ptr = line + i + 1;
		out->arg.len = len - i - 1;
	} else {
		out->arg.ptr = line + len;
		out->arg.len = 0;
	}
	out->name[i] = '\0';
	out->verb = FG_V_OTHER;
	for (k = 0; k < sizeof(cmd_table) / sizeof(cmd_table[0]); k++) {
		if (strcmp(cmd_table[k].name, out->name) == 0) {
			out->verb = cmd_table[k].verb;
			out->flags = cmd_table[k].flags;
			break;
		}
	}
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}
