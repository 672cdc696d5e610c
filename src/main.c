/* main.c - command line and startup mode (daemon, foreground, inetd,
 * systemd socket activation). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "privsep.h"
#include "session.h"
#include "status.h"
#include "xferlog.h"
#include "banned.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ftpgate [OPTIONS]\n"
		"FTP/FTPS gateway: a protocol-aware reverse proxy for the network edge.\n\n"
		"  -f, --config FILE    configuration file (default %s/ftpgate/ftpgate.conf)\n"
		"  -n, --foreground     stay in the foreground; log to stderr as well as syslog\n"
		"  -t, --check-config   check the configuration, print FILE:LINE: message per error\n"
		"  -i, --inetd          serve one session on stdin/stdout (inetd, systemd Accept=yes)\n"
		"  -s, --status         print the sessions of the running ftpgate (status_socket)\n"
		"  -d, --debug          log debug lines (protocol traces, never passwords)\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n\n"
		"See ftpgate(8) and ftpgate.conf(5).\n",
		SYSCONFDIR);
}

/* Detach from the terminal: fork, new session, stdio to /dev/null. */
static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	if (chdir("/") < 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	return 0;
}

/* The configuration path as SIGHUP will need it: daemonize() moves to
 * "/", so a relative path gets the current directory in front (symlinks
 * are kept, so that a reload follows a link that was re-pointed).
 * Returns 0, or -1 if it does not fit in out. */
static int absolute_path(const char *path, char *out, size_t len)
{
	char cwd[FG_MAX_PATH];
	int n;

	if (path[0] == '/')
		n = snprintf(out, len, "%s", path);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, len, "%s/%s", cwd, path);
	else
		return -1;
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'f'},
		{"foreground", no_argument, NULL, 'n'},
		{"check-config", no_argument, NULL, 't'},
		{"inetd", no_argument, NULL, 'i'},
		{"status", no_argument, NULL, 's'},
		{"debug", no_argument, NULL, 'd'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = SYSCONFDIR "/ftpgate/ftpgate.conf";
	bool foreground = false, check = false, inetd = false, debug = false, status = false;
	struct fg_master_opts mopts;
	struct fg_config *cfg;
	struct fg_privs privs;
	char abspath[FG_MAX_PATH];
	int c, nerr;

	while ((c = getopt_long(argc, argv, "f:ntisdVh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': path = optarg; break;
		case 'n': foreground = true; break;
		case 't': check = true; break;
		case 'i': inetd = true; break;
		case 's': status = true; break;
		case 'd': debug = true; break;
		case 'V': printf("ftpgate %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ftpgate: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 1;
	}

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "ftpgate: out of memory\n");
		return 1;
	}
	nerr = fg_master_config_load(cfg, path, stderr);
	if (check || nerr) {
		if (check && nerr == 0)
			printf("%s: configuration OK\n", path);
		fg_master_config_release(cfg);
		free(cfg);
		return nerr ? 1 : 0;
	}
	if (status) {
		/* Ask the running master; needs no privileges of its own beyond
		 * access to the socket (root, mode 0600). */
		if (!cfg->status_socket[0]) {
			fprintf(stderr, "ftpgate: %s: status_socket is empty: no status socket\n", path);
			nerr = 1;
		} else {
			nerr = fg_status_query(cfg->status_socket, stdout, stderr);
		}
		fg_master_config_release(cfg);
		free(cfg);
		return nerr;
	}
	if (fg_privs_lookup(cfg->user, &privs, stderr) < 0 ||
	    fg_privs_sandbox(&privs, cfg->sandbox, cfg->chroot_dir, stderr) < 0) {
		fg_master_config_release(cfg);
		free(cfg);
		return 1;
	}
	/* Opened here, as root and before any fork: sessions inherit it. */
	if (fg_xferlog_open(cfg->xferlog) < 0) {
		fprintf(stderr, "ftpgate: xferlog %s: %s\n", cfg->xferlog, strerror(errno));
		fg_master_config_release(cfg);
		free(cfg);
		return 1;
	}

	if (inetd) {
		/* stdout and often stderr are the client socket: never write
		 * to stderr unless -n asked for it. */
		if (!foreground) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0) {
				dup2(fd, 2);
				close(fd);
			}
		}
		fg_log_open("ftpgate", cfg->syslog_facility, foreground, debug || cfg->debug);
		fg_privs_log_mode(&privs);
		if (fg_privs_drop(&privs) < 0)
			return 1;
		fg_session_run(cfg, &cfg->listeners[0], 0);
	}

	fg_log_open("ftpgate", cfg->syslog_facility, foreground, debug || cfg->debug);
	fg_privs_log_mode(&privs);
	if (absolute_path(path, abspath, sizeof(abspath)) < 0) {
		fg_log(LOG_ERR, "%s: cannot make the path absolute (needed for reload)", path);
		fg_master_config_release(cfg);
		free(cfg);
		return 1;
	}
	/* Before the first fork: no session process inherits NOTIFY_SOCKET. */
	fg_notify_init();
	if (fg_master_listen(cfg) < 0) {
		fg_master_config_release(cfg);
		free(cfg);
		return 1;
	}
	if (!foreground && daemonize() < 0) {
		fg_log(LOG_ERR, "cannot daemonize: %s", strerror(errno));
		fg_master_config_release(cfg);
		free(cfg);
		return 1;
	}
	mopts.config_path = abspath;
	mopts.log_stderr = foreground;
	mopts.debug = debug;
	/* fg_master_run() owns cfg from here on (a reload replaces it). */
	return fg_master_run(cfg, &privs, &mopts) < 0 ? 1 : 0;
}
