/* master.h - the master process: listeners and the session pool. */
#ifndef FG_MASTER_H
#define FG_MASTER_H
#include <stdbool.h>
#include <stdio.h>
#include "config.h"
#include "privsep.h"

/* Open the listen sockets of cfg.  Sockets passed by systemd socket
 * activation (LISTEN_PID/LISTEN_FDS) are taken first: one whose
 * LISTEN_FDNAMES name is a listener's name serves that listener (and its
 * listen addresses are then not bound), the others serve the listen
 * address they are bound to; the remaining addresses are bound here.
 * Inherited sockets that match nothing stay open, unused.  Returns 0, or
 * -1 after logging why. */
int fg_master_listen(const struct fg_config *cfg);

/* Load path into cfg and build its TLS contexts (reading key and CA
 * files): what start, -t and reload all do.  Errors go to errs as
 * "FILE:LINE: message"; returns their number (0: cfg is complete). */
int fg_master_config_load(struct fg_config *cfg, const char *path, FILE *errs);

/* Release what fg_master_config_load() built (TLS contexts included). */
void fg_master_config_release(struct fg_config *cfg);

/* What the master needs from the command line to reload and re-open the
 * log with the same settings. */
struct fg_master_opts {
	const char *config_path; /* re-read on SIGHUP */
	bool log_stderr;         /* -n */
	bool debug;              /* -d (a reload cannot turn it off) */
};

/* Run the pool until SIGTERM/SIGINT (then drain and exit(0)); SIGHUP
 * reloads opts->config_path.  Tells systemd READY=1 once it serves (see
 * notify.h).  Takes ownership of cfg (from malloc), which it frees when a
 * reload replaces it.  Returns -1 only on a fatal error. */
int fg_master_run(struct fg_config *cfg, const struct fg_privs *privs,
		  const struct fg_master_opts *opts);

#endif
