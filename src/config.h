/* config.h - the validated configuration.
 *
 * fg_config_load() turns the INI file into this struct or into a list of
 * "FILE:LINE: message" errors.  Nothing else in ftpgate reads the file. */
#ifndef FG_CONFIG_H
#define FG_CONFIG_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include "limits.h"
#include "policy.h"

/* Default chroot_dir: an empty directory the master creates if missing. */
#ifndef FG_CHROOT_DIR
#define FG_CHROOT_DIR "/run/ftpgate/empty"
#endif

/* Default of [global] status_socket. */
#define FG_STATUS_SOCKET "/run/ftpgate/status.sock"

enum fg_tls_mode { FG_TLS_OFF = 0, FG_TLS_EXPLICIT, FG_TLS_REQUIRED, FG_TLS_IMPLICIT };

/* tls_client_cert = off | optional | required (same values as enum
 * fg_tls_client_cert in tls/tls.h). */
enum fg_cert_mode { FG_CERT_OFF = 0, FG_CERT_OPTIONAL, FG_CERT_REQUIRED };

/* TLS protocol versions as OpenSSL numbers them (TLS1_2_VERSION,
 * TLS1_3_VERSION); 0 in a config field means "the default". */
#define FG_TLS_V12 0x0303
#define FG_TLS_V13 0x0304

/* Longest cipher list (tls_ciphers, tls_ciphersuites) and host name
 * (tls_server_name). */
#define FG_MAX_CIPHERS 1024
#define FG_MAX_HOST 256

/* OpenSSL's SSL_CTX, built from the tls_* keys by fg_tls_config_build()
 * (tls/tls_config.c) in the master; config.c never touches it. */
struct ssl_ctx_st;

struct fg_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct fg_backend {
	char name[FG_MAX_NAME];
	struct fg_sockaddr servers[FG_MAX_ADDRS]; /* resolved at load time */
	unsigned n_servers;
	enum fg_tls_mode tls;   /* off | explicit | implicit */
	bool tls_verify;        /* default yes */
	char tls_ca[FG_MAX_PATH];           /* empty: the system CA bundle */
	char tls_cert[FG_MAX_PATH];         /* client certificate toward the backend; */
	char tls_key[FG_MAX_PATH];          /*  both or neither */
	char tls_server_name[FG_MAX_HOST];  /* SNI and the name verified; empty: the
					       address of each server (no SNI) */
	char tls_ciphers[FG_MAX_CIPHERS];   /* TLS <= 1.2; empty: ECDHE+AEAD default */
	char tls_ciphersuites[FG_MAX_CIPHERS]; /* TLS 1.3; empty: OpenSSL's default */
	int tls_min_version;                /* FG_TLS_V12 / FG_TLS_V13; 0: TLS 1.2 */
	int tls_max_version;                /* 0: the highest */
	struct ssl_ctx_st *tls_ctx;         /* built in the master; NULL when tls = off */
	int line;               /* line of the [backend NAME] header */
};

struct fg_listener {
	char name[FG_MAX_NAME];
	struct fg_sockaddr addrs[FG_MAX_ADDRS];  /* listen = ... */
	unsigned n_addrs;
	char backend_name[FG_MAX_NAME];
	const struct fg_backend *backend;        /* resolved after load */
	uint16_t passive_lo, passive_hi;         /* passive_ports = LO-HI */
	struct fg_sockaddr passive_address;      /* passive_address = ... */
	bool has_passive_address;
	enum fg_tls_mode tls;
	char tls_cert[FG_MAX_PATH];              /* PEM chain, leaf first */
	char tls_key[FG_MAX_PATH];
	char tls_ca[FG_MAX_PATH];                /* CAs for client certificates */
	enum fg_cert_mode tls_client_cert;       /* default off; else needs tls_ca */
	char tls_ciphers[FG_MAX_CIPHERS];        /* TLS <= 1.2; empty: ECDHE+AEAD default */
	char tls_ciphersuites[FG_MAX_CIPHERS];   /* TLS 1.3; empty: OpenSSL's default */
	int tls_min_version;                     /* FG_TLS_V12 / FG_TLS_V13; 0: TLS 1.2 */
	int tls_max_version;                     /* 0: the highest */
	bool tls_require_reuse;                  /* data TLS must resume the control
						    session; default yes */
	struct ssl_ctx_st *tls_ctx;              /* built in the master; NULL when tls = off */
	char banner[FG_MAX_BANNER];              /* empty: relay the backend's */
	int line;

	/* command policy and login limits (src/policy.c, ftp/control.c) */
	struct fg_policy policy;                 /* allow_commands, deny_commands, deny_arguments */
	unsigned login_timeout;                  /* s, 0 = none; default: [global]'s */
	unsigned max_login_attempts;             /* failed PASS/ACCT, 0 = no limit; default: [global]'s */
};

struct fg_config {
	char path[FG_MAX_PATH];
	/* [global] */
	char user[FG_MAX_NAME];          /* default "ftpgate" */
	unsigned max_sessions;           /* default 10000 */
	unsigned spare_sessions;         /* default 8 */
	unsigned connect_timeout;        /* s, default 10 */
	unsigned idle_timeout;           /* s, default 900; suspended during transfers */
	unsigned data_timeout;           /* s, default 300: no data byte moved */
	unsigned shutdown_grace;         /* s, default 30 */
	char pid_file[FG_MAX_PATH];      /* default empty: none */
	int syslog_facility;             /* default LOG_DAEMON */
	bool debug;                      /* default no */
	bool relay_splice;               /* data_relay = splice (default copy) */
	unsigned login_timeout;          /* s, default 60; 0: none */
	unsigned max_login_attempts;     /* default 3; 0: no limit */
	char xferlog[FG_MAX_PATH];       /* default empty: no transfer log */
	/* Lockdown of session processes (doc/SECURITY.md). */
	bool sandbox;                    /* sandbox = on: chroot + seccomp (default on) */
	char chroot_dir[FG_MAX_PATH];    /* default FG_CHROOT_DIR */
	/* per-address limits, bans, status (src/admit.c, src/status.c) */
	unsigned max_sessions_per_ip;    /* default 0: no limit */
	unsigned max_connections_per_minute; /* per address; default 0: no limit */
	unsigned ban_after;              /* failed logins; default 0: never ban */
	unsigned ban_window;             /* s, default 600 */
	unsigned ban_time;               /* s, default 600 */
	char status_socket[FG_MAX_PATH]; /* default FG_STATUS_SOCKET; empty: none */

	struct fg_listener listeners[FG_MAX_LISTENERS];
	unsigned n_listeners;
	struct fg_backend backends[FG_MAX_BACKENDS];
	unsigned n_backends;
};

/* When true, host names in [backend] servers are not resolved and give an
 * error instead (numeric addresses still work).  Set by the fuzz harness so
 * that fuzzing never does DNS lookups; false (resolve) by default. */
extern bool fg_config_no_resolve;

/* Load and validate path into *cfg (which is fully overwritten, defaults
 * included).  Each error is written to errs as "FILE:LINE: message\n"
 * (LINE is 0 for errors that belong to no line).  Returns the number of
 * errors: 0 means cfg is valid and complete.  A valid cfg holds memory
 * of its own (compiled deny_arguments patterns): release it with
 * fg_config_release() before the struct is freed or loaded again (a
 * failed load has released it already). */
int fg_config_load(struct fg_config *cfg, const char *path, FILE *errs);

/* Same, from an in-memory text (name is used in messages).  For tests and
 * the fuzzer. */
int fg_config_load_string(struct fg_config *cfg, const char *name,
			  const char *text, size_t len, FILE *errs);

/* Free what a loaded cfg holds besides itself (compiled patterns).  Safe
 * on a zeroed, failed or already released cfg.  Session processes never
 * call it: they use the configuration they were forked with until they
 * exit. */
void fg_config_release(struct fg_config *cfg);

#endif
