/* check_buf.c - unit tests of the fixed-capacity buffers (buf.c). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"

#include "banned.h"

/* True if b holds exactly the C string want. */
static bool holds(const struct fg_buf *b, const char *want)
{
	return fg_buf_len(b) == strlen(want) && memcmp(fg_buf_ptr(b), want, strlen(want)) == 0;
}

/* Init b with capacity cap and append text (which must fit). */
static void filled(struct fg_buf *b, size_t cap, const char *text)
{
	ck_assert_int_eq(fg_buf_init(b, cap), 0);
	ck_assert_int_eq(fg_buf_append(b, text, strlen(text)), 0);
}

START_TEST(init_free)
{
	struct fg_buf b;

	ck_assert_int_eq(fg_buf_init(&b, 16), 0);
	ck_assert_uint_eq(b.cap, 16);
	ck_assert_uint_eq(fg_buf_len(&b), 0);
	ck_assert_uint_eq(fg_buf_room(&b), 16);
	fg_buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.cap, 0);
	fg_buf_free(&b); /* twice is harmless */
}
END_TEST

START_TEST(zero_cap)
{
	struct fg_buf b;

	ck_assert_int_eq(fg_buf_init(&b, 0), 0);
	ck_assert_uint_eq(fg_buf_room(&b), 0);
	ck_assert_int_eq(fg_buf_append(&b, "", 0), 0);
	ck_assert_int_eq(fg_buf_append(&b, "x", 1), -1);
	ck_assert_int_eq(fg_buf_printf(&b, "%s", ""), 0);
	ck_assert_int_eq(fg_buf_printf(&b, "x"), -1);
	fg_buf_free(&b);
}
END_TEST

START_TEST(append_limits)
{
	struct fg_buf b;

	filled(&b, 8, "abcde");
	ck_assert_int_eq(fg_buf_append(&b, "fghi", 4), -1); /* one over: unchanged */
	ck_assert(holds(&b, "abcde"));
	ck_assert_int_eq(fg_buf_append(&b, "fgh", 3), 0); /* exact fit */
	ck_assert(holds(&b, "abcdefgh"));
	ck_assert_uint_eq(fg_buf_room(&b), 0);
	ck_assert_int_eq(fg_buf_append(&b, "i", 1), -1);
	ck_assert_int_eq(fg_buf_append(&b, "", 0), 0);
	fg_buf_free(&b);
}
END_TEST

START_TEST(append_size_overflow)
{
	struct fg_buf b;

	filled(&b, 8, "ab");
	ck_assert_int_eq(fg_buf_append(&b, "x", (size_t)-1), -1);
	ck_assert(holds(&b, "ab"));
	fg_buf_free(&b);
}
END_TEST

START_TEST(consume_compact)
{
	struct fg_buf b;

	filled(&b, 8, "abcdefgh");
	fg_buf_consume(&b, 3);
	ck_assert(holds(&b, "defgh"));
	ck_assert_uint_eq(fg_buf_room(&b), 3);
	/* The free space is split: append must compact to use it. */
	ck_assert_int_eq(fg_buf_append(&b, "xyz", 3), 0);
	ck_assert(holds(&b, "defghxyz"));
	fg_buf_consume(&b, 100); /* more than held: everything */
	ck_assert_uint_eq(fg_buf_len(&b), 0);
	ck_assert_uint_eq(b.start, 0);
	ck_assert_int_eq(fg_buf_append(&b, "12", 2), 0);
	fg_buf_clear(&b);
	ck_assert_uint_eq(fg_buf_len(&b), 0);
	ck_assert_uint_eq(fg_buf_room(&b), 8);
	fg_buf_free(&b);
}
END_TEST

START_TEST(printf_limits)
{
	struct fg_buf b;

	ck_assert_int_eq(fg_buf_init(&b, 8), 0);
	ck_assert_int_eq(fg_buf_printf(&b, "%d-%s", 42, "ab"), 0);
	ck_assert(holds(&b, "42-ab"));
	ck_assert_int_eq(fg_buf_printf(&b, "%s", "wxyz"), -1); /* one over */
	ck_assert(holds(&b, "42-ab"));
	ck_assert_int_eq(fg_buf_printf(&b, "%s", "xyz"), 0); /* exact fit */
	ck_assert(holds(&b, "42-abxyz"));
	ck_assert_int_eq(fg_buf_printf(&b, "%s", "q"), -1);
	ck_assert(holds(&b, "42-abxyz"));
	fg_buf_free(&b);
}
END_TEST

START_TEST(printf_after_consume)
{
	struct fg_buf b;

	filled(&b, 8, "abcdefgh");
	fg_buf_consume(&b, 6);
	ck_assert_int_eq(fg_buf_printf(&b, "%06d", 7), 0);
	ck_assert(holds(&b, "gh000007"));
	fg_buf_free(&b);
}
END_TEST

/* A connected AF_UNIX stream pair, both ends non-blocking. */
static void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

START_TEST(read_write_fd)
{
	struct fg_buf in, out;
	int sv[2];

	pair(sv);
	ck_assert_int_eq(fg_buf_init(&in, 16), 0);
	filled(&out, 16, "hello");
	ck_assert_int_eq(fg_buf_write_fd(&out, sv[0]), 5);
	ck_assert_uint_eq(fg_buf_len(&out), 0);
	ck_assert_int_eq(fg_buf_write_fd(&out, sv[0]), 0); /* nothing to send */
	ck_assert_int_eq(fg_buf_read_fd(&in, sv[1]), 5);
	ck_assert(holds(&in, "hello"));
	/* Nothing more ready. */
	errno = 0;
	ck_assert_int_eq(fg_buf_read_fd(&in, sv[1]), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* EOF. */
	close(sv[0]);
	ck_assert_int_eq(fg_buf_read_fd(&in, sv[1]), 0);
	close(sv[1]);
	fg_buf_free(&in);
	fg_buf_free(&out);
}
END_TEST

START_TEST(read_fd_full)
{
	struct fg_buf in;
	int sv[2];

	pair(sv);
	ck_assert_int_eq(fg_buf_init(&in, 4), 0);
	ck_assert_int_eq(write(sv[0], "abcdefgh", 8), 8);
	/* Only what fits is read; the rest stays in the socket. */
	ck_assert_int_eq(fg_buf_read_fd(&in, sv[1]), 4);
	ck_assert(holds(&in, "abcd"));
	errno = 0;
	ck_assert_int_eq(fg_buf_read_fd(&in, sv[1]), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	/* After consuming, the read compacts and fills the room. */
	fg_buf_consume(&in, 3);
	ck_assert_int_eq(fg_buf_read_fd(&in, sv[1]), 3);
	ck_assert(holds(&in, "defg"));
	close(sv[0]);
	close(sv[1]);
	fg_buf_free(&in);
}
END_TEST

START_TEST(write_fd_partial)
{
	struct fg_buf out;
	static char big[1 << 20];
	int sv[2];
	ssize_t w;

	pair(sv);
	ck_assert_int_eq(fg_buf_init(&out, sizeof(big)), 0);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(fg_buf_append(&out, big, sizeof(big)), 0);
	/* The peer never reads: the socket takes only part. */
	w = fg_buf_write_fd(&out, sv[0]);
	ck_assert_int_gt(w, 0);
	ck_assert_uint_eq(fg_buf_len(&out), sizeof(big) - (size_t)w);
	errno = 0;
	ck_assert_int_eq(fg_buf_write_fd(&out, sv[0]), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_eq(fg_buf_len(&out), sizeof(big) - (size_t)w);
	close(sv[0]);
	close(sv[1]);
	fg_buf_free(&out);
}
END_TEST

START_TEST(write_fd_closed_peer)
{
	/* MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE. */
	struct fg_buf out;
	int sv[2];

	pair(sv);
	close(sv[1]);
	filled(&out, 8, "x");
	errno = 0;
	ck_assert_int_eq(fg_buf_write_fd(&out, sv[0]), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_uint_eq(fg_buf_len(&out), 1);
	close(sv[0]);
	fg_buf_free(&out);
}
END_TEST

/* Build the suite. */
static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *t = tcase_create("buf");

	tcase_add_test(t, init_free);
	tcase_add_test(t, zero_cap);
	tcase_add_test(t, append_limits);
	tcase_add_test(t, append_size_overflow);
	tcase_add_test(t, consume_compact);
	tcase_add_test(t, printf_limits);
	tcase_add_test(t, printf_after_consume);
	tcase_add_test(t, read_write_fd);
	tcase_add_test(t, read_fd_full);
	tcase_add_test(t, write_fd_partial);
	tcase_add_test(t, write_fd_closed_peer);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
