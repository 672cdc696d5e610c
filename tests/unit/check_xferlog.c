/* check_xferlog.c - unit tests of the xferlog line format and file
 * (xferlog.c): every field in its place, file names kept to one word,
 * a line never longer than PIPE_BUF, one line per write. */
#include <check.h>
#include <fcntl.h>
#include <linux/limits.h> /* PIPE_BUF (src/limits.h hides <limits.h>) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits.h"
#include "xferlog.h"

#include "banned.h"

/* Split line (modified) at blanks into at most max words; returns the count. */
static int words(char *line, char **w, int max)
{
	int n = 0;
	char *p = line;

	while (*p && n < max) {
		while (*p == ' ' || *p == '\n')
			*p++ = '\0';
		if (!*p)
			break;
		w[n++] = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	return n;
}

/* A typical record: 1234 bytes downloaded in 2.5 s by "test". */
static struct fg_xferlog_rec rec(void)
{
	struct fg_xferlog_rec r;

	memset(&r, 0, sizeof(r));
	r.when = 1700000000;
	r.ms = 2500;
	r.host = "127.0.0.1";
	r.bytes = 1234;
	r.path = "pub/file.bin";
	r.path_len = strlen(r.path);
	r.binary = true;
	r.incoming = false;
	r.user = "test";
	r.complete = true;
	return r;
}

START_TEST(fields)
{
	struct fg_xferlog_rec r = rec();
	char line[FG_XFERLOG_LINE], *w[32];
	int n, len;

	setenv("TZ", "UTC", 1);
	tzset();
	len = fg_xferlog_format(line, sizeof(line), &r);
	ck_assert_int_eq(len, (int)strlen(line));
	ck_assert_str_eq(line, "Tue Nov 14 22:13:20 2023 3 127.0.0.1 1234 pub/file.bin b _ o r test ftp 0 * c\n");
	n = words(line, w, 32);
	/* 5 words of date, then the 13 fields of the format. */
	ck_assert_int_eq(n, 18);
	ck_assert_str_eq(w[5], "3");
	ck_assert_str_eq(w[8], "pub/file.bin");
}
END_TEST

START_TEST(flags)
{
	struct fg_xferlog_rec r = rec();
	char line[FG_XFERLOG_LINE], *w[32];

	r.binary = false;
	r.incoming = true;
	r.complete = false;
	r.user = "anonymous";
	r.ms = 0;
	r.host = "::1";
	fg_xferlog_format(line, sizeof(line), &r);
	ck_assert_int_eq(words(line, w, 32), 18);
	ck_assert_str_eq(w[5], "1");     /* at least one second */
	ck_assert_str_eq(w[6], "::1");
	ck_assert_str_eq(w[9], "a");     /* ASCII */
	ck_assert_str_eq(w[10], "_");
	ck_assert_str_eq(w[11], "i");    /* incoming */
	ck_assert_str_eq(w[12], "a");    /* anonymous */
	ck_assert_str_eq(w[13], "anonymous");
	ck_assert_str_eq(w[14], "ftp");
	ck_assert_str_eq(w[15], "0");
	ck_assert_str_eq(w[16], "*");
	ck_assert_str_eq(w[17], "i");    /* incomplete */

	r.ms = 1001;
	r.user = "FTP";
	fg_xferlog_format(line, sizeof(line), &r);
	ck_assert_int_eq(words(line, w, 32), 18);
	ck_assert_str_eq(w[5], "2");     /* rounded up */
	ck_assert_str_eq(w[12], "a");
}
END_TEST

START_TEST(names_stay_one_word)
{
	struct fg_xferlog_rec r = rec();
	char line[FG_XFERLOG_LINE], *w[32];
	static const char path[] = "my dir/a\tb\\c\x1b[31m\xc3\xa9";

	r.path = path;
	r.path_len = sizeof(path) - 1;
	r.user = "john smith";
	fg_xferlog_format(line, sizeof(line), &r);
	ck_assert_int_eq(words(line, w, 32), 18);
	ck_assert_str_eq(w[8], "my_dir/a\\x09b\\\\c\\x1b[31m\\xc3\\xa9");
	ck_assert_str_eq(w[13], "john_smith");

	/* An empty name (STOU without argument) is "-". */
	r.path_len = 0;
	r.user = "";
	fg_xferlog_format(line, sizeof(line), &r);
	ck_assert_int_eq(words(line, w, 32), 18);
	ck_assert_str_eq(w[8], "-");
	ck_assert_str_eq(w[13], "-");
}
END_TEST

START_TEST(span_not_nul_terminated)
{
	struct fg_xferlog_rec r = rec();
	char line[FG_XFERLOG_LINE], *w[32];

	r.path = "abcdef";
	r.path_len = 3;
	fg_xferlog_format(line, sizeof(line), &r);
	ck_assert_int_eq(words(line, w, 32), 18);
	ck_assert_str_eq(w[8], "abc");
}
END_TEST

START_TEST(long_name_fits_pipe_buf)
{
	struct fg_xferlog_rec r = rec();
	static char path[FG_MAX_CMD_LINE];
	char line[FG_XFERLOG_LINE], *w[32];
	int len;

	/* Every byte escaped to four: the name would need 16 KiB. */
	memset(path, 0x01, sizeof(path));
	r.path = path;
	r.path_len = sizeof(path);
	len = fg_xferlog_format(line, sizeof(line), &r);
	ck_assert_int_gt(len, 3000);
	ck_assert_int_lt(len, PIPE_BUF);
	ck_assert_int_eq(line[len - 1], '\n');
	ck_assert_int_eq(words(line, w, 32), 18);
	ck_assert_int_eq(strncmp(w[8] + strlen(w[8]) - 3, "...", 3), 0);
	ck_assert_int_eq(strncmp(w[8], "\\x01\\x01", 8), 0);
	/* Too small a buffer is refused, not overrun. */
	ck_assert_int_eq(fg_xferlog_format(line, 100, &r), -1);
}
END_TEST

START_TEST(file_gets_one_line_per_transfer)
{
	char path[] = "/tmp/check_xferlog_XXXXXX", buf[2 * FG_XFERLOG_LINE], *w[32];
	struct fg_xferlog_rec r = rec();
	struct stat st;
	ssize_t n;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	ck_assert(!fg_xferlog_enabled());
	ck_assert_int_eq(fg_xferlog_fd(), -1);
	fg_xferlog_write(&r);            /* no log: nothing happens */
	ck_assert_int_eq(fg_xferlog_open(""), 0);
	ck_assert(!fg_xferlog_enabled());
	umask(022);
	ck_assert_int_eq(fg_xferlog_open(path), 0);
	ck_assert(fg_xferlog_enabled());
	ck_assert_int_ge(fg_xferlog_fd(), 0);
	ck_assert_int_ne(fcntl(fg_xferlog_fd(), F_GETFL) & O_APPEND, 0);
	ck_assert_int_ne(fcntl(fg_xferlog_fd(), F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	fg_xferlog_write(&r);
	r.incoming = true;
	r.bytes = 99;
	fg_xferlog_write(&r);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	{
		char *second = strchr(buf, '\n');

		ck_assert_ptr_nonnull(second);
		*second++ = '\0';
		ck_assert_int_eq(words(buf, w, 32), 18);
		ck_assert_str_eq(w[7], "1234");
		ck_assert_str_eq(w[11], "o");
		ck_assert_int_eq(words(second, w, 32), 18);
		ck_assert_str_eq(w[7], "99");
		ck_assert_str_eq(w[11], "i");
	}
	/* Appends, never truncates: a reopen keeps the lines. */
	ck_assert_int_eq(fg_xferlog_open(path), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq((long)st.st_size, (long)n);
	ck_assert_int_eq(fg_xferlog_open("/nonexistent-dir/xferlog"), -1);
	ck_assert(fg_xferlog_enabled());
	unlink(path);
}
END_TEST

/* Build the suite. */
static Suite *xferlog_suite(void)
{
	Suite *s = suite_create("xferlog");
	TCase *t = tcase_create("xferlog");

	tcase_add_test(t, fields);
	tcase_add_test(t, flags);
	tcase_add_test(t, names_stay_one_word);
	tcase_add_test(t, span_not_nul_terminated);
	tcase_add_test(t, long_name_fits_pipe_buf);
	tcase_add_test(t, file_gets_one_line_per_transfer);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xferlog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
