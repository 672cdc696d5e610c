/* master.h - the master process: listeners and the session pool. */
#ifndef FG_MASTER_H
#define FG_MASTER_H
#include "config.h"
#include "privsep.h"

/* Bind every listen address of cfg (or take the matching sockets passed
 * by systemd socket activation).  Returns 0, or -1 after logging why. */
int fg_master_listen(const struct fg_config *cfg);

/* Run the pool until SIGTERM/SIGINT (then drain and exit(0)).
 * Returns -1 only on a fatal error. */
int fg_master_run(const struct fg_config *cfg, const struct fg_privs *privs);

#endif
