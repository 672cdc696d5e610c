/* check_cmd.c - unit tests of the command reader and parser (ftp/cmd.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftp/cmd.h"

#include "banned.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* Event log of a whole feed: "L<len>:<line>|" per line, "T|" per TOOLONG
 * and "B|" per BADCHAR, then "A" if input ended inside a line. */
struct events {
	char s[3 * FG_MAX_CMD_LINE + 256];
	size_t len;
};

/* Append text to an event log. */
static void ev_add(struct events *e, const char *p, size_t n)
{
	ck_assert_uint_le(e->len + n, sizeof(e->s));
	memcpy(e->s + e->len, p, n);
	e->len += n;
}

/* Feed in[0..n) in chunks of at most `chunk` bytes (split points taken
 * from `split` when nonzero), logging every result; checks that each call
 * consumes at least one byte and no more than it was given. */
static void feed_log(struct fg_cmd_reader *r, const char *in, size_t n, size_t chunk,
		     size_t split, struct events *e)
{
	size_t off = 0;
	enum fg_cmd_status st = FG_CMD_AGAIN;

	e->len = 0;
	while (off < n) {
		size_t lim = chunk ? chunk : n - off, used = 0, k;
		char hdr[32];
		int hn;

		if (split && off < split && off + lim > split)
			lim = split - off;
		if (lim > n - off)
			lim = n - off;
		st = fg_cmd_feed(r, in + off, lim, &used);
		ck_assert_uint_ge(used, 1);
		ck_assert_uint_le(used, lim);
		off += used;
		switch (st) {
		case FG_CMD_LINE:
			ck_assert_uint_le(r->len, FG_MAX_CMD_LINE - 2);
			for (k = 0; k < r->len; k++)
				ck_assert(r->line[k] != '\r' && r->line[k] != '\n');
			hn = snprintf(hdr, sizeof(hdr), "L%zu:", r->len);
			ev_add(e, hdr, (size_t)hn);
			ev_add(e, r->line, r->len);
			ev_add(e, "|", 1);
			break;
		case FG_CMD_TOOLONG:
			ev_add(e, "T|", 2);
			break;
		case FG_CMD_BADCHAR:
			ev_add(e, "B|", 2);
			break;
		case FG_CMD_AGAIN:
			ck_assert_uint_eq(used, lim);
			break;
		}
	}
	if (st == FG_CMD_AGAIN && n > 0)
		ev_add(e, "A", 1);
}

/* Feed a whole buffer through a fresh reader and compare the event log
 * with `want` (a C string). */
static void expect(const char *in, size_t n, const char *want)
{
	static struct fg_cmd_reader r;
	static struct events e;

	fg_cmd_reader_init(&r);
	feed_log(&r, in, n, 0, 0, &e);
	ck_assert_uint_eq(e.len, strlen(want));
	ck_assert(memcmp(e.s, want, e.len) == 0);
}

/* One line through a fresh reader: returns the status, line in r. */
static enum fg_cmd_status feed1(struct fg_cmd_reader *r, const char *in, size_t n, size_t *used)
{
	fg_cmd_reader_init(r);
	return fg_cmd_feed(r, in, n, used);
}

START_TEST(crlf)
{
	struct fg_cmd_reader r;
	size_t used;

	ck_assert_int_eq(feed1(&r, S("USER anna\r\n"), &used), FG_CMD_LINE);
	ck_assert_uint_eq(used, 11);
	ck_assert_uint_eq(r.len, 9);
	ck_assert(memcmp(r.line, "USER anna", 9) == 0);
}
END_TEST

START_TEST(bare_lf)
{
	expect(S("NOOP\n"), "L4:NOOP|");
}
END_TEST

START_TEST(empty_line)
{
	expect(S("\r\n\n"), "L0:|L0:|");
}
END_TEST

START_TEST(bare_cr_middle)
{
	/* A CR not before LF poisons its line only. */
	expect(S("RETR a\rb\r\nNOOP\r\n"), "B|L4:NOOP|");
	expect(S("RETR a\r\r\n"), "B|");
	expect(S("\rNOOP\r\n"), "B|");
}
END_TEST

START_TEST(nul)
{
	expect(S("RETR a\0b\r\nNOOP\r\n"), "B|L4:NOOP|");
	expect(S("\0\n"), "B|");
}
END_TEST

START_TEST(cr_nul)
{
	/* Telnet CR NUL (a bare CR in NVT) is refused too. */
	expect(S("A\r\0B\r\n"), "B|");
}
END_TEST

/* A line of n data bytes 'x' followed by the given terminator, then
 * "NOOP\r\n"; fed whole. */
static enum fg_cmd_status long_line(size_t n, const char *term, struct fg_cmd_reader *r,
				    size_t *used, size_t *total, char **bufp)
{
	size_t tl = strlen(term);
	char *buf = malloc(n + tl + 6);

	ck_assert_ptr_nonnull(buf);
	memset(buf, 'x', n);
	memcpy(buf + n, term, tl);
	memcpy(buf + n + tl, "NOOP\r\n", 6);
	*total = n + tl + 6;
	*bufp = buf;
	return feed1(r, buf, *total, used);
}

START_TEST(max_length)
{
	static struct fg_cmd_reader r;
	size_t used, total;
	char *buf;

	/* FG_MAX_CMD_LINE counts the CRLF. */
	ck_assert_int_eq(long_line(FG_MAX_CMD_LINE - 2, "\r\n", &r, &used, &total, &buf),
			 FG_CMD_LINE);
	ck_assert_uint_eq(r.len, FG_MAX_CMD_LINE - 2);
	ck_assert_uint_eq(used, FG_MAX_CMD_LINE);
	ck_assert_int_eq(fg_cmd_feed(&r, buf + used, total - used, &used), FG_CMD_LINE);
	ck_assert_uint_eq(r.len, 4);
	free(buf);

	/* Same data length with a bare LF is still fine. */
	ck_assert_int_eq(long_line(FG_MAX_CMD_LINE - 2, "\n", &r, &used, &total, &buf),
			 FG_CMD_LINE);
	ck_assert_uint_eq(r.len, FG_MAX_CMD_LINE - 2);
	free(buf);
}
END_TEST

START_TEST(one_over)
{
	static struct fg_cmd_reader r;
	size_t used, total;
	char *buf;

	ck_assert_int_eq(long_line(FG_MAX_CMD_LINE - 1, "\r\n", &r, &used, &total, &buf),
			 FG_CMD_TOOLONG);
	ck_assert_uint_eq(used, FG_MAX_CMD_LINE + 1);
	/* The next line parses normally. */
	ck_assert_int_eq(fg_cmd_feed(&r, buf + used, total - used, &used), FG_CMD_LINE);
	ck_assert_uint_eq(r.len, 4);
	ck_assert(memcmp(r.line, "NOOP", 4) == 0);
	free(buf);
}
END_TEST

START_TEST(line_8k)
{
	static struct fg_cmd_reader r;
	size_t used, total;
	char *buf;

	ck_assert_int_eq(long_line(8192, "\r\n", &r, &used, &total, &buf), FG_CMD_TOOLONG);
	ck_assert_uint_eq(used, 8194);
	ck_assert_int_eq(fg_cmd_feed(&r, buf + used, total - used, &used), FG_CMD_LINE);
	ck_assert_uint_eq(r.len, 4);
	free(buf);
}
END_TEST

START_TEST(toolong_beats_badchar)
{
	static struct fg_cmd_reader r;
	static char buf[FG_MAX_CMD_LINE + 8];
	size_t used;

	memset(buf, 'x', sizeof(buf) - 2);
	buf[3] = '\0';
	memcpy(buf + sizeof(buf) - 2, "\r\n", 2);
	ck_assert_int_eq(feed1(&r, buf, sizeof(buf), &used), FG_CMD_TOOLONG);
	ck_assert_uint_eq(used, sizeof(buf));
}
END_TEST

START_TEST(iac_iac)
{
	expect(S("RETR a\xff\xff" "b\r\n"), "L8:RETR a\xff" "b|");
}
END_TEST

START_TEST(iac_ip_dm_abor)
{
	/* Python ftplib's abort(): IAC IP, IAC DM (urgent), then ABOR. */
	expect(S("\xff\xf4\xff\xf2" "ABOR\r\n"), "L4:ABOR|");
}
END_TEST

START_TEST(iac_will)
{
	/* IAC WILL/WONT/DO/DONT take an option byte, even CR or LF. */
	expect(S("NO\xff\xfb\x01OP\r\n"), "L4:NOOP|");
	expect(S("NO\xff\xfc\nOP\r\n"), "L4:NOOP|");
	expect(S("NO\xff\xfd\xffOP\r\n"), "L4:NOOP|");
	expect(S("NO\xff\xfe\rOP\r\n"), "L4:NOOP|");
	/* IAC NOP and IAC followed by a byte that is no command. */
	expect(S("NO\xff\xf1OP\r\n"), "L4:NOOP|");
}
END_TEST

START_TEST(iac_split)
{
	struct fg_cmd_reader r;
	size_t used;

	fg_cmd_reader_init(&r);
	ck_assert_int_eq(fg_cmd_feed(&r, S("AB\xff"), &used), FG_CMD_AGAIN);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(fg_cmd_feed(&r, S("\xfb"), &used), FG_CMD_AGAIN);
	ck_assert_int_eq(fg_cmd_feed(&r, S("\x18"), &used), FG_CMD_AGAIN);
	ck_assert_int_eq(fg_cmd_feed(&r, S("OR\xff"), &used), FG_CMD_AGAIN);
	ck_assert_int_eq(fg_cmd_feed(&r, S("\xff\r"), &used), FG_CMD_AGAIN);
	ck_assert_int_eq(fg_cmd_feed(&r, S("\n"), &used), FG_CMD_LINE);
	ck_assert_uint_eq(r.len, 5);
	ck_assert(memcmp(r.line, "ABOR\xff", 5) == 0);
}
END_TEST

START_TEST(cr_split)
{
	struct fg_cmd_reader r;
	size_t used;

	/* CR at the end of one read, LF at the start of the next. */
	fg_cmd_reader_init(&r);
	ck_assert_int_eq(fg_cmd_feed(&r, S("NOOP\r"), &used), FG_CMD_AGAIN);
	ck_assert_int_eq(fg_cmd_feed(&r, S("\n"), &used), FG_CMD_LINE);
	ck_assert_uint_eq(r.len, 4);
	/* CR at the end of one read, something else next: bare CR. */
	ck_assert_int_eq(fg_cmd_feed(&r, S("NOOP\r"), &used), FG_CMD_AGAIN);
	ck_assert_int_eq(fg_cmd_feed(&r, S("x\r\n"), &used), FG_CMD_BADCHAR);
}
END_TEST

static const char split_input[] =
	"USER anna\r\n"
	"PASS a b  c\r\n"
	"\xff\xf4\xff\xf2" "ABOR\r\n"
	"RETR \xff\xff" "x\r\n"
	"NO\xff\xfb\x01OP\n"
	"bad\rcr\r\n"
	"nul\0x\r\n"
	"\r\n"
	"CWD /a\r";

START_TEST(split_every_position)
{
	static struct fg_cmd_reader r;
	static struct events whole, part;
	size_t n = sizeof(split_input) - 1, k;

	fg_cmd_reader_init(&r);
	feed_log(&r, split_input, n, 0, 0, &whole);
	ck_assert(memcmp(whole.s, "L9:USER anna|L11:PASS a b  c|L4:ABOR|L7:RETR \xff" "x|L4:NOOP|B|B|L0:|A",
			 whole.len) == 0);
	for (k = 1; k < n; k++) {
		fg_cmd_reader_init(&r);
		feed_log(&r, split_input, n, 0, k, &part);
		ck_assert_uint_eq(part.len, whole.len);
		ck_assert(memcmp(part.s, whole.s, whole.len) == 0);
	}
	/* One byte at a time. */
	fg_cmd_reader_init(&r);
	feed_log(&r, split_input, n, 1, 0, &part);
	ck_assert_uint_eq(part.len, whole.len);
	ck_assert(memcmp(part.s, whole.s, whole.len) == 0);
}
END_TEST

START_TEST(split_long_lines)
{
	/* Chunk sizes around the cap, over a too-long line then a maximal
	 * one, give the same result as one read. */
	static struct fg_cmd_reader r;
	static struct events whole, part;
	static char buf[2 * FG_MAX_CMD_LINE + 16];
	size_t n = 0, chunks[] = { 1, 2, 3, 7, 4093, 4094, 4095, 4096, 4097 }, k;

	memset(buf, 'y', FG_MAX_CMD_LINE - 1);
	n = FG_MAX_CMD_LINE - 1;
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	memset(buf + n, 'z', FG_MAX_CMD_LINE - 2);
	n += FG_MAX_CMD_LINE - 2;
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	fg_cmd_reader_init(&r);
	feed_log(&r, buf, n, 0, 0, &whole);
	ck_assert(memcmp(whole.s, "T|L4094:", 8) == 0);
	for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		fg_cmd_reader_init(&r);
		feed_log(&r, buf, n, chunks[k], 0, &part);
		ck_assert_uint_eq(part.len, whole.len);
		ck_assert(memcmp(part.s, whole.s, whole.len) == 0);
	}
}
END_TEST

START_TEST(pipelined)
{
	struct fg_cmd_reader r;
	const char in[] = "TYPE I\r\nPASV\r\nRETR f\r\n";
	size_t n = sizeof(in) - 1, off = 0, used;

	fg_cmd_reader_init(&r);
	ck_assert_int_eq(fg_cmd_feed(&r, in, n, &used), FG_CMD_LINE);
	ck_assert_uint_eq(used, 8);
	ck_assert_uint_eq(r.len, 6);
	off += used;
	ck_assert_int_eq(fg_cmd_feed(&r, in + off, n - off, &used), FG_CMD_LINE);
	ck_assert_uint_eq(used, 6);
	ck_assert(r.len == 4 && memcmp(r.line, "PASV", 4) == 0);
	off += used;
	ck_assert_int_eq(fg_cmd_feed(&r, in + off, n - off, &used), FG_CMD_LINE);
	ck_assert_uint_eq(off + used, n);
	ck_assert(r.len == 6 && memcmp(r.line, "RETR f", 6) == 0);
	ck_assert_int_eq(fg_cmd_feed(&r, in + n, 0, &used), FG_CMD_AGAIN);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(partial_again)
{
	struct fg_cmd_reader r;
	size_t used;

	fg_cmd_reader_init(&r);
	ck_assert_int_eq(fg_cmd_feed(&r, S("LIS"), &used), FG_CMD_AGAIN);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(fg_cmd_feed(&r, S("T\r\n"), &used), FG_CMD_LINE);
	ck_assert(r.len == 4 && memcmp(r.line, "LIST", 4) == 0);
}
END_TEST

/* ---- fg_cmd_parse ---- */

/* Parse a C string; asserts success and returns the result in *c. */
static void parse_ok(const char *line, struct fg_cmd *c)
{
	ck_assert_int_eq(fg_cmd_parse(line, strlen(line), c), 0);
}

START_TEST(parse_basic)
{
	struct fg_cmd c;
	const char line[] = "USER anna";

	ck_assert_int_eq(fg_cmd_parse(line, 9, &c), 0);
	ck_assert_int_eq(c.verb, FG_V_USER);
	ck_assert_str_eq(c.name, "USER");
	ck_assert(c.has_arg);
	ck_assert_ptr_eq(c.arg.ptr, line + 5);
	ck_assert_uint_eq(c.arg.len, 4);
	ck_assert_uint_eq(c.flags, 0);
}
END_TEST

START_TEST(parse_case)
{
	struct fg_cmd c;

	parse_ok("retr x", &c);
	ck_assert_int_eq(c.verb, FG_V_RETR);
	ck_assert_str_eq(c.name, "RETR");
	parse_ok("pAsV", &c);
	ck_assert_int_eq(c.verb, FG_V_PASV);
	ck_assert_str_eq(c.name, "PASV");
	ck_assert(!c.has_arg);
	ck_assert_uint_eq(c.arg.len, 0);
	parse_ok("xmkd d", &c);
	ck_assert_int_eq(c.verb, FG_V_OTHER);
	ck_assert_str_eq(c.name, "XMKD");
}
END_TEST

START_TEST(parse_bad_verbs)
{
	struct fg_cmd c;

	ck_assert_int_eq(fg_cmd_parse("", 0, &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("X25 a"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("R3TR"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("1"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S(" USER a"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("USER\ta"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("US-ER"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("\xc3\x9cSER a"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("USER\xff"), &c), -1);
	ck_assert_int_eq(fg_cmd_parse(S("ABCDEFGHIJKLMNOPQ"), &c), -1);   /* 17 letters */
	ck_assert_int_eq(fg_cmd_parse(S("ABCDEFGHIJKLMNOPQ x"), &c), -1);
	ck_assert_int_eq(c.verb, FG_V_UNKNOWN);
}
END_TEST

START_TEST(parse_long_verb_ok)
{
	struct fg_cmd c;

	parse_ok("abcdefghijklmnop x", &c); /* 16 letters */
	ck_assert_int_eq(c.verb, FG_V_OTHER);
	ck_assert_str_eq(c.name, "ABCDEFGHIJKLMNOP");
	ck_assert_uint_eq(c.arg.len, 1);
	ck_assert_uint_eq(c.flags, 0);
}
END_TEST

START_TEST(parse_arg_spaces)
{
	struct fg_cmd c;
	const char *line = "STOR  my file .txt ";

	parse_ok(line, &c);
	ck_assert_int_eq(c.verb, FG_V_STOR);
	ck_assert_ptr_eq(c.arg.ptr, line + 5);
	ck_assert_uint_eq(c.arg.len, strlen(line) - 5);
	ck_assert(memcmp(c.arg.ptr, " my file .txt ", c.arg.len) == 0);

	parse_ok("USER ", &c);
	ck_assert(c.has_arg);
	ck_assert_uint_eq(c.arg.len, 0);
}
END_TEST

START_TEST(parse_arg_not_nul_terminated)
{
	struct fg_cmd c;
	const char line[] = "CWD /tmpXXXX";

	ck_assert_int_eq(fg_cmd_parse(line, 8, &c), 0);
	ck_assert_uint_eq(c.arg.len, 4);
	ck_assert(memcmp(c.arg.ptr, "/tmp", 4) == 0);
	ck_assert_int_eq(fg_cmd_parse(line, 3, &c), 0);
	ck_assert_str_eq(c.name, "CWD");
	ck_assert(!c.has_arg);
}
END_TEST

START_TEST(parse_flags)
{
	static const struct {
		const char *name;
		unsigned flags;
	} want[] = {
		{ "LIST", FG_CMDF_TRANSFER | FG_CMDF_PATH },
		{ "NLST", FG_CMDF_TRANSFER | FG_CMDF_PATH },
		{ "MLSD", FG_CMDF_TRANSFER | FG_CMDF_PATH },
		{ "RETR", FG_CMDF_TRANSFER | FG_CMDF_PATH },
		{ "STOR", FG_CMDF_TRANSFER | FG_CMDF_UPLOAD | FG_CMDF_PATH },
		{ "STOU", FG_CMDF_TRANSFER | FG_CMDF_UPLOAD | FG_CMDF_PATH },
		{ "APPE", FG_CMDF_TRANSFER | FG_CMDF_UPLOAD | FG_CMDF_PATH },
		{ "PASS", FG_CMDF_SECRET },
		{ "ACCT", FG_CMDF_SECRET },
		{ "DELE", FG_CMDF_PATH },
		{ "RNFR", FG_CMDF_PATH },
		{ "RNTO", FG_CMDF_PATH },
		{ "MKD", FG_CMDF_PATH },
		{ "RMD", FG_CMDF_PATH },
		{ "CWD", FG_CMDF_PATH },
		{ "SIZE", FG_CMDF_PATH },
		{ "MDTM", FG_CMDF_PATH },
		{ "XMKD", FG_CMDF_PATH },
		{ "XRMD", FG_CMDF_PATH },
		{ "XCWD", FG_CMDF_PATH },
		{ "USER", 0 },
		{ "PASV", 0 },
		{ "SITE", 0 },
		{ "PWD", 0 },
	};
	struct fg_cmd c;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		parse_ok(want[i].name, &c);
		ck_assert_msg(c.flags == want[i].flags, "%s: flags %u", want[i].name, c.flags);
	}
}
END_TEST

START_TEST(parse_table)
{
	/* Every named verb maps to its own enum value. */
	static const char *const names[] = {
		"USER", "PASS", "ACCT", "QUIT", "REIN",
		"PORT", "PASV", "EPRT", "EPSV", "LPRT", "LPSV", "SPSV",
		"RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD",
		"REST", "TYPE", "MODE", "STRU", "ABOR", "STAT",
		"FEAT", "OPTS", "AUTH", "PBSZ", "PROT", "CCC", "ADAT",
		"MIC", "CONF", "ENC", "NOOP", "HELP", "SYST",
	};
	struct fg_cmd c;
	size_t i;

	ck_assert_uint_eq(sizeof(names) / sizeof(names[0]), FG_V_OTHER - 1);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		parse_ok(names[i], &c);
		ck_assert_msg(c.verb == (enum fg_verb)(FG_V_USER + i), "%s", names[i]);
	}
	parse_ok("SITE CHMOD 644 f", &c);
	ck_assert_int_eq(c.verb, FG_V_OTHER);
}
END_TEST

/* Build the suite. */
static Suite *cmd_suite(void)
{
	Suite *s = suite_create("cmd");
	TCase *feed = tcase_create("feed"), *parse = tcase_create("parse");

	tcase_add_test(feed, crlf);
	tcase_add_test(feed, bare_lf);
	tcase_add_test(feed, empty_line);
	tcase_add_test(feed, bare_cr_middle);
	tcase_add_test(feed, nul);
	tcase_add_test(feed, cr_nul);
	tcase_add_test(feed, max_length);
	tcase_add_test(feed, one_over);
	tcase_add_test(feed, line_8k);
	tcase_add_test(feed, toolong_beats_badchar);
	tcase_add_test(feed, iac_iac);
	tcase_add_test(feed, iac_ip_dm_abor);
	tcase_add_test(feed, iac_will);
	tcase_add_test(feed, iac_split);
	tcase_add_test(feed, cr_split);
	tcase_add_test(feed, split_every_position);
	tcase_add_test(feed, split_long_lines);
	tcase_add_test(feed, pipelined);
	tcase_add_test(feed, partial_again);
	suite_add_tcase(s, feed);
	tcase_add_test(parse, parse_basic);
	tcase_add_test(parse, parse_case);
	tcase_add_test(parse, parse_bad_verbs);
	tcase_add_test(parse, parse_long_verb_ok);
	tcase_add_test(parse, parse_arg_spaces);
	tcase_add_test(parse, parse_arg_not_nul_terminated);
	tcase_add_test(parse, parse_flags);
	tcase_add_test(parse, parse_table);
	suite_add_tcase(s, parse);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cmd_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
