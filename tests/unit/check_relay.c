/* check_relay.c - unit tests of the data pumps (relay.c), both ways of
 * moving bytes: _i == 0 is the copy relay, _i == 1 splice. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

#include "banned.h"

/* The pump reads fds[1] (the test writes fds[0]) and writes fds[2] (the
 * test reads fds[3]). */
struct rig {
	int fds[4];
	struct fg_pump p;
};

static void nonblock(int fd)
{
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static void rig_up(struct rig *r, bool use_splice, int dst_sndbuf)
{
	int i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, r->fds), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, r->fds + 2), 0);
	for (i = 0; i < 4; i++)
		nonblock(r->fds[i]);
	if (dst_sndbuf > 0)
		ck_assert_int_eq(setsockopt(r->fds[2], SOL_SOCKET, SO_SNDBUF, &dst_sndbuf,
					    sizeof(dst_sndbuf)), 0);
	ck_assert_int_eq(fg_pump_init(&r->p, r->fds[1], r->fds[2], use_splice), 0);
}

static void rig_down(struct rig *r)
{
	int i;

	fg_pump_free(&r->p);
	for (i = 0; i < 4; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
}

/* Byte i of the test stream. */
static unsigned char pattern(uint64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/* Write up to n pattern bytes starting at stream offset *at; returns bytes written. */
static size_t feed(int fd, uint64_t *at, size_t n)
{
	unsigned char chunk[8192];
	size_t done = 0;

	while (done < n) {
		size_t k = n - done < sizeof(chunk) ? n - done : sizeof(chunk);
		size_t j;
		ssize_t w;

		for (j = 0; j < k; j++)
			chunk[j] = pattern(*at + j);
		w = write(fd, chunk, k);
		if (w <= 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		*at += (uint64_t)w;
		done += (size_t)w;
	}
	return done;
}

/* Read what is there and check it continues the pattern at *at. */
static size_t take(int fd, uint64_t *at)
{
	unsigned char chunk[8192];
	size_t got = 0;
	ssize_t r;

	while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
		ssize_t j;

		for (j = 0; j < r && chunk[j] == pattern(*at + (uint64_t)j); j++)
			;
		ck_assert_msg(j == r, "byte %llu differs", (unsigned long long)(*at + (uint64_t)j));
		*at += (uint64_t)r;
		got += (size_t)r;
	}
	return got;
}

static int unread(int fd)
{
	int n = -1;

	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* 8 MiB fed in uneven pieces arrive whole and in order; EOF on src ends
 * the pump with DONE once everything is written. */
START_TEST(moves_everything)
{
	const uint64_t total = 8u << 20;
	uint64_t fed = 0, got = 0;
	struct rig r;
	enum fg_pump_status st = FG_PUMP_AGAIN;
	int rounds;

	rig_up(&r, _i == 1, 0);
	for (rounds = 0; rounds < 100000 && st == FG_PUMP_AGAIN; rounds++) {
		if (fed < total) {
			feed(r.fds[0], &fed, (size_t)(total - fed < 70001 ? total - fed : 70001));
			if (fed == total)
				ck_assert_int_eq(shutdown(r.fds[0], SHUT_WR), 0);
		}
		st = fg_pump_run(&r.p);
		take(r.fds[3], &got);
	}
	ck_assert_int_eq(st, FG_PUMP_DONE);
	take(r.fds[3], &got);
	ck_assert_uint_eq(got, total);
	ck_assert_uint_eq(r.p.bytes, total);
	ck_assert_uint_eq(r.p.held, 0);
	ck_assert(r.p.max_read > 0);
	rig_down(&r);
}
END_TEST

/* While dst is full the pump holds what it read and does not read src
 * (that is the back-pressure), and it does not top up a half-drained pipe
 * or buffer either: it reads again only once everything held is written,
 * so each read is a big batch. */
START_TEST(reads_only_when_empty)
{
	uint64_t fed = 0, got = 0;
	struct rig r;
	int before, rounds;
	size_t held;

	rig_up(&r, _i == 1, 4096);
	feed(r.fds[0], &fed, 4u << 20); /* as much as src takes */
	ck_assert_int_eq(fg_pump_run(&r.p), FG_PUMP_AGAIN);
	ck_assert_msg(r.p.held > 0, "dst should be full, nothing held");
	ck_assert_int_eq(r.p.want_src, 0);
	ck_assert_int_eq(r.p.want_dst, POLLOUT);

	/* More for src; drain dst a little so the pump can write some. */
	feed(r.fds[0], &fed, 16 * 1024);
	before = unread(r.fds[1]);
	ck_assert_int_gt(before, 0);
	held = r.p.held;
	ck_assert_uint_gt(take(r.fds[3], &got), 0);
	ck_assert_int_eq(fg_pump_run(&r.p), FG_PUMP_AGAIN);
	ck_assert_msg(r.p.held < held, "the pump wrote nothing into the drained dst");
	if (r.p.held > 0) {
		ck_assert_int_eq(unread(r.fds[1]), before); /* src untouched */
		ck_assert_int_eq(r.p.want_src, 0);
	}

	/* Drain dst until the pump has written all it held: then it reads. */
	for (rounds = 0; rounds < 10000 && r.p.held > 0; rounds++) {
		take(r.fds[3], &got);
		ck_assert_int_eq(fg_pump_run(&r.p), FG_PUMP_AGAIN);
	}
	ck_assert_int_lt(rounds, 10000);
	for (rounds = 0; rounds < 10000 && got < fed; rounds++) {
		take(r.fds[3], &got);
		ck_assert_int_eq(fg_pump_run(&r.p), FG_PUMP_AGAIN);
	}
	take(r.fds[3], &got);
	ck_assert_uint_eq(got, fed);
	ck_assert_int_eq(unread(r.fds[1]), 0);
	ck_assert_int_eq(r.p.want_src, POLLIN);
	rig_down(&r);
}
END_TEST

/* A reset src is an error at the source; a closed dst one at dst. */
START_TEST(errors_say_which_side)
{
	uint64_t fed = 0;
	struct rig r;
	enum fg_pump_status st = FG_PUMP_AGAIN;
	int rounds;

	rig_up(&r, _i == 1, 0);
	close(r.fds[3]);
	r.fds[3] = -1;
	for (rounds = 0; rounds < 1000 && st == FG_PUMP_AGAIN; rounds++) {
		feed(r.fds[0], &fed, 4096);
		st = fg_pump_run(&r.p);
	}
	ck_assert_int_eq(st, FG_PUMP_ERROR);
	ck_assert(r.p.error_at_dst);
	ck_assert_int_eq(r.p.error, EPIPE);
	rig_down(&r);
}
END_TEST

static Suite *relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("pump");

	tcase_add_loop_test(tc, moves_everything, 0, 2);
	tcase_add_loop_test(tc, reads_only_when_empty, 0, 2);
	tcase_add_loop_test(tc, errors_say_which_side, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(relay_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN); /* as in a session: splice() to a closed socket raises it */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
