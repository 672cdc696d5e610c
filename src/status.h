/* status.h - what the gateway is doing right now.
 *
 * Two ways to ask, both read the scoreboard and the master's own records:
 *   - SIGUSR1 to the master logs one line per live session and a summary:
 *       event=status id=ID pid=N client=ADDR:PORT user="NAME" listener=L
 *         backend=ADDR:PORT state=CTRL/DATA bytes_up=N bytes_down=N
 *         age=SECONDS login_failures=N
 *       event=status_ban client=ADDR failures=N seconds_left=N   (per ban)
 *       event=status_summary sessions=N idle=N max_sessions=N banned=N
 *         addresses=N
 *   - `ftpgate -s` connects to the status socket (status_socket, a unix
 *     socket the master creates with mode 0600) and prints the same as a
 *     table.  The master writes the dump without reading anything from the
 *     socket and closes it; a reader that does not take it within
 *     FG_STATUS_TIMEOUT_MS is dropped, so the master never blocks.
 * Client, listener and age come from the master's records; the rest from
 * the session's slot, sanitized. */
#ifndef FG_STATUS_H
#define FG_STATUS_H
#include <stdio.h>
#include "config.h"
#include "event.h"

/* Create the status socket of *cfgp (if status_socket is set) and serve it
 * from loop; *cfgp is read each time (it may change on reload).  Failing
 * to create it is logged, not fatal: the gateway serves without it. */
void fg_status_start(const struct fg_config *const *cfgp, struct fg_loop *loop);

/* The master stops: remove the socket file it created. */
void fg_status_stop(void);

/* In a session process: close the status sockets, wipe the buffers. */
void fg_status_child(void);

/* SIGUSR1: log the dump. */
void fg_status_log(const struct fg_config *cfg);

/* `ftpgate -s`: print the dump from the status socket at path to out.
 * Errors go to err.  Returns the exit status (0, or 1). */
int fg_status_query(const char *path, FILE *out, FILE *err);

#endif
