/* check_sandbox.c - the lockdown of a session process (privsep.c,
 * seccomp.c) on the real kernel.
 *
 * Each test forks a child that locks itself down exactly as a session
 * process does (fg_privs_lookup("nobody"), fg_privs_sandbox(),
 * fg_privs_drop(): chroot into an empty temporary directory, drop to
 * nobody, no_new_privs, seccomp) and then tries one thing an attacker who
 * owns a session would try, or one thing a session must still be able to
 * do.  The child reports through a pipe and its exit status.
 *
 * The lockdown needs root (chroot, setresuid).  As another user only the
 * configuration tests run and the program exits 77, which automake counts
 * as SKIP, not PASS. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h> /* PATH_MAX: src/limits.h shadows <limits.h> */
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "config.h"
#include "privsep.h"
#include "unit_util.h"

#include "banned.h"

/* Exit status of a child whose probe found the sandbox as it should be. */
#define EXPECTED 42
/* Exit status of a child whose lockdown itself failed. */
#define NO_LOCKDOWN 3

/* The directories of one run (created by setup(), removed by teardown()). */
static struct {
	char base[64];      /* /tmp/check_sandbox.XXXXXX, 0755 */
	char root[96];      /* base/root: the chroot, empty, 0755 */
	char writable[96];  /* base/w: 0777, the cwd before the lockdown */
	struct fg_privs privs;
} T;

/* Names a probe may have created; teardown removes them. */
static const char *const planted[] = { "planted", "escaped", "escaped-dir" };

/* mkdir + chmod (the umask must not decide the mode). */
static void make_dir(const char *path, mode_t mode)
{
	ck_assert_msg(mkdir(path, mode) == 0, "mkdir %s: %s", path, strerror(errno));
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* Fixture (once, in the runner): directories and the session's privileges. */
static void setup(void)
{
	(void)snprintf(T.base, sizeof(T.base), "/tmp/check_sandbox.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(T.base));
	ck_assert_int_eq(chmod(T.base, 0755), 0);
	(void)snprintf(T.root, sizeof(T.root), "%s/root", T.base);
	(void)snprintf(T.writable, sizeof(T.writable), "%s/w", T.base);
	make_dir(T.root, 0755);
	make_dir(T.writable, 0777);
	ck_assert_int_eq(fg_privs_lookup("nobody", &T.privs, stderr), 0);
	ck_assert(T.privs.drop);
	ck_assert_int_eq(fg_privs_sandbox(&T.privs, true, T.root, stderr), 0);
	ck_assert(T.privs.chroot);
}

/* Remove what setup() made and whatever a failing probe left behind. */
static void teardown(void)
{
	char path[160];
	size_t i;

	for (i = 0; i < sizeof(planted) / sizeof(planted[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", T.writable, planted[i]);
		(void)unlink(path);
		(void)rmdir(path);
		(void)snprintf(path, sizeof(path), "%s/%s", T.root, planted[i]);
		(void)unlink(path);
	}
	(void)rmdir(T.writable);
	(void)rmdir(T.root);
	(void)rmdir(T.base);
}

/* True when path exists (lstat). */
static bool exists(const char *dir, const char *name)
{
	char path[160];
	struct stat st;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* ---- running a probe inside the sandbox ---------------------------------- */

/* A probe runs locked down.  It writes what it saw into why and returns
 * true when the sandbox behaved as it should. */
typedef bool (*probe_fn)(char *why, size_t len, void *arg);

struct outcome {
	int status;        /* from waitpid */
	char why[512];     /* the probe's report */
};

/* Read the child's report until EOF (at most 10 s). */
static void read_report(int fd, char *buf, size_t len)
{
	size_t got = 0;
	struct pollfd p = { fd, POLLIN, 0 };

	buf[0] = '\0';
	while (got + 1 < len && poll(&p, 1, 10000) > 0) {
		ssize_t r = read(fd, buf + got, len - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
}

/* Fork; the child chdirs into the writable directory, opens it as *dirfd
 * (when dirfd is not NULL), locks down and runs probe.  Returns the
 * child's exit status and report. */
static struct outcome run_locked(probe_fn probe, void *arg, int *dirfd)
{
	struct outcome o;
	int rep[2];
	pid_t pid;

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(pipe2(rep, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char why[512] = "";
		bool ok;
		ssize_t w;

		close(rep[0]);
		/* What a session process might hold from before: a working
		 * directory and an open directory, both writable for nobody. */
		if (chdir(T.writable) < 0)
			_exit(NO_LOCKDOWN);
		if (dirfd && (*dirfd = open(T.writable, O_RDONLY | O_DIRECTORY)) < 0)
			_exit(NO_LOCKDOWN);
		if (fg_privs_drop(&T.privs) < 0) {
			w = write(rep[1], "fg_privs_drop failed", 20);
			_exit(NO_LOCKDOWN);
		}
		ok = probe(why, sizeof(why), arg);
		w = write(rep[1], why, strlen(why));
		(void)w;
		_exit(ok ? EXPECTED : 1);
	}
	close(rep[1]);
	read_report(rep[0], o.why, sizeof(o.why));
	close(rep[0]);
	ck_assert_int_eq(waitpid(pid, &o.status, 0), pid);
	return o;
}

/* Assert that the probe's child exited with EXPECTED. */
static void assert_held(const struct outcome *o, const char *what)
{
	ck_assert_msg(!(WIFEXITED(o->status) && WEXITSTATUS(o->status) == NO_LOCKDOWN),
		      "%s: the lockdown itself failed: %s", what, o->why);
	ck_assert_msg(WIFEXITED(o->status) && WEXITSTATUS(o->status) == EXPECTED,
		      "%s: %s (child status 0x%x)", what, o->why, (unsigned)o->status);
}

/* run_locked() and assert_held(): the probe found the sandbox as it should. */
static void run_held(probe_fn probe, void *arg, int *dirfd, const char *what)
{
	struct outcome o = run_locked(probe, arg, dirfd);

	assert_held(&o, what);
}

/* Append "what: refused (strerror)" or note that it succeeded; true when
 * r < 0 and errno is want (0: any errno). */
static bool refused(char *why, size_t len, const char *what, long r, int want)
{
	size_t n = strlen(why);
	int e = errno;
	bool ok = r < 0 && (want == 0 || e == want);

	if (r >= 0)
		(void)snprintf(why + n, len - n, "%s succeeded; ", what);
	else
		(void)snprintf(why + n, len - n, "%s: %s%s; ", what, strerror(e),
			       ok ? "" : " (wrong error)");
	return ok;
}

/* Append "what: ok" or the error; true when r >= 0. */
static bool worked(char *why, size_t len, const char *what, long r)
{
	size_t n = strlen(why);
	int e = errno;

	(void)snprintf(why + n, len - n, "%s: %s; ", what, r >= 0 ? "ok" : strerror(e));
	return r >= 0;
}

/* A TCP listener on 127.0.0.1 (an ephemeral port), made as root before the
 * fork, standing for a backend or a client's data port. */
static int loopback_listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	return fd;
}

/* Accept one connection on lfd (at most 5 s) and read what it sent. */
static void accept_and_read(int lfd, char *buf, size_t len)
{
	struct pollfd p = { lfd, POLLIN, 0 };
	int fd;

	ck_assert_msg(poll(&p, 1, 5000) == 1, "nobody connected to the loopback listener");
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	read_report(fd, buf, len);
	close(fd);
}

/* ---- what must fail --------------------------------------------------------- */

/* Reading a file outside: gone (chroot) and refused (seccomp). */
static bool probe_open_passwd(char *why, size_t len, void *arg)
{
	bool ok;

	(void)arg;
	ok = refused(why, len, "open(/etc/passwd)", open("/etc/passwd", O_RDONLY), EPERM);
#ifdef SYS_open
	ok &= refused(why, len, "SYS_open(/etc/passwd)", syscall(SYS_open, "/etc/passwd", O_RDONLY), EPERM);
#endif
	ok &= refused(why, len, "open(/)", open("/", O_RDONLY | O_DIRECTORY), EPERM);
	return ok;
}

START_TEST(open_etc_passwd)
{
	run_held(probe_open_passwd, NULL, NULL, "reading /etc/passwd");
}
END_TEST

/* Writing a file into the working directory, which nobody could write to
 * before the lockdown. */
static bool probe_create_in_cwd(char *why, size_t len, void *arg)
{
	bool ok;

	(void)arg;
	ok = refused(why, len, "open(./planted, O_CREAT)",
		     open("planted", O_WRONLY | O_CREAT | O_EXCL, 0600), EPERM);
	ok &= refused(why, len, "mkdir(./escaped-dir)", mkdir("escaped-dir", 0700), EPERM);
	return ok;
}

START_TEST(create_in_cwd)
{
	run_held(probe_create_in_cwd, NULL, NULL, "creating a file in the working directory");
	ck_assert_msg(!exists(T.writable, "planted") && !exists(T.root, "planted"),
		      "a file was created");
	ck_assert_msg(!exists(T.writable, "escaped-dir"), "a directory was created");
}
END_TEST

/* Writing through a directory descriptor opened before the chroot: chroot
 * alone does not stop this, the filter must. */
static bool probe_dirfd_escape(char *why, size_t len, void *arg)
{
	int dfd = *(int *)arg;

	return refused(why, len, "openat(old dirfd, escaped, O_CREAT)",
		       openat(dfd, "escaped", O_WRONLY | O_CREAT | O_EXCL, 0600), EPERM);
}

START_TEST(dirfd_escape)
{
	int dfd = -1;

	run_held(probe_dirfd_escape, &dfd, &dfd, "writing through an inherited directory descriptor");
	ck_assert_msg(!exists(T.writable, "escaped"), "a file was created outside the chroot");
}
END_TEST

/* Binding a privileged port: the kernel's answer for a non-root user. */
static bool probe_bind_low_port(char *why, size_t len, void *arg)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)arg;
	if (!worked(why, len, "socket(AF_INET)", fd))
		return false;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(80);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return refused(why, len, "bind(127.0.0.1:80)", bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
}

START_TEST(bind_low_port)
{
	run_held(probe_bind_low_port, NULL, NULL, "binding port 80");
}
END_TEST

/* Running a program. */
static bool probe_execve(char *why, size_t len, void *arg)
{
	char *argv[] = { (char *)"true", NULL };
	char *envp[] = { NULL };

	(void)arg;
	return refused(why, len, "execve(/bin/true)", execve("/bin/true", argv, envp), EPERM);
}

START_TEST(execve_true)
{
	/* A successful execve would exit 0 from /bin/true: not EXPECTED. */
	run_held(probe_execve, NULL, NULL, "execve");
}
END_TEST

/* Making a process (fork, and the raw fork syscall where it exists). */
static bool probe_fork(char *why, size_t len, void *arg)
{
	pid_t pid;
	bool ok;

	(void)arg;
	pid = fork();
	if (pid == 0)
		_exit(0);
	ok = refused(why, len, "fork()", pid, EPERM);
#ifdef SYS_fork
	pid = (pid_t)syscall(SYS_fork);
	if (pid == 0)
		_exit(0);
	ok &= refused(why, len, "SYS_fork", pid, EPERM);
#endif
	return ok;
}

START_TEST(fork_refused)
{
	run_held(probe_fork, NULL, NULL, "fork");
}
END_TEST

/* Other doors: local sockets, descriptor passing, executable memory,
 * signals to others through F_SETOWN, ptrace, kill, leaving the chroot's root, terminal ioctls. */
static bool probe_other_doors(char *why, size_t len, void *arg)
{
	void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *x;
	bool ok;

	(void)arg;
	ok = refused(why, len, "socket(AF_UNIX)", socket(AF_UNIX, SOCK_STREAM, 0), EPERM);
	ok &= refused(why, len, "socket(AF_NETLINK)", socket(AF_NETLINK, SOCK_RAW, 0), EPERM);
	ok &= refused(why, len, "socketpair(AF_UNIX)", socketpair(AF_UNIX, SOCK_STREAM, 0, (int[2]){0, 0}), EPERM);
	x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok &= refused(why, len, "mmap(PROT_EXEC)", x == MAP_FAILED ? -1 : 0, EPERM);
	ok &= worked(why, len, "mmap(PROT_READ|PROT_WRITE)", rw == MAP_FAILED ? -1 : 0);
	if (rw != MAP_FAILED)
		ok &= refused(why, len, "mprotect(PROT_EXEC)", mprotect(rw, 4096, PROT_READ | PROT_EXEC), EPERM);
	ok &= refused(why, len, "sendmsg", sendmsg(socket(AF_INET, SOCK_DGRAM, 0), &(struct msghdr){0}, 0), EPERM);
	ok &= refused(why, len, "fcntl(F_SETOWN)", fcntl(0, F_SETOWN, getpid()), EPERM);
	ok &= refused(why, len, "fcntl(F_SETSIG)", fcntl(0, F_SETSIG, SIGKILL), EPERM);
	ok &= refused(why, len, "ptrace(TRACEME)", ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM);
	ok &= refused(why, len, "kill(1, 0)", kill(1, 0), EPERM);
	ok &= refused(why, len, "chdir(..)", chdir(".."), EPERM);
	ok &= refused(why, len, "ioctl(0, TIOCGWINSZ)", ioctl(0, TIOCGWINSZ, &(char[64]){0}), EPERM);
	return ok;
}

START_TEST(other_doors)
{
	run_held(probe_other_doors, NULL, NULL, "other system calls");
}
END_TEST

#if defined(__x86_64__)
/* A system call of the x32 ABI (numbers with bit 30 set) shares the
 * x86_64 audit arch; the filter kills the process rather than judge it by
 * the x86_64 list.  (The i386 ABI, int 0x80, is killed by the arch check;
 * kernels without IA32 emulation fault before seccomp sees it, so it is
 * not tested here.) */
static bool probe_foreign_abi(char *why, size_t len, void *arg)
{
	long r = syscall(0x40000000L | SYS_getpid);

	(void)arg;
	(void)snprintf(why, len, "x32 getpid returned %ld (%s) instead of killing the process", r,
		       r < 0 ? strerror(errno) : "ok");
	return false;
}

START_TEST(foreign_abi_killed)
{
	struct outcome o = run_locked(probe_foreign_abi, NULL, NULL);

	ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS,
		      "x32 system call: %s (child status 0x%x)", o.why, (unsigned)o.status);
}
END_TEST
#endif

/* ---- what must still work --------------------------------------------------- */

/* Dial a loopback listener and send a line, as toward a backend. */
static bool probe_connect(char *why, size_t len, void *arg)
{
	const struct sockaddr_in *to = arg;
	static const char msg[] = "hello from the sandbox";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (!worked(why, len, "socket(AF_INET)", fd))
		return false;
	if (!worked(why, len, "connect(127.0.0.1)", connect(fd, (const struct sockaddr *)to, sizeof(*to))))
		return false;
	return worked(why, len, "send", send(fd, msg, strlen(msg), MSG_NOSIGNAL));
}

/* Run probe toward a fresh loopback listener; want must arrive there. */
static void run_delivers(probe_fn probe, const char *what, const char *want)
{
	struct sockaddr_in sin;
	int lfd = loopback_listener(&sin);
	char got[64];

	run_held(probe, &sin, NULL, what);
	accept_and_read(lfd, got, sizeof(got));
	ck_assert_str_eq(got, want);
	close(lfd);
}

START_TEST(connect_loopback)
{
	run_delivers(probe_connect, "connect", "hello from the sandbox");
}
END_TEST

/* Move bytes with pipe2 + splice, as data_relay = splice does, and look at
 * the pipe with ioctl(FIONREAD). */
static bool probe_splice(char *why, size_t len, void *arg)
{
	const struct sockaddr_in *to = arg;
	static const char msg[] = "spliced through a pipe";
	int pfd[2], fd, queued = -1;
	bool ok;

	if (!worked(why, len, "pipe2", pipe2(pfd, O_NONBLOCK | O_CLOEXEC)))
		return false;
	if (!worked(why, len, "write(pipe)", write(pfd[1], msg, strlen(msg))))
		return false;
	ok = worked(why, len, "ioctl(FIONREAD)", ioctl(pfd[0], FIONREAD, &queued));
	if (ok && queued != (int)strlen(msg)) {
		(void)snprintf(why + strlen(why), len - strlen(why), "FIONREAD says %d; ", queued);
		ok = false;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!worked(why, len, "socket", fd) ||
	    !worked(why, len, "connect", connect(fd, (const struct sockaddr *)to, sizeof(*to))))
		return false;
	return worked(why, len, "splice(pipe -> socket)",
		      splice(pfd[0], NULL, fd, NULL, strlen(msg), SPLICE_F_MOVE)) && ok;
}

START_TEST(pipe_splice)
{
	run_delivers(probe_splice, "pipe2 + splice", "spliced through a pipe");
}
END_TEST

/* The rest of what a session does: a passive listener on a high port,
 * non-blocking accept, socket options, clocks, randomness, signals,
 * memory (a large allocation is an mmap), its own pid. */
static bool probe_session_calls(char *why, size_t len, void *arg)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct sigaction sa;
	struct timespec ts;
	sigset_t set;
	unsigned char rnd[8];
	char *big;
	int one = 1, fd, fl;
	bool ok = true;

	(void)arg;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ok &= worked(why, len, "socket", fd);
	ok &= worked(why, len, "setsockopt", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)));
	ok &= worked(why, len, "bind(port 0)", bind(fd, (struct sockaddr *)&sin, sizeof(sin)));
	ok &= worked(why, len, "listen", listen(fd, 1));
	ok &= worked(why, len, "getsockname", getsockname(fd, (struct sockaddr *)&sin, &sl));
	errno = 0;
	if (accept4(fd, NULL, NULL, SOCK_NONBLOCK) >= 0 || errno != EAGAIN)
		ok &= worked(why, len, "accept4 (want EAGAIN)", -1);
	fl = fcntl(fd, F_GETFL);
	ok &= worked(why, len, "fcntl(F_GETFL)", fl);
	ok &= worked(why, len, "fcntl(F_SETFL)", fcntl(fd, F_SETFL, fl | O_NONBLOCK));
	ok &= worked(why, len, "fcntl(F_SETFD)", fcntl(fd, F_SETFD, FD_CLOEXEC));
	ok &= worked(why, len, "ppoll", ppoll(&(struct pollfd){fd, POLLIN, 0}, 1, &(struct timespec){0, 0}, NULL));
	ok &= worked(why, len, "poll", poll(&(struct pollfd){fd, POLLIN, 0}, 1, 0));
	ok &= worked(why, len, "close", close(fd));
	ok &= worked(why, len, "clock_gettime", clock_gettime(CLOCK_MONOTONIC, &ts));
	ok &= worked(why, len, "getrandom", getrandom(rnd, sizeof(rnd), GRND_NONBLOCK));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	ok &= worked(why, len, "sigaction", sigaction(SIGPIPE, &sa, NULL));
	sigemptyset(&set);
	ok &= worked(why, len, "sigprocmask", sigprocmask(SIG_BLOCK, &set, NULL));
	big = malloc(8 * 1024 * 1024);
	ok &= worked(why, len, "malloc(8 MiB)", big ? 0 : -1);
	if (big)
		memset(big, 1, 8 * 1024 * 1024);
	free(big);
	ok &= worked(why, len, "getpid", getpid());
	return ok;
}

START_TEST(session_calls)
{
	run_held(probe_session_calls, NULL, NULL, "the calls a session makes");
}
END_TEST

/* abort() must still end the process with SIGABRT (a visible crash). */
static bool probe_abort(char *why, size_t len, void *arg)
{
	(void)arg;
	(void)snprintf(why, len, "abort() returned");
	abort();
}

START_TEST(abort_is_sigabrt)
{
	struct outcome o = run_locked(probe_abort, NULL, NULL);

	ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT,
		      "abort() under the filter: child status 0x%x", (unsigned)o.status);
}
END_TEST

/* /proc seen from outside: chrooted, nobody, no_new_privs, seccomp filter;
 * and a second lockdown in the same process is refused. */
START_TEST(proc_view)
{
	int rep[2], go[2];
	char buf[4096], root[PATH_MAX], want[PATH_MAX];
	struct passwd *pw = getpwnam("nobody");
	FILE *f;
	ssize_t n;
	pid_t pid;
	int status;

	ck_assert_ptr_nonnull(pw);
	ck_assert_int_eq(pipe(rep), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		ssize_t w;

		close(rep[0]);
		close(go[1]);
		if (fg_privs_drop(&T.privs) < 0)
			_exit(NO_LOCKDOWN);
		w = write(rep[1], fg_privs_drop(&T.privs) < 0 ? "r" : "x", 1);
		(void)w;
		_exit(read(go[0], &c, 1) == 0 ? EXPECTED : 1);
	}
	close(rep[1]);
	close(go[0]);
	read_report(rep[0], buf, 2);
	ck_assert_msg(buf[0] == 'r', "the lockdown failed, or a second one was not refused (%s)", buf);
	(void)snprintf(buf, sizeof(buf), "/proc/%d/root", (int)pid);
	n = readlink(buf, root, sizeof(root) - 1);
	ck_assert_int_gt(n, 0);
	root[n] = '\0';
	ck_assert_ptr_nonnull(realpath(T.root, want));
	ck_assert_str_eq(root, want);
	(void)snprintf(buf, sizeof(buf), "/proc/%d/status", (int)pid);
	f = fopen(buf, "r");
	ck_assert_ptr_nonnull(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "\nSeccomp:\t2\n"), "no 'Seccomp: 2' in %s", buf);
	ck_assert_msg(strstr(buf, "\nNoNewPrivs:\t1\n"), "no 'NoNewPrivs: 1'");
	(void)snprintf(want, sizeof(want), "\nUid:\t%u\t%u\t%u\t%u\n", (unsigned)pw->pw_uid,
		       (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	ck_assert_msg(strstr(buf, want), "not nobody: %s", buf);
	(void)snprintf(want, sizeof(want), "\nGroups:\t%u \n", (unsigned)pw->pw_gid);
	ck_assert_msg(strstr(buf, want), "supplementary groups are not just nobody's group");
	close(go[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == EXPECTED, "child status 0x%x",
		      (unsigned)status);
	close(rep[0]);
}
END_TEST

/* ---- the chroot directory at start (master side) ------------------------- */

/* fg_privs_sandbox() with its messages caught: returns its result and
 * asserts that the message (if any) contains want. */
static int prepare(struct fg_privs *p, bool on, const char *dir, const char *want)
{
	char *msg = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&msg, &len);
	int r;

	ck_assert_ptr_nonnull(err);
	r = fg_privs_sandbox(p, on, dir, err);
	fclose(err);
	if (want)
		ck_assert_msg(strstr(msg, want), "message %s lacks %s", msg, want);
	else
		ck_assert_msg(len == 0, "unexpected message %s", msg);
	free(msg);
	return r;
}

START_TEST(chroot_dir_checks)
{
	struct fg_privs p = T.privs;
	char dir[160], file[200];
	struct stat st;

	/* Missing: created, 0755, root's; parents too. */
	(void)snprintf(dir, sizeof(dir), "%s/new/empty", T.base);
	ck_assert_int_eq(prepare(&p, true, dir, NULL), 0);
	ck_assert(p.sandbox && p.chroot);
	ck_assert_str_eq(p.chroot_dir, dir);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	ck_assert_uint_eq(st.st_uid, 0);
	/* Not empty: refused. */
	(void)snprintf(file, sizeof(file), "%s/x", dir);
	ck_assert_int_eq(mkdir(file, 0700), 0);
	ck_assert_int_eq(prepare(&p, true, dir, "must be empty, but holds 'x'"), -1);
	ck_assert_int_eq(rmdir(file), 0);
	/* Writable by group or others: refused. */
	ck_assert_int_eq(chmod(dir, 0775), 0);
	ck_assert_int_eq(prepare(&p, true, dir, "mode 0775"), -1);
	ck_assert_int_eq(chmod(dir, 0757), 0);
	ck_assert_int_eq(prepare(&p, true, dir, "mode 0757"), -1);
	/* Not owned by root: refused. */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chown(dir, T.privs.uid, T.privs.gid), 0);
	ck_assert_int_eq(prepare(&p, true, dir, "must be owned by root"), -1);
	ck_assert_int_eq(chown(dir, 0, 0), 0);
	ck_assert_int_eq(prepare(&p, true, dir, NULL), 0);
	/* A file, not a directory: refused. */
	(void)snprintf(file, sizeof(file), "%s/f", T.base);
	close(open(file, O_WRONLY | O_CREAT | O_EXCL, 0600));
	ck_assert_int_eq(prepare(&p, true, file, "Not a directory"), -1);
	ck_assert_int_eq(unlink(file), 0);
	/* Relative: refused.  Off: no chroot, no filter, no directory needed. */
	ck_assert_int_eq(prepare(&p, true, "relative/dir", "absolute"), -1);
	ck_assert_int_eq(prepare(&p, false, "/nonexistent/x", NULL), 0);
	ck_assert(!p.sandbox && !p.chroot);
	ck_assert_int_eq(rmdir(dir), 0);
	(void)snprintf(dir, sizeof(dir), "%s/new", T.base);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- configuration keys (no root needed) ---------------------------------- */

#define LISTENER "[listener l]\nlisten = 127.0.0.1:2121\nbackend = b\n[backend b]\nservers = 127.0.0.1:21\n"

START_TEST(config_keys)
{
	static struct fg_config cfg;
	char *out;

	ck_assert_int_eq(unit_load_config(&cfg, LISTENER, &out), 0);
	free(out);
	ck_assert(cfg.sandbox);
	ck_assert_str_eq(cfg.chroot_dir, FG_CHROOT_DIR);

	ck_assert_int_eq(unit_load_config(&cfg, "[global]\nsandbox = off\nchroot_dir = /var/empty/ftpgate\n" LISTENER,
					  &out), 0);
	free(out);
	ck_assert(!cfg.sandbox);
	ck_assert_str_eq(cfg.chroot_dir, "/var/empty/ftpgate");

	ck_assert_int_eq(unit_load_config(&cfg, "[global]\nsandbox = maybe\n" LISTENER, &out), 1);
	ck_assert_msg(strstr(out, "t.conf:2: bad value 'maybe' for sandbox"), "%s", out);
	free(out);
	ck_assert_int_eq(unit_load_config(&cfg, "[global]\n\nchroot_dir = var/empty\n" LISTENER, &out), 1);
	ck_assert_msg(strstr(out, "t.conf:3: chroot_dir: want an absolute path"), "%s", out);
	free(out);
	ck_assert_int_eq(unit_load_config(&cfg, "[global]\nchroot_dir =\n" LISTENER, &out), 1);
	ck_assert_msg(strstr(out, "t.conf:2: chroot_dir: empty path"), "%s", out);
	free(out);
}
END_TEST

/* The suite: configuration always; the lockdown only as root. */
static Suite *sandbox_suite(bool root)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, config_keys);
	suite_add_tcase(s, tc);
	if (!root)
		return s;
	tc = tcase_create("lockdown");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, open_etc_passwd);
	tcase_add_test(tc, create_in_cwd);
	tcase_add_test(tc, dirfd_escape);
	tcase_add_test(tc, bind_low_port);
	tcase_add_test(tc, execve_true);
	tcase_add_test(tc, fork_refused);
	tcase_add_test(tc, other_doors);
#if defined(__x86_64__)
	tcase_add_test(tc, foreign_abi_killed);
#endif
	tcase_add_test(tc, connect_loopback);
	tcase_add_test(tc, pipe_splice);
	tcase_add_test(tc, session_calls);
	tcase_add_test(tc, abort_is_sigabrt);
	tcase_add_test(tc, proc_view);
	tcase_add_test(tc, chroot_dir_checks);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; 77 (SKIP) when not root and nothing failed. */
int main(void)
{
	bool root = geteuid() == 0;
	SRunner *sr = srunner_create(sandbox_suite(root));
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		return EXIT_FAILURE;
	if (!root) {
		printf("check_sandbox: not root: the lockdown tests need root; SKIP\n");
		return 77;
	}
	return EXIT_SUCCESS;
}
