/* seccomp.h - the seccomp-BPF allow-list of a session process.
 *
 * A session process needs sockets, pipes, memory, signals and clocks;
 * nothing else.  The filter allows exactly those system calls (some only
 * with harmless arguments), answers every other one with EPERM, and kills
 * the process outright when a system call arrives through a foreign ABI
 * (i386 int 0x80, x32), which only an exploit would use.  The list and why
 * each entry is there: doc/SECURITY.md. */
#ifndef FG_SECCOMP_H
#define FG_SECCOMP_H
#include <stdbool.h>

/* True when this build has a filter for the machine it runs on (x86_64
 * and aarch64).  Elsewhere sandbox = on cannot be honoured. */
bool fg_seccomp_supported(void);

/* Install the filter in the calling process, which must be single-threaded
 * and have no_new_privs set (or CAP_SYS_ADMIN).  Irreversible; children
 * and threads inherit it.  Returns 0, or -1 with errno set. */
int fg_seccomp_install(void);

#endif
