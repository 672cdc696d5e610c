/* admit.h - admission in the master: per-address limits, rate, bans.
 *
 * The master decides about each new connection before it hands it to a
 * session process, without reading a byte from it:
 *   - a banned address gets "421 Your address is temporarily banned.";
 *   - an address with max_sessions_per_ip sessions gets "421 Too many
 *     sessions from your address.";
 *   - an address over max_connections_per_minute gets "421 Too many
 *     connections from your address, try again later.".
 * The rate is a token bucket per address (GCRA): a burst of up to N
 * connections, then one more every 60/N seconds; refused connections cost
 * nothing.  Login failures (530 to PASS) come from the sessions through
 * the scoreboard and are charged to the address the master accepted; after
 * ban_after of them within ban_window seconds (counted from the first),
 * the address is banned for ban_time seconds.  Sessions already running
 * are not cut; the backend's own attempt limit applies to them.
 *
 * Every decision is logged for fail2ban and friends, e.g.
 *   event=ban client=192.0.2.7 failures=5 seconds=600
 *   event=refused client=192.0.2.7 reason="banned"
 *   event=unban client=192.0.2.7
 * (refusals of one address are logged at most once a second; the next
 * line says how many were not: suppressed=N).
 *
 * The per-address table is fixed in size (one entry per scoreboard slot
 * plus FG_ADDR_SPARE): addresses with sessions stay, and when it is full
 * the address seen least recently is forgotten, so many addresses cannot
 * make the master grow.  IPv4 and IPv6 addresses count one by one. */
#ifndef FG_ADMIT_H
#define FG_ADMIT_H
#include <stdint.h>
#include <sys/types.h>
#include "config.h"

/* Create the table for the scoreboard's slots (fg_sb_create() first).
 * Returns 0, or -1 after logging. */
int fg_admit_init(void);

/* In a session process: drop the table (it holds other clients' addresses). */
void fg_admit_child(void);

/* Decide about a connection from peer (unmapped) at now (fg_now_ms()).
 * Returns NULL to admit it, or the full reply line (CRLF included) to
 * refuse it with; the refusal is logged. */
const char *fg_admit_check(const struct fg_config *cfg, const struct fg_sockaddr *peer,
			   uint64_t now);

/* A session process was forked for scoreboard slot (-1: none). */
void fg_admit_spawned(int slot, pid_t pid);

/* The connection from peer (peer_text: ADDR:PORT) was handed to the
 * process of slot, for listener. */
void fg_admit_opened(int slot, const struct fg_sockaddr *peer, const char *peer_text,
		     const char *listener, uint64_t now);

/* The process of slot was reaped: count its last login failures, drop its
 * session from its address, free the slot. */
void fg_admit_reaped(const struct fg_config *cfg, int slot, uint64_t now);

/* Once per round of the master loop: count new login failures (one load
 * when there are none) and lift bans that have expired. */
void fg_admit_tick(const struct fg_config *cfg, uint64_t now);

struct fg_admit_stats {
	unsigned tracked;   /* addresses in the table */
	unsigned capacity;
	unsigned banned;
};
void fg_admit_stats(struct fg_admit_stats *st);

/* Call fn for each address banned at now, with the failures that led to
 * the ban and the milliseconds left. */
void fg_admit_each_ban(uint64_t now, void (*fn)(void *arg, const char *addr, unsigned failures,
						uint64_t left_ms),
		       void *arg);

#endif
