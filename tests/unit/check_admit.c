/* check_admit.c - unit tests of admission (admit.c) and the scoreboard
 * (scoreboard.c): per-address sessions, the connection rate, bans after
 * failed logins reported by a forked "session", the bounded address
 * table, and what a session process keeps mapped. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admit.h"
#include "config.h"
#include "log.h"
#include "scoreboard.h"
#include "session.h"

#include "banned.h"

#define SLOTS 8
#define T0 1000000 /* ms: any "now" well above zero */

static const char *const BANNED = "421 Your address is temporarily banned.\r\n";
static const char *const TOO_MANY = "421 Too many sessions from your address.\r\n";
static const char *const TOO_FAST = "421 Too many connections from your address, try again later.\r\n";

static struct fg_config cfg;

/* A valid configuration with its defaults, a scoreboard and the table. */
static void setup(void)
{
	static const char text[] = "[listener a]\nlisten = 127.0.0.1:2121\nbackend = b\n"
				   "[backend b]\nservers = 127.0.0.1:21\n";

	fg_config_no_resolve = true;
	ck_assert_int_eq(fg_config_load_string(&cfg, "t.conf", text, sizeof(text) - 1, stderr), 0);
	fg_log_open("check_admit", LOG_DAEMON, false, false);
	ck_assert_int_eq(fg_sb_create(SLOTS), 0);
	ck_assert_int_eq(fg_admit_init(), 0);
}

/* An IPv4 or IPv6 peer address from text. */
static struct fg_sockaddr addr(const char *text)
{
	struct fg_sockaddr a;

	ck_assert_int_eq(fg_net_parse_host(text, &a), 0);
	return a;
}

/* A session process for peer: a slot, "forked", handed the client. */
static int open_session(const char *peer, pid_t pid, uint64_t now)
{
	struct fg_sockaddr a = addr(peer);
	int slot = fg_sb_claim();

	ck_assert_int_ge(slot, 0);
	fg_admit_spawned(slot, pid);
	fg_admit_opened(slot, &a, peer, "a", now);
	return slot;
}

static const char *check_peer(const char *peer, uint64_t now)
{
	struct fg_sockaddr a = addr(peer);

	return fg_admit_check(&cfg, &a, now);
}

START_TEST(defaults_admit_everything)
{
	int i;

	setup();
	ck_assert_uint_eq(cfg.max_sessions_per_ip, 0);
	ck_assert_uint_eq(cfg.max_connections_per_minute, 0);
	ck_assert_uint_eq(cfg.ban_after, 0);
	for (i = 0; i < 1000; i++)
		ck_assert_ptr_null(check_peer("192.0.2.1", T0));
}
END_TEST

START_TEST(sessions_per_address)
{
	int s1, s2, s3;

	setup();
	cfg.max_sessions_per_ip = 2;
	ck_assert_ptr_null(check_peer("192.0.2.1", T0));
	s1 = open_session("192.0.2.1", 101, T0);
	ck_assert_ptr_null(check_peer("192.0.2.1", T0));
	s2 = open_session("192.0.2.1", 102, T0);
	ck_assert_str_eq(check_peer("192.0.2.1", T0), TOO_MANY);
	/* Per address: another one, v4 or v6, is served. */
	ck_assert_ptr_null(check_peer("192.0.2.2", T0));
	s3 = open_session("2001:db8::1", 103, T0);
	ck_assert_ptr_null(check_peer("2001:db8::1", T0));
	/* An ended session gives its place back. */
	fg_admit_reaped(&cfg, s1, T0 + 1);
	ck_assert_ptr_null(check_peer("192.0.2.1", T0 + 1));
	fg_admit_reaped(&cfg, s2, T0 + 1);
	fg_admit_reaped(&cfg, s3, T0 + 1);
	ck_assert_int_ge(fg_sb_claim(), 0); /* slots came back */
}
END_TEST

START_TEST(connection_rate)
{
	int i;

	setup();
	cfg.max_connections_per_minute = 6; /* a burst of 6, then one per 10 s */
	for (i = 0; i < 6; i++)
		ck_assert_ptr_null(check_peer("192.0.2.1", T0 + (uint64_t)i));
	ck_assert_str_eq(check_peer("192.0.2.1", T0 + 10), TOO_FAST);
	ck_assert_ptr_null(check_peer("198.51.100.1", T0 + 10));
	/* Refusals cost nothing; the next token comes 10 s after the first. */
	for (i = 0; i < 50; i++)
		ck_assert_str_eq(check_peer("192.0.2.1", T0 + 9000), TOO_FAST);
	ck_assert_ptr_null(check_peer("192.0.2.1", T0 + 10000));
	ck_assert_str_eq(check_peer("192.0.2.1", T0 + 10001), TOO_FAST);
	/* A minute of quiet: the whole burst again. */
	for (i = 0; i < 6; i++)
		ck_assert_ptr_null(check_peer("192.0.2.1", T0 + 80000));
	ck_assert_str_eq(check_peer("192.0.2.1", T0 + 80000), TOO_FAST);
}
END_TEST

/* Fork a "session process" on slot that reports n 530 replies to PASS
 * (and, with other_code, one reply that must not count) and exits. */
static void session_fails(int slot, int n, int other_code)
{
	pid_t pid = fork();
	int st, i;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static struct fg_session s;

		fg_sb_child(slot);
		s.cur.verb = FG_V_PASS;
		if (other_code)
			fg_sb_login(&s, other_code);
		s.cur.verb = FG_V_USER;
		fg_sb_login(&s, 530); /* a 530 to USER is no password guess */
		s.cur.verb = FG_V_PASS;
		for (i = 0; i < n; i++)
			fg_sb_login(&s, 530);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(ban_after_failures)
{
	int s1, s2;

	setup();
	cfg.ban_after = 3;
	cfg.ban_window = 60;
	cfg.ban_time = 4;
	s1 = open_session("192.0.2.1", 101, T0);
	session_fails(s1, 2, 503);
	fg_admit_tick(&cfg, T0 + 100);
	ck_assert_ptr_null(check_peer("192.0.2.1", T0 + 100)); /* 2 < 3 */
	/* The third failure, from another session, counted at reap time. */
	s2 = open_session("192.0.2.1", 102, T0 + 200);
	session_fails(s2, 1, 0);
	fg_admit_reaped(&cfg, s2, T0 + 300);
	ck_assert_str_eq(check_peer("192.0.2.1", T0 + 300), BANNED);
	ck_assert_ptr_null(check_peer("192.0.2.2", T0 + 300));
	/* Sessions already running are not cut, and do not extend the ban. */
	fg_admit_reaped(&cfg, s1, T0 + 400);
	ck_assert_str_eq(check_peer("192.0.2.1", T0 + 4299), BANNED);
	ck_assert_ptr_null(check_peer("192.0.2.1", T0 + 4300));
}
END_TEST

START_TEST(ban_window)
{
	int s;

	setup();
	cfg.ban_after = 2;
	cfg.ban_window = 10;
	s = open_session("192.0.2.1", 101, T0);
	session_fails(s, 1, 0);
	fg_admit_tick(&cfg, T0);
	fg_admit_reaped(&cfg, s, T0);
	/* The second failure comes after the window of the first. */
	s = open_session("192.0.2.1", 102, T0 + 10000);
	session_fails(s, 1, 0);
	fg_admit_tick(&cfg, T0 + 10000);
	ck_assert_ptr_null(check_peer("192.0.2.1", T0 + 10000));
	/* A third one within the window of the second: banned. */
	session_fails(s, 1, 0);
	fg_admit_tick(&cfg, T0 + 15000);
	ck_assert_str_eq(check_peer("192.0.2.1", T0 + 15000), BANNED);
}
END_TEST

/* Bans are lifted by the tick (and logged) when their time is up. */
static void count_ban(void *arg, const char *a, unsigned failures, uint64_t left_ms)
{
	(void)a;
	(void)failures;
	(void)left_ms;
	(*(unsigned *)arg)++;
}

START_TEST(unban_on_tick)
{
	struct fg_admit_stats st;
	unsigned n = 0;
	int s;

	setup();
	cfg.ban_after = 1;
	cfg.ban_time = 5;
	s = open_session("192.0.2.1", 101, T0);
	session_fails(s, 1, 0);
	fg_admit_tick(&cfg, T0);
	fg_admit_stats(&st);
	ck_assert_uint_eq(st.banned, 1);
	fg_admit_each_ban(T0, count_ban, &n);
	ck_assert_uint_eq(n, 1);
	fg_admit_tick(&cfg, T0 + 4999);
	fg_admit_stats(&st);
	ck_assert_uint_eq(st.banned, 1);
	fg_admit_tick(&cfg, T0 + 5000);
	fg_admit_stats(&st);
	ck_assert_uint_eq(st.banned, 0);
}
END_TEST

/* Many addresses cannot grow the table; an address with sessions is
 * never the one forgotten. */
START_TEST(table_is_bounded)
{
	struct fg_admit_stats st;
	char text[64];
	unsigned i;
	int s1, s2;

	setup();
	cfg.max_sessions_per_ip = 2;
	s1 = open_session("192.0.2.1", 101, T0);
	s2 = open_session("192.0.2.1", 102, T0);
	/* Three times what fits: every entry without a session is evicted. */
	for (i = 0; i < 3 * (SLOTS + FG_ADDR_SPARE); i++) {
		(void)snprintf(text, sizeof(text), "2001:db8::%x:%x", i >> 16, i & 0xffff);
		ck_assert_ptr_null(check_peer(text, T0 + i));
	}
	fg_admit_stats(&st);
	ck_assert_uint_eq(st.capacity, SLOTS + FG_ADDR_SPARE);
	ck_assert_uint_le(st.tracked, st.capacity);
	ck_assert_str_eq(check_peer("192.0.2.1", T0 + i), TOO_MANY);
	fg_admit_reaped(&cfg, s1, T0 + i);
	fg_admit_reaped(&cfg, s2, T0 + i);
	ck_assert_ptr_null(check_peer("192.0.2.1", T0 + i));
}
END_TEST

/* Pages of the scoreboard mapping (shown as "/dev/zero (deleted)") that
 * this process has mapped. */
static size_t table_pages(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	size_t pages = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (strstr(line, "/dev/zero (deleted)") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			pages += (hi - lo) / (size_t)sysconf(_SC_PAGESIZE);
	}
	fclose(f);
	return pages;
}

/* A session process keeps the header page and its own slot, nothing of
 * the other slots; what it writes there, the master reads. */
START_TEST(session_sees_only_its_slot)
{
	struct fg_sb_slot sl;
	int slot, st;
	pid_t pid;

	setup();
	slot = open_session("192.0.2.1", 101, T0);
	slot = open_session("192.0.2.1", 102, T0);
	ck_assert_uint_ge(table_pages(), 1 + SLOTS);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static struct fg_session s;
		static struct fg_listener l = {.name = "a"};

		fg_sb_child(slot);
		if (table_pages() != 2)
			_exit(3);
		s.lst = &l;
		s.started_ms = T0;
		(void)snprintf(s.id, sizeof(s.id), "0123456789ab");
		(void)snprintf(s.user, sizeof(s.user), "bob \"x\"\x01");
		s.client_peer = addr("192.0.2.1");
		s.ctrl = FG_CTRL_READY;
		s.bytes_down = 77;
		fg_sb_update(&s);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	fg_sb_read(slot, &sl);
	ck_assert_str_eq(sl.id, "0123456789ab");
	ck_assert_str_eq(sl.user, "\"bob \\\"x\\\"\\x01\"");
	ck_assert_str_eq(sl.ctrl, "READY");
	ck_assert_str_eq(sl.data, "NONE");
	ck_assert_uint_eq(sl.bytes_down, 77);
	ck_assert_int_eq(sl.pid, pid);
}
END_TEST

static Suite *admit_suite(void)
{
	Suite *s = suite_create("admit");
	TCase *t = tcase_create("admit");

	/* Thousands of table operations under sanitizers on a busy machine. */
	tcase_set_timeout(t, 30);

	tcase_add_test(t, defaults_admit_everything);
	tcase_add_test(t, sessions_per_address);
	tcase_add_test(t, connection_rate);
	tcase_add_test(t, ban_after_failures);
	tcase_add_test(t, ban_window);
	tcase_add_test(t, unban_on_tick);
	tcase_add_test(t, table_is_bounded);
	tcase_add_test(t, session_sees_only_its_slot);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(admit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
