/* limits.h - every size and count limit of ftpgate in one place.
 *
 * Network bytes enter through capped readers; the caps live here so that a
 * reviewer can see at a glance how much an attacker can make us hold. */
/* This file shadows the system <limits.h> for code in src/ (and GCC's own
 * limits.h reaches it through #include_next): pass that chain on, so the
 * system's limits stay defined whoever includes which. */
#include_next <limits.h>

#ifndef FG_LIMITS_H
#define FG_LIMITS_H

/* Client command line, including the terminating CRLF (RFC 959 has no limit;
 * vsftpd uses 4 KiB).  Longer lines get "500" and are discarded whole. */
#define FG_MAX_CMD_LINE 4096

/* Verb length: the longest real verb is 4 letters; we allow some slack. */
#define FG_MAX_VERB 16

/* One line of a backend reply, including CRLF. */
#define FG_MAX_REPLY_LINE 8192

/* A whole (multi-line) backend reply.  STAT of a big directory goes over the
 * control channel, so this is generous; an endless reply is cut here. */
#define FG_MAX_REPLY_BYTES (256 * 1024)

/* Number of lines of one multi-line reply. */
#define FG_MAX_REPLY_LINES 8192

/* Client lines read ahead while a command is in progress (pipelining). */
#define FG_MAX_PIPELINED 32

/* Control-channel buffers (bytes). */
#define FG_CTRL_INBUF (16 * 1024)
#define FG_CTRL_OUTBUF (FG_MAX_REPLY_BYTES + 4096)

/* Data relay: the copy buffer of a plain transfer, the buffer of a TLS
 * transfer, and the pipe size requested with F_SETPIPE_SZ for data_relay =
 * splice (the kernel may give less).  The copy buffer is big because one
 * read(2) then takes in what a fast sender queued: 4 MiB cut RETR CPU by
 * about a quarter against 1 MiB, and 256 KiB raised it by half
 * (doc/PERFORMANCE.md).  Only the pages a transfer fills become resident:
 * a slow client's transfer never fills more than its socket held. */
#define FG_COPY_BUF (4 * 1024 * 1024)
#define FG_TLS_BUF (1024 * 1024)
#define FG_PIPE_SIZE (1024 * 1024)

/* A fast sender (one read of at least FG_BATCH_TRIGGER bytes) gets its
 * data-socket SO_RCVLOWAT raised to FG_BATCH_LOWAT so that each wakeup
 * moves a big batch; a flush tick every FG_BATCH_TICK_MS moves what is
 * below the mark, which bounds the added latency. */
#define FG_BATCH_TRIGGER (64 * 1024)
#define FG_BATCH_LOWAT (256 * 1024)
#define FG_BATCH_TICK_MS 100

/* How long a backend TLS data connection cut during its handshake may
 * finish that handshake before it is closed (ftp/data.c). */
#define FG_TLS_LINGER_MS 5000

/* Listeners, addresses and servers in a configuration. */
#define FG_MAX_LISTENERS 64
#define FG_MAX_BACKENDS 64
#define FG_MAX_ADDRS 16
#define FG_MAX_NAME 64
#define FG_MAX_PATH 1024
#define FG_MAX_BANNER 512

/* Configuration file: whole file and one line (without the newline).  The
 * file is read into memory once; a longer file or line is an error, never
 * silently cut. */
#define FG_MAX_CONFIG_BYTES (1024 * 1024)
#define FG_MAX_CONFIG_LINE 4096

/* Length of the printable session id. */
#define FG_SESSION_ID_LEN 12

/* Command policy (src/policy.c): commands in allow_commands/deny_commands
 * of one listener, deny_arguments rules per listener, verbs named by one
 * rule.  Each rule is matched with these PCRE2 limits, so that no pattern
 * (however badly written) can make a 4 KiB argument cost more than about
 * 10 ms of CPU (measured: a catastrophic `^(a|aa)*$`) or more than
 * FG_REGEX_HEAP_KIB of memory; a match that hits a limit counts as a
 * match (the argument is refused). */
#define FG_MAX_POLICY_VERBS 64
#define FG_MAX_POLICY_RULES 32
#define FG_MAX_RULE_VERBS 16
#define FG_REGEX_MATCH_LIMIT 100000
#define FG_REGEX_DEPTH_LIMIT 10000
#define FG_REGEX_HEAP_KIB 8192

/* One xferlog line, written with one write(2): at most PIPE_BUF bytes, so
 * that O_APPEND writes of concurrent sessions never interleave. */
#define FG_XFERLOG_LINE 4096
/* Scoreboard (src/scoreboard.h): slots beyond max_sessions + spare_sessions,
 * for processes that have ended but are not reaped yet; and the room for
 * the escaped user name a session shows there. */
#define FG_SB_EXTRA_SLOTS 64
#define FG_SB_USER 100

/* Per-address table of the master (src/admit.c): it holds at most one
 * entry per scoreboard slot plus this many, and evicts the least recently
 * seen address without sessions when full, so that an attacker with many
 * addresses cannot make the master grow. */
#define FG_ADDR_SPARE 4096

/* Status socket (src/status.h): clients served at once, and the time one
 * may take to read its dump. */
#define FG_STATUS_CLIENTS 4
#define FG_STATUS_TIMEOUT_MS 10000

#endif
