/* seccomp.c - the seccomp-BPF allow-list of a session process (see
 * seccomp.h; the reasons for each entry are in doc/SECURITY.md).
 *
 * The program is written by hand, without libseccomp: it is one linear
 * list of rules, each "if nr == X then (check arguments and) return",
 * ending in "return EPERM".  It is assembled at run time because one rule
 * (tgkill to ourselves, so that abort() still works) needs our own pid. */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include "banned.h"

#if defined(__x86_64__) && !defined(__ILP32__)
#define FG_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__) && defined(__LP64__)
#define FG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* See seccomp.h. */
bool fg_seccomp_supported(void)
{
#ifdef FG_AUDIT_ARCH
	return true;
#else
	return false;
#endif
}

#ifdef FG_AUDIT_ARCH

/* Room for the whole program; assembling more is a bug (caught below). */
#define MAX_INSNS 160

/* What the filter answers to a system call that is not on the list.  An
 * errno, not a kill: code that probes a call (glibc, the sanitizer
 * runtimes) gets a clean failure, and the call still does nothing. */
#define RET_DENY (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

/* Offset of the low 32 bits of argument i in struct seccomp_data.  Every
 * argument we test is an int, an unsigned int or a bit in the low word
 * (mmap's prot), so the low word is what the kernel itself looks at. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#endif

struct prog {
	struct sock_filter f[MAX_INSNS];
	unsigned n;
	bool bad;      /* too long, or a jump too far: never install it */
};

/* Append one instruction. */
static void emit(struct prog *p, uint16_t code, uint32_t k, unsigned jt, unsigned jf)
{
	if (p->n >= MAX_INSNS || jt > 255 || jf > 255) {
		p->bad = true;
		return;
	}
	p->f[p->n].code = code;
	p->f[p->n].jt = (uint8_t)jt;
	p->f[p->n].jf = (uint8_t)jf;
	p->f[p->n].k = k;
	p->n++;
}

/* Start the rule for system call nr: what follows up to rule_end() runs
 * only for nr and must end in a return on every path.  The accumulator
 * holds the syscall number at every rule start.  Returns a handle for
 * rule_end(). */
static unsigned rule_begin(struct prog *p, long nr)
{
	unsigned at = p->n;

	emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 0);
	return at;
}

/* Close the rule begun at `at`: other syscalls jump past it. */
static void rule_end(struct prog *p, unsigned at)
{
	unsigned skip = p->n - at - 1;

	if (p->bad || skip > 255) {
		p->bad = true;
		return;
	}
	p->f[at].jf = (uint8_t)skip;
}

/* Allow nr whatever its arguments. */
static void allow(struct prog *p, long nr)
{
	unsigned at = rule_begin(p, nr);

	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	rule_end(p, at);
}

/* Allow nr when argument arg (its low word) is one of vals[0..n-1]. */
static void allow_arg_in(struct prog *p, long nr, unsigned arg, const uint32_t *vals, unsigned n)
{
	unsigned at = rule_begin(p, nr), i;

	emit(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)ARG_LO(arg), 0, 0);
	for (i = 0; i < n; i++)
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, vals[i], n - i, 0);
	emit(p, BPF_RET | BPF_K, RET_DENY, 0, 0);
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	rule_end(p, at);
}

/* Allow nr when none of the bits in mask is set in argument arg. */
static void allow_arg_clear(struct prog *p, long nr, unsigned arg, uint32_t mask)
{
	unsigned at = rule_begin(p, nr);

	emit(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)ARG_LO(arg), 0, 0);
	emit(p, BPF_JMP | BPF_JSET | BPF_K, mask, 0, 1);
	emit(p, BPF_RET | BPF_K, RET_DENY, 0, 0);
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	rule_end(p, at);
}

/* Allow nr when argument a0 is v0 and argument a1 is v1. */
static void allow_args_eq(struct prog *p, long nr, unsigned a0, uint32_t v0, unsigned a1, uint32_t v1)
{
	unsigned at = rule_begin(p, nr);

	emit(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)ARG_LO(a0), 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, v0, 0, 2);
	emit(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)ARG_LO(a1), 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, v1, 1, 0);
	emit(p, BPF_RET | BPF_K, RET_DENY, 0, 0);
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	rule_end(p, at);
}

/* Assemble the whole program into p.  The order puts the calls of the data
 * path first: a rule costs a compare for every call that passes it. */
static void build(struct prog *p)
{
	static const uint32_t inet[] = { AF_INET, AF_INET6 };
	static const uint32_t fionread[] = { FIONREAD };
	static const uint32_t fcntl_cmds[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD,
					       F_GETPIPE_SZ, F_SETPIPE_SZ };
	uint32_t me = (uint32_t)getpid();

	p->n = 0;
	p->bad = false;
	/* A call through another ABI has other numbers: never match it
	 * against this list. */
	emit(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, FG_AUDIT_ARCH, 1, 0);
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	emit(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
#ifdef __x86_64__
	/* x32 calls share AUDIT_ARCH_X86_64 but set this bit. */
	emit(p, BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
#endif

	/* Data and control path: the poll loop, both relays, replies. */
	allow(p, __NR_splice);
	allow(p, __NR_ppoll);
	allow(p, __NR_read);
	allow(p, __NR_write);
	allow(p, __NR_sendto);
	allow(p, __NR_recvfrom);
	allow(p, __NR_clock_gettime);
	allow(p, __NR_setsockopt);
	allow(p, __NR_getsockopt);
	allow(p, __NR_close);
	/* Only the commands we use.  Not F_SETOWN/F_SETSIG: with O_ASYNC they
	 * let a process signal (even SIGKILL) any process of the same user,
	 * that is every other session. */
	allow_arg_in(p, __NR_fcntl, 1, fcntl_cmds, sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]));
#ifdef __NR_poll
	allow(p, __NR_poll);
#endif
	allow(p, __NR_readv);
	allow(p, __NR_writev);
	/* recvmsg: the client socket arrives from the master.  No sendmsg:
	 * nothing here sends ancillary data, and without it a session cannot
	 * pass a descriptor on to anyone. */
	allow(p, __NR_recvmsg);

	/* Connections: backend and data legs, passive listeners, PORT dials.
	 * New sockets are IPv4/IPv6 only: no AF_UNIX (reaching local daemons),
	 * AF_NETLINK or AF_PACKET. */
	allow_arg_in(p, __NR_socket, 0, inet, 2);
	allow(p, __NR_connect);
	allow(p, __NR_bind);
	allow(p, __NR_listen);
	allow(p, __NR_accept4);
	allow(p, __NR_getsockname);
	allow(p, __NR_getpeername);
	allow(p, __NR_shutdown);
	allow(p, __NR_pipe2);
	allow_arg_in(p, __NR_ioctl, 1, fionread, 1);

	/* Memory: malloc and the copy relay's buffer.  Never executable:
	 * injected code cannot be made runnable. */
	allow(p, __NR_brk);
	allow_arg_clear(p, __NR_mmap, 2, PROT_EXEC);
	allow_arg_clear(p, __NR_mprotect, 2, PROT_EXEC);
	allow(p, __NR_munmap);
	allow(p, __NR_mremap);
	allow(p, __NR_madvise);

	/* Time, randomness, signals, identity, the end. */
	allow(p, __NR_gettimeofday);
#ifdef __NR_time
	allow(p, __NR_time);
#endif
	allow(p, __NR_getrandom);
	allow(p, __NR_rt_sigaction);
	allow(p, __NR_rt_sigprocmask);
	allow(p, __NR_rt_sigreturn);
	allow(p, __NR_restart_syscall);
	allow(p, __NR_getpid);
	allow(p, __NR_gettid);
	/* abort() (assert, stack protector, fortify) signals itself with
	 * tgkill(getpid(), gettid()): let it, so that such a crash is a
	 * visible SIGABRT, but to no other process or thread. */
	allow_args_eq(p, __NR_tgkill, 0, me, 1, (uint32_t)gettid());
	allow(p, __NR_exit);
	allow(p, __NR_exit_group);
#ifdef __SANITIZE_ADDRESS__
	/* AddressSanitizer asks where the signal stack is before every
	 * noreturn call (_exit included) and dies if it cannot. */
	allow(p, __NR_sigaltstack);
#endif

	emit(p, BPF_RET | BPF_K, RET_DENY, 0, 0);
}

/* See seccomp.h: build the program, refuse a malformed one, install it. */
int fg_seccomp_install(void)
{
	static struct prog p;
	struct sock_fprog fp;

	build(&p);
	if (p.bad) {
		errno = E2BIG;
		return -1;
	}
	fp.len = (unsigned short)p.n;
	fp.filter = p.f;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0);
}

#else /* no filter for this machine */

/* See seccomp.h: nothing to install here. */
int fg_seccomp_install(void)
{
	errno = ENOSYS;
	return -1;
}

#endif
