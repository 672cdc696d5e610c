/* scoreboard.h - the shared table of session processes.
 *
 * The master creates one MAP_SHARED anonymous mapping before it forks any
 * session process: a header page and one page per slot, max_sessions +
 * spare_sessions + FG_SB_EXTRA_SLOTS slots.  Every session process gets a
 * slot when it is forked (it learns the index through fork) and keeps only
 * the header and its own slot mapped: a compromised session can neither
 * read nor forge another trading partner's slot, and there is no file and
 * no descriptor through which it could map them again.
 *
 * Ownership, so that no lock is needed: a session process writes its own
 * slot (plain stores framed by a sequence counter, which is odd while the
 * fields change); the master only reads slots, and clears a slot after it
 * has reaped the process.  Login failures are a separate counter that only
 * grows, plus a generation counter in the header that any session bumps,
 * so the master notices new failures with one load.
 *
 * Everything the master reads from a slot is untrusted: strings are cut
 * and sanitized on the way out (fg_sb_read()), and the address a failure
 * is charged to is the one the master itself accepted (struct fg_sb_rec),
 * never what the slot says. */
#ifndef FG_SCOREBOARD_H
#define FG_SCOREBOARD_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "config.h"
#include "limits.h"
#include "net.h"

struct fg_session;

/* One slot as the session writes it. */
struct fg_sb_slot {
	uint32_t seq;                     /* odd while the fields below change */
	uint32_t login_failures;          /* 530 replies to PASS/ACCT; only grows */
	int32_t pid;
	uint32_t unused;
	uint64_t start_ms;                /* fg_now_ms() when the session began */
	uint64_t bytes_up, bytes_down;    /* including a transfer in progress */
	char id[FG_SESSION_ID_LEN + 1];
	char client[FG_ADDRSTRLEN];
	char listener[FG_MAX_NAME];
	char user[FG_SB_USER];            /* escaped and quoted; "" before USER */
	char backend[FG_ADDRSTRLEN];      /* "" before the backend is dialled */
	char ctrl[16], data[16];          /* state names */
};

/* What the master knows of a slot from its own bookkeeping (trusted). */
struct fg_sb_rec {
	pid_t pid;                        /* 0: slot free */
	bool busy;                        /* a client was handed to it */
	uint64_t since_ms;                /* handover time */
	char client_text[FG_ADDRSTRLEN];  /* ADDR:PORT, as accepted */
	char listener[FG_MAX_NAME];
	uint32_t failures_seen;           /* login_failures already counted */
	uint32_t addr;                    /* admit.c's entry for client; 0: none */
};

/* ---- master ---- */

/* Create the table with n_slots slots.  Returns 0, or -1 after logging. */
int fg_sb_create(unsigned n_slots);

/* Number of slots (0 before fg_sb_create()). */
unsigned fg_sb_size(void);

/* A free slot for a process about to be forked, or -1 when all are taken. */
int fg_sb_claim(void);

/* The master's record of slot (NULL if slot is out of range). */
struct fg_sb_rec *fg_sb_rec(int slot);

/* The process of slot was reaped: clear the slot and make it free. */
void fg_sb_release(int slot);

/* The login failure counter of slot, and the header's failure generation
 * (changes whenever any session counts a failure). */
uint32_t fg_sb_failures(int slot);
uint32_t fg_sb_fail_gen(void);

/* A consistent copy of slot (retried while the session writes it; after a
 * few tries the last copy is taken), safe for a key=value log line: every
 * string NUL-terminated, fields other than user without space, quote,
 * backslash or non-printable byte ('?' instead), and user a well-formed
 * escaped, quoted string (or "" when not sent yet). */
void fg_sb_read(int slot, struct fg_sb_slot *out);

/* ---- session process ---- */

/* In a new session process, before privileges are dropped: keep only the
 * header and slot mapped (slot -1: none; the session runs without one) and
 * unmap the master's private records. */
void fg_sb_child(int slot);

/* Publish what changed in s (cheap when nothing did); called once per
 * round of the session loop.  A no-op without a slot (inetd mode). */
void fg_sb_update(const struct fg_session *s);

/* The backend answered the login command in progress with code: a 530 to
 * PASS or ACCT counts as one failed login for the master. */
void fg_sb_login(const struct fg_session *s, int code);

#endif
