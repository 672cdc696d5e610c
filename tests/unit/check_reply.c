/* check_reply.c - unit tests of the reply reader and helpers (ftp/reply.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftp/reply.h"

#include "banned.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static struct fg_reply_reader rr;

/* Fresh reader for each test. */
static void setup(void)
{
	ck_assert_int_eq(fg_reply_reader_init(&rr), 0);
}

static void teardown(void)
{
	fg_reply_reader_free(&rr);
}

/* True if the reader's text equals the C string want. */
static bool text_is(const char *want)
{
	return fg_buf_len(&rr.text) == strlen(want) &&
	       memcmp(fg_buf_ptr(&rr.text), want, strlen(want)) == 0;
}

/* Feed in whole to the reader; returns the status, *used the bytes used. */
static enum fg_reply_status feed(const char *in, size_t n, size_t *used)
{
	return fg_reply_feed(&rr, in, n, used);
}

START_TEST(single_line)
{
	size_t used;

	ck_assert_int_eq(feed(S("220 ready\r\n"), &used), FG_REPLY_DONE);
	ck_assert_uint_eq(used, 11);
	ck_assert_int_eq(rr.code, 220);
	ck_assert_uint_eq(rr.nlines, 1);
	ck_assert(text_is("220 ready\r\n"));
}
END_TEST

START_TEST(code_alone)
{
	size_t used;

	ck_assert_int_eq(feed(S("200\r\n"), &used), FG_REPLY_DONE);
	ck_assert_int_eq(rr.code, 200);
}
END_TEST

START_TEST(multi_line)
{
	const char in[] = "211-Features:\r\n"
			  " EPSV\r\n"
			  "211-not the end\r\n"
			  "200 other code\r\n"
			  "211x not the end\r\n"
			  "2110 not the end\r\n"
			  " 211 not the end\r\n"
			  "211 End\r\n"
			  "200 next\r\n";
	size_t used;

	ck_assert_int_eq(feed(in, sizeof(in) - 1, &used), FG_REPLY_DONE);
	ck_assert_uint_eq(used, sizeof(in) - 1 - 10);
	ck_assert_int_eq(rr.code, 211);
	ck_assert_uint_eq(rr.nlines, 8);
	ck_assert_uint_eq(fg_buf_len(&rr.text), used);
	ck_assert(memcmp(fg_buf_ptr(&rr.text), in, used) == 0);
}
END_TEST

START_TEST(multi_end_code_alone)
{
	size_t used;

	ck_assert_int_eq(feed(S("230-Welcome\r\n230\r\n"), &used), FG_REPLY_DONE);
	ck_assert_uint_eq(rr.nlines, 2);
	ck_assert_int_eq(rr.code, 230);
}
END_TEST

START_TEST(multi_other_code_does_not_end)
{
	size_t used;

	ck_assert_int_eq(feed(S("230-Welcome\r\n220 hi\r\n"), &used), FG_REPLY_AGAIN);
	ck_assert_int_eq(feed(S("230 ok\r\n"), &used), FG_REPLY_DONE);
	ck_assert(text_is("230-Welcome\r\n220 hi\r\n230 ok\r\n"));
}
END_TEST

START_TEST(bare_lf)
{
	size_t used;

	ck_assert_int_eq(feed(S("211-a\nb\r\n211 End\n"), &used), FG_REPLY_DONE);
	ck_assert(text_is("211-a\r\nb\r\n211 End\r\n"));
}
END_TEST

START_TEST(bare_cr)
{
	size_t used;

	ck_assert_int_eq(feed(S("150-a\r227 x\r\n"), &used), FG_REPLY_ERROR);
	ck_assert_ptr_nonnull(rr.error);
	/* Sticky. */
	ck_assert_int_eq(feed(S("200 ok\r\n"), &used), FG_REPLY_ERROR);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(nul)
{
	size_t used;

	ck_assert_int_eq(feed(S("200 o\0k\r\n"), &used), FG_REPLY_ERROR);
	ck_assert_uint_eq(used, 6);
	ck_assert_ptr_nonnull(rr.error);
}
END_TEST

START_TEST(nul_inner)
{
	size_t used;

	ck_assert_int_eq(feed(S("211-x\r\n\0\r\n211 End\r\n"), &used), FG_REPLY_ERROR);
}
END_TEST

START_TEST(bad_first_line)
{
	static const char *const bad[] = {
		"abc\r\n", "600 x\r\n", "99 x\r\n", "099 x\r\n", "20 \r\n", "20\r\n",
		"2000 x\r\n", "200x\r\n", "\r\n", " 200 x\r\n", "SSH-2.0-x\r\n",
		"HTTP/1.1 400\r\n", "2a0 x\r\n",
	};
	size_t i, used;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fg_reply_reader_free(&rr);
		ck_assert_int_eq(fg_reply_reader_init(&rr), 0);
		ck_assert_msg(feed(bad[i], strlen(bad[i]), &used) == FG_REPLY_ERROR, "%s", bad[i]);
		ck_assert_ptr_nonnull(rr.error);
	}
}
END_TEST

START_TEST(bad_first_line_early)
{
	size_t used;

	/* Rejected on the first bad byte, before any LF. */
	ck_assert_int_eq(feed(S("HTTP/1.1"), &used), FG_REPLY_ERROR);
}
END_TEST

START_TEST(line_max)
{
	static char buf[FG_MAX_REPLY_LINE + 16];
	size_t used, n = FG_MAX_REPLY_LINE;

	/* Exactly FG_MAX_REPLY_LINE bytes with CRLF. */
	memset(buf, 'x', n);
	memcpy(buf, "200 ", 4);
	memcpy(buf + n - 2, "\r\n", 2);
	ck_assert_int_eq(feed(buf, n, &used), FG_REPLY_DONE);
	ck_assert_uint_eq(fg_buf_len(&rr.text), n);
	/* Same data with a bare LF: normalised to the same length. */
	buf[n - 2] = '\n';
	ck_assert_int_eq(feed(buf, n - 1, &used), FG_REPLY_DONE);
	ck_assert_uint_eq(fg_buf_len(&rr.text), n);
}
END_TEST

START_TEST(line_too_long)
{
	static char buf[FG_MAX_REPLY_LINE + 16];
	size_t used, n = FG_MAX_REPLY_LINE + 1;

	memset(buf, 'x', n);
	memcpy(buf, "200 ", 4);
	memcpy(buf + n - 2, "\r\n", 2);
	ck_assert_int_eq(feed(buf, n, &used), FG_REPLY_ERROR);
	ck_assert_uint_eq(used, FG_MAX_REPLY_LINE - 1);
	ck_assert_ptr_nonnull(strstr(rr.error, "LINE"));
}
END_TEST

START_TEST(inner_line_too_long)
{
	static char buf[2 * FG_MAX_REPLY_LINE];
	size_t used, n;

	memcpy(buf, "211-x\r\n", 7);
	memset(buf + 7, 'y', FG_MAX_REPLY_LINE);
	n = 7 + FG_MAX_REPLY_LINE;
	ck_assert_int_eq(feed(buf, n, &used), FG_REPLY_ERROR);
}
END_TEST

START_TEST(endless_multi_bytes)
{
	/* 100-byte inner lines forever: cut at FG_MAX_REPLY_BYTES. */
	char line[100];
	size_t used, total = 0;
	enum fg_reply_status st;

	memset(line, 'z', sizeof(line));
	line[sizeof(line) - 2] = '\r';
	line[sizeof(line) - 1] = '\n';
	ck_assert_int_eq(feed(S("211-x\r\n"), &used), FG_REPLY_AGAIN);
	total = 7;
	do {
		st = feed(line, sizeof(line), &used);
		total += used;
	} while (st == FG_REPLY_AGAIN && total < 2 * FG_MAX_REPLY_BYTES);
	ck_assert_int_eq(st, FG_REPLY_ERROR);
	ck_assert_ptr_nonnull(strstr(rr.error, "BYTES"));
	ck_assert_uint_eq(total, FG_MAX_REPLY_BYTES + 1);
}
END_TEST

START_TEST(endless_multi_lines)
{
	/* Empty inner lines are small: the line cap cuts first. */
	unsigned i;
	size_t used;

	ck_assert_int_eq(feed(S("211-x\r\n"), &used), FG_REPLY_AGAIN);
	for (i = 1; i < FG_MAX_REPLY_LINES - 1; i++)
		ck_assert_int_eq(feed(S("\r\n"), &used), FG_REPLY_AGAIN);
	/* Line FG_MAX_REPLY_LINES may still end the reply... */
	ck_assert_int_eq(feed(S("\r\n"), &used), FG_REPLY_AGAIN);
	ck_assert_uint_eq(rr.nlines, FG_MAX_REPLY_LINES);
	/* ...but one more is too many. */
	ck_assert_int_eq(feed(S("211 End\r\n"), &used), FG_REPLY_ERROR);
	ck_assert_ptr_nonnull(strstr(rr.error, "LINES"));
}
END_TEST

START_TEST(lines_at_cap_ok)
{
	unsigned i;
	size_t used;

	ck_assert_int_eq(feed(S("211-x\r\n"), &used), FG_REPLY_AGAIN);
	for (i = 2; i < FG_MAX_REPLY_LINES; i++)
		ck_assert_int_eq(feed(S("\r\n"), &used), FG_REPLY_AGAIN);
	ck_assert_int_eq(feed(S("211 End\r\n"), &used), FG_REPLY_DONE);
	ck_assert_uint_eq(rr.nlines, FG_MAX_REPLY_LINES);
}
END_TEST

START_TEST(back_to_back)
{
	const char in[] = "331 pass\r\n230-hi\r\n230 ok\r\n150 go\r\n226 ";
	size_t n = sizeof(in) - 1, off = 0, used;

	ck_assert_int_eq(feed(in, n, &used), FG_REPLY_DONE);
	ck_assert_int_eq(rr.code, 331);
	off += used;
	ck_assert_int_eq(feed(in + off, n - off, &used), FG_REPLY_DONE);
	ck_assert_int_eq(rr.code, 230);
	ck_assert_uint_eq(rr.nlines, 2);
	ck_assert(text_is("230-hi\r\n230 ok\r\n"));
	off += used;
	ck_assert_int_eq(feed(in + off, n - off, &used), FG_REPLY_DONE);
	ck_assert_int_eq(rr.code, 150);
	ck_assert(text_is("150 go\r\n"));
	off += used;
	ck_assert_int_eq(feed(in + off, n - off, &used), FG_REPLY_AGAIN);
	ck_assert_uint_eq(off + used, n);
	ck_assert_int_eq(feed(S("done\r\n"), &used), FG_REPLY_DONE);
	ck_assert(text_is("226 done\r\n"));
}
END_TEST

START_TEST(text_cleared_on_next_feed)
{
	size_t used;

	ck_assert_int_eq(feed(S("200 a\r\n"), &used), FG_REPLY_DONE);
	ck_assert_int_eq(feed(S(""), &used), FG_REPLY_AGAIN);
	ck_assert_uint_eq(fg_buf_len(&rr.text), 0);
	ck_assert_uint_eq(rr.nlines, 0);
}
END_TEST

/* Record of feeding a stream: the texts of the DONE replies separated by
 * '#', then "E" or "A" for how it ended. */
static size_t run_log(const char *in, size_t n, size_t chunk, size_t split, char *log, size_t cap)
{
	size_t off = 0, len = 0;
	enum fg_reply_status st = FG_REPLY_AGAIN;

	fg_reply_reader_free(&rr);
	ck_assert_int_eq(fg_reply_reader_init(&rr), 0);
	while (off < n) {
		size_t lim = chunk ? chunk : n - off, used;

		if (split && off < split && off + lim > split)
			lim = split - off;
		if (lim > n - off)
			lim = n - off;
		st = fg_reply_feed(&rr, in + off, lim, &used);
		ck_assert_uint_le(used, lim);
		off += used;
		if (st == FG_REPLY_ERROR)
			break;
		ck_assert_uint_ge(used, 1);
		if (st == FG_REPLY_DONE) {
			ck_assert_uint_le(len + fg_buf_len(&rr.text) + 1, cap);
			memcpy(log + len, fg_buf_ptr(&rr.text), fg_buf_len(&rr.text));
			len += fg_buf_len(&rr.text);
			log[len++] = '#';
		}
	}
	ck_assert_uint_lt(len, cap);
	log[len++] = st == FG_REPLY_ERROR ? 'E' : 'A';
	return len;
}

static const char stream[] = "220-Welcome\n220-\r\n220 ready\r\n"
			     "331 Password\r\n"
			     "211-Features:\r\n EPSV\r\n MDTM\n211 End\r\n"
			     "227 Entering Passive Mode (1,2,3,4,5,6)\r\n"
			     "150";

START_TEST(byte_by_byte)
{
	static char whole[512], part[512];
	size_t n = sizeof(stream) - 1, wl, pl, k;
	static const char want[] = "220-Welcome\r\n220-\r\n220 ready\r\n#331 Password\r\n#"
				   "211-Features:\r\n EPSV\r\n MDTM\r\n211 End\r\n#"
				   "227 Entering Passive Mode (1,2,3,4,5,6)\r\n#A";

	wl = run_log(stream, n, 0, 0, whole, sizeof(whole));
	ck_assert_uint_eq(wl, sizeof(want) - 1);
	ck_assert(memcmp(whole, want, wl) == 0);
	pl = run_log(stream, n, 1, 0, part, sizeof(part));
	ck_assert_uint_eq(pl, wl);
	ck_assert(memcmp(part, whole, wl) == 0);
	for (k = 1; k < n; k++) {
		pl = run_log(stream, n, 0, k, part, sizeof(part));
		ck_assert_uint_eq(pl, wl);
		ck_assert(memcmp(part, whole, wl) == 0);
	}
}
END_TEST

START_TEST(byte_by_byte_errors)
{
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
		{ S("200-a\r\nb\rc\r\n200 x\r\n") }, { S("200 a\0\r\n") },
		{ S("abc\r\n") }, { S("600 x\r\n") }, { S("200 ok\r\n99 x\r\n") },
	};
	static char whole[256], part[256];
	size_t i, wl, pl;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wl = run_log(bad[i].s, bad[i].len, 0, 0, whole, sizeof(whole));
		ck_assert_int_eq(whole[wl - 1], 'E');
		pl = run_log(bad[i].s, bad[i].len, 1, 0, part, sizeof(part));
		ck_assert_uint_eq(pl, wl);
		ck_assert(memcmp(part, whole, wl) == 0);
	}
}
END_TEST

/* ---- fg_reply_put ---- */

START_TEST(put)
{
	struct fg_buf b;

	ck_assert_int_eq(fg_buf_init(&b, 64), 0);
	ck_assert_int_eq(fg_reply_put(&b, 500, "Command not understood."), 0);
	ck_assert_uint_eq(fg_buf_len(&b), 29);
	ck_assert(memcmp(fg_buf_ptr(&b), "500 Command not understood.\r\n", 29) == 0);
	ck_assert_int_eq(fg_reply_put(&b, 99, "x"), -1);
	ck_assert_int_eq(fg_reply_put(&b, 600, "x"), -1);
	ck_assert_uint_eq(fg_buf_len(&b), 29);
	fg_buf_free(&b);

	/* Exactly fitting output is accepted; one byte less is not. */
	ck_assert_int_eq(fg_buf_init(&b, 8), 0);
	ck_assert_int_eq(fg_reply_put(&b, 200, "ok "), -1);
	ck_assert_uint_eq(fg_buf_len(&b), 0);
	ck_assert_int_eq(fg_reply_put(&b, 200, "ok"), 0);
	ck_assert(memcmp(fg_buf_ptr(&b), "200 ok\r\n", 8) == 0);
	fg_buf_free(&b);
}
END_TEST

/* ---- fg_reply_adjust_feat ---- */

static const char *const rm[] = { "AUTH", "PBSZ", "PROT", "CCC", NULL };
static const char *const add[] = { "EPSV", "EPRT", NULL };

/* Run fg_reply_adjust_feat on a C string into a 1 KiB buffer and compare
 * with want. */
static void feat(const char *in, const char *want)
{
	struct fg_buf out;

	ck_assert_int_eq(fg_buf_init(&out, 1024), 0);
	ck_assert_int_eq(fg_reply_adjust_feat(in, strlen(in), rm, add, &out), 0);
	ck_assert_msg(fg_buf_len(&out) == strlen(want) &&
			      memcmp(fg_buf_ptr(&out), want, strlen(want)) == 0,
		      "got [%.*s]", (int)fg_buf_len(&out), fg_buf_ptr(&out));
	fg_buf_free(&out);
}

START_TEST(feat_add_missing)
{
	feat("211-Features:\r\n MDTM\r\n SIZE\r\n211 End\r\n",
	     "211-Features:\r\n MDTM\r\n SIZE\r\n EPSV\r\n EPRT\r\n211 End\r\n");
}
END_TEST

START_TEST(feat_no_duplicate)
{
	feat("211-Features:\r\n epsv\r\n EPRT\r\n MDTM\r\n211 End\r\n",
	     "211-Features:\r\n epsv\r\n EPRT\r\n MDTM\r\n211 End\r\n");
	/* A word that only starts like a feature does not count. */
	feat("211-Features:\r\n EPSVX\r\n EPRT\r\n211 End\r\n",
	     "211-Features:\r\n EPSVX\r\n EPRT\r\n EPSV\r\n211 End\r\n");
}
END_TEST

START_TEST(feat_remove_tls)
{
	feat("211-Extensions supported:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n auth ssl\r\n"
	     " EPSV\r\n EPRT\r\n UTF8\r\n211 End.\r\n",
	     "211-Extensions supported:\r\n EPSV\r\n EPRT\r\n UTF8\r\n211 End.\r\n");
}
END_TEST

START_TEST(feat_preserve_other_lines)
{
	/* Lines that are not feature lines (no leading space) and odd
	 * spacing are kept byte for byte; "AUTHX" is not "AUTH". */
	feat("211-Features:\r\n MLST type*;size*;\r\nnot a feature AUTH\r\n AUTHX\r\n"
	     " REST STREAM \r\n EPSV\r\n EPRT\r\n211 End\r\n",
	     "211-Features:\r\n MLST type*;size*;\r\nnot a feature AUTH\r\n AUTHX\r\n"
	     " REST STREAM \r\n EPSV\r\n EPRT\r\n211 End\r\n");
}
END_TEST

START_TEST(feat_end_code_alone)
{
	feat("211-Features:\r\n AUTH TLS\r\n211\r\n",
	     "211-Features:\r\n EPSV\r\n EPRT\r\n211\r\n");
}
END_TEST

START_TEST(feat_not_211)
{
	feat("500 FEAT not understood\r\n", "500 FEAT not understood\r\n");
	feat("211 no features\r\n", "211 no features\r\n");
	feat("211-x\r\n", "211-x\r\n");
	feat("211-x\r\n AUTH TLS\r\n212 End\r\n", "211-x\r\n AUTH TLS\r\n212 End\r\n");
	feat("", "");
}
END_TEST

START_TEST(feat_out_too_small)
{
	const char in[] = "211-Features:\r\n MDTM\r\n211 End\r\n";
	struct fg_buf out;

	ck_assert_int_eq(fg_buf_init(&out, sizeof(in) - 1 + 8), 0);
	ck_assert_int_eq(fg_buf_append(&out, "xy", 2), 0);
	ck_assert_int_eq(fg_reply_adjust_feat(in, sizeof(in) - 1, rm, add, &out), -1);
	/* out keeps what it held before. */
	ck_assert_uint_eq(fg_buf_len(&out), 2);
	ck_assert(memcmp(fg_buf_ptr(&out), "xy", 2) == 0);
	fg_buf_free(&out);

	/* Unchanged copy that does not fit. */
	ck_assert_int_eq(fg_buf_init(&out, 4), 0);
	ck_assert_int_eq(fg_reply_adjust_feat(S("200 long reply\r\n"), rm, add, &out), -1);
	ck_assert_uint_eq(fg_buf_len(&out), 0);
	fg_buf_free(&out);
}
END_TEST

START_TEST(feat_from_reader)
{
	/* What the reader produces from bare LFs goes through unchanged
	 * apart from the features. */
	struct fg_buf out;
	size_t used;

	ck_assert_int_eq(feed(S("211-Features:\n AUTH TLS\n EPSV\n211 End\n"), &used), FG_REPLY_DONE);
	ck_assert_int_eq(fg_buf_init(&out, 1024), 0);
	ck_assert_int_eq(fg_reply_adjust_feat(fg_buf_ptr(&rr.text), fg_buf_len(&rr.text), rm, add,
					      &out), 0);
	ck_assert_uint_eq(fg_buf_len(&out), 38);
	ck_assert(memcmp(fg_buf_ptr(&out), "211-Features:\r\n EPSV\r\n EPRT\r\n211 End\r\n", 38) == 0);
	fg_buf_free(&out);
}
END_TEST

START_TEST(feat_null_lists)
{
	struct fg_buf out;
	const char in[] = "211-F\r\n AUTH TLS\r\n211 E\r\n";

	ck_assert_int_eq(fg_buf_init(&out, 64), 0);
	ck_assert_int_eq(fg_reply_adjust_feat(in, sizeof(in) - 1, NULL, NULL, &out), 0);
	ck_assert_uint_eq(fg_buf_len(&out), sizeof(in) - 1);
	fg_buf_free(&out);
}
END_TEST

/* Build the suite. */
static Suite *reply_suite(void)
{
	Suite *s = suite_create("reply");
	TCase *rd = tcase_create("reader"), *h = tcase_create("helpers");

	tcase_add_checked_fixture(rd, setup, teardown);
	tcase_add_test(rd, single_line);
	tcase_add_test(rd, code_alone);
	tcase_add_test(rd, multi_line);
	tcase_add_test(rd, multi_end_code_alone);
	tcase_add_test(rd, multi_other_code_does_not_end);
	tcase_add_test(rd, bare_lf);
	tcase_add_test(rd, bare_cr);
	tcase_add_test(rd, nul);
	tcase_add_test(rd, nul_inner);
	tcase_add_test(rd, bad_first_line);
	tcase_add_test(rd, bad_first_line_early);
	tcase_add_test(rd, line_max);
	tcase_add_test(rd, line_too_long);
	tcase_add_test(rd, inner_line_too_long);
	tcase_add_test(rd, endless_multi_bytes);
	tcase_add_test(rd, endless_multi_lines);
	tcase_add_test(rd, lines_at_cap_ok);
	tcase_add_test(rd, back_to_back);
	tcase_add_test(rd, text_cleared_on_next_feed);
	tcase_add_test(rd, byte_by_byte);
	tcase_add_test(rd, byte_by_byte_errors);
	suite_add_tcase(s, rd);
	tcase_add_checked_fixture(h, setup, teardown);
	tcase_add_test(h, put);
	tcase_add_test(h, feat_add_missing);
	tcase_add_test(h, feat_no_duplicate);
	tcase_add_test(h, feat_remove_tls);
	tcase_add_test(h, feat_preserve_other_lines);
	tcase_add_test(h, feat_end_code_alone);
	tcase_add_test(h, feat_not_211);
	tcase_add_test(h, feat_out_too_small);
	tcase_add_test(h, feat_from_reader);
	tcase_add_test(h, feat_null_lists);
	suite_add_tcase(s, h);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(reply_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
